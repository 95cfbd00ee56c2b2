"""Gaps closed in audit 10, each against torch 2.13:

1. In-place writes of another dtype (`x[i] = y64` into float32 x, `x.copy_(y64)`, `x.add_(y64)`,
   `x.fill_(y64)`, `x.pow_(y64)`, ...): torch computes in the promoted dtype and casts the result to
   x's, also when x is in a recorded graph (a non-leaf, a view of one, or a plain tensor receiving a
   value that requires grad); the float64 source gets a float64 gradient. Where torch refuses (an
   integer x with a float result; index_put_ with index tensors, except one boolean mask and a
   one-element value) minigrad refuses too. Out of place, float32 with float64 stays a TypeError
   (minigrad's no-silent-upcast rule).
2. 0-d boolean and uint8 index tensors in `index_put_` / `index_put` / `x[i] = v` / `x[i]`: a dim of
   size 1 (True) or 0 (False) where the mask stands; uint8 is a mask, with torch's deprecation warning.
3. `mg.t`, `movedim`/`moveaxis`, `swapaxes`/`swapdims`, `transpose`, `where` given a raw array
   (torch's `t.data` ported verbatim) or other non-tensors torch refuses: a TypeError naming the op
   and the port. `where` keeps torch's Python-number values.
"""
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.testing import gradcheck

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, (mg.Tensor, torch.Tensor)) else np.asarray(t)


def _dt(L, name):
    return getattr(L, name)


def _same(ours, theirs, exact=False, rtol=None):
    """Same dtypes, shapes and values (float64 sources: float64 gradients, float32 x: float32 values)."""
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        a, b = _np(a), _np(b)
        assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
        if exact:
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=rtol or (2e-6 if a.dtype != np.float16 else 1e-3), atol=0)


# ---------------------------------------------------------------- 1. in-place writes of another dtype
# Each write gets x (3, 4) of dtype xd and y of dtype yd (the shape the write wants) and writes y into x.
_WRITES = {
    "x[0] = y": ((4,), lambda x, y, L: x.__setitem__(0, y)),
    "x[0] = y (1,)": ((1,), lambda x, y, L: x.__setitem__(0, y)),  # leading 1s dropped, as torch
    "x[1:, ::2] = y": ((2, 2), lambda x, y, L: x.__setitem__((slice(1, None), slice(None, None, 2)), y)),
    "x[:, 1] = y": ((3,), lambda x, y, L: x.__setitem__((slice(None), 1), y)),
    "x[0d int] = y": ((4,), lambda x, y, L: x.__setitem__(L.tensor(2), y)),
    "x[None, 1] = y": ((4,), lambda x, y, L: x.__setitem__((None, 1), y)),
    "x[True] = y": ((4,), lambda x, y, L: x.__setitem__(True, y)),
    "x[...] = y": ((3, 4), lambda x, y, L: x.__setitem__(Ellipsis, y)),
    "x[mask] = y0d": ((), lambda x, y, L: x.__setitem__(x > 0.3, y)),  # torch: masked_fill_, which casts
    "x[1, mask] = y0d": ((), lambda x, y, L: x.__setitem__((1, L.tensor([True, False, True, True])), y)),
    "copy_": ((3, 4), lambda x, y, L: x.copy_(y)),
    "copy_ broadcast": ((4,), lambda x, y, L: x.copy_(y)),
    "fill_": ((), lambda x, y, L: x.fill_(y)),
    "masked_fill_": ((), lambda x, y, L: x.masked_fill_(x > 0.3, y)),
    "index_put_ mask 0d": ((), lambda x, y, L: x.index_put_((x > 0.3,), y)),
    "add_": ((3, 4), lambda x, y, L: x.add_(y)),
    "add_ alpha": ((4,), lambda x, y, L: x.add_(y, alpha=-2)),
    "sub_": ((3, 4), lambda x, y, L: x.sub_(y)),
    "mul_": ((3, 1), lambda x, y, L: x.mul_(y)),
    "div_": ((3, 4), lambda x, y, L: x.div_(y)),
    "pow_": ((3, 4), lambda x, y, L: x.pow_(y)),
    "clamp_": ((4,), lambda x, y, L: x.clamp_(min=y)),
    "addcmul_": ((3, 4), lambda x, y, L: x.addcmul_(y, y, value=0.5)),
    "atan2_": ((3, 4), lambda x, y, L: x.atan2_(y)),
}
_CPU_VALUE_ONLY = ("x[mask] = y0d", "x[1, mask] = y0d", "index_put_ mask 0d")
# how x is set up: in a recorded graph or not
_MODES = ("non-leaf", "view of a non-leaf", "plain x, y requires grad", "no graph", "leaf under no_grad")


