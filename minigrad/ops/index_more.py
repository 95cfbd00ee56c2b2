"""More index writes and reductions with torch's names, and in-place shape changes.

scatter_reduce / index_reduce (one Function, `ScatterReduce`, with torch's gradient rules for
every reduction), index_put (accumulate: `IndexPutAccumulate`; otherwise SetItem), put, unfold,
diagonal_scatter / select_scatter / slice_scatter, narrow_copy, split_with_sizes, sum_to_size,
as_strided (contiguous tensors), the in-place shape methods (squeeze_, unsqueeze_,
t_, transpose_, swapaxes_/swapdims_), and apply_ / map_ (Python callables, CPU only).

Aliasing, as torch: unfold and as_strided return views of x (its memory and version counter);
the *_scatter ops and narrow_copy return new memory.
"""
from __future__ import annotations

import numbers
import warnings

from .. import autograd as _ag
from .. import backend as _B
from ..autograd import Function
from ..tensor import Tensor, _wrap
from .common import describe, normalize_axis
from .shape import (
    SetItem, _along, _check_covered, _check_index_bounds, _check_index_tensor, _check_positions, _int_arg,
    _shape_arg, _strided_view, _tri, cast, clone, expand_0d_masks, getitem, narrow, normalize_index, permute,
    reshape, setitem, split,
)

get_xp = _B.get_array_module
np = _B.np  # dtypes and host-side index bookkeeping only

SCATTER_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")
INDEX_REDUCTIONS = ("prod", "mean", "amax", "amin")
_UFUNC = {"sum": "add", "mean": "add", "prod": "multiply", "amax": "maximum", "amin": "minimum"}


# ---------------------------------------------------------------- scatter_reduce
def _ufunc_at(xp, name, out, where, values, use_at=None):
    """out[where] = name(out[where], values) with repeated positions combined one after another (ufunc.at).

    A backend without `ufunc.at` for this ufunc (CuPy's multiply, for one) gets rounds instead:
    round r applies each position's r-th value, so no round writes a position twice.
    """
    fn = getattr(xp, name)
    if use_at is None:
        use_at = xp is np  # (tests pass use_at=False to check the rounds on the CPU)
    if use_at:
        fn.at(out, where, values)
        return
    flat = xp.ravel_multi_index(where, out.shape) if out.ndim else xp.zeros(values.shape, dtype=np.int64)
    flat, values = flat.reshape(-1), values.reshape(-1)
    if flat.size == 0:
        return
    order = xp.argsort(flat)  # (any order within a position: the reductions are commutative)
    flat, values = flat[order], values[order]
    rank = xp.arange(flat.size) - xp.searchsorted(flat, flat)  # 0 for a position's first value, 1 next, ...
    view = out.reshape(-1)  # out is a fresh contiguous copy in every caller: a view
    for r in range(int(rank.max()) + 1):
        pick = rank == r
        pos = flat[pick]
        view[pos] = fn(view[pos], values[pick])


def _identity(reduce, dtype):
    """The value that leaves `reduce` unchanged (what include_self=False puts in place of x first)."""
    if reduce in ("sum", "mean"):
        return 0
    if reduce == "prod":
        return 1
    low = reduce == "amax"  # a max starts from the lowest value, a min from the highest
    if dtype.kind == "b":
        return not low
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return int(info.min if low else info.max)
    return float("-inf") if low else float("inf")


def _scatter_reduce_values(x, s, where, reduce, include_self):
    """The forward on arrays: x with the values s reduced into the positions `where` (s covers where's shape)."""
    xp = get_xp(x)
    out = x.copy()
    if not include_self:
        out[where] = _identity(reduce, x.dtype)
    _ufunc_at(xp, _UFUNC[reduce], out, where, s)
    if reduce == "mean":
        count = xp.full(x.shape, 1 if include_self else 0, dtype=x.dtype)
        _B.scatter_add(count, where, xp.ones(s.shape, dtype=x.dtype))
        count = xp.where(count == 0, xp.ones((), dtype=x.dtype), count)  # untouched places: divide by 1
        out = out // count if x.dtype.kind in "iu" else out / count  # integers floor, as torch
    return out


