"""torch.utils.data parity: minigrad.utils.data's datasets, samplers, random_split and DataLoader options.

Deterministic behaviour (orders, lengths, batch structures, error texts) is compared with torch's own
classes; the random samplers are checked for their laws (permutation, partition, support, frequencies)
and for reproducibility under mg.manual_seed or a NumPy generator, since minigrad's random streams are
NumPy's, not torch's.
"""
import warnings
from collections import OrderedDict, defaultdict, namedtuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import minigrad.data
from minigrad import backend as B
from minigrad.utils import data as D

torch = pytest.importorskip("torch")
import torch.utils.data as T  # noqa: E402


# ---------------------------------------------------------------- helpers
def plain(x):
    """A batch as plain Python/NumPy values, for comparing minigrad's with torch's.

    Tensors become (kind, array) with the dtype kind ('f', 'i', 'b'), tuples become lists (so string
    fields, which torch returns as tuples, compare with lists), mappings keep their type.
    """
    if isinstance(x, mg.Tensor):
        return ("tensor", x.numpy().dtype.kind, x.numpy().tolist())
    if isinstance(x, torch.Tensor):
        return ("tensor", x.numpy().dtype.kind, x.numpy().tolist())
    if isinstance(x, dict):
        return (type(x).__name__, {k: plain(v) for k, v in x.items()})
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return (type(x).__name__, [plain(v) for v in x])
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    return x


def same_error(ours, theirs, exc=ValueError):
    """Both raise `exc`, and torch's message appears in ours (ours also names the op)."""
    with pytest.raises(exc) as got:
        theirs()
    with pytest.raises(exc) as mine:
        ours()
    assert str(got.value) in str(mine.value), (str(got.value), str(mine.value))


class Stream(D.IterableDataset):
    def __init__(self, n, with_len=True):
        self.n, self.with_len = n, with_len

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        if not self.with_len:
            raise TypeError(f"object of type '{type(self).__name__}' has no len()")
        return self.n


