"""Porting audit (session 9): torch.utils.data as real programs use it, run against torch 2.13.

Each test is a small program written once against a library `L` (torch.utils.data or
minigrad.utils.data) and run with both. Deterministic results (batches, structures, lengths,
training losses and weights in float64) are compared exactly; where torch's RNG decides an order
(shuffle, random_split, RandomSampler, a shuffled DistributedSampler), minigrad's order is NumPy's,
so the test checks the laws (a permutation, a partition, reproducibility per seed) and then feeds
minigrad's order to torch as a plain sampler to compare the training that follows.
tests/test_data_torch_parity.py covers the per-class API; this file covers programs and the gaps
they exposed (collated tuples are lists, strings in fields, DistributedSampler, submodule imports,
Dataset[...] generics, len(iter(loader))).
"""
import math
from collections import namedtuple
from typing import Tuple

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as mnn
import minigrad.nn.functional as MF
import minigrad.utils.data as D

torch = pytest.importorskip("torch")
import torch.nn.functional as TF  # noqa: E402
import torch.utils.data as T  # noqa: E402

TOL = dict(rtol=1e-7, atol=1e-9)


# ---------------------------------------------------------------- helpers
def plain(x):
    """A batch as comparable Python values: tensors -> (dtype kind, list); containers keep their type."""
    if isinstance(x, (mg.Tensor, torch.Tensor)):
        a = x.numpy()
        return ("tensor", a.dtype.str, a.tolist())
    if isinstance(x, dict):
        return (type(x).__name__, {k: plain(v) for k, v in x.items()})
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return (type(x).__name__, tuple(plain(v) for v in x))
    if isinstance(x, (list, tuple)):  # the container type is part of the comparison
        return (type(x).__name__, [plain(v) for v in x])
    if isinstance(x, np.generic):
        return (type(x).__name__, x.item())
    return x


def batches(loader):
    return [plain(b) for b in loader]


def copy_weights(theirs, ours):
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})


def close(a, b, what):
    a = a.numpy() if isinstance(a, mg.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    np.testing.assert_allclose(a, b, err_msg=what, **TOL)


LIBS = {"torch": (torch, torch.nn, TF, T), "mg": (mg, mnn, MF, D)}


@pytest.fixture
def py_floats_as_float64():
    """torch collates Python floats to float64; minigrad to the default dtype (float32: documented, no silent
    float64). With minigrad's default set to float64 the two must agree exactly, which is what these tests check."""
    old = mg.get_default_dtype()
    mg.set_default_dtype(mg.float64)
    yield
    mg.set_default_dtype(old)


# ---------------------------------------------------------------- program 1: "Datasets & DataLoaders"
def make_tabular(L, lib):
    """The tutorial's custom Dataset: rows from an array, transform / target_transform, (features, label)."""
    class Tabular(L.Dataset):
        def __init__(self, features, labels, transform=None, target_transform=None):
            self.features, self.labels = features, labels
            self.transform, self.target_transform = transform, target_transform

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, idx):
            x, y = self.features[idx], self.labels[idx]
            if self.transform:
                x = self.transform(x)
            if self.target_transform:
                y = self.target_transform(y)
            return x, y, idx  # the index rides along so the order can be checked

    return Tabular


def tabular_and_model(lib):
    """The dataset (the same data for both libraries) and an MLP, float64."""
    m, nn, F, L = LIBS[lib]
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((14, 3)), rng.integers(0, 3, 14)
    Tabular = make_tabular(L, lib)
    ds = Tabular(X, y, transform=lambda r: m.tensor(r, dtype=m.float64), target_transform=int)
    m.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    return ds, model


