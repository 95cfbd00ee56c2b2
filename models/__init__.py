"""Models built from the public minigrad API: recurrent cells and layers (torch's names and layouts).

    import models
    lstm = models.LSTM(input_size=8, hidden_size=16, num_layers=2, bidirectional=True)
    out, (h_n, c_n) = lstm(x, lengths=[5, 3, 2])

Each cell (`RNNCell`, `LSTMCell`, `GRUCell`) is one step written from primitive ops, the
readable version with its equations in the docstring. Each layer (`RNN`, `LSTM`, `GRU`)
stacks layers and directions over a padded batch and runs either the fused sequence ops of
`minigrad.ops.recurrent` (`fused=True`) or the composed cells looped over time (`fused=False`).
`detach_state` cuts a carried state from the graph for truncated BPTT.
"""
from ._layer import detach_state
from .gru import GRU, GRUCell, gru_cell
from .lstm import LSTM, LSTMCell, lstm_cell
from .rnn import RNN, RNNCell, rnn_cell
from .attention import AdditiveAttention, Attention, DotAttention, GeneralAttention, make_attention  # noqa: E402
from .seq2seq import Bridge, Decoder, DecodeOutput, Encoder, Memory, Seq2Seq  # noqa: E402

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU", "rnn_cell", "lstm_cell", "gru_cell",
           "detach_state"]
__all__ += ["Attention", "DotAttention", "GeneralAttention", "AdditiveAttention", "make_attention",
            "Encoder", "Decoder", "Bridge", "Memory", "Seq2Seq", "DecodeOutput"]
from .word2vec import KeyedVectors, Word2Vec  # noqa: E402
__all__ += ["Word2Vec", "KeyedVectors"]
