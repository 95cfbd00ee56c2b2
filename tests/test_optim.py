"""Optimizers: each update rule on a hand-computed example, plus the Optimizer API (groups, zero_grad,
state_dict, closures, validation, dtype, in-place/version semantics, no host round trip in step())."""
import copy
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend as _B
from minigrad import optim
from minigrad.sparse import RowSparseGrad
from minigrad.tensor import Tensor

EPS8 = 1e-8


def param(values, device="cpu", dtype="float64"):
    return mg.tensor(np.array(values, dtype=dtype), requires_grad=True, device=device)


def run_constant(opt_cls, p0, grad, steps, device="cpu", **kw):
    """Apply `steps` updates with the same gradient; returns the parameter values after each step."""
    p = param(p0, device)
    opt = opt_cls([p], **kw)
    out = []
    for _ in range(steps):
        p.grad = mg.tensor(np.array(grad, dtype="float64"), device=device)
        opt.step()
        out.append(p.numpy().copy())
    return out


def run_sequence(opt_cls, p0, grads, device="cpu", **kw):
    p = param(p0, device)
    opt = opt_cls([p], **kw)
    out = []
    for g in grads:
        p.grad = mg.tensor(np.array(g, dtype="float64"), device=device)
        opt.step()
        out.append(p.numpy().copy())
    return out


