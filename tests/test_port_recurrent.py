"""Porting audit: real torch recurrent / NLP programs, run on torch and on minigrad, compared step by step.

Each program is written ONCE, as a torch user writes it (from the official tutorials and
pytorch/examples), inside a factory that takes the library as an argument: `L.torch`,
`L.nn`, `L.F`, `L.optim`. Porting is then exactly "change the imports": the torch run
gets `torch`, `torch.nn`, ...; the minigrad run gets `minigrad`, `minigrad.nn`, ... (the
recurrent layers `nn.LSTM`/`nn.GRU`/`nn.RNN` resolve to `models`). Both are built in
float64 with the same weights (torch's state dict loaded into ours), trained a few steps
on tiny generated data, and compared: losses, outputs, gradients and updated parameters,
rtol 1e-7.

Programs:
1. "Sequence Models and LSTM Networks" tutorial: LSTMTagger (Embedding -> LSTM -> Linear ->
   log_softmax -> NLLLoss, SGD), unbatched (seq, 1, emb) input; plus a 2-D (seq, emb) input.
2. Char-level name classifier: RNN over pad_sequence + pack_padded_sequence(enforce_sorted=False),
   last hidden state -> Linear -> CrossEntropyLoss, Adam; pad_packed_sequence round trip.
3. pytorch/examples word_language_model: RNNModel (LSTM and GRU, 2 layers, tied weights,
   dropout in eval), init_hidden, repackage_hidden, truncated BPTT over 3 chunks,
   clip_grad_norm_, manual `p.data.add_(p.grad, alpha=-lr)`, perplexity.
4. "Translation with a Sequence to Sequence Network and Attention" tutorial: GRU encoder,
   Bahdanau-attention GRU decoder, teacher forcing, Adam; greedy decoding.
5. Bidirectional 2-layer LSTM, batch_first, given (h0, c0): state dicts both ways, Adam.
"""
import math
from types import SimpleNamespace

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as mF

torch = pytest.importorskip("torch")

TOL = dict(rtol=1e-7, atol=1e-9)

TH = SimpleNamespace(torch=torch, nn=torch.nn, F=torch.nn.functional, optim=torch.optim, name="torch")
MG = SimpleNamespace(torch=mg, nn=mg.nn, F=mF, optim=mg.optim, name="minigrad")


@pytest.fixture(autouse=True)
def _float64():
    """Both libraries build float64 parameters (torch.set_default_dtype, mg.set_default_dtype)."""
    old_t, old_m = torch.get_default_dtype(), mg.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    mg.set_default_dtype(mg.float64)
    yield
    torch.set_default_dtype(old_t)
    mg.set_default_dtype(old_m)


def _np(t):
    if isinstance(t, mg.Tensor):
        return t.numpy()
    return t.detach().numpy()


def _close(what, ours, theirs, **tol):
    a, b = _np(ours), _np(theirs)
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs torch {b.shape}"
    np.testing.assert_allclose(a, b, err_msg=what, **(tol or TOL))


def _copy_weights(theirs, ours):
    """torch's state dict into ours (as NumPy arrays), and check the keys are identical."""
    sd = theirs.state_dict()
    assert list(ours.state_dict().keys()) == list(sd.keys())
    if isinstance(ours, torch.nn.Module):  # the torch run of a program starts from the same weights
        ours.load_state_dict({k: v.detach().clone() for k, v in sd.items()})
    else:
        ours.load_state_dict({k: v.detach().numpy().copy() for k, v in sd.items()})


def _same_params(ours, theirs, what="", **tol):
    named_o, named_t = dict(ours.named_parameters()), dict(theirs.named_parameters())
    assert list(named_o) == list(named_t), f"{what}: parameter names differ"
    for k in named_t:
        _close(f"{what} parameter {k}", named_o[k], named_t[k], **tol)


def _same_grads(ours, theirs, what="", **tol):
    named_o, named_t = dict(ours.named_parameters()), dict(theirs.named_parameters())
    for k in named_t:
        go, gt = named_o[k].grad, named_t[k].grad
        assert (go is None) == (gt is None), f"{what} grad of {k}: {go} vs torch {gt}"
        if gt is not None:
            _close(f"{what} grad {k}", go, gt, **tol)


# =====================================================================================
# 1. Sequence Models and LSTM Networks: the LSTM part-of-speech tagger
# =====================================================================================
TAGGER_DATA = [
    ("The dog ate the apple".split(), ["DET", "NN", "V", "DET", "NN"]),
    ("Everybody read that book".split(), ["NN", "V", "DET", "NN"]),
    ("the cat saw a dog".split(), ["DET", "NN", "V", "DET", "NN"]),
]


def make_tagger(L):
    torch, nn, F = L.torch, L.nn, L.F

    class LSTMTagger(nn.Module):
        def __init__(self, embedding_dim, hidden_dim, vocab_size, tagset_size):
            super().__init__()
            self.hidden_dim = hidden_dim
            self.word_embeddings = nn.Embedding(vocab_size, embedding_dim)
            # The LSTM takes word embeddings as inputs, and outputs hidden states with dimensionality hidden_dim.
            self.lstm = nn.LSTM(embedding_dim, hidden_dim)
            self.hidden2tag = nn.Linear(hidden_dim, tagset_size)

        def forward(self, sentence):
            embeds = self.word_embeddings(sentence)
            lstm_out, _ = self.lstm(embeds.view(len(sentence), 1, -1))
            tag_space = self.hidden2tag(lstm_out.view(len(sentence), -1))
            tag_scores = F.log_softmax(tag_space, dim=1)
            return tag_scores

    def prepare_sequence(seq, to_ix):
        idxs = [to_ix[w] for w in seq]
        return torch.tensor(idxs, dtype=torch.long)

    return LSTMTagger, prepare_sequence


WORD_TO_IX = {}
for _sent, _tags in TAGGER_DATA:
    for _word in _sent:
        if _word not in WORD_TO_IX:
            WORD_TO_IX[_word] = len(WORD_TO_IX)
TAG_TO_IX = {"DET": 0, "NN": 1, "V": 2}


