"""Neural-network primitives: softmax, log_softmax, the losses, embedding, dropout, layer norm.

The numerically sensitive ones are single ops with their own backward (not
compositions), so they never form exp(x) on its own and stay finite for large
logits.
"""
from __future__ import annotations

import numbers

from .. import backend as _B
from ..autograd import Function, is_grad_enabled
from ..tensor import Tensor, _wrap
from .activation import stable_sigmoid, stable_softplus
from .common import c_order, check_float, check_pair, describe, normalize_axis, require_tensor, to_tensor
from .elementwise import clamp, where
from .reduce import amin, norm
from ..sparse import RowSparseGrad
from .. import amp as _amp

get_xp = _B.get_array_module


def _log_softmax(xp, x, axis):
    if x.size == 0:  # nothing to normalise (and max() of an empty axis is undefined)
        return x.copy()
    m = x.max(axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)
    z = x - m
    return z - xp.log(xp.exp(z).sum(axis=axis, keepdims=True))


class Softmax(Function):
    """y_i = e^{x_i} / sum_j e^{x_j};  dx = y * (dy - sum_j dy_j y_j)"""

    saves_output = True  # backward reads the output: in-place changes to it must be caught

    @staticmethod
    def forward(ctx, x, dim):
        xp = get_xp(x)
        if x.size == 0:  # the softmax of an empty tensor is empty (max() of an empty axis is undefined)
            y = x.copy()
        else:
            e = xp.exp(x - x.max(axis=dim, keepdims=True))
            y = c_order(e / e.sum(axis=dim, keepdims=True))  # C order, as torch's (x may be permuted)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return y * (g - (g * y).sum(axis=ctx.dim, keepdims=True))


class LogSoftmax(Function):
    """y_i = x_i - logsumexp(x);  dx = dy - softmax(x) * sum_j dy_j"""

    saves_output = True  # backward reads the output: in-place changes to it must be caught

    @staticmethod
    def forward(ctx, x, dim):
        y = c_order(_log_softmax(get_xp(x), x, dim))  # C order, as torch's (x may be permuted)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g - get_xp(g).exp(y) * g.sum(axis=ctx.dim, keepdims=True)


def _one_hot(xp, target, num_classes, dtype):
    return (xp.arange(num_classes) == target[..., None]).astype(dtype)


class CrossEntropy(Function):
    """loss_n = -sum_c q_nc log softmax(x_n)_c (0 where t_n == ignore_index);  dx_n = softmax(x_n) sum_c q_nc - q_n

    q_n = (1 - e) w_{t_n} onehot(t_n) + e w / C: the one-hot target, scaled by the class weight
    w (all ones without `weight`) and smoothed by e = label_smoothing (torch's formula).
    The optional third input w is a constant (no gradient); it is an input and saved, so an
    in-place change to it before backward is refused instead of giving a wrong gradient.
    """

    @staticmethod
    def forward(ctx, logits, target, *weight, ignore_index, label_smoothing):
        weight = weight[0] if weight else None
        xp = get_xp(logits)
        C = logits.shape[-1]
        logp = _log_softmax(xp, logits, -1)
        valid = target != ignore_index
        safe_t = xp.where(valid, target, 0)
        nll = -xp.take_along_axis(logp, safe_t[..., None], axis=-1)[..., 0]
        if weight is not None:
            nll = nll * weight[safe_t]
        if label_smoothing:
            smooth = -(logp * weight).sum(axis=-1) / C if weight is not None else -logp.mean(axis=-1)
            nll = (1 - label_smoothing) * nll + label_smoothing * smooth
        # where, not `* valid`: an ignored position (padding) may hold -inf/NaN logits, and NaN * 0 is NaN
        loss = xp.where(valid, nll, 0).astype(nll.dtype, copy=False)
        ctx.save_for_backward(logp, safe_t, valid, weight)
        ctx.C, ctx.eps = C, label_smoothing
        return loss

    @staticmethod
    def backward(ctx, g):
        logp, safe_t, valid, w = ctx.saved
        xp = get_xp(g)
        e = ctx.eps
        q = _one_hot(xp, safe_t, ctx.C, g.dtype)
        if w is None:  # q sums to 1: dx = softmax - q
            if e:
                q = (1 - e) * q + e / ctx.C
            d = xp.exp(logp) - q
        else:  # weighted: q sums to (1 - e) w_t + e mean(w)
            q *= (1 - e) * w[safe_t][..., None]
            if e:
                q += (e / ctx.C) * w
            d = xp.exp(logp) * q.sum(axis=-1, keepdims=True) - q
        gx = xp.where(valid[..., None], d * g[..., None], 0).astype(g.dtype, copy=False)
        return (gx, None) if w is None else (gx, None, None)


class NLLLoss(Function):
    """loss_n = -w_{t_n} logp_n[t_n] (0 where t_n == ignore_index; w = 1 without weight);
    dlogp_n = -w_{t_n} onehot(t_n)

    The optional third input w is a constant (no gradient), saved so that an in-place change
    to it before backward is refused (as torch), though backward reads only its own `scale`.
    """

    @staticmethod
    def forward(ctx, logp, target, *weight, ignore_index):
        weight = weight[0] if weight else None
        xp = get_xp(logp)
        valid = target != ignore_index
        safe_t = xp.where(valid, target, 0)
        scale = valid.astype(logp.dtype) if weight is None else xp.where(valid, weight[safe_t], 0).astype(logp.dtype)
        ctx.save_for_backward(safe_t, scale, weight)
        ctx.C = logp.shape[-1]
        picked = -xp.take_along_axis(logp, safe_t[..., None], axis=-1)[..., 0]
        if weight is not None:
            picked = picked * weight[safe_t]
        return xp.where(valid, picked, 0).astype(logp.dtype, copy=False)  # ignored entries: exactly 0

    @staticmethod
    def backward(ctx, g):
        safe_t, scale, w = ctx.saved
        xp = get_xp(g)
        gx = -_one_hot(xp, safe_t, ctx.C, g.dtype) * (g * scale)[..., None]
        return (gx, None) if w is None else (gx, None, None)


