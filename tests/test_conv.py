"""conv1d, max_pool1d, avg_pool1d, adaptive_avg_pool1d and their nn layers, (N, C, L) layout as torch.

Values against float64 NumPy references written as the definitions (explicit loops over
output positions and kernel taps), gradients against finite differences (`check_op`) over
generated shapes, strides, paddings, dilations and groups; parity with torch in float32 and
float64 (outputs and every gradient); torch state dicts load into nn.Conv1d and back; errors name the op.
"""
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad import nn
from minigrad.ops.conv import AvgPool1d, Conv1d, MaxPool1d

from opcheck import check_op, draw_array

GRADIENT_TESTED = [Conv1d, MaxPool1d, AvgPool1d]


# ---------------------------------------------------------------- NumPy references (the definitions)
def np_conv1d(x, w, b, stride, pad, dilation, groups):
    """y[n, o, l] = b[o] + sum_{c, j} w[o, c, j] xpad[n, g(o) * Cg + c, l * stride + j * dilation]."""
    n, c, length = x.shape
    o, cg, k = w.shape
    xpad = np.pad(x, ((0, 0), (0, 0), pad))
    l_out = (xpad.shape[-1] - dilation * (k - 1) - 1) // stride + 1
    y = np.zeros((n, o, l_out))
    og = o // groups
    for oc in range(o):
        chans = slice((oc // og) * cg, (oc // og + 1) * cg)
        for pos in range(l_out):
            taps = [pos * stride + j * dilation for j in range(k)]
            y[:, oc, pos] = (xpad[:, chans][:, :, taps] * w[oc]).sum(axis=(1, 2))
    return y if b is None else y + b[:, None]


def torch_out_len(length, k_eff, stride, pad, ceil_mode):
    """The output length from torch's documentation (floor or ceil), minus a last window starting in the right pad."""
    rounding = math.ceil if ceil_mode else math.floor
    out = rounding((length + 2 * pad - k_eff) / stride) + 1
    if ceil_mode and (out - 1) * stride >= length + pad:
        out -= 1
    return out


def np_max_pool1d(x, k, stride, pad, dilation, ceil_mode):
    length = x.shape[-1]
    out = torch_out_len(length, dilation * (k - 1) + 1, stride, pad, ceil_mode)
    y = np.empty(x.shape[:-1] + (out,))
    for pos in range(out):
        taps = [pos * stride - pad + j * dilation for j in range(k)]
        taps = [t for t in taps if 0 <= t < length]  # padding is -inf: never the max
        # (a dilated window can hold padding only: its max is -inf, as in torch)
        y[..., pos] = x[..., taps].max(axis=-1) if taps else -np.inf
    return y


def np_avg_pool1d(x, k, stride, pad, ceil_mode, count_include_pad):
    length = x.shape[-1]
    out = torch_out_len(length, k, stride, pad, ceil_mode)
    y = np.empty(x.shape[:-1] + (out,))
    for pos in range(out):
        start = pos * stride - pad
        taps = [t for t in range(start, start + k) if 0 <= t < length]
        div = (min(start + k, length + pad) - start) if count_include_pad else len(taps)
        y[..., pos] = x[..., taps].sum(axis=-1) / div
    return y


def np_adaptive_avg_pool1d(x, out):
    length = x.shape[-1]
    return np.stack([x[..., (i * length) // out: -(-((i + 1) * length) // out)].mean(axis=-1) for i in range(out)],
                    axis=-1)


# ---------------------------------------------------------------- generated cases
@st.composite
def conv_cases(draw):
    groups = draw(st.integers(1, 2))
    cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    k, stride, dilation = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    padding = draw(st.sampled_from([0, 1, 2, "valid"] + (["same"] if stride == 1 else [])))
    if padding == "same":
        total = dilation * (k - 1)
        pad = (total // 2, total - total // 2)
    else:
        pad = (0, 0) if padding == "valid" else (padding, padding)
    min_len = max(1, dilation * (k - 1) + 1 - sum(pad))
    length = draw(st.integers(min_len, 8))
    batch = draw(st.sampled_from([None, 1, 2]))  # None: unbatched (C, L)
    x_shape = ((batch,) if batch else ()) + (groups * cg, length)
    return dict(x_shape=x_shape, w_shape=(groups * og, cg, k), bias=draw(st.booleans()), stride=stride,
                padding=padding, pad=pad, dilation=dilation, groups=groups)


@given(data=st.data(), case=conv_cases())
def test_conv1d_values_and_gradients(device, data, case):
    x = draw_array(data, case["x_shape"], device)
    w = draw_array(data, case["w_shape"], device)
    arrays = [x, w] + ([draw_array(data, (case["w_shape"][0],), device)] if case["bias"] else [])
    kw = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"], groups=case["groups"])

    def ref(x, w, b=None):
        batched = x if x.ndim == 3 else x[None]
        y = np_conv1d(batched, w, b, case["stride"], case["pad"], case["dilation"], case["groups"])
        return y if x.ndim == 3 else y[0]

    check_op(lambda *t: F.conv1d(t[0], t[1], t[2] if len(t) > 2 else None, **kw), ref, arrays, device)


def spaced(data, shape):
    """Distinct values 0.37 apart in random order: no ties, so max is differentiable for finite differences."""
    n = int(np.prod(shape))
    return np.asarray(data.draw(st.permutations(range(n))), dtype=np.float64).reshape(shape) * 0.37 - n * 0.18


@st.composite
def pool_cases(draw, with_dilation):
    k = draw(st.integers(1, 4))
    dilation = draw(st.integers(1, 2)) if with_dilation else 1
    pad = draw(st.integers(0, k // 2))
    stride = draw(st.sampled_from([None, 1, 2, 3]))
    length = draw(st.integers(max(1, dilation * (k - 1) + 1 - 2 * pad), 8))
    batch = draw(st.sampled_from([None, 1, 2]))
    shape = ((batch,) if batch else ()) + (draw(st.integers(1, 3)), length)
    return dict(shape=shape, k=k, stride=stride, pad=pad, dilation=dilation, ceil_mode=draw(st.booleans()))


@given(data=st.data(), case=pool_cases(with_dilation=True))
def test_max_pool1d_values_and_gradients(device, data, case):
    x = spaced(data, case["shape"])
    stride = case["stride"] or case["k"]
    out = torch_out_len(case["shape"][-1], case["dilation"] * (case["k"] - 1) + 1, stride, case["pad"],
                        case["ceil_mode"])
    # a dilated window of padding only gives -inf (test_max_pool1d_window_of_padding_only): no finite differences
    assume(all(any(0 <= pos * stride - case["pad"] + j * case["dilation"] < case["shape"][-1]
                   for j in range(case["k"])) for pos in range(out)))
    check_op(lambda t: F.max_pool1d(t, case["k"], case["stride"], case["pad"], case["dilation"], case["ceil_mode"]),
             lambda a: np_max_pool1d(a, case["k"], stride, case["pad"], case["dilation"], case["ceil_mode"]),
             [x], device)


def test_max_pool1d_window_of_padding_only(device):
    """Dilation 2 and padding 1 on one element: the window's taps (-1, 1) are both padding: -inf, gradient 0."""
    torch = pytest.importorskip("torch")
    x = mg.tensor([[0.5]], device=device, requires_grad=True)
    tx = torch.tensor([[0.5]], requires_grad=True)
    y, ty = F.max_pool1d(x, 2, None, 1, 2), torch.nn.functional.max_pool1d(tx, 2, None, 1, 2)
    np.testing.assert_array_equal(y.numpy(), [[-np.inf]])
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0]])
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


@given(data=st.data(), case=pool_cases(with_dilation=False), count_include_pad=st.booleans())
def test_avg_pool1d_values_and_gradients(device, data, case, count_include_pad):
    x = draw_array(data, case["shape"], device)
    stride = case["stride"] or case["k"]
    check_op(lambda t: F.avg_pool1d(t, case["k"], case["stride"], case["pad"], case["ceil_mode"], count_include_pad),
             lambda a: np_avg_pool1d(a, case["k"], stride, case["pad"], case["ceil_mode"], count_include_pad),
             [x], device)


@given(data=st.data(), shape=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 8)),
       out=st.integers(1, 9))
def test_adaptive_avg_pool1d_values_and_gradients(device, data, shape, out):
    x = draw_array(data, shape, device)
    check_op(lambda t: F.adaptive_avg_pool1d(t, out), lambda a: np_adaptive_avg_pool1d(a, out), [x], device)


# ---------------------------------------------------------------- parity with torch
torch = pytest.importorskip("torch")
TF = torch.nn.functional


def torch_parity(mg_fn, torch_fn, arrays, device, dtype):
    """Same inputs and cotangent in both libraries: outputs and every input gradient agree."""
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-5)
    arrays = [a.astype(dtype) for a in arrays]
    ms = [mg.tensor(a, device=device, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    mo, to = mg_fn(*ms), torch_fn(*ts)
    assert mo.dtype == dtype and mo.shape == tuple(to.shape)
    np.testing.assert_allclose(mo.numpy(), to.detach().numpy(), **tol)
    v = np.random.default_rng(5).standard_normal(to.shape).astype(dtype)
    mo.backward(mg.tensor(v, device=device))
    to.backward(torch.tensor(v))
    for k, (m, t) in enumerate(zip(ms, ts)):
        assert m.grad is not None and m.grad.dtype == dtype, f"input {k}"
        np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), **tol, err_msg=f"gradient of input {k}")


rng = np.random.default_rng(0)


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's note about its own padded copy
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape,w_shape,kw", [
    ((2, 4, 9), (6, 2, 3), dict(stride=2, padding=1, dilation=2, groups=2)),
    ((3, 5), (4, 3, 2), dict(padding="same")),
    ((1, 3, 7), (3, 1, 4), dict(padding="same", dilation=2, groups=3)),
    ((2, 2, 6), (4, 2, 6), dict(padding="valid")),
    ((0, 2, 6), (4, 2, 3), dict(stride=3)),
])
def test_conv1d_matches_torch(device, dtype, x_shape, w_shape, kw):
    arrays = [rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])]
    torch_parity(lambda x, w, b: F.conv1d(x, w, b, **kw), lambda x, w, b: TF.conv1d(x, w, b, **kw), arrays, device,
                 dtype)
    torch_parity(lambda x, w: F.conv1d(x, w, **kw), lambda x, w: TF.conv1d(x, w, **kw), arrays[:2], device, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", [dict(kernel_size=3), dict(kernel_size=3, stride=1, padding=1),
                                dict(kernel_size=2, stride=2, padding=1, ceil_mode=True),
                                dict(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True)])
