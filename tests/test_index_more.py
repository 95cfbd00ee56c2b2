"""Index writes and reductions, windows, scatters into slices and in-place shape changes (ops/index_more.py):
scatter_reduce(_), scatter(reduce=), index_reduce(_), index_put(_), put(_), index_add_, unfold,
diagonal_scatter / select_scatter / slice_scatter, narrow_copy, split_with_sizes, sum_to_size, as_strided,
cumsum_ / cumprod_, tril_ / triu_, squeeze_ / unsqueeze_ / t_ / transpose_ / swapaxes_ / swapdims_,
apply_ / map_, and masked_fill's variants.

Values against NumPy references and gradients against float64 finite differences (check_op) over
generated shapes and indices on every backend; torch parity (float64, values and gradients, with
repeated indices, ties and zeros); in-place forms equal to their out-of-place twins on non-leaves;
errors naming the op.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.ops.index_more import IndexPutAccumulate, ScatterReduce, _ufunc_at
from minigrad.testing import gradcheck
from minigrad.testing import strategies as mst

from opcheck import check_op, draw_array

GRADIENT_TESTED = [ScatterReduce, IndexPutAccumulate]

REDUCTIONS = ["sum", "prod", "mean", "amax", "amin"]


def _ti(a, device="cpu"):
    return mg.tensor(np.asarray(a, dtype=np.int64), device=device)


# ---------------------------------------------------------------- NumPy references (loops: obviously right)
def ref_scatter_reduce(x, dim, index, src, reduce, include_self):
    groups = {}
    for pos in np.ndindex(*index.shape):
        target = pos[:dim] + (int(index[pos]),) + pos[dim + 1:]
        groups.setdefault(target, []).append(src[pos])
    out = x.copy()
    for target, vals in groups.items():
        vals = ([x[target]] if include_self else []) + vals
        if reduce == "sum":
            out[target] = np.sum(vals)
        elif reduce == "prod":
            out[target] = np.prod(vals)
        elif reduce == "mean":
            out[target] = np.sum(vals) / len(vals)
        elif reduce == "amax":
            out[target] = np.max(vals)
        else:
            out[target] = np.min(vals)
    return out


@st.composite
def scatter_case(draw, distinct=False, max_dims=3, away_from_zero=False):
    """(x, dim, index, src) arrays: index no larger than x (except along dim) nor src; repeats likely."""
    shape = draw(mst.shapes(min_dims=1, max_dims=max_dims, max_side=4))
    nd = len(shape)
    dim = draw(st.integers(-nd, nd - 1))
    d = dim % nd
    ishape = tuple(draw(st.integers(1, 4)) if k == d else draw(st.integers(1, n)) for k, n in enumerate(shape))
    index = np.array(draw(st.lists(st.integers(0, shape[d] - 1), min_size=int(np.prod(ishape)),
                                   max_size=int(np.prod(ishape))))).reshape(ishape)
    sshape = tuple(n + draw(st.integers(0, 1)) for n in ishape)  # src may be larger than index
    if distinct:  # well separated values: no ties for amax/amin, finite differences stay on one side
        total = int(np.prod(shape)) + int(np.prod(sshape))
        vals = np.array(draw(st.permutations(range(total))), dtype=np.float64) * 0.37 - total * 0.18
        x, src = vals[:int(np.prod(shape))].reshape(shape), vals[int(np.prod(shape)):].reshape(sshape)
    else:
        # prod's gradient is y / src: with tiny (e.g. denormal) factors float32 underflows to 0 (as torch does)
        kw = dict(avoid=[0.0], avoid_margin=0.1) if away_from_zero else {}
        x = draw(mst.tensors(shape=shape, dtype="float32", **kw)).numpy().astype(np.float64)
        src = draw(mst.tensors(shape=sshape, dtype="float32", **kw)).numpy().astype(np.float64)
    return x, dim, index, src


@given(data=st.data(), reduce=st.sampled_from(REDUCTIONS), include_self=st.booleans())
def test_scatter_reduce_values_and_gradients(device, data, reduce, include_self):
    x, dim, index, src = data.draw(scatter_case(distinct=reduce in ("amax", "amin"), away_from_zero=reduce == "prod"))
    idx = _ti(index, device)
    check_op(lambda a, s: a.scatter_reduce(dim, idx, s, reduce, include_self=include_self),
             lambda a, s: ref_scatter_reduce(a, dim % a.ndim, index, s, reduce, include_self), [x, src], device)


def _torch_pair(torch, fn_mg, fn_torch, arrays, cotangent_seed=0):
    """Run one op in minigrad and torch on float64 copies of `arrays`; return (values, grads) of each."""
    out = []
    for lib, fn in ((mg, fn_mg), (torch, fn_torch)):
        ts = [lib.tensor(a, dtype=lib.float64, requires_grad=True) for a in arrays]
        y = fn(*ts)
        v = np.random.default_rng(cotangent_seed).standard_normal(tuple(y.shape))
        (y * lib.tensor(v, dtype=lib.float64)).sum().backward()
        grads = [t.grad.numpy() if lib is mg else t.grad.detach().numpy() for t in ts]
        out.append((y.numpy() if lib is mg else y.detach().numpy(), grads))
    return out


def _assert_pair(got, want):
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12, atol=1e-12)
    for g, w in zip(got[1], want[1]):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


SMALL = st.sampled_from([-2.0, -1.0, 0.0, 0.0, 1.0, 2.0, 3.0])  # ties and zeros on purpose


@given(data=st.data(), reduce=st.sampled_from(REDUCTIONS), include_self=st.booleans())
def test_scatter_reduce_matches_torch_with_ties_and_zeros(data, reduce, include_self):
    """torch's gradient rules: amax/amin share among ties (x counted even when excluded), prod with zeros."""
    torch = pytest.importorskip("torch")
    x, dim, index, _ = data.draw(scatter_case())
    x = np.array(data.draw(st.lists(SMALL, min_size=x.size, max_size=x.size))).reshape(x.shape)
    src = np.array(data.draw(st.lists(SMALL, min_size=index.size, max_size=index.size))).reshape(index.shape)
    got, want = _torch_pair(
        torch,
        lambda a, s: a.scatter_reduce(dim, _ti(index), s, reduce, include_self=include_self),
        lambda a, s: a.scatter_reduce(dim, torch.tensor(index), s, reduce, include_self=include_self), [x, src])
    _assert_pair(got, want)


