"""3-D convolution, transposed convolution and pooling over (N, C, D, H, W), torch's layout.

Each 3-D op is its 2-D counterpart (ops/conv2d.py) plus one step along the depth axis:

  * conv3d: output depth d reads the padded depths d*s_d + a*d_d (depth taps a < kD). `DepthUnfold`
    copies those kD slices of every output depth next to the channels, (N, C, D, H, W) ->
    (N*D_out, C*kD, H, W), so conv3d is ONE conv2d of that stack by the weight (O, Cg, kD, kH, kW) read
    as (O, Cg*kD, kH, kW): channel c*kD + a is depth tap a of channel c, the weight's own memory order,
    so the groups stay contiguous blocks of channels.
  * conv_transpose3d: the adjoint. ONE conv_transpose2d of the depth slices (N*D, C, H, W) by the weight
    read as (C, Og*kD, kH, kW) gives each input depth's contribution to every depth tap; `DepthFold`
    (DepthUnfold's adjoint) adds tap a of input depth d onto output depth d*s_d + a*d_d - p_d.
  * max_pool3d / adaptive_max_pool3d: the N-d window code of the 2-D ones (`PoolWindows`, `_adaptive_max`).
  * avg_pool3d: the sum over the kD depth taps (DepthUnfold), then avg_pool2d's (h, w) window sums,
    divided by torch's 3-D divisor (the product of the three 1-D rules).
  * adaptive_avg_pool3d: adaptive_avg_pool2d over (H, W), then the adaptive mean over depth (a box's
    mean is the mean over its depths of the means of its (h, w) windows).
"""
from __future__ import annotations

from .. import amp as _amp
from .. import backend as _B
from ..autograd import Function
from ..tensor import _wrap
from .common import describe
from .conv import _batched, _unbatch, adaptive_mean_last
from .conv2d import (
    AdaptiveMaxPool2d, AvgPool2d, Conv2d, ConvTranspose2d, MaxPool2d, _adaptive_max_pool, _adaptive_size,
    _avg_divisor, _check_bias, _check_nonempty, _check_weight, _conv_shapes, _conv_transpose_conf,
    _divisor_override, _max_pool, _pair, _pool2d_args, _pool_out, adaptive_avg_pool2d,
)
from .shape import permute, reshape

get_xp = _B.get_array_module

__all__ = ["conv3d", "conv_transpose3d", "max_pool3d", "avg_pool3d", "adaptive_avg_pool3d", "adaptive_max_pool3d",
           "max_pool3d_with_indices", "adaptive_max_pool3d_with_indices"]

_SPATIAL = ("depth", "height", "width")


# ---------------------------------------------------------------- depth windows (raw arrays)
def _depth_cols(xp, xpad, k, stride, dilation, out):
    """cols[n, d, c, a] = xpad[n, c, d*s + a*dil] for d < out, a < k: (N, out, C, k, H, W), one strided copy per tap."""
    n, c = xpad.shape[:2]
    cols = xp.empty((n, out, c, k) + xpad.shape[3:], dtype=xpad.dtype)
    for a in range(k):
        start = a * dilation
        cols[:, :, :, a] = xpad[:, :, start:start + stride * (out - 1) + 1:stride].transpose(0, 2, 1, 3, 4)
    return cols


def _depth_col2im(xp, cols, depth, stride, dilation):
    """The adjoint of `_depth_cols`: full[n, c, d*s + a*dil] += cols[n, d, c, a], full (N, C, depth, H, W).

    For one tap a the depths d*s + a*dil are distinct, so each += is exact.
    """
    n, out, c, k = cols.shape[:4]
    full = xp.zeros((n, c, depth) + cols.shape[4:], dtype=cols.dtype)
    if out:
        for a in range(k):
            start = a * dilation
            full[:, :, start:start + stride * (out - 1) + 1:stride] += cols[:, :, :, a].transpose(0, 2, 1, 3, 4)
    return full


