"""Scaled dot-product attention (torch.nn.functional.scaled_dot_product_attention), composed from ops.

    weights = softmax(Q K^T * scale + mask)        (..., L, S): one row of weights per query
    output  = weights V                            (..., L, Ev)

No backward is written here: matmul, softmax and where carry their own, so the
gradients reach Q, K, V (and a float mask) through them.

Masking without infinities: a masked score is replaced by a huge negative *finite*
number, whose exp underflows to exactly 0 (so masked keys get weight 0 and gradient
0, as with torch's -inf). A query row with *no* allowed key has nothing to average;
there we do what torch 2.13 does, explicitly and without ever computing inf - inf:
`scaled_dot_product_attention` gives that row weight 0 (an output of zeros), while
`nn.MultiheadAttention` gives NaN. Because no inf is ever produced,
`detect_anomaly()` stays quiet on masked attention (it speaks up for MHA's NaN rows).
"""
from __future__ import annotations

import math
import numbers

from .. import backend as _B
from ..tensor import Tensor
from .common import describe
from .elementwise import where
from .linalg import matmul
from .nn import dropout, softmax
from .shape import repeat_interleave
from .. import amp as _amp

np = _B.np  # dtype constants only

__all__ = ["scaled_dot_product_attention", "attention_weights", "masked_score"]


def masked_score(dtype) -> float:
    """The score given to masked positions: half the most negative finite value of `dtype`.

    Half, so that `fill - max(scores)` inside softmax cannot overflow to -inf; its exp is 0.0.
    """
    return float(np.finfo(dtype).min) / 2


def attention_weights(scores, allowed=None, additive=None, dropout_p=0.0, training=True, empty_rows=0.0,
                      rows_may_be_empty=True):
    """softmax over the last dim of `scores` with masks; returns the (dropped-out) weights.

    Args:
        scores: (..., L, S) float tensor.
        allowed: bool tensor broadcastable to scores, True where a query may attend to a key.
        additive: float tensor broadcastable to scores, added to them; its -inf entries
            count as masked (they are not added, so no inf appears). A NaN entry is added
            (not masked), so it makes its row NaN, as in torch.
        dropout_p, training: dropout on the weights (torch drops them after the softmax).
        empty_rows: the weight of every key in a row that allows none (0.0, or NaN).
        rows_may_be_empty: False when every row of `allowed` is known to allow some key (as in
            a causal mask, whose row i allows key 0), to skip that check.
    """
    # a 0-d mask as (1, 1): comparisons of 0-d arrays give NumPy scalars, which `where` refuses
    if additive is not None and additive.ndim == 0:
        additive = additive.reshape(1, 1)
    if allowed is not None and allowed.ndim == 0:
        allowed = allowed.reshape(1, 1)
    if additive is not None:
        kept = additive != float("-inf")  # (not `> -inf`: that is False for NaN, which would count as masked)
        allowed = kept if allowed is None else allowed & kept
        scores = scores + where(kept, additive, 0.0)
    if allowed is None:
        weights = softmax(scores, dim=-1)
    else:
        weights = softmax(where(allowed, scores, masked_score(scores.dtype)), dim=-1)
        if rows_may_be_empty:  # a row without any allowed key has nothing to average (its softmax would be uniform)
            anything = allowed.any(dim=-1, keepdim=True)
            weights = where(anything, weights, float(empty_rows))
    if dropout_p > 0.0 and training:
        weights = dropout(weights, dropout_p, training=True)
    return weights