def test_scatter_reduce_by_hand_and_integer_dtypes():
    x = mg.tensor([1.0, 0.0, 3.0, 4.0, 5.0], dtype="float64", requires_grad=True)
    s = mg.tensor([5.0, 0.0, 0.0, 2.0, 7.0, 7.0, 4.0], dtype="float64", requires_grad=True)
    i = _ti([0, 1, 1, 3, 3, 3, 0])
    y = x.scatter_reduce(0, i, s, "amax")
    y.backward(mg.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype="float64"))
    np.testing.assert_array_equal(y.numpy(), [5, 0, 3, 7, 5])
    np.testing.assert_allclose(x.grad.numpy(), [0, 2 / 3, 3, 0, 5])  # three zeros tie at place 1
    np.testing.assert_allclose(s.grad.numpy(), [1, 2 / 3, 2 / 3, 0, 2, 2, 0])
    # integer mean rounds down (torch), bools sum as logical or, float32 stays float32
    ints = mg.tensor([1, 2, 3]).scatter_reduce(0, _ti([0, 0, 2]), mg.tensor([2, 4, 4]), "mean")
    assert ints.dtype == np.int64 and ints.tolist() == [2, 2, 3]
    assert mg.tensor([1, 2, 3]).scatter_reduce(0, _ti([0, 0, 2]), mg.tensor([2, 4, 4]), "mean",
                                               include_self=False).tolist() == [3, 2, 4]
    b = mg.zeros(2, 3, dtype="bool").scatter_reduce(0, _ti([[0, 0]]), mg.ones(1, 2, dtype="bool"), "sum")
    assert b.dtype == np.bool_ and b.tolist() == [[True, True, False], [False, False, False]]
    m = mg.zeros(2, 3, dtype="int32").scatter_reduce(0, _ti([[0, 0]]), mg.ones(1, 2, dtype="int32"), "amax",
                                                     include_self=False)
    assert m.dtype == np.int32 and m.tolist() == [[1, 1, 0], [0, 0, 0]]
    assert mg.zeros(3).scatter_reduce(0, _ti([0]), mg.ones(1), "prod").dtype == np.float32
    assert mg.tensor(2.0).scatter_reduce(0, _ti([0, 0]), mg.tensor([3.0, 4.0]), "prod").item() == 24.0  # 0-d


def test_a_saved_output_changed_in_place_is_refused_as_torch(device):
    """prod / amax / amin read their output in backward: changing it in place first is refused (torch too)."""
    x = mg.randn(4, requires_grad=True, device=device)
    y = (x * 1.0).scatter_reduce(0, _ti([0, 0], device), x[:2] * 2, "amax")
    y.mul_(2.0)
    with pytest.raises(RuntimeError, match="ScatterReduce was modified in place"):
        y.sum().backward()
    y = (x * 1.0).scatter_reduce(0, _ti([0, 0], device), x[:2] * 2, "sum")  # saves nothing: fine
    y.mul_(2.0)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0, 2.0, 2.0])


@pytest.mark.parametrize("name", ["add", "multiply", "maximum", "minimum"])
def test_the_rounds_used_without_ufunc_at_agree_with_ufunc_at(name):
    """The backend fallback of _ufunc_at (one round per repeat; used where ufunc.at is missing, e.g. CuPy)."""
    rng = np.random.default_rng(3)
    base = rng.standard_normal((4, 3))
    index = rng.integers(0, 4, size=(6, 3))
    where = (index, np.arange(3).reshape(1, 3))
    values = rng.standard_normal((6, 3))
    a, b = base.copy(), base.copy()
    _ufunc_at(np, name, a, where, values, use_at=True)
    _ufunc_at(np, name, b, where, values, use_at=False)
    np.testing.assert_allclose(b, a, rtol=1e-14)


def test_scatter_with_reduce_as_torch():
    """scatter(..., reduce='add' | 'multiply'): values as torch; no derivative (torch raises at backward too)."""
    torch = pytest.importorskip("torch")
    x0, i0, s0 = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), np.array([[1, 0, 1]]), np.array([[2.0, 3.0, 4.0]])
    for reduce in ("add", "multiply"):
        want = torch.tensor(x0).scatter(0, torch.tensor(i0), torch.tensor(s0), reduce=reduce)
        got = mg.tensor(x0).scatter(0, _ti(i0), mg.tensor(s0), reduce=reduce)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        want = torch.tensor(x0).scatter(0, torch.tensor(i0), 1.5, reduce=reduce)
        np.testing.assert_array_equal(mg.tensor(x0).scatter(0, _ti(i0), 1.5, reduce=reduce).numpy(), want.numpy())
        y = mg.tensor(x0)
        y.scatter_(0, _ti(i0), mg.tensor(s0), reduce=reduce)
        np.testing.assert_array_equal(y.numpy(), torch.tensor(x0).scatter_(0, torch.tensor(i0), torch.tensor(s0),
                                                                         reduce=reduce).numpy())
    w = mg.tensor(x0, requires_grad=True)
    out = w.scatter(0, _ti(i0), mg.tensor(s0), reduce="multiply")
    with pytest.raises(RuntimeError, match=r"scatter\(reduce='multiply'\): the derivative is not implemented"):
        out.sum().backward()
    with pytest.raises(ValueError, match="scatter: reduce must be 'add' or 'multiply'"):
        mg.tensor(x0).scatter(0, _ti(i0), mg.tensor(s0), reduce="mean")


