"""Fuzzed bad input: the public API either works (checked against NumPy) or fails clearly.

Hypothesis generates calls with wrong shapes, every dtype (float16/32/64, ints, bool,
complex), bad devices ('cuda' without a GPU, 'tpu', 'cuda:99'), NaN/Inf, empty tensors and
out-of-range indices. For each call exactly one of these must happen:

* it works, and the result matches NumPy's (values, shape, dtype), with no NaN that NumPy
  (computing the same thing in float64) does not have: no "silent NaN" from finite input;
* it raises ValueError, TypeError, IndexError or RuntimeError whose message names the op
  (e.g. "cross_entropy: target value 7 is out of range for 5 classes ...") and that was
  raised by minigrad, not by NumPy with its raw message;

and never a hang (every call runs under a SIGALRM watchdog).

Policies this file pins down (see "What minigrad guarantees" in the README):
* complex data is refused with a TypeError when a tensor is created, cast or combined;
* float16 is supported for storage and computation (NumPy's half precision; overflow past
  65504 gives inf, as IEEE says), checked here against NumPy at half-precision tolerance;
* NaN or Inf in the input propagate as they do in NumPy/torch (not an error: detect them with
  `mg.detect_anomaly()`); mathematically undefined results (0/0, log(-1)) are NaN;
* reductions with no identity over an empty dimension (max, min, argmax, mean, var,
  logsumexp) and var with no degrees of freedom (one element, correction=1) raise ValueError
  rather than return NaN; softmax of an empty tensor is an empty tensor; sum of nothing is 0.
"""
from __future__ import annotations

import io
import math
import os
import re
import signal
import traceback
import warnings
import zipfile
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad import functional as F
from minigrad import nn

ALLOWED = (ValueError, TypeError, IndexError, RuntimeError)
# NumPy's "overflow encountered" notes on results that are correctly inf
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
NUMPY_DIR = os.path.dirname(np.__file__)
F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
FLOATS = [F32, F64, F16]
INTS = [np.dtype(np.int64), np.dtype(np.int32), np.dtype(np.bool_)]
COMPLEX = [np.dtype(np.complex64), np.dtype(np.complex128)]
TOL = {F16: 2e-2, F32: 2e-5, F64: 1e-11}
BIG = 2.0 ** 100  # huge logits (exactly representable in float32), far past exp()'s range


# ================================================================ the harness
class Hang(BaseException):
    """Raised by the watchdog; a BaseException so no `except Exception` in the library can swallow it."""