class DepthUnfold(Function):
    """y[n, d, c, a, h, w] = xpad[n, c, d*s + a*dil, h, w] (xpad: x with `padding` = (before, after) zero depths);
    dx = the adjoint: dy[n, d, c, a] added back onto depth d*s + a*dil - before."""

    @staticmethod
    def forward(ctx, x, kernel, stride, dilation, padding, out):
        xp = get_xp(x)
        before, after = padding
        xpad = x
        if before or after:
            xpad = xp.zeros(x.shape[:2] + (before + x.shape[2] + after,) + x.shape[3:], dtype=x.dtype)
            xpad[:, :, before:before + x.shape[2]] = x
        ctx.conf = (x.shape[2], xpad.shape[2], stride, dilation, before)
        return _depth_cols(xp, xpad, kernel, stride, dilation, out)

    @staticmethod
    def backward(ctx, g):
        depth, padded, stride, dilation, before = ctx.conf
        return _depth_col2im(get_xp(g), g, padded, stride, dilation)[:, :, before:before + depth]


class DepthFold(Function):
    """y[n, c, d*s + a*dil - padding] += x[n, d, c, a] for the output depths [0, out) (a col2im over depth);
    dx = DepthUnfold of dy (zero outside the output)."""

    @staticmethod
    def forward(ctx, x, kernel, stride, dilation, padding, out, full):
        xp = get_xp(x)
        y = _depth_col2im(xp, x, full, stride, dilation)  # every tap added, before the crop
        ctx.conf = (x.shape[1], kernel, stride, dilation, padding, full)
        return xp.ascontiguousarray(y[:, :, padding:padding + out])

    @staticmethod
    def backward(ctx, g):
        depth_in, kernel, stride, dilation, padding, full = ctx.conf
        xp = get_xp(g)
        gfull = xp.zeros(g.shape[:2] + (full,) + g.shape[3:], dtype=g.dtype)  # the adjoint of the crop
        gfull[:, :, padding:padding + g.shape[2]] = g
        return _depth_cols(xp, gfull, kernel, stride, dilation, depth_in)


class MaxPool3d(MaxPool2d):
    """y[n, c, d, h, w] = max_{a, i, j} x[n, c, d*s + a*dil - p, h*s + i*dil - p, w*s + j*dil - p];
    dx gets dy at each window's winner (the first maximum in (a, i, j) order; MaxPool2d's N-d code)."""


class AdaptiveMaxPool3d(AdaptiveMaxPool2d):
    """y[n, c, i, j, k] = max of x[n, c] over adaptive box (i, j, k);  dx[n, c, argmax] += dy
    (AdaptiveMaxPool2d's N-d code; boxes may overlap)."""


