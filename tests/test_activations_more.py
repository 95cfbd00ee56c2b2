"""The activations after the basic five: leaky_relu, elu, selu, celu, silu, mish, hardtanh, relu6,
hardsigmoid, hardswish, logsigmoid, softsign, tanhshrink, glu, softmin, prelu; their nn modules;
`inplace=True` (and relu_/sigmoid_/tanh_).

- `check_op` property per activation (values vs a NumPy float64 reference, gradcheck, float32 kept),
  inputs drawn away from the kinks;
- gradients *at* the kinks, and values and gradients elsewhere, against torch (float32 and float64);
- modules' reprs against torch's, PReLU's parameter (gradcheck and torch parity);
- in place: results, version counters, gradients through an in-place op on a non-leaf (vs torch),
  refusals (leaf that requires grad, saved values changed, stale users, views);
- integer/bool inputs as torch treats them, and clear errors for bad arguments.
"""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad import nn
from minigrad.ops.activation import (
    ELU, GLU, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSigmoid, Mish, PReLU, SiLU, Softsign, Tanhshrink,
)
from minigrad.testing import gradcheck
from minigrad.testing import strategies as mst

from opcheck import canonical, check_op, device_regex, draw_array

GRADIENT_TESTED = [LeakyReLU, ELU, SiLU, Mish, Hardtanh, Hardsigmoid, Hardswish, LogSigmoid, Softsign, Tanhshrink,
                   GLU, PReLU]

SHAPES = mst.shapes(min_dims=0, max_dims=3, max_side=4)
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


# ---------------------------------------------------------------- NumPy float64 references
def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _elu(a, alpha=1.0):
    return np.where(a > 0, a, alpha * np.expm1(np.minimum(a, 0)))


def _hardtanh(a, lo=-1.0, hi=1.0):
    return np.clip(a, lo, hi)


