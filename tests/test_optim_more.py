"""Rprop, ASGD, LBFGS and the MultiplicativeLR / CyclicLR schedulers: by hand, step for step against
torch.optim (float64), state_dict round trips, float32 kept, sparse gradients, bad arguments."""
import copy
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from minigrad import backend as _B
from minigrad.optim import lr_scheduler as mls

TOL = 1e-10


def close(a, b, tol=TOL):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and np.abs(a - b).max(initial=0.0) <= tol * max(1.0, np.abs(b).max(initial=0.0))


def grad_fn(arrays):
    """A fixed, bounded, nonlinear gradient field g(p), computed on the host for both frameworks."""
    return [np.sin(3.0 * a) + 0.5 * np.tanh(a) + 0.1 * (k + 1) for k, a in enumerate(arrays)]


def start_values(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((3, 4)), rng.standard_normal(5)]


@pytest.fixture
def torch():
    torch = pytest.importorskip("torch")
    threads, dtype = torch.get_num_threads(), torch.get_default_dtype()
    torch.set_num_threads(1)  # tiny tensors: the thread pool only adds contention
    # torch keeps ASGD's eta / mu in its default dtype: float64, like the parameters, for a bitwise comparison
    torch.set_default_dtype(torch.float64)
    yield torch
    torch.set_num_threads(threads)
    torch.set_default_dtype(dtype)


# ================================================================ Rprop and ASGD
def test_rprop_by_hand():
    p = mg.tensor(np.array([1.0, 1.0, 1.0]), requires_grad=True)
    opt = optim.Rprop([p], lr=0.1, etas=(0.5, 2.0), step_sizes=(0.01, 0.3))
    expected_p = [1.0, 1.0, 1.0]
    # step 1: prev = 0, so every factor is 1; the step size stays lr; p moves by -sign(g) * 0.1
    for grads, deltas, moves in [
        ([1.0, -2.0, 0.0], [0.1, 0.1, 0.1], [-0.1, 0.1, 0.0]),
        ([3.0, 1.0, 5.0], [0.2, 0.05, 0.1], [-0.2, 0.0, -0.1]),    # same sign: x2; flipped: x0.5 and no step
        ([1.0, 4.0, 1.0], [0.3, 0.05, 0.2], [-0.3, -0.05, -0.2]),  # clamped to 0.3; after a flip prev = 0: factor 1
    ]:
        p.grad = mg.tensor(np.array(grads))
        opt.step()
        expected_p = [e + m for e, m in zip(expected_p, moves)]
        np.testing.assert_allclose(opt.state[p]["step_size"], deltas, rtol=1e-15)
        np.testing.assert_allclose(p.numpy(), expected_p, rtol=1e-15)
    assert opt.state[p]["step"] == 3


def test_asgd_by_hand():
    p = mg.tensor(np.array([2.0]), requires_grad=True)
    lr, lambd, alpha, t0 = 0.1, 0.5, 0.75, 1
    opt = optim.ASGD([p], lr=lr, lambd=lambd, alpha=alpha, t0=t0)
    x, eta, mu, ax = 2.0, lr, 1.0, 0.0
    for t in range(1, 5):
        p.grad = mg.tensor(np.array([x]))  # g = x (the gradient of x^2 / 2)
        opt.step()
        x = x * (1 - lambd * eta) - eta * x
        ax = x if mu == 1 else ax + mu * (x - ax)
        eta = lr / (1 + lambd * lr * t) ** alpha
        mu = 1 / max(1, t - t0)
        assert p.item() == pytest.approx(x, rel=1e-15)
        s = opt.state[p]
        assert (s["step"], s["eta"], s["mu"]) == (t, pytest.approx(eta, rel=1e-15), pytest.approx(mu, rel=1e-15))
        assert s["ax"][0] == pytest.approx(ax, rel=1e-15)
    assert mu < 1  # averaging started (t0 = 1)


