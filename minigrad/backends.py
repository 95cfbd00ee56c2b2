"""torch.backends, the part that applies here: `mg.backends.cuda.matmul.allow_tf32`.

    mg.backends.cuda.matmul.allow_tf32 = True   # float32 products on a GPU may use TF32 tensor cores

False by default, as in torch: products keep full float32 precision. The switch lives
in `backend.set_matmul_tf32` (CuPy's cuBLAS compute type for float32).
"""
from __future__ import annotations

from . import backend as _B

__all__ = ["cuda"]


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
