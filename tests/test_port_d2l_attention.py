"""Porting audit: the attention chapters of "Dive into Deep Learning" (d2l.ai, PyTorch edition).

The book's code (written here from memory, without importing d2l) is written ONCE, in `_d2l_program`,
against the names `torch` and `nn`; the same source is run with `torch` -> torch and with `torch` ->
minigrad. Each test builds both, copies torch's weights into ours (state_dict), runs forward, backward
and a few optimizer steps on tiny generated data in float64 with dropout 0 (or in eval mode), and
compares outputs, attention weights, losses, gradients and updated parameters (rtol 1e-7).

Programs: Nadaraya-Watson regression (non-parametric, the newer `nadaraya_watson`, and the
parametric NWKernelRegression trained with SGD), masked_softmax (1-D and 2-D valid_lens),
AdditiveAttention, DotProductAttention, the Bahdanau decoder (Seq2SeqAttentionDecoder with a GRU
encoder, d2l's init_seq2seq via `_flat_weights_names`, grad_clipping, greedy predict_step),
MultiHeadAttention (transpose_qkv / transpose_output), PositionalEncoding, and the from-scratch
Transformer (AddNorm, PositionWiseFFN, encoder/decoder blocks with the `state[2][i]` key-value cache,
attention_weights bookkeeping, training and incremental decoding).

Found and fixed: `nn.LazyBatchNorm1d` (11.7.2's LayerNorm-vs-BatchNorm snippet), with LazyBatchNorm2d/3d,
did not exist (minigrad/nn/norm_more.py; tests at the end of this file).

Differences met, all documented in README.md (not bugs; each has a test that the book's spelling
fails with a clear error, and the port is the smallest change):
* masked_softmax's `X[~mask] = value` writes through the view `X.reshape(-1, shape[-1])` of the
  scores in a recorded graph: once refused, now recorded as a write into the scores (as torch's
  CopySlices), so the book's spelling runs unchanged; the clone() port is still tested too.
* The old MaskedSoftmaxCELoss calls nn.CrossEntropyLoss on `pred.permute(0, 2, 1)` (classes in dim 1);
  minigrad's takes the class dimension last, so that is a ValueError naming both shapes. Port: drop the
  permute. (When vocab_size == num_steps the shapes cannot tell the layouts apart: see the report.)
* The newer Seq2Seq.loss multiplies a float64 loss by `mask.type(torch.float32)`: torch promotes,
  minigrad refuses mixing float32 and float64 (TypeError). In float32 (the book's default) it ports
  unchanged; in float64 the port writes `.type(l.dtype)`.
"""
import math
import types

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as mnn
from porting import closer, to_numpy

torch = pytest.importorskip("torch")
tnn = torch.nn

TOL = dict(rtol=1e-7, atol=1e-10)
# the book logs float(l.sum()) of a loss that requires grad; torch's notice about it is not what is tested
pytestmark = pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True:UserWarning")


@pytest.fixture(autouse=True)
def _float64_defaults():
    """The book's code calls zeros/arange/rand/LazyLinear plainly: both libraries default to float64."""
    old_t, old_m = torch.get_default_dtype(), mg.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    mg.set_default_dtype(mg.float64)
    yield
    torch.set_default_dtype(old_t)
    mg.set_default_dtype(old_m)


@pytest.fixture
def float32_defaults(_float64_defaults):
    """The book's own default dtype, float32, in both libraries."""
    torch.set_default_dtype(torch.float32)
    mg.set_default_dtype(mg.float32)


# ---------------------------------------------------------------- helpers
_np = to_numpy
_close = closer(TOL)


def _copy_weights(theirs, ours):
    missing, unexpected = ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    assert not missing and not unexpected


def _same_state(ours, theirs, **tol):
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)
    for k in a:
        _close(k, a[k], b[k], **tol)


def _same_grads(ours, theirs, **tol):
    named_t, named_m = list(theirs.named_parameters()), list(ours.named_parameters())
    assert [k for k, _ in named_m] == [k for k, _ in named_t]
    for (k, p), (_, q) in zip(named_m, named_t):
        assert (p.grad is None) == (q.grad is None), k
        if p.grad is not None:
            _close(f"{k}.grad", p.grad, q.grad, **tol)


def _both(a, **kw):
    """A NumPy array as (torch tensor, minigrad tensor) with the same values and dtype."""
    a = np.asarray(a)
    return torch.tensor(a, **kw), mg.tensor(a, **kw)


def _programs(**kw):
    return _d2l_program(torch, tnn, **kw), _d2l_program(mg, mnn, **kw)


