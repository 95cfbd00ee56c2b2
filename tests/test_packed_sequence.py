"""nn.utils.rnn's packed sequences (PackedSequence, pack/pad/unpad/unpack) and the recurrent layers on them.

Values, orders and dtypes against torch 2.13; gradients by finite differences (gradcheck) and
against torch; the refusals; models.RNN/LSTM/GRU on a PackedSequence against torch.nn in
float64 (outputs, h_n, c_n, every parameter gradient, input and hx gradients); and torch's
nn names (`mg.nn.LSTM is models.LSTM`) without `import minigrad` loading models.
"""
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.nn.utils.rnn import (
    PackedSequence, invert_permutation, pack_padded_sequence, pack_sequence, pad_packed_sequence, unpack_sequence,
    unpad_sequence,
)
from minigrad.testing import gradcheck

from opcheck import canonical


def _torch():
    return pytest.importorskip("torch")


def _same_packed(ours, theirs):
    """Field by field: data values and dtype, batch_sizes, sorted/unsorted indices (or both None)."""
    np.testing.assert_array_equal(ours.data.numpy(), theirs.data.detach().numpy())
    assert str(ours.data.dtype) == str(theirs.data.dtype).replace("torch.", "")
    assert ours.batch_sizes.dtype == np.int64 and ours.batch_sizes.device == "cpu"
    np.testing.assert_array_equal(ours.batch_sizes.numpy(), theirs.batch_sizes.numpy())
    for name in ("sorted_indices", "unsorted_indices"):
        a, b = getattr(ours, name), getattr(theirs, name)
        assert (a is None) == (b is None), name
        if a is not None:
            assert a.dtype == np.int64
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


# ---------------------------------------------------------------- values, orders and dtypes against torch
CASES = [  # (lengths, enforce_sorted)
    ([4, 2, 1], True), ([4, 4, 3, 1], True), ([3], True), ([1, 4, 2], False), ([2, 2, 3, 1, 2], False),
    ([4, 3, 2], False),
]


@pytest.mark.parametrize("lengths,enforce_sorted", CASES)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("feat", [(), (2,), (2, 3)])
def test_pack_and_pad_match_torch(device, lengths, enforce_sorted, batch_first, feat):
    torch = _torch()
    rng = np.random.default_rng(len(lengths))
    T, B = max(lengths) + 1, len(lengths)  # one step of extra padding: T > every length
    x = rng.standard_normal(((B, T) if batch_first else (T, B)) + feat).astype(np.float32)
    ours = pack_padded_sequence(mg.tensor(x, device=device), lengths, batch_first=batch_first,
                                enforce_sorted=enforce_sorted)
    theirs = torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(x), lengths, batch_first=batch_first,
                                                     enforce_sorted=enforce_sorted)
    _same_packed(ours, theirs)
    assert ours.data.device == canonical(device) and ours.data.dtype == np.float32  # float32 kept
    for total_length, pad in ((None, 0.0), (T + 2, -1.5)):
        got, got_len = pad_packed_sequence(ours, batch_first=batch_first, padding_value=pad,
                                           total_length=total_length)
        want, want_len = torch.nn.utils.rnn.pad_packed_sequence(theirs, batch_first=batch_first, padding_value=pad,
                                                                total_length=total_length)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        assert got.dtype == np.float32 and got.device == canonical(device)
        assert got_len.dtype == np.int64 and got_len.device == "cpu"
        np.testing.assert_array_equal(got_len.numpy(), want_len.numpy())


def test_integer_data_and_lengths_forms_match_torch():
    """int64 data stays int64 (padding value cast); lengths as a list, NumPy array, int32 or int64 Tensor."""
    torch = _torch()
    x = np.arange(24).reshape(4, 3, 2)
    want = torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(x), [2, 4, 1], enforce_sorted=False)
    for lengths in ([2, 4, 1], np.array([2, 4, 1]), mg.tensor([2, 4, 1], dtype="int32"), mg.tensor([2, 4, 1])):
        _same_packed(pack_padded_sequence(mg.tensor(x), lengths, enforce_sorted=False), want)
    got, _ = pad_packed_sequence(pack_padded_sequence(mg.tensor(x), [2, 4, 1], enforce_sorted=False),
                                 padding_value=-1.7)
    exp, _ = torch.nn.utils.rnn.pad_packed_sequence(want, padding_value=-1.7)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got.numpy(), exp.numpy())


