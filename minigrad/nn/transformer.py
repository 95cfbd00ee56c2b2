"""The Transformer (Vaswani et al., 2017) with torch.nn's API: encoder/decoder layers and stacks.

Composed from nn.MultiheadAttention, nn.Linear, nn.LayerNorm and nn.Dropout (no backward here).
With SA = self-attention, CA = attention from the decoder to the encoder's output (the memory)
and FF(x) = linear2(dropout(activation(linear1(x)))):

    encoder layer, post-norm (norm_first=False, the paper's):  x = norm1(x + SA(x));  x = norm2(x + FF(x))
    encoder layer, pre-norm  (norm_first=True):                x = x + SA(norm1(x)); x = x + FF(norm2(x))
    decoder layer: the same with a third block, x = norm2(x + CA(x, memory)) (or x + CA(norm2(x), memory))
    between them, and norm3 on the feed-forward block.

Each sub-block's output goes through its own dropout (dropout1/2/3) before the residual sum.
Parameter names and shapes are torch's (self_attn.in_proj_weight, linear1.weight, norm1.weight,
layers.0...., encoder.norm.weight, ...), so `load_state_dict(torch_model.state_dict())` works.

Masks follow torch's conventions: a bool mask is True where attention is **not allowed**; a float mask
is added to the scores (-inf = not allowed). A query whose keys are all masked attends to nothing
(its attention output is out_proj's bias), as torch's autograd path does. `is_causal` arguments are
hints only: the mask you pass is what is used (torch may replace a mask hinted causal by its own).
"""
from __future__ import annotations

import copy
import numbers

from .. import backend as _B
from .. import functional as F
from ..factory import full
from ..ops.common import describe
from ..tensor import Tensor
from . import init
from .attention import MultiheadAttention
from .layers import GELU, Dropout, LayerNorm, Linear, ModuleList, ReLU, _check_positive_int
from .module import Module

np = _B.np  # dtype constants only

__all__ = ["Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
           "TransformerDecoderLayer"]


def _activation(layer: str, activation):
    """'relu' / 'gelu' -> F.relu / F.gelu (torch's strings); a callable (function or Module) is kept."""
    if isinstance(activation, str):
        if activation == "relu":
            return F.relu
        if activation == "gelu":
            return F.gelu
        raise RuntimeError(f"{layer}: activation should be relu/gelu, not {activation}")
    if not callable(activation):
        raise TypeError(f"{layer}: activation must be 'relu', 'gelu' or a callable, got {type(activation).__name__}")
    return activation


def _check_dropout(layer: str, p):
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{layer}: dropout must be a probability in [0, 1], got {p!r}")
    return float(p)


def _check_features(layer: str, d_model: int, **inputs):
    """Each input's last dim is d_model (else the first sub-layer to meet it, e.g. norm1, would name itself)."""
    for name, x in inputs.items():
        if isinstance(x, Tensor) and x.data.ndim and x.data.shape[-1] != d_model:
            raise ValueError(f"{layer}: {name} must have d_model = {d_model} features in its last dim, "
                             f"got {describe(x)}")


def _check_masks(layer: str, **masks):
    """Each mask None or a bool / float Tensor (torch: 'only bool and floating types ... are supported')."""
    for name, m in masks.items():
        if m is None:
            continue
        if not isinstance(m, Tensor):
            raise TypeError(f"{layer}: {name} must be a Tensor or None, got {type(m).__name__}")
        if m.dtype != np.bool_ and m.dtype.kind != "f":
            raise TypeError(f"{layer}: only bool and floating types of {name} are supported, got {describe(m)}")


def _get_clones(layer: str, module: Module, n) -> ModuleList:
    """n deep copies of `module` (each with its own parameters, as torch's _get_clones)."""
    n = _check_positive_int(layer, "num_layers", n)
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


