"""torch.utils.data's dataset wrappers and samplers (re-exported by `minigrad.data`).

    from minigrad.utils.data import DataLoader, random_split, WeightedRandomSampler
    train, val = random_split(ds, [0.8, 0.2])                   # seeded by mg.manual_seed
    loader = DataLoader(train, batch_size=32, sampler=WeightedRandomSampler(w, len(train)))

Names, signatures, defaults, lengths and error messages follow torch 2.13. The one
difference is the random generator: minigrad's generators are NumPy's, so every
``generator=`` argument takes a ``numpy.random.Generator`` (``np.random.default_rng(0)``)
or None, which means minigrad's host generator (the one ``mg.manual_seed`` seeds).

Every sampler here decides its whole epoch order from one seed drawn at the start
of the epoch (`_epoch_seed`, then `_indices(seed)`). The DataLoader relies on this to
save its position mid-epoch (`DataLoader.state_dict`) and resume with the same order.
"""
from __future__ import annotations

import bisect
import collections.abc
import copy
import itertools
import math
import numbers
import types
import warnings

from . import backend as _B
from .data import Dataset
from .tensor import Tensor

np = _B.np  # indices and weights are host bookkeeping

__all__ = ["IterableDataset", "Subset", "ConcatDataset", "ChainDataset", "StackDataset", "random_split",
           "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
           "BatchSampler", "DistributedSampler", "get_worker_info", "default_convert"]

_SEED_HIGH = 2 ** 63 - 1  # epoch seeds are drawn uniformly from [0, 2**63 - 1), as the DataLoader always did


def _check_generator(op, generator):
    """`generator` must be None (minigrad's host generator) or a NumPy Generator."""
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise TypeError(f"{op}: generator must be a numpy.random.Generator (e.g. numpy.random.default_rng(0)) "
                        f"or None for minigrad's generator (seeded by mg.manual_seed); got "
                        f"{type(generator).__module__}.{type(generator).__name__}")
    return generator


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


