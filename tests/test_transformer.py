"""nn.TransformerEncoderLayer / DecoderLayer / Encoder / Decoder / Transformer: torch parity (float64,
dropout 0, train and eval mode: outputs and the gradients of the inputs and of every parameter),
both norm placements, activations, batch_first, unbatched input, every mask kind (bool / float, padding,
causal, a sequence with every key padded), deep-copied layers, state dicts both ways, a gradient
property test of one layer against finite differences, a learning smoke test and clear errors.

The layers are composed from existing modules (MultiheadAttention, Linear, LayerNorm, Dropout),
so there is no new Function here.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad import nn
from minigrad.testing import gradcheck

from opcheck import call_with

E, H, FF = 8, 2, 16  # small model for the parity tests


# ---------------------------------------------------------------- helpers
def _torch():
    return pytest.importorskip("torch")


def _mg_from_torch(tmod, mmod):
    """Load torch's weights into the minigrad module (same names and shapes, nothing missing or extra)."""
    res = mmod.load_state_dict(tmod.state_dict())
    assert list(res.missing_keys) == [] and list(res.unexpected_keys) == []
    return mmod


def _mask_pair(torch, arr, kind):
    """(torch mask, minigrad mask) from a bool array (True = not allowed), as bool or float (-inf) masks."""
    if arr is None:
        return None, None
    if kind == "float":
        arr = np.where(arr, -np.inf, 0.0)
    return torch.tensor(arr), mg.tensor(arr)


def _check_parity(torch, tmod, mmod, inputs, kwargs_t=None, kwargs_m=None, train=True, tol=1e-10):
    """Same call in torch and minigrad (float64): outputs, input gradients and every parameter's gradient."""
    tmod.train(train)
    mmod.train(train)
    tmod.zero_grad(set_to_none=True)
    mmod.zero_grad(set_to_none=True)
    tx = [torch.tensor(a, requires_grad=True) for a in inputs]
    mx = [mg.tensor(a, requires_grad=True) for a in inputs]
    ty = tmod(*tx, **(kwargs_t or {}))
    my = mmod(*mx, **(kwargs_m or {}))
    assert my.shape == tuple(ty.shape) and my.dtype == np.float64
    np.testing.assert_allclose(my.numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
    g = np.random.default_rng(7).standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(g))
    my.backward(mg.tensor(g))
    for k, (a, b) in enumerate(zip(tx, mx)):
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=tol, atol=tol, err_msg=f"input {k}")
    mparams = dict(mmod.named_parameters())
    tparams = dict(tmod.named_parameters())
    assert sorted(mparams) == sorted(tparams)
    for name, p in tparams.items():
        q = mparams[name]
        assert q.grad is not None, name
        np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=tol, atol=tol, err_msg=name)
    return my


def _layout(batch_first, L, N):
    return (N, L, E) if batch_first else (L, N, E)


def _padding(N, L, empty_row=True):
    """Key padding (True = padding): sequence 0 has its last two keys padded; the last sequence is
    entirely padding if empty_row (a query that may attend to nothing)."""
    kpm = np.zeros((N, L), bool)
    kpm[0, L - 2:] = True
    if empty_row:
        kpm[-1, :] = True
    return kpm


def _causal(L):
    return np.triu(np.ones((L, L), bool), 1)


# ---------------------------------------------------------------- encoder layer
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("train", [True, False])
def test_encoder_layer_matches_torch(norm_first, batch_first, train):
    torch = _torch()
    torch.manual_seed(0)
    kw = dict(dropout=0.0, norm_first=norm_first, batch_first=batch_first)
    t = torch.nn.TransformerEncoderLayer(E, H, FF, dtype=torch.float64, **kw)
    m = _mg_from_torch(t, nn.TransformerEncoderLayer(E, H, FF, dtype="float64", **kw))
    x = np.random.default_rng(0).standard_normal(_layout(batch_first, 5, 3))
    _check_parity(torch, t, m, [x], train=train)


