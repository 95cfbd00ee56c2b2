"""Attention modules (models/attention.py): gradients, masking, shapes, errors, torch parity."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.testing import gradcheck
from models.attention import (
    AdditiveAttention, DotAttention, GeneralAttention, make_attention, masked_fill_value,
)

from opcheck import call_with

METHODS = ["dot", "general", "additive"]


def _mask(rng, B, S):
    lengths = rng.integers(1, S + 1, size=B)
    return np.arange(S)[None, :] < lengths[:, None], lengths


@st.composite
def attention_case(draw):
    return dict(
        method=draw(st.sampled_from(METHODS)),
        B=draw(st.integers(1, 3)), T=draw(st.integers(0, 3)),  # T = 0: a single (B, Hq) query
        S=draw(st.integers(1, 5)), Hq=draw(st.integers(1, 4)), Hk=draw(st.integers(1, 4)),
        Hv=draw(st.integers(1, 3)), masked=draw(st.booleans()), seed=draw(st.integers(0, 2 ** 16)),
    )


@given(attention_case())
def test_attention_gradcheck_inputs_and_parameters(device, case):
    """d context / d (query, keys, values, parameters) and d weights / d (...) match finite differences."""
    rng = np.random.default_rng(case["seed"])
    B, T, S, Hq, Hk, Hv = (case[k] for k in ("B", "T", "S", "Hq", "Hk", "Hv"))
    if case["method"] == "dot":
        Hk = Hq
    mg.manual_seed(case["seed"])
    attn = make_attention(case["method"], Hq, Hk).double().to(device)
    qshape = (B, Hq) if T == 0 else (B, T, Hq)
    q = mg.tensor(rng.standard_normal(qshape), device=device, requires_grad=True)
    k = mg.tensor(rng.standard_normal((B, S, Hk)), device=device, requires_grad=True)
    v = mg.tensor(rng.standard_normal((B, S, Hv)), device=device, requires_grad=True)
    mask = mg.tensor(_mask(rng, B, S)[0], device=device) if case["masked"] else None
    params = [p.detach().requires_grad_(True) for p in attn.parameters()]

    def fn(q, k, v, *ps):
        return call_with(attn, ps, lambda: attn(q, k, v, mask=mask))

    assert gradcheck(fn, q, k, v, *params)


@pytest.mark.parametrize("method", METHODS)
def test_padding_gets_exactly_zero_weight_and_zero_gradient(device, method):
    rng = np.random.default_rng(1)
    B, T, S, H = 3, 4, 6, 5
    attn = make_attention(method, H, H).to(device)
    mask_np, lengths = _mask(rng, B, S)
    mask_np[0, :] = True
    mask_np[1, 2:] = False  # make sure some row is really padded
    q = mg.tensor(rng.standard_normal((B, T, H)).astype(np.float32), device=device, requires_grad=True)
    k = mg.tensor(rng.standard_normal((B, S, H)).astype(np.float32) * 30, device=device, requires_grad=True)
    v = mg.tensor(rng.standard_normal((B, S, H)).astype(np.float32), device=device, requires_grad=True)
    mask = mg.tensor(mask_np, device=device)
    context, weights = attn(q, k, v, mask=mask)
    w = weights.numpy()
    pad = ~mask_np[:, None, :].repeat(T, axis=1)
    assert np.all(w[pad] == 0.0), "a padded position got a nonzero attention weight"
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-5)
    assert np.isfinite(context.numpy()).all()
    (context * mg.tensor(rng.standard_normal(context.shape).astype(np.float32), device=device)).sum().backward()
    pad_pos = ~mask_np
    assert np.all(k.grad.numpy()[pad_pos] == 0.0), "a padded key received gradient"
    assert np.all(v.grad.numpy()[pad_pos] == 0.0), "a padded value received gradient"
    assert np.abs(k.grad.numpy()[mask_np]).sum() > 0  # ...while the real ones do


@pytest.mark.parametrize("method", METHODS)
def test_padded_contents_do_not_change_the_result(method):
    rng = np.random.default_rng(2)
    B, T, S, H = 2, 3, 5, 4
    attn = make_attention(method, H, H)
    mask_np = np.array([[True] * 5, [True, True, False, False, False]])
    q = mg.tensor(rng.standard_normal((B, T, H)).astype(np.float32))
    kv = rng.standard_normal((B, S, H)).astype(np.float32)
    c1, w1 = attn(q, mg.tensor(kv), mask=mg.tensor(mask_np))
    kv2 = kv.copy()
    kv2[1, 2:] = 1e4 * rng.standard_normal((3, H))  # garbage in the padding
    c2, w2 = attn(q, mg.tensor(kv2), mask=mg.tensor(mask_np))
    np.testing.assert_array_equal(w1.numpy(), w2.numpy())
    np.testing.assert_array_equal(c1.numpy(), c2.numpy())


def test_shapes_single_query_and_values_default_to_keys():
    attn = GeneralAttention(4, 6)
    q, k = mg.randn(2, 4), mg.randn(2, 5, 6)
    c, w = attn(q, k)
    assert c.shape == (2, 6) and w.shape == (2, 5)
    c, w = attn(mg.randn(2, 3, 4), k, mg.randn(2, 5, 7))
    assert c.shape == (2, 3, 7) and w.shape == (2, 3, 5)
    assert c.dtype == np.float32 and w.dtype == np.float32


def test_projected_keys_can_be_reused():
    attn = AdditiveAttention(4, 3, attn_size=5)
    q, k = mg.randn(2, 4), mg.randn(2, 6, 3)
    c1, _ = attn(q, k)
    c2, _ = attn(q, k, projected_keys=attn.project_keys(k))
    np.testing.assert_array_equal(c1.numpy(), c2.numpy())


def test_masked_fill_value_is_finite_and_softmax_safe():
    for dt in (np.float32, np.float64):
        fill = masked_fill_value(np.dtype(dt))
        assert np.isfinite(fill) and fill < -1e30
        x = mg.tensor(np.array([[fill, 3e37, -2.0]], dtype=dt))
        with np.errstate(over="raise", invalid="raise"):  # no overflow or NaN inside softmax (underflow is the point)
            y = x.softmax(-1)
        assert y.numpy()[0, 0] == 0.0


def test_errors_are_clear():
    with pytest.raises(ValueError, match="query_size == key_size"):
        DotAttention(4, 6)
    with pytest.raises(ValueError, match="method must be one of"):
        make_attention("cosine", 4)
    attn = DotAttention(4)
    k = mg.randn(2, 5, 4)
    with pytest.raises(ValueError, match="query must have shape"):
        attn(mg.randn(3, 4), k)
    with pytest.raises(ValueError, match="keys must have shape"):
        attn(mg.randn(2, 4), mg.randn(2, 5, 3))
    with pytest.raises(ValueError, match="mask must be a bool tensor of shape"):
        attn(mg.randn(2, 4), k, mask=mg.ones(2, 5))
    with pytest.raises(ValueError, match="at least one unmasked position"):
        attn(mg.randn(2, 4), k, mask=mg.tensor(np.array([[True] * 5, [False] * 5])))
    with pytest.raises(ValueError, match="values must have shape"):
        attn(mg.randn(2, 4), k, mg.randn(2, 4, 4))


@pytest.mark.parametrize("method", METHODS)
def test_matches_torch(method):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    B, T, S, Hq, Hk = 2, 3, 5, 4, 4 if method == "dot" else 6
    attn = make_attention(method, Hq, Hk)
    q_np = rng.standard_normal((B, T, Hq)).astype(np.float32)
    k_np = rng.standard_normal((B, S, Hk)).astype(np.float32)
    mask_np = np.array([[True] * 5, [True, True, True, False, False]])
    q = mg.tensor(q_np, requires_grad=True)
    k = mg.tensor(k_np, requires_grad=True)
    c, w = attn(q, k, mask=mg.tensor(mask_np))
    g = rng.standard_normal(c.shape).astype(np.float32)
    (c * mg.tensor(g)).sum().backward()

    qt = torch.tensor(q_np, requires_grad=True)
    kt = torch.tensor(k_np, requires_grad=True)
    P = {n: torch.tensor(p.numpy(), requires_grad=True) for n, p in attn.named_parameters()}
    if method == "dot":
        scores = qt @ kt.transpose(1, 2)
    elif method == "general":
        scores = qt @ (kt @ P["W.weight"].T).transpose(1, 2)
    else:
        hidden = torch.tanh((qt @ P["W_q.weight"].T).unsqueeze(2)
                            + (kt @ P["W_k.weight"].T + P["W_k.bias"]).unsqueeze(1))
        scores = hidden @ P["v"]
    scores = scores.masked_fill(~torch.tensor(mask_np)[:, None, :], float("-inf"))
    wt = scores.softmax(-1)
    ct = wt @ kt
    (ct * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(w.numpy(), wt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c.numpy(), ct.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(q.grad.numpy(), qt.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(k.grad.numpy(), kt.grad.numpy(), rtol=1e-4, atol=1e-5)
    for n, p in attn.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), P[n].grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=n)
