"""More shape and indexing ops with torch's names: unbind, narrow, select, movedim/moveaxis,
swapaxes/swapdims, expand_as/view_as/reshape_as, unflatten (+ nn.Unflatten), tile, repeat_interleave,
diagonal, diag, trace, diff, cumprod, unique, masked_scatter(_), index_copy(_), index_fill(_),
masked_fill_, and F.pad's reflect/replicate refusals.

Values against NumPy (bit for bit where the op only moves values), gradients against float64
finite differences (check_op), torch parity for values and gradients, errors naming the op,
in-place rules (version counters) and which results share memory with their input.
"""
import functools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad.ops.reduce import CumProd
from minigrad.ops.shape import MaskedScatter, SetItem, Unbind, setitem
from minigrad.testing import strategies as mst

from opcheck import check_op as _check_op
from opcheck import draw_array

GRADIENT_TESTED = [Unbind, MaskedScatter, CumProd, SetItem]

NONSCALAR = mst.shapes(min_dims=1, max_dims=4, max_side=4)
# ops that only move values: outputs equal to NumPy's bit for bit
check_op = functools.partial(_check_op, exact=True)


def _t(a, device, dtype=None):
    """A constant tensor; Python floats become float32 (as mg.tensor reads them), ints int64, bools bool."""
    a = np.asarray(a)
    return mg.tensor(a, device=device, dtype=dtype or ("float32" if a.dtype.kind == "f" else None))


# ---------------------------------------------------------------- views and copies
@given(data=st.data(), shape=NONSCALAR)
def test_unbind_narrow_select(device, data, shape):
    a = draw_array(data, shape, device)
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1))
    n = shape[dim]
    check_op(lambda x: x.unbind(dim), lambda x: tuple(np.moveaxis(x, dim, 0)), [a], device)
    start = data.draw(st.integers(-n, n))
    length = data.draw(st.integers(0, n - start % (n + 1) if start >= 0 else -start))
    s = start + n if start < 0 else start
    lead = (slice(None),) * (dim % nd)
    check_op(lambda x: x.narrow(dim, start, length), lambda x: x[lead + (slice(s, s + length),)], [a], device)
    index = data.draw(st.integers(-n, n - 1))
    check_op(lambda x: mg.select(x, dim, index), lambda x: np.take(x, index, axis=dim), [a], device)


@given(data=st.data(), shape=mst.shapes(max_dims=4, max_side=3))
def test_movedim_swapaxes(device, data, shape):
    a = draw_array(data, shape, device)
    nd = len(shape)
    if nd == 0:
        check_op(lambda x: x.movedim(0, -1), lambda x: x, [a], device)
        check_op(lambda x: x.swapaxes(0, -1), lambda x: x, [a], device)
        return
    k = data.draw(st.integers(1, nd))
    src = data.draw(st.permutations(range(nd)))[:k]
    dst = data.draw(st.permutations(range(nd)))[:k]
    src = [s - nd if data.draw(st.booleans()) else s for s in src]  # negative dims too
    dst = [s - nd if data.draw(st.booleans()) else s for s in dst]
    check_op(lambda x: x.movedim(src, dst), lambda x: np.moveaxis(x, src, dst), [a], device)
    check_op(lambda x: mg.moveaxis(x, src[0], dst[0]), lambda x: np.moveaxis(x, src[0], dst[0]), [a], device)
    d0, d1 = data.draw(st.integers(-nd, nd - 1)), data.draw(st.integers(-nd, nd - 1))
    check_op(lambda x: x.swapaxes(d0, d1), lambda x: np.swapaxes(x, d0, d1), [a], device)
    check_op(lambda x: mg.swapdims(x, d0, d1), lambda x: np.swapaxes(x, d0, d1), [a], device)


@given(data=st.data(), shapes=mst.broadcastable_shapes(2, max_dims=3, max_side=3))
def test_expand_as_view_as_reshape_as(device, data, shapes):
    a = draw_array(data, shapes[0], device)
    target = np.broadcast_shapes(*shapes)
    other = mg.zeros(*target, device=device)
    check_op(lambda x: x.expand_as(other), lambda x: np.broadcast_to(x, target), [a], device)
    flat = mg.zeros(a.size, device=device)
    check_op(lambda x: x.view_as(flat), lambda x: x.reshape(-1), [a], device)
    check_op(lambda x: x.reshape(-1).reshape_as(mg.zeros(*shapes[0], device=device)), lambda x: x, [a], device)


