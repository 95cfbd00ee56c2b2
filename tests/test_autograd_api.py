"""torch.autograd's functional API (grad, backward, functional.jacobian/vjp/jvp, gradcheck) and the
Tensor autograd methods around it (backward(inputs=), retains_grad, post-accumulate-grad hooks,
detach_, grad_fn.next_functions / name()), against torch where it is installed."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import autograd
from minigrad.autograd.functional import jacobian, jvp, vjp
from minigrad.testing import GradcheckError
from minigrad.testing import strategies as mst


def leaf(values, device="cpu", dtype="float64"):
    return mg.tensor(values, dtype=dtype, device=device, requires_grad=True)


def graph(device, dtype="float64"):
    """x, w leaves; y = x * w (retained); z = sum(y * y)."""
    x = leaf([1.0, -2.0, 3.0], device, dtype)
    w = leaf([0.5, 1.5, -1.0], device, dtype)
    y = x * w
    return x, w, y, (y * y).sum()


# ---------------------------------------------------------------- autograd.grad
def test_grad_returns_gradients_and_leaves_dot_grad_alone(device):
    x, w, y, z = graph(device)
    gx, gw = mg.autograd.grad(z, [x, w])
    np.testing.assert_allclose(gx.numpy(), (2 * y * w).numpy())
    np.testing.assert_allclose(gw.numpy(), (2 * y * x).numpy())
    assert x.grad is None and w.grad is None
    assert not gx.requires_grad and gx.grad_fn is None and gx.dtype == np.float64


def test_grad_keeps_float32_and_works_for_a_non_leaf_input(device):
    x, w, y, z = graph(device, "float32")
    (gy,) = mg.autograd.grad(z, y)
    assert gy.dtype == np.float32 and gy.shape == (3,)
    np.testing.assert_allclose(gy.numpy(), 2 * y.numpy(), rtol=1e-6)
    # y's own node did not run and was not freed: the graph below y is still usable
    (gx,) = mg.autograd.grad(y.sum(), x)
    np.testing.assert_allclose(gx.numpy(), w.numpy())


def test_grad_matches_torch_with_hooks_retain_grad_and_pruning():
    torch = pytest.importorskip("torch")
    res = {}
    for lib in ("mg", "torch"):
        make = (lambda v: mg.tensor(v, dtype="float64", requires_grad=True)) if lib == "mg" else \
            (lambda v: torch.tensor(v, dtype=torch.float64, requires_grad=True))
        log = []
        x, w, u = make([1.0, 2.0]), make([3.0, -1.0]), make([0.5, 0.25])
        x.register_hook(lambda g: log.append("x") or g * 2)
        w.register_hook(lambda g: log.append("w"))  # w's branch is not needed for d/dx: never runs
        y = x * w
        y.retain_grad()
        y.register_hook(lambda g: log.append("y") or g * 3)
        z = (y * y).sum() + (u * u).sum()
        auto = mg.autograd if lib == "mg" else torch.autograd
        (gx,) = auto.grad(z, x, retain_graph=True)
        (gy,) = auto.grad(z, y)
        res[lib] = dict(gx=gx.detach().numpy(), gy=gy.detach().numpy(), log=log, xg=x.grad, wg=w.grad, ug=u.grad,
                        yg=y.grad.detach().numpy())
    m, t = res["mg"], res["torch"]
    np.testing.assert_allclose(m["gx"], t["gx"])
    np.testing.assert_allclose(m["gy"], t["gy"])
    assert m["log"] == t["log"] == ["y", "x", "y"]  # tensor hooks run, nearest first; w's never
    assert m["xg"] is t["xg"] is None and m["wg"] is t["wg"] is None and m["ug"] is t["ug"] is None
    np.testing.assert_allclose(m["yg"], t["yg"])  # torch fills a retain_grad()'ed tensor's .grad here too


def test_grad_of_several_outputs_with_grad_outputs_matches_torch():
    torch = pytest.importorskip("torch")
    a = np.array([[1.0, -2.0], [0.5, 3.0]])
    v = np.array([[1.0, 2.0], [-1.0, 0.5]])
    x = mg.tensor(a, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    ours = mg.autograd.grad([x.tanh(), (x * x).sum()], {"x": x}, [mg.tensor(v), None])
    theirs = torch.autograd.grad([tx.tanh(), (tx * tx).sum()], {"x": tx}, [torch.tensor(v), None])
    assert list(ours) == ["x"]
    np.testing.assert_allclose(ours["x"].numpy(), theirs["x"].numpy())
    # the same input twice: the same gradient twice
    gs = mg.autograd.grad((x * 3.0).sum(), (x, x))
    np.testing.assert_array_equal(gs[0].numpy(), gs[1].numpy())
    assert gs[0].data is not gs[1].data


def test_grad_through_a_multi_output_op_and_of_a_leaf_itself():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    a, b = x.unbind(0)
    (gb,) = mg.autograd.grad((b * a).sum(), b, retain_graph=True)
    np.testing.assert_array_equal(gb.numpy(), [1.0, 2.0])
    (gx,) = mg.autograd.grad(x, x, mg.ones(2, 2, dtype="float64") * 5.0)
    np.testing.assert_array_equal(gx.numpy(), np.full((2, 2), 5.0))
    assert x.grad is None


def test_grad_unused_inputs_allow_unused_and_materialize_grads(device):
    x, w, y, z = graph(device)
    u = leaf([1.0, 2.0], device)
    with pytest.raises(RuntimeError, match=r"grad: the differentiated Tensor at index 1 appears to not have been "
                                           r"used in the graph. Set allow_unused=True"):
        mg.autograd.grad(z, [x, u], retain_graph=True)
    gx, gu = mg.autograd.grad(z, [x, u], allow_unused=True, retain_graph=True)
    assert gu is None and gx is not None
    gx, gu = mg.autograd.grad(z, [x, u], materialize_grads=True)
    np.testing.assert_array_equal(gu.numpy(), [0.0, 0.0])
    assert gu.dtype == u.dtype
    with pytest.raises(ValueError, match="allow_unused to be True or not passed when materialize_grads=True"):
        mg.autograd.grad((x * 2).sum(), [x], allow_unused=False, materialize_grads=True)


def test_grad_refusals_name_the_function(device):
    x = leaf([1.0, 2.0], device)
    c = mg.tensor([1.0, 2.0], dtype="float64", device=device)
    y = x * 3.0
    with pytest.raises(RuntimeError, match=r"grad: grad can be implicitly created only for one-element \(scalar\) "
                                           r"outputs; output 0 has shape \(2,\)"):
        mg.autograd.grad(y, x)
    with pytest.raises(RuntimeError, match=r"grad: grad has shape \(3,\) but the tensor has shape \(2,\)"):
        mg.autograd.grad(y, x, mg.ones(3))
    with pytest.raises(RuntimeError, match="grad: got 2 grad_outputs for 1 output"):
        mg.autograd.grad(y, x, [mg.ones(2), mg.ones(2)])
    with pytest.raises(RuntimeError, match=r"grad: inputs\[0\] .* does not require grad"):
        mg.autograd.grad(y.sum(), c)
    with pytest.raises(RuntimeError, match="grad: element 0 of the outputs does not require grad"):
        mg.autograd.grad((c * 2).sum(), x)
    with pytest.raises(RuntimeError, match="grad: `inputs` argument to `grad\\(\\)` cannot be empty"):
        mg.autograd.grad(y.sum(), [])
    with pytest.raises(TypeError, match=r"grad: all inputs have to be Tensors, but inputs\[0\] is str"):
        mg.autograd.grad(y.sum(), ["x"])
    with pytest.raises(TypeError, match="grad: outputs must be a Tensor or a sequence of Tensors, got int"):
        mg.autograd.grad(3, x)
    with pytest.raises(NotImplementedError, match=r"grad\(create_graph=True\): .*no double backward.*"
                                                  r"finite differences.*minigrad.testing.gradcheck"):
        mg.autograd.grad(y.sum(), x, create_graph=True)
    with pytest.raises(NotImplementedError, match="is_grads_batched"):
        mg.autograd.grad(y.sum(), x, is_grads_batched=True)


def test_grad_frees_what_ran_unless_retain_graph(device):
    x = leaf([1.0, 2.0], device)
    y = x.exp()
    s = y.sum()
    mg.autograd.grad(s, x)
    with pytest.raises(RuntimeError, match="a second time"):
        mg.autograd.grad(s, x)
    s = x.exp().sum()
    mg.autograd.grad(s, x, retain_graph=True)
    (g,) = mg.autograd.grad(s, x)
    np.testing.assert_allclose(g.numpy(), np.exp([1.0, 2.0]))


def test_grad_works_under_no_grad_and_after_in_place_writes(device):
    x = leaf([1.0, 2.0, 3.0], device)
    h = x * 2.0
    out = (h * h).sum()
    with mg.no_grad():
        (g,) = mg.autograd.grad(out, x, retain_graph=True)
    np.testing.assert_allclose(g.numpy(), 8 * x.numpy())
    a = x * 1.0
    b = a.exp()  # used a before the write
    a.mul_(3.0)
    (ga,) = mg.autograd.grad((b + a).sum(), x)
    np.testing.assert_allclose(ga.numpy(), np.exp(x.numpy()) + 3.0)


# ---------------------------------------------------------------- backward(inputs=) and autograd.backward
def test_backward_inputs_accumulates_only_into_the_given_tensors(device):
    x, w, y, z = graph(device)
    z.backward(inputs=[x], retain_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), (2 * y * w).numpy())
    assert w.grad is None and not y.retains_grad and y.grad is None
    z.backward(inputs=y)  # a non-leaf input gets a .grad, and retains_grad becomes True (as torch)
    assert y.retains_grad
    np.testing.assert_allclose(y.grad.numpy(), (2 * y).numpy())
    np.testing.assert_allclose(x.grad.numpy(), (2 * y * w).numpy())  # unchanged: its node did not run


def test_backward_inputs_matches_torch():
    torch = pytest.importorskip("torch")
    res = {}
    for lib in ("mg", "torch"):
        make = (lambda v: mg.tensor(v, dtype="float64", requires_grad=True)) if lib == "mg" else \
            (lambda v: torch.tensor(v, dtype=torch.float64, requires_grad=True))
        log = []
        x, w, u = make([1.0, 2.0]), make([3.0, -1.0]), make([0.0, 1.0])
        w.register_hook(lambda g: log.append("w"))
        y = x * w
        y.retain_grad()
        z = (y * x).sum()
        z.backward(inputs=[x, x], retain_graph=True)  # a repeated input counts once
        z.backward(inputs=[u])  # not in the graph: nothing happens
        res[lib] = (x.grad.detach().numpy(), w.grad, u.grad, y.grad.detach().numpy(), log)
    m, t = res["mg"], res["torch"]
    np.testing.assert_allclose(m[0], t[0])
    assert m[1] is t[1] is None and m[2] is t[2] is None and m[4] == t[4] == []
    np.testing.assert_allclose(m[3], t[3])  # retained y on the path gets its .grad


def test_autograd_backward_of_several_tensors_matches_torch():
    torch = pytest.importorskip("torch")
    x = leaf([1.0, 2.0])
    tx = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    mg.autograd.backward([(x * 2).sum(), x * 3], [None, mg.tensor([1.0, -1.0], dtype="float64")])
    torch.autograd.backward([(tx * 2).sum(), tx * 3], [None, torch.tensor([1.0, -1.0], dtype=torch.float64)])
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())
    mg.autograd.backward((x * x).sum(), grad_variables=mg.tensor(2.0, dtype="float64"))
    np.testing.assert_allclose(x.grad.numpy(), [5.0 + 4.0, -1.0 + 8.0])  # + 2 * d(x.x)/dx


def test_backward_refusals(device):
    x = leaf([1.0, 2.0], device)
    with pytest.raises(RuntimeError, match=r"backward: `inputs` argument to `backward\(\)` cannot be empty"):
        (x * 2).sum().backward(inputs=[])
    with pytest.raises(RuntimeError, match=r"backward: inputs\[0\] .* does not require grad"):
        (x * 2).sum().backward(inputs=[mg.ones(2)])
    with pytest.raises(NotImplementedError, match=r"backward\(create_graph=True\): .*double backward"):
        (x * 2).sum().backward(create_graph=True)
    with pytest.raises(NotImplementedError, match="double backward"):
        mg.autograd.backward((x * 2).sum(), create_graph=True)
    with pytest.raises(RuntimeError, match=r"backward: grad can be implicitly created only for one-element.*"
                                           r"pass gradient with a gradient of shape \(2,\)"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match=r"backward: got 1 grad_tensors for 2 output"):
        mg.autograd.backward([x * 2, x * 3], [mg.ones(2)])


# ---------------------------------------------------------------- functional: jacobian / vjp / jvp
def numeric_jacobian(f, x, eps=1e-6):
    """d f(x) / d x by central differences (float64 NumPy), shape f(x).shape + x.shape."""
    base = x.numpy().astype(np.float64)
    out_shape = f(mg.tensor(base)).shape
    jac = np.zeros(out_shape + base.shape)
    for k in np.ndindex(*base.shape):
        e = np.zeros_like(base)
        e[k] = eps
        diff = f(mg.tensor(base + e)).numpy() - f(mg.tensor(base - e)).numpy()
        jac[(Ellipsis,) + k] = diff / (2 * eps)
    return jac


@given(shape=mst.shapes(min_dims=0, max_dims=2, max_side=4), data=st.data())
def test_jacobian_matches_finite_differences(shape, data):
    x = data.draw(mst.tensors(shape=shape))
    w = mg.tensor(np.linspace(-1.0, 1.0, x.numel()).reshape(shape), dtype="float64")

    def f(t):  # elementwise and reducing parts, so the Jacobian is not diagonal
        return (t * w).tanh() * t.sum() + t.exp().cumsum(0) if t.ndim else (t * w).tanh() * t + t.exp()

    jac = jacobian(f, x)
    assert jac.shape == f(x).shape + x.shape and jac.dtype == np.float64
    np.testing.assert_allclose(jac.numpy(), numeric_jacobian(f, x), rtol=1e-5, atol=1e-6)
    assert not x.requires_grad and x.grad is None  # the user's input is untouched


def test_jacobian_tuple_structure_and_values_match_torch():
    torch = pytest.importorskip("torch")
    tfun = torch.autograd.functional
    a, b = np.array([1.0, 2.0]), np.array([[3.0, 4.0, 0.5]])
    ma, mb = mg.tensor(a), mg.tensor(b)
    ta, tb = torch.tensor(a), torch.tensor(b)
    cases = [
        (lambda x, y: (x[:, None] * y, x.sum() * 2.0), (ma, mb),
         lambda x, y: (x[:, None] * y, x.sum() * 2.0), (ta, tb)),
        (lambda x, y: x.exp() * y.sum(), (ma, mb), lambda x, y: x.exp() * y.sum(), (ta, tb)),
        (lambda x: (x * x,), ma, lambda x: (x * x,), ta),
        (lambda x: x.sin(), ma, lambda x: x.sin(), ta),
        (lambda x: (x * x).sum(), mg.tensor(3.0, dtype="float64"), lambda x: (x * x).sum(),
         torch.tensor(3.0, dtype=torch.float64)),
        (lambda x, y: x * 2.0, (ma, mb), lambda x, y: x * 2.0, (ta, tb)),  # independent of y: zeros
        (lambda x: mg.ones(2, dtype="float64"), ma, lambda x: torch.ones(2, dtype=torch.float64), ta),
    ]

    def same(m, t):
        if isinstance(t, tuple):
            assert isinstance(m, tuple) and len(m) == len(t)
            for mi, ti in zip(m, t):
                same(mi, ti)
        else:
            assert isinstance(m, mg.Tensor) and m.shape == tuple(t.shape)
            np.testing.assert_allclose(m.numpy(), t.numpy(), rtol=1e-12)

    for mf, mi, tf, ti in cases:
        same(jacobian(mf, mi), tfun.jacobian(tf, ti))
        same(jacobian(mf, mi, vectorize=True, strategy="forward-mode"), tfun.jacobian(tf, ti))


def test_jacobian_refusals_and_strict_mode():
    x = mg.tensor([1.0, 2.0], dtype="float64")
    with pytest.raises(RuntimeError, match="jacobian: Output 0 of the user-provided function does not require "
                                           "gradients"):
        jacobian(lambda t: mg.ones(2), x, strict=True)
    with pytest.raises(RuntimeError, match="jacobian: Output 0 of the user-provided function is independent of "
                                           "input 1"):
        jacobian(lambda a, b: a * 2.0, (x, x), strict=True)
    with pytest.raises(TypeError, match=r"jacobian: inputs must be either a Tensor or a tuple of Tensors.*list"):
        jacobian(lambda t: t, [x])
    with pytest.raises(TypeError, match="jacobian: the outputs of the user-provided function must be either a "
                                        "Tensor or a tuple of Tensors, but got int"):
        jacobian(lambda t: 5, x)
    with pytest.raises(TypeError, match="jacobian: input 0 is int64; only floating-point"):
        jacobian(lambda t: t, mg.tensor([1, 2]))
    with pytest.raises(NotImplementedError, match=r"jacobian\(create_graph=True\): .*double backward"):
        jacobian(lambda t: t, x, create_graph=True)
    with pytest.raises(NotImplementedError, match="forward-mode.*vectorize=True"):
        jacobian(lambda t: t, x, strategy="forward-mode")
    with pytest.raises(ValueError, match="jacobian: expected strategy"):
        jacobian(lambda t: t, x, strategy="sideways")
    # empty output, and inside no_grad: still a Jacobian
    assert jacobian(lambda t: t[:0], x).shape == (0, 2)
    with mg.no_grad():
        np.testing.assert_array_equal(jacobian(lambda t: t * 3.0, x).numpy(), 3.0 * np.eye(2))


def test_vjp_and_jvp_match_torch():
    torch = pytest.importorskip("torch")
    tfun = torch.autograd.functional
    a, b = np.array([1.0, -2.0, 0.5]), np.array([0.3, 0.7, -1.1])
    v_out, v_in = np.array([1.0, 2.0, -1.0]), np.array([0.5, -0.5, 2.0])

    def mf(x, y):
        return x.tanh() * y, (x * y).sum()

    def tf(x, y):
        return x.tanh() * y, (x * y).sum()

    m_in, t_in = (mg.tensor(a), mg.tensor(b)), (torch.tensor(a), torch.tensor(b))
    m_out, m_vjp = vjp(mf, m_in, (mg.tensor(v_out), mg.tensor(1.5, dtype="float64")))
    t_out, t_vjp = tfun.vjp(tf, t_in, (torch.tensor(v_out), torch.tensor(1.5, dtype=torch.float64)))
    for m, t in zip(m_out + m_vjp, t_out + t_vjp):
        np.testing.assert_allclose(m.numpy(), t.numpy(), rtol=1e-12)
    m_out, m_jvp = jvp(mf, m_in, (mg.tensor(v_in), mg.tensor(v_out)))
    t_out, t_jvp = tfun.jvp(tf, t_in, (torch.tensor(v_in), torch.tensor(v_out)))
    assert isinstance(m_jvp, tuple) and len(m_jvp) == 2 and m_jvp[1].shape == ()
    for m, t in zip(m_out + m_jvp, t_out + t_jvp):
        np.testing.assert_allclose(m.numpy(), t.numpy(), rtol=1e-12)
    # single tensors in and out; v=None for one-element functions
    out, g = vjp(lambda x: (x * x).sum(), mg.tensor(a))
    np.testing.assert_allclose(g.numpy(), 2 * a)
    assert not out.requires_grad and out.shape == ()
    out, d = jvp(lambda x: x * 3.0, mg.tensor(2.0, dtype="float64"))
    assert float(d) == 3.0


@given(shape=mst.shapes(min_dims=1, max_dims=2, max_side=4), data=st.data())
def test_jvp_is_a_directional_derivative(shape, data):
    x = data.draw(mst.tensors(shape=shape))
    v = data.draw(mst.tensors(shape=shape))

    def f(t):
        return (t.sin() * t.sum()).cumsum(-1)

    _, d = jvp(f, x, v)
    eps = 1e-6
    numeric = (f(mg.tensor(x.numpy() + eps * v.numpy())).numpy()
               - f(mg.tensor(x.numpy() - eps * v.numpy())).numpy()) / (2 * eps)
    np.testing.assert_allclose(d.numpy(), numeric, rtol=1e-5, atol=1e-6)
    _, g = vjp(f, x, v)
    vt_j = v.numpy().reshape(-1) @ jacobian(f, x).numpy().reshape(v.numel(), x.numel())  # v^T J (f keeps the shape)
    np.testing.assert_allclose(g.numpy(), vt_j.reshape(shape), rtol=1e-10, atol=1e-12)


def test_vjp_jvp_refusals_and_float32():
    x = mg.tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match="vjp: The vector v can only be None if the user-provided function "
                                           "returns a single Tensor with a single element"):
        vjp(lambda t: t * 2.0, x)
    with pytest.raises(RuntimeError, match=r"vjp: v has invalid size: should be \(2,\) but got \(3,\)"):
        vjp(lambda t: t * 2.0, x, mg.ones(3))
    with pytest.raises(RuntimeError, match="jvp: The vector v can only be None if the input to the user-provided "
                                           "function is a single Tensor with a single element"):
        jvp(lambda t: t * 2.0, x)
    with pytest.raises(RuntimeError, match="vjp: The output of the user-provided function is independent of "
                                           "input 1"):
        vjp(lambda a, b: a * 2.0, (x, x), mg.ones(2), strict=True)
    out, g = vjp(lambda t: t * 2.0, x, mg.ones(2))
    assert g.dtype == np.float32 and out.dtype == np.float32
    out, d = jvp(lambda t: t * 2.0, x, mg.ones(2))
    assert d.dtype == np.float32
    np.testing.assert_array_equal(d.numpy(), [2.0, 2.0])


@pytest.mark.parametrize("name", ["hessian", "hvp", "vhp"])
def test_second_order_functional_api_says_why_it_is_missing(name):
    fn = getattr(mg.autograd.functional, name)
    with pytest.raises(NotImplementedError, match=rf"{name}: .*double backward.*finite differences"):
        fn(lambda t: (t * t).sum(), mg.tensor([1.0, 2.0]), mg.ones(2)) if name != "hessian" else \
            fn(lambda t: (t * t).sum(), mg.tensor([1.0, 2.0]))
    with pytest.raises(NotImplementedError, match="gradgradcheck: .*double backward"):
        mg.autograd.gradgradcheck(lambda t: t, (leaf([1.0]),))


# ---------------------------------------------------------------- gradcheck under torch's signature
class WrongTanh(mg.Function):
    @staticmethod
    def forward(ctx, x):
        y = np.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved
        return grad * (1 - y)  # wrong: should be 1 - y**2


def test_autograd_gradcheck_takes_torch_arguments():
    x = leaf([[0.1, -0.4], [0.7, 1.2]])
    assert mg.autograd.gradcheck(lambda t: t.tanh(), (x,))
    assert mg.autograd.gradcheck(lambda a, b: a * b, (x, leaf([0.5, 2.0])), fast_mode=True)
    assert mg.autograd.gradcheck(lambda t: t.tanh(), x, eps=1e-6, atol=1e-5, rtol=1e-3)
    with pytest.raises(GradcheckError):
        mg.autograd.gradcheck(WrongTanh.apply, (x,))
    assert mg.autograd.gradcheck(WrongTanh.apply, (x,), raise_exception=False) is False
    with pytest.raises(NotImplementedError, match="gradcheck: check_forward_ad=True"):
        mg.autograd.gradcheck(lambda t: t, (x,), check_forward_ad=True)


# ---------------------------------------------------------------- modes: inference_mode, set_detect_anomaly
def test_inference_mode_as_context_manager_and_decorator():
    assert mg.is_grad_enabled() and not mg.is_inference_mode_enabled()
    x = mg.ones(2, requires_grad=True)
    with mg.inference_mode():
        assert not mg.is_grad_enabled() and mg.is_inference_mode_enabled()
        assert not (x * 2).requires_grad
        with mg.inference_mode(False):  # turns grad mode on, as torch
            assert mg.is_grad_enabled() and not mg.is_inference_mode_enabled()
    with mg.no_grad(), mg.inference_mode(mode=False):
        assert mg.is_grad_enabled()
    assert mg.is_grad_enabled() and not mg.is_inference_mode_enabled()

    @mg.inference_mode
    def bare():
        return mg.is_grad_enabled(), mg.is_inference_mode_enabled()

    @mg.inference_mode()
    def called():
        raise ValueError("boom")

    assert bare() == (False, True)
    with pytest.raises(ValueError, match="boom"):
        called()
    assert mg.is_grad_enabled() and not mg.is_inference_mode_enabled()


def test_set_detect_anomaly_as_call_and_context_manager():
    assert not mg.is_anomaly_enabled()
    try:
        mg.set_detect_anomaly(True)
        assert mg.is_anomaly_enabled()
        with pytest.raises(RuntimeError, match="detect_anomaly: .*NaN or Inf"):
            mg.tensor([-1.0]).log()
    finally:
        mg.autograd.set_detect_anomaly(False)
    assert not mg.is_anomaly_enabled()
    with mg.set_detect_anomaly(True, check_nan=True):
        assert mg.is_anomaly_enabled()
    assert not mg.is_anomaly_enabled()


# ---------------------------------------------------------------- Tensor methods
def test_retains_grad_and_retain_grad_refusal(device):
    x = leaf([1.0, 2.0], device)
    y = x * 2.0
    assert not x.retains_grad and not y.retains_grad
    y.retain_grad()
    assert y.retains_grad
    x.retain_grad()  # a leaf: nothing to do (as torch)
    assert not x.retains_grad
    with pytest.raises(RuntimeError, match="retain_grad: can't retain_grad on a tensor that has requires_grad=False"):
        mg.ones(2, device=device).retain_grad()


def test_post_accumulate_grad_hook_order_and_effects_match_torch():
    torch = pytest.importorskip("torch")
    logs = {}
    for lib in ("mg", "torch"):
        log = []
        x = mg.tensor([1.0, 2.0], requires_grad=True) if lib == "mg" else torch.tensor([1.0, 2.0], requires_grad=True)
        h = x.register_post_accumulate_grad_hook(lambda t, x=x: log.append(("post", t is x, t.grad.tolist())))
        x.register_hook(lambda g: log.append(("pre", g.tolist())))
        (x * 2).sum().backward()
        (x * 2).sum().backward()  # runs after accumulation: sees the sum
        (mg.autograd if lib == "mg" else torch.autograd).grad((x * 2).sum(), x)  # accumulates nothing: no post
        x.sum().backward()
        h.remove()
        (x * 2).sum().backward()
        logs[lib] = log
    assert logs["mg"] == logs["torch"]
    assert logs["mg"][:2] == [("pre", [2.0, 2.0]), ("post", True, [2.0, 2.0])]


def test_post_accumulate_grad_hook_can_step_and_free_the_gradient():
    p = leaf([1.0, 2.0], dtype="float32")

    def step(t):
        with mg.no_grad():
            t.sub_(0.5 * t.grad)
        t.grad = None

    p.register_post_accumulate_grad_hook(step)
    (p * p).sum().backward()
    np.testing.assert_allclose(p.numpy(), [0.0, 0.0])
    assert p.grad is None and p.dtype == np.float32


def test_post_accumulate_grad_hook_refusals():
    x = leaf([1.0])
    with pytest.raises(RuntimeError, match="register_post_accumulate_grad_hook: post accumulate grad hooks cannot be "
                                           "registered on non-leaf tensors"):
        (x * 2).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(RuntimeError, match="register_post_accumulate_grad_hook: .* does not require grad"):
        mg.ones(1).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(TypeError, match="register_post_accumulate_grad_hook: expected a callable"):
        x.register_post_accumulate_grad_hook(5)
    x.register_post_accumulate_grad_hook(lambda t: t.grad)
    with pytest.raises(RuntimeError, match="register_post_accumulate_grad_hook: .* must return None"):
        (x * 2).sum().backward()


def test_detach_in_place(device):
    x = leaf([1.0, 2.0, 3.0], device)
    y = x * 2.0
    y.retain_grad()
    assert y.detach_() is y
    assert y.is_leaf and not y.requires_grad and y.grad_fn is None and not y.retains_grad
    np.testing.assert_array_equal(y.numpy(), [2.0, 4.0, 6.0])
    z = x * 1.0
    with pytest.raises(RuntimeError, match=r"detach_: can't detach views in-place.*float64\[2\].*detach\(\) instead"):
        z[1:].detach_()
    with pytest.raises(RuntimeError, match="detach_: can't detach views in-place"):
        mg.arange(6, device=device).reshape(2, 3).detach_()
    assert x.detach_() is x and not x.requires_grad and x.is_leaf  # a leaf stops requiring grad (as torch)
    assert mg.ones(2, device=device).detach_().is_leaf


def test_requires_grad_and_is_leaf_match_torch():
    torch = pytest.importorskip("torch")
    for lib in (mg, torch):
        x = lib.ones(2, requires_grad=True)
        c = lib.ones(2)
        with lib.no_grad():
            n = x * 2
        facts = [x.is_leaf, c.is_leaf, (x * 2).is_leaf, (c * 2).is_leaf, n.is_leaf, x.detach().is_leaf]
        assert facts == [True, True, False, True, True, True]
        assert (x * 2).requires_grad_(True).requires_grad
        with pytest.raises(RuntimeError, match="only.*leaf"):
            (x * 2).requires_grad_(False)


def test_next_functions_and_name_have_torchs_shape():
    torch = pytest.importorskip("torch")

    def describe(node, lib):
        """The graph below node as nested (name-kind, output index) tuples, comparable across libraries."""
        out = []
        for fn, k in node.next_functions:
            if fn is None:
                out.append((None, k))
            elif "AccumulateGrad" in fn.name():
                out.append(("leaf", k, fn.variable.tolist()))
            else:
                out.append(("node", k, describe(fn, lib)))
        return tuple(out)

    res = {}
    for lib in (mg, torch):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        c = lib.tensor([3.0, 4.0])
        first, second = (a * c).unbind(0)
        z = (second * a).exp() + c
        res[lib] = describe(z.grad_fn, lib)
        assert z.grad_fn.next_functions[1] == (None, 0)
        acc = z.grad_fn.next_functions[0][0].next_functions[0][0].next_functions[1][0]
        assert acc.variable is a and acc == z.grad_fn.next_functions[0][0].next_functions[0][0].next_functions[1][0]
    assert res[mg] == res[torch]
    x = leaf([1.0, 2.0])
    y = x.exp()
    assert y.grad_fn.name() == "ExpBackward" and repr(y.grad_fn) == "<ExpBackward>"
    b = x * 1.0
    e = b.exp()
    b.mul_(2.0)  # e used b's old value: its edge goes to the node that made that value
    assert e.grad_fn.next_functions[0][0].name() == "MulScalarBackward"
    assert b.grad_fn.next_functions[0][0] is e.grad_fn.next_functions[0][0]
    y.sum().backward()
    with pytest.raises(RuntimeError, match="next_functions: the edges of <ExpBackward> were freed"):
        y.grad_fn.next_functions


def test_set_grad_enabled_works_as_a_plain_call_as_in_torch():
    try:
        mg.set_grad_enabled(False)
        assert not mg.is_grad_enabled() and not (mg.ones(1, requires_grad=True) * 2).requires_grad
    finally:
        mg.set_grad_enabled(True)
    assert mg.is_grad_enabled()

    @mg.set_grad_enabled(False)
    def f():
        return mg.is_grad_enabled()

    assert mg.is_grad_enabled() and f() is False and mg.is_grad_enabled()  # set only while f runs
    with mg.no_grad():
        with mg.set_grad_enabled(True):
            assert mg.is_grad_enabled()
        assert not mg.is_grad_enabled()
    made = mg.no_grad()  # no_grad() itself changes nothing until entered (as torch)
    assert mg.is_grad_enabled() and made is not None


def test_grad_for_a_non_leaf_whose_own_node_was_already_freed_matches_torch():
    torch = pytest.importorskip("torch")
    for lib in (mg, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        z = x.exp()
        w2 = (z * 3.0).sum()
        z.sum().backward()  # frees z's node (exp)
        (gz,) = (mg.autograd if lib is mg else torch.autograd).grad(w2, z)  # z's node need not run
        np.testing.assert_allclose(gz.numpy(), [3.0, 3.0])
        with pytest.raises(RuntimeError, match="second time"):
            (mg.autograd if lib is mg else torch.autograd).grad(z.sum(), x)  # through the freed node: refused
