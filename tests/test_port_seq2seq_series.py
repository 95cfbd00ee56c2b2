"""Porting audit: Ben Trevett's "pytorch-seq2seq" tutorials, run on torch and on minigrad.

Each program is written ONCE, as the tutorials write it, inside a factory that takes the
library as an argument (`L.torch`, `L.nn`, `L.F`, `L.optim`): porting is "change the imports".
Both runs use the same weights (torch's state dict loaded into ours), the same tiny generated
parallel corpus of token ids (torchtext's vocabulary layout: <unk>=0, <pad>=1, <sos>=2,
<eos>=3), and the same teacher-forcing branches (the tutorials' `random.random() <
teacher_forcing_ratio`, with Python's `random` seeded identically before each run). Compared
in float64 at rtol 1e-7: losses, clip_grad_norm_'s total norm, gradients of the first step,
parameters after several Adam steps, evaluation losses (teacher_forcing_ratio=0 under
no_grad), greedy translations and attention maps. Dropout is compared in eval, with p=0, or
with p=1 in train mode (exact zeros in both libraries, so deterministic).

1. "Sequence to Sequence Learning with Neural Networks": 2-layer LSTM encoder/decoder,
   `outputs[t] = output` into a plain `zeros` tensor, uniform_(-0.08, 0.08) init.
2. "Learning Phrase Representations using RNN Encoder-Decoder": GRU with the context
   concatenated to the decoder's input and to the output layer; normal_(0, 0.01) init.
3. "Neural Machine Translation by Jointly Learning to Align and Translate": bidirectional GRU
   encoder, additive attention, bmm.
4. "Packed Padded Sequences, Masking, Inference and BLEU": pack_padded_sequence (sorted
   batches), masked attention, translate_sentence with attention maps, BLEU in pure Python.
5. "Convolutional Sequence to Sequence Learning": Conv1d + GLU blocks, position embeddings,
   causal padding in the decoder, dot-product attention; as written (float32 scale) and float64.
6. "Attention is All You Need" (the series' hand-written Transformer): MultiHeadAttentionLayer
   with view/permute heads, pad & tril masks, masked_fill(-1e10), xavier_uniform_ on weight.data.
Plus the 2024 rewrite's DataLoader + collate_fn(pad_sequence) pipeline, and a Hypothesis test
of one forward/backward over generated sizes (batch 1, length-1 sources, kernel 1, ...) with
minigrad on every backend.

Differences found (all intended): a float64 model times the tutorials' `torch.FloatTensor([..])`
scale, or `model.double()` writing float64 steps into the float32 `outputs = torch.zeros(...)`
in a recorded graph, is a clear TypeError (torch promotes / casts silently); pack_padded_sequence
refuses lengths longer than the padded input (torch 2.13 accepts them).
"""
import math
import random
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
import minigrad.nn.functional as mF
from porting import closer, to_numpy

torch = pytest.importorskip("torch")

TOL = dict(rtol=1e-7, atol=1e-10)

TH = SimpleNamespace(torch=torch, nn=torch.nn, F=torch.nn.functional, optim=torch.optim, name="torch")
MG = SimpleNamespace(torch=mg, nn=mg.nn, F=mF, optim=mg.optim, name="minigrad")

UNK_IDX, PAD_IDX, SOS_IDX, EOS_IDX = 0, 1, 2, 3
SRC_VOCAB, TRG_VOCAB = 11, 12
device = "cpu"


@pytest.fixture
def float64():
    """Both libraries build float64 parameters and tensors."""
    old_t, old_m = torch.get_default_dtype(), mg.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    mg.set_default_dtype(mg.float64)
    yield
    torch.set_default_dtype(old_t)
    mg.set_default_dtype(old_m)


_np = to_numpy
_close = closer(TOL)


def _copy_weights(theirs, ours):
    """torch's state dict into ours (as NumPy arrays); the keys must be identical, in order."""
    sd = theirs.state_dict()
    assert list(ours.state_dict().keys()) == list(sd.keys())
    if isinstance(ours, torch.nn.Module):  # the torch run starts from the same weights too
        ours.load_state_dict({k: v.detach().clone() for k, v in sd.items()})
    else:
        ours.load_state_dict({k: v.detach().numpy().copy() for k, v in sd.items()})


def _same_params(ours, theirs, what, **tol):
    named_o, named_t = dict(ours.named_parameters()), dict(theirs.named_parameters())
    assert list(named_o) == list(named_t), f"{what}: parameter names differ"
    for k in named_t:
        _close(f"{what} parameter {k}", named_o[k], named_t[k], **tol)


def _same_grad_dicts(ours, theirs, what, **tol):
    assert list(ours) == list(theirs)
    for k in theirs:
        _close(f"{what} grad {k}", ours[k], theirs[k], **tol)


