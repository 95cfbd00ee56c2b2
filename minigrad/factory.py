"""Tensor creation: zeros, ones, full, arange, randn, rand, *_like (torch's names)."""
from __future__ import annotations

import math
import numbers

from . import backend as _B
from .tensor import Tensor, _wrap, check_dtype

np = _B.np  # host-side generation; arrays are then placed on the requested device

__all__ = ["zeros", "ones", "full", "arange", "randn", "rand", "randint", "zeros_like", "ones_like",
           "full_like", "randn_like", "rand_like", "empty", "eye"]


def _shape(size, op="zeros"):
    if len(size) == 1 and not isinstance(size[0], numbers.Integral):
        try:
            size = tuple(size[0])
        except TypeError:
            raise TypeError(f"{op}: size must be ints or a sequence of ints, got {size[0]!r}") from None
    for s in size:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"{op}: size must be ints or a sequence of ints, got {size}")
        if s < 0:
            raise ValueError(f"{op}: expected a shape of non-negative ints, got {size}")
    return tuple(int(s) for s in size)


def _make(arr_fn, size, dtype, device, requires_grad, op="tensor creation"):
    device = _B.parse_device(device)
    xp = _B.array_module_for(device)
    dtype = _B.get_default_dtype() if dtype is None else check_dtype(dtype, op)
    try:
        if xp is np:
            arr = arr_fn(np, dtype)
        else:
            with _B.cupy.cuda.Device(int(device.split(":")[1])):
                arr = arr_fn(xp, dtype)
    except MemoryError as e:  # NumPy's message would not name the op
        what = f"a {np.dtype(dtype)} tensor" + ("" if size is None else f" of shape {tuple(size)}") + f" on {device}"
        raise _B.out_of_memory(op, what, e) from None
    t = _wrap(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape = _shape(size, "zeros")
    return _make(lambda xp, dt: xp.zeros(shape, dtype=dt), shape, dtype, device, requires_grad, op="zeros")


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape = _shape(size, "ones")
    return _make(lambda xp, dt: xp.ones(shape, dtype=dt), shape, dtype, device, requires_grad, op="ones")


empty = zeros  # minigrad has no uninitialised memory: empty() is zeros()


def full(size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape = _shape((size,) if isinstance(size, numbers.Integral) else (size,), "full")
    if not isinstance(fill_value, numbers.Number) or isinstance(fill_value, complex):  # NumPy would parse '1'
        raise TypeError(f"full: fill_value must be a real number, got {type(fill_value).__name__} {fill_value!r}")
    if dtype is None and isinstance(fill_value, bool):
        dtype = np.bool_
    elif dtype is None and isinstance(fill_value, numbers.Integral):
        dtype = np.int64
    return _make(lambda xp, dt: xp.full(shape, fill_value, dtype=dt), shape, dtype, device, requires_grad, op="full")


def eye(n, m=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    n, m = _shape((n,), "eye")[0], (None if m is None else _shape((m,), "eye")[0])
    return _make(lambda xp, dt: xp.eye(n, m, dtype=dt), (n, m), dtype, device, requires_grad, op="eye")


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Values start, start+step, ... < end; int64 for integer arguments, else the default float dtype."""
    if end is None:
        start, end = 0, start
    for v in (start, end, step):
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"arange: start, end and step must be numbers, got {v!r}")
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    count = (end - start) / step
    if not math.isfinite(count) or abs(count) > 2 ** 62:  # NumPy would fail with a bare "Maximum allowed size exceeded"
        raise ValueError(f"arange: [{start}, {end}) in steps of {step} would have {count:.3g} elements")
    if dtype is None:
        ints = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = np.int64 if ints else _B.get_default_dtype()
    return _make(lambda xp, dt: xp.arange(start, end, step, dtype=dt), None, dtype, device, requires_grad, op="arange")


def _host_random(shape, dtype, kind):
    rng = _B.host_rng()
    dt = np.dtype(dtype)
    if dt.kind != "f":  # torch refuses too: integer "samples" would be silently truncated
        op = "randn" if kind == "normal" else "rand"
        raise TypeError(f"{op}: needs a floating dtype, got {dt} (use randint for random integers)")
    draw = rng.standard_normal if kind == "normal" else rng.random
    gen_dtype = dt if dt in (np.dtype(np.float32), np.dtype(np.float64)) else np.float64
    return draw(shape, dtype=gen_dtype).astype(dt, copy=False)


def randn(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples from the seeded host generator (same values on every device)."""
    shape = _shape(size, "randn")
    return _make(lambda xp, dt: xp.asarray(_host_random(shape, dt, "normal")), shape, dtype, device, requires_grad,
                 op="randn")


def rand(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform [0, 1) samples from the seeded host generator."""
    shape = _shape(size, "rand")
    return _make(lambda xp, dt: xp.asarray(_host_random(shape, dt, "uniform")), shape, dtype, device, requires_grad,
                 op="rand")


def randint(low, high=None, size=(), dtype=None, device=None) -> Tensor:
    """Integers in [low, high) (int64), from the seeded host generator."""
    if high is None:
        low, high = 0, low
    shape = _shape((size,) if isinstance(size, numbers.Integral) else (size,), "randint")
    dtype = np.int64 if dtype is None else dtype
    return _make(lambda xp, dt: xp.asarray(_B.host_rng().integers(low, high, shape).astype(dt)), shape, dtype,
                 device, False, op="randint")


def zeros_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return zeros(*t.shape, dtype=t.dtype if dtype is None else dtype, device=t.device if device is None else device,
                 requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return ones(*t.shape, dtype=t.dtype if dtype is None else dtype, device=t.device if device is None else device,
                requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    return full(t.shape, fill_value, dtype=t.dtype if dtype is None else dtype,
                device=t.device if device is None else device, requires_grad=requires_grad)


def randn_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return randn(*t.shape, dtype=t.dtype if dtype is None else dtype, device=t.device if device is None else device,
                 requires_grad=requires_grad)


def rand_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return rand(*t.shape, dtype=t.dtype if dtype is None else dtype, device=t.device if device is None else device,
                requires_grad=requires_grad)
