"""Feeding data to a model: datasets, a resumable DataLoader, padding, masks and vocabularies.

    ds = TensorDataset(x, y)
    loader = DataLoader(ds, batch_size=32, shuffle=True, seed=0)
    for xb, yb in loader:
        ...
    ckpt = {"loader": loader.state_dict(), ...}     # mid-epoch is fine
    loader.load_state_dict(ckpt["loader"])          # later: the same remaining batches

For text: `Vocab.build` maps tokens to indices, `pad_sequences` makes a batch of
variable-length index lists, and `lengths_to_mask` marks the real positions.
Everything here prepares inputs; none of it records an autograd graph
(except `pad_sequences` on tensors that require grad, see there).
"""
from __future__ import annotations

import math
import numbers
from collections import Counter

from . import backend as _B
from .autograd import is_grad_enabled
from .tensor import Tensor, tensor

np = _B.np  # index bookkeeping on the host; batches keep their arrays' device

__all__ = ["Dataset", "TensorDataset", "DataLoader", "default_collate", "pad_sequences", "lengths_to_mask",
           "Vocab"]


# ---------------------------------------------------------------- datasets
class Dataset:
    """Base class: a sized collection indexed by 0..len-1 (torch's map-style dataset).

    Subclasses define ``__len__`` and ``__getitem__(i)``. Any object with both
    (a list, for instance) also works with `DataLoader`.
    """

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")


