"""Type promotion of binary ops, as torch does it.

- A 0-d tensor beside a tensor with dimensions acts like a Python number: it only changes the
  result dtype when it is of a higher category (bool < integer < float). So int32 + 0-d int64
  stays int32 (NumPy would give int64) and float32 * 0-d float64 stays float32 (minigrad
  refused it before); the 0-d float operand still gets a float64 gradient.
- Two float dtypes with the same dimensionality remain an error (minigrad never upcasts float32
  silently; torch would give float64): a documented minigrad policy, tested in test_errors.py.
- A Python int that an integer tensor's dtype cannot hold wraps in add/sub/mul, as in torch
  (uint8 + 300 == uint8 + 44), and is refused by the other ops and beyond 64 bits.
"""
import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
OPS = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
       "div": lambda a, b: a / b, "maximum": lambda a, b: a.maximum(b), "eq": lambda a, b: a == b,
       "lt": lambda a, b: a < b}


def _array(dtype, zero_dim):
    a = np.full(() if zero_dim else (2,), 2)
    return a.astype(dtype)


@given(op=st.sampled_from(sorted(OPS)), d1=st.sampled_from(DTYPES), d2=st.sampled_from(DTYPES),
       which=st.sampled_from([(False, True), (True, False)]))
def test_zero_dim_operand_follows_torch(device, op, d1, d2, which):
    torch = pytest.importorskip("torch")
    if op == "sub" and "bool" in (d1, d2):
        return  # torch refuses bool subtraction; minigrad's rule for it is tested in test_errors.py
    a, b = _array(d1, which[0]), _array(d2, which[1])
    expect = OPS[op](torch.from_numpy(a.copy()), torch.from_numpy(b.copy()))
    got = OPS[op](mg.tensor(a, device=device), mg.tensor(b, device=device))
    assert str(got.dtype) == str(expect.dtype).replace("torch.", "")
    np.testing.assert_array_equal(got.numpy(), expect.numpy())


def test_examples_without_torch(device):
    i32 = mg.tensor(np.array([1, 2], np.int32), device=device)
    assert (i32 + mg.tensor(5, device=device)).dtype == np.int32          # 0-d int64: like a number
    assert (i32 + mg.tensor([5], device=device)).dtype == np.int64        # 1-d int64: a real operand
    assert (i32 * mg.tensor(0.5, device=device)).dtype == np.float32      # 0-d float32: higher category
    assert (mg.tensor([True], device=device) + mg.tensor(3, device=device)).dtype == np.int64
    f32 = mg.ones(3, device=device)
    assert (f32 * mg.tensor(2.0, dtype="float64", device=device)).dtype == np.float32
    assert (f32 * np.array(2.0)).dtype == np.float32                      # a 0-d NumPy array too
    with pytest.raises(TypeError, match="mul: dtype mismatch.*never upcasts"):
        f32 * mg.ones(3, dtype="float64", device=device)


def test_zero_dim_float64_operand_keeps_its_gradient(device):
    x = mg.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)  # float32
    w = mg.tensor(0.5, dtype="float64", device=device, requires_grad=True)
    y = x * w
    assert y.dtype == np.float32
    y.sum().backward()
    assert w.grad.dtype == np.float64 and w.grad.item() == 6.0
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [0.5, 0.5, 0.5])


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "int64"])
def test_python_ints_wrap_in_add_sub_mul_as_torch(device, dtype):
    torch = pytest.importorskip("torch")
    a = np.array([5, 1, 0], dtype=dtype)
    info = np.iinfo(dtype)
    for c, (name, f) in itertools.product([300, -129, info.max + 7, max(info.min - 3, -2 ** 63), 2 ** 63 - 1, -2 ** 63, 2 ** 64 - 1],
                                          [("add", lambda x, c: x + c), ("sub", lambda x, c: x - c),
                                           ("rsub", lambda x, c: c - x), ("mul", lambda x, c: x * c)]):
        got = f(mg.tensor(a, device=device), c)
        expect = f(torch.from_numpy(a.copy()), c)
        assert str(got.dtype) == dtype, (name, c)
        np.testing.assert_array_equal(got.numpy(), expect.numpy(), err_msg=f"{name} {c}")


def test_python_ints_that_cannot_wrap_are_refused(device):
    u8 = mg.tensor(np.array([5, 1], np.uint8), device=device)
    with pytest.raises(OverflowError, match=r"pow: the number 300 does not fit the dtype of uint8\[2\]"):
        u8 ** 300
    with pytest.raises(OverflowError, match="add: the number 1180591620717411303424 does not fit"):
        mg.tensor([1, 2], device=device) + 2 ** 70
    with pytest.raises(OverflowError, match="mul: the number -9223372036854775811 does not fit"):
        u8 * (-2 ** 63 - 3)  # torch wraps only numbers in [-2**63, 2**64)
    np.testing.assert_array_equal((u8 == 300).numpy(), [False, False])  # comparisons stay exact
    np.testing.assert_array_equal((u8 < 300).numpy(), [True, True])
