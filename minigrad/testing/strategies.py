"""Hypothesis strategies for property-testing ops: shapes, broadcastable shapes, tensors, indices.

    from hypothesis import given
    from minigrad.testing import strategies as mst

    @given(mst.tensors(shape=mst.shapes(max_dims=3), dtype="float64", requires_grad=True))
    def test_my_op(x):
        gradcheck(my_op, x)

Requires the `hypothesis` package (`pip install minigrad[test]`).
"""
from __future__ import annotations

import numpy as np  # strategies build host data, then place it on a device
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .. import backend as _B
from ..tensor import Tensor

__all__ = ["shapes", "broadcastable_shapes", "tensors", "devices", "basic_indices", "index_expressions",
           "float_dtypes"]


def devices() -> st.SearchStrategy:
    """'cpu', plus 'cuda' when a GPU is usable."""
    return st.sampled_from(["cpu", "cuda"] if _B.cuda_available() else ["cpu"])


def float_dtypes() -> st.SearchStrategy:
    return st.sampled_from([np.dtype(np.float32), np.dtype(np.float64)])


def shapes(min_dims=0, max_dims=4, min_side=1, max_side=5) -> st.SearchStrategy:
    """Array shapes (tuples of ints); min_side=0 allows empty tensors."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=1, max_side=5) -> st.SearchStrategy:
    """Tuples of `num_shapes` shapes that broadcast together (NumPy rules), size-1 dims included."""
    return hnp.mutually_broadcastable_shapes(num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims,
                                             min_side=min_side, max_side=max_side).map(lambda r: r.input_shapes)


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


@st.composite
def tensors(draw, shape=None, dtype="float64", device="cpu", min_value=-3.0, max_value=3.0,
            requires_grad=False, avoid=None, avoid_margin=1e-2, unique=False):
    """A Tensor of `shape` (a tuple or a strategy) with finite values in [min_value, max_value].

    Args:
        dtype: a dtype or a strategy of dtypes (floats, ints or bool).
        device: a device name or a strategy (see `devices()`). For a GPU, float32 values are never
            subnormal (CuPy's kernels flush them to zero).
        requires_grad: make a leaf that requires grad (floating dtypes only).
        avoid: values to stay `avoid_margin` away from (e.g. kinks: `avoid=[0.0]` for relu/abs),
            so finite differences never straddle a non-differentiable point.
        unique: all elements distinct (e.g. for max/min ties).
    """
    shp = draw(shape) if isinstance(shape, st.SearchStrategy) else (shape if shape is not None else draw(shapes()))
    dt = np.dtype(draw(dtype) if isinstance(dtype, st.SearchStrategy) else dtype)
    dev = draw(device) if isinstance(device, st.SearchStrategy) else device
    if dt.kind == "f":
        width = min(dt.itemsize * 8, 64)
        elements = _float_elements(*_representable_bounds(min_value, max_value, width), width, dev)
    elif dt.kind in "iu":
        elements = st.integers(int(min_value), int(max_value))
    elif dt.kind == "b":
        elements = st.booleans()
    else:
        raise ValueError(f"tensors: unsupported dtype {dt}")
    if avoid is not None:
        pts = list(avoid)
        elements = elements.filter(lambda v: all(abs(v - p) > avoid_margin for p in pts))
    arr = draw(hnp.arrays(dt, shp, elements=elements, unique=unique))
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