def _softmin(a, dim):
    e = np.exp(-a - np.max(-a, axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def _inplace_on_copy(fn):
    """fn(x * 1, inplace=True): the in-place path that records a graph (x * 1 is a non-leaf)."""
    return lambda x: fn(x * 1, inplace=True)


# name: (minigrad call, reference, draw range, kinks to stay away from)
ELEMENTWISE = {
    "leaky_relu": (F.leaky_relu, lambda a: np.where(a > 0, a, 0.01 * a), 4, [0.0]),
    "leaky_relu 0.2": (lambda x: F.leaky_relu(x, 0.2), lambda a: np.where(a > 0, a, 0.2 * a), 4, [0.0]),
    "leaky_relu -0.5": (lambda x: F.leaky_relu(x, negative_slope=-0.5), lambda a: np.where(a > 0, a, -0.5 * a), 4,
                        [0.0]),
    "elu": (F.elu, _elu, 4, [0.0]),
    "elu 0.5": (lambda x: F.elu(x, alpha=0.5), lambda a: _elu(a, 0.5), 4, [0.0]),
    "selu": (F.selu, lambda a: SELU_SCALE * _elu(a, SELU_ALPHA), 4, [0.0]),
    "celu 2": (lambda x: F.celu(x, 2.0), lambda a: np.where(a > 0, a, 2.0 * np.expm1(np.minimum(a, 0) / 2.0)), 4,
               [0.0]),
    "celu -1.5": (lambda x: F.celu(x, -1.5), lambda a: np.where(a > 0, a, -1.5 * np.expm1(np.minimum(a, 0) / -1.5)),
                  2, [0.0]),
    "silu": (F.silu, lambda a: a * _sigmoid(a), 6, None),
    "mish": (F.mish, lambda a: a * np.tanh(np.log1p(np.exp(a))), 6, None),
    "hardtanh": (F.hardtanh, _hardtanh, 3, [-1.0, 1.0]),
    "hardtanh -2 0.5": (lambda x: F.hardtanh(x, -2.0, 0.5), lambda a: _hardtanh(a, -2.0, 0.5), 3, [-2.0, 0.5]),
    "relu6": (F.relu6, lambda a: np.clip(a, 0, 6), 8, [0.0, 6.0]),
    "hardsigmoid": (F.hardsigmoid, lambda a: np.clip(a / 6 + 0.5, 0, 1), 5, [-3.0, 3.0]),
    "hardswish": (F.hardswish, lambda a: a * np.clip(a + 3, 0, 6) / 6, 5, [-3.0, 3.0]),
    "logsigmoid": (F.logsigmoid, lambda a: -np.log1p(np.exp(-a)), 8, None),
    "softsign": (F.softsign, lambda a: a / (1 + np.abs(a)), 5, None),
    "tanhshrink": (F.tanhshrink, lambda a: a - np.tanh(a), 4, None),
    # the in-place forms, applied to a non-leaf: the recorded graph must give the same gradients
    "relu inplace": (_inplace_on_copy(F.relu), lambda a: np.maximum(a, 0), 4, [0.0]),
    "leaky_relu inplace": (_inplace_on_copy(F.leaky_relu), lambda a: np.where(a > 0, a, 0.01 * a), 4, [0.0]),
    "elu inplace": (_inplace_on_copy(F.elu), _elu, 4, [0.0]),
    "selu inplace": (_inplace_on_copy(F.selu), lambda a: SELU_SCALE * _elu(a, SELU_ALPHA), 4, [0.0]),
    "celu inplace": (_inplace_on_copy(F.celu), _elu, 4, [0.0]),
    "silu inplace": (_inplace_on_copy(F.silu), lambda a: a * _sigmoid(a), 6, None),
    "mish inplace": (_inplace_on_copy(F.mish), lambda a: a * np.tanh(np.log1p(np.exp(a))), 6, None),
    "hardtanh inplace": (_inplace_on_copy(F.hardtanh), _hardtanh, 3, [-1.0, 1.0]),
    "relu6 inplace": (_inplace_on_copy(F.relu6), lambda a: np.clip(a, 0, 6), 8, [0.0, 6.0]),
    "hardsigmoid inplace": (_inplace_on_copy(F.hardsigmoid), lambda a: np.clip(a / 6 + 0.5, 0, 1), 5, [-3.0, 3.0]),
    "hardswish inplace": (_inplace_on_copy(F.hardswish), lambda a: a * np.clip(a + 3, 0, 6) / 6, 5, [-3.0, 3.0]),
    "relu_": (lambda x: (x * 1).relu_(), lambda a: np.maximum(a, 0), 4, [0.0]),
    "sigmoid_": (lambda x: (x * 1).sigmoid_(), _sigmoid, 4, None),
    "tanh_": (lambda x: (x * 1).tanh_(), np.tanh, 4, None),
    "F.elu_": (lambda x: F.elu_(x * 1, 0.7), lambda a: _elu(a, 0.7), 4, [0.0]),
}


@pytest.mark.parametrize("name", list(ELEMENTWISE))
@given(data=st.data(), shape=SHAPES)
def test_activation_property(device, name, data, shape):
    fn, ref, r, kinks = ELEMENTWISE[name]
    x = draw_array(data, shape, device, min_value=-r, max_value=r, avoid=kinks)
    check_op(fn, ref, [x], device)


@given(data=st.data(), shape=mst.shapes(min_dims=1, max_dims=3, max_side=3), dim=st.integers(-3, 2))
def test_glu_property(device, data, shape, dim):
    dim = dim % len(shape)
    shape = shape[:dim] + (2 * shape[dim],) + shape[dim + 1:]  # the halving dim must be even
    x = draw_array(data, shape, device, min_value=-4.0, max_value=4.0)

    def ref(a):
        u, v = np.split(a, 2, axis=dim)
        return u * _sigmoid(v)

    check_op(lambda t: F.glu(t, dim), ref, [x], device)
    check_op(lambda t: nn.GLU(dim - len(shape))(t), ref, [x], device)  # negative dims as well


@given(data=st.data(), shape=mst.shapes(min_dims=1, max_dims=3, max_side=4))
def test_softmin_property(device, data, shape):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = draw_array(data, shape, device, min_value=-4.0, max_value=4.0)
    check_op(lambda t: F.softmin(t, dim), lambda a: _softmin(a, dim), [x], device)


@given(data=st.data(), shape=mst.shapes(min_dims=0, max_dims=4, max_side=3), per_channel=st.booleans())
def test_prelu_property(device, data, shape, per_channel):
    """Gradients with respect to the input and to the slopes (one, or one per channel on dim 1)."""
    per_channel = per_channel and len(shape) >= 2
    n = shape[1] if per_channel else 1
    x = draw_array(data, shape, device, min_value=-3.0, max_value=3.0, avoid=[0.0])
    w = draw_array(data, (n,), device, min_value=-1.0, max_value=1.0)

    def ref(a, b):
        wb = b.reshape((1, -1) + (1,) * (a.ndim - 2)) if per_channel else b.reshape(())
        return np.where(a > 0, a, wb * a)

    check_op(F.prelu, ref, [x, w], device)


# ---------------------------------------------------------------- torch parity (values and gradients)
torch_kinks = {
    # name: (minigrad fn, torch fn name, kwargs, kink points)
    "leaky_relu": ("leaky_relu", {}, [0.0]),
    "leaky_relu neg": ("leaky_relu", {"negative_slope": -0.5}, [0.0]),
    "elu": ("elu", {}, [0.0]),
    "elu 2": ("elu", {"alpha": 2.0}, [0.0]),
    "selu": ("selu", {}, [0.0]),
    "celu 2": ("celu", {"alpha": 2.0}, [0.0]),
    "silu": ("silu", {}, [0.0]),
    "mish": ("mish", {}, [0.0]),
    "hardtanh": ("hardtanh", {}, [-1.0, 1.0]),
    "hardtanh -0.5 3": ("hardtanh", {"min_val": -0.5, "max_val": 3.0}, [-0.5, 3.0]),
    "hardtanh equal bounds": ("hardtanh", {"min_val": 0.5, "max_val": 0.5}, [0.5]),
    "relu6": ("relu6", {}, [0.0, 6.0]),
    "hardsigmoid": ("hardsigmoid", {}, [-3.0, 3.0]),
    "hardswish": ("hardswish", {}, [-3.0, 3.0]),
    "logsigmoid": ("logsigmoid", {}, [0.0]),
    "softsign": ("softsign", {}, [0.0]),
    "tanhshrink": ("tanhshrink", {}, [0.0]),
    "relu": ("relu", {}, [0.0]),
}

# functions whose torch form takes inplace=
INPLACE_CAPABLE = ["relu", "leaky_relu", "elu", "selu", "celu", "silu", "mish", "hardtanh", "relu6", "hardsigmoid",
                   "hardswish"]


# torch's float64 hardsigmoid backward multiplies by the float32 constant 1/6 = 0.16666667163..., 3e-8 off
TORCH_HARDSIGMOID_F64_RTOL = 4e-8


def _points(kinks):
    """A spread of values with each kink and its float neighbours (so the kink branch is pinned down)."""
    pts = list(np.linspace(-8.0, 8.0, 41))
    for k in kinks:
        pts += [k, np.nextafter(k, -np.inf), np.nextafter(k, np.inf), k - 1e-3, k + 1e-3]
    return np.array(pts)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(torch_kinks))
def test_values_and_gradients_match_torch_including_kinks(device, name, dtype):
    torch = pytest.importorskip("torch")
    fname, kw, kinks = torch_kinks[name]
    a = _points(kinks).astype(dtype)
    cot = np.random.default_rng(0).standard_normal(a.shape).astype(dtype)
    x = mg.tensor(a, device=device, requires_grad=True)
    y = getattr(F, fname)(x, **kw)
    y.backward(mg.tensor(cot, device=device))
    xt = torch.tensor(a, requires_grad=True)
    yt = getattr(torch.nn.functional, fname)(xt, **kw)
    yt.backward(torch.tensor(cot))
    assert y.dtype == np.dtype(dtype) and x.grad.dtype == np.dtype(dtype)
    # atol: where a derivative crosses zero (mish near -1.19) its O(1) terms cancel, and the result is
    # only known to the resolution of those terms (torch's float32 value is as far from float64's as ours)
    rtol, atol = (1e-6, 1e-7) if dtype == "float32" else (1e-13, 1e-16)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=rtol, atol=atol)
    grtol = rtol
    if fname == "hardsigmoid" and dtype == "float64":
        # minigrad uses 1/6 itself: check that exactly, and torch to its float32 constant's precision
        inside = np.abs(a) < 3
        np.testing.assert_array_equal(x.grad.numpy()[inside], cot[inside] / 6)
        grtol = TORCH_HARDSIGMOID_F64_RTOL
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=grtol, atol=atol)
    # exactly at the kinks the gradient is a convention: it must be torch's, to the bit
    at = np.isin(a, np.array(kinks, dtype=dtype))
    np.testing.assert_array_equal(x.grad.numpy()[at] / cot[at], xt.grad.numpy()[at] / cot[at])


