"""Reductions (sum, mean, var, max, min, logsumexp, argmax/argmin) over dim None/int/tuple, keepdim.

Values are compared with NumPy, gradients with float64 finite differences
(`gradcheck`); max/min draw distinct values (`unique=True`) so the function is
differentiable, and the tie rule (gradient split evenly among tied extremes,
torch.amax's rule) has its own exact tests.
"""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad.ops.reduce import CumSum, LogSumExp, Max, Mean, Min, Norm, Prod, Sum, Var
from minigrad.testing import strategies as mst

from opcheck import check_op, draw_array

GRADIENT_TESTED = [Sum, Mean, Var, Max, Min, LogSumExp, Norm, CumSum, Prod]

SHAPES = mst.shapes(max_dims=4, max_side=4)


@st.composite
def shape_and_dim(draw, shapes=SHAPES):
    """A shape, a `dim` argument (None, an int, possibly negative, or a tuple) and NumPy's `axis` for it."""
    shape = draw(shapes)
    nd = len(shape)
    if nd == 0:
        dim = draw(st.sampled_from([None, 0, -1]))  # torch accepts dim 0 / -1 on a 0-d tensor
        return shape, dim, None
    dim = draw(st.one_of(st.none(), st.integers(-nd, nd - 1),
                         st.lists(st.integers(-nd, nd - 1), min_size=1, max_size=nd,
                                  unique_by=lambda d: d % nd).map(tuple)))
    axis = dim if dim is None or isinstance(dim, int) else tuple(d % nd for d in dim)
    return shape, dim, axis


def _reduced_count(shape, axis):
    if axis is None:
        return int(np.prod(shape))
    axes = (axis,) if isinstance(axis, int) else axis
    return int(np.prod([shape[a] for a in axes]))


REDUCTIONS = {
    # name: (minigrad call, NumPy reference, strategy keywords)
    "sum": (lambda x, d, k: x.sum(d, keepdim=k), lambda a, ax, k: np.sum(a, axis=ax, keepdims=k), {}),
    "mg.sum": (lambda x, d, k: mg.sum(x, d, k), lambda a, ax, k: np.sum(a, axis=ax, keepdims=k), {}),
    "mean": (lambda x, d, k: x.mean(dim=d, keepdim=k), lambda a, ax, k: np.mean(a, axis=ax, keepdims=k), {}),
    "F.mean": (lambda x, d, k: F.mean(x, d, k), lambda a, ax, k: np.mean(a, axis=ax, keepdims=k), {}),
    "amax method": (lambda x, d, k: x.amax(d, k), lambda a, ax, k: np.max(a, axis=ax, keepdims=k), dict(unique=True)),
    "amax": (lambda x, d, k: F.amax(x, d, k), lambda a, ax, k: np.max(a, axis=ax, keepdims=k), dict(unique=True)),
    "amin method": (lambda x, d, k: x.amin(d, k), lambda a, ax, k: np.min(a, axis=ax, keepdims=k), dict(unique=True)),
    "F.amin": (lambda x, d, k: F.amin(x, d, k), lambda a, ax, k: np.min(a, axis=ax, keepdims=k), dict(unique=True)),
    "logsumexp": (lambda x, d, k: x.logsumexp(d, k),
                  lambda a, ax, k: np.log(np.sum(np.exp(a), axis=ax, keepdims=k)), {}),
    "mg.logsumexp": (lambda x, d, k: mg.logsumexp(x, d, keepdim=k),
                     lambda a, ax, k: np.log(np.sum(np.exp(a), axis=ax, keepdims=k)), {}),
}


@pytest.mark.parametrize("name", list(REDUCTIONS))
@given(data=st.data(), sda=shape_and_dim(), keepdim=st.booleans())
def test_reduction(device, name, data, sda, keepdim):
    fn, ref, kw = REDUCTIONS[name]
    shape, dim, axis = sda
    if kw.get("unique"):
        # Distinct is not enough for finite differences (1.0 and 1.0000001 are distinct):
        # distinct integers scaled by 1/64 are at least 0.015 apart, and exact in float32.
        ints = data.draw(mst.tensors(shape=shape, dtype="int64", min_value=-192, max_value=192, unique=True))
        a = ints.numpy() / 64.0
    else:
        a = draw_array(data, shape, device, **kw)
    check_op(lambda x: fn(x, dim, keepdim), lambda x: ref(x, axis, keepdim), [a], device)


