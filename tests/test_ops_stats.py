"""Statistics, scans and searches (minigrad/ops/stats.py): nansum, nanmean, count_nonzero, std_mean,
var_mean, aminmax, median, nanmedian, quantile, nanquantile, mode, kthvalue, msort, cummax, cummin,
logcumsumexp, bincount, histc, searchsorted, bucketize, take, take_along_dim, argwhere, unique_consecutive.

Gradients against float64 finite differences over generated shapes (check_op, on every backend);
torch parity for values, indices and gradients (float64), with the tie and NaN rules torch follows
written down case by case; errors naming the op.
"""
import functools
import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.ops.stats import LogCumSumExp, Median, NanMean
from minigrad.testing import strategies as mst

from opcheck import check_op, draw_array

GRADIENT_TESTED = [NanMean, Median, LogCumSumExp]

NAN = float("nan")
SHAPES = mst.shapes(min_dims=0, max_dims=3, max_side=4)
NONSCALAR = mst.shapes(min_dims=1, max_dims=3, max_side=4)
exact = functools.partial(check_op, exact=True)


def _dim(data, ndim):
    return data.draw(st.integers(-max(ndim, 1), max(ndim, 1) - 1))


def _unique(data, shape, device):
    """float64 values, all distinct and at least 0.05 apart (no ties, so finite differences keep the order)."""
    n = int(np.prod(shape))
    picks = data.draw(st.lists(st.integers(-60, 60), min_size=n, max_size=n, unique=True))
    jitter = data.draw(st.floats(0, 0.01))
    return (np.asarray(picks, dtype=np.float64) * 0.05 + jitter).reshape(shape)


# ---------------------------------------------------------------- gradient properties (check_op)
@given(data=st.data(), shape=SHAPES)
def test_nansum_nanmean_grad(device, data, shape):
    a = draw_array(data, shape, device)
    nan = data.draw(mst.tensors(shape=shape, dtype="bool")).numpy()
    a[nan] = NAN
    nd = len(shape)
    dim = data.draw(st.one_of(st.none(), st.integers(-max(nd, 1), max(nd, 1) - 1)))
    keepdim = data.draw(st.booleans())
    axis = None if dim is None or nd == 0 else dim
    check_op(lambda x: mg.nansum(x, dim, keepdim), lambda x: np.nansum(x, axis=axis, keepdims=keepdim), [a], device)
    check_op(lambda x: x.nansum(dim, keepdim=keepdim), lambda x: np.nansum(x, axis=axis, keepdims=keepdim), [a],
             device)
    assume((~np.isnan(a)).sum(axis=axis).min() > 0)  # every slice keeps a number (else NaN, see parity)
    check_op(lambda x: mg.nanmean(x, dim, keepdim), lambda x: np.nanmean(x, axis=axis, keepdims=keepdim), [a], device)


@given(data=st.data(), shape=NONSCALAR)
def test_std_mean_var_mean_grad(device, data, shape):
    a = draw_array(data, shape, device)
    dim = _dim(data, len(shape))
    c = data.draw(st.sampled_from([0, 1]))
    assume(shape[dim] - c > 0)
    keepdim = data.draw(st.booleans())
    check_op(lambda x: mg.var_mean(x, dim, keepdim=keepdim, correction=c),
             lambda x: (np.var(x, axis=dim, ddof=c, keepdims=keepdim), np.mean(x, axis=dim, keepdims=keepdim)),
             [a], device)
    a = a + np.linspace(0, 1, a.size).reshape(a.shape)  # std: no constant slices (a kink at std = 0)
    check_op(lambda x: mg.std_mean(x, dim, unbiased=bool(c), keepdim=keepdim),
             lambda x: (np.std(x, axis=dim, ddof=c, keepdims=keepdim), np.mean(x, axis=dim, keepdims=keepdim)),
             [a], device)


@given(data=st.data(), shape=SHAPES)
def test_aminmax_grad(device, data, shape):
    a = _unique(data, shape, device)
    nd = len(shape)
    dim = data.draw(st.one_of(st.none(), st.integers(-max(nd, 1), max(nd, 1) - 1)))
    keepdim = data.draw(st.booleans())
    axis = None if dim is None or nd == 0 else dim
    check_op(lambda x: tuple(mg.aminmax(x, dim=dim, keepdim=keepdim)),
             lambda x: (np.min(x, axis=axis, keepdims=keepdim), np.max(x, axis=axis, keepdims=keepdim)), [a], device)


def _np_order_stat(x, axis, keepdim, k):
    """The k-th smallest (0-based) along axis, as NumPy (no NaN, distinct values here)."""
    v = np.take(np.sort(x, axis=axis), [k], axis=axis)
    return v if keepdim else np.squeeze(v, axis=axis)