def _run_tagger(L, state=None, epochs=3):
    torch, nn, optim = L.torch, L.nn, L.optim
    LSTMTagger, prepare_sequence = make_tagger(L)
    word_to_ix, tag_to_ix = WORD_TO_IX, TAG_TO_IX
    model = LSTMTagger(6, 6, len(word_to_ix), len(tag_to_ix))
    if state is not None:
        _copy_weights(state, model)
    loss_function = nn.NLLLoss()
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    losses = []
    for _epoch in range(epochs):
        for sentence, tags in TAGGER_DATA:
            model.zero_grad()
            sentence_in = prepare_sequence(sentence, word_to_ix)
            targets = prepare_sequence(tags, tag_to_ix)
            tag_scores = model(sentence_in)
            loss = loss_function(tag_scores, targets)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    with torch.no_grad():
        inputs = prepare_sequence(TAGGER_DATA[0][0], word_to_ix)
        tag_scores = model(inputs)
    return model, losses, tag_scores


def test_lstm_tagger_matches_torch():
    torch.manual_seed(0)
    t_model, t_losses, t_scores = _run_tagger(TH)
    # a fresh torch model with the same seed: its initial weights are what t_model started from
    torch.manual_seed(0)
    init = make_tagger(TH)[0](6, 6, len(WORD_TO_IX), 3)
    m_model, m_losses, m_scores = _run_tagger(MG, state=init)
    np.testing.assert_allclose(m_losses, t_losses, **TOL)
    _close("tag scores after training", m_scores, t_scores)
    _same_params(m_model, t_model, "tagger")
    assert m_scores.argmax(dim=1).tolist() == t_scores.argmax(dim=1).tolist()


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_unbatched_2d_input_matches_torch(kind):
    """torch 2.x: a 2-D (seq, feature) input is one unbatched sequence; output (seq, H), h_n (L*D, H)."""
    torch.manual_seed(1)
    theirs = getattr(torch.nn, kind)(4, 3, num_layers=2, bidirectional=True)
    ours = getattr(mg.nn, kind)(4, 3, num_layers=2, bidirectional=True)
    _copy_weights(theirs, ours)
    x = np.random.default_rng(0).standard_normal((5, 4))
    tx, mx = torch.tensor(x, requires_grad=True), mg.tensor(x, requires_grad=True)
    t_out, t_h = theirs(tx)
    m_out, m_h = ours(mx)
    assert tuple(m_out.shape) == tuple(t_out.shape) == (5, 6)
    _close("unbatched output", m_out, t_out)
    t_states = t_h if kind == "LSTM" else (t_h,)
    m_states = m_h if kind == "LSTM" else (m_h,)
    for ms, ts in zip(m_states, t_states):
        assert tuple(ms.shape) == tuple(ts.shape) == (4, 3)
        _close("unbatched state", ms, ts)
    (t_out.sum() + t_states[0].pow(2).sum()).backward()
    (m_out.sum() + m_states[0].pow(2).sum()).backward()
    _close("unbatched input grad", mx.grad, tx.grad)
    _same_grads(ours, theirs, "unbatched")


def test_tagger_with_2d_lstm_input_matches_tutorial_form():
    """The tagger without `.view(len(sentence), 1, -1)`: the same scores as the tutorial's 3-D form."""
    torch.manual_seed(0)
    init = make_tagger(TH)[0](6, 6, len(WORD_TO_IX), 3)
    model = make_tagger(MG)[0](6, 6, len(WORD_TO_IX), 3)
    _copy_weights(init, model)
    sentence = mg.tensor([0, 1, 2, 3, 4], dtype=mg.int64)
    emb = model.word_embeddings(sentence)
    out3, (h3, c3) = model.lstm(emb.view(5, 1, -1))
    out2, (h2, c2) = model.lstm(emb)
    assert tuple(out2.shape) == (5, 6) and tuple(h2.shape) == (1, 6) and tuple(c2.shape) == (1, 6)
    np.testing.assert_array_equal(out2.numpy(), out3.numpy()[:, 0])
    np.testing.assert_array_equal(h2.numpy(), h3.numpy()[:, 0])
    np.testing.assert_array_equal(c2.numpy(), c3.numpy()[:, 0])


# =====================================================================================
# 2. Char-level name classifier over a packed batch
# =====================================================================================
ALPHABET = "abcdefgh'"
N_LETTERS = len(ALPHABET)
NAMES = ["abba", "cafe", "hedge'", "bad", "gab", "fig", "ace'h"]  # tie at length 3 and 4 (stable order)
LABELS = [0, 1, 2, 1, 0, 2, 1]


def make_name_classifier(L):
    torch, nn = L.torch, L.nn
    pack_padded_sequence = nn.utils.rnn.pack_padded_sequence
    pad_sequence = nn.utils.rnn.pad_sequence

    def line_to_tensor(line):
        """One-hot letters, (len(line), N_LETTERS), written element by element as the tutorial does."""
        tensor = torch.zeros(len(line), N_LETTERS)
        for li, letter in enumerate(line):
            tensor[li][ALPHABET.find(letter)] = 1
        return tensor

    def batch(names):
        lengths = torch.tensor([len(n) for n in names])
        return pad_sequence([line_to_tensor(n) for n in names]), lengths

    class CharRNN(nn.Module):
        def __init__(self, input_size, hidden_size, output_size):
            super().__init__()
            self.rnn = nn.RNN(input_size, hidden_size)
            self.h2o = nn.Linear(hidden_size, output_size)

        def forward(self, padded, lengths):
            packed = pack_padded_sequence(padded, lengths, enforce_sorted=False)
            packed_out, hidden = self.rnn(packed)
            return self.h2o(hidden[-1]), packed_out

    return CharRNN, batch


def _run_names(L, init=None, steps=4):
    torch, nn = L.torch, L.nn
    CharRNN, batch = make_name_classifier(L)
    model = CharRNN(N_LETTERS, 5, 3)
    if init is not None:
        _copy_weights(init, model)
    criterion = nn.CrossEntropyLoss()
    optimizer = L.optim.Adam(model.parameters(), lr=0.02)
    padded, lengths = batch(NAMES)
    target = torch.tensor(LABELS, dtype=torch.long)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        logits, _ = model(padded, lengths)
        loss = criterion(logits, target)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 3)
        optimizer.step()
        losses.append(loss.item())
    # the packed output unpacked again, and the gradient of a loss on it w.r.t. the padded input
    x = padded.clone().requires_grad_(True)
    logits, packed_out = model(x, lengths)
    out, out_lengths = nn.utils.rnn.pad_packed_sequence(packed_out, batch_first=True)
    ((out * out).sum() + logits.sum()).backward()
    return model, losses, dict(padded=padded, lengths=lengths, packed_out=packed_out, out=out,
                               out_lengths=out_lengths, x_grad=x.grad, logits=logits)


