"""Activations (tanh, sigmoid, relu, softplus, erf, gelu): values vs NumPy (erf: Python's math.erf),
gradients vs finite differences.

Same property as the elementwise tests (`check_op`), plus the numerical-stability
promises: no overflow for huge logits, in float32 and float64.
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad.ops.activation import GELU, Erf, ReLU, Sigmoid, Softplus, Tanh
from minigrad.testing import strategies as mst

from opcheck import check_op, draw_array

GRADIENT_TESTED = [Tanh, Sigmoid, ReLU, Softplus, Erf, GELU]

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
    "erf": (lambda x: x.erf(), lambda a: _math_erf(a), {}),
    "mg.erf": (mg.erf, lambda a: _math_erf(a), {}),
    "F.gelu": (F.gelu, lambda a: a * (1 + _math_erf(a / math.sqrt(2))) / 2, {}),
    "F.gelu tanh": (lambda x: F.gelu(x, approximate="tanh"),
                    lambda a: a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a ** 3))) / 2, {}),
}


def _math_erf(a):
    """The reference: Python's own math.erf, element by element (independent of minigrad's)."""
    return np.vectorize(math.erf, otypes=[np.float64])(a)


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


def test_integer_input_promotes_or_is_refused_as_in_torch(device):
    i = mg.tensor([1, 2], device=device)
    with pytest.raises(TypeError, match="expected a floating-point tensor.*int64"):
        mg.softplus(i)  # torch: "not implemented for 'Long'"
    for fn, ref in ((mg.tanh, np.tanh), (mg.sigmoid, lambda a: 1 / (1 + np.exp(-a))), (mg.erf, None)):
        for src in (i, mg.tensor([True, False], device=device)):
            out = fn(src)  # torch.tanh / sigmoid / erf give the default float dtype for int and bool input
            assert out.dtype == np.float32
            if ref is not None:
                np.testing.assert_allclose(out.numpy(), ref(src.numpy().astype(np.float64)), rtol=1e-6)
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


@pytest.mark.parametrize("use_scipy", [True, False])
def test_erf_with_and_without_scipy(use_scipy):
    """Both CPU routes (SciPy's erf, and the series / continued fraction used without SciPy) agree
    with math.erf to float64 rounding everywhere, tails, signed zero, inf and NaN included."""
    from minigrad import backend
    xs = np.concatenate([np.linspace(-9, 9, 4001), [0.0, -0.0, 3.0, -3.0, np.nextafter(3, 4), np.nextafter(3, 2),
                                                    6.0, 27.0, 1e300, 1e-300, np.inf, -np.inf, np.nan]])
    saved = backend.use_scipy
    try:
        backend.use_scipy = use_scipy
        got = mg.erf(mg.tensor(xs, dtype="float64")).numpy()
        with np.errstate(over="ignore"):  # 1e300 becomes inf in float32, as intended
            got32 = mg.erf(mg.tensor(xs, dtype="float32")).numpy()
    finally:
        backend.use_scipy = saved
    want = np.array([math.erf(v) if not np.isnan(v) else np.nan for v in xs])
    np.testing.assert_allclose(got, want, rtol=4e-15, atol=0, equal_nan=True)
    assert np.signbit(got[xs == 0]).tolist() == np.signbit(xs[xs == 0]).tolist()
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, want.astype(np.float32), rtol=2e-7, atol=1e-37, equal_nan=True)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_torch_parity_and_module(approximate):
    torch = pytest.importorskip("torch")
    x = np.concatenate([np.linspace(-12, 12, 97), [0.0]])
    m = mg.tensor(x, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    y = mg.nn.GELU(approximate)(m)
    yt = torch.nn.GELU(approximate)(t)
    # atol: for x << 0, 1 + tanh(u) cancels, so float64 rounding of u (~1e-16 of |x| <= 12) shows
    # as absolute differences of ~1e-15 between two correct evaluations in a different order
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-14)
    y.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh', got 'exact'"):
        F.gelu(m, approximate="exact")
    with pytest.raises(TypeError, match="gelu: expected a floating-point tensor"):
        F.gelu(mg.tensor([1, 2]))  # torch: "GeluKernelImpl" not implemented for 'Long' (erf promotes ints)