@given(data=st.data(), shape=SHAPES)
def test_median_kthvalue_mode_msort_grad(device, data, shape):
    a = _unique(data, shape, device)
    n = a.size
    exact(mg.median, lambda x: np.sort(x.reshape(-1))[(n - 1) // 2], [a], device)
    exact(lambda x: x.nanmedian(), lambda x: np.sort(x.reshape(-1))[(n - 1) // 2], [a], device)
    nd = len(shape)
    dim = _dim(data, nd)
    keepdim = data.draw(st.booleans())
    if nd == 0:
        exact(lambda x: mg.median(x, dim, keepdim).values, lambda x: x, [a], device)
        return
    size = shape[dim]
    exact(lambda x: mg.median(x, dim, keepdim).values, lambda x: _np_order_stat(x, dim, keepdim, (size - 1) // 2),
          [a], device)
    exact(lambda x: x.nanmedian(dim, keepdim).values, lambda x: _np_order_stat(x, dim, keepdim, (size - 1) // 2),
          [a], device)
    k = data.draw(st.integers(1, size))
    exact(lambda x: mg.kthvalue(x, k, dim, keepdim).values, lambda x: _np_order_stat(x, dim, keepdim, k - 1),
          [a], device)
    # distinct values: every value is a mode, and the smallest one wins
    exact(lambda x: x.mode(dim, keepdim).values, lambda x: np.min(x, axis=dim, keepdims=keepdim), [a], device)
    exact(mg.msort, lambda x: np.sort(x, axis=0), [a], device)


@given(data=st.data(), shape=SHAPES, interpolation=st.sampled_from(["linear", "lower", "higher", "midpoint",
                                                                     "nearest"]))
def test_quantile_grad(device, data, shape, interpolation):
    a = _unique(data, shape, device)
    nd = len(shape)
    # q on a 1/16 grid: q (n - 1) is exact in float32 and float64, so both round the rank alike
    qs = data.draw(st.lists(st.integers(0, 16), min_size=1, max_size=3))
    qs = np.asarray(qs, dtype=np.float64) / 16
    dim = data.draw(st.one_of(st.none(), st.integers(-max(nd, 1), max(nd, 1) - 1)))
    keepdim = data.draw(st.booleans())
    axis = None if dim is None or nd == 0 else dim

    def ref(x, q):
        return np.quantile(x, q, axis=axis, keepdims=keepdim, method=interpolation)

    if nd == 0 and dim is None and keepdim:
        ref = functools.partial(lambda r, x, q: r(x, q).reshape(np.shape(q)), ref)  # (0-d x: no dims to keep)
    q0 = float(qs[0])
    check_op(lambda x: mg.quantile(x, q0, dim, keepdim, interpolation=interpolation), lambda x: ref(x, q0), [a],
             device)
    check_op(lambda x: x.nanquantile(mg.tensor(qs, dtype=x.dtype, device=device), dim, keepdim,
                                     interpolation=interpolation), lambda x: ref(x, qs), [a], device)


@given(data=st.data(), shape=SHAPES)
def test_cummax_cummin_logcumsumexp_grad(device, data, shape):
    a = _unique(data, shape, device)
    nd = len(shape)
    dim = _dim(data, nd)
    ax = dim if nd else 0

    def scan(ufunc):
        return lambda x: ufunc.accumulate(x.reshape(-1) if x.ndim == 0 else x, axis=ax).reshape(x.shape)

    exact(lambda x: mg.cummax(x, dim).values, scan(np.maximum), [a], device)
    exact(lambda x: x.cummin(dim).values, scan(np.minimum), [a], device)
    check_op(lambda x: mg.logcumsumexp(x, dim), scan(np.logaddexp), [a * 10], device)
    # indices: where each running extreme sits
    t = mg.tensor(a, device=device)
    for fn, uf in ((mg.cummax, np.maximum), (mg.cummin, np.minimum)):
        vals, idx = fn(t, dim)
        assert idx.dtype == np.int64 and idx.shape == a.shape
        want = scan(uf)(a)
        flat = a.reshape(-1) if nd == 0 else a
        np.testing.assert_array_equal(np.take_along_axis(flat, idx.numpy().reshape(flat.shape), axis=ax)
                                      .reshape(a.shape), want)


@given(data=st.data(), shape=SHAPES)
def test_take_take_along_dim_grad(device, data, shape):
    a = draw_array(data, shape, device)
    n = a.size
    ishape = data.draw(mst.shapes(max_dims=2, max_side=4))
    index = data.draw(mst.tensors(shape=ishape, dtype="int64", min_value=-n, max_value=n - 1)).numpy()
    exact(lambda x: mg.take(x, mg.tensor(index, device=device)), lambda x: np.take(x.reshape(-1), index), [a],
          device)
    exact(lambda x: x.take_along_dim(mg.tensor(index, device=device)),
          lambda x: np.take(x.reshape(-1), index.reshape(-1)), [a], device)
    nd = len(shape)
    if nd == 0:
        return
    dim = _dim(data, nd)
    # indices: x's number of dims, size 1 in some dims (broadcast), any length along dim
    jshape = [data.draw(st.sampled_from([1, s])) for s in shape]
    jshape[dim] = data.draw(st.integers(0, 4))
    j = data.draw(mst.tensors(shape=tuple(jshape), dtype="int64", min_value=-shape[dim], max_value=shape[dim] - 1))
    j = j.numpy()
    exact(lambda x: mg.take_along_dim(x, mg.tensor(j, device=device), dim),
          lambda x: np.take_along_axis(x, j % shape[dim], axis=dim), [a], device)


@given(data=st.data(), n=st.integers(0, 6), length=st.integers(0, 7))
def test_bincount_weights_grad(device, data, n, length):
    x = np.asarray(data.draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)), dtype=np.int64)
    w = draw_array(data, (n,), device)
    size = max(length, x.max() + 1 if n else 0)
    check_op(lambda w_: mg.bincount(mg.tensor(x, device=device), w_, minlength=length),
             lambda w_: np.bincount(x, w_, minlength=size).astype(np.float64), [w], device)


def test_median_ties_split_the_gradient_evenly(device):
    """median() of all elements: like torch, the gradient is split among the elements equal to it."""
    x = mg.tensor([[2.0, 2.0, 2.0, 3.0]], dtype="float64", device=device, requires_grad=True)
    x.median().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[1 / 3, 1 / 3, 1 / 3, 0]])
    # finite differences cannot see a split (a tie is a kink): check the split by the engine's total
    x = mg.tensor([5.0, 1.0, 5.0, 9.0], device=device, requires_grad=True)
    m = mg.median(x)
    assert m.dtype == np.float32 and m.item() == 5.0
    m.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.float32([0.5, 0, 0.5, 0]))


# ---------------------------------------------------------------- torch parity (float64)
def _torch():
    return pytest.importorskip("torch")


def _parity(f, arrays, grad=True, rtol=1e-12):
    """Run f(lib, *tensors) with lib = minigrad and torch; compare every output (values, indices),
    and for float outputs the gradient of sum(out * v) with respect to every float input."""
    torch = _torch()
    rng = np.random.default_rng(0)
    mins = [mg.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    tins = [torch.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    mo, to = f(mg, *mins), f(torch, *tins)
    mo = mo if isinstance(mo, tuple) else (mo,)
    to = to if isinstance(to, tuple) else (to,)
    assert len(mo) == len(to)
    ml, tl = 0, 0
    for m, t in zip(mo, to):
        assert tuple(m.shape) == tuple(t.shape), (m.shape, t.shape)
        assert str(m.dtype) == str(t.dtype).replace("torch.", ""), (m.dtype, t.dtype)
        np.testing.assert_allclose(m.numpy(), t.detach().numpy(), rtol=rtol, atol=rtol, equal_nan=True)
        if grad and m.dtype.kind == "f" and m.requires_grad:
            v = rng.standard_normal(tuple(m.shape))
            with np.errstate(invalid="ignore"):  # (inf outputs: the loss itself is NaN, only gradients matter)
                ml = ml + (m * mg.tensor(v)).sum()
            tl = tl + (t * torch.tensor(v)).sum()
    if grad and not isinstance(ml, int):
        ml.backward()
        tl.backward()
        for mi, ti in zip(mins, tins):
            if ti.requires_grad:
                tg = ti.grad.numpy() if ti.grad is not None else np.zeros(ti.shape)
                mgd = mi.grad.numpy() if mi.grad is not None else np.zeros(ti.shape)
                np.testing.assert_allclose(mgd, tg, rtol=1e-10, atol=1e-12, equal_nan=True)


def _a(*rows):
    return np.asarray(rows if len(rows) > 1 else rows[0], dtype=np.float64)


def test_torch_parity_nan_reductions():
    x = _a([[1.0, NAN, 3.0], [NAN, NAN, NAN], [2.0, 0.0, -1.0]])
    _parity(lambda L, t: L.nansum(t), [x])
    _parity(lambda L, t: L.nansum(t, 1, keepdim=True), [x])
    _parity(lambda L, t: t.nansum((0, 1)), [x])
    # a slice of NaNs: nanmean is NaN there and so is its gradient (0 * 1/0), as torch
    _parity(lambda L, t: L.nanmean(t, 1), [x])
    _parity(lambda L, t: t.nanmean(), [x])
    _parity(lambda L, t: L.nansum(t), [np.asarray([[1, 2], [3, 4]], dtype=np.int32)], grad=False)  # int64 sum
    _parity(lambda L, t: L.count_nonzero(t, 0), [x], grad=False)  # NaN is nonzero
    _parity(lambda L, t: t.count_nonzero((0, 1)), [x], grad=False)
    _parity(lambda L, t: L.count_nonzero(t), [np.asarray([True, False, True])], grad=False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extremes_are_silent_as_torch(dtype):
    """Review fix: inf + -inf, float32 sums past 3.4e38 and lerp between infinities give inf/NaN, which torch
    computes without a word; nansum, nanmean, quantile and logcumsumexp made NumPy warn there."""
    torch = _torch()
    big = 3e38 if dtype == np.float32 else 1e308
    inf = float("inf")
    x = np.asarray([[big, big, -inf, 1.0], [inf, -inf, NAN, 2.0], [inf, inf, 1.0, -big], [1.0, 2.0, 3.0, 4.0]],
                   dtype=dtype)
    calls = [lambda L, t: L.nansum(t, 1), lambda L, t: L.nanmean(t, 1), lambda L, t: L.quantile(t, 0.5, dim=1),
             lambda L, t: L.nanquantile(t, 0.3, dim=1), lambda L, t: L.logcumsumexp(t, 1)]
    for f in calls:
        m, t = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            y = f(mg, m)
            y.backward(mg.ones_like(y))
        ty = f(torch, t)
        ty.backward(torch.ones_like(ty))
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-6, equal_nan=True)
        np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=1e-6, equal_nan=True)


def test_torch_parity_std_var_mean_aminmax():
    x = _a([[1.0, 4.0, 2.0], [0.5, -1.0, 3.0]])
    for c in (0, 1):
        _parity(lambda L, t: L.std_mean(t, 1, correction=c, keepdim=True), [x])
        _parity(lambda L, t: L.var_mean(t, correction=c), [x])
    _parity(lambda L, t: L.var_mean(t, 0, unbiased=False), [x])
    # ties split the extreme's gradient evenly, as torch's aminmax
    y = _a([[1.0, 5.0, 5.0], [3.0, 2.0, 2.0]])
    _parity(lambda L, t: tuple(L.aminmax(t, dim=1)), [y])
    _parity(lambda L, t: tuple(t.aminmax()), [y])
    _parity(lambda L, t: tuple(L.aminmax(t, dim=0, keepdim=True)), [y])
    _parity(lambda L, t: tuple(L.aminmax(t)), [np.asarray([3, 1, 2])], grad=False)
    assert mg.aminmax(mg.tensor([1.0, 2.0]))._fields == ("min", "max")


def test_torch_parity_median_family():
    x = _a([[3.0, 1.0, 3.0, 3.0, 2.0, 1.0], [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]])
    _parity(lambda L, t: L.median(t), [x])
    _parity(lambda L, t: tuple(L.median(t, 1)), [x])  # ties: the index a stable sort puts at (n-1)//2
    _parity(lambda L, t: tuple(t.median(0, keepdim=True)), [x])
    _parity(lambda L, t: tuple(L.median(t, -1)), [np.asarray([[3, 1, 2, 4]])], grad=False)  # ints stay ints
    nan = _a([[1.0, NAN, 2.0, NAN, NAN], [4.0, 0.0, 2.0, 1.0, 3.0]])
    _parity(lambda L, t: L.median(t), [nan])  # NaN, gradient split among the NaNs
    _parity(lambda L, t: tuple(L.median(t, 1)), [nan])  # NaN at the first NaN's index
    _parity(lambda L, t: L.nanmedian(t), [nan])
    _parity(lambda L, t: tuple(t.nanmedian(1)), [nan])
    _parity(lambda L, t: t.nanmedian(), [_a([NAN, NAN])])  # all NaN: NaN, gradient split
    _parity(lambda L, t: tuple(L.median(t, 0)), [_a(5.0)])
    all_nan = mg.nanmedian(mg.tensor([[NAN, NAN, NAN]]), 1)  # torch's index here is its partial sort's artifact
    assert np.isnan(all_nan.values.item()) and all_nan.indices.item() == 0
    # kthvalue: distinct values match torch's indices exactly; NaN is the largest value
    d = _a([[0.5, -1.0, 2.0, NAN], [3.0, 1.0, 0.0, 2.5]])
    for k in (1, 2, 3, 4):
        _parity(lambda L, t: tuple(L.kthvalue(t, k, 1)), [d])
        _parity(lambda L, t: tuple(t.kthvalue(k, -1, True)), [d])
    _parity(lambda L, t: tuple(L.kthvalue(t, 1)), [_a(2.0)])


@given(data=st.data())
def test_torch_parity_order_statistics_with_ties(data):
    """Tied and NaN values: median's indices equal torch's (a stable sort's choice; the first NaN);
    kthvalue's values equal torch's and its index names an element of that value (torch leaves
    which one unspecified); mode: the smallest most frequent value at its last occurrence (torch's
    rule for rows of up to 16), NaNs counted as one value."""
    torch = _torch()
    rows, n = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 16))
    a = np.asarray(data.draw(st.lists(st.sampled_from([0.0, 1.0, 2.0, 3.0, NAN]), min_size=rows * n,
                                      max_size=rows * n))).reshape(rows, n)
    has_nan = np.isnan(a).any()
    m, t = mg.tensor(a), torch.tensor(a)
    for op in ("median", "nanmedian"):
        mr, tr = getattr(mg, op)(m, 1), getattr(torch, op)(t, 1)
        np.testing.assert_array_equal(mr.values.numpy(), tr.values.numpy())
        all_nan = np.isnan(a).all(axis=1)
        np.testing.assert_array_equal(mr.indices.numpy()[~all_nan], tr.indices.numpy()[~all_nan])
        np.testing.assert_array_equal(getattr(mg, op)(m).numpy(), getattr(torch, op)(t).numpy())
    k = data.draw(st.integers(1, n))
    mr, tr = mg.kthvalue(m, k, 1), torch.kthvalue(t, k, 1)
    np.testing.assert_array_equal(mr.values.numpy(), tr.values.numpy())
    np.testing.assert_array_equal(np.take_along_axis(a, mr.indices.numpy()[:, None], 1)[:, 0], mr.values.numpy())
    mr = mg.mode(m, 1)
    if not has_nan:
        tr = torch.mode(t, 1)
        np.testing.assert_array_equal(mr.values.numpy(), tr.values.numpy())
        np.testing.assert_array_equal(mr.indices.numpy(), tr.indices.numpy())
    for i, row in enumerate(a):  # the rule, NaN included
        vals, counts = np.unique(np.where(np.isnan(row), np.inf, row), return_counts=True)
        want = vals[counts == counts.max()].min()
        want = NAN if want == np.inf else want
        np.testing.assert_array_equal(mr.values.numpy()[i], want)
        same = np.isnan(row) if np.isnan(want) else row == want
        assert mr.indices.numpy()[i] == np.flatnonzero(same)[-1]


