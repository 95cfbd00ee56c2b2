"""Tensor.register_hook: hook(grad) sees (and may replace) the gradient of a tensor, as in torch."""
import gc

import numpy as np
import pytest

import minigrad as mg
from minigrad import autograd
from minigrad import functional as F
from minigrad.ops.recurrent import lstm_sequence


def test_leaf_hook_sees_the_summed_gradient_once_and_can_replace_it(device):
    x = mg.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.numpy().copy()))
    ((x * x).sum() + x.sum()).backward()  # two paths into x: the hook gets their sum, once
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], [3.0, 5.0, 7.0])
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 5.0, 7.0])

    times_ten = x.register_hook(lambda g: g * 10)
    x.grad = None
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [20.0, 20.0, 20.0])
    assert len(seen) == 2  # hooks run in registration order: the first still saw the original

    handle.remove()
    times_ten.remove()
    x.grad = None
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])
    assert len(seen) == 2


def test_hook_on_the_root_leaf(device):
    x = mg.tensor(2.0, device=device, requires_grad=True)
    x.register_hook(lambda g: g * 3)
    x.backward()
    assert float(x.grad.numpy()) == 3.0


def test_non_leaf_hook_changes_what_flows_back_and_what_retain_grad_stores(device):
    a = mg.tensor([1.0, -1.0], device=device, requires_grad=True)
    b = a * 3
    b.retain_grad()
    b.register_hook(lambda g: g * 2)
    (b * b).sum().backward()
    # d/db (b*b) = 2b = [6, -6]; the hook doubles it; retain_grad stores the hooked value (torch's order)
    np.testing.assert_array_equal(b.grad.numpy(), [12.0, -12.0])
    np.testing.assert_array_equal(a.grad.numpy(), [36.0, -36.0])


def test_hook_on_one_output_of_a_multi_output_op(device):
    """Zeroing c_n's gradient with a hook gives the gradients of the loss without the c_n term."""
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in [(4, 2, 3), (8, 3), (8, 2), (8,), (8,)]]

    def grads(hook):
        x, w_ih, w_hh, b_ih, b_hh = [mg.tensor(a, device=device, requires_grad=True) for a in arrays]
        h0 = c0 = mg.zeros(2, 2, dtype="float64", device=device)
        out, h_n, c_n = lstm_sequence(x, h0, c0, w_ih, w_hh, b_ih, b_hh)
        if hook:
            c_n.register_hook(lambda g: g * 0)
            (out.sum() + (c_n * c_n).sum()).backward()
        else:
            out.sum().backward()
        return [t.grad.numpy() for t in (x, w_ih, w_hh, b_ih, b_hh)]

    for got, want in zip(grads(True), grads(False)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_a_hook_writing_into_its_argument_changes_nothing_else(device):
    """The hook gets a copy: add's backward hands the same array to both operands."""
    a = mg.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = a * 1.0
    c = b + b

    def scribble(g):
        g.data[...] = 100.0

    b.register_hook(scribble)
    c.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 2.0])


def test_hook_errors(device):
    with pytest.raises(RuntimeError, match="register_hook: cannot register a hook on a tensor that does not "
                                           "require grad"):
        mg.ones(2, device=device).register_hook(lambda g: g)
    x = mg.ones(2, device=device, requires_grad=True)
    with pytest.raises(TypeError, match="register_hook: expected a callable hook"):
        x.register_hook(3)
    y = x * 2
    y.register_hook(lambda g: g[:1])
    with pytest.raises(RuntimeError, match=r"register_hook: the hook returned a gradient float32\[1\] for a "
                                           r"tensor of float32\[2\]"):
        y.sum().backward()
    y = x * 2
    y.register_hook(lambda g: 5)
    with pytest.raises(TypeError, match="register_hook: a hook must return None or a Tensor, got int"):
        y.sum().backward()
    y = x * 2
    y.sum().backward()
    with pytest.raises(RuntimeError, match="backward: trying to backward through .* a second time"):  # graph freed
        y.register_hook(lambda g: g)


