"""torch.nn.functional's remaining pooling names: max unpooling, power-average pooling, the
`*_with_indices` spellings, the deprecated `upsample*` aliases and feature alpha dropout.

* `max_unpool1d/2d` scatter each value back to the position its max pooling took it from
  (`MaxUnpool2d`, a Function with a hand-written backward: a gather at the same positions);
  the 1-D form is the 2-D one on a width-1 image, as torch.
* `lp_pool1d/2d` are composed from differentiable ops exactly as torch writes them:
  (sign(s) * relu(|s|) * k) ** (1/p), s = avg_pool(x ** p), so values and gradients (also
  the 0 gradient where a window sums to 0) are torch's.
* `feature_alpha_dropout` is alpha dropout with one draw per channel (composed).
"""
from __future__ import annotations

import numbers
import warnings

from .. import backend as _B
from ..autograd import Function
from ..tensor import Tensor, _wrap
from .common import check_float, describe
from .conv import _int_arg, max_pool1d, avg_pool1d
from .conv2d import (
    _pair, adaptive_max_pool1d, adaptive_max_pool2d, avg_pool2d, interpolate, max_pool2d,
)
from .elementwise import sign
from .activation import relu
from .loss_extra import _SELU_ALPHA_PRIME, _check_p_drop, _keep_mask, _mul_into
from .shape import reshape

get_xp = _B.get_array_module

__all__ = [
    "max_pool1d_with_indices", "max_pool2d_with_indices", "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices", "max_unpool1d", "max_unpool2d", "lp_pool1d", "lp_pool2d",
    "upsample", "upsample_nearest", "upsample_bilinear", "feature_alpha_dropout",
]


# ---------------------------------------------------------------- *_with_indices (torch's spellings)
def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
                            return_indices=False):
    """`max_pool1d(..., return_indices=True)`: (values, int64 positions). torch ignores return_indices here."""
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
                            return_indices=False):
    """`max_pool2d(..., return_indices=True)`: (values, int64 flat positions h*W + w)."""
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=False):  # noqa: A002
    """`adaptive_max_pool1d(..., return_indices=True)`: (values, int64 positions)."""
    return adaptive_max_pool1d(input, output_size, return_indices=True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=False):  # noqa: A002
    """`adaptive_max_pool2d(..., return_indices=True)`: (values, int64 flat positions h*W + w)."""
    return adaptive_max_pool2d(input, output_size, return_indices=True)


# ---------------------------------------------------------------- max unpooling
class MaxUnpool2d(Function):
    """y[n, c].flat[idx[n, c, k]] = x[n, c, k], 0 elsewhere;  dx[n, c, k] = dy[n, c].flat[idx[n, c, k]]

    (A repeated index keeps one of its values, NumPy's last write; the backward still gathers for
    every input, as torch's.)
    """

    @staticmethod
    def forward(ctx, x, indices, out):
        xp = get_xp(x)
        n, c, h, w = x.shape
        flat = indices.reshape(n * c, h * w)  # positions into each (H_out*W_out) plane
        y = xp.zeros((n * c, out[0] * out[1]), dtype=x.dtype)
        y[xp.arange(n * c)[:, None], flat] = x.reshape(n * c, h * w)
        ctx.save_for_backward(flat)
        ctx.shape = x.shape
        return y.reshape((n, c) + tuple(out))

    @staticmethod
    def backward(ctx, g):
        (flat,) = ctx.saved
        n, c = ctx.shape[:2]
        gx = get_xp(g).take_along_axis(g.reshape(n * c, g.shape[2] * g.shape[3]), flat, axis=1)
        return gx.reshape(ctx.shape)


def _unpool_output_size(op, x, kernel, stride, padding, output_size):
    """torch's F._unpool_output_size: (in - 1) * stride + kernel - 2 * padding per spatial dim, or
    output_size (its last len(kernel) entries), which must lie strictly within stride of that."""
    nd = len(kernel)
    default = [(x.data.shape[-nd + d] - 1) * stride[d] + kernel[d] - 2 * padding[d] for d in range(nd)]
    if output_size is None:
        ret = default
    else:
        if not isinstance(output_size, (tuple, list)) and not hasattr(output_size, "__len__"):
            raise TypeError(f"{op}: output_size must be a sequence of {nd} or {nd + 2} ints, got {output_size!r}")
        ret = [int(v) for v in output_size]
        if len(ret) == nd + 2:
            ret = ret[2:]
        if len(ret) != nd:
            raise ValueError(f"{op}: output_size should be a sequence containing {nd} or {nd + 2} elements, "
                             f"but it has a length of '{len(ret)}'")
        for d in range(nd):
            lo, hi = default[d] - stride[d], default[d] + stride[d]
            if not lo < ret[d] < hi:
                raise ValueError(f'{op}: invalid output_size "{tuple(output_size)}" (dim {d} must be between '
                                 f"{lo} and {hi})")
    for d in range(nd):
        if ret[d] < 0:
            raise ValueError(f"{op}: output_size must contain non-negative spatial dimensions, but got "
                             f"output_size[{d}]={ret[d]} for input {describe(x)}")
    return tuple(ret)


