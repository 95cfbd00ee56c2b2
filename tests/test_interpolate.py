"""F.interpolate / nn.Upsample for 1-D (N, C, L) and 2-D (N, C, H, W) inputs: modes nearest,
nearest-exact, linear, bilinear, bicubic and area; size or scale_factor; align_corners;
recompute_scale_factor.

Values against a float64 NumPy reference written from torch's documented source-index rules
(one output position at a time), gradients against finite differences (`check_op`) over
generated sizes and scales, parity with torch (float64 values and gradients) over generated
configurations, and the errors torch raises, naming the op.
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad import nn
from minigrad.ops.conv2d import Resample

from opcheck import check_op, draw_array

GRADIENT_TESTED = [Resample]


# ---------------------------------------------------------------- the reference, one output position at a time
def taps_1d(mode, n_in, n_out, align_corners, scale_factor):
    """[(positions, weights)] per output position along one axis, torch's rules."""
    out = []
    for d in range(n_out):
        if mode in ("nearest", "nearest-exact"):
            # torch computes the nearest scale and the product in float32
            scale = np.float32(1.0 / scale_factor) if scale_factor else np.float32(n_in) / np.float32(n_out)
            pos = np.float32(d + (0.5 if mode == "nearest-exact" else 0.0)) * scale
            out.append(([min(int(math.floor(pos)), n_in - 1)], [1.0]))
            continue
        if align_corners:
            src = d * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
        else:
            src = (1.0 / scale_factor if scale_factor else n_in / n_out) * (d + 0.5) - 0.5
        if mode == "linear":
            src = max(src, 0.0)
            i0 = int(src)
            lam = src - i0
            out.append(([i0, min(i0 + 1, n_in - 1)], [1 - lam, lam]))
        else:  # cubic convolution, a = -0.75, indices clamped to the edge
            i0 = math.floor(src)
            t = src - i0
            a = -0.75

            def w(z):
                z = abs(z)
                return ((a + 2) * z - (a + 3)) * z * z + 1 if z <= 1 else ((a * z - 5 * a) * z + 8 * a) * z - 4 * a

            out.append(([min(max(i0 + k, 0), n_in - 1) for k in (-1, 0, 1, 2)], [w(t + 1), w(t), w(1 - t), w(2 - t)]))
    return out


def np_interpolate(x, sizes, mode, align_corners, scales):
    axis_mode = {"bilinear": "linear", "bicubic": "cubic"}.get(mode, mode)
    y = x
    for ax in reversed(range(len(sizes))):  # width first, then height
        plan = taps_1d(axis_mode, y.shape[2 + ax], sizes[ax], align_corners, scales[ax])
        parts = [sum(wt * np.take(y, p, axis=2 + ax) for p, wt in zip(pos, wts)) for pos, wts in plan]
        y = np.stack(parts, axis=2 + ax)
    return y


@st.composite
def interp_cases(draw):
    dims = draw(st.integers(1, 2))
    modes = ["nearest", "nearest-exact"] + (["linear"] if dims == 1 else ["bilinear", "bicubic"])
    mode = draw(st.sampled_from(modes))
    in_sizes = tuple(draw(st.integers(1, 5)) for _ in range(dims))
    align = draw(st.sampled_from([None, False, True])) if mode not in ("nearest", "nearest-exact") else None
    if draw(st.booleans()):
        size = tuple(draw(st.integers(1, 7)) for _ in range(dims))
        kw, sizes, scales = dict(size=size if dims > 1 or draw(st.booleans()) else size[0]), size, (None,) * dims
    else:
        factors = tuple(draw(st.sampled_from([0.5, 0.75, 1.0, 1.5, 1.7, 2.0, 2.5, 3.0])) for _ in range(dims))
        sizes = tuple(math.floor(n * f) for n, f in zip(in_sizes, factors))
        if min(sizes) < 1:
            factors, sizes = (2.0,) * dims, tuple(2 * n for n in in_sizes)
        recompute = draw(st.sampled_from([None, True]))
        kw = dict(scale_factor=factors if dims > 1 or draw(st.booleans()) else factors[0],
                  recompute_scale_factor=recompute)
        scales = (None,) * dims if recompute else factors
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + in_sizes
    return dict(shape=shape, mode=mode, align_corners=align, kw=kw, sizes=sizes, scales=scales)


@given(data=st.data(), case=interp_cases())
def test_interpolate_values_and_gradients(device, data, case):
    x = draw_array(data, case["shape"], device)
    check_op(lambda t: F.interpolate(t, mode=case["mode"], align_corners=case["align_corners"], **case["kw"]),
             lambda a: np_interpolate(a, case["sizes"], case["mode"], bool(case["align_corners"]), case["scales"]),
             [x], device)


# ---------------------------------------------------------------- parity with torch
torch = pytest.importorskip("torch")
TF = torch.nn.functional