# =====================================================================================
# The corpus: a tiny "translation" task on token ids (no torchtext, no spacy)
# =====================================================================================
def make_corpus(n_pairs=12, seed=0):
    """Pairs (src tokens, trg tokens) of ids >= 4: the target is the source reversed and mapped."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(n_pairs):
        n = int(rng.integers(2, 6))
        src = [int(t) for t in rng.integers(4, SRC_VOCAB, n)]
        trg = [(t * 3) % (TRG_VOCAB - 4) + 4 for t in reversed(src)]
        if rng.random() < 0.5:  # targets of a different length than their sources
            trg = trg + [4]
        pairs.append((src, trg))
    return pairs


def _pad(seqs, length):
    return [s + [PAD_IDX] * (length - len(s)) for s in seqs]


def make_batches(L, pairs, batch_size=4, sort=False):
    """The tutorials' BucketIterator: (src, src_len, trg), time-major (len, batch) LongTensors.

    sort=True orders each batch by decreasing source length (sort_within_batch=True), which
    pack_padded_sequence's default enforce_sorted=True requires.
    """
    torch = L.torch
    batches = []
    for i in range(0, len(pairs), batch_size):
        chunk = pairs[i:i + batch_size]
        if sort:
            chunk = sorted(chunk, key=lambda p: -len(p[0]))
        srcs = [[SOS_IDX] + s + [EOS_IDX] for s, _ in chunk]
        trgs = [[SOS_IDX] + t + [EOS_IDX] for _, t in chunk]
        src_len = torch.tensor([len(s) for s in srcs])
        src = torch.tensor(_pad(srcs, max(map(len, srcs)))).t()
        trg = torch.tensor(_pad(trgs, max(map(len, trgs)))).t()
        batches.append((src.contiguous(), src_len, trg.contiguous()))
    return batches


# =====================================================================================
# The tutorials' train / evaluate loops (shared by programs 1-4)
# =====================================================================================
def train(L, model, iterator, optimizer, criterion, clip, record):
    torch = L.torch
    model.train()
    epoch_loss = 0
    for i, (src, src_len, trg) in enumerate(iterator):
        optimizer.zero_grad()
        output = model(src, src_len, trg) if record.get("packed") else model(src, trg)
        # trg = [trg len, batch size], output = [trg len, batch size, output dim]
        output_dim = output.shape[-1]
        output = output[1:].view(-1, output_dim)
        trg = trg[1:].view(-1)
        loss = criterion(output, trg)
        loss.backward()
        if "grads" not in record:  # the first step's raw gradients
            record["grads"] = {n: _np(p.grad).copy() for n, p in model.named_parameters()}
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        record.setdefault("norms", []).append(float(norm))
        optimizer.step()
        record.setdefault("losses", []).append(loss.item())
        epoch_loss += loss.item()
    return epoch_loss / len(iterator)


def evaluate(L, model, iterator, criterion, packed=False):
    torch = L.torch
    model.eval()
    epoch_loss = 0
    with torch.no_grad():
        for i, (src, src_len, trg) in enumerate(iterator):
            output = model(src, src_len, trg, 0) if packed else model(src, trg, 0)  # turn off teacher forcing
            output_dim = output.shape[-1]
            output = output[1:].view(-1, output_dim)
            trg = trg[1:].view(-1)
            loss = criterion(output, trg)
            epoch_loss += loss.item()
    return epoch_loss / len(iterator)


def count_parameters(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def run_program(L, build, init=None, epochs=2, packed=False, sort=False, lr=1e-3, tf_ratio=0.5):
    """Build, copy weights from `init` (a torch model) if given, train `epochs`, evaluate."""
    torch, nn, optim = L.torch, L.nn, L.optim
    model = build(L)
    if init is not None:
        _copy_weights(init, model)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    criterion = nn.CrossEntropyLoss(ignore_index=PAD_IDX)
    pairs = make_corpus()
    train_iterator = make_batches(L, pairs[:8], sort=sort)
    valid_iterator = make_batches(L, pairs[8:], sort=sort)
    record = {"packed": packed, "tf": tf_ratio}
    random.seed(1234)  # the same teacher-forcing coin flips in both runs
    for epoch in range(epochs):
        train_loss = train(L, model, train_iterator, optimizer, criterion, 1, record)
        valid_loss = evaluate(L, model, valid_iterator, criterion, packed=packed)
        record.setdefault("valid", []).append(valid_loss)
        record.setdefault("ppl", []).append(math.exp(train_loss))
    record["n_params"] = count_parameters(model)
    return model, record


def compare_runs(build, packed=False, sort=False, epochs=2, tol=None, check_init=None):
    torch.manual_seed(0)
    init = build(TH)
    if check_init is not None:
        check_init(init)
    t_model, t_rec = run_program(TH, build, init=init, packed=packed, sort=sort, epochs=epochs)
    m_model, m_rec = run_program(MG, build, init=init, packed=packed, sort=sort, epochs=epochs)
    tol = tol or TOL
    assert m_rec["n_params"] == t_rec["n_params"]
    np.testing.assert_allclose(m_rec["losses"], t_rec["losses"], **tol)
    np.testing.assert_allclose(m_rec["norms"], t_rec["norms"], **tol)
    np.testing.assert_allclose(m_rec["valid"], t_rec["valid"], **tol)
    np.testing.assert_allclose(m_rec["ppl"], t_rec["ppl"], **tol)
    _same_grad_dicts(m_rec["grads"], t_rec["grads"], "first step", **tol)
    _same_params(m_model, t_model, "after training", **tol)
    # training changed the weights (so the comparison above is not of untouched initial weights)
    moved = max(float(np.abs(_np(p) - v.detach().numpy()).max())
                for p, v in zip(t_model.parameters(), init.state_dict().values()))
    assert moved > 1e-4
    return m_model, t_model


# =====================================================================================
# 1. Sequence to Sequence Learning with Neural Networks (LSTM)
# =====================================================================================
def make_seq2seq_lstm(L, enc_dropout=0.0, dec_dropout=0.0, emb=6, hid=7, layers=2):
    torch, nn = L.torch, L.nn

    class Encoder(nn.Module):
        def __init__(self, input_dim, emb_dim, hid_dim, n_layers, dropout):
            super().__init__()
            self.hid_dim = hid_dim
            self.n_layers = n_layers
            self.embedding = nn.Embedding(input_dim, emb_dim)
            self.rnn = nn.LSTM(emb_dim, hid_dim, n_layers, dropout=dropout)
            self.dropout = nn.Dropout(dropout)

        def forward(self, src):
            # src = [src len, batch size]
            embedded = self.dropout(self.embedding(src))
            outputs, (hidden, cell) = self.rnn(embedded)
            # outputs are always from the top hidden layer
            return hidden, cell

    class Decoder(nn.Module):
        def __init__(self, output_dim, emb_dim, hid_dim, n_layers, dropout):
            super().__init__()
            self.output_dim = output_dim
            self.hid_dim = hid_dim
            self.n_layers = n_layers
            self.embedding = nn.Embedding(output_dim, emb_dim)
            self.rnn = nn.LSTM(emb_dim, hid_dim, n_layers, dropout=dropout)
            self.fc_out = nn.Linear(hid_dim, output_dim)
            self.dropout = nn.Dropout(dropout)

        def forward(self, input, hidden, cell):
            # input = [batch size] -> [1, batch size]
            input = input.unsqueeze(0)
            embedded = self.dropout(self.embedding(input))
            output, (hidden, cell) = self.rnn(embedded, (hidden, cell))
            prediction = self.fc_out(output.squeeze(0))
            return prediction, hidden, cell

    class Seq2Seq(nn.Module):
        def __init__(self, encoder, decoder, device):
            super().__init__()
            self.encoder = encoder
            self.decoder = decoder
            self.device = device
            assert encoder.hid_dim == decoder.hid_dim, "Hidden dimensions of encoder and decoder must be equal!"
            assert encoder.n_layers == decoder.n_layers, "Encoder and decoder must have equal number of layers!"

        def forward(self, src, trg, teacher_forcing_ratio=0.5):
            batch_size = trg.shape[1]
            trg_len = trg.shape[0]
            trg_vocab_size = self.decoder.output_dim
            # tensor to store decoder outputs
            outputs = torch.zeros(trg_len, batch_size, trg_vocab_size).to(self.device)
            hidden, cell = self.encoder(src)
            # first input to the decoder is the <sos> tokens
            input = trg[0, :]
            for t in range(1, trg_len):
                output, hidden, cell = self.decoder(input, hidden, cell)
                outputs[t] = output
                teacher_force = random.random() < teacher_forcing_ratio
                top1 = output.argmax(1)
                input = trg[t] if teacher_force else top1
            return outputs

    def build(L_):
        enc = Encoder(SRC_VOCAB, emb, hid, layers, enc_dropout)
        dec = Decoder(TRG_VOCAB, emb, hid, layers, dec_dropout)
        return Seq2Seq(enc, dec, device)

    return build


def init_weights_uniform(L):
    nn = L.nn

    def init_weights(m):
        for name, param in m.named_parameters():
            nn.init.uniform_(param.data, -0.08, 0.08)
    return init_weights


def test_seq2seq_lstm_matches_torch(float64):
    build = lambda L: make_seq2seq_lstm(L)(L)
    compare_runs(build)


def test_seq2seq_lstm_init_weights_on_param_data():
    """model.apply(init_weights) with nn.init.uniform_(param.data, ...) changes the parameters."""
    mg.manual_seed(0)
    model = make_seq2seq_lstm(MG)(MG)
    before = {n: p.numpy().copy() for n, p in model.named_parameters()}
    model.apply(init_weights_uniform(MG))
    for n, p in model.named_parameters():
        a = p.numpy()
        assert a.dtype == np.float32, n          # float32 as written stays float32
        assert np.abs(a).max() <= 0.08, n
        assert not np.array_equal(a, before[n]), n
        assert a.std() > 0.08 / 4, n             # uniform(-0.08, 0.08) has std 0.046
    # the tutorial's "The model has N trainable parameters" agrees with torch's
    torch.manual_seed(0)
    assert count_parameters(model) == count_parameters(make_seq2seq_lstm(TH)(TH))


def test_seq2seq_lstm_dropout_in_eval_matches_torch(float64):
    """With dropout=0.5 (as the tutorial), eval mode is deterministic and equals torch's."""
    build = make_seq2seq_lstm(TH, enc_dropout=0.5, dec_dropout=0.5)
    torch.manual_seed(0)
    theirs = build(TH)
    ours = make_seq2seq_lstm(MG, enc_dropout=0.5, dec_dropout=0.5)(MG)
    _copy_weights(theirs, ours)
    (t_src, _, t_trg), = make_batches(TH, make_corpus()[:4])
    (m_src, _, m_trg), = make_batches(MG, make_corpus()[:4])
    theirs.eval()
    ours.eval()
    with torch.no_grad():
        t_out = theirs(t_src, t_trg, 0)
    with mg.no_grad():
        m_out = ours(m_src, m_trg, 0)
        assert not m_out.requires_grad
    _close("eval outputs", m_out, t_out)
    # in train mode the dropout is really applied (the outputs change, and stay finite)
    ours.train()
    m_train = ours(m_src, m_trg, 0)
    assert np.isfinite(m_train.numpy()).all()
    assert not np.allclose(m_train.numpy()[1:], m_out.numpy()[1:])


def test_seq2seq_lstm_float32_as_written():
    """The tutorial in its default float32: everything stays float32 and follows torch."""
    torch.manual_seed(0)
    build = lambda L: make_seq2seq_lstm(L)(L)
    init = build(TH)
    init.apply(init_weights_uniform(TH))
    t_model, t_rec = run_program(TH, build, init=init, epochs=1)
    m_model, m_rec = run_program(MG, build, init=init, epochs=1)
    for n, p in m_model.named_parameters():
        assert p.dtype == mg.float32 and p.grad.dtype == mg.float32, n
    tol = dict(rtol=2e-5, atol=1e-6)  # float32 rounding accumulated over a few Adam steps
    np.testing.assert_allclose(m_rec["losses"], t_rec["losses"], **tol)
    _same_grad_dicts(m_rec["grads"], t_rec["grads"], "float32 first step", **tol)
    _same_params(m_model, t_model, "float32", **tol)


def test_outputs_filled_in_place_gets_gradient_of_each_step(float64):
    """`outputs[t] = output` on a plain zeros tensor: row 0 stays 0 with no gradient path, rows 1.. carry it."""
    torch.manual_seed(0)
    theirs = make_seq2seq_lstm(TH)(TH)
    ours = make_seq2seq_lstm(MG)(MG)
    _copy_weights(theirs, ours)
    (t_src, _, t_trg), = make_batches(TH, make_corpus()[:4])
    (m_src, _, m_trg), = make_batches(MG, make_corpus()[:4])
    random.seed(5)
    t_out = theirs(t_src, t_trg, 1.0)
    random.seed(5)
    m_out = ours(m_src, m_trg, 1.0)
    assert m_out.requires_grad
    assert np.all(m_out.numpy()[0] == 0)
    weights = np.random.default_rng(1).standard_normal(tuple(t_out.shape))
    (t_out * torch.tensor(weights)).sum().backward()
    (m_out * mg.tensor(weights)).sum().backward()
    for (n, pm), (_, pt) in zip(ours.named_parameters(), theirs.named_parameters()):
        _close(f"grad {n}", pm.grad, pt.grad)


