"""Session 9 fixes: clamp with tensor bounds (torch's clamp.Tensor overload, with its gradients for the
bounds), torch's casting rule for in-place results written back, and Python data given to an op without
a tensor beside it going to the default device."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.ops.elementwise import ClampTensor
from minigrad.testing import gradcheck
from minigrad.testing.strategies import broadcastable_shapes

GRADIENT_TESTED = [ClampTensor]


def _grid(draw, shape, offset):
    """Values k/2 + offset on a grid: x (offset 1/4) never ties a bound (offset 0) or lies within eps of one."""
    n = int(np.prod(shape))
    ks = draw(st.lists(st.integers(-6, 6), min_size=n, max_size=n))
    return np.asarray(ks, dtype=np.float64).reshape(shape) / 2 + offset


# ---------------------------------------------------------------- clamp with tensor bounds
@given(st.data())
def test_clamp_tensor_bounds_gradcheck(device, data):
    """Gradients for x, min and max against central differences, bounds broadcast against x (either order of
    min and max, so the lo > hi branch, where the answer is max, is covered)."""
    sx, slo, shi = data.draw(broadcastable_shapes(num_shapes=3, max_dims=3, max_side=4))
    which = data.draw(st.sampled_from(["both", "min", "max"]))
    x = mg.tensor(_grid(data.draw, sx, 0.25), requires_grad=True, device=device)
    lo = mg.tensor(_grid(data.draw, slo, 0.0), requires_grad=True, device=device)
    hi = mg.tensor(_grid(data.draw, shi, 0.0) + 0.125, requires_grad=True, device=device)  # never equals lo
    if which == "both":
        gradcheck(lambda a, b, c: mg.clamp(a, b, c), x, lo, hi)
    elif which == "min":
        gradcheck(lambda a, b: mg.clamp(a, min=b), x, lo)
    else:
        gradcheck(lambda a, c: mg.clamp(a, max=c), x, hi)


torch = pytest.importorskip("torch")


@given(st.data())
def test_clamp_tensor_bounds_match_torch(data):
    """Values and all three gradients equal torch's, ties between x and a bound included (x on a grid with
    the bounds: torch passes the gradient to x at a bound, and to the bound only strictly outside)."""
    # (x takes the broadcast shape: torch 2.13's backward fails when the bounds broadcast x itself)
    sx, slo, shi = data.draw(broadcastable_shapes(num_shapes=3, max_dims=3, max_side=4))
    sx = np.broadcast_shapes(sx, slo, shi)
    a, b, c = (_grid(data.draw, s, 0.0) for s in (sx, slo, shi))
    out = {}
    for lib in (mg, torch):
        x, lo, hi = (lib.tensor(v, requires_grad=True) for v in (a, b, c))
        y = lib.clamp(x, lo, hi)
        g = lib.tensor(np.arange(1, y.numel() + 1, dtype=np.float64).reshape(tuple(y.shape)))
        (y * g).sum().backward()
        out[lib] = [t.detach().numpy() for t in (y, x.grad, lo.grad, hi.grad)]
    for ours, theirs in zip(out[mg], out[torch]):
        np.testing.assert_array_equal(ours, theirs)


def test_clamp_tensor_bounds_dtypes_and_forms_as_torch():
    pairs = [
        (lambda lib: lib.clamp(lib.tensor([1, 5]), min=lib.tensor([2.5, 1.0])), None),  # int x meets float bound
        (lambda lib: lib.clamp(lib.tensor([1.0, 2.0]), min=lib.tensor(1.5, dtype=lib.float64)), None),  # 0-d bound
        (lambda lib: lib.clamp_min(lib.tensor([1.0, 5.0]), lib.tensor(3.0)), None),
        (lambda lib: lib.tensor([1.0, 5.0]).clamp_max(lib.tensor([0.0, 9.0])), None),
        (lambda lib: lib.tensor([1.0, 5.0]).clip(lib.tensor([2.0, 2.0]), lib.tensor([3.0, 3.0])), None),
        (lambda lib: lib.clamp(lib.tensor([1.0, 5.0, 9.0]), min=lib.zeros(2, 3)), None),  # broadcasts to (2, 3)
    ]
    for make, _ in pairs:
        ours, theirs = make(mg), make(torch)
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_clamp_in_place_with_tensor_bounds_as_torch():
    for lib in (mg, torch):
        a = lib.tensor([1.0, 9.0])
        a.clamp_(min=lib.tensor([2.0, 2.0]), max=lib.tensor(8.0))
        np.testing.assert_array_equal(np.asarray(a.tolist()), [2.0, 8.0])
        u = lib.tensor([250, 13], dtype=lib.uint8)
        u.clamp_(min=lib.tensor([252, 1]))  # int64 result written back into uint8: torch allows it
        assert u.tolist() == [252, 13] and u.dtype == lib.uint8
    a = mg.tensor([1.0, 9.0])
    with pytest.raises(ValueError, match="clamp_"):  # the result would be (2, 2): in place keeps the shape
        a.clamp_(min=mg.zeros(2, 2))


def test_clamp_in_place_records_the_bound_gradient():
    """A graph-free tensor clamped in place by bounds that need grad: the write is recorded, as torch."""
    res = {}
    for lib in (mg, torch):
        lo = lib.tensor([2.0, 0.0], requires_grad=True)
        a = lib.tensor([1.0, 9.0])
        a.clamp_(min=lo)
        (a * lib.tensor([3.0, 4.0])).sum().backward()
        res[lib] = lo.grad.tolist()
    assert res[mg] == res[torch] == [3.0, 0.0]


def test_clamp_mixed_number_and_tensor_bounds_refused_clearly():
    """torch has no overload for a tensor min with a number max (TypeError); neither do we, with a hint."""
    with pytest.raises(TypeError):
        torch.clamp(torch.tensor([1.0]), min=torch.tensor([0.0]), max=5)
    with pytest.raises(TypeError, match=r"clamp: min and max must both be tensors .*max=5"):
        mg.clamp(mg.tensor([1.0]), min=mg.tensor([0.0]), max=5)


def test_clamp_tensor_bounds_errors_name_the_op():
    with pytest.raises(ValueError, match=r"clamp: shapes \[3\] and \[2\] do not broadcast"):
        mg.clamp(mg.tensor([1.0, 2.0, 3.0]), min=mg.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match="clamp"):  # float32 beside float64 with dimensions: no silent upcast
        mg.clamp(mg.tensor([1.0, 2.0]), min=mg.tensor([0.0, 1.0], dtype=mg.float64))


# ---------------------------------------------------------------- in-place results: torch's casting rule
def test_in_place_result_cast_follows_torch():
    """An integer result of another integer kind is written back (int64 -> uint8 wraps, as torch); float into
    an integer tensor stays refused."""
    for lib in (mg, torch):
        u = lib.tensor([250, 13], dtype=lib.uint8)
        u.remainder_(lib.tensor([7, 5]))  # uint8 with int64 is int64, written back into uint8
        assert u.tolist() == [5, 3] and u.dtype == lib.uint8
        i = lib.tensor([300, -1], dtype=lib.int16)
        i.bitwise_or_(lib.tensor([1, 2]))  # int16 with int64 is int64, written back into int16
        assert i.tolist() == [301, -1] and i.dtype == lib.int16
    with pytest.raises(RuntimeError, match="can't be cast"):
        mg.tensor([1, 2]).remainder_(mg.tensor([1.5, 1.5]))


# ---------------------------------------------------------------- Python data and the default device
def test_python_data_beside_no_tensor_goes_to_the_default_device():
    """`mg.where(list, ...)` made its condition on the CPU even inside `with mg.device(...)`; it now follows
    the default device as `mg.tensor(list)` does (on a CPU-only machine the default is checked through it)."""
    from minigrad.ops.common import to_tensor

    with mg.device("cpu"):
        assert to_tensor([True, False], None, "where").device == "cpu"
    x = mg.tensor([1.0, 2.0])
    np.testing.assert_array_equal(mg.where([True, False], x, -x).numpy(), [1.0, -2.0])


@pytest.mark.cuda
def test_python_data_follows_a_cuda_default_device():
    if not mg.cuda.is_available():
        pytest.skip("needs CUDA")
    from minigrad.ops.common import to_tensor

    with mg.device("cuda"):
        assert to_tensor([True, False], None, "where").device.startswith("cuda")
        x = mg.tensor([1.0, 2.0])
        assert mg.where([True, False], x, -x).device == x.device


# ---------------------------------------------------------------- custom Functions given arrays
def test_custom_function_receives_a_numpy_array_argument_as_it_is():
    """torch passes non-Tensor arguments to forward unchanged; a NumPy array (whose own `.data` is a
    memoryview) reached forward as that memoryview and failed with "'numpy.ndarray' has no '_vc'"."""
    seen = []

    class Scale(mg.autograd.Function):
        @staticmethod
        def forward(ctx, x, s):
            seen.append(type(s))
            ctx.s = s
            return x * s

        @staticmethod
        def backward(ctx, g):
            return g * ctx.s, None

    s = np.array([2.0, 3.0], dtype=np.float32)
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = Scale.apply(x, s)
    y.sum().backward()
    np.testing.assert_array_equal(y.detach().numpy(), [2.0, 6.0])
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 3.0])
    with mg.no_grad():
        np.testing.assert_array_equal(Scale.apply(x, s).numpy(), [2.0, 6.0])
    assert seen == [np.ndarray, np.ndarray]
    tx = torch.tensor([1.0, 2.0], requires_grad=True)

    class TScale(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, s):
            ctx.s = torch.from_numpy(s)
            return x * ctx.s

        @staticmethod
        def backward(ctx, g):
            return g * ctx.s, None

    TScale.apply(tx, s).sum().backward()
    np.testing.assert_array_equal(tx.grad.numpy(), x.grad.numpy())