# ---------------------------------------------------------------- hand-computed update rules
def test_sgd_plain_momentum_nesterov_dampening_weight_decay_by_hand(device):
    g = [0.5, 1.0]
    # plain: p <- p - lr g
    (p1,) = run_constant(optim.SGD, [1.0, -2.0], g, 1, device, lr=0.1)
    np.testing.assert_allclose(p1, [0.95, -2.1], rtol=0, atol=1e-15)
    # momentum 0.9: b1 = g, b2 = 0.9 g + g = 1.9 g
    p1, p2 = run_constant(optim.SGD, [1.0, -2.0], g, 2, device, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(p1, [0.95, -2.1], atol=1e-15)
    np.testing.assert_allclose(p2, [0.855, -2.29], atol=1e-15)
    # nesterov: step uses g + 0.9 b: 1.9 g, then g + 0.9 * 1.9 g = 2.71 g
    p1, p2 = run_constant(optim.SGD, [1.0, -2.0], g, 2, device, lr=0.1, momentum=0.9, nesterov=True)
    np.testing.assert_allclose(p1, [0.905, -2.19], atol=1e-15)
    np.testing.assert_allclose(p2, [0.7695, -2.461], atol=1e-15)
    # dampening 0.5 is not applied on the first step (b1 = g), then b2 = 0.9 g + 0.5 g = 1.4 g
    p1, p2 = run_constant(optim.SGD, [1.0, -2.0], g, 2, device, lr=0.1, momentum=0.9, dampening=0.5)
    np.testing.assert_allclose(p2, [0.88, -2.24], atol=1e-15)
    # weight decay enters the gradient: g + 0.1 p = [0.6, 0.8]
    (p1,) = run_constant(optim.SGD, [1.0, -2.0], g, 1, device, lr=0.1, weight_decay=0.1)
    np.testing.assert_allclose(p1, [0.94, -2.08], atol=1e-15)
    # maximize ascends
    (p1,) = run_constant(optim.SGD, [1.0, -2.0], g, 1, device, lr=0.1, maximize=True)
    np.testing.assert_allclose(p1, [1.05, -1.9], atol=1e-15)


def test_adam_by_hand(device):
    # A constant gradient has bias-corrected moments m_hat = g, v_hat = g^2, so every
    # step moves by lr * g / (|g| + eps).
    g = [0.5, -2.0]
    traj = run_constant(optim.Adam, [1.0, 1.0], g, 3, device, lr=0.1)
    for t, p in enumerate(traj, 1):
        np.testing.assert_allclose(p, [1 - t * 0.1 * 0.5 / (0.5 + EPS8), 1 + t * 0.1 * 2.0 / (2.0 + EPS8)],
                                   rtol=0, atol=1e-14)
    # g1 = 1, g2 = -1: m2 = 0.9 * 0.1 - 0.1 = -0.01, v2 = 0.999 * 0.001 + 0.001 = 0.001999;
    # m_hat2 = -0.01 / 0.19 = -1/19, v_hat2 = 0.001999 / (1 - 0.999^2) = 1.
    p1, p2 = run_sequence(optim.Adam, [0.0], [[1.0], [-1.0]], device, lr=0.1)
    np.testing.assert_allclose(p1, [-0.1 / (1 + EPS8)], atol=1e-15)
    np.testing.assert_allclose(p2, [-0.1 / (1 + EPS8) + 0.1 * (1 / 19) / (1 + EPS8)], atol=1e-14)
    # L2 weight decay: the first gradient is g + wd p = 0.5 + 0.1 * 2 = 0.7
    (p1,) = run_constant(optim.Adam, [2.0], [0.5], 1, device, lr=0.1, weight_decay=0.1)
    np.testing.assert_allclose(p1, [2.0 - 0.1 * 0.7 / (0.7 + EPS8)], atol=1e-15)


def test_adam_amsgrad_by_hand(device):
    # g1 = 1, g2 = 0: v2 = 0.000999 < v1 = 0.001, so amsgrad divides by sqrt(v_max = 0.001).
    b2c = 1 - 0.999 ** 2
    m2 = 0.09
    plain = run_sequence(optim.Adam, [0.0], [[1.0], [0.0]], device, lr=0.1)[1]
    ams = run_sequence(optim.Adam, [0.0], [[1.0], [0.0]], device, lr=0.1, amsgrad=True)[1]
    p1 = -0.1 / (1 + EPS8)
    np.testing.assert_allclose(plain, [p1 - 0.1 / 0.19 * m2 / (math.sqrt(0.000999 / b2c) + EPS8)], atol=1e-14)
    np.testing.assert_allclose(ams, [p1 - 0.1 / 0.19 * m2 / (math.sqrt(0.001 / b2c) + EPS8)], atol=1e-14)


def test_adamw_decays_the_weights_directly(device):
    # p <- p (1 - lr wd), then the Adam step with the plain gradient (constant g: lr * sign).
    p1, p2 = run_constant(optim.AdamW, [2.0], [0.5], 2, device, lr=0.1, weight_decay=0.1)
    step = 0.1 * 0.5 / (0.5 + EPS8)
    np.testing.assert_allclose(p1, [2.0 * 0.99 - step], atol=1e-14)
    np.testing.assert_allclose(p2, [(2.0 * 0.99 - step) * 0.99 - step], atol=1e-14)
    assert optim.AdamW([param([1.0])]).param_groups[0]["weight_decay"] == 1e-2  # torch's default


def test_rmsprop_by_hand(device):
    g = 0.5
    # s1 = 0.01 * 0.25 = 0.0025, s2 = 0.99 * 0.0025 + 0.0025
    s1, s2 = 0.0025, 0.99 * 0.0025 + 0.0025
    p1, p2 = run_constant(optim.RMSprop, [1.0], [g], 2, device, lr=0.01)
    np.testing.assert_allclose(p1, [1 - 0.01 * g / (math.sqrt(s1) + EPS8)], atol=1e-15)
    np.testing.assert_allclose(p2, [p1[0] - 0.01 * g / (math.sqrt(s2) + EPS8)], atol=1e-15)
    # centered: a1 = 0.01 * 0.5, the denominator is sqrt(s1 - a1^2)
    (c1,) = run_constant(optim.RMSprop, [1.0], [g], 1, device, lr=0.01, centered=True)
    np.testing.assert_allclose(c1, [1 - 0.01 * g / (math.sqrt(s1 - 0.005 ** 2) + EPS8)], atol=1e-15)
    # momentum 0.9: b1 = g / d1, b2 = 0.9 b1 + g / d2
    m1, m2 = run_constant(optim.RMSprop, [1.0], [g], 2, device, lr=0.01, momentum=0.9)
    b1 = g / (math.sqrt(s1) + EPS8)
    b2 = 0.9 * b1 + g / (math.sqrt(s2) + EPS8)
    np.testing.assert_allclose(m1, [1 - 0.01 * b1], atol=1e-15)
    np.testing.assert_allclose(m2, [1 - 0.01 * b1 - 0.01 * b2], atol=1e-15)
    # weight decay enters the gradient: 0.5 + 0.1 * 1 = 0.6
    (w1,) = run_constant(optim.RMSprop, [1.0], [g], 1, device, lr=0.01, weight_decay=0.1)
    np.testing.assert_allclose(w1, [1 - 0.01 * 0.6 / (math.sqrt(0.01 * 0.36) + EPS8)], atol=1e-15)


def test_adagrad_by_hand(device):
    # A constant gradient: s_t = t g^2, so step t moves lr / sqrt(t) * sign(g).
    traj = run_constant(optim.Adagrad, [1.0, 1.0], [0.5, -2.0], 3, device, lr=0.1, eps=0.0)
    moved = 0.0
    for t, p in enumerate(traj, 1):
        moved += 0.1 / math.sqrt(t)
        np.testing.assert_allclose(p, [1 - moved, 1 + moved], atol=1e-15)
    # lr_decay 0.5: lr_t = lr / (1 + (t - 1) 0.5); initial accumulator 1.0: s_t = 1 + t g^2
    p1, p2 = run_constant(optim.Adagrad, [0.0], [1.0], 2, device, lr=0.1, lr_decay=0.5,
                          initial_accumulator_value=1.0, eps=1e-10)
    np.testing.assert_allclose(p1, [-0.1 / (math.sqrt(2) + 1e-10)], atol=1e-15)
    np.testing.assert_allclose(p2, [p1[0] - 0.1 / 1.5 / (math.sqrt(3) + 1e-10)], atol=1e-15)
    # weight decay enters the gradient: 1 + 0.5 * 2 = 2, s1 = 4
    (w1,) = run_constant(optim.Adagrad, [2.0], [1.0], 1, device, lr=0.1, weight_decay=0.5, eps=0.0)
    np.testing.assert_allclose(w1, [2.0 - 0.1 * 2.0 / 2.0], atol=1e-15)



def test_adamax_by_hand(device):
    # g1 = 2: m1 = 0.2, u1 = max(0, 2 + eps); p1 = -lr / 0.1 * 0.2 / u1 = -lr (up to eps).
    # g2 = -1: m2 = 0.18 - 0.1 = 0.08, u2 = max(0.999 u1, 1 + eps) = 0.999 u1; step lr / 0.19 * m2 / u2.
    p1, p2 = run_sequence(optim.Adamax, [0.0], [[2.0], [-1.0]], device, lr=0.1)
    u1 = 2.0 + EPS8
    np.testing.assert_allclose(p1, [-0.1 / 0.1 * 0.2 / u1], atol=1e-15)
    np.testing.assert_allclose(p2, p1 - 0.1 / 0.19 * 0.08 / (0.999 * u1), atol=1e-15)


def test_nadam_by_hand(device):
    # Step 1 with g = 1, psi = 0.004: mu1 = 0.9 (1 - 0.5 * 0.96^0.004), mu2 likewise with 0.008;
    # m = 0.1, v_hat = 1, d = 1 + eps; p -= lr (1 - mu1) / (1 - mu1) g / d + lr mu2 / (1 - mu1 mu2) m / d.
    mu1 = 0.9 * (1 - 0.5 * 0.96 ** 0.004)
    mu2 = 0.9 * (1 - 0.5 * 0.96 ** 0.008)
    (p1,) = run_constant(optim.NAdam, [0.0], [1.0], 1, device, lr=0.1)
    np.testing.assert_allclose(p1, [-0.1 / (1 + EPS8) - 0.1 * mu2 / (1 - mu1 * mu2) * 0.1 / (1 + EPS8)], atol=1e-15)


def test_radam_by_hand(device):
    # rho_inf = 2 / 0.001 - 1 = 1999; rho_t <= 5 for t <= 5 (un-adapted momentum steps: with a
    # constant g, m_hat = g, so each moves by lr * g); at t = 6, rho_6 > 5 and the rectified adaptive
    # step lr * r_6 * g / (|g| + eps / sqrt(1 - beta2^6)) follows.
    traj = run_constant(optim.RAdam, [0.0], [0.5], 6, device, lr=0.1)
    for t in range(5):
        np.testing.assert_allclose(traj[t], [-(t + 1) * 0.1 * 0.5], atol=1e-14)
    b2 = 0.999
    rho_inf = 2 / (1 - b2) - 1
    rho = rho_inf - 2 * 6 * b2 ** 6 / (1 - b2 ** 6)
    assert 5 < rho < 6
    r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
    step6 = 0.1 * r * 0.5 * math.sqrt(1 - b2 ** 6) / (0.5 * math.sqrt(1 - b2 ** 6) + EPS8)
    np.testing.assert_allclose(traj[5], traj[4] - step6, atol=1e-14)


def test_adadelta_by_hand(device):
    # g = 1, rho = 0.9, eps = 1e-6: v1 = 0.1, d1 = sqrt(eps) / sqrt(0.1 + eps), u1 = 0.1 d1^2;
    # step 2: v2 = 0.19, d2 = sqrt(u1 + eps) / sqrt(0.19 + eps).
    p1, p2 = run_constant(optim.Adadelta, [0.0], [1.0], 2, device)
    d1 = math.sqrt(1e-6) / math.sqrt(0.1 + 1e-6)
    d2 = math.sqrt(0.1 * d1 * d1 + 1e-6) / math.sqrt(0.19 + 1e-6)
    np.testing.assert_allclose(p1, [-d1], atol=1e-15)
    np.testing.assert_allclose(p2, [-d1 - d2], atol=1e-15)


# ---------------------------------------------------------------- the Optimizer API
ALL = [
    (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (optim.Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.01)),
    (optim.AdamW, dict(lr=0.01)),
    (optim.RMSprop, dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.01)),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.01, weight_decay=0.01)),
    (optim.Adamax, dict(lr=0.01, weight_decay=0.01)),
    (optim.NAdam, dict(lr=0.01, weight_decay=0.01, decoupled_weight_decay=True)),
    (optim.RAdam, dict(lr=0.01, weight_decay=0.01)),
    (optim.Adadelta, dict(lr=1.0, weight_decay=0.01)),
]
IDS = [c.__name__ for c, _ in ALL]


