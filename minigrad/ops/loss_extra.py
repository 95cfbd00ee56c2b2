"""torch.nn.functional's remaining losses, distances and small layers.

Most are short compositions of differentiable ops (so they need no backward of their own):
gaussian_nll_loss, poisson_nll_loss, hinge_embedding_loss, soft_margin_loss,
multilabel_soft_margin_loss, multi_margin_loss, multilabel_margin_loss, triplet_margin_loss,
triplet_margin_with_distance_loss, pairwise_distance, pdist, bilinear, dropout1d and
alpha_dropout. Four piecewise activations (threshold, hardshrink, softshrink, rrelu) and
embedding_bag are Functions with a hand-written backward: a where-chain would save more
arrays, and a bag reduction built from per-bag slices would be slow.
"""
from __future__ import annotations

import math
import numbers
import warnings

from .. import backend as _B
from ..autograd import Function
from ..tensor import Tensor, _wrap
from .activation import LeakyReLU, _apply, _check_input
from .common import arg_extreme, check_float, check_pair, describe, to_tensor
from .elementwise import clamp, minimum, where
from .linalg import einsum
from .nn import _constant, _mask, _need_tensor, _p_norm, _reduce, _reduction, softmax
from .shape import index_select
from .activation import logsigmoid, softplus
from .. import amp as _amp

get_xp = _B.get_array_module

__all__ = [
    "gaussian_nll_loss", "poisson_nll_loss", "hinge_embedding_loss", "soft_margin_loss",
    "multilabel_soft_margin_loss", "multi_margin_loss", "multilabel_margin_loss", "triplet_margin_loss",
    "triplet_margin_with_distance_loss", "pairwise_distance", "pdist", "threshold", "threshold_", "hardshrink",
    "softshrink", "rrelu", "rrelu_", "bilinear", "dropout1d", "alpha_dropout", "embedding_bag", "softmax2d",
    "dropout2d", "dropout3d",
]


def _number(op, name, value):
    """A Python float from a real number (bools refused), for margins, eps, lambd, bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a number, got {type(value).__name__} {value!r}")
    return float(value)


def _broadcast(op, names, *ts):
    """The common shape of tensors that broadcast, or a ValueError naming op and every operand."""
    try:
        return _B.np.broadcast_shapes(*(tuple(t.data.shape) for t in ts))
    except ValueError:
        got = ", ".join(f"{n} {describe(t)}" for n, t in zip(names, ts))
        raise ValueError(f"{op}: {got} do not broadcast") from None


def _float_pair(op, input, target):  # noqa: A002
    """input (a float Tensor) and target (tensor or data, an int target takes input's dtype), broadcastable."""
    _need_tensor(op, "input", input)
    check_float(op, input)
    target = to_tensor(target, input, op)
    input, target = check_pair(op, input, target)
    _broadcast(op, ("input", "target"), input, target)
    return input, target


# ================================================================ regression-style losses
def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):  # noqa: A002
    """0.5 (log max(var, eps) + (input - target)^2 / max(var, eps)) [+ 0.5 log(2 pi) if full], reduced.

    As torch, the clamp to eps changes the value only: the gradient reaches var as if unclamped
    (torch clamps a clone under no_grad). var has input's shape, or input's shape without the
    last dim, or input's shape with one dim of size 1 (homoscedastic); a float is one shared
    variance. d/dinput = (input - target) / v, d/dvar = 0.5 (1/v - (input - target)^2 / v^2).
    """
    op = "gaussian_nll_loss"
    input, target = _float_pair(op, input, target)
    if isinstance(var, numbers.Real) and not isinstance(var, bool):
        if var < 0:
            raise ValueError(f"{op}: var has negative entry/entries (got {var})")
        var = _wrap(get_xp(input.data).full(input.data.shape, float(var), dtype=input.data.dtype))
    else:
        _need_tensor(op, "var", var)
        var = to_tensor(var, input, op)
        input, var = check_pair(op, input, var)
        if var.data.size and bool((var.data < 0).any()):
            raise ValueError(f"{op}: var {describe(var)} has negative entry/entries")
    vs, xs = tuple(var.data.shape), tuple(input.data.shape)
    if vs != xs:
        if xs[:-1] == vs and input.data.ndim > 0:  # one variance per vector (the last dim)
            var = var.unsqueeze(-1)
        elif not (len(vs) == len(xs) and sum(v for x, v in zip(xs, vs) if x != v) == 1):  # torch's rule
            raise ValueError(f"{op}: var {describe(var)} is of incorrect size for input {describe(input)}: expected "
                             "input's shape, input's shape without its last dim, or input's shape with one dim of 1")
    reduction = _reduction(op, reduction)
    eps = _number(op, "eps", eps)
    v = var.data
    # the clamped value with the identity's gradient: + 0 exactly wherever var >= eps
    v_used = var + _wrap(get_xp(v).maximum(v, eps) - v)
    d = input - target
    loss = (v_used.log() + d * d / v_used) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(op, loss, reduction)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,  # noqa: A002
                     reduce=None, reduction="mean"):
    """Poisson negative log-likelihood: exp(input) - target input (log_input=True), else
    input - target log(input + eps); full adds Stirling's target log target - target + 0.5 log(2 pi target)
    where target > 1. d/dinput = exp(input) - target, or 1 - target / (input + eps).
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('poisson_nll_loss', poisson_nll_loss, input=input, target=target, log_input=log_input,
                        full=full, size_average=size_average, eps=eps, reduce=reduce, reduction=reduction)
    op = "poisson_nll_loss"
    reduction = _reduction(op, reduction, size_average, reduce)
    input, target = _float_pair(op, input, target)
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + _number(op, "eps", eps)).log()
    if full:
        big = _mask(target.data > 1)
        t = where(big, target, 1.0)  # log of 1 where the term is dropped: finite values and gradients
        stirling = t * t.log() - t + (t * (2 * math.pi)).log() * 0.5
        loss = loss + where(big, stirling, 0.0)
    return _reduce(op, loss, reduction)


# ================================================================ margin losses
def _sign_target(op, target, like):
    """A target used only through comparisons (no gradient): a Tensor of any real dtype, on like's device."""
    t = target if isinstance(target, Tensor) else to_tensor(target, like, op)
    if t.device != like.device:
        raise RuntimeError(f"{op}: input is on {like.device} but target is on {t.device}")
    return t


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None,  # noqa: A002
                         reduction="mean"):
    """x where y != -1, plus max(0, margin - x) where y != 1 (torch's formula; y is 1 or -1).

    d/dx = 1 where y = 1, -1 where y = -1 and x < margin (the gradient passes at the hinge, as clamp_min).
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('hinge_embedding_loss', hinge_embedding_loss, input=input, target=target, margin=margin,
                        size_average=size_average, reduce=reduce, reduction=reduction)
    op = "hinge_embedding_loss"
    reduction = _reduction(op, reduction, size_average, reduce)
    _need_tensor(op, "input", input)
    check_float(op, input)
    target = _sign_target(op, target, input)
    _broadcast(op, ("input", "target"), input, target)
    y = target.data
    hinge = clamp(_number(op, "margin", margin) - input, min=0.0)
    loss = where(_mask(y != 1), hinge, 0.0) + where(_mask(y != -1), input, 0.0)
    return _reduce(op, loss, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):  # noqa: A002
    """log(1 + exp(-y x)) elementwise (computed as softplus(-y x)), reduced; d/dx = -y sigmoid(-y x)."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('soft_margin_loss', soft_margin_loss, input=input, target=target, size_average=size_average,
                        reduce=reduce, reduction=reduction)
    op = "soft_margin_loss"
    reduction = _reduction(op, reduction, size_average, reduce)
    _need_tensor(op, "input", input)
    check_float(op, input)
    target = _constant(op, "target", target, input)  # torch: not differentiable with respect to target
    _broadcast(op, ("input", "target"), input, target)
    return _reduce(op, softplus(-(target * input)), reduction)