@contextmanager
def watchdog(seconds: float = 10.0):
    def fire(signum, frame):
        raise Hang(f"the call did not return within {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def check_error(e: BaseException, names) -> None:
    """A documented exception type, raised by minigrad, whose message names the op."""
    names = (names,) if isinstance(names, str) else tuple(names)
    msg = str(e)
    origin = traceback.extract_tb(e.__traceback__)[-1].filename
    assert not origin.startswith(NUMPY_DIR), (
        f"a raw NumPy error escaped from {origin}: {type(e).__name__}: {msg}")
    # as a word: "sub" must not be found in NumPy's "numpy boolean subtract ..."
    assert any(re.search(rf"(?<![\w.]){re.escape(n)}(?!\w)", msg) for n in names), (
        f"{type(e).__name__} does not name the op (one of {names}): {msg!r}")


def attempt(names, fn):
    """Run fn(): (True, result) if it works, (False, error) if it raised a clear, documented error."""
    with watchdog(), np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's overflow notes on inf results
        try:
            return True, fn()
        except ALLOWED as e:
            check_error(e, names)
            return False, e


def host(x):
    return x.numpy() if isinstance(x, mg.Tensor) else np.asarray(x)


def finite(*arrays) -> bool:
    return all(a.dtype.kind not in "fc" or bool(np.isfinite(a).all()) for a in map(np.asarray, arrays))


def assert_matches(out, ref, dtype=None, what=""):
    """Our result against NumPy's: shape, dtype (when given), values; NaN exactly where NumPy has NaN."""
    got = host(out)
    ref = np.asarray(ref)
    assert got.shape == ref.shape, f"{what}: shape {got.shape}, NumPy says {ref.shape}"
    if dtype is not None:
        assert got.dtype == np.dtype(dtype), f"{what}: dtype {got.dtype}, expected {np.dtype(dtype)}"
    if got.dtype.kind in "biu" and ref.dtype.kind in "biu":
        np.testing.assert_array_equal(got, ref, err_msg=what)
        return
    tol = TOL.get(got.dtype, 1e-5)
    g64, r64 = got.astype(np.float64), ref.astype(np.float64)
    assert (np.isnan(g64) == np.isnan(r64)).all(), f"{what}: NaN where NumPy has none (or the reverse):\n{got}\n{ref}"
    np.testing.assert_allclose(g64, r64, rtol=tol, atol=tol, equal_nan=True, err_msg=what)


# ================================================================ strategies
def shapes(min_dims=0, max_dims=3, min_side=0, max_side=4):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


@st.composite
def arrays(draw, dtype=None, shape=None, special=True, max_abs=10.0, dtypes=FLOATS + INTS):
    """A host array of any supported dtype, sometimes with NaN/Inf in it."""
    dtype = np.dtype(draw(st.sampled_from(dtypes)) if dtype is None else dtype)
    shape = draw(shapes()) if shape is None else shape
    if dtype.kind == "f":
        elements = st.floats(-max_abs, max_abs, width=dtype.itemsize * 8)
    elif dtype.kind == "b":
        elements = st.booleans()
    else:
        elements = st.integers(-5, 5)
    a = draw(hnp.arrays(dtype, shape, elements=elements))
    if special and dtype.kind == "f" and a.size and draw(st.integers(0, 4)) == 0:
        a.flat[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return a


BAD_DEVICES = ["tpu", "cuda:99", "gpu", "cuda:x", "", "cuda", "cuda:0"]


def device_outcome(dev):
    """What a device argument must give here: 'cpu' works; the rest need a GPU or are invalid."""
    if dev in ("cpu", None):
        return "ok"
    if mg.cuda_available() and dev in ("cuda", "cuda:0"):
        return "ok"
    return "error"


def expected_device(dev):
    return "cpu" if dev in ("cpu", None) else "cuda:0"


# ================================================================ creation
@given(data=st.one_of(arrays(special=True, dtypes=FLOATS + INTS + COMPLEX),
                      st.lists(st.floats(allow_nan=True), max_size=4),
                      st.lists(st.lists(st.integers(-3, 3), max_size=3), max_size=3),  # maybe ragged
                      st.complex_numbers(max_magnitude=5), st.integers(-10, 10), st.booleans(),
                      st.none(), st.text(max_size=3)),
       dtype=st.sampled_from([None, "float32", "float64", "float16", "int64", "int32", "bool", "complex64",
                              "int8", "uint8", "object", "tpu", "U3"]),
       device=st.sampled_from([None, "cpu"] + BAD_DEVICES))
def test_tensor_creation(data, dtype, device):
    ok, out = attempt(("tensor", "device"), lambda: mg.tensor(data, dtype=dtype, device=device))
    if device_outcome(device) == "error":
        assert not ok and isinstance(out, (ValueError, RuntimeError)), f"device {device!r} was accepted"
        return
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = np.asarray(data, dtype=dtype)
    except Exception:  # noqa: BLE001 - NumPy cannot make it either: we must refuse it clearly
        assert not ok, f"mg.tensor accepted {data!r} with dtype {dtype!r}, which NumPy cannot convert"
        return
    if ref.dtype.kind not in "biuf":  # complex, str, object: refused, a TypeError
        assert not ok and isinstance(out, TypeError), f"mg.tensor accepted dtype {ref.dtype}: {out!r}"
        return
    assert ok, f"mg.tensor({data!r}, dtype={dtype!r}) refused: {out}"
    want = ref.dtype
    if dtype is None and not isinstance(data, np.ndarray) and want == F64:
        want = F32  # Python floats follow the default dtype, as in torch
    assert_matches(out, ref.astype(want), dtype=want, what="tensor")
    assert out.device == expected_device(device) and out.grad_fn is None


@given(device=st.sampled_from(BAD_DEVICES + ["cpu", "CPU", None]), what=st.sampled_from(["to", "module", "load"]))
def test_moving_to_devices(tmp_path_factory, device, what):
    if what == "to":
        ok, out = attempt(("device", "to"), lambda: mg.ones(2, requires_grad=True).to(device))
    elif what == "module":
        ok, out = attempt(("device", "to"), lambda: nn.Linear(2, 2).to(device))
    else:
        path = tmp_path_factory.mktemp("dev") / "c.npz"
        mg.save({"w": mg.ones(2)}, path)
        ok, out = attempt(("device", "load"), lambda: mg.load(path, device=device))
    if device_outcome(device if device != "CPU" else "cpu") == "error":
        assert not ok and isinstance(out, (ValueError, RuntimeError)), f"{what} to {device!r} was accepted"
    else:
        assert ok, out


@given(maker=st.sampled_from(["zeros", "ones", "randn", "rand", "full", "eye", "arange"]),
       size=st.one_of(st.integers(-3, 4), st.tuples(st.integers(-2, 3), st.integers(-2, 3)), st.floats(-2, 3),
                      st.just("3"), st.none()),
       dtype=st.sampled_from([None, "float32", "float16", "int64", "bool", "complex128", "tpu"]),
       device=st.sampled_from([None, "cpu"] + BAD_DEVICES))
def test_factories(maker, size, dtype, device):
    fn = getattr(mg, maker)
    if maker == "full":
        call = lambda: fn(size, 1.5, dtype=dtype, device=device)  # noqa: E731
    elif maker == "arange":
        call = lambda: fn(0, 3, size, dtype=dtype, device=device)  # noqa: E731  (size as the step)
    elif maker == "eye":
        call = lambda: fn(size, dtype=dtype, device=device)  # noqa: E731
    else:
        call = lambda: fn(size, dtype=dtype, device=device)  # noqa: E731
    ok, out = attempt((maker, "device"), call)
    bad_dtype = dtype in ("complex128", "tpu")
    if device_outcome(device) == "error" or bad_dtype:
        assert not ok, f"{maker}(..., dtype={dtype!r}, device={device!r}) was accepted"
        return
    if not ok:
        return  # a bad size, clearly refused (the message was checked)
    assert isinstance(out, mg.Tensor) and out.device == expected_device(device)
    want = np.dtype(dtype) if dtype else None
    if want is not None and maker != "full" or (maker == "full" and dtype):
        assert out.dtype == want
    if maker == "arange":
        assert size != 0
        with np.errstate(all="ignore"):
            assert_matches(out, np.arange(0, 3, size, dtype=out.dtype), what="arange")
    elif maker in ("zeros", "ones"):
        assert (host(out) == (1 if maker == "ones" else 0)).all()


# ================================================================ elementwise and broadcasting
BINARY = {
    "add": (lambda a, b: a + b, np.add), "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply), "div": (lambda a, b: a / b, np.true_divide),
    "maximum": (mg.maximum, np.maximum), "minimum": (mg.minimum, np.minimum),
}


def _category(dt):
    return 0 if dt.kind == "b" else (2 if dt.kind == "f" else 1)


def promoted(da, db, nda=1, ndb=1):
    """The dtype minigrad gives a (op) b: equal floats stay; int meets float -> the float; ints -> NumPy's.

    torch's rule first: a 0-d operand beside one with dimensions takes the other's dtype
    unless it is of a higher category (bool < int < float).
    """
    if da == db:
        return da
    if (nda == 0) != (ndb == 0):
        if nda == 0 and _category(da) <= _category(db):
            return db
        if ndb == 0 and _category(db) <= _category(da):
            return da
    if da.kind == "f" and db.kind == "f":
        return None  # mixed float dtypes: a TypeError (no silent upcast)
    if da.kind == "f":
        return da
    if db.kind == "f":
        return db
    return np.result_type(da, db)


@given(op=st.sampled_from(sorted(BINARY)), shapes_=st.one_of(hnp.mutually_broadcastable_shapes(
           num_shapes=2, min_side=0, max_side=4, max_dims=3).map(lambda r: r.input_shapes),
           st.tuples(shapes(), shapes())),
       data=st.data())
def test_binary_ops(op, shapes_, data):
    fn, npfn = BINARY[op]
    a = data.draw(arrays(shape=shapes_[0]), "a")
    b = data.draw(arrays(shape=shapes_[1]), "b")
    ok, out = attempt(op, lambda: fn(mg.tensor(a), mg.tensor(b)))
    try:
        np.broadcast_shapes(a.shape, b.shape)
        broadcasts = True
    except ValueError:
        broadcasts = False
    dt = promoted(a.dtype, b.dtype, a.ndim, b.ndim)
    if op == "sub" and a.dtype.kind == "b" and b.dtype.kind == "b":
        assert not ok and isinstance(out, (TypeError, ValueError))  # NumPy and torch refuse bool - bool too
        return
    if not broadcasts or dt is None:  # with both problems, either may be reported
        assert not ok, f"{op} accepted {a.dtype}{a.shape} and {b.dtype}{b.shape}"
        if dt is not None:
            assert isinstance(out, ValueError) and "broadcast" in str(out), out
        if broadcasts:
            assert isinstance(out, TypeError) and "dtype" in str(out), out
        return
    if op == "div" and dt.kind != "f":
        dt = mg.get_default_dtype()  # true division of integers gives the default float dtype (torch)
    assert ok, f"{op} refused {a.dtype}{a.shape} and {b.dtype}{b.shape}: {out}"
    with np.errstate(all="ignore"):
        ref = npfn(a.astype(dt), b.astype(dt)) if dt.kind == "f" else npfn(a, b)
    assert_matches(out, ref.astype(out.dtype) if op != "div" else ref, dtype=ref.dtype if dt.kind == "f" else None,
                   what=op)


@given(a=arrays(dtypes=FLOATS), other=st.one_of(
    st.floats(allow_nan=True), st.integers(-4, 4), st.booleans(), st.complex_numbers(max_magnitude=3), st.none(),
    st.text(max_size=2), st.lists(st.floats(-3, 3), max_size=4),
    hnp.arrays(st.sampled_from(COMPLEX), hnp.array_shapes(max_dims=1, max_side=3))),
    op=st.sampled_from(sorted(BINARY) + ["pow"]))
def test_tensor_with_python_operands(a, other, op):
    fn = (lambda x, y: x ** y) if op == "pow" else BINARY[op][0]
    ok, out = attempt(op, lambda: fn(mg.tensor(a), other))
    if other is None or isinstance(other, (str, complex)) or (isinstance(other, np.ndarray) and other.dtype.kind == "c"):
        assert not ok and isinstance(out, TypeError), f"{op} accepted {other!r}: {out!r}"
        return
    if isinstance(other, list):
        try:
            np.broadcast_shapes(a.shape, (len(other),))
        except ValueError:
            assert not ok and isinstance(out, ValueError) and "broadcast" in str(out), out
            return
    assert ok, f"{op} refused {a.dtype}{a.shape} with {other!r}: {out}"
    assert out.dtype == a.dtype  # a Python operand never changes a float tensor's dtype
    if isinstance(other, (int, float)) and not isinstance(other, bool) and op in ("add", "mul", "sub") and finite(a):
        with np.errstate(all="ignore"):
            # as torch: a Python number meets a float tensor in the tensor's dtype (3.4028235677973366e38
            # is inf in float32, so 0 * it is NaN there, not the 0 float64 would give)
            c = float(np.asarray(other, dtype=a.dtype)) if a.dtype.kind == "f" else float(other)
            ref = {"add": np.add, "mul": np.multiply, "sub": np.subtract}[op](a.astype(F64), c)
        if finite(ref) and math.isfinite(other):
            assert_matches(out, ref.astype(a.dtype), what=op)


@given(fn=st.sampled_from(["exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs", "softplus", "neg"]),
       a=arrays(special=True, max_abs=100.0))
def test_unary_ops(fn, a):
    ok, out = attempt(fn, lambda: getattr(mg.tensor(a), fn)())
    needs_float = fn not in ("abs", "neg", "relu")
    if a.dtype.kind != "f" and (needs_float or a.dtype.kind == "b"):
        if not ok:
            assert isinstance(out, TypeError)
            return
    if not ok:
        pytest.fail(f"{fn} refused {a.dtype}{a.shape}: {out}")
    a64 = a.astype(F64)
    with np.errstate(all="ignore"):
        ref = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh, "abs": np.abs, "neg": np.negative,
               "sigmoid": lambda x: 0.5 * (1 + np.tanh(x / 2)), "relu": lambda x: np.maximum(x, 0),
               "softplus": lambda x: np.logaddexp(0, x)}[fn](a64)
    assert_matches(out, ref.astype(host(out).dtype), what=fn)


# ================================================================ matmul
@given(sa=shapes(max_dims=3, max_side=3), sb=shapes(max_dims=3, max_side=3),
       da=st.sampled_from(FLOATS + INTS), db=st.sampled_from(FLOATS + INTS), data=st.data())
def test_matmul(sa, sb, da, db, data):
    a = data.draw(arrays(dtype=da, shape=sa, special=False))
    b = data.draw(arrays(dtype=db, shape=sb, special=False))
    ok, out = attempt("matmul", lambda: mg.tensor(a) @ mg.tensor(b))
    dt = promoted(np.dtype(da), np.dtype(db))
    try:
        ref = np.matmul(a.astype(dt), b.astype(dt)) if dt is not None else None
    except ValueError:
        ref = None
    if dt is None or ref is None or a.ndim == 0 or b.ndim == 0:
        assert not ok, f"matmul accepted {a.dtype}{a.shape} @ {b.dtype}{b.shape}"
        return
    if dt == np.dtype(np.bool_):
        return  # bool @ bool: NumPy's logical matmul; nothing to compare beyond not crashing
    assert ok, f"matmul refused {a.dtype}{a.shape} @ {b.dtype}{b.shape}: {out}"
    assert_matches(out, ref, dtype=dt, what="matmul")


# ================================================================ reductions
DIMS = st.one_of(st.none(), st.integers(-4, 4), st.lists(st.integers(-4, 4), max_size=3).map(tuple),
                 st.just(0.5), st.just("0"))


def numpy_dims(dim, ndim):
    """NumPy's axis for a valid dim, or None if minigrad must refuse it (and why)."""
    if dim is None:
        return "all"
    if isinstance(dim, (float, str)):
        return None
    dims = (dim,) if isinstance(dim, int) else dim
    if dims == ():
        return "all"  # torch reads dim=() as every dim (NumPy's axis=() would reduce none)
    nd = max(ndim, 1)
    if any(not -nd <= d < nd for d in dims):
        return None
    norm = [d % nd for d in dims]
    if len(set(norm)) != len(norm):
        return None
    return tuple(norm) if ndim else ()


@given(op=st.sampled_from(["sum", "mean", "amax", "amin", "logsumexp", "var", "argmax"]),
       a=arrays(special=True, max_abs=50.0), dim=DIMS, keepdim=st.booleans())
def test_reductions(op, a, dim, keepdim):
    x = mg.tensor(a)
    call = (lambda: getattr(x, op)(dim=dim, keepdim=keepdim)) if op != "argmax" or not isinstance(dim, tuple) \
        else (lambda: x.argmax(dim=dim, keepdim=keepdim))
    ok, out = attempt(op, call)
    axes = numpy_dims(dim, a.ndim)
    if axes is None:
        assert not ok and isinstance(out, (TypeError, IndexError, ValueError)), f"{op} accepted dim={dim!r}"
        return
    if op in ("mean", "logsumexp", "var") and a.dtype.kind != "f":
        assert not ok and isinstance(out, TypeError)
        return
    axis = None if axes == "all" else axes
    if op == "argmax" and isinstance(dim, tuple):
        if not ok:
            return  # argmax takes one dim
    reduced = a.size if axis is None else int(np.prod([a.shape[i] for i in axis])) if a.ndim else 1
    empty_out = a.size == 0 and reduced != 0
    if reduced == 0 and op not in ("sum",) and not empty_out:
        # nothing to take the max/mean/... of: a clear ValueError, never a NaN
        assert not ok and isinstance(out, ValueError), f"{op} over an empty dimension gave {out!r}"
        return
    if op == "var" and reduced - 1 <= 0:
        assert not ok and isinstance(out, ValueError), f"var with no degrees of freedom gave {out!r}"
        return
    assert ok, f"{op} refused {a.dtype}{a.shape} dim={dim!r}: {out}"
    b = a.astype(F64) if a.dtype.kind == "f" else a
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if op == "logsumexp":
            m = np.max(b, axis=axis, keepdims=True) if b.size else 0.0
            m = np.where(np.isfinite(m), m, 0.0)
            ref = np.log(np.sum(np.exp(b - m), axis=axis, keepdims=True)) + m
            if not keepdim:
                ref = np.squeeze(ref, axis=axis) if axis is not None else ref.reshape(())
        elif op == "var":
            ref = np.var(b, axis=axis, keepdims=keepdim, ddof=1)
        elif op == "argmax":
            if axis is not None and len(axis) == 1 or a.ndim <= 1:
                ref = np.argmax(b, axis=None if axis is None or a.ndim == 0 else axis[0], keepdims=keepdim)
            else:
                ref = np.argmax(b, axis=None, keepdims=keepdim)
        else:
            ref = getattr(np, op)(b, axis=axis, keepdims=keepdim)
    if op == "argmax":
        assert_matches(out, np.asarray(ref).astype(np.int64), what="argmax")
        return
    ref = np.asarray(ref)
    if a.dtype.kind == "f":
        ref = ref.astype(a.dtype)
    assert_matches(out, ref, what=op)


# ================================================================ shape ops
@given(a=arrays(special=False), shape=st.lists(st.integers(-2, 5), max_size=4).map(tuple))
def test_reshape(a, shape):
    ok, out = attempt("reshape", lambda: mg.tensor(a).reshape(shape))
    try:
        ref = a.reshape(shape) if shape.count(-1) <= 1 and all(s >= -1 for s in shape) else None
    except ValueError:
        ref = None
    if ref is None:
        assert not ok, f"reshape of {a.shape} to {shape} was accepted"
    else:
        assert ok, out
        assert_matches(out, ref, dtype=a.dtype, what="reshape")


@given(a=arrays(special=False), dims=st.lists(st.integers(-4, 4), max_size=4).map(tuple))
def test_permute(a, dims):
    ok, out = attempt("permute", lambda: mg.tensor(a).permute(dims))
    nd = a.ndim
    valid = len(dims) == nd and all(-max(nd, 1) <= d < max(nd, 1) for d in dims) \
        and len({d % max(nd, 1) for d in dims}) == nd
    if not valid:
        assert not ok, f"permute {a.shape} by {dims} was accepted"
    else:
        assert ok, out
        assert_matches(out, np.transpose(a, [d % nd for d in dims]), what="permute")


INDEX_ATOMS = st.one_of(st.integers(-6, 6), st.slices(6), st.none(), st.just(Ellipsis), st.just(1.5),
                        st.lists(st.integers(-6, 6), min_size=1, max_size=3), st.just("a"))


@given(a=arrays(special=False), index=st.one_of(INDEX_ATOMS, st.tuples(INDEX_ATOMS, INDEX_ATOMS),
                                                st.tuples(INDEX_ATOMS, INDEX_ATOMS, INDEX_ATOMS)),
       as_tensor=st.booleans(), data=st.data())
def test_getitem(a, index, as_tensor, data):
    if data.draw(st.booleans(), "bool mask") and a.ndim:
        index = data.draw(hnp.arrays(np.bool_, data.draw(st.sampled_from([a.shape, a.shape[:1], (a.shape[0] + 1,)]))))
    conv = (lambda i: mg.tensor(i) if isinstance(i, (list, np.ndarray)) else i) if as_tensor else (lambda i: i)
    idx = tuple(conv(i) for i in index) if isinstance(index, tuple) else conv(index)
    ok, out = attempt("getitem", lambda: mg.tensor(a)[idx])
    np_idx = tuple(np.asarray(i) if isinstance(i, list) else i for i in index) if isinstance(index, tuple) \
        else (np.asarray(index) if isinstance(index, list) else index)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ref = a[np_idx]
    except Exception:  # noqa: BLE001 - NumPy refuses: so must we, clearly
        assert not ok, f"getitem {index!r} on {a.shape} was accepted"
        return
    if not ok:
        # NumPy allows a few things torch refuses; each must be a clear refusal (checked above)
        assert isinstance(out, (IndexError, TypeError, ValueError))
        return
    assert_matches(out, np.asarray(ref), dtype=a.dtype, what=f"getitem {index!r}")


@given(parts=st.lists(arrays(special=False, dtypes=[F32, F64, np.dtype(np.int64)]), min_size=0, max_size=3),
       dim=st.integers(-3, 3), op=st.sampled_from(["cat", "stack"]))
def test_cat_and_stack(parts, dim, op):
    ok, out = attempt(op, lambda: getattr(mg, op)([mg.tensor(p) for p in parts], dim=dim))
    try:
        if len({p.dtype for p in parts}) > 1:
            raise TypeError
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ref = getattr(np, "concatenate" if op == "cat" else "stack")(parts, axis=dim)
    except Exception:  # noqa: BLE001
        assert not ok, f"{op} of {[(p.dtype, p.shape) for p in parts]} along {dim} was accepted"
        return
    assert ok, out
    assert_matches(out, ref, dtype=ref.dtype, what=op)


# ================================================================ nn.functional
def log_softmax64(x, axis=-1):
    x = x.astype(F64)
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))


