"""torch's top-level namespace and the matching Tensor methods (minigrad/ops/compose.py):
mg.add/sub/rsub (alpha), mul, div (rounding_mode), pow, neg/positive and the NumPy-spelled aliases;
reshape ... clone, broadcast_to/tensors/shapes, meshgrid, atleast_Nd, the stacks, tensor_split and
h/v/dsplit, fliplr/flipud/rot90, mT/mH, softmax(dtype=), clamp_min/max, from_numpy and the metadata
methods (stride, is_contiguous, element_size, nbytes, ...).

Values against NumPy (bit for bit where the op only moves values) and gradients against float64
finite differences (check_op) over generated shapes; torch parity for values, gradients and dtypes;
errors that name the op.
"""
import functools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.ops.compose import DivRounding
from minigrad.testing import strategies as mst

from opcheck import check_op, draw_array

GRADIENT_TESTED = [DivRounding]

SHAPES = mst.shapes(max_dims=4, max_side=4)
NONSCALAR = mst.shapes(min_dims=1, max_dims=4, max_side=4)
exact_op = functools.partial(check_op, exact=True)  # ops that only move values


# ================================================================ arithmetic
@given(data=st.data(), shapes=mst.broadcastable_shapes(2, max_dims=3, max_side=4),
       alpha=st.sampled_from([1, 2, -0.5, 0.25, 3.0]))
def test_add_sub_rsub_alpha(device, data, shapes, alpha):
    a, b = (draw_array(data, s, device) for s in shapes)
    check_op(lambda x, y: mg.add(x, y, alpha=alpha), lambda x, y: x + alpha * y, [a, b], device)
    check_op(lambda x, y: x.sub(y, alpha=alpha), lambda x, y: x - alpha * y, [a, b], device)
    check_op(lambda x, y: mg.subtract(x, y, alpha=alpha), lambda x, y: x - alpha * y, [a, b], device)
    check_op(lambda x, y: mg.rsub(x, y, alpha=alpha), lambda x, y: y - alpha * x, [a, b], device)
    check_op(lambda x: mg.add(x, 1.5, alpha=alpha), lambda x: x + alpha * 1.5, [a], device)
    check_op(lambda x: mg.rsub(x, 2.0, alpha=alpha), lambda x: 2.0 - alpha * x, [a], device)


@given(data=st.data(), shapes=mst.broadcastable_shapes(2, max_dims=3, max_side=4))
def test_mul_div_pow(device, data, shapes):
    a = draw_array(data, shapes[0], device)
    b = draw_array(data, shapes[1], device, min_value=0.5, max_value=2.0)  # positive: a divisor, a pow base
    check_op(lambda x, y: mg.mul(x, y), lambda x, y: x * y, [a, b], device)
    check_op(lambda x, y: x.multiply(y), lambda x, y: x * y, [a, b], device)
    check_op(lambda x, y: mg.div(x, y), lambda x, y: x / y, [a, b], device)
    check_op(lambda x, y: mg.divide(x, y), lambda x, y: x / y, [a, b], device)
    check_op(lambda x, y: mg.true_divide(x, y), lambda x, y: x / y, [a, b], device)
    check_op(lambda x, y: x.true_divide(y), lambda x, y: x / y, [a, b], device)
    check_op(lambda x, y: mg.pow(y, x), lambda x, y: y ** x, [a, b], device)
    check_op(lambda x: mg.pow(2.0, x), lambda x: 2.0 ** x, [a], device)
    check_op(lambda y: mg.pow(y, 3), lambda y: y ** 3, [b], device)


@given(data=st.data(), shapes=mst.broadcastable_shapes(2, max_dims=3, max_side=4),
       mode=st.sampled_from(["trunc", "floor"]))
def test_div_rounding_mode_values_and_zero_gradient(device, data, shapes, mode):
    # a / b = q + f with f in [0.2, 0.8]: finite differences never straddle a jump of the quotient
    b = draw_array(data, shapes[1], device, min_value=0.5, max_value=2.0)
    b = b * data.draw(st.sampled_from([1.0, -1.0]))
    q = data.draw(st.integers(-4, 4))
    frac = draw_array(data, shapes[0], device, min_value=0.2, max_value=0.8)
    a = (q + frac) * np.broadcast_to(b, np.broadcast_shapes(shapes[0], shapes[1]))
    rounded = np.trunc if mode == "trunc" else np.floor
    check_op(lambda x, y: mg.div(x, y, rounding_mode=mode), lambda x, y: rounded(x / y), [a, b], device)
    check_op(lambda x, y: x.divide(y, rounding_mode=mode), lambda x, y: rounded(x / y), [a, b], device)


def test_div_rounding_mode_gradient_is_exactly_zero(device):
    """torch gives zeros (not NaN) even where the divisor is 0."""
    x = mg.tensor([5.0, -7.0, 1.0], requires_grad=True, device=device)
    y = mg.tensor([0.1, 2.0, 0.0], requires_grad=True, device=device)
    for mode in ("trunc", "floor"):
        x.grad = y.grad = None
        mg.div(x, y, rounding_mode=mode).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 0])
        np.testing.assert_array_equal(y.grad.numpy(), [0, 0, 0])