def torch_parity(mg_fn, torch_fn, x, device):
    xm, xt = mg.tensor(x, device=device, requires_grad=True), torch.tensor(x, requires_grad=True)
    ym, yt = mg_fn(xm), torch_fn(xt)
    assert ym.shape == tuple(yt.shape) and ym.dtype == np.float64
    np.testing.assert_allclose(ym.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(3).standard_normal(tuple(yt.shape))
    ym.backward(mg.tensor(g, device=device))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)


@given(data=st.data(), case=interp_cases(), area=st.booleans())
def test_interpolate_matches_torch(device, data, case, area):
    x = draw_array(data, case["shape"], device)
    mode, align = ("area", None) if area else (case["mode"], case["align_corners"])
    kw = dict(mode=mode, align_corners=align, **case["kw"])
    torch_parity(lambda t: F.interpolate(t, **kw), lambda t: TF.interpolate(t, **kw), x, device)


@pytest.mark.parametrize("n_in,factor", [(7, 0.3), (10, 0.35), (5, 1.7), (3, 0.7), (9, 2.3), (11, 1.1)])
def test_nearest_floor_rule_on_awkward_scales_matches_torch(device, n_in, factor):
    """Output sizes floor(n * s) and the float32 source rule, where float64 arithmetic would round differently."""
    x = np.random.default_rng(0).standard_normal((1, 2, n_in))
    for mode in ("nearest", "nearest-exact", "linear"):
        torch_parity(lambda t: F.interpolate(t, scale_factor=factor, mode=mode),
                     lambda t: TF.interpolate(t, scale_factor=factor, mode=mode), x, device)


def test_interpolate_float32_kept_and_upsample_layers(device):
    x = mg.randn(2, 3, 4, 5, device=device, requires_grad=True)
    y = F.interpolate(x, scale_factor=2, mode="bilinear")
    assert y.dtype == np.float32 and y.shape == (2, 3, 8, 10)
    y.sum().backward()
    assert x.grad.dtype == np.float32
    a = np.random.default_rng(1).standard_normal((2, 3, 4, 5)).astype(np.float32)
    for ours, ref in [(nn.Upsample(scale_factor=2), torch.nn.Upsample(scale_factor=2)),
                      (nn.Upsample(size=(7, 3), mode="bicubic", align_corners=True),
                       torch.nn.Upsample(size=(7, 3), mode="bicubic", align_corners=True)),
                      (nn.UpsamplingBilinear2d(scale_factor=1.5), torch.nn.UpsamplingBilinear2d(scale_factor=1.5)),
                      (nn.Upsample(scale_factor=(0.5, 1.5), mode="nearest-exact"),
                       torch.nn.Upsample(scale_factor=(0.5, 1.5), mode="nearest-exact"))]:
        np.testing.assert_allclose(ours(mg.tensor(a, device=device)).numpy(), ref(torch.tensor(a)).numpy(),
                                   rtol=2e-5, atol=2e-5, err_msg=repr(ref))
        assert repr(ours) == repr(ref)


def test_interpolate_errors_name_the_op(device):
    x = mg.randn(1, 2, 4, 4, device=device)
    cases = [
        (ValueError, "interpolate: only one of size or scale_factor", lambda: F.interpolate(x, size=3, scale_factor=2)),
        (ValueError, "interpolate: either size or scale_factor should be defined", lambda: F.interpolate(x)),
        (ValueError, "interpolate: align_corners option can only be set with the interpolating modes",
         lambda: F.interpolate(x, size=3, align_corners=True)),
        (ValueError, "interpolate: mode 'linear' needs a 3-D input", lambda: F.interpolate(x, size=3, mode="linear")),
        (ValueError, "interpolate: mode 'bilinear' needs a 4-D input",
         lambda: F.interpolate(mg.randn(1, 2, 4, device=device), size=3, mode="bilinear")),
        (ValueError, "interpolate: mode must be one of", lambda: F.interpolate(x, size=3, mode="cubic")),
        (ValueError, r"interpolate: input .* has 2 spatial dimension\(s\), but size=\(3, 3, 3\)",
         lambda: F.interpolate(x, size=(3, 3, 3))),
        (ValueError, "interpolate: recompute_scale_factor is not meaningful with an explicit size",
         lambda: F.interpolate(x, size=3, recompute_scale_factor=True)),
        (ValueError, "interpolate: input and output sizes should be greater than 0",
         lambda: F.interpolate(x, scale_factor=0.1)),
        (ValueError, r"interpolate: expected a 3-D \(N, C, L\) or 4-D", lambda: F.interpolate(x[0, 0], size=3)),
        (ValueError, "interpolate: antialias=True is not supported",
         lambda: F.interpolate(x, size=3, mode="bilinear", antialias=True)),
        (TypeError, "interpolate: expected a floating-point tensor",
         lambda: F.interpolate(mg.ones(1, 2, 4, dtype="int64", device=device), size=3)),
    ]
    for exc, match, call in cases:
        with pytest.raises(exc, match=match):
            call()
