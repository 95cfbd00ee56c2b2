"""Batch normalisation over the channel dim 1 of (N, C, *) inputs (torch's layout): batch_norm;
RMS normalisation over the trailing dims (torch's F.rms_norm): rms_norm.

Training mode normalises each channel with the statistics of the batch (over N and
every dim after C) and updates the running estimates in place; eval mode uses the
running estimates, so the output no longer depends on the rest of the batch.
"""
from __future__ import annotations

import numbers

from .. import backend as _B
from ..autograd import Function
from ..tensor import Tensor
from .common import c_order, check_float, describe
from .. import amp as _amp

get_xp = _B.get_array_module


class BatchNorm(Function):
    """y = xhat * w + b, xhat = (x - mu) * rstd per channel, rstd = 1 / sqrt(var + eps);
    batch statistics (training): dx = rstd * (gh - mean(gh) - xhat * mean(gh * xhat)) with gh = dy * w
    and means over all dims but the channel; fixed statistics (eval): dx = rstd * gh;
    dw = sum(dy * xhat), db = sum(dy) over all dims but the channel.
    """

    @staticmethod
    def forward(ctx, x, *affine, mean, var, eps, batch_stats, has_weight, has_bias, centred=None):
        # centred: x - mean when batch_norm already computed it for the variance (reused, then overwritten)
        xp = get_xp(x)
        rstd = (1.0 / xp.sqrt(var + eps)).astype(x.dtype, copy=False)
        xhat = x - per_channel(mean, x) if centred is None else centred
        xhat *= per_channel(rstd, x)  # (a fresh array: scaled in place)
        y, w = channel_affine(xhat, affine, has_weight, has_bias)
        ctx.save_for_backward(xhat, rstd, w)
        ctx.flags = (batch_stats, has_weight, has_bias)
        return y

    @staticmethod
    def backward(ctx, g):
        xhat, rstd, w = ctx.saved
        batch_stats, has_weight, has_bias = ctx.flags
        need = ctx.needs_input_grad
        xp = get_xp(g)
        grads = []
        if need[0]:
            gh = g * per_channel(w, g) if has_weight else g
            if batch_stats:  # mu and var depend on x too: gh - mean(gh) - xhat * mean(gh * xhat)
                t = gh * xhat
                m1, m2 = channel_mean(gh), channel_mean(t)
                gh = gh - per_channel(m1, g)
                gh -= xp.multiply(xhat, per_channel(m2, g), out=t)  # (t reused: same values, one allocation less)
                gh *= per_channel(rstd, g)
            else:
                gh = gh * per_channel(rstd, g)
            grads.append(gh)
        else:
            grads.append(None)
        return tuple(grads) + channel_affine_grads(g, xhat, need, has_weight, has_bias)


def per_channel(v, like):
    """The per-channel vector v ((C,) or already (1, C, 1, ...)) shaped to broadcast along dim 1 of the
    (N, C, *) array `like`.

    On NumPy with short spatial dims (fewer than 4096 values per channel) it is a contiguous
    (1, C, *) copy: broadcast over N alone, each elementwise loop then runs over a whole sample,
    where a (1, C, 1) operand restarts NumPy's inner loop every L values (about 1.8x slower at
    (32, 128, 64)). Longer rows gain nothing and the copy costs cache; a GPU kernel broadcasts for free.
    """
    xp = get_xp(like)
    v = v.reshape((1, -1) + (1,) * (like.ndim - 2))
    if xp is not _B.np or like.ndim < 3 or like.size >= 4096 * like.shape[0] * like.shape[1]:
        return v
    return xp.ascontiguousarray(xp.broadcast_to(v, (1,) + like.shape[1:]))


def channel_sum(a):
    """The sum over every dim but the channel (dim 1) of an (N, C, *) array: (C,).

    On NumPy in two steps, over the batch (whole-sample adds: long contiguous loops) and then
    over each channel's row; one reduction over the axes (0, 2, ...) walks the array in short
    strided pieces and is about 2x slower at (32, 128, 64). The order of the additions differs
    in the last bits from a one-step sum (torch's order differs from both).
    """
    if a.ndim == 2:
        return a.sum(axis=0)
    if get_xp(a) is not _B.np:  # one reduction kernel on a GPU
        return a.sum(axis=(0,) + tuple(range(2, a.ndim)))
    s = a.sum(axis=0)
    return s.reshape(s.shape[0], -1).sum(axis=1)


