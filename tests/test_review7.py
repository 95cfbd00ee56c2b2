"""Regression tests for review 7: linalg.solve(left=False) with a vector B, max-pool indices of windows
that hold only padding (or only -inf / NaN), and the engine's check of a gradient's shape."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import minigrad.functional as F
from minigrad import autograd
from minigrad.autograd import Function

torch = pytest.importorskip("torch")
TF = torch.nn.functional


# ---------------------------------------------------------------- 1. linalg.solve(left=False), vector B
@pytest.mark.parametrize("a_shape, b_shape", [((3, 3), (3,)), ((2, 3, 3), (2, 3)), ((2, 3, 3), (3,)),
                                              ((1, 1), (1,)), ((2, 1, 1), (2, 1)), ((0, 0), (0,)), ((3, 3), (4,))])
def test_solve_left_false_refuses_a_vector_b_as_torch(device, a_shape, b_shape):
    """torch 2.13 raises RuntimeError for every vector B with left=False (we used to solve x A = b)."""
    rng = np.random.default_rng(0)
    a = (rng.standard_normal(a_shape) + 4 * np.eye(a_shape[-1])).astype(np.float32)
    b = rng.standard_normal(b_shape).astype(np.float32)
    with pytest.raises(RuntimeError, match=r"linalg\.solve"):
        torch.linalg.solve(torch.tensor(a), torch.tensor(b), left=False)
    with pytest.raises(RuntimeError, match=r"linalg\.solve: a vector B .* left=False") as info:
        mg.linalg.solve(mg.tensor(a, device=device), mg.tensor(b, device=device), left=False)
    assert f"float32[{', '.join(map(str, a_shape))}]" in str(info.value)  # both shapes are named
    assert f"float32[{', '.join(map(str, b_shape))}]" in str(info.value)


def test_solve_row_vector_as_torch_allows_it(device):
    """What the refusal points to: a (.., 1, n) row B with left=False, and a vector B with left=True."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2, 3, 3)) + 4 * np.eye(3)
    b = rng.standard_normal((2, 3))
    A, B = mg.tensor(a, device=device), mg.tensor(b, device=device)
    x = mg.linalg.solve(A, B.unsqueeze(-2), left=False)
    want = torch.linalg.solve(torch.tensor(a), torch.tensor(b).unsqueeze(-2), left=False)
    np.testing.assert_allclose(x.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose((x @ A).numpy()[:, 0], b, rtol=1e-10, atol=1e-12)  # x A = b
    np.testing.assert_allclose(mg.linalg.solve(A, B).numpy(), torch.linalg.solve(torch.tensor(a), torch.tensor(b)),
                               rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- 2. max-pool indices
def _grad_from_indices(shape, idx, g, empty):
    """torch's backward rule (dx[index] += dy) with the windows of padding only left out."""
    flat = np.zeros((int(np.prod(shape[:-2] or (1,))), int(np.prod(shape[-2:]))))
    idx, g, empty = (a.reshape(flat.shape[0], -1) for a in (idx, g, empty))
    for r in range(flat.shape[0]):
        np.add.at(flat[r], idx[r][~empty[r]], g[r][~empty[r]])
    return flat.reshape(shape)


def _padding_only(n_out, length, k, stride, padding, dilation):
    """Per output position along one axis: does its window miss the input entirely (no tap inside)?"""
    taps = (np.arange(n_out) * stride - padding)[:, None] + np.arange(k) * dilation
    return ~((taps >= 0) & (taps < length)).any(axis=1)


def _expected_grad_2d(x_shape, tidx, g, k, s, p, d):
    out = tidx.shape[-2:]
    empty = (_padding_only(out[0], x_shape[-2], k[0], s[0], p[0], d[0])[:, None]
             | _padding_only(out[1], x_shape[-1], k[1], s[1], p[1], d[1])[None, :])
    return _grad_from_indices(x_shape, tidx, g, np.broadcast_to(empty, tidx.shape)), empty


@pytest.mark.parametrize("shape, kw, want_idx", [
    ((1, 1, 1, 1), dict(kernel_size=2, stride=1, padding=1, dilation=2), [[2]]),  # taps -1 and 1 of 1 row/col
    ((1, 1, 2, 1), dict(kernel_size=(1, 2), stride=1, padding=(0, 1), dilation=(1, 2)), [[1], [2]]),
    ((1, 1, 1, 4), dict(kernel_size=(1, 2), stride=1, padding=(0, 1), dilation=(1, 5)), [[4]]),
    ((2, 2, 1, 2), dict(kernel_size=(1, 2), stride=2, padding=(0, 1), dilation=(1, 3)), [[2]]),
])
def test_max_pool2d_window_of_padding_only_matches_torch(device, shape, kw, want_idx):
    """torch accepts these (padding <= kernel / 2; dilation steps over the input): value -inf, index
    r0 * W + c0 of the first row and column >= 0 (past the end, or another row's position); we used
    to return a negative index. Its gradient is 0 (torch's backward writes to that index: out of bounds)."""
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    t = mg.tensor(x, device=device, requires_grad=True)
    y, idx = F.max_pool2d(t, return_indices=True, **kw)
    ty, tidx = TF.max_pool2d(torch.tensor(x), return_indices=True, **kw)
    np.testing.assert_array_equal(tidx.numpy()[0, 0], want_idx)  # (torch's behaviour, pinned)
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    assert np.isneginf(y.numpy()).all() and np.isneginf(ty.numpy()).all()
    y.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), np.zeros(shape, np.float32))
    _, idx1 = F.max_pool2d(mg.tensor(x[0], device=device), return_indices=True, **kw)  # unbatched
    np.testing.assert_array_equal(idx1.numpy(), tidx.numpy()[0])


