"""torch.cuda, the part a training script touches: devices, synchronisation, memory, seeds.

    device = mg.device("cuda" if mg.cuda.is_available() else "cpu")
    print(mg.cuda.device_count(), mg.cuda.get_device_name(0))
    mg.cuda.synchronize()                  # before reading a timer
    print(mg.cuda.max_memory_allocated() / 2**20, "MiB")

GPUs are CuPy's (the `gpu` extra). Without one these behave as torch's CPU-only build does:
`is_available()` is False, `device_count()` is 0, the memory counters are 0, `empty_cache`
and the seeding functions do nothing, and the functions that need a GPU (`current_device`,
`set_device`, `synchronize`, `get_device_name`, `get_device_properties`, ...) raise a
RuntimeError naming themselves. (`Tensor.cuda()` is a method, unrelated to this module.)
"""
from __future__ import annotations

from . import backend as _B
from . import _device

__all__ = [
    "OutOfMemoryError", "is_available", "is_initialized", "init", "device_count", "current_device", "set_device",
    "get_device_name", "get_device_capability", "get_device_properties", "synchronize", "manual_seed",
    "manual_seed_all", "empty_cache", "memory_allocated", "max_memory_allocated", "memory_reserved",
    "max_memory_reserved", "mem_get_info", "is_bf16_supported",
]

OutOfMemoryError = _B.OutOfMemoryError  # torch.cuda.OutOfMemoryError is torch.OutOfMemoryError too
from .amp import cuda_amp as amp  # noqa: E402  (torch.cuda.amp: autocast, GradScaler; deprecated names)


def _cupy(fn: str):
    """CuPy, or a RuntimeError naming `fn` when no GPU can be used."""
    if _B.cupy is None:
        raise RuntimeError(f"mg.cuda.{fn}: CUDA is not available (CuPy is not installed or no GPU answers); "
                           "check mg.cuda.is_available() first")
    return _B.cupy


def _index(fn: str, device=None) -> int:
    """The GPU number `device` names (None or 'cuda': the current one), checked against the GPUs there are."""
    cupy = _cupy(fn)
    if device is None:
        return cupy.cuda.runtime.getDevice()
    kind, idx = _device.parse(device)
    if kind != "cuda":
        raise ValueError(f"mg.cuda.{fn}: expected a cuda device, got {_device._shown(device)}")
    if idx is None:
        return cupy.cuda.runtime.getDevice()
    n = cupy.cuda.runtime.getDeviceCount()
    if idx >= n:
        raise RuntimeError(f"mg.cuda.{fn}: there are {n} CUDA device(s); valid indices are 0..{n - 1}, got {idx}")
    return idx


# ---------------------------------------------------------------- devices
def is_available() -> bool:
    """True when CuPy imported and at least one GPU answers."""
    return _B.cuda_available()


def is_initialized() -> bool:
    """True when CUDA is set up for use: minigrad does that when it is imported, where a GPU answers."""
    return _B.cupy is not None


def init() -> None:
    """Nothing to do where a GPU answers (minigrad set CUDA up on import); raises without one, as torch's."""
    _cupy("init")


def device_count() -> int:
    """The number of GPUs CuPy sees (0 without CuPy or a GPU)."""
    return _B.cupy.cuda.runtime.getDeviceCount() if _B.cupy is not None else 0


def current_device() -> int:
    """The index of the current GPU: where 'cuda' (no index) puts tensors. Raises without a GPU."""
    return _cupy("current_device").cuda.runtime.getDevice()


def set_device(device) -> None:
    """Make `device` (an int, 'cuda:N' or mg.device) the current GPU of this thread, as torch's.

    'cuda' without an index then means this GPU (``mg.zeros(2, device="cuda")``, ``x.cuda()``).
    A negative int does nothing, as in torch.

    Raises:
        ValueError: a device that is not a GPU ('cpu').
        RuntimeError: no GPU, or no GPU with that index.
    """
    if isinstance(device, int) and not isinstance(device, bool) and device < 0:
        return
    if not isinstance(device, int):
        kind, _ = _device.parse(device)
        if kind != "cuda":
            raise ValueError(f"mg.cuda.set_device: expected a cuda device, got {_device._shown(device)}")
    idx = _index("set_device", device)
    _B.cupy.cuda.runtime.setDevice(idx)


def get_device_name(device=None) -> str:
    """The GPU's name ('NVIDIA H100 80GB HBM3'); `device` defaults to the current one."""
    idx = _index("get_device_name", device)
    return _properties(idx)["name"]


def get_device_capability(device=None) -> tuple:
    """(major, minor) CUDA compute capability of the GPU, e.g. (9, 0) for an H100."""
    p = _properties(_index("get_device_capability", device))
    return p["major"], p["minor"]


class CudaDeviceProperties:
    """What `get_device_properties` says about a GPU: name, major, minor, total_memory (bytes),
    multi_processor_count (the subset of torch's fields CUDA reports through CuPy)."""

    __slots__ = ("name", "major", "minor", "total_memory", "multi_processor_count")

    def __init__(self, name, major, minor, total_memory, multi_processor_count):
        self.name, self.major, self.minor = name, major, minor
        self.total_memory, self.multi_processor_count = total_memory, multi_processor_count

    def __repr__(self):
        return (f"_CudaDeviceProperties(name='{self.name}', major={self.major}, minor={self.minor}, "
                f"total_memory={self.total_memory // 2**20}MB, multi_processor_count={self.multi_processor_count})")


