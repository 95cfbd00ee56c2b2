"""The losses beyond the basic four: class weights and probability targets for cross_entropy /
nll_loss, weight and pos_weight for binary_cross_entropy_with_logits, and binary_cross_entropy,
l1_loss, smooth_l1_loss, huber_loss, kl_div, cosine_similarity, normalize, margin_ranking_loss,
cosine_embedding_loss, with their nn modules.

Hypothesis properties (`check_op`: values against NumPy float64 references written from the
formulas, float32 kept, gradients against finite differences) over generated shapes and
reductions; torch parity (float32 and float64, values and gradients, weights, ignore_index,
kinks); errors that name the op.
"""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad import nn
from minigrad.ops.nn import BCEWithLogits, BinaryCrossEntropy, CrossEntropy, NLLLoss
from minigrad.testing import strategies as mst

from opcheck import canonical, check_op, draw_array

GRADIENT_TESTED = [CrossEntropy, NLLLoss, BCEWithLogits, BinaryCrossEntropy]

REDUCTIONS = ["mean", "sum", "none"]


def reduce_ref(loss, reduction, count=None):
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if count is None:
        return loss.mean()
    return loss.sum() / count if count else loss.sum()


def np_log_softmax(x):
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


@st.composite
def class_problem(draw, ignore_index=-100):
    lead = draw(mst.shapes(max_dims=2, max_side=4))
    C = draw(st.integers(1, 5))
    raw = draw(mst.tensors(shape=lead, dtype="int64", min_value=-1, max_value=C - 1)).numpy()
    target = np.where(raw < 0, ignore_index, raw)
    weight = draw(mst.tensors(shape=(C,), dtype="float32", min_value=0.1, max_value=3.0)).numpy().astype(np.float64)
    return lead + (C,), target, weight


def weighted_ce_ref(x, t, w, reduction, e=0.0, ignore_index=-100):
    """-sum_c q_c log p_c with q = (1 - e) w_t onehot(t) + e w / C; mean divides by sum of w_t."""
    C = x.shape[-1]
    logp = np_log_softmax(x)
    valid = t != ignore_index
    q = np.zeros_like(logp)
    for pos in np.ndindex(t.shape):
        if valid[pos]:
            q[pos] = e * w / C
            q[pos + (t[pos],)] += (1 - e) * w[t[pos]]
    loss = -(q * logp).sum(-1)
    return reduce_ref(loss, reduction, w[np.where(valid, t, 0)][valid].sum())


# ---------------------------------------------------------------- properties: classification
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
@given(data=st.data(), prob=class_problem())
def test_cross_entropy_with_weight(device, reduction, label_smoothing, data, prob):
    shape, target, w = prob
    a = draw_array(data, shape, device)
    t, wt = mg.tensor(target, device=device), mg.tensor(w, device=device)
    check_op(lambda x: F.cross_entropy(x, t, weight=wt.to(dtype=x.dtype), reduction=reduction,
                                       label_smoothing=label_smoothing),
             lambda a: weighted_ce_ref(a, target, w, reduction, label_smoothing), [a], device)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data(), prob=class_problem(ignore_index=1))
def test_nll_loss_with_weight(device, reduction, data, prob):
    shape, target, w = prob
    a = draw_array(data, shape, device)
    t, wt = mg.tensor(target, device=device), mg.tensor(w, device=device)

    def ref(a):
        valid = target != 1
        safe = np.where(valid, target, 0)
        loss = -np.take_along_axis(a, safe[..., None], -1)[..., 0] * w[safe] * valid
        return reduce_ref(loss, reduction, (w[safe] * valid).sum())

    check_op(lambda x: F.nll_loss(x, t, weight=wt.to(dtype=x.dtype), ignore_index=1, reduction=reduction), ref, [a],
             device)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
@given(data=st.data(), shape=mst.shapes(min_dims=1, max_dims=3, max_side=4))
def test_cross_entropy_probability_targets(device, reduction, label_smoothing, weighted, data, shape):
    """Both logits and target probabilities get gradients (the target need not be normalised)."""
    a = draw_array(data, shape, device)
    p = draw_array(data, shape, device, min_value=0.0, max_value=1.0)
    C = shape[-1]
    w = np.linspace(0.5, 2.0, C) if weighted else None
    wt = None if w is None else mg.tensor(w, device=device)

    def ref(a, p):
        q = (1 - label_smoothing) * p + label_smoothing / C
        loss = -(q * np_log_softmax(a) * (1.0 if w is None else w)).sum(-1)
        return reduce_ref(loss, reduction, loss.size)

    check_op(lambda x, y: F.cross_entropy(x, y, weight=None if wt is None else wt.to(dtype=x.dtype),
                                          reduction=reduction, label_smoothing=label_smoothing), ref, [a, p], device)


