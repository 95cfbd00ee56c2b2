"""2-D convolution, transposed convolution, pooling, fold/unfold and resampling over (N, C, H, W), torch's layout.

Everything here reads windows of the two spatial axes: output position (h, w) reads the
padded-input positions (h*s_h + i*d_h, w*s_w + j*d_w) for the kernel taps (i, j). For a
fixed tap these positions form one strided view of the padded input, so

  * im2col (`_im2col`) copies the kh*kw tap views into cols[n, c, i, j, h, w], and a
    convolution is then one matmul per group: y = W (Og, Cg*kh*kw) @ cols (Cg*kh*kw, Ho*Wo);
  * col2im (`_col2im`, the adjoint) adds each tap's slab back onto its strided view
    (the positions of one tap are distinct, so each += is exact);
  * pooling reduces over the tap views directly (a running max / sum, no gather); max pooling
    first lays the padded input out by stride phase (`PoolWindows`), so each tap is one contiguous slice.

A transposed convolution is the adjoint of a convolution with respect to its input: its
forward is conv2d's input-gradient (matmul then col2im), its backward conv2d's forward
(im2col then matmul). 1-D transposed convolution and adaptive max pooling run as the 2-D
ones on a height-1 image. `interpolate` resamples one spatial axis at a time with
`Resample` (a gather of T neighbours and a weighted sum; its backward scatters back).
"""
from __future__ import annotations

import itertools
import math
import numbers
from collections import namedtuple

from .. import backend as _B
from ..autograd import Function
from ..tensor import Tensor, _wrap
from .common import c_order, check_float, describe
from .conv import (
    AvgPool1d, PoolWindows, _adaptive_windows, _batched, _first_tap_at_or_after_0, _pool_len, _same_device_dtype,
)
from .shape import permute, reshape
from .. import amp as _amp

np = _B.np  # dtypes and host-side index arithmetic only
get_xp = _B.get_array_module

__all__ = [
    "conv2d", "conv_transpose1d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "unfold", "fold", "pixel_shuffle", "pixel_unshuffle",
    "interpolate",
]

MaxPoolResult = namedtuple("MaxPoolResult", ["values", "indices"])  # what return_indices=True gives (a plain pair)


# ---------------------------------------------------------------- window helpers (raw arrays)
def _padded2d(xp, x, pad_h, pad_w, value):
    """x with (top, bottom) rows and (left, right) columns of `value` added (a fresh array, or x itself)."""
    (top, bottom), (left, right) = pad_h, pad_w
    if not (top or bottom or left or right):
        return x
    h, w = x.shape[-2:]
    out = xp.full(x.shape[:-2] + (h + top + bottom, w + left + right), value, dtype=x.dtype)
    out[..., top:top + h, left:left + w] = x
    return out


def _tap(a, i, j, stride, dilation, out):
    """The strided view a[..., i*d_h + h*s_h, j*d_w + w*s_w] for h < H_out, w < W_out (kernel tap (i, j))."""
    r0, c0 = i * dilation[0], j * dilation[1]
    return a[..., r0:r0 + stride[0] * (out[0] - 1) + 1:stride[0], c0:c0 + stride[1] * (out[1] - 1) + 1:stride[1]]


def _im2col(xp, xpad, kernel, stride, dilation, out):
    """cols[n, c, i, j, h, w] = xpad[n, c, h*s_h + i*d_h, w*s_w + j*d_w]: one strided copy per kernel tap."""
    n, c = xpad.shape[:2]
    cols = xp.empty((n, c) + tuple(kernel) + tuple(out), dtype=xpad.dtype)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            cols[:, :, i, j] = _tap(xpad, i, j, stride, dilation, out)
    return cols


def _col2im(xp, cols, padded_hw, stride, dilation):
    """The adjoint of `_im2col`: out[n, c, h*s_h + i*d_h, w*s_w + j*d_w] += cols[n, c, i, j, h, w] (padded size)."""
    n, c, kh, kw, ho, wo = cols.shape
    out = xp.zeros((n, c) + tuple(padded_hw), dtype=cols.dtype)
    if ho and wo:
        for i in range(kh):
            for j in range(kw):
                _tap(out, i, j, stride, dilation, (ho, wo))[...] += cols[:, :, i, j]
    return out