def _properties(idx: int) -> dict:
    raw = _B.cupy.cuda.runtime.getDeviceProperties(idx)
    name = raw["name"]
    return {"name": name.decode() if isinstance(name, bytes) else str(name), "major": int(raw["major"]),
            "minor": int(raw["minor"]), "total_memory": int(raw["totalGlobalMem"]),
            "multi_processor_count": int(raw["multiProcessorCount"])}


def get_device_properties(device=None) -> CudaDeviceProperties:
    """The GPU's name, compute capability, memory and multiprocessor count. Raises without a GPU."""
    return CudaDeviceProperties(**_properties(_index("get_device_properties", device)))


def is_bf16_supported() -> bool:
    """False: minigrad has no bfloat16 dtype (NumPy has none), whatever the GPU supports."""
    return False


def synchronize(device=None) -> None:
    """Wait until the GPU has finished all work queued so far (before reading a timer). Raises without a GPU.

    minigrad reads results back synchronously (`.item()`, `.numpy()`), so only timings need this.
    """
    idx = _index("synchronize", device)  # (first: it raises without a GPU)
    _B.cupy.cuda.Device(idx).synchronize()


# ---------------------------------------------------------------- random numbers
def manual_seed(seed: int) -> None:
    """Seed CuPy's own generators (for code that calls ``cupy.random`` directly); no-op without a GPU.

    minigrad draws every random number, on every device, from its one host generator (a GPU
    draw, e.g. a dropout mask, is seeded from it), so the same `mg.manual_seed(n)` gives the same
    numbers on the CPU and the GPU, and this call does not change minigrad's draws: call
    `mg.manual_seed(n)` for that, as torch scripts do alongside this one. CuPy's generator on GPU
    i gets seed + i, as `mg.manual_seed` gives it.
    """
    seed = int(seed)
    if _B.cupy is not None:
        _B._seed_cupy(seed)


def manual_seed_all(seed: int) -> None:
    """The same as `manual_seed` (which already seeds CuPy on every GPU)."""
    manual_seed(seed)


# ---------------------------------------------------------------- memory
# CuPy keeps freed GPU blocks in a pool for reuse, as torch's caching allocator does: "allocated"
# is what tensors hold (the pool's used bytes), "reserved" what the pool holds from CUDA (its total).
_peak_reserved: dict = {}  # GPU index -> the most the pool held when minigrad last looked


def _pool_bytes(idx: int) -> tuple:
    """(used, total) bytes of CuPy's default memory pool on GPU `idx`."""
    cupy = _B.cupy
    pool = cupy.get_default_memory_pool()
    with cupy.cuda.Device(idx):
        used, total = int(pool.used_bytes()), int(pool.total_bytes())
    _peak_reserved[idx] = max(_peak_reserved.get(idx, 0), total)
    return used, total


def memory_allocated(device=None) -> int:
    """Bytes that tensors hold on the GPU now (CuPy's pool, used bytes); 0 without a GPU, as torch's."""
    return 0 if _B.cupy is None else _pool_bytes(_index("memory_allocated", device))[0]


def memory_reserved(device=None) -> int:
    """Bytes CuPy's pool holds from CUDA on the GPU (in use or kept for reuse); 0 without a GPU."""
    return 0 if _B.cupy is None else _pool_bytes(_index("memory_reserved", device))[1]


def max_memory_reserved(device=None) -> int:
    """The most `memory_reserved` has been. CuPy's pool only grows until `empty_cache`, so this is
    its size now, or what it was before an `empty_cache` if that was more. 0 without a GPU."""
    if _B.cupy is None:
        return 0
    idx = _index("max_memory_reserved", device)
    _pool_bytes(idx)
    return _peak_reserved[idx]


def max_memory_allocated(device=None) -> int:
    """An upper bound of the peak of `memory_allocated` (0 without a GPU).

    CuPy's pool counts no peak of used bytes, so this is `max_memory_reserved`: the pool grows only
    when a request finds no free block, so it is at least the peak, and above it by what rounding
    and fragmentation keep (blocks are rounded up to 512 bytes). torch's value is exact.
    """
    return 0 if _B.cupy is None else max_memory_reserved(device)


def empty_cache() -> None:
    """Give the GPU memory CuPy's pools keep for reuse back to CUDA (tensors keep theirs); no-op without a GPU."""
    cupy = _B.cupy
    if cupy is None:
        return
    pool = cupy.get_default_memory_pool()
    for idx in range(cupy.cuda.runtime.getDeviceCount()):
        _pool_bytes(idx)  # remember the size it had, for max_memory_reserved
        with cupy.cuda.Device(idx):  # (CuPy's pool methods act on the current GPU's pool)
            pool.free_all_blocks()
    cupy.get_default_pinned_memory_pool().free_all_blocks()


def mem_get_info(device=None) -> tuple:
    """(free, total) bytes of the GPU, as CUDA reports them. Raises without a GPU."""
    idx = _index("mem_get_info", device)
    with _B.cupy.cuda.Device(idx):
        free, total = _B.cupy.cuda.runtime.memGetInfo()
    return int(free), int(total)
