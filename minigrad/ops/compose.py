"""torch's top-level function namespace: `mg.add(x, y, alpha=2)`, `mg.reshape(x, shape)`, `mg.vstack`, ...

Almost everything here is a composition or an alias of ops that already have a hand-written
backward (so it needs no backward of its own): `add(x, y, alpha=a)` is `x + a * y`,
`hstack` is `cat`, `rot90` is a flip and a transpose, `tensor_split` is basic slicing.
The one new Function is `DivRounding`, `div(..., rounding_mode='trunc'|'floor')`: its values
need one kernel (floor mode is Python's `//`, which `floor(a / b)` is not: 5.0 // 0.1 == 49),
and its gradient is exactly zero (torch's), which `floor(a / b)` would turn into NaN at b = 0.

Each wrapper checks its arguments and raises errors that name it (`rot90: ...`); the ops it
calls name themselves too, so an error from inside reads e.g. `vstack: cat: shapes must match ...`.
"""
from __future__ import annotations

import numbers
import warnings

from .. import backend as _B
from ..autograd import Function
from ..tensor import Tensor, _wrap, check_dtype
from . import elementwise as _el
from . import nn as _nn
from . import shape as _shape
from .common import describe, normalize_axis, scalar_value
from .. import amp as _amp

np = _B.np  # dtypes and host-side checks only
get_xp = _B.get_array_module

_tensor_arg = _el._tensor_arg  # x itself, or a TypeError naming the op


def _named(op, fn, *args, **kw):
    """fn(*args, **kw), with any error it raises prefixed by `op` (the function the user called)."""
    try:
        return fn(*args, **kw)
    except (ValueError, TypeError, IndexError, RuntimeError) as e:
        raise type(e)(f"{op}: {e}") from None


# ================================================================ arithmetic with torch's keywords
def _is_number(x) -> bool:
    return isinstance(x, numbers.Real)  # (a Tensor is not a numbers.Real)


def _numbers_only(a, b) -> bool:
    """Both operands are numbers: torch.add(2, 3) is tensor(5), so the first becomes a tensor (int -> int64)."""
    return _is_number(a) and _is_number(b)


def _kind(x) -> str:
    """'b', 'i' or 'f': the dtype kind an operand brings to the result (torch's promotion categories)."""
    if isinstance(x, Tensor):
        k = x.data.dtype.kind
        return "i" if k == "u" else k
    if isinstance(x, bool) or (isinstance(x, np.generic) and x.dtype.kind == "b"):
        return "b"
    if isinstance(x, numbers.Integral):
        return "i"
    return "f"  # floats, float arrays and lists; anything odd is refused by the op itself


def _alpha_times(op, input, other, alpha):  # noqa: A002 - torch's names
    """`alpha * other` for add/sub's `alpha`, checked with torch's rules (other itself when alpha == 1)."""
    if isinstance(alpha, Tensor) or not isinstance(alpha, numbers.Number) or isinstance(alpha, complex):
        raise TypeError(f"{op}: alpha must be a real number, got {type(alpha).__name__} {alpha!r}")
    kinds = {_kind(input), _kind(other)}
    result = "f" if "f" in kinds else "i" if "i" in kinds else "b"
    a_kind = _kind(alpha)
    if result != "f" and a_kind == "f":
        raise RuntimeError(f"{op}: for integral input tensors, argument alpha must not be a floating point number "
                           f"(got alpha={alpha!r}), as in torch")
    if result != "b" and a_kind == "b":
        raise RuntimeError(f"{op}: a bool alpha ({alpha!r}) is only supported for bool results, as in torch")
    if result == "b":
        alpha = bool(alpha)  # bool + bool is logical or; alpha only switches `other` on or off
        if alpha:
            return other
        return _el.mul(other, False) if isinstance(other, Tensor) else False
    alpha = scalar_value(alpha, op)
    if alpha == 1:
        return other  # exact: no product to round
    if isinstance(other, Tensor):
        # scaled in the dtype torch computes in (found by fuzzing): uint8[] + 2 * bool[] stays uint8, and
        # int8[1] - (-1) * uint8[1] is 1 in int16 (not -255 from uint8 * -1 wrapping first)
        if isinstance(input, Tensor) and input.data.dtype.kind in "biu" and other.data.dtype.kind in "biu":
            _, other = _el._math_operands(op, input, other)
        elif other.data.dtype.kind == "b":  # (bool * 2 would be int64, whatever input's dtype)
            other = other.to(np.int64 if not isinstance(input, Tensor) or input.data.dtype.kind != "f"
                             else input.data.dtype)
        return _el.mul(other, alpha)
    if _is_number(other):
        return scalar_value(other, op) * alpha
    return _el.mul(_el.to_tensor(other, input if isinstance(input, Tensor) else None, op), alpha)


