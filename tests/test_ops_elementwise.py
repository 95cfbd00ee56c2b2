"""Elementwise ops (+ - * / **, neg, exp, log, sqrt, abs, clamp, maximum, minimum, where, comparisons).

Each op gets one Hypothesis property (`check_op`): its values match NumPy in
float64 and float32, its gradient matches float64 finite differences
(`gradcheck`), float32 in gives float32 values and float32 gradients, and
neither forward nor backward writes into the inputs. Shapes come from
`minigrad.testing.strategies` (0-d, size-1 dims and broadcasting included);
every test runs on each backend through the `device` fixture.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad.ops.elementwise import (
    Abs, Add, AddScalar, Clamp, Cos, Div, DivScalar, Exp, Log, Maximum, Minimum, Mul, MulScalar, Neg, Pow, PowScalar,
    RDivScalar, RPowScalar, RSubScalar, Sin, Sqrt, Sub, Where,
)
from minigrad.testing import strategies as mst

from opcheck import check_op, draw_array

GRADIENT_TESTED = [
    Add, Sub, Mul, Div, Pow, AddScalar, MulScalar, DivScalar, RSubScalar, RDivScalar, PowScalar, RPowScalar,
    Neg, Exp, Log, Sqrt, Sin, Cos, Abs, Clamp, Maximum, Minimum, Where,
]

SHAPES = mst.shapes(max_dims=3, max_side=4)
PAIRS = mst.broadcastable_shapes(2, max_dims=3, max_side=4)


# ---------------------------------------------------------------- tensor (op) tensor, broadcasting
BINARY = {
    "add": (lambda a, b: a + b, np.add, {}, {}),
    "sub": (lambda a, b: a - b, np.subtract, {}, {}),
    "mul": (lambda a, b: a * b, np.multiply, {}, {}),
    "div": (lambda a, b: a / b, np.divide, {}, dict(avoid=[0.0], avoid_margin=0.5)),
    "pow": (lambda a, b: a ** b, np.power, dict(min_value=0.5, max_value=3.0), dict(min_value=-2.0, max_value=2.0)),
    "F.add": (F.add, np.add, {}, {}),
    "F.sub": (F.sub, np.subtract, {}, {}),
    "F.mul": (F.mul, np.multiply, {}, {}),
    "F.div": (F.div, np.divide, {}, dict(avoid=[0.0], avoid_margin=0.5)),
    "F.pow": (F.pow, np.power, dict(min_value=0.5, max_value=3.0), dict(min_value=-2.0, max_value=2.0)),
}


@pytest.mark.parametrize("name", list(BINARY))
@given(data=st.data(), shapes=PAIRS)
def test_binary_broadcasting(device, name, data, shapes):
    fn, ref, kw_a, kw_b = BINARY[name]
    a = draw_array(data, shapes[0], device, **kw_a)
    b = draw_array(data, shapes[1], device, **kw_b)
    check_op(fn, ref, [a, b], device, f32_tol=5e-5 if "pow" in name or "div" in name else 2e-5)


# maximum/minimum are not differentiable at ties: b takes values k + 0.5 and a stays away from them.
_HALVES = [k + 0.5 for k in range(-4, 4)]


@pytest.mark.parametrize("fn,ref", [(mg.maximum, np.maximum), (mg.minimum, np.minimum),
                                    (lambda a, b: a.maximum(b), np.maximum), (F.minimum, np.minimum)])
@given(data=st.data(), shapes=PAIRS)
def test_maximum_minimum(device, fn, ref, data, shapes):
    a = draw_array(data, shapes[0], device, avoid=_HALVES, avoid_margin=0.05)
    b = data.draw(mst.tensors(shape=shapes[1], dtype="int64", min_value=-3, max_value=2)).numpy() + 0.5
    check_op(fn, ref, [a, b], device)


@pytest.mark.parametrize("op,pick", [(mg.maximum, "a > b"), (mg.minimum, "a < b")])
def test_maximum_minimum_ties_split_the_gradient(device, op, pick):
    a = mg.tensor([1.0, 2.0, 3.0], dtype="float64", device=device, requires_grad=True)
    b = mg.tensor([3.0, 2.0, 1.0], dtype="float64", device=device, requires_grad=True)
    op(a, b).sum().backward()
    win_a = np.array([0.0, 0.5, 1.0]) if pick == "a > b" else np.array([1.0, 0.5, 0.0])
    np.testing.assert_array_equal(a.grad.numpy(), win_a)
    np.testing.assert_array_equal(b.grad.numpy(), 1.0 - win_a)
    # x against itself: the two halves add back up to 1
    x = mg.tensor([1.0, -2.0], device=device, requires_grad=True)
    op(x, x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])
    assert x.grad.dtype == np.float32


def test_maximum_with_python_scalar_keeps_dtype(device):
    x = mg.tensor([-1.0, 2.0], device=device, requires_grad=True)
    y = mg.maximum(x, 0.0)
    assert y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0])


@given(data=st.data(), shapes=mst.broadcastable_shapes(3, max_dims=3, max_side=4))
def test_where(device, data, shapes):
    cond = data.draw(mst.tensors(shape=shapes[0], dtype="bool", device=device))
    a = draw_array(data, shapes[1], device)
    b = draw_array(data, shapes[2], device)
    c = cond.numpy()
    check_op(lambda x, y: mg.where(cond, x, y), lambda x, y: np.where(c, x, y), [a, b], device)
    check_op(lambda x, y: F.where(cond, x, y), lambda x, y: np.where(c, x, y), [a, b], device)


def test_where_with_scalar_branch(device):
    x = mg.tensor([-1.0, 2.0, -3.0], device=device, requires_grad=True)
    y = mg.where(x > 0, x, 0.0)
    assert y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_array_equal(y.numpy(), [0.0, 2.0, 0.0])
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 0.0])


# ---------------------------------------------------------------- tensor (op) Python scalar, unary
UNARY = {
    # name: (fn, numpy reference, strategy keywords)
    "x+c": (lambda x: x + 2.5, lambda a: a + 2.5, {}),
    "c+x": (lambda x: 2.5 + x, lambda a: 2.5 + a, {}),
    "x-c": (lambda x: x - 2.5, lambda a: a - 2.5, {}),
    "c-x": (lambda x: 2.5 - x, lambda a: 2.5 - a, {}),
    "x*c": (lambda x: x * 2.5, lambda a: a * 2.5, {}),
    "c*x": (lambda x: -1.5 * x, lambda a: -1.5 * a, {}),
    "x/c": (lambda x: x / 2.5, lambda a: a / 2.5, {}),
    "c/x": (lambda x: 2.5 / x, lambda a: 2.5 / a, dict(avoid=[0.0], avoid_margin=0.5)),
    "x**2": (lambda x: x ** 2, lambda a: a ** 2, {}),
    "x**3": (lambda x: x ** 3, lambda a: a ** 3, {}),
    "x**-1": (lambda x: x ** -1, lambda a: a ** -1.0, dict(avoid=[0.0], avoid_margin=0.5)),
    "x**0.5": (lambda x: x ** 0.5, np.sqrt, dict(min_value=0.5)),
    "x**-1.5": (lambda x: x.pow(-1.5), lambda a: a ** -1.5, dict(min_value=0.5)),
    "x**0": (lambda x: x ** 0, lambda a: np.ones_like(a), {}),
    "2**x": (lambda x: 2.0 ** x, lambda a: 2.0 ** a, {}),
    "0.5**x": (lambda x: 0.5 ** x, lambda a: 0.5 ** a, {}),
    "np.float64 scalar": (lambda x: x * np.float64(3.0) + np.float64(1.0), lambda a: a * 3.0 + 1.0, {}),
    "neg": (lambda x: -x, np.negative, {}),
    "F.neg": (F.neg, np.negative, {}),
    "exp": (lambda x: x.exp(), np.exp, {}),
    "mg.exp": (mg.exp, np.exp, {}),
    "log": (lambda x: x.log(), np.log, dict(min_value=0.5)),
    "mg.log": (mg.log, np.log, dict(min_value=0.5)),
    "sqrt": (lambda x: x.sqrt(), np.sqrt, dict(min_value=0.5)),
    "mg.sqrt": (mg.sqrt, np.sqrt, dict(min_value=0.5)),
    "sin": (lambda x: x.sin(), np.sin, {}),
    "mg.sin": (mg.sin, np.sin, {}),
    "cos": (lambda x: x.cos(), np.cos, {}),
    "mg.cos": (mg.cos, np.cos, {}),
    "abs": (lambda x: x.abs(), np.abs, dict(avoid=[0.0])),
    "builtin abs": (lambda x: abs(x), np.abs, dict(avoid=[0.0])),
    "clamp": (lambda x: x.clamp(-1.0, 1.0), lambda a: np.clip(a, -1.0, 1.0), dict(avoid=[-1.0, 1.0])),
    "clamp min": (lambda x: mg.clamp(x, min=-0.5), lambda a: np.maximum(a, -0.5), dict(avoid=[-0.5])),
    "clamp max": (lambda x: F.clamp(x, max=0.5), lambda a: np.minimum(a, 0.5), dict(avoid=[0.5])),
    "clip int bounds": (lambda x: x.clip(-1, 2), lambda a: np.clip(a, -1, 2), dict(avoid=[-1.0, 2.0])),
}


@pytest.mark.parametrize("name", list(UNARY))
@given(data=st.data(), shape=SHAPES)
def test_unary_and_scalar_ops(device, name, data, shape):
    fn, ref, kw = UNARY[name]
    check_op(fn, ref, [draw_array(data, shape, device, **kw)], device)


def test_kink_gradients_follow_torch(device):
    """At the kink itself torch picks: |x|' = 0 at 0, clamp passes the gradient at its bounds."""
    x = mg.tensor([-1.0, 0.0, 1.0, 2.0], dtype="float64", device=device, requires_grad=True)
    x.abs().sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [-1.0, 0.0, 1.0, 1.0])
    x.grad = None
    x.clamp(-1.0, 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0, 1.0, 0.0])