# ---------------------------------------------------------------- index_reduce
@st.composite
def index_case(draw, distinct=False):
    shape = draw(mst.shapes(min_dims=1, max_dims=3, max_side=4))
    nd = len(shape)
    dim = draw(st.integers(-nd, nd - 1))
    d = dim % nd
    k = draw(st.integers(0, 4))
    index = np.array(draw(st.lists(st.integers(0, shape[d] - 1), min_size=k, max_size=k)), dtype=np.int64)
    sshape = shape[:d] + (k,) + shape[d + 1:]
    if distinct:
        total = int(np.prod(shape)) + int(np.prod(sshape))
        vals = np.array(draw(st.permutations(range(total))), dtype=np.float64) * 0.37 - total * 0.18
        return vals[:int(np.prod(shape))].reshape(shape), dim, index, vals[int(np.prod(shape)):].reshape(sshape)
    x = np.array(draw(st.lists(SMALL, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))).reshape(shape)
    s = np.array(draw(st.lists(SMALL, min_size=int(np.prod(sshape)), max_size=int(np.prod(sshape))))).reshape(sshape)
    return x, dim, index, s


def _spread(index, dim, shape):
    d = dim % len(shape)
    return np.broadcast_to(index.reshape((1,) * d + (-1,) + (1,) * (len(shape) - d - 1)), shape)


@given(data=st.data(), reduce=st.sampled_from(["prod", "mean", "amax", "amin"]), include_self=st.booleans())
def test_index_reduce_values_and_gradients(device, data, reduce, include_self):
    x, dim, index, s = data.draw(index_case(distinct=True))
    idx = _ti(index, device)
    check_op(lambda a, b: a.index_reduce(dim, idx, b, reduce, include_self=include_self),
             lambda a, b: ref_scatter_reduce(a, dim % a.ndim, _spread(index, dim, b.shape), b, reduce, include_self),
             [x, s], device)


@given(data=st.data(), reduce=st.sampled_from(["prod", "mean", "amax", "amin"]), include_self=st.booleans())
def test_index_reduce_matches_torch_with_ties_and_zeros(data, reduce, include_self):
    torch = pytest.importorskip("torch")
    x, dim, index, s = data.draw(index_case())
    got, want = _torch_pair(
        torch,
        lambda a, b: a.index_reduce(dim, _ti(index), b, reduce, include_self=include_self),
        lambda a, b: a.index_reduce(dim, torch.tensor(index), b, reduce, include_self=include_self), [x, s])
    _assert_pair(got, want)


# ---------------------------------------------------------------- index_put, put, index_add_
@given(data=st.data(), accumulate=st.booleans())
def test_index_put_values_and_gradients(device, data, accumulate):
    shape = data.draw(mst.shapes(min_dims=1, max_dims=3, max_side=4))
    n_idx = data.draw(st.integers(1, len(shape)))
    k = data.draw(st.integers(1, 4))
    idx = [np.array(data.draw(st.lists(st.integers(-shape[j], shape[j] - 1), min_size=k, max_size=k)))
           for j in range(n_idx)]
    if not accumulate:  # one write per place: the value that wins a repeated place is unspecified (torch)
        keys = [tuple(i[m] % shape[j] for j, i in enumerate(idx)) for m in range(k)]
        keep = [m for m in range(k) if keys[m] not in keys[:m]]
        idx = [i[keep] for i in idx]
        k = len(keep)
    vshape = data.draw(st.sampled_from([(k,) + shape[n_idx:], shape[n_idx:], ()]))  # broadcast values
    x, v = draw_array(data, shape, device), draw_array(data, vshape, device)
    tidx = tuple(_ti(i, device) for i in idx)

    def ref(a, b):
        out = a.copy()
        vb = np.broadcast_to(b, (k,) + shape[n_idx:])
        if accumulate:
            np.add.at(out, tuple(idx), vb)
        else:
            out[tuple(idx)] = vb
        return out

    check_op(lambda a, b: a.index_put(tidx, b, accumulate=accumulate), ref, [x, v], device)


def test_index_put_matches_torch_with_repeats_and_masks():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, v = rng.standard_normal((3, 4)), rng.standard_normal(3)
    rows, cols = np.array([0, 0, 2]), np.array([1, 1, 3])
    for accumulate in (True, False):  # (torch's CPU kernel and NumPy both keep the last write)
        got, want = _torch_pair(
            torch, lambda a, b: a.index_put((_ti(rows), _ti(cols)), b, accumulate=accumulate),
            lambda a, b: a.index_put((torch.tensor(rows), torch.tensor(cols)), b, accumulate=accumulate), [x, v])
        _assert_pair(got, want)
    mask = np.array([[True, False, True, False]] * 3)
    got, want = _torch_pair(torch, lambda a, b: a.index_put((mg.tensor(mask),), b, accumulate=True),
                            lambda a, b: a.index_put((torch.tensor(mask),), b, accumulate=True),
                            [x, np.array(0.5)])
    _assert_pair(got, want)
    rows2 = np.array([[0], [1]])  # index tensors broadcast together
    got, want = _torch_pair(torch, lambda a, b: a.index_put((_ti(rows2), _ti([0, 1, 2])), b, accumulate=True),
                            lambda a, b: a.index_put((torch.tensor(rows2), torch.tensor([0, 1, 2])), b,
                                                     accumulate=True), [x, v])
    _assert_pair(got, want)
    ints = mg.zeros(3, dtype="int64").index_put((_ti([0, 0]),), _ti([1, 2]), accumulate=True)
    assert ints.dtype == np.int64 and ints.tolist() == [3, 0, 0]


