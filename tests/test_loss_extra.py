"""ops/loss_extra.py, functional side: gaussian/poisson NLL, hinge-embedding, soft-margin, multi-label
and multi-class margin losses, triplet losses, pairwise_distance, pdist, threshold, hardshrink,
softshrink and rrelu.

Hypothesis properties (`check_op`: values against NumPy float64 references written from the
formulas, gradients against finite differences, float32 kept, no input mutation) over generated
shapes; torch parity in float64 (values and gradients); in-place forms; errors that name the op.
"""
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad.ops.loss_extra import Hardshrink, RReLU, Softshrink, Threshold
from minigrad.testing import gradcheck
from minigrad.testing import strategies as mst

from opcheck import check_op, draw_array

GRADIENT_TESTED = [Threshold, Hardshrink, Softshrink, RReLU]

REDUCTIONS = ["mean", "sum", "none"]


def reduce_ref(loss, reduction):
    return {"none": lambda: loss, "sum": loss.sum, "mean": loss.mean}[reduction]()


def softplus_ref(z):
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def logsigmoid_ref(z):
    return -softplus_ref(-z)


# ---------------------------------------------------------------- properties: regression-style losses
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("var_kind", ["full", "no_last", "one_dim"])
@given(data=st.data(), shape=mst.shapes(min_dims=1, max_dims=3, max_side=4))
def test_gaussian_nll_loss(device, reduction, var_kind, data, shape):
    x, t = draw_array(data, shape, device), draw_array(data, shape, device)
    vshape = {"full": shape, "no_last": shape[:-1], "one_dim": shape[:-1] + (1,)}[var_kind]
    v = draw_array(data, vshape, device, min_value=0.1, max_value=2.0)
    full = data.draw(st.booleans())

    def ref(x, t, v):
        v = v[..., None] if var_kind == "no_last" else v
        loss = 0.5 * (np.log(v) + (x - t) ** 2 / v) + (0.5 * math.log(2 * math.pi) if full else 0.0)
        return reduce_ref(loss, reduction)

    check_op(lambda x, t, v: F.gaussian_nll_loss(x, t, v, full=full, reduction=reduction), ref, [x, t, v], device)


@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [False, True])
@given(data=st.data(), shape=mst.shapes(min_dims=0, max_dims=3, max_side=4))
def test_poisson_nll_loss(device, log_input, full, data, shape):
    x = draw_array(data, shape, device, min_value=-2.0 if log_input else 0.1, max_value=2.0)
    t = draw_array(data, shape, device, min_value=0.0, max_value=4.0, avoid=[1.0])  # the Stirling term's switch

    def ref(x, t):
        loss = np.exp(x) - t * x if log_input else x - t * np.log(x + 1e-8)
        if full:
            safe = np.where(t > 1, t, 1.0)
            loss = loss + np.where(t > 1, safe * np.log(safe) - safe + 0.5 * np.log(2 * math.pi * safe), 0.0)
        return loss.mean()

    check_op(lambda x, t: F.poisson_nll_loss(x, t, log_input=log_input, full=full), ref, [x, t], device)


# ---------------------------------------------------------------- properties: margin losses
@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data(), shape=mst.shapes(min_dims=0, max_dims=3, max_side=4))
def test_hinge_embedding_loss(device, reduction, data, shape):
    x = draw_array(data, shape, device, avoid=[0.7])  # the hinge at margin - x = 0
    y = np.where(draw_array(data, shape) > 0, 1.0, -1.0)
    yt = mg.tensor(y, device=device)

    def ref(x):
        return reduce_ref(np.where(y == 1, x, np.maximum(0.7 - x, 0)), reduction)

    check_op(lambda x: F.hinge_embedding_loss(x, yt.to(dtype=x.dtype), margin=0.7, reduction=reduction), ref, [x],
             device)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data(), shapes=mst.broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4))
def test_soft_margin_loss_broadcasts(device, reduction, data, shapes):
    xs, ys = shapes
    x = draw_array(data, xs, device)
    y = draw_array(data, ys, device)
    yt = mg.tensor(y, device=device)
    check_op(lambda x: F.soft_margin_loss(x, yt.to(dtype=x.dtype), reduction=reduction),
             lambda x: reduce_ref(softplus_ref(-y * x), reduction), [x], device)


