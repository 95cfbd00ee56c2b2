"""On a GPU: the hot paths never wait for the device (no device-to-host copy, no sync).

An optimizer step, the fused recurrent kernels (full-length sequences) and a training step
of an MLP run under CuPy's synchronisation detector (`cupyx.allow_synchronize(False)`),
which raises `cupyx.DeviceSynchronized` on any sync CuPy performs. Known, deliberate syncs
are kept out of the guarded blocks: they are the index range checks (embedding, getitem,
cross_entropy) and cross-entropy's count of non-ignored targets.

Skipped without a GPU, and where this CuPy has dropped the (deprecated) detector.
"""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim
from minigrad.ops.recurrent import gru_sequence, lstm_sequence, rnn_sequence

pytestmark = pytest.mark.skipif(not mg.cuda_available(), reason="needs a CUDA GPU with CuPy")


@pytest.fixture
def no_sync():
    cupyx = pytest.importorskip("cupyx")
    if not hasattr(cupyx, "allow_synchronize"):
        pytest.skip("this CuPy has no synchronisation detector (cupyx.allow_synchronize)")
    return lambda: cupyx.allow_synchronize(False)


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4),
    lambda ps: optim.Adam(ps, lr=1e-3, weight_decay=1e-4, amsgrad=True),
    lambda ps: optim.AdamW(ps, lr=1e-3),
    lambda ps: optim.RMSprop(ps, lr=1e-3, momentum=0.9),
    lambda ps: optim.Adagrad(ps, lr=1e-2),
])
def test_optimizer_steps_do_not_sync(no_sync, make):
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1)).to("cuda")
    opt = make(model.parameters())
    x = mg.randn(32, 8, device="cuda")
    for _ in range(2):  # the first step creates the optimizer state
        opt.zero_grad()
        (model(x) ** 2).mean().backward()
        with no_sync():
            opt.step()


def test_mlp_training_step_does_not_sync(no_sync):
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 4)).to("cuda")
    opt = optim.Adam(model.parameters(), lr=1e-3)
    x, y = mg.randn(32, 8, device="cuda"), mg.randn(32, 4, device="cuda")
    with no_sync():
        for _ in range(2):
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("reverse", [False, True])
def test_fused_recurrent_kernels_do_not_sync(no_sync, kind, reverse):
    rng = np.random.default_rng(0)
    T, B, I, H = 5, 3, 4, 6
    g = {"rnn": 1, "lstm": 4, "gru": 3}[kind]

    def t(*shape, grad=True):
        return mg.tensor(rng.standard_normal(shape).astype(np.float32), device="cuda", requires_grad=grad)

    x, h0, c0 = t(T, B, I), t(B, H), t(B, H)
    w = (t(g * H, I), t(g * H, H), t(g * H), t(g * H))
    with no_sync():
        if kind == "lstm":
            out, h, c = lstm_sequence(x, h0, c0, *w, reverse=reverse)
            (out.sum() + h.sum() + c.sum()).backward()
        else:
            fn = rnn_sequence if kind == "rnn" else gru_sequence
            out, h = fn(x, h0, *w, reverse=reverse)
            (out.sum() + h.sum()).backward()
    assert all(p.grad is not None for p in (x, h0, *w))
