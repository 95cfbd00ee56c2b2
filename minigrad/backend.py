"""Array backends: NumPy (always) and CuPy (optional, for CUDA GPUs).

This is the only module in minigrad that imports numpy or cupy to compute on
tensor data. Everything else asks for the array module of the arrays it holds
(`get_array_module(x)`, the DeZero/Chainer idiom), so one code path serves both.

Devices are named like torch's: ``"cpu"``, ``"cuda"`` (= ``"cuda:0"``), ``"cuda:N"``.
"""
from __future__ import annotations

import os as _os
import threading as _threading

import numpy as np

from . import _device

cupy_installed = False  # CuPy imported (the `gpu` extra), GPU or not: torch.backends.cuda.is_built()'s meaning
try:  # CuPy is optional: `pip install minigrad[gpu]`
    import cupy as _cupy

    cupy_installed = True
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
    "np", "cupy", "OutOfMemoryError", "cuda_available", "get_array_module", "parse_device", "device_of",
    "to_device", "array_module_for", "manual_seed", "get_default_dtype", "set_default_dtype",
    "scatter_add", "coalesce_rows", "coalesce_weighted_rows", "host_rng", "random_uniform", "get_rng_state", "set_rng_state",
    "row_blocks", "run_blocks", "set_matmul_tf32", "matmul_tf32", "cuda_device", "blas_threads", "set_blas_threads",
    "check_deterministic", "set_default_device", "get_default_device", "factory_device", "default_device_or_none",
]

ndarray = np.ndarray
_array_types: tuple = (np.ndarray,) if cupy is None else (np.ndarray, cupy.ndarray)


# torch.backends.cuda.matmul.allow_tf32 (False, torch's default): whether CuPy's float32 matrix
# products may round their inputs to TF32 (10-bit mantissa) on tensor cores (Ampere and later).
_matmul_tf32 = False


def _cupy_compute_type(name: str) -> int:
    """CuPy's code for a cuBLAS compute type ('COMPUTE_TYPE_TF32', 'COMPUTE_TYPE_DEFAULT'), looked up
    by name in its table, since CuPy keeps the constants out of Python's reach."""
    from cupy._core import _routines_linalg as linalg

    for code in range(16):
        if linalg.compute_type_to_str(code) == name:
            return code
    raise RuntimeError(f"this CuPy ({cupy.__version__}) has no {name}")


def set_matmul_tf32(allow: bool) -> None:
    """Let float32 matrix products on CUDA use TF32 tensor cores (True) or keep full float32 (False).

    TF32 products round each input to a 10-bit mantissa (relative error ~1e-3 per product,
    sums still in float32) and run several times faster on Ampere and later GPUs; torch's
    `torch.backends.cuda.matmul.allow_tf32` is the same switch (cuDNN's RNNs, which torch uses
    for nn.LSTM on CUDA, have TF32 on by default). No effect on the CPU.
    """
    global _matmul_tf32
    _matmul_tf32 = bool(allow)
    if cupy is not None:
        from cupy._core import _routines_linalg as linalg

        linalg.set_compute_type(np.float32, _cupy_compute_type("COMPUTE_TYPE_TF32" if allow
                                                               else "COMPUTE_TYPE_DEFAULT"))


def matmul_tf32() -> bool:
    """Whether float32 matrix products on CUDA may use TF32 (see `set_matmul_tf32`)."""
    return _matmul_tf32


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
class OutOfMemoryError(RuntimeError, MemoryError):
    """An allocation failed; the message names the op and what it tried to allocate.

    A RuntimeError as in torch (`torch.OutOfMemoryError`), and a MemoryError as in Python,
    so either `except` catches it. Raised in place of NumPy's or CuPy's bare MemoryError.
    """


def out_of_memory(op: str, what: str, err: BaseException) -> OutOfMemoryError:
    """The OutOfMemoryError to raise for a MemoryError `err` met while `op` made `what`."""
    return OutOfMemoryError(f"{op}: not enough memory for {what} ({err})")


_CPU = _device.device("cpu")
_CUDA: dict = {}  # index -> device('cuda:N'), made once each
_parsed: dict = {}  # spellings already checked -> their canonical device (bare 'cuda' follows set_device: not kept)


