"""Worker processes for `DataLoader(num_workers=N)`: torch's multi-process loading, in one file.

The main process decides *what* to load; the workers load it:

    main process                                        worker i (one of N)
    ------------                                        -------------------
    sampler -> task k (a batch's indices) --index queue i--> batch = collate([dataset[j] for j in task])
    batch k <- reorder by k <------------ result queue (shared) --- (epoch, k, i, pickled batch or error)

* Task k goes to worker ``k mod N`` (round-robin over the workers still running),
  and at most ``prefetch_factor * N`` tasks are out at once: one new task is sent
  for every batch handed to the caller.
* Results come back in whatever order the workers finish; the main process keeps
  early ones until their turn, so batches come out in sampler order
  (``in_order=False``: as they arrive).
* An `IterableDataset` has no indices: each task says "your next batch", and
  every worker cuts batches from its *own copy* of the stream (the same samples
  in every worker unless the dataset splits itself with `get_worker_info`). A
  worker whose stream ends answers "end" and gets no more tasks that epoch.
* An exception in a worker travels back as text (type, message, traceback) and is
  raised in the main process when its batch's turn comes, naming the worker.
* Each result is tagged with its epoch, so answers to an abandoned epoch (possible
  with ``persistent_workers=True``) are recognised and dropped.

Seeds follow torch: each pool of workers gets a ``base_seed`` drawn from the
loader's generator (or minigrad's host generator), and worker i seeds minigrad's
host generator and Python's `random` with ``base_seed + i`` and NumPy's global
generator from (base_seed, i) exactly as torch does (a SeedSequence), so random
transforms in ``__getitem__`` are reproducible and differ between workers.

Batches cross the process boundary pickled (minigrad Tensors pickle with their arrays),
through a pipe: a copy per batch. That pays off when loading a sample is slow (files,
decoding, augmentation); for data already in memory (a `TensorDataset`) the main
process is faster on its own. A forked worker must return host (CPU) data: CUDA
cannot be used in a forked process, so batches go to the GPU in the main process.

Workers are daemon processes, stopped at the end of each epoch (or, with
``persistent_workers=True``, when the loader is garbage-collected or Python
exits), when an iterator is abandoned, and on errors; a worker whose main process
died exits by itself.
"""
from __future__ import annotations

import itertools
import multiprocessing
import os
import pickle
import queue
import random
import sys
import time
import traceback
import warnings
import weakref
from collections.abc import Mapping
from dataclasses import dataclass

from . import backend as _B
from .tensor import Tensor

np = _B.np  # seeds only; batches are whatever the dataset and collate_fn make

__all__ = ["WorkerInfo", "get_worker_info"]

_SEED_HIGH = 2 ** 63 - 1  # base seeds are drawn from [0, 2**63 - 1), like the loader's epoch seeds
_POLL_S = 0.5             # how often a waiting process checks that the other side is still alive
_JOIN_S = 2.0             # how long a shutdown waits for workers to exit before terminating them


# ---------------------------------------------------------------- the worker's side
@dataclass(frozen=True)
class WorkerInfo:
    """What `get_worker_info()` returns inside a worker (torch's fields).

    Attributes:
        id: this worker's index, 0 .. num_workers - 1.
        num_workers: how many workers the loader runs.
        seed: this worker's seed (``base_seed + id``).
        dataset: this worker's copy of the dataset (changing it affects this worker only).
        rng: always None (torch's thread workers use it).
        worker_method: always ``"multiprocessing"``.
    """

    id: int
    num_workers: int
    seed: int
    dataset: object
    rng: object = None
    worker_method: str = "multiprocessing"


_worker_info = None  # set once in each worker process


def get_worker_info():
    """Information about the current DataLoader worker process; None in the main process.

    Inside a worker (in the dataset's ``__getitem__``/``__iter__``, `collate_fn` or
    `worker_init_fn`) returns a `WorkerInfo` with ``id``, ``num_workers``, ``seed``
    and ``dataset``. An `IterableDataset` uses it to give each worker its own share
    of the stream, e.g. ``itertools.islice(stream, info.id, None, info.num_workers)``.
    """
    return _worker_info