class BCEWithLogits(Function):
    """loss = w [(1 - y) x + (1 + (p - 1) y) softplus(-x)] with weight w and pos_weight p (both 1 by default)
    = w [p y softplus(-x) + (1 - y) softplus(x)], never forming sigmoid(x) on its own;
    dx = w [(1 - y) - (1 + (p - 1) y) sigmoid(-x)] (= w (sigmoid(x) - y) for p = 1), dy = w [-x + (p - 1) softplus(-x)].

    weight and pos_weight are constants (torch refuses gradients for them) broadcast to x's shape.
    When given they are extra inputs after y (weight first), saved, so an in-place change to
    them before backward is refused instead of giving a wrong gradient.
    """

    @staticmethod
    def forward(ctx, x, y, *consts, has_weight=False, has_pos_weight=False):
        xp = get_xp(x)
        weight = consts[0] if has_weight else None
        pos_weight = consts[-1] if has_pos_weight else None
        ctx.save_for_backward(x, y, weight, pos_weight)
        if pos_weight is None:
            loss = stable_softplus(xp, x) - x * y
        else:
            loss = (1 - y) * x + (1 + (pos_weight - 1) * y) * stable_softplus(xp, -x)
        if weight is not None:
            loss = loss * weight
        return loss

    @staticmethod
    def backward(ctx, g):
        x, y, w, pw = ctx.saved
        xp = get_xp(x)
        if w is not None:
            g = g * w
        gx = gy = None
        if ctx.needs_input_grad[0]:
            if pw is None:
                gx = g * (stable_sigmoid(xp, x) - y)
            else:
                gx = g * ((1 - y) - (1 + (pw - 1) * y) * stable_sigmoid(xp, -x))
        if ctx.needs_input_grad[1]:
            gy = -g * x if pw is None else g * ((pw - 1) * stable_softplus(xp, -x) - x)
        return (gx, gy) + (None,) * (len(ctx.inputs) - 2)  # none for the constants


_BCE_EPS = float(_B.np.float32(1e-12))  # torch's EPSILON is a C float: 1e-12 rounded to single precision


class BinaryCrossEntropy(Function):
    """loss = -w [y max(log x, -100) + (1 - y) max(log(1 - x), -100)] on probabilities x in [0, 1];
    dx = w (x - y) / max(x (1 - x), eps = 1e-12), dy = w (log(1 - x) - log x) (torch's formulas and clamps).

    The optional third input w is a constant (no gradient), saved so that an in-place change
    to it before backward is refused instead of giving a wrong gradient.
    """

    @staticmethod
    def forward(ctx, x, y, *weight):
        xp = get_xp(x)
        weight = weight[0] if weight else None
        ctx.save_for_backward(x, y, weight)
        with _B.np.errstate(divide="ignore"):  # log(0) = -inf, then clamped to -100 as torch
            log_x = xp.maximum(xp.log(x), -100.0)
            log_1mx = xp.maximum(xp.log1p(-x), -100.0)
        loss = -(y * log_x + (1 - y) * log_1mx)
        if weight is not None:
            loss = loss * weight
        return loss.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        x, y, w = ctx.saved
        xp = get_xp(x)
        if w is not None:
            g = g * w
        gx = gy = None
        if ctx.needs_input_grad[0]:
            # torch's eps keeps the slope finite at x = 0 and x = 1
            gx = g * (x - y) / xp.maximum(x * (1 - x), _BCE_EPS)
        if ctx.needs_input_grad[1]:
            with _B.np.errstate(divide="ignore", invalid="ignore"):  # +-inf at x = 0 or 1, as torch
                gy = g * (xp.log1p(-x) - xp.log(x))
        return (gx, gy) if w is None else (gx, gy, None)


class Embedding(Function):
    """y = W[idx];  dW = zeros with dy rows added at idx (repeats accumulate; padding_idx row stays 0;
    with scale_grad_by_freq each dy row is first divided by the count of its index in idx)

    With sparse=True and a leaf W, dW is a `RowSparseGrad` holding only the rows idx
    (O(len(idx) * dim) instead of O(num_embeddings * dim)); a non-leaf W gets the dense dW.
    """

    @staticmethod
    def forward(ctx, w, idx, padding_idx, sparse=False, scale_grad_by_freq=False):
        ctx.save_for_backward(idx)
        ctx.shape, ctx.padding_idx, ctx.sparse, ctx.scale = w.shape, padding_idx, sparse, scale_grad_by_freq
        return get_xp(w).take(w, idx, axis=0)  # = w[idx], about 2x faster in NumPy

    @staticmethod
    def backward(ctx, g):
        (idx,) = ctx.saved
        xp = get_xp(g)
        rows, grads = idx.reshape(-1), g.reshape(-1, ctx.shape[1])
        if ctx.scale:  # torch's scale_grad_by_freq: each row's gradient / how often it was looked up here
            if xp is _B.np:
                counts = xp.bincount(rows, minlength=ctx.shape[0])
            else:  # CuPy's bincount reads max(rows) back (a sync every step; an error for no rows): atomic int adds
                counts = xp.zeros(ctx.shape[0], dtype=_B.np.int32)
                _B.scatter_add(counts, rows, xp.ones(rows.shape, dtype=_B.np.int32))  # (exact in any order)
            grads = grads / counts[rows].astype(g.dtype)[:, None]
        # Sparse only for a leaf table: upstream ops' backwards expect dense arrays.
        if ctx.sparse and ctx.inputs[0].grad_fn is None:
            if ctx.padding_idx is not None:
                keep = rows != ctx.padding_idx
                rows, grads = rows[keep], grads[keep]
            # Repeated rows are kept here and summed when the engine coalesces the gradient.
            return RowSparseGrad(rows, grads, ctx.shape)
        gw = xp.zeros(ctx.shape, dtype=g.dtype)
        _B.scatter_add(gw, rows, grads)
        if ctx.padding_idx is not None:
            gw[ctx.padding_idx] = 0
        return gw