def parse_device(device) -> _device.device:
    """The canonical device, `mg.device('cpu')` or `mg.device('cuda:N')` (a str), named by `device`.

    Accepts None (cpu), 'cpu', 'cuda' (the current GPU: 0 unless `mg.cuda.set_device` said
    otherwise), 'cuda:N', an `mg.device`, a torch.device, or an int N ('cuda:N').
    Raises ValueError/TypeError for unknown names, RuntimeError for missing CUDA devices.
    """
    if device is None:
        return _CPU
    if type(device) is str or type(device) is _device.device:  # (not any hashable: True == 1 as a key)
        known = _parsed.get(device)
        if known is not None:
            return known
    kind, idx = _device.parse(device)  # checks the spelling
    if kind == "cpu":
        canonical = _CPU
    else:
        if cupy is None:
            raise RuntimeError(
                f"device {_device._shown(device)}: CUDA is not available (CuPy is not installed or no GPU answers). "
                "Install the GPU extra with `pip install minigrad[gpu]` on a machine with an NVIDIA GPU."
            )
        n = cupy.cuda.runtime.getDeviceCount()
        if idx is None:
            return cuda_device(cupy.cuda.runtime.getDevice())
        if not idx < n:
            raise RuntimeError(f"device {_device._shown(device)}: there are {n} CUDA device(s); "
                               f"valid indices are 0..{n - 1}")
        canonical = cuda_device(idx)
    if type(device) is str or type(device) is _device.device:
        _parsed[device] = canonical
    return canonical


def cuda_device(index: int) -> _device.device:
    """device('cuda:<index>'), the same object each time."""
    dev = _CUDA.get(index)
    if dev is None:
        dev = _CUDA[index] = _device.device("cuda", index)
    return dev


def device_of(a) -> _device.device:
    """The device of a backend array: device('cpu') or device('cuda:N')."""
    if cupy is not None and isinstance(a, cupy.ndarray):
        return cuda_device(a.device.id)
    return _CPU


def data_address(a) -> int:
    """The memory address of array a's first element (torch's data_ptr): NumPy's `ctypes.data`,
    CuPy's `data.ptr` (a device address)."""
    if cupy is not None and isinstance(a, cupy.ndarray):
        return int(a.data.ptr)
    return int(a.ctypes.data)


def memory_root(a):
    """The array that owns a's memory: the end of the chain of `.base` views (a itself if it owns it).

    Stops at the last array in the chain (a base may be a non-array buffer: bytes, an mmap)."""
    root = a
    while is_array(root.base):
        root = root.base
    return root


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


# ---------------------------------------------------------------- the default device
# torch.set_default_device / ``with torch.device(...)``: where factories put a tensor given no
# device=. The state lives in _device (per thread, as torch's); these functions read and set it.
# Only tensor creation reads it: ops put results where their inputs are, `*_like` and `new_*`
# follow their tensor, `from_numpy` shares host memory, and `.to()` moves only when told.
def set_default_device(device) -> None:
    """torch.set_default_device: make `device` the default for new tensors in this thread.

    Factories (zeros, ones, empty, full, eye, arange, linspace, logspace, rand, randn, randint,
    randperm, normal(mean, std, size), triu/tril_indices), `mg.tensor` / `mg.as_tensor`, and
    layer constructors put a tensor given no ``device=`` there. ``with mg.device(...):`` sets it
    for one block instead.

    Args:
        device: 'cpu', 'cuda', 'cuda:N', an `mg.device`, a torch.device, an int N; or None to
            unset it (factories then use 'cpu', and `mg.tensor` keeps its data's device).
            'cuda' means the current GPU at each use, as in torch.

    Raises:
        ValueError/TypeError: an unknown device spelling.
        RuntimeError: a CUDA device that is not there, raised here (torch raises at the first
            tensor made).

    Inside a ``with mg.device(...)`` block the new default lasts until the block ends, which
    restores the default it replaced (torch 2.13 fails there with an AssertionError).
    """
    if device is not None:
        parse_device(device)  # the clear error now, not at the first tensor
        device = _device.device(device)
    _device._default.device = device


def get_default_device() -> _device.device:
    """torch.get_default_device: the device a factory given no ``device=`` uses, with its index
    ('cuda:0' for a default of 'cuda'); device('cpu') when none is set."""
    return parse_device(_device._default.device)


def default_device_or_none():
    """The default device as set (`set_default_device`, ``with mg.device``), or None when none is.

    `mg.tensor` needs the difference: with none set it keeps its data's device (a CuPy array stays
    on its GPU); with one set, even 'cpu', the data goes there, as in torch.
    """
    return _device._default.device