def test_max_pool1d_matches_torch_including_ties(device, dtype, kw):
    ties = rng.integers(0, 3, (2, 3, 8)).astype(np.float64)  # many equal values: the first maximum gets dy
    torch_parity(lambda x: F.max_pool1d(x, **kw), lambda x: TF.max_pool1d(x, **kw), [ties], device, dtype)
    torch_parity(lambda x: F.max_pool1d(x, **kw), lambda x: TF.max_pool1d(x, **kw), [rng.standard_normal((3, 7))],
                 device, dtype)
    x = mg.tensor(ties.astype(dtype), device=device)
    y, idx = F.max_pool1d(x, return_indices=True, **kw)
    ty, tidx = TF.max_pool1d(torch.tensor(ties.astype(dtype)), return_indices=True, **kw)
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    np.testing.assert_array_equal(y.numpy(), ty.numpy())


def test_max_pool1d_tie_gradient_goes_to_the_first_maximum(device):
    x = mg.tensor([[[1.0, 3.0, 3.0, 2.0, 3.0, 3.0]]], device=device, requires_grad=True)
    F.max_pool1d(x, 3, stride=1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[[0, 2, 1, 0, 1, 0]]])  # torch's values


def test_max_pool1d_propagates_nan(device):
    y = F.max_pool1d(mg.tensor([[[1.0, float("nan"), 3.0, 4.0]]], device=device), 2)
    assert np.isnan(y.numpy()[0, 0, 0]) and y.numpy()[0, 0, 1] == 4.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", [dict(kernel_size=3), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True),
                                dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
                                dict(kernel_size=4, stride=1, padding=2, count_include_pad=False)])