class EmbeddingDot(Function):
    """y[..., k] = W[idx[..., k]] . h[...];  dh[...] = sum_k dy[..., k] W[idx[..., k]],
    dW[r] = sum of dy[..., k] h[...] over the (..., k) with idx[..., k] == r

    The fused form of `(embedding(idx, W) @ h.unsqueeze(-1)).squeeze(-1)` (word2vec's scores
    of a word against its true and noise words): dW is built from dy and h directly (a sparse
    product where SciPy is installed), never as the (..., K, dim) array of per-row gradients.
    """

    @staticmethod
    def forward(ctx, w, h, idx, sparse=False):
        xp = get_xp(w)
        rows = xp.take(w, idx, axis=0)  # (..., K, D): a copy, so later writes to w cannot change it
        ctx.save_for_backward(rows, h)
        ctx.idx, ctx.shape, ctx.sparse = idx, w.shape, sparse
        return (rows @ h[..., None])[..., 0]

    @staticmethod
    def backward(ctx, g):
        rows, h = ctx.saved
        need_w, need_h = ctx.needs_input_grad
        gh = (g[..., None, :] @ rows)[..., 0, :] if need_h else None
        gw = None
        if need_w:
            k, d = ctx.idx.shape[-1], ctx.shape[1]
            used, sums = _B.coalesce_weighted_rows(ctx.idx.reshape(-1, k), g.reshape(-1, k), h.reshape(-1, d),
                                                   ctx.shape[0], op="embedding_dot")
            if ctx.sparse and ctx.inputs[0].grad_fn is None:  # row-sparse only for a leaf table
                gw = RowSparseGrad(used, sums, ctx.shape, coalesced=True)
            else:
                gw = get_xp(g).zeros(ctx.shape, dtype=g.dtype)
                gw[used] = sums  # rows are unique: plain assignment
        return gw, gh


class Dropout(Function):
    """y = x * m / (1 - p) with m ~ Bernoulli(1 - p);  dx = dy * m / (1 - p)"""

    @staticmethod
    def forward(ctx, x, p):
        xp = get_xp(x)
        keep = _B.random_uniform(xp, x.shape, x.dtype) >= p
        mask = keep.astype(x.dtype)
        mask *= 1.0 / (1.0 - p)
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved[0]


class LayerNorm(Function):
    """y = xhat * w + b, xhat = (x - mean) / sqrt(var + eps) over the last k dims (N elements);
    dx = (gh - mean(gh) - xhat * mean(gh * xhat)) / sqrt(var + eps) with gh = dy * w;
    dw = sum(dy * xhat), db = sum(dy) over the leading dims.
    """

    @staticmethod
    def forward(ctx, x, *affine, k, eps, has_weight, has_bias):
        xp = get_xp(x)
        axes = tuple(range(x.ndim - k, x.ndim))
        mu = x.mean(axis=axes, keepdims=True)
        d = x - mu
        var = (d * d).mean(axis=axes, keepdims=True)  # biased (correction=0), as torch
        rstd = 1.0 / xp.sqrt(var + eps)
        xhat = d * rstd
        w = affine[0] if has_weight else None
        b = affine[-1] if has_bias else None
        y = xhat * w if has_weight else xhat.copy()
        if has_bias:
            y += b
        ctx.save_for_backward(xhat, rstd, w)
        ctx.axes, ctx.has_weight, ctx.has_bias = axes, has_weight, has_bias
        return y

    @staticmethod
    def backward(ctx, g):
        xhat, rstd, w = ctx.saved
        axes = ctx.axes
        need = ctx.needs_input_grad
        lead = tuple(range(g.ndim - len(axes)))  # the dims the affine parameters are shared over
        grads = []
        if need[0]:
            gh = g * w if ctx.has_weight else g
            gx = rstd * (gh - gh.mean(axis=axes, keepdims=True) - xhat * (gh * xhat).mean(axis=axes, keepdims=True))
            grads.append(gx)
        else:
            grads.append(None)
        if ctx.has_weight:
            grads.append((g * xhat).sum(axis=lead) if need[1] else None)
        if ctx.has_bias:
            grads.append(g.sum(axis=lead) if need[-1] else None)
        return tuple(grads)


# ---------------------------------------------------------------- wrappers
def softmax(x, dim=-1):
    """softmax along `dim` (stable: shifted by the max)."""
    check_float("softmax", x)
    return Softmax.apply(x, dim=normalize_axis("softmax", dim, max(x.data.ndim, 1)) if x.data.ndim else None)


def log_softmax(x, dim=-1):
    """log(softmax(x)) along `dim`, computed as x - logsumexp(x) (never log(0))."""
    check_float("log_softmax", x)
    return LogSoftmax.apply(x, dim=normalize_axis("log_softmax", dim, max(x.data.ndim, 1)) if x.data.ndim else None)


_REDUCTIONS = ("mean", "sum", "none")


