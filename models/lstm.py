"""Long short-term memory: `lstm_cell` (one step from primitive ops), `LSTMCell`, and the layer `LSTM`.

    i  = sigmoid(W_ii x + b_ii + W_hi h + b_hi)     input gate
    f  = sigmoid(W_if x + b_if + W_hf h + b_hf)     forget gate
    g  = tanh   (W_ig x + b_ig + W_hg h + b_hg)     candidate cell values
    o  = sigmoid(W_io x + b_io + W_ho h + b_ho)     output gate
    c' = f * c + i * g
    h' = o * tanh(c')

The cell state c is updated additively, so its gradient through time is a product
of forget gates f rather than of squashing Jacobians: with f near 1 it survives many
steps (Hochreiter & Schmidhuber, 1997; the forget gate: Gers et al., 2000).
The four gates' weights are stacked in the order i, f, g, o (torch's layout):
weight_ih (4H, I) = [W_ii; W_if; W_ig; W_io], weight_hh (4H, H) likewise.

An LSTM with projections (Sak et al., 2014; torch's proj_size = P > 0) keeps the cell
state H wide but projects what it outputs and feeds back down to P features:

    h' = W_hr (o * tanh(c'))        W_hr (P, H); weight_hh is then (4H, P)
"""
from __future__ import annotations

import numbers

from minigrad import functional as F

from ._layer import RecurrentCell, RecurrentLayer, _check_size, recurrent_ops

__all__ = ["lstm_cell", "LSTMCell", "LSTM"]


def lstm_cell(x, h, c, weight_ih, weight_hh, bias_ih=None, bias_hh=None, weight_hr=None):
    """One LSTM step: c' = f*c + i*g, h' = o*tanh(c') (times W_hr if given), gates i, f, g, o in that order.

    Args:
        x: (B, I) input; h: (B, H) state, or (B, P) with a projection; c: (B, H) cell state;
        weights (4H, I), (4H, H or P); biases (4H,) or None.
        weight_hr: None, or the projection (P, H): then h' = W_hr (o * tanh(c')), (B, P).

    Returns:
        (h', c'): h' (B, H) or (B, P), c' (B, H).
    """
    gates = F.linear(x, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)  # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=-1)
    i, f, g, o = F.sigmoid(i), F.sigmoid(f), F.tanh(g), F.sigmoid(o)
    c = f * c + i * g
    h = o * F.tanh(c)
    if weight_hr is not None:
        h = F.linear(h, weight_hr)  # (B, H) @ W_hr^T -> (B, P): what is output and fed back
    return h, c


