"""Array backends: NumPy (always) and CuPy (optional, for CUDA GPUs).

This is the only module in minigrad that imports numpy or cupy to compute on
tensor data. Everything else asks for the array module of the arrays it holds
(`get_array_module(x)`, the DeZero/Chainer idiom), so one code path serves both.

Devices are named like torch's: ``"cpu"``, ``"cuda"`` (= ``"cuda:0"``), ``"cuda:N"``.
"""
from __future__ import annotations

import numpy as np

try:  # CuPy is optional: `pip install minigrad[gpu]`
    import cupy as _cupy

    try:
        _cupy.cuda.runtime.getDeviceCount()
        cupy = _cupy
    except Exception:  # installed but no usable GPU/driver
        cupy = None
except Exception:  # ImportError, or a broken CUDA install
    cupy = None

numpy = np


def _keep_freed_memory_for_reuse() -> None:
    """Ask glibc's malloc to keep freed large blocks instead of returning them to the OS.

    Training allocates and frees the same big temporaries every step (gates, gradients).
    By default glibc serves blocks over ~128 KiB with fresh mmap()s and trims the heap on
    free, so every step page-faults that memory in again: 20-30% of an LSTM or word2vec
    step (measured, benchmarks/RESULTS.md). Raising both thresholds lets the heap keep
    it, as torch's caching allocator does. Linux/glibc only; set MINIGRAD_MALLOC_TUNING=0
    to leave the allocator alone.
    """
    import os
    import sys

    if not sys.platform.startswith("linux") or os.environ.get("MINIGRAD_MALLOC_TUNING", "1") == "0":
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # from <malloc.h>
        libc.mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024)  # glibc's maximum on 64-bit
        libc.mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024)
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to tune
        pass


_keep_freed_memory_for_reuse()

__all__ = [
    "np", "cupy", "cuda_available", "get_array_module", "parse_device", "device_of",
    "to_device", "array_module_for", "manual_seed", "get_default_dtype", "set_default_dtype",
    "scatter_add", "host_rng", "random_uniform", "get_rng_state", "set_rng_state",
]

ndarray = np.ndarray
_array_types: tuple = (np.ndarray,) if cupy is None else (np.ndarray, cupy.ndarray)


def cuda_available() -> bool:
    """True when CuPy imported and at least one CUDA device answers."""
    return cupy is not None


def is_array(x) -> bool:
    """True for a NumPy or CuPy ndarray."""
    return isinstance(x, _array_types)


def get_array_module(x):
    """The array module (numpy or cupy) that owns array `x`."""
    if cupy is not None and isinstance(x, cupy.ndarray):
        return cupy
    return np


# ---------------------------------------------------------------- devices
def parse_device(device) -> str:
    """Canonical device string: 'cpu' or 'cuda:N'. Raises for unknown names or missing CUDA."""
    if device is None:
        return "cpu"
    if not isinstance(device, str):
        # Accept torch-like device objects and our own canonical strings.
        device = str(device)
    d = device.strip().lower()
    if d == "cpu":
        return "cpu"
    if d == "cuda" or d.startswith("cuda:"):
        idx = 0
        if ":" in d:
            try:
                idx = int(d.split(":", 1)[1])
            except ValueError:
                raise ValueError(f"device: cannot parse {device!r}; expected 'cpu', 'cuda' or 'cuda:N'") from None
        if cupy is None:
            raise RuntimeError(
                f"device {device!r}: CUDA is not available (CuPy is not installed or no GPU answers). "
                "Install the GPU extra with `pip install minigrad[gpu]` on a machine with an NVIDIA GPU."
            )
        n = cupy.cuda.runtime.getDeviceCount()
        if not 0 <= idx < n:
            raise RuntimeError(f"device {device!r}: there are {n} CUDA device(s); valid indices are 0..{n - 1}")
        return f"cuda:{idx}"
    raise ValueError(f"device: unknown device {device!r}; expected 'cpu', 'cuda' or 'cuda:N'")


def device_of(a) -> str:
    """Device string of a backend array."""
    if cupy is not None and isinstance(a, cupy.ndarray):
        return f"cuda:{a.device.id}"
    return "cpu"


def array_module_for(device: str):
    """numpy for 'cpu', cupy for 'cuda:N' (device must already be canonical)."""
    return np if device == "cpu" else cupy


def to_device(a, device: str):
    """Move (or keep) array `a` on canonical `device`; returns `a` itself when already there."""
    src = device_of(a)
    if src == device:
        return a
    if device == "cpu":
        return cupy.asnumpy(a)  # device -> host copy, explicit by design
    idx = int(device.split(":")[1])
    with cupy.cuda.Device(idx):
        return cupy.asarray(a)


# ---------------------------------------------------------------- dtypes
_default_dtype = np.dtype(np.float32)


def get_default_dtype() -> np.dtype:
    """The floating dtype new tensors get from Python floats (float32 unless changed)."""
    return _default_dtype


def set_default_dtype(dtype) -> None:
    """Set the default floating dtype (np.float32 or np.float64)."""
    global _default_dtype
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16)):
        raise TypeError(f"set_default_dtype: expected a floating dtype (float16/32/64), got {dt}")
    _default_dtype = dt