class ScatterReduce(Function):
    """y = x with src reduced in at `index` along dim (sum | prod | mean | amax | amin), x itself counted
    unless include_self=False. Gradients (torch's rules): sum: dx = dy, dsrc = dy[index];
    mean: both dy / count; prod: dx = dy * y / x, dsrc = dy * y / src, with the product of the others where
    the divisor is 0 (once; two zeros give 0); amax/amin: dy shared evenly among the tied maxima (x included).
    Where include_self=False, dx = 0 at the written places. src outside index's block gets 0.
    """

    @staticmethod
    def forward(ctx, x, src, index, dim, reduce, include_self):
        xp = get_xp(x)
        where = _along(xp, index, dim)
        block = tuple(slice(0, n) for n in index.shape)
        s = src[block]
        out = _scatter_reduce_values(x, s, where, reduce, include_self)
        ctx.where, ctx.block, ctx.src_shape, ctx.index_shape = where, block, src.shape, index.shape
        ctx.reduce, ctx.include_self = reduce, include_self
        if reduce in ("prod", "amax", "amin"):
            ctx.save_for_backward(x, s, out)
            ctx.saves_output = True  # an in-place change of y before backward must be refused
        return out

    @staticmethod
    def backward(ctx, g):
        xp = get_xp(g)
        where, reduce, include_self = ctx.where, ctx.reduce, ctx.include_self
        one = xp.ones((), dtype=g.dtype)
        if reduce == "sum":
            gx, gs = g, g[where]
        elif reduce == "mean":
            count = xp.full(g.shape, 1 if include_self else 0, dtype=g.dtype)
            _B.scatter_add(count, where, xp.ones(ctx.index_shape, dtype=g.dtype))
            g = g / xp.where(count == 0, one, count)
            gx, gs = g, g[where]
        elif reduce == "prod":
            x, s, out = ctx.saved
            # x's share: the product of everything else at its place; x = 0 is replaced by 1 to get it
            masked_x = xp.where(x == 0, one, x)
            gx = g * _scatter_reduce_values(masked_x, s, where, reduce, include_self) / masked_x
            # src's share: y / src, or (for the only zero of its group) the product with that zero left out
            zero = s == 0
            zeros_at = xp.zeros(g.shape, dtype=g.dtype)
            _B.scatter_add(zeros_at, where, zero.astype(g.dtype))
            single = zero & (zeros_at[where] == 1)
            without = _scatter_reduce_values(x, xp.where(single, one, s), where, reduce, include_self)
            gs = xp.where(single, (g * without)[where], (g * out)[where] / xp.where(zero, one, s))
        else:  # amax / amin: an even share for each value equal to the result (x counts, even if excluded)
            x, s, out = ctx.saved
            x_hits = (x == out).astype(g.dtype)
            s_hits = (s == out[where]).astype(g.dtype)
            ties = x_hits.copy()
            _B.scatter_add(ties, where, s_hits)
            share = g / xp.where(ties == 0, one, ties)  # (0 ties only where the result is NaN)
            gx, gs = x_hits * share, s_hits * share[where]
        need_x, need_src = ctx.needs_input_grad
        dx = dsrc = None
        if need_x:
            if not include_self:
                gx = gx.copy() if gx is g else gx
                gx[where] = 0  # x's old values there were left out
            dx = gx
        if need_src:
            dsrc = xp.zeros(ctx.src_shape, dtype=g.dtype)
            dsrc[ctx.block] = gs
        return dx, dsrc


def _scatter_reduce(op, x, dim, index, src, reduce, include_self, allowed=SCATTER_REDUCTIONS, src_name="src"):
    """scatter_reduce's checks (torch's), then ScatterReduce; `op` names the caller in errors."""
    if reduce not in allowed:
        raise ValueError(f"{op}: reduce must be one of {', '.join(map(repr, allowed))}, got {reduce!r}")
    _check_index_tensor(op, x, index)
    if not isinstance(src, Tensor):
        raise TypeError(f"{op}: {src_name} must be a Tensor, got {type(src).__name__}")
    if src.device != x.device:
        raise RuntimeError(f"{op}: x is {describe(x)} but {src_name} is {describe(src)}; move one with .to(device)")
    if src.dtype != x.dtype:
        raise TypeError(f"{op}: {src_name} must have x's dtype: x is {describe(x)}, {src_name} is {describe(src)}")
    if max(src.ndim, 1) != max(x.ndim, 1):
        raise ValueError(f"{op}: {src_name} must have as many dimensions as x: x is {describe(x)}, {src_name} is "
                         f"{describe(src)}")
    if reduce == "mean" and x.dtype.kind == "b":
        raise TypeError(f"{op}: reduce='mean' is not defined for bool tensors ({describe(x)}), as in torch")
    d = normalize_axis(op, dim, max(x.ndim, 1))
    if x.ndim == 0 or index.ndim == 0 or src.ndim == 0:  # as 1-d tensors (torch's rule), then x's shape again
        flat = _scatter_reduce(op, reshape(x, (-1,)), 0, index.reshape(-1), reshape(src, (-1,)), reduce,
                               include_self, allowed, src_name)
        return reshape(flat, x.shape)
    _check_covered(op, "x", x, index, skip=d)
    _check_covered(op, src_name, src, index)
    _check_positions(op, x, d, index)
    return ScatterReduce.apply(x, src, index=index.data, dim=d, reduce=reduce, include_self=bool(include_self))


