"""Module hooks compared with torch 2.13: full backward hooks, backward pre-hooks, and the forward
hooks' keyword options (prepend, with_kwargs, always_call).

Each test runs the same program with torch and with minigrad (float64, the same weights) and
compares what the hooks see (grad_input / grad_output: values, and None where torch has None),
the gradients that come out, and the refusals (same exception type; minigrad's message checked).
Documented differences are tested as such: the legacy `register_backward_hook` is refused
(torch still runs its non-full semantics, which depend on torch's autograd nodes), and a
backward pre-hook that turns every grad_output into None skips the module (torch still runs
it with zero gradients).
"""
import contextlib
import gc
import warnings
import weakref

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import nn
from minigrad.ops.hooks import BackwardHookFunction, backward_hook_identity
from minigrad.testing import gradcheck
from minigrad.testing import strategies as mst

torch = pytest.importorskip("torch")

GRADIENT_TESTED = [BackwardHookFunction]
LIBS = (torch, mg)


# ---------------------------------------------------------------- helpers
def arr(t):
    """A NumPy copy of a torch or minigrad tensor (None stays None)."""
    if t is None:
        return None
    return t.detach().numpy().copy() if isinstance(t, torch.Tensor) else np.array(t.numpy())


def grads(seq):
    return [arr(g) for g in seq]


def same(a, b, rtol=1e-12, atol=1e-13):
    """Nested lists/tuples of arrays or None, equal structure and values."""
    if a is None or b is None:
        assert a is None and b is None, (a, b)
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), (a, b)
        for x, y in zip(a, b):
            same(x, y, rtol, atol)
    else:
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


def t64(lib, values, requires_grad=False):
    return lib.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


def linear(lib, w, b):
    m = lib.nn.Linear(w.shape[1], w.shape[0]).double()
    m.load_state_dict({"weight": t64(lib, w), "bias": t64(lib, b)})
    return m


def both_raise(fn, exc, match_mg, match_torch=None):
    with pytest.raises(exc, match=match_torch):
        fn(torch)
    with pytest.raises(exc, match=match_mg):
        fn(mg)


RNG = np.random.default_rng(0)
W, B, X = RNG.standard_normal((2, 3)), RNG.standard_normal(2), RNG.standard_normal((4, 3))
W2, B2 = RNG.standard_normal((2, 2)), RNG.standard_normal(2)


@contextlib.contextmanager
def all_warnings():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


# ---------------------------------------------------------------- full backward hooks: what the hooks see
def test_linear_full_backward_hook_sees_torch_grad_input_and_grad_output():
    res = {}
    for lib in LIBS:
        lin = linear(lib, W, B)
        log = []
        lin.register_full_backward_hook(lambda m, gi, go: log.append((m is lin, grads(gi), grads(go))))
        x = t64(lib, X, True)
        (lin(x).tanh() ** 2).sum().backward()
        assert len(log) == 1 and log[0][0]
        res[lib] = (log[0][1:], arr(x.grad), arr(lin.weight.grad), arr(lin.bias.grad))
    same(res[torch], res[mg])


class Several(object):
    """forward(a, s, b) -> (a * s, (b * 2).detach(), a + b, 7): a tuple with an output that needs no
    gradient, one that may get none, and a non-Tensor; one non-Tensor argument."""

    @staticmethod
    def make(lib):
        class M(lib.nn.Module):
            def forward(self, a, s, b):
                return a * s, (b * 2).detach(), a + b, 7

        return M()


@pytest.mark.parametrize("b_requires_grad,use", [(False, 0), (True, 2), (True, 0)])
def test_tuple_outputs_non_tensor_arguments_and_missing_gradients_match_torch(b_requires_grad, use):
    """None for non-Tensor arguments/outputs and for outputs that got no gradient; zeros for a Tensor
    argument that got none (also one that does not require grad): torch's rules."""
    res = {}
    for lib in LIBS:
        m = Several.make(lib)
        log = []
        m.register_full_backward_pre_hook(lambda m, go: log.append(("pre", grads(go))))
        m.register_full_backward_hook(lambda m, gi, go: log.append(("full", grads(gi), grads(go))))
        a, b = t64(lib, [1.0, 2.0], True), t64(lib, [3.0], b_requires_grad)
        out = m(a, 3.0, b)
        assert [o.requires_grad for o in out[:3]] == [True, False, True] and out[3] == 7
        (out[use] * 5).sum().backward()
        res[lib] = (log, arr(a.grad), arr(b.grad))
    assert [e[0] for e in res[mg][0]] == ["pre", "full"]
    same([e[1:] for e in res[torch][0]], [e[1:] for e in res[mg][0]])
    same(res[torch][1:], res[mg][1:])


