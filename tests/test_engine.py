"""The autograd engine: graph walk, accumulation, broadcasting, memory, grad modes, anomaly mode,
multi-output Functions, retain_grad, detach, version counters.

Custom `Function`s defined here probe the engine's contract (they live in this
test module, so the op-coverage meta-test does not count them).
"""
import gc
import weakref

import numpy as np
import pytest

import minigrad as mg
from minigrad import Function
from minigrad.autograd import sum_to
from minigrad.testing import gradcheck


# ---------------------------------------------------------------- graph walk
def test_100k_op_chain_backpropagates_without_recursion(device):
    x = mg.tensor(1.0, dtype="float64", device=device, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 1e-6
    assert y.item() == pytest.approx(1.1, rel=1e-9)
    y.backward()
    assert x.grad.item() == 1.0
    # dropping a deep graph that was never backpropagated must not overflow the C stack either
    z = x
    for _ in range(100_000):
        z = z + 1.0
    del z
    gc.collect()


def test_fan_out_accumulates(device):
    x = mg.tensor([1.0, 2.0], dtype="float64", device=device, requires_grad=True)
    y = x * 0.0
    for k in range(1, 51):  # x is used 50 times directly, and h feeds two branches
        y = y + x * float(k)
    h = x * x
    loss = (y + h + h.exp()).sum()
    loss.backward()
    want = sum(range(1, 51)) + 2 * x.numpy() + np.exp(x.numpy() ** 2) * 2 * x.numpy()
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-14)


def test_diamond_graph(device):
    """a -> (b, c) -> d: the shared node runs once, after both consumers sent their gradients."""
    a = mg.tensor(3.0, dtype="float64", device=device, requires_grad=True)
    b = a * 2.0
    c = a.exp()
    d = b * c
    d.backward()
    assert a.grad.item() == pytest.approx(2 * np.exp(3.0) + 6.0 * np.exp(3.0), rel=1e-15)


def test_grad_accumulates_across_backward_calls(device):
    x = mg.tensor([1.0, -1.0], device=device, requires_grad=True)
    for k in range(1, 4):
        (x * 3.0).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [3.0 * k, 3.0 * k])
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, -2.0])
    assert x.grad.dtype == np.float32 and not x.grad.requires_grad


def test_backward_with_explicit_gradient(device):
    x = mg.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    y = x * 2.0
    y.backward(mg.tensor([1.0, 0.5, 0.0], device=device))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 1.0, 0.0])
    with pytest.raises(RuntimeError, match=r"grad has shape \(2,\) but the tensor has shape \(3,\)"):
        (x * 2.0).backward(mg.tensor([1.0, 2.0], device=device))


