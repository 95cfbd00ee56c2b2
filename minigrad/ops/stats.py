"""Statistics, scans and searches with torch's names: nansum, nanmean, count_nonzero, std_mean,
var_mean, aminmax, median, nanmedian, quantile, nanquantile, mode, kthvalue, msort, cummax,
cummin, logcumsumexp, bincount, histc, searchsorted, bucketize, take, take_along_dim, argwhere,
unique_consecutive.

Most of them are compositions: an order statistic is the input gathered at an index found
on the raw arrays (a stable argsort), so its gradient is the gather's (it reaches the element
that was picked). Three need their own backward: `NanMean` (NaN-free mean with torch's
gradient), `Median` (the median of all elements, whose gradient torch splits among equal
elements) and `LogCumSumExp` (a stable scan with a stable backward).

Scans (cummax, cummin, logcumsumexp, mode's runs) use one helper, `_inclusive_scan`: the
Hillis-Steele doubling scan, log2(n) vectorized steps of an associative combine, which works
the same on NumPy and CuPy (CuPy's ufuncs lack `accumulate` for most operations).
"""
from __future__ import annotations

import numbers
from collections import namedtuple

from .. import backend as _B
from ..autograd import Function
from ..tensor import Tensor, _wrap
from .common import c_order, check_float, describe, normalize_axis
from .elementwise import lerp, masked_fill
from .reduce import _check_nonempty, _dims, _drop_kept, amax, amin, mean, sort, std, sum, var
from .shape import expand, gather, nonzero, reshape, squeeze, unsqueeze

np = _B.np  # dtypes only
get_xp = _B.get_array_module

AminmaxResult = namedtuple("AminmaxResult", ["min", "max"])
MedianResult = namedtuple("MedianResult", ["values", "indices"])
ModeResult = namedtuple("ModeResult", ["values", "indices"])
KthvalueResult = namedtuple("KthvalueResult", ["values", "indices"])
CummaxResult = namedtuple("CummaxResult", ["values", "indices"])
CumminResult = namedtuple("CumminResult", ["values", "indices"])


# ---------------------------------------------------------------- helpers on raw arrays
def _inclusive_scan(xp, arrays, combine):
    """Inclusive scan along the LAST axis of every array in the tuple `arrays`.

    `combine(earlier, later)` takes two tuples of equal-shape arrays (the running result of an
    earlier stretch and of the stretch that follows) and returns their combination; it must be
    associative. Step s combines each position with the one 2^s before it (Hillis-Steele).
    """
    n = arrays[0].shape[-1]
    shift = 1
    while shift < n:
        earlier = tuple(a[..., :-shift] for a in arrays)
        later = tuple(a[..., shift:] for a in arrays)
        new = combine(earlier, later)
        arrays = tuple(xp.concatenate([a[..., :shift], b], axis=-1) for a, b in zip(arrays, new))
        shift *= 2
    return arrays


def _isnan(xp, a):
    """isnan that answers False for integer and bool arrays (they hold no NaN)."""
    return xp.isnan(a) if a.dtype.kind in "fc" else xp.zeros(a.shape, dtype=bool)


def _check_tensor(op, x, name="input"):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor for {name}, got {type(x).__name__}")


def _check_not_bool(op, x):
    if x.data.dtype.kind == "b":
        raise TypeError(f"{op}: not implemented for bool tensors ({describe(x)}), as in torch; "
                        "convert with .long() or .float()")


def _check_k(op, k):
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"{op}: expected an int, got {k!r}")
    return int(k)


# ---------------------------------------------------------------- NaN-ignoring reductions
class NanMean(Function):
    """y = sum_{x_i not NaN} x_i / k (k = how many are not NaN);  dy/dx_i = 1/k, 0 at NaN

    A slice of NaNs only has k = 0: y = NaN, and its gradient 0 * (1/0) = NaN, as in torch.
    """

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        xp = get_xp(x)
        valid = ~xp.isnan(x)
        k = valid.sum(axis=dims, keepdims=True).astype(x.dtype)
        # 0 * (1/0) = NaN for all-NaN slices, inf + -inf = NaN and float32 overflow = inf, as torch
        with _B.np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            inv = 1 / k
            yk = xp.where(valid, x, 0).sum(axis=dims, keepdims=True) * inv
        ctx.save_for_backward(valid, inv)
        return _drop_kept(yk, x.shape, dims, keepdim)  # (C order, as torch's, whatever x's layout)

    @staticmethod
    def backward(ctx, g):
        valid, inv = ctx.saved
        with _B.np.errstate(invalid="ignore"):  # 0 * inf = NaN: torch's gradient for all-NaN slices
            return g.reshape(inv.shape) * inv * valid


def nansum(x, dim=None, keepdim=False, *, dtype=None):
    """torch.nansum: the sum over `dim` (None: all) with NaN read as 0;  d/dx_i = 1, and 0 at NaN.

    Integers and bools sum as int64 (as torch.sum). `dtype` casts x first.
    """
    _check_tensor("nansum", x)
    if dtype is not None:
        x = x.to(dtype)
    if x.data.dtype.kind == "f":
        xp = get_xp(x.data)
        x = masked_fill(x, _wrap(xp.asarray(xp.isnan(x.data))), 0.0)  # masked places get gradient 0
    elif x.data.dtype != np.int64:
        x = x.to(np.int64)
    try:
        with _B.np.errstate(invalid="ignore", over="ignore"):  # inf + -inf = NaN, overflow = inf, as torch
            return sum(x, dim=dim, keepdim=keepdim)
    except (ValueError, TypeError, IndexError) as e:  # sum's errors (a bad dim), named as the op called
        raise type(e)(f"nansum: {e}") from None


def nanmean(x, dim=None, keepdim=False, *, dtype=None):
    """torch.nanmean: the mean of the non-NaN elements over `dim`;  d/dx_i = 1/k (k non-NaN), 0 at NaN.

    Floating-point only (as torch). A slice of NaNs only gives NaN (with a NaN gradient, as
    torch); an empty slice is an error, as minigrad's `mean`.
    """
    _check_tensor("nanmean", x)
    if dtype is not None:
        x = x.to(dtype)
    check_float("nanmean", x)
    dims = _dims("nanmean", x, dim)
    _check_nonempty("nanmean", x, dims)
    return NanMean.apply(x, dims=dims, keepdim=keepdim)