def test_module_used_twice_calls_its_hooks_twice_in_backward_order():
    res = {}
    for lib in LIBS:
        lin = linear(lib, W2, B2)
        calls = []
        lin.register_full_backward_hook(lambda m, gi, go: calls.append((grads(gi), grads(go))))
        x = t64(lib, X[:, :2], True)
        (lin(lin(x)) ** 2).sum().backward()
        res[lib] = (calls, arr(x.grad), arr(lin.weight.grad))
    assert len(res[mg][0]) == 2
    same(res[torch], res[mg])


def test_retain_graph_backward_twice_calls_the_hooks_each_time():
    res = {}
    for lib in LIBS:
        lin = linear(lib, W, B)
        calls = []
        lin.register_full_backward_hook(lambda m, gi, go: calls.append(grads(gi)))
        x = t64(lib, X, True)
        loss = (lin(x) ** 2).sum()
        loss.backward(retain_graph=True)
        loss.backward()
        res[lib] = (calls, arr(x.grad))
    assert len(res[mg][0]) == 2
    same(res[torch], res[mg])


def test_keyword_tensors_are_not_in_grad_input():
    res = {}
    for lib in LIBS:
        class K(lib.nn.Module):
            def forward(self, x, y=None):
                return x * y

        k = K()
        log = []
        k.register_full_backward_hook(lambda m, gi, go: log.append((grads(gi), grads(go))))
        x, y = t64(lib, [[1.0, 2.0]], True), t64(lib, [[3.0, 4.0]], True)
        k(x, y=y).sum().backward()
        res[lib] = (log, arr(x.grad), arr(y.grad))
    same(res[torch], res[mg])


def test_forward_hook_output_replacement_comes_before_the_backward_hooks():
    res = {}
    for lib in LIBS:
        lin = linear(lib, W, B)
        lin.register_forward_hook(lambda m, a, o: o * 3)
        log = []
        lin.register_full_backward_hook(lambda m, gi, go: log.append((grads(gi), grads(go))))
        x = t64(lib, X, True)
        (lin(x) * 2).sum().backward()
        res[lib] = (log, arr(x.grad))
    same(res[torch], res[mg])


def test_identity_module_passes_its_input_through_both_nodes():
    res = {}
    for lib in LIBS:
        ident = lib.nn.Identity()
        log = []
        ident.register_full_backward_hook(lambda m, gi, go: log.append((grads(gi), grads(go))))
        x = t64(lib, [[1.0, 2.0]], True)
        (ident(x) * 3).sum().backward()
        res[lib] = (log, arr(x.grad))
    same(res[torch], res[mg])


# ---------------------------------------------------------------- replacing gradients
def test_full_hook_replacing_grad_input_changes_what_reaches_the_input_only():
    res = {}
    for lib in LIBS:
        lin = linear(lib, W, B)
        lin.register_full_backward_hook(lambda m, gi, go: (gi[0] * 0 + 1,))
        x = t64(lib, X, True)
        (lin(x) ** 2).sum().backward()
        res[lib] = (arr(x.grad), arr(lin.weight.grad), arr(lin.bias.grad))
    same(res[torch], res[mg])
    np.testing.assert_array_equal(res[mg][0], np.ones_like(X))

    res = {}
    for lib in LIBS:  # None: the input gets no gradient; the parameters still do
        lin = linear(lib, W, B)
        lin.register_full_backward_hook(lambda m, gi, go: (None,))
        x = t64(lib, X, True)
        (lin(x) ** 2).sum().backward()
        res[lib] = (arr(x.grad), arr(lin.weight.grad))
    same(res[torch], res[mg])
    assert res[mg][0] is None


def test_pre_hook_replacing_grad_output_changes_everything_behind_it():
    res = {}
    for lib in LIBS:
        lin = linear(lib, W, B)
        seen = []
        lin.register_full_backward_pre_hook(lambda m, go: (go[0] * 10,))
        lin.register_full_backward_hook(lambda m, gi, go: seen.append((grads(gi), grads(go))))
        x = t64(lib, X, True)
        (lin(x) ** 2).sum().backward()
        res[lib] = (seen, arr(x.grad), arr(lin.weight.grad), arr(lin.bias.grad))
    same(res[torch], res[mg])