def _vector_input(op, input):  # noqa: A002
    """Check a (C,) or (N, C) score tensor; returns it as (N, C) and whether it was 1-D."""
    _need_tensor(op, "input", input)
    check_float(op, input)
    if input.data.ndim not in (1, 2) or input.data.shape[-1] == 0:
        raise ValueError(f"{op}: expected a non-empty vector (C,) or a matrix (N, C) of scores, got {describe(input)}")
    return (input.reshape(1, -1), True) if input.data.ndim == 1 else (input, False)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                                reduction="mean"):
    """-(1/C) sum_c w_c [y_c log sigmoid(x_c) + (1 - y_c) log sigmoid(-x_c)] per sample (classes in the last dim).

    d/dx_c = w_c (sigmoid(x_c) - y_c) / C.
    """
    op = "multilabel_soft_margin_loss"
    reduction = _reduction(op, reduction, size_average, reduce)
    input, target = _float_pair(op, input, target)
    if input.data.ndim == 0:
        raise ValueError(f"{op}: input must have a class dimension (last), got {describe(input)}")
    loss = -(target * logsigmoid(input) + (1.0 - target) * logsigmoid(-input))
    if weight is not None:
        w = _constant(op, "weight", weight, input)
        _broadcast(op, ("loss", "weight"), loss, w)
        loss = loss * w
    loss = loss.sum(dim=-1) / input.data.shape[-1]
    return _reduce(op, loss, reduction)


