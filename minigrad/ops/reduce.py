"""Reductions over `dim` (None = all, an int, or a tuple of ints) with `keepdim`.

Backward rules share one move: reshape the incoming gradient to the
keepdim shape, then broadcast it back over the reduced dimensions.
"""
from __future__ import annotations

import numbers
from collections import namedtuple

from .. import backend as _B
from ..autograd import Function
from ..tensor import _wrap
from .common import arg_extreme, check_float, describe, keepdim_shape, normalize_axis, normalize_dim, require_tensor
from .common import c_order  # (NumPy lays a reduction's result out like a permuted x; torch's is C order)
from .common import quiet as _quiet
from .shape import clone, gather
from .. import amp as _amp

get_xp = _B.get_array_module


def _count(shape, dims) -> int:
    n = 1
    for i, s in enumerate(shape):
        if dims is None or i in dims:
            n *= s
    return n


def _drop_kept(yk, shape, dims, keepdim):
    """A keepdims=True reduction result `yk` in the requested form (C order): as is, or without the reduced dims."""
    yk = c_order(yk)
    return yk if keepdim else yk.reshape([s for i, s in enumerate(shape) if not (dims is None or i in dims)])


class Sum(Function):
    """y = sum_i x_i;  dy/dx_i = 1"""

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.shape, ctx.kshape = x.shape, keepdim_shape(x.shape, dims)
        with _quiet():  # inf + -inf = NaN silently, as torch (NumPy's sum warns from its own module)
            return c_order(x.sum(axis=dims, keepdims=keepdim))

    @staticmethod
    def backward(ctx, g):
        return get_xp(g).broadcast_to(g.reshape(ctx.kshape), ctx.shape)


class Mean(Function):
    """y = sum_i x_i / N;  dy/dx_i = 1/N"""

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.shape, ctx.kshape = x.shape, keepdim_shape(x.shape, dims)
        ctx.n = _count(x.shape, dims)
        with _quiet():  # as Sum; and the mean of an empty slice is NaN, as torch
            return c_order(x.mean(axis=dims, keepdims=keepdim))

    @staticmethod
    def backward(ctx, g):
        return get_xp(g).broadcast_to(g.reshape(ctx.kshape) / ctx.n, ctx.shape)


class Var(Function):
    """y = sum_i (x_i - m)^2 / (N - correction);  dy/dx_i = 2 (x_i - m) / (N - correction)"""

    @staticmethod
    def forward(ctx, x, dims, keepdim, correction):
        with _quiet():  # as Mean
            d = x - x.mean(axis=dims, keepdims=True)
        denom = _count(x.shape, dims) - correction
        ctx.save_for_backward(d)
        ctx.kshape, ctx.denom = keepdim_shape(x.shape, dims), denom
        ss = c_order((d * d).sum(axis=dims, keepdims=keepdim))
        # N <= correction: undefined, NaN as in torch
        return ss / denom if denom > 0 else ss * float("nan")

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved
        return g.reshape(ctx.kshape) * d * (2 / ctx.denom if ctx.denom > 0 else float("nan"))


class Norm(Function):
    """y = sqrt(sum_i x_i^2) (the 2-norm);  dy/dx_i = x_i / y, and 0 where y = 0 (torch's choice)"""

    saves_output = True  # backward reads the output: in-place changes to it must be caught

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        xp = get_xp(x)
        # scaled by the largest |x_i| so that the squares cannot overflow (std of float32 [1e30, 0] is 7.07e29, as
        # torch; found by fuzzing); an all-zero, inf or NaN slice is left unscaled (its answer is 0, inf or NaN)
        m = xp.abs(x).max(axis=dims, keepdims=True) if x.size else xp.zeros(keepdim_shape(x.shape, dims), x.dtype)
        s = xp.where(xp.isfinite(m) & (m > 0), m, 1).astype(x.dtype, copy=False)
        xs = x / s
        yk = s * xp.sqrt((xs * xs).sum(axis=dims, keepdims=True))
        ctx.save_for_backward(x, yk)
        return _drop_kept(yk, x.shape, dims, keepdim)

    @staticmethod
    def backward(ctx, g):
        x, yk = ctx.saved
        xp = get_xp(g)
        nonzero = yk > 0  # at y = 0 the norm has no derivative: the subgradient 0
        return g.reshape(yk.shape) * x / xp.where(nonzero, yk, 1) * nonzero


