"""nn layers, activations, containers and losses: gradients (Hypothesis + gradcheck), torch parity, behaviour."""
import math
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import nn
from minigrad.ops.nn import LayerNorm as LayerNormFunction
from minigrad.testing import gradcheck
from minigrad.testing import strategies as mst

# Functions with a hand-written backward added for these layers (the core meta-test collects them).
GRADIENT_TESTED = [LayerNormFunction]

small_batch = mst.shapes(min_dims=0, max_dims=2, min_side=1, max_side=4)
features = st.integers(1, 4)


def randn(shape, seed, device="cpu", dtype="float64"):
    return mg.tensor(np.random.default_rng(seed).standard_normal(shape), dtype=dtype, device=device)


def check_module_grads(module, *inputs, **kw):
    """gradcheck `module(*inputs)` with respect to the inputs that require grad AND every parameter.

    The parameters are passed to gradcheck as extra inputs and swapped into the module for
    each call, so the analytic and the finite-difference gradients both see them.
    """
    slots = [(m, n) for m in module.modules() for n, p in m._parameters.items() if p is not None]
    params = [getattr(m, n) for m, n in slots]
    assert all(p.dtype == np.float64 and p.requires_grad for p in params)
    k = len(inputs)

    def fn(*args):
        old = [getattr(m, n) for m, n in slots]
        for (m, n), p in zip(slots, args[k:]):
            object.__setattr__(m, n, p)
        try:
            return module(*args[:k])
        finally:
            for (m, n), p in zip(slots, old):
                object.__setattr__(m, n, p)

    return gradcheck(fn, *inputs, *params, **kw)


# ---------------------------------------------------------------- Linear
def test_linear_shapes_and_default_init():
    lin = nn.Linear(400, 300)
    assert lin.weight.shape == (300, 400) and lin.bias.shape == (300,)
    assert lin.weight.dtype == np.float32 and lin.weight.requires_grad
    bound = 1 / math.sqrt(400)  # torch: kaiming_uniform_(a=sqrt(5)) == U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    w = lin.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(lin.bias.numpy()).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound  # U(-b, b) has std b/sqrt(3)
    assert abs(w.mean()) < 0.01 * bound
    assert nn.Linear(3, 2, bias=False).bias is None
    assert [n for n, _ in nn.Linear(3, 2, bias=False).named_parameters()] == ["weight"]


def test_linear_is_seeded_and_respects_dtype_and_device(device):
    mg.manual_seed(3)
    a = nn.Linear(4, 3)
    mg.manual_seed(3)
    b = nn.Linear(4, 3, dtype="float64", device=device)
    assert b.weight.dtype == np.float64 and b.weight.device == mg.zeros(1, device=device).device
    np.testing.assert_allclose(a.weight.numpy(), b.weight.numpy(), rtol=1e-6)  # same draws, any device/dtype


@given(batch=small_batch, fin=features, fout=features, bias=st.booleans(), seed=st.integers(0, 2**16))
def test_linear_gradients(device, batch, fin, fout, bias, seed):
    lin = nn.Linear(fin, fout, bias=bias).double().to(device)
    x = randn(batch + (fin,), seed, device).requires_grad_()
    check_module_grads(lin, x)


def test_linear_matches_torch():
    torch = pytest.importorskip("torch")
    lin = nn.Linear(5, 3).double()
    ref = torch.nn.Linear(5, 3).double()
    lin.load_state_dict(ref.state_dict())
    x = np.random.default_rng(1).standard_normal((2, 4, 5))
    xm, xt = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ym, yt = lin(xm), ref(xt)
    np.testing.assert_allclose(ym.numpy(), yt.detach().numpy(), rtol=1e-12)
    g = np.random.default_rng(2).standard_normal(ym.shape)
    ym.backward(mg.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(lin.weight.grad.numpy(), ref.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(lin.bias.grad.numpy(), ref.bias.grad.numpy(), rtol=1e-10)


def test_linear_errors_name_the_shapes():
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(0, 3)
    with pytest.raises(ValueError, match=r"expects 3"):
        nn.Linear(3, 2)(mg.randn(4, 5))
    with pytest.raises(TypeError, match="dtype mismatch"):
        nn.Linear(3, 2)(mg.randn(4, 3, dtype="float64"))


def test_float32_stays_float32():
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Tanh(), nn.Linear(4, 2))
    x = mg.randn(5, 3)
    y = model(x)
    loss = nn.CrossEntropyLoss()(y, mg.tensor([0, 1, 0, 1, 1]))
    loss.backward()
    assert y.dtype == np.float32 and loss.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in model.parameters())


