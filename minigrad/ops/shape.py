"""Shape ops: reshape, permute/transpose, squeeze/unsqueeze, expand, indexing, cat/stack/split, casts.

These move values around without changing them, so each backward moves the
gradient back the same way (reshape back, transpose back, scatter back, ...).
"""
from __future__ import annotations

import numbers
import warnings

from .. import backend as _B
from ..autograd import Function, sum_to
from ..tensor import Tensor, _wrap, check_dtype
from .common import c_order, describe, normalize_axis, normalize_dim, require_tensor, to_tensor
from .elementwise import _masked_fill, masked_fill, where
from .. import amp as _amp

get_xp = _B.get_array_module
np = _B.np  # dtypes and host-side index bookkeeping only


class Reshape(Function):
    """y = x viewed with a new shape;  dx = dy reshaped back"""

    is_view = True

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape)


class Permute(Function):
    """y = x with dimensions reordered by `dims`;  dx = dy permuted by the inverse order"""

    is_view = True

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return x.transpose(dims)

    @staticmethod
    def backward(ctx, g):
        inv = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inv[d] = i
        return g.transpose(inv)


class Expand(Function):
    """y = x broadcast to `shape`;  dx = dy summed over the broadcast dimensions"""

    is_view = True

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return get_xp(x).broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, g):
        return sum_to(g, ctx.shape)


class TorchOrder:
    """An index mixing integers with index arrays, in torch's order: `basic` (the integers, slices,
    None and ..., each index array kept as a full slice `:`) first, as a view, then `advanced` (the
    index arrays, with `:` for every other dim left) on that view.

    NumPy counts an integer next to index arrays as one more index array, so `x[0, :, [0, 1]]` on
    a (2, 3, 4) x broadcasts (0, [0, 1]) to (2,) and, the two being apart, puts that dim first:
    (2, 3). torch selects the integers first (a view of shape (3, 4)), then indexes: (3, 2).
    """

    __slots__ = ("basic", "advanced")

    def __init__(self, basic, advanced):
        self.basic, self.advanced = basic, advanced

    def __repr__(self):
        return f"TorchOrder({self.basic!r}, then {self.advanced!r})"


def torch_order(idx):
    """The backend index for a normalized index tuple: a `TorchOrder` where NumPy would place the
    result's dims differently from torch, else the tuple itself (its one entry when it has one).

    They agree unless the integers and index arrays are apart (a slice or None between them;
    normalize_index has written any `...` as slices): an unbroken run of both puts the broadcast
    dims where the run stands in either rule.
    """
    if len(idx) == 1:
        return idx[0]
    if int not in map(type, idx):  # (the common case, checked fast: no integers)
        return idx
    ints = [k for k, i in enumerate(idx) if type(i) is int]
    arrays = [k for k, i in enumerate(idx) if _B.is_array(i)]
    if not ints or not arrays or max(ints + arrays) - min(ints + arrays) + 1 == len(ints) + len(arrays):
        return idx
    basic = tuple(slice(None) if _B.is_array(i) else i for i in idx)
    # (the view keeps a dim for every slice and None, whole: `:` there)
    advanced = tuple(i if i is Ellipsis or _B.is_array(i) else slice(None) for i in idx if type(i) is not int)
    return TorchOrder(basic, advanced)


def split_index(arr, index):
    """(arr, index) to read or write arr[index] with; for a `TorchOrder`, (the view arr[basic], advanced)."""
    if type(index) is TorchOrder:
        return arr[index.basic], index.advanced
    return arr, index


class GetItem(Function):
    """y = x[index];  dx = zeros with dy scattered back (repeated indices accumulate)"""

    is_view = True

    @staticmethod
    def forward(ctx, x, index, basic):
        ctx.shape, ctx.index, ctx.basic = x.shape, index, basic
        target, index = split_index(x, index)
        y = target[index]
        if basic and not _B.is_array(y):  # an int for every dim: NumPy gives a scalar (a copy); with `...`
            y = x[(index if type(index) is tuple else (index,)) + (Ellipsis,)]  # a 0-d view, as torch's x[i]
        return y if basic else c_order(y)  # (an integer-array index copies: in C order, as torch)

    @staticmethod
    def backward(ctx, g):
        xp = get_xp(g)
        gx = xp.zeros(ctx.shape, dtype=g.dtype)
        if ctx.basic:  # slices and ints never repeat an element: plain assignment
            gx[ctx.index] = g
        else:
            target, index = split_index(gx, ctx.index)  # (a view of gx: the scatter lands in gx)
            _B.scatter_add(target, index, g)
        return gx


def scalar_position_as_view(index):
    """index, with `...` appended when it holds only integers: a 0-d view, into which NumPy, like torch, writes
    a value with leading size-1 dims (`x[0] = t` with t of shape (1,)); at a scalar position it refuses that."""
    if index.__class__ is int or (index.__class__ is tuple and all(i.__class__ is int for i in index)):
        return (index if index.__class__ is tuple else (index,)) + (Ellipsis,)
    return index


class SetItem(Function):
    """y = x with y[index] = v (x itself unchanged);  dx = dy with the written places zeroed, dv = dy[index]

    (summed back to v's shape by the engine when v was broadcast). A position an integer-array
    index writes twice keeps the last value, as in NumPy; each of those v entries gets dy there.
    """

    @staticmethod
    def forward(ctx, x, v, index):
        ctx.index, ctx.v_ndim = index, v.ndim
        y = x.copy()
        target, index = split_index(y, index)
        target[scalar_position_as_view(index)] = v
        return y

    @staticmethod
    def backward(ctx, g):
        need = ctx.needs_input_grad
        gx = gv = None
        if need[0]:
            gx = get_xp(g).array(g)  # a copy, and an array even for a NumPy scalar (0-d arithmetic gives those)
            target, index = split_index(gx, ctx.index)
            target[index] = 0
        if need[1]:
            target, index = split_index(g, ctx.index)
            gv = target[index]
            if gv.ndim < ctx.v_ndim:  # v had extra leading 1s (NumPy drops them when assigning)
                gv = gv.reshape((1,) * (ctx.v_ndim - gv.ndim) + gv.shape)
        return gx, gv


def check_write_dtype(op, x, index, value):
    """TypeError where torch refuses `x[index] = value` for a tensor value of another dtype (a RuntimeError there).

    torch writes through the view that basic indexing selects (ints, slices, None, ..., Python bools,
    0-d integer tensors) with copy_, which casts any dtype to x's. With index tensors (a 0-d bool
    tensor becomes one) it calls index_put_, which wants one dtype, except for a single boolean mask
    (not uint8) and a one-element value on the CPU: that is masked_fill_, which casts again.
    """
    entries = index if index.__class__ is tuple else (index,)
    tensors = []
    for i in entries:
        if i is None or i is Ellipsis or isinstance(i, (slice, bool, np.bool_, numbers.Integral)):
            continue
        a = i.data if isinstance(i, Tensor) else i
        if not _B.is_array(a):
            a = np.asarray(a)
        if a.ndim == 0 and a.dtype.kind in "iu" and a.dtype != np.uint8:  # a select, as an int
            continue
        tensors.append(a)
    if not tensors:
        return
    if len(tensors) == 1 and tensors[0].dtype.kind == "b" and tensors[0].ndim and value.data.size == 1 \
            and value.device == "cpu":
        return
    raise TypeError(f"{op}: index_put requires the source and destination dtypes match: cannot write "
                    f"{describe(value)} into {describe(x)} at index tensors (as torch; only a basic index, or "
                    "a single boolean mask with a one-element value, casts); convert it with .to(x.dtype)")


def setitem(x, index, value):
    """x with x[index] = value, out of place (what `x[index] = value` records in a graph)."""
    v = value if isinstance(value, Tensor) else to_tensor(value, x, "__setitem__")
    if not isinstance(value, Tensor) and v.dtype != x.dtype:  # a constant (list, array): cast, as NumPy would
        v = _wrap(v.data.astype(x.dtype))
    if v.device != x.device:
        raise RuntimeError(f"__setitem__: tensors are on different devices ({x.device} and {v.device})")
    if v.dtype != x.dtype:  # torch's rule (see check_write_dtype): cast, differentiably between float dtypes
        check_write_dtype("__setitem__", x, index, v)  # (on the index as given: True is basic, tensor(True) not)
        v = cast(v, x.data.dtype)
    expanded = expand_0d_masks(x.data.shape, index, get_xp(x.data))
    if expanded is not None:  # a 0-d mask: write through a new size-1 dim (see expand_0d_masks)
        return reshape(setitem(reshape(x, expanded[0]), expanded[2], v), x.data.shape)
    idx, _ = normalize_index(index, x, op="__setitem__")
    _check_index_bounds(x, idx, op="__setitem__")
    try:
        return SetItem.apply(x, v, index=torch_order(idx))
    except (IndexError, ValueError) as e:
        raise type(e)(f"__setitem__: cannot assign {describe(v)} to {describe(x)} at index {index!r} ({e})") from None


class Cat(Function):
    """y = concatenate(xs, dim);  dx_k = the slice of dy that x_k filled"""

    @staticmethod
    def forward(ctx, *xs, dim):
        ctx.dim = dim
        ctx.bounds = np.cumsum([x.shape[dim] for x in xs])[:-1].tolist()
        return c_order(get_xp(xs[0]).concatenate(xs, axis=dim))  # (NumPy keeps a shared input layout; torch: C)

    @staticmethod
    def backward(ctx, g):
        return tuple(get_xp(g).split(g, ctx.bounds, axis=ctx.dim))


class Stack(Function):
    """y = stack(xs, dim);  dx_k = dy[..., k, ...] (index k along dim)"""

    @staticmethod
    def forward(ctx, *xs, dim):
        ctx.dim = dim
        return c_order(get_xp(xs[0]).stack(xs, axis=dim))  # (NumPy keeps a shared input layout; torch: C)

    @staticmethod
    def backward(ctx, g):
        lead = (slice(None),) * ctx.dim
        return tuple(g[lead + (k,)] for k in range(g.shape[ctx.dim]))


