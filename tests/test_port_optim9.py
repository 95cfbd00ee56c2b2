"""Porting audit: torch.optim and torch.optim.lr_scheduler as real training programs use them.

Each program is written once against a library namespace `lib` (torch or minigrad: `lib.nn`,
`lib.optim`, `lib.optim.lr_scheduler`, `lib.save`/`lib.load`), which is how a port by changing
imports behaves. Both runs start from the same float64 weights (torch's, loaded into ours) and
see the same data; losses, parameters and optimizer state must agree with torch to rounding.

The optimizer programs go beyond the per-update checks of tests/test_optim*.py: several param
groups with different options, a layer unfrozen and added with `add_param_group` mid-training,
a parameter that only gets a gradient on some steps (`.grad` None, or zeros with
`zero_grad(set_to_none=False)`), and a checkpoint at step 12 through `save`/`load` into a fresh
optimizer, plus torch's optimizer state loaded into minigrad's and minigrad's into torch's.
The scheduler programs step every torch scheduler (and compositions) in a loop, checkpointed or not.

Found while porting and fixed (each has a focused test here):
* `state_dict()["state"]` listed an empty entry for a parameter without buffers (SGD with momentum 0);
  torch leaves it out;
* NAdam refused torch's optimizer state (its "mu_product" is a 0-d tensor there);
* `foreach=`, `fused=`, `capturable=` (torch's kernel choices) were a TypeError; now accepted where torch
  accepts them (no effect: one implementation), `differentiable=True` refused clearly;
* `lr=torch.tensor(0.01)` (a Tensor lr) was refused; now read at each step, and filled in place by schedulers;
* no warning when `scheduler.step()` came before `optimizer.step()` (torch's, which catches a skipped lr).
Intended differences: Adagrad honours a group's own initial_accumulator_value (torch ignores it); ASGD's
eta/mu and NAdam's mu_product are Python floats (torch rounds them to its default dtype).
"""
import copy
import io
import math
import warnings

import numpy as np
import pytest

import minigrad as mg
from porting import closer, to_numpy

torch = pytest.importorskip("torch")

TOL = dict(rtol=1e-7, atol=1e-10)
STEPS, CKPT, UNFREEZE = 20, 12, 7


@pytest.fixture(autouse=True, scope="module")
def _torch_float64_one_thread():
    """A float64 torch program sets the default dtype, so torch's scalar state (ASGD's eta and mu, NAdam's
    mu_product, kept as 0-d tensors of the default dtype) is float64 too; minigrad keeps those as Python
    floats, so with float32 scalars torch would round them (a documented difference, see asgd.py).
    Tiny tensors: torch's thread pool only adds contention on a 2-core runner."""
    n, dtype = torch.get_num_threads(), torch.get_default_dtype()
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_num_threads(n)
    torch.set_default_dtype(dtype)


_np = to_numpy
_close = closer(TOL, check_dtype=False)


# ---------------------------------------------------------------- the program, written once for both libraries
DATA = np.random.default_rng(0)
X = DATA.standard_normal((STEPS, 5, 4))
Y = DATA.standard_normal((STEPS, 5, 3))