def add(input, other, *, alpha=1):  # noqa: A002 - torch's names
    """input + alpha * other (torch.add), broadcasting;  d/d input = 1, d/d other = alpha."""
    if _numbers_only(input, other):
        input = Tensor(input)
    return _el.add(input, _alpha_times("add", input, other, alpha))


def sub(input, other, *, alpha=1):  # noqa: A002
    """input - alpha * other (torch.sub / torch.subtract), broadcasting;  d/d input = 1, d/d other = -alpha."""
    if _numbers_only(input, other):
        input = Tensor(input)
    _el.refuse_bool_subtraction("sub", input, other)
    return _el.sub(input, _alpha_times("sub", input, other, alpha))


subtract = sub


def rsub(input, other, *, alpha=1):  # noqa: A002
    """other - alpha * input (torch.rsub: sub with the operands reversed); input must be a Tensor."""
    _tensor_arg("rsub", input)
    _el.refuse_bool_subtraction("rsub", input, other)
    return _named("rsub", _el.sub, other, _alpha_times("rsub", other, input, alpha))


def mul(input, other):  # noqa: A002
    """input * other (torch.mul / torch.multiply), broadcasting;  d/d input = other, d/d other = input."""
    if _numbers_only(input, other):
        input = Tensor(input)
    return _el.mul(input, other)


multiply = mul


class DivRounding(Function):
    """y = trunc(a / b) ('trunc') or floor(a / b) as Python's a // b ('floor');  dy/da = dy/db = 0

    Zero gradients everywhere, as torch (the quotient is piecewise constant; its jumps get 0 too).
    Floor mode is `elementwise.floor_divide_arrays`, the same fmod-based algorithm as torch's (and Python's),
    exact where floor(a / b) is not: 5.0 // 0.1 is 49.0 while 5.0 / 0.1 rounds to 50.0.
    """

    @staticmethod
    def forward(ctx, a, b, mode):
        xp = get_xp(a)
        with _el._quiet():  # x / 0 is +-inf or NaN for floats, as in torch
            if mode == "floor":
                return _el.floor_divide_arrays(a, b)
            if a.dtype.kind == "f":
                return xp.trunc(a / b)
            # integers: Python's // rounds down; step back up by one where the exact quotient was negative
            q = xp.floor_divide(a, b)
            return q + ((q * b != a) & ((a < 0) != (b < 0))).astype(q.dtype)

    @staticmethod
    def backward(ctx, g):
        na, nb = ctx.needs_input_grad
        z = get_xp(g).zeros_like(g)  # (not g * 0: that would turn an inf or NaN in g into NaN)
        return (z if na else None), (z if nb else None)


_ROUNDING_MODES = (None, "trunc", "floor")


def div(input, other, *, rounding_mode=None):  # noqa: A002
    """input / other (torch.div / torch.divide), broadcasting.

    rounding_mode None: true division (integers become float);  d/d input = 1/other, d/d other = -input/other².
    'trunc' / 'floor': the quotient rounded toward 0 / down (Python's //); integer inputs keep their dtype
    and a zero divisor is an error; the gradient is 0 (as torch).
    """
    if rounding_mode not in _ROUNDING_MODES:
        raise ValueError(f"div: rounding_mode must be one of None, 'trunc' or 'floor', got {rounding_mode!r}")
    if _numbers_only(input, other):
        input = Tensor(input)
    if rounding_mode is None:
        return _el.div(input, other)
    a, b = _el._math_operands("div", input, other)  # torch's dtype rules: int // int stays int, a float wins
    if a.data.dtype.kind == "b":
        raise TypeError(f"div: rounding_mode={rounding_mode!r} is not supported for two bool operands "
                        f"({describe(a)} and {describe(b)}); convert with .long() or .float()")
    if a.data.dtype.kind in "iu" and a.data.size and b.data.size and bool((b.data == 0).any()):
        raise RuntimeError(f"div: integer division by zero with rounding_mode={rounding_mode!r} "
                           f"({describe(a)} by {describe(b)}, which holds a 0)")
    try:
        return DivRounding.apply(a, b, mode=rounding_mode)
    except ValueError as e:
        raise _el._operand_error("div", e, a, b) from None


