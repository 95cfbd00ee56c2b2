"""models.LSTM with projections (torch's proj_size = P > 0): h_t = W_hr (o_t * tanh(c_t)).

Parity with torch.nn.LSTM(proj_size=P) in float64 (outputs, h_n, c_n and every gradient)
over generated configurations, torch's parameter names/order/shapes, state dicts both ways,
a gradcheck, an SGD training step, and the input checks.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import models
from minigrad.nn.utils.rnn import PackedSequence, pack_padded_sequence
from minigrad.testing import gradcheck

from minigrad.ops.recurrent import LSTMProjSequence

GRADIENT_TESTED = [LSTMProjSequence]  # test_fused_op_gradcheck (tests/test_op_coverage.py reads this)

try:
    import torch
except ImportError:  # the parity tests need torch; the gradchecks and checks do not
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")

TOL = dict(rtol=1e-7, atol=1e-7)


def _np(t):
    return t.numpy() if isinstance(t, mg.Tensor) else t.detach().numpy()


def _close(what, ours, theirs):
    a, b = _np(ours), _np(theirs)
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs torch {b.shape}"
    np.testing.assert_allclose(a, b, err_msg=what, **TOL)


def _pair(I, H, P, seed=0, device="cpu", fused=True, **kw):
    """Ours (float64, on device) and torch's LSTM(proj_size=P) with our weights loaded into torch."""
    mg.manual_seed(seed)
    ours = models.LSTM(I, H, proj_size=P, fused=fused, dtype="float64", **kw).to(device)
    theirs = torch.nn.LSTM(I, H, proj_size=P, **kw).double()
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    return ours, theirs


# ---------------------------------------------------------------- parity over generated configurations
@st.composite
def cases(draw):
    H = draw(st.integers(2, 5))
    T, B = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    mode = draw(st.sampled_from(["padded", "lengths", "packed"]))
    return dict(
        I=draw(st.integers(1, 4)), H=H, P=draw(st.integers(1, H - 1)), T=T, B=B,
        num_layers=draw(st.integers(1, 2)), bidirectional=draw(st.booleans()), bias=draw(st.booleans()),
        batch_first=draw(st.booleans()), fused=draw(st.booleans()), give_state=draw(st.booleans()),
        mode=mode, lengths=draw(st.lists(st.integers(1, T), min_size=B, max_size=B)) if mode != "padded" else None,
        seed=draw(st.integers(0, 2 ** 16)),
    )


