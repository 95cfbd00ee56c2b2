"""Porting audit: torch's autograd tutorials, run in torch and in minigrad, compared.

The programs are the ones a learner meets first: "A Gentle Introduction to torch.autograd",
"Autograd mechanics", "Extending PyTorch" (custom Functions), `torch.autograd.grad`, hooks,
in-place correctness and `torch.autograd.functional`. Each test builds the same computation
with both libraries (float64 where values are compared) and checks values, gradients, flags
and, for refusals, that both refuse with the same exception type and minigrad's message is
clear. Known, documented differences (README): no double backward (create_graph, hessian,
hvp raise NotImplementedError); a custom Function's forward/backward work on backend arrays;
a view made before a write through another view of its memory, and used after it, is refused where
torch re-bases it; `inference_mode` is no_grad
(no inference tensors).
"""
import inspect

import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import Function
from minigrad.testing import gradcheck

torch = pytest.importorskip("torch")

LIBS = (torch, mg)


def close(a, b, rtol=1e-7, atol=1e-12):
    a = a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a.numpy() if isinstance(a, mg.Tensor) else a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b.numpy() if isinstance(b, mg.Tensor) else b)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def both_raise(fn, exc, match_mg):
    """fn(lib) raises `exc` in torch and in minigrad, minigrad's message matching `match_mg`."""
    with pytest.raises(exc):
        fn(torch)
    with pytest.raises(exc, match=match_mg):
        fn(mg)


def t64(lib, values, requires_grad=False):
    return lib.tensor(values, dtype=lib.float64, requires_grad=requires_grad)


# ---------------------------------------------------------------- 1. the gentle introduction / mechanics
def test_gentle_intro_external_grad():
    """Q = 3a^3 - b^2; Q.backward(gradient=ones) gives dQ/da = 9a^2, dQ/db = -2b."""
    res = {}
    for lib in LIBS:
        a = t64(lib, [2.0, 3.0], requires_grad=True)
        b = t64(lib, [6.0, 4.0], requires_grad=True)
        Q = 3 * a ** 3 - b ** 2
        external_grad = t64(lib, [1.0, 1.0])
        Q.backward(gradient=external_grad)
        assert a.grad.dtype == a.dtype and a.grad.shape == a.shape
        close(a.grad, 9 * a.detach() ** 2)
        close(b.grad, -2 * b.detach())
        res[lib] = (Q, a.grad, b.grad)
    for x, y in zip(res[torch], res[mg]):
        close(x, y)
    # a non-scalar Q needs its gradient argument, in both
    both_raise(lambda lib: (3 * t64(lib, [2.0, 3.0], True) ** 3).backward(), RuntimeError,
               "implicitly created only for one-element")


def test_requires_grad_only_on_leaves_and_grad_fn_graph():
    """Only leaves requiring grad get .grad; walking grad_fn.next_functions reaches them (AccumulateGrad)."""
    for lib in LIBS:
        x = lib.ones(5, dtype=lib.float64)                        # input: no grad
        w = lib.ones(5, 3, dtype=lib.float64, requires_grad=True)
        b = lib.zeros(3, dtype=lib.float64, requires_grad=True)
        z = x @ w + b
        loss = ((z - 1.0) ** 2).mean()
        assert [x.is_leaf, w.is_leaf, z.is_leaf, loss.is_leaf] == [True, True, False, False]
        assert [x.requires_grad, w.requires_grad, z.requires_grad] == [False, True, True]
        assert x.grad_fn is None and w.grad_fn is None and z.grad_fn is not None
        assert "Backward" in z.grad_fn.name() and "Backward" in loss.grad_fn.name()

        # Depth-first walk of the graph before backward: the leaves reached are exactly w and b.
        found, stack = [], [loss.grad_fn]
        while stack:
            node = stack.pop()
            for fn, _ in node.next_functions:
                if fn is None:
                    continue
                if "AccumulateGrad" in fn.name():
                    found.append(fn.variable)
                else:
                    stack.append(fn)
        assert sorted(map(id, found)) == sorted({id(w), id(b)})
        loss.backward()
        assert x.grad is None and w.grad is not None and b.grad is not None
    # The names differ (torch: 'AddBackward0', minigrad: 'AddBackward', and minigrad names some ops
    # after its own primitives, e.g. 3 * a is 'MulScalarBackward'); the structure is torch's.