class Program:
    """A small MLP with an extra output scale (frozen until UNFREEZE) and a bias used on even steps only."""

    def __init__(self, lib, weights=None):
        self.lib = lib
        nn = lib.nn
        self.model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
        self.scale = nn.Parameter(lib.ones(3, dtype=lib.float64) * 1.5)
        self.bias = nn.Parameter(lib.zeros(3, dtype=lib.float64))
        self.scale.requires_grad_(False)  # fine-tuning: unfrozen later
        if weights is not None:
            self.load(weights)

    def weights(self):
        """Every weight as NumPy arrays (to start a second run or the other library from)."""
        sd = {k: _np(v).copy() for k, v in self.model.state_dict().items()}
        sd["scale"], sd["bias"] = _np(self.scale).copy(), _np(self.bias).copy()
        return sd

    def load(self, w):
        lib = self.lib
        self.model.load_state_dict({k: lib.tensor(v.copy()) for k, v in w.items() if k not in ("scale", "bias")})
        with lib.no_grad():
            self.scale.copy_(lib.tensor(w["scale"].copy()))
            self.bias.copy_(lib.tensor(w["bias"].copy()))

    def groups(self, opts_a, opts_b):
        return [dict(opts_a, params=list(self.model[0].parameters())),
                dict(opts_b, params=list(self.model[2].parameters()) + [self.bias])]

    def loss(self, k, negate=False):
        lib = self.lib
        out = self.model(lib.tensor(X[k])) * self.scale
        if k % 2 == 0:  # the bias only takes part on even steps: no gradient on odd ones
            out = out + self.bias
        loss = lib.nn.functional.mse_loss(out, lib.tensor(Y[k]))
        return -loss if negate else loss

    def train(self, opt, start, stop, set_to_none, negate, opts_c, losses):
        for k in range(start, stop):
            if k == UNFREEZE:  # unfreeze the scale and give it its own param group
                self.scale.requires_grad_(True)
                opt.add_param_group(dict(opts_c, params=[self.scale]))
            opt.zero_grad(set_to_none=set_to_none)
            loss = self.loss(k, negate)
            loss.backward()
            opt.step()
            losses.append(loss.item())


def _to_numpy_state(sd):
    """torch's optimizer state_dict with tensors as NumPy arrays: a checkpoint a port would read."""
    def conv(v):
        if isinstance(v, torch.Tensor):
            return v.detach().numpy().copy()
        if isinstance(v, (list, tuple)):
            return type(v)(conv(e) for e in v)
        return copy.deepcopy(v)
    return {"state": {k: {n: conv(v) for n, v in s.items()} for k, s in sd["state"].items()},
            "param_groups": copy.deepcopy(sd["param_groups"])}


def _to_torch_state(sd):
    """minigrad's optimizer state_dict with arrays as torch tensors."""
    def conv(v):
        if isinstance(v, np.ndarray):
            return torch.tensor(v.copy())
        if isinstance(v, (list, tuple)):
            return type(v)(conv(e) for e in v)
        return copy.deepcopy(v)
    return {"state": {k: {n: conv(v) for n, v in s.items()} for k, s in sd["state"].items()},
            "param_groups": copy.deepcopy(sd["param_groups"])}


def _save_load(lib, obj):
    buf = io.BytesIO()
    lib.save(obj, buf)
    buf.seek(0)
    return lib.load(buf)


# name, defaults, options of group 0 (first layer), of the group added at UNFREEZE, negate (maximize)
OPTIM_CASES = [
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
     dict(nesterov=True, dampening=0, momentum=0.8, lr=0.1), dict(lr=0.02, momentum=0), False),
    ("SGD", dict(lr=0.05, momentum=0.5, nesterov=True, maximize=True), dict(weight_decay=0.05), dict(lr=0.01), True),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.01), dict(amsgrad=False, betas=(0.8, 0.99)),
     dict(lr=0.05, weight_decay=0), False),
    ("Adam", dict(lr=0.01, maximize=True), dict(eps=1e-3), dict(amsgrad=True), True),
    ("AdamW", dict(lr=0.01, weight_decay=0.1), dict(amsgrad=True), dict(weight_decay=0), False),
    ("Adamax", dict(lr=0.02, weight_decay=0.01), dict(betas=(0.5, 0.9)), dict(lr=0.05), False),
    ("NAdam", dict(lr=0.01, momentum_decay=0.01, weight_decay=0.05, decoupled_weight_decay=True),
     dict(decoupled_weight_decay=False, momentum_decay=4e-3), dict(lr=0.03), False),
    ("RAdam", dict(lr=0.01, weight_decay=0.05, decoupled_weight_decay=True),
     dict(decoupled_weight_decay=False, betas=(0.5, 0.9)), dict(lr=0.03, betas=(0.7, 0.8)), False),
    ("RMSprop", dict(lr=0.005, centered=True, momentum=0.5),
     dict(centered=False, momentum=0, alpha=0.9, weight_decay=0.01), dict(momentum=0.9), False),
    ("Adagrad", dict(lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1),
     dict(lr_decay=0, weight_decay=0.01), dict(lr=0.1, lr_decay=0.05), False),  # (see the accumulator test)
    ("Adadelta", dict(lr=0.5, rho=0.8, weight_decay=0.01), dict(rho=0.95, eps=1e-5), dict(lr=1.0), False),
    ("Rprop", dict(lr=0.01, etas=(0.4, 1.3), step_sizes=(1e-4, 0.2)), dict(etas=(0.6, 1.1)),
     dict(step_sizes=(1e-6, 1.0)), False),
    ("ASGD", dict(lr=0.02, lambd=1e-3, alpha=0.7, t0=5, weight_decay=0.01), dict(t0=2), dict(lr=0.05), False),
]


