"""Porting audit: Ben Trevett's "pytorch-sentiment-analysis" tutorials (the learners' RNN classics).

Each program is written ONCE, as a torch user writes it (from memory of the tutorials, without
torchtext: a tiny generated corpus of token-id sequences with labels stands in for IMDb / TREC),
inside a factory that takes the library as an argument (`L.torch`, `L.nn`, `L.F`, `L.optim`), so
porting is exactly "change the imports". Both runs are float64 (unless a test says float32), start
from the same weights (torch's state dict loaded into ours) and train a few steps; losses,
accuracies, predictions, gradients and updated parameters are compared (rtol 1e-7). Dropout is in
the programs, but compared runs use eval mode or dropout=0 (the libraries draw different masks).

Programs:
1. "Simple Sentiment Analysis": Embedding -> nn.RNN -> Linear on hidden.squeeze(0) (and the
   tutorial's `assert torch.equal(output[-1,:,:], hidden.squeeze(0))`), BCEWithLogitsLoss, SGD,
   binary_accuracy (torch.round(torch.sigmoid(preds)), (rounded == y).float(), .sum() / len(correct)),
   train()/evaluate() loops with model.train()/model.eval() and torch.no_grad(), epoch_time,
   best-valid-loss checkpointing with torch.save(model.state_dict()) / load_state_dict(torch.load()).
   The same model with `models.RNN` (the README's spelling) too.
2. "Upgraded Sentiment Analysis": Embedding(padding_idx) -> packed padded sequences
   (pack_padded_sequence(embedded, text_lengths.to('cpu'), enforce_sorted=False / sorted batches),
   pad_packed_sequence) -> 2-layer bidirectional LSTM with dropout -> dropout(cat(hidden[-2], hidden[-1]))
   -> Linear; count_parameters; the pretrained-embedding lines
   `model.embedding.weight.data.copy_(pretrained)` and `model.embedding.weight.data[UNK_IDX] =
   torch.zeros(EMBEDDING_DIM)` (see `test_embedding_data_lines`); Adam; predict_sentiment with
   torch.LongTensor(indexed).unsqueeze(1) and a length tensor, torch.sigmoid(model(...)).item().
3. "Faster Sentiment Analysis" (FastText): generate_bigrams in Python, embedded.permute(1, 0, 2),
   F.avg_pool2d(embedded, (embedded.shape[1], 1)).squeeze(1) (a 3-D input to avg_pool2d), Linear;
   freezing / unfreezing the embedding between epochs (Appendix C).
4. "Convolutional Sentiment Analysis": embedded.unsqueeze(1), nn.ModuleList of Conv2d with kernel
   (fs, emb_dim), F.relu(conv(embedded)).squeeze(3), F.max_pool1d(conved, conved.shape[2]).squeeze(2),
   torch.cat(pooled, dim=1), dropout, Linear; the Conv1d variant (embedded.permute(0, 2, 1));
   predict_sentiment padding short sentences to min_len with '<pad>' and .unsqueeze(0).
5. "Multi-class Sentiment Analysis": the CNN with 6 classes, CrossEntropyLoss, categorical_accuracy
   (`preds.argmax(dim=1, keepdim=True)`, `max_preds.squeeze(1).eq(y)`, `.sum() / torch.FloatTensor([n])`
   and the newer `top_pred.eq(y.view_as(top_pred)).sum().float() / y.shape[0]`), predict_class.

Found while porting (fixed; focused tests at the end): BCEWithLogitsLoss / BCELoss took integer and bool
targets silently (torch refuses them: the reason the tutorial writes `LabelField(dtype=torch.float)`); now a
TypeError naming the op, both tensors and `.float()`.
Known differences met (README): `Tensor.data` is the raw NumPy/CuPy array, so the pretrained-
embedding line `weight.data.copy_(v)` is written `with torch.no_grad(): weight.copy_(v)` (NumPy's own
AttributeError, which cannot point to the port), while `weight.data[UNK_IDX] = torch.zeros(D)` works as
written; float32 labels against a float64 model are a TypeError (no silent upcast; torch computes).
Also ported: Appendix B (nearest words with torch.dist / norm(dim=1) + topk, analogies, cosine
similarity) and Appendix C (freezing the embedding for an epoch; writing `weight.data` rows as text).
"""
import time
from types import SimpleNamespace

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as mF
from porting import closer, to_numpy

torch = pytest.importorskip("torch")

TOL = dict(rtol=1e-7, atol=1e-10)
TOL32 = dict(rtol=2e-5, atol=1e-6)

TH = SimpleNamespace(torch=torch, nn=torch.nn, F=torch.nn.functional, optim=torch.optim, name="torch")
MG = SimpleNamespace(torch=mg, nn=mg.nn, F=mF, optim=mg.optim, name="minigrad")

UNK_IDX, PAD_IDX = 0, 1          # torchtext's vocabulary puts <unk> at 0 and <pad> at 1
VOCAB = 24
POS_WORDS, NEG_WORDS = range(2, 8), range(8, 14)


@pytest.fixture(autouse=True)
def _float64():
    """Both libraries build float64 parameters (torch.set_default_dtype, mg.set_default_dtype)."""
    old_t, old_m = torch.get_default_dtype(), mg.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    mg.set_default_dtype(mg.float64)
    yield
    torch.set_default_dtype(old_t)
    mg.set_default_dtype(old_m)


_np = to_numpy
_close = closer(TOL)


def _copy_weights(theirs, ours):
    """torch's state dict into ours (as NumPy arrays), and check the keys are identical, in order."""
    sd = theirs.state_dict()
    assert list(ours.state_dict().keys()) == list(sd.keys())
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in sd.items()})


def _same_params(ours, theirs, what="", **tol):
    named_o, named_t = dict(ours.named_parameters()), dict(theirs.named_parameters())
    assert list(named_o) == list(named_t), f"{what}: parameter names differ"
    for k in named_t:
        assert named_o[k].requires_grad == named_t[k].requires_grad, f"{what} {k}: requires_grad"
        _close(f"{what} parameter {k}", named_o[k], named_t[k], **tol)


def _same_grads(ours, theirs, what="", **tol):
    named_o, named_t = dict(ours.named_parameters()), dict(theirs.named_parameters())
    for k in named_t:
        go, gt = named_o[k].grad, named_t[k].grad
        assert (go is None) == (gt is None), f"{what} grad of {k}: {go} vs torch {gt}"
        if gt is not None:
            _close(f"{what} grad {k}", go, gt, **tol)


