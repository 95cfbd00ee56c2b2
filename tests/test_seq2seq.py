"""Encoder-decoder (models/seq2seq.py): gradients, masking, teacher forcing, greedy and beam decoding."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import functional as F
from minigrad.testing import gradcheck
import models
from models.seq2seq import Bridge, Decoder, Encoder, Seq2Seq

from opcheck import call_with

PAD, SOS, EOS = 0, 1, 2


def random_batch(rng, B, S, T, V_src, V_tgt, device="cpu"):
    """Right-padded sources with lengths (the first one full), and targets ending in <eos>."""
    lengths = rng.integers(1, S + 1, size=B)
    lengths[0] = S
    src = rng.integers(3, V_src, size=(B, S))
    src[np.arange(S)[None, :] >= lengths[:, None]] = PAD
    tlen = rng.integers(1, T + 1, size=B)
    tgt = rng.integers(3, V_tgt, size=(B, T))
    tgt[np.arange(T)[None, :] == (tlen - 1)[:, None]] = EOS
    tgt[np.arange(T)[None, :] >= tlen[:, None]] = PAD
    return mg.tensor(src, device=device), lengths.tolist(), mg.tensor(tgt, device=device)


def tiny(cell="lstm", attention="dot", bidirectional=False, num_layers=1, bridge="auto", V_src=7, V_tgt=6,
         E=3, H=4, device="cpu"):
    mg.manual_seed(0)
    return Seq2Seq.build(V_src, V_tgt, E, H, num_layers=num_layers, cell=cell, bidirectional=bidirectional,
                         attention=attention, sos_idx=SOS, eos_idx=EOS, pad_idx=PAD, bridge=bridge).to(device)


# ---------------------------------------------------------------- gradients
CONFIGS = [
    dict(cell="lstm", attention="dot"),
    dict(cell="lstm", attention="general", bidirectional=True),
    dict(cell="gru", attention="additive", bidirectional=True, num_layers=2),
    dict(cell="rnn", attention=None, bidirectional=True, bridge="sum"),
    dict(cell="lstm", attention="additive", num_layers=2),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{v}" for v in c.values()))
def test_loss_gradcheck_all_parameters(device, config):
    """d loss / d every parameter (teacher forcing, padded sources) against finite differences."""
    model = tiny(**config, device=device).double()
    src, lengths, tgt = random_batch(np.random.default_rng(0), B=3, S=4, T=3, V_src=7, V_tgt=6, device=device)
    params = [p.detach().requires_grad_(True) for p in model.parameters()]

    def loss_fn(*ps):
        return call_with(model, ps, lambda: F.cross_entropy(model(src, lengths, tgt)[0], tgt, ignore_index=PAD))

    assert gradcheck(loss_fn, *params, mode="directional", n_directions=2, atol=1e-6, rtol=1e-4)


def test_free_running_loss_gradcheck(device):
    """teacher_forcing_ratio=0 (the step-by-step path, feeding back the argmax) is differentiable too."""
    model = tiny(cell="lstm", attention="general", bidirectional=True, device=device).double()
    src, lengths, tgt = random_batch(np.random.default_rng(1), B=2, S=4, T=3, V_src=7, V_tgt=6, device=device)
    params = [p.detach().requires_grad_(True) for p in model.parameters()]

    def loss_fn(*ps):
        return call_with(model, ps, lambda: F.cross_entropy(
            model(src, lengths, tgt, teacher_forcing_ratio=0.0)[0], tgt, ignore_index=PAD))

    assert gradcheck(loss_fn, *params, mode="directional", n_directions=2, atol=1e-6, rtol=1e-4)


def test_every_parameter_gets_a_gradient():
    model = tiny(cell="lstm", attention="additive", bidirectional=True, num_layers=2)
    src, lengths, tgt = random_batch(np.random.default_rng(2), B=4, S=5, T=4, V_src=7, V_tgt=6)
    logits, weights = model(src, lengths, tgt)
    F.cross_entropy(logits, tgt, ignore_index=PAD).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape and p.grad.dtype == p.dtype, name
        assert np.abs(p.grad.numpy()).sum() > 0, f"{name} got an all-zero gradient"


# ---------------------------------------------------------------- padding
@pytest.mark.parametrize("attention", ["dot", "general", "additive"])
def test_padded_encoder_positions_get_zero_weight_and_zero_gradient(device, attention):
    model = tiny(attention=attention, bidirectional=attention != "dot", device=device)
    src, lengths, tgt = random_batch(np.random.default_rng(3), B=4, S=6, T=4, V_src=7, V_tgt=6, device=device)
    memory, state = model.encode(src, lengths)
    memory.outputs.retain_grad()
    dec_in = F.cat([mg.full((4, 1), SOS, dtype=mg.int64, device=device), tgt[:, :-1]], dim=1)
    logits, _, weights = model.decoder(dec_in, state, memory)
    F.cross_entropy(logits, tgt, ignore_index=PAD).backward()
    pad = np.arange(6)[None, :] >= np.array(lengths)[:, None]  # (B, S)
    assert pad.any()
    w = weights.numpy()  # (B, T, S)
    assert np.all(w.transpose(0, 2, 1)[pad] == 0.0)
    g = memory.outputs.grad.numpy()  # (B, S, H)
    assert np.all(g[pad] == 0.0), "gradient reached a padded encoder output"
    assert np.abs(g[~pad]).sum() > 0


def test_padding_tokens_do_not_change_the_output():
    model = tiny(cell="gru", attention="general", bidirectional=True)
    src, lengths, tgt = random_batch(np.random.default_rng(4), B=4, S=6, T=4, V_src=7, V_tgt=6)
    logits1, w1 = model(src, lengths, tgt)
    junk = src.numpy().copy()
    pad = np.arange(6)[None, :] >= np.array(lengths)[:, None]
    junk[pad] = 5  # real tokens where the padding was: must be ignored
    logits2, w2 = model(mg.tensor(junk), lengths, tgt)
    np.testing.assert_allclose(logits1.numpy(), logits2.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(w1.numpy(), w2.numpy())


# ---------------------------------------------------------------- teacher forcing
def test_teacher_forced_sequence_equals_step_by_step_decoding():
    """The one-call fast path and the decoder run one token at a time with carried state agree."""
    model = tiny(cell="lstm", attention="additive", num_layers=2)
    src, lengths, tgt = random_batch(np.random.default_rng(5), B=3, S=5, T=4, V_src=7, V_tgt=6)
    logits, weights = model(src, lengths, tgt)
    memory, state = model.encode(src, lengths)
    dec_in = np.concatenate([np.full((3, 1), SOS), tgt.numpy()[:, :-1]], axis=1)
    steps, ws = [], []
    for t in range(4):
        lg, state, w = model.decoder(mg.tensor(dec_in[:, t:t + 1]), state, memory)
        steps.append(lg.numpy())
        ws.append(w.numpy())
    np.testing.assert_allclose(logits.numpy(), np.concatenate(steps, axis=1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(weights.numpy(), np.concatenate(ws, axis=1), rtol=1e-5, atol=1e-6)


def test_free_running_follows_the_models_own_predictions():
    """teacher_forcing_ratio=0 feeds back argmax: its predictions equal greedy decoding's up to <eos>."""
    model = tiny(cell="gru", attention="dot")
    src, lengths, tgt = random_batch(np.random.default_rng(6), B=5, S=5, T=6, V_src=7, V_tgt=6)
    logits, _ = model(src, lengths, tgt, teacher_forcing_ratio=0.0)
    free = logits.numpy().argmax(-1)
    out = model.greedy_decode(src, lengths, max_len=6)
    toks = out.tokens.numpy()
    for b, n in enumerate(out.lengths):
        k = min(n + 1, 6, toks.shape[1])  # through <eos>
        np.testing.assert_array_equal(free[b, :k], toks[b, :k])


