"""conv2d, conv_transpose1d/2d, max/avg/adaptive 2-D pooling, adaptive_max_pool1d, unfold/fold,
pixel_shuffle and their nn layers, (N, C, H, W) layout as torch.

Values against float64 NumPy references written as the definitions (loops over output positions
and kernel taps), gradients against finite differences (`check_op`) over generated shapes,
strides, paddings, dilations and groups; parity with torch in float64 over generated
configurations (outputs and every gradient); state dicts load both ways; errors name the op.
"""
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad import nn
from minigrad.ops.conv2d import AdaptiveMaxPool2d, AvgPool2d, Conv2d, ConvTranspose2d, Fold, MaxPool2d, Unfold

from opcheck import check_op, device_regex, draw_array

GRADIENT_TESTED = [Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d, AdaptiveMaxPool2d, Unfold, Fold]


# ---------------------------------------------------------------- NumPy references (the definitions)
def np_conv2d(x, w, b, stride, pad, dilation, groups):
    """y[n, o, h, v] = b[o] + sum_{c, i, j} w[o, c, i, j] xpad[n, g(o)*Cg + c, h*s + i*d, v*s + j*d]."""
    o, cg, kh, kw = w.shape
    xpad = np.pad(x, ((0, 0), (0, 0), pad[0], pad[1]))
    ho = (xpad.shape[2] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (xpad.shape[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((x.shape[0], o, ho, wo))
    og = o // groups
    for oc in range(o):
        chans = xpad[:, (oc // og) * cg:(oc // og + 1) * cg]
        for h in range(ho):
            for v in range(wo):
                rows = [h * stride[0] + i * dilation[0] for i in range(kh)]
                cols = [v * stride[1] + j * dilation[1] for j in range(kw)]
                y[:, oc, h, v] = (chans[:, :, rows][:, :, :, cols] * w[oc]).sum(axis=(1, 2, 3))
    return y if b is None else y + b[:, None, None]


def np_conv_transpose2d(x, w, b, stride, pad, out_pad, dilation, groups):
    """The definition by scattering: each input pixel adds w[c] * x[n, c, h, v] onto its output patch."""
    n, c, h_in, w_in = x.shape
    _, og, kh, kw = w.shape
    cg = c // groups
    full = [(x.shape[2 + a] - 1) * stride[a] + dilation[a] * ((kh, kw)[a] - 1) + 1 for a in range(2)]
    out = [full[a] - 2 * pad[a] + out_pad[a] for a in range(2)]
    buf = np.zeros((n, og * groups, max(full[0], pad[0] + out[0]), max(full[1], pad[1] + out[1])))
    for ci in range(c):
        g = ci // cg
        for h in range(h_in):
            for v in range(w_in):
                for i in range(kh):
                    for j in range(kw):
                        buf[:, g * og:(g + 1) * og, h * stride[0] + i * dilation[0], v * stride[1] + j * dilation[1]] \
                            += x[:, ci, h, v][:, None] * w[ci, :, i, j][None, :]
    y = buf[:, :, pad[0]:pad[0] + out[0], pad[1]:pad[1] + out[1]]
    return y if b is None else y + b[:, None, None]


def out_len(length, k_eff, stride, pad, ceil_mode):
    """torch's documented output size (floor or ceil), minus a last window starting in the right pad."""
    out = (math.ceil if ceil_mode else math.floor)((length + 2 * pad - k_eff) / stride) + 1
    if ceil_mode and (out - 1) * stride >= length + pad:
        out -= 1
    return out


def np_pool2d(x, k, stride, pad, dilation, ceil_mode, kind, count_include_pad=True, divisor_override=None):
    """max (over in-input taps) or mean (torch's divisor rule) of each window."""
    h, w = x.shape[-2:]
    outs = [out_len((h, w)[a], dilation[a] * (k[a] - 1) + 1, stride[a], pad[a], ceil_mode) for a in range(2)]
    y = np.empty(x.shape[:-2] + tuple(outs))
    for oh in range(outs[0]):
        for ow in range(outs[1]):
            r0, c0 = oh * stride[0] - pad[0], ow * stride[1] - pad[1]
            rows = [r for r in (r0 + i * dilation[0] for i in range(k[0])) if 0 <= r < h]
            cols = [c for c in (c0 + j * dilation[1] for j in range(k[1])) if 0 <= c < w]
            block = x[..., rows, :][..., cols]
            if kind == "max":
                y[..., oh, ow] = block.max(axis=(-2, -1))
                continue
            if divisor_override:
                div = divisor_override
            elif count_include_pad:
                div = (min(r0 + k[0], h + pad[0]) - r0) * (min(c0 + k[1], w + pad[1]) - c0)
            else:
                div = len(rows) * len(cols)
            y[..., oh, ow] = block.sum(axis=(-2, -1)) / div
    return y


def np_adaptive_max(x, out):
    h, w = x.shape[-2:]
    y = np.empty(x.shape[:-2] + tuple(out))
    for i in range(out[0]):
        for j in range(out[1]):
            block = x[..., (i * h) // out[0]:-(-((i + 1) * h) // out[0]), (j * w) // out[1]:-(-((j + 1) * w) // out[1])]
            y[..., i, j] = block.max(axis=(-2, -1))
    return y


def np_unfold(x, k, dilation, pad, stride):
    xpad = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    ho = (xpad.shape[2] - dilation[0] * (k[0] - 1) - 1) // stride[0] + 1
    wo = (xpad.shape[3] - dilation[1] * (k[1] - 1) - 1) // stride[1] + 1
    blocks = []
    for h in range(ho):
        for v in range(wo):
            patch = xpad[:, :, [h * stride[0] + i * dilation[0] for i in range(k[0])]][
                :, :, :, [v * stride[1] + j * dilation[1] for j in range(k[1])]]
            blocks.append(patch.reshape(x.shape[0], -1))
    return np.stack(blocks, axis=-1)


def spaced(data, shape):
    """Distinct values 0.37 apart in random order: no ties, so max is differentiable for finite differences."""
    n = int(np.prod(shape))
    return np.asarray(data.draw(st.permutations(range(n))), dtype=np.float64).reshape(shape) * 0.37 - n * 0.18


def batched(ref, ndim=4):
    """A reference on batched arrays, applied to an unbatched one by adding and removing the batch dim."""
    return lambda x, *rest: ref(x, *rest) if x.ndim == ndim else ref(x[None], *rest)[0]


pairs = st.tuples(st.integers(1, 2), st.integers(1, 2))


# ---------------------------------------------------------------- gradient properties
@st.composite
def conv_cases(draw):
    groups = draw(st.integers(1, 2))
    cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    k = draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
    stride, dilation = draw(pairs), draw(pairs)
    padding = draw(st.sampled_from([0, 1, (1, 0), "valid"] + (["same"] if stride == (1, 1) else [])))
    if padding == "same":
        pad = tuple((dilation[a] * (k[a] - 1) // 2, dilation[a] * (k[a] - 1) - dilation[a] * (k[a] - 1) // 2)
                    for a in range(2))
    else:
        p = (0, 0) if padding == "valid" else (padding, padding) if isinstance(padding, int) else padding
        pad = ((p[0], p[0]), (p[1], p[1]))
    hw = tuple(draw(st.integers(max(1, dilation[a] * (k[a] - 1) + 1 - sum(pad[a])), 5)) for a in range(2))
    batch = draw(st.sampled_from([None, 1, 2]))
    return dict(x_shape=((batch,) if batch else ()) + (groups * cg,) + hw, w_shape=(groups * og, cg) + k,
                bias=draw(st.booleans()), stride=stride, padding=padding, pad=pad, dilation=dilation, groups=groups)


@given(data=st.data(), case=conv_cases())
def test_conv2d_values_and_gradients(device, data, case):
    arrays = [draw_array(data, case["x_shape"], device), draw_array(data, case["w_shape"], device)]
    if case["bias"]:
        arrays.append(draw_array(data, case["w_shape"][:1], device))
    kw = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"], groups=case["groups"])
    ref = batched(lambda x, w, b=None: np_conv2d(x, w, b, case["stride"], case["pad"], case["dilation"],
                                                 case["groups"]))
    check_op(lambda *t: F.conv2d(t[0], t[1], t[2] if len(t) > 2 else None, **kw), ref, arrays, device)


@st.composite
def conv_transpose_cases(draw):
    groups = draw(st.integers(1, 2))
    cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    k = draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
    stride, dilation = draw(pairs), draw(pairs)
    out_pad = tuple(draw(st.integers(0, max(stride[a], dilation[a]) - 1)) for a in range(2))
    pad = tuple(draw(st.integers(0, 1)) for _ in range(2))
    hw = tuple(draw(st.integers(1, 4)) for _ in range(2))
    assume(all((hw[a] - 1) * stride[a] - 2 * pad[a] + dilation[a] * (k[a] - 1) + out_pad[a] + 1 > 0 for a in range(2)))
    batch = draw(st.sampled_from([None, 1, 2]))
    return dict(x_shape=((batch,) if batch else ()) + (groups * cg,) + hw, w_shape=(groups * cg, og) + k,
                bias=draw(st.booleans()), stride=stride, padding=pad, output_padding=out_pad, dilation=dilation,
                groups=groups)


@given(data=st.data(), case=conv_transpose_cases())
def test_conv_transpose2d_values_and_gradients(device, data, case):
    arrays = [draw_array(data, case["x_shape"], device), draw_array(data, case["w_shape"], device)]
    if case["bias"]:
        arrays.append(draw_array(data, (case["w_shape"][1] * case["groups"],), device))
    kw = {k: case[k] for k in ("stride", "padding", "output_padding", "dilation", "groups")}
    ref = batched(lambda x, w, b=None: np_conv_transpose2d(x, w, b, case["stride"], case["padding"],
                                                           case["output_padding"], case["dilation"], case["groups"]))
    check_op(lambda *t: F.conv_transpose2d(t[0], t[1], t[2] if len(t) > 2 else None, **kw), ref, arrays, device)


@given(data=st.data(), case=conv_transpose_cases())
def test_conv_transpose1d_values_and_gradients(device, data, case):
    """The 1-D op is the 2-D one on a height-1 image: the width-axis settings of a generated 2-D case."""
    xs, ws = case["x_shape"][:-2] + case["x_shape"][-1:], case["w_shape"][:2] + case["w_shape"][-1:]
    arrays = [draw_array(data, xs, device), draw_array(data, ws, device)]
    kw = {k: case[k][1] for k in ("stride", "padding", "output_padding", "dilation")}
    assume((xs[-1] - 1) * kw["stride"] - 2 * kw["padding"] + kw["dilation"] * (ws[-1] - 1) + kw["output_padding"] >= 0)

    def ref(x, w):
        y = np_conv_transpose2d(x[..., None, :] if x.ndim == 3 else x[None, :, None, :], w[:, :, None, :], None,
                                (1, kw["stride"]), (0, kw["padding"]), (0, kw["output_padding"]),
                                (1, kw["dilation"]), case["groups"])[:, :, 0]
        return y if x.ndim == 3 else y[0]

    check_op(lambda x, w: F.conv_transpose1d(x, w, groups=case["groups"], **kw), ref, arrays, device)


@st.composite
def pool_cases(draw, with_dilation):
    k = draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
    dilation = draw(pairs) if with_dilation else (1, 1)
    pad = tuple(draw(st.integers(0, k[a] // 2)) for a in range(2))
    stride = draw(st.sampled_from([None, 1, 2, (1, 2), (3, 1)]))
    hw = tuple(draw(st.integers(max(1, dilation[a] * (k[a] - 1) + 1 - 2 * pad[a]), 5)) for a in range(2))
    batch = draw(st.sampled_from([None, 1, 2]))
    return dict(shape=((batch,) if batch else ()) + (draw(st.integers(1, 3)),) + hw, k=k, stride=stride, pad=pad,
                dilation=dilation, ceil_mode=draw(st.booleans()))


def _stride(case):
    s = case["stride"] or case["k"]
    return (s, s) if isinstance(s, int) else s


def every_window_sees_input(case):
    """False where a dilated max-pool window covers padding only (its max is -inf, its index meaningless)."""
    s, hw = _stride(case), case["shape"][-2:]
    outs = [out_len(hw[a], case["dilation"][a] * (case["k"][a] - 1) + 1, s[a], case["pad"][a], case["ceil_mode"])
            for a in range(2)]
    return all(any(0 <= o * s[a] - case["pad"][a] + j * case["dilation"][a] < hw[a] for j in range(case["k"][a]))
               for a in range(2) for o in range(outs[a]))


@given(data=st.data(), case=pool_cases(with_dilation=True))
def test_max_pool2d_values_and_gradients(device, data, case):
    x, s = spaced(data, case["shape"]), _stride(case)
    assume(every_window_sees_input(case))  # a window of padding only gives -inf (no finite differences there)
    check_op(lambda t: F.max_pool2d(t, case["k"], case["stride"], case["pad"], case["dilation"], case["ceil_mode"]),
             lambda a: np_pool2d(a, case["k"], s, case["pad"], case["dilation"], case["ceil_mode"], "max"),
             [x], device)


@given(data=st.data(), case=pool_cases(with_dilation=False), count_include_pad=st.booleans(),
       divisor_override=st.sampled_from([None, None, 3]))
def test_avg_pool2d_values_and_gradients(device, data, case, count_include_pad, divisor_override):
    x = draw_array(data, case["shape"], device)
    check_op(lambda t: F.avg_pool2d(t, case["k"], case["stride"], case["pad"], case["ceil_mode"], count_include_pad,
                                    divisor_override),
             lambda a: np_pool2d(a, case["k"], _stride(case), case["pad"], (1, 1), case["ceil_mode"], "avg",
                                 count_include_pad, divisor_override),
             [x], device)


@given(data=st.data(), shape=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 5), st.integers(1, 5)),
       out=st.tuples(st.integers(1, 6), st.integers(1, 6)))
def test_adaptive_pools_2d_values_and_gradients(device, data, shape, out):
    x = spaced(data, shape)
    check_op(lambda t: F.adaptive_max_pool2d(t, out), lambda a: np_adaptive_max(a, out), [x], device)

    def np_adaptive_avg(a):
        h, w = a.shape[-2:]
        return np.stack([np.stack([a[..., (i * h) // out[0]:-(-((i + 1) * h) // out[0]),
                                     (j * w) // out[1]:-(-((j + 1) * w) // out[1])].mean(axis=(-2, -1))
                                   for j in range(out[1])], axis=-1) for i in range(out[0])], axis=-2)

    check_op(lambda t: F.adaptive_avg_pool2d(t, out), np_adaptive_avg, [x], device)


@given(data=st.data(), shape=st.sampled_from([(3, 5), (2, 3, 4), (1, 2, 1)]), out=st.integers(1, 6))
def test_adaptive_max_pool1d_values_and_gradients(device, data, shape, out):
    x = spaced(data, shape)
    check_op(lambda t: F.adaptive_max_pool1d(t, out), lambda a: np_adaptive_max(a[..., None, :], (1, out))[..., 0, :],
             [x], device)


@st.composite
def fold_cases(draw):
    k, dilation, stride = draw(pairs), draw(pairs), draw(pairs)
    pad = draw(st.tuples(st.integers(0, 1), st.integers(0, 1)))
    hw = tuple(draw(st.integers(max(1, dilation[a] * (k[a] - 1) + 1 - 2 * pad[a]), 5)) for a in range(2))
    batch = draw(st.sampled_from([None, 1, 2]))
    return dict(shape=((batch,) if batch else ()) + (draw(st.integers(1, 2)),) + hw, k=k, dilation=dilation,
                padding=pad, stride=stride)


@given(data=st.data(), case=fold_cases())
def test_unfold_and_fold_values_and_gradients(device, data, case):
    kw = {k: case[k] for k in ("dilation", "padding", "stride")}
    x = draw_array(data, case["shape"], device)
    ref = batched(lambda a: np_unfold(a, case["k"], case["dilation"], case["padding"], case["stride"]))
    check_op(lambda t: F.unfold(t, case["k"], **kw), ref, [x], device)
    # fold is unfold's adjoint: <fold(c), x> = <c, unfold(x)> for the reference unfold
    cols = draw_array(data, ref(x).shape, device)
    hw = case["shape"][-2:]

    def np_fold(c):
        batch = c if c.ndim == 3 else c[None]
        n, ckk, _ = batch.shape
        basis = np.eye(int(np.prod((n, ckk // (case["k"][0] * case["k"][1])) + hw))).reshape(
            (-1, n, ckk // (case["k"][0] * case["k"][1])) + hw)
        out = np.stack([(np_unfold(e, case["k"], case["dilation"], case["padding"], case["stride"]) * batch).sum()
                        for e in basis]).reshape((n, -1) + hw)
        return out if c.ndim == 3 else out[0]

    check_op(lambda t: F.fold(t, hw, case["k"], **kw), np_fold, [cols], device)


@given(data=st.data(), r=st.integers(1, 2), lead=st.sampled_from([(), (2,), (1, 2)]))
def test_pixel_shuffle_round_trip_and_gradients(device, data, r, lead):
    shape = lead + (2 * r * r, 2, 3)
    x = draw_array(data, shape, device)

    def np_shuffle(a):
        c = a.shape[-3] // (r * r)
        out = np.empty(a.shape[:-3] + (c, a.shape[-2] * r, a.shape[-1] * r))
        for ci in range(c):
            for i in range(r):
                for j in range(r):
                    out[..., ci, i::r, j::r] = a[..., ci * r * r + i * r + j, :, :]
        return out

    check_op(lambda t: F.pixel_shuffle(t, r), np_shuffle, [x], device, exact=True)
    check_op(lambda t: F.pixel_unshuffle(F.pixel_shuffle(t, r), r), lambda a: a, [x], device, exact=True)


# ---------------------------------------------------------------- parity with torch (float64)
torch = pytest.importorskip("torch")
TF = torch.nn.functional


def torch_parity(mg_fn, torch_fn, arrays, device, dtype=np.float64):
    """Same inputs and cotangent in both libraries: outputs and every input gradient agree."""
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-5)
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


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's note about its own padded copy
@given(data=st.data(), case=conv_cases())
def test_conv2d_matches_torch(device, data, case):
    arrays = [draw_array(data, case["x_shape"], device), draw_array(data, case["w_shape"], device),
              draw_array(data, case["w_shape"][:1], device)]
    kw = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"], groups=case["groups"])
    torch_parity(lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: TF.conv2d(x, w, b, **kw), arrays, device)


@given(data=st.data(), case=conv_transpose_cases())
def test_conv_transpose_matches_torch(device, data, case):
    arrays = [draw_array(data, case["x_shape"], device), draw_array(data, case["w_shape"], device),
              draw_array(data, (case["w_shape"][1] * case["groups"],), device)]
    kw = {k: case[k] for k in ("stride", "padding", "output_padding", "dilation", "groups")}
    torch_parity(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw), lambda x, w, b: TF.conv_transpose2d(x, w, b, **kw),
                 arrays, device)
    kw1 = {k: (v[0] if isinstance(v, tuple) else v) for k, v in kw.items()}  # the height settings, in 1-D
    a1 = [arrays[0][..., 0, :], arrays[1][..., 0, :], arrays[2]]
    if (a1[0].shape[-1] - 1) * kw1["stride"] - 2 * kw1["padding"] + kw1["dilation"] * (a1[1].shape[-1] - 1) \
            + kw1["output_padding"] >= 0:  # (the 1-D output length is positive)
        torch_parity(lambda x, w, b: F.conv_transpose1d(x, w, b, **kw1),
                     lambda x, w, b: TF.conv_transpose1d(x, w, b, **kw1), a1, device)


@given(data=st.data(), case=pool_cases(with_dilation=True), count_include_pad=st.booleans())
def test_pools_match_torch_including_ties_and_indices(device, data, case, count_include_pad):
    assume(every_window_sees_input(case))  # torch's max_pool2d backward corrupts memory on padding-only windows
    ties = data.draw(st.lists(st.integers(0, 2), min_size=int(np.prod(case["shape"])),
                              max_size=int(np.prod(case["shape"])))).__iter__()
    x = np.fromiter(ties, dtype=np.float64).reshape(case["shape"])  # many equal values: the first maximum wins
    kw = dict(kernel_size=case["k"], stride=case["stride"], padding=case["pad"], ceil_mode=case["ceil_mode"])
    torch_parity(lambda t: F.max_pool2d(t, dilation=case["dilation"], **kw),
                 lambda t: TF.max_pool2d(t, dilation=case["dilation"], **kw), [x], device)
    y, idx = F.max_pool2d(mg.tensor(x, device=device), dilation=case["dilation"], return_indices=True, **kw)
    ty, tidx = TF.max_pool2d(torch.tensor(x), dilation=case["dilation"], return_indices=True, **kw)
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    torch_parity(lambda t: F.avg_pool2d(t, count_include_pad=count_include_pad, **kw),
                 lambda t: TF.avg_pool2d(t, count_include_pad=count_include_pad, **kw), [x], device)


@given(data=st.data(), shape=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 5), st.integers(1, 5)),
       out=st.tuples(st.one_of(st.none(), st.integers(1, 7)), st.integers(1, 7)))
def test_adaptive_pools_match_torch(device, data, shape, out):
    x = np.asarray(data.draw(st.lists(st.integers(0, 2), min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))),
                   dtype=np.float64).reshape(shape)
    torch_parity(lambda t: F.adaptive_avg_pool2d(t, out), lambda t: TF.adaptive_avg_pool2d(t, out), [x], device)
    torch_parity(lambda t: F.adaptive_max_pool2d(t, out), lambda t: TF.adaptive_max_pool2d(t, out), [x], device)
    _, idx = F.adaptive_max_pool2d(mg.tensor(x, device=device), out, return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), TF.adaptive_max_pool2d(torch.tensor(x), out, True)[1].numpy())
    x1 = x[:, :, 0]
    torch_parity(lambda t: F.adaptive_max_pool1d(t, out[1]), lambda t: TF.adaptive_max_pool1d(t, out[1]), [x1], device)
    _, idx = F.adaptive_max_pool1d(mg.tensor(x1[0], device=device), out[1], return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), TF.adaptive_max_pool1d(torch.tensor(x1[0]), out[1], True)[1].numpy())


@given(data=st.data(), case=fold_cases())
def test_unfold_fold_match_torch(device, data, case):
    kw = {k: case[k] for k in ("dilation", "padding", "stride")}
    x = draw_array(data, case["shape"], device)
    torch_parity(lambda t: F.unfold(t, case["k"], **kw), lambda t: TF.unfold(t, case["k"], **kw), [x], device)
    cols = TF.unfold(torch.tensor(x), case["k"], **kw).numpy()
    hw = case["shape"][-2:]
    torch_parity(lambda t: F.fold(t, hw, case["k"], **kw), lambda t: TF.fold(t, hw, case["k"], **kw), [cols], device)


def test_max_pool2d_nan_propagates_and_float32_kept(device):
    x = mg.tensor([[[[1.0, float("nan")], [3.0, 4.0]]]], device=device)
    assert np.isnan(F.max_pool2d(x, 2).numpy()).all()
    y = F.avg_pool2d(mg.randn(1, 2, 4, 4, device=device), 2)
    assert y.dtype == np.float32


def test_empty_batch(device):
    x = mg.randn(0, 2, 5, 5, device=device, requires_grad=True)
    w = mg.randn(3, 2, 3, 3, device=device, requires_grad=True)
    y = F.conv2d(x, w, padding=1)
    assert y.shape == (0, 3, 5, 5)
    y.sum().backward()
    assert x.grad.shape == x.shape and np.all(w.grad.numpy() == 0)
    assert F.max_pool2d(x, 2).shape == (0, 2, 2, 2) and F.conv_transpose2d(x, mg.randn(2, 3, 2, 2, device=device)).shape == (0, 3, 6, 6)


# ---------------------------------------------------------------- nn layers
rng = np.random.default_rng(0)


def _layer_parity(ours, ref, x, device, **call):
    """Load torch's state dict into ours, compare output and every gradient, then load ours back into a fresh torch."""
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict())
    xm, xt = mg.tensor(x, device=device, requires_grad=True), torch.tensor(x, requires_grad=True)
    ym, yt = ours(xm, **call), ref(xt, **call)
    np.testing.assert_allclose(ym.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(tuple(yt.shape))
    ym.backward(mg.tensor(g, device=device))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(dict(ours.named_parameters())[name].grad.numpy(), p.grad.numpy(),
                                   rtol=1e-10, atol=1e-12, err_msg=name)
    assert repr(ours) == repr(ref)
    return ym


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1, dilation=2, groups=2, bias=False),
                                dict(padding="same", padding_mode="reflect"), dict(padding=(2, 1), padding_mode="replicate"),
                                dict(padding=1, padding_mode="circular"), dict(kernel_size=(3, 2), padding="valid")])
def test_conv2d_layer_matches_torch_and_state_dicts_round_trip(device, kw):
    kw = {"kernel_size": 3, **kw}
    ref = torch.nn.Conv2d(4, 6, **kw).double()
    ours = nn.Conv2d(4, 6, **kw).double().to(device)
    x = rng.standard_normal((2, 4, 6, 5))
    ym = _layer_parity(ours, ref, x, device)
    back = torch.nn.Conv2d(4, 6, **kw).double()  # minigrad -> torch
    back.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    np.testing.assert_allclose(back(torch.tensor(x)).detach().numpy(), ym.numpy(), rtol=1e-10, atol=1e-12)
    assert ours.padding == ref.padding and ours.kernel_size == ref.kernel_size and ours.stride == ref.stride
    assert ours._reversed_padding_repeated_twice == tuple(ref._reversed_padding_repeated_twice)


@pytest.mark.parametrize("cls,kw,shape,call", [
    ("ConvTranspose2d", dict(kernel_size=3), (2, 4, 3, 4), {}),
    ("ConvTranspose2d", dict(kernel_size=(3, 2), stride=2, padding=1, output_padding=1, groups=2, dilation=(1, 2)),
     (2, 4, 3, 3), {}),
    ("ConvTranspose2d", dict(kernel_size=3, stride=2, padding=1), (2, 4, 3, 3), dict(output_size=[6, 5])),
    ("ConvTranspose2d", dict(kernel_size=3, stride=3, bias=False), (4, 3, 3), dict(output_size=[4, 10, 11])),
    ("ConvTranspose1d", dict(kernel_size=3, stride=2, padding=1, output_padding=1, groups=2), (2, 4, 5), {}),
    ("ConvTranspose1d", dict(kernel_size=3, stride=2), (4, 5), dict(output_size=[12])),
])
def test_conv_transpose_layers_match_torch(device, cls, kw, shape, call):
    ref = getattr(torch.nn, cls)(4, 6, **kw).double()
    ours = getattr(nn, cls)(4, 6, **kw).double().to(device)
    assert ours.weight.shape == tuple(ref.weight.shape)
    ym = _layer_parity(ours, ref, rng.standard_normal(shape), device, **call)
    if call:
        assert ym.shape[-len(call["output_size"][-(len(shape) - 2):]):] == tuple(call["output_size"][-(len(shape) - 2):])
    back = getattr(torch.nn, cls)(4, 6, **kw).double()
    back.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})


def test_default_inits_are_torchs():
    conv = nn.Conv2d(8, 300, (3, 2), groups=2)
    assert conv.weight.shape == (300, 4, 3, 2) and conv.bias.shape == (300,) and conv.weight.dtype == np.float32
    bound = 1 / math.sqrt(4 * 3 * 2)  # fan_in = in_channels / groups * kH * kW
    w = conv.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(conv.bias.numpy()).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.03 * bound  # U(-b, b)
    convt = nn.ConvTranspose2d(300, 8, 3, groups=2)
    assert convt.weight.shape == (300, 4, 3, 3)
    bound = 1 / math.sqrt(4 * 9)  # torch's fan_in of a transposed weight: weight.size(1) * taps
    assert np.abs(convt.weight.numpy()).max() <= bound and np.abs(convt.bias.numpy()).max() <= bound
    assert abs(convt.weight.numpy().std() - bound / math.sqrt(3)) < 0.05 * bound
    assert [n for n, _ in nn.ConvTranspose1d(2, 2, 3, bias=False).named_parameters()] == ["weight"]


def test_pool_and_shape_layers_match_torch():
    x = rng.standard_normal((2, 4, 7, 6))
    xt = torch.tensor(x)
    for name, args, kw in [("MaxPool2d", (3, 2, 1), dict(ceil_mode=True)), ("MaxPool2d", ((2, 3),), {}),
                           ("AvgPool2d", (3, 2, 1), dict(count_include_pad=False)),
                           ("AvgPool2d", (2,), dict(divisor_override=3, ceil_mode=True)),
                           ("AdaptiveAvgPool2d", ((3, None),), {}), ("AdaptiveMaxPool2d", (3,), {}),
                           ("Unfold", (2,), dict(stride=2)), ("PixelShuffle", (2,), {}), ("PixelUnshuffle", (1,), {}),
                           ("Upsample", (), dict(scale_factor=2)), ("Upsample", ((5, 9),), dict(mode="bicubic")),
                           ("UpsamplingBilinear2d", (), dict(scale_factor=1.5)), ("UpsamplingNearest2d", (4,), {})]:
        ours, ref = getattr(nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
        np.testing.assert_allclose(ours(mg.tensor(x)).numpy(), ref(xt).numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=repr(ref))
        assert repr(ours) == repr(ref)
    cols = torch.nn.Unfold(2)(xt)
    np.testing.assert_allclose(nn.Fold((7, 6), 2)(mg.tensor(cols.numpy())).numpy(), torch.nn.Fold((7, 6), 2)(cols))
    assert repr(nn.Fold((7, 6), 2)) == repr(torch.nn.Fold((7, 6), 2))
    y, idx = nn.MaxPool2d(2, return_indices=True)(mg.tensor(x))
    np.testing.assert_array_equal(idx.numpy(), torch.nn.MaxPool2d(2, return_indices=True)(xt)[1].numpy())
    y, idx = nn.AdaptiveMaxPool1d(3, return_indices=True)(mg.tensor(x[:, :, 0]))
    ty, tidx = torch.nn.AdaptiveMaxPool1d(3, return_indices=True)(xt[:, :, 0])
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    np.testing.assert_array_equal(y.numpy(), ty.numpy())
    assert repr(nn.AdaptiveMaxPool1d(3)) == repr(torch.nn.AdaptiveMaxPool1d(3))


def test_conv_net_trains(device):
    """Conv2d -> ReLU -> MaxPool2d -> Conv2d -> AdaptiveAvgPool2d -> Flatten learns which half is brighter."""
    mg.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 2, 3, padding=1),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten()).to(device)
    r = np.random.default_rng(0)
    x = r.standard_normal((32, 1, 6, 6)).astype(np.float32)
    y = (x[:, 0, :3].sum((-1, -2)) > x[:, 0, 3:].sum((-1, -2))).astype(np.int64)
    xs, ys = mg.tensor(x, device=device), mg.tensor(y, device=device)
    opt = mg.optim.Adam(net.parameters(), lr=0.05)
    first = None
    for _ in range(40):
        loss = F.cross_entropy(net(xs), ys)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_conv2d_refuses_a_weight_changed_in_place_before_backward(device):
    x = mg.randn(1, 2, 4, 4, device=device, requires_grad=True)
    w = mg.randn(3, 2, 2, 2, device=device, requires_grad=True)
    y = F.conv2d(x, w)
    with mg.no_grad():
        w.mul_(2.0)  # the input gradient needs the old w
    with pytest.raises(RuntimeError, match="Conv2d.*modified in place"):
        y.sum().backward()


# ---------------------------------------------------------------- errors
def test_conv_errors_name_the_op(device):
    x = mg.randn(2, 4, 5, 5, device=device)
    w = mg.randn(3, 4, 3, 3, device=device)
    wt = mg.randn(4, 3, 3, 3, device=device)  # a transposed convolution's (in, out, kH, kW)
    cases = [
        (ValueError, r"conv2d: expected a 3-D .* or 4-D", lambda: F.conv2d(mg.randn(4, 5, 5, 5, 5, device=device), w)),
        (ValueError, r"conv2d: weight .* expects input with 3 channels.* has 4",
         lambda: F.conv2d(x, mg.randn(3, 3, 3, 3, device=device))),
        (ValueError, r"conv2d: groups=2 must divide the out_channels",
         lambda: F.conv2d(x, mg.randn(3, 2, 3, 3, device=device), groups=2)),
        (ValueError, r"conv2d: the padded input height \(5\) is smaller than the dilated kernel \(7\)",
         lambda: F.conv2d(x, w, dilation=3)),
        (ValueError, "conv2d: padding='same' is not supported for strided", lambda: F.conv2d(x, w, padding="same", stride=2)),
        (ValueError, "conv2d: invalid padding string 'foo'", lambda: F.conv2d(x, w, padding="foo")),
        (ValueError, "conv2d: padding must be non-negative", lambda: F.conv2d(x, w, padding=-1)),
        (ValueError, "conv2d: stride must be positive", lambda: F.conv2d(x, w, stride=(1, 0))),
        (ValueError, "conv2d: expected padding to be a single integer value or a list of 2", lambda: F.conv2d(x, w, padding=(1, 2, 3))),
        (ValueError, r"conv2d: bias must be a 1-D tensor of out_channels=3", lambda: F.conv2d(x, w, mg.randn(4, device=device))),
        (ValueError, r"conv2d: weight must be a 4-D tensor", lambda: F.conv2d(x, mg.randn(3, 4, 3, device=device))),
        (TypeError, "conv2d: expected a floating-point tensor", lambda: F.conv2d(mg.ones(2, 4, 5, 5, dtype="int64", device=device), w)),
        (TypeError, r"conv2d: weight float64\[3, 4, 3, 3\].* must have the same dtype", lambda: F.conv2d(x, w.double())),
        (ValueError, r"conv_transpose2d: weight .* expects input with 3 channels", lambda: F.conv_transpose2d(x, mg.randn(3, 2, 2, 2, device=device))),
        (ValueError, "conv_transpose2d: output_padding must be smaller than either stride or dilation",
         lambda: F.conv_transpose2d(x, wt, stride=2, output_padding=2)),
        (ValueError, "conv_transpose2d: padding must be an int or a tuple", lambda: F.conv_transpose2d(x, wt, padding="same")),
        (ValueError, r"conv_transpose2d: the output size .* is not positive", lambda: F.conv_transpose2d(x, wt, padding=5)),
        (ValueError, r"conv_transpose1d: weight must be a 3-D tensor", lambda: F.conv_transpose1d(x[0], w)),
        (ValueError, r"conv_transpose1d: expected a 2-D .* or 3-D", lambda: F.conv_transpose1d(x, w[:, :, 0])),
    ]
    for exc, match, call in cases:
        with pytest.raises(exc, match=match):
            call()


def test_pool_and_shape_errors_name_the_op(device):
    x = mg.randn(2, 4, 5, 5, device=device)
    cases = [
        (ValueError, "max_pool2d: padding should be at most half of the kernel size", lambda: F.max_pool2d(x, 3, padding=2)),
        (ValueError, "avg_pool2d: padding should be at most half", lambda: F.avg_pool2d(x, (3, 2), padding=(1, 2))),
        (ValueError, r"max_pool2d: input float32\[2, 4, 5, 5\].* too short", lambda: F.max_pool2d(x, 6)),
        (ValueError, r"max_pool2d: expected a 3-D .* or 4-D", lambda: F.max_pool2d(mg.randn(5, 5, device=device), 2)),
        (TypeError, "avg_pool2d: expected a floating-point tensor", lambda: F.avg_pool2d(mg.ones(1, 2, 4, 4, dtype="int64"), 2)),
        (ValueError, "avg_pool2d: divisor_override must be non-zero", lambda: F.avg_pool2d(x, 2, divisor_override=0)),
        (ValueError, "adaptive_avg_pool2d: output_size must be non-negative", lambda: F.adaptive_avg_pool2d(x, -1)),
        (ValueError, "adaptive_max_pool2d: output_size must be an int or a tuple of 2", lambda: F.adaptive_max_pool2d(x, (1, 2, 3))),
        (ValueError, "adaptive_max_pool2d: expected non-empty", lambda: F.adaptive_max_pool2d(mg.randn(1, 2, 0, 3), 2)),
        (ValueError, r"adaptive_max_pool1d: expected a 2-D .* or 3-D", lambda: F.adaptive_max_pool1d(x, 2)),
        (ValueError, r"unfold: no sliding block fits", lambda: F.unfold(x, 6)),
        (ValueError, r"unfold: expected a 3-D .* or 4-D", lambda: F.unfold(mg.randn(5, 5, device=device), 2)),
        (ValueError, rf"fold: input float32\[2, 16, 9\] on {device_regex(device)} has 9 blocks, but output_size=\(5, 5\).* give 16",
         lambda: F.fold(mg.randn(2, 16, 9, device=device), 5, 2)),
        (ValueError, r"fold: expected size of input's dimension 1 to be divisible",
         lambda: F.fold(mg.randn(2, 15, 16, device=device), 5, 2)),
        (ValueError, r"pixel_shuffle: the channels of input .* \(4\) must be divisible by upscale_factor squared \(9\)",
         lambda: F.pixel_shuffle(x, 3)),
        (ValueError, "pixel_unshuffle: the height and width .* divisible by downscale_factor", lambda: F.pixel_unshuffle(x, 2)),
        (ValueError, "pixel_shuffle: upscale_factor must be a positive int", lambda: F.pixel_shuffle(x, 0)),
        (ValueError, "pixel_shuffle: expected an input of at least 3 dims", lambda: F.pixel_shuffle(mg.randn(4, 4), 2)),
    ]
    for exc, match, call in cases:
        with pytest.raises(exc, match=match):
            call()


def test_layer_errors():
    with pytest.raises(ValueError, match=r"Conv2d: in_channels \(3\) must be divisible by groups \(2\)"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="Conv2d: padding_mode must be one of"):
        nn.Conv2d(4, 4, 3, padding_mode="foo")
    with pytest.raises(ValueError, match="Conv2d: padding='same' is not supported for strided"):
        nn.Conv2d(4, 4, 3, padding="same", stride=2)
    with pytest.raises(ValueError, match="Conv2d: kernel_size must be positive"):
        nn.Conv2d(4, 4, (3, 0))
    with pytest.raises(ValueError, match='ConvTranspose2d: only "zeros" padding mode'):
        nn.ConvTranspose2d(4, 4, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match=r"ConvTranspose2d: requested an output size of \[9, 9\], but valid sizes "
                                         r"range from \[7, 7\] to \[8, 8\]"):
        nn.ConvTranspose2d(4, 4, 3, stride=2)(mg.randn(1, 4, 3, 3), output_size=[9, 9])
    with pytest.raises(ValueError, match="ConvTranspose1d: for 1-D input, output_size must have 1 or 3 elements"):
        nn.ConvTranspose1d(4, 4, 3)(mg.randn(1, 4, 3), output_size=[5, 5])
    with pytest.raises(ValueError, match=r"conv2d: weight .* expects input with 4 channels.* has 3"):
        nn.Conv2d(4, 4, 3)(mg.randn(2, 3, 5, 5))
