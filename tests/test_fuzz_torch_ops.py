"""The torch-named pointwise, shape/index and reduction ops, fuzzed against torch 2.13 itself.

Hypothesis draws valid and invalid calls (bool/int32/int64/float32/float64, 0-d and empty
shapes, broadcasting, Python-number operands, negative and out-of-range dims and indices).
For each call: whatever torch computes we compute identically (shape, dtype, values, and in
float64 the gradient wherever torch's is defined and finite); where we refuse, the error is a
ValueError/TypeError/IndexError/RuntimeError raised by minigrad that names the op. We refuse
only what torch refuses, except these documented policies and limits:

* float32 meeting float64 in out-of-place arithmetic is a TypeError (torch upcasts); comparisons
  compare in the wider float and in-place ops compute in it and cast back, as torch;
* addcmul/addcdiv refuse a float `value` with integer tensors (torch truncates it silently);
* lerp refuses integer input/end (torch computes some all-0-d integer calls);
* checks torch skips on an empty tensor (out-of-range index_fill indices, tile's -1) are kept;
* unique(dim=...) is compared only without NaN (torch's order of slices holding NaN is an artifact of its sort);
* diff checks dim even with n=0 (torch returns the input unchecked);
* two integer tensors meet in their common dtype (int32 % int64[] is int32, bool % int is int).
Accepting more than torch (e.g. int32 indices, Python numbers where torch wants tensors) is fine.
"""
from __future__ import annotations

import math
import traceback
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
ALLOWED = (ValueError, TypeError, IndexError, RuntimeError)
NUMPY_DIR = np.__file__.rsplit("/", 1)[0]
DTYPES = [np.dtype(t) for t in (np.bool_, np.int32, np.int64, np.float32, np.float64)]
SPECIAL = [0.0, -0.0, np.nan, np.inf, -np.inf, 0.5, -0.5, 2.5, 1e30]


# ================================================================ strategies
@st.composite
def arrays(draw, shape=None, dtype=None, special=True):
    """An array of a drawn dtype and shape (0-d and empty included); floats may hold NaN, inf, -0.0, halves."""
    dtype = draw(st.sampled_from(DTYPES)) if dtype is None else np.dtype(dtype)
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)) if shape is None else shape
    if dtype.kind == "b":
        return draw(hnp.arrays(dtype, shape))
    if dtype.kind == "i":
        return draw(hnp.arrays(dtype, shape, elements=st.integers(-5, 5)))
    floats = st.floats(-5, 5, width=dtype.itemsize * 8)
    elements = st.one_of(floats, st.sampled_from(SPECIAL)) if special else floats
    return draw(hnp.arrays(dtype, shape, elements=elements))


def broadcastable(draw, shape):
    """A shape that usually broadcasts with `shape` (dims dropped or set to 1), sometimes one that does not."""
    if draw(st.integers(0, 9)) == 0:
        return draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
    out = [1 if draw(st.booleans()) else s for s in shape]
    return tuple(out[draw(st.integers(0, len(out))):])


NUMBERS = st.sampled_from([True, 2, -3, 0, 0.5, -2.5, 0.0, math.nan, math.inf])


# ================================================================ the harness
def _to_torch(x):
    return torch.from_numpy(x.copy()) if isinstance(x, np.ndarray) else x


def _to_mg(x):
    return mg.tensor(x) if isinstance(x, np.ndarray) else x


def _host(r):
    if isinstance(r, (torch.Tensor, mg.Tensor)):
        return r.detach().numpy()
    if isinstance(r, (tuple, list)):
        return [_host(x) for x in r]
    return r


def _policy(args, err) -> bool:
    """Our documented refusals (module docstring) that torch does not share."""
    msg = str(err)
    floats = {a.dtype for a in args if isinstance(a, np.ndarray) and a.dtype.kind == "f"}
    return (isinstance(err, TypeError) and len(floats) > 1 and "float" in msg) or "would be truncated" in msg \
        or (msg.startswith("lerp: expected a floating-point")) \
        or any(isinstance(a, np.ndarray) and a.size == 0 for a in args)