def factory_device(device, _state=_device._default) -> _device.device:
    """The canonical device a factory puts a new tensor on: `device`, or the default when None."""
    # (_state is bound once: one object that holds each thread's value; ~40 ns a read)
    return parse_device(_state.device if device is None else device)


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


def manual_seed(seed: int) -> np.random.Generator:
    """Seed every backend's generator (NumPy always, CuPy where present); returns the host generator (as torch's
    returns its default generator, so `g = mg.manual_seed(42)` works as a `generator=` argument)."""
    global _host_rng
    seed = int(seed)
    _host_rng = np.random.default_rng(seed)
    _seed_cupy(seed)
    return _host_rng


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
# SciPy is optional: when it is installed, summing repeated rows (the heart of every
# embedding gradient) runs as a sparse-matrix product in compiled code, 4-5x faster than
# NumPy's add.at. Set MINIGRAD_USE_SCIPY=0 (or `backend.use_scipy = False`) to use
# NumPy only; both paths give the same sums (tests run both).
use_scipy = _os.environ.get("MINIGRAD_USE_SCIPY", "1") != "0"
_scipy_sparse = None  # imported on first use (importing scipy.sparse takes ~0.1 s)


def _sparse_module():
    global _scipy_sparse
    if _scipy_sparse is None:
        try:
            import scipy.sparse as _sp
        except Exception:  # not installed (or broken): NumPy's add.at does the work
            _sp = False
        _scipy_sparse = _sp
    return _scipy_sparse if use_scipy else False


def erf(a):
    """The error function erf(x) = 2/sqrt(pi) * integral_0^x e^(-t^2) dt, elementwise, in a's dtype.

    CuPy's on a GPU; SciPy's when it is installed (and `use_scipy`); else `_erf_series`.
    """
    fn = special_function("erf", a)
    if fn is not None:
        return fn(a).astype(a.dtype, copy=False)
    return _erf_series(a)


def special_function(name: str, a):
    """scipy.special.<name> for a's kind of array: CuPy's (cupyx.scipy.special) for a GPU array,
    SciPy's for a NumPy array when SciPy is installed and `use_scipy`, else None (the caller's own
    series then does the work). The only place that imports either special-function module."""
    if cupy is not None and isinstance(a, cupy.ndarray):
        import cupyx.scipy.special  # part of CuPy

        return getattr(cupyx.scipy.special, name)
    special = _special_module()
    return getattr(special, name) if special else None


_scipy_special = None


def _special_module():
    global _scipy_special
    if _scipy_special is None:
        try:
            import scipy.special as _sp
        except Exception:  # not installed (or broken): our own series does the work
            _sp = False
        _scipy_special = _sp
    return _scipy_special if use_scipy else False


def _erf_series(a):
    """erf without SciPy, to float64 rounding: a series for |x| <= 3 and a continued fraction beyond.

    |x| <= 3:  erf(x) = 2/sqrt(pi) e^(-x^2) sum_n (2x^2)^n x / (1*3*...*(2n+1)), all terms positive
               (no cancellation; 64 terms reach 1e-26 of the sum at x = 3).
    |x| > 3:   erf(x) = 1 - erfc(x), erfc(x) = e^(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))),
               evaluated from the 64th level up; erfc(3) = 2e-5, so its error hardly reaches erf.
    """
    x = np.abs(np.asarray(a, dtype=np.float64))
    out = np.empty_like(x)
    small = x <= 3
    xs = x[small]
    term, total, two_x2 = xs.copy(), xs.copy(), 2 * xs * xs
    for n in range(1, 65):
        term *= two_x2 / (2 * n + 1)
        total += term
    out[small] = (2 / np.sqrt(np.pi)) * np.exp(-xs * xs) * total
    xl = x[~small]  # (NaN lands here and stays NaN; inf gives 1)
    with np.errstate(invalid="ignore", over="ignore"):
        f = xl.copy()
        for k in range(64, 0, -1):
            f = xl + (k / 2) / f
        out[~small] = 1 - np.exp(-xl * xl) / (np.sqrt(np.pi) * f)
    return np.asarray(np.copysign(out, a), dtype=np.asarray(a).dtype)


_csc_kernel = None  # SciPy's compiled "Y += A @ X" for A stored by columns, once found and checked