def test_backward_on_a_leaf(device):
    x = mg.tensor(2.0, device=device, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0


# ---------------------------------------------------------------- contract checks on Function.backward
class ReturnsGrad(Function):
    """y = 2x, whose backward returns whatever `ctx.make(g)` builds (to probe the engine's checks)."""

    @staticmethod
    def forward(ctx, x, make):
        ctx.make = make
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return ctx.make(g)


def test_broadcasting_is_undone_centrally(device):
    """An op may return its gradient in the broadcast (output) shape; the engine sums it back."""
    class BroadcastAdd(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, g):
            return g, g  # both in the output's shape

    a = mg.tensor(np.ones((2, 1, 3)), device=device, requires_grad=True)
    b = mg.tensor(np.ones((4, 1)), device=device, requires_grad=True)
    BroadcastAdd.apply(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.full((2, 1, 3), 4.0))
    np.testing.assert_array_equal(b.grad.numpy(), np.full((4, 1), 6.0))


@pytest.mark.parametrize("make,shape", [
    (lambda g: g[:1], (1, 3)),                                  # too small
    (lambda g: g.reshape(-1), (6,)),                            # same size, wrong shape
    (lambda g: g.reshape(3, 2), (3, 2)),                        # transposed shape
    (lambda g: np.ones((4, 3, 2)), (4, 3, 2)),                  # sums to (3, 2), not (2, 3)
    (lambda g: np.ones((2, 6)), (2, 6)),
])
def test_wrong_shaped_gradient_raises_naming_the_op(device, make, shape):
    x = mg.tensor(np.ones((2, 3)), device=device, requires_grad=True)
    y = ReturnsGrad.apply(x, make=lambda g: mg.tensor(make(g), dtype="float64", device=device).data)
    with pytest.raises(RuntimeError, match=rf"ReturnsGrad returned a gradient of shape {re_shape(shape)} "
                                           r"for an input of shape \(2, 3\)"):
        y.sum().backward()


def re_shape(shape):
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


def test_sum_to_is_the_adjoint_of_broadcasting():
    g = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(sum_to(g, (3, 1)), g.sum(axis=(0, 2)).reshape(3, 1))
    np.testing.assert_array_equal(sum_to(g, (4,)), g.sum(axis=(0, 1)))
    np.testing.assert_array_equal(sum_to(g, ()), g.sum())
    assert sum_to(g, (2, 3, 4)) is g
    assert sum_to(np.ones(6), (2, 3)).shape != (2, 3)  # not a broadcast: left for the engine to report


def test_wrong_dtype_gradient_raises(device):
    x = mg.tensor([1.0, 2.0], device=device, requires_grad=True)  # float32
    y = ReturnsGrad.apply(x, make=lambda g: g.astype("float64"))
    with pytest.raises(RuntimeError, match="ReturnsGrad returned a float64 gradient for a float32 input"):
        y.sum().backward()


def test_wrong_number_of_gradients_raises(device):
    class TwoInputs(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g  # one gradient for two inputs

    a = mg.tensor([1.0], device=device, requires_grad=True)
    b = mg.tensor([2.0], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"TwoInputs.backward returned 1 gradient\(s\) for 2 input\(s\)"):
        TwoInputs.apply(a, b).sum().backward()


def test_none_gradient_means_zero_and_does_not_stall_the_graph(device):
    """A backward may return None for an input (a zero gradient); other paths through it still count."""
    x = mg.tensor([1.0, 2.0], dtype="float64", device=device, requires_grad=True)
    h = x * 3.0  # a non-leaf reached by two paths, one of which returns None
    y = ReturnsGrad.apply(h, make=lambda g: None).sum() + (h * h).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 18.0 * x.numpy(), rtol=1e-15)
    z = mg.tensor([1.0], device=device, requires_grad=True)
    ReturnsGrad.apply(z * 2.0, make=lambda g: None).sum().backward()
    assert z.grad is None  # nothing reached it (torch leaves it None as well)


# ---------------------------------------------------------------- memory: saved arrays, retain_graph
class SavesScratch(Function):
    """y = x * 2, saving a scratch array it allocates, with a weakref to it for the test."""

    refs = []

    @staticmethod
    def forward(ctx, x):
        scratch = x * 2
        SavesScratch.refs.append(weakref.ref(scratch))
        ctx.save_for_backward(scratch)
        return x * 2

    @staticmethod
    def backward(ctx, g):
        (scratch,) = ctx.saved
        return g * 2


def test_saved_arrays_are_released_after_backward(device):
    if device != "cpu":
        pytest.skip("weakrefs to CuPy arrays are not needed to show the engine frees ctx.saved")
    SavesScratch.refs.clear()
    x = mg.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = SavesScratch.apply(x).sum()
    assert SavesScratch.refs[0]() is not None  # alive while the graph may still be used
    y.backward()
    gc.collect()
    assert SavesScratch.refs[0]() is None  # freed right after backward, though y is still alive
    assert y.grad_fn is not None


def test_retain_graph_keeps_saved_arrays(device):
    SavesScratch.refs.clear()
    x = mg.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = (SavesScratch.apply(x) * x).sum()
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0])
    if device == "cpu":
        assert SavesScratch.refs[0]() is not None
    y.backward()  # second pass through the same graph: gradients add up
    np.testing.assert_array_equal(x.grad.numpy(), [8.0, 16.0])
    with pytest.raises(RuntimeError, match="a second time.*retain_graph=True"):
        y.backward()