def test_torch_parity_mode_msort():
    x = _a([[1.0, 2.0, 2.0, 1.0, 3.0], [3.0, 3.0, 1.0, 1.0, 0.5]])
    _parity(lambda L, t: tuple(L.mode(t)), [x])  # both rows tie: the smaller value, its last index
    _parity(lambda L, t: tuple(t.mode(0, keepdim=True)), [x])
    _parity(lambda L, t: tuple(L.mode(t)), [np.asarray([3, 1, 3])], grad=False)
    _parity(lambda L, t: tuple(L.mode(t)), [np.asarray([True, False, True])], grad=False)
    _parity(lambda L, t: tuple(L.mode(t, 0)), [_a(4.0)])
    # two NaNs outnumber one 1: the mode is NaN as in torch; minigrad's index is the last NaN
    # (torch reports 0 here: with NaN its index does not follow its own last-occurrence rule)
    r = mg.mode(mg.tensor([NAN, NAN, 1.0]))
    assert np.isnan(r.values.item()) and r.indices.item() == 1
    assert np.isnan(_torch().mode(_torch().tensor([NAN, NAN, 1.0])).values.item())
    _parity(lambda L, t: L.msort(t), [_a([[3.0, 1.0], [2.0, NAN], [1.0, 0.0]])])
    _parity(lambda L, t: t.msort(), [_a(2.0)])