@given(data=st.data(), shape=NONSCALAR)
def test_unflatten_and_tile(device, data, shape):
    a = draw_array(data, shape, device)
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1))
    n = shape[dim]
    f = data.draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]))
    sizes = [f, n // f]
    if data.draw(st.booleans()):
        sizes[data.draw(st.integers(0, 1))] = -1
    d = dim % nd
    want = shape[:d] + (f, n // f) + shape[d + 1:]
    check_op(lambda x: x.unflatten(dim, sizes), lambda x: x.reshape(want), [a], device)
    check_op(lambda x: mg.nn.Unflatten(dim, sizes)(x), lambda x: x.reshape(want), [a], device)
    reps = tuple(data.draw(st.integers(0, 2)) for _ in range(data.draw(st.integers(0, nd + 1))))
    check_op(lambda x: x.tile(reps), lambda x: np.tile(x, reps), [a], device)
    check_op(lambda x: mg.tile(x, reps), lambda x: np.tile(x, reps), [a], device)


@given(data=st.data(), shape=mst.shapes(max_dims=3, min_side=0, max_side=3))
def test_repeat_interleave(device, data, shape):
    """Each copy's gradient sums back into its source (an index_select of repeated positions)."""
    a = draw_array(data, shape, device)
    r = data.draw(st.integers(0, 3))
    check_op(lambda x: x.repeat_interleave(r), lambda x: np.repeat(x, r), [a], device)
    if not shape:
        check_op(lambda x: x.repeat_interleave(r, dim=0), lambda x: np.repeat(x.reshape(1), r), [a], device)
        return
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    counts = np.asarray(data.draw(st.lists(st.integers(0, 3), min_size=shape[dim], max_size=shape[dim])),
                        dtype=np.int64)
    reps = _t(counts, device, dtype=data.draw(st.sampled_from(["int64", "int32"])))
    check_op(lambda x: x.repeat_interleave(reps, dim=dim, output_size=int(counts.sum())),
             lambda x: np.repeat(x, counts, axis=dim), [a], device)
    check_op(lambda x: mg.repeat_interleave(x, r, dim), lambda x: np.repeat(x, r, axis=dim), [a], device)


def test_repeat_interleave_counts_only_and_one_count(device):
    assert mg.repeat_interleave(_t([1, 0, 3], device)).numpy().tolist() == [0, 2, 2, 2]
    x = _t([[1.0, 2.0], [3.0, 4.0]], device)
    assert x.repeat_interleave(_t([2], device), dim=0).numpy().tolist() == [[1, 2], [1, 2], [3, 4], [3, 4]]
    assert x.repeat_interleave(_t(2, device), dim=1).numpy().tolist() == [[1, 1, 2, 2], [3, 3, 4, 4]]


@given(data=st.data(), shape=mst.shapes(min_dims=2, max_dims=4, min_side=0, max_side=4))
def test_diagonal(device, data, shape):
    """The gradient lands on the diagonal and nowhere else (an integer-array index)."""
    a = draw_array(data, shape, device)
    nd = len(shape)
    d1 = data.draw(st.integers(-nd, nd - 1))
    d2 = data.draw(st.integers(-nd, nd - 1).filter(lambda d: d % nd != d1 % nd))
    off = data.draw(st.integers(-5, 5))
    check_op(lambda x: x.diagonal(off, d1, d2), lambda x: np.diagonal(x, off, d1, d2), [a], device)
    check_op(lambda x: mg.diagonal(x, offset=off), lambda x: np.diagonal(x, off), [a], device)


@given(data=st.data(), n=st.integers(0, 4), m=st.integers(0, 4), k=st.integers(-5, 5))
def test_diag_and_trace(device, data, n, m, k):
    v, a = draw_array(data, (n,), device), draw_array(data, (n, m), device)
    check_op(lambda x: mg.diag(x, k), lambda x: np.diag(x, k), [v], device)
    check_op(lambda x: x.diag(k), lambda x: np.diag(x, k), [a], device)
    _check_op(lambda x: x.trace(), lambda x: np.trace(x), [a], device)


@given(data=st.data(), shape=NONSCALAR, n=st.integers(0, 3))
def test_diff(device, data, shape, n):
    a = draw_array(data, shape, device)
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1))
    # arithmetic (n > 1 rounds float32 in between), so values to float32 precision, not bit for bit
    _check_op(lambda x: x.diff(n, dim), lambda x: np.diff(x, n, axis=dim), [a], device)
    d = dim % nd
    pre = draw_array(data, shape[:d] + (data.draw(st.integers(0, 2)),) + shape[d + 1:], device)
    app = draw_array(data, shape[:d] + (data.draw(st.integers(0, 2)),) + shape[d + 1:], device)
    k = max(n, 1)  # n=0 returns x alone (prepend and append unused)
    _check_op(lambda x, p, q: mg.diff(x, k, dim, prepend=p, append=q),
              lambda x, p, q: np.diff(x, k, axis=dim, prepend=p, append=q), [a, pre, app], device)


def test_diff_of_bools_and_ints(device):
    b = _t([[False, True, True], [True, True, False]], device)
    assert mg.diff(b).numpy().tolist() == [[True, False], [False, True]]  # torch: x[i+1] != x[i]
    i = _t([1, 4, 9], device, dtype="int32")
    assert mg.diff(i).dtype == np.int32 and mg.diff(i).numpy().tolist() == [3, 5]


# ---------------------------------------------------------------- cumprod
@given(data=st.data(), shape=NONSCALAR)
def test_cumprod_with_zeros(device, data, shape):
    """dx_j = prod_{k<j} x_k * S_j: exact with zeros anywhere (one, several, at the ends)."""
    a = draw_array(data, shape, device)
    zeros = np.asarray(data.draw(st.lists(st.booleans(), min_size=a.size, max_size=a.size)), dtype=bool)
    a = np.where(zeros.reshape(shape), 0.0, a)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    _check_op(lambda x: x.cumprod(dim), lambda x: np.cumprod(x, axis=dim), [a], device)


