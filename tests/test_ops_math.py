"""torch's remaining pointwise math: log1p ... atan, rounding, atan2/fmod/remainder/floor_divide/hypot,
lerp, addcmul/addcdiv, nan_to_num, isnan/isinf/isfinite, isclose/allclose/equal, comparison methods.

Each differentiable op gets a Hypothesis property (`check_op`: values against NumPy in float64 and
float32, gradients against float64 finite differences, float32 kept, inputs untouched) with inputs
drawn inside its domain and away from its jumps; then torch parity of values and gradients in
float32 and float64, including the awkward points (0 for rsqrt, the origin for atan2, NaN and inf);
then torch's dtype rules for integer and bool inputs; then errors.
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad.ops.elementwise import (
    Acos, Asin, Atan, Atan2, Ceil, Cosh, Expm1, Floor, FloorDivide, Fmod, Hypot, Lerp, Log1p, Log2, Log10, NanToNum,
    Reciprocal, Remainder, Round, Rsqrt, Sign, Sinh, Tan, Trunc, python_divmod,
)
from minigrad.testing import strategies as mst

from opcheck import check_op, draw_array

try:  # the parity tests need torch; the properties above them do not (nor does test_op_coverage's import)
    import torch
except ImportError:
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

# FloorDivide has no derivative (as in torch): its test checks that backward raises, values vs NumPy/torch.
GRADIENT_TESTED = [
    Log1p, Expm1, Log2, Log10, Rsqrt, Reciprocal, Tan, Sinh, Cosh, Asin, Acos, Atan,
    Sign, Floor, Ceil, Trunc, Round, Atan2, Fmod, Remainder, FloorDivide, Hypot, Lerp, NanToNum,
]

SHAPES = mst.shapes(max_dims=3, max_side=4)
PAIRS = mst.broadcastable_shapes(2, max_dims=3, max_side=4)
TRIPLES = mst.broadcastable_shapes(3, max_dims=3, max_side=3)
INF, NAN = math.inf, math.nan


# ---------------------------------------------------------------- unary properties (check_op)
_INTS = [float(k) for k in range(-3, 4)]
_HALVES = [k + 0.5 for k in range(-4, 4)]

UNARY = {
    # name: (minigrad fn, NumPy reference, strategy keywords: the op's domain, away from its jumps)
    "log1p": (mg.log1p, np.log1p, dict(min_value=-0.9)),
    "expm1": (lambda x: x.expm1(), np.expm1, {}),
    "log2": (mg.log2, np.log2, dict(min_value=0.5)),
    "log10": (lambda x: x.log10(), np.log10, dict(min_value=0.5)),
    "rsqrt": (mg.rsqrt, lambda a: 1 / np.sqrt(a), dict(min_value=0.5)),
    "reciprocal": (lambda x: x.reciprocal(), np.reciprocal, dict(avoid=[0.0], avoid_margin=0.5)),
    "square": (mg.square, np.square, {}),
    "square method": (lambda x: x.square(), np.square, {}),
    "tan": (mg.tan, np.tan, dict(min_value=-1.2, max_value=1.2)),
    "sinh": (mg.sinh, np.sinh, {}),
    "cosh": (lambda x: x.cosh(), np.cosh, {}),
    "asin": (mg.asin, np.arcsin, dict(min_value=-0.95, max_value=0.95)),
    "acos": (lambda x: x.acos(), np.arccos, dict(min_value=-0.95, max_value=0.95)),
    "atan": (mg.atan, np.arctan, {}),
    "sign": (mg.sign, np.sign, dict(avoid=[0.0])),
    "floor": (mg.floor, np.floor, dict(avoid=_INTS)),
    "ceil": (lambda x: x.ceil(), np.ceil, dict(avoid=_INTS)),
    "trunc": (mg.trunc, np.trunc, dict(avoid=_INTS)),
    "round": (mg.round, np.round, dict(avoid=_HALVES)),
    "round method": (lambda x: x.round(), np.round, dict(avoid=_HALVES)),
    "builtin round": (lambda x: round(x), np.round, dict(avoid=_HALVES)),
    "nan_to_num (finite)": (mg.nan_to_num, np.nan_to_num, {}),
}


@pytest.mark.parametrize("name", list(UNARY))
@given(data=st.data(), shape=SHAPES)
def test_unary(device, name, data, shape):
    fn, ref, kw = UNARY[name]
    x = draw_array(data, shape, device, **kw)
    check_op(fn, ref, [x], device, f32_tol=5e-5)


@pytest.mark.parametrize("decimals", [1, 2, -1])
@given(data=st.data(), shape=SHAPES)
def test_round_decimals(device, decimals, data, shape):
    # values a quarter step past a multiple of 10^-decimals: far from the halfway points where rounding jumps
    step = 10.0 ** -decimals
    k = data.draw(hnp.arrays(np.int64, shape, elements=st.integers(-30, 30)))
    x = (k + 0.25 * data.draw(st.sampled_from([-1, 1]))) * step
    check_op(lambda t: t.round(decimals=decimals), lambda a: np.round(a, decimals), [x], device)


# ---------------------------------------------------------------- binary properties, broadcasting
# fmod/remainder jump where a / b is an integer. With b in {±0.5, ±1, ±2}, that happens only at multiples
# of 0.5, so a stays 0.05 away from them (a / b is then >= 0.025 away from every integer).
_DIVISORS = [-2.0, -1.0, -0.5, 0.5, 1.0, 2.0]
_MULTIPLES_OF_HALF = [k * 0.5 for k in range(-6, 7)]


def _divisors(data, shape):
    return data.draw(hnp.arrays(np.float64, shape, elements=st.sampled_from(_DIVISORS)))


@pytest.mark.parametrize("fn,ref", [
    (mg.fmod, np.fmod), (lambda a, b: a.fmod(b), np.fmod),
    (mg.remainder, np.remainder), (lambda a, b: a % b, np.remainder), (lambda a, b: a.remainder(b), np.remainder),
])
@given(data=st.data(), shapes=PAIRS)
def test_fmod_remainder(device, fn, ref, data, shapes):
    a = draw_array(data, shapes[0], device, avoid=_MULTIPLES_OF_HALF, avoid_margin=0.05)
    b = _divisors(data, shapes[1])
    check_op(fn, ref, [a, b], device)


@pytest.mark.parametrize("fn,ref", [
    (lambda x: x % 1.5, lambda a: np.remainder(a, 1.5)),
    (lambda x: mg.fmod(x, -1.5), lambda a: np.fmod(a, -1.5)),
    (lambda x: x % -3, lambda a: np.remainder(a, -3.0)),
])
@given(data=st.data(), shape=SHAPES)
def test_fmod_remainder_by_a_number(device, fn, ref, data, shape):
    a = draw_array(data, shape, device, avoid=[k * 0.75 for k in range(-4, 5)], avoid_margin=0.05)
    check_op(fn, ref, [a], device)


@given(data=st.data(), shape=SHAPES)
def test_number_remainder_tensor(device, data, shape):
    """7 % x: the gradient -floor(7 / x) reaches x (torch raises 'not implemented' for this case)."""
    b = _divisors(data, shape)
    check_op(lambda x: 7.25 % x, lambda v: np.remainder(7.25, v), [b], device)


@given(data=st.data(), shapes=PAIRS)
def test_atan2(device, data, shapes):
    # away from the origin, and from the cut along b < 0 where atan2 jumps by 2 pi as a changes sign
    a = draw_array(data, shapes[0], device, avoid=[0.0], avoid_margin=0.1)
    b = draw_array(data, shapes[1], device, avoid=[0.0], avoid_margin=0.3)
    check_op(mg.atan2, np.arctan2, [a, b], device)
    check_op(lambda x, y: x.atan2(y), np.arctan2, [a, b], device)


@given(data=st.data(), shapes=PAIRS)
def test_hypot(device, data, shapes):
    a = draw_array(data, shapes[0], device, avoid=[0.0], avoid_margin=0.3)
    b = draw_array(data, shapes[1], device)
    check_op(mg.hypot, np.hypot, [a, b], device)


@given(data=st.data(), shapes=TRIPLES)
def test_lerp_tensor_weight(device, data, shapes):
    a, b = draw_array(data, shapes[0], device), draw_array(data, shapes[1], device)
    w = draw_array(data, shapes[2], device, min_value=-0.5, max_value=1.5)  # both of torch's branches
    check_op(mg.lerp, lambda x, y, z: x + z * (y - x), [a, b, w], device)


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.75, 1.0, 2])
@given(data=st.data(), shapes=PAIRS)
def test_lerp_number_weight(device, weight, data, shapes):
    a, b = draw_array(data, shapes[0], device), draw_array(data, shapes[1], device)
    check_op(lambda x, y: x.lerp(y, weight), lambda x, y: x + weight * (y - x), [a, b], device)


@pytest.mark.parametrize("op,value", [("addcmul", 1), ("addcmul", 0.5), ("addcdiv", 1), ("addcdiv", -2.5)])
@given(data=st.data(), shapes=TRIPLES)
def test_addcmul_addcdiv(device, op, value, data, shapes):
    x, t1 = draw_array(data, shapes[0], device), draw_array(data, shapes[1], device)
    t2 = draw_array(data, shapes[2], device, avoid=[0.0], avoid_margin=0.5)
    if op == "addcmul":
        fn, ref = (lambda a, b, c: mg.addcmul(a, b, c, value=value)), (lambda a, b, c: a + value * b * c)
    else:
        fn, ref = (lambda a, b, c: a.addcdiv(b, c, value=value)), (lambda a, b, c: a + value * b / c)
    check_op(fn, ref, [x, t1, t2], device)


@given(data=st.data(), shapes=PAIRS)
def test_floor_divide_values_and_no_gradient(device, data, shapes):
    a = draw_array(data, shapes[0], device)
    b = _divisors(data, shapes[1])
    for dtype in ("float64", "float32"):
        x = mg.tensor(a, dtype=dtype, device=device, requires_grad=True)
        y = mg.tensor(b, dtype=dtype, device=device)
        for out in (mg.floor_divide(x, y), x // y, x.floor_divide(y)):
            assert out.dtype == np.dtype(dtype)
            np.testing.assert_array_equal(out.numpy(), np.floor_divide(a.astype(dtype), b.astype(dtype)))
            assert out.requires_grad  # as torch: recorded, and backward refuses
            with pytest.raises(RuntimeError, match="floor_divide: the derivative .* is not implemented"):
                out.sum().backward()


# ---------------------------------------------------------------- torch parity: values and gradients
TOL = {"float64": dict(rtol=1e-12, atol=1e-14), "float32": dict(rtol=2e-6, atol=1e-7)}


def parity(mg_fn, torch_fn, arrays, device, dtype, grads=True):
    """Same inputs in both libraries: outputs equal (NaN where torch has NaN), then the gradients
    of a fixed random cotangent (NaN/inf included) for every float input."""
    ms = [mg.tensor(np.asarray(a, dtype=dtype), device=device, requires_grad=grads) for a in arrays]
    ts = [torch.tensor(np.asarray(a, dtype=dtype), requires_grad=grads) for a in arrays]
    mo, to = mg_fn(*ms), torch_fn(*ts)
    assert mo.dtype == np.dtype(dtype) and mo.shape == tuple(to.shape)
    np.testing.assert_allclose(mo.numpy(), to.detach().numpy(), **TOL[dtype])
    if not grads:
        return
    v = np.random.default_rng(3).uniform(0.5, 1.5, to.shape).astype(dtype)  # positive: keeps inf signs readable
    mo.backward(mg.tensor(v, device=device))
    to.backward(torch.tensor(v))
    for k, (m, t) in enumerate(zip(ms, ts)):
        assert m.grad is not None and m.grad.dtype == np.dtype(dtype), f"input {k}"
        np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), **TOL[dtype], err_msg=f"gradient of input {k}")


rng = np.random.default_rng(0)
R = rng.uniform(-3, 3, (3, 4))

UNARY_PARITY = {
    # name: (inputs including the awkward points torch defines: inf/NaN values and gradients)
    "log1p": [-1.0, -0.5, -1e-9, 0.0, 1e-9, 2.0, -2.0, INF],
    "expm1": [-INF, -20.0, -1e-9, 0.0, 1e-9, 3.0],
    "log2": [0.0, 0.5, 1.0, 8.0, -1.0, INF],
    "log10": [0.0, 0.5, 1.0, 100.0, -1.0],
    "rsqrt": [0.0, -0.0, 0.25, 4.0, -1.0, INF],
    "reciprocal": [0.0, -0.0, 0.5, -2.0, INF],
    "square": [-3.0, 0.0, 1.5, INF],
    "tan": [0.0, 0.3, -1.0, 1.5],
    "sinh": [0.0, 1.0, -2.0, 5.0],
    "cosh": [0.0, 1.0, -2.0, 5.0],
    "asin": [1.0, -1.0, 2.0, 0.3, -0.99, 0.0],
    "acos": [1.0, -1.0, 2.0, 0.3, -0.99, 0.0],
    "atan": [3e38, -INF, 0.5, 0.0, -4.0],  # x**2 overflows in float32: the gradient is 0 (its limit)
    "sign": [0.0, -0.0, -2.0, 3.0, NAN, INF],
    "floor": [1.5, -1.5, 2.0, -0.0, INF],
    "ceil": [1.5, -1.5, 2.0, -0.0, -INF],
    "trunc": [1.5, -1.5, 2.7, -2.7],
    "round": [0.5, 1.5, 2.5, -0.5, -2.5, 2.4999, 3.0],
    "nan_to_num": [NAN, INF, -INF, 1.0, -2.5],
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(UNARY_PARITY))
@needs_torch
def test_unary_parity(device, name, dtype):
    parity(getattr(mg, name), getattr(torch, name), [UNARY_PARITY[name]], device, dtype)
    parity(getattr(mg, name), getattr(torch, name), [R], device, dtype)  # a plain 2-D input


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("decimals", [1, 2, 3, -1, -2])
@needs_torch
def test_round_decimals_parity(device, dtype, decimals):
    x = [0.125, 0.375, 2.675, 1250.0, 1350.0, -77.77, 0.05, 1e-3, 123.456]
    parity(lambda t: t.round(decimals=decimals), lambda t: torch.round(t, decimals=decimals), [x], device, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("nan,posinf,neginf", [(0.0, None, None), (1.5, 1e39, -2.0), (-1, 7, None)])
@needs_torch
def test_nan_to_num_parity(device, dtype, nan, posinf, neginf):
    x = [[NAN, INF, -INF], [1.0, -2.5, 0.0]]
    parity(lambda t: t.nan_to_num(nan=nan, posinf=posinf, neginf=neginf),
           lambda t: torch.nan_to_num(t, nan=nan, posinf=posinf, neginf=neginf), [x], device, dtype)


# a, b: the origin (both signed zeros), a zero divisor, negative operands, and broadcasting
A_AWK = [0.0, 0.0, -0.0, 5.5, -5.5, 5.5, -5.5, 1.0, 3.0, -7.0]
B_AWK = [0.0, -0.0, 0.0, 2.0, 2.0, -2.0, -2.0, 0.0, 4.0, 3.5]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["atan2", "fmod", "remainder", "hypot"])
@needs_torch
def test_binary_parity(device, name, dtype):
    mf, tf = getattr(mg, name), getattr(torch, name)
    parity(mf, tf, [A_AWK, B_AWK], device, dtype)
    a, b = rng.uniform(-3, 3, (2, 1, 4)), rng.choice([-1.5, -0.7, 0.6, 1.3], (3, 1))
    parity(mf, tf, [a, b], device, dtype)  # broadcasting: the gradients are summed back to each shape
    if name in ("fmod", "remainder"):  # a number as the divisor
        parity(lambda t: mf(t, -1.75), lambda t: tf(t, -1.75), [a], device, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@needs_torch
def test_operators_parity(device, dtype):
    a, b = rng.uniform(-3, 3, (2, 3)), rng.choice([-1.5, 0.6, 1.3], (3,))
    parity(lambda x, y: x % y, lambda x, y: x % y, [a, b], device, dtype)
    parity(lambda x: x % 0.8, lambda x: x % 0.8, [a], device, dtype)
    parity(lambda x, y: x // y, lambda x, y: x // y, [a, b], device, dtype, grads=False)
    parity(lambda x: 5 // x, lambda x: 5 // x, [b], device, dtype, grads=False)
    parity(lambda x: x // -0.8, lambda x: x // -0.8, [a], device, dtype, grads=False)
    parity(lambda x: 5 % x, lambda x: 5 % x, [b], device, dtype, grads=False)  # torch has no gradient there


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@needs_torch
def test_floor_divide_by_zero_parity(device, dtype):
    parity(mg.floor_divide, torch.floor_divide, [[7.0, -7.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.1]], device, dtype,
           grads=False)
    # 1.0 // 0.1 is 9 (0.1 is a bit more than 1/10), not floor(1.0 / 0.1) = 10; and 1.0 % 0.1 is near 0.1
    parity(lambda x, y: mg.div(x, y, rounding_mode="floor"), lambda x, y: torch.div(x, y, rounding_mode="floor"),
           [[1.0, 5.0, -1.0, 7.0], [0.1, 0.1, 0.1, 0.0]], device, dtype, grads=False)
    parity(mg.remainder, torch.remainder, [[1.0, 5.0, -1.0, 7.0, -0.0], [0.1, 0.1, 0.1, -3.0, 2.0]], device, dtype,
           grads=False)


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
def test_python_divmod_is_numpys_floor_divide_and_remainder_bit_for_bit(device, dtype):
    """The backend-agnostic (a // b, a % b) that non-NumPy backends use (CuPy's float floor_divide is
    floor(a / b)) equals NumPy's C loops, signs of zeros, inf and NaN included."""
    # (no float32 subnormals: a GPU flushes them to 0, see the README; NumPy's loops keep them)
    special = [0.0, -0.0, 1.0, -1.0, 0.1, -0.1, 7.0, -2.5, 1e-3, 3e38, 1e30, np.inf, -np.inf, np.nan]
    a, b = (np.array(v, dtype=np.float64) for v in zip(*[(p, q) for p in special for q in special]))
    r = np.random.default_rng(0)
    a = np.concatenate([a, r.standard_normal(300) * r.choice([1e-3, 1.0, 1e3], 300)])
    b = np.concatenate([b, r.standard_normal(300) * r.choice([1e-2, 0.1, 1.0], 300)])
    with np.errstate(all="ignore"):
        a, b = a.astype(dtype), b.astype(dtype)
        want_q, want_m = np.floor_divide(a, b), np.remainder(a, b)
    xa, xb = mg.tensor(a, device=device).data, mg.tensor(b, device=device).data
    for got, want in zip(python_divmod(xa, xb), (want_q, want_m)):
        got = mg.tensor(got).numpy()
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got, want)  # (NaN matches NaN)
        number = ~np.isnan(want)  # the sign of zeros (a NaN's sign bit means nothing)
        np.testing.assert_array_equal(np.signbit(got[number]), np.signbit(want[number]))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@needs_torch