def test_torch_parity_quantile():
    x = _a([[1.0, 4.0, 2.0, 3.0], [0.0, NAN, 5.0, 1.0], [NAN, NAN, NAN, NAN], [2.0, 1.0, 2.0, 3.0]])
    q = np.asarray([0.0, 0.25, 0.4, 0.5, 1 / 3, 1.0])
    for it in ("linear", "lower", "higher", "midpoint", "nearest"):
        for op in ("quantile", "nanquantile"):
            # NaN rows: quantile reads the last (a NaN, gradient to the last NaN), nanquantile skips NaNs;
            # ties (row 3): the gradient goes where a stable sort puts the tied values, as torch
            _parity(lambda L, t: getattr(L, op)(t, 0.4, 1, interpolation=it), [x])
            _parity(lambda L, t: getattr(t, op)(L.tensor(q, dtype=t.dtype), dim=-1, keepdim=True, interpolation=it),
                    [x])
            _parity(lambda L, t: getattr(L, op)(t[0], L.tensor(q, dtype=t.dtype), interpolation=it), [x])
            _parity(lambda L, t: getattr(L, op)(t[3:], 0.5, interpolation=it, keepdim=True), [x])
    _parity(lambda L, t: L.quantile(t, L.tensor(0.25, dtype=t.dtype), 0), [x])
    _parity(lambda L, t: L.quantile(t, 0.5, 0, keepdim=True), [_a(3.0)])
    _parity(lambda L, t: L.quantile(t, L.tensor([0.5, 0.2], dtype=t.dtype), keepdim=True), [x[:2]])


