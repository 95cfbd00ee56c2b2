"""DataLoader(num_workers > 0): batches loaded in worker processes, with torch 2.13's semantics.

Worker processes are forked (cheap: the test process is copied, minigrad already imported);
one test uses 'spawn'. Every test checks that it leaves no worker process behind.
"""
import copy
import gc
import multiprocessing as mp
import os
import pickle
import random
import time

import numpy as np
import pytest

import minigrad as mg
import minigrad.data
from minigrad import backend as B
from minigrad import data_workers
from minigrad.utils import data as D

pytestmark = pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="the tests fork their workers")

W2 = dict(num_workers=2, multiprocessing_context="fork")


def workers_alive():
    return [p for p in mp.active_children() if p.name.startswith("minigrad-data-worker")]


@pytest.fixture(autouse=True)
def no_leaked_workers():
    yield
    gc.collect()  # (persistent workers belong to a loader; a dropped loader stops them)
    assert workers_alive() == []


def as_lists(loader):
    """An epoch as nested lists (Tensors -> lists), for comparing loaders."""
    def plain(x):
        if isinstance(x, mg.Tensor):
            return x.tolist()
        if isinstance(x, (list, tuple)):
            return [plain(v) for v in x]
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        return x
    return [plain(b) for b in loader]


# ---------------------------------------------------------------- datasets (module level: 'spawn' pickles them)
class Squares(D.Dataset):
    def __len__(self):
        return 11

    def __getitem__(self, i):
        return {"x": np.float32(i * i), "i": i}


class Batched(D.Dataset):
    """A dataset with torch's batched-fetch hook."""

    def __len__(self):
        return 9

    def __getitems__(self, indices):
        return [(i, -i) for i in indices]


class WhoLoads(D.Dataset):
    """Each sample says which process loaded it and what its generators gave."""

    def __init__(self, n=8):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        info = D.get_worker_info()
        return {"i": i, "id": info.id, "num_workers": info.num_workers, "seed": info.seed, "pid": os.getpid(),
                "np": float(np.random.rand()), "random": random.random(), "mg": float(mg.rand(1).item()),
                "init_calls": repr(INIT_CALLS), "same_dataset": info.dataset is self}


INIT_CALLS = []  # filled in each worker by record_init (each worker has its own copy)


def record_init(worker_id):
    info = D.get_worker_info()
    INIT_CALLS.append((worker_id, info.id))


class Stream(D.IterableDataset):
    """0..n-1, the same in every worker (no sharding)."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))


class Sharded(D.IterableDataset):
    """Worker w of k reads w, w+k, ... of 0..n-1 plus 3*w extra samples: uneven shards, so workers end apart."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = D.get_worker_info()
        if info is None:
            return iter(range(self.n))
        return iter(range(info.id, self.n + 3 * info.id, info.num_workers))


class Failing(D.Dataset):
    def __init__(self, bad=3, exc=ValueError):
        self.bad, self.exc = bad, exc

    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == self.bad:
            if self.exc is KeyError:
                return {}["missing key"]
            raise self.exc(f"sample {i} is broken")
        return i


class Sleepy(D.Dataset):
    def __init__(self, slow=1, seconds=0.8):
        self.slow, self.seconds = slow, seconds

    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == self.slow:
            time.sleep(self.seconds)
        return i