def _class_targets(op, target, x2, one_d):
    """Integer class indices, one per row of the (N, C) scores x2, as a backend array (N,)."""
    if not isinstance(target, Tensor):
        target = _wrap(_B.as_array(target, device=x2.device))
    t = target.data
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices, got {describe(target)}")
    if target.device != x2.device:
        raise RuntimeError(f"{op}: input is on {x2.device} but target is on {target.device}")
    n, C = x2.data.shape
    ok = t.size == 1 and t.ndim <= 1 if one_d else t.shape == (n,)
    if not ok:
        raise ValueError(f"{op}: target {describe(target)} does not fit {n if not one_d else 1} sample(s) of "
                         f"input scores with {C} classes: expected " + ("a 0-d or (1,) target" if one_d else f"({n},)"))
    t = t.reshape(-1)
    if t.size and bool(((t < 0) | (t >= C)).any()):
        raise IndexError(f"{op}: target value out of range for {C} classes (expected 0..{C - 1}), "
                         f"got {describe(target)}")
    return t


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None,  # noqa: A002
                      reduction="mean"):
    """Multi-class hinge: (1/C) sum_{i != y} w_y max(0, margin - x_y + x_i)^p with p = 1 or 2.

    input (N, C) or (C,), target (N,) or one index. Where the hinge is active,
    d/dx_i = w_y p z^(p-1) / C and d/dx_y = -sum of those (z = margin - x_y + x_i).
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('multi_margin_loss', multi_margin_loss, input=input, target=target, p=p, margin=margin,
                        weight=weight, size_average=size_average, reduce=reduce, reduction=reduction)
    op = "multi_margin_loss"
    reduction = _reduction(op, reduction, size_average, reduce)
    if isinstance(p, bool) or p not in (1, 2):
        raise ValueError(f"{op}: only p == 1 and p == 2 are supported, got p={p!r}")
    x2, one_d = _vector_input(op, input)
    t = _class_targets(op, target, x2, one_d)
    xp = get_xp(t)
    C = x2.data.shape[1]
    picked = x2.gather(1, _wrap(t[:, None]))
    z = clamp(x2 - picked + _number(op, "margin", margin), min=0.0)
    if p == 2:
        z = z * z
    if weight is not None:
        w = _constant(op, "weight", weight, x2)
        if w.data.shape != (C,):
            raise ValueError(f"{op}: weight must be 1-D with one entry per class ({C}), got {describe(w)}")
        z = z * w.index_select(0, _wrap(t)).unsqueeze(1)
    own = _mask(xp.arange(C) == t[:, None])  # the target's own term is excluded
    loss = where(own, 0.0, z).sum(dim=1) / C
    if one_d:
        loss = loss.reshape(())
    return _reduce(op, loss, reduction)


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):  # noqa: A002
    """(1/C) sum_{j in targets} sum_{i not in targets} max(0, 1 - (x_j - x_i)) per sample.

    target has input's shape; its leading non-negative entries are the sample's target classes,
    ended by the first -1 (a class listed twice counts twice, as torch).
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('multilabel_margin_loss', multilabel_margin_loss, input=input, target=target,
                        size_average=size_average, reduce=reduce, reduction=reduction)
    op = "multilabel_margin_loss"
    reduction = _reduction(op, reduction, size_average, reduce)
    x2, one_d = _vector_input(op, input)
    if not isinstance(target, Tensor):
        target = _wrap(_B.as_array(target, device=x2.device))
    t = target.data
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices (ended by -1), got {describe(target)}")
    if t.shape != input.data.shape:
        raise ValueError(f"{op}: target {describe(target)} must have input's shape {list(input.data.shape)}")
    if target.device != x2.device:
        raise RuntimeError(f"{op}: input is on {x2.device} but target is on {target.device}")
    n, C = x2.data.shape
    t = t.reshape(n, C)
    xp = get_xp(t)
    # listed[n, k]: entry k comes before the first -1; every such entry must be a class index
    listed = xp.cumprod(t != -1, axis=1).astype(bool)
    if t.size and bool((listed & ((t < 0) | (t >= C))).any()):
        raise IndexError(f"{op}: target value out of range for {C} classes (expected 0..{C - 1}, ended by -1), "
                         f"got {describe(target)}")
    onehot = (xp.where(listed, t, -1)[:, :, None] == xp.arange(C)).astype(x2.data.dtype)  # (n, k, C)
    count = onehot.sum(axis=1)  # how often class j is listed
    is_target = count > 0
    pair_w = count[:, :, None] * (~is_target)[:, None, :]  # (n, j, i): j listed, i not a target
    z = clamp(1.0 - x2.unsqueeze(2) + x2.unsqueeze(1), min=0.0)
    # where, not a product with the 0/1 weights: a pair outside the formula must not turn an inf or NaN
    # score into NaN (0 * inf); found by fuzzing against torch
    loss = where(_mask(pair_w > 0), z * _wrap(pair_w.astype(x2.data.dtype)), 0.0).sum(dim=(1, 2)) / C
    if one_d:
        loss = loss.reshape(())
    return _reduce(op, loss, reduction)


