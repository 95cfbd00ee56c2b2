"""torch.testing's `assert_close` and `make_tensor`, for minigrad tensors.

    from minigrad.testing import assert_close, make_tensor
    assert_close(model(x), expected)                  # tolerances picked from the dtype
    assert_close({"w": w, "b": [b1, b2]}, reference)  # nested sequences and mappings, item by item

`assert_close(actual, expected)` passes when every element satisfies
|actual - expected| <= atol + rtol * |expected| (or both are the same inf, or both NaN with
equal_nan=True). Without rtol/atol the tolerances come from the dtype (the table below, torch's
values); integers and bools must be equal. On failure it raises AssertionError saying how many
elements differ and the greatest absolute and relative difference with their index.
"""
from __future__ import annotations

import collections.abc
import math

import numpy as np  # testing helpers are host-side by design

from .. import backend as _B
from ..tensor import Tensor, _wrap

__all__ = ["assert_close", "make_tensor"]

# Default (rtol, atol) by dtype, as torch.testing: a few units in the last place of each precision.
_TOLERANCES = {
    np.dtype("float16"): (1e-3, 1e-5),
    np.dtype("float32"): (1.3e-6, 1e-5),
    np.dtype("float64"): (1e-7, 1e-7),
    np.dtype("complex64"): (1.3e-6, 1e-5),
    np.dtype("complex128"): (1e-7, 1e-7),
}
_TOLERANCES_BY_NAME = {"bfloat16": (1.6e-2, 1e-5)}  # (NumPy has no bfloat16; ml_dtypes' is found by name)


def _default_tolerances(*dtypes) -> tuple[float, float]:
    """The loosest (rtol, atol) of the dtypes involved (integers and bools: exact, (0, 0))."""
    rtols, atols = [0.0], [0.0]
    for d in dtypes:
        rtol, atol = _TOLERANCES.get(d, _TOLERANCES_BY_NAME.get(d.name, (0.0, 0.0)))
        rtols.append(rtol)
        atols.append(atol)
    return max(rtols), max(atols)


def _is_number(x) -> bool:
    return isinstance(x, (bool, int, float, complex, np.number, np.bool_))


def _python_number(x):
    """A NumPy scalar as the Python number it holds (np.float64(1.0) compares as 1.0, as in torch)."""
    return x.item() if isinstance(x, (np.number, np.bool_)) else x


def _where(path: str) -> str:
    return f"\n\n(the failure is in item {path} of the inputs)" if path else ""


def _fail(text: str, path: str, msg):
    """Raise AssertionError with our text, or the user's msg (a str, or a callable given our text)."""
    text += _where(path)
    if msg is not None:
        text = msg(text) if callable(msg) else msg
    raise AssertionError(text)


def _fmt(v) -> str:
    return repr(v.item() if hasattr(v, "item") else v)


# ---------------------------------------------------------------- the value comparison
def _close_mask(a, e, rtol: float, atol: float, equal_nan: bool):
    """Elementwise: is a close to e? Equal values (the same inf too) always are; NaN only with equal_nan."""
    with np.errstate(invalid="ignore", over="ignore"):
        same = a == e
        if rtol == 0 and atol == 0:
            ok = same
        else:
            # (infinities are close only to themselves: |x - inf| <= rtol * inf would hold for any x)
            ok = same | (np.isfinite(a) & np.isfinite(e) & (np.abs(a - e) <= atol + rtol * np.abs(e)))
    if equal_nan and a.dtype.kind in "fc":
        ok = ok | (np.isnan(a) & np.isnan(e))
    return ok


def _index(flat_i: int, shape) -> tuple:
    return tuple(int(i) for i in np.unravel_index(flat_i, shape)) if shape else ()