def test_partial_teacher_forcing_is_seeded_and_between_the_extremes():
    model = tiny(cell="lstm", attention="dot")
    src, lengths, tgt = random_batch(np.random.default_rng(7), B=16, S=5, T=5, V_src=7, V_tgt=6)
    mg.manual_seed(3)
    a, _ = model(src, lengths, tgt, teacher_forcing_ratio=0.5)
    mg.manual_seed(3)
    b, _ = model(src, lengths, tgt, teacher_forcing_ratio=0.5)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    full, _ = model(src, lengths, tgt)
    free, _ = model(src, lengths, tgt, teacher_forcing_ratio=0.0)
    # step 0 always reads <sos>; later steps differ from at least one extreme somewhere
    np.testing.assert_allclose(a.numpy()[:, 0], full.numpy()[:, 0], rtol=1e-6)
    assert not np.allclose(a.numpy(), full.numpy()) or not np.allclose(a.numpy(), free.numpy())
    with pytest.raises(ValueError, match="teacher_forcing_ratio"):
        model(src, lengths, tgt, teacher_forcing_ratio=1.5)


# ---------------------------------------------------------------- decoding
@pytest.mark.parametrize("config", [dict(cell="lstm", attention="dot"),
                                    dict(cell="gru", attention="additive", bidirectional=True, num_layers=2),
                                    dict(cell="rnn", attention=None)])
