"""Indexing that mixes integers with index arrays follows torch's order, not NumPy's.

NumPy counts an integer next to index arrays as one more index array: for x of shape (2, 3, 4),
`x[0, :, [0, 1]]` broadcasts (0, [0, 1]) to (2,) and, the two being apart, puts that dim first:
(2, 3). torch selects the integers first (a view) and only then applies the index arrays: (3, 2).
A 0-d integer tensor index counts as an integer in torch (a select, so `x[torch.tensor(0)]` is a
view). Checked against torch: values, shapes and gradients of reads; values of writes into plain
tensors and of writes recorded in a graph (into a non-leaf), with their gradients; over generated
index tuples mixing integers (negative too), slices, None, ..., integer lists and tensors (0-d
too), boolean masks (0-d too) on small shapes; plus the explicit cases.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg

torch = pytest.importorskip("torch")


# ------------------------------------------------------------------ the generated index
@st.composite
def index_cases(draw):
    """(shape, spec): x's shape (<= 4 dims, sides <= 4) and an index as a list of (kind, payload) entries,
    built into each library's objects by `_build`. Index arrays broadcast together (at most one mask)."""
    mixed = draw(st.booleans())  # (half the cases: 3 or 4 dims, an entry for each, more integers and index arrays)
    ndim = draw(st.integers(3 if mixed else 1, 4))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    spec, d, have_ellipsis, count = [], 0, False, None
    arrays = []  # positions in spec of index arrays still to be given a shape
    while True:
        if len(spec) < 8 and draw(st.integers(0, 5)) == 5:  # an entry that covers no dim
            spec.append(draw(st.sampled_from([("none", None), ("bool0", True), ("bool0", False),
                                              ("tbool0", True), ("tbool0", False)])))
            continue
        if d >= ndim or (not mixed and draw(st.integers(0, 6)) == 6):
            break
        kinds = ["int", "int", "slice", "array", "array", "tint0"] + (["int", "array"] if mixed else [])
        if not have_ellipsis:
            kinds.append("ellipsis")
        if count is None:
            kinds.append("mask")
        kind = draw(st.sampled_from(kinds))
        size = shape[d]
        if kind == "int":
            spec.append(("int", draw(st.integers(-size, size - 1))))
            d += 1
        elif kind == "tint0":
            spec.append(("tint0", draw(st.integers(-size, size - 1))))
            d += 1
        elif kind == "slice":
            bound = st.none() | st.integers(-5, 5)
            spec.append(("slice", slice(draw(bound), draw(bound), draw(st.none() | st.integers(1, 3)))))
            d += 1
        elif kind == "ellipsis":
            have_ellipsis = True
            spec.append(("ellipsis", None))
            d += draw(st.integers(0, ndim - d))
        elif kind == "mask":
            k = draw(st.integers(1, min(2, ndim - d)))
            mask = np.array(draw(st.lists(st.booleans(), min_size=int(np.prod(shape[d:d + k])),
                                          max_size=int(np.prod(shape[d:d + k]))))).reshape(shape[d:d + k])
            spec.append((draw(st.sampled_from(["mask", "mask", "masklist"])) if k == 1 else "mask", mask))
            count = int(mask.sum())
            d += k
        else:
            arrays.append((len(spec), size))
            spec.append(None)
            d += 1
    if arrays:  # one broadcast shape for all index arrays (a mask's count included)
        if count is None:
            common = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)))
        else:
            common = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=1))) + \
                (draw(st.sampled_from([count, 1])),)
        for k, size in arrays:
            own = tuple(n if draw(st.booleans()) else 1 for n in common)[draw(st.integers(0, len(common) - 1)):]
            values = np.array(draw(st.lists(st.integers(-size, size - 1), min_size=int(np.prod(own)),
                                            max_size=int(np.prod(own))))).reshape(own).astype(np.int64)
            spec[k] = (draw(st.sampled_from(["list", "tensor"])) if values.size else "tensor", values)
    return shape, spec


def _build(spec, lib, device="cpu"):
    """The index tuple for `lib` (mg or torch) from a spec."""
    out = []
    for kind, p in spec:
        if kind in ("int", "slice", "bool0"):
            out.append(p)
        elif kind == "none":
            out.append(None)
        elif kind == "ellipsis":
            out.append(Ellipsis)
        elif kind in ("list", "masklist"):
            out.append(p.tolist())
        elif lib is torch:  # tensors: int64 positions, bool masks, 0-d ints and bools
            out.append(torch.tensor(p))
        else:
            out.append(mg.tensor(np.asarray(p), device=device))
    return tuple(out)


def _torch_or_none(fn):
    """fn()'s result, or None where torch refuses the index (then minigrad must refuse it too)."""
    try:
        return fn()
    except (IndexError, RuntimeError, ValueError):
        return None


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t.cpu().numpy()


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _refused(fn):
    with pytest.raises((IndexError, ValueError, RuntimeError)):
        fn()