def test_avg_pool1d_matches_torch(device, dtype, kw):
    torch_parity(lambda x: F.avg_pool1d(x, **kw), lambda x: TF.avg_pool1d(x, **kw), [rng.standard_normal((2, 3, 7))],
                 device, dtype)
    torch_parity(lambda x: F.avg_pool1d(x, **kw), lambda x: TF.avg_pool1d(x, **kw), [rng.standard_normal((3, 5))],
                 device, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("length,out", [(5, 3), (5, 7), (8, 4), (6, 1)])
def test_adaptive_avg_pool1d_matches_torch(device, dtype, length, out):
    torch_parity(lambda x: F.adaptive_avg_pool1d(x, out), lambda x: TF.adaptive_avg_pool1d(x, out),
                 [rng.standard_normal((2, 3, length))], device, dtype)


# ---------------------------------------------------------------- nn layers
@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1, dilation=2, groups=2, bias=False),
                                dict(padding="same", padding_mode="reflect"),
                                dict(padding=2, padding_mode="replicate"), dict(padding=1, padding_mode="circular"),
                                dict(padding="same", dilation=2, padding_mode="zeros")])
def test_conv1d_layer_matches_torch_and_state_dicts_round_trip(device, kw):
    ref = torch.nn.Conv1d(4, 6, 3, **kw).double()
    ours = nn.Conv1d(4, 6, 3, **kw).double().to(device)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict())  # torch -> minigrad
    x = rng.standard_normal((2, 4, 7))
    xm, xt = mg.tensor(x, device=device, requires_grad=True), torch.tensor(x, requires_grad=True)
    ym, yt = ours(xm), ref(xt)
    np.testing.assert_allclose(ym.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(yt.shape)
    ym.backward(mg.tensor(g, device=device))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(dict(ours.named_parameters())[name].grad.numpy(), p.grad.numpy(),
                                   rtol=1e-10, atol=1e-12, err_msg=name)
    back = torch.nn.Conv1d(4, 6, 3, **kw).double()  # minigrad -> torch
    back.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    np.testing.assert_allclose(back(xt).detach().numpy(), ym.numpy(), rtol=1e-10, atol=1e-12)
    assert repr(ours) == repr(ref)
    assert ours.padding == ref.padding and ours.kernel_size == ref.kernel_size and ours.stride == ref.stride


def test_conv1d_default_init_is_torchs():
    conv = nn.Conv1d(8, 300, 5, groups=2)
    assert conv.weight.shape == (300, 4, 5) and conv.bias.shape == (300,) and conv.weight.dtype == np.float32
    bound = 1 / math.sqrt(4 * 5)  # fan_in = in_channels / groups * kernel_size
    w = conv.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(conv.bias.numpy()).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.03 * bound  # U(-b, b)
    assert [n for n, _ in nn.Conv1d(2, 2, 3, bias=False).named_parameters()] == ["weight"]


def test_conv1d_unbatched_and_float32(device):
    conv = nn.Conv1d(3, 2, 3, padding=1).to(device)
    x = mg.randn(3, 5, device=device, requires_grad=True)
    y = conv(x)
    assert y.shape == (2, 5) and y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32 and conv.weight.grad.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), conv(x.reshape(1, 3, 5)).numpy()[0], rtol=1e-6)