def test_leaf_hooks_do_not_keep_the_tensor_alive():
    x = mg.ones(3, requires_grad=True)
    x.register_hook(lambda g: g)
    key = id(x)
    assert key in autograd._leaf_hooks
    del x
    gc.collect()
    assert key not in autograd._leaf_hooks


def test_hooks_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    xv, wv = rng.standard_normal((4, 3)), rng.standard_normal((3, 5))
    mask = (rng.random((4, 5)) > 0.5).astype(np.float64)
    out = []
    for lib, make in ((mg, lambda a: mg.tensor(a, requires_grad=True)),
                      (torch, lambda a: torch.tensor(a, requires_grad=True))):
        x, w = make(xv), make(wv)
        h = (x @ w).tanh()
        m = lib.tensor(mask) if lib is torch else mg.tensor(mask)
        h.register_hook(lambda g, m=m: g * m)  # drop some units' gradients
        x.register_hook(lambda g: g - 1.0)
        (h * h).sum().backward()
        out.append((x.grad.numpy() if lib is mg else x.grad.detach().numpy(),
                    w.grad.numpy() if lib is mg else w.grad.detach().numpy()))
    for a, b in zip(*out):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- module forward hooks
def test_forward_hooks_see_every_layer_and_can_be_removed(device):
    from minigrad import nn

    mg.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).to(device)
    seen = []
    handles = [m.register_forward_hook(lambda m, args, out: seen.append((type(m).__name__, out.shape))) for m in net]
    net(mg.randn(5, 3, device=device))
    assert seen == [("Linear", (5, 4)), ("Tanh", (5, 4)), ("Linear", (5, 2))]
    for h in handles:
        h.remove()
    net(mg.randn(5, 3, device=device))
    assert len(seen) == 3


def test_forward_hooks_can_replace_input_and_output_and_gradients_follow(device):
    from minigrad import nn

    mg.manual_seed(0)
    lin = nn.Linear(3, 2, dtype=mg.float64).to(device)
    x = mg.randn(4, 3, dtype="float64", device=device, requires_grad=True)
    pre = lin.register_forward_pre_hook(lambda m, args: (args[0] * 2.0,))
    post = lin.register_forward_hook(lambda m, args, out: out.tanh())
    y = lin(x)
    want = (F.linear(x * 2.0, lin.weight, lin.bias)).tanh()
    np.testing.assert_allclose(y.numpy(), want.numpy(), rtol=1e-15)
    y.sum().backward()
    g = x.grad.numpy().copy()
    x.grad = None
    want.sum().backward()
    np.testing.assert_allclose(g, x.grad.numpy(), rtol=1e-12)
    pre.remove()
    post.remove()
    np.testing.assert_allclose(lin(x).numpy(), F.linear(x, lin.weight, lin.bias).numpy(), rtol=1e-15)
    with pytest.raises(TypeError, match="register_forward_hook: expected a callable hook"):
        lin.register_forward_hook(None)


def test_forward_hooks_match_torch():
    torch = pytest.importorskip("torch")
    from minigrad import nn

    rng = np.random.default_rng(3)
    w, b, xv = rng.standard_normal((2, 3)), rng.standard_normal(2), rng.standard_normal((4, 3))
    results = []
    for lib in ("mg", "torch"):
        if lib == "mg":
            lin = nn.Linear(3, 2, dtype=mg.float64)
            lin.load_state_dict({"weight": mg.tensor(w), "bias": mg.tensor(b)})
            x = mg.tensor(xv, requires_grad=True)
        else:
            lin = torch.nn.Linear(3, 2).double()
            lin.load_state_dict({"weight": torch.tensor(w), "bias": torch.tensor(b)})
            x = torch.tensor(xv, requires_grad=True)
        lin.register_forward_pre_hook(lambda m, args: (args[0] - 1.0,))
        lin.register_forward_hook(lambda m, args, out: out * args[0].sum())
        (lin(x) ** 2).sum().backward()
        grad = x.grad.numpy() if lib == "mg" else x.grad.detach().numpy()
        results.append((grad, lin.weight.grad.numpy() if lib == "mg" else lin.weight.grad.detach().numpy()))
    for a, c in zip(*results):
        np.testing.assert_allclose(a, c, rtol=1e-12)
