"""F.scaled_dot_product_attention and nn.MultiheadAttention: values against a NumPy reference,
gradients against finite differences (Hypothesis), torch parity (outputs, weights and every
gradient, all mask kinds), masks without infinities, and clear errors.

Both are composed from ops (matmul, softmax, where), so there is no new Function here:
these tests check the composition.
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad import nn
from minigrad.testing import gradcheck

from opcheck import call_with, check_op, draw_array


# ---------------------------------------------------------------- scaled_dot_product_attention
def np_sdpa(q, k, v, allowed=None, additive=None, scale=None):
    """The reference in NumPy float64: masked scores at -inf, softmax, weighted sum; a row with every
    key masked gets weight 0 (torch's function)."""
    s = q @ np.swapaxes(k, -1, -2) * (1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    if additive is not None:
        s = s + additive
    if allowed is not None:
        s = np.where(allowed, s, -np.inf)
    top = s.max(axis=-1, keepdims=True)
    w = np.exp(s - np.where(np.isfinite(top), top, 0.0))
    total = w.sum(axis=-1, keepdims=True)
    return np.where(total > 0, w / np.where(total > 0, total, 1.0), 0.0) @ v


@st.composite
def sdpa_case(draw):
    """Shapes with broadcasting batch dims, and a mask (sometimes with queries that may attend to nothing)."""
    L, S, E, Ev = (draw(st.integers(1, 4)) for _ in range(4))
    batch = draw(st.lists(st.integers(1, 2), max_size=2))
    kbatch = [draw(st.sampled_from([b, 1])) for b in batch]  # key/value batch dims broadcast
    kind = draw(st.sampled_from(["none", "bool", "float", "causal"]))
    mask = None
    if kind in ("bool", "float"):
        allowed = np.array(draw(st.lists(st.booleans(), min_size=L * S, max_size=L * S))).reshape(L, S)
        if draw(st.booleans()):  # else some rows may be empty
            allowed[np.arange(L), draw(st.lists(st.integers(0, S - 1), min_size=L, max_size=L))] = True
        mask = allowed if kind == "bool" else np.where(allowed, 0.5, -np.inf)
    scale = draw(st.sampled_from([None, 0.3]))
    return batch, kbatch, L, S, E, Ev, kind, mask, scale


@given(data=st.data(), case=sdpa_case())
def test_sdpa_values_and_gradients(device, data, case):
    batch, kbatch, L, S, E, Ev, kind, mask, scale = case
    arrays = [draw_array(data, tuple(batch) + (L, E), device), draw_array(data, tuple(kbatch) + (S, E), device),
              draw_array(data, tuple(kbatch) + (S, Ev), device)]
    if kind == "causal":
        allowed, additive = np.tril(np.ones((L, S), bool)), None
    else:
        allowed = mask if kind == "bool" else None
        additive = mask if kind == "float" else None

    def fn(q, k, v):
        m = None
        if mask is not None:
            m = mg.tensor(mask, device=device)
            m = m if m.dtype == np.bool_ else m.to(q.dtype)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=kind == "causal", scale=scale)

    check_op(fn, lambda q, k, v: np_sdpa(q, k, v, allowed, additive, scale), arrays, device)


def test_sdpa_matches_torch_including_an_empty_row():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 6))
    allowed = rng.random((3, 5)) < 0.6
    allowed[1] = False  # query 1 may attend to nothing: zeros in both (torch 2.13's "safe softmax")
    for mask_kind in ("bool", "float", "causal", None):
        mq, mk, mv = (mg.tensor(a, requires_grad=True) for a in (q, k, v))
        tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
        kw_m, kw_t = {}, {}
        if mask_kind == "bool":
            kw_m["attn_mask"], kw_t["attn_mask"] = mg.tensor(allowed), torch.tensor(allowed)
        elif mask_kind == "float":
            fm = np.where(allowed, 0.25, -np.inf)
            kw_m["attn_mask"], kw_t["attn_mask"] = mg.tensor(fm), torch.tensor(fm)
        elif mask_kind == "causal":
            kw_m["is_causal"] = kw_t["is_causal"] = True
        mo = F.scaled_dot_product_attention(mq, mk, mv, **kw_m)
        to = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, **kw_t)
        np.testing.assert_allclose(mo.numpy(), to.detach().numpy(), rtol=1e-12, atol=1e-12)
        if mask_kind in ("bool", "float"):
            assert not mo.numpy()[:, 1].any()
        g = rng.standard_normal(to.shape)
        (mo * mg.tensor(g)).sum().backward()
        (to * torch.tensor(g)).sum().backward()
        for a, b in ((mq, tq), (mk, tk), (mv, tv)):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_sdpa_errors():
    q = mg.randn(2, 3, 4)
    with pytest.raises(ValueError, match="scaled_dot_product_attention: query .* and key .* same feature size"):
        F.scaled_dot_product_attention(q, mg.randn(2, 5, 3), mg.randn(2, 5, 3))
    with pytest.raises(ValueError, match="key .* and value .* same length S"):
        F.scaled_dot_product_attention(q, mg.randn(2, 5, 4), mg.randn(2, 4, 4))
    with pytest.raises(ValueError, match="either attn_mask or is_causal"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=mg.ones(3, 3, dtype="bool"), is_causal=True)
    with pytest.raises(ValueError, match="attn_mask bool\\[4, 4\\] on cpu does not broadcast .* \\(2, 3, 3\\)"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=mg.ones(4, 4, dtype="bool"))
    with pytest.raises(TypeError, match="attn_mask must be bool or float32"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=mg.ones(3, 3, dtype="int64"))
    with pytest.raises(TypeError, match="query must be floating point"):
        F.scaled_dot_product_attention(mg.ones(3, 4, dtype="int64"), q, q)
    with pytest.raises(ValueError, match="at least 2 dims"):
        F.scaled_dot_product_attention(mg.randn(4), q, q)
    with pytest.raises(ValueError, match="dropout_p must be a number in \\[0, 1\\]"):
        F.scaled_dot_product_attention(q, q, q, dropout_p=1.5)