def test_beam_width_one_equals_greedy(device, config):
    model = tiny(**config, V_tgt=5, device=device)
    # a large bias on <eos> makes some sequences stop early and others run to max_len
    with mg.no_grad():
        model.decoder.out.bias.data[EOS] += 0.3
    src, lengths, _ = random_batch(np.random.default_rng(8), B=8, S=5, T=3, V_src=7, V_tgt=5, device=device)
    g = model.greedy_decode(src, lengths, max_len=7)
    b = model.beam_search(src, lengths, beam_width=1, max_len=7)
    np.testing.assert_array_equal(g.tokens.numpy(), b.tokens.numpy())
    assert g.lengths == b.lengths
    np.testing.assert_allclose(g.scores.numpy(), b.scores.numpy(), rtol=1e-12)
    if g.attention is not None:
        np.testing.assert_allclose(g.attention.numpy(), b.attention.numpy(), rtol=1e-6)
        assert g.attention.shape == (8, g.tokens.shape[1], 5)


def table_model(probs):
    """A Seq2Seq whose next-token distribution depends only on the previous token: probs[prev] (V x V).

    Decoder: identity embedding -> ReLU RNN with W_ih = I, W_hh = 0 (so h = onehot(prev)) ->
    output layer W = log(probs).T, hence logits = log probs[prev]. The encoder is irrelevant.
    """
    V = probs.shape[0]
    mg.manual_seed(0)
    enc = Encoder(3, 2, V, cell="rnn")
    dec = Decoder(V, V, V, cell="rnn")
    dec.rnn = models.RNN(V, V, nonlinearity="relu", batch_first=True)
    with mg.no_grad():
        dec.embedding.weight.data[...] = np.eye(V, dtype=np.float32)
        dec.rnn.weight_ih_l0.data[...] = np.eye(V, dtype=np.float32)
        for p in (dec.rnn.weight_hh_l0, dec.rnn.bias_ih_l0, dec.rnn.bias_hh_l0, dec.out.bias):
            p.data[...] = 0
        dec.out.weight.data[...] = np.log(probs).T.astype(np.float32)
    return Seq2Seq(enc, dec, sos_idx=SOS, eos_idx=EOS, pad_idx=PAD)


def _probs(rows, V=5):
    """Rows {prev: {next: p}}; unspecified entries get a tiny probability; rows normalised."""
    P = np.full((V, V), 1e-6)
    for prev, nxt in rows.items():
        for tok, p in nxt.items():
            P[prev, tok] = p
    return P / P.sum(axis=1, keepdims=True)


A, B_ = 3, 4  # the two ordinary tokens