def test_torch_parity_scans():
    x = _a([1.0, 3.0, 2.0, 3.0, NAN, 5.0, NAN, 1.0])
    # ties: the later index; NaN stays, at the latest NaN's index (torch's rule)
    _parity(lambda L, t: tuple(L.cummax(t, 0)), [x])
    _parity(lambda L, t: tuple(t.cummin(-1)), [_a([3.0, 1.0, 2.0, 1.0, NAN, 0.0, NAN, 1.0])])
    _parity(lambda L, t: tuple(L.cummax(t, 1)), [_a([[1.0, 3.0, 3.0, 2.0], [4.0, 4.0, 5.0, 0.0]])])
    _parity(lambda L, t: tuple(L.cummin(t, 0)), [_a([[1.0, 3.0], [1.0, 2.0], [0.0, 5.0]])])
    _parity(lambda L, t: tuple(L.cummax(t, 0)), [np.asarray([True, False, True])], grad=False)
    _parity(lambda L, t: tuple(L.cummax(t, 0)), [np.asarray([1, 3, 3, 2])], grad=False)
    _parity(lambda L, t: tuple(L.cummax(t, 0)), [_a(2.0)])
    _parity(lambda L, t: tuple(L.cummin(t, 0)), [np.zeros(0)])
    # logcumsumexp: no overflow at 1000, -inf elements, NaN; -inf-only prefixes get a NaN gradient as torch
    _parity(lambda L, t: L.logcumsumexp(t, 1), [_a([[0.0, 1.0, -np.inf, 1000.0], [-1000.0, 0.0, 2.0, -3.0]])])
    _parity(lambda L, t: t.logcumsumexp(0), [_a([-np.inf, -np.inf, 0.0, 1.0])])
    _parity(lambda L, t: L.logcumsumexp(t, 0), [_a([np.inf, 1.0, 0.0])])
    _parity(lambda L, t: L.logcumsumexp(t, 0), [_a([1.0, NAN, 0.0])])
    _parity(lambda L, t: L.logcumsumexp(t, 0), [_a(2.0)])
    y = mg.logcumsumexp(mg.tensor([-1000.0, 0.0, 1000.0]), 0)  # float32, finite everywhere
    assert y.dtype == np.float32 and np.isfinite(y.numpy()).all()


def test_torch_parity_take():
    x = _a([[1.0, 2.0], [3.0, 4.0]])
    idx = np.asarray([[0, 3], [3, -1]])
    _parity(lambda L, t: L.take(t, L.tensor(idx)), [x])
    _parity(lambda L, t: t.take(L.tensor([0, 0])), [_a(3.0)])
    _parity(lambda L, t: L.take_along_dim(t, L.tensor([[1], [0]]), dim=1), [x])
    _parity(lambda L, t: L.take_along_dim(t, L.tensor([[1, 0]]), dim=1), [x])  # indices broadcast over dim 0
    _parity(lambda L, t: t.take_along_dim(L.tensor([[-1], [0]]), 1), [x])  # negatives count from the end
    _parity(lambda L, t: L.take_along_dim(t, L.tensor([3, 0, 3])), [x])  # dim=None: flattened
    _parity(lambda L, t: L.take_along_dim(t, L.tensor([[[1]], [[0]]]), 0), [np.arange(12.0).reshape(2, 3, 2)])