def _write(L, key, mode, xd, yd, device="cpu"):
    """Run write `key` in library L; returns the values and gradients torch's test compares."""
    shape, fn = _WRITES[key]
    kw = {"device": device} if L is mg else {}
    rng = np.random.default_rng(3)
    x0 = rng.uniform(0.2, 1.5, (3, 4))
    y0 = rng.uniform(0.2, 1.5, shape)
    grad_y = mode in ("non-leaf", "view of a non-leaf", "plain x, y requires grad")
    y = L.tensor(y0, dtype=_dt(L, yd), requires_grad=grad_y, **kw)
    a = L.tensor(x0, dtype=_dt(L, xd), requires_grad=mode in ("non-leaf", "view of a non-leaf",
                                                               "leaf under no_grad"), **kw)
    if mode == "non-leaf":
        x = a * 1.0
        fn(x, y, L)
        out = [x]
    elif mode == "view of a non-leaf":
        base = L.stack([a, a * 2.0])  # x is base[1]: the write goes through the view (CopySlices)
        x = base[1]
        fn(x, y, L)
        out = [x, base]
    elif mode == "plain x, y requires grad":
        x = a.clone()
        fn(x, y, L)
        out = [x]
    elif mode == "no graph":
        x = a.clone()
        fn(x, y, L)
        return [x]
    else:
        with L.no_grad():
            fn(a, y, L)
        return [a]
    w = L.tensor(rng.standard_normal(tuple(out[-1].shape)), dtype=out[-1].dtype, **kw)
    (out[-1] * w).sum().backward()
    if a.requires_grad:
        out.append(a.grad)
    out.append(y.grad)
    return out


@pytest.mark.parametrize("mode", _MODES)
@pytest.mark.parametrize("key", list(_WRITES))
def test_write_of_float64_into_float32_matches_torch(key, mode, device):
    if device != "cpu" and key in _CPU_VALUE_ONLY:
        # torch hands a bool mask with a one-element value to masked_fill_ (which casts) only when the value is on
        # the CPU; a value on the GPU goes to index_put_, which refuses another dtype: so does minigrad
        with pytest.raises(TypeError, match="dtype"):
            _write(mg, key, mode, "float32", "float64", device)
        return
    ours, theirs = _write(mg, key, mode, "float32", "float64", device), _write(torch, key, mode, "float32", "float64")
    _same(ours, theirs)
    assert _np(ours[0]).dtype == np.float32  # x keeps its dtype
    if mode not in ("no graph", "leaf under no_grad"):
        assert _np(ours[-1]).dtype == np.float64  # the float64 source gets a float64 gradient


@pytest.mark.parametrize("mode", ["non-leaf", "plain x, y requires grad", "no graph"])
@pytest.mark.parametrize("key", ["x[0] = y", "copy_", "fill_", "add_", "mul_", "pow_", "x[mask] = y0d"])
@pytest.mark.parametrize("xd,yd", [("float64", "float32"), ("float16", "float32"), ("float32", "float16")])
def test_write_between_other_float_dtypes_matches_torch(key, mode, xd, yd):
    # torch's backward formulas run in the saved tensors' dtypes, so with a float16 x the float32 y's gradient
    # has float16 precision there (minigrad's is computed in float32): compared at float16's precision
    _same(_write(mg, key, mode, xd, yd), _write(torch, key, mode, xd, yd),
          rtol=2e-3 if "float16" in (xd, yd) else None)


