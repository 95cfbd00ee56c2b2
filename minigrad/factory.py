"""Tensor creation: zeros, ones, full, arange, randn, rand, *_like (torch's names)."""
from __future__ import annotations

import numbers

from . import backend as _B
from .tensor import Tensor, _wrap

np = _B.np  # host-side generation; arrays are then placed on the requested device

__all__ = ["zeros", "ones", "full", "arange", "randn", "rand", "randint", "zeros_like", "ones_like",
           "full_like", "randn_like", "rand_like", "empty", "eye"]


def _shape(size):
    if len(size) == 1 and not isinstance(size[0], numbers.Integral):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, numbers.Integral) or s < 0:
            raise ValueError(f"expected a shape of non-negative ints, got {size}")
    return tuple(int(s) for s in size)


def _make(arr_fn, size, dtype, device, requires_grad):
    device = _B.parse_device(device)
    xp = _B.array_module_for(device)
    dtype = _B.get_default_dtype() if dtype is None else np.dtype(dtype)
    if xp is np:
        arr = arr_fn(np, dtype)
    else:
        with _B.cupy.cuda.Device(int(device.split(":")[1])):
            arr = arr_fn(xp, dtype)
    t = _wrap(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape = _shape(size)
    return _make(lambda xp, dt: xp.zeros(shape, dtype=dt), shape, dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape = _shape(size)
    return _make(lambda xp, dt: xp.ones(shape, dtype=dt), shape, dtype, device, requires_grad)


empty = zeros  # minigrad has no uninitialised memory: empty() is zeros()


def full(size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape = _shape((size,) if isinstance(size, numbers.Integral) else tuple(size))
    if dtype is None and isinstance(fill_value, bool):
        dtype = np.bool_
    elif dtype is None and isinstance(fill_value, numbers.Integral):
        dtype = np.int64
    return _make(lambda xp, dt: xp.full(shape, fill_value, dtype=dt), shape, dtype, device, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _make(lambda xp, dt: xp.eye(n, m, dtype=dt), (n, m), dtype, device, requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Values start, start+step, ... < end; int64 for integer arguments, else the default float dtype."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = np.int64 if ints else _B.get_default_dtype()
    return _make(lambda xp, dt: xp.arange(start, end, step, dtype=dt), None, dtype, device, requires_grad)


def _host_random(shape, dtype, kind):
    rng = _B.host_rng()
    dt = np.dtype(dtype)
    draw = rng.standard_normal if kind == "normal" else rng.random
    gen_dtype = dt if dt in (np.dtype(np.float32), np.dtype(np.float64)) else np.float64
    return draw(shape, dtype=gen_dtype).astype(dt, copy=False)


def randn(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples from the seeded host generator (same values on every device)."""
    shape = _shape(size)
    return _make(lambda xp, dt: xp.asarray(_host_random(shape, dt, "normal")), shape, dtype, device, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform [0, 1) samples from the seeded host generator."""
    shape = _shape(size)
    return _make(lambda xp, dt: xp.asarray(_host_random(shape, dt, "uniform")), shape, dtype, device, requires_grad)


def randint(low, high=None, size=(), dtype=None, device=None) -> Tensor:
    """Integers in [low, high) (int64), from the seeded host generator."""
    if high is None:
        low, high = 0, low
    shape = _shape((size,) if isinstance(size, numbers.Integral) else tuple(size))
    dtype = np.int64 if dtype is None else dtype
    return _make(lambda xp, dt: xp.asarray(_B.host_rng().integers(low, high, shape).astype(dt)), shape, dtype,
                 device, False)


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