@given(data=st.data())
def test_torch_parity_counting_and_searching(data):
    torch = _torch()
    n = data.draw(st.integers(0, 8))
    ints = np.asarray(data.draw(st.lists(st.integers(0, 6), min_size=n, max_size=n)), dtype=np.int64)
    minlength = data.draw(st.integers(0, 9))
    np.testing.assert_array_equal(mg.bincount(mg.tensor(ints), minlength=minlength).numpy(),
                                  torch.bincount(torch.tensor(ints), minlength=minlength).numpy())
    w = np.asarray(data.draw(st.lists(st.integers(-3, 3), min_size=n, max_size=n)))
    mb = mg.tensor(ints).bincount(mg.tensor(w, dtype="float32"))
    tb = torch.tensor(ints).bincount(torch.tensor(w, dtype=torch.float32))
    # (torch's shortcut for an empty input returns int64 zeros even with weights; minigrad keeps the weights' dtype)
    assert mb.dtype == np.float32 and str(tb.dtype) == ("torch.float32" if n else "torch.int64")
    np.testing.assert_array_equal(mb.numpy(), tb.numpy())
    iw = mg.bincount(mg.tensor(ints), mg.tensor(w))  # integer weights: float64, as torch
    np.testing.assert_array_equal(iw.numpy(), torch.bincount(torch.tensor(ints), torch.tensor(w)).numpy())
    assert iw.dtype == np.float64 and iw.shape == (ints.max() + 1 if n else 0,)

    # histc: float32 values (some NaN) with the edges in float32, as torch
    vals = np.asarray(data.draw(st.lists(st.sampled_from([-1.0, 0.0, 0.1, 0.3, 0.7, 1.0, 1.5, 2.0, NAN]),
                                         min_size=1, max_size=10)), dtype=np.float32)
    bins = data.draw(st.integers(1, 12))
    lo = data.draw(st.sampled_from([0.0, -1.0, 0.1]))
    hi = data.draw(st.sampled_from([1.0, 2.0, 0.1]))
    assume(lo <= hi)
    if lo == hi and np.isnan(vals).any():  # the range from data with NaN: refused by both (see the errors)
        vals = np.nan_to_num(vals, nan=0.5)
    np.testing.assert_array_equal(mg.histc(mg.tensor(vals), bins, lo, hi).numpy(),
                                  torch.histc(torch.tensor(vals), bins, lo, hi).numpy())

    # searchsorted / bucketize: 1-D and batched sequences, left and right, NaN included
    m = data.draw(st.integers(1, 6))
    seq = np.sort(np.asarray(data.draw(st.lists(st.sampled_from([0.0, 1.0, 1.0, 2.0, 3.5, NAN]), min_size=m,
                                                max_size=m))))
    v = np.asarray(data.draw(st.lists(st.sampled_from([-1.0, 0.0, 1.0, 1.5, 2.0, 4.0, NAN]), min_size=1,
                                      max_size=5)))
    right = data.draw(st.booleans())
    np.testing.assert_array_equal(mg.searchsorted(mg.tensor(seq), mg.tensor(v), right=right).numpy(),
                                  torch.searchsorted(torch.tensor(seq), torch.tensor(v), right=right).numpy())
    np.testing.assert_array_equal(mg.bucketize(mg.tensor(v), mg.tensor(seq), right=right).numpy(),
                                  torch.bucketize(torch.tensor(v), torch.tensor(seq), right=right).numpy())
    seq2 = np.sort(np.stack([seq, seq[::-1]]), axis=1)
    v2 = np.stack([v, v[::-1]])
    side = "right" if right else "left"
    np.testing.assert_array_equal(mg.searchsorted(mg.tensor(seq2), mg.tensor(v2), side=side).numpy(),
                                  torch.searchsorted(torch.tensor(seq2), torch.tensor(v2), side=side).numpy())
    perm = np.asarray(data.draw(st.permutations(range(m))))
    unsorted = np.empty_like(seq)
    unsorted[perm] = seq  # sorter = perm sorts it again
    np.testing.assert_array_equal(
        mg.searchsorted(mg.tensor(unsorted), mg.tensor(v), sorter=mg.tensor(perm), right=right).numpy(),
        torch.searchsorted(torch.tensor(unsorted), torch.tensor(v), sorter=torch.tensor(perm), right=right).numpy())

    # argwhere and unique_consecutive
    shape = data.draw(mst.shapes(max_dims=3, max_side=4))
    arr = np.asarray(data.draw(st.lists(st.sampled_from([0.0, 1.0, NAN]), min_size=int(np.prod(shape)),
                                        max_size=int(np.prod(shape))))).reshape(shape)
    np.testing.assert_array_equal(mg.argwhere(mg.tensor(arr)).numpy(), torch.argwhere(torch.tensor(arr)).numpy())
    mu = mg.tensor(arr).unique_consecutive(return_inverse=True, return_counts=True)
    tu = torch.tensor(arr).unique_consecutive(return_inverse=True, return_counts=True)
    for a_, b_ in zip(mu, tu):
        assert tuple(a_.shape) == tuple(b_.shape)
        np.testing.assert_array_equal(a_.numpy(), b_.numpy())
    if len(shape):
        d = data.draw(st.integers(-len(shape), len(shape) - 1))
        if all(s for k, s in enumerate(shape) if k != d % len(shape)):
            mu = mg.unique_consecutive(mg.tensor(arr), True, True, dim=d)
            tu = torch.unique_consecutive(torch.tensor(arr), True, True, dim=d)
            for a_, b_ in zip(mu, tu):
                assert tuple(a_.shape) == tuple(b_.shape)
                np.testing.assert_array_equal(a_.numpy(), b_.numpy())


