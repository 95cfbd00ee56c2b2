"""More of torch.Tensor's members, each against torch: dtype conversions (byte/char/short), in-place
aliases (subtract_, divide_, greater_, addmm_, ...), renorm, polygamma, mvlgamma, frexp, angle, the
identities of real tensors (conj, real, adjoint, ...), predicates, where/prelu/hardshrink, cov/corrcoef,
histogram, memory (data_ptr, storage_offset, resize_, share_memory_, pin_memory), the legacy `new`,
and the clear errors of torch's removed methods (solve, lstsq, symeig, eig).

The new differentiable ops (Renorm, Polygamma, Frexp, Angle) get a Hypothesis property (`check_op`:
values against torch in float64 and float32, gradients against finite differences) on every backend;
cov and corrcoef (compositions) get gradchecks too; then torch parity of values and gradients.
"""
import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import backend as B
from minigrad.ops.norm_more import Renorm
from minigrad.ops.special import Angle, Frexp, Polygamma
from minigrad.testing import gradcheck
from minigrad.testing import strategies as mst

from opcheck import check_op, draw_array

torch = pytest.importorskip("torch")
try:  # the polygamma property's reference (torch's own trigamma is good to ~1e-9 only)
    import scipy.special as sp
except ImportError:
    sp = None

GRADIENT_TESTED = [Renorm, Polygamma, Frexp, Angle]

INF, NAN = math.inf, math.nan


def T(a, dtype=None, **kw):
    """A torch tensor of the same values (float64 arrays stay float64; Python floats give float32, as here)."""
    return torch.tensor(a if isinstance(a, (list, float)) else np.asarray(a), dtype=dtype, **kw)


def same(ours, theirs, rtol=1e-6, atol=1e-7, dtype=True):
    """Values (NaN = NaN), shape and dtype of a minigrad tensor against a torch tensor."""
    a, b = ours.numpy(), theirs.detach().numpy()
    assert a.shape == b.shape, (a.shape, b.shape)
    if dtype:
        assert a.dtype == b.dtype, (a.dtype, b.dtype)
    np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True)


# ================================================================ dtype conversions
@pytest.mark.parametrize("name, dt", [("byte", np.uint8), ("char", np.int8), ("short", np.int16)])
@pytest.mark.parametrize("src", [np.float32, np.float64, np.int64, np.bool_])
def test_small_integer_conversions(name, dt, src):
    a = np.array([0, 1, 2.7, 100, 5.5], dtype=np.float64).astype(src)
    if name != "byte" and src != np.bool_:
        a = a * np.array(-1 if src != np.bool_ else 1).astype(src)  # negatives where the dtype is signed
    out, ref = getattr(mg.tensor(a), name)(), getattr(T(a), name)()
    assert out.dtype == dt
    same(out, ref)


def test_conversions_cut_the_graph_and_keep_identity_of_dtype():
    x = mg.tensor([1.5, 2.5], requires_grad=True)
    y = x.short()
    assert y.dtype == mg.int16 and not y.requires_grad  # integers carry no gradient, as torch
    z = mg.tensor([1, 2], dtype=mg.uint8)
    assert z.byte().dtype == mg.uint8 and z.byte().tolist() == [1, 2]


# ================================================================ in-place aliases
_BINARY_ALIASES = [
    ("subtract_", "sub", (2.0,), {"alpha": 3}),
    ("multiply_", "mul", (-1.5,), {}),
    ("divide_", "div", (4.0,), {}),
    ("divide_", "div", (4.0,), {"rounding_mode": "trunc"}),
    ("divide_", "div", (-4.0,), {"rounding_mode": "floor"}),
    ("true_divide_", "true_divide", (3.0,), {}),
    ("greater_", "gt", (0.5,), {}),
    ("greater_equal_", "ge", (1.0,), {}),
    ("less_", "lt", (0.5,), {}),
    ("less_equal_", "le", (1.0,), {}),
    ("not_equal_", "ne", (1.0,), {}),
    ("fix_", "trunc", (), {}),
]


@pytest.mark.parametrize("name, twin, args, kw", _BINARY_ALIASES)
def test_inplace_aliases_match_torch(name, twin, args, kw):
    a = np.array([[-2.5, 1.0, 0.25], [3.75, -0.5, 1.0]], dtype=np.float32)
    x, t = mg.tensor(a), T(a)
    assert getattr(x, name)(*args, **kw) is x  # in place: self returned
    getattr(t, name)(*args, **kw)
    same(x, t)
    # the alias is the op itself
    assert np.array_equal(x.numpy(), getattr(mg.tensor(a), twin)(*args, **kw).to(x.dtype).numpy())


def test_tensor_operands_and_gradients_through_recorded_aliases():
    a, b = np.array([1.5, -2.0, 3.0]), np.array([0.5, 4.0, -1.0])
    x, y = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
    tx, ty = T(a, requires_grad=True), T(b, requires_grad=True)
    z, tz = x * 1, tx * 1
    z.subtract_(y, alpha=2).multiply_(y).divide_(y + 5)
    tz.subtract_(ty, alpha=2).multiply_(ty).divide_(ty + 5)
    same(z, tz)
    z.sum().backward()
    tz.sum().backward()
    same(x.grad, tx.grad)
    same(y.grad, ty.grad)


