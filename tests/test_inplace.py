"""In-place safety: every in-place write bumps a version counter, and backward refuses stale saved values."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

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
    # the writes that have no op of their own: recorded as SetItem (x with x[index] = v)
    "setitem": (lambda y, w: y.__setitem__(1, w[0] * 3), lambda y, w: mg.cat([y[:1], (w[0] * 3).reshape(1), y[2:]])),
    "setitem mask": (lambda y, w: y.__setitem__(w > 0, 0.5), lambda y, w: mg.where(w > 0, 0.5, y)),
    "setitem index": (lambda y, w: y.__setitem__(mg.tensor([2, 0], device=w.device), w[1:] * w[1:]),
                      lambda y, w: mg.stack([(w[1:] * w[1:])[1], y[1], (w[1:] * w[1:])[0]])),
    "copy_": (lambda y, w: y.copy_(w.exp()), lambda y, w: w.exp() + 0 * y),
    "fill_": (lambda y, w: y.fill_(w[2]), lambda y, w: w[2].expand(3) + 0 * y),
    "zero_": (lambda y, w: y.zero_(), lambda y, w: 0 * y),
}


@pytest.mark.parametrize("name", list(INPLACE_ON_NON_LEAF))
def test_inplace_on_a_non_leaf_is_recorded_like_its_out_of_place_twin(device, name):
    """y.add_(...), y[i] = v, ... on a tensor in a graph become nodes of the graph (as in torch): same values,
    same gradients as the out-of-place twin."""
    inplace, twin = INPLACE_ON_NON_LEAF[name]
    w0 = np.array([0.3, -0.7, 1.2], dtype=np.float64)
    got = []
    for fn in (inplace, twin):
        w = mg.tensor(w0, device=device, requires_grad=True)
        y = w.sin()  # a non-leaf; Sin saved w, not y, so writing into y is safe
        out = fn(y, w)
        assert (out is y) == (fn is inplace) or (out is None and fn is inplace)  # (__setitem__ returns None)
        out = y if fn is inplace else out
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
    z = w * 1.0  # a write through a view of a non-leaf is recorded as a write into z (torch's CopySlices)
    z[:2].masked_fill_(mg.tensor([True, False], device=device), 0.0)
    z.sum().backward()
    assert w.grad.tolist() == [0.0, 1.0, 1.0]


def test_building_a_tensor_by_assignment_in_a_loop_tracks_the_gradient(device):
    """out = zeros(...); out[t] = h (a learner's RNN loop): out joins the graph, as in torch; values and W.grad."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w0, h0 = rng.standard_normal((3, 3)), rng.standard_normal((2, 3))
    W = mg.tensor(w0, device=device, requires_grad=True)
    h, out = mg.tensor(h0, device=device), mg.zeros(4, 2, 3, dtype="float64", device=device)
    tW = torch.tensor(w0, requires_grad=True)
    th, tout = torch.tensor(h0), torch.zeros(4, 2, 3, dtype=torch.float64)
    for t in range(4):
        h = (h @ W).tanh()
        out[t] = h
        th = (th @ tW).tanh()
        tout[t] = th
    assert out.requires_grad and out.grad_fn is not None
    (out ** 2).sum().backward()
    (tout ** 2).sum().backward()
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(W.grad.numpy(), tW.grad.numpy(), rtol=1e-10)


def test_a_buffer_read_and_written_step_by_step_gets_torch_gradients(device):
    """hs[t + 1] = tanh(hs[t].clone() @ W): each step reads the slot written by the one before (the engine
    sends each read's gradient to the value it saw: autograd._resolve_inputs). Without the clone, matmul
    saves a view of hs, which the next write changes: refused, as torch refuses it."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    w0, h0 = rng.standard_normal((3, 3)) * 0.5, rng.standard_normal((2, 3))
    W = mg.tensor(w0, device=device, requires_grad=True)
    tW = torch.tensor(w0, requires_grad=True)
    hs = mg.zeros(5, 2, 3, dtype="float64", device=device)
    ths = torch.zeros(5, 2, 3, dtype=torch.float64)
    hs[0], ths[0] = mg.tensor(h0, device=device), torch.tensor(h0)
    for t in range(4):
        hs[t + 1] = (hs[t].clone() @ W).tanh()
        ths[t + 1] = (ths[t].clone() @ tW).tanh()
    (hs[1:] ** 2).sum().backward()
    (ths[1:] ** 2).sum().backward()
    np.testing.assert_allclose(hs.numpy(), ths.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(W.grad.numpy(), tW.grad.numpy(), rtol=1e-10)
    hs = mg.zeros(3, 2, 3, dtype="float64", device=device)
    for t in range(2):
        hs[t + 1] = (hs[t] @ W).tanh()
    with pytest.raises(RuntimeError, match="MatMul .* modified in place"):
        hs.sum().backward()


@pytest.mark.parametrize("write", [
    lambda out, h: out.add_(h),
    lambda out, h: out.copy_(h),
    lambda out, h: out.index_copy_(0, mg.tensor([1], device=h.device), h.reshape(1, 3)),
    lambda out, h: out.masked_scatter_(mg.ones(2, 3, dtype="bool", device=h.device), mg.cat([h, h])),
    lambda out, h: out.fill_(h[0]),
], ids=["add_", "copy_", "index_copy_", "masked_scatter_", "fill_"])
def test_a_value_that_requires_grad_written_into_a_plain_tensor_keeps_its_gradient(device, write):
    """(Before this was recorded, the write was done without a graph and w's gradient was silently lost.)"""
    w = mg.tensor([0.5, -1.0, 2.0], device=device, requires_grad=True)
    out = mg.zeros(2, 3, device=device)
    write(out, w * 2)
    assert out.requires_grad and out.grad_fn is not None
    out.sum().backward()
    assert w.grad is not None and np.abs(w.grad.numpy()).sum() > 0


def test_writing_into_a_view_of_a_plain_tensor_is_refused(device):
    base = mg.zeros(2, 3, device=device)
    row = base[0]  # a view: recording the write on `row` would change `base` without a graph
    value = mg.ones(1, device=device, requires_grad=True).sum()
    with pytest.raises(RuntimeError, match="__setitem__: writing a value that requires grad .* view"):
        row[1] = value
    with mg.no_grad():  # no gradient wanted: allowed
        row[1] = value
    assert base.numpy()[0, 1] == 1.0


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


# ---------------------------------------------------------------- random programs of reads and writes vs torch
READS = {  # f(x) -> a tensor that joins the loss; some save x's memory for their backward (torch refuses too)
    "x + 1": lambda x: x + 1,
    "x * 3": lambda x: x * 3.0,
    "sin(x)": lambda x: x.sin(),  # saves x
    "exp(x)": lambda x: x.exp(),  # saves its output, not x
    "x[1:3]": lambda x: x[1:3] * 1.0,
    "x.sum()": lambda x: x.sum() * 1.0,
    "x * x": lambda x: x * x,  # saves x
}
WRITES_IN_PLACE = {  # (in place on x, the out-of-place value it stands for); lib is minigrad or torch
    "add_": (lambda lib, x, a: x.add_(a * 0.5), lambda lib, x, a: x + a * 0.5),
    "mul_ 2": (lambda lib, x, a: x.mul_(2.0), lambda lib, x, a: x * 2.0),
    "relu_": (lambda lib, x, a: x.relu_(), lambda lib, x, a: x.relu()),
    "tanh_": (lambda lib, x, a: x.tanh_(), lambda lib, x, a: x.tanh()),
    "clamp_": (lambda lib, x, a: x.clamp_(-0.5, 1.5), lambda lib, x, a: x.clamp(-0.5, 1.5)),
    "x[1] = a[0]": (lambda lib, x, a: x.__setitem__(1, a[0] * 3), lambda lib, x, a: lib.cat([x[:1], (a[0] * 3).reshape(1), x[2:]])),
    "masked_fill_": (lambda lib, x, a: x.masked_fill_(a > 0, 0.25), lambda lib, x, a: x.masked_fill(a > 0, 0.25)),
    "copy_": (lambda lib, x, a: x.copy_(a.cos()), lambda lib, x, a: a.cos() + 0 * x),
}


def _run_program(lib, a0, steps, inplace):
    """The program on a fresh leaf a: x = a * 2, then each step reads x or writes it; returns a's gradient."""
    if lib is mg:
        a = mg.tensor(a0, requires_grad=True)
    else:
        a = lib.tensor(a0, requires_grad=True)
    x = a * 2
    parts = []
    for kind, name in steps:
        if kind == "read":
            parts.append(READS[name](x).sum())
        else:
            write, twin = WRITES_IN_PLACE[name]
            if inplace:
                write(lib, x, a)
            else:
                x = twin(lib, x, a)
    loss = x.sum()
    for p in parts:
        loss = loss + p
    loss.backward()
    return a.grad.numpy() if lib is mg else a.grad.detach().numpy()


@given(steps=st.lists(st.one_of(st.tuples(st.just("read"), st.sampled_from(sorted(READS))),
                                st.tuples(st.just("write"), st.sampled_from(sorted(WRITES_IN_PLACE)))),
                      min_size=1, max_size=6),
       a0=st.lists(st.floats(-2, 2, allow_nan=False).filter(lambda v: abs(v) > 0.05), min_size=4, max_size=4))
def test_random_programs_of_reads_and_in_place_writes_match_torch(steps, a0):
    """Every answer is the out-of-place program's gradient, or a refusal where torch refuses too.

    The reference is the same program with each write rebinding x out of place (x = x + ...), which
    defines the right gradient. minigrad running the in-place program must give exactly that, or
    raise; it may raise only where torch's in-place program raises too (a read that saved x's memory
    before a write changed it). minigrad may answer where torch refuses (relu_ twice), but then right.
    """
    torch = pytest.importorskip("torch")
    a0 = np.array(a0, dtype=np.float64)
    want = _run_program(torch, a0, steps, inplace=False)
    try:
        got = _run_program(mg, a0, steps, inplace=True)
    except RuntimeError as e:
        assert "modified in place" in str(e) or "changed in place" in str(e), e
        with pytest.raises(RuntimeError):
            _run_program(torch, a0, steps, inplace=True)
        return
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_resolved_edges_survive_a_second_backward(device):
    """retain_graph=True: the first backward points old edges at the shadow; the second finds them done."""
    a = mg.tensor([-1.0, 0.5, 2.0], dtype="float64", device=device, requires_grad=True)
    y = a * 2
    early = (y * 3.0).sum()  # read before the write (MulScalar saves nothing)
    y.relu_()
    loss = early + y.sum()
    loss.backward(retain_graph=True)
    once = a.grad.numpy().copy()
    np.testing.assert_allclose(once, [6.0, 8.0, 8.0])  # 3 * 2 everywhere, + 2 where a > 0
    loss.backward()
    np.testing.assert_allclose(a.grad.numpy(), 2 * once)


def test_a_write_into_read_only_memory_names_the_op(device):
    """expand() gives a view whose elements share memory: every in-place path refuses it naming the op, on
    every backend (NumPy marks the view read-only, CuPy has no such flag: the check is ours, as torch's)."""
    x = mg.ones(3, device=device).expand(2, 3)
    with pytest.raises(RuntimeError, match="masked_fill_: cannot write into float32\\[2, 3\\].* in place"):
        x.masked_fill_(mg.tensor([True, False, True], device=device), 0.0)
    with pytest.raises(RuntimeError, match="relu_: cannot write into float32\\[2, 3\\].* in place"):
        x.relu_()
    with pytest.raises(RuntimeError, match="add_: cannot write into float32\\[2, 3\\].* same memory location"):
        x.add_(mg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device=device))  # rows would race for one row
    with pytest.raises(RuntimeError, match="__setitem__: cannot write into float32\\[2, 3\\].* in place"):
        x[0] = mg.zeros(3, device=device, requires_grad=True)  # the recorded path
    np.testing.assert_array_equal(x.numpy(), np.ones((2, 3)))  # nothing was written
    assert x.unsqueeze_(0).shape == (1, 2, 3)  # a shape-only change writes nothing: allowed (as torch)
