"""diagonal, unbind, unfold and as_strided are views of x, as in torch: writes through them reach x.

For each of the four: the values of x after fill_ / mul_ / add_ / zero_ through the view match torch
(several shapes, offsets, dims, negative dims, non-contiguous inputs); the version counter is shared
(an op that saved x refuses backward after a write through the view, as torch's does); gradients
match finite differences and torch (overlapping unfold / as_strided windows add up); and in-place
writes in a graph follow README's rule (a view of a leaf that requires grad: refused, as torch; a
view of a non-leaf: recorded as a write into it, as torch, except unbind's outputs, refused as torch;
no graph: written).
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.ops.index_more import AsStrided, Unfold
from minigrad.ops.shape import Diagonal, Unbind
from minigrad.testing import gradcheck

torch = pytest.importorskip("torch")

GRADIENT_TESTED = [Diagonal, Unbind, Unfold, AsStrided]  # (test_gradients_* below; see tests/test_op_coverage.py)

WRITES = {  # name -> the in-place write, the same call in both libraries
    "fill_": lambda v: v.fill_(-1.5),
    "mul_": lambda v: v.mul_(2.0),
    "add_": lambda v: v.add_(3.0),
    "zero_": lambda v: v.zero_(),
}
ORDER_FREE = ("fill_", "zero_")  # the only writes minigrad allows into overlapping windows (see below)


def _layouts(a):
    """(name, make) pairs: x as given, transposed, and with every other column (both non-contiguous)."""
    out = [("contiguous", lambda t: t)]
    if a.ndim >= 2:
        out.append(("transposed", lambda t: t.transpose(0, -1)))
        if a.shape[-1] >= 3:
            out.append(("strided", lambda t: t[..., ::2]))
    return out


def _write_through(device, a, layout, view_fn, write):
    """x after write(view_fn(x)) in minigrad and in torch (x made from `a` by `layout`), and the versions."""
    got_base = mg.tensor(a, dtype=mg.float64, device=device)
    want_base = torch.tensor(a, dtype=torch.float64)
    got, want = layout(got_base), layout(want_base)
    write(view_fn(got))
    write(view_fn(want))
    return got_base.numpy(), want_base.numpy(), got._version, want._version


# ---------------------------------------------------------------- the four views, drawn for a shape
@st.composite
def diagonal_case(draw, shape):
    nd = len(shape)
    d1 = draw(st.integers(-nd, nd - 1))
    d2 = draw(st.integers(-nd, nd - 1).filter(lambda d: d % nd != d1 % nd))
    offset = draw(st.integers(-3, 3))
    return lambda t: t.diagonal(offset, d1, d2)


@st.composite
def unbind_case(draw, shape):
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    k = draw(st.integers(0, shape[dim] - 1))
    return lambda t: t.unbind(dim)[k]


@st.composite
def unfold_case(draw, shape, overlapping):
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    if overlapping:
        size = draw(st.integers(min(2, n), n))
        step = draw(st.integers(1, max(size - 1, 1)))
    else:
        size = draw(st.integers(0, n))
        step = draw(st.integers(max(size, 1), max(size, 1) + 2))
    return lambda t: t.unfold(dim, size, step)


@st.composite
def as_strided_case(draw, shape, overlapping):
    n = int(np.prod(shape))
    nd = draw(st.integers(1, 3))
    size = draw(st.lists(st.integers(1, 3), min_size=nd, max_size=nd))
    if overlapping:  # a stride of 1 under a stride < its size: elements repeat
        stride = [1] * nd
    else:  # row-major strides of `size`, spaced by gaps: every element distinct
        gap = draw(st.integers(0, 1))
        stride, inner = [], 1
        for s in reversed(size):
            stride.insert(0, inner)
            inner *= s + gap
    while sum((s - 1) * st_ for s, st_ in zip(size, stride)) >= n:  # shrink until it fits in x
        k = max(range(nd), key=lambda i: size[i])
        size[k] -= 1
    reach = sum((s - 1) * st_ for s, st_ in zip(size, stride))
    offset = draw(st.integers(0, n - 1 - reach))
    if draw(st.booleans()):
        return lambda t: t.as_strided(size, stride, offset)
    return lambda t: t.as_strided(size, stride)


def _check_write_parity(device, data, make_case, min_dims=1, writes=tuple(WRITES), contiguous_only=False):
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=min_dims, max_size=3)))
    a = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape) - data.draw(st.integers(0, 5))
    layouts = _layouts(a)[:1] if contiguous_only else _layouts(a)
    name, layout = data.draw(st.sampled_from(layouts))
    view_fn = data.draw(make_case(tuple(layout(torch.tensor(a)).shape)))
    for w in writes:
        got, want, gv, wv = _write_through(device, a, layout, view_fn, WRITES[w])
        np.testing.assert_array_equal(got, want, err_msg=f"{w} through the view ({name} x)")
        assert gv == wv == 1


@given(st.data())
def test_diagonal_writes_reach_x_as_torch(device, data):
    _check_write_parity(device, data, diagonal_case, min_dims=2)


@given(st.data())
def test_unbind_writes_reach_x_as_torch(device, data):
    _check_write_parity(device, data, unbind_case)


@given(st.data())
def test_unfold_writes_reach_x_as_torch(device, data):
    _check_write_parity(device, data, lambda s: unfold_case(s, overlapping=False))
    _check_write_parity(device, data, lambda s: unfold_case(s, overlapping=True), writes=ORDER_FREE)


@given(st.data())
def test_as_strided_writes_reach_x_as_torch(device, data):
    _check_write_parity(device, data, lambda s: as_strided_case(s, overlapping=False), contiguous_only=True)
    _check_write_parity(device, data, lambda s: as_strided_case(s, overlapping=True), writes=ORDER_FREE,
                        contiguous_only=True)


def test_the_brief_examples(device):
    """torch: x.sum() is 2, 3, 6 and 2 after these writes into x = zeros(2, 3)."""
    for fn, total in ((lambda x: x.diagonal(), 2), (lambda x: x.unbind()[0], 3),
                      (lambda x: x.unfold(1, 2, 1), 6), (lambda x: x.as_strided((2,), (1,)), 2)):
        x = mg.zeros(2, 3, device=device)
        fn(x).fill_(1)
        assert x.sum().item() == total
        tx = torch.zeros(2, 3)
        fn(tx).fill_(1)
        assert tx.sum().item() == total
    x = mg.zeros(3, 3, device=device)
    for row in x.unbind():
        row.add_(1.0)
    x.diagonal().fill_(-1.0)
    np.testing.assert_array_equal(x.numpy(), [[-1, 1, 1], [1, -1, 1], [1, 1, -1]])


def test_writes_into_x_are_seen_through_the_views(device):
    x = mg.zeros(3, 4, device=device)
    d, rows, w, s = x.diagonal(1), x.unbind(1), x.unfold(1, 2, 2), x.as_strided((2, 2), (4, 1), 1)
    x.add_(mg.arange(12.0, device=device).reshape(3, 4))
    tx = torch.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(d.numpy(), tx.diagonal(1).numpy())
    np.testing.assert_array_equal(rows[2].numpy(), tx.unbind(1)[2].numpy())
    np.testing.assert_array_equal(w.numpy(), tx.unfold(1, 2, 2).numpy())
    np.testing.assert_array_equal(s.numpy(), tx.as_strided((2, 2), (4, 1), 1).numpy())
    assert d._version == rows[0]._version == w._version == s._version == x._version == 1


def test_views_of_the_views_and_of_a_flip(device):
    x = mg.arange(24.0, device=device).reshape(2, 3, 4)
    tx = torch.arange(24.0).reshape(2, 3, 4)
    for fn in (lambda t: t.diagonal(0, 1, 2).unbind(-1)[1],
               lambda t: t.unfold(2, 2, 2).diagonal(0, 0, -1),
               lambda t: t.unbind(1)[2].unfold(-1, 3, 1).diagonal(1, 0, 1)):
        np.testing.assert_array_equal(fn(x).numpy(), fn(tx).numpy())
    fn = lambda t: t.unbind(1)[2].unfold(-1, 1, 2).diagonal(1, 0, 1)  # noqa: E731
    fn(x).mul_(10.0)
    fn(tx).mul_(10.0)
    np.testing.assert_array_equal(x.numpy(), tx.numpy())
    # flip is a new C-ordered tensor, as torch's (no longer a negative-stride view): its diagonal matches NumPy's
    a = np.arange(12.0).reshape(3, 4)
    f = mg.tensor(a, device=device).flip(0)
    np.testing.assert_array_equal(f.diagonal(-1).numpy(), np.diagonal(a[::-1], -1))


def test_view_and_contiguous_of_the_views(device):
    x = mg.arange(12.0, device=device).reshape(3, 4)
    w = x.unfold(1, 2, 2)  # (3, 2, 2): rows of x, contiguous per window pair
    w.view(3, 4)[0, 0] = 100.0
    assert x[0, 0].item() == 100.0
    d = x.diagonal()
    assert not d.is_contiguous() and d.contiguous().is_contiguous()
    assert d.stride() == (5,) and w.stride() == (4, 2, 1)
    assert x.as_strided((2, 2), (1, 2), 3).stride() == (1, 2)


# ---------------------------------------------------------------- the version counter is shared
SAVING_VIEWS = [
    ("diagonal", lambda t: t.diagonal()),
    ("unbind", lambda t: t.unbind(1)[0]),
    ("unfold", lambda t: t.unfold(0, 2, 2)),
    ("as_strided", lambda t: t.as_strided((2,), (2,))),
]


@pytest.mark.parametrize("name,view_fn", SAVING_VIEWS)
def test_a_write_through_the_view_is_seen_by_an_op_that_saved_x(device, name, view_fn):
    """w * x saved x; x changes through the view (x needs no grad, so the write goes through): backward refuses."""
    for lib, dev in ((mg, device), (torch, "cpu")):
        w = lib.ones(3, 3, dtype=lib.float64, device=dev, requires_grad=True)
        x = lib.arange(9.0, dtype=lib.float64, device=dev).reshape(3, 3)
        loss = (w * x).sum()
        view_fn(x).fill_(0.0)
        with pytest.raises(RuntimeError, match="modified|inplace|in place"):
            loss.backward()


@pytest.mark.parametrize("name,view_fn", SAVING_VIEWS)
def test_a_write_under_no_grad_through_a_view_of_a_parameter(device, name, view_fn):
    """As torch: allowed under no_grad (an optimizer-style update), seen by the graph made before it."""
    results = []
    for lib, dev in ((mg, device), (torch, "cpu")):
        w = lib.tensor(np.arange(9.0).reshape(3, 3), dtype=lib.float64, device=dev, requires_grad=True)
        loss = (w * w).sum()
        with lib.no_grad():
            view_fn(w).mul_(2.0)
        results.append(w.detach().numpy().copy())
        with pytest.raises(RuntimeError, match="modified|inplace|in place"):
            loss.backward()
        (w * 1.0).sum().backward()  # a new graph is fine
        results.append(w.grad.numpy().copy())
    np.testing.assert_array_equal(results[0], results[2])
    np.testing.assert_array_equal(results[1], results[3])


# ---------------------------------------------------------------- in-place writes in a graph: README's rule
@pytest.mark.parametrize("name,view_fn", SAVING_VIEWS)
def test_writes_through_views_in_a_graph(device, name, view_fn):
    # a view of a leaf that requires grad: refused, as torch
    a = mg.ones(3, 3, dtype=mg.float64, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="view|leaf"):
        view_fn(a).fill_(1.0)
    ta = torch.ones(3, 3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf" if name != "unbind" else "multiple views"):
        view_fn(ta).fill_(1.0)
    # a view of a non-leaf: recorded as a write into it, as torch (CopySlices); refused for unbind's outputs, as torch
    y, ty = a * 2.0, ta * 2.0
    if name == "unbind":
        with pytest.raises(RuntimeError, match="several views"):
            view_fn(y).fill_(1.0)
        with pytest.raises(RuntimeError, match="multiple views"):
            view_fn(ty).fill_(1.0)
        assert (y.detach().numpy() == 2.0).all() and y._version == 0
    else:
        view_fn(y).fill_(1.0)
        view_fn(ty).fill_(1.0)
        (y * y).sum().backward()
        (ty * ty).sum().backward()
        np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
        np.testing.assert_array_equal(a.grad.numpy(), ta.grad.numpy())
    # a plain tensor receiving a value that requires grad through a view: refused (see README)
    x = mg.zeros(3, 3, dtype=mg.float64, device=device)
    v = view_fn(x)
    with pytest.raises(RuntimeError, match="view"):
        v.copy_(mg.ones(v.shape, dtype=mg.float64, device=device, requires_grad=True))
    assert (x.numpy() == 0.0).all()


def test_unbind_outputs_and_their_base_follow_torch_in_a_graph(device):
    for lib, dev in ((mg, device), (torch, "cpu")):
        a = lib.ones(2, 3, dtype=lib.float64, device=dev, requires_grad=True)
        x = a * 1.0
        u = x.unbind()
        with pytest.raises(RuntimeError, match="view|multi"):  # torch: a multi-output view
            u[0].mul_(2.0)
        x.mul_(2.0)  # the base changes after unbind: using its views is refused (torch), not silently wrong
        with pytest.raises(RuntimeError, match="multi|unbind|Unbind"):
            (u[0] * 1.0).sum().backward()


def test_overlapping_windows_refuse_order_dependent_writes(device):
    """torch visits overlapping elements one after another (x.unfold(0, 2, 1).add_(1) adds 2 to the shared
    ones, mul_ multiplies twice); minigrad computes then writes once, so it refuses instead of differing."""
    x = mg.arange(4.0, device=device)
    for v in (x.unfold(0, 2, 1), x.as_strided((2, 2), (1, 1))):
        for op in (lambda t: t.add_(1.0), lambda t: t.mul_(2.0), lambda t: t.copy_(mg.ones(t.shape, device=device)),
                   lambda t: t.__setitem__(0, 5.0)):
            with pytest.raises(RuntimeError, match="same memory location"):
                op(v)
    assert x.tolist() == [0.0, 1.0, 2.0, 3.0] and x._version == 0
    x.unfold(0, 2, 1).zero_()
    assert x.tolist() == [0.0] * 4


# ---------------------------------------------------------------- gradients
GRAD_CASES = [
    ("diagonal", (3, 4), lambda t: t.diagonal(1)),
    ("diagonal", (3, 2, 4), lambda t: t.diagonal(-1, -1, 0)),
    ("diagonal", (2, 3, 4), lambda t: t.transpose(0, 2).diagonal(0, 1, 2)),
    ("diagonal", (2, 3), lambda t: t.diagonal(5)),
    ("unbind", (3, 4), lambda t: t.unbind(0)[1] * 2.0 + t.unbind(0)[2]),
    ("unbind", (2, 3, 4), lambda t: t.transpose(0, 1).unbind(-1)[3]),
    ("unfold", (7,), lambda t: t.unfold(0, 3, 1)),  # overlapping windows
    ("unfold", (2, 6, 3), lambda t: t.unfold(1, 4, 2)),
    ("unfold", (3, 5), lambda t: t.t().unfold(-1, 2, 3)),
    ("unfold", (4,), lambda t: t.unfold(0, 0, 1)),
    ("as_strided", (9,), lambda t: t.as_strided((3, 3), (1, 1))),  # overlapping
    ("as_strided", (3, 4), lambda t: t.as_strided((2, 3), (4, 1), 2)),
    ("as_strided", (3, 4), lambda t: t.as_strided((2, 2, 2), (0, 5, 1), 1)),
]


@pytest.mark.parametrize("name,shape,fn", GRAD_CASES)
def test_gradients_match_finite_differences_and_torch(device, name, shape, fn):
    rng = np.random.default_rng(len(shape))
    a = rng.standard_normal(shape)
    x = mg.tensor(a, dtype=mg.float64, device=device, requires_grad=True)
    assert gradcheck(fn, x)
    y = fn(x)
    g = rng.standard_normal(tuple(y.shape))
    (y * mg.tensor(g, device=device)).sum().backward()
    tx = torch.tensor(a, requires_grad=True)
    ty = fn(tx)
    (ty * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert x.grad.dtype == mg.float64 and x.grad.shape == x.shape


@given(st.data())
def test_diagonal_and_unfold_gradients_property(device, data):
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=2, max_size=3)))
    make = data.draw(st.sampled_from([diagonal_case, unbind_case, lambda s: unfold_case(s, overlapping=True)]))
    fn = data.draw(make(shape))
    a = np.random.default_rng(data.draw(st.integers(0, 99))).standard_normal(shape)
    x = mg.tensor(a, dtype=mg.float64, device=device, requires_grad=True)
    assert gradcheck(fn, x)


def test_unbind_is_one_node_whose_backward_stacks(device):
    x = mg.ones(5, 3, device=device, requires_grad=True)
    parts = x.unbind(0)
    assert len({id(p.grad_fn) for p in parts}) == 1
    (parts[0] * 1.0 + parts[4] * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1] * 3, [0] * 3, [0] * 3, [0] * 3, [3] * 3])
    assert x.grad.dtype == mg.float32


def test_float32_stays_float32(device):
    x = mg.ones(3, 4, device=device, requires_grad=True)
    for fn in (lambda t: t.diagonal(), lambda t: t.unbind(1)[0], lambda t: t.unfold(1, 2, 1),
               lambda t: t.as_strided((2, 2), (1, 1))):
        y = fn(x)
        assert y.dtype == mg.float32
        x.grad = None
        y.sum().backward()
        assert x.grad.dtype == mg.float32


def test_as_strided_still_refuses_what_it_cannot_express(device):
    x = mg.arange(6.0, device=device).reshape(2, 3)
    with pytest.raises(RuntimeError, match="contiguous tensors only"):
        x.t().as_strided((2,), (1,))
    with pytest.raises(RuntimeError, match="view starting inside a larger tensor"):
        x.unbind(0)[1].as_strided((1,), (1,), 0)
    with pytest.raises(ValueError, match="outside the 6 elements"):
        x.as_strided((2, 2), (3, 1), 2)
    assert x.as_strided((0, 5), (1, 1), 40).shape == (0, 5)  # reads nothing, as torch allows


def test_diag_of_a_matrix_is_a_copy_as_torch(device):
    """torch.diag (unlike x.diagonal() and torch.linalg.diagonal) returns new memory."""
    for lib, dev in ((mg, device), (torch, "cpu")):
        x = lib.zeros(3, 3, device=dev)
        lib.diag(x).fill_(1.0)
        lib.linalg.diagonal(x, offset=1).fill_(2.0)
        assert x.sum().item() == 4.0