class CumSum(Function):
    """y_i = sum_{j <= i} x_j along dim;  dx_j = sum_{i >= j} dy_i (the cumulative sum from the other end)"""

    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        return c_order(get_xp(x).cumsum(x, axis=dim))

    @staticmethod
    def backward(ctx, g):
        xp = get_xp(g)
        return xp.flip(xp.cumsum(xp.flip(g, axis=ctx.dim), axis=ctx.dim), axis=ctx.dim)


class CumProd(Function):
    """y_i = prod_{j <= i} x_j along dim;  dx_j = (prod_{k < j} x_k) * S_j,  S_j = sum_{i >= j} dy_i prod_{j<k<=i} x_k

    S runs backwards as S_j = dy_j + x_{j+1} * S_{j+1}: no division by x, so zeros in x get
    exact gradients (dividing reverse-cumsum(dy * y) by x would give 0/0 there).
    One vectorized step per position along dim.
    """

    @staticmethod
    def forward(ctx, x, dim):
        ctx.save_for_backward(x)
        ctx.dim = dim
        return c_order(get_xp(x).cumprod(x, axis=dim))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        xp = get_xp(g)
        xs, gs = xp.moveaxis(x, ctx.dim, 0), xp.moveaxis(g, ctx.dim, 0)  # the scanned dim first
        n = xs.shape[0]
        if n == 0:
            return xp.zeros_like(x)
        s = xp.empty_like(gs)
        s[n - 1] = gs[n - 1]
        for j in range(n - 2, -1, -1):
            s[j] = gs[j] + xs[j + 1] * s[j + 1]
        before = xp.concatenate([xp.ones_like(xs[:1]), xp.cumprod(xs[:-1], axis=0)], axis=0)  # prod_{k < j} x_k
        return xp.moveaxis(before * s, 0, ctx.dim)


class Prod(Function):
    """y = prod_i x_i along dim;  dy/dx_i = prod_{j != i} x_j

    The backward multiplies the products of everything before i and everything after i
    (exclusive prefix and suffix products), so it needs no division and zeros are exact.
    """

    @staticmethod
    def forward(ctx, x, dim, keepdim):
        xp = get_xp(x)
        ctx.save_for_backward(x)
        ctx.dim = dim
        y = xp.prod(x, axis=dim, keepdims=True)
        return _drop_kept(y, x.shape, (dim,), keepdim)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        xp, d = get_xp(g), ctx.dim
        n = x.shape[d]
        if n == 0:
            return xp.zeros_like(x)
        ones = xp.ones_like(xp.take(x, [0], axis=d))
        before = xp.cumprod(xp.concatenate([ones, xp.take(x, range(n - 1), axis=d)], axis=d), axis=d)
        shifted = xp.concatenate([xp.take(x, range(1, n), axis=d), ones], axis=d)
        after = xp.flip(xp.cumprod(xp.flip(shifted, axis=d), axis=d), axis=d)
        kshape = list(x.shape)
        kshape[d] = 1
        return g.reshape(kshape) * before * after


class _Extreme(Function):
    """Shared by Max and Min: the gradient goes to the extreme element(s); ties split it evenly."""

    saves_output = True  # backward reads the output: in-place changes to it must be caught

    reduce_name = ""

    @classmethod
    def forward(cls, ctx, x, dims, keepdim):
        yk = getattr(x, cls.reduce_name)(axis=dims, keepdims=True)
        ctx.save_for_backward(x, yk)
        ctx.dims = dims
        return _drop_kept(yk, x.shape, dims, keepdim)

    @staticmethod
    def backward(ctx, g):
        x, yk = ctx.saved
        xp = get_xp(x)
        mask = x == yk
        if x.dtype.kind == "f":  # a NaN extreme (NaN wins) is not == itself: its gradient goes to the NaNs
            mask |= xp.isnan(x) & xp.isnan(yk)
        count = mask.sum(axis=ctx.dims, keepdims=True).astype(g.dtype)
        return g.reshape(yk.shape) * mask / count


class Max(_Extreme):
    """y = max_i x_i;  dy/dx_i = 1/k for the k elements equal to the max, else 0"""

    reduce_name = "max"


class Min(_Extreme):
    """y = min_i x_i;  dy/dx_i = 1/k for the k elements equal to the min, else 0"""

    reduce_name = "min"