@given(data=st.data(), shape=SHAPES)
def test_unary_aliases(device, data, shape):
    a = draw_array(data, shape, device)
    u = draw_array(data, shape, device, min_value=-0.9, max_value=0.9)  # inside acos/asin's domain
    nz = draw_array(data, shape, device, avoid=[0.0], avoid_margin=0.05)  # abs has a kink at 0
    pos = draw_array(data, shape, device, min_value=0.5, max_value=2.0)  # atan2(y, x<0) jumps across y = 0
    exact_op(mg.neg, np.negative, [a], device)
    exact_op(mg.negative, np.negative, [a], device)
    exact_op(lambda x: x.negative(), np.negative, [a], device)
    exact_op(mg.positive, lambda x: x, [a], device)
    exact_op(lambda x: x.positive(), lambda x: x, [a], device)
    check_op(mg.arccos, np.arccos, [u], device)
    check_op(lambda x: x.arcsin(), np.arcsin, [u], device)
    check_op(mg.arctan, np.arctan, [a], device)
    check_op(lambda x: x.arccos(), np.arccos, [u], device)
    check_op(lambda x, y: mg.arctan2(x, y), np.arctan2, [u, pos], device)
    check_op(lambda x, y: x.arctan2(y), np.arctan2, [nz, pos], device)
    check_op(mg.absolute, np.abs, [nz], device)
    check_op(lambda x: x.absolute(), np.abs, [nz], device)


def test_comparison_aliases(device):
    a = mg.tensor([1.0, 2.0, 3.0], device=device)
    b = mg.tensor([2.0, 2.0, 2.0], device=device)
    for name, want in [("greater", [0, 0, 1]), ("greater_equal", [0, 1, 1]), ("less", [1, 0, 0]),
                       ("less_equal", [1, 1, 0]), ("not_equal", [1, 0, 1])]:
        for out in (getattr(mg, name)(a, b), getattr(a, name)(b), getattr(mg, name)(a, 2.0)):
            assert out.dtype == np.bool_
            np.testing.assert_array_equal(out.numpy(), np.array(want, dtype=bool), err_msg=name)


# ================================================================ shapes under torch's top-level names
@given(data=st.data(), shape=NONSCALAR)
def test_reshape_transpose_permute_flatten(device, data, shape):
    a = draw_array(data, shape, device)
    nd = len(shape)
    exact_op(lambda x: mg.reshape(x, (-1,)), lambda x: x.reshape(-1), [a], device)
    exact_op(lambda x: mg.reshape(x, shape[::-1]), lambda x: x.reshape(shape[::-1]), [a], device)
    d0, d1 = data.draw(st.integers(-nd, nd - 1)), data.draw(st.integers(-nd, nd - 1))
    exact_op(lambda x: mg.transpose(x, d0, d1), lambda x: np.swapaxes(x, d0, d1), [a], device)
    perm = data.draw(st.permutations(range(nd)))
    exact_op(lambda x: mg.permute(x, perm), lambda x: np.transpose(x, perm), [a], device)
    s = data.draw(st.integers(-nd, nd - 1))
    e = data.draw(st.integers(s % nd, nd - 1))
    exact_op(lambda x: mg.flatten(x, s, e),
             lambda x: x.reshape(x.shape[:s % nd] + (-1,) + x.shape[e + 1:]), [a], device)
    exact_op(mg.ravel, np.ravel, [a], device)
    exact_op(lambda x: x.ravel(), np.ravel, [a], device)
    exact_op(lambda x: mg.ravel(x.transpose(0, -1)), lambda x: np.ravel(np.swapaxes(x, 0, -1)), [a], device)
    exact_op(mg.clone, np.copy, [a], device)
    exact_op(lambda x: mg.flatten(x[(0,) * nd]), lambda x: x[(0,) * nd].reshape(1), [a], device)  # 0-d -> (1,)


@given(data=st.data(), shape=mst.shapes(max_dims=4, max_side=2))
def test_squeeze_unsqueeze(device, data, shape):
    a = draw_array(data, shape, device)
    nd = len(shape)
    exact_op(mg.squeeze, np.squeeze, [a], device)
    if nd:
        dims = tuple(data.draw(st.sets(st.integers(0, nd - 1), max_size=nd)))
        ones = tuple(d for d in dims if shape[d] == 1)
        exact_op(lambda x: mg.squeeze(x, dims), lambda x: np.squeeze(x, ones), [a], device)
    d = data.draw(st.integers(-nd - 1, nd))
    exact_op(lambda x: mg.unsqueeze(x, d), lambda x: np.expand_dims(x, d), [a], device)


@given(data=st.data(), shape=mst.shapes(max_dims=3, max_side=3))
def test_broadcast_to_tensors_shapes(device, data, shape):
    a = draw_array(data, shape, device)
    lead = data.draw(st.lists(st.integers(1, 3), max_size=2))
    target = tuple(lead) + tuple(data.draw(st.integers(1, 3)) if s == 1 else s for s in shape)
    exact_op(lambda x: mg.broadcast_to(x, target), lambda x: np.broadcast_to(x, target), [a], device)
    keep = tuple(lead) + tuple(-1 if s != 1 else t for s, t in zip(shape, target[len(lead):]))  # -1 keeps a size
    exact_op(lambda x: mg.broadcast_to(x, keep), lambda x: np.broadcast_to(x, target), [a], device)
    exact_op(lambda x: x.broadcast_to(keep), lambda x: np.broadcast_to(x, target), [a], device)
    other = draw_array(data, target[len(target) - len(shape):] if shape else (), device)
    exact_op(lambda x, y: mg.broadcast_tensors(x, y), lambda x, y: tuple(np.broadcast_arrays(x, y)),
             [a, other], device)
    assert mg.broadcast_shapes(shape, target, ()) == np.broadcast_shapes(shape, target)
    assert isinstance(mg.broadcast_shapes(3, (2, 1)), tuple) and mg.broadcast_shapes(3, (2, 1)) == (2, 3)


@given(data=st.data(), sizes=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       indexing=st.sampled_from(["ij", "xy"]))
def test_meshgrid(device, data, sizes, indexing):
    arrays = [draw_array(data, (n,), device) for n in sizes]
    exact_op(lambda *xs: mg.meshgrid(*xs, indexing=indexing),
             lambda *xs: tuple(np.meshgrid(*xs, indexing=indexing)), arrays, device)
    exact_op(lambda *xs: mg.meshgrid(list(xs), indexing=indexing),
             lambda *xs: tuple(np.meshgrid(*xs, indexing=indexing)), arrays, device)
    default = mg.meshgrid(*[mg.tensor(a, device=device) for a in arrays])  # torch's default: 'ij'
    for got, want in zip(default, np.meshgrid(*arrays, indexing="ij")):
        np.testing.assert_array_equal(got.numpy(), want)


