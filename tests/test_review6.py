"""Regression tests for core problems found while reviewing this session's additions."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import autograd


def test_tensors_never_hold_numpy_scalars(device):
    """A ufunc on a 0-d array returns a NumPy scalar; a Tensor must hold a 0-d array instead
    (where() refused isnan(0-d tensor) as a condition "on another device")."""
    x = mg.tensor(1.0, device=device)
    cond = mg.isnan(x)
    assert cond.shape == () and not isinstance(cond.data, np.generic)
    assert mg.where(cond, x, 2.0).item() == 2.0
    assert mg.where(mg.isfinite(x), x, 2.0).item() == 1.0


def test_in_place_write_of_a_constant_keeps_the_old_value_in_the_graph(device):
    """record_inplace with a result that has no graph (a fill): reads before the write still
    reach the old value, and the overwritten value gets gradient 0."""
    a = mg.tensor([1.0, 2.0], device=device, requires_grad=True)
    x = a * 2
    y = x * 3  # reads x before the write
    autograd.record_inplace(x, "fill_", lambda t: mg.tensor([5.0, 5.0], device=device))
    np.testing.assert_array_equal(x.numpy(), [5.0, 5.0])
    (y.sum() + x.sum()).backward()
    np.testing.assert_array_equal(a.grad.numpy(), [6.0, 6.0])


def test_in_place_write_refuses_a_result_that_cannot_be_cast_back(device):
    """_write_in_place used to cast a float result into an int tensor silently (truncating it)."""
    x = mg.tensor([1, 2], device=device)
    with pytest.raises(RuntimeError, match=r"demo_: the result type float32 can't be cast to int64"):
        x._write_in_place("demo_", lambda t: t * 0.5)
    np.testing.assert_array_equal(x.numpy(), [1, 2])
    f = mg.tensor([1.0, 2.0], device=device)  # float64 -> float32 is the same kind: written, as torch
    f._write_in_place("demo_", lambda t: t.double() * 0.5)
    np.testing.assert_array_equal(f.numpy(), [0.5, 1.0])
    assert f.dtype == np.float32


def test_max_pool1d_winner_follows_torch_with_nan_and_minus_inf(device):
    """torch scans a window's real taps: the first maximum wins, the LAST NaN wins, and a window of
    -inf values gives its gradient to its first real tap (minigrad gave the first NaN, and the
    padding for -inf windows)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(300):
        L, k, d, s = int(rng.integers(1, 9)), int(rng.integers(1, 5)), int(rng.integers(1, 3)), int(rng.integers(1, 3))
        p = int(rng.integers(0, k // 2 + 1))
        l_out = (L + 2 * p - d * (k - 1) - 1) // s + 1
        starts = np.arange(max(l_out, 0)) * s - p
        if l_out < 1 or any(all(not 0 <= st + j * d < L for j in range(k)) for st in starts):
            continue  # a window made of padding only: torch's -inf there has no meaningful winner
        a = rng.choice([1.0, 2.0, -np.inf, np.nan, 0.0], size=(2, 1, L))
        t = torch.tensor(a, requires_grad=True)
        x = mg.tensor(a, device=device, requires_grad=True)
        w = rng.standard_normal((2, 1, l_out))
        (torch.nn.functional.max_pool1d(t, k, s, p, d) * torch.tensor(w)).sum().backward()
        y = mg.functional.max_pool1d(x, k, s, p, d)
        (y * mg.tensor(w, device=device)).sum().backward()
        # (windows sharing a winner add their gradients in another order: last-bit differences)
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-14, atol=0)
        checked += 1
    assert checked > 100


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_layers_name_themselves_for_a_wrong_feature_size(device, norm_first):
    enc = mg.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, norm_first=norm_first, device=device)
    dec = mg.nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, dropout=0.0, norm_first=norm_first, device=device)
    with pytest.raises(ValueError, match=r"TransformerEncoderLayer: src must have d_model = 8 features"):
        enc(mg.zeros(3, 2, 6, device=device))
    with pytest.raises(ValueError, match=r"TransformerDecoderLayer: memory must have d_model = 8 features"):
        dec(mg.zeros(3, 2, 8, device=device), mg.zeros(4, 2, 5, device=device))
    assert enc(mg.zeros(3, 2, 8, device=device)).shape == (3, 2, 8)
