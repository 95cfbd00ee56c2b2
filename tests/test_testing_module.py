"""`minigrad.testing`: gradcheck catches wrong gradients with a readable report, check_op catches each
kind of broken op it promises to, and the Hypothesis strategies produce what they claim."""
import numpy as np
import pytest
from hypothesis import find, given
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

import minigrad as mg
from minigrad import Function
from minigrad.testing import GradcheckError, check_op, gradcheck
from minigrad.testing import strategies as mst


# ---------------------------------------------------------------- gradcheck
class WrongSquare(Function):
    """y = x**2 with a deliberately wrong backward: 3x instead of 2x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        return g * 3 * ctx.saved[0]


class WrongSecondInput(Function):
    """y = a * b, with b's gradient off by a factor 2."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        return g * b, 2 * g * a


class NaNGrad(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 1.0

    @staticmethod
    def backward(ctx, g):
        return g * float("nan")


def x64(shape=(2, 3), seed=0, device="cpu"):
    return mg.tensor(np.random.default_rng(seed).uniform(0.5, 2.0, shape), device=device, requires_grad=True)


@pytest.mark.parametrize("mode", ["full", "directional"])
def test_gradcheck_passes_on_correct_ops(device, mode):
    x, w = x64(device=device), x64((3, 4), 1, device)
    assert gradcheck(lambda x, w: (x @ w).tanh(), x, w, mode=mode) is True
    assert gradcheck(lambda x: (x.exp(), x.sum()), x, mode=mode) is True  # tuple outputs
    const = mg.tensor([1.0, 2.0, 3.0], dtype="float64", device=device)
    assert gradcheck(lambda x, c, k: x * c * k, x, const, 2.0, mode=mode) is True  # pass-through arguments
    assert x.grad is None  # gradcheck works on copies: the caller's tensors are left alone


def test_gradcheck_full_report_names_input_element_and_values(device):
    x = mg.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]], dtype="float64", device=device, requires_grad=True)
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda x: WrongSquare.apply(x), x, seed=3)
    msg = str(info.value)
    assert "input 0 (shape (2, 3))" in msg
    assert "5 of 6 elements differ" in msg  # at x = 0 both are 0
    # the first offending element, with analytic and numeric values: 3x*v vs 2x*v for v the cotangent
    v = np.random.default_rng(3).standard_normal((2, 3))
    assert f"at (0, 0): analytic {3 * v[0, 0]:.8g}, numeric " in msg
    numeric = float(msg.split("at (0, 0): analytic ")[1].split("numeric ")[1].split(",")[0])
    assert numeric == pytest.approx(2 * v[0, 0], rel=1e-6)
    assert gradcheck(lambda x: WrongSquare.apply(x), x, raise_exception=False) is False


def test_gradcheck_directional_report(device):
    x = x64((4, 5), device=device)
    with pytest.raises(GradcheckError, match=r"input 0 \(shape \(4, 5\)\): directional derivative analytic "
                                             r"-?[\d.e+-]+ vs numeric -?[\d.e+-]+"):
        gradcheck(lambda x: WrongSquare.apply(x), x, mode="directional")


@pytest.mark.parametrize("mode", ["full", "directional"])
def test_gradcheck_reports_the_wrong_input_only(device, mode):
    a, b = x64((3,), 0, device), x64((3,), 1, device)
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda a, b: WrongSecondInput.apply(a, b), a, b, mode=mode)
    assert "input 1 (shape (3,))" in str(info.value) and "input 0" not in str(info.value)


@pytest.mark.parametrize("mode", ["full", "directional"])
def test_gradcheck_treats_nan_as_failure(device, mode):
    with pytest.raises(GradcheckError, match="nan"):
        gradcheck(lambda x: NaNGrad.apply(x), x64(device=device), mode=mode)


