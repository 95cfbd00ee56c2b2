"""minigrad.linalg: torch.linalg's functions under torch's names (`import minigrad as mg; mg.linalg.inv(A)`).

The ops and their backward rules live in `minigrad/ops/linalg_ext.py` (each Function's docstring
has its matrix-calculus derivation); products come from `ops/linalg.py` and `ops/products.py`.
Every function works on batches of matrices (the last two dims), keeps float32, and raises
`LinAlgError` (a RuntimeError, as torch.linalg.LinAlgError) for a singular matrix in inv/solve or
a matrix that is not positive-definite in cholesky.

Not provided: eig / eigvals (their results are complex for general matrices; minigrad computes on
real data: use eigh/eigvalsh for symmetric matrices), lu / lu_factor / lu_solve / ldl_factor,
householder_product, solve_ex, tensorinv / tensorsolve.
"""
from __future__ import annotations

from .ops.linalg import matmul
from .ops.linalg_ext import (
    LinAlgError, cholesky, cholesky_ex, cond, det, eigh, eigvalsh, inv, inv_ex, lstsq, matrix_exp, matrix_norm,
    matrix_rank, multi_dot, norm, pinv, qr, slogdet, solve, solve_triangular, svd, svdvals, vander, vecdot,
    vector_norm,
)
from .ops.products import cross as _cross
from .ops.products import matrix_power
from .ops.shape import diagonal as _diagonal

__all__ = [
    "LinAlgError", "cholesky", "cholesky_ex", "cond", "cross", "det", "diagonal", "eig", "eigh", "eigvals",
    "eigvalsh", "inv", "inv_ex", "lstsq", "matmul", "matrix_exp", "matrix_norm", "matrix_power", "matrix_rank",
    "multi_dot", "norm", "pinv", "qr", "slogdet", "solve", "solve_triangular", "svd", "svdvals", "vander",
    "vecdot", "vector_norm",
]


def cross(input, other, *, dim=-1):  # noqa: A002 - torch's names
    """torch.linalg.cross: the 3-vector cross product along `dim` (default -1, unlike torch.cross's
    first size-3 dim); input and other broadcast. Composed from mul/sub (ops/products.py)."""
    return _cross(input, other, dim=dim)


def diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    """torch.linalg.diagonal: torch.diagonal with the matrix dims (-2, -1) as default."""
    return _diagonal(A, offset, dim1, dim2)


def eig(A):
    """torch.linalg.eig is not provided: a general real matrix has complex eigenvalues and vectors,
    and minigrad computes on real data only. Use eigh for symmetric matrices."""
    raise NotImplementedError("linalg.eig: complex results are not supported (minigrad computes on real data); "
                              "use linalg.eigh / linalg.eigvalsh for symmetric matrices")


def eigvals(A):
    """torch.linalg.eigvals is not provided (complex results); see `eig`."""
    raise NotImplementedError("linalg.eigvals: complex results are not supported (minigrad computes on real "
                              "data); use linalg.eigvalsh for symmetric matrices")