def test_name_classifier_packed_matches_torch():
    torch.manual_seed(2)
    CharRNN, _ = make_name_classifier(TH)
    init = CharRNN(N_LETTERS, 5, 3)
    t_model, t_losses, t = _run_names(TH, init)
    m_model, m_losses, m = _run_names(MG, init)
    np.testing.assert_allclose(m_losses, t_losses, **TOL)
    _same_params(m_model, t_model, "name classifier")
    _close("padded one-hot batch", m["padded"], t["padded"])
    assert m["lengths"].tolist() == t["lengths"].tolist()
    for field in ("batch_sizes", "sorted_indices", "unsorted_indices"):
        assert getattr(m["packed_out"], field).tolist() == getattr(t["packed_out"], field).tolist(), field
    _close("packed output data", m["packed_out"].data, t["packed_out"].data)
    _close("pad_packed_sequence output", m["out"], t["out"])
    assert m["out_lengths"].tolist() == t["out_lengths"].tolist()
    assert m["out_lengths"].dtype == mg.int64 and m["out_lengths"].device == "cpu"
    _close("logits", m["logits"], t["logits"])
    _close("d loss / d padded input", m["x_grad"], t["x_grad"])


@pytest.mark.parametrize("batch_first", [False, True])
def test_pack_pad_round_trip_matches_torch(batch_first):
    rng = np.random.default_rng(3)
    seqs = [rng.standard_normal((n, 2)) for n in (3, 5, 1, 5, 2)]
    t_padded = torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs], batch_first=batch_first,
                                               padding_value=-1.0)
    m_padded = mg.nn.utils.rnn.pad_sequence([mg.tensor(s) for s in seqs], batch_first=batch_first,
                                            padding_value=-1.0)
    _close("pad_sequence", m_padded, t_padded)
    lengths = [len(s) for s in seqs]
    t_packed = torch.nn.utils.rnn.pack_padded_sequence(t_padded, lengths, batch_first=batch_first,
                                                       enforce_sorted=False)
    m_packed = mg.nn.utils.rnn.pack_padded_sequence(m_padded, lengths, batch_first=batch_first,
                                                    enforce_sorted=False)
    _close("packed data", m_packed.data, t_packed.data)
    for field in ("batch_sizes", "sorted_indices", "unsorted_indices"):
        assert getattr(m_packed, field).tolist() == getattr(t_packed, field).tolist(), field
    t_back, t_len = torch.nn.utils.rnn.pad_packed_sequence(t_packed, batch_first=batch_first, total_length=7)
    m_back, m_len = mg.nn.utils.rnn.pad_packed_sequence(m_packed, batch_first=batch_first, total_length=7)
    _close("pad_packed_sequence(total_length=7)", m_back, t_back)
    assert m_len.tolist() == t_len.tolist() == lengths
    # the round trip restores the padded batch (zeros instead of -1 in the padding)
    m_plain, _ = mg.nn.utils.rnn.pad_packed_sequence(m_packed, batch_first=batch_first, padding_value=-1.0)
    np.testing.assert_array_equal(m_plain.numpy(), m_padded.numpy())


# =====================================================================================
# 3. pytorch/examples word_language_model: RNNModel with truncated BPTT
# =====================================================================================
def make_word_lm(L):
    torch, nn, F = L.torch, L.nn, L.F

    class RNNModel(nn.Module):
        """Container module with an encoder, a recurrent module, and a decoder."""

        def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
            super().__init__()
            self.ntoken = ntoken
            self.drop = nn.Dropout(dropout)
            self.encoder = nn.Embedding(ntoken, ninp)
            if rnn_type in ["LSTM", "GRU"]:
                self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
            else:
                nonlinearity = {"RNN_TANH": "tanh", "RNN_RELU": "relu"}[rnn_type]
                self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=nonlinearity, dropout=dropout)
            self.decoder = nn.Linear(nhid, ntoken)
            if tie_weights:
                if nhid != ninp:
                    raise ValueError("When using the tied flag, nhid must be equal to emsize")
                self.decoder.weight = self.encoder.weight
            self.init_weights()
            self.rnn_type = rnn_type
            self.nhid = nhid
            self.nlayers = nlayers

        def init_weights(self):
            initrange = 0.1
            nn.init.uniform_(self.encoder.weight, -initrange, initrange)
            nn.init.zeros_(self.decoder.bias)
            nn.init.uniform_(self.decoder.weight, -initrange, initrange)

        def forward(self, input, hidden):  # noqa: A002
            emb = self.drop(self.encoder(input))
            output, hidden = self.rnn(emb, hidden)
            output = self.drop(output)
            decoded = self.decoder(output)
            decoded = decoded.view(-1, self.ntoken)
            return F.log_softmax(decoded, dim=1), hidden

        def init_hidden(self, bsz):
            weight = next(self.parameters())
            if self.rnn_type == "LSTM":
                return (weight.new_zeros(self.nlayers, bsz, self.nhid),
                        weight.new_zeros(self.nlayers, bsz, self.nhid))
            return weight.new_zeros(self.nlayers, bsz, self.nhid)

    def batchify(data, bsz):
        nbatch = data.size(0) // bsz
        data = data.narrow(0, 0, nbatch * bsz)
        return data.view(bsz, -1).t().contiguous()

    def get_batch(source, i, bptt):
        seq_len = min(bptt, len(source) - 1 - i)
        data = source[i:i + seq_len]
        target = source[i + 1:i + 1 + seq_len].view(-1)
        return data, target

    def repackage_hidden(h):
        """Wraps hidden states in new Tensors, to detach them from their history."""
        if isinstance(h, torch.Tensor):
            return h.detach()
        return tuple(repackage_hidden(v) for v in h)

    return RNNModel, batchify, get_batch, repackage_hidden


LM_TOKENS = np.random.default_rng(4).integers(0, 10, size=40)