def test_inplace_add_computes_in_the_promoted_dtype():
    """x32.add_(y64) adds in float64 and rounds once (torch); casting y to float32 first would round twice."""
    y = 2.0 ** -24 + 2.0 ** -50  # rounds to 2**-24 in float32, and 1 + 2**-24 ties to 1.0 there
    for L in (mg, torch):
        x = L.ones(1)
        x.add_(L.tensor([y], dtype=L.float64))
        assert x.item() == 1.0 + 2.0 ** -23 and x.dtype == L.float32
        a = L.ones(1, requires_grad=True)
        z = a * 1.0
        z.add_(L.tensor([y], dtype=L.float64, requires_grad=True))  # recorded: the same values
        assert z.item() == 1.0 + 2.0 ** -23 and z.dtype == L.float32


def test_write_into_an_integer_tensor_casts_or_refuses_as_torch():
    for L in (mg, torch):
        y = L.tensor([1.7, -2.5, 3.2], dtype=L.float64, requires_grad=True)
        x = L.zeros(3, dtype=L.int64)
        x[0] = y[1]  # copy_ truncates toward zero; an integer tensor never joins a graph
        x[1:] = y[1:]
        assert x.tolist() == [-2, -2, 3] and not x.requires_grad
        x.copy_(y)
        assert x.tolist() == [1, -2, 3] and not x.requires_grad
        b = L.zeros(3, dtype=L.bool)
        b.copy_(L.tensor([0.5, 0.0, -1.0]))
        assert b.tolist() == [True, False, True]
    for call in (lambda L: L.zeros(3, dtype=L.int64).add_(L.tensor([1.5, 2.0, 3.0], dtype=L.float64)),
                 lambda L: L.zeros(3, dtype=L.int64).add_(1.5),
                 lambda L: L.zeros(3, dtype=L.int64).mul_(L.tensor([1.5, 2.0, 3.0], requires_grad=True)),
                 lambda L: L.zeros(3, dtype=L.int64).pow_(0.5)):
        with pytest.raises(RuntimeError, match="can't be cast to the desired output type"):
            call(torch)
        with pytest.raises((RuntimeError, TypeError), match="can't be cast to the desired output type int64"):
            call(mg)


_REFUSED = {  # torch's index_put_ wants one dtype (except one bool mask with a one-element value)
    "x[[0, 2]] = y": lambda x, y, L: x.__setitem__(L.tensor([0, 2]), y.expand(2, 4)),
    "x[mask] = row": lambda x, y, L: x.__setitem__(L.tensor([True, False, True]), y),
    "x[[0, 1], mask] = y0d": lambda x, y, L: x.__setitem__((L.tensor([0, 1]), L.tensor([True, False, True, False])),
                                                            y[0]),
    "x[0d True] = y0d": lambda x, y, L: x.__setitem__(L.tensor(True), y[0]),
    "x[[0]] = y int": lambda x, y, L: x.__setitem__(L.tensor([0]), y.to(L.int64)),
    "index_put_ [0, 2]": lambda x, y, L: x.index_put_((L.tensor([0, 2]),), y),
    "index_put_ mask accumulate": lambda x, y, L: x.index_put_((L.tensor([True, False, True]),), y[0],
                                                               accumulate=True),
    "index_put mask row": lambda x, y, L: x.index_put((L.tensor([True, False, True]),), y),
    "masked_scatter_": lambda x, y, L: x.masked_scatter_(L.tensor([True, False, True])[:, None], y.expand(3, 4)),
    "index_copy_": lambda x, y, L: x.index_copy_(0, L.tensor([1]), y[None]),
    "lerp_": lambda x, y, L: x.lerp_(y, 0.5),
}