# =====================================================================================
# 2. Learning Phrase Representations using RNN Encoder-Decoder (GRU + context)
# =====================================================================================
def make_phrase_gru(L, dropout=0.0, emb=5, hid=6):
    torch, nn = L.torch, L.nn

    class Encoder(nn.Module):
        def __init__(self, input_dim, emb_dim, hid_dim, dropout):
            super().__init__()
            self.hid_dim = hid_dim
            self.embedding = nn.Embedding(input_dim, emb_dim)  # no dropout as only one layer!
            self.rnn = nn.GRU(emb_dim, hid_dim)
            self.dropout = nn.Dropout(dropout)

        def forward(self, src):
            embedded = self.dropout(self.embedding(src))
            outputs, hidden = self.rnn(embedded)  # no cell state!
            return hidden

    class Decoder(nn.Module):
        def __init__(self, output_dim, emb_dim, hid_dim, dropout):
            super().__init__()
            self.hid_dim = hid_dim
            self.output_dim = output_dim
            self.embedding = nn.Embedding(output_dim, emb_dim)
            self.rnn = nn.GRU(emb_dim + hid_dim, hid_dim)
            self.fc_out = nn.Linear(emb_dim + hid_dim * 2, output_dim)
            self.dropout = nn.Dropout(dropout)

        def forward(self, input, hidden, context):
            input = input.unsqueeze(0)
            embedded = self.dropout(self.embedding(input))
            emb_con = torch.cat((embedded, context), dim=2)
            output, hidden = self.rnn(emb_con, hidden)
            output = torch.cat((embedded.squeeze(0), hidden.squeeze(0), context.squeeze(0)), dim=1)
            prediction = self.fc_out(output)
            return prediction, hidden

    class Seq2Seq(nn.Module):
        def __init__(self, encoder, decoder, device):
            super().__init__()
            self.encoder = encoder
            self.decoder = decoder
            self.device = device

        def forward(self, src, trg, teacher_forcing_ratio=0.5):
            batch_size = trg.shape[1]
            trg_len = trg.shape[0]
            trg_vocab_size = self.decoder.output_dim
            outputs = torch.zeros(trg_len, batch_size, trg_vocab_size).to(self.device)
            # last hidden state of the encoder is the context
            context = self.encoder(src)
            # context also used as the initial hidden state of the decoder
            hidden = context
            input = trg[0, :]
            for t in range(1, trg_len):
                output, hidden = self.decoder(input, hidden, context)
                outputs[t] = output
                teacher_force = random.random() < teacher_forcing_ratio
                top1 = output.argmax(1)
                input = trg[t] if teacher_force else top1
            return outputs

    def init_weights(m):
        for name, param in m.named_parameters():
            nn.init.normal_(param.data, mean=0, std=0.01)

    def build(L_):
        model = Seq2Seq(Encoder(SRC_VOCAB, emb, hid, dropout), Decoder(TRG_VOCAB, emb, hid, dropout), device)
        model.apply(init_weights)
        return model

    return build


def _check_normal_init(std):
    def check(model):
        for n, p in model.named_parameters():
            assert abs(float(p.detach().std()) - std) < std / 2, n
    return check


def test_phrase_gru_matches_torch(float64):
    compare_runs(lambda L: make_phrase_gru(L)(L), check_init=_check_normal_init(0.01))


def test_phrase_gru_init_on_minigrad():
    mg.manual_seed(0)
    model = make_phrase_gru(MG)(MG)
    for n, p in model.named_parameters():
        assert p.dtype == mg.float32
        assert 0.005 < float(p.detach().std()) < 0.015, n


# =====================================================================================
# 3. Neural Machine Translation by Jointly Learning to Align and Translate (attention)
# 4. Packed Padded Sequences, Masking, Inference and BLEU (the same model, packed + masked)
# =====================================================================================
def make_attention_model(L, packed=False, dropout=0.0, emb=5, enc_hid=4, dec_hid=6, enforce_sorted=True, dev=device):
    torch, nn, F = L.torch, L.nn, L.F

    class Encoder(nn.Module):
        def __init__(self, input_dim, emb_dim, enc_hid_dim, dec_hid_dim, dropout):
            super().__init__()
            self.embedding = nn.Embedding(input_dim, emb_dim)
            self.rnn = nn.GRU(emb_dim, enc_hid_dim, bidirectional=True)
            self.fc = nn.Linear(enc_hid_dim * 2, dec_hid_dim)
            self.dropout = nn.Dropout(dropout)

        def forward(self, src, src_len=None):
            embedded = self.dropout(self.embedding(src))
            if packed:
                # need to explicitly put lengths on cpu!
                packed_embedded = nn.utils.rnn.pack_padded_sequence(embedded, src_len.to("cpu"),
                                                                    enforce_sorted=enforce_sorted)
                packed_outputs, hidden = self.rnn(packed_embedded)
                # outputs is now a non-packed sequence, all hidden states obtained
                # when the input is a pad token are all zeros
                outputs, _ = nn.utils.rnn.pad_packed_sequence(packed_outputs)
            else:
                outputs, hidden = self.rnn(embedded)
            # initial decoder hidden is final hidden state of the forwards and backwards
            # encoder RNNs fed through a linear layer
            hidden = torch.tanh(self.fc(torch.cat((hidden[-2, :, :], hidden[-1, :, :]), dim=1)))
            return outputs, hidden

    class Attention(nn.Module):
        def __init__(self, enc_hid_dim, dec_hid_dim):
            super().__init__()
            self.attn = nn.Linear((enc_hid_dim * 2) + dec_hid_dim, dec_hid_dim)
            self.v = nn.Linear(dec_hid_dim, 1, bias=False)

        def forward(self, hidden, encoder_outputs, mask=None):
            batch_size = encoder_outputs.shape[1]
            src_len = encoder_outputs.shape[0]
            # repeat decoder hidden state src_len times
            hidden = hidden.unsqueeze(1).repeat(1, src_len, 1)
            encoder_outputs = encoder_outputs.permute(1, 0, 2)
            energy = torch.tanh(self.attn(torch.cat((hidden, encoder_outputs), dim=2)))
            attention = self.v(energy).squeeze(2)
            if mask is not None:
                attention = attention.masked_fill(mask == 0, -1e10)
            return F.softmax(attention, dim=1)

    class Decoder(nn.Module):
        def __init__(self, output_dim, emb_dim, enc_hid_dim, dec_hid_dim, dropout, attention):
            super().__init__()
            self.output_dim = output_dim
            self.attention = attention
            self.embedding = nn.Embedding(output_dim, emb_dim)
            self.rnn = nn.GRU((enc_hid_dim * 2) + emb_dim, dec_hid_dim)
            self.fc_out = nn.Linear((enc_hid_dim * 2) + dec_hid_dim + emb_dim, output_dim)
            self.dropout = nn.Dropout(dropout)

        def forward(self, input, hidden, encoder_outputs, mask=None):
            input = input.unsqueeze(0)
            embedded = self.dropout(self.embedding(input))
            a = self.attention(hidden, encoder_outputs, mask)
            a = a.unsqueeze(1)
            encoder_outputs = encoder_outputs.permute(1, 0, 2)
            weighted = torch.bmm(a, encoder_outputs)
            weighted = weighted.permute(1, 0, 2)
            rnn_input = torch.cat((embedded, weighted), dim=2)
            output, hidden = self.rnn(rnn_input, hidden.unsqueeze(0))
            # seq len, n layers and n directions will always be 1 in this decoder, therefore:
            assert (output == hidden).all()
            embedded = embedded.squeeze(0)
            output = output.squeeze(0)
            weighted = weighted.squeeze(0)
            prediction = self.fc_out(torch.cat((output, weighted, embedded), dim=1))
            return prediction, hidden.squeeze(0), a.squeeze(1)

    class Seq2Seq(nn.Module):
        def __init__(self, encoder, decoder, src_pad_idx, device):
            super().__init__()
            self.encoder = encoder
            self.decoder = decoder
            self.src_pad_idx = src_pad_idx
            self.device = device

        def create_mask(self, src):
            mask = (src != self.src_pad_idx).permute(1, 0)
            return mask

        def forward(self, src, *args):
            if packed:
                src_len, trg, *rest = args
            else:
                (trg, *rest), src_len = args, None
            teacher_forcing_ratio = rest[0] if rest else 0.5
            batch_size = src.shape[1]
            trg_len = trg.shape[0]
            trg_vocab_size = self.decoder.output_dim
            outputs = torch.zeros(trg_len, batch_size, trg_vocab_size).to(self.device)
            encoder_outputs, hidden = self.encoder(src, src_len)
            input = trg[0, :]
            mask = self.create_mask(src) if packed else None
            for t in range(1, trg_len):
                output, hidden, _ = self.decoder(input, hidden, encoder_outputs, mask)
                outputs[t] = output
                teacher_force = random.random() < teacher_forcing_ratio
                top1 = output.argmax(1)
                input = trg[t] if teacher_force else top1
            return outputs

    def init_weights(m):
        for name, param in m.named_parameters():
            if "weight" in name:
                nn.init.normal_(param.data, mean=0, std=0.01)
            else:
                nn.init.constant_(param.data, 0)

    def build(L_):
        attn = Attention(enc_hid, dec_hid)
        enc = Encoder(SRC_VOCAB, emb, enc_hid, dec_hid, dropout)
        dec = Decoder(TRG_VOCAB, emb, enc_hid, dec_hid, dropout, attn)
        model = Seq2Seq(enc, dec, PAD_IDX, dev)
        model.apply(init_weights)
        return model

    return build