def _run_word_lm(L, rnn_type, init=None, epochs=2, lr=2.0, clip=0.25, bptt=4, bsz=3):
    torch, nn = L.torch, L.nn
    RNNModel, batchify, get_batch, repackage_hidden = make_word_lm(L)
    model = RNNModel(rnn_type, 10, 6, 6, 2, dropout=0.5, tie_weights=True)
    if init is not None:
        _copy_weights(init, model)
    assert model.decoder.weight is model.encoder.weight
    train_data = batchify(torch.tensor(LM_TOKENS[:31], dtype=torch.long), bsz)  # (10, 3): chunks 4, 4, 1
    val_data = batchify(torch.tensor(LM_TOKENS[30:], dtype=torch.long), 2)
    criterion = nn.NLLLoss()
    losses, norms = [], []
    for _epoch in range(epochs):
        model.eval()  # the example calls model.train(); dropout is switched off to compare with torch
        hidden = model.init_hidden(bsz)
        for _batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
            data, targets = get_batch(train_data, i, bptt)
            # Starting each batch, we detach the hidden state from how it was previously produced.
            model.zero_grad()
            hidden = repackage_hidden(hidden)
            output, hidden = model(data, hidden)
            loss = criterion(output, targets)
            loss.backward()
            norms.append(float(nn.utils.clip_grad_norm_(model.parameters(), clip)))
            # The example writes `p.data.add_(p.grad, alpha=-lr)`; minigrad's `.data` is the raw array
            # (see test_manual_update_through_p_data), so both runs use the equivalent torch idiom.
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(p.grad, alpha=-lr)
            losses.append(loss.item())
    # evaluate(): perplexity on held-out data, with CrossEntropyLoss on the log-probabilities
    model.eval()
    total_loss = 0.0
    hidden = model.init_hidden(2)
    xent = nn.CrossEntropyLoss()
    with torch.no_grad():
        for i in range(0, val_data.size(0) - 1, bptt):
            data, targets = get_batch(val_data, i, bptt)
            output, hidden = model(data, hidden)
            hidden = repackage_hidden(hidden)
            total_loss += len(data) * xent(output, targets).item()
    val_loss = total_loss / (len(val_data) - 1)
    return model, losses, norms, math.exp(val_loss), hidden


@pytest.mark.parametrize("rnn_type", ["LSTM", "GRU"])
def test_word_language_model_matches_torch(rnn_type):
    torch.manual_seed(5)
    init = make_word_lm(TH)[0](rnn_type, 10, 6, 6, 2, dropout=0.5, tie_weights=True)
    t_model, t_losses, t_norms, t_ppl, t_hidden = _run_word_lm(TH, rnn_type, init)
    m_model, m_losses, m_norms, m_ppl, m_hidden = _run_word_lm(MG, rnn_type, init)
    assert len(m_losses) == 6
    np.testing.assert_allclose(m_losses, t_losses, **TOL)
    np.testing.assert_allclose(m_norms, t_norms, **TOL)
    assert t_norms[0] > 0.25  # clipping did act
    np.testing.assert_allclose(m_ppl, t_ppl, **TOL)
    # tied weights: one parameter, updated once per step, as in torch
    assert len(list(m_model.parameters())) == len(list(t_model.parameters()))
    _same_params(m_model, t_model, "word LM")
    for ms, ts in zip(m_hidden if rnn_type == "LSTM" else (m_hidden,), t_hidden if rnn_type == "LSTM" else (t_hidden,)):
        _close("final hidden", ms, ts)
    assert list(m_model.state_dict()) == list(t_model.state_dict())


def test_word_language_model_dropout_trains():
    """Training mode (dropout 0.5 inside and between the layers) runs, and eval mode is deterministic."""
    RNNModel, batchify, get_batch, repackage_hidden = make_word_lm(MG)
    mg.manual_seed(0)
    model = RNNModel("LSTM", 10, 6, 6, 2, dropout=0.5, tie_weights=True)
    data = batchify(mg.tensor(LM_TOKENS, dtype=mg.long), 4)
    x, y = get_batch(data, 0, 5)
    model.train()
    out1, _ = model(x, model.init_hidden(4))
    out2, _ = model(x, model.init_hidden(4))
    assert not np.array_equal(out1.numpy(), out2.numpy())  # dropout masks differ
    mF.nll_loss(out1, y).backward()
    assert all(np.isfinite(p.grad.numpy()).all() for p in model.parameters())
    model.eval()
    e1, _ = model(x, model.init_hidden(4))
    e2, _ = model(x, model.init_hidden(4))
    np.testing.assert_array_equal(e1.numpy(), e2.numpy())


# =====================================================================================
# 4. Seq2seq translation tutorial: GRU encoder, Bahdanau-attention GRU decoder
# =====================================================================================
SOS_token, EOS_token, MAX_LENGTH = 0, 1, 4


def make_seq2seq(L):
    torch, nn, F = L.torch, L.nn, L.F
    device = "cpu"

    class EncoderRNN(nn.Module):
        def __init__(self, input_size, hidden_size, dropout_p=0.1):
            super().__init__()
            self.hidden_size = hidden_size
            self.embedding = nn.Embedding(input_size, hidden_size)
            self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
            self.dropout = nn.Dropout(dropout_p)

        def forward(self, input):  # noqa: A002
            embedded = self.dropout(self.embedding(input))
            output, hidden = self.gru(embedded)
            return output, hidden

    class BahdanauAttention(nn.Module):
        def __init__(self, hidden_size):
            super().__init__()
            self.Wa = nn.Linear(hidden_size, hidden_size)
            self.Ua = nn.Linear(hidden_size, hidden_size)
            self.Va = nn.Linear(hidden_size, 1)

        def forward(self, query, keys):
            scores = self.Va(torch.tanh(self.Wa(query) + self.Ua(keys)))
            scores = scores.squeeze(2).unsqueeze(1)
            weights = F.softmax(scores, dim=-1)
            context = torch.bmm(weights, keys)
            return context, weights

    class AttnDecoderRNN(nn.Module):
        def __init__(self, hidden_size, output_size, dropout_p=0.1):
            super().__init__()
            self.embedding = nn.Embedding(output_size, hidden_size)
            self.attention = BahdanauAttention(hidden_size)
            self.gru = nn.GRU(2 * hidden_size, hidden_size, batch_first=True)
            self.out = nn.Linear(hidden_size, output_size)
            self.dropout = nn.Dropout(dropout_p)

        def forward(self, encoder_outputs, encoder_hidden, target_tensor=None):
            batch_size = encoder_outputs.size(0)
            decoder_input = torch.empty(batch_size, 1, dtype=torch.long, device=device).fill_(SOS_token)
            decoder_hidden = encoder_hidden
            decoder_outputs = []
            attentions = []
            for i in range(MAX_LENGTH):
                decoder_output, decoder_hidden, attn_weights = self.forward_step(
                    decoder_input, decoder_hidden, encoder_outputs)
                decoder_outputs.append(decoder_output)
                attentions.append(attn_weights)
                if target_tensor is not None:
                    decoder_input = target_tensor[:, i].unsqueeze(1)  # Teacher forcing
                else:
                    _, topi = decoder_output.topk(1)
                    decoder_input = topi.squeeze(-1).detach()  # detach from history as input
            decoder_outputs = torch.cat(decoder_outputs, dim=1)
            decoder_outputs = F.log_softmax(decoder_outputs, dim=-1)
            attentions = torch.cat(attentions, dim=1)
            return decoder_outputs, decoder_hidden, attentions

        def forward_step(self, input, hidden, encoder_outputs):  # noqa: A002
            embedded = self.dropout(self.embedding(input))
            query = hidden.permute(1, 0, 2)
            context, attn_weights = self.attention(query, encoder_outputs)
            input_gru = torch.cat((embedded, context), dim=2)
            output, hidden = self.gru(input_gru, hidden)
            output = self.out(output)
            return output, hidden, attn_weights

    return EncoderRNN, AttnDecoderRNN