def _pair(make, *args, **kw):
    """The same program built in torch and in minigrad, minigrad starting from torch's weights."""
    torch.manual_seed(0)
    theirs = make(TH, *args, **kw)
    ours = make(MG, *args, **kw)
    _copy_weights(theirs, ours)
    return theirs, ours


# =====================================================================================
# The corpus: sentences of token ids; label 1 when positive words outnumber negative ones
# =====================================================================================
def make_corpus(n, seed, n_classes=2, min_len=2, max_len=7):
    """`n` (token ids, label, length) examples. Binary labels count positive vs negative words;
    with n_classes > 2 the label is the first content word's id modulo n_classes (TREC stand-in)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        length = int(rng.integers(min_len, max_len + 1))
        toks = [int(t) for t in rng.integers(2, VOCAB, size=length)]
        if rng.random() < 0.1:
            toks[int(rng.integers(length))] = UNK_IDX          # an out-of-vocabulary word
        if n_classes == 2:
            pos = sum(t in POS_WORDS for t in toks)
            neg = sum(t in NEG_WORDS for t in toks)
            label = 1.0 if pos > neg else 0.0
        else:
            label = next((t for t in toks if t >= 2), 2) % n_classes
        out.append((toks, label, length))
    return out


def batches(corpus, batch_size, *, batch_first=False, sort_within_batch=False, min_len=1):
    """torchtext's BucketIterator by hand: padded LongTensor text, float/long labels, lengths."""
    out = []
    for i in range(0, len(corpus), batch_size):
        chunk = corpus[i:i + batch_size]
        if sort_within_batch:
            chunk = sorted(chunk, key=lambda ex: -ex[2])
        T = max(min_len, max(ex[2] for ex in chunk))
        text = np.full((len(chunk), T), PAD_IDX, dtype=np.int64)
        for b, (toks, _, n) in enumerate(chunk):
            text[b, :n] = toks
        if not batch_first:
            text = np.ascontiguousarray(text.T)
        labels = np.array([ex[1] for ex in chunk])
        lengths = np.array([ex[2] for ex in chunk], dtype=np.int64)
        out.append(SimpleNamespace(text=text, label=labels, lengths=lengths))
    return out


def to_lib(L, bs, label_dtype):
    """The batches as the library's tensors (labels float like torchtext's LabelField(dtype=float))."""
    res = []
    for b in bs:
        text = L.torch.tensor(b.text)
        label = L.torch.tensor(b.label, dtype=label_dtype)
        lengths = L.torch.tensor(b.lengths)
        res.append(SimpleNamespace(text=text, label=label, lengths=lengths))
    return res


# =====================================================================================
# 1. Simple Sentiment Analysis
# =====================================================================================
def make_simple_rnn(L, input_dim=VOCAB, embedding_dim=5, hidden_dim=6, output_dim=1, rnn_cls=None):
    torch, nn = L.torch, L.nn

    class RNN(nn.Module):
        def __init__(self, input_dim, embedding_dim, hidden_dim, output_dim):
            super().__init__()
            self.embedding = nn.Embedding(input_dim, embedding_dim)
            self.rnn = (rnn_cls or nn.RNN)(embedding_dim, hidden_dim)
            self.fc = nn.Linear(hidden_dim, output_dim)

        def forward(self, text):
            # text = [sent len, batch size]
            embedded = self.embedding(text)
            # embedded = [sent len, batch size, emb dim]
            output, hidden = self.rnn(embedded)
            # output = [sent len, batch size, hid dim], hidden = [1, batch size, hid dim]
            assert torch.equal(output[-1, :, :], hidden.squeeze(0))
            return self.fc(hidden.squeeze(0))

    return RNN(input_dim, embedding_dim, hidden_dim, output_dim)


def binary_accuracy_factory(L):
    torch = L.torch

    def binary_accuracy(preds, y):
        """Returns accuracy per batch, i.e. if you get 8/10 right, this returns 0.8, NOT 8."""
        rounded_preds = torch.round(torch.sigmoid(preds))
        correct = (rounded_preds == y).float()  # convert into float for division
        acc = correct.sum() / len(correct)
        return acc

    return binary_accuracy


def train_eval_factory(L, accuracy, with_lengths=False):
    torch = L.torch

    def run(model, batch):
        if with_lengths:
            return model(batch.text, batch.lengths).squeeze(1)
        return model(batch.text).squeeze(1)

    def train(model, iterator, optimizer, criterion, trace=None):
        epoch_loss = 0
        epoch_acc = 0
        model.train()
        for batch in iterator:
            optimizer.zero_grad()
            predictions = run(model, batch)
            loss = criterion(predictions, batch.label)
            acc = accuracy(predictions, batch.label)
            loss.backward()
            if trace is not None:
                trace.append({k: p.grad.detach().clone() for k, p in model.named_parameters()
                              if p.grad is not None})
            optimizer.step()
            epoch_loss += loss.item()
            epoch_acc += acc.item()
        return epoch_loss / len(iterator), epoch_acc / len(iterator)

    def evaluate(model, iterator, criterion):
        epoch_loss = 0
        epoch_acc = 0
        model.eval()
        with torch.no_grad():
            for batch in iterator:
                predictions = run(model, batch)
                loss = criterion(predictions, batch.label)
                acc = accuracy(predictions, batch.label)
                epoch_loss += loss.item()
                epoch_acc += acc.item()
        return epoch_loss / len(iterator), epoch_acc / len(iterator)

    return train, evaluate


def epoch_time(start_time, end_time):
    elapsed_time = end_time - start_time
    elapsed_mins = int(elapsed_time / 60)
    elapsed_secs = int(elapsed_time - (elapsed_mins * 60))
    return elapsed_mins, elapsed_secs


def _fit(L, model, make_opt, criterion, train_b, valid_b, epochs, path, accuracy, with_lengths=False):
    """The tutorials' epoch loop: train, evaluate, keep the best state dict on disk, reload it."""
    train, evaluate = train_eval_factory(L, accuracy, with_lengths)
    optimizer = make_opt(model.parameters())
    best_valid_loss = float("inf")
    history, grads = [], []
    for epoch in range(epochs):
        start_time = time.time()
        train_loss, train_acc = train(model, train_b, optimizer, criterion, grads)
        valid_loss, valid_acc = evaluate(model, valid_b, criterion)
        mins, secs = epoch_time(start_time, time.time())
        assert mins >= 0 and secs >= 0
        if valid_loss < best_valid_loss:
            best_valid_loss = valid_loss
            L.torch.save(model.state_dict(), path)
        history.append((train_loss, train_acc, valid_loss, valid_acc))
    model.load_state_dict(L.torch.load(path))
    test_loss, test_acc = evaluate(model, valid_b, criterion)
    return history, grads, (test_loss, test_acc), best_valid_loss


