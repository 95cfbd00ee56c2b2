"""Optimizers and LR schedulers against torch.optim: same start, same gradients, same trajectory.

Everything runs in float64, so the only differences are rounding in a different
order of the same operations: the tolerance is 1e-10 (relative to the values' size).
"""
import copy

import numpy as np
import pytest

import minigrad as mg
from minigrad import functional as F
from minigrad.optim import lr_scheduler as mls

torch = pytest.importorskip("torch")

# torch's own chatter about its sparse tensors is not about us.
pytestmark = pytest.mark.filterwarnings("ignore:Sparse invariant checks")



@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """These tensors are tiny: torch's thread pool only adds contention (2-core CI)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


STEPS = 20
TOL = 1e-10


def grad_fn(arrays):
    """A fixed, bounded, nonlinear gradient field g(p), computed on the host for both frameworks."""
    return [np.sin(3.0 * a) + 0.5 * np.tanh(a) + 0.1 * (k + 1) for k, a in enumerate(arrays)]


def start_values(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((3, 4)), rng.standard_normal(5)]


def close(a, b, tol=TOL):
    a, b = np.asarray(a), np.asarray(b)
    return np.abs(a - b).max() <= tol * max(1.0, np.abs(b).max())


def make_pair(mg_cls, torch_cls, kwargs, groups=None):
    """The same parameters in both frameworks, and the two optimizers over them."""
    init = start_values()
    mp = [mg.tensor(a.copy(), requires_grad=True) for a in init]
    tp = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    if groups is None:
        return mp, tp, mg_cls(mp, **kwargs), torch_cls(tp, **kwargs)
    mgroups = [dict(g, params=[mp[i] for i in g["params"]]) for g in groups]
    tgroups = [dict(g, params=[tp[i] for i in g["params"]]) for g in groups]
    return mp, tp, mg_cls(mgroups, **kwargs), torch_cls(tgroups, **kwargs)


def advance(mp, tp, mopt, topt, steps):
    for _ in range(steps):
        for p, g in zip(mp, grad_fn([p.data for p in mp])):
            p.grad = mg.tensor(g)
        for p, g in zip(tp, grad_fn([p.detach().numpy() for p in tp])):
            p.grad = torch.tensor(g)
        mopt.step()
        topt.step()
        for a, b in zip(mp, tp):
            assert close(a.data, b.detach().numpy()), (np.abs(a.data - b.detach().numpy()).max(), type(mopt))


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.5, nesterov=True, weight_decay=0.01, maximize=True)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.05, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, betas=(0.3, 0.9), eps=1e-4, weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.02, maximize=True)),
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, weight_decay=0.3, amsgrad=True, betas=(0.8, 0.99))),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True, momentum=0.5, weight_decay=0.1, eps=1e-3)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.1)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1, initial_accumulator_value=0.5, eps=1e-5, maximize=True)),
    ("Adamax", dict(lr=0.05)),
    ("Adamax", dict(lr=0.05, betas=(0.5, 0.9), eps=1e-3, weight_decay=0.1, maximize=True)),
    ("NAdam", dict(lr=0.05)),
    ("NAdam", dict(lr=0.05, momentum_decay=0.05, weight_decay=0.1)),
    ("NAdam", dict(lr=0.05, betas=(0.8, 0.99), weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", dict(lr=0.05)),  # rho_t > 5 from step 6 on: both branches run
    ("RAdam", dict(lr=0.05, betas=(0.5, 0.9), weight_decay=0.1)),
    ("RAdam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.5, eps=1e-3, weight_decay=0.1, maximize=True)),
]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{'-'.join(map(str, k.items()))}" for n, k in CASES])
def test_trajectory_matches_torch(name, kwargs):
    # torch keeps scalar state (NAdam's mu_product) in the default dtype: float64 here, like the parameters
    dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        mp, tp, mopt, topt = make_pair(getattr(mg.optim, name), getattr(torch.optim, name), kwargs)
        advance(mp, tp, mopt, topt, STEPS)
    finally:
        torch.set_default_dtype(dtype)


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("AdamW", dict(lr=0.05)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
    ("Adamax", dict(lr=0.05)),
    ("RAdam", dict(lr=0.05)),
    ("Adadelta", dict(lr=0.5)),
])
def test_param_groups_with_different_options_match_torch(name, kwargs):
    # Group 0 overrides lr (and weight decay); group 1 uses the defaults.
    groups = [{"params": [0], "lr": kwargs["lr"] / 4, "weight_decay": 0.05}, {"params": [1]}]
    mp, tp, mopt, topt = make_pair(getattr(mg.optim, name), getattr(torch.optim, name), kwargs, groups)
    assert mopt.param_groups[0]["lr"] == kwargs["lr"] / 4 and mopt.param_groups[1]["lr"] == kwargs["lr"]
    advance(mp, tp, mopt, topt, STEPS)


def _torch_state_to_minigrad(sd):
    """torch's optimizer state_dict with its tensors turned into NumPy arrays (what a checkpoint would hold)."""
    def conv(v):
        return v.detach().numpy().copy() if isinstance(v, torch.Tensor) else copy.deepcopy(v)
    return {"state": {k: {n: conv(v) for n, v in s.items()} for k, s in sd["state"].items()},
            "param_groups": copy.deepcopy(sd["param_groups"])}


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
    ("Adamax", dict(lr=0.05)),
    ("RAdam", dict(lr=0.05)),
    ("Adadelta", dict(lr=0.5)),
])
def test_state_dict_round_trip_and_torch_state_continue_identically(name, kwargs):
    mp, tp, mopt, topt = make_pair(getattr(mg.optim, name), getattr(torch.optim, name), kwargs)
    advance(mp, tp, mopt, topt, 7)
    # (1) our own state_dict, loaded into a fresh optimizer over copies of the parameters
    sd = copy.deepcopy(mopt.state_dict())
    mp2 = [mg.tensor(p.data.copy(), requires_grad=True) for p in mp]
    mopt2 = getattr(mg.optim, name)(mp2, lr=123.0)  # hyperparameters come from the state dict
    mopt2.load_state_dict(sd)
    # (2) torch's state_dict (tensors as arrays) loaded into a third minigrad optimizer
    mp3 = [mg.tensor(p.data.copy(), requires_grad=True) for p in mp]
    mopt3 = getattr(mg.optim, name)(mp3, lr=123.0)
    mopt3.load_state_dict(_torch_state_to_minigrad(topt.state_dict()))
    advance(mp, tp, mopt, topt, 8)
    for q, opt in ((mp2, mopt2), (mp3, mopt3)):
        for _ in range(8):
            for p, g in zip(q, grad_fn([p.data for p in q])):
                p.grad = mg.tensor(g)
            opt.step()
        for a, b in zip(q, tp):
            assert close(a.data, b.detach().numpy())