# ================================================================ distances and triplet losses
def _check_p(op, p, allow_negative=False):
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"{op}: p must be a number, got {type(p).__name__} {p!r}")
    p = float(p)
    if p < 0 and not allow_negative:
        raise ValueError(f"{op}: p must be >= 0 (or inf), got {p} (negative p is not supported)")
    return p


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p over the last dim after broadcasting (torch's eps keeps the norm off 0).

    d/dx1 = sign(d) |d|^(p-1) / ||d||^(p-1) with d = x1 - x2 + eps (x1 - x2 + eps over the norm for p = 2).
    """
    op = "pairwise_distance"
    _need_tensor(op, "x1", x1)
    check_float(op, x1)
    x2 = to_tensor(x2, x1, op)
    check_float(op, x2)
    x1, x2 = check_pair(op, x1, x2)
    _broadcast(op, ("x1", "x2"), x1, x2)
    p = _check_p(op, p)
    d = x1 - x2 + _number(op, "eps", eps)
    scalar = d.data.ndim == 0
    if scalar:  # two 0-d inputs: one 1-element vector each (torch gives 0-d, even with keepdim)
        d = d.reshape(1)
    if d.data.shape[-1] == 0:  # empty vectors: distance 0 as torch, except the inf norm (no identity)
        if p == float("inf"):
            raise ValueError(f"{op}: the inf norm of an empty last dimension is undefined, got x1 {describe(x1)}")
        out = d.sum(dim=-1, keepdim=True)  # (norm refuses empty dims; found by fuzzing)
    else:
        out = _p_norm(d, p, d.data.ndim - 1)
    return out if keepdim and not scalar else out.squeeze(-1)


def pdist(input, p=2):  # noqa: A002
    """The p-norm distances between every pair of rows i < j of a 2-D input, in row-major order: (N(N-1)/2,).

    = the upper triangle of cdist(input, input) without its diagonal; the gradient of a zero
    distance is 0 (torch's choice).
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('pdist', pdist, input=input, p=p)
    op = "pdist"
    _need_tensor(op, "input", input)
    check_float(op, input)
    if input.data.ndim != 2:
        raise ValueError(f"{op}: only supports 2-D tensors (N, M), got {describe(input)}")
    p = _check_p(op, p)
    xp = get_xp(input.data)
    n = input.data.shape[0]
    i, j = xp.triu_indices(n, 1)
    d = index_select(input, 0, _wrap(i)) - index_select(input, 0, _wrap(j))
    return _p_norm(d, p, 1).squeeze(-1)


def _triplet_inputs(op, anchor, positive, negative):
    for name, t in (("anchor", anchor), ("positive", positive), ("negative", negative)):
        _need_tensor(op, name, t)
    dims = (anchor.data.ndim, positive.data.ndim, negative.data.ndim)
    if len(set(dims)) != 1:
        raise ValueError(f"{op}: anchor, positive and negative must have the same number of dimensions, got "
                         f"anchor {describe(anchor)}, positive {describe(positive)}, negative {describe(negative)}")


def _triplet(op, anchor, positive, negative, dist, margin, swap, reduction):
    margin = _number(op, "margin", margin)
    if margin <= 0:
        raise ValueError(f"{op}: margin must be greater than 0, got {margin}")
    d_pos = dist(anchor, positive)
    d_neg = dist(anchor, negative)
    if swap:  # the positive may be closer to the negative than the anchor is (Balntas et al. 2016)
        d_neg = minimum(d_neg, dist(positive, negative))
    return _reduce(op, clamp(d_pos - d_neg + margin, min=0.0), reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    """max(0, margin + d(a, p) - d(a, n)) with d = pairwise_distance(., ., p, eps); swap: d(a, n) becomes
    min(d(a, n), d(p, n)). The gradient passes at the hinge (torch's clamp_min)."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('triplet_margin_loss', triplet_margin_loss, anchor=anchor, positive=positive,
                        negative=negative, margin=margin, p=p, eps=eps, swap=swap, size_average=size_average,
                        reduce=reduce, reduction=reduction)
    op = "triplet_margin_loss"
    reduction = _reduction(op, reduction, size_average, reduce)
    _triplet_inputs(op, anchor, positive, negative)
    for t in (anchor, positive, negative):  # pairwise_distance's checks, under this op's name (found by fuzzing)
        check_float(op, t)
    _broadcast(op, ("anchor", "positive", "negative"), anchor, positive, negative)
    p = _check_p(op, p)
    eps = _number(op, "eps", eps)
    return _triplet(op, anchor, positive, negative, lambda a, b: pairwise_distance(a, b, p, eps), margin, swap,
                    reduction)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None, margin=1.0,
                                      swap=False, reduction="mean"):
    """triplet_margin_loss with any distance_function(x1, x2) -> distances (default: pairwise_distance)."""
    op = "triplet_margin_with_distance_loss"
    reduction = _reduction(op, reduction)
    _triplet_inputs(op, anchor, positive, negative)
    if distance_function is not None and not callable(distance_function):
        raise TypeError(f"{op}: distance_function must be callable, got {type(distance_function).__name__}")
    if distance_function is None:  # pairwise_distance's checks, under this op's name (found by fuzzing)
        for t in (anchor, positive, negative):
            check_float(op, t)
        _broadcast(op, ("anchor", "positive", "negative"), anchor, positive, negative)
    return _triplet(op, anchor, positive, negative, distance_function or pairwise_distance, margin, swap, reduction)


# ================================================================ piecewise activations
class Threshold(Function):
    """y = x where x > threshold, else value;  dy/dx = 1 where x > threshold, else 0"""

    @staticmethod
    def forward(ctx, x, threshold, value):
        keep = ~(x <= threshold)  # (not x > threshold: a NaN stays NaN, as torch; found by fuzzing)
        ctx.save_for_backward(keep)
        return get_xp(x).where(keep, x, value).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved[0]


class Hardshrink(Function):
    """y = x where |x| > lambd, else 0;  dy/dx = 1 where |x| > lambd, else 0"""

    @staticmethod
    def forward(ctx, x, lambd):
        keep = get_xp(x).abs(x) > lambd
        ctx.save_for_backward(keep)
        return x * keep

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved[0]


class Softshrink(Function):
    """y = x - lambd where x > lambd, x + lambd where x < -lambd, else 0;  dy/dx = 1 where |x| > lambd, else 0"""

    @staticmethod
    def forward(ctx, x, lambd):
        xp = get_xp(x)
        keep = ~(xp.abs(x) <= lambd)  # (not |x| > lambd: a NaN stays NaN, as torch; found by fuzzing)
        ctx.save_for_backward(keep)
        return xp.where(keep, x - xp.sign(x) * lambd, 0).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved[0]


class RReLU(Function):
    """y = x where x > 0, else a x with a ~ U(lower, upper) drawn per element;  dy/dx = 1 or that same a

    (torch's training mode: an element at exactly 0 takes the random slope as well.)
    """

    @staticmethod
    def forward(ctx, x, lower, upper):
        xp = get_xp(x)
        a = _B.random_uniform(xp, x.shape, x.dtype) * (upper - lower) + lower
        slope = xp.where(x > 0, 1, a).astype(x.dtype, copy=False)
        ctx.save_for_backward(slope)
        return x * slope

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved[0]


def threshold(input, threshold, value, inplace=False):  # noqa: A002
    """torch.nn.functional.threshold: input where input > threshold, else value (integer tensors stay
    integer, value converted to their type, as torch)."""
    op = "threshold"
    _check_input(op, input, floats_only=False)
    th, val = _number(op, "threshold", threshold), _number(op, "value", value)
    if input.data.dtype.kind in "iu":
        val = int(val)
    return _apply(op, Threshold, input, inplace, threshold=th, value=val)


_threshold = threshold  # (inside threshold_, the name `threshold` is the argument, as in torch's signature)


def threshold_(input, threshold, value):  # noqa: A002
    """F.threshold_: threshold written into input."""
    return _threshold(input, threshold, value, inplace=True)


def hardshrink(input, lambd=0.5):  # noqa: A002
    """torch.nn.functional.hardshrink: input where |input| > lambd, else 0."""
    _check_input("hardshrink", input)
    return Hardshrink.apply(input, lambd=_number("hardshrink", "lambd", lambd))


def softshrink(input, lambd=0.5):  # noqa: A002
    """torch.nn.functional.softshrink: input shrunk towards 0 by lambd (>= 0), 0 inside [-lambd, lambd]."""
    _check_input("softshrink", input)
    lambd = _number("softshrink", "lambd", lambd)
    if lambd < 0:
        raise ValueError(f"softshrink: lambd must be >= 0, got {lambd}")
    return Softshrink.apply(input, lambd=lambd)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):  # noqa: A002
    """torch.nn.functional.rrelu: randomized leaky relu. Training: negative elements get slopes drawn
    from U(lower, upper) (minigrad's seeded generator, `mg.manual_seed`); eval: the fixed slope (lower + upper) / 2."""
    op = "rrelu"
    _check_input(op, input)
    lower, upper = _number(op, "lower", lower), _number(op, "upper", upper)
    if lower > upper:
        raise ValueError(f"{op}: lower bound should be less than or equal to the upper bound, got lower={lower}, "
                         f"upper={upper}")
    if training:
        return _apply(op, RReLU, input, inplace, lower=lower, upper=upper)
    return _apply(op, LeakyReLU, input, inplace, negative_slope=(lower + upper) / 2)


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):  # noqa: A002
    """F.rrelu_: rrelu written into input."""
    return rrelu(input, lower, upper, training, inplace=True)


def softmax2d(input):  # noqa: A002
    """softmax over the channels (dim -3) of a (C, H, W) or (N, C, H, W) input (nn.Softmax2d)."""
    _need_tensor("Softmax2d", "input", input)
    if input.data.ndim not in (3, 4):
        raise ValueError(f"Softmax2d: expected a 3-D or 4-D input, got {describe(input)}")
    return softmax(input, -3)


# ================================================================ small layers
def bilinear(input1, input2, weight, bias=None):
    """y_o = x1^T A_o x2 + b_o with weight A (out, in1, in2): torch.nn.functional.bilinear.

    input1 (*, in1) and input2 (*, in2) share their leading dims; output (*, out).
    Composed with einsum: d/dx1 = A x2 contracted with dy, d/dA = dy x1 x2^T.
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('bilinear', bilinear, input1=input1, input2=input2, weight=weight, bias=bias)
    op = "bilinear"
    for name, t in (("input1", input1), ("input2", input2), ("weight", weight)):
        _need_tensor(op, name, t)
        check_float(op, t)
    input1, input2 = check_pair(op, input1, input2)
    input1, weight = check_pair(op, input1, weight)
    if (weight.data.ndim != 3 or input1.data.ndim == 0 or input2.data.ndim == 0
            or input1.data.shape[-1] != weight.data.shape[1] or input2.data.shape[-1] != weight.data.shape[2]
            or input1.data.shape[:-1] != input2.data.shape[:-1]):
        raise ValueError(f"{op}: expected input1 (*, in1), input2 (*, in2) with the same leading dims and weight "
                         f"(out, in1, in2), got input1 {describe(input1)}, input2 {describe(input2)}, "
                         f"weight {describe(weight)}")
    y = einsum("...i,oij,...j->...o", input1, weight, input2)
    if bias is not None:
        _need_tensor(op, "bias", bias)
        y, bias = check_pair(op, y, bias)
        if bias.data.shape != (weight.data.shape[0],):
            raise ValueError(f"{op}: bias must have shape ({weight.data.shape[0]},), got {describe(bias)}")
        y = y + bias
    return y


def _check_p_drop(op, p):
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p!r}")
    return float(p)


def _keep_mask(x, shape, p):
    """A Bernoulli(1 - p) float mask of `shape` on x's device (minigrad's seeded generator)."""
    xp = get_xp(x.data)
    return (_B.random_uniform(xp, shape, x.data.dtype) >= p).astype(x.data.dtype)


def _mul_into(x, factor, inplace):
    """x * factor (a constant tensor that broadcasts to x), or written into x."""
    return x.mul_(factor) if inplace else x * factor


def dropout1d(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """Channel dropout: zero whole channels (rows of the last dim) of a (N, C, L) or (C, L) input with
    probability p, scale the rest by 1/(1-p). d/dx = the same mask."""
    op = "dropout1d"
    p = _check_p_drop(op, p)
    _need_tensor(op, "input", input)
    if input.data.ndim not in (2, 3):
        raise ValueError(f"{op}: expected a 2-D (C, L) or 3-D (N, C, L) input, got {describe(input)}: dropout1d "
                         "drops channels of inputs with one spatial dimension")
    if not training or p == 0.0:
        return input
    check_float(op, input)
    mask = _keep_mask(input, tuple(input.data.shape[:-1]) + (1,), p)
    mask = mask * (1.0 / (1.0 - p)) if p < 1.0 else mask
    return _mul_into(input, _wrap(mask), inplace)


def _feature_dropout(op, input, p, training, inplace, batched):  # noqa: A002
    """torch's feature_dropout: one Bernoulli(1 - p) draw per channel input[n, c] (per input[c] when not
    `batched`), the kept channels scaled by 1/(1-p). d/dx = the same mask."""
    if not training or p == 0.0 or input.data.size == 0:
        return input
    nd = input.data.ndim + (0 if batched else 1)
    if nd < 2:
        raise RuntimeError(f"{op}: Feature dropout requires at least 2 dimensions in the input, got {describe(input)}")
    check_float(op, input)
    lead = 2 if batched else 1
    mask = _keep_mask(input, tuple(input.data.shape[:lead]) + (1,) * (input.data.ndim - lead), p)
    mask = mask * (1.0 / (1.0 - p)) if p < 1.0 else mask
    return _mul_into(input, _wrap(mask), inplace)


def _warn_feature_dims(op, nd, spatial):
    """torch's warning for an input without (N, C, *spatial) or (C, *spatial) dimensions."""
    if nd not in (spatial + 1, spatial + 2):
        warnings.warn(f"{op}: Received a {nd}-D input to {op}, which is deprecated and will result in an error in a "
                      "future release. To retain the behavior and silence this warning, please use dropout instead. "
                      f"Note that {op} exists to provide channel-wise dropout on inputs with {spatial} spatial "
                      "dimensions, a channel dimension, and an optional batch dimension (i.e. "
                      f"{spatial + 1}D or {spatial + 2}D inputs).", stacklevel=3)


def dropout2d(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """Channel dropout on (N, C, H, W): zero each input[n, c] with probability p, scale the rest by 1/(1-p).

    As torch 2.13: a 3-D input is read as (N, C, L) (with torch's warning), and other ranks warn and
    drop input[n, c] too (so a 2-D (N, C) input loses single elements). d/dx = the same mask.
    """
    op = "dropout2d"
    p = _check_p_drop(op, p)
    _need_tensor(op, "input", input)
    nd = input.data.ndim
    _warn_feature_dims(op, nd, 2)
    if nd == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                      "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel dim. "
                      "This behavior will change in a future release to interpret the input as one without a "
                      "batch dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise dropout behavior, "
                      "please switch to using dropout1d instead.", stacklevel=2)
    return _feature_dropout(op, input, p, training, inplace, batched=True)


def dropout3d(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """Channel dropout on (N, C, D, H, W) or (C, D, H, W): zero each channel with probability p, scale the
    rest by 1/(1-p). As torch 2.13, any rank but 5 is read as unbatched (input[c] is a channel) and any
    rank but 4 and 5 warns. d/dx = the same mask."""
    op = "dropout3d"
    p = _check_p_drop(op, p)
    _need_tensor(op, "input", input)
    _warn_feature_dims(op, input.data.ndim, 3)
    return _feature_dropout(op, input, p, training, inplace, batched=input.data.ndim == 5)


_SELU_ALPHA_PRIME = 1.7580993408473766  # -alpha' = SELU's scale * alpha: the value SELU saturates to, negated


def alpha_dropout(input, p=0.5, training=False, inplace=False):  # noqa: A002
    """Dropout that keeps SELU's zero mean and unit variance: dropped elements become -alpha' and
    y = a (x m + alpha' (m - 1)) + a alpha' p with a = ((1 - p)(1 + p alpha'^2))^-1/2 (torch's affine map).

    d/dx = a m.
    """
    op = "alpha_dropout"
    p = _check_p_drop(op, p)
    _need_tensor(op, "input", input)
    if not training or p == 0.0:
        return input
    check_float(op, input)
    if p == 1.0:
        return _mul_into(input, 0.0, inplace)
    m = _keep_mask(input, tuple(input.data.shape), p)
    al = _SELU_ALPHA_PRIME
    a = 1.0 / math.sqrt((al * al * p + 1) * (1 - p))
    shift = _wrap((m - 1) * (al * a) + al * a * p)
    if inplace:
        return input.mul_(_wrap(m * a)).add_(shift)
    return input * _wrap(m * a) + shift


# ================================================================ embedding_bag
class EmbeddingBag(Function):
    """y_b = reduce over the bag b of W[idx_k] (times psw_k for 'sum'): sum, mean or max per column.

    sum:  dW[idx_k] += psw_k dy_b, dpsw_k = W[idx_k] . dy_b;  mean: dW[idx_k] += dy_b / |bag b|;
    max:  dW[argmax row, d] += dy_b[d] (the first maximum in bag order, as torch).
    Entries equal to padding_idx are left out of their bag (and of its count); an empty bag gives 0.
    """

    @staticmethod
    def forward(ctx, w, *psw, idx, bag, n_bags, mode, padding_idx):
        xp = get_xp(w)
        psw = psw[0] if psw else None
        D = w.shape[1]
        keep = xp.ones(idx.shape, dtype=bool) if padding_idx is None else idx != padding_idx
        rows = xp.take(w, idx, axis=0)  # (n, D)
        ctx.idx, ctx.bag, ctx.keep, ctx.mode, ctx.w_shape = idx, bag, keep, mode, w.shape
        if mode == "max":
            # the kept entries laid out densely, (n_bags, longest bag, D), -inf in the gaps, so that
            # argmax along the bag finds the first maximum in bag order (torch's choice on ties)
            kb, kidx = bag[keep], xp.arange(idx.size)[keep]
            counts = xp.zeros(n_bags, dtype=xp.int64)
            _B.scatter_add(counts, kb, xp.ones(kb.shape, dtype=xp.int64))
            start = xp.cumsum(counts) - counts  # where each bag's kept entries begin among the kept
            pos = xp.arange(kb.size) - start[kb]
            longest = max(int(counts.max()) if n_bags else 0, 1)
            dense = xp.full((n_bags, longest, D), -xp.inf, dtype=w.dtype)
            dense[kb, pos] = rows[keep]
            entry = xp.zeros((n_bags, longest), dtype=xp.int64)
            entry[kb, pos] = kidx
            arg = arg_extreme(dense, "argmax", axis=1)  # (n_bags, D): each column's maximum's place in its bag
            ctx.arg = xp.take_along_axis(entry, arg, axis=1)  # ... as an entry of idx
            ctx.empty = (counts == 0)[:, None]  # an empty bag gives 0 and passes no gradient
            best = xp.take_along_axis(dense, arg[:, None, :], axis=1)[:, 0]
            return xp.where(ctx.empty, 0, best).astype(w.dtype, copy=False)
        vals = rows if psw is None else rows * psw[:, None]
        out = xp.zeros((n_bags, D), dtype=w.dtype)
        _B.scatter_add(out, bag[keep], vals[keep])
        scale = None
        if mode == "mean":
            counts = xp.zeros(n_bags, dtype=w.dtype)
            _B.scatter_add(counts, bag[keep], xp.ones(int(keep.sum()), dtype=w.dtype))
            scale = 1 / xp.maximum(counts, 1)
            out *= scale[:, None]
        ctx.scale = scale
        ctx.save_for_backward(rows if psw is not None else None, psw)
        return out

    @staticmethod
    def backward(ctx, g):
        xp = get_xp(g)
        idx, bag, keep = ctx.idx, ctx.bag, ctx.keep
        n_rows, D = ctx.w_shape
        gw = gpsw = None
        if ctx.mode == "max":
            if ctx.needs_input_grad[0]:
                gw = xp.zeros(n_rows * D, dtype=g.dtype)
                live = xp.broadcast_to(~ctx.empty, ctx.arg.shape)  # columns of non-empty bags
                cols = xp.broadcast_to(xp.arange(D), ctx.arg.shape)
                flat = idx[ctx.arg[live]] * D + cols[live]  # their maxima's positions in the flattened table
                _B.scatter_add(gw, flat, g[live])
                gw = gw.reshape(n_rows, D)
            return gw
        rows, psw = ctx.saved
        gb = g[bag]  # (n, D): each entry's bag gradient
        if ctx.scale is not None:
            gb = gb * ctx.scale[bag][:, None]
        gb = gb * keep[:, None]
        if ctx.needs_input_grad[0]:
            gw = xp.zeros((n_rows, D), dtype=g.dtype)
            _B.scatter_add(gw, idx, gb if psw is None else gb * psw[:, None])
        if psw is None:
            return gw
        if ctx.needs_input_grad[1]:
            gpsw = (gb * rows).sum(axis=1)
        return gw, gpsw


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False,  # noqa: A002
                  mode="mean", sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """Sums, means or maxima of bags of embedding rows, without building the (n, dim) lookups' graph.

    Args:
        input: integer ids: 2-D (B, L), B bags of L ids each (offsets must be None), or 1-D
            with `offsets` marking where each bag starts.
        weight: the (num_embeddings, dim) table.
        offsets: 1-D integer start positions, offsets[0] == 0, non-decreasing; with
            include_last_offset=True the last entry is an end marker and there are len(offsets) - 1 bags
            (the last bag still runs to the end of input, as torch).
        mode: 'sum', 'mean' or 'max'.
        per_sample_weights: float weights of input's shape that scale each row (mode='sum' only);
            differentiable.
        padding_idx: ids equal to it are left out of their bag (and of the mean's count).
        max_norm, norm_type, scale_grad_by_freq, sparse: torch's options; not supported (max_norm
            and scale_grad_by_freq are refused, sparse=True too).

    Returns:
        (B, dim) with weight's dtype; an empty bag gives zeros.
    """
    op = "embedding_bag"
    _need_tensor(op, "weight", weight)
    check_float(op, weight)
    if weight.data.ndim != 2:
        raise ValueError(f"{op}: weight must be 2-D (num_embeddings, dim), got {describe(weight)}")
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError(f"{op}: max_norm, scale_grad_by_freq and sparse=True are not supported by minigrad")
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"{op}: mode has to be one of 'sum', 'mean' or 'max', got {mode!r}")
    ids = input.data if isinstance(input, Tensor) else _B.as_array(input, device=weight.device)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{op}: input must hold integer ids, got dtype {ids.dtype}")
    if _B.device_of(ids) != weight.device:
        raise RuntimeError(f"{op}: input is on {_B.device_of(ids)} but weight is on {weight.device}")
    xp = get_xp(ids)
    n_emb = weight.data.shape[0]
    if ids.ndim == 2:
        if offsets is not None:
            raise ValueError(f"{op}: a 2-D input (B, L) is B bags of fixed length; offsets must be None")
        B, L = ids.shape
        bag = xp.repeat(xp.arange(B), L)
        flat = ids.reshape(-1)
    elif ids.ndim == 1:
        if offsets is None:
            raise ValueError(f"{op}: a 1-D input needs offsets (1-D start positions of the bags)")
        off = offsets.data if isinstance(offsets, Tensor) else _B.as_array(offsets, device=weight.device)
        if off.ndim != 1 or off.dtype.kind not in "iu":
            raise ValueError(f"{op}: offsets has to be a 1-D integer tensor, got dtype {off.dtype} shape "
                             f"{tuple(off.shape)}")
        n = ids.size
        if off.size:
            if int(off[0]) != 0:
                raise ValueError(f"{op}: offsets[0] has to be 0 (the first bag starts at position 0), "
                                 f"got {int(off[0])}")
            if int(off[-1]) > n:
                raise ValueError(f"{op}: offsets[-1] can not be greater than input's length {n}, got {int(off[-1])}")
            if off.size > 1 and bool((off[1:] < off[:-1]).any()):
                raise ValueError(f"{op}: offsets must be non-decreasing, got {off.tolist()}")
        starts = off[:-1] if include_last_offset else off
        B = int(starts.size)
        # bag b holds positions starts[b] .. starts[b + 1] - 1; the last bag runs to the end of input
        bag = (xp.searchsorted(starts, xp.arange(n), side="right") - 1) if B else xp.zeros(0, dtype=xp.int64)
        flat = ids if B else ids[:0]
    else:
        raise ValueError(f"{op}: input must be 1-D (with offsets) or 2-D (B, L), got shape {tuple(ids.shape)}")
    if flat.size:
        lo, hi = int(flat.min()), int(flat.max())
        if lo < 0 or hi >= n_emb:
            raise IndexError(f"{op}: index {lo if lo < 0 else hi} is out of range for {n_emb} embeddings "
                             f"(expected 0..{n_emb - 1})")
    if padding_idx is not None:
        if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral) \
                or not -n_emb <= padding_idx < n_emb:
            raise ValueError(f"{op}: padding_idx must be within the number of embeddings, {-n_emb} through "
                             f"{n_emb - 1}, got {padding_idx!r}")
        padding_idx = int(padding_idx) % n_emb
    psw = []
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(f"{op}: per_sample_weights is only supported for mode='sum' (got mode={mode!r})")
        _need_tensor(op, "per_sample_weights", per_sample_weights)
        if tuple(per_sample_weights.data.shape) != tuple(ids.shape):
            raise ValueError(f"{op}: per_sample_weights {describe(per_sample_weights)} must have input's shape "
                             f"{tuple(ids.shape)}")
        _, w_s = check_pair(op, weight, per_sample_weights)
        if w_s.dtype != weight.dtype:
            raise TypeError(f"{op}: per_sample_weights {describe(w_s)} and weight {describe(weight)} must have the "
                            "same dtype")
        psw = [w_s.reshape(-1)[: flat.size] if flat.size != w_s.data.size else w_s.reshape(-1)]
    return EmbeddingBag.apply(weight, *psw, idx=flat, bag=bag.astype(xp.int64), n_bags=B, mode=mode,
                              padding_idx=padding_idx)