def test_searchsorted_edge_cases():
    torch = _torch()
    s = [[1, 3, 5, 7, 9], [2, 4, 6, 8, 10]]
    v = [[3, 6, 9], [3, 6, 9]]
    for kw in ({}, {"right": True}, {"side": "right"}, {"out_int32": True}):
        got = mg.searchsorted(mg.tensor(s), mg.tensor(v), **kw)
        want = torch.searchsorted(torch.tensor(s), torch.tensor(v), **kw)
        assert str(got.dtype) == str(want.dtype).replace("torch.", "")
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(mg.searchsorted(mg.tensor(s[0]), mg.tensor(v)).numpy(),
                                  torch.searchsorted(torch.tensor(s[0]), torch.tensor(v)).numpy())
    r = mg.searchsorted(mg.tensor(s[0]), 5)
    assert r.shape == () and r.item() == 2
    assert mg.bucketize(3, mg.tensor([1, 3, 5, 7])).item() == 1
    # a number compares in the sequence's dtype (float32 0.1 == 0.1), as torch
    assert mg.searchsorted(mg.tensor([0.1]), 0.1, right=True).item() == 1
    assert mg.searchsorted(mg.zeros(0), mg.tensor([1.0])).tolist() == [0]


def test_histc_edge_cases():
    torch = _torch()
    for vals, kw in (([1.0, 2, 1, 4, 5], {"bins": 4}), ([2.0, 2.0], {"bins": 4}),
                     ([1.0, 2, 1], dict(bins=4, min=3, max=3)),  # min = max: the data's range
                     ([0.1, 0.2, 0.3, 0.7], dict(bins=10, min=0, max=1)), ([1.0, 2, 1, 4, 5, NAN], dict(bins=4, max=3)),
                     ([], {"bins": 3})):
        got = mg.histc(mg.tensor(vals), **kw)
        want = torch.histc(torch.tensor(vals), **kw)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert mg.tensor([[1.0, 2.0], [3.0, 4.0]], dtype="float64").histc(3).dtype == np.float64
    assert not mg.histc(mg.tensor([1.0, 2.0], requires_grad=True), 3).requires_grad


def test_dtypes_and_float32():
    x = mg.tensor([[1.0, 5.0, 2.0], [3.0, 0.0, 4.0]], requires_grad=True)
    outs = [mg.nansum(x), mg.nanmean(x, 1), mg.median(x), mg.median(x, 1).values, mg.quantile(x, 0.3),
            mg.kthvalue(x, 2).values, mg.mode(x).values, mg.cummax(x, 1).values, mg.logcumsumexp(x, 1),
            mg.take(x, mg.tensor([1])), mg.std_mean(x)[0], mg.aminmax(x).max, mg.msort(x)]
    for o in outs:
        assert o.dtype == np.float32
        o.sum().backward()
        assert x.grad.dtype == np.float32 and x.grad.shape == x.shape
    assert mg.median(x, 1).indices.dtype == np.int64
    assert mg.count_nonzero(x).dtype == np.int64
    assert mg.nansum(mg.tensor([True, False, True])).item() == 2
    assert mg.median(mg.tensor([3, 1, 2])).dtype == np.int64