# ---------------------------------------------------------------- Embedding
def test_embedding_init_lookup_and_padding():
    mg.manual_seed(0)
    emb = nn.Embedding(200, 50, padding_idx=-1)
    assert emb.padding_idx == 199 and emb.weight.shape == (200, 50)
    w = emb.weight.numpy()
    assert not w[199].any()
    assert abs(w[:199].mean()) < 0.03 and abs(w[:199].std() - 1) < 0.03  # N(0, 1)
    idx = mg.tensor([[3, 199], [3, 0]])
    out = emb(idx)
    assert out.shape == (2, 2, 50)
    np.testing.assert_array_equal(out.numpy()[0, 0], w[3])
    out.sum().backward()
    g = emb.weight.grad.numpy()
    np.testing.assert_array_equal(g[3], np.full(50, 2.0))  # index 3 used twice: gradients add
    assert not g[199].any() and g[0].tolist() == [1.0] * 50 and not g[5].any()
    assert repr(emb) == "Embedding(200, 50, padding_idx=199)"


@given(n=st.integers(1, 5), dim=features, idx_shape=small_batch, data=st.data(), pad=st.booleans())
def test_embedding_gradients(device, n, dim, idx_shape, data, pad):
    idx = data.draw(mst.tensors(shape=idx_shape, dtype="int64", min_value=0, max_value=n - 1, device=device))
    emb = nn.Embedding(n, dim, padding_idx=(n - 1 if pad else None)).double().to(device)
    if not pad:
        check_module_grads(emb, idx)
        return

    class PaddingMasked(nn.Module):
        """Zero the padding positions' outputs: then the true gradient of the padding row is 0,
        which is exactly what padding_idx promises, and finite differences can check it."""

        def __init__(self):
            super().__init__()
            self.emb = emb

        def forward(self, i):
            keep = mg.tensor((i.numpy() != n - 1)[..., None].astype("float64"), device=device)
            return self.emb(i) * keep

    check_module_grads(PaddingMasked(), idx)


def test_embedding_matches_torch():
    torch = pytest.importorskip("torch")
    emb = nn.Embedding(7, 3, padding_idx=2).double()
    ref = torch.nn.Embedding(7, 3, padding_idx=2).double()
    emb.load_state_dict(ref.state_dict())
    idx = np.array([[0, 2, 6], [2, 6, 6]])
    ym, yt = emb(mg.tensor(idx)), ref(torch.tensor(idx))
    np.testing.assert_array_equal(ym.numpy(), yt.detach().numpy())
    g = np.random.default_rng(0).standard_normal(ym.shape)
    ym.backward(mg.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(emb.weight.grad.numpy(), ref.weight.grad.numpy(), rtol=1e-12)


def test_embedding_errors_and_from_pretrained():
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(4, 2, padding_idx=4)
    with pytest.raises(IndexError, match="out of range"):
        nn.Embedding(4, 2)(mg.tensor([4]))
    with pytest.raises(TypeError, match="integers"):
        nn.Embedding(4, 2)(mg.tensor([1.0]))
    table = np.arange(6.0).reshape(3, 2)
    emb = nn.Embedding.from_pretrained(table)
    assert not emb.weight.requires_grad and emb.weight.dtype == np.float64
    np.testing.assert_array_equal(emb(mg.tensor([2, 0])).numpy(), table[[2, 0]])
    assert nn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad


# ---------------------------------------------------------------- LayerNorm
def layer_norm_composed(x, shape, weight, bias, eps):
    """The readable reference: LayerNorm from primitive ops (mean, var(correction=0), sqrt)."""
    dims = tuple(range(x.ndim - len(shape), x.ndim))
    mu = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, keepdim=True, correction=0)
    y = (x - mu) / (var + eps).sqrt()
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