def _check_attention_init(model):
    for n, p in model.named_parameters():
        if "weight" in n:
            assert abs(float(p.detach().std()) - 0.01) < 0.005, n
        else:
            assert float(p.detach().abs().max()) == 0.0, n


def _scale_up(model, factor=30.0):
    """std 0.01 weights make every attention map uniform; scale them so the maps carry information."""
    lib = torch if isinstance(model, torch.nn.Module) else mg
    with lib.no_grad():
        for p in model.parameters():
            p.mul_(factor)


def test_attention_model_matches_torch(float64):
    build = lambda L: make_attention_model(L)(L)
    compare_runs(build, check_init=_check_attention_init)


def test_attention_init_on_minigrad():
    mg.manual_seed(0)
    model = make_attention_model(MG)(MG)
    _check_attention_init(model)


def test_packed_masked_model_matches_torch(float64):
    build = lambda L: make_attention_model(L, packed=True)(L)
    compare_runs(build, packed=True, sort=True, check_init=_check_attention_init)


def test_packed_unsorted_batches_with_enforce_sorted_false_match_torch(float64):
    """Unsorted batches with enforce_sorted=False: h_n comes back in the batch's own order."""
    build = lambda L: make_attention_model(L, packed=True, enforce_sorted=False)(L)
    compare_runs(build, packed=True, sort=False)
    lengths = make_batches(MG, make_corpus()[:8])[0][1].tolist()
    assert lengths != sorted(lengths, reverse=True)  # the batch really is unsorted


def test_pack_padded_sequence_unsorted_is_refused_like_torch(float64):
    """enforce_sorted=True (the default) refuses lengths that are not decreasing, in both libraries."""
    x_t = torch.zeros(4, 2, 3)
    with pytest.raises(RuntimeError, match="sorted"):
        torch.nn.utils.rnn.pack_padded_sequence(x_t, torch.tensor([2, 4]))
    with pytest.raises(RuntimeError, match="sorted"):
        mg.nn.utils.rnn.pack_padded_sequence(mg.zeros(4, 2, 3), mg.tensor([2, 4]))
    # a length past the padded input: torch 2.13 builds an inconsistent PackedSequence (batch_sizes
    # sum to 7, data has 6 rows); minigrad refuses, naming the lengths and the input
    with pytest.raises(RuntimeError, match=r"lengths \[5, 2\] exceed the padded length T=4"):
        mg.nn.utils.rnn.pack_padded_sequence(mg.zeros(4, 2, 3), mg.tensor([5, 2]))


def test_mask_makes_padding_irrelevant(float64):
    """Packed encoder + masked attention: a sentence's translation ignores what its padding holds."""
    build = make_attention_model(MG, packed=True)
    mg.manual_seed(0)
    model = build(MG)
    _scale_up(model)
    model.eval()
    (src, src_len, trg), = make_batches(MG, make_corpus()[:4], sort=True)
    with mg.no_grad():
        out1 = model(src, src_len, trg, 0)
        src2 = src.clone()
        src2[src == PAD_IDX] = 7  # garbage where the padding was; lengths and mask unchanged
        model.create_mask = lambda s: (src != PAD_IDX).permute(1, 0)
        out2 = model(src2, src_len, trg, 0)
    np.testing.assert_allclose(out2.numpy(), out1.numpy(), rtol=1e-12, atol=1e-12)


def translate_sentence(L, sentence, model, device, max_len=8):
    """The tutorial's inference: greedy decoding of one sentence (token ids), with its attention map."""
    torch = L.torch
    model.eval()
    src_indexes = [SOS_IDX] + sentence + [EOS_IDX]
    src_tensor = torch.LongTensor(src_indexes).unsqueeze(1).to(device)
    src_len = torch.LongTensor([len(src_indexes)])
    with torch.no_grad():
        encoder_outputs, hidden = model.encoder(src_tensor, src_len)
    mask = model.create_mask(src_tensor)
    trg_indexes = [SOS_IDX]
    attentions = torch.zeros(max_len, 1, len(src_indexes)).to(device)
    for i in range(max_len):
        trg_tensor = torch.LongTensor([trg_indexes[-1]]).to(device)
        with torch.no_grad():
            output, hidden, attention = model.decoder(trg_tensor, hidden, encoder_outputs, mask)
        attentions[i] = attention
        pred_token = output.argmax(1).item()
        trg_indexes.append(pred_token)
        if pred_token == EOS_IDX:
            break
    return trg_indexes[1:], attentions[:len(trg_indexes) - 1]


def bleu_score(candidates, references, max_n=4):
    """Corpus BLEU (Papineni et al.), one reference per candidate, as torchtext's bleu_score."""
    clipped, totals = [0] * max_n, [0] * max_n
    cand_len = ref_len = 0
    for cand, refs in zip(candidates, references):
        ref = refs[0]
        cand_len += len(cand)
        ref_len += len(ref)
        for n in range(1, max_n + 1):
            c = Counter(tuple(cand[i:i + n]) for i in range(len(cand) - n + 1))
            r = Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1))
            clipped[n - 1] += sum(min(k, r[g]) for g, k in c.items())
            totals[n - 1] += max(len(cand) - n + 1, 0)
    if min(clipped) == 0:
        return 0.0
    log_p = sum(math.log(c / t) for c, t in zip(clipped, totals)) / max_n
    bp = 1.0 if cand_len > ref_len else math.exp(1 - ref_len / max(cand_len, 1))
    return bp * math.exp(log_p)