def test_cumprod_gradient_with_zeros_by_hand(device):
    x = mg.tensor([2.0, 0.0, 3.0, 0.0, 5.0], dtype="float64", device=device, requires_grad=True)
    x.cumprod(0).sum().backward()
    # y = [2, 0, 0, 0, 0]: d/dx0 = 1 + x1 + ... = 1, d/dx1 = x0 (1 + x2 + x2 x3 + ...) = 2 * 4 = 8, the rest 0
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 8.0, 0.0, 0.0, 0.0])
    s = mg.tensor(3.0, device=device, requires_grad=True)
    y = s.cumprod(0)
    assert y.shape == () and float(y.numpy()) == 3.0
    y.backward()
    assert float(s.grad.numpy()) == 1.0
    e = mg.zeros(0, 3, device=device, requires_grad=True)
    e.cumprod(0).sum().backward()
    assert e.grad.shape == (0, 3)
    assert mg.cumprod(_t([[1, 2], [3, 4]], device, dtype="int32"), 0).dtype == np.int64  # as torch
    assert mg.cumprod(_t([1, 2], device), 0, dtype=mg.float64).dtype == np.float64


# ---------------------------------------------------------------- unique
def test_unique(device):
    u = _t([3, 1, 2, 3, 1, 5], device)
    values, inverse, counts = mg.unique(u.reshape(2, 3), return_inverse=True, return_counts=True)
    assert values.numpy().tolist() == [1, 2, 3, 5] and values.dtype == np.int64
    assert inverse.shape == (2, 3) and inverse.numpy().tolist() == [[2, 0, 1], [2, 0, 3]]
    assert counts.numpy().tolist() == [2, 1, 2, 1]
    np.testing.assert_array_equal(values.numpy()[inverse.numpy()], u.reshape(2, 3).numpy())
    assert u.unique(sorted=False).numpy().tolist() == [1, 2, 3, 5]
    v, inv, c = mg.unique(_t(2.0, device), return_inverse=True, return_counts=True)
    assert v.shape == (1,) and inv.shape == () and c.numpy().tolist() == [1]
    nan = mg.unique(_t([1.0, float("nan"), float("nan")], device))  # NaNs are not merged, as torch
    assert nan.shape == (3,)
    x = mg.tensor([2.0, 1.0, 2.0], device=device, requires_grad=True)
    assert not mg.unique(x).requires_grad and mg.unique(x).dtype == np.float32



def test_unique_slices_along_a_dim(device):
    x = _t([[1, 2], [0, 5], [1, 2], [0, 3]], device)
    values, inverse, counts = mg.unique(x, dim=0, return_inverse=True, return_counts=True)
    assert values.numpy().tolist() == [[0, 3], [0, 5], [1, 2]]  # rows in lexicographic order
    assert inverse.numpy().tolist() == [2, 1, 2, 0] and counts.numpy().tolist() == [1, 1, 2]
    np.testing.assert_array_equal(values.numpy()[inverse.numpy()], x.numpy())
    cols = mg.unique(x.T.contiguous(), dim=1)  # the same along dim 1
    assert cols.numpy().tolist() == [[0, 0, 1], [3, 5, 2]]
    assert mg.unique(_t(np.zeros((0, 2), np.int64), device), dim=0).shape == (0, 2)
    with pytest.raises(ValueError, match="unique: .* zero-size dim other than dim=0"):
        mg.unique(_t(np.zeros((2, 0), np.int64), device), dim=0)
    with pytest.raises(IndexError, match="unique"):
        mg.unique(x, dim=2)


@given(data=st.data(), shape=mst.shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
       dtype=st.sampled_from(["int64", "int32", "bool", "float32", "float64"]))
def test_unique_with_dim_matches_torch(device, data, shape, dtype):
    """Values, inverse and counts equal torch's for slices without NaN (torch's order of NaN slices is an
    artifact of its comparator; ours sorts them last, as NumPy)."""
    torch = pytest.importorskip("torch")
    a = data.draw(mst.tensors(shape=shape, dtype="int64", min_value=-1, max_value=1)).numpy().astype(dtype)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    got = mg.unique(mg.tensor(a, device=device), dim=dim, return_inverse=True, return_counts=True)
    want = torch.unique(torch.tensor(a), dim=dim, return_inverse=True, return_counts=True)
    for g, w in zip(got, want):
        assert g.dtype == np.dtype(str(w.dtype).replace("torch.", ""))
        np.testing.assert_array_equal(g.numpy(), w.numpy())


# ---------------------------------------------------------------- index writes
def _np_masked_scatter(x, mask, src):
    out = np.broadcast_to(x, np.broadcast_shapes(x.shape, mask.shape)).copy()
    m = np.broadcast_to(mask, out.shape)
    out[m] = src.reshape(-1)[:m.sum()]
    return out