# ---------------------------------------------------------------- wrappers
def _batched3d(op, x):
    """x as (N, C, D, H, W) plus whether a batch dim was added (torch's unbatched (C, D, H, W) form)."""
    return _batched(op, x, spatial=_SPATIAL)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002 - torch's names
    """torch.nn.functional.conv3d: a 3-D (cross-)correlation of (N, C_in, D, H, W) or (C_in, D, H, W).

    Args:
        input: (N, C_in, D, H, W) or unbatched (C_in, D, H, W).
        weight: (C_out, C_in / groups, kD, kH, kW).
        bias: optional (C_out,).
        stride, dilation: an int or a (d, h, w) triple (>= 1).
        padding: zeros on both sides (an int or (d, h, w) triple), 'valid' (none) or 'same' (output size =
            input size; stride 1 only; an odd total puts the extra zero after, as torch).
        groups: split input and output channels into this many independent groups.

    Returns:
        (N, C_out, D_out, H_out, W_out), D_out = (D + 2*pad_d - dilation_d*(kD-1) - 1) // stride_d + 1 (H, W alike).
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('conv3d', conv3d, input=input, weight=weight, bias=bias, stride=stride, padding=padding,
                        dilation=dilation, groups=groups)
    op = "conv3d"
    x, added = _batched3d(op, input)
    _check_weight(op, x, weight, 5, "(out_channels, in_channels / groups, kD, kH, kW)")
    stride = _pair(op, "stride", stride, 1, n=3)
    dilation = _pair(op, "dilation", dilation, 1, n=3)
    groups = _pair(op, "groups", groups, 1, n=1)[0]
    pad = _conv_shapes(op, input, x, weight, padding, stride, dilation, groups, _SPATIAL)
    o, cg, kd, kh, kw = weight.data.shape
    args = [reshape(weight, (o, cg * kd, kh, kw))]  # depth taps next to the channels (a view)
    if bias is not None:
        _check_bias(op, x, bias, o)
        args.append(bias)
    n, c, depth, h, w = x.data.shape
    d_out = (depth + sum(pad[0]) - dilation[0] * (kd - 1) - 1) // stride[0] + 1
    cols = DepthUnfold.apply(x, kernel=kd, stride=stride[0], dilation=dilation[0], padding=pad[0], out=d_out)
    cols = reshape(cols, (n * d_out, c * kd, h, w))
    y = Conv2d.apply(cols, *args, stride=stride[1:], padding=pad[1:], dilation=dilation[1:], groups=groups)
    y = permute(reshape(y, (n, d_out) + y.data.shape[1:]), (0, 2, 1, 3, 4))  # (N*D_out, O, ...) -> (N, O, D_out, ...)
    return _unbatch(y.contiguous(), added)  # (C order, as torch's: a port's y.view(n, -1) must work)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,  # noqa: A002
                     dilation=1):
    """torch.nn.functional.conv_transpose3d: the adjoint of conv3d (a "deconvolution"), (N, C_in, D, H, W) in.

    Args:
        input: (N, C_in, D, H, W) or unbatched (C_in, D, H, W).
        weight: (C_in, C_out / groups, kD, kH, kW) (in_channels first, torch's layout).
        bias: optional (C_out,).
        stride, padding, dilation: those of the conv3d it is the adjoint of (ints or (d, h, w) triples).
        output_padding: extra size added after the output (< stride or < dilation).
        groups: independent channel groups.

    Returns:
        (N, C_out, D_out, H_out, W_out), D_out = (D-1)*stride - 2*padding + dilation*(kD-1) + output_padding + 1.
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('conv_transpose3d', conv_transpose3d, input=input, weight=weight, bias=bias, stride=stride,
                        padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    op = "conv_transpose3d"
    x, added = _batched3d(op, input)
    _check_weight(op, x, weight, 5, "(in_channels, out_channels / groups, kD, kH, kW)")
    stride, padding, dilation, groups, out = _conv_transpose_conf(op, x, weight, stride, padding, output_padding,
                                                                  groups, dilation, 3)
    c, og, kd, kh, kw = weight.data.shape
    if bias is not None:
        _check_bias(op, x, bias, og * groups)
    n, _, depth, h, w = x.data.shape
    # every input depth slice through the 2-D transposed convolution, each output channel with its kD depth taps
    slices = reshape(permute(x, (0, 2, 1, 3, 4)), (n * depth, c, h, w))
    z = ConvTranspose2d.apply(slices, reshape(weight, (c, og * kd, kh, kw)), stride=stride[1:], padding=padding[1:],
                              dilation=dilation[1:], groups=groups, out_hw=out[1:])
    z = reshape(z, (n, depth, og * groups, kd) + out[1:])
    # the uncropped output depth, grown when output_padding reaches past it
    full = max((depth - 1) * stride[0] + dilation[0] * (kd - 1) + 1, padding[0] + out[0])
    y = DepthFold.apply(z, kernel=kd, stride=stride[0], dilation=dilation[0], padding=padding[0], out=out[0],
                        full=full)
    if bias is not None:
        y = y + reshape(bias, (og * groups, 1, 1, 1))
    return _unbatch(y, added)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
               return_indices=False):
    """torch.nn.functional.max_pool3d: the maximum of each (kD, kH, kW) window of (N, C, D, H, W) or (C, D, H, W).

    Args:
        kernel_size: window size (int or (d, h, w)).
        stride: step between windows (default: kernel_size).
        padding: implicit -inf padding on both sides (at most kernel_size / 2).
        dilation: spacing between the window's taps.
        ceil_mode: round the output size up (a last, partial window), as torch.
        return_indices: also return the int64 flat position d*H*W + h*W + w (in the unpadded input) of each
            maximum (a window of padding only, which dilation allows, gets torch's placeholder index).

    The gradient of each output goes to its window's first maximum ((d, h, w) order), torch's choice for ties.
    """
    op = "max_pool3d"
    x, added = _batched3d(op, input)
    return _max_pool(op, MaxPool3d, x, added, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
                            return_indices=False):
    """`max_pool3d(..., return_indices=True)`: (values, int64 flat positions d*H*W + h*W + w)."""
    return max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,  # noqa: A002
               divisor_override=None):
    """torch.nn.functional.avg_pool3d: the mean of each (kD, kH, kW) window of (N, C, D, H, W) or (C, D, H, W).

    Args:
        kernel_size: window size (int or (d, h, w)).
        stride: step between windows (default: kernel_size).
        padding: implicit zero padding on both sides (at most kernel_size / 2).
        ceil_mode: round the output size up (a last, partial window), as torch.
        count_include_pad: divide by the window volume including the zero padding (default), or only by
            the number of input positions in it.
        divisor_override: divide every window's sum by this (non-zero) int instead.
    """
    op = "avg_pool3d"
    x, added = _batched3d(op, input)
    k, s, p, _ = _pool2d_args(op, kernel_size, stride, padding, n=3)
    divisor_override = _divisor_override(op, divisor_override)
    n, c, depth, h, w = x.data.shape
    if depth < k[0] or h < k[1] or w < k[2]:  # (torch's avg_pool3d refuses these, padding or not)
        raise ValueError(f"{op}: input {describe(input)} is smaller than kernel_size {k} (torch's avg_pool3d needs "
                         f"depth, height and width of at least the kernel's, padding not counted)")
    out = _pool_out(op, x, k, s, p, (1, 1, 1), ceil_mode)
    after = max(0, (out[0] - 1) * s[0] + k[0] - depth - p[0])  # zeros for ceil_mode's last, partial window
    cols = DepthUnfold.apply(x, kernel=k[0], stride=s[0], dilation=1, padding=(p[0], after), out=out[0])
    sums = reshape(cols.sum(3), (n * out[0], c, h, w))  # each window's depth sum, per (h, w)
    # ... then the (h, w) window sums (avg_pool2d's, with divisor 1), and one 3-D divisor
    sums = AvgPool2d.apply(sums, kernel_size=k[1:], stride=s[1:], padding=p[1:], out=out[1:], count_include_pad=True,
                           divisor_override=1)
    sums = permute(reshape(sums, (n, out[0], c) + out[1:]), (0, 2, 1, 3, 4))
    div = _avg_divisor(get_xp(x.data), x.data.shape[2:], k, s, p, out, bool(count_include_pad), divisor_override,
                       x.data.dtype)
    return _unbatch((sums / _wrap(div)).contiguous(), added)  # (C order, as torch's; sums is permuted)