def count_nonzero(x, dim=None):
    """torch.count_nonzero: how many elements are nonzero over `dim` (None: all; an int or a tuple); int64.

    NaN counts as nonzero. Not differentiable.
    """
    _check_tensor("count_nonzero", x)
    dims = _dims("count_nonzero", x, dim)
    xp = get_xp(x.data)
    # (asarray: 0-d sums are scalars; C order, as torch's, whatever x's layout)
    return _wrap(c_order(xp.asarray((x.data != 0).sum(axis=dims), dtype=np.int64)))


def _correction(op, unbiased, correction):
    """torch's two spellings: unbiased=True/False (correction 1/0) or correction=c; not both."""
    if unbiased is not None and correction is not None:
        raise TypeError(f"{op}: give unbiased or correction, not both")
    if unbiased is not None:
        if not isinstance(unbiased, bool):
            raise TypeError(f"{op}: unbiased must be True or False, got {unbiased!r}")
        return int(unbiased)
    return 1 if correction is None else correction


def _spread_mean(op, spread, x, dim, unbiased, keepdim, correction):
    _check_tensor(op, x)
    if isinstance(dim, bool):  # torch's legacy form std_mean(x, unbiased)
        dim, unbiased = None, dim
    c = _correction(op, unbiased, correction)
    try:
        return spread(x, dim, keepdim=keepdim, correction=c), mean(x, dim, keepdim)
    except (ValueError, TypeError, IndexError, RuntimeError) as e:  # std's/mean's errors, named as the op called
        raise type(e)(f"{op}: {e}") from None


def std_mean(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """torch.std_mean: the tuple (std(x, dim, correction), mean(x, dim)); both differentiable.

    correction=c divides by N - c (default 1); unbiased=False is correction=0. As minigrad's
    `std`, N <= correction is an error (torch gives NaN and a warning).
    """
    return _spread_mean("std_mean", std, x, dim, unbiased, keepdim, correction)


def var_mean(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """torch.var_mean: the tuple (var(x, dim, correction), mean(x, dim)); see `std_mean`."""
    return _spread_mean("var_mean", var, x, dim, unbiased, keepdim, correction)


def aminmax(x, *, dim=None, keepdim=False):
    """torch.aminmax: (min, max) over one `dim` (None: all), as a namedtuple (min, max).

    Both are differentiable; as amin/amax, elements tied for the extreme share its gradient evenly
    (torch's rule for aminmax too). NaN propagates. An empty slice is an error.
    """
    _check_tensor("aminmax", x)
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, numbers.Integral)):
        raise TypeError(f"aminmax: dim must be an int or None, got {dim!r}")
    dims = _dims("aminmax", x, dim)
    _check_nonempty("aminmax", x, dims)  # (named here, not as amin)
    return AminmaxResult(amin(x, dim=dim, keepdim=keepdim), amax(x, dim=dim, keepdim=keepdim))