def _compare_runs(what, h_o, h_t, g_o, g_t, tol=None):
    tol = tol or TOL
    assert len(h_o) == len(h_t)
    for e, (ro, rt) in enumerate(zip(h_o, h_t)):
        np.testing.assert_allclose(ro, rt, err_msg=f"{what} epoch {e} (loss, acc, valid loss, valid acc)", **tol)
    assert len(g_o) == len(g_t)
    for s, (go, gt) in enumerate(zip(g_o, g_t)):
        assert sorted(go) == sorted(gt), f"{what} step {s}: parameters with grads differ"
        for k in gt:
            _close(f"{what} step {s} grad {k}", go[k], gt[k], **tol)


@pytest.mark.parametrize("rnn_cls", ["nn.RNN", "models.RNN"])
def test_simple_rnn_sentiment(tmp_path, rnn_cls):
    import models
    theirs, ours = _pair(make_simple_rnn)
    if rnn_cls == "models.RNN":     # the README's spelling of the layer
        ours = make_simple_rnn(MG, rnn_cls=models.RNN)
        _copy_weights(theirs, ours)
    corpus = make_corpus(24, seed=1)
    train_b, valid_b = batches(corpus[:16], 4), batches(corpus[16:], 4)
    res = {}
    for L, model in ((TH, theirs), (MG, ours)):
        criterion = L.nn.BCEWithLogitsLoss()
        dt = L.torch.get_default_dtype()   # labels float like the model (torch's LabelField(dtype=torch.float))
        res[L.name] = _fit(L, model, lambda ps, L=L: L.optim.SGD(ps, lr=0.5), criterion,
                           to_lib(L, train_b, dt), to_lib(L, valid_b, dt),
                           3, str(tmp_path / f"tut1-{L.name}.pt"), binary_accuracy_factory(L))
    (h_t, g_t, test_t, best_t), (h_o, g_o, test_o, best_o) = res["torch"], res["minigrad"]
    _compare_runs("simple RNN", h_o, h_t, g_o, g_t)
    np.testing.assert_allclose(test_o, test_t, **TOL)
    np.testing.assert_allclose(best_o, best_t, **TOL)
    _same_params(ours, theirs, "simple RNN reloaded best")
    assert len(g_o) == 12 and 0 < h_o[-1][1] <= 1     # 4 batches x 3 epochs, accuracy a fraction


def test_binary_accuracy_values_and_dtypes():
    """binary_accuracy on known predictions: 3 right of 5, float32 as written stays float32."""
    preds = [2.0, -1.0, 0.3, -0.2, 5.0]
    y = [1.0, 1.0, 0.0, 0.0, 1.0]
    for dt_name in ("float32", "float64"):
        acc_t = binary_accuracy_factory(TH)(torch.tensor(preds, dtype=getattr(torch, dt_name)),
                                            torch.tensor(y, dtype=getattr(torch, dt_name)))
        acc_o = binary_accuracy_factory(MG)(mg.tensor(preds, dtype=dt_name), mg.tensor(y, dtype=dt_name))
        _close(f"binary_accuracy {dt_name}", acc_o, acc_t)
        assert acc_o.item() == pytest.approx(0.6)


def test_simple_rnn_float32_as_written():
    """The tutorial as written is float32 (LabelField(dtype=torch.float)): it stays float32 here."""
    torch.set_default_dtype(torch.float32)
    mg.set_default_dtype(mg.float32)
    theirs, ours = _pair(make_simple_rnn)
    corpus = make_corpus(8, seed=2)
    (bt,) = to_lib(TH, batches(corpus, 8), torch.float)
    (bo,) = to_lib(MG, batches(corpus, 8), mg.float)
    for L, model, b in ((TH, theirs, bt), (MG, ours, bo)):
        opt = L.optim.SGD(model.parameters(), lr=0.1)
        opt.zero_grad()
        preds = model(b.text).squeeze(1)
        loss = L.nn.BCEWithLogitsLoss()(preds, b.label)
        loss.backward()
        opt.step()
        b.preds, b.loss, b.acc = preds, loss, binary_accuracy_factory(L)(preds, b.label)
    for k in ("preds", "loss", "acc"):
        _close(f"float32 {k}", getattr(bo, k), getattr(bt, k), **TOL32)
    assert bo.loss.dtype == mg.float32 and bo.acc.dtype == mg.float32
    _same_params(ours, theirs, "float32 after SGD", **TOL32)
    assert all(p.dtype == mg.float32 and p.grad.dtype == mg.float32 for p in ours.parameters())


# =====================================================================================
# 2. Upgraded Sentiment Analysis: packed sequences, bidirectional 2-layer LSTM, pretrained vectors
# =====================================================================================
def make_upgraded_rnn(L, vocab_size=VOCAB, embedding_dim=5, hidden_dim=4, output_dim=1, n_layers=2,
                      bidirectional=True, dropout=0.5, pad_idx=PAD_IDX, enforce_sorted=False):
    torch, nn = L.torch, L.nn

    class RNN(nn.Module):
        def __init__(self, vocab_size, embedding_dim, hidden_dim, output_dim, n_layers,
                     bidirectional, dropout, pad_idx):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_idx)
            self.rnn = nn.LSTM(embedding_dim, hidden_dim, num_layers=n_layers,
                               bidirectional=bidirectional, dropout=dropout)
            self.fc = nn.Linear(hidden_dim * 2, output_dim)
            self.dropout = nn.Dropout(dropout)

        def forward(self, text, text_lengths):
            # text = [sent len, batch size]
            embedded = self.dropout(self.embedding(text))
            # pack sequence; lengths need to be on CPU!
            packed_embedded = nn.utils.rnn.pack_padded_sequence(embedded, text_lengths.to('cpu'),
                                                                enforce_sorted=enforce_sorted)
            packed_output, (hidden, cell) = self.rnn(packed_embedded)
            # unpack sequence
            output, output_lengths = nn.utils.rnn.pad_packed_sequence(packed_output)
            # output = [sent len, batch size, hid dim * num directions]; pad tokens are zeros
            self.last_output, self.last_output_lengths = output, output_lengths
            # hidden = [num layers * num directions, batch size, hid dim]
            # concat the final forward (hidden[-2,:,:]) and backward (hidden[-1,:,:]) hidden layers
            hidden = self.dropout(torch.cat((hidden[-2, :, :], hidden[-1, :, :]), dim=1))
            return self.fc(hidden)

    return RNN(vocab_size, embedding_dim, hidden_dim, output_dim, n_layers, bidirectional, dropout, pad_idx)