def test_kink_gradients_are_torchs_convention(device):
    """Spelled out: the slope each function takes exactly at its kink (torch 2.x)."""
    expect = {
        ("leaky_relu", ()): ([0.0], [0.01]),
        ("elu", ()): ([0.0], [1.0]),
        ("elu", (2.0,)): ([0.0], [2.0]),
        ("selu", ()): ([0.0], [SELU_SCALE * SELU_ALPHA]),
        ("celu", (2.0,)): ([0.0], [1.0]),
        ("hardtanh", ()): ([-1.0, 1.0], [0.0, 0.0]),
        ("relu6", ()): ([0.0, 6.0], [0.0, 0.0]),
        ("hardsigmoid", ()): ([-3.0, 3.0], [0.0, 0.0]),
        ("hardswish", ()): ([-3.0, 3.0], [0.0, 1.0]),
        ("relu", ()): ([0.0], [0.0]),
        ("silu", ()): ([0.0], [0.5]),
        ("softsign", ()): ([0.0], [1.0]),
    }
    for (fname, args), (pts, slopes) in expect.items():
        x = mg.tensor(pts, dtype="float64", device=device, requires_grad=True)
        getattr(F, fname)(x, *args).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), slopes, rtol=1e-15, err_msg=fname)


@pytest.mark.parametrize("name", INPLACE_CAPABLE)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inplace_on_a_non_leaf_matches_torch(device, name, dtype):
    """x = a * 2; f(x, inplace=True); loss uses x twice: x is f's output, the gradient reaches a."""
    torch = pytest.importorskip("torch")
    a0 = _points([-1.5, -0.5, 0.0, 0.5, 1.5, 3.0]).astype(dtype)  # x = 2a hits every kink: -3, -1, 0, 1, 3, 6
    a = mg.tensor(a0, device=device, requires_grad=True)
    x = a * 2
    out = getattr(F, name)(x, inplace=True)
    assert out is x and x._version == 1
    (x * x + x).sum().backward()
    xt = torch.tensor(a0) * 2
    getattr(torch.nn.functional, name)(xt, inplace=True)
    rtol = 1e-6 if dtype == "float32" else 1e-13
    np.testing.assert_allclose(x.numpy(), xt.numpy(), rtol=rtol, atol=1e-30)
    # The gradient against torch's out-of-place function: torch's in-place elu/selu/celu backward works from
    # the result, e^x = (y + alpha) / alpha, which loses float32 digits for x << 0; minigrad's uses x itself.
    at = torch.tensor(a0, requires_grad=True)
    yt = getattr(torch.nn.functional, name)(at * 2)
    (yt * yt + yt).sum().backward()
    if name == "hardsigmoid" and dtype == "float64":
        rtol = TORCH_HARDSIGMOID_F64_RTOL
    np.testing.assert_allclose(a.grad.numpy(), at.grad.numpy(), rtol=rtol, atol=1e-30)


