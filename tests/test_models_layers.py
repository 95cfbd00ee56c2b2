"""models.RNN / LSTM / GRU layers: gradchecks over generated configurations, lengths, directions,
stacking, dropout, batch_first/unbatched, input checks, and truncated BPTT (detach_state).

Each behaviour runs with the composed cells (fused=False) and, where minigrad.ops.recurrent
exists, with the fused sequence ops (fused=True).
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import models
from minigrad.testing import gradcheck

try:
    from minigrad.ops import recurrent as _recurrent  # noqa: F401
    HAVE_FUSED = True
except ImportError:
    HAVE_FUSED = False

FUSED = [False, pytest.param(True, marks=pytest.mark.skipif(not HAVE_FUSED, reason="minigrad.ops.recurrent missing"))]
KINDS = ["RNN", "LSTM", "GRU"]


def make_layer(kind, input_size, hidden_size, **kw):
    cls = {"RNN": models.RNN, "LSTM": models.LSTM, "GRU": models.GRU}[kind]
    return cls(input_size, hidden_size, **kw)


def call_with_params(module, names, params, *args, **kwargs):
    """module(*args) with its parameters `names` replaced by the tensors `params` (for gradcheck)."""
    saved = [getattr(module, n) for n in names]
    try:
        for n, p in zip(names, params):
            object.__setattr__(module, n, p)  # an instance attribute: forward reads it instead
        return module(*args, **kwargs)
    finally:
        for n, p in zip(names, saved):
            object.__setattr__(module, n, p)


def flat_outputs(kind, result):
    out, state = result
    return (out,) + (tuple(state) if kind == "LSTM" else (state,))


# ---------------------------------------------------------------- gradcheck over generated configurations
@st.composite
def layer_cases(draw):
    unbatched = draw(st.integers(0, 4)) == 0  # now and then an unbatched (T, I) input
    B, T = (1 if unbatched else draw(st.integers(1, 3))), draw(st.integers(1, 4))
    use_lengths = draw(st.booleans())
    return dict(
        batch=B, steps=T, unbatched=unbatched,
        input_size=draw(st.integers(1, 4)), hidden_size=draw(st.integers(1, 4)),
        num_layers=draw(st.integers(1, 2)), bidirectional=draw(st.booleans()), bias=draw(st.booleans()),
        batch_first=draw(st.booleans()), give_state=draw(st.booleans()),
        lengths=draw(st.lists(st.integers(1, T), min_size=B, max_size=B)) if use_lengths else None,
        variant=draw(st.booleans()),  # RNN: relu instead of tanh; GRU: reset_after=False; LSTM: unused
        seed=draw(st.integers(0, 2 ** 16)),
    )


@pytest.mark.parametrize("fused", FUSED)
@pytest.mark.parametrize("kind", KINDS)
@given(case=layer_cases())
def test_layer_gradcheck(kind, fused, device, case):
    """d(output, h_n[, c_n])/d(x, h_0[, c_0], every parameter) against float64 central differences."""
    B, T, I, H = case["batch"], case["steps"], case["input_size"], case["hidden_size"]
    extra = {}
    if kind == "RNN" and case["variant"]:
        extra["nonlinearity"] = "relu"
    if kind == "GRU" and case["variant"]:
        extra["reset_after"] = False
    mg.manual_seed(case["seed"])
    layer = make_layer(kind, I, H, num_layers=case["num_layers"], bias=case["bias"], batch_first=case["batch_first"],
                       bidirectional=case["bidirectional"], fused=fused, dtype="float64", **extra).to(device)
    rng = np.random.default_rng(case["seed"])
    if case["unbatched"]:
        x_shape = (T, I)
    else:
        x_shape = (B, T, I) if case["batch_first"] else (T, B, I)
    x = mg.tensor(rng.standard_normal(x_shape), device=device, requires_grad=True)
    LD = case["num_layers"] * (2 if case["bidirectional"] else 1)
    h_shape = (LD, H) if case["unbatched"] else (LD, B, H)
    n_states = 2 if kind == "LSTM" else 1
    states = [mg.tensor(rng.standard_normal(h_shape), device=device, requires_grad=True)
              for _ in range(n_states)] if case["give_state"] else []
    names = [n for n, _ in layer.named_parameters()]
    params = [mg.tensor(p.numpy(), device=device, requires_grad=True) for p in layer.parameters()]
    n_s = len(states)

    def fn(x, *rest):
        st_, ps = rest[:n_s], rest[n_s:]
        hx = None if not st_ else (tuple(st_) if kind == "LSTM" else st_[0])
        return flat_outputs(kind, call_with_params(layer, names, ps, x, hx, lengths=case["lengths"]))

    # Every element for small configurations; random directions when there are many.
    n_elems = x.numel() + sum(s.numel() for s in states) + sum(p.numel() for p in params)
    gradcheck(fn, x, *states, *params, mode="full" if n_elems <= 150 else "directional")


# ---------------------------------------------------------------- variable lengths
@pytest.mark.parametrize("fused", FUSED)
@pytest.mark.parametrize("kind", KINDS)
def test_padded_batch_equals_each_sequence_run_alone(kind, fused):
    """With lengths, each sequence's outputs and final state are those of running it unpadded, alone."""
    rng = np.random.default_rng(0)
    T, B, I, H = 6, 3, 2, 3
    lengths = [4, 6, 1]
    layer = make_layer(kind, I, H, num_layers=2, bidirectional=True, fused=fused, dtype="float64")
    x_np = rng.standard_normal((T, B, I))
    x_np[np.arange(T)[:, None] >= np.array(lengths)[None, :]] = 1e3  # garbage in the padding must not leak
    out, state = layer(mg.tensor(x_np), lengths=mg.tensor(np.array(lengths)))  # an int Tensor works too
    states = list(state) if kind == "LSTM" else [state]
    for b, n in enumerate(lengths):
        out_b, state_b = layer(mg.tensor(x_np[:n, b:b + 1]))
        states_b = list(state_b) if kind == "LSTM" else [state_b]
        np.testing.assert_allclose(out.numpy()[:n, b:b + 1], out_b.numpy(), rtol=1e-12, atol=1e-12)
        assert np.all(out.numpy()[n:, b] == 0.0), "outputs past the length must be zero"
        for s, s_b in zip(states, states_b):
            np.testing.assert_allclose(s.numpy()[:, b:b + 1], s_b.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fused", FUSED)
def test_padding_gets_no_gradient(fused):
    layer = models.LSTM(2, 3, bidirectional=True, fused=fused, dtype="float64")
    x = mg.randn(5, 2, 2, dtype="float64", requires_grad=True)
    out, (h, c) = layer(x, lengths=[2, 5])
    (out.sum() + h.sum() + c.sum()).backward()
    g = x.grad.numpy()
    assert np.all(g[2:, 0] == 0.0) and np.all(g[:2, 0] != 0.0) and np.all(g[:, 1] != 0.0)


def test_full_lengths_equal_no_lengths():
    layer = models.GRU(3, 4, num_layers=2, bidirectional=True, fused=False, dtype="float64")
    x = mg.randn(4, 3, 3, dtype="float64")
    a, ha = layer(x)
    b, hb = layer(x, lengths=[4, 4, 4])
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(ha.numpy(), hb.numpy())


def test_bad_lengths_raise():
    layer = models.RNN(2, 3, fused=False)
    x = mg.randn(4, 2, 2)
    with pytest.raises(ValueError, match=r"RNN: every length must be in \[1, 4\]"):
        layer(x, lengths=[0, 4])
    with pytest.raises(ValueError, match=r"RNN: every length must be in \[1, 4\]"):
        layer(x, lengths=[5, 4])
    with pytest.raises(ValueError, match=r"RNN: lengths must have one entry per sequence, shape \(2,\)"):
        layer(x, lengths=[3])
    with pytest.raises(TypeError, match="RNN: lengths must be integers"):
        layer(x, lengths=[2.0, 3.0])


# ---------------------------------------------------------------- directions, stacking, layouts
@pytest.mark.parametrize("fused", FUSED)
@pytest.mark.parametrize("kind", KINDS)
def test_shapes_batch_first_and_unbatched_agree(kind, fused):
    T, B, I, H = 5, 2, 3, 4
    tm = make_layer(kind, I, H, num_layers=2, bidirectional=True, fused=fused, dtype="float64")
    bf = make_layer(kind, I, H, num_layers=2, bidirectional=True, batch_first=True, fused=fused, dtype="float64")
    bf.load_state_dict(tm.state_dict())
    x = mg.randn(T, B, I, dtype="float64")
    out, state = tm(x)
    out_bf, state_bf = bf(x.transpose(0, 1))
    assert out.shape == (T, B, 2 * H) and out_bf.shape == (B, T, 2 * H)
    np.testing.assert_allclose(out_bf.numpy(), out.numpy().transpose(1, 0, 2), rtol=1e-14)
    states = list(state) if kind == "LSTM" else [state]
    for s, s_bf in zip(states, list(state_bf) if kind == "LSTM" else [state_bf]):
        assert s.shape == (4, B, H)
        np.testing.assert_allclose(s_bf.numpy(), s.numpy(), rtol=1e-14)
    # Unbatched (T, I) is a batch of one with the batch dim removed, for either layout.
    for layer in (tm, bf):
        out_u, state_u = layer(x[:, 1])
        assert out_u.shape == (T, 2 * H)
        np.testing.assert_allclose(out_u.numpy(), out.numpy()[:, 1], rtol=1e-12, atol=1e-14)
        for s, s_u in zip(states, list(state_u) if kind == "LSTM" else [state_u]):
            assert s_u.shape == (4, H)
            np.testing.assert_allclose(s_u.numpy(), s.numpy()[:, 1], rtol=1e-12, atol=1e-14)


def test_bidirectional_halves_are_forward_and_reversed_runs():
    """out[..., :H] is the forward layer; out[..., H:] is a forward layer run on the reversed sequence."""
    H = 3
    bi = models.GRU(2, H, bidirectional=True, fused=False, dtype="float64")
    fwd = models.GRU(2, H, fused=False, dtype="float64")
    bwd = models.GRU(2, H, fused=False, dtype="float64")
    sd = bi.state_dict()
    fwd.load_state_dict({k: v for k, v in sd.items() if not k.endswith("_reverse")})
    bwd.load_state_dict({k[: -len("_reverse")]: v for k, v in sd.items() if k.endswith("_reverse")})
    x_np = np.random.default_rng(1).standard_normal((5, 2, 2))
    out, h_n = bi(mg.tensor(x_np))
    out_f, h_f = fwd(mg.tensor(x_np))
    out_b, h_b = bwd(mg.tensor(x_np[::-1].copy()))
    np.testing.assert_allclose(out.numpy()[..., :H], out_f.numpy(), rtol=1e-13)
    np.testing.assert_allclose(out.numpy()[..., H:], out_b.numpy()[::-1], rtol=1e-13)
    np.testing.assert_allclose(h_n.numpy(), np.concatenate([h_f.numpy(), h_b.numpy()]), rtol=1e-13)


def test_stacked_layer_feeds_the_next():
    two = models.LSTM(2, 3, num_layers=2, fused=False, dtype="float64")
    first = models.LSTM(2, 3, fused=False, dtype="float64")
    second = models.LSTM(3, 3, fused=False, dtype="float64")
    sd = two.state_dict()
    first.load_state_dict({k: v for k, v in sd.items() if k.endswith("_l0")})
    second.load_state_dict({k.replace("_l1", "_l0"): v for k, v in sd.items() if k.endswith("_l1")})
    x = mg.randn(4, 2, 2, dtype="float64")
    out, (h, c) = two(x)
    mid, (h0, c0) = first(x)
    out2, (h1, c1) = second(mid)
    np.testing.assert_allclose(out.numpy(), out2.numpy(), rtol=1e-13)
    np.testing.assert_allclose(h.numpy(), np.concatenate([h0.numpy(), h1.numpy()]), rtol=1e-13)
    np.testing.assert_allclose(c.numpy(), np.concatenate([c0.numpy(), c1.numpy()]), rtol=1e-13)


@pytest.mark.parametrize("fused", FUSED)
def test_dropout_between_layers_in_training_only(fused):
    mg.manual_seed(0)
    layer = models.LSTM(3, 8, num_layers=2, dropout=0.5, fused=fused, dtype="float64")
    plain = models.LSTM(3, 8, num_layers=2, fused=fused, dtype="float64")
    plain.load_state_dict(layer.state_dict())
    x = mg.randn(4, 2, 3, dtype="float64")
    ref, _ = plain(x)
    layer.eval()
    np.testing.assert_array_equal(layer(x)[0].numpy(), ref.numpy())  # eval: no dropout
    layer.train()
    a, _ = layer(x)
    b, _ = layer(x)
    assert not np.allclose(a.numpy(), ref.numpy()) and not np.allclose(a.numpy(), b.numpy())
    # a single layer has nothing between layers: dropout never applies (torch warns so, and so do we)
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        one = models.LSTM(3, 8, dropout=0.5, fused=fused, dtype="float64")
    one_plain = models.LSTM(3, 8, fused=fused, dtype="float64")
    one_plain.load_state_dict(one.state_dict())
    np.testing.assert_array_equal(one(x)[0].numpy(), one_plain(x)[0].numpy())


def test_parameter_registration_and_float32():
    lstm = models.LSTM(3, 4, num_layers=2, bidirectional=True, bias=False)
    assert [(n, tuple(p.shape)) for n, p in lstm.named_parameters()] == [
        ("weight_ih_l0", (16, 3)), ("weight_hh_l0", (16, 4)),
        ("weight_ih_l0_reverse", (16, 3)), ("weight_hh_l0_reverse", (16, 4)),
        ("weight_ih_l1", (16, 8)), ("weight_hh_l1", (16, 4)),
        ("weight_ih_l1_reverse", (16, 8)), ("weight_hh_l1_reverse", (16, 4))]
    gru = models.GRU(3, 4, fused=False)
    x = mg.randn(5, 2, 3, requires_grad=True)
    out, h = gru(x, lengths=[5, 2])
    (out.sum() + h.sum()).backward()
    assert out.dtype == h.dtype == x.grad.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in gru.parameters())