class TStream(T.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


# torch's twin of NoLen below, under the same name (torch's message names the class)
TNoLen = type("NoLen", (T.IterableDataset,), {"__iter__": lambda self: iter(range(5))})


class NoLen(D.IterableDataset):
    def __iter__(self):
        return iter(range(5))


# ---------------------------------------------------------------- import paths
def test_utils_data_is_minigrad_data():
    import minigrad.utils.data as utils_data
    from minigrad.utils.data import DataLoader, TensorDataset, random_split
    assert utils_data is minigrad.data is mg.utils.data
    assert DataLoader is minigrad.data.DataLoader and TensorDataset is minigrad.data.TensorDataset
    assert random_split is minigrad.data.random_split
    for name in ["IterableDataset", "Subset", "ConcatDataset", "ChainDataset", "StackDataset", "Sampler",
                 "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
                 "BatchSampler", "default_collate", "default_convert", "get_worker_info"]:
        assert hasattr(T, name) and getattr(utils_data, name) is getattr(minigrad.data, name)
    assert issubclass(D.IterableDataset, D.Dataset) and issubclass(D.BatchSampler, D.Sampler)


# ---------------------------------------------------------------- datasets
def test_subset_concat_stack_match_torch():
    base = list(range(10, 20))
    ours, theirs = D.Subset(base, [3, 1, 7]), T.Subset(base, [3, 1, 7])
    assert len(ours) == len(theirs) == 3
    assert [ours[i] for i in range(-3, 3)] == [theirs[i] for i in range(-3, 3)]
    assert ours.__getitems__([2, 0]) == theirs.__getitems__([2, 0])

    parts = [list(range(3)), list(range(10, 12)), [], list(range(20, 24))]
    ours, theirs = D.ConcatDataset(parts), T.ConcatDataset(parts)
    assert len(ours) == len(theirs) == 9 and ours.cumulative_sizes == theirs.cumulative_sizes
    assert [ours[i] for i in range(-9, 9)] == [theirs[i] for i in range(-9, 9)]
    same_error(lambda: ours[-10], lambda: theirs[-10])
    with pytest.raises(IndexError, match="out of range"):
        ours[9]
    with pytest.raises(ValueError, match="empty iterable"):
        D.ConcatDataset([])
    with pytest.raises(ValueError, match="does not support IterableDataset"):
        D.ConcatDataset([base, Stream(3)])
    added = D.TensorDataset(mg.arange(3)) + D.TensorDataset(mg.arange(5, 7))
    assert isinstance(added, D.ConcatDataset) and [added[i][0].item() for i in range(5)] == [0, 1, 2, 5, 6]

    a, b = list("abcd"), list(range(4))
    assert [D.StackDataset(a, b)[i] for i in range(4)] == [T.StackDataset(a, b)[i] for i in range(4)]
    assert D.StackDataset(x=a, y=b)[2] == T.StackDataset(x=a, y=b)[2] == {"x": "c", "y": 2}
    assert len(D.StackDataset(a, b)) == 4
    same_error(lambda: D.StackDataset(a, [1]), lambda: T.StackDataset(a, [1]))
    same_error(lambda: D.StackDataset(a, y=b), lambda: T.StackDataset(a, y=b))
    same_error(lambda: D.StackDataset(), lambda: T.StackDataset())


def test_iterable_and_chain_datasets():
    ours = D.ChainDataset([Stream(3), Stream(2)])
    theirs = T.ChainDataset([TStream(3), TStream(2)])
    assert list(ours) == list(theirs) == [0, 1, 2, 0, 1] and len(ours) == len(theirs) == 5
    assert list(Stream(2) + Stream(3)) == [0, 1, 0, 1, 2] and isinstance(Stream(1) + Stream(1), D.ChainDataset)
    with pytest.raises(TypeError, match="only supports IterableDataset"):
        list(D.ChainDataset([Stream(1), [1, 2]]))
    with pytest.raises(NotImplementedError, match="__iter__"):
        iter(D.IterableDataset())


# ---------------------------------------------------------------- random_split
@given(n=st.integers(0, 30), fracs=st.lists(st.integers(0, 10), min_size=1, max_size=5))
def test_random_split_fraction_lengths_match_torch(n, fracs):
    total = sum(fracs)
    if total == 0:
        return
    fractions = [f / total for f in fracs]
    if not (abs(sum(fractions) - 1) < 1e-9 and sum(fractions) <= 1):
        fractions[-1] = 1 - sum(fractions[:-1])  # exactly what a user writes: the rest
    with warnings.catch_warnings(record=True) as ours_w:
        warnings.simplefilter("always")
        ours = D.random_split(list(range(n)), fractions)
    with warnings.catch_warnings(record=True) as theirs_w:
        warnings.simplefilter("always")
        theirs = T.random_split(list(range(n)), fractions)
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    assert [str(w.message) for w in ours_w] == [str(w.message) for w in theirs_w]


@given(lengths=st.lists(st.integers(0, 6), min_size=1, max_size=5), seed=st.integers(0, 2 ** 32),
       use_generator=st.booleans())
def test_random_split_partitions_the_indices(lengths, seed, use_generator):
    n = sum(lengths)
    ds = list(range(100, 100 + n))
    if use_generator:
        parts = D.random_split(ds, lengths, generator=np.random.default_rng(seed))
        again = D.random_split(ds, lengths, generator=np.random.default_rng(seed))
    else:
        mg.manual_seed(seed)
        parts = D.random_split(ds, lengths)
        mg.manual_seed(seed)
        again = D.random_split(ds, lengths)
    assert [len(p) for p in parts] == lengths
    assert [p.indices for p in parts] == [p.indices for p in again]  # reproducible
    flat = [i for p in parts for i in p.indices]
    assert sorted(flat) == list(range(n))  # disjoint and covering: a partition
    for p in parts:
        assert isinstance(p, D.Subset) and p.dataset is ds
        assert [p[i] for i in range(len(p))] == [ds[i] for i in p.indices]


def test_random_split_errors_and_randomness():
    ds = list(range(10))
    same_error(lambda: D.random_split(ds, [3, 3]), lambda: T.random_split(ds, [3, 3]))
    same_error(lambda: D.random_split(ds, [1.2, -0.2]), lambda: T.random_split(ds, [1.2, -0.2]))
    with pytest.raises(ValueError, match="non-negative"):
        D.random_split(ds, [-1, 11])  # torch returns splits of 9 and 1 here
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        D.random_split(ds, [5, 5], generator=torch.Generator().manual_seed(0))
    mg.manual_seed(0)
    first = D.random_split(ds, [5, 5])[0].indices
    second = D.random_split(ds, [5, 5])[0].indices  # the host generator moved on
    assert first != second


# ---------------------------------------------------------------- samplers
def test_sequential_and_batch_sampler_match_torch():
    for n in (0, 1, 7, 12):
        assert list(D.SequentialSampler(range(n))) == list(T.SequentialSampler(range(n)))
        assert len(D.SequentialSampler(range(n))) == n
        for bs in (1, 3, 5, 13):
            for drop_last in (False, True):
                ours = D.BatchSampler(D.SequentialSampler(range(n)), bs, drop_last)
                theirs = T.BatchSampler(T.SequentialSampler(range(n)), bs, drop_last)
                assert list(ours) == list(theirs) and len(ours) == len(theirs)
                # any iterable of indices works as the inner sampler
                assert list(D.BatchSampler([5, 3, 1, 4], bs, drop_last)) == list(T.BatchSampler([5, 3, 1, 4], bs,
                                                                                                drop_last))
    for bs, drop_last in [(0, False), (-2, False), (True, False), (2.0, False), (2, 1), (2, None)]:
        same_error(lambda: D.BatchSampler(range(4), bs, drop_last), lambda: T.BatchSampler(range(4), bs, drop_last))


@given(n=st.integers(0, 25), bs=st.integers(1, 6), drop_last=st.booleans(), seed=st.integers(0, 2 ** 32))
def test_batch_sampler_covers_every_index_once(n, bs, drop_last, seed):
    sampler = D.RandomSampler(range(n), generator=np.random.default_rng(seed)) if n else D.SequentialSampler([])
    batches = list(D.BatchSampler(sampler, bs, drop_last))
    flat = [i for b in batches for i in b]
    assert len(batches) == len(D.BatchSampler(sampler, bs, drop_last))
    assert all(len(b) == bs for b in batches[:-1]) and all(1 <= len(b) <= bs for b in batches)
    assert len(set(flat)) == len(flat) and set(flat) <= set(range(n))  # no index twice
    if drop_last:
        assert len(flat) == (n // bs) * bs and all(len(b) == bs for b in batches)
    else:
        assert sorted(flat) == list(range(n))  # every index exactly once


def test_random_sampler_laws_lengths_and_errors():
    mg.manual_seed(3)
    a, b = list(D.RandomSampler(range(9))), list(D.RandomSampler(range(9)))
    mg.manual_seed(3)
    assert [list(D.RandomSampler(range(9))), list(D.RandomSampler(range(9)))] == [a, b]  # mg.manual_seed
    assert sorted(a) == sorted(b) == list(range(9)) and a != b
    s = D.RandomSampler(range(9), generator=np.random.default_rng(1))
    epochs = [list(s), list(s)]
    assert epochs[0] != epochs[1]  # a new order every epoch ...
    t = D.RandomSampler(range(9), generator=np.random.default_rng(1))
    assert [list(t), list(t)] == epochs  # ... the same ones for the same generator
    for n, k, rep in [(3, 7, False), (5, 2, False), (4, 40, True), (4, None, True)]:
        ours = list(D.RandomSampler(range(n), replacement=rep, num_samples=k))
        theirs = list(T.RandomSampler(range(n), replacement=rep, num_samples=k))
        assert len(ours) == len(theirs) == len(D.RandomSampler(range(n), rep, k)) and set(ours) <= set(range(n))
        if not rep:  # whole permutations, then a prefix of one more
            full, rest = divmod(len(ours), n)
            for j in range(full):
                assert sorted(ours[j * n:(j + 1) * n]) == list(range(n))
            assert len(set(ours[full * n:])) == rest
    counts = np.bincount(list(D.RandomSampler(range(4), True, 4000, generator=np.random.default_rng(0))), minlength=4)
    assert counts.min() > 850  # 1000 expected each; 850 is > 5 standard deviations (27) away
    same_error(lambda: D.RandomSampler(range(3), replacement=1), lambda: T.RandomSampler(range(3), replacement=1),
               TypeError)
    for k in (0, -1, 2.5):
        same_error(lambda: D.RandomSampler(range(3), num_samples=k), lambda: T.RandomSampler(range(3), num_samples=k))
    same_error(lambda: D.RandomSampler([]), lambda: T.RandomSampler([]))
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        D.RandomSampler(range(3), generator=torch.Generator())


def test_subset_random_sampler():
    idx = [7, 3, 11, 5]
    s = D.SubsetRandomSampler(idx, generator=np.random.default_rng(4))
    epochs = [list(s) for _ in range(3)]
    assert len(s) == len(T.SubsetRandomSampler(idx)) == 4
    assert all(sorted(e) == sorted(idx) for e in epochs) and len({tuple(e) for e in epochs}) > 1
    assert [list(D.SubsetRandomSampler(idx, np.random.default_rng(4))) for _ in range(1)][0] == epochs[0]
    mg.manual_seed(2)
    x = list(D.SubsetRandomSampler(idx))
    mg.manual_seed(2)
    assert list(D.SubsetRandomSampler(idx)) == x


def test_weighted_random_sampler():
    w = [0.0, 1.0, 3.0, 0.0]
    draws = list(D.WeightedRandomSampler(w, 4000, generator=np.random.default_rng(0)))
    counts = np.bincount(draws, minlength=4)
    assert counts[0] == counts[3] == 0  # zero weight: never drawn with replacement
    assert 2850 < counts[2] < 3150  # 3000 expected, sd 27
    assert len(D.WeightedRandomSampler(w, 7)) == len(T.WeightedRandomSampler(w, 7)) == 7
    s = D.WeightedRandomSampler(mg.tensor([1.0, 2.0, 3.0, 4.0, 0.0]), 5, replacement=False,
                                generator=np.random.default_rng(5))
    for _ in range(5):
        e = list(s)
        assert sorted(e) == [0, 1, 2, 3, 4] and e[-1] == 4  # every index once; the zero weight last, as torch
    first = [list(D.WeightedRandomSampler([1, 5, 1], 1, replacement=False, generator=np.random.default_rng(i)))[0]
             for i in range(300)]
    assert 140 < first.count(1) < 290  # P(first = 1) = 5/7: 214 expected of 300, sd 8
    mg.manual_seed(9)
    x = list(D.WeightedRandomSampler(w, 10))
    mg.manual_seed(9)
    assert list(D.WeightedRandomSampler(w, 10)) == x
    assert D.WeightedRandomSampler(w, 2).weights.dtype == np.float64
    for args in [(w, 0), (w, True), (w, 2, 1), ([[1.0, 2.0]], 2)]:
        same_error(lambda: D.WeightedRandomSampler(*args), lambda: T.WeightedRandomSampler(*args))
    for bad, k, rep in [([1.0, -1.0], 1, True), ([0.0, 0.0], 1, True), ([1.0, float("nan")], 1, True),
                        ([1.0], 3, False)]:
        same_error(lambda: list(D.WeightedRandomSampler(bad, k, rep)),
                   lambda: list(T.WeightedRandomSampler(bad, k, rep)), RuntimeError)


# ---------------------------------------------------------------- DataLoader: options, lengths, batches
DICT_DS = [{"x": np.full(2, i, dtype=np.float32), "y": i, "name": f"s{i}"} for i in range(7)]


@pytest.mark.parametrize("kw", [
    dict(batch_size=3), dict(batch_size=3, drop_last=True), dict(batch_size=10), dict(batch_size=10, drop_last=True),
    dict(batch_size=None), dict(batch_size=2, sampler=[6, 0, 5, 1]), dict(batch_size=None, sampler=[3, 3, 1]),
    dict(batch_sampler=[[0, 1], [6], [2, 3, 4]]), dict(batch_sampler=T.BatchSampler(range(7), 3, True)),
])
def test_loader_len_and_batches_match_torch(kw):
    tkw = dict(kw)
    kw = {k: (D.BatchSampler(range(7), 3, True) if isinstance(v, T.BatchSampler) else v) for k, v in kw.items()}
    ours, theirs = D.DataLoader(DICT_DS, **kw), T.DataLoader(DICT_DS, **tkw)
    assert len(ours) == len(theirs)
    got, want = [plain(b) for b in ours], [plain(b) for b in theirs]
    assert got == want and len(got) == len(ours)


@pytest.mark.parametrize("n,bs,drop_last", [(7, 3, False), (7, 3, True), (6, 3, True), (0, 2, False), (5, None, False)])
def test_loader_over_iterable_dataset_matches_torch(n, bs, drop_last):
    ours = D.DataLoader(Stream(n), batch_size=bs, drop_last=drop_last)
    theirs = T.DataLoader(TStream(n), batch_size=bs, drop_last=drop_last)
    assert len(ours) == len(theirs)
    assert [plain(b) for b in ours] == [plain(b) for b in theirs]
    assert [plain(b) for b in ours] == [plain(b) for b in theirs]  # a second epoch restarts the stream
    with pytest.raises(TypeError) as t_err:
        len(T.DataLoader(TNoLen(), batch_size=2))
    with pytest.raises(TypeError, match="has no len") as m_err:
        len(D.DataLoader(NoLen(), batch_size=2))
    assert str(t_err.value) in str(m_err.value)
    assert [b.tolist() for b in D.DataLoader(NoLen(), batch_size=2)] == [[0, 1], [2, 3], [4]]


def test_loader_mutual_exclusion_errors_match_torch():
    ds = list(range(6))
    bsam = [[0, 1], [2]]
    cases = [
        dict(batch_sampler=bsam, batch_size=2), dict(batch_sampler=bsam, shuffle=True),
        dict(batch_sampler=bsam, sampler=[0]), dict(batch_sampler=bsam, drop_last=True),
        dict(sampler=[0, 1], shuffle=True), dict(batch_size=None, drop_last=True),
        dict(num_workers=-1), dict(timeout=-1), dict(prefetch_factor=2), dict(persistent_workers=True),
        dict(multiprocessing_context="spawn"), dict(batch_size=0), dict(batch_size=2, drop_last="yes"),
    ]
    for kw in cases:
        same_error(lambda: D.DataLoader(ds, **kw), lambda: T.DataLoader(ds, **kw))
    for kw in [dict(shuffle=True), dict(sampler=[0]), dict(batch_sampler=bsam)]:
        same_error(lambda: D.DataLoader(Stream(3), **kw), lambda: T.DataLoader(TStream(3), **kw))
    # options after construction are frozen, as in torch
    for attr in ["batch_size", "sampler", "batch_sampler", "drop_last", "dataset"]:
        same_error(lambda: setattr(D.DataLoader(ds), attr, None), lambda: setattr(T.DataLoader(ds), attr, None))


def test_loader_worker_options_and_worker_info():
    ds = D.TensorDataset(mg.arange(6))
    calls = []
    dl = D.DataLoader(ds, batch_size=2, num_workers=0, pin_memory=True, worker_init_fn=calls.append,
                      pin_memory_device="cuda", in_order=False)
    assert [b[0].tolist() for b in dl] == [[0, 1], [2, 3], [4, 5]]
    assert calls == [] and dl.pin_memory and dl.num_workers == 0  # no workers: never called (as torch)
    workers = D.DataLoader(ds, batch_size=2, num_workers=2)  # (workers: tests/test_data_workers.py)
    assert [b[0].tolist() for b in workers] == [[0, 1], [2, 3], [4, 5]]
    with pytest.raises(ValueError, match="timeout=5"):
        D.DataLoader(ds, timeout=5)
    seen = []

    class Probe(D.Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            seen.append(D.get_worker_info())
            return i

    assert D.get_worker_info() is None is T.get_worker_info()
    list(D.DataLoader(Probe(), batch_size=2))
    assert seen == [None, None, None]


def test_loader_generator_and_seed():
    ds = D.TensorDataset(mg.arange(11))

    def order(dl):
        return sum((b[0].tolist() for b in dl), [])

    g = D.DataLoader(ds, batch_size=4, shuffle=True, generator=np.random.default_rng(5))
    s = D.DataLoader(ds, batch_size=4, shuffle=True, seed=5)
    r = D.DataLoader(ds, batch_size=4, sampler=D.RandomSampler(ds, generator=np.random.default_rng(5)))
    for _ in range(2):  # seed=n means generator=default_rng(n); shuffle=True means RandomSampler
        o = order(g)
        assert o == order(s) == order(r) and sorted(o) == list(range(11))
    assert isinstance(g.sampler, D.RandomSampler) and isinstance(g.batch_sampler, D.BatchSampler)
    assert isinstance(D.DataLoader(ds).sampler, D.SequentialSampler)
    mg.manual_seed(1)
    a = order(D.DataLoader(ds, batch_size=3, shuffle=True))
    mg.manual_seed(1)
    assert order(D.DataLoader(ds, batch_size=3, sampler=D.RandomSampler(ds))) == a
    with pytest.raises(TypeError, match="numpy.random.Generator.*got torch.*Generator"):
        D.DataLoader(ds, shuffle=True, generator=torch.Generator())
    with pytest.raises(ValueError, match="seed or generator"):
        D.DataLoader(ds, shuffle=True, seed=1, generator=np.random.default_rng(1))


def test_loader_batch_size_none_and_collate_fn():
    ds = D.TensorDataset(mg.arange(4), np.arange(4) * 2.0)
    items = list(D.DataLoader(ds, batch_size=None))
    assert len(items) == 4 and items[2][0].item() == 2 and items[2][0].shape == ()  # no batch dimension
    arr = [np.array([i, i]) for i in range(3)]
    want = [plain(x) for x in T.DataLoader(arr, batch_size=None)]
    assert [plain(x) for x in D.DataLoader(arr, batch_size=None)] == want
    got = list(D.DataLoader(list(range(5)), batch_size=2, collate_fn=lambda s: tuple(s)))
    assert got == list(T.DataLoader(list(range(5)), batch_size=2, collate_fn=lambda s: tuple(s)))
    got = list(D.DataLoader(list(range(4)), batch_size=None, collate_fn=lambda s: -s))
    assert got == [0, -1, -2, -3]


def test_loader_uses_getitems_and_subset_fast_path():
    class Batched(D.Dataset):
        calls = 0

        def __len__(self):
            return 5

        def __getitem__(self, i):
            raise AssertionError("__getitems__ should be used")

        def __getitems__(self, idx):
            Batched.calls += 1
            return [i * 10 for i in idx]

    assert [b.tolist() for b in D.DataLoader(Batched(), batch_size=2)] == [[0, 10], [20, 30], [40]]
    assert Batched.calls == 3
    x = mg.randn(9, 2)
    sub = D.Subset(D.TensorDataset(x), [8, 0, 3, 5, 1])
    fast = list(D.DataLoader(sub, batch_size=2))
    slow = list(D.DataLoader(sub, batch_size=2, collate_fn=D.default_collate))
    for (f,), (s,) in zip(fast, slow):
        np.testing.assert_array_equal(f.numpy(), s.numpy())
    np.testing.assert_array_equal(fast[0][0].numpy(), x.numpy()[[8, 0]])


# ---------------------------------------------------------------- resuming with samplers
@pytest.mark.parametrize("make", [
    lambda ds: dict(sampler=D.RandomSampler(ds, generator=np.random.default_rng(3))),
    lambda ds: dict(sampler=D.RandomSampler(ds, replacement=True, num_samples=13)),
    lambda ds: dict(sampler=D.WeightedRandomSampler(np.arange(1, 11), 9, generator=np.random.default_rng(0))),
    lambda ds: dict(sampler=D.SubsetRandomSampler([1, 4, 5, 9, 2])),
    lambda ds: dict(batch_sampler=D.BatchSampler(D.RandomSampler(ds), 3, True), batch_size=1),
    lambda ds: dict(batch_size=None, sampler=D.RandomSampler(ds)),
])
def test_resume_mid_epoch_with_builtin_samplers(make):
    ds = D.TensorDataset(mg.arange(10))

    def loader():
        return D.DataLoader(ds, **{"batch_size": 4, **make(ds)})

    def first(b):
        return (b[0] if isinstance(b, (tuple, list)) else b).tolist()

    mg.manual_seed(0)
    ref = loader()
    reference = [first(b) for _ in range(2) for b in ref]
    mg.manual_seed(0)
    dl = loader()
    it = iter(dl)
    head = [first(next(it)) for _ in range(2)]
    state, rng = dl.state_dict(), B.get_rng_state()
    mg.manual_seed(123)
    again = loader()
    again.load_state_dict(state)
    B.set_rng_state(rng)
    rest = [first(b) for b in again] + [first(b) for b in again]
    assert head + rest[:len(reference) - 2] == reference


def test_state_dict_refuses_custom_order():
    ds = list(range(6))
    with pytest.raises(RuntimeError, match=r"custom sampler \(list\)"):
        D.DataLoader(ds, batch_size=2, sampler=[5, 4, 3]).state_dict()
    with pytest.raises(RuntimeError, match=r"custom batch_sampler \(list\)"):
        D.DataLoader(ds, batch_sampler=[[1, 2]]).load_state_dict({})
    with pytest.raises(RuntimeError, match="IterableDataset"):
        D.DataLoader(Stream(3), batch_size=2).state_dict()
    dl = D.DataLoader(ds, batch_size=2, sampler=[5, 4, 3])
    assert [b.tolist() for b in dl] == [[5, 4], [3]] and dl.epoch == 1  # epochs still counted


# ---------------------------------------------------------------- collation
Point = namedtuple("Point", "x y")


def test_default_collate_nested_structures_match_torch():
    samples = [{"a": (i, np.array([i, -i], dtype=np.int64)), "p": Point(np.float32(i), [i, i + 1]),
                "s": f"w{i}", "t": mg.tensor([float(i)]), "od": OrderedDict(z=i, y=True)} for i in range(3)]
    tsamples = [{**s, "t": torch.tensor([float(i)])} for i, s in enumerate(samples)]
    ours, theirs = D.default_collate(samples), T.default_collate(tsamples)
    assert plain(ours) == plain(theirs)
    assert isinstance(ours["p"], Point) and isinstance(ours["od"], OrderedDict)
    assert ours["od"]["y"].dtype == np.bool_ and ours["a"][0].dtype == np.int64 and ours["p"].x.dtype == np.float32
    dd = defaultdict(list, k=1)
    out = D.default_collate([dd, defaultdict(list, k=2)])
    assert isinstance(out, defaultdict) and out.default_factory is list and out["k"].tolist() == [1, 2]
    # documented difference: Python floats collate to the default dtype (torch: float64); tuples give lists as in torch
    f = D.default_collate([0.5, 1.5])
    assert f.dtype == mg.get_default_dtype() and T.default_collate([0.5, 1.5]).dtype == torch.float64
    assert isinstance(D.default_collate([(1, 2), (3, 4)]), list)


def test_default_convert_matches_torch():
    data = {"a": np.arange(3), "b": (np.float64(2.5), 7, "s"), "c": [np.zeros((2, 2), dtype=np.float32)],
            "p": Point(np.int64(1), np.array([True]))}
    ours, theirs = D.default_convert(data), T.default_convert(data)
    assert plain(ours) == plain(theirs)
    assert isinstance(ours["a"], mg.Tensor) and ours["a"].dtype == np.int64 and ours["b"][1] == 7
    assert isinstance(ours["b"], list)  # a tuple gives a list, as in torch (and in collation)
    t = mg.tensor([1.0])
    assert D.default_convert(t) is t and D.default_convert(np.array(["x"])).tolist() == ["x"]
