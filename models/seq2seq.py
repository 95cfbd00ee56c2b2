"""Sequence-to-sequence: an encoder reads the source, a decoder writes the target one token at a time.

    src "123+34"  --Encoder-->  outputs (one vector per source token) + final state
                                                  |            |
                                       (attention over them)   Bridge: the decoder's initial state
                                                  v            v
    <sos> 1 5 7  --Decoder-->  logits for    1 5 7 <eos>

* `Encoder`: embedding + a recurrent layer (RNN, LSTM or GRU; stacked; optionally
  bidirectional) over a right-padded batch with per-sequence `lengths`.
* `Bridge`: turns the encoder's final state into the decoder's initial state. A
  bidirectional encoder has two final states per layer (forward and backward, each
  H_enc); the default bridge concatenates them and maps the 2*H_enc vector to H_dec
  with a learned linear layer: h0 = tanh(W_h [h_fwd; h_bwd] + b_h) and, for an LSTM,
  c0 = W_c [c_fwd; c_bwd] + b_c (no tanh: the LSTM's cell state is not bounded).
  `bridge="sum"` adds the two directions instead (no parameters; needs H_enc == H_dec).
  A unidirectional encoder of the decoder's size is passed through unchanged.
* `Decoder`: embedding + a unidirectional recurrent layer + (optional) attention +
  output projection. With attention the decoder follows Luong et al. (2015): the
  recurrent output h_t queries the encoder outputs, and the logits come from the
  "attentional state" h~_t = tanh(W_c [context_t; h_t]). Because the recurrence does
  not read the context (no "input feeding"), a whole teacher-forced target runs
  through the recurrent layer in ONE call (the fused kernel), and attention is then one
  batched matmul over all target steps. Any of the three score functions (`dot`,
  `general`, `additive` = Bahdanau's MLP score) plugs into this place.
* `Seq2Seq`: ties them together: `forward` (training, with teacher forcing),
  `greedy_decode` and `beam_search` (batched; stop at <eos>; return attention weights).

Decoding one token at a time runs the decoder's recurrent layer on length-1 inputs
with the state carried from the previous step. Everything is composed from public
minigrad API; no backward is written here.
"""
from __future__ import annotations

import numbers
from typing import NamedTuple

import minigrad as mg
from minigrad import backend as _B
from minigrad import functional as F
from minigrad.nn import Dropout, Embedding, Linear, Module

from .attention import Attention, make_attention
from .gru import GRU
from .lstm import LSTM
from .rnn import RNN

np = _B.np  # host-side bookkeeping only (lengths, beam scores, token histories)

__all__ = ["Encoder", "Decoder", "Bridge", "Seq2Seq", "Memory", "DecodeOutput", "RECURRENT_LAYERS"]

RECURRENT_LAYERS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


def _recurrent_class(owner: str, cell):
    if isinstance(cell, str) and cell.lower() in RECURRENT_LAYERS:
        return RECURRENT_LAYERS[cell.lower()]
    raise ValueError(f"{owner}: cell must be one of {sorted(RECURRENT_LAYERS)}, got {cell!r}")


def _describe(t) -> str:
    return f"{t.dtype}{list(t.shape)} on {t.device}"


def _check_tokens(owner: str, what: str, tokens):
    if not isinstance(tokens, mg.Tensor):
        raise TypeError(f"{owner}: {what} must be a minigrad Tensor of token ids, got {type(tokens).__name__}")
    if tokens.ndim != 2 or tokens.dtype.kind not in "iu":
        raise ValueError(f"{owner}: {what} must be an integer tensor of shape (batch, time), got {_describe(tokens)}")
    if tokens.shape[0] == 0 or tokens.shape[1] == 0:
        raise ValueError(f"{owner}: {what} needs at least one sequence and one time step, got {_describe(tokens)}")