def test_layer_input_errors():
    lstm = models.LSTM(3, 4, num_layers=2, fused=False)
    with pytest.raises(ValueError, match=r"LSTM: expected input of shape \(T, B, 3\)"):
        lstm(mg.randn(5, 2, 4))
    with pytest.raises(ValueError, match=r"LSTM: expected h_0 of shape \(2, 2, 4\)"):
        lstm(mg.randn(5, 2, 3), (mg.randn(1, 2, 4), mg.randn(2, 2, 4)))
    with pytest.raises(TypeError, match=r"LSTM: hx must be a tuple \(h_0, c_0\)"):
        lstm(mg.randn(5, 2, 3), mg.randn(2, 2, 4))
    with pytest.raises(TypeError, match="GRU: input is float64.*parameters are float32"):
        models.GRU(3, 4)(mg.randn(5, 2, 3, dtype="float64"))
    with pytest.raises(ValueError, match="RNN: dropout must be a number in"):
        models.RNN(3, 4, dropout=1.5)
    with pytest.raises(ValueError, match="RNN: nonlinearity must be 'tanh' or 'relu'"):
        models.RNN(3, 4, 1, "gelu")


# ---------------------------------------------------------------- stateful use and truncated BPTT
def test_detach_state_on_tensors_and_nested_tuples():
    a = mg.randn(2, requires_grad=True) * 2.0
    b = mg.randn(2, requires_grad=True) * 3.0
    out = models.detach_state((a, [b, (a,)]))
    assert isinstance(out, tuple) and isinstance(out[1], list) and isinstance(out[1][1], tuple)
    for t in (out[0], out[1][0], out[1][1][0]):
        assert not t.requires_grad and t.grad_fn is None
    np.testing.assert_array_equal(out[1][0].numpy(), b.numpy())
    assert models.detach_state(None) is None
    with pytest.raises(TypeError, match="detach_state"):
        models.detach_state("h")