@given(shape=shapes(min_dims=1, max_dims=3, min_side=0), dtype=st.sampled_from(FLOATS + INTS),
       dim=st.integers(-4, 3), big=st.booleans(), data=st.data(), fn=st.sampled_from(["softmax", "log_softmax"]))
def test_softmax(shape, dtype, dim, big, data, fn):
    a = data.draw(arrays(dtype=dtype, shape=shape, max_abs=BIG if big and dtype != F16 else 10.0))
    ok, out = attempt(fn, lambda: getattr(F, fn)(mg.tensor(a), dim=dim))
    if not -len(shape) <= dim < len(shape) or a.dtype.kind != "f":
        # either problem may be reported first
        assert not ok and isinstance(out, (IndexError, TypeError)), f"{fn} accepted {a.dtype}{a.shape}, dim={dim}"
        return
    assert ok, out
    if not finite(a):  # NaN/Inf in: NaN may come out (as in torch); only shape and dtype are pinned
        assert out.shape == a.shape and out.dtype == a.dtype
        return
    with np.errstate(all="ignore"):
        ref = log_softmax64(a, axis=dim) if a.size else a.astype(F64)
        if fn == "softmax":
            ref = np.exp(ref)
    assert_matches(out, ref.astype(a.dtype), dtype=a.dtype, what=fn)
    assert not np.isnan(host(out)).any(), f"{fn}: NaN from finite input {a}"