def _host_lengths(owner: str, lengths, B: int, T: int):
    """lengths as a host int64 array of B values in [1, T] (None stays None)."""
    if lengths is None:
        return None
    arr = lengths.numpy() if isinstance(lengths, mg.Tensor) else np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{owner}: src_lengths must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64).reshape(-1)
    if arr.shape != (B,):
        raise ValueError(f"{owner}: src_lengths must have one entry per sequence ({B}), got shape {arr.shape}")
    if arr.min() < 1 or arr.max() > T:
        raise ValueError(f"{owner}: every source length must be in [1, {T}] (the padded length), got {arr.tolist()}")
    return arr


# ---------------------------------------------------------------- encoder
class Encoder(Module):
    """Embedding + recurrent layer over a right-padded batch of token ids.

    Args:
        vocab_size: number of source tokens.
        embed_size: width of the token embeddings.
        hidden_size: hidden size H of the recurrent layer (outputs are D*H wide, D = 2 if bidirectional).
        num_layers: stacked recurrent layers.
        cell: "lstm" (default), "gru" or "rnn".
        bidirectional: read the source in both directions.
        dropout: on the embeddings and between stacked layers (training mode only).
        padding_idx: the padding token (its embedding stays zero).
        fused: use the fused sequence kernels (False: the composed cells, for reference).

    Call `encoder(src, lengths=None)` with src (B, S) ints -> (outputs (B, S, D*H), state), where state
    is h_n (L*D, B, H), or (h_n, c_n) for an LSTM, taken at each sequence's own last token.
    Outputs at padded positions are zero.
    """

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int, num_layers: int = 1, cell: str = "lstm",
                 bidirectional: bool = False, dropout: float = 0.0, padding_idx: int | None = 0, fused: bool = True,
                 device=None, dtype=None):
        super().__init__()
        rnn_cls = _recurrent_class("Encoder", cell)
        self.cell = cell.lower()
        self.embedding = Embedding(vocab_size, embed_size, padding_idx=padding_idx, device=device, dtype=dtype)
        self.dropout = Dropout(dropout)
        # (between-layer dropout exists only with 2+ layers; the layer warns if given it with one)
        self.rnn = rnn_cls(embed_size, hidden_size, num_layers, batch_first=True,
                           dropout=dropout if num_layers > 1 else 0.0,
                           bidirectional=bidirectional, fused=fused, device=device, dtype=dtype)

    @property
    def hidden_size(self) -> int:
        return self.rnn.hidden_size

    @property
    def num_layers(self) -> int:
        return self.rnn.num_layers

    @property
    def bidirectional(self) -> bool:
        return self.rnn.bidirectional

    @property
    def output_size(self) -> int:
        """Width of each encoder output (the attention keys): D * H."""
        return self.rnn.hidden_size * (2 if self.rnn.bidirectional else 1)

    def forward(self, src, lengths=None):
        _check_tokens("Encoder", "src", src)
        x = self.dropout(self.embedding(src))  # (B, S, E)
        return self.rnn(x, lengths=lengths)