class LogSumExp(Function):
    """y = log sum_i e^{x_i} (shifted by the max, so it never overflows);  dy/dx_i = e^{x_i - y}"""

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        xp = get_xp(x)
        m = x.max(axis=dims, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)  # all -inf (or inf) rows: shift by 0 instead
        with _B.np.errstate(divide="ignore"):  # log(0) = -inf is the right answer for all -inf rows
            ls = xp.log(xp.exp(x - m).sum(axis=dims, keepdims=True))
        yk = ls + m
        # Save the shift and the log-sum apart: exp((x - m) - ls) is exact where exp(x - yk)
        # would inherit yk's rounding (float32 spacing is 6e-5 at |y| = 1000).
        ctx.save_for_backward(x, m, ls)
        return _drop_kept(yk, x.shape, dims, keepdim)

    @staticmethod
    def backward(ctx, g):
        x, m, ls = ctx.saved
        with _B.np.errstate(invalid="ignore"):  # inf - inf = NaN for +inf inputs is the answer, not news
            return g.reshape(ls.shape) * get_xp(x).exp((x - m) - ls)


# ---------------------------------------------------------------- wrappers
def _in_dtype(fn, x, dtype, **kw):
    """torch's dtype= keyword of sum/mean/prod/cumsum: the input is cast to dtype before the reduction
    and the result is in dtype (sum(int32_x, dtype=int32) stays int32, not the default int64)."""
    if not hasattr(x, "to"):
        raise TypeError(f"{fn.__name__}(): argument 'input' must be Tensor, not {type(x).__name__}")
    return fn(x.to(dtype), **kw).to(dtype)  # (.to of the same dtype returns the tensor itself)


def _dims(op, x, dim):
    # dim=() (or []) reduces every dim, as in torch (NumPy's axis=() would reduce none)
    if isinstance(dim, (tuple, list)) and len(dim) == 0:
        dim = None
    return normalize_dim(op, dim, x.data.ndim)


def sum(x, dim=None, keepdim=False, *, dtype=None):  # noqa: A001 - torch's name
    """Sum over `dim` (None: all); `dtype` (torch's keyword): x is cast to it first, the sum is in it."""
    if dtype is not None:
        return _in_dtype(sum, x, dtype, dim=dim, keepdim=keepdim)
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('sum', sum, x=x, dim=dim, keepdim=keepdim)
    return Sum.apply(x, dims=_dims("sum", x, dim), keepdim=keepdim)


def mean(x, dim=None, keepdim=False, *, dtype=None):
    """Mean over `dim` (None: all). The mean of nothing (an empty dim) is an error, not NaN.
    `dtype` (torch's keyword): x is cast to it first (mean(int_x, dtype=float32) is allowed)."""
    if dtype is not None:
        return _in_dtype(mean, x, dtype, dim=dim, keepdim=keepdim)
    check_float("mean", x)
    dims = _dims("mean", x, dim)
    _check_nonempty("mean", x, dims)
    return Mean.apply(x, dims=dims, keepdim=keepdim)


def _torch_spread_args(op, dim, unbiased, correction):
    """(dim, correction) from torch's spellings: var(dim, unbiased, keepdim), var(unbiased), correction=c."""
    if isinstance(dim, bool):  # torch's legacy x.var(False): unbiased over every element
        dim, unbiased = None, dim if unbiased is None else unbiased
    if unbiased is not None and correction is not None:
        raise TypeError(f"{op}: give unbiased or correction, not both")
    if unbiased is not None:
        if not isinstance(unbiased, bool):
            raise TypeError(f"{op}: unbiased (the argument after dim, as in torch) must be True or False, got "
                            f"{unbiased!r}; keepdim comes third, or pass it by name")
        return dim, int(unbiased)
    return dim, 1 if correction is None else correction