@given(n=st.integers(0, 4), c=st.integers(0, 4), dtype=st.sampled_from(FLOATS), big=st.booleans(),
       tdtype=st.sampled_from(["int64", "int32", "float32", "bool"]), ignore=st.sampled_from([-100, 0, 2]),
       reduction=st.sampled_from(["mean", "sum", "none", "avg"]), fn=st.sampled_from(["cross_entropy", "nll_loss"]),
       data=st.data())
def test_classification_losses(n, c, dtype, big, tdtype, ignore, reduction, fn, data):
    x = data.draw(arrays(dtype=dtype, shape=(n, c), max_abs=BIG if big and dtype != F16 else 10.0))
    t = np.array(data.draw(st.lists(st.integers(-2, c + 1), min_size=n, max_size=n)), dtype=np.int64)
    target = t.astype(tdtype)
    ok, out = attempt(fn, lambda: getattr(F, fn)(mg.tensor(x), mg.tensor(target), ignore_index=ignore,
                                                 reduction=reduction))
    if reduction == "avg" or tdtype in ("float32", "bool") or c == 0:
        assert not ok and isinstance(out, (ValueError, TypeError)), f"{fn} accepted {reduction=} {tdtype=} {c=}"
        return
    bad = [v for v in t if v != ignore and not 0 <= v < c]
    if bad:
        assert not ok and isinstance(out, IndexError) and str(bad[0]) in str(out), f"{fn} accepted targets {t} for {c} classes"
        return
    assert ok, f"{fn} refused {x.shape} with targets {t}: {out}"
    keep = t != ignore
    if not finite(x[keep]):  # NaN/Inf in a row that counts: NaN may come out, as in torch
        assert out.dtype == dtype
        return
    # (NaN/Inf in ignored rows, e.g. masked padding, must not leak into the loss: compared below)
    scores = log_softmax64(x, axis=1) if fn == "cross_entropy" and x.size else x.astype(F64)
    picked = np.array([-scores[i, t[i]] if keep[i] else 0.0 for i in range(n)], dtype=F64)
    if reduction == "none":
        ref = picked
    elif reduction == "sum":
        ref = picked.sum()
    else:  # mean over the non-ignored targets; none at all: 0 (minigrad's policy, not torch's NaN)
        ref = picked.sum() / keep.sum() if keep.sum() else np.float64(0.0)
    assert_matches(out, np.asarray(ref).astype(dtype), dtype=dtype, what=fn)
    if finite(x):
        assert not np.isnan(host(out)).any(), f"{fn}: NaN from finite logits"