def _reduction(op, reduction, size_average=None, reduce=None, allowed=_REDUCTIONS):
    """The checked reduction; torch's deprecated size_average/reduce flags, when given, decide it (as torch)."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
    if reduction not in allowed:
        raise ValueError(f"{op}: reduction must be one of {allowed}, got {reduction!r}")
    return reduction


def _constant(op, name, value, like):
    """`value` (tensor, array or Python data) as a tensor with like's dtype and device.

    Used for loss weights, which torch treats as constants: it refuses a weight that
    requires grad, and so does minigrad (rather than dropping its gradient silently).
    A tensor of the right dtype comes back as it is (not re-wrapped), so that the ops it
    is passed to see its version counter and refuse in-place changes before backward.
    """
    if value is None:
        return None
    w = to_tensor(value, like, op)
    if w.requires_grad and is_grad_enabled():
        raise RuntimeError(f"{op}: {name} {describe(w)} requires grad, but {op} is not differentiable with respect "
                           f"to {name} (as in torch); pass {name}.detach()")
    _, w = check_pair(op, like, w)  # same device; an integer weight takes like's float dtype
    return w


def _class_weight(op, weight, scores):
    """A 1-D per-class weight of length C = scores.shape[-1], as a constant tensor."""
    w = _constant(op, "weight", weight, scores)
    if w is not None and (w.data.ndim != 1 or w.data.shape[0] != scores.data.shape[-1]):
        raise ValueError(f"{op}: weight must be 1-D with one entry per class ({scores.data.shape[-1]} classes, "
                         f"the last dim of input {describe(scores)}), got shape {list(w.data.shape)}")
    return w


def _broadcast_weight(op, name, weight, input):  # noqa: A002
    """An elementwise weight that broadcasts to input's shape without growing it (torch's rule)."""
    w = _constant(op, name, weight, input)
    if w is None:
        return None
    shape = tuple(input.data.shape)
    try:
        ok = _B.np.broadcast_shapes(tuple(w.data.shape), shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{op}: {name} of shape {list(w.data.shape)} does not broadcast to input {describe(input)} "
                         "(it may repeat along input's dims, not add to them)")
    return w


def _check_target(op, scores, target, ignore_index):
    if not isinstance(target, Tensor):
        # class indices: Python data must not adopt the scores' float dtype (as to_tensor would)
        target = _wrap(_B.as_array(target, device=scores.device))
    if target.data.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices, got {describe(target)}"
                        + (" (class probabilities must have input's shape "
                           f"{list(scores.data.shape)})" if op == "cross_entropy" else ""))
    if scores.data.ndim == 0:
        raise ValueError(f"{op}: input must have a class dimension (last), got a 0-d tensor")
    if target.data.shape != scores.data.shape[:-1]:
        s = tuple(scores.data.shape)
        # torch's layout (N, C, d1, ...) with target (N, d1, ...): say how to port it
        hint = ("; this is torch's (N, C, d1, ...) layout: move the classes last with input.movedim(1, -1)"
                if len(s) >= 3 and target.data.shape == s[:1] + s[2:] else "")
        raise ValueError(f"{op}: the class dimension is last: input (..., C) = {describe(scores)} needs target of "
                         f"shape {tuple(scores.data.shape[:-1])}, got {describe(target)}{hint}")
    if target.device != scores.device:
        raise RuntimeError(f"{op}: input is on {scores.device} but target is on {target.device}")
    C = scores.data.shape[-1]
    if C == 0:
        raise ValueError(f"{op}: the class dimension (last) of input {describe(scores)} is empty; "
                         "need at least one class")
    t = target.data
    if t.size:
        bad = (t != ignore_index) & ((t < 0) | (t >= C))
        if bool(bad.any()):
            first = int(t[bad].reshape(-1)[0])
            raise IndexError(f"{op}: target value {first} is out of range for {C} classes "
                             f"(expected 0..{C - 1} or ignore_index={ignore_index})")
    return target


def _counted_weight(target, ignore_index, weight, dtype):
    """The divisor of a 'mean' classification loss: the number of non-ignored targets, or with
    class weights the sum of their weights w[t] (torch's weighted mean).

    A 0-d array of `dtype` left on the device: reading it on the host would wait for the GPU.
    """
    t = target.data
    valid = t != ignore_index
    xp = get_xp(t)
    if weight is None:
        return xp.asarray(valid.sum(), dtype=dtype)
    return xp.asarray(xp.where(valid, weight.data[xp.where(valid, t, 0)], 0).sum(), dtype=dtype)


def _reduce(op, loss, reduction, count=None):
    """'none': loss; 'sum': its sum; 'mean': its mean, or sum / count when a count is given.

    count is a host int or a 0-d backend array (kept on the device: no sync). A count of 0
    (every target ignored, or zero total weight) gives the sum, which is then 0 unless label
    smoothing spread weight onto other classes (torch gives NaN/inf).
    """
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        if count is None:
            if loss.data.size == 0:  # mean of nothing: undefined (torch gives NaN); say so instead
                raise ValueError(f"{op}: reduction='mean' of an empty input ({describe(loss)}) is undefined; "
                                 "use reduction='sum' or 'none'")
            return loss.mean()
        if _B.is_array(count):  # sum / where(count == 0, 1, count): the same rule, decided on the device
            xp = get_xp(count)
            return loss.sum() / _wrap(xp.where(count == 0, xp.ones_like(count), count))
        return loss.sum() / count if count else loss.sum()
    raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _soft_cross_entropy(input, target, weight, reduction, label_smoothing):  # noqa: A002
    """Cross-entropy against class probabilities (torch >= 1.10), composed from log_softmax:
    loss_n = -sum_c w_c q_nc log softmax(x_n)_c with q = (1 - e) target + e / C; 'mean' divides by N."""
    C = input.data.shape[-1]
    if C == 0:
        raise ValueError(f"cross_entropy: the class dimension (last) of input {describe(input)} is empty; "
                         "need at least one class")
    q = target * (1.0 - label_smoothing) + label_smoothing / C if label_smoothing else target
    prod = log_softmax(input, -1) * q
    if weight is not None:
        prod = prod * weight  # the tensor itself: Mul saves it, and its version counter guards it
    loss = -prod.sum(dim=-1)
    return _reduce("cross_entropy", loss, reduction, loss.data.size if reduction == "mean" else None)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,  # noqa: A002
                  reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy with the class dimension LAST (torch's signature otherwise).

    Args:
        input: logits of shape (..., C): e.g. (batch, C) or (batch, time, C) for sequences.
            Note torch puts the classes in dim 1; minigrad puts them last so sequence
            logits need no transpose.
        target: integer class indices of shape (...) (input's shape without the last dim), or
            class probabilities of input's shape (float, differentiable; torch >= 1.10 semantics).
        weight: optional per-class weights (C,), a constant: loss_n is scaled by weight[target_n];
            with label smoothing the smoothed part is weighted per class (torch's formula).
        size_average, reduce: deprecated torch flags; when given they decide the reduction.
        ignore_index: targets equal to it (e.g. padding) contribute 0 loss and 0 gradient
            (class-index targets only, as torch).
        reduction: 'mean' (over non-ignored targets, divided by the sum of their weights when
            weight is given; 0 when none count), 'sum' or 'none'. With probability targets 'mean'
            divides by the number of positions.
        label_smoothing: e in [0, 1): the target becomes (1 - e) target + e / C.
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('cross_entropy', cross_entropy, input=input, target=target, weight=weight,
                        size_average=size_average, ignore_index=ignore_index, reduce=reduce, reduction=reduction,
                        label_smoothing=label_smoothing)
    _need_tensor("cross_entropy", "input", input)
    check_float("cross_entropy", input)
    reduction = _reduction("cross_entropy", reduction, size_average, reduce)
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1), got {label_smoothing}")
    if not isinstance(target, Tensor):
        # Python class indices stay integers; Python probabilities adopt input's float dtype
        raw = _B.as_array(target, device=input.device)
        target = to_tensor(target, input, "cross_entropy") if raw.dtype.kind == "f" and not _B.is_array(target) \
            else _wrap(raw)
    if target.data.dtype.kind == "f" and target.data.shape == input.data.shape:  # class probabilities
        if ignore_index != -100:
            raise ValueError(f"cross_entropy: ignore_index={ignore_index} is not supported for class-probability "
                             f"targets ({describe(target)}), as in torch")
        input, target = check_pair("cross_entropy", input, target)
        w = _class_weight("cross_entropy", weight, input)
        return _soft_cross_entropy(input, target, w, reduction, float(label_smoothing))
    target = _check_target("cross_entropy", input, target, ignore_index)
    w = _class_weight("cross_entropy", weight, input)
    loss = CrossEntropy.apply(input, target, *([] if w is None else [w]), ignore_index=ignore_index,
                              label_smoothing=float(label_smoothing))
    count = _counted_weight(target, ignore_index, w, loss.data.dtype) if reduction == "mean" else None
    return _reduce("cross_entropy", loss, reduction, count)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,  # noqa: A002
             reduction="mean"):
    """Negative log-likelihood of log-probabilities `input` (..., C) at integer `target` (...); class dim last.

    loss_n = -weight[t_n] input_n[t_n]; 'mean' divides by the summed weights of the
    non-ignored targets (their number without weight), as torch.
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('nll_loss', nll_loss, input=input, target=target, weight=weight, size_average=size_average,
                        ignore_index=ignore_index, reduce=reduce, reduction=reduction)
    _need_tensor("nll_loss", "input", input)
    check_float("nll_loss", input)
    reduction = _reduction("nll_loss", reduction, size_average, reduce)
    target = _check_target("nll_loss", input, target, ignore_index)
    w = _class_weight("nll_loss", weight, input)
    loss = NLLLoss.apply(input, target, *([] if w is None else [w]), ignore_index=ignore_index)
    count = _counted_weight(target, ignore_index, w, loss.data.dtype) if reduction == "mean" else None
    return _reduce("nll_loss", loss, reduction, count)


def _mask(cond):
    """A comparison of backend arrays as a bool tensor (NumPy gives a scalar, not an array, for 0-d operands)."""
    return _wrap(get_xp(cond).asarray(cond))


def _pair_loss(op, input, target):  # noqa: A002
    """input and target of the same shape, device and float dtype (an integer target takes input's dtype).

    torch broadcasts mismatched shapes here with a UserWarning; minigrad refuses them (a
    (N, 1) prediction against an (N,) target silently becomes an (N, N) loss otherwise).
    """
    _need_tensor(op, "input", input)
    check_float(op, input)
    target = to_tensor(target, input, op)
    if input.data.shape != target.data.shape:
        raise ValueError(f"{op}: input {describe(input)} and target {describe(target)} must have the same shape")
    return check_pair(op, input, target)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):  # noqa: A002
    """Mean squared error: (input - target)^2, reduced (composed from primitives)."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('mse_loss', mse_loss, input=input, target=target, size_average=size_average, reduce=reduce,
                        reduction=reduction)
    reduction = _reduction("mse_loss", reduction, size_average, reduce)
    input, target = _pair_loss("mse_loss", input, target)
    d = input - target
    return _reduce("mse_loss", d * d, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):  # noqa: A002
    """|input - target|, reduced; d/dinput = sign(input - target) (0 at equality, as torch)."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('l1_loss', l1_loss, input=input, target=target, size_average=size_average, reduce=reduce,
                        reduction=reduction)
    reduction = _reduction("l1_loss", reduction, size_average, reduce)
    input, target = _pair_loss("l1_loss", input, target)
    return _reduce("l1_loss", (input - target).abs(), reduction)