def test_bleu_score_reference_values():
    assert bleu_score([[1, 2, 3, 4]], [[[1, 2, 3, 4]]]) == 1.0
    assert bleu_score([[1, 2, 3, 4]], [[[5, 6, 7, 8]]]) == 0.0
    # clipped precisions 4/5, 3/4, 2/3, 1/2, equal lengths (no brevity penalty)
    got = bleu_score([[1, 2, 3, 4, 9]], [[[1, 2, 3, 4, 5]]])
    assert math.isclose(got, (4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25)


def test_translate_sentence_and_bleu_match_torch(float64):
    """After a little training: greedy translations, attention maps and BLEU equal torch's."""
    build = lambda L: make_attention_model(L, packed=True)(L)
    torch.manual_seed(0)
    init = build(TH)
    _scale_up(init, 20.0)
    t_model, _ = run_program(TH, build, init=init, packed=True, sort=True, epochs=2, lr=1e-2)
    m_model, _ = run_program(MG, build, init=init, packed=True, sort=True, epochs=2, lr=1e-2)
    pairs = make_corpus()
    t_trans, m_trans = [], []
    for src, trg in pairs:
        t_tokens, t_attn = translate_sentence(TH, src, t_model, device)
        m_tokens, m_attn = translate_sentence(MG, src, m_model, device)
        assert m_tokens == t_tokens
        assert not m_attn.requires_grad
        _close(f"attention map of {src}", m_attn, t_attn)
        np.testing.assert_allclose(m_attn.numpy().sum(-1), 1.0, rtol=1e-12)
        t_trans.append(t_tokens[:-1] if t_tokens[-1:] == [EOS_IDX] else t_tokens)
        m_trans.append(m_tokens[:-1] if m_tokens[-1:] == [EOS_IDX] else m_tokens)
    refs = [[trg] for _, trg in pairs]
    assert bleu_score(m_trans, refs) == bleu_score(t_trans, refs)
    # the maps are not trivially uniform
    _, m_attn = translate_sentence(MG, pairs[0][0], m_model, device)
    assert m_attn.numpy().std(-1).max() > 1e-3


# =====================================================================================
# 5. Convolutional Sequence to Sequence Learning
# =====================================================================================
def make_conv_seq2seq(L, float32_scale=True, emb=6, hid=8, enc_layers=2, dec_layers=2, kernel_size=3,
                      dropout=0.0, max_length=20, dev=device):
    torch, nn, F = L.torch, L.nn, L.F

    def make_scale():
        # as written: a float32 tensor; the float64 port spells it in the default dtype
        return torch.sqrt(torch.FloatTensor([0.5])).to(dev) if float32_scale else \
            torch.sqrt(torch.tensor([0.5])).to(dev)

    class Encoder(nn.Module):
        def __init__(self, input_dim, emb_dim, hid_dim, n_layers, kernel_size, dropout, device, max_length=100):
            super().__init__()
            assert kernel_size % 2 == 1, "Kernel size must be odd!"
            self.device = device
            self.scale = make_scale()
            self.tok_embedding = nn.Embedding(input_dim, emb_dim)
            self.pos_embedding = nn.Embedding(max_length, emb_dim)
            self.emb2hid = nn.Linear(emb_dim, hid_dim)
            self.hid2emb = nn.Linear(hid_dim, emb_dim)
            self.convs = nn.ModuleList([nn.Conv1d(in_channels=hid_dim, out_channels=2 * hid_dim,
                                                  kernel_size=kernel_size, padding=(kernel_size - 1) // 2)
                                        for _ in range(n_layers)])
            self.dropout = nn.Dropout(dropout)

        def forward(self, src):
            # src = [batch size, src len]
            batch_size = src.shape[0]
            src_len = src.shape[1]
            pos = torch.arange(0, src_len).unsqueeze(0).repeat(batch_size, 1).to(self.device)
            tok_embedded = self.tok_embedding(src)
            pos_embedded = self.pos_embedding(pos)
            embedded = self.dropout(tok_embedded + pos_embedded)
            conv_input = self.emb2hid(embedded)
            conv_input = conv_input.permute(0, 2, 1)  # [batch size, hid dim, src len]
            for i, conv in enumerate(self.convs):
                conved = conv(self.dropout(conv_input))
                conved = F.glu(conved, dim=1)
                conved = (conved + conv_input) * self.scale  # residual connection
                conv_input = conved
            conved = self.hid2emb(conved.permute(0, 2, 1))
            combined = (conved + embedded) * self.scale
            return conved, combined

    class Decoder(nn.Module):
        def __init__(self, output_dim, emb_dim, hid_dim, n_layers, kernel_size, dropout, trg_pad_idx, device,
                     max_length=100):
            super().__init__()
            self.kernel_size = kernel_size
            self.trg_pad_idx = trg_pad_idx
            self.device = device
            self.scale = make_scale()
            self.tok_embedding = nn.Embedding(output_dim, emb_dim)
            self.pos_embedding = nn.Embedding(max_length, emb_dim)
            self.emb2hid = nn.Linear(emb_dim, hid_dim)
            self.hid2emb = nn.Linear(hid_dim, emb_dim)
            self.attn_hid2emb = nn.Linear(hid_dim, emb_dim)
            self.attn_emb2hid = nn.Linear(emb_dim, hid_dim)
            self.fc_out = nn.Linear(emb_dim, output_dim)
            self.convs = nn.ModuleList([nn.Conv1d(in_channels=hid_dim, out_channels=2 * hid_dim,
                                                  kernel_size=kernel_size)
                                        for _ in range(n_layers)])
            self.dropout = nn.Dropout(dropout)

        def calculate_attention(self, embedded, conved, encoder_conved, encoder_combined):
            conved_emb = self.attn_hid2emb(conved.permute(0, 2, 1))
            combined = (conved_emb + embedded) * self.scale
            energy = torch.matmul(combined, encoder_conved.permute(0, 2, 1))
            attention = F.softmax(energy, dim=2)
            attended_encoding = torch.matmul(attention, encoder_combined)
            attended_encoding = self.attn_emb2hid(attended_encoding)
            attended_combined = (conved + attended_encoding.permute(0, 2, 1)) * self.scale
            return attention, attended_combined

        def forward(self, trg, encoder_conved, encoder_combined):
            batch_size = trg.shape[0]
            trg_len = trg.shape[1]
            pos = torch.arange(0, trg_len).unsqueeze(0).repeat(batch_size, 1).to(self.device)
            tok_embedded = self.tok_embedding(trg)
            pos_embedded = self.pos_embedding(pos)
            embedded = self.dropout(tok_embedded + pos_embedded)
            conv_input = self.emb2hid(embedded)
            conv_input = conv_input.permute(0, 2, 1)
            batch_size = conv_input.shape[0]
            hid_dim = conv_input.shape[1]
            for i, conv in enumerate(self.convs):
                conv_input = self.dropout(conv_input)
                # pad so the decoder cannot "cheat" by looking at the next token
                padding = torch.zeros(batch_size, hid_dim, self.kernel_size - 1).fill_(self.trg_pad_idx).to(self.device)
                padded_conv_input = torch.cat((padding, conv_input), dim=2)
                conved = conv(padded_conv_input)
                conved = F.glu(conved, dim=1)
                attention, conved = self.calculate_attention(embedded, conved, encoder_conved, encoder_combined)
                conved = (conved + conv_input) * self.scale
                conv_input = conved
            conved = self.hid2emb(conved.permute(0, 2, 1))
            output = self.fc_out(self.dropout(conved))
            return output, attention

    class Seq2Seq(nn.Module):
        def __init__(self, encoder, decoder):
            super().__init__()
            self.encoder = encoder
            self.decoder = decoder

        def forward(self, src, trg):
            # trg = [batch size, trg len - 1] (<eos> token sliced off the end)
            encoder_conved, encoder_combined = self.encoder(src)
            output, attention = self.decoder(trg, encoder_conved, encoder_combined)
            return output, attention

    def build(L_):
        enc = Encoder(SRC_VOCAB, emb, hid, enc_layers, kernel_size, dropout, dev, max_length)
        dec = Decoder(TRG_VOCAB, emb, hid, dec_layers, kernel_size, dropout, PAD_IDX, dev, max_length)
        return Seq2Seq(enc, dec)

    return build


def conv_batches(L, pairs, batch_size=4):
    """batch_first=True batches, as the convolutional tutorial's Fields."""
    return [(src.t().contiguous(), trg.t().contiguous()) for src, _, trg in make_batches(L, pairs, batch_size)]


def run_conv_program(L, build, init, epochs=2, clip=0.1, lr=1e-3):
    """The convolutional (and Transformer) tutorials' train/evaluate loops: batch-first, trg[:, :-1] in."""
    torch, nn, optim = L.torch, L.nn, L.optim
    model = build(L)
    _copy_weights(init, model)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    criterion = nn.CrossEntropyLoss(ignore_index=PAD_IDX)
    pairs = make_corpus()
    rec = {}
    for epoch in range(epochs):
        model.train()
        for src, trg in conv_batches(L, pairs[:8]):
            optimizer.zero_grad()
            output, _ = model(src, trg[:, :-1])
            # output = [batch size, trg len - 1, output dim]; trg = [batch size, trg len]
            output_dim = output.shape[-1]
            output = output.contiguous().view(-1, output_dim)
            trg = trg[:, 1:].contiguous().view(-1)
            loss = criterion(output, trg)
            loss.backward()
            if "grads" not in rec:
                rec["grads"] = {n: _np(p.grad).copy() for n, p in model.named_parameters()}
            rec.setdefault("norms", []).append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), clip)))
            optimizer.step()
            rec.setdefault("losses", []).append(loss.item())
        model.eval()
        with torch.no_grad():
            for src, trg in conv_batches(L, pairs[8:]):
                output, attention = model(src, trg[:, :-1])
                output_dim = output.shape[-1]
                loss = criterion(output.contiguous().view(-1, output_dim), trg[:, 1:].contiguous().view(-1))
                rec.setdefault("valid", []).append(loss.item())
        rec["attention"] = _np(attention).copy()
    return model, rec


def translate_sentence_conv(L, sentence, model, device, max_len=8):
    torch = L.torch
    model.eval()
    src_indexes = [SOS_IDX] + sentence + [EOS_IDX]
    src_tensor = torch.LongTensor(src_indexes).unsqueeze(0).to(device)
    with torch.no_grad():
        encoder_conved, encoder_combined = model.encoder(src_tensor)
    trg_indexes = [SOS_IDX]
    for i in range(max_len):
        trg_tensor = torch.LongTensor(trg_indexes).unsqueeze(0).to(device)
        with torch.no_grad():
            output, attention = model.decoder(trg_tensor, encoder_conved, encoder_combined)
        pred_token = output.argmax(2)[:, -1].item()
        trg_indexes.append(pred_token)
        if pred_token == EOS_IDX:
            break
    return trg_indexes[1:], attention