def _quadratic_step(opt, params):
    loss = sum(((p - 0.5) ** 2).sum() for p in params)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


@pytest.mark.parametrize("cls,kw", ALL, ids=IDS)
def test_float32_params_keep_float32_state_and_values(cls, kw, device):
    p = mg.randn(3, 4, requires_grad=True, device=device)
    opt = cls([p], **kw)
    for _ in range(3):
        _quadratic_step(opt, [p])
    assert p.dtype == np.float32 and p.device == mg.tensor(0.0, device=device).device
    for name, v in opt.state[p].items():
        if _B.is_array(v):
            assert v.dtype == np.float32, name
            assert _B.device_of(v) == p.device, name
        elif name == "mu_product":
            assert type(v) is float  # NAdam's running product of momentum factors: a host float
        else:
            assert isinstance(v, int), name  # step counts are host ints


@pytest.mark.parametrize("cls,kw", ALL, ids=IDS)
def test_training_decreases_a_quadratic(cls, kw):
    p = mg.tensor(np.full(4, 3.0), requires_grad=True)
    # Adadelta's first steps are ~sqrt(eps) long whatever the gradient: a larger eps starts it faster
    opt = cls([p], **(dict(kw, eps=1e-2) if cls is optim.Adadelta else dict(kw, lr=0.1)))
    first = _quadratic_step(opt, [p]).item()
    for _ in range(60):
        last = _quadratic_step(opt, [p]).item()
    assert last < 0.5 * first