def test_second_backward_without_retain_graph_raises(device):
    x = mg.tensor([1.0, 2.0], device=device, requires_grad=True)
    h = x.exp()
    y = (h * h).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"backward through \w+ a second time.*retain_graph=True"):
        y.backward()
    z = (h * 2.0).sum()  # a new graph that reaches the freed part
    with pytest.raises(RuntimeError, match="a second time"):
        z.backward()


# ---------------------------------------------------------------- grad modes
def test_no_grad_context_manager_and_nesting(device):
    x = mg.tensor([1.0], device=device, requires_grad=True)
    assert mg.is_grad_enabled()
    with mg.no_grad():
        assert not mg.is_grad_enabled()
        y = x * 2.0
        assert not y.requires_grad and y.grad_fn is None
        with mg.enable_grad():
            z = x * 2.0
            assert z.requires_grad and z.grad_fn is not None
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()
    with mg.set_grad_enabled(False):
        assert not (x + 1.0).requires_grad
    assert (x + 1.0).requires_grad


def test_no_grad_as_decorator_restores_mode_on_error(device):
    @mg.no_grad()
    def f(t):
        assert not mg.is_grad_enabled()
        return t * 2.0

    @mg.no_grad()
    def boom():
        raise ValueError("inside")

    x = mg.tensor([1.0], device=device, requires_grad=True)
    assert not f(x).requires_grad
    assert mg.is_grad_enabled()
    with pytest.raises(ValueError):
        boom()
    assert mg.is_grad_enabled()

    @mg.enable_grad()
    def g(t):
        return t * 2.0

    with mg.no_grad():
        assert g(x).requires_grad


# ---------------------------------------------------------------- anomaly mode
def test_detect_anomaly_in_forward_names_the_op(device):
    x = mg.tensor([-1.0, 1.0], device=device, requires_grad=True)
    with mg.detect_anomaly():
        assert mg.is_anomaly_enabled()
        with pytest.raises(RuntimeError, match="forward output of Log contains NaN"), np.errstate(invalid="ignore"):
            x.log()
    assert not mg.is_anomaly_enabled()
    with np.errstate(invalid="ignore"):
        assert np.isnan(x.log().numpy()[0])  # outside the block: no check


def test_detect_anomaly_in_backward_names_the_op(device):
    x = mg.tensor([0.0, 4.0], device=device, requires_grad=True)
    with mg.detect_anomaly():
        y = x.sqrt().sum()  # finite forward; d sqrt/dx at 0 is inf
        with pytest.raises(RuntimeError, match=r"gradient computed by Sqrt\.backward contains NaN or Inf"), \
                np.errstate(divide="ignore"):
            y.backward()