def scatter_reduce(x, dim, index, src, reduce, *, include_self=True):
    """torch.scatter_reduce: x with each src[i][j][k] reduced into place [index[i][j][k]][j][k] (dim=0).

    reduce is 'sum', 'prod', 'mean', 'amax' or 'amin'; include_self=False leaves x's own value out
    at the places written (the others keep it). Integer 'mean' rounds down, as torch. index follows
    scatter's rules (x's number of dims; no larger than src, nor than x except along dim; 0 <= index).
    Gradients follow torch (see ScatterReduce); src entries outside index's block get 0 (torch raises).
    """
    return _scatter_reduce("scatter_reduce", x, dim, index, src, reduce, include_self)


class _NoDerivative(Function):
    """y = a value computed without a derivative rule;  backward raises (torch's scatter(reduce=))"""

    @staticmethod
    def forward(ctx, *inputs, value, op, hint):
        ctx.op, ctx.hint = op, hint
        return value

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError(f"{ctx.op}: the derivative is not implemented, as in torch; {ctx.hint}")


def scatter_with_reduce(x, dim, index, src=None, value=None, *, reduce):
    """torch.Tensor.scatter(dim, index, src, reduce='add'|'multiply'): src (or the number) added / multiplied in.

    As torch: not differentiable (backward raises; use scatter_reduce, which is), and torch's
    deprecated spelling; 'add' is scatter_reduce(..., 'sum'), 'multiply' is 'prod', x included.
    """
    op = "scatter"
    names = {"add": "sum", "multiply": "prod"}
    if reduce not in names:
        raise ValueError(f"{op}: reduce must be 'add' or 'multiply', got {reduce!r} (scatter_reduce takes "
                         "'sum', 'prod', 'mean', 'amax', 'amin')")
    _check_index_tensor(op, x, index)
    if (src is None) == (value is None):
        raise TypeError(f"{op}: give exactly one of src (a tensor or a number) and value")
    if src is None or not isinstance(src, Tensor):
        number = value if src is None else src
        if isinstance(number, (bool, str, bytes)) or not isinstance(number, numbers.Number):
            raise TypeError(f"{op}: src must be a Tensor or a number, got {type(number).__name__}")
        src = _wrap(get_xp(x.data).full(index.shape, number, dtype=x.data.dtype))
    with _ag.no_grad():
        out = _scatter_reduce(op, x.detach(), dim, index, src.detach(), names[reduce], True)
    inputs = [t for t in (x, src) if t.requires_grad]
    if not inputs:
        return out
    return _NoDerivative.apply(*inputs, value=out.data, op=f"{op}(reduce={reduce!r})",
                               hint=f"use scatter_reduce(dim, index, src, {names[reduce]!r}), which has one")


# ---------------------------------------------------------------- index_reduce
def index_reduce(x, dim, index, source, reduce, *, include_self=True):
    """torch.index_reduce: x with source[..., i, ...] reduced into x[..., index[i], ...] along `dim`.

    reduce is 'prod', 'mean', 'amax' or 'amin' (torch has no 'sum' here: that is index_add);
    index is a 1-D integer tensor, source has x's shape except len(index) along dim. It is
    scatter_reduce with index spread over source's shape, so values and gradients follow torch's.
    """
    op = "index_reduce"
    if reduce not in INDEX_REDUCTIONS:
        raise ValueError(f"{op}: reduce must be one of 'prod', 'mean', 'amax', 'amin' (use index_add for a sum), "
                         f"got {reduce!r}")
    if not isinstance(x, Tensor) or not isinstance(source, Tensor):
        raise TypeError(f"{op}: expected Tensors for x and source, got {type(x).__name__} and "
                        f"{type(source).__name__}")
    if not isinstance(index, Tensor) or index.data.dtype not in (np.int64, np.int32) or index.data.ndim > 1:
        got = describe(index) if isinstance(index, Tensor) else type(index).__name__
        raise TypeError(f"{op}: index must be a 1-D int64 or int32 tensor, got {got}")
    if x.data.ndim == 0:  # torch: one index, a 0-d source
        normalize_axis(op, dim, 1)
        if source.data.ndim != 0 or index.data.size != 1:
            raise ValueError(f"{op}: into the 0-d {describe(x)}, source must be 0-d and index hold one value, got "
                             f"{describe(source)} and {describe(index)}")
        return reshape(index_reduce(reshape(x, (1,)), 0, index.reshape(-1), reshape(source, (1,)), reduce,
                                    include_self=include_self), ())
    d = normalize_axis(op, dim, x.data.ndim)
    _check_positions(op, x, d, index)  # (here: the spread index below is empty when source is, torch checks anyway)
    want = x.data.shape[:d] + (index.data.size,) + x.data.shape[d + 1:]
    if tuple(source.data.shape) != want:
        raise ValueError(f"{op}: source must have shape {want} (x {describe(x)} with len(index) = {index.data.size} "
                         f"along dim {d}), got {describe(source)}")
    spread = index.reshape((1,) * d + (-1,) + (1,) * (x.data.ndim - d - 1))
    spread = _wrap(get_xp(spread.data).broadcast_to(spread.data, want))
    return _scatter_reduce(op, x, d, spread, source, reduce, include_self, INDEX_REDUCTIONS, "source")