def test_docstring_example_of_torch():
    """torch's pad_packed_sequence docstring example, value for value."""
    seq = mg.tensor([[1, 2, 0], [3, 0, 0], [4, 5, 6]])
    packed = pack_padded_sequence(seq, [2, 1, 3], batch_first=True, enforce_sorted=False)
    assert packed.data.numpy().tolist() == [4, 1, 3, 5, 2, 6]
    assert packed.batch_sizes.numpy().tolist() == [3, 2, 1]
    assert packed.sorted_indices.numpy().tolist() == [2, 0, 1]
    assert packed.unsorted_indices.numpy().tolist() == [1, 2, 0]
    padded, lengths = pad_packed_sequence(packed, batch_first=True)
    assert padded.numpy().tolist() == [[1, 2, 0], [3, 0, 0], [4, 5, 6]]
    assert lengths.numpy().tolist() == [2, 1, 3]


def test_ties_are_sorted_stably():
    """Equal lengths keep their order (torch agrees up to 16 sequences; beyond that its order is unspecified)."""
    torch = _torch()
    lengths = [2, 3, 2, 3, 1, 2, 3, 1, 1, 2, 3, 3, 2, 1]
    x = np.arange(3 * len(lengths), dtype=np.float64).reshape(3, len(lengths))
    ours = pack_padded_sequence(mg.tensor(x), lengths, enforce_sorted=False)
    assert ours.sorted_indices.numpy().tolist() == np.argsort(-np.array(lengths), kind="stable").tolist()
    _same_packed(ours, torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(x), lengths, enforce_sorted=False))


def test_pack_sequence_unpack_unpad_match_torch(device):
    torch = _torch()
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal((n, 2)) for n in (2, 4, 1)]
    ours = pack_sequence([mg.tensor(a, device=device) for a in arrays], enforce_sorted=False)
    theirs = torch.nn.utils.rnn.pack_sequence([torch.tensor(a) for a in arrays], enforce_sorted=False)
    _same_packed(ours, theirs)
    sorted_arrays = sorted(arrays, key=len, reverse=True)
    _same_packed(pack_sequence([mg.tensor(a, device=device) for a in sorted_arrays]),
                 torch.nn.utils.rnn.pack_sequence([torch.tensor(a) for a in sorted_arrays]))
    pieces = unpack_sequence(ours)
    assert [p.shape for p in pieces] == [a.shape for a in arrays]
    for p, a in zip(pieces, arrays):
        np.testing.assert_array_equal(p.numpy(), a)
        assert p.device == canonical(device)
    padded = np.zeros((4, 3, 2))
    for b, a in enumerate(arrays):
        padded[:len(a), b] = a
    for batch_first in (False, True):
        src = padded.transpose(1, 0, 2).copy() if batch_first else padded.copy()
        got = unpad_sequence(mg.tensor(src, device=device), mg.tensor([2, 4, 0]), batch_first=batch_first)
        want = torch.nn.utils.rnn.unpad_sequence(torch.tensor(src), torch.tensor([2, 4, 0]), batch_first=batch_first)
        assert len(got) == len(want) == 3
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g.numpy(), w.numpy())


def test_unpad_copies_and_leaves_its_input_alone():
    """torch's unpad transposes its input in place (batch_first=False); ours does not, and its pieces are copies."""
    padded = mg.tensor(np.arange(6.0).reshape(3, 2))
    pieces = unpad_sequence(padded, [3, 1])
    assert padded.shape == (3, 2)
    pieces[0].add_(100.0)
    np.testing.assert_array_equal(padded.numpy(), np.arange(6.0).reshape(3, 2))


# ---------------------------------------------------------------- gradients
@st.composite
def _padded_batches(draw):
    B = draw(st.integers(1, 4))
    lengths = draw(st.lists(st.integers(1, 4), min_size=B, max_size=B))
    T = max(lengths) + draw(st.integers(0, 1))
    feat = draw(st.sampled_from([(), (2,), (1, 2)]))
    batch_first = draw(st.booleans())
    enforce_sorted = draw(st.booleans())
    if enforce_sorted:
        lengths = sorted(lengths, reverse=True)
    seed = draw(st.integers(0, 2 ** 16))
    return lengths, T, feat, batch_first, enforce_sorted, seed