@pytest.mark.parametrize("record", [False, True])
@pytest.mark.parametrize("key", list(_REFUSED))
def test_writes_torch_refuses_are_refused(key, record):
    for L in (torch, mg):
        a = L.zeros(3, 4, requires_grad=record)
        x = a * 1.0 if record else a
        y = L.tensor([1.0, 2.0, 3.0, 4.0], dtype=L.float64, requires_grad=record)
        with pytest.raises((RuntimeError, TypeError)) as e:
            _REFUSED[key](x, y, L)
        if L is mg:
            assert "dtype" in str(e.value)  # the message names the problem


def test_out_of_place_mixing_stays_a_type_error():
    """README: float32 with float64 out of place is a TypeError (torch upcasts; minigrad never silently)."""
    x, y = mg.ones(3), mg.ones(3, dtype=mg.float64)
    for call in (lambda: x + y, lambda: x.add(y), lambda: mg.mul(x, y), lambda: x.pow(y), lambda: x.clamp(min=y),
                 lambda: x.addcmul(y, y), lambda: x.atan2(y)):
        with pytest.raises(TypeError, match="dtype mismatch"):
            call()
    x.add_(y)  # ... while in place, torch's rule: cast to x's dtype
    assert x.dtype == mg.float32 and x.tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(TypeError, match="dtype mismatch"):
        x + y  # (the in-place promotion does not leak out)


def test_float64_source_gradient_through_a_float32_write_is_the_cast_gradient(device):
    """dL/dy64 is dL/dx32 cast back to float64, as torch (checked against the float64-everywhere gradient)."""
    y = mg.tensor([0.3, -1.2, 2.5], dtype=mg.float64, device=device, requires_grad=True)
    a = mg.ones(2, 3, device=device, requires_grad=True)
    x = a * 2.0
    x[1] = y
    x.mul_(y)  # float32 x times float64 y, in place
    (x * x).sum().backward()
    # x[0] = 2 y, x[1] = y * y: d/dy sum(x**2) = 8 y + 4 y**3, computed in float32 along the way
    want = 8 * y.detach().numpy() + 4 * y.detach().numpy() ** 3
    assert y.grad.dtype == mg.float64 and a.grad.dtype == mg.float32
    np.testing.assert_allclose(_np(y.grad), want, rtol=1e-6)
    np.testing.assert_allclose(_np(a.grad), np.tile(8 * _np(y.detach()) ** 2, (2, 1)) * [[1], [0]], rtol=1e-6)


# ---------------------------------------------------------------- 2. 0-d bool and uint8 index tensors
def _T(L, **kw):
    return L.tensor(True, **kw)


def _F(L, **kw):
    return L.tensor(False, **kw)


def _U(L, v, **kw):
    return L.tensor(v, dtype=L.uint8, **kw)