def _max_unpool(op, input, indices, out, spatial):  # noqa: A002
    """Checks, then MaxUnpool2d on (N, C, H, W) (a batch dim added for unbatched input)."""
    if not isinstance(input, Tensor) or not isinstance(indices, Tensor):
        raise TypeError(f"{op}: input and indices must be minigrad Tensors, got {type(input).__name__} and "
                        f"{type(indices).__name__}")
    check_float(op, input)
    if indices.data.dtype != _B.np.int64:
        raise RuntimeError(f"{op}: elements in indices should be type int64 but got: {describe(indices)} "
                           "(the indices max pooling returned with return_indices=True)")
    if tuple(indices.data.shape) != tuple(input.data.shape):
        raise RuntimeError(f"{op}: Expected shape of indices to be same as that of the input tensor, got input "
                           f"{describe(input)} and indices {describe(indices)}")
    if indices.device != input.device:
        raise RuntimeError(f"{op}: indices is on {indices.device} but input is on {input.device}")
    x, idx = input, indices.data
    if spatial == 1:  # (N, C, L) / (C, L) -> a width-1 image, as torch
        x, idx, out = reshape(x, x.data.shape + (1,)), idx.reshape(idx.shape + (1,)), out + (1,)
    added = x.data.ndim == 3
    if x.data.ndim not in (3, 4):
        raise RuntimeError(f"{op}: expected a {spatial + 1}-D (unbatched) or {spatial + 2}-D (batched) input, "
                           f"got {describe(input)}")
    if added:
        x, idx = reshape(x, (1,) + x.data.shape), idx[None]
    size = out[0] * out[1]
    invalid = (idx < 0) | (idx >= size)
    if bool(invalid.any()):  # one host sync on a GPU; torch names the first invalid index
        bad = int(idx[invalid].reshape(-1)[0])
        raise RuntimeError(f"{op}: Found an invalid max index: {bad} (output volumes are of size "
                           f"{out[0]}x{out[1]})")
    y = MaxUnpool2d.apply(x, indices=idx, out=out)
    if added:
        y = reshape(y, y.data.shape[1:])
    return reshape(y, y.data.shape[:-1]) if spatial == 1 else y


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):  # noqa: A002
    """torch.nn.functional.max_unpool1d: the partial inverse of max_pool1d (non-maxima become 0).

    Args:
        input: (N, C, L_in) or (C, L_in), the pooled values.
        indices: int64, input's shape: the positions max_pool1d(return_indices=True) gave.
        kernel_size, stride (default kernel_size), padding: the pooling's.
        output_size: the length to restore (L, or (N, C, L)); default (L_in - 1) * stride + kernel - 2 * padding.
    """
    op = "max_unpool1d"
    k = (_int_arg(op, "kernel_size", kernel_size, 1),)
    s = k if stride is None else (_int_arg(op, "stride", stride, 1),)
    p = (_int_arg(op, "padding", padding, 0),)
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a minigrad Tensor, got {type(input).__name__}")
    if input.data.ndim not in (2, 3):
        raise RuntimeError(f"{op}: expected a 2-D (C, L) or 3-D (N, C, L) input, got {describe(input)}")
    out = _unpool_output_size(op, input, k, s, p, output_size)
    return _max_unpool(op, input, indices, out, spatial=1)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):  # noqa: A002
    """torch.nn.functional.max_unpool2d: the partial inverse of max_pool2d (non-maxima become 0).

    Args:
        input: (N, C, H_in, W_in) or (C, H_in, W_in), the pooled values.
        indices: int64, input's shape: the flat positions h*W + w max_pool2d(return_indices=True) gave.
        kernel_size, stride (default kernel_size), padding: the pooling's (int or pair).
        output_size: (H, W) or (N, C, H, W) to restore (disambiguates the pooling's rounding);
            default (in - 1) * stride + kernel - 2 * padding per dim.
    """
    op = "max_unpool2d"
    k = _pair(op, "kernel_size", kernel_size, 1)
    s = k if stride is None else _pair(op, "stride", stride, 1)
    p = _pair(op, "padding", padding, 0)
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a minigrad Tensor, got {type(input).__name__}")
    if input.data.ndim not in (3, 4):
        raise RuntimeError(f"{op}: Input to max_unpooling2d should be a 3d or 4d Tensor, but got {describe(input)}")
    out = _unpool_output_size(op, input, k, s, p, output_size)
    return _max_unpool(op, input, indices, out, spatial=2)