@pytest.mark.parametrize("length, kw, want_idx", [
    (1, dict(kernel_size=2, stride=1, padding=1, dilation=2), [1]),
    (2, dict(kernel_size=2, stride=1, padding=1, dilation=3), [2]),
    (4, dict(kernel_size=2, stride=1, padding=1, dilation=5), [4]),
])
def test_max_pool1d_window_of_padding_only_matches_torch(device, length, kw, want_idx):
    """As max_pool2d: the first tap >= 0 (past the end), where we used to give arg -1's position."""
    x = np.random.default_rng(4).standard_normal((2, 1, length)).astype(np.float32)
    t = mg.tensor(x, device=device, requires_grad=True)
    y, idx = F.max_pool1d(t, return_indices=True, **kw)
    ty, tidx = TF.max_pool1d(torch.tensor(x), return_indices=True, **kw)
    np.testing.assert_array_equal(tidx.numpy()[0, 0], want_idx)
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    assert np.isneginf(y.numpy()).all()
    y.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), np.zeros(x.shape, np.float32))


def test_pool_padding_larger_than_half_the_kernel_is_refused_as_torch():
    """torch's check is on the kernel size, not the dilated one: padding 2 with kernel 2 is refused
    even with dilation 3 (so a window of padding only needs dilation)."""
    x = np.zeros((1, 1, 3, 3), np.float32)
    with pytest.raises(RuntimeError, match="pad should be"):
        TF.max_pool2d(torch.tensor(x), 2, 1, 2, 3)
    with pytest.raises(ValueError, match=r"max_pool2d: padding should be at most half of the kernel size"):
        F.max_pool2d(mg.tensor(x), 2, 1, 2, 3)
    with pytest.raises(ValueError, match=r"max_pool1d: padding should be at most half of the kernel size"):
        F.max_pool1d(mg.tensor(x[0]), 2, 1, 2, 3)


_SPECIAL = np.array([-np.inf, np.nan, -1.0, 0.0, 1.0])  # ties, windows of -inf, NaN (the last NaN wins)