CASES = [
    ("Rprop", dict()),
    ("Rprop", dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2))),
    ("Rprop", dict(lr=0.02, etas=(0.6, 1.1), maximize=True)),
    ("ASGD", dict(lr=0.05)),
    ("ASGD", dict(lr=0.05, lambd=1e-2, alpha=0.5, t0=5, weight_decay=0.1)),
    ("ASGD", dict(lr=0.02, t0=0, weight_decay=0.05, maximize=True)),
]


def make_pair(torch, name, kwargs, groups=None):
    init = start_values()
    mp = [mg.tensor(a.copy(), requires_grad=True) for a in init]
    tp = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    if groups is None:
        return mp, tp, getattr(optim, name)(mp, **kwargs), getattr(torch.optim, name)(tp, **kwargs)
    mgroups = [dict(g, params=[mp[i] for i in g["params"]]) for g in groups]
    tgroups = [dict(g, params=[tp[i] for i in g["params"]]) for g in groups]
    return mp, tp, getattr(optim, name)(mgroups, **kwargs), getattr(torch.optim, name)(tgroups, **kwargs)


def advance(mp, tp, mopt, topt, steps, torch):
    for _ in range(steps):
        for p, g in zip(mp, grad_fn([p.data for p in mp])):
            p.grad = mg.tensor(g)
        for p, g in zip(tp, grad_fn([p.detach().numpy() for p in tp])):
            p.grad = torch.tensor(g)
        mopt.step()
        topt.step()
        for a, b in zip(mp, tp):
            assert close(a.data, b.detach().numpy()), np.abs(a.data - b.detach().numpy()).max()


def check_state(mopt, topt, mp, tp):
    for a, b in zip(mp, tp):
        ms, ts = mopt.state[a], topt.state[b]
        assert set(ms) == set(ts)
        for k, v in ms.items():
            assert close(v, ts[k].numpy()), k


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{'-'.join(map(str, k.items()))}" for n, k in CASES])
def test_trajectory_and_state_match_torch(torch, name, kwargs):
    mp, tp, mopt, topt = make_pair(torch, name, kwargs)
    advance(mp, tp, mopt, topt, 25, torch)
    check_state(mopt, topt, mp, tp)


@pytest.mark.parametrize("name,kwargs", [("Rprop", dict(lr=0.05)), ("ASGD", dict(lr=0.05, t0=3))])
def test_param_groups_with_different_options_match_torch(torch, name, kwargs):
    extra = dict(etas=(0.4, 1.3)) if name == "Rprop" else dict(weight_decay=0.05, lambd=1e-3)
    groups = [dict(extra, params=[0], lr=kwargs["lr"] / 4), {"params": [1]}]
    mp, tp, mopt, topt = make_pair(torch, name, kwargs, groups)
    advance(mp, tp, mopt, topt, 15, torch)


def _torch_state_to_arrays(torch, sd):
    """torch's optimizer state_dict with its tensors (also inside lists) as NumPy arrays: what a checkpoint holds."""
    def conv(v):
        if isinstance(v, torch.Tensor):
            return v.detach().numpy().copy()
        if isinstance(v, (list, tuple)):
            return [conv(e) for e in v]
        return copy.deepcopy(v)
    return {"state": {k: {n: conv(v) for n, v in s.items()} for k, s in sd["state"].items()},
            "param_groups": copy.deepcopy(sd["param_groups"])}


@pytest.mark.parametrize("name,kwargs", [("Rprop", dict(lr=0.05, etas=(0.3, 1.5))),
                                         ("ASGD", dict(lr=0.05, t0=4, weight_decay=0.1))])
