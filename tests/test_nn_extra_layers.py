"""nn/extra.py and the layer side of ops/loss_extra.py: padding modules, Bilinear, EmbeddingBag
(F.embedding_bag), Dropout1d / AlphaDropout, Softmax2d, the new activation and loss modules.

Hypothesis gradient properties over generated shapes and bags (`device` fixture), torch parity
in float64 (values and gradients, torch's weights loaded), reprs, and errors that name the layer.
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad import nn
from minigrad.ops.loss_extra import EmbeddingBag
from minigrad.testing import gradcheck
from minigrad.testing import strategies as mst

from opcheck import check_op, draw_array

GRADIENT_TESTED = [EmbeddingBag]

PADS = {
    "ConstantPad": ("constant", 0), "ZeroPad": ("constant", 0), "ReflectionPad": ("reflect", 1),
    "ReplicationPad": ("replicate", 0), "CircularPad": ("circular", 0),
}


# ---------------------------------------------------------------- padding modules
@pytest.mark.parametrize("kind", sorted(PADS))
@pytest.mark.parametrize("n", [1, 2, 3])
@given(data=st.data(), batched=st.booleans())
def test_padding_modules_gradient(device, kind, n, data, batched):
    mode, _ = PADS[kind]
    spatial = tuple(data.draw(st.integers(2, 3)) for _ in range(n))
    shape = ((2,) if batched else ()) + (2,) + spatial
    pad = tuple(data.draw(st.integers(0, 1)) for _ in range(2 * n))
    cls = getattr(nn, f"{kind}{n}d")
    layer = cls(pad, 1.5) if kind == "ConstantPad" else cls(pad)
    value = 1.5 if kind == "ConstantPad" else 0.0
    width = [(0, 0)] * (len(shape) - n) + [(pad[2 * k], pad[2 * k + 1]) for k in range(n)][::-1]
    np_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
    x = draw_array(data, shape, device)

    def ref(a):
        return np.pad(a, width, mode=np_mode, **({"constant_values": value} if np_mode == "constant" else {}))

    check_op(layer, ref, [x], device, exact=True)


def test_padding_modules_torch_parity():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for kind in PADS:
        for n in (1, 2, 3):
            pad = tuple(int(v) for v in rng.integers(0, 2, size=2 * n))
            args = (pad, 2.5) if kind == "ConstantPad" else (pad,)
            ours, theirs = getattr(nn, f"{kind}{n}d")(*args), getattr(torch.nn, f"{kind}{n}d")(*args)
            a = rng.standard_normal((2, 2) + (3,) * n)
            x, tx = mg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
            y, ty = ours(x), theirs(tx)
            np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
            v = rng.standard_normal(y.shape)
            (y * mg.tensor(v)).sum().backward()
            (ty * torch.tensor(v)).sum().backward()
            np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
            assert repr(ours) == repr(theirs)
            assert ours.padding == theirs.padding


@pytest.mark.parametrize("cls,shape", [
    (nn.ReflectionPad1d, (3,)), (nn.ReflectionPad2d, (3, 3, 3, 3, 3)), (nn.ReplicationPad3d, (3, 3, 3)),
    (nn.CircularPad1d, (3,)), (nn.CircularPad2d, (3, 3)),
])
def test_padding_modules_check_input_dims(cls, shape):
    with pytest.raises(ValueError, match=cls.__name__ + ": expected"):
        cls(1)(mg.randn(*shape))


def test_constant_padding_checks_length_and_types():
    with pytest.raises(ValueError, match="ConstantPad3d: padding"):
        nn.ConstantPad3d(1, 0.0)(mg.randn(3, 3))
    with pytest.raises(TypeError, match="ZeroPad2d: padding must be an int"):
        nn.ZeroPad2d(1.5)
    assert nn.ConstantPad2d(1, 0.0)(mg.randn(3, 3)).shape == (5, 5)  # ConstantPad2d takes any input of >= 2 dims


# ---------------------------------------------------------------- Bilinear
@given(data=st.data(), lead=mst.shapes(min_dims=0, max_dims=2, max_side=3), i1=st.integers(1, 3),
       i2=st.integers(1, 3), o=st.integers(1, 3))
def test_bilinear_gradient(device, data, lead, i1, i2, o):
    a, b = draw_array(data, lead + (i1,), device), draw_array(data, lead + (i2,), device)
    w, bias = draw_array(data, (o, i1, i2), device), draw_array(data, (o,), device)
    check_op(F.bilinear, lambda a, b, w, bias: np.einsum("...i,oij,...j->...o", a, w, b) + bias, [a, b, w, bias],
             device)


def test_bilinear_module_torch_parity():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch.nn.Bilinear(3, 4, 2).double()
    ours = nn.Bilinear(3, 4, 2, dtype=mg.float64)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((5, 4))
    x1, x2 = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
    t1, t2 = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    y, ty = ours(x1, x2), theirs(t1, t2)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    for ours_g, theirs_g in [(x1.grad, t1.grad), (x2.grad, t2.grad), (ours.weight.grad, theirs.weight.grad),
                             (ours.bias.grad, theirs.bias.grad)]:
        np.testing.assert_allclose(ours_g.numpy(), theirs_g.numpy(), rtol=1e-10, atol=1e-12)
    assert repr(ours) == repr(theirs)


def test_bilinear_init_and_errors():
    m = nn.Bilinear(4, 2, 3, bias=False)
    assert m.bias is None and m.weight.shape == (3, 4, 2) and m.weight.dtype == np.float32
    big = nn.Bilinear(16, 8, 64)
    bound = 1 / math.sqrt(16)
    assert np.abs(big.weight.numpy()).max() <= bound and np.abs(big.weight.numpy()).max() > 0.9 * bound
    with pytest.raises(ValueError, match="bilinear: expected input1"):
        m(mg.randn(2, 4), mg.randn(3, 2))
    with pytest.raises(ValueError, match="bilinear: expected input1"):
        F.bilinear(mg.randn(2, 4), mg.randn(2, 2), mg.randn(3, 4))
    with pytest.raises(ValueError, match="Bilinear: in1_features"):
        nn.Bilinear(0, 2, 3)


# ---------------------------------------------------------------- embedding_bag
@st.composite
def bags(draw):
    num, dim = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    n = draw(st.integers(0, 7))
    ids = np.array(draw(st.lists(st.integers(0, num - 1), min_size=n, max_size=n)), dtype=np.int64)
    cuts = sorted(draw(st.lists(st.integers(0, n), min_size=0, max_size=3)))
    offsets = np.array([0] + cuts, dtype=np.int64)
    pad = draw(st.one_of(st.none(), st.integers(0, num - 1)))
    return num, dim, ids, offsets, pad


def bag_ref(w, ids, offsets, mode, pad, psw=None):
    ends = list(offsets[1:]) + [len(ids)]
    out = np.zeros((len(offsets), w.shape[1]))
    for b, (s, e) in enumerate(zip(offsets, ends)):
        keep = [k for k in range(s, e) if ids[k] != pad]
        if not keep:
            continue
        rows = w[ids[keep]] * (1.0 if psw is None else psw[keep][:, None])
        out[b] = {"sum": rows.sum(0), "mean": rows.mean(0), "max": rows.max(0) if mode == "max" else 0}[mode]
    return out


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@given(data=st.data(), bag=bags())
def test_embedding_bag_gradient(device, mode, data, bag):
    num, dim, ids, offsets, pad = bag
    if mode == "max":  # well separated values: no ties, and finite differences stay on one side of each kink
        w = np.array(data.draw(st.permutations(range(num * dim))), dtype=np.float64).reshape(num, dim) * 0.5 - 1.0
    else:
        w = draw_array(data, (num, dim), device)
    it, ot = mg.tensor(ids, device=device), mg.tensor(offsets, device=device)
    check_op(lambda w: F.embedding_bag(it, w, ot, mode=mode, padding_idx=pad),
             lambda w: bag_ref(w, ids, offsets, mode, pad), [w], device)


@given(data=st.data(), bag=bags())
def test_embedding_bag_per_sample_weights_gradient(device, data, bag):
    num, dim, ids, offsets, pad = bag
    w, psw = draw_array(data, (num, dim), device), draw_array(data, ids.shape, device)
    it, ot = mg.tensor(ids, device=device), mg.tensor(offsets, device=device)
    check_op(lambda w, p: F.embedding_bag(it, w, ot, mode="sum", per_sample_weights=p, padding_idx=pad),
             lambda w, p: bag_ref(w, ids, offsets, "sum", pad, p), [w, psw], device)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("pad", [None, 2, -1])
@pytest.mark.parametrize("last", [False, True])
def test_embedding_bag_torch_parity(mode, pad, last):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 3))
    w[1] = w[0]  # a tie in max mode: the first maximum in bag order gets the gradient, as torch
    ids, off = np.array([0, 2, 1, 2, 5, 3, 3, 4, 2, 2]), np.array([0, 3, 3, 6, 8])
    x, tx = mg.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    y = F.embedding_bag(mg.tensor(ids), x, mg.tensor(off), mode=mode, padding_idx=pad, include_last_offset=last)
    ty = torch.nn.functional.embedding_bag(torch.tensor(ids), tx, torch.tensor(off), mode=mode, padding_idx=pad,
                                           include_last_offset=last)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    v = rng.standard_normal(y.shape)
    (y * mg.tensor(v)).sum().backward()
    (ty * torch.tensor(v)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_embedding_bag_2d_input_and_per_sample_weights_parity():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    w, p = rng.standard_normal((5, 4)), rng.standard_normal((3, 2))
    ids = np.array([[0, 4], [2, 2], [1, 3]])
    x, tx = mg.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    q, tq = mg.tensor(p, requires_grad=True), torch.tensor(p, requires_grad=True)
    y = F.embedding_bag(mg.tensor(ids), x, mode="sum", per_sample_weights=q)
    ty = torch.nn.functional.embedding_bag(torch.tensor(ids), tx, mode="sum", per_sample_weights=tq)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(q.grad.numpy(), tq.grad.numpy(), rtol=1e-10)


def test_embedding_bag_module():
    torch = pytest.importorskip("torch")
    m = nn.EmbeddingBag(10, 3, mode="max", padding_idx=1)
    assert m.weight.shape == (10, 3) and np.all(m.weight.numpy()[1] == 0)
    assert repr(m) == repr(torch.nn.EmbeddingBag(10, 3, mode="max", padding_idx=1))
    y = m(mg.tensor([1, 2, 3, 1]), mg.tensor([0, 2]))
    assert y.shape == (2, 3) and y.dtype == np.float32
    y.sum().backward()
    assert m.weight.grad.shape == (10, 3) and np.all(m.weight.grad.numpy()[1] == 0)
    fixed = nn.EmbeddingBag(2, 2, mode="sum", _weight=mg.tensor([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_array_equal(fixed(mg.tensor([[0, 1]])).numpy(), [[4.0, 6.0]])
    assert F.embedding_bag(mg.tensor([0, 1]), m.weight, mg.tensor([], dtype=mg.int64)).shape == (0, 3)


EBAG_ERRORS = [
    (lambda w: F.embedding_bag(mg.tensor([0, 1]), w), ValueError, "embedding_bag: a 1-D input needs offsets"),
    (lambda w: F.embedding_bag(mg.tensor([[0, 1]]), w, mg.tensor([0])), ValueError, "embedding_bag: a 2-D input"),
    (lambda w: F.embedding_bag(mg.tensor([0, 1]), w, mg.tensor([1])), ValueError, r"embedding_bag: offsets\[0\]"),
    (lambda w: F.embedding_bag(mg.tensor([0, 1]), w, mg.tensor([0, 3])), ValueError, r"embedding_bag: offsets\[-1\]"),
    (lambda w: F.embedding_bag(mg.tensor([0, 1, 1]), w, mg.tensor([0, 2, 1])), ValueError, "non-decreasing"),
    (lambda w: F.embedding_bag(mg.tensor([0, 1]), w, mg.tensor([[0]])), ValueError, "embedding_bag: offsets has"),
    (lambda w: F.embedding_bag(mg.tensor([0, 5]), w, mg.tensor([0])), IndexError, "embedding_bag: index 5"),
    (lambda w: F.embedding_bag(mg.tensor([0.0]), w, mg.tensor([0])), TypeError, "embedding_bag: input must hold"),
    (lambda w: F.embedding_bag(mg.tensor([0]), w, mg.tensor([0]), mode="avg"), ValueError, "embedding_bag: mode"),
    (lambda w: F.embedding_bag(mg.tensor([0]), w, mg.tensor([0]), padding_idx=4), ValueError, "padding_idx"),
    (lambda w: F.embedding_bag(mg.tensor([0]), w, mg.tensor([0]), max_norm=1.0), NotImplementedError, "max_norm"),
    (lambda w: F.embedding_bag(mg.tensor([0]), w, mg.tensor([0]), per_sample_weights=mg.ones(1)),
     NotImplementedError, "embedding_bag: per_sample_weights is only supported for mode='sum'"),
    (lambda w: F.embedding_bag(mg.tensor([0, 1]), w, mg.tensor([0]), mode="sum", per_sample_weights=mg.ones(3)),
     ValueError, "embedding_bag: per_sample_weights .*must have input's shape"),
    (lambda w: F.embedding_bag(mg.tensor([0]), w[0], mg.tensor([0])), ValueError, "embedding_bag: weight must be 2-D"),
]


@pytest.mark.parametrize("k", range(len(EBAG_ERRORS)))
def test_embedding_bag_errors(k):
    call, exc, match = EBAG_ERRORS[k]
    with pytest.raises(exc, match=match):
        call(mg.randn(4, 2))


# ---------------------------------------------------------------- Dropout1d, AlphaDropout
def test_dropout1d_drops_whole_channels_and_scales():
    x = mg.ones(4, 50, 6, requires_grad=True)
    y = F.dropout1d(x, 0.3)
    a = y.numpy()
    assert np.all((a == a[..., :1]))  # one decision per channel
    assert set(np.unique(a)) <= {np.float32(0.0), np.float32(1 / 0.7)} and 0.5 < (a[..., 0] > 0).mean() < 0.9
    (y * mg.arange(6.0)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), a * np.arange(6.0))  # d/dx = the same mask
    assert F.dropout1d(x, 0.3, training=False) is x
    assert np.all(F.dropout1d(mg.ones(3, 4), 1.0).numpy() == 0)
    m = nn.Dropout1d(0.3)
    m.eval()
    assert m(x) is x
    assert repr(nn.Dropout1d(0.2)) == "Dropout1d(p=0.2, inplace=False)"


def test_dropout1d_inplace_and_errors():
    h = mg.ones(2, 3, 4)
    assert F.dropout1d(h, 0.5, inplace=True) is h
    with pytest.raises(ValueError, match="dropout1d: expected a 2-D"):
        F.dropout1d(mg.ones(3), 0.5)
    with pytest.raises(ValueError, match="dropout1d: dropout probability"):
        F.dropout1d(mg.ones(2, 3), 1.5)
    with pytest.raises(ValueError, match="AlphaDropout: dropout probability"):
        nn.AlphaDropout(-0.1)


def test_alpha_dropout_formula_and_statistics():
    mg.manual_seed(0)
    x = mg.randn(200000)
    y = F.alpha_dropout(x, 0.2, training=True).numpy()
    xs = x.numpy()
    al, p = 1.7580993408473766, 0.2
    a = 1 / math.sqrt((al * al * p + 1) * (1 - p))
    dropped = np.isclose(y, -al * a * (1 - p))
    kept = ~dropped
    np.testing.assert_allclose(y[kept], a * xs[kept] + al * a * p, rtol=1e-5, atol=1e-6)
    assert abs(dropped.mean() - p) < 0.01
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02  # zero mean, unit variance kept
    assert F.alpha_dropout(x, 0.2) is x  # training defaults to False, as torch
    assert np.all(F.alpha_dropout(x, 1.0, training=True).numpy() == 0)
    w = mg.randn(5, requires_grad=True)
    out = F.alpha_dropout(w, 0.5, training=True)
    out.sum().backward()
    g = w.grad.numpy().astype(np.float64)
    a_half = 1 / math.sqrt((al * al * 0.5 + 1) * 0.5)
    assert np.all(np.isclose(g, 0.0) | np.isclose(g, a_half, rtol=1e-6))  # d/dx = a * mask


# ---------------------------------------------------------------- activation and softmax modules
def test_activation_modules():
    torch = pytest.importorskip("torch")
    x = mg.tensor([-1.0, -0.3, 0.2, 0.8], dtype=mg.float64)
    np.testing.assert_array_equal(nn.Threshold(0.1, 20)(x).numpy(), [20, 20, 0.2, 0.8])
    np.testing.assert_array_equal(nn.Hardshrink()(x).numpy(), [-1.0, 0, 0, 0.8])
    np.testing.assert_allclose(nn.Softshrink(0.3)(x).numpy(), [-0.7, 0, 0, 0.5], atol=1e-7)
    r = nn.RReLU(0.1, 0.3)
    r.eval()
    np.testing.assert_allclose(r(x).numpy(), F.leaky_relu(x, 0.2).numpy())
    r.train()
    y = r(x).numpy()
    assert np.all(y[2:] == x.numpy()[2:]) and np.all((y[:2] / x.numpy()[:2] >= 0.1) & (y[:2] / x.numpy()[:2] <= 0.3))
    for ours, theirs in [(nn.Threshold(0.1, 20, True), torch.nn.Threshold(0.1, 20, True)),
                         (nn.Hardshrink(), torch.nn.Hardshrink()), (nn.Softshrink(0.3), torch.nn.Softshrink(0.3)),
                         (nn.RReLU(0.1, 0.3, inplace=True), torch.nn.RReLU(0.1, 0.3, inplace=True)),
                         (nn.Softmax2d(), torch.nn.Softmax2d()), (nn.PairwiseDistance(), torch.nn.PairwiseDistance()),
                         (nn.AlphaDropout(0.2), torch.nn.AlphaDropout(0.2))]:
        assert repr(ours) == repr(theirs)


@given(data=st.data(), shape=st.sampled_from([(2, 3, 2), (2, 2, 3, 2)]))
def test_softmax2d(device, data, shape):
    x = draw_array(data, shape, device)

    def ref(a):
        e = np.exp(a - a.max(-3, keepdims=True))
        return e / e.sum(-3, keepdims=True)

    check_op(nn.Softmax2d(), ref, [x], device)


def test_softmax2d_refuses_other_ranks():
    with pytest.raises(ValueError, match="Softmax2d: expected a 3-D or 4-D"):
        nn.Softmax2d()(mg.randn(3, 4))


# ---------------------------------------------------------------- loss modules
def test_loss_modules_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x, t, v = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng.random((3, 4)) + 0.1
    idx, w = np.array([0, 3, 1]), rng.random(4) + 0.5
    mlt = np.array([[0, 1, -1, 2], [3, -1, 0, 0], [-1, 0, 0, 0]])
    signs = np.where(t > 0, 1.0, -1.0)
    cases = [
        ("GaussianNLLLoss", dict(full=True), (x, t, v)),
        ("PoissonNLLLoss", dict(log_input=False, full=True), (v, v * 3)),
        ("HingeEmbeddingLoss", dict(margin=0.5, reduction="sum"), (x, signs)),
        ("SoftMarginLoss", {}, (x, signs)),
        ("MultiLabelSoftMarginLoss", dict(weight=w), (x, rng.random((3, 4)))),
        ("MultiMarginLoss", dict(p=2, margin=0.7, weight=w), (x, idx)),
        ("MultiLabelMarginLoss", dict(reduction="none"), (x, mlt)),
        ("TripletMarginLoss", dict(margin=1.5, p=1, swap=True), (x, t, v)),
        ("TripletMarginWithDistanceLoss", dict(margin=2.0), (x, t, v)),
    ]
    for name, kw, arrays in cases:
        ours_kw = {k: (mg.tensor(a) if isinstance(a, np.ndarray) else a) for k, a in kw.items()}
        theirs_kw = {k: (torch.tensor(a) if isinstance(a, np.ndarray) else a) for k, a in kw.items()}
        ours, theirs = getattr(nn, name)(**ours_kw), getattr(torch.nn, name)(**theirs_kw)
        xs = [mg.tensor(a, requires_grad=True) if k == 0 else mg.tensor(a) for k, a in enumerate(arrays)]
        txs = [torch.tensor(a, requires_grad=True) if k == 0 else torch.tensor(a) for k, a in enumerate(arrays)]
        y, ty = ours(*xs), theirs(*txs)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
        y.sum().backward()
        ty.sum().backward()
        np.testing.assert_allclose(xs[0].grad.numpy(), txs[0].grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
    assert "weight" in dict(nn.MultiMarginLoss(weight=mg.ones(3)).named_buffers())
    with pytest.raises(ValueError, match="TripletMarginLoss: margin"):
        nn.TripletMarginLoss(margin=0.0)
    with pytest.raises(ValueError, match="MultiMarginLoss: only p"):
        nn.MultiMarginLoss(p=3)


def test_pairwise_distance_module_gradient(device):
    m = nn.PairwiseDistance(p=3.0, keepdim=True)
    a = mg.tensor(np.random.default_rng(0).standard_normal((3, 4)), device=device, requires_grad=True)
    b = mg.tensor(np.random.default_rng(1).standard_normal((3, 4)), device=device, requires_grad=True)
    assert m(a, b).shape == (3, 1)
    gradcheck(m, a, b)