divide = div


def true_divide(input, other):  # noqa: A002
    """input / other, always true division (torch.true_divide: div without rounding_mode)."""
    return _named("true_divide", div, input, other)


def pow(input, exponent):  # noqa: A001,A002 - torch's names
    """input ** exponent (torch.pow), broadcasting; either side may be a Python number (not both).

    d/d input = exponent * input**(exponent - 1), d/d exponent = input**exponent * log(input).
    """
    return _el.pow(input, exponent)


def neg(input):  # noqa: A002
    """-input (torch.neg / torch.negative);  d/dx = -1. Bool tensors are refused (use ~x), as torch."""
    return _el.neg(_tensor_arg("neg", input))


negative = neg


def positive(input):  # noqa: A002
    """input itself (torch.positive: unary +); bool tensors are refused, as torch."""
    x = _tensor_arg("positive", input)
    if x.data.dtype.kind == "b":
        raise TypeError(f"positive: unary + is not supported for a bool tensor ({describe(x)}), as in torch")
    return x


# torch's alternative names for comparisons and pointwise math (NumPy's spellings)
greater, greater_equal, less, less_equal, not_equal = _el.gt, _el.ge, _el.lt, _el.le, _el.ne
arccos, arcsin, arctan, arctan2, absolute = _el.acos, _el.asin, _el.atan, _el.atan2, _el.abs


# ================================================================ shape functions under torch's top-level names
def reshape(input, shape):  # noqa: A002
    """input with a new shape of the same number of elements, one entry may be -1 (torch.reshape)."""
    return _shape.reshape(_tensor_arg("reshape", input), shape)


def transpose(input, dim0, dim1):  # noqa: A002
    """input with dims dim0 and dim1 swapped (torch.transpose)."""
    return _shape.transpose(_tensor_arg("transpose", input), dim0, dim1)


def permute(input, dims):  # noqa: A002
    """input with its dims reordered by `dims` (torch.permute)."""
    return _shape.permute(_tensor_arg("permute", input), dims)


def squeeze(input, dim=None):  # noqa: A002
    """input without its size-1 dims: all of them, or those of `dim` (an int or a tuple) that have size 1."""
    return _shape.squeeze(_tensor_arg("squeeze", input), dim)


def unsqueeze(input, dim):  # noqa: A002
    """input with a size-1 dim inserted at `dim` (torch.unsqueeze)."""
    return _shape.unsqueeze(_tensor_arg("unsqueeze", input), dim)


def flatten(input, start_dim=0, end_dim=-1):  # noqa: A002
    """input with dims start_dim..end_dim merged into one (torch.flatten; a 0-d tensor becomes shape (1,))."""
    return _shape.flatten(_tensor_arg("flatten", input), start_dim, end_dim)


def ravel(input):  # noqa: A002
    """input as a 1-D tensor, in row-major order (torch.ravel)."""
    return _shape.reshape(_tensor_arg("ravel", input), (-1,))


def clone(input, *, memory_format=None):  # noqa: A002
    """A copy of input with its own memory; gradients flow through (torch.clone).

    `memory_format` is accepted for torch's signature; minigrad copies are always row-major.
    """
    return _shape.clone(_tensor_arg("clone", input))


def numel(input) -> int:  # noqa: A002
    """The number of elements of input (torch.numel)."""
    return int(_tensor_arg("numel", input).data.size)


def is_floating_point(input) -> bool:  # noqa: A002
    """True when input's dtype is a floating-point type (torch.is_floating_point)."""
    return _tensor_arg("is_floating_point", input).data.dtype.kind == "f"


