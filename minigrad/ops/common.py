"""Helpers shared by the op files: operand coercion, dtype/device checks, dim handling."""
from __future__ import annotations

import numbers

from .. import backend as _B
from ..tensor import Tensor, _wrap
from .. import amp as _amp

np = _B.np  # dtypes only

_FLOAT_KINDS = "fc"


def describe(t) -> str:
    """'float32[2, 3] on cpu': how error messages name a tensor."""
    return f"{t.data.dtype}{list(t.data.shape)} on {t.device}"


def refuse_tensor_data(op: str, *tensors) -> None:
    """TypeError for a tensor whose `.data` holds a Tensor: torch's `delta.data = expr` stored one there.

    `.data` is the raw array in minigrad, so the assignment is not refused when it happens; the
    first op that meets such a tensor explains it (instead of a device mismatch between two 'cpu's).
    """
    for t in tensors:
        if isinstance(t, Tensor) and isinstance(t.data, Tensor):
            raise TypeError(f"{op}: an operand's .data holds a Tensor ({describe(t.data)}), not an array: "
                            "`.data` is the raw array in minigrad, so torch's `t.data = value` ports as "
                            "`with mg.no_grad(): t.copy_(value)` (or `t.data = value.data`)")


def require_tensor(op: str, x, what: str = "input") -> None:
    """TypeError unless `x` is a Tensor, naming `op` and the port of torch's `torch.<op>(t.data, ...)`.

    `.data` is the raw backend array in minigrad, so torch code that passes `t.data` to an op
    hands it an array; without this check the op fails deep inside with NumPy's words
    ("memoryview: invalid slice key").
    """
    if not isinstance(x, Tensor):
        if x is None:
            raise TypeError(f"{op}: {what} must be a Tensor, got NoneType")
        port = (f"; `t.data` is the raw array in minigrad, so write torch's `torch.{op}(t.data, ...)` as "
                f"`mg.{op}(t.detach(), ...)`" if _B.is_array(x) else "")
        raise TypeError(f"{op}: {what} must be a Tensor, got {type(x).__name__} (wrap data with mg.tensor(...)"
                        f"{port})")


def refuse_text(x, op: str) -> None:
    """TypeError for str/bytes operands and lists or tuples holding them.

    NumPy parses '2' as 2.0 when it is asked for a float array, so `t + '2'` would
    quietly compute; torch refuses text, and so does minigrad.
    """
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{op}: expected a number, tensor or array, got the {type(x).__name__} {x!r} "
                        "(text is not read as a number)")
    if isinstance(x, (list, tuple)):
        try:
            kind = np.asarray(x).dtype.kind
        except (TypeError, ValueError):  # ragged or odd data: the conversion that follows reports it
            return
        if kind in "SU":
            raise TypeError(f"{op}: expected numbers, got a {type(x).__name__} holding text: {x!r}")


def to_tensor(x, like: Tensor | None, op: str) -> Tensor:
    """Wrap a non-tensor operand (array, list) as a constant tensor on `like`'s device."""
    if isinstance(x, Tensor):
        return x
    if x is None:  # np.asarray(None, dtype=float32) would be a silent NaN
        raise TypeError(f"{op}: unsupported operand None")
    refuse_text(x, op)
    if isinstance(x, complex) or (isinstance(x, np.generic) and x.dtype.kind == "c"):
        # (converting to `like`'s float dtype below would silently drop the imaginary part)
        raise TypeError(f"{op}: complex operands are not supported ({type(x).__name__} {x!r}); "
                        "minigrad computes on real floating-point, integer and bool data")
    if like is not None:
        device = like.device
    else:  # Python data goes to the default device (`mg.set_default_device`), as mg.tensor would put it
        device = _B.device_of(x) if _B.is_array(x) else _B.factory_device(None)  # (an array keeps its device)
    dtype = None
    if like is not None and not _B.is_array(x) and like.data.dtype.kind in _FLOAT_KINDS:
        dtype = like.data.dtype  # Python data adopts the tensor's float dtype
    try:
        arr = _B.as_array(x, dtype=dtype, device=device)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{op}: cannot use an operand of type {type(x).__name__} with a tensor ({e})") from None
    if arr.dtype.kind == "c":
        raise TypeError(f"{op}: complex operands are not supported ({type(x).__name__} of dtype {arr.dtype}); "
                        "minigrad computes on real floating-point, integer and bool data")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{op}: unsupported operand of type {type(x).__name__} (dtype {arr.dtype})")
    return _wrap(arr)


