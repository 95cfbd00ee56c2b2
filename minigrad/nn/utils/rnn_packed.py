"""torch.nn.utils.rnn's packed sequences: PackedSequence and the functions that pack and unpack.

A *packed* batch stores only the real time steps of B variable-length sequences, time
step by time step, longest sequence first::

    sequences (sorted by length)    a1 a2 a3        packed.data        = [a1 b1 c1 a2 b2 a3]
                                    b1 b2           packed.batch_sizes = [3, 2, 1]
                                    c1              (sequences still running at t = 0, 1, 2)

`sorted_indices` remembers how the batch was sorted (`None` when it came sorted, with
`enforce_sorted=True`) and `unsorted_indices` is its inverse, so unpacking restores the
original order. Every function here is built from differentiable ops (one `index_select`
per call, plus a `cat` for the padding row), so gradients flow between `packed.data` and
the padded tensor; no new backward.

minigrad's recurrent layers (`models.RNN/LSTM/GRU`, also `minigrad.nn.LSTM`...) accept a
PackedSequence as torch's do; internally they unpack to (padded, lengths), run their fused
`lengths=` path and pack the output again.

Ties: with `enforce_sorted=False` equal lengths keep their original relative order (a stable
sort). torch's sort leaves ties unspecified; it agrees with this up to 16 sequences.
"""
from __future__ import annotations

import numbers
from typing import NamedTuple, Optional

from ... import backend as _B
from ...factory import full
from ...ops import cat, index_select
from ...tensor import Tensor

np = _B.np  # host-side bookkeeping only: lengths, batch sizes, gather indices

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pad_packed_sequence", "pack_sequence",
           "unpad_sequence", "unpack_sequence"]


class _PackedSequenceFields(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Optional[Tensor]
    unsorted_indices: Optional[Tensor]


class PackedSequence(_PackedSequenceFields):
    """A packed batch of variable-length sequences (torch.nn.utils.rnn.PackedSequence).

    A namedtuple of four fields:
        data: (sum of lengths, *features), the real time steps, time step by time step.
        batch_sizes: int64 Tensor on the CPU, batch_sizes[t] = number of sequences longer than t.
        sorted_indices: int64 Tensor on data's device, or None (the batch came sorted):
            sorted_indices[j] is the original position of the j-th longest sequence.
        unsorted_indices: its inverse permutation (computed when not given), or None.

    Make one with `pack_padded_sequence` or `pack_sequence`, not by hand.
    """

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if batch_sizes is None:  # torch also accepts PackedSequence((data, batch_sizes), ...)
            if not (isinstance(data, (tuple, list)) and len(data) == 2):
                raise TypeError("PackedSequence: expected (data, batch_sizes, ...) or a pair (data, batch_sizes)")
            data, batch_sizes = data
        if not isinstance(batch_sizes, Tensor) or batch_sizes.device != "cpu":
            raise ValueError("PackedSequence: batch_sizes must be an int64 Tensor on the CPU; make packed "
                             "sequences with pack_padded_sequence or pack_sequence, not by hand")
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs) -> "PackedSequence":
        """`data.to(...)` (device and/or dtype); the indices follow data's device, batch_sizes stays on the CPU.

        Returns self when data already has that dtype and device.
        """
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self

        def follow(t):
            return None if t is None else t.to(data.device)

        return type(self)(data, self.batch_sizes, follow(self.sorted_indices), follow(self.unsorted_indices))

    def cuda(self, device=None) -> "PackedSequence":
        return self.to("cuda" if device is None else (f"cuda:{device}" if isinstance(device, int) else device))

    def cpu(self) -> "PackedSequence":
        return self.to("cpu")

    def double(self) -> "PackedSequence":
        return self.to(dtype="float64")

    def float(self) -> "PackedSequence":
        return self.to(dtype="float32")

    def half(self) -> "PackedSequence":
        return self.to(dtype="float16")

    def long(self) -> "PackedSequence":
        return self.to(dtype="int64")

    def int(self) -> "PackedSequence":
        return self.to(dtype="int32")

    @property
    def is_cuda(self) -> bool:
        """True when data lives on a GPU."""
        return self.data.is_cuda