# ---------------------------------------------------------------- index_put / put
class IndexPutAccumulate(Function):
    """y = x with values added at x[indices] (repeated positions add up);  dx = dy, dvalues = dy[indices]

    (values broadcast to the indexed shape; the engine sums dvalues back to values' shape.)
    """

    @staticmethod
    def forward(ctx, x, values, index, shape):
        ctx.index = index
        out = x.copy()
        _B.scatter_add(out, index, get_xp(x).broadcast_to(values, shape))
        return out

    @staticmethod
    def backward(ctx, g):
        need_x, need_v = ctx.needs_input_grad
        return (g if need_x else None), (g[ctx.index] if need_v else None)


def _check_indices(op, x, indices):
    """TypeError/RuntimeError/IndexError unless `indices` is a tuple or list of integer, bool or uint8
    tensors on x's device, covering at most x's dims."""
    if isinstance(indices, Tensor) or not isinstance(indices, (tuple, list)):
        raise TypeError(f"{op}: indices must be a tuple of Tensors, got {type(indices).__name__}")
    if not indices:
        raise ValueError(f"{op}: indices must hold at least one tensor")
    for k, i in enumerate(indices):
        if not isinstance(i, Tensor):
            raise TypeError(f"{op}: indices[{k}] must be a Tensor, got {type(i).__name__}")
        if i.data.dtype not in (np.int64, np.int32, np.uint8) and i.data.dtype.kind != "b":
            raise TypeError(f"{op}: indices[{k}] must be an int64, int32, bool or uint8 tensor, got {describe(i)}")
        if i.device != x.device:
            raise RuntimeError(f"{op}: x is {describe(x)} but indices[{k}] is {describe(i)}")
        if i.data.dtype == np.uint8 and i.data.ndim == 0:  # (normalize_index warns for the others)
            warnings.warn(f"{op}: indexing with dtype uint8 is deprecated, please use a dtype bool instead "
                          "(a uint8 index is read as a boolean mask, as torch does)", UserWarning, stacklevel=4)
    width = sum(i.data.ndim if i.data.dtype.kind == "b" or i.data.dtype == np.uint8 else 1 for i in indices)
    if width > x.data.ndim:
        raise IndexError(f"{op}: too many indices for {describe(x)}: they cover {width} dims")


def _index_tuple(op, x, indices):
    """torch's `indices` (a tuple or list of integer, bool or uint8 tensors) as a checked backend index."""
    _check_indices(op, x, indices)
    idx, _ = normalize_index(tuple(indices), x, op=op, select_0d=False)
    _check_index_bounds(x, idx, op=op)
    try:
        lead = np.broadcast_shapes(*[i.shape for i in idx])
    except ValueError:
        raise IndexError(f"{op}: shape mismatch: the index tensors of shapes {[list(i.shape) for i in idx]} "
                         "do not broadcast together") from None
    return idx, tuple(lead) + x.data.shape[len(idx):]


def index_put(x, indices, values, accumulate=False):
    """torch.index_put: a copy of x with x[indices] = values (accumulate=True: +=, repeated positions add up).

    indices is a tuple of integer (int64/int32) or bool tensors, one per leading dim of x; values
    (x's dtype) broadcasts to the indexed shape. Without accumulate a position written twice keeps
    one value (torch: unspecified), and every value written gets the gradient at its position.
    """
    op = "index_put"
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor to write into, got {type(x).__name__}")
    if not isinstance(values, Tensor):
        raise TypeError(f"{op}: values must be a Tensor, got {type(values).__name__}")
    if values.device != x.device:
        raise RuntimeError(f"{op}: x is {describe(x)} but values is {describe(values)}")
    if values.dtype != x.dtype:
        # torch hands one boolean mask with a one-element value on the CPU to masked_fill_, which casts
        one_mask = (isinstance(indices, (tuple, list)) and len(indices) == 1 and isinstance(indices[0], Tensor)
                    and indices[0].data.dtype.kind == "b")
        if accumulate or not one_mask or values.data.size != 1 or values.device != "cpu":
            raise TypeError(f"{op}: values must have x's dtype: x is {describe(x)}, values is {describe(values)}")
        values = cast(values, x.data.dtype)  # (differentiable between float dtypes)
    if isinstance(indices, (tuple, list)):
        expanded = expand_0d_masks(x.data.shape, tuple(indices), get_xp(x.data))
        if expanded is not None:  # a 0-d mask: write into a new size-1 dim where it stands (as x[...] = values)
            _check_indices(op, x, indices)
            new = tuple(i if isinstance(i, Tensor) else _wrap(i) for i in expanded[2])
            return reshape(index_put(reshape(x, expanded[0]), new, values, accumulate), x.data.shape)
    idx, shape = _index_tuple(op, x, indices)
    try:
        ok = np.broadcast_shapes(values.data.shape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{op}: shape mismatch: values {describe(values)} cannot be broadcast to the indexed "
                         f"shape {list(shape)}")
    index = idx if len(idx) != 1 else idx[0]
    if accumulate:
        return IndexPutAccumulate.apply(x, values, index=index, shape=shape)
    return SetItem.apply(x, values, index=index)