def count_parameters(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def load_pretrained_torch(model, pretrained_embeddings, embedding_dim):
    """The tutorial's lines, verbatim, in torch."""
    model.embedding.weight.data.copy_(pretrained_embeddings)
    model.embedding.weight.data[UNK_IDX] = torch.zeros(embedding_dim)
    model.embedding.weight.data[PAD_IDX] = torch.zeros(embedding_dim)


def load_pretrained_minigrad(model, pretrained_embeddings, embedding_dim):
    """The port the README gives: `.data` is the raw array, so `.data.copy_(v)` becomes
    `with torch.no_grad(): weight.copy_(v)`; the row writes work either way (see the focused test)."""
    with mg.no_grad():
        model.embedding.weight.copy_(pretrained_embeddings)
        model.embedding.weight[UNK_IDX] = mg.zeros(embedding_dim)
    model.embedding.weight.data[PAD_IDX] = mg.zeros(embedding_dim)   # works verbatim: NumPy reads the Tensor


def predict_sentiment_factory(L):
    torch = L.torch

    def predict_sentiment(model, indexed):
        model.eval()
        length = [len(indexed)]
        tensor = torch.LongTensor(indexed)
        tensor = tensor.unsqueeze(1)
        length_tensor = torch.LongTensor(length)
        prediction = torch.sigmoid(model(tensor, length_tensor))
        return prediction.item()

    return predict_sentiment


@pytest.mark.parametrize("sort_within_batch", [False, True])
def test_upgraded_rnn_sentiment(tmp_path, sort_within_batch):
    """Training with dropout=0 (the masks differ between libraries); everything else as written."""
    theirs, ours = _pair(make_upgraded_rnn, dropout=0.0, enforce_sorted=sort_within_batch)
    assert count_parameters(ours) == count_parameters(theirs)
    rng = np.random.default_rng(3)
    pretrained = rng.standard_normal((VOCAB, 5))
    load_pretrained_torch(theirs, torch.tensor(pretrained), 5)
    load_pretrained_minigrad(ours, mg.tensor(pretrained), 5)
    _same_params(ours, theirs, "after the pretrained vectors")
    assert not ours.embedding.weight.detach()[UNK_IDX].numpy().any()

    corpus = make_corpus(20, seed=4)
    train_b = batches(corpus[:12], 4, sort_within_batch=sort_within_batch)
    valid_b = batches(corpus[12:], 4, sort_within_batch=sort_within_batch)
    res = {}
    for L, model in ((TH, theirs), (MG, ours)):
        dt = L.torch.get_default_dtype()
        res[L.name] = _fit(L, model, lambda ps, L=L: L.optim.Adam(ps), L.nn.BCEWithLogitsLoss(),
                           to_lib(L, train_b, dt), to_lib(L, valid_b, dt), 2,
                           str(tmp_path / f"tut2-{L.name}.pt"), binary_accuracy_factory(L), with_lengths=True)
    (h_t, g_t, test_t, _), (h_o, g_o, test_o, _) = res["torch"], res["minigrad"]
    _compare_runs("upgraded RNN", h_o, h_t, g_o, g_t)
    np.testing.assert_allclose(test_o, test_t, **TOL)
    _same_params(ours, theirs, "upgraded RNN reloaded best")
    # the padding row never moves (padding_idx: no gradient), the last batch's unpacked output
    _close("pad row", ours.embedding.weight[PAD_IDX], theirs.embedding.weight[PAD_IDX])
    _close("pad_packed output", ours.last_output, theirs.last_output)
    _close("output lengths", ours.last_output_lengths, theirs.last_output_lengths)

    for sentence in ([2, 3, 4, 10], [9], [0, 5, 12, 13, 2, 3]):
        p_t = predict_sentiment_factory(TH)(theirs, sentence)
        p_o = predict_sentiment_factory(MG)(ours, sentence)
        assert isinstance(p_o, float)
        np.testing.assert_allclose(p_o, p_t, **TOL)


def test_upgraded_rnn_dropout_in_eval():
    """dropout=0.5 as in the tutorial: in eval the forward and backward are deterministic and match."""
    theirs, ours = _pair(make_upgraded_rnn, dropout=0.5)
    corpus = make_corpus(6, seed=5)
    (bt,) = to_lib(TH, batches(corpus, 6), torch.float64)
    (bo,) = to_lib(MG, batches(corpus, 6), mg.float64)
    for model, b, L in ((theirs, bt, TH), (ours, bo, MG)):
        model.eval()
        b.out = model(b.text, b.lengths).squeeze(1)
        b.loss = L.nn.BCEWithLogitsLoss()(b.out, b.label)
        b.loss.backward()
    _close("eval predictions", bo.out, bt.out)
    _close("eval loss", bo.loss, bt.loss)
    _same_grads(ours, theirs, "eval grads")
    # in train mode dropout really drops (a statistic, not a comparison): outputs differ from eval
    ours.train()
    with mg.no_grad():
        assert not np.allclose(ours(bo.text, bo.lengths).numpy(), bo.out.detach().numpy()[:, None])


# =====================================================================================
# 3. Faster Sentiment Analysis (FastText)
# =====================================================================================
def generate_bigrams(x):
    n_grams = set(zip(*[x[i:] for i in range(2)]))
    for n_gram in n_grams:
        x.append(' '.join(n_gram))
    return x


def make_fasttext(L, vocab_size, embedding_dim=6, output_dim=1, pad_idx=PAD_IDX):
    nn, F = L.nn, L.F

    class FastText(nn.Module):
        def __init__(self, vocab_size, embedding_dim, output_dim, pad_idx):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_idx)
            self.fc = nn.Linear(embedding_dim, output_dim)

        def forward(self, text):
            # text = [sent len, batch size]
            embedded = self.embedding(text)
            # embedded = [sent len, batch size, emb dim]
            embedded = embedded.permute(1, 0, 2)
            # embedded = [batch size, sent len, emb dim]
            pooled = F.avg_pool2d(embedded, (embedded.shape[1], 1)).squeeze(1)
            # pooled = [batch size, embedding_dim]
            return self.fc(pooled)

    return FastText(vocab_size, embedding_dim, output_dim, pad_idx)