def _check_positive(op, name, value, allow_zero):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a number, got {type(value).__name__} {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{op}: {name} must be {'non-negative' if allow_zero else 'positive'}, got {value}")
    return float(value)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):  # noqa: A002
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target); beta = 0 is l1_loss.

    d/dinput = d / beta inside, sign(d) outside: equal at |d| = beta, so the kink has torch's slope.
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('smooth_l1_loss', smooth_l1_loss, input=input, target=target, size_average=size_average,
                        reduce=reduce, reduction=reduction, beta=beta)
    reduction = _reduction("smooth_l1_loss", reduction, size_average, reduce)
    beta = _check_positive("smooth_l1_loss", "beta", beta, allow_zero=True)
    input, target = _pair_loss("smooth_l1_loss", input, target)
    d = input - target
    if beta == 0.0:
        return _reduce("smooth_l1_loss", d.abs(), reduction)
    a = d.abs()
    loss = where(_mask(a.data < beta), d * d * (0.5 / beta), a - 0.5 * beta)
    return _reduce("smooth_l1_loss", loss, reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):  # noqa: A002
    """0.5 d^2 where |d| <= delta, else delta (|d| - 0.5 delta) (d = input - target) = delta * smooth_l1(beta=delta).

    d/dinput = d inside, delta sign(d) outside (equal at |d| = delta).
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('huber_loss', huber_loss, input=input, target=target, reduction=reduction, delta=delta)
    reduction = _reduction("huber_loss", reduction)
    delta = _check_positive("huber_loss", "delta", delta, allow_zero=False)
    input, target = _pair_loss("huber_loss", input, target)
    d = input - target
    a = d.abs()
    loss = where(_mask(a.data <= delta), d * d * 0.5, (a - 0.5 * delta) * delta)
    return _reduce("huber_loss", loss, reduction)


def _float_target(op, input, target):  # noqa: A002
    """The binary losses take probabilities: an integer/bool target (0/1 labels) is refused, as in torch."""
    if target.data.dtype.kind not in "fc":
        raise TypeError(f"{op}: target must be a floating-point tensor of probabilities, got {describe(target)} "
                        f"for input {describe(input)}; convert the labels with .float() / .to(input.dtype) "
                        "(torch refuses integer targets here too)")


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                                     reduction="mean", pos_weight=None):
    """-w [p y log s(x) + (1 - y) log(1 - s(x))] from logits x, computed without forming s(x).

    Args:
        input: logits x; target: probabilities y of input's shape (differentiable).
        weight: constant rescaling w, broadcast to input's shape.
        pos_weight: constant weight p of the positive term, broadcast to input's shape (e.g.
            (C,) for (N, C) multi-label logits): p > 1 raises recall, p < 1 precision.
        size_average, reduce: deprecated torch flags; when given they decide the reduction.
        reduction: 'mean', 'sum' or 'none'.
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('binary_cross_entropy_with_logits', binary_cross_entropy_with_logits, input=input,
                        target=target, weight=weight, size_average=size_average, reduce=reduce, reduction=reduction,
                        pos_weight=pos_weight)
    op = "binary_cross_entropy_with_logits"
    _need_tensor(op, "input", input)
    check_float(op, input)
    target = to_tensor(target, input, op)
    _float_target(op, input, target)
    if input.data.shape != target.data.shape:
        raise ValueError(f"{op}: input {describe(input)} and target {describe(target)} must have the same shape")
    input, target = check_pair(op, input, target)
    reduction = _reduction(op, reduction, size_average, reduce)
    w = _broadcast_weight(op, "weight", weight, input)
    pw = _broadcast_weight(op, "pos_weight", pos_weight, input)
    consts = [c for c in (w, pw) if c is not None]
    loss = BCEWithLogits.apply(input, target, *consts, has_weight=w is not None, has_pos_weight=pw is not None)
    return _reduce(op, loss, reduction)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                         reduction="mean"):
    """-w [y log x + (1 - y) log(1 - x)] on probabilities x in [0, 1], each log clamped to >= -100 (as torch).

    Prefer binary_cross_entropy_with_logits on logits: it is exact where sigmoid saturates.

    Args:
        input: probabilities x in [0, 1]; target: y of input's shape (differentiable).
        weight: constant rescaling w, broadcast to input's shape.
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('binary_cross_entropy', binary_cross_entropy, input=input, target=target, weight=weight,
                        size_average=size_average, reduce=reduce, reduction=reduction)
    op = "binary_cross_entropy"
    _need_tensor(op, "input", input)
    check_float(op, input)
    _float_target(op, input, to_tensor(target, input, op))
    input, target = _pair_loss(op, input, target)
    reduction = _reduction(op, reduction, size_average, reduce)
    x = input.data
    if x.size and bool(((x < 0) | (x > 1) | (x != x)).any()):  # x != x: NaN
        raise ValueError(f"{op}: every element of input {describe(input)} must be a probability in [0, 1] "
                         "(apply sigmoid first, or use binary_cross_entropy_with_logits on logits)")
    w = _broadcast_weight(op, "weight", weight, input)
    return _reduce(op, BinaryCrossEntropy.apply(input, target, *([] if w is None else [w])), reduction)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):  # noqa: A002
    """Pointwise KL divergence with `input` as log-probabilities: target (log target - input),
    0 where target = 0; with log_target=True, exp(target) (target - input). Input and target broadcast.

    reduction: 'mean' over all elements (torch warns that this is not the KL divergence),
    'batchmean' (sum / input.shape[0]: the true KL of a batch of distributions), 'sum' or 'none'.
    d/dinput = -target (-exp(target) with log_target).
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('kl_div', kl_div, input=input, target=target, size_average=size_average, reduce=reduce,
                        reduction=reduction, log_target=log_target)
    op = "kl_div"
    if reduction == "mean" and size_average is None and reduce is None:  # torch's advice, word for word
        import warnings

        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      UserWarning, stacklevel=2)
    reduction = _reduction(op, reduction, size_average, reduce, allowed=_REDUCTIONS + ("batchmean",))
    _need_tensor(op, "input", input)
    check_float(op, input)
    target = to_tensor(target, input, op)
    input, target = check_pair(op, input, target)
    try:
        if log_target:
            loss = target.exp() * (target - input)
        else:
            # xlogy(t, t) = t log t with 0 log 0 = 0: log(1) where t == 0 keeps the gradient finite
            ones = _wrap(get_xp(target.data).ones_like(target.data))
            with _B.np.errstate(invalid="ignore"):  # a negative target gives NaN, silently, as in torch
                loss = target * where(_mask(target.data == 0), ones, target).log() - target * input
    except ValueError as e:
        raise ValueError(f"kl_div: input {describe(input)} and target {describe(target)} do not broadcast ({e})") \
            from None
    if reduction == "batchmean":
        if input.data.ndim == 0:
            return loss.sum()
        if input.data.shape[0] == 0:
            raise ValueError(f"{op}: reduction='batchmean' of an empty batch ({describe(input)}) is undefined; "
                             "use reduction='sum' or 'none'")
        return loss.sum() / input.data.shape[0]
    return _reduce(op, loss, reduction)


