"""On a GPU: the same seed and model give the same numbers on 'cpu' and 'cuda', and training
state moves between the two.

Parameters are drawn from the host generator on every device, so a model built after
`mg.manual_seed(s)` has the same weights on both; outputs and gradients must then agree to
float64 rounding (the two backends sum in different orders). A run trained on the CPU,
checkpointed, and resumed on the GPU (and back) must follow the all-CPU trajectory.
Skipped without a GPU.
"""
import numpy as np
import pytest

import minigrad as mg
from minigrad import functional as F
from minigrad import nn, optim
from models import GRU, LSTM, RNN
from models.seq2seq import Decoder, Encoder, Seq2Seq

GPU = "cuda"  # the backend compared with the CPU
pytestmark = pytest.mark.skipif(not mg.cuda_available(), reason="needs a CUDA GPU with CuPy")

TOL = dict(rtol=1e-9, atol=1e-11)


def _grads(module):
    return {name: p.grad.numpy() for name, p in module.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("layer", [RNN, LSTM, GRU])
def test_recurrent_layers_agree_across_backends(layer):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 3, 4))
    results = []
    for device in ("cpu", GPU):
        mg.manual_seed(5)
        net = layer(4, 6, num_layers=2, bidirectional=True, dtype=mg.float64).to(device)
        out, _ = net(mg.tensor(x, device=device), lengths=[7, 4, 2])
        (out * out).sum().backward()
        results.append((out.numpy(), _grads(net)))
    np.testing.assert_allclose(results[1][0], results[0][0], **TOL)
    assert results[0][1].keys() == results[1][1].keys()
    for name in results[0][1]:
        np.testing.assert_allclose(results[1][1][name], results[0][1][name], **TOL, err_msg=name)


def test_seq2seq_step_agrees_across_backends():
    rng = np.random.default_rng(1)
    src, tgt = rng.integers(3, 12, (4, 6)), rng.integers(3, 12, (4, 5))
    results = []
    for device in ("cpu", GPU):
        mg.manual_seed(2)
        model = Seq2Seq(Encoder(12, 5, 8, bidirectional=True), Decoder(12, 5, 8, attention="general", encoder_size=16),
                        sos_idx=1, eos_idx=2, pad_idx=0).to(device)
        model.double()
        t = mg.tensor(tgt, device=device)
        loss = F.cross_entropy(model(mg.tensor(src, device=device), [6, 5, 3, 6], t)[0], t, ignore_index=0)
        loss.backward()
        results.append((loss.item(), _grads(model)))
    assert results[1][0] == pytest.approx(results[0][0], rel=1e-10)
    for name in results[0][1]:
        np.testing.assert_allclose(results[1][1][name], results[0][1][name], **TOL, err_msg=name)


def _train(model, opt, x, y, steps):
    for _ in range(steps):
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()


def test_training_moves_between_devices_through_a_checkpoint(tmp_path):
    rng = np.random.default_rng(3)
    x0, y0 = rng.standard_normal((16, 5)), rng.standard_normal((16, 2))

    def build(device):
        mg.manual_seed(9)
        model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2)).to(device).double()
        return model, optim.Adam(model.parameters(), lr=1e-2)

    ref, ref_opt = build("cpu")
    _train(ref, ref_opt, mg.tensor(x0), mg.tensor(y0), 6)

    model, opt = build("cpu")
    _train(model, opt, mg.tensor(x0), mg.tensor(y0), 2)
    for device in (GPU, "cpu"):  # cpu -> cuda -> cpu, two steps on each
        mg.save({"model": model.state_dict(), "opt": opt.state_dict()}, tmp_path / "ck.npz")
        model, opt = build(device)
        ck = mg.load(tmp_path / "ck.npz", device=device)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        assert all(p.device.startswith(device) for p in model.parameters())
        _train(model, opt, mg.tensor(x0, device=device), mg.tensor(y0, device=device), 2)
    for (name, p), q in zip(model.named_parameters(), ref.parameters()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), **TOL, err_msg=name)


def test_mixing_devices_in_one_op_is_a_clear_error():
    a, b = mg.ones(3), mg.ones(3, device="cuda")
    with pytest.raises(RuntimeError, match="cpu.*cuda|cuda.*cpu"):
        a + b
    lin = nn.Linear(3, 2).to("cuda")
    with pytest.raises(RuntimeError, match="cpu.*cuda|cuda.*cpu"):
        lin(a)