def _bigram_corpus(n, seed):
    """Words as strings, bigrams appended (sorted: a Python set's order is per-process), a vocabulary."""
    raw = make_corpus(n, seed)
    stoi = {"<unk>": UNK_IDX, "<pad>": PAD_IDX}
    out = []
    for toks, label, _ in raw:
        words = generate_bigrams([f"w{t}" for t in toks])
        words = words[:len(toks)] + sorted(words[len(toks):])
        for w in words:
            stoi.setdefault(w, len(stoi))
        ids = [stoi[w] for w in words]
        out.append((ids, label, len(ids)))
    return out, stoi


def test_generate_bigrams():
    assert generate_bigrams(['This', 'film', 'is', 'terrible'])[:4] == ['This', 'film', 'is', 'terrible']
    assert sorted(generate_bigrams(['This', 'film', 'is', 'terrible'])[4:]) == \
        ['This film', 'film is', 'is terrible']


def test_fasttext_sentiment(tmp_path):
    corpus, stoi = _bigram_corpus(16, seed=6)
    theirs, ours = _pair(make_fasttext, len(stoi))
    train_b, valid_b = batches(corpus[:12], 4), batches(corpus[12:], 4)
    res = {}
    for L, model in ((TH, theirs), (MG, ours)):
        dt = L.torch.get_default_dtype()
        res[L.name] = _fit(L, model, lambda ps, L=L: L.optim.Adam(ps), L.nn.BCEWithLogitsLoss(),
                           to_lib(L, train_b, dt), to_lib(L, valid_b, dt), 3,
                           str(tmp_path / f"tut3-{L.name}.pt"), binary_accuracy_factory(L))
    (h_t, g_t, test_t, _), (h_o, g_o, test_o, _) = res["torch"], res["minigrad"]
    _compare_runs("FastText", h_o, h_t, g_o, g_t)
    np.testing.assert_allclose(test_o, test_t, **TOL)
    _same_params(ours, theirs, "FastText")

    # predict_sentiment: bigrams of the tokens, .unsqueeze(1), sigmoid(...).item()
    def predict(L, model, words):
        model.eval()
        tokenized = generate_bigrams(list(words))
        indexed = [stoi.get(t, UNK_IDX) for t in tokenized[:len(words)] + sorted(tokenized[len(words):])]
        tensor = L.torch.LongTensor(indexed).unsqueeze(1)
        return L.torch.sigmoid(model(tensor)).item()

    for words in (["w3", "w4", "w9"], ["w12"], ["w2", "w2", "w40"]):
        np.testing.assert_allclose(predict(MG, ours, words), predict(TH, theirs, words), **TOL)


def test_fasttext_freeze_unfreeze_embeddings():
    """Appendix C: `model.embedding.weight.requires_grad = False` for the first epochs, then True;
    Adam built over all parameters skips the frozen one (no grad) and picks it up afterwards."""
    corpus, stoi = _bigram_corpus(8, seed=7)
    theirs, ours = _pair(make_fasttext, len(stoi))
    bs = batches(corpus, 4)
    for L, model in ((TH, theirs), (MG, ours)):
        dt = L.torch.get_default_dtype()
        data = to_lib(L, bs, dt)
        opt = L.optim.Adam(model.parameters(), lr=0.05)
        crit = L.nn.BCEWithLogitsLoss()
        model.trace = []
        model.initial_weight = model.embedding.weight.detach().clone()
        for epoch in range(3):
            model.embedding.weight.requires_grad = epoch >= 1   # FREEZE_FOR = 1
            model.trace.append(count_parameters(model))
            for b in data:
                opt.zero_grad()
                loss = crit(model(b.text).squeeze(1), b.label)
                loss.backward()
                opt.step()
            if epoch == 0:
                model.frozen_weight = model.embedding.weight.detach().clone()
    assert ours.trace == theirs.trace
    _close("embedding unchanged while frozen", ours.frozen_weight, theirs.frozen_weight)
    np.testing.assert_array_equal(_np(ours.frozen_weight), _np(ours.initial_weight))   # no Adam update
    assert not np.array_equal(_np(ours.embedding.weight), _np(ours.initial_weight))     # trained after
    _same_params(ours, theirs, "after freeze/unfreeze")


# =====================================================================================
# 4. Convolutional Sentiment Analysis (Conv2d over [batch, 1, sent len, emb dim], and Conv1d)
# =====================================================================================
def make_cnn(L, vocab_size=VOCAB, embedding_dim=5, n_filters=3, filter_sizes=(2, 3, 4), output_dim=1,
             dropout=0.5, pad_idx=PAD_IDX):
    torch, nn, F = L.torch, L.nn, L.F

    class CNN(nn.Module):
        def __init__(self, vocab_size, embedding_dim, n_filters, filter_sizes, output_dim, dropout, pad_idx):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_idx)
            self.convs = nn.ModuleList([
                nn.Conv2d(in_channels=1, out_channels=n_filters, kernel_size=(fs, embedding_dim))
                for fs in filter_sizes])
            self.fc = nn.Linear(len(filter_sizes) * n_filters, output_dim)
            self.dropout = nn.Dropout(dropout)

        def forward(self, text):
            # text = [batch size, sent len]
            embedded = self.embedding(text)
            # embedded = [batch size, sent len, emb dim]
            embedded = embedded.unsqueeze(1)
            # embedded = [batch size, 1, sent len, emb dim]
            conved = [F.relu(conv(embedded)).squeeze(3) for conv in self.convs]
            # conved_n = [batch size, n_filters, sent len - filter_sizes[n] + 1]
            pooled = [F.max_pool1d(conv, conv.shape[2]).squeeze(2) for conv in conved]
            # pooled_n = [batch size, n_filters]
            cat = self.dropout(torch.cat(pooled, dim=1))
            # cat = [batch size, n_filters * len(filter_sizes)]
            return self.fc(cat)

    return CNN(vocab_size, embedding_dim, n_filters, filter_sizes, output_dim, dropout, pad_idx)