@given(_padded_batches())
def test_pack_pad_gradcheck(device, case):
    """d data / d input and d padded / d data by finite differences, and pad(pack(x)) = x with zeros after each end."""
    lengths, T, feat, batch_first, enforce_sorted, seed = case
    rng = np.random.default_rng(seed)
    B = len(lengths)
    shape = ((B, T) if batch_first else (T, B)) + feat
    x = mg.tensor(rng.standard_normal(shape), device=device, requires_grad=True)

    def pack(x):
        return pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted).data

    def round_trip(x):
        packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
        return pad_packed_sequence(packed, batch_first=batch_first, padding_value=0.5, total_length=T)[0]

    assert gradcheck(pack, x)
    assert gradcheck(round_trip, x)
    mask = np.arange(T)[:, None] < np.array(lengths)[None, :]  # (T, B)
    if batch_first:
        mask = mask.T
    mask = mask.reshape(mask.shape + (1,) * len(feat))
    np.testing.assert_array_equal(round_trip(x).numpy(), np.where(mask, x.numpy(), 0.5))
    assert gradcheck(lambda x: unpad_sequence(x, lengths, batch_first=batch_first), x)


def test_gradients_match_torch():
    """pack -> pad -> unpack with the same cotangents: the input gradients agree with torch's."""
    torch = _torch()
    rng = np.random.default_rng(5)
    x_np = rng.standard_normal((3, 4, 2))  # batch_first (B=3, T=4)
    lengths = [2, 4, 3]
    x = mg.tensor(x_np, requires_grad=True)
    tx = torch.tensor(x_np, requires_grad=True)
    p = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    tp = torch.nn.utils.rnn.pack_padded_sequence(tx, lengths, batch_first=True, enforce_sorted=False)
    w1 = rng.standard_normal(p.data.shape)
    padded, _ = pad_packed_sequence(PackedSequence(p.data * mg.tensor(w1), p.batch_sizes, p.sorted_indices),
                                    total_length=5)
    tpadded, _ = torch.nn.utils.rnn.pad_packed_sequence(
        torch.nn.utils.rnn.PackedSequence(tp.data * torch.tensor(w1), tp.batch_sizes, tp.sorted_indices),
        total_length=5)
    w2 = rng.standard_normal(padded.shape)
    (padded * mg.tensor(w2)).sum().backward()
    (tpadded * torch.tensor(w2)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)

    seqs = [mg.tensor(rng.standard_normal((n, 2)), requires_grad=True) for n in (3, 1, 2)]
    tseqs = [torch.tensor(s.numpy(), requires_grad=True) for s in seqs]
    w = rng.standard_normal((6, 2))
    (pack_sequence(seqs, enforce_sorted=False).data * mg.tensor(w)).sum().backward()
    (torch.nn.utils.rnn.pack_sequence(tseqs, enforce_sorted=False).data * torch.tensor(w)).sum().backward()
    for s, t in zip(seqs, tseqs):
        np.testing.assert_array_equal(s.grad.numpy(), t.grad.numpy())


# ---------------------------------------------------------------- refusals
def test_pack_padded_sequence_refusals():
    x = mg.zeros(4, 3)
    with pytest.raises(RuntimeError, match="pack_padded_sequence: lengths .* must be sorted in decreasing order"):
        pack_padded_sequence(x, [4, 2, 3])
    with pytest.raises(RuntimeError, match="pack_padded_sequence: every length must be greater than 0"):
        pack_padded_sequence(x, [4, 2, 0])
    with pytest.raises(RuntimeError, match="pack_padded_sequence: every length must be greater than 0"):
        pack_padded_sequence(x, [0, -1, 2], enforce_sorted=False)
    with pytest.raises(RuntimeError, match=r"pack_padded_sequence: lengths \[5, 2, 1\] exceed the padded length T=4"):
        pack_padded_sequence(x, [5, 2, 1])
    with pytest.raises(RuntimeError, match=r"expected len\(lengths\) to be equal to batch_size, but got 2 "
                                           r"\(batch_size=3"):
        pack_padded_sequence(x, [4, 2])
    with pytest.raises(RuntimeError, match="batch_size=4"):
        pack_padded_sequence(x, [3, 2, 1], batch_first=True)
    with pytest.raises(RuntimeError, match="pack_padded_sequence: cannot pack empty tensors"):
        pack_padded_sequence(mg.zeros(0, 3), [1, 1, 1])
    with pytest.raises(RuntimeError, match="pack_padded_sequence: cannot pack empty tensors"):
        pack_padded_sequence(mg.zeros(3, 2, 0), [3, 2])
    with pytest.raises(IndexError, match="pack_padded_sequence: input must have at least 2 dimensions"):
        pack_padded_sequence(mg.zeros(3), [2])
    with pytest.raises(TypeError, match="pack_padded_sequence: input must be a minigrad Tensor, got list"):
        pack_padded_sequence([[1.0, 2.0]], [1, 1])
    with pytest.raises(TypeError, match="pack_padded_sequence: lengths must be integers"):
        pack_padded_sequence(x, [2.5, 2, 1])
    with pytest.raises(TypeError, match="pack_padded_sequence: lengths must be integers, got dtype float32"):
        pack_padded_sequence(x, mg.tensor([3.0, 2.0, 1.0]))
    with pytest.raises(TypeError, match="pack_padded_sequence: lengths must be integers, got dtype bool"):
        pack_padded_sequence(x, np.array([True, True, True]))
    with pytest.raises(RuntimeError, match="pack_padded_sequence: lengths must be 1-D"):
        pack_padded_sequence(x, mg.tensor([[3, 2, 1]]))
    with pytest.raises(TypeError, match="pack_padded_sequence: lengths must be a list"):
        pack_padded_sequence(x, 3)


