"""nn.MultiheadAttention (torch's parameters, shapes and masks), composed from ops: no backward here.

For each of H heads, with d = E / H features per head:

    Q = query W_q^T + b_q,  K = key W_k^T + b_k,  V = value W_v^T + b_v      (one projection each)
    head_h = softmax(Q_h K_h^T / sqrt(d) + mask) V_h                         (Q_h: head h's d columns)
    output = [head_1 | ... | head_H] W_o^T + b_o

Every head looks at the same tokens through its own d-dimensional slice of the
projections, so different heads can attend to different positions.
"""
from __future__ import annotations

import math
import numbers

from .. import amp as _amp
from .. import backend as _B
from .. import functional as F
from ..factory import empty, zeros
from ..ops.attention import attention_weights
from ..ops.common import describe
from ..tensor import Tensor
from . import init
from .layers import Linear, _check_positive_int
from .module import Module, Parameter

np = _B.np  # dtype constants only

__all__ = ["MultiheadAttention", "multi_head_attention_forward"]


class MultiheadAttention(Module):
    """Multi-head attention (Vaswani et al., 2017) with torch.nn.MultiheadAttention's API and parameter names.

    Args:
        embed_dim: E, the model size (the query's features, and the output's).
        num_heads: H; E must be divisible by H.
        dropout: dropout on the attention weights in training mode (default 0).
        bias: biases in the input and output projections (default True).
        add_bias_kv: append a learned key and value (bias_k, bias_v) to every sequence.
        add_zero_attn: append an all-zero key and value (after the projections) to every sequence.
        kdim, vdim: feature sizes of key and value (default E); if either differs from E
            the projections are three separate weights (q/k/v_proj_weight), else one
            stacked in_proj_weight of shape (3E, E).
        batch_first: inputs and outputs are (N, L, E) instead of (L, N, E).
        device, dtype: where and in what float type to create the parameters.

    Call as ``output, weights = mha(query, key, value, key_padding_mask=None, need_weights=True,
    attn_mask=None, average_attn_weights=True, is_causal=False)``:
        query (L, N, E), key (S, N, kdim), value (S, N, vdim) (or batch first, or unbatched (L, E)...).
        key_padding_mask: (N, S) (or (S,) unbatched); bool True = **ignore this key** (padding),
            or float, added to the scores.
        attn_mask: (L, S) or (N * H, L, S); bool True = **not allowed**, or float, added.
        is_causal: a hint that attn_mask is the causal mask (torch requires the mask with it).
        Returns the output (L, N, E) and, if need_weights, the weights (N, L, S) averaged over
        heads (or (N, H, L, S) with average_attn_weights=False); None otherwise. A query whose
        keys are all masked gets NaN with need_weights=True and weight 0 (output = out_proj's bias)
        with need_weights=False, both as torch 2.13 (the latter is its F.scaled_dot_product_attention path).

    The mask conventions are torch's: note that `F.scaled_dot_product_attention`'s bool
    mask means the opposite (True = may attend).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device=None, dtype=None):
        super().__init__()
        name = "MultiheadAttention"
        for what, v in (("embed_dim", embed_dim), ("num_heads", num_heads)):
            _check_positive_int(name, what, v)
        if embed_dim % num_heads:
            raise ValueError(f"{name}: embed_dim must be divisible by num_heads, got {embed_dim} and {num_heads}")
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{name}: dropout must be a probability in [0, 1], got {dropout!r}")
        self.embed_dim, self.num_heads = int(embed_dim), int(num_heads)
        self.head_dim = self.embed_dim // self.num_heads
        self.kdim = self.embed_dim if kdim is None else int(kdim)
        self.vdim = self.embed_dim if vdim is None else int(vdim)
        self._qkv_same_embed_dim = self.kdim == self.embed_dim and self.vdim == self.embed_dim
        self.dropout, self.batch_first, self.add_zero_attn = float(dropout), bool(batch_first), bool(add_zero_attn)
        E = self.embed_dim
        kw = dict(dtype=dtype, device=device)
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(empty(3 * E, E, **kw))
            for n in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(n, None)
        else:
            self.q_proj_weight = Parameter(empty(E, E, **kw))
            self.k_proj_weight = Parameter(empty(E, self.kdim, **kw))
            self.v_proj_weight = Parameter(empty(E, self.vdim, **kw))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(empty(3 * E, **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(E, E, bias=bias, **kw)
        if add_bias_kv:
            self.bias_k = Parameter(empty(1, 1, E, **kw))
            self.bias_v = Parameter(empty(1, 1, E, **kw))
        else:
            self.bias_k = self.bias_v = None
        self._reset_parameters()

    def _reset_parameters(self):
        """torch's init: xavier_uniform_ projections, zero biases, xavier_normal_ bias_k / bias_v."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    # ------------------------------------------------------------ checks
    def _check(self, query, key, value, key_padding_mask, attn_mask):
        return _check_inputs("MultiheadAttention", query, key, value, key_padding_mask, attn_mask, self.embed_dim,
                             self.kdim, self.vdim, self.num_heads, self.batch_first, self.out_proj.weight.dtype)

    # ------------------------------------------------------------ forward
    def _projections(self):
        """(W_q, W_k, W_v), (b_q, b_k, b_v): slices of the stacked parameters (their gradients flow back)."""
        E = self.embed_dim
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            ws = (w[:E], w[E:2 * E], w[2 * E:])
        else:
            ws = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        b = self.in_proj_bias
        bs = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        return ws, bs

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        if is_causal and attn_mask is None:
            raise RuntimeError("MultiheadAttention: is_causal=True is a hint that attn_mask is the causal mask; "
                               "pass the mask too (as torch requires)")
        batched = self._check(query, key, value, key_padding_mask, attn_mask)
        if not batched:  # one sequence: a batch of one, squeezed again at the end
            query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        out, weights = _attend(query, key, value, self.num_heads, *self._projections(), self.bias_k, self.bias_v,
                               self.add_zero_attn, self.dropout, self.training, self.out_proj.weight,
                               self.out_proj.bias, key_padding_mask, attn_mask, need_weights, average_attn_weights)
        if self.batch_first and batched:
            out = out.transpose(0, 1)
        if not batched:
            out = out.squeeze(1)
            weights = None if weights is None else weights.squeeze(0)
        return out, weights

    def extra_repr(self):
        extra = "" if self._qkv_same_embed_dim else f", kdim={self.kdim}, vdim={self.vdim}"
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, "
                f"batch_first={self.batch_first}{extra}")