@given(data=st.data(), accumulate=st.booleans())
def test_put_values_and_gradients(device, data, accumulate):
    shape = data.draw(mst.shapes(min_dims=0, max_dims=3, max_side=4))
    n = int(np.prod(shape))
    k = data.draw(st.integers(0, 5))
    index = np.array(data.draw(st.lists(st.integers(-n, n - 1), min_size=k, max_size=k)), dtype=np.int64)
    if not accumulate:
        seen, keep = set(), []
        for m, i in enumerate(index):
            if i % n not in seen:
                seen.add(i % n)
                keep.append(m)
        index = index[keep]
    src_shape = data.draw(st.sampled_from([(index.size,), (1, index.size)]))
    x, s = draw_array(data, shape, device), draw_array(data, src_shape, device)

    def ref(a, b):
        out = a.copy().reshape(-1)
        if accumulate:
            np.add.at(out, index % max(n, 1), b.reshape(-1))
        else:
            out[index % max(n, 1)] = b.reshape(-1)
        return out.reshape(a.shape)

    check_op(lambda a, b: a.put(_ti(index, device), b, accumulate=accumulate), ref, [x, s], device)


def test_put_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x, s = rng.standard_normal((2, 3)), rng.standard_normal(4)
    index = np.array([0, 5, -1, 0])
    for accumulate in (True, False):
        got, want = _torch_pair(torch, lambda a, b: a.put(_ti(index), b, accumulate=accumulate),
                                lambda a, b: a.put(torch.tensor(index), b, accumulate=accumulate), [x, s])
        if accumulate:
            _assert_pair(got, want)
        else:  # place 0 is written twice (unspecified which wins); the gradients are defined
            for g, w in zip(got[1], want[1]):
                np.testing.assert_allclose(g, w, rtol=1e-12)
    assert mg.put(mg.tensor(2.0), _ti(0), mg.tensor(5.0)).item() == 5.0


# ---------------------------------------------------------------- in-place forms: equal to their twins on non-leaves
def _idx(a, device):
    return _ti(a, device)


INPLACE_ON_NON_LEAF = {  # name: (in place on y, out-of-place twin), y = w.sin() (3, 4), w a leaf
    "index_add_": (lambda y, w: y.index_add_(0, _idx([2, 0, 2], w.device), w[:3] * w[:3], alpha=2),
                   lambda y, w: y.index_add(0, _idx([2, 0, 2], w.device), w[:3] * w[:3], alpha=2)),
    "index_put_": (lambda y, w: y.index_put_((_idx([0, 0, 2], w.device), _idx([1, 1, 3], w.device)),
                                             w[0, :3].exp(), accumulate=True),
                   lambda y, w: y.index_put((_idx([0, 0, 2], w.device), _idx([1, 1, 3], w.device)),
                                            w[0, :3].exp(), accumulate=True)),
    "index_put_ set": (lambda y, w: y.index_put_((_idx([1, 2], w.device),), w[0] * 3),
                       lambda y, w: y.index_put((_idx([1, 2], w.device),), w[0] * 3)),
    "scatter_reduce_": (lambda y, w: y.scatter_reduce_(1, _idx([[0, 0, 3]] * 3, w.device), w[:, :3] + 1, "prod"),
                        lambda y, w: y.scatter_reduce(1, _idx([[0, 0, 3]] * 3, w.device), w[:, :3] + 1, "prod")),
    "scatter_reduce_ amax": (lambda y, w: y.scatter_reduce_(0, _idx([[1, 1, 0, 0]], w.device), w[:1] * 2, "amax",
                                                             include_self=False),
                             lambda y, w: y.scatter_reduce(0, _idx([[1, 1, 0, 0]], w.device), w[:1] * 2, "amax",
                                                           include_self=False)),
    "index_reduce_": (lambda y, w: y.index_reduce_(0, _idx([2, 2], w.device), w[:2] * 2, "mean"),
                      lambda y, w: y.index_reduce(0, _idx([2, 2], w.device), w[:2] * 2, "mean")),
    "put_": (lambda y, w: y.put_(_idx([0, 11, -1], w.device), w[1, :3], accumulate=True),
             lambda y, w: y.put(_idx([0, 11, -1], w.device), w[1, :3], accumulate=True)),
    "cumsum_": (lambda y, w: y.cumsum_(1), lambda y, w: y.cumsum(1)),
    "cumprod_": (lambda y, w: y.cumprod_(0), lambda y, w: y.cumprod(0)),
    "tril_": (lambda y, w: y.tril_(1), lambda y, w: y.tril(1)),
    "triu_": (lambda y, w: y.triu_(-1), lambda y, w: y.triu(-1)),
}


@pytest.mark.parametrize("name", list(INPLACE_ON_NON_LEAF))
def test_inplace_on_a_non_leaf_equals_its_out_of_place_twin(device, name):
    inplace, twin = INPLACE_ON_NON_LEAF[name]
    w0 = np.random.default_rng(2).standard_normal((3, 4))
    got = []
    for fn in (inplace, twin):
        w = mg.tensor(w0, device=device, requires_grad=True)
        y = w.sin()
        out = fn(y, w)
        assert (out is y) == (fn is inplace)
        v0 = y._version
        (out * mg.tensor(np.arange(12.0).reshape(3, 4), device=device)).sum().backward()
        got.append((out.numpy().copy(), w.grad.numpy().copy()))
        assert y._version == v0
    np.testing.assert_allclose(got[0][0], got[1][0], rtol=1e-12)
    np.testing.assert_allclose(got[0][1], got[1][1], rtol=1e-12)


@pytest.mark.parametrize("name", list(INPLACE_ON_NON_LEAF))
def test_inplace_on_a_leaf_is_refused_and_bumps_the_version_under_no_grad(device, name):
    inplace, _ = INPLACE_ON_NON_LEAF[name]
    op = name.split()[0]
    w = mg.tensor(np.random.default_rng(3).standard_normal((3, 4)), device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match=f"{op}: a leaf tensor that requires grad"):
        inplace(w, w.detach())
    before = w._version
    with mg.no_grad():
        assert inplace(w, w.detach()) is w
    assert w._version == before + 1