# ---------------------------------------------------------------- power-average pooling
def _norm_type(op, norm_type):
    if isinstance(norm_type, bool) or not isinstance(norm_type, numbers.Real):
        raise TypeError(f"{op}: norm_type must be a number, got {norm_type!r}")
    return norm_type


def _lp_finish(out, area, p):
    """(sign(s) * relu(|s|) * area) ** (1/p): torch's form (its sign/relu give 0, not NaN, as the
    gradient where a window's average s is 0)."""
    return (sign(out) * relu(out.abs())).mul(area).pow(1.0 / p)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):  # noqa: A002
    """torch.nn.functional.lp_pool1d: (sum over each window of x ** p) ** (1/p) along the last axis.

    p = inf is the max of |x|, p = -inf the min of |x| (torch's). Windows are avg_pool1d's (no padding);
    with ceil_mode a last, partial window is scaled as torch's (avg over the kernel size, times it).
    """
    op = "lp_pool1d"
    p = _norm_type(op, norm_type)
    k = _int_arg(op, "kernel_size", kernel_size, 1)
    if p == float("inf"):
        return max_pool1d(input.abs(), k, stride, 0, 1, ceil_mode)
    if p == -float("inf"):
        return -max_pool1d(-input.abs(), k, stride, 0, 1, ceil_mode)
    return _lp_finish(avg_pool1d(input.pow(p), k, stride, 0, ceil_mode), k, p)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):  # noqa: A002
    """torch.nn.functional.lp_pool2d: (sum over each (kH, kW) window of x ** p) ** (1/p).

    p = inf is the max of |x|, p = -inf the min of |x| (torch's); windows are avg_pool2d's (no padding).
    """
    op = "lp_pool2d"
    p = _norm_type(op, norm_type)
    kh, kw = _pair(op, "kernel_size", kernel_size, 1)
    if p == float("inf"):
        return max_pool2d(input.abs(), (kh, kw), stride, 0, 1, ceil_mode)
    if p == -float("inf"):
        return -max_pool2d(-input.abs(), (kh, kw), stride, 0, 1, ceil_mode)
    return _lp_finish(avg_pool2d(input.pow(p), (kh, kw), stride, 0, ceil_mode), kh * kw, p)


# ---------------------------------------------------------------- deprecated resampling aliases
def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):  # noqa: A002
    """Deprecated torch alias of `interpolate` (warns, as torch)."""
    warnings.warn("`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):  # noqa: A002
    """Deprecated torch alias of `interpolate(..., mode='nearest')` (warns, as torch)."""
    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use `nn.functional.interpolate` instead.",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):  # noqa: A002
    """Deprecated torch alias of `interpolate(..., mode='bilinear', align_corners=True)` (warns, as torch)."""
    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use `nn.functional.interpolate` instead.",
                  stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


# ---------------------------------------------------------------- feature alpha dropout
def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):  # noqa: A002
    """Alpha dropout of whole channels: one Bernoulli(1 - p) draw m per input[n, c] (torch's feature noise,
    shape (N, C, 1, ...)), then y = a (x m + alpha' (m - 1)) + a alpha' p, a = ((1 - p)(1 + p alpha'^2))^-1/2.

    d/dx = a m. p = 1 gives 0 (torch's x * 0). Inputs with fewer than 2 dims are refused, as torch.
    """
    op = "feature_alpha_dropout"
    p = _check_p_drop(op, p)
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a minigrad Tensor, got {type(input).__name__}")
    if not training or p == 0.0 or input.data.size == 0:
        return input
    if input.data.ndim < 2:
        raise RuntimeError(f"{op}: Feature dropout requires at least 2 dimensions in the input, got {describe(input)}")
    check_float(op, input)
    if p == 1.0:
        return _mul_into(input, 0.0, inplace)
    m = _keep_mask(input, tuple(input.data.shape[:2]) + (1,) * (input.data.ndim - 2), p)
    al = _SELU_ALPHA_PRIME
    a = 1.0 / ((al * al * p + 1) * (1 - p)) ** 0.5
    shift = _wrap((m - 1) * (al * a) + al * a * p)
    if inplace:
        return input.mul_(_wrap(m * a)).add_(shift)
    return input * _wrap(m * a) + shift
