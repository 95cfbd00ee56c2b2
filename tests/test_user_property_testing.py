"""A user's own ops, property-tested with the public `minigrad.testing` tools (as README's
"Your own op, with its gradient property-tested" promises): correct ops pass over generated
shapes, dtypes and backends; each kind of wrong backward is caught with a report a learner
can act on; the API against torch.autograd.gradcheck and Hypothesis' own conventions."""
import inspect
import pathlib
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad.backend import get_array_module
from minigrad.testing import GradcheckError, check_op, gradcheck
from minigrad.testing import strategies as mst


# ---------------------------------------------------------------- (1) the README walkthrough, as is
def test_readme_walkthrough_runs_as_written():
    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "class Softsign(mg.Function)" in b)
    scope = {}
    exec(compile(code, "README.md custom op", "exec"), scope)  # runs both Hypothesis properties
    # ... and its property really bites: the same test on a softsign with a wrong backward fails.
    class BadSoftsign(scope["Softsign"]):
        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved
            return grad / (1 + abs(x))  # missing the square
    x = mg.tensor([0.5, -2.0], dtype="float64", requires_grad=True)
    with pytest.raises(GradcheckError, match=r"input 0 \(shape \(2,\)\): 2 of 2 elements differ"):
        gradcheck(BadSoftsign.apply, x)


# ---------------------------------------------------------------- (2) my own ops, correct backwards
class Softplus(mg.Function):
    """y = log(1 + exp(beta x)) / beta, and y = x where beta x > threshold;  dy/dx = sigmoid(beta x) (1 above)."""

    @staticmethod
    def forward(ctx, x, beta=1.0, threshold=20.0):
        xp = get_array_module(x)
        z = x * beta
        ctx.save_for_backward(z)
        ctx.threshold = threshold
        return xp.where(z > threshold, x, xp.logaddexp(0.0, z) / beta)

    @staticmethod
    def backward(ctx, grad):
        (z,) = ctx.saved
        xp = get_array_module(z)
        return grad * xp.where(z > ctx.threshold, 1.0, 1 / (1 + xp.exp(-z)))


def softplus(x, beta=1.0, threshold=20.0):
    return Softplus.apply(x, beta=beta, threshold=threshold)


def np_softplus(a, beta, threshold):
    return np.where(a * beta > threshold, a, np.logaddexp(0.0, a * beta) / beta)


class CumMax(mg.Function):
    """(values, indices): values[k] = max(x[:k+1]) along dim;  d values[k] / d x[j] = [j == indices[k]]."""

    @staticmethod
    def forward(ctx, x, dim=0):
        xp = get_array_module(x)
        xm = xp.moveaxis(x.reshape(x.shape or (1,)), dim, -1)
        vals, idx = xp.empty_like(xm), xp.empty(xm.shape, dtype=xp.int64)
        run, at = xm[..., 0], xp.zeros(xm.shape[:-1], dtype=xp.int64)
        for k in range(xm.shape[-1]):
            newer = xm[..., k] > run
            run, at = xp.where(newer, xm[..., k], run), xp.where(newer, k, at)
            vals[..., k], idx[..., k] = run, at
        values = xp.moveaxis(vals, -1, dim).reshape(x.shape)
        indices = xp.moveaxis(idx, -1, dim).reshape(x.shape)
        ctx.mark_non_differentiable(indices)
        ctx.save_for_backward(indices)
        ctx.dim = dim
        return values, indices

    @staticmethod
    def backward(ctx, g_values, g_indices):
        (indices,) = ctx.saved
        xp = get_array_module(indices)
        shape = indices.shape
        idx = xp.moveaxis(indices.reshape(shape or (1,)), ctx.dim, -1)
        g = xp.moveaxis(g_values.reshape(shape or (1,)), ctx.dim, -1)
        onehot = idx[..., :, None] == xp.arange(idx.shape[-1])  # [k, j]: output k came from input j
        return xp.moveaxis((g[..., :, None] * onehot).sum(-2), -1, ctx.dim).reshape(shape)