ln_cases = st.tuples(mst.shapes(min_dims=0, max_dims=2, max_side=3), mst.shapes(min_dims=1, max_dims=2, max_side=4))


@given(case=ln_cases, affine=st.sampled_from(["both", "weight", "none"]), seed=st.integers(0, 2**16))
def test_layer_norm_gradients(device, case, affine, seed):
    lead, norm = case
    ln = nn.LayerNorm(norm, elementwise_affine=affine != "none", bias=affine == "both").double().to(device)
    if affine != "none":  # move away from the init (1, 0) so every term of the backward matters
        with mg.no_grad():
            for i, p in enumerate(ln.parameters()):
                p.copy_(randn(p.shape, seed + 1 + i, device))
    x = randn(lead + norm, seed, device).requires_grad_()
    check_module_grads(ln, x)


@given(case=ln_cases, which=st.sampled_from(["both", "weight", "bias", "none"]), seed=st.integers(0, 2**16))
def test_fused_layer_norm_agrees_with_the_composed_version(device, case, which, seed):
    """The fused op (hand-written backward) against the readable composition: values and all gradients."""
    lead, norm = case
    x = randn(lead + norm, seed, device).requires_grad_()
    w = randn(norm, seed + 1, device).requires_grad_() if which in ("both", "weight") else None
    b = randn(norm, seed + 2, device).requires_grad_() if which in ("both", "bias") else None
    x2, w2, b2 = (None if t is None else mg.tensor(t.numpy(), device=device, requires_grad=True) for t in (x, w, b))
    y = mg.F.layer_norm(x, norm, w, b, 1e-5)
    y2 = layer_norm_composed(x2, norm, w2, b2, 1e-5)
    np.testing.assert_allclose(y.numpy(), y2.numpy(), rtol=1e-10, atol=1e-12)
    g = randn(y.shape, seed + 3, device)
    y.backward(g)
    y2.backward(g)
    for a, c in ((x, x2), (w, w2), (b, b2)):
        if a is not None:
            np.testing.assert_allclose(a.grad.numpy(), c.grad.numpy(), rtol=1e-8, atol=1e-10)
    if which == "bias":  # gradcheck the one affine layout the module cannot build
        gradcheck(lambda x_, b_: mg.F.layer_norm(x_, norm, None, b_), x, b)