def test_custom_dataset_tutorial_training_matches_torch():
    m_ds, m_model = tabular_and_model("mg")
    t_ds, t_model = tabular_and_model("torch")
    copy_weights(t_model, m_model)
    # random_split with fractions and a seeded generator (torch >= 1.13): same lengths as torch
    m_train, m_val = D.random_split(m_ds, [0.7, 0.3], generator=mg.Generator().manual_seed(42))
    t_train, t_val = T.random_split(t_ds, [0.7, 0.3], generator=torch.Generator().manual_seed(42))
    assert (len(m_train), len(m_val)) == (len(t_train), len(t_val)) == (10, 4)
    assert sorted(m_train.indices + m_val.indices) == list(range(14))
    # our split decides; torch trains on the same subsets
    t_train, t_val = T.Subset(t_ds, m_train.indices), T.Subset(t_ds, m_val.indices)

    m_loader = D.DataLoader(m_train, batch_size=4, shuffle=True, generator=mg.Generator().manual_seed(1))
    m_opt = mg.optim.SGD(m_model.parameters(), lr=0.1, momentum=0.9)
    t_opt = torch.optim.SGD(t_model.parameters(), lr=0.1, momentum=0.9)
    assert len(m_loader) == len(T.DataLoader(t_train, batch_size=4, shuffle=True)) == 3
    seen = []
    for epoch in range(2):
        m_losses, order = [], []
        for xb, yb, ib in m_loader:
            order += ib.tolist()
            loss = MF.cross_entropy(m_model(xb), yb)
            m_opt.zero_grad()
            loss.backward()
            m_opt.step()
            m_losses.append(loss.item())
        assert sorted(order) == sorted(m_train.indices)  # a permutation of the subset each epoch
        seen.append(order)
        # torch reads the same order (its own shuffle would draw from Mersenne Twister)
        positions = [m_train.indices.index(i) for i in order]
        t_loader = T.DataLoader(t_train, batch_size=4, sampler=positions)
        t_losses = []
        t_order = []
        for xb, yb, ib in t_loader:
            t_order += ib.tolist()
            loss = TF.cross_entropy(t_model(xb), yb)
            t_opt.zero_grad()
            loss.backward()
            t_opt.step()
            t_losses.append(loss.item())
        assert t_order == order
        np.testing.assert_allclose(m_losses, t_losses, **TOL)
    assert seen[0] != seen[1]  # a new order each epoch
    for (k, a), (_, b) in zip(m_model.state_dict().items(), t_model.state_dict().items()):
        close(a, b, k)
    # evaluation over the validation split, batch_size=None-free: plain sequential loader
    with mg.no_grad(), torch.no_grad():
        for (mx, my, mi), (tx, ty, ti) in zip(D.DataLoader(m_val, batch_size=3), T.DataLoader(t_val, batch_size=3)):
            assert mi.tolist() == ti.tolist() and my.tolist() == ty.tolist()
            close(m_model(mx), t_model(tx), "val logits")


def test_generator_seed_gives_a_reproducible_order_per_seed():
    """mg.Generator().manual_seed(s): the same s, the same epochs; another s, another order (not torch's)."""
    def epochs(seed, n=3):
        dl = D.DataLoader(list(range(12)), batch_size=5, shuffle=True, generator=mg.Generator().manual_seed(seed))
        return [sum((b.tolist() for b in dl), []) for _ in range(n)]

    a, b, c = epochs(7), epochs(7), epochs(8)
    assert a == b and a != c and all(sorted(e) == list(range(12)) for e in a + c)
    assert len({tuple(e) for e in a}) == 3


# ---------------------------------------------------------------- program 2: collation of real sample structures
Sample = namedtuple("Sample", "image label")


