"""models.RNN/LSTM/GRU and their cells against torch.nn, same weights, float64: outputs and ALL gradients.

GRU(reset_after=False) has no torch counterpart; it is checked against a plain-NumPy
implementation of the classic equations instead.
"""
import numpy as np
import pytest

import minigrad as mg
import models

torch = pytest.importorskip("torch")

TOL = dict(rtol=1e-7, atol=1e-7)

try:
    from minigrad.ops import recurrent as _recurrent  # noqa: F401
    HAVE_FUSED = True
except ImportError:
    HAVE_FUSED = False

FUSED = [False, pytest.param(True, marks=pytest.mark.skipif(not HAVE_FUSED, reason="minigrad.ops.recurrent missing"))]

OURS = {"RNN": models.RNN, "LSTM": models.LSTM, "GRU": models.GRU}
THEIRS = {"RNN": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}


def _load_ours_into_torch(ours, theirs):
    """Our state dict into torch: the direction the brief names (`torch.from_numpy(v.numpy())`)."""
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})


def _rand(rng, *shape):
    return rng.standard_normal(shape)


def _close(name, ours, theirs):
    a = ours.numpy() if isinstance(ours, mg.Tensor) else np.asarray(ours)
    b = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    assert a.shape == b.shape, f"{name}: shape {a.shape} vs torch {b.shape}"
    np.testing.assert_allclose(a, b, err_msg=name, **TOL)


def _run_layer_pair(kind, cfg, fused, T, B, lengths=None, unbatched=False, seed=0, nonlinearity="tanh"):
    """Build ours + torch with the same weights, run forward/backward with the same cotangents, compare."""
    rng = np.random.default_rng(seed)
    I, H = cfg["input_size"], cfg["hidden_size"]
    kw = dict(num_layers=cfg.get("num_layers", 1), bias=cfg.get("bias", True),
              batch_first=cfg.get("batch_first", False), bidirectional=cfg.get("bidirectional", False))
    extra = {"nonlinearity": nonlinearity} if kind == "RNN" else {}
    mg.manual_seed(seed)
    ours = OURS[kind](I, H, **kw, **extra, fused=fused, dtype="float64")
    theirs = THEIRS[kind](I, H, **kw, **extra).double()
    _load_ours_into_torch(ours, theirs)

    D = 2 if kw["bidirectional"] else 1
    LD = kw["num_layers"] * D
    if unbatched:
        x_np = _rand(rng, T, I)
        h_shape = (LD, H)
    else:
        x_np = _rand(rng, B, T, I) if kw["batch_first"] else _rand(rng, T, B, I)
        h_shape = (LD, B, H)
    h0_np = _rand(rng, *h_shape)
    c0_np = _rand(rng, *h_shape)

    x = mg.tensor(x_np, requires_grad=True)
    h0 = mg.tensor(h0_np, requires_grad=True)
    c0 = mg.tensor(c0_np, requires_grad=True)
    tx = torch.tensor(x_np, requires_grad=True)
    th0 = torch.tensor(h0_np, requires_grad=True)
    tc0 = torch.tensor(c0_np, requires_grad=True)

    hx = (h0, c0) if kind == "LSTM" else h0
    thx = (th0, tc0) if kind == "LSTM" else th0
    out, state = ours(x, hx, lengths=lengths)
    if lengths is None:
        tout, tstate = theirs(tx, thx)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(tx, torch.tensor(lengths), batch_first=kw["batch_first"],
                                                         enforce_sorted=False)
        tpacked, tstate = theirs(packed, thx)
        tout, _ = torch.nn.utils.rnn.pad_packed_sequence(tpacked, batch_first=kw["batch_first"], total_length=T)

    states = list(state) if kind == "LSTM" else [state]
    tstates = list(tstate) if kind == "LSTM" else [tstate]
    _close("output", out, tout)
    for k, (s, ts) in enumerate(zip(states, tstates)):
        _close(f"state {k}", s, ts)

    # Same random cotangents for every output, then compare every gradient.
    vs = [_rand(rng, *out.shape)] + [_rand(rng, *s.shape) for s in states]
    loss = sum(((o * mg.tensor(v)).sum() for o, v in zip([out] + states, vs)), mg.tensor(0.0, dtype="float64"))
    tloss = sum((o * torch.tensor(v)).sum() for o, v in zip([tout] + tstates, vs))
    loss.backward()
    tloss.backward()
    _close("grad x", x.grad, tx.grad)
    _close("grad h0", h0.grad, th0.grad)
    if kind == "LSTM":
        _close("grad c0", c0.grad, tc0.grad)
    tparams = dict(theirs.named_parameters())
    names = [n for n, _ in ours.named_parameters()]
    assert names == list(tparams), "parameter names/order differ from torch"
    for n, p in ours.named_parameters():
        _close(f"grad {n}", p.grad, tparams[n].grad)