# ------------------------------------------------------------------ reads
def _check_read(device, a, mg_index, t_index):
    xt = torch.tensor(a, requires_grad=True)
    yt = _torch_or_none(lambda: xt[t_index])
    x = mg.tensor(a, device=device, requires_grad=True)
    if yt is None:
        _refused(lambda: x[mg_index])
        return
    y = x[mg_index]
    assert tuple(y.shape) == tuple(yt.shape), (t_index, y.shape, yt.shape)
    np.testing.assert_array_equal(_np(y), _np(yt))
    w = np.random.default_rng(1).standard_normal(tuple(yt.shape)).astype(np.float32)
    (yt * torch.tensor(w)).sum().backward()
    (y * mg.tensor(w, device=device)).sum().backward()
    assert x.grad.dtype == x.dtype and x.grad.shape == x.shape
    np.testing.assert_allclose(_np(x.grad), _np(xt.grad), rtol=1e-6, atol=1e-6)


@given(index_cases())
def test_read_matches_torch(device, case):
    shape, spec = case
    _check_read(device, _x(shape), _build(spec, mg, device), _build(spec, torch))


# ------------------------------------------------------------------ writes
def _values(a, t_index):
    """Values of torch's result shape to write: another tensor read at the same index (so a position
    written twice gets the same value either way), or None where torch refuses the index."""
    src = torch.tensor(_x(a.shape, seed=2))
    return _torch_or_none(lambda: src[t_index].numpy().copy())


def _unique_positions(shape, t_index) -> bool:
    pos = torch.arange(int(np.prod(shape))).reshape(shape)[t_index]
    return pos.unique().numel() == pos.numel()


@given(index_cases())
def test_write_matches_torch(device, case):
    shape, spec = case
    a, t_index, mg_index = _x(shape), _build(spec, torch), _build(spec, mg, device)
    v = _values(a, t_index)
    if v is None:
        x = mg.tensor(a, device=device)
        _refused(lambda: x.__setitem__(mg_index, 0.5))
        return
    writes = [v, 0.5]  # the full result shape, a scalar
    if v.size and v.ndim and _unique_positions(shape, t_index):  # broadcast from the last dim (each place once)
        writes.append(v[(0,) * (v.ndim - 1)].copy())
    for value in writes:
        xt = torch.tensor(a)
        xt[t_index] = torch.tensor(value) if isinstance(value, np.ndarray) else value
        x = mg.tensor(a, device=device)
        x[mg_index] = mg.tensor(value, device=device) if isinstance(value, np.ndarray) else value
        np.testing.assert_array_equal(_np(x), _np(xt))