def test_next_functions_after_backward_is_refused_clearly():
    """Difference: torch keeps a node's edges after backward (only saved tensors are freed); minigrad
    frees them with the saved arrays, so next_functions after backward raises, saying why."""
    a = mg.tensor([2.0, 3.0], requires_grad=True)
    q = (a * a).sum()
    assert len(q.grad_fn.next_functions) == 1
    q.backward()
    with pytest.raises(RuntimeError, match="were freed by a backward without retain_graph=True"):
        q.grad_fn.next_functions
    a2 = mg.tensor([2.0, 3.0], requires_grad=True)
    q2 = (a2 * a2).sum()
    q2.backward(retain_graph=True)
    assert len(q2.grad_fn.next_functions) == 1  # kept with retain_graph


def test_retain_grad_on_a_non_leaf_and_retains_grad_after_backward():
    res = {}
    for lib in LIBS:
        x = t64(lib, [1.0, 2.0], requires_grad=True)
        y = x * 2
        y.retain_grad()
        (y * y).sum().backward()
        assert y.retains_grad and not x.retains_grad  # still True after backward, as in torch
        res[lib] = (y.grad, x.grad)
        z = x * 3
        z.sum().backward()
        # not retained: a non-leaf keeps no .grad (torch also warns when it is read; minigrad does not)
        with pytest.warns(UserWarning, match="not a leaf") if lib is torch else _no_warning():
            assert z.grad is None
    close(res[torch][0], res[mg][0])
    close(res[torch][1], res[mg][1])
    both_raise(lambda lib: t64(lib, [1.0]).retain_grad(), RuntimeError, "requires_grad=False")


def test_grads_accumulate_across_backward_calls_and_zero_in_place():
    res = {}
    for lib in LIBS:
        x = t64(lib, [1.0, 2.0], requires_grad=True)
        (x * x).sum().backward()
        (x * x).sum().backward()
        first = x.grad.clone()                      # 2 * 2x
        grad_obj = x.grad
        x.grad.zero_()                              # in place: the same tensor, zeros
        assert x.grad is grad_obj and x.grad.tolist() == [0.0, 0.0]
        (x ** 3).sum().backward()
        second = x.grad.clone()
        x.grad = None
        (x * 5).sum().backward()
        res[lib] = (first, second, x.grad)
    for p, q in zip(res[torch], res[mg]):
        close(p, q)
    close(res[mg][0], [4.0, 8.0])


def test_backward_twice_needs_retain_graph():
    def twice(lib):
        x = t64(lib, [1.0, 2.0], requires_grad=True)
        y = (x.exp() * x).sum()  # exp and mul save tensors for backward
        y.backward()
        y.backward()

    both_raise(twice, RuntimeError, "second time.*retain_graph=True")
    res = {}
    for lib in LIBS:
        x = t64(lib, [1.0, 2.0], requires_grad=True)
        y = (x.exp() * x).sum()
        y.backward(retain_graph=True)
        y.backward()
        res[lib] = x.grad
    close(res[torch], res[mg])
    # Difference (stricter): torch lets a graph that saved nothing (e.g. (x + 1).sum()) be
    # backpropagated twice; minigrad frees every node and refuses that too.
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (x + 1).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def _grad_mode_facts(lib):
    x = lib.ones(2, requires_grad=True)
    facts = []
    with lib.no_grad():
        facts.append((x * 2).requires_grad)
        with lib.enable_grad():
            facts.append((x * 2).requires_grad)
        facts.append(lib.is_grad_enabled())

    @lib.no_grad()
    def f_paren(t):
        return t * 2

    @lib.no_grad
    def f_bare(t):
        return t * 2

    @lib.enable_grad()
    def g_paren(t):
        return t * 2

    @lib.enable_grad
    def g_bare(t):
        return t * 2

    facts += [f_paren(x).requires_grad, f_bare(x).requires_grad, f_bare.__name__]
    with lib.no_grad():
        facts += [g_paren(x).requires_grad, g_bare(x).requires_grad]
    with lib.set_grad_enabled(False):
        facts.append((x * 2).requires_grad)
    facts.append(lib.is_grad_enabled())
    lib.set_grad_enabled(False)  # as a plain call
    facts.append((x * 2).requires_grad)
    lib.set_grad_enabled(True)

    @lib.set_grad_enabled(False)
    def s(t):
        return t * 2

    facts += [s(x).requires_grad, lib.is_grad_enabled()]

    @lib.inference_mode()
    def h_paren(t):
        return t * 2

    @lib.inference_mode
    def h_bare(t):
        return t * 2

    with lib.inference_mode():
        facts += [(x * 2).requires_grad, lib.is_inference_mode_enabled()]
    with lib.inference_mode(False):
        facts.append((x * 2).requires_grad)
    facts += [h_paren(x).requires_grad, h_bare(x).requires_grad, lib.is_inference_mode_enabled()]
    return facts