# ---------------------------------------------------------------- properties: binary
@st.composite
def shape_and_weight_shape(draw):
    shape = draw(mst.shapes(max_dims=3, max_side=4))
    k = draw(st.integers(0, len(shape)))  # a suffix of the shape, some sides set to 1: broadcasts without growing
    suffix = shape[len(shape) - k:]
    return shape, tuple(s if draw(st.booleans()) else 1 for s in suffix)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data(), shapes=shape_and_weight_shape(), use_w=st.booleans(), use_pw=st.booleans())
def test_bce_with_logits_weight_and_pos_weight(device, reduction, data, shapes, use_w, use_pw):
    shape, wshape = shapes
    x = draw_array(data, shape, device, min_value=-6.0, max_value=6.0)
    y = draw_array(data, shape, device, min_value=0.0, max_value=1.0)
    w = draw_array(data, wshape, device, min_value=0.1, max_value=2.0) if use_w else None
    pw = draw_array(data, wshape[::-1] if len(set(wshape)) <= 1 else wshape, device, min_value=0.1,
                    max_value=3.0) if use_pw else None

    def ref(x, y):
        s = 1 / (1 + np.exp(-x))
        loss = -((1.0 if pw is None else pw) * y * np.log(s) + (1 - y) * np.log(1 - s)) * (1.0 if w is None else w)
        return reduce_ref(loss, reduction)

    def fn(a, b):
        c = lambda v: None if v is None else mg.tensor(v, dtype=a.dtype, device=device)  # noqa: E731
        return F.binary_cross_entropy_with_logits(a, b, weight=c(w), pos_weight=c(pw), reduction=reduction)

    check_op(fn, ref, [x, y], device)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data(), shapes=shape_and_weight_shape(), use_w=st.booleans())
def test_binary_cross_entropy(device, reduction, data, shapes, use_w):
    shape, wshape = shapes
    x = draw_array(data, shape, device, min_value=0.05, max_value=0.95)
    y = draw_array(data, shape, device, min_value=0.0, max_value=1.0)
    w = draw_array(data, wshape, device, min_value=0.1, max_value=2.0) if use_w else None

    def ref(x, y):
        return reduce_ref(-(y * np.log(x) + (1 - y) * np.log(1 - x)) * (1.0 if w is None else w), reduction)

    def fn(a, b):
        return F.binary_cross_entropy(a, b, weight=None if w is None else mg.tensor(w, dtype=a.dtype, device=device),
                                      reduction=reduction)

    check_op(fn, ref, [x, y], device)


# ---------------------------------------------------------------- properties: regression
def draw_pair(data, shape, device, avoid):
    """(input, target) whose difference stays away from the kinks in `avoid` (finite differences
    must not straddle one); built as target + d with d drawn away from them."""
    y = draw_array(data, shape, device)
    d = draw_array(data, shape, device, avoid=avoid, avoid_margin=0.05)
    x = (y + d).astype(np.float32).astype(np.float64)
    assume(all(np.abs((x - y) - k).min(initial=1.0) > 0.01 for k in avoid))
    return x, y


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data(), shape=mst.shapes(max_dims=3, max_side=4))
def test_l1_loss(device, reduction, data, shape):
    x, y = draw_pair(data, shape, device, [0.0])
    check_op(lambda a, b: F.l1_loss(a, b, reduction=reduction), lambda a, b: reduce_ref(np.abs(a - b), reduction),
             [x, y], device)


def smooth_l1_ref(d, beta):
    a = np.abs(d)
    return np.where(a < beta, 0.5 * d * d / beta, a - 0.5 * beta)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("beta", [1.0, 0.5])
@given(data=st.data(), shape=mst.shapes(max_dims=3, max_side=4))
def test_smooth_l1_and_huber(device, reduction, beta, data, shape):
    x, y = draw_pair(data, shape, device, [-beta, beta])
    check_op(lambda a, b: F.smooth_l1_loss(a, b, reduction=reduction, beta=beta),
             lambda a, b: reduce_ref(smooth_l1_ref(a - b, beta), reduction), [x, y], device)
    check_op(lambda a, b: F.huber_loss(a, b, reduction=reduction, delta=beta),
             lambda a, b: reduce_ref(beta * smooth_l1_ref(a - b, beta), reduction), [x, y], device)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
@given(data=st.data(), shapes=mst.broadcastable_shapes(2, min_dims=1, max_dims=3, max_side=4))
def test_kl_div(device, reduction, log_target, data, shapes):
    sx, st_ = shapes
    x = draw_array(data, sx, device)
    t = draw_array(data, st_, device, min_value=-2.0 if log_target else 0.05, max_value=1.0)

    def ref(x, t):
        loss = np.exp(t) * (t - x) if log_target else t * (np.log(t) - x)
        if reduction == "batchmean":
            return loss.sum() / x.shape[0]
        return reduce_ref(loss, reduction)

    check_op(lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target), ref, [x, t], device)