@pytest.mark.parametrize("correction", [0, 1, 2])
@given(data=st.data(), sda=shape_and_dim(), keepdim=st.booleans())
def test_var(device, correction, data, sda, keepdim):
    shape, dim, axis = sda
    assume(_reduced_count(shape, axis) > correction)  # N - correction <= 0 is undefined (NaN)
    a = draw_array(data, shape, device)
    check_op(lambda x: x.var(dim, keepdim=keepdim, correction=correction),
             lambda x: np.var(x, axis=axis, ddof=correction, keepdims=keepdim), [a], device, f32_tol=5e-5)


def _np_norm2(a, ax, k):
    return np.sqrt(np.sum(a * a, axis=ax, keepdims=k))


NORMS = {
    "norm": (lambda x, d, k: x.norm(dim=d, keepdim=k), _np_norm2),
    "F.norm fro": (lambda x, d, k: F.norm(x, "fro", d, k), _np_norm2),
    "mg.norm p=1": (lambda x, d, k: mg.norm(x, 1, d, k), lambda a, ax, k: np.sum(np.abs(a), axis=ax, keepdims=k)),
}


@pytest.mark.parametrize("name", list(NORMS))
@given(data=st.data(), sda=shape_and_dim(), keepdim=st.booleans())
def test_norm(device, name, data, sda, keepdim):
    """Elements stay away from 0, where |x| has its kink and the 2-norm of a zero slice has no derivative."""
    fn, ref = NORMS[name]
    shape, dim, axis = sda
    a = draw_array(data, shape, device, avoid=[0.0], avoid_margin=0.05)
    check_op(lambda x: fn(x, dim, keepdim), lambda x: ref(x, axis, keepdim), [a], device)


@given(data=st.data(), sda=shape_and_dim(), keepdim=st.booleans())
def test_norm_inf(device, data, sda, keepdim):
    """The largest |x| takes the gradient: magnitudes distinct (ints / 64), signs drawn separately."""
    shape, dim, axis = sda
    mags = data.draw(mst.tensors(shape=shape, dtype="int64", min_value=1, max_value=320, unique=True)).numpy()
    signs = data.draw(mst.tensors(shape=shape, dtype="bool")).numpy()
    a = np.where(signs, mags, -mags) / 64.0
    check_op(lambda x: x.norm(float("inf"), dim, keepdim), lambda x: np.max(np.abs(x), axis=axis, keepdims=keepdim),
             [a], device)


@pytest.mark.parametrize("correction", [0, 1])
@given(data=st.data(), sda=shape_and_dim(), keepdim=st.booleans())
def test_std(device, correction, data, sda, keepdim):
    """Distinct values (ints / 64), so every slice of two or more has a positive spread."""
    shape, dim, axis = sda
    assume(_reduced_count(shape, axis) > correction)
    a = data.draw(mst.tensors(shape=shape, dtype="int64", min_value=-192, max_value=192, unique=True)).numpy() / 64.0
    check_op(lambda x: x.std(dim, keepdim=keepdim, correction=correction),
             lambda x: np.std(x, axis=axis, ddof=correction, keepdims=keepdim), [a], device, f32_tol=5e-5)


def test_norm_and_std_where_they_have_no_derivative(device):
    """At a zero vector (norm) or a constant slice (std) the gradient is the subgradient 0 (torch's norm
    gives 0 too; its std gives NaN there)."""
    z = mg.zeros(3, dtype="float64", device=device, requires_grad=True)
    z.norm().backward()
    np.testing.assert_array_equal(z.grad.numpy(), [0.0, 0.0, 0.0])
    c = mg.full((2, 3), 1.5, dtype="float64", device=device, requires_grad=True)
    c.std(dim=1).sum().backward()
    np.testing.assert_array_equal(c.grad.numpy(), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="norm: p must be 2"):
        z.norm(p=3)
    with pytest.raises(ValueError, match="std: 1 element.*no degrees of freedom"):
        mg.tensor([3.0], device=device).std()
    with pytest.raises(TypeError, match="std: expected a floating-point tensor"):
        mg.tensor([1, 2], device=device).std()


@given(data=st.data(), shape=mst.shapes(min_dims=1, max_dims=3, max_side=4))
def test_cumsum_prod(device, data, shape):
    """prod's backward multiplies prefix and suffix products, so zeros in x need no special case."""
    a = draw_array(data, shape, device, min_value=-1.5, max_value=1.5)
    d = data.draw(st.integers(-len(shape), len(shape) - 1))
    check_op(lambda x: x.cumsum(d), lambda x: np.cumsum(x, axis=d), [a], device)
    keepdim = data.draw(st.booleans())
    check_op(lambda x: x.prod(d, keepdim=keepdim), lambda x: np.prod(x, axis=d, keepdims=keepdim), [a], device)
    check_op(lambda x: mg.prod(x), lambda x: np.prod(x), [a], device)