@given(data=st.data(), shape=mst.shapes(max_dims=4, max_side=3))
def test_atleast_nd(device, data, shape):
    a = draw_array(data, shape, device)
    exact_op(mg.atleast_1d, np.atleast_1d, [a], device)
    exact_op(mg.atleast_2d, np.atleast_2d, [a], device)
    exact_op(mg.atleast_3d, np.atleast_3d, [a], device)
    b = draw_array(data, shape[:1], device)
    exact_op(lambda x, y: mg.atleast_3d(x, y), lambda x, y: tuple(np.atleast_3d(x, y)), [a, b], device)
    exact_op(lambda x, y: mg.atleast_2d([x, y]), lambda x, y: tuple(np.atleast_2d(x, y)), [a, b], device)


@given(data=st.data(), shape=mst.shapes(max_dims=3, max_side=3), n=st.integers(1, 3))
def test_stacks(device, data, shape, n):
    arrays = [draw_array(data, shape, device) for _ in range(n)]
    exact_op(lambda *xs: mg.vstack(list(xs)), lambda *xs: np.vstack(xs), arrays, device)
    exact_op(lambda *xs: mg.row_stack(xs), lambda *xs: np.vstack(xs), arrays, device)
    exact_op(lambda *xs: mg.hstack(list(xs)), lambda *xs: np.hstack(xs), arrays, device)
    exact_op(lambda *xs: mg.dstack(list(xs)), lambda *xs: np.dstack(xs), arrays, device)
    if len(shape) <= 2:  # (NumPy's column_stack takes at most 2-D)
        exact_op(lambda *xs: mg.column_stack(list(xs)), lambda *xs: np.column_stack(xs), arrays, device)
    if shape:
        exact_op(lambda *xs: mg.concat(list(xs), dim=-1), lambda *xs: np.concatenate(xs, -1), arrays, device)
        exact_op(lambda *xs: mg.concatenate(list(xs), axis=0), lambda *xs: np.concatenate(xs, 0), arrays, device)


@given(data=st.data(), shape=NONSCALAR)
def test_tensor_split(device, data, shape):
    a = draw_array(data, shape, device)
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1))
    sections = data.draw(st.integers(1, 5))
    exact_op(lambda x: mg.tensor_split(x, sections, dim), lambda x: tuple(np.array_split(x, sections, dim)),
             [a], device)
    n = shape[dim]
    idx = data.draw(st.lists(st.integers(-n - 1, n + 1), max_size=3))
    # NumPy's array_split with indices slices as Python does, like torch
    exact_op(lambda x: x.tensor_split(idx, dim=dim), lambda x: tuple(np.array_split(x, idx, dim)), [a], device)
    exact_op(lambda x: mg.tensor_split(x, mg.tensor(idx, dtype="int64", device=device), dim),
             lambda x: tuple(np.array_split(x, idx, dim)), [a], device)


@given(data=st.data(), shape=mst.shapes(min_dims=3, max_dims=4, max_side=4))
def test_hsplit_vsplit_dsplit(device, data, shape):
    a = draw_array(data, shape, device)
    for name, dim, npfn in [("hsplit", 1, np.hsplit), ("vsplit", 0, np.vsplit), ("dsplit", 2, np.dsplit)]:
        n = shape[dim]
        sections = data.draw(st.sampled_from([k for k in range(1, n + 1) if n % k == 0]))
        fn = getattr(mg, name)
        exact_op(lambda x: fn(x, sections), lambda x: tuple(npfn(x, sections)), [a], device)
        idx = sorted(data.draw(st.lists(st.integers(0, n), max_size=2)))
        exact_op(lambda x: getattr(x, name)(idx), lambda x: tuple(npfn(x, idx)), [a], device)
    v = draw_array(data, shape[:1], device)
    exact_op(lambda x: mg.hsplit(x, 1), lambda x: tuple(np.hsplit(x, 1)), [v], device)  # 1-D: along dim 0


@given(data=st.data(), shape=mst.shapes(min_dims=2, max_dims=4, max_side=4), k=st.integers(-5, 5))
def test_flips_rot90_mt(device, data, shape, k):
    a = draw_array(data, shape, device)
    nd = len(shape)
    exact_op(mg.fliplr, np.fliplr, [a], device)
    exact_op(lambda x: x.flipud(), np.flipud, [a], device)
    d0, d1 = data.draw(st.permutations(range(nd)))[:2]
    d0 -= nd * data.draw(st.integers(0, 1))  # negative dims too
    exact_op(lambda x: mg.rot90(x, k, (d0, d1)), lambda x: np.rot90(x, k, (d0, d1)), [a], device)
    exact_op(lambda x: x.rot90(k, [d0, d1]), lambda x: np.rot90(x, k, (d0, d1)), [a], device)
    exact_op(mg.rot90, np.rot90, [a], device)
    exact_op(lambda x: x.mT, lambda x: np.swapaxes(x, -1, -2), [a], device)
    exact_op(lambda x: x.mH, lambda x: np.swapaxes(x, -1, -2), [a], device)


def _np_softmax(x, dim):
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


@given(data=st.data(), shape=NONSCALAR)
def test_softmax_log_softmax_clamp_min_max(device, data, shape):
    a = draw_array(data, shape, device, avoid=[-0.5, 0.5])
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    check_op(lambda x: mg.softmax(x, dim), lambda x: _np_softmax(x, dim), [a], device)
    check_op(lambda x: mg.log_softmax(x, dim=dim), lambda x: np.log(_np_softmax(x, dim)), [a], device)
    exact_op(lambda x: mg.clamp_min(x, -0.5), lambda x: np.maximum(x, -0.5), [a], device)
    exact_op(lambda x: x.clamp_max(0.5), lambda x: np.minimum(x, 0.5), [a], device)
    exact_op(lambda x: mg.clip(x, -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5), [a], device)