def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance over `dim`, divided by N - correction (torch's default: correction=1, unbiased).

    torch's signature: unbiased=False is correction=0; N <= correction (e.g. one element,
    correction=1) leaves no degrees of freedom: an error here, where torch returns NaN
    (minigrad never turns finite input into a silent NaN).
    """
    dim, correction = _torch_spread_args("var", dim, unbiased, correction)
    dims, _ = _spread_dims("var", x, dim, correction)
    return Var.apply(x, dims=dims, keepdim=keepdim, correction=correction)


def _spread_dims(op, x, dim, correction):
    """(dims, N) for var/std, after checking the dtype and that N - correction is positive."""
    check_float(op, x)
    dims = _dims(op, x, dim)
    _check_nonempty(op, x, dims)
    n = _count(x.data.shape, dims)
    if n - correction <= 0:
        raise ValueError(f"{op}: {n} element(s) per reduced slice of {describe(x)} leave no degrees of freedom "
                         f"with correction={correction} (N - correction must be positive); "
                         "use correction=0 for the population value")
    return dims, n


def norm(x, p=2, dim=None, keepdim=False):
    """The p-norm over `dim` (None: all elements, as torch.norm): p = 2 or 'fro', 1, or inf.

    d/dx: x / ||x|| for p = 2 (0 at x = 0), sign(x) for p = 1, and for inf the gradient
    goes to the largest |x_i| (ties split it, as max does).
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('norm', norm, x=x, p=p, dim=dim, keepdim=keepdim)
    check_float("norm", x)
    dims = _dims("norm", x, dim)
    if p in (2, "fro"):
        return Norm.apply(x, dims=dims, keepdim=keepdim)
    if p == 1:
        return sum(x.abs(), dim=dims, keepdim=keepdim)
    if p == float("inf"):
        _check_nonempty("norm", x, dims)
        return amax(x.abs(), dim=dims, keepdim=keepdim)
    raise ValueError(f"norm: p must be 2 (or 'fro'), 1 or inf, got {p!r}")


def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Standard deviation over `dim`: sqrt(var(x, dim, correction)) (torch's default correction=1).

    torch's signature, as `var`. Written as ||x - mean|| / sqrt(N - correction), so that where every element equals the
    mean the gradient is 0 (torch gives NaN there); N <= correction is an error, as for var.
    """
    dim, correction = _torch_spread_args("std", dim, unbiased, correction)
    dims, n = _spread_dims("std", x, dim, correction)
    centered = x - mean(x, dim=dims, keepdim=True)
    return Norm.apply(centered, dims=dims, keepdim=keepdim) / float((n - correction) ** 0.5)


def _scan(op, cls, x, dim):
    """Apply the scan Function `cls` along `dim`: a 0-d x scans as a 1-element vector, and
    integers and bools are promoted to int64 first (torch's rule for cumsum and cumprod)."""
    d = normalize_axis(op, dim, (x.data.ndim or 1))
    if x.data.ndim == 0:
        return _scan(op, cls, x.reshape(1), 0).reshape(())
    if x.data.dtype.kind in "biu" and x.data.dtype != _B.np.int64:
        x = x.to(_B.np.int64)
    return cls.apply(x, dim=d)


def cumsum(x, dim, *, dtype=None):
    """torch.cumsum: running sums along `dim` (integers and bools sum as int64, as in torch);
    `dtype` (torch's keyword): x is cast to it first, the sums are in it."""
    require_tensor("cumsum", x)
    if dtype is not None:
        return _in_dtype(cumsum, x, dtype, dim=dim)
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('cumsum', cumsum, x=x, dim=dim)
    return _scan("cumsum", CumSum, x, dim)


def cumprod(x, dim, dtype=None):
    """torch.cumprod: running products along `dim` (integers and bools multiply as int64, as in torch).

    `dtype` casts x first (torch's keyword). The gradient is exact with zeros in x (see CumProd).
    """
    require_tensor("cumprod", x)
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('cumprod', cumprod, x=x, dim=dim, dtype=dtype)
    if dtype is not None:
        x = x.to(dtype)
    return _scan("cumprod", CumProd, x, dim)


def prod(x, dim=None, keepdim=False, *, dtype=None):
    """torch.prod: the product over one `dim`, or over every element (dim=None); `dtype` as in sum."""
    if dtype is not None:
        return _in_dtype(prod, x, dtype, dim=dim, keepdim=keepdim)
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('prod', prod, x=x, dim=dim, keepdim=keepdim)
    if dim is None:
        out = Prod.apply(x.reshape(-1), dim=0, keepdim=False)
        return out.reshape((1,) * x.data.ndim) if keepdim else out
    if not isinstance(dim, int):
        raise TypeError(f"prod: dim must be one int (or None for all elements), got {dim!r}")
    d = normalize_axis("prod", dim, (x.data.ndim or 1))
    if x.data.ndim == 0:
        return x.reshape(1).prod(0).reshape(()) if not keepdim else x
    return Prod.apply(x, dim=d, keepdim=keepdim)


# torch returns (values, indices) from sort, topk, max(dim), ... as a namedtuple; so does minigrad
ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])
SortResult = ValuesIndices  # (the older name)