def invert_permutation(permutation):
    """The inverse of a 1-D permutation tensor: out[permutation[i]] = i (None gives None)."""
    if permutation is None:
        return None
    p = permutation.data
    xp = _B.get_array_module(p)
    out = xp.empty_like(p)
    out[p] = xp.arange(p.shape[0], dtype=p.dtype)
    return Tensor(out)


# ---------------------------------------------------------------- checks
def _lengths_array(op: str, lengths):
    """The lengths as a 1-D host int64 array (from a list, NumPy array or integer Tensor)."""
    if isinstance(lengths, Tensor):
        arr = lengths.numpy()
    elif _B.is_array(lengths):
        arr = _B.to_device(lengths, "cpu")
    else:
        if isinstance(lengths, (str, bytes)) or not hasattr(lengths, "__iter__"):
            raise TypeError(f"{op}: lengths must be a list or 1-D integer Tensor, got {type(lengths).__name__}")
        lengths = list(lengths)
        if not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in lengths):
            raise TypeError(f"{op}: lengths must be integers, got {lengths!r}")
        arr = np.asarray(lengths, dtype=np.int64).reshape(-1)
    if arr.dtype.kind not in "iu":  # torch truncates 2.5 to 2 and reads True as 1; we refuse
        raise TypeError(f"{op}: lengths must be integers, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise RuntimeError(f"{op}: lengths must be 1-D, one length per sequence; got shape {tuple(arr.shape)}")
    return arr.astype(np.int64)


def _check_packed(op: str, sequence):
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"{op}: expected a PackedSequence (from pack_padded_sequence or pack_sequence), "
                        f"got {type(sequence).__name__}")


def _describe(t) -> str:
    return f"{t.dtype}{list(t.shape)} on {t.device}"


# ---------------------------------------------------------------- packing
def _gather_index(T: int, B: int, order, sorted_lengths, batch_first: bool):
    """Flat positions in the padded (T*B) layout of every packed row, in packed order.

    Packed row k is step t of the j-th longest sequence, the one at batch position
    b = order[j]: flat position t * B + b (time-major) or b * T + t (batch_first).
    np.nonzero walks the (t, j) mask row by row, which is exactly the packed order.
    """
    t, j = np.nonzero(np.arange(int(sorted_lengths[0]))[:, None] < sorted_lengths[None, :])
    b = order[j]
    return b * T + t if batch_first else t * B + b


def _pack(x, lengths, order, batch_first: bool):
    """(data, batch_sizes) of padded x for host lengths (original order) and host sort `order`.

    One index_select from the flattened input, so its backward scatters the packed
    gradient back to the real positions (padding gets zeros).
    """
    T, B = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
    sorted_lengths = lengths[order]
    batch_sizes = (sorted_lengths[None, :] > np.arange(int(sorted_lengths[0]))[:, None]).sum(axis=1)
    idx = _gather_index(T, B, order, sorted_lengths, batch_first)
    flat = x.reshape((T * B,) + tuple(x.shape[2:]))
    data = index_select(flat, 0, Tensor(_B.as_array(idx.astype(np.int64), device=x.device)))
    return data, Tensor(batch_sizes.astype(np.int64))