def channel_mean(a):
    """channel_sum(a) / (the number of values per channel)."""
    return channel_sum(a) / (a.size // a.shape[1] if a.shape[1] else 1)


def channel_affine(xhat, affine, has_weight, has_bias):
    """(y, w): y = xhat * w + b with per-channel w, b (dim 1) from affine = ([w], [b]); w reshaped to
    broadcast (None without a weight), for the backward: a view of the weight, so an in-place change
    to it before backward is caught. Shared by batch, group and instance norm."""
    w = affine[0].reshape((1, -1) + (1,) * (xhat.ndim - 2)) if has_weight else None
    y = xhat * per_channel(w, xhat) if has_weight else xhat.copy()
    if has_bias:
        y += per_channel(affine[-1], xhat)
    return y, w


def channel_affine_grads(g, xhat, need, has_weight, has_bias):
    """The gradients of channel_affine's w and b (those passed): dw = sum(dy * xhat), db = sum(dy) over
    every dim but the channel; need is ctx.needs_input_grad (w at 1, b last)."""
    grads = ()
    if has_weight:
        grads += (channel_sum(g * xhat) if need[1] else None,)
    if has_bias:
        grads += (channel_sum(g) if need[-1] else None,)
    return grads


def _channel_vector(op, name, t, x, c):
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {name} must be a minigrad Tensor or None, got {type(t).__name__}")
    if t.data.ndim != 1 or t.data.shape[0] != c:
        raise ValueError(f"{op}: {name} should contain {c} elements (one per channel of input {describe(x)}), "
                         f"got {describe(t)}")
    if t.device != x.device:
        raise RuntimeError(f"{op}: {name} is on {t.device} but input is on {x.device}")
    if t.data.dtype != x.data.dtype:
        raise TypeError(f"{op}: {name} {describe(t)} and input {describe(x)} must have the same dtype "
                        "(minigrad never casts silently)")
    return t


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,  # noqa: A002
               momentum=0.1, eps=1e-5):
    """torch.nn.functional.batch_norm over dim 1 of an (N, C, *) input.

    Args:
        input: (N, C) or (N, C, L) (any (N, C, *) works).
        running_mean, running_var: (C,) running estimates, or None. In training mode they are
            updated in place (if given): r = (1 - momentum) * r + momentum * batch statistic, with the
            unbiased batch variance for running_var (as torch); in eval mode they normalise the input.
        weight, bias: optional (C,) scale and shift.
        training: normalise with the batch's statistics (biased variance) instead of the running ones.
        momentum: the weight of the new batch statistic in the running update.
        eps: added to the variance for numerical stability.

    Raises:
        ValueError: training with a single value per channel; shapes that do not fit.
        RuntimeError: eval mode without running statistics.
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('batch_norm', batch_norm, input=input, running_mean=running_mean, running_var=running_var,
                        weight=weight, bias=bias, training=training, momentum=momentum, eps=eps)
    op = "batch_norm"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a minigrad Tensor, got {type(input).__name__}")
    check_float(op, input)
    x = input.data
    if x.ndim < 2:
        raise ValueError(f"{op}: expected an input of shape (N, C, *) with at least 2 dims, got {describe(input)}")
    c = x.shape[1]
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: running_mean and running_var must either both be None or neither be None (as in "
                         f"torch), got running_mean={'None' if running_mean is None else 'a tensor'}, "
                         f"running_var={'None' if running_var is None else 'a tensor'}")
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None:
            _channel_vector(op, name, t, input, c)
    if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real):
        raise TypeError(f"{op}: momentum must be a float, got {momentum!r}")
    if not eps > 0:
        raise ValueError(f"{op}: eps must be positive, got {eps}")
    xp = get_xp(x)
    if training:
        count = x.size // c if c else 0
        if count <= 1:
            raise ValueError(f"{op}: expected more than 1 value per channel when training, got input {describe(input)}")
        mean = channel_mean(x)
        centred = x - per_channel(mean, x)  # (kept: BatchNorm's forward normalises it in place)
        var = channel_mean(centred * centred)  # biased: normalises
        m = float(momentum)
        if running_mean is not None:
            running_mean.data[...] = (1.0 - m) * running_mean.data + m * mean
            running_mean._bump()  # an in-place write: graphs that saved the old value notice
        if running_var is not None:
            running_var.data[...] = (1.0 - m) * running_var.data + m * (var * (count / (count - 1)))  # unbiased
            running_var._bump()
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError(f"{op}: running_mean and running_var must be given in evaluation mode "
                               "(training=False); pass training=True to use the batch's statistics")
        mean, var = running_mean.data, running_var.data
        centred = None
    affine = [t for t in (weight, bias) if t is not None]
    return BatchNorm.apply(input, *affine, mean=mean, var=var, eps=float(eps), batch_stats=bool(training),
                           has_weight=weight is not None, has_bias=bias is not None, centred=centred)


# ---------------------------------------------------------------- RMS normalisation
class RMSNorm(Function):
    """y = xhat * w, xhat = x * rstd, rstd = 1 / sqrt(mean(x**2) + eps) over the last k dims;
    dx = rstd * (gh - xhat * mean(gh * xhat)) with gh = dy * w; dw = sum(dy * xhat) over the leading dims.
    """

    @staticmethod
    def forward(ctx, x, *weight, k, eps):
        xp = get_xp(x)
        axes = tuple(range(x.ndim - k, x.ndim))
        n = 1
        for a in axes:
            n *= x.shape[a]
        # mean of squares as sum / n: an empty normalised block would make mean() warn (its output is empty anyway)
        ms = (x * x).sum(axis=axes, keepdims=True) * (1.0 / max(n, 1))
        rstd = 1.0 / xp.sqrt(ms + eps)  # (no mean subtraction: that is what separates RMSNorm from LayerNorm)
        xhat = c_order(x * rstd)  # C order, as torch's result (x may be permuted)
        w = weight[0] if weight else None
        ctx.save_for_backward(xhat, rstd, w)
        ctx.axes = axes
        return xhat * w if w is not None else xhat

    @staticmethod
    def backward(ctx, g):
        xhat, rstd, w = ctx.saved
        axes = ctx.axes
        need = ctx.needs_input_grad
        gx = gw = None
        if need[0]:
            gh = g * w if w is not None else g
            # rstd depends on every x of its block: d rstd / dx_j = -rstd**3 x_j / n
            gx = rstd * (gh - xhat * (gh * xhat).mean(axis=axes, keepdims=True))
        if w is not None and need[1]:
            gw = (g * xhat).sum(axis=tuple(range(g.ndim - len(axes))))  # shared over the leading dims
        return (gx, gw) if w is not None else (gx,)


def rms_norm(input, normalized_shape, weight=None, eps=None):  # noqa: A002 - torch's name
    """torch.nn.functional.rms_norm: y = x / sqrt(mean(x**2) + eps) * weight over the trailing dims.

    Root-mean-square normalisation (Zhang & Sennrich, 2019): like layer_norm without the mean
    subtraction and without a bias.

    Args:
        input: tensor of shape (*, *normalized_shape), floating point.
        normalized_shape: tuple (or list, or int) of the trailing dims normalised over.
        weight: optional tensor of shape normalized_shape, same dtype and device as input.
        eps: added to the mean square; None (default) = the machine epsilon of the input's
            dtype (torch.finfo(input.dtype).eps), as torch.

    Raises:
        TypeError: a non-float input, a weight of another dtype.
        ValueError: a shape that does not end with normalized_shape, a wrong weight shape, eps < 0.
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('rms_norm', rms_norm, input=input, normalized_shape=normalized_shape, weight=weight, eps=eps)
    op = "rms_norm"
    check_float(op, input)
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (normalized_shape,)
    if not isinstance(normalized_shape, (tuple, list)) or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in normalized_shape):
        raise TypeError(f"{op}: normalized_shape must be a tuple of ints, got {normalized_shape!r}")
    shape = tuple(int(s) for s in normalized_shape)
    k, x = len(shape), input.data
    if k == 0:
        raise ValueError(f"{op}: normalized_shape must name at least one dimension, got {list(shape)}")
    if x.ndim < k or tuple(x.shape[x.ndim - k:]) != shape:
        raise ValueError(f"{op}: input {describe(input)} must end with normalized_shape {list(shape)}")
    if eps is None:
        eps = float(_B.np.finfo(x.dtype).eps)
    elif isinstance(eps, bool) or not isinstance(eps, numbers.Real):
        raise TypeError(f"{op}: eps must be a float or None, got {eps!r}")
    elif not eps >= 0:
        raise ValueError(f"{op}: eps must be >= 0, got {eps}")
    weights = []
    if weight is not None:
        if not isinstance(weight, Tensor):
            raise TypeError(f"{op}: weight must be a minigrad Tensor or None, got {type(weight).__name__}")
        if tuple(weight.shape) != shape:
            raise ValueError(f"{op}: weight must have shape normalized_shape {list(shape)}, got {describe(weight)}")
        if weight.device != input.device:
            raise RuntimeError(f"{op}: weight is on {weight.device} but input is on {input.device}")
        if weight.dtype != input.dtype:
            raise TypeError(f"{op}: weight {describe(weight)} and input {describe(input)} must have the same dtype "
                            "(minigrad never casts silently)")
        weights.append(weight)
    return RMSNorm.apply(input, *weights, k=k, eps=float(eps))