def _order(op, x, dim, descending):
    """The int64 indices that sort x along `dim`, stable both ways as torch's CPU sort: ties keep their order."""
    require_tensor(op, x)
    xp = get_xp(x.data)
    if x.data.ndim == 0:
        normalize_axis(op, dim, 1)
        return _wrap(xp.zeros((), dtype=xp.int64))
    d = normalize_axis(op, dim, x.data.ndim)
    if descending:  # stable ascending sort of the reversed x, reversed back: ties stay in their order
        n = x.data.shape[d]
        idx = (n - 1) - xp.flip(xp.argsort(xp.flip(x.data, axis=d), axis=d, kind="stable"), axis=d)
    else:
        idx = xp.argsort(x.data, axis=d, kind="stable")
    return _wrap(idx.astype(xp.int64, copy=False))


def argsort(x, dim=-1, descending=False, *, stable=False):
    """Indices (int64) that sort x along `dim`; ties keep their order ascending (a stable sort:
    torch's `stable=True` asks for what every minigrad sort already is).

    NaN counts as the largest value, as in torch: last in ascending order, first in descending.
    """
    return _order("argsort", x, dim, descending)


def sort(x, dim=-1, descending=False, *, stable=False):
    """torch.sort: (values, indices) along `dim`; the values are differentiable (a gather of x).
    The sort is always stable (ties keep their order), so torch's `stable=True` changes nothing."""
    idx = _order("sort", x, dim, descending)
    if x.data.ndim == 0:
        return SortResult(clone(x), idx)
    return SortResult(gather(x, dim, idx), idx)


def topk(x, k, dim=-1, largest=True, sorted=True):  # noqa: A002 - torch's name
    """torch.topk: the k largest (or smallest) values along `dim` and their indices, in order."""
    if x.data.ndim == 0:  # torch gives the element itself for k = 0 or 1
        normalize_axis("topk", dim, 1)
        if isinstance(k, bool) or k not in (0, 1):
            raise ValueError(f"topk: k must be 0 or 1 for the 0-d {describe(x)}, got {k!r}")
        return sort(x)
    d = normalize_axis("topk", dim, x.data.ndim)
    size = x.data.shape[d]
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= size:
        raise ValueError(f"topk: k must be an int in [0, {size}] for dimension {d} of {describe(x)}, got {k!r}")
    idx = _order("topk", x, d, largest)
    idx = _wrap(c_order(idx.data[(slice(None),) * d + (slice(0, k),)]))  # (the first k, in C order as torch)
    return SortResult(gather(x, d, idx), idx)


def _check_nonempty(op, x, dims):
    """Reductions without an identity (max, mean, ...) are undefined over an empty dimension."""
    shape = x.data.shape
    if any(shape[i] == 0 for i in (range(len(shape)) if dims is None else dims)) or (dims is None and x.data.size == 0):
        raise ValueError(f"{op}: cannot reduce over an empty dimension of {describe(x)}")


def amax(x, dim=None, keepdim=False):
    """Largest value over `dim` (None: all; an int or a tuple of ints). Values only.

    Tie rule: when several elements share the maximum, the gradient is split evenly
    among them (torch.amax's rule), so the total gradient is unchanged.
    """
    dims = _dims("amax", x, dim)
    _check_nonempty("amax", x, dims)
    return Max.apply(x, dims=dims, keepdim=keepdim)


def amin(x, dim=None, keepdim=False):
    """Smallest value over `dim` (None: all; an int or a tuple); ties split the gradient evenly (see `amax`)."""
    dims = _dims("amin", x, dim)
    _check_nonempty("amin", x, dims)
    return Min.apply(x, dims=dims, keepdim=keepdim)


def _value_and_index(op, x, dim, keepdim):
    """torch.max / torch.min: the whole-tensor extreme, or (values, indices) along one dim.

    `x.max()` reduces everything to one value, and ties split its gradient evenly
    (as `amax`). `x.max(dim)` returns the namedtuple (values, indices), as torch does,
    so `_, pred = logits.max(1)` reads the indices; the values are x gathered at the
    indices, so the gradient goes to the one element each index names (torch's rule:
    the first of equal extremes, or the first NaN, which wins over every number).
    `x.max(other_tensor)` is `maximum(x, other)`.
    """
    from ..tensor import Tensor

    extreme = Max if op == "max" else Min
    _check_tensor_input(op, x)
    if isinstance(dim, Tensor):  # torch.max(input, other): the elementwise form
        from .elementwise import maximum, minimum

        return (maximum if op == "max" else minimum)(x, dim)
    if dim is None:
        if x.data.size == 0:
            raise ValueError(f"{op}: cannot reduce an empty tensor {describe(x)} to one value; "
                             "give a dim (reducing a non-empty dim of it is fine)")
        return extreme.apply(x, dims=None, keepdim=keepdim)
    if isinstance(dim, (tuple, list)) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"{op}: dim must be one int (or a tensor for the elementwise form), got {dim!r}; "
                        f"a{op} reduces several dims at once")
    d = normalize_axis(op, dim, x.data.ndim or 1)
    _check_nonempty(op, x, (d,) if x.data.ndim else ())
    indices = _arg("arg" + op, x, d, keepdim=True)
    if x.data.ndim == 0:
        return SortResult(clone(x), indices)
    values = gather(x, d, indices)
    if not keepdim:
        values, indices = values.squeeze(d), indices.squeeze(d)
    return SortResult(values, indices)