def test_state_dict_round_trip_and_torch_state_continue_identically(torch, name, kwargs):
    mp, tp, mopt, topt = make_pair(torch, name, kwargs)
    advance(mp, tp, mopt, topt, 7, torch)
    sd = copy.deepcopy(mopt.state_dict())
    assert sd["param_groups"][0]["lr"] == kwargs["lr"] and sorted(sd["state"]) == [0, 1]
    copies = []
    for source in (sd, _torch_state_to_arrays(torch, topt.state_dict())):
        q = [mg.tensor(p.data.copy(), requires_grad=True) for p in mp]
        opt = getattr(optim, name)(q, lr=123.0)  # the hyperparameters come from the state dict
        opt.load_state_dict(source)
        assert opt.param_groups[0]["lr"] == kwargs["lr"]
        copies.append((q, opt))
    advance(mp, tp, mopt, topt, 8, torch)
    for q, opt in copies:
        for _ in range(8):
            for p, g in zip(q, grad_fn([p.data for p in q])):
                p.grad = mg.tensor(g)
            opt.step()
        for a, b in zip(q, tp):
            assert close(a.data, b.detach().numpy())


@pytest.mark.parametrize("cls,kw", [(optim.Rprop, dict(lr=0.05)), (optim.ASGD, dict(lr=0.05, t0=1)),
                                    (optim.LBFGS, dict(lr=0.5, max_iter=3))])
def test_float32_params_keep_float32_state_and_decrease_a_quadratic(cls, kw, device):
    p = (mg.randn(3, 4, device=device) + 3.0).detach().requires_grad_()
    opt = cls([p], **kw)

    def closure():
        opt.zero_grad()
        loss = ((p - 0.5) ** 2).sum()
        loss.backward()
        return loss

    first = closure().item()
    for _ in range(40):
        opt.step(closure)
    assert closure().item() < 0.1 * first
    assert p.dtype == np.float32 and p.device == mg.tensor(0.0, device=device).device
    for name, v in opt.state[p].items():
        for arr in (v if isinstance(v, list) else [v]):
            if _B.is_array(arr):
                assert arr.dtype == np.float32 and _B.device_of(arr) == p.device, name
            else:
                assert arr is None or isinstance(arr, (int, float)), name  # host numbers


@pytest.mark.parametrize("cls", [optim.Rprop, optim.ASGD])
def test_sparse_gradients_are_refused(cls):
    table = mg.randn(10, 3, requires_grad=True)
    opt = cls([table])
    (mg.functional.embedding(mg.tensor([1, 4]), table, sparse=True) ** 2).sum().backward()
    assert table.grad.is_sparse
    with pytest.raises(RuntimeError, match=f"{cls.__name__} does not support sparse gradients"):
        opt.step()


def test_steps_bump_the_version_and_skip_params_without_grad():
    for cls in (optim.Rprop, optim.ASGD):
        a, b = mg.tensor([1.0, 2.0], requires_grad=True), mg.tensor([3.0], requires_grad=True)
        opt = cls([a, b])
        y = (a * a).sum()
        y.backward()
        opt.step()
        assert b not in opt.state and b.item() == 3.0 and a in opt.state
        with pytest.raises(RuntimeError):
            y.backward()  # the graph saved the old a


@pytest.mark.parametrize("make,exc,match", [
    (lambda p: optim.Rprop(p, lr=-1.0), ValueError, "Invalid learning rate"),
    (lambda p: optim.Rprop(p, etas=(1.2, 0.5)), ValueError, "Invalid eta values"),
    (lambda p: optim.Rprop(p, etas=(0.0, 1.2)), ValueError, "Invalid eta values"),
    (lambda p: optim.Rprop(p, etas=0.5), TypeError, "etas must be a pair"),
    (lambda p: optim.Rprop(p, step_sizes=(1.0, 0.1)), ValueError, "step_sizes"),
    (lambda p: optim.ASGD(p, lr=-0.1), ValueError, "Invalid learning rate"),
    (lambda p: optim.ASGD(p, weight_decay=-0.1), ValueError, "weight_decay"),
    (lambda p: optim.ASGD(p, t0="1e6"), TypeError, "t0 must be a number"),
    (lambda p: optim.LBFGS(p, lr=-1), ValueError, "Invalid learning rate"),
    (lambda p: optim.LBFGS(p, max_iter=0), ValueError, "max_iter must be a positive int"),
    (lambda p: optim.LBFGS(p, history_size=2.5), ValueError, "history_size must be a positive int"),
    (lambda p: optim.LBFGS(p, line_search_fn="armijo"), ValueError, "strong_wolfe"),
    (lambda p: optim.LBFGS([{"params": [p[0]]}, {"params": [mg.zeros(1, requires_grad=True)]}]), ValueError,
     "per-parameter options"),
])
def test_bad_hyperparameters_raise(make, exc, match):
    with pytest.raises(exc, match=match):
        make([mg.zeros(2, requires_grad=True)])