def scalar_value(x, op: str):
    """A Python number from an int/float/bool/NumPy scalar (NumPy scalars would upcast float32)."""
    if isinstance(x, bool):
        return x
    if isinstance(x, numbers.Integral):
        return int(x)
    if isinstance(x, numbers.Real):
        return float(x)
    raise TypeError(f"{op}: expected a number, got {type(x).__name__}")


def is_scalar(x) -> bool:
    """Python int/float/bool or a real NumPy scalar."""
    return isinstance(x, (int, float)) or (isinstance(x, np.generic) and x.dtype.kind in "biuf")


def _category(dtype) -> int:
    """torch's type categories, lowest first: bool 0, integer 1, floating 2."""
    return 0 if dtype.kind == "b" else (2 if dtype.kind in _FLOAT_KINDS else 1)


def check_pair(op: str, a: Tensor, b: Tensor, promote_floats: bool = False):
    """Agree on device and dtype for a binary op; returns the (possibly cast) pair.

    torch's promotion rules: a 0-d tensor beside a tensor with dimensions acts like a
    Python number: it keeps the other's dtype unless it is of a higher category (bool <
    integer < float), so int32 + 0-d int64 stays int32 and float32 + 0-d float64 stays
    float32 (the 0-d one is cast, differentiably). Otherwise two different float dtypes
    are an error (no silent float32 -> float64 upcast) unless `promote_floats` (a
    comparison: its result is bool, so no float result is upcast), when both take the
    wider one, as torch; an integer/bool operand meets a float one by taking the float
    dtype; two integer/bool dtypes promote as in torch (uint8 + int8 -> int16).
    """
    da, db = a.data, b.data
    if da.__class__ is not db.__class__ or (_B.cupy is not None and a.device != b.device):
        refuse_tensor_data(op, a, b)
        # torch's one exception: a 0-d CPU tensor meets a GPU tensor as a number would (a distribution's
        # Normal(0.0, 1.0) parameters beside CUDA data); it is moved, differentiably, so its grad comes back
        if da.ndim == 0 and a.device == "cpu" and b.device != "cpu":
            return check_pair(op, _to_device(a, b.device), b)
        if db.ndim == 0 and b.device == "cpu" and a.device != "cpu":
            return check_pair(op, a, _to_device(b, a.device))
        raise RuntimeError(f"{op}: expected both tensors on the same device, got {describe(a)} and {describe(b)}; "
                           "move one with .to(device)")
    ta, tb = da.dtype, db.dtype
    if ta is tb or ta == tb:
        return a, b
    if (da.ndim == 0) != (db.ndim == 0):
        if da.ndim == 0 and _category(ta) <= _category(tb):
            return _cast_like(a, tb), b
        if db.ndim == 0 and _category(tb) <= _category(ta):
            return a, _cast_like(b, ta)
    fa, fb = ta.kind in _FLOAT_KINDS, tb.kind in _FLOAT_KINDS
    if fa and fb:
        if _amp.region:  # inside autocast float16 meets float32: both float32, torch's promotion (amp.py)
            pair = _amp.promote_pair(a, b)
            if pair is not None:
                return pair
        if _inplace_depth or promote_floats:  # an in-place op (its result is cast back to self's) or a comparison
            wide = promoted_float(ta, tb)
            return (a if ta == wide else _cast_like(a, wide)), (b if tb == wide else _cast_like(b, wide))
        raise TypeError(f"{op}: dtype mismatch: {describe(a)} and {describe(b)}; convert one with "
                        ".float() or .double() (minigrad never upcasts float32 silently)")
    if fa:
        return a, _wrap(db.astype(ta))
    if fb:
        return _wrap(da.astype(tb)), b
    return a, b  # both integer/bool: NumPy's promotion, which is torch's here; no gradients involved


# How many in-place ops are computing now (`ops.special.inplace`). As torch, `x32.add_(y64)` computes in the
# promoted dtype (float64) and writes the result back as float32; the gradient reaching y is float64 again
# (the casts are differentiable). Out of place, float32 with float64 stays a TypeError (no silent upcast).
_inplace_depth = 0