def make_cnn1d(L, vocab_size=VOCAB, embedding_dim=5, n_filters=3, filter_sizes=(2, 3, 4), output_dim=1,
               dropout=0.5, pad_idx=PAD_IDX):
    torch, nn, F = L.torch, L.nn, L.F

    class CNN1d(nn.Module):
        def __init__(self, vocab_size, embedding_dim, n_filters, filter_sizes, output_dim, dropout, pad_idx):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_idx)
            self.convs = nn.ModuleList([
                nn.Conv1d(in_channels=embedding_dim, out_channels=n_filters, kernel_size=fs)
                for fs in filter_sizes])
            self.fc = nn.Linear(len(filter_sizes) * n_filters, output_dim)
            self.dropout = nn.Dropout(dropout)

        def forward(self, text):
            # text = [batch size, sent len]
            embedded = self.embedding(text)
            embedded = embedded.permute(0, 2, 1)
            # embedded = [batch size, emb dim, sent len]
            conved = [F.relu(conv(embedded)) for conv in self.convs]
            pooled = [F.max_pool1d(conv, conv.shape[2]).squeeze(2) for conv in conved]
            cat = self.dropout(torch.cat(pooled, dim=1))
            return self.fc(cat)

    return CNN1d(vocab_size, embedding_dim, n_filters, filter_sizes, output_dim, dropout, pad_idx)


def predict_cnn_factory(L, multiclass=False):
    torch = L.torch

    def predict(model, indexed, min_len=4):
        model.eval()
        if len(indexed) < min_len:
            indexed = indexed + [PAD_IDX] * (min_len - len(indexed))   # tokenized += ['<pad>'] * ...
        tensor = torch.LongTensor(indexed)
        tensor = tensor.unsqueeze(0)
        if multiclass:
            preds = model(tensor)
            max_preds = preds.argmax(dim=1)
            return max_preds.item()
        prediction = torch.sigmoid(model(tensor))
        return prediction.item()

    return predict


@pytest.mark.parametrize("make", [make_cnn, make_cnn1d], ids=["Conv2d", "Conv1d"])
def test_cnn_sentiment(tmp_path, make):
    """batch_first text padded to at least the largest filter size; dropout=0 while training."""
    theirs, ours = _pair(make, dropout=0.0)
    assert count_parameters(ours) == count_parameters(theirs)
    rng = np.random.default_rng(8)
    pretrained = rng.standard_normal((VOCAB, 5))
    load_pretrained_torch(theirs, torch.tensor(pretrained), 5)
    load_pretrained_minigrad(ours, mg.tensor(pretrained), 5)
    corpus = make_corpus(16, seed=9)
    train_b = batches(corpus[:12], 4, batch_first=True, min_len=4)
    valid_b = batches(corpus[12:], 4, batch_first=True, min_len=4)
    res = {}
    for L, model in ((TH, theirs), (MG, ours)):
        dt = L.torch.get_default_dtype()
        res[L.name] = _fit(L, model, lambda ps, L=L: L.optim.Adam(ps, lr=0.01), L.nn.BCEWithLogitsLoss(),
                           to_lib(L, train_b, dt), to_lib(L, valid_b, dt), 2,
                           str(tmp_path / f"tut4-{L.name}.pt"), binary_accuracy_factory(L))
    (h_t, g_t, test_t, _), (h_o, g_o, test_o, _) = res["torch"], res["minigrad"]
    _compare_runs(make.__name__, h_o, h_t, g_o, g_t)
    np.testing.assert_allclose(test_o, test_t, **TOL)
    _same_params(ours, theirs, make.__name__)
    for sentence in ([2, 3], [9, 10, 11, 3, 3, 7], [0, 13, 4, 5]):
        np.testing.assert_allclose(predict_cnn_factory(MG)(ours, sentence),
                                   predict_cnn_factory(TH)(theirs, sentence), **TOL)


@pytest.mark.parametrize("make", [make_cnn, make_cnn1d], ids=["Conv2d", "Conv1d"])
def test_cnn_dropout_in_eval(make):
    theirs, ours = _pair(make, dropout=0.5)
    (bt,) = to_lib(TH, batches(make_corpus(5, seed=10), 5, batch_first=True, min_len=4), torch.float64)
    (bo,) = to_lib(MG, batches(make_corpus(5, seed=10), 5, batch_first=True, min_len=4), mg.float64)
    for model, b, L in ((theirs, bt, TH), (ours, bo, MG)):
        model.eval()
        b.out = model(b.text).squeeze(1)
        L.nn.BCEWithLogitsLoss()(b.out, b.label).backward()
    _close("eval predictions", bo.out, bt.out)
    _same_grads(ours, theirs, "eval grads")


# =====================================================================================
# 5. Multi-class Sentiment Analysis (TREC stand-in: 6 classes)
# =====================================================================================
N_CLASSES = 6


def categorical_accuracy_factory(L, newer=False):
    torch = L.torch

    def categorical_accuracy(preds, y):
        """Returns accuracy per batch, i.e. if you get 8/10 right, this returns 0.8, NOT 8."""
        max_preds = preds.argmax(dim=1, keepdim=True)  # get the index of the max probability
        correct = max_preds.squeeze(1).eq(y)
        return correct.sum() / torch.FloatTensor([y.shape[0]])

    def categorical_accuracy_newer(preds, y):
        top_pred = preds.argmax(1, keepdim=True)
        correct = top_pred.eq(y.view_as(top_pred)).sum()
        acc = correct.float() / y.shape[0]
        return acc

    return categorical_accuracy_newer if newer else categorical_accuracy


@pytest.mark.parametrize("newer", [False, True], ids=["FloatTensor", "view_as"])
def test_multiclass_cnn(tmp_path, newer):
    theirs, ours = _pair(make_cnn, output_dim=N_CLASSES, dropout=0.0)
    corpus = make_corpus(16, seed=11, n_classes=N_CLASSES)
    train_b = batches(corpus[:12], 4, batch_first=True, min_len=4)
    valid_b = batches(corpus[12:], 4, batch_first=True, min_len=4)

    def fit(L, model):
        # the multi-class loops have no .squeeze(1): predictions = model(batch.text); labels are long
        accuracy = categorical_accuracy_factory(L, newer)
        train, evaluate = _multiclass_train(L, accuracy), _multiclass_eval(L, accuracy)
        opt = L.optim.Adam(model.parameters(), lr=0.01)
        crit = L.nn.CrossEntropyLoss()
        data, vdata = to_lib(L, train_b, L.torch.long), to_lib(L, valid_b, L.torch.long)
        hist, grads = [], []
        for epoch in range(2):
            hist.append(train(model, data, opt, crit, grads) + evaluate(model, vdata, crit))
        return hist, grads

    h_t, g_t = fit(TH, theirs)
    h_o, g_o = fit(MG, ours)
    _compare_runs("multi-class CNN", h_o, h_t, g_o, g_t)
    _same_params(ours, theirs, "multi-class CNN")
    for sentence in ([2, 3], [9, 10, 11, 3, 3, 7], [0, 13, 4, 5]):
        c_t = predict_cnn_factory(TH, multiclass=True)(theirs, sentence)
        c_o = predict_cnn_factory(MG, multiclass=True)(ours, sentence)
        assert isinstance(c_o, int) and c_o == c_t


