"""conv3d, conv_transpose3d, max/avg/adaptive 3-D pooling, 5-D interpolate and their nn layers,
(N, C, D, H, W) layout as torch.

torch (float64) is the reference: `check_op` compares values with it and gradients with finite
differences (and float32 stays float32) over generated shapes, strides, paddings, dilations, groups
and ceil_mode on every backend; `torch_parity` compares outputs and every gradient with torch's in
float64 (rtol 1e-7) and float32; the layers load torch's state dicts; bad arguments name the op.
"""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad import nn
from minigrad.ops.conv3d import AdaptiveMaxPool3d, DepthFold, DepthUnfold, MaxPool3d

from opcheck import check_op, device_regex, draw_array

torch = pytest.importorskip("torch")
TF = torch.nn.functional

# DepthUnfold / DepthFold: through conv3d, avg_pool3d and conv_transpose3d below
GRADIENT_TESTED = [DepthUnfold, DepthFold, MaxPool3d, AdaptiveMaxPool3d]

SAME = pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's note about its own padded copy


def t64(fn):
    """A NumPy reference from a torch function: float64 arrays in, float64 array(s) out."""
    def ref(*arrays):
        out = fn(*(torch.tensor(a) for a in arrays))
        return tuple(o.numpy() for o in out) if isinstance(out, tuple) else out.numpy()
    return ref


def torch_parity(mg_fn, torch_fn, arrays, device, dtype=np.float64):
    """Same inputs and cotangent in both libraries: outputs and every input gradient agree."""
    tol = dict(rtol=1e-7, atol=1e-10) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-5)
    arrays = [a.astype(dtype) for a in arrays]
    ms = [mg.tensor(a, device=device, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    mo, to = mg_fn(*ms), torch_fn(*ts)
    assert mo.dtype == dtype and mo.shape == tuple(to.shape)
    np.testing.assert_allclose(mo.numpy(), to.detach().numpy(), **tol)
    v = np.random.default_rng(5).standard_normal(tuple(to.shape)).astype(dtype)
    mo.backward(mg.tensor(v, device=device))
    to.backward(torch.tensor(v))
    for k, (m, t) in enumerate(zip(ms, ts)):
        assert m.grad is not None and m.grad.dtype == dtype, f"input {k}"
        np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), **tol, err_msg=f"gradient of input {k}")


def triple(draw, lo, hi):
    v = tuple(draw(st.integers(lo, hi)) for _ in range(3))
    return v[0] if draw(st.booleans()) and len(set(v)) == 1 else v


def as3(v):
    return v if isinstance(v, tuple) else (v,) * 3


