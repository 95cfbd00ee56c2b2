"""minigrad.data: datasets, the resumable DataLoader, padding, masks and Vocab."""
from collections import namedtuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import backend as B
from minigrad.data import (
    DataLoader, Dataset, TensorDataset, Vocab, default_collate, lengths_to_mask, pad_sequences,
)
from minigrad.testing import gradcheck


def batches_as_lists(loader, n=None):
    """First element of each batch as a Python list (the dataset holds arange, so these are indices)."""
    out = []
    for b in loader:
        first = b[0] if isinstance(b, (tuple, list)) else b
        out.append(first.tolist())
        if n is not None and len(out) == n:
            break
    return out


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"x": np.full(2, i, dtype=np.float32), "y": i * i, "name": f"s{i}", "pair": (float(i), i % 2 == 0)}


# ---------------------------------------------------------------- datasets and collation
def test_tensor_dataset_items_and_errors(device):
    x = mg.randn(5, 3, device=device)
    y = np.arange(5)
    ds = TensorDataset(x, y, [[1.0], [2.0], [3.0], [4.0], [5.0]])
    assert len(ds) == 5
    xi, yi, zi = ds[-1]
    assert isinstance(xi, mg.Tensor) and xi.device == x.device and xi.shape == (3,)
    np.testing.assert_array_equal(xi.numpy(), x.numpy()[4])
    assert yi == 4 and isinstance(zi, mg.Tensor) and zi.dtype == np.float32
    with pytest.raises(IndexError, match="out of range"):
        ds[5]
    with pytest.raises(ValueError, match="same first dimension"):
        TensorDataset(mg.zeros(3, 2), np.zeros(4))
    with pytest.raises(ValueError, match="0-dimensional"):
        TensorDataset(mg.tensor(1.0))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()


def test_default_collate_structures():
    ds = Squares(4)
    batch = default_collate([ds[i] for i in range(3)])
    assert set(batch) == {"x", "y", "name", "pair"}
    assert isinstance(batch["x"], mg.Tensor) and batch["x"].shape == (3, 2) and batch["x"].dtype == np.float32
    assert batch["y"].dtype == np.int64 and batch["y"].tolist() == [0, 1, 4]
    assert batch["name"] == ["s0", "s1", "s2"]
    f, even = batch["pair"]
    assert f.dtype == mg.get_default_dtype() and f.tolist() == [0.0, 1.0, 2.0]
    assert even.dtype == np.bool_ and even.tolist() == [True, False, True]
    # tensors and arrays keep dtype; namedtuples keep their type
    P = namedtuple("P", "a b")
    out = default_collate([P(mg.tensor([1, 2]), np.float64(0.5)), P(mg.tensor([3, 4]), np.float64(1.5))])
    assert isinstance(out, P) and out.a.tolist() == [[1, 2], [3, 4]] and out.b.dtype == np.float64
    lists = default_collate([[1, 2.5], [3, 4.5]])
    assert isinstance(lists, list) and lists[0].dtype == np.int64 and lists[1].dtype == np.float32


def test_default_collate_errors():
    with pytest.raises(ValueError, match=r"different shapes.*\['x'\]"):
        default_collate([{"x": np.zeros(2)}, {"x": np.zeros(3)}])
    with pytest.raises(TypeError, match="mix"):
        default_collate([mg.zeros(2), np.zeros(2)])
    with pytest.raises(ValueError, match="different keys"):
        default_collate([{"a": 1}, {"b": 1}])
    with pytest.raises(TypeError, match="collate_fn"):
        default_collate([object(), object()])


def test_collate_does_not_record_a_graph():
    w = mg.randn(3, requires_grad=True)
    out = default_collate([w, w])
    assert not out.requires_grad and out.grad_fn is None


# ---------------------------------------------------------------- DataLoader
def test_sequential_batches_and_drop_last():
    ds = TensorDataset(mg.arange(10))
    assert batches_as_lists(DataLoader(ds, batch_size=4)) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    dl = DataLoader(ds, batch_size=4, drop_last=True)
    assert len(dl) == 2 and batches_as_lists(dl) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(DataLoader(ds, batch_size=4)) == 3 and len(DataLoader(ds, batch_size=20, drop_last=True)) == 0
    assert batches_as_lists(DataLoader(TensorDataset(mg.arange(0)), batch_size=2)) == []
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(TypeError, match="__len__"):
        DataLoader(5)


