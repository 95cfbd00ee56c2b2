"""Regression tests for core problems found while reviewing this session's additions."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import autograd


def test_tensors_never_hold_numpy_scalars(device):
    """A ufunc on a 0-d array returns a NumPy scalar; a Tensor must hold a 0-d array instead
    (where() refused isnan(0-d tensor) as a condition "on another device")."""
    x = mg.tensor(1.0, device=device)
    cond = mg.isnan(x)
    assert cond.shape == () and not isinstance(cond.data, np.generic)
    assert mg.where(cond, x, 2.0).item() == 2.0
    assert mg.where(mg.isfinite(x), x, 2.0).item() == 1.0


def test_in_place_write_of_a_constant_keeps_the_old_value_in_the_graph(device):
    """record_inplace with a result that has no graph (a fill): reads before the write still
    reach the old value, and the overwritten value gets gradient 0."""
    a = mg.tensor([1.0, 2.0], device=device, requires_grad=True)
    x = a * 2
    y = x * 3  # reads x before the write
    autograd.record_inplace(x, "fill_", lambda t: mg.tensor([5.0, 5.0], device=device))
    np.testing.assert_array_equal(x.numpy(), [5.0, 5.0])
    (y.sum() + x.sum()).backward()
    np.testing.assert_array_equal(a.grad.numpy(), [6.0, 6.0])


def test_in_place_write_refuses_a_result_that_cannot_be_cast_back(device):
    """_write_in_place used to cast a float result into an int tensor silently (truncating it)."""
    x = mg.tensor([1, 2], device=device)
    with pytest.raises(RuntimeError, match=r"demo_: the result type float32 can't be cast to int64"):
        x._write_in_place("demo_", lambda t: t * 0.5)
    np.testing.assert_array_equal(x.numpy(), [1, 2])
    f = mg.tensor([1.0, 2.0], device=device)  # float64 -> float32 is the same kind: written, as torch
    f._write_in_place("demo_", lambda t: t.double() * 0.5)
    np.testing.assert_array_equal(f.numpy(), [0.5, 1.0])
    assert f.dtype == np.float32