def pack_padded_sequence(input, lengths, batch_first: bool = False, enforce_sorted: bool = True):  # noqa: A002
    """Pack a padded batch (T, B, *) (batch_first: (B, T, *)) of sequences with the given lengths.

    data[k] = input[t, sorted_indices[j]] for the k-th (t, j) with t < lengths of the j-th
    longest sequence, in order of t then j; d data / d input is the matching scatter
    (zeros at the padding).

    Args:
        input: padded batch, at least 2-D.
        lengths: B lengths, each in [1, T] (list, NumPy array or integer Tensor, any device).
        batch_first: input is (B, T, *).
        enforce_sorted: True: lengths must already be decreasing (sorted_indices None);
            False: the batch is sorted here (stably) and the order kept in sorted_indices.

    Returns:
        PackedSequence.

    Raises:
        TypeError: input not a Tensor, or non-integer lengths (torch would truncate them).
        IndexError: input with fewer than 2 dimensions.
        RuntimeError: empty input, a length count that is not B, unsorted lengths with
            enforce_sorted=True, a length <= 0, or a length > T (torch reads past the end there).
    """
    op = "pack_padded_sequence"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a minigrad Tensor, got {type(input).__name__}")
    if input.ndim < 2:
        raise IndexError(f"{op}: input must have at least 2 dimensions ((T, B, *) or (B, T, *) with "
                         f"batch_first), got {_describe(input)}")
    if input.numel() == 0:
        raise RuntimeError(f"{op}: cannot pack empty tensors, got {_describe(input)}")
    T, B = (input.shape[1], input.shape[0]) if batch_first else (input.shape[0], input.shape[1])
    lengths = _lengths_array(op, lengths)
    if lengths.shape[0] != B:
        raise RuntimeError(f"{op}: expected len(lengths) to be equal to batch_size, but got {lengths.shape[0]} "
                           f"(batch_size={B}, input {_describe(input)}, batch_first={batch_first})")
    if enforce_sorted:
        if (np.diff(lengths) > 0).any():
            raise RuntimeError(f"{op}: lengths {lengths.tolist()} must be sorted in decreasing order when "
                               "enforce_sorted is True; pass enforce_sorted=False to sort the batch here")
        order = np.arange(B)
    else:
        order = np.argsort(-lengths, kind="stable")  # longest first; ties keep their order
    if lengths.min() <= 0:
        raise RuntimeError(f"{op}: every length must be greater than 0, got {lengths.tolist()}")
    if lengths.max() > T:
        raise RuntimeError(f"{op}: lengths {lengths.tolist()} exceed the padded length T={T} of input "
                           f"{_describe(input)} (batch_first={batch_first})")
    data, batch_sizes = _pack(input, lengths, order, batch_first)
    sorted_indices = None if enforce_sorted else Tensor(_B.as_array(order.astype(np.int64), device=input.device))
    return PackedSequence(data, batch_sizes, sorted_indices, None)


def pad_packed_sequence(sequence, batch_first: bool = False, padding_value=0.0, total_length=None):
    """Unpack to (padded, lengths): the inverse of `pack_padded_sequence`, in the original batch order.

    padded[t, b] = data[k] for the packed row k of step t of sequence b, padding_value
    after each sequence's end; d padded / d data gathers each row's gradient back.

    Args:
        sequence: a PackedSequence.
        batch_first: return (B, T, *) instead of (T, B, *).
        padding_value: value of the padded positions (cast to data's dtype).
        total_length: pad to this many steps instead of the longest length (>= it).

    Returns:
        (padded, lengths): lengths an int64 Tensor on the CPU, in the original order.
    """
    op = "pad_packed_sequence"
    _check_packed(op, sequence)
    data = sequence.data
    bs = sequence.batch_sizes.numpy().astype(np.int64)
    T, B = bs.shape[0], int(bs[0])
    if total_length is not None:
        if not isinstance(total_length, numbers.Integral):
            raise TypeError(f"{op}: total_length must be an int, got {type(total_length).__name__}")
        if total_length < T:
            raise ValueError(f"{op}: expected total_length to be at least the length of the longest sequence in "
                             f"input, but got total_length={total_length} and max sequence length being {T}")
        T_out = int(total_length)
    else:
        T_out = T
    sorted_lengths = (bs[None, :] > np.arange(B)[:, None]).sum(axis=1)  # length of the j-th longest
    # position of each packed row in the padded, still sorted, layout; the rest reads row N (the padding)
    N = data.shape[0]
    src = np.full((T_out, B), N, dtype=np.int64)
    t, j = np.nonzero(np.arange(B)[None, :] < bs[:, None])  # packed row k is (t[k], j[k]), t then j
    src[t, j] = np.arange(N)
    unsorted = sequence.unsorted_indices
    if unsorted is not None:  # back to the original order: column b is sorted column unsorted[b]
        u = unsorted.numpy().astype(np.int64)
        src, lengths = src[:, u], sorted_lengths[u]
    else:
        lengths = sorted_lengths
    if batch_first:
        src = src.T
    feat = tuple(data.shape[1:])
    source = data
    if (src == N).any():  # one padding row appended, read by every padded position
        source = cat([data, full((1,) + feat, padding_value, dtype=data.dtype, device=data.device)], dim=0)
    idx = Tensor(_B.as_array(np.ascontiguousarray(src).reshape(-1), device=data.device))
    padded = index_select(source, 0, idx).reshape(src.shape + feat)
    return padded, Tensor(lengths.astype(np.int64))