def is_complex(input) -> bool:  # noqa: A002
    """True when input's dtype is complex (torch.is_complex); minigrad has no complex tensors, so False."""
    return _tensor_arg("is_complex", input).data.dtype.kind == "c"


def from_numpy(ndarray):
    """A cpu tensor that shares memory with the NumPy array `ndarray` (torch.from_numpy).

    Writes to either show in the other; the dtype is kept (float64 stays float64). Anything
    but a NumPy array (a list, a NumPy scalar, a Tensor) is refused, as are complex, text and
    object arrays and non-native byte order. A read-only array gives a warning (as torch) and a
    tensor that cannot be written in place.
    """
    op = "from_numpy"
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"{op}: expected a numpy.ndarray, got {type(ndarray).__name__}; "
                        "use mg.tensor(data) to copy other data into a tensor")
    if isinstance(ndarray, np.ma.MaskedArray):
        raise TypeError(f"{op}: masked arrays are not supported (the mask would be dropped); "
                        "use mg.tensor(a.filled(value))")
    arr = ndarray.view(np.ndarray) if type(ndarray) is not np.ndarray else ndarray  # e.g. np.matrix: same memory
    dt = arr.dtype
    if dt.kind not in "biufc":
        raise TypeError(f"{op}: cannot make a tensor from an array of dtype {dt}; supported: bool, integers, "
                        "float16, float32, float64")
    check_dtype(dt, op)  # complex: refused, naming the op
    if not dt.isnative:
        raise ValueError(f"{op}: the array's byte order ({dt}) is not the machine's; convert it first with "
                         "a.astype(a.dtype.newbyteorder('='))")
    if not arr.flags.writeable:
        warnings.warn(f"{op}: the given NumPy array is not writable; the tensor shares its memory and cannot "
                      "be written in place (copy the array first to get a writable tensor)", UserWarning,
                      stacklevel=2)
    return _wrap(arr)


def concat(tensors, dim=0):
    """torch.concat: an alias of `cat` (concatenate along an existing dim)."""
    return _named("concat", _shape.cat, _tensor_list("concat", tensors), dim)


def concatenate(tensors, axis=0):
    """torch.concatenate: an alias of `cat`, with NumPy's keyword `axis`."""
    return _named("concatenate", _shape.cat, _tensor_list("concatenate", tensors), axis)


def clip(input, min=None, max=None):  # noqa: A002
    """torch.clip: an alias of `clamp` (limit input to [min, max])."""
    return _el.clamp(_tensor_arg("clip", input), min, max)


def _bound(op, name, value):
    if value is None:
        raise TypeError(f"{op}: {name} must be a number or a tensor, got None")
    return value


def clamp_min(input, min):  # noqa: A002
    """max(input, min) elementwise (torch.clamp_min; min a number or a tensor);  d/dx = 1 where input >= min."""
    return _el.clamp(_tensor_arg("clamp_min", input), min=_bound("clamp_min", "min", min))


def clamp_max(input, max):  # noqa: A002
    """min(input, max) elementwise (torch.clamp_max; max a number or a tensor);  d/dx = 1 where input <= max."""
    return _el.clamp(_tensor_arg("clamp_max", input), max=_bound("clamp_max", "max", max))


def _in_dtype(op, x, dtype):
    """x cast to `dtype` first when given (torch's `dtype=` of softmax and log_softmax: the math runs in it)."""
    x = _tensor_arg(op, x)
    return x if dtype is None else _shape.cast(x, check_dtype(dtype, op))


def softmax(input, dim, dtype=None):  # noqa: A002
    """exp(x_i) / sum_j exp(x_j) along dim (torch.softmax), in `dtype` when given;  dy = y * (g - sum(g * y))."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('softmax', softmax, input=input, dim=dim, dtype=dtype)
    return _nn.softmax(_in_dtype("softmax", input, dtype), dim)


def log_softmax(input, dim, dtype=None):  # noqa: A002
    """x_i - logsumexp(x) along dim (torch.log_softmax), in `dtype` when given;  dx = g - softmax(x) * sum(g)."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('log_softmax', log_softmax, input=input, dim=dim, dtype=dtype)
    return _nn.log_softmax(_in_dtype("log_softmax", input, dtype), dim)