# ---------------------------------------------------------------- random numbers
# One host generator drives parameter initialisation so that the same seed gives the
# same weights on 'cpu' and 'cuda', and seeds each device-side draw (dropout masks on
# the GPU, see random_uniform), so its state alone is the state of all randomness.
_host_rng = np.random.default_rng(0)
_cupy_seed = None  # the seed manual_seed last gave CuPy (cuRAND exposes no state to snapshot)


def host_rng() -> np.random.Generator:
    return _host_rng


def manual_seed(seed: int) -> None:
    """Seed every backend's generator (NumPy always, CuPy where present)."""
    global _host_rng
    seed = int(seed)
    _host_rng = np.random.default_rng(seed)
    _seed_cupy(seed)


def _seed_cupy(seed) -> None:
    """Seed CuPy's generator on every GPU (device i gets seed + i); no-op without CuPy."""
    global _cupy_seed
    if cupy is None:
        return
    _cupy_seed = int(seed)
    for i in range(cupy.cuda.runtime.getDeviceCount()):
        with cupy.cuda.Device(i):
            cupy.random.seed(_cupy_seed + i)


def random_uniform(xp, shape, dtype):
    """Uniform [0, 1) samples of `dtype` drawn on xp's device (no device-to-host copy on GPU).

    GPU draws come from a counter-based (Philox) cuRAND generator seeded, draw by draw,
    from the host generator: cuRAND exposes no state to snapshot, but this way the host
    generator's state alone determines every random number on every backend, so a
    checkpoint holding it (`get_rng_state`) resumes bit-exactly on GPUs too.
    """
    gen_dtype = np.float32 if np.dtype(dtype) == np.float32 else np.float64
    if xp is np:
        return _host_rng.random(shape, dtype=gen_dtype).astype(dtype, copy=False)
    seed = int(_host_rng.integers(0, 2**63 - 1))
    rs = cupy.random.RandomState(seed, method=cupy.cuda.curand.CURAND_RNG_PSEUDO_PHILOX4_32_10)
    return rs.random_sample(shape, dtype=gen_dtype).astype(dtype, copy=False)


def get_rng_state() -> dict:
    """A serialisable snapshot of the generators (round-trips through `minigrad.save`/`load`).

    ``"numpy"`` is the host generator's exact bit-generator state. minigrad's own
    randomness (initialisation, data shuffling, dropout on CPU and GPU) all derives
    from it, so it resumes bit-exactly. ``"cupy_seed"`` (present when CuPy is) is the
    seed last given to CuPy's global generator, for user code that calls
    ``cupy.random`` directly; cuRAND exposes no stream position, so that part restarts
    from its seed.
    """
    state = {"numpy": _host_rng.bit_generator.state}
    if cupy is not None:
        state["cupy_seed"] = _cupy_seed
    return state


def set_rng_state(state: dict) -> None:
    """Restore a snapshot from `get_rng_state` (the CuPy part only where CuPy is present)."""
    _host_rng.bit_generator.state = state["numpy"]
    if state.get("cupy_seed") is not None:
        _seed_cupy(state["cupy_seed"])


# ---------------------------------------------------------------- array helpers
def scatter_add(target, index, values):
    """target[index] += values, accumulating over repeated indices (in place)."""
    if cupy is not None and isinstance(target, cupy.ndarray):
        import cupyx  # part of CuPy

        cupyx.scatter_add(target, index, values)
    elif (type(index) is np.ndarray and index.ndim == 1 and index.dtype.kind in "iu" and target.ndim >= 2
          and target.flags.c_contiguous and index.size and values.shape == index.shape + target.shape[1:]
          and -target.shape[0] <= int(index.min()) and int(index.max()) < target.shape[0]):
        # Whole rows of a C-contiguous table (embedding gradients): a 1-D add.at over flat
        # element numbers is 3-4x faster than NumPy's general n-d add.at path. Done in chunks
        # of ~256k elements so the flat index array stays small (cache, no page faults).
        n, row = target.shape[0], target[0].size
        rows = np.where(index < 0, index + n, index) if index.dtype.kind == "i" else index
        rows = rows.astype(np.int64) * row
        flat_target, flat_values = target.reshape(-1), np.ascontiguousarray(values).reshape(index.size, row)
        offsets, step = np.arange(row), max(1, (1 << 18) // row)
        for lo in range(0, index.size, step):
            flat = (rows[lo:lo + step, None] + offsets).reshape(-1)
            np.add.at(flat_target, flat, flat_values[lo:lo + step].reshape(-1))
    else:
        np.add.at(target, index, values)
    return target


def as_array(data, dtype=None, device: str = "cpu"):
    """Build a backend array on `device` from Python data, NumPy or CuPy arrays."""
    xp = array_module_for(device)
    if xp is np:
        if cupy is not None and isinstance(data, cupy.ndarray):
            data = cupy.asnumpy(data)
        return np.asarray(data, dtype=dtype)
    idx = int(device.split(":")[1])
    with cupy.cuda.Device(idx):
        return cupy.asarray(data, dtype=dtype)