@given(num=st.integers(0, 4), dim=st.integers(0, 3), idx_shape=shapes(max_dims=2),
       idx_dtype=st.sampled_from(["int64", "int32", "float32", "bool"]), padding_idx=st.sampled_from([None, 0, -1, 7]),
       data=st.data())
def test_embedding(num, dim, idx_shape, idx_dtype, padding_idx, data):
    w = data.draw(arrays(dtype=F32, shape=(num, dim), special=False))
    idx = data.draw(hnp.arrays(np.int64, idx_shape, elements=st.integers(-2, num + 1))).astype(idx_dtype)
    ok, out = attempt("embedding", lambda: F.embedding(mg.tensor(idx), mg.tensor(w), padding_idx=padding_idx))
    if idx_dtype in ("float32", "bool"):
        assert not ok and isinstance(out, TypeError)
        return
    if padding_idx is not None and num and not -num <= padding_idx < num:
        assert not ok and isinstance(out, (ValueError, IndexError)), f"padding_idx={padding_idx} for {num} rows"
        return
    if idx.size and (idx.min() < 0 or idx.max() >= num):
        assert not ok and isinstance(out, IndexError), f"embedding accepted indices {idx} for {num} rows"
        return
    if not ok:
        assert num == 0 or padding_idx is not None, out  # an empty table may be refused, clearly
        return
    assert_matches(out, w[idx.astype(np.int64)], dtype=F32, what="embedding")


@given(xs=shapes(max_dims=3, max_side=4), out_f=st.integers(0, 3), bias=st.booleans(), data=st.data(),
       dtype=st.sampled_from(FLOATS + [np.dtype(np.int64)]))
def test_linear(xs, out_f, bias, data, dtype):
    in_f = data.draw(st.integers(0, 4), "in_features")
    x = data.draw(arrays(dtype=dtype, shape=xs, special=True))
    w = data.draw(arrays(dtype=F32, shape=(out_f, in_f), special=False))
    b = data.draw(arrays(dtype=F32, shape=data.draw(st.sampled_from([(out_f,), (out_f + 1,)])), special=False))
    ok, out = attempt("linear", lambda: F.linear(mg.tensor(x), mg.tensor(w), mg.tensor(b) if bias else None))
    bad = x.ndim == 0 or x.shape[-1] != in_f or (bias and b.shape != (out_f,)) or dtype in (F64, F16)
    if bad:
        assert not ok, f"linear accepted x {x.dtype}{x.shape}, w {w.shape}, b {b.shape if bias else None}"
        return
    assert ok, out
    with np.errstate(all="ignore"):
        ref = x.astype(F64) @ w.astype(F64).T + (b.astype(F64) if bias else 0.0)
    assert_matches(out, ref.astype(F32), dtype=F32, what="linear")


# ================================================================ backward on fuzzed shapes (empty ones included)
GRAD_OPS = {
    "softmax": lambda x: F.softmax(x, dim=-1), "log_softmax": lambda x: F.log_softmax(x, dim=0),
    "sum": lambda x: x.sum(dim=0), "mean": lambda x: x.mean(dim=-1), "max": lambda x: x.max(dim=0).values,
    "logsumexp": lambda x: x.logsumexp(dim=-1), "var": lambda x: x.var(dim=0),
    "layer_norm": lambda x: F.layer_norm(x, x.shape[-1:]), "tanh": lambda x: x.tanh(),
    "matmul": lambda x: x @ x.T, "getitem": lambda x: x[::2, -1:], "cat": lambda x: mg.cat([x, x * 2.0], dim=-1),
    "stack": lambda x: mg.stack([x, x], dim=1), "reshape": lambda x: x.reshape(-1),
    "permute": lambda x: x.permute(1, 0), "linear": lambda x: F.linear(x, mg.ones(3, x.shape[-1], dtype=x.dtype)),
    "cross_entropy": lambda x: F.cross_entropy(x, mg.zeros(x.shape[0], dtype=mg.int64), reduction="sum"),
    "mul-broadcast": lambda x: x * mg.ones(1, x.shape[1], dtype=x.dtype),
}