# ================================================================ broadcasting
def _size_list(op, shape):
    """An int or a sequence of ints as a tuple of ints, else a TypeError naming op."""
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        return (int(shape),)
    try:
        out = tuple(shape)
    except TypeError:
        raise TypeError(f"{op}: a shape must be an int or a sequence of ints, got {shape!r}") from None
    if not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in out):
        raise TypeError(f"{op}: a shape must be an int or a sequence of ints, got {shape!r}")
    return tuple(int(s) for s in out)


def broadcast_shapes(*shapes):
    """The shape that tensors of the given shapes broadcast to (torch.broadcast_shapes), as a tuple.

    Each shape is an int or a sequence of ints; sizes align from the right and must match or be 1.
    """
    out = []
    for shape in shapes:
        s = _size_list("broadcast_shapes", shape)
        if any(d < 0 for d in s):
            raise ValueError(f"broadcast_shapes: sizes must be non-negative, got {s}")
        if len(s) > len(out):
            out = [1] * (len(s) - len(out)) + out
        for i, d in enumerate(s, start=len(out) - len(s)):
            if out[i] == 1:
                out[i] = d
            elif d != 1 and d != out[i]:
                raise ValueError(f"broadcast_shapes: shapes {[_size_list('', x) for x in shapes]} do not broadcast: "
                                 f"size {d} meets size {out[i]} at dim {i - len(out)} (sizes must match or be 1, "
                                 "aligned from the right)")
    return tuple(out)


def broadcast_to(input, shape):  # noqa: A002
    """input broadcast to `shape` (torch.broadcast_to, the same as expand): -1 keeps a dim's size.

    A view; its gradient sums over the broadcast dims.
    """
    op = "broadcast_to"
    x = _tensor_arg(op, input)
    sizes = _size_list(op, shape)
    have = x.data.shape
    lead = len(sizes) - len(have)
    if lead < 0:
        raise ValueError(f"{op}: cannot broadcast {describe(x)} to shape {sizes}, which has fewer dimensions")
    target = []
    for i, want in enumerate(sizes):
        if i < lead:
            if want < 0:
                raise ValueError(f"{op}: cannot broadcast {describe(x)} to shape {sizes}: -1 is not allowed for "
                                 f"a new leading dimension (dim {i})")
            target.append(want)
            continue
        s = have[i - lead]
        if want == -1:
            want = s
        elif want < 0 or (s != 1 and s != want):
            raise ValueError(f"{op}: cannot broadcast {describe(x)} to shape {sizes}: dim {i} has size {s}, which "
                             f"cannot become {want} (only size-1 dims broadcast)")
        target.append(want)
    return _shape.broadcast_to(x, tuple(target))


def broadcast_tensors(*tensors):
    """The tensors broadcast to their common shape (torch.broadcast_tensors), as a tuple of views."""
    for t in tensors:
        _tensor_arg("broadcast_tensors", t, "each argument")
    shape = _named("broadcast_tensors", broadcast_shapes, *[t.data.shape for t in tensors])
    return tuple(_shape.broadcast_to(t, shape) for t in tensors)


def meshgrid(*tensors, indexing=None):
    """Coordinate grids from 1-D tensors (torch.meshgrid): output k holds tensors[k] along its own dim.

    indexing 'ij' (the default, as torch's): outputs of shape (n_0, n_1, ...). 'xy': the first
    two dims swapped, (n_1, n_0, n_2, ...), as in NumPy's default. Tensors may be given as
    separate arguments or as one list; 0-d tensors count as size 1. Each output is a broadcast
    view; its gradient sums back onto its tensor.
    """
    op = "meshgrid"
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        indexing = "ij"  # torch's default (torch also warns that it may someday require the argument)
    if indexing not in ("ij", "xy"):
        raise ValueError(f"{op}: indexing must be 'ij' or 'xy', got {indexing!r}")
    if not tensors:
        raise ValueError(f"{op}: expected at least one tensor")
    for t in tensors:
        _tensor_arg(op, t, "each tensor")
        if t.data.ndim > 1:
            raise ValueError(f"{op}: expected 0-d or 1-D tensors, got {describe(t)}")
    first = tensors[0]
    for t in tensors[1:]:
        if t.data.dtype != first.data.dtype or t.device != first.device:
            raise TypeError(f"{op}: all tensors must share dtype and device; got {describe(first)} and {describe(t)}")
    n = len(tensors)
    axis = list(range(n))
    if indexing == "xy" and n >= 2:
        axis[0], axis[1] = 1, 0  # x varies along columns, y along rows
    shape = [1] * n
    for t, a in zip(tensors, axis):
        shape[a] = int(t.data.size)
    out = []
    for t, a in zip(tensors, axis):
        col = [1] * n
        col[a] = shape[a]
        out.append(_shape.broadcast_to(_shape.reshape(t, tuple(col)), tuple(shape)))
    return tuple(out)