def _csc_times_dense(groups: int, n: int, indptr, indices, data, source):
    """(groups x n sparse matrix stored by columns) @ source (n, width), in compiled code.

    Calling the kernel directly skips building a scipy.sparse object (~40 us of checks per
    call, as much as the product itself for a word2vec batch). The kernel is checked once
    against the public `csc_matrix @` on a small case; if it is missing or disagrees (a
    future SciPy), the public route is used.
    """
    global _csc_kernel
    sp = _sparse_module()
    if _csc_kernel is None:
        _csc_kernel = False
        try:
            from scipy.sparse import _sparsetools

            kernel = _sparsetools.csc_matvecs
            ptr, idx = np.array([0, 2, 3], dtype=np.int32), np.array([1, 0, 1], dtype=np.int32)
            val, x = np.array([2.0, 3.0, 5.0]), np.array([[1.0, 10.0], [100.0, 1000.0]])
            want = np.asarray(sp.csc_matrix((val, idx, ptr), shape=(2, 2)) @ x)
            got = np.zeros((2, 2))
            kernel(2, 2, 2, ptr, idx, val, x.ravel(), got.ravel())
            if np.array_equal(got, want):
                _csc_kernel = kernel
        except Exception:  # private module changed: keep the public route
            pass
    width = source.shape[1]
    if _csc_kernel:
        source = np.ascontiguousarray(source)  # the kernel reads it as flat row-major memory
        out = np.zeros((groups, width), dtype=source.dtype)
        _csc_kernel(groups, n, width, indptr, indices, data, source.reshape(-1), out.reshape(-1))
        return out
    return np.asarray(sp.csc_matrix((data, indices, indptr), shape=(groups, n)) @ source)


def _rows_in_range(index, n: int, op: str):
    """index as int64 row numbers in [0, n) (negative ones counted from the end), or IndexError."""
    rows = index.astype(np.int64, copy=False)
    if not rows.size:
        return rows
    lo, hi = int(rows.min()), int(rows.max())
    if lo < -n or hi >= n:
        raise IndexError(f"{op}: row index out of range [{-n}, {n}) for a table of {n} rows "
                         f"(got min {lo}, max {hi})")
    return np.where(rows < 0, rows + n, rows) if lo < 0 else rows


def _unique_inverse(rows, n: int):
    """(unique sorted rows, inverse) of int64 rows in [0, n): like np.unique(return_inverse=True).

    When the table is not much bigger than the batch, a mark-and-number pass over n flags
    replaces the sort (O(n + nnz) instead of O(nnz log nnz)).
    """
    if n > 16 * rows.size + 65536:
        return np.unique(rows, return_inverse=True)
    seen = np.zeros(n, dtype=bool)
    seen[rows] = True
    uniq = np.flatnonzero(seen)
    number = np.empty(n, dtype=np.int32 if n < 2**31 else np.int64)  # int32: SciPy's own index type
    number[uniq] = np.arange(uniq.size, dtype=number.dtype)
    return uniq, number[rows]


def _weighted_row_sums(inverse, weights, source, groups: int):
    """out[j] = sum over (n, k) with inverse[n, k] == j of weights[n, k] * source[n].

    inverse: int64 (N, K) group numbers in [0, groups); weights: (N, K) or None (all ones);
    source: C-contiguous (N, width). Returns a (groups, width) array of source's dtype.
    """
    n, k = inverse.shape
    width = source.shape[1]
    sp = _sparse_module()
    if sp and source.dtype in (np.float32, np.float64) and n * k * width >= 2048:
        # A (groups x N) sparse matrix with A[inverse[n, k], n] += weights[n, k], times the
        # source rows. Stored by columns (K entries in column n: no sorting to build it), the
        # product is SciPy's compiled loop "for each n, k: out[inverse[n, k]] += w * source[n]".
        data = np.ones(n * k, dtype=source.dtype) if weights is None else weights.astype(source.dtype).reshape(-1)
        itype = np.int32 if max(groups, n * k + 1) < 2**31 else np.int64  # SciPy's index types
        return _csc_times_dense(groups, n, np.arange(0, n * k + 1, k, dtype=itype),
                                inverse.reshape(-1).astype(itype, copy=False), data, source)
    # NumPy only: form every weighted row, then add them up with a 1-D add.at over flat
    # element numbers (3-4x faster than NumPy's n-d add.at).
    values = source[:, None, :] if weights is None else weights[:, :, None].astype(source.dtype) * source[:, None, :]
    values = np.broadcast_to(values, (n, k, width)).reshape(-1)
    out = np.zeros((groups, width), dtype=source.dtype)
    if values.size:
        flat = (inverse.reshape(-1, 1) * width + np.arange(width)).reshape(-1)
        np.add.at(out.reshape(-1), flat, values)
    return out