def test_inplace_forms_keep_dtype_and_refuse_like_torch():
    assert mg.ones(3, dtype="int32").cumsum_(0).tolist() == [1, 2, 3]  # int32 kept (the scan itself is int64)
    with pytest.raises(TypeError, match="cumsum_: dtype float64 differs"):
        mg.ones(3).cumsum_(0, dtype="float64")
    with pytest.raises(TypeError, match="cumsum_: not defined for bool"):
        mg.ones(3, dtype="bool").cumsum_(0)
    with pytest.raises(ValueError, match="tril_: expects a tensor with at least 2 dimensions"):
        mg.ones(3).tril_()
    t = mg.zeros(2)
    t.index_add_(0, _ti([0, 0]), mg.tensor([4.0, 5.0]), alpha=2)
    assert t.tolist() == [18.0, 0.0]


# ---------------------------------------------------------------- unfold, *_scatter, narrow_copy, split, sum_to_size
@given(data=st.data())
def test_unfold_values_and_gradients(device, data):
    shape = data.draw(mst.shapes(min_dims=1, max_dims=3, max_side=5))
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1))
    n = shape[dim]
    size = data.draw(st.integers(0, n))
    step = data.draw(st.integers(1, 3))
    a = draw_array(data, shape, device)

    def ref(x):
        win = np.lib.stride_tricks.sliding_window_view(x, size, axis=dim % nd)  # every window, step 1
        return np.take(win, np.arange(0, n - size + 1, step), axis=dim % nd)

    check_op(lambda x: x.unfold(dim, size, step), ref, [a], device)


def test_unfold_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(4).standard_normal((2, 5))
    for dim, size, step in [(1, 2, 2), (1, 5, 1), (-1, 2, 3), (0, 1, 1), (1, 3, 1), (1, 0, 2)]:
        got, want = _torch_pair(torch, lambda a: a.unfold(dim, size, step), lambda a: a.unfold(dim, size, step), [x])
        assert got[0].shape == want[0].shape
        _assert_pair(got, want)
    assert mg.tensor(3.0).unfold(0, 1, 1).shape == (1,) and mg.tensor(3.0).unfold(0, 0, 1).shape == (0,)
    assert mg.zeros(0, 3).unfold(0, 0, 1).shape == (1, 3, 0)


@given(data=st.data())
def test_diagonal_select_slice_scatter_values_and_gradients(device, data):
    shape = data.draw(mst.shapes(min_dims=2, max_dims=3, max_side=4))
    nd = len(shape)
    d1, d2 = data.draw(st.permutations(range(nd)))[:2]
    offset = data.draw(st.integers(-3, 3))
    a = draw_array(data, shape, device)
    diag_shape = np.diagonal(a, offset, d1, d2).shape
    s = draw_array(data, diag_shape, device)

    def ref_diag(x, src):
        out = x.copy()
        moved = np.moveaxis(out, (d1, d2), (-2, -1))  # a view: writing it writes out
        i = np.arange(diag_shape[-1]) + max(-offset, 0)
        moved[..., i, i + offset] = src
        return out

    check_op(lambda x, src: mg.diagonal_scatter(x, src, offset, d1, d2), ref_diag, [a, s], device)
    dim = data.draw(st.integers(-nd, nd - 1))
    index = data.draw(st.integers(-shape[dim], shape[dim] - 1))
    s = draw_array(data, np.take(a, index, axis=dim).shape, device)

    def ref_select(x, src):
        out = x.copy()
        np.moveaxis(out, dim, 0)[index] = src
        return out

    check_op(lambda x, src: x.select_scatter(src, dim, index), ref_select, [a, s], device)
    start = data.draw(st.none() | st.integers(-5, 5))
    end = data.draw(st.none() | st.integers(-5, 5))
    step = data.draw(st.integers(1, 3))
    lead = (slice(None),) * (dim % nd)
    s = draw_array(data, a[lead + (slice(start, end, step),)].shape, device)

    def ref_slice(x, src):
        out = x.copy()
        out[lead + (slice(start, end, step),)] = src
        return out

    check_op(lambda x, src: mg.slice_scatter(x, src, dim, start, end, step), ref_slice, [a, s], device)


def test_scatter_into_slices_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 4))
    cases = [
        ("diagonal_scatter", (rng.standard_normal((3, 2)),), dict(offset=1, dim1=0, dim2=2)),
        ("diagonal_scatter", (rng.standard_normal((4, 2)),), dict(offset=0, dim1=0, dim2=1)),
        ("select_scatter", (rng.standard_normal((2, 4)),), dict(dim=1, index=-1)),
        ("slice_scatter", (rng.standard_normal((2, 3, 2)),), dict(dim=2, start=0, step=2)),
        ("slice_scatter", (rng.standard_normal((2, 1, 4)),), dict(dim=1, start=-1)),
    ]
    for name, (src,), kw in cases:
        got, want = _torch_pair(torch, lambda a, b: getattr(mg, name)(a, b, **kw),
                                lambda a, b: getattr(torch, name)(a, b, **kw), [x, src])
        _assert_pair(got, want)
    # src of another dtype is cast, as torch
    y = mg.diagonal_scatter(mg.zeros(3, 4), mg.ones(3, dtype="float64"))
    assert y.dtype == np.float32 and y.numpy().trace() == 3.0


@given(data=st.data())
def test_narrow_copy_split_with_sizes_sum_to_size(device, data):
    shape = data.draw(mst.shapes(min_dims=1, max_dims=3, max_side=4))
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1))
    n = shape[dim]
    a = draw_array(data, shape, device)
    start = data.draw(st.integers(0, n))
    length = data.draw(st.integers(0, n - start))
    lead = (slice(None),) * (dim % nd)
    check_op(lambda x: x.narrow_copy(dim, start, length), lambda x: x[lead + (slice(start, start + length),)],
             [a], device)
    cut = data.draw(st.integers(0, n))
    check_op(lambda x: x.split_with_sizes([cut, n - cut], dim),
             lambda x: (x[lead + (slice(0, cut),)], x[lead + (slice(cut, n),)]), [a], device)
    keep = data.draw(st.integers(0, nd))
    size = tuple(s if data.draw(st.booleans()) else 1 for s in shape[nd - keep:])

    def ref(x):
        axes = tuple(range(nd - keep)) + tuple(nd - keep + k for k, s in enumerate(size) if s == 1)
        return x.sum(axis=axes, keepdims=True).reshape(size) if axes else x

    check_op(lambda x: x.sum_to_size(size), ref, [a], device)