@pytest.mark.parametrize("method", ["relu_", "sigmoid_", "tanh_"])
def test_tensor_inplace_methods_match_torch(device, method):
    torch = pytest.importorskip("torch")
    a0 = np.linspace(-5, 5, 21)
    a = mg.tensor(a0, device=device, requires_grad=True)
    x = a * 3 - 1
    assert getattr(x, method)() is x and x._version == 1
    (x * x).sum().backward()
    at = torch.tensor(a0, requires_grad=True)
    xt = at * 3 - 1
    getattr(xt, method)()
    (xt * xt).sum().backward()
    np.testing.assert_allclose(x.numpy(), xt.detach().numpy(), rtol=1e-13)
    # atol: tanh's and sigmoid's slopes from the saved y (1 - y**2, y (1 - y)) cancel where |y| is near 1
    np.testing.assert_allclose(a.grad.numpy(), at.grad.numpy(), rtol=1e-13, atol=1e-14)


def test_functional_underscore_forms(device):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    a0 = np.linspace(-3, 3, 13)
    cases = [(F.relu_, tf.relu_, ()), (F.elu_, tf.elu_, (0.5,)), (F.leaky_relu_, tf.leaky_relu_, (0.1,)),
             (F.hardtanh_, tf.hardtanh_, (-2.0, 1.5)), (F.selu_, tf.selu_, ()), (F.celu_, tf.celu_, (1.5,))]
    for f, tfn, args in cases:
        x = mg.tensor(a0, device=device)
        xt = torch.tensor(a0)
        assert f(x, *args) is x
        tfn(xt, *args)
        np.testing.assert_allclose(x.numpy(), xt.numpy(), rtol=1e-13, err_msg=f.__name__)
        assert x._version == 1


def test_logsigmoid_is_stable_for_huge_inputs(device):
    torch = pytest.importorskip("torch")
    big = np.array([-1e30, -1000.0, -100.0, -30.0, 0.0, 30.0, 100.0, 1000.0, 1e30])
    for dtype in ("float32", "float64"):
        a = big.astype(dtype)
        x = mg.tensor(a, device=device, requires_grad=True)
        y = F.logsigmoid(x)
        y.sum().backward()
        assert y.dtype == np.dtype(dtype) and np.isfinite(y.numpy()).all() and np.isfinite(x.grad.numpy()).all()
        # exact: log sigmoid(x) = -log1p(e^-x); for x << 0 it is x itself, for x >> 0 it is -e^-x
        exact = np.array([-math.log1p(math.exp(-v)) if v > -700 else v for v in a.astype(np.float64)])
        np.testing.assert_allclose(y.numpy(), _as_on(device, exact.astype(dtype)),
                                   rtol=2e-7 if dtype == "float32" else 1e-15, atol=1e-44)
        # d/dx = sigmoid(-x), written stably here; float32 may flush its subnormal tail (3.7e-44 at 100) to 0
        slope = np.exp(-np.logaddexp(0.0, a.astype(np.float64)))
        np.testing.assert_allclose(x.grad.numpy(), slope, rtol=1e-6, atol=1e-38 if dtype == "float32" else 0)
        xt = torch.tensor(a, requires_grad=True)
        yt = torch.nn.functional.logsigmoid(xt)
        yt.sum().backward()
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-6, atol=1e-43)
        np.testing.assert_allclose(x.grad.numpy(), _as_on(device, xt.grad.numpy()), rtol=1e-6, atol=0)


def _as_on(device, want):
    """`want` as `device` computes it: CuPy compiles its kernels with -ftz=true, so on a GPU a float32
    subnormal answer (here -3.8e-44, log sigmoid(100)) is 0; float64 and the CPU keep subnormals."""
    if want.dtype == np.float32 and device != "cpu":
        want = np.where(np.abs(want) < np.finfo(np.float32).tiny, np.float32(0), want)
    return want


@pytest.mark.parametrize("shape", [(), (0,), (2, 0, 3)])
def test_empty_and_0d_inputs_like_torch(device, shape):
    torch = pytest.importorskip("torch")
    a = np.full(shape, -0.75)
    for name in ["leaky_relu", "elu", "selu", "celu", "silu", "mish", "hardtanh", "relu6", "hardsigmoid", "hardswish",
                 "logsigmoid", "softsign", "tanhshrink"]:
        x = mg.tensor(a, device=device, requires_grad=True)
        y = getattr(F, name)(x)
        yt = getattr(torch.nn.functional, name)(torch.tensor(a))
        assert y.shape == tuple(yt.shape)
        np.testing.assert_allclose(y.numpy(), yt.numpy(), rtol=1e-13, err_msg=name)
        y.sum().backward()
        assert x.grad.shape == shape