@given(op=st.sampled_from(sorted(GRAD_OPS)), shape=shapes(min_dims=2, max_dims=2, min_side=0, max_side=3),
       dtype=st.sampled_from([F32, F64]), data=st.data())
def test_backward_on_fuzzed_shapes(op, shape, dtype, data):
    a = data.draw(arrays(dtype=dtype, shape=shape, special=False, max_abs=100.0))
    x = mg.tensor(a, requires_grad=True)
    ok, y = attempt(op.split("-")[0], lambda: GRAD_OPS[op](x))
    if not ok:  # refused (an empty reduction, no degrees of freedom, no classes): clearly, checked above
        assert a.size == 0 or op in ("var", "cross_entropy") and (shape[0] < 2 or shape[1] == 0), y
        return
    ok, err = attempt("backward", lambda: y.sum().backward())
    assert ok, err
    g = x.grad
    assert g is not None and g.shape == x.shape and g.dtype == x.dtype
    assert finite(host(g)), f"{op}: non-finite gradient from finite input {a}"


# ================================================================ modules
@given(in_f=st.one_of(st.integers(-1, 4), st.just(2.5)), out_f=st.integers(-1, 3), xs=shapes(max_dims=3, max_side=4))
def test_linear_module(in_f, out_f, xs):
    ok, layer = attempt("Linear", lambda: nn.Linear(in_f, out_f))
    if not (isinstance(in_f, int) and in_f >= 1 and out_f >= 1):
        assert not ok, f"nn.Linear({in_f!r}, {out_f!r}) was accepted"
        return
    assert ok, layer
    x = np.ones(xs, dtype=np.float32)
    ok, out = attempt("linear", lambda: layer(mg.tensor(x)))
    if not xs or xs[-1] != in_f:
        assert not ok
        return
    ref = x @ layer.weight.numpy().T + layer.bias.numpy()
    assert_matches(out, ref, dtype=F32, what="Linear")


@given(norm=st.one_of(st.integers(-1, 4), st.lists(st.integers(0, 3), max_size=2).map(tuple)),
       xs=shapes(min_dims=0, max_dims=3, max_side=3), const=st.booleans(), data=st.data())
def test_layer_norm_module(norm, xs, const, data):
    ok, layer = attempt("LayerNorm", lambda: nn.LayerNorm(norm))
    nshape = (norm,) if isinstance(norm, int) else norm
    if not nshape or any(s < 1 for s in nshape):
        assert not ok, f"nn.LayerNorm({norm!r}) was accepted"
        return
    assert ok, layer
    x = np.full(xs, 3.0, np.float32) if const else data.draw(arrays(dtype=F32, shape=xs, special=False))
    ok, out = attempt("layer_norm", lambda: layer(mg.tensor(x)))
    if x.ndim < len(nshape) or x.shape[x.ndim - len(nshape):] != nshape:
        assert not ok
        return
    assert ok, out
    axes = tuple(range(x.ndim - len(nshape), x.ndim))
    x64 = x.astype(F64)
    ref = (x64 - x64.mean(axis=axes, keepdims=True)) / np.sqrt(x64.var(axis=axes, keepdims=True) + 1e-5) \
        if x.size else x64
    # float32 rounding of the mean (|x| * 2**-23) is amplified by 1/sqrt(var + eps), up to 316x
    scale = float(np.abs(x64).max()) if x.size else 0.0
    cond = 1.0 / np.sqrt((x64.var(axis=axes, keepdims=True) if x.size else 0.0) + 1e-5)
    got = host(out)
    assert got.shape == x.shape and got.dtype == F32 and finite(got)  # constant input: zeros, not NaN
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=float(np.max(cond, initial=0.0)) * scale * 2.0 ** -21 + 1e-6)


@given(n=st.integers(-1, 5), d=st.integers(-1, 3), idx=st.lists(st.integers(-2, 6), max_size=4))
def test_embedding_module(n, d, idx):
    ok, layer = attempt("Embedding", lambda: nn.Embedding(n, d))
    if n < 1 or d < 1:
        assert not ok, f"nn.Embedding({n}, {d}) was accepted"
        return
    ok, out = attempt("embedding", lambda: layer(mg.tensor(np.array(idx, dtype=np.int64))))
    if any(not 0 <= i < n for i in idx):
        assert not ok and isinstance(out, IndexError)
        return
    assert ok, out
    assert_matches(out, layer.weight.numpy()[np.array(idx, dtype=np.int64)], dtype=F32, what="Embedding")


@given(kind=st.sampled_from(["LSTM", "GRU", "RNN"]), T=st.integers(0, 3), B=st.integers(0, 2),
       I=st.integers(1, 3), x_feat=st.integers(1, 3), h_shape=st.sampled_from(["none", "ok", "bad"]),
       lengths=st.one_of(st.none(), st.lists(st.integers(-1, 4), min_size=0, max_size=3)),
       dtype=st.sampled_from([F32, F64, np.dtype(np.int64)]), fused=st.booleans())
def test_recurrent_layers(kind, T, B, I, x_feat, h_shape, lengths, dtype, fused):
    import models

    layer = getattr(models, kind)(I, 2, fused=fused)
    x = np.ones((T, B, x_feat), dtype=dtype)
    state = None
    if h_shape != "none":
        h = mg.zeros(1, B, 2 if h_shape == "ok" else 3)
        state = (h, mg.zeros(1, B, 2)) if kind == "LSTM" else h
    ok, out = attempt(kind, lambda: layer(mg.tensor(x), state, lengths=lengths))
    bad = (T == 0 or B == 0 or x_feat != I or h_shape == "bad" or dtype != F32
           or (lengths is not None and (len(lengths) != B or any(not 1 <= v <= T for v in lengths))))
    if bad:
        assert not ok, f"{kind} accepted x {dtype}{x.shape}, state {h_shape}, lengths {lengths}"
        return
    assert ok, out
    y, _ = out
    assert y.shape == (T, B, 2) and finite(host(y))