@pytest.mark.parametrize("shape,norm", [((4, 6), (6,)), ((2, 3, 5), (3, 5)), ((7,), (7,))])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_matches_torch(shape, norm, affine):
    torch = pytest.importorskip("torch")
    ln = nn.LayerNorm(norm, elementwise_affine=affine)
    ref = torch.nn.LayerNorm(norm, elementwise_affine=affine)
    if affine:
        with torch.no_grad():
            ref.weight.normal_()
            ref.bias.normal_()
        ln.load_state_dict(ref.state_dict())
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32) * 3 + 1
    xm, xt = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ym, yt = ln(xm), ref(xt)
    assert ym.dtype == np.float32
    np.testing.assert_allclose(ym.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    g = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    ym.backward(mg.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    if affine:
        np.testing.assert_allclose(ln.weight.grad.numpy(), ref.weight.grad.numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(ln.bias.grad.numpy(), ref.bias.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_layer_norm_constant_rows_match_torch():
    """var = 0: the output is the bias and the input gradient is finite (eps keeps rstd finite)."""
    torch = pytest.importorskip("torch")
    x = np.full((2, 4), 3.0)
    xm, xt = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ym = mg.F.layer_norm(xm, (4,))
    yt = torch.nn.functional.layer_norm(xt, (4,))
    np.testing.assert_allclose(ym.numpy(), yt.detach().numpy(), atol=1e-12)
    g = np.arange(8.0).reshape(2, 4)
    ym.backward(mg.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-8)


def test_layer_norm_module_and_errors():
    ln = nn.LayerNorm(4)
    assert ln.weight.numpy().tolist() == [1.0] * 4 and ln.bias.numpy().tolist() == [0.0] * 4
    y = ln(mg.randn(3, 4) * 5 + 2).numpy()
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(-1), 1, atol=1e-3)
    assert repr(ln) == "LayerNorm((4,), eps=1e-05, elementwise_affine=True, bias=True)"  # torch 2.13 prints bias
    assert nn.LayerNorm(4, elementwise_affine=False).num_parameters() == 0
    assert [n for n, _ in nn.LayerNorm(4, bias=False).named_parameters()] == ["weight"]
    with pytest.raises(ValueError, match="normalized_shape"):
        ln(mg.randn(3, 5))
    with pytest.raises(TypeError, match="floating"):
        ln(mg.tensor([[1, 2, 3, 4]]))
    with pytest.raises(TypeError, match="dtype"):
        ln(mg.randn(3, 4, dtype="float64"))


# ---------------------------------------------------------------- Dropout
def test_dropout_training_zeroes_about_p_and_rescales():
    drop = nn.Dropout(0.3)
    x = mg.ones(100, 100, requires_grad=True)
    y = drop(x)
    vals = y.numpy()
    assert abs((vals == 0).mean() - 0.3) < 0.03
    np.testing.assert_allclose(vals[vals != 0], 1 / 0.7, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), vals)  # same mask, same scale
    assert y.dtype == np.float32


def test_dropout_eval_is_the_identity():
    drop = nn.Dropout(0.5)
    model = nn.Sequential(nn.Linear(3, 3), drop)
    x = mg.randn(50, 3)
    model.eval()
    a, b = model(x).numpy(), model(x).numpy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, model[0](x).numpy())
    model.train()
    assert (model(x).numpy() == 0).any()


def test_dropout_edge_probabilities():
    x = mg.randn(10)
    assert nn.Dropout(0.0)(x) is x
    assert not nn.Dropout(1.0)(x).numpy().any()
    with pytest.raises(ValueError, match="probability"):
        nn.Dropout(1.5)
    assert repr(nn.Dropout(0.25)) == "Dropout(p=0.25, inplace=False)"  # torch's repr


# ---------------------------------------------------------------- activations
ACTIVATIONS = [
    (nn.Tanh, {}, "tanh"),
    (nn.ReLU, {}, "relu"),
    (nn.Sigmoid, {}, "sigmoid"),
    (nn.Softplus, {}, "softplus"),
    (nn.Softplus, {"beta": 2.0, "threshold": 3.0}, "softplus"),
    (nn.Softmax, {"dim": -1}, "softmax"),
    (nn.LogSoftmax, {"dim": 0}, "log_softmax"),
    (nn.Identity, {}, None),
]


@pytest.mark.parametrize("cls,kwargs,_name", ACTIVATIONS)
@given(data=st.data())
def test_activation_gradients(device, cls, kwargs, _name, data):
    # avoid the kinks: relu at 0, the Softplus(beta=2, threshold=3) switch at x = 1.5
    x = data.draw(mst.tensors(shape=mst.shapes(min_dims=1, max_dims=3, max_side=4), device=device,
                              requires_grad=True, avoid=[0.0, 1.5]))
    gradcheck(cls(**kwargs), x)


@pytest.mark.parametrize("cls,kwargs,name", [a for a in ACTIVATIONS if a[2] is not None])
def test_activations_match_torch(cls, kwargs, name):
    torch = pytest.importorskip("torch")
    ref = getattr(torch.nn, cls.__name__)(**kwargs)
    x = np.linspace(-30, 30, 60).reshape(3, 20).astype(np.float32)
    xm, xt = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ym, yt = cls(**kwargs)(xm), ref(xt)
    assert ym.dtype == np.float32
    np.testing.assert_allclose(ym.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    g = np.cos(x)
    ym.backward(mg.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_activation_modules_and_identity():
    x = mg.randn(2, 3)
    assert nn.Identity(54, unused="yes")(x) is x
    assert nn.Flatten()(mg.randn(2, 3, 4)).shape == (2, 12)
    assert repr(nn.Softplus()) == "Softplus(beta=1.0, threshold=20.0)"
    with pytest.raises(ValueError, match="beta"):
        nn.Softplus(beta=0)


# ---------------------------------------------------------------- containers
def test_sequential():
    seq = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[1], nn.Tanh) and seq[-1] is seq[2]
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    x = mg.randn(4, 2)
    np.testing.assert_allclose(seq(x).numpy(), seq[2](seq[1](seq[0](x))).numpy())
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is seq[0]
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and [type(m).__name__ for m in seq] == ["Linear", "Tanh", "Linear", "Sigmoid"]
    seq[1] = nn.ReLU()
    assert isinstance(seq[1], nn.ReLU)
    named = nn.Sequential(OrderedDict([("enc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert [n for n, _ in named.named_parameters()] == ["enc.weight", "enc.bias"] and named.enc is named[0]
    with pytest.raises(IndexError, match="out of range"):
        seq[7]
    with pytest.raises(TypeError, match="not a Module"):
        nn.Sequential(nn.Tanh(), lambda x: x)


def test_module_list():
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(ml) == 3 and len(list(ml.parameters())) == 6
    ml.append(nn.Linear(2, 5))
    ml.insert(0, nn.Tanh())
    assert [type(m).__name__ for m in ml] == ["Tanh", "Linear", "Linear", "Linear", "Linear"]
    assert [n for n, _ in ml.named_parameters()][:2] == ["1.weight", "1.bias"]
    del ml[0]
    assert isinstance(ml[0], nn.Linear) and ml[-1].out_features == 5
    ml[0] = nn.ReLU()
    assert len(list(ml.parameters())) == 6
    assert isinstance(ml[1:], nn.ModuleList) and len(ml[1:]) == 3
    ml.extend([nn.Sigmoid()])
    assert len(ml) == 5
    with pytest.raises(NotImplementedError, match="iterate"):
        ml(mg.randn(2))


def test_module_dict():
    md = nn.ModuleDict({"enc": nn.Linear(2, 3), "act": nn.Tanh()})
    assert list(md.keys()) == ["enc", "act"] and "enc" in md and len(md) == 2
    assert [n for n, _ in md.named_parameters()] == ["enc.weight", "enc.bias"]
    md["dec"] = nn.Linear(3, 2)
    assert list(md) == ["enc", "act", "dec"]
    assert md.pop("act").__class__ is nn.Tanh and "act" not in md
    assert [k for k, _ in md.items()] == ["enc", "dec"] and len(list(md.values())) == 2
    with pytest.raises(KeyError, match="no module named 'nope'"):
        md["nope"]
    with pytest.raises(KeyError, match="'.'"):
        md["a.b"] = nn.Tanh()
    md.clear()
    assert len(md) == 0 and md.num_parameters() == 0


# ---------------------------------------------------------------- losses
@st.composite
def class_problems(draw, device, ignore=True):
    """logits (..., C) float64 and integer targets (...), sometimes with ignored positions."""
    batch = draw(mst.shapes(min_dims=0, max_dims=2, max_side=4))
    C = draw(st.integers(1, 4))
    logits = draw(mst.tensors(shape=batch + (C,), device=device, requires_grad=True))
    lo = -1 if ignore else 0
    t = draw(mst.tensors(shape=batch, dtype="int64", min_value=lo, max_value=C - 1, device=device))
    return logits, t


@given(data=st.data(), reduction=st.sampled_from(["mean", "sum", "none"]),
       smoothing=st.sampled_from([0.0, 0.1]))
def test_cross_entropy_loss_gradients(device, data, reduction, smoothing):
    logits, target = data.draw(class_problems(device))
    loss = nn.CrossEntropyLoss(ignore_index=-1, reduction=reduction, label_smoothing=smoothing)
    gradcheck(lambda z: loss(z, target), logits)


@given(data=st.data(), reduction=st.sampled_from(["mean", "sum", "none"]))
def test_nll_loss_gradients(device, data, reduction):
    logits, target = data.draw(class_problems(device))
    loss = nn.NLLLoss(ignore_index=-1, reduction=reduction)
    gradcheck(lambda z: loss(nn.LogSoftmax()(z), target), logits)


@given(shape=mst.shapes(max_dims=3, max_side=4), reduction=st.sampled_from(["mean", "sum", "none"]),
       seed=st.integers(0, 2**16))
def test_mse_and_bce_loss_gradients(device, shape, reduction, seed):
    x = randn(shape, seed, device).requires_grad_()
    y = randn(shape, seed + 1, device).requires_grad_()
    p = mg.tensor(np.random.default_rng(seed).random(shape), device=device, requires_grad=True)
    gradcheck(nn.MSELoss(reduction=reduction), x, y)
    gradcheck(nn.BCEWithLogitsLoss(reduction=reduction), x, p)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_loss_matches_torch_with_class_dim_last(reduction, smoothing):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, 4, 5)) * 3  # (batch, time, C): classes LAST
    target = rng.integers(0, 5, (3, 4))
    target[0, 1] = target[2, 3] = -100  # padding positions
    zm = mg.tensor(logits, requires_grad=True)
    zt = torch.tensor(logits, requires_grad=True)
    lm = nn.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing)(zm, mg.tensor(target))
    lt = torch.nn.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing)(
        zt.permute(0, 2, 1), torch.tensor(target))  # torch wants (N, C, T)
    np.testing.assert_allclose(lm.numpy(), lt.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(lm.shape)
    lm.backward(mg.tensor(g))
    lt.backward(torch.tensor(g))
    np.testing.assert_allclose(zm.grad.numpy(), zt.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_nll_mse_bce_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 4))
    t_cls = rng.integers(0, 4, 6)
    t_prob = rng.random((6, 4))
    cases = [
        (nn.NLLLoss(), torch.nn.NLLLoss(), t_cls),
        (nn.MSELoss(), torch.nn.MSELoss(), t_prob),
        (nn.MSELoss(reduction="sum"), torch.nn.MSELoss(reduction="sum"), t_prob),
        (nn.BCEWithLogitsLoss(), torch.nn.BCEWithLogitsLoss(), t_prob),
        (nn.BCEWithLogitsLoss(reduction="none"), torch.nn.BCEWithLogitsLoss(reduction="none"), t_prob),
    ]
    for ours, theirs, target in cases:
        xm, xt = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        lm, lt = ours(xm, mg.tensor(target)), theirs(xt, torch.tensor(target))
        np.testing.assert_allclose(lm.numpy(), lt.detach().numpy(), rtol=1e-10, err_msg=repr(ours))
        lm.sum().backward()
        lt.sum().backward()
        np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-14, err_msg=repr(ours))


def test_losses_validate_arguments():
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=1.0)
    with pytest.raises(ValueError, match="class dimension is last"):
        nn.CrossEntropyLoss()(mg.randn(2, 5, 3), mg.tensor([[0, 1, 2], [0, 1, 2]]))
    with pytest.raises(IndexError, match="out of range"):
        nn.CrossEntropyLoss()(mg.randn(2, 3), mg.tensor([0, 3]))
    assert repr(nn.CrossEntropyLoss(label_smoothing=0.1)) == \
        "CrossEntropyLoss(ignore_index=-100, reduction='mean', label_smoothing=0.1)"
    assert repr(nn.MSELoss()) == "MSELoss(reduction='mean')"