def test_gradcheck_argument_errors(device):
    with pytest.raises(TypeError, match="input 0 is float32; finite differences need float64"):
        gradcheck(lambda x: x * 2.0, mg.tensor([1.0], device=device, requires_grad=True))
    with pytest.raises(ValueError, match="no input has requires_grad=True"):
        gradcheck(lambda x: x * 2.0, mg.tensor([1.0], dtype="float64", device=device))
    with pytest.raises(ValueError, match="mode must be 'full' or 'directional', got 'fast'"):
        gradcheck(lambda x: x * 2.0, x64(device=device), mode="fast")
    with pytest.raises(ValueError, match="does not depend on any input that requires grad"):
        gradcheck(lambda x: mg.ones(2, dtype="float64", device=device), x64(device=device))


# ---------------------------------------------------------------- strategies
@given(shape=mst.shapes(min_dims=1, max_dims=3, min_side=2, max_side=4))
def test_shapes_obey_bounds(shape):
    assert 1 <= len(shape) <= 3 and all(2 <= s <= 4 for s in shape)


@given(shapes=mst.broadcastable_shapes(3, min_dims=1, max_dims=3, max_side=4))
def test_broadcastable_shapes_really_broadcast(shapes):
    assert len(shapes) == 3
    target = np.broadcast_shapes(*shapes)  # raises if they do not
    for s in shapes:
        assert 1 <= len(s) <= 3
        np.broadcast_to(np.zeros(s), target)


def test_broadcastable_shapes_include_size_one_and_rank_differences():
    seen = set()

    @given(mst.broadcastable_shapes(2, max_dims=3, max_side=3))
    def collect(shapes):
        a, b = shapes
        if len(a) != len(b):
            seen.add("rank")
        if any(x == 1 and y != 1 for x, y in zip(a[::-1], b[::-1])):
            seen.add("size-1")

    collect()
    assert seen == {"rank", "size-1"}


@given(data=st.data(), dtype=st.sampled_from(["float32", "float64", "float16", "int64", "int32", "bool"]),
       shape=mst.shapes(max_dims=3, max_side=4), requires_grad=st.booleans())
def test_tensors_obey_dtype_device_range_and_grad(device, data, dtype, shape, requires_grad):
    lo, hi = (-2, 5) if dtype in ("int64", "int32") else (0.1, 0.7)  # 0.1 is not a float32: bounds round inward
    t = data.draw(mst.tensors(shape=shape, dtype=dtype, device=device, min_value=lo, max_value=hi,
                              requires_grad=requires_grad))
    assert isinstance(t, mg.Tensor) and t.shape == shape and t.dtype == np.dtype(dtype) and t.device == \
        mg.backend.parse_device(device)
    a = t.numpy()
    if dtype != "bool":
        assert np.isfinite(a.astype(np.float64)).all()
        assert (a >= lo).all() and (a <= hi).all()
    assert t.requires_grad == (requires_grad and dtype.startswith("float"))
    assert t.is_leaf


@given(t=mst.tensors(shape=mst.shapes(max_dims=3, max_side=5), dtype="float64", avoid=[0.0, 1.0],
                     avoid_margin=0.1))
def test_tensors_avoid_kinks(t):
    a = t.numpy()
    assert (np.abs(a) > 0.1).all() and (np.abs(a - 1.0) > 0.1).all()


@given(t=mst.tensors(shape=mst.shapes(min_dims=1, max_dims=2, max_side=6), dtype="float32", unique=True))
def test_tensors_unique(t):
    a = t.numpy().ravel()
    assert len(np.unique(a)) == a.size


def test_float32_subnormals_are_drawn_for_the_cpu_only():
    """CuPy's kernels flush float32 subnormals to zero (-ftz=true): the element strategy skips them for a GPU
    (checked on the strategy itself, so it runs without one); the CPU and float64 keep them."""
    tiny, b = float(np.finfo(np.float32).tiny), 2.0 ** -120  # (a float32; float32's smallest normal is 2**-126)

    def subnormal(v):
        return 0 < abs(v) < tiny

    assert subnormal(find(mst._float_elements(-b, b, 32, "cpu"), subnormal))
    assert subnormal(find(mst._float_elements(-b, b, 64, "cuda"), subnormal))
    with pytest.raises(NoSuchExample):
        find(mst._float_elements(-b, b, 32, "cuda:0"), subnormal)