def test_glu_prelu_softmin_match_torch(device):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    rng = np.random.default_rng(3)
    a0 = rng.standard_normal((2, 4, 3))
    for dim in (0, 1, -3, -2):  # the even-sized dims of (2, 4, 3)
        x = mg.tensor(a0, device=device, requires_grad=True)
        xt = torch.tensor(a0, requires_grad=True)
        y, yt = F.glu(x, dim), tf.glu(xt, dim)
        (y * y).sum().backward()
        (yt * yt).sum().backward()
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-13)
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-13)
    for dim in (0, 1, 2, -1):
        np.testing.assert_allclose(F.softmin(mg.tensor(a0, device=device), dim).numpy(),
                                   tf.softmin(torch.tensor(a0), dim).numpy(), rtol=1e-13)
    # softmin with dim=None: torch's legacy choice of dim, with its deprecation warning
    for shape in [(5,), (2, 3), (2, 3, 4), (2, 3, 4, 2)]:
        b = rng.standard_normal(shape)
        with pytest.warns(UserWarning, match="Implicit dimension choice for softmin"):
            got = F.softmin(mg.tensor(b, device=device))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = tf.softmin(torch.tensor(b))
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-13)
    i = F.softmin(mg.tensor([1, 2, 3], device=device), 0, dtype=mg.float64)
    np.testing.assert_allclose(i.numpy(), tf.softmin(torch.tensor([1, 2, 3]), 0, dtype=torch.float64).numpy())


# ---------------------------------------------------------------- modules
MODULES = [
    ("LeakyReLU", (), {}), ("LeakyReLU", (0.2,), {"inplace": True}), ("ELU", (), {}), ("ELU", (0.5, True), {}),
    ("SELU", (), {}), ("SELU", (True,), {}), ("CELU", (), {}), ("CELU", (2.0, True), {}), ("SiLU", (), {}),
    ("SiLU", (True,), {}), ("Mish", (), {}), ("Mish", (), {"inplace": True}), ("Hardtanh", (), {}),
    ("Hardtanh", (-2, 2, True), {}), ("Hardtanh", (-0.5, 1.5), {}), ("ReLU6", (), {}), ("ReLU6", (True,), {}),
    ("Hardsigmoid", (), {}), ("Hardsigmoid", (True,), {}), ("Hardswish", (), {}), ("Hardswish", (True,), {}),
    ("LogSigmoid", (), {}), ("Softsign", (), {}), ("Tanhshrink", (), {}), ("GLU", (), {}), ("GLU", (1,), {}),
    ("Softmin", (1,), {}), ("Softmin", (), {"dim": 0}), ("PReLU", (), {}), ("PReLU", (4, 0.1), {}),
    ("ReLU", (), {}), ("ReLU", (True,), {}),
]


@pytest.mark.parametrize("name, args, kw", MODULES, ids=[f"{n}{a}{k}" for n, a, k in MODULES])
def test_module_repr_forward_and_gradient_match_torch(device, name, args, kw):
    torch = pytest.importorskip("torch")
    m = getattr(nn, name)(*args, **kw)
    mt = getattr(torch.nn, name)(*args, **kw)
    assert repr(m) == repr(mt)
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in mt.named_parameters()]
    if name == "PReLU":
        assert m.weight.shape == tuple(mt.weight.shape) and m.weight.dtype == np.float32
        np.testing.assert_array_equal(m.weight.numpy(), mt.weight.detach().numpy())
    m.to(device)
    a0 = np.random.default_rng(1).standard_normal((2, 4, 6)).astype(np.float32) * 3
    a = mg.tensor(a0, device=device, requires_grad=True)
    at = torch.tensor(a0, requires_grad=True)
    y = m(a * 1)  # a non-leaf, so inplace=True modules can write into it
    yt = mt(at * 1)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-6, atol=1e-7)
    (y * y).sum().backward()
    (yt * yt).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), at.grad.numpy(), rtol=1e-5, atol=1e-6)
    if name == "PReLU":
        np.testing.assert_allclose(m.weight.grad.numpy(), mt.weight.grad.numpy(), rtol=1e-5)


def test_parameter_free_modules_have_no_parameters():
    for name, args, kw in MODULES:
        if name != "PReLU":
            assert list(getattr(nn, name)(*args, **kw).parameters()) == []


def test_inplace_modules_in_a_sequential_train_like_torch(device):
    """Linear -> ReLU(inplace) -> Linear -> LeakyReLU(inplace) -> Linear: gradients of every weight."""
    torch = pytest.importorskip("torch")
    mg.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 5), nn.ReLU(inplace=True), nn.Linear(5, 4), nn.LeakyReLU(0.1, inplace=True),
                        nn.Linear(4, 2), nn.Hardtanh(-0.5, 0.5, inplace=True)).to(device)
    tnet = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(True), torch.nn.Linear(5, 4),
                               torch.nn.LeakyReLU(0.1, True), torch.nn.Linear(4, 2), torch.nn.Hardtanh(-0.5, 0.5, True))
    with torch.no_grad():
        for p, pt in zip(net.parameters(), tnet.parameters()):
            pt.copy_(torch.tensor(p.numpy()))
    x0 = np.random.default_rng(2).standard_normal((6, 3)).astype(np.float32)
    net(mg.tensor(x0, device=device)).sum().backward()
    tnet(torch.tensor(x0)).sum().backward()
    for (n, p), pt in zip(net.named_parameters(), tnet.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), pt.grad.numpy(), rtol=1e-5, atol=1e-6, err_msg=n)


def test_prelu_gradcheck_with_respect_to_its_weight(device):
    rng = np.random.default_rng(4)
    for shape, n in [((3, 4, 2), 4), ((3, 4, 2), 1), ((5,), 1), ((), 1), ((2, 3), 3)]:
        x = mg.tensor(rng.uniform(-2, 2, shape) + 0.05 * np.sign(rng.uniform(-1, 1, shape)), dtype="float64",
                      device=device, requires_grad=True)
        w = mg.tensor(rng.uniform(-1, 1, (n,)), dtype="float64", device=device, requires_grad=True)
        assert gradcheck(F.prelu, x, w)
        m = nn.PReLU(n, dtype="float64", device=device)
        assert m.weight.dtype == np.float64 and m.weight.device == canonical(device)
        assert gradcheck(lambda t, wt: F.prelu(t, wt), x.detach(), m.weight)