def test_softmax_dtype_argument(device):
    x = mg.tensor([[1.0, 2.0, 3.0]], device=device, requires_grad=True)
    y = mg.softmax(x, 1, dtype=mg.float64)  # the math runs in float64; the gradient comes back as float32
    assert y.dtype == np.float64
    (y * mg.tensor([[1.0, 0.0, 0.0]], dtype="float64", device=device)).sum().backward()
    assert x.grad.dtype == np.float32
    assert mg.log_softmax(x, -1, mg.float64).dtype == np.float64 and x.softmax(0, dtype="float64").dtype == np.float64
    ints = mg.tensor([0, 1, 2], device=device)
    np.testing.assert_allclose(mg.softmax(ints, 0, dtype=mg.float32).numpy(), _np_softmax(np.arange(3.0), 0),
                               rtol=1e-6)
    with pytest.raises(TypeError, match="softmax"):
        mg.softmax(ints, 0)  # as torch: no softmax of integers without a float dtype


# ================================================================ float32 kept, integers as torch
def test_float32_stays_float32(device):
    x = mg.randn(3, 4, device=device)
    y = mg.randn(4, device=device)
    outs = [mg.add(x, y, alpha=0.3), mg.sub(x, 1.5, alpha=2), mg.rsub(x, y, alpha=-1.5), mg.mul(x, 0.1),
            mg.div(x, y + 5, rounding_mode="floor"), mg.div(x, 3, rounding_mode="trunc"), mg.true_divide(x, 7),
            mg.pow(1.5, x), mg.softmax(x, 0), mg.clamp_min(x, 0.1), mg.rot90(x), *mg.meshgrid(y, y),
            *mg.tensor_split(x, 3, 1), mg.vstack([x, x]), mg.broadcast_to(y, (2, -1)), x.mT]
    assert all(o.dtype == np.float32 for o in outs), [o.dtype for o in outs]


def test_integer_and_bool_inputs(device):
    i = mg.tensor([5, -7, 3], device=device)
    j = mg.tensor([2, 2, -2], device=device)
    assert mg.add(i, j, alpha=2).dtype == np.int64
    np.testing.assert_array_equal(mg.add(i, j, alpha=2).numpy(), [9, -3, -1])
    np.testing.assert_array_equal(mg.div(i, j, rounding_mode="floor").numpy(), [2, -4, -2])
    np.testing.assert_array_equal(mg.div(i, j, rounding_mode="trunc").numpy(), [2, -3, -1])
    assert mg.div(i, j, rounding_mode="trunc").dtype == np.int64
    assert mg.div(i, j).dtype == np.float32 and mg.true_divide(i, 2).dtype == np.float32
    assert mg.div(i, 2.5, rounding_mode="floor").dtype == np.float32  # a float operand floats the result
    b = mg.tensor([True, False], device=device)
    np.testing.assert_array_equal(mg.add(b, b, alpha=True).numpy(), [True, False])
    assert mg.add(b, b).dtype == np.bool_
    assert mg.add(2, 3).dtype == np.int64 and mg.add(2, 3).item() == 5  # torch.add(2, 3): tensor(5)
    assert mg.div(5, 2).item() == 2.5 and mg.div(5, 2).dtype == np.float32
    np.testing.assert_array_equal(mg.pow(2, mg.tensor([0, 1, 3], device=device)).numpy(), [1, 2, 8])


# ================================================================ metadata methods
def test_metadata_methods(device):
    x = mg.zeros(2, 3, 4, device=device)
    assert mg.numel(x) == 24 and x.nelement() == 24 and x.ndimension() == 3
    assert mg.is_floating_point(x) and x.is_floating_point() and not mg.is_complex(x) and not x.is_complex()
    assert not mg.is_floating_point(mg.tensor([1, 2], device=device))
    assert x.stride() == (12, 4, 1) and x.stride(1) == 4 and x.stride(-1) == 1
    assert x.transpose(0, 2).stride() == (1, 4, 12)
    assert x.expand(5, 2, 3, 4).stride() == (0, 12, 4, 1)
    assert x.is_contiguous() and not x.transpose(0, 2).is_contiguous() and not x[:, :, ::2].is_contiguous()
    c = x.transpose(0, 2).contiguous()
    assert c.is_contiguous() and c.stride() == (6, 2, 1) and x.contiguous() is x
    assert x.element_size() == 4 and x.itemsize == 4 and x.nbytes == 96 and x.double().nbytes == 192
    assert mg.tensor([True]).element_size() == 1
    assert x.is_same_size(mg.ones(2, 3, 4)) and not x.is_same_size(mg.ones(3, 2, 4))
    e = x.new_empty((2, 5))
    assert e.shape == (2, 5) and e.dtype == x.dtype and e.device == x.device
    assert x.new_empty(3, dtype=mg.int64).dtype == np.int64 and x.new_empty(2, requires_grad=True).requires_grad
    assert mg.tensor(1.0).stride() == ()


def test_contiguous_copy_is_differentiable(device):
    x = mg.randn(3, 4, device=device, requires_grad=True)
    y = x.mT.contiguous()
    assert y.is_contiguous()
    g = mg.randn(4, 3, device=device)
    y.backward(g)
    np.testing.assert_array_equal(x.grad.numpy(), g.numpy().T)