# ---------------------------------------------------------------- sparse gradients vs torch's sparse path
def _embedding_pair(num=12, dim=3, seed=1):
    w0 = np.random.default_rng(seed).standard_normal((num, dim))
    return mg.tensor(w0.copy(), requires_grad=True), torch.tensor(w0.copy(), requires_grad=True)


def _sparse_batches(num, steps=STEPS, seed=2):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, num, size=(2, 4)) for _ in range(steps)]  # repeats within a batch happen


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.1, initial_accumulator_value=0.2, maximize=True)),
    ("SparseAdam", dict(lr=0.05)),
    ("SparseAdam", dict(lr=0.05, betas=(0.5, 0.9), eps=1e-4)),
])
def test_sparse_embedding_trajectory_matches_torch(name, kwargs):
    mw, tw = _embedding_pair()
    mopt, topt = getattr(mg.optim, name)([mw], **kwargs), getattr(torch.optim, name)([tw], **kwargs)
    target = np.random.default_rng(3).standard_normal((2, 4, 3))
    for idx in _sparse_batches(12):
        mopt.zero_grad()
        topt.zero_grad()
        my = F.embedding(mg.tensor(idx), mw, sparse=True)
        ((my - mg.tensor(target)) ** 2).sum().backward()
        ty = torch.nn.functional.embedding(torch.tensor(idx), tw, sparse=True)
        ((ty - torch.tensor(target)) ** 2).sum().backward()
        assert mw.grad.is_sparse and tw.grad.is_sparse
        assert close(mw.grad.to_dense().numpy(), tw.grad.to_dense().numpy())
        mopt.step()
        topt.step()
        assert close(mw.data, tw.detach().numpy())


# ---------------------------------------------------------------- schedulers
SCHEDULERS = [
    ("StepLR", dict(step_size=3)),
    ("StepLR", dict(step_size=7, gamma=0.5)),
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.1, end_factor=0.9, total_iters=12)),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.0, total_iters=30)),
    ("LambdaLR", dict(lr_lambda=lambda e: 0.95 ** e)),
    ("LambdaLR", dict(lr_lambda=[lambda e: 1.0 / (1 + e), lambda e: min(1.0, (e + 1) / 10)])),
    ("MultiStepLR", dict(milestones=[3, 7, 7, 20], gamma=0.5)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=7)),
    ("CosineAnnealingLR", dict(T_max=10, eta_min=0.01)),
    ("ConstantLR", dict()),
    ("ConstantLR", dict(factor=0.5, total_iters=8)),
    ("PolynomialLR", dict()),
    ("PolynomialLR", dict(total_iters=12, power=2.5)),
    ("CosineAnnealingWarmRestarts", dict(T_0=5)),
    ("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=2, eta_min=0.01)),
]