class promoting_floats:
    """Context manager: binary ops inside promote two float dtypes as torch does (for in-place ops only)."""

    def __enter__(self):
        global _inplace_depth
        _inplace_depth += 1

    def __exit__(self, *exc):
        global _inplace_depth
        _inplace_depth -= 1


def promoted_float(*dtypes):
    """torch's promotion among float dtypes: the widest (float16 with float32 is float32)."""
    return max(dtypes, key=lambda d: d.itemsize)


def _cast_like(x: Tensor, dtype):
    """x converted to `dtype`: differentiably when x is a float tensor that requires grad."""
    if x.requires_grad:
        from .shape import cast  # (shape.py imports this module)

        return cast(x, dtype)
    return _wrap(x.data.astype(dtype))


def check_float(op: str, x: Tensor):
    """TypeError naming `op` unless x is a floating-point Tensor."""
    if not isinstance(x, Tensor):  # (x.data would raise a bare AttributeError)
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if x.data.dtype.kind not in _FLOAT_KINDS:
        raise TypeError(f"{op}: expected a floating-point tensor, got {describe(x)}; convert it with .float()")


def normalize_dim(op: str, dim, ndim: int):
    """None -> None (all dims); int or tuple -> a sorted tuple of non-negative dims."""
    if dim is None:
        return None
    if isinstance(dim, numbers.Integral):
        dims = (dim,)
    else:
        try:
            dims = tuple(dim)
        except TypeError:  # e.g. a float
            raise TypeError(f"{op}: dim must be an int or a tuple of ints, got {dim!r}") from None
    out = []
    for d in dims:
        if not isinstance(d, numbers.Integral):
            raise TypeError(f"{op}: dim must be an int or a tuple of ints, got {dim!r}")
        d = int(d)
        nd = max(ndim, 1)
        if not -nd <= d < nd:
            raise IndexError(f"{op}: dim {d} is out of range for a tensor with {ndim} dimension(s) "
                             f"(expected in [{-nd}, {nd - 1}])")
        d %= nd
        if d in out:
            raise ValueError(f"{op}: dim {d} appears twice in {dim!r}")
        out.append(d)
    if ndim == 0:
        return ()
    return tuple(sorted(out))


def normalize_axis(op: str, dim: int, ndim: int) -> int:
    """One dim as a non-negative int (for ops such as softmax, cat, split)."""
    if not isinstance(dim, numbers.Integral):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    if not -ndim <= dim < ndim:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dimension(s) "
                         f"(expected in [{-ndim}, {ndim - 1}])")
    return int(dim) % ndim


def keepdim_shape(shape, dims):
    """`shape` with the reduced `dims` (None = all) set to 1."""
    if dims is None:
        return (1,) * len(shape)
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def c_order(y):
    """y in C order, copied only when it is not already. NumPy lays many results out like their
    (permuted, sliced, expanded) input; torch returns such ops' results contiguous, so a port's
    `.view(...)` of them must work here too."""
    return y if y.flags.c_contiguous else y.copy()


def arg_extreme(a, op: str, axis=None, keepdims=False):
    """`a.argmax(axis)` (op "argmax") or `a.argmin(axis)` of a backend array, with torch's NaN rule said
    explicitly: a NaN beats every number, and the first NaN wins. NumPy's argmax/argmin do that (as
    documented), so NumPy arrays take no extra pass; CuPy's parallel reduction may keep any of several
    NaNs, so there the first NaN is looked up."""
    idx = getattr(a, op)(axis=axis, keepdims=keepdims)
    xp = _B.get_array_module(a)
    if a.dtype.kind not in _FLOAT_KINDS or xp is _B.np:
        return idx
    nan = xp.isnan(a)
    first = nan.argmax(axis=axis, keepdims=keepdims)  # the first True: equal values keep the smallest index
    return xp.where(nan.any(axis=axis, keepdims=keepdims), first, idx)


def quiet():
    """NumPy's floating-point warnings off (inf - inf, 0 / 0, overflow) around a computation whose NaN or
    inf results are the answer, as in torch. (Warnings raised in minigrad's own modules are filtered in
    minigrad/__init__.py; this is for NumPy functions that warn from NumPy's modules, like its reductions.)"""
    return _B.np.errstate(divide="ignore", invalid="ignore", over="ignore")


def _to_device(t: Tensor, device) -> Tensor:
    """t.to(device), differentiably (imported on use: the op lives in ops.shape, which imports this module)."""
    from .shape import to_device
    return to_device(t, device)