@given(data=st.data(), shape=mst.shapes(max_dims=3, max_side=4), dtype=mst.float_dtypes(), dev=mst.devices())
def test_dtype_and_device_strategies(data, shape, dtype, dev):
    t = data.draw(mst.tensors(shape=shape, dtype=dtype, device=dev))
    assert t.dtype in (np.float32, np.float64) and t.dtype == dtype
    assert t.device == mg.backend.parse_device(dev)


@given(data=st.data(), shape=mst.shapes(max_dims=3, max_side=4))
def test_index_expressions_are_valid_and_include_repeats(data, shape):
    idx = data.draw(mst.index_expressions(shape))
    a = np.arange(int(np.prod(shape))).reshape(shape)
    want = a[idx]  # valid for NumPy ...
    np.testing.assert_array_equal(mg.tensor(a)[idx].numpy(), want)  # ... and for minigrad


def test_index_expressions_cover_all_kinds():
    kinds = set()

    @given(mst.index_expressions((4, 3)))
    def collect(idx):
        first = idx[0] if isinstance(idx, tuple) and idx else idx
        if isinstance(first, np.ndarray) and first.dtype == np.bool_:
            kinds.add("bool")
        elif isinstance(first, np.ndarray):
            kinds.add("int")
            if len(np.unique(first % 4)) < len(first):
                kinds.add("repeats")
        else:
            kinds.add("basic")

    collect()
    assert kinds == {"basic", "int", "bool", "repeats"}


@given(data=st.data(), shape=mst.shapes(max_dims=3, max_side=4))
def test_basic_indices_are_basic(data, shape):
    idx = data.draw(mst.basic_indices(shape))
    parts = idx if isinstance(idx, tuple) else (idx,)
    assert all(p is None or p is Ellipsis or isinstance(p, (int, slice)) for p in parts)
    np.zeros(shape)[idx]  # valid for the shape


# ---------------------------------------------------------------- check_op
class Upcasting(Function):
    """y = 2x, but computed in float64 whatever comes in (the silent upcast check_op must catch)."""

    @staticmethod
    def forward(ctx, x):
        return x.astype("float64") * 2

    @staticmethod
    def backward(ctx, g):
        return (g * 2).astype(g.dtype)


class Mutating(Function):
    """y = 2x that also doubles its input in place."""

    @staticmethod
    def forward(ctx, x):
        x *= 2
        return x.copy()

    @staticmethod
    def backward(ctx, g):
        return g * 2


def test_check_op_passes_a_correct_op_on_every_backend(device):
    a = np.random.default_rng(0).standard_normal((3, 4))
    check_op(lambda x: x / (1 + x.abs()), lambda v: v / (1 + np.abs(v)), [a], device)
    check_op(lambda x, y: (x @ y, x.sum()), lambda u, v: (u @ v, u.sum()), [a, a.T], device)  # tuple outputs
    check_op(lambda x: x.T, lambda v: v.T, [a], device, exact=True)


@pytest.mark.parametrize("fn,ref,error,match", [
    (lambda x: WrongSquare.apply(x), lambda v: v * v, GradcheckError, "(?s)gradcheck failed.*analytic .* numeric"),
    (lambda x: x * 2, lambda v: v * 3, AssertionError, "output 0 \\(float64\\) against the reference"),
    (lambda x: x.reshape(-1), lambda v: v, AssertionError, "output 0 has shape \\(6,\\), the reference \\(2, 3\\)"),
    (lambda x: Upcasting.apply(x), lambda v: 2 * v, AssertionError, "float32 inputs gave a float64 output 0"),
    (lambda x: Mutating.apply(x), lambda v: 2 * v, AssertionError, "input 0 was written to"),
    (lambda x: x + 1e-9, lambda v: v, AssertionError, "moves values inexactly"),
])
def test_check_op_catches_each_kind_of_broken_op(fn, ref, error, match):
    a = np.random.default_rng(1).uniform(0.5, 2.0, (2, 3))
    with pytest.raises(error, match=match):
        check_op(fn, ref, [a], exact="inexactly" in match)