def _need_tensor(op, name, x):
    """A TypeError naming op unless x is a Tensor (a NumPy scalar has no .data array to check)."""
    require_tensor(op, x, name)


def _vector_dim(op, dim, ndim):
    """The vector dim as a non-negative int; a 0-d input is one 1-element vector (dim 0 or -1, as torch)."""
    return normalize_axis(op, dim, max(ndim, 1))


def _p_norm(x, p, d):
    """||x||_p along dim d (kept), for any p > 0, 0 (the count of non-zeros, a constant) or -inf.

    d/dx for general p: sign(x) |x|^(p-1) / ||x||^(p-1), 0 where x = 0 or the norm is 0 (torch's
    masks); written with safe operands so that no 0^negative enters the graph.
    """
    xp = get_xp(x.data)
    if p in (1, 2, float("inf")):
        return norm(x, p=int(p) if p != float("inf") else p, dim=d, keepdim=True)
    a = x.abs()
    if p == float("-inf"):
        return amin(a, dim=d, keepdim=True)
    if p == 0:
        return _wrap((x.data != 0).sum(axis=d, keepdims=True).astype(x.data.dtype))
    zero = _mask(a.data == 0)
    ap = where(zero, 0.0, where(zero, 1.0, a) ** float(p))
    s = ap.sum(dim=d, keepdim=True)
    empty = _mask(s.data == 0)
    return where(empty, 0.0, where(empty, 1.0, s) ** (1.0 / float(p)))