def put(x, index, source, accumulate=False):
    """torch.put: a copy of x with source's values written at the flat (row-major) positions `index`.

    index is an int64 tensor (negatives count from the end); source holds as many values (any
    shape). accumulate=True adds instead (repeated positions add up). index_put on the flattened x.
    """
    op = "put"
    if not isinstance(x, Tensor) or not isinstance(source, Tensor):
        raise TypeError(f"{op}: expected Tensors for x and source, got {type(x).__name__} and "
                        f"{type(source).__name__}")
    if not isinstance(index, Tensor) or index.data.dtype != np.int64:
        got = describe(index) if isinstance(index, Tensor) else type(index).__name__
        raise TypeError(f"{op}: index must be an int64 tensor, got {got}")
    if source.dtype != x.dtype:
        raise TypeError(f"{op}: source must have x's dtype: x is {describe(x)}, source is {describe(source)}")
    if source.data.size != index.data.size:
        raise ValueError(f"{op}: source and index must hold as many values, got {describe(source)} and "
                         f"{describe(index)}")
    n = x.data.size
    i = index.data.reshape(-1)
    if i.size and bool(((i < -n) | (i >= n)).any()):
        bad = int(i[(i < -n) | (i >= n)][0])
        raise IndexError(f"{op}: index {bad} is out of range for the {n} elements of {describe(x)}")
    pos = _wrap(get_xp(i).where(i < 0, i + n, i))
    flat = index_put(reshape(x, (-1,)), (pos,), reshape(source, (-1,)), accumulate)
    return reshape(flat, x.data.shape)


# ---------------------------------------------------------------- windows, scatters into slices
class Unfold(Function):
    """y[..., w, ..., j] = x[..., w * step + j, ...] along dim d (a view of x);  dx = the windows' dy added back in place"""

    is_view = True

    @staticmethod
    def forward(ctx, x, d, size, step):
        count = (x.shape[d] - size) // step + 1
        ctx.shape, ctx.d, ctx.size, ctx.step, ctx.count = x.shape, d, size, step, count
        # window w starts step elements after window w - 1; the window's own dim walks dim d one by one
        shape = x.shape[:d] + (count,) + x.shape[d + 1:] + (size,)
        strides = x.strides[:d] + (x.strides[d] * step,) + x.strides[d + 1:] + (x.strides[d],)
        return _strided_view(x, shape, strides)

    @staticmethod
    def backward(ctx, g):
        d, size, step, count = ctx.d, ctx.size, ctx.step, ctx.count
        xp = get_xp(g)
        gx = xp.zeros(ctx.shape, dtype=g.dtype)
        lead = (slice(None),) * d
        # Overlapping windows (step < size) reach an element several times: add, one strided slice at a time.
        if size <= count:  # position j of every window: the elements j, j + step, ..., all distinct
            for j in range(size):
                gx[lead + (slice(j, j + step * (count - 1) + 1, step),)] += g[..., j]
        else:  # window w: the elements w * step ... w * step + size - 1
            for w in range(count):
                gx[lead + (slice(w * step, w * step + size),)] += xp.moveaxis(g[lead + (w,)], -1, d)
        return gx


def unfold(x, dimension, size, step):
    """torch.Tensor.unfold: every window of `size` along `dimension`, `step` apart, as a new last dim.

    The result has x's shape with that dim replaced by the number of windows, (n - size) // step + 1,
    and `size` appended. A view of x, as in torch (overlapping windows share elements: writing
    through it in place needs step >= size, as torch); the gradients of overlapping windows add up.
    """
    op = "unfold"
    size, step = _int_arg(op, "size", size), _int_arg(op, "step", step)
    if size < 0:
        raise ValueError(f"{op}: size is {size} but must be >= 0")
    if step <= 0:
        raise ValueError(f"{op}: step is {step} but must be > 0")
    if x.data.ndim == 0:  # as torch: a 1-element window (or an empty one) of the 0-d value
        normalize_axis(op, dimension, 1)
        if size > 1:
            raise ValueError(f"{op}: maximum size for the 0-d {describe(x)} is 1 but size is {size}")
        return getitem(reshape(x, (1,)), slice(0, size))
    d = normalize_axis(op, dimension, x.data.ndim)
    n = x.data.shape[d]
    if size > n:
        raise ValueError(f"{op}: maximum size for dimension {d} of {describe(x)} is {n} but size is {size}")
    return Unfold.apply(x, d=d, size=size, step=step)


def _match_src(op, x, src, want, what):
    """src as x's dtype (cast, as torch), after checking it has exactly the shape `want` of the slice it fills."""
    if not isinstance(src, Tensor):
        raise TypeError(f"{op}: src must be a Tensor, got {type(src).__name__}")
    if src.device != x.device:
        raise RuntimeError(f"{op}: x is {describe(x)} but src is {describe(src)}")
    if tuple(src.data.shape) != tuple(want):
        raise ValueError(f"{op}: expected src to have the shape {list(want)} of {what} of {describe(x)}, "
                         f"got {describe(src)}")
    return src if src.dtype == x.dtype else cast(src, x.dtype)