def _seed_worker(base_seed: int, worker_id: int) -> int:
    """Seed this process's generators for worker `worker_id`, as torch's workers do; returns the seed."""
    seed = base_seed + worker_id
    random.seed(seed)
    # torch seeds NumPy from (worker_id, base_seed) through a SeedSequence (since 1.9), not with
    # `seed` itself, so NumPy's stream is unrelated to `random`'s; this is that same state
    np.random.seed(np.random.SeedSequence([worker_id, base_seed & 0xFFFFFFFF, base_seed >> 32, 0]).generate_state(4))
    # minigrad's host generator, as mg.manual_seed(seed) would set it; CuPy's generator is left
    # alone because touching CUDA in a forked child fails (minigrad's GPU randomness is seeded
    # from the host generator anyway, see backend.random_uniform)
    _B.set_rng_state({"numpy": np.random.default_rng(seed).bit_generator.state})
    return seed


def _worker_loop(loader, worker_id, num_workers, base_seed, forked, index_queue, result_queue, stopping):
    """A worker's whole life: seed, run `worker_init_fn`, then answer tasks until told to stop."""
    global _worker_info
    # results this worker has not yet flushed to the pipe when it exits are never wanted (it exits
    # only when told to stop, or when the main process is gone), and waiting to flush them could
    # block forever if nobody reads the pipe any more
    result_queue.cancel_join_thread()
    try:
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers,
                                  seed=_seed_worker(base_seed, worker_id), dataset=loader.dataset)
        setter = _B._blas_threads_setter()
        if setter is not None:  # one BLAS thread per worker (torch: set_num_threads(1)): N workers share the cores
            setter(1)
        init_error = None
        try:
            if loader.worker_init_fn is not None:
                loader.worker_init_fn(worker_id)
        except Exception:
            init_error = _WorkerError.capture(worker_id, forked)  # reported as the answer to the first task

        parent = os.getppid()
        stream_epoch, stream, ended = None, None, False
        while True:
            try:
                message = index_queue.get(timeout=_POLL_S)
            except queue.Empty:
                if os.getppid() != parent:  # the main process died: don't linger as an orphan
                    return
                continue
            if message is None:  # shutdown
                break
            epoch, task_id, task = message
            if stopping.is_set():  # shutting down: skip the tasks still queued
                continue
            if loader._iterable and epoch != stream_epoch:  # a new epoch: a fresh pass over this worker's copy
                stream_epoch, stream, ended = epoch, loader._unplanned_batches(), False
            if ended:  # this worker's stream is over for this epoch (the main process knows)
                continue
            if init_error is not None:
                kind, value, init_error = "error", init_error, None
            else:
                kind, value = _answer(loader, task, stream, worker_id, forked)
                ended = kind == "end"
            result_queue.put((epoch, task_id, worker_id, kind, value))
            del value  # don't keep the last batch alive while waiting for the next task
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the main process reports it
        pass


def _answer(loader, task, stream, worker_id, forked):
    """One task's answer: ("batch", the pickled batch), ("end", None) when the stream is over, or ("error", ...)."""
    try:
        if loader._iterable:
            try:
                batch = next(stream)
            except StopIteration:
                return "end", None
        else:
            batch = loader._load(task)
        if forked:
            _refuse_cuda(batch, worker_id)
        return "batch", pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)  # pickled here: a failure is reported
    except Exception:
        return "error", _WorkerError.capture(worker_id, forked)


def _refuse_cuda(batch, worker_id):
    """Raise if `batch` holds CUDA data: CUDA cannot be used in a forked child (as in torch)."""
    device = _cuda_device_in(batch)
    if device is not None:
        raise RuntimeError(
            f"DataLoader worker {worker_id} produced a batch with data on {device}: CUDA cannot be used in a "
            "forked worker process. Return host (CPU) data from the dataset and move each batch to the GPU in "
            "the main process (xb.to('cuda') in the training loop), or pass multiprocessing_context='spawn'")