def test_narrow_copy_split_with_sizes_sum_to_size_match_torch():
    torch = pytest.importorskip("torch")
    x = np.arange(6.0).reshape(2, 3)
    assert mg.tensor(x).sum_to_size(1, 3).tolist() == torch.tensor(x).sum_to_size(1, 3).tolist()
    assert mg.tensor(x).sum_to_size((2, 1)).tolist() == torch.tensor(x).sum_to_size((2, 1)).tolist()
    assert mg.tensor(x).sum_to_size(3).tolist() == torch.tensor(x).sum_to_size(3).tolist()
    assert mg.ones(2, 3, dtype="int32").sum_to_size(3).dtype == np.int64  # torch's sum of integers
    assert mg.tensor(x).narrow_copy(1, -2, 2).tolist() == torch.tensor(x).narrow_copy(1, -2, 2).tolist()
    pieces = mg.arange(6.0).split_with_sizes((6, 0))
    assert [p.shape for p in pieces] == [(6,), (0,)]
    c = mg.arange(4.0)
    d = c.narrow_copy(0, 0, 2)
    d.add_(1.0)
    assert c.tolist() == [0.0, 1.0, 2.0, 3.0]  # new memory


# ---------------------------------------------------------------- as_strided
@given(data=st.data())
def test_as_strided_values_and_gradients(device, data):
    n = data.draw(st.integers(1, 12))
    a = draw_array(data, (n,), device)
    nd = data.draw(st.integers(0, 3))
    size = tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(data.draw(st.integers(0, 3)) for _ in range(nd))
    reach = sum((s - 1) * st_ for s, st_ in zip(size, stride))
    if reach >= n:
        return
    offset = data.draw(st.integers(0, n - 1 - reach))

    def ref(x):
        return np.lib.stride_tricks.as_strided(x[offset:], size, tuple(8 * s for s in stride)).copy()

    shape = data.draw(st.sampled_from([(n,), (1, n)]))
    check_op(lambda x: x.reshape(shape).as_strided(size, stride, offset), ref, [a], device)


def test_as_strided_matches_torch_and_refuses_what_it_cannot_do():
    torch = pytest.importorskip("torch")
    x = np.arange(6.0)
    for args in [((2, 2), (1, 2)), ((2, 2), (1, 2), 1), ((3, 2), (1, 1)), ((2,), (0,), 5), ((), (), 5)]:
        got, want = _torch_pair(torch, lambda a: a.as_strided(*args), lambda a: a.as_strided(*args), [x])
        _assert_pair(got, want)  # overlapping windows add their gradients, as torch's
    t = mg.arange(6.0)
    with pytest.raises(ValueError, match="as_strided: negative strides"):
        t.as_strided((2, 2), (-1, 2), 3)
    with pytest.raises(ValueError, match="as_strided: size .* outside the 6 elements"):
        t.as_strided((2, 2), (1, 2), 3)
    with pytest.raises(RuntimeError, match="as_strided: supported on contiguous tensors only"):
        t.reshape(2, 3).T.as_strided((2,), (1,))
    with pytest.raises(RuntimeError, match="as_strided: .* a view starting inside a larger tensor"):
        mg.arange(10.0)[2:].as_strided((2,), (1,), 0)
    assert mg.arange(10.0)[2:].as_strided((2,), (1,)).tolist() == [2.0, 3.0]  # torch: same


# ---------------------------------------------------------------- in-place shape changes
SHAPE_INPLACE = {  # name: (the call, the same for minigrad and torch; the shape to start from)
    "squeeze_": (lambda t: t.squeeze_(), (3, 1, 2)),
    "squeeze_ dim": (lambda t: t.squeeze_(1), (3, 1, 2)),
    "unsqueeze_": (lambda t: t.unsqueeze_(-1), (3, 2)),
    "t_": (lambda t: t.t_(), (3, 2)),
    "transpose_": (lambda t: t.transpose_(0, 2), (3, 1, 2)),
    "swapaxes_": (lambda t: t.swapaxes_(0, 1), (3, 2)),
    "swapdims_": (lambda t: t.swapdims_(-1, 0), (3, 2)),
}


@pytest.mark.parametrize("name", list(SHAPE_INPLACE))
def test_inplace_shape_change_on_plain_tensors_and_views(device, name):
    """The tensor's own shape changes; its memory is shared as before (a write through a view shows)."""
    torch = pytest.importorskip("torch")
    call, shape = SHAPE_INPLACE[name]
    x0 = np.arange(float(np.prod(shape))).reshape(shape)
    t, tt = mg.tensor(x0, device=device), torch.tensor(x0)
    view = t[0]  # shares t's memory
    v0 = t._version
    assert call(t) is t
    call(tt)
    assert t.shape == tuple(tt.shape)
    np.testing.assert_array_equal(t.numpy(), tt.numpy())
    assert t._version == v0 + 1  # as torch
    view.fill_(-1.0)  # the memory is still shared
    assert (t.numpy() == -1.0).sum() == view.numel()


@pytest.mark.parametrize("name", list(SHAPE_INPLACE))
def test_inplace_shape_change_on_a_non_leaf_gets_torch_gradients(device, name):
    """x used before and after the change: the earlier use gets its gradient in x's old shape."""
    torch = pytest.importorskip("torch")
    call, shape = SHAPE_INPLACE[name]
    a0 = np.random.default_rng(6).standard_normal(shape)
    grads = []
    for lib in (mg, torch):
        a = lib.tensor(a0, requires_grad=True) if lib is torch else mg.tensor(a0, device=device, requires_grad=True)
        x = a * 2
        early = (x + 1) * 3  # (AddScalar / MulScalar save nothing: the change may come after them)
        call(x)
        w = lib.tensor(np.arange(float(np.prod(x.shape))).reshape(tuple(x.shape)))
        if lib is mg:
            w = w.to(device)
        ((x * w).sum() + early.sum()).backward()
        grads.append(a.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12)