def coalesce_rows(index, values, num_rows: int, op: str = "coalesce_rows"):
    """Sum rows that share an index: (rows, sums) with rows unique and sorted.

    Args:
        index: backend int array (nnz,) of row numbers in [-num_rows, num_rows).
        values: backend array (nnz, *row_shape).
        num_rows: the number of rows of the table the rows index.

    Returns:
        rows (int64, (u,)) and sums ((u, *row_shape), values' dtype) with
        sums[j] = sum of values[k] over k with index[k] == rows[j].
    """
    flat = values.reshape(index.shape[0], int(np.prod(values.shape[1:], dtype=np.int64)))
    rows, sums = coalesce_weighted_rows(index.reshape(-1, 1), None, flat, num_rows, op=op)
    return rows, sums.reshape((rows.shape[0],) + values.shape[1:])


def coalesce_weighted_rows(index, weights, source, num_rows: int, op: str = "coalesce_weighted_rows"):
    """Rows and sums of weighted copies of source rows: each source row n goes, times
    weights[n, k], to row index[n, k] (the gradient of a table whose rows were dotted with
    source rows), without forming the (N, K, width) products where SciPy is available.

    Args:
        index: backend int array (N, K) of row numbers in [-num_rows, num_rows).
        weights: (N, K) floats, or None for all ones.
        source: (N, width).
        num_rows: rows of the table.

    Returns:
        rows (int64 (u,), unique and sorted) and sums (u, width) with
        sums[j] = sum over (n, k) with index[n, k] == rows[j] of weights[n, k] * source[n].
    """
    if cupy is not None and isinstance(source, cupy.ndarray):
        rows, inverse = cupy.unique(index.reshape(-1), return_inverse=True)
        values = source[:, None, :] if weights is None else weights[:, :, None] * source[:, None, :]
        values = cupy.broadcast_to(values, index.shape + source.shape[1:]).reshape(-1, source.shape[1])
        sums = cupy.zeros((rows.shape[0], source.shape[1]), dtype=source.dtype)
        check_deterministic(op, sums)
        import cupyx  # part of CuPy

        cupyx.scatter_add(sums, inverse.reshape(-1), values)
        return rows.astype(np.int64, copy=False), sums
    rows = _rows_in_range(index.reshape(-1), num_rows, op)
    uniq, inverse = _unique_inverse(rows, num_rows)
    sums = _weighted_row_sums(inverse.reshape(index.shape), weights, np.ascontiguousarray(source), uniq.size)
    return uniq, sums


# mg.use_deterministic_algorithms: None (off), "warn" (warn_only=True) or "error". The only run-to-run
# variation in minigrad is the order in which CuPy's atomic adds sum repeated indices on a GPU.
deterministic_algorithms = None


def check_deterministic(op: str, values) -> None:
    """In deterministic mode, refuse (or warn about) summing float `values` with GPU atomic adds."""
    if deterministic_algorithms is None or values.dtype.kind != "f":  # integer sums are exact in any order
        return
    msg = (f"{op}: summing {values.dtype} values at repeated indices on a CUDA device uses atomic adds, whose "
           "order (so the rounding) varies from run to run, and mg.use_deterministic_algorithms(True) is on. "
           "Run this step on the CPU, or call mg.use_deterministic_algorithms(True, warn_only=True) to be warned only")
    if deterministic_algorithms == "warn":
        import warnings

        warnings.warn(msg, UserWarning, stacklevel=3)
    else:
        raise RuntimeError(msg)


def scatter_add(target, index, values):
    """target[index] += values, accumulating over repeated indices (in place)."""
    if cupy is not None and isinstance(target, cupy.ndarray):
        import cupyx  # part of CuPy

        check_deterministic("scatter_add", target)
        cupyx.scatter_add(target, index, values)
    elif (type(index) is np.ndarray and index.ndim == 1 and index.dtype.kind in "iu" and target.ndim >= 2
          and values.shape == index.shape + target.shape[1:] and index.size):
        # Whole rows (embedding gradients): sum the repeats first, then one fancy-index add
        # over unique rows (which NumPy does without buffering tricks: no repeats to lose).
        rows, sums = coalesce_rows(index, values, target.shape[0], op="scatter_add")
        target[rows] += sums
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