def test_lerp_parity(device, dtype):
    a, b, w = rng.standard_normal((2, 3)), rng.standard_normal((3,)), rng.uniform(-1, 2, (2, 1))
    parity(mg.lerp, torch.lerp, [a, b, w], device, dtype)
    for weight in (0.25, 0.75, 2, -0.5):  # both of torch's branches (|w| < 0.5 and not)
        parity(lambda x, y: mg.lerp(x, y, weight), lambda x, y: torch.lerp(x, y, weight), [a, b], device, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("value", [1, 0.5, -3])
@needs_torch
def test_addcmul_addcdiv_parity(device, dtype, value):
    x, t1, t2 = rng.standard_normal((2, 3)), rng.standard_normal((3,)), rng.uniform(0.5, 2, (2, 1))
    parity(lambda a, b, c: mg.addcmul(a, b, c, value=value), lambda a, b, c: torch.addcmul(a, b, c, value=value),
           [x, t1, t2], device, dtype)
    parity(lambda a, b, c: mg.addcdiv(a, b, c, value=value), lambda a, b, c: torch.addcdiv(a, b, c, value=value),
           [x, t1, t2], device, dtype)


@needs_torch
def test_empty_and_zero_dim(device):
    e = mg.zeros(0, 3, device=device, requires_grad=True)
    for out in (mg.log1p(e), mg.fmod(e, mg.ones(3, device=device)), mg.atan2(e, 1.0), e.round(decimals=1)):
        assert out.shape == (0, 3) and out.dtype == np.float32
    s = mg.tensor(0.5, device=device, requires_grad=True)
    y = mg.atan2(s, mg.tensor([1.0, 2.0], device=device))
    y.sum().backward()
    ts = torch.tensor(0.5, requires_grad=True)
    torch.atan2(ts, torch.tensor([1.0, 2.0])).sum().backward()
    assert s.grad.shape == () and np.allclose(s.grad.numpy(), ts.grad.numpy())


# ---------------------------------------------------------------- dtypes: integer and bool inputs as torch
INT = [1, 2, -3, 0]
BOOL = [True, False]

UNARY_DTYPES = ["exp", "log", "sqrt", "sin", "cos", "log1p", "expm1", "log2", "log10", "rsqrt", "reciprocal", "square", "tan", "sinh", "cosh", "asin",
                "acos", "atan", "sign", "floor", "ceil", "trunc", "round", "nan_to_num", "isnan", "isinf", "isfinite",
                "isposinf", "isneginf"]


@pytest.mark.parametrize("name", UNARY_DTYPES)
@pytest.mark.parametrize("data,tdtype", [(INT, "int64"), (INT, "int32"), (BOOL, "bool")])
@needs_torch
def test_unary_integer_and_bool_inputs_as_torch(device, name, data, tdtype):
    t = torch.tensor(data, dtype=getattr(torch, tdtype))
    m = mg.tensor(t.numpy(), device=device)
    try:
        want = getattr(torch, name)(t)
    except (RuntimeError, NotImplementedError):  # torch refuses (floor of bool, ...): so do we, naming the op
        with pytest.raises(TypeError, match=f"^{name}: .*bool"):
            getattr(mg, name)(m)
        return
    with np.errstate(divide="ignore"):  # reciprocal(0) = inf for the reference
        got = getattr(mg, name)(m)
    assert got.dtype == np.dtype(str(want.dtype).replace("torch.", "")), (got.dtype, want.dtype)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


@pytest.mark.parametrize("name", ["fmod", "remainder", "floor_divide", "atan2", "hypot"])
@pytest.mark.parametrize("case", ["int,int", "int,number", "int,float number", "int32,int64", "bool,number",
                                  "int,float", "float,int", "float,number", "bool,bool"])
@needs_torch
def test_binary_dtypes_as_torch(device, name, case):
    ints, negs = [-7, 7, 5, -4], [3, -3, 2, 2]
    operands = {
        "int,int": (torch.tensor(ints), torch.tensor(negs)),
        "int,number": (torch.tensor(ints), 3),
        "int,float number": (torch.tensor(ints), 2.5),
        "int32,int64": (torch.tensor(ints, dtype=torch.int32), torch.tensor(negs)),
        "bool,number": (torch.tensor([True, False, True, True]), 2),
        "int,float": (torch.tensor(ints), torch.tensor([1.5, -2.0, 0.75, 3.0])),
        "float,int": (torch.tensor([1.5, -2.0, 0.75, 3.0]), torch.tensor(negs)),
        "float,number": (torch.tensor([1.5, -2.0, 0.75, 3.0]), -2),
        "bool,bool": (torch.tensor([True, False, True, True]), torch.tensor([True, True, True, True])),
    }[case]
    mo = [mg.tensor(o.numpy(), device=device) if isinstance(o, torch.Tensor) else o for o in operands]
    try:
        want = getattr(torch, name)(*operands)
    except (RuntimeError, NotImplementedError, TypeError):  # torch refuses; so do we
        if not isinstance(operands[1], torch.Tensor):
            return  # torch.atan2/hypot take no Python number; minigrad does (as its maximum/minimum)
        with pytest.raises(TypeError, match=f"^{name}: "):
            getattr(mg, name)(*mo)
        return
    got = getattr(mg, name)(*mo)
    assert got.dtype == np.dtype(str(want.dtype).replace("torch.", "")), (got.dtype, want.dtype)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


@pytest.mark.parametrize("name", ["fmod", "remainder", "floor_divide"])
@needs_torch
def test_integer_division_by_zero_raises_as_torch(device, name):
    a, b = mg.tensor([7, 1], device=device), mg.tensor([2, 0], device=device)
    with pytest.raises(RuntimeError):
        getattr(torch, name)(torch.tensor([7, 1]), torch.tensor([2, 0]))
    with pytest.raises(RuntimeError, match=f"^{name}: integer division by zero"):
        getattr(mg, name)(a, b)
    with pytest.raises(RuntimeError, match=f"^{name}: integer division by zero"):
        getattr(mg, name)(a, 0)


def test_float32_stays_float32_with_numbers(device):
    x = mg.tensor([1.5, -2.5], device=device, requires_grad=True)
    for out in (x % 0.7, 3.0 % x, x // 0.7, mg.fmod(x, 2), mg.atan2(x, 1.5), mg.hypot(x, 2.0), x.lerp(x * 2, 0.3),
                mg.addcmul(x, x, x, value=0.5), mg.addcdiv(x, x, x, value=2.5), x.round(decimals=2),
                mg.nan_to_num(x, nan=1e300)):
        assert out.dtype == np.float32
    y = (x % 0.7) + mg.fmod(x, 2) + mg.atan2(x, 1.5) + x.lerp(x * 2, 0.3)
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_float16_kept(device):
    x = mg.tensor([0.5, 1.5], dtype="float16", device=device)
    for name in ("log1p", "sinh", "floor", "round", "sign", "reciprocal", "nan_to_num"):
        assert getattr(mg, name)(x).dtype == np.float16, name


def test_default_float_dtype_for_integer_inputs(device):
    mg.set_default_dtype("float64")
    assert mg.log1p(mg.tensor([1, 2], device=device)).dtype == np.float64
    assert mg.atan2(mg.tensor([1], device=device), mg.tensor([2], device=device)).dtype == np.float64


# ---------------------------------------------------------------- gradients at torch's awkward points
def test_rounding_gradients_are_zero_not_missing(device):
    x = mg.tensor([-1.5, 0.0, 0.5, 2.0, NAN], device=device, requires_grad=True)
    y = mg.sign(x) + mg.floor(x) + mg.ceil(x) + mg.trunc(x) + mg.round(x) + x.round(decimals=1)
    assert y.requires_grad  # differentiable with zero gradient, as torch (not cut from the graph)
    (y + x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(5, dtype=np.float32))


def test_atan2_at_the_origin_has_zero_gradient(device):
    a = mg.tensor([0.0, 0.0], dtype="float64", device=device, requires_grad=True)
    b = mg.tensor([0.0, -0.0], dtype="float64", device=device, requires_grad=True)
    y = mg.atan2(a, b)
    np.testing.assert_array_equal(y.numpy(), [0.0, math.pi])
    y.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(b.grad.numpy(), [0.0, 0.0])


def test_nan_to_num_gradient_is_zero_where_replaced(device):
    x = mg.tensor([NAN, INF, -INF, 2.0], device=device, requires_grad=True)
    mg.nan_to_num(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0, 1.0])