def multi_head_attention_forward(query, key, value, embed_dim_to_check: int, num_heads: int, in_proj_weight,
                                 in_proj_bias, bias_k, bias_v, add_zero_attn: bool, dropout_p: float, out_proj_weight,
                                 out_proj_bias, training: bool = True, key_padding_mask=None, need_weights: bool = True,
                                 attn_mask=None, use_separate_proj_weight: bool = False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None, static_v=None,
                                 average_attn_weights: bool = True, is_causal: bool = False):
    """torch.nn.functional.multi_head_attention_forward: nn.MultiheadAttention's computation, parameters passed in.

    Args (torch's): query (L, N, E), key (S, N, kdim), value (S, N, vdim), sequence first (or
        unbatched (L, E), ...); embed_dim_to_check: E; num_heads: H; in_proj_weight (3E, E) (or
        use_separate_proj_weight=True with q/k/v_proj_weight (E, E|kdim|vdim)); in_proj_bias (3E,) or
        None; bias_k, bias_v (1, 1, E) or None; add_zero_attn; dropout_p (on the weights, when
        training); out_proj_weight (E, E), out_proj_bias (E,) or None; masks, need_weights,
        average_attn_weights and is_causal as nn.MultiheadAttention. static_k / static_v (precomputed
        projected keys and values) are not supported.

    Returns:
        (output (L, N, E), weights (N, L, S) / (N, H, L, S), or None without need_weights).
    """
    name = "multi_head_attention_forward"
    if static_k is not None or static_v is not None:
        raise NotImplementedError(f"{name}: static_k / static_v are not supported by minigrad")
    if is_causal and attn_mask is None:
        raise RuntimeError(f"{name}: is_causal=True is a hint that attn_mask is the causal mask; pass the mask too "
                           "(as torch requires)")
    E, H = _check_positive_int(name, "embed_dim_to_check", embed_dim_to_check), num_heads
    _check_positive_int(name, "num_heads", H)
    if E % H:
        raise ValueError(f"{name}: embed_dim {E} must be divisible by num_heads {H}")
    if use_separate_proj_weight:
        ws = (q_proj_weight, k_proj_weight, v_proj_weight)
        if any(not isinstance(w, Tensor) or w.ndim != 2 or w.shape[0] != E for w in ws):
            raise ValueError(f"{name}: use_separate_proj_weight=True needs q/k/v_proj_weight Tensors of shape "
                             f"({E}, E|kdim|vdim), got {[describe(w) if isinstance(w, Tensor) else w for w in ws]}")
    else:
        if not isinstance(in_proj_weight, Tensor) or tuple(in_proj_weight.shape) != (3 * E, E):
            raise ValueError(f"{name}: in_proj_weight must be a ({3 * E}, {E}) Tensor, got "
                             f"{describe(in_proj_weight) if isinstance(in_proj_weight, Tensor) else in_proj_weight}")
        ws = (in_proj_weight[:E], in_proj_weight[E:2 * E], in_proj_weight[2 * E:])
    if in_proj_bias is not None and tuple(in_proj_bias.shape) != (3 * E,):
        raise ValueError(f"{name}: in_proj_bias must have shape ({3 * E},), got {describe(in_proj_bias)}")
    bs = (None,) * 3 if in_proj_bias is None else (in_proj_bias[:E], in_proj_bias[E:2 * E], in_proj_bias[2 * E:])
    if (bias_k is None) != (bias_v is None):
        raise ValueError(f"{name}: give both bias_k and bias_v, or neither")
    batched = _check_inputs(name, query, key, value, key_padding_mask, attn_mask, E, ws[1].shape[1],
                            ws[2].shape[1], H, False, query.dtype if isinstance(query, Tensor) else None)
    if not batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    out, weights = _attend(query, key, value, H, ws, bs, bias_k, bias_v, add_zero_attn, dropout_p, training,
                           out_proj_weight, out_proj_bias, key_padding_mask, attn_mask, need_weights,
                           average_attn_weights)
    if not batched:
        out = out.squeeze(1)
        weights = None if weights is None else weights.squeeze(0)
    return out, weights