def test_other_refusals():
    packed = pack_padded_sequence(mg.zeros(4, 3), [4, 2, 1])
    with pytest.raises(ValueError, match="pad_packed_sequence: expected total_length to be at least the length of "
                                         "the longest sequence in input, but got total_length=3 and max sequence "
                                         "length being 4"):
        pad_packed_sequence(packed, total_length=3)
    with pytest.raises(TypeError, match="pad_packed_sequence: total_length must be an int, got float"):
        pad_packed_sequence(packed, total_length=6.0)
    with pytest.raises(TypeError, match="pad_packed_sequence: expected a PackedSequence"):
        pad_packed_sequence(mg.zeros(4, 3))
    with pytest.raises(TypeError, match="unpack_sequence: expected a PackedSequence"):
        unpack_sequence((mg.zeros(3), mg.tensor([2, 1])))
    with pytest.raises(RuntimeError, match="pack_sequence: received an empty list of sequences"):
        pack_sequence([])
    with pytest.raises(RuntimeError, match="pack_padded_sequence: lengths .* must be sorted"):
        pack_sequence([mg.ones(2), mg.ones(3)])
    with pytest.raises(RuntimeError, match="every length must be greater than 0"):
        pack_sequence([mg.ones(2), mg.ones(0)], enforce_sorted=False)
    with pytest.raises(TypeError, match="pack_sequence: sequence 1 is a list"):
        pack_sequence([mg.ones(2), [1.0]])
    with pytest.raises(ValueError, match="unpad_sequence: got 3 lengths for a batch of 2 sequences"):
        unpad_sequence(mg.zeros(3, 2), [3, 1, 1])
    with pytest.raises(ValueError, match=r"unpad_sequence: every length must be in \[0, 3\]"):
        unpad_sequence(mg.zeros(3, 2), [4, 1])
    with pytest.raises(ValueError, match="PackedSequence: batch_sizes must be an int64 Tensor on the CPU"):
        PackedSequence(mg.zeros(3), [2, 1])


# ---------------------------------------------------------------- the PackedSequence type
def test_packed_sequence_is_torchs_namedtuple():
    x = mg.tensor(np.arange(12.0).reshape(4, 3), dtype="float32")
    p = pack_padded_sequence(x, [2, 4, 1], enforce_sorted=False)
    assert isinstance(p, tuple) and p._fields == ("data", "batch_sizes", "sorted_indices", "unsorted_indices")
    data, batch_sizes, sorted_indices, unsorted_indices = p
    assert data is p.data and batch_sizes is p.batch_sizes
    assert repr(p).startswith("PackedSequence(data=")
    assert p.is_cuda is False
    assert p.to("cpu") is p and p.float() is p  # nothing to change: self, as torch
    d = p.double()
    assert isinstance(d, PackedSequence) and d.data.dtype == np.float64
    assert d.batch_sizes is p.batch_sizes and d.sorted_indices is p.sorted_indices
    assert p.to(dtype="float64").data.dtype == np.float64
    # PackedSequence(data, batch_sizes, sorted_indices) computes the inverse; the pair form also works
    q = PackedSequence(p.data, p.batch_sizes, p.sorted_indices)
    np.testing.assert_array_equal(q.unsorted_indices.numpy(), p.unsorted_indices.numpy())
    r = PackedSequence((p.data, p.batch_sizes))
    assert r.sorted_indices is None and r.unsorted_indices is None
    perm = mg.tensor([2, 0, 3, 1])
    assert invert_permutation(perm).numpy().tolist() == [1, 3, 0, 2]
    assert invert_permutation(None) is None