def test_prelu_matches_torch_per_channel(device):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    a0 = np.concatenate([rng.standard_normal(22), [0.0, 0.0]]).reshape(2, 3, 4)
    for n in (1, 3):
        w0 = rng.uniform(-0.5, 0.5, n)
        x = mg.tensor(a0, device=device, requires_grad=True)
        w = mg.tensor(w0, device=device, requires_grad=True)
        xt, wt = torch.tensor(a0, requires_grad=True), torch.tensor(w0, requires_grad=True)
        y, yt = F.prelu(x, w), torch.nn.functional.prelu(xt, wt)
        cot = rng.standard_normal(a0.shape)
        y.backward(mg.tensor(cot, device=device))
        yt.backward(torch.tensor(cot))
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-14)
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-14)  # at x = 0: slope w, as torch
        np.testing.assert_allclose(w.grad.numpy(), wt.grad.numpy(), rtol=1e-12)


def test_prelu_module_learns_its_slope(device):
    """A few SGD steps move a PReLU's slope towards the one that made the targets."""
    mg.manual_seed(1)
    m = nn.PReLU(2).to(device)
    opt = mg.optim.SGD(m.parameters(), lr=0.5)
    x = mg.tensor(np.random.default_rng(6).uniform(-2, 0, (64, 2, 3)), dtype="float32", device=device)
    target = x * mg.tensor([[0.1], [0.7]], device=device)  # slopes 0.1 and 0.7 on channels 0 and 1
    for _ in range(100):
        opt.zero_grad()
        ((m(x) - target) ** 2).mean().backward()
        opt.step()
    np.testing.assert_allclose(m.weight.numpy(), [0.1, 0.7], atol=1e-3)
    m.reset_parameters()
    np.testing.assert_array_equal(m.weight.numpy(), [0.25, 0.25])


# ---------------------------------------------------------------- in place: versions and refusals
# name: (the in-place call, the same function out of place)
INPLACE_PAIRS = {
    "relu": (lambda t: F.relu(t, inplace=True), F.relu),
    "leaky_relu": (lambda t: F.leaky_relu(t, 0.1, inplace=True), lambda t: F.leaky_relu(t, 0.1)),
    "elu": (lambda t: F.elu(t, inplace=True), F.elu),
    "selu": (lambda t: F.selu(t, inplace=True), F.selu),
    "celu": (lambda t: F.celu(t, inplace=True), F.celu),
    "silu": (lambda t: F.silu(t, inplace=True), F.silu),
    "mish": (lambda t: F.mish(t, inplace=True), F.mish),
    "hardtanh": (lambda t: F.hardtanh(t, inplace=True), F.hardtanh),
    "relu6": (lambda t: F.relu6(t, inplace=True), F.relu6),
    "hardsigmoid": (lambda t: F.hardsigmoid(t, inplace=True), F.hardsigmoid),
    "hardswish": (lambda t: F.hardswish(t, inplace=True), F.hardswish),
    "relu_": (lambda t: t.relu_(), F.relu),
    "sigmoid_": (lambda t: t.sigmoid_(), F.sigmoid),
    "tanh_": (lambda t: t.tanh_(), F.tanh),
}
INPLACE_CALLS = {name: pair[0] for name, pair in INPLACE_PAIRS.items()}


@pytest.mark.parametrize("name", list(INPLACE_CALLS))
def test_inplace_writes_into_the_tensor_and_bumps_its_version(device, name):
    a0 = np.linspace(-4, 4, 9).astype(np.float32)
    x = mg.tensor(a0, device=device)
    view = x[2:]  # shares x's memory: sees the write, as in torch
    want = INPLACE_PAIRS[name][1](mg.tensor(a0, device=device))
    assert INPLACE_CALLS[name](x) is x
    assert x._version == 1 and x.dtype == np.float32
    np.testing.assert_array_equal(x.numpy(), want.numpy())
    np.testing.assert_array_equal(view.numpy(), want.numpy()[2:])


@pytest.mark.parametrize("name", list(INPLACE_CALLS))
def test_inplace_on_a_leaf_that_requires_grad_is_refused(device, name):
    w = mg.randn(4, device=device, requires_grad=True)
    op = name.rstrip("_") + "_"
    with pytest.raises(RuntimeError, match=rf"{op}: a leaf tensor that requires grad .*a leaf Variable that requires "
                                           r"grad is being used in an in-place operation"):
        INPLACE_CALLS[name](w)
    assert w._version == 0
    with mg.no_grad():  # as optimizers do: allowed, and counted
        INPLACE_CALLS[name](w)
    assert w._version == 1 and w.is_leaf