# ================================================================ LBFGS
def rosenbrock(x):
    """sum 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2 (works on minigrad and torch tensors alike)."""
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def run_lbfgs_pair(torch, make_loss_pair, params_pair, kwargs, steps):
    """Step both L-BFGS optimizers `steps` times; compare returned losses, parameters and counters after each."""
    mps, tps = params_pair
    mopt, topt = optim.LBFGS(mps, **kwargs), torch.optim.LBFGS(tps, **kwargs)
    mloss, tloss = make_loss_pair

    def mclosure():
        mopt.zero_grad()
        loss = mloss()
        loss.backward()
        return loss

    def tclosure():
        topt.zero_grad()
        loss = tloss()
        loss.backward()
        return loss

    for _ in range(steps):
        a, b = mopt.step(mclosure), topt.step(tclosure)
        assert isinstance(a, mg.Tensor) and a.item() == pytest.approx(b.item(), rel=1e-9, abs=1e-12)
        for p, q in zip(mps, tps):
            assert close(p.data, q.detach().numpy(), 1e-8), np.abs(p.data - q.detach().numpy()).max()
        ms, ts = mopt.state[mps[0]], topt.state[tps[0]]
        assert (ms["func_evals"], ms["n_iter"]) == (ts["func_evals"], ts["n_iter"])
        assert len(ms["old_dirs"]) == len(ts["old_dirs"])
    return mopt, topt, mclosure, tclosure


LBFGS_CASES = [
    dict(),
    dict(line_search_fn="strong_wolfe"),
    dict(lr=0.5, history_size=3, max_iter=7),
    dict(line_search_fn="strong_wolfe", history_size=2, max_iter=6, max_eval=9),
    dict(max_iter=4, tolerance_change=1e-3, tolerance_grad=1e-3),
]


@pytest.mark.parametrize("kwargs", LBFGS_CASES, ids=[str(k) for k in LBFGS_CASES])
@pytest.mark.parametrize("x0", [[-1.2, 1.0], [-1.5, 2.0, 0.5, -0.3]])
def test_lbfgs_on_rosenbrock_matches_torch(torch, kwargs, x0):
    mx = mg.tensor(np.array(x0), requires_grad=True)
    tx = torch.tensor(np.array(x0), requires_grad=True)
    run_lbfgs_pair(torch, (lambda: rosenbrock(mx), lambda: rosenbrock(tx)), ([mx], [tx]), kwargs, steps=4)


def test_lbfgs_with_strong_wolfe_solves_rosenbrock():
    x = mg.tensor(np.array([-1.2, 1.0]), requires_grad=True)
    # the default tolerance_change (1e-9 on the loss) stops near 1 - 4e-5: the valley is that flat
    opt = optim.LBFGS([x], line_search_fn="strong_wolfe", max_iter=100, tolerance_change=1e-12)

    def closure():
        opt.zero_grad()
        loss = rosenbrock(x)
        loss.backward()
        return loss

    opt.step(closure)
    np.testing.assert_allclose(x.numpy(), [1.0, 1.0], atol=1e-6)