@needs_torch
@given(case=cases())
def test_parity_with_torch(case, device):
    """Outputs, h_n, c_n and the gradients of x, h_0, c_0 and every parameter match torch to 1e-7."""
    I, H, P, T, B = case["I"], case["H"], case["P"], case["T"], case["B"]
    kw = dict(num_layers=case["num_layers"], bias=case["bias"], batch_first=case["batch_first"],
              bidirectional=case["bidirectional"])
    ours, theirs = _pair(I, H, P, case["seed"], device, case["fused"], **kw)
    rng = np.random.default_rng(case["seed"])
    D = 2 if case["bidirectional"] else 1
    LD, bf = case["num_layers"] * D, case["batch_first"]

    x_np = rng.standard_normal((B, T, I) if bf else (T, B, I))
    x = mg.tensor(x_np, device=device, requires_grad=True)
    tx = torch.tensor(x_np, requires_grad=True)
    hx = thx = None
    if case["give_state"]:
        h0_np, c0_np = rng.standard_normal((LD, B, P)), rng.standard_normal((LD, B, H))
        h0, c0 = (mg.tensor(a, device=device, requires_grad=True) for a in (h0_np, c0_np))
        th0, tc0 = (torch.tensor(a, requires_grad=True) for a in (h0_np, c0_np))
        hx, thx = (h0, c0), (th0, tc0)

    lengths = case["lengths"]
    if case["mode"] == "padded":
        out, (h_n, c_n) = ours(x, hx)
        tout, (th_n, tc_n) = theirs(tx, thx)
    else:
        tpacked = torch.nn.utils.rnn.pack_padded_sequence(tx, torch.tensor(lengths), batch_first=bf,
                                                          enforce_sorted=False)
        tout, (th_n, tc_n) = theirs(tpacked, thx)
        if case["mode"] == "lengths":  # our padded batch + lengths= against torch's packed run
            out, (h_n, c_n) = ours(x, hx, lengths=lengths)
            tout, _ = torch.nn.utils.rnn.pad_packed_sequence(tout, batch_first=bf, total_length=T)
        else:  # a PackedSequence on both sides
            packed = pack_padded_sequence(x, lengths, batch_first=bf, enforce_sorted=False)
            out, (h_n, c_n) = ours(packed, hx)
            assert isinstance(out, PackedSequence)
            out, tout = out.data, tout.data
    assert out.shape[-1] == D * P and tuple(h_n.shape) == (LD, B, P) and tuple(c_n.shape) == (LD, B, H)
    _close("output", out, tout)
    _close("h_n", h_n, th_n)
    _close("c_n", c_n, tc_n)

    # the same random cotangents on every output
    g = [rng.standard_normal(tuple(t.shape)) for t in (tout, th_n, tc_n)]
    loss = sum((o * mg.tensor(gi, device=device)).sum() for o, gi in zip((out, h_n, c_n), g))
    tloss = sum((o * torch.tensor(gi)).sum() for o, gi in zip((tout, th_n, tc_n), g))
    loss.backward()
    tloss.backward()
    _close("d x", x.grad, tx.grad)
    if hx is not None:
        _close("d h_0", hx[0].grad, thx[0].grad)
        _close("d c_0", hx[1].grad, thx[1].grad)
    tparams = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        _close(f"d {name}", p.grad, tparams[name].grad)


@needs_torch
def test_unbatched_parity():
    """An unbatched (T, I) input with (L*D, P) / (L*D, H) states, as torch."""
    ours, theirs = _pair(3, 5, 2, num_layers=2, bidirectional=True)
    rng = np.random.default_rng(1)
    x_np, h0_np, c0_np = rng.standard_normal((4, 3)), rng.standard_normal((4, 2)), rng.standard_normal((4, 5))
    out, (h, c) = ours(mg.tensor(x_np), (mg.tensor(h0_np), mg.tensor(c0_np)))
    tout, (th, tc) = theirs(torch.tensor(x_np), (torch.tensor(h0_np), torch.tensor(c0_np)))
    for what, a, b in (("output", out, tout), ("h_n", h, th), ("c_n", c, tc)):
        _close(what, a, b)


@needs_torch
def test_dropout_between_layers():
    """Dropout acts on the projected outputs between layers: with p=1 layer 1 sees zeros, in torch too."""
    ours, theirs = _pair(3, 4, 2, num_layers=2, dropout=1.0)
    ours.train()
    theirs.train()
    x_np = np.random.default_rng(2).standard_normal((3, 2, 3))
    out, (h, c) = ours(mg.tensor(x_np))
    tout, (th, tc) = theirs(torch.tensor(x_np))
    for what, a, b in (("output", out, tout), ("h_n", h, th), ("c_n", c, tc)):
        _close(what, a, b)
    # and in eval mode dropout is off: again torch's values
    ours.eval()
    theirs.eval()
    _close("eval output", ours(mg.tensor(x_np))[0], theirs(torch.tensor(x_np))[0])


# ---------------------------------------------------------------- parameters and state dicts
@needs_torch
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_parameter_names_order_and_shapes(bias, bidirectional):
    """named_parameters, state_dict, _flat_weights_names and all_weights exactly as torch's."""
    ours = models.LSTM(3, 4, num_layers=2, bias=bias, bidirectional=bidirectional, proj_size=2)
    theirs = torch.nn.LSTM(3, 4, num_layers=2, bias=bias, bidirectional=bidirectional, proj_size=2)
    names = [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_parameters()] == names
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert ours._flat_weights_names == theirs._flat_weights_names
    for n, p in theirs.named_parameters():
        assert tuple(getattr(ours, n).shape) == tuple(p.shape), n
    assert [[tuple(w.shape) for w in ws] for ws in ours.all_weights] == \
        [[tuple(w.shape) for w in ws] for ws in theirs.all_weights]
    assert ours.proj_size == 2 and repr(ours).endswith(", proj_size=2)")


