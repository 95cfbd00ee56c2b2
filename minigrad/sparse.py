"""Row-sparse gradients: the gradient of an embedding table that only stores the rows a batch touched.

A lookup `y = W[idx]` with W of shape (num_embeddings, dim) has the gradient
dW = zeros, plus dy's rows added at idx. With a 100,000-word vocabulary and a
batch of 32 words almost all of that (num_embeddings, dim) array is zero, so
`F.embedding(..., sparse=True)` (and `nn.Embedding(..., sparse=True)`) returns a
`RowSparseGrad` instead: the touched row numbers (`indices`, shape (nnz,)) and
their gradient rows (`values`, shape (nnz, dim)). Building it, accumulating it
and taking an optimizer step on it cost O(batch * dim), not O(num_embeddings * dim).

What a user sees. After `loss.backward()` a parameter that received a row-sparse
gradient has `p.grad` set to a `RowSparseGrad` (not a `Tensor`, as torch's
`p.grad` is a sparse tensor there):

    p.grad.is_sparse        # True (dense gradients are Tensors with is_sparse False)
    p.grad.shape, .dtype    # those of p, so shape/dtype checks read as for dense gradients
    p.grad.indices          # backend int64 array (nnz,): unique, sorted row numbers
    p.grad.values           # backend array (nnz, dim) of p's dtype: the gradient rows
    p.grad.to_dense()       # the dense gradient as a Tensor (allocates (num_embeddings, dim))

Accumulation across backward calls follows the dense rule grad += new_grad:
sparse + sparse stays sparse (rows concatenated, then duplicates summed by
`coalesce`), and sparse + dense becomes dense (a tied weight that is also used
by a matmul gets an ordinary dense gradient). The engine stores gradients
coalesced, so the rows in `p.grad.indices` are unique.

Optimizers (minigrad.optim): SGD without momentum/weight decay and Adagrad update only
the touched rows, which is exactly the dense update; SGD with momentum or weight decay
densifies (exact, dense cost); Adam (and AdamW with weight_decay=0) make a lazy,
SparseAdam-style update of the touched rows; SparseAdam is torch's; RMSprop raises.
Gradient clipping (minigrad.nn.utils) works on the coalesced `values` in place.

Arithmetic on a RowSparseGrad is deliberately small: `+` (with another sparse
gradient, a backend array or a Tensor), scaling by a number (`*`, `mul_`, `-g`)
and `zero_()`. Everything else (NumPy functions, `p.grad * p.grad`, ...) raises a
TypeError that says to call `.to_dense()` first, so a sparse gradient is never
silently treated as something it is not.
"""
from __future__ import annotations

import numbers

from . import backend as _B

np = _B.np  # dtypes only

__all__ = ["RowSparseGrad", "accumulate", "mm"]

_INDEX_DTYPE = np.dtype(np.int64)


def _dense_hint(what: str) -> TypeError:
    return TypeError(
        f"RowSparseGrad: {what} is not supported on a row-sparse gradient (the gradient of an "
        "Embedding with sparse=True); call .to_dense() to get the dense gradient as a Tensor, or work "
        "with .indices and .values (the touched rows)")