# ================================================================ optimizers
@given(opt=st.sampled_from(["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]),
       lr=st.one_of(st.floats(-1.0, 10.0), st.sampled_from([float("nan"), float("inf"), -float("inf"), "0.1", None])),
       wd=st.sampled_from([0.0, 1e-2, -1.0, float("nan")]),
       params=st.sampled_from(["ok", "empty", "tensor", "int", "nonleaf"]),
       grad=st.sampled_from(["finite", "none", "nan"]))
def test_optimizers(opt, lr, wd, params, grad):
    p = nn.Parameter(mg.tensor([1.0, -2.0, 3.0]))
    plist = {"ok": [p], "empty": [], "tensor": p, "int": [mg.tensor([1, 2])],
             "nonleaf": [mg.ones(2, requires_grad=True) * 2]}[params]
    ok, o = attempt(opt, lambda: getattr(mg.optim, opt)(plist, lr=lr, weight_decay=wd))
    valid_lr = isinstance(lr, float) and math.isfinite(lr) and lr >= 0
    if not valid_lr or params != "ok" or not (wd >= 0):
        assert not ok, f"{opt}(params={params}, lr={lr!r}, weight_decay={wd}) was accepted"
        return
    assert ok, o
    if grad != "none":
        p.grad = mg.tensor([0.5, float("nan") if grad == "nan" else -0.5, 0.25])
    ok, _ = attempt(opt, o.step)
    assert ok
    after = p.numpy()
    if grad == "finite":
        assert finite(after), f"{opt}: a finite gradient gave {after}"
    elif grad == "none":
        np.testing.assert_array_equal(after, [1.0, -2.0, 3.0])  # no gradient: untouched
    else:  # a NaN gradient propagates into its parameter entry, as in torch (clip/skip it yourself)
        assert np.isnan(after[1]) and finite(after[[0, 2]]) or opt != "SGD"


# ================================================================ mg.load on garbage
def valid_checkpoint_bytes():
    buf = io.BytesIO()
    path = "/tmp/_fuzz_ckpt.npz"
    mg.save({"w": mg.tensor([[1.0, 2.0]]), "step": 3, "names": ["a", "b"]}, path)
    with open(path, "rb") as f:
        buf.write(f.read())
    os.unlink(path)
    return buf.getvalue()


VALID = None


def foreign_npz(kind):
    buf = io.BytesIO()
    if kind == "plain":
        np.savez(buf, a=np.arange(3))
    elif kind == "pickled":
        np.savez(buf, a=np.array([{"x": 1}], dtype=object), __minigrad_structure__=np.frombuffer(b"{}", np.uint8))
    elif kind == "bad-json":
        np.savez(buf, __minigrad_structure__=np.frombuffer(b"{not json", np.uint8))
    elif kind == "zip":
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("hello.txt", "hi")
    return buf.getvalue()


@given(how=st.sampled_from(["random", "truncate", "flip", "plain", "pickled", "bad-json", "zip", "empty"]),
       blob=st.binary(max_size=300), pos=st.floats(0, 1), byte=st.integers(1, 255))
def test_load_garbage(tmp_path_factory, how, blob, pos, byte):
    global VALID
    if VALID is None:
        VALID = valid_checkpoint_bytes()
    if how == "random":
        data = blob
    elif how == "empty":
        data = b""
    elif how == "truncate":
        data = VALID[: int(pos * (len(VALID) - 1))]
    elif how == "flip":
        data = bytearray(VALID)
        data[int(pos * (len(data) - 1))] ^= byte
        data = bytes(data)
    else:
        data = foreign_npz(how)
    path = tmp_path_factory.mktemp("garbage") / "ckpt.npz"
    path.write_bytes(data)
    ok, out = attempt("load", lambda: mg.load(path))
    if ok:  # only a harmless change (e.g. a zip timestamp) may still load, and then it loads the same thing
        assert how == "flip", f"loaded {how} data: {out!r}"
        assert out["step"] == 3 and out["names"] == ["a", "b"] and out["w"].tolist() == [[1.0, 2.0]]
    else:
        assert isinstance(out, mg.io.CheckpointError) and str(path) in str(out)


# ================================================================ policies, spelled out
def test_complex_is_refused_everywhere():
    for call, name in [(lambda: mg.tensor([1 + 2j]), "tensor"), (lambda: mg.tensor(np.ones(2, np.complex64)), "tensor"),
                       (lambda: mg.zeros(2, dtype=np.complex64), "zeros"),
                       (lambda: mg.ones(2).to(np.complex128), "cast"),
                       (lambda: mg.tensor([1, 2]) * np.array([1j, 1]), "mul"),
                       (lambda: mg.tensor([1, 2]) + 1j, "add"), (lambda: mg.ones(2) + 1j, "add")]:
        ok, out = attempt(name, call)
        assert not ok and isinstance(out, TypeError) and "complex" in str(out), (name, out)


def test_float16_computes_like_numpy_and_overflows_to_inf():
    x = mg.tensor([1.0, 2.0, 60000.0], dtype=mg.float16)
    assert (x * 2).dtype == mg.float16 and np.isinf((x * 2).numpy()[2])
    assert_matches(F.softmax(mg.tensor([20.0, 1.0, -30.0], dtype=mg.float16), dim=0),
                   np.exp(log_softmax64(np.array([20.0, 1.0, -30.0]), 0)).astype(F16), dtype=F16)
    w = mg.ones(2, 3, dtype=mg.float16, requires_grad=True)
    (w * 3).sum().backward()
    assert w.grad.dtype == mg.float16


def test_nan_input_propagates_and_anomaly_mode_names_the_op():
    x = mg.tensor([1.0, float("nan"), 2.0])
    assert np.isnan(F.softmax(x, dim=0).numpy()).all()  # like torch: NaN in, NaN out
    assert np.isnan(x.sum().item())
    with mg.detect_anomaly():
        with pytest.raises(RuntimeError, match="detect_anomaly: .*NaN or Inf"):
            x.exp()


def test_empty_reductions_are_errors_not_nan():
    for call, name in [(lambda: mg.zeros(0).mean(), "mean"), (lambda: mg.zeros(0).max(), "max"),
                       (lambda: mg.zeros(2, 0).logsumexp(dim=1), "logsumexp"), (lambda: mg.zeros(0).var(), "var"),
                       (lambda: mg.ones(1).var(), "var"), (lambda: mg.zeros(3, 0).argmax(dim=1), "argmax")]:
        ok, out = attempt(name, call)
        assert not ok and isinstance(out, ValueError), (name, out)
    assert mg.zeros(0).sum().item() == 0.0
    assert F.softmax(mg.zeros(3, 0), dim=1).shape == (3, 0)
    assert mg.zeros(0, 3).mean(dim=1).shape == (0,)  # nothing reduced over an empty dim: an empty result


# ================================================================ torch-named ops, against torch itself
TORCH_NAMED = ["gather", "index_select", "topk", "sort", "argsort", "cumsum", "prod", "flip", "roll", "tril", "triu",
               "repeat", "one_hot", "masked_fill", "masked_select", "norm", "std", "scatter_add", "scatter", "nonzero"]


def _torch_call(torch, op, a, idx, dim, k):
    """The same call in torch (None when torch refuses it)."""
    t = torch.from_numpy(a.copy())  # (not ascontiguousarray: it turns 0-d into 1-d)
    ti = torch.from_numpy(idx.copy())
    calls = {
        "gather": lambda: torch.gather(t, dim, ti),
        "index_select": lambda: torch.index_select(t, dim, ti),
        "topk": lambda: torch.topk(t, k, dim).values,
        "sort": lambda: torch.sort(t, dim=dim, stable=True).values,
        "argsort": lambda: torch.argsort(t, dim=dim, stable=True),
        "cumsum": lambda: torch.cumsum(t, dim),
        "prod": lambda: torch.prod(t, dim),
        "flip": lambda: torch.flip(t, (dim,)),
        "roll": lambda: torch.roll(t, k, dim),
        "tril": lambda: torch.tril(t, dim),
        "triu": lambda: torch.triu(t, dim),
        "repeat": lambda: t.repeat(*idx.reshape(-1).tolist()),
        "one_hot": lambda: torch.nn.functional.one_hot(ti, k),
        "masked_fill": lambda: t.masked_fill(ti, 1.5),
        "masked_select": lambda: torch.masked_select(t, ti),
        "norm": lambda: torch.norm(t, dim=dim),
        "std": lambda: torch.std(t, dim),
        "scatter_add": lambda: torch.scatter_add(t, dim, ti, t),
        "scatter": lambda: torch.scatter(t, dim, ti, 1.5),
        "nonzero": lambda: torch.nonzero(t),
    }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. std's "degrees of freedom is <= 0"
            return calls[op]().numpy()
    except Exception:  # noqa: BLE001 - torch refuses: we only require a clear error or a superset
        return None


def _mg_call(op, a, idx, dim, k):
    x, i = mg.tensor(a), mg.tensor(idx)
    calls = {
        "gather": lambda: mg.gather(x, dim, i),
        "index_select": lambda: mg.index_select(x, dim, i),
        "topk": lambda: mg.topk(x, k, dim).values,
        "sort": lambda: mg.sort(x, dim).values,
        "argsort": lambda: mg.argsort(x, dim),
        "cumsum": lambda: mg.cumsum(x, dim),
        "prod": lambda: mg.prod(x, dim),
        "flip": lambda: mg.flip(x, dim),
        "roll": lambda: mg.roll(x, k, dim),
        "tril": lambda: mg.tril(x, dim),
        "triu": lambda: mg.triu(x, dim),
        "repeat": lambda: x.repeat(*idx.reshape(-1).tolist()),
        "one_hot": lambda: F.one_hot(i, k),
        "masked_fill": lambda: x.masked_fill(i, 1.5),
        "masked_select": lambda: mg.masked_select(x, i),
        "norm": lambda: mg.norm(x, dim=dim),
        "std": lambda: mg.std(x, dim),
        "scatter_add": lambda: mg.scatter_add(x, dim, i, x),
        "scatter": lambda: mg.scatter(x, dim, i, 1.5),
        "nonzero": lambda: mg.nonzero(x),
    }
    return calls[op]()


@given(op=st.sampled_from(TORCH_NAMED), a=arrays(special=True, max_abs=5.0), dim=st.integers(-3, 3),
       k=st.integers(-2, 5), data=st.data())
def test_torch_named_ops(op, a, dim, k, data):
    """Each call either matches torch or fails clearly. We may refuse more than torch only on empty data
    (the README's empty-dimension rules) and may accept more (e.g. int32 indices); a result both give
    must agree in shape, dtype and values."""
    torch = pytest.importorskip("torch")
    idx_dtype = data.draw(st.sampled_from([np.int64, np.int32, np.bool_, np.float32]))
    ishape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    if op in ("index_select", "repeat"):
        ishape = (data.draw(st.integers(0, 4)),)
    idx = data.draw(hnp.arrays(np.int64, ishape, elements=st.integers(-1, 4))).astype(idx_dtype)
    ok, out = attempt(op, lambda: _mg_call(op, a, idx, dim, k))
    want = _torch_call(torch, op, a, idx, dim, k)
    event(f"{op}: {'ok' if ok else 'refused'}, torch {'ok' if want is not None else 'refused'}")
    if not ok and want is not None:
        # We refuse more than torch only where the README says so: on empty data (reductions over an
        # empty dim, an empty index of another rank, a dim check torch skips on an empty tensor), and
        # std with no degrees of freedom (torch returns NaN).
        allowed = a.size == 0 or idx.size == 0 or (op == "std" and "degrees of freedom" in str(out))
        assert allowed, f"{op} refused what torch accepts: {out}"
        return
    if not ok or want is None:
        return  # refused by both (clearly: checked by attempt), or torch refuses what we accept
    got = host(out)
    assert got.shape == want.shape, f"{op}: shape {got.shape}, torch says {want.shape}"
    assert got.dtype == want.dtype, f"{op}: dtype {got.dtype}, torch says {want.dtype}"
    if got.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want, err_msg=op)
    else:
        tol = TOL.get(got.dtype, 1e-5)
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=tol, atol=tol,
                                   equal_nan=True, err_msg=op)