S2S_SRC = np.random.default_rng(6).integers(2, 7, size=(3, 5))
S2S_TGT = np.concatenate([np.random.default_rng(7).integers(2, 6, size=(3, MAX_LENGTH - 1)),
                          np.full((3, 1), EOS_token)], axis=1)


def _run_seq2seq(L, enc_init, dec_init, steps=3):
    torch, nn, optim = L.torch, L.nn, L.optim
    EncoderRNN, AttnDecoderRNN = make_seq2seq(L)
    encoder, decoder = EncoderRNN(7, 5), AttnDecoderRNN(5, 6)
    _copy_weights(enc_init, encoder)
    _copy_weights(dec_init, decoder)
    encoder.eval()  # dropout off to compare with torch
    decoder.eval()
    encoder_optimizer = optim.Adam(encoder.parameters(), lr=0.01)
    decoder_optimizer = optim.Adam(decoder.parameters(), lr=0.01)
    criterion = nn.NLLLoss()
    input_tensor = torch.tensor(S2S_SRC, dtype=torch.long)
    target_tensor = torch.tensor(S2S_TGT, dtype=torch.long)
    losses = []
    for step in range(steps):
        encoder_optimizer.zero_grad()
        decoder_optimizer.zero_grad()
        encoder_outputs, encoder_hidden = encoder(input_tensor)
        decoder_outputs, _, attentions = decoder(encoder_outputs, encoder_hidden, target_tensor)
        loss = criterion(decoder_outputs.view(-1, decoder_outputs.size(-1)), target_tensor.view(-1))
        loss.backward()
        if step == 0:
            grads = {f"enc.{k}": p.grad.clone() for k, p in encoder.named_parameters()}
            grads.update({f"dec.{k}": p.grad.clone() for k, p in decoder.named_parameters()})
        encoder_optimizer.step()
        decoder_optimizer.step()
        losses.append(loss.item())
    with torch.no_grad():  # greedy decoding, no teacher
        encoder_outputs, encoder_hidden = encoder(input_tensor)
        decoder_outputs, decoder_hidden, attentions = decoder(encoder_outputs, encoder_hidden)
        _, topi = decoder_outputs.topk(1)
        decoded_ids = topi.squeeze()
    return dict(encoder=encoder, decoder=decoder, losses=losses, grads=grads, out=decoder_outputs,
                hidden=decoder_hidden, attn=attentions, ids=decoded_ids)


def test_seq2seq_attention_matches_torch():
    torch.manual_seed(8)
    EncoderRNN, AttnDecoderRNN = make_seq2seq(TH)
    enc_init, dec_init = EncoderRNN(7, 5), AttnDecoderRNN(5, 6)
    t = _run_seq2seq(TH, enc_init, dec_init)
    m = _run_seq2seq(MG, enc_init, dec_init)
    np.testing.assert_allclose(m["losses"], t["losses"], **TOL)
    assert list(m["grads"]) == list(t["grads"])
    for k in t["grads"]:
        _close(f"first-step grad {k}", m["grads"][k], t["grads"][k])
    _same_params(m["encoder"], t["encoder"], "encoder")
    _same_params(m["decoder"], t["decoder"], "decoder")
    _close("greedy log-probs", m["out"], t["out"])
    _close("greedy final hidden", m["hidden"], t["hidden"])
    _close("attention weights", m["attn"], t["attn"])
    assert tuple(m["attn"].shape) == (3, MAX_LENGTH, 5)
    assert m["ids"].tolist() == t["ids"].tolist()


def make_seq2seq_v1(L):
    """The tutorial's first (one sentence at a time) version: a fixed-size attention over max_length
    slots, `encoder_outputs[ei] = encoder_output[0, 0]` written in place, `loss += criterion(...)`."""
    torch, nn, F = L.torch, L.nn, L.F
    device = "cpu"

    class EncoderRNN(nn.Module):
        def __init__(self, input_size, hidden_size):
            super().__init__()
            self.hidden_size = hidden_size
            self.embedding = nn.Embedding(input_size, hidden_size)
            self.gru = nn.GRU(hidden_size, hidden_size)

        def forward(self, input, hidden):  # noqa: A002
            embedded = self.embedding(input).view(1, 1, -1)
            output = embedded
            output, hidden = self.gru(output, hidden)
            return output, hidden

        def initHidden(self):  # noqa: N802
            return torch.zeros(1, 1, self.hidden_size, device=device)

    class AttnDecoderRNN(nn.Module):
        def __init__(self, hidden_size, output_size, dropout_p=0.1, max_length=MAX_LENGTH + 2):
            super().__init__()
            self.hidden_size, self.output_size = hidden_size, output_size
            self.dropout_p, self.max_length = dropout_p, max_length
            self.embedding = nn.Embedding(self.output_size, self.hidden_size)
            self.attn = nn.Linear(self.hidden_size * 2, self.max_length)
            self.attn_combine = nn.Linear(self.hidden_size * 2, self.hidden_size)
            self.dropout = nn.Dropout(self.dropout_p)
            self.gru = nn.GRU(self.hidden_size, self.hidden_size)
            self.out = nn.Linear(self.hidden_size, self.output_size)

        def forward(self, input, hidden, encoder_outputs):  # noqa: A002
            embedded = self.embedding(input).view(1, 1, -1)
            embedded = self.dropout(embedded)
            attn_weights = F.softmax(self.attn(torch.cat((embedded[0], hidden[0]), 1)), dim=1)
            attn_applied = torch.bmm(attn_weights.unsqueeze(0), encoder_outputs.unsqueeze(0))
            output = torch.cat((embedded[0], attn_applied[0]), 1)
            output = self.attn_combine(output).unsqueeze(0)
            output = F.relu(output)
            output, hidden = self.gru(output, hidden)
            output = F.log_softmax(self.out(output[0]), dim=1)
            return output, hidden, attn_weights

    def train(input_tensor, target_tensor, encoder, decoder, encoder_optimizer, decoder_optimizer, criterion,
              use_teacher_forcing, max_length=MAX_LENGTH + 2):
        encoder_hidden = encoder.initHidden()
        encoder_optimizer.zero_grad()
        decoder_optimizer.zero_grad()
        input_length = input_tensor.size(0)
        target_length = target_tensor.size(0)
        encoder_outputs = torch.zeros(max_length, encoder.hidden_size, device=device)
        loss = 0
        for ei in range(input_length):
            encoder_output, encoder_hidden = encoder(input_tensor[ei], encoder_hidden)
            encoder_outputs[ei] = encoder_output[0, 0]
        decoder_input = torch.tensor([[SOS_token]], device=device)
        decoder_hidden = encoder_hidden
        if use_teacher_forcing:
            for di in range(target_length):
                decoder_output, decoder_hidden, decoder_attention = decoder(
                    decoder_input, decoder_hidden, encoder_outputs)
                loss += criterion(decoder_output, target_tensor[di])
                decoder_input = target_tensor[di]  # Teacher forcing
        else:
            for di in range(target_length):
                decoder_output, decoder_hidden, decoder_attention = decoder(
                    decoder_input, decoder_hidden, encoder_outputs)
                topv, topi = decoder_output.topk(1)
                decoder_input = topi.squeeze().detach()  # detach from history as input
                loss += criterion(decoder_output, target_tensor[di])
                if decoder_input.item() == EOS_token:
                    break
        loss.backward()
        encoder_optimizer.step()
        decoder_optimizer.step()
        return loss.item() / target_length

    return EncoderRNN, AttnDecoderRNN, train