# ---------------------------------------------------------------- row-parallel loops on the CPU
# A recurrent layer's time loop is independent across batch rows, so on a multi-core
# CPU a large batch can run as row blocks on parallel threads, each calling BLAS
# single-threaded. That keeps every core busy through the elementwise gate arithmetic
# too (NumPy runs each ufunc call on one core, and releases the GIL inside it), where
# one multi-threaded BLAS call per step leaves the other cores idle between products.
# Measured in benchmarks/RESULTS.md: with 2 cores it pays from ~64 rows per block; with
# fewer rows it loses (each core then reads all of W_hh per step, where one
# two-threaded product gives each core half of it).
#
# It also needs OpenBLAS's idle threads to sleep soon. By default an OpenBLAS worker
# keeps spinning for 2^28 cycles (~0.1 s) after each multi-threaded product, and in a
# training loop some other layer (a Linear head, the loss) has always just made one:
# the spinning worker then takes a core from the blocks, which made whole training
# steps 10-50% slower (measured). So blocks are automatic only when OpenBLAS was
# started with OPENBLAS_THREAD_TIMEOUT <= 22 (2^22 cycles, ~2 ms; set it in the
# environment before NumPy is imported; 20 is a good value), and otherwise off unless
# asked for with MINIGRAD_ROW_THREADS=N.
row_split_min = int(_os.environ.get("MINIGRAD_ROW_SPLIT_MIN", "64"))  # rows per block, at least
row_split_threads = int(_os.environ.get("MINIGRAD_ROW_THREADS", "0"))  # 0: automatic; 1: never; N: up to N blocks
_SHORT_SPIN = 22  # the longest OpenBLAS idle spin (log2 cycles) with which blocks are used automatically
_openblas = False  # NumPy's OpenBLAS (a ctypes library) once looked for; None where absent
_blas_local = None  # its `openblas_set_num_threads_local`, once found
_pool, _pool_size, _pool_pid = None, 0, 0  # threads for blocks 1, 2, ... (the caller runs block 0)


def _numpy_openblas():
    """NumPy's OpenBLAS as a ctypes library (with `openblas_set_num_threads_local`: OpenBLAS >= 0.3.27), or None.

    Found in NumPy's wheel, or among the libraries loaded (Linux); other BLAS builds
    (MKL, Accelerate) simply keep the one-block loop.
    """
    global _openblas, _blas_local
    if _openblas is not False:
        return _openblas
    _openblas = None
    import ctypes
    import glob

    # NumPy's own copy first: SciPy's wheel ships another OpenBLAS, which NumPy never calls.
    base = _os.path.dirname(np.__file__)
    paths = glob.glob(_os.path.join(base, "..", "numpy.libs", "*openblas*")) + glob.glob(
        _os.path.join(base, ".dylibs", "*openblas*"))
    try:  # else a system OpenBLAS that NumPy was linked against (not another wheel's "<name>.libs" copy)
        with open("/proc/self/maps") as maps:
            loaded = {line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line}
        paths += sorted(p for p in loaded if not any(part.endswith(".libs") for part in p.split("/")))
    except OSError:
        pass
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
            fn = lib.openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
        fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
        _openblas, _blas_local = lib, fn
        break
    return _openblas


def _blas_threads_setter():
    """`openblas_set_num_threads_local` of NumPy's OpenBLAS (it returns the previous count), or None."""
    return _blas_local if _numpy_openblas() is not None else None


_idle_spin = None


def _blas_idle_spin() -> int:
    """log2 of the cycles an idle OpenBLAS thread spins before sleeping (OPENBLAS_THREAD_TIMEOUT; default 28).

    OpenBLAS reads the setting once, when it loads, so it is asked once.
    """
    global _idle_spin
    if _idle_spin is None:
        try:
            value = int(_numpy_openblas().openblas_thread_timeout())
        except (AttributeError, TypeError, ValueError):  # no such function (or no OpenBLAS): assume the default
            value = 0
        _idle_spin = 28 if value <= 0 else min(max(value, 4), 30)  # OpenBLAS's own clamp
    return _idle_spin