def collate_cases(lib):
    m = LIBS[lib][0]
    return {
        # (image, label, filename): torch gives [images, labels, ('a.png', ...)]: a list, strings as a tuple
        "tuple_with_names": [(m.tensor([float(i), 1.0]), i, f"{i}.png") for i in range(3)],
        "list_samples": [[m.tensor([i, i]), float(i)] for i in range(3)],
        "dict_samples": [{"input_ids": np.arange(4) + i, "label": i % 2, "text": f"s{i}", "score": np.float32(i)}
                         for i in range(3)],
        "namedtuple": [Sample(np.full((2, 2), i, dtype=np.float32), np.int64(i)) for i in range(3)],
        "zero_d_tensors": [(m.tensor(float(i)), m.tensor(i)) for i in range(3)],
        "numpy_scalars": [(np.float64(i / 2), np.int32(i), np.bool_(i % 2)) for i in range(3)],
        "mixed_int_then_float": [(1,), (2.5,), (3,)],
        "nested": [{"pair": (i, [f"w{i}", f"v{i}"]), "meta": {"id": i, "tag": f"t{i}"}} for i in range(3)],
        "bytes_and_np_str": [(b"k%d" % i, np.str_(f"n{i}")) for i in range(2)],
    }


@pytest.mark.parametrize("case", list(collate_cases("mg")))
def test_default_collate_structures_match_torch(case):
    ours = D.default_collate(collate_cases("mg")[case])
    theirs = T.default_collate(collate_cases("torch")[case])
    if case == "list_samples":  # Python floats: the documented dtype difference, and nothing else
        assert ours[1].dtype == mg.float32 and theirs[1].dtype == torch.float64
        ours[1] = ours[1].to(mg.float64)
    assert plain(ours) == plain(theirs)


def test_collated_tuple_batch_is_a_list_like_torch():
    """What a training loop does with the batch of a TensorDataset: index assignment, isinstance, +."""
    for lib in ("torch", "mg"):
        m, _, _, L = LIBS[lib]
        loader = L.DataLoader(L.TensorDataset(m.arange(6.0).reshape(3, 2), m.tensor([0, 1, 0])), batch_size=2)
        batch = next(iter(loader))
        assert isinstance(batch, list) and len(batch) == 2, lib
        batch[0] = batch[0].to(m.float64)  # raised TypeError on a tuple batch before
        batch = batch + [batch[1] * 2]
        assert batch[0].dtype == m.float64 and batch[2].tolist() == [0, 2]
        # the same through Subset / ConcatDataset / default_collate (the slow path) and a collate_fn
        sub = L.Subset(loader.dataset, [2, 0])
        for dl in (L.DataLoader(sub, batch_size=2), L.DataLoader(sub + sub, batch_size=2),
                   L.DataLoader(sub, batch_size=2, collate_fn=L.default_collate)):
            b = next(iter(dl))
            assert isinstance(b, list) and b[0].tolist() == [[4.0, 5.0], [0.0, 1.0]], lib
        # batch_size=None: default_convert turns a tuple sample into a list too
        single = next(iter(L.DataLoader(loader.dataset, batch_size=None)))
        assert isinstance(single, list) and single[0].tolist() == [0.0, 1.0]


def test_default_collate_errors_for_strings_in_arrays_match_torch():
    for bad in ([np.array(["a"]), np.array(["b"])], [np.array([1], dtype=object)] * 2):
        with pytest.raises(TypeError) as t:
            T.default_collate(bad)
        with pytest.raises(TypeError) as o:
            D.default_collate(bad)
        assert str(t.value) in str(o.value)
    with pytest.raises(TypeError, match=r"found <U1 at \[0\]\['x'\]"):  # where in the sample
        D.default_collate([({"x": np.array(["a"])},), ({"x": np.array(["b"])},)])


def test_default_convert_program_batch_size_none_matches_torch():
    """A dataset that returns whole pre-made batches, loaded with batch_size=None (no auto-batching)."""
    def run(L, lib):
        class Chunks(L.Dataset):
            def __len__(self):
                return 3

            def __getitem__(self, i):
                return {"x": np.arange(4.0).reshape(2, 2) + i, "y": (np.int64(i), [i, f"c{i}"]),
                        "s": Sample(np.float32(i), "img")}

        return batches(L.DataLoader(Chunks(), batch_size=None))

    assert run(D, "mg") == run(T, "torch")