def _run_seq2seq_v1(L, enc_init, dec_init):
    torch, nn, optim = L.torch, L.nn, L.optim
    EncoderRNN, AttnDecoderRNN, train = make_seq2seq_v1(L)
    encoder, decoder = EncoderRNN(7, 5), AttnDecoderRNN(5, 6)
    _copy_weights(enc_init, encoder)
    _copy_weights(dec_init, decoder)
    decoder.eval()  # dropout off to compare with torch
    encoder_optimizer = optim.SGD(encoder.parameters(), lr=0.1)
    decoder_optimizer = optim.SGD(decoder.parameters(), lr=0.1)
    criterion = nn.NLLLoss()
    losses = []
    for k in range(4):
        src, tgt = S2S_SRC[k % 3], S2S_TGT[k % 3]
        input_tensor = torch.tensor(list(src), dtype=torch.long, device="cpu").view(-1, 1)
        target_tensor = torch.tensor(list(tgt), dtype=torch.long, device="cpu").view(-1, 1)
        losses.append(train(input_tensor, target_tensor, encoder, decoder, encoder_optimizer, decoder_optimizer,
                            criterion, use_teacher_forcing=k % 2 == 0))
    return encoder, decoder, losses


def test_seq2seq_v1_in_place_encoder_outputs_matches_torch():
    torch.manual_seed(17)
    EncoderRNN, AttnDecoderRNN, _ = make_seq2seq_v1(TH)
    enc_init, dec_init = EncoderRNN(7, 5), AttnDecoderRNN(5, 6)
    t_enc, t_dec, t_losses = _run_seq2seq_v1(TH, enc_init, dec_init)
    m_enc, m_dec, m_losses = _run_seq2seq_v1(MG, enc_init, dec_init)
    np.testing.assert_allclose(m_losses, t_losses, **TOL)
    _same_params(m_enc, t_enc, "v1 encoder")
    _same_params(m_dec, t_dec, "v1 decoder")


# =====================================================================================
# 5. Bidirectional 2-layer LSTM, batch_first, (h0, c0) given: state dicts both ways
# =====================================================================================
def _bilstm_step_compare(ours, theirs, steps=3):
    rng = np.random.default_rng(9)
    B, T, I, H = 3, 4, 3, 4
    x, y = rng.standard_normal((B, T, I)), rng.standard_normal((B, T, 2 * H))
    h0, c0 = rng.standard_normal((4, B, H)), rng.standard_normal((4, B, H))
    t_opt = torch.optim.Adam(theirs.parameters(), lr=0.05)
    m_opt = mg.optim.Adam(ours.parameters(), lr=0.05)
    for _ in range(steps):
        results = []
        for lib, model, opt in ((torch, theirs, t_opt), (mg, ours, m_opt)):
            opt.zero_grad()
            xx = lib.tensor(x, requires_grad=True)
            hh, cc = lib.tensor(h0, requires_grad=True), lib.tensor(c0, requires_grad=True)
            out, (h_n, c_n) = model(xx, (hh, cc))
            loss = ((out - lib.tensor(y)) ** 2).mean() + h_n.sum() * 0.1 + (c_n ** 2).sum() * 0.01
            loss.backward()
            opt.step()
            results.append((loss, out, h_n, c_n, xx.grad, hh.grad, cc.grad))
        names = ("loss", "output", "h_n", "c_n", "dx", "dh0", "dc0")
        for name, t_v, m_v in zip(names, *results):
            _close(f"bi-LSTM {name}", m_v, t_v)
    _same_params(ours, theirs, "bi-LSTM after Adam")


def test_bidirectional_lstm_state_dict_torch_to_ours():
    torch.manual_seed(10)
    theirs = torch.nn.LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True)
    ours = mg.nn.LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())  # torch tensors, as they are
    _bilstm_step_compare(ours, theirs)


def test_bidirectional_lstm_state_dict_ours_to_torch():
    mg.manual_seed(11)
    ours = mg.nn.LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True, proj_size=0)
    theirs = torch.nn.LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True, proj_size=0)
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    _bilstm_step_compare(ours, theirs)
    # and back: the trained torch weights load into a fresh model of ours, same outputs
    fresh = mg.nn.LSTM(3, 4, 2, True, True, 0.0, True)  # torch's positional order
    fresh.load_state_dict(theirs.state_dict())
    x = np.random.default_rng(12).standard_normal((2, 5, 3))
    _close("reloaded bi-LSTM", fresh(mg.tensor(x))[0], theirs(torch.tensor(x))[0])


