"""torch.max / torch.min semantics: one value, (values, indices) along an int dim, or the elementwise form.

`x.max(1)` returned the values only before; `_, pred = logits.max(1)` (the idiom of every
torch classification loop) then unpacked a values tensor, silently when the batch had 2 rows.
These tests pin torch's behaviour: a namedtuple along a dim, the gradient going to the
element the index names (the first of equal extremes, the first NaN), an even split among
ties for the whole-tensor form, `amax`/`amin` for several dims.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.testing import strategies as mst


@st.composite
def int_valued(draw, max_dims=3):
    """A float64 array of small integers (so ties are common) and one valid dim of it."""
    shape = draw(mst.shapes(min_dims=1, max_dims=max_dims, min_side=1, max_side=4))
    values = draw(st.lists(st.integers(-3, 3), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    return np.array(values, dtype=np.float64).reshape(shape), dim


@pytest.mark.parametrize("op", ["max", "min"])
@given(case=int_valued(), keepdim=st.booleans())
def test_values_indices_and_gradient_to_the_index(device, op, case, keepdim):
    a, dim = case
    x = mg.tensor(a, device=device, requires_grad=True)
    out = getattr(x, op)(dim, keepdim)
    assert type(out).__name__ == "ValuesIndices" and out._fields == ("values", "indices")
    values, indices = out  # unpacks as torch's return type does
    ref = getattr(np, op)(a, axis=dim, keepdims=keepdim)
    idx = getattr(np, "arg" + op)(a, axis=dim)  # NumPy's arg picks the first extreme, as torch's CPU kernel
    np.testing.assert_array_equal(values.numpy(), ref)
    np.testing.assert_array_equal(indices.numpy(), np.expand_dims(idx, dim) if keepdim else idx)
    assert indices.dtype == np.int64 and values.dtype == np.float64
    w = np.arange(1.0, values.numel() + 1).reshape(values.shape)
    (values * mg.tensor(w, device=device)).sum().backward()
    expect = np.zeros_like(a)
    np.put_along_axis(expect, np.expand_dims(idx, dim), w if keepdim else np.expand_dims(w, dim), axis=dim)
    np.testing.assert_array_equal(x.grad.numpy(), expect)  # all of each output's gradient at its index


@pytest.mark.parametrize("op", ["max", "min"])
def test_whole_tensor_form_splits_ties_evenly(device, op):
    ext = 3.0 if op == "max" else -3.0
    x = mg.tensor([[1.0, ext, ext], [0.0, ext, 2.0 * np.sign(ext) * -1]], dtype="float64", device=device,
                  requires_grad=True)
    y = getattr(x, op)()
    assert isinstance(y, mg.Tensor) and y.shape == () and y.item() == ext
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.where(x.numpy() == ext, 1 / 3, 0.0))


def test_nan_wins_and_takes_the_gradient(device):
    x = mg.tensor([[1.0, np.nan, np.nan], [4.0, 2.0, 0.0]], dtype="float64", device=device, requires_grad=True)
    values, indices = x.max(1)
    assert np.isnan(values.numpy()[0]) and values.numpy()[1] == 4.0
    np.testing.assert_array_equal(indices.numpy(), [1, 0])
    values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 0], [1, 0, 0]])
    x.grad = None
    x.max().backward()  # the whole-tensor form: the NaNs share the gradient (was 0/0 = NaN everywhere)
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0.5, 0.5], [0, 0, 0]])
    x.grad = None
    x.amax(1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0.5, 0.5], [1, 0, 0]])
    # many NaNs in long rows (a GPU's parallel argmax may keep any NaN): always the first, as torch
    a = np.tile(np.arange(64.0), (3, 1))
    a[0, [40, 5, 63, 17]] = a[1, [1, 2]] = a[2, [63]] = np.nan
    y = mg.tensor(a, device=device)
    for op in ("argmax", "argmin"):
        np.testing.assert_array_equal(getattr(y, op)(1).numpy(), [5, 1, 63], err_msg=op)
        assert getattr(y, op)().item() == 5 and getattr(y[1:], op)().item() == 1  # the flattened form
    np.testing.assert_array_equal(y.max(1).indices.numpy(), [5, 1, 63])
    np.testing.assert_array_equal(y.min(1).indices.numpy(), [5, 1, 63])


def test_classification_idiom_and_other_forms(device):
    logits = mg.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 1.0]], device=device)
    _, pred = logits.max(1)  # the batch has 2 rows: the old values-only result unpacked silently here
    np.testing.assert_array_equal(pred.numpy(), [1, 0])
    _, pred = mg.max(logits, dim=1)
    np.testing.assert_array_equal(pred.numpy(), [1, 0])
    assert mg.max(logits, 1).values.shape == (2,)
    assert mg.min(logits, 1, keepdim=True).indices.shape == (2, 1)
    other = mg.zeros(3, device=device)
    np.testing.assert_array_equal(mg.max(logits, other).numpy(), np.maximum(logits.numpy(), 0))
    np.testing.assert_array_equal(logits.min(other).numpy(), np.minimum(logits.numpy(), 0))
    s = mg.tensor(2.5, device=device)
    assert s.max(0).values.item() == 2.5 and s.max(0).indices.item() == 0 and s.max(0).indices.shape == ()
    ints = mg.tensor([1, 5, 5], device=device)
    assert ints.max(0).values.item() == 5 and ints.max(0).indices.item() == 1 and ints.max().dtype == np.int64
    empty_rows = mg.zeros(0, 3, device=device).max(1)  # reducing a non-empty dim of an empty tensor is fine
    assert empty_rows.values.shape == (0,) and empty_rows.indices.shape == (0,)
    np.testing.assert_array_equal(logits.amax((0, 1)).numpy(), 3.0)


def test_refusals_name_the_op(device):
    x = mg.ones(2, 3, device=device)
    with pytest.raises(TypeError, match=r"max: dim must be one int.*amax reduces several dims"):
        x.max((0, 1))
    with pytest.raises(TypeError, match=r"min: dim must be one int.*amin"):
        mg.min(x, dim=[0])
    with pytest.raises(IndexError, match="max: dim 2 is out of range"):
        x.max(2)
    with pytest.raises(ValueError, match="max: cannot reduce an empty tensor"):
        mg.zeros(0, 3, device=device).max()
    with pytest.raises(ValueError, match="min: cannot reduce over an empty dimension"):
        mg.zeros(0, 3, device=device).min(0)


def test_torch_parity(device):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.integers(-2, 3, size=(3, 4, 2)).astype(np.float64)
        a[rng.random(a.shape) < 0.1] = np.nan
        for op in ("max", "min"):
            for dim in (0, 1, -1):
                x = mg.tensor(a, device=device, requires_grad=True)
                t = torch.tensor(a, requires_grad=True)
                v, i = getattr(x, op)(dim)
                tv, ti = getattr(t, op)(dim)
                np.testing.assert_array_equal(v.numpy(), tv.detach().numpy())
                np.testing.assert_array_equal(i.numpy(), ti.numpy())
                w = rng.standard_normal(v.shape)
                (v * mg.tensor(w, device=device)).sum().backward()
                (tv * torch.tensor(w)).sum().backward()
                np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
            x = mg.tensor(a, device=device, requires_grad=True)
            t = torch.tensor(a, requires_grad=True)
            getattr(x, op)().backward()
            getattr(t, op)().backward()
            np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