def _run(lib, name, defaults, opts_a, opts_c, negate, set_to_none, weights, resume_from=None):
    """Train from `weights`; with resume_from=(state_dict, weights_at_ckpt), start at CKPT from that checkpoint."""
    prog = Program(lib, weights)
    losses = []
    if resume_from is None:
        opt = getattr(lib.optim, name)(prog.groups(opts_a, {}), **defaults)
        prog.train(opt, 0, CKPT, set_to_none, negate, opts_c, losses)
        ckpt = (copy.deepcopy(opt.state_dict()), prog.weights())  # state_dict references live buffers
    else:
        sd, w = resume_from
        prog.load(w)
        prog.scale.requires_grad_(True)
        # a fresh optimizer of the same layout with other hyperparameters: load_state_dict restores them
        opt = getattr(lib.optim, name)(prog.groups({}, {}), lr=0.123)
        opt.add_param_group({"params": [prog.scale]})
        opt.load_state_dict(sd)
        ckpt = None
    prog.train(opt, CKPT, STEPS, set_to_none, negate, opts_c, losses)
    return losses, prog, opt, ckpt


@pytest.mark.parametrize("set_to_none", [True, False], ids=["none", "zeros"])
@pytest.mark.parametrize("name,defaults,opts_a,opts_c,negate", OPTIM_CASES,
                         ids=[f"{c[0]}{i}" for i, c in enumerate(OPTIM_CASES)])
def test_optimizer_program_matches_torch(name, defaults, opts_a, opts_c, negate, set_to_none):
    w0 = Program(torch).weights()
    args = (name, defaults, opts_a, opts_c, negate, set_to_none, w0)
    t_losses, t_prog, t_opt, t_ckpt = _run(torch, *args)
    m_losses, m_prog, m_opt, m_ckpt = _run(mg, *args)
    _close(f"{name} losses", m_losses, t_losses)
    for k, v in t_prog.weights().items():
        _close(f"{name} {k}", m_prog.weights()[k], v)
    # the optimizer state: same keys, same buffers (step counts may be tensors in torch)
    t_sd, m_sd = t_opt.state_dict(), m_opt.state_dict()
    assert sorted(m_sd["state"]) == sorted(t_sd["state"]), name
    for i, ts in t_sd["state"].items():
        assert set(m_sd["state"][i]) == set(ts), (name, i, sorted(m_sd["state"][i]), sorted(ts))
        for key, v in ts.items():
            _close(f"{name} state[{i}][{key}]", np.asarray(m_sd["state"][i][key], dtype=float), _np(v).astype(float))
    for tg, mg_ in zip(t_sd["param_groups"], m_sd["param_groups"]):
        for key, v in mg_.items():
            assert key in tg and (tg[key] == v or list(tg[key]) == list(v)), (name, key, v, tg.get(key))
    # resumed from a checkpoint: our own through save/load, torch's converted, and ours into torch
    tail_t = t_losses[CKPT:]
    resumed = [
        _run(mg, *args, resume_from=(_save_load(mg, m_ckpt[0]), m_ckpt[1])),
        _run(mg, *args, resume_from=(_to_numpy_state(t_ckpt[0]), t_ckpt[1])),
        _run(torch, *args, resume_from=(_to_torch_state(m_ckpt[0]), m_ckpt[1])),
    ]
    for label, (losses, prog, _, _) in zip(["own checkpoint", "torch's state", "ours into torch"], resumed):
        _close(f"{name} {label}: losses", losses, tail_t)
        for k, v in t_prog.weights().items():
            _close(f"{name} {label}: {k}", prog.weights()[k], v)