def test_bidirectional_lstm_packed_with_initial_states_matches_torch():
    """The same bi-LSTM fed a PackedSequence of an unsorted batch, with (h0, c0) in the original order."""
    torch.manual_seed(13)
    theirs = torch.nn.LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True)
    ours = mg.nn.LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True)
    ours.load_state_dict(theirs.state_dict())
    rng = np.random.default_rng(14)
    x, h0, c0 = rng.standard_normal((4, 5, 3)), rng.standard_normal((4, 4, 4)), rng.standard_normal((4, 4, 4))
    lengths = [2, 5, 3, 4]
    res = []
    for lib, model in ((torch, theirs), (mg, ours)):
        xx, hh, cc = (lib.tensor(a, requires_grad=True) for a in (x, h0, c0))
        packed = lib.nn.utils.rnn.pack_padded_sequence(xx, lengths, batch_first=True, enforce_sorted=False)
        out, (h_n, c_n) = model(packed, (hh, cc))
        padded, _ = lib.nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
        ((padded ** 2).sum() + h_n.sum() + (c_n * c_n).sum()).backward()
        res.append((out.data, padded, h_n, c_n, xx.grad, hh.grad, cc.grad))
    for name, t_v, m_v in zip(("packed out", "padded out", "h_n", "c_n", "dx", "dh0", "dc0"), *res):
        _close(f"packed bi-LSTM {name}", m_v, t_v)
    _same_grads(ours, theirs, "packed bi-LSTM")


# =====================================================================================
# Porting details found by the programs above
# =====================================================================================
def test_torch_dtype_names():
    """torch.long / float / double / int / bool / half / short: `dtype=torch.long` ports as it is."""
    pairs = {"long": "int64", "float": "float32", "double": "float64", "int": "int32", "bool": "bool",
             "half": "float16", "short": "int16"}
    for name, np_name in pairs.items():
        assert getattr(mg, name) == np.dtype(np_name), name
        assert str(getattr(torch, name)) == f"torch.{np_name}", name
    assert mg.tensor([1, 2], dtype=mg.long).dtype == mg.int64
    assert mg.zeros(2, dtype=mg.double).to(mg.float).dtype == mg.float32
    # served by a module __getattr__: a star import does not shadow the builtins float / int / bool
    ns = {}
    exec("from minigrad import *", ns)
    assert "float" not in ns and "int" not in ns and "bool" not in ns and ns["long"] == np.dtype("int64")
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        mg.not_a_name  # noqa: B018


def test_randint_high_size_form():
    """torch.randint(high, size) (word_language_model's generate.py) as well as randint(low, high, size)."""
    mg.manual_seed(0)
    x = mg.randint(10, (1, 1), dtype=mg.long)
    assert tuple(x.shape) == (1, 1) and x.dtype == mg.int64 and 0 <= x.item() < 10
    y = mg.randint(3, 6, (50,))
    assert tuple(y.shape) == (50,) and y.min().item() >= 3 and y.max().item() < 6
    assert tuple(mg.randint(4, size=(2, 3)).shape) == (2, 3)
    with pytest.raises(ValueError, match="randint: expected low < high"):
        mg.randint(5, 2, (3,))


def test_tied_weights_state_dict_keys_as_torch():
    """A tied decoder: state_dict names the shared tensor under both keys, as torch's does, so the
    checkpoints load both ways with strict=True; and a missing one is reported as in torch."""
    RNNModel = make_word_lm(MG)[0]
    torch.manual_seed(15)
    theirs = make_word_lm(TH)[0]("GRU", 10, 6, 6, 2, tie_weights=True)
    ours = RNNModel("GRU", 10, 6, 6, 2, tie_weights=True)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    assert ours.decoder.weight is ours.encoder.weight
    _same_params(ours, theirs)
    back = make_word_lm(TH)[0]("GRU", 10, 6, 6, 2, tie_weights=True)
    back.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    _same_params(ours, back)
    partial = {k: v for k, v in ours.state_dict().items() if k != "decoder.weight"}
    assert ours.load_state_dict(partial, strict=False).missing_keys == ["decoder.weight"]
    with pytest.raises(RuntimeError, match="missing keys: decoder.weight"):
        ours.load_state_dict(partial)
    # parameters() still yields the shared tensor once (torch's remove_duplicate)
    assert len(list(ours.parameters())) == len(list(theirs.parameters()))


def test_lstm_proj_size_argument():
    """torch's LSTM(..., proj_size=P): accepted (also positionally); projections: tests/test_lstm_proj.py."""
    assert mg.nn.LSTM(3, 4, 1, True, False, 0.0, False, 0).proj_size == 0
    assert mg.nn.LSTM(3, 4, proj_size=2).weight_hr_l0.shape == (2, 4)
    with pytest.raises(ValueError, match="proj_size should be a positive integer or zero"):
        mg.nn.LSTM(3, 4, proj_size=-1)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_all_weights_and_flatten_parameters(kind):
    """`rnn.flatten_parameters()` (called in many torch forward()s) runs; `all_weights` has torch's layout."""
    theirs = getattr(torch.nn, kind)(2, 3, 2, bias=False, bidirectional=True)
    ours = getattr(mg.nn, kind)(2, 3, 2, bias=False, bidirectional=True)
    ours.load_state_dict(theirs.state_dict())
    assert ours.flatten_parameters() is None
    assert len(ours.all_weights) == len(theirs.all_weights) == 4
    for m_ws, t_ws in zip(ours.all_weights, theirs.all_weights):
        assert len(m_ws) == len(t_ws) == 2
        for m_w, t_w in zip(m_ws, t_ws):
            _close("all_weights", m_w, t_w)


@pytest.mark.xfail(strict=True, raises=AttributeError,
                   reason="minigrad's Tensor.data is the raw NumPy/CuPy array, not a Tensor: `p.data.add_(...)` "
                          "has no torch counterpart here (design; use `with no_grad(): p.add_(...)`)")
def test_manual_update_through_p_data():
    p = mg.nn.Parameter(mg.ones(3, dtype=mg.float64))
    (p * 2.0).sum().backward()
    p.data.add_(p.grad, alpha=-0.1)  # word_language_model/main.py's update
    np.testing.assert_allclose(p.numpy(), 0.8)