def test_packed_sequence_to_moves_indices_with_data(device):
    p = pack_padded_sequence(mg.ones(3, 2), [3, 1], enforce_sorted=False)
    q = p.to(device)
    dev = canonical(device)
    assert q.data.device == dev and q.sorted_indices.device == dev and q.unsorted_indices.device == dev
    assert q.batch_sizes.device == "cpu" and q.is_cuda == (device != "cpu")


# ---------------------------------------------------------------- recurrent layers on packed input, against torch
def _layer_pair(torch, kind, layers, bidirectional, batch_first, fused=True):
    import models
    I, H = 3, 4
    ours = getattr(models, kind)(I, H, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first,
                                 fused=fused, dtype="float64")
    theirs = getattr(torch.nn, kind)(I, H, num_layers=layers, bidirectional=bidirectional,
                                     batch_first=batch_first).double()
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    return ours, theirs


LAYER_CASES = [  # (kind, num_layers, bidirectional, batch_first, lengths, enforce_sorted, with hx)
    ("LSTM", 2, True, False, [2, 5, 1, 5], False, True),
    ("LSTM", 2, True, True, [3, 1, 4], False, False),
    ("LSTM", 1, False, False, [5, 3, 3, 1], True, True),
    ("GRU", 2, True, False, [2, 5, 1, 5], False, True),
    ("GRU", 2, True, True, [1, 4, 2], False, True),
    ("GRU", 1, True, False, [5, 2], True, False),
    ("RNN", 2, True, False, [2, 5, 1, 5], False, True),
    ("RNN", 2, True, True, [4, 4, 1], True, True),
    ("RNN", 1, False, True, [1, 3, 2], False, False),
]


@pytest.mark.parametrize("kind,layers,bidirectional,batch_first,lengths,enforce_sorted,with_hx", LAYER_CASES)
def test_recurrent_layers_on_packed_input_match_torch(kind, layers, bidirectional, batch_first, lengths,
                                                      enforce_sorted, with_hx):
    """Output PackedSequence, h_n (c_n) in the original order, and every gradient, as torch.nn in float64."""
    torch = _torch()
    rng = np.random.default_rng(len(lengths) + layers)
    ours, theirs = _layer_pair(torch, kind, layers, bidirectional, batch_first)
    T, B, LD = max(lengths), len(lengths), layers * (2 if bidirectional else 1)
    x_np = rng.standard_normal((B, T, 3) if batch_first else (T, B, 3))
    x, tx = mg.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    n_states = 2 if kind == "LSTM" else 1
    h_np = [rng.standard_normal((LD, B, 4)) for _ in range(n_states)]
    hs = [mg.tensor(h, requires_grad=True) for h in h_np]
    ths = [torch.tensor(h, requires_grad=True) for h in h_np]
    hx = (tuple(hs) if kind == "LSTM" else hs[0]) if with_hx else None
    thx = (tuple(ths) if kind == "LSTM" else ths[0]) if with_hx else None

    packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    tpacked = torch.nn.utils.rnn.pack_padded_sequence(tx, lengths, batch_first=batch_first,
                                                      enforce_sorted=enforce_sorted)
    out, state = ours(packed, hx)
    tout, tstate = theirs(tpacked, thx)
    assert isinstance(out, PackedSequence)
    assert out.batch_sizes is packed.batch_sizes and out.sorted_indices is packed.sorted_indices
    np.testing.assert_array_equal(out.batch_sizes.numpy(), tout.batch_sizes.numpy())
    np.testing.assert_allclose(out.data.numpy(), tout.data.detach().numpy(), rtol=1e-10, atol=1e-12)
    states = state if kind == "LSTM" else (state,)
    tstates = tstate if kind == "LSTM" else (tstate,)
    for s, ts in zip(states, tstates):
        assert s.shape == (LD, B, 4)
        np.testing.assert_allclose(s.numpy(), ts.detach().numpy(), rtol=1e-10, atol=1e-12)
    padded, lens = pad_packed_sequence(out, batch_first=batch_first)
    tpadded, tlens = torch.nn.utils.rnn.pad_packed_sequence(tout, batch_first=batch_first)
    np.testing.assert_allclose(padded.numpy(), tpadded.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(lens.numpy(), tlens.numpy())

    w = rng.standard_normal(out.data.shape)
    ws = [rng.standard_normal(s.shape) for s in states]
    loss = (out.data * mg.tensor(w)).sum() + sum((s * mg.tensor(v)).sum() for s, v in zip(states, ws))
    tloss = (tout.data * torch.tensor(w)).sum() + sum((s * torch.tensor(v)).sum() for s, v in zip(tstates, ws))
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-11)
    if with_hx:
        for h, th in zip(hs, ths):
            np.testing.assert_allclose(h.grad.numpy(), th.grad.numpy(), rtol=1e-9, atol=1e-11)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs_params[name].grad.numpy(), rtol=1e-9, atol=1e-11,
                                   err_msg=name)