def test_prod_with_zeros_has_exact_gradients(device):
    x = mg.tensor([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0]], dtype="float64", device=device, requires_grad=True)
    x.prod(1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0]])


@given(data=st.data(), shape=mst.shapes(min_dims=1, max_dims=3, max_side=4), descending=st.booleans())
def test_sort_topk(device, data, shape, descending):
    """Distinct values (ints / 64), so the order, and with it the gradient, is well defined."""
    ints = data.draw(mst.tensors(shape=shape, dtype="int64", min_value=-192, max_value=192, unique=True))
    a = ints.numpy() / 64.0
    d = data.draw(st.integers(-len(shape), len(shape) - 1))
    order = np.argsort(-a if descending else a, axis=d, kind="stable")
    check_op(lambda x: x.sort(d, descending=descending).values, lambda x: np.take_along_axis(x, order, d), [a],
             device)
    np.testing.assert_array_equal(mg.tensor(a, device=device).argsort(d, descending).numpy(), order)
    k = data.draw(st.integers(0, shape[d]))
    top = np.take(order, range(k), axis=d)
    got = mg.tensor(a, device=device).topk(k, d, largest=descending)
    np.testing.assert_array_equal(got.indices.numpy(), top)
    check_op(lambda x: mg.topk(x, k, d, largest=descending)[0], lambda x: np.take_along_axis(x, top, d), [a], device)


def test_var_default_is_unbiased_and_too_few_elements_raise(device):
    x = mg.tensor([1.0, 2.0, 4.0], dtype="float64", device=device)
    assert x.var().item() == pytest.approx(np.var([1.0, 2.0, 4.0], ddof=1), rel=1e-15)
    assert F.var(x, correction=0).item() == pytest.approx(np.var([1.0, 2.0, 4.0]), rel=1e-15)
    # N <= correction: no degrees of freedom; torch returns NaN, minigrad refuses (no silent NaN)
    with pytest.raises(ValueError, match="var: 1 element.*no degrees of freedom"):
        mg.tensor([3.0], device=device).var()


@pytest.mark.parametrize("op,name", [(lambda x, *a: x.amax(*a), "max"), (lambda x, *a: x.amin(*a), "min")])
def test_amax_amin_ties_split_the_gradient_evenly(device, op, name):
    ext = 3.0 if name == "max" else -3.0
    x = mg.tensor([[1.0, ext, ext, 0.0], [ext, ext, ext, 0.5]], dtype="float64", device=device, requires_grad=True)
    op(x).backward()  # all: five tied extremes share 1
    g = np.where(x.numpy() == ext, 1 / 5, 0.0)
    np.testing.assert_allclose(x.grad.numpy(), g, rtol=1e-15)
    x.grad = None
    op(x, 1).sum().backward()  # along dim 1: row 0 has 2 ties, row 1 has 3
    np.testing.assert_allclose(x.grad.numpy(), [[0, 1 / 2, 1 / 2, 0], [1 / 3, 1 / 3, 1 / 3, 0]], rtol=1e-15)
    x.grad = None
    op(x, (0, 1), True).backward(mg.tensor([[2.0]], dtype="float64", device=device))
    np.testing.assert_allclose(x.grad.numpy(), 2 * g, rtol=1e-15)
    assert x.grad.dtype == np.float64
    # float32 keeps float32 through the count division
    y = mg.tensor([2.0, 2.0], device=device, requires_grad=True)
    op(y * (1 if name == "max" else -1)).backward()
    assert y.grad.dtype == np.float32
    np.testing.assert_array_equal(np.abs(y.grad.numpy()), [0.5, 0.5])


@pytest.mark.parametrize("fn,ref", [(mg.argmax, np.argmax), (mg.argmin, np.argmin),
                                    (lambda x, *a, **k: x.argmax(*a, **k), np.argmax)])