@pytest.mark.parametrize("name", list(INPLACE_CALLS))
def test_inplace_write_to_a_value_saved_for_backward_raises_at_backward(device, name):
    """Mul saved x; overwriting x in place (graph or no graph) must not give a wrong gradient."""
    a = mg.randn(4, device=device, requires_grad=True)
    x = a * 1
    loss = (x * x).sum()  # Mul saves x
    INPLACE_CALLS[name](x)
    with pytest.raises(RuntimeError, match="Mul.*modified in place"):
        loss.backward()
    w = mg.randn(4, device=device, requires_grad=True)
    loss = (w * mg.ones(4, device=device)).sum()
    with mg.no_grad():
        INPLACE_CALLS[name](w)
    with pytest.raises(RuntimeError, match=r"Mul.*version 0.*version 1"):
        loss.backward()


def test_inplace_write_to_a_saved_output_raises_at_backward(device):
    """sigmoid and exp save their output: an in-place activation on it spoils their backward (torch raises too)."""
    a = mg.randn(3, device=device, requires_grad=True)
    s = a.sigmoid()
    s.tanh_()
    with pytest.raises(RuntimeError, match="output of Sigmoid was modified in place"):
        s.sum().backward()
    e = a.exp()
    F.silu(e, inplace=True)
    with pytest.raises(RuntimeError, match="output of Exp was modified in place"):
        e.sum().backward()
    t = (a * 1).tanh_()
    t.sigmoid_()  # tanh_ saved its output t, which sigmoid_ overwrote
    with pytest.raises(RuntimeError, match="output of Tanh was modified in place"):
        t.sum().backward()


GRAPHS_AROUND_AN_INPLACE_OP = {  # (lib: minigrad or torch, a: leaf) -> the value to backpropagate from
    "used before": lambda lib, a: (lambda x: ((x + 1), x.relu_())[0] + x)(a * 2),
    "used after": lambda lib, a: (lambda x: (x.relu_(), x + 1)[1] + x)(a * 2),
    "between two writes": lambda lib, a: (lambda x: (x.add_(1), (x + 1) * x.sum(), x.mul_(2))[1] + x)(a * 2 - 1),
    "saved nothing, read before": lambda lib, a: (lambda x: (x.sum(), x.tanh_())[0] + x.sum())(a * 2),
}


@pytest.mark.parametrize("name", list(GRAPHS_AROUND_AN_INPLACE_OP))
def test_ops_around_an_inplace_op_get_torch_gradients(device, name):
    """Ops that used x before x.relu_() get the gradient of the old value (engine: _resolve_inputs), as in torch."""
    torch = pytest.importorskip("torch")
    build = GRAPHS_AROUND_AN_INPLACE_OP[name]
    a = mg.tensor([-1.0, 0.25, 2.0], dtype="float64", device=device, requires_grad=True)
    ta = torch.tensor([-1.0, 0.25, 2.0], dtype=torch.float64, requires_grad=True)
    build(mg, a).sum().backward()
    build(torch, ta).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-12)


def test_inplace_twice(device):
    """(torch refuses relu_().relu_(): its ReLU saves its output, which the second write changes; ours
    records each write on a copy of the value before it, so the gradient is simply right.)"""
    a = mg.tensor([-1.0, 2.0], device=device, requires_grad=True)
    (a * 2).relu_().relu_().sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.0, 2.0])


def test_an_op_that_saved_the_old_value_is_still_refused(device):
    a = mg.tensor([-1.0, 2.0], device=device, requires_grad=True)
    x = a * 2
    early = x * x  # Mul saved x's memory, which relu_ then overwrites
    x.relu_()
    with pytest.raises(RuntimeError, match="Mul.*modified in place"):
        (early + x).sum().backward()


def test_inplace_on_a_view_in_a_graph_is_recorded_in_its_base(device):
    """relu_ through views of a non-leaf x changes x, and x's gradient follows (torch's CopySlices)."""
    a = mg.randn(2, 3, device=device, requires_grad=True)
    x = a * 1
    for make in (lambda t: t[0], lambda t: t.reshape(3, 2), lambda t: t.T):
        make(x).relu_()
    assert x._version == 3 and x.tolist() == F.relu(a).tolist()
    x.sum().backward()
    assert a.grad.tolist() == (a > 0).float().tolist()
    x = a * 1
    F.relu(x.reshape(3, 2).clone(), inplace=True)  # a copy does not touch x
    assert x._version == 0


def test_inplace_keeps_integer_dtypes_where_torch_does(device):
    x = mg.tensor([-3, 0, 2, 9], device=device)
    assert F.relu(x, inplace=True) is x
    np.testing.assert_array_equal(x.numpy(), [0, 0, 2, 9])
    assert x.dtype == np.int64
    y = mg.tensor([-3, 0, 2, 9], device=device)
    F.relu6(y, inplace=True)
    np.testing.assert_array_equal(y.numpy(), [0, 0, 2, 6])
    z = mg.tensor([-3, 0, 2, 9], device=device)
    F.hardtanh_(z, -1.5, 2.5)  # bounds truncated to the integer type, as torch: [-1, 2]
    np.testing.assert_array_equal(z.numpy(), [-1, 0, 2, 2])
    for call, op in [(lambda t: t.sigmoid_(), "sigmoid_"), (lambda t: t.tanh_(), "tanh_"),
                     (lambda t: F.elu(t, inplace=True), "elu")]:
        with pytest.raises(TypeError, match=f"{op}: expected a floating-point tensor, got int64"):
            call(mg.tensor([1, 2], device=device))


# ---------------------------------------------------------------- dtypes and errors
FLOAT_ONLY = ["leaky_relu", "elu", "selu", "celu", "silu", "mish", "hardsigmoid", "hardswish", "logsigmoid", "glu"]


