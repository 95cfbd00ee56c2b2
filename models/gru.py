"""Gated recurrent unit: `gru_cell` (one step from primitive ops), `GRUCell`, and the layer `GRU`.

torch's formulation (Cho et al., 2014, as in cuDNN; `reset_after=True`, the default):

    r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)         reset gate
    z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)         update gate
    n  = tanh   (W_in x + b_in + r * (W_hn h + b_hn))   candidate state
    h' = (1 - z) * n + z * h

The classic formulation (`reset_after=False`) resets h *before* the recurrent matrix:

    n  = tanh   (W_in x + b_in + W_hn (r * h) + b_hn)

The gates' weights are stacked in the order r, z, n (torch's layout):
weight_ih (3H, I) = [W_ir; W_iz; W_in], weight_hh (3H, H) = [W_hr; W_hz; W_hn].
"""
from __future__ import annotations

from minigrad import functional as F

from ._layer import RecurrentCell, RecurrentLayer, recurrent_ops

__all__ = ["gru_cell", "GRUCell", "GRU"]


def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, reset_after=True):
    """One GRU step: h' = (1 - z) * n + z * h, gates r, z, n stacked in that order.

    Args:
        x: (B, I) input; h: (B, H) state; weights (3H, I), (3H, H); biases (3H,) or None.
        reset_after: True: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) (torch);
            False: n = tanh(W_in x + b_in + W_hn (r * h) + b_hn) (classic).

    Returns:
        h': (B, H).
    """
    x_r, x_z, x_n = F.linear(x, weight_ih, bias_ih).chunk(3, dim=-1)
    if reset_after:
        h_r, h_z, h_n = F.linear(h, weight_hh, bias_hh).chunk(3, dim=-1)
        r = F.sigmoid(x_r + h_r)
        z = F.sigmoid(x_z + h_z)
        n = F.tanh(x_n + r * h_n)
    else:
        H = h.shape[-1]
        w_rz, w_n = weight_hh[:2 * H], weight_hh[2 * H:]  # W_hn must see r * h, not h
        b_rz, b_n = (None, None) if bias_hh is None else (bias_hh[:2 * H], bias_hh[2 * H:])
        h_r, h_z = F.linear(h, w_rz, b_rz).chunk(2, dim=-1)
        r = F.sigmoid(x_r + h_r)
        z = F.sigmoid(x_z + h_z)
        n = F.tanh(x_n + F.linear(r * h, w_n, b_n))
    return (1.0 - z) * n + z * h


class GRUCell(RecurrentCell):
    """One GRU step as a Module: h' = (1 - z) * n + z * h (see the module docstring).

    Args:
        input_size: features of x (I); hidden_size: features of h (H).
        bias: learn b_ih and b_hh.
        reset_after (keyword-only): True (default): torch's formulation, r multiplies (W_hn h + b_hn);
            False: the classic one, r multiplies h before W_hn (no torch counterpart).

    Parameters (torch's names, shapes and gate order r, z, n): weight_ih (3H, I),
    weight_hh (3H, H), bias_ih (3H,), bias_hh (3H,), all from U(-1/sqrt(H), 1/sqrt(H)).

    Call as `cell(x, h=None)` with x (B, I) or unbatched (I,); returns h'.
    """

    _num_gates = 3

    # torch's positional order (a 4th positional is device, as in torch); reset_after is keyword-only
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None, *, reset_after=True):
        super().__init__(input_size, hidden_size, bias, device=device, dtype=dtype)
        self.reset_after = bool(reset_after)

    def forward(self, x, hx=None):
        x, (h,), batched = self._prepare(x, (hx,))
        h = gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.reset_after)
        return h if batched else h.squeeze(0)

    def extra_repr(self):
        s = super().extra_repr()
        return s if self.reset_after else s + ", reset_after=False"


class GRU(RecurrentLayer):
    """A stacked, optionally bidirectional GRU over a (padded) sequence batch, torch's API.

    Per layer and direction, at each step t: r, z, n from x_t and h_{t-1} as in `gru_cell`,
    h_t = (1 - z) * n + z * h_{t-1}; layer k > 0 reads the previous layer's output (both
    directions concatenated), with dropout between layers in training mode.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional: as torch.nn.GRU.
        reset_after: True (default, torch's formulation) or False (classic; see the module docstring).
        fused: True runs one fused op per layer and direction (`minigrad.ops.recurrent.gru_sequence`,
            hand-written BPTT); False loops `gru_cell` over time (the readable reference). Same results.

    Parameters: `weight_ih_l{k}` (3H, I or D*H), `weight_hh_l{k}` (3H, H), `bias_ih_l{k}`, `bias_hh_l{k}`
    (3H,), plus `..._reverse` when bidirectional, in torch's order and gate layout.

    Call `gru(x, hx=None, lengths=None)` -> (output, h_n); see `RecurrentLayer.forward` for shapes.
    x may be a PackedSequence (`minigrad.nn.utils.rnn.pack_padded_sequence`): output is then packed
    the same way and h_n is in the original batch order, as torch.nn.GRU.

    Truncated BPTT: feed h_n back as hx to continue a long sequence chunk by chunk, and cut the
    graph between chunks with `h = models.detach_state(h)` (values continue, gradients stop).
    """

    _num_gates = 3

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, *, reset_after=True, fused=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         fused=fused, device=device, dtype=dtype)
        self.reset_after = bool(reset_after)

    def _cell_step(self, x_t, state, weights):
        return (gru_cell(x_t, state[0], *weights, reset_after=self.reset_after),)

    def _fused_sequence(self, x, state, weights, lengths, reverse):
        out, h_n = recurrent_ops().gru_sequence(x, state[0], *weights, lengths=lengths, reverse=reverse,
                                                reset_after=self.reset_after)
        return out, (h_n,)

    def extra_repr(self):
        s = super().extra_repr()
        return s if self.reset_after else s + ", reset_after=False"