def _check_mask(op, name, mask, scores_shape, dtype, device):
    if not isinstance(mask, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor (bool, or float like the query), got {type(mask).__name__}")
    if mask.device != device:
        raise RuntimeError(f"{op}: {name} is on {mask.device} but the query is on {device}")
    if mask.dtype != np.bool_ and mask.dtype != dtype:
        raise TypeError(f"{op}: {name} must be bool or {dtype} like the query, got {describe(mask)}")
    try:
        fits = np.broadcast_shapes(tuple(mask.shape), tuple(scores_shape)) == tuple(scores_shape)
    except ValueError:
        fits = False
    if not fits:  # the mask may repeat along the scores' dims, not add to them (torch refuses that too)
        raise ValueError(f"{op}: {name} {describe(mask)} does not broadcast to the attention scores' shape "
                         f"{tuple(scores_shape)} (..., L, S)")


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """softmax(Q K^T * scale + mask) V over the last two dims, with torch's arguments.

    Args:
        query: (..., L, E); key: (..., S, E); value: (..., S, Ev); the leading dims broadcast.
        attn_mask: bool (True = **may attend**, torch's SDPA convention) or float (added to
            the scores, -inf = masked), broadcastable to (..., L, S).
        dropout_p: dropout probability on the weights (applied whenever > 0, as torch's function).
        is_causal: mask key j > query i (the top-right triangle); not with attn_mask.
        scale: the score scale (default 1 / sqrt(E)).
        enable_gqa: grouped-query attention: query (..., Hq, L, E) and key/value with fewer heads
            (..., Hk, S, E), Hk dividing Hq; each key/value head serves Hq / Hk consecutive query heads.

    Returns:
        (..., L, Ev). A query whose keys are all masked gets zeros (as torch's function).
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('scaled_dot_product_attention', scaled_dot_product_attention, query=query, key=key,
                        value=value, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal, scale=scale,
                        enable_gqa=enable_gqa)
    op = "scaled_dot_product_attention"
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
        if t.ndim < 2:
            raise ValueError(f"{op}: {name} must have at least 2 dims (..., seq, features), got {describe(t)}")
        if t.dtype.kind != "f":
            raise TypeError(f"{op}: {name} must be floating point, got {describe(t)}")
    if key.shape[-1] != query.shape[-1]:
        raise ValueError(f"{op}: query {describe(query)} and key {describe(key)} must have the same feature size E")
    if enable_gqa:  # torch's reference: repeat each key/value head for its group of query heads
        if query.ndim < 3 or key.ndim < 3 or value.ndim < 3:
            raise ValueError(f"{op}: enable_gqa needs heads at dim -3, (..., H, L, E); got query {describe(query)}, "
                             f"key {describe(key)}, value {describe(value)}")
        hq = query.shape[-3]
        if hq % key.shape[-3] or hq % value.shape[-3]:
            raise RuntimeError(f"{op}: with enable_gqa the number of heads in key {describe(key)} and value "
                               f"{describe(value)} (dim -3) must divide the query's ({hq}), {describe(query)}")
        key = repeat_interleave(key, hq // key.shape[-3], dim=-3)
        value = repeat_interleave(value, hq // value.shape[-3], dim=-3)
    if value.shape[-2] != key.shape[-2]:
        raise ValueError(f"{op}: key {describe(key)} and value {describe(value)} must have the same length S")
    if isinstance(dropout_p, bool) or not isinstance(dropout_p, numbers.Real) or not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{op}: dropout_p must be a number in [0, 1], got {dropout_p!r}")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, numbers.Real)):
        raise TypeError(f"{op}: scale must be a number or None, got {scale!r}")
    try:
        np.broadcast_shapes(tuple(query.shape[:-2]), tuple(key.shape[:-2]), tuple(value.shape[:-2]))
    except ValueError:
        raise ValueError(f"{op}: the batch dims of query {describe(query)}, key {describe(key)} and value "
                         f"{describe(value)} (all but the last two) do not broadcast") from None
    L, S, E = query.shape[-2], key.shape[-2], query.shape[-1]
    # scale the queries (L x E) rather than the scores (L x S): the same product, fewer multiplications
    q = query * float(1.0 / math.sqrt(E) if scale is None else scale)
    scores = matmul(q, key.transpose(-2, -1))  # (..., L, S); matmul checks batch dims, dtypes, devices
    allowed = additive = None
    if is_causal:
        if attn_mask is not None:
            raise ValueError(f"{op}: give either attn_mask or is_causal=True, not both")
        xp = _B.get_array_module(scores.data)
        allowed = Tensor(xp.tril(xp.ones((L, S), dtype=bool)))
    elif attn_mask is not None:
        _check_mask(op, "attn_mask", attn_mask, scores.shape, query.dtype, query.device)
        if attn_mask.dtype == np.bool_:
            allowed = attn_mask
        else:
            additive = attn_mask
    weights = attention_weights(scores, allowed, additive, float(dropout_p), True, empty_rows=0.0,
                                rows_may_be_empty=not is_causal)  # causal row i always allows key 0
    return matmul(weights, value)