def _compare_conv(build, tol):
    torch.manual_seed(0)
    init = build(TH)
    t_model, t_rec = run_conv_program(TH, build, init)
    m_model, m_rec = run_conv_program(MG, build, init)
    np.testing.assert_allclose(m_rec["losses"], t_rec["losses"], **tol)
    np.testing.assert_allclose(m_rec["norms"], t_rec["norms"], **tol)
    np.testing.assert_allclose(m_rec["valid"], t_rec["valid"], **tol)
    _same_grad_dicts(m_rec["grads"], t_rec["grads"], "conv first step", **tol)
    _close("conv attention", m_rec["attention"], t_rec["attention"], **tol)
    _same_params(m_model, t_model, "conv after training", **tol)
    for src, _ in make_corpus()[:6]:
        t_tok, t_att = translate_sentence_conv(TH, src, t_model, device)
        m_tok, m_att = translate_sentence_conv(MG, src, m_model, device)
        assert m_tok == t_tok
        _close(f"conv attention map {src}", m_att, t_att, **tol)
    return m_model


def test_conv_seq2seq_matches_torch_float64(float64):
    _compare_conv(lambda L: make_conv_seq2seq(L, float32_scale=False)(L), TOL)


def test_conv_seq2seq_as_written_float32():
    """As written (float32 parameters, torch.FloatTensor scale): stays float32 and follows torch."""
    m_model = _compare_conv(lambda L: make_conv_seq2seq(L)(L), dict(rtol=1e-4, atol=1e-5))
    for n, p in m_model.named_parameters():
        assert p.dtype == mg.float32 and p.grad.dtype == mg.float32, n


def test_conv_float32_scale_in_float64_model_is_a_clear_error(float64):
    """torch promotes float64 * FloatTensor([s]) to float64; minigrad refuses the mix (documented)."""
    mg.manual_seed(0)
    model = make_conv_seq2seq(MG, float32_scale=True)(MG)
    (src, _, trg), = make_batches(MG, make_corpus()[:4])
    with pytest.raises(TypeError, match="float32.*float64|float64.*float32"):
        model(src.t(), trg.t()[:, :-1])


# =====================================================================================
# Dropout switched fully on: p=1 drops everything, so train mode is deterministic too
# =====================================================================================
def test_seq2seq_lstm_train_mode_dropout_one_matches_torch(float64):
    """p=1 in train mode: nn.Dropout and the LSTM's between-layer dropout give exact zeros in both
    libraries, so the whole training run (dropout placement included: not after the top layer)
    is compared exactly."""
    compare_runs(lambda L: make_seq2seq_lstm(L, enc_dropout=1.0, dec_dropout=1.0)(L))


def test_attention_model_train_mode_dropout_one_matches_torch(float64):
    compare_runs(lambda L: make_attention_model(L, packed=True, dropout=1.0)(L), packed=True, sort=True)


def test_conv_seq2seq_train_mode_dropout_one_matches_torch(float64):
    _compare_conv(lambda L: make_conv_seq2seq(L, float32_scale=False, dropout=1.0)(L), TOL)


def test_packed_attention_float32_as_written():
    """Tutorial 4 in its default float32: masked_fill(-1e10) and the attention maps stay float32."""
    build = lambda L: make_attention_model(L, packed=True)(L)
    torch.manual_seed(0)
    init = build(TH)
    _scale_up(init, 20.0)
    t_model, t_rec = run_program(TH, build, init=init, packed=True, sort=True, epochs=1, lr=1e-2)
    m_model, m_rec = run_program(MG, build, init=init, packed=True, sort=True, epochs=1, lr=1e-2)
    tol = dict(rtol=1e-4, atol=1e-5)  # float32 rounding over a few Adam steps
    np.testing.assert_allclose(m_rec["losses"], t_rec["losses"], **tol)
    _same_grad_dicts(m_rec["grads"], t_rec["grads"], "float32 packed first step", **tol)
    _same_params(m_model, t_model, "float32 packed", **tol)
    for n, p in m_model.named_parameters():
        assert p.dtype == mg.float32 and p.grad.dtype == mg.float32, n
    src = make_corpus()[0][0]
    t_tok, t_att = translate_sentence(TH, src, t_model, device)
    m_tok, m_att = translate_sentence(MG, src, m_model, device)
    assert m_att.dtype == mg.float32
    assert m_tok == t_tok
    _close("float32 attention map", m_att, t_att, **tol)


def test_save_best_model_and_reload(float64, tmp_path):
    """`torch.save(model.state_dict(), 'tut1-model.pt')` / `model.load_state_dict(torch.load(...))`."""
    build = lambda L: make_seq2seq_lstm(L)(L)
    torch.manual_seed(0)
    init = build(TH)
    model, _ = run_program(MG, build, init=init, epochs=1)
    path = str(tmp_path / "tut1-model.pt")
    mg.save(model.state_dict(), path)
    fresh = build(MG)
    fresh.load_state_dict(mg.load(path))
    criterion = mg.nn.CrossEntropyLoss(ignore_index=PAD_IDX)
    test_iterator = make_batches(MG, make_corpus()[8:])
    test_loss = evaluate(MG, fresh, test_iterator, criterion)
    assert test_loss == evaluate(MG, model, test_iterator, criterion)
    assert math.isfinite(math.exp(test_loss))


# =====================================================================================
# The 2024 rewrite of the series: DataLoader + collate_fn with pad_sequence, seeding idiom
# =====================================================================================
def make_data_loader_program(L):
    torch, nn = L.torch, L.nn

    def get_collate_fn(pad_index):
        def collate_fn(batch):
            batch_en_ids = [example["en_ids"] for example in batch]
            batch_de_ids = [example["de_ids"] for example in batch]
            batch_en_ids = nn.utils.rnn.pad_sequence(batch_en_ids, padding_value=pad_index)
            batch_de_ids = nn.utils.rnn.pad_sequence(batch_de_ids, padding_value=pad_index)
            batch = {"en_ids": batch_en_ids, "de_ids": batch_de_ids}
            return batch
        return collate_fn

    def get_data_loader(dataset, batch_size, pad_index, shuffle=False):
        collate_fn = get_collate_fn(pad_index)
        data_loader = torch.utils.data.DataLoader(dataset=dataset, batch_size=batch_size,
                                                  collate_fn=collate_fn, shuffle=shuffle)
        return data_loader

    def translate_sentence(ids, model, sos_index, eos_index, device, max_output_length=8):
        model.eval()
        with torch.no_grad():
            tensor = torch.LongTensor(ids).unsqueeze(-1).to(device)
            hidden, cell = model.encoder(tensor)
            inputs = [sos_index]
            for _ in range(max_output_length):
                inputs_tensor = torch.LongTensor([inputs[-1]]).to(device)
                output, hidden, cell = model.decoder(inputs_tensor, hidden, cell)
                predicted_token = output.argmax(-1).item()
                inputs.append(predicted_token)
                if predicted_token == eos_index:
                    break
        return inputs

    return get_data_loader, translate_sentence


def _dataset(L):
    return [{"de_ids": L.torch.tensor([SOS_IDX] + s + [EOS_IDX]), "en_ids": L.torch.tensor([SOS_IDX] + t + [EOS_IDX])}
            for s, t in make_corpus()]


@pytest.fixture
def keep_cudnn_flags():
    """The program sets cudnn.deterministic process-wide in both libraries: put both back afterwards."""
    before = (torch.backends.cudnn.deterministic, mg.backends.cudnn.deterministic)
    yield
    torch.backends.cudnn.deterministic, mg.backends.cudnn.deterministic = before


def test_rewrite_data_loader_training_and_translation_match_torch(float64, keep_cudnn_flags):
    seed = 1234
    results = {}
    torch.manual_seed(0)
    init = make_seq2seq_lstm(TH)(TH)
    for L in (TH, MG):
        L.torch.manual_seed(seed)
        L.torch.cuda.manual_seed(seed)
        L.torch.backends.cudnn.deterministic = True
        get_data_loader, translate = make_data_loader_program(L)
        train_data_loader = get_data_loader(_dataset(L)[:8], 4, PAD_IDX, shuffle=False)
        batches = [(b["de_ids"], b["en_ids"]) for b in train_data_loader]
        model = make_seq2seq_lstm(L)(L)
        _copy_weights(init, model)
        optimizer = L.optim.Adam(model.parameters())
        criterion = L.nn.CrossEntropyLoss(ignore_index=PAD_IDX)
        random.seed(seed)
        losses = []
        model.train()
        for src, trg in batches:
            optimizer.zero_grad()
            output = model(src, trg, 0.5)
            output_dim = output.shape[-1]
            loss = criterion(output[1:].view(-1, output_dim), trg[1:].view(-1))
            loss.backward()
            L.torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses.append(loss.item())
        translations = [translate([SOS_IDX] + s + [EOS_IDX], model, SOS_IDX, EOS_IDX, device)
                        for s, _ in make_corpus()]
        results[L.name] = ([_np(s) for b in batches for s in b], losses, translations, model)
    (m_batches, m_losses, m_trans, m_model), (t_batches, t_losses, t_trans, t_model) = results["minigrad"], results["torch"]
    assert len(m_batches) == len(t_batches) == 4
    for a, b in zip(m_batches, t_batches):
        assert a.dtype == b.dtype and a.shape == b.shape and (a == b).all()
    np.testing.assert_allclose(m_losses, t_losses, **TOL)
    _same_params(m_model, t_model, "rewrite")
    assert m_trans == t_trans