def test_pow_special_points(device):
    """d(x**0)/dx = 0 everywhere (also at 0) and d(a**b)/db = 0 where a == 0, b >= 0, as torch."""
    x = mg.tensor([0.0, 2.0, -3.0], dtype="float64", device=device, requires_grad=True)
    (x ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])
    a = mg.tensor([0.0, 2.0], dtype="float64", device=device, requires_grad=True)
    b = mg.tensor([2.0, 3.0], dtype="float64", device=device, requires_grad=True)
    (a ** b).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), [0.0, 8.0 * np.log(2.0)], rtol=1e-15)
    np.testing.assert_allclose(a.grad.numpy(), [0.0, 12.0], rtol=1e-15)
    # a ** b with b == 0: d/da = 0 also at a == 0
    a = mg.tensor([0.0, 2.0], dtype="float64", device=device, requires_grad=True)
    b = mg.tensor([0.0, 0.0], dtype="float64", device=device, requires_grad=True)
    (a ** b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.0, 0.0])
    np.testing.assert_allclose(b.grad.numpy(), [0.0, np.log(2.0)], rtol=1e-15)
    # x ** 2 on negative values is fine (integer exponent)
    n = mg.tensor([-3.0], dtype="float64", device=device, requires_grad=True)
    (n ** 2).backward(mg.tensor([1.0], dtype="float64", device=device))
    np.testing.assert_array_equal(n.grad.numpy(), [-6.0])