class Cast(Function):
    """y = x converted to another float dtype;  dx = dy converted back"""

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.dtype = x.dtype
        with _B.np.errstate(over="ignore"):  # 1e300 in float32 is inf, silently, as torch
            return x.astype(dtype, order="C")  # (one copy either way; 'K' would lay out an expanded x oddly)

    @staticmethod
    def backward(ctx, g):
        with _B.np.errstate(over="ignore"):
            return g.astype(ctx.dtype)


class ToDevice(Function):
    """y = x copied to another device;  dx = dy copied back"""

    @staticmethod
    def forward(ctx, x, device):
        ctx.device = _B.device_of(x)
        return _B.to_device(x, device)

    @staticmethod
    def backward(ctx, g):
        return _B.to_device(g, ctx.device)


class Clone(Function):
    """y = a copy of x;  dx = dy"""

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, g):
        return g


# ---------------------------------------------------------------- wrappers
def _shape_arg(shape):
    if isinstance(shape, numbers.Integral):
        return (int(shape),)
    return tuple(int(s) for s in shape)


def reshape(x, shape):
    """x with a new shape of the same number of elements (one entry may be -1)."""
    shape = _shape_arg(shape)
    if shape == x.data.shape:
        return x
    known = 1
    for s in shape:
        if s != -1:
            known *= s
    n = x.data.size
    if shape.count(-1) > 1 or any(s < -1 for s in shape):
        bad = True
    elif -1 in shape:  # the -1 entry takes whatever is left
        bad = known == 0 or n % known != 0
    else:
        bad = known != n
    if bad:
        raise ValueError(f"reshape: cannot reshape {describe(x)} ({n} elements) into shape {shape}")
    return Reshape.apply(x, shape=shape)


def view_dtype(x, dtype):
    """torch.Tensor.view(dtype): x's bytes read as `dtype` (shared memory; not differentiable, as torch).

    With a different element size the last dimension shrinks or grows by the size ratio
    (it must be contiguous, and divisible when the new elements are larger).
    """
    op = "view"
    dt = check_dtype(dtype, op)
    a = x.data
    old, new = a.dtype.itemsize, dt.itemsize
    if old != new:
        what = f"to view {a.dtype} as {dt} (different element sizes)"
        if a.ndim == 0:
            raise RuntimeError(f"{op}: a 0-d tensor ({describe(x)}) cannot be viewed as {dt} (different element sizes)")
        if a.shape[-1] != 1 and a.strides[-1] != old:
            raise RuntimeError(f"{op}: the last dimension of {describe(x)} must be contiguous {what}, "
                               f"but its stride is {a.strides[-1] // old} elements")
        if new > old and (a.shape[-1] * old) % new:
            raise RuntimeError(f"{op}: the last dimension of {describe(x)} ({a.shape[-1]}) must be divisible by "
                               f"{new // old} {what}")
    try:
        out = a.view(dt)
    except ValueError as e:  # e.g. memory not aligned for the wider type
        raise RuntimeError(f"{op}: cannot view {describe(x)} as {dt}: {e}") from None
    return _wrap(out, False, None, x._vc)  # shares x's version counter: a write through it is seen


def view(x, shape):
    """torch.Tensor.view: x with a new shape, always sharing x's memory (never a copy).

    As torch, a shape that x's strides cannot express without copying (e.g. flattening a
    transpose) is refused instead of copied: a write through the result must reach x.
    """
    out = reshape(x, shape)
    arr, src = out.data, x.data
    # A view's .base is the array owning the memory (NumPy and CuPy collapse chains of views to it);
    # an array whose base is another kind of object (a buffer) is itself the owner its views point to.
    owner = src if src.base is None or not isinstance(src.base, type(src)) else src.base
    if out is not x and arr.size and arr.base is not owner:
        raise RuntimeError(f"view: shape {tuple(arr.shape)} is not compatible with the size and strides of "
                           f"{describe(x)} (at least one dimension spans two non-contiguous parts of its memory); "
                           "use .reshape(...), which copies when it must, or .contiguous().view(...)")
    return out


def flatten(x, start_dim=0, end_dim=-1):
    """Merge dims start_dim..end_dim into one."""
    nd = x.data.ndim
    if nd == 0:
        return reshape(x, (1,))
    s = normalize_axis("flatten", start_dim, nd)
    e = normalize_axis("flatten", end_dim, nd)
    if s > e:  # (the slice below would be empty and insert a size-1 dim instead)
        raise ValueError(f"flatten: start_dim ({start_dim}) cannot come after end_dim ({end_dim}) for {describe(x)}")
    shape = x.data.shape
    merged = 1
    for d in shape[s:e + 1]:
        merged *= d
    return reshape(x, shape[:s] + (merged,) + shape[e + 1:])


def permute(x, dims):
    """Reorder dimensions (torch.permute)."""
    nd = x.data.ndim
    dims = tuple(dims)
    if len(dims) != nd:
        raise ValueError(f"permute: got {len(dims)} dims {dims} for {describe(x)} with {nd} dimensions")
    norm = normalize_dim("permute", dims, nd) if nd else ()
    if len(norm) != nd:
        raise ValueError(f"permute: dims {dims} must be a permutation of 0..{nd - 1}")
    dims = tuple(d % nd for d in dims) if nd else ()
    if dims == tuple(range(nd)):
        return x
    return Permute.apply(x, dims=dims)


def transpose(x, dim0, dim1):
    """Swap two dimensions."""
    nd = x.data.ndim
    a = normalize_axis("transpose", dim0, max(nd, 1))  # a 0-d tensor takes dims 0 and -1, as torch
    b = normalize_axis("transpose", dim1, max(nd, 1))
    if nd == 0:
        return permute(x, [])
    dims = list(range(nd))
    dims[a], dims[b] = dims[b], dims[a]
    return permute(x, dims)


def t(x):
    """torch.t: transpose a 2-D tensor; 0-D and 1-D tensors come back as they are."""
    require_tensor("t", x)  # (an array's .data is a memoryview: it would pass below and come back an array)
    if x.data.ndim > 2:
        raise ValueError(f"t: expects a tensor with at most 2 dimensions, got {describe(x)}; "
                         "use transpose(dim0, dim1)")
    return transpose(x, 0, 1) if x.data.ndim == 2 else x


def flip(x, dims):
    """torch.flip: reverse the order of elements along `dims` (an int or a tuple); a reversing slice."""
    require_tensor("flip", x)
    ds = normalize_dim("flip", dims, x.data.ndim)
    # a new C-ordered tensor, as torch's flip (a reversing view would let writes reach x, and refuse .view)
    if not ds:
        return clone(x)
    return clone(getitem(x, tuple(slice(None, None, -1) if d in ds else slice(None) for d in range(x.data.ndim))))


def roll(x, shifts, dims=None):
    """torch.roll: shift elements along `dims` cyclically (dims=None: over the flattened tensor)."""
    require_tensor("roll", x)  # e.g. DeepDream's torch.roll(img.data, ...): .data is the raw array here
    if dims is None:
        if not isinstance(shifts, numbers.Integral):
            raise TypeError(f"roll: without dims, shifts must be one int, got {shifts!r}")
        return reshape(roll(flatten(x), shifts, 0), x.data.shape)
    shifts = (shifts,) if isinstance(shifts, numbers.Integral) else tuple(shifts)
    dims = (dims,) if isinstance(dims, numbers.Integral) else tuple(dims)
    if len(shifts) != len(dims):
        raise ValueError(f"roll: shifts {shifts} and dims {dims} must have the same length")
    x0 = x
    for shift, dim in zip(shifts, dims):
        if not isinstance(shift, numbers.Integral):
            raise TypeError(f"roll: shifts must be ints, got {shift!r}")
        d = normalize_axis("roll", dim, x.data.ndim)
        n = x.data.shape[d]
        k = int(shift) % n if n else 0
        if k:  # the last k elements move to the front
            lead = (slice(None),) * d
            x = cat([getitem(x, lead + (slice(n - k, None),)), getitem(x, lead + (slice(0, n - k),))], dim=d)
    return clone(x) if x is x0 else x  # (no shift at all: still a new tensor, as torch's roll)


def index_select(input, dim, index):  # noqa: A002 - torch's keyword: index_select(input=x, index=i, dim=0)
    """torch.index_select: the entries of x at the 1-D integer tensor `index` along `dim` (repeats allowed)."""
    x = input
    op = "index_select"
    require_tensor(op, x)
    _check_vector_index(op, index)
    d = normalize_axis(op, dim, max(x.data.ndim, 1))
    _check_positions(op, x, d, index)
    if x.data.ndim == 0:  # torch: exactly one index into a 0-d tensor, and a 0-d result
        if index.data.size != 1:
            raise ValueError(f"{op}: an index into the 0-d {describe(x)} must hold one value, got {describe(index)}")
        return clone(x)
    return getitem(x, (slice(None),) * d + (index.reshape(-1),))


def _check_vector_index(op, index):
    """TypeError unless `index` is a Tensor of integers with at most one dimension (index_select, index_add)."""
    if not isinstance(index, Tensor) or index.data.dtype.kind not in "iu" or index.data.ndim > 1:
        got = describe(index) if isinstance(index, Tensor) else type(index).__name__
        raise TypeError(f"{op}: index must be a 1-D integer tensor, got {got}")


def repeat(x, *sizes):
    """torch.Tensor.repeat: tile x `sizes[i]` times along dim i (sizes may add leading dims).

    Built from views: each dim s becomes (r, s) by broadcasting, then (r * s) by a reshape, so
    the gradient of every copy sums back into x (the expand's backward). The result is a new
    tensor, as torch's: the final clone keeps it from aliasing x (a reshape of the broadcast can
    be a zero-stride view of x's memory).
    """
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if any(isinstance(r, bool) or not isinstance(r, numbers.Integral) or r < 0 for r in sizes):
        raise ValueError(f"repeat: repeats must be non-negative ints, got {sizes}")
    shape = x.data.shape
    if len(sizes) < len(shape):
        raise ValueError(f"repeat: needs at least one repeat per dimension of {describe(x)}, got {len(sizes)}")
    full = (1,) * (len(sizes) - len(shape)) + shape
    y = reshape(x, tuple(v for s in full for v in (1, s)))
    y = expand(y, tuple(v for r, s in zip(sizes, full) for v in (r, s)))
    return clone(reshape(y, tuple(r * s for r, s in zip(sizes, full))))