def test_beam_search_beats_greedy_on_a_hand_built_decoder():
    # From <sos>: A (0.55) looks better than B (0.45), but after A every continuation is weak
    # (<eos> 0.34), while after B <eos> is almost certain (0.9): P(A eos) = 0.187 < P(B eos) = 0.405.
    model = table_model(_probs({SOS: {A: 0.55, B_: 0.45}, A: {EOS: 0.34, A: 0.33, B_: 0.33},
                                B_: {EOS: 0.9, A: 0.05, B_: 0.05}}))
    src = mg.tensor([[1, 2], [2, 1]])
    greedy = model.greedy_decode(src, [2, 1], max_len=5)
    beam = model.beam_search(src, [2, 1], beam_width=2, max_len=5)
    assert greedy.tokens.numpy().tolist() == [[A, EOS], [A, EOS]]
    assert beam.tokens.numpy().tolist() == [[B_, EOS], [B_, EOS]]
    assert beam.lengths == [1, 1]
    np.testing.assert_allclose(greedy.scores.numpy(), math.log(0.55 * 0.34), rtol=1e-4)
    np.testing.assert_allclose(beam.scores.numpy(), math.log(0.45 * 0.9), rtol=1e-4)
    assert beam.attention is None


def test_length_penalty_prefers_longer_hypotheses():
    # "<eos>" right away (0.55) beats "A <eos>" (0.45 * 0.99 = 0.4455) on raw log-probability,
    # but with GNMT's length penalty alpha = 3 the longer one wins: log(0.4455) / (7/6)^3 > log(0.55) / 1.
    model = table_model(_probs({SOS: {EOS: 0.55, A: 0.45}, A: {EOS: 0.99}}))
    src = mg.tensor([[1, 2]])
    raw = model.beam_search(src, None, beam_width=2, max_len=4, length_penalty=0.0)
    pen = model.beam_search(src, None, beam_width=2, max_len=4, length_penalty=3.0)
    assert raw.tokens.numpy().tolist() == [[EOS]] and raw.lengths == [0]  # done at once: nothing can beat it
    assert pen.tokens.numpy().tolist() == [[A, EOS]] and pen.lengths == [1]


def test_decoding_stops_at_eos_and_pads_after_it():
    # <sos> -> A -> <eos> almost surely: every sequence stops after 2 tokens, long before max_len.
    model = table_model(_probs({SOS: {A: 0.99}, A: {EOS: 0.99}, B_: {EOS: 0.99}}))
    src = mg.tensor([[1, 2, 1]] * 3)
    for out in (model.greedy_decode(src, max_len=20), model.beam_search(src, beam_width=3, max_len=20)):
        assert out.tokens.shape == (3, 2)
        assert out.tokens.numpy().tolist() == [[A, EOS]] * 3
        assert out.lengths == [1, 1, 1]
    # without <eos> within max_len, the output is cut at max_len
    loop = table_model(_probs({SOS: {A: 0.99}, A: {A: 0.99}}))
    out = loop.greedy_decode(src, max_len=4)
    assert out.tokens.numpy().tolist() == [[A] * 4] * 3 and out.lengths == [4, 4, 4]


def test_beam_search_is_batched_consistently():
    """Decoding a batch gives the same result per source as decoding each source alone."""
    model = tiny(cell="lstm", attention="general", bidirectional=True, V_tgt=6)
    with mg.no_grad():
        model.decoder.out.bias.data[EOS] += 0.5
    src, lengths, _ = random_batch(np.random.default_rng(9), B=4, S=5, T=3, V_src=7, V_tgt=6)
    batch = model.beam_search(src, lengths, beam_width=3, max_len=6, length_penalty=0.6)
    for b in range(4):
        n = lengths[b]
        one = model.beam_search(src[b:b + 1, :n], [n], beam_width=3, max_len=6, length_penalty=0.6)
        k = one.tokens.shape[1]
        np.testing.assert_array_equal(batch.tokens.numpy()[b, :k], one.tokens.numpy()[0])
        assert batch.lengths[b] == one.lengths[0]
        np.testing.assert_allclose(batch.attention.numpy()[b, :k, :n], one.attention.numpy()[0], rtol=1e-5,
                                   atol=1e-6)