# ================================================================ einsum, against torch itself
@st.composite
def einsum_calls(draw):
    """Equations valid or not: 1-3 operands of 0-3 letters (repeats allowed), sizes 1-3 that may disagree,
    sometimes "...", implicit or explicit outputs that may name letters no input has."""
    letters = "abcD"
    n = draw(st.integers(1, 3))
    subs = [draw(st.text(alphabet=letters, max_size=3)) for _ in range(n)]
    ell = draw(st.booleans())
    parts, shapes = [], []
    for sub in subs:
        extra = draw(st.integers(0, 2)) if ell else 0
        shapes.append(tuple(draw(st.integers(1, 3)) for _ in range(len(sub) + extra)))
        parts.append(("..." if ell else "") + sub)
    equation = ",".join(parts)
    if draw(st.booleans()):
        out = draw(st.text(alphabet=letters + "x", max_size=4))
        equation += "->" + ("..." if ell and draw(st.booleans()) else "") + out
    return equation, shapes


@given(call=einsum_calls(), seed=st.integers(0, 2**16))
def test_einsum_against_torch(call, seed):
    """Whatever torch computes we compute too (same shape and values), and whatever we refuse torch
    refuses; our refusals are clear errors that name einsum."""
    torch = pytest.importorskip("torch")
    equation, shapes = call
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    ok, out = attempt("einsum", lambda: mg.einsum(equation, *[mg.tensor(a) for a in arrays]))
    try:
        want = torch.einsum(equation, *[torch.tensor(a) for a in arrays]).numpy()
    except Exception:  # noqa: BLE001 - torch refuses
        want = None
    event(f"einsum: {'ok' if ok else 'refused'}, torch {'ok' if want is not None else 'refused'}")
    if want is None:
        return
    assert ok, f"einsum refused {equation!r} {shapes}, which torch computes: {out}"
    got = host(out)
    assert got.shape == want.shape, f"{equation!r}: shape {got.shape}, torch says {want.shape}"
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10, err_msg=equation)