# ---------------------------------------------------------------- dtype rules
def test_dtype_promotion_rules(device):
    i = mg.tensor([1, 2, 3], device=device)
    f32 = mg.tensor([0.5, 1.0, 2.0], device=device)
    f64 = mg.tensor([0.5, 1.0, 2.0], dtype="float64", device=device)
    assert i.dtype == np.int64 and f32.dtype == np.float32
    assert (i + 1).dtype == np.int64
    assert (i * 2.5).dtype == np.float32  # a float scalar turns ints into the default float
    assert (i / i).dtype == np.float32  # true division
    assert (1 / i).dtype == np.float32
    assert (i + f32).dtype == np.float32 and (f64 - i).dtype == np.float64  # integers meet floats
    assert (f32 * np.float64(2.0)).dtype == np.float32  # NumPy float64 scalars do not upcast
    assert (f32 + [1.0, 2.0, 3.0]).dtype == np.float32
    assert (f32 ** 2).dtype == np.float32 and (2.0 ** f32).dtype == np.float32
    assert mg.exp(f32).dtype == np.float32 and f32.clamp(0, 1).dtype == np.float32
    assert i.clamp(0.5).dtype == np.float32 and i.clamp(0, 2).dtype == i.dtype  # as torch: a float bound floats ints
    np.testing.assert_array_equal(i.clamp(1.5, 2.5).numpy(), [1.5, 2.0, 2.5])
    np.testing.assert_array_equal((i * 2.5).numpy(), [2.5, 5.0, 7.5])
    with pytest.raises(TypeError, match="float32.*float64|float64.*float32"):
        f32 + f64