@pytest.mark.parametrize("weighted", [False, True])
@given(data=st.data(), shape=mst.shapes(min_dims=1, max_dims=3, max_side=4))
def test_multilabel_soft_margin_loss(device, weighted, data, shape):
    x = draw_array(data, shape, device)
    y = draw_array(data, shape, device, min_value=0.0, max_value=1.0)
    w = np.linspace(0.5, 2.0, shape[-1]) if weighted else None
    wt = None if w is None else mg.tensor(w, device=device)

    def ref(x, y):
        loss = -(y * logsigmoid_ref(x) + (1 - y) * logsigmoid_ref(-x)) * (1.0 if w is None else w)
        return (loss.sum(-1) / shape[-1]).mean()

    check_op(lambda x, y: F.multilabel_soft_margin_loss(x, y, weight=None if wt is None else wt.to(dtype=x.dtype)),
             ref, [x, y], device)


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data(), n=st.integers(1, 4), C=st.integers(1, 5), weighted=st.booleans())
def test_multi_margin_loss(device, p, reduction, data, n, C, weighted):
    x = draw_array(data, (n, C), device)
    t = data.draw(mst.tensors(shape=(n,), dtype="int64", min_value=0, max_value=C - 1)).numpy()
    z = 0.9 - x[np.arange(n), t][:, None] + x
    assume(np.all(np.abs(z) > 1e-3))  # away from the hinge, where finite differences straddle the kink
    w = np.linspace(0.5, 2.0, C) if weighted else None
    tt = mg.tensor(t, device=device)
    wt = None if w is None else mg.tensor(w, device=device)

    def ref(x):
        z = np.maximum(0.9 - x[np.arange(n), t][:, None] + x, 0) ** p
        if w is not None:
            z = z * w[t][:, None]
        z[np.arange(n), t] = 0
        return reduce_ref(z.sum(1) / C, reduction)

    check_op(lambda x: F.multi_margin_loss(x, tt, p=p, margin=0.9, reduction=reduction,
                                           weight=None if wt is None else wt.to(dtype=x.dtype)), ref, [x], device)


@given(data=st.data(), n=st.integers(1, 3), C=st.integers(1, 5))
def test_multilabel_margin_loss(device, data, n, C):
    x = draw_array(data, (n, C), device)
    target = np.full((n, C), -1)
    for r in range(n):  # a few listed classes (repeats allowed), then -1, then junk the loss must ignore
        k = data.draw(st.integers(0, C))
        target[r, :k] = data.draw(st.lists(st.integers(0, C - 1), min_size=k, max_size=k))
        if k < C - 1:
            target[r, k + 1:] = data.draw(st.integers(0, C - 1))
    diffs = 1 - x[:, :, None] + x[:, None, :]
    assume(np.all(np.abs(diffs) > 1e-3))
    tt = mg.tensor(target, device=device)

    def ref(x):
        out = np.zeros(n)
        for r in range(n):
            listed = []
            for v in target[r]:
                if v == -1:
                    break
                listed.append(v)
            for j in listed:
                for i in range(C):
                    if i not in listed:
                        out[r] += max(0.0, 1 - (x[r, j] - x[r, i]))
        return out / C

    check_op(lambda x: F.multilabel_margin_loss(x, tt, reduction="none"), ref, [x], device)


# ---------------------------------------------------------------- properties: distances and triplets
def pnorm_ref(d, p, axis=-1):
    if p == math.inf:
        return np.abs(d).max(axis)
    return (np.abs(d) ** p).sum(axis) ** (1 / p)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, math.inf])
@given(data=st.data(), shapes=mst.broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3, max_side=4),
       keepdim=st.booleans())
def test_pairwise_distance(device, p, data, shapes, keepdim):
    a, b = draw_array(data, shapes[0], device), draw_array(data, shapes[1], device)
    d = a - b + 1e-6
    assume(np.all(np.abs(d) > 1e-3))  # |d| has a kink at 0
    if p == math.inf:  # no ties for the max
        s = np.sort(np.abs(np.broadcast_to(d, np.broadcast_shapes(a.shape, b.shape))), axis=-1)
        assume(s.shape[-1] < 2 or np.all(s[..., -1] - s[..., -2] > 1e-3))

    def ref(a, b):
        out = pnorm_ref(a - b + 1e-6, p)
        return out[..., None] if keepdim else out

    check_op(lambda a, b: F.pairwise_distance(a, b, p=p, keepdim=keepdim), ref, [a, b], device)


