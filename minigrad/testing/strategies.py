"""Hypothesis strategies for property-testing ops: shapes, broadcastable shapes, tensors, indices.

    from hypothesis import given, strategies as st
    from minigrad.testing import gradcheck, strategies as mst

    @given(mst.tensors(shape=mst.shapes(max_dims=3), dtype="float64", requires_grad=True))
    def test_my_op(x):
        gradcheck(my_op, x)

    @given(st.data())                     # dependent draws: a shape, then what fits it
    def test_my_binary_op(data):
        sa, sb = data.draw(mst.broadcastable_shapes(2, max_dims=3))
        a = data.draw(mst.tensors(shape=sa, dtype="float64", requires_grad=True))
        b = data.draw(mst.tensors(shape=sb, dtype="float64", requires_grad=True))
        gradcheck(my_binary_op, a, b)

Every function returns an ordinary Hypothesis strategy: compose them with `st.data()`,
`.map`, `.filter`, `st.tuples`, and they shrink as Hypothesis' own do (shapes towards
fewer and smaller dims, values towards 0). Keep sides small (the defaults: <= 5):
gradcheck's full mode runs fn twice per input element.

    shapes, broadcastable_shapes, shapes_broadcasting_to   shapes
    tensors, arrays                                        values (Tensor / NumPy array)
    dims, index_arrays, basic_indices, index_expressions   arguments that index
    positive_definite_matrices                             inputs of cholesky-like ops
    devices, float_dtypes                                  backends and dtypes

Requires the `hypothesis` package (`pip install minigrad[test]`).
"""
from __future__ import annotations

import numpy as np  # strategies build host data, then place it on a device
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .. import backend as _B
from ..tensor import Tensor

__all__ = ["shapes", "broadcastable_shapes", "shapes_broadcasting_to", "tensors", "arrays", "devices",
           "basic_indices", "index_expressions", "float_dtypes", "dims", "index_arrays",
           "positive_definite_matrices"]


def devices() -> st.SearchStrategy:
    """'cpu', plus 'cuda' when a GPU is usable."""
    return st.sampled_from(["cpu", "cuda"] if _B.cuda_available() else ["cpu"])


def float_dtypes() -> st.SearchStrategy:
    """float32 or float64 (as NumPy dtypes): run one property in both precisions."""
    return st.sampled_from([np.dtype(np.float32), np.dtype(np.float64)])