class RowSparseGrad:
    """A gradient of shape (num, *row_shape) that is zero except in the rows `indices`.

    Args:
        indices: backend integer array (nnz,): row numbers in [0, num). May repeat
            (repeated rows add up, e.g. a word that occurs twice in a batch) unless
            `coalesced` is True.
        values: backend array (nnz, *row_shape): the gradient rows, in the same order.
        shape: the dense shape (num, *row_shape), i.e. the parameter's shape.
        coalesced: promise that `indices` are unique and sorted (set by `coalesce`).

    The dense gradient it stands for is `G = zeros(shape); G[indices[k]] += values[k]`.
    """

    is_sparse = True
    requires_grad = False
    grad_fn = None
    is_leaf = True
    # NumPy must not try to treat us as an array: `ndarray + g` calls g.__radd__.
    __array_ufunc__ = None
    __array_priority__ = 2000

    __slots__ = ("indices", "values", "shape", "_coalesced")

    def __init__(self, indices, values, shape, coalesced: bool = False):
        shape = tuple(int(s) for s in shape)
        if not (_B.is_array(indices) and _B.is_array(values)):
            raise TypeError(f"RowSparseGrad: indices and values must be backend arrays, got "
                            f"{type(indices).__name__} and {type(values).__name__}")
        if indices.ndim != 1 or indices.dtype.kind not in "iu":
            raise TypeError(f"RowSparseGrad: indices must be a 1-D integer array, got {indices.dtype}{list(indices.shape)}")
        if len(shape) < 1 or values.shape != (indices.shape[0],) + shape[1:]:
            raise ValueError(f"RowSparseGrad: values of shape {tuple(values.shape)} do not fit indices of shape "
                             f"{tuple(indices.shape)} and dense shape {shape}; expected {(indices.shape[0],) + shape[1:]}")
        if _B.device_of(indices) != _B.device_of(values):
            raise RuntimeError(f"RowSparseGrad: indices are on {_B.device_of(indices)} but values on {_B.device_of(values)}")
        self.indices = indices if indices.dtype == _INDEX_DTYPE else indices.astype(_INDEX_DTYPE)
        self.values = values
        self.shape = shape
        self._coalesced = bool(coalesced)

    # ------------------------------------------------------------ metadata (as a Tensor's)
    @property
    def dtype(self):
        return self.values.dtype

    @property
    def device(self) -> str:
        return _B.device_of(self.values)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nnz(self) -> int:
        """Number of stored rows (with repeats, unless coalesced)."""
        return int(self.indices.shape[0])

    @property
    def data(self):
        """The gradient itself (as torch's `sparse_grad.data`); no dense array is made."""
        return self

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return len(self.shape)

    def numel(self) -> int:
        """Elements of the dense gradient this stands for (torch's convention)."""
        n = 1
        for s in self.shape:
            n *= s
        return n

    def is_coalesced(self) -> bool:
        return self._coalesced

    def __repr__(self):
        return (f"RowSparseGrad(shape={self.shape}, dtype={self.dtype}, device='{self.device}', "
                f"nnz={self.nnz}, coalesced={self._coalesced})")

    # ------------------------------------------------------------ conversions
    def coalesce(self) -> "RowSparseGrad":
        """Sum the values of repeated rows; indices become unique and sorted (self if already so)."""
        if self._coalesced:
            return self
        rows, vals = _B.coalesce_rows(self.indices, self.values, self.shape[0], op="RowSparseGrad.coalesce")
        return RowSparseGrad(rows, vals, self.shape, coalesced=True)

    def to_dense_array(self):
        """The dense gradient as a backend array of `shape` (allocates the whole table)."""
        xp = _B.get_array_module(self.values)
        out = xp.zeros(self.shape, dtype=self.values.dtype)
        _B.scatter_add(out, self.indices, self.values)
        return out

    def to_dense(self):
        """The dense gradient as a Tensor (no graph), like torch's `sparse.to_dense()`."""
        from .tensor import _wrap

        return _wrap(self.to_dense_array())

    def copy(self) -> "RowSparseGrad":
        return RowSparseGrad(self.indices.copy(), self.values.copy(), self.shape, self._coalesced)

    clone = copy

    def detach(self) -> "RowSparseGrad":
        return self

    def to(self, device) -> "RowSparseGrad":
        """The same gradient on `device` ('cpu', 'cuda', 'cuda:N')."""
        dev = _B.parse_device(device)
        return RowSparseGrad(_B.to_device(self.indices, dev), _B.to_device(self.values, dev), self.shape,
                             self._coalesced)

    def __array__(self, dtype=None, copy=None):
        raise _dense_hint("conversion to a NumPy array")

    # ------------------------------------------------------------ arithmetic
    def _check_like(self, other_shape, other_dtype, other_device, op):
        if tuple(other_shape) != self.shape or other_dtype != self.dtype or other_device != self.device:
            raise RuntimeError(
                f"RowSparseGrad {op}: shapes/dtypes/devices differ: sparse {self.dtype}{list(self.shape)} on "
                f"{self.device} and {other_dtype}{list(other_shape)} on {other_device}")

    def __add__(self, other):
        """sparse + sparse -> sparse (rows concatenated); sparse + dense array/Tensor -> dense."""
        from .tensor import Tensor, _wrap

        if isinstance(other, RowSparseGrad):
            self._check_like(other.shape, other.dtype, other.device, "+")
            xp = _B.get_array_module(self.values)
            return RowSparseGrad(xp.concatenate([self.indices, other.indices]),
                                 xp.concatenate([self.values, other.values]), self.shape)
        if isinstance(other, Tensor):
            return _wrap(self + other.data)
        if _B.is_array(other):
            self._check_like(other.shape, other.dtype, _B.device_of(other), "+")
            out = other.copy()  # never write into the caller's array
            _B.scatter_add(out, self.indices, self.values)
            return out
        return NotImplemented

    __radd__ = __add__  # addition commutes

    def mul_(self, factor) -> "RowSparseGrad":
        """Scale in place by a number, a 0-d backend array or a one-element Tensor (for gradient clipping)."""
        from .tensor import Tensor

        # only a Tensor is unwrapped: `.data` of a raw array is its buffer (NumPy: a memoryview, CuPy: a pointer)
        f = factor.data if isinstance(factor, Tensor) else factor
        if _B.is_array(f) and f.ndim != 0 and f.size != 1:
            raise _dense_hint(f"mul_ by an array of shape {tuple(f.shape)} (only scalars are allowed)")
        if _B.is_array(f):
            f = f.reshape(()).astype(self.values.dtype, copy=False)  # a float64 0-d array keeps float32 rows
        self.values *= f
        return self

    def __mul__(self, factor):
        if isinstance(factor, RowSparseGrad) or (_B.is_array(factor) and factor.ndim != 0):
            raise _dense_hint("elementwise multiplication")
        if isinstance(factor, numbers.Number) or (_B.is_array(factor) and factor.ndim == 0):
            v = self.values * factor
            if v.dtype != self.values.dtype:  # a float64 0-d array must not upcast float32 rows
                v = v.astype(self.values.dtype)
            return RowSparseGrad(self.indices, v, self.shape, self._coalesced)
        return NotImplemented

    __rmul__ = __mul__

    def __neg__(self):
        return RowSparseGrad(self.indices, -self.values, self.shape, self._coalesced)

    def zero_(self) -> "RowSparseGrad":
        """Make it the zero gradient (no rows), as torch's sparse `zero_()`."""
        xp = _B.get_array_module(self.values)
        self.indices = xp.zeros((0,), dtype=_INDEX_DTYPE)
        self.values = xp.zeros((0,) + self.shape[1:], dtype=self.values.dtype)
        self._coalesced = True
        return self

    def __sub__(self, other):
        raise _dense_hint("subtraction")

    __rsub__ = __truediv__ = __rtruediv__ = __pow__ = __matmul__ = __rmatmul__ = __sub__

    def __getitem__(self, index):
        raise _dense_hint("indexing")

    def numpy(self):
        raise _dense_hint(".numpy()")

    def item(self):
        raise _dense_hint(".item()")