def _cuda_device_in(obj):
    """The device of the first CUDA array inside `obj` (Tensors, arrays, nested containers), or None."""
    if isinstance(obj, Tensor):
        obj = obj.data
    if _B.is_array(obj):
        device = _B.device_of(obj)
        return None if device == "cpu" else device
    if isinstance(obj, Mapping):
        obj = list(obj.values())
    if isinstance(obj, (list, tuple)):
        return next((d for d in map(_cuda_device_in, obj) if d is not None), None)
    return None


class _WorkerError:
    """An exception caught in a worker, as text that crosses the process boundary.

    `reraise` raises it in the main process in torch's words: ``Caught ValueError in
    DataLoader worker process 0.`` then ``Original Traceback (most recent call last):``
    and the worker's traceback. The exception type is kept when it can be pickled
    and built from one message (else RuntimeError).
    """

    def __init__(self, exc_type, type_name, worker_id, text):
        self.exc_type, self.type_name, self.worker_id, self.text = exc_type, type_name, worker_id, text

    @classmethod
    def capture(cls, worker_id, forked):
        """The exception being handled now (call inside ``except``)."""
        exc_type, exc, tb = sys.exc_info()
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        if forked and type(exc).__module__.split(".")[0] in ("cupy", "cupy_backends"):
            text += ("\nCUDA cannot be used in a forked DataLoader worker (torch has the same rule): keep the "
                     "dataset's data on the host and move batches to the GPU in the main process, or pass "
                     "multiprocessing_context='spawn'.\n")
        name = exc_type.__name__
        try:
            pickle.dumps(exc_type)
        except Exception:  # a class defined inside a function: only its name can travel
            exc_type = None
        return cls(exc_type, name, worker_id, text)

    def reraise(self):
        msg = f"Caught {self.type_name} in DataLoader worker process {self.worker_id}.\nOriginal {self.text}"
        if self.exc_type is KeyError:
            msg = _KeyErrorMessage(msg)  # KeyError would show the repr(): one line full of \n
        try:
            exc = (self.exc_type or RuntimeError)(msg)
        except Exception:  # a type that needs other arguments
            raise RuntimeError(msg) from None
        raise exc


class _KeyErrorMessage(str):
    def __repr__(self):
        return str(self)


# ---------------------------------------------------------------- the main process's side
def resolve_context(multiprocessing_context):
    """`multiprocessing_context` as a context object: None -> Python's default (torch's rule), a name -> its context."""
    if multiprocessing_context is None:
        return multiprocessing.get_context()  # 'fork' on Linux (Python < 3.14), 'spawn' on macOS and Windows
    if isinstance(multiprocessing_context, str):
        methods = multiprocessing.get_all_start_methods()
        if multiprocessing_context not in methods:
            raise ValueError(f"DataLoader: multiprocessing_context option should specify a valid start method in "
                             f"{methods!r}, but got multiprocessing_context={multiprocessing_context!r}")
        return multiprocessing.get_context(multiprocessing_context)
    if not isinstance(multiprocessing_context, multiprocessing.context.BaseContext):
        raise TypeError("DataLoader: multiprocessing_context option should be a valid context object or a string "
                        f"specifying the start method, but got multiprocessing_context={multiprocessing_context}")
    return multiprocessing_context