# ---------------------------------------------------------------- comparisons and logic (no gradient)
COMPARE = [("lt", lambda a, b: a < b, np.less), ("le", lambda a, b: a <= b, np.less_equal),
           ("gt", lambda a, b: a > b, np.greater), ("ge", lambda a, b: a >= b, np.greater_equal),
           ("eq", lambda a, b: a == b, np.equal), ("ne", lambda a, b: a != b, np.not_equal)]


@pytest.mark.parametrize("name,op,ref", COMPARE)
@given(data=st.data(), shapes=PAIRS)
def test_comparisons(device, name, op, ref, data, shapes):
    # small integers as floats, so equality actually happens
    a = data.draw(mst.tensors(shape=shapes[0], dtype="int64", min_value=-2, max_value=2)).numpy().astype(np.float32)
    b = data.draw(mst.tensors(shape=shapes[1], dtype="int64", min_value=-2, max_value=2)).numpy().astype(np.float32)
    ta = mg.tensor(a, device=device, requires_grad=True)
    tb = mg.tensor(b, device=device)
    for out, want in [(op(ta, tb), ref(a, b)), (op(ta, 1.0), ref(a, 1.0)), (op(1.0, ta), ref(1.0, a)),
                      (getattr(mg.ops, name)(ta, tb), ref(a, b))]:
        assert out.dtype == np.bool_
        assert not out.requires_grad and out.grad_fn is None
        np.testing.assert_array_equal(out.numpy(), want)
    np.testing.assert_array_equal(a, ta.numpy())


def test_logical_ops(device):
    a = mg.tensor([True, True, False, False], device=device)
    b = mg.tensor([True, False, True, False], device=device)
    np.testing.assert_array_equal((a & b).numpy(), [True, False, False, False])
    np.testing.assert_array_equal((a | b).numpy(), [True, True, True, False])
    np.testing.assert_array_equal((~a).numpy(), [False, False, True, True])
    x = mg.tensor([-1.0, 0.5, 2.0], device=device, requires_grad=True)
    m = (x > 0) & (x < 1)
    assert m.dtype == np.bool_ and not m.requires_grad
    np.testing.assert_array_equal(m.numpy(), [False, True, False])


def test_integer_tensors_compute_without_grad(device):
    i = mg.tensor([[1, -2], [3, 4]], device=device)
    np.testing.assert_array_equal((i * i - i).numpy(), [[0, 6], [6, 12]])
    np.testing.assert_array_equal(abs(i).numpy(), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(mg.maximum(i, 0).numpy(), [[1, 0], [3, 4]])
    assert not (i + 1).requires_grad


# ---------------------------------------------------------------- masked_fill (where with a constant)
@given(data=st.data(), shapes=PAIRS, fill=st.sampled_from([0.0, -30.0, 2.5]))  # (huge fills spoil finite differences)
def test_masked_fill(device, data, shapes, fill):
    """mask and x broadcast together; the gradient reaches x only where the mask is false."""
    a = draw_array(data, shapes[0], device)
    mask = data.draw(mst.tensors(shape=shapes[1], dtype="bool", device=device))
    m = mask.numpy()
    check_op(lambda x: x.masked_fill(mask, fill), lambda x: np.where(m, fill, x), [a], device)
    check_op(lambda x: mg.masked_fill(x, mask, fill), lambda x: np.where(m, fill, x), [a], device)


@given(data=st.data(), shapes=PAIRS)
def test_masked_fill_with_a_tensor_value(device, data, shapes):
    """A 0-d tensor value is differentiable too: it gets the sum of the gradient where the mask is true."""
    a = draw_array(data, shapes[0], device)
    mask = data.draw(mst.tensors(shape=shapes[1], dtype="bool", device=device))
    m = mask.numpy()
    check_op(lambda x, v: x.masked_fill(mask, v), lambda x, v: np.where(m, v, x), [a, np.array(0.75)], device)


def test_masked_fill_dtypes(device):
    """The fill takes x's dtype (torch): 1.7 fills an int64 tensor with 1; a float64 0-d value fills float32."""
    m = mg.tensor([True, False], device=device)
    out = mg.tensor([5, 6], device=device).masked_fill(m, 1.7)
    assert out.dtype == np.int64 and out.numpy().tolist() == [1, 6]
    v = mg.tensor(3.0, dtype="float64", device=device, requires_grad=True)
    x = mg.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x.masked_fill(m, v)
    assert y.dtype == np.float32
    y.sum().backward()
    assert v.grad.dtype == np.float64 and float(v.grad.numpy()) == 1.0
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0])