_GETS = {  # x has shape (2, 3)
    "[U1]": lambda x, L: x[_U(L, 1)],
    "[U0]": lambda x, L: x[_U(L, 0)],
    "[0, U1]": lambda x, L: x[0, _U(L, 1)],
    "[U1, [1, 0]]": lambda x, L: x[_U(L, 1), [1, 0]],
    "[..., U0]": lambda x, L: x[..., _U(L, 0)],
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", list(_GETS))
def test_0d_uint8_getitem_matches_torch(case, dtype, device):
    x0 = np.random.default_rng(0).standard_normal((2, 3))
    out = []
    for L, kw in ((mg, {"device": device}), (torch, {})):
        x = L.tensor(x0, dtype=_dt(L, dtype), requires_grad=True, **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # torch does not warn for a 0-d uint8 index (a Python bool to it)
            y = _GETS[case](x, L)
        (y * L.arange(float(y.numel()), dtype=y.dtype, **kw).reshape(tuple(y.shape))).sum().backward()
        out.append([y, x.grad])
    _same(*out, exact=True)


_PUTS = {  # (indices, value shape, accumulate); x has shape (2, 3)
    "(T,) 0d": (lambda L, kw: (_T(L, **kw),), (), False),
    "(F,) 0d": (lambda L, kw: (_F(L, **kw),), (), False),
    "(T, [0, 1])": (lambda L, kw: (_T(L, **kw), L.tensor([0, 1], **kw)), (3,), False),
    "([1, 0], T)": (lambda L, kw: (L.tensor([1, 0], **kw), _T(L, **kw)), (2, 3), False),
    "([0], F)": (lambda L, kw: (L.tensor([0], **kw), _F(L, **kw)), (3,), False),
    "(T, [0, 1]) acc": (lambda L, kw: (_T(L, **kw), L.tensor([0, 1], **kw)), (3,), True),
    "([1, 1], T) acc": (lambda L, kw: (L.tensor([1, 1], **kw), _T(L, **kw)), (1, 3), True),  # repeats add up
    "(U1, [0, 1])": (lambda L, kw: (_U(L, 1, **kw), L.tensor([0, 1], **kw)), (3,), False),
    "([0], U0) acc": (lambda L, kw: (L.tensor([0], **kw), _U(L, 0, **kw)), (3,), True),
    "(mask u8,)": (lambda L, kw: (L.tensor([0, 1], dtype=L.uint8, **kw),), (3,), False),
    "(mask u8,) acc": (lambda L, kw: (L.tensor([1, 1], dtype=L.uint8, **kw),), (2, 3), True),
}


def _put(L, key, form, dtype, device="cpu"):
    indices, vshape, acc = _PUTS[key]
    kw = {"device": device} if L is mg else {}
    rng = np.random.default_rng(5)
    a = L.tensor(rng.standard_normal((2, 3)), dtype=_dt(L, dtype), requires_grad=True, **kw)
    v = L.tensor(rng.standard_normal(vshape), dtype=_dt(L, dtype), requires_grad=True, **kw)
    idx = indices(L, kw)
    if L is torch and key in _TORCH_BUGS:
        # torch 2.13's index_put_ mishandles these: the backward trips an internal assert ("ntensor >= 3"), and
        # a 0-d False beside an index tensor writes as if True. Its `y[idx] = v` / `y[idx] += v` means what
        # index_put_ means (as documented) and gets them right: that is the reference here.
        y = a * 1.0
        if acc:
            y[idx] += v
        else:
            y[idx] = v
        (y * L.arange(6.0, dtype=y.dtype, **kw).reshape(2, 3)).sum().backward()
        return [y, a.grad, v.grad]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if form == "in place":
            y = a * 1.0
            y.index_put_(idx, v, accumulate=acc)
        else:
            y = a.index_put(idx, v, accumulate=acc)
    uint8 = any(i.dtype == L.uint8 for i in idx)
    # torch's deprecation warning, for uint8 only
    assert any("uint8" in str(w.message) and "deprecated" in str(w.message) for w in caught) == uint8
    (y * L.arange(6.0, dtype=y.dtype, **kw).reshape(2, 3)).sum().backward()
    return [y, a.grad, v.grad]


_TORCH_BUGS = ("(T,) 0d", "(F,) 0d", "([0], F)", "([0], U0) acc")


def test_torch_index_put_bugs_are_not_copied():
    """Why torch's indexing is the reference above: torch 2.13's index_put_ drops a 0-d mask (row 0 is written
    for ([0], uint8 0) and ([0], False)), and asserts for a lone one with a row; minigrad follows torch's
    indexing (`x[[0], U0] += v` writes nothing)."""
    t = torch.zeros(2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t.index_put_((torch.tensor([0]), torch.tensor(0, dtype=torch.uint8)), torch.ones(3), accumulate=True)
        assert t.sum().item() == 3.0  # torch's bug
        m = mg.zeros(2, 3)
        m.index_put_((mg.tensor([0]), mg.tensor(0, dtype=mg.uint8)), mg.ones(3), accumulate=True)
    assert m.sum().item() == 0.0
    t = torch.zeros(2, 3).index_put_((torch.tensor([0]), torch.tensor(False)), torch.ones(3))
    assert t.sum().item() == 3.0  # torch's bug again: the False mask is dropped
    with pytest.raises(RuntimeError, match="INTERNAL ASSERT"):  # and a lone 0-d mask with a row
        torch.zeros(2, 3).index_put_((torch.tensor(True),), torch.ones(3))
    m = mg.zeros(2, 3).index_put_((mg.tensor([0]), mg.tensor(False)), mg.ones(3))
    assert m.sum().item() == 0.0
    # a False 0-d mask beside an index tensor of 2 positions: shapes (2,) and (0,) do not broadcast (torch's
    # indexing says so too; its index_put_ writes as if the mask were True)
    with pytest.raises(IndexError, match="broadcast"):
        mg.zeros(2, 3).index_put_((mg.tensor([1, 0]), mg.tensor(False)), mg.ones(3))
    with pytest.raises(IndexError, match="broadcast"):
        torch.zeros(2, 3)[torch.tensor([1, 0]), torch.tensor(False)] = torch.ones(3)


@pytest.mark.filterwarnings("ignore:indexing with dtype torch.uint8")  # (torch's backward warns again)
@pytest.mark.parametrize("form", ["in place", "out of place"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("key", list(_PUTS))
def test_index_put_with_0d_and_uint8_masks_matches_torch(key, dtype, form, device):
    _same(_put(mg, key, form, dtype, device), _put(torch, key, form, dtype), exact=True)


@pytest.mark.parametrize("keep", [True, False])
@pytest.mark.parametrize("acc", [False, True])
@pytest.mark.parametrize("mask", ["bool", "uint8"])
def test_index_put_with_a_lone_0d_mask_is_torchs_setitem(keep, acc, mask):
    """A lone 0-d mask with a value that has dims trips an internal assert in torch 2.13's index_put_
    (a torch bug); minigrad gives what torch's `x[mask] = v` (or `x[mask] += v`) gives."""
    x0 = np.arange(6.0).reshape(2, 3)
    v0 = np.array([10.0, 20.0, 30.0])
    t = torch.tensor(x0)
    tm = torch.tensor(keep) if mask == "bool" else torch.tensor(int(keep), dtype=torch.uint8)
    if acc:
        t[tm] += torch.tensor(v0)
    else:
        t[tm] = torch.tensor(v0)
    m = mg.tensor(x0)
    mm = mg.tensor(keep) if mask == "bool" else mg.tensor(int(keep), dtype=mg.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (uint8: the deprecation warning, tested above)
        m.index_put_((mm,), mg.tensor(v0), accumulate=acc)
    np.testing.assert_array_equal(_np(m), _np(t))


_SETS = {  # x has shape (2, 3); value of this shape
    "[U1] = row": (lambda L, kw: _U(L, 1, **kw), (3,)),
    "[U0] = row": (lambda L, kw: _U(L, 0, **kw), (3,)),
    "[(U1,)] = 0d": (lambda L, kw: (_U(L, 1, **kw),), ()),
    "[1, U1] = row": (lambda L, kw: (1, _U(L, 1, **kw)), (1, 3)),
    "[U1, :, U1] = col": (lambda L, kw: (_U(L, 1, **kw), slice(None), _U(L, 1, **kw)), (2, 1)),
}


@pytest.mark.parametrize("record", [False, True])
@pytest.mark.parametrize("key", list(_SETS))
def test_setitem_with_a_0d_uint8_mask_matches_torch(key, record, device):
    index, vshape = _SETS[key]
    out = []
    for L, kw in ((mg, {"device": device}), (torch, {})):
        a = L.tensor(np.arange(6.0).reshape(2, 3), requires_grad=record, **kw)
        x = a * 1.0 if record else a.clone()
        v = L.tensor(np.full(vshape, 7.5), requires_grad=record, **kw)
        x[index(L, kw)] = v
        res = [x]
        if record:
            (x * L.arange(6.0, dtype=x.dtype, **kw).reshape(2, 3)).sum().backward()
            res += [a.grad, v.grad]
        out.append(res)
    _same(*out, exact=True)


def test_index_put_with_0d_masks_gradcheck(device):
    x = mg.tensor(np.random.default_rng(7).standard_normal((2, 3)), dtype=mg.float64, device=device,
                  requires_grad=True)
    v = mg.tensor([0.5, -1.0, 2.0], dtype=mg.float64, device=device, requires_grad=True)
    T, idx = mg.tensor(True, device=device), mg.tensor([1, 0], device=device)
    assert gradcheck(lambda a, b: a.index_put((T,), b) * a, x, v)
    assert gradcheck(lambda a, b: a.index_put((idx, T), b, accumulate=True).square(), x, v)
    assert gradcheck(lambda a, b: (a * 1.0).index_put_((T, idx), b), x, v)


@given(ndim=st.integers(1, 3), data=st.data())
def test_index_put_0d_mask_property_matches_torch(ndim, data):
    """A 0-d mask among integer index tensors, at any position, against torch's `y[idx] = v` / `+= v` (torch's
    own index_put_ drops 0-d masks: see above). The positions are distinct, so `+=` is accumulate."""
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    n_int = data.draw(st.integers(1, ndim))
    pos = data.draw(st.integers(0, n_int))
    keep = data.draw(st.booleans())
    acc = data.draw(st.booleans())
    m = data.draw(st.integers(1, min(shape[:n_int]))) if keep else 1  # (m,) broadcasts with (1,) or (0,)
    rng = np.random.default_rng(ndim + 10 * n_int + 100 * m)
    ints = [rng.permutation(shape[k])[:m] for k in range(n_int)]
    x0 = rng.standard_normal(shape)
    v0 = rng.standard_normal(((m,) if keep else (0,)) + shape[n_int:])
    res = []
    for L in (mg, torch):
        idx = [L.tensor(i) for i in ints]
        idx.insert(pos, L.tensor(keep))
        x = L.tensor(x0, requires_grad=True)
        v = L.tensor(v0, requires_grad=True)
        if L is mg:
            y = x.index_put(tuple(idx), v, accumulate=acc)
        else:
            y = x * 1.0
            if acc:
                y[tuple(idx)] += v
            else:
                y[tuple(idx)] = v
        (y * L.tensor(np.arange(y.numel(), dtype=np.float64).reshape(shape))).sum().backward()
        res.append([y, x.grad, v.grad])
    _same(*res, exact=True)


# ---------------------------------------------------------------- 3. raw arrays where torch wants a Tensor
_RAW = {"t": (), "movedim": (0, 1), "moveaxis": (0, 1), "swapaxes": (0, 1), "swapdims": (0, 1), "transpose": (0, 1)}
_NAME = {"moveaxis": "movedim", "swapdims": "swapaxes"}  # aliases report the op they are


@pytest.mark.parametrize("op", list(_RAW))
def test_shape_ops_refuse_a_raw_array_naming_the_port(op):
    a = mg.arange(6.0).reshape(2, 3)
    with pytest.raises(TypeError):  # torch refuses an array too
        getattr(torch, op)(a.numpy(), *_RAW[op])
    with pytest.raises(TypeError) as e:
        getattr(mg, op)(a.data, *_RAW[op])  # torch's `torch.t(w.data)` ported verbatim
    name = _NAME.get(op, op)
    text = str(e.value)
    assert text.startswith(f"{name}:") and "must be a Tensor, got ndarray" in text
    assert f"mg.{name}(t.detach(), ...)" in text
    y = getattr(mg, op)(a, *_RAW[op])  # tensors unchanged
    np.testing.assert_array_equal(_np(y), _np(getattr(torch, op)(torch.tensor(_np(a)), *_RAW[op])))


@pytest.mark.parametrize("bad", [  # raw(t): torch's `t.data` as minigrad has it (a raw array), or a NumPy array
    (lambda L, raw, c, x: L.where(raw(c), x, x), "condition must be a Tensor, got ndarray"),
    (lambda L, raw, c, x: L.where(raw(c)), "condition must be a Tensor, got ndarray"),
    (lambda L, raw, c, x: L.where(c, raw(x), x), "input must be a Tensor, got ndarray"),
    (lambda L, raw, c, x: L.where(c, x, raw(x)), "other must be a Tensor, got ndarray"),
    (lambda L, raw, c, x: L.where(c, raw(x)[0, 0, ...], x), "input must be a Tensor, got ndarray"),  # 0-d array
    (lambda L, raw, c, x: L.where(c, x, "0"), "text is not read as a number"),
    (lambda L, raw, c, x: L.where(c, None, x), "give both values"),
])
def test_where_refuses_non_tensors_as_torch(bad):
    fn, msg = bad
    c, x = mg.tensor([[True, False, True]] * 2), mg.ones(2, 3)
    with pytest.raises(TypeError, match=msg) as e:
        fn(mg, lambda t: t.data, c, x)
    if "ndarray" in msg:
        assert "mg.where(t.detach(), ...)" in str(e.value)  # the port of torch's `t.data`
    with pytest.raises(TypeError):  # torch refuses the same call
        fn(torch, lambda t: t.numpy(), torch.tensor(_np(c)), torch.ones(2, 3))


def test_where_takes_python_data_beyond_torch():
    """Documented extension (session 9): Python data (lists, bools) is wrapped as mg.tensor would; raw arrays are
    not (they are what torch's `t.data` becomes in a port, and torch refuses them)."""
    x = mg.tensor([1.0, 2.0])
    assert mg.where([True, False], x, [5.0, 6.0]).tolist() == [1.0, 6.0]
    assert mg.where(True, x, -x).tolist() == [1.0, 2.0]
    for bad in (lambda: mg.where(np.array([True, False]), x, x), lambda: mg.where(x > 1, np.array([0.0, 1.0]), x)):
        with pytest.raises(TypeError, match="must be a Tensor, got ndarray"):
            bad()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_where_keeps_torchs_number_values(dtype):
    c = np.array([[True, False, True], [False, True, False]])
    x0 = np.arange(6.0).reshape(2, 3)
    for a, b in ((1.5, "x"), ("x", 0), (True, "x"), (np.float64(2.5), "x"), ("x", np.float32(-1.0)), (2, 3.5)):
        out = []
        for L in (mg, torch):
            x = L.tensor(x0, dtype=_dt(L, dtype), requires_grad=True)
            y = L.where(L.tensor(c), *[x if isinstance(v, str) else v for v in (a, b)])
            res = [y]
            if y.requires_grad:
                y.sum().backward()
                res.append(x.grad)
            out.append(res)
        _same(*out, exact=True)


# ---------------------------------------------------------------- a 0-d CPU tensor beside a GPU tensor (torch's rule)
def test_zero_dim_cpu_tensor_joins_a_gpu_op_as_torch(device):
    """torch: a 0-d CPU tensor may meet a CUDA tensor in an op (as a number); its gradient comes back to the CPU.
    A CPU tensor with dimensions, or a 0-d GPU tensor beside a CPU tensor with dimensions, is still refused."""
    if device == "cpu":
        pytest.skip("needs a GPU: on one device there is nothing to move")
    s = mg.tensor(2.0, dtype=mg.float64, requires_grad=True)  # on the CPU
    x = mg.tensor([1.0, -3.0, 0.5], dtype=mg.float64, device=device, requires_grad=True)
    for y in (x * s, s * x, x - s, s - x):
        assert y.device == x.device
    (x * s + (s - x) / s).sum().backward()
    assert s.grad.device == "cpu" and x.grad.device == x.device
    # d/ds [x s + (s - x) / s] summed = sum(x) + sum(x) / s**2 ; d/dx = s - 1/s
    np.testing.assert_allclose(s.grad.item(), -1.5 + -1.5 / 4)
    np.testing.assert_allclose(x.grad.cpu().numpy(), [1.5] * 3)
    with pytest.raises(RuntimeError, match="same device"):
        mg.ones(3, dtype=mg.float64) + x
    with pytest.raises(RuntimeError, match="same device"):
        mg.tensor(1.0, device=device) + mg.ones(3)