# ---------------------------------------------------------------- order statistics
class Median(Function):
    """y = the lower median of all elements (NaN if any is NaN; `ignore_nan`: of the non-NaN ones);
    dy/dx_i = 1/m for the m elements equal to y (NaN counting as equal to NaN), else 0

    The even split among ties is torch's rule for median() without a dim.
    """

    @staticmethod
    def forward(ctx, x, ignore_nan):
        xp = get_xp(x)
        flat = x.reshape(-1)
        nan = _isnan(xp, flat)
        n_valid = int(flat.size - nan.sum())
        s = xp.sort(flat)  # NaN sorts last
        if ignore_nan:
            y = s[(n_valid - 1) // 2] if n_valid else s[0]  # all NaN: NaN
        else:
            y = s[(flat.size - 1) // 2] if n_valid == flat.size else s[-1]  # any NaN: NaN
        mask = (x == y) | (_isnan(xp, x) & _isnan(xp, y))
        ctx.save_for_backward(mask)
        return xp.asarray(y).reshape(())

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved
        return g * mask / mask.sum().astype(g.dtype)


def _moved_order(x, d):
    """x's data with dim d last, and the stable ascending argsort along it (NaN last)."""
    xp = get_xp(x.data)
    xm = xp.moveaxis(x.data, d, -1)
    return xp, xm, xp.argsort(xm, axis=-1, kind="stable")


def _pick(op, x, d, pos, keepdim, result):
    """Gather x along dim d at the positions `pos` (an int64 array over x's other dims, dim d last
    removed): the differentiable values and the indices, as the namedtuple `result`."""
    xp = get_xp(x.data)
    idx = xp.moveaxis(pos[..., None], -1, d).astype(np.int64, order="C")  # keepdim shape; C order, as torch
    values = gather(x, d, _wrap(idx))
    if not keepdim:
        values, idx = squeeze(values, d), xp.squeeze(idx, axis=d)
    return result(values, _wrap(idx))


def _reduce_dim(op, x, dim):
    """(dim as a non-negative int, x as at least 1-d) for the one-dim order statistics;
    a 0-d x counts as 1-d, as in torch."""
    _check_tensor(op, x)
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    d = normalize_axis(op, dim, max(x.data.ndim, 1))
    if x.data.ndim and x.data.shape[d] == 0:
        raise ValueError(f"{op}: cannot reduce over the empty dimension {d} of {describe(x)}")
    return d


def _with_0d(fn, op, x, dim, keepdim, *args):
    """Run the dim form on a 0-d x as a 1-element vector, and give 0-d results back."""
    if x.data.ndim:
        return fn(op, x, dim, keepdim, *args)
    out = fn(op, reshape(x, (1,)), 0, False, *args)
    return type(out)(reshape(out[0], ()), _wrap(out[1].data.reshape(())))


def _median_dim(op, x, d, keepdim, ignore_nan):
    xp, xm, order = _moved_order(x, d)
    nan = _isnan(xp, xm)
    if ignore_nan:
        # the lower median of the non-NaN ones (NaN sorts last); a row of NaNs: position 0
        k = xp.maximum((xm.shape[-1] - nan.sum(axis=-1)) - 1, 0) // 2
        pos = xp.take_along_axis(order, k[..., None], axis=-1)[..., 0]
    else:
        pos = order[..., (xm.shape[-1] - 1) // 2]
        pos = xp.where(nan.any(axis=-1), xp.argmax(nan, axis=-1), pos)  # any NaN: the first NaN
    return _pick(op, x, d, pos, keepdim, MedianResult)


def _median(op, x, dim, keepdim, ignore_nan):
    _check_tensor(op, x)
    _check_not_bool(op, x)
    if dim is None:
        if x.data.size == 0:
            raise ValueError(f"{op}: cannot take the median of an empty tensor {describe(x)}")
        return Median.apply(x, ignore_nan=ignore_nan)
    d = _reduce_dim(op, x, dim)
    return _with_0d(_median_dim, op, x, d, keepdim, ignore_nan)


def median(x, dim=None, keepdim=False):
    """torch.median: the lower median (the ((n-1)//2)-th smallest value).

    dim=None: a 0-d tensor over all elements; d/dx splits evenly among the elements equal to
    it (torch's rule). With dim: (values, indices), the index of the chosen element (ties: the
    one a stable sort puts there, as torch); the gradient goes to that index. Any NaN makes
    the result NaN (the index of the first NaN along dim). Integer input keeps its dtype.
    """
    return _median("median", x, dim, keepdim, ignore_nan=False)


def nanmedian(x, dim=None, keepdim=False):
    """torch.nanmedian: median of the non-NaN elements (NaN only when all are NaN); see `median`.

    A slice of NaNs only gives NaN and index 0 (torch's index there is whatever its partial
    sort leaves; minigrad picks the first).
    """
    return _median("nanmedian", x, dim, keepdim, ignore_nan=True)


def _kth_dim(op, x, d, keepdim, k):
    xp, xm, order = _moved_order(x, d)
    return _pick(op, x, d, order[..., k - 1], keepdim, KthvalueResult)


def kthvalue(x, k, dim=-1, keepdim=False):
    """torch.kthvalue: (values, indices) of the k-th smallest element along `dim` (k from 1).

    The gradient goes to the index. NaN counts as the largest value. Among tied values the
    index is the one a stable sort gives (torch leaves which one unspecified).
    """
    op = "kthvalue"
    _check_tensor(op, x)
    _check_not_bool(op, x)
    k = _check_k(op, k)
    d = _reduce_dim(op, x, -1 if dim is None else dim)
    n = x.data.shape[d] if x.data.ndim else 1
    if not 1 <= k <= n:
        raise IndexError(f"{op}: k={k} is out of range for dimension {d} of size {n} ({describe(x)}); "
                         f"expected 1 <= k <= {n}")
    return _with_0d(_kth_dim, op, x, d, keepdim, k)


def _mode_dim(op, x, d, keepdim):
    xp, xm, order = _moved_order(x, d)
    s = xp.take_along_axis(xm, order, axis=-1)
    n = s.shape[-1]
    nan = _isnan(xp, s)
    # runs of equal values in sorted order (NaNs form one run, as torch counts them)
    same = (s[..., 1:] == s[..., :-1]) | (nan[..., 1:] & nan[..., :-1])
    ones = xp.ones(s.shape[:-1] + (1,), dtype=bool)
    start, end = xp.concatenate([ones, ~same], axis=-1), xp.concatenate([~same, ones], axis=-1)
    pos = xp.broadcast_to(xp.arange(n), s.shape)
    (run_start,) = _inclusive_scan(xp, (xp.where(start, pos, 0),), lambda a, b: (xp.maximum(a[0], b[0]),))
    (run_end,) = _inclusive_scan(xp, (xp.flip(xp.where(end, pos, n), axis=-1),), lambda a, b: (xp.minimum(a[0], b[0]),))
    run_end = xp.flip(run_end, axis=-1)  # (scanned from the right: each run's last position)
    count = run_end - run_start + 1
    best = xp.argmax(count, axis=-1)  # the first longest run: the smallest value
    last = xp.take_along_axis(run_end, best[..., None], axis=-1)  # where that run ends
    return _pick(op, x, d, xp.take_along_axis(order, last, axis=-1)[..., 0], keepdim, ModeResult)


def mode(x, dim=-1, keepdim=False):
    """torch.mode: (values, indices) of the most frequent value along `dim`; ties: the smallest value.

    The index is that value's last occurrence (torch's for rows up to 16 long; beyond, torch
    returns any occurrence). NaNs count as one value, larger than every number. The gradient
    goes to the index.
    """
    op = "mode"
    d = _reduce_dim(op, x, dim)
    return _with_0d(_mode_dim, op, x, d, keepdim)


def msort(x):
    """torch.msort: x sorted along dim 0 (sort(x, 0).values); differentiable, NaN last."""
    _check_tensor("msort", x)
    return sort(x, 0).values


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(op, x, q, dim, keepdim, interpolation, ignore_nan):
    """torch's algorithm: sort, rank = q * (n - 1) (NaN rows: the last place; nanquantile: n counts
    the non-NaN values), then read the sorted values at floor/ceil of the rank and interpolate."""
    _check_tensor(op, x)
    check_float(op, x)
    xp = get_xp(x.data)
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"{op}: interpolation must be one of {', '.join(_INTERPOLATIONS)}, got {interpolation!r}")
    if isinstance(q, Tensor):
        if q.data.ndim > 1:
            raise ValueError(f"{op}: q must be a number or a 1-D tensor, got {describe(q)}")
        if q.data.dtype != x.data.dtype:
            raise TypeError(f"{op}: a tensor q must have the input's dtype: input {describe(x)}, q {describe(q)}")
        qs, scalar = _B.to_device(q.data, x.device).reshape(-1), q.data.ndim == 0
    elif isinstance(q, numbers.Real) and not isinstance(q, bool):
        qs, scalar = xp.asarray([q], dtype=x.data.dtype), True
    else:
        raise TypeError(f"{op}: q must be a float or a 1-D tensor, got {type(q).__name__}")
    bad = (qs < 0) | (qs > 1) | xp.isnan(qs)
    if bool(bad.any()):
        raise ValueError(f"{op}: q must be in the range [0, 1], got {float(qs[bad][0])!r}")
    if x.data.size == 0:
        raise ValueError(f"{op}: the input must be non-empty, got {describe(x)}")
    shape = x.data.shape
    if dim is None:
        flat, d = reshape(x, (-1,)), 0
        kshape = (1,) * len(shape)
    else:
        d = normalize_axis(op, dim, max(len(shape), 1))
        if len(shape) == 0:
            flat, d = reshape(x, (1,)), 0
        else:
            flat = x if d == len(shape) - 1 else x.movedim(d, -1)
        kshape = tuple(1 if i == d else s for i, s in enumerate(shape))
        if len(shape) and shape[d] == 0:
            raise ValueError(f"{op}: cannot reduce over the empty dimension {d} of {describe(x)}")
    srt = sort(flat, -1).values  # NaN last; the gradient flows back through the sort
    n = srt.data.shape[-1]
    nan = xp.isnan(srt.data)
    lead = srt.data.shape[:-1]
    qcol = qs.reshape((-1,) + (1,) * (len(lead) + 1))  # (Q, 1, ..., 1)
    if ignore_nan:
        count = (~nan).sum(axis=-1, keepdims=True).astype(x.data.dtype)
        rank = xp.maximum(qcol * (count - 1), 0)  # a row of NaNs: rank 0, which reads a NaN
    else:
        rank = xp.where(nan.any(axis=-1, keepdims=True), x.data.dtype.type(n - 1), qcol * (n - 1))
    rank = xp.broadcast_to(rank, (qs.size,) + lead + (1,))
    if interpolation == "lower":
        rank = xp.floor(rank)
    elif interpolation == "higher":
        rank = xp.ceil(rank)
    elif interpolation == "nearest":
        rank = xp.round(rank)  # half to even, as torch.round
    below_i = rank.astype(np.int64)
    wide = expand(unsqueeze(srt, 0), (qs.size,) + srt.data.shape)  # one copy of the sorted rows per q
    out = gather(wide, -1, _wrap(below_i))
    if interpolation in ("linear", "midpoint"):
        above = gather(wide, -1, _wrap(xp.ceil(rank).astype(np.int64)))
        w = xp.full(rank.shape, 0.5, dtype=x.data.dtype) if interpolation == "midpoint" else rank - below_i
        with _B.np.errstate(invalid="ignore"):  # inf + w (inf - inf) = NaN between two infinities, as torch
            out = lerp(out, above, _wrap(w.astype(x.data.dtype, copy=False)))
    out = squeeze(out, -1)  # (Q,) + the other dims, in x's order with dim d removed
    if keepdim:
        out = reshape(out, (qs.size,) + kshape)
    return reshape(out, out.data.shape[1:]) if scalar else out


def quantile(x, q, dim=None, keepdim=False, *, interpolation="linear"):
    """torch.quantile: the q-th quantiles along `dim` (None: all elements), q a float or 1-D tensor in [0, 1].

    rank r = q (n - 1) in the sorted values v; linear: v[floor r] + (r - floor r)(v[ceil r] - v[floor r]),
    lower / higher / nearest: v at floor / ceil / round-half-even of r, midpoint: (v[floor r] + v[ceil r]) / 2.
    A tensor q puts its dimension first in the result. Differentiable (through the sort, as torch):
    d/dv[floor r] = 1 - w, d/dv[ceil r] = w. A slice with NaN gives NaN. Floating-point input only.
    """
    return _quantile("quantile", x, q, dim, keepdim, interpolation, ignore_nan=False)


def nanquantile(x, q, dim=None, keepdim=False, *, interpolation="linear"):
    """torch.nanquantile: `quantile` of the non-NaN values (NaN only for a slice of NaNs)."""
    return _quantile("nanquantile", x, q, dim, keepdim, interpolation, ignore_nan=True)


# ---------------------------------------------------------------- scans
def _cum_extreme(op, x, dim, larger, result):
    """cummax/cummin: indices from a doubling scan over (value, index) pairs, values gathered at them."""
    _check_tensor(op, x)
    d = normalize_axis(op, dim, max(x.data.ndim, 1))
    if x.data.ndim == 0:
        out = _cum_extreme(op, reshape(x, (1,)), 0, larger, result)
        return result(reshape(out.values, ()), _wrap(out.indices.data.reshape(())))
    xp = get_xp(x.data)
    xm = xp.moveaxis(x.data, d, -1)
    pos = xp.broadcast_to(xp.arange(xm.shape[-1], dtype=np.int64), xm.shape)

    def combine(earlier, later):
        (va, ia), (vb, ib) = earlier, later
        # the later element wins ties (torch's rule); NaN beats every number, and a later NaN an earlier one
        beats = (vb >= va) if larger else (vb <= va)
        take = _isnan(xp, vb) | (~_isnan(xp, va) & beats)
        return xp.where(take, vb, va), xp.where(take, ib, ia)

    _, idx = _inclusive_scan(xp, (xm, pos), combine)
    idx = xp.ascontiguousarray(xp.moveaxis(idx, -1, d))
    return result(gather(x, d, _wrap(idx)), _wrap(idx))


def cummax(x, dim):
    """torch.cummax: (values, indices), the running maximum along `dim` and where it was found.

    Ties go to the later index, a NaN stays (at the latest NaN's index), as in torch. The
    gradient goes to the index (dx_j = sum of dy_i over the i whose maximum is x_j).
    """
    return _cum_extreme("cummax", x, dim, True, CummaxResult)


def cummin(x, dim):
    """torch.cummin: the running minimum along `dim` and its index; rules as `cummax`."""
    return _cum_extreme("cummin", x, dim, False, CumminResult)


def _logcumsumexp(xp, x):
    """Stable y_i = log sum_{j <= i} exp(x_j) along the last axis: a scan of logaddexp."""
    # inf - inf inside logaddexp for +inf inputs, and float32 overflow near its max: torch's inf/NaN too
    with _B.np.errstate(invalid="ignore", over="ignore"):
        (y,) = _inclusive_scan(xp, (x,), lambda a, b: (xp.logaddexp(a[0], b[0]),))
    return y


class LogCumSumExp(Function):
    """y_i = log sum_{j <= i} e^{x_j} along dim;  dx_j = sum_{i >= j} dy_i e^{x_j - y_i}

    The backward sums positive and negative dy apart in log space (torch's formula):
    dx_j = e^{x_j + L+_j} - e^{x_j + L-_j}, L±_j = log sum_{i >= j} e^{log|dy±_i| - y_i},
    so nothing overflows. Where y_i = -inf (only -inf so far) the gradient is NaN, as in torch.
    """

    saves_output = True

    @staticmethod
    def forward(ctx, x, dim):
        xp = get_xp(x)
        y = c_order(xp.moveaxis(_logcumsumexp(xp, xp.moveaxis(x, dim, -1)), -1, dim))  # C order, as torch's
        ctx.save_for_backward(x, y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved
        xp, d = get_xp(g), ctx.dim
        lowest = float(_B.np.finfo(g.dtype).min)  # log(0) as a finite number, so lowest - y never is inf - inf

        def reverse_lcse(a):
            return xp.flip(_logcumsumexp(xp, xp.flip(xp.moveaxis(a, d, -1), axis=-1)), axis=-1)

        with _B.np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_abs = xp.log(xp.abs(g))
            pos = reverse_lcse(xp.where(g > 0, log_abs, lowest) - y)
            neg = reverse_lcse(xp.where(g < 0, log_abs, lowest) - y)
            xm = xp.moveaxis(x, d, -1)
            dx = xp.exp(xm + pos) - xp.exp(xm + neg)
        return xp.moveaxis(dx, -1, d).astype(g.dtype, copy=False)


def logcumsumexp(x, dim):
    """torch.logcumsumexp: y_i = log sum_{j <= i} exp(x_j) along `dim`, computed stably (floats only)."""
    op = "logcumsumexp"
    _check_tensor(op, x)
    check_float(op, x)
    d = normalize_axis(op, dim, max(x.data.ndim, 1))
    if x.data.ndim == 0 or x.data.shape[d] == 1:  # one element: y = x, gradient 1 also at -inf and NaN, as torch
        return x.clone()
    return LogCumSumExp.apply(x, dim=d)


# ---------------------------------------------------------------- counting and searching
def bincount(x, weights=None, minlength=0):
    """torch.bincount: out[v] = how often v occurs in the 1-D non-negative integer x (or the sum of
    its `weights`); length max(x) + 1, at least `minlength`.

    Counts are int64; float weights keep their dtype, integer weights give float64 (as torch).
    With weights the result is differentiable in them (an index_add: d out[v] / d w_i = [x_i = v]);
    torch has no derivative there.
    """
    op = "bincount"
    _check_tensor(op, x)
    if x.data.ndim != 1 or x.data.dtype.kind not in "iu":
        raise TypeError(f"{op}: input must be a 1-D tensor of non-negative integers, got {describe(x)}")
    if isinstance(minlength, bool) or not isinstance(minlength, numbers.Integral) or minlength < 0:
        raise ValueError(f"{op}: minlength must be an int >= 0, got {minlength!r}")
    xp = get_xp(x.data)
    if x.data.size and int(x.data.min()) < 0:
        raise ValueError(f"{op}: input must be non-negative, got the value {int(x.data.min())} in {describe(x)}")
    size = max(int(minlength), int(x.data.max()) + 1 if x.data.size else 0)
    if weights is None:
        return _wrap(xp.bincount(x.data.astype(np.int64), minlength=size).astype(np.int64))
    _check_tensor(op, weights, "weights")
    if weights.data.shape != x.data.shape:
        raise ValueError(f"{op}: weights must be 1-D with the input's length: input {describe(x)}, "
                         f"weights {describe(weights)}")
    if weights.device != x.device:
        raise RuntimeError(f"{op}: input is {describe(x)} but weights is {describe(weights)}; move one with .to()")
    if weights.data.dtype.kind != "f":
        weights = weights.to(np.float64)
    zeros = _wrap(xp.zeros(size, dtype=weights.data.dtype))
    return zeros.index_add(0, x, weights)


def histc(x, bins=100, min=0, max=0):  # noqa: A002 - torch's names
    """torch.histc: counts of x's elements in `bins` equal-width bins over [min, max] (x's dtype).

    min = max (the default 0, 0) takes the range from the data (and widens a single value to
    [v - 1, v + 1]). Elements outside the range and NaN are not counted; x = max falls in the
    last bin. Bin of x: floor((x - min) * bins / (max - min)). Floating-point input only; no gradient.
    """
    op = "histc"
    _check_tensor(op, x)
    check_float(op, x)
    if isinstance(bins, bool) or not isinstance(bins, numbers.Integral) or bins <= 0:
        raise ValueError(f"{op}: bins must be a positive int, got {bins!r}")
    xp = get_xp(x.data)
    dt = x.data.dtype
    lo, hi = float(min), float(max)
    if not (_B.np.isfinite(lo) and _B.np.isfinite(hi)):  # (as torch; NumPy's bincount would fail unnamed)
        raise ValueError(f"{op}: the range [{lo}, {hi}] is not finite")
    if lo > hi:
        raise ValueError(f"{op}: max must be larger than min, got min={min!r}, max={max!r}")
    flat = x.data.reshape(-1)
    if lo == hi and flat.size:
        lo, hi = float(flat.min()), float(flat.max())
        if not (_B.np.isfinite(lo) and _B.np.isfinite(hi)):
            raise ValueError(f"{op}: the range of the data [{lo}, {hi}] is not finite ({describe(x)}); "
                             "give min and max")
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    lo_a, hi_a = xp.asarray(lo, dtype=dt), xp.asarray(hi, dtype=dt)  # the edges in x's dtype, as torch
    if not hi_a > lo_a:  # (v - 1 == v + 1 in x's dtype, for |v| past 2**24 in float32: no width to divide by)
        raise ValueError(f"{op}: the range [{lo}, {hi}] has no width in {dt} ({describe(x)}); give min and max")
    keep = (flat >= lo_a) & (flat <= hi_a)
    inside = flat[keep]
    pos = ((inside - lo_a) * bins / (hi_a - lo_a)).astype(np.int64)
    pos = xp.minimum(pos, bins - 1)  # x = max: the last bin
    return _wrap(xp.bincount(pos, minlength=bins).astype(dt))


def _binary_search(xp, seq, vals, right):
    """Leftmost (right=False) or rightmost insertion points of vals in the last axis of seq.

    torch's comparison: go right while not (seq[mid] >= v) (left) / not (seq[mid] > v) (right),
    so a NaN value lands after everything and NaNs in seq compare as IEEE says.
    seq is (n,) or (..., n) with vals (..., m) of the same leading shape.
    """
    n = seq.shape[-1]
    lo = xp.zeros(vals.shape, dtype=np.int64)
    hi = xp.full(vals.shape, n, dtype=np.int64)
    while True:
        active = lo < hi
        if not bool(active.any()):
            return lo
        mid = (lo + hi) // 2
        safe = xp.minimum(mid, n - 1)
        at = seq[safe] if seq.ndim == 1 else xp.take_along_axis(seq, safe, axis=-1)
        go_right = ~(at > vals) if right else ~(at >= vals)
        lo = xp.where(active & go_right, mid + 1, lo)
        hi = xp.where(active & ~go_right, mid, hi)


def searchsorted(sorted_sequence, values, *, out_int32=False, right=False, side=None, sorter=None):
    """torch.searchsorted: for each value, the index where it would go in the sorted last dim of
    `sorted_sequence` to keep it sorted: the first i with seq[i] >= v (right: seq[i] > v).

    `sorted_sequence` is 1-D (any shape of values) or (..., n) with values (..., m) of the same
    leading shape. `values` may be a number (1-D sequence only; a 0-d result). side='left'/'right'
    is another spelling of right; `sorter` holds the indices that sort an unsorted sequence.
    int64 result (int32 with out_int32). Not differentiable.
    """
    op = "searchsorted"
    _check_tensor(op, sorted_sequence, "sorted_sequence")
    seq = sorted_sequence
    if side is not None:
        if side not in ("left", "right"):
            raise ValueError(f"{op}: side must be 'left' or 'right', got {side!r}")
        if right and side == "left":
            raise ValueError(f"{op}: side='left' and right=True contradict each other")
        right = side == "right"
    if seq.data.ndim == 0:
        raise ValueError(f"{op}: sorted_sequence must have at least one dimension, got {describe(seq)}")
    xp = get_xp(seq.data)
    if isinstance(values, Tensor):
        if values.device != seq.device:
            raise RuntimeError(f"{op}: sorted_sequence is {describe(seq)} but values is {describe(values)}")
        vals = values.data
    elif isinstance(values, numbers.Real):
        if seq.data.ndim != 1:
            raise ValueError(f"{op}: a number as values needs a 1-D sorted_sequence, got {describe(seq)}")
        # a number compares in the sequence's dtype (torch's promotion of a wrapped number), except that an
        # int meets a bool sequence as int64 and a float meets an integer one as the default float
        sk = seq.data.dtype.kind
        if isinstance(values, bool) or (isinstance(values, numbers.Integral) and sk != "b") or sk == "f":
            dt = seq.data.dtype
        else:
            dt = np.int64 if isinstance(values, numbers.Integral) else _B.get_default_dtype()
        vals = xp.asarray(values, dtype=dt)
    else:
        raise TypeError(f"{op}: values must be a Tensor or a number, got {type(values).__name__}")
    if vals.dtype.kind == "b" and seq.data.dtype.kind == "b":  # (bool meets a number or an int tensor: fine)
        raise TypeError(f"{op}: not implemented for bool sorted_sequence and bool values ({describe(seq)}), "
                        "as in torch")
    if seq.data.ndim > 1 and (vals.ndim != seq.data.ndim or vals.shape[:-1] != seq.data.shape[:-1]):
        raise ValueError(f"{op}: sorted_sequence must be 1-D or share all but its last dimension with values, "
                         f"got sorted_sequence {describe(seq)} and values {list(vals.shape)}")
    s = seq.data
    if sorter is not None:
        _check_tensor(op, sorter, "sorter")
        if sorter.data.shape != s.shape or sorter.data.dtype.kind not in "iu":
            raise ValueError(f"{op}: sorter must be an integer tensor of sorted_sequence's shape, "
                             f"got {describe(sorter)} for {describe(seq)}")
        n = s.shape[-1]
        if sorter.data.size and (int(sorter.data.min()) < 0 or int(sorter.data.max()) >= n):
            raise IndexError(f"{op}: sorter holds indices outside [0, {n}) ({describe(sorter)})")
        s = xp.take_along_axis(s, sorter.data.astype(np.int64), axis=-1)
    if s.shape[-1] == 0:
        out = xp.zeros(vals.shape, dtype=np.int64)
    else:
        out = _binary_search(xp, s, vals, right)
    return _wrap(out.astype(np.int32 if out_int32 else np.int64))


def bucketize(input, boundaries, *, out_int32=False, right=False):  # noqa: A002 - torch's name
    """torch.bucketize: the bucket of each element of input among the 1-D sorted `boundaries`:
    the first i with boundaries[i] >= x (right=True: > x). searchsorted(boundaries, input)."""
    op = "bucketize"
    _check_tensor(op, boundaries, "boundaries")
    if boundaries.data.ndim != 1:
        raise ValueError(f"{op}: boundaries must be 1-D, got {describe(boundaries)}")
    try:
        return searchsorted(boundaries, input, out_int32=out_int32, right=right)
    except (ValueError, TypeError, IndexError, RuntimeError) as e:  # named as the op called
        raise type(e)(f"{op}: {e}") from None


def _check_int_index(op, index, name="index"):
    _check_tensor(op, index, name)
    if index.data.dtype.kind not in "iu":
        raise TypeError(f"{op}: {name} must hold integers (int64), got {describe(index)}")


def _wrapped(op, index, n, what):
    """index with negatives counted from the end (-1 is n - 1); IndexError outside [-n, n)."""
    data = index.data
    if data.size:
        lo, hi = int(data.min()), int(data.max())
        if lo < -n or hi >= n:
            bad = lo if lo < -n else hi
            raise IndexError(f"{op}: index {bad} is out of range for {what} of size {n}; expected -{n} <= index < {n}")
    return _wrap(data.astype(np.int64) % max(n, 1))


def take(x, index):
    """torch.take: x read as 1-D (row-major) at `index` (any shape; negatives from the end).

    The result has index's shape; the gradient adds back at each position read.
    """
    op = "take"
    _check_tensor(op, x)
    _check_int_index(op, index)
    if index.device != x.device:
        raise RuntimeError(f"{op}: input is {describe(x)} but index is {describe(index)}")
    flat = reshape(x, (-1,))
    pos = _wrapped(op, index, flat.data.size, f"the flattened {describe(x)}")
    return reshape(gather(flat, 0, reshape(pos, (-1,))), index.data.shape)


def take_along_dim(x, indices, dim=None):
    """torch.take_along_dim: gather along `dim` where x and indices broadcast in every other dim.

    dim=None reads the flattened x at the flattened indices. Negative indices count from the
    end. Differentiable (a gather).
    """
    op = "take_along_dim"
    _check_tensor(op, x)
    _check_int_index(op, indices, "indices")
    if indices.device != x.device:
        raise RuntimeError(f"{op}: input is {describe(x)} but indices is {describe(indices)}")
    if dim is None:
        try:
            return take(x, reshape(indices, (-1,)))
        except IndexError as e:  # named as the op called
            raise IndexError(f"{op}: {e}") from None
    if max(x.data.ndim, 1) != max(indices.data.ndim, 1):
        raise ValueError(f"{op}: input and indices must have the same number of dimensions, got {describe(x)} "
                         f"and {describe(indices)}")
    if x.data.ndim == 0 or indices.data.ndim == 0:
        return reshape(take_along_dim(reshape(x, (-1,)), reshape(indices, (-1,)), 0), indices.data.shape)
    d = normalize_axis(op, dim, x.data.ndim)
    xs, js = list(x.data.shape), list(indices.data.shape)
    try:
        rest = _B.np.broadcast_shapes(tuple(xs[:d] + [1] + xs[d + 1:]), tuple(js[:d] + [1] + js[d + 1:]))
    except ValueError:
        raise ValueError(f"{op}: input {describe(x)} and indices {describe(indices)} do not broadcast outside "
                         f"dim {d}") from None
    xshape, jshape = list(rest), list(rest)
    xshape[d], jshape[d] = xs[d], js[d]
    idx = _wrapped(op, indices, xs[d], f"dimension {d} of {describe(x)}")
    idx = _wrap(get_xp(idx.data).broadcast_to(idx.data, tuple(jshape)))
    return gather(expand(x, tuple(xshape)), d, idx)


def argwhere(x):
    """torch.argwhere: the (N, x.ndim) int64 positions of x's nonzero elements (nonzero(x))."""
    _check_tensor("argwhere", x)
    return nonzero(x)


def unique_consecutive(x, return_inverse=False, return_counts=False, dim=None):
    """torch.unique_consecutive: drop each element (dim: slice along dim) equal to the one before it.

    Without dim: a 1-D result; return_inverse adds each element's position in it (x's shape),
    return_counts each run's length (int64). NaN never equals NaN, so NaNs are not merged
    (as torch). Not differentiable.
    """
    op = "unique_consecutive"
    _check_tensor(op, x)
    xp = get_xp(x.data)
    if dim is None:
        rows, shape = x.data.reshape(-1, 1), x.data.shape
    else:
        if x.data.ndim == 0:
            raise IndexError(f"{op}: dim={dim!r} needs a tensor with dimensions, got {describe(x)}")
        d = normalize_axis(op, dim, x.data.ndim)
        if any(s == 0 for k, s in enumerate(x.data.shape) if k != d):
            raise ValueError(f"{op}: {describe(x)} has a zero-size dim other than dim={dim}; its slices are empty "
                             "(torch refuses this too)")
        moved = xp.moveaxis(x.data, d, 0)
        rows, shape = moved.reshape(moved.shape[0], -1) if moved.shape[0] else moved.reshape(0, 1), (moved.shape[0],)
    n = rows.shape[0]
    new = xp.concatenate([xp.ones(min(n, 1), dtype=bool), (rows[1:] != rows[:-1]).any(axis=1)])
    if dim is None:
        values = x.data.reshape(-1)[new]
    else:
        values = xp.ascontiguousarray(xp.moveaxis(xp.moveaxis(x.data, d, 0)[new], 0, d))
    out = [_wrap(values)]
    if return_inverse:
        out.append(_wrap((xp.cumsum(new) - 1).astype(np.int64).reshape(shape)))
    if return_counts:
        starts = xp.flatnonzero(new)
        out.append(_wrap(xp.diff(xp.concatenate([starts, xp.asarray([n])])).astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


# ---------------------------------------------------------------- covariance, correlation, histogram
def _observation_weights(op, name, w, n, integral):
    """Check fweights (integral) or aweights (floating point): a 1-D (or 0-D) tensor of n values >= 0."""
    if not isinstance(w, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor or None, got {type(w).__name__}")
    if w.data.ndim > 1:
        raise ValueError(f"{op}: expected {name} to have one or fewer dimensions but got {describe(w)}")
    if integral != (w.data.dtype.kind in "iu"):
        raise TypeError(f"{op}: expected {name} to have {'integral' if integral else 'floating point'} dtype "
                        f"but got {describe(w)}")
    if w.data.size != n:
        raise ValueError(f"{op}: expected {name} to have the same numel as there are observations in the input "
                         f"but got {w.data.size} != {n}")
    if w.data.size and bool((w.data < 0).any()):
        raise ValueError(f"{op}: {name} cannot be negative")


def cov(input, *, correction=1, fweights=None, aweights=None):  # noqa: A002 - torch's names
    """torch.cov: the covariance matrix of the variables in the rows of input (observations in the columns).

    With weights w (fweights * aweights), avg = sum_j w_j x_j / sum(w) and
    cov = (X - avg) diag(w) (X - avg)^T / (sum(w) - correction * sum(w * aweights) / sum(w)) (torch's
    normalization; without aweights the denominator is sum(w) - correction). A denominator <= 0 warns and
    becomes 0 (inf / NaN entries, as torch). Composed from differentiable ops.

    Args:
        input: a 1-D (one variable) or 2-D (variables x observations) tensor; integers become the default float.
        correction: an int; 1 (Bessel's correction) by default, 0 for the population covariance.
        fweights: integer frequency weights, one per observation.
        aweights: floating-point observation weights, one per observation.
    """
    op = "cov"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if input.data.ndim > 2:
        raise ValueError(f"{op}: expected input to have two or fewer dimensions but got {describe(input)}")
    if isinstance(correction, bool) or not isinstance(correction, numbers.Integral):
        raise TypeError(f"{op}: correction must be an int, got {type(correction).__name__} {correction!r}")
    x = input if input.data.dtype.kind == "f" else _wrap(input.data.astype(_B.get_default_dtype()))
    if x.data.ndim < 2:
        x = x.reshape(1, -1)
    n = x.data.shape[1]
    w = None
    if fweights is not None:
        _observation_weights(op, "fweights", fweights, n, True)
        w = fweights.reshape(-1).to(x.dtype)
    if aweights is not None:
        _observation_weights(op, "aweights", aweights, n, False)
        aw = aweights.reshape(-1)
        w = aw if w is None else w * aw
    if w is None:
        w_sum = n
        avg = x.mean(1) if n else x.sum(1) / 0  # (an empty mean is NaN, as torch's 0 / 0)
    else:
        w_sum = w.sum()
        if not bool(w_sum.data != 0):
            raise ValueError(f"{op}: weights sum to zero, can't be normalized")
        avg = (x * w).sum(1) / w_sum
    if w is not None and correction != 0 and aweights is not None:
        norm_factor = w_sum - correction * (w * aweights.reshape(-1)).sum() / w_sum
    else:
        norm_factor = w_sum - correction
    if float(norm_factor.data if isinstance(norm_factor, Tensor) else norm_factor) <= 0:
        import warnings

        warnings.warn(f"{op}: degrees of freedom is <= 0. Correction should be strictly less than the number of "
                      "observations.", UserWarning, stacklevel=2)
        norm_factor = norm_factor * 0
    centered = x - avg.unsqueeze(1)
    c = centered @ (centered if w is None else centered * w).t()
    from .common import quiet

    with quiet():  # a zero denominator: inf / NaN, silently, as torch (after its warning above)
        return (c / norm_factor).squeeze()


def corrcoef(input):  # noqa: A002 - torch's name
    """torch.corrcoef: Pearson's correlation coefficients of the rows of input, cov_ij / sqrt(cov_ii cov_jj),
    clipped to [-1, 1] (as torch; a constant row gives NaN). Composed from `cov` and differentiable ops."""
    c = cov(input)
    if c.data.ndim == 0:  # one variable: 1 (or NaN for a constant / empty row)
        return c / c
    stddev = c.diagonal().sqrt()
    c = c / stddev.unsqueeze(1)
    c = c / stddev.unsqueeze(0)
    return c.clamp(-1, 1)


HistogramResult = namedtuple("HistogramResult", ["hist", "bin_edges"])


def _histogram_range(op, x, range):  # noqa: A002 - torch's name
    """(lo, hi) of the bins: the given range, else the data's (0, 1 for no data); a zero width grows by
    0.5 each side, as torch."""
    if range is None:
        flat = x.data.reshape(-1)
        lo, hi = (float(flat.min()), float(flat.max())) if flat.size else (0.0, 1.0)
    else:
        try:
            lo, hi = (float(v) for v in range)
        except (TypeError, ValueError):
            raise TypeError(f"{op}: range must be a pair of numbers (min, max), got {range!r}") from None
    if not (_B.np.isfinite(lo) and _B.np.isfinite(hi)):
        raise ValueError(f"{op}: the range [{lo}, {hi}] is not finite ({describe(x)}); give a finite range")
    if lo > hi:
        raise ValueError(f"{op}: min should not exceed max, but got min {lo} max {hi}")
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi


def histogram(input, bins=100, *, range=None, weight=None, density=False):  # noqa: A002 - torch's names
    """torch.histogram: (hist, bin_edges), the counts (or summed weights) of input's elements in bins.

    `bins` is an int (default 100, as torch: equal-width bins over `range`, default the data's min..max) or a 1-D
    tensor of increasing edges. Bin i holds edges[i] <= x < edges[i + 1], the last bin also x = its right
    edge; elements outside and NaN are not counted. density=True divides by sum(hist) * bin width.
    Floating-point input only (as torch); no gradient.
    """
    op = "histogram"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    check_float(op, input)
    xp = get_xp(input.data)
    dt = input.data.dtype
    if isinstance(bins, Tensor):
        if range is not None:
            raise TypeError(f"{op}: range is only taken with an int number of bins, not with a bins tensor")
        if bins.data.ndim != 1 or bins.data.size < 2:
            raise ValueError(f"{op}: a bins tensor must be 1-D with at least 2 edges, got {describe(bins)}")
        if bins.data.dtype != dt:
            raise TypeError(f"{op}: input and bins must have the same dtype, got {describe(input)} and "
                            f"{describe(bins)}")
        if bins.device != input.device:
            raise RuntimeError(f"{op}: input and bins are on different devices ({input.device} and {bins.device})")
        edges = bins.data
        if not bool((edges[1:] >= edges[:-1]).all()):
            raise ValueError(f"{op}: the bin edges must be non-decreasing, got {describe(bins)}")
    else:
        if isinstance(bins, bool) or not isinstance(bins, numbers.Integral) or bins <= 0:
            raise ValueError(f"{op}: bins must be a positive int or a 1-D tensor of edges, got {bins!r}")
        from ..factory import linspace  # (torch's linspace: the same edges, bit for bit)

        lo, hi = _histogram_range(op, input, range)
        edges = linspace(lo, hi, int(bins) + 1, dtype=dt, device=input.device).data
    nbins = edges.size - 1
    flat = input.data.reshape(-1)
    if weight is not None:
        if not isinstance(weight, Tensor):
            raise TypeError(f"{op}: weight must be a Tensor or None, got {type(weight).__name__}")
        if weight.data.shape != input.data.shape or weight.data.dtype != dt:
            raise ValueError(f"{op}: weight must have the shape and dtype of input, got {describe(weight)} for "
                             f"{describe(input)}")
    keep = (flat >= edges[0]) & (flat <= edges[-1])  # (NaN compares False: not counted)
    pos = xp.searchsorted(edges, flat[keep], side="right") - 1
    pos = xp.minimum(pos, nbins - 1)  # x = the last edge: the last bin
    w = None if weight is None else weight.data.reshape(-1)[keep]
    if pos.size:
        hist = xp.bincount(pos, weights=w, minlength=nbins).astype(dt)
    else:  # nothing in range: zeros (CuPy's bincount would fail reading the max of no positions)
        hist = xp.zeros(nbins, dtype=dt)
    if density:
        from .elementwise import _quiet

        with _quiet():  # no counts: 0 / 0 = NaN, silently, as torch
            hist = (hist / (hist.sum() * (edges[1:] - edges[:-1]))).astype(dt, copy=False)
    return HistogramResult(_wrap(hist), _wrap(edges.copy()))