def test_init_bounds():
    """Every parameter, weight_hr included, from U(-1/sqrt(H), 1/sqrt(H)), as torch's; float32 stays float32."""
    mg.manual_seed(3)
    m = models.LSTM(6, 16, proj_size=5)
    w = m.weight_hr_l0
    assert tuple(w.shape) == (5, 16) and w.dtype == mg.float32
    assert np.abs(w.numpy()).max() <= 0.25 and np.abs(w.numpy()).max() > 0.2  # 80 draws reach near the bound
    assert np.unique(w.numpy()).size == w.numel()
    out, (h, c) = m(mg.randn(3, 2, 6))
    assert out.dtype == h.dtype == c.dtype == mg.float32


@needs_torch
def test_state_dict_both_ways():
    """A torch state dict (with weight_hr_l{k}[_reverse]) loads into ours and ours into torch; same outputs."""
    torch.manual_seed(0)
    theirs = torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=3).double()
    ours = models.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=3, dtype="float64")
    ours.load_state_dict({k: mg.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    x_np = np.random.default_rng(4).standard_normal((4, 2, 3))
    out, (h, c) = ours(mg.tensor(x_np))
    tout, (th, tc) = theirs(torch.tensor(x_np))
    _close("torch -> ours: output", out, tout)
    _close("torch -> ours: h_n", h, th)
    _close("torch -> ours: c_n", c, tc)

    mg.manual_seed(5)
    ours2 = models.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=3, dtype="float64")
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours2.state_dict().items()})
    out2, (h2, c2) = ours2(mg.tensor(x_np))
    tout2, (th2, tc2) = theirs(torch.tensor(x_np))
    _close("ours -> torch: output", out2, tout2)
    _close("ours -> torch: h_n", h2, th2)
    _close("ours -> torch: c_n", c2, tc2)


@needs_torch
def test_state_dict_mismatch_is_an_error():
    """A projected LSTM's state dict does not load silently into an unprojected one (or vice versa)."""
    proj = torch.nn.LSTM(3, 4, proj_size=2).state_dict()
    plain = models.LSTM(3, 4)
    with pytest.raises(RuntimeError, match="weight_hr_l0"):
        plain.load_state_dict({k: mg.tensor(v.numpy()) for k, v in proj.items()})
    projected = models.LSTM(3, 4, proj_size=2)
    with pytest.raises(RuntimeError, match="weight_hr_l0"):
        projected.load_state_dict({k: mg.tensor(v.numpy()) for k, v in torch.nn.LSTM(3, 4).state_dict().items()})


# ---------------------------------------------------------------- gradcheck and training
@pytest.mark.parametrize("fused", [True, False])
def test_gradcheck(device, fused):
    """d(output, h_n, c_n)/d(x, h_0, c_0, every parameter) against float64 central differences,
    stacked, bidirectional, with lengths."""
    mg.manual_seed(6)
    layer = models.LSTM(2, 3, num_layers=2, bidirectional=True, proj_size=2, fused=fused,
                        dtype="float64").to(device)
    rng = np.random.default_rng(6)
    x = mg.tensor(rng.standard_normal((3, 2, 2)), device=device, requires_grad=True)
    h0 = mg.tensor(rng.standard_normal((4, 2, 2)), device=device, requires_grad=True)
    c0 = mg.tensor(rng.standard_normal((4, 2, 3)), device=device, requires_grad=True)
    params = list(layer.parameters())

    def fn(x, h0, c0, *ps):
        out, (h, c) = layer(x, (h0, c0), lengths=[3, 2])
        return out, h, c

    gradcheck(fn, x, h0, c0, *params, mode="directional", n_directions=4)
    # the projection's own gradient, every element
    gradcheck(lambda w: layer(x, (h0, c0), lengths=[3, 2])[0], layer.weight_hr_l1_reverse)