# ---------------------------------------------------------------- errors name the op
@pytest.mark.parametrize("call, err, text", [
    (lambda: mg.quantile(mg.tensor([1.0, 2.0]), 1.5), ValueError, r"quantile: q must be in the range \[0, 1\]"),
    (lambda: mg.nanquantile(mg.tensor([1.0, 2.0]), mg.tensor([0.5, -0.1])), ValueError, r"nanquantile: q must be in"),
    (lambda: mg.quantile(mg.tensor([1.0]), mg.tensor([[0.5]])), ValueError, "quantile: q must be a number or a 1-D"),
    (lambda: mg.quantile(mg.tensor([1.0]), mg.tensor([0.5], dtype="float64")), TypeError, "quantile: a tensor q"),
    (lambda: mg.quantile(mg.tensor([1, 2]), 0.5), TypeError, "quantile: expected a floating-point"),
    (lambda: mg.quantile(mg.zeros(0), 0.5), ValueError, "quantile: the input must be non-empty"),
    (lambda: mg.quantile(mg.tensor([1.0]), 0.5, interpolation="foo"), ValueError, "quantile: interpolation"),
    (lambda: mg.quantile(mg.tensor([1.0]), "a"), TypeError, "quantile: q must be a float"),
    (lambda: mg.kthvalue(mg.tensor([1.0, 2.0]), 3), IndexError, "kthvalue: k=3 is out of range"),
    (lambda: mg.kthvalue(mg.tensor([1.0, 2.0]), 0), IndexError, "kthvalue: k=0 is out of range"),
    (lambda: mg.kthvalue(mg.tensor([True]), 1), TypeError, "kthvalue: not implemented for bool"),
    (lambda: mg.median(mg.zeros(0)), ValueError, "median: cannot take the median of an empty"),
    (lambda: mg.median(mg.zeros(0, 3), 0), ValueError, "median: cannot reduce over the empty dimension"),
    (lambda: mg.median(mg.tensor([1.0]), 1), IndexError, "median: dim 1 is out of range"),
    (lambda: mg.mode(mg.zeros(0)), ValueError, "mode: cannot reduce"),
    (lambda: mg.nanmedian(mg.tensor([1.0]), (0,)), TypeError, "nanmedian: dim must be an int"),
    (lambda: mg.nanmean(mg.tensor([1, 2])), TypeError, "nanmean: expected a floating-point"),
    (lambda: mg.nanmean(mg.zeros(0)), ValueError, "nanmean: cannot reduce"),
    (lambda: mg.var_mean(mg.tensor([1.0, 2.0]), unbiased=True, correction=0), TypeError, "var_mean: give unbiased"),
    (lambda: mg.std_mean(mg.tensor([1.0])), ValueError, "std_mean|std: .* degrees of freedom"),
    (lambda: mg.aminmax(mg.zeros(0)), ValueError, "aminmax: cannot reduce"),
    (lambda: mg.aminmax(mg.ones(2, 2), dim=(0, 1)), TypeError, "aminmax: dim must be an int"),
    (lambda: mg.logcumsumexp(mg.tensor([1, 2]), 0), TypeError, "logcumsumexp: expected a floating-point"),
    (lambda: mg.cummax(mg.tensor([1.0]), 1), IndexError, "cummax: dim 1 is out of range"),
    (lambda: mg.bincount(mg.tensor([-1, 2])), ValueError, "bincount: input must be non-negative"),
    (lambda: mg.bincount(mg.tensor([1.0, 2.0])), TypeError, "bincount: input must be a 1-D tensor of non-negative"),
    (lambda: mg.bincount(mg.tensor([[1, 2]])), TypeError, "bincount: input must be a 1-D"),
    (lambda: mg.bincount(mg.tensor([1, 2]), mg.tensor([1.0])), ValueError, "bincount: weights must be 1-D"),
    (lambda: mg.bincount(mg.tensor([1, 2]), minlength=-1), ValueError, "bincount: minlength must be"),
    (lambda: mg.histc(mg.tensor([1.0]), bins=0), ValueError, "histc: bins must be a positive int"),
    (lambda: mg.histc(mg.tensor([1.0]), min=3, max=1), ValueError, "histc: max must be larger than min"),
    (lambda: mg.histc(mg.tensor([1, 2])), TypeError, "histc: expected a floating-point"),
    (lambda: mg.histc(mg.tensor([1.0, float("inf")])), ValueError, "histc: the range of the data"),
    (lambda: mg.searchsorted(mg.ones(2, 5), mg.tensor([1.0, 2.0])), ValueError,
     "searchsorted: sorted_sequence must be 1-D or share"),
    (lambda: mg.searchsorted(mg.tensor(1.0), mg.tensor([1.0])), ValueError, "searchsorted: sorted_sequence must have"),
    (lambda: mg.searchsorted(mg.tensor([1.0]), mg.tensor([1.0]), side="middle"), ValueError, "searchsorted: side"),
    (lambda: mg.searchsorted(mg.tensor([1.0]), mg.tensor([1.0]), right=True, side="left"), ValueError,
     "searchsorted: side='left' and right=True"),
    (lambda: mg.searchsorted(mg.tensor([1.0, 2.0]), mg.tensor([1.0]), sorter=mg.tensor([0])), ValueError,
     "searchsorted: sorter must be"),
    (lambda: mg.searchsorted(mg.ones(2, 3), 1.0), ValueError, "searchsorted: a number as values needs a 1-D"),
    (lambda: mg.bucketize(mg.tensor([1.0]), mg.ones(1, 2)), ValueError, "bucketize: boundaries must be 1-D"),
    (lambda: mg.bucketize(mg.tensor([1.0]), mg.tensor(1.0)), ValueError, "bucketize: boundaries must be 1-D"),
    (lambda: mg.take(mg.ones(2, 2), mg.tensor([4])), IndexError, "take: index 4 is out of range"),
    (lambda: mg.take(mg.ones(2, 2), mg.tensor([-5])), IndexError, "take: index -5 is out of range"),
    (lambda: mg.take(mg.ones(2, 2), mg.tensor([1.0])), TypeError, "take: index must hold integers"),
    (lambda: mg.take_along_dim(mg.ones(2, 2), mg.tensor([1, 0]), 1), ValueError,
     "take_along_dim: input and indices must have the same number of dimensions"),
    (lambda: mg.take_along_dim(mg.ones(2, 2), mg.tensor([[2]]), 1), IndexError, "take_along_dim: index 2"),
    (lambda: mg.take_along_dim(mg.ones(2, 2), mg.ones(3, 1).long(), 1), ValueError,
     "take_along_dim: .* do not broadcast"),
    (lambda: mg.unique_consecutive(mg.tensor(3.0), dim=0), IndexError, "unique_consecutive: dim=0 needs"),
    (lambda: mg.unique_consecutive(mg.zeros(2, 0), dim=0), ValueError, "unique_consecutive: .* zero-size dim"),
    (lambda: mg.argwhere([1, 2]), TypeError, "argwhere: expected a Tensor"),
])
def test_errors_name_the_op(call, err, text):
    with pytest.raises(err, match=text):
        call()