# ---------------------------------------------------------------- program 3: combining datasets
def test_concat_subset_chain_program_matches_torch(py_floats_as_float64):
    def run(lib):
        m, _, _, L = LIBS[lib]
        a = L.TensorDataset(m.arange(5), m.arange(5) * 10)
        b = L.TensorDataset(m.arange(100, 103), m.arange(100, 103) * 10)
        both = a + b  # ConcatDataset through Dataset.__add__
        picked = L.Subset(both, [6, 0, 7, 4, 5, 1])
        out = [len(both), plain(both[-1]), plain(picked[2]), len(picked)]
        out += batches(L.DataLoader(picked, batch_size=4))
        out += batches(L.DataLoader(L.ConcatDataset([picked, a]), batch_size=3, drop_last=True))
        out.append(len(L.DataLoader(L.ConcatDataset([picked, a]), batch_size=3, drop_last=True)))

        class Count(L.IterableDataset):
            def __init__(self, lo, hi):
                self.lo, self.hi = lo, hi

            def __iter__(self):
                return iter([(i, float(i) / 2) for i in range(self.lo, self.hi)])

        chain = L.ChainDataset([Count(0, 3), Count(10, 12)])
        out += batches(L.DataLoader(chain, batch_size=2))
        out += batches(L.DataLoader(Count(0, 2) + Count(5, 6), batch_size=None))
        return out

    assert run("mg") == run("torch")


def test_typed_dataset_subclass_and_submodule_imports():
    """Typed torch code: `class Pairs(Dataset[Tuple[Tensor, int]])`, `Sampler[int]`, and the submodule imports."""
    from minigrad.utils.data.dataloader import DataLoader, default_collate
    from minigrad.utils.data.dataset import Dataset, random_split
    from minigrad.utils.data.distributed import DistributedSampler
    from minigrad.utils.data.sampler import BatchSampler, Sampler, SubsetRandomSampler
    assert DataLoader is D.DataLoader and default_collate is D.default_collate and Dataset is D.Dataset
    assert random_split is D.random_split and DistributedSampler is D.DistributedSampler
    assert (Sampler, BatchSampler, SubsetRandomSampler) == (D.Sampler, D.BatchSampler, D.SubsetRandomSampler)

    def run(lib):
        m, _, _, L = LIBS[lib]

        class Pairs(L.Dataset[Tuple[m.Tensor, int]]):
            def __len__(self):
                return 5

            def __getitem__(self, i):
                return m.tensor([float(i)]), i

        class Backwards(L.Sampler[int]):
            def __init__(self, n):
                self.n = n

            def __iter__(self):
                return iter(range(self.n - 1, -1, -1))

            def __len__(self):
                return self.n

        assert issubclass(Pairs, L.Dataset)
        dl = L.DataLoader(Pairs(), batch_size=2, sampler=Backwards(5))
        it = iter(dl)
        return [len(dl), len(it)] + [plain(b) for b in it]

    assert run("mg") == run("torch")


# ---------------------------------------------------------------- program 4: samplers in training scripts
def test_sampler_programs_lengths_and_laws():
    labels = np.array([0] * 8 + [1] * 2)
    for lib in ("torch", "mg"):
        m, _, _, L = LIBS[lib]
        # class balancing: weight = 1 / class count, as the usual recipe writes it
        counts = np.bincount(labels)
        weights = m.tensor(1.0 / counts[labels], dtype=m.float64)
        sampler = L.WeightedRandomSampler(weights, num_samples=len(labels), replacement=True)
        dl = L.DataLoader(list(range(10)), batch_size=4, sampler=sampler)
        assert len(dl) == 3 and len(sampler) == 10
        # train/val by index lists (the "SubsetRandomSampler" recipe)
        train_idx, val_idx = list(range(0, 10, 2)), list(range(1, 10, 2))
        tr = L.DataLoader(list(range(100, 110)), batch_size=2, sampler=L.SubsetRandomSampler(train_idx))
        got = sorted(sum((b.tolist() for b in tr), []))
        assert got == [100 + i for i in train_idx] and len(tr) == 3
        # oversampling: RandomSampler with replacement and num_samples
        over = L.DataLoader(list(range(4)), batch_size=3, sampler=L.RandomSampler(range(4), True, 10))
        flat = sum((b.tolist() for b in over), [])
        assert len(over) == 4 and len(flat) == 10 and set(flat) <= set(range(4))
    # reproducible per generator in minigrad
    w = mg.tensor([0.1, 0.1, 5.0])
    a = list(D.WeightedRandomSampler(w, 20, generator=mg.Generator().manual_seed(3)))
    assert a == list(D.WeightedRandomSampler(w, 20, generator=mg.Generator().manual_seed(3)))
    assert a.count(2) > 14  # p = 0.98 each; 19.6 expected, P(<= 14) < 1e-8