@pytest.mark.parametrize("activation", ["gelu", "relu", "callable", "module"])
def test_encoder_layer_activations_match_torch(activation):
    torch = _torch()
    torch.manual_seed(1)
    act_t = {"gelu": "gelu", "relu": "relu", "callable": torch.tanh, "module": torch.nn.GELU()}[activation]
    act_m = {"gelu": "gelu", "relu": "relu", "callable": mg.tanh, "module": nn.GELU()}[activation]
    t = torch.nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, activation=act_t, dtype=torch.float64)
    m = _mg_from_torch(t, nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, activation=act_m, dtype="float64"))
    assert m.activation_relu_or_gelu == t.activation_relu_or_gelu
    x = np.random.default_rng(1).standard_normal((4, 2, E))
    _check_parity(torch, t, m, [x])


@pytest.mark.parametrize("case", ["padding_bool", "padding_float", "causal_bool", "causal_float", "both",
                                  "both_mixed", "per_head"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_masks_match_torch(case, norm_first):
    torch = _torch()
    torch.manual_seed(2)
    L, N = 5, 3
    t = torch.nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, norm_first=norm_first, dtype=torch.float64)
    m = _mg_from_torch(t, nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, norm_first=norm_first,
                                                     dtype="float64"))
    rng = np.random.default_rng(2)
    kpm = attn = None
    kpm_kind = attn_kind = "bool"
    if case.startswith("padding"):
        kpm, kpm_kind = _padding(N, L), case.split("_")[1]
    elif case.startswith("causal"):
        attn, attn_kind = _causal(L), case.split("_")[1]
    elif case in ("both", "both_mixed"):  # (mixed: a float causal mask with a bool padding mask)
        kpm, attn = _padding(N, L), _causal(L)
        attn_kind = "float" if case == "both_mixed" else "bool"
    else:  # per_head: a (N * H, L, L) mask, different for every sequence and head
        attn = rng.random((N * H, L, L)) < 0.4
        attn[:, :, 0] = False
    tk, mk = _mask_pair(torch, kpm, kpm_kind)
    ta, ma = _mask_pair(torch, attn, attn_kind)
    x = rng.standard_normal((L, N, E))
    with pytest.warns(UserWarning) if case == "both_mixed" else _no_warning():  # torch warns on mixed types
        _check_parity(torch, t, m, [x], dict(src_mask=ta, src_key_padding_mask=tk),
                      dict(src_mask=ma, src_key_padding_mask=mk))


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_encoder_layer_is_causal_hint_and_unbatched_input_match_torch():
    torch = _torch()
    torch.manual_seed(3)
    t = torch.nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, dtype=torch.float64)
    m = _mg_from_torch(t, nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, dtype="float64"))
    L = 4
    x = np.random.default_rng(3).standard_normal((L, E))  # unbatched (S, E)
    mask = nn.Transformer.generate_square_subsequent_mask(L, dtype="float64")
    tmask = torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=torch.float64)
    _check_parity(torch, t, m, [x], dict(src_mask=tmask, is_causal=True), dict(src_mask=mask, is_causal=True))
    kpm = np.array([False, False, True, True])  # unbatched padding mask (S,)
    _check_parity(torch, t, m, [x], dict(src_key_padding_mask=torch.tensor(kpm)),
                  dict(src_key_padding_mask=mg.tensor(kpm)))


def test_a_fully_padded_sequence_stays_finite_as_in_torch():
    """torch's autograd path gives a query with no allowed key an attention output of out_proj's bias
    (finite); minigrad does the same. (torch's fused no-grad inference path gives NaN there instead.)"""
    torch = _torch()
    torch.manual_seed(4)
    t = torch.nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, dtype=torch.float64)
    m = _mg_from_torch(t, nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, dtype="float64"))
    kpm = np.ones((2, 3), bool)
    x = np.random.default_rng(4).standard_normal((3, 2, E))
    y = _check_parity(torch, t, m, [x], dict(src_key_padding_mask=torch.tensor(kpm)),
                      dict(src_key_padding_mask=mg.tensor(kpm)))
    assert np.isfinite(y.numpy()).all()
    # the attention block contributes exactly out_proj.bias: the layer is norm2(z + FF(z)), z = norm1(x + b)
    with mg.no_grad():
        z = m.norm1(mg.tensor(x) + m.self_attn.out_proj.bias)
        want = m.norm2(z + m.linear2(F.relu(m.linear1(z))))
    np.testing.assert_allclose(y.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)