def shapes(min_dims=0, max_dims=4, min_side=1, max_side=5) -> st.SearchStrategy:
    """Array shapes (tuples of ints); min_side=0 allows empty tensors."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=1, max_side=5) -> st.SearchStrategy:
    """Tuples of `num_shapes` shapes that broadcast together (NumPy rules), size-1 dims included."""
    return hnp.mutually_broadcastable_shapes(num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims,
                                             min_side=min_side, max_side=max_side).map(lambda r: r.input_shapes)


def shapes_broadcasting_to(shape, min_dims=0) -> st.SearchStrategy:
    """Shapes that broadcast to `shape` without growing it: each of the trailing dims is 1 or
    `shape`'s, with possibly fewer dims (a bias for an activation, a per-channel scale, ...).

    Unlike `broadcastable_shapes`, the broadcast result is always `shape` itself.
    """
    shape = tuple(int(s) for s in shape)

    @st.composite
    def draw_shape(draw):
        n = draw(st.integers(min(min_dims, len(shape)), len(shape)))
        tail = shape[len(shape) - n:]
        return tuple(draw(st.sampled_from([1, s])) if s != 1 else 1 for s in tail)

    return draw_shape()


def _representable_bounds(lo, hi, width):
    """[lo, hi] rounded inward to floats of `width` bits (Hypothesis rejects bounds such as 0.1 for float32)."""
    lo, hi = float(lo), float(hi)
    if width == 64:
        return lo, hi
    ftype = np.dtype(f"float{width}").type
    lo_r, hi_r = ftype(lo), ftype(hi)
    if float(lo_r) < lo:
        lo_r = np.nextafter(lo_r, ftype(np.inf))
    if float(hi_r) > hi:
        hi_r = np.nextafter(hi_r, ftype(-np.inf))
    return float(lo_r), float(hi_r)


def _float_elements(lo, hi, width, device):
    """Finite floats of `width` bits in [lo, hi]. CuPy compiles every kernel with -ftz=true: on a GPU a float32
    subnormal (|x| < 1.2e-38) is read and written as 0, so none is drawn for one (unless a bound is one)."""
    tiny = float(np.finfo(np.float32).tiny)
    flushed = width == 32 and str(device).startswith("cuda") and not any(0 < abs(v) < tiny for v in (lo, hi))
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, width=width,
                     allow_subnormal=False if flushed else None)  # (None: Hypothesis' default)


def _elements(dt, min_value, max_value, device, avoid, avoid_margin):
    """The element strategy of `tensors` / `arrays` for dtype `dt`."""
    if dt.kind == "f":
        width = min(dt.itemsize * 8, 64)
        elements = _float_elements(*_representable_bounds(min_value, max_value, width), width, device)
    elif dt.kind in "iu":
        elements = st.integers(int(min_value), int(max_value))
    elif dt.kind == "b":
        elements = st.booleans()
    else:
        raise ValueError(f"tensors: unsupported dtype {dt}")
    if avoid is not None:
        pts = list(avoid)
        elements = elements.filter(lambda v: all(abs(v - p) > avoid_margin for p in pts))
    return elements


def _spread(a, gap) -> bool:
    """Are all elements of `a` at least `gap` apart?"""
    v = np.sort(a.ravel().astype(np.float64))
    return v.size < 2 or bool(np.diff(v).min() >= gap)


def _values(dt, shape, elements, unique, min_gap):
    arrs = hnp.arrays(dt, shape, elements=elements, unique=unique or min_gap is not None)
    return arrs if min_gap is None else arrs.filter(lambda a: _spread(a, min_gap))


@st.composite
def arrays(draw, shape=None, dtype="float64", min_value=-3.0, max_value=3.0, avoid=None, avoid_margin=1e-2,
           unique=False, min_gap=None):
    """A NumPy array, drawn as `tensors` draws values (same arguments, no device or grad).

    For `check_op` draw dtype="float32": check_op takes the values up to float64 for its
    float64 run, so its float32 run sees exactly the same numbers.

        a = data.draw(mst.arrays(shape, dtype="float32", avoid=[0.0]))
        check_op(my_op, my_numpy_reference, [a])
    """
    shp = draw(shape) if isinstance(shape, st.SearchStrategy) else (shape if shape is not None else draw(shapes()))
    dt = np.dtype(draw(dtype) if isinstance(dtype, st.SearchStrategy) else dtype)
    return draw(_values(dt, shp, _elements(dt, min_value, max_value, "cpu", avoid, avoid_margin), unique, min_gap))


@st.composite
def tensors(draw, shape=None, dtype="float64", device="cpu", min_value=-3.0, max_value=3.0,
            requires_grad=False, avoid=None, avoid_margin=1e-2, unique=False, min_gap=None):
    """A Tensor of `shape` (a tuple or a strategy) with finite values in [min_value, max_value].

    Args:
        dtype: a dtype or a strategy of dtypes (floats, ints or bool).
        device: a device name or a strategy (see `devices()`). For a GPU, float32 values are never
            subnormal (CuPy's kernels flush them to zero).
        requires_grad: make a leaf that requires grad (floating dtypes only).
        avoid: values to stay `avoid_margin` away from (e.g. kinks: `avoid=[0.0]` for relu/abs),
            so finite differences never straddle a non-differentiable point.
        unique: all elements distinct (e.g. for max/min ties).
        min_gap: all elements at least this far apart (implies unique). Use it, not unique,
            for gradchecks of max/min/sort/cummax-like ops: distinct values 1e-16 apart are
            still a tie to a finite difference of step eps (min_gap=1e-3 is plenty).
    """
    shp = draw(shape) if isinstance(shape, st.SearchStrategy) else (shape if shape is not None else draw(shapes()))
    dt = np.dtype(draw(dtype) if isinstance(dtype, st.SearchStrategy) else dtype)
    dev = draw(device) if isinstance(device, st.SearchStrategy) else device
    arr = draw(_values(dt, shp, _elements(dt, min_value, max_value, dev, avoid, avoid_margin), unique, min_gap))
    return Tensor(arr, requires_grad=requires_grad and dt.kind == "f", device=dev)


def basic_indices(shape, allow_newaxis=False, allow_ellipsis=True) -> st.SearchStrategy:
    """Basic NumPy indices (ints, slices, None, ...) valid for `shape`."""
    return hnp.basic_indices(shape, allow_newaxis=allow_newaxis, allow_ellipsis=allow_ellipsis)


@st.composite
def index_expressions(draw, shape):
    """A valid index for `shape`: basic, integer-array (with repeats), or a boolean mask."""
    kind = draw(st.sampled_from(["basic", "int", "bool"])) if len(shape) else "basic"
    if kind == "basic":
        return draw(basic_indices(shape, allow_newaxis=True))
    if kind == "int":
        n = shape[0]
        k = draw(st.integers(1, 6))
        idx = draw(hnp.arrays(np.int64, (k,), elements=st.integers(-n, n - 1)))
        rest = draw(st.sampled_from([(), (slice(None),)])) if len(shape) > 1 else ()
        return (idx,) + rest
    return draw(hnp.arrays(np.bool_, shape[:1]))


def dims(ndim, allow_negative=True) -> st.SearchStrategy:
    """A valid `dim` argument for a tensor of `ndim` dims: 0..ndim-1, and -ndim..-1 when allow_negative.

    A 0-d tensor takes dim 0 or -1, as in torch.
    """
    n = max(int(ndim), 1)
    return st.integers(-n if allow_negative else 0, n - 1)


def index_arrays(size, shape=None, allow_negative=False, unique=False) -> st.SearchStrategy:
    """An int64 NumPy array of valid indices into a dim of `size` elements (repeats included unless
    unique): the `index` of index_select / gather / index_add / embedding along that dim.

    Args:
        size: the length of the dim indexed into.
        shape: the index array's shape (a tuple or a strategy); default 1-D of 1 to 5 elements
            (at most `size` when unique).
        allow_negative: also draw -size..-1 (torch's negative indices, where the op takes them).
    """
    size = int(size)
    if shape is None:
        shape = st.integers(1 if size else 0, min(5, size) if unique else (5 if size else 0)).map(lambda k: (k,))
    lo = -size if allow_negative else 0
    if size == 0:
        elements = st.nothing()
    elif unique and allow_negative:  # -1 and size-1 are the same element: draw unique positions, then a sign
        positions = hnp.arrays(np.int64, shape, elements=st.integers(0, size - 1), unique=True)
        return positions.flatmap(lambda a: hnp.arrays(np.bool_, a.shape).map(lambda neg: np.where(neg, a - size, a)))
    else:
        elements = st.integers(lo, size - 1)
    return hnp.arrays(np.int64, shape, elements=elements, unique=unique)


@st.composite
def positive_definite_matrices(draw, n=None, batch_shape=(), dtype="float64", device="cpu", requires_grad=False,
                               min_eigenvalue=0.5):
    """A symmetric positive-definite Tensor of shape batch_shape + (n, n): A A^T / n + min_eigenvalue * I.

    Its eigenvalues are at least `min_eigenvalue` (and at most about 9 + min_eigenvalue), so
    cholesky / inverse / logdet stay well conditioned for finite differences. Note that
    gradcheck perturbs one element at a time, which leaves the symmetric matrices: test
    a function of `a` through `(a + a.mT) / 2` (or any symmetrization) if your op assumes symmetry.

    Args:
        n: the matrix size, an int or a strategy (default 1 to 4).
        batch_shape: leading dims, a tuple or a strategy.
    """
    n = draw(n) if isinstance(n, st.SearchStrategy) else (n if n is not None else draw(st.integers(1, 4)))
    batch = draw(batch_shape) if isinstance(batch_shape, st.SearchStrategy) else tuple(batch_shape)
    a = draw(hnp.arrays(np.float64, tuple(batch) + (n, n), elements=st.floats(-3.0, 3.0)))
    spd = a @ np.swapaxes(a, -1, -2) / n + min_eigenvalue * np.eye(n)
    dev = draw(device) if isinstance(device, st.SearchStrategy) else device
    dt = np.dtype(draw(dtype) if isinstance(dtype, st.SearchStrategy) else dtype)
    return Tensor(spd.astype(dt), requires_grad=requires_grad, device=dev)