def diagonal_scatter(x, src, offset=0, dim1=0, dim2=1):
    """torch.diagonal_scatter: a copy of x with src written on diagonal `offset` of dims (dim1, dim2).

    src has the shape of x.diagonal(offset, dim1, dim2). x's gradient is dy off that diagonal, src's
    dy on it.
    """
    op = "diagonal_scatter"
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    offset = _int_arg(op, "offset", offset)
    nd = x.data.ndim
    a, b = normalize_axis(op, dim1, nd), normalize_axis(op, dim2, nd)
    if a == b:
        raise ValueError(f"{op}: dim1 and dim2 must differ, got {dim1} and {dim2} for {describe(x)}")
    order = [k for k in range(nd) if k not in (a, b)] + [a, b]
    moved = permute(x, order)  # (..., rows, cols)
    rows, cols = x.data.shape[a], x.data.shape[b]
    length = max(0, min(rows, cols - offset) if offset >= 0 else min(rows + offset, cols))
    src = _match_src(op, x, src, moved.data.shape[:-2] + (length,), f"diagonal {offset}")
    xp = get_xp(x.data)
    i = xp.arange(length, dtype=np.int64) + max(-offset, 0)
    out = setitem(moved, (Ellipsis, _wrap(i), _wrap(i + offset)), src)
    inverse = [0] * nd
    for k, o in enumerate(order):
        inverse[o] = k
    return permute(out, inverse)


def select_scatter(x, src, dim, index):
    """torch.select_scatter: a copy of x with src written at x.select(dim, index) (src has that slice's shape)."""
    op = "select_scatter"
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if x.data.ndim == 0:
        raise IndexError(f"{op}: select cannot be applied to the 0-d {describe(x)}")
    d = normalize_axis(op, dim, x.data.ndim)
    index = _int_arg(op, "index", index)
    n = x.data.shape[d]
    if not -n <= index < n:
        raise IndexError(f"{op}: index {index} is out of range for dimension {d} of size {n} ({describe(x)})")
    src = _match_src(op, x, src, x.data.shape[:d] + x.data.shape[d + 1:], f"slice {index} of dim {d}")
    return setitem(x, (slice(None),) * d + (index,), src)


def slice_scatter(x, src, dim=0, start=None, end=None, step=1):
    """torch.slice_scatter: a copy of x with src written at x[..., start:end:step, ...] along `dim` (step > 0)."""
    op = "slice_scatter"
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    d = normalize_axis(op, dim, x.data.ndim)
    start = None if start is None else _int_arg(op, "start", start)
    end = None if end is None else _int_arg(op, "end", end)
    step = _int_arg(op, "step", step)
    if step <= 0:
        raise ValueError(f"{op}: slice step must be positive, got {step}")
    sl = slice(start, end, step)
    length = len(range(x.data.shape[d])[sl])
    src = _match_src(op, x, src, x.data.shape[:d] + (length,) + x.data.shape[d + 1:],
                     f"the slice {start}:{end}:{step} of dim {d}")
    return setitem(x, (slice(None),) * d + (sl,), src)


def narrow_copy(x, dim, start, length):
    """torch.narrow_copy: narrow(x, dim, start, length) as new memory (differentiable)."""
    try:
        return clone(narrow(x, dim, start, length))
    except (IndexError, ValueError, TypeError) as e:
        raise type(e)(f"narrow_copy: {e}") from None


def split_with_sizes(x, split_sizes, dim=0):
    """torch.split_with_sizes: pieces of the given sizes along `dim` (non-negative, summing to its size); views."""
    op = "split_with_sizes"
    if isinstance(split_sizes, numbers.Integral) or not isinstance(split_sizes, (tuple, list)):
        raise TypeError(f"{op}: split_sizes must be a list of ints, got {type(split_sizes).__name__}")
    sizes = [_int_arg(op, "each split size", s) for s in split_sizes]
    if x.data.ndim == 0:
        raise IndexError(f"{op}: cannot split the 0-d {describe(x)}")
    d = normalize_axis(op, dim, x.data.ndim)
    n = x.data.shape[d]
    if any(s < 0 for s in sizes):
        raise ValueError(f"{op}: split_sizes must be non-negative, got {sizes}")
    if sum(sizes) != n:
        raise ValueError(f"{op}: split_sizes {sizes} must sum exactly to the size {n} of dimension {d} of "
                         f"{describe(x)}")
    return split(x, sizes, d)


