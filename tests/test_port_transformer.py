"""Porting audit: attention and Transformer programs, and text classification, run in torch and in minigrad.

Each test writes a program as a torch user would (the shape of torch's tutorials "Language Modeling
with nn.Transformer", "Language Translation with nn.Transformer", "Text classification with the
torchtext library", a tiny ViT, and direct nn.MultiheadAttention / F.scaled_dot_product_attention
calls), once with torch and once with minigrad's names (`torch` -> `mg`, `torch.nn` -> `mg.nn`,
`torch.optim` -> `mg.optim`), loads torch's weights into the minigrad model (state_dict), runs
both in float64 with dropout 0 (or in eval mode) on tiny generated data, and compares losses,
outputs, gradients, learning rates and updated parameters.

Found while porting and fixed (each has a focused test here):
* `StepLR(optimizer, 1.0, gamma=0.95)` (both tutorials pass a float step_size) was refused;
* `F.scaled_dot_product_attention(..., enable_gqa=True)` (grouped-query attention) was a TypeError;
* `F.multi_head_attention_forward` (used by e.g. CLIP's AttentionPool2d) did not exist;
* `nn.EmbeddingBag.from_pretrained` did not exist;
* nn.MultiheadAttention called its `out_proj` module, so forward hooks on it fired (torch uses only its
  parameters, through the functional form).

Documented differences met here (not bugs): `Tensor.data` is the raw array, so the tutorials'
`weight.data.uniform_(...)` is spelled `nn.init.uniform_(weight, ...)`; torch's nested-tensor fast path
writes zeros at padded positions (minigrad keeps the computed values; see nn.TransformerEncoder).
"""
import copy
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import minigrad.nn as mnn
import minigrad.nn.functional as MF
import minigrad.optim as moptim
from minigrad.utils import data as mdata

from opcheck import check_op, draw_array
from porting import closer, to_numpy

torch = pytest.importorskip("torch")
tnn = torch.nn
TF = torch.nn.functional

TOL = dict(rtol=1e-7, atol=1e-10)
# torch's own notices (nested-tensor prototype, mixed bool/float masks deprecated) are not what is tested
pytestmark = pytest.mark.filterwarnings("ignore:.*(nested|mismatched).*:UserWarning")


@pytest.fixture(autouse=True)
def _float64_defaults():
    """Both libraries build float64 parameters and factories (the programs call zeros/arange/ones plainly)."""
    old_t, old_m = torch.get_default_dtype(), mg.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    mg.set_default_dtype(mg.float64)
    yield
    torch.set_default_dtype(old_t)
    mg.set_default_dtype(old_m)


# ---------------------------------------------------------------- helpers
_np = to_numpy
_close = closer(TOL, check_dtype=False)


def _copy_weights(theirs, ours):
    """torch's state dict (parameters and buffers) into our module, as a porter would."""
    missing, unexpected = ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    assert not missing and not unexpected


def _same_state(ours, theirs, **tol):
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)
    for k in a:
        _close(k, a[k], b[k], **tol)


def _same_grads(ours, theirs, **tol):
    named_t = list(theirs.named_parameters())
    named_m = list(ours.named_parameters())
    assert [k for k, _ in named_m] == [k for k, _ in named_t]
    for (k, p), (_, q) in zip(named_m, named_t):
        assert (p.grad is None) == (q.grad is None), k
        if p.grad is not None:
            _close(f"{k}.grad", p.grad, q.grad, **tol)


def _mt(a):
    """A NumPy array as a torch tensor and a minigrad tensor (same values, same dtype)."""
    a = np.asarray(a)
    return torch.tensor(a), mg.tensor(a)


# ================================================================ 1. "Language Modeling with nn.Transformer"
def _lm_program(lib, nn, batch_first=False, norm_first=False, activation="relu", dropout=0.0):
    """The tutorial's PositionalEncoding and TransformerModel, written once for either library.

    (The tutorial's init_weights writes `self.embedding.weight.data.uniform_(...)`; `.data` is the raw
    array in minigrad (README), so the port spells it with nn.init, which torch has too.)
    """
    class PositionalEncoding(nn.Module):
        def __init__(self, d_model, dropout=0.1, max_len=5000):
            super().__init__()
            self.dropout = nn.Dropout(p=dropout)
            position = lib.arange(max_len).unsqueeze(1)
            div_term = lib.exp(lib.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
            pe = lib.zeros(max_len, 1, d_model)
            pe[:, 0, 0::2] = lib.sin(position * div_term)
            pe[:, 0, 1::2] = lib.cos(position * div_term)
            self.register_buffer("pe", pe)

        def forward(self, x):
            if batch_first:
                x = x + self.pe[:x.size(1)].transpose(0, 1)
            else:
                x = x + self.pe[:x.size(0)]
            return self.dropout(x)

    class TransformerModel(nn.Module):
        def __init__(self, ntoken, d_model, nhead, d_hid, nlayers, dropout=0.5):
            super().__init__()
            self.model_type = "Transformer"
            self.pos_encoder = PositionalEncoding(d_model, dropout, max_len=64)
            encoder_layers = nn.TransformerEncoderLayer(d_model, nhead, d_hid, dropout, activation=activation,
                                                        batch_first=batch_first, norm_first=norm_first)
            self.transformer_encoder = nn.TransformerEncoder(encoder_layers, nlayers, enable_nested_tensor=False)
            self.embedding = nn.Embedding(ntoken, d_model)
            self.d_model = d_model
            self.linear = nn.Linear(d_model, ntoken)
            self.init_weights()

        def init_weights(self):
            initrange = 0.1
            nn.init.uniform_(self.embedding.weight, -initrange, initrange)
            nn.init.zeros_(self.linear.bias)
            nn.init.uniform_(self.linear.weight, -initrange, initrange)

        def forward(self, src, src_mask=None, src_key_padding_mask=None):
            src = self.embedding(src) * math.sqrt(self.d_model)
            src = self.pos_encoder(src)
            if src_mask is None:
                src_mask = nn.Transformer.generate_square_subsequent_mask(src.size(1 if batch_first else 0))
            output = self.transformer_encoder(src, src_mask, src_key_padding_mask=src_key_padding_mask)
            output = self.linear(output)
            return output

    return TransformerModel(ntoken=11, d_model=8, nhead=2, d_hid=16, nlayers=2, dropout=dropout)


def _batchify(data, bsz):
    """The tutorial's batchify: (N,) -> (N // bsz, bsz), each column a contiguous stream."""
    seq_len = data.size(0) // bsz
    data = data[:seq_len * bsz]
    data = data.view(bsz, seq_len).t().contiguous()
    return data


def _get_batch(source, i, bptt):
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i:i + seq_len]
    target = source[i + 1:i + 1 + seq_len].reshape(-1)
    return data, target


def _data_process(lib, lines):
    """The tutorial's data_process: one id tensor per line, empty lines dropped, all concatenated."""
    data = [lib.tensor(line, dtype=lib.long) for line in lines]
    return lib.cat(tuple(filter(lambda t: t.numel() > 0, data)))


