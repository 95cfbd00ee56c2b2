"""The Elman RNN: `rnn_cell` (one step from primitive ops), `RNNCell`, and the layer `RNN`.

    h' = tanh(W_ih x + b_ih + W_hh h + b_hh)        (or relu instead of tanh)

The simplest recurrence: the new state is a squashed sum of the input and the old
state. Its gradient through time is a product of T Jacobians diag(1 - h'^2) W_hh,
which vanishes (or explodes) geometrically -- why it cannot learn long-range
dependencies that the LSTM and GRU can (see tests/test_models_long_range.py).
"""
from __future__ import annotations

from minigrad import functional as F

from ._layer import RecurrentCell, RecurrentLayer, recurrent_ops

__all__ = ["rnn_cell", "RNNCell", "RNN"]

_NONLINEARITIES = ("tanh", "relu")


def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    """One RNN step: h' = act(W_ih x + b_ih + W_hh h + b_hh), act = tanh or relu.

    Args:
        x: (B, I) input; h: (B, H) state; weights (H, I), (H, H); biases (H,) or None.

    Returns:
        h': (B, H).
    """
    pre = F.linear(x, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)
    return F.tanh(pre) if nonlinearity == "tanh" else F.relu(pre)


def _check_nonlinearity(owner, nonlinearity):
    if nonlinearity not in _NONLINEARITIES:
        raise ValueError(f"{owner}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return nonlinearity


class RNNCell(RecurrentCell):
    """One Elman RNN step as a Module: h' = tanh(W_ih x + b_ih + W_hh h + b_hh).

    Args:
        input_size: features of x (I); hidden_size: features of h (H).
        bias: learn b_ih and b_hh.
        nonlinearity: "tanh" (default) or "relu".

    Parameters (torch's names and shapes): weight_ih (H, I), weight_hh (H, H),
    bias_ih (H,), bias_hh (H,), all initialised from U(-1/sqrt(H), 1/sqrt(H)).

    Call as `cell(x, h=None)` with x (B, I) or unbatched (I,), h (B, H) / (H,)
    (None: zeros); returns h'.
    """

    _num_gates = 1

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, device=device, dtype=dtype)
        self.nonlinearity = _check_nonlinearity("RNNCell", nonlinearity)

    def forward(self, x, hx=None):
        x, (h,), batched = self._prepare(x, (hx,))
        h = rnn_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.nonlinearity)
        return h if batched else h.squeeze(0)

    def extra_repr(self):
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + f", nonlinearity={self.nonlinearity!r}"


class RNN(RecurrentLayer):
    """A stacked, optionally bidirectional Elman RNN over a (padded) sequence batch, torch's API.

    Per layer k and direction: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), with x_t the
    input (layer 0) or the previous layer's output (both directions concatenated), dropout
    between layers in training mode.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional: as torch.nn.RNN.
        nonlinearity: "tanh" (default) or "relu"; the 4th positional argument, as in torch.
        fused: True runs one fused op per layer and direction (`minigrad.ops.recurrent.rnn_sequence`,
            hand-written BPTT); False loops `rnn_cell` over time (the readable reference). Same results.

    Parameters: `weight_ih_l{k}` (H, I or D*H), `weight_hh_l{k}` (H, H), `bias_ih_l{k}`, `bias_hh_l{k}` (H,),
    plus `..._reverse` when bidirectional, in torch's order, so torch state dicts load as they are.

    Call `rnn(x, hx=None, lengths=None)` -> (output, h_n); see `RecurrentLayer.forward` for shapes.
    x may be a PackedSequence (`minigrad.nn.utils.rnn.pack_padded_sequence`): output is then packed
    the same way and h_n is in the original batch order, as torch.nn.RNN.

    Truncated BPTT: feed h_n back as hx to continue a long sequence chunk by chunk, and cut the
    graph between chunks with `h = models.detach_state(h)` (values continue, gradients stop).
    """

    _num_gates = 1

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, *, fused=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         fused=fused, device=device, dtype=dtype)
        self.nonlinearity = _check_nonlinearity("RNN", nonlinearity)

    def _cell_step(self, x_t, state, weights):
        return (rnn_cell(x_t, state[0], *weights, nonlinearity=self.nonlinearity),)

    def _fused_sequence(self, x, state, weights, lengths, reverse):
        out, h_n = recurrent_ops().rnn_sequence(x, state[0], *weights, nonlinearity=self.nonlinearity,
                                                lengths=lengths, reverse=reverse)
        return out, (h_n,)

    def extra_repr(self):
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + f", nonlinearity={self.nonlinearity!r}"