# ---------------------------------------------------------------- properties: similarities
@st.composite
def broadcast_and_dim(draw):
    s1, s2 = draw(mst.broadcastable_shapes(2, min_dims=1, max_dims=3, max_side=4))
    nd = max(len(s1), len(s2))
    return s1, s2, draw(st.integers(-nd, nd - 1))


@given(data=st.data(), sd=broadcast_and_dim())
def test_cosine_similarity(device, data, sd):
    s1, s2, dim = sd
    a = draw_array(data, s1, device, min_value=0.2, max_value=3.0) * data.draw(st.sampled_from([1.0, -1.0]))
    b = draw_array(data, s2, device, avoid=[0.0], avoid_margin=0.2)

    def ref(a, b):
        a, b = np.broadcast_arrays(a, b)
        return (a * b).sum(dim) / (np.linalg.norm(a, axis=dim) * np.linalg.norm(b, axis=dim))

    check_op(lambda x, y: F.cosine_similarity(x, y, dim=dim), ref, [a, b], device)
    check_op(lambda x, y: nn.CosineSimilarity(dim=dim)(x, y), ref, [a, b], device)


@pytest.mark.parametrize("p", [2.0, 1.0, float("inf")])
@given(data=st.data(), shape=mst.shapes(min_dims=1, max_dims=3, max_side=4))
def test_normalize(device, p, data, shape):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    a = draw_array(data, shape, device, avoid=[0.0], avoid_margin=0.1, unique=p == float("inf"))
    if p == float("inf"):  # |x| ties are kinks of the max: keep magnitudes distinct too
        assume(len(np.unique(np.abs(a))) == a.size)

    def ref_any(a):
        n = (np.abs(a) ** p).sum(dim, keepdims=True) ** (1 / p) if p != float("inf") else np.abs(a).max(
            dim, keepdims=True)
        return a / n

    check_op(lambda x: F.normalize(x, p=p, dim=dim), ref_any, [a], device)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.5])
@given(data=st.data(), shape=mst.shapes(max_dims=2, max_side=4))
def test_margin_ranking_loss(device, reduction, margin, data, shape):
    y = np.where(draw_array(data, shape, device) >= 0, 1.0, -1.0)
    x2 = draw_array(data, shape, device)
    x1, _ = draw_pair(data, shape, device, [-margin, margin])  # x1 - x2 must avoid margin / y
    x1 = (x1 - _ + x2).astype(np.float32).astype(np.float64)
    assume(np.abs(-y * (x1 - x2) + margin).min(initial=1.0) > 0.01)
    t = mg.tensor(y, device=device)
    check_op(lambda a, b: F.margin_ranking_loss(a, b, t.to(dtype=a.dtype), margin=margin, reduction=reduction),
             lambda a, b: reduce_ref(np.maximum(0.0, -y * (a - b) + margin), reduction), [x1, x2], device)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, -0.3])
@given(data=st.data(), n=st.integers(0, 4), d=st.integers(1, 4))
def test_cosine_embedding_loss(device, reduction, margin, data, n, d):
    batched = data.draw(st.booleans())
    shape = (n, d) if batched else (d,)
    a, b = draw_array(data, shape, device), draw_array(data, shape, device)
    y = np.array(data.draw(st.lists(st.sampled_from([1, -1, 0]), min_size=n, max_size=n)) if batched
                 else data.draw(st.sampled_from([1, -1])))

    def ref(a, b):
        cos = (a * b).sum(-1) / np.sqrt(((a * a).sum(-1) + 1e-12) * ((b * b).sum(-1) + 1e-12))
        loss = np.where(y == 1, 1 - cos, 0.0) + np.where(y == -1, np.maximum(cos - margin, 0.0), 0.0)
        return reduce_ref(loss, reduction)

    cos = (a * b).sum(-1) / np.sqrt(((a * a).sum(-1) + 1e-12) * ((b * b).sum(-1) + 1e-12))
    assume(np.abs(cos - margin).min(initial=1.0) > 1e-2)  # the hinge of the y = -1 terms is a kink
    assume(np.sqrt((a * a).sum(-1)).min(initial=1.0) > 0.1 and np.sqrt((b * b).sum(-1)).min(initial=1.0) > 0.1)
    if reduction == "mean" and batched and n == 0:
        with pytest.raises(ValueError, match="cosine_embedding_loss: reduction='mean' of an empty input"):
            F.cosine_embedding_loss(mg.tensor(a, device=device), mg.tensor(b, device=device),
                                    mg.tensor(y, device=device), margin=margin)
        return
    t = mg.tensor(y, device=device)
    check_op(lambda x1, x2: F.cosine_embedding_loss(x1, x2, t, margin=margin, reduction=reduction), ref, [a, b],
             device)


# ---------------------------------------------------------------- torch parity
torch = pytest.importorskip("torch")
TF = torch.nn.functional
DTYPES = [np.float32, np.float64]


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)