def _lm_run(lib, nn, optim, model, lines, batch_first, save_path, ntokens=11, bptt=4, epochs=3):
    """The tutorial's train() and evaluate() loops: SGD(lr=5) + StepLR(1.0, 0.95), clip_grad_norm_(0.5), the best
    model's state_dict saved and loaded back; training slices one causal mask for the short last batch (the
    tutorial's older spelling), evaluation lets the model build its own."""
    stream = _data_process(lib, lines)
    train_data = _batchify(stream[:45], 4)    # (11, 4): batches of 4, 4, 2 steps
    val_data = _batchify(stream[45:], 2)
    criterion = nn.CrossEntropyLoss()
    lr = 5.0
    optimizer = optim.SGD(model.parameters(), lr=lr)
    scheduler = optim.lr_scheduler.StepLR(optimizer, 1.0, gamma=0.95)
    best_val_loss = float("inf")
    log = []

    def fix(data, targets):  # batch_first: the model reads (N, S); targets flattened in the same order
        if not batch_first:
            return data, targets
        return data.t(), targets.view(data.size(0), data.size(1)).t().reshape(-1)

    for epoch in range(1, epochs + 1):
        model.train()
        total_loss = 0.0
        src_mask = nn.Transformer.generate_square_subsequent_mask(bptt)
        for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
            data, targets = _get_batch(train_data, i, bptt)
            seq_len = data.size(0)
            if seq_len != bptt:  # only on last batch
                src_mask = src_mask[:seq_len, :seq_len]
            data, targets = fix(data, targets)
            output = model(data, src_mask)
            output_flat = output.view(-1, ntokens)
            loss = criterion(output_flat, targets)
            optimizer.zero_grad()
            loss.backward()
            norm = nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            log.append(("grad_norm", float(norm)))
            log.append(("grads", {k: _np(p.grad).copy() for k, p in model.named_parameters()}))
            optimizer.step()
            total_loss += loss.item()
            log.append(("loss", loss.item(), math.exp(total_loss / (batch + 1))))
        model.eval()
        eval_loss = 0.0
        with lib.no_grad():
            for i in range(0, val_data.size(0) - 1, bptt):
                data, targets = fix(*_get_batch(val_data, i, bptt))
                seq_len = data.size(1 if batch_first else 0)
                output = model(data)
                output_flat = output.view(-1, ntokens)
                eval_loss += seq_len * criterion(output_flat, targets).item()
        val_loss = eval_loss / (len(val_data) - 1)
        log.append(("val", val_loss, math.exp(val_loss)))
        if val_loss < best_val_loss:
            best_val_loss = val_loss
            lib.save(model.state_dict(), save_path)
        scheduler.step()
        log.append(("lr", scheduler.get_last_lr()[0], optimizer.param_groups[0]["lr"]))
    model.load_state_dict(lib.load(save_path))  # load best model states
    log.append(("best", best_val_loss))
    return log


def _same_log(a, b):
    assert [e[0] for e in a] == [e[0] for e in b]
    for ea, eb in zip(a, b):
        if ea[0] == "grads":
            assert list(ea[1]) == list(eb[1])
            for k in ea[1]:
                _close(k + ".grad", ea[1][k], eb[1][k])
        else:
            np.testing.assert_allclose(ea[1:], eb[1:], err_msg=ea[0], **TOL)


@pytest.mark.parametrize("batch_first,norm_first,activation", [
    (False, False, "relu"), (True, True, "gelu"), (False, True, "gelu"), (True, False, "relu")])
def test_lm_tutorial_training(batch_first, norm_first, activation, tmp_path):
    rng = np.random.default_rng(0)
    lines = [[int(w) for w in rng.integers(0, 11, n)] for n in (9, 0, 14, 20, 0, 27)]   # 70 ids, two empty lines
    torch.manual_seed(0)
    theirs = _lm_program(torch, tnn, batch_first, norm_first, activation)
    ours = _lm_program(mg, mnn, batch_first, norm_first, activation)
    assert list(ours.state_dict()) == list(theirs.state_dict())   # pe buffer included, same names
    _close("pe", ours.pos_encoder.pe, theirs.pos_encoder.pe, rtol=0, atol=1e-15)
    _copy_weights(theirs, ours)
    a = _lm_run(mg, mnn, moptim, ours, lines, batch_first, tmp_path / "ours.pt")
    b = _lm_run(torch, tnn, torch.optim, theirs, lines, batch_first, tmp_path / "theirs.pt")
    _same_log(a, b)
    assert a[-2][1] == pytest.approx(5.0 * 0.95 ** 3, rel=1e-15)
    _same_state(ours, theirs)


def test_lm_tutorial_float32_stays_float32():
    """The tutorial as written (torch's default float32): every buffer, output and gradient stays float32 and
    agrees with torch to float32 rounding (rtol 1e-5: ~100 roundings of 6e-8 through two layers)."""
    torch.set_default_dtype(torch.float32)
    mg.set_default_dtype(mg.float32)
    torch.manual_seed(14)
    theirs, ours = _lm_program(torch, tnn), _lm_program(mg, mnn)
    _copy_weights(theirs, ours)
    assert ours.pos_encoder.pe.dtype == mg.float32
    src = np.random.default_rng(14).integers(0, 11, (6, 3))
    out_t, out_m = theirs(torch.tensor(src)), ours(mg.tensor(src))
    assert out_m.dtype == mg.float32
    _close("float32 output", out_m, out_t, rtol=1e-5, atol=1e-6)
    tgt = np.random.default_rng(15).integers(0, 11, 18)
    tnn.CrossEntropyLoss()(out_t.view(-1, 11), torch.tensor(tgt)).backward()
    mnn.CrossEntropyLoss()(out_m.view(-1, 11), mg.tensor(tgt)).backward()
    for k, p in ours.named_parameters():
        assert p.grad.dtype == mg.float32, k
    _same_grads(ours, theirs, rtol=1e-5, atol=1e-6)


def test_lm_tutorial_eval_with_dropout_and_masks():
    """The tutorial's dropout (0.2) in eval mode; bool and float causal masks; key padding masks."""
    torch.manual_seed(1)
    theirs = _lm_program(torch, tnn, dropout=0.2)
    ours = _lm_program(mg, mnn, dropout=0.2)
    _copy_weights(theirs, ours)
    theirs.eval(), ours.eval()
    src_t, src_m = _mt(np.random.default_rng(1).integers(0, 11, (6, 3)))
    want = theirs(src_t)                                       # generate_square_subsequent_mask (float, -inf)
    _close("float causal", ours(src_m), want)
    bool_t = torch.triu(torch.ones(6, 6, dtype=torch.bool), diagonal=1)
    bool_m = mg.triu(mg.ones(6, 6, dtype=mg.bool), diagonal=1)
    _close("bool causal", ours(src_m, bool_m), theirs(src_t, bool_t))
    _close("bool == float", ours(src_m, bool_m), want)
    # a padded batch: the last two tokens of sequence 1, the last one of sequence 2 are padding
    pad = np.zeros((3, 6), dtype=bool)
    pad[1, 4:] = pad[2, 5:] = True
    pad_t, pad_m = _mt(pad)
    for kpm_t, kpm_m in ((pad_t, pad_m), _mt(np.where(pad, -np.inf, 0.0))):
        want = theirs(src_t, src_key_padding_mask=kpm_t)
        got = ours(src_m, src_key_padding_mask=kpm_m)
        _close("key padding", got, want)
    with torch.no_grad(), mg.no_grad():   # torch's inference fast path: the same values
        _close("no_grad padded", ours(src_m, src_key_padding_mask=pad_m), theirs(src_t, src_key_padding_mask=pad_t))


def test_step_lr_whole_float_step_size():
    """Both tutorials write StepLR(optimizer, 1.0, gamma=...): a whole float is its int, as torch allows."""
    p = mnn.Parameter(mg.zeros(1))
    opt = moptim.SGD([p], lr=1.0)
    s = moptim.lr_scheduler.StepLR(opt, 2.0, gamma=0.5)
    for _ in range(4):
        opt.step()
        s.step()
    assert s.step_size == 2 and s.get_last_lr() == [0.25]
    with pytest.raises(ValueError, match="StepLR: step_size"):
        moptim.lr_scheduler.StepLR(opt, 1.5)
    with pytest.raises(ValueError, match="StepLR: step_size"):
        moptim.lr_scheduler.StepLR(opt, 0.0)