def test_adagrad_group_initial_accumulator_value_is_honoured_where_torch_ignores_it():
    """Intended difference: torch's Adagrad fills "sum" with the *constructor's* initial_accumulator_value for every
    group (a group's own value, or one set through add_param_group, is silently ignored); minigrad uses the group's."""
    def sums(lib):
        a, b = (lib.zeros(2, dtype=lib.float64, requires_grad=True) for _ in range(2))
        opt = lib.optim.Adagrad([{"params": [a], "initial_accumulator_value": 0.5}], initial_accumulator_value=0.1)
        opt.add_param_group({"params": [b], "initial_accumulator_value": 0.7})
        a.grad, b.grad = lib.zeros(2, dtype=lib.float64), lib.zeros(2, dtype=lib.float64)
        opt.step()
        return [_np(opt.state[p]["sum"]) for p in (a, b)]
    assert [s.tolist() for s in sums(mg)] == [[0.5, 0.5], [0.7, 0.7]]
    assert [s.tolist() for s in sums(torch)] == [[0.1, 0.1], [0.1, 0.1]]  # torch 2.13's behaviour


# ---------------------------------------------------------------- schedulers, in a training loop
def _sched_program(lib, opt_name, make_sched, steps, metrics=None, ckpt=None, opt_kw=None):
    """Two param groups (lr 0.1 and 0.02); each step: optimizer step, scheduler step; record the schedule.

    With ckpt=k, the optimizer and scheduler are checkpointed after k steps (save/load) into a fresh
    optimizer and scheduler, which carry on."""
    a = lib.nn.Parameter(lib.ones(3, dtype=lib.float64))
    b = lib.nn.Parameter(lib.ones(2, dtype=lib.float64))
    kw = dict(momentum=0.9) if opt_name == "SGD" else {}
    kw.update(opt_kw or {})

    def build():
        opt = getattr(lib.optim, opt_name)([{"params": [a]}, {"params": [b], "lr": 0.02}], lr=0.1, **kw)
        return opt, make_sched(lib.optim.lr_scheduler, opt)

    opt, sched = build()
    record = [(sched.get_last_lr(), [g["lr"] for g in opt.param_groups])]
    for k in range(steps):
        (a.sum() * 2 + (b * b).sum()).backward()
        opt.step()
        opt.zero_grad()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[k])
        moms = [g["betas"][0] if "betas" in g else g.get("momentum") for g in opt.param_groups]
        record.append((sched.get_last_lr(), [g["lr"] for g in opt.param_groups], moms))
        if ckpt == k + 1:
            osd, ssd = _save_load(lib, copy.deepcopy(opt.state_dict())), _save_load(lib, sched.state_dict())
            opt, sched = build()
            opt.load_state_dict(osd)
            sched.load_state_dict(ssd)
    return record, [_np(a).copy(), _np(b).copy()]


def _records_close(name, ours, theirs):
    assert len(ours) == len(theirs)
    for k, (m, t) in enumerate(zip(ours, theirs)):
        for part, (x, y) in enumerate(zip(m, t)):
            np.testing.assert_allclose(np.asarray(x, dtype=float), np.asarray([float(v) for v in y]),
                                       rtol=1e-12, atol=0, err_msg=f"{name} step {k} part {part}")


class _Warmup:
    """A picklable-state lr_lambda (a callable object), as torch's docs recommend for checkpoints."""

    def __init__(self, n):
        self.n = n

    def __call__(self, e):
        return min(1.0, (e + 1) / self.n)