LAYER_CONFIGS = [
    pytest.param(dict(input_size=3, hidden_size=4), id="1layer"),
    pytest.param(dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True), id="2layer-bidir"),
    pytest.param(dict(input_size=2, hidden_size=3, num_layers=2, batch_first=True), id="2layer-batch_first"),
    pytest.param(dict(input_size=3, hidden_size=2, bias=False, bidirectional=True), id="nobias-bidir"),
]


@pytest.mark.parametrize("fused", FUSED)
@pytest.mark.parametrize("cfg", LAYER_CONFIGS)
@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_layer_matches_torch(kind, cfg, fused):
    _run_layer_pair(kind, cfg, fused, T=5, B=3)


@pytest.mark.parametrize("fused", FUSED)
@pytest.mark.parametrize("cfg", [
    pytest.param(dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True), id="2layer-bidir"),
    pytest.param(dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True, batch_first=True),
                 id="2layer-bidir-batch_first"),
])
@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_layer_variable_lengths_match_packed_torch(kind, cfg, fused):
    # Unsorted lengths, one full-length and one of length 1: torch packs with enforce_sorted=False.
    _run_layer_pair(kind, cfg, fused, T=5, B=4, lengths=[3, 5, 1, 4], seed=1)


@pytest.mark.parametrize("fused", FUSED)
@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_layer_unbatched_matches_torch(kind, fused):
    _run_layer_pair(kind, dict(input_size=3, hidden_size=2, num_layers=2, bidirectional=True), fused, T=4, B=1,
                    unbatched=True, seed=2)


@pytest.mark.parametrize("fused", FUSED)
def test_rnn_relu_matches_torch(fused):
    _run_layer_pair("RNN", dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True), fused, T=4, B=2,
                    lengths=[2, 4], seed=3, nonlinearity="relu")


# ---------------------------------------------------------------- cells
CELLS = {
    "RNNCell-tanh": (lambda **kw: models.RNNCell(3, 4, **kw), lambda **kw: torch.nn.RNNCell(3, 4, **kw)),
    "RNNCell-relu": (lambda **kw: models.RNNCell(3, 4, nonlinearity="relu", **kw),
                     lambda **kw: torch.nn.RNNCell(3, 4, nonlinearity="relu", **kw)),
    "LSTMCell": (lambda **kw: models.LSTMCell(3, 4, **kw), lambda **kw: torch.nn.LSTMCell(3, 4, **kw)),
    "GRUCell": (lambda **kw: models.GRUCell(3, 4, **kw), lambda **kw: torch.nn.GRUCell(3, 4, **kw)),
}


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("name", list(CELLS))
def test_cell_matches_torch(name, bias, batched):
    rng = np.random.default_rng(4)
    make_ours, make_theirs = CELLS[name]
    ours = make_ours(bias=bias, dtype="float64")
    theirs = make_theirs(bias=bias).double()
    _load_ours_into_torch(ours, theirs)
    lstm = name == "LSTMCell"
    shape_x, shape_h = ((2, 3), (2, 4)) if batched else ((3,), (4,))
    x_np, h_np, c_np = _rand(rng, *shape_x), _rand(rng, *shape_h), _rand(rng, *shape_h)
    x, h, c = (mg.tensor(a, requires_grad=True) for a in (x_np, h_np, c_np))
    tx, th, tc = (torch.tensor(a, requires_grad=True) for a in (x_np, h_np, c_np))
    outs = list(ours(x, (h, c))) if lstm else [ours(x, h)]
    touts = list(theirs(tx, (th, tc))) if lstm else [theirs(tx, th)]
    for k, (o, to) in enumerate(zip(outs, touts)):
        _close(f"output {k}", o, to)
    vs = [_rand(rng, *o.shape) for o in outs]
    sum((o * mg.tensor(v)).sum() for o, v in zip(outs, vs)).backward()
    sum((o * torch.tensor(v)).sum() for o, v in zip(touts, vs)).backward()
    _close("grad x", x.grad, tx.grad)
    _close("grad h", h.grad, th.grad)
    if lstm:
        _close("grad c", c.grad, tc.grad)
    tparams = dict(theirs.named_parameters())
    assert [n for n, _ in ours.named_parameters()] == list(tparams)
    for n, p in ours.named_parameters():
        _close(f"grad {n}", p.grad, tparams[n].grad)


@pytest.mark.parametrize("name", list(CELLS))
def test_cell_zero_state_default_matches_torch(name):
    make_ours, make_theirs = CELLS[name]
    ours, theirs = make_ours(dtype="float64"), make_theirs().double()
    _load_ours_into_torch(ours, theirs)
    x_np = np.random.default_rng(5).standard_normal((2, 3))
    out, tout = ours(mg.tensor(x_np)), theirs(torch.tensor(x_np))
    if name == "LSTMCell":
        _close("h", out[0], tout[0])
        _close("c", out[1], tout[1])
    else:
        _close("h", out, tout)