# ================================================================ the book's code, written once
def _d2l_program(torch, nn, clone_before_mask=None, mask_dtype=None):  # noqa: C901 - the chapter, in one place
    """d2l's attention chapters for either library (`torch` is torch or minigrad).

    clone_before_mask: the one-word port of masked_softmax (None: as the book, a clone for minigrad).
    mask_dtype: the dtype of Seq2Seq.loss's mask (None: the book's torch.float32).
    """
    F = nn.functional
    if clone_before_mask is None:
        clone_before_mask = torch.__name__ == "minigrad"

    # ---- 11.2 attention pooling: Nadaraya-Watson
    def nadaraya_watson(x_train, y_train, x_val, kernel):
        dists = x_train.reshape((-1, 1)) - x_val.reshape((1, -1))
        k = kernel(dists).type(torch.float32)  # (the book's cast)
        attention_w = k / k.sum(0)
        y_hat = y_train @ attention_w
        return y_hat, attention_w

    def gaussian(x):
        return torch.exp(-x**2 / 2)

    class NWKernelRegression(nn.Module):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.w = nn.Parameter(torch.rand((1,), requires_grad=True))

        def forward(self, queries, keys, values):
            queries = queries.repeat_interleave(keys.shape[1]).reshape((-1, keys.shape[1]))
            self.attention_weights = nn.functional.softmax(-((queries - keys) * self.w)**2 / 2, dim=1)
            return torch.bmm(self.attention_weights.unsqueeze(1), values.unsqueeze(-1)).reshape(-1)

    # ---- 11.3 scoring functions
    def sequence_mask(X, valid_len, value=0):
        maxlen = X.size(1)
        mask = torch.arange((maxlen), dtype=torch.float32, device=X.device)[None, :] < valid_len[:, None]
        X[~mask] = value
        return X

    def masked_softmax(X, valid_lens):
        def _sequence_mask(X, valid_len, value=0):
            maxlen = X.size(1)
            mask = torch.arange((maxlen), dtype=torch.float32, device=X.device)[None, :] < valid_len[:, None]
            X[~mask] = value
            return X

        if valid_lens is None:
            return nn.functional.softmax(X, dim=-1)
        shape = X.shape
        if valid_lens.dim() == 1:
            valid_lens = torch.repeat_interleave(valid_lens, shape[1])
        else:
            valid_lens = valid_lens.reshape(-1)
        X = X.reshape(-1, shape[-1])
        if clone_before_mask:  # minigrad's port: the in-place write must not go through a view of the scores
            X = X.clone()
        X = _sequence_mask(X, valid_lens, value=-1e6)
        return nn.functional.softmax(X.reshape(shape), dim=-1)

    class DotProductAttention(nn.Module):
        def __init__(self, dropout):
            super().__init__()
            self.dropout = nn.Dropout(dropout)

        def forward(self, queries, keys, values, valid_lens=None):
            d = queries.shape[-1]
            scores = torch.bmm(queries, keys.transpose(1, 2)) / math.sqrt(d)
            self.attention_weights = masked_softmax(scores, valid_lens)
            return torch.bmm(self.dropout(self.attention_weights), values)

    class AdditiveAttention(nn.Module):
        def __init__(self, num_hiddens, dropout, **kwargs):
            super().__init__(**kwargs)
            self.W_k = nn.LazyLinear(num_hiddens, bias=False)
            self.W_q = nn.LazyLinear(num_hiddens, bias=False)
            self.w_v = nn.LazyLinear(1, bias=False)
            self.dropout = nn.Dropout(dropout)

        def forward(self, queries, keys, values, valid_lens):
            queries, keys = self.W_q(queries), self.W_k(keys)
            features = queries.unsqueeze(2) + keys.unsqueeze(1)
            features = torch.tanh(features)
            scores = self.w_v(features).squeeze(-1)
            self.attention_weights = masked_softmax(scores, valid_lens)
            return torch.bmm(self.dropout(self.attention_weights), values)

    # ---- 10.7 / 11.4 encoder-decoder with Bahdanau attention
    def init_seq2seq(module):
        if type(module) == nn.Linear:
            nn.init.xavier_uniform_(module.weight)
        if type(module) == nn.GRU:
            for param in module._flat_weights_names:
                if "weight" in param:
                    nn.init.xavier_uniform_(module._parameters[param])

    class Seq2SeqEncoder(nn.Module):
        def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, embed_size)
            self.rnn = nn.GRU(embed_size, num_hiddens, num_layers, dropout=dropout)
            self.apply(init_seq2seq)

        def forward(self, X, *args):
            embs = self.embedding(X.t().type(torch.int64))
            outputs, state = self.rnn(embs)
            return outputs, state

    class Seq2SeqAttentionDecoder(nn.Module):
        def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0):
            super().__init__()
            self.attention = AdditiveAttention(num_hiddens, dropout)
            self.embedding = nn.Embedding(vocab_size, embed_size)
            self.rnn = nn.GRU(embed_size + num_hiddens, num_hiddens, num_layers, dropout=dropout)
            self.dense = nn.LazyLinear(vocab_size)
            self.apply(init_seq2seq)

        def init_state(self, enc_outputs, enc_valid_lens):
            outputs, hidden_state = enc_outputs
            return (outputs.permute(1, 0, 2), hidden_state, enc_valid_lens)

        def forward(self, X, state):
            enc_outputs, hidden_state, enc_valid_lens = state
            X = self.embedding(X).permute(1, 0, 2)
            outputs, self._attention_weights = [], []
            for x in X:
                query = torch.unsqueeze(hidden_state[-1], dim=1)
                context = self.attention(query, enc_outputs, enc_outputs, enc_valid_lens)
                x = torch.cat((context, torch.unsqueeze(x, dim=1)), dim=-1)
                out, hidden_state = self.rnn(x.permute(1, 0, 2), hidden_state)
                outputs.append(out)
                self._attention_weights.append(self.attention.attention_weights)
            outputs = self.dense(torch.cat(outputs, dim=0))
            return outputs.permute(1, 0, 2), [enc_outputs, hidden_state, enc_valid_lens]

        @property
        def attention_weights(self):
            return self._attention_weights

    class EncoderDecoder(nn.Module):
        def __init__(self, encoder, decoder, tgt_pad):
            super().__init__()
            self.encoder, self.decoder, self.tgt_pad = encoder, decoder, tgt_pad

        def forward(self, enc_X, dec_X, *args):
            enc_all_outputs = self.encoder(enc_X, *args)
            dec_state = self.decoder.init_state(enc_all_outputs, *args)
            return self.decoder(dec_X, dec_state)[0]

        def loss(self, Y_hat, Y):  # d2l.Classifier.loss(averaged=False), then Seq2Seq's mask
            Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
            l = F.cross_entropy(Y_hat, Y.reshape((-1,)), reduction="none")
            mask = (Y.reshape(-1) != self.tgt_pad).type(mask_dtype or torch.float32)
            return (l * mask).sum() / mask.sum()

        def predict_step(self, batch, device, num_steps, save_attention_weights=False):
            batch = [a.to(device) for a in batch]
            src, tgt, src_valid_len, _ = batch
            enc_all_outputs = self.encoder(src, src_valid_len)
            dec_state = self.decoder.init_state(enc_all_outputs, src_valid_len)
            outputs, attention_weights = [tgt[:, (0)].unsqueeze(1), ], []
            for _ in range(num_steps):
                Y, dec_state = self.decoder(outputs[-1], dec_state)
                outputs.append(Y.argmax(2))
                if save_attention_weights:
                    attention_weights.append(self.decoder.attention_weights)
            return torch.cat(outputs[1:], 1), attention_weights

    def grad_clipping(net, theta):
        params = [p for p in net.parameters() if p.requires_grad]
        norm = torch.sqrt(sum(torch.sum((p.grad ** 2)) for p in params))
        if norm > theta:
            for param in params:
                param.grad[:] *= theta / norm

    class MaskedSoftmaxCELoss(nn.CrossEntropyLoss):  # the book's first edition
        def forward(self, pred, label, valid_len):
            weights = torch.ones_like(label)
            weights = sequence_mask(weights, valid_len)
            self.reduction = "none"
            unweighted_loss = super(MaskedSoftmaxCELoss, self).forward(pred.permute(0, 2, 1), label)
            weighted_loss = (unweighted_loss * weights).mean(dim=1)
            return weighted_loss

    class MaskedSoftmaxCELossClassesLast(nn.CrossEntropyLoss):  # its minigrad port: no permute
        def forward(self, pred, label, valid_len):
            weights = torch.ones_like(label)
            weights = sequence_mask(weights, valid_len)
            self.reduction = "none"
            unweighted_loss = super().forward(pred, label)
            weighted_loss = (unweighted_loss * weights).mean(dim=1)
            return weighted_loss

    # ---- 11.5 multi-head attention
    class MultiHeadAttention(nn.Module):
        def __init__(self, num_hiddens, num_heads, dropout, bias=False, **kwargs):
            super().__init__()
            self.num_heads = num_heads
            self.attention = DotProductAttention(dropout)
            self.W_q = nn.LazyLinear(num_hiddens, bias=bias)
            self.W_k = nn.LazyLinear(num_hiddens, bias=bias)
            self.W_v = nn.LazyLinear(num_hiddens, bias=bias)
            self.W_o = nn.LazyLinear(num_hiddens, bias=bias)

        def forward(self, queries, keys, values, valid_lens):
            queries = self.transpose_qkv(self.W_q(queries))
            keys = self.transpose_qkv(self.W_k(keys))
            values = self.transpose_qkv(self.W_v(values))
            if valid_lens is not None:
                valid_lens = torch.repeat_interleave(valid_lens, repeats=self.num_heads, dim=0)
            output = self.attention(queries, keys, values, valid_lens)
            output_concat = self.transpose_output(output)
            return self.W_o(output_concat)

        def transpose_qkv(self, X):
            X = X.reshape(X.shape[0], X.shape[1], self.num_heads, -1)
            X = X.permute(0, 2, 1, 3)
            return X.reshape(-1, X.shape[2], X.shape[3])

        def transpose_output(self, X):
            X = X.reshape(-1, self.num_heads, X.shape[1], X.shape[2])
            X = X.permute(0, 2, 1, 3)
            return X.reshape(X.shape[0], X.shape[1], -1)

    # ---- 11.6 positional encoding
    class PositionalEncoding(nn.Module):
        def __init__(self, num_hiddens, dropout, max_len=1000):
            super().__init__()
            self.dropout = nn.Dropout(dropout)
            self.P = torch.zeros((1, max_len, num_hiddens))
            X = torch.arange(max_len, dtype=torch.float32).reshape(-1, 1) / torch.pow(
                10000, torch.arange(0, num_hiddens, 2, dtype=torch.float32) / num_hiddens)
            self.P[:, :, 0::2] = torch.sin(X)
            self.P[:, :, 1::2] = torch.cos(X)

        def forward(self, X):
            X = X + self.P[:, :X.shape[1], :].to(X.device)
            return self.dropout(X)

    # ---- 11.7 the Transformer
    class PositionWiseFFN(nn.Module):
        def __init__(self, ffn_num_hiddens, ffn_num_outputs):
            super().__init__()
            self.dense1 = nn.LazyLinear(ffn_num_hiddens)
            self.relu = nn.ReLU()
            self.dense2 = nn.LazyLinear(ffn_num_outputs)

        def forward(self, X):
            return self.dense2(self.relu(self.dense1(X)))

    class AddNorm(nn.Module):
        def __init__(self, norm_shape, dropout):
            super().__init__()
            self.dropout = nn.Dropout(dropout)
            self.ln = nn.LayerNorm(norm_shape)

        def forward(self, X, Y):
            return self.ln(self.dropout(Y) + X)

    class TransformerEncoderBlock(nn.Module):
        def __init__(self, num_hiddens, ffn_num_hiddens, num_heads, dropout, use_bias=False):
            super().__init__()
            self.attention = MultiHeadAttention(num_hiddens, num_heads, dropout, use_bias)
            self.addnorm1 = AddNorm(num_hiddens, dropout)
            self.ffn = PositionWiseFFN(ffn_num_hiddens, num_hiddens)
            self.addnorm2 = AddNorm(num_hiddens, dropout)

        def forward(self, X, valid_lens):
            Y = self.addnorm1(X, self.attention(X, X, X, valid_lens))
            return self.addnorm2(Y, self.ffn(Y))

    class TransformerEncoder(nn.Module):
        def __init__(self, vocab_size, num_hiddens, ffn_num_hiddens, num_heads, num_blks, dropout, use_bias=False):
            super().__init__()
            self.num_hiddens = num_hiddens
            self.embedding = nn.Embedding(vocab_size, num_hiddens)
            self.pos_encoding = PositionalEncoding(num_hiddens, dropout)
            self.blks = nn.Sequential()
            for i in range(num_blks):
                self.blks.add_module("block" + str(i), TransformerEncoderBlock(
                    num_hiddens, ffn_num_hiddens, num_heads, dropout, use_bias))

        def forward(self, X, valid_lens):
            X = self.pos_encoding(self.embedding(X) * math.sqrt(self.num_hiddens))
            self.attention_weights = [None] * len(self.blks)
            for i, blk in enumerate(self.blks):
                X = blk(X, valid_lens)
                self.attention_weights[i] = blk.attention.attention.attention_weights
            return X

    class TransformerDecoderBlock(nn.Module):
        def __init__(self, num_hiddens, ffn_num_hiddens, num_heads, dropout, i):
            super().__init__()
            self.i = i
            self.attention1 = MultiHeadAttention(num_hiddens, num_heads, dropout)
            self.addnorm1 = AddNorm(num_hiddens, dropout)
            self.attention2 = MultiHeadAttention(num_hiddens, num_heads, dropout)
            self.addnorm2 = AddNorm(num_hiddens, dropout)
            self.ffn = PositionWiseFFN(ffn_num_hiddens, num_hiddens)
            self.addnorm3 = AddNorm(num_hiddens, dropout)

        def forward(self, X, state):
            enc_outputs, enc_valid_lens = state[0], state[1]
            if state[2][self.i] is None:
                key_values = X
            else:
                key_values = torch.cat((state[2][self.i], X), dim=1)
            state[2][self.i] = key_values
            if self.training:
                batch_size, num_steps, _ = X.shape
                dec_valid_lens = torch.arange(1, num_steps + 1, device=X.device).repeat(batch_size, 1)
            else:
                dec_valid_lens = None
            X2 = self.attention1(X, key_values, key_values, dec_valid_lens)
            Y = self.addnorm1(X, X2)
            Y2 = self.attention2(Y, enc_outputs, enc_outputs, enc_valid_lens)
            Z = self.addnorm2(Y, Y2)
            return self.addnorm3(Z, self.ffn(Z)), state

    class TransformerDecoder(nn.Module):
        def __init__(self, vocab_size, num_hiddens, ffn_num_hiddens, num_heads, num_blks, dropout):
            super().__init__()
            self.num_hiddens = num_hiddens
            self.num_blks = num_blks
            self.embedding = nn.Embedding(vocab_size, num_hiddens)
            self.pos_encoding = PositionalEncoding(num_hiddens, dropout)
            self.blks = nn.Sequential()
            for i in range(num_blks):
                self.blks.add_module("block" + str(i), TransformerDecoderBlock(
                    num_hiddens, ffn_num_hiddens, num_heads, dropout, i))
            self.dense = nn.LazyLinear(vocab_size)

        def init_state(self, enc_outputs, enc_valid_lens):
            return [enc_outputs, enc_valid_lens, [None] * self.num_blks]

        def forward(self, X, state):
            X = self.pos_encoding(self.embedding(X) * math.sqrt(self.num_hiddens))
            self._attention_weights = [[None] * len(self.blks) for _ in range(2)]
            for i, blk in enumerate(self.blks):
                X, state = blk(X, state)
                self._attention_weights[0][i] = blk.attention1.attention.attention_weights
                self._attention_weights[1][i] = blk.attention2.attention.attention_weights
            return self.dense(X), state

        @property
        def attention_weights(self):
            return self._attention_weights

    # ---- the chapters' attention-weight bookkeeping for show_heatmaps
    def bahdanau_heatmap(dec_attention_weights, num_steps):
        attention_weights = torch.cat([step[0][0][0] for step in dec_attention_weights], 0)
        return attention_weights.reshape((1, 1, -1, num_steps))

    def transformer_heatmaps(net, dec_attention_weight_seq, num_blks, num_heads, num_steps):
        enc_attention_weights = torch.cat(net.encoder.attention_weights, 0)
        enc_attention_weights = enc_attention_weights.reshape((num_blks, num_heads, -1, num_steps))
        dec_attention_weights_2d = [head[0].tolist() for step in dec_attention_weight_seq
                                    for attn in step for blk in attn for head in blk]
        # the book pads the ragged rows with pd.DataFrame(...).fillna(0.0).values
        width = max(len(row) for row in dec_attention_weights_2d)
        filled = [row + [0.0] * (width - len(row)) for row in dec_attention_weights_2d]
        dec_attention_weights_filled = torch.tensor(filled)
        dec_attention_weights = dec_attention_weights_filled.reshape((-1, 2, num_blks, num_heads, num_steps))
        dec_self_attention_weights, dec_inter_attention_weights = dec_attention_weights.permute(1, 2, 3, 0, 4)
        return enc_attention_weights, dec_self_attention_weights, dec_inter_attention_weights

    return types.SimpleNamespace(**{k: v for k, v in locals().items() if not k.startswith("_")})