def _two_group_optimizers():
    mp, tp = [mg.tensor(np.ones(2), requires_grad=True) for _ in range(2)], \
        [torch.tensor(np.ones(2), requires_grad=True) for _ in range(2)]
    mopt = mg.optim.SGD([{"params": [mp[0]]}, {"params": [mp[1]], "lr": 0.3}], lr=0.1, momentum=0.9)
    topt = torch.optim.SGD([{"params": [tp[0]]}, {"params": [tp[1]], "lr": 0.3}], lr=0.1, momentum=0.9)
    return mopt, topt


@pytest.mark.parametrize("name,kwargs", SCHEDULERS, ids=[f"{n}{i}" for i, (n, _) in enumerate(SCHEDULERS)])
def test_scheduler_values_match_torch_over_30_steps(name, kwargs):
    mopt, topt = _two_group_optimizers()
    ms = getattr(mls, name)(mopt, **kwargs)
    ts = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    assert ms.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-15)
    for _ in range(30):
        mopt.step()
        topt.step()
        ms.step()
        ts.step()
        assert ms.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-15, abs=1e-300)
        assert [g["lr"] for g in mopt.param_groups] == pytest.approx([g["lr"] for g in topt.param_groups],
                                                                      rel=1e-15, abs=1e-300)


def test_chained_schedulers_match_torch():
    # Two schedulers on one optimizer compose (torch's recursive formulas).
    mopt, topt = _two_group_optimizers()
    m1, m2 = mls.LinearLR(mopt, start_factor=0.2, total_iters=4), mls.StepLR(mopt, step_size=5, gamma=0.5)
    t1 = torch.optim.lr_scheduler.LinearLR(topt, start_factor=0.2, total_iters=4)
    t2 = torch.optim.lr_scheduler.StepLR(topt, step_size=5, gamma=0.5)
    for _ in range(30):
        mopt.step()
        topt.step()
        for s in (m1, m2, t1, t2):
            s.step()
        assert [g["lr"] for g in mopt.param_groups] == pytest.approx([g["lr"] for g in topt.param_groups], rel=1e-15)


def test_scheduler_state_dict_matches_torch_keys_and_resumes():
    mopt, topt = _two_group_optimizers()
    ms, ts = mls.StepLR(mopt, step_size=4, gamma=0.5), torch.optim.lr_scheduler.StepLR(topt, step_size=4, gamma=0.5)
    for _ in range(6):
        mopt.step()
        topt.step()
        ms.step()
        ts.step()
    msd, tsd = ms.state_dict(), ts.state_dict()
    for key in ("step_size", "gamma", "base_lrs", "last_epoch", "_step_count", "_last_lr"):
        assert msd[key] == pytest.approx(tsd[key])
    # resume: a new optimizer + scheduler loaded from the state dicts continue like torch
    mopt2, _ = _two_group_optimizers()
    mopt2.load_state_dict(copy.deepcopy(mopt.state_dict()))
    ms2 = mls.StepLR(mopt2, step_size=99)
    ms2.load_state_dict(copy.deepcopy(msd))
    for _ in range(10):
        mopt2.step()
        topt.step()
        ms2.step()
        ts.step()
        assert ms2.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-15)


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(mode="max", factor=0.5, patience=2, threshold=0.05, threshold_mode="abs"),
    dict(patience=1, cooldown=2, min_lr=[0.01, 0.05]),
    dict(factor=0.3, patience=0, min_lr=0.004, eps=1e-3),
])
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    """Same lrs as torch's over 60 epochs of a noisy metric that improves, stalls and gets worse."""
    mopt, topt = _two_group_optimizers()
    ms = mls.ReduceLROnPlateau(mopt, **kwargs)
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    rng = np.random.default_rng(4)
    metric = 1.0
    for epoch in range(60):
        metric += (-0.05 if epoch < 15 else 0.0 if epoch < 40 else 0.02) + 0.01 * rng.standard_normal()
        value = mg.tensor(metric) if epoch % 2 else metric  # a 0-d Tensor works too, as in torch
        ms.step(value)
        ts.step(metric)
        assert ms.get_last_lr() == ts.get_last_lr()
        assert [g["lr"] for g in mopt.param_groups] == [g["lr"] for g in topt.param_groups]
    assert ms.num_bad_epochs == ts.num_bad_epochs and ms.best == ts.best