@pytest.mark.parametrize("cls,kw", ALL, ids=IDS)
def test_no_host_round_trip_inside_step(cls, kw, monkeypatch):
    dense = mg.randn(3, 4, requires_grad=True)
    table = mg.randn(10, 2, requires_grad=True)
    sparse_ok = cls is optim.SGD or cls is optim.Adagrad
    params = [dense] + ([table] if sparse_ok else [])
    kw = dict(kw, weight_decay=0.0, momentum=0.0, nesterov=False) if cls is optim.SGD else kw
    kw = dict(kw, weight_decay=0.0) if cls is optim.Adagrad else kw
    opt = cls(params, **kw)
    loss = ((dense - 0.5) ** 2).sum()
    if sparse_ok:
        loss = loss + (mg.functional.embedding(mg.tensor([1, 4, 1]), table, sparse=True) ** 2).sum()
    loss.backward()
    assert not sparse_ok or table.grad.is_sparse

    def forbidden(*a, **k):
        raise AssertionError("host round trip inside optimizer.step()")

    for name in ("item", "numpy", "tolist", "__float__", "__int__", "__bool__", "__array__"):
        monkeypatch.setattr(Tensor, name, forbidden)
    for name in ("item", "numpy", "__array__"):
        monkeypatch.setattr(RowSparseGrad, name, forbidden)
    monkeypatch.setattr(_B, "to_device", forbidden)
    monkeypatch.setattr(_B, "as_array", forbidden)
    before = dense.data.copy()
    opt.step()
    opt.step()
    assert not np.array_equal(before, dense.data)