@given(data=st.data(), shapes=mst.broadcastable_shapes(2, max_dims=3, max_side=3), extra=st.integers(0, 3))
def test_masked_scatter(device, data, shapes, extra):
    """Written places of x get gradient 0; source's first k values get dy at the mask, the rest 0."""
    a = draw_array(data, shapes[0], device)
    mask = data.draw(mst.tensors(shape=shapes[1], dtype="bool", device=device))
    k = int(np.broadcast_to(mask.numpy(), np.broadcast_shapes(*shapes)).sum())
    src = draw_array(data, (k + extra,), device).reshape(data.draw(st.sampled_from([(k + extra,), (1, k + extra)])))
    check_op(lambda x, s: x.masked_scatter(mask, s), lambda x, s: _np_masked_scatter(x, mask.numpy(), s),
             [a, src], device)


@st.composite
def index_copy_case(draw):
    """(shape, dim, index, source shape): distinct indices along dim (one write per place: deterministic)."""
    shape = draw(mst.shapes(min_dims=1, max_dims=3, max_side=4))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    index = draw(st.permutations(range(n)))[:draw(st.integers(0, n))]
    d = dim % len(shape)
    return shape, dim, np.asarray(index, dtype=np.int64), shape[:d] + (len(index),) + shape[d + 1:]


@given(data=st.data(), case=index_copy_case())
def test_index_copy(device, data, case):
    shape, dim, index, sshape = case
    a, src = draw_array(data, shape, device), draw_array(data, sshape, device)
    idx = _t(index, device)

    def ref(x, s):
        out = x.copy()
        out[(slice(None),) * (dim % len(shape)) + (index,)] = s
        return out

    check_op(lambda x, s: x.index_copy(dim, idx, s), ref, [a, src], device)
    check_op(lambda x, s: mg.index_copy(x, dim, idx.to(mg.int32), s), ref, [a, src], device)


@given(data=st.data(), shape=NONSCALAR, value=st.sampled_from([-2.5, 0.0, 7.0]))
def test_index_fill(device, data, shape, value):
    """Filled places get gradient 0; a 0-d tensor value gets the sum of dy over them."""
    a = draw_array(data, shape, device)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    index = np.asarray(data.draw(st.lists(st.integers(-n, n - 1), max_size=4)), dtype=np.int64)
    idx = _t(index, device)

    def ref(x, v):
        out = x.copy()
        out[(slice(None),) * (dim % len(shape)) + (index,)] = v
        return out

    check_op(lambda x: x.index_fill(dim, idx, value), lambda x: ref(x, value), [a], device)
    check_op(lambda x, v: mg.index_fill(x, dim, idx, v), ref, [a, np.asarray(value)], device)


def test_zero_dim_and_empty_cases(device):
    s = mg.tensor(3.0, device=device, requires_grad=True)
    y = s.index_copy(0, _t([0], device), _t([9.0], device)) + s.index_fill(0, _t([0], device), 7.0)
    assert y.shape == () and float(y.numpy()) == 16.0
    m = s.masked_scatter(_t(True, device), _t([7.0, 8.0], device))
    assert m.shape == () and float(m.numpy()) == 7.0
    assert s.repeat_interleave(3).numpy().tolist() == [3.0, 3.0, 3.0]
    assert s.movedim(0, -1) is s and s.swapaxes(0, 0) is s
    assert mg.zeros(0, 3, device=device).unbind(0) == ()
    assert mg.zeros(2, 3, device=device).narrow(1, 3, 0).shape == (2, 0)
    assert mg.arange(4.0, device=device).narrow(0, _t(1, device), 2).numpy().tolist() == [1.0, 2.0]  # 0-d start
    assert repr(mg.nn.Unflatten(1, [2, -1])) == "Unflatten(dim=1, unflattened_size=(2, -1))"
    x = mg.zeros(2, 3, device=device)
    assert x.masked_scatter(mg.zeros(2, 3, dtype=mg.bool_, device=device), mg.zeros(0, device=device)).shape == (2, 3)
    assert x.index_copy(0, _t(np.zeros(0, np.int64), device), mg.zeros(0, 3, device=device)).shape == (2, 3)
    assert mg.diag(mg.zeros(0, device=device)).shape == (0, 0)
    assert float(mg.trace(mg.zeros(0, 3, device=device)).numpy()) == 0.0