def test_grad_modes_as_context_managers_and_decorators():
    assert _grad_mode_facts(mg) == _grad_mode_facts(torch)
    # Documented difference: inference_mode is no_grad here (no "inference tensors"): a tensor made
    # inside may later join a graph, where torch refuses.
    with mg.inference_mode():
        c = mg.ones(2) * 2
    x = mg.ones(2, requires_grad=True)
    (x * c).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_detach_and_detach_():
    for lib in LIBS:
        x = t64(lib, [1.0, 2.0], requires_grad=True)
        y = x * 2
        d = y.detach()
        assert d.is_leaf and not d.requires_grad and d.grad_fn is None
        d[0] = 10.0  # shares memory with y
        assert y.tolist() == [10.0, 4.0]
        z = x * 3
        assert z.detach_() is z and z.is_leaf and not z.requires_grad and z.grad_fn is None

    def change_saved_through_detach(lib):
        x = t64(lib, [1.0, 2.0], requires_grad=True)
        y = x.exp()          # exp saves its output
        y.detach().mul_(2)   # a write through a detached alias is still seen by the version counter
        y.sum().backward()

    both_raise(change_saved_through_detach, RuntimeError, "modified in place")
    both_raise(lambda lib: t64(lib, [1.0, 2.0, 3.0], True).clone()[1:].detach_(), RuntimeError,
               "can't detach views in-place")


# ---------------------------------------------------------------- 2. Extending PyTorch: custom Functions
class TorchLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, weight, bias=None):
        ctx.save_for_backward(input, weight, bias)
        output = input.mm(weight.t())
        if bias is not None:
            output += bias.unsqueeze(0).expand_as(output)
        return output

    @staticmethod
    def backward(ctx, grad_output):
        input, weight, bias = ctx.saved_tensors
        ctx.seen = ctx.needs_input_grad
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_input = grad_output.mm(weight)
        if ctx.needs_input_grad[1]:
            grad_weight = grad_output.t().mm(input)
        if bias is not None and ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum(0)
        return grad_input, grad_weight, grad_bias


class MgLinear(Function):
    """The same Function in minigrad: forward and backward work on backend arrays (documented)."""

    needs_seen = []

    @staticmethod
    def forward(ctx, input, weight, bias=None):
        ctx.save_for_backward(input, weight, bias)
        output = input @ weight.T
        if bias is not None:
            output = output + bias[None, :]
        return output

    @staticmethod
    def backward(ctx, grad_output):
        input, weight, bias = ctx.saved_tensors   # torch's name works (= ctx.saved)
        MgLinear.needs_seen.append(ctx.needs_input_grad)
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_input = grad_output @ weight
        if ctx.needs_input_grad[1]:
            grad_weight = grad_output.T @ input
        if bias is not None and ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum(0)
        return grad_input, grad_weight, grad_bias   # 3 gradients even when bias was left out (as torch)


class TorchMulConstant(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, constant):
        ctx.constant = constant
        return tensor * constant

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * ctx.constant, None


class MgMulConstant(Function):
    @staticmethod
    def forward(ctx, tensor, constant):   # the non-Tensor argument arrives as it was passed
        ctx.constant = constant
        return tensor * constant

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * ctx.constant, None


@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("x_needs_grad", [True, False])
def test_linear_function_matches_torch(with_bias, x_needs_grad):
    rng = np.random.default_rng(0)
    xa, wa, ba = rng.standard_normal((4, 3)), rng.standard_normal((2, 3)), rng.standard_normal(2)
    res = {}
    MgLinear.needs_seen.clear()
    for lib, fn in ((torch, TorchLinear), (mg, MgLinear)):
        x = t64(lib, xa, x_needs_grad)
        w, b = t64(lib, wa, True), t64(lib, ba, True)
        out = fn.apply(x, w, b) if with_bias else fn.apply(x, w)
        assert len(out.grad_fn.next_functions) == (3 if with_bias else 2)
        loss = (out * out).sum()
        loss.backward()
        res[lib] = [out, w.grad] + ([b.grad] if with_bias else []) + ([x.grad] if x_needs_grad else [])
    for p, q in zip(res[torch], res[mg]):
        close(p, q)
    expected = (x_needs_grad, True) + ((True,) if with_bias else ())
    assert MgLinear.needs_seen == [expected]