def test_params_without_grad_are_skipped_and_keep_their_version():
    a, b = param([1.0, 2.0]), param([3.0])
    opt = optim.Adam([a, b], lr=0.1)
    (a * a).sum().backward()
    va, vb = a._version, b._version
    opt.step()
    assert b.grad is None and b.numpy().tolist() == [3.0] and b not in opt.state and b._version == vb
    assert a._version == va + 1 and a in opt.state


def test_step_bumps_the_version_so_a_stale_graph_refuses_backward():
    p = param([1.0, 2.0])
    opt = optim.SGD([p], lr=0.1)
    loss = (p * p).sum()  # saves p for its backward
    (p * p).sum().backward()
    opt.step()
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_zero_grad_set_to_none_and_to_zero():
    p = param([1.0, 2.0])
    opt = optim.SGD([p], lr=0.1)
    (p * p).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert p.grad is not None and p.grad.numpy().tolist() == [0.0, 0.0]
    (3 * p).sum().backward()  # accumulates onto the zeros
    assert p.grad.numpy().tolist() == [3.0, 3.0]
    opt.zero_grad()
    assert p.grad is None


def test_closure_is_called_with_grad_enabled_and_its_loss_returned():
    p = param([2.0])
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with mg.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 4.0 and p.numpy().tolist() == [1.0]


def test_param_groups_structure_and_per_group_lr():
    a, b = param([1.0]), param([1.0])
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5, "name": "head"}], lr=0.1, momentum=0.0)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[1]["params"] == [b] and opt.param_groups[1]["name"] == "head"
    assert opt.param_groups[0]["momentum"] == 0.0 and opt.defaults["lr"] == 0.1
    a.grad, b.grad = mg.tensor([1.0], dtype="float64"), mg.tensor([1.0], dtype="float64")
    opt.step()
    assert a.numpy().tolist() == [0.9] and b.numpy().tolist() == [0.5]
    opt.zero_grad()
    c = param([0.0])
    opt.add_param_group({"params": [c], "lr": 1.0})
    c.grad = mg.tensor([2.0], dtype="float64")
    opt.step()
    assert c.numpy().tolist() == [-2.0]
    opt.param_groups[0]["lr"] = 0.0  # what schedulers do
    a.grad = mg.tensor([1.0], dtype="float64")
    opt.step()
    assert a.numpy().tolist() == [0.9]


def test_add_param_group_to_adagrad_initialises_its_state():
    a, b = param([1.0]), param([1.0])
    opt = optim.Adagrad([a], lr=0.1, initial_accumulator_value=0.5)
    assert opt.state[a]["sum"].tolist() == [0.5] and opt.state[a]["step"] == 0
    opt.add_param_group({"params": [b]})
    b.grad = mg.tensor([1.0], dtype="float64")
    opt.step()
    np.testing.assert_allclose(b.numpy(), [1 - 0.1 / (math.sqrt(1.5) + 1e-10)])


@pytest.mark.parametrize("make,exc,match", [
    (lambda p: optim.SGD(p, lr=-0.1), ValueError, "learning rate"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-1), ValueError, "momentum"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), ValueError, "Nesterov"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError, "Nesterov"),
    (lambda p: optim.SGD(p, lr="fast"), TypeError, "lr"),
    (lambda p: optim.Adam(p, betas=(0.9, 1.0)), ValueError, "beta parameter at index 1"),
    (lambda p: optim.Adam(p, betas=(-0.1, 0.9)), ValueError, "beta parameter at index 0"),
    (lambda p: optim.Adam(p, eps=-1.0), ValueError, "epsilon"),
    (lambda p: optim.AdamW(p, weight_decay=-1.0), ValueError, "weight_decay"),
    (lambda p: optim.RMSprop(p, alpha=-0.5), ValueError, "alpha"),
    (lambda p: optim.Adagrad(p, lr_decay=-1), ValueError, "Invalid lr_decay value"),
    (lambda p: optim.SparseAdam(p, lr=0.0), ValueError, "learning rate"),
    (lambda p: optim.NAdam(p, momentum_decay=-1.0), ValueError, "NAdam: Invalid momentum_decay"),
    (lambda p: optim.RAdam(p, betas=(0.9, 1.5)), ValueError, "RAdam: Invalid beta parameter at index 1"),
    (lambda p: optim.Adamax(p, lr=-1.0), ValueError, "Adamax: Invalid learning rate"),
    (lambda p: optim.Adadelta(p, rho=1.5), ValueError, "Adadelta: Invalid rho"),
    (lambda p: optim.Adadelta(p, eps=None), TypeError, "Adadelta: eps must be a Python number"),
    (lambda p: optim.SGD([{"params": p, "lr": -1.0}], lr=0.1), ValueError, "learning rate"),
])
def test_bad_hyperparameters_raise(make, exc, match):
    with pytest.raises(exc, match=match):
        make([param([1.0])])


