"""In-place safety: every in-place write bumps a version counter, and backward refuses stale saved values."""
import numpy as np
import pytest

import minigrad as mg


def _graph_using(w, device):
    """A loss whose backward needs w's current values (Mul saves both operands)."""
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0]], device=device)
    return (x * w).sum()


INPLACE_WRITES = {
    "setitem": lambda t: t.__setitem__((0, 0), 5.0),
    "add_": lambda t: t.add_(1.0),
    "sub_": lambda t: t.sub_(1.0),
    "mul_": lambda t: t.mul_(2.0),
    "div_": lambda t: t.div_(2.0),
    "zero_": lambda t: t.zero_(),
    "fill_": lambda t: t.fill_(3.0),
    "copy_": lambda t: t.copy_(mg.ones(2, 2)),
    "clamp_": lambda t: t.clamp_(-0.1, 0.1),
    "scatter_": lambda t: t.scatter_(0, mg.tensor([[1, 0]], device=t.device), 7.0),
    "scatter_add_": lambda t: t.scatter_add_(0, mg.tensor([[1, 0]], device=t.device), mg.ones(1, 2, device=t.device)),
}


@pytest.mark.parametrize("name", sorted(INPLACE_WRITES))
def test_each_inplace_write_bumps_version_and_backward_refuses(name, device):
    w = mg.randn(2, 2, requires_grad=True, device=device)
    loss = _graph_using(w, device)
    v0 = w._version
    with mg.no_grad():
        INPLACE_WRITES[name](w)
    assert w._version == v0 + 1
    with pytest.raises(RuntimeError, match=r"Mul.*version 0.*version 1"):
        loss.backward()


def test_optimizer_step_then_backward_raises(device):
    optim = pytest.importorskip("minigrad.optim")
    w = mg.randn(2, 2, requires_grad=True, device=device)
    opt = optim.SGD([w], lr=0.1)
    loss = _graph_using(w, device)
    loss.backward(retain_graph=True)
    opt.step()  # changes w in place
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_write_through_a_view_is_detected(device):
    """A transpose shares memory with its base, so writing the base invalidates users of the view."""
    w = mg.randn(2, 3, requires_grad=True, device=device)
    x = mg.randn(4, 3, device=device)
    loss = (x @ w.T).sum()  # MatMul saved the view w.T
    with mg.no_grad():
        w.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_modified_output_is_detected(device):
    """exp saves its output; changing that output in place must not yield a wrong gradient."""
    x = mg.randn(3, requires_grad=True, device=device)
    y = x.exp()
    loss = y.sum()
    with mg.no_grad():
        y.add_(1.0)
    with pytest.raises(RuntimeError, match="Exp"):
        loss.backward()


def test_unrelated_inplace_write_does_not_block_backward(device):
    w = mg.randn(2, 2, requires_grad=True, device=device)
    other = mg.zeros(3, device=device)
    loss = _graph_using(w, device)
    other.add_(1.0)
    loss.backward()
    np.testing.assert_allclose(w.grad.numpy(), [[1.0, 2.0], [3.0, 4.0]])


def test_inplace_on_leaf_requiring_grad_is_refused_in_grad_mode(device):
    w = mg.randn(2, requires_grad=True, device=device)
    with pytest.raises(RuntimeError, match="add_.*leaf"):
        w.add_(1.0)


def test_inplace_on_graph_tensor_is_refused(device):
    w = mg.randn(2, requires_grad=True, device=device)
    y = w * 2
    with pytest.raises(RuntimeError, match="mul_.*graph"):
        y.mul_(3.0)


def test_load_state_dict_bumps_version(device):
    lin_w = mg.nn.Parameter(mg.randn(2, 2, device=device))

    class M(mg.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = lin_w

    m = M()
    loss = _graph_using(m.w, device)
    m.load_state_dict({"w": np.ones((2, 2), dtype=np.float32)})
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_write_to_an_input_the_op_did_not_save_is_allowed(device):
    """Add saves nothing, so (as in torch) changing its input later cannot spoil its gradient."""
    w = mg.randn(3, requires_grad=True, device=device)
    loss = (w + 1.0).sum()
    with mg.no_grad():
        w.mul_(5.0)
    loss.backward()
    np.testing.assert_allclose(w.grad.numpy(), np.ones(3))