def test_encoder_nested_tensor_fast_path_padding_difference():
    """torch's default enable_nested_tensor=True with batch_first, in eval under no_grad, writes zeros at padded
    positions (its nested-tensor fast path); minigrad has no nested tensors and keeps the computed values there
    (documented in nn.TransformerEncoder). The unpadded positions agree."""
    torch.manual_seed(2)
    layer_t = tnn.TransformerEncoderLayer(8, 2, 16, 0.0, batch_first=True)
    enc_t = tnn.TransformerEncoder(layer_t, 2).eval()
    enc_m = mnn.TransformerEncoder(mnn.TransformerEncoderLayer(8, 2, 16, 0.0, batch_first=True), 2).eval()
    _copy_weights(enc_t, enc_m)
    x = np.random.default_rng(2).standard_normal((3, 5, 8))
    pad = np.zeros((3, 5), dtype=bool)
    pad[0, 3:] = pad[2, 4:] = True
    (x_t, x_m), (p_t, p_m) = _mt(x), _mt(pad)
    with torch.no_grad():
        want = enc_t(x_t, src_key_padding_mask=p_t).numpy()
    got = enc_m(x_m, src_key_padding_mask=p_m).numpy()
    assert enc_t.use_nested_tensor and not enc_m.use_nested_tensor
    np.testing.assert_allclose(got[~pad], want[~pad], **TOL)
    assert np.all(want[pad] == 0) and np.all(np.abs(got[pad]).sum(-1) > 0)
    with torch.enable_grad():   # torch's autograd path keeps the values too: then everything agrees
        _close("grad path", got, enc_t(x_t, src_key_padding_mask=p_t))


# ================================================================ 2. nn.Transformer seq2seq ("Language Translation")
PAD_IDX, BOS_IDX, EOS_IDX = 1, 2, 3


def _seq2seq_program(lib, nn, batch_first=False, norm_first=False, dropout=0.0):
    """The translation tutorial's TokenEmbedding, PositionalEncoding and Seq2SeqTransformer, masks and decoder."""
    class PositionalEncoding(nn.Module):
        def __init__(self, emb_size, dropout, maxlen=32):
            super().__init__()
            den = lib.exp(- lib.arange(0, emb_size, 2) * math.log(10000) / emb_size)
            pos = lib.arange(0, maxlen).reshape(maxlen, 1)
            pos_embedding = lib.zeros((maxlen, emb_size))
            pos_embedding[:, 0::2] = lib.sin(pos * den)
            pos_embedding[:, 1::2] = lib.cos(pos * den)
            pos_embedding = pos_embedding.unsqueeze(-2)
            self.dropout = nn.Dropout(dropout)
            self.register_buffer("pos_embedding", pos_embedding)

        def forward(self, token_embedding):
            if batch_first:
                return self.dropout(token_embedding + self.pos_embedding[:token_embedding.size(1), :].transpose(0, 1))
            return self.dropout(token_embedding + self.pos_embedding[:token_embedding.size(0), :])

    class TokenEmbedding(nn.Module):
        def __init__(self, vocab_size, emb_size):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, emb_size)
            self.emb_size = emb_size

        def forward(self, tokens):
            return self.embedding(tokens.long()) * math.sqrt(self.emb_size)

    class Seq2SeqTransformer(nn.Module):
        def __init__(self, num_encoder_layers, num_decoder_layers, emb_size, nhead, src_vocab_size, tgt_vocab_size,
                     dim_feedforward=512, dropout=0.1):
            super().__init__()
            self.transformer = nn.Transformer(d_model=emb_size, nhead=nhead, num_encoder_layers=num_encoder_layers,
                                              num_decoder_layers=num_decoder_layers, dim_feedforward=dim_feedforward,
                                              dropout=dropout, batch_first=batch_first, norm_first=norm_first)
            self.generator = nn.Linear(emb_size, tgt_vocab_size)
            self.src_tok_emb = TokenEmbedding(src_vocab_size, emb_size)
            self.tgt_tok_emb = TokenEmbedding(tgt_vocab_size, emb_size)
            self.positional_encoding = PositionalEncoding(emb_size, dropout=dropout)

        def forward(self, src, trg, src_mask, tgt_mask, src_padding_mask, tgt_padding_mask, memory_key_padding_mask,
                    tgt_is_causal=None):
            src_emb = self.positional_encoding(self.src_tok_emb(src))
            tgt_emb = self.positional_encoding(self.tgt_tok_emb(trg))
            outs = self.transformer(src_emb, tgt_emb, src_mask, tgt_mask, None, src_padding_mask, tgt_padding_mask,
                                    memory_key_padding_mask, tgt_is_causal=tgt_is_causal)
            return self.generator(outs)

        def encode(self, src, src_mask):
            return self.transformer.encoder(self.positional_encoding(self.src_tok_emb(src)), src_mask)

        def decode(self, tgt, memory, tgt_mask):
            return self.transformer.decoder(self.positional_encoding(self.tgt_tok_emb(tgt)), memory, tgt_mask)

    return Seq2SeqTransformer(2, 2, 8, 2, 9, 10, dim_feedforward=16, dropout=dropout)


def _square_subsequent_mask(lib, sz):
    """The translation tutorial's own causal mask: float 0 / -inf, built from a bool triangle (`.float()`)."""
    mask = (lib.triu(lib.ones((sz, sz))) == 1).transpose(0, 1)
    mask = mask.float().masked_fill(mask == 0, float("-inf")).masked_fill(mask == 1, float(0.0))
    return mask


def _create_mask(lib, src, tgt, batch_first):
    s_dim = 1 if batch_first else 0
    src_seq_len, tgt_seq_len = src.shape[s_dim], tgt.shape[s_dim]
    tgt_mask = _square_subsequent_mask(lib, tgt_seq_len)
    src_mask = lib.zeros((src_seq_len, src_seq_len)).type(lib.bool)
    if batch_first:
        return src_mask, tgt_mask, src == PAD_IDX, tgt == PAD_IDX
    return src_mask, tgt_mask, (src == PAD_IDX).transpose(0, 1), (tgt == PAD_IDX).transpose(0, 1)


def _seq2seq_batches(rng, n_batches=3, bsz=3):
    """(src, tgt) pairs of token ids (S, N) with BOS/EOS and PAD at the end of the shorter sequences."""
    out = []
    for _ in range(n_batches):
        S, T = 6, 7
        src = np.full((S, bsz), PAD_IDX)
        tgt = np.full((T, bsz), PAD_IDX)
        for b in range(bsz):
            ls, lt = rng.integers(3, S + 1), rng.integers(3, T + 1)
            src[:ls, b] = rng.integers(4, 9, ls)
            tgt[0, b], tgt[1:lt - 1, b], tgt[lt - 1, b] = BOS_IDX, rng.integers(4, 10, lt - 2), EOS_IDX
        out.append((src, tgt))
    return out


def _seq2seq_run(lib, nn, optim, model, batches, batch_first, tgt_is_causal=None):
    """The tutorial's train_epoch (Adam(lr=1e-4, betas=(0.9, 0.98), eps=1e-9), CrossEntropyLoss(ignore_index=PAD))."""
    loss_fn = nn.CrossEntropyLoss(ignore_index=PAD_IDX)
    optimizer = optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.98), eps=1e-9)
    model.train()
    log = []
    for src, tgt in batches:
        src, tgt = lib.tensor(src), lib.tensor(tgt)
        if batch_first:
            src, tgt = src.t(), tgt.t()
        tgt_input = tgt[:-1, :] if not batch_first else tgt[:, :-1]
        src_mask, tgt_mask, src_padding_mask, tgt_padding_mask = _create_mask(lib, src, tgt_input, batch_first)
        logits = model(src, tgt_input, src_mask, tgt_mask, src_padding_mask, tgt_padding_mask, src_padding_mask,
                       tgt_is_causal=tgt_is_causal)
        optimizer.zero_grad()
        tgt_out = tgt[1:, :] if not batch_first else tgt[:, 1:]
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1))
        loss.backward()
        log.append(("grads", {k: _np(p.grad).copy() for k, p in model.named_parameters()}))
        optimizer.step()
        log.append(("loss", loss.item()))
    return log