def test_no_numpy_warnings_at_domain_edges(device):
    """inf and NaN at the edges of the domains are answers, computed silently as torch does."""
    import warnings

    ops = [mg.log1p, mg.rsqrt, mg.reciprocal, mg.asin, mg.acos, mg.log2, mg.log10, mg.expm1, mg.sinh, mg.cosh,
           lambda t: mg.fmod(t, 0.0), lambda t: t % 0.0, lambda t: mg.atan2(t, 0.0), lambda t: mg.hypot(t, 0.0),
           lambda t: t // 0.0]
    x = mg.tensor([0.0, -1.0, 2.0, 1e3, -INF], device=device, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for op in ops:
            y = op(x)
            if op is not ops[-1]:  # (floor_divide has no backward)
                x.grad = None  # (inf + -inf while accumulating would be the engine's warning, not the op's)
                y.backward(mg.ones_like(y))


def test_saved_output_modified_in_place_is_caught(device):
    x = mg.tensor([0.5, 1.0], device=device, requires_grad=True)
    y = mg.expm1(x)
    with mg.no_grad():
        y.mul_(2.0)
    with pytest.raises(RuntimeError):
        y.sum().backward()


# ---------------------------------------------------------------- predicates, isclose/allclose/equal, comparisons
@needs_torch
def test_predicates_as_torch(device):
    v = [NAN, INF, -INF, 0.0, -1.5]
    m, t = mg.tensor(v, device=device), torch.tensor(v)
    for name in ("isnan", "isinf", "isfinite", "isposinf", "isneginf"):
        for got in (getattr(mg, name)(m), getattr(m, name)()):
            assert got.dtype == np.bool_ and not got.requires_grad
            np.testing.assert_array_equal(got.numpy(), getattr(torch, name)(t).numpy())


ISCLOSE_CASES = [
    ([1.0, NAN, INF, -INF, 1e-9, 100.0], [1.0 + 1e-6, NAN, INF, INF, 0.0, 100.002], {}),
    ([1.0, NAN, INF], [1.1, NAN, INF], dict(equal_nan=True)),
    ([1.0, 2.0], [1.1, 2.5], dict(rtol=0.2)),
    ([1.0, 2.0], [1.05, 2.0], dict(rtol=0.0, atol=0.0)),
    ([0.0, 3.0], [0.05, 3.0], dict(atol=0.1)),
    ([[1.0], [2.0]], [1.0, 2.0, 3.0], {}),  # broadcasting
]


@pytest.mark.parametrize("a,b,kw", ISCLOSE_CASES)
@needs_torch
def test_isclose_allclose_as_torch(device, a, b, kw):
    ma, mb = mg.tensor(a, device=device), mg.tensor(b, device=device)
    ta, tb = torch.tensor(a), torch.tensor(b)
    got = mg.isclose(ma, mb, **kw)
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got.numpy(), torch.isclose(ta, tb, **kw).numpy())
    assert ma.allclose(mb, **kw) is mg.allclose(ma, mb, **kw) is torch.allclose(ta, tb, **kw)


@needs_torch
def test_isclose_integers_and_bools(device):
    a, b = [1, 5, -3], [1, 6, -3]
    np.testing.assert_array_equal(mg.isclose(mg.tensor(a, device=device), mg.tensor(b, device=device), atol=0.5).numpy(),
                                  torch.isclose(torch.tensor(a), torch.tensor(b), atol=0.5).numpy())
    assert mg.allclose(mg.tensor(a, device=device), mg.tensor(a, device=device)) is True
    assert mg.isclose(mg.tensor([True], device=device), mg.tensor([False], device=device)).numpy().tolist() == [False]


@pytest.mark.parametrize("a,b", [([1.0, 2.0], [1.0, 2.0]), ([1.0, 2.0], [1.0, 2.5]), ([1.0, 1.0], [1.0]),
                                 ([NAN], [NAN]), ([], []), ([[1, 2]], [1, 2])])
@needs_torch
def test_equal_as_torch(device, a, b):
    assert mg.equal(mg.tensor(a, device=device), mg.tensor(b, device=device)) is torch.equal(torch.tensor(a),
                                                                                             torch.tensor(b))
    assert mg.tensor(a, device=device).equal(mg.tensor(b, device=device)) is torch.equal(torch.tensor(a),
                                                                                         torch.tensor(b))


def test_equal_across_dtypes_as_torch(device):
    assert mg.equal(mg.tensor([1, 2], device=device), mg.tensor([1.0, 2.0], device=device)) is True
    assert mg.equal(mg.tensor([1.0], device=device), mg.tensor([1.0], dtype="float64", device=device)) is True


@pytest.mark.parametrize("name", ["eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor"])
@needs_torch
def test_comparison_and_logical_methods_as_torch(device, name):
    a, b = [1.0, 0.0, -2.0, 3.0], [1.0, 2.0, -3.0, 0.0]
    ma, mb, ta, tb = mg.tensor(a, device=device), mg.tensor(b, device=device), torch.tensor(a), torch.tensor(b)
    want = getattr(torch, name)(ta, tb).numpy()
    for got in (getattr(mg, name)(ma, mb), getattr(ma, name)(mb)):
        assert got.dtype == np.bool_
        np.testing.assert_array_equal(got.numpy(), want)
    if not name.startswith("logical"):
        np.testing.assert_array_equal(getattr(ma, name)(1.0).numpy(), getattr(ta, name)(1.0).numpy())
    np.testing.assert_array_equal(ma.logical_not().numpy(), ta.logical_not().numpy())
    np.testing.assert_array_equal(mg.logical_not(ma).numpy(), torch.logical_not(ta).numpy())


# ---------------------------------------------------------------- errors name the op
ALL_UNARY = ["log1p", "expm1", "log2", "log10", "rsqrt", "reciprocal", "square", "tan", "sinh", "cosh", "asin",
             "acos", "atan", "sign", "floor", "ceil", "round", "trunc", "isnan", "isinf", "isfinite", "isposinf",
             "isneginf", "nan_to_num"]


@pytest.mark.parametrize("name", ALL_UNARY)
@pytest.mark.parametrize("bad", ["1.0", None, [1.0, 2.0], 2.0])
def test_unary_refuses_non_tensors(name, bad):
    with pytest.raises(TypeError, match=f"^{name}: "):
        getattr(mg, name)(bad)


@pytest.mark.parametrize("name", ["atan2", "fmod", "remainder", "floor_divide", "hypot"])
@pytest.mark.parametrize("bad", ["2", None, 1j, 2 + 0j, [1j], np.complex64(1)])
def test_binary_refuses_text_none_complex(device, name, bad):
    x = mg.ones(3, device=device)
    with pytest.raises(TypeError, match=f"^{name}: "):
        getattr(mg, name)(x, bad)
    with pytest.raises(TypeError, match=f"^{name}: "):
        getattr(mg, name)(bad, x)


@pytest.mark.parametrize("name", ["atan2", "fmod", "remainder", "floor_divide", "hypot"])
def test_binary_errors(device, name):
    fn = getattr(mg, name)
    with pytest.raises(ValueError, match=rf"^{name}: shapes \[2, 3\] and \[4\] do not broadcast"):
        fn(mg.ones(2, 3, device=device), mg.ones(4, device=device))
    with pytest.raises(TypeError, match=f"^{name}: dtype mismatch"):
        fn(mg.ones(2, device=device), mg.ones(2, dtype="float64", device=device))
    with pytest.raises(TypeError, match=f"^{name}: expected at least one Tensor"):
        fn(1.0, 2.0)


def test_operator_errors_name_the_op(device):
    x = mg.ones(3, device=device)
    with pytest.raises(TypeError, match="^remainder: "):
        x % "2"
    with pytest.raises(TypeError, match="^floor_divide: "):
        x // None
    with pytest.raises(TypeError, match="^remainder: not supported for two bool operands"):
        (x > 0) % (x > 0)


def test_hypot_refuses_integers_as_torch(device):
    with pytest.raises(TypeError, match=r"^hypot: expected floating-point tensors, got int64\[2\]"):
        mg.hypot(mg.tensor([3, 4], device=device), mg.tensor([4, 3], device=device))


def test_round_errors(device):
    with pytest.raises(TypeError, match="^round: decimals must be an int, got float"):
        mg.round(mg.ones(2, device=device), decimals=1.5)
    with pytest.raises(TypeError, match=r"^round: decimals=1 needs a floating-point tensor, got int64\[2\]"):
        mg.tensor([1, 2], device=device).round(decimals=1)
    np.testing.assert_array_equal(mg.tensor([15, 25], device=device).round().numpy(), [15, 25])


def test_lerp_errors(device):
    a, b = mg.ones(3, device=device), mg.zeros(3, device=device)
    with pytest.raises(TypeError, match=r"^lerp: end must have input's dtype: input is float32\[3\].*float64\[3\]"):
        mg.lerp(a, b.double(), 0.5)
    with pytest.raises(TypeError, match=r"^lerp: a tensor weight must have input's dtype.*float64\[3\]"):
        mg.lerp(a, b, b.double())
    with pytest.raises(TypeError, match=r"^lerp: expected a floating-point tensor, got int64\[2\]"):
        mg.lerp(mg.tensor([1, 2], device=device), mg.tensor([3, 4], device=device), 0.5)
    with pytest.raises(TypeError, match="^lerp: end must be a Tensor, got float"):
        mg.lerp(a, 3.0, 0.5)
    for bad in ("0.5", None, 0.5j):
        with pytest.raises(TypeError, match="^lerp: "):
            mg.lerp(a, b, bad)
    with pytest.raises(ValueError, match=r"^lerp: shapes \[3\] and \[3\] and \[2\] do not broadcast"):
        mg.lerp(a, b, mg.ones(2, device=device))


def test_addcmul_addcdiv_errors(device):
    x = mg.ones(3, device=device)
    i = mg.tensor([1, 2, 3], device=device)
    with pytest.raises(TypeError, match=r"^addcdiv: integer division is not supported \(int64\[3\] on \S+ / int64\[3\] on"):
        mg.addcdiv(x, i, i)
    with pytest.raises(TypeError, match="^addcmul: a float value .* with integer tensors .* would be truncated"):
        mg.addcmul(i, i, i, value=0.5)
    np.testing.assert_array_equal(mg.addcmul(i, i, i, value=2).numpy(), [3, 10, 21])  # torch: integers stay exact
    with pytest.raises(ValueError, match=r"^addcmul: shapes \[3\] and \[3\] and \[2\] do not broadcast"):
        mg.addcmul(x, x, mg.ones(2, device=device))
    with pytest.raises(TypeError, match="^addcdiv: dtype mismatch"):
        mg.addcdiv(x, x, x.double())
    with pytest.raises(TypeError, match="^addcmul: tensor2 must be a Tensor, got list"):
        mg.addcmul(x, x, [1.0, 2.0, 3.0])
    for bad in ("2", None, 1j):
        with pytest.raises(TypeError, match="^addcmul: "):
            mg.addcmul(x, x, x, value=bad)


def test_nan_to_num_and_isclose_errors(device):
    x = mg.ones(3, device=device)
    assert mg.nan_to_num(x * float("nan"), nan=None).tolist() == [0.0] * 3  # None: the default 0, as torch
    with pytest.raises(TypeError, match="^nan_to_num: "):
        mg.nan_to_num(x, posinf="big")
    with pytest.raises(TypeError, match=r"^isclose: expected tensors of one dtype, got float32\[3\].*float64\[3\]"):
        mg.isclose(x, x.double())
    with pytest.raises(TypeError, match=r"^allclose: expected tensors of one dtype"):
        mg.allclose(x, mg.tensor([1, 1, 1], device=device))
    with pytest.raises(ValueError, match="^allclose: rtol and atol must be >= 0"):
        mg.allclose(x, x, rtol=-1.0)
    with pytest.raises(ValueError, match=r"^isclose: shapes \[3\] and \[2\] do not broadcast"):
        mg.isclose(x, mg.ones(2, device=device))
    with pytest.raises(TypeError, match="^allclose: other must be a Tensor, got float"):
        mg.allclose(x, 1.0)
    with pytest.raises(TypeError, match="^equal: other must be a Tensor, got list"):
        mg.equal(x, [1.0, 1.0, 1.0])


def test_complex_numpy_scalar_is_refused_not_truncated(device):
    """(to_tensor used to cast np.complex64(1) to the tensor's float dtype, dropping the imaginary part.)"""
    x = mg.ones(3, device=device)
    with pytest.raises(TypeError, match="^add: complex operands are not supported"):
        x + np.complex64(1)
    with pytest.raises(TypeError, match="^remainder: complex operands are not supported"):
        x % np.complex128(2)