def warn_if_too_many(num_workers):
    """torch's warning when the workers outnumber the CPUs this process may use."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count()
    if cpus and num_workers > cpus:
        warnings.warn(f"This DataLoader will create {num_workers} worker processes in total. Our suggested max "
                      f"number of worker in current system is {cpus}, which is smaller than what this DataLoader "
                      "is going to create. Please be aware that excessive worker creation might get DataLoader "
                      "running slow or even freeze, lower the worker number to avoid potential slowness/freeze "
                      "if necessary.", UserWarning, stacklevel=3)


def base_seed_for(loader, resuming: bool) -> int:
    """The base seed of a new pool of workers: drawn from the loader's generator (else the host one).

    A position loaded with `load_state_dict` brings the seed its workers had, so that
    resuming draws nothing the uninterrupted run did not: it is used for the rest of the
    loaded epoch, and (with persistent workers, which keep one seed for good) from then on.
    """
    saved, loader._saved_base_seed = loader._saved_base_seed, None
    if saved is not None and (resuming or loader.persistent_workers):
        return saved
    rng = loader._rng if loader._rng is not None else _B.host_rng()
    return int(rng.integers(0, _SEED_HIGH))


def worker_batches(loader, tasks, resuming: bool = False):
    """The batches of `tasks` (an iterable of index lists, or of None for an IterableDataset), loaded by workers.

    A generator: the workers start (or, persistent, are reused) on the first ``next``,
    and non-persistent workers stop when it ends, fails or is closed (garbage-collected).
    """
    pool = loader._workers if loader.persistent_workers else None
    if pool is None or not pool.usable:
        pool = _WorkerPool(loader, base_seed_for(loader, resuming))
        if loader.persistent_workers:
            loader._workers = pool
    loader._base_seed = pool.base_seed
    try:
        yield from pool.run(tasks)
    finally:
        if not loader.persistent_workers:
            pool.shutdown()


class _WorkerPool:
    """N worker processes with an index queue each and one shared result queue."""

    def __init__(self, loader, base_seed: int):
        ctx = resolve_context(loader.multiprocessing_context)
        self.base_seed = base_seed
        self.num_workers = loader.num_workers
        self.prefetch = loader.prefetch_factor
        self.in_order = loader.in_order
        self.timeout = loader.timeout
        self.epoch = 0  # bumped by each run(); results carry it
        self.usable = True
        self._result_queue = ctx.Queue()
        self._stopping = ctx.Event()
        self._index_queues, self._processes = [], []
        # stops the workers when shutdown() is called, the pool is garbage-collected, or Python exits
        self._finalizer = weakref.finalize(self, _stop_workers, self._processes, self._index_queues,
                                           self._result_queue, self._stopping)
        forked = ctx.get_start_method() == "fork"
        try:
            for i in range(self.num_workers):
                index_queue = ctx.Queue()
                index_queue.cancel_join_thread()  # never block exit on tasks a dead worker will not read
                p = ctx.Process(target=_worker_loop, daemon=True, name=f"minigrad-data-worker-{i}",
                                args=(loader, i, self.num_workers, base_seed, forked, index_queue,
                                      self._result_queue, self._stopping))
                self._index_queues.append(index_queue)
                p.start()  # ('spawn' pickles the loader here; DataLoader.__getstate__ leaves live workers out)
                self._processes.append(p)
        except BaseException as e:
            self.shutdown()  # the workers that did start
            unpicklable = isinstance(e, (pickle.PicklingError, AttributeError, TypeError))
            if unpicklable and not forked and hasattr(e, "add_note"):  # (add_note: Python >= 3.11)
                e.add_note(f"DataLoader: with multiprocessing_context={ctx.get_start_method()!r} each worker gets a "
                           "pickled copy of the loader (dataset, collate_fn, worker_init_fn, samplers): define them "
                           "at module level (no lambdas or local classes), or use 'fork'")
            raise

    def shutdown(self):
        self.usable = False
        self._finalizer()  # runs _stop_workers once; later calls do nothing

    # ------------------------------------------------------------ one epoch
    def run(self, tasks):
        """Send `tasks` to the workers and yield their batches (in task order unless in_order=False)."""
        self.epoch += 1
        epoch, n = self.epoch, self.num_workers
        tasks = iter(tasks)
        active = [True] * n     # workers whose stream has not ended (always all, for map-style datasets)
        in_flight = [0] * n     # tasks sent to each worker and not yet answered
        turn = itertools.cycle(range(n))  # every epoch starts at worker 0
        waiting = {}            # task id -> worker: sent, no answer yet
        ready = {}              # task id -> answer: arrived before its turn
        sent = 0
        no_more_tasks = False

        def send_one():
            nonlocal sent, no_more_tasks
            if no_more_tasks:
                return
            # the next worker in turn that is still active (in_order=False: and has less than its share of tasks)
            limit = self.prefetch * n // max(1, sum(active))
            free = (w for w in itertools.islice(turn, n) if active[w] and (self.in_order or in_flight[w] < limit))
            worker = next(free, None)
            if worker is None:
                return
            task = next(tasks, _NO_TASK)  # (the sampler runs here, in the main process)
            if task is _NO_TASK:
                no_more_tasks = True
                return
            self._index_queues[worker].put((epoch, sent, task))
            waiting[sent] = worker
            in_flight[worker] += 1
            sent += 1

        for _ in range(self.prefetch * n):
            send_one()
        while waiting or ready:
            if self.epoch != epoch:
                raise RuntimeError("DataLoader: this iterator was superseded: a loader with persistent_workers=True "
                                   "runs one epoch at a time, and a newer iter(loader) took its workers")
            turn_id = min(itertools.chain(waiting, ready))  # in order: the oldest task not yet yielded
            if self.in_order and turn_id in ready:
                kind, value = ready.pop(turn_id)
            else:
                task_id, worker, kind, value = self._receive(epoch, turn_id, waiting)
                del waiting[task_id]
                in_flight[worker] -= 1
                if kind == "end":  # that worker's stream is over: its other tasks will get no answer
                    active[worker] = False
                    for t in [t for t, w in waiting.items() if w == worker]:
                        del waiting[t]
                        in_flight[worker] -= 1
                    send_one()
                    continue
                if self.in_order and task_id != turn_id:
                    ready[task_id] = (kind, value)
                    continue
            send_one()  # keep prefetch_factor * N tasks out
            if kind == "error":
                value.reraise()
            yield pickle.loads(value)

    def _receive(self, epoch, turn_id, waiting):
        """The next answer of this epoch from the result queue; raises on timeout or a dead worker."""
        deadline = time.monotonic() + self.timeout if self.timeout > 0 else None
        while True:
            wait = _POLL_S if deadline is None else max(0.0, min(_POLL_S, deadline - time.monotonic()))
            try:
                answer = self._result_queue.get(timeout=wait)
            except queue.Empty:
                dead = [p for p in self._processes if not p.is_alive()]
                if dead:
                    self.shutdown()
                    pids = ", ".join(str(p.pid) for p in dead)
                    codes = ", ".join(str(p.exitcode) for p in dead)
                    raise RuntimeError(f"DataLoader worker (pid(s) {pids}) exited unexpectedly (exit code(s) "
                                       f"{codes}); a negative code is the signal that killed it (-9: often "
                                       "the out-of-memory killer)") from None
                if deadline is not None and time.monotonic() >= deadline:
                    raise RuntimeError(f"DataLoader timed out after {self.timeout} seconds (waiting for batch "
                                       f"{turn_id} from worker {waiting.get(turn_id, '?')})") from None
                continue
            if answer[0] == epoch:  # else: a late answer to an abandoned epoch
                return answer[1:]


_NO_TASK = object()


def _stop_workers(processes, index_queues, result_queue, stopping):
    """Stop a pool's workers: ask politely, wait a little, then terminate the ones still busy."""
    stopping.set()  # workers skip the tasks still queued
    for q in index_queues:
        try:
            q.put(None)
        except (OSError, ValueError):  # queue already closed
            pass
    deadline = time.monotonic() + _JOIN_S
    for p in processes:
        p.join(timeout=max(0.0, deadline - time.monotonic()))
    for p in processes:
        if p.is_alive():  # stuck in a long __getitem__ (or a hung dataset)
            p.terminate()
            p.join(timeout=_POLL_S)
    for q in index_queues + [result_queue]:
        q.cancel_join_thread()
        q.close()