def cummax(x, dim=0):
    return CumMax.apply(x, dim=dim)


def np_cummax(a, dim):
    a1 = a.reshape(a.shape or (1,))
    values = np.maximum.accumulate(a1, axis=dim)
    n = a1.shape[dim]
    eq = np.moveaxis(a1, dim, -1)[..., None, :] == np.moveaxis(values, dim, -1)[..., :, None]  # [k, j]
    first = np.argmax(eq & (np.arange(n)[None, :] <= np.arange(n)[:, None]), axis=-1)
    return values.reshape(a.shape), np.moveaxis(first, -1, dim).reshape(a.shape)


class Lerp(mg.Function):
    """y = a + t (b - a), all three broadcast;  dy/da = 1 - t, dy/db = t, dy/dt = b - a.

    Returns full-size gradients: the engine sums them down to each input's shape (it undoes broadcasting)."""

    @staticmethod
    def forward(ctx, a, b, t):
        ctx.save_for_backward(a, b, t)
        return a + t * (b - a)

    @staticmethod
    def backward(ctx, grad):
        a, b, t = ctx.saved
        return grad * (1 - t), grad * t, grad * (b - a)


class TakeAlong(mg.Function):
    """y = take_along_axis(x, index, dim) (an integer side input);  dy[k]/dx[j] = [index[k] == j] along dim."""

    @staticmethod
    def forward(ctx, x, index, dim=0):
        xp = get_array_module(x)
        ctx.save_for_backward(index)
        ctx.dim, ctx.n = dim, x.shape[dim]
        return xp.take_along_axis(x, index, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        (index,) = ctx.saved
        xp = get_array_module(grad)
        idx, g = xp.moveaxis(index, ctx.dim, -1), xp.moveaxis(grad, ctx.dim, -1)
        onehot = idx[..., :, None] == xp.arange(ctx.n)
        return xp.moveaxis((g[..., :, None] * onehot).sum(-2), -1, ctx.dim), None  # no gradient for the index


class MaskedScale(mg.Function):
    """y = where(mask, s x, x) (a bool side input, broadcast);  dy/dx = where(mask, s, 1)."""

    @staticmethod
    def forward(ctx, x, mask, s=2.0):
        xp = get_array_module(x)
        ctx.save_for_backward(mask)
        ctx.s = s
        return xp.where(mask, x * s, x)

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved
        xp = get_array_module(grad)
        return xp.where(mask, grad * ctx.s, grad), None


class SinCos(mg.Function):
    """(sin x, cos x), both differentiable;  d/dx: cos x and -sin x."""

    @staticmethod
    def forward(ctx, x):
        xp = get_array_module(x)
        ctx.save_for_backward(x)
        return xp.sin(x), xp.cos(x)

    @staticmethod
    def backward(ctx, g_sin, g_cos):
        (x,) = ctx.saved
        xp = get_array_module(x)
        return g_sin * xp.cos(x) - g_cos * xp.sin(x)


class LogDetSPD(mg.Function):
    """y = log det A for symmetric positive-definite A, via Cholesky;  dy/dA = A^-1."""

    @staticmethod
    def forward(ctx, a):
        xp = get_array_module(a)
        chol = xp.linalg.cholesky(a)
        ctx.save_for_backward(a)
        return 2 * xp.log(xp.diagonal(chol, axis1=-2, axis2=-1)).sum(-1)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved
        xp = get_array_module(a)
        return grad[..., None, None] * xp.linalg.inv(a)


@given(data=st.data(), dtype=mst.float_dtypes(), beta=st.sampled_from([0.5, 1.0, 2.0]))
def test_softplus_with_threshold(device, data, dtype, beta):
    threshold = 1.0  # low, so both branches are drawn; the jump at x = threshold / beta is avoided
    shape = data.draw(mst.shapes(max_dims=3))
    x = data.draw(mst.tensors(shape=shape, dtype="float64", device=device, requires_grad=True,
                              avoid=[threshold / beta], avoid_margin=1e-3))
    assert gradcheck(softplus, x, beta, threshold)  # non-Tensor arguments pass through
    a = data.draw(mst.arrays(shape, dtype=dtype, avoid=[threshold / beta], avoid_margin=1e-3))
    check_op(lambda t: softplus(t, beta, threshold), lambda v: np_softplus(v, beta, threshold), [a], device)


@given(data=st.data())
def test_cummax_two_outputs_int_indices(device, data):
    shape = data.draw(mst.shapes(max_dims=3))
    dim = data.draw(mst.dims(len(shape)))
    x = data.draw(mst.tensors(shape=shape, dtype="float64", device=device, requires_grad=True, min_gap=1e-3))
    values, indices = cummax(x, dim)
    assert values.requires_grad and not indices.requires_grad and indices.dtype == np.int64
    assert gradcheck(lambda t: cummax(t, dim)[0], x)
    assert gradcheck(lambda t: cummax(t, dim), x)  # the int output takes no part
    a = x.numpy()  # values min_gap apart: no ties (not even within eps), so the argmax is one element
    check_op(lambda t: cummax(t, dim), lambda v: np_cummax(v, dim), [a], device)  # int output compared exactly


@given(data=st.data(), dtype=mst.float_dtypes())
def test_lerp_three_broadcast_inputs(device, data, dtype):
    sa, sb, st_ = data.draw(mst.broadcastable_shapes(3, max_dims=3, max_side=4))
    a, b, t = (data.draw(mst.tensors(shape=s, dtype="float64", device=device, requires_grad=True))
               for s in (sa, sb, st_))
    assert gradcheck(Lerp.apply, a, b, t)
    arrs = [data.draw(mst.arrays(s, dtype=dtype)) for s in (sa, sb, st_)]
    check_op(Lerp.apply, lambda u, v, w: u + w * (v - u), arrs, device)


@given(data=st.data())
def test_take_along_integer_side_input(device, data):
    shape = data.draw(mst.shapes(min_dims=1, max_dims=3))
    dim = data.draw(mst.dims(len(shape)))
    k = data.draw(st.integers(1, 5))
    d = dim % len(shape)
    index = data.draw(mst.index_arrays(shape[d], shape=shape[:d] + (k,) + shape[d + 1:]))  # k picks along dim
    x = data.draw(mst.tensors(shape=shape, dtype="float64", device=device, requires_grad=True))
    idx = mg.tensor(index, device=device)
    assert gradcheck(lambda t: TakeAlong.apply(t, idx, dim=dim), x)
    check_op(lambda t: TakeAlong.apply(t, idx, dim=dim), lambda a: np.take_along_axis(a, index, dim),
             [x.numpy()], device, exact=True)


@given(data=st.data())
def test_masked_scale_bool_side_input_broadcast(device, data):
    shape = data.draw(mst.shapes(max_dims=3))
    mshape = data.draw(mst.shapes_broadcasting_to(shape))
    mask = data.draw(mst.tensors(shape=mshape, dtype="bool", device=device))
    x = data.draw(mst.tensors(shape=shape, dtype="float64", device=device, requires_grad=True))
    assert gradcheck(lambda t: MaskedScale.apply(t, mask, s=3.0), x)
    check_op(lambda t: MaskedScale.apply(t, mask, s=3.0), lambda a: np.where(mask.numpy(), 3.0 * a, a),
             [x.numpy()], device)


@given(data=st.data())
def test_sincos_multi_output(device, data):
    x = data.draw(mst.tensors(shape=mst.shapes(max_dims=3), dtype="float64", device=device, requires_grad=True))
    assert gradcheck(SinCos.apply, x, nondet_tol=0.0)  # every output, each alone, and reentrant
    check_op(SinCos.apply, lambda a: (np.sin(a), np.cos(a)), [x.numpy()], device)


@given(data=st.data())
def test_logdet_of_generated_spd_matrices(device, data):
    a = data.draw(mst.positive_definite_matrices(batch_shape=mst.shapes(max_dims=1, max_side=3), device=device,
                                                 requires_grad=True))
    assert np.all(np.linalg.eigvalsh(a.numpy()) >= 0.5 - 1e-9)
    # gradcheck perturbs one element at a time, leaving the symmetric matrices: symmetrize first.
    assert gradcheck(lambda m: LogDetSPD.apply((m + m.mT) / 2), a)
    check_op(lambda m: LogDetSPD.apply((m + m.mT) / 2),
             lambda v: np.linalg.slogdet((v + np.swapaxes(v, -1, -2)) / 2)[1], [a.numpy()], device)


# ---------------------------------------------------------------- (3) wrong backwards, each caught
def leaf(values, device="cpu"):
    return mg.tensor(np.asarray(values, dtype=np.float64), device=device, requires_grad=True)


class SoftplusTimes(Softplus):
    """Off by a factor 1.5."""

    @staticmethod
    def backward(ctx, grad):
        return 1.5 * Softplus.backward(ctx, grad)


class SoftplusSignSlip(Softplus):
    """Wrong sign on element 0."""

    @staticmethod
    def backward(ctx, grad):
        g = Softplus.backward(ctx, grad)
        g.reshape(-1)[:1] *= -1
        return g


def test_factor_error_names_input_elements_values_and_the_factor(device):
    x = leaf([[0.3, -1.2], [2.0, 0.0]], device)
    with pytest.raises(GradcheckError) as info:
        gradcheck(SoftplusTimes.apply, x)
    msg = str(info.value)
    assert "input 0 (shape (2, 2)): 4 of 4 elements differ" in msg
    v = np.random.default_rng(0).standard_normal((2, 2))  # the cotangent (seed=0)
    expected = v[0, 0] / (1 + np.exp(-0.3))
    got, want = re.search(r"at \(0, 0\): analytic (\S+), numeric (\S+),", msg).groups()
    assert float(got) == pytest.approx(1.5 * expected, rel=1e-7) and float(want) == pytest.approx(expected, rel=1e-6)
    assert "pattern: analytic = 1.5 x numeric at every differing element (a constant factor" in msg
    # the Jacobian entries of that element: d out[0, 0] / d x0[0, 0] = sigmoid(0.3), analytic 1.5 times it
    jac = re.search(r"Jacobian d out\[0, 0\] / d x0\[0, 0\]: analytic (\S+), numeric (\S+)", msg).groups()
    assert float(jac[0]) == pytest.approx(1.5 / (1 + np.exp(-0.3)), rel=1e-7)
    assert float(jac[1]) == pytest.approx(1 / (1 + np.exp(-0.3)), rel=1e-6)
    # the values, every digit, to paste into a reproduction
    shown = re.search(r"inputs\[0\] = (\[\[.*?\]\])", msg, re.S).group(1)
    assert np.array_equal(np.array(eval(shown)), x.numpy())


def test_sign_slip_on_one_element_and_hypothesis_shrinks_to_a_minimal_example(device):
    x = leaf([[0.3, -1.2], [2.0, 0.5]], device)
    with pytest.raises(GradcheckError) as info:
        gradcheck(SoftplusSignSlip.apply, x)
    msg = str(info.value)
    assert "1 of 4 elements differ" in msg and "at (0, 0): analytic" in msg and "at (0, 1)" not in msg
    assert "analytic = -1 x numeric at that element (a sign error?)" in msg

    seen = []

    @settings(max_examples=30, derandomize=True, database=None)
    @given(mst.tensors(shape=mst.shapes(max_dims=3), dtype="float64", device=device, requires_grad=True))
    def prop(t):
        seen.append(t)
        gradcheck(SoftplusSignSlip.apply, t)

    with pytest.raises(GradcheckError) as info:
        prop()
    notes = "\n".join(getattr(info.value, "__notes__", []))
    # (Hypothesis's wording: "Falsifying example" until 6.16x, "Failing test case" in newer releases)
    assert "Falsifying example: prop(" in notes or "Failing test case: prop(" in notes
    minimal = seen[-1]  # Hypothesis replays the shrunk example last
    assert minimal.numel() == 1 and float(minimal.numpy().ravel()[0]) == 0.0  # a one-element 0.0 fails already
    assert "inputs[0] = " in str(info.value)


class MulWrongShape(mg.Function):
    """y = a * b with a's gradient flattened."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        return (g * b).reshape(-1), g * a


class MulWrongDtype(MulWrongShape):
    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        return g * b, (g * a).astype("float64")  # float64 for a float32 input


class MulMeanNotSum(MulWrongShape):
    """Undoes b's broadcasting by a mean: off by the number of broadcast rows."""

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        return g * b, (g * a).mean(axis=0)


class MulForgetsB(MulWrongShape):
    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        return g * b, None


class MulOneGradient(MulWrongShape):
    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        return g * b


def test_gradient_of_the_wrong_shape_is_refused_by_the_engine(device):
    a, b = leaf(np.ones((2, 3)), device), leaf([1.0, 2.0, 3.0], device)
    with pytest.raises(RuntimeError, match=r"MulWrongShape returned a gradient of shape \(6,\) for an input of shape "
                                           r"\(2, 3\), which is not a broadcast of it") as info:
        gradcheck(MulWrongShape.apply, a, b)
    assert "gradcheck: raised by the backward of fn on inputs (float64[2, 3], float64[3])" in info.value.__notes__


def test_gradient_of_the_wrong_dtype_is_caught_by_check_op(device):
    arrs = [np.ones((2, 3)), np.arange(3.0)]
    # gradcheck runs in float64 only, where float64 is the right dtype: it cannot see this slip ...
    assert gradcheck(MulWrongDtype.apply, leaf(arrs[0], device), leaf(arrs[1], device))
    # ... check_op's float32 run does, through the engine's refusal
    with pytest.raises(RuntimeError, match="MulWrongDtype returned a float64 gradient for a float32 input") as info:
        check_op(MulWrongDtype.apply, lambda u, v: u * v, arrs, device)
    assert any("check_op: raised by the float32 backward" in n for n in info.value.__notes__)


def test_broadcasting_left_to_the_engine_is_right_and_undone_wrongly_is_caught(device):
    a, b = leaf(np.full((4, 3), 0.5), device), leaf([1.0, 2.0, 3.0], device)
    assert gradcheck(Lerp.apply, a, b, leaf([[0.25]], device))  # full-size gradients: the engine sums them
    with pytest.raises(GradcheckError, match=r"(?s)input 1 \(shape \(3,\)\): 3 of 3 elements differ.*"
                                             r"pattern: analytic = 0.25 x numeric"):
        gradcheck(MulMeanNotSum.apply, a, b)


def test_forgotten_gradient(device):
    a, b = leaf([[1.0, 2.0]], device), leaf([0.5, -1.0], device)
    with pytest.raises(GradcheckError) as info:
        gradcheck(MulForgetsB.apply, a, b)
    msg = str(info.value)
    assert "input 1 (shape (2,)): 2 of 2 elements differ" in msg and "input 0 (" not in msg
    assert "backward returned no gradient (None) for this input" in msg
    with pytest.raises(RuntimeError, match=r"MulOneGradient.backward returned 1 gradient\(s\) for 2 input\(s\)"):
        gradcheck(MulOneGradient.apply, a, b)


class DoublesInPlace(mg.Function):
    """y = 2x, written into x."""

    @staticmethod
    def forward(ctx, x):
        x *= 2
        return x.copy()

    @staticmethod
    def backward(ctx, g):
        return g * 2


class SquareScribblesOnSaved(mg.Function):
    """y = x**2 whose backward overwrites the saved input (the caller's array)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        x *= 2
        return g * x


def test_writing_into_the_input_is_caught(device):
    x = leaf([1.5, -0.5], device)
    with pytest.raises(GradcheckError, match=r"input 0 was written to by fn's forward \(at \(0,\): was 1.5, now 3\)"):
        gradcheck(DoublesInPlace.apply, x)
    with pytest.raises(GradcheckError, match=r"input 0 was written to by fn's backward"):
        gradcheck(SquareScribblesOnSaved.apply, x)
    assert x.numpy().tolist() == [1.5, -0.5]  # gradcheck works on copies
    with pytest.raises(AssertionError, match="input 0 was written to"):
        check_op(DoublesInPlace.apply, lambda a: 2 * a, [np.array([1.5, -0.5])], device)


class Alias(mg.Function):
    """y = x, returned as a view of the input (no copy, not declared a view)."""

    @staticmethod
    def forward(ctx, x):
        return x.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        return g


def test_output_aliasing_the_input_is_caught_by_check_op(device):
    with pytest.raises(AssertionError, match="output 0 shares memory with input 0, but autograd does not know it is a "
                                             "view of it"):
        check_op(Alias.apply, lambda a: a, [np.ones((2, 3))], device)


def test_engine_copies_an_undeclared_alias():
    """An output sharing an input's memory without is_view gets its own copy when a graph is recorded, so a later
    in-place write to the input cannot change what the graph saved of the output (it was silently wrong)."""
    w = leaf([1.0, 2.0])
    x = w * 1
    y = Alias.apply(x)
    z = (y * y).sum()
    x.mul_(2)  # changes y too: z's backward would use the new values
    z.backward()
    assert w.grad.numpy().tolist() == [2.0, 4.0]
    assert y.numpy().tolist() == [1.0, 2.0]  # y kept the values it had when it was made
    # the same for an op returning its input array itself, and for an output viewing the input's owner
    for make in (lambda a: a, lambda a: a[::-1][::-1]):
        w = leaf([1.0, 2.0])
        x = w * 1
        y = _apply_returning(make, x)
        z = (y * y).sum()
        x.mul_(3)
        z.backward()
        assert w.grad.numpy().tolist() == [2.0, 4.0]


def _apply_returning(make, x):
    class Returns(mg.Function):
        @staticmethod
        def forward(ctx, a):
            return make(a)

        @staticmethod
        def backward(ctx, g):
            return g

    return Returns.apply(x)


class NonDeterministic(mg.Function):
    """y = x with a backward that drifts from call to call (as a backward reading uninitialised memory)."""
    calls = 0

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, g):
        NonDeterministic.calls += 1
        return g * (1 + 1e-9 * NonDeterministic.calls)


class SinCosNoneUnsafe(SinCos):
    """Right with both outputs used; wrong when one is unused (treats a missing gradient as 1)."""

    @staticmethod
    def forward(ctx, x):
        ctx.set_materialize_grads(False)
        return SinCos.forward(ctx, x)

    @staticmethod
    def backward(ctx, g_sin, g_cos):
        (x,) = ctx.saved
        xp = get_array_module(x)
        g_sin = 1.0 if g_sin is None else g_sin
        g_cos = 1.0 if g_cos is None else g_cos
        return g_sin * xp.cos(x) - g_cos * xp.sin(x)


def test_nondeterministic_and_unused_output_backwards(device):
    x = leaf([0.3, 1.1], device)
    assert gradcheck(NonDeterministic.apply, x)  # off by default (GPU atomics legitimately differ)
    with pytest.raises(GradcheckError, match=r"input 0: backward is not deterministic: two runs with the same inputs "
                                             r"and cotangent differ by .* \(nondet_tol=0.0\)"):
        gradcheck(NonDeterministic.apply, x, nondet_tol=0.0)
    assert gradcheck(NonDeterministic.apply, x, nondet_tol=1e-6)
    with pytest.raises(GradcheckError, match="backward mishandles the zero \\(or None\\) gradient of an unused output"):
        gradcheck(SinCosNoneUnsafe.apply, x)
    assert gradcheck(SinCosNoneUnsafe.apply, x, check_undefined_grad=False)  # both used: right


# ---------------------------------------------------------------- the API against torch's and Hypothesis'
def test_same_verdicts_and_defaults_as_torch_gradcheck():
    torch = pytest.importorskip("torch")

    class TSoftplusTimes(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return torch.nn.functional.softplus(x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 1.5 * g * torch.sigmoid(x)

    vals = np.array([[0.3, -1.2], [2.0, 0.0]])
    tx = torch.tensor(vals, requires_grad=True)
    assert torch.autograd.gradcheck(torch.nn.functional.softplus, (tx,))
    assert gradcheck(softplus, leaf(vals))
    assert mg.autograd.gradcheck(softplus, (leaf(vals),))  # torch's signature
    assert gradcheck(softplus, (leaf(vals),))  # torch's (fn, (inputs,)) form works here too
    assert torch.autograd.gradcheck(TSoftplusTimes.apply, (tx,), raise_exception=False) is False
    assert gradcheck(SoftplusTimes.apply, leaf(vals), raise_exception=False) is False
    with pytest.raises(GradcheckError):
        mg.autograd.gradcheck(NonDeterministic.apply, (leaf(vals),))  # nondet_tol=0.0 as torch's default
    theirs = inspect.signature(torch.autograd.gradcheck).parameters
    ours = inspect.signature(gradcheck).parameters
    for name in ("eps", "atol", "rtol", "raise_exception", "check_undefined_grad"):
        assert ours[name].default == theirs[name].default, name
    assert ours["nondet_tol"].default is None and theirs["nondet_tol"].default == 0.0  # documented difference


def test_strategies_compose_shrink_and_replay_deterministically():
    drawn = []

    @settings(max_examples=10, derandomize=True, database=None)
    @given(st.data())
    def collect(data):
        shape = data.draw(mst.shapes(max_dims=2, max_side=3))
        target = data.draw(mst.shapes_broadcasting_to(shape))
        idx = data.draw(mst.index_arrays(shape[0] if shape else 1, unique=True, allow_negative=True))
        drawn.append((shape, target, idx.tolist(), data.draw(mst.arrays(shape, dtype="float32")).tolist()))

    collect()
    first = list(drawn)
    drawn.clear()
    collect()
    assert drawn == first  # derandomize: the same examples every run


@given(data=st.data(), shape=mst.shapes(max_dims=4))
def test_new_strategies_keep_their_promises(data, shape):
    target = data.draw(mst.shapes_broadcasting_to(shape))
    assert len(target) <= len(shape) and np.broadcast_shapes(target, shape) == shape
    dim = data.draw(mst.dims(len(shape)))
    np.zeros(shape or (1,)).sum(axis=dim)  # valid (0-d: 0 or -1, as torch)
    n = data.draw(st.integers(1, 5))
    idx = data.draw(mst.index_arrays(n, allow_negative=True))
    assert idx.dtype == np.int64 and idx.ndim == 1 and ((-n <= idx) & (idx < n)).all()
    uniq = data.draw(mst.index_arrays(n, unique=True, allow_negative=True))
    assert len(np.unique(uniq % n)) == uniq.size
    a = data.draw(mst.arrays(shape, dtype="float32", min_value=-1, max_value=1, avoid=[0.0]))
    assert isinstance(a, np.ndarray) and a.dtype == np.float32 and a.shape == shape
    assert ((np.abs(a) > 1e-2) & (np.abs(a) <= 1)).all()
    m = data.draw(mst.positive_definite_matrices(n=st.integers(1, 3), dtype="float32"))
    assert m.dtype == np.float32 and np.allclose(m.numpy(), m.numpy().T) and np.linalg.eigvalsh(m.numpy()).min() > 0.4