def test_loader_over_custom_dataset_and_collate_fn():
    dl = DataLoader(Squares(5), batch_size=2)
    batches = list(dl)
    assert [b["y"].tolist() for b in batches] == [[0, 1], [4, 9], [16]]
    dl = DataLoader(list(range(7)), batch_size=3, collate_fn=lambda s: sum(s))
    assert list(dl) == [3, 12, 6]


def test_fast_batch_path_matches_stacking(device):
    x = mg.randn(9, 2, device=device)
    y = np.arange(9) * 10
    fast = list(DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True, seed=3))
    slow = list(DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True, seed=3, collate_fn=default_collate))
    for (fx, fy), (sx, sy) in zip(fast, slow):
        assert fx.device == x.device == sx.device
        np.testing.assert_array_equal(fx.numpy(), sx.numpy())
        np.testing.assert_array_equal(fy.numpy(), sy.numpy())
        assert fy.dtype == sy.dtype


def test_shuffle_is_a_reproducible_permutation_per_epoch():
    ds = TensorDataset(mg.arange(23))
    a = DataLoader(ds, batch_size=5, shuffle=True, seed=7)
    b = DataLoader(ds, batch_size=5, shuffle=True, seed=7)
    epochs_a = [sum(batches_as_lists(a), []) for _ in range(3)]
    epochs_b = [sum(batches_as_lists(b), []) for _ in range(3)]
    assert epochs_a == epochs_b
    for e in epochs_a:
        assert sorted(e) == list(range(23))
    assert epochs_a[0] != epochs_a[1] != epochs_a[2] and epochs_a[0] != list(range(23))
    other = DataLoader(ds, batch_size=5, shuffle=True, seed=8)
    assert sum(batches_as_lists(other), []) != epochs_a[0]


def test_seedless_shuffle_follows_manual_seed():
    ds = TensorDataset(mg.arange(16))
    mg.manual_seed(5)
    first = [batches_as_lists(DataLoader(ds, batch_size=4, shuffle=True)) for _ in range(2)]
    mg.manual_seed(5)
    again = [batches_as_lists(DataLoader(ds, batch_size=4, shuffle=True)) for _ in range(2)]
    assert first == again and first[0] != first[1]
    mg.manual_seed(6)
    assert batches_as_lists(DataLoader(ds, batch_size=4, shuffle=True)) != first[0]
    # without shuffling the host generator is not touched
    mg.manual_seed(5)
    state = B.get_rng_state()
    list(DataLoader(ds, batch_size=4))
    assert B.get_rng_state() == state


def test_abandoned_epoch_counts_and_next_iter_starts_fresh():
    dl = DataLoader(TensorDataset(mg.arange(12)), batch_size=4, shuffle=True, seed=1)
    ref = DataLoader(TensorDataset(mg.arange(12)), batch_size=4, shuffle=True, seed=1)
    first_ref, second_ref = batches_as_lists(ref), batches_as_lists(ref)
    assert batches_as_lists(dl, n=1) == first_ref[:1]
    assert batches_as_lists(dl) == second_ref  # a new full epoch, not the rest of the old one
    assert dl.epoch == 2


def _run(loader, n_batches):
    """Drive `loader` over epochs until `n_batches` batches were seen (a training loop's view)."""
    seen = []
    while len(seen) < n_batches:
        got_any = False
        for b in loader:
            got_any = True
            seen.append(b[0].tolist())
            if len(seen) == n_batches:
                break
        if not got_any and len(loader) == 0:
            break
    return seen


@given(n=st.integers(0, 13), bs=st.integers(1, 5), drop_last=st.booleans(), shuffle=st.booleans(),
       seed=st.one_of(st.none(), st.integers(0, 2 ** 32)), stop=st.integers(0, 30))