def test_inplace_shape_change_refusals_as_torch(device):
    w = mg.randn(3, 1, requires_grad=True, device=device)
    with pytest.raises(RuntimeError, match="squeeze_: a leaf tensor that requires grad"):
        w.squeeze_()
    with mg.no_grad():
        w.squeeze_()
    assert w.shape == (3,)
    x = w * 1.0
    saved = x * x  # Mul saved x: a later change of x (version bump) must refuse its backward, as torch's
    x.unsqueeze_(0)
    with pytest.raises(RuntimeError, match="modified in place"):
        saved.sum().backward()
    with pytest.raises(ValueError, match="t: expects a tensor with at most 2 dimensions"):
        mg.zeros(2, 3, 4).t_()
    y = mg.zeros(3, 2)
    assert y.squeeze_() is y and y._version == 0  # nothing to squeeze: unchanged


# ---------------------------------------------------------------- apply_ / map_
def test_apply_and_map_as_torch():
    torch = pytest.importorskip("torch")
    t = mg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert t.apply_(lambda v: v * v - 1) is t
    assert t.tolist() == torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).apply_(lambda v: v * v - 1).tolist()
    ints = mg.ones(3, dtype="int64").apply_(lambda v: v / 2 + 1.7)  # truncated into int64, as torch
    assert ints.dtype == np.int64 and ints.tolist() == [2, 2, 2]
    m = mg.ones(2, 3).map_(mg.arange(3.0), lambda a, b: a + 10 * b)
    assert m.tolist() == torch.ones(2, 3).map_(torch.arange(3.0), lambda a, b: a + 10 * b).tolist()
    tt = mg.zeros(2, 3).T  # a non-contiguous view writes through to its base
    tt.apply_(lambda v: 7.0)
    assert tt.tolist() == [[7.0, 7.0]] * 3
    with pytest.raises(RuntimeError, match="apply_: can't be called on a tensor that requires grad"):
        with mg.no_grad():  # refused even here, as torch
            mg.ones(3, requires_grad=True).apply_(lambda v: v)
    with pytest.raises(RuntimeError, match="map_: can't be called on a tensor that requires grad"):
        mg.ones(3).map_(mg.ones(3, requires_grad=True), lambda a, b: a)
    with pytest.raises(TypeError, match="apply_: expected a callable"):
        mg.ones(3).apply_(5)
    with pytest.raises(TypeError, match="apply_: the callable must return a real number"):
        mg.ones(3).apply_(lambda v: "2")
    with pytest.raises(TypeError, match="map_: other must have x's dtype"):
        mg.ones(3).map_(mg.ones(3, dtype="int64"), lambda a, b: a)
    with pytest.raises(ValueError, match="map_: other .* does not broadcast"):
        mg.ones(3).map_(mg.ones(2, 3), lambda a, b: a)


# ---------------------------------------------------------------- masked_fill variants (existing op, checked here)
def test_masked_fill_variants_match_torch():
    torch = pytest.importorskip("torch")
    mask = [True, False, True]
    cases = [
        (lambda lib, m: lib.zeros(2, 3).masked_fill(m, lib.tensor(2.0))),
        (lambda lib, m: lib.zeros(2, 3).masked_fill(m, 2.5)),
        (lambda lib, m: lib.zeros(2, 3).masked_fill_(m, -1.0)),
        (lambda lib, m: lib.zeros(3).masked_fill(m | (m == m).reshape(1, 3).expand(2, 3), 1.0)),  # mask broadcasts x
        (lambda lib, m: lib.zeros(3, dtype=lib.int64).masked_fill(m, 1.5)),
    ]
    for case in cases:
        got, want = case(mg, mg.tensor(mask)), case(torch, torch.tensor(mask))
        assert got.tolist() == want.tolist() and got.dtype == np.dtype(str(want.dtype).replace("torch.", ""))
    w = mg.tensor(2.0, dtype="float64", requires_grad=True)
    x = mg.zeros(3, dtype="float64", requires_grad=True)
    gradcheck(lambda a, b: a.masked_fill(mg.tensor(mask), b), x, w)
    with pytest.raises(ValueError, match="masked_fill: value must be a number or a 0-d tensor"):
        mg.zeros(3).masked_fill(mg.tensor(mask), mg.tensor([2.0]))
    with pytest.raises(TypeError, match="masked_fill: mask must be a bool tensor"):
        mg.zeros(3).masked_fill(mg.tensor([1, 0, 1]), 2.0)
    with pytest.raises(ValueError, match="masked_fill_: the result would have shape"):
        mg.zeros(3).masked_fill_(mg.ones(2, 3, dtype="bool"), 1.0)


