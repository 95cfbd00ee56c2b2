"""Neural-network primitives: softmax, log_softmax, cross-entropy, NLL, BCE-with-logits, embedding, dropout.

The numerically sensitive ones are single ops with their own backward (not
compositions), so they never form exp(x) on its own and stay finite for large
logits.
"""
from __future__ import annotations

import numbers

from .. import backend as _B
from ..autograd import Function
from ..tensor import Tensor, _wrap
from .activation import stable_sigmoid, stable_softplus
from .common import check_float, check_pair, describe, normalize_axis, to_tensor
from ..sparse import RowSparseGrad

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
            y = e / e.sum(axis=dim, keepdims=True)
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
        y = _log_softmax(get_xp(x), x, dim)
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
    """loss_n = -log softmax(x_n)[t_n] (0 where t_n == ignore_index);  dx_n = softmax(x_n) - onehot(t_n)

    With label smoothing e the target distribution is (1 - e) onehot + e / C.
    """

    @staticmethod
    def forward(ctx, logits, target, ignore_index, label_smoothing):
        xp = get_xp(logits)
        C = logits.shape[-1]
        logp = _log_softmax(xp, logits, -1)
        valid = target != ignore_index
        safe_t = xp.where(valid, target, 0)
        nll = -xp.take_along_axis(logp, safe_t[..., None], axis=-1)[..., 0]
        if label_smoothing:
            nll = (1 - label_smoothing) * nll - label_smoothing * logp.mean(axis=-1)
        # where, not `* valid`: an ignored position (padding) may hold -inf/NaN logits, and NaN * 0 is NaN
        loss = xp.where(valid, nll, 0).astype(nll.dtype, copy=False)
        ctx.save_for_backward(logp, safe_t, valid)
        ctx.C, ctx.eps = C, label_smoothing
        return loss

    @staticmethod
    def backward(ctx, g):
        logp, safe_t, valid = ctx.saved
        xp = get_xp(g)
        target_dist = _one_hot(xp, safe_t, ctx.C, g.dtype)
        if ctx.eps:
            target_dist = (1 - ctx.eps) * target_dist + ctx.eps / ctx.C
        gx = xp.where(valid[..., None], (xp.exp(logp) - target_dist) * g[..., None], 0).astype(g.dtype, copy=False)
        return gx, None


class NLLLoss(Function):
    """loss_n = -logp_n[t_n] (0 where t_n == ignore_index);  dlogp_n = -onehot(t_n)"""

    @staticmethod
    def forward(ctx, logp, target, ignore_index):
        xp = get_xp(logp)
        valid = target != ignore_index
        safe_t = xp.where(valid, target, 0)
        ctx.save_for_backward(safe_t, valid)
        ctx.C = logp.shape[-1]
        picked = -xp.take_along_axis(logp, safe_t[..., None], axis=-1)[..., 0]
        return xp.where(valid, picked, 0).astype(logp.dtype, copy=False)  # ignored entries: exactly 0

    @staticmethod
    def backward(ctx, g):
        safe_t, valid = ctx.saved
        xp = get_xp(g)
        return -_one_hot(xp, safe_t, ctx.C, g.dtype) * (g * valid)[..., None], None


class BCEWithLogits(Function):
    """loss = softplus(x) - x*y = max(x,0) - x*y + log(1 + e^-|x|);  dx = sigmoid(x) - y, dy = -x"""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return stable_softplus(get_xp(x), x) - x * y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved
        gx = g * (stable_sigmoid(get_xp(x), x) - y) if ctx.needs_input_grad[0] else None
        gy = -g * x if ctx.needs_input_grad[1] else None
        return gx, gy


class Embedding(Function):
    """y = W[idx];  dW = zeros with dy rows added at idx (repeats accumulate; padding_idx row stays 0)

    With sparse=True and a leaf W, dW is a `RowSparseGrad` holding only the rows idx
    (O(len(idx) * dim) instead of O(num_embeddings * dim)); a non-leaf W gets the dense dW.
    """

    @staticmethod
    def forward(ctx, w, idx, padding_idx, sparse=False):
        ctx.save_for_backward(idx)
        ctx.shape, ctx.padding_idx, ctx.sparse = w.shape, padding_idx, sparse
        return get_xp(w).take(w, idx, axis=0)  # = w[idx], about 2x faster in NumPy

    @staticmethod
    def backward(ctx, g):
        (idx,) = ctx.saved
        xp = get_xp(g)
        rows, grads = idx.reshape(-1), g.reshape(-1, ctx.shape[1])
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