def parity(mg_fn, torch_fn, arrays, device, dtype, grad=None, consts=()):
    """Compare values and the gradients (w.r.t. the float arrays listed in `grad`, default all) with torch.

    `consts` are extra arguments converted for each library but never differentiated (targets, weights).
    """
    grad = range(len(arrays)) if grad is None else grad
    arrays = [a.astype(dtype) for a in arrays]
    ms = [mg.tensor(a, device=device, requires_grad=i in grad) for i, a in enumerate(arrays)]
    ts = [torch.tensor(a, requires_grad=i in grad) for i, a in enumerate(arrays)]
    mc = [None if c is None else mg.tensor(c, device=device) for c in consts]
    tc = [None if c is None else torch.tensor(c) for c in consts]
    mo, to = mg_fn(*ms, *mc), torch_fn(*ts, *tc)
    assert mo.dtype == dtype and mo.shape == tuple(to.shape)
    np.testing.assert_allclose(mo.numpy(), to.detach().numpy(), **tol(dtype))
    v = np.random.default_rng(3).standard_normal(to.shape).astype(dtype)
    mo.backward(mg.tensor(v, device=device))
    to.backward(torch.tensor(v))
    for i in grad:
        assert ms[i].grad is not None and ms[i].grad.dtype == dtype, f"input {i}"
        np.testing.assert_allclose(ms[i].grad.numpy(), ts[i].grad.numpy(), **tol(dtype), err_msg=f"grad {i}")