@needs_torch
def test_sgd_training_steps_match_torch():
    """Three SGD (momentum) steps on an MSE loss: the parameters stay equal to torch's."""
    ours, theirs = _pair(3, 5, 2, seed=7, num_layers=2, bidirectional=True, batch_first=True)
    opt = mg.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(7)
    x_np, y_np = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 4))
    for _ in range(3):
        opt.zero_grad()
        topt.zero_grad()
        out, _ = ours(mg.tensor(x_np))
        ((out - mg.tensor(y_np)) ** 2).mean().backward()
        tout, _ = theirs(torch.tensor(x_np))
        ((tout - torch.tensor(y_np)) ** 2).mean().backward()
        opt.step()
        topt.step()
    tparams = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        _close(name, p, tparams[name])


@pytest.mark.parametrize("lengths", [None, [4, 2, 1]])
def test_fused_op_matches_composed(device, lengths):
    """The fused op (`lstm_proj_sequence`, hand-written BPTT) against the composed cells, both directions:
    values and gradients (which path runs: test_plain_lstm_still_runs_the_tuned_kernel)."""
    rng = np.random.default_rng(8)
    a = models.LSTM(3, 5, proj_size=2, bidirectional=True, fused=True, dtype="float64").to(device)
    b = models.LSTM(3, 5, proj_size=2, bidirectional=True, fused=False, dtype="float64").to(device)
    b.load_state_dict(a.state_dict())
    x_np = rng.standard_normal((4, 3, 3))
    g = [rng.standard_normal(s) for s in ((4, 3, 4), (2, 3, 2), (2, 3, 5))]
    xs = [mg.tensor(x_np, device=device, requires_grad=True) for _ in range(2)]
    results = []
    for layer, x in zip((a, b), xs):
        out, (h, c) = layer(x, lengths=lengths)
        sum((o * mg.tensor(gi, device=device)).sum() for o, gi in zip((out, h, c), g)).backward()
        results.append((out, h, c))
    for what, u, v in zip(("output", "h_n", "c_n"), *results):
        np.testing.assert_allclose(u.numpy(), v.numpy(), rtol=1e-12, atol=1e-12, err_msg=what)
    np.testing.assert_allclose(xs[0].grad.numpy(), xs[1].grad.numpy(), rtol=1e-12, atol=1e-12)
    pb = dict(b.named_parameters())
    for name, p in a.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), pb[name].grad.numpy(), rtol=1e-12, atol=1e-12, err_msg=name)