def _greedy_decode(lib, model, src, src_mask, max_len, start_symbol):
    """The tutorial's greedy_decode (sequence first), with its bool tgt_mask from `.type(torch.bool)`."""
    memory = model.encode(src, src_mask)
    ys = lib.ones(1, 1).fill_(start_symbol).type(lib.long)
    for i in range(max_len - 1):
        tgt_mask = (_square_subsequent_mask(lib, ys.size(0)).type(lib.bool))
        out = model.decode(ys, memory, tgt_mask)
        out = out.transpose(0, 1)
        prob = model.generator(out[:, -1])
        _, next_word = lib.max(prob, dim=1)
        next_word = next_word.item()
        ys = lib.cat([ys, lib.ones(1, 1).type_as(src).fill_(next_word)], dim=0)
        if next_word == EOS_IDX:
            break
    return ys


@pytest.mark.parametrize("batch_first,norm_first,tgt_is_causal", [
    (False, False, None), (True, True, True), (False, True, True), (True, False, None)])
def test_translation_tutorial_training_and_greedy_decode(batch_first, norm_first, tgt_is_causal):
    batches = _seq2seq_batches(np.random.default_rng(3))
    torch.manual_seed(3)
    theirs = _seq2seq_program(torch, tnn, batch_first, norm_first)
    ours = _seq2seq_program(mg, mnn, batch_first, norm_first)
    for p in theirs.parameters():   # the tutorial's init
        if p.dim() > 1:
            tnn.init.xavier_uniform_(p)
    _copy_weights(theirs, ours)
    a = _seq2seq_run(mg, mnn, moptim, ours, batches, batch_first, tgt_is_causal)
    b = _seq2seq_run(torch, tnn, torch.optim, theirs, batches, batch_first, tgt_is_causal)
    _same_log(a, b)
    _same_state(ours, theirs)
    if batch_first:
        return
    theirs.eval(), ours.eval()
    for b_ in range(3):
        src = batches[0][0][:, b_:b_ + 1]
        (src_t, src_m) = _mt(src)
        num_tokens = src.shape[0]
        with torch.no_grad():
            want = _greedy_decode(torch, theirs, src_t, torch.zeros(num_tokens, num_tokens).type(torch.bool),
                                  num_tokens + 5, BOS_IDX)
        got = _greedy_decode(mg, ours, src_m, mg.zeros(num_tokens, num_tokens).type(mg.bool), num_tokens + 5,
                             BOS_IDX)
        assert got.dtype == mg.int64 and got.shape == tuple(want.shape)
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_transformer_masks_and_is_causal():
    """nn.Transformer directly: every mask at once (float and bool), is_causal hints, batch_first, unbatched."""
    torch.manual_seed(4)
    rng = np.random.default_rng(4)
    for batch_first in (False, True):
        tr_t = tnn.Transformer(8, 2, 2, 2, 16, dropout=0.0, batch_first=batch_first, activation="gelu")
        tr_m = mnn.Transformer(8, 2, 2, 2, 16, dropout=0.0, batch_first=batch_first, activation="gelu")
        _copy_weights(tr_t, tr_m)
        S, T, N = 5, 4, 3
        src = rng.standard_normal((N, S, 8) if batch_first else (S, N, 8))
        tgt = rng.standard_normal((N, T, 8) if batch_first else (T, N, 8))
        (src_t, src_m), (tgt_t, tgt_m) = _mt(src), _mt(tgt)
        src_t.requires_grad_(), tgt_t.requires_grad_()
        src_m.requires_grad_(), tgt_m.requires_grad_()
        spad = np.zeros((N, S), dtype=bool)
        spad[1, 3:] = True
        tpad = np.zeros((N, T), dtype=bool)
        tpad[2, 3:] = True
        memory_mask = rng.standard_normal((T, S))     # an additive float memory mask
        causal_t = tnn.Transformer.generate_square_subsequent_mask(T)
        causal_m = mnn.Transformer.generate_square_subsequent_mask(T)
        assert causal_m.dtype == mg.float64 and np.array_equal(causal_m.numpy(), causal_t.numpy())
        kw_t = dict(tgt_mask=causal_t, memory_mask=torch.tensor(memory_mask),
                    src_key_padding_mask=torch.tensor(spad), tgt_key_padding_mask=torch.tensor(tpad),
                    memory_key_padding_mask=torch.tensor(spad), tgt_is_causal=True)
        kw_m = dict(tgt_mask=causal_m, memory_mask=mg.tensor(memory_mask),
                    src_key_padding_mask=mg.tensor(spad), tgt_key_padding_mask=mg.tensor(tpad),
                    memory_key_padding_mask=mg.tensor(spad), tgt_is_causal=True)
        out_t, out_m = tr_t(src_t, tgt_t, **kw_t), tr_m(src_m, tgt_m, **kw_m)
        _close("transformer out", out_m, out_t)
        g = rng.standard_normal(tuple(out_t.shape))
        out_t.backward(torch.tensor(g))
        out_m.backward(mg.tensor(g))
        _close("src.grad", src_m.grad, src_t.grad)
        _close("tgt.grad", tgt_m.grad, tgt_t.grad)
        _same_grads(tr_m, tr_t)
    # unbatched (S, E) / (T, E)
    src1, tgt1 = rng.standard_normal((S, 8)), rng.standard_normal((T, 8))
    _close("unbatched", tr_m(mg.tensor(src1), mg.tensor(tgt1), tgt_mask=causal_m),
           tr_t(torch.tensor(src1), torch.tensor(tgt1), tgt_mask=causal_t))
    # src_is_causal with a causal src mask through the encoder, and the encoder stack's is_causal
    smask_t = tnn.Transformer.generate_square_subsequent_mask(S)
    smask_m = mnn.Transformer.generate_square_subsequent_mask(S)
    _close("src_is_causal", tr_m(mg.tensor(src1), mg.tensor(tgt1), src_mask=smask_m, src_is_causal=True),
           tr_t(torch.tensor(src1), torch.tensor(tgt1), src_mask=smask_t, src_is_causal=True))


# ================================================================ 3. nn.MultiheadAttention and F.scaled_dot_product_attention
MHA_CONFIGS = [
    dict(),
    dict(batch_first=True),
    dict(kdim=3, vdim=5),
    dict(kdim=3, vdim=5, batch_first=True, bias=False),
    dict(add_bias_kv=True),
    dict(add_zero_attn=True, batch_first=True),
    dict(add_bias_kv=True, add_zero_attn=True, kdim=3, vdim=5),
]


def _mha_masks(rng, N, H, L, S):
    """(name, attn_mask, key_padding_mask) as NumPy arrays: every kind torch takes; key 0 always allowed."""
    def bool_mask(shape):
        m = rng.random(shape) < 0.4
        m[..., 0] = False
        return m
    am2, am3, kpm = bool_mask((L, S)), bool_mask((N * H, L, S)), bool_mask((N, S))
    return [
        ("none", None, None),
        ("2-D float", rng.standard_normal((L, S)), None),
        ("2-D bool", am2, None),
        ("2-D float -inf", np.where(am2, -np.inf, 0.0), None),
        ("3-D float", rng.standard_normal((N * H, L, S)), None),
        ("3-D bool", am3, None),
        ("kpm bool", None, kpm),
        ("kpm float", None, np.where(kpm, -np.inf, rng.standard_normal((N, S)))),
        ("2-D bool + kpm bool", am2, kpm),
        ("3-D float + kpm float", rng.standard_normal((N * H, L, S)), rng.standard_normal((N, S))),
    ]