def test_mul_constant_non_tensor_argument_matches_torch():
    res = {}
    for lib, fn in ((torch, TorchMulConstant), (mg, MgMulConstant)):
        x = t64(lib, [3.0, -1.0], True)
        y = fn.apply(x, 5.0)
        assert len(y.grad_fn.next_functions) == 1  # an edge for the tensor only, as torch shows it
        if lib is mg:
            assert 'label="5.0"' in mg.viz.to_dot(y)  # the constant is drawn as a constant input
        (y * y).sum().backward()
        res[lib] = (y, x.grad)
    close(res[torch][0], res[mg][0])
    close(res[torch][1], res[mg][1])


def test_custom_functions_pass_gradcheck_in_both_libraries():
    rng = np.random.default_rng(1)
    xa, wa, ba = rng.standard_normal((3, 2)), rng.standard_normal((4, 2)), rng.standard_normal(4)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (xa, wa, ba))
    assert torch.autograd.gradcheck(TorchLinear.apply, (tx, tw, tb), eps=1e-6, atol=1e-4)
    assert torch.autograd.gradcheck(lambda t: TorchMulConstant.apply(t, 2.5), (tx,))
    mx, mw, mb = (mg.tensor(a, requires_grad=True) for a in (xa, wa, ba))
    assert gradcheck(MgLinear.apply, mx, mw, mb, eps=1e-6, atol=1e-4)              # minigrad.testing
    assert gradcheck(lambda t: MgMulConstant.apply(t, 2.5), mx)
    assert mg.autograd.gradcheck(MgLinear.apply, (mx, mw, mb), eps=1e-6, atol=1e-4)  # torch's signature

    class Wrong(Function):  # a wrong backward is caught; raise_exception=False returns False, as torch
        @staticmethod
        def forward(ctx, x):
            return x ** 2

        @staticmethod
        def backward(ctx, g):
            return g * 3.0

    assert mg.autograd.gradcheck(Wrong.apply, (mx,), raise_exception=False) is False
    with pytest.raises(mg.testing.GradcheckError, match="elements differ"):
        gradcheck(Wrong.apply, mx)


def test_gradcheck_signature_defaults_match_torch():
    theirs = inspect.signature(torch.autograd.gradcheck).parameters
    for sig in (inspect.signature(mg.autograd.gradcheck).parameters, inspect.signature(gradcheck).parameters):
        for name in ("eps", "atol", "rtol", "raise_exception"):
            assert sig[name].default == theirs[name].default, name
    # mg.autograd.gradcheck takes torch's (func, inputs) and every torch keyword; minigrad.testing.gradcheck
    # takes (fn, *inputs) (documented there).
    assert set(theirs) <= set(inspect.signature(mg.autograd.gradcheck).parameters)