class TransformerEncoderLayer(Module):
    """One encoder layer: self-attention then a feed-forward network, each with a residual and a LayerNorm.

    Args:
        d_model: E, the features of every token (input and output).
        nhead: attention heads (E must be divisible by nhead).
        dim_feedforward: hidden size of the feed-forward network (default 2048).
        dropout: dropout on the attention weights and on each block's output (default 0.1).
        activation: F.relu (default), 'relu', 'gelu' or a callable (a function or a Module).
        layer_norm_eps: eps of the LayerNorms.
        batch_first: inputs are (N, S, E) instead of (S, N, E).
        norm_first: pre-norm (LayerNorm before each block) instead of post-norm (after each residual sum).
        bias: biases in the Linear layers, the attention projections and the LayerNorms.
        device, dtype: where and in what float type to create the parameters.

    Call as ``layer(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``:
        src (S, N, E) (or (N, S, E) with batch_first, or unbatched (S, E));
        src_mask (S, S) or (N * nhead, S, S); src_key_padding_mask (N, S) (or (S,) unbatched);
        bool (True = not allowed) or float (added). is_causal: a hint that src_mask is the causal
        mask (the mask is still required, as in torch). Returns a tensor shaped like src.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation=F.relu, layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        _check_positive_int(name, "dim_feedforward", dim_feedforward)
        dropout = _check_dropout(name, dropout)
        kw = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        activation = _activation(name, activation)
        # torch's flag for its fused inference path (1 relu, 2 gelu, 0 other); kept for code that reads it
        if activation is F.relu or isinstance(activation, ReLU):
            self.activation_relu_or_gelu = 1
        elif activation is F.gelu or isinstance(activation, GELU):
            self.activation_relu_or_gelu = 2
        else:
            self.activation_relu_or_gelu = 0
        self.activation = activation

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False):
        _check_features(type(self).__name__, self.linear1.in_features, src=src)
        _check_masks(type(self).__name__, src_mask=src_mask, src_key_padding_mask=src_key_padding_mask)
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal=False):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=bool(is_causal))[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout2(x)


class TransformerDecoderLayer(Module):
    """One decoder layer: self-attention, attention to the memory (the encoder's output), feed-forward.

    Each block has a residual connection and a LayerNorm (norm1, norm2, norm3), after the sum
    (post-norm) or, with norm_first=True, before the block.

    Args: as TransformerEncoderLayer (d_model, nhead, dim_feedforward=2048, dropout=0.1,
        activation=F.relu, layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True,
        device, dtype).

    Call as ``layer(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)``:
        tgt (T, N, E), memory (S, N, E) (batch first, or unbatched, as the encoder layer);
        tgt_mask (T, T), memory_mask (T, S) (or with N * nhead in front); tgt_key_padding_mask (N, T),
        memory_key_padding_mask (N, S). Returns a tensor shaped like tgt.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation=F.relu, layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        _check_positive_int(name, "dim_feedforward", dim_feedforward)
        dropout = _check_dropout(name, dropout)
        kw = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=batch_first, bias=bias,
                                            **kw)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=batch_first,
                                                 bias=bias, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation(name, activation)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal: bool = False, memory_is_causal: bool = False):
        _check_features(type(self).__name__, self.linear1.in_features, tgt=tgt, memory=memory)
        _check_masks(type(self).__name__, tgt_mask=tgt_mask, memory_mask=memory_mask,
                     tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask)
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal=False):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           is_causal=bool(is_causal), need_weights=False)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal=False):
        # queries from the decoder, keys and values from the encoder's output
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                is_causal=bool(is_causal), need_weights=False)[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout3(x)


class TransformerEncoder(Module):
    """A stack of num_layers copies of `encoder_layer` (each with its own parameters), then `norm`.

    Args:
        encoder_layer: the layer to copy (deep copies: the stack never shares parameters with it).
        num_layers: how many layers (>= 1).
        norm: an optional module applied to the last layer's output (e.g. a LayerNorm, as
            nn.Transformer uses; needed after pre-norm layers).
        enable_nested_tensor, mask_check: torch's switches for its nested-tensor inference path;
            accepted and ignored (minigrad has no nested tensors, so padded positions keep their
            computed values where torch's fast path would write zeros).

    Call as ``encoder(src, mask=None, src_key_padding_mask=None, is_causal=None)`` (shapes as
    TransformerEncoderLayer); every layer gets the same masks.
    """

    def __init__(self, encoder_layer: Module, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True):
        super().__init__()
        if not isinstance(encoder_layer, Module):
            raise TypeError(f"TransformerEncoder: encoder_layer must be a Module, got {type(encoder_layer).__name__}")
        if norm is not None and not isinstance(norm, Module):
            raise TypeError(f"TransformerEncoder: norm must be a Module or None, got {type(norm).__name__}")
        self.layers = _get_clones("TransformerEncoder", encoder_layer, num_layers)
        self.num_layers = int(num_layers)
        self.norm = norm
        self.enable_nested_tensor = bool(enable_nested_tensor)
        self.use_nested_tensor = False  # (torch's flag: never, here)
        self.mask_check = bool(mask_check)

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        _check_masks("TransformerEncoder", mask=mask, src_key_padding_mask=src_key_padding_mask)
        output = src
        for mod in self.layers:
            output = mod(output, src_mask=mask, is_causal=bool(is_causal), src_key_padding_mask=src_key_padding_mask)
        if self.norm is not None:
            output = self.norm(output)
        return output


class TransformerDecoder(Module):
    """A stack of num_layers copies of `decoder_layer` (each with its own parameters), then `norm`.

    Args:
        decoder_layer: the layer to copy (deep copies).
        num_layers: how many layers (>= 1).
        norm: an optional module applied to the last layer's output.

    Call as ``decoder(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False)`` (shapes as
    TransformerDecoderLayer); every layer attends to the same memory.
    """

    def __init__(self, decoder_layer: Module, num_layers: int, norm: Module | None = None):
        super().__init__()
        if not isinstance(decoder_layer, Module):
            raise TypeError(f"TransformerDecoder: decoder_layer must be a Module, got {type(decoder_layer).__name__}")
        if norm is not None and not isinstance(norm, Module):
            raise TypeError(f"TransformerDecoder: norm must be a Module or None, got {type(norm).__name__}")
        self.layers = _get_clones("TransformerDecoder", decoder_layer, num_layers)
        self.num_layers = int(num_layers)
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal: bool = False):
        output = tgt
        for mod in self.layers:
            output = mod(output, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                         tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                         tgt_is_causal=bool(tgt_is_causal), memory_is_causal=bool(memory_is_causal))
        if self.norm is not None:
            output = self.norm(output)
        return output