@pytest.mark.parametrize("cfg", MHA_CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "default")
def test_multihead_attention_direct(cfg):
    """Outputs, weights (averaged or per head), input and parameter gradients for every mask kind."""
    torch.manual_seed(5)
    rng = np.random.default_rng(5)
    E, H, N, L, S = 4, 2, 2, 3, 4
    mha_t = tnn.MultiheadAttention(E, H, **cfg)
    mha_m = mnn.MultiheadAttention(E, H, **cfg)
    with torch.no_grad():   # non-zero biases (torch inits them to 0), so their gradients are tested too
        for p in mha_t.parameters():
            p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape)) * 0.5))
    _copy_weights(mha_t, mha_m)
    bf = cfg.get("batch_first", False)
    kd, vd = cfg.get("kdim", E), cfg.get("vdim", E)

    def sh(T, D):
        return (N, T, D) if bf else (T, N, D)
    q, k, v = rng.standard_normal(sh(L, E)), rng.standard_normal(sh(S, kd)), rng.standard_normal(sh(S, vd))
    for name, am, kpm in _mha_masks(rng, N, H, L, S):
        for need_weights, average in ((True, True), (True, False), (False, True)):
            mha_t.zero_grad(), mha_m.zero_grad()
            ins_t = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
            ins_m = [mg.tensor(a, requires_grad=True) for a in (q, k, v)]
            kw_t = dict(need_weights=need_weights, average_attn_weights=average,
                        attn_mask=None if am is None else torch.tensor(am),
                        key_padding_mask=None if kpm is None else torch.tensor(kpm))
            kw_m = dict(need_weights=need_weights, average_attn_weights=average,
                        attn_mask=None if am is None else mg.tensor(am),
                        key_padding_mask=None if kpm is None else mg.tensor(kpm))
            out_t, w_t = mha_t(*ins_t, **kw_t)
            out_m, w_m = mha_m(*ins_m, **kw_m)
            what = f"{name}, need_weights={need_weights}, average={average}"
            _close(f"out ({what})", out_m, out_t)
            assert (w_m is None) == (w_t is None), what
            if w_t is not None:
                _close(f"weights ({what})", w_m, w_t)
            g = rng.standard_normal(tuple(out_t.shape))
            loss_t = (out_t * torch.tensor(g)).sum() + (0 if w_t is None else (w_t ** 2).sum())
            loss_m = (out_m * mg.tensor(g)).sum() + (0 if w_m is None else (w_m ** 2).sum())
            loss_t.backward()
            loss_m.backward()
            for nm, a, b in zip("qkv", ins_m, ins_t):
                _close(f"{nm}.grad ({what})", a.grad, b.grad)
            _same_grads(mha_m, mha_t)


def test_multihead_attention_unbatched_and_is_causal():
    torch.manual_seed(6)
    rng = np.random.default_rng(6)
    mha_t, mha_m = tnn.MultiheadAttention(4, 2), mnn.MultiheadAttention(4, 2)
    _copy_weights(mha_t, mha_m)
    x = rng.standard_normal((5, 4))
    causal_t = tnn.Transformer.generate_square_subsequent_mask(5)
    causal_m = mnn.Transformer.generate_square_subsequent_mask(5)
    for need_weights in (True, False):
        ot, wt = mha_t(*[torch.tensor(x)] * 3, attn_mask=causal_t, is_causal=True, need_weights=need_weights)
        om, wm = mha_m(*[mg.tensor(x)] * 3, attn_mask=causal_m, is_causal=True, need_weights=need_weights)
        _close("unbatched causal out", om, ot)
        if need_weights:
            _close("unbatched causal weights", wm, wt)
    with pytest.raises(RuntimeError, match="is_causal"):   # torch refuses is_causal without the mask too
        mha_m(*[mg.tensor(x)] * 3, is_causal=True)
    with pytest.raises(RuntimeError):
        mha_t(*[torch.tensor(x)] * 3, is_causal=True)


def test_multihead_attention_eval_fast_path_self_attention():
    """torch's inference fast path (batch_first self-attention in eval under no_grad) gives the same values."""
    torch.manual_seed(7)
    rng = np.random.default_rng(7)
    mha_t = tnn.MultiheadAttention(4, 2, batch_first=True).eval()
    mha_m = mnn.MultiheadAttention(4, 2, batch_first=True).eval()
    _copy_weights(mha_t, mha_m)
    x = rng.standard_normal((3, 5, 4))
    kpm = np.zeros((3, 5), dtype=bool)
    kpm[0, 3:] = True
    with torch.no_grad():
        xt = torch.tensor(x)
        ot, wt = mha_t(xt, xt, xt, key_padding_mask=torch.tensor(kpm))
    xm = mg.tensor(x)
    om, wm = mha_m(xm, xm, xm, key_padding_mask=mg.tensor(kpm))
    _close("fast path out", om, ot)
    _close("fast path weights", wm, wt)


def _sdpa_cases(rng):
    N, H, L, S, E, Ev = 2, 2, 3, 4, 5, 3
    q, k, v = rng.standard_normal((N, H, L, E)), rng.standard_normal((N, H, S, E)), rng.standard_normal((N, H, S, Ev))
    allow = rng.random((L, S)) < 0.7
    allow[:, 0] = True
    return [
        ("plain", (q, k, v), {}),
        ("is_causal", (q, k, v), dict(is_causal=True)),
        ("is_causal L > S", (rng.standard_normal((N, H, 5, E)), k, v), dict(is_causal=True)),
        ("bool mask (True = attend)", (q, k, v), dict(attn_mask=allow)),
        ("float mask", (q, k, v), dict(attn_mask=rng.standard_normal((L, S)))),
        ("float mask per batch", (q, k, v), dict(attn_mask=rng.standard_normal((N, 1, L, S)))),
        ("scale", (q, k, v), dict(scale=0.3)),
        ("dropout_p=0 scale causal", (q, k, v), dict(dropout_p=0.0, scale=1.7, is_causal=True)),
        ("3-D", (q[0], k[0], v[0]), dict(attn_mask=allow)),
        ("broadcast batch", (q, k[:1], v[:1]), {}),
        ("gqa", (rng.standard_normal((N, 4, L, E)), k, v), dict(enable_gqa=True)),
        ("gqa 1 kv head, causal, scale", (rng.standard_normal((N, 4, L, E)), k[:, :1], v[:, :1]),
         dict(enable_gqa=True, is_causal=True, scale=0.5)),
        ("gqa 3-D, bool mask", (rng.standard_normal((4, L, E)), k[0], v[0, :1]), dict(enable_gqa=True,
                                                                                       attn_mask=allow)),
        ("gqa equal heads", (q, k, v), dict(enable_gqa=True)),
    ]


def test_scaled_dot_product_attention():
    """torch's F.scaled_dot_product_attention arguments: outputs and gradients of q, k, v and a float mask."""
    rng = np.random.default_rng(8)
    for name, (q, k, v), kw in _sdpa_cases(rng):
        ins_t = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
        ins_m = [mg.tensor(a, requires_grad=True) for a in (q, k, v)]
        kw_t, kw_m = dict(kw), dict(kw)
        if "attn_mask" in kw:
            kw_t["attn_mask"] = torch.tensor(kw["attn_mask"], requires_grad=kw["attn_mask"].dtype != bool)
            kw_m["attn_mask"] = mg.tensor(kw["attn_mask"], requires_grad=kw["attn_mask"].dtype != bool)
        out_t = TF.scaled_dot_product_attention(*ins_t, **kw_t)
        out_m = MF.scaled_dot_product_attention(*ins_m, **kw_m)
        _close(f"sdpa {name}", out_m, out_t)
        g = rng.standard_normal(tuple(out_t.shape))
        out_t.backward(torch.tensor(g))
        out_m.backward(mg.tensor(g))
        for nm, a, b in zip("qkv", ins_m, ins_t):
            _close(f"sdpa {name}: {nm}.grad", a.grad, b.grad)
        if "attn_mask" in kw and kw["attn_mask"].dtype != bool:
            _close(f"sdpa {name}: attn_mask.grad", kw_m["attn_mask"].grad, kw_t["attn_mask"].grad)


def _np_gqa_sdpa(q, k, v, causal):
    """NumPy float64 reference: key/value heads repeated for their query groups, softmax(q k^T / sqrt(E)) v."""
    g_k, g_v = q.shape[-3] // k.shape[-3], q.shape[-3] // v.shape[-3]
    k, v = np.repeat(k, g_k, axis=-3), np.repeat(v, g_v, axis=-3)
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
    w = np.exp(s - s.max(axis=-1, keepdims=True))
    return w / w.sum(axis=-1, keepdims=True) @ v


@given(data=st.data(), n=st.integers(1, 2), hk=st.integers(1, 2), hv=st.integers(1, 2), group=st.integers(1, 3),
       L=st.integers(1, 3), S=st.integers(1, 3), E=st.integers(1, 3), causal=st.booleans())
