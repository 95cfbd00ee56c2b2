"""torch.backends: `mg.backends.cuda.matmul.allow_tf32`, and the flags torch scripts set.

    mg.backends.cuda.matmul.allow_tf32 = True   # float32 products on a GPU may use TF32 tensor cores
    mg.backends.cudnn.benchmark = True          # accepted; no effect (minigrad does not call cuDNN)

`cuda.matmul.allow_tf32` is False by default, as in torch: products keep full float32
precision. The switch lives in `backend.set_matmul_tf32` (CuPy's cuBLAS compute type for
float32); minigrad's convolutions are matrix products too, so it covers them as well.
`cudnn`, `mps` and `mkldnn` say those libraries are not used here and hold torch's flags
without effect, so scripts that set them run unchanged.
"""
from __future__ import annotations

import contextlib

from . import backend as _B

__all__ = ["cuda", "cudnn", "mps", "mkldnn"]


class _Matmul:
    """torch.backends.cuda.matmul: the TF32 switch for CUDA matrix products."""

    @property
    def allow_tf32(self) -> bool:
        return _B.matmul_tf32()

    @allow_tf32.setter
    def allow_tf32(self, allow) -> None:
        _B.set_matmul_tf32(allow)

    def __repr__(self) -> str:
        return f"minigrad.backends.cuda.matmul(allow_tf32={self.allow_tf32})"


class _Cuda:
    """torch.backends.cuda: `matmul.allow_tf32`, and `is_built()`."""

    matmul = _Matmul()

    @staticmethod
    def is_built() -> bool:
        """True when CuPy (the `gpu` extra) is installed, whether or not a GPU answers, as torch's
        says whether torch was built with CUDA; `minigrad.cuda_available()` says whether one can be used."""
        return _B.cupy_installed


cuda = _Cuda()


class _Cudnn:
    """torch.backends.cudnn: minigrad never calls cuDNN (convolutions, pooling and recurrent layers
    are its own code over CuPy/NumPy arrays), so `is_available()` is False and the flags are kept,
    with torch's defaults, only so that scripts setting them run unchanged:

    * `enabled` (True), `benchmark` (False): no effect; nothing here picks among algorithms by timing.
    * `deterministic` (False): no effect; minigrad's convolutions are deterministic on the CPU, and
      on a GPU their input gradient sums with atomic adds whatever this says: use
      `mg.use_deterministic_algorithms(True)` to refuse those.
    * `allow_tf32` (True in torch, for cuDNN convolutions): no effect; minigrad's convolutions are
      matrix products, which follow `mg.backends.cuda.matmul.allow_tf32` (False by default).

    Like torch, setting a flag to anything but a bool raises a TypeError.
    """

    _FLAGS = ("enabled", "benchmark", "deterministic", "allow_tf32")

    def __init__(self):
        object.__setattr__(self, "_values", {"enabled": True, "benchmark": False, "deterministic": False,
                                             "allow_tf32": True})

    def __getattr__(self, name):
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        raise AttributeError(f"minigrad.backends.cudnn has no attribute {name!r}")

    def __setattr__(self, name, value):
        if name not in self._FLAGS:
            raise AttributeError(f"minigrad.backends.cudnn has no flag {name!r}; its flags: {', '.join(self._FLAGS)}")
        if not isinstance(value, bool):
            raise TypeError(f"minigrad.backends.cudnn.{name} must be a bool, got {type(value).__name__}")
        self._values[name] = value

    @staticmethod
    def is_available() -> bool:
        """False: minigrad does not use cuDNN (torch's answer for a build without it)."""
        return False

    @staticmethod
    def version():
        """None, as torch's where cuDNN is not available."""
        return None

    @contextlib.contextmanager
    def flags(self, enabled=False, benchmark=False, deterministic=False, allow_tf32=True):
        """``with mg.backends.cudnn.flags(...)``: the flags set for the block, restored after (torch's defaults)."""
        before = dict(self._values)
        for name, value in (("enabled", enabled), ("benchmark", benchmark), ("deterministic", deterministic),
                            ("allow_tf32", allow_tf32)):
            setattr(self, name, value)
        try:
            yield
        finally:
            self._values.update(before)

    def __repr__(self) -> str:
        return "minigrad.backends.cudnn(" + ", ".join(f"{k}={v}" for k, v in self._values.items()) + ")"


class _Mps:
    """torch.backends.mps (Apple GPUs): not supported by minigrad, so neither available nor built."""

    @staticmethod
    def is_available() -> bool:
        return False

    @staticmethod
    def is_built() -> bool:
        return False


class _Mkldnn:
    """torch.backends.mkldnn (oneDNN CPU kernels): minigrad's CPU ops are NumPy's, so not available."""

    @staticmethod
    def is_available() -> bool:
        return False


cudnn = _Cudnn()
mps = _Mps()
mkldnn = _Mkldnn()

_PRECISIONS = ("highest", "high", "medium")
_precision = ["highest"]  # the last value set (torch's 'medium' also allows bfloat16, which minigrad lacks)


def set_float32_matmul_precision(precision: str) -> None:
    """torch.set_float32_matmul_precision (also `mg.set_float32_matmul_precision`): 'highest' keeps float32
    matrix products in full float32; 'high' and 'medium' let CUDA products use TF32. The same switch as
    `cuda.matmul.allow_tf32`; CPU products are unaffected (as in torch, which has no TF32 on the CPU)."""
    if not isinstance(precision, str):
        raise TypeError(f"set_float32_matmul_precision expects a str, but got {type(precision).__name__}")
    if precision not in _PRECISIONS:  # (torch warns and ignores it)
        raise ValueError(f"set_float32_matmul_precision: precision must be one of {_PRECISIONS}, got {precision!r}")
    _precision[0] = precision
    _B.set_matmul_tf32(precision != "highest")


def get_float32_matmul_precision() -> str:
    """The precision last set, or what `cuda.matmul.allow_tf32` implies if that was set since ('high' / 'highest')."""
    if _B.matmul_tf32() == (_precision[0] != "highest"):
        return _precision[0]
    return "high" if _B.matmul_tf32() else "highest"