def _mlp_data(seed=0):
    """Weights (w1, b1, w2, b2) of a 3-4-1 tanh MLP and a batch (x, y), as float64 arrays."""
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal((4, 3)), rng.standard_normal(4), rng.standard_normal((1, 4)), rng.standard_normal(1)]
    return weights, rng.standard_normal((8, 3)), rng.standard_normal((8, 1))


def mlp_loss(lib_tanh, params, x, y):
    """Mean squared error of the MLP (the same expression for minigrad and torch tensors)."""
    h = lib_tanh(x @ params[0].T + params[1])
    return ((h @ params[2].T + params[3] - y) ** 2).mean()


def _mlp_pair(torch, seed=0):
    weights, xs, ys = _mlp_data(seed)
    mparams = [mg.tensor(a.copy(), requires_grad=True) for a in weights]
    tparams = [torch.tensor(a.copy(), requires_grad=True) for a in weights]
    mx, my, tx, ty = mg.tensor(xs), mg.tensor(ys), torch.tensor(xs), torch.tensor(ys)
    losses = (lambda: mlp_loss(mg.Tensor.tanh, mparams, mx, my), lambda: mlp_loss(torch.tanh, tparams, tx, ty))
    return losses, (mparams, tparams)


@pytest.mark.parametrize("kwargs", [dict(lr=0.5, max_iter=5), dict(line_search_fn="strong_wolfe", max_iter=5,
                                                                    history_size=4)])
def test_lbfgs_on_a_tiny_mlp_matches_torch(torch, kwargs):
    losses, params = _mlp_pair(torch)
    start = losses[0]().item()
    mopt, _, mclosure, _ = run_lbfgs_pair(torch, losses, params, kwargs, steps=4)
    assert mclosure().item() < 0.5 * start
    assert mopt.state[params[0][0]]["func_evals"] > 4  # several evaluations per step


def test_lbfgs_state_dict_round_trip_and_torch_state_continue_identically(torch):
    kwargs = dict(line_search_fn="strong_wolfe", max_iter=3, history_size=3)
    losses, (mps, tps) = _mlp_pair(torch)
    mopt, topt, _, tclosure = run_lbfgs_pair(torch, losses, (mps, tps), kwargs, steps=2)
    sd = copy.deepcopy(mopt.state_dict())
    assert list(sd["state"]) == [0] and sd["param_groups"][0]["line_search_fn"] == "strong_wolfe"
    assert len(sd["state"][0]["old_dirs"]) == len(topt.state[tps[0]]["old_dirs"]) > 0
    _, xs, ys = _mlp_data()
    resumed = []
    for source in (sd, _torch_state_to_arrays(torch, topt.state_dict())):
        q = [mg.tensor(p.data.copy(), requires_grad=True) for p in mps]
        opt = optim.LBFGS(q, lr=123.0)  # the hyperparameters come from the state dict
        opt.load_state_dict(source)
        assert opt.param_groups[0]["lr"] == 1 and opt.param_groups[0]["history_size"] == 3
        resumed.append((q, opt))
    for _ in range(2):
        topt.step(tclosure)
    for q, opt in resumed:
        def closure(q=q, opt=opt):
            opt.zero_grad()
            loss = mlp_loss(mg.Tensor.tanh, q, mg.tensor(xs), mg.tensor(ys))
            loss.backward()
            return loss

        for _ in range(2):
            opt.step(closure)
        for a, b in zip(q, tps):
            assert close(a.data, b.detach().numpy(), 1e-8)
        assert opt.state[q[0]]["n_iter"] == topt.state[tps[0]]["n_iter"]
        assert opt.state[q[0]]["func_evals"] == topt.state[tps[0]]["func_evals"]