def test_wider_beams_never_score_worse_than_greedy():
    model = tiny(cell="gru", attention="dot", V_tgt=6)
    with mg.no_grad():
        model.decoder.out.bias.data[EOS] += 1.0
    src, lengths, _ = random_batch(np.random.default_rng(10), B=6, S=5, T=3, V_src=7, V_tgt=6)
    g = model.greedy_decode(src, lengths, max_len=8)
    b = model.beam_search(src, lengths, beam_width=4, max_len=8)
    finished = np.array(g.lengths) < 8
    assert np.all(b.scores.numpy()[finished] >= g.scores.numpy()[finished] - 1e-9)


# ---------------------------------------------------------------- learning
def test_tiny_model_learns_one_digit_addition():
    """All 100 problems a+b (a, b < 10), trained and decoded greedily: 100% exact match within seconds."""
    chars = "0123456789+"
    stoi = {c: i + 3 for i, c in enumerate(chars)}
    itos = {i: c for c, i in stoi.items()}
    probs = [(a, b) for a in range(10) for b in range(10)]
    srcs = [f"{a}+{b}"[::-1] for a, b in probs]
    tgts = [str(a + b)[::-1] for a, b in probs]
    src = mg.tensor(np.array([[stoi[c] for c in s] for s in srcs]))  # all length 3: no padding needed
    tgt_np = np.zeros((100, 3), dtype=np.int64)
    for i, t in enumerate(tgts):
        tgt_np[i, :len(t) + 1] = [stoi[c] for c in t] + [EOS]
    tgt = mg.tensor(tgt_np)
    mg.manual_seed(0)
    model = Seq2Seq.build(14, 14, 16, 48, attention="dot", sos_idx=SOS, eos_idx=EOS, pad_idx=PAD)
    opt = mg.optim.Adam(model.parameters(), lr=1e-2)
    acc = 0.0
    for step in range(1, 601):
        loss = F.cross_entropy(model(src, None, tgt)[0], tgt, ignore_index=PAD)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 25 == 0:
            out = model.greedy_decode(src, None, max_len=3)
            pred = ["".join(itos[t] for t in row[:n])[::-1] for row, n in zip(out.tokens.numpy(), out.lengths)]
            acc = np.mean([p == str(a + b) for p, (a, b) in zip(pred, probs)])
            if acc == 1.0:
                break
    assert acc == 1.0, f"exact match {acc:.2f} after {step} steps"


# ---------------------------------------------------------------- bridge and configuration
def test_bridge_modes_shapes_and_values():
    h = mg.randn(2 * 2, 3, 5)  # (L * D, B, H) for L = 2 layers, D = 2 directions
    c = mg.randn(4, 3, 5)
    lin = Bridge(2, 5, 7, bidirectional=True, num_states=2)
    h0, c0 = lin((h, c))
    assert h0.shape == (2, 3, 7) and c0.shape == (2, 3, 7)
    assert np.abs(h0.numpy()).max() <= 1.0  # tanh
    # layer 1's input to the projection is [h_fwd(l1); h_bwd(l1)] = [h[2]; h[3]]
    expect = np.tanh(np.concatenate([h.numpy()[2], h.numpy()[3]], -1) @ lin.h_proj.weight.numpy().T
                     + lin.h_proj.bias.numpy())
    np.testing.assert_allclose(h0.numpy()[1], expect, rtol=1e-5, atol=1e-6)
    s = Bridge(2, 5, 5, bidirectional=True, num_states=1, mode="sum")(h)
    np.testing.assert_allclose(s.numpy(), h.numpy()[[0, 2]] + h.numpy()[[1, 3]], rtol=1e-6)
    assert Bridge(1, 5, 5, bidirectional=False, num_states=1).mode == "identity"
    with pytest.raises(ValueError, match="'sum' needs H_enc == H_dec"):
        Bridge(1, 5, 6, bidirectional=True, num_states=1, mode="sum")