def test_sdpa_enable_gqa_values_and_gradients(device, data, n, hk, hv, group, L, S, E, causal):
    """enable_gqa against a NumPy reference, gradients against finite differences, on every backend."""
    hq = group * hk * hv   # divisible by both key and value head counts
    arrays = [draw_array(data, (n, hq, L, E), device), draw_array(data, (n, hk, S, E), device),
              draw_array(data, (n, hv, S, 2), device)]
    check_op(lambda q, k, v: MF.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True),
             lambda q, k, v: _np_gqa_sdpa(q, k, v, causal), arrays, device)


def test_scaled_dot_product_attention_gqa_refusals():
    """enable_gqa was missing (a TypeError for the keyword); now torch's argument, with its refusals."""
    rng = np.random.default_rng(9)
    q, k3 = mg.tensor(rng.standard_normal((1, 4, 2, 3))), mg.tensor(rng.standard_normal((1, 3, 2, 3)))
    with pytest.raises(RuntimeError, match="scaled_dot_product_attention.*divide"):
        MF.scaled_dot_product_attention(q, k3, k3, enable_gqa=True)
    with pytest.raises(RuntimeError):
        TF.scaled_dot_product_attention(torch.tensor(q.numpy()), torch.tensor(k3.numpy()), torch.tensor(k3.numpy()),
                                        enable_gqa=True)
    k2 = mg.tensor(rng.standard_normal((1, 2, 2, 3)))
    with pytest.raises(ValueError, match="scaled_dot_product_attention"):   # without enable_gqa: heads differ
        MF.scaled_dot_product_attention(q, k2, k2)
    with pytest.raises(ValueError, match="scaled_dot_product_attention: enable_gqa needs heads"):
        MF.scaled_dot_product_attention(q[0, 0], k2[0, 0], k2[0, 0], enable_gqa=True)


# ================================================================ 4. "Text classification with the torchtext library"
def _text_program(nn, vocab_size=20, embed_dim=6, num_class=4):
    class TextClassificationModel(nn.Module):
        def __init__(self, vocab_size, embed_dim, num_class):
            super().__init__()
            self.embedding = nn.EmbeddingBag(vocab_size, embed_dim, sparse=False)
            self.fc = nn.Linear(embed_dim, num_class)
            self.init_weights()

        def init_weights(self):   # (the tutorial's `.weight.data.uniform_(...)`, spelled with nn.init)
            initrange = 0.5
            nn.init.uniform_(self.embedding.weight, -initrange, initrange)
            nn.init.uniform_(self.fc.weight, -initrange, initrange)
            nn.init.zeros_(self.fc.bias)

        def forward(self, text, offsets):
            embedded = self.embedding(text, offsets)
            return self.fc(embedded)

    return TextClassificationModel(vocab_size, embed_dim, num_class)


def _text_dataset(rng, n=24, vocab_size=20, num_class=4):
    """(label, text) pairs as the AG_NEWS iterator yields them: labels 1..4, texts of 1-7 word ids, mostly
    from the label's own fifth of the vocabulary (so there is something to learn)."""
    out = []
    for _ in range(n):
        label, length = int(rng.integers(1, num_class + 1)), int(rng.integers(1, 8))
        own = rng.integers(0, vocab_size // num_class, length) + (label - 1) * (vocab_size // num_class)
        out.append((label, [int(w) for w in np.where(rng.random(length) < 0.7, own, rng.integers(0, vocab_size))]))
    return out


def _text_run(lib, nn, optim, data_mod, model, dataset, epochs=4):
    """The tutorial's collate_batch, DataLoader, train/evaluate loops, SGD(lr=5) + StepLR(1.0, 0.1), clip 0.1."""
    def label_pipeline(x):
        return int(x) - 1

    def text_pipeline(x):
        return list(x)

    def collate_batch(batch):
        label_list, text_list, offsets = [], [], [0]
        for _label, _text in batch:
            label_list.append(label_pipeline(_label))
            processed_text = lib.tensor(text_pipeline(_text), dtype=lib.int64)
            text_list.append(processed_text)
            offsets.append(processed_text.size(0))
        label_list = lib.tensor(label_list, dtype=lib.int64)
        offsets = lib.tensor(offsets[:-1]).cumsum(dim=0)
        text_list = lib.cat(text_list)
        return label_list, text_list, offsets

    train_dataloader = data_mod.DataLoader(dataset[:16], batch_size=6, shuffle=False, collate_fn=collate_batch)
    valid_dataloader = data_mod.DataLoader(dataset[16:], batch_size=6, shuffle=False, collate_fn=collate_batch)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=5.0)
    scheduler = optim.lr_scheduler.StepLR(optimizer, 1.0, gamma=0.1)
    log = []

    def evaluate(dataloader):
        model.eval()
        total_acc, total_count = 0, 0
        with lib.no_grad():
            for idx, (label, text, offsets) in enumerate(dataloader):
                predicted_label = model(text, offsets)
                loss = criterion(predicted_label, label)
                log.append(("eval_loss", loss.item()))
                total_acc += (predicted_label.argmax(1) == label).sum().item()
                total_count += label.size(0)
        return total_acc / total_count

    total_accu = None
    for epoch in range(1, epochs + 1):
        model.train()
        total_acc, total_count = 0, 0
        for idx, (label, text, offsets) in enumerate(train_dataloader):
            optimizer.zero_grad()
            predicted_label = model(text, offsets)
            loss = criterion(predicted_label, label)
            loss.backward()
            log.append(("grads", {k: _np(p.grad).copy() for k, p in model.named_parameters()}))
            nn.utils.clip_grad_norm_(model.parameters(), 0.1)
            optimizer.step()
            total_acc += (predicted_label.argmax(1) == label).sum().item()
            total_count += label.size(0)
            log.append(("loss", loss.item(), total_acc))
        accu_val = evaluate(valid_dataloader)
        if total_accu is not None and total_accu > accu_val:
            scheduler.step()
        else:
            total_accu = accu_val
        log.append(("epoch", accu_val, optimizer.param_groups[0]["lr"]))

    def predict(text):
        with lib.no_grad():
            text = lib.tensor(text_pipeline(text))
            output = model(text, lib.tensor([0]))
            return output.argmax(1).item() + 1

    log.append(("predict", *[predict(t) for _, t in dataset[:6]]))
    return log


def test_text_classification_tutorial():
    dataset = _text_dataset(np.random.default_rng(10))
    torch.manual_seed(10)
    theirs, ours = _text_program(tnn), _text_program(mnn)
    _copy_weights(theirs, ours)
    a = _text_run(mg, mnn, moptim, mdata, ours, dataset)
    b = _text_run(torch, tnn, torch.optim, torch.utils.data, theirs, dataset)
    _same_log(a, b)
    _same_state(ours, theirs)


@pytest.mark.parametrize("mode,variant", [
    (mode, variant) for mode in ("sum", "mean", "max")
    for variant in ("offsets", "2-D", "per_sample_weights", "padding_idx", "include_last_offset", "empty bag")
    if variant != "per_sample_weights" or mode == "sum"])   # (torch: mode='sum' only; see the refusal test)