@pytest.mark.parametrize("p", [1.5, 2.0])
@given(data=st.data(), n=st.integers(0, 4), m=st.integers(1, 4))
def test_pdist(device, p, data, n, m):
    x = draw_array(data, (n, m), device, unique=True)
    if n >= 2:
        i, j = np.triu_indices(n, 1)
        assume(np.all(np.abs(x[i] - x[j]) > 1e-3))
    else:
        i = j = np.zeros(0, dtype=np.int64)

    def ref(x):
        return pnorm_ref(x[i] - x[j], p).reshape(-1)

    if n < 2:  # no pairs: an empty result, no gradient to check
        out = F.pdist(mg.tensor(x, device=device), p=p)
        assert out.shape == (0,) and out.dtype == np.float64
        return
    check_op(lambda x: F.pdist(x, p=p), ref, [x], device)


@pytest.mark.parametrize("swap", [False, True])
@given(data=st.data(), n=st.integers(1, 4), d=st.integers(1, 4))
def test_triplet_margin_loss(device, swap, data, n, d):
    a, pos, neg = (draw_array(data, (n, d), device) for _ in range(3))

    def dist(u, v):
        return pnorm_ref(u - v + 1e-6, 2)

    for u, v in ((a, pos), (a, neg), (pos, neg)):  # |u - v + eps| has a kink at 0 (on the scale of eps)
        assume(np.all(np.abs(u - v + 1e-6) > 1e-3))
    dn = np.minimum(dist(a, neg), dist(pos, neg)) if swap else dist(a, neg)
    assume(np.all(np.abs(1.0 + dist(a, pos) - dn) > 1e-3))
    if swap:
        assume(np.all(np.abs(dist(a, neg) - dist(pos, neg)) > 1e-3))

    def ref(a, pos, neg):
        dn = np.minimum(dist(a, neg), dist(pos, neg)) if swap else dist(a, neg)
        return np.maximum(1.0 + dist(a, pos) - dn, 0).mean()

    check_op(lambda a, p, n: F.triplet_margin_loss(a, p, n, swap=swap), ref, [a, pos, neg], device)


# ---------------------------------------------------------------- properties: activations
@given(data=st.data(), shape=mst.shapes(max_dims=3, max_side=4))
def test_threshold(device, data, shape):
    x = draw_array(data, shape, device, avoid=[0.2])
    check_op(lambda x: F.threshold(x, 0.2, -1.5), lambda x: np.where(x > 0.2, x, -1.5), [x], device)


@given(data=st.data(), shape=mst.shapes(max_dims=3, max_side=4))
def test_hardshrink_softshrink(device, data, shape):
    x = draw_array(data, shape, device, avoid=[-0.6, 0.6])
    check_op(lambda x: F.hardshrink(x, 0.6), lambda x: np.where(np.abs(x) > 0.6, x, 0.0), [x], device)
    check_op(lambda x: F.softshrink(x, 0.6), lambda x: np.where(np.abs(x) > 0.6, x - 0.6 * np.sign(x), 0.0), [x],
             device)


@given(data=st.data(), shape=mst.shapes(max_dims=3, max_side=4))
def test_rrelu_training_gradient(device, data, shape):
    """Random slopes: the draw is re-seeded inside fn, so finite differences see the same slopes."""
    x = data.draw(mst.tensors(shape=shape, dtype="float64", device=device, avoid=[0.0]))

    def fn(x):
        mg.manual_seed(7)
        return F.rrelu(x, 0.1, 0.4, training=True)

    gradcheck(fn, x.requires_grad_())
    y = fn(x).numpy()
    xs = x.detach().numpy()
    slope = y[xs < 0] / xs[xs < 0]
    assert np.all((slope >= 0.1) & (slope <= 0.4))
    np.testing.assert_array_equal(y[xs > 0], xs[xs > 0])


def test_rrelu_training_is_seeded_and_per_element():
    x = -mg.ones(2000)
    mg.manual_seed(3)
    a = F.rrelu(x, training=True).numpy()
    mg.manual_seed(3)
    b = F.rrelu(x, training=True).numpy()
    np.testing.assert_array_equal(a, b)
    s = -a
    assert s.min() >= 1 / 8 and s.max() <= 1 / 3 and len(np.unique(s)) > 1000
    assert abs(s.mean() - (1 / 8 + 1 / 3) / 2) < 0.01  # the mean of U(lower, upper)
    assert F.rrelu(mg.ones(3, dtype=mg.float32), training=True).dtype == np.float32


def test_rrelu_eval_is_leaky_relu_with_mean_slope():
    x = mg.tensor([-2.0, -0.5, 0.0, 1.5])
    np.testing.assert_allclose(F.rrelu(x, 0.1, 0.3).numpy(), F.leaky_relu(x, 0.2).numpy())