rng = np.random.default_rng(0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
@pytest.mark.parametrize("ignore_index", [-100, 2])
def test_torch_cross_entropy_and_nll_weighted(device, dtype, reduction, label_smoothing, ignore_index):
    """(N, T, C) class-last for minigrad, permuted to torch's (N, C, T); weights, ignore_index, smoothing."""
    x = rng.standard_normal((3, 4, 5)) * 2
    t = rng.integers(0, 5, (3, 4))
    t[0, 1] = ignore_index if ignore_index >= 0 else -100
    t[2, 3] = ignore_index if ignore_index >= 0 else -100
    w = rng.uniform(0.2, 2.0, 5).astype(dtype)
    kw = dict(reduction=reduction, ignore_index=ignore_index)
    parity(lambda a, t, w: F.cross_entropy(a, t, weight=w, label_smoothing=label_smoothing, **kw),
           lambda a, t, w: TF.cross_entropy(a.permute(0, 2, 1), t, weight=w, label_smoothing=label_smoothing, **kw),
           [x], device, dtype, consts=(t, w))
    parity(lambda a, t, w: F.nll_loss(a, t, weight=w, **kw),
           lambda a, t, w: TF.nll_loss(a.permute(0, 2, 1), t, weight=w, **kw), [x], device, dtype, consts=(t, w))
    # the modules agree too (weight is a buffer)
    parity(lambda a, t, w: nn.CrossEntropyLoss(weight=w, label_smoothing=label_smoothing, **kw)(a, t),
           lambda a, t, w: torch.nn.CrossEntropyLoss(weight=w, label_smoothing=label_smoothing, **kw)(
               a.permute(0, 2, 1), t), [x], device, dtype, consts=(t, w))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
def test_torch_cross_entropy_probability_targets(device, dtype, reduction, label_smoothing, weighted):
    x = rng.standard_normal((4, 3))
    p = rng.dirichlet(np.ones(3), 4)
    w = rng.uniform(0.2, 2.0, 3).astype(dtype) if weighted else None
    parity(lambda a, q, w: F.cross_entropy(a, q, weight=w, reduction=reduction, label_smoothing=label_smoothing),
           lambda a, q, w: TF.cross_entropy(a, q, weight=w, reduction=reduction, label_smoothing=label_smoothing),
           [x, p], device, dtype, consts=(w,))


def test_torch_cross_entropy_single_sample_and_all_ignored(device):
    x = rng.standard_normal(4)
    parity(lambda a, t: F.cross_entropy(a, t), lambda a, t: TF.cross_entropy(a, t), [x], device, np.float64,
           consts=(np.array(2),))
    w = mg.tensor([1.0, 2.0, 3.0], device=device)
    x = mg.tensor(rng.standard_normal((2, 3)), device=device, requires_grad=True)
    out = F.cross_entropy(x, mg.tensor([-100, -100], device=device), weight=w.double())
    out.backward()
    assert out.item() == 0.0 and not x.grad.numpy().any()  # minigrad's policy: 0, not torch's NaN
    empty = F.cross_entropy(mg.zeros(0, 3, device=device), mg.zeros(0, dtype="int64", device=device), weight=w)
    assert empty.item() == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_torch_bce_with_logits_weights(device, dtype, reduction):
    x = rng.standard_normal((4, 3)) * 4
    x[0, 0], x[1, 1] = 60.0, -60.0  # saturated sigmoid: stays exact
    y = rng.uniform(0, 1, (4, 3))
    for w, pw in [(rng.uniform(0.1, 2, 3), None), (None, rng.uniform(0.1, 4, 3)),
                  (rng.uniform(0.1, 2, (4, 1)), rng.uniform(0.1, 4, (1, 3))), (None, np.array([2.0]))]:
        w = None if w is None else w.astype(dtype)
        pw = None if pw is None else pw.astype(dtype)
        parity(lambda a, b, w, pw: F.binary_cross_entropy_with_logits(a, b, weight=w, pos_weight=pw,
                                                                      reduction=reduction),
               lambda a, b, w, pw: TF.binary_cross_entropy_with_logits(a, b, weight=w, pos_weight=pw,
                                                                       reduction=reduction),
               [x, y], device, dtype, consts=(w, pw))
        parity(lambda a, b, w, pw: nn.BCEWithLogitsLoss(weight=w, pos_weight=pw, reduction=reduction)(a, b),
               lambda a, b, w, pw: torch.nn.BCEWithLogitsLoss(weight=w, pos_weight=pw, reduction=reduction)(a, b),
               [x, y], device, dtype, consts=(w, pw))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_torch_binary_cross_entropy(device, dtype, reduction):
    x = rng.uniform(0.01, 0.99, (3, 4))
    y = rng.uniform(0, 1, (3, 4))
    w = rng.uniform(0.1, 2, 4).astype(dtype)
    parity(lambda a, b, w: F.binary_cross_entropy(a, b, weight=w, reduction=reduction),
           lambda a, b, w: TF.binary_cross_entropy(a, b, weight=w, reduction=reduction), [x, y], device, dtype,
           consts=(w,))
    parity(lambda a, b: nn.BCELoss(reduction=reduction)(a, b),
           lambda a, b: torch.nn.BCELoss(reduction=reduction)(a, b), [x, y], device, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_binary_cross_entropy_clamps_at_0_and_1(device, dtype):
    """log clamped to -100; slope (x - y) / max(x (1 - x), 1e-12); target slope log(1-x) - log(x) (inf at 0, 1)."""
    x = np.array([0.0, 1.0, 0.5, 1e-30, 1.0 - 1e-7, 0.0])
    y = np.array([1.0, 0.0, 0.5, 1.0, 0.3, 0.0])
    xm = mg.tensor(x.astype(dtype), device=device, requires_grad=True)
    ym = mg.tensor(y.astype(dtype), device=device, requires_grad=True)
    xt, yt = torch.tensor(x.astype(dtype), requires_grad=True), torch.tensor(y.astype(dtype), requires_grad=True)
    lm, lt = F.binary_cross_entropy(xm, ym, reduction="sum"), TF.binary_cross_entropy(xt, yt, reduction="sum")
    np.testing.assert_allclose(lm.numpy(), lt.detach().numpy(), **tol(dtype))
    lm.backward()
    lt.backward()
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), **tol(dtype))
    np.testing.assert_allclose(ym.grad.numpy(), yt.grad.numpy(), **tol(dtype))  # +-inf where torch has them
    assert np.isinf(ym.grad.numpy()[[0, 1, 5]]).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_torch_regression_losses_and_their_kinks(device, dtype, reduction):
    """Differences exactly at 0, +-beta and +-delta: the slopes at the kinks equal torch's."""
    y = np.round(rng.standard_normal(12) * 8) / 8  # eighths: y + d is exact in float32 too, so d hits the kinks
    d = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 0.25, -3.0, 1.5, -1.5, 0.0])
    x = y + d
    cases = [
        (lambda a, b: F.l1_loss(a, b, reduction=reduction), lambda a, b: TF.l1_loss(a, b, reduction=reduction)),
        (lambda a, b: F.mse_loss(a, b, reduction=reduction), lambda a, b: TF.mse_loss(a, b, reduction=reduction)),
        (lambda a, b: nn.L1Loss(reduction=reduction)(a, b), lambda a, b: torch.nn.L1Loss(reduction=reduction)(a, b)),
    ]
    for beta in (1.0, 0.5, 0.0):
        cases.append((lambda a, b, beta=beta: F.smooth_l1_loss(a, b, reduction=reduction, beta=beta),
                      lambda a, b, beta=beta: TF.smooth_l1_loss(a, b, reduction=reduction, beta=beta)))
    for delta in (1.0, 0.5, 2.0):
        cases.append((lambda a, b, delta=delta: nn.HuberLoss(reduction=reduction, delta=delta)(a, b),
                      lambda a, b, delta=delta: torch.nn.HuberLoss(reduction=reduction, delta=delta)(a, b)))
    cases.append((lambda a, b: nn.SmoothL1Loss(reduction=reduction, beta=0.5)(a, b),
                  lambda a, b: torch.nn.SmoothL1Loss(reduction=reduction, beta=0.5)(a, b)))
    for mg_fn, torch_fn in cases:
        parity(mg_fn, torch_fn, [x, y], device, dtype)


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")  # torch's advice for 'mean'
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_torch_kl_div(device, dtype, reduction, log_target):
    x = np_log_softmax(rng.standard_normal((3, 4)))
    t = rng.dirichlet(np.ones(4), 3)
    t = np.log(t) if log_target else t
    parity(lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target),
           lambda a, b: TF.kl_div(a, b, reduction=reduction, log_target=log_target), [x, t], device, dtype)
    if not log_target:  # a zero target probability contributes 0 (0 log 0 = 0); input slope -target = 0 there
        t0 = t.copy()
        t0[0, 1] = 0.0
        parity(lambda a, b: nn.KLDivLoss(reduction=reduction)(a, b),
               lambda a, b: torch.nn.KLDivLoss(reduction=reduction)(a, b), [x], device, dtype,
               consts=(t0.astype(dtype),))