# ---------------------------------------------------------------- state dicts both ways
@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_torch_state_dict_loads_into_ours_and_back(kind):
    torch.manual_seed(0)
    theirs = THEIRS[kind](3, 4, num_layers=2, bidirectional=True)  # float32, torch's own init
    ours = OURS[kind](3, 4, num_layers=2, bidirectional=True, fused=False)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    missing, unexpected = ours.load_state_dict(theirs.state_dict())  # torch tensors accepted as they are
    assert missing == [] and unexpected == []
    for k, v in theirs.state_dict().items():
        assert ours.state_dict()[k].dtype == np.float32
        np.testing.assert_array_equal(ours.state_dict()[k].numpy(), v.numpy())
    x_np = np.random.default_rng(6).standard_normal((5, 2, 3)).astype(np.float32)
    out, _ = ours(mg.tensor(x_np))
    tout, _ = theirs(torch.tensor(x_np))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-5, atol=1e-6)

    # ...and ours (after changing it) back into a fresh torch module.
    mg.manual_seed(7)
    ours.reset_parameters()
    fresh = THEIRS[kind](3, 4, num_layers=2, bidirectional=True)
    _load_ours_into_torch(ours, fresh)
    for k, v in ours.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[k].numpy(), v.numpy())


# ---------------------------------------------------------------- GRU reset_after=False vs NumPy
def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _numpy_classic_gru(x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse):
    """Classic GRU (reset before W_hn) over a padded time-major batch, plain NumPy."""
    T, B, _ = x.shape
    H = h0.shape[-1]
    out = np.zeros((T, B, H))
    h_n = np.zeros((B, H))
    for b in range(B):
        h = h0[b].copy()
        steps = range(lengths[b] - 1, -1, -1) if reverse else range(lengths[b])
        for t in steps:
            gi = w_ih @ x[t, b] + b_ih
            r = _sigmoid(gi[:H] + w_hh[:H] @ h + b_hh[:H])
            z = _sigmoid(gi[H:2 * H] + w_hh[H:2 * H] @ h + b_hh[H:2 * H])
            n = np.tanh(gi[2 * H:] + w_hh[2 * H:] @ (r * h) + b_hh[2 * H:])
            h = (1 - z) * n + z * h
            out[t, b] = h
        h_n[b] = h
    return out, h_n


@pytest.mark.parametrize("fused", FUSED)
def test_gru_reset_before_matches_numpy_reference(fused):
    rng = np.random.default_rng(8)
    T, B, I, H = 5, 3, 3, 4
    gru = models.GRU(I, H, num_layers=2, bidirectional=True, reset_after=False, fused=fused, dtype="float64")
    x_np, h0_np = rng.standard_normal((T, B, I)), rng.standard_normal((4, B, H))
    lengths = [5, 2, 4]
    out, h_n = gru(mg.tensor(x_np), mg.tensor(h0_np), lengths=lengths)

    p = {k: v.numpy() for k, v in gru.state_dict().items()}
    layer_in = x_np
    ref_h = []
    for k in range(2):
        outs = []
        for d, sfx in enumerate(["", "_reverse"]):
            o, h = _numpy_classic_gru(layer_in, h0_np[2 * k + d], p[f"weight_ih_l{k}{sfx}"], p[f"weight_hh_l{k}{sfx}"],
                                      p[f"bias_ih_l{k}{sfx}"], p[f"bias_hh_l{k}{sfx}"], lengths, reverse=d == 1)
            outs.append(o)
            ref_h.append(h)
        layer_in = np.concatenate(outs, axis=-1)
    np.testing.assert_allclose(out.numpy(), layer_in, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h_n.numpy(), np.stack(ref_h), rtol=1e-12, atol=1e-12)


def test_gru_cell_reset_before_matches_numpy_reference():
    rng = np.random.default_rng(9)
    cell = models.GRUCell(3, 4, reset_after=False, dtype="float64")
    x_np, h_np = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    p = {k: v.numpy() for k, v in cell.state_dict().items()}
    _, ref = _numpy_classic_gru(x_np[None], h_np, p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"],
                                [1, 1], reverse=False)
    np.testing.assert_allclose(cell(mg.tensor(x_np), mg.tensor(h_np)).numpy(), ref, rtol=1e-12, atol=1e-12)
    # and the two formulations really differ
    cell.reset_after = True
    assert not np.allclose(cell(mg.tensor(x_np), mg.tensor(h_np)).numpy(), ref)