# ---------------------------------------------------------------- torch parity
def _parity_cases():
    """(name, fn(module, *tensors), [arrays], index-like extras are built inside fn with the module's tensor(),
    on the input's device, as torch requires)."""
    r = np.random.default_rng(3)
    x = r.standard_normal((3, 4))
    x3 = r.standard_normal((2, 3, 4))
    z = np.array([[2.0, 0.0, 3.0, 0.0], [0.0, -1.5, 0.5, 2.0], [1.5, 2.0, 0.0, 0.0]])
    m = np.array([[True, False, True, True], [False, False, True, False], [True, True, False, False]])
    return [
        ("unbind", lambda T, a: T.stack([u * (k + 1) for k, u in enumerate(a.unbind(-1))]), [x]),
        ("narrow", lambda T, a: a.narrow(1, -3, 2), [x]),
        ("select", lambda T, a: a.select(0, -1), [x3]),
        ("movedim", lambda T, a: a.movedim((0, -1), (2, 0)), [x3]),
        ("swapdims", lambda T, a: a.swapdims(0, 2), [x3]),
        ("unflatten", lambda T, a: a.unflatten(-1, (2, -1)), [x3]),
        ("tile", lambda T, a: a.tile((2, 1, 1)), [x]),
        ("repeat_interleave", lambda T, a: a.repeat_interleave(T.tensor([2, 0, 1], device=a.device), dim=0), [x]),
        ("repeat_interleave_flat", lambda T, a: a.repeat_interleave(2), [x]),
        ("diagonal", lambda T, a: a.diagonal(1, -1, 0), [x3]),
        ("diag_1d", lambda T, a: T.diag(a[0], -2), [x]),
        ("diag_2d", lambda T, a: T.diag(a, 1), [x]),
        ("trace", lambda T, a: T.trace(a), [x]),
        ("diff", lambda T, a, b: T.diff(a, 2, 0, prepend=b), [x, x[:1]]),
        ("cumprod_zeros_dim1", lambda T, a: a.cumprod(1), [z]),
        ("cumprod_zeros_dim0", lambda T, a: T.cumprod(a, 0), [z]),
        ("masked_scatter", lambda T, a, s: a.masked_scatter(T.tensor(m[0], device=a.device), s),
         [x, r.standard_normal((2, 8))]),
        ("index_copy", lambda T, a, s: a.index_copy(1, T.tensor([3, 0], device=a.device), s),
         [x, r.standard_normal((3, 2))]),
        # Two source columns go to one place: which copy lands is unspecified (torch's docs; on CuPy
        # either may win), so both columns hold the same values; each still gets the gradient.
        ("index_copy_repeated_grads", lambda T, a, s: a.index_copy(1, T.tensor([2, 2], device=a.device), s).sum(1),
         [x, np.repeat(r.standard_normal((3, 1)), 2, axis=1)]),
        # (torch 2.13's backward fails on a negative index here: "index out of range in self"; ours takes it)
        ("index_fill", lambda T, a, v: a.index_fill(0, T.tensor([2, 0], device=a.device), v), [x, np.array(2.5)]),
        ("masked_fill", lambda T, a: a.masked_fill(T.tensor(m, device=a.device), -1.0), [x]),
    ]


@pytest.mark.parametrize("name,fn,arrays", _parity_cases(), ids=[c[0] for c in _parity_cases()])
def test_torch_parity(device, name, fn, arrays):
    torch = pytest.importorskip("torch")
    ours = [mg.tensor(a.astype(np.float32), device=device, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a.astype(np.float32), requires_grad=True) for a in arrays]
    y, yt = fn(mg, *ours), fn(torch, *theirs)
    assert y.shape == tuple(yt.shape) and y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-6, atol=1e-6)
    seed = np.random.default_rng(4).standard_normal(y.shape).astype(np.float32)
    y.backward(mg.tensor(seed, device=device))
    yt.backward(torch.tensor(seed))
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_torch_parity_integer_results():
    torch = pytest.importorskip("torch")
    a = np.array([[3, 1, 2], [3, 1, 5]])
    for ours, theirs in [
        (mg.trace(mg.tensor(a, dtype="int32")), torch.trace(torch.tensor(a, dtype=torch.int32))),
        (mg.cumprod(mg.tensor(a > 1), 1), torch.cumprod(torch.tensor(a > 1), 1)),
        (mg.repeat_interleave(mg.tensor([2, 0, 1])), torch.repeat_interleave(torch.tensor([2, 0, 1]))),
        (mg.tensor(a).index_fill(1, mg.tensor([1]), 7.5), torch.tensor(a).index_fill(1, torch.tensor([1]), 7.5)),
    ]:
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    for k, (o, t) in enumerate(zip(mg.unique(mg.tensor(a), return_inverse=True, return_counts=True),
                                   torch.unique(torch.tensor(a), return_inverse=True, return_counts=True))):
        np.testing.assert_array_equal(o.numpy(), t.numpy(), err_msg=f"unique output {k}")


PAD_CROP_SHAPES = [(1, 1, 3), (2, 3), (1, 3, 3), (3, 2, 2), (1, 2, 2, 2), (0, 1, 3), (1, 0, 3), (2, 0)]


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
def test_pad_refuses_exactly_what_torch_refuses(mode):
    """Over a grid of negative/positive amounts: we raise iff torch raises; otherwise equal values.
    (Among torch's refusals: negative amounts that crop every padded dim to 0, and empty channel dims.)"""
    torch = pytest.importorskip("torch")
    amounts = [-3, -2, -1, 0, 1]
    checked = refused = 0
    for shape in PAD_CROP_SHAPES:
        k = len(shape) - 1 if len(shape) <= 3 else 3
        k = min(k, 2) if shape == (1, 3, 3) or shape == (3, 2, 2) else k
        for pads in ([(a, b) for a in amounts for b in amounts] if k == 1 else
                     [(a, b, c, e) for a in amounts[:3] for b in (0, -1) for c in amounts[:3] for e in (0, -1)]
                     if k == 2 else [(a, 0, b, 0, c, 0) for a in (-2, 0) for b in (-2, 0) for c in (-2, 0)]):
            a = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
            try:
                want = torch.nn.functional.pad(torch.tensor(a), pads, mode=mode).numpy()
            except (RuntimeError, NotImplementedError):
                want = None
            if want is None:
                with pytest.raises(ValueError, match=f"pad: mode='{mode}'|pad: cropping"):
                    F.pad(mg.tensor(a), pads, mode=mode)
                refused += 1
            else:
                np.testing.assert_array_equal(F.pad(mg.tensor(a), pads, mode=mode).numpy(), want,
                                              err_msg=f"{shape} {pads}")
            checked += 1
    assert refused > 10 and checked - refused > 10  # both kinds of case were exercised