SCHED_CASES = {
    "LambdaLR": ("SGD", lambda L, o: L.LambdaLR(o, [_Warmup(4), lambda e: 0.9 ** e])),
    "MultiplicativeLR": ("SGD", lambda L, o: L.MultiplicativeLR(o, lambda e: 0.95 if e % 2 else 0.8)),
    "StepLR": ("SGD", lambda L, o: L.StepLR(o, step_size=3, gamma=0.5)),
    "MultiStepLR": ("Adam", lambda L, o: L.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3)),
    "ConstantLR": ("SGD", lambda L, o: L.ConstantLR(o, factor=0.25, total_iters=4)),
    "LinearLR": ("SGD", lambda L, o: L.LinearLR(o, start_factor=0.2, end_factor=0.9, total_iters=6)),
    "ExponentialLR": ("RMSprop", lambda L, o: L.ExponentialLR(o, gamma=0.87)),
    "PolynomialLR": ("SGD", lambda L, o: L.PolynomialLR(o, total_iters=8, power=2.0)),
    "CosineAnnealingLR": ("SGD", lambda L, o: L.CosineAnnealingLR(o, T_max=5, eta_min=0.001)),
    "CosineAnnealingWarmRestarts": ("SGD", lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2,
                                                                                      eta_min=1e-3)),
    "CyclicLR-triangular2-SGD": ("SGD", lambda L, o: L.CyclicLR(o, base_lr=[0.01, 0.001], max_lr=[0.1, 0.05],
                                                                step_size_up=3, step_size_down=2,
                                                                mode="triangular2", base_momentum=[0.7, 0.8],
                                                                max_momentum=0.95)),
    "CyclicLR-exp_range-Adam": ("Adam", lambda L, o: L.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=2,
                                                                mode="exp_range", gamma=0.9)),
    "CyclicLR-triangular-Adam": ("Adam", lambda L, o: L.CyclicLR(o, 0.001, 0.01, step_size_up=4,
                                                                 base_momentum=0.85, max_momentum=0.95)),
    "OneCycleLR-cos-Adam": ("Adam", lambda L, o: L.OneCycleLR(o, max_lr=[0.5, 0.1], total_steps=25)),
    "OneCycleLR-linear-3phase-SGD": ("SGD", lambda L, o: L.OneCycleLR(o, max_lr=0.3, epochs=5, steps_per_epoch=5,
                                                                       anneal_strategy="linear", three_phase=True,
                                                                       pct_start=0.25, div_factor=10)),
    "OneCycleLR-3phase-AdamW": ("AdamW", lambda L, o: L.OneCycleLR(o, max_lr=0.2, total_steps=25, three_phase=True,
                                                                   base_momentum=0.8, max_momentum=0.9)),
    "SequentialLR": ("SGD", lambda L, o: L.SequentialLR(o, [L.LinearLR(o, 0.1, total_iters=3),
                                                            L.ExponentialLR(o, 0.9), L.StepLR(o, 2, 0.5)],
                                                        milestones=[3, 10])),
    "SequentialLR-cosine": ("SGD", lambda L, o: L.SequentialLR(o, [L.ConstantLR(o, 0.5, total_iters=2),
                                                                   L.CosineAnnealingLR(o, T_max=6)], [4])),
    "ChainedScheduler": ("SGD", lambda L, o: L.ChainedScheduler([L.ConstantLR(o, 0.1, total_iters=3),
                                                                 L.ExponentialLR(o, 0.9),
                                                                 L.MultiStepLR(o, [4, 8], 0.5)])),
}


@pytest.mark.parametrize("ckpt", [None, 9], ids=["straight", "checkpointed"])
@pytest.mark.parametrize("case", sorted(SCHED_CASES))
def test_scheduler_program_matches_torch(case, ckpt):
    opt_name, make = SCHED_CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # optimizer.step() comes first: neither library may warn
        theirs, t_params = _sched_program(torch, opt_name, make, 24, ckpt=ckpt)
        ours, m_params = _sched_program(mg, opt_name, make, 24, ckpt=ckpt)
    _records_close(case, ours, theirs)
    for x, y in zip(m_params, t_params):
        _close(f"{case} params", x, y)