def test_lbfgs_step_contract():
    x = mg.tensor(np.array([3.0, -1.0]), requires_grad=True)
    opt = optim.LBFGS([x], lr=0.01, max_iter=5)  # short steps: all 5 iterations run
    with pytest.raises(TypeError, match="closure"):
        opt.step()
    with pytest.raises(TypeError, match="closure"):
        opt.step(None)
    with pytest.raises(TypeError, match="the closure must return the loss"):
        opt.step(lambda: "loss")
    calls = []

    def closure():
        calls.append(mg.is_grad_enabled())
        opt.zero_grad()
        loss = (x ** 2).sum()
        loss.backward()
        return loss

    first = closure()
    out = opt.step(closure)
    assert out.item() == first.item() and all(calls)  # the first loss is returned; grad on in every call
    # the call above + the step's first evaluation + one after each of the first 4 iterations (not the last)
    assert len(calls) == 1 + 1 + 4 and opt.state[x]["n_iter"] == 5
    with pytest.raises(ValueError, match="per-parameter options"):
        opt.add_param_group({"params": [mg.zeros(1, requires_grad=True)]})


def test_lbfgs_stops_at_once_when_the_gradient_is_zero_and_skips_params_without_grad():
    x = mg.tensor(np.array([0.0, 0.0]), requires_grad=True)
    unused = mg.tensor(np.array([5.0]), requires_grad=True)
    opt = optim.LBFGS([x, unused])

    def closure():
        opt.zero_grad()
        loss = (x ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    assert opt.state[x] == {"func_evals": 1, "n_iter": 0}  # max|g| = 0 <= tolerance_grad: nothing to do
    x.data[...] = [1.0, 2.0]
    opt.step(closure)
    assert unused.item() == 5.0 and abs(x.data).max() < 1e-6  # unused has no gradient: a zero block


def test_lbfgs_uses_a_row_sparse_gradient_as_dense():
    w0 = np.random.default_rng(0).standard_normal((6, 2))
    results = []
    for sparse in (True, False):
        w = mg.tensor(w0.copy(), requires_grad=True)
        opt = optim.LBFGS([w], max_iter=4)
        idx = mg.tensor([1, 3, 3])

        def closure(w=w, opt=opt, sparse=sparse):
            opt.zero_grad()
            loss = ((mg.functional.embedding(idx, w, sparse=sparse) - 1.0) ** 2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        results.append(w.numpy().copy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)


def test_lbfgs_refuses_parameters_on_two_devices(monkeypatch):
    a, b = mg.zeros(2, requires_grad=True), mg.zeros(2, requires_grad=True)
    monkeypatch.setattr(type(b), "device", property(lambda self: "cuda:0" if self is b else "cpu"))
    with pytest.raises(RuntimeError, match="one device"):
        optim.LBFGS([a, b])


# ================================================================ MultiplicativeLR and CyclicLR
def _two_group_optimizers(torch, name="SGD"):
    mp = [mg.tensor(np.ones(2), requires_grad=True) for _ in range(2)]
    tp = [torch.tensor(np.ones(2), requires_grad=True) for _ in range(2)]
    extra = dict(momentum=0.9) if name == "SGD" else {}
    mopt = getattr(optim, name)([{"params": [mp[0]]}, {"params": [mp[1]], "lr": 0.3}], lr=0.1, **extra)
    topt = getattr(torch.optim, name)([{"params": [tp[0]]}, {"params": [tp[1]], "lr": 0.3}], lr=0.1, **extra)
    return mopt, topt


def _compare(torch, mopt, topt, ms, ts, steps, key=None):
    for _ in range(steps):
        assert ms.get_last_lr() == ts.get_last_lr()
        assert [g["lr"] for g in mopt.param_groups] == [g["lr"] for g in topt.param_groups]
        if key is not None:
            assert [g[key] for g in mopt.param_groups] == [g[key] for g in topt.param_groups]
        for x in (mopt, topt, ms, ts):
            x.step()


class Halving:
    """A callable object (its state is saved by state_dict, unlike a lambda's)."""

    def __init__(self):
        self.factor = 0.5

    def __call__(self, x):
        return self.factor ** x


@pytest.mark.parametrize("lr_lambda", [lambda e: 0.95, lambda e: 1.0 + 0.1 * math.sin(e),
                                       [lambda e: 0.9, lambda e: 1.01]])
def test_multiplicative_lr_matches_torch_over_60_steps(torch, lr_lambda):
    mopt, topt = _two_group_optimizers(torch)
    ms = mls.MultiplicativeLR(mopt, lr_lambda)
    ts = torch.optim.lr_scheduler.MultiplicativeLR(topt, lr_lambda)
    _compare(torch, mopt, topt, ms, ts, 60)


def test_multiplicative_lr_by_hand_state_dict_and_errors(torch):
    mopt, _ = _two_group_optimizers(torch)
    factor = Halving()
    s = mls.MultiplicativeLR(mopt, factor)
    for _ in range(3):
        s.step()
    assert s.get_last_lr() == pytest.approx([0.1 * 0.5 ** 6, 0.3 * 0.5 ** 6])  # 0.5^1 * 0.5^2 * 0.5^3
    sd = s.state_dict()
    assert sd["lr_lambdas"] == [{"factor": 0.5}, {"factor": 0.5}] and sd["last_epoch"] == 3
    mopt2, _ = _two_group_optimizers(torch)
    mopt2.load_state_dict(mopt.state_dict())
    other = Halving()
    other.factor = 0.9
    s2 = mls.MultiplicativeLR(mopt2, other)
    s2.load_state_dict(copy.deepcopy(sd))
    assert other.factor == 0.5 and s2.last_epoch == 3
    s.step()
    s2.step()
    assert s2.get_last_lr() == s.get_last_lr()
    with pytest.raises(ValueError, match="MultiplicativeLR: expected 2 lr_lambdas"):
        mls.MultiplicativeLR(mopt, [lambda e: 1.0])
    with pytest.raises(TypeError, match="MultiplicativeLR: lr_lambda must be callable"):
        mls.MultiplicativeLR(mopt, 0.9)


CYCLIC = [
    dict(base_lr=0.01, max_lr=0.1, step_size_up=4),
    dict(base_lr=[0.01, 0.02], max_lr=[0.1, 0.5], step_size_up=3, step_size_down=7, mode="triangular2"),
    dict(base_lr=0.01, max_lr=0.1, step_size_up=5, mode="exp_range", gamma=0.97, base_momentum=[0.7, 0.75]),
    dict(base_lr=0.01, max_lr=0.1, step_size_up=5, scale_fn=lambda x: 0.5 * (1 + math.sin(x)),
         scale_mode="iterations", max_momentum=0.95),
    dict(base_lr=0.01, max_lr=0.1, step_size_up=2, step_size_down=5, scale_fn=lambda x: 1 / x, cycle_momentum=False),
]


@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
@pytest.mark.parametrize("kwargs", CYCLIC, ids=[str(i) for i in range(len(CYCLIC))])
def test_cyclic_lr_and_momentum_match_torch_over_60_steps(torch, kwargs, opt_name):
    mopt, topt = _two_group_optimizers(torch, opt_name)
    ms = mls.CyclicLR(mopt, **kwargs)
    ts = torch.optim.lr_scheduler.CyclicLR(topt, **kwargs)
    key = "momentum" if opt_name == "SGD" else "betas"
    _compare(torch, mopt, topt, ms, ts, 60, key)
    if kwargs.get("cycle_momentum", True):
        assert mopt.param_groups[0]["base_momentum"] == topt.param_groups[0]["base_momentum"]


def test_cyclic_lr_by_hand():
    p = mg.zeros(1, requires_grad=True)
    opt = optim.SGD([p], lr=1.0, momentum=0.5)
    s = mls.CyclicLR(opt, base_lr=0.0, max_lr=1.0, step_size_up=2, step_size_down=2, mode="triangular2")
    lrs, moms = [], []
    for _ in range(9):
        lrs.append(s.get_last_lr()[0])
        moms.append(opt.param_groups[0]["momentum"])
        s.step()
    assert lrs == pytest.approx([0, 0.5, 1, 0.5, 0, 0.25, 0.5, 0.25, 0])  # the second cycle at half height
    assert moms == pytest.approx([0.9, 0.85, 0.8, 0.85, 0.9, 0.875, 0.85, 0.875, 0.9])


def test_cyclic_lr_state_dict_matches_torch_keys_and_resumes(torch):
    kwargs = dict(base_lr=0.01, max_lr=0.1, step_size_up=3, mode="exp_range", gamma=0.9)
    mopt, topt = _two_group_optimizers(torch, "Adam")
    ms, ts = mls.CyclicLR(mopt, **kwargs), torch.optim.lr_scheduler.CyclicLR(topt, **kwargs)
    for _ in range(7):
        for x in (mopt, topt, ms, ts):
            x.step()
    msd, tsd = ms.state_dict(), ts.state_dict()
    assert set(msd) == set(tsd) - {"_get_lr_called_within_step"}
    for k in msd:
        assert msd[k] == tsd[k], k
    mopt2, _ = _two_group_optimizers(torch, "Adam")
    mopt2.load_state_dict(copy.deepcopy(mopt.state_dict()))
    ms2 = mls.CyclicLR(mopt2, base_lr=0.5, max_lr=0.6, step_size_up=10)
    ms2.load_state_dict(copy.deepcopy(msd))
    for _ in range(20):
        for x in (mopt2, topt, ms2, ts):
            x.step()
        assert ms2.get_last_lr() == ts.get_last_lr()
        assert [g["betas"] for g in mopt2.param_groups] == [g["betas"] for g in topt.param_groups]


def test_cyclic_lr_saves_a_callable_objects_state_not_a_lambdas():
    p = mg.zeros(1, requires_grad=True)
    fn = Halving()
    s = mls.CyclicLR(optim.SGD([p], lr=1.0), 0.1, 1.0, step_size_up=2, scale_fn=fn, cycle_momentum=False)
    sd = s.state_dict()
    assert sd["_scale_fn_custom"] == {"factor": 0.5}
    other = Halving()
    other.factor = 0.25
    s2 = mls.CyclicLR(optim.SGD([mg.zeros(1, requires_grad=True)], lr=1.0), 0.1, 1.0, step_size_up=2,
                      scale_fn=other, cycle_momentum=False)
    s2.load_state_dict(sd)
    assert other.factor == 0.5
    s3 = mls.CyclicLR(optim.SGD([p], lr=1.0), 0.1, 1.0, scale_fn=lambda x: 1.0, cycle_momentum=False)
    assert s3.state_dict()["_scale_fn_custom"] is None


def test_cyclic_lr_errors():
    p = mg.zeros(1, requires_grad=True)
    sgd = optim.SGD([p], lr=1.0)
    with pytest.raises(ValueError, match="CyclicLR: mode must be"):
        mls.CyclicLR(sgd, 0.1, 1.0, mode="triangle")
    with pytest.raises(ValueError, match="CyclicLR: scale_mode"):
        mls.CyclicLR(sgd, 0.1, 1.0, scale_fn=lambda x: 1.0, scale_mode="epochs")
    with pytest.raises(ValueError, match="CyclicLR: step_size_up"):
        mls.CyclicLR(sgd, 0.1, 1.0, step_size_up=0)
    with pytest.raises(ValueError, match="CyclicLR: max_lr must have one value per param group"):
        mls.CyclicLR(sgd, 0.1, [1.0, 2.0])
    with pytest.raises(ValueError, match="cycle_momentum=True needs an optimizer with momentum or betas"):
        mls.CyclicLR(optim.Rprop([p]), 0.1, 1.0)
    with pytest.raises(TypeError, match="CyclicLR: expected an Optimizer"):
        mls.CyclicLR([p], 0.1, 1.0)