def _check_inputs(name, query, key, value, key_padding_mask, attn_mask, embed_dim, kdim, vdim, num_heads,
                  batch_first, dtype):
    """Types, dtypes, shapes and masks of an attention call (torch's rules); returns whether it is batched."""
    for what, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: {what} must be a Tensor, got {type(t).__name__}")
    for what, t in (("query", query), ("key", key), ("value", value)):
        if t.dtype != dtype and not _amp.region:  # (otherwise the projection's linear reports it, naming no module;
            # inside autocast the projections cast float16 and float32 alike, as torch's)
            raise TypeError(f"{name}: {what} {describe(t)} must have the parameters' dtype {dtype}, got "
                            f"{t.dtype}; convert the input (e.g. .float()) or the module (.to(dtype=...))")
    batched = query.ndim == 3
    if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
        raise ValueError(f"{name}: query, key and value must all be 3-D (batched) or all 2-D (unbatched), got "
                         f"{describe(query)}, {describe(key)}, {describe(value)}")
    for what, t, size in (("query", query, embed_dim), ("key", key, kdim), ("value", value, vdim)):
        if t.shape[-1] != size:
            raise ValueError(f"{name}: {what} must have {size} features in its last dim, got {describe(t)}")
    if key.shape[:-1] != value.shape[:-1]:
        raise ValueError(f"{name}: key {describe(key)} and value {describe(value)} must have the same "
                         "length and batch")
    seq_dim = 1 if (batched and batch_first) else 0
    if batched and query.shape[1 - seq_dim] != key.shape[1 - seq_dim]:
        raise ValueError(f"{name}: query {describe(query)} and key {describe(key)} have different batch sizes"
                         f" (batch_first={batch_first})")
    N = query.shape[1 - seq_dim] if batched else None
    L, S = query.shape[seq_dim], key.shape[seq_dim]
    for what, m, shapes in (("key_padding_mask", key_padding_mask, [(N, S)] if batched else [(S,)]),
                            ("attn_mask", attn_mask, [(L, S), ((N if batched else 1) * num_heads, L, S)])):
        if m is None:
            continue
        if not isinstance(m, Tensor):
            raise TypeError(f"{name}: {what} must be a Tensor, got {type(m).__name__}")
        if m.dtype != np.bool_ and m.dtype.kind != "f":
            raise TypeError(f"{name}: {what} must be bool or floating point, got {describe(m)}")
        if tuple(m.shape) not in shapes:
            raise ValueError(f"{name}: {what} must have shape " + " or ".join(str(s) for s in shapes)
                             + f", got {describe(m)}")
        if m.device != query.device:
            raise RuntimeError(f"{name}: {what} is on {m.device} but the query is on {query.device}")
    return batched