# ---------------------------------------------------------------- in-place forms
@pytest.mark.parametrize("call", [
    lambda t: F.threshold(t, 0.0, 2.0, inplace=True),
    lambda t: F.threshold_(t, 0.0, 2.0),
    lambda t: F.rrelu(t, inplace=True),
    lambda t: F.rrelu_(t, training=False),
])
def test_inplace_forms_write_and_train(call):
    x = mg.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    h = x * 1.0
    out = call(h)
    assert out is h
    out.sum().backward()
    assert x.grad is not None and x.grad.shape == (3,)
    assert x.grad.numpy()[2] == 1.0
    with pytest.raises(RuntimeError):
        call(mg.tensor([1.0, -1.0], requires_grad=True))  # a leaf that requires grad cannot be overwritten


def test_threshold_integer_stays_integer():
    y = F.threshold(mg.tensor([1, 2, 3]), 1.5, 0.7)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y.numpy(), [0, 2, 3])


# ---------------------------------------------------------------- torch parity (float64, values and gradients)
torch = pytest.importorskip("torch")
TF = torch.nn.functional
rng = np.random.default_rng(0)
X = rng.standard_normal((3, 4))
T = rng.standard_normal((3, 4))
V = rng.random((3, 4)) + 0.05
W4 = rng.random(4) + 0.2
SIGNS = np.array([[1.0, -1, 1, -1], [1, 1, -1, -1], [-1, 1, 0.5, 2]])  # 0.5, 2: torch's formula applies both terms
A3 = [rng.standard_normal((5, 3)) for _ in range(3)]
IDX = np.array([0, 3, 1])
ML_T = np.array([[0, 1, -1, 2], [3, -1, 0, 0], [-1, 0, 0, 0]])


def cos_dist(f):
    return lambda u, v: 1 - f.cosine_similarity(u, v)


PARITY = {
    "gaussian_full": (lambda f, x, t, v: f.gaussian_nll_loss(x, t, v, full=True), [X, T, V]),
    "gaussian_clamped": (lambda f, x, t, v: f.gaussian_nll_loss(x, t, v, eps=0.3, reduction="none"), [X, T, V]),
    "gaussian_var_no_last": (lambda f, x, t, v: f.gaussian_nll_loss(x, t, v), [X, T, V[:, 0].copy()]),
    "gaussian_var_one_dim": (lambda f, x, t, v: f.gaussian_nll_loss(x, t, v, reduction="sum"), [X, T, V[:1].copy()]),
    "gaussian_float_var": (lambda f, x, t: f.gaussian_nll_loss(x, t, 0.5), [X, T]),
    "poisson_log": (lambda f, x, t: f.poisson_nll_loss(x, t, full=True, reduction="none"), [X, V * 3]),
    "poisson_rate": (lambda f, x, t: f.poisson_nll_loss(x, t, log_input=False, full=True), [V, V * 3]),
    "hinge": (lambda f, x, y: f.hinge_embedding_loss(x, y, margin=0.7, reduction="none"), [X, SIGNS]),
    "soft_margin": (lambda f, x: f.soft_margin_loss(x, f.tensor_(SIGNS[0])), [X]),
    "multilabel_soft_margin": (lambda f, x, y: f.multilabel_soft_margin_loss(x, y, weight=f.tensor_(W4)),
                               [X, rng.random((3, 4))]),
    "multi_margin_p1": (lambda f, x: f.multi_margin_loss(x, f.tensor_(IDX), margin=0.8, weight=f.tensor_(W4),
                                                         reduction="none"), [X]),
    "multi_margin_p2": (lambda f, x: f.multi_margin_loss(x, f.tensor_(IDX), p=2, reduction="sum"), [X]),
    "multi_margin_1d": (lambda f, x: f.multi_margin_loss(x, f.tensor_(np.array(2))), [X[0].copy()]),
    "multilabel_margin": (lambda f, x: f.multilabel_margin_loss(x, f.tensor_(ML_T), reduction="none"), [X]),
    "multilabel_margin_1d": (lambda f, x: f.multilabel_margin_loss(x, f.tensor_(np.array([2, 2, 0, -1]))),
                             [X[0].copy()]),
    "pairwise_p2_bcast": (lambda f, a, b: f.pairwise_distance(a, b), [X, T[0].copy()]),
    "pairwise_p1_keepdim": (lambda f, a, b: f.pairwise_distance(a, b, p=1, keepdim=True), [X, T]),
    "pairwise_p0.5": (lambda f, a, b: f.pairwise_distance(a, b, p=0.5, eps=1e-3), [X, T]),
    "pairwise_inf": (lambda f, a, b: f.pairwise_distance(a, b, p=math.inf), [X, T]),
    "pairwise_0d": (lambda f, a, b: f.pairwise_distance(a, b, keepdim=True), [np.array(1.0), np.array(2.5)]),
    "pdist_p2": (lambda f, x: f.pdist(x), [X]),
    "pdist_p3": (lambda f, x: f.pdist(x, p=3), [X]),
    "pdist_inf": (lambda f, x: f.pdist(x, p=math.inf), [X]),
    "triplet": (lambda f, a, p, n: f.triplet_margin_loss(a, p, n, margin=2.0, p=1.5), A3),
    "triplet_swap": (lambda f, a, p, n: f.triplet_margin_loss(a, p, n, margin=2.0, swap=True, reduction="none"), A3),
    "triplet_distance_fn": (lambda f, a, p, n: f.triplet_margin_with_distance_loss(
        a, p, n, distance_function=cos_dist(f), swap=True, margin=0.5), A3),
    "triplet_distance_default": (lambda f, a, p, n: f.triplet_margin_with_distance_loss(a, p, n), A3),
    "threshold": (lambda f, x: f.threshold(x, 0.1, -3.0), [X]),
    "hardshrink": (lambda f, x: f.hardshrink(x, 0.6), [X]),
    "softshrink": (lambda f, x: f.softshrink(x), [X]),
    "rrelu_eval": (lambda f, x: f.rrelu(x, 0.1, 0.3), [X]),
}