def test_eval_matches_torch_fused_inference_path():
    """torch's no-grad eval path (batch_first, even heads) is a fused kernel; on ordinary masks it agrees."""
    torch = _torch()
    torch.manual_seed(5)
    t = torch.nn.TransformerEncoderLayer(E, H, FF, batch_first=True).eval()  # float32, dropout 0.1 (eval: off)
    m = _mg_from_torch(t, nn.TransformerEncoderLayer(E, H, FF, batch_first=True)).eval()
    x = np.random.default_rng(5).standard_normal((3, 5, E)).astype(np.float32)
    kpm = _padding(3, 5, empty_row=False)
    with torch.no_grad():
        want = t(torch.tensor(x), src_key_padding_mask=torch.tensor(kpm)).numpy()
    with mg.no_grad():
        got = m(mg.tensor(x), src_key_padding_mask=mg.tensor(kpm))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- decoder layer
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("masks", [False, True])
def test_decoder_layer_matches_torch(norm_first, batch_first, masks):
    torch = _torch()
    torch.manual_seed(6)
    kw = dict(dropout=0.0, norm_first=norm_first, batch_first=batch_first)
    t = torch.nn.TransformerDecoderLayer(E, H, FF, dtype=torch.float64, **kw)
    m = _mg_from_torch(t, nn.TransformerDecoderLayer(E, H, FF, dtype="float64", **kw))
    T, S, N = 4, 5, 3
    rng = np.random.default_rng(6)
    tgt, mem = rng.standard_normal(_layout(batch_first, T, N)), rng.standard_normal(_layout(batch_first, S, N))
    kt, km = {}, {}
    if masks:
        for name, arr, kind in (("tgt_mask", _causal(T), "float"), ("tgt_key_padding_mask", _padding(N, T, False),
                                                                     "bool"),
                                ("memory_key_padding_mask", _padding(N, S), "bool"),
                                ("memory_mask", rng.random((T, S)) < 0.3, "bool")):
            kt[name], km[name] = _mask_pair(torch, arr, kind)
        kt["tgt_is_causal"] = km["tgt_is_causal"] = True
    for train in (True, False):
        _check_parity(torch, t, m, [tgt, mem], kt, km, train=train)


# ---------------------------------------------------------------- stacks
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_stack_matches_torch_with_its_own_copies(norm_first):
    torch = _torch()
    torch.manual_seed(7)
    tl = torch.nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, norm_first=norm_first, dtype=torch.float64)
    t = torch.nn.TransformerEncoder(tl, 2, norm=torch.nn.LayerNorm(E, dtype=torch.float64),
                                    enable_nested_tensor=False)
    with torch.no_grad():  # make the two torch layers differ, so a mix-up of layers would show
        for p in t.layers[1].parameters():
            p.add_(0.1 * torch.randn_like(p))
    layer = nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, norm_first=norm_first, dtype="float64")
    m = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(E, dtype="float64"))
    assert set(m.state_dict()) == set(t.state_dict())
    _mg_from_torch(t, m)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5, 3, E))
    tk, mk = _mask_pair(torch, _padding(3, 5), "bool")
    ta, ma = _mask_pair(torch, _causal(5), "float")
    _check_parity(torch, t, m, [x], dict(mask=ta, src_key_padding_mask=tk),
                  dict(mask=ma, src_key_padding_mask=mk))
    # deep copies: each layer its own parameters, none shared with the template layer
    ids = [id(p) for p in m.parameters()] + [id(p) for p in layer.parameters()]
    assert len(ids) == len(set(ids))
    datas = [p.data for p in m.parameters()] + [p.data for p in layer.parameters()]
    assert not any(np.shares_memory(a, b) for i, a in enumerate(datas) for b in datas[i + 1:])
    w0 = m.layers[0].linear1.weight.numpy().copy()
    with mg.no_grad():
        m.layers[1].linear1.weight.add_(1.0)
    np.testing.assert_array_equal(m.layers[0].linear1.weight.numpy(), w0)


def test_decoder_stack_matches_torch():
    torch = _torch()
    torch.manual_seed(8)
    t = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(E, H, FF, dropout=0.0, dtype=torch.float64), 2)
    m = _mg_from_torch(t, nn.TransformerDecoder(nn.TransformerDecoderLayer(E, H, FF, dropout=0.0, dtype="float64"),
                                                2))
    assert m.norm is None and len(m.layers) == 2 and m.num_layers == 2
    rng = np.random.default_rng(8)
    tgt, mem = rng.standard_normal((4, 2, E)), rng.standard_normal((3, 2, E))
    ta, ma = _mask_pair(torch, _causal(4), "bool")
    _check_parity(torch, t, m, [tgt, mem], dict(tgt_mask=ta), dict(tgt_mask=ma))