# ================================================================ atleast_nd and the stacks
def _atleast(op, tensors, fix):
    """torch's atleast_Nd calling convention: one tensor -> a tensor; several or one sequence -> a tuple."""
    if len(tensors) == 1 and isinstance(tensors[0], Tensor):
        return fix(tensors[0])
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    for t in tensors:
        _tensor_arg(op, t, "each argument")
    return tuple(fix(t) for t in tensors)


def _at1(x):
    return _shape.reshape(x, (1,)) if x.data.ndim == 0 else x


def _at2(x):
    return _shape.reshape(x, (1,) * (2 - x.data.ndim) + x.data.shape) if x.data.ndim < 2 else x


def _at3(x):
    nd = x.data.ndim
    if nd == 0:
        return _shape.reshape(x, (1, 1, 1))
    if nd == 1:
        return _shape.reshape(x, (1,) + x.data.shape + (1,))  # (n,) -> (1, n, 1), as NumPy and torch
    if nd == 2:
        return _shape.reshape(x, x.data.shape + (1,))
    return x


def atleast_1d(*tensors):
    """Each tensor viewed with at least 1 dim (0-d -> (1,)) (torch.atleast_1d)."""
    return _atleast("atleast_1d", tensors, _at1)


def atleast_2d(*tensors):
    """Each tensor viewed with at least 2 dims (0-d -> (1, 1), (n,) -> (1, n)) (torch.atleast_2d)."""
    return _atleast("atleast_2d", tensors, _at2)


def atleast_3d(*tensors):
    """Each tensor viewed with at least 3 dims ((n,) -> (1, n, 1), (m, n) -> (m, n, 1)) (torch.atleast_3d)."""
    return _atleast("atleast_3d", tensors, _at3)


def _tensor_list(op, tensors):
    """A non-empty list of Tensors from a list or tuple; a lone Tensor is refused (cat would iterate its rows)."""
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}: expected a list or tuple of tensors, got "
                        f"{describe(tensors) if isinstance(tensors, Tensor) else type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty list of tensors")
    for t in tensors:
        _tensor_arg(op, t, "each element")
    return list(tensors)


def vstack(tensors):
    """Tensors stacked row-wise: each made at least 2-D, then cat along dim 0 (torch.vstack / row_stack)."""
    ts = [_at2(t) for t in _tensor_list("vstack", tensors)]
    return _named("vstack", _shape.cat, ts, 0)


row_stack = vstack


def hstack(tensors):
    """Tensors stacked column-wise: cat along dim 0 for 1-D tensors, else dim 1 (torch.hstack)."""
    ts = [_at1(t) for t in _tensor_list("hstack", tensors)]
    return _named("hstack", _shape.cat, ts, 0 if ts[0].data.ndim == 1 else 1)


def dstack(tensors):
    """Tensors stacked depth-wise: each made at least 3-D, then cat along dim 2 (torch.dstack)."""
    ts = [_at3(t) for t in _tensor_list("dstack", tensors)]
    return _named("dstack", _shape.cat, ts, 2)


def column_stack(tensors):
    """0-d and 1-D tensors as columns (n, 1), then hstack (torch.column_stack)."""
    ts = [_shape.reshape(t, (int(t.data.size), 1)) if t.data.ndim <= 1 else t
          for t in _tensor_list("column_stack", tensors)]
    return _named("column_stack", _shape.cat, ts, 1)