def test_composed_layer_on_packed_input_matches_fused():
    """fused=False (cells looped over time) on a PackedSequence gives what the fused ops give."""
    torch = _torch()
    rng = np.random.default_rng(9)
    fused, _ = _layer_pair(torch, "LSTM", 2, True, False, fused=True)
    composed, _ = _layer_pair(torch, "LSTM", 2, True, False, fused=False)
    composed.load_state_dict(fused.state_dict())
    x = mg.tensor(rng.standard_normal((4, 3, 3)))
    packed = pack_padded_sequence(x, [2, 4, 1], enforce_sorted=False)
    (a, (ha, ca)), (b, (hb, cb)) = fused(packed), composed(packed)
    np.testing.assert_allclose(a.data.numpy(), b.data.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ha.numpy(), hb.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ca.numpy(), cb.numpy(), rtol=1e-10, atol=1e-12)


def test_recurrent_layer_on_packed_input_runs_on_device(device):
    """The packed path on each backend (float32 kept) agrees with the lengths= path."""
    import models
    mg.manual_seed(1)
    gru = models.GRU(3, 4, bidirectional=True).to(device)
    x = mg.randn(4, 3, 3, device=device)
    out, h = gru(pack_padded_sequence(x, [1, 4, 3], enforce_sorted=False))
    assert out.data.dtype == np.float32 and out.data.device == canonical(device) and h.device == canonical(device)
    ref, href = gru(x, lengths=[1, 4, 3])
    padded, _ = pad_packed_sequence(out)
    np.testing.assert_allclose(padded.numpy(), ref.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(h.numpy(), href.numpy(), rtol=1e-6, atol=1e-6)


def test_recurrent_layer_packed_refusals():
    import models
    lstm = models.LSTM(3, 4)
    packed = pack_padded_sequence(mg.zeros(4, 2, 3), [4, 2])
    with pytest.raises(ValueError, match="LSTM: a PackedSequence carries its own lengths"):
        lstm(packed, lengths=[4, 2])
    with pytest.raises(ValueError, match=r"LSTM: a PackedSequence input needs data of shape \(sum of lengths, 3\)"):
        lstm(pack_padded_sequence(mg.zeros(4, 2, 5), [4, 2]))
    with pytest.raises(ValueError, match=r"LSTM: a PackedSequence input needs data of shape"):
        lstm(pack_padded_sequence(mg.zeros(4, 2), [4, 2]))
    with pytest.raises(TypeError, match="LSTM: input is float64"):
        lstm(packed.double())
    with pytest.raises(ValueError, match=r"LSTM: expected h_0 of shape \(1, 2, 4\)"):
        lstm(packed, (mg.zeros(1, 3, 4), mg.zeros(1, 3, 4)))


# ---------------------------------------------------------------- torch's nn names
def test_nn_names_are_the_models_classes():
    import models
    from minigrad.nn import GRU  # from-import goes through the module __getattr__ too
    assert mg.nn.LSTM is models.LSTM and mg.nn.RNN is models.RNN and GRU is models.GRU
    assert mg.nn.RNNCell is models.RNNCell and mg.nn.LSTMCell is models.LSTMCell
    assert mg.nn.GRUCell is models.GRUCell
    assert {"RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"} <= set(mg.nn.__all__) & set(dir(mg.nn))
    with pytest.raises(AttributeError, match="module 'minigrad.nn' has no attribute 'LSTMM'"):
        mg.nn.LSTMM  # noqa: B018


def test_import_minigrad_does_not_load_models():
    code = ("import sys, minigrad, minigrad.nn, minigrad.nn.utils.rnn\n"
            "assert 'models' not in sys.modules, 'import minigrad loaded models'\n"
            "lstm = minigrad.nn.LSTM(2, 3)\n"
            "assert 'models' in sys.modules and type(lstm).__module__ == 'models.lstm'\n"
            "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