def test_pad_crop_everything_message(device):
    x = mg.ones(1, 3, 3, device=device)
    for mode in ("reflect", "replicate"):
        with pytest.raises(ValueError, match=rf"pad: mode='{mode}' with pad \(-3, 0, -1, -2\) leaves the padded "
                                             r"dims .* sizes \[0, 0\]; negative amounts may not crop everything"):
            F.pad(x, (-3, 0, -1, -2), mode=mode)
        assert F.pad(x, (0, 0, -2, -1), mode=mode).shape == (1, 0, 3)  # one padded dim left non-empty: allowed
        with pytest.raises(ValueError, match=rf"pad: mode='{mode}' needs a non-empty channel dimension 1"):
            F.pad(mg.ones(1, 0, 3, device=device), (1, 1), mode=mode)
    assert F.pad(x, (-3, 0, -3, 0), mode="circular").shape == (1, 0, 0)  # torch allows it for circular/constant
    assert F.pad(x, (-3, 0, -3, 0)).shape == (1, 0, 0)


# ---------------------------------------------------------------- in place
INPLACE = {
    "masked_fill_": lambda t: t.masked_fill_(_t([True, False], t.device), 9.0),
    "masked_scatter_": lambda t: t.masked_scatter_(_t([[True], [False]], t.device), mg.ones(4, device=t.device)),
    "index_copy_": lambda t: t.index_copy_(1, _t([1], t.device), mg.ones(2, 1, device=t.device)),
    "index_fill_": lambda t: t.index_fill_(0, _t([0], t.device), -1.0),
}


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_versions_and_refusals(device, name):
    w = mg.randn(2, 2, requires_grad=True, device=device)
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0]], device=device)
    loss = (x * w).sum()  # Mul saved w
    with pytest.raises(RuntimeError, match=rf"{name}: a leaf tensor that requires grad"):
        INPLACE[name](w)
    v0 = w._version
    with mg.no_grad():
        assert INPLACE[name](w) is w
    assert w._version == v0 + 1
    with pytest.raises(RuntimeError, match=r"Mul.*version 0.*version 1"):
        loss.backward()
    y = w * 2  # on a non-leaf in a graph the write is recorded (as torch): y is now that op's output
    assert INPLACE[name](y) is y and y.grad_fn is not None and y.requires_grad


def test_inplace_values_match_out_of_place_and_gradients_after(device):
    """A constant tensor changed in place and then used: the gradient sees its new values."""
    base = mg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device=device)
    m = _t([[True, False, True], [False, True, False]], device)
    src = mg.arange(10.0, 16.0, device=device)
    for inplace, outplace in [
        (lambda t: t.masked_fill_(m, -1.0), lambda t: t.masked_fill(m, -1.0)),
        (lambda t: t.masked_scatter_(m, src), lambda t: t.masked_scatter(m, src)),
        (lambda t: t.index_copy_(1, _t([2, 0], device), mg.ones(2, 2, device=device)),
         lambda t: t.index_copy(1, _t([2, 0], device), mg.ones(2, 2, device=device))),
        (lambda t: t.index_fill_(1, _t([-1], device), 0.5), lambda t: t.index_fill(1, _t([-1], device), 0.5)),
    ]:
        c = base.clone()
        want = outplace(base).numpy()
        inplace(c)
        np.testing.assert_array_equal(c.numpy(), want)
        w = mg.ones(2, 3, device=device, requires_grad=True)
        (w * c).sum().backward()
        np.testing.assert_array_equal(w.grad.numpy(), want)
    with pytest.raises(ValueError, match=r"masked_fill_: the result would have shape \(2, 3\), but float32\[3\]"):
        mg.zeros(3, device=device).masked_fill_(_t([[True], [False]], device), 1.0)
    with pytest.raises(ValueError, match=r"masked_scatter_: the result would have shape \(2, 3\)"):
        mg.zeros(3, device=device).masked_scatter_(_t([[True], [False]], device), mg.ones(6, device=device))
    s = mg.zeros(2, 3, device=device)
    s.masked_scatter_(m, s + 5.0)  # source aliasing self is fine: the result is computed before the write
    assert s.numpy().tolist() == [[5.0, 0.0, 5.0], [0.0, 5.0, 0.0]]


def test_which_results_share_memory(device):
    """As torch: basic-index and permute results, unbind and diagonal are views that share the base's memory
    and version counter (more in test_views_torch_parity.py)."""
    x = mg.zeros(2, 3, device=device)
    with mg.no_grad():
        x.select(1, 0).add_(1.0)
        x.narrow(1, 1, 2).add_(2.0)
        x.movedim(0, 1).mul_(3.0)
    assert x.numpy().tolist() == [[3.0, 6.0, 6.0], [3.0, 6.0, 6.0]] and x._version == 3
    x.unbind(0)[0].add_(1.0)
    x.diagonal().add_(1.0)
    assert x.numpy().tolist() == [[5.0, 7.0, 7.0], [3.0, 7.0, 6.0]] and x._version == 5