def test_embedding_bag_options(mode, variant):
    """nn.EmbeddingBag's modes and options: outputs and weight (and per-sample-weight) gradients."""
    rng = np.random.default_rng(11)
    W = rng.standard_normal((10, 3))
    kw = dict(mode=mode)
    ids, offsets, psw = rng.integers(0, 10, 9), np.array([0, 2, 5]), None
    if variant == "2-D":
        ids, offsets = rng.integers(0, 10, (3, 4)), None
    elif variant == "per_sample_weights":
        psw = rng.standard_normal(9)
    elif variant == "padding_idx":
        kw["padding_idx"] = 4
        ids[[0, 3, 4]] = 4
    elif variant == "include_last_offset":
        kw["include_last_offset"] = True
        offsets = np.array([0, 2, 5, 7])
    elif variant == "empty bag":
        offsets = np.array([0, 2, 2, 9])
    bag_t = tnn.EmbeddingBag(10, 3, _weight=torch.tensor(W), **kw)
    bag_m = mnn.EmbeddingBag(10, 3, _weight=mg.tensor(W), **kw)
    args_t = [torch.tensor(ids), None if offsets is None else torch.tensor(offsets)]
    args_m = [mg.tensor(ids), None if offsets is None else mg.tensor(offsets)]
    if psw is not None:
        args_t.append(torch.tensor(psw, requires_grad=True))
        args_m.append(mg.tensor(psw, requires_grad=True))
    out_t, out_m = bag_t(*args_t), bag_m(*args_m)
    _close(f"embedding_bag {mode} {variant}", out_m, out_t)
    g = rng.standard_normal(tuple(out_t.shape))
    out_t.backward(torch.tensor(g))
    out_m.backward(mg.tensor(g))
    _close("weight.grad", bag_m.weight.grad, bag_t.weight.grad)
    if psw is not None:
        _close("per_sample_weights.grad", args_m[2].grad, args_t[2].grad)
    # the functional form with the same arguments
    _close("F.embedding_bag", MF.embedding_bag(args_m[0], mg.tensor(W), args_m[1], **kw,
                                              per_sample_weights=None if psw is None else args_m[2]),
           TF.embedding_bag(args_t[0], torch.tensor(W), args_t[1], **kw,
                            per_sample_weights=None if psw is None else args_t[2]))


def test_embedding_bag_from_pretrained_and_refusals():
    """EmbeddingBag.from_pretrained was missing; torch keeps the padding row's pretrained values there."""
    W = np.random.default_rng(12).standard_normal((6, 2))
    for kw in (dict(), dict(freeze=False, mode="sum", padding_idx=1), dict(mode="max", include_last_offset=True)):
        bag_t = tnn.EmbeddingBag.from_pretrained(torch.tensor(W), **kw)
        bag_m = mnn.EmbeddingBag.from_pretrained(mg.tensor(W), **kw)
        assert bag_m.weight.requires_grad == bag_t.weight.requires_grad
        assert (bag_m.mode, bag_m.padding_idx, bag_m.include_last_offset) == \
            (bag_t.mode, bag_t.padding_idx, bag_t.include_last_offset)
        _close("from_pretrained weight", bag_m.weight, bag_t.weight, rtol=0, atol=0)
        ids, offs = [1, 2, 1, 5, 0], [0, 2, 4]
        _close(f"from_pretrained {kw}", bag_m(mg.tensor(ids), mg.tensor(offs)),
               bag_t(torch.tensor(ids), torch.tensor(offs)))
    with pytest.raises(ValueError, match="EmbeddingBag.from_pretrained"):
        mnn.EmbeddingBag.from_pretrained(mg.tensor(W[0]))
    bag = mnn.EmbeddingBag(6, 2, mode="mean")
    with pytest.raises((ValueError, NotImplementedError), match="per_sample_weights"):   # torch: sum only
        bag(mg.tensor([1, 2]), mg.tensor([0]), per_sample_weights=mg.tensor([1.0, 2.0]))
    with pytest.raises(NotImplementedError):
        tnn.EmbeddingBag(6, 2, mode="mean")(torch.tensor([1, 2]), torch.tensor([0]),
                                            per_sample_weights=torch.tensor([1.0, 2.0]))


# ================================================================ 5. a tiny ViT
def _timm_blocks(lib, nn, F, dim, depth, heads, mlp_dim, fused):
    """timm's ViT Block, hand-written: one qkv Linear, unbind, (q @ k^T) * scale softmax or F.sdpa, an MLP."""
    class Attention(nn.Module):
        def __init__(self, dim, num_heads=8, qkv_bias=False):
            super().__init__()
            self.num_heads = num_heads
            self.head_dim = dim // num_heads
            self.scale = self.head_dim ** -0.5
            self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
            self.attn_drop = nn.Dropout(0.0)
            self.proj = nn.Linear(dim, dim)

        def forward(self, x):
            B, N, C = x.shape
            qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)
            if fused:
                x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop.p if self.training else 0.0)
            else:
                q = q * self.scale
                attn = q @ k.transpose(-2, -1)
                attn = attn.softmax(dim=-1)
                attn = self.attn_drop(attn)
                x = attn @ v
            x = x.transpose(1, 2).reshape(B, N, C)
            return self.proj(x)

    class Mlp(nn.Module):
        def __init__(self, in_features, hidden_features):
            super().__init__()
            self.fc1 = nn.Linear(in_features, hidden_features)
            self.act = nn.GELU(approximate="tanh")
            self.fc2 = nn.Linear(hidden_features, in_features)

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x)))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1 = nn.LayerNorm(dim, eps=1e-6)
            self.attn = Attention(dim, num_heads=heads, qkv_bias=True)
            self.norm2 = nn.LayerNorm(dim, eps=1e-6)
            self.mlp = Mlp(dim, mlp_dim)

        def forward(self, x):
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))

    return nn.Sequential(*[Block() for _ in range(depth)], nn.LayerNorm(dim, eps=1e-6))


def _vit_program(lib, nn, pool="cls", norm_first=True, dropout=0.0, blocks="torch", F=None):
    class PatchEmbed(nn.Module):
        def __init__(self, img_size=8, patch=4, in_chans=3, dim=8):
            super().__init__()
            self.num_patches = (img_size // patch) ** 2
            self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch, stride=patch)

        def forward(self, x):
            x = self.proj(x)                       # (B, dim, H/p, W/p)
            return x.flatten(2).transpose(1, 2)    # (B, N, dim)

    class ViT(nn.Module):
        def __init__(self, num_classes=3, dim=8, depth=2, heads=2, mlp_dim=16):
            super().__init__()
            self.patch_embed = PatchEmbed(dim=dim)
            n = self.patch_embed.num_patches
            self.cls_token = nn.Parameter(lib.zeros(1, 1, dim))
            self.pos_embed = nn.Parameter(lib.zeros(1, n + 1, dim))
            self.pos_drop = nn.Dropout(dropout)
            if blocks == "torch":
                layer = nn.TransformerEncoderLayer(dim, heads, mlp_dim, dropout, activation="gelu", batch_first=True,
                                                   norm_first=norm_first)
                self.encoder = nn.TransformerEncoder(layer, depth, norm=nn.LayerNorm(dim),
                                                     enable_nested_tensor=False)
            else:
                self.encoder = _timm_blocks(lib, nn, F, dim, depth, heads, mlp_dim, fused=blocks == "timm-sdpa")
            self.head = nn.Linear(dim, num_classes)
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
            nn.init.trunc_normal_(self.cls_token, std=0.02)
            self.apply(self._init_weights)

        def _init_weights(self, m):
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.LayerNorm):
                nn.init.constant_(m.bias, 0)
                nn.init.constant_(m.weight, 1.0)

        def forward(self, x):
            x = self.patch_embed(x)
            cls_tokens = self.cls_token.expand(x.shape[0], -1, -1)
            x = lib.cat((cls_tokens, x), dim=1)
            x = self.pos_drop(x + self.pos_embed)
            x = self.encoder(x)
            x = x[:, 0] if pool == "cls" else x.mean(dim=1)
            return self.head(x)

    return ViT()


def _vit_run(lib, nn, optim, model, X, Y, steps=6, warmup=3):
    """AdamW (weight decay only on weights, as ViT recipes do) with a linear-warmup LambdaLR, label smoothing."""
    decay = [p for n, p in model.named_parameters() if p.ndim > 1 and "pos_embed" not in n and "cls_token" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim > 1 and "pos_embed" not in n
                                                               and "cls_token" not in n)]
    optimizer = optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=3e-3, betas=(0.9, 0.999))
    scheduler = optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: (step + 1) / warmup if step < warmup else 0.5 * (1 + math.cos(math.pi * step / steps)))
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    log = []
    model.train()
    for step in range(steps):
        xb, yb = lib.tensor(X[step % 2 * 3:step % 2 * 3 + 3]), lib.tensor(Y[step % 2 * 3:step % 2 * 3 + 3])
        optimizer.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        log.append(("grads", {k: _np(p.grad).copy() for k, p in model.named_parameters()}))
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        log.append(("loss", loss.item(), *scheduler.get_last_lr()))
    model.eval()
    with lib.no_grad():
        logits = model(lib.tensor(X))
        log.append(("eval", *_np(logits).ravel(), *_np(logits.argmax(dim=-1)).ravel()))
    return log