class Transformer(Module):
    """The encoder-decoder Transformer: encoder(src) is the memory the decoder(tgt) attends to.

    Args:
        d_model: E (default 512); nhead: heads (default 8).
        num_encoder_layers, num_decoder_layers: depth of each stack (default 6).
        dim_feedforward, dropout, activation, layer_norm_eps, batch_first, norm_first, bias:
            passed to every layer (see TransformerEncoderLayer); each stack ends with a
            LayerNorm(d_model) (`encoder.norm`, `decoder.norm`).
        custom_encoder, custom_decoder: modules used instead of the default stacks.
        device, dtype: where and in what float type to create the parameters.

    Every parameter with more than one dim is then re-initialised with xavier_uniform_ (torch's init).
    No embeddings and no output projection: inputs and outputs are E-dim vectors.

    Call as ``model(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
    tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
    memory_is_causal=False)``: src (S, N, E), tgt (T, N, E) (or batch first, or unbatched);
    returns (T, N, E). For autoregressive decoding pass
    ``tgt_mask=Transformer.generate_square_subsequent_mask(T)``.
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6, num_decoder_layers: int = 6,
                 dim_feedforward: int = 2048, dropout: float = 0.1, activation=F.relu, custom_encoder=None,
                 custom_decoder=None, layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        layer_args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first, norm_first,
                      bias)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(TransformerEncoderLayer(*layer_args, **kw), num_encoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(TransformerDecoderLayer(*layer_args, **kw), num_decoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        self._reset_parameters()
        self.d_model = int(d_model)
        self.nhead = int(nhead)
        self.batch_first = bool(batch_first)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal: bool = False):
        for what, t in (("src", src), ("tgt", tgt)):
            if not isinstance(t, Tensor):
                raise TypeError(f"Transformer: {what} must be a Tensor, got {type(t).__name__}")
        batch_dim = 0 if self.batch_first else 1
        if src.ndim == 3 and (tgt.ndim != 3 or src.shape[batch_dim] != tgt.shape[batch_dim]):
            raise RuntimeError(f"Transformer: the batch number of src and tgt must be equal, got src {describe(src)} "
                               f"and tgt {describe(tgt)} (batch_first={self.batch_first})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError(f"Transformer: the feature number of src and tgt must be equal to d_model "
                               f"({self.d_model}), got src {describe(src)} and tgt {describe(tgt)}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal,
                            memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
        """The causal mask (sz, sz): 0.0 on and below the diagonal, -inf above (query i sees keys j <= i).

        A float tensor of `dtype` (default: the default float dtype) on `device`, as torch's.
        """
        if isinstance(sz, bool) or not isinstance(sz, numbers.Integral) or sz < 0:
            raise ValueError(f"generate_square_subsequent_mask: sz must be an int >= 0, got {sz!r}")
        return full((int(sz), int(sz)), float("-inf"), dtype=dtype, device=device).triu(1)

    def _reset_parameters(self):
        """xavier_uniform_ on every parameter with more than one dim (torch's Transformer init)."""
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)