@pytest.mark.parametrize("norm_first,batch_first", [(False, False), (True, True)])
def test_transformer_matches_torch_and_state_dicts_go_both_ways(norm_first, batch_first):
    torch = _torch()
    kw = dict(d_model=E, nhead=H, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=FF, dropout=0.0,
              norm_first=norm_first, batch_first=batch_first)
    torch.manual_seed(9)
    t = torch.nn.Transformer(**kw, dtype=torch.float64)
    mg.manual_seed(9)
    m = nn.Transformer(**kw, dtype="float64")
    tsd, msd = t.state_dict(), m.state_dict()
    assert list(msd) == list(tsd)  # same names, same order
    assert all(tuple(msd[k].shape) == tuple(tsd[k].shape) for k in tsd)
    # minigrad -> torch, then compare everything (both directions give the same weights)
    t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in msd.items()})
    S, T, N = 5, 4, 3
    rng = np.random.default_rng(9)
    src, tgt = rng.standard_normal(_layout(batch_first, S, N)), rng.standard_normal(_layout(batch_first, T, N))
    masks_t, masks_m = {}, {}
    for name, arr, kind in (("tgt_mask", _causal(T), "float"), ("src_key_padding_mask", _padding(N, S), "bool"),
                            ("memory_key_padding_mask", _padding(N, S), "bool"),
                            ("tgt_key_padding_mask", _padding(N, T, False), "float")):
        masks_t[name], masks_m[name] = _mask_pair(torch, arr, kind)
    _check_parity(torch, t, m, [src, tgt], masks_t, masks_m)
    # torch -> a fresh minigrad model
    m2 = _mg_from_torch(t, nn.Transformer(**kw, dtype="float64"))
    _check_parity(torch, t, m2, [src, tgt], masks_t, masks_m, train=False)


def test_transformer_init_is_xavier_and_layers_differ():
    mg.manual_seed(0)
    m = nn.Transformer(d_model=16, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=32)
    w = m.encoder.layers[0].linear1.weight.numpy()
    bound = np.sqrt(6.0 / (16 + 32))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound  # xavier_uniform_'s range
    assert not np.allclose(w, m.encoder.layers[1].linear1.weight.numpy())  # re-initialised one by one
    np.testing.assert_array_equal(m.encoder.norm.weight.numpy(), np.ones(16))  # 1-D: untouched
    np.testing.assert_array_equal(m.decoder.layers[0].self_attn.in_proj_bias.numpy(), np.zeros(48))  # MHA's init
    assert m.d_model == 16 and m.nhead == 4 and m.batch_first is False
    assert m.encoder.layers[0].linear1.weight.dtype == np.float32


def test_generate_square_subsequent_mask_matches_torch():
    torch = _torch()
    for sz in (0, 1, 4):
        got = nn.Transformer.generate_square_subsequent_mask(sz)
        want = torch.nn.Transformer.generate_square_subsequent_mask(sz)
        assert got.dtype == np.float32 and got.shape == tuple(want.shape)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert nn.Transformer.generate_square_subsequent_mask(3, dtype="float64").dtype == np.float64
    assert nn.Transformer().generate_square_subsequent_mask(2).shape == (2, 2)  # callable on an instance too


def test_dropout_is_active_in_training_only():
    mg.manual_seed(0)
    layer = nn.TransformerEncoderLayer(E, H, FF, dropout=0.5)
    x = mg.randn(4, 2, E)
    assert not np.allclose(layer(x).numpy(), layer(x).numpy())  # fresh dropout masks
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), layer(x).numpy())
    assert layer.self_attn.dropout == 0.5 and layer.dropout1.p == 0.5


def test_float32_stays_float32():
    layer = nn.TransformerDecoderLayer(E, H, FF)
    y = layer(mg.randn(3, 2, E, requires_grad=True), mg.randn(4, 2, E))
    assert y.dtype == np.float32
    y.sum().backward()
    assert all(p.grad.dtype == np.float32 for p in layer.parameters())