def adaptive_avg_pool3d(input, output_size):  # noqa: A002
    """torch.nn.functional.adaptive_avg_pool3d: means over (out_d, out_h, out_w) boxes that tile D, H and W.

    Box (i, j, k) covers depths [floor(i D / out_d), ceil((i + 1) D / out_d)) and likewise rows and columns
    (output_size: an int, or a triple whose None entries keep that input size). Composed: adaptive_avg_pool2d
    over (H, W), then the adaptive mean over depth.
    """
    op = "adaptive_avg_pool3d"
    x, added = _batched3d(op, input)
    _check_nonempty(op, x, added)
    out = _adaptive_size(op, output_size, x.data.shape[2:])
    n, c, depth, h, w = x.data.shape
    y = adaptive_avg_pool2d(reshape(x, (n, c * depth, h, w)), out[1:])  # (N, C*D, out_h, out_w)
    y = permute(reshape(y, (n, c, depth, out[1] * out[2])), (0, 1, 3, 2))  # depth last
    y = permute(adaptive_mean_last(y, out[0]), (0, 1, 3, 2))  # (N, C, out_d, out_h*out_w)
    return _unbatch(reshape(y, (n, c) + out).contiguous(), added)  # (C order, as torch's; y is permuted)


def adaptive_max_pool3d(input, output_size, return_indices=False):  # noqa: A002
    """torch.nn.functional.adaptive_max_pool3d: maxima over (out_d, out_h, out_w) boxes that tile D, H and W.

    output_size: an int, or a triple whose None entries keep that input size. return_indices=True also
    gives the int64 flat position d*H*W + h*W + w of each maximum.
    """
    op = "adaptive_max_pool3d"
    x, added = _batched3d(op, input)
    return _adaptive_max_pool(op, AdaptiveMaxPool3d, x, added, output_size, return_indices)


def adaptive_max_pool3d_with_indices(input, output_size, return_indices=False):  # noqa: A002
    """`adaptive_max_pool3d(..., return_indices=True)`: (values, int64 flat positions d*H*W + h*W + w)."""
    return adaptive_max_pool3d(input, output_size, return_indices=True)