def sum_to_size(x, *size):
    """torch.Tensor.sum_to_size: x summed down to `size`, which must broadcast (expand) to x's shape.

    The adjoint of expand: leading dims are summed away, size-1 dims summed with keepdim.
    Integers and bools sum as int64 (torch's sum).
    """
    op = "sum_to_size"
    if not size:
        raise TypeError(f"{op}: missing the size argument")
    shape = _shape_arg(size[0] if len(size) == 1 and not isinstance(size[0], numbers.Integral) else size)
    have = x.data.shape
    lead = len(have) - len(shape)
    if lead < 0 or any(s != h and s != 1 for s, h in zip(shape, have[lead:])):
        raise ValueError(f"{op}: size {list(shape)} is not expandable to the shape {list(have)} of {describe(x)}")
    if shape == ():  # torch: a 0-d size is always x.sum() (so an integer 0-d x comes back int64, as sum)
        return x.sum()
    if shape == have:
        return x
    dims = tuple(range(lead)) + tuple(lead + k for k, s in enumerate(shape) if s == 1 and have[lead + k] != 1)
    out = x.sum(dim=dims, keepdim=True) if dims else x
    return reshape(out, shape)


class AsStrided(Function):
    """y[i0, i1, ...] = x.flatten()[offset + sum_k i_k * stride[k]] on a contiguous x (a view of x);
    dx = dy added back at those positions (positions reached twice add up)"""

    is_view = True

    @staticmethod
    def forward(ctx, x, size, stride, offset):
        ctx.shape, ctx.size, ctx.stride, ctx.offset = x.shape, size, stride, offset
        return _strided_view(x.reshape(-1)[offset:], size, [s * x.itemsize for s in stride])

    @staticmethod
    def backward(ctx, g):
        xp = get_xp(g)
        size = ctx.size
        where = xp.full((), ctx.offset, dtype=np.int64)  # each output element's position in x.flatten()
        for k, (s, st) in enumerate(zip(size, ctx.stride)):
            where = where + (xp.arange(s, dtype=np.int64) * st).reshape((-1,) + (1,) * (len(size) - 1 - k))
        gx = xp.zeros(int(np.prod(ctx.shape, dtype=np.int64)), dtype=g.dtype)
        _B.scatter_add(gx, xp.broadcast_to(where, size).ravel(), g.ravel())
        return gx.reshape(ctx.shape)


def as_strided(x, size, stride, storage_offset=None):
    """torch.as_strided on a contiguous x: out[i0, i1, ...] = x.flatten()[offset + sum_k i_k * stride[k]].

    A view of x, as torch's (a write through it changes x; overlapping positions can be written
    only by fill_ / zero_), whose backward adds the gradients of positions reached twice.
    `storage_offset` counts from x's first element (torch: from the start of x's storage; the
    same unless x is a view starting inside a larger tensor, which is refused for an explicit
    offset). Reading outside x's own elements, negative strides and non-contiguous x are refused
    (torch reads a non-contiguous x's storage in memory order, which minigrad's arrays need not share).
    """
    op = "as_strided"
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    size, stride = _shape_arg(size), _shape_arg(stride)
    if len(size) != len(stride):
        raise ValueError(f"{op}: size {list(size)} and stride {list(stride)} must have the same length")
    if any(s < 0 for s in size):
        raise ValueError(f"{op}: sizes must be non-negative, got {list(size)}")
    if any(s < 0 for s in stride):
        raise ValueError(f"{op}: negative strides are not supported (as torch), got {list(stride)}")
    if not x.data.flags.c_contiguous:
        raise RuntimeError(f"{op}: supported on contiguous tensors only, got a non-contiguous {describe(x)} (its "
                           "elements are not in row-major memory order); call .contiguous() first")
    if storage_offset is None:
        offset = 0
    else:
        offset = _int_arg(op, "storage_offset", storage_offset)
        if offset < 0:
            raise ValueError(f"{op}: storage_offset must be non-negative, got {offset}")
        if _start_in_base(x.data):
            raise RuntimeError(f"{op}: {describe(x)} is a view starting inside a larger tensor, where torch counts "
                               "storage_offset from that tensor's start; clone() x first (then it counts from x's)")
    n = x.data.size
    if all(s > 0 for s in size):
        last = offset + sum((s - 1) * st for s, st in zip(size, stride))
        if last >= n:
            raise ValueError(f"{op}: size {list(size)}, stride {list(stride)} and storage offset {offset} reach "
                             f"element {last}, outside the {n} elements of {describe(x)}")
    else:  # no element is read: start anywhere inside x (as_strided of an empty slice needs no memory)
        offset = min(offset, n)
    return AsStrided.apply(x, size=tuple(size), stride=tuple(stride), offset=offset)


def _start_in_base(arr) -> int:
    """How many elements into the memory it views `arr` starts (0 when it owns its memory)."""
    if not hasattr(arr, "ctypes"):  # CuPy: the pointer's offset into its allocation (as_strided's arrays
        return (arr.data.ptr - arr.data.mem.ptr) // arr.itemsize if arr.size else 0  # have no .base)
    root, obj = arr, arr.base
    while obj is not None:  # (through NumPy as_strided's DummyArray, whose .base is the array it views)
        if _B.is_array(obj):
            root = obj
        obj = getattr(obj, "base", None)
    return (arr.ctypes.data - root.ctypes.data) // arr.itemsize