def test_configuration_errors_are_clear():
    enc = Encoder(5, 3, 4, cell="lstm", bidirectional=True)
    with pytest.raises(ValueError, match="same cell type"):
        Seq2Seq(enc, Decoder(5, 3, 4, cell="gru"), SOS, EOS)
    with pytest.raises(ValueError, match="same num_layers"):
        Seq2Seq(enc, Decoder(5, 3, 4, num_layers=2), SOS, EOS)
    with pytest.raises(ValueError, match="expects keys of width"):
        Seq2Seq(enc, Decoder(5, 3, 4, attention="general", encoder_size=4), SOS, EOS)
    with pytest.raises(ValueError, match="query_size == key_size"):
        Decoder(5, 3, 4, attention="dot", encoder_size=8)
    with pytest.raises(ValueError, match="cell must be one of"):
        Encoder(5, 3, 4, cell="transformer")
    with pytest.raises(ValueError, match="eos_idx"):
        Seq2Seq(Encoder(5, 3, 4), Decoder(5, 3, 4), SOS, 9)
    model = tiny()
    src = mg.tensor([[3, 4, 5]])
    with pytest.raises(ValueError, match="source length must be in"):
        model.greedy_decode(src, [4])
    with pytest.raises(ValueError, match="integer tensor of shape"):
        model.greedy_decode(mg.randn(1, 3))
    with pytest.raises(ValueError, match="beam_width"):
        model.beam_search(src, beam_width=0)


# ---------------------------------------------------------------- torch parity
def test_matches_torch_bidirectional_general_attention():
    """Logits and every parameter's gradient equal a torch implementation of the same model."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    model = tiny(cell="lstm", attention="general", bidirectional=True, V_src=7, V_tgt=6, E=3, H=4)
    src, lengths, tgt = random_batch(np.random.default_rng(11), B=4, S=5, T=4, V_src=7, V_tgt=6)
    logits, weights = model(src, lengths, tgt)
    F.cross_entropy(logits, tgt, ignore_index=PAD).backward()

    P = {n: torch.tensor(p.numpy(), requires_grad=True) for n, p in model.named_parameters()}
    enc = nn.LSTM(3, 4, batch_first=True, bidirectional=True)
    dec = nn.LSTM(3, 4, batch_first=True)
    for mod, prefix in ((enc, "encoder.rnn."), (dec, "decoder.rnn.")):
        for name in [n for n, _ in mod.named_parameters()]:
            delattr(mod, name)
            setattr(mod, name, P[prefix + name])  # the LSTM modules read our leaf tensors
        mod._flat_weights = [getattr(mod, n) for n in mod._flat_weights_names]
    s, t = torch.tensor(src.numpy()), torch.tensor(tgt.numpy())
    x = torch.nn.functional.embedding(s, P["encoder.embedding.weight"], padding_idx=PAD)
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, (h, c) = enc(packed)
    out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=5)
    h0 = torch.tanh(torch.cat([h[0], h[1]], -1) @ P["bridge.h_proj.weight"].T + P["bridge.h_proj.bias"])[None]
    c0 = (torch.cat([c[0], c[1]], -1) @ P["bridge.c_proj.weight"].T + P["bridge.c_proj.bias"])[None]
    dec_in = torch.cat([torch.full((4, 1), SOS), t[:, :-1]], 1)
    y, _ = dec(torch.nn.functional.embedding(dec_in, P["decoder.embedding.weight"], padding_idx=PAD), (h0, c0))
    keys = out @ P["decoder.attention.W.weight"].T
    mask = torch.arange(5)[None, :] < torch.tensor(lengths)[:, None]
    w = (y @ keys.transpose(1, 2)).masked_fill(~mask[:, None, :], float("-inf")).softmax(-1)
    h_att = torch.tanh(torch.cat([w @ out, y], -1) @ P["decoder.combine.weight"].T + P["decoder.combine.bias"])
    lt = h_att @ P["decoder.out.weight"].T + P["decoder.out.bias"]
    torch.nn.functional.cross_entropy(lt.reshape(-1, 6), t.reshape(-1), ignore_index=PAD).backward()
    np.testing.assert_allclose(logits.numpy(), lt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(weights.numpy(), w.detach().numpy(), rtol=1e-5, atol=1e-6)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), P[name].grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