@pytest.mark.parametrize("pool,norm_first,blocks", [("cls", True, "torch"), ("mean", False, "torch"),
                                                    ("cls", True, "timm"), ("mean", True, "timm-sdpa")])
def test_vit_adamw_warmup(pool, norm_first, blocks):
    rng = np.random.default_rng(13)
    X, Y = rng.standard_normal((6, 3, 8, 8)), rng.integers(0, 3, 6)
    torch.manual_seed(13)
    theirs = _vit_program(torch, tnn, pool, norm_first, blocks=blocks, F=TF)
    ours = _vit_program(mg, mnn, pool, norm_first, blocks=blocks, F=MF)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _copy_weights(theirs, ours)
    a = _vit_run(mg, mnn, moptim, ours, X, Y)
    b = _vit_run(torch, tnn, torch.optim, theirs, X, Y)
    _same_log(a, b)
    _same_state(ours, theirs)


# ================================================================ F.multi_head_attention_forward (CLIP's AttentionPool2d)
def _attention_pool_program(lib, nn, F, spacial_dim=2, embed_dim=8, num_heads=2, output_dim=5):
    """OpenAI CLIP's AttentionPool2d: the mean token attends over the feature map, via the functional form."""
    class AttentionPool2d(nn.Module):
        def __init__(self):
            super().__init__()
            self.positional_embedding = nn.Parameter(lib.randn(spacial_dim ** 2 + 1, embed_dim) / embed_dim ** 0.5)
            self.k_proj = nn.Linear(embed_dim, embed_dim)
            self.q_proj = nn.Linear(embed_dim, embed_dim)
            self.v_proj = nn.Linear(embed_dim, embed_dim)
            self.c_proj = nn.Linear(embed_dim, output_dim or embed_dim)
            self.num_heads = num_heads

        def forward(self, x):
            x = x.flatten(start_dim=2).permute(2, 0, 1)  # NCHW -> (HW)NC
            x = lib.cat([x.mean(dim=0, keepdim=True), x], dim=0)  # (HW+1)NC
            x = x + self.positional_embedding[:, None, :].to(x.dtype)
            x, _ = F.multi_head_attention_forward(
                query=x[:1], key=x, value=x, embed_dim_to_check=x.shape[-1], num_heads=self.num_heads,
                q_proj_weight=self.q_proj.weight, k_proj_weight=self.k_proj.weight, v_proj_weight=self.v_proj.weight,
                in_proj_weight=None, in_proj_bias=lib.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]),
                bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0, out_proj_weight=self.c_proj.weight,
                out_proj_bias=self.c_proj.bias, use_separate_proj_weight=True, training=self.training,
                need_weights=False)
            return x.squeeze(0)

    return AttentionPool2d()


def test_clip_attention_pool_multi_head_attention_forward():
    """F.multi_head_attention_forward was missing (an AttributeError); CLIP's pooling layer trains the same."""
    torch.manual_seed(16)
    theirs = _attention_pool_program(torch, tnn, TF)
    ours = _attention_pool_program(mg, mnn, MF)
    _copy_weights(theirs, ours)
    X = np.random.default_rng(16).standard_normal((3, 8, 2, 2))
    opt_t, opt_m = torch.optim.SGD(theirs.parameters(), lr=0.1), moptim.SGD(ours.parameters(), lr=0.1)
    for step in range(3):
        out_t, out_m = theirs(torch.tensor(X)), ours(mg.tensor(X))
        _close(f"attention pool out {step}", out_m, out_t)
        opt_t.zero_grad(), opt_m.zero_grad()
        (out_t ** 2).sum().backward()
        (out_m ** 2).sum().backward()
        _same_grads(ours, theirs)
        opt_t.step(), opt_m.step()
    _same_state(ours, theirs)


@pytest.mark.parametrize("cfg", [dict(), dict(add_bias_kv=True, add_zero_attn=True), dict(kdim=3, vdim=5),
                                 dict(bias=False)])
def test_multi_head_attention_forward_matches_the_module(cfg):
    """The functional with a torch MultiheadAttention's parameters, both libraries; weights and masks too."""
    torch.manual_seed(17)
    rng = np.random.default_rng(17)
    mha_t = tnn.MultiheadAttention(4, 2, **cfg)
    mha_m = mnn.MultiheadAttention(4, 2, **cfg)
    _copy_weights(mha_t, mha_m)
    kd, vd = cfg.get("kdim", 4), cfg.get("vdim", 4)
    q, k, v = rng.standard_normal((3, 2, 4)), rng.standard_normal((5, 2, kd)), rng.standard_normal((5, 2, vd))
    kpm = np.zeros((2, 5), dtype=bool)
    kpm[1, 3:] = True
    am = rng.standard_normal((3, 5))

    def call(F, m, lib, unbatched=False):
        sep = not m._qkv_same_embed_dim
        args = [lib.tensor(a[:, 0] if unbatched else a) for a in (q, k, v)]
        return F.multi_head_attention_forward(
            *args, 4, 2, m.in_proj_weight, m.in_proj_bias, m.bias_k, m.bias_v, m.add_zero_attn, 0.0,
            m.out_proj.weight, m.out_proj.bias, training=True,
            key_padding_mask=lib.tensor(kpm[0] if unbatched else kpm), attn_mask=lib.tensor(am),
            need_weights=True, average_attn_weights=False, use_separate_proj_weight=sep,
            q_proj_weight=m.q_proj_weight, k_proj_weight=m.k_proj_weight, v_proj_weight=m.v_proj_weight)

    for unbatched in (False, True):
        (out_t, w_t), (out_m, w_m) = call(TF, mha_t, torch, unbatched), call(MF, mha_m, mg, unbatched)
        _close("functional out", out_m, out_t)
        _close("functional weights", w_m, w_t)
        (out_t.sum() + (w_t ** 2).sum()).backward()
        (out_m.sum() + (w_m ** 2).sum()).backward()
    _same_grads(mha_m, mha_t)
    with pytest.raises(NotImplementedError, match="static_k"):
        MF.multi_head_attention_forward(mg.tensor(q), mg.tensor(q), mg.tensor(q), 4, 2, mha_m.in_proj_weight,
                                        None, None, None, False, 0.0, mha_m.out_proj.weight, None,
                                        static_k=mg.zeros(4, 5, 2))
    with pytest.raises(ValueError, match="multi_head_attention_forward: in_proj_weight"):
        MF.multi_head_attention_forward(mg.tensor(q), mg.tensor(q), mg.tensor(q), 4, 2, None, None, None, None,
                                        False, 0.0, mha_m.out_proj.weight, None)


def test_multihead_attention_out_proj_hooks_do_not_run_as_in_torch():
    """torch's MultiheadAttention uses out_proj's parameters through the functional form, so hooks on out_proj
    never fire; ours now computes the same way (it used to call the out_proj module)."""
    calls = {"torch": 0, "mg": 0}
    mha_t, mha_m = tnn.MultiheadAttention(4, 2), mnn.MultiheadAttention(4, 2)
    mha_t.out_proj.register_forward_hook(lambda *a: calls.__setitem__("torch", calls["torch"] + 1))
    mha_m.out_proj.register_forward_hook(lambda *a: calls.__setitem__("mg", calls["mg"] + 1))
    x = np.ones((2, 1, 4))
    mha_t(*[torch.tensor(x)] * 3)
    mha_m(*[mg.tensor(x)] * 3)
    assert calls == {"torch": 0, "mg": 0}