# ---------------------------------------------------------------- in-place forms
def cumulative_(op, x, dim, dtype, scan):
    """x.cumsum_(dim) / x.cumprod_(dim): the scan written into x in its own dtype (torch refuses another dtype)."""
    if dtype is not None and np.dtype(dtype) != x.data.dtype:
        raise TypeError(f"{op}: dtype {np.dtype(dtype)} differs from {describe(x)}; an in-place scan keeps the "
                        "tensor's dtype (as torch)")
    if x.data.dtype.kind == "b":
        raise TypeError(f"{op}: not defined for bool tensors ({describe(x)}), as in torch")
    return x._write_in_place(op, lambda t: cast(scan(t, dim), t.dtype))


def tri_(op, x, diagonal, lower):
    """x.tril_(diagonal) / x.triu_(diagonal): the triangle kept, the rest zeroed, in place."""
    return x._write_in_place(op, lambda t: _tri(op, t, diagonal, lower))


def restride_(op, x, fn):
    """x's shape changed in place to fn(x)'s (squeeze_, unsqueeze_, t_, transpose_): metadata only, as torch.

    The memory is not written; x.data becomes a view of it with the new shape (other views of x keep
    theirs). As torch: refused on a leaf that requires grad in grad mode; the version counter is bumped
    (so a node that saved x refuses backward, as torch's does); on a non-leaf the change is recorded,
    like `record_inplace`: a shadow (a copy of x's old values) takes x's place in the graph and x
    becomes the output of fn's node (Reshape / Permute), so earlier users of x get their gradient in
    x's old shape. Hooks registered on x stay with its old value; `.grad` of a leaf keeps its old shape.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    x._check_inplace(op, writes=False)  # a new view of the same memory: expand()'s result may change shape too
    with _ag.no_grad():
        plain = x.detach()
        changed = fn(plain)  # the checks (errors name fn's op) and the new view of x's memory
    if changed is plain:  # nothing to change (squeeze_ without size-1 dims, t_ of a vector)
        return x
    if _ag._grad_enabled and x.requires_grad:  # a non-leaf (a leaf was refused above)
        old = _wrap(x.data.copy(), True, x.grad_fn)
        old._oi = x._oi
        rec = fn(old).grad_fn
        before = x._vc[0]
        x.data = changed.data
        x._bump()
        rec.out_vc, rec.out_version = x._vc, x._vc[0]
        rec.inplace_from, rec.shadow = before, old
        x.grad_fn, x._oi = rec, 0
        return x
    x.data = changed.data
    return x._bump()


def _check_callable(op, x, fn, *others):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if not callable(fn):
        raise TypeError(f"{op}: expected a callable, got {type(fn).__name__}")
    for t in (x, *others):
        if t.device != "cpu":
            raise RuntimeError(f"{op}: only implemented on CPU tensors (as torch), got {describe(t)}")
        if t.requires_grad:
            raise RuntimeError(f"{op}: can't be called on a tensor that requires grad ({describe(t)}), as in torch; "
                               f"use x.detach().{op}(...) instead")


def _write_python_values(op, x, values):
    """Write the callable's Python results into x (converted to its dtype, floats truncated for ints, as torch)."""
    out = np.empty(len(values), dtype=x.data.dtype)
    for k, v in enumerate(values):
        if not isinstance(v, numbers.Number) or isinstance(v, complex):
            raise TypeError(f"{op}: the callable must return a real number, got {type(v).__name__} {v!r}")
        out[k] = v
    x.data[...] = out.reshape(x.data.shape)
    return x._bump()  # (torch does not bump here; a graph that saved x should see the change)


def apply_(x, fn):
    """torch.Tensor.apply_: x[i] = fn(x[i]) for every element, in place (a Python loop; CPU only, no autograd)."""
    _check_callable("apply_", x, fn)
    return _write_python_values("apply_", x, [fn(v) for v in x.data.reshape(-1).tolist()])


def map_(x, other, fn):
    """torch.Tensor.map_: x[i] = fn(x[i], other[i]) in place, other broadcast to x (same dtype; CPU only)."""
    op = "map_"
    if not isinstance(other, Tensor):
        raise TypeError(f"{op}: other must be a Tensor, got {type(other).__name__}")
    _check_callable(op, x, fn, other)
    if other.dtype != x.dtype:
        raise TypeError(f"{op}: other must have x's dtype: x is {describe(x)}, other is {describe(other)}")
    try:
        b = np.broadcast_to(other.data, x.data.shape)
    except ValueError:
        raise ValueError(f"{op}: other {describe(other)} does not broadcast to the shape of {describe(x)}") from None
    pairs = zip(x.data.reshape(-1).tolist(), b.reshape(-1).tolist())
    return _write_python_values(op, x, [fn(a, c) for a, c in pairs])
