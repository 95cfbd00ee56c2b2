"""Numerical stability: the sensitive primitives stay finite, values and gradients, for inputs up to +-1e4."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
import minigrad.functional as F

BIG = 1e4


def big_arrays(dtype):
    return hnp.arrays(dtype, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
                      elements=st.floats(-BIG, BIG, allow_nan=False, width=32))


def _finite_value_and_grad(fn, arr, device):
    x = mg.tensor(arr, requires_grad=True, device=device)
    y = fn(x)
    assert np.isfinite(y.numpy()).all(), "forward produced NaN/Inf"
    y.sum().backward()
    g = x.grad.numpy()
    assert g.dtype == arr.dtype
    assert np.isfinite(g).all(), "backward produced NaN/Inf"
    return y.numpy(), g


FUNCS = {
    "softmax": lambda x: F.softmax(x, dim=-1),
    "log_softmax": lambda x: F.log_softmax(x, dim=-1),
    "logsumexp": lambda x: x.logsumexp(dim=-1),
    "sigmoid": lambda x: x.sigmoid(),
    "softplus": lambda x: x.softplus(),
    "tanh": lambda x: x.tanh(),
    "cross_entropy": lambda x: F.cross_entropy(x, mg.zeros(*x.shape[:-1], dtype="int64", device=x.device),
                                               reduction="none"),
    "bce_with_logits": lambda x: F.binary_cross_entropy_with_logits(x, (x > 0).float() if x.dtype == np.float32
                                                                     else (x > 0).double(), reduction="none"),
}


@pytest.mark.parametrize("name", sorted(FUNCS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(data=st.data())
def test_finite_for_large_inputs(name, dtype, device, data):
    arr = data.draw(big_arrays(dtype))
    _finite_value_and_grad(FUNCS[name], arr, device)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_values_are_right_not_just_finite(dtype, device):
    x = np.array([-BIG, -50.0, 0.0, 50.0, BIG], dtype=dtype)
    y, g = _finite_value_and_grad(lambda t: t.sigmoid(), x, device)
    np.testing.assert_allclose(y, [0.0, 0.0, 0.5, 1.0, 1.0], atol=1e-12)
    y, g = _finite_value_and_grad(lambda t: t.softplus(), x, device)
    np.testing.assert_allclose(y, [0.0, 0.0, np.log(2.0), 50.0, BIG], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(g, [0.0, 0.0, 0.5, 1.0, 1.0], atol=1e-12)
    logits = np.array([[BIG, -BIG, 0.0]], dtype=dtype)
    y, g = _finite_value_and_grad(lambda t: F.log_softmax(t, dim=-1), logits, device)
    np.testing.assert_allclose(y, [[0.0, -2 * BIG, -BIG]], rtol=1e-6)
    loss, g = _finite_value_and_grad(
        lambda t: F.cross_entropy(t, mg.tensor([1], device=device), reduction="sum"), logits, device)
    np.testing.assert_allclose(loss, 2 * BIG, rtol=1e-6)
    np.testing.assert_allclose(g, [[1.0, -1.0, 0.0]], atol=1e-6)


def test_logsumexp_of_all_minus_inf_rows_is_minus_inf_not_nan(device):
    x = mg.tensor([[-np.inf, -np.inf], [0.0, 0.0]], device=device)
    y = x.logsumexp(dim=1).numpy()
    assert y[0] == -np.inf and np.isclose(y[1], np.log(2.0))