@st.composite
def op_cases(draw):
    H, T, B = draw(st.integers(2, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    return dict(T=T, B=B, I=draw(st.integers(1, 3)), H=H, P=draw(st.integers(1, H - 1)),
                bias=draw(st.sampled_from(["both", "ih", "hh", "none"])), reverse=draw(st.booleans()),
                lengths=draw(st.one_of(st.none(), st.lists(st.integers(1, T), min_size=B, max_size=B))),
                seed=draw(st.integers(0, 2 ** 16)))


@given(case=op_cases())
def test_fused_op_gradcheck(case, device):
    """minigrad.ops.recurrent.lstm_proj_sequence: the gradient of every input (x, h0, c0, w_ih, w_hh, w_hr,
    the biases given) against float64 central differences, over generated shapes, lengths and directions."""
    from minigrad.ops.recurrent import lstm_proj_sequence
    T, B, I, H, P = case["T"], case["B"], case["I"], case["H"], case["P"]
    rng = np.random.default_rng(case["seed"])
    shapes = [(T, B, I), (B, P), (B, H), (4 * H, I), (4 * H, P), (P, H)]
    args = [mg.tensor(rng.standard_normal(s) * 0.5, device=device, requires_grad=True) for s in shapes]
    b_ih, b_hh = (mg.tensor(rng.standard_normal(4 * H) * 0.5, device=device, requires_grad=True)
                  if case["bias"] in (which, "both") else None for which in ("ih", "hh"))
    biases = [b for b in (b_ih, b_hh) if b is not None]

    def fn(*a):
        it = iter(a[6:])
        return lstm_proj_sequence(*a[:6], next(it) if b_ih is not None else None,
                                  next(it) if b_hh is not None else None,
                                  lengths=case["lengths"], reverse=case["reverse"])

    gradcheck(fn, *args, *biases)


def test_fused_op_checks_its_arguments():
    from minigrad.ops.recurrent import lstm_proj_sequence
    z = mg.zeros
    with pytest.raises(ValueError, match=r"lstm_proj_sequence: w_hh must have shape \(12, 2\)"):
        lstm_proj_sequence(z(4, 2, 3), z(2, 2), z(2, 3), z(12, 3), z(12, 3), z(2, 3))
    with pytest.raises(ValueError, match=r"h0 must have shape \(2, 2\)"):
        lstm_proj_sequence(z(4, 2, 3), z(2, 3), z(2, 3), z(12, 3), z(12, 2), z(2, 3))
    with pytest.raises(TypeError, match="dtype mismatch"):
        lstm_proj_sequence(z(4, 2, 3), z(2, 2), z(2, 3), z(12, 3), z(12, 2), z(2, 3, dtype="float64"))


def test_plain_lstm_still_runs_the_tuned_kernel():
    """proj_size=0 keeps running LSTMSequence; proj_size > 0 runs LSTMProjSequence (fused) or cells."""
    x = mg.randn(4, 2, 3, requires_grad=True)
    assert type(models.LSTM(3, 4)(x)[0].grad_fn).__name__ == "LSTMSequence"
    assert type(models.LSTM(3, 4, proj_size=2)(x)[0].grad_fn).__name__ == "LSTMProjSequence"
    assert type(models.LSTM(3, 4, proj_size=2, fused=False)(x)[0].grad_fn).__name__ != "LSTMProjSequence"


# ---------------------------------------------------------------- errors
def test_proj_size_validation():
    """torch's checks and messages: negative, not smaller than hidden_size; a non-int is a TypeError."""
    assert models.LSTM(3, 4, 1, True, False, 0.0, False, 2).proj_size == 2  # torch's 8th positional argument
    assert models.LSTM(3, 4).proj_size == 0
    for p in (4, 5):
        with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
            models.LSTM(3, 4, proj_size=p)
    with pytest.raises(ValueError, match="proj_size should be a positive integer or zero to disable projections"):
        models.LSTM(3, 4, proj_size=-1)
    for p in (1.5, True, "2"):
        with pytest.raises(TypeError, match="proj_size must be an int"):
            models.LSTM(3, 4, proj_size=p)


def test_wrong_state_shapes_name_the_expected_ones():
    """h_0 must be (L*D, B, P) and c_0 (L*D, B, H); the error says which and what was expected."""
    m = models.LSTM(3, 5, num_layers=2, proj_size=2)
    x = mg.randn(4, 3, 3)
    good_h, good_c = mg.zeros(2, 3, 2), mg.zeros(2, 3, 5)
    with pytest.raises(ValueError, match=r"h_0 of shape \(2, 3, 2\).*proj_size.*got float32\[2, 3, 5\]"):
        m(x, (mg.zeros(2, 3, 5), good_c))
    with pytest.raises(ValueError, match=r"c_0 of shape \(2, 3, 5\).*hidden_size.*got float32\[2, 3, 2\]"):
        m(x, (good_h, mg.zeros(2, 3, 2)))
    with pytest.raises(ValueError, match=r"h_0 of shape \(2, 2\)"):  # unbatched
        m(mg.randn(4, 3), (mg.zeros(2, 5), mg.zeros(2, 5)))
    out, (h, c) = m(x, (good_h, good_c))
    assert tuple(out.shape) == (4, 3, 2) and tuple(h.shape) == (2, 3, 2) and tuple(c.shape) == (2, 3, 5)