def test_pool_layers_match_torch():
    x = rng.standard_normal((2, 3, 9))
    xt = torch.tensor(x)
    for ours, ref in [(nn.MaxPool1d(3, 2, 1, ceil_mode=True), torch.nn.MaxPool1d(3, 2, 1, ceil_mode=True)),
                      (nn.MaxPool1d(2), torch.nn.MaxPool1d(2)),
                      (nn.AvgPool1d(3, 2, 1, count_include_pad=False), torch.nn.AvgPool1d(3, 2, 1, count_include_pad=False)),
                      (nn.AdaptiveAvgPool1d(4), torch.nn.AdaptiveAvgPool1d(4))]:
        np.testing.assert_allclose(ours(mg.tensor(x)).numpy(), ref(xt).numpy(), rtol=1e-12, err_msg=repr(ref))
        assert repr(ours) == repr(ref)
    y, idx = nn.MaxPool1d(2, return_indices=True)(mg.tensor(x))
    np.testing.assert_array_equal(idx.numpy(), torch.nn.MaxPool1d(2, return_indices=True)(xt)[1].numpy())


def test_conv_net_trains(device):
    """A small Conv1d -> ReLU -> MaxPool -> Conv1d -> AdaptiveAvgPool classifier fits a toy problem."""
    mg.manual_seed(0)
    net = nn.Sequential(nn.Conv1d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2), nn.Conv1d(4, 2, 3, padding=1),
                        nn.AdaptiveAvgPool1d(1), nn.Flatten()).to(device)
    r = np.random.default_rng(0)
    x = r.standard_normal((32, 1, 8)).astype(np.float32)
    y = (x[:, 0, :4].sum(-1) > x[:, 0, 4:].sum(-1)).astype(np.int64)  # which half is larger
    xs, ys = mg.tensor(x, device=device), mg.tensor(y, device=device)
    opt = mg.optim.Adam(net.parameters(), lr=0.05)
    first = None
    for _ in range(60):
        loss = F.cross_entropy(net(xs), ys)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_conv1d_weight_gradient_uses_the_input_it_saw(device):
    """The op keeps its own copy of the input windows, so changing x afterwards cannot spoil dw."""
    x = mg.randn(1, 2, 5, device=device)
    w = mg.randn(3, 2, 2, device=device, requires_grad=True)
    F.conv1d(x, w).sum().backward()
    want = w.grad.numpy().copy()
    w.grad = None
    y = F.conv1d(x, w)
    x.add_(1.0)
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), want)


