"""NN primitives: softmax, log_softmax, cross_entropy (class dim LAST), nll_loss, mse_loss,
binary_cross_entropy_with_logits, embedding, dropout.

Values against NumPy references written independently of the implementation
(cross-entropy as -sum_c q_c log p_c with the smoothed target q), gradients against
float64 finite differences (`gradcheck`), float32 kept float32, inputs never written.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad.ops.nn import BCEWithLogits, CrossEntropy, Dropout, Embedding, LogSoftmax, NLLLoss, Softmax
from minigrad.testing import gradcheck
from minigrad.testing import strategies as mst

from opcheck import check_op, draw_array

GRADIENT_TESTED = [Softmax, LogSoftmax, CrossEntropy, NLLLoss, BCEWithLogits, Embedding, Dropout]


def np_log_softmax(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))


# ---------------------------------------------------------------- softmax / log_softmax
@st.composite
def shape_and_axis(draw):
    shape = draw(mst.shapes(max_dims=3, max_side=4))
    if not shape:
        return shape, draw(st.sampled_from([-1, 0])), None
    d = draw(st.integers(-len(shape), len(shape) - 1))
    return shape, d, d


@given(data=st.data(), sa=shape_and_axis())
def test_softmax(device, data, sa):
    shape, dim, axis = sa
    a = draw_array(data, shape, device)
    ref = lambda a: np.exp(np_log_softmax(a, axis))  # noqa: E731
    check_op(lambda x: F.softmax(x, dim), ref, [a], device)
    check_op(lambda x: x.softmax(dim), ref, [a], device)


@given(data=st.data(), sa=shape_and_axis())
def test_log_softmax(device, data, sa):
    shape, dim, axis = sa
    a = draw_array(data, shape, device)
    check_op(lambda x: F.log_softmax(x, dim), lambda a: np_log_softmax(a, axis), [a], device)
    check_op(lambda x: x.log_softmax(dim=dim), lambda a: np_log_softmax(a, axis), [a], device)


def test_softmax_default_dim_is_last_and_huge_logits_are_fine(device):
    x = mg.tensor([[1000.0, 0.0, -1000.0], [5.0, 5.0, 5.0]], device=device, requires_grad=True)
    p = F.softmax(x)
    lp = F.log_softmax(x)
    np.testing.assert_allclose(p.numpy(), [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(lp.numpy(), [[0, -1000, -2000], [-np.log(3)] * 3], rtol=1e-6)
    (p.sum() + lp[:, 0].sum()).backward()
    assert np.isfinite(x.grad.numpy()).all() and x.grad.dtype == np.float32


# ---------------------------------------------------------------- cross-entropy and NLL
def ce_ref(x, t, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """-sum_c q_c log p_c per position, q = (1 - e) onehot(t) + e / C; ignored positions give 0."""
    C = x.shape[-1]
    logp = np_log_softmax(x, -1)
    valid = t != ignore_index
    q = np.zeros_like(logp)
    for pos in np.ndindex(t.shape):
        if valid[pos]:
            q[pos] = label_smoothing / C
            q[pos + (t[pos],)] += 1 - label_smoothing
    loss = -(q * logp).sum(-1)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / max(valid.sum(), 1)


@st.composite
def logits_and_target(draw, ignore_index=-100):
    lead = draw(mst.shapes(max_dims=2, max_side=4))
    C = draw(st.integers(1, 5))
    raw = draw(mst.tensors(shape=lead, dtype="int64", min_value=-1, max_value=C - 1)).numpy()
    target = np.where(raw < 0, ignore_index, raw)  # some positions are ignored
    return lead + (C,), target


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@given(data=st.data(), lt=logits_and_target())
def test_cross_entropy(device, reduction, label_smoothing, data, lt):
    shape, target = lt
    a = draw_array(data, shape, device)
    t = mg.tensor(target, device=device)
    check_op(lambda x: F.cross_entropy(x, t, reduction=reduction, label_smoothing=label_smoothing),
             lambda a: ce_ref(a, target, reduction=reduction, label_smoothing=label_smoothing), [a], device)


@given(data=st.data(), lt=logits_and_target(ignore_index=0))
def test_cross_entropy_custom_ignore_index(device, data, lt):
    shape, target = lt
    a = draw_array(data, shape, device)
    t = mg.tensor(target, device=device)
    check_op(lambda x: F.cross_entropy(x, t, ignore_index=0),
             lambda a: ce_ref(a, target, ignore_index=0), [a], device)


def test_cross_entropy_ignored_positions_get_zero_gradient(device):
    x = mg.tensor(np.random.default_rng(0).standard_normal((2, 3, 4)), device=device, requires_grad=True)
    t = mg.tensor([[1, -100, 3], [-100, -100, 0]], device=device)
    loss = F.cross_entropy(x, t)
    loss.backward()
    g = x.grad.numpy()
    np.testing.assert_array_equal(g[0, 1], 0.0)
    np.testing.assert_array_equal(g[1, :2], 0.0)
    np.testing.assert_allclose(g.sum(-1), 0.0, atol=1e-15)  # softmax - onehot rows sum to 0
    assert loss.item() == pytest.approx(ce_ref(x.numpy(), t.numpy()), rel=1e-14)
    every = F.cross_entropy(x, mg.full((2, 3), -100, device=device))
    assert every.item() == 0.0  # all ignored: 0 (documented), not NaN


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(data=st.data(), lt=logits_and_target())
def test_nll_loss(device, reduction, data, lt):
    shape, target = lt
    a = draw_array(data, shape, device)
    t = mg.tensor(target, device=device)

    def ref(a):
        valid = target != -100
        picked = np.take_along_axis(a, np.where(valid, target, 0)[..., None], -1)[..., 0]
        loss = -picked * valid
        return {"none": loss, "sum": loss.sum(), "mean": loss.sum() / max(valid.sum(), 1)}[reduction]

    check_op(lambda x: F.nll_loss(x, t, reduction=reduction), ref, [a], device)


def test_nll_of_log_softmax_equals_cross_entropy(device):
    rng = np.random.default_rng(5)
    x = mg.tensor(rng.standard_normal((4, 6)), device=device, requires_grad=True)
    t = mg.tensor([0, 5, 2, 2], device=device)
    a = F.nll_loss(F.log_softmax(x), t)
    a.backward()
    ga = x.grad.numpy().copy()
    x.grad = None
    b = F.cross_entropy(x, t)
    b.backward()
    assert a.item() == pytest.approx(b.item(), rel=1e-14)
    np.testing.assert_allclose(x.grad.numpy(), ga, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------- regression and binary losses
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(data=st.data(), shape=mst.shapes(max_dims=3, max_side=4))
def test_mse_loss(device, reduction, data, shape):
    a, b = draw_array(data, shape, device), draw_array(data, shape, device)
    red = {"mean": np.mean, "sum": np.sum, "none": lambda z: z}[reduction]
    check_op(lambda x, y: F.mse_loss(x, y, reduction=reduction), lambda a, b: red((a - b) ** 2), [a, b], device)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(data=st.data(), shape=mst.shapes(max_dims=3, max_side=4))
def test_binary_cross_entropy_with_logits(device, reduction, data, shape):
    x = draw_array(data, shape, device, min_value=-6.0, max_value=6.0)
    y = draw_array(data, shape, device, min_value=0.0, max_value=1.0)
    red = {"mean": np.mean, "sum": np.sum, "none": lambda z: z}[reduction]

    def ref(x, y):
        s = 1 / (1 + np.exp(-x))
        return red(-(y * np.log(s) + (1 - y) * np.log(1 - s)))

    check_op(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction), ref, [x, y], device)


def test_bce_with_logits_is_finite_for_huge_logits(device):
    x = mg.tensor([1000.0, -1000.0, 0.0], device=device, requires_grad=True)
    y = mg.tensor([0.0, 1.0, 1.0], device=device)
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    np.testing.assert_allclose(loss.numpy(), [1000.0, 1000.0, np.log(2.0)], rtol=1e-6)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, -1.0, -0.5], rtol=1e-6)


# ---------------------------------------------------------------- embedding
@given(data=st.data(), n=st.integers(1, 5), dim=st.integers(1, 4), idx_shape=mst.shapes(max_dims=2, max_side=4))
def test_embedding(device, data, n, dim, idx_shape):
    w = draw_array(data, (n, dim), device)
    idx = data.draw(mst.tensors(shape=idx_shape, dtype="int64", min_value=0, max_value=n - 1, device=device))
    i = idx.numpy()
    check_op(lambda w: F.embedding(idx, w), lambda w: w[i], [w], device)
    # padding_idx: same values, same gradient except that the padding row gets none
    pad = data.draw(st.integers(0, n - 1))
    v = mg.tensor(np.random.default_rng(2).standard_normal(i.shape + (dim,)), device=device)
    grads = []
    for padding_idx in (None, pad):
        wt = mg.tensor(w, device=device, requires_grad=True)
        out = F.embedding(idx, wt, padding_idx=padding_idx)
        np.testing.assert_array_equal(out.numpy(), w[i])
        (out * v).sum().backward()
        grads.append(wt.grad.numpy())
    grads[0][pad] = 0.0
    np.testing.assert_array_equal(grads[1], grads[0])


def test_embedding_repeats_accumulate_and_padding_row_gets_zero(device):
    w = mg.tensor(np.arange(8.0).reshape(4, 2), device=device, requires_grad=True)
    idx = mg.tensor([[0, 2, 2], [3, 2, 0]], device=device)
    out = F.embedding(idx, w, padding_idx=0)
    np.testing.assert_array_equal(out.numpy(), np.arange(8.0).reshape(4, 2)[idx.numpy()])  # values unchanged
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[0, 0], [0, 0], [3, 3], [1, 1]])
    assert w.grad.dtype == np.float64
    w.grad = None
    F.embedding(idx, w, padding_idx=-1).sum().backward()  # negative padding_idx counts from the end
    np.testing.assert_array_equal(w.grad.numpy(), [[2, 2], [0, 0], [3, 3], [0, 0]])


# ---------------------------------------------------------------- dropout
@pytest.mark.parametrize("p", [0.25, 0.5, 0.8])
@given(data=st.data(), shape=mst.shapes(max_dims=3, max_side=4))
def test_dropout_gradient(device, p, data, shape):
    """Re-seeding inside fn draws the same mask on every call, so finite differences see one function."""
    a = draw_array(data, shape, device)

    def fn(x):
        mg.manual_seed(7)
        return F.dropout(x, p)

    mg.manual_seed(7)  # on cpu the mask is the first host uniform draw after the seed: replay it
    mask = mg.backend.random_uniform(np, shape, np.float64) >= p
    x = mg.tensor(a, device=device, requires_grad=True)
    y = fn(x)
    if device == "cpu":
        np.testing.assert_allclose(y.numpy(), a * mask / (1 - p), rtol=1e-15)
    gradcheck(fn, x)
    x32 = mg.tensor(a.astype(np.float32), device=device, requires_grad=True)
    y32 = fn(x32)
    assert y32.dtype == np.float32
    y32.backward(mg.ones_like(y32))
    assert x32.grad.dtype == np.float32
    np.testing.assert_array_equal(x32.numpy(), a.astype(np.float32))


def test_dropout_mask_is_shared_by_forward_and_backward(device):
    x = mg.tensor(np.random.default_rng(0).uniform(1.0, 2.0, (64, 64)), device=device, requires_grad=True)
    p = 0.3
    y = F.dropout(x, p)
    v = np.random.default_rng(1).standard_normal((64, 64))
    y.backward(mg.tensor(v, device=device))
    kept = y.numpy() != 0  # x >= 1, so a zero output means dropped
    np.testing.assert_allclose(y.numpy()[kept], x.numpy()[kept] / (1 - p), rtol=1e-15)
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, v / (1 - p), 0.0), rtol=1e-15)


def test_dropout_scaling_keeps_the_expectation(device):
    n = 200_000
    p = 0.3
    y = F.dropout(mg.ones(n, device=device), p).numpy()
    kept = (y != 0).mean()
    # Bernoulli(0.7) over 200k draws: standard deviation ~ 0.001; allow 5 sigma
    assert abs(kept - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)
    assert set(np.unique(y)) <= {0.0, np.float32(1 / (1 - p))}
    assert y.dtype == np.float32


def test_dropout_modes(device):
    x = mg.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x  # eval: identity
    assert F.dropout(x, 0.0) is x
    z = F.dropout(x, 1.0)
    np.testing.assert_array_equal(z.numpy(), [0.0, 0.0, 0.0])
    z.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])
    mg.manual_seed(3)
    a = F.dropout(mg.ones(100, device=device), 0.5).numpy()
    mg.manual_seed(3)
    b = F.dropout(mg.ones(100, device=device), 0.5).numpy()
    np.testing.assert_array_equal(a, b)  # manual_seed makes masks reproducible
    with pytest.raises(ValueError, match=r"dropout: p must be in \[0, 1\], got 1.5"):
        F.dropout(x, 1.5)


def test_python_lists_as_targets_and_indices_stay_integer(device):
    """Python data for class targets / embedding indices must not adopt the float dtype of the scores."""
    x = mg.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 5.0]], device=device, requires_grad=True)
    a = F.cross_entropy(x, [2, 0])
    b = F.cross_entropy(x, mg.tensor([2, 0], device=device))
    assert a.item() == b.item()
    assert F.nll_loss(x, [1, 2]).item() == pytest.approx(-3.5)
    w = mg.tensor(np.arange(6.0).reshape(3, 2), device=device, requires_grad=True)
    e = F.embedding([[2, 0]], w)
    assert e.shape == (1, 2, 2)
    np.testing.assert_array_equal(e.numpy(), [[[4.0, 5.0], [0.0, 1.0]]])