# ---------------------------------------------------------------- errors name the op
X = mg.zeros(2, 3)
ERRORS = [
    (lambda: X.scatter_reduce(0, _ti([[0]]), mg.ones(1, 1), "max"), ValueError, "scatter_reduce: reduce must be"),
    (lambda: X.scatter_reduce(0, _ti([[2]]), mg.ones(1, 1), "sum"), IndexError, "scatter_reduce: index 2 is out"),
    (lambda: X.scatter_reduce(0, _ti([[-1]]), mg.ones(1, 1), "sum"), IndexError, "scatter_reduce: index -1"),
    (lambda: X.scatter_reduce(0, _ti([[0]]), mg.ones(1, 1, dtype="float64"), "sum"), TypeError,
     "scatter_reduce: src must have x's dtype"),
    (lambda: X.scatter_reduce(0, _ti([[0] * 4]), mg.ones(1, 4), "sum"), ValueError, "scatter_reduce: index .* larger"),
    (lambda: X.scatter_reduce(0, mg.tensor([[0.0]]), mg.ones(1, 1), "sum"), TypeError, "scatter_reduce: index must"),
    (lambda: X.bool().scatter_reduce(0, _ti([[0]]), mg.ones(1, 1, dtype="bool"), "mean"), TypeError,
     "scatter_reduce: reduce='mean' is not defined for bool"),
    (lambda: X.index_reduce(0, _ti([0]), mg.ones(1, 3), "sum"), ValueError, "index_reduce: reduce must be one of"),
    (lambda: X.index_reduce(0, _ti([0, 2]), mg.ones(2, 3), "prod"), IndexError, "index_reduce: index 2 is out"),
    (lambda: X.index_reduce(0, _ti([[0]]), mg.ones(1, 3), "prod"), TypeError, "index_reduce: index must be a 1-D"),
    (lambda: X.index_reduce(0, _ti([0, 0]), mg.ones(3, 3), "prod"), ValueError, "index_reduce: source must have"),
    (lambda: X.index_reduce(0, _ti([0]), mg.ones(1, 3, dtype="int64"), "prod"), TypeError,
     "index_reduce: source must have x's dtype"),
    (lambda: X.index_put(_ti([0]), mg.ones(3)), TypeError, "index_put: indices must be a tuple of Tensors"),
    (lambda: X.index_put((_ti([0]),), 5.0), TypeError, "index_put: values must be a Tensor"),
    (lambda: X.index_put((_ti([0]),), mg.ones(3, dtype="float64")), TypeError, "index_put: values must have"),
    (lambda: X.index_put((_ti([2]),), mg.ones(3)), IndexError, "index_put: index 2 is out of range"),
    (lambda: X.index_put((mg.tensor([0.0]),), mg.ones(3)), TypeError, "index_put: indices\\[0\\] must be an int64"),
    (lambda: X.index_put((_ti([0]), _ti([0]), _ti([0])), mg.ones(())), IndexError, "index_put: too many indices"),
    (lambda: X.index_put((_ti([0, 1]), _ti([0, 1, 2])), mg.ones(())), IndexError, "index_put: shape mismatch"),
    (lambda: X.index_put((_ti([0, 1]),), mg.ones(2)), ValueError, "index_put: shape mismatch: values"),
    (lambda: X.index_put((), mg.ones(())), ValueError, "index_put: indices must hold at least one"),
    (lambda: X.put(_ti([6]), mg.ones(1)), IndexError, "put: index 6 is out of range for the 6 elements"),
    (lambda: X.put(mg.tensor([0], dtype="int32"), mg.ones(1)), TypeError, "put: index must be an int64"),
    (lambda: X.put(_ti([0, 1]), mg.ones(3)), ValueError, "put: source and index must hold as many"),
    (lambda: X.put(_ti([0]), _ti([1])), TypeError, "put: source must have x's dtype"),
    (lambda: X.unfold(1, 4, 1), ValueError, "unfold: maximum size for dimension 1 .* is 3 but size is 4"),
    (lambda: X.unfold(1, 2, 0), ValueError, "unfold: step is 0"),
    (lambda: X.unfold(1, -1, 1), ValueError, "unfold: size is -1"),
    (lambda: X.unfold(2, 1, 1), IndexError, "unfold"),
    (lambda: X.unfold(1, 2.0, 1), TypeError, "unfold: size must be an int"),
    (lambda: mg.diagonal_scatter(X, mg.ones(3)), ValueError, "diagonal_scatter: expected src to have the shape \\[2\\]"),
    (lambda: mg.diagonal_scatter(X, mg.ones(2), 0, 1, 1), ValueError, "diagonal_scatter: dim1 and dim2 must differ"),
    (lambda: mg.select_scatter(X, mg.ones(3), 0, 2), IndexError, "select_scatter: index 2 is out of range"),
    (lambda: mg.select_scatter(X, mg.ones(1, 3), 0, 0), ValueError, "select_scatter: expected src to have"),
    (lambda: mg.select_scatter(mg.zeros(()), mg.ones(()), 0, 0), IndexError, "select_scatter: select cannot"),
    (lambda: mg.slice_scatter(X, mg.ones(2, 3), 0, step=0), ValueError, "slice_scatter: slice step must be positive"),
    (lambda: mg.slice_scatter(X, mg.ones(1, 3), 0), ValueError, "slice_scatter: expected src to have the shape"),
    (lambda: X.narrow_copy(1, 2, 2), ValueError, "narrow_copy: narrow: start"),
    (lambda: X.split_with_sizes([1, 1], 1), ValueError, "split_with_sizes: split_sizes \\[1, 1\\] must sum"),
    (lambda: X.split_with_sizes([4, -1], 1), ValueError, "split_with_sizes: split_sizes must be non-negative"),
    (lambda: X.split_with_sizes(3, 1), TypeError, "split_with_sizes: split_sizes must be a list"),
    (lambda: X.sum_to_size(4), ValueError, "sum_to_size: size \\[4\\] is not expandable"),
    (lambda: X.sum_to_size(1, 1, 3), ValueError, "sum_to_size: size \\[1, 1, 3\\] is not expandable"),
    (lambda: X.as_strided((2, 2), (1,)), ValueError, "as_strided: size .* and stride .* must have the same length"),
    (lambda: X.as_strided((-1,), (1,)), ValueError, "as_strided: sizes must be non-negative"),
    (lambda: X.cumprod_(0, dtype="int64"), TypeError, "cumprod_: dtype int64 differs"),
    (lambda: X.transpose_(0, 2), IndexError, "transpose"),
]


@pytest.mark.parametrize("k", range(len(ERRORS)))
def test_errors_name_the_op(k):
    fn, kind, match = ERRORS[k]
    with pytest.raises(kind, match=match):
        fn()