def test_resume_mid_epoch_matches_uninterrupted_run(tmp_path_factory, n, bs, drop_last, shuffle, seed, stop):
    if shuffle and n == 0:  # torch's RandomSampler refuses an empty dataset (tests/test_gaps10b.py)
        with pytest.raises(ValueError, match="num_samples=0"):
            DataLoader(TensorDataset(mg.arange(n)), bs, shuffle, drop_last=drop_last, seed=seed)
        return
    ds = TensorDataset(mg.arange(n))
    nb = (n // bs) if drop_last else -(-n // bs)
    total = 3 * nb
    stop = min(stop, total)

    mg.manual_seed(11)
    reference = _run(DataLoader(ds, bs, shuffle, drop_last=drop_last, seed=seed), total)

    mg.manual_seed(11)
    first = DataLoader(ds, bs, shuffle, drop_last=drop_last, seed=seed)
    before = _run(first, stop) if stop else []
    path = tmp_path_factory.mktemp("resume") / "ckpt.npz"
    mg.save({"loader": first.state_dict(), "rng": B.get_rng_state(), "seen": len(before)}, path)

    mg.manual_seed(12345)  # a fresh process: nothing carried over except the checkpoint
    ckpt = mg.load(path)
    B.set_rng_state(ckpt["rng"])
    resumed = DataLoader(TensorDataset(mg.arange(n)), bs, shuffle, drop_last=drop_last, seed=seed)
    resumed.load_state_dict(ckpt["loader"])
    # the first loop after resuming yields exactly the rest of the interrupted epoch (or, when the
    # checkpoint fell between epochs, the next whole epoch) ...
    state = ckpt["loader"]
    expected_first = (nb - state["batch"]) if state["in_epoch"] else nb
    rest = batches_as_lists(resumed)
    assert rest == reference[stop:stop + expected_first]
    # ... and then training continues exactly as the uninterrupted run did
    after = rest + _run(resumed, max(0, total - stop - len(rest)))
    assert before + after[:total - stop] == reference


def test_resume_after_the_last_batch_of_an_epoch():
    ds = TensorDataset(mg.arange(6))
    ref = DataLoader(ds, batch_size=2, shuffle=True, seed=0)
    e0, e1 = batches_as_lists(ref), batches_as_lists(ref)
    dl = DataLoader(ds, batch_size=2, shuffle=True, seed=0)
    it = iter(dl)
    assert [next(it)[0].tolist() for _ in range(3)] == e0  # all of epoch 0, loop not yet told it ended
    state = dl.state_dict()
    assert state["epoch"] == 0 and state["batch"] == 3
    again = DataLoader(ds, batch_size=2, shuffle=True, seed=0)
    again.load_state_dict(state)
    assert batches_as_lists(again) == []  # epoch 0 had nothing left
    assert batches_as_lists(again) == e1 and again.epoch == 2


def test_load_state_dict_rejects_a_different_setup():
    ds = TensorDataset(mg.arange(10))
    state = DataLoader(ds, batch_size=2, shuffle=True, seed=0).state_dict()
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(ds, batch_size=3, shuffle=True, seed=0).load_state_dict(state)
    with pytest.raises(ValueError, match="num_samples"):
        DataLoader(TensorDataset(mg.arange(11)), batch_size=2, shuffle=True, seed=0).load_state_dict(state)
    with pytest.raises(ValueError, match="own seed"):
        DataLoader(ds, batch_size=2, shuffle=True).load_state_dict(state)
    with pytest.raises(ValueError, match="no 'epoch'"):
        DataLoader(ds, batch_size=2, shuffle=True, seed=0).load_state_dict({k: v for k, v in state.items()
                                                                            if k != "epoch"})


# ---------------------------------------------------------------- pad_sequences / lengths_to_mask
def test_pad_sequences_lists_and_options():
    padded, lengths = pad_sequences([[1, 2, 3], [], [4]])
    assert padded.dtype == np.int64 and lengths.dtype == np.int64
    assert padded.tolist() == [[1, 2, 3], [0, 0, 0], [4, 0, 0]] and lengths.tolist() == [3, 0, 1]
    padded, lengths = pad_sequences([[1, 2, 3], [4]], pad_value=-1, batch_first=False)
    assert padded.tolist() == [[1, 4], [2, -1], [3, -1]] and lengths.tolist() == [3, 1]
    padded, lengths = pad_sequences([[1, 2, 3], [4]], max_len=2)
    assert padded.tolist() == [[1, 2], [4, 0]] and lengths.tolist() == [2, 1]  # truncated, lengths clipped
    padded, _ = pad_sequences([[1, 2], [3]], max_len=4, dtype="float64")
    assert padded.dtype == np.float64 and padded.shape == (2, 4)
    padded, lengths = pad_sequences([])
    assert padded.shape == (0, 0) and lengths.shape == (0,)
    padded, lengths = pad_sequences([[], []])
    assert padded.shape == (2, 0) and padded.dtype == mg.get_default_dtype() and lengths.tolist() == [0, 0]


def test_pad_sequences_arrays_and_tensors_with_features(device):
    a = mg.randn(3, 2, device=device)
    b = mg.randn(1, 2, device=device)
    padded, lengths = pad_sequences([a, b, mg.zeros(0, 2, device=device)], pad_value=9.0)
    assert padded.shape == (3, 3, 2) and padded.dtype == np.float32 and padded.device == a.device
    assert lengths.device == a.device and lengths.tolist() == [3, 1, 0]
    p = padded.numpy()
    np.testing.assert_array_equal(p[0], a.numpy())
    np.testing.assert_array_equal(p[1, :1], b.numpy())
    assert (p[1, 1:] == 9.0).all() and (p[2] == 9.0).all()
    # ints mixed with float32 stay float32 (no silent float64)
    padded, _ = pad_sequences([mg.ones(2, 2, device=device), [[1, 2]]])
    assert padded.dtype == np.float32
    with pytest.raises(ValueError, match="after the first"):
        pad_sequences([np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError, match="0-dimensional"):
        pad_sequences([np.array(1.0), np.zeros(2)])
    with pytest.raises(TypeError, match="list of sequences"):
        pad_sequences(mg.zeros(2, 3))
    with pytest.raises(TypeError, match="sequence 1"):
        pad_sequences([[1], 5])


@given(lengths=st.lists(st.integers(0, 5), max_size=5), batch_first=st.booleans(),
       max_len=st.one_of(st.none(), st.integers(0, 6)))
def test_pad_sequences_property(lengths, batch_first, max_len):
    rng = np.random.default_rng(sum(lengths))
    seqs = [rng.integers(1, 100, size=(n, 2)) for n in lengths]
    padded, lens = pad_sequences(seqs, pad_value=-7, batch_first=batch_first, max_len=max_len)
    p = padded.numpy() if batch_first else padded.numpy().swapaxes(0, 1)
    T = max(lengths, default=0) if max_len is None else max_len
    assert p.shape == ((len(seqs), T, 2) if seqs else (0, T))  # no sequence: the feature shape is unknown
    assert lens.tolist() == [min(n, T) for n in lengths]
    mask = lengths_to_mask(lens, max_len=T).numpy()
    assert mask.shape == (len(seqs), T)
    for b, s in enumerate(seqs):
        L = min(len(s), T)
        np.testing.assert_array_equal(p[b, :L], s[:L])
        assert (p[b, L:] == -7).all()
        assert mask[b].tolist() == [t < L for t in range(T)]


def test_pad_sequences_gradient_flows_to_real_positions(device):
    a = mg.randn(3, 2, dtype="float64", device=device, requires_grad=True)
    b = mg.randn(1, 2, dtype="float64", device=device, requires_grad=True)
    gradcheck(lambda a, b: pad_sequences([a, b], pad_value=0.5)[0], a, b)
    gradcheck(lambda a, b: pad_sequences([a, b], batch_first=False, max_len=2)[0], a, b)
    out, _ = pad_sequences([a, b])
    (out * out).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), 2 * b.numpy())
    with mg.no_grad():
        out, _ = pad_sequences([a, b])
    assert not out.requires_grad