def test_cosine_annealing_recursive_equals_closed_form_over_three_periods():
    T, eta_min, base = 4, 0.01, 0.1
    lrs = {}
    for lib in (torch, mg):
        p = lib.nn.Parameter(lib.ones(1, dtype=lib.float64))
        opt = lib.optim.SGD([p], lr=base)
        s = lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=T, eta_min=eta_min)
        lrs[lib.__name__] = [s.get_last_lr()[0]]
        for _ in range(6 * T):  # three whole periods (2 T_max each): down, back up, and again
            opt.step()
            s.step()
            lrs[lib.__name__].append(s.get_last_lr()[0])
    closed = [eta_min + (base - eta_min) * (1 + math.cos(math.pi * e / T)) / 2 for e in range(6 * T + 1)]
    np.testing.assert_allclose(lrs["minigrad"], lrs["torch"], rtol=1e-13, atol=0)
    np.testing.assert_allclose(lrs["minigrad"], closed, rtol=1e-12, atol=1e-15)
    assert lrs["minigrad"][2 * T] == pytest.approx(base) and lrs["minigrad"][3 * T] == pytest.approx(eta_min)


def test_warm_restarts_with_t_mult_and_fractional_epochs_match_torch():
    lrs = {}
    for lib in (torch, mg):
        p = lib.nn.Parameter(lib.ones(1, dtype=lib.float64))
        opt = lib.optim.SGD([p], lr=0.1)
        s = lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=3, eta_min=0.005)
        out = []
        iters = 4
        for epoch in range(12):  # periods 2, 6, 18: restarts at epochs 2 and 8
            for i in range(iters):
                opt.step()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # torch's deprecation of step(epoch) (both warn)
                    s.step(epoch + i / iters)
                out.append((s.get_last_lr()[0], s.T_i, float(s.T_cur), s.last_epoch))
        lrs[lib.__name__] = out
    for (lr_m, *rest_m), (lr_t, *rest_t) in zip(lrs["minigrad"], lrs["torch"]):
        assert lr_m == pytest.approx(lr_t, rel=1e-12, abs=1e-15) and rest_m == pytest.approx(rest_t, rel=1e-12)


PLATEAU_METRICS = [1.0, 0.9, 0.95, 0.95, 0.95, 0.89, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8,
                   0.8, 0.8, 0.8, 0.8, 0.8, 0.8]


@pytest.mark.parametrize("kwargs", [
    dict(mode="min", patience=1, factor=0.5),
    dict(mode="min", patience=1, factor=0.5, threshold=0.05, threshold_mode="abs", cooldown=2),
    dict(mode="max", patience=0, factor=0.3, threshold=0.01, min_lr=[0.004, 0.001]),
    dict(mode="min", patience=0, factor=0.5, min_lr=[0.02, 0.0], eps=0.004),
    dict(mode="max", patience=2, threshold_mode="abs", threshold=0.0, cooldown=1, min_lr=0.005),
])
@pytest.mark.parametrize("ckpt", [None, 7], ids=["straight", "checkpointed"])
def test_reduce_lr_on_plateau_program_matches_torch(kwargs, ckpt):
    metrics = PLATEAU_METRICS if kwargs["mode"] == "min" else [-m for m in PLATEAU_METRICS]
    make = lambda L, o: L.ReduceLROnPlateau(o, **kwargs)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        theirs, _ = _sched_program(torch, "SGD", make, len(metrics), metrics=metrics, ckpt=ckpt)
        ours, _ = _sched_program(mg, "SGD", make, len(metrics), metrics=metrics, ckpt=ckpt)
    _records_close(f"ReduceLROnPlateau {kwargs}", ours, theirs)
    assert ours[-1][1] != ours[0][1]  # the schedule did reduce


# ---------------------------------------------------------------- torch's implementation flags and a Tensor lr
# torch 2.13's keyword flags per optimizer (LBFGS and SparseAdam have none)
TORCH_FLAGS = {
    "SGD": ("foreach", "differentiable", "fused"),
    "Adam": ("foreach", "capturable", "differentiable", "fused"),
    "AdamW": ("foreach", "capturable", "differentiable", "fused"),
    "Adagrad": ("foreach", "differentiable", "fused"),
    **{n: ("foreach", "capturable", "differentiable")
       for n in ("Adamax", "NAdam", "RAdam", "RMSprop", "Adadelta", "Rprop", "ASGD")},
}