def pack_sequence(sequences, enforce_sorted: bool = True):
    """Pack a list of sequences of shapes (L_i, *): `pad_sequence` then `pack_padded_sequence`.

    Args:
        sequences: Tensors (L_i, *) with the same trailing shape, each L_i >= 1.
        enforce_sorted: True: they must come longest first; False: sorted here.

    Returns:
        PackedSequence; gradients flow back to each sequence.
    """
    from .rnn import pad_sequence  # (rnn.py imports this module)

    op = "pack_sequence"
    if isinstance(sequences, Tensor) or _B.is_array(sequences):
        raise TypeError(f"{op}: expected a list of Tensors, got {type(sequences).__name__}")
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError(f"{op}: received an empty list of sequences")
    for i, s in enumerate(sequences):
        if not isinstance(s, Tensor):
            raise TypeError(f"{op}: sequence {i} is a {type(s).__name__}; expected a minigrad Tensor")
        if s.ndim == 0:
            raise ValueError(f"{op}: sequence {i} is 0-dimensional; expected shape (length, *features)")
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first: bool = False):
    """Split a padded batch (T, B, *) (batch_first: (B, T, *)) into B tensors (lengths[b], *).

    Each piece is a copy (as torch's), differentiable: its gradient lands on padded[:lengths[b], b].
    Unlike torch (whose unpad transposes its input in place when batch_first=False), the
    input is left as it is; a length outside [0, T] is refused (torch clamps it).
    """
    op = "unpad_sequence"
    if not isinstance(padded_sequences, Tensor):
        raise TypeError(f"{op}: padded_sequences must be a minigrad Tensor, got {type(padded_sequences).__name__}")
    if padded_sequences.ndim < 2:
        raise ValueError(f"{op}: padded_sequences must have at least 2 dimensions, got {_describe(padded_sequences)}")
    T, B = ((padded_sequences.shape[1], padded_sequences.shape[0]) if batch_first
            else (padded_sequences.shape[0], padded_sequences.shape[1]))
    lengths = _lengths_array(op, lengths)
    if lengths.shape[0] != B:
        raise ValueError(f"{op}: got {lengths.shape[0]} lengths for a batch of {B} sequences "
                         f"({_describe(padded_sequences)}, batch_first={batch_first})")
    if lengths.size and (lengths.min() < 0 or lengths.max() > T):
        raise ValueError(f"{op}: every length must be in [0, {T}] (the padded length), got {lengths.tolist()}")
    if batch_first:
        return [padded_sequences[b, :int(n)].clone() for b, n in enumerate(lengths)]
    return [padded_sequences[:int(n), b].clone() for b, n in enumerate(lengths)]


def unpack_sequence(packed_sequences):
    """The sequences of a PackedSequence as a list of tensors (L_i, *), in the original order."""
    _check_packed("unpack_sequence", packed_sequences)
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


def _repack_like(padded, packed: PackedSequence, batch_first: bool) -> PackedSequence:
    """Pack `padded` (same batch and lengths as `packed`, original order) exactly as `packed` is packed.

    Keeps packed's batch_sizes, sorted_indices and unsorted_indices (the recurrent layers'
    output PackedSequence mirrors its input's).
    """
    bs = packed.batch_sizes.numpy().astype(np.int64)
    B = int(bs[0])
    sorted_lengths = (bs[None, :] > np.arange(B)[:, None]).sum(axis=1)
    order = np.arange(B) if packed.sorted_indices is None else packed.sorted_indices.numpy().astype(np.int64)
    lengths = np.empty(B, dtype=np.int64)
    lengths[order] = sorted_lengths
    data, _ = _pack(padded, lengths, order, batch_first)
    return PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