# ================================================================ splits
def _split_points(op, indices_or_sections):
    """('sections', n) or ('indices', [i, ...]) from an int, a sequence of ints or a 0-d/1-D integer tensor."""
    v = indices_or_sections
    if isinstance(v, Tensor):
        if v.data.dtype.kind not in "iu":
            raise TypeError(f"{op}: a tensor of indices or sections must have an integer dtype, got {describe(v)}")
        if v.data.ndim > 1:
            raise ValueError(f"{op}: a tensor of indices or sections must be 0-d or 1-D, got {describe(v)}")
        v = int(v.item()) if v.data.ndim == 0 else [int(i) for i in v.tolist()]
    if isinstance(v, bool):
        raise TypeError(f"{op}: expected an int number of sections or a sequence of indices, got {v!r}")
    if isinstance(v, numbers.Integral):
        if v <= 0:
            raise ValueError(f"{op}: the number of sections must be larger than 0, got {int(v)}")
        return "sections", int(v)
    try:
        idx = list(v)
    except TypeError:
        raise TypeError(f"{op}: expected an int number of sections or a sequence of indices, "
                        f"got {type(v).__name__} {v!r}") from None
    if not all(isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in idx):
        raise TypeError(f"{op}: indices must be ints, got {v!r}")
    return "indices", [int(i) for i in idx]


def _tensor_split(x, kind, value, d):
    """The pieces of x along dim d: `value` near-equal sections, or cut before each index (Python slicing)."""
    n = x.data.shape[d]
    if kind == "sections":
        q, r = divmod(n, value)  # the first r pieces get one extra element (NumPy's array_split)
        sizes = [q + 1] * r + [q] * (value - r)
        bounds, start = [], 0
        for s in sizes:
            bounds.append((start, start + s))
            start += s
    else:
        cuts = [0] + value + [None]
        bounds = list(zip(cuts[:-1], cuts[1:]))  # x[a:b] as Python slices it: negatives count from the end
    lead = (slice(None),) * d
    return tuple(_shape.getitem(x, lead + (slice(a, b),)) for a, b in bounds)


def tensor_split(input, indices_or_sections=None, dim=0, *, sections=None, indices=None,  # noqa: A002
                 tensor_indices_or_sections=None):
    """input split along dim into views (torch.tensor_split; NumPy's array_split).

    An int n gives n near-equal pieces (the first n mod size pieces one longer; some may be empty).
    A sequence of indices (or a 1-D integer tensor) cuts before each index: [2, 5] gives x[:2], x[2:5],
    x[5:], slicing as Python does (negative indices count from the end, large ones clip). A 0-d
    integer tensor is a number of sections. Gradients flow back into each piece's place.
    """
    op = "tensor_split"
    x = _tensor_arg(op, input)
    given = [v for v in (indices_or_sections, sections, indices, tensor_indices_or_sections) if v is not None]
    if len(given) != 1:
        raise TypeError(f"{op}: give exactly one of indices_or_sections, sections, indices or "
                        f"tensor_indices_or_sections (got {len(given)})")
    if x.data.ndim == 0:
        raise ValueError(f"{op}: expected at least a 1-dimensional tensor, got {describe(x)}")
    d = normalize_axis(op, dim, x.data.ndim)
    kind, value = _split_points(op, given[0])
    return _tensor_split(x, kind, value, d)


def _directional_split(op, x, indices_or_sections, min_dims, dim):
    """hsplit/vsplit/dsplit: tensor_split along `dim`, where an int number of sections must divide the size."""
    x = _tensor_arg(op, x)
    if x.data.ndim < min_dims:
        raise ValueError(f"{op}: expected a tensor with at least {min_dims} dimension(s), got {describe(x)}")
    if isinstance(indices_or_sections, Tensor):  # torch takes an int or a sequence of ints here
        raise TypeError(f"{op}: expected an int number of sections or a sequence of indices, "
                        f"got the tensor {describe(indices_or_sections)}")
    kind, value = _split_points(op, indices_or_sections)
    n = x.data.shape[dim]
    if kind == "sections" and n % value:
        raise ValueError(f"{op}: cannot split dimension {dim} of size {n} into {value} equal sections "
                         f"({describe(x)}); use tensor_split for unequal pieces")
    return _tensor_split(x, kind, value, dim)