@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_cosine_similarity_and_normalize(device, dtype):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4,))
    parity(lambda x, y: F.cosine_similarity(x, y, dim=-1), lambda x, y: TF.cosine_similarity(x, y, dim=-1),
           [a, b], device, dtype)
    parity(lambda x, y: F.cosine_similarity(x, y), lambda x, y: TF.cosine_similarity(x, y),
           [a, rng.standard_normal((3, 1))], device, dtype)  # broadcast along dim before the norms
    z = np.zeros((2, 4))
    z[1] = rng.standard_normal(4)
    parity(lambda x, y: F.cosine_similarity(x, y), lambda x, y: TF.cosine_similarity(x, y),
           [z, rng.standard_normal((2, 4))], device, dtype)  # a zero vector: norm clamped at eps
    for p in (2.0, 1.0, float("inf")):
        parity(lambda x, p=p: F.normalize(x, p=p), lambda x, p=p: TF.normalize(x, p=p), [a], device, dtype)
        parity(lambda x, p=p: F.normalize(x, p=p, dim=0), lambda x, p=p: TF.normalize(x, p=p, dim=0), [z], device,
               dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_torch_margin_ranking_and_cosine_embedding(device, dtype, reduction):
    x1 = np.array([1.0, 2.0, 0.0, -1.0, 3.0, 0.5])
    x2 = np.array([2.0, 1.0, 0.5, -1.5, 3.0, 0.0])  # hinges exactly at 0: x1 = x2 (margin 0), -(x1-x2) = -0.5
    y = np.array([1.0, 1.0, -1.0, -1.0, 1.0, -1.0]).astype(dtype)
    for margin in (0.0, 0.5):
        parity(lambda a, b, t: F.margin_ranking_loss(a, b, t, margin=margin, reduction=reduction),
               lambda a, b, t: TF.margin_ranking_loss(a, b, t, margin=margin, reduction=reduction), [x1, x2],
               device, dtype, consts=(y,))
        parity(lambda a, b, t: nn.MarginRankingLoss(margin=margin, reduction=reduction)(a, b, t),
               lambda a, b, t: torch.nn.MarginRankingLoss(margin=margin, reduction=reduction)(a, b, t), [x1, x2],
               device, dtype, consts=(y,))
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    t = np.array([1, -1, 1, -1, 0])
    for margin in (0.0, 0.2, -0.5):
        parity(lambda p, q, t: F.cosine_embedding_loss(p, q, t, margin=margin, reduction=reduction),
               lambda p, q, t: TF.cosine_embedding_loss(p, q, t, margin=margin, reduction=reduction), [a, b],
               device, dtype, consts=(t,))
    parity(lambda p, q, t: nn.CosineEmbeddingLoss(reduction=reduction)(p, q, t),
           lambda p, q, t: torch.nn.CosineEmbeddingLoss(reduction=reduction)(p, q, t), [a[0], b[0]], device,
           dtype, consts=(np.array(-1),))


def test_margin_ranking_hinge_gradient_passes_as_torch(device):
    x1 = mg.tensor([1.0, 2.0], device=device, requires_grad=True)
    F.margin_ranking_loss(x1, mg.tensor([1.0, 1.0], device=device), mg.tensor([1.0, 1.0], device=device),
                          reduction="sum").backward()
    np.testing.assert_array_equal(x1.grad.numpy(), [-1.0, 0.0])  # torch: [-1, -0] (clamp_min passes at 0)


# ---------------------------------------------------------------- modules
def test_loss_modules_store_weights_as_buffers_and_take_legacy_flags(device):
    w = mg.tensor([1.0, 2.0, 3.0])
    ce = nn.CrossEntropyLoss(weight=w, label_smoothing=0.1)
    assert set(ce.state_dict()) == {"weight"} and list(ce.parameters()) == []
    bce = nn.BCEWithLogitsLoss(pos_weight=mg.tensor([2.0]))
    assert set(bce.state_dict()) == {"pos_weight"}  # a None buffer is not saved
    if device != "cpu":
        ce.to(device)
        assert ce.weight.device == canonical(device)
    assert nn.L1Loss(reduce=False).reduction == "none"
    assert nn.MSELoss(size_average=False).reduction == "sum"
    assert nn.NLLLoss(size_average=True, reduce=True).reduction == "mean"
    assert nn.KLDivLoss(reduction="batchmean").reduction == "batchmean"
    assert "beta=0.5" in repr(nn.SmoothL1Loss(beta=0.5)) and "delta=2.0" in repr(nn.HuberLoss(delta=2.0))
    x, t = mg.randn(4, 3, device=device), mg.tensor([0, 1, 2, 1], device=device)
    assert F.cross_entropy(x, t, None, None, -100, False).shape == (4,)  # torch's positional order, reduce=False
    with pytest.raises(ValueError, match=r"KLDivLoss: reduction must be one of"):
        nn.KLDivLoss(reduction="avg")
    with pytest.raises(ValueError, match=r"HuberLoss: reduction must be one of"):
        nn.HuberLoss(reduction="batchmean")


# ---------------------------------------------------------------- errors
def _x(device, *shape, dtype="float32"):
    return mg.randn(*shape, device=device, dtype=dtype)


ERRORS = [
    (lambda d: F.cross_entropy(_x(d, 2, 3), mg.tensor([0, 1], device=d), weight=mg.ones(2, device=d)), ValueError,
     r"cross_entropy: weight must be 1-D with one entry per class \(3 classes.*got shape \[2\]"),
    (lambda d: F.nll_loss(_x(d, 2, 3), mg.tensor([0, 1], device=d), weight=mg.ones(1, 3, device=d)), ValueError,
     r"nll_loss: weight must be 1-D"),
    (lambda d: F.cross_entropy(_x(d, 2, 3), mg.tensor([0, 1], device=d), weight=mg.ones(3, dtype="float64",
                                                                                        device=d)),
     TypeError, r"cross_entropy: dtype mismatch"),
    (lambda d: F.cross_entropy(_x(d, 2, 3), mg.tensor([0, 1], device=d),
                               weight=mg.ones(3, device=d, requires_grad=True)),
     RuntimeError, r"cross_entropy: weight float32\[3\].* requires grad, but cross_entropy is not differentiable"),
    (lambda d: F.cross_entropy(_x(d, 2, 3), mg.tensor([0, 3], device=d), weight=mg.ones(3, device=d)), IndexError,
     r"cross_entropy: target value 3 is out of range for 3 classes"),
    (lambda d: F.cross_entropy(_x(d, 2, 3), mg.rand(2, 4, device=d)), TypeError,
     r"cross_entropy: target must hold integer class indices, got float32\[2, 4\].*class probabilities must have "
     r"input's shape \[2, 3\]"),
    (lambda d: F.cross_entropy(_x(d, 2, 3), mg.rand(2, 3, device=d), ignore_index=0), ValueError,
     r"cross_entropy: ignore_index=0 is not supported for class-probability targets"),
    (lambda d: F.cross_entropy(_x(d, 2, 3), mg.rand(2, 3, device=d, dtype="float64")), TypeError,
     r"cross_entropy: dtype mismatch"),
    (lambda d: F.binary_cross_entropy_with_logits(_x(d, 2, 3), mg.rand(2, 3, device=d),
                                                  pos_weight=mg.ones(4, device=d)), ValueError, r"binary_cross_entropy_with_logits: pos_weight of shape \[4\] does not broadcast to input "
                 r"float32\[2, 3\]"),
    (lambda d: F.binary_cross_entropy_with_logits(_x(d, 2, 3), mg.rand(2, 3, device=d),
                                                  weight=mg.ones(5, 2, 3, device=d)),
     ValueError, r"binary_cross_entropy_with_logits: weight of shape \[5, 2, 3\] does not broadcast"),
    (lambda d: F.binary_cross_entropy_with_logits(_x(d, 2), mg.rand(2, device=d),
                                                  pos_weight=mg.ones(2, device=d, requires_grad=True)),
     RuntimeError, r"binary_cross_entropy_with_logits: pos_weight .* requires grad"),
    (lambda d: F.binary_cross_entropy(_x(d, 3) * 5, mg.rand(3, device=d)), ValueError,
     r"binary_cross_entropy: every element of input float32\[3\].* must be a probability in \[0, 1\]"),
    (lambda d: F.binary_cross_entropy(mg.rand(2, 3, device=d), mg.rand(3, device=d)), ValueError,
     r"binary_cross_entropy: input float32\[2, 3\].* and target float32\[3\].* must have the same shape"),
    (lambda d: F.binary_cross_entropy(mg.rand(3, device=d), mg.rand(3, device=d), weight=mg.ones(2, device=d)),
     ValueError, r"binary_cross_entropy: weight of shape \[2\] does not broadcast"),
    (lambda d: F.l1_loss(_x(d, 2, 3), _x(d, 3)), ValueError,
     r"l1_loss: input float32\[2, 3\].* and target float32\[3\].* must have the same shape"),
    (lambda d: F.l1_loss(_x(d, 3), _x(d, 3, dtype="float64")), TypeError, r"l1_loss: dtype mismatch"),
    (lambda d: F.l1_loss(mg.ones(3, dtype="int64", device=d), _x(d, 3)), TypeError,
     r"l1_loss: expected a floating-point tensor, got int64\[3\]"),
    (lambda d: F.l1_loss(_x(d, 0), _x(d, 0)), ValueError, r"l1_loss: reduction='mean' of an empty input"),
    (lambda d: F.smooth_l1_loss(_x(d, 3), _x(d, 3), beta=-1.0), ValueError,
     r"smooth_l1_loss: beta must be non-negative, got -1.0"),
    (lambda d: F.huber_loss(_x(d, 3), _x(d, 3), delta=0.0), ValueError, r"huber_loss: delta must be positive, got 0.0"),
    (lambda d: F.huber_loss(_x(d, 3), _x(d, 3), reduction="batchmean"), ValueError,
     r"huber_loss: reduction must be one of"),
    (lambda d: F.smooth_l1_loss(_x(d, 3), _x(d, 4)), ValueError, r"smooth_l1_loss: input .* must have the same shape"),
    (lambda d: F.kl_div(_x(d, 2, 3), _x(d, 4)), ValueError, r"kl_div: input float32\[2, 3\].* and target "
                                                            r"float32\[4\].* do not broadcast"),
    (lambda d: F.kl_div(_x(d, 0, 3), _x(d, 0, 3), reduction="batchmean"), ValueError,
     r"kl_div: reduction='batchmean' of an empty batch"),
    (lambda d: F.kl_div(_x(d, 3), _x(d, 3), reduction="avg"), ValueError, r"kl_div: reduction must be one of"),
    (lambda d: F.cosine_similarity(_x(d, 2, 3), _x(d, 4)), ValueError,
     r"cosine_similarity: x1 float32\[2, 3\].* and x2 float32\[4\].* do not broadcast"),
    (lambda d: F.cosine_similarity(_x(d, 3), _x(d, 3)), IndexError, r"cosine_similarity: dim 1 is out of range"),
    (lambda d: F.normalize(_x(d, 3)), IndexError, r"normalize: dim 1 is out of range"),
    (lambda d: F.normalize(_x(d, 2, 3), p=-1), ValueError, r"normalize: p must be >= 0, inf or -inf, got -1"),
    (lambda d: F.margin_ranking_loss(_x(d, 2, 3), _x(d, 3), _x(d, 3)), ValueError,
     r"margin_ranking_loss: input1 float32\[2, 3\].*must have the same number of dimensions"),
    (lambda d: F.margin_ranking_loss(_x(d, 2), _x(d, 3), _x(d, 3)), ValueError,
     r"margin_ranking_loss: .* do not broadcast"),
    (lambda d: F.cosine_embedding_loss(_x(d, 2, 3), _x(d, 3), mg.tensor([1, -1], device=d)), ValueError,
     r"cosine_embedding_loss: expected 2-D inputs \(N, D\) with N = 2, got input1 float32\[2, 3\]"),
    (lambda d: F.cosine_embedding_loss(_x(d, 3), _x(d, 3), mg.tensor([1], device=d)), ValueError,
     r"cosine_embedding_loss: expected 2-D inputs"),
    (lambda d: F.cosine_embedding_loss(_x(d, 2, 3, 4), _x(d, 2, 3, 4), mg.ones(2, 3, device=d)), ValueError,
     r"cosine_embedding_loss: target must be 0-d or 1-D"),
]


@pytest.mark.parametrize("k", range(len(ERRORS)))
def test_errors(device, k):
    fn, exc, pattern = ERRORS[k]
    with pytest.raises(exc, match=pattern):
        fn(device)


def test_float32_stays_float32_with_python_and_integer_weights(device):
    x = mg.randn(3, 4, device=device, requires_grad=True)
    t = mg.tensor([0, 3, 1], device=device)
    out = F.cross_entropy(x, t, weight=[1, 2, 3, 4]) + F.nll_loss(x, t, weight=mg.tensor([1, 1, 2, 2], device=device))
    out = out + F.binary_cross_entropy_with_logits(x, mg.rand(3, 4, device=device), pos_weight=[2.0, 1, 1, 1])
    out = out + F.cross_entropy(x, [[0.5, 0.5, 0.0, 0.0]] * 3)  # Python probabilities adopt float32
    out.backward()
    assert out.dtype == np.float32 and x.grad.dtype == np.float32
