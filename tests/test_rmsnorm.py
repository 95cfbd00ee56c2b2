"""F.rms_norm and nn.RMSNorm: values against a NumPy float64 reference and gradients against finite
differences (Hypothesis, every backend), torch parity (values and gradients, eps=None in float32 and
float64, zero rows), the module's parameters/state/repr, and clear errors.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad import nn
from minigrad.ops.norm import RMSNorm as RMSNormOp
from minigrad.testing import gradcheck

from opcheck import call_with, check_op, draw_array

GRADIENT_TESTED = [RMSNormOp]


def np_rms_norm(x, k, w=None, eps=1e-5):
    """Reference in float64: x / sqrt(mean(x**2) over the last k dims + eps) * w."""
    axes = tuple(range(x.ndim - k, x.ndim))
    y = x / np.sqrt((x * x).mean(axis=axes, keepdims=True) + eps)
    return y if w is None else y * w


@given(data=st.data(), lead=st.lists(st.integers(1, 4), max_size=2), norm=st.lists(st.integers(1, 4), min_size=1,
                                                                                   max_size=2),
       affine=st.booleans(), eps=st.sampled_from([1e-5, 0.1]))
def test_rms_norm_values_and_gradients(device, data, lead, norm, affine, eps):
    shape, k = tuple(lead + norm), len(norm)
    arrays = [draw_array(data, shape, device)]
    if affine:
        arrays.append(draw_array(data, tuple(norm), device))
    check_op(lambda x, *w: F.rms_norm(x, tuple(norm), w[0] if w else None, eps=eps),
             lambda x, *w: np_rms_norm(x, k, w[0] if w else None, eps), arrays, device)


@given(lead=st.lists(st.integers(1, 3), max_size=2), n=st.integers(1, 4), seed=st.integers(0, 2 ** 16))
def test_rms_norm_module_gradient_wrt_its_weight(device, lead, n, seed):
    mg.manual_seed(seed)
    m = nn.RMSNorm(n, dtype="float64", device=device)
    with mg.no_grad():
        m.weight.copy_(mg.randn(n, dtype="float64", device=device))
    x = mg.randn(*lead, n, dtype="float64", device=device, requires_grad=True)
    params = [p.detach().requires_grad_(True) for p in m.parameters()]
    gradcheck(lambda x, w: call_with(m, [w], lambda: m(x)), x, *params)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,normalized", [((3, 4, 5), (5,)), ((3, 4, 5), (4, 5)), ((6,), (6,))])
@pytest.mark.parametrize("affine", [True, False])
def test_rms_norm_matches_torch_with_default_eps(dtype, shape, normalized, affine):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    x[..., 0] *= 1e-4  # (a small entry: the sum of squares and eps both matter somewhere)
    w = rng.standard_normal(normalized).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    mx, mw = mg.tensor(x, requires_grad=True), mg.tensor(w, requires_grad=True)
    ty = torch.nn.functional.rms_norm(tx, list(normalized), tw if affine else None)
    my = F.rms_norm(mx, normalized, mw if affine else None)
    assert my.dtype == np.dtype(dtype)
    ty.backward(torch.tensor(g))
    my.backward(mg.tensor(g))
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(my.numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=tol, atol=tol)
    assert mx.grad.dtype == np.dtype(dtype)
    if affine:
        np.testing.assert_allclose(mw.grad.numpy(), tw.grad.numpy(), rtol=tol, atol=tol)
        assert mw.grad.dtype == np.dtype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_all_zero_rows_and_the_default_eps_match_torch(dtype):
    """eps=None is torch.finfo(dtype).eps: a zero row stays 0 with gradient dy / sqrt(eps) (as torch)."""
    torch = pytest.importorskip("torch")
    x = np.zeros((2, 3), dtype)
    x[1] = [1e-5, -2e-5, 3e-5]  # tiny: the eps visibly matters
    tx, mx = torch.tensor(x, requires_grad=True), mg.tensor(x, requires_grad=True)
    ty, my = torch.nn.functional.rms_norm(tx, [3]), F.rms_norm(mx, (3,))
    ty.sum().backward()
    my.sum().backward()
    np.testing.assert_allclose(my.numpy(), ty.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-5)
    np.testing.assert_allclose(mx.grad.numpy()[0], 1 / np.sqrt(np.finfo(dtype).eps), rtol=1e-5)


def test_empty_batch_and_eps_zero():
    x = mg.zeros(0, 4, requires_grad=True)
    y = F.rms_norm(x, (4,))
    assert y.shape == (0, 4) and y.dtype == np.float32
    y.sum().backward()
    assert x.grad.shape == (0, 4)
    v = mg.tensor([[3.0, 4.0]])
    np.testing.assert_allclose(F.rms_norm(v, (2,), eps=0.0).numpy(), [[3 / np.sqrt(12.5), 4 / np.sqrt(12.5)]],
                               rtol=1e-6)
    assert F.rms_norm(mg.tensor([1.0, 2.0]), 2).shape == (2,)  # an int normalized_shape (minigrad also allows it)


def test_rms_norm_module_matches_torch():
    torch = pytest.importorskip("torch")
    t = torch.nn.RMSNorm([2, 3], dtype=torch.float64)
    m = nn.RMSNorm([2, 3], dtype="float64")
    assert repr(m) == repr(t) == "RMSNorm((2, 3), eps=None, elementwise_affine=True)"
    assert [n for n, _ in m.named_parameters()] == ["weight"] and m.weight.shape == (2, 3)
    np.testing.assert_array_equal(m.weight.numpy(), np.ones((2, 3)))
    with torch.no_grad():
        t.weight.copy_(torch.randn(2, 3, dtype=torch.float64))
    m.load_state_dict(t.state_dict())
    x = np.random.default_rng(1).standard_normal((4, 2, 3))
    tx, mx = torch.tensor(x, requires_grad=True), mg.tensor(x, requires_grad=True)
    ty, my = t(tx), m(mx)
    ty.pow(2).sum().backward()
    (my * my).sum().backward()
    np.testing.assert_allclose(my.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(m.weight.grad.numpy(), t.weight.grad.numpy(), rtol=1e-12, atol=1e-12)
    # minigrad -> torch
    t2 = torch.nn.RMSNorm([2, 3], eps=1e-3, dtype=torch.float64)
    m2 = nn.RMSNorm([2, 3], eps=1e-3, dtype="float64")
    with mg.no_grad():
        m2.weight.copy_(mg.randn(2, 3, dtype="float64"))
    t2.load_state_dict({k: torch.tensor(v.numpy()) for k, v in m2.state_dict().items()})
    np.testing.assert_allclose(m2(mg.tensor(x)).numpy(), t2(torch.tensor(x)).detach().numpy(), rtol=1e-12)
    plain = nn.RMSNorm(3, elementwise_affine=False)
    assert list(plain.parameters()) == [] and plain.weight is None
    assert repr(plain) == repr(torch.nn.RMSNorm(3, elementwise_affine=False))
    assert plain(mg.randn(2, 3)).dtype == np.float32


def test_errors_are_clear():
    x = mg.randn(3, 4)
    with pytest.raises(TypeError, match="rms_norm: expected a floating-point tensor"):
        F.rms_norm(mg.tensor([[1, 2]]), (2,))
    with pytest.raises(ValueError, match=r"rms_norm: input .* must end with normalized_shape \[3\]"):
        F.rms_norm(x, (3,))
    with pytest.raises(ValueError, match="at least one dimension"):
        F.rms_norm(x, ())
    with pytest.raises(ValueError, match=r"rms_norm: weight must have shape normalized_shape \[4\]"):
        F.rms_norm(x, (4,), mg.ones(3))
    with pytest.raises(TypeError, match="rms_norm: weight .* same dtype"):
        F.rms_norm(x, (4,), mg.ones(4, dtype="float64"))
    with pytest.raises(TypeError, match="rms_norm: weight must be a minigrad Tensor"):
        F.rms_norm(x, (4,), np.ones(4))
    with pytest.raises(ValueError, match="rms_norm: eps must be >= 0"):
        F.rms_norm(x, (4,), eps=-1.0)
    with pytest.raises(TypeError, match="rms_norm: normalized_shape must be a tuple of ints"):
        F.rms_norm(x, "4")
    with pytest.raises(ValueError, match="RMSNorm: normalized_shape must be a positive int"):
        nn.RMSNorm(0)
    with pytest.raises(ValueError, match="RMSNorm: eps"):
        nn.RMSNorm(4, eps=-0.5)
    with pytest.raises(TypeError, match="rms_norm: weight .* same dtype"):  # no silent upcast (torch promotes)
        nn.RMSNorm(4)(x.double())