@pytest.mark.parametrize("kwargs", [
    dict(total_steps=40),
    dict(epochs=4, steps_per_epoch=10, pct_start=0.25, anneal_strategy="linear", div_factor=10.0),
    dict(total_steps=40, three_phase=True, base_momentum=0.8, max_momentum=[0.9, 0.97]),
    dict(total_steps=40, max_lr=[1.0, 0.5], cycle_momentum=False, final_div_factor=100.0),
])
@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
def test_one_cycle_lr_and_momentum_match_torch(kwargs, opt_name):
    kwargs = dict(dict(max_lr=1.0), **kwargs)
    mp, tp = [mg.tensor(np.ones(2), requires_grad=True) for _ in range(2)], \
        [torch.tensor(np.ones(2), requires_grad=True) for _ in range(2)]
    extra = dict(momentum=0.9) if opt_name == "SGD" else {}
    mopt = getattr(mg.optim, opt_name)([{"params": [mp[0]]}, {"params": [mp[1]]}], lr=0.1, **extra)
    topt = getattr(torch.optim, opt_name)([{"params": [tp[0]]}, {"params": [tp[1]]}], lr=0.1, **extra)
    ms, ts = mls.OneCycleLR(mopt, **kwargs), torch.optim.lr_scheduler.OneCycleLR(topt, **kwargs)
    key = "momentum" if opt_name == "SGD" else "betas"
    for _ in range(40):  # total_steps lrs: the one set at construction and 39 steps
        assert ms.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-14)
        assert [g[key] for g in mopt.param_groups] == pytest.approx([g[key] for g in topt.param_groups], rel=1e-14)
        mopt.step()
        topt.step()
        ms.step()
        ts.step()
    with pytest.raises(ValueError, match="total_steps=40"):
        ms.step()  # torch raises too: the cycle is over


def _sequence(lib, opt):
    """A warm-up, a cosine and an exponential stretch (lib: minigrad's or torch's lr_scheduler module)."""
    warm = lib.LinearLR(opt, start_factor=0.1, total_iters=4)
    cos = lib.CosineAnnealingLR(opt, T_max=6, eta_min=0.01)
    exp = lib.ExponentialLR(opt, gamma=0.8)
    return lib.SequentialLR(opt, [warm, cos, exp], milestones=[4, 10])


def test_sequential_and_chained_schedulers_match_torch():
    for build in (_sequence,
                  lambda lib, opt: lib.ChainedScheduler([lib.ConstantLR(opt, factor=0.5, total_iters=3),
                                                         lib.ExponentialLR(opt, gamma=0.9)])):
        mopt, topt = _two_group_optimizers()
        ms, ts = build(mls, mopt), build(torch.optim.lr_scheduler, topt)
        assert ms.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-14)
        for _ in range(25):
            mopt.step()
            topt.step()
            ms.step()
            ts.step()
            assert ms.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-14)
            assert [g["lr"] for g in mopt.param_groups] == pytest.approx([g["lr"] for g in topt.param_groups],
                                                                          rel=1e-14)


def test_sequential_lr_state_dict_resumes_like_torch():
    mopt, topt = _two_group_optimizers()
    ms, ts = _sequence(mls, mopt), _sequence(torch.optim.lr_scheduler, topt)
    for _ in range(7):
        for x in (mopt, topt, ms, ts):
            x.step()
    sd = copy.deepcopy(ms.state_dict())
    assert len(sd["_schedulers"]) == 3 and sd["last_epoch"] == ts.state_dict()["last_epoch"]
    mopt2, _ = _two_group_optimizers()
    ms2 = _sequence(mls, mopt2)
    mopt2.load_state_dict(copy.deepcopy(mopt.state_dict()))
    ms2.load_state_dict(sd)
    for _ in range(10):
        for x in (mopt2, topt, ms2, ts):
            x.step()
        assert ms2.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-14)


def test_warm_restarts_with_fractional_epochs_match_torch():
    mopt, topt = _two_group_optimizers()
    ms = mls.CosineAnnealingWarmRestarts(mopt, T_0=2, T_mult=3, eta_min=0.001)
    ts = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(topt, T_0=2, T_mult=3, eta_min=0.001)
    for epoch in range(12):
        for i in range(4):  # four batches per epoch
            ms.step(epoch + i / 4)
            ts.step(epoch + i / 4)
            assert ms.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-14)
            assert (ms.T_cur, ms.T_i) == pytest.approx((ts.T_cur, ts.T_i), rel=1e-14)
