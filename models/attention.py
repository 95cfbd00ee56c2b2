"""Attention over a sequence of encoder outputs: Luong's `dot` and `general`, Bahdanau's `additive`.

A decoder state (the *query* q) looks at every encoder output (the *keys* k_j,
which are also the *values* v_j here) and takes a weighted average of them, the
*context*:

    score_j = score(q, k_j)                      one number per source position j
    a       = softmax(score)                     weights, sum_j a_j = 1
    context = sum_j a_j v_j

The three classic score functions:

    dot       score(q, k) = q . k                     (Luong et al. 2015; q and k the same size)
    general   score(q, k) = q . (W k)                 (Luong et al. 2015; a learned bilinear form)
    additive  score(q, k) = v . tanh(W_q q + W_k k)   (Bahdanau et al. 2015; a one-hidden-layer MLP)

Padding: a batch of sources of different lengths is right-padded to one length S.
The padded positions are not part of the input, so they must get *exactly* zero
weight. We replace their scores by a huge negative finite number before the
softmax; exp(huge negative - max) underflows to exactly 0.0, so their weight is 0,
and the gradient that reaches a padded score or a padded key/value is exactly 0
too (see tests/test_attention.py). A finite fill (rather than -inf) keeps
`detect_anomaly` quiet and can never produce inf - inf = NaN.

All of this is composed from public minigrad ops (matmul, where, softmax, tanh):
no backward is written here.
"""
from __future__ import annotations

import math

import minigrad as mg
from minigrad import backend as _B
from minigrad import functional as F
from minigrad.nn import Linear, Module, Parameter
from minigrad.nn import init as nn_init
from minigrad.ops.attention import masked_score

np = _B.np  # dtype constants only

__all__ = ["Attention", "DotAttention", "GeneralAttention", "AdditiveAttention", "make_attention",
           "ATTENTION_METHODS", "masked_fill_value"]


# The score given to masked positions (half the most negative finite value of the dtype, so
# `fill - max(scores)` inside softmax cannot overflow to -inf): the one F.scaled_dot_product_attention uses.
masked_fill_value = masked_score


def _describe(t) -> str:
    return f"{t.dtype}{list(t.shape)} on {t.device}"