# ---------------------------------------------------------------- bridge
class Bridge(Module):
    """Maps the encoder's final state (L*D, B, H_enc) to the decoder's initial state (L, B, H_dec).

    Args:
        num_layers: L (encoder and decoder must have the same number of layers).
        encoder_hidden, decoder_hidden: H_enc and H_dec.
        bidirectional: whether the encoder has two directions (D = 2).
        num_states: 2 for LSTM (h, c), 1 for GRU/RNN.
        mode: "linear": h0 = tanh(W_h [h_fwd; h_bwd] + b_h), c0 = W_c [c_fwd; c_bwd] + b_c (learned);
            "sum": h0 = h_fwd + h_bwd (no parameters, needs H_enc == H_dec);
            "identity": pass through (unidirectional, H_enc == H_dec);
            "auto" (default): "identity" when possible, else "linear".
    """

    def __init__(self, num_layers: int, encoder_hidden: int, decoder_hidden: int, bidirectional: bool,
                 num_states: int, mode: str = "auto", device=None, dtype=None):
        super().__init__()
        D = 2 if bidirectional else 1
        if mode == "auto":
            mode = "identity" if D == 1 and encoder_hidden == decoder_hidden else "linear"
        if mode not in ("linear", "sum", "identity"):
            raise ValueError(f"Bridge: mode must be 'auto', 'linear', 'sum' or 'identity', got {mode!r}")
        if mode == "identity" and (D != 1 or encoder_hidden != decoder_hidden):
            raise ValueError(f"Bridge: 'identity' needs a unidirectional encoder of the decoder's size; got "
                             f"{'bi' if D == 2 else 'uni'}directional H_enc={encoder_hidden}, H_dec={decoder_hidden}")
        if mode == "sum" and encoder_hidden != decoder_hidden:
            raise ValueError(f"Bridge: 'sum' needs H_enc == H_dec, got {encoder_hidden} and {decoder_hidden}")
        self.mode, self.num_layers, self.num_directions, self.num_states = mode, num_layers, D, num_states
        self.encoder_hidden, self.decoder_hidden = encoder_hidden, decoder_hidden
        if mode == "linear":
            self.h_proj = Linear(D * encoder_hidden, decoder_hidden, device=device, dtype=dtype)
            if num_states == 2:
                self.c_proj = Linear(D * encoder_hidden, decoder_hidden, device=device, dtype=dtype)

    def _directions_side_by_side(self, s):
        """(L*D, B, H) in torch's layer-major order -> (L, B, D*H): [forward; backward] per layer."""
        L, D, H = self.num_layers, self.num_directions, self.encoder_hidden
        B = s.shape[1]
        return s.reshape(L, D, B, H).permute(0, 2, 1, 3).reshape(L, B, D * H)

    def forward(self, state):
        states = state if isinstance(state, tuple) else (state,)
        if len(states) != self.num_states:
            raise ValueError(f"Bridge: expected {self.num_states} state tensor(s), got {len(states)}")
        if self.mode == "identity":
            out = states
        elif self.mode == "sum":
            L, D, H = self.num_layers, self.num_directions, self.encoder_hidden
            out = tuple(s.reshape(L, D, s.shape[1], H).sum(dim=1) for s in states)
        else:
            h = F.tanh(self.h_proj(self._directions_side_by_side(states[0])))
            out = (h,) if self.num_states == 1 else (h, self.c_proj(self._directions_side_by_side(states[1])))
        return out if isinstance(state, tuple) else out[0]

    def extra_repr(self):
        return f"mode={self.mode!r}"


# ---------------------------------------------------------------- decoder
class Memory(NamedTuple):
    """What the decoder attends to: the encoder outputs, their padding mask, and the pre-projected keys."""

    outputs: mg.Tensor  # (B, S, H_keys)
    mask: mg.Tensor | None  # (B, S) bool, True at real tokens
    projected_keys: mg.Tensor | None  # attention.project_keys(outputs), computed once per source

    def index(self, idx):
        """The memory of the sequences `idx` (a host int array), e.g. to repeat each source per beam."""
        pick = mg.tensor(idx, dtype=mg.int64, device=self.outputs.device)
        return Memory(self.outputs[pick], None if self.mask is None else self.mask[pick],
                      None if self.projected_keys is None else self.projected_keys[pick])