def normalize(input, p=2.0, dim=1, eps=1e-12):  # noqa: A002
    """input / max(||input||_p, eps) along `dim` (any p >= 0, inf or -inf, as torch); composed, so the
    gradient goes through the norm where it exceeds eps and through the division alone where clamped."""
    _need_tensor("normalize", "input", input)
    check_float("normalize", input)
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"normalize: p must be a number, got {type(p).__name__} {p!r}")
    p = float(p)
    if p < 0 and p != float("-inf"):
        raise ValueError(f"normalize: p must be >= 0, inf or -inf, got {p!r} (negative p is not supported)")
    x = input.reshape(1) if input.data.ndim == 0 else input  # a 0-d input is a 1-element vector
    d = _vector_dim("normalize", dim, input.data.ndim)
    if abs(p) == float("inf") and x.data.shape[d] == 0 and x.data.size == 0:
        raise ValueError(f"normalize: the {p} norm over the empty dim {dim} of {describe(input)} is undefined "
                         "(no identity), as in torch")
    out = x / clamp(_p_norm(x, p, d), min=float(eps))
    return out.reshape(()) if input.data.ndim == 0 else out


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1 x2) / (max(||x1||, eps) max(||x2||, eps)) along `dim` after broadcasting (torch's clamping)."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('cosine_similarity', cosine_similarity, x1=x1, x2=x2, dim=dim, eps=eps)
    op = "cosine_similarity"
    _need_tensor(op, "x1", x1)
    check_float(op, x1)
    x2 = to_tensor(x2, x1, op)
    check_float(op, x2)
    x1, x2 = check_pair(op, x1, x2)
    try:
        shape = _B.np.broadcast_shapes(tuple(x1.data.shape), tuple(x2.data.shape))
    except ValueError:
        raise ValueError(f"{op}: x1 {describe(x1)} and x2 {describe(x2)} do not broadcast") from None
    d = _vector_dim(op, dim, len(shape))
    if not shape:  # two 0-d inputs: one 1-element vector each
        shape = (1,)
        x1, x2 = x1.reshape(1), x2.reshape(1)
    if x1.data.shape != shape:
        x1 = x1.expand(*shape)
    if x2.data.shape != shape:
        x2 = x2.expand(*shape)
    eps = float(eps)
    n1 = clamp(norm(x1, dim=d, keepdim=True), min=eps)
    n2 = clamp(norm(x2, dim=d, keepdim=True), min=eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim=d)


def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,  # noqa: A002
                        reduction="mean"):
    """max(0, -y (x1 - x2) + margin) with y = 1 (x1 should rank higher) or -1; the three broadcast.

    At the hinge (exactly 0) the gradient passes, as torch's clamp_min.
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('margin_ranking_loss', margin_ranking_loss, input1=input1, input2=input2, target=target,
                        margin=margin, size_average=size_average, reduce=reduce, reduction=reduction)
    op = "margin_ranking_loss"
    reduction = _reduction(op, reduction, size_average, reduce)
    _need_tensor(op, "input1", input1)
    check_float(op, input1)
    input2, target = to_tensor(input2, input1, op), to_tensor(target, input1, op)
    if not input1.data.ndim == input2.data.ndim == target.data.ndim:
        raise ValueError(f"{op}: input1 {describe(input1)}, input2 {describe(input2)} and target {describe(target)} "
                         "must have the same number of dimensions (as torch)")
    input1, input2 = check_pair(op, input1, input2)
    input1, target = check_pair(op, input1, target)
    try:
        loss = clamp(-target * (input1 - input2) + float(margin), min=0.0)
    except ValueError as e:
        raise ValueError(f"{op}: input1 {describe(input1)}, input2 {describe(input2)} and target {describe(target)} "
                         f"do not broadcast ({e})") from None
    return _reduce(op, loss, reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,  # noqa: A002
                          reduction="mean"):
    """1 - cos(x1, x2) where y = 1, max(0, cos(x1, x2) - margin) where y = -1, 0 for other y.

    cos = sum(x1 x2) / sqrt((|x1|^2 + 1e-12)(|x2|^2 + 1e-12)) over the last dim (torch's EPSILON).
    Shapes: input (N, D) with target (N,), or input (D,) with a 0-d target.
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('cosine_embedding_loss', cosine_embedding_loss, input1=input1, input2=input2, target=target,
                        margin=margin, size_average=size_average, reduce=reduce, reduction=reduction)
    op = "cosine_embedding_loss"
    reduction = _reduction(op, reduction, size_average, reduce)
    _need_tensor(op, "input1", input1)
    check_float(op, input1)
    input2 = to_tensor(input2, input1, op)
    if not isinstance(target, Tensor):  # Python/NumPy data: its own dtype (integers stay integers), input1's device
        target = to_tensor(target, None, op).to(input1.device)
    input1, input2 = check_pair(op, input1, input2)
    nd = target.data.ndim
    if nd > 1:
        raise ValueError(f"{op}: target must be 0-d or 1-D, got {describe(target)}")
    want = "1-D inputs (D,) for a 0-d target" if nd == 0 else f"2-D inputs (N, D) with N = {target.data.shape[0]}"
    if (input1.data.shape != input2.data.shape or input1.data.ndim != nd + 1
            or (nd == 1 and input1.data.shape[0] != target.data.shape[0])):
        raise ValueError(f"{op}: expected {want}, got input1 {describe(input1)}, input2 {describe(input2)}, "
                         f"target {describe(target)}")
    if target.device != input1.device:
        raise RuntimeError(f"{op}: input is on {input1.device} but target is on {target.device}")
    eps = 1e-12
    prod = (input1 * input2).sum(dim=-1)
    mag = ((input1 * input1).sum(dim=-1) + eps) * ((input2 * input2).sum(dim=-1) + eps)
    cos = prod / mag.sqrt()
    y = target.data
    loss = where(_mask(y == 1), 1.0 - cos, 0.0) + where(_mask(y == -1), clamp(cos - float(margin), min=0.0), 0.0)
    return _reduce(op, loss, reduction)


def _lookup_indices(op: str, input, weight):  # noqa: A002
    """The backend integer array of a table lookup's indices, checked against the 2-D `weight`:
    integer dtype, the weight's device, every index in [0, num_embeddings)."""
    if not isinstance(weight, Tensor) or weight.data.ndim != 2:
        raise ValueError(f"{op}: weight must be 2-D (num_embeddings, dim), got {describe(weight)}")
    # Python data stays integer (to_tensor would give it the weight's float dtype)
    idx = input.data if isinstance(input, Tensor) else _B.as_array(input, device=weight.device)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be integers, got dtype {idx.dtype}")
    if _B.device_of(idx) != weight.device:
        raise RuntimeError(f"{op}: indices are on {_B.device_of(idx)} but weight is on {weight.device}")
    n = weight.data.shape[0]
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= n:
            raise IndexError(f"{op}: index {lo if lo < 0 else hi} is out of range for {n} embeddings "
                             f"(expected 0..{n - 1})")
    return idx


def one_hot(tensor, num_classes=-1):
    """torch.nn.functional.one_hot: int64 (..., num_classes), 1 at each class index, 0 elsewhere (no gradient).

    num_classes=-1 takes the largest index + 1.
    """
    if not isinstance(tensor, Tensor) or tensor.data.dtype.kind not in "iu":
        got = describe(tensor) if isinstance(tensor, Tensor) else type(tensor).__name__
        raise TypeError(f"one_hot: expected an integer tensor of class indices, got {got}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < -1:
        raise ValueError(f"one_hot: num_classes must be a non-negative int (or -1 to infer it), got {num_classes!r}")
    data = tensor.data
    if num_classes == -1:
        if data.size == 0:
            raise ValueError(f"one_hot: cannot infer num_classes from the empty {describe(tensor)}; pass num_classes")
        num_classes = int(data.max()) + 1
    if data.size:
        lo, hi = int(data.min()), int(data.max())
        if lo < 0 or hi >= num_classes:
            raise ValueError(f"one_hot: class index {lo if lo < 0 else hi} of {describe(tensor)} is outside "
                             f"[0, {num_classes}) (num_classes={num_classes})")
    xp = get_xp(data)
    return _wrap((data[..., None] == xp.arange(num_classes)).astype(xp.int64, order="C"))  # (C, as torch's)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,  # noqa: A002
              sparse=False):
    """Rows of `weight` (num_embeddings, dim) picked by integer `input` of any shape -> (*input.shape, dim).

    Args (torch's, in torch's order):
        padding_idx: this row gets no gradient (e.g. the PAD token).
        max_norm: before the lookup, each looked-up row whose `norm_type`-norm exceeds max_norm is
            scaled IN PLACE (without a graph) to max_norm / (norm + 1e-7) of itself, as torch's.
        norm_type: the p of that norm (default 2).
        scale_grad_by_freq: divide each row's gradient by how many times it occurs in `input`.
        sparse: give a leaf `weight` a row-sparse gradient (`minigrad.sparse.RowSparseGrad`,
            only the looked-up rows) instead of a dense (num_embeddings, dim) one.
    """
    idx = _lookup_indices("embedding", input, weight)
    n = weight.data.shape[0]
    if padding_idx is not None:
        if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral) or not -n <= padding_idx < n:
            raise ValueError(f"embedding: padding_idx must be an int in [{-n}, {n - 1}] (a row of weight "
                             f"{describe(weight)}), got {padding_idx!r}")
        padding_idx = int(padding_idx) % n
    if max_norm is not None:
        _embedding_renorm_(weight, idx, float(max_norm), float(norm_type))
    return Embedding.apply(weight, idx=idx, padding_idx=padding_idx, sparse=bool(sparse),
                           scale_grad_by_freq=bool(scale_grad_by_freq))


