"""torch.nn.utils.rnn under its torch names: pad_sequence here, packed sequences from rnn_packed.py.

minigrad's recurrent layers take the true lengths directly (`lstm(x, lengths=...)`), which
is what torch computes from a `pack_padded_sequence` input: pad the batch, keep the
lengths, and pass both.

    from minigrad.nn.utils.rnn import pad_sequence
    x = pad_sequence([a, b, c])                 # (T, 3, features), zeros after each end
    out, h_n = gru(x, lengths=[len(a), len(b), len(c)])

torch code that packs works as it is (PackedSequence, pack_padded_sequence, pad_packed_sequence,
pack_sequence, unpack_sequence, unpad_sequence; see rnn_packed.py):

    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    out, h_n = gru(packed)                      # out: a PackedSequence; h_n in the original order
    padded, lengths = pad_packed_sequence(out)
"""
from __future__ import annotations

from ... import backend as _B
from ...data import _pad_sequences
from ...ops import flip
from ...tensor import Tensor

__all__ = ["pad_sequence"]

# torch's packed sequences (PackedSequence, pack_padded_sequence, pad_packed_sequence, ...) live in rnn_packed.py
from .rnn_packed import (  # noqa: E402
    PackedSequence, invert_permutation, pack_padded_sequence, pack_sequence, pad_packed_sequence, unpack_sequence,
    unpad_sequence,
)

__all__ += ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pad_packed_sequence", "pack_sequence",
            "unpad_sequence", "unpack_sequence"]


def pad_sequence(sequences, batch_first: bool = False, padding_value=0.0, padding_side: str = "right") -> Tensor:
    """Stack sequences of shapes (L_i, *features) into one (T, B, *features) tensor (batch_first: (B, T, ...)).

    As torch: T is the longest length, shorter sequences are filled with `padding_value`
    after their end (`padding_side="right"`) or before their start ("left"). Gradients
    flow back to the real positions. `minigrad.data.pad_sequences` does the same and
    also returns the lengths.
    """
    if padding_side not in ("right", "left"):
        raise ValueError(f"pad_sequence: padding_side must be 'right' or 'left', got {padding_side!r}")
    if not (isinstance(sequences, (Tensor, str)) or _B.is_array(sequences)):  # (those are refused below)
        sequences = list(sequences)
    if padding_side == "left" and isinstance(sequences, list):
        # pad the reversed sequences on the right, then reverse the time axis back
        sequences = [flip(s, 0) if isinstance(s, Tensor) else s[::-1] for s in sequences]
    padded, _ = _pad_sequences("pad_sequence", sequences, padding_value, batch_first, None, None)
    if padding_side == "left":
        padded = flip(padded, 1 if batch_first else 0)
    return padded