def _multiclass_train(L, accuracy):
    def train(model, iterator, optimizer, criterion, trace):
        epoch_loss = epoch_acc = 0
        model.train()
        for batch in iterator:
            optimizer.zero_grad()
            predictions = model(batch.text)
            loss = criterion(predictions, batch.label)
            acc = accuracy(predictions, batch.label)
            loss.backward()
            trace.append({k: p.grad.detach().clone() for k, p in model.named_parameters()})
            optimizer.step()
            epoch_loss += loss.item()
            epoch_acc += acc.item()
        return epoch_loss / len(iterator), epoch_acc / len(iterator)
    return train


def _multiclass_eval(L, accuracy):
    def evaluate(model, iterator, criterion):
        epoch_loss = epoch_acc = 0
        model.eval()
        with L.torch.no_grad():
            for batch in iterator:
                predictions = model(batch.text)
                epoch_loss += criterion(predictions, batch.label).item()
                epoch_acc += accuracy(predictions, batch.label).item()
        return epoch_loss / len(iterator), epoch_acc / len(iterator)
    return evaluate


@pytest.mark.parametrize("newer", [False, True], ids=["FloatTensor", "view_as"])
def test_categorical_accuracy_values_and_dtypes(newer):
    """Known answer (2 of 4 right) and torch's result dtype: int64 sum / FloatTensor -> float32 (1,);
    `.float() / n` -> float32 0-d."""
    preds = [[0.1, 2.0, 0.3], [1.0, 0.0, -1.0], [0.0, 0.0, 5.0], [3.0, 1.0, 0.0]]
    y = [1, 2, 2, 1]
    acc_t = categorical_accuracy_factory(TH, newer)(torch.tensor(preds), torch.tensor(y))
    acc_o = categorical_accuracy_factory(MG, newer)(mg.tensor(preds), mg.tensor(y))
    _close("categorical_accuracy", acc_o, acc_t)
    assert acc_o.dtype == mg.float32 and acc_o.item() == 0.5


# =====================================================================================
# Appendix B: a closer look at word embeddings (GloVe stand-in: random vectors)
# =====================================================================================
def test_word_embedding_neighbours_and_analogies():
    """get_vector / closest_words (torch.dist per word, and the vectorised norm(dim=1) + topk),
    analogies (glove[w2] - glove[w1] + glove[w3]) and cosine similarities."""
    rng = np.random.default_rng(12)
    vectors = rng.standard_normal((15, 4))
    itos = [f"w{i}" for i in range(15)]
    stoi = {w: i for i, w in enumerate(itos)}

    def run(L):
        torch, F = L.torch, L.F
        glove = torch.tensor(vectors)

        def get_vector(word):
            assert word in stoi, f'*{word}* is not in the vocab!'
            return glove[stoi[word]]

        def closest_words(vector, n=4):
            distances = [(word, torch.dist(vector, get_vector(word)).item()) for word in itos]
            return sorted(distances, key=lambda w: w[1])[:n]

        def closest_words_fast(vector, n=4):
            distances = (glove - vector.unsqueeze(0)).norm(dim=1)
            vals, idxs = torch.topk(distances, n, largest=False)
            return [(itos[i], d) for i, d in zip(idxs.tolist(), vals.tolist())]

        analogy = get_vector("w2") - get_vector("w1") + get_vector("w3")
        sims = F.cosine_similarity(analogy.unsqueeze(0), glove)
        return (closest_words(get_vector("w5")), closest_words_fast(get_vector("w5")),
                closest_words(analogy), sims.argmax().item(), sims)

    ours, theirs = run(MG), run(TH)
    for a, b in zip(ours[:3], theirs[:3]):
        assert [w for w, _ in a] == [w for w, _ in b]
        np.testing.assert_allclose([d for _, d in a], [d for _, d in b], **TOL)
    assert ours[0][0] == ("w5", 0.0) and ours[3] == theirs[3]
    _close("cosine similarities", ours[4], theirs[4])


# =====================================================================================
# Focused checks for what porting found
# =====================================================================================
def test_embedding_data_lines():
    """The tutorial's pretrained-embedding lines with `.data` (the raw NumPy/CuPy array here, README):

    * `model.embedding.weight.data.copy_(pretrained)` fails: NumPy arrays have no copy_ (the
      AttributeError is NumPy's; it cannot name the port). The port: `with torch.no_grad():
      model.embedding.weight.copy_(pretrained)` (or `weight.data[...] = pretrained`).
    * `model.embedding.weight.data[UNK_IDX] = torch.zeros(EMBEDDING_DIM)` works as written: NumPy
      reads the Tensor through __array__ and writes the row of the parameter in place (float32
      weights stay float32, as in torch where `.data[i] = t` casts t).
    """
    for dt in ("float64", "float32"):
        mg.set_default_dtype(dt)
        torch.set_default_dtype(getattr(torch, dt))
        theirs, ours = _pair(make_fasttext, VOCAB)
        pretrained = np.random.default_rng(13).standard_normal((VOCAB, 6))
        with pytest.raises(AttributeError, match="copy_"):
            ours.embedding.weight.data.copy_(mg.tensor(pretrained))
        theirs.embedding.weight.data.copy_(torch.tensor(pretrained))
        with mg.no_grad():
            ours.embedding.weight.copy_(mg.tensor(pretrained))
        theirs.embedding.weight.data[UNK_IDX] = torch.zeros(6)
        theirs.embedding.weight.data[PAD_IDX] = torch.zeros(6)
        ours.embedding.weight.data[UNK_IDX] = mg.zeros(6)          # verbatim
        ours.embedding.weight.data[PAD_IDX] = mg.zeros(6)
        assert ours.embedding.weight.dtype == dt and ours.embedding.weight.is_leaf
        _same_params(ours, theirs, f"pretrained {dt}")
        assert not _np(ours.embedding.weight)[[UNK_IDX, PAD_IDX]].any()
        # and the writes are seen by the next forward/backward
        text = mg.tensor([[UNK_IDX, 3], [PAD_IDX, 4]])
        _close(f"forward after .data writes {dt}", ours(text),
               theirs(torch.tensor(text.numpy())), **(TOL if dt == "float64" else TOL32))