def test_from_numpy_shares_memory():
    a = np.arange(6.0).reshape(2, 3)
    t = mg.from_numpy(a)
    assert t.dtype == np.float64 and t.shape == (2, 3) and t.device == "cpu"
    a[0, 0] = 9.0
    assert t[0, 0].item() == 9.0  # NumPy writes show in the tensor
    t.add_(1.0)
    assert a[1, 2] == 6.0  # and in-place tensor writes show in the array
    assert mg.from_numpy(np.arange(3, dtype=np.uint16)).dtype == np.uint16
    assert mg.from_numpy(np.array(3.0, dtype=np.float32)).shape == ()
    f = np.arange(4.0, dtype=np.float32)[::-1]  # a reversed view: shared too (torch would refuse it)
    assert np.shares_memory(mg.from_numpy(f).numpy(), f)
    ro = np.arange(3.0)
    ro.flags.writeable = False
    with pytest.warns(UserWarning, match="from_numpy: the given NumPy array is not writable"):
        mg.from_numpy(ro)


# ================================================================ in place
def test_div_inplace_rounding_mode(device):
    x = mg.tensor([5.0, -7.0, 3.5], device=device)
    x.div_(2, rounding_mode="floor")
    np.testing.assert_array_equal(x.numpy(), [2.0, -4.0, 1.0])
    i = mg.tensor([5, -7, 3], device=device)
    i.div_(2, rounding_mode="trunc")
    assert i.dtype == np.int64
    np.testing.assert_array_equal(i.numpy(), [2, -3, 1])
    leaf = mg.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = leaf * 3
    y.div_(mg.tensor([2.0, 2.0], device=device), rounding_mode="trunc")  # recorded: gradient 0, as torch
    y.sum().backward()
    np.testing.assert_array_equal(leaf.grad.numpy(), [0.0, 0.0])