def _embedding_renorm_(weight, idx, max_norm, norm_type):
    """torch's embedding_renorm_: rows `idx` of weight with ||row||_p > max_norm become row * max_norm / (||row||_p + 1e-7).

    A write without a graph (as torch's, under no_grad), through `weight[rows] = ...` so the
    tensor's version counter moves."""
    from ..autograd import no_grad

    xp = get_xp(weight.data)
    rows = xp.unique(idx.reshape(-1))
    w = weight.data[rows]
    norms = xp.linalg.norm(w, ord=norm_type, axis=1, keepdims=True).astype(w.dtype, copy=False)
    scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(w.dtype, copy=False)
    with no_grad():
        weight[_wrap(rows)] = _wrap(w * scale)


def embedding_dot(input, weight, h, *, sparse=False):  # noqa: A002
    """Dot products of looked-up rows with vectors: out[..., k] = weight[input[..., k]] . h[...].

    The same as `(embedding(input, weight) @ h.unsqueeze(-1)).squeeze(-1)`, fused: the
    scores of skip-gram's true and noise words, or any "score K candidate rows" step.

    Args:
        input: integer ids of shape (..., K), in [0, num_embeddings).
        weight: (num_embeddings, dim) table.
        h: (..., dim) vectors, one per leading index of `input`.
        sparse: give a leaf `weight` a row-sparse gradient (`RowSparseGrad`, coalesced).

    Returns:
        (..., K) scores.
    """
    idx = _lookup_indices("embedding_dot", input, weight)
    check_float("embedding_dot", weight)
    h = to_tensor(h, weight, "embedding_dot")
    d = weight.data.shape[1]
    if h.device != weight.device:
        raise RuntimeError(f"embedding_dot: h is on {h.device} but weight is on {weight.device}")
    if h.dtype != weight.dtype:
        raise TypeError(f"embedding_dot: h {describe(h)} and weight {describe(weight)} must have the same dtype")
    if idx.ndim < 1 or h.data.shape != idx.shape[:-1] + (d,):
        raise ValueError(f"embedding_dot: input of shape {tuple(idx.shape)} and h {describe(h)} do not fit weight "
                         f"{describe(weight)}: expected input (..., K) and h (..., {d}) with the same leading dims")
    return EmbeddingDot.apply(weight, h, idx=idx, sparse=bool(sparse))


def dropout(x, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1/(1-p) (identity when not training).

    `inplace=True` writes the result into x (torch's signature; recorded in the graph on a non-leaf,
    refused on a leaf that requires grad, as every in-place op).
    """
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"dropout: p must be a number in [0, 1], got {type(p).__name__} {p!r}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x.mul_(0.0) if inplace else x * 0.0
    check_float("dropout", x)
    if inplace:
        return x._write_in_place("dropout_", lambda t: Dropout.apply(t, p=float(p)))
    return Dropout.apply(x, p=float(p))


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):  # noqa: A002
    """Normalise over the last len(normalized_shape) dims to zero mean and unit variance, then scale and shift.

    y = (x - mean) / sqrt(var + eps) * weight + bias, with the biased variance (as torch).

    Args:
        input: tensor of shape (*, *normalized_shape).
        normalized_shape: int or tuple: the trailing shape that is normalised.
        weight, bias: optional tensors of shape normalized_shape.
        eps: added to the variance for numerical stability.
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('layer_norm', layer_norm, input=input, normalized_shape=normalized_shape, weight=weight,
                        bias=bias, eps=eps)
    check_float("layer_norm", input)
    shape = (int(normalized_shape),) if isinstance(normalized_shape, numbers.Integral) else tuple(
        int(s) for s in normalized_shape)
    k = len(shape)
    if k == 0 or input.data.ndim < k or tuple(input.data.shape[input.data.ndim - k:]) != shape:
        raise ValueError(f"layer_norm: input {describe(input)} must end with normalized_shape {list(shape)}")
    if not eps > 0:
        raise ValueError(f"layer_norm: eps must be positive, got {eps}")
    affine = []
    for name, p in (("weight", weight), ("bias", bias)):
        if p is None:
            continue
        if tuple(p.data.shape) != shape:
            raise ValueError(f"layer_norm: {name} must have shape {list(shape)}, got {describe(p)}")
        check_pair("layer_norm", input, p)
        if p.data.dtype != input.data.dtype:
            raise TypeError(f"layer_norm: {name} {describe(p)} and input {describe(input)} must have the same dtype")
        affine.append(p)
    return LayerNorm.apply(input, *affine, k=k, eps=float(eps), has_weight=weight is not None,
                           has_bias=bias is not None)