def test_integer_inplace_divisions():
    a = np.array([7, -7, 9], dtype=np.int64)
    for mode in ("trunc", "floor"):
        x, t = mg.tensor(a), T(a)
        assert x.divide_(2, rounding_mode=mode) is x
        t.divide_(2, rounding_mode=mode)
        same(x, t)
    with pytest.raises(RuntimeError, match="true_divide_"):  # a float quotient can't go into int64, as torch
        mg.tensor(a).true_divide_(2)
    with pytest.raises(RuntimeError):
        T(a).true_divide_(2)


def test_comparison_aliases_on_a_tensor_in_a_graph_have_zero_gradient():
    x, tx = mg.tensor([1.0, 2.0, 3.0], requires_grad=True), T([1.0, 2.0, 3.0], requires_grad=True)
    y, ty = x * 2, tx * 2
    y.greater_(3.0)
    ty.greater_(3.0)
    same(y, ty)
    (y * 5).sum().backward()
    (ty * 5).sum().backward()
    same(x.grad, tx.grad)


def test_inplace_alias_refused_on_a_leaf_that_requires_grad():
    for name, args in (("subtract_", (1.0,)), ("greater_", (0.0,)), ("fix_", ())):
        x = mg.tensor([1.0, 2.0], requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf"):
            getattr(x, name)(*args)


_MATRIX_INPLACE = [  # (name, self shape, operand shapes)
    ("addmm_", (2, 4), [(2, 3), (3, 4)]),
    ("addbmm_", (2, 4), [(5, 2, 3), (5, 3, 4)]),
    ("baddbmm_", (5, 2, 4), [(5, 2, 3), (5, 3, 4)]),
    ("addmv_", (2,), [(2, 3), (3,)]),
    ("addr_", (2, 3), [(2,), (3,)]),
]


@pytest.mark.parametrize("name, shape, operands", _MATRIX_INPLACE)
def test_matrix_inplace_forms_values_and_gradients(name, shape, operands):
    rng = np.random.default_rng(1)
    arrays = [rng.normal(size=s) for s in [shape, *operands]]
    ours = [mg.tensor(a, requires_grad=True) for a in arrays]
    theirs = [T(a, requires_grad=True) for a in arrays]
    z, tz = ours[0] * 1, theirs[0] * 1
    assert getattr(z, name)(*ours[1:], beta=0.5, alpha=-2) is z
    getattr(tz, name)(*theirs[1:], beta=0.5, alpha=-2)
    same(z, tz, rtol=1e-10, atol=1e-12)
    w = rng.normal(size=shape)
    (z * mg.tensor(w)).sum().backward()
    (tz * T(w)).sum().backward()
    for o, t in zip(ours, theirs):
        same(o.grad, t.grad, rtol=1e-10, atol=1e-12)
    # without a graph: written into self, float32 kept
    x = mg.tensor(arrays[0].astype(np.float32))
    t = T(arrays[0].astype(np.float32))
    getattr(x, name)(*[mg.tensor(a.astype(np.float32)) for a in arrays[1:]])
    getattr(t, name)(*[T(a.astype(np.float32)) for a in arrays[1:]])
    same(x, t, rtol=1e-5, atol=1e-5)


def test_matrix_inplace_refuses_a_self_that_would_change_shape():
    x = mg.zeros(4)  # addmm would broadcast it to (2, 4): an in-place write cannot
    with pytest.raises((ValueError, RuntimeError), match="addmm_"):
        x.addmm_(mg.ones(2, 3), mg.ones(3, 4))
    with pytest.raises(RuntimeError):
        torch.zeros(4).addmm_(torch.ones(2, 3), torch.ones(3, 4))


# ================================================================ fix
def test_fix_is_trunc():
    a = np.array([-2.7, -0.5, 0.0, 0.5, 2.7, INF, NAN], dtype=np.float32)
    same(mg.tensor(a).fix(), T(a).fix())
    x = mg.tensor([1.7, -2.2], requires_grad=True)
    x.fix().sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]


# ================================================================ renorm
_PS = [1.0, 2.0, 3.0, 0.5, INF]


@given(data=st.data(), p=st.sampled_from(_PS))
def test_renorm_property(device, data, p):
    shape = data.draw(mst.shapes(min_dims=2, max_dims=3, max_side=4))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    a = draw_array(data, shape, device, avoid=[0.0], min_gap=1e-3 if p == INF else None)
    maxnorm = data.draw(st.floats(0.25, 4.0))
    norms = torch.linalg.vector_norm(T(a), p, dim=[d for d in range(a.ndim) if d != dim % a.ndim]).numpy()
    assume(np.all(np.abs(norms - maxnorm) > 1e-3 * (1 + maxnorm)))  # (the kink of the rescaling)
    check_op(lambda x: x.renorm(p, dim, maxnorm), lambda x: T(x).renorm(p, dim, maxnorm).numpy(), [a], device,
             f32_tol=1e-4)