def _same(name, got, want):
    if isinstance(want, list):
        assert isinstance(got, (list, tuple)) and len(got) == len(want), f"{name}: {len(got)} results, torch {len(want)}"
        for g, w in zip(got, want):
            _same(name, g, w)
        return
    if isinstance(want, bool):
        assert got is want, f"{name}: {got!r}, torch says {want!r}"
        return
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{name}: shape {got.shape}, torch says {want.shape}"
    assert got.dtype == want.dtype, f"{name}: dtype {got.dtype}, torch says {want.dtype}"
    if want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want, err_msg=name)
    else:
        tol = 1e-5 if want.dtype == np.float32 else 1e-10
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True, err_msg=name)


def check(name, tfn, mfn, args, kw=None, grad=(), seed=0, allow=False):
    """Run one call in torch and in minigrad and hold minigrad to the rules in the module docstring
    (`allow`: a refusal of this call is a documented exception)."""
    kw = kw or {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            want = _host(tfn(*[_to_torch(a) for a in args], **kw))
        except Exception:  # noqa: BLE001 - torch refuses
            want = None
        try:
            got, err = _host(mfn(*[_to_mg(a) for a in args], **kw)), None
        except ALLOWED as e:
            got, err = None, e
            origin = traceback.extract_tb(e.__traceback__)[-1].filename
            assert not origin.startswith(NUMPY_DIR), f"{name}: a raw NumPy error escaped: {e!r}"
            assert name.rstrip("_") in str(e), f"{name}: the error does not name the op: {e!r}"
    if want is None or err is not None:
        assert want is None or allow or _policy(args, err), f"{name} refused what torch computes: {err!r}"
        return
    _same(name, got, want)
    if grad:
        _check_grad(name, tfn, mfn, args, kw, grad, seed)


def _check_grad(name, tfn, mfn, args, kw, grad, seed):
    """The float64 gradient of sum(w * out) for random w, against torch's autograd where it is finite."""
    if not all(isinstance(args[i], np.ndarray) and args[i].dtype.kind == "f" for i in grad):
        return
    args = [a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in args]
    ta = [_to_torch(a) for a in args]
    for i in grad:
        ta[i].requires_grad_(True)
    outs = tfn(*ta, **kw)
    outs = [o for o in (outs if isinstance(outs, (tuple, list)) else [outs])
            if isinstance(o, torch.Tensor) and o.requires_grad]
    if not outs:
        return
    rng = np.random.default_rng(seed)
    ws = [rng.standard_normal(o.shape) for o in outs]
    try:
        want = torch.autograd.grad(sum((o * torch.from_numpy(w)).sum() for o, w in zip(outs, ws)),
                                   [ta[i] for i in grad], allow_unused=True)
    except RuntimeError:  # e.g. "derivative for aten::remainder is not implemented" (number % tensor)
        return
    want = [np.zeros(args[i].shape) if g is None else g.numpy() for g, i in zip(want, grad)]
    if not all(np.isfinite(g).all() for g in want):
        return  # torch's gradient is not defined here
    ma = [_to_mg(a) for a in args]
    for i in grad:
        ma[i].requires_grad = True
    outs = mfn(*ma, **kw)
    outs = [o for o in (outs if isinstance(outs, (tuple, list)) else [outs]) if o.requires_grad]
    sum((o * mg.tensor(w)).sum() for o, w in zip(outs, ws)).backward()
    for i, w in zip(grad, want):
        g = np.zeros(args[i].shape) if ma[i].grad is None else ma[i].grad.numpy()
        np.testing.assert_allclose(g, w, rtol=1e-7, atol=1e-9, err_msg=f"{name}: gradient of argument {i}")


# ================================================================ pointwise
UNARY = ["log1p", "expm1", "log2", "log10", "rsqrt", "reciprocal", "square", "tan", "sinh", "cosh", "asin", "acos",
         "atan", "sign", "floor", "ceil", "trunc", "round", "isnan", "isinf", "isfinite", "nan_to_num"]


@given(op=st.sampled_from(UNARY), a=arrays(), data=st.data())
def test_unary_against_torch(op, a, data):
    kw = {}
    if op == "round" and data.draw(st.booleans()):
        kw["decimals"] = data.draw(st.integers(-2, 2))
    if op == "nan_to_num":
        kw = data.draw(st.dictionaries(st.sampled_from(["nan", "posinf", "neginf"]),
                                       st.sampled_from([0.5, -1.0, 3, 1e40, None])))
    check(op, getattr(torch, op), getattr(mg, op), [a], kw, grad=(0,))


BINARY = {"atan2": (torch.atan2, mg.atan2), "fmod": (torch.fmod, mg.fmod), "remainder": (torch.remainder, mg.remainder),
          "floor_divide": (torch.floor_divide, mg.floor_divide), "hypot": (torch.hypot, mg.hypot),
          "%": (lambda x, y: x % y, lambda x, y: x % y), "//": (lambda x, y: x // y, lambda x, y: x // y)}
NAMES = {"%": "remainder", "//": "floor_divide"}


@given(op=st.sampled_from(sorted(BINARY)), a=arrays(), data=st.data())
def test_binary_against_torch(op, a, data):
    """Tensor-tensor (broadcasting or not, any dtype pair) and tensor-number calls; the number on either side."""
    kind = data.draw(st.sampled_from(["tensor", "tensor", "number", "rnumber"]))
    if kind == "tensor":
        args = [a, data.draw(arrays(shape=broadcastable(data.draw, a.shape)))]
    else:
        args = [a, data.draw(NUMBERS)][:: 1 if kind == "number" else -1]
    grad = tuple(i for i, x in enumerate(args) if isinstance(x, np.ndarray)) if op != "//" else ()
    check(NAMES.get(op, op), *BINARY[op], args, grad=grad, seed=data.draw(st.integers(0, 99)))


@given(op=st.sampled_from(["lerp", "addcmul", "addcdiv"]), a=arrays(), data=st.data())
def test_ternary_against_torch(op, a, data):
    b = data.draw(arrays(shape=broadcastable(data.draw, a.shape)))
    if op == "lerp":
        if data.draw(st.booleans()):
            b = b.astype(a.dtype)
        w = data.draw(st.one_of(NUMBERS, arrays(shape=broadcastable(data.draw, a.shape))))
        check(op, torch.lerp, mg.lerp, [a, b, w], grad=tuple(i for i, x in enumerate((a, b, w))
                                                             if isinstance(x, np.ndarray)))
        return
    c = data.draw(arrays(shape=broadcastable(data.draw, a.shape)))
    kw = data.draw(st.one_of(st.just({}), st.fixed_dictionaries({"value": NUMBERS})))
    check(op, getattr(torch, op), getattr(mg, op), [a, b, c], kw, grad=(0, 1, 2))


@given(op=st.sampled_from(["isclose", "allclose", "equal"]), a=arrays(), data=st.data())
def test_closeness_against_torch(op, a, data):
    b = a.copy() if data.draw(st.booleans()) else data.draw(arrays(shape=broadcastable(data.draw, a.shape)))
    if data.draw(st.booleans()):
        b = b.astype(a.dtype)
    kw = {} if op == "equal" else data.draw(st.fixed_dictionaries({}, optional={
        "rtol": st.sampled_from([0.0, 1e-3, 0.5]), "atol": st.sampled_from([0.0, 1e-3, 1.0]),
        "equal_nan": st.booleans()}))
    check(op, getattr(torch, op), getattr(mg, op), [a, b], kw)


# ================================================================ shape and index ops
def dims(nd):
    """A dim, usually valid, sometimes out of range."""
    return st.integers(-nd - 2, nd + 1) if nd else st.integers(-2, 1)


@given(op=st.sampled_from(["unbind", "narrow", "select", "movedim", "swapaxes", "expand_as", "view_as",
                           "reshape_as", "unflatten", "tile", "diagonal", "diag", "trace", "cumprod"]),
       a=arrays(special=False), data=st.data())
def test_shape_ops_against_torch(op, a, data):
    nd, d = a.ndim, data.draw(dims(a.ndim))
    size = a.shape[d] if -nd <= d < nd else 2
    seed = data.draw(st.integers(0, 99))
    if op in ("unbind", "cumprod"):
        check(op, getattr(torch, op), getattr(mg, op), [a, d], grad=(0,), seed=seed)
    elif op in ("narrow", "select"):
        start = data.draw(st.integers(-size - 1, size + 1))
        extra = [data.draw(st.integers(-1, size + 1))] if op == "narrow" else []
        check(op, getattr(torch, op), getattr(mg, op), [a, d, start] + extra, grad=(0,), seed=seed)
    elif op == "movedim":
        src = data.draw(st.one_of(dims(nd), st.lists(dims(nd), max_size=3).map(tuple)))
        dst = data.draw(dims(nd)) if isinstance(src, int) else tuple(data.draw(st.permutations(range(nd))))[:len(src)]
        check(op, torch.movedim, mg.movedim, [a, src, dst], grad=(0,), seed=seed)
    elif op == "swapaxes":
        check(op, torch.swapaxes, mg.swapaxes, [a, d, data.draw(dims(nd))], grad=(0,), seed=seed)
    elif op in ("expand_as", "view_as", "reshape_as"):
        shape = data.draw(st.one_of(st.permutations(a.shape).map(tuple), hnp.array_shapes(min_dims=0, max_dims=4,
                                                                                          min_side=0, max_side=4)))
        x, other = (np.ones(broadcastable(data.draw, a.shape), a.dtype), a) if op == "expand_as" else (a, np.ones(shape))
        check(op, getattr(torch.Tensor, op), getattr(mg.Tensor, op), [x, other], grad=(0,), seed=seed)
    elif op == "unflatten":
        sizes = data.draw(st.one_of(st.sampled_from([(size, 1), (1, size), (-1,), (size,), (-1, 1), (1, -1, 1), (2, -1)]),
                                    st.lists(st.integers(-1, 3), max_size=3).map(tuple)))
        check(op, torch.unflatten, mg.unflatten, [a, d, sizes], grad=(0,), seed=seed)
    elif op == "tile":
        check(op, torch.tile, mg.tile, [a, tuple(data.draw(st.lists(st.integers(0, 2), max_size=4)))], grad=(0,))
    elif op == "diagonal":
        kw = {"offset": data.draw(st.integers(-3, 3)), "dim1": d, "dim2": data.draw(dims(nd))}
        check(op, torch.diagonal, mg.diagonal, [a], kw, grad=(0,), seed=seed)
    elif op == "diag":
        check(op, torch.diag, mg.diag, [a], {"diagonal": data.draw(st.integers(-3, 3))}, grad=(0,), seed=seed)
    else:
        check(op, torch.trace, mg.trace, [a], grad=(0,), seed=seed)


@given(a=arrays(special=False), data=st.data())
def test_repeat_interleave_diff_unique_against_torch(a, data):
    nd = a.ndim
    dim = data.draw(st.one_of(st.none(), dims(nd)))
    n = a.size if dim is None else (a.shape[dim] if -nd <= dim < nd else 2)
    repeats = data.draw(st.one_of(st.integers(-1, 3), hnp.arrays(np.int64, st.sampled_from([(), (n,), (n + 1,)]),
                                                                  elements=st.integers(0, 3))))
    check("repeat_interleave", torch.repeat_interleave, mg.repeat_interleave, [a, repeats], {"dim": dim}, grad=(0,))
    counts = data.draw(hnp.arrays(st.sampled_from([np.int32, np.int64]), st.integers(0, 4), elements=st.integers(0, 3)))
    check("repeat_interleave", torch.repeat_interleave, mg.repeat_interleave, [counts])
    # diff, with prepend/append of any dtype that may or may not fit
    kw = {"n": data.draw(st.integers(-1, 3)), "dim": data.draw(dims(nd))}
    extra = {k: data.draw(arrays(shape=broadcastable(data.draw, a.shape), special=False))
             for k in data.draw(st.lists(st.sampled_from(["prepend", "append"]), max_size=2, unique=True))}
    check("diff", lambda x, *e: torch.diff(x, **kw, **dict(zip(extra, e))),
          lambda x, *e: mg.diff(x, **kw, **dict(zip(extra, e))), [a, *extra.values()], grad=(0,), allow=kw["n"] == 0)
    kw = data.draw(st.fixed_dictionaries({"return_inverse": st.booleans(), "return_counts": st.booleans()},
                                         optional={"dim": dims(nd)}))
    if "dim" not in kw or not (a.dtype.kind == "f" and np.isnan(a).any()):
        check("unique", torch.unique, mg.unique, [(a * 2).astype(a.dtype) if a.dtype.kind == "f" else a], kw)


def _in_place(method):
    def call(x, *args):
        x = x.clone()
        getattr(x, method)(*args)
        return x
    return call


@given(op=st.sampled_from(["masked_scatter", "masked_fill_", "index_copy", "index_copy_", "index_fill", "index_fill_"]),
       a=arrays(), data=st.data())
def test_index_ops_against_torch(op, a, data):
    nd, d = a.ndim, data.draw(dims(a.ndim))
    value = data.draw(st.one_of(NUMBERS, arrays(shape=())))
    seed = data.draw(st.integers(0, 99))
    fns = (getattr(torch, op), getattr(mg, op)) if not op.endswith("_") else (_in_place(op), _in_place(op))
    if op in ("masked_scatter", "masked_fill_"):
        mask = data.draw(hnp.arrays(np.bool_, broadcastable(data.draw, a.shape)))
        if op == "masked_fill_":
            check(op, *fns, [a, mask, value])
            return
        source = data.draw(arrays(shape=data.draw(st.sampled_from([a.shape, (a.size,), (a.size + 1,), (0,)]))))
        check(op, *fns, [a, mask, source], grad=(0, 2), seed=seed)
        return
    n = a.shape[d] if -nd <= d < nd else 2
    index = data.draw(hnp.arrays(st.sampled_from([np.int64, np.int64, np.int32]), st.sampled_from([(), (1,), (2,), (0,)]),
                                 elements=st.integers(-1, n)))
    if op.startswith("index_fill"):
        check(op, *fns, [a, d, index, value], grad=() if op.endswith("_") else (0,), seed=seed)
        return
    shape = list(a.shape)
    if -nd <= d < nd:
        shape[d] = index.size
    source = data.draw(arrays(shape=tuple(shape), dtype=data.draw(st.sampled_from([a.dtype, a.dtype, np.float64]))))
    check(op, *fns, [a, d, index, source], grad=() if op.endswith("_") else (0, 3), seed=seed)


# ================================================================ all / any
@given(op=st.sampled_from(["all", "any"]), a=arrays(), data=st.data())
def test_all_any_against_torch(op, a, data):
    kw = data.draw(st.one_of(st.just({}), st.fixed_dictionaries(
        {"dim": st.one_of(dims(a.ndim), st.lists(st.integers(-a.ndim, max(a.ndim - 1, 0)), max_size=a.ndim,
                                                   unique=True).map(tuple))},
        optional={"keepdim": st.booleans()})))
    check(op, getattr(torch, op), getattr(mg, op), [a], kw)
    check(op, getattr(torch.Tensor, op), getattr(mg.Tensor, op), [a], kw)


def test_found_by_fuzzing():
    """The discrepancies the fuzzing found, pinned as plain examples."""
    t = mg.tensor([[1, 0], [2, 3]])
    assert mg.all(t, dim=()).tolist() == [[True, False], [True, True]]  # dim=() reduces nothing, as torch
    assert mg.isclose(mg.tensor([False]), mg.tensor([True]), atol=1.0).tolist() == [True]
    assert mg.remainder(mg.tensor([True, False]), mg.tensor([2, 2])).tolist() == [1, 0]
    assert (mg.tensor(np.array([5, 7], np.int32)) % mg.tensor(3)).dtype == mg.int32
    assert mg.fmod(mg.zeros(0, dtype=mg.int64), 0).shape == (0,)  # nothing divided: no division by zero
    assert mg.nan_to_num(mg.tensor([math.nan]), nan=None).tolist() == [0.0]
    assert mg.addcmul(mg.tensor([1.0], dtype=mg.float64), mg.tensor([2]), mg.tensor([3])).dtype == mg.float64
    assert mg.unflatten(mg.zeros(0, 2), -1, (-1,)).shape == (0, 2)
    assert mg.repeat_interleave(mg.tensor(np.array([1, 2], np.int32))).dtype == mg.int32
    with pytest.raises(RuntimeError, match="index_fill: value nan"):
        mg.tensor([1, 2]).index_fill(0, mg.tensor([0]), math.nan)
    with pytest.raises(RuntimeError, match="masked_fill: value 1e\\+30"):
        mg.tensor([1, 2]).masked_fill_(mg.tensor([True, False]), 1e30)
    with pytest.raises(IndexError, match="swapaxes"):
        mg.swapaxes(mg.zeros(2), 0, 3)