@st.composite
def _pool2d_case(draw):
    k = draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
    p = tuple(draw(st.integers(0, k[a] // 2)) for a in range(2))
    s = draw(st.tuples(st.integers(1, 3), st.integers(1, 3)))
    hw = tuple(draw(st.integers(max(1, k[a] - 2 * p[a]), 5)) for a in range(2))
    # dilation up to 4, while one window still fits: d (k - 1) + 1 <= H + 2 p
    d = tuple(draw(st.integers(1, 4 if k[a] == 1 else max(1, min(4, (hw[a] + 2 * p[a] - 1) // (k[a] - 1)))))
              for a in range(2))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) + hw
    x = _SPECIAL[np.asarray(draw(st.lists(st.integers(0, 4), min_size=int(np.prod(shape)),
                                          max_size=int(np.prod(shape)))))].reshape(shape)
    return x, dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=draw(st.booleans()))


@given(case=_pool2d_case())
def test_max_pool2d_indices_values_and_gradient_match_torch(device, case):
    """-inf / NaN data, partly padded windows and windows of padding only, with ceil_mode and dilation."""
    x, kw = case
    t = mg.tensor(x, device=device, requires_grad=True)
    y, idx = F.max_pool2d(t, return_indices=True, **kw)
    tx = torch.tensor(x, requires_grad=True)
    ty, tidx = TF.max_pool2d(tx, return_indices=True, **kw)
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    g = np.random.default_rng(5).standard_normal(tuple(ty.shape))
    y.backward(mg.tensor(g, device=device))
    want, empty = _expected_grad_2d(x.shape, tidx.numpy(), g, kw["kernel_size"], kw["stride"], kw["padding"],
                                    kw["dilation"])
    np.testing.assert_allclose(t.grad.numpy(), want, rtol=1e-12, atol=1e-12)
    if not empty.any():  # (torch's backward writes out of bounds for a window of padding only)
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(t.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


@given(case=_pool2d_case())
def test_max_pool1d_indices_values_and_gradient_match_torch(device, case):
    x, kw = case
    x = x[:, :, 0]  # (N, C, L), the width settings
    kw = {key: (v[1] if isinstance(v, tuple) else v) for key, v in kw.items()}
    t = mg.tensor(x, device=device, requires_grad=True)
    y, idx = F.max_pool1d(t, return_indices=True, **kw)
    ty, tidx = TF.max_pool1d(torch.tensor(x), return_indices=True, **kw)
    np.testing.assert_array_equal(y.numpy(), ty.numpy())
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    g = np.random.default_rng(6).standard_normal(tuple(ty.shape))
    y.backward(mg.tensor(g, device=device))
    empty = _padding_only(ty.shape[-1], x.shape[-1], kw["kernel_size"], kw["stride"], kw["padding"], kw["dilation"])
    want = _grad_from_indices(x.shape[:-1] + (1, x.shape[-1]), tidx.numpy()[..., None, :], g[..., None, :],
                              np.broadcast_to(empty, tidx.shape)[..., None, :])
    np.testing.assert_allclose(t.grad.numpy(), want.reshape(x.shape), rtol=1e-12, atol=1e-12)


@given(data=st.data(), hw=st.tuples(st.integers(1, 5), st.integers(1, 5)),
       out=st.tuples(st.integers(1, 6), st.integers(1, 6)))
def test_adaptive_max_pools_with_inf_and_nan_match_torch(device, data, hw, out):
    """Adaptive windows always hold data: a window of -inf gives its first position, NaN its last NaN."""
    shape = (2,) + hw
    x = _SPECIAL[np.asarray(data.draw(st.lists(st.integers(0, 4), min_size=int(np.prod(shape)),
                                               max_size=int(np.prod(shape)))))].reshape(shape)
    y, idx = F.adaptive_max_pool2d(mg.tensor(x, device=device), out, return_indices=True)
    ty, tidx = TF.adaptive_max_pool2d(torch.tensor(x), out, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), ty.numpy())
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    y1, idx1 = F.adaptive_max_pool1d(mg.tensor(x[:, 0], device=device), out[1], return_indices=True)
    ty1, tidx1 = TF.adaptive_max_pool1d(torch.tensor(x[:, 0]), out[1], return_indices=True)
    np.testing.assert_array_equal(y1.numpy(), ty1.numpy())
    np.testing.assert_array_equal(idx1.numpy(), tidx1.numpy())


# ---------------------------------------------------------------- 3. the engine's shape check
class _WrongShape(Function):
    """y = 2 x, with a backward that returns a gradient of the wrong shape (a user bug)."""

    @staticmethod
    def forward(ctx, x, bad_shape):
        ctx.bad_shape = bad_shape
        return x * 2

    @staticmethod
    def backward(ctx, g):
        xp = mg.backend.get_array_module(g)
        return xp.ones(ctx.bad_shape, dtype=g.dtype)


@pytest.mark.parametrize("bad_shape", [(2, 4), (6,), (3, 2), (3,), (4, 3, 2)])
def test_wrong_shaped_gradient_gets_the_engine_message(device, bad_shape):
    x = mg.ones(2, 3, device=device, requires_grad=True)
    msg = (rf"backward: _WrongShape returned a gradient of shape \({', '.join(map(str, bad_shape))},?\) for an "
           r"input of shape \(2, 3\), which is not a broadcast of it")
    with pytest.raises(RuntimeError, match=msg):
        _WrongShape.apply(x, bad_shape=bad_shape).sum().backward()


def test_broadcast_gradient_is_still_summed_down(device):
    x = mg.ones(2, 3, device=device, requires_grad=True)
    _WrongShape.apply(x, bad_shape=(4, 2, 3)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 4.0, np.float32))


def test_an_error_inside_sum_to_keeps_its_own_message(monkeypatch):
    """Only a ValueError of the shape machinery means "not a broadcast"; out of memory (or any other
    failure) used to be reported as a shape problem."""
    def failing(g, shape):
        raise MemoryError("out of device memory while summing")

    monkeypatch.setattr(autograd, "sum_to", failing)
    x = mg.ones(2, 3, requires_grad=True)
    with pytest.raises(MemoryError, match="out of device memory while summing"):
        _WrongShape.apply(x, bad_shape=(4, 2, 3)).sum().backward()

    def shape_error(g, shape):
        raise ValueError("cannot reshape array")

    monkeypatch.setattr(autograd, "sum_to", shape_error)
    x = mg.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"_WrongShape returned a gradient of shape \(4, 2, 3\) .* not a broadcast"):
        _WrongShape.apply(x, bad_shape=(4, 2, 3)).sum().backward()


def test_a_backward_that_returns_a_tensor_is_a_clear_error():
    """A Function's backward works on arrays; returning a Tensor (right shape or broadcast) used to
    slip into .grad as a Tensor inside a Tensor, or fail inside sum_to."""
    import minigrad as mg

    class Twice(mg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return mg.tensor(g * 2)  # wrong: a Tensor

    for shape in [(3,), (2, 3)]:
        x = mg.ones(*shape, requires_grad=True)
        with pytest.raises(TypeError, match=r"backward: Twice\.backward returned a Tensor; .*backend arrays"):
            Twice.apply(x).sum().backward()


def test_max_pool1d_keeps_the_earlier_zero_sign_on_a_tie_as_torch():
    """-0.0 and 0.0 tie: torch's max_pool1d (like its max_pool2d) keeps the earlier tap's sign."""
    from minigrad import functional as F

    for vals, signs in (([-0.0, 0.0, -1.0], [True, False]), ([0.0, -0.0, -1.0], [False, True])):
        y, i = F.max_pool1d(mg.tensor([[vals]]), 2, 1, return_indices=True)
        assert np.signbit(y.numpy()).ravel().tolist() == signs and i.numpy().ravel().tolist() == [0, 1]