def test_binary_losses_refuse_integer_labels():
    """torch refuses integer/bool targets in BCEWithLogitsLoss / BCELoss (why the tutorial writes
    `LabelField(dtype=torch.float)`); minigrad computed with them silently. Now a TypeError naming
    the op, both tensors and the fix; float labels (and Python lists) still work."""
    x = [0.3, -1.2, 2.0]
    for dt in ("int64", "int32", "bool"):
        for crit_t, crit_o, xin in ((torch.nn.BCEWithLogitsLoss(), mg.nn.BCEWithLogitsLoss(), x),
                                    (torch.nn.BCELoss(), mg.nn.BCELoss(), [0.2, 0.5, 0.9])):
            with pytest.raises(RuntimeError):
                crit_t(torch.tensor(xin), torch.tensor([1, 0, 1], dtype=getattr(torch, dt)))
            with pytest.raises(TypeError, match=rf"binary_cross_entropy\w*: target must be a floating-point.*"
                                                rf"{dt}\[3\].*float64\[3\].*\.float\(\)"):
                crit_o(mg.tensor(xin), mg.tensor([1, 0, 1], dtype=dt))
    _close("float labels", mg.nn.BCEWithLogitsLoss()(mg.tensor(x), mg.tensor([1.0, 0.0, 1.0])),
           torch.nn.BCEWithLogitsLoss()(torch.tensor(x), torch.tensor([1.0, 0.0, 1.0])))
    _close("long labels .float()", mg.nn.BCEWithLogitsLoss()(mg.tensor(x), mg.tensor([1, 0, 1]).double()),
           torch.nn.BCEWithLogitsLoss()(torch.tensor(x), torch.tensor([1, 0, 1]).double()))


def test_lstm_inter_layer_dropout_is_active_in_train_only():
    """nn.LSTM(num_layers=2, dropout=p) drops between the layers in train mode only (a behaviour,
    not a comparison: the masks differ). With the model's own nn.Dropout at 0, train == eval
    exactly when the LSTM's dropout is 0, and differs when it is 0.5."""
    corpus = make_corpus(6, seed=14)
    (b,) = to_lib(MG, batches(corpus, 6), mg.float64)
    for p, differs in ((0.0, False), (0.5, True)):
        mg.manual_seed(0)
        model = make_upgraded_rnn(MG, dropout=p)
        model.dropout.p = 0.0
        with mg.no_grad():
            model.eval()
            ev = model(b.text, b.lengths).numpy()
            model.train()
            tr = model(b.text, b.lengths).numpy()
        assert (not np.allclose(ev, tr)) == differs, p


@pytest.mark.parametrize("name", ["upgraded", "fasttext", "cnn2d", "cnn1d", "multiclass"])
def test_float32_as_written(name):
    """Each model in float32 (the tutorials' dtype): two Adam steps match torch to float32 accuracy,
    and every output, loss, parameter and gradient stays float32."""
    torch.set_default_dtype(torch.float32)
    mg.set_default_dtype(mg.float32)
    corpus = make_corpus(8, seed=15, n_classes=N_CLASSES if name == "multiclass" else 2)
    bf = name != "upgraded" and name != "fasttext"
    raw = batches(corpus, 4, batch_first=bf, min_len=4)
    make, kw = {"upgraded": (make_upgraded_rnn, dict(dropout=0.0)), "fasttext": (make_fasttext, dict(vocab_size=VOCAB)),
                "cnn2d": (make_cnn, dict(dropout=0.0)), "cnn1d": (make_cnn1d, dict(dropout=0.0)),
                "multiclass": (make_cnn, dict(dropout=0.0, output_dim=N_CLASSES))}[name]
    theirs, ours = _pair(make, **kw)
    res = {}
    for L, model in ((TH, theirs), (MG, ours)):
        data = to_lib(L, raw, L.torch.long if name == "multiclass" else L.torch.float)
        opt = L.optim.Adam(model.parameters(), lr=0.01)
        crit = L.nn.CrossEntropyLoss() if name == "multiclass" else L.nn.BCEWithLogitsLoss()
        outs = []
        for b in data:
            opt.zero_grad()
            out = model(b.text, b.lengths) if name == "upgraded" else model(b.text)
            out = out if name == "multiclass" else out.squeeze(1)
            loss = crit(out, b.label)
            loss.backward()
            opt.step()
            outs += [out, loss]
        res[L.name] = outs
    for i, (o, t) in enumerate(zip(res["minigrad"], res["torch"])):
        _close(f"{name} float32 output/loss {i}", o, t, **TOL32)
    _same_params(ours, theirs, f"{name} float32", **TOL32)
    _same_grads(ours, theirs, f"{name} float32", **TOL32)


@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_save_trained_embeddings_as_text(tmp_path, dt):
    """Appendix C writes `model.embedding.weight.data` row by row with `embedding.tolist()`: iterating
    the raw array gives the same rows, numbers and text as torch's Tensor (and count_parameters
    formats with `:,` as the tutorials print it)."""
    torch.set_default_dtype(getattr(torch, dt))
    mg.set_default_dtype(dt)
    theirs, ours = _pair(make_fasttext, VOCAB)
    itos = ["<unk>", "<pad>"] + [f"w{i}" for i in range(2, VOCAB - 1)] + ["café"]
    texts = {}
    for L, model in ((TH, theirs), (MG, ours)):
        trained_embeddings = model.embedding.weight.data
        path = tmp_path / f"custom_embeddings_{L.name}.txt"
        with open(path, "w") as f:
            for i, embedding in enumerate(trained_embeddings):
                word = itos[i]
                if len(word) != len(word.encode()):   # skip words with unicode symbols
                    continue
                vector = ' '.join([str(i) for i in embedding.tolist()])
                f.write(f'{word} {vector}\n')
        texts[L.name] = path.read_text()
        texts[L.name + "count"] = f'The model has {count_parameters(model):,} trainable parameters'
    assert texts["minigrad"] == texts["torch"] and texts["minigrad"].count("\n") == VOCAB - 1
    assert texts["minigradcount"] == texts["torchcount"] == f"The model has {VOCAB * 6 + 7:,} trainable parameters"