def _attend(query, key, value, H, ws, bs, bias_k, bias_v, add_zero_attn, dropout_p, training, out_w, out_b,
            key_padding_mask, attn_mask, need_weights, average_attn_weights):
    """The computation itself, on checked batched inputs: query (L, N, E), key and value (S, N, kdim|vdim).

    Returns the output (L, N, E) and the weights (N, L, S) / (N, H, L, S), or None without need_weights.
    """
    L, N, E = query.shape
    d = E // H
    (wq, wk, wv), (bq, bk, bv) = ws, bs
    q, k, v = F.linear(query, wq, bq), F.linear(key, wk, bk), F.linear(value, wv, bv)  # (L|S, N, E)
    allowed, additive = _masks(attn_mask, key_padding_mask, N, H, query.dtype)
    if bias_k is not None:  # one more learned key/value at the end of every sequence
        k = F.cat([k, bias_k.expand(1, N, E)], dim=0)
        v = F.cat([v, bias_v.expand(1, N, E)], dim=0)
        allowed, additive = _extend(allowed, additive)

    def heads(t):  # (S, N, E) -> (N, H, S, d)
        return t.reshape(t.shape[0], N, H, d).permute(1, 2, 0, 3)

    q, k, v = heads(q), heads(k), heads(v)
    if add_zero_attn:  # one more all-zero key/value (after the projections)
        k = F.cat([k, zeros(N, H, 1, d, dtype=k.dtype, device=k.device)], dim=2)
        v = F.cat([v, zeros(N, H, 1, d, dtype=v.dtype, device=v.device)], dim=2)
        allowed, additive = _extend(allowed, additive)
    scores = (q * float(1.0 / math.sqrt(d))) @ k.transpose(-2, -1)  # (N, H, L, S)
    # a query with no allowed key: NaN when the weights are returned, zeros when not (torch 2.13 then
    # takes its scaled_dot_product_attention path, whose empty rows are zeros: the output is out_proj's bias)
    empty_rows = float("nan") if need_weights else 0.0
    weights = attention_weights(scores, allowed, additive, float(dropout_p), training, empty_rows=empty_rows)
    out = (weights @ v).permute(2, 0, 1, 3).reshape(L, N, E)  # heads side by side again
    out = F.linear(out, out_w, out_b)  # (out_proj's parameters, as torch: its hooks do not run)
    if not need_weights:
        return out, None
    return out, (weights.mean(dim=1) if average_attn_weights else weights)  # (N, L, S) or (N, H, L, S)


def _masks(attn_mask, key_padding_mask, N, H, dtype):
    """torch's two masks as (allowed, additive), each None or a tensor broadcastable to (N, H, L, S)."""
    allowed = additive = None

    def add(mask, shape):
        nonlocal allowed, additive
        mask = mask.reshape(shape)
        if mask.dtype == np.bool_:  # torch: True = masked
            ok = ~mask
            allowed = ok if allowed is None else allowed & ok
        else:
            mask = mask if mask.dtype == dtype else mask.to(dtype)
            additive = mask if additive is None else additive + mask

    if attn_mask is not None:
        L, S = attn_mask.shape[-2:]
        add(attn_mask, (1, 1, L, S) if attn_mask.ndim == 2 else (N, H, L, S))
    if key_padding_mask is not None:
        add(key_padding_mask, (N, 1, 1, key_padding_mask.shape[-1]))
    return allowed, additive


def _extend(allowed, additive):
    """The masks for one more key at the end (allowed, adding 0), as torch pads them."""
    if allowed is not None:
        allowed = F.pad(allowed, (0, 1), value=True)
    if additive is not None:
        additive = F.pad(additive, (0, 1), value=0.0)
    return allowed, additive