def test_word_language_model_generate():
    """generate.py: sample words one at a time from a trained model (multinomial over exp(out / temp)).
    The sampling is ours; torch, fed the same words, must give the same distributions."""
    torch.manual_seed(16)
    theirs = make_word_lm(TH)[0]("LSTM", 10, 6, 6, 2, tie_weights=True)
    model = make_word_lm(MG)[0]("LSTM", 10, 6, 6, 2, tie_weights=True)
    model.load_state_dict(theirs.state_dict())
    model.eval()
    theirs.eval()
    mg.manual_seed(0)
    hidden, t_hidden = model.init_hidden(1), theirs.init_hidden(1)
    input = mg.randint(10, (1, 1), dtype=mg.long)  # noqa: A001
    words = []
    with mg.no_grad(), torch.no_grad():
        for _ in range(6):
            t_input = torch.tensor(input.numpy())
            output, hidden = model(input, hidden)
            t_output, t_hidden = theirs(t_input, t_hidden)
            word_weights = output.squeeze().div(0.8).exp().cpu()
            _close("word weights", word_weights, t_output.squeeze().div(0.8).exp())
            word_idx = mg.multinomial(word_weights, 1)[0]
            input.fill_(word_idx)
            words.append(word_idx.item())
    assert all(0 <= w < 10 for w in words)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_dropout_with_one_layer_warns_as_torch(kind):
    """torch warns that dropout between layers needs num_layers > 1; so do we (the dropout never acts)."""
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        getattr(torch.nn, kind)(2, 3, dropout=0.5)
    with pytest.warns(UserWarning, match=f"{kind}: dropout .* num_layers greater than 1, but got dropout=0.5"):
        getattr(mg.nn, kind)(2, 3, dropout=0.5)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        getattr(mg.nn, kind)(2, 3, 2, dropout=0.5)
        from models.seq2seq import Decoder, Encoder  # they pass dropout on to the layer only with 2+ layers
        Encoder(10, 4, 5, cell=kind.lower(), dropout=0.3)
        Decoder(10, 4, 5, cell=kind.lower(), dropout=0.3)


# =====================================================================================
# 6. pytorch/examples time_sequence_prediction: two LSTMCells, LBFGS, future prediction
# =====================================================================================
def make_sine_model(L, hidden=8):
    torch, nn = L.torch, L.nn

    class Sequence(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm1 = nn.LSTMCell(1, hidden)
            self.lstm2 = nn.LSTMCell(hidden, hidden)
            self.linear = nn.Linear(hidden, 1)

        def forward(self, input, future=0):  # noqa: A002
            outputs = []
            h_t = torch.zeros(input.size(0), hidden, dtype=torch.double)
            c_t = torch.zeros(input.size(0), hidden, dtype=torch.double)
            h_t2 = torch.zeros(input.size(0), hidden, dtype=torch.double)
            c_t2 = torch.zeros(input.size(0), hidden, dtype=torch.double)
            for input_t in input.split(1, dim=1):
                h_t, c_t = self.lstm1(input_t, (h_t, c_t))
                h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
                output = self.linear(h_t2)
                outputs += [output]
            for _i in range(future):  # if we should predict the future
                h_t, c_t = self.lstm1(output, (h_t, c_t))
                h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
                output = self.linear(h_t2)
                outputs += [output]
            outputs = torch.cat(outputs, dim=1)
            return outputs

    return Sequence


def _sine_data(N=6, Lx=16, T=4):
    rng = np.random.RandomState(0)
    x = np.empty((N, Lx), "int64")
    x[:] = np.array(range(Lx)) + rng.randint(-4 * T, 4 * T, N).reshape(N, 1)
    return np.sin(x / 1.0 / T).astype("float64")


def _run_sine(L, init, steps=2):
    torch, nn, optim = L.torch, L.nn, L.optim
    data = _sine_data()
    input = torch.from_numpy(data[2:, :-1])  # noqa: A001
    target = torch.from_numpy(data[2:, 1:])
    test_input = torch.from_numpy(data[:2, :-1])
    seq = make_sine_model(L)()
    seq.double()
    _copy_weights(init, seq)
    criterion = nn.MSELoss()
    optimizer = optim.LBFGS(seq.parameters(), lr=0.8, max_iter=5)
    losses = []
    for _i in range(steps):
        def closure():
            optimizer.zero_grad()
            out = seq(input)
            loss = criterion(out, target)
            losses.append(loss.item())
            loss.backward()
            return loss
        optimizer.step(closure)
    with torch.no_grad():
        pred = seq(test_input, future=5)
    return seq, losses, pred.detach().numpy()


def test_time_sequence_prediction_matches_torch():
    torch.manual_seed(18)
    init = make_sine_model(TH)().double()
    t_seq, t_losses, t_pred = _run_sine(TH, init)
    m_seq, m_losses, m_pred = _run_sine(MG, init)
    assert len(m_losses) == len(t_losses) > 2
    np.testing.assert_allclose(m_losses, t_losses, **TOL)
    _same_params(m_seq, t_seq, "LSTMCell model after LBFGS", **TOL)
    assert m_pred.shape == t_pred.shape == (2, 15 + 5)
    np.testing.assert_allclose(m_pred, t_pred, **TOL)


def test_recurrent_weight_init_loop():
    """The usual init loop: find the recurrent layers by torch's base classes, re-initialise by name,
    set the forget-gate bias to 1 through a slice under no_grad."""
    for L in (TH, MG):
        nn = L.nn
        model = nn.ModuleDict({"enc": nn.LSTM(3, 4, 2), "cell": nn.GRUCell(3, 4), "head": nn.Linear(4, 2)})
        found = []
        for m in model.modules():
            if isinstance(m, nn.RNNBase):
                found.append("layer")
                for name, param in m.named_parameters():
                    if "weight_ih" in name:
                        nn.init.xavier_uniform_(param)
                    elif "weight_hh" in name:
                        nn.init.orthogonal_(param)
                    elif "bias" in name:
                        nn.init.zeros_(param)
                        with L.torch.no_grad():
                            param[4:8].fill_(1.0)  # forget gate (i, f, g, o)
            elif isinstance(m, nn.RNNCellBase):
                found.append("cell")
        assert found == ["layer", "cell"], L.name
        lstm = model["enc"]
        for k in range(2):
            b = _np(getattr(lstm, f"bias_hh_l{k}"))
            np.testing.assert_array_equal(b, np.r_[np.zeros(4), np.ones(4), np.zeros(8)])
            w = _np(getattr(lstm, f"weight_hh_l{k}"))  # (16, 4): orthonormal columns
            np.testing.assert_allclose(w.T @ w, np.eye(4), atol=1e-6)