@pytest.mark.parametrize("name", sorted(TORCH_FLAGS))
def test_foreach_fused_capturable_are_accepted_and_change_nothing(name):
    import inspect
    flags = TORCH_FLAGS[name]
    ours = set(inspect.signature(getattr(mg.optim, name)).parameters)
    theirs = set(inspect.signature(getattr(torch.optim, name)).parameters)
    assert set(flags) <= theirs and set(flags) <= ours  # code that inspects the signature (nanoGPT's fused check)
    start = np.linspace(-1.0, 1.0, 6)
    finals = []
    for kw in [{}, {f: True for f in flags if f in ("foreach", "capturable")},
               {f: (True if f == "fused" else False) for f in flags if f in ("foreach", "fused")}]:
        p = mg.tensor(start.copy(), requires_grad=True)
        opt = getattr(mg.optim, name)([p], lr=0.01, **kw)
        for _ in range(3):
            opt.zero_grad()
            (p * p * p).sum().backward()
            opt.step()
        finals.append(p.numpy())
    assert not np.array_equal(finals[0], start)
    for f in finals[1:]:
        np.testing.assert_array_equal(f, finals[0])
    p = mg.tensor(start.copy(), requires_grad=True)
    with pytest.raises(NotImplementedError, match=f"{name}: differentiable=True"):
        getattr(mg.optim, name)([p], lr=0.01, differentiable=True)
    with pytest.raises(TypeError, match="foreach must be None, True or False"):
        getattr(mg.optim, name)([p], lr=0.01, foreach="yes")
    if "fused" in flags:
        with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True` together"):
            getattr(mg.optim, name)([p], lr=0.01, foreach=True, fused=True)
    else:  # as torch: no such keyword
        with pytest.raises(TypeError, match="fused"):
            getattr(mg.optim, name)([p], lr=0.01, fused=True)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "NAdam", "Rprop", "ASGD"])
def test_a_tensor_lr_trains_like_torch_and_schedulers_fill_it_in_place(name):
    """`lr=torch.tensor(0.05)` is allowed by every torch optimizer on the CPU; schedulers fill it in place."""
    runs = {}
    for lib in (torch, mg):
        p = lib.nn.Parameter(lib.tensor(np.linspace(-1.0, 1.0, 5)))
        lr = lib.tensor(0.05, dtype=lib.float64)
        opt = getattr(lib.optim, name)([p], lr=lr)
        sched = lib.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        seen = []
        for _ in range(6):
            opt.zero_grad()
            (p * p * p).sum().backward()
            opt.step()
            sched.step()
            seen.append(sched.get_last_lr()[0])
        assert opt.param_groups[0]["lr"] is lr and float(lr) == 0.05 * 0.5 ** 3  # filled in place, not replaced
        assert [float(v) for v in seen] == [0.05, 0.025, 0.025, 0.0125, 0.0125, 0.00625]  # copies, not views
        runs[lib.__name__] = _np(p)
    _close(f"{name} with a Tensor lr", runs["minigrad"], runs["torch"])
    with pytest.raises(ValueError, match="a Tensor lr must hold one floating-point number"):
        getattr(mg.optim, name)([mg.zeros(2, requires_grad=True)], lr=mg.tensor([0.1, 0.2]))


def test_reduce_lr_on_plateau_fills_a_tensor_lr_in_place():
    p = mg.nn.Parameter(mg.ones(2, dtype=mg.float64))
    lr = mg.tensor(0.1, dtype=mg.float64)
    opt = mg.optim.SGD([p], lr=lr)
    sched = mg.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    for m in (1.0, 2.0, 3.0):
        opt.step()
        sched.step(m)
    assert opt.param_groups[0]["lr"] is lr and float(lr) == pytest.approx(0.025)


# ---------------------------------------------------------------- scheduler.step() before optimizer.step()
def _order_warnings(lib, make, order):
    p = lib.nn.Parameter(lib.ones(1, dtype=lib.float64))
    opt = lib.optim.SGD([p], lr=0.1, momentum=0.9)
    sched = make(lib.optim.lr_scheduler, opt)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if order == "override":  # the optimizer's step replaced after the scheduler was made
            opt.step = lambda *a, **k: None
        for _ in range(3):
            if order == "sched-first":
                sched.step()
                opt.step()
            else:
                opt.step()
                sched.step()
    return [str(w.message)[:70] for w in caught]  # (torch adds a link to its docs)


@pytest.mark.parametrize("order", ["sched-first", "opt-first", "override"])
@pytest.mark.parametrize("case", ["StepLR", "CyclicLR", "SequentialLR", "ChainedScheduler",
                                  "CosineAnnealingWarmRestarts"])
def test_scheduler_before_optimizer_step_warns_like_torch(case, order):
    make = {
        "StepLR": lambda L, o: L.StepLR(o, 2),
        "CyclicLR": lambda L, o: L.CyclicLR(o, 0.01, 0.1, step_size_up=2),
        "SequentialLR": lambda L, o: L.SequentialLR(o, [L.ConstantLR(o, 0.5, total_iters=1), L.StepLR(o, 2)], [1]),
        "ChainedScheduler": lambda L, o: L.ChainedScheduler([L.StepLR(o, 2), L.ExponentialLR(o, 0.9)]),
        "CosineAnnealingWarmRestarts": lambda L, o: L.CosineAnnealingWarmRestarts(o, 2),  # torch never warns
    }[case]
    ours, theirs = _order_warnings(mg, make, order), _order_warnings(torch, make, order)
    assert ours == theirs
    # (torch's SequentialLR restarts its first member, so only a member's own first step could warn)
    if order == "sched-first" and case not in ("CosineAnnealingWarmRestarts", "SequentialLR"):
        assert ours and all(w.startswith("Detected call of `lr_scheduler.step()` before `optimizer.step()`")
                            for w in ours)
    if order == "opt-first":
        assert ours == []


def test_the_step_tracking_wrapper_keeps_the_optimizer_collectable():
    import gc
    import weakref
    p = mg.nn.Parameter(mg.ones(1))
    opt = mg.optim.SGD([p], lr=0.1)
    mg.optim.lr_scheduler.StepLR(opt, 2)
    ref = weakref.ref(opt)
    del opt
    gc.collect()
    assert ref() is None


@pytest.mark.parametrize("case", ["StepLR", "CosineAnnealingLR", "CyclicLR-triangular2-SGD", "OneCycleLR-cos-Adam",
                                  "SequentialLR", "ChainedScheduler", "LambdaLR", "CosineAnnealingWarmRestarts"])
def test_a_torch_scheduler_checkpoint_resumes_in_minigrad_and_back(case):
    """Scheduler state_dicts are plain data in both libraries: torch's loads into ours and ours into torch's."""
    opt_name, make = SCHED_CASES[case]

    def start(lib, steps):
        a, b = (lib.nn.Parameter(lib.ones(2, dtype=lib.float64)) for _ in range(2))
        kw = dict(momentum=0.9) if opt_name == "SGD" else {}
        opt = getattr(lib.optim, opt_name)([{"params": [a]}, {"params": [b], "lr": 0.02}], lr=0.1, **kw)
        sched = make(lib.optim.lr_scheduler, opt)
        for _ in range(steps):
            opt.step()
            sched.step()
        return opt, sched

    done = {lib.__name__: start(lib, 6) for lib in (torch, mg)}
    for src, dst in (("torch", mg), ("minigrad", torch)):
        s_opt, s_sched = done[src]
        opt, sched = start(dst, 0)
        opt.load_state_dict(_to_numpy_state(s_opt.state_dict()) if dst is mg else
                            _to_torch_state(s_opt.state_dict()))
        sched.load_state_dict(copy.deepcopy(s_sched.state_dict()))
        ref_opt, ref_sched = start(dst, 6)
        for _ in range(8):
            for o, s in ((opt, sched), (ref_opt, ref_sched)):
                o.step()
                s.step()
            assert [float(v) for v in sched.get_last_lr()] == pytest.approx(
                [float(v) for v in ref_sched.get_last_lr()], rel=1e-12), (src, dst.__name__)