@pytest.mark.parametrize("fused", FUSED)
@pytest.mark.parametrize("kind", KINDS)
def test_chunked_run_equals_one_long_run(kind, fused):
    layer = make_layer(kind, 2, 3, num_layers=2, fused=fused, dtype="float64")
    x = mg.randn(9, 2, 2, dtype="float64")
    full, full_state = layer(x)
    state, outs = None, []
    for chunk in (x[0:4], x[4:5], x[5:9]):
        out, state = layer(chunk, state)
        outs.append(out.numpy())
        state = models.detach_state(state)
    np.testing.assert_allclose(np.concatenate(outs), full.numpy(), rtol=1e-13, atol=1e-15)
    for s, f in zip(state if kind == "LSTM" else (state,), full_state if kind == "LSTM" else (full_state,)):
        np.testing.assert_allclose(s.numpy(), f.numpy(), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("fused", FUSED)
@pytest.mark.parametrize("kind", KINDS)
def test_gradients_do_not_cross_the_cut(kind, fused):
    layer = make_layer(kind, 2, 3, fused=fused, dtype="float64")
    x1 = mg.randn(4, 2, 2, dtype="float64", requires_grad=True)
    x2 = mg.randn(3, 2, 2, dtype="float64", requires_grad=True)
    out1, state = layer(x1)
    out1.sum().backward()
    g1 = x1.grad.numpy().copy()

    # Without the cut, the second chunk's loss reaches x1; with it, x1.grad is untouched.
    out2, _ = layer(x2, models.detach_state(state))
    out2.sum().backward()
    np.testing.assert_array_equal(x1.grad.numpy(), g1)
    assert np.abs(x2.grad.numpy()).sum() > 0

    x1.grad = None
    out1, state = layer(x1)
    out2, _ = layer(x2, state)  # no cut: the graph spans both chunks
    out2.sum().backward()
    assert np.abs(x1.grad.numpy()).sum() > 0