class _Torch:
    """torch.nn.functional plus a tensor_ maker, so one lambda serves both libraries."""

    def __getattr__(self, name):
        return getattr(TF, name)

    @staticmethod
    def tensor_(a):
        return torch.tensor(a)


class _Minigrad:
    def __getattr__(self, name):
        return getattr(F, name)

    @staticmethod
    def tensor_(a):
        return mg.tensor(a)


@pytest.mark.parametrize("name", sorted(PARITY))
def test_torch_parity(name):
    fn, arrays = PARITY[name]
    ours = [mg.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    y, ty = fn(_Minigrad(), *ours), fn(_Torch(), *theirs)
    assert y.shape == tuple(ty.shape) and y.dtype == np.float64
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    v = np.random.default_rng(1).standard_normal(y.shape)
    (y * mg.tensor(v)).sum().backward()
    (ty * torch.tensor(v)).sum().backward()
    for k, (a, b) in enumerate(zip(ours, theirs)):
        ga = np.zeros(a.shape) if a.grad is None else a.grad.numpy()
        gb = np.zeros(tuple(b.shape)) if b.grad is None else b.grad.numpy()
        np.testing.assert_allclose(ga, gb, rtol=1e-9, atol=1e-12, err_msg=f"{name}: gradient of input {k}")


def test_float32_stays_float32():
    x = mg.tensor(X.astype(np.float32), requires_grad=True)
    for y in [F.gaussian_nll_loss(x, x.detach() + 1, 0.5), F.poisson_nll_loss(x, x.detach()),
              F.soft_margin_loss(x, SIGNS[0].tolist()), F.pairwise_distance(x, x.detach() + 1), F.pdist(x),
              F.multi_margin_loss(x, mg.tensor(IDX)), F.multilabel_margin_loss(x, mg.tensor(ML_T)),
              F.hinge_embedding_loss(x, mg.tensor([1, -1, 1, 1])), F.softshrink(x), F.threshold(x, 0.0, 1.0)]:
        assert y.dtype == np.float32
        y.sum().backward()
        assert x.grad.dtype == np.float32


# ---------------------------------------------------------------- errors name the op
def _t(*shape):
    return mg.randn(*shape)


ERRORS = [
    (lambda: F.gaussian_nll_loss(_t(3, 4), _t(3, 4), -1.0), ValueError, "gaussian_nll_loss: var has negative"),
    (lambda: F.gaussian_nll_loss(_t(3, 4), _t(3, 4), mg.full((3, 4), -0.1)), ValueError, "gaussian_nll_loss.*negative"),
    (lambda: F.gaussian_nll_loss(_t(3, 4), _t(3, 4), mg.ones(4)), ValueError,
     "gaussian_nll_loss: var .*incorrect size"),
    (lambda: F.gaussian_nll_loss(_t(3, 4), _t(2, 4), mg.ones(3, 4)), ValueError, "gaussian_nll_loss.*broadcast"),
    (lambda: F.gaussian_nll_loss(_t(3), _t(3), mg.ones(3), reduction="avg"), ValueError,
     "gaussian_nll_loss: reduction"),
    (lambda: F.poisson_nll_loss(mg.tensor([1, 2]), _t(2)), TypeError, "poisson_nll_loss.*floating"),
    (lambda: F.hinge_embedding_loss(_t(3), _t(2)), ValueError, "hinge_embedding_loss.*broadcast"),
    (lambda: F.soft_margin_loss(_t(3), mg.ones(3, requires_grad=True)), RuntimeError,
     "soft_margin_loss: target .*requires grad"),
    (lambda: F.multilabel_soft_margin_loss(_t(2, 3), _t(2, 3), weight=mg.ones(2)), ValueError,
     "multilabel_soft_margin_loss.*broadcast"),
    (lambda: F.multi_margin_loss(_t(2, 3), mg.tensor([0, 3])), IndexError, "multi_margin_loss: target value out"),
    (lambda: F.multi_margin_loss(_t(2, 3), mg.tensor([0, 1]), p=3), ValueError, "multi_margin_loss: only p == 1"),
    (lambda: F.multi_margin_loss(_t(2, 3, 4), mg.tensor([0, 1])), ValueError,
     "multi_margin_loss: expected a non-empty"),
    (lambda: F.multi_margin_loss(_t(2, 3), mg.tensor([0.0, 1.0])), TypeError, "multi_margin_loss: target must hold"),
    (lambda: F.multi_margin_loss(_t(2, 3), mg.tensor([0, 1, 2])), ValueError,
     "multi_margin_loss: target .*does not fit"),
    (lambda: F.multi_margin_loss(_t(2, 3), mg.tensor([0, 1]), weight=mg.ones(2)), ValueError,
     "multi_margin_loss: weight must be 1-D"),
    (lambda: F.multilabel_margin_loss(_t(2, 4), mg.tensor([[1, -1, 0, 0], [5, 0, 0, 0]])), IndexError,
     "multilabel_margin_loss: target value out"),
    (lambda: F.multilabel_margin_loss(_t(2, 4), mg.tensor([1, -1, 0, 0])), ValueError,
     "multilabel_margin_loss: target .*must have input's shape"),
    (lambda: F.pairwise_distance(_t(3, 4), _t(3, 5)), ValueError, "pairwise_distance: x1 .*broadcast"),
    (lambda: F.pairwise_distance(_t(3), _t(3), p=-1), ValueError, "pairwise_distance: p must be >= 0"),
    (lambda: F.pdist(_t(4)), ValueError, "pdist: only supports 2-D"),
    (lambda: F.pdist(_t(3, 2), p=-1), ValueError, "pdist: p must be >= 0"),
    (lambda: F.triplet_margin_loss(_t(3, 4), _t(3, 4), _t(4)), ValueError, "triplet_margin_loss: anchor, positive"),
    (lambda: F.triplet_margin_loss(_t(3, 4), _t(3, 4), _t(3, 4), margin=0), ValueError,
     "triplet_margin_loss: margin must be greater than 0"),
    (lambda: F.triplet_margin_with_distance_loss(_t(3), _t(3), _t(3), margin=-1.0), ValueError,
     "triplet_margin_with_distance_loss: margin"),
    (lambda: F.triplet_margin_with_distance_loss(_t(3), _t(3), _t(3), distance_function=3), TypeError,
     "triplet_margin_with_distance_loss: distance_function"),
    (lambda: F.threshold(mg.tensor([True]), 0.0, 1.0), TypeError, "threshold: bool"),
    (lambda: F.threshold(_t(3), "a", 1.0), TypeError, "threshold: threshold must be a number"),
    (lambda: F.hardshrink(mg.tensor([1, 2]), 0.5), TypeError, "hardshrink.*floating"),
    (lambda: F.softshrink(_t(3), -1.0), ValueError, "softshrink: lambd must be >= 0"),
    (lambda: F.softshrink(mg.tensor([1, 2])), TypeError, "softshrink.*floating"),
    (lambda: F.rrelu(_t(3), 0.5, 0.2), ValueError, "rrelu: lower bound"),
    (lambda: F.rrelu(mg.tensor([1, 2]), training=True), TypeError, "rrelu.*floating"),
]


@pytest.mark.parametrize("k", range(len(ERRORS)))
def test_errors(k):
    call, exc, match = ERRORS[k]
    with pytest.raises(exc, match=match):
        call()
