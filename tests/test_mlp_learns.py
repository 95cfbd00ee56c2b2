"""End to end: an MLP built from nn layers, trained with minigrad.optim, fits XOR and two spirals.

The training loop is the project's idiom: opt.zero_grad(); loss = ...; loss.backward(); opt.step().
"""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
import minigrad.optim  # noqa: F401  (mg.optim)
from minigrad import nn


def _load_example():
    """examples/mlp_spirals.py as a fresh module (examples/ is not a package)."""
    path = Path(__file__).resolve().parents[1] / "examples" / "mlp_spirals.py"
    spec = importlib.util.spec_from_file_location("mlp_spirals_example", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def two_spirals(n_per_class, turns, seed=0):
    """Two interleaved spirals in the plane: the example's own data generator (`make_spirals`)."""
    return _load_example().make_spirals(n_per_class, turns=turns, seed=seed)


def train(model, x, y, loss_fn, opt, steps, target_acc=None):
    """Full-batch training; stops early once the training accuracy reaches target_acc (if given)."""
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if target_acc is not None and accuracy(model, x, y) >= target_acc:
            break
    return loss.item()


def accuracy(model, x, y):
    with mg.no_grad():
        out = model(x)
    if out.shape[-1] == 1:  # one logit: class 1 when positive
        pred = (out.numpy()[..., 0] > 0).astype(np.int64)
    else:
        pred = out.argmax(-1).numpy()
    return float((pred == y.numpy().reshape(pred.shape)).mean())


XOR_X = mg.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = mg.tensor([0, 1, 1, 0])


@pytest.mark.parametrize("make_opt", [
    lambda ps: mg.optim.Adam(ps, lr=0.05),
    lambda ps: mg.optim.SGD(ps, lr=0.5, momentum=0.9),
], ids=["adam", "sgd-momentum"])
def test_mlp_learns_xor(make_opt):
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))
    assert accuracy(model, XOR_X, XOR_Y) < 1.0  # not solved before training
    opt = make_opt(model.parameters())
    loss = train(model, XOR_X, XOR_Y, nn.CrossEntropyLoss(), opt, steps=300)
    assert accuracy(model, XOR_X, XOR_Y) == 1.0
    assert loss < 0.05  # fitted, not just on the right side of the boundary


def test_mlp_learns_xor_with_one_logit_and_bce():
    mg.manual_seed(1)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    opt = mg.optim.Adam(model.parameters(), lr=0.05)
    y = mg.tensor([[0.0], [1.0], [1.0], [0.0]])
    loss_fn = nn.BCEWithLogitsLoss()
    for _ in range(500):
        opt.zero_grad()
        loss = loss_fn(model(XOR_X), y)
        loss.backward()
        opt.step()
        if accuracy(model, XOR_X, XOR_Y) == 1.0 and loss.item() < 0.3:
            break
    assert accuracy(model, XOR_X, XOR_Y) == 1.0


def test_mlp_learns_two_spirals():
    x_np, y_np = two_spirals(100, turns=2.0)
    x, y = mg.tensor(x_np * 3), mg.tensor(y_np)  # *3: inputs of unit scale for tanh units
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 2))
    opt = mg.optim.Adam(model.parameters(), lr=0.02)
    assert accuracy(model, x, y) < 0.8
    train(model, x, y, nn.CrossEntropyLoss(), opt, steps=600, target_acc=1.0)
    assert accuracy(model, x, y) >= 0.99


def test_layernorm_dropout_mlp_learns_spirals_and_eval_is_deterministic():
    """A deeper MLP with LayerNorm and Dropout also fits, and eval() turns dropout off."""
    x_np, y_np = two_spirals(100, turns=1.5, seed=1)
    x, y = mg.tensor(x_np * 3), mg.tensor(y_np)
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 32), nn.LayerNorm(32), nn.Tanh(), nn.Dropout(0.05),
                          nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 2))
    opt = mg.optim.Adam(model.parameters(), lr=0.02)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(600):
        model.train()
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        model.eval()
        if accuracy(model, x, y) >= 0.995:
            break
    model.eval()
    assert accuracy(model, x, y) >= 0.99
    with mg.no_grad():
        np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())


def test_example_smoke_prints_one_json_line(capsys):
    import json

    _load_example().main(["--smoke", "--quiet", "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    metrics = json.loads(out[0])
    assert metrics["steps"] == 20 and 0.0 <= metrics["accuracy"] <= 1.0 and metrics["plot"] is None


def test_example_default_run_reaches_99_percent(tmp_path, capsys):
    metrics = _load_example().main(["--quiet", "--plot", str(tmp_path / "boundary.png")])
    assert metrics["accuracy"] >= 0.99
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert metrics["plot"] is None
    else:
        assert (tmp_path / "boundary.png").stat().st_size > 0
