"""Activations (tanh, sigmoid, relu, softplus): values vs NumPy, gradients vs finite differences.

Same property as the elementwise tests (`check_op`), plus the numerical-stability
promises: no overflow for huge logits, in float32 and float64.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad.ops.activation import ReLU, Sigmoid, Softplus, Tanh
from minigrad.testing import strategies as mst

from opcheck import check_op, draw_array

GRADIENT_TESTED = [Tanh, Sigmoid, ReLU, Softplus]

SHAPES = mst.shapes(max_dims=3, max_side=4)


ACTIVATIONS = {
    "tanh": (lambda x: x.tanh(), np.tanh, {}),
    "mg.tanh": (mg.tanh, np.tanh, {}),
    "sigmoid": (lambda x: x.sigmoid(), lambda a: 1 / (1 + np.exp(-a)), {}),
    "F.sigmoid": (F.sigmoid, lambda a: 1 / (1 + np.exp(-a)), {}),
    "relu": (lambda x: x.relu(), lambda a: np.maximum(a, 0), dict(avoid=[0.0])),
    "F.relu": (F.relu, lambda a: np.maximum(a, 0), dict(avoid=[0.0])),
    "softplus": (lambda x: x.softplus(), lambda a: np.log1p(np.exp(a)), {}),
    "F.softplus": (F.softplus, lambda a: np.log1p(np.exp(a)), {}),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@given(data=st.data(), shape=SHAPES)
def test_activation(device, name, data, shape):
    fn, ref, kw = ACTIVATIONS[name]
    check_op(fn, ref, [draw_array(data, shape, device, min_value=-4.0, max_value=4.0, **kw)], device)


def test_relu_gradient_is_zero_at_zero(device):
    x = mg.tensor([-1.0, 0.0, 2.0], device=device, requires_grad=True)
    x.relu().sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 1.0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_huge_inputs_stay_finite(device, dtype):
    big = [-1000.0, -50.0, 0.0, 50.0, 1000.0]
    x = mg.tensor(big, dtype=dtype, device=device, requires_grad=True)
    s = x.sigmoid()
    sp = x.softplus()
    t = x.tanh()
    for y in (s, sp, t):
        assert y.dtype == np.dtype(dtype)
        assert np.isfinite(y.numpy()).all()
    np.testing.assert_allclose(s.numpy(), [0.0, np.exp(-50.0), 0.5, 1.0, 1.0], rtol=1e-6, atol=0)
    np.testing.assert_allclose(sp.numpy(), [0.0, np.exp(-50.0), np.log(2.0), 50.0, 1000.0], rtol=1e-6, atol=0)
    np.testing.assert_array_equal(t.numpy(), [-1.0, -1.0, 0.0, 1.0, 1.0])
    (s.sum() + sp.sum() + t.sum()).backward()
    g = x.grad.numpy()
    assert g.dtype == np.dtype(dtype) and np.isfinite(g).all()
    # d sigmoid + d softplus + d tanh at 0 = 1/4 + 1/2 + 1; at +-1000 only softplus' slope (0 or 1) is left
    np.testing.assert_allclose(g[[0, 2, 4]], [0.0, 1.75, 1.0], rtol=1e-6)


def test_integer_input_is_refused_where_a_float_is_needed(device):
    i = mg.tensor([1, 2], device=device)
    for fn in (mg.tanh, mg.sigmoid, mg.softplus):
        with pytest.raises(TypeError, match="expected a floating-point tensor.*int64"):
            fn(i)
    np.testing.assert_array_equal(mg.relu(mg.tensor([-1, 2], device=device)).numpy(), [0, 2])


def test_sigmoid_tails_keep_relative_precision_in_float32(device):
    """sigmoid(-20) ~ 2e-9 is representable in float32, so it must come out right (not 0, not 1e-3 off)."""
    a = np.linspace(-30.0, 30.0, 121).astype(np.float32)
    s = mg.tensor(a, device=device).sigmoid().numpy()
    exact = 1.0 / (1.0 + np.exp(-a.astype(np.float64)))
    np.testing.assert_allclose(s, exact, rtol=1e-6, atol=0)
    # The gradient y (1 - y) from the saved y (torch's formula too) is precise where y is small;
    # on the right tail 1 - y cancels in float32 for torch and for us alike.
    left = a <= 0
    x = mg.tensor(a[left], device=device, requires_grad=True)
    x.sigmoid().sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), (exact * (1 - exact))[left], rtol=2e-6, atol=0)