class Attention(Module):
    """Base class: masking, softmax and the weighted sum; subclasses define the score.

    Call as ``context, weights = attn(query, keys, values=None, mask=None)``.

    Args (of the call):
        query: (B, Hq) for one decoder step, or (B, T, Hq) for T steps at once.
        keys: (B, S, Hk) encoder outputs.
        values: (B, S, Hv), default `keys`.
        mask: (B, S) bool, True at real tokens and False at padding; None: nothing masked.
            Every row needs at least one True.
        projected_keys: optional result of `project_keys(keys)`, to reuse across decoder
            steps (general and additive transform the keys once per source, not per step).

    Returns:
        context (B, Hv) or (B, T, Hv), and weights (B, S) or (B, T, S) (rows sum to 1,
        exactly 0 at masked positions).
    """

    method = "base"

    def __init__(self, query_size: int, key_size: int):
        super().__init__()
        for name, v in (("query_size", query_size), ("key_size", key_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{type(self).__name__}: {name} must be a positive int, got {v!r}")
        self.query_size = query_size
        self.key_size = key_size

    # ------------------------------------------------------------ subclass hooks
    def project_keys(self, keys):
        """The part of the score that depends on the keys only (computed once per source)."""
        return keys

    def score(self, query, projected_keys):
        """(B, T, Hq) queries and projected keys -> (B, T, S) scores."""
        raise NotImplementedError  # pragma: no cover - abstract

    # ------------------------------------------------------------ checks
    def _check(self, query, keys, values, mask):
        name = type(self).__name__
        for what, t in (("query", query), ("keys", keys), ("values", values)):
            if not isinstance(t, mg.Tensor):
                raise TypeError(f"{name}: {what} must be a minigrad Tensor, got {type(t).__name__}")
        if keys.ndim != 3 or keys.shape[-1] != self.key_size:
            raise ValueError(f"{name}: keys must have shape (batch, src_len, {self.key_size}), got {_describe(keys)}")
        B, S = keys.shape[0], keys.shape[1]
        if query.ndim not in (2, 3) or query.shape[0] != B or query.shape[-1] != self.query_size:
            raise ValueError(f"{name}: query must have shape ({B}, {self.query_size}) or ({B}, T, {self.query_size}) "
                             f"for keys {_describe(keys)}, got {_describe(query)}")
        if values.ndim != 3 or values.shape[:2] != (B, S):
            raise ValueError(f"{name}: values must have shape ({B}, {S}, Hv) like keys {_describe(keys)}, "
                             f"got {_describe(values)}")
        if mask is not None:
            if not isinstance(mask, mg.Tensor):
                raise TypeError(f"{name}: mask must be a bool minigrad Tensor, got {type(mask).__name__}")
            if mask.dtype != np.bool_ or tuple(mask.shape) != (B, S):
                raise ValueError(f"{name}: mask must be a bool tensor of shape ({B}, {S}) (True = real token), "
                                 f"got {_describe(mask)}")
            if mask.device != keys.device:
                raise RuntimeError(f"{name}: mask is on {mask.device} but keys are on {keys.device}")
            if not _rows_nonempty(mask):
                raise ValueError(f"{name}: every sequence needs at least one unmasked position "
                                 "(a source of length 0 has nothing to attend to)")

    # ------------------------------------------------------------ forward
    def forward(self, query, keys, values=None, mask=None, projected_keys=None):
        values = keys if values is None else values
        self._check(query, keys, values, mask)
        single = query.ndim == 2
        q = query.unsqueeze(1) if single else query  # (B, T, Hq)
        pk = self.project_keys(keys) if projected_keys is None else projected_keys
        scores = self.score(q, pk)  # (B, T, S)
        if mask is not None:
            # Padding gets a huge negative score -> exp underflows to exactly 0 weight.
            scores = F.where(mask.unsqueeze(1), scores, masked_fill_value(scores.dtype))
        weights = F.softmax(scores, dim=-1)  # (B, T, S)
        context = weights @ values  # (B, T, S) @ (B, S, Hv) -> (B, T, Hv)
        if single:
            return context.squeeze(1), weights.squeeze(1)
        return context, weights

    def extra_repr(self):
        return f"query_size={self.query_size}, key_size={self.key_size}"


def _rows_nonempty(mask) -> bool:
    """True when every row of the (B, S) bool mask has a True (checked on the host)."""
    return bool(mask.numpy().any(axis=1).all())


class DotAttention(Attention):
    """Luong's dot score: score(q, k) = q . k (no parameters; query and key sizes must match)."""

    method = "dot"

    def __init__(self, query_size: int, key_size: int | None = None):
        key_size = query_size if key_size is None else key_size
        super().__init__(query_size, key_size)
        if key_size != query_size:
            raise ValueError(f"DotAttention: the dot score needs query_size == key_size, got {query_size} and "
                             f"{key_size} (e.g. a bidirectional encoder's 2H outputs vs an H decoder); "
                             "use 'general' or 'additive' attention instead")

    def score(self, query, projected_keys):
        return query @ projected_keys.transpose(1, 2)  # (B, T, H) @ (B, H, S)


class GeneralAttention(Attention):
    """Luong's general score: score(q, k) = q . (W k), W of shape (query_size, key_size).

    W k is the same for every decoder step, so `project_keys` computes it once per source.
    """

    method = "general"

    def __init__(self, query_size: int, key_size: int | None = None, *, device=None, dtype=None):
        key_size = query_size if key_size is None else key_size
        super().__init__(query_size, key_size)
        self.W = Linear(key_size, query_size, bias=False, device=device, dtype=dtype)

    def project_keys(self, keys):
        return self.W(keys)  # (B, S, Hq)

    def score(self, query, projected_keys):
        return query @ projected_keys.transpose(1, 2)


class AdditiveAttention(Attention):
    """Bahdanau's additive (MLP) score: score(q, k) = v . tanh(W_q q + W_k k + b).

    Args:
        query_size, key_size: feature sizes of q and k.
        attn_size: width of the hidden layer (default query_size).
    """

    method = "additive"

    def __init__(self, query_size: int, key_size: int | None = None, attn_size: int | None = None, *,
                 device=None, dtype=None):
        key_size = query_size if key_size is None else key_size
        super().__init__(query_size, key_size)
        attn_size = query_size if attn_size is None else attn_size
        if isinstance(attn_size, bool) or not isinstance(attn_size, int) or attn_size < 1:
            raise ValueError(f"AdditiveAttention: attn_size must be a positive int, got {attn_size!r}")
        self.attn_size = attn_size
        self.W_q = Linear(query_size, attn_size, bias=False, device=device, dtype=dtype)
        self.W_k = Linear(key_size, attn_size, bias=True, device=device, dtype=dtype)
        self.v = Parameter(mg.zeros(attn_size, dtype=dtype, device=device))
        bound = 1.0 / math.sqrt(attn_size)
        nn_init.uniform_(self.v, -bound, bound)

    def project_keys(self, keys):
        return self.W_k(keys)  # (B, S, A)

    def score(self, query, projected_keys):
        # (B, T, 1, A) + (B, 1, S, A) -> (B, T, S, A): every query against every key.
        hidden = F.tanh(self.W_q(query).unsqueeze(2) + projected_keys.unsqueeze(1))
        return hidden @ self.v  # (B, T, S, A) @ (A,) -> (B, T, S)

    def extra_repr(self):
        return super().extra_repr() + f", attn_size={self.attn_size}"


ATTENTION_METHODS = {"dot": DotAttention, "general": GeneralAttention, "additive": AdditiveAttention}


def make_attention(method: str, query_size: int, key_size: int | None = None, **kwargs) -> Attention:
    """An attention module by name: 'dot', 'general' or 'additive'."""
    if method not in ATTENTION_METHODS:
        raise ValueError(f"attention: method must be one of {sorted(ATTENTION_METHODS)}, got {method!r}")
    return ATTENTION_METHODS[method](query_size, key_size, **kwargs)