@given(data=st.data(), shape=mst.shapes(min_dims=1, max_dims=3, max_side=4), keepdim=st.booleans())
def test_argmax_argmin(device, fn, ref, data, shape, keepdim):
    # small integers give ties: the first occurrence wins, as in NumPy and torch
    a = data.draw(mst.tensors(shape=shape, dtype="int64", min_value=-2, max_value=2)).numpy().astype(np.float32)
    x = mg.tensor(a, device=device, requires_grad=True)
    out = fn(x)
    assert out.dtype == np.int64 and not out.requires_grad and out.shape == ()
    assert out.item() == ref(a)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    out = fn(x, dim, keepdim=keepdim)
    want = ref(a, axis=dim, keepdims=keepdim)
    assert out.dtype == np.int64 and out.shape == want.shape and out.grad_fn is None
    np.testing.assert_array_equal(out.numpy(), want)
    kd = fn(x, None, keepdim=True)
    assert kd.shape == (1,) * len(shape) and kd.numpy().item() == ref(a)


@pytest.mark.parametrize("name", ["all", "any"])
@given(data=st.data(), shape=mst.shapes(max_dims=3, max_side=3), keepdim=st.booleans())
def test_all_any_over_dims(device, name, data, shape, keepdim):
    # small integers: zeros make both answers vary; empty dims give all() = True, any() = False
    a = data.draw(mst.tensors(shape=shape, dtype="int64", min_value=0, max_value=1)).numpy()
    x = mg.tensor(a, device=device)
    ref = getattr(np, name)
    for dim in [None, ()] + list(range(-len(shape), len(shape))) + ([(0, -1)] if len(shape) >= 2 else []):
        want = ref(a, axis=dim, keepdims=keepdim)  # dim=() reduces nothing (torch's all/any, like NumPy)
        for out in (getattr(x, name)(dim, keepdim=keepdim), getattr(mg, name)(x, dim=dim, keepdim=keepdim)):
            assert out.dtype == np.bool_ and out.shape == want.shape and out.device == x.device
            np.testing.assert_array_equal(out.numpy(), want)
    with pytest.raises(IndexError, match=name):
        getattr(x, name)(len(shape) + 1)


def test_logsumexp_is_stable(device):
    x = mg.tensor([[1000.0, 1000.0], [-1000.0, -1e30], [-np.inf, -np.inf]], device=device, requires_grad=True)
    y = x.logsumexp(1)
    want = [1000.0 + np.log(2.0), -1000.0, -np.inf]
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-6)
    assert y.dtype == np.float32
    y[:2].sum().backward()
    np.testing.assert_allclose(x.grad.numpy()[:2], [[0.5, 0.5], [1.0, 0.0]], rtol=1e-6)


def test_integer_reductions(device):
    i = mg.tensor([[1, 2], [3, 4]], device=device)
    s = i.sum(0)
    assert s.dtype == np.int64
    np.testing.assert_array_equal(s.numpy(), [4, 6])
    np.testing.assert_array_equal(i.max(1).values.numpy(), [2, 4])
    np.testing.assert_array_equal(i.amax(1).numpy(), [2, 4])
    with pytest.raises(TypeError, match="mean: expected a floating-point tensor"):
        i.mean()


def test_reductions_of_0d_and_size_one(device):
    x = mg.tensor(2.5, dtype="float64", device=device, requires_grad=True)
    for y in (x.sum(), x.mean(), x.max(), x.min(0).values, x.min(0).indices, x.logsumexp(-1), x.sum(0, keepdim=True)):
        assert y.shape == ()
    (x.sum() + x.max() + x.logsumexp()).backward()
    assert x.grad.item() == 3.0
    with pytest.raises(ValueError, match="max: cannot reduce over an empty dimension"):
        mg.zeros(0, 3).max(0)


@pytest.mark.parametrize("name", ["sum", "mean", "var", "amax", "amin", "logsumexp"])
def test_empty_dim_tuple_reduces_every_dim_as_torch(device, name):
    """torch reads dim=() as "all dims"; NumPy's axis=() would reduce none."""
    x = mg.tensor(np.arange(6.0).reshape(2, 3), device=device, requires_grad=True)
    fn = getattr(F, name) if hasattr(F, name) else getattr(mg, name)
    for empty in ((), []):
        got = fn(x, dim=empty)
        want = fn(x)
        assert got.shape == () and got.item() == pytest.approx(want.item(), rel=1e-12)
    assert fn(x, dim=(), keepdim=True).shape == (1, 1)
    fn(x, dim=()).backward()
    x2 = mg.tensor(x.numpy(), device=device, requires_grad=True)
    fn(x2).backward()
    np.testing.assert_allclose(x.grad.numpy(), x2.grad.numpy(), rtol=1e-12)