# ---------------------------------------------------------------- datasets
class IterableDataset(Dataset):
    """Base class of a stream of samples (torch's iterable-style dataset).

    Subclasses define ``__iter__``; ``__len__`` is optional (`DataLoader` needs it
    only for ``len(loader)``). A `DataLoader` over one batches the stream in order;
    samplers and ``shuffle`` do not apply. ``a + b`` chains two streams.
    """

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __add__(self, other):
        return ChainDataset([self, other])


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order: ``Subset(ds, idx)[i] = ds[idx[i]]``.

    Args:
        dataset: a map-style dataset.
        indices: a sequence of indices into `dataset`.
    """

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices):
        """Many samples at once (torch's batched-fetch hook), through the parent's hook when it has one."""
        parent = getattr(self.dataset, "__getitems__", None)
        if callable(parent):
            return parent([self.indices[int(i)] for i in indices])
        return [self.dataset[self.indices[int(i)]] for i in indices]

    def get_batch(self, indices):
        """The collated batch of `indices`; one fancy-indexing step when the parent has `get_batch` too."""
        from .data import default_collate
        parent = getattr(self.dataset, "get_batch", None)
        if callable(parent) and type(self).__getitem__ is Subset.__getitem__:
            return parent([self.indices[int(i)] for i in indices])
        return default_collate(self.__getitems__(indices))

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """Datasets one after another: indices ``0..len(d0)-1`` are `d0`'s, the next ones `d1`'s, ...

    Args:
        datasets: a non-empty iterable of map-style datasets.

    Attributes:
        cumulative_sizes: running totals of the datasets' lengths.
    """

    @staticmethod
    def cumsum(sequence):
        out, total = [], 0
        for d in sequence:
            total += len(d)
            out.append(total)
        return out

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if len(self.datasets) == 0:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise ValueError("ConcatDataset does not support IterableDataset (chain streams with ChainDataset)")
        self.cumulative_sizes = self.cumsum(self.datasets)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        n = len(self)
        if idx < 0:
            if -idx > n:
                raise ValueError(f"ConcatDataset: absolute value of index should not exceed dataset length "
                                 f"(index {idx}, length {n})")
            idx = n + idx
        if idx >= n:
            raise IndexError(f"ConcatDataset: index {idx} is out of range for {n} samples")
        d = bisect.bisect_right(self.cumulative_sizes, idx)  # first dataset whose running total exceeds idx
        start = self.cumulative_sizes[d - 1] if d else 0
        return self.datasets[d][idx - start]


class ChainDataset(IterableDataset):
    """Iterable datasets one after another (lazily: each stream is opened when reached).

    Args:
        datasets: an iterable of `IterableDataset`.
    """

    def __init__(self, datasets):
        self.datasets = datasets

    def _check(self, d):
        if not isinstance(d, IterableDataset):
            raise TypeError(f"ChainDataset only supports IterableDataset, got {type(d).__name__}")
        return d

    def __iter__(self):
        for d in self.datasets:
            yield from self._check(d)

    def __len__(self) -> int:
        return sum(len(self._check(d)) for d in self.datasets)


class StackDataset(Dataset):
    """Datasets side by side: item i is ``(d0[i], d1[i], ...)`` or, given by name, ``{name: d[i]}``.

    Args:
        *args: datasets of equal length, giving tuple samples; or
        **kwargs: datasets of equal length, giving dict samples (not both).
    """

    def __init__(self, *args, **kwargs):
        if args and kwargs:
            raise ValueError("StackDataset: Supported either ``tuple``- (via ``args``) or``dict``- (via ``kwargs``) "
                             "like input/output, but both types are given.")
        if not args and not kwargs:
            raise ValueError("StackDataset: At least one dataset should be passed")
        parts = list(args) if args else list(kwargs.values())
        lengths = [len(d) for d in parts]
        if len(set(lengths)) > 1:
            raise ValueError(f"StackDataset: Size mismatch between datasets (lengths {lengths})")
        self._length = lengths[0]
        self.datasets = args if args else kwargs

    def __getitem__(self, index):
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __len__(self) -> int:
        return self._length


def random_split(dataset, lengths, generator=None):
    """Split `dataset` into non-overlapping random `Subset`s of the given lengths.

    ``lengths`` are either sample counts summing to ``len(dataset)``, or fractions
    summing to 1: each split then gets ``floor(frac * len(dataset))`` samples and the
    remainder is dealt out one by one, round-robin from the first split (torch's rule).

    Args:
        dataset: a map-style dataset.
        lengths: ints, or fractions in [0, 1].
        generator: a ``numpy.random.Generator``; None draws from minigrad's host
            generator, so ``mg.manual_seed`` makes the split reproducible.

    Returns:
        A list of `Subset`, one per length.
    """
    _check_generator("random_split", generator)
    lengths = list(lengths)
    n = len(dataset)
    total = sum(lengths)
    if math.isclose(total, 1) and total <= 1:  # fractions
        counts = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"random_split: Fraction at index {i} is not between 0 and 1")
            counts.append(math.floor(n * frac))
        for i in range(n - sum(counts)):  # the remainder, one at a time, round-robin
            counts[i % len(counts)] += 1
        for i, c in enumerate(counts):
            if c == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.",
                              stacklevel=2)
        lengths = counts
    for i, c in enumerate(lengths):
        if not _is_int(c) or c < 0:
            raise ValueError(f"random_split: lengths must be non-negative ints or fractions summing to 1; "
                             f"got {lengths!r} (entry {i})")
    total = sum(lengths)
    if total != n:
        raise ValueError(f"random_split: Sum of input lengths does not equal the length of the input dataset! "
                         f"(lengths {lengths} sum to {total}, the dataset has {n})")
    perm = (generator if generator is not None else _B.host_rng()).permutation(n).tolist()
    out, start = [], 0
    for c in lengths:
        out.append(Subset(dataset, perm[start:start + int(c)]))
        start += int(c)
    return out


# ---------------------------------------------------------------- samplers
class Sampler:
    """Base class of samplers: iterables of dataset indices (or, for batch samplers, lists of them).

    Subclasses define ``__iter__`` and, for ``len(loader)``, ``__len__``.
    """

    __class_getitem__ = classmethod(types.GenericAlias)  # `Sampler[int]`, as torch's Generic Sampler

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class _SeededSampler(Sampler):
    """A sampler whose epoch order is a function of one seed drawn when the epoch starts.

    Subclasses define `_indices(seed)`; those that need no randomness keep `_epoch_seed`
    returning None (and leave every generator untouched).
    """

    generator = None

    def _epoch_seed(self):
        return None

    def _draw_seed(self):
        rng = self.generator if self.generator is not None else _B.host_rng()
        return int(rng.integers(0, _SEED_HIGH))

    def _indices(self, seed):
        raise NotImplementedError

    def __iter__(self):
        order = self._indices(self._epoch_seed())
        return iter(order.tolist() if isinstance(order, np.ndarray) else order)


class SequentialSampler(_SeededSampler):
    """Indices ``0, 1, ..., len(data_source) - 1``, always in that order."""

    def __init__(self, data_source):
        self.data_source = data_source

    def _indices(self, seed):
        return np.arange(len(self.data_source), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(_SeededSampler):
    """Random indices: a fresh permutation every epoch, or draws with replacement.

    Without replacement, ``num_samples > len(data_source)`` chains whole permutations
    (and a prefix of one more), as torch does.

    Args:
        data_source: a sized dataset.
        replacement: draw each index independently (uniformly) instead of permuting.
        num_samples: indices per epoch (default ``len(data_source)``; must be positive).
        generator: a ``numpy.random.Generator``, or None for minigrad's host generator
            (``mg.manual_seed``). Each epoch draws one seed from it.
    """

    def __init__(self, data_source, replacement: bool = False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = _check_generator("RandomSampler", generator)
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement should be a boolean value, but got replacement={replacement}")
        if not _is_int(self.num_samples) or self.num_samples <= 0:
            raise ValueError(f"RandomSampler: num_samples should be a positive integer value, "
                             f"but got num_samples={self.num_samples}")

    @property
    def num_samples(self) -> int:
        # the dataset may change size after construction (torch reads it lazily too)
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _epoch_seed(self):
        return self._draw_seed()

    def _indices(self, seed):
        n, k = len(self.data_source), int(self.num_samples)
        if k == 0:
            return np.zeros(0, dtype=np.int64)
        if n == 0:
            raise ValueError(f"RandomSampler: cannot draw {k} samples from an empty dataset")
        rng = np.random.default_rng(seed)
        if self.replacement:
            if k > _LazyDraws.CHUNK:  # minGPT's trainer asks for num_samples=int(1e10): draw as read
                return _LazyDraws(seed, n, k)
            return rng.integers(0, n, size=k, dtype=np.int64)
        full, rest = divmod(k, n)
        perms = [rng.permutation(n) for _ in range(full)]
        if rest:
            perms.append(rng.permutation(n)[:rest])
        return np.concatenate(perms).astype(np.int64)

    def __len__(self) -> int:
        return self.num_samples


class _LazyDraws:
    """`k` uniform draws from ``range(n)``, made chunk by chunk as they are read (len, iteration, ``[i]`` and
    ``[a:b]``, what the DataLoader reads of an epoch order), so a huge ``num_samples`` costs no memory up front.
    Chunk c comes from its own generator seeded ``(seed, c)``: any position can be read again (resume)."""

    CHUNK = 1 << 16

    def __init__(self, seed, n, k):
        self.seed, self.n, self.k, self._cached = seed, n, k, (None, None)

    def __len__(self):
        return self.k

    def _chunk(self, c):
        if self._cached[0] != c:
            size = min(self.CHUNK, self.k - c * self.CHUNK)
            self._cached = (c, np.random.default_rng([self.seed, c]).integers(0, self.n, size=size, dtype=np.int64))
        return self._cached[1]

    def __iter__(self):
        for c in range(-(-self.k // self.CHUNK)):
            yield from self._chunk(c).tolist()

    def __getitem__(self, i):
        C = self.CHUNK
        if isinstance(i, slice):
            start, stop, step = i.indices(self.k)
            if step != 1:
                raise ValueError("RandomSampler: lazily drawn indices are read in contiguous slices only")
            parts = [self._chunk(c)[max(start - c * C, 0):stop - c * C] for c in range(start // C, -(-stop // C))]
            return np.concatenate(parts) if stop > start else np.zeros(0, dtype=np.int64)
        i = int(i) + (self.k if int(i) < 0 else 0)
        if not 0 <= i < self.k:
            raise IndexError(f"RandomSampler: index {i} out of range for {self.k} samples")
        return self._chunk(i // C)[i % C]


class SubsetRandomSampler(_SeededSampler):
    """The given indices in a fresh random order every epoch (without replacement).

    Args:
        indices: a sequence of dataset indices.
        generator: a ``numpy.random.Generator`` or None (minigrad's host generator).
    """

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = _check_generator("SubsetRandomSampler", generator)

    def _epoch_seed(self):
        return self._draw_seed()

    def _indices(self, seed):
        perm = np.random.default_rng(seed).permutation(len(self.indices))
        return [self.indices[int(i)] for i in perm]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(_SeededSampler):
    """`num_samples` indices from ``0..len(weights)-1`` drawn with probability proportional to `weights`.

    Without replacement the draw is successive sampling (each next index with
    probability proportional to the weights left); once every positive-weight
    index is drawn, zero-weight ones follow in random order, as in torch.

    Args:
        weights: 1-D non-negative weights (need not sum to 1).
        num_samples: indices per epoch (positive).
        replacement: draw independently (default) or without repeats.
        generator: a ``numpy.random.Generator`` or None (minigrad's host generator).
    """

    def __init__(self, weights, num_samples, replacement: bool = True, generator=None):
        if not _is_int(num_samples) or num_samples <= 0:
            raise ValueError(f"WeightedRandomSampler: num_samples should be a positive integer value, "
                             f"but got num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError(f"WeightedRandomSampler: replacement should be a boolean value, "
                             f"but got replacement={replacement}")
        if isinstance(weights, Tensor):
            w = weights.numpy()
        elif _B.is_array(weights):
            w = _B.to_device(weights, "cpu")
        else:
            w = weights
        w = np.asarray(w, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"WeightedRandomSampler: weights should be a 1d sequence but given weights have "
                             f"shape {tuple(w.shape)}")
        self.weights = Tensor(w)  # float64, as torch keeps them (double)
        self.num_samples = int(num_samples)
        self.replacement = replacement
        self.generator = _check_generator("WeightedRandomSampler", generator)

    def _epoch_seed(self):
        return self._draw_seed()

    def _indices(self, seed):
        w, k = self.weights.numpy(), self.num_samples
        # torch.multinomial's checks, at the same moment (the first draw)
        if not np.isfinite(w).all() or (w < 0).any():
            raise RuntimeError("WeightedRandomSampler: probability tensor contains either `inf`, `nan` or "
                               f"element < 0 (weights {w.tolist()[:8]}{' ...' if w.size > 8 else ''})")
        if w.sum() <= 0:
            raise RuntimeError("WeightedRandomSampler: invalid multinomial distribution (sum of probabilities <= 0)")
        if not self.replacement and k > w.size:
            raise RuntimeError(f"WeightedRandomSampler: cannot sample n_sample > prob_dist.size(-1) samples "
                               f"without replacement (num_samples={k}, {w.size} weights)")
        rng = np.random.default_rng(seed)
        if self.replacement:
            return rng.choice(w.size, size=k, replace=True, p=w / w.sum()).astype(np.int64)
        # exponential race: index i finishes at E_i / w_i; the first k finishers are a
        # successive weighted sample without replacement (zero weights finish at inf, last)
        with np.errstate(divide="ignore"):
            finish = rng.exponential(size=w.size) / w
        zeros = np.flatnonzero(w == 0)
        order = np.argsort(finish, kind="stable")
        order[w.size - zeros.size:] = rng.permutation(zeros)  # the zero-weight tail, in random order
        return order[:k].astype(np.int64)

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the indices of `sampler` into lists of `batch_size` (the last may be shorter).

    Args:
        sampler: a sampler or any iterable of indices.
        batch_size: indices per batch (positive int).
        drop_last: drop the last batch when it is shorter than `batch_size`.
    """

    def __init__(self, sampler, batch_size, drop_last):
        if not _is_int(batch_size) or batch_size <= 0:
            raise ValueError(f"BatchSampler: batch_size should be a positive integer value, "
                             f"but got batch_size={batch_size}")
        if not isinstance(drop_last, (bool, np.bool_)):
            raise ValueError(f"BatchSampler: drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = bool(drop_last)

    def __iter__(self):
        it = iter(self.sampler)
        while True:
            batch = list(itertools.islice(it, self.batch_size))
            if not batch or (self.drop_last and len(batch) < self.batch_size):
                return
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else (n + self.batch_size - 1) // self.batch_size


class DistributedSampler(_SeededSampler):
    """The share of the indices that replica `rank` of `num_replicas` reads (torch's DistributedSampler).

    Every replica builds the same epoch order (a permutation seeded by ``seed + epoch``
    with ``shuffle``, else ``0..n-1``), pads it by repeating its head (or, with
    `drop_last`, cuts it) to a multiple of `num_replicas`, and takes every
    `num_replicas`-th index from position `rank`: disjoint, equal-length shares.
    Call `set_epoch(epoch)` before each epoch for a new order.

    minigrad has no process group, so `num_replicas` and `rank` must be given (torch
    reads them from ``torch.distributed`` when left out). The shuffled order is NumPy's
    permutation for the seed, not torch's; the unshuffled shares are torch's exactly.

    Args:
        dataset: a sized dataset.
        num_replicas: number of replicas (processes) sharing the data.
        rank: this replica's index, ``0 <= rank < num_replicas``.
        shuffle: permute the indices each epoch (the same way on every replica).
        seed: base seed of the permutation (the same on every replica).
        drop_last: cut the tail instead of padding to a multiple of `num_replicas`.
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False):
        if num_replicas is None or rank is None:
            raise ValueError("DistributedSampler: Default process group has not been initialized (minigrad has no "
                             "torch.distributed); pass num_replicas= and rank= explicitly")
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"DistributedSampler: Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.epoch, self.shuffle, self.seed, self.drop_last = 0, shuffle, seed, drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:  # each replica gets floor(n / replicas) (torch's formula)
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Use the order of `epoch` next (with `shuffle`; without, every epoch is the same)."""
        self.epoch = epoch

    def _epoch_seed(self):
        # the order is a function of this one number (so the loader can resume it); torch wraps negative seeds
        return (self.seed + self.epoch) % 2 ** 64 if self.shuffle else None

    def _indices(self, seed):
        n = len(self.dataset)
        indices = np.random.default_rng(seed).permutation(n) if self.shuffle else np.arange(n)
        indices = indices.astype(np.int64)
        if self.drop_last:
            indices = indices[:self.total_size]
        elif self.total_size > n:  # pad with the head, repeated as often as needed
            indices = np.concatenate([indices, np.resize(indices, self.total_size - n)])
        return indices[self.rank:self.total_size:self.num_replicas]

    def __len__(self) -> int:
        return self.num_samples


class _InfiniteConstantSampler(Sampler):
    """The index 'sampler' of an IterableDataset: None forever (the stream itself decides the samples)."""

    def __iter__(self):
        return itertools.repeat(None)


# ---------------------------------------------------------------- workers and conversion
from .data_workers import get_worker_info  # noqa: E402  (None in the main process; see data_workers)


def default_convert(data):
    """Arrays (and NumPy scalars) inside `data` become Tensors; the structure is kept.

    The `DataLoader`'s conversion when ``batch_size=None`` (no batching). Tensors,
    numbers, strings and other objects are returned as they are; dicts, lists,
    tuples and namedtuples are converted field by field (a tuple gives a list, as in torch).
    """
    if isinstance(data, Tensor):
        return data
    if _B.is_array(data) or isinstance(data, np.generic):
        if data.dtype.kind in "USO":
            return data  # strings and objects have no Tensor form (torch keeps them too)
        return Tensor(data if _B.is_array(data) else np.asarray(data))
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, collections.abc.Mapping):
        out = {k: default_convert(v) for k, v in data.items()}
        return out if type(data) is dict else _same_mapping(data, out)
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(default_convert(v) for v in data))
    if isinstance(data, (tuple, list)):  # torch: a tuple becomes a list too
        return [default_convert(v) for v in data]
    return data


def _same_mapping(template, values: dict):
    """`values` in the mapping type of `template` (OrderedDict, defaultdict, ...), else a dict."""
    try:
        if isinstance(template, collections.abc.MutableMapping):
            clone = copy.copy(template)  # keeps a defaultdict's factory
            clone.update(values)
            return clone
        return type(template)(values)
    except TypeError:  # the mapping type cannot be built like this
        return values


def _loader_random_sampler(dataset, generator):
    """``RandomSampler(dataset, generator=generator)`` for ``DataLoader(shuffle=True)``.

    As torch's, it refuses an empty dataset (ValueError: num_samples=0) when the loader is built;
    ``shuffle=False`` gives an empty dataset an epoch of no batches.
    """
    return RandomSampler(dataset, generator=generator)