class Dies(D.Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == 3:
            os._exit(7)  # a crash (segfault, OOM kill) as the main process sees it
        return i


def sum_collate(samples):
    return {"sum": sum(samples), "n": len(samples), "pid": os.getpid()}


# ---------------------------------------------------------------- same batches as num_workers=0
def _epoch(workers, **kw):
    """(len, first epoch) of the loader built from kw (callables make fresh generators), with `workers`."""
    mg.manual_seed(5)  # the host generator: the same state for every loader
    args = {k: (v() if callable(v) and k != "collate_fn" else v) for k, v in kw.items()}
    loader = D.DataLoader(args.pop("dataset"), **args, **workers)
    return len(loader), as_lists(loader)


TENSORS = D.TensorDataset(mg.arange(10), mg.arange(10) * 10.0)
CASES = {
    "sequential": dict(dataset=TENSORS, batch_size=3),
    "shuffle, host generator": dict(dataset=TENSORS, batch_size=3, shuffle=True),
    "shuffle, seeded generator": dict(dataset=TENSORS, batch_size=4, shuffle=True,
                                      generator=lambda: np.random.default_rng(11)),
    "drop_last": dict(dataset=TENSORS, batch_size=4, shuffle=True, seed=3, drop_last=True),
    "batch_sampler": dict(dataset=TENSORS, batch_sampler=lambda: D.BatchSampler(
        D.RandomSampler(TENSORS, generator=np.random.default_rng(2)), 3, drop_last=False)),
    "custom batch_sampler": dict(dataset=TENSORS, batch_sampler=[[9, 0], [4, 4, 4], [1]]),
    "custom sampler": dict(dataset=Squares(), sampler=[10, 0, 5, 5, 2], batch_size=2),
    "weighted sampler": dict(dataset=Squares(), batch_size=3, sampler=lambda: D.WeightedRandomSampler(
        [1.0] * 11, 7, generator=np.random.default_rng(0))),
    "collate_fn": dict(dataset=list(range(10)), batch_size=4, collate_fn=sum_collate),
    "dict samples": dict(dataset=Squares(), batch_size=4),
    "__getitems__": dict(dataset=Batched(), batch_size=4),
    "batch_size=None": dict(dataset=Squares(), batch_size=None, shuffle=True),
    "Subset": dict(dataset=D.Subset(TENSORS, [7, 1, 3, 5]), batch_size=3),
}


@pytest.mark.parametrize("case", list(CASES))
def test_same_batches_as_without_workers(case):
    n_want, want = _epoch({}, **CASES[case])
    n_got, got = _epoch(W2, **CASES[case])
    if case == "collate_fn":  # the collate_fn ran in the workers
        assert {b.pop("pid") for b in got}.isdisjoint({os.getpid()}) and {b.pop("pid") for b in want} == {os.getpid()}
    assert got == want and len(got) > 1
    assert n_got == n_want == len(got)


def test_workers_seed_after_the_epoch_order():
    """The first epoch's order never depends on num_workers (the base seed is drawn after it)."""
    plain = D.DataLoader(TENSORS, batch_size=3, shuffle=True, seed=4)
    workers = D.DataLoader(TENSORS, batch_size=3, shuffle=True, seed=4, **W2)
    assert as_lists(workers) == as_lists(plain)
    assert workers.prefetch_factor == 2 and plain.prefetch_factor is None and workers.num_workers == 2


# ---------------------------------------------------------------- worker info and seeds
def test_get_worker_info_in_workers_and_none_outside():
    assert D.get_worker_info() is None and minigrad.data.get_worker_info is D.get_worker_info
    samples = [s for b in D.DataLoader(WhoLoads(), batch_size=2, **W2) for s in _samples(b)]
    assert [s["i"] for s in samples] == list(range(8))
    assert [s["id"] for s in samples] == [0, 0, 1, 1, 0, 0, 1, 1]  # batch k from worker k % 2, as torch
    assert {s["num_workers"] for s in samples} == {2}
    assert {s["pid"] for s in samples}.isdisjoint({os.getpid()}) and len({s["pid"] for s in samples}) == 2
    seeds = {s["id"]: s["seed"] for s in samples}
    assert seeds[1] == seeds[0] + 1  # base_seed + worker id
    assert all(s["same_dataset"] for s in samples)  # info.dataset is the worker's copy it reads from
    assert D.get_worker_info() is None


def _samples(batch):
    """A collated batch of WhoLoads dicts -> one dict per sample."""
    n = len(batch["i"])
    return [{k: (v[j].item() if isinstance(v, mg.Tensor) and v.ndim == 1 else
                 v[j].tolist() if isinstance(v, mg.Tensor) else v[j]) for k, v in batch.items()} for j in range(n)]


def _draws(loader):
    return [(s["i"], s["id"], s["np"], s["random"], s["mg"]) for b in loader for s in _samples(b)]


def test_seeding_is_reproducible_and_differs_between_workers():
    run = lambda: _draws(D.DataLoader(WhoLoads(), batch_size=2, generator=np.random.default_rng(7), **W2))
    first, again = run(), run()
    assert first == again  # same generator seed: the same random transforms
    by_worker = {w: [d[2:] for d in first if d[1] == w] for w in (0, 1)}
    assert by_worker[0] != by_worker[1]  # workers differ from each other
    other = _draws(D.DataLoader(WhoLoads(), batch_size=2, generator=np.random.default_rng(8), **W2))
    assert [d[2:] for d in other] != [d[2:] for d in first]
    # generator=None: the base seed comes from the host generator, so mg.manual_seed decides it
    mg.manual_seed(1)
    a = _draws(D.DataLoader(WhoLoads(), batch_size=2, **W2))
    mg.manual_seed(1)
    b = _draws(D.DataLoader(WhoLoads(), batch_size=2, **W2))
    assert a == b
    # each iterator draws a new base seed (non-persistent workers): epochs differ
    dl = D.DataLoader(WhoLoads(), batch_size=2, generator=np.random.default_rng(7), **W2)
    assert _draws(dl) != _draws(dl)


def test_worker_generators_are_seeded_as_torch_seeds_them():
    """random: seed; minigrad's host generator: mg.manual_seed(seed); NumPy: torch's SeedSequence state."""
    torch_worker = pytest.importorskip("torch.utils.data._utils.worker")
    samples = list(D.DataLoader(WhoLoads(4), batch_size=None, seed=0, **W2))  # no batching: floats stay float64
    saved = B.get_rng_state()
    try:
        for s in samples[:2]:  # each worker's first sample: its generators fresh from seeding
            seed, wid = s["seed"], s["id"]
            base = seed - wid
            assert s["random"] == random.Random(seed).random()
            assert s["np"] == np.random.RandomState(torch_worker._generate_state(base, wid)).rand()
            mg.manual_seed(seed)
            assert s["mg"] == float(mg.rand(1).item())
    finally:
        B.set_rng_state(saved)


def test_worker_init_fn_runs_once_per_worker_with_its_id():
    INIT_CALLS.clear()
    for persistent in (False, True):
        dl = D.DataLoader(WhoLoads(), batch_size=2, worker_init_fn=record_init, persistent_workers=persistent, **W2)
        for _ in range(2):
            for s in (s for b in dl for s in _samples(b)):
                assert s["init_calls"] == repr([(s["id"], s["id"])])  # called once, with its id, get_worker_info set
        del dl
    assert INIT_CALLS == []  # the workers' calls stayed in the workers


# ---------------------------------------------------------------- persistent workers
def test_persistent_workers_survive_epochs_and_stop_with_the_loader():
    dl = D.DataLoader(WhoLoads(), batch_size=2, persistent_workers=True, seed=0, **W2)
    epochs = [[s for b in dl for s in _samples(b)] for _ in range(3)]
    pids = [{s["pid"] for s in e} for e in epochs]
    assert pids[0] == pids[1] == pids[2] and len(workers_alive()) == 2
    assert epochs[0][0]["seed"] == epochs[2][0]["seed"]  # seeded once, when they started ...
    assert epochs[0][0]["np"] != epochs[1][0]["np"]  # ... and their generators go on
    it = iter(dl)
    next(it)  # an abandoned epoch: its late answers must not leak into the next one
    assert [s["i"] for b in dl for s in _samples(b)] == list(range(8))
    with pytest.raises(RuntimeError, match="superseded"):  # the workers serve one epoch at a time
        next(it)
    del it, dl
    gc.collect()
    assert workers_alive() == []
    # without persistent_workers each epoch has its own workers
    dl = D.DataLoader(WhoLoads(), batch_size=2, **W2)
    assert {s["pid"] for b in dl for s in _samples(b)}.isdisjoint({s["pid"] for b in dl for s in _samples(b)})
    assert workers_alive() == []


def test_persistent_loader_copies_and_pickles_without_its_workers():
    dl = D.DataLoader(D.TensorDataset(mg.arange(6)), batch_size=2, persistent_workers=True, **W2)
    want = as_lists(dl)
    clone = pickle.loads(pickle.dumps(dl))
    assert clone._workers is None and dl._workers is not None
    assert as_lists(clone) == want == as_lists(copy.copy(dl))


# ---------------------------------------------------------------- IterableDataset
def test_iterable_dataset_is_duplicated_per_worker_like_torch():
    got = as_lists(D.DataLoader(Stream(5), batch_size=2, **W2))
    assert got == [[0, 1], [0, 1], [2, 3], [2, 3], [4], [4]]  # one batch from each worker in turn
    assert as_lists(D.DataLoader(Stream(5), batch_size=2, drop_last=True, **W2)) == [[0, 1], [0, 1], [2, 3], [2, 3]]
    assert as_lists(D.DataLoader(Stream(3), batch_size=None, **W2)) == [0, 0, 1, 1, 2, 2]


def test_iterable_dataset_sharded_with_get_worker_info_matches_torch():
    got = as_lists(D.DataLoader(Sharded(7), batch_size=2, **W2))
    assert got == [[0, 2], [1, 3], [4, 6], [5, 7], [9]]  # worker 0 ends first; worker 1 goes on alone
    pytest.importorskip("torch")
    import torch.utils.data as T

    class TSharded(T.IterableDataset):
        def __iter__(self):
            info = T.get_worker_info()
            return iter(range(info.id, 7 + 3 * info.id, info.num_workers))

    assert [b.tolist() for b in T.DataLoader(TSharded(), batch_size=2, num_workers=2)] == got


def test_iterable_dataset_restarts_each_epoch_with_persistent_workers():
    dl = D.DataLoader(Sharded(7), batch_size=3, persistent_workers=True, **W2)
    assert as_lists(dl) == as_lists(dl) == [[0, 2, 4], [1, 3, 5], [6], [7, 9]]


# ---------------------------------------------------------------- errors
def test_worker_exception_is_raised_naming_the_worker():
    with pytest.raises(ValueError) as err:
        list(D.DataLoader(Failing(bad=3), batch_size=1, **W2))
    text = str(err.value)
    assert text.startswith("Caught ValueError in DataLoader worker process 1.\nOriginal Traceback")
    assert "sample 3 is broken" in text and "in __getitem__" in text  # the worker's traceback
    with pytest.raises(KeyError, match="Caught KeyError in DataLoader worker process 0") as err:
        list(D.DataLoader(Failing(bad=4, exc=KeyError), batch_size=2, **W2))
    assert "'missing key'" in str(err.value) and "\\n" not in str(err.value)  # readable, not a repr


def test_worker_exception_of_an_unpicklable_type_and_in_worker_init_fn():
    class LocalError(Exception):  # defined in a function: cannot travel between processes
        pass

    class Broken(D.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            raise LocalError("no pickle for me")

    with pytest.raises(RuntimeError, match="Caught LocalError in DataLoader worker process 0(.|\n)*no pickle"):
        list(D.DataLoader(Broken(), batch_size=2, **W2))

    def bad_init(worker_id):
        if worker_id == 1:
            raise ZeroDivisionError("init failed")

    with pytest.raises(ZeroDivisionError, match="Caught ZeroDivisionError in DataLoader worker process 1"):
        list(D.DataLoader(list(range(6)), batch_size=2, worker_init_fn=bad_init, **W2))


def test_a_batch_that_cannot_be_pickled_is_reported_not_lost():
    def no_pickle(samples):
        return lambda: samples  # a lambda cannot cross the process boundary

    with pytest.raises(Exception, match="Caught .* in DataLoader worker process 0(.|\n)*pickle"):
        list(D.DataLoader(list(range(4)), batch_size=2, collate_fn=no_pickle, timeout=30, **W2))


def test_persistent_workers_keep_working_after_a_worker_exception():
    class FailsOnce(D.Dataset):
        def __len__(self):
            return 6

        def __getitem__(self, i):
            if i == 2 and D.get_worker_info().dataset.__dict__.setdefault("failed", 0) == 0:
                D.get_worker_info().dataset.failed = 1  # (the worker's own copy remembers)
                raise ValueError("once")
            return i

    dl = D.DataLoader(FailsOnce(), batch_size=1, persistent_workers=True, **W2)
    with pytest.raises(ValueError, match="once"):
        list(dl)
    assert as_lists(dl) == [[0], [1], [2], [3], [4], [5]]
    del dl


def test_timeout_raises_naming_the_timeout():
    dl = D.DataLoader(Sleepy(slow=0, seconds=0.8), batch_size=1, timeout=0.2, **W2)
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0.2 seconds \(waiting for batch 0 "
                                           r"from worker 0"):
        list(dl)
    dl = D.DataLoader(Sleepy(slow=1, seconds=0.05), batch_size=1, timeout=5, **W2)
    assert as_lists(dl) == [[i] for i in range(6)]


def test_a_worker_that_dies_is_reported():
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited unexpectedly "
                                           r"\(exit code\(s\) 7"):
        list(D.DataLoader(Dies(), batch_size=1, **W2))


def test_batches_with_cuda_data_are_refused_in_forked_workers(monkeypatch):
    # no GPU needed: the forked workers inherit a backend that places int16 arrays on cuda:0
    host_device_of = B.device_of
    monkeypatch.setattr(B, "device_of", lambda a: "cuda:0" if a.dtype == np.int16 else host_device_of(a))
    rows = [np.full(2, i, dtype=np.int16) for i in range(4)]
    with pytest.raises(RuntimeError, match="Caught RuntimeError in DataLoader worker process 0(.|\n)*"
                                           "DataLoader worker 0 produced a batch with data on cuda:0(.|\n)*"
                                           "forked(.|\n)*multiprocessing_context='spawn'"):
        list(D.DataLoader(rows, batch_size=2, collate_fn=lambda samples: {"rows": samples}, **W2))
    rows = [np.full(2, i, dtype=np.int32) for i in range(4)]  # host arrays pass
    assert len(list(D.DataLoader(rows, batch_size=2, collate_fn=lambda samples: {"rows": samples}, **W2))) == 2


def test_option_errors_match_torch():
    pytest.importorskip("torch")
    import torch.utils.data as T
    ds = list(range(6))
    cases = [
        (ValueError, dict(prefetch_factor=2)), (ValueError, dict(persistent_workers=True)),
        (ValueError, dict(num_workers=2, prefetch_factor=-1)), (ValueError, dict(num_workers=2, timeout=-1)),
        (ValueError, dict(num_workers=2, multiprocessing_context="bogus")),
        (TypeError, dict(num_workers=2, multiprocessing_context=5)),
        (ValueError, dict(multiprocessing_context="fork")),
    ]
    for exc, kw in cases:
        with pytest.raises(exc) as theirs:
            T.DataLoader(ds, **kw)
        with pytest.raises(exc) as ours:
            D.DataLoader(ds, **kw)
        assert str(theirs.value) in str(ours.value), (str(theirs.value), str(ours.value))
    with pytest.raises(ValueError, match="prefetch_factor must be at least 1"):  # torch: AssertionError at iter()
        D.DataLoader(ds, num_workers=2, prefetch_factor=0)
    with pytest.raises(ValueError, match="timeout=1 applies to worker processes"):
        D.DataLoader(ds, timeout=1)
    # what torch keeps: None stays None (Python's default context at iter()), a name becomes its context
    assert D.DataLoader(ds, num_workers=2).multiprocessing_context is None
    assert isinstance(D.DataLoader(ds, **W2).multiprocessing_context, mp.context.ForkContext)


# ---------------------------------------------------------------- clean shutdown
def test_abandoned_iterators_stop_their_workers():
    dl = D.DataLoader(D.TensorDataset(mg.arange(40)), batch_size=2, **W2)
    it = iter(dl)
    next(it)
    assert len(workers_alive()) == 2
    del it  # garbage-collected mid-epoch
    assert workers_alive() == []
    for _ in dl:
        break
    assert workers_alive() == []
    with pytest.raises(ZeroDivisionError):
        for _ in dl:
            1 / 0  # an exception in the training loop
    assert workers_alive() == []
    assert len(as_lists(dl)) == 20  # and the loader still works


def test_interpreter_exit_with_live_workers_does_not_hang(tmp_path):
    script = tmp_path / "exit.py"
    script.write_text(
        "import minigrad as mg\n"
        "from minigrad.data import DataLoader, TensorDataset\n"
        "ds = TensorDataset(mg.arange(100))\n"
        "dl = DataLoader(ds, batch_size=2, num_workers=2, persistent_workers=True)\n"
        "it = iter(dl); next(it)\n"
        "it2 = iter(DataLoader(ds, batch_size=2, num_workers=2)); next(it2)\n"
        "print('done')\n")
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "done", proc.stderr


# ---------------------------------------------------------------- order options
def test_in_order_false_yields_batches_as_they_are_ready():
    dl = D.DataLoader(Sleepy(slow=0, seconds=0.5), batch_size=1, in_order=False, **W2)
    got = [b.item() for b in dl]
    assert sorted(got) == list(range(6)) and got[0] != 0  # the slow first batch came later
    it = iter(dl)
    next(it)
    with pytest.raises(RuntimeError, match="in_order=False"):
        dl.state_dict()  # not a prefix of the epoch: no resumable position
    del it


def test_batch_order_matches_torch_for_the_same_sampler_order():
    pytest.importorskip("torch")
    import torch.utils.data as T
    data = list(range(11))
    ours = D.DataLoader(data, batch_size=3, sampler=D.SequentialSampler(data), **W2)
    theirs = T.DataLoader(data, batch_size=3, sampler=T.SequentialSampler(data), num_workers=2)
    assert [b.tolist() for b in ours] == [b.tolist() for b in theirs]
    order = [9, 3, 3, 0, 7, 1, 10]  # any fixed order: batches keep it, whichever worker finishes first
    ours = D.DataLoader(Sleepy(slow=9, seconds=0.05), batch_size=2, sampler=order, **W2)
    assert [b.tolist() for b in ours] == [b.tolist() for b in T.DataLoader(data, batch_size=2, sampler=order,
                                                                           num_workers=2)]


def test_spawn_context():
    dl = D.DataLoader(Squares(), batch_size=4, shuffle=True, seed=1, num_workers=2, multiprocessing_context="spawn")
    assert as_lists(dl) == as_lists(D.DataLoader(Squares(), batch_size=4, shuffle=True, seed=1))


# ---------------------------------------------------------------- resuming mid-epoch
def _run_epochs(dl, n_epochs, stop_after=None):
    """Epochs as lists of (indices, worker seeds); with stop_after, the last one stops early."""
    out = []
    for e in range(n_epochs):
        epoch = []
        for b in dl:
            epoch.append(([s["i"] for s in _samples(b)], sorted({s["seed"] for s in _samples(b)})))
            if stop_after is not None and e == n_epochs - 1 and len(epoch) == stop_after:
                break
        out.append(epoch)
    return out


@pytest.mark.parametrize("persistent", [False, True])
def test_state_dict_resume_with_workers_equals_an_uninterrupted_run(persistent):
    make = lambda: D.DataLoader(WhoLoads(10), batch_size=2, shuffle=True, seed=3, persistent_workers=persistent,
                                **W2)
    reference = _run_epochs(make(), 4)
    first = make()
    done = _run_epochs(first, 2, stop_after=2)  # epoch 0, then 2 batches of epoch 1
    state = first.state_dict()
    del first
    resumed = make()
    resumed.load_state_dict(pickle.loads(pickle.dumps(state)))
    rest = _run_epochs(resumed, 3)
    assert [i for i, _ in done[1] + rest[0]] == [i for i, _ in reference[1]]  # the same remaining batches
    assert {s for _, seeds in done[1] + rest[0] for s in seeds} == {s for _, seeds in reference[1] for s in seeds}
    assert rest[1:] == reference[2:]  # later epochs: same orders and same worker seeds
    assert done[0] == reference[0]
    del resumed


def test_state_saved_without_workers_resumes_with_workers():
    plain = D.DataLoader(D.TensorDataset(mg.arange(12)), batch_size=3, shuffle=True, seed=9)
    reference = as_lists(D.DataLoader(D.TensorDataset(mg.arange(12)), batch_size=3, shuffle=True, seed=9))
    it = iter(plain)
    head = [next(it)[0].tolist()]
    resumed = D.DataLoader(D.TensorDataset(mg.arange(12)), batch_size=3, shuffle=True, seed=9, **W2)
    resumed.load_state_dict(plain.state_dict())
    assert [head[0]] + [b[0] for b in as_lists(resumed)] == [b[0] for b in reference]


def test_worker_module_api():
    assert data_workers.get_worker_info is D.get_worker_info
    info = data_workers.WorkerInfo(id=1, num_workers=2, seed=5, dataset=None)
    assert (info.id, info.num_workers, info.seed, info.rng, info.worker_method) == (1, 2, 5, None, "multiprocessing")