# =====================================================================================
# 6. Attention is All You Need (the series' own Transformer, written from scratch)
# =====================================================================================
def make_transformer(L, float32_scale=True, hid=8, layers=2, heads=2, pf=12, dropout=0.0, max_length=20, dev=device):
    torch, nn = L.torch, L.nn

    def sqrt_scale(v):
        return torch.sqrt(torch.FloatTensor([v])).to(dev) if float32_scale else torch.sqrt(torch.tensor([float(v)])).to(dev)

    class MultiHeadAttentionLayer(nn.Module):
        def __init__(self, hid_dim, n_heads, dropout, device):
            super().__init__()
            assert hid_dim % n_heads == 0
            self.hid_dim = hid_dim
            self.n_heads = n_heads
            self.head_dim = hid_dim // n_heads
            self.fc_q = nn.Linear(hid_dim, hid_dim)
            self.fc_k = nn.Linear(hid_dim, hid_dim)
            self.fc_v = nn.Linear(hid_dim, hid_dim)
            self.fc_o = nn.Linear(hid_dim, hid_dim)
            self.dropout = nn.Dropout(dropout)
            self.scale = sqrt_scale(self.head_dim)

        def forward(self, query, key, value, mask=None):
            batch_size = query.shape[0]
            Q = self.fc_q(query)
            K = self.fc_k(key)
            V = self.fc_v(value)
            Q = Q.view(batch_size, -1, self.n_heads, self.head_dim).permute(0, 2, 1, 3)
            K = K.view(batch_size, -1, self.n_heads, self.head_dim).permute(0, 2, 1, 3)
            V = V.view(batch_size, -1, self.n_heads, self.head_dim).permute(0, 2, 1, 3)
            energy = torch.matmul(Q, K.permute(0, 1, 3, 2)) / self.scale
            if mask is not None:
                energy = energy.masked_fill(mask == 0, -1e10)
            attention = torch.softmax(energy, dim=-1)
            x = torch.matmul(self.dropout(attention), V)
            x = x.permute(0, 2, 1, 3).contiguous()
            x = x.view(batch_size, -1, self.hid_dim)
            x = self.fc_o(x)
            return x, attention

    class PositionwiseFeedforwardLayer(nn.Module):
        def __init__(self, hid_dim, pf_dim, dropout):
            super().__init__()
            self.fc_1 = nn.Linear(hid_dim, pf_dim)
            self.fc_2 = nn.Linear(pf_dim, hid_dim)
            self.dropout = nn.Dropout(dropout)

        def forward(self, x):
            x = self.dropout(torch.relu(self.fc_1(x)))
            x = self.fc_2(x)
            return x

    class EncoderLayer(nn.Module):
        def __init__(self, hid_dim, n_heads, pf_dim, dropout, device):
            super().__init__()
            self.self_attn_layer_norm = nn.LayerNorm(hid_dim)
            self.ff_layer_norm = nn.LayerNorm(hid_dim)
            self.self_attention = MultiHeadAttentionLayer(hid_dim, n_heads, dropout, device)
            self.positionwise_feedforward = PositionwiseFeedforwardLayer(hid_dim, pf_dim, dropout)
            self.dropout = nn.Dropout(dropout)

        def forward(self, src, src_mask):
            _src, _ = self.self_attention(src, src, src, src_mask)
            src = self.self_attn_layer_norm(src + self.dropout(_src))
            _src = self.positionwise_feedforward(src)
            src = self.ff_layer_norm(src + self.dropout(_src))
            return src

    class Encoder(nn.Module):
        def __init__(self, input_dim, hid_dim, n_layers, n_heads, pf_dim, dropout, device, max_length=100):
            super().__init__()
            self.device = device
            self.tok_embedding = nn.Embedding(input_dim, hid_dim)
            self.pos_embedding = nn.Embedding(max_length, hid_dim)
            self.layers = nn.ModuleList([EncoderLayer(hid_dim, n_heads, pf_dim, dropout, device)
                                         for _ in range(n_layers)])
            self.dropout = nn.Dropout(dropout)
            self.scale = sqrt_scale(hid_dim)

        def forward(self, src, src_mask):
            batch_size = src.shape[0]
            src_len = src.shape[1]
            pos = torch.arange(0, src_len).unsqueeze(0).repeat(batch_size, 1).to(self.device)
            src = self.dropout((self.tok_embedding(src) * self.scale) + self.pos_embedding(pos))
            for layer in self.layers:
                src = layer(src, src_mask)
            return src

    class DecoderLayer(nn.Module):
        def __init__(self, hid_dim, n_heads, pf_dim, dropout, device):
            super().__init__()
            self.self_attn_layer_norm = nn.LayerNorm(hid_dim)
            self.enc_attn_layer_norm = nn.LayerNorm(hid_dim)
            self.ff_layer_norm = nn.LayerNorm(hid_dim)
            self.self_attention = MultiHeadAttentionLayer(hid_dim, n_heads, dropout, device)
            self.encoder_attention = MultiHeadAttentionLayer(hid_dim, n_heads, dropout, device)
            self.positionwise_feedforward = PositionwiseFeedforwardLayer(hid_dim, pf_dim, dropout)
            self.dropout = nn.Dropout(dropout)

        def forward(self, trg, enc_src, trg_mask, src_mask):
            _trg, _ = self.self_attention(trg, trg, trg, trg_mask)
            trg = self.self_attn_layer_norm(trg + self.dropout(_trg))
            _trg, attention = self.encoder_attention(trg, enc_src, enc_src, src_mask)
            trg = self.enc_attn_layer_norm(trg + self.dropout(_trg))
            _trg = self.positionwise_feedforward(trg)
            trg = self.ff_layer_norm(trg + self.dropout(_trg))
            return trg, attention

    class Decoder(nn.Module):
        def __init__(self, output_dim, hid_dim, n_layers, n_heads, pf_dim, dropout, device, max_length=100):
            super().__init__()
            self.device = device
            self.tok_embedding = nn.Embedding(output_dim, hid_dim)
            self.pos_embedding = nn.Embedding(max_length, hid_dim)
            self.layers = nn.ModuleList([DecoderLayer(hid_dim, n_heads, pf_dim, dropout, device)
                                         for _ in range(n_layers)])
            self.fc_out = nn.Linear(hid_dim, output_dim)
            self.dropout = nn.Dropout(dropout)
            self.scale = sqrt_scale(hid_dim)

        def forward(self, trg, enc_src, trg_mask, src_mask):
            batch_size = trg.shape[0]
            trg_len = trg.shape[1]
            pos = torch.arange(0, trg_len).unsqueeze(0).repeat(batch_size, 1).to(self.device)
            trg = self.dropout((self.tok_embedding(trg) * self.scale) + self.pos_embedding(pos))
            for layer in self.layers:
                trg, attention = layer(trg, enc_src, trg_mask, src_mask)
            output = self.fc_out(trg)
            return output, attention

    class Seq2Seq(nn.Module):
        def __init__(self, encoder, decoder, src_pad_idx, trg_pad_idx, device):
            super().__init__()
            self.encoder = encoder
            self.decoder = decoder
            self.src_pad_idx = src_pad_idx
            self.trg_pad_idx = trg_pad_idx
            self.device = device

        def make_src_mask(self, src):
            src_mask = (src != self.src_pad_idx).unsqueeze(1).unsqueeze(2)
            return src_mask

        def make_trg_mask(self, trg):
            trg_pad_mask = (trg != self.trg_pad_idx).unsqueeze(1).unsqueeze(2)
            trg_len = trg.shape[1]
            trg_sub_mask = torch.tril(torch.ones((trg_len, trg_len), device=self.device)).bool()
            trg_mask = trg_pad_mask & trg_sub_mask
            return trg_mask

        def forward(self, src, trg):
            src_mask = self.make_src_mask(src)
            trg_mask = self.make_trg_mask(trg)
            enc_src = self.encoder(src, src_mask)
            output, attention = self.decoder(trg, enc_src, trg_mask, src_mask)
            return output, attention

    def initialize_weights(m):
        if hasattr(m, "weight") and m.weight.dim() > 1:
            nn.init.xavier_uniform_(m.weight.data)

    def build(L_):
        enc = Encoder(SRC_VOCAB, hid, layers, heads, pf, dropout, dev, max_length)
        dec = Decoder(TRG_VOCAB, hid, layers, heads, pf, dropout, dev, max_length)
        model = Seq2Seq(enc, dec, PAD_IDX, PAD_IDX, dev)
        model.apply(initialize_weights)
        return model

    return build