def test_lengths_to_mask(device):
    m = lengths_to_mask(mg.tensor([2, 0, 3], device=device))
    assert m.dtype == np.bool_ and m.device == mg.tensor([0], device=device).device
    assert m.tolist() == [[True, True, False], [False, False, False], [True, True, True]]
    assert lengths_to_mask([1, 2], max_len=4).tolist() == [[True, False, False, False], [True, True, False, False]]
    assert lengths_to_mask(np.array([], dtype=np.int64)).shape == (0, 0)
    assert lengths_to_mask([]).shape == (0, 0)
    assert lengths_to_mask([0, 0]).shape == (2, 0)
    with pytest.raises(ValueError, match=">= 0"):
        lengths_to_mask([1, -1])
    with pytest.raises(ValueError, match="exceeds max_len"):
        lengths_to_mask([5], max_len=3)
    with pytest.raises(ValueError, match="1-D"):
        lengths_to_mask(np.ones((2, 2), dtype=np.int64))
    with pytest.raises(TypeError, match="integers"):
        lengths_to_mask([1.5, 2.0])


# ---------------------------------------------------------------- Vocab
CORPUS = [["the", "cat", "sat"], ["the", "dog", "sat"], ["a", "cat", "ran"], ["the", "end"]]


def test_vocab_build_order_specials_and_min_count():
    v = Vocab.build(CORPUS)
    assert v.itos[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert (v.pad_index, v.unk_index, v.bos_index, v.eos_index) == (0, 1, 2, 3)
    # frequency descending, ties by token
    assert v.itos[4:] == ["the", "cat", "sat", "a", "dog", "end", "ran"]
    assert len(v) == 11 and v.stoi["cat"] == 5 and v.counts["the"] == 3
    v2 = Vocab.build(CORPUS, min_count=2)
    assert v2.itos[4:] == ["the", "cat", "sat"]
    v3 = Vocab.build(CORPUS, max_size=6)
    assert len(v3) == 6 and v3.itos[4:] == ["the", "cat"]
    assert Vocab.build(iter(CORPUS)) == v  # any iterable, deterministic
    assert len(Vocab.build([])) == 4 and len(Vocab.build([[]])) == 4


def test_vocab_lookup_encode_decode():
    v = Vocab.build(CORPUS, min_count=2)
    assert v["cat"] == 5 and v["zebra"] == v.unk_index and "zebra" not in v and "cat" in v
    ids = v.encode(["the", "zebra", "sat"], add_bos=True, add_eos=True)
    assert ids == [2, 4, 1, 6, 3]
    assert v.encode([]) == [] and v.encode([], add_bos=True, add_eos=True) == [2, 3]
    assert v.decode(ids) == ["the", "<unk>", "sat"]
    assert v.decode(ids, strip_special=False) == ["<bos>", "the", "<unk>", "sat", "<eos>"]
    assert v.decode(mg.tensor([0, 4, 0])) == ["the"] and v.decode(np.array([5])) == ["cat"]
    with pytest.raises(IndexError, match="out of range"):
        v.decode([len(v)])
    with pytest.raises(TypeError, match="list of tokens"):
        v.encode("the cat")
    # padding a batch of encoded sentences uses pad_index
    padded, lengths = pad_sequences([v.encode(s) for s in CORPUS], pad_value=v.pad_index)
    assert padded.tolist()[3] == [4, 1, 0] and lengths.tolist() == [3, 3, 3, 2]


def test_vocab_custom_specials_and_errors():
    v = Vocab.build(CORPUS + [["[PAD]", "cat"]], specials={"pad": "[PAD]", "unk": "[UNK]", "mask": "[MASK]"})
    assert v.itos[:3] == ["[PAD]", "[UNK]", "[MASK]"] and v.pad_index == 0 and v.unk_index == 1
    assert v.itos.count("[PAD]") == 1  # a special seen in the data is not added twice
    with pytest.raises(ValueError, match="'bos'"):
        v.encode(["cat"], add_bos=True)
    assert v.decode([2, 3, 1]) == ["cat", "[UNK]"]  # all specials except unk stripped
    no_unk = Vocab(["x", "y"], specials={"pad": "<pad>"})
    assert no_unk["y"] == 2
    with pytest.raises(KeyError, match="zebra"):
        no_unk["zebra"]
    listed = Vocab(["x"], specials=["<pad>", "<unk>", "<sep>"])
    assert listed.unk_index == 1 and listed.specials["special2"] == "<sep>"
    with pytest.raises(TypeError, match="split sentences"):
        Vocab.build(["the cat sat"])
    with pytest.raises(ValueError, match="min_count"):
        Vocab.build(CORPUS, min_count=0)
    with pytest.raises(ValueError, match="max_size"):
        Vocab.build(CORPUS, max_size=3)
    with pytest.raises(ValueError, match="twice"):
        Vocab(["a", "a"])
    with pytest.raises(TypeError, match="strings"):
        Vocab.build([[1, 2]])


def test_vocab_to_dict_roundtrips_through_checkpoint(tmp_path):
    v = Vocab.build(CORPUS, specials={"pad": "<p>", "unk": "<u>", "eos": "</s>"})
    path = tmp_path / "vocab.npz"
    mg.save({"vocab": v.to_dict()}, path)
    w = Vocab.from_dict(mg.load(path)["vocab"])
    assert w == v and w.itos == v.itos and w.eos_index == v.eos_index
    with pytest.raises(ValueError, match="tokens"):
        Vocab.from_dict({"specials": {}})