def test_guided_backprop_on_relus_matches_torch():
    """A saliency-map program: every ReLU's hook clamps grad_input at 0 (guided backpropagation)."""
    rng = np.random.default_rng(5)
    w1, b1, w2, b2 = rng.standard_normal((5, 3)), rng.standard_normal(5), rng.standard_normal((2, 5)), \
        rng.standard_normal(2)
    xv = rng.standard_normal((4, 3))
    res = {}
    for lib in LIBS:
        net = lib.nn.Sequential(linear(lib, w1, b1), lib.nn.ReLU(), linear(lib, w2, b2), lib.nn.ReLU())
        handles = [m.register_full_backward_hook(lambda m, gi, go: (gi[0].clamp(min=0.0),))
                   for m in net if isinstance(m, lib.nn.ReLU)]
        x = t64(lib, xv, True)
        net(x)[:, 1].sum().backward()
        guided = arr(x.grad)
        for h in handles:
            h.remove()
        x.grad = None
        net(x)[:, 1].sum().backward()
        res[lib] = (guided, arr(x.grad))
    same(res[torch], res[mg])
    assert not np.allclose(res[mg][0], res[mg][1])  # the hooks did change something


def test_gradient_logging_per_layer_matches_torch():
    """Record each layer's grad_output norm over two SGD steps (a training-loop debugging program)."""
    target = RNG.standard_normal((4, 2))
    res = {}
    for lib in LIBS:
        net = lib.nn.Sequential(linear(lib, W, B), lib.nn.Tanh(), linear(lib, W2, B2))
        norms = []
        for name, m in list(net.named_children())[1:]:  # (the first layer's input needs no gradient)
            m.register_full_backward_hook(lambda m, gi, go, name=name: norms.append((name, float((go[0] ** 2).sum()))))
        opt = lib.optim.SGD(net.parameters(), lr=0.1)
        x, y = t64(lib, X), t64(lib, target)
        losses = []
        for _ in range(2):
            opt.zero_grad()
            loss = ((net(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        res[lib] = (losses, norms, [arr(p) for p in net.parameters()])
    assert [n for n, _ in res[mg][1]] == ["2", "1"] * 2  # backward order
    same(res[torch][0], res[mg][0])
    same([v for _, v in res[torch][1]], [v for _, v in res[mg][1]])
    same(res[torch][2], res[mg][2])


# ---------------------------------------------------------------- order, removal, snapshot
def test_prepend_order_and_removal():
    res = {}
    for lib in LIBS:
        lin = linear(lib, W, B)
        order = []
        lin.register_full_backward_hook(lambda m, gi, go: order.append("a"))
        hb = lin.register_full_backward_hook(lambda m, gi, go: order.append("b"), prepend=True)
        lin.register_full_backward_pre_hook(lambda m, go: order.append("pa"))
        hpb = lin.register_full_backward_pre_hook(lambda m, go: order.append("pb"), prepend=True)
        x = t64(lib, X, True)
        lin(x).sum().backward()
        hb.remove()
        hpb.remove()
        lin(x).sum().backward()
        res[lib] = order
    assert res[mg] == res[torch] == ["pb", "pa", "b", "a", "pa", "a"]


def test_the_hooks_of_a_call_are_those_registered_when_it_ran():
    res = {}
    for lib in LIBS:
        x = t64(lib, X, True)
        fired = []
        late = linear(lib, W, B)
        out = late(x)
        late.register_full_backward_hook(lambda m, gi, go: fired.append("late"))
        out.sum().backward()
        removed = linear(lib, W, B)
        h = removed.register_full_backward_hook(lambda m, gi, go: fired.append("removed"))
        out = removed(x)
        h.remove()
        out.sum().backward()
        res[lib] = fired
    assert res[mg] == res[torch] == ["removed"]


# ---------------------------------------------------------------- no grad, no input grad, odd outputs
def test_hooks_are_not_called_under_no_grad():
    for lib in LIBS:
        lin = linear(lib, W, B)
        calls = []
        lin.register_full_backward_hook(lambda m, gi, go: calls.append(1))
        lin.register_full_backward_pre_hook(lambda m, go: calls.append(2))
        with lib.no_grad():
            y = lin(t64(lib, X, True))
        assert not y.requires_grad and calls == []


def test_no_input_requires_grad_calls_the_hook_with_none_and_torch_warning():
    res = {}
    for lib in LIBS:
        lin = linear(lib, W, B)
        log = []
        lin.register_full_backward_hook(lambda m, gi, go: log.append((grads(gi), grads(go))))
        with all_warnings() as caught:
            (lin(t64(lib, X)) ** 2).sum().backward()
        assert any("no inputs require gradients" in str(w.message) and w.category is UserWarning for w in caught)
        res[lib] = (log, arr(lin.weight.grad))
    same(res[torch], res[mg])
    assert res[mg][0][0][0] == [None]

    def returns_a_gradient(lib):
        lin = linear(lib, W, B)
        lin.register_full_backward_hook(lambda m, gi, go: (go[0],))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lin(t64(lib, X)).sum().backward()

    both_raise(returns_a_gradient, RuntimeError, "no input requires gradient should always return None")


def test_list_output_warns_and_calls_no_hook():
    for lib in LIBS:
        class L(lib.nn.Module):
            def forward(self, x):
                return [x * 2]

        m = L()
        calls = []
        m.register_full_backward_hook(lambda m, gi, go: calls.append(1))
        x = t64(lib, [1.0, 2.0], True)
        with all_warnings() as caught:
            out = m(x)
        assert any("module output should be a Tensor or a tuple of Tensors" in str(w.message) for w in caught)
        out[0].sum().backward()
        assert calls == [] and arr(x.grad).tolist() == [2.0, 2.0]


def test_namedtuple_output_stays_a_namedtuple():
    from collections import namedtuple

    Pair = namedtuple("Pair", "a b")
    for lib in LIBS:
        class P(lib.nn.Module):
            def forward(self, x):
                return Pair(x * 2, x * 3)

        m = P()
        log = []
        m.register_full_backward_hook(lambda m, gi, go: log.append(grads(go)))
        x = t64(lib, [1.0], True)
        out = m(x)
        assert type(out) is Pair
        (out.a + out.b).sum().backward()
        same(log, [[[1.0], [1.0]]])
        assert arr(x.grad).tolist() == [5.0]


# ---------------------------------------------------------------- refusals
def test_wrong_number_of_gradients_is_refused_with_torch_message():
    def full(lib):
        lin = linear(lib, W, B)
        lin.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
        lin(t64(lib, X, True)).sum().backward()

    def pre(lib):
        lin = linear(lib, W, B)
        lin.register_full_backward_pre_hook(lambda m, go: (go[0], go[0]))
        lin(t64(lib, X, True)).sum().backward()

    both_raise(full, RuntimeError, "Backward hook returned an invalid number of grad_input, got 2, but expected 1",
               "Backward hook returned an invalid number of grad_input, got 2, but expected 1")
    both_raise(pre, RuntimeError, "Backward pre hook returned an invalid number of grad_output, got 2, but "
               "expected 1", "Backward pre hook returned an invalid number of grad_output")


@pytest.mark.parametrize("bad,exc,msg", [
    (lambda g: (g[:1],), RuntimeError, r"returned a gradient float64\[1, 3\] .* float64\[4, 3\] on cpu; it must keep"),
    (lambda g: (g.float(),), RuntimeError, r"float32\[4, 3\] .* must keep the shape, dtype"),
    (lambda g: (3.0,), TypeError, "returned a float at position 0; expected a Tensor or None"),
    (lambda g: g, (TypeError, RuntimeError), "must return None or a tuple of 1 grad_input"),
])
def test_bad_replacement_gradients_are_refused(bad, exc, msg):
    def run(lib):
        lin = linear(lib, W, B)
        lin.register_full_backward_hook(lambda m, gi, go: bad(gi[0]))
        lin(t64(lib, X, True)).sum().backward()

    both_raise(run, exc, msg)


def test_in_place_change_of_a_hooked_output_is_refused():
    def output_relu_(lib):
        lin = linear(lib, W, B)
        lin.register_full_backward_hook(lambda m, gi, go: None)
        lin(t64(lib, X, True)).relu_()

    def inplace_relu_module(lib):
        relu = lib.nn.ReLU(inplace=True)
        relu.register_full_backward_hook(lambda m, gi, go: None)
        relu(t64(lib, X, True) * 1)

    both_raise(output_relu_, RuntimeError, r"relu_: .* shares memory with the input of BackwardHookFunction",
               "is a view and is being modified inplace")
    both_raise(inplace_relu_module, RuntimeError, r"relu_: .* shares memory with the input of BackwardHookFunction",
               "is a view and is being modified inplace")

    res = {}
    for lib in LIBS:  # the fix both libraries suggest: clone() first
        lin = linear(lib, W, B)
        lin.register_full_backward_hook(lambda m, gi, go: None)
        x = t64(lib, X, True)
        lin(x).clone().relu_().sum().backward()
        res[lib] = arr(x.grad)
    same(res[torch], res[mg])


def test_in_place_change_of_the_input_after_the_forward_is_caught_at_backward():
    """The hooked input is a view of the caller's tensor, sharing its version counter (as torch's)."""
    def run(lib):
        lin = linear(lib, W, B)
        lin.register_full_backward_hook(lambda m, gi, go: None)
        h = t64(lib, X, True) * 1
        y = lin(h)  # Linear saves its (hooked) input for the weight's gradient
        h.mul_(2)
        y.sum().backward()

    both_raise(run, RuntimeError, "an input of Linear .* was modified in place after the op used it")


def test_legacy_register_backward_hook_is_refused_clearly():
    """Documented difference: torch 2.13 still runs the deprecated non-full hook, whose grad_input are the
    gradients of torch's last autograd node (for Linear: bias, input, weight.T): minigrad refuses it."""
    log = []
    tl = linear(torch, W, B)
    tl.register_backward_hook(lambda m, gi, go: log.append(len(gi)))
    with pytest.warns(FutureWarning, match="non-full backward hook"):  # torch's own deprecation
        tl(t64(torch, X, True)).sum().backward()
    assert log == [3]  # what a port would get wrong by mapping it to the full hook (1 grad_input)
    with pytest.raises(NotImplementedError, match="register_full_backward_hook"):
        linear(mg, W, B).register_backward_hook(lambda m, gi, go: None)


def test_pre_hook_dropping_every_gradient_skips_the_module():
    """Documented difference: torch still runs the module's backward with zeros (x.grad = 0, the full hook
    is called); minigrad's engine runs no node that receives no gradient (x.grad stays None)."""
    res = {}
    for lib in LIBS:
        lin = linear(lib, W, B)
        calls = []
        lin.register_full_backward_pre_hook(lambda m, go: (None,))
        lin.register_full_backward_hook(lambda m, gi, go: calls.append(grads(gi)))
        x = t64(lib, X, True)
        lin(x).sum().backward()
        res[lib] = (arr(x.grad), calls, lin.weight.grad)
    assert np.array_equal(res[torch][0], np.zeros_like(X)) and len(res[torch][1]) == 1
    assert res[mg][0] is None and res[mg][1] == []
    assert res[torch][2] is None and res[mg][2] is None  # no gradient reached the parameters in either


# ---------------------------------------------------------------- forward hooks: torch's keyword options
def test_forward_hooks_with_kwargs_and_prepend_match_torch():
    res = {}
    for lib in LIBS:
        class Scale(lib.nn.Module):
            def forward(self, x, scale=1.0):
                return x * scale

        m = Scale()
        order = []
        m.register_forward_pre_hook(lambda m, a: order.append("pre"))
        m.register_forward_pre_hook(lambda m, a, k: (order.append("pre-kw-first"), ((a[0] + 1,), {"scale": 3.0}))[1],
                                    with_kwargs=True, prepend=True)
        m.register_forward_hook(lambda m, a, out: order.append("post"))
        m.register_forward_hook(lambda m, a, k, out: (order.append(("post-kw", k["scale"])), out * 2)[1],
                                with_kwargs=True, prepend=True)
        out = m(t64(lib, [1.0, 2.0]), scale=5.0)
        res[lib] = (arr(out), order)
    assert res[mg][1] == res[torch][1] == ["pre-kw-first", "pre", ("post-kw", 3.0), "post"]
    same(res[torch][0], res[mg][0])

    def bad_pre(lib):
        m = lib.nn.Identity()
        m.register_forward_pre_hook(lambda m, a, k: a, with_kwargs=True)
        m(t64(lib, [1.0]))

    both_raise(bad_pre, RuntimeError, r"forward pre-hook must return None or a tuple of \(new_args, new_kwargs\)")

    for lib in LIBS:  # a single value (not a tuple) from a plain pre-hook is the one argument
        m = lib.nn.Identity()
        m.register_forward_pre_hook(lambda m, a: t64(lib, [7.0]))
        assert arr(m(t64(lib, [1.0]))).tolist() == [7.0]


def test_forward_hook_always_call_runs_when_forward_raises():
    res = {}
    for lib in LIBS:
        class Bad(lib.nn.Module):
            def forward(self, x):
                raise ValueError("boom")

        b = Bad()
        seen = []
        b.register_forward_hook(lambda m, a, r: seen.append(("always", r)), always_call=True)
        b.register_forward_hook(lambda m, a, r: seen.append(("normal", r)))
        b.register_forward_hook(lambda m, a, k, r: seen.append(("kw", k, r)), always_call=True, with_kwargs=True)

        def raiser(m, a, r):
            raise KeyError("hook err")

        b.register_forward_hook(raiser, always_call=True)
        with all_warnings() as caught, pytest.raises(ValueError, match="boom"):
            b(t64(lib, [1.0]))
        assert any("always_call=True`` raised an exception that was silenced" in str(w.message) for w in caught)
        res[lib] = seen
    assert res[mg] == res[torch] == [("always", None), ("kw", {}, None)]

    for lib in LIBS:  # a hook that already ran is not run again when a later hook raises
        m = lib.nn.Identity()
        seen = []
        m.register_forward_hook(lambda m, a, r: seen.append("always"), always_call=True)

        def bad(m, a, r):
            raise ValueError("in hook")

        m.register_forward_hook(bad)
        with pytest.raises(ValueError, match="in hook"):
            m(t64(lib, [1.0]))
        assert seen == ["always"]


# ---------------------------------------------------------------- the identity op and memory
@given(data=st.data(), shapes=st.lists(mst.shapes(max_dims=3, max_side=4), min_size=1, max_size=3))
def test_backward_hook_function_gradient(device, data, shapes):
    xs = [data.draw(mst.tensors(shape=s, device=device, requires_grad=True)) for s in shapes]
    assert gradcheck(lambda *a: BackwardHookFunction.apply(*a), *xs)
    seen = []

    def record(g):
        seen.append(len(g))
        return tuple(x * 2 for x in g)  # a replacement is what flows on

    leaves = [mg.tensor(x.numpy(), requires_grad=True, device=device) for x in xs]
    outs = backward_hook_identity(leaves, record)
    sum((o * o).sum() for o in outs).backward()
    assert seen == [len(xs)]
    for x, leaf in zip(xs, leaves):
        np.testing.assert_allclose(leaf.grad.numpy(), 4 * x.numpy(), rtol=1e-12)


def test_hooked_module_leaves_no_graph_alive_after_backward():
    """Bounded memory: the hook machinery forms no reference cycle (checked with the garbage collector off)."""
    lin = nn.Linear(3, 2, dtype=mg.float64)
    lin.register_full_backward_hook(lambda m, gi, go: None)
    lin.register_full_backward_pre_hook(lambda m, go: None)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        x = mg.tensor(X, requires_grad=True)
        out = lin(x)
        node, inner = weakref.ref(out.grad_fn), weakref.ref(lin(x).grad_fn)
        loss = (out ** 2).sum()
        loss.backward()
        del out, loss
        assert node() is None and inner() is None
    finally:
        if was_enabled:
            gc.enable()


def test_lstm_nested_tuple_output_matches_torch():
    """models.LSTM returns (output, (h_n, c_n)): only the top-level Tensor gets a grad_output (torch's rule)."""
    import models

    xv = np.random.default_rng(0).standard_normal((5, 2, 3))
    tl = torch.nn.LSTM(3, 4).double()
    res = {}
    for lib in LIBS:
        lstm = tl if lib is torch else models.LSTM(3, 4).double()
        if lib is mg:
            lstm.load_state_dict({k: v.detach().numpy() for k, v in tl.state_dict().items()})
        log = []
        lstm.register_full_backward_hook(lambda m, gi, go: log.append((grads(gi), grads(go))))
        x = t64(lib, xv, True)
        out, (h, c) = lstm(x)
        (out.sum() + (h * c).sum()).backward()
        res[lib] = (log, arr(x.grad))
    assert res[mg][0][0][1][1] is None
    same(res[torch], res[mg], rtol=1e-10)