@pytest.mark.parametrize("name", FLOAT_ONLY)
def test_integer_input_is_refused_where_torch_refuses_it(device, name):
    with pytest.raises(TypeError, match=f"{name}: expected a floating-point tensor, got int64"):
        getattr(F, name)(mg.tensor([-2, 0, 2, 4], device=device))


def test_integer_input_where_torch_accepts_it(device):
    torch = pytest.importorskip("torch")
    a = np.array([-7, -1, 0, 3, 8])
    for name, args in [("relu", ()), ("hardtanh", ()), ("hardtanh", (-0.5, 1.5)), ("relu6", ()), ("softsign", ()),
                       ("tanhshrink", ())]:
        got = getattr(F, name)(mg.tensor(a, device=device), *args)
        want = getattr(torch.nn.functional, name)(torch.tensor(a), *args)
        assert str(got.dtype) == str(want.dtype).replace("torch.", ""), name  # int64 kept, or float32
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, err_msg=name)


@pytest.mark.parametrize("name", FLOAT_ONLY + ["relu", "hardtanh", "relu6", "softsign", "tanhshrink"])
def test_bool_input_is_refused(device, name):
    with pytest.raises(TypeError, match=f"{name}: bool tensors are not supported"):
        getattr(F, name)(mg.tensor([True, False], device=device))


def test_bad_arguments_give_clear_errors(device):
    x = mg.randn(2, 3, device=device)
    dev = device_regex(device)  # messages name the canonical device: 'cpu' or 'cuda:0'
    with pytest.raises(ValueError, match="glu: the halving dimension must have an even size, but dimension 1 of "
                                         rf"float32\[2, 3\] on {dev} has size 3"):
        F.glu(x)
    with pytest.raises(ValueError, match="glu: does not support scalars"):
        F.glu(mg.tensor(1.0, device=device))
    with pytest.raises(IndexError, match="glu: dim 2 is out of range"):
        F.glu(mg.randn(2, 4, device=device), dim=2)
    with pytest.raises(ValueError, match="hardtanh: min_val cannot be greater than max_val"):
        F.hardtanh(x, 2.0, 1.0)
    with pytest.raises(ValueError, match=r"Hardtanh: max_val \(1.0\) must be greater than min_val \(2.0\)"):
        nn.Hardtanh(2.0, 1.0)
    with pytest.raises(ValueError, match="celu: alpha cannot be 0"):
        F.celu(x, alpha=0.0)
    with pytest.raises(TypeError, match="leaky_relu: negative_slope must be a number, got str"):
        F.leaky_relu(x, "0.1")
    with pytest.raises(TypeError, match="elu: expected a Tensor as input, got list"):
        F.elu([1.0, 2.0])
    with pytest.raises(ValueError, match=rf"prelu: weight float32\[4\] on {dev} must hold 1 slope or one per channel "
                                         rf"\(dim 1\) of input float32\[2, 3\] on {dev}, i.e. 3"):
        F.prelu(x, mg.ones(4, device=device))
    with pytest.raises(ValueError, match="prelu: a 0-d input"):
        F.prelu(mg.tensor(1.0, device=device), mg.ones(3, device=device))
    with pytest.raises(ValueError, match="prelu: .*i.e. 1"):  # 1-d input: one channel, as torch
        nn.PReLU(3).to(device)(mg.randn(3, device=device))
    with pytest.raises(TypeError, match="prelu: dtype mismatch"):
        F.prelu(x.double(), mg.ones(1, device=device))
    with pytest.raises(TypeError, match="prelu: expected a floating-point tensor, got int64"):
        F.prelu(mg.tensor([[1, 2]], device=device), mg.ones(1, device=device))
    with pytest.raises(ValueError, match="PReLU: num_parameters must be a positive int, got 0"):
        nn.PReLU(0)
    with pytest.raises(TypeError, match="softmin: expected a floating-point tensor"):
        F.softmin(mg.tensor([1, 2], device=device), 0)
    with pytest.raises(RuntimeError, match=rf"relu_: cannot write into float32\[2, 3\] on {dev} in place"):
        F.relu(mg.zeros(3, device=device).expand(2, 3), inplace=True)  # expand's result is read-only


def test_retain_grad_follows_the_inplace_write_and_hooks_see_the_old_value(device):
    """torch's rules: retain_grad() keeps the gradient of x's new value; a hook registered before the
    write gets the gradient with respect to the value it was registered on."""
    torch = pytest.importorskip("torch")
    got = {}
    for lib, dev in ((mg, device), (torch, None)):
        a = lib.tensor([-1.0, 2.0], requires_grad=True) if dev is None else lib.tensor([-1.0, 2.0], device=dev,
                                                                                        requires_grad=True)
        x = a * 2
        x.retain_grad()
        seen = []
        x.register_hook(lambda g, seen=seen: seen.append(np.array(g.tolist())))
        x.relu_()
        (x * 3).sum().backward()
        got[lib.__name__] = (np.array(x.grad.tolist()), seen[0], np.array(a.grad.tolist()))
    for m, t in zip(got["minigrad"], got["torch"]):
        np.testing.assert_array_equal(m, t)
    np.testing.assert_array_equal(got["minigrad"][0], [3.0, 3.0])
    np.testing.assert_array_equal(got["minigrad"][1], [0.0, 3.0])