# ================================================================ errors name the op
@pytest.mark.parametrize("call, kind, match", [
    (lambda x: mg.div(x, x, rounding_mode="round"), ValueError, r"div: rounding_mode must be one of"),
    (lambda x: mg.divide(x, 2, rounding_mode=1), ValueError, r"div: rounding_mode"),
    (lambda x: mg.div(mg.tensor([1, 2]), mg.tensor([1, 0]), rounding_mode="floor"), RuntimeError,
     r"div: integer division by zero"),
    (lambda x: mg.div(mg.tensor([True]), mg.tensor([True]), rounding_mode="floor"), TypeError, r"div: .*bool"),
    (lambda x: mg.rot90(x, 1, (0, 0)), ValueError, r"rot90: the rotation dims must be different"),
    (lambda x: mg.rot90(x, 1, (0, -2)), ValueError, r"rot90: the rotation dims must be different"),
    (lambda x: mg.rot90(x, 1, (0,)), ValueError, r"rot90: expected exactly two rotation dims"),
    (lambda x: mg.rot90(x[0], 1), ValueError, r"rot90: expected a tensor with at least 2 dimensions"),
    (lambda x: mg.rot90(x, 1.5), TypeError, r"rot90: k must be an int"),
    (lambda x: mg.rot90(x, 1, (0, 5)), IndexError, r"rot90: dim 5 is out of range"),
    (lambda x: mg.tensor_split(x, 0), ValueError, r"tensor_split: the number of sections must be larger than 0"),
    (lambda x: mg.tensor_split(x, -1), ValueError, r"tensor_split: the number of sections"),
    (lambda x: mg.tensor_split(x[0, 0], 2), ValueError, r"tensor_split: expected at least a 1-dimensional"),
    (lambda x: mg.tensor_split(x, (1.5,)), TypeError, r"tensor_split: indices must be ints"),
    (lambda x: mg.tensor_split(x, mg.tensor([1.0])), TypeError, r"tensor_split: .*integer dtype"),
    (lambda x: mg.tensor_split(x, mg.zeros(2, 2, dtype=mg.int64)), ValueError, r"tensor_split: .*0-d or 1-D"),
    (lambda x: mg.hsplit(x, 4), ValueError, r"hsplit: cannot split dimension 1 of size 3 into 4"),
    (lambda x: mg.hsplit(x, 0), ValueError, r"hsplit: the number of sections must be larger than 0"),
    (lambda x: mg.vsplit(x[0], 1), ValueError, r"vsplit: expected a tensor with at least 2"),
    (lambda x: mg.dsplit(x, 2), ValueError, r"dsplit: expected a tensor with at least 3"),
    (lambda x: mg.from_numpy([1.0, 2.0]), TypeError, r"from_numpy: expected a numpy.ndarray, got list"),
    (lambda x: mg.from_numpy(x), TypeError, r"from_numpy: expected a numpy.ndarray, got Tensor"),
    (lambda x: mg.from_numpy(np.float64(1.0)), TypeError, r"from_numpy: expected a numpy.ndarray"),
    (lambda x: mg.from_numpy(np.array([1j])), TypeError, r"from_numpy: complex"),
    (lambda x: mg.from_numpy(np.array(["a"])), TypeError, r"from_numpy: cannot make a tensor .*<U1"),
    (lambda x: mg.from_numpy(np.array([1, 2], dtype=">i4")), ValueError, r"from_numpy: the array's byte order"),
    (lambda x: mg.add(x, x, alpha="a"), TypeError, r"add: alpha must be a real number"),
    (lambda x: mg.add(mg.tensor([1]), 1, alpha=0.5), RuntimeError, r"add: for integral input tensors"),
    (lambda x: mg.sub(x, x, alpha=True), RuntimeError, r"sub: a bool alpha"),
    (lambda x: mg.sub(mg.tensor([True]), mg.tensor([True])), TypeError, r"sub: subtraction of two bool"),
    (lambda x: mg.rsub(2.0, x), TypeError, r"rsub: input must be a Tensor"),
    (lambda x: mg.positive(mg.tensor([True])), TypeError, r"positive: .*bool"),
    (lambda x: mg.neg([1.0]), TypeError, r"neg: input must be a Tensor"),
    (lambda x: mg.pow(2, 3), TypeError, r"pow: expected at least one Tensor"),
    (lambda x: mg.reshape([1, 2], (2,)), TypeError, r"reshape: input must be a Tensor"),
    (lambda x: mg.flatten(x, 1, 0), ValueError, r"flatten: start_dim \(1\) cannot come after end_dim \(0\)"),
    (lambda x: mg.squeeze(x, (0, 0)), ValueError, r"squeeze: dim 0 appears twice"),
    (lambda x: mg.numel(3), TypeError, r"numel: input must be a Tensor"),
    (lambda x: mg.is_floating_point(3.0), TypeError, r"is_floating_point: input must be a Tensor"),
    (lambda x: mg.broadcast_to(x, (4, 3)), ValueError, r"broadcast_to: cannot broadcast float32\[2, 3\]"),
    (lambda x: mg.broadcast_to(x, (-1, 2, 3)), ValueError,
     r"broadcast_to: cannot broadcast .*: -1 is not allowed for a new leading"),
    (lambda x: mg.broadcast_to(x, (3,)), ValueError,
     r"broadcast_to: cannot broadcast float32\[2, 3\] on cpu to shape \(3,\), which has fewer dim"),
    (lambda x: mg.broadcast_tensors(x, mg.zeros(4)), ValueError, r"broadcast_tensors: broadcast_shapes: shapes"),
    (lambda x: mg.broadcast_shapes((3,), (4,)), ValueError, r"broadcast_shapes: shapes \[\(3,\), \(4,\)\]"),
    (lambda x: mg.broadcast_shapes((-1,), (4,)), ValueError, r"broadcast_shapes: sizes must be non-negative"),
    (lambda x: mg.broadcast_shapes((1.5,)), TypeError, r"broadcast_shapes: a shape must be"),
    (lambda x: mg.meshgrid(x[0], x[0], indexing="yx"), ValueError, r"meshgrid: indexing must be 'ij' or 'xy'"),
    (lambda x: mg.meshgrid(x, indexing="ij"), ValueError, r"meshgrid: expected 0-d or 1-D tensors"),
    (lambda x: mg.meshgrid(indexing="ij"), ValueError, r"meshgrid: expected at least one tensor"),
    (lambda x: mg.meshgrid(x[0], mg.tensor([1, 2]), indexing="ij"), TypeError, r"meshgrid: all tensors must share"),
    (lambda x: mg.atleast_2d(1.0), TypeError, r"atleast_2d: each argument must be a Tensor"),
    (lambda x: mg.vstack(x), TypeError, r"vstack: expected a list or tuple of tensors, got float32\[2, 3\]"),
    (lambda x: mg.hstack([]), ValueError, r"hstack: expected a non-empty list"),
    (lambda x: mg.vstack([x, mg.zeros(2, 4)]), ValueError, r"vstack: cat: shapes must match"),
    (lambda x: mg.column_stack([x, mg.zeros(3)]), ValueError, r"column_stack: cat: shapes must match"),
    (lambda x: mg.dstack([x, x.double()]), TypeError, r"dstack: cat: all tensors must share dtype"),
    (lambda x: mg.concat(x), TypeError, r"concat: expected a list or tuple"),
    (lambda x: mg.concatenate([x, x], axis=2), IndexError, r"concatenate: cat: dim 2 is out of range"),
    (lambda x: mg.cat(x), TypeError, r"cat: expected a sequence of tensors, got the tensor"),
    (lambda x: mg.fliplr(x[0]), ValueError, r"fliplr: expected a tensor with at least 2 dimensions"),
    (lambda x: mg.flipud(x[0, 0]), ValueError, r"flipud: expected a tensor with at least 1 dimension"),
    (lambda x: x[0].mT, ValueError, r"mT: only supported on matrices or batches of matrices"),
    (lambda x: x[0].mH, ValueError, r"mH: only supported"),
    (lambda x: mg.clamp_min(x, "0"), TypeError, r"clamp: expected a number, got str"),
    (lambda x: x.clamp_max(None), TypeError, r"clamp_max: max must be a number"),
    (lambda x: mg.softmax(x, dim=0, dtype="complex64"), TypeError, r"softmax: complex tensors are not supported"),
    (lambda x: x.stride(3), IndexError, r"stride: dim 3 is out of range"),
    (lambda x: x[0, 0].stride(0), IndexError, r"stride: dim 0 given, but float32\[\]"),
    (lambda x: x.is_same_size([1, 2]), TypeError, r"is_same_size: other must be a Tensor"),
])
def test_errors_name_the_op(call, kind, match):
    x = mg.zeros(2, 3)
    with pytest.raises(kind, match=match):
        call(x)


# ================================================================ torch parity (values, gradients, dtypes)
torch = pytest.importorskip("torch")

_R = np.random.default_rng(0)
_A = _R.standard_normal((2, 3, 4))
_B = _R.standard_normal((3, 1))
_P = _R.uniform(0.5, 2.0, (3, 4))
_V = _R.standard_normal(4)
_W = _R.standard_normal(3)