def _col2im_stride1(xp, cols, padded_hw, dilation):
    """`_col2im` for stride 1 on "wide" rows: cols (N, C, kh, kw, H_out, W_pad) whose columns w >= W_out are 0.

    In the flattened padded image, tap (i, j) of output (h, w) is at (h + i*d_h)*W_pad + w + j*d_w,
    i.e. h*W_pad + w plus a per-tap offset: with rows as wide as the padded image, each tap's
    positions are one contiguous run, so each += is one long slice (not H_out rows of W_out).
    The zero columns spill onto the next row's first positions and add nothing (x + 0 = x, same order).
    """
    n, c, kh, kw, ho, wp = cols.shape
    span = ho * wp
    # room for the last tap's spill past the end of the image
    out = xp.zeros((n, c, padded_hw[0] * wp + (kw - 1) * dilation[1]), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            start = i * dilation[0] * wp + j * dilation[1]
            out[:, :, start:start + span] += cols[:, :, i, j].reshape(n, c, span)
    return out[:, :, :padded_hw[0] * wp].reshape((n, c) + tuple(padded_hw))


def _crop(a, pad_h, pad_w, hw):
    """a[..., top:top + H, left:left + W]: the unpadded part of a padded-size array."""
    return a[..., pad_h[0]:pad_h[0] + hw[0], pad_w[0]:pad_w[0] + hw[1]]


# ---------------------------------------------------------------- convolution Functions
class Conv2d(Function):
    """y[n, o, h, w] = b[o] + sum_{c, i, j} W[o, c, i, j] x[n, g*Cg + c, h*s + i*d - p, w*s + j*d - p] (g = o's group);
    dW = sum_n dy cols^T, dcols = W^T dy then col2im (= dx), db = sum_{n, h, w} dy.
    """

    @staticmethod
    def forward(ctx, x, w, *bias, stride, padding, dilation, groups):
        xp = get_xp(x)
        n, c, h, wd = x.shape
        o, cg, kh, kw = w.shape
        xpad = _padded2d(xp, x, padding[0], padding[1], 0)
        out = tuple((xpad.shape[2 + a] - dilation[a] * ((kh, kw)[a] - 1) - 1) // stride[a] + 1 for a in range(2))
        # (N, G, Cg*kh*kw, Ho*Wo): the windows of each group as the columns of one matrix
        cols = _im2col(xp, xpad, (kh, kw), stride, dilation, out).reshape(n, groups, cg * kh * kw, out[0] * out[1])
        y = (w.reshape(groups, o // groups, cg * kh * kw) @ cols).reshape(n, o, out[0], out[1])
        if bias:
            y += bias[0][:, None, None]
        ctx.save_for_backward(w, cols)  # the windows are kept for dW rather than gathered again
        ctx.conf = (x.shape, xpad.shape[2:], stride, padding, dilation, groups)
        return y

    @staticmethod
    def backward(ctx, g):
        w, cols = ctx.saved
        xshape, padded_hw, stride, padding, dilation, groups = ctx.conf
        need = ctx.needs_input_grad
        xp = get_xp(g)
        n = xshape[0]
        o, cg, kh, kw = w.shape
        gy = g.reshape(n, groups, o // groups, g.shape[2] * g.shape[3])  # (N, G, Og, P)
        gx = gw = None
        if need[0]:  # (G, K, Og) @ (N, G, Og, P) -> (N, G, K, P), then each tap back onto the input
            wt = w.reshape(groups, o // groups, cg * kh * kw).transpose(0, 2, 1)
            if stride == (1, 1):  # rows as wide as the padded input: one contiguous += per tap
                ho, wo = g.shape[2:]
                wide = xp.zeros(g.shape[:3] + (padded_hw[1],), dtype=g.dtype)
                wide[..., :wo] = g
                dcols = wt @ wide.reshape(n, groups, o // groups, ho * padded_hw[1])
                dcols = dcols.reshape((n, xshape[1], kh, kw) + wide.shape[2:])
                dcols[..., wo:] = 0  # (exactly 0 even for an inf weight: the extra columns must add nothing)
                gpad = _col2im_stride1(xp, dcols, padded_hw, dilation)
            else:
                dcols = (wt @ gy).reshape((n, xshape[1], kh, kw) + g.shape[2:])
                gpad = _col2im(xp, dcols, padded_hw, stride, dilation)
            gx = _crop(gpad, padding[0], padding[1], xshape[2:])
        if need[1]:  # (N, G, Og, P) @ (N, G, P, K) summed over the batch
            gw = (gy @ cols.transpose(0, 1, 3, 2)).sum(axis=0).reshape(w.shape)
        if len(need) == 2:
            return gx, gw
        return gx, gw, (g.sum(axis=(0, 2, 3)) if need[2] else None)


class ConvTranspose2d(Function):
    """The adjoint of conv2d in its input: full[n, o, h*s + i*d, w*s + j*d] += sum_c W[c, o, i, j] x[n, c, h, w],
    y = b + full cropped by `padding` (and extended by output_padding);
    dx = W^T applied to the windows of dy (conv2d's forward), dW = sum_n x dcols^T, db = sum dy.
    """

    @staticmethod
    def forward(ctx, x, w, *bias, stride, padding, dilation, groups, out_hw):
        xp = get_xp(x)
        n, c, h, wd = x.shape
        _, og, kh, kw = w.shape
        cg = c // groups
        # the uncropped output, grown when output_padding reaches past it
        buf = tuple(max((x.shape[2 + a] - 1) * stride[a] + dilation[a] * ((kh, kw)[a] - 1) + 1,
                        padding[a] + out_hw[a]) for a in range(2))
        xg = x.reshape(n, groups, cg, h * wd)
        # (G, Og*kh*kw, Cg) @ (N, G, Cg, H*W): every input pixel's contribution to its kh x kw output patch
        cols = w.reshape(groups, cg, og * kh * kw).transpose(0, 2, 1) @ xg
        cols = cols.reshape(n, groups * og, kh, kw, h, wd)
        full = _col2im(xp, cols, buf, stride, dilation)
        y = _crop(full, (padding[0], 0), (padding[1], 0), out_hw)
        y = y + bias[0][:, None, None] if bias else y.copy()  # (a copy: the crop is a view of `full`)
        ctx.save_for_backward(x, w)
        ctx.conf = (buf, stride, padding, dilation, groups)
        return y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved
        buf, stride, padding, dilation, groups = ctx.conf
        need = ctx.needs_input_grad
        xp = get_xp(g)
        n, c, h, wd = x.shape
        _, og, kh, kw = w.shape
        cg = c // groups
        gfull = xp.zeros(g.shape[:2] + buf, dtype=g.dtype)  # the adjoint of the crop
        _crop(gfull, (padding[0], 0), (padding[1], 0), g.shape[2:])[...] = g
        dcols = _im2col(xp, gfull, (kh, kw), stride, dilation, (h, wd)).reshape(n, groups, og * kh * kw, h * wd)
        gx = gw = None
        if need[0]:  # (G, Cg, Og*k) @ (N, G, Og*k, P)
            gx = (w.reshape(groups, cg, og * kh * kw) @ dcols).reshape(x.shape)
        if need[1]:  # (N, G, Cg, P) @ (N, G, P, Og*k) summed over the batch
            gw = (x.reshape(n, groups, cg, h * wd) @ dcols.transpose(0, 1, 3, 2)).sum(axis=0).reshape(w.shape)
        if len(need) == 2:
            return gx, gw
        return gx, gw, (g.sum(axis=(0, 2, 3)) if need[2] else None)


# ---------------------------------------------------------------- pooling Functions
class MaxPool2d(Function):
    """y[n, c, h, w] = max_{i, j} x[n, c, h*s + i*d - p, w*s + j*d - p];  dx gets dy at each window's winner

    The forward is a running maximum over the kh*kw tap slices of the padded input (`PoolWindows`, shared
    with max_pool1d; no argmax). The backward finds each window's winner from the maximum: the first tap
    equal to it, in row-major window order (the full scan only for windows of NaN or -inf).
    """

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, dilation, out):
        win = PoolWindows(get_xp(x), x, kernel_size, stride, padding, dilation, out)
        best = win.maximum()  # (on a tie the earlier tap's value stays: -0.0 before 0.0 gives -0.0, as torch)
        ctx.win = win
        ctx.save_for_backward(best)
        return win.output(best)

    @staticmethod
    def backward(ctx, g):
        (best,) = ctx.saved
        return ctx.win.backward(best, g)


def _avg_divisor(xp, hw, kernel, stride, padding, out, count_include_pad, divisor_override, dtype):
    """(H_out, W_out) divisors: torch's window area, clipped to the padded (or, without count_include_pad, the
    unpadded) input, the product of the two 1-D rules; or the constant divisor_override.
    (For 3-D pooling: (D_out, H_out, W_out), the product of three 1-D rules.)"""
    if divisor_override is not None:
        return xp.full(tuple(out), divisor_override, dtype=dtype)
    div = None
    for a in range(len(out)):  # one 1-D rule per axis, broadcast along its own output axis
        da = AvgPool1d._divisor(xp, hw[a], kernel[a], stride[a], padding[a], out[a], count_include_pad, dtype)
        da = da.reshape((-1,) + (1,) * (len(out) - 1 - a))
        div = da if div is None else div * da
    return div


class AvgPool2d(Function):
    """y[n, c, h, w] = sum_{i, j} x[n, c, h*s + i - p, w*s + j - p] / div[h, w];  dx[window] += dy / div"""

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, out, count_include_pad, divisor_override):
        xp = get_xp(x)
        k = kernel_size
        pad = tuple((padding[a], max(0, (out[a] - 1) * stride[a] + k[a] - x.shape[2 + a] - padding[a]))
                    for a in range(2))
        xpad = _padded2d(xp, x, pad[0], pad[1], 0)
        total = _tap(xpad, 0, 0, stride, (1, 1), out).copy()
        for t in range(1, k[0] * k[1]):  # row-major, torch's summation order
            total += _tap(xpad, t // k[1], t % k[1], stride, (1, 1), out)
        div = _avg_divisor(xp, x.shape[2:], k, stride, padding, out, count_include_pad, divisor_override, x.dtype)
        ctx.save_for_backward(div)
        ctx.conf = (x.shape[2:], xpad.shape[2:], k, stride, padding)
        return total / div

    @staticmethod
    def backward(ctx, g):
        (div,) = ctx.saved
        hw, padded_hw, k, stride, padding = ctx.conf
        xp = get_xp(g)
        share = g / div  # each position of a window receives dy / div
        dpad = xp.zeros(g.shape[:2] + padded_hw, dtype=g.dtype)
        for t in range(k[0] * k[1]):
            _tap(dpad, t // k[1], t % k[1], stride, (1, 1), g.shape[2:])[...] += share
        return _crop(dpad, (padding[0], 0), (padding[1], 0), hw)


def _adaptive_max(xp, x, out):
    """(max over torch's adaptive windows, flat index h*W + w of the winner) for (N, C, H, W) x
    (and likewise for any number of spatial dims: (N, C, D, H, W) gives d*H*W + h*W + w).

    Tap (a, b) of window (i, j) reads row min(start_i + a, end_i - 1) (the clamp repeats the last
    row of a shorter window, which can never beat the earlier copy), so the loop runs over the
    largest window's taps with one gather each. Winner rule as max_pool2d: first maximum, NaN wins.
    """
    size = x.shape[2:]
    wins = [_adaptive_windows(xp, size[a], out[a]) for a in range(len(size))]
    # an upper bound on each window side (ceil(size/out) + 1)
    ks = [-(-size[a] // out[a]) + 1 if out[a] else 0 for a in range(len(size))]
    best = arg = None
    for taps in itertools.product(*(range(k) for k in ks)):  # row-major: the scan's order
        idx, pos = [], 0
        for a, (t, (start, end)) in enumerate(zip(taps, wins)):
            i = xp.minimum(start + t, end - 1).reshape((-1,) + (1,) * (len(size) - 1 - a))
            idx.append(i)
            pos = pos * size[a] + i
        v = x[(slice(None), slice(None)) + tuple(idx)]  # one gather per tap of the largest window
        pos = xp.broadcast_to(pos, v.shape)
        if best is None:
            best, arg = v, pos.astype(xp.int64)
            continue
        take = (v > best) | (v != v)
        best = xp.where(take, v, best)
        arg = xp.where(take, pos, arg)
    if best is None:  # an empty output
        best = xp.zeros(x.shape[:2] + tuple(out), dtype=x.dtype)
        arg = xp.zeros(best.shape, dtype=xp.int64)
    return c_order(best), c_order(arg)  # (NumPy's gathers lay them out window dims first; torch's are C order)


class AdaptiveMaxPool2d(Function):
    """y[n, c, i, j] = max of x[n, c] over window (i, j);  dx[n, c, argmax] += dy (windows may overlap)"""

    @staticmethod
    def forward(ctx, x, out):
        y, arg = _adaptive_max(get_xp(x), x, out)
        ctx.save_for_backward(arg)
        ctx.shape = x.shape
        return y

    @staticmethod
    def backward(ctx, g):
        (arg,) = ctx.saved
        n, c = ctx.shape[:2]
        area = math.prod(ctx.shape[2:])  # (H*W, or D*H*W for the 3-D subclass)
        xp = get_xp(g)
        # one flat index per output into the flattened input; overlapping windows may repeat one
        flat = (xp.arange(n * c, dtype=xp.int64)[:, None] * area + arg.reshape(n * c, -1)).reshape(-1)
        gx = xp.zeros(n * c * area, dtype=g.dtype)
        _B.scatter_add(gx, flat, g.reshape(-1))
        return gx.reshape(ctx.shape)


# ---------------------------------------------------------------- fold / unfold
class Unfold(Function):
    """y[n, (c, i, j), h*W_out + w] = xpad[n, c, h*s + i*d, w*s + j*d] (im2col);  dx = col2im(dy), cropped"""

    @staticmethod
    def forward(ctx, x, kernel_size, dilation, padding, stride, out):
        xp = get_xp(x)
        xpad = _padded2d(xp, x, (padding[0],) * 2, (padding[1],) * 2, 0)
        cols = _im2col(xp, xpad, kernel_size, stride, dilation, out)
        ctx.conf = (x.shape, xpad.shape[2:], kernel_size, dilation, padding, stride, out)
        n, c = x.shape[:2]
        return cols.reshape(n, c * kernel_size[0] * kernel_size[1], out[0] * out[1])

    @staticmethod
    def backward(ctx, g):
        shape, padded_hw, k, dilation, padding, stride, out = ctx.conf
        cols = g.reshape(shape[:2] + tuple(k) + tuple(out))
        full = _col2im(get_xp(g), cols, padded_hw, stride, dilation)
        return _crop(full, (padding[0], 0), (padding[1], 0), shape[2:])


class Fold(Function):
    """y = col2im(x) cropped: y[n, c, h*s + i*d - p, w*s + j*d - p] += x[n, (c, i, j), l];  dx = unfold(dy)"""

    @staticmethod
    def forward(ctx, x, output_size, kernel_size, dilation, padding, stride, blocks):
        xp = get_xp(x)
        n = x.shape[0]
        c = x.shape[1] // (kernel_size[0] * kernel_size[1])
        padded_hw = tuple(output_size[a] + 2 * padding[a] for a in range(2))
        full = _col2im(xp, x.reshape((n, c) + tuple(kernel_size) + tuple(blocks)), padded_hw, stride, dilation)
        ctx.conf = (x.shape, kernel_size, dilation, padding, stride, blocks)
        return _crop(full, (padding[0], 0), (padding[1], 0), output_size).copy()

    @staticmethod
    def backward(ctx, g):
        shape, k, dilation, padding, stride, blocks = ctx.conf
        xp = get_xp(g)
        gpad = _padded2d(xp, g, (padding[0],) * 2, (padding[1],) * 2, 0)
        return _im2col(xp, gpad, k, stride, dilation, blocks).reshape(shape)


# ---------------------------------------------------------------- resampling
class Resample(Function):
    """y[..., o, ...] = sum_t w[t, o] x[..., idx[t, o], ...] along `axis`;  dx[..., idx[t, o], ...] += w[t, o] dy[..., o, ...]

    idx and w are (T, out) constants: T = 1 (nearest, weight 1), 2 (linear) or 4 (cubic) source
    positions per output position, already clamped into the input.
    """

    @staticmethod
    def forward(ctx, x, axis, idx, weights):
        xp = get_xp(x)
        tail = (1,) * (x.ndim - axis - 1)  # weights broadcast over the axes after `axis`
        y = None
        for t in range(idx.shape[0]):  # torch's order: w0*x0 + w1*x1 + ...
            term = xp.take(x, idx[t], axis=axis)
            if weights is not None:
                term = term * weights[t].reshape(weights.shape[1:] + tail)
            y = term if y is None else y + term
        ctx.conf = (x.shape, axis, idx, weights)
        return y

    @staticmethod
    def backward(ctx, g):
        shape, axis, idx, weights = ctx.conf
        xp = get_xp(g)
        gt = xp.moveaxis(g, axis, 0)  # (out, ...): rows to scatter-add back onto the input's rows
        count = idx.shape[0]
        if weights is not None:
            wshape = (weights.shape[1],) + (1,) * (g.ndim - 1)
            parts = [gt * weights[t].reshape(wshape) for t in range(count)]
        else:
            parts = [gt] * count
        rows = xp.concatenate(parts) if count > 1 else xp.ascontiguousarray(parts[0])
        gx = xp.zeros((shape[axis],) + gt.shape[1:], dtype=g.dtype)
        _B.scatter_add(gx, idx.reshape(-1), rows)
        return xp.moveaxis(gx, 0, axis)


# ---------------------------------------------------------------- argument checks
def _pair(op, name, value, minimum, n=2):
    """An int or a tuple/list of 1 or n ints, each >= minimum, as an n-tuple (torch's _pair)."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if len(items) == 1:
        items = items * n
    if len(items) != n:
        raise ValueError(f"{op}: expected {name} to be a single integer value or a list of {n} values to match "
                         f"the {n}-D operation, got {name}={value!r}")
    for v in items:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{op}: {name} must be an int or a tuple of ints, got {name}={value!r}")
        if v < minimum:
            kind = "positive" if minimum == 1 else "non-negative"
            raise ValueError(f"{op}: {name} must be {kind}, got {name}={value!r}")
    return tuple(int(v) for v in items)


def _batched2d(op, x, what="input"):
    """x as (N, C, H, W) plus whether a batch dim was added (torch's unbatched (C, H, W) form)."""
    return _batched(op, x, what, spatial=("height", "width"))


def _batched1d_as_2d(op, x):
    """(N, C, L) or (C, L) as a height-1 image (N, C, 1, L), plus whether a batch dim was added."""
    x, added = _batched(op, x)
    n, c, length = x.data.shape
    return reshape(x, (n, c, 1, length)), added


def _unbatch(y, added):
    return reshape(y, y.data.shape[1:]) if added else y


def _check_weight(op, x, weight, ndim, layout):
    if not isinstance(weight, Tensor):
        raise TypeError(f"{op}: weight must be a Tensor {layout}, got {type(weight).__name__}")
    if weight.data.ndim != ndim:
        raise ValueError(f"{op}: weight must be a {ndim}-D tensor {layout}, got {describe(weight)}")
    _same_device_dtype(op, x, "weight", weight)


def _check_bias(op, x, bias, channels):
    if not isinstance(bias, Tensor) or tuple(bias.data.shape) != (channels,):
        got = describe(bias) if isinstance(bias, Tensor) else type(bias).__name__
        raise ValueError(f"{op}: bias must be a 1-D tensor of out_channels={channels} elements, got {got}")
    _same_device_dtype(op, x, "bias", bias)


def conv2d_padding(op, padding, kernel, stride, dilation, n=2):
    """((top, bottom), (left, right)) for an int/pair, 'valid' or 'same' (total d*(k-1) per axis, odd one after);
    one (before, after) pair per axis for n spatial axes (conv3d: n=3)."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions (stride={stride})")
            totals = [dilation[a] * (kernel[a] - 1) for a in range(n)]
            return tuple((t // 2, t - t // 2) for t in totals)
        raise ValueError(f"{op}: invalid padding string {padding!r}; expected 'valid', 'same' or an int / tuple")
    return tuple((p, p) for p in _pair(op, "padding", padding, 0, n=n))


def _conv_shapes(op, input, x, weight, padding, stride, dilation, groups, names):  # noqa: A002
    """The checks of conv2d / conv3d that need the weight's shape; gives the (before, after) padding per axis."""
    o, cg = weight.data.shape[:2]
    kernel = weight.data.shape[2:]
    c = x.data.shape[1]
    if o % groups:
        raise ValueError(f"{op}: groups={groups} must divide the out_channels of weight {describe(weight)} ({o})")
    if cg * groups != c:
        raise ValueError(f"{op}: weight {describe(weight)} with groups={groups} expects input with {cg * groups} "
                         f"channels, but input {describe(input)} has {c}")
    pad = conv2d_padding(op, padding, kernel, stride, dilation, n=len(kernel))
    for a, name in enumerate(names):
        size = x.data.shape[2 + a] + sum(pad[a])
        k_eff = dilation[a] * (kernel[a] - 1) + 1
        if size < k_eff:
            raise ValueError(f"{op}: the padded input {name} ({size}) is smaller than the dilated kernel ({k_eff}) "
                             f"for input {describe(input)} and weight {describe(weight)}")
    return pad


# ---------------------------------------------------------------- convolution wrappers
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002 - torch's names
    """torch.nn.functional.conv2d: a 2-D (cross-)correlation of (N, C_in, H, W) or (C_in, H, W).

    Args:
        input: (N, C_in, H, W) or unbatched (C_in, H, W).
        weight: (C_out, C_in / groups, kH, kW).
        bias: optional (C_out,).
        stride, dilation: an int or an (h, w) pair (>= 1).
        padding: zeros on both sides (an int or (h, w) pair), 'valid' (none) or 'same' (output size =
            input size; stride 1 only; an odd total puts the extra zero after, as torch).
        groups: split input and output channels into this many independent groups.

    Returns:
        (N, C_out, H_out, W_out), H_out = (H + 2*pad_h - dilation_h*(kH-1) - 1) // stride_h + 1 (same for W).
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('conv2d', conv2d, input=input, weight=weight, bias=bias, stride=stride, padding=padding,
                        dilation=dilation, groups=groups)
    op = "conv2d"
    x, added = _batched2d(op, input)
    _check_weight(op, x, weight, 4, "(out_channels, in_channels / groups, kH, kW)")
    stride = _pair(op, "stride", stride, 1)
    dilation = _pair(op, "dilation", dilation, 1)
    groups = _pair(op, "groups", groups, 1, n=1)[0]
    o, cg, kh, kw = weight.data.shape
    pad = _conv_shapes(op, input, x, weight, padding, stride, dilation, groups, ("height", "width"))
    args = [x, weight]
    if bias is not None:
        _check_bias(op, x, bias, o)
        args.append(bias)
    y = Conv2d.apply(*args, stride=stride, padding=pad, dilation=dilation, groups=groups)
    return _unbatch(y, added)


def _conv_transpose(op, x, weight, bias, stride, padding, output_padding, groups, dilation, dims):
    """The shared checks and the call of ConvTranspose2d for a batched (N, C, H, W) x (1-D: H = kH = 1)."""
    stride, padding, dilation, groups, out = _conv_transpose_conf(op, x, weight, stride, padding, output_padding,
                                                                  groups, dilation, dims)
    args = [x, weight]
    if bias is not None:
        _check_bias(op, x, bias, weight.data.shape[1] * groups)
        args.append(bias)
    return ConvTranspose2d.apply(*args, stride=stride, padding=padding, dilation=dilation, groups=groups,
                                 out_hw=out)


def _conv_transpose_conf(op, x, weight, stride, padding, output_padding, groups, dilation, dims):
    """The checked (stride, padding, dilation, groups, output size) of a transposed convolution of a batched
    x (N, C, *spatial) by weight (C, C_out / groups, *kernel); 1-D runs as 2-D (H = kH = 1), 3-D on its own."""
    stride = _pair(op, "stride", stride, 1, n=dims)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a tuple of ints (no 'same' / 'valid' for transposed "
                         f"convolutions), got {padding!r}")
    padding = _pair(op, "padding", padding, 0, n=dims)
    output_padding = _pair(op, "output_padding", output_padding, 0, n=dims)
    dilation = _pair(op, "dilation", dilation, 1, n=dims)
    groups = _pair(op, "groups", groups, 1, n=1)[0]
    if dims == 1:  # the 1-D case as a height-1 image with a height-1 kernel
        stride, padding, output_padding, dilation = ((1,) + stride, (0,) + padding, (0,) + output_padding,
                                                     (1,) + dilation)
    c, og = weight.data.shape[:2]
    kernel, sp = weight.data.shape[2:], len(stride)  # (sp spatial dims: 2 for 1-D and 2-D, 3 for 3-D)
    if x.data.shape[1] != c:
        raise ValueError(f"{op}: weight {describe(weight)} expects input with {c} channels (weight is "
                         f"(in_channels, out_channels / groups, ...)), but input has {x.data.shape[1]}")
    if c % groups:
        raise ValueError(f"{op}: groups={groups} must divide the in_channels of weight {describe(weight)} ({c})")
    for a in range(sp):
        if output_padding[a] >= stride[a] and output_padding[a] >= dilation[a]:
            raise ValueError(f"{op}: output_padding must be smaller than either stride or dilation, got "
                             f"output_padding={output_padding[sp - dims:]}, stride={stride[sp - dims:]}, "
                             f"dilation={dilation[sp - dims:]}")
    out = tuple((x.data.shape[2 + a] - 1) * stride[a] - 2 * padding[a] + dilation[a] * (kernel[a] - 1)
                + output_padding[a] + 1 for a in range(sp))
    if min(out) <= 0:
        raise ValueError(f"{op}: the output size {out[sp - dims:]} is not positive for input {describe(x)}, weight "
                         f"{describe(weight)}, stride={stride[sp - dims:]}, padding={padding[sp - dims:]}")
    return stride, padding, dilation, groups, out


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,  # noqa: A002
                     dilation=1):
    """torch.nn.functional.conv_transpose2d: the adjoint of conv2d (a "deconvolution"), (N, C_in, H, W) in.

    Args:
        input: (N, C_in, H, W) or unbatched (C_in, H, W).
        weight: (C_in, C_out / groups, kH, kW) (note: in_channels first, torch's layout).
        bias: optional (C_out,).
        stride, padding, dilation: those of the conv2d it is the adjoint of (ints or (h, w) pairs).
        output_padding: extra rows/columns added after (< stride or < dilation), to pick one of the
            input sizes a strided conv2d maps to the same output size.
        groups: independent channel groups.

    Returns:
        (N, C_out, H_out, W_out), H_out = (H-1)*stride - 2*padding + dilation*(kH-1) + output_padding + 1.
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('conv_transpose2d', conv_transpose2d, input=input, weight=weight, bias=bias, stride=stride,
                        padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    op = "conv_transpose2d"
    x, added = _batched2d(op, input)
    _check_weight(op, x, weight, 4, "(in_channels, out_channels / groups, kH, kW)")
    return _unbatch(_conv_transpose(op, x, weight, bias, stride, padding, output_padding, groups, dilation, 2), added)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,  # noqa: A002
                     dilation=1):
    """torch.nn.functional.conv_transpose1d: the adjoint of conv1d, (N, C_in, L) or (C_in, L) in.

    weight is (C_in, C_out / groups, k); L_out = (L-1)*stride - 2*padding + dilation*(k-1) + output_padding + 1.
    Runs as conv_transpose2d on a height-1 image.
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('conv_transpose1d', conv_transpose1d, input=input, weight=weight, bias=bias, stride=stride,
                        padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    op = "conv_transpose1d"
    x, added = _batched1d_as_2d(op, input)
    if not isinstance(weight, Tensor) or weight.data.ndim != 3:
        got = describe(weight) if isinstance(weight, Tensor) else type(weight).__name__
        raise (TypeError if not isinstance(weight, Tensor) else ValueError)(
            f"{op}: weight must be a 3-D tensor (in_channels, out_channels / groups, kernel_size), got {got}")
    _same_device_dtype(op, x, "weight", weight)
    w2 = reshape(weight, weight.data.shape[:2] + (1, weight.data.shape[2]))
    y = _conv_transpose(op, x, w2, bias, stride, padding, output_padding, groups, dilation, 1)
    y = reshape(y, y.data.shape[:2] + (y.data.shape[3],))
    return reshape(y, y.data.shape[1:]) if added else y


# ---------------------------------------------------------------- pooling wrappers
def _pool2d_args(op, kernel_size, stride, padding, dilation=1, n=2):
    """Checked (kernel, stride, padding, dilation) n-tuples of a pooling (stride None: the kernel size)."""
    k = _pair(op, "kernel_size", kernel_size, 1, n=n)
    no_stride = stride is None or (isinstance(stride, (tuple, list)) and not stride)
    s = k if no_stride else _pair(op, "stride", stride, 1, n=n)
    p = _pair(op, "padding", padding, 0, n=n)
    d = _pair(op, "dilation", dilation, 1, n=n)
    if any(2 * p[a] > k[a] for a in range(n)):
        raise ValueError(f"{op}: padding should be at most half of the kernel size, got padding={p} and "
                         f"kernel_size={k}")
    return k, s, p, d


def _pool_out(op, x, k, s, p, d, ceil_mode):
    return tuple(_pool_len(op, x.data.shape[2 + a], d[a] * (k[a] - 1) + 1, s[a], p[a], bool(ceil_mode), x)
                 for a in range(len(k)))


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
               return_indices=False):
    """torch.nn.functional.max_pool2d: the maximum of each (kH, kW) window of (N, C, H, W) or (C, H, W).

    Args:
        kernel_size: window size (int or (h, w)).
        stride: step between windows (default: kernel_size).
        padding: implicit -inf padding on both sides (at most kernel_size / 2).
        dilation: spacing between the window's taps.
        ceil_mode: round the output size up (a last, partial window), as torch.
        return_indices: also return the int64 flat position h*W + w (in the unpadded input) of each maximum
            (a window of padding only, which dilation allows, is -inf with torch's placeholder index).

    The gradient of each output goes to its window's first maximum (row-major), torch's choice for ties.
    """
    op = "max_pool2d"
    x, added = _batched2d(op, input)
    return _max_pool(op, MaxPool2d, x, added, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _max_pool(op, fn, x, added, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    """max_pool2d / 3d on a batched x (N, C, *spatial): the checks, the Function `fn`, the indices if asked."""
    k, s, p, d = _pool2d_args(op, kernel_size, stride, padding, dilation, n=x.data.ndim - 2)
    out = _pool_out(op, x, k, s, p, d, ceil_mode)
    y = _unbatch(fn.apply(x, kernel_size=k, stride=s, padding=p, dilation=d, out=out), added)
    if not return_indices:
        return y
    where = _max_pool_indices(x.data, k, s, p, d, out)
    return MaxPoolResult(y, _wrap(where[0] if added else where))


def _max_pool_indices(x, k, s, p, d, out):
    """torch's return_indices of a max pool of (N, C, *spatial) x: the int64 flat position (h*W + w in 2-D,
    d*H*W + h*W + w in 3-D) of each window's winner in the unpadded input."""
    xp = get_xp(x)
    # recomputed here: the op's node (where the forward's maximum lives) is not kept without a graph
    win = PoolWindows(xp, x, k, s, p, d, out)
    arg = win.valid(win.winners(win.maximum()))
    # a window of padding only (dilation can step over the input; its value is -inf) gets torch's index
    # r0 * W + c0 from its first row and column >= 0: past the end, or even a position of another window
    # (a placeholder, not a winner: such a window gets no gradient, unlike torch's backward)
    nd, size = len(k), x.shape[2:]
    pos, first, empty = [], [], False
    for a in range(nd):
        along = (-1,) + (1,) * (nd - 1 - a)  # broadcast over the output axis a
        tap = (arg // math.prod(k[a + 1:])) % k[a]
        pos.append(tap * d[a] + (xp.arange(out[a]) * s[a] - p[a]).reshape(along))
        first.append(_first_tap_at_or_after_0(xp, out[a], s[a], p[a], d[a]).reshape(along))
        empty = empty | (first[a] >= size[a])
    where = 0
    for a in range(nd):
        where = where * size[a] + xp.where(empty, first[a], pos[a])
    return where.astype(xp.int64)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,  # noqa: A002
               divisor_override=None):
    """torch.nn.functional.avg_pool2d: the mean of each (kH, kW) window of (N, C, H, W) or (C, H, W).

    Args:
        kernel_size: window size (int or (h, w)).
        stride: step between windows (default: kernel_size).
        padding: implicit zero padding on both sides (at most kernel_size / 2).
        ceil_mode: round the output size up (a last, partial window), as torch.
        count_include_pad: divide by the window area including the zero padding (default), or only by
            the number of input positions in it.
        divisor_override: divide every window's sum by this (non-zero) int instead.
    """
    op = "avg_pool2d"
    x, added = _batched2d(op, input)
    k, s, p, _ = _pool2d_args(op, kernel_size, stride, padding)
    divisor_override = _divisor_override(op, divisor_override)
    out = _pool_out(op, x, k, s, p, (1, 1), ceil_mode)
    y = AvgPool2d.apply(x, kernel_size=k, stride=s, padding=p, out=out, count_include_pad=bool(count_include_pad),
                        divisor_override=divisor_override)
    return _unbatch(y, added)


def _divisor_override(op, value):
    """avg_pool's divisor_override: None or a non-zero int."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{op}: divisor_override must be an int or None, got {value!r}")
    if value == 0:
        raise ValueError(f"{op}: divisor_override must be non-zero")
    return int(value)


def _adaptive_size(op, output_size, hw):
    """(out_h, out_w) from an int, or a pair whose None entries keep the input's size (torch)."""
    items = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * len(hw)
    if len(items) != len(hw):
        raise ValueError(f"{op}: output_size must be an int or a tuple of {len(hw)}, got {output_size!r}")
    out = []
    for v, size in zip(items, hw):
        if v is None:
            out.append(size)
            continue
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{op}: output_size must hold ints (or None), got {output_size!r}")
        if v < 0:
            raise ValueError(f"{op}: output_size must be non-negative, got {output_size!r}")
        out.append(int(v))
    return tuple(out)


def _check_nonempty(op, x, added):
    if 0 in x.data.shape[1:]:
        raise ValueError(f"{op}: expected non-empty channel and spatial dimensions, got input {describe(x)}")


def adaptive_avg_pool2d(input, output_size):  # noqa: A002
    """torch.nn.functional.adaptive_avg_pool2d: means over (out_h, out_w) windows that tile H and W.

    Window (i, j) covers rows [floor(i H / out_h), ceil((i + 1) H / out_h)) and likewise columns; a
    rectangle's mean is the mean over its rows of the means over its columns, so this is composed as
    conv.adaptive_mean_last over the width, then over the height (gathered windows, not matmuls with
    averaging matrices, whose 0 * inf = NaN spread one inf into every window: found by fuzzing).
    """
    op = "adaptive_avg_pool2d"
    x, added = _batched2d(op, input)
    _check_nonempty(op, x, added)
    out = _adaptive_size(op, output_size, x.data.shape[2:])
    xp = get_xp(x.data)
    if x.data.size and bool(xp.isfinite(x.data).all()):
        # Finite input (the usual case): two matmuls with constant averaging matrices, y = A_h^T x A_w
        # (gradient: MatMul's), ~15x faster than gathering windows; with an inf the matmul's
        # 0 * inf = NaN would reach every window, so such input takes the gathered path below. (The check
        # is one pass over x, and on a GPU one host sync.)
        def averaging(length, n_out):  # (length, n_out): column i averages window i
            start, end = _adaptive_windows(xp, length, n_out)
            pos = xp.arange(length)[:, None]
            inside = (pos >= start) & (pos < end)
            return _wrap((inside / xp.maximum(end - start, 1)).astype(x.data.dtype))

        from .linalg import matmul  # (a local import: linalg is only needed here)
        a_h, a_w = averaging(x.data.shape[2], out[0]), averaging(x.data.shape[3], out[1])
        return _unbatch(matmul(matmul(permute(a_h, (1, 0)), x), a_w), added)
    from .conv import adaptive_mean_last
    y = adaptive_mean_last(x, out[1])  # (N, C, H, out_w)
    y = permute(adaptive_mean_last(permute(y, (0, 1, 3, 2)), out[0]), (0, 1, 3, 2))
    return _unbatch(y, added)


def adaptive_max_pool2d(input, output_size, return_indices=False):  # noqa: A002
    """torch.nn.functional.adaptive_max_pool2d: maxima over (out_h, out_w) windows that tile H and W.

    return_indices=True also gives the int64 flat position h*W + w of each maximum.
    """
    op = "adaptive_max_pool2d"
    x, added = _batched2d(op, input)
    return _adaptive_max_pool(op, AdaptiveMaxPool2d, x, added, output_size, return_indices)


def _adaptive_max_pool(op, fn, x, added, output_size, return_indices):
    """adaptive_max_pool2d / 3d on a batched x: the checks, the Function `fn`, the indices if asked."""
    _check_nonempty(op, x, added)
    out = _adaptive_size(op, output_size, x.data.shape[2:])
    y = _unbatch(fn.apply(x, out=out), added)
    if not return_indices:
        return y
    _, arg = _adaptive_max(get_xp(x.data), x.data, out)
    return MaxPoolResult(y, _wrap(arg[0] if added else arg))


def adaptive_max_pool1d(input, output_size, return_indices=False):  # noqa: A002
    """torch.nn.functional.adaptive_max_pool1d: maxima over `output_size` windows that tile the last axis
    of (N, C, L) or (C, L) (a height-1 adaptive_max_pool2d); return_indices gives the int64 positions."""
    op = "adaptive_max_pool1d"
    x, added = _batched1d_as_2d(op, input)
    if x.data.shape[1] == 0 or x.data.shape[3] == 0:
        raise ValueError(f"{op}: expected non-empty channel and length dimensions, got input {describe(input)}")
    (o,) = _adaptive_size(op, output_size, x.data.shape[3:])
    y = AdaptiveMaxPool2d.apply(x, out=(1, o))
    y = reshape(y, (y.data.shape[1:2] if added else y.data.shape[:2]) + (o,))
    if not return_indices:
        return y
    _, arg = _adaptive_max(get_xp(x.data), x.data, (1, o))
    arg = arg[:, :, 0]
    return MaxPoolResult(y, _wrap(arg[0] if added else arg))


# ---------------------------------------------------------------- unfold / fold
def _blocks(op, hw, k, d, p, s, x):
    out = tuple((hw[a] + 2 * p[a] - d[a] * (k[a] - 1) - 1) // s[a] + 1 for a in range(2))
    if min(out) <= 0:
        raise ValueError(f"{op}: no sliding block fits: spatial size {tuple(hw)} with padding {p}, kernel_size {k} "
                         f"and dilation {d} (input {describe(x)})")
    return out


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):  # noqa: A002
    """torch.nn.functional.unfold (im2col): the sliding (kH, kW) blocks of (N, C, H, W) or (C, H, W) as
    columns: (N, C*kH*kW, L), L = number of block positions; column l holds block l channel-major."""
    op = "unfold"
    x, added = _batched2d(op, input)
    k, d = _pair(op, "kernel_size", kernel_size, 1), _pair(op, "dilation", dilation, 1)
    p, s = _pair(op, "padding", padding, 0), _pair(op, "stride", stride, 1)
    out = _blocks(op, x.data.shape[2:], k, d, p, s, input)
    return _unbatch(Unfold.apply(x, kernel_size=k, dilation=d, padding=p, stride=s, out=out), added)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):  # noqa: A002
    """torch.nn.functional.fold (col2im): sums the columns of (N, C*kH*kW, L) or (C*kH*kW, L) back into an
    (N, C, *output_size) image, overlapping blocks adding up (fold(unfold(x)) = x * block counts)."""
    op = "fold"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a minigrad Tensor, got {type(input).__name__}")
    check_float(op, input)
    if input.data.ndim not in (2, 3):
        raise ValueError(f"{op}: expected a 2-D (unbatched) or 3-D (batched) input (N, C*kH*kW, L), "
                         f"got {describe(input)}")
    added = input.data.ndim == 2
    x = reshape(input, (1,) + input.data.shape) if added else input
    size = _pair(op, "output_size", output_size, 1)
    k, d = _pair(op, "kernel_size", kernel_size, 1), _pair(op, "dilation", dilation, 1)
    p, s = _pair(op, "padding", padding, 0), _pair(op, "stride", stride, 1)
    if x.data.shape[1] % (k[0] * k[1]):
        raise ValueError(f"{op}: expected size of input's dimension 1 to be divisible by the product of "
                         f"kernel_size {k}, got input {describe(input)}")
    blocks = _blocks(op, size, k, d, p, s, input)
    if x.data.shape[2] != blocks[0] * blocks[1]:
        raise ValueError(f"{op}: input {describe(input)} has {x.data.shape[2]} blocks, but output_size={size}, "
                         f"kernel_size={k}, dilation={d}, padding={p}, stride={s} give {blocks[0] * blocks[1]} "
                         f"({blocks[0]} x {blocks[1]})")
    y = Fold.apply(x, output_size=size, kernel_size=k, dilation=d, padding=p, stride=s, blocks=blocks)
    return _unbatch(y, added)


# ---------------------------------------------------------------- pixel shuffle
def _factor(op, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{op}: {name} must be a positive int, got {value!r}")
    return int(value)


def pixel_shuffle(input, upscale_factor):  # noqa: A002
    """torch.nn.functional.pixel_shuffle: (*, C*r*r, H, W) -> (*, C, H*r, W*r),
    y[..., c, h*r + i, w*r + j] = x[..., c*r*r + i*r + j, h, w] (a reshape and a permute)."""
    op = "pixel_shuffle"
    r = _factor(op, "upscale_factor", upscale_factor)
    if not isinstance(input, Tensor) or input.data.ndim < 3:
        got = describe(input) if isinstance(input, Tensor) else type(input).__name__
        raise ValueError(f"{op}: expected an input of at least 3 dims (*, C*r^2, H, W), got {got}")
    *lead, c, h, w = input.data.shape
    if c % (r * r):
        raise ValueError(f"{op}: the channels of input {describe(input)} ({c}) must be divisible by "
                         f"upscale_factor squared ({r * r})")
    b = len(lead)
    y = reshape(input, tuple(lead) + (c // (r * r), r, r, h, w))
    y = permute(y, tuple(range(b)) + (b, b + 3, b + 1, b + 4, b + 2))
    return reshape(y, tuple(lead) + (c // (r * r), h * r, w * r))


def pixel_unshuffle(input, downscale_factor):  # noqa: A002
    """torch.nn.functional.pixel_unshuffle: (*, C, H*r, W*r) -> (*, C*r*r, H, W), the inverse of pixel_shuffle."""
    op = "pixel_unshuffle"
    r = _factor(op, "downscale_factor", downscale_factor)
    if not isinstance(input, Tensor) or input.data.ndim < 3:
        got = describe(input) if isinstance(input, Tensor) else type(input).__name__
        raise ValueError(f"{op}: expected an input of at least 3 dims (*, C, H*r, W*r), got {got}")
    *lead, c, h, w = input.data.shape
    if h % r or w % r:
        raise ValueError(f"{op}: the height and width of input {describe(input)} must be divisible by "
                         f"downscale_factor ({r})")
    b = len(lead)
    y = reshape(input, tuple(lead) + (c, h // r, r, w // r, r))
    y = permute(y, tuple(range(b)) + (b, b + 2, b + 4, b + 1, b + 3))
    return reshape(y, tuple(lead) + (c * r * r, h // r, w // r))


# ---------------------------------------------------------------- interpolate
_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "area")


def _source_scale(in_size, out_size, align_corners, scale_factor):
    """torch's area_pixel_compute_scale: the input distance of one output step."""
    if align_corners:
        return (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    return 1.0 / scale_factor if scale_factor is not None and scale_factor > 0 else in_size / out_size


def _resample_plan(mode, in_size, out_size, align_corners, scale_factor, dtype):
    """(idx (T, out) int64, weights (T, out) or None) on the host, torch's index and weight rules."""
    dst = np.arange(out_size)
    if mode in ("nearest", "nearest-exact"):
        # torch computes these in float32 whatever the dtype (nearest_idx): so do we, for the same floors
        f32 = np.float32
        scale = f32(1.0 / scale_factor) if scale_factor is not None and scale_factor > 0 else (
            f32(in_size) / f32(out_size))
        if mode == "nearest":
            if out_size == in_size:
                src = dst
            elif out_size == 2 * in_size:
                src = dst >> 1
            else:
                src = np.floor(dst.astype(f32) * scale).astype(np.int64)
        else:
            src = np.floor(((dst + 0.5) * scale).astype(f32)).astype(np.int64)
        return np.minimum(src, in_size - 1)[None], None
    opmath = np.float64 if dtype == np.float64 else np.float32
    scale = opmath(_source_scale(in_size, out_size, align_corners, scale_factor))
    d = dst.astype(opmath)
    src = scale * d if align_corners else scale * (d + opmath(0.5)) - opmath(0.5)
    if mode == "bicubic":
        base = np.floor(src)
        t = (src - base).astype(opmath)
        a = opmath(-0.75)

        def near(z):  # |z| <= 1
            return ((a + 2) * z - (a + 3)) * z * z + 1

        def far(z):  # 1 < |z| < 2
            return ((a * z - 5 * a) * z + 8 * a) * z - 4 * a

        weights = np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)])
        idx = np.clip(base.astype(np.int64)[None] + np.arange(-1, 3)[:, None], 0, in_size - 1)
        return idx, weights.astype(dtype)
    src = np.maximum(src, opmath(0))  # linear: negative sources clamp to 0 (torch)
    i0 = src.astype(np.int64)  # truncation = floor for src >= 0
    i1 = np.minimum(i0 + 1, in_size - 1)
    lam1 = (src - i0.astype(opmath)).astype(opmath)
    return np.stack([i0, i1]), np.stack([opmath(1) - lam1, lam1]).astype(dtype)


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,  # noqa: A002
                recompute_scale_factor=None, antialias=False):
    """torch.nn.functional.interpolate for 1-D (N, C, L), 2-D (N, C, H, W) and 3-D (N, C, D, H, W) inputs.

    Args:
        size: the output spatial size (an int for every spatial dim, or one per dim).
        scale_factor: multiplier(s) of the spatial size instead (output = floor(in * scale)); unless
            recompute_scale_factor=True, the kernel then maps positions with 1 / scale_factor, as torch.
        mode: 'nearest' (torch's legacy floor rule), 'nearest-exact', 'linear' (3-D input),
            'bilinear' or 'bicubic' (4-D input; cubic convolution with a = -0.75, edge-clamped), 'trilinear' (5-D),
            'area' (adaptive average pooling).
        align_corners: for linear/bilinear/bicubic/trilinear: map the corner pixels' centres onto each other
            (default False); must stay None for the other modes.
        recompute_scale_factor: compute the mapping from the sizes rather than from scale_factor.
        antialias: not supported (False only).

    Each spatial axis is resampled on its own (`Resample`: each output reads 1, 2 or 4 input
    positions with fixed weights), width first, then height, as torch's separable kernels.
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('interpolate', interpolate, input=input, size=size, scale_factor=scale_factor, mode=mode,
                        align_corners=align_corners, recompute_scale_factor=recompute_scale_factor,
                        antialias=antialias)
    op = "interpolate"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a minigrad Tensor, got {type(input).__name__}")
    check_float(op, input)
    if mode not in _MODES + ("trilinear",):
        raise ValueError(f"{op}: mode must be one of {_MODES}, got {mode!r}")
    if input.data.ndim not in (3, 4, 5):
        raise ValueError(f"{op}: expected a 3-D (N, C, L) or 4-D (N, C, H, W) or 5-D (N, C, D, H, W) input (torch "
                         f"has no unbatched form here), got {describe(input)}")
    dims = input.data.ndim - 2
    if ((mode == "linear" and dims != 1) or (mode in ("bilinear", "bicubic") and dims != 2)
            or (mode == "trilinear" and dims != 3)):
        raise ValueError(f"{op}: mode {mode!r} needs a {({'linear': 3, 'trilinear': 5}).get(mode, 4)}-D input, "
                         f"got {describe(input)}")
    if antialias:
        raise ValueError(f"{op}: antialias=True is not supported by minigrad")
    if mode in ("nearest", "nearest-exact", "area"):
        if align_corners is not None:
            raise ValueError(f"{op}: align_corners option can only be set with the interpolating modes: "
                             f"linear | bilinear | bicubic | trilinear (got mode={mode!r})")
    elif align_corners is None:
        align_corners = False
    in_hw = input.data.shape[2:]
    if size is not None and scale_factor is not None:
        raise ValueError(f"{op}: only one of size or scale_factor should be defined")
    if size is not None:
        if recompute_scale_factor:
            raise ValueError(f"{op}: recompute_scale_factor is not meaningful with an explicit size")
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * dims
        if len(sizes) != dims:
            raise ValueError(f"{op}: input {describe(input)} has {dims} spatial dimension(s), but size={size!r}")
        if any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in sizes):
            raise TypeError(f"{op}: size must hold ints, got {size!r}")
        scales = (None,) * dims
    elif scale_factor is not None:
        scales = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * dims
        if len(scales) != dims:
            raise ValueError(f"{op}: input {describe(input)} has {dims} spatial dimension(s), but "
                             f"scale_factor={scale_factor!r}")
        if any(isinstance(v, bool) or not isinstance(v, numbers.Real) for v in scales):
            raise TypeError(f"{op}: scale_factor must hold numbers, got {scale_factor!r}")
        scales = tuple(float(v) for v in scales)
        sizes = tuple(math.floor(float(n) * s) for n, s in zip(in_hw, scales))
        if recompute_scale_factor or mode == "area":
            scales = (None,) * dims
    else:
        raise ValueError(f"{op}: either size or scale_factor should be defined")
    sizes = tuple(int(v) for v in sizes)
    if any(v <= 0 for v in sizes) or any(v <= 0 for v in in_hw):
        raise ValueError(f"{op}: input and output sizes should be greater than 0, but got input {describe(input)} "
                         f"and output size {sizes}")
    if mode == "area":
        if dims == 1:
            from .conv import adaptive_avg_pool1d
            return adaptive_avg_pool1d(input, sizes[0])
        if input.data.shape[1] == 0:  # (adaptive_avg_pool2d's refusal, under this op's name: found by fuzzing)
            raise ValueError(f"{op}: mode 'area' needs a non-empty channel dimension, got {describe(input)}")
        if dims == 3:
            from .conv3d import adaptive_avg_pool3d  # (a local import: conv3d imports this module)
            return adaptive_avg_pool3d(input, sizes)
        return adaptive_avg_pool2d(input, sizes)
    xp = get_xp(input.data)
    y = input
    for axis in reversed(range(dims)):  # width first, then height (then depth): torch's order of the weighted sums
        idx, w = _resample_plan(mode, in_hw[axis], sizes[axis], align_corners, scales[axis], input.data.dtype)
        idx = _B.to_device(idx, input.device)
        w = None if w is None else _B.to_device(w, input.device)
        y = Resample.apply(y, axis=2 + axis, idx=idx, weights=w)
    return y