class Decoder(Module):
    """Embedding + unidirectional recurrent layer (+ attention) + output projection.

    Args:
        vocab_size: number of target tokens (the logits' width).
        embed_size, hidden_size, num_layers, cell, dropout, padding_idx, fused: as in `Encoder`.
        attention: None, "dot", "general" or "additive" (or an `Attention` module).
        encoder_size: width of the encoder outputs (the keys); needed with attention.

    Call `decoder(tokens, state, memory=None)` with tokens (B, T) ints (the previous target tokens,
    starting with <sos>) -> (logits (B, T, V), new state, weights (B, T, S) or None).
    """

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int, num_layers: int = 1, cell: str = "lstm",
                 attention=None, encoder_size: int | None = None, dropout: float = 0.0,
                 padding_idx: int | None = 0, fused: bool = True, device=None, dtype=None):
        super().__init__()
        rnn_cls = _recurrent_class("Decoder", cell)
        self.cell = cell.lower()
        self.vocab_size = vocab_size
        self.embedding = Embedding(vocab_size, embed_size, padding_idx=padding_idx, device=device, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.rnn = rnn_cls(embed_size, hidden_size, num_layers, batch_first=True,
                           dropout=dropout if num_layers > 1 else 0.0, fused=fused, device=device, dtype=dtype)
        if attention is None:
            self.attention = None
            self.combine = None
        else:
            if isinstance(attention, Attention):
                self.attention = attention
                encoder_size = attention.key_size
            else:
                if encoder_size is None:
                    raise ValueError("Decoder: attention needs encoder_size (the width of the encoder outputs)")
                kwargs = {} if attention == "dot" else {"device": device, "dtype": dtype}
                self.attention = make_attention(attention, hidden_size, encoder_size, **kwargs)
            if self.attention.query_size != hidden_size:
                raise ValueError(f"Decoder: the attention's query_size ({self.attention.query_size}) must be the "
                                 f"decoder's hidden_size ({hidden_size})")
            # Luong's attentional state: h~ = tanh(W_c [context; h])
            self.combine = Linear(encoder_size + hidden_size, hidden_size, device=device, dtype=dtype)
        self.out = Linear(hidden_size, vocab_size, device=device, dtype=dtype)

    @property
    def hidden_size(self) -> int:
        return self.rnn.hidden_size

    @property
    def num_layers(self) -> int:
        return self.rnn.num_layers

    def memory(self, encoder_outputs, mask=None) -> Memory:
        """Bundle the encoder outputs for attention, projecting the keys once (not at every step)."""
        pk = None if self.attention is None else self.attention.project_keys(encoder_outputs)
        return Memory(encoder_outputs, mask, pk)

    def forward(self, tokens, state=None, memory: Memory | None = None):
        _check_tokens("Decoder", "tokens", tokens)
        x = self.dropout(self.embedding(tokens))  # (B, T, E)
        out, state = self.rnn(x, state)  # (B, T, H): the whole teacher-forced target in one call
        weights = None
        if self.attention is not None:
            if memory is None:
                raise ValueError("Decoder: this decoder has attention; pass "
                                 "memory=decoder.memory(encoder_outputs, mask)")
            context, weights = self.attention(out, memory.outputs, mask=memory.mask,
                                              projected_keys=memory.projected_keys)
            out = F.tanh(self.combine(F.cat([context, out], dim=-1)))  # (B, T, H)
        return self.out(self.dropout(out)), state, weights


# ---------------------------------------------------------------- results
class DecodeOutput(NamedTuple):
    """What `greedy_decode` and `beam_search` return.

    tokens: (B, T) int64 Tensor of generated ids, each row ending at its <eos> and padded after it
        (a row that never produced <eos> is cut at max_len).
    lengths: list of B ints: tokens before <eos> (the answer's length).
    scores: (B,) float64 Tensor: the total log-probability of each sequence (<eos> included);
        beam search ranks by scores / lp(length) when length_penalty > 0, see `Seq2Seq.beam_search`.
    attention: (B, T, S) Tensor of attention weights per generated token, or None without attention.
    """

    tokens: mg.Tensor
    lengths: list
    scores: mg.Tensor
    attention: mg.Tensor | None


# ---------------------------------------------------------------- the model
class Seq2Seq(Module):
    """An encoder-decoder with optional attention, teacher-forced training and greedy/beam decoding.

    Args:
        encoder: an `Encoder`.
        decoder: a `Decoder` with the encoder's cell type and number of layers.
        sos_idx, eos_idx, pad_idx: the start, end and padding token ids of the target vocabulary.
        bridge: how the encoder's final state initialises the decoder ("auto", "linear", "sum",
            "identity"; see `Bridge`).

    Typical use::

        model = Seq2Seq.build(src_vocab, tgt_vocab, embed_size=32, hidden_size=128, attention="dot",
                              sos_idx=2, eos_idx=3, pad_idx=0)
        logits, _ = model(src, src_lengths, tgt)              # tgt ends in <eos>, padded with pad_idx
        loss = F.cross_entropy(logits, tgt, ignore_index=0)
        out = model.greedy_decode(src, src_lengths, max_len=10)   # out.tokens, out.attention
    """

    def __init__(self, encoder: Encoder, decoder: Decoder, sos_idx: int, eos_idx: int, pad_idx: int = 0,
                 bridge: str = "auto"):
        super().__init__()
        if encoder.cell != decoder.cell:
            raise ValueError(f"Seq2Seq: encoder and decoder must use the same cell type (their states must match), "
                             f"got {encoder.cell!r} and {decoder.cell!r}")
        if encoder.num_layers != decoder.num_layers:
            raise ValueError(f"Seq2Seq: encoder and decoder must have the same num_layers, got "
                             f"{encoder.num_layers} and {decoder.num_layers}")
        if decoder.attention is not None and decoder.attention.key_size != encoder.output_size:
            raise ValueError(f"Seq2Seq: the decoder's attention expects keys of width {decoder.attention.key_size} "
                             f"but the encoder outputs {encoder.output_size} (= D * H)")
        V = decoder.vocab_size
        for name, idx in (("sos_idx", sos_idx), ("eos_idx", eos_idx), ("pad_idx", pad_idx)):
            if isinstance(idx, bool) or not isinstance(idx, numbers.Integral) or not 0 <= idx < V:
                raise ValueError(f"Seq2Seq: {name} must be a token id in [0, {V - 1}], got {idx!r}")
        sos_idx, eos_idx, pad_idx = int(sos_idx), int(eos_idx), int(pad_idx)
        self.encoder = encoder
        self.decoder = decoder
        self.bridge = Bridge(encoder.num_layers, encoder.hidden_size, decoder.hidden_size, encoder.bidirectional,
                             2 if encoder.cell == "lstm" else 1, mode=bridge,
                             device=encoder.embedding.weight.device, dtype=encoder.embedding.weight.dtype)
        self.sos_idx, self.eos_idx, self.pad_idx = sos_idx, eos_idx, pad_idx

    @classmethod
    def build(cls, src_vocab_size: int, tgt_vocab_size: int, embed_size: int, hidden_size: int, *,
              num_layers: int = 1, cell: str = "lstm", bidirectional: bool = False, attention=None,
              dropout: float = 0.0, sos_idx: int, eos_idx: int, pad_idx: int = 0, bridge: str = "auto",
              fused: bool = True, device=None, dtype=None) -> "Seq2Seq":
        """Encoder + Decoder + Seq2Seq in one call (same embed/hidden sizes on both sides)."""
        enc = Encoder(src_vocab_size, embed_size, hidden_size, num_layers, cell, bidirectional, dropout,
                      padding_idx=pad_idx, fused=fused, device=device, dtype=dtype)
        dec = Decoder(tgt_vocab_size, embed_size, hidden_size, num_layers, cell, attention=attention,
                      encoder_size=enc.output_size, dropout=dropout, padding_idx=pad_idx, fused=fused,
                      device=device, dtype=dtype)
        return cls(enc, dec, sos_idx, eos_idx, pad_idx, bridge=bridge)

    # ------------------------------------------------------------ encoding
    def encode(self, src, src_lengths=None):
        """Run the encoder; returns (memory for attention, the decoder's initial state)."""
        _check_tokens("Seq2Seq", "src", src)
        B, S = src.shape
        lengths = _host_lengths("Seq2Seq", src_lengths, B, S)
        outputs, state = self.encoder(src, lengths)
        mask = None
        if lengths is not None and int(lengths.min()) < S:
            mask = mg.tensor(np.arange(S)[None, :] < lengths[:, None], device=src.device)  # True at real tokens
        return self.decoder.memory(outputs, mask), self.bridge(state)

    def _start_tokens(self, B: int, device):
        return mg.full((B, 1), self.sos_idx, dtype=mg.int64, device=device)

    # ------------------------------------------------------------ training
    def forward(self, src, src_lengths, tgt, teacher_forcing_ratio: float = 1.0):
        """Logits for every target position, for a cross-entropy loss against `tgt`.

        Args:
            src: (B, S) source ids, right-padded; src_lengths: B ints (None: all length S).
            tgt: (B, T) target ids ending in <eos>, right-padded with pad_idx (no <sos>).
            teacher_forcing_ratio: probability that the decoder reads the true previous token
                (per example and step) rather than its own prediction. 1.0 (the default) feeds
                the whole true target at once: one recurrent call, the fast path. Lower values
                decode step by step, mixing in the model's argmax predictions, so the model
                practises on its own mistakes (the random choices use minigrad's generator).

        Returns:
            (logits (B, T, V), attention weights (B, T, S) or None).
        """
        _check_tokens("Seq2Seq", "tgt", tgt)
        if not 0.0 <= teacher_forcing_ratio <= 1.0:
            raise ValueError(f"Seq2Seq: teacher_forcing_ratio must be in [0, 1], got {teacher_forcing_ratio}")
        if tgt.shape[0] != src.shape[0]:
            raise ValueError(f"Seq2Seq: src {_describe(src)} and tgt {_describe(tgt)} have different batch sizes")
        memory, state = self.encode(src, src_lengths)
        B, T = tgt.shape
        start = self._start_tokens(B, src.device)
        if teacher_forcing_ratio >= 1.0:
            # The decoder reads <sos> y_1 ... y_{T-1} and predicts y_1 ... y_T (= tgt).
            dec_in = F.cat([start, tgt[:, :-1]], dim=1)
            logits, _, weights = self.decoder(dec_in, state, memory)
            return logits, weights
        logits, weights = [], []
        token = start
        for t in range(T):
            step_logits, state, w = self.decoder(token, state, memory)
            logits.append(step_logits)
            weights.append(w)
            predicted = step_logits.argmax(dim=-1).detach()  # (B, 1): the model's own guess
            use_truth = mg.rand(B, 1, device=src.device) < teacher_forcing_ratio
            token = F.where(use_truth, tgt[:, t:t + 1], predicted)
        return F.cat(logits, dim=1), (None if weights[0] is None else F.cat(weights, dim=1))

    # ------------------------------------------------------------ decoding
    def greedy_decode(self, src, src_lengths=None, max_len: int = 50) -> DecodeOutput:
        """Pick the most likely token at every step, for the whole batch at once, until <eos> or max_len.

        Each step feeds the previous tokens (B, 1) to the decoder with the carried state. A
        sequence that has emitted <eos> keeps running (the batch moves together) but its later
        tokens are replaced by padding and add nothing to its score; the loop ends when every
        sequence has finished or after max_len tokens.
        """
        if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
            raise ValueError(f"greedy_decode: max_len must be an int >= 1, got {max_len!r}")
        with mg.no_grad():
            memory, state = self.encode(src, src_lengths)
            B, device = src.shape[0], src.device
            finished = np.zeros(B, dtype=bool)
            n_tokens = np.zeros(B, dtype=np.int64)  # tokens before <eos>
            scores = np.zeros(B)
            tokens, weights = [], []
            token = self._start_tokens(B, device)
            for _ in range(max_len):
                logits, state, w = self.decoder(token, state, memory)  # (B, 1, V)
                logp = F.log_softmax(logits[:, 0], dim=-1).numpy().astype(np.float64)
                best = logp.argmax(axis=1)
                scores += np.where(finished, 0.0, logp[np.arange(B), best])
                best = np.where(finished, self.pad_idx, best)
                n_tokens += ~finished & (best != self.eos_idx)
                finished |= best == self.eos_idx
                tokens.append(best)
                if w is not None:
                    weights.append(np.where(finished[:, None] & (best != self.eos_idx)[:, None], 0.0,
                                            w[:, 0].numpy()))
                if finished.all():
                    break
                token = mg.tensor(best[:, None], dtype=mg.int64, device=device)
            attention = None
            if weights:
                a = np.stack(weights, axis=1)  # (B, T, S)
                attention = mg.tensor(a.astype(w.dtype), device=device)
            return DecodeOutput(mg.tensor(np.stack(tokens, axis=1), dtype=mg.int64, device=device),
                                [int(n) for n in n_tokens], mg.tensor(scores, dtype=mg.float64, device=device),
                                attention)

    def beam_search(self, src, src_lengths=None, beam_width: int = 4, max_len: int = 50,
                    length_penalty: float = 0.0) -> DecodeOutput:
        """Keep the `beam_width` best partial outputs per source at every step; return the best finished one.

        Batched: the B sources run as B * K decoder rows (K = beam_width). At every step each
        live hypothesis is extended by every token (score = sum of log-probabilities), and per
        source the candidates are sorted by score:

        * a candidate ending in <eos> among the K best is *finished*: it is compared, by its
          length-normalised score score / lp(length), with the best finished hypothesis of its
          source so far and kept if better;
        * the K best candidates not ending in <eos> are the next live hypotheses.

        A source is done when its best finished hypothesis can no longer be beaten: no live
        hypothesis can reach a higher normalised score (scores only decrease as tokens are
        added, so the bound is the best live score divided by lp(max_len)). Decoding ends when
        every source is done or after max_len tokens; a source with no finished hypothesis
        then returns its best live one (cut at max_len).

        lp(length) = ((5 + length) / 6) ** length_penalty is Google NMT's length penalty
        (Wu et al. 2016), with length counting <eos>; length_penalty = 0 (lp = 1) ranks by raw
        log-probability, which favours short outputs. With beam_width = 1 and length_penalty = 0
        this is exactly greedy decoding.

        Args:
            src, src_lengths: the sources as in `forward`.
            beam_width: K >= 1.
            max_len: the most tokens generated per sequence (<eos> included).
            length_penalty: alpha >= 0 above.

        Returns:
            `DecodeOutput` with the best hypothesis per source (`scores` are raw log-probabilities).
        """
        if isinstance(beam_width, bool) or not isinstance(beam_width, int) or beam_width < 1:
            raise ValueError(f"beam_search: beam_width must be an int >= 1, got {beam_width!r}")
        if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
            raise ValueError(f"beam_search: max_len must be an int >= 1, got {max_len!r}")
        if not length_penalty >= 0:
            raise ValueError(f"beam_search: length_penalty must be >= 0, got {length_penalty}")
        K, V, eos = beam_width, self.decoder.vocab_size, self.eos_idx
        alpha = float(length_penalty)
        with mg.no_grad():
            memory, state = self.encode(src, src_lengths)
            B, device = src.shape[0], src.device
            # Row b*K + k of every decoder tensor is live hypothesis k of source b.
            rows = np.repeat(np.arange(B), K)
            if K > 1:
                memory = memory.index(rows)
                state = _index_state(state, rows, device)
            scores = np.full((B, K), -np.inf)
            scores[:, 0] = 0.0  # one live hypothesis at the start (the others would be copies of it)
            history = np.zeros((B, K, 0), dtype=np.int64)  # tokens of the live hypotheses
            attn_history = None  # (B, K, t, S) attention of the live hypotheses, with attention
            # the best finished hypothesis per source: raw score, normalised score, tokens, attention
            best_raw = np.full(B, -np.inf)
            best_norm = np.full(B, -np.inf)
            best_tokens = [None] * B
            best_attn = [None] * B
            done = np.zeros(B, dtype=bool)
            bound_lp = _length_penalty(max_len, alpha)  # no live hypothesis can end longer than max_len
            b_idx = np.arange(B)[:, None]
            token = self._start_tokens(B * K, device)
            for t in range(max_len):
                logits, state, w = self.decoder(token, state, memory)  # (B*K, 1, V)
                logp = F.log_softmax(logits[:, 0], dim=-1).numpy().astype(np.float64).reshape(B, K, V)
                cand = (scores[:, :, None] + logp).reshape(B, K * V)
                # The 2K best candidates per source: at most K of them end in <eos> (one per live
                # hypothesis), so at least K continue. A stable sort keeps the lowest index among
                # ties, as argmax does.
                n_top = min(2 * K, K * V)
                top = np.argsort(-cand, axis=1, kind="stable")[:, :n_top]
                top_scores = np.take_along_axis(cand, top, axis=1)
                origin, new_tok = top // V, top % V
                is_eos = new_tok == eos
                if w is not None:
                    step_attn = w[:, 0].numpy().reshape(B, K, -1)  # (B, K, S)
                # Finished candidates: <eos> among the K best (sorted, so the first one is the best).
                eos_rank = np.where(is_eos[:, :K], np.arange(K)[None, :], K).min(axis=1)
                for b in np.nonzero((eos_rank < K) & ~done)[0]:
                    r = eos_rank[b]
                    norm = top_scores[b, r] / _length_penalty(t + 1, alpha)
                    if norm > best_norm[b]:
                        o = origin[b, r]
                        best_norm[b], best_raw[b] = norm, top_scores[b, r]
                        best_tokens[b] = np.append(history[b, o], eos)
                        if w is not None:
                            prev = attn_history[b, o] if attn_history is not None else step_attn[b, o][None][:0]
                            best_attn[b] = np.concatenate([prev, step_attn[b, o][None]], axis=0)
                # Live: the first K candidates that do not end in <eos>.
                keep = ~is_eos & (np.cumsum(~is_eos, axis=1) <= K)
                sel = np.nonzero(keep)[1].reshape(B, K)
                origin = np.take_along_axis(origin, sel, axis=1)
                new_tok = np.take_along_axis(new_tok, sel, axis=1)
                scores = np.take_along_axis(top_scores, sel, axis=1)
                history = np.concatenate([history[b_idx, origin], new_tok[:, :, None]], axis=2)
                if w is not None:
                    picked = step_attn[b_idx, origin][:, :, None]  # (B, K, 1, S)
                    attn_history = picked if attn_history is None else np.concatenate(
                        [attn_history[b_idx, origin], picked], axis=2)
                # A source is done once no live hypothesis can beat its best finished one.
                bound = scores[:, 0] / bound_lp if alpha else scores[:, 0]
                done |= np.isfinite(best_norm) & (best_norm >= bound)
                if done.all() or t == max_len - 1:
                    break
                flat = (b_idx * K + origin).reshape(-1)
                state = _index_state(state, flat, device)
                token = mg.tensor(new_tok.reshape(B * K, 1), dtype=mg.int64, device=device)
            # Sources that never finished: their best live hypothesis, cut at max_len.
            for b in np.nonzero(~np.isfinite(best_norm))[0]:
                best_raw[b], best_tokens[b] = scores[b, 0], history[b, 0]
                if attn_history is not None:
                    best_attn[b] = attn_history[b, 0]
            lengths = [int(len(tk) - (len(tk) > 0 and tk[-1] == eos)) for tk in best_tokens]
            T_out = max(len(tk) for tk in best_tokens)
            tokens = np.full((B, T_out), self.pad_idx, dtype=np.int64)
            for b, tk in enumerate(best_tokens):
                tokens[b, :len(tk)] = tk
            attention = None
            if attn_history is not None or any(a is not None for a in best_attn):
                S = memory.outputs.shape[1]
                a = np.zeros((B, T_out, S), dtype=np.dtype(memory.outputs.dtype))
                for b, ab in enumerate(best_attn):
                    a[b, :len(ab)] = ab
                attention = mg.tensor(a, device=device)
            return DecodeOutput(mg.tensor(tokens, dtype=mg.int64, device=device), lengths,
                                mg.tensor(best_raw, dtype=mg.float64, device=device), attention)


def _length_penalty(length, alpha: float) -> float:
    """Google NMT's lp(Y) = ((5 + |Y|) / 6) ** alpha; 1 when alpha = 0."""
    return ((5.0 + length) / 6.0) ** alpha if alpha else 1.0


def _index_state(state, idx, device):
    """Reorder the batch dimension (dim 1) of a recurrent state (a tensor or an (h, c) tuple)."""
    pick = mg.tensor(idx, dtype=mg.int64, device=device)
    if isinstance(state, tuple):
        return tuple(s[:, pick] for s in state)
    return state[:, pick]