# (name, function of the inputs applied to both libraries: `lib` is mg or torch, inputs)
PARITY = [
    ("add alpha", lambda lib, a, b: lib.add(a, b, alpha=-1.5), [_A, _B[..., 0:1]]),
    ("sub alpha", lambda lib, a, b: lib.sub(a, b, alpha=2), [_A, _P]),
    ("subtract method", lambda lib, a, b: a.subtract(b, alpha=0.5), [_A, _P]),
    ("rsub", lambda lib, a, b: lib.rsub(a, b, alpha=3), [_A, _P]),
    ("rsub scalar", lambda lib, a: lib.rsub(a, 2.0), [_A]),
    ("mul", lambda lib, a, b: lib.multiply(a, b), [_A, _P]),
    ("div", lambda lib, a, b: lib.divide(a, b), [_A, _P]),
    ("div floor", lambda lib, a, b: lib.div(a * 5, b, rounding_mode="floor"), [_A, _P]),
    ("div trunc", lambda lib, a, b: a.div(b * 0.3, rounding_mode="trunc"), [_A, _P]),
    ("true_divide", lambda lib, a, b: lib.true_divide(a, b), [_A, _P]),
    ("pow scalar base", lambda lib, a: lib.pow(2.5, a), [_A]),
    ("pow", lambda lib, a, b: lib.pow(b, a[0]), [_A, _P]),
    ("negative", lambda lib, a: lib.negative(a), [_A]),
    ("positive", lambda lib, a: lib.positive(a) * 2, [_A]),
    ("arctan2", lambda lib, a, b: lib.arctan2(a, b), [_A, _P]),
    ("arccos", lambda lib, a: lib.arccos(a * 0.3), [_A]),
    ("absolute", lambda lib, a: a.absolute(), [_A]),
    ("reshape", lambda lib, a: lib.reshape(a, (4, -1)), [_A]),
    ("transpose", lambda lib, a: lib.transpose(a, 0, -1), [_A]),
    ("permute", lambda lib, a: lib.permute(a, (2, 0, 1)), [_A]),
    ("squeeze tuple", lambda lib, a: lib.squeeze(a[:, :1, None], (1, 2)), [_A]),
    ("unsqueeze", lambda lib, a: lib.unsqueeze(a, -2), [_A]),
    ("flatten", lambda lib, a: lib.flatten(a, 1), [_A]),
    ("ravel", lambda lib, a: lib.ravel(a.transpose(0, 2)), [_A]),
    ("clone", lambda lib, a: lib.clone(a), [_A]),
    ("clamp_min", lambda lib, a: lib.clamp_min(a, 0.1), [_A]),
    ("clamp_max", lambda lib, a: a.clamp_max(-0.1), [_A]),
    ("clip", lambda lib, a: lib.clip(a, -0.5, 0.5), [_A]),
    ("softmax", lambda lib, a: lib.softmax(a, 1), [_A]),
    ("log_softmax", lambda lib, a: lib.log_softmax(a, dim=-1), [_A]),
    ("broadcast_to", lambda lib, b: lib.broadcast_to(b, (2, -1, 4)), [_B]),
    ("broadcast_tensors", lambda lib, a, b: lib.broadcast_tensors(a, b), [_A, _B]),
    ("meshgrid ij", lambda lib, v, w: lib.meshgrid(v, w, indexing="ij"), [_V, _W]),
    ("meshgrid xy", lambda lib, v, w: lib.meshgrid([w, v, w], indexing="xy"), [_V, _W]),
    ("atleast_3d", lambda lib, v, a: lib.atleast_3d(v, a[0], a.sum()), [_V, _A]),
    ("vstack", lambda lib, v, a: lib.vstack([v, a[0]]), [_V, _A]),
    ("hstack", lambda lib, a, b: lib.hstack([a[:, :, 0].T, b]), [_A, _B]),
    ("dstack", lambda lib, a: lib.dstack([a[0], a[1]]), [_A]),
    ("column_stack", lambda lib, w, b: lib.column_stack([w, b, w]), [_W, _B]),
    ("row_stack", lambda lib, v: lib.row_stack([v, v]), [_V]),
    ("concat", lambda lib, a: lib.concat([a, a], dim=1), [_A]),
    ("concatenate", lambda lib, a: lib.concatenate([a, a], axis=-1), [_A]),
    ("tensor_split int", lambda lib, a: lib.tensor_split(a, 3, 2), [_A]),
    ("tensor_split indices", lambda lib, a: a.tensor_split([1, -1, 9], dim=1), [_A]),
    ("hsplit", lambda lib, a: lib.hsplit(a, [1]), [_A]),
    ("vsplit", lambda lib, a: a.vsplit(2), [_A]),
    ("dsplit", lambda lib, a: lib.dsplit(a, 2), [_A]),
    ("fliplr", lambda lib, a: lib.fliplr(a), [_A]),
    ("flipud", lambda lib, a: a.flipud(), [_A]),
    ("rot90", lambda lib, a: lib.rot90(a, 3, (2, 0)), [_A]),
    ("rot90 -1", lambda lib, a: a.rot90(-1, [1, 2]), [_A]),
    ("rot90 0", lambda lib, a: lib.rot90(a, 4), [_A]),
    ("mT", lambda lib, a: a.mT, [_A]),
    ("mH", lambda lib, a: a.mH, [_A]),
]


@pytest.mark.parametrize("name, fn, inputs", PARITY, ids=[p[0] for p in PARITY])
def test_torch_parity(name, fn, inputs):
    ours = [mg.tensor(a, requires_grad=True) for a in inputs]
    theirs = [torch.tensor(a, requires_grad=True) for a in inputs]
    out_m, out_t = fn(mg, *ours), fn(torch, *theirs)
    out_m = out_m if isinstance(out_m, (tuple, list)) else (out_m,)
    out_t = out_t if isinstance(out_t, (tuple, list)) else (out_t,)
    assert len(out_m) == len(out_t)
    total_m, total_t = 0, 0
    for k, (m, t) in enumerate(zip(out_m, out_t)):
        assert m.shape == tuple(t.shape), (name, k)
        np.testing.assert_allclose(m.numpy(), t.detach().numpy(), rtol=1e-12, atol=1e-12, err_msg=name)
        w = np.cos(np.arange(m.numel()).reshape(m.shape) + k)  # a fixed cotangent per output
        total_m = total_m + (m * mg.tensor(w)).sum()
        total_t = total_t + (t * torch.tensor(w)).sum()
    total_m.backward()
    total_t.backward()
    for k, (m, t) in enumerate(zip(ours, theirs)):
        want = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
        got = np.zeros(m.shape) if m.grad is None else m.grad.numpy()
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=f"{name}: gradient of input {k}")