def _compare_arrays(a, e, rtol, atol, equal_nan, exact, path, msg, scalar_style):
    """Compare two host arrays of one shape and dtype; raise the report on a mismatch."""
    if a.dtype == np.float16:  # differences computed in float32, as torch does on the CPU
        a, e = a.astype(np.float32), e.astype(np.float32)
    ok = _close_mask(a, e, rtol, atol, equal_nan)
    if bool(ok.all()):
        return
    what = "equal" if exact else "close"
    allowed_abs = "" if exact else f" (atol = {atol})"
    allowed_rel = "" if exact else f" (rtol = {rtol})"
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if a.dtype.kind in "biu":  # integer differences as integers, without wrap-around
            abs_diff = np.abs(a.astype(np.int64) - e.astype(np.int64)) if a.dtype.kind != "b" else (a != e).astype(np.int64)
            denom = np.abs(e.astype(np.float64))
        else:
            abs_diff = np.abs(a - e)
            denom = np.abs(e)
        abs_diff = np.where(ok, 0, abs_diff)  # only the mismatched elements compete for the maxima
        rel_diff = np.where(ok, 0, abs_diff / denom)
    if scalar_style:  # a 0-d input reads better as two numbers
        _fail(f"assert_close: the scalars are not {what}: got {_fmt(a[()])}, expected {_fmt(e[()])}.\n"
              f"Absolute difference: {_fmt(abs_diff[()])}{allowed_abs}\n"
              f"Relative difference: {_fmt(rel_diff[()])}{allowed_rel}", path, msg)
    n_bad, n = int(ok.size - np.count_nonzero(ok)), int(ok.size)
    flat_abs, flat_rel = abs_diff.reshape(-1), rel_diff.reshape(-1)
    ia, ir = int(np.argmax(flat_abs)), int(np.argmax(flat_rel))  # (argmax finds a NaN first, as max does)
    _fail(f"assert_close: the tensors are not {what}: {n_bad} of {n} elements differ "
          f"({100.0 * n_bad / n:.1f}%).\n"
          f"Greatest absolute difference: {_fmt(flat_abs[ia])} at index {_index(ia, a.shape)}{allowed_abs}\n"
          f"Greatest relative difference: {_fmt(flat_rel[ir])} at index {_index(ir, a.shape)}{allowed_rel}",
          path, msg)


