"""models.RNNCell / LSTMCell / GRUCell: parameters, init, shapes, errors, and gradchecks on every backend."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import models
from minigrad.testing import gradcheck

from opcheck import canonical

CELL_KINDS = ["RNN-tanh", "RNN-relu", "LSTM", "GRU", "GRU-reset_before"]
GATES = {"RNN-tanh": 1, "RNN-relu": 1, "LSTM": 4, "GRU": 3, "GRU-reset_before": 3}


def make_cell(kind, input_size, hidden_size, bias=True, **kw):
    if kind.startswith("RNN"):
        return models.RNNCell(input_size, hidden_size, bias, nonlinearity=kind.split("-")[1], **kw)
    if kind == "LSTM":
        return models.LSTMCell(input_size, hidden_size, bias, **kw)
    return models.GRUCell(input_size, hidden_size, bias, reset_after=kind == "GRU", **kw)


def call_with_params(module, names, params, *args):
    """module(*args) with its parameters `names` replaced by the tensors `params` (for gradcheck)."""
    saved = [getattr(module, n) for n in names]
    try:
        for n, p in zip(names, params):
            object.__setattr__(module, n, p)  # an instance attribute: forward reads it instead
        return module(*args)
    finally:
        for n, p in zip(names, saved):
            object.__setattr__(module, n, p)


# ---------------------------------------------------------------- parameters and init
@pytest.mark.parametrize("kind", CELL_KINDS)
def test_parameter_names_shapes_and_init_bounds(kind):
    H, I = 5, 3
    cell = make_cell(kind, I, H)
    G = GATES[kind]
    assert [(n, tuple(p.shape)) for n, p in cell.named_parameters()] == [
        ("weight_ih", (G * H, I)), ("weight_hh", (G * H, H)), ("bias_ih", (G * H,)), ("bias_hh", (G * H,))]
    bound = 1 / math.sqrt(H)
    for _, p in cell.named_parameters():
        assert p.dtype == np.float32 and p.requires_grad
        assert np.all(np.abs(p.numpy()) <= bound)  # U(-1/sqrt(H), 1/sqrt(H))
    values = np.concatenate([p.numpy().ravel() for p in cell.parameters()])  # >= 50 draws
    assert values.min() < -0.5 * bound and values.max() > 0.5 * bound  # spread over the interval, not zeros
    assert [n for n, _ in make_cell(kind, I, H, bias=False).named_parameters()] == ["weight_ih", "weight_hh"]


@pytest.mark.parametrize("kind", CELL_KINDS)
def test_init_comes_from_the_seeded_host_generator(kind):
    mg.manual_seed(123)
    a = make_cell(kind, 3, 4)
    mg.manual_seed(123)
    b = make_cell(kind, 3, 4, dtype="float64")
    c = make_cell(kind, 3, 4)  # the generator moved on: different weights
    for (n, pa), (_, pb), (_, pc) in zip(a.named_parameters(), b.named_parameters(), c.named_parameters()):
        assert pb.dtype == np.float64
        np.testing.assert_allclose(pa.numpy(), pb.numpy(), rtol=1e-6, err_msg=n)  # same draws, cast
        assert not np.allclose(pa.numpy(), pc.numpy())


def test_init_distribution_is_uniform_over_the_bound():
    mg.manual_seed(0)
    w = models.LSTMCell(200, 100).weight_ih.numpy().ravel()  # 80,000 draws
    b = 1 / math.sqrt(100)
    assert abs(w.mean()) < 0.02 * b
    assert abs(w.std() - b / math.sqrt(3)) < 0.02 * b  # std of U(-b, b) is b/sqrt(3)


# ---------------------------------------------------------------- forward semantics
@pytest.mark.parametrize("kind", CELL_KINDS)
def test_shapes_unbatched_and_default_zero_state(kind, device):
    cell = make_cell(kind, 3, 4, dtype="float64").to(device)
    rng = np.random.default_rng(0)
    x = mg.tensor(rng.standard_normal((2, 3)), device=device)
    zeros = mg.zeros(2, 4, dtype="float64", device=device)
    if kind == "LSTM":
        h, c = cell(x)
        h2, c2 = cell(x, (zeros, zeros))
        h3, c3 = cell(x, (None, zeros))
        assert h.shape == c.shape == (2, 4)
        np.testing.assert_array_equal(h.numpy(), h2.numpy())
        np.testing.assert_array_equal(c.numpy(), c3.numpy())
        hu, cu = cell(x[1])  # unbatched (I,) -> (H,), same as the batch row
        assert hu.shape == cu.shape == (4,)
        np.testing.assert_allclose(hu.numpy(), h.numpy()[1], rtol=1e-14)
        np.testing.assert_allclose(cu.numpy(), c.numpy()[1], rtol=1e-14)
    else:
        h = cell(x)
        assert h.shape == (2, 4) and h.device == canonical(device)
        np.testing.assert_array_equal(h.numpy(), cell(x, zeros).numpy())
        hu = cell(x[1], zeros[1])
        assert hu.shape == (4,)
        np.testing.assert_allclose(hu.numpy(), h.numpy()[1], rtol=1e-14)


@pytest.mark.parametrize("kind", CELL_KINDS)
def test_float32_stays_float32(kind):
    cell = make_cell(kind, 3, 4)
    x = mg.randn(2, 3, requires_grad=True)
    out = cell(x)
    h = out[0] if kind == "LSTM" else out
    h.sum().backward()
    assert h.dtype == np.float32 and x.grad.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in cell.parameters())


def test_cell_equations_by_hand():
    """The documented equations, evaluated with NumPy on the cell's own weights."""
    rng = np.random.default_rng(1)
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731

    rnn = models.RNNCell(3, 4, dtype="float64")
    p = {k: v.numpy() for k, v in rnn.state_dict().items()}
    ref = np.tanh(x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"])
    np.testing.assert_allclose(rnn(mg.tensor(x), mg.tensor(h)).numpy(), ref, rtol=1e-12)

    lstm = models.LSTMCell(3, 4, dtype="float64")
    p = {k: v.numpy() for k, v in lstm.state_dict().items()}
    gates = x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
    i, f, g, o = sig(gates[:, :4]), sig(gates[:, 4:8]), np.tanh(gates[:, 8:12]), sig(gates[:, 12:])
    c_ref = f * c + i * g
    h_ref = o * np.tanh(c_ref)
    h1, c1 = lstm(mg.tensor(x), (mg.tensor(h), mg.tensor(c)))
    np.testing.assert_allclose(h1.numpy(), h_ref, rtol=1e-12)
    np.testing.assert_allclose(c1.numpy(), c_ref, rtol=1e-12)

    gru = models.GRUCell(3, 4, dtype="float64")
    p = {k: v.numpy() for k, v in gru.state_dict().items()}
    gi = x @ p["weight_ih"].T + p["bias_ih"]
    gh = h @ p["weight_hh"].T + p["bias_hh"]
    r = sig(gi[:, :4] + gh[:, :4])
    z = sig(gi[:, 4:8] + gh[:, 4:8])
    n = np.tanh(gi[:, 8:] + r * gh[:, 8:])
    np.testing.assert_allclose(gru(mg.tensor(x), mg.tensor(h)).numpy(), (1 - z) * n + z * h, rtol=1e-12)


# ---------------------------------------------------------------- errors
def test_bad_arguments_raise_clear_errors():
    cell = models.LSTMCell(3, 4)
    with pytest.raises(ValueError, match=r"LSTMCell: expected input of shape \(batch, 3\)"):
        cell(mg.randn(2, 5))
    with pytest.raises(ValueError, match=r"LSTMCell: expected hx of shape \(2, 4\)"):
        cell(mg.randn(2, 3), (mg.randn(3, 4), mg.randn(2, 4)))
    with pytest.raises(TypeError, match="LSTMCell: the state must be a tuple"):
        cell(mg.randn(2, 3), mg.randn(2, 4))
    with pytest.raises(TypeError, match="LSTMCell: input is float64.*parameters are float32"):
        cell(mg.randn(2, 3, dtype="float64"))
    with pytest.raises(TypeError, match="GRUCell: input must be a minigrad Tensor"):
        models.GRUCell(3, 4)(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="RNNCell: nonlinearity must be 'tanh' or 'relu'"):
        models.RNNCell(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="GRUCell: hidden_size must be an integer >= 1"):
        models.GRUCell(3, 0)


# ---------------------------------------------------------------- gradients
@st.composite
def cell_cases(draw):
    return dict(batch=draw(st.integers(1, 3)), input_size=draw(st.integers(1, 4)),
                hidden_size=draw(st.integers(1, 4)), bias=draw(st.booleans()), batched=draw(st.booleans()),
                seed=draw(st.integers(0, 2 ** 16)))


@pytest.mark.parametrize("kind", CELL_KINDS)
@given(case=cell_cases())
def test_cell_gradcheck(kind, device, case):
    """d(outputs)/d(x, h, [c], every parameter) against float64 central differences."""
    B, I, H = case["batch"], case["input_size"], case["hidden_size"]
    mg.manual_seed(case["seed"])
    cell = make_cell(kind, I, H, bias=case["bias"], dtype="float64").to(device)
    rng = np.random.default_rng(case["seed"])
    lead = (B,) if case["batched"] else ()
    x = mg.tensor(rng.standard_normal(lead + (I,)), device=device, requires_grad=True)
    states = [mg.tensor(rng.standard_normal(lead + (H,)), device=device, requires_grad=True)
              for _ in range(2 if kind == "LSTM" else 1)]
    names = [n for n, _ in cell.named_parameters()]
    params = [mg.tensor(p.numpy(), device=device, requires_grad=True) for p in cell.parameters()]
    n_s = len(states)

    def fn(x, *rest):
        st_, ps = rest[:n_s], rest[n_s:]
        return call_with_params(cell, names, ps, x, tuple(st_) if kind == "LSTM" else st_[0])

    gradcheck(fn, x, *states, *params)