@pytest.mark.parametrize("p", _PS)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_renorm_matches_torch_values_and_gradients(p, dim):
    rng = np.random.default_rng(2)
    a, w = rng.normal(size=(3, 4, 2)) * 2, rng.normal(size=(3, 4, 2))
    x, t = mg.tensor(a, requires_grad=True), T(a, requires_grad=True)
    y, ty = x.renorm(p, dim, 1.5), t.renorm(p, dim, 1.5)
    same(y, ty, rtol=1e-12, atol=1e-12)
    (y * mg.tensor(w)).sum().backward()
    (ty * T(w)).sum().backward()
    same(x.grad, t.grad, rtol=1e-10, atol=1e-12)
    same(mg.tensor(a, dtype=mg.float32).renorm(p, dim, 1.5), T(a, dtype=torch.float32).renorm(p, dim, 1.5),
         rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("p", [INF, 0.5, 2.0])
def test_renorm_gradient_at_ties_zeros_and_zero_slices(p):
    a = np.array([[3.0, -3.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0], [2.0, 0.0, -1.0, 0.5]])  # a tie for inf, zeros
    w = np.arange(12.0).reshape(3, 4)
    x, t = mg.tensor(a, requires_grad=True), T(a, requires_grad=True)
    (x.renorm(p, 0, 1.0) * mg.tensor(w)).sum().backward()
    (t.renorm(p, 0, 1.0) * T(w)).sum().backward()
    same(x.grad, t.grad, rtol=1e-12, atol=1e-12)  # (inf: the tie shares the gradient, as torch)


def test_renorm_inplace_and_top_level_function():
    a = np.random.default_rng(3).normal(size=(3, 4)).astype(np.float32) * 3
    x, t = mg.tensor(a), T(a)
    assert x.renorm_(2, 0, 1.0) is x
    t.renorm_(2, 0, 1.0)
    same(x, t, rtol=1e-6)
    # on a non-leaf: recorded, with torch's gradient
    b = a.astype(np.float64)
    x, t = mg.tensor(b, requires_grad=True), T(b, requires_grad=True)
    y, ty = x * 1, t * 1
    y.renorm_(1, 1, 2.0)
    ty.renorm_(1, 1, 2.0)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    same(x.grad, t.grad, rtol=1e-10)
    with pytest.raises(RuntimeError, match="leaf"):
        mg.tensor(b, requires_grad=True).renorm_(2, 0, 1.0)


def test_renorm_errors():
    x = mg.randn(3, 4)
    with pytest.raises(RuntimeError, match="non-positive"):
        x.renorm(0, 0, 1)
    with pytest.raises(RuntimeError, match="maxnorm"):
        x.renorm(2, 0, -1)
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        mg.randn(3).renorm(2, 0, 1)
    with pytest.raises(IndexError, match="renorm"):
        x.renorm(2, 2, 1)
    with pytest.raises(TypeError, match="floating-point"):
        mg.tensor([[1, 2]]).renorm(2, 0, 1)
    with pytest.raises(TypeError, match="maxnorm must be a number"):
        x.renorm(2, 0, "1")
    for bad in (lambda: torch.randn(3, 4).renorm(0, 0, 1), lambda: torch.randn(3, 4).renorm(2, 0, -1),
                lambda: torch.randn(3).renorm(2, 0, 1)):
        with pytest.raises(RuntimeError):
            bad()


# ================================================================ polygamma, mvlgamma
@pytest.mark.skipif(sp is None, reason="scipy is not installed")
@given(data=st.data(), n=st.integers(0, 3))
def test_polygamma_property(device, data, n):
    a = draw_array(data, mst.shapes(max_dims=2, max_side=4), device, min_value=0.3, max_value=6.0)
    check_op(lambda x: x.polygamma(n), lambda x: sp.polygamma(n, x), [a], device, f32_tol=1e-4)


_AWKWARD = np.array([0.5, 1.0, -0.5, 0.0, -0.0, -1.0, -2.3, -7.7, 3.0, 1e-3, 50.0, -INF, NAN, 123.4], np.float64)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("use_scipy", [True, False])
def test_polygamma_matches_torch_at_awkward_points(n, use_scipy, monkeypatch):
    monkeypatch.setattr(B, "use_scipy", use_scipy)  # (False: our own series, as without SciPy)
    ours = mg.tensor(_AWKWARD).polygamma(n)
    theirs = torch.polygamma(n, T(_AWKWARD))
    keep = np.ones(_AWKWARD.size, bool)
    if n == 1:
        keep &= _AWKWARD != -1.0  # torch's trigamma gives 6.6e32 at the pole -1 (ours: inf, as at 0, -2, ...)
    # (torch's trigamma, n = 1, is good to ~1e-9 relative: pi**2/6 at 1 is 1.6449340676 there, 1.6449340668 here)
    same(ours[mg.tensor(keep)], theirs[torch.tensor(keep)], rtol=1e-9 if n == 1 else 1e-11, atol=0)
    # +inf: torch gives 0 for n = 0, 1 (limits) and NaN for n >= 2 (its zeta), and so do we
    same(mg.tensor([INF]).polygamma(n), torch.polygamma(n, T([INF])))


def test_polygamma_dtypes_gradient_and_inplace():
    assert mg.tensor([1, 2]).polygamma(1).dtype == mg.float32  # integers: the default float, as torch
    same(mg.tensor([1, 2]).polygamma(2), torch.polygamma(2, torch.tensor([1, 2])))
    a = np.array([0.7, 1.3, 2.9, -0.4])
    x, t = mg.tensor(a, requires_grad=True), T(a, requires_grad=True)
    mg.tensor(a)  # (the input is not written)
    x.polygamma(2).sum().backward()
    torch.polygamma(2, t).sum().backward()
    same(x.grad, t.grad, rtol=1e-10)
    x32 = mg.tensor(a.astype(np.float32))
    assert x32.polygamma_(3) is x32
    same(x32, T(a.astype(np.float32)).polygamma_(3), rtol=1e-5)
    with pytest.raises(RuntimeError, match="polygamma_"):
        mg.tensor([1, 2]).polygamma_(1)  # a float result can't be written into int64, as torch
    with pytest.raises(RuntimeError, match="negative n"):
        mg.tensor([1.0]).polygamma(-1)
    with pytest.raises(TypeError, match="n must be an int"):
        mg.tensor([1.0]).polygamma(1.5)


@pytest.mark.parametrize("p", [1, 2, 3, 4])
def test_mvlgamma_matches_torch(p):
    a = np.array([2.5, 3.0, 7.25, 1.9, 0.5 * (p - 1) + 0.1])
    x, t = mg.tensor(a, requires_grad=True), T(a, requires_grad=True)
    y, ty = x.mvlgamma(p), t.mvlgamma(p)
    same(y, ty, rtol=1e-12)
    y.sum().backward()
    ty.sum().backward()
    same(x.grad, t.grad, rtol=1e-10)
    x32 = mg.tensor(a.astype(np.float32))
    assert x32.mvlgamma_(p) is x32
    same(x32, T(a.astype(np.float32)).mvlgamma_(p), rtol=1e-5)


def test_mvlgamma_integers_and_errors():
    same(mg.tensor([2, 3]).mvlgamma(2), torch.tensor([2, 3]).mvlgamma(2))
    with pytest.raises(RuntimeError, match="p has to be greater than or equal to 1"):
        mg.tensor([2.0]).mvlgamma(0)
    with pytest.raises(RuntimeError):
        torch.tensor([2.0]).mvlgamma(0)


# ================================================================ frexp
def _np_frexp(a):
    m, e = np.frexp(a)
    return m, e.astype(np.int32)


@given(data=st.data())
def test_frexp_property(device, data):
    a = draw_array(data, mst.shapes(max_dims=2, max_side=4), device, min_value=-100, max_value=100,
                   avoid=[0.0] + [s * 2.0 ** k for k in range(-2, 8) for s in (1, -1)])  # (powers of 2: kinks)
    check_op(lambda x: x.frexp(), _np_frexp, [a], device, exact=True)


@pytest.mark.parametrize("dt", [np.float16, np.float32, np.float64])
def test_frexp_matches_torch(dt):
    a = np.array([0.0, -0.0, 1.0, -3.0, 0.1, 1000.5, INF, -INF, NAN, 2.0 ** -20], dtype=dt)
    m, e = mg.tensor(a).frexp()
    tm, te = torch.frexp(T(a))
    same(m, tm, rtol=0, atol=0)
    same(e, te, rtol=0, atol=0)
    assert e.dtype == mg.int32 and not e.requires_grad


def test_frexp_subnormal_gradient_and_errors():
    a = np.array([3.0, 0.1, -5.0, 1e-310])
    x, t = mg.tensor(a, requires_grad=True), T(a, requires_grad=True)
    x.frexp().mantissa.sum().backward()
    torch.frexp(t).mantissa.sum().backward()
    same(x.grad, t.grad, rtol=0, atol=0)
    assert x.grad.numpy()[-1] == INF  # 2**1030 for the subnormal's mantissa: beyond float64, as torch
    same(x.frexp().exponent, torch.frexp(t).exponent, rtol=0, atol=0)
    with pytest.raises(TypeError, match="frexp: only supports floating-point"):
        mg.tensor([1, 2]).frexp()
    with pytest.raises(RuntimeError):
        torch.tensor([1, 2]).frexp()


# ================================================================ angle
@given(data=st.data())
def test_angle_property(device, data):
    a = draw_array(data, mst.shapes(max_dims=2, max_side=4), device, avoid=[0.0])
    check_op(lambda x: x.angle(), lambda x: np.where(x < 0, np.pi, 0.0), [a], device)


def test_angle_matches_torch():
    a = np.array([-1.0, 0.0, 2.0, NAN, -0.0, -INF, INF])
    for dt in (np.float32, np.float64):
        x, t = mg.tensor(a.astype(dt), requires_grad=True), T(a.astype(dt), requires_grad=True)
        y, ty = x.angle(), t.angle()
        same(y, ty)
        y.sum().backward()
        ty.sum().backward()
        same(x.grad, t.grad)  # zero everywhere, NaN input too
    for ints in (np.array([-1, 2, 0]), np.array([True, False])):
        same(mg.tensor(ints).angle(), T(ints).angle())  # the default float dtype


# ================================================================ identities of real tensors, predicates
def test_real_tensor_identities():
    x = mg.randn(3, 4)
    for name in ("conj", "resolve_conj", "resolve_neg"):
        assert getattr(x, name)() is x
        assert getattr(torch.randn(3, 4), name)() is not None
    assert x.real is x
    t = torch.randn(3, 4)
    assert t.conj() is t and t.resolve_conj() is t and t.resolve_neg() is t and t.real is t


def test_adjoint_is_the_transposed_view_with_gradient():
    a = np.arange(24.0).reshape(2, 3, 4)
    x, t = mg.tensor(a, requires_grad=True), T(a, requires_grad=True)
    y, ty = x.adjoint(), t.adjoint()
    same(y, ty)
    assert y.data_ptr() == x.data_ptr()  # a view, as torch's
    w = np.random.default_rng(4).normal(size=(2, 4, 3))
    (y * mg.tensor(w)).sum().backward()
    (ty * T(w)).sum().backward()
    same(x.grad, t.grad)
    with pytest.raises(RuntimeError, match="matrices"):
        mg.tensor([1.0, 2.0]).adjoint()
    with pytest.raises(RuntimeError):
        torch.tensor([1.0, 2.0]).adjoint()


@pytest.mark.parametrize("dt", ["float16", "float32", "float64", "int64", "int32", "int16", "int8", "uint8",
                                "bool"])
def test_predicates_per_dtype(dt):
    a = np.array([1, 0, 1]).astype(dt)
    x, t = mg.tensor(a), T(a)
    assert x.is_signed() == t.is_signed()
    assert x.is_conj() == t.is_conj() is False
    assert x.is_neg() == t.is_neg() is False
    assert x.is_inference() == t.is_inference() is False
    assert x.is_cpu is t.is_cpu is True
    same(x.isreal(), t.isreal())


def test_is_nonzero():
    for a in ([0.0], [[2]], [-0.0], [True], 3.5):
        assert mg.tensor(a).is_nonzero() == torch.tensor(a).is_nonzero()
    for a, what in (([1.0, 2.0], "more than one value"), ([], "no values")):
        with pytest.raises(RuntimeError, match=what):
            mg.tensor(a).is_nonzero()
        with pytest.raises(RuntimeError, match=what):
            torch.tensor(a).is_nonzero()


def test_is_inference_is_false_even_in_inference_mode():
    with mg.inference_mode():
        x = mg.ones(2)
    assert x.is_inference() is False  # minigrad has no inference tensors (torch would say True here)


# ================================================================ where, prelu, hardshrink
def test_where_method_values_and_gradients():
    rng = np.random.default_rng(5)
    a, b, c = rng.normal(size=(3, 4)), rng.normal(size=(4,)), rng.normal(size=(3, 4)) > 0
    x, y = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
    tx, ty = T(a, requires_grad=True), T(b, requires_grad=True)
    out, tout = x.where(mg.tensor(c), y), tx.where(T(c), ty)
    same(out, tout)
    out.sum().backward()
    tout.sum().backward()
    same(x.grad, tx.grad)
    same(y.grad, ty.grad)
    same(mg.tensor(a).where(mg.tensor(c), 0.0), T(a).where(T(c), 0.0))


def test_prelu_and_hardshrink_methods():
    rng = np.random.default_rng(6)
    a, w = rng.normal(size=(2, 3, 4)), np.array([0.1, -0.3, 0.5])
    x, wt = mg.tensor(a, requires_grad=True), mg.tensor(w, requires_grad=True)
    tx, twt = T(a, requires_grad=True), T(w, requires_grad=True)
    y, ty = x.prelu(wt), tx.prelu(twt)
    same(y, ty)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    same(x.grad, tx.grad)
    same(wt.grad, twt.grad, rtol=1e-10)
    for lambd in (0.5, 1.0):
        x, tx = mg.tensor(a, requires_grad=True), T(a, requires_grad=True)
        y, ty = x.hardshrink(lambd), tx.hardshrink(lambd)
        same(y, ty)
        y.sum().backward()
        ty.sum().backward()
        same(x.grad, tx.grad)


# ================================================================ cov, corrcoef
@given(data=st.data(), correction=st.integers(0, 1), weighted=st.sampled_from(["none", "f", "a", "fa"]))
def test_cov_gradcheck(device, data, correction, weighted):
    rows, cols = data.draw(st.integers(1, 3)), data.draw(st.integers(3, 5))
    a = draw_array(data, (rows, cols), device)
    fw = mg.tensor(data.draw(st.lists(st.integers(1, 3), min_size=cols, max_size=cols)), device=device)
    aw = mg.tensor(draw_array(data, (cols,), device, min_value=0.2, max_value=2.0), device=device,
                   requires_grad=True)
    kw = {"correction": correction}
    if "f" in weighted:
        kw["fweights"] = fw
    if "a" in weighted:
        x = mg.tensor(a, device=device, requires_grad=True)
        gradcheck(lambda x, w: x.cov(**kw, aweights=w), x, aw)
    else:
        gradcheck(lambda x: x.cov(**kw), mg.tensor(a, device=device, requires_grad=True))


@given(data=st.data())
def test_corrcoef_gradcheck(device, data):
    rows, cols = data.draw(st.integers(2, 3)), data.draw(st.integers(3, 5))
    a = draw_array(data, (rows, cols), device, min_gap=1e-2)
    gradcheck(lambda x: x.corrcoef(), mg.tensor(a, device=device, requires_grad=True))


@pytest.mark.parametrize("correction", [0, 1, 2])
@pytest.mark.parametrize("weights", ["none", "f", "a", "fa"])
def test_cov_matches_torch(correction, weights):
    rng = np.random.default_rng(7)
    a = rng.normal(size=(3, 6))
    fw, aw = np.array([1, 2, 1, 3, 1, 0]), rng.random(6)
    ours, theirs = {}, {}
    if "f" in weights:
        ours["fweights"], theirs["fweights"] = mg.tensor(fw), T(fw)
    if "a" in weights:
        ours["aweights"], theirs["aweights"] = mg.tensor(aw, requires_grad=True), T(aw, requires_grad=True)
    x, t = mg.tensor(a, requires_grad=True), T(a, requires_grad=True)
    c, tc = x.cov(correction=correction, **ours), t.cov(correction=correction, **theirs)
    same(c, tc, rtol=1e-10)
    w = rng.normal(size=(3, 3))
    (c * mg.tensor(w)).sum().backward()
    (tc * T(w)).sum().backward()
    same(x.grad, t.grad, rtol=1e-9, atol=1e-12)
    if "a" in weights:
        same(ours["aweights"].grad, theirs["aweights"].grad, rtol=1e-9, atol=1e-12)


def test_cov_shapes_dtypes_and_degenerate_cases():
    a = np.random.default_rng(8).normal(size=(2, 5)).astype(np.float32)
    same(mg.tensor(a).cov(), T(a).cov(), rtol=1e-5)
    same(mg.tensor(a[0]).cov(), T(a[0]).cov(), rtol=1e-5)  # one variable: a 0-d result
    ints = np.array([[1, 4, 2], [3, 0, 5]])
    same(mg.tensor(ints).cov(), T(ints).cov())  # integers: the default float dtype
    same(mg.tensor(ints).corrcoef(), T(ints).corrcoef(), rtol=1e-6)
    with pytest.warns(UserWarning, match="degrees of freedom"):
        c = mg.tensor(a).cov(correction=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same(c, T(a).cov(correction=5))  # inf / NaN, as torch
        same(mg.ones(2, 3).corrcoef(), torch.ones(2, 3).corrcoef())  # constant rows: NaN


def test_corrcoef_matches_torch():
    rng = np.random.default_rng(9)
    a = rng.normal(size=(3, 5))
    x, t = mg.tensor(a, requires_grad=True), T(a, requires_grad=True)
    c, tc = x.corrcoef(), t.corrcoef()
    same(c, tc, rtol=1e-10)
    w = rng.normal(size=(3, 3))
    (c * mg.tensor(w)).sum().backward()
    (tc * T(w)).sum().backward()
    same(x.grad, t.grad, rtol=1e-8, atol=1e-12)
    same(mg.tensor(a[0]).corrcoef(), T(a[0]).corrcoef())


def test_cov_errors():
    x = mg.randn(2, 5)
    cases = [
        (lambda: mg.randn(2, 3, 4).cov(), ValueError, "two or fewer dimensions"),
        (lambda: x.cov(fweights=mg.tensor([1.0, 2, 1, 3, 1])), TypeError, "integral"),
        (lambda: x.cov(fweights=mg.tensor([1, -2, 1, 3, 1])), ValueError, "cannot be negative"),
        (lambda: x.cov(aweights=mg.tensor([1.0, -2, 1, 3, 1])), ValueError, "cannot be negative"),
        (lambda: x.cov(fweights=mg.tensor([1, 2, 1])), ValueError, "3 != 5"),
        (lambda: x.cov(aweights=mg.ones(5, 1)), ValueError, "one or fewer dimensions"),
        (lambda: x.cov(aweights=mg.tensor([1, 2, 1, 3, 1])), TypeError, "floating point"),
        (lambda: x.cov(correction=1.5), TypeError, "correction must be an int"),
        (lambda: x.cov(fweights=mg.zeros(5, dtype=mg.int64)), ValueError, "sum to zero"),
        (lambda: mg.randn(2, 3, 4).corrcoef(), ValueError, "two or fewer dimensions"),
    ]
    for fn, kind, match in cases:
        with pytest.raises(kind, match=match):
            fn()
    t = torch.randn(2, 5)
    for bad in (lambda: torch.randn(2, 3, 4).cov(), lambda: t.cov(fweights=torch.tensor([1.0, 2, 1, 3, 1])),
                lambda: t.cov(fweights=torch.tensor([1, -2, 1, 3, 1])),
                lambda: t.cov(fweights=torch.tensor([1, 2, 1]))):
        with pytest.raises(RuntimeError):
            bad()


# ================================================================ histogram
_DATA = np.array([1.0, 2, 1, 4, 2.5, 7, 3.25, 6.5])


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("bins, kw", [
    (4, {}), (3, {}), (1, {}), (5, {"range": (0.0, 8.0)}), (4, {"range": (2.0, 5.0)}), (4, {"density": True}),
    (3, {"range": (0.0, 8.0), "density": True}), (4, {"weight": True}), (4, {"weight": True, "density": True}),
    ("edges", {}), ("edges", {"weight": True, "density": True}),
])
def test_histogram_matches_torch(dt, bins, kw):
    a = _DATA.astype(dt)
    ours, theirs = dict(kw), dict(kw)
    if kw.get("weight"):
        w = np.linspace(0.5, 2.0, a.size).astype(dt)
        ours["weight"], theirs["weight"] = mg.tensor(w), T(w)
    ob, tb = (mg.tensor(np.array([0.0, 2, 2.5, 7], dt)), T(np.array([0.0, 2, 2.5, 7], dt))) if bins == "edges" \
        else (bins, bins)
    h, e = mg.tensor(a).histogram(ob, **ours)
    th, te = torch.histogram(T(a), tb, **theirs)
    same(h, th, rtol=1e-6)
    same(e, te, rtol=0, atol=0)
    assert not h.requires_grad


def test_histogram_edge_cases_match_torch():
    cases = [
        (np.array([3.0, 3.0]), 2, {}),  # one value: the range widens by 0.5 each side
        (np.array([], dtype=np.float64), 2, {}),  # no data: [0, 1]
        (np.array([1.0, 5.0]), 2, {"range": (2.0, 2.0)}),
        (np.array([1.0, 2, NAN, INF, -INF, 7]), 3, {"range": (0.0, 8.0)}),  # NaN and outside: not counted
        (np.array([[1.0, 2.0], [3.0, 4.0]]), 2, {}),  # any shape: flattened
    ]
    for a, bins, kw in cases:
        h, e = mg.tensor(a).histogram(bins, **kw)
        th, te = torch.histogram(T(a), bins, **kw)
        same(h, th)
        same(e, te, rtol=0, atol=0)


def test_histogram_errors():
    x = mg.tensor(_DATA)
    cases = [
        (lambda: mg.tensor([1, 2]).histogram(3), TypeError, "floating-point"),
        (lambda: x.histogram(0), ValueError, "bins must be a positive int"),
        (lambda: x.histogram(3, range=(2.0, 1.0)), ValueError, "min should not exceed max"),
        (lambda: x.histogram(3, range=(0.0, INF)), ValueError, "not finite"),
        (lambda: mg.tensor([1.0, NAN]).histogram(3), ValueError, "not finite"),
        (lambda: x.histogram(mg.tensor([0.0, 1.0], dtype=mg.float32)), TypeError, "same dtype"),
        (lambda: x.histogram(mg.tensor([3.0, 1.0], dtype=mg.float64)), ValueError, "non-decreasing"),
        (lambda: x.histogram(mg.tensor([[0.0, 1.0]], dtype=mg.float64)), ValueError, "1-D"),
        (lambda: x.histogram(mg.tensor([0.0, 1.0], dtype=mg.float64), range=(0.0, 1.0)), TypeError, "range"),
        (lambda: x.histogram(3, weight=mg.ones(3, dtype=mg.float64)), ValueError, "weight"),
    ]
    for fn, kind, match in cases:
        with pytest.raises(kind, match=match):
            fn()
    t = T(_DATA)
    for bad in (lambda: torch.histogram(torch.tensor([1, 2]), 3), lambda: torch.histogram(t, 0),
                lambda: torch.histogram(t, 3, range=(2.0, 1.0)), lambda: torch.histogram(t, 3, range=(0.0, INF)),
                lambda: torch.histogram(torch.tensor([1.0, NAN]), 3)):
        with pytest.raises((RuntimeError, NotImplementedError)):
            bad()


# ================================================================ memory
def test_data_ptr_and_storage_offset_match_torch():
    x, t = mg.arange(10.0), torch.arange(10.0)
    assert x.data_ptr() == x.numpy().ctypes.data
    views = [
        (lambda v: v[3:]), (lambda v: v.view(2, 5)[1]), (lambda v: v[::2][1:]), (lambda v: v.view(2, 5).t()[1]),
        (lambda v: v.view(2, 5)[:, 2:]), (lambda v: v.detach()), (lambda v: v.narrow(0, 4, 3)),
    ]
    for view in views:
        assert view(x).storage_offset() == view(t).storage_offset()
        assert view(x).data_ptr() - x.data_ptr() == view(t).data_ptr() - t.data_ptr()
    assert mg.ones(3).storage_offset() == 0 and (mg.ones(3) + 1).storage_offset() == 0


def test_resize_matches_torch():
    cases = [
        (lambda v: v.view(2, 3), (3, 2)),  # same number of elements
        (lambda v: v, (2, 2)),  # fewer: the first elements
        (lambda v: v.view(2, 3).t(), (6,)),  # a transposed view: memory order, as torch's storage
        (lambda v: v[1:4], (5,)),  # a slice with room after it in its memory
        (lambda v: v[2:], ((2, 2),)),  # sizes as one tuple
        (lambda v: v[:2], ([3],)),  # ... or a list
    ]
    for view, sizes in cases:
        x, t = view(mg.arange(6.0)), view(torch.arange(6.0))
        assert x.resize_(*sizes) is x
        t.resize_(*sizes)
        same(x, t)
    x, t = mg.arange(4.0), torch.arange(4.0)
    v0 = x._version
    x.resize_(2, 3)
    t.resize_(2, 3)
    assert x.shape == (2, 3) and x._version == v0 + 1  # grown: new memory, counted as a write (as torch)
    assert np.array_equal(x.numpy().reshape(-1)[:4], t.numpy().reshape(-1)[:4])  # the old values first
    assert x.resize_as_(mg.zeros(3, 2)).shape == (3, 2)
    assert mg.ones(3).resize_(mg.Size([1])).shape == (1,)


def test_resize_shares_memory_when_it_fits():
    base = mg.arange(6.0)
    v = base[1:3]
    v.resize_(4)
    v[0] = 100.0
    assert base[1].item() == 100.0  # still a view of base's memory, as torch


def test_resize_errors():
    for x in (mg.ones(3, requires_grad=True), mg.ones(3, requires_grad=True) * 2):
        with pytest.raises(RuntimeError, match="cannot resize variables that require grad"):
            x.resize_(2)
        with mg.no_grad(), pytest.raises(RuntimeError, match="require grad"):
            x.resize_(2)
    with pytest.raises(RuntimeError, match="negative dimension"):
        mg.ones(3).resize_(-1)
    with pytest.raises(TypeError, match="sizes must be ints"):
        mg.ones(3).resize_(2.5)
    with pytest.raises(RuntimeError):
        torch.ones(3, requires_grad=True).resize_(2)


def test_share_memory_and_pinning_are_cpu_no_ops():
    x = mg.ones(3)
    assert x.share_memory_() is x and torch.ones(3).share_memory_() is not None
    assert x.is_pinned() is False and torch.ones(3).is_pinned() is False
    assert x.pin_memory() is x  # (torch copies into page-locked memory; minigrad has none)
    assert x.is_shared() is False


# ================================================================ the legacy constructor new()
def test_new_matches_torch():
    x, t = mg.arange(6.0).view(2, 3), torch.arange(6.0).view(2, 3)
    for args in [(), (2, 3), (4,), (0,)]:
        ours, theirs = x.new(*args), t.new(*args)
        assert ours.shape == tuple(theirs.shape) and ours.dtype == mg.float32
    assert x.new(mg.Size([2, 3])).shape == (2, 3)
    same(x.new((2, 3)), t.new((2, 3)))  # a tuple is data, as torch
    same(x.new([1, 2]), t.new([1, 2]))
    same(x.new(np.array([1, 2])), t.new(np.array([1, 2])))
    same(mg.tensor([1, 2]).new([1.7, 2]), torch.tensor([1, 2]).new([1.7, 2]))  # int64: the data truncated
    alias = x.new(x)
    assert alias is not x and alias.data_ptr() == x.data_ptr() and t.new(t).data_ptr() == t.data_ptr()


def test_new_errors_match_torch():
    x, t = mg.ones(2), torch.ones(2)
    for args, kind in (((mg.tensor([1, 2]),), TypeError), ((2.5,), TypeError), ((-1,), RuntimeError)):
        with pytest.raises(kind, match="new"):
            x.new(*args)
    for args, kind in (((torch.tensor([1, 2]),), TypeError), ((2.5,), TypeError), ((-1,), RuntimeError)):
        with pytest.raises(kind):
            t.new(*args)
    with pytest.raises(TypeError):
        x.new(2, dtype=mg.int64)  # torch takes no dtype here either
    with pytest.raises(TypeError):
        t.new(2, dtype=torch.int64)


# ================================================================ torch's removed methods
@pytest.mark.parametrize("name, points_to", [("solve", "mg.linalg.solve"), ("lstsq", "mg.linalg.lstsq"),
                                              ("symeig", "mg.linalg.eigvalsh"), ("eig", "mg.linalg.eigvals")])
def test_removed_methods_say_where_they_went(name, points_to):
    a = mg.eye(2)
    with pytest.raises(RuntimeError, match=r"removed.*" + points_to.replace(".", r"\.")):
        getattr(a, name)(a)
    with pytest.raises(RuntimeError, match="removed"):
        getattr(torch.eye(2), name)(torch.eye(2))


# ================================================================ the top-level functions
def test_top_level_functions_match_torch():
    rng = np.random.default_rng(10)
    a = rng.normal(size=(3, 4)) * 2
    x, t = mg.tensor(a), T(a)
    same(mg.renorm(x, 2, 1, 1.0), torch.renorm(t, 2, 1, 1.0), rtol=1e-12)
    same(mg.polygamma(2, x.abs() + 0.5), torch.polygamma(2, t.abs() + 0.5), rtol=1e-12)
    same(mg.special.polygamma(3, x.abs() + 0.5), torch.special.polygamma(3, t.abs() + 0.5), rtol=1e-12)
    same(mg.mvlgamma(x.abs() + 2, 3), torch.mvlgamma(t.abs() + 2, 3), rtol=1e-12)
    same(mg.cov(x, correction=0), torch.cov(t, correction=0), rtol=1e-12)
    same(mg.corrcoef(x), torch.corrcoef(t), rtol=1e-12)
    for ours, theirs in zip(mg.histogram(x, 3), torch.histogram(t, 3)):
        same(ours, theirs, rtol=0, atol=0)
    for ours, theirs in zip(mg.frexp(x), torch.frexp(t)):
        same(ours, theirs, rtol=0, atol=0)
    same(mg.angle(x), torch.angle(t))
    same(mg.fix(x), torch.fix(t))