# ================================================================ data
RNG = np.random.default_rng(0)
VOCAB, PAD, BOS = 11, 0, 1


def _seq_batch(batch=3, steps=5, rng=RNG):
    """A toy translation batch (src, tgt_in, src_valid_len, tgt_out) as d2l's MTFraEng yields them."""
    src = rng.integers(3, VOCAB, (batch, steps))
    src_valid = rng.integers(2, steps + 1, batch)
    for b, n in enumerate(src_valid):
        src[b, n:] = PAD
    tgt = rng.integers(3, VOCAB, (batch, steps))
    tgt[0, steps - 1:] = PAD  # some padding in the target, which Seq2Seq.loss masks
    tgt_in = np.concatenate([np.full((batch, 1), BOS), tgt[:, :-1]], 1)
    return src, tgt_in, src_valid, tgt


def _tensors(lib, arrays):
    return [lib.tensor(a) for a in arrays]


# ================================================================ 11.2 Nadaraya-Watson
def _nw_data(n_train=12):
    x_train = np.sort(RNG.random(n_train) * 5)
    y_train = 2 * np.sin(x_train) + x_train**0.8 + RNG.normal(0.0, 0.5, n_train)
    x_val = np.arange(0, 5, 0.5)
    return x_train, y_train, x_val


def test_nadaraya_watson_nonparametric_first_edition():
    x_train, y_train, x_test = _nw_data()
    n_train = len(x_train)
    res = []
    for lib, nn in ((torch, tnn), (mg, mnn)):
        xt, yt, xs = (lib.tensor(a) for a in (x_train, y_train, x_test))
        X_repeat = xs.repeat_interleave(n_train).reshape((-1, n_train))
        attention_weights = nn.functional.softmax(-(X_repeat - xt)**2 / 2, dim=1)
        y_hat = lib.matmul(attention_weights, yt)
        # the book's bmm warm-up: weights (2, 10) of 0.1 times values arange(20)
        weights = lib.ones((2, 10)) * 0.1
        values = lib.arange(20.0).reshape((2, 10))
        pooled = lib.bmm(weights.unsqueeze(1), values.unsqueeze(-1))
        res.append((attention_weights, y_hat, pooled))
    for name, a, b in zip(("attention_weights", "y_hat", "bmm"), res[1], res[0]):
        _close(name, a, b)