def _element_strides(arr) -> tuple:
    return tuple(s // arr.itemsize for s in arr.strides)


def _compare_tensor_likes(actual, expected, rtol, atol, equal_nan, check_device, check_dtype, check_layout,
                          check_stride, path, msg):
    """Two minigrad Tensors, or two NumPy arrays: metadata first (shape, device, dtype, stride), then values."""
    is_tensor = isinstance(actual, Tensor)
    a, e = (actual.data, expected.data) if is_tensor else (actual, expected)
    if a.shape != e.shape:
        _fail(f"assert_close: the shapes differ: {tuple(a.shape)} (actual) != {tuple(e.shape)} (expected).",
              path, msg)
    if is_tensor and check_device and actual.device != expected.device:
        _fail(f"assert_close: the devices differ: {actual.device} (actual) != {expected.device} (expected); "
              "pass check_device=False to compare the values across devices.", path, msg)
    if check_dtype and a.dtype != e.dtype:
        _fail(f"assert_close: the dtypes differ: {a.dtype} (actual) != {e.dtype} (expected); "
              "pass check_dtype=False to compare the values in their common dtype.", path, msg)
    # (check_layout: minigrad has one layout, strided, so there is nothing to compare)
    if check_stride and _element_strides(a) != _element_strides(e):
        _fail(f"assert_close: the strides differ: {_element_strides(a)} (actual) != {_element_strides(e)} "
              "(expected).", path, msg)
    a, e = _B.to_device(a, "cpu"), _B.to_device(e, "cpu")
    if rtol is None:
        rtol, atol = _default_tolerances(a.dtype, e.dtype)
    if a.dtype != e.dtype:  # check_dtype=False: compare in the common dtype (torch's promotion: int with
        floats = [d for d in (a.dtype, e.dtype) if d.kind in "fc"]  # float gives the float dtype, not float64)
        common = np.result_type(*floats) if len(floats) == 1 else np.result_type(a.dtype, e.dtype)
        a, e = a.astype(common), e.astype(common)
    exact = rtol == 0 and atol == 0
    _compare_arrays(np.asarray(a), np.asarray(e), rtol, atol, equal_nan, exact, path, msg, a.ndim == 0 and is_tensor)


def _compare_numbers(actual, expected, rtol, atol, equal_nan, check_dtype, path, msg):
    """Two Python numbers (bools, ints, floats, complex; NumPy scalars count as their Python value)."""
    actual, expected = _python_number(actual), _python_number(expected)
    if isinstance(actual, bool) or isinstance(expected, bool):
        if type(actual) is not type(expected):
            _fail(f"assert_close: the types differ: {type(actual).__name__} (actual) != "
                  f"{type(expected).__name__} (expected).", path, msg)
        if actual is not expected:
            _fail(f"assert_close: the booleans differ: got {actual}, expected {expected}.", path, msg)
        return
    if check_dtype and type(actual) is not type(expected):
        _fail(f"assert_close: the types differ: {type(actual).__name__} (actual) != "
              f"{type(expected).__name__} (expected); pass check_dtype=False to compare their values.", path, msg)
    if rtol is None:  # Python floats are float64, ints exact
        kinds = {type(actual), type(expected)}
        rtol, atol = (0.0, 0.0) if kinds == {int} else _TOLERANCES[np.dtype("float64")]
    a, e = np.asarray(actual), np.asarray(expected)
    common = np.result_type(a, e)
    _compare_arrays(a.astype(common), e.astype(common), rtol, atol, equal_nan, rtol == 0 and atol == 0, path, msg,
                    True)


def _compare(actual, expected, path, opts):
    """Dispatch on the kind of input; sequences and mappings recurse with their item's path."""
    msg = opts["msg"]
    if actual is None and expected is None:
        return
    for kind in (Tensor, np.ndarray):
        if isinstance(actual, kind) or isinstance(expected, kind):
            if not (isinstance(actual, kind) and isinstance(expected, kind)):
                raise TypeError(f"assert_close: cannot compare {type(actual).__name__} (actual) with "
                                f"{type(expected).__name__} (expected){' at item ' + path if path else ''}; "
                                "pass two minigrad Tensors, two NumPy arrays, two numbers, or sequences/mappings "
                                "of them (convert one side with mg.tensor(...) or .numpy())")
            return _compare_tensor_likes(actual, expected, opts["rtol"], opts["atol"], opts["equal_nan"],
                                         opts["check_device"], opts["check_dtype"], opts["check_layout"],
                                         opts["check_stride"], path, msg)
    if _is_number(actual) and _is_number(expected):
        return _compare_numbers(actual, expected, opts["rtol"], opts["atol"], opts["equal_nan"],
                                opts["check_dtype"], path, msg)
    if isinstance(actual, collections.abc.Mapping) and isinstance(expected, collections.abc.Mapping):
        missing = [k for k in expected if k not in actual]
        extra = [k for k in actual if k not in expected]
        if missing or extra:
            _fail(f"assert_close: the mappings have different keys: missing in actual {sorted(map(repr, missing))}, "
                  f"not in expected {sorted(map(repr, extra))}.", path, msg)
        for k in expected:
            _compare(actual[k], expected[k], f"{path}[{k!r}]", opts)
        return
    def is_seq(x):
        return isinstance(x, collections.abc.Sequence) and not isinstance(x, (str, bytes))
    if is_seq(actual) and is_seq(expected):
        if len(actual) != len(expected):
            _fail(f"assert_close: the sequences have different lengths: {len(actual)} (actual) != "
                  f"{len(expected)} (expected).", path, msg)
        for i, (x, y) in enumerate(zip(actual, expected)):
            _compare(x, y, f"{path}[{i}]", opts)
        return
    raise TypeError(f"assert_close: cannot compare {type(actual).__name__} (actual) with {type(expected).__name__} "
                    f"(expected){' at item ' + path if path else ''}; pass Tensors, NumPy arrays, numbers, or "
                    "sequences/mappings of them")


def assert_close(actual, expected, *, rtol=None, atol=None, equal_nan=False, check_device=True, check_dtype=True,
                 check_layout=True, check_stride=False, msg=None):
    """Assert that `actual` and `expected` are close (torch.testing.assert_close).

    Elements are close when |actual - expected| <= atol + rtol * |expected|, or they are equal
    (the same inf), or both are NaN and `equal_nan` is set. Shapes must match, and by default
    devices and dtypes too.

    Args:
        actual: a Tensor, NumPy array, Python number, or a (nested) sequence or mapping of them.
        expected: the same structure as `actual`: Tensor with Tensor, array with array (as torch,
            a Tensor is not compared with an array or a list: convert one side).
        rtol, atol: give both or neither. Neither: from the dtype, the loosest of the two inputs':
            float16 (1e-3, 1e-5), bfloat16 (1.6e-2, 1e-5), float32 (1.3e-6, 1e-5),
            float64 (1e-7, 1e-7); integers and bools exactly (0, 0). Python floats count as float64.
        equal_nan: NaN equals NaN.
        check_device, check_dtype: refuse inputs on different devices / of different dtypes
            (off: compared on the CPU / in their common dtype). Python int against float counts
            as a dtype difference.
        check_layout: accepted for torch's signature; minigrad tensors have one layout.
        check_stride: also require equal strides (in elements).
        msg: replaces the failure message: a str, or a callable taking ours and returning the text.

    Raises:
        AssertionError: the inputs differ (values, shapes, dtypes, devices, lengths or keys);
            the message gives the number of mismatched elements and the greatest absolute and
            relative difference with their index, and the failing item for nested inputs.
        TypeError: the inputs cannot be compared (a Tensor against a list, a str, ...).
        ValueError: only one of rtol and atol given.
    """
    if (rtol is None) != (atol is None):
        raise ValueError(f"assert_close: give both rtol and atol or neither, got rtol={rtol} and atol={atol}")
    if rtol is not None:
        rtol, atol = float(rtol), float(atol)
        if rtol < 0 or atol < 0 or math.isnan(rtol) or math.isnan(atol):
            raise ValueError(f"assert_close: rtol and atol must be >= 0, got rtol={rtol} and atol={atol}")
    opts = dict(rtol=rtol, atol=atol, equal_nan=bool(equal_nan), check_device=check_device,
                check_dtype=check_dtype, check_layout=check_layout, check_stride=check_stride, msg=msg)
    _compare(actual, expected, "", opts)


# ---------------------------------------------------------------- make_tensor
def make_tensor(*shape, dtype, device="cpu", low=None, high=None, requires_grad=False, noncontiguous=False,
                exclude_zero=False, memory_format=None):
    """A tensor of random values drawn uniformly from [low, high) (torch.testing.make_tensor).

    Args:
        *shape: the sizes, as integers or one sequence (`make_tensor(2, 3, ...)` or `make_tensor((2, 3), ...)`).
        dtype: a floating, integer or bool dtype (keyword, required as in torch).
        device: 'cpu' or 'cuda[:N]'.
        low, high: the interval; default [-9, 9) for floats, [-9, 10) for integers (clipped to the
            dtype's range, e.g. [0, 10) for uint8), [0, 2) for bools. Integers: low is rounded up,
            high rounded up too (high is exclusive).
        requires_grad: floating dtypes only.
        noncontiguous: a non-contiguous view (every other element of a tensor twice as long in its last dim).
        exclude_zero: zeros become 1 (integers, bools) or the dtype's smallest normal number (floats).
        memory_format: not supported (minigrad has one memory format); None only.

    Values come from minigrad's generator (`mg.manual_seed`), not torch's: the same seed gives
    other numbers than torch.testing.make_tensor.
    """
    if len(shape) == 1 and isinstance(shape[0], collections.abc.Sequence):
        shape = shape[0]
    shape = tuple(int(s) for s in shape)
    dtype = np.dtype(dtype)
    if memory_format is not None:
        raise NotImplementedError("make_tensor: memory_format is not supported (minigrad has one memory format); "
                                  "leave it None")
    is_float = dtype.kind == "f"
    if dtype.kind not in "fiub":
        raise TypeError(f"make_tensor: dtype {dtype} is not supported; use a floating, integer or bool dtype")
    if requires_grad and not is_float:
        raise ValueError(f"make_tensor: requires_grad=True needs a floating dtype, got {dtype}")
    if dtype.kind == "b":
        lo_inc, hi_exc, d_low, d_high = 0, 2, 0, 2
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        lo_inc, hi_exc, d_low, d_high = int(info.min), int(info.max) + (1 if dtype != np.int64 else 0), -9, 10
    else:
        info = np.finfo(dtype)
        lo_inc, hi_exc, d_low, d_high = float(info.min), float(info.max), -9, 9
    low = d_low if low is None else low
    high = d_high if high is None else high
    if any(isinstance(v, float) and math.isnan(v) for v in (low, high)):
        raise ValueError(f"make_tensor: low and high cannot be NaN, got low={low} and high={high}")
    if low > high or (low == high and not is_float):
        raise ValueError(f"make_tensor: low must be less than high, got {low} >= {high}")
    if high < lo_inc or low >= hi_exc:
        raise ValueError(f"make_tensor: the interval [{low}, {high}) is outside what {dtype} holds, "
                         f"[{lo_inc}, {hi_exc})")
    low, high = min(max(low, lo_inc), hi_exc), min(max(high, lo_inc), hi_exc)

    n = 1
    for s in shape:
        n *= s
    noncontiguous = noncontiguous and n > 1
    full_shape = shape[:-1] + (2 * shape[-1],) if noncontiguous else shape
    rng = _B.host_rng()
    if is_float:
        # drawn in float64 and rounded; a range wider than the dtype's max is drawn halved and doubled
        scale = 2.0 if high - low >= float(np.finfo(dtype).max) else 1.0
        values = (rng.uniform(low / scale, high / scale, size=full_shape) * scale).astype(dtype)
    else:
        values = rng.integers(math.ceil(low), math.ceil(high), size=full_shape, dtype=np.int64).astype(dtype)
    if exclude_zero:
        values[values == 0] = 1 if not is_float else np.finfo(dtype).tiny
    data = _B.to_device(values, _B.parse_device(device))  # (refuses 'tpu', or 'cuda' without a GPU, clearly)
    if noncontiguous:
        data = data[..., 1::2]  # (offset by one, as torch, so a wrong offset shows)
    t = _wrap(data, False, None)
    if requires_grad:
        t.requires_grad_(True)
    return t