# ---------------------------------------------------------------- multi-output Functions
class SinCos(Function):
    """Two outputs from one node: (sin x, cos x);  dx = g_sin cos x - g_cos sin x"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sin(x), np.cos(x)

    @staticmethod
    def backward(ctx, g_sin, g_cos):
        (x,) = ctx.saved
        return g_sin * np.cos(x) - g_cos * np.sin(x)


def test_multi_output_function():
    x = mg.tensor([0.3, 1.2], dtype="float64", requires_grad=True)
    s, c = SinCos.apply(x)
    assert s.grad_fn is c.grad_fn
    (s * 2.0 + c * c).sum().backward()
    a = x.numpy()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.cos(a) - 2 * np.cos(a) * np.sin(a), rtol=1e-14)
    # only one output used: the other gets a zero gradient
    x.grad = None
    s, c = SinCos.apply(x)
    c.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), -np.sin(a), rtol=1e-14)
    # gradcheck handles tuples of outputs
    gradcheck(lambda t: SinCos.apply(t), x)
    with mg.no_grad():
        s, c = SinCos.apply(x)
    assert not s.requires_grad and not c.requires_grad


def test_retain_grad_on_outputs_of_a_multi_output_function():
    x = mg.tensor([0.3, 1.2], dtype="float64", requires_grad=True)
    s, c = SinCos.apply(x)
    c.retain_grad()
    s.retain_grad()
    c.retain_grad()  # twice: still one gradient
    (s * 2.0 + c * 3.0).sum().backward()
    np.testing.assert_array_equal(s.grad.numpy(), [2.0, 2.0])
    np.testing.assert_array_equal(c.grad.numpy(), [3.0, 3.0])
    s, c = SinCos.apply(x)
    c.retain_grad()
    s.sum().backward()
    assert c.grad is None  # no gradient reached c


# ---------------------------------------------------------------- retain_grad, detach, leaves
def test_retain_grad_on_non_leaf(device):
    x = mg.tensor([1.0, 2.0], device=device, requires_grad=True)
    h = x * 3.0
    h.retain_grad()
    k = x * 5.0  # not retained
    y = (h * h + k).sum()
    y.backward()
    np.testing.assert_array_equal(h.grad.numpy(), 2 * h.numpy())
    assert k.grad is None
    assert not h.is_leaf and x.is_leaf


def test_detach_shares_memory_and_cuts_the_graph(device):
    x = mg.tensor([1.0, 2.0], device=device, requires_grad=True)
    h = x * 2.0
    d = h.detach()
    assert d.is_leaf and not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d.data, h.data) if device == "cpu" else d.data is h.data
    y = (h * d).sum()  # d is a constant: dy/dx = 2 * d
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0])


def test_integer_tensors_cannot_require_grad(device):
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients.*int64"):
        mg.tensor([1, 2], device=device, requires_grad=True)
    with pytest.raises(TypeError, match="only floating-point"):
        mg.arange(3, device=device).requires_grad_()
    with pytest.raises(TypeError, match="only floating-point"):
        mg.zeros(2, dtype="int64", device=device, requires_grad=True)


def test_backward_on_non_scalar_explains_itself(device):
    y = mg.tensor([1.0, 2.0], device=device, requires_grad=True) * 2.0
    with pytest.raises(RuntimeError, match=r"only for one-element \(scalar\) outputs.*shape \(2,\).*y\.sum\(\)|"
                                           r"only for one-element \(scalar\) outputs.*loss = y\.sum\(\)"):
        y.backward()


def test_backward_on_tensor_that_does_not_require_grad(device):
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.tensor([1.0], device=device).sum().backward()


# ---------------------------------------------------------------- version counter
def test_inplace_change_of_a_saved_input_makes_backward_raise(device):
    w = mg.tensor([1.0, 2.0], device=device, requires_grad=True)
    x = mg.tensor([3.0, 4.0], device=device)
    y = (w * x).sum()  # Mul saved x
    with mg.no_grad():
        x.add_(1.0)
    assert x._version == 1
    with pytest.raises(RuntimeError, match=r"an input of Mul \(shape \(2,\)\) was modified in place"):
        y.backward()


def test_inplace_change_through_a_view_and_detach_is_seen(device):
    w = mg.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = (w.exp() * 2.0).sum()  # Exp saved its output
    e = y.grad_fn  # noqa: F841  (the graph is alive)
    with mg.no_grad():
        w.detach().mul_(3.0)  # detach shares the version counter
    assert w._version == 1
    z = (w * w).sum()
    with mg.no_grad():
        w.reshape(2, 1)[0, 0] = 5.0  # a view shares it too
    assert w._version == 2
    with pytest.raises(RuntimeError, match="modified in place"):
        z.backward()