class LSTMCell(RecurrentCell):
    """One LSTM step as a Module: c' = f*c + i*g, h' = o*tanh(c') (see the module docstring).

    Args:
        input_size: features of x (I); hidden_size: features of h and c (H).
        bias: learn b_ih and b_hh.

    Parameters (torch's names, shapes and gate order i, f, g, o): weight_ih (4H, I),
    weight_hh (4H, H), bias_ih (4H,), bias_hh (4H,), all from U(-1/sqrt(H), 1/sqrt(H)).

    Call as `cell(x, (h, c))` with x (B, I) or unbatched (I,); the state (or either of
    h, c) may be None for zeros. Returns (h', c').
    """

    _num_gates = 4
    _num_states = 2

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, device=device, dtype=dtype)

    def forward(self, x, hx=None):
        if hx is None:
            hx = (None, None)
        elif not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"LSTMCell: the state must be a tuple (h, c) or None, got {type(hx).__name__}")
        x, (h, c), batched = self._prepare(x, tuple(hx))
        h, c = lstm_cell(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class LSTM(RecurrentLayer):
    """A stacked, optionally bidirectional LSTM over a (padded) sequence batch, torch's API.

    Per layer and direction, at each step t: the gates i, f, g, o from x_t and h_{t-1},
    c_t = f * c_{t-1} + i * g, h_t = o * tanh(c_t); layer k > 0 reads the previous layer's
    output (both directions concatenated), with dropout between layers in training mode.
    With proj_size = P > 0 (torch's LSTM with projections), h_t = W_hr (o * tanh(c_t)) is P wide:
    the output, the recurrent input and the next layer's input all use the projected h.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional: as torch.nn.LSTM.
        proj_size: 0 (default, no projection) or P in [1, hidden_size): project h to P features,
            as torch.nn.LSTM(proj_size=P). ValueError otherwise, with torch's messages.
        fused: True runs one fused op per layer and direction (`minigrad.ops.recurrent.lstm_sequence`,
            hand-written BPTT; with proj_size > 0 `lstm_proj_sequence`, a plainer kernel without the GPU
            step kernels); False loops `lstm_cell` over time (the readable reference). Same results.

    Parameters: `weight_ih_l{k}` (4H, I or D*R), `weight_hh_l{k}` (4H, R), `bias_ih_l{k}`, `bias_hh_l{k}`
    (4H,), and with proj_size > 0 `weight_hr_l{k}` (P, H) after the biases, plus `..._reverse` when
    bidirectional, in torch's order and gate layout (R = proj_size if > 0 else hidden_size), so torch
    state dicts load as they are. All are drawn from U(-1/sqrt(H), 1/sqrt(H)).

    Call `lstm(x, hx=None, lengths=None)` -> (output, (h_n, c_n)) with hx = (h_0, c_0) or None;
    output (T, B, D*R), h_0 and h_n (L*D, B, R), c_0 and c_n (L*D, B, H);
    see `RecurrentLayer.forward` for shapes and `lengths`. x may be a PackedSequence
    (`minigrad.nn.utils.rnn.pack_padded_sequence`): output is then packed the same way and
    h_n, c_n are in the original batch order, as torch.nn.LSTM.

    Truncated BPTT over a long sequence, chunk by chunk::

        state = None
        for chunk in chunks:
            out, state = lstm(chunk, state)          # continue where the last chunk ended
            loss = ...; loss.backward(); opt.step()
            state = models.detach_state(state)       # keep values, cut the graph
    """

    _num_gates = 4
    _num_states = 2

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, *, fused=True, device=None, dtype=None):
        # torch's 8th argument; its checks and messages (negative, then not below hidden_size).
        if isinstance(proj_size, bool) or not isinstance(proj_size, numbers.Integral):
            raise TypeError(f"LSTM: proj_size must be an int, got {type(proj_size).__name__} {proj_size!r}")
        if proj_size < 0:
            raise ValueError(f"LSTM: proj_size should be a positive integer or zero to disable projections, "
                             f"got proj_size={proj_size}")
        hidden_size = _check_size("LSTM", "hidden_size", hidden_size)
        if proj_size >= hidden_size:
            raise ValueError(f"LSTM: proj_size has to be smaller than hidden_size, got proj_size={proj_size} "
                             f"and hidden_size={hidden_size}")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size=int(proj_size), fused=fused, device=device, dtype=dtype)

    def _cell_step(self, x_t, state, weights):
        return lstm_cell(x_t, state[0], state[1], *weights)  # weights: w_ih, w_hh, b_ih, b_hh(, w_hr)

    def _fused_sequence(self, x, state, weights, lengths, reverse):
        if self.proj_size > 0:  # its own op, so the tuned proj_size=0 kernel stays as it is
            w_ih, w_hh, b_ih, b_hh, w_hr = weights
            out, h_n, c_n = recurrent_ops().lstm_proj_sequence(x, state[0], state[1], w_ih, w_hh, w_hr, b_ih, b_hh,
                                                               lengths=lengths, reverse=reverse)
        else:
            out, h_n, c_n = recurrent_ops().lstm_sequence(x, state[0], state[1], *weights, lengths=lengths,
                                                          reverse=reverse)
        return out, (h_n, c_n)
