"""Recurrent layers and MultiheadAttention inside mg.autocast: float16 activations are accepted."""
import numpy as np
import pytest

import minigrad as mg


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
def test_recurrent_layer_takes_a_float16_activation_under_autocast(cls):
    """It runs in its parameters' float32 (torch's CUDA autocast runs it in float16): the result equals the
    float32 run on the float16 values, and the float32 weights get float32 gradients."""
    mg.manual_seed(0)
    layer = getattr(mg.nn, cls)(4, 5, num_layers=2)
    x16 = mg.randn(3, 2, 4).half()
    with mg.autocast("cpu", dtype=mg.float16):
        out, _ = layer(x16)
    ref, _ = layer(x16.float())
    assert out.dtype == mg.float32
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    out.sum().backward()
    assert layer.weight_ih_l0.grad.dtype == mg.float32
    with pytest.raises(TypeError, match="parameters are float32"):  # outside autocast: refused, as before
        layer(x16)


def test_cell_takes_a_float16_activation_under_autocast():
    cell = mg.nn.LSTMCell(4, 5)
    x16 = mg.randn(2, 4).half()
    with mg.autocast("cpu", dtype=mg.float16):
        h, c = cell(x16)
    # the cell is composed of ops, and its linear products run in float16 under autocast (as torch's):
    # within float16 rounding (~4.9e-4 relative per rounding) of the float32 cell
    np.testing.assert_allclose(h.numpy(), cell(x16.float())[0].numpy(), rtol=5e-3, atol=2e-3)


def test_multihead_attention_under_autocast_matches_torch_dtypes():
    torch = pytest.importorskip("torch")
    mg.manual_seed(0)
    m = mg.nn.MultiheadAttention(8, 2)
    tm = torch.nn.MultiheadAttention(8, 2)
    tm.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in m.state_dict().items()})
    q = np.random.default_rng(0).standard_normal((3, 2, 8)).astype(np.float16)
    with mg.autocast("cpu", dtype=mg.float16):
        out, w = m(mg.tensor(q), mg.tensor(q), mg.tensor(q))
    with torch.autocast("cpu", dtype=torch.float16):
        tout, tw = tm(*(torch.from_numpy(q),) * 3)
    assert str(out.dtype) == str(tout.dtype).replace("torch.", "") and str(w.dtype) == str(tw.dtype).replace("torch.", "")
    # float16 rounding of inputs, weights and each product (~4.9e-4 relative per rounding), different sum orders
    np.testing.assert_allclose(out.numpy().astype(np.float64), tout.detach().numpy().astype(np.float64),
                               rtol=1e-2, atol=4e-3)
    out.float().sum().backward()
    assert m.in_proj_weight.grad.dtype == mg.float32
