"""Feeding data to a model: datasets, a resumable DataLoader, padding, masks and vocabularies.

    ds = TensorDataset(x, y)
    loader = DataLoader(ds, batch_size=32, shuffle=True, seed=0)
    for xb, yb in loader:
        ...
    ckpt = {"loader": loader.state_dict(), ...}     # mid-epoch is fine
    loader.load_state_dict(ckpt["loader"])          # later: the same remaining batches

``DataLoader(..., num_workers=4)`` loads batches in worker processes (see `minigrad.data_workers`).
For text: `Vocab.build` maps tokens to indices, `pad_sequences` makes a batch of
variable-length index lists, and `lengths_to_mask` marks the real positions.
Everything here prepares inputs; none of it records an autograd graph
(except `pad_sequences` on tensors that require grad, see there).
"""
from __future__ import annotations

import math
import itertools
import numbers
import types
from collections import Counter
from collections.abc import Mapping

from . import backend as _B
from . import data_workers
from .autograd import is_grad_enabled
from .tensor import Tensor, tensor

np = _B.np  # index bookkeeping on the host; batches keep their arrays' device

__all__ = ["Dataset", "TensorDataset", "DataLoader", "default_collate", "pad_sequences", "lengths_to_mask",
           "Vocab",
           # torch.utils.data's other names (defined in data_extra.py)
           "IterableDataset", "Subset", "ConcatDataset", "ChainDataset", "StackDataset", "random_split",
           "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
           "BatchSampler", "DistributedSampler", "default_convert", "get_worker_info"]