def test_masked_attention_has_no_infinities_so_anomaly_mode_is_quiet():
    q = mg.randn(1, 3, 4, requires_grad=True)
    with mg.detect_anomaly():
        F.scaled_dot_product_attention(q, q, q, is_causal=True).sum().backward()
        F.scaled_dot_product_attention(q, q, q, attn_mask=mg.tensor(np.triu(np.full((3, 3), -np.inf, np.float32), 1)))
    assert np.isfinite(q.grad.numpy()).all()


# ---------------------------------------------------------------- nn.MultiheadAttention
CONFIGS = [dict(), dict(batch_first=True), dict(kdim=5, vdim=3), dict(add_bias_kv=True), dict(add_zero_attn=True),
           dict(bias=False), dict(add_bias_kv=True, add_zero_attn=True, batch_first=True)]
MASKS = ["none", "bool", "float", "per-head", "heads-unaveraged"]


def _inputs(rng, N, L, S, E, kdim, vdim, batch_first):
    shape = (lambda T, D: (N, T, D)) if batch_first else (lambda T, D: (T, N, D))
    return rng.standard_normal(shape(L, E)), rng.standard_normal(shape(S, kdim)), rng.standard_normal(shape(S, vdim))


def _masks(rng, kind, N, H, L, S):
    """(key_padding_mask, attn_mask) as NumPy arrays in torch's convention (bool: True = masked)."""
    kpm = np.zeros((N, S), bool)
    kpm[:, -1] = [True, False][:N]  # the first sequence is padded by one
    causal = np.triu(np.ones((L, S), bool), 1)
    if kind == "none":
        return None, None
    if kind in ("bool", "heads-unaveraged"):
        return kpm, causal
    if kind == "float":
        return np.where(kpm, -np.inf, 0.1 * rng.standard_normal((N, S))), np.where(causal, -np.inf, 0.2)
    per_head = rng.random((N * H, L, S)) < 0.4  # a 3-D mask, one (L, S) per sequence and head
    per_head[..., 0] = False  # key 0 stays visible (empty rows: test_a_query_with_no_key_is_nan_as_torch)
    return kpm, per_head