def test_batch_sampler_as_sampler_with_batch_size_none_matches_torch():
    """The 'fetch a whole batch by index list' recipe: sampler=BatchSampler(...), batch_size=None."""
    def run(lib):
        m, _, _, L = LIBS[lib]
        ds = L.TensorDataset(m.arange(10.0).reshape(5, 2), m.arange(5))  # indexes with a list of ints
        bs = L.BatchSampler(L.SequentialSampler(ds), batch_size=2, drop_last=False)
        dl = L.DataLoader(ds, sampler=bs, batch_size=None)
        return [len(dl)] + batches(dl)

    assert run("mg") == run("torch")


# ---------------------------------------------------------------- DistributedSampler
@pytest.mark.parametrize("n", [0, 1, 7, 10, 12])
@pytest.mark.parametrize("replicas", [1, 3, 4])
@pytest.mark.parametrize("drop_last", [False, True])
def test_distributed_sampler_unshuffled_shares_match_torch(n, replicas, drop_last):
    for rank in range(replicas):
        ours = D.DistributedSampler(range(n), num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
        theirs = T.DistributedSampler(range(n), num_replicas=replicas, rank=rank, shuffle=False,
                                      drop_last=drop_last)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)
        assert (ours.num_samples, ours.total_size) == (theirs.num_samples, theirs.total_size)