# ---------------------------------------------------------------- convolution
@st.composite
def conv_cases(draw, transpose=False):
    groups = draw(st.integers(1, 2))
    cg, og = draw(st.integers(1, 3 // groups)), draw(st.integers(1, 3 // groups))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(3))
    stride, dilation = triple(draw, 1, 2), triple(draw, 1, 2)
    unbatched = draw(st.integers(0, 3)) == 0
    kw = dict(stride=stride, dilation=dilation, groups=groups)
    if transpose:
        pad = triple(draw, 0, 1)
        out_pad = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(as3(stride), as3(dilation)))
        kw.update(padding=pad, output_padding=out_pad)
        sides = tuple(draw(st.integers(1, 3)) for _ in range(3))
        outs = [(n - 1) * s - 2 * p + d * (k - 1) + o + 1 for n, s, p, d, k, o
                in zip(sides, as3(stride), as3(pad), as3(dilation), kernel, out_pad)]
        assume(min(outs) > 0)
        x_shape, w_shape = (groups * cg,) + sides, (groups * cg, og) + kernel
    else:
        pad = draw(st.sampled_from(["same", "valid", "int"]))
        if pad == "same":
            kw["stride"] = 1
        pad = triple(draw, 0, 2) if pad == "int" else pad
        kw["padding"] = pad
        k_eff = [d * (k - 1) + 1 for d, k in zip(as3(kw["dilation"]), kernel)]
        p = (0,) * 3 if isinstance(pad, str) else as3(pad)
        sides = tuple(draw(st.integers(max(1, k - 2 * q), max(1, k - 2 * q, 4))) for k, q in zip(k_eff, p))
        if pad == "valid":
            assume(all(s >= k for s, k in zip(sides, k_eff)))
        x_shape, w_shape = (groups * cg,) + sides, (groups * og, cg) + kernel
    if not unbatched:
        x_shape = (draw(st.integers(1, 2)),) + x_shape
    bias = draw(st.booleans())
    return x_shape, w_shape, bias, kw


@SAME
@given(data=st.data(), case=conv_cases())
def test_conv3d_values_and_gradients(device, data, case):
    x_shape, w_shape, bias, kw = case
    arrays = [draw_array(data, x_shape), draw_array(data, w_shape)]
    if bias:
        arrays.append(draw_array(data, (w_shape[0],)))
    check_op(lambda *t: F.conv3d(*t, **kw), t64(lambda *t: TF.conv3d(*t, **kw)), arrays, device)
    torch_parity(lambda *t: F.conv3d(*t, **kw), lambda *t: TF.conv3d(*t, **kw), arrays, device)


@given(data=st.data(), case=conv_cases(transpose=True))
def test_conv_transpose3d_values_and_gradients(device, data, case):
    x_shape, w_shape, bias, kw = case
    arrays = [draw_array(data, x_shape), draw_array(data, w_shape)]
    if bias:
        arrays.append(draw_array(data, (w_shape[1] * kw["groups"],)))
    check_op(lambda *t: F.conv_transpose3d(*t, **kw), t64(lambda *t: TF.conv_transpose3d(*t, **kw)), arrays, device)
    torch_parity(lambda *t: F.conv_transpose3d(*t, **kw), lambda *t: TF.conv_transpose3d(*t, **kw), arrays, device)


@SAME
@given(data=st.data(), case=conv_cases(), transpose=st.booleans())
def test_conv_float32_matches_torch(device, data, case, transpose):
    if transpose:
        case = data.draw(conv_cases(transpose=True))
    x_shape, w_shape, bias, kw = case
    arrays = [draw_array(data, x_shape), draw_array(data, w_shape)]
    fn, tfn = (F.conv_transpose3d, TF.conv_transpose3d) if transpose else (F.conv3d, TF.conv3d)
    torch_parity(lambda *t: fn(*t, **kw), lambda *t: tfn(*t, **kw), arrays, device, dtype=np.float32)


# ---------------------------------------------------------------- pooling
@st.composite
def pool_cases(draw, dilation=True):
    kernel = triple(draw, 1, 3)
    stride = draw(st.one_of(st.none(), st.just(triple(draw, 1, 2))))
    pad = tuple(draw(st.integers(0, k // 2)) for k in as3(kernel))
    # (dilation with padding can make windows of padding only, which the tests filter out: draw it rarely there)
    dil = tuple(draw(st.sampled_from([1, 2] if q == 0 else [1, 1, 1, 2])) for q in pad) if dilation else 1
    ceil_mode = draw(st.booleans())
    k_eff = [d * (k - 1) + 1 for d, k in zip(as3(dil), as3(kernel))]
    # (avg_pool3d, as torch's, needs every side >= the kernel's: mostly drawn so; the rest must be refused)
    low = [k if not dilation and draw(st.integers(0, 4)) else max(1, k - 2 * p) for k, p in zip(k_eff, pad)]
    sides = tuple(draw(st.integers(lo, max(lo, 4))) for lo in low)
    lead = draw(st.sampled_from([(1,), (2,), ()]))
    shape = lead + (draw(st.integers(1, 3)),) + sides
    kw = dict(kernel_size=kernel, stride=stride, padding=pad, ceil_mode=ceil_mode)
    if dilation:
        kw["dilation"] = dil
    return shape, kw


def every_window_sees_input(shape, kw):
    """No window of padding only (dilation allows them; torch's backward writes out of bounds for them)."""
    for a, n in enumerate(shape[-3:]):
        k, p, d = as3(kw["kernel_size"])[a], kw["padding"][a], as3(kw.get("dilation", 1))[a]
        s = as3(kw["stride"] if kw["stride"] is not None else kw["kernel_size"])[a]
        out = len(range(0, n + 2 * p - (d * (k - 1) + 1) + (s - 1 if kw["ceil_mode"] else 0) + 1, s))
        if kw["ceil_mode"] and (out - 1) * s >= n + p:
            out -= 1
        for o in range(out):
            if not any(0 <= o * s - p + i * d < n for i in range(k)):
                return False
    return True


@given(data=st.data(), case=pool_cases())
def test_max_pool3d_values_indices_and_gradients(device, data, case):
    shape, kw = case
    if not every_window_sees_input(shape, kw):  # (repaired rather than filtered: assume() rejected too many)
        kw = dict(kw, dilation=1)  # with padding <= kernel // 2, every undilated window reaches the input
    assert every_window_sees_input(shape, kw)
    # distinct values (a tie's gradient has no finite difference), at least 6/n apart by construction: a
    # shuffled ramp in [-3, 3) rather than filtered random draws (min_gap filtering rejected most arrays)
    n = int(np.prod(shape))
    x = ((np.array(data.draw(st.permutations(range(n)))) - n / 2) * (6.0 / n)).reshape(shape)
    x = x.astype(np.float32).astype(np.float64)  # (exactly representable in float32, as draw_array's)  # (distinct values: a tie's gradient has no finite difference)
    check_op(lambda t: F.max_pool3d(t, **kw, return_indices=True),
             t64(lambda t: TF.max_pool3d(t, **kw, return_indices=True)), [x], device)
    torch_parity(lambda t: F.max_pool3d(t, **kw), lambda t: TF.max_pool3d(t, **kw), [x], device)
    torch_parity(lambda t: nn.MaxPool3d(**kw)(t), lambda t: torch.nn.MaxPool3d(**kw)(t), [x], device, np.float32)


def test_max_pool3d_ties_go_to_the_first_maximum_as_torch(device):
    x = np.zeros((1, 2, 3, 4, 4))
    x[0, 1, 1:, 1:] = 1.0
    torch_parity(lambda t: F.max_pool3d(t, 2, 1, ceil_mode=True), lambda t: TF.max_pool3d(t, 2, 1, ceil_mode=True),
                 [x], device)
    _, idx = F.max_pool3d(mg.tensor(x, device=device), (2, 3, 2), padding=1, return_indices=True)
    _, tidx = TF.max_pool3d(torch.tensor(x), (2, 3, 2), padding=1, return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    assert idx.dtype == mg.int64


@given(data=st.data(), case=pool_cases(dilation=False), count_include_pad=st.booleans(),
       divisor=st.sampled_from([None, None, 3, -2]))
def test_avg_pool3d_values_and_gradients(device, data, case, count_include_pad, divisor):
    shape, kw = case
    kw = dict(kw, count_include_pad=count_include_pad, divisor_override=divisor)
    x = draw_array(data, shape)
    if any(n < k for n, k in zip(shape[-3:], as3(kw["kernel_size"]))):  # torch refuses these: so do we
        with pytest.raises(ValueError, match="avg_pool3d: input .* is smaller than kernel_size"):
            F.avg_pool3d(mg.tensor(x, device=device), **kw)
        return
    check_op(lambda t: F.avg_pool3d(t, **kw), t64(lambda t: TF.avg_pool3d(t, **kw)), [x], device)
    torch_parity(lambda t: F.avg_pool3d(t, **kw), lambda t: TF.avg_pool3d(t, **kw), [x], device)
    torch_parity(lambda t: nn.AvgPool3d(**kw)(t), lambda t: torch.nn.AvgPool3d(**kw)(t), [x], device, np.float32)


@st.composite
def adaptive_cases(draw):
    sides = tuple(draw(st.integers(1, 4)) for _ in range(3))
    out = tuple(draw(st.one_of(st.integers(1, 4), st.none())) for _ in range(3))
    if draw(st.integers(0, 3)) == 0:
        out = draw(st.integers(1, 3))
    lead = draw(st.sampled_from([(1,), (2,), ()]))
    return lead + (draw(st.integers(1, 3)),) + sides, out


@given(data=st.data(), case=adaptive_cases())
def test_adaptive_pools_values_indices_and_gradients(device, data, case):
    shape, out = case
    x = draw_array(data, shape, min_gap=1e-2)
    check_op(lambda t: F.adaptive_avg_pool3d(t, out), t64(lambda t: TF.adaptive_avg_pool3d(t, out)), [x], device)
    check_op(lambda t: F.adaptive_max_pool3d(t, out, True), t64(lambda t: TF.adaptive_max_pool3d(t, out, True)),
             [x], device)
    for mg_fn, t_fn in ((nn.AdaptiveAvgPool3d(out), torch.nn.AdaptiveAvgPool3d(out)),
                        (nn.AdaptiveMaxPool3d(out), torch.nn.AdaptiveMaxPool3d(out))):
        torch_parity(mg_fn, t_fn, [x], device)
        torch_parity(mg_fn, t_fn, [x], device, np.float32)


def test_adaptive_max_pool3d_nan_and_ties_as_torch(device):
    x = np.zeros((1, 1, 3, 3, 4))
    x[0, 0, 1, 1, 1] = x[0, 0, 2, 0, 3] = np.nan
    for out in (1, (2, 2, 3)):
        y, i = F.adaptive_max_pool3d(mg.tensor(x, device=device), out, return_indices=True)
        ty, ti = TF.adaptive_max_pool3d(torch.tensor(x), out, return_indices=True)
        np.testing.assert_array_equal(y.numpy(), ty.numpy())
        np.testing.assert_array_equal(i.numpy(), ti.numpy())


# ---------------------------------------------------------------- interpolate / Upsample with 5-D input
@given(data=st.data(), mode=st.sampled_from(["nearest", "nearest-exact", "trilinear", "area"]),
       align=st.booleans(), by_size=st.booleans())
def test_interpolate_5d_matches_torch(device, data, mode, align, by_size):
    shape = (1, 2) + tuple(data.draw(st.integers(1, 3)) for _ in range(3))
    x = draw_array(data, shape)
    kw = {"mode": mode}
    if by_size:
        kw["size"] = tuple(data.draw(st.integers(1, 5)) for _ in range(3))
    else:
        kw["scale_factor"] = data.draw(st.sampled_from([2.0, 1.5, (1.0, 2.5, 0.7)]))
        assume(all(int(n * s) > 0 for n, s in zip(shape[2:], as3(kw["scale_factor"]))))
    if mode == "trilinear":
        kw["align_corners"] = align
    check_op(lambda t: F.interpolate(t, **kw), t64(lambda t: TF.interpolate(t, **kw)), [x], device)
    torch_parity(lambda t: nn.Upsample(**kw)(t), lambda t: torch.nn.Upsample(**kw)(t), [x], device)


def test_norms_and_dropout_with_5d_input_as_torch(device):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 2, 3, 4))
    for make in (lambda lib: lib.nn.BatchNorm3d(3, dtype=lib.float64),
                 lambda lib: lib.nn.InstanceNorm3d(3, affine=True, dtype=lib.float64)):
        ours, theirs = make(mg).to(device), make(torch)
        torch_parity(ours, theirs, [x], device)
        ours.eval(), theirs.eval()
        torch_parity(ours, theirs, [x], device)
    drop = nn.Dropout3d(0.5)
    y = drop(mg.ones(4, 3, 2, 2, 2, device=device)).numpy().reshape(12, -1)
    assert set(np.unique(y)) <= {0.0, 2.0} and (y.std(axis=1) == 0).all()  # whole channels kept or zeroed
    assert drop(mg.ones(3, 2, 2, 2, device=device)).shape == (3, 2, 2, 2)


# ---------------------------------------------------------------- layers
@SAME
@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv3d_layer_loads_torch_weights_and_matches(device, padding_mode):
    kw = dict(kernel_size=(3, 2, 3), stride=(1, 2, 1), padding=(1, 0, 1), dilation=(1, 1, 2), groups=2,
              padding_mode=padding_mode)
    theirs = torch.nn.Conv3d(4, 6, **kw).double()
    ours = nn.Conv3d(4, 6, **kw)
    assert repr(ours) == repr(theirs)
    assert ours.weight.shape == tuple(theirs.weight.shape) and ours.weight.dtype == mg.float32
    ours.load_state_dict({k: mg.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
    ours = ours.to(device)
    x = np.random.default_rng(1).standard_normal((2, 4, 3, 4, 5))
    torch_parity(ours, theirs.float(), [x], device, np.float32)


def test_conv3d_default_init_is_torchs_bound():
    mg.manual_seed(0)
    m = nn.Conv3d(4, 8, (3, 2, 2), groups=2)
    bound = 1 / np.sqrt(2 * 3 * 2 * 2)
    for p in (m.weight, m.bias):
        v = p.numpy()
        assert np.abs(v).max() <= bound and np.abs(v).max() > 0.8 * bound
    t = nn.ConvTranspose3d(4, 6, 2, groups=2, bias=False)
    assert t.weight.shape == (4, 3, 2, 2, 2) and t.bias is None
    assert np.abs(t.weight.numpy()).max() <= 1 / np.sqrt(3 * 8)


def test_conv_transpose3d_layer_output_size_as_torch(device):
    theirs = torch.nn.ConvTranspose3d(2, 3, 3, stride=(2, 3, 2), padding=1).double()
    ours = nn.ConvTranspose3d(2, 3, 3, stride=(2, 3, 2), padding=1)
    assert repr(ours) == repr(theirs)
    ours.load_state_dict({k: mg.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
    ours = ours.double().to(device)
    x = np.random.default_rng(2).standard_normal((1, 2, 3, 2, 3))
    for size in ([6, 4, 6], [1, 3, 6, 6, 6]):
        torch_parity(lambda t: ours(t, output_size=size), lambda t: theirs(t, output_size=size), [x], device)
    with pytest.raises(ValueError, match="ConvTranspose3d: requested an output size"):
        ours(mg.tensor(x, device=device), output_size=(9, 4, 6))


def test_pool_layers_repr_as_torch():
    for ours, theirs in ((nn.MaxPool3d(2, 1, 1, ceil_mode=True), torch.nn.MaxPool3d(2, 1, 1, ceil_mode=True)),
                         (nn.AvgPool3d((2, 1, 2)), torch.nn.AvgPool3d((2, 1, 2))),
                         (nn.AdaptiveAvgPool3d((2, None, 1)), torch.nn.AdaptiveAvgPool3d((2, None, 1))),
                         (nn.AdaptiveMaxPool3d(2, True), torch.nn.AdaptiveMaxPool3d(2, True))):
        assert repr(ours) == repr(theirs)


def test_float32_stays_float32(device):
    x = mg.randn(1, 2, 3, 4, 4, device=device, requires_grad=True)
    outs = [nn.Conv3d(2, 2, 2).to(device)(x), nn.ConvTranspose3d(2, 2, 2, stride=2).to(device)(x),
            F.max_pool3d(x, 2), F.avg_pool3d(x, 2, divisor_override=3), F.adaptive_avg_pool3d(x, 2),
            F.adaptive_max_pool3d(x, (2, 1, 3)), F.interpolate(x, scale_factor=1.5, mode="trilinear")]
    for y in outs:
        assert y.dtype == mg.float32
        y.sum().backward()
        assert x.grad.dtype == mg.float32
    assert F.max_pool3d(x, 2, return_indices=True)[1].dtype == mg.int64


# ---------------------------------------------------------------- errors
def test_clear_errors(device):
    x = mg.randn(1, 2, 3, 3, 3, device=device)
    w = mg.randn(4, 2, 2, 2, 2, device=device)
    cases = [
        (lambda: F.conv3d(mg.randn(2, 3, 3, device=device), w), ValueError, r"conv3d: expected a 4-D .* or 5-D"),
        (lambda: F.conv3d(x, mg.randn(4, 2, 2, 2, device=device)), ValueError, r"conv3d: weight must be a 5-D"),
        (lambda: F.conv3d(x, mg.randn(4, 3, 2, 2, 2, device=device)), ValueError, r"conv3d: weight .* expects input "
                                                                                    r"with 3 channels"),
        (lambda: F.conv3d(x, w, groups=3), ValueError, "conv3d: groups=3 must divide"),
        (lambda: F.conv3d(x, mg.randn(4, 2, 4, 2, 2, device=device)), ValueError, "conv3d: the padded input depth"),
        (lambda: F.conv3d(x, w, stride=(1, 2)), ValueError, "conv3d: expected stride to be .* list of 3"),
        (lambda: F.conv3d(x, w, stride=2, padding="same"), ValueError, "conv3d: padding='same' is not supported"),
        (lambda: F.conv3d(x, w, padding="full"), ValueError, "conv3d: invalid padding string"),
        (lambda: F.conv3d(x, w, mg.randn(3, device=device)), ValueError, "conv3d: bias must be .*out_channels=4"),
        (lambda: F.conv3d(x, w.double()), TypeError, "conv3d: weight .* same dtype"),
        (lambda: F.conv3d(x.long(), w), TypeError, "conv3d"),
        (lambda: F.conv_transpose3d(x, w, padding="same"), ValueError, "conv_transpose3d: padding must be an int"),
        (lambda: F.conv_transpose3d(x, mg.randn(3, 2, 2, 2, 2, device=device)), ValueError,
         "conv_transpose3d: weight .* expects input with 3 channels"),
        (lambda: F.conv_transpose3d(x, w.reshape(2, 4, 2, 2, 2), output_padding=1), ValueError,
         "conv_transpose3d: output_padding must be smaller"),
        (lambda: F.max_pool3d(x, 2, padding=2), ValueError, "max_pool3d: padding should be at most half"),
        (lambda: F.max_pool3d(x, 4), ValueError, "max_pool3d: input .* too short"),
        (lambda: F.max_pool3d(x, (2, 2)), ValueError, "max_pool3d: expected kernel_size"),
        (lambda: F.avg_pool3d(x, 2, divisor_override=0), ValueError, "avg_pool3d: divisor_override must be non-zero"),
        (lambda: F.avg_pool3d(mg.randn(3, 3, device=device), 2), ValueError, "avg_pool3d: expected a 4-D"),
        (lambda: F.adaptive_avg_pool3d(x, (2, 2)), ValueError, "adaptive_avg_pool3d: output_size must be an int or "
                                                               "a tuple of 3"),
        (lambda: F.adaptive_max_pool3d(mg.randn(1, 0, 2, 2, 2, device=device), 1), ValueError,
         "adaptive_max_pool3d: expected non-empty"),
        (lambda: F.interpolate(x, scale_factor=2, mode="bicubic"), ValueError, "interpolate: mode 'bicubic' needs"),
        (lambda: nn.Conv3d(3, 4, 2), None, None),
        (lambda: nn.Conv3d(3, 4, 2, padding_mode="mirror"), ValueError, "Conv3d: padding_mode must be one of"),
        (lambda: nn.ConvTranspose3d(2, 2, 2, padding_mode="reflect"), ValueError, "ConvTranspose3d: only \"zeros\""),
        (lambda: nn.Conv3d(3, 4, 2, groups=2), ValueError, r"Conv3d: in_channels \(3\) must be divisible"),
    ]
    for fn, kind, match in cases:
        if kind is None:
            fn()
            continue
        with pytest.raises(kind, match=match):
            fn()
    cpu_w = mg.randn(4, 2, 2, 2, 2)
    if device != "cpu":
        with pytest.raises(RuntimeError, match=device_regex(device)):
            F.conv3d(x, cpu_w)