def test_bad_params_raise():
    p = param([1.0])
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(TypeError, match="ordered"):
        optim.SGD({p}, lr=0.1)
    with pytest.raises(TypeError, match="floating point"):
        optim.SGD([mg.tensor([1, 2])], lr=0.1)
    opt = optim.SGD([p], lr=0.1)
    p.grad = mg.tensor([1.0, 2.0], dtype="float64")
    with pytest.raises(RuntimeError, match="shape"):
        opt.step()
    p.grad = mg.tensor([1.0], dtype="float32")
    with pytest.raises(RuntimeError, match="dtype"):
        opt.step()


@pytest.mark.parametrize("cls,kw", ALL, ids=IDS)
def test_state_dict_is_plain_data_and_round_trips(cls, kw):
    ps = [mg.randn(2, 3, requires_grad=True, dtype="float64"), mg.randn(4, requires_grad=True, dtype="float64")]
    opt = cls([{"params": [ps[0]], "lr": kw["lr"] / 2}, {"params": [ps[1]]}], **kw)
    for _ in range(3):
        _quadratic_step(opt, ps)
    sd = opt.state_dict()

    def plain(x):
        if isinstance(x, dict):
            return all(isinstance(k, (int, str)) and plain(v) for k, v in x.items())
        if isinstance(x, list):
            return all(plain(v) for v in x)
        return _B.is_array(x) or isinstance(x, (bool, int, float, str))

    assert plain(sd)
    assert sorted(sd["state"]) == [0, 1] and [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    # Reload into a fresh optimizer (string keys, as some savers write them) and continue identically.
    sd = copy.deepcopy(sd)
    sd["state"] = {str(k): v for k, v in sd["state"].items()}
    ps2 = [mg.tensor(p.data.copy(), requires_grad=True) for p in ps]
    opt2 = cls([{"params": [ps2[0]]}, {"params": [ps2[1]]}], lr=42.0)
    opt2.load_state_dict(sd)
    assert [g["lr"] for g in opt2.param_groups] == [kw["lr"] / 2, kw["lr"]]
    for _ in range(4):
        _quadratic_step(opt, ps)
        _quadratic_step(opt2, ps2)
    for a, b in zip(ps, ps2):
        np.testing.assert_array_equal(a.data, b.data)


def test_load_state_dict_copies_casts_and_checks():
    p64 = param([1.0, 2.0])
    opt = optim.Adam([p64], lr=0.1)
    _quadratic_step(opt, [p64])
    sd = opt.state_dict()
    p32 = mg.tensor([1.0, 2.0], requires_grad=True)
    opt32 = optim.Adam([p32], lr=0.1)
    opt32.load_state_dict(sd)
    assert opt32.state[p32]["exp_avg"].dtype == np.float32 and opt32.state[p32]["step"] == 1
    assert opt32.param_groups[0]["betas"] == (0.9, 0.999)  # lists become tuples again
    opt.load_state_dict(sd)
    assert opt.state[p64]["exp_avg"] is not sd["state"][0]["exp_avg"]  # copied, not shared
    with pytest.raises(ValueError, match="parameter groups"):
        optim.Adam([{"params": [param([1.0])]}, {"params": [param([1.0])]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="group 0"):
        optim.Adam([param([1.0]), param([1.0])]).load_state_dict(sd)
    with pytest.raises(ValueError, match="shape"):
        optim.Adam([param([1.0, 2.0, 3.0])]).load_state_dict(sd)
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})


def test_repr_lists_groups():
    text = repr(optim.SGD([param([1.0])], lr=0.1, momentum=0.9))
    assert text.startswith("SGD (") and "Parameter Group 0" in text and "momentum: 0.9" in text


def test_optimizer_works_with_a_module():
    model = mg.nn.Linear(3, 1, dtype="float64")
    opt = optim.SGD(model.parameters(), lr=0.1)
    x = mg.tensor(np.random.default_rng(0).standard_normal((8, 3)))
    y = x.sum(dim=1, keepdim=True)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