def accumulate(old, new):
    """The engine's `grad += new` when either side is row-sparse; returns the new `.grad`.

    `old` is None, a dense gradient Tensor or a RowSparseGrad; `new` is a backend array or a
    RowSparseGrad straight from a backward. The result never aliases `new` (backward
    outputs may be shared), and sparse results are coalesced so optimizers and gradient
    clipping see each row once.
    """
    from .tensor import Tensor, _wrap

    if old is None:
        if isinstance(new, RowSparseGrad):
            return new.copy() if new.is_coalesced() else new.coalesce()  # coalesce builds new arrays
        return _wrap(new.copy())
    if isinstance(old, Tensor):  # dense + sparse -> dense
        return _wrap(new + old.data)
    if isinstance(new, RowSparseGrad):  # sparse + sparse -> sparse
        return (old + new).coalesce() if not (old.nnz == 0 and new.is_coalesced()) else new.copy()
    return _wrap(old + new)  # sparse + dense array -> dense (a fresh array)


def mm(mat1, mat2):
    """torch.sparse.mm on dense (strided) matrices: mat1 @ mat2, differentiable in both (mg.mm).

    minigrad has no sparse tensor layouts (no torch.sparse_coo_tensor / to_sparse); torch's
    sparse.mm (and torch.spmm) also accept dense matrices, and that is the case served here,
    so a graph convolution `spmm(adj, support)` ports with a dense adjacency matrix.
    """
    from .ops import mm as _mm

    return _mm(mat1, mat2)