def test_nadaraya_watson_second_edition_float32(float32_defaults):
    """`nadaraya_watson` with the gaussian kernel (the book's `.type(torch.float32)` cast) stays float32."""
    x_train, y_train, x_val = (a.astype(np.float32) for a in _nw_data())
    t, m = _programs()
    yt, wt = t.nadaraya_watson(*(torch.tensor(a) for a in (x_train, y_train, x_val)), t.gaussian)
    ym, wm = m.nadaraya_watson(*(mg.tensor(a) for a in (x_train, y_train, x_val)), m.gaussian)
    assert ym.dtype == mg.float32 and wm.dtype == mg.float32
    _close("attention_w", wm, wt, rtol=1e-5, atol=1e-7)  # float32 exp of the same inputs
    _close("y_hat", ym, yt, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(wm.numpy().sum(0), 1.0, rtol=1e-6)


def test_nadaraya_watson_parametric_training():
    """NWKernelRegression: leave-one-out keys/values by a boolean mask, MSELoss(reduction='none'), SGD."""
    x_train, y_train, x_test = _nw_data()
    n_train = len(x_train)
    t, m = _programs()
    nets, hist = [], []
    for lib, nn, prog in ((torch, tnn, t), (mg, mnn, m)):
        xt, yt, xs = (lib.tensor(a) for a in (x_train, y_train, x_test))
        X_tile = xt.repeat((n_train, 1))
        Y_tile = yt.repeat((n_train, 1))
        keys = X_tile[(1 - lib.eye(n_train)).type(lib.bool)].reshape((n_train, -1))
        values = Y_tile[(1 - lib.eye(n_train)).type(lib.bool)].reshape((n_train, -1))
        net = prog.NWKernelRegression()
        with lib.no_grad():
            net.w.copy_(lib.tensor([0.7]))
        loss = nn.MSELoss(reduction="none")
        trainer = lib.optim.SGD(net.parameters(), lr=0.05)
        losses, grads = [], []
        for epoch in range(5):
            trainer.zero_grad()
            l = loss(net(xt, keys, values), yt)
            l.sum().backward()
            grads.append(net.w.grad.clone())
            trainer.step()
            losses.append(float(l.sum()))
        keys_test = xt.repeat((len(x_test), 1))
        values_test = yt.repeat((len(x_test), 1))
        y_hat = net(xs, keys_test, values_test).unsqueeze(1).detach()
        nets.append(net)
        hist.append((losses, grads, y_hat, net.attention_weights))
    (lt, gt, yht, awt), (lm, gm, yhm, awm) = hist
    np.testing.assert_allclose(lm, lt, rtol=1e-7)
    assert lm[-1] < lm[0]  # it learns
    for e, (a, b) in enumerate(zip(gm, gt)):
        _close(f"w.grad epoch {e}", a, b)
    _close("w", nets[1].w, nets[0].w)
    _close("y_hat", yhm, yht)
    _close("attention_weights", awm, awt)


# ================================================================ 11.3 masked softmax and scoring functions
def test_masked_softmax_book_examples():
    X = RNG.random((2, 2, 4))
    t, m = _programs(clone_before_mask=False)  # forward only: the book's code runs unchanged
    for lens in (np.array([2, 3]), np.array([[1, 3], [2, 4]])):
        out_t = t.masked_softmax(torch.tensor(X), torch.tensor(lens))
        out_m = m.masked_softmax(mg.tensor(X), mg.tensor(lens))
        _close(f"masked_softmax {lens.tolist()}", out_m, out_t)
    _close("no valid_lens", m.masked_softmax(mg.tensor(X), None), t.masked_softmax(torch.tensor(X), None))


def test_masked_softmax_book_spelling_in_a_graph():
    """`X[~mask] = -1e6` through the view X.reshape(...) of scores that require grad: recorded as a write
    into the scores (torch's CopySlices), so the book's code runs unchanged, with torch's gradients."""
    X = RNG.random((2, 2, 4))
    G = RNG.random((2, 2, 4))
    m = _d2l_program(mg, mnn, clone_before_mask=False)
    t = _d2l_program(torch, tnn, clone_before_mask=False)
    xt, xm = _both(X, requires_grad=True)
    yt = t.masked_softmax(xt * 2.0, torch.tensor([2, 3]))
    ym = m.masked_softmax(xm * 2.0, mg.tensor([2, 3]))
    (yt * torch.tensor(G)).sum().backward()
    (ym * mg.tensor(G)).sum().backward()
    _close("masked_softmax", ym, yt)
    _close("X.grad", xm.grad, xt.grad)


@pytest.mark.parametrize("lens", [[2, 3], [[1, 3], [2, 4]]])
def test_masked_softmax_ported_gradient(lens):
    """The port (clone before the masked write) gives torch's values and gradients (torch runs the book's)."""
    X = RNG.random((2, 2, 4))
    G = RNG.random((2, 2, 4))
    t = _d2l_program(torch, tnn, clone_before_mask=False)
    m = _d2l_program(mg, mnn)
    xt, xm = _both(X, requires_grad=True)
    yt = t.masked_softmax(xt * 2.0, torch.tensor(lens))
    ym = m.masked_softmax(xm * 2.0, mg.tensor(lens))
    (yt * torch.tensor(G)).sum().backward()
    (ym * mg.tensor(G)).sum().backward()
    _close("masked_softmax", ym, yt)
    _close("X.grad", xm.grad, xt.grad)


def _attention_case(kind):
    t, m = _programs()
    queries = RNG.normal(0, 1, (2, 1, 20 if kind == "additive" else 2))
    keys = np.ones((2, 10, 2))
    values = np.tile(np.arange(40.0).reshape(1, 10, 4), (2, 1, 1))
    return t, m, queries, keys, values, np.array([2, 6])


@pytest.mark.parametrize("kind", ["additive", "dot"])
def test_scoring_functions_book_example(kind):
    """AdditiveAttention (LazyLinear W_q/W_k/w_v, tanh, squeeze(-1)) and DotProductAttention, in eval
    (dropout 0.1 is then the identity), on the book's example; gradients for queries, keys and weights."""
    t, m, queries, keys, values, lens = _attention_case(kind)
    res = []
    for lib, prog in ((torch, t), (mg, m)):
        att = prog.AdditiveAttention(num_hiddens=8, dropout=0.1) if kind == "additive" else \
            prog.DotProductAttention(dropout=0.5)
        att.eval()
        q, k, v = (lib.tensor(a, requires_grad=True) for a in (queries, keys, values))
        att(q, k, v, lib.tensor(lens))  # materialise the LazyLinears
        res.append((att, q, k, v))
    (att_t, qt, kt, vt), (att_m, qm, km, vm) = res
    if kind == "additive":
        _copy_weights(att_t, att_m)
        assert type(att_m.W_q) is mnn.Linear and att_m.W_q.weight.shape == (8, 20)  # LazyLinear became Linear
    out_t = att_t(qt, kt, vt, torch.tensor(lens))
    out_m = att_m(qm, km, vm, mg.tensor(lens))
    _close("output", out_m, out_t)
    _close("attention_weights", att_m.attention_weights, att_t.attention_weights)
    assert (att_m.attention_weights.numpy()[0, 0, 2:] == 0).all()  # beyond valid_len: exp(-1e6) is 0
    (out_t ** 2).sum().backward()
    (out_m ** 2).sum().backward()
    for name, a, b in (("queries", qm, qt), ("keys", km, kt), ("values", vm, vt)):
        _close(f"{name}.grad", a.grad, b.grad)
    _same_grads(att_m, att_t)


# ================================================================ Bahdanau attention (Seq2SeqAttentionDecoder)
def _bahdanau(prog, lib, dropout=0):
    lib.manual_seed(0)
    encoder = prog.Seq2SeqEncoder(VOCAB, embed_size=6, num_hiddens=8, num_layers=2, dropout=dropout)
    decoder = prog.Seq2SeqAttentionDecoder(VOCAB, embed_size=6, num_hiddens=8, num_layers=2, dropout=dropout)
    return prog.EncoderDecoder(encoder, decoder, tgt_pad=PAD)


def test_bahdanau_decoder_training_and_prediction():
    """Three Adam steps of d2l's Seq2Seq with Bahdanau attention (grad_clipping included), then greedy
    predict_step with the attention weights saved."""
    batch = _seq_batch()
    nets, hist = [], []
    for lib, nn in ((torch, tnn), (mg, mnn)):
        # float64: the loss's mask is cast to the loss's dtype (see test_seq2seq_loss_float32_mask_in_float64)
        prog = _d2l_program(lib, nn, mask_dtype=lib.float64)
        net = _bahdanau(prog, lib)
        src, tgt_in, src_valid, tgt = _tensors(lib, batch)
        net(src, tgt_in, src_valid)  # materialise the LazyLinears
        nets.append((net, prog, lib))
    progs = [prog for _, prog, _ in nets]
    (net_t, _, _), (net_m, _, _) = nets
    _copy_weights(net_t, net_m)
    for net, prog, lib in nets:
        src, tgt_in, src_valid, tgt = _tensors(lib, batch)
        opt = lib.optim.Adam(net.parameters(), lr=0.01)
        rec = {"loss": [], "Y_hat": [], "attn": []}
        for step in range(3):
            opt.zero_grad()
            Y_hat = net(src, tgt_in, src_valid)
            l = net.loss(Y_hat, tgt)
            l.backward()
            if step == 0:
                rec["grads"] = {k: p.grad.clone() for k, p in net.named_parameters()}
            prog.grad_clipping(net, 0.1)  # the book's theta is 1; 0.1 makes these tiny nets clip
            if step == 0:
                rec["clipped"] = {k: p.grad.clone() for k, p in net.named_parameters()}
            opt.step()
            rec["loss"].append(float(l))
            rec["Y_hat"].append(Y_hat.detach())
            rec["attn"].append([w.detach() for w in net.decoder.attention_weights])
        net.eval()
        with lib.no_grad():
            rec["pred"], rec["pred_attn"] = net.predict_step(_tensors(lib, batch), "cpu", 4,
                                                             save_attention_weights=True)
        hist.append(rec)
    rt, rm = hist
    np.testing.assert_allclose(rm["loss"], rt["loss"], rtol=1e-7)
    for s in range(3):
        _close(f"Y_hat step {s}", rm["Y_hat"][s], rt["Y_hat"][s])
        assert len(rm["attn"][s]) == len(rt["attn"][s]) == 5  # one (batch, 1, num_steps) per decoder step
        for i, (a, b) in enumerate(zip(rm["attn"][s], rt["attn"][s])):
            _close(f"attention weights step {s} position {i}", a, b)
    for k in rt["grads"]:
        _close(f"{k}.grad", rm["grads"][k], rt["grads"][k])
        _close(f"{k}.grad clipped", rm["clipped"][k], rt["clipped"][k])
    norm = math.sqrt(sum(float((g ** 2).sum()) for g in rm["grads"].values()))
    assert norm > 0.1  # the clipping branch ran: every gradient was scaled by 0.1 / norm in place
    for k in rt["grads"]:
        _close(f"{k}.grad scaled", rm["clipped"][k], rm["grads"][k].numpy() * (0.1 / norm), rtol=1e-12)
    _same_state(net_m, net_t)
    assert rm["pred"].dtype == mg.int64
    _close("predict_step", rm["pred"], rt["pred"])
    assert type(net_m.encoder.rnn) == mnn.GRU  # the book's init_seq2seq matched it (`type(m) == nn.GRU`)
    assert len(rm["pred_attn"]) == 4
    for s, (a, b) in enumerate(zip(rm["pred_attn"], rt["pred_attn"])):
        _close(f"predict attention step {s}", a[0], b[0])
    heat_t = progs[0].bahdanau_heatmap(rt["pred_attn"], 5)
    heat_m = progs[1].bahdanau_heatmap(rm["pred_attn"], 5)
    assert tuple(heat_m.shape) == (1, 1, 4, 5)
    _close("heatmap", heat_m, heat_t)


def test_seq2seq_loss_float32_mask_in_float64():
    """Seq2Seq.loss's `mask.type(torch.float32)` times a float64 loss: torch promotes, minigrad refuses
    (README: float32 and float64 never mix silently); the error names both dtypes."""
    m = _d2l_program(mg, mnn)
    net = _bahdanau(m, mg)
    src, tgt_in, src_valid, tgt = _tensors(mg, _seq_batch())
    Y_hat = net(src, tgt_in, src_valid)
    with pytest.raises(TypeError, match=r"float32.*float64|float64.*float32"):
        net.loss(Y_hat, tgt)


def test_seq2seq_float32_as_written(float32_defaults):
    """In float32 (the book's default) the same code, the mask cast included, runs unchanged and stays float32."""
    t, m = _programs()
    batch = _seq_batch()
    net_t, net_m = _bahdanau(t, torch), _bahdanau(m, mg)
    out = []
    for net, lib in ((net_t, torch), (net_m, mg)):
        net(*_tensors(lib, batch)[:3])
    _copy_weights(net_t, net_m)
    for net, lib in ((net_t, torch), (net_m, mg)):
        src, tgt_in, src_valid, tgt = _tensors(lib, batch)
        l = net.loss(net(src, tgt_in, src_valid), tgt)
        l.backward()
        out.append(l)
    assert out[1].dtype == mg.float32
    assert all(p.grad.dtype == mg.float32 for p in net_m.parameters())
    _close("loss", out[1], out[0], rtol=1e-5)
    _same_grads(net_m, net_t, rtol=1e-4, atol=1e-6)  # float32 sums in another order


def test_masked_softmax_ce_loss_first_edition():
    """MaskedSoftmaxCELoss with `pred.permute(0, 2, 1)` (classes in dim 1): minigrad takes classes last,
    so the book's line is a ValueError naming the shapes; the port without the permute matches torch."""
    t, m = _programs()
    pred = RNG.normal(size=(3, 4, 10))
    label = RNG.integers(0, 10, (3, 4))
    lens = np.array([4, 2, 0])
    pt, pm = _both(pred, requires_grad=True)
    with pytest.raises(ValueError, match=r"cross_entropy.*class dimension is last.*\[3, 10, 4\].*\[3, 4\]"):
        m.MaskedSoftmaxCELoss()(pm, mg.tensor(label), mg.tensor(lens))
    lt = t.MaskedSoftmaxCELoss()(pt, torch.tensor(label), torch.tensor(lens))
    lm = m.MaskedSoftmaxCELossClassesLast()(pm, mg.tensor(label), mg.tensor(lens))
    _close("loss", lm, lt)
    lt.sum().backward()
    lm.sum().backward()
    _close("pred.grad", pm.grad, pt.grad)
    assert (pm.grad.numpy()[2] == 0).all()  # valid_len 0: no gradient


# ================================================================ 11.5 multi-head attention
def test_multihead_attention_book_example():
    t, m = _programs()
    num_hiddens, num_heads = 8, 2
    batch_size, num_queries, num_kvpairs = 2, 4, 6
    valid_lens = np.array([3, 2])
    X = RNG.normal(size=(batch_size, num_queries, num_hiddens))
    Y = RNG.normal(size=(batch_size, num_kvpairs, num_hiddens))
    res = []
    for lib, prog in ((torch, t), (mg, m)):
        att = prog.MultiHeadAttention(num_hiddens, num_heads, 0.5)
        att.eval()
        x, y = lib.tensor(X, requires_grad=True), lib.tensor(Y, requires_grad=True)
        att(x, y, y, lib.tensor(valid_lens))
        res.append((att, x, y))
    (att_t, xt, yt), (att_m, xm, ym) = res
    _copy_weights(att_t, att_m)
    out_t = att_t(xt, yt, yt, torch.tensor(valid_lens))
    out_m = att_m(xm, ym, ym, mg.tensor(valid_lens))
    assert tuple(out_m.shape) == (batch_size, num_queries, num_hiddens)
    _close("output", out_m, out_t)
    w = att_m.attention.attention_weights
    assert tuple(w.shape) == (batch_size * num_heads, num_queries, num_kvpairs)
    _close("attention_weights", w, att_t.attention.attention_weights)
    # transpose_qkv / transpose_output are inverse reshapes
    Z = mg.tensor(X)
    _close("transpose round trip", att_m.transpose_output(att_m.transpose_qkv(Z)), X)
    (out_t.sin()).sum().backward()
    (out_m.sin()).sum().backward()
    _close("X.grad", xm.grad, xt.grad)
    _close("Y.grad", ym.grad, yt.grad)
    _same_grads(att_m, att_t)


# ================================================================ 11.6 positional encoding
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_positional_encoding_table(dtype):
    """P is built in float32 (arange, pow, sin, cos) and written into strided slices P[:, :, 0::2] of a
    default-dtype zeros tensor; float32 stays float32."""
    torch.set_default_dtype(getattr(torch, dtype))
    mg.set_default_dtype(getattr(mg, dtype))
    t, m = _programs()
    pe_t, pe_m = t.PositionalEncoding(8, 0), m.PositionalEncoding(8, 0, max_len=1000)
    assert pe_m.P.dtype == getattr(mg, dtype) and tuple(pe_m.P.shape) == (1, 1000, 8)
    # float32 sin/cos/pow of large arguments (up to 999 rad) in NumPy vs torch's own kernels: a few ulp
    _close("P", pe_m.P, pe_t.P, rtol=0, atol=float(np.finfo(np.float32).eps))  # one float32 ulp at |P| <= 1
    Pm = pe_m.P.numpy()
    np.testing.assert_array_equal(Pm[0, 0, 0::2], 0.0)  # sin(0)
    np.testing.assert_array_equal(Pm[0, 0, 1::2], 1.0)  # cos(0)
    X = RNG.normal(size=(2, 5, 8)).astype(dtype)
    out = pe_m(mg.tensor(X))
    assert out.dtype == getattr(mg, dtype)
    _close("forward", out, X + Pm[:, :5, :])


# ================================================================ 11.7 the Transformer
def _transformer(prog, lib, dropout=0.0):
    lib.manual_seed(0)
    encoder = prog.TransformerEncoder(VOCAB, num_hiddens=8, ffn_num_hiddens=12, num_heads=2, num_blks=2,
                                      dropout=dropout)
    decoder = prog.TransformerDecoder(VOCAB, num_hiddens=8, ffn_num_hiddens=12, num_heads=2, num_blks=2,
                                      dropout=dropout)
    return prog.EncoderDecoder(encoder, decoder, tgt_pad=PAD)


def _same_pe(net_t, net_m):
    """Give our PositionalEncoding tables torch's float32 values (they differ by a few ulp: float32 sin/cos
    of arguments up to 999 rad; see test_positional_encoding_table), so the rest compares at 1e-7."""
    for pt, pm in ((net_t.encoder.pos_encoding, net_m.encoder.pos_encoding),
                   (net_t.decoder.pos_encoding, net_m.decoder.pos_encoding)):
        pm.P = mg.tensor(pt.P.numpy())


def test_transformer_training_and_incremental_decoding():
    """d2l's from-scratch Transformer: 3 Adam steps in training mode (dropout 0, dec_valid_lens =
    arange(1, num_steps + 1).repeat(batch_size, 1)), the encoder's and decoder's attention_weights
    bookkeeping, then eval-mode greedy predict_step with the state[2][i] key-value cache."""
    batch = _seq_batch(batch=2, steps=5)
    progs, nets = [], []
    for lib, nn in ((torch, tnn), (mg, mnn)):
        prog = _d2l_program(lib, nn, mask_dtype=lib.float64)
        net = _transformer(prog, lib)
        net(*_tensors(lib, batch)[:3])  # materialise the LazyLinears
        progs.append(prog)
        nets.append(net)
    net_t, net_m = nets
    _copy_weights(net_t, net_m)
    _same_pe(net_t, net_m)
    assert all(type(mod) is not mnn.LazyLinear for mod in net_m.modules())
    hist = []
    for net, lib in zip(nets, (torch, mg)):
        src, tgt_in, src_valid, tgt = _tensors(lib, batch)
        opt = lib.optim.Adam(net.parameters(), lr=0.01)
        rec = {"loss": [], "enc_attn": [], "dec_attn": []}
        net.train()
        for step in range(3):
            opt.zero_grad()
            l = net.loss(net(src, tgt_in, src_valid), tgt)
            l.backward()
            if step == 0:
                rec["grads"] = {k: p.grad.clone() for k, p in net.named_parameters()}
            opt.step()
            rec["loss"].append(float(l))
            rec["enc_attn"].append([w.detach() for w in net.encoder.attention_weights])
            rec["dec_attn"].append([[w.detach() for w in ws] for ws in net.decoder.attention_weights])
        net.eval()
        with lib.no_grad():
            rec["pred"], rec["pred_attn"] = net.predict_step(_tensors(lib, batch), "cpu", 5,
                                                             save_attention_weights=True)
        hist.append(rec)
    rt, rm = hist
    np.testing.assert_allclose(rm["loss"], rt["loss"], rtol=1e-7)
    assert rm["loss"][-1] < rm["loss"][0]
    for k in rt["grads"]:
        _close(f"{k}.grad", rm["grads"][k], rt["grads"][k])
    _same_state(net_m, net_t)
    for s in range(3):
        for i in range(2):
            _close(f"encoder block {i} attention, step {s}", rm["enc_attn"][s][i], rt["enc_attn"][s][i])
            for j in range(2):
                _close(f"decoder attention{j + 1} block {i}, step {s}", rm["dec_attn"][s][j][i],
                       rt["dec_attn"][s][j][i])
    # training-mode self-attention is causal: position p sees keys 0..p only
    w = rm["dec_attn"][-1][0][0].numpy()
    assert (np.triu(w, k=1) == 0).all()
    assert rm["pred"].dtype == mg.int64
    _close("predict_step", rm["pred"], rt["pred"])
    for s, (a, b) in enumerate(zip(rm["pred_attn"], rt["pred_attn"])):
        for j in range(2):
            for i in range(2):
                _close(f"predict step {s} attention{j + 1} block {i}", a[j][i], b[j][i])
    # the cache grew by one key-value per step: the last step's self-attention saw all 5 positions
    assert [tuple(a[0][0].shape) for a in rm["pred_attn"]] == [(2 * 2, 1, n) for n in range(1, 6)]
    # the chapter's heatmap bookkeeping (tolist, ragged rows padded, reshape, permute, unpacking a tensor)
    heat_t = progs[0].transformer_heatmaps(net_t, rt["pred_attn"], num_blks=2, num_heads=2, num_steps=5)
    heat_m = progs[1].transformer_heatmaps(net_m, rm["pred_attn"], num_blks=2, num_heads=2, num_steps=5)
    for name, a, b in zip(("encoder", "decoder self", "decoder inter"), heat_m, heat_t):
        _close(f"{name} heatmap", a, b)
    assert tuple(heat_m[1].shape) == (2, 2, 5 * 2, 5)  # (blks, heads, steps * batch, num_steps)


def test_transformer_float32_as_written(float32_defaults):
    """The whole Transformer program in float32 (no casts anywhere, the loss's float32 mask included):
    outputs, loss, gradients and attention weights stay float32 and match torch to float32 precision."""
    batch = _seq_batch(batch=2, steps=5)
    t, m = _programs()
    net_t, net_m = _transformer(t, torch), _transformer(m, mg)
    for net, lib in ((net_t, torch), (net_m, mg)):
        net(*_tensors(lib, batch)[:3])
    _copy_weights(net_t, net_m)
    _same_pe(net_t, net_m)
    out = []
    for net, lib in ((net_t, torch), (net_m, mg)):
        src, tgt_in, src_valid, tgt = _tensors(lib, batch)
        Y_hat = net(src, tgt_in, src_valid)
        l = net.loss(Y_hat, tgt)
        l.backward()
        out.append((Y_hat, l))
    (yt, lt), (ym, lm) = out
    assert ym.dtype == lm.dtype == mg.float32
    assert all(p.grad.dtype == mg.float32 for p in net_m.parameters())
    assert all(w.dtype == mg.float32 for w in net_m.encoder.attention_weights)
    _close("Y_hat", ym, yt, rtol=1e-4, atol=1e-5)
    _close("loss", lm, lt, rtol=1e-5)
    _same_grads(net_m, net_t, rtol=1e-3, atol=1e-5)  # float32 sums in another order


def test_book_shape_checks():
    """The chapters' check_shape snippets, with the book's sizes and dropout in training mode."""
    t, m = (_d2l_program(torch, tnn, mask_dtype=torch.float64), _d2l_program(mg, mnn, mask_dtype=mg.float64))
    for lib, prog in ((torch, t), (mg, m)):
        lib.manual_seed(0)
        # 11.4: the Bahdanau decoder in eval on zeros, without valid lens
        batch_size, num_steps = 4, 7
        encoder = prog.Seq2SeqEncoder(VOCAB, embed_size=8, num_hiddens=16, num_layers=2)
        decoder = prog.Seq2SeqAttentionDecoder(VOCAB, embed_size=8, num_hiddens=16, num_layers=2)
        decoder.eval()
        X = lib.zeros((batch_size, num_steps), dtype=lib.long)
        state = decoder.init_state(encoder(X), None)
        output, state = decoder(X, state)
        assert tuple(output.shape) == (batch_size, num_steps, VOCAB)
        assert tuple(state[0].shape) == (batch_size, num_steps, 16) and tuple(state[1][0].shape) == (batch_size, 16)
        assert len(decoder.attention_weights) == num_steps
        # 11.7: PositionWiseFFN, AddNorm with dropout 0.5 in training mode, blocks on ones
        ffn = prog.PositionWiseFFN(4, 8)
        ffn.eval()
        assert tuple(ffn(lib.ones((2, 3, 4)))[0].shape) == (3, 8)
        add_norm = prog.AddNorm(4, 0.5)
        assert tuple(add_norm(lib.ones((2, 3, 4)), lib.ones((2, 3, 4))).shape) == (2, 3, 4)
        X, valid_lens = lib.ones((2, 10, 24)), lib.tensor([3, 2])
        encoder_blk = prog.TransformerEncoderBlock(24, 48, 8, 0.5)
        encoder_blk.eval()
        assert tuple(encoder_blk(X, valid_lens).shape) == (2, 10, 24)
        encoder = prog.TransformerEncoder(200, 24, 48, 8, 2, 0.5)
        assert tuple(encoder(lib.ones((2, 10), dtype=lib.long), valid_lens).shape) == (2, 10, 24)
        decoder_blk = prog.TransformerDecoderBlock(24, 48, 8, 0.5, 0)
        X = lib.ones((2, 10, 24))
        state = [encoder_blk(X, valid_lens), valid_lens, [None]]
        out, state = decoder_blk(X, state)
        assert tuple(out.shape) == (2, 10, 24) and state[2][0] is X  # the cache holds the block's input
        assert lib.isfinite(out).all()
        # the chapters train with dropout 0.2 (attention, AddNorm, GRU between layers): runs and backpropagates
        src, tgt_in, src_valid, tgt = _tensors(lib, _seq_batch())
        for net in (_bahdanau(prog, lib, dropout=0.2), _transformer(prog, lib, dropout=0.2)):
            net.train()
            l = net.loss(net(src, tgt_in, src_valid), tgt)
            l.backward()
            assert lib.isfinite(l) and all(lib.isfinite(p.grad).all() for p in net.parameters())


def test_layer_norm_vs_batch_norm_snippet(float32_defaults):
    """11.7.2: `ln = nn.LayerNorm(2); bn = nn.LazyBatchNorm1d()` on [[1, 2], [2, 3]] (LazyBatchNorm1d was missing)."""
    X = np.array([[1, 2], [2, 3]], dtype=np.float32)
    outs = []
    for lib, nn in ((torch, tnn), (mg, mnn)):
        ln, bn = nn.LayerNorm(2), nn.LazyBatchNorm1d()
        x = lib.tensor(X)
        outs.append((ln(x), bn(x)))
    (lt, bt), (lm, bm) = outs
    assert lm.dtype == bm.dtype == mg.float32
    _close("layer norm", lm, lt, rtol=1e-6, atol=1e-6)
    _close("batch norm", bm, bt, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("rank,shape", [(1, (4, 3)), (1, (4, 3, 5)), (2, (2, 3, 2, 4)), (3, (2, 3, 2, 1, 3))])
@pytest.mark.parametrize("affine,track", [(True, True), (False, True), (True, False)])
def test_lazy_batch_norm_matches_torch(rank, shape, affine, track):
    """nn.LazyBatchNorm1d/2d/3d: C inferred from dim 1 at the first call, then a plain BatchNorm{rank}d with
    torch's values, running statistics, gradients and state dict; two training steps, then eval."""
    X = RNG.normal(size=shape) * 2 + 1
    G = RNG.normal(size=shape)
    mods, grads = [], []
    for lib, nn in ((torch, tnn), (mg, mnn)):
        bn = getattr(nn, f"LazyBatchNorm{rank}d")(momentum=0.3, affine=affine, track_running_stats=track)
        if lib is mg:
            assert bn.num_features == 0 and bn.has_uninitialized_params() == affine
        x = lib.tensor(X, requires_grad=True)
        (bn(x) * lib.tensor(G)).sum().backward()
        bn(lib.tensor(X[::-1].copy()))
        bn.eval()
        mods.append((bn, bn(lib.tensor(X)), x.grad))
    (bt, yt, gt), (bm, ym, gm) = mods
    assert type(bm) is getattr(mnn, f"BatchNorm{rank}d") and bm.num_features == shape[1]
    _close("eval output", ym, yt)
    _close("x.grad", gm, gt)
    _same_state(bm, bt)
    _same_grads(bm, bt)


def test_lazy_batch_norm_float32_optimizer_and_errors(float32_defaults):
    """Parameters made before the first call keep their identity (an optimizer built on them works), dtype
    follows the placeholder, and a wrong rank is refused as the batch norm refuses it."""
    bn = mnn.LazyBatchNorm2d()
    opt = mg.optim.SGD(bn.parameters(), lr=0.1)
    bn(mg.randn(2, 3, 2, 2)).sum().backward()
    opt.step()
    assert bn.weight.shape == (3,) and bn.weight.dtype == mg.float32 and bn.running_var.dtype == mg.float32
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert int(bn.num_batches_tracked) == 1
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected a 2-D \(N, C\) or 3-D"):
        mnn.LazyBatchNorm1d()(mg.randn(2, 3, 2, 2))
    assert mnn.LazyBatchNorm3d(dtype=mg.float64).to(dtype=mg.float64)(mg.randn(2, 2, 1, 2, 2, dtype=mg.float64)).dtype \
        == mg.float64


def test_lazy_batch_norm_gradient_by_finite_differences(device):
    from minigrad.testing import gradcheck

    x = mg.tensor(RNG.standard_normal((3, 2, 2)), device=device, requires_grad=True)
    bn = mnn.LazyBatchNorm1d(device=device, dtype=mg.float64)
    bn(x.detach())  # materialise; then check d(out)/d(x, weight, bias) of the module itself
    with mg.no_grad():
        bn.weight.copy_(mg.tensor([1.5, -0.5], device=device))
        bn.bias.copy_(mg.tensor([0.2, 0.1], device=device))
    assert gradcheck(lambda x, w, b: (bn(x) * mg.tensor([[1.0], [2.0]], device=device)).sum(), x, bn.weight, bn.bias)