@pytest.mark.parametrize("mask_kind", MASKS)
@pytest.mark.parametrize("cfg", CONFIGS, ids=[",".join(f"{k}={v}" for k, v in c.items()) or "default" for c in CONFIGS])
def test_multihead_attention_matches_torch(cfg, mask_kind):
    torch = pytest.importorskip("torch")
    E, H, L, S, N = 6, 2, 3, 4, 2
    t = torch.nn.MultiheadAttention(E, H, dtype=torch.float64, **cfg)
    m = nn.MultiheadAttention(E, H, dtype="float64", **cfg)
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]
    m.load_state_dict(t.state_dict())
    rng = np.random.default_rng(1)
    arrays = _inputs(rng, N, L, S, E, cfg.get("kdim", E), cfg.get("vdim", E), cfg.get("batch_first", False))
    kpm, am = _masks(rng, mask_kind, N, H, L, S)
    kw = dict(average_attn_weights=mask_kind != "heads-unaveraged")
    mx = [mg.tensor(a, requires_grad=True) for a in arrays]
    tx = [torch.tensor(a, requires_grad=True) for a in arrays]
    mo, mw = m(*mx, key_padding_mask=None if kpm is None else mg.tensor(kpm),
               attn_mask=None if am is None else mg.tensor(am), **kw)
    to, tw = t(*tx, key_padding_mask=None if kpm is None else torch.tensor(kpm),
               attn_mask=None if am is None else torch.tensor(am), **kw)
    np.testing.assert_allclose(mo.numpy(), to.detach().numpy(), rtol=1e-12, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(mw.numpy(), tw.detach().numpy(), rtol=1e-12, atol=1e-12, equal_nan=True)
    go, gw = rng.standard_normal(to.shape), rng.standard_normal(tw.shape)
    ((mo * mg.tensor(go)).sum() + (mw * mg.tensor(gw)).sum()).backward()
    ((to * torch.tensor(go)).sum() + (tw * torch.tensor(gw)).sum()).backward()
    pairs = list(zip(mx, tx)) + [(a, b) for (_, a), (_, b) in zip(m.named_parameters(), t.named_parameters())]
    for a, b in pairs:
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_a_query_with_no_key_is_nan_as_torch():
    torch = pytest.importorskip("torch")
    t = torch.nn.MultiheadAttention(4, 2, dtype=torch.float64)
    m = nn.MultiheadAttention(4, 2, dtype="float64")
    m.load_state_dict(t.state_dict())
    x = np.random.default_rng(3).standard_normal((3, 2, 4))
    mask = np.zeros((3, 3), bool)
    mask[1] = True  # query 1 may not attend to anything
    mo, mw = m(mg.tensor(x), mg.tensor(x), mg.tensor(x), attn_mask=mg.tensor(mask))
    to, tw = t(*(torch.tensor(x),) * 3, attn_mask=torch.tensor(mask))
    assert np.isnan(mo.numpy()[1]).all() and np.isfinite(mo.numpy()[[0, 2]]).all()
    np.testing.assert_allclose(mo.numpy(), to.detach().numpy(), rtol=1e-12, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(mw.numpy(), tw.detach().numpy(), rtol=1e-12, atol=1e-12, equal_nan=True)


def test_unbatched_input_and_state_dict_both_ways():
    torch = pytest.importorskip("torch")
    m = nn.MultiheadAttention(4, 2, kdim=3, vdim=5)
    t = torch.nn.MultiheadAttention(4, 2, kdim=3, vdim=5)
    t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in m.state_dict().items()})  # ours -> torch
    rng = np.random.default_rng(2)
    q, k, v = (rng.standard_normal(s).astype(np.float32) for s in ((3, 4), (5, 3), (5, 5)))
    kpm = np.array([False, False, False, True, True])
    mo, mw = m(mg.tensor(q), mg.tensor(k), mg.tensor(v), key_padding_mask=mg.tensor(kpm))
    to, tw = t(torch.tensor(q), torch.tensor(k), torch.tensor(v), key_padding_mask=torch.tensor(kpm))
    assert mo.shape == (3, 4) and mw.shape == (3, 5) and mo.dtype == np.float32
    np.testing.assert_allclose(mo.numpy(), to.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mw.numpy(), tw.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert np.all(mw.numpy()[:, 3:] == 0)  # padded keys get exactly zero weight


def test_init_follows_torch():
    m = nn.MultiheadAttention(8, 4)
    bound = math.sqrt(6 / (8 + 24))  # xavier_uniform_ on (3E, E)
    assert np.abs(m.in_proj_weight.numpy()).max() <= bound
    assert not m.in_proj_bias.numpy().any() and not m.out_proj.bias.numpy().any()
    assert m.in_proj_weight.dtype == np.float32 and m.head_dim == 2
    assert "embed_dim=8, num_heads=4" in repr(m)


@st.composite
def mha_case(draw):
    H = draw(st.integers(1, 2))
    E = H * draw(st.integers(1, 2))
    return dict(E=E, H=H, L=draw(st.integers(1, 3)), S=draw(st.integers(1, 3)), N=draw(st.integers(1, 2)),
                batch_first=draw(st.booleans()), kdim=draw(st.sampled_from([None, 2])),
                bias_kv=draw(st.booleans()), zero_attn=draw(st.booleans()), masked=draw(st.booleans()))


@given(case=mha_case(), seed=st.integers(0, 2 ** 16))
def test_multihead_attention_gradcheck(device, case, seed):
    c = case
    m = nn.MultiheadAttention(c["E"], c["H"], kdim=c["kdim"], vdim=c["kdim"], batch_first=c["batch_first"],
                              add_bias_kv=c["bias_kv"], add_zero_attn=c["zero_attn"], device=device, dtype="float64")
    rng = np.random.default_rng(seed)
    kd = c["kdim"] or c["E"]
    arrays = _inputs(rng, c["N"], c["L"], c["S"], c["E"], kd, kd, c["batch_first"])
    xs = [mg.tensor(a, device=device, requires_grad=True) for a in arrays]
    kpm = None
    if c["masked"]:  # pad all but the first key of each sequence at random
        pad = rng.random((c["N"], c["S"])) < 0.5
        pad[:, 0] = False
        kpm = mg.tensor(pad, device=device)
    params = [mg.tensor(p.numpy(), device=device, requires_grad=True) for p in m.parameters()]

    def fn(*args):
        q, k, v, *ps = args
        return call_with(m, ps, lambda: m(q, k, v, key_padding_mask=kpm))

    gradcheck(fn, *xs, *params)


def test_dropout_only_in_training():
    mg.manual_seed(0)
    m = nn.MultiheadAttention(4, 1, dropout=0.5)
    x = mg.randn(3, 2, 4)
    _, w_train = m(x, x, x)
    kept = w_train.numpy()[w_train.numpy() != 0]
    assert (w_train.numpy() == 0).any() and kept.size
    m.eval()
    _, w_eval = m(x, x, x)
    np.testing.assert_allclose(w_eval.numpy().sum(-1), 1.0, rtol=1e-6)
    assert m(x, x, x, need_weights=False)[1] is None


def test_multihead_attention_errors():
    with pytest.raises(ValueError, match="embed_dim must be divisible by num_heads, got 6 and 4"):
        nn.MultiheadAttention(6, 4)
    m = nn.MultiheadAttention(4, 2)
    x = mg.randn(3, 2, 4)
    with pytest.raises(ValueError, match="query must have 4 features in its last dim, got float32\\[3, 2, 5\\]"):
        m(mg.randn(3, 2, 5), x, x)
    with pytest.raises(ValueError, match="all be 3-D \\(batched\\) or all 2-D"):
        m(x, mg.randn(3, 4), x)
    with pytest.raises(ValueError, match="key_padding_mask must have shape \\(2, 3\\)"):
        m(x, x, x, key_padding_mask=mg.ones(3, 2, dtype="bool"))
    with pytest.raises(ValueError, match="attn_mask must have shape \\(3, 3\\) or \\(4, 3, 3\\)"):
        m(x, x, x, attn_mask=mg.ones(2, 3, 3, dtype="bool"))
    with pytest.raises(TypeError, match="attn_mask must be bool or floating point, got int64"):
        m(x, x, x, attn_mask=mg.ones(3, 3, dtype="int64"))
    with pytest.raises(RuntimeError, match="is_causal=True is a hint"):
        m(x, x, x, is_causal=True)
    with pytest.raises(ValueError, match="different batch sizes"):
        m(x, mg.randn(3, 1, 4), mg.randn(3, 1, 4))