class TensorDataset(Dataset):
    """Samples are rows: item i is ``(t[i] for t in tensors)`` as a tuple.

    Args:
        *tensors: Tensors, NumPy/CuPy arrays or nested lists, all with the same
            first dimension. Tensors give Tensor rows, arrays give array rows.
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor or array")
        srcs = []
        for i, t in enumerate(tensors):
            if not (isinstance(t, Tensor) or _B.is_array(t)):
                t = tensor(t)  # lists follow tensor() rules: floats -> default dtype, ints -> int64
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: argument {i} is 0-dimensional; each needs a first (sample) dimension")
            srcs.append(t)
        n = len(srcs[0])
        if any(len(t) != n for t in srcs):
            raise ValueError("TensorDataset: all arguments must have the same first dimension; got "
                             f"{[tuple(t.shape) for t in srcs]}")
        self.tensors = tuple(srcs)

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, index):
        n = len(self)
        if not isinstance(index, numbers.Integral) or isinstance(index, bool):
            raise TypeError(f"TensorDataset: index must be an int, got {type(index).__name__}")
        if not -n <= index < n:
            raise IndexError(f"TensorDataset: index {index} is out of range for {n} samples")
        # Tensor(...) rather than the raw row: indexing a 1-D array gives a NumPy scalar
        return tuple(Tensor(t.data[index]) if isinstance(t, Tensor) else t[index] for t in self.tensors)

    def get_batch(self, indices):
        """The batch `default_collate([self[i] for i in indices])` would give, in one fancy-indexing step."""
        if type(self).__getitem__ is not TensorDataset.__getitem__:  # a subclass changed the samples
            return default_collate([self[int(i)] for i in indices])
        out = []
        for t in self.tensors:
            arr = t.data if isinstance(t, Tensor) else t
            idx = _B.get_array_module(arr).asarray(indices, dtype=np.int64)  # index array on the data's device
            out.append(Tensor(arr[idx]))
        return tuple(out)


# ---------------------------------------------------------------- collation
def _stack_arrays(arrays, where):
    shapes = {tuple(a.shape) for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"collate: cannot stack samples with different shapes {sorted(shapes)}{where}; "
                         "pad them first (pad_sequences) or pass a collate_fn")
    devices = {_B.device_of(a) for a in arrays}
    if len(devices) > 1:
        raise ValueError(f"collate: samples are on different devices {sorted(devices)}{where}")
    xp = _B.get_array_module(arrays[0])
    return Tensor(xp.stack(arrays))


def default_collate(samples, _where: str = ""):
    """Stack a list of samples into a batch, keeping the samples' structure.

    Tensors, arrays and NumPy scalars are stacked along a new first dimension
    into a Tensor (dtype and device kept; no autograd graph). Python numbers
    become a Tensor (bools -> bool, ints -> int64, floats -> default float dtype).
    Strings become a list of strings. Tuples, lists and dicts are collated
    field by field, so ``(x, y)`` samples give an ``(xb, yb)`` batch.
    """
    if not samples:
        raise ValueError("collate: empty batch")
    first = samples[0]
    where = _where and f" at {_where}"

    def same_kind(kind):
        bad = next((s for s in samples if not isinstance(s, kind)), None)
        if bad is not None:
            raise TypeError(f"collate: samples mix {type(first).__name__} and {type(bad).__name__}{where}")

    if isinstance(first, Tensor):
        same_kind(Tensor)
        return _stack_arrays([s.data for s in samples], where)
    if _B.is_array(first) or isinstance(first, np.generic):
        same_kind((np.ndarray, np.generic) + ((_B.cupy.ndarray,) if _B.cupy is not None else ()))
        return _stack_arrays([s if _B.is_array(s) else np.asarray(s) for s in samples], where)
    if isinstance(first, (bool, numbers.Number)) and not isinstance(first, complex):
        same_kind((bool, numbers.Number))
        return tensor(list(samples))
    if isinstance(first, str):
        same_kind(str)
        return list(samples)
    if isinstance(first, dict):
        same_kind(dict)
        keys = list(first.keys())
        for s in samples:
            if set(s.keys()) != set(keys):
                raise ValueError(f"collate: dict samples have different keys {sorted(map(str, keys))} vs "
                                 f"{sorted(map(str, s.keys()))}{where}")
        return {k: default_collate([s[k] for s in samples], f"{_where}[{k!r}]") for k in keys}
    if isinstance(first, (tuple, list)):
        same_kind((tuple, list))
        n = len(first)
        if any(len(s) != n for s in samples):
            raise ValueError(f"collate: sequence samples have different lengths {[len(s) for s in samples]}{where}")
        fields = [default_collate([s[i] for s in samples], f"{_where}[{i}]") for i in range(n)]
        if isinstance(first, tuple) and hasattr(first, "_fields"):  # namedtuple: keep the type
            return type(first)(*fields)
        return tuple(fields) if isinstance(first, tuple) else fields
    raise TypeError(f"collate: don't know how to batch samples of type {type(first).__name__}{where}; "
                    "pass a collate_fn")


# ---------------------------------------------------------------- loader
class DataLoader:
    """Iterate over a dataset in (optionally shuffled) batches, resumably.

    Each ``iter(loader)`` (each ``for`` loop) is one epoch. With ``shuffle=True``
    every epoch draws a fresh permutation from an epoch seed: from the loader's own
    NumPy generator when `seed` is given, else from minigrad's host generator (so
    ``mg.manual_seed`` makes shuffling reproducible too).

    The position in the data order is state: `state_dict()` taken mid-epoch and
    `load_state_dict()` on a new loader make the next ``iter()`` yield exactly the
    remaining batches of the interrupted epoch, after which epochs continue as an
    uninterrupted loader's would (with ``seed=None`` this also needs the host
    generator restored, e.g. with ``minigrad.backend.set_rng_state``).

    Args:
        dataset: a `Dataset` or any object with ``__len__`` and ``__getitem__``.
        batch_size: samples per batch (the last one may be smaller).
        shuffle: a new random order every epoch.
        drop_last: drop the last batch when it is smaller than `batch_size`.
        seed: seed of the loader's own generator (None: follow ``mg.manual_seed``).
        collate_fn: turns a list of samples into a batch (default: `default_collate`).
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 seed=None, collate_fn=None):
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader: dataset must define __len__ and __getitem__, got {type(dataset).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = None if seed is None else int(seed)
        self.collate_fn = collate_fn
        self._rng = None if seed is None else np.random.default_rng(self.seed)
        self.epoch = 0              # index of the current (or next) epoch
        self._batch = 0             # batches of the current epoch already handed out
        self._in_epoch = False      # an epoch has started and not yet finished
        self._epoch_seed = None     # seed of the current epoch's permutation (shuffle only)
        self._order = None          # the current epoch's sample order
        self._resume = False        # the next iter() continues a loaded epoch

    def __len__(self) -> int:
        """Batches per epoch."""
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order_for(self, epoch_seed):
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n, dtype=np.int64)
        return np.random.default_rng(epoch_seed).permutation(n).astype(np.int64)

    def _start_epoch(self):
        if self._in_epoch:  # the previous epoch was abandoned part-way: it still counts
            self.epoch += 1
        self._epoch_seed = None
        if self.shuffle:
            rng = self._rng if self._rng is not None else _B.host_rng()
            self._epoch_seed = int(rng.integers(0, 2 ** 63 - 1))
        self._order = self._order_for(self._epoch_seed)
        self._batch = 0
        self._in_epoch = True

    def _fetch(self, indices):
        if self.collate_fn is None and hasattr(self.dataset, "get_batch"):
            return self.dataset.get_batch(indices)
        samples = [self.dataset[int(i)] for i in indices]
        return (self.collate_fn or default_collate)(samples)

    def __iter__(self):
        if self._resume and self._in_epoch:
            self._order = self._order_for(self._epoch_seed)
        else:
            self._start_epoch()
        self._resume = False
        order, bs, nb = self._order, self.batch_size, len(self)
        for b in range(self._batch, nb):
            batch = self._fetch(order[b * bs:(b + 1) * bs])
            self._batch = b + 1  # counted before the yield: a checkpoint taken now resumes after it
            yield batch
        self.epoch += 1
        self._batch = 0
        self._in_epoch = False

    # ------------------------------------------------------------ resumable position
    def state_dict(self) -> dict:
        """The data-order position: epoch, batch index, epoch seed and generator state (save/load-able)."""
        return {
            "epoch": self.epoch,
            "batch": self._batch,
            "in_epoch": self._in_epoch,
            "epoch_seed": self._epoch_seed,
            "rng_state": None if self._rng is None else self._rng.bit_generator.state,
            "num_samples": len(self.dataset),
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from `state`: the next ``iter()`` yields the rest of the interrupted epoch."""
        try:
            ours = {"num_samples": len(self.dataset), "batch_size": self.batch_size,
                    "shuffle": self.shuffle, "drop_last": self.drop_last}
            for k, v in ours.items():
                if state[k] != v:
                    raise ValueError(f"DataLoader.load_state_dict: the state has {k}={state[k]!r} but this "
                                     f"loader has {k}={v!r}; resuming would not give the same batches")
            if (state["rng_state"] is None) != (self._rng is None):
                raise ValueError("DataLoader.load_state_dict: the state was saved from a loader "
                                 f"{'without' if state['rng_state'] is None else 'with'} its own seed, "
                                 f"this loader has seed={self.seed!r}")
            if self._rng is not None:
                self._rng.bit_generator.state = state["rng_state"]
            self.epoch = int(state["epoch"])
            self._batch = int(state["batch"])
            self._in_epoch = bool(state["in_epoch"])
            self._epoch_seed = None if state["epoch_seed"] is None else int(state["epoch_seed"])
        except KeyError as e:
            raise ValueError(f"DataLoader.load_state_dict: the state has no {e.args[0]!r} entry") from None
        self._order = None
        self._resume = True

    def __repr__(self):
        return (f"DataLoader(dataset of {len(self.dataset)}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, seed={self.seed})")


# ---------------------------------------------------------------- padding and masks
def pad_sequences(seqs, pad_value=0, batch_first: bool = True, max_len=None, dtype=None):
    """Pad variable-length sequences into one batch tensor.

    Args:
        seqs: a list of sequences, each a list, NumPy/CuPy array or Tensor of shape
            ``(L_i, *features)`` (features the same for all; L_i may be 0).
        pad_value: value of the padded positions.
        batch_first: output ``(batch, T, *features)``; else ``(T, batch, *features)``.
        max_len: pad (and truncate longer sequences) to this length; default: the longest.
        dtype: output dtype; default: the sequences' common dtype (Python ints -> int64,
            floats -> the default float dtype; all-empty lists -> the default float dtype).

    Returns:
        (padded, lengths): the padded Tensor on the sequences' device and an int64
        Tensor of the (truncated) lengths on the same device.

    The result is plain data, except when a Tensor in `seqs` requires grad (and grad
    mode is on): then it is built from differentiable ops (`cat`, `stack`) so the
    gradient flows back to the real positions.
    """
    return _pad_sequences("pad_sequences", seqs, pad_value, batch_first, max_len, dtype)


def _pad_sequences(op, seqs, pad_value, batch_first, max_len, dtype):
    """pad_sequences, with errors that name `op` (pad_sequences, or nn.utils.rnn.pad_sequence)."""
    if isinstance(seqs, (Tensor, str)) or _B.is_array(seqs):
        raise TypeError(f"{op}: expected a list of sequences, got {type(seqs).__name__}")
    seqs = list(seqs)
    if max_len is not None and (isinstance(max_len, bool) or not isinstance(max_len, numbers.Integral) or max_len < 0):
        raise ValueError(f"{op}: max_len must be a non-negative int, got {max_len!r}")

    # Each sequence as a backend array; Python lists have no device and follow the others.
    arrays, devices = [], set()
    for i, s in enumerate(seqs):
        if isinstance(s, Tensor) or _B.is_array(s):
            a = s.data if isinstance(s, Tensor) else s
            devices.add(_B.device_of(a))
        elif isinstance(s, (list, tuple)):
            a = tensor(s).data if len(s) else None  # None: an empty list, shape and dtype unknown yet
        else:
            raise TypeError(f"{op}: sequence {i} is a {type(s).__name__}; expected a list, array or Tensor")
        if a is not None and a.ndim == 0:
            raise ValueError(f"{op}: sequence {i} is 0-dimensional; expected shape (length, *features)")
        arrays.append(a)
    if len(devices) > 1:
        raise ValueError(f"{op}: sequences are on different devices {sorted(devices)}")
    device = devices.pop() if devices else "cpu"
    arrays = [None if a is None else _B.to_device(a, device) for a in arrays]
    known = [a for a in arrays if a is not None]
    feats = {tuple(a.shape[1:]) for a in known}
    if len(feats) > 1:
        raise ValueError(f"{op}: sequences must agree after the first (length) dimension; got feature "
                         f"shapes {sorted(feats)} from shapes {[tuple(a.shape) for a in known]}")
    feat = feats.pop() if feats else ()
    if dtype is not None:
        out_dtype = np.dtype(dtype)
    elif known:
        # torch-like promotion: ints with floats give the float dtype (no silent float64)
        dts = [a.dtype for a in known]
        floats = [d for d in dts if d.kind in "fc"]
        out_dtype = np.result_type(*(floats or dts))
    else:
        out_dtype = _B.get_default_dtype()
    xp = _B.array_module_for(device)

    lengths = [0 if a is None else int(a.shape[0]) for a in arrays]
    T = max(lengths, default=0) if max_len is None else int(max_len)
    lengths = [min(n, T) for n in lengths]
    lengths_t = Tensor(_B.as_array(np.asarray(lengths, dtype=np.int64), device=device))

    needs_graph = is_grad_enabled() and any(isinstance(s, Tensor) and s.requires_grad for s in seqs)
    if needs_graph:
        from .ops import cat, stack  # differentiable composition; gradients reach the real positions
        from .factory import full

        rows = []
        for s, a, n in zip(seqs, arrays, lengths):
            row = s if isinstance(s, Tensor) else Tensor(xp.zeros((0,) + feat, dtype=out_dtype) if a is None else a)
            row = row[:n].to(dtype=out_dtype) if row.dtype != out_dtype else row[:n]
            if n < T:
                row = cat([row, full((T - n,) + feat, pad_value, dtype=out_dtype, device=device)], dim=0)
            rows.append(row)
        if not rows:
            return Tensor(xp.zeros((0, T) + feat if batch_first else (T, 0) + feat, dtype=out_dtype)), lengths_t
        out = stack(rows, dim=0 if batch_first else 1)
        return out, lengths_t

    out = xp.full((len(arrays), T) + feat, pad_value, dtype=out_dtype)
    for b, (a, n) in enumerate(zip(arrays, lengths)):
        if n:
            out[b, :n] = a[:n]
    if not batch_first:
        out = xp.ascontiguousarray(xp.swapaxes(out, 0, 1))
    return Tensor(out), lengths_t


def lengths_to_mask(lengths, max_len=None) -> Tensor:
    """Boolean mask of shape (batch, max_len): ``mask[b, t] = t < lengths[b]`` (True at real positions).

    Args:
        lengths: 1-D ints (a list, array or integer Tensor); the mask is on its device.
        max_len: number of columns; default ``max(lengths)`` (0 for an empty batch).
    """
    if isinstance(lengths, Tensor):
        arr = lengths.data
    elif _B.is_array(lengths):
        arr = lengths
    else:
        arr = np.asarray(lengths)
        if arr.size == 0:
            arr = arr.astype(np.int64)  # np.asarray([]) is float64
    if arr.ndim != 1:
        raise ValueError(f"lengths_to_mask: lengths must be 1-D, got shape {tuple(arr.shape)}")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"lengths_to_mask: lengths must be integers, got dtype {arr.dtype}")
    xp = _B.get_array_module(arr)
    host = _B.to_device(arr, "cpu")
    if host.size and int(host.min()) < 0:
        raise ValueError(f"lengths_to_mask: lengths must be >= 0, got {host.tolist()}")
    longest = int(host.max()) if host.size else 0
    if max_len is None:
        max_len = longest
    elif isinstance(max_len, bool) or not isinstance(max_len, numbers.Integral) or max_len < 0:
        raise ValueError(f"lengths_to_mask: max_len must be a non-negative int, got {max_len!r}")
    elif longest > max_len:
        raise ValueError(f"lengths_to_mask: a length ({longest}) exceeds max_len={max_len}")
    return Tensor(xp.arange(int(max_len))[None, :] < arr[:, None])


# ---------------------------------------------------------------- vocabulary
DEFAULT_SPECIALS = {"pad": "<pad>", "unk": "<unk>", "bos": "<bos>", "eos": "<eos>"}


class Vocab:
    """A token <-> index mapping with special tokens first.

    Build one from tokenised text with `Vocab.build`; or give the regular tokens in
    index order. Special tokens take indices 0.. in the order given (by default
    ``<pad>=0, <unk>=1, <bos>=2, <eos>=3``).

    Args:
        tokens: regular tokens in index order (after the specials), no duplicates.
        specials: role -> token, e.g. ``{"pad": "[PAD]", "unk": "[UNK]"}`` (roles
            ``pad``, ``unk``, ``bos``, ``eos`` are used by this class; others, such as
            ``mask``, are kept as specials); or a sequence of tokens, whose roles are
            taken from the default names.
    """

    def __init__(self, tokens=(), specials=None):
        if specials is None:
            specials = DEFAULT_SPECIALS
        if isinstance(specials, dict):
            roles = {str(r): t for r, t in specials.items() if t is not None}
        else:
            by_token = {t: r for r, t in DEFAULT_SPECIALS.items()}
            roles = {by_token.get(t, f"special{i}"): t for i, t in enumerate(specials)}
        self.specials = roles
        self.counts = None  # token -> count, filled by `build`
        itos = list(roles.values()) + list(tokens)
        for t in itos:
            if not isinstance(t, str):
                raise TypeError(f"Vocab: tokens must be strings, got {t!r} ({type(t).__name__})")
        self.itos = itos
        self.stoi = {}
        for i, t in enumerate(itos):
            if t in self.stoi:
                raise ValueError(f"Vocab: token {t!r} appears twice (indices {self.stoi[t]} and {i})")
            self.stoi[t] = i

    @classmethod
    def build(cls, token_lists, min_count: int = 1, max_size=None, specials=None) -> "Vocab":
        """Count tokens and keep the frequent ones.

        Args:
            token_lists: an iterable of token lists (already tokenised sentences).
            min_count: keep tokens seen at least this often.
            max_size: total size including the specials (None: no limit); the most
                frequent tokens are kept.
            specials: as in `Vocab` (default ``<pad> <unk> <bos> <eos>``).

        Order is deterministic: frequency descending, then token ascending.
        """
        if isinstance(min_count, bool) or not isinstance(min_count, numbers.Integral) or min_count < 1:
            raise ValueError(f"Vocab.build: min_count must be an int >= 1, got {min_count!r}")
        counts = Counter()
        for i, toks in enumerate(token_lists):
            if isinstance(toks, str):
                raise TypeError(f"Vocab.build: item {i} is a str ({toks[:30]!r}); expected a list of tokens "
                                "(split sentences into tokens first)")
            counts.update(toks)
        vocab = cls((), specials)
        n_special = len(vocab)
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, numbers.Integral)
                                     or max_size < n_special):
            raise ValueError(f"Vocab.build: max_size must be an int >= the {n_special} special tokens, got {max_size!r}")
        for t in counts:
            if not isinstance(t, str):
                raise TypeError(f"Vocab.build: tokens must be strings, got {t!r} ({type(t).__name__})")
        kept = sorted((t for t, c in counts.items() if c >= min_count and t not in vocab.stoi),
                      key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[:max_size - n_special]
        out = cls(kept, vocab.specials)
        out.counts = {t: counts[t] for t in kept}
        return out

    # ------------------------------------------------------------ lookups
    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token) -> bool:
        return token in self.stoi

    def __iter__(self):
        return iter(self.itos)

    def __eq__(self, other):
        return isinstance(other, Vocab) and self.itos == other.itos and self.specials == other.specials

    def _special_index(self, role: str) -> int:
        if role not in self.specials:
            raise ValueError(f"Vocab has no {role!r} special token (specials: {self.specials})")
        return self.stoi[self.specials[role]]

    @property
    def pad_index(self) -> int:
        return self._special_index("pad")

    @property
    def unk_index(self) -> int:
        return self._special_index("unk")

    @property
    def bos_index(self) -> int:
        return self._special_index("bos")

    @property
    def eos_index(self) -> int:
        return self._special_index("eos")

    def __getitem__(self, token: str) -> int:
        """Index of `token`; unknown tokens map to ``<unk>`` (KeyError if there is no unk token)."""
        i = self.stoi.get(token)
        if i is not None:
            return i
        if "unk" not in self.specials:
            raise KeyError(f"Vocab: unknown token {token!r} and no 'unk' special token to map it to")
        return self.stoi[self.specials["unk"]]

    def lookup_token(self, index) -> str:
        i = int(index)
        if not 0 <= i < len(self.itos):
            raise IndexError(f"Vocab: index {i} is out of range for a vocabulary of {len(self.itos)}")
        return self.itos[i]

    def encode(self, tokens, add_bos: bool = False, add_eos: bool = False) -> list:
        """Token list -> index list, optionally wrapped in ``<bos> ... <eos>``."""
        if isinstance(tokens, str):
            raise TypeError(f"Vocab.encode: expected a list of tokens, got a str {tokens[:30]!r}")
        ids = [self[t] for t in tokens]
        if add_bos:
            ids.insert(0, self.bos_index)
        if add_eos:
            ids.append(self.eos_index)
        return ids

    def decode(self, indices, strip_special: bool = True) -> list:
        """Index list (or 1-D array/Tensor) -> token list.

        With `strip_special`, every special token except ``<unk>`` is dropped (an
        unknown word still stands for a word).
        """
        if isinstance(indices, Tensor):
            indices = indices.tolist()
        elif _B.is_array(indices):
            indices = _B.to_device(indices, "cpu").tolist()
        toks = [self.lookup_token(i) for i in indices]
        if strip_special:
            drop = {t for r, t in self.specials.items() if r != "unk"}
            toks = [t for t in toks if t not in drop]
        return toks

    # ------------------------------------------------------------ saving
    def to_dict(self) -> dict:
        """Plain data (str/list/dict) for `minigrad.save` or JSON."""
        n = len(self.specials)
        return {"specials": dict(self.specials), "tokens": list(self.itos[n:])}

    @classmethod
    def from_dict(cls, d: dict) -> "Vocab":
        try:
            return cls(d["tokens"], dict(d["specials"]))
        except KeyError as e:
            raise ValueError(f"Vocab.from_dict: missing entry {e.args[0]!r}") from None

    def __repr__(self):
        return f"Vocab(size={len(self)}, specials={list(self.specials.values())})"