def _cores() -> int:
    try:
        return len(_os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return _os.cpu_count() or 1


def row_blocks(xp, n: int) -> list:
    """Slices cutting `n` batch rows into the blocks `run_blocks` runs in parallel ([all rows]: don't split).

    Blocks are used for NumPy arrays when there are at least 2 * `row_split_min` rows,
    NumPy's BLAS is an OpenBLAS whose thread count can be set, and either
    `row_split_threads` > 1 or (automatic) more than one core and OpenBLAS threads
    that sleep soon when idle (see above). Elsewhere (CuPy, small batches, other BLAS) one block.
    """
    if xp is not np or n < 2 * max(1, row_split_min):  # the usual case, decided without asking the library
        return [slice(0, n)]
    threads = row_split_threads or (_cores() if _blas_idle_spin() <= _SHORT_SPIN else 1)
    if intra_op_threads:  # mg.set_num_threads(n) caps minigrad's own threads too
        threads = min(threads, intra_op_threads)
    parts = min(threads, n // max(1, row_split_min))
    if parts < 2 or _blas_threads_setter() is None:
        return [slice(0, n)]
    cuts = [n * k // parts for k in range(parts + 1)]
    return [slice(cuts[k], cuts[k + 1]) for k in range(parts)]


def run_blocks(blocks, work) -> list:
    """``[work(k, rows) for k, rows in enumerate(blocks)]``, the blocks on parallel threads.

    `work` must touch only its own rows of shared arrays. While blocks run, BLAS is
    single-threaded (the cores are busy with the blocks already); the calling thread
    runs block 0. An exception in any block is raised here, after all have finished.
    """
    global _pool, _pool_size, _pool_pid
    if len(blocks) == 1 or _blas_threads_setter() is None:  # (row_blocks gives one block then)
        return [work(k, rows) for k, rows in enumerate(blocks)]
    if _pool_size < len(blocks) - 1 or _pool_pid != _os.getpid():  # (a forked child has none of the threads)
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(len(blocks) - 1, thread_name_prefix="minigrad-rows")
        _pool_size, _pool_pid = len(blocks) - 1, _os.getpid()
    with _single_threaded_blas():
        futures = [_pool.submit(_in_block, work, k, blocks[k]) for k in range(1, len(blocks))]
        try:
            first = work(0, blocks[0])
        finally:
            errors = [f.exception() for f in futures]  # waits for every block
    for err in errors:
        if err is not None:
            raise err
    return [first] + [f.result() for f in futures]


def _in_block(work, k, rows):
    # Builds where OpenBLAS's setting is per thread (OpenMP) need it in the block's thread too.
    _blas_local(1)
    return work(k, rows)


_blas_users = 0  # run_blocks calls in progress (from any thread): the last one restores BLAS's setting
_blas_before = 1
_blas_guard = _threading.Lock()
intra_op_threads = 0  # the count mg.set_num_threads asked for (0: never asked)


def blas_threads():
    """The threads NumPy's OpenBLAS uses for a product (what blocks will restore while they run), or None without it."""
    if _blas_threads_setter() is None:
        return None
    with _blas_guard:
        if _blas_users:
            return _blas_before
        before = _blas_local(1)  # OpenBLAS has no getter here: read the count by setting it and back
        _blas_local(before)
        return before


def set_blas_threads(n: int) -> bool:
    """Use `n` threads in NumPy's OpenBLAS from now on (process-wide) and at most `n` row blocks.

    False (nothing set but the row-block cap) when NumPy's BLAS is not an OpenBLAS minigrad can reach.
    """
    global _blas_before, intra_op_threads
    intra_op_threads = int(n)
    if _blas_threads_setter() is None:
        return False
    with _blas_guard:
        if _blas_users:  # blocks are running single-threaded: they restore n when the last one ends
            _blas_before = int(n)
        else:
            _blas_local(int(n))
    return True


class _single_threaded_blas:
    """BLAS at one thread while any caller is inside; the previous setting is restored after the last.

    The pthreads OpenBLAS in NumPy's wheels keeps `openblas_set_num_threads_local` for
    the whole process (measured: a worker thread's setting reaches the main thread), so
    setting and restoring it per block thread would race; here it is set once.
    """

    def __enter__(self):
        global _blas_users, _blas_before
        with _blas_guard:
            if _blas_users == 0:
                _blas_before = _blas_local(1)
            _blas_users += 1

    def __exit__(self, *exc):
        global _blas_users
        with _blas_guard:
            _blas_users -= 1
            if _blas_users == 0:
                _blas_local(_blas_before)