# ---------------------------------------------------------------- errors
def test_errors_name_the_op(device):
    x = mg.zeros(2, 3, device=device)
    s = mg.tensor(1.0, device=device)
    i = _t([0], device)
    cases = [
        (IndexError, "unbind: cannot unbind the 0-d", lambda: s.unbind()),
        (IndexError, r"unbind: dim 2 is out of range", lambda: x.unbind(2)),
        (IndexError, "narrow: cannot be applied to the 0-d", lambda: s.narrow(0, 0, 1)),
        (IndexError, r"narrow: start -4 is out of range for dimension 1 of size 3", lambda: x.narrow(1, -4, 1)),
        (ValueError, r"narrow: start \(2\) \+ length \(2\) exceeds the size 3 of dimension 1",
         lambda: x.narrow(1, 2, 2)),
        (ValueError, "narrow: length must be non-negative", lambda: x.narrow(1, 0, -1)),
        (TypeError, "narrow: start must be an int, got float", lambda: x.narrow(1, 1.0, 1)),
        (IndexError, "select: cannot be applied to the 0-d", lambda: s.select(0, 0)),
        (IndexError, r"select: index 3 is out of range for dimension 1 of size 3", lambda: x.select(1, 3)),
        (IndexError, r"select: dim -3 is out of range", lambda: x.select(-3, 0)),
        (ValueError, r"movedim: repeated dim in source \(0, 0\)", lambda: x.movedim((0, 0), (0, 1))),
        (ValueError, r"movedim: repeated dim in destination", lambda: x.movedim((0, 1), (1, -1))),
        (ValueError, r"movedim: source \(0, 1\) and destination \(1,\) must hold as many dims",
         lambda: x.movedim((0, 1), (1,))),
        (IndexError, r"movedim: dim 2 is out of range", lambda: x.movedim(2, 0)),
        (IndexError, r"swapaxes: dim 1 is out of range", lambda: s.swapaxes(0, 1)),
        (TypeError, "expand_as: other must be a Tensor", lambda: x.expand_as((2, 3))),
        (ValueError, "expand: dimension 1 of float32", lambda: x.expand_as(mg.zeros(2, 4, device=device))),
        (ValueError, r"reshape: cannot reshape float32\[2, 3\]", lambda: x.view_as(mg.zeros(5, device=device))),
        (ValueError, "unflatten: sizes must be non-empty", lambda: x.unflatten(1, ())),
        (ValueError, r"unflatten: sizes \[4, -1\] for float32\[2, 3\].*don't multiply up to the size of dim 1 \(3\)",
         lambda: x.unflatten(1, (4, -1))),
        (ValueError, r"unflatten: sizes \[-1, -1\].*at most one size may be -1", lambda: x.unflatten(1, (-1, -1))),
        (ValueError, r"unflatten: sizes \[0, -1\].*ambiguous", lambda: mg.zeros(2, 0).unflatten(1, (0, -1))),
        (IndexError, "unflatten: the 0-d", lambda: s.unflatten(0, (1,))),
        (ValueError, r"tile: dims must be non-negative ints, got \(-1,\)", lambda: x.tile((-1,))),
        (ValueError, "repeat_interleave: repeats must be non-negative, got -2",
         lambda: x.repeat_interleave(_t([1, -2], device), dim=0)),
        (ValueError, r"repeat_interleave: repeats int64\[2\] on .* must hold one count per slice along dim 1",
         lambda: x.repeat_interleave(_t([1, 2], device), dim=1)),
        (TypeError, "repeat_interleave: repeats must be an int or an integer tensor, got float32",
         lambda: x.repeat_interleave(_t([1.0, 2.0], device), dim=0)),
        (TypeError, "repeat_interleave: repeats must be an int or an integer tensor, got float",
         lambda: x.repeat_interleave(2.0)),
        (ValueError, r"repeat_interleave: repeats must be a 0-d or 1-D tensor",
         lambda: x.repeat_interleave(_t([[2]], device), dim=0)),
        (ValueError, r"repeat_interleave: output_size 5 does not match the sum of repeats \(4\)",
         lambda: x.repeat_interleave(2, dim=0, output_size=5)),
        (IndexError, "repeat_interleave: dim 2 is out of range", lambda: x.repeat_interleave(2, dim=2)),
        (ValueError, "diagonal: dim1 and dim2 must differ", lambda: x.diagonal(0, 1, -1)),
        (IndexError, "diagonal: dim 1 is out of range", lambda: mg.zeros(3, device=device).diagonal()),
        (ValueError, r"diag: expects a 1-D or 2-D tensor, got float32\[\]", lambda: mg.diag(s)),
        (ValueError, r"diag: expects a 1-D or 2-D tensor, got float32\[1, 2, 3\]", lambda: mg.diag(mg.zeros(1, 2, 3))),
        (TypeError, "diag: diagonal must be an int", lambda: mg.diag(x, 1.0)),
        (ValueError, r"trace: expects a matrix \(2-D tensor\), got float32\[3\]", lambda: mg.trace(mg.zeros(3))),
        (TypeError, "trace: not defined for bool tensors", lambda: mg.trace(x.bool())),
        (ValueError, "diff: expects a tensor with at least one dimension", lambda: s.diff()),
        (ValueError, "diff: n must be a non-negative int, got -1", lambda: x.diff(-1)),
        (ValueError, r"diff: prepend must match float32\[2, 3\] .* every dim but 1, got float32\[1, 1\]",
         lambda: x.diff(prepend=mg.zeros(1, 1, device=device))),
        (TypeError, r"diff: append float64\[2, 1\] .* mix float dtypes",
         lambda: x.diff(append=mg.zeros(2, 1, dtype="float64", device=device))),
        (TypeError, "diff: prepend must be a Tensor", lambda: x.diff(prepend=1.0)),
        (IndexError, "cumprod: dim 2 is out of range", lambda: x.cumprod(2)),
        (TypeError, "masked_scatter: mask must be a bool tensor, got int64", lambda: x.masked_scatter(i, x)),
        (TypeError, "masked_scatter: source must have x's dtype", lambda: x.masked_scatter(x > 0, x.double())),
        (TypeError, "masked_scatter: expected Tensors for x and source, got Tensor and float",
         lambda: x.masked_scatter(x == 0, 5.0)),
        (ValueError, r"masked_scatter: source float32\[2\] on .* has 2 values but the mask selects 6",
         lambda: x.masked_scatter(x == 0, mg.zeros(2, device=device))),
        (ValueError, r"masked_scatter: mask bool\[2\] .* and float32\[2, 3\] .* do not broadcast",
         lambda: x.masked_scatter(_t([True, False], device), x)),
        (TypeError, "index_copy: index must be a 1-D integer tensor, got float32",
         lambda: x.index_copy(1, _t([0.0], device), mg.zeros(2, 1, device=device))),
        (TypeError, "index_copy: index must be a 1-D integer tensor, got int64\\[1, 1\\]",
         lambda: x.index_copy(1, _t([[0]], device), mg.zeros(2, 1, device=device))),
        (IndexError, r"index_copy: index 3 is out of range for dimension 1 of size 3",
         lambda: x.index_copy(1, _t([3], device), mg.zeros(2, 1, device=device))),
        (IndexError, r"index_copy: index -1 is out of range",
         lambda: x.index_copy(1, _t([-1], device), mg.zeros(2, 1, device=device))),
        (ValueError, r"index_copy: source must have shape \(2, 1\) .* got float32\[2, 2\]",
         lambda: x.index_copy(1, i, mg.zeros(2, 2, device=device))),
        (TypeError, "index_copy: source must have x's dtype",
         lambda: x.index_copy(1, i, mg.zeros(2, 1, dtype="float64", device=device))),
        (IndexError, "index_copy: dim 2 is out of range", lambda: x.index_copy(2, i, mg.zeros(2, 1, device=device))),
        (ValueError, r"index_fill: value must be a number or a 0-d tensor, got float32\[1\]",
         lambda: x.index_fill(1, i, mg.ones(1, device=device))),
        (IndexError, r"index_fill: index 3 is out of range for dimension 1 of size 3",
         lambda: x.index_fill(1, _t([3], device), 1.0)),
        (TypeError, "index_fill: index must be a 1-D integer tensor", lambda: x.index_fill(1, _t([1.0], device), 1.0)),
        (TypeError, "masked_fill: mask must be a bool tensor", lambda: x.masked_fill_(i, 1.0)),
        (TypeError, "unique: expected a Tensor", lambda: mg.unique([1, 2])),
    ]
    for kind, pattern, call in cases:
        with pytest.raises(kind, match=pattern):
            call()