def test_conv1d_refuses_a_weight_changed_in_place_before_backward(device):
    x = mg.randn(1, 2, 5, device=device, requires_grad=True)
    w = mg.randn(3, 2, 2, device=device, requires_grad=True)
    y = F.conv1d(x, w)
    with mg.no_grad():
        w.mul_(2.0)  # the input gradient needs the old w
    with pytest.raises(RuntimeError, match="Conv1d.*modified in place"):
        y.sum().backward()


# ---------------------------------------------------------------- errors
def test_conv1d_errors_name_the_op(device):
    x = mg.randn(2, 4, 5, device=device)
    w = mg.randn(3, 4, 3, device=device)
    with pytest.raises(ValueError, match=r"conv1d: expected a 2-D .* or 3-D"):
        F.conv1d(mg.randn(2, 2, 4, 5, device=device), w)
    with pytest.raises(ValueError, match=r"conv1d: expected a 2-D .* or 3-D"):
        F.conv1d(mg.randn(5, device=device), w)
    with pytest.raises(ValueError, match=r"conv1d: weight .* expects input with 3 channels.* has 4"):
        F.conv1d(x, mg.randn(3, 3, 3, device=device))
    with pytest.raises(ValueError, match=r"conv1d: groups=2 must divide the out_channels"):
        F.conv1d(x, mg.randn(3, 2, 3, device=device), groups=2)
    with pytest.raises(ValueError, match=r"conv1d: weight .* groups=3 expects input with 6 channels"):
        F.conv1d(x, mg.randn(3, 2, 3, device=device), groups=3)
    with pytest.raises(ValueError, match=r"conv1d: the padded input length \(5\) is shorter than the dilated kernel"):
        F.conv1d(x, mg.randn(3, 4, 6, device=device))
    with pytest.raises(ValueError, match=r"conv1d: the padded input length \(7\) .* dilation 4"):
        F.conv1d(x, w, padding=1, dilation=4)
    with pytest.raises(ValueError, match="conv1d: padding='same' is not supported for strided"):
        F.conv1d(x, w, padding="same", stride=2)
    with pytest.raises(ValueError, match="conv1d: invalid padding string 'foo'"):
        F.conv1d(x, w, padding="foo")
    with pytest.raises(ValueError, match="conv1d: padding must be non-negative"):
        F.conv1d(x, w, padding=-1)
    with pytest.raises(ValueError, match="conv1d: stride must be positive"):
        F.conv1d(x, w, stride=0)
    with pytest.raises(ValueError, match="conv1d: expected padding to be a single integer"):
        F.conv1d(x, w, padding=(1, 2))
    with pytest.raises(ValueError, match=r"conv1d: bias must be a 1-D tensor of out_channels=3"):
        F.conv1d(x, w, mg.randn(4, device=device))
    with pytest.raises(ValueError, match=r"conv1d: weight must be a 3-D tensor"):
        F.conv1d(x, mg.randn(3, 4, device=device))
    with pytest.raises(TypeError, match="conv1d: expected a floating-point tensor"):
        F.conv1d(mg.ones(2, 4, 5, dtype="int64", device=device), w)
    with pytest.raises(TypeError, match=r"conv1d: weight float64\[3, 4, 3\].* must have the same dtype"):
        F.conv1d(x, w.double())


