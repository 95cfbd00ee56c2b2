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


INPLACE_ON_NON_LEAF = {  # name: (in-place call, out-of-place twin), on y (a non-leaf) and w (a leaf)
    "add_": (lambda y, w: y.add_(w, alpha=2), lambda y, w: y + 2 * w),
    "sub_": (lambda y, w: y.sub_(w * w), lambda y, w: y - w * w),
    "mul_": (lambda y, w: y.mul_(w), lambda y, w: y * w),
    "div_": (lambda y, w: y.div_(3.0), lambda y, w: y / 3.0),
    "clamp_": (lambda y, w: y.clamp_(-0.5, 0.5), lambda y, w: y.clamp(-0.5, 0.5)),
    "masked_fill_": (lambda y, w: y.masked_fill_(w > 0, 0.25), lambda y, w: y.masked_fill(w > 0, 0.25)),
    "index_fill_": (lambda y, w: y.index_fill_(0, mg.tensor([1], device=w.device), -1.0),
                    lambda y, w: y.index_fill(0, mg.tensor([1], device=w.device), -1.0)),
    "index_copy_": (lambda y, w: y.index_copy_(0, mg.tensor([2, 0], device=w.device), w[:2] * 5),
                    lambda y, w: y.index_copy(0, mg.tensor([2, 0], device=w.device), w[:2] * 5)),
    "scatter_add_": (lambda y, w: y.scatter_add_(0, mg.tensor([0, 0], device=w.device), w[1:] * w[1:]),
                     lambda y, w: y.scatter_add(0, mg.tensor([0, 0], device=w.device), w[1:] * w[1:])),
    "masked_scatter_": (lambda y, w: y.masked_scatter_(w < 0, w.exp()), lambda y, w: y.masked_scatter(w < 0, w.exp())),
}


@pytest.mark.parametrize("name", list(INPLACE_ON_NON_LEAF))
def test_inplace_on_a_non_leaf_is_recorded_like_its_out_of_place_twin(device, name):
    """y.add_(...) on a tensor in a graph becomes a node of the graph (as in torch): same values, same gradients."""
    inplace, twin = INPLACE_ON_NON_LEAF[name]
    w0 = np.array([0.3, -0.7, 1.2], dtype=np.float64)
    got = []
    for fn in (inplace, twin):
        w = mg.tensor(w0, device=device, requires_grad=True)
        y = w.sin()  # a non-leaf; Sin saved w, not y, so writing into y is safe
        out = fn(y, w)
        assert (out is y) == (fn is inplace)
        (out * mg.tensor([1.0, 2.0, 3.0], dtype="float64", device=device)).sum().backward()
        got.append((out.numpy().copy(), w.grad.numpy().copy()))
    np.testing.assert_allclose(got[0][0], got[1][0], rtol=1e-12)
    np.testing.assert_allclose(got[0][1], got[1][1], rtol=1e-12)


def test_recorded_inplace_with_a_saved_output_or_a_view_is_refused(device):
    w = mg.randn(3, requires_grad=True, device=device)
    y = w.exp()  # Exp saves its output: writing into it would corrupt exp's backward
    y.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified in place|changed in place|version"):
        y.sum().backward()
    z = w * 1.0
    with pytest.raises(RuntimeError, match="masked_fill_: .*view"):
        z[:2].masked_fill_(mg.tensor([True, False], device=device), 0.0)


def test_setitem_copy_and_fill_on_a_graph_tensor_are_refused(device):
    w = mg.randn(2, requires_grad=True, device=device)
    y = w * 2
    for call, name in ((lambda: y.__setitem__(0, 1.0), "__setitem__"), (lambda: y.copy_(mg.ones(2)), "copy_"),
                       (lambda: y.fill_(0.0), "fill_"), (lambda: y.zero_(), "zero_")):
        with pytest.raises(RuntimeError, match=f"{name}.*graph"):
            call()


@pytest.mark.parametrize("write", [
    lambda out, h: out.__setitem__(0, h),
    lambda out, h: out.add_(h),
    lambda out, h: out.copy_(h),
    lambda out, h: out.index_copy_(0, mg.tensor([1], device=h.device), h.unsqueeze(0)[:, :1].expand(1, 3)),
    lambda out, h: out.masked_scatter_(mg.ones(2, 3, dtype="bool", device=h.device), mg.cat([h, h])),
    lambda out, h: out.fill_(h[0]),
], ids=["setitem", "add_", "copy_", "index_copy_", "masked_scatter_", "fill_"])
def test_writing_a_value_that_requires_grad_into_a_plain_tensor_is_refused(device, write):
    """out[t] = h with out = zeros(...) would silently drop h's gradient (torch would track it): refuse."""
    h = mg.randn(3, requires_grad=True, device=device) * 2
    out = mg.zeros(2, 3, device=device)
    with pytest.raises(RuntimeError, match="requires grad but float32\\[2, 3\\] .* does not, so its gradient "
                                           "would be lost; .*mg.stack"):
        write(out, h)
    with mg.no_grad():  # no gradient wanted: allowed
        write(out, h)


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