def hsplit(input, indices_or_sections):  # noqa: A002
    """Split column-wise (torch.hsplit): along dim 1, or dim 0 of a 1-D tensor; an int must divide the size."""
    x = _tensor_arg("hsplit", input)
    return _directional_split("hsplit", x, indices_or_sections, 1, 1 if x.data.ndim > 1 else 0)


def vsplit(input, indices_or_sections):  # noqa: A002
    """Split row-wise (torch.vsplit): along dim 0 of a tensor with at least 2 dims."""
    return _directional_split("vsplit", input, indices_or_sections, 2, 0)


def dsplit(input, indices_or_sections):  # noqa: A002
    """Split depth-wise (torch.dsplit): along dim 2 of a tensor with at least 3 dims."""
    return _directional_split("dsplit", input, indices_or_sections, 3, 2)


# ================================================================ flips, rotations, matrix transposes
def fliplr(input):  # noqa: A002
    """input with dim 1 reversed (torch.fliplr: left <-> right); needs at least 2 dims."""
    x = _tensor_arg("fliplr", input)
    if x.data.ndim < 2:
        raise ValueError(f"fliplr: expected a tensor with at least 2 dimensions, got {describe(x)}")
    return _shape.flip(x, 1)


def flipud(input):  # noqa: A002
    """input with dim 0 reversed (torch.flipud: up <-> down); needs at least 1 dim."""
    x = _tensor_arg("flipud", input)
    if x.data.ndim < 1:
        raise ValueError(f"flipud: expected a tensor with at least 1 dimension, got {describe(x)}")
    return _shape.flip(x, 0)


def rot90(input, k=1, dims=(0, 1)):  # noqa: A002
    """input rotated by k * 90 degrees in the plane of `dims`, from dims[0] toward dims[1] (torch.rot90).

    k = 1: flip dims[1], then swap the two dims; k = 2: flip both; k = 3: flip dims[0], then swap;
    k = 0 (mod 4): a copy. Negative k rotates the other way.
    """
    op = "rot90"
    x = _tensor_arg(op, input)
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"{op}: k must be an int, got {type(k).__name__} {k!r}")
    try:
        dims = tuple(dims)
    except TypeError:
        raise TypeError(f"{op}: dims must be a sequence of two ints, got {dims!r}") from None
    if len(dims) != 2:
        raise ValueError(f"{op}: expected exactly two rotation dims, got dims={dims}")
    nd = x.data.ndim
    if nd < 2:
        raise ValueError(f"{op}: expected a tensor with at least 2 dimensions, got {describe(x)}")
    d0, d1 = normalize_axis(op, dims[0], nd), normalize_axis(op, dims[1], nd)
    if d0 == d1:
        raise ValueError(f"{op}: the rotation dims must be different, got dims={dims} (both dim {d0})")
    k = int(k) % 4
    if k == 1:
        return _shape.transpose(_shape.flip(x, d1), d0, d1)
    if k == 2:
        return _shape.flip(x, (d0, d1))
    if k == 3:
        return _shape.transpose(_shape.flip(x, d0), d0, d1)
    return _shape.clone(x)


def matrix_transpose(x, op="mT"):
    """x with its last two dims swapped (torch's Tensor.mT; for real tensors also Tensor.mH)."""
    if x.data.ndim < 2:
        raise ValueError(f"{op}: only supported on matrices or batches of matrices, got {describe(x)}")
    return _shape.transpose(x, -2, -1)


# ================================================================ Tensor metadata (torch's methods)
def stride(x, dim=None):
    """Steps between neighbouring elements along each dim, in elements (torch's Tensor.stride()).

    Read from minigrad's own array, so it shows what NumPy/CuPy laid out: a broadcast dim has
    stride 0 and a reversed (flipped) one a negative stride, where torch would have copied.
    """
    itemsize = x.data.dtype.itemsize
    strides = tuple(int(s) // itemsize for s in x.data.strides)
    if dim is None:
        return strides
    if x.data.ndim == 0:
        raise IndexError(f"stride: dim {dim!r} given, but {describe(x)} has no dimensions")
    return strides[normalize_axis("stride", dim, x.data.ndim)]


def is_same_size(x, other) -> bool:
    """True when other has x's shape (torch's Tensor.is_same_size)."""
    _tensor_arg("is_same_size", other, "other")
    return x.data.shape == other.data.shape