def pad(x, pad, mode="constant", value=0.0):  # noqa: A002 - torch's names
    """torch.nn.functional.pad: `pad` = (left, right) for the last dim, then the dim before it, and so on.

    mode="constant" fills with `value` (any number of dims; negative amounts crop). The other
    modes, as torch, pad the last 1-3 dims of a batched or unbatched input (2 pads: 2-D or
    3-D input; 4 pads: 3-D or 4-D; 6 pads: 4-D or 5-D):
      "reflect"   mirrors without repeating the edge (amount < size): [a b c d] -> [c b | a b c d | c]
      "replicate" repeats the edge value: [a a | a b c d | d]
      "circular"  wraps around (amount <= size): [c d | a b c d | a]
    A negative amount crops (for reflect and replicate, torch folds the positions of the
    uncropped dim: (-1, 2) on [a b c] gives [b c b a]). Built from slices, cat and index
    selection, so the gradient of every copy sums back into the value it came from.
    """
    op = "pad"
    require_tensor(op, x)  # e.g. HF's F.pad(bias.data, ...): .data is the raw array here
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise ValueError(f"{op}: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) > 2 * x.data.ndim or any(isinstance(p, bool) or not isinstance(p, numbers.Integral)
                                                         for p in pad):
        raise ValueError(f"{op}: pad must be an even number (at most {2 * x.data.ndim}) of ints for {describe(x)}, "
                         f"got {pad}")
    if mode != "constant" and (len(pad) not in (2, 4, 6) or x.data.ndim not in (len(pad) // 2 + 1, len(pad) // 2 + 2)):
        raise ValueError(f"{op}: mode={mode!r} pads the last 1-3 dims of a batched or unbatched input: {len(pad)} pad "
                         f"values need a {len(pad) // 2 + 1}-D or {len(pad) // 2 + 2}-D tensor, got {describe(x)}")
    if mode in ("reflect", "replicate"):
        _check_fold_pad(op, mode, x, pad)
    copied = False  # until a cat / index_select, x is the input or a crop of it (a view)
    for k in range(len(pad) // 2):
        d = x.data.ndim - 1 - k
        left, right = int(pad[2 * k]), int(pad[2 * k + 1])
        n = x.data.shape[d]
        crop_l, crop_r = max(-left, 0), max(-right, 0)
        folds = mode in ("reflect", "replicate")  # as torch: positions -left .. n+right-1 of the uncropped dim, folded
        if (n + left + right < 0) if folds else (crop_l + crop_r > n):
            raise ValueError(f"{op}: cropping ({left}, {right}) removes more than dimension {d} of {describe(x)} "
                             f"holds ({n})")
        if not folds:  # crop first; then left, right >= 0
            if crop_l or crop_r:
                x = getitem(x, (slice(None),) * d + (slice(crop_l, n - crop_r),))
            left, right, n = max(left, 0), max(right, 0), n - crop_l - crop_r
        if mode == "constant":
            before = [_filled_like(x, d, left, value)] if left > 0 else []
            after = [_filled_like(x, d, right, value)] if right > 0 else []
            if before or after:
                x, copied = cat(before + [x] + after, dim=d), True
        elif left or right:
            x = index_select(x, d, _wrap(get_xp(x.data).asarray(_pad_positions(op, mode, n, left, right, d, x))))
            copied = True
    return x if copied else clone(x)  # a new C-ordered tensor, as torch's pad, also for zero or crop-only pads


def _check_fold_pad(op, mode, x, pad):
    """torch's input rules for reflect / replicate: channel and padded dims non-empty (a batch of 0 is fine),
    no padded size negative, and not every padded size 0 (negative amounts may not crop everything)."""
    k = len(pad) // 2
    first = x.data.ndim - k - 1  # the channel dim; a batched input has one more dim in front
    for d in range(first, x.data.ndim):
        if x.data.shape[d] == 0:
            what = "cannot pad dimension" if d > first else "needs a non-empty channel dimension"
            raise ValueError(f"{op}: mode={mode!r} {what} {d} of {describe(x)}: it is empty "
                             "(only a batch dimension may be empty)")
    sizes = [x.data.shape[x.data.ndim - 1 - j] + pad[2 * j] + pad[2 * j + 1] for j in range(k)][::-1]
    if any(s < 0 for s in sizes) or not any(s > 0 for s in sizes):
        raise ValueError(f"{op}: mode={mode!r} with pad {pad} leaves the padded dims of {describe(x)} with sizes "
                         f"{sizes}; negative amounts may not crop everything (each size >= 0, at least one > 0)")


def _pad_positions(op, mode, n, left, right, d, x):
    """Which of the n positions each padded position copies: -left .. n+right-1 folded into 0..n-1 (amounts may be < 0)."""
    if n == 0:
        raise ValueError(f"{op}: mode={mode!r} cannot pad dimension {d} of {describe(x)}: it is empty")
    if mode == "reflect" and max(left, right) >= n:
        raise ValueError(f"{op}: mode='reflect' needs each amount below the size of dimension {d} ({n}), got "
                         f"({left}, {right}) for {describe(x)}")
    if mode == "circular" and max(left, right) > n:
        raise ValueError(f"{op}: mode='circular' needs each amount at most the size of dimension {d} ({n}), got "
                         f"({left}, {right}) for {describe(x)}")
    p = np.arange(-left, n + right)
    if mode == "replicate":
        return np.clip(p, 0, n - 1)
    if mode == "circular":
        return p % n
    p = np.abs(p)  # reflect: -1 -> 1, then n -> n - 2, ... (the edge itself is not repeated)
    return np.where(p > n - 1, 2 * (n - 1) - p, p)


def _filled_like(x, d, amount, value):
    """A constant tensor shaped like x except `amount` positions along dim d (pad's margins)."""
    shape = x.data.shape[:d] + (amount,) + x.data.shape[d + 1:]
    return _wrap(get_xp(x.data).full(shape, value, dtype=x.data.dtype))


def masked_select(x, mask):
    """torch.masked_select: the 1-D tensor of x's elements where the bool `mask` is true (they broadcast)."""
    if not isinstance(mask, Tensor) or mask.data.dtype.kind != "b":
        got = describe(mask) if isinstance(mask, Tensor) else type(mask).__name__
        raise TypeError(f"masked_select: mask must be a bool tensor, got {got}")
    try:
        shape = np.broadcast_shapes(x.data.shape, mask.data.shape)
    except ValueError:
        raise ValueError(f"masked_select: mask {describe(mask)} and {describe(x)} do not broadcast") from None
    xb = broadcast_to(x, shape) if x.data.shape != shape else x
    mb = mask if mask.data.shape == shape else _wrap(get_xp(mask.data).broadcast_to(mask.data, shape))
    if not shape:  # 0-d: NumPy-style indexing takes no 0-d mask; as one-element vectors
        xb, mb = reshape(xb, (1,)), _wrap(mb.data.reshape(1))
    return getitem(xb, mb)


def _tri(op, x, diagonal, lower):
    require_tensor(op, x)
    if x.data.ndim < 2:
        raise ValueError(f"{op}: expects a tensor with at least 2 dimensions (..., rows, cols), got {describe(x)}")
    if not isinstance(diagonal, numbers.Integral):
        raise TypeError(f"{op}: diagonal must be an int, got {diagonal!r}")
    xp = get_xp(x.data)
    n, m = x.data.shape[-2:]
    if lower:
        keep = xp.tri(n, m, k=int(diagonal), dtype=bool)  # j <= i + diagonal
    else:
        keep = ~xp.tri(n, m, k=int(diagonal) - 1, dtype=bool)  # j >= i + diagonal
    out = where(_wrap(keep), x, _wrap(xp.zeros((), dtype=x.data.dtype)))
    return out.contiguous()  # (C order, as torch, for a permuted x)


def tril(x, diagonal=0):
    """torch.tril: the lower triangle (j <= i + diagonal) of the last two dims, zeros elsewhere (inf too)."""
    return _tri("tril", x, diagonal, True)


def triu(x, diagonal=0):
    """torch.triu: the upper triangle (j >= i + diagonal) of the last two dims, zeros elsewhere."""
    return _tri("triu", x, diagonal, False)


def squeeze(x, dim=None):
    """Remove size-1 dimensions (all of them, or those in `dim` that have size 1)."""
    shape = x.data.shape
    dims = range(len(shape)) if dim is None else normalize_dim("squeeze", dim, len(shape))
    drop = {d for d in dims if shape[d] == 1}
    return reshape(x, tuple(s for i, s in enumerate(shape) if i not in drop))


def unsqueeze(x, dim):
    """Insert a size-1 dimension at position `dim` (negative counts from the end of the result)."""
    nd = x.data.ndim
    d = normalize_axis("unsqueeze", dim, nd + 1)
    shape = x.data.shape
    return reshape(x, shape[:d] + (1,) + shape[d:])


def expand(x, sizes):
    """Broadcast to `sizes` (torch.expand): -1 keeps a dimension; new dimensions go in front."""
    sizes = _shape_arg(sizes)
    shape = x.data.shape
    if len(sizes) < len(shape):
        raise ValueError(f"expand: {describe(x)} cannot be expanded to fewer dimensions {sizes}")
    lead = len(sizes) - len(shape)
    target = list(sizes)
    for i, s in enumerate(shape):
        want = sizes[lead + i]
        if want == -1:
            target[lead + i] = s
        elif s != 1 and s != want:
            raise ValueError(f"expand: dimension {i} of {describe(x)} has size {s}, which cannot expand to {want} "
                             f"(only size-1 dimensions expand); target {sizes}")
    if any(t < 0 for t in target[:lead]):
        raise ValueError(f"expand: -1 is not allowed for new leading dimensions, got {sizes}")
    return broadcast_to(x, tuple(target))


def broadcast_to(x, shape):
    """Broadcast to `shape` with NumPy's rules."""
    shape = _shape_arg(shape)
    if shape == x.data.shape:
        return x
    try:
        ok = np.broadcast_shapes(x.data.shape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"broadcast_to: cannot broadcast {describe(x)} to shape {shape}")
    return Expand.apply(x, shape=shape)


def _index_width(i) -> int:
    """How many dims of the indexed tensor one index entry consumes (a boolean mask: its ndim)."""
    if i is None or i is Ellipsis:
        return 0
    if isinstance(i, (slice, numbers.Integral)):
        return 1
    a = i.data if isinstance(i, Tensor) else i
    if not _B.is_array(a):
        a = np.asarray(a)
    return a.ndim if a.dtype.kind == "b" or a.dtype == np.uint8 else 1


def _mask_start(index, k, ndim) -> int:
    """The first dim of the indexed tensor that the boolean mask index[k] covers."""
    if any(i is Ellipsis for i in index[:k]):
        return ndim - sum(_index_width(i) for i in index[k:])
    return sum(_index_width(i) for i in index[:k])


_PLAIN_INDEX = (int, slice, type(None), type(Ellipsis))  # entries that are never 0-d masks (checked first: fast)


def _is_0d_mask(i) -> bool:
    """Is this index entry a 0-d boolean mask (True, np.True_, or a 0-d bool tensor or array such as `v > 0.3`;
    a 0-d uint8 one too, which torch reads as a mask)?"""
    if i.__class__ in _PLAIN_INDEX:
        return False
    if isinstance(i, (bool, np.bool_)):
        return True
    a = i.data if isinstance(i, Tensor) else i
    return _B.is_array(a) and a.ndim == 0 and (a.dtype.kind == "b" or a.dtype == np.uint8)


def expand_0d_masks(shape, index, xp):
    """(new_shape, new_axes, new_index): each 0-d boolean mask made an integer index of a new size-1 dim
    (at the positions `new_axes` of `new_shape`); None when the index holds no 0-d mask.

    A 0-d mask covers no dim of x (torch's and NumPy's rule): it adds a dim of size 1 (True) or
    0 (False) where it stands, `x[True]` being x[None] and `x[False]` an empty copy. Inserting a
    size-1 dim into x there (a reshape, so a view) and indexing it at the positions [0] (True) or
    [] (False) is the same index written with integer positions, which the rest of indexing (its
    bounds check, which walks x's dims, and the backward scatter) already handles.
    """
    entries = index if index.__class__ is tuple else (index,)
    for i in entries:  # (a plain loop: this runs on every x[...], and ints/slices are never masks)
        if i.__class__ not in _PLAIN_INDEX and _is_0d_mask(i):
            break
    else:
        return None
    widths = [0 if _is_0d_mask(i) else _index_width(i) for i in entries]
    new_shape, new_axes, new_index, dim = list(shape), [], [], 0
    for i, w in zip(entries, widths):
        if i is Ellipsis:
            dim += max(len(shape) - sum(widths), 0)
        if _is_0d_mask(i):
            keep = bool(i.data if isinstance(i, Tensor) else i)
            at = min(dim, len(shape)) + (len(new_shape) - len(shape))  # earlier masks' new dims come before
            new_shape.insert(at, 1)
            new_axes.append(at)  # (later masks stand further right, so earlier positions stay valid)
            i = xp.zeros(1 if keep else 0, dtype=np.int64)  # positions in the new dim: [0] or none
        dim += w
        new_index.append(i)
    return tuple(new_shape), tuple(new_axes), tuple(new_index)


def normalize_index(index, x, op="getitem", select_0d=True):
    """Turn a user index into one the backend understands; report whether it is basic.

    Tensors and lists become arrays on x's device; boolean masks become integer
    index arrays (so the backward scatter sees explicit positions); a 0-d integer tensor
    becomes a Python int (`select_0d`: torch's indexing reads it so; index_put's indices stay
    tensors). `torch_order` then fixes where the result's dims go.
    """
    if not isinstance(index, tuple):
        index = (index,)
    if sum(i is Ellipsis for i in index) > 1:
        raise IndexError(f"{op}: an index can only have a single ellipsis ('...'), got {index!r}")
    xp = get_xp(x.data)
    out = []
    basic = True
    for k, i in enumerate(index):
        if i is None or i is Ellipsis or isinstance(i, slice):
            out.append(i)
            continue
        if isinstance(i, numbers.Integral) and not isinstance(i, bool):
            out.append(int(i))
            continue
        arr = i.data if isinstance(i, Tensor) else i
        if not _B.is_array(arr):
            arr = np.asarray(arr)
        if arr.dtype == np.uint8:  # torch reads a uint8 index as a mask (old code's ByteTensor masks), not positions
            warnings.warn(f"{op}: indexing with dtype uint8 is deprecated, please use a dtype bool instead "
                          "(a uint8 index is read as a boolean mask, as torch does)", UserWarning, stacklevel=4)
            arr = arr != 0
        if arr.dtype.kind == "b":
            if arr.ndim == 0:
                raise IndexError(f"{op}: a 0-d boolean index is not supported")
            # The mask must match the dims it covers (as NumPy and torch insist): as positions
            # below, a shorter mask would otherwise pass silently.
            start = _mask_start(index, k, x.data.ndim)
            covered = x.data.shape[start:start + arr.ndim]
            if tuple(arr.shape) != tuple(covered):
                raise IndexError(f"{op}: boolean mask of shape {list(arr.shape)} does not match the shape "
                                 f"{list(covered)} of the dims it indexes (from dim {start}) of {describe(x)}")
            out.extend(xp.asarray(a) for a in arr.nonzero())
        elif arr.dtype.kind in "iu":
            if arr.ndim == 0 and select_0d:  # torch reads a 0-d integer tensor as a plain integer (a select)
                out.append(int(arr))
                continue
            out.append(xp.asarray(arr))
        else:
            raise IndexError(f"{op}: indices must be integers, slices, None, ..., or integer/bool "
                             f"tensors; got {arr.dtype}")
        basic = False
    if not basic and any(i is Ellipsis for i in out):
        # `...` as the `:`s it stands for: NumPy counts even an empty `...` as parting the index arrays
        # around it (their dims then go first); torch looks only at the dims (x[:, [0], ..., [0]]).
        k = next(k for k, i in enumerate(out) if i is Ellipsis)
        width = x.data.ndim - sum(1 for i in out if i is not None and i is not Ellipsis)
        out[k:k + 1] = [slice(None)] * max(width, 0)
    return tuple(out), basic


def _check_index_bounds(x, index, op="getitem"):
    """Check integer-array indices against the shape (CuPy would silently wrap them)."""
    shape = x.data.shape
    dim = 0
    n_consumed = sum(1 for i in index if i is not None and i is not Ellipsis)
    for i in index:
        if i is Ellipsis:
            dim += max(len(shape) - n_consumed, 0)  # more indices than dims: caught just below
            continue
        if i is None:
            continue
        if dim >= len(shape):
            raise IndexError(f"{op}: too many indices for {describe(x)}")
        size = shape[dim]
        if isinstance(i, int):
            if not -size <= i < size:
                raise IndexError(f"{op}: index {i} is out of range for dimension {dim} of size {size} ({describe(x)})")
        elif _B.is_array(i) and i.size:
            lo, hi = int(i.min()), int(i.max())
            if lo < -size or hi >= size:
                bad = hi if hi >= size else lo
                raise IndexError(f"{op}: index {bad} is out of range for dimension {dim} of size {size} "
                                 f"({describe(x)})")
        dim += 1


class Gather(Function):
    """y = x gathered along `dim` at `index` (torch.gather);  dx = dy added back where each value was read"""

    @staticmethod
    def forward(ctx, x, index, dim):
        # A full advanced index: `index` along dim, and along every other dim d the positions
        # 0..index.shape[d]-1 (broadcast), so y[i, j, k] = x[index[i, j, k], j, k] for dim 0.
        where = _along(get_xp(x), index, dim)
        ctx.shape, ctx.where = x.shape, where
        return x[where]

    @staticmethod
    def backward(ctx, g):
        gx = get_xp(g).zeros(ctx.shape, dtype=g.dtype)
        _B.scatter_add(gx, ctx.where, g)  # a value read twice gets both gradients
        return gx


def gather(x, dim, index, *, sparse_grad=False):
    """torch.gather: out[i][j][k] = x[index[i][j][k]][j][k] for dim=0 (likewise for other dims).
    (sparse_grad: torch's request for a sparse gradient; minigrad's is dense, with the same values.)

    `index` is an integer tensor with x's number of dimensions; along `dim` it may be any
    size (it is the output's size), along every other dim at most x's size there. As in
    torch, a 0-d x or index counts as 1-d here (the result has index's shape).
    """
    op = "gather"
    _check_index_tensor(op, x, index)
    d = normalize_axis(op, dim, max(x.ndim, 1))  # a 0-d x takes dim 0 or -1, as in torch
    if x.ndim == 0 or index.ndim == 0:  # as 1-d tensors; the result takes index's shape
        return reshape(gather(reshape(x, (-1,)), 0, index.reshape(-1)), index.shape)
    _check_covered(op, "x", x, index, skip=d)
    _check_positions(op, x, d, index)
    return Gather.apply(x, index=index.data, dim=d)


def _check_index_tensor(op, x, index):
    """x and index are Tensors on one device, index holds integers and has x's number of dims (0-d as 1-d)."""
    if not isinstance(x, Tensor) or not isinstance(index, Tensor):
        raise TypeError(f"{op}: expected Tensors for x and index, got {type(x).__name__} and {type(index).__name__}")
    if index.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must hold integers (int64 or int32), got {describe(index)}")
    if index.device != x.device:
        raise RuntimeError(f"{op}: x is {describe(x)} but index is {describe(index)}; move one with .to(device)")
    if max(index.ndim, 1) != max(x.ndim, 1):
        raise ValueError(f"{op}: index must have as many dimensions as x: x is {describe(x)}, index is "
                         f"{describe(index)}")


def _check_covered(op, name, t, index, skip=None):
    """index may not be larger than `t` in any dimension (except `skip`, the gathered one)."""
    for k, (n_idx, n_t) in enumerate(zip(index.shape, t.shape)):
        if k != skip and n_idx > n_t:
            only = f" (only the gathered dimension {skip} may be larger)" if skip is not None else ""
            raise ValueError(f"{op}: index {describe(index)} is larger than {name} {describe(t)} in dimension {k}"
                             f"{only}")


def _along(xp, index, dim):
    """The advanced index that reads `index` along `dim` and 0..n-1 along every other dim (gather's rule)."""
    nd = index.ndim
    return tuple(index if d == dim else xp.arange(n).reshape((-1,) + (1,) * (nd - 1 - d))
                 for d, n in enumerate(index.shape))


class Scatter(Function):
    """y = x with src written at `index` along dim;  dx = dy with the overwritten places zeroed,  dsrc = dy read at index

    (torch.scatter; `add=True` is torch.scatter_add: y = x plus src summed in, dx = dy.)
    Only the block of src that index covers is used; the rest of src gets gradient 0.
    """

    @staticmethod
    def forward(ctx, x, src, index, dim, add):
        xp = get_xp(x)
        where = _along(xp, index, dim)
        block = tuple(slice(0, n) for n in index.shape)
        out = x.copy()
        if add:
            _B.scatter_add(out, where, src[block])  # repeated positions add up
        else:
            out[where] = src[block]  # repeated positions: one of the values wins (torch: unspecified)
        ctx.where, ctx.block, ctx.src_shape, ctx.add = where, block, src.shape, add
        return out

    @staticmethod
    def backward(ctx, g):
        xp = get_xp(g)
        need_x, need_src = ctx.needs_input_grad
        dx = dsrc = None
        if need_x:
            dx = g
            if not ctx.add:
                dx = g.copy()
                dx[ctx.where] = 0  # overwritten: x's old values there no longer matter
        if need_src:
            dsrc = xp.zeros(ctx.src_shape, dtype=g.dtype)
            dsrc[ctx.block] = g[ctx.where]
        return dx, dsrc


def scatter(x, dim, index, src=None, value=None):
    """torch.scatter: a copy of x with src[i][j][k] written at [index[i][j][k]][j][k] for dim=0.

    `src` is a tensor (its block covered by index is used) or a number (`scatter(x, dim, index, 2.0)`,
    or value=2.0) written everywhere index points. index may not be larger than x except along
    `dim`, nor larger than src anywhere. Where index repeats a position, one of the values is
    kept (which one is unspecified, as in torch); the gradient reaches every src entry read.
    """
    return _scatter("scatter", x, dim, index, src, value, add=False)


def scatter_add(x, dim, index, src):
    """torch.scatter_add: a copy of x with src[i][j][k] added at [index[i][j][k]][j][k] for dim=0 (repeats sum)."""
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_add: src must be a Tensor, got {type(src).__name__}")
    return _scatter("scatter_add", x, dim, index, src, None, add=True)


def _scatter(op, x, dim, index, src, value, add, src_name="src"):
    _check_index_tensor(op, x, index)
    if (src is None) == (value is None):
        raise TypeError(f"{op}: give exactly one of src (a tensor or a number) and value")
    if src is None or not isinstance(src, Tensor):
        number = value if src is None else src
        if isinstance(number, (bool, str, bytes)) or not isinstance(number, numbers.Number):
            raise TypeError(f"{op}: src must be a Tensor or a number, got {type(number).__name__}")
        src = _wrap(get_xp(x.data).full(index.shape, number, dtype=x.data.dtype))
    if src.device != x.device:
        raise RuntimeError(f"{op}: x is {describe(x)} but {src_name} is {describe(src)}; move one with .to(device)")
    if src.dtype != x.dtype:
        raise TypeError(f"{op}: {src_name} must have x's dtype: x is {describe(x)}, {src_name} is {describe(src)}")
    if max(src.ndim, 1) != max(x.ndim, 1):
        raise ValueError(f"{op}: src must have as many dimensions as x: x is {describe(x)}, src is {describe(src)}")
    d = normalize_axis(op, dim, max(x.ndim, 1))
    if x.ndim == 0 or index.ndim == 0 or src.ndim == 0:  # as 1-d tensors (torch's rule), then x's shape again
        flat = _scatter(op, reshape(x, (-1,)), 0, index.reshape(-1), reshape(src, (-1,)), None, add)
        return reshape(flat, x.shape)
    _check_covered(op, "x", x, index, skip=d)
    _check_covered(op, "src", src, index)
    _check_positions(op, x, d, index)
    return Scatter.apply(x, src, index=index.data, dim=d, add=add)


def index_add(x, dim, index, source, alpha=1):
    """torch.index_add: a copy of x with alpha * source[..., i, ...] added at x[..., index[i], ...] along `dim`.

    `index` is a 1-D integer tensor; `source` has x's shape except len(index) along `dim`.
    Repeated indices add up. It is `scatter_add` with index spread over source's shape, so
    x gets dy and source gets alpha * dy read back at the index.
    """
    op = "index_add"
    if not isinstance(x, Tensor) or not isinstance(source, Tensor):
        raise TypeError(f"{op}: expected Tensors for x and source, got {type(x).__name__} and {type(source).__name__}")
    _check_vector_index(op, index)
    if x.data.ndim == 0:  # as a 1-element vector, as torch: one index, a 0-d source
        normalize_axis(op, dim, 1)
        if source.data.ndim != 0 or index.data.size != 1:
            raise ValueError(f"{op}: into the 0-d {describe(x)}, source must be 0-d and index hold one value, got "
                             f"{describe(source)} and {describe(index)}")
        return reshape(index_add(reshape(x, (1,)), dim, index, reshape(source, (-1,)), alpha), ())
    d = normalize_axis(op, dim, x.data.ndim)
    want = x.data.shape[:d] + (index.data.size,) + x.data.shape[d + 1:]
    if tuple(source.data.shape) != want:
        raise ValueError(f"{op}: source must have shape {want} (x {describe(x)} with len(index) = {index.data.size} "
                         f"along dim {d}), got {describe(source)}")
    if isinstance(alpha, float) and not alpha.is_integer() and x.data.dtype.kind in "biu":
        # torch would quietly truncate alpha (0.5 adds nothing), as addcmul's value: refused, with its reason
        raise TypeError(f"{op}: a float alpha ({alpha}) with the integer {describe(x)} would be truncated; "
                        "convert x and source with .float()")
    if alpha != 1 and x.data.dtype.kind in "biu" and source.dtype == x.dtype:  # alpha * source in x's dtype
        # (bool: True unless alpha is 0); a source of another dtype is refused below
        source = cast(source * int(alpha), x.data.dtype)
    elif alpha != 1:
        source = source * alpha
    spread = index.reshape((1,) * d + (-1,) + (1,) * (x.data.ndim - d - 1))
    spread = _wrap(get_xp(spread.data).broadcast_to(spread.data, want))
    return _scatter(op, x, d, spread, source, None, add=True, src_name="source")


def nonzero(x, as_tuple=False):
    """torch.nonzero: the int64 (N, x.ndim) positions of x's nonzero (true) entries, in row-major order.

    as_tuple=True gives one 1-D index tensor per dim instead (what `x[...]` takes; also
    `where(condition)` with one argument), a 0-d x counting as 1-d there, as in torch.
    Not differentiable: positions are integers.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"nonzero: expected a Tensor, got {type(x).__name__}")
    xp = get_xp(x.data)
    if as_tuple:
        flat = x.data.reshape(1) if x.data.ndim == 0 else x.data
        return tuple(_wrap(i.astype(np.int64)) for i in xp.nonzero(flat))
    return _wrap(xp.argwhere(x.data).astype(np.int64))


def _check_positions(op, x, d, index):
    """IndexError unless 0 <= index < size of dim d (torch's gather and index_select take no negatives)."""
    size = x.data.shape[d] if x.data.ndim else 1
    if index.data.size:
        lo, hi = int(index.data.min()), int(index.data.max())
        if lo < 0 or hi >= size:
            bad = lo if lo < 0 else hi
            raise IndexError(f"{op}: index {bad} is out of range for dimension {d} of size {size} ({describe(x)}); "
                             f"expected 0 <= index < {size}")


def getitem(x, index):
    """x[index]: basic slicing, integer-array and boolean indexing, as torch (NumPy's rules, except that
    integers and 0-d integer tensors select first, before the index arrays: see `TorchOrder`)."""
    if index.__class__ is not int:  # (x[t] in a loop: the common case, no mask to look for)
        expanded = expand_0d_masks(x.data.shape, index, get_xp(x.data))
        if expanded is not None:  # a 0-d mask (`v[v > 0.3]` on a 0-d v): index a new size-1 dim instead
            return getitem(reshape(x, expanded[0]), expanded[2])
    idx, basic = normalize_index(index, x)
    _check_index_bounds(x, idx)
    try:
        return GetItem.apply(x, index=torch_order(idx) if not basic or len(idx) == 1 else idx, basic=basic)
    except IndexError as e:
        raise IndexError(f"getitem: {e} (indexing {describe(x)})") from None


def _check_seq(op, tensors):
    if isinstance(tensors, Tensor):  # list(t) would iterate its rows and quietly cat/stack those
        raise TypeError(f"{op}: expected a sequence of tensors, got the tensor {describe(tensors)}; "
                        f"use {op}([t, ...])")
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty sequence of tensors")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected Tensors, got {type(t).__name__}")
    first = tensors[0]
    for t in tensors[1:]:
        mixed_floats = t.data.dtype != first.data.dtype and t.data.dtype.kind == first.data.dtype.kind == "f"
        if mixed_floats or t.device != first.device:  # (float32 with float64: minigrad never upcasts silently)
            raise TypeError(f"{op}: all tensors must share dtype and device; got {describe(first)} and {describe(t)}")
    dtypes = {t.data.dtype for t in tensors}
    if len(dtypes) > 1:
        # torch promotes the inputs of cat/stack: a float dtype wins (integer tensors hold no gradient to cast),
        # else the integer promotion (bool < uint8 < int8 ... ; uint8 with int8 is int16) (found by fuzzing)
        floats = [d for d in dtypes if d.kind == "f"]
        mixed = [t for t in tensors if t.data.dtype.kind == "f"]
        if floats and len({t.data.dtype for t in mixed}) > 1:
            raise TypeError(f"{op}: all tensors must share dtype and device; got {describe(mixed[0])} and "
                            f"{describe(next(t for t in mixed if t.data.dtype != mixed[0].data.dtype))}")
        target = floats[0] if floats else _B.np.result_type(*dtypes)
        tensors = [t if t.data.dtype == target else _wrap(t.data.astype(target)) for t in tensors]
    return tensors


def cat(tensors, dim=0):
    """Concatenate along an existing dimension."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('cat', cat, tensors=tensors, dim=dim)
    tensors = _check_seq("cat", tensors)
    nd = tensors[0].data.ndim
    if nd == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated; use stack")
    d = normalize_axis("cat", dim, nd)
    ref = tensors[0].data.shape
    for t in tensors:
        s = t.data.shape
        if len(s) != nd or any(a != b for i, (a, b) in enumerate(zip(s, ref)) if i != d):
            raise ValueError(f"cat: shapes must match except in dim {d}; got {[list(t.shape) for t in tensors]}")
    return Cat.apply(*tensors, dim=d)  # (one tensor too: torch's cat([x]) is a new tensor, never x itself)


def stack(tensors, dim=0):
    """Stack equal-shaped tensors along a new dimension."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('stack', stack, tensors=tensors, dim=dim)
    tensors = _check_seq("stack", tensors)
    ref = tensors[0].data.shape
    for t in tensors:
        if t.data.shape != ref:
            raise ValueError(f"stack: all tensors must have the same shape; got {[list(t.shape) for t in tensors]}")
    d = normalize_axis("stack", dim, len(ref) + 1)
    return Stack.apply(*tensors, dim=d)


def split(x, split_size_or_sections, dim=0):
    """Split into pieces of `split_size` (the last may be smaller) or of the given section sizes."""
    require_tensor("split", x)
    nd = x.data.ndim
    d = normalize_axis("split", dim, nd)
    n = x.data.shape[d]
    if isinstance(split_size_or_sections, numbers.Integral):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [size] * (n // size) + ([n % size] if n % size else [])
        if not sizes:
            sizes = [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise ValueError(f"split: sections {sizes} must be non-negative and sum to the size {n} of dim {d}")
    lead = (slice(None),) * d
    out, start = [], 0
    for s in sizes:
        piece = GetItem.apply(x, index=lead + (slice(start, start + s),), basic=True)
        if piece.grad_fn is not None:  # torch's split returns several views: in place on them is refused in a graph
            piece.grad_fn.multi_view = "split"
        out.append(piece)
        start += s
    return tuple(out)


def chunk(x, chunks, dim=0):
    """Split into `chunks` pieces of ceil(n / chunks) (torch.chunk)."""
    require_tensor("chunk", x)
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    d = normalize_axis("chunk", dim, x.data.ndim)
    n = x.data.shape[d]
    size = max(-(-n // chunks), 1)
    return split(x, size, d)


def cast(x, dtype):
    """x converted to `dtype`; differentiable between float dtypes, a constant otherwise."""
    dtype = check_dtype(dtype, "cast")  # complex, str, object: a TypeError
    if x.data.dtype == dtype:
        return x
    if dtype.kind not in "fc" or x.data.dtype.kind not in "fc":
        return _wrap(x.data.astype(dtype, order="C"))
    return Cast.apply(x, dtype=dtype)


def to_device(x, device):
    """x on `device` (canonical name); differentiable."""
    if x.device == device:
        return x
    return ToDevice.apply(x, device=device)


def clone(x):
    """A copy with its own memory; gradients flow through."""
    return Clone.apply(x)


# ---------------------------------------------------------------- more views, copies and index writes (torch's names)
# Aliasing follows torch: select / narrow / movedim / swapaxes / view_as (basic indexing, permute,
# reshape), unbind and diagonal (below) and unfold / as_strided (index_more.py) return views that share
# x's memory and version counter, so a write through them changes x. The other ops return new memory.
def _strided_view(arr, shape, strides):
    """A view of arr's memory with the given shape and byte strides, counted from arr's first element.

    The caller keeps it inside arr's memory. `[...]` makes it a view whose `.base` is set on CuPy too
    (CuPy's as_strided builds an array with base None, which `Function.apply` would not see as a view).
    """
    return get_xp(arr).lib.stride_tricks.as_strided(arr, shape=tuple(shape), strides=tuple(strides))[...]


class Unbind(Function):
    """(y_0, ..., y_{n-1}) = the slices x[..., k, ...] along dim (views of x);  dx = stack(dy_k, dim)"""

    is_view = True

    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        lead = (slice(None),) * dim
        return tuple(x[lead + (k, Ellipsis)] for k in range(x.shape[dim]))  # (`...`: a 0-d slice is a view too)

    @staticmethod
    def backward(ctx, *grads):
        return get_xp(grads[0]).stack(grads, axis=ctx.dim)


def unbind(x, dim=0):
    """torch.unbind: the tuple of slices along `dim`, that dim removed (views of x, one node for all).

    One multi-output node whose backward stacks the slices' gradients, so unbinding n steps
    costs O(n) in backward (n getitems would each scatter into a zero tensor of x's size).
    As in torch, the slices share x's memory and version counter: without a graph a write
    through one changes x; in a graph it is refused (torch: a multi-output view cannot be
    modified in place), and so is backward through them after x itself was changed in place.
    """
    require_tensor("unbind", x)
    if x.data.ndim == 0:
        raise IndexError(f"unbind: cannot unbind the 0-d {describe(x)}: it has no dimension {dim}")
    d = normalize_axis("unbind", dim, x.data.ndim)
    if x.data.shape[d] == 0:
        return ()
    return Unbind.apply(x, dim=d)


def _int_arg(op, name, value):
    """An int from an int or a 0-d integer tensor (torch accepts both for narrow's start); else a TypeError."""
    if isinstance(value, Tensor) and value.data.ndim == 0 and value.data.dtype.kind in "iu":
        return int(value.item())
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{op}: {name} must be an int, got {type(value).__name__} {value!r}")
    return int(value)


def narrow(x, dim, start, length):
    """torch.narrow: x[..., start:start + length, ...] along `dim` (a view); a negative start counts from the end."""
    op = "narrow"
    require_tensor(op, x)
    if x.data.ndim == 0:
        raise IndexError(f"{op}: cannot be applied to the 0-d {describe(x)}")
    d = normalize_axis(op, dim, x.data.ndim)
    start, length = _int_arg(op, "start", start), _int_arg(op, "length", length)
    n = x.data.shape[d]
    if not -n <= start <= n:
        raise IndexError(f"{op}: start {start} is out of range for dimension {d} of size {n} ({describe(x)}); "
                         f"expected in [{-n}, {n}]")
    if length < 0:
        raise ValueError(f"{op}: length must be non-negative, got {length}")
    if start < 0:  # -1 is the last position
        start += n
    if start + length > n:
        raise ValueError(f"{op}: start ({start}) + length ({length}) exceeds the size {n} of dimension {d} "
                         f"of {describe(x)}")
    return getitem(x, (slice(None),) * d + (slice(start, start + length),))


def select(x, dim, index):
    """torch.select: x[..., index, ...] along `dim`, that dim removed (a view); a negative index counts from the end."""
    op = "select"
    require_tensor(op, x)
    if x.data.ndim == 0:
        raise IndexError(f"{op}: cannot be applied to the 0-d {describe(x)}")
    d = normalize_axis(op, dim, x.data.ndim)
    index = _int_arg(op, "index", index)
    n = x.data.shape[d]
    if not -n <= index < n:
        raise IndexError(f"{op}: index {index} is out of range for dimension {d} of size {n} ({describe(x)})")
    return getitem(x, (slice(None),) * d + (index,))


def movedim(x, source, destination):
    """torch.movedim: move dims `source` to positions `destination` (ints or equal-length sequences);
    the other dims keep their order. A permute, so a view."""
    op = "movedim"
    require_tensor(op, x)
    src = (source,) if isinstance(source, numbers.Integral) else tuple(source)
    dst = (destination,) if isinstance(destination, numbers.Integral) else tuple(destination)
    if len(src) != len(dst):
        raise ValueError(f"{op}: source {src} and destination {dst} must hold as many dims")
    nd = x.data.ndim
    s = [normalize_axis(op, k, max(nd, 1)) for k in src]  # a 0-d tensor takes dim 0 or -1, as in torch
    t = [normalize_axis(op, k, max(nd, 1)) for k in dst]
    for name, ds, given in (("source", s, src), ("destination", t, dst)):
        if len(set(ds)) != len(ds):
            raise ValueError(f"{op}: repeated dim in {name} {given}")
    if nd == 0:
        return x
    order = [None] * nd
    for a, b in zip(s, t):
        order[b] = a
    rest = iter(k for k in range(nd) if k not in s)
    return permute(x, [k if k is not None else next(rest) for k in order])


moveaxis = movedim


def swapaxes(x, axis0, axis1):
    """torch.swapaxes / swapdims: transpose(axis0, axis1) (a 0-d tensor takes 0 or -1 and comes back as it is)."""
    require_tensor("swapaxes", x)
    normalize_axis("swapaxes", axis0, max(x.data.ndim, 1))  # (range errors name swapaxes, not transpose)
    normalize_axis("swapaxes", axis1, max(x.data.ndim, 1))
    if x.data.ndim == 0:
        return x
    return transpose(x, axis0, axis1)


swapdims = swapaxes


def _other_shape(op, other):
    if not isinstance(other, Tensor):
        raise TypeError(f"{op}: other must be a Tensor, got {type(other).__name__}")
    return other.data.shape


def _as(op, fn, x, other):
    """fn(x, other's shape), with fn's shape errors restated under `op`'s name."""
    shape = _other_shape(op, other)
    try:
        return fn(x, shape)
    except ValueError as e:
        raise ValueError(f"{op}: {e}") from None


def expand_as(x, other):
    """torch.Tensor.expand_as: x broadcast to other's shape."""
    return _as("expand_as", expand, x, other)


def view_as(x, other):
    """torch.Tensor.view_as: x reshaped to other's shape (as many elements)."""
    return _as("view_as", reshape, x, other)


def reshape_as(x, other):
    """torch.Tensor.reshape_as: x reshaped to other's shape (as many elements)."""
    return _as("reshape_as", reshape, x, other)


def unflatten(x, dim, sizes):
    """torch.unflatten: split dim `dim` into `sizes` (their product is its size; one entry may be -1)."""
    op = "unflatten"
    require_tensor(op, x)
    if x.data.ndim == 0:
        raise IndexError(f"{op}: the 0-d {describe(x)} has no dimension {dim} to unflatten")
    d = normalize_axis(op, dim, x.data.ndim)
    sizes = _shape_arg(sizes)
    if not sizes:
        raise ValueError(f"{op}: sizes must be non-empty")
    n = x.data.shape[d]
    known = 1
    for s in sizes:
        known *= s if s != -1 else 1
    if sizes.count(-1) > 1 or any(s < -1 for s in sizes):
        bad = "at most one size may be -1 and the others must be non-negative"
    elif -1 in sizes and known == 0:
        bad = "-1 is ambiguous next to a zero size"
    elif (n % known != 0) if -1 in sizes else (known != n):
        bad = f"they don't multiply up to the size of dim {d} ({n})"
    else:
        bad = None
    if bad:
        raise ValueError(f"{op}: sizes {list(sizes)} for {describe(x)}: {bad}")
    # -1 is dim d's size over the others (reshape could not infer it when another dim is empty)
    sizes = tuple(n // known if s == -1 else s for s in sizes)
    shape = x.data.shape
    return reshape(x, shape[:d] + sizes + shape[d + 1:])


def tile(x, dims):
    """torch.tile: repeat x dims[i] times along dim i; fewer dims than x has: ones are prepended."""
    require_tensor("tile", x)
    dims = _shape_arg(dims)
    if any(r < 0 for r in dims):
        raise ValueError(f"tile: dims must be non-negative ints, got {dims}")
    return repeat(x, (1,) * (x.data.ndim - len(dims)) + dims)


def repeat_interleave(x, repeats=None, dim=None, *, output_size=None):
    """torch.repeat_interleave: each element (dim=None: of the flattened x) or slice along `dim` repeated.

    `repeats` is an int (the same for all) or an integer tensor with one count per slice (or a
    single count). An index_select of the repeated positions, so each copy's gradient sums
    back into its source. With x alone (an integer 1-D tensor of counts), as torch:
    arange(len(x)) repeated x[i] times.
    """
    op = "repeat_interleave"
    require_tensor(op, x)
    if repeats is None:  # torch.repeat_interleave(counts)
        if not isinstance(x, Tensor) or x.data.dtype.kind not in "iu" or x.data.ndim > 1:
            raise TypeError(f"{op}: with one argument it takes a 0-d or 1-D integer tensor of counts, got "
                            f"{describe(x) if isinstance(x, Tensor) else type(x).__name__}")
        counts = x.reshape(-1)
        positions = _wrap(get_xp(x.data).arange(counts.data.size, dtype=x.data.dtype))  # counts' dtype, as torch
        return repeat_interleave(positions, counts, 0, output_size=output_size)
    if dim is None:
        x, d = reshape(x, (-1,)), 0
    elif x.data.ndim == 0:  # torch: a 0-d x with dim 0 (or -1) repeats as a 1-element vector
        normalize_axis(op, dim, 1)
        x, d = reshape(x, (1,)), 0
    else:
        d = normalize_axis(op, dim, x.data.ndim)
    n = x.data.shape[d]
    if isinstance(repeats, Tensor):
        if repeats.data.dtype.kind not in "iu":
            raise TypeError(f"{op}: repeats must be an int or an integer tensor, got {describe(repeats)}")
        if repeats.data.ndim > 1:
            raise ValueError(f"{op}: repeats must be a 0-d or 1-D tensor, got {describe(repeats)}")
        counts = _B.to_device(repeats.data, "cpu").reshape(-1).astype(np.int64)  # host bookkeeping
        if counts.size == 1:
            counts = np.full(n, counts[0], dtype=np.int64)
        elif counts.size != n:
            raise ValueError(f"{op}: repeats {describe(repeats)} must hold one count per slice along dim {d} "
                             f"of {describe(x)} ({n})")
    elif isinstance(repeats, numbers.Integral) and not isinstance(repeats, bool):
        if repeats < 0:  # (checked even when there is nothing to repeat, as torch)
            raise ValueError(f"{op}: repeats must be non-negative, got {int(repeats)}")
        counts = np.full(n, int(repeats), dtype=np.int64)
    else:
        raise TypeError(f"{op}: repeats must be an int or an integer tensor, got {type(repeats).__name__}")
    if counts.size and counts.min() < 0:
        raise ValueError(f"{op}: repeats must be non-negative, got {int(counts.min())}")
    total = int(counts.sum())
    if output_size is not None and output_size != total:
        raise ValueError(f"{op}: output_size {output_size} does not match the sum of repeats ({total})")
    index = np.repeat(np.arange(n, dtype=np.int64), counts)
    return index_select(x, d, _wrap(get_xp(x.data).asarray(index)))


def _diagonal_view(arr, offset, a, b):
    """The (writable) view of diagonal `offset` of dims (a, b) of arr, as a new last dim.

    NumPy's own diagonal() is read-only, so the view is built from strides: start at the
    diagonal's first entry, (0, offset) or (-offset, 0), and step along a and b at once.
    """
    rows, cols = arr.shape[a], arr.shape[b]
    length = max(0, min(rows, cols - offset) if offset >= 0 else min(rows + offset, cols))
    first = [slice(None)] * arr.ndim
    if length:
        first[b if offset >= 0 else a] = slice(abs(offset), None)
    keep = [k for k in range(arr.ndim) if k not in (a, b)]
    shape = [arr.shape[k] for k in keep] + [length]
    strides = [arr.strides[k] for k in keep] + [arr.strides[a] + arr.strides[b]]
    return _strided_view(arr[tuple(first)], shape, strides)


class Diagonal(Function):
    """y[..., i] = x[..., i, ..., i + offset, ...] over dims (a, b) (a view of x);  dx = dy on that diagonal, 0 elsewhere"""

    is_view = True

    @staticmethod
    def forward(ctx, x, offset, a, b):
        ctx.shape, ctx.offset, ctx.a, ctx.b = x.shape, offset, a, b
        return _diagonal_view(x, offset, a, b)

    @staticmethod
    def backward(ctx, g):
        gx = get_xp(g).zeros(ctx.shape, dtype=g.dtype)
        _diagonal_view(gx, ctx.offset, ctx.a, ctx.b)[...] = g  # (the entries of a diagonal never repeat)
        return gx


def diagonal(x, offset=0, dim1=0, dim2=1):
    """torch.diagonal: the entries x[..., i, ..., i + offset, ...] of dims (dim1, dim2), as a new last dim.

    A view of x, as in torch: it shares x's memory and version counter, so `x.diagonal().fill_(1)`
    changes x (on a tensor that needs no grad; in a graph such a write is refused, see README).
    The gradient lands on the diagonal, zeros elsewhere.
    """
    op = "diagonal"
    require_tensor(op, x)
    offset = _int_arg(op, "offset", offset)
    nd = x.data.ndim
    a, b = normalize_axis(op, dim1, nd), normalize_axis(op, dim2, nd)
    if a == b:
        raise ValueError(f"{op}: dim1 and dim2 must differ, got {dim1} and {dim2} for {describe(x)}")
    return Diagonal.apply(x, offset=offset, a=a, b=b)


_diagonal = diagonal  # diag's argument is called `diagonal` (torch's name)


def diag(x, diagonal=0):
    """torch.diag: a 1-D x -> the square matrix with x on diagonal `diagonal`; a 2-D x -> that diagonal, 1-D."""
    op = "diag"
    require_tensor(op, x)
    k = _int_arg(op, "diagonal", diagonal)
    if x.data.ndim == 2:
        return clone(_diagonal(x, k))  # new memory, as torch.diag (x.diagonal() is the view)
    if x.data.ndim != 1:
        raise ValueError(f"{op}: expects a 1-D or 2-D tensor, got {describe(x)}")
    n = x.data.shape[0]
    m = n + abs(k)
    xp = get_xp(x.data)
    i = xp.arange(n, dtype=np.int64)
    flat_positions = (i + max(-k, 0)) * m + (i + max(k, 0))  # row * m + col of each entry of x
    zeros = _wrap(xp.zeros(m * m, dtype=x.data.dtype))
    return reshape(index_copy(zeros, 0, _wrap(flat_positions), x), (m, m))


def trace(x):
    """torch.trace: the sum of a matrix's main diagonal (integers sum as int64, as torch)."""
    require_tensor("trace", x)
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('trace', trace, x=x)
    op = "trace"
    if x.data.ndim != 2:
        raise ValueError(f"{op}: expects a matrix (2-D tensor), got {describe(x)}")
    if x.data.dtype.kind == "b":
        raise TypeError(f"{op}: not defined for bool tensors, got {describe(x)}; convert it with .long() or .float()")
    if x.data.dtype.kind in "iu":
        x = cast(x, np.int64)
    return diagonal(x).sum()


def diff(x, n=1, dim=-1, prepend=None, append=None):
    """torch.diff: y_i = x_{i+1} - x_i along `dim`, applied n times (bools: x_{i+1} != x_i).

    `prepend` / `append` are joined to x along dim first (x's dtype, x's shape elsewhere);
    with n=0 x comes back as it is (as torch).
    """
    op = "diff"
    require_tensor(op, x)
    if x.data.ndim == 0:
        raise ValueError(f"{op}: expects a tensor with at least one dimension, got {describe(x)}")
    d = normalize_axis(op, dim, x.data.ndim)
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"{op}: n must be a non-negative int, got {n!r}")
    parts = []
    for name, extra in (("prepend", prepend), ("append", append)):
        if extra is None:
            continue
        if not isinstance(extra, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(extra).__name__}")
        same = extra.data.ndim == x.data.ndim and all(a == b for k, (a, b) in
                                                       enumerate(zip(extra.data.shape, x.data.shape)) if k != d)
        if not same or extra.device != x.device:
            raise ValueError(f"{op}: {name} must match {describe(x)} in device and every dim but {d}, "
                             f"got {describe(extra)}")
        if extra.data.dtype.kind == "f" and x.data.dtype.kind == "f" and extra.data.dtype != x.data.dtype:
            raise TypeError(f"{op}: {name} {describe(extra)} and {describe(x)} mix float dtypes; convert one "
                            "with .float() or .double() (minigrad never upcasts float32 silently)")
        parts.append((name, extra))
    if parts and n:  # joined as torch.cat promotes: to the common dtype (int32 with int64 -> int64, int with float -> float)
        dtypes = [x.data.dtype] + [e.data.dtype for _, e in parts]
        floats = [t for t in dtypes if t.kind == "f"]
        dtype = floats[0] if floats else np.result_type(*dtypes)  # (NumPy's int64 + float32 would be float64)
        x = x if x.data.dtype == dtype else x.to(dtype)
        parts = [(name, e if e.data.dtype == dtype else e.to(dtype)) for name, e in parts]
    if n == 0:  # torch and NumPy: x itself, prepend/append not joined
        return x
    if parts:
        x = cat([e for name, e in parts if name == "prepend"] + [x] + [e for name, e in parts if name == "append"], d)
    lead = (slice(None),) * d
    for _ in range(n):
        later, earlier = getitem(x, lead + (slice(1, None),)), getitem(x, lead + (slice(None, -1),))
        if x.data.dtype.kind == "b":  # torch: bools differ or not (no subtraction of bools)
            x = _wrap(later.data != earlier.data)
        else:
            x = later - earlier
    return x


def unique(x, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002 - torch's names
    """torch.unique: the distinct values of x (dim=None), or its distinct slices along `dim`; sorted.

    dim=None gives a 1-D tensor of values; return_inverse adds, for each element of x, the
    int64 position of its value in the result (x's shape); return_counts adds how often each
    value occurs (int64). With dim, the result keeps x's other dims and holds the distinct
    slices in lexicographic order; the inverse then has one entry per slice. NaNs are not
    merged (each is its own value), as in torch. sorted=False still sorts (torch's CPU result
    is sorted too). Not differentiable.
    """
    op = "unique"
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if dim is not None:
        return _unique_slices(op, x, dim, return_inverse, return_counts)
    xp = get_xp(x.data)
    flat = x.data.reshape(-1)
    values, inverse, counts = xp.unique(flat, return_inverse=True, return_counts=True, equal_nan=False)
    out = [_wrap(values)]
    if return_inverse:
        out.append(_wrap(inverse.astype(np.int64).reshape(x.data.shape)))
    if return_counts:
        out.append(_wrap(counts.astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


def _unique_slices(op, x, dim, return_inverse, return_counts):
    """unique(x, dim=d): sort the slices lexicographically, then keep each one that differs from the one before."""
    xp = get_xp(x.data)
    if x.data.ndim == 0:
        raise IndexError(f"{op}: dim={dim!r} needs a tensor with dimensions, got {describe(x)}")
    d = normalize_axis(op, dim, x.data.ndim)
    if any(size == 0 for k, size in enumerate(x.data.shape) if k != d):
        raise ValueError(f"{op}: {describe(x)} has a zero-size dim other than dim={dim}, so its slices along dim "
                         "are empty and cannot be told apart (torch refuses this too)")
    moved = xp.moveaxis(x.data, d, 0)  # the slices along dim, first
    n = moved.shape[0]
    rows = moved.reshape(n, int(np.prod(moved.shape[1:])))  # (not -1: ambiguous when n is 0)
    if n == 0:
        order, new = xp.zeros(0, dtype=np.int64), xp.zeros(0, dtype=bool)
    else:
        # lexsort's LAST key is the primary one: feed the columns in reverse to sort by column 0 first
        order = xp.lexsort(rows[:, ::-1].T) if rows.shape[1] else xp.arange(n)  # (0-d slices: all equal)
        ranked = rows[order]
        # a slice starts a new group when any element differs from the previous slice's (NaN != NaN)
        new = xp.concatenate([xp.ones(1, dtype=bool), (ranked[1:] != ranked[:-1]).any(axis=1)])
    group = xp.cumsum(new) - 1  # group of each slice, in sorted order
    values = xp.moveaxis(moved[order][new] if n else moved, 0, d)
    out = [_wrap(xp.ascontiguousarray(values))]
    if return_inverse:
        inverse = xp.empty(n, dtype=np.int64)
        inverse[order] = group
        out.append(_wrap(inverse))
    if return_counts:
        out.append(_wrap(xp.bincount(group, minlength=int(new.sum()) if n else 0).astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


class MaskedScatter(Function):
    """y = x with source's first k values (row-major) written where mask is true (k = mask.sum());
    dx = dy where mask is false (0 where written),  dsource = dy read at the mask (0 for unused values)

    The bool mask (broadcastable to x) is the third input, not differentiable; it is saved,
    so an in-place change to it before backward is refused (as torch) instead of sending the
    gradient to the wrong places. k is counted once, by the wrapper (a host sync on a GPU).
    """

    @staticmethod
    def forward(ctx, x, source, mask, k):
        mask = get_xp(x).broadcast_to(mask, x.shape)  # a view: the saved mask shares the caller's memory
        out = x.copy()
        out.reshape(-1)[mask.reshape(-1)] = source.reshape(-1)[:k]  # out is a fresh contiguous copy: reshape is a view
        ctx.save_for_backward(mask)
        ctx.k, ctx.source_shape = k, source.shape
        return out

    @staticmethod
    def backward(ctx, g):
        xp = get_xp(g)
        (mask,) = ctx.saved
        need_x, need_source = ctx.needs_input_grad[:2]
        dx = dsource = None
        if need_x:
            dx = xp.where(mask, xp.zeros((), dtype=g.dtype), g)
        if need_source:
            dsource = xp.zeros(ctx.source_shape, dtype=g.dtype)
            dsource.reshape(-1)[:ctx.k] = g.reshape(-1)[mask.reshape(-1)]
        return dx, dsource, None


def masked_scatter(x, mask, source):
    """torch.masked_scatter: a copy of x with source's values, in row-major order, written where `mask` is true.

    mask is a bool tensor that broadcasts with x; source holds at least mask.sum() values
    (its shape does not matter; the rest are unused and get gradient 0).
    """
    op = "masked_scatter"
    if not isinstance(x, Tensor) or not isinstance(source, Tensor):
        raise TypeError(f"{op}: expected Tensors for x and source, got {type(x).__name__} and "
                        f"{type(source).__name__}")
    if not isinstance(mask, Tensor) or mask.data.dtype.kind != "b":
        got = describe(mask) if isinstance(mask, Tensor) else type(mask).__name__
        raise TypeError(f"{op}: mask must be a bool tensor, got {got}")
    for name, t in (("mask", mask), ("source", source)):
        if t.device != x.device:
            raise RuntimeError(f"{op}: x is {describe(x)} but {name} is {describe(t)}; move one with .to(device)")
    if source.data.dtype != x.data.dtype:
        raise TypeError(f"{op}: source must have x's dtype: x is {describe(x)}, source is {describe(source)}")
    try:
        shape = np.broadcast_shapes(x.data.shape, mask.data.shape)
    except ValueError:
        raise ValueError(f"{op}: mask {describe(mask)} and {describe(x)} do not broadcast") from None
    m = get_xp(mask.data).broadcast_to(mask.data, shape)
    k = int(m.sum())  # the one count (a host sync on a GPU): the size check needs it, and forward reuses it
    if source.data.size < k:
        raise ValueError(f"{op}: source {describe(source)} has {source.data.size} values but the mask selects {k}")
    return MaskedScatter.apply(broadcast_to(x, shape), source, mask, k=k)


def index_copy(x, dim, index, source):
    """torch.index_copy: a copy of x with source[..., i, ...] written at x[..., index[i], ...] along `dim`.

    `index` is a 0-d or 1-D integer tensor; `source` has x's shape except len(index) along
    dim. It is `scatter` with index spread over source's shape: the written places of x get
    gradient 0, source gets dy read back at the index. Repeated indices: one write wins
    (which one is unspecified, as in torch).
    """
    op = "index_copy"
    if not isinstance(x, Tensor) or not isinstance(source, Tensor):
        raise TypeError(f"{op}: expected Tensors for x and source, got {type(x).__name__} and {type(source).__name__}")
    _check_vector_index(op, index)
    if x.data.ndim == 0:  # as a 1-element vector, as torch
        normalize_axis(op, dim, 1)
        return reshape(index_copy(reshape(x, (1,)), 0, index.reshape(-1), reshape(source, (-1,))), ())
    d = normalize_axis(op, dim, x.data.ndim)
    want = x.data.shape[:d] + (index.data.size,) + x.data.shape[d + 1:]
    if source.data.ndim == 0 and want == (1,):  # torch takes a 0-d source for one index into a vector
        source = reshape(source, (1,))
    if tuple(source.data.shape) != want:
        raise ValueError(f"{op}: source must have shape {want} (x {describe(x)} with len(index) = {index.data.size} "
                         f"along dim {d}), got {describe(source)}")
    spread = index.reshape((1,) * d + (-1,) + (1,) * (x.data.ndim - d - 1))
    spread = _wrap(get_xp(spread.data).broadcast_to(spread.data, want))
    return _scatter(op, x, d, spread, source, None, add=False, src_name="source")


def index_fill(x, dim, index, value):
    """torch.index_fill: a copy of x with `value` (a number or a 0-d tensor) at the positions `index` along `dim`.

    Negative indices count from the end, as in torch. It is masked_fill with the mask built
    along dim, so x gets dy where not filled and a tensor value the sum of the rest.
    """
    op = "index_fill"
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor to fill, got {type(x).__name__}")
    _check_vector_index(op, index)
    if isinstance(value, Tensor) and value.data.ndim != 0:
        raise ValueError(f"{op}: value must be a number or a 0-d tensor, got {describe(value)}")
    d = normalize_axis(op, dim, max(x.data.ndim, 1))
    n = x.data.shape[d] if x.data.ndim else 1
    xp = get_xp(x.data)
    i = index.data
    if i.size and bool(((i < -n) | (i >= n)).any()):  # one host sync; the bad value is found only on this path
        bad = int(i[(i < -n) | (i >= n)].reshape(-1)[0])
        raise IndexError(f"{op}: index {bad} is out of range for dimension {d} of size {n} ({describe(x)})")
    along = xp.zeros(n, dtype=bool)
    along[index.data.reshape(-1) % max(n, 1)] = True
    mask = along.reshape((1,) * d + (n,) + (1,) * (x.data.ndim - d - 1)) if x.data.ndim else along.reshape(())
    return _masked_fill(op, x, _wrap(mask), value)  # (its errors name index_fill)