# ---------------------------------------------------------------- setitem (what x[index] = v records in a graph)
@st.composite
def setitem_cases(draw):
    """A shape, an index of one kind (int, slice, bool mask, distinct integer positions) and v's shape."""
    shape = draw(mst.shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    kind = draw(st.sampled_from(["int", "slice", "mask", "positions"]))
    if kind == "int":
        index = draw(st.integers(-shape[0], shape[0] - 1))
        target = shape[1:]
    elif kind == "slice":
        start = draw(st.integers(0, shape[0] - 1))
        index = (slice(None), slice(start, None)) if len(shape) > 1 else slice(start, None)
        target = (shape[0], shape[1] - start) + shape[2:] if len(shape) > 1 else (shape[0] - start,)
    elif kind == "mask":
        index = np.array(draw(st.lists(st.booleans(), min_size=shape[0], max_size=shape[0])))
        target = (int(index.sum()),) + shape[1:]
    else:
        index = np.array(draw(st.permutations(range(shape[0]))))[:draw(st.integers(1, shape[0]))]
        target = (len(index),) + shape[1:]
    # v may be broadcast: drop leading dims or set some to 1
    v_shape = tuple(1 if draw(st.booleans()) else d for d in target)[draw(st.integers(0, len(target))):]
    return shape, index, v_shape


@given(data=st.data(), case=setitem_cases())
def test_setitem_values_and_gradients(device, data, case):
    shape, index, v_shape = case

    def ref(x, v):
        y = x.copy()
        y[index] = v
        return y

    idx = mg.tensor(index, device=device) if isinstance(index, np.ndarray) else index
    check_op(lambda x, v: setitem(x, idx, v), ref, [draw_array(data, shape, device), draw_array(data, v_shape, device)],
             device)