def test_mark_non_differentiable_and_materialize_grads():
    class TorchSort(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            values, idx = x.sort()
            ctx.mark_non_differentiable(idx)
            ctx.save_for_backward(idx)
            return values, idx

        @staticmethod
        def backward(ctx, g_values, g_idx):
            (idx,) = ctx.saved_tensors
            grad = torch.zeros_like(g_values)
            grad[idx] = g_values
            return grad

    class MgSort(Function):
        @staticmethod
        def forward(ctx, x):
            idx = x.argsort(kind="stable")
            ctx.mark_non_differentiable(idx)
            ctx.save_for_backward(idx)
            return x[idx], idx

        @staticmethod
        def backward(ctx, g_values, g_idx):
            (idx,) = ctx.saved_tensors
            MgSort.g_idx = g_idx
            grad = g_values * 0
            grad[idx] = g_values
            return grad

    res = {}
    for lib, fn in ((torch, TorchSort), (mg, MgSort)):
        x = t64(lib, [3.0, 1.0, 2.0], True)
        values, idx = fn.apply(x)
        assert values.requires_grad and not idx.requires_grad
        (values * t64(lib, [1.0, 2.0, 3.0])).sum().backward()
        res[lib] = (values, idx, x.grad)
    for p, q in zip(res[torch], res[mg]):
        close(p, q)
    assert MgSort.g_idx.tolist() == [0, 0, 0]  # materialized zeros, as torch

    class MgPair(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 1.0, x * 1.0

        @staticmethod
        def backward(ctx, g1, g2):
            MgPair.seen = (g1 is None, g2 is None)
            return None if g1 is None else g1 * 2

    class TorchPair(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x.clone(), x.clone()

        @staticmethod
        def backward(ctx, g1, g2):
            TorchPair.seen = (g1 is None, g2 is None)
            return None if g1 is None else g1 * 2

    for lib, fn in ((torch, TorchPair), (mg, MgPair)):
        x = t64(lib, [3.0, 1.0], True)
        a, _ = fn.apply(x)
        a.sum().backward()
        res[lib] = x.grad
    assert MgPair.seen == TorchPair.seen == (False, True)
    close(res[torch], res[mg])

    class MgSingle(Function):  # marking the single output: it does not require grad at all
        @staticmethod
        def forward(ctx, x):
            out = x.round()
            ctx.mark_non_differentiable(out)
            return out

        @staticmethod
        def backward(ctx, g):  # pragma: no cover - never called
            raise AssertionError

    assert not MgSingle.apply(mg.tensor([1.4], requires_grad=True)).requires_grad


def test_mark_dirty_is_refused_clearly():
    """Gap: torch supports in-place custom Functions (ctx.mark_dirty); minigrad refuses them, naming the op."""
    class TorchAddOne(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.add_(1)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    a = torch.ones(2, requires_grad=True)
    b = a * 1
    assert TorchAddOne.apply(b) is b
    b.sum().backward()
    assert a.grad.tolist() == [1.0, 1.0]

    class MgAddOne(Function):
        @staticmethod
        def forward(ctx, x):
            x += 1
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):  # pragma: no cover
            return g

    with pytest.raises(NotImplementedError, match="MgAddOne: ctx.mark_dirty .* not supported"):
        MgAddOne.apply(mg.ones(2, requires_grad=True) * 1)


def test_custom_function_gradient_count_errors():
    class MgTooFew(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g  # one gradient for two inputs

    class TorchTooFew(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g

    def run(lib):
        fn = TorchTooFew if lib is torch else MgTooFew
        fn.apply(t64(lib, [1.0], True), t64(lib, [2.0], True)).sum().backward()

    both_raise(run, RuntimeError, r"MgTooFew.backward returned 1 gradient\(s\) for 2 input\(s\)")


# ---------------------------------------------------------------- 3. autograd.grad and hooks
def test_autograd_grad_options():
    res = {}
    for lib in LIBS:
        x = t64(lib, [1.0, 2.0], True)
        z = t64(lib, [3.0, 4.0], True)
        y = x ** 2
        (g1,) = lib.autograd.grad(y, x, grad_outputs=t64(lib, [1.0, 10.0]), retain_graph=True)
        (g2,) = lib.autograd.grad(y.sum(), [x], retain_graph=True)
        unused = lib.autograd.grad(y.sum(), [x, z], allow_unused=True, retain_graph=True)
        assert unused[1] is None
        mat = lib.autograd.grad(y.sum(), [x, z], materialize_grads=True, retain_graph=True)
        # only_inputs is ignored in both (torch warns that it is deprecated; minigrad is silent)
        with pytest.warns(FutureWarning) if lib is torch else _no_warning():
            (g3,) = lib.autograd.grad(y.sum(), x, only_inputs=False)
        assert x.grad is None and z.grad is None  # grad() touches no .grad
        res[lib] = (g1, g2, unused[0], mat[0], mat[1], g3)
    for p, q in zip(res[torch], res[mg]):
        close(p, q)

    def unused_refused(lib):
        x, z = t64(lib, [1.0], True), t64(lib, [1.0], True)
        lib.autograd.grad((x * 2).sum(), [x, z])

    both_raise(unused_refused, RuntimeError, "index 1 appears to not have been used.*allow_unused=True")

    def freed(lib):
        x = t64(lib, [1.0, 2.0], True)
        y = (x.exp()).sum()
        lib.autograd.grad(y, x)
        lib.autograd.grad(y, x)

    both_raise(freed, RuntimeError, "retain_graph=True")


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_create_graph_is_refused_not_answered_wrongly():
    """Documented: no double backward. torch computes d/dx (dy/dx); minigrad refuses, saying why."""
    x = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad((x ** 3).sum(), x, create_graph=True)
    (gg,) = torch.autograd.grad(g.sum(), x)
    assert gg.tolist() == [6.0, 12.0]
    xm = t64(mg, [1.0, 2.0], True)
    with pytest.raises(NotImplementedError, match=r"grad\(create_graph=True\).*no double backward"):
        mg.autograd.grad((xm ** 3).sum(), xm, create_graph=True)
    with pytest.raises(NotImplementedError, match=r"backward\(create_graph=True\)"):
        (xm ** 3).sum().backward(create_graph=True)
    assert xm.grad is None  # refused before anything was accumulated


def test_tensor_hooks_modify_and_remove():
    res = {}
    for lib in LIBS:
        x = t64(lib, [1.0, 2.0], True)
        seen = []
        h = x.register_hook(lambda g: g * 2)
        y = x * 3
        hy = y.register_hook(lambda g: seen.append(g.tolist()))
        y.retain_grad()
        (y * y).sum().backward()
        first = x.grad.clone()
        h.remove()
        hy.remove()
        x.grad = None
        (x * 3).sum().backward()
        res[lib] = (first, y.grad, x.grad, seen)
    for p, q in zip(res[torch][:3], res[mg][:3]):
        close(p, q)
    assert res[torch][3] == res[mg][3] == [[6.0, 12.0]]

    def bad_shape(lib):
        x = t64(lib, [1.0, 2.0], True)
        x.register_hook(lambda g: g.sum())
        (x * 3).sum().backward()

    both_raise(bad_shape, RuntimeError, "hook returned a gradient .* must keep the shape")
    both_raise(lambda lib: t64(lib, [1.0]).register_hook(lambda g: g), RuntimeError,
               "does not require grad")


def test_module_forward_and_forward_pre_hooks_match_torch():
    rng = np.random.default_rng(2)
    wa, ba, xa = rng.standard_normal((2, 3)), rng.standard_normal(2), rng.standard_normal((4, 3))
    res = {}
    for lib in LIBS:
        lin = lib.nn.Linear(3, 2).double()
        lin.load_state_dict({"weight": t64(lib, wa), "bias": t64(lib, ba)})
        log = []
        pre = lin.register_forward_pre_hook(lambda m, args: (args[0] * 2,))           # replaces the input
        post = lin.register_forward_hook(lambda m, args, out: log.append(tuple(out.shape)) or out + 1)
        out1 = lin(t64(lib, xa))
        pre.remove()
        post.remove()
        out2 = lin(t64(lib, xa))
        res[lib] = (out1, out2, log)
    close(res[torch][0], res[mg][0])
    close(res[torch][1], res[mg][1])
    assert res[torch][2] == res[mg][2] == [(4, 2)]


def test_module_full_backward_hook():  # (compared with torch in tests/test_hooks_backward.py)
    lin = mg.nn.Linear(2, 2)
    log = []
    lin.register_full_backward_hook(lambda m, gin, gout: log.append((len(gin), len(gout))))
    lin(mg.ones(1, 2, requires_grad=True)).sum().backward()
    assert log == [(1, 1)]


# ---------------------------------------------------------------- 4. in-place correctness
def test_in_place_on_a_saved_output_is_caught_at_backward():
    def sigmoid_mul(lib):
        x = t64(lib, [1.0, 2.0], True)
        y = x.sigmoid()
        y.mul_(2)
        y.sum().backward()

    both_raise(sigmoid_mul, RuntimeError, "output of Sigmoid was modified in place")

    def saved_input(lib):
        x = t64(lib, [1.0, 2.0], True)
        a = x * 1
        y = a.sin()   # sin saves its input
        a.mul_(3)
        (y.sum() + a.sum()).backward()

    both_raise(saved_input, RuntimeError, "input of Sin .* was modified in place after the op used it")

    res = {}
    for lib in LIBS:  # an in-place write nothing saved: allowed, and correct
        x = t64(lib, [1.0, 2.0], True)
        a = x * 1
        y = a + 2
        a.add_(1)
        a.relu_()
        (y * y).sum().backward()
        res[lib] = (x.grad, y, a)
    for p, q in zip(res[torch], res[mg]):
        close(p, q)


def test_in_place_on_a_leaf_that_requires_grad_is_refused():
    for op in (lambda x: x.add_(1), lambda x: x.__setitem__(0, 5.0), lambda x: x.__iadd__(1),
               lambda x: x.mul_(2), lambda x: x.zero_()):
        both_raise(lambda lib: op(t64(lib, [1.0, 2.0], True)), RuntimeError,
                   "leaf tensor that requires grad cannot be modified in place")
    both_raise(lambda lib: t64(lib, [1.0, 2.0, 3.0], True)[1:].mul_(2), RuntimeError,
               "a view|shares memory")


def test_manual_sgd_with_augmented_assignment_under_no_grad():
    """The "Learning PyTorch with Examples" loop: w -= lr * w.grad under no_grad, then w.grad = None."""
    rng = np.random.default_rng(3)
    xa = rng.standard_normal((8, 3))
    ya = xa @ np.array([1.0, -2.0, 0.5]) + 0.3
    res = {}
    for lib in LIBS:
        x, y = t64(lib, xa), t64(lib, ya)
        w = t64(lib, np.zeros(3), True)
        b = t64(lib, 0.0, True)
        w_id = id(w)
        losses = []
        for _ in range(5):
            loss = ((x @ w + b - y) ** 2).mean()
            losses.append(loss.item())
            loss.backward()
            with lib.no_grad():
                w -= 0.1 * w.grad
                b -= 0.1 * b.grad
            w.grad = None
            b.grad = None
        assert id(w) == w_id and w.is_leaf and w.requires_grad  # updated in place, still the leaf
        assert w._version == 5
        res[lib] = (losses, w, b)
    close(res[torch][0], res[mg][0])
    close(res[torch][1], res[mg][1])
    close(res[torch][2], res[mg][2])


def test_in_place_through_a_view_of_a_non_leaf():
    """Both rebase the base's history (torch's CopySlices; minigrad records the write into the base)."""
    for lib in LIBS:
        x = t64(lib, [1.0, 2.0, 3.0], True)
        y = x * 1
        y[1:].mul_(2)
        assert y.tolist() == [1.0, 4.0, 6.0]
        y.sum().backward()
        assert x.grad.tolist() == [1.0, 2.0, 2.0]
    xm = t64(mg, [1.0, 2.0, 3.0], True)
    ym = xm * 1
    # the supported spelling: write a value into the base by index (recorded in the graph)
    ym[1:] = ym[1:] * 2
    ym.sum().backward()
    assert xm.grad.tolist() == [1.0, 2.0, 2.0]


def test_data_edits_are_allowed_and_not_tracked():
    """x.data: torch gives a detached Tensor, minigrad the raw backend array (a NumPy array on cpu);
    in-place edits through it work in both, are not recorded, and do not bump the version."""
    res = {}
    for lib in LIBS:
        x = t64(lib, [1.0, 2.0], True)
        y = x.exp()           # saves its output, not x: the edit below does not affect it
        if lib is torch:
            x.data.mul_(2)
        else:
            x.data *= 2       # NumPy's in-place operator on the array
        assert x._version == 0 and x.is_leaf and x.requires_grad
        y.sum().backward()
        z = (x * x).sum()
        res[lib] = (x, x.grad, z)
    for p, q in zip(res[torch], res[mg]):
        close(p, q)
    assert isinstance(mg.ones(1).data, np.ndarray)


def test_version_counters_match_torch():
    def versions(lib):
        x = lib.tensor([1.0, 2.0])
        out = [x._version]
        x.add_(1)
        out.append(x._version)
        x[0] = 2.0
        out.append(x._version)
        x += 1
        out.append(x._version)
        v = x[:1]
        v.mul_(2)
        out.append((x._version, v._version))
        d = x.detach()
        d.zero_()
        out.append((x._version, d._version))
        y = lib.tensor([1.0, 2.0], requires_grad=True) * 2
        out.append(y._version)
        y.add_(1)
        y.relu_()
        out.append(y._version)
        return out

    assert versions(mg) == versions(torch) == [0, 1, 2, 3, (4, 4), (5, 5), 0, 2]


# ---------------------------------------------------------------- 4b. .grad assignment
def test_a_grad_set_by_hand_that_does_not_fit_is_refused():
    """torch refuses the assignment itself; minigrad accepts it but refuses to accumulate into it
    (instead of broadcasting, upcasting or failing inside NumPy)."""
    for bad in (mg.ones(3), mg.ones(1), mg.ones(2, dtype=mg.float64), np.ones(2, dtype=np.float32)):
        x = mg.tensor([1.0, 2.0], requires_grad=True)
        x.grad = bad
        with pytest.raises(RuntimeError, match=r"cannot accumulate the gradient into .grad of a float32\[2\]"):
            (x * 2).sum().backward()
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError):
        x.grad = torch.ones(3)
    for lib in LIBS:  # a fitting one is accumulated into, as in torch
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        x.grad = lib.ones(2)
        (x * 2).sum().backward()
        assert x.grad.tolist() == [3.0, 3.0]


# ---------------------------------------------------------------- 5. autograd.functional
def _f_single(x):
    return x.exp() * x.sum()


def _f_pair(x, y):
    return (x * y.sin()).sum(), x ** 2


@pytest.mark.parametrize("vectorize", [False, True])
def test_functional_jacobian_vjp_jvp_match_torch(vectorize):
    xa, ya = np.array([0.5, -1.0, 2.0]), np.array([0.3, 0.2, -0.7])
    res = {}
    for lib in LIBS:
        F = lib.autograd.functional
        x, y = t64(lib, xa), t64(lib, ya)
        j1 = F.jacobian(_f_single, x, vectorize=vectorize)
        j2 = F.jacobian(_f_pair, (x, y), vectorize=vectorize)
        out, vjp = F.vjp(_f_single, x, t64(lib, [1.0, 2.0, 3.0]))
        out2, jvp = F.jvp(_f_single, x, t64(lib, [1.0, -2.0, 0.5]))
        (o3, o4), (v3, v4) = F.vjp(_f_pair, (x, y), (t64(lib, 1.5), t64(lib, [1.0, 0.0, 2.0])))
        assert not out.requires_grad and not vjp.requires_grad and not j1.requires_grad
        res[lib] = [j1, j2[0][0], j2[0][1], j2[1][0], j2[1][1], out, vjp, out2, jvp, o3, o4, v3, v4]
    assert len(res[torch]) == len(res[mg])
    for p, q in zip(res[torch], res[mg]):
        assert tuple(p.shape) == tuple(q.shape)
        close(p, q)


def test_functional_refusals():
    x = t64(mg, [0.5, -1.0])
    F = mg.autograd.functional
    for name, call in (("hessian", lambda: F.hessian(lambda t: (t ** 3).sum(), x)),
                       ("hvp", lambda: F.hvp(lambda t: (t ** 3).sum(), x, t64(mg, [1.0, 1.0]))),
                       ("vhp", lambda: F.vhp(lambda t: (t ** 3).sum(), x, t64(mg, [1.0, 1.0]))),
                       (r"jacobian\(create_graph=True\)", lambda: F.jacobian(_f_single, x, create_graph=True)),
                       (r"vjp\(create_graph=True\)", lambda: F.vjp(_f_single, x, x, create_graph=True))):
        with pytest.raises(NotImplementedError, match=name + ".*no double backward"):
            call()
    # the same calls work in torch (documented difference: no double backward here)
    h = torch.autograd.functional.hessian(lambda t: (t ** 3).sum(), t64(torch, [0.5, -1.0]))
    assert h.tolist() == [[3.0, 0.0], [0.0, -6.0]]

    def const_strict(lib):
        lib.autograd.functional.jacobian(lambda t: lib.ones(3, dtype=lib.float64), t64(lib, [1.0]), strict=True)

    both_raise(const_strict, RuntimeError, "Output 0 of the user-provided function does not require gradients")
    both_raise(lambda lib: lib.autograd.functional.jacobian(lambda a: a * 2, [t64(lib, [1.0])]), TypeError,
               "Tensor or a tuple of Tensors")
    both_raise(lambda lib: lib.autograd.functional.vjp(_f_single, t64(lib, [1.0, 2.0])), RuntimeError,
               "v can only be None if the user-provided function returns a single Tensor with a single element")


def test_gradient_accumulates_into_the_same_grad_tensor():
    """torch's AccumulateGrad adds in place: a reference to .grad taken earlier sees the sum."""
    for lib in LIBS:
        x = t64(lib, [1.0, 2.0], True)
        (x * x).sum().backward()
        g = x.grad
        (x * 3).sum().backward()
        assert x.grad is g and g.tolist() == [5.0, 7.0]
