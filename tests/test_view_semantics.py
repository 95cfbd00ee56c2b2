"""Tensor.view shares memory or refuses, as torch: never a silent copy (a write through it reaches x)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg


def test_view_of_a_transpose_is_refused_and_reshape_copies():
    x = mg.arange(6.0).reshape(2, 3)
    with pytest.raises(RuntimeError, match=r"view: shape \(6,\) is not compatible .*float32\[3, 2\].*reshape"):
        x.t().view(-1)
    np.testing.assert_array_equal(x.t().reshape(-1).numpy(), [0, 3, 1, 4, 2, 5])
    np.testing.assert_array_equal(x.t().contiguous().view(-1).numpy(), [0, 3, 1, 4, 2, 5])


def test_write_through_view_reaches_the_base():
    x = mg.zeros(2, 3)
    v = x.view(3, 2)
    v[2, 1] = 7.0
    assert x[1, 2].item() == 7.0
    s = x[:, 1:]          # non-contiguous, but (2, 2) -> (2, 2, 1) needs no copy
    s.view(2, 2, 1)[0, 1, 0] = 5.0
    assert x[0, 2].item() == 5.0


def test_view_keeps_autograd():
    x = mg.arange(6.0, requires_grad=True)
    (x.view(2, 3) * mg.tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1, 2, 3, 1, 2, 3])


def test_view_of_memory_owned_by_a_buffer():
    buf = bytearray(np.arange(6, dtype=np.float32).tobytes())
    x = mg.from_numpy(np.frombuffer(buf, dtype=np.float32))
    assert x.view(2, 3).shape == (2, 3)


def _factor_shapes(n):
    """Some shapes with n elements: (n,), (-1,), and splits of n into two or three factors."""
    out = [(n,), (-1,)]
    for a in range(1, n + 1):
        if n % a == 0:
            out.append((a, n // a))
            for b in range(1, n // a + 1):
                if (n // a) % b == 0:
                    out.append((a, b, n // a // b))
    return out


@st.composite
def strided_case(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    perm = tuple(draw(st.permutations(range(len(shape)))))
    steps = tuple(draw(st.sampled_from([1, 1, 2])) for _ in shape)
    return shape, perm, steps


@given(strided_case(), st.data())
def test_view_refuses_exactly_where_torch_does(case, data):
    torch = pytest.importorskip("torch")
    shape, perm, steps = case
    base = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    index = tuple(slice(None, None, s) for s in steps)
    t = torch.from_numpy(base.copy()).permute(perm)[index]
    m = mg.tensor(base.copy()).permute(*perm)[index]
    target = data.draw(st.sampled_from(_factor_shapes(t.numel())))
    try:
        want = t.view(target)
    except RuntimeError:
        with pytest.raises(RuntimeError, match="view: .*not compatible"):
            m.view(target)
        return
    got = m.view(target)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert got.shape == tuple(want.shape)
    got.data[...] = -1.0  # a view: the write is seen through the tensor it came from
    assert (m.numpy() == -1.0).all()


DTYPES = ["float32", "float64", "float16", "int8", "int16", "int32", "int64", "uint8", "bool"]


@pytest.mark.parametrize("src", ["float32", "float64", "int16", "uint8"])
@pytest.mark.parametrize("dst", DTYPES)
@pytest.mark.parametrize("shape", [(2, 4), (3,), (4, 1), ()])
def test_view_dtype_matches_torch(src, dst, shape):
    """x.view(dtype): the same bytes, torch's shape rule and refusals; shared memory; never requires grad."""
    torch = pytest.importorskip("torch")
    base = np.asarray(np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape) % 7).astype(src)
    t = torch.from_numpy(base.copy())
    m = mg.tensor(base.copy())
    try:
        want = t.view(getattr(torch, dst))
    except RuntimeError:
        with pytest.raises(RuntimeError, match="view: "):
            m.view(getattr(mg, dst) if dst != "bool" else "bool")
        return
    got = m.view(dst)
    assert got.shape == tuple(want.shape) and str(got.dtype) == dst
    np.testing.assert_array_equal(got.numpy().reshape(-1).view(np.uint8),  # bit for bit
                                  want.numpy().reshape(-1).view(np.uint8))
    assert not got.requires_grad and got.grad_fn is None


def test_view_dtype_shares_memory_and_version():
    x = mg.zeros(2)
    x.view(mg.int32)[0] = 1065353216  # the bits of 1.0f
    assert x[0].item() == 1.0
    t = mg.ones(3, 2).t()
    with pytest.raises(RuntimeError, match="last dimension .* must be contiguous"):
        t.view(mg.float16)
    with pytest.raises(TypeError, match="either a shape or a dtype"):
        mg.ones(2).view(2, dtype=mg.int8)
    w = mg.ones(2, requires_grad=True)
    assert not w.view(mg.float32).requires_grad  # as torch 2.13: view(dtype) is not differentiable


def test_einsum_of_one_operand_owns_its_memory():
    """NumPy's einsum('ij->ji') is a view; ours is not a declared view, so it must own its memory, or a later
    in-place write to x would silently change what (y * w) saved for w's gradient (found by instrumenting
    the engine's alias check)."""
    x = mg.arange(4.0).reshape(2, 2)  # needs no gradient: einsum records nothing
    y = mg.einsum("ij->ji", x)
    w = mg.ones(2, 2, requires_grad=True)
    z = (y * w).sum()
    x.mul_(3)
    z.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[0, 2], [1, 3]])


@pytest.mark.parametrize("make", [lambda x: x[0], lambda x: x.select(0, 1), lambda x: x.split(1)[0],
                                  lambda x: x.t(), lambda x: x.diagonal(), lambda x: x.view(-1)])
def test_view_used_after_its_base_changed_in_place_is_refused(make):
    """torch re-bases a view onto its base's in-place op; minigrad's edge would skip that op (a.grad 1
    instead of 2, silently), so the engine refuses. Uses before the write, and writes without a graph
    (an optimizer step), stay allowed."""
    a = mg.ones(2, 3, requires_grad=True)
    x = a * 1
    v = make(x)
    x.mul_(2)
    with pytest.raises(RuntimeError, match="changed in place by .* after the view was made"):
        v.sum().backward()
    a = mg.ones(2, 3, requires_grad=True)
    x = a * 1
    v = make(x)
    loss = v.sum()
    x.mul_(2)
    loss.backward()  # v was used before the write: its gradient is right
    torch = pytest.importorskip("torch")
    ta = torch.ones(2, 3, dtype=torch.float32, requires_grad=True)
    tv = make(ta * 1)
    tv.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), ta.grad.numpy())


def test_view_of_a_parameter_survives_an_optimizer_step():
    w = mg.ones(2, 3, requires_grad=True)
    wt = w.t()
    with mg.no_grad():
        w.sub_(0.5)  # no graph: nothing for the view's edge to skip
    (wt * 2).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.full((2, 3), 2.0))