def max(x, dim=None, keepdim=False):  # noqa: A001 - torch's name
    """torch.max: the largest value (dim=None), (values, indices) along an int `dim`, or maximum(x, other).

    See `_value_and_index` for the gradient rules; `amax` reduces several dims, values only.
    """
    return _value_and_index("max", x, dim, keepdim)


def min(x, dim=None, keepdim=False):  # noqa: A001 - torch's name
    """torch.min: the smallest value, (values, indices) along an int `dim`, or minimum(x, other) (see `max`)."""
    return _value_and_index("min", x, dim, keepdim)


def logsumexp(x, dim=None, keepdim=False):
    """log(sum(exp(x))) over `dim`, computed stably."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('logsumexp', logsumexp, x=x, dim=dim, keepdim=keepdim)
    check_float("logsumexp", x)
    dims = _dims("logsumexp", x, dim)
    _check_nonempty("logsumexp", x, dims)
    return LogSumExp.apply(x, dims=dims, keepdim=keepdim)


def _check_tensor_input(op, x):
    """A TypeError for a non-Tensor input (e.g. torch's `torch.max(outputs.data, 1)`, where .data is a raw array here)."""
    from ..tensor import Tensor

    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__} (wrap data with mg.tensor(...); "
                        "`t.data` is the raw array in minigrad, so write torch's `torch.max(out.data, 1)` "
                        "as `mg.max(out.detach(), 1)`)")


def _arg(op, x, dim, keepdim):
    _check_tensor_input(op, x)
    xp = get_xp(x.data)
    d = None if dim is None else normalize_axis(op, dim, x.data.ndim or 1)
    if x.data.size == 0 and (d is None or x.data.ndim == 0 or x.data.shape[d] == 0):
        raise ValueError(f"{op}: cannot take {op} of an empty tensor {describe(x)}")
    if dim is None:
        out = arg_extreme(x.data.reshape(-1), op)  # (NaN: the first NaN, on every backend)
        out = xp.asarray(out, dtype=xp.int64)
        return _wrap(out.reshape((1,) * x.data.ndim) if keepdim else out)
    if x.data.ndim == 0:  # dim 0 or -1 of a scalar: the only index is 0
        return _wrap(xp.zeros((), dtype=xp.int64))
    return _wrap(arg_extreme(x.data, op, axis=d, keepdims=keepdim).astype(xp.int64, copy=False))


def _truth(op, x, dim, keepdim):
    """`all` / `any` over `dim` (None = every dim; an int or a tuple) as a bool tensor; no gradient.

    Unlike sum, torch's all/any read dim=() as "no dims": each element's truth, nothing reduced.
    """
    if isinstance(dim, (tuple, list)) and len(dim) == 0:
        return _wrap(x.data.astype(bool))  # (a copy, as torch's result never aliases the input)
    dims = _dims(op, x, dim)
    return _wrap(c_order(getattr(x.data.astype(bool, copy=False), op)(axis=dims, keepdims=keepdim)))


def reduce_all(x, dim=None, keepdim=False):
    """torch.all: True where every element along `dim` is nonzero (all of nothing is True)."""
    return _truth("all", x, dim, keepdim)


def reduce_any(x, dim=None, keepdim=False):
    """torch.any: True where some element along `dim` is nonzero (any of nothing is False)."""
    return _truth("any", x, dim, keepdim)


def argmax(x, dim=None, keepdim=False):
    """Index of the largest value along `dim` (flattened when None); no gradient."""
    return _arg("argmax", x, dim, keepdim)


def argmin(x, dim=None, keepdim=False):
    """Index of the smallest value along `dim` (flattened when None); no gradient."""
    return _arg("argmin", x, dim, keepdim)