def _check_target(op, scores, target, ignore_index):
    if not isinstance(target, Tensor):
        # class indices: Python data must not adopt the scores' float dtype (as to_tensor would)
        target = _wrap(_B.as_array(target, device=scores.device))
    if target.data.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices, got {describe(target)}")
    if scores.data.ndim == 0:
        raise ValueError(f"{op}: input must have a class dimension (last), got a 0-d tensor")
    if target.data.shape != scores.data.shape[:-1]:
        raise ValueError(f"{op}: the class dimension is last: input (..., C) = {describe(scores)} needs target of "
                         f"shape {tuple(scores.data.shape[:-1])}, got {describe(target)}")
    if target.device != scores.device:
        raise RuntimeError(f"{op}: input is on {scores.device} but target is on {target.device}")
    C = scores.data.shape[-1]
    if C == 0:
        raise ValueError(f"{op}: the class dimension (last) of input {describe(scores)} is empty; "
                         "need at least one class")
    t = target.data
    if t.size:
        xp = get_xp(t)
        bad = (t != ignore_index) & ((t < 0) | (t >= C))
        if bool(bad.any()):
            first = int(t[bad].reshape(-1)[0])
            raise IndexError(f"{op}: target value {first} is out of range for {C} classes "
                             f"(expected 0..{C - 1} or ignore_index={ignore_index})")
        del xp
    return target


def _reduce(op, loss, reduction, count=None):
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
        return loss.sum() / max(count, 1)
    raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def cross_entropy(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):  # noqa: A002
    """Softmax cross-entropy with the class dimension LAST.

    Args:
        input: logits of shape (..., C): e.g. (batch, C) or (batch, time, C) for sequences.
            Note torch puts the classes in dim 1; minigrad puts them last so sequence
            logits need no transpose.
        target: integer class indices of shape (...) (input's shape without the last dim).
        ignore_index: targets equal to it (e.g. padding) contribute 0 loss and 0 gradient.
        reduction: 'mean' (over non-ignored targets; 0 when all are ignored), 'sum' or 'none'.
        label_smoothing: e in [0, 1): the target becomes (1 - e) one-hot + e / C.
    """
    check_float("cross_entropy", input)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1), got {label_smoothing}")
    target = _check_target("cross_entropy", input, target, ignore_index)
    loss = CrossEntropy.apply(input, target, ignore_index=ignore_index, label_smoothing=float(label_smoothing))
    count = None
    if reduction == "mean":
        count = int((target.data != ignore_index).sum())
    return _reduce("cross_entropy", loss, reduction, count)


def nll_loss(input, target, ignore_index=-100, reduction="mean"):  # noqa: A002
    """Negative log-likelihood of log-probabilities `input` (..., C) at integer `target` (...); class dim last."""
    check_float("nll_loss", input)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"nll_loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    target = _check_target("nll_loss", input, target, ignore_index)
    loss = NLLLoss.apply(input, target, ignore_index=ignore_index)
    count = int((target.data != ignore_index).sum()) if reduction == "mean" else None
    return _reduce("nll_loss", loss, reduction, count)


def mse_loss(input, target, reduction="mean"):  # noqa: A002
    """Mean squared error: mean((input - target)^2) (composed from primitives)."""
    check_float("mse_loss", input)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"mse_loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    target = to_tensor(target, input, "mse_loss")
    if input.data.shape != target.data.shape:
        raise ValueError(f"mse_loss: input {describe(input)} and target {describe(target)} must have the same shape")
    d = input - target
    return _reduce("mse_loss", d * d, reduction)


def binary_cross_entropy_with_logits(input, target, reduction="mean"):  # noqa: A002
    """-[y log s(x) + (1-y) log(1-s(x))] from logits x, computed without forming s(x)."""
    check_float("binary_cross_entropy_with_logits", input)
    target = to_tensor(target, input, "binary_cross_entropy_with_logits")
    if input.data.shape != target.data.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: input {describe(input)} and target {describe(target)} "
                         "must have the same shape")
    input, target = check_pair("binary_cross_entropy_with_logits", input, target)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"binary_cross_entropy_with_logits: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return _reduce("binary_cross_entropy_with_logits", BCEWithLogits.apply(input, target), reduction)


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
    return _wrap((data[..., None] == xp.arange(num_classes)).astype(xp.int64))


def embedding(input, weight, padding_idx=None, *, sparse=False):  # noqa: A002
    """Rows of `weight` (num_embeddings, dim) picked by integer `input` of any shape -> (*input.shape, dim).

    Args:
        padding_idx: this row gets no gradient (e.g. the PAD token).
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
    return Embedding.apply(weight, idx=idx, padding_idx=padding_idx, sparse=bool(sparse))


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


def dropout(x, p=0.5, training=True):
    """Zero each element with probability p and scale the rest by 1/(1-p) (identity when not training)."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"dropout: p must be a number in [0, 1], got {type(p).__name__} {p!r}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    check_float("dropout", x)
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