@pytest.mark.parametrize("n,replicas,drop_last", [(10, 3, False), (10, 3, True), (2, 4, False), (9, 3, False)])
def test_distributed_sampler_shuffled_structure(n, replicas, drop_last):
    def shares(epoch, seed=0):
        out = []
        for rank in range(replicas):
            s = D.DistributedSampler(range(n), replicas, rank, shuffle=True, seed=seed, drop_last=drop_last)
            s.set_epoch(epoch)
            out.append(list(s))
        return out

    t = [list(T.DistributedSampler(range(n), replicas, r, shuffle=True, drop_last=drop_last))
         for r in range(replicas)]
    e0 = shares(0)
    assert [len(s) for s in e0] == [len(s) for s in t]  # torch's share sizes
    flat = [i for s in e0 for i in s]
    if drop_last:  # disjoint shares of a cut permutation
        assert len(set(flat)) == len(flat) == len(t[0]) * replicas
    else:  # every index at least once; the padding repeats the head of the permutation
        assert set(flat) == set(range(n)) and len(flat) == math.ceil(n / replicas) * replicas
    assert shares(0) == e0  # every replica computes the same order: deterministic per (seed, epoch)
    if n > 3:
        assert shares(1) != e0 and shares(0, seed=5) != e0  # set_epoch / seed change the order
    # the shares interleave one epoch order (rank r takes positions r, r + replicas, ...): reassembled,
    # it is a permutation padded with its own head (torch's rule), or a cut one with drop_last
    order = [e0[i % replicas][i // replicas] for i in range(len(flat))]
    if drop_last:
        assert len(set(order)) == len(order) and set(order) <= set(range(n))
    else:
        assert sorted(order[:n]) == list(range(n)) and order[n:] == (order[:n] * replicas)[:len(order) - n]


def test_distributed_sampler_in_a_loader_with_set_epoch_and_resume():
    ds = D.TensorDataset(mg.arange(11))
    sampler = D.DistributedSampler(ds, num_replicas=2, rank=1, seed=3)
    dl = D.DataLoader(ds, batch_size=2, sampler=sampler)
    assert len(dl) == 3 and len(sampler) == 6
    orders = []
    for epoch in range(2):
        sampler.set_epoch(epoch)
        orders.append(sum((b[0].tolist() for b in dl), []))
    assert orders[1] == list(sampler) and orders[0] != orders[1]  # set_epoch(1) gave a new order
    assert all(len(o) == 6 for o in orders) and sorted(orders[0]) == sorted(set(orders[0]))
    sampler.set_epoch(0)
    assert sum((b[0].tolist() for b in dl), []) == orders[0]  # epoch 0 again: the same share
    # mid-epoch checkpoint of the position, resumed by a fresh loader and sampler
    sampler.set_epoch(1)
    it = iter(dl)
    head = next(it)[0].tolist()
    state = dl.state_dict()
    s2 = D.DistributedSampler(ds, num_replicas=2, rank=1, seed=3)
    s2.set_epoch(1)
    dl2 = D.DataLoader(ds, batch_size=2, sampler=s2)
    dl2.load_state_dict(state)
    assert head + sum((b[0].tolist() for b in dl2), []) == orders[1]


def test_distributed_sampler_errors():
    with pytest.raises(ValueError, match="process group.*num_replicas= and rank="):
        D.DistributedSampler(range(4))
    for kw in (dict(num_replicas=2, rank=2), dict(num_replicas=2, rank=-1), dict(num_replicas=0, rank=0)):
        with pytest.raises(ValueError) as t:
            T.DistributedSampler(range(4), **kw)
        with pytest.raises(ValueError) as o:
            D.DistributedSampler(range(4), **kw)
        assert str(t.value) in str(o.value)


# ---------------------------------------------------------------- program 5: worker sharding
def make_range_stream(L):
    class RangeStream(L.IterableDataset):
        """torch's docs example 2: the range is split in worker_init_fn through get_worker_info().dataset."""

        def __init__(self, start, end):
            self.start, self.end = start, end

        def __iter__(self):
            return iter([(float(i), i % 3) for i in range(self.start, self.end)])

        def __len__(self):
            return self.end - self.start

    def worker_init_fn(worker_id):
        info = L.get_worker_info()
        ds = info.dataset  # this worker's copy
        lo, hi = ds.start, ds.end
        per = int(math.ceil((hi - lo) / float(info.num_workers)))
        ds.start = lo + worker_id * per
        ds.end = min(ds.start + per, hi)

    return RangeStream, worker_init_fn


def test_worker_init_fn_sharding_persistent_prefetch_matches_torch(py_floats_as_float64):
    def run(L):
        RangeStream, init = make_range_stream(L)
        dl = L.DataLoader(RangeStream(3, 12), batch_size=2, num_workers=2, worker_init_fn=init,
                          persistent_workers=True, prefetch_factor=3, timeout=20)
        out = [len(dl)] + [batches(dl) for _ in range(2)]  # two epochs on the same workers
        assert out[1] == out[2]
        main = L.DataLoader(RangeStream(3, 12), batch_size=4)  # the main process: no sharding
        return out + [batches(main), len(main)]

    assert run(D) == run(T)


# ---------------------------------------------------------------- iterator length
def test_len_of_iter_loader_matches_torch():
    for L in (T, D):
        dl = L.DataLoader(list(range(7)), batch_size=3)
        it = iter(dl)
        assert len(it) == 3
        next(it)
        assert len(it) == 3  # torch's iterator length is the loader's, not what is left
        assert [b.tolist() for b in it] == [[3, 4, 5], [6]]


# ---------------------------------------------------------------- program 6: text classification collate_fns
def text_program(lib):
    """The text-classification tutorial: collate_fn builds (labels, concatenated tokens, offsets) for an
    EmbeddingBag; a second collate_fn pads with pad_sequence for a mean-over-time classifier."""
    m, nn, F, L = LIBS[lib]
    rng = np.random.default_rng(5)
    data = [(int(rng.integers(0, 3)), rng.integers(1, 12, int(rng.integers(1, 6))).tolist()) for _ in range(9)]

    def collate_batch(batch):
        label_list, text_list, offsets = [], [], [0]
        for _label, _text in batch:
            label_list.append(_label)
            processed = m.tensor(_text, dtype=m.int64)
            text_list.append(processed)
            offsets.append(processed.size(0))
        labels = m.tensor(label_list, dtype=m.int64)
        offsets = m.tensor(offsets[:-1]).cumsum(dim=0)
        return labels, m.cat(text_list), offsets

    def pad_batch(batch):
        labels = m.tensor([b[0] for b in batch])
        seqs = [m.tensor(b[1]) for b in batch]
        lengths = m.tensor([len(s) for s in seqs])
        return labels, nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=0), lengths

    m.manual_seed(0)
    bag = nn.EmbeddingBag(12, 4, mode="mean").double()
    fc = nn.Linear(4, 3).double()
    emb = nn.Embedding(12, 4, padding_idx=0).double()
    return data, collate_batch, pad_batch, (bag, fc, emb)


def test_text_classification_collate_fns_match_torch():
    m_data, m_collate, m_pad, m_mods = text_program("mg")
    t_data, t_collate, t_pad, t_mods = text_program("torch")
    assert m_data == t_data
    for mm, tm in zip(m_mods, t_mods):
        copy_weights(tm, mm)
    m_params = [p for mod in m_mods for p in mod.parameters()]
    t_params = [p for mod in t_mods for p in mod.parameters()]
    m_opt, t_opt = mg.optim.Adam(m_params, lr=0.05), torch.optim.Adam(t_params, lr=0.05)
    order = [4, 0, 8, 2, 7, 1, 3, 6, 5]  # a fixed order both read through sampler=
    for lib_loaders in range(2):  # the EmbeddingBag program, then the padded one
        m_dl = D.DataLoader(m_data, batch_size=4, sampler=order, collate_fn=[m_collate, m_pad][lib_loaders])
        t_dl = T.DataLoader(t_data, batch_size=4, sampler=order, collate_fn=[t_collate, t_pad][lib_loaders])
        assert len(m_dl) == len(t_dl) == 3
        for (ml, mx, mo), (tl, tx, to) in zip(m_dl, t_dl):
            assert plain([ml, mx, mo]) == plain([tl, tx, to])
            if lib_loaders == 0:
                m_logits, t_logits = m_mods[1](m_mods[0](mx, mo)), t_mods[1](t_mods[0](tx, to))
            else:  # mean over the real positions
                mask_m = (mx != 0).unsqueeze(-1).to(mg.float64)
                mask_t = (tx != 0).unsqueeze(-1).to(torch.float64)
                m_logits = m_mods[1]((m_mods[2](mx) * mask_m).sum(1) / mo.unsqueeze(1).to(mg.float64))
                t_logits = t_mods[1]((t_mods[2](tx) * mask_t).sum(1) / to.unsqueeze(1).to(torch.float64))
            m_loss, t_loss = MF.cross_entropy(m_logits, ml), TF.cross_entropy(t_logits, tl)
            close(m_loss, t_loss, "loss")
            m_opt.zero_grad()
            t_opt.zero_grad()
            m_loss.backward()
            t_loss.backward()
            m_opt.step()
            t_opt.step()
    for mm, tm in zip(m_mods, t_mods):
        for (k, a), (_, b) in zip(mm.state_dict().items(), tm.state_dict().items()):
            close(a, b, k)