# ---------------------------------------------------------------- gradient property
@given(E_H=st.sampled_from([(3, 1), (4, 2)]), L=st.integers(1, 3), N=st.integers(1, 2), norm_first=st.booleans(),
       masked=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_encoder_layer_gradients_match_finite_differences(device, E_H, L, N, norm_first, masked, seed):
    e, h = E_H
    mg.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(e, h, 3, dropout=0.0, activation="gelu", norm_first=norm_first,
                                       dtype="float64", device=device)
    rng = np.random.default_rng(seed)
    x = mg.tensor(rng.standard_normal((L, N, e)), device=device, requires_grad=True)
    kpm = None
    if masked and L > 1:  # pad the last key of the first sequence
        arr = np.zeros((N, L), bool)
        arr[0, -1] = True
        kpm = mg.tensor(arr, device=device)
    params = [p.detach().requires_grad_(True) for p in layer.parameters()]
    gradcheck(lambda x, *ps: call_with(layer, ps, lambda: layer(x, src_key_padding_mask=kpm)), x, *params)


# ---------------------------------------------------------------- learning
def test_one_encoder_layer_learns_to_reverse_a_sequence():
    """Token + position embeddings -> 1 encoder layer -> linear: output position i predicts token L-1-i."""
    mg.manual_seed(0)
    V, L, D = 6, 5, 32

    class Reverser(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(V, D)
            self.pos = nn.Embedding(L, D)
            self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, 4, 64, dropout=0.0, batch_first=True),
                                             1, enable_nested_tensor=False)
            self.out = nn.Linear(D, V)

        def forward(self, tokens):
            return self.out(self.enc(self.tok(tokens) + self.pos(mg.arange(L))))

    model = Reverser()
    opt = mg.optim.Adam(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    for _ in range(250):
        x = rng.integers(0, V, size=(32, L))
        loss = F.cross_entropy(model(mg.tensor(x)).reshape(-1, V), mg.tensor(x[:, ::-1].copy()).reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    x = rng.integers(0, V, size=(200, L))
    with mg.no_grad():
        pred = model(mg.tensor(x)).numpy().argmax(-1)
    assert (pred == x[:, ::-1]).mean() > 0.98


# ---------------------------------------------------------------- errors
def test_errors_are_clear():
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(E, H, activation="tanh")
    with pytest.raises(TypeError, match="TransformerDecoderLayer: activation must be"):
        nn.TransformerDecoderLayer(E, H, activation=3)
    with pytest.raises(ValueError, match="divisible"):
        nn.TransformerEncoderLayer(6, 4)
    with pytest.raises(ValueError, match="TransformerEncoderLayer: dropout"):
        nn.TransformerEncoderLayer(E, H, dropout=1.5)
    with pytest.raises(ValueError, match="TransformerEncoderLayer: dim_feedforward"):
        nn.TransformerEncoderLayer(E, H, dim_feedforward=0)
    layer = nn.TransformerEncoderLayer(E, H, FF)
    with pytest.raises(ValueError, match="TransformerEncoder: num_layers"):
        nn.TransformerEncoder(layer, 0)
    with pytest.raises(TypeError, match="TransformerEncoder: encoder_layer must be a Module"):
        nn.TransformerEncoder("layer", 2)
    x = mg.randn(4, 2, E)
    with pytest.raises(TypeError, match="only bool and floating types of src_mask"):
        layer(x, src_mask=mg.zeros(4, 4, dtype="int64"))
    with pytest.raises(TypeError, match="only bool and floating types of mask"):
        nn.TransformerEncoder(layer, 1)(x, mask=mg.zeros(4, 4, dtype="int64"))
    with pytest.raises(RuntimeError, match="is_causal"):  # the hint needs the mask, as in torch
        layer(x, is_causal=True)
    with pytest.raises(ValueError, match="key_padding_mask must have shape"):
        layer(x, src_key_padding_mask=mg.zeros(3, 4, dtype="bool"))
    with pytest.raises(TypeError, match="dtype"):
        layer(x.double())
    model = nn.Transformer(E, H, 1, 1, FF)
    with pytest.raises(RuntimeError, match="batch number of src and tgt must be equal"):
        model(mg.randn(4, 2, E), mg.randn(3, 3, E))
    with pytest.raises(RuntimeError, match="feature number of src and tgt must be equal to d_model"):
        model(mg.randn(4, 2, E), mg.randn(3, 2, E + 1))
    with pytest.raises(ValueError, match="generate_square_subsequent_mask"):
        nn.Transformer.generate_square_subsequent_mask(-1)