# ---------------------------------------------------------------- datasets
class Dataset:
    """Base class: a sized collection indexed by 0..len-1 (torch's map-style dataset).

    Subclasses define ``__len__`` and ``__getitem__(i)``. Any object with both
    (a list, for instance) also works with `DataLoader`.
    """

    # torch's Dataset is Generic: typed code writes `class Pairs(Dataset[tuple[Tensor, int]])`
    __class_getitem__ = classmethod(types.GenericAlias)

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other):
        """``a + b``: the samples of `a`, then those of `b` (a `ConcatDataset`)."""
        return ConcatDataset([self, other])


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
        if isinstance(index, (slice, list, Tensor)) or _B.is_array(index):
            # torch indexes every tensor with it: `train_ds[i * bs: i * bs + bs]` is a batch
            idx = index.data if isinstance(index, Tensor) else index
            if not isinstance(idx, slice):
                idx = _B.np.asarray(idx) if isinstance(idx, list) else idx
                if idx.dtype.kind not in "iub" or (idx.dtype.kind == "b" and idx.shape != (n,)):
                    raise TypeError(f"TensorDataset: a list/tensor index must hold ints (or {n} bools), got "
                                    f"{idx.dtype}{list(idx.shape)}")
                where = _B.device_of(idx)
                if where != "cpu":  # as torch: GPU indices index only tensors on that GPU (NumPy cannot read them)
                    for t in self.tensors:
                        on = _B.device_of(t.data if isinstance(t, Tensor) else t)
                        if on != where:
                            raise RuntimeError(f"TensorDataset: indices on {where} cannot index data on {on}; "
                                               "indices should be either on cpu or on the same device as the "
                                               "indexed tensors")
                if idx.dtype.kind != "b" and idx.size:
                    # one read back from a GPU (needed: CuPy wraps out-of-range indices around instead of raising)
                    lo, hi = _B.get_array_module(idx).stack([idx.min(), idx.max()]).tolist()
                    if not (-n <= lo and hi < n):
                        raise IndexError(f"TensorDataset: an index in {index} is out of range for {n} samples")
            return tuple(Tensor(t.data[idx]) if isinstance(t, Tensor) else t[idx] for t in self.tensors)
        if not isinstance(index, numbers.Integral) or isinstance(index, bool):
            raise TypeError(f"TensorDataset: index must be an int, a slice, a list or a tensor of indices, got {type(index).__name__}")
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
        return out  # a list, as default_collate makes of tuple samples (torch's batch type)


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
    Strings (and bytes) are returned as they come: the batch's list at the top, a
    tuple inside a tuple/list field, as torch does. Tuples, lists and dicts (any
    Mapping, whose type is kept) are collated field by field; as in torch, tuple
    and list samples give a *list* of batched fields (``(x, y)`` samples give
    ``[xb, yb]``, so ``batch[0] = batch[0].to(device)`` works), namedtuples keep
    their type.

    Differences from torch's ``default_collate``, both deliberate: Python floats give
    the default float dtype (float32), not float64; and the batch never records an
    autograd graph (torch's stack does when samples require grad).
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
    if isinstance(first, (str, bytes)):  # np.str_ / np.bytes_ too (subclasses): torch keeps strings as they come
        same_kind((str, bytes))
        return samples
    if _B.is_array(first) or isinstance(first, np.generic):
        same_kind((np.ndarray, np.generic) + ((_B.cupy.ndarray,) if _B.cupy is not None else ()))
        if first.dtype.kind in "USOV":  # torch's text: strings/objects have no tensor form
            raise TypeError("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                            f"found {first.dtype}{where}")
        return _stack_arrays([s if _B.is_array(s) else np.asarray(s) for s in samples], where)
    if isinstance(first, (bool, numbers.Number)) and not isinstance(first, complex):
        same_kind((bool, numbers.Number))
        return tensor(list(samples))
    if isinstance(first, Mapping):
        same_kind(Mapping)
        keys = list(first.keys())
        for s in samples:
            if set(s.keys()) != set(keys):
                raise ValueError(f"collate: dict samples have different keys {sorted(map(str, keys))} vs "
                                 f"{sorted(map(str, s.keys()))}{where}")
        out = {k: default_collate([s[k] for s in samples], f"{_where}[{k!r}]") for k in keys}
        return out if type(first) is dict else _same_mapping(first, out)  # OrderedDict stays one
    if isinstance(first, (tuple, list)):
        same_kind((tuple, list))
        n = len(first)
        if any(len(s) != n for s in samples):
            raise ValueError(f"collate: sequence samples have different lengths {[len(s) for s in samples]}{where}")
        # each field as a tuple, as torch's zip(*batch) gives (string fields come back as that tuple)
        fields = [default_collate(tuple(s[i] for s in samples), f"{_where}[{i}]") for i in range(n)]
        if isinstance(first, tuple) and hasattr(first, "_fields"):  # namedtuple: keep the type
            return type(first)(*fields)
        return fields  # torch: tuples and lists both give a list (assignable: batch[0] = ...)
    raise TypeError(f"collate: don't know how to batch samples of type {type(first).__name__}{where}; "
                    "pass a collate_fn")


# ---------------------------------------------------------------- loader
# torch refuses to change these once a DataLoader exists (its batch plan is built from them)
_FROZEN_ATTRS = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")


def _index(i):
    """A sampler's index as the dataset should see it: NumPy ints as Python ints, other keys unchanged."""
    return int(i) if isinstance(i, np.integer) else i


class DataLoader:
    """Iterate over a dataset in (optionally shuffled) batches, resumably: torch's DataLoader.

    Each ``iter(loader)`` (each ``for`` loop) is one epoch. With ``shuffle=True``
    every epoch draws a fresh permutation from an epoch seed: from the loader's own
    NumPy generator when `seed` or `generator` is given, else from minigrad's host
    generator (so ``mg.manual_seed`` makes shuffling reproducible too).

    The position in the data order is state: `state_dict()` taken mid-epoch and
    `load_state_dict()` on a new loader make the next ``iter()`` yield exactly the
    remaining batches of the interrupted epoch, after which epochs continue as an
    uninterrupted loader's would (with ``seed=None`` this also needs the host
    generator restored, e.g. with ``minigrad.backend.set_rng_state``). This works
    whenever minigrad's own samplers decide the order: the default ones, a
    `SequentialSampler`, `RandomSampler`, `SubsetRandomSampler` or
    `WeightedRandomSampler` as `sampler`, or a `BatchSampler` over one of them as
    `batch_sampler`. A custom sampler or an `IterableDataset` keeps its position to
    itself, and `state_dict` refuses.

    torch's options behave as in torch 2.13: `sampler` (any iterable of indices),
    `batch_sampler` (any iterable of index lists), ``batch_size=None`` (no batching:
    each sample goes through `default_convert`), an `IterableDataset` (its stream is
    cut into batches in order), ``len(loader)``, and the same refusals of options that
    exclude each other (torch's wording).

    Worker processes (``num_workers=N > 0``, see `minigrad.data_workers`): the sampler
    runs in the main process and N workers load and collate the batches (`collate_fn`
    runs in the worker), ``prefetch_factor`` (default 2) batches ahead each. Batches
    come out in sampler order, the batches ``num_workers=0`` gives (``in_order=False``:
    in the order they are ready). Each worker seeds minigrad's host generator,
    `random` and NumPy's global generator from a base seed drawn per iterator from the
    loader's generator (or the host one), as torch does, and `get_worker_info()` tells
    the dataset which worker it runs in. An `IterableDataset` is iterated by every
    worker (its own copy: shard it with `get_worker_info`, or the samples repeat), one
    batch from each worker in turn. A worker's exception is raised here, naming the
    worker, with its traceback. ``persistent_workers=True`` keeps the workers between
    epochs; ``timeout`` > 0 makes a late batch a RuntimeError. Workers must return host
    (CPU) data when forked (the default on Linux): CUDA cannot be used in a forked
    process, so move batches to the GPU in the main process. A mid-epoch `state_dict`
    resumes with workers too (same remaining batches; random transforms inside the
    workers restart from the workers' seeds).

    Differences from torch:
        * positional arguments after `shuffle` are minigrad's ``drop_last, seed,
          collate_fn``; pass torch's other options by keyword (as torch code usually does).
        * the workers' base seed is drawn only when there are workers (torch draws one
          at every ``iter()``): one per iterator, after the epoch's order (persistent
          workers: one, once). So a shuffled loader with its own generator gives the same
          first epoch for any `num_workers`, but later epochs differ between
          ``num_workers=0`` and ``num_workers > 0``.
        * ``prefetch_factor=0`` with workers is refused when the loader is built (torch
          fails at ``iter()``); ``state_dict`` mid-epoch is refused with ``in_order=False``.
        * `pin_memory` and `pin_memory_device` are accepted and have no effect.
        * `generator` is a ``numpy.random.Generator`` (a ``torch.Generator`` is refused);
          ``seed=n`` is short for ``generator=numpy.random.default_rng(n)``.
        * with `default_collate`, Python floats give float32 (the default dtype; see there);
          tuple samples give list batches, as in torch.

    Args:
        dataset: a `Dataset` or any object with ``__len__`` and ``__getitem__``
            (``__getitem__`` alone with a custom `sampler`), or an `IterableDataset`.
        batch_size: samples per batch (the last one may be smaller); None: no batching.
        shuffle: a new random order every epoch.
        sampler: the index order, an iterable of indices (excludes `shuffle`).
        batch_sampler: an iterable of index lists, one per batch (excludes
            `batch_size`, `shuffle`, `sampler` and `drop_last`).
        num_workers: worker processes that load batches (0: load in the main process).
        collate_fn: turns a list of samples into a batch (default: `default_collate`).
        pin_memory: accepted, no effect.
        drop_last: drop the last batch when it is smaller than `batch_size`.
        timeout: seconds to wait for a batch from the workers (0: forever; needs num_workers > 0).
        worker_init_fn: called as ``worker_init_fn(worker_id)`` in each worker after seeding.
        multiprocessing_context: how workers start: a start method's name ('fork',
            'spawn', 'forkserver') or a multiprocessing context; None: Python's default
            ('fork' on Linux). Needs num_workers > 0.
        generator: a ``numpy.random.Generator`` for the default `RandomSampler` and the
            workers' base seeds (excludes `seed`).
        prefetch_factor: batches each worker loads ahead (default 2 with workers; None without).
        persistent_workers: keep the workers alive between epochs (needs num_workers > 0).
        pin_memory_device: accepted, no effect.
        in_order: with workers, yield batches in sampler order (True) or as they are ready.
        seed: (keyword-only, minigrad's) seed of the loader's own generator (None: follow ``mg.manual_seed``).
    """

    # torch's positional order (DataLoader(ds, 32, False, sampler) must not read sampler as drop_last);
    # seed, minigrad's own, is keyword-only
    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True, seed=None):
        # worker options first, in torch's order and (where torch has one) with torch's text
        if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral):
            raise TypeError(f"DataLoader: num_workers must be an int, got {num_workers!r}")
        if num_workers < 0:
            raise ValueError("DataLoader: num_workers option should be non-negative; "
                             "use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("DataLoader: timeout option should be non-negative")
        if timeout > 0 and num_workers == 0:
            raise ValueError(f"DataLoader: timeout={timeout} applies to worker processes, and with num_workers=0 "
                             "minigrad loads in the main process (torch also requires timeout == 0 with "
                             "num_workers=0); use timeout=0 or num_workers > 0")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("DataLoader: prefetch_factor option could only be specified in multiprocessing."
                             "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None:
            if isinstance(prefetch_factor, bool) or not isinstance(prefetch_factor, numbers.Integral):
                raise TypeError(f"DataLoader: prefetch_factor must be an int, got {prefetch_factor!r}")
            if prefetch_factor < 0:
                raise ValueError("DataLoader: prefetch_factor option should be non-negative")
            if prefetch_factor == 0:  # torch accepts it here and fails with an AssertionError at iter()
                raise ValueError("DataLoader: prefetch_factor must be at least 1 with num_workers > 0 (each worker "
                                 "needs a batch in hand)")
        if persistent_workers and num_workers == 0:
            raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
        if multiprocessing_context is not None and num_workers == 0:
            raise ValueError("DataLoader: multiprocessing_context can only be used with multi-process loading "
                             f"(num_workers > 0), but got num_workers={num_workers}")
        if multiprocessing_context is not None:  # a name becomes its context (None: Python's default, at iter())
            multiprocessing_context = data_workers.resolve_context(multiprocessing_context)
        if num_workers > 0:
            data_workers.warn_if_too_many(num_workers)

        # the kind of dataset, then the options that exclude each other (torch's checks and texts)
        iterable = isinstance(dataset, IterableDataset)
        if iterable:
            if shuffle not in (False, None):
                raise ValueError("DataLoader with IterableDataset: expected unspecified shuffle option, "
                                 f"but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler option, "
                                 f"but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified batch_sampler option, "
                                 f"but got batch_sampler={batch_sampler}")
        else:
            needs_len = sampler is None and batch_sampler is None  # the default samplers count the samples
            if not hasattr(dataset, "__getitem__") or (needs_len and not hasattr(dataset, "__len__")):
                raise TypeError("DataLoader: dataset must define __len__ and __getitem__ (or be an IterableDataset), "
                                f"got {type(dataset).__name__}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler option is mutually exclusive with batch_size, shuffle, "
                                 "sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("DataLoader: batch_size=None option disables auto-batching and is mutually exclusive "
                             "with drop_last")
        if seed is not None and generator is not None:
            raise ValueError("DataLoader: give seed or generator, not both (seed=n is short for "
                             "generator=numpy.random.default_rng(n))")
        _check_generator("DataLoader", generator)
        rng = generator if generator is not None else (None if seed is None else np.random.default_rng(int(seed)))

        if sampler is None:  # the default samplers
            if iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = _loader_random_sampler(dataset, rng)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)  # checks batch_size and drop_last

        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = shuffle
        self.drop_last = bool(drop_last)
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.seed = None if seed is None else int(seed)
        self.generator = generator
        self._auto_collation = batch_sampler is not None  # batches of samples (else one sample per step)
        self._user_collate = collate_fn is not None       # only the default collation may take get_batch's shortcut
        self.collate_fn = collate_fn if collate_fn is not None else (
            default_collate if self._auto_collation else default_convert)
        self._iterable = iterable
        self.num_workers = int(num_workers)
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context  # None or a context object
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = bool(persistent_workers)
        self.in_order = bool(in_order)
        self._rng = rng                 # the loader's own generator (None: the host one), for the workers' seeds
        self._workers = None            # the live worker pool, kept between epochs with persistent_workers
        self._base_seed = None          # the workers' base seed in the current (or last) epoch
        self._saved_base_seed = None    # the base seed a loaded state brings, for the next pool
        self.epoch = 0              # index of the current (or next) epoch
        self._batch = 0             # batches of the current epoch already handed out
        self._in_epoch = False      # an epoch has started and not yet finished
        self._epoch_seed = None     # seed of the current epoch's order (random samplers only)
        self._order = None          # the current epoch's sample order
        self._resume = False        # the next iter() continues a loaded epoch
        self._initialized = True

    def __setattr__(self, name, value):
        if name in _FROZEN_ATTRS and self.__dict__.get("_initialized", False):
            raise ValueError(f"DataLoader: {name} attribute should not be set after DataLoader is initialized")
        super().__setattr__(name, value)

    def __getstate__(self):
        # live worker processes stay with this loader: a copy or a pickle (which is how a
        # 'spawn' worker receives the loader) starts its own
        state = self.__dict__.copy()
        state["_workers"] = None
        return state

    def __len__(self) -> int:
        """Steps per epoch: batches (or, with ``batch_size=None``, samples), as torch counts them."""
        if self._iterable:
            try:
                n = len(self.dataset)
            except (TypeError, NotImplementedError):
                raise TypeError(f"DataLoader: object of type '{type(self.dataset).__name__}' has no len(): the "
                                "length of a loader over an IterableDataset needs the dataset's __len__") from None
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
        return len(self.batch_sampler if self._auto_collation else self.sampler)

    # ------------------------------------------------------------ iteration
    def _planned_sampler(self):
        """The built-in sampler that decides the order (so it can be saved and replayed), or None."""
        if self._iterable:
            return None
        if self._auto_collation:
            if type(self.batch_sampler) is not BatchSampler:
                return None
            s = self.batch_sampler.sampler
        else:
            s = self.sampler
        return s if isinstance(s, _SeededSampler) and type(s).__iter__ is _SeededSampler.__iter__ else None

    def _steps(self, n):
        if not self._auto_collation:
            return n
        bs = self.batch_sampler.batch_size
        return n // bs if self.batch_sampler.drop_last else math.ceil(n / bs)

    def _start_epoch(self, sampler):
        if self._in_epoch:  # the previous epoch was abandoned part-way: it still counts
            self.epoch += 1
        self._epoch_seed = sampler._epoch_seed()
        self._order = sampler._indices(self._epoch_seed)
        self._batch = 0
        self._in_epoch = True

    def _fetch(self, indices):
        if not self._user_collate and hasattr(self.dataset, "get_batch"):
            return self.dataset.get_batch(indices)
        indices = [_index(i) for i in indices]
        getitems = getattr(self.dataset, "__getitems__", None)  # torch's batched-fetch hook
        samples = getitems(indices) if callable(getitems) else [self.dataset[i] for i in indices]
        return self.collate_fn(samples)

    def _task(self, order, b):
        """What step b of an epoch with sample order `order` loads: a batch's indices, or one index."""
        if not self._auto_collation:
            return order[b]
        bs = self.batch_sampler.batch_size
        return order[b * bs:(b + 1) * bs]

    def _load(self, task):
        """The batch (or, without batching, the converted sample) of one task; runs in a worker if there are any."""
        if not self._auto_collation:
            return self.collate_fn(self.dataset[_index(task)])
        return self._fetch(task)

    def __iter__(self):
        """One epoch's batches: an iterator with torch's ``len(iter(loader))`` (= ``len(loader)``)."""
        return _LoaderIterator(self, self._epoch())

    def _epoch(self):
        sampler = self._planned_sampler()
        if sampler is None:
            yield from self._iter_unplanned()
            return
        resuming = self._resume and self._in_epoch  # continuing a loaded position mid-epoch
        if resuming:
            self._order = sampler._indices(self._epoch_seed)
        else:
            self._start_epoch(sampler)
        self._resume = False
        order = self._order
        tasks = (self._task(order, b) for b in range(self._batch, self._steps(len(order))))
        if self.num_workers == 0:
            batches = map(self._load, tasks)
        else:  # the same tasks, loaded by worker processes (in order unless in_order=False)
            batches = data_workers.worker_batches(self, tasks, resuming=resuming)
        for batch in batches:
            self._batch += 1  # counted before the yield: a checkpoint taken now resumes after it
            yield batch
        self.epoch += 1
        self._batch = 0
        self._in_epoch = False

    def _iter_unplanned(self):
        """An epoch whose order comes from a custom sampler or an IterableDataset's stream."""
        if self._in_epoch:
            self.epoch += 1
        self._batch, self._in_epoch, self._resume = 0, True, False
        if self.num_workers == 0:
            batches = self._unplanned_batches()
        elif self._iterable:  # each worker cuts batches from its own copy of the stream
            batches = data_workers.worker_batches(self, itertools.repeat(None))
        else:  # the sampler runs here; workers load what it picks
            batches = data_workers.worker_batches(self, self.batch_sampler if self._auto_collation else self.sampler)
        for batch in batches:
            self._batch += 1
            yield batch
        self.epoch += 1
        self._batch = 0
        self._in_epoch = False

    def _unplanned_batches(self):
        if self._iterable:
            stream = iter(self.dataset)
            if not self._auto_collation:
                for sample in stream:
                    yield self.collate_fn(sample)
                return
            while True:  # cut the stream into batches, in order
                samples = list(itertools.islice(stream, self.batch_size))
                if not samples or (self.drop_last and len(samples) < self.batch_size):
                    return
                yield self.collate_fn(samples)
        else:
            yield from map(self._load, self.batch_sampler if self._auto_collation else self.sampler)

    # ------------------------------------------------------------ resumable position
    def _resumable_sampler(self, op):
        sampler = self._planned_sampler()
        if sampler is None:
            if self._iterable:
                what = "an IterableDataset, whose position is its stream's own"
            else:
                custom_batches = self._auto_collation and type(self.batch_sampler) is not BatchSampler
                role, obj = ("batch_sampler", self.batch_sampler) if custom_batches else ("sampler", self.sampler)
                what = f"a custom {role} ({type(obj).__name__}), whose state the loader cannot capture"
            raise RuntimeError(f"DataLoader.{op}: this loader reads {what}; a resumable loader takes its order from "
                               "shuffle=True/False or minigrad's built-in samplers (SequentialSampler, RandomSampler, "
                               "SubsetRandomSampler, WeightedRandomSampler, BatchSampler over one of them)")
        return sampler

    def _setup(self, sampler) -> dict:
        return {"num_samples": len(self.dataset) if hasattr(self.dataset, "__len__") else None,
                "batch_size": self.batch_sampler.batch_size if self._auto_collation else None,
                "shuffle": self.shuffle,
                "drop_last": self.batch_sampler.drop_last if self._auto_collation else False,
                "sampler": type(sampler).__name__}

    def state_dict(self) -> dict:
        """The data-order position: epoch, batch index, epoch seed and generator state (save/load-able)."""
        sampler = self._resumable_sampler("state_dict")
        if self.num_workers > 0 and not self.in_order and self._in_epoch and self._batch > 0:
            raise RuntimeError("DataLoader.state_dict: with in_order=False the batches handed out so far are not "
                               "the first ones of the epoch, so the position cannot be saved mid-epoch; use "
                               "in_order=True (the default) for a resumable loader, or save between epochs")
        gen = sampler.generator
        own = self._rng is not None and self._rng is not gen  # the loader's generator, when only the workers use it
        return {
            "epoch": self.epoch,
            "batch": self._batch,
            "in_epoch": self._in_epoch,
            "epoch_seed": self._epoch_seed,
            "rng_state": None if gen is None else gen.bit_generator.state,
            "base_seed": self._base_seed,  # the workers' (None: no workers yet)
            "loader_rng_state": self._rng.bit_generator.state if own else None,
            **self._setup(sampler),
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from `state`: the next ``iter()`` yields the rest of the interrupted epoch."""
        sampler = self._resumable_sampler("load_state_dict")
        gen = sampler.generator
        try:
            for k, v in self._setup(sampler).items():
                saved = state.get(k, v) if k == "sampler" else state[k]  # states saved before samplers lack it
                if saved != v:
                    raise ValueError(f"DataLoader.load_state_dict: the state has {k}={saved!r} but this "
                                     f"loader has {k}={v!r}; resuming would not give the same batches")
            if (state["rng_state"] is None) != (gen is None):
                raise ValueError("DataLoader.load_state_dict: the state was saved from a loader "
                                 f"{'without' if state['rng_state'] is None else 'with'} its own seed or generator, "
                                 f"this loader has seed={self.seed!r}, "
                                 f"{'no' if gen is None else 'a'} generator")
            if gen is not None:
                gen.bit_generator.state = state["rng_state"]
            self.epoch = int(state["epoch"])
            self._batch = int(state["batch"])
            self._in_epoch = bool(state["in_epoch"])
            self._epoch_seed = None if state["epoch_seed"] is None else int(state["epoch_seed"])
            # the workers' seeds (absent from states saved by older versions)
            if state.get("loader_rng_state") is not None and self._rng is not None and self._rng is not gen:
                self._rng.bit_generator.state = state["loader_rng_state"]
            base_seed = state.get("base_seed")
            self._saved_base_seed = None if base_seed is None else int(base_seed)
        except KeyError as e:
            raise ValueError(f"DataLoader.load_state_dict: the state has no {e.args[0]!r} entry") from None
        self._order = None
        self._resume = True
        if self._workers is not None:  # persistent workers seeded for another position: the next epoch starts new ones
            self._workers.shutdown()
            self._workers = None

    def __repr__(self):
        try:
            data = f"dataset of {len(self.dataset)}"
        except (TypeError, NotImplementedError):
            data = f"dataset {type(self.dataset).__name__}"
        return (f"DataLoader({data}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, seed={self.seed})")


class _LoaderIterator:
    """What ``iter(loader)`` returns: the epoch's batches, lazily, plus torch's ``__len__``."""

    def __init__(self, loader, batches):
        self._loader, self._batches = loader, batches

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._batches)

    def __len__(self) -> int:
        return len(self._loader)

    def close(self):
        """Abandon the epoch now (stops its worker processes), as closing a generator does."""
        self._batches.close()


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


# torch.utils.data's wrappers and samplers live in data_extra (imported last: it subclasses Dataset)
from .data_extra import (  # noqa: E402
    BatchSampler, ChainDataset, ConcatDataset, DistributedSampler, IterableDataset, RandomSampler, Sampler,
    SequentialSampler, StackDataset, Subset, SubsetRandomSampler, WeightedRandomSampler, _check_generator, _InfiniteConstantSampler,
    _loader_random_sampler, _same_mapping, _SeededSampler, default_convert, get_worker_info, random_split,
)