def translate_sentence_transformer(L, sentence, model, device, max_len=8):
    torch = L.torch
    model.eval()
    src_indexes = [SOS_IDX] + sentence + [EOS_IDX]
    src_tensor = torch.LongTensor(src_indexes).unsqueeze(0).to(device)
    src_mask = model.make_src_mask(src_tensor)
    with torch.no_grad():
        enc_src = model.encoder(src_tensor, src_mask)
    trg_indexes = [SOS_IDX]
    for i in range(max_len):
        trg_tensor = torch.LongTensor(trg_indexes).unsqueeze(0).to(device)
        trg_mask = model.make_trg_mask(trg_tensor)
        with torch.no_grad():
            output, attention = model.decoder(trg_tensor, enc_src, trg_mask, src_mask)
        pred_token = output.argmax(2)[:, -1].item()
        trg_indexes.append(pred_token)
        if pred_token == EOS_IDX:
            break
    return trg_indexes[1:], attention


def _compare_transformer(build, tol, float32=False):
    torch.manual_seed(0)
    init = build(TH)
    t_model, t_rec = run_conv_program(TH, build, init, clip=1, lr=0.0005)
    m_model, m_rec = run_conv_program(MG, build, init, clip=1, lr=0.0005)
    np.testing.assert_allclose(m_rec["losses"], t_rec["losses"], **tol)
    np.testing.assert_allclose(m_rec["norms"], t_rec["norms"], **tol)
    np.testing.assert_allclose(m_rec["valid"], t_rec["valid"], **tol)
    _same_grad_dicts(m_rec["grads"], t_rec["grads"], "transformer first step", **tol)
    _close("transformer attention", m_rec["attention"], t_rec["attention"], **tol)
    if float32:
        # fc_k's bias adds q.b_k to every key's energy alike, which softmax cancels: its exact
        # gradient is 0 and what both libraries compute is float32 rounding noise (~1e-9).
        # Adam divides by sqrt(v) ~ |noise|, so each library moves it by ~lr in a direction set
        # by its own rounding. Those parameters are checked to be noise-only, the rest compared.
        # (The float64 runs compare every parameter, fc_k.bias included.)
        for n in t_rec["grads"]:
            if n.endswith("fc_k.bias"):
                assert np.abs(t_rec["grads"][n]).max() < 1e-6 and np.abs(m_rec["grads"][n]).max() < 1e-6, n
        named_o, named_t = dict(m_model.named_parameters()), dict(t_model.named_parameters())
        assert list(named_o) == list(named_t)
        for k in named_t:
            if not k.endswith("fc_k.bias"):
                _close(f"float32 transformer parameter {k}", named_o[k], named_t[k], **tol)
    else:
        _same_params(m_model, t_model, "transformer after training", **tol)
    for src, _ in make_corpus()[:6]:
        t_tok, t_att = translate_sentence_transformer(TH, src, t_model, device)
        m_tok, m_att = translate_sentence_transformer(MG, src, m_model, device)
        assert m_tok == t_tok
        _close(f"transformer attention map {src}", m_att, t_att, **tol)
    return m_model


def test_transformer_matches_torch_float64(float64):
    _compare_transformer(lambda L: make_transformer(L, float32_scale=False)(L), TOL)


def test_transformer_train_mode_dropout_one_matches_torch(float64):
    _compare_transformer(lambda L: make_transformer(L, float32_scale=False, dropout=1.0)(L), TOL)


def test_transformer_as_written_float32():
    m_model = _compare_transformer(lambda L: make_transformer(L)(L), dict(rtol=1e-4, atol=1e-5), float32=True)
    for n, p in m_model.named_parameters():
        assert p.dtype == mg.float32 and p.grad.dtype == mg.float32, n


def test_transformer_masks_match_torch():
    build_t, build_m = make_transformer(TH), make_transformer(MG)
    torch.manual_seed(0)
    t_model = build_t(TH)
    m_model = build_m(MG)
    (t_src, _, t_trg), = make_batches(TH, make_corpus()[:4])
    (m_src, _, m_trg), = make_batches(MG, make_corpus()[:4])
    t_mask, m_mask = t_model.make_trg_mask(t_trg.t()), m_model.make_trg_mask(m_trg.t())
    assert m_mask.dtype == mg.bool and tuple(m_mask.shape) == tuple(t_mask.shape)
    assert (m_mask.numpy() == t_mask.numpy()).all()
    assert (m_model.make_src_mask(m_src.t()).numpy() == t_model.make_src_mask(t_src.t()).numpy()).all()


def test_model_double_with_float32_outputs_buffer_casts_as_torch():
    """`model.double()` on the tutorial: `outputs = torch.zeros(...)` is still float32. torch casts each
    `outputs[t] = output` down to float32 (and returns float32 predictions from a float64 model), in a
    recorded graph too, and the float64 parameters get float64 gradients; so does minigrad (audit 10)."""
    torch.manual_seed(0)
    theirs = make_seq2seq_lstm(TH)(TH).double()
    ours = make_seq2seq_lstm(MG)(MG).double()
    (t_src, _, t_trg), = make_batches(TH, make_corpus()[:4])
    (m_src, _, m_trg), = make_batches(MG, make_corpus()[:4])
    for model, src, trg, lib in ((theirs, t_src, t_trg, torch), (ours, m_src, m_trg, mg)):
        out = model(src, trg, 0)
        assert out.dtype == lib.float32 and out.requires_grad
        out.sum().backward()
        assert all(p.grad.dtype == lib.float64 for p in model.parameters() if p.grad is not None)
    with mg.no_grad():  # without a graph the write casts too
        assert ours(m_src, m_trg, 0).dtype == mg.float32


# =====================================================================================
# Generated sizes: batch 1, length-1 sequences, kernel 1, one head, ... on every backend
# =====================================================================================
@given(kind=st.sampled_from(["packed_attention", "conv", "transformer"]), seed=st.integers(0, 2**16),
       batch=st.integers(1, 3), src_max=st.integers(1, 5), trg_len=st.integers(2, 4), small=st.integers(1, 3),
       layers=st.integers(1, 2), enforce_sorted=st.booleans(), kernel=st.sampled_from([1, 3, 5]))
def test_generated_sizes_forward_backward_match_torch(device, kind, seed, batch, src_max, trg_len, small, layers,
                                                       enforce_sorted, kernel):
    """One forward (teacher forcing from the shared coin) and backward of a weighted sum of the outputs
    (and attention maps), minigrad on `device` vs torch on the CPU, float64, over generated sizes."""
    old_t, old_m = torch.get_default_dtype(), mg.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    mg.set_default_dtype(mg.float64)
    try:
        rng = np.random.default_rng(seed)
        if kind == "packed_attention":
            lens = [int(n) for n in rng.integers(1, src_max + 1, batch)]
            lens = sorted(lens, reverse=True) if enforce_sorted else lens
            src = np.full((max(lens), batch), PAD_IDX)
            for b, n in enumerate(lens):
                src[:n, b] = rng.integers(2, SRC_VOCAB, n)
            trg = rng.integers(2, TRG_VOCAB, (trg_len, batch))
            kw = dict(packed=True, enforce_sorted=enforce_sorted, emb=small, enc_hid=small, dec_hid=small + 1)
            make = make_attention_model
        else:
            src = rng.integers(0, SRC_VOCAB, (batch, src_max))
            trg = rng.integers(0, TRG_VOCAB, (batch, trg_len))
            if kind == "conv":
                kw = dict(float32_scale=False, emb=small, hid=small + 1, enc_layers=layers, dec_layers=layers,
                          kernel_size=kernel)
                make = make_conv_seq2seq
            else:
                kw = dict(float32_scale=False, hid=2 * small, heads=1 + (small % 2 == 0), layers=layers, pf=3)
                make = make_transformer
        torch.manual_seed(seed)
        theirs = make(TH, **kw)(TH)
        _scale_up(theirs, 20.0)
        ours = make(MG, dev=device, **kw)(MG)
        _copy_weights(theirs, ours)
        ours.to(device)
        weights = None
        results = []
        for L, model, dev in ((TH, theirs, "cpu"), (MG, ours, device)):
            t = L.torch
            s_, g_ = t.tensor(src).to(dev), t.tensor(trg).to(dev)
            random.seed(seed)
            if kind == "packed_attention":
                out, att = model(s_, t.tensor(lens), g_, 0.5), None
            else:
                out, att = model(s_, g_)
            if weights is None:
                weights = np.random.default_rng(seed + 1).standard_normal(tuple(out.shape))
            loss = (out * t.tensor(weights).to(dev)).sum()
            if att is not None:
                loss = loss + (att * att).sum()
            loss.backward()
            results.append((out, att, {n: p.grad for n, p in model.named_parameters()}))
        (t_out, t_att, t_grads), (m_out, m_att, m_grads) = results
        _close(f"{kind} outputs", m_out.cpu(), t_out)
        if t_att is not None:
            _close(f"{kind} attention", m_att.cpu(), t_att)
        for n, g in t_grads.items():
            assert (g is None) == (m_grads[n] is None), n
            if g is not None:
                _close(f"{kind} grad {n}", m_grads[n].cpu(), g)
    finally:
        torch.set_default_dtype(old_t)
        mg.set_default_dtype(old_m)