@given(index_cases())
def test_recorded_write_matches_torch(device, case):
    """h = x * 2 (a non-leaf); h[index] = v with v requiring grad: recorded in the graph (values and grads)."""
    shape, spec = case
    a, t_index, mg_index = _x(shape), _build(spec, torch), _build(spec, mg, device)
    v = _values(a, t_index)
    if v is None:
        return  # (refusals: test_write_matches_torch)
    w = _x(shape, seed=3)
    xt, vt = torch.tensor(a, requires_grad=True), torch.tensor(v, requires_grad=True)
    ht = xt * 2
    ht[t_index] = vt
    (ht * torch.tensor(w)).sum().backward()
    x, vm = mg.tensor(a, device=device, requires_grad=True), mg.tensor(v, device=device, requires_grad=True)
    h = x * 2
    h[mg_index] = vm
    assert h.grad_fn is not None
    np.testing.assert_array_equal(_np(h), _np(ht))
    (h * mg.tensor(w, device=device)).sum().backward()
    np.testing.assert_allclose(_np(x.grad), _np(xt.grad), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(_np(vm.grad), _np(vt.grad), rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------ explicit cases
MIXED = [  # (index spec) on x of shape (2, 3, 4); the first is the reported bug
    [("int", 0), ("slice", slice(None)), ("list", np.array([0, 1]))],
    [("tint0", 0), ("slice", slice(None)), ("list", np.array([0, 1]))],
    [("list", np.array([0, 1])), ("slice", slice(None)), ("int", -1)],
    [("int", -2), ("slice", slice(1, None)), ("tensor", np.array([[3], [0]]))],
    [("none", None), ("int", 1), ("none", None), ("tensor", np.array([2, 0]))],
    [("ellipsis", None), ("int", 0), ("list", np.array([1, 2]))],
    [("int", 1), ("ellipsis", None), ("list", np.array([0, 3]))],
    [("bool0", True), ("int", 0), ("slice", slice(None)), ("list", np.array([1, 2]))],
    [("tbool0", True), ("int", 1), ("slice", slice(None)), ("list", np.array([1, 2]))],
    [("int", 0), ("slice", slice(None)), ("mask", np.array([True, False, True, True]))],
    [("mask", np.array([False, True])), ("slice", slice(None)), ("int", 2)],
    [("int", 0), ("tint0", 2)],
    [("tint0", 1), ("slice", slice(None)), ("tint0", -1)],
    # no integers, but an empty `...` between index arrays: NumPy parts them (dims first), torch does not
    [("slice", slice(None)), ("list", np.array([0])), ("ellipsis", None), ("list", np.array([0]))],
]


@pytest.mark.parametrize("spec", MIXED, ids=range(len(MIXED)))
def test_mixed_cases(device, spec):
    a = _x((2, 3, 4))
    _check_read(device, a, _build(spec, mg, device), _build(spec, torch))
    test_write_matches_torch.hypothesis.inner_test(device, ((2, 3, 4), spec))
    test_recorded_write_matches_torch.hypothesis.inner_test(device, ((2, 3, 4), spec))


def test_reported_shapes(device):
    x = mg.tensor(_x((2, 3, 4)), device=device)
    assert x[0, :, [0, 1]].shape == (3, 2)
    assert x[mg.tensor(0), :, [0, 1]].shape == (3, 2)  # a 0-d integer tensor is an integer (torch 2.13 too)
    assert x[mg.tensor([0]), :, [0, 1]].shape == (2, 3)  # a 1-d one is an index array: NumPy's rule, as torch
    assert x[[0, 1], :, 0].shape == (2, 3)
    assert x[:, [0], ..., [0]].shape == (2, 1)  # (NumPy: (1, 2))
    assert torch.zeros(2, 3, 4)[torch.tensor(0), :, [0, 1]].shape == (3, 2)  # (the torch behaviour pinned)


def test_recorded_write_through_a_view_of_a_non_leaf(device):
    """hv = h[1:] (h a non-leaf); hv[0, :, [0, 1, 2]] = v is recorded as a write into h: values and grads as torch."""
    a, v, w = _x((3, 2, 4)), _x((2, 3), seed=1), _x((2, 2, 4), seed=2)
    out = []
    for lib, make in ((torch, torch.tensor), (mg, lambda d: mg.tensor(d, device=device))):
        x, vv = make(a).requires_grad_(), make(v).requires_grad_()
        h = x * 2
        hv = h[1:]
        hv[0, :, [0, 1, 2]] = vv
        (hv * make(w)).sum().backward()
        out.append((h, hv, x.grad, vv.grad))
    for want, got in zip(*out):
        np.testing.assert_allclose(_np(got), _np(want), rtol=1e-6, atol=1e-6)


def test_0d_integer_tensor_selects_a_view(device):
    """x[torch.tensor(i)] is a view, as torch's: a write through it reaches x."""
    a = _x((2, 3, 4))
    x = mg.tensor(a, device=device)
    y = x[mg.tensor(1)]
    y[0, 0] = 7.0
    assert float(x[1, 0, 0].item()) == 7.0
    xt = torch.tensor(a)
    yt = xt[torch.tensor(1)]
    yt[0, 0] = 7.0
    np.testing.assert_array_equal(_np(x), _np(xt))


def test_write_broadcasts_to_torch_shape(device):
    """x[0, :, [0, 1]] = v takes v of torch's shape (3, 2) or one broadcasting to it; NumPy's (2, 3) is refused."""
    a = _x((2, 3, 4))
    xt, x = torch.tensor(a), mg.tensor(a, device=device)
    v = np.arange(6, dtype=np.float32).reshape(3, 2)
    xt[0, :, [0, 1]] = torch.tensor(v)
    x[0, :, [0, 1]] = mg.tensor(v, device=device)
    np.testing.assert_array_equal(_np(x), _np(xt))
    xt[1, :, [2, 3]] = torch.tensor([5.0, 6.0])
    x[1, :, [2, 3]] = mg.tensor([5.0, 6.0], device=device)
    np.testing.assert_array_equal(_np(x), _np(xt))
    with pytest.raises(ValueError, match="__setitem__"):
        x[0, :, [0, 1]] = mg.tensor(np.zeros((2, 3), np.float32), device=device)


def test_index_put_unchanged(device):
    """index_put takes tensors only (every one an index array, 0-d ones included), as torch."""
    a = _x((2, 3, 4))
    idx = (np.array(1), np.array([0, 2]))
    vals = np.ones((2, 4), np.float32)
    want = torch.tensor(a).index_put(tuple(torch.tensor(i) for i in idx), torch.tensor(vals))
    got = mg.tensor(a, device=device).index_put(tuple(mg.tensor(i, device=device) for i in idx),
                                                mg.tensor(vals, device=device))
    np.testing.assert_array_equal(_np(got), _np(want))