def test_conv1d_layer_errors():
    with pytest.raises(ValueError, match=r"Conv1d: in_channels \(3\) must be divisible by groups \(2\)"):
        nn.Conv1d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match=r"Conv1d: out_channels \(3\) must be divisible by groups \(2\)"):
        nn.Conv1d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="Conv1d: padding_mode must be one of"):
        nn.Conv1d(4, 4, 3, padding_mode="foo")
    with pytest.raises(ValueError, match="Conv1d: padding='same' is not supported for strided"):
        nn.Conv1d(4, 4, 3, padding="same", stride=2)
    with pytest.raises(ValueError, match="Conv1d: kernel_size must be positive"):
        nn.Conv1d(4, 4, 0)
    with pytest.raises(ValueError, match=r"conv1d: weight .* expects input with 4 channels.* has 3"):
        nn.Conv1d(4, 4, 3)(mg.randn(2, 3, 5))


def test_pool_errors_name_the_op(device):
    x = mg.randn(2, 4, 5, device=device)
    with pytest.raises(ValueError, match="max_pool1d: padding should be at most half of the kernel size"):
        F.max_pool1d(x, 3, padding=2)
    with pytest.raises(ValueError, match="avg_pool1d: padding should be at most half of the kernel size"):
        F.avg_pool1d(x, 3, padding=2)
    with pytest.raises(ValueError, match=r"max_pool1d: input float32\[2, 4, 5\].* too short"):
        F.max_pool1d(x, 6)
    with pytest.raises(ValueError, match=r"avg_pool1d: input float32\[2, 4, 5\].* too short"):
        F.avg_pool1d(x, 6)
    with pytest.raises(ValueError, match=r"max_pool1d: input float32\[2, 4, 5\].* too short"):
        F.max_pool1d(x, 3, dilation=3)
    with pytest.raises(ValueError, match="max_pool1d: expected a 2-D .* or 3-D"):
        F.max_pool1d(mg.randn(5, device=device), 2)
    with pytest.raises(ValueError, match="avg_pool1d: expected a 2-D .* or 3-D"):
        F.avg_pool1d(mg.randn(1, 2, 3, 5, device=device), 2)
    with pytest.raises(TypeError, match="max_pool1d: expected a floating-point tensor"):
        F.max_pool1d(mg.ones(2, 5, dtype="int64", device=device), 2)
    with pytest.raises(ValueError, match="max_pool1d: stride must be positive"):
        F.max_pool1d(x, 2, stride=0)
    with pytest.raises(ValueError, match="adaptive_avg_pool1d: output_size must be non-negative"):
        F.adaptive_avg_pool1d(x, -1)
    with pytest.raises(ValueError, match="adaptive_avg_pool1d: expected a 2-D .* or 3-D"):
        F.adaptive_avg_pool1d(mg.randn(5, device=device), 2)