def test_div_rounding_parity_with_torch():
    """Floor mode is Python's // (5.0 // 0.1 == 49), trunc mode trunc(a / b); float32 and integers, as torch."""
    rng = np.random.default_rng(1)
    a = np.concatenate([[5.0, -5.0, 1.0, -1.0, 0.0, 7.5], rng.standard_normal(50) * 10]).astype(np.float32)
    b = np.concatenate([[0.1, 0.1, 0.0, 0.0, 0.0, -2.5], rng.standard_normal(50)]).astype(np.float32)
    for mode in ("floor", "trunc"):
        got = mg.div(mg.tensor(a), mg.tensor(b), rounding_mode=mode)
        want = torch.div(torch.tensor(a), torch.tensor(b), rounding_mode=mode)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=mode)
        got = mg.div(mg.tensor(a), 0.3, rounding_mode=mode)
        np.testing.assert_array_equal(got.numpy(), torch.div(torch.tensor(a), 0.3, rounding_mode=mode).numpy())
    ia = rng.integers(-20, 20, 40)
    ib = rng.integers(1, 6, 40) * rng.choice([-1, 1], 40)
    for mode in ("floor", "trunc"):
        for x, y in [(ia, ib), (ia.astype(np.int32), 3), (ia.astype(np.uint8) % 200, np.uint8(7))]:
            tx, ty = torch.tensor(x), (torch.tensor(y) if isinstance(y, np.ndarray) else int(y))
            mx, my = mg.tensor(x), (mg.tensor(y) if isinstance(y, np.ndarray) else int(y))
            got, want = mg.div(mx, my, rounding_mode=mode), torch.div(tx, ty, rounding_mode=mode)
            assert str(got.dtype) == str(want.dtype).replace("torch.", ""), (mode, got.dtype, want.dtype)
            np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=mode)


def test_integer_alpha_parity_with_torch():
    x, y = np.array([5, -7, 3]), np.array([2, 2, -2])
    for fn in (lambda lib, a, b: lib.add(a, b, alpha=3), lambda lib, a, b: lib.sub(a, b, alpha=-2),
               lambda lib, a, b: lib.rsub(a, b, alpha=2), lambda lib, a, b: lib.add(a, 4, alpha=2),
               lambda lib, a, b: lib.div(a, b), lambda lib, a, b: lib.div(a, 2.5, rounding_mode="floor")):
        got, want = fn(mg, mg.tensor(x), mg.tensor(y)), fn(torch, torch.tensor(x), torch.tensor(y))
        assert str(got.dtype) == str(want.dtype).replace("torch.", "")
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


def test_metadata_parity_with_torch():
    a = np.zeros((2, 3, 4), dtype=np.float32)
    for fn in (lambda t: t.stride(), lambda t: t.transpose(0, 2).stride(), lambda t: t.expand(5, 2, 3, 4).stride(),
               lambda t: t.is_contiguous(), lambda t: t.transpose(1, 2).is_contiguous(),
               lambda t: t[:, :1].is_contiguous(), lambda t: t.element_size(), lambda t: t.itemsize,
               lambda t: t.nbytes, lambda t: t.expand(5, 2, 3, 4).nbytes, lambda t: t.nelement(),
               lambda t: t.ndimension(), lambda t: t.is_floating_point(), lambda t: t.long().is_floating_point(),
               lambda t: t.is_same_size(t[0]), lambda t: tuple(t.new_empty(3, 2).shape),
               lambda t: t.transpose(0, 2).contiguous().stride(), lambda t: t.mT.contiguous().is_contiguous()):
        assert fn(mg.tensor(a)) == fn(torch.tensor(a))
    assert mg.broadcast_shapes((3, 1), 4, ()) == tuple(torch.broadcast_shapes((3, 1), 4, ()))
    assert mg.broadcast_shapes() == tuple(torch.broadcast_shapes()) == ()


def test_split_method_argument_forms_match_torch():
    """Tensor.hsplit(2) is 2 sections; hsplit(1, 3) and hsplit([1, 3]) are indices (torch's *indices form)."""
    a = np.arange(4 * 6 * 8, dtype=np.float64).reshape(4, 6, 8)
    for fn in (lambda t: t.hsplit(2), lambda t: t.hsplit(1, 3), lambda t: t.hsplit([1, 3]), lambda t: t.vsplit(1, 2),
               lambda t: t.dsplit([2, 6]), lambda t: t.tensor_split(3, dim=-1), lambda t: t.tensor_split((1, 4), 1)):
        got, want = fn(mg.tensor(a)), fn(torch.tensor(a))
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g.numpy(), w.numpy())


TOP_LEVEL = """add sub subtract rsub mul multiply div divide true_divide pow neg negative positive greater greater_equal
    less less_equal not_equal arccos arcsin arctan arctan2 absolute reshape transpose permute squeeze unsqueeze flatten
    ravel clone numel is_floating_point is_complex from_numpy concat concatenate clip clamp_min clamp_max softmax
    log_softmax broadcast_to broadcast_tensors broadcast_shapes meshgrid atleast_1d atleast_2d atleast_3d vstack hstack
    dstack column_stack row_stack tensor_split hsplit vsplit dsplit fliplr flipud rot90""".split()
METHODS = """add sub mul div subtract multiply divide true_divide negative positive greater greater_equal less
    less_equal not_equal arccos arcsin arctan arctan2 absolute ravel nelement ndimension is_floating_point is_complex
    is_contiguous element_size itemsize nbytes stride is_same_size new_empty clamp_min clamp_max tensor_split hsplit
    vsplit dsplit fliplr flipud rot90 mT mH clip softmax log_softmax""".split()


def test_every_name_exists_in_torch_and_minigrad():
    assert [n for n in TOP_LEVEL if not hasattr(mg, n)] == []
    assert [n for n in METHODS if not hasattr(mg.Tensor, n)] == []
    assert [n for n in TOP_LEVEL if not hasattr(torch, n)] == []
    assert [n for n in METHODS if not hasattr(torch.Tensor, n)] == []
