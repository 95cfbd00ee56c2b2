"""Long-range memory: an LSTM learns to recall the first symbol of a 50-step sequence; a plain RNN
of the same size, trained the same way, stays at chance (Bengio et al., 1994; Hochreiter &
Schmidhuber, 1997).

Task: x_0 is a one-hot class symbol (2 classes); x_1..x_49 are Gaussian noise on separate
channels; the label is the class of x_0, read from the final hidden state through a linear head.
Chance is 50%. Seeds are fixed, so the runs are deterministic; the RNN's gradient from step 0
vanishes geometrically over the 49 noise steps, the LSTM's flows through its cell state.

The LSTM's gate biases use the chrono initialisation (Tallec & Ollivier, 2018, "Can recurrent
neural networks warp time?"): b_f = log(u), b_i = -b_f with u ~ U(1, T - 1), so forget gates
start out keeping memory for ~T steps. With torch's default init an LSTM needs far more updates
on this task than a few-second test allows; the same holds for torch.nn.LSTM.
"""
import math

import numpy as np

import minigrad as mg
import models
from minigrad import functional as F
from minigrad import nn, optim

T, CLASSES, NOISE, HIDDEN, BATCH, STEPS = 50, 2, 4, 16, 128, 100


def make_batch(rng, batch):
    """x (T, batch, CLASSES + NOISE) float32, y (batch,): the class of the first step."""
    y = rng.integers(0, CLASSES, batch)
    x = np.zeros((T, batch, CLASSES + NOISE), dtype=np.float32)
    x[0, np.arange(batch), y] = 1.0
    x[1:, :, CLASSES:] = rng.standard_normal((T - 1, batch, NOISE))
    return mg.tensor(x), mg.tensor(y)


def chrono_init_(lstm, rng):
    """b_f = log(U(1, T-1)), b_i = -b_f in bias_ih (gate order i, f, g, o); bias_hh's i and f rows zero."""
    H = lstm.hidden_size
    b_f = np.log(rng.uniform(1.0, T - 1.0, H))
    with mg.no_grad():
        b_ih = lstm.bias_ih_l0.numpy().copy()
        b_ih[:H], b_ih[H:2 * H] = -b_f, b_f
        b_hh = lstm.bias_hh_l0.numpy().copy()
        b_hh[:2 * H] = 0.0
        lstm.bias_ih_l0.copy_(b_ih)
        lstm.bias_hh_l0.copy_(b_hh)


def train_and_evaluate(kind, seed=0):
    mg.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if kind == "LSTM":
        rnn = models.LSTM(CLASSES + NOISE, HIDDEN)
        chrono_init_(rnn, rng)
    else:
        rnn = models.RNN(CLASSES + NOISE, HIDDEN)
    head = nn.Linear(HIDDEN, CLASSES)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = optim.Adam(params, lr=0.01)

    def logits(x):
        _, state = rnn(x)
        h_n = state[0] if kind == "LSTM" else state
        return head(h_n[-1])

    for _ in range(STEPS):
        x, y = make_batch(rng, BATCH)
        loss = F.cross_entropy(logits(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    x, y = make_batch(np.random.default_rng(12345), 1000)  # held-out sequences
    with mg.no_grad():
        pred = logits(x).numpy().argmax(-1)
    return float((pred == y.numpy()).mean()), float(loss.item())


def test_lstm_recalls_the_first_symbol_after_50_steps():
    acc, loss = train_and_evaluate("LSTM")
    assert acc >= 0.95, f"LSTM accuracy {acc:.3f} (final training loss {loss:.3f})"
    assert loss < 0.2


def test_plain_rnn_of_the_same_size_stays_at_chance():
    acc, loss = train_and_evaluate("RNN")
    # 1000 held-out sequences: chance is 0.5 +- 0.016 (one standard deviation)
    assert abs(acc - 0.5) < 0.07, f"RNN accuracy {acc:.3f}; expected chance (0.5)"
    assert loss > 0.5, f"RNN training loss {loss:.3f}; chance level is ln 2 = {math.log(2):.3f}"
