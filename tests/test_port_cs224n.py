"""Porting audit: Stanford CS224n's PyTorch assignments, run on torch and on minigrad.

Each program is written ONCE, as a student writes it (own code, from memory of the assignment
skeletons), inside a factory that takes the library as an argument (`L.torch`, `L.nn`, `L.F`,
`L.optim`, `L.rnn`): porting is "change the imports". Both runs start from torch's weights (its
state dict loaded into ours) and see the same tiny generated data (no downloads). Compared in
float64 at rtol 1e-7: outputs, losses, gradients, clip_grad_norm_'s total norm, parameters after
Adam steps, predictions and decoded hypotheses. Dropout is compared with p=0 in train mode or in
eval mode.

1. a3, the neural transition-based dependency parser: `ParserModel` with
   `self.embeddings = nn.Parameter(torch.tensor(embeddings))`, `embedding_lookup` by indexing
   (`self.embeddings[w].view(batch, -1)`) and by `torch.index_select`, hand-made weights
   (`nn.Parameter(torch.empty(...))` + `xavier_uniform_` / `uniform_`), relu, dropout, logits;
   the 2019 variant with `nn.Embedding` + `nn.Linear`; the training loop (Adam, CrossEntropyLoss,
   `torch.from_numpy(train_x).long()`, targets from `train_y.nonzero()[1]`, train()/eval()); and
   the model-facing part of `minibatch_parse` (`Parser.predict`: argmax of logits + legal-move
   mask, on `pred.detach().numpy()`), driving a pure-Python PartialParse in both libraries.
2. a4, NMT with attention: `ModelEmbeddings` (padding_idx), bidirectional LSTM encoder on
   `pack_padded_sequence` / `pad_packed_sequence` (batches sorted by decreasing source length),
   the 2021 `post_embed_cnn` (`Conv1d(kernel_size=2, padding='same')`), h/c/att/combined-output/
   vocab projections (bias=False), LSTMCell decoder with input feeding, `step()` with bmm
   attention and `generate_sent_masks` + `masked_fill(-inf)`, `torch.gather` log-likelihoods
   times the target mask; run.py's training loop (clip_grad_norm_, Adam), `evaluate_ppl`, the
   learning-rate decay that reloads the saved model and optimizer state; `beam_search` with topk
   over the flattened scores, `//` and `torch.div(..., rounding_mode='floor')`, and
   `torch.tensor(live_hyp_ids, dtype=torch.long, device=self.device)` indexing; and the other answers
   students write for the same steps (tensor lengths, batch_first, `@`, out-of-place masked_fill,
   a weighted sum for the context, unbind, Tensor.gather).
3. a5, character-level parts: CNN (Conv1d + max over time, also as MaxPool1d), Highway (sigmoid
   gate), the char `ModelEmbeddings`, and `CharDecoder` (train_forward with
   CrossEntropyLoss(ignore_index, reduction='sum'), decode_greedy).

No minigrad bug was found. Differences found (all intended: README.md, or mg.load's docstring for
map_location; each has a test below):
* The skeleton's `target_masks = (...).float()` and `dtype=torch.float` in beam_search mix float32
  into a float64 model: torch promotes silently, minigrad raises a TypeError naming both dtypes.
  The float64 runs therefore write the float dtype as `L.float` (the program's only change).
* `nn.Parameter(torch.Tensor(n, m))` (the legacy sizes constructor some a3 answers use): a
  TypeError that points to `mg.empty(n, m)` (README: `mg.Tensor(n)` is the number n).
* The skeleton's `e_t.data.masked_fill_(...)`, a3's `selected.data.numpy()` and run.py's
  `p.data.uniform_(-0.1, 0.1)`: `Tensor.data` is the raw NumPy array (NumPy's AttributeError);
  the port writes `e_t.masked_fill_(...)`, `selected.detach().numpy()`, `nn.init.uniform_(p.data, ...)`.
* `torch.load(path, map_location=lambda storage, loc: storage)` (a4's NMT.load and the lr decay):
  runs as written (minigrad's load takes torch's callable form since session 10).
  `model.save` with the Vocab object in the checkpoint: `mg.save` never pickles, and says so
  naming the key path (torch 2.13's default `weights_only=True` load refuses it too); the port
  saves the vocabulary's word lists instead.
"""
import math
from collections import namedtuple
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg
import minigrad.nn.functional as mF
from porting import closer, to_numpy

torch = pytest.importorskip("torch")

# torch's own performance note on the 2021 post_embed_cnn (Conv1d, kernel 2, padding='same')
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths:UserWarning")

TOL = dict(rtol=1e-7, atol=1e-10)

TH = SimpleNamespace(torch=torch, nn=torch.nn, F=torch.nn.functional, optim=torch.optim,
                     rnn=torch.nn.utils.rnn, name="torch", float=torch.float64)
MG = SimpleNamespace(torch=mg, nn=mg.nn, F=mF, optim=mg.optim, rnn=mg.nn.utils.rnn, name="minigrad",
                     float=mg.float64)
# The programs exactly as written (float32 everywhere: `.float()`, dtype=torch.float).
TH32 = SimpleNamespace(**{**vars(TH), "float": torch.float})
MG32 = SimpleNamespace(**{**vars(MG), "float": mg.float})

_np = to_numpy
_close = closer(TOL)


@pytest.fixture
def float64():
    """Both libraries build float64 parameters and tensors."""
    old_t, old_m = torch.get_default_dtype(), mg.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    mg.set_default_dtype(mg.float64)
    yield
    torch.set_default_dtype(old_t)
    mg.set_default_dtype(old_m)


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


def _same_grads(ours, theirs, what, **tol):
    named_o, named_t = dict(ours.named_parameters()), dict(theirs.named_parameters())
    assert list(named_o) == list(named_t)
    for k in named_t:
        assert (named_o[k].grad is None) == (named_t[k].grad is None), f"{what}: grad of {k} missing on one side"
        if named_t[k].grad is not None:
            _close(f"{what} grad {k}", named_o[k].grad, named_t[k].grad, **tol)


# =====================================================================================
# 1. a3: the neural transition-based dependency parser
# =====================================================================================
def make_parser_model(L, lookup="index"):
    torch, nn, F = L.torch, L.nn, L.F

    class ParserModel(nn.Module):
        """Feed-forward neural network with an embedding layer and one hidden layer (a3)."""

        def __init__(self, embeddings, n_features=36, hidden_size=200, n_classes=3, dropout_prob=0.5):
            super(ParserModel, self).__init__()
            self.n_features = n_features
            self.n_classes = n_classes
            self.dropout_prob = dropout_prob
            self.embed_size = embeddings.shape[1]
            self.hidden_size = hidden_size
            self.embeddings = nn.Parameter(torch.tensor(embeddings))

            self.embed_to_hidden_weight = nn.Parameter(torch.empty(self.embed_size * self.n_features,
                                                                   self.hidden_size))
            nn.init.xavier_uniform_(self.embed_to_hidden_weight)
            self.embed_to_hidden_bias = nn.Parameter(torch.empty(self.hidden_size))
            nn.init.uniform_(self.embed_to_hidden_bias)
            self.dropout = nn.Dropout(p=self.dropout_prob)
            self.hidden_to_logits_weight = nn.Parameter(torch.empty(self.hidden_size, self.n_classes))
            nn.init.xavier_uniform_(self.hidden_to_logits_weight)
            self.hidden_to_logits_bias = nn.Parameter(torch.empty(self.n_classes))
            nn.init.uniform_(self.hidden_to_logits_bias)

        def embedding_lookup(self, w):
            """w: (batch_size, n_features) word indices -> x: (batch_size, n_features * embed_size)."""
            if lookup == "index":
                x = self.embeddings[w].view(w.shape[0], -1)
            else:  # the other common answer
                x = torch.index_select(self.embeddings, 0, w.view(-1)).view(w.size(0), -1)
            return x

        def forward(self, w):
            x = self.embedding_lookup(w)
            h = F.relu(torch.matmul(x, self.embed_to_hidden_weight) + self.embed_to_hidden_bias)
            logits = torch.matmul(self.dropout(h), self.hidden_to_logits_weight) + self.hidden_to_logits_bias
            return logits

    return ParserModel


def make_parser_model_2019(L):
    torch, nn, F = L.torch, L.nn, L.F

    class ParserModel(nn.Module):
        """The 2019 skeleton: nn.Embedding with the pretrained weight swapped in, nn.Linear layers."""

        def __init__(self, embeddings, n_features=36, hidden_size=200, n_classes=3, dropout_prob=0.5):
            super().__init__()
            self.n_features = n_features
            self.embed_size = embeddings.shape[1]
            self.pretrained_embeddings = nn.Embedding(embeddings.shape[0], self.embed_size)
            self.pretrained_embeddings.weight = nn.Parameter(torch.tensor(embeddings))
            self.embed_to_hidden = nn.Linear(self.n_features * self.embed_size, hidden_size)
            nn.init.xavier_uniform_(self.embed_to_hidden.weight, gain=1)
            self.dropout = nn.Dropout(p=dropout_prob)
            self.hidden_to_logits = nn.Linear(hidden_size, n_classes)
            nn.init.xavier_uniform_(self.hidden_to_logits.weight, gain=1)

        def embedding_lookup(self, t):
            x = self.pretrained_embeddings(t)
            x = x.view(x.size()[0], -1)
            return x

        def forward(self, t):
            embeddings = self.embedding_lookup(t)
            hidden = F.relu(self.embed_to_hidden(embeddings))
            logits = self.hidden_to_logits(self.dropout(hidden))
            return logits

    return ParserModel


# ---- the pure-Python parts (parser_transitions.py), shared by both runs
class PartialParse:
    def __init__(self, sentence):
        self.sentence = sentence
        self.stack = ["ROOT"]
        self.buffer = list(sentence)
        self.dependencies = []

    def parse_step(self, transition):
        if transition == "S":
            self.stack.append(self.buffer.pop(0))
        elif transition == "LA":
            dependent = self.stack.pop(-2)
            self.dependencies.append((self.stack[-1], dependent))
        elif transition == "RA":
            dependent = self.stack.pop()
            self.dependencies.append((self.stack[-1], dependent))

    def parse(self, transitions):
        for transition in transitions:
            self.parse_step(transition)
        return self.dependencies


def minibatch_parse(sentences, model, batch_size):
    partial_parses = [PartialParse(s) for s in sentences]
    unfinished_parses = partial_parses[:]
    while unfinished_parses:
        minibatch = unfinished_parses[:batch_size]
        transitions = model.predict(minibatch)
        for parse, transition in zip(minibatch, transitions):
            parse.parse_step(transition)
        unfinished_parses = [p for p in unfinished_parses if not (len(p.buffer) == 0 and len(p.stack) == 1)]
    return [p.dependencies for p in partial_parses]


N_TOKENS, NULL_ID, ROOT_ID, N_FEATURES = 14, 0, 1, 6


def extract_features(stack, buf):
    """Word ids of the top 3 of the stack and the first 3 of the buffer (NULL-padded); words are ids >= 2."""
    word = lambda w: ROOT_ID if w == "ROOT" else w  # noqa: E731
    feats = [NULL_ID] * (3 - len(stack)) + [word(w) for w in stack[-3:]]
    feats += [word(w) for w in buf[:3]] + [NULL_ID] * (3 - len(buf))
    return feats


def legal_labels(stack, buf):
    """a3's unlabeled-arc legal moves, in its label order (LA, RA, S)."""
    return [1 if len(stack) > 2 else 0] + [1 if len(stack) >= 2 else 0] + [1 if len(buf) > 0 else 0]


class Parser:
    """The model-facing part of a3's Parser: predict() for minibatch_parse."""

    def __init__(self, L, model):
        self.L, self.model = L, model

    def predict(self, partial_parses):
        torch = self.L.torch
        mb_x = [extract_features(p.stack, p.buffer) for p in partial_parses]
        mb_x = np.array(mb_x).astype("int32")
        mb_x = torch.from_numpy(mb_x).long()
        mb_l = [legal_labels(p.stack, p.buffer) for p in partial_parses]
        pred = self.model(mb_x)
        pred = pred.detach().numpy()
        pred = np.argmax(pred + 10000 * np.array(mb_l).astype("float32"), 1)
        pred = ["S" if p == 2 else ("LA" if p == 0 else "RA") for p in pred]
        return pred


def make_parser_data(n=40, seed=0):
    """Feature rows and one-hot gold transitions (train_y), as a3's create_instances gives them."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, N_TOKENS, (n, N_FEATURES)).astype("int32")
    labels = (x[:, 2] + x[:, 3]) % 3  # a learnable rule
    y = np.zeros((n, 3), dtype="float32")
    y[np.arange(n), labels] = 1
    return list(zip(x, y))


def minibatches(data, batch_size):
    """a3's utils.minibatches, without shuffling (both runs must see the same order)."""
    x = np.array([d[0] for d in data])
    y = np.array([d[1] for d in data])
    for i in range(0, len(x), batch_size):
        yield x[i:i + batch_size], y[i:i + batch_size]


def train_for_epoch(L, model, train_data, optimizer, loss_func, batch_size, record):
    torch = L.torch
    model.train()  # Places model in "train" mode, i.e. apply dropout layer
    for i, (train_x, train_y) in enumerate(minibatches(train_data, batch_size)):
        optimizer.zero_grad()  # remove any baggage in the optimizer
        loss = 0.  # store loss for this batch here
        train_x = torch.from_numpy(train_x).long()
        train_y = torch.from_numpy(train_y.nonzero()[1]).long()
        logits = model(train_x)
        loss = loss_func(logits, train_y)
        loss.backward()
        if "grads" not in record:
            record["grads"] = {n: _np(p.grad).copy() for n, p in model.named_parameters()}
        optimizer.step()
        record.setdefault("losses", []).append(loss.item())
    model.eval()  # Places model in "eval" mode, i.e. don't apply dropout layer


def run_parser(L, build, init, embeddings, output_path, epochs=2, lr=0.01):
    torch, nn, optim = L.torch, L.nn, L.optim
    model = build(L)(embeddings, n_features=N_FEATURES, hidden_size=8, dropout_prob=0.0)
    _copy_weights(init, model)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    loss_func = nn.CrossEntropyLoss()
    record = {}
    data = make_parser_data()
    for epoch in range(epochs):
        train_for_epoch(L, model, data, optimizer, loss_func, batch_size=16, record=record)
    # evaluation: parse held-out "sentences" with the trained model (model.eval(), as parser.parse does)
    sentences = [[int(w) for w in np.random.default_rng(s).integers(2, N_TOKENS, 2 + s % 4)] for s in range(6)]
    record["deps"] = minibatch_parse(sentences, Parser(L, model), batch_size=4)  # graphs built, .detach()ed
    x_eval = torch.from_numpy(make_parser_data(5, seed=9)[0][0][None]).long()
    with torch.no_grad():
        record["logits"] = _np(model(x_eval))
    # run.py keeps the best model: torch.save(parser.model.state_dict(), output_path), then reloads it
    torch.save(model.state_dict(), output_path)
    reloaded = build(L)(embeddings, n_features=N_FEATURES, hidden_size=8, dropout_prob=0.0)
    reloaded.load_state_dict(torch.load(output_path))
    reloaded.eval()
    with torch.no_grad():
        np.testing.assert_array_equal(_np(reloaded(x_eval)), record["logits"])
    return model, record


@pytest.mark.parametrize("build", [make_parser_model, lambda L: make_parser_model(L, "index_select"),
                                   make_parser_model_2019], ids=["indexing", "index_select", "2019"])
def test_parser_training_and_minibatch_parse(float64, build, tmp_path):
    torch.manual_seed(0)
    embeddings = np.random.default_rng(1).normal(0, 0.9, (N_TOKENS, 5))  # float64 (a3: float32)
    init = build(TH)(embeddings, n_features=N_FEATURES, hidden_size=8, dropout_prob=0.0)
    t_model, t_rec = run_parser(TH, build, init, embeddings, str(tmp_path / "t.weights"))
    m_model, m_rec = run_parser(MG, build, init, embeddings, str(tmp_path / "m.weights"))
    np.testing.assert_allclose(m_rec["losses"], t_rec["losses"], **TOL)
    assert list(m_rec["grads"]) == list(t_rec["grads"])
    for k in t_rec["grads"]:
        _close(f"first-step grad {k}", m_rec["grads"][k], t_rec["grads"][k])
    _same_params(m_model, t_model, "after training")
    _close("eval logits", m_rec["logits"], t_rec["logits"])
    assert m_rec["deps"] == t_rec["deps"]
    assert all(len(d) == n for d, n in zip(t_rec["deps"], [2 + s % 4 for s in range(6)]))  # complete parses
    assert t_rec["losses"][-1] < t_rec["losses"][0]  # it learned something


def test_parser_sanity_checks():
    """parser_model.py's own checks, in float32 as a3 runs them: zeros embeddings, (4, 36) -> (4, 3)."""
    for L in (TH, MG):
        torch = L.torch
        model = make_parser_model(L)(np.zeros((100, 30), dtype=np.float32))
        inds = torch.randint(0, 100, (4, 36), dtype=torch.long)
        selected = model.embedding_lookup(inds)
        assert selected.dtype == torch.float32  # torch.tensor keeps the array's float32
        # a3 writes np.all(selected.data.numpy() == 0): minigrad's .data is already the NumPy array
        assert np.all(selected.detach().numpy() == 0), "The result of embedding lookup: " + repr(selected)
        assert model(inds).shape == (4, 3)
        assert model(inds).dtype == torch.float32


def test_parser_dropout_train_and_eval(float64):
    """Dropout 0.5: eval is deterministic and equal to torch; train mode drops about half, scaled by 2."""
    # with dropout 0.5: eval is deterministic and equal; train mode drops about half of the hidden units
    emb = np.random.default_rng(2).normal(size=(N_TOKENS, 5))
    t_model = make_parser_model(TH)(emb, n_features=N_FEATURES, hidden_size=64)
    m_model = make_parser_model(MG)(emb, n_features=N_FEATURES, hidden_size=64)
    _copy_weights(t_model, m_model)
    x = np.random.default_rng(3).integers(0, N_TOKENS, (7, N_FEATURES))
    t_model.eval(), m_model.eval()
    _close("eval logits", m_model(mg.from_numpy(x).long()), t_model(torch.from_numpy(x).long()))
    m_model.train()
    hidden = mF.relu(mg.matmul(m_model.embedding_lookup(mg.from_numpy(x)), m_model.embed_to_hidden_weight)
                     + m_model.embed_to_hidden_bias)
    dropped = m_model.dropout(hidden)
    kept = dropped.numpy() != 0
    np.testing.assert_allclose(dropped.numpy()[kept], 2 * hidden.numpy()[kept], rtol=1e-12)  # scaled 1 / (1 - p)
    frac = kept.sum() / (hidden.numpy() != 0).sum()
    assert 0.35 < frac < 0.65  # 448 units, p = 0.5: mean 0.5, sd ~0.03 of the nonzero ones


# =====================================================================================
# 2. a4: NMT with a bidirectional LSTM encoder, an attentive LSTMCell decoder and beam search
# =====================================================================================
Hypothesis = namedtuple("Hypothesis", ["value", "score"])


def pad_sents(sents, pad_token):
    """Pad a list of sentences (lists of ids) to the longest one (a4's utils.pad_sents)."""
    max_len = max(len(s) for s in sents)
    return [s + [pad_token] * (max_len - len(s)) for s in sents]


def make_vocab(L):
    torch = L.torch

    class VocabEntry(object):
        def __init__(self, words=()):
            self.word2id = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3}
            for w in words:
                self.word2id.setdefault(w, len(self.word2id))
            self.unk_id = self.word2id["<unk>"]
            self.id2word = {v: k for k, v in self.word2id.items()}

        def __getitem__(self, word):
            return self.word2id.get(word, self.unk_id)

        def __len__(self):
            return len(self.word2id)

        def words2indices(self, sents):
            return [[self[w] for w in s] for s in sents]

        def to_input_tensor(self, sents, device):
            """Sentences -> (max_sentence_length, batch_size) LongTensor, padded."""
            word_ids = self.words2indices(sents)
            sents_t = pad_sents(word_ids, self["<pad>"])
            sents_var = torch.tensor(sents_t, dtype=torch.long, device=device)
            return torch.t(sents_var)  # (src_len, b)

    class Vocab(object):
        def __init__(self, src_words, tgt_words):
            self.src = VocabEntry(src_words)
            self.tgt = VocabEntry(tgt_words)

    return Vocab


SRC_WORDS = ["a", "b", "c", "d", "e", "f", "g"]
TGT_WORDS = ["A", "B", "C", "D", "E", "F", "G", "H"]


def make_nmt_corpus(n=10, seed=0):
    """(source, target) word lists; targets carry <s> ... </s> as a4's read_corpus adds them."""
    rng = np.random.default_rng(seed)
    data = []
    for _ in range(n):
        src = [SRC_WORDS[int(i)] for i in rng.integers(0, len(SRC_WORDS), int(rng.integers(1, 6)))]
        tgt = [w.upper() for w in reversed(src)] + (["H"] if rng.random() < 0.4 else [])
        data.append((src, ["<s>"] + tgt + ["</s>"]))
    return data


def batch_iter(data, batch_size):
    """a4's utils.batch_iter without shuffling: each batch sorted by decreasing source length."""
    batch_num = math.ceil(len(data) / batch_size)
    index_array = list(range(len(data)))
    for i in range(batch_num):
        indices = index_array[i * batch_size: (i + 1) * batch_size]
        examples = [data[idx] for idx in indices]
        examples = sorted(examples, key=lambda e: len(e[0]), reverse=True)
        yield [e[0] for e in examples], [e[1] for e in examples]


def make_nmt(L, post_embed_cnn=False, floor_div="//", alt=False):
    """alt=True: other answers students write for the same steps (tensor lengths, batch_first, `@`,
    out-of-place masked_fill, a weighted sum instead of bmm, unbind, Tensor.gather)."""
    torch, nn, F = L.torch, L.nn, L.F
    pack_padded_sequence, pad_packed_sequence = L.rnn.pack_padded_sequence, L.rnn.pad_packed_sequence

    class ModelEmbeddings(nn.Module):
        def __init__(self, embed_size, vocab):
            super(ModelEmbeddings, self).__init__()
            self.embed_size = embed_size
            src_pad_token_idx = vocab.src["<pad>"]
            tgt_pad_token_idx = vocab.tgt["<pad>"]
            self.source = nn.Embedding(len(vocab.src), embed_size, padding_idx=src_pad_token_idx)
            self.target = nn.Embedding(len(vocab.tgt), embed_size, padding_idx=tgt_pad_token_idx)

    class NMT(nn.Module):
        """Simple NMT: bidirectional LSTM encoder, unidirectional LSTM decoder, global attention."""

        def __init__(self, embed_size, hidden_size, vocab, dropout_rate=0.2):
            super(NMT, self).__init__()
            self.model_embeddings = ModelEmbeddings(embed_size, vocab)
            self.hidden_size = hidden_size
            self.dropout_rate = dropout_rate
            self.vocab = vocab
            if post_embed_cnn:  # the 2021 version
                self.post_embed_cnn = nn.Conv1d(in_channels=embed_size, out_channels=embed_size,
                                                kernel_size=2, padding="same")
            self.encoder = nn.LSTM(embed_size, hidden_size, bias=True, bidirectional=True)
            self.decoder = nn.LSTMCell(embed_size + hidden_size, hidden_size, bias=True)
            self.h_projection = nn.Linear(2 * hidden_size, hidden_size, bias=False)
            self.c_projection = nn.Linear(2 * hidden_size, hidden_size, bias=False)
            self.att_projection = nn.Linear(2 * hidden_size, hidden_size, bias=False)
            self.combined_output_projection = nn.Linear(3 * hidden_size, hidden_size, bias=False)
            self.target_vocab_projection = nn.Linear(hidden_size, len(vocab.tgt), bias=False)
            self.dropout = nn.Dropout(p=dropout_rate)

        def forward(self, source, target):
            """Log-likelihood of each target sentence given its source: (b,)."""
            source_lengths = [len(s) for s in source]
            source_padded = self.vocab.src.to_input_tensor(source, device=self.device)  # (src_len, b)
            target_padded = self.vocab.tgt.to_input_tensor(target, device=self.device)  # (tgt_len, b)
            enc_hiddens, dec_init_state = self.encode(source_padded, source_lengths)
            enc_masks = self.generate_sent_masks(enc_hiddens, source_lengths)
            combined_outputs = self.decode(enc_hiddens, enc_masks, dec_init_state, target_padded)
            P = F.log_softmax(self.target_vocab_projection(combined_outputs), dim=-1)
            # Zero out probabilities of the padding tokens of the target
            target_masks = (target_padded != self.vocab.tgt["<pad>"]).to(L.float)  # the skeleton: .float()
            if alt:
                target_gold_words_log_prob = P.gather(-1, target_padded[1:].unsqueeze(-1)).squeeze(-1) * target_masks[1:]
            else:
                target_gold_words_log_prob = torch.gather(P, index=target_padded[1:].unsqueeze(-1), dim=-1).squeeze(
                    -1) * target_masks[1:]
            scores = target_gold_words_log_prob.sum(dim=0)
            return scores

        def encode(self, source_padded, source_lengths):
            X = self.model_embeddings.source(source_padded)  # (src_len, b, e)
            if post_embed_cnn:
                X = self.post_embed_cnn(X.permute(1, 2, 0)).permute(2, 0, 1)
            if alt:
                X = pack_padded_sequence(X, torch.tensor(source_lengths))
                enc_hiddens, (last_hidden, last_cell) = self.encoder(X)
                enc_hiddens, _ = pad_packed_sequence(enc_hiddens, batch_first=True)  # (b, src_len, 2h)
                init_decoder_hidden = self.h_projection(torch.cat(tuple(last_hidden), 1))
                init_decoder_cell = self.c_projection(last_cell.permute(1, 0, 2).contiguous().view(
                    len(source_lengths), -1))
            else:
                X = pack_padded_sequence(X, source_lengths)
                enc_hiddens, (last_hidden, last_cell) = self.encoder(X)
                enc_hiddens, _ = pad_packed_sequence(enc_hiddens)
                enc_hiddens = enc_hiddens.permute(1, 0, 2)  # (b, src_len, 2h)
                init_decoder_hidden = self.h_projection(torch.cat((last_hidden[0], last_hidden[1]), 1))
                init_decoder_cell = self.c_projection(torch.cat((last_cell[0], last_cell[1]), 1))
            dec_init_state = (init_decoder_hidden, init_decoder_cell)
            return enc_hiddens, dec_init_state

        def decode(self, enc_hiddens, enc_masks, dec_init_state, target_padded):
            target_padded = target_padded[:-1]  # Chop off the <END> token for max length sentences.
            dec_state = dec_init_state
            batch_size = enc_hiddens.size(0)
            o_prev = torch.zeros(batch_size, self.hidden_size, device=self.device)
            combined_outputs = []
            enc_hiddens_proj = self.att_projection(enc_hiddens)
            Y = self.model_embeddings.target(target_padded)
            for Y_t in (Y.unbind(0) if alt else torch.split(Y, 1, dim=0)):
                Y_t = Y_t if alt else torch.squeeze(Y_t, dim=0)
                Ybar_t = torch.cat((Y_t, o_prev), dim=1)
                dec_state, o_t, e_t = self.step(Ybar_t, dec_state, enc_hiddens, enc_hiddens_proj, enc_masks)
                combined_outputs.append(o_t)
                o_prev = o_t
            combined_outputs = torch.stack(combined_outputs, dim=0)
            return combined_outputs

        def step(self, Ybar_t, dec_state, enc_hiddens, enc_hiddens_proj, enc_masks):
            dec_state = self.decoder(Ybar_t, dec_state)
            dec_hidden, dec_cell = dec_state
            if alt:
                e_t = (enc_hiddens_proj @ dec_hidden.unsqueeze(-1)).squeeze(-1)
                if enc_masks is not None:
                    e_t = e_t.masked_fill(enc_masks == 1, float("-inf"))
            else:
                e_t = enc_hiddens_proj.bmm(dec_hidden.unsqueeze(2)).squeeze(2)  # (b, src_len)
                # Set e_t to -inf where enc_masks has 1 (the skeleton: e_t.data.masked_fill_(...))
                if enc_masks is not None:
                    e_t.masked_fill_(enc_masks.bool(), -float("inf"))
            alpha_t = F.softmax(e_t, dim=1)
            if alt:
                a_t = (alpha_t.unsqueeze(2) * enc_hiddens).sum(dim=1)
            else:
                a_t = torch.bmm(alpha_t.unsqueeze(1), enc_hiddens).squeeze(1)  # (b, 2h)
            U_t = torch.cat((dec_hidden, a_t), dim=1)
            V_t = self.combined_output_projection(U_t)
            O_t = self.dropout(torch.tanh(V_t))
            combined_output = O_t
            return dec_state, combined_output, e_t

        def generate_sent_masks(self, enc_hiddens, source_lengths):
            enc_masks = torch.zeros(enc_hiddens.size(0), enc_hiddens.size(1), dtype=L.float)
            for e_id, src_len in enumerate(source_lengths):
                enc_masks[e_id, src_len:] = 1
            return enc_masks.to(self.device)

        def beam_search(self, src_sent, beam_size=5, max_decoding_time_step=70):
            src_sents_var = self.vocab.src.to_input_tensor([src_sent], self.device)
            src_encodings, dec_init_vec = self.encode(src_sents_var, [len(src_sent)])
            src_encodings_att_linear = self.att_projection(src_encodings)
            h_tm1 = dec_init_vec
            att_tm1 = torch.zeros(1, self.hidden_size, device=self.device)
            eos_id = self.vocab.tgt["</s>"]  # noqa: F841 - the skeleton defines it
            hypotheses = [["<s>"]]
            hyp_scores = torch.zeros(len(hypotheses), dtype=L.float, device=self.device)
            completed_hypotheses = []
            t = 0
            while len(completed_hypotheses) < beam_size and t < max_decoding_time_step:
                t += 1
                hyp_num = len(hypotheses)
                exp_src_encodings = src_encodings.expand(hyp_num, src_encodings.size(1), src_encodings.size(2))
                exp_src_encodings_att_linear = src_encodings_att_linear.expand(
                    hyp_num, src_encodings_att_linear.size(1), src_encodings_att_linear.size(2))
                y_tm1 = torch.tensor([self.vocab.tgt[hyp[-1]] for hyp in hypotheses], dtype=torch.long,
                                     device=self.device)
                y_t_embed = self.model_embeddings.target(y_tm1)
                x = torch.cat([y_t_embed, att_tm1], dim=-1)
                (h_t, cell_t), att_t, _ = self.step(x, h_tm1, exp_src_encodings, exp_src_encodings_att_linear,
                                                    enc_masks=None)
                # log probabilities over target words
                log_p_t = F.log_softmax(self.target_vocab_projection(att_t), dim=-1)
                live_hyp_num = beam_size - len(completed_hypotheses)
                contiuating_hyp_scores = (hyp_scores.unsqueeze(1).expand_as(log_p_t) + log_p_t).view(-1)
                top_cand_hyp_scores, top_cand_hyp_pos = torch.topk(contiuating_hyp_scores, k=live_hyp_num)
                if floor_div == "//":
                    prev_hyp_ids = top_cand_hyp_pos // len(self.vocab.tgt)
                else:
                    prev_hyp_ids = torch.div(top_cand_hyp_pos, len(self.vocab.tgt), rounding_mode="floor")
                hyp_word_ids = top_cand_hyp_pos % len(self.vocab.tgt)
                new_hypotheses = []
                live_hyp_ids = []
                new_hyp_scores = []
                for prev_hyp_id, hyp_word_id, cand_new_hyp_score in zip(prev_hyp_ids, hyp_word_ids,
                                                                        top_cand_hyp_scores):
                    prev_hyp_id = prev_hyp_id.item()
                    hyp_word_id = hyp_word_id.item()
                    cand_new_hyp_score = cand_new_hyp_score.item()
                    hyp_word = self.vocab.tgt.id2word[hyp_word_id]
                    new_hyp_sent = hypotheses[prev_hyp_id] + [hyp_word]
                    if hyp_word == "</s>":
                        completed_hypotheses.append(Hypothesis(value=new_hyp_sent[1:-1], score=cand_new_hyp_score))
                    else:
                        new_hypotheses.append(new_hyp_sent)
                        live_hyp_ids.append(prev_hyp_id)
                        new_hyp_scores.append(cand_new_hyp_score)
                if len(completed_hypotheses) == beam_size:
                    break
                live_hyp_ids = torch.tensor(live_hyp_ids, dtype=torch.long, device=self.device)
                h_tm1 = (h_t[live_hyp_ids], cell_t[live_hyp_ids])
                att_tm1 = att_t[live_hyp_ids]
                hypotheses = new_hypotheses
                hyp_scores = torch.tensor(new_hyp_scores, dtype=L.float, device=self.device)
            if len(completed_hypotheses) == 0:
                completed_hypotheses.append(Hypothesis(value=hypotheses[0][1:], score=hyp_scores[0].item()))
            completed_hypotheses.sort(key=lambda hyp: hyp.score, reverse=True)
            return completed_hypotheses

        @property
        def device(self):
            return self.model_embeddings.source.weight.device

    return NMT


def build_nmt(L, embed_size=4, hidden_size=5, dropout_rate=0.0, **kw):
    vocab = make_vocab(L)(SRC_WORDS, TGT_WORDS)
    return make_nmt(L, **kw)(embed_size=embed_size, hidden_size=hidden_size, vocab=vocab,
                             dropout_rate=dropout_rate)


def evaluate_ppl(L, model, dev_data, batch_size=32):
    torch = L.torch
    was_training = model.training
    model.eval()
    cum_loss = 0.
    cum_tgt_words = 0.
    with torch.no_grad():
        for src_sents, tgt_sents in batch_iter(dev_data, batch_size):
            loss = -model(src_sents, tgt_sents).sum()
            cum_loss += loss.item()
            tgt_word_num_to_predict = sum(len(s[1:]) for s in tgt_sents)  # omitting leading `<s>`
            cum_tgt_words += tgt_word_num_to_predict
        ppl = np.exp(cum_loss / cum_tgt_words)
    if was_training:
        model.train()
    return ppl


def train_nmt(L, model, train_data, optimizer, record, clip_grad=5.0, batch_size=4, epochs=2):
    """run.py's inner loop."""
    torch = L.torch
    model.train()
    for epoch in range(epochs):
        for src_sents, tgt_sents in batch_iter(train_data, batch_size=batch_size):
            optimizer.zero_grad()
            batch_size_ = len(src_sents)
            example_losses = -model(src_sents, tgt_sents)  # (batch_size,)
            batch_loss = example_losses.sum()
            loss = batch_loss / batch_size_
            loss.backward()
            if "grads" not in record:
                record["grads"] = {n: _np(p.grad).copy() for n, p in model.named_parameters()}
            # clip gradient
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            optimizer.step()
            record.setdefault("losses", []).append(batch_loss.item())
            record.setdefault("norms", []).append(float(grad_norm))
            record.setdefault("example_losses", []).append(_np(example_losses).copy())


def run_nmt(L, init, **kw):
    model = build_nmt(L, **kw)
    _copy_weights(init, model)
    optimizer = L.optim.Adam(model.parameters(), lr=0.01)
    record = {}
    data = make_nmt_corpus()
    train_nmt(L, model, data[:8], optimizer, record)
    record["ppl"] = evaluate_ppl(L, model, data[8:])
    return model, record


@pytest.mark.parametrize("kw", [{}, dict(post_embed_cnn=True), dict(alt=True)],
                         ids=["2019", "2021_post_embed_cnn", "student_variants"])
def test_nmt_training(float64, kw):
    torch.manual_seed(0)
    init = build_nmt(TH, **kw)
    t_model, t_rec = run_nmt(TH, init, **kw)
    m_model, m_rec = run_nmt(MG, init, **kw)
    np.testing.assert_allclose(m_rec["losses"], t_rec["losses"], **TOL)
    np.testing.assert_allclose(m_rec["norms"], t_rec["norms"], **TOL)
    for i, (a, b) in enumerate(zip(m_rec["example_losses"], t_rec["example_losses"])):
        _close(f"example losses of batch {i}", a, b)
    assert list(m_rec["grads"]) == list(t_rec["grads"])
    for k in t_rec["grads"]:
        _close(f"first-step grad {k}", m_rec["grads"][k], t_rec["grads"][k])
    # the padding rows get no gradient (padding_idx) in both
    assert not m_rec["grads"]["model_embeddings.source.weight"][0].any()
    _same_params(m_model, t_model, "after training")
    np.testing.assert_allclose(m_rec["ppl"], t_rec["ppl"], **TOL)
    assert t_rec["losses"][-1] < t_rec["losses"][0]


SENTS_TO_DECODE = [["a", "b", "c"], ["d"], ["e", "f", "g", "a", "b"], ["c", "c"]]


@pytest.mark.parametrize("floor_div", ["//", "torch.div"])
def test_nmt_beam_search(float64, floor_div):
    """beam_search on a trained model: the same hypotheses, in the same order, with the same scores."""
    torch.manual_seed(1)
    init = build_nmt(TH, floor_div=floor_div)
    t_model, _ = run_nmt(TH, init, floor_div=floor_div)
    m_model, _ = run_nmt(MG, init, floor_div=floor_div)
    t_model.eval(), m_model.eval()
    n_completed = 0
    for sent in SENTS_TO_DECODE:
        with torch.no_grad():
            t_hyps = t_model.beam_search(sent, beam_size=3, max_decoding_time_step=8)
        with mg.no_grad():
            m_hyps = m_model.beam_search(sent, beam_size=3, max_decoding_time_step=8)
        assert [h.value for h in m_hyps] == [h.value for h in t_hyps], sent
        np.testing.assert_allclose([h.score for h in m_hyps], [h.score for h in t_hyps], **TOL)
        assert all(isinstance(h.score, float) for h in m_hyps)  # .item() gives Python floats
        n_completed += len(t_hyps)
    assert n_completed > len(SENTS_TO_DECODE)  # beams did finish several hypotheses
    # with grad mode on (graphs are built and dropped): the same hypotheses
    m_hyps = m_model.beam_search(SENTS_TO_DECODE[0], beam_size=3, max_decoding_time_step=8)
    assert [h.value for h in m_hyps] == [h.value for h in t_model.beam_search(SENTS_TO_DECODE[0], 3, 8)]


def test_nmt_attention_step_pieces(float64):
    """generate_sent_masks, the -inf masking, bmm attention and the gather log-likelihood, piece by piece."""
    torch.manual_seed(2)
    t_model = build_nmt(TH)
    m_model = build_nmt(MG)
    _copy_weights(t_model, m_model)
    src = [["a", "b", "c", "d"], ["e", "f"], ["g"]]  # sorted by decreasing length
    outs = {}
    for L, model in ((TH, t_model), (MG, m_model)):
        src_padded = model.vocab.src.to_input_tensor(src, device=model.device)
        assert src_padded.shape == (4, 3) and src_padded.dtype == L.torch.long
        enc_hiddens, (h0, c0) = model.encode(src_padded, [len(s) for s in src])
        masks = model.generate_sent_masks(enc_hiddens, [len(s) for s in src])
        proj = model.att_projection(enc_hiddens)
        Ybar = L.torch.cat((model.model_embeddings.target(L.torch.tensor([1, 1, 1])),
                            L.torch.zeros(3, model.hidden_size)), dim=1)
        (h1, c1), o1, e1 = model.step(Ybar, (h0, c0), enc_hiddens, proj, masks)
        o1.sum().backward()
        outs[L.name] = dict(enc=enc_hiddens, masks=masks, e=e1, o=o1, h=h1, c=c1)
    for k in ("enc", "masks", "e", "o", "h", "c"):
        _close(k, outs["minigrad"][k], outs["torch"][k])
    np.testing.assert_array_equal(_np(outs["minigrad"]["masks"]), [[0, 0, 0, 0], [0, 0, 1, 1], [0, 1, 1, 1]])
    assert np.isneginf(_np(outs["minigrad"]["e"])[2, 1:]).all()
    assert not np.abs(_np(outs["minigrad"]["enc"])[2, 1:]).any()  # pad_packed_sequence pads with zeros
    _same_grads(m_model, t_model, "one attention step")


def test_nmt_float32_as_written():
    """The skeleton as written (`.float()`, dtype=torch.float, float32 weights): float32 tolerances.

    rtol 2e-5 / atol 2e-6: float32 rounding (eps 1.2e-7) accumulated over two epochs of LSTM steps
    and Adam updates, whose summation order differs between the libraries."""
    tol = dict(rtol=2e-5, atol=2e-6)
    torch.manual_seed(3)
    init = build_nmt(TH32)
    t_model, t_rec = run_nmt(TH32, init)
    m_model, m_rec = run_nmt(MG32, init)
    np.testing.assert_allclose(m_rec["losses"], t_rec["losses"], **tol)
    np.testing.assert_allclose(m_rec["norms"], t_rec["norms"], **tol)
    for k in t_rec["grads"]:
        _close(f"first-step grad {k}", m_rec["grads"][k], t_rec["grads"][k], **tol)
    _same_params(m_model, t_model, "after training", **tol)
    assert all(p.dtype == mg.float32 and p.grad.dtype == mg.float32 for p in m_model.parameters())
    m_model.eval(), t_model.eval()
    with mg.no_grad():
        m_hyps = m_model.beam_search(["a", "b", "c"], beam_size=3, max_decoding_time_step=8)
    with torch.no_grad():
        t_hyps = t_model.beam_search(["a", "b", "c"], beam_size=3, max_decoding_time_step=8)
    assert [h.value for h in m_hyps] == [h.value for h in t_hyps]
    np.testing.assert_allclose([h.score for h in m_hyps], [h.score for h in t_hyps], **tol)


def test_nmt_float_mask_in_float64_model_is_refused(float64):
    """Documented difference: the skeleton's `.float()` mask times a float64 P. torch promotes to float64;
    minigrad refuses the float32/float64 mix with a TypeError naming both dtypes."""
    torch.manual_seed(4)
    t_model = build_nmt(TH32)  # the program's own `.float()`, with float64 weights (default dtype)
    m_model = build_nmt(MG32)
    _copy_weights(t_model, m_model)
    src, tgt = [["a", "b"]], [["<s>", "B", "A", "</s>"]]
    assert t_model(src, tgt).dtype == torch.float64
    with pytest.raises(TypeError, match="float32.*float64|float64.*float32"):
        m_model(src, tgt)


def _save_nmt(L, model, path, vocab_payload):
    """NMT.save: the constructor arguments, the vocabulary and the weights in one file."""
    params = {
        "args": dict(embed_size=model.model_embeddings.embed_size, hidden_size=model.hidden_size,
                     dropout_rate=model.dropout_rate),
        "vocab": vocab_payload,
        "state_dict": model.state_dict(),
    }
    L.torch.save(params, path)


def run_lr_decay(L, init, tmp_path):
    """run.py's patience/decay branch: save the best model and optimizer, keep training, then reload both
    and continue at half the learning rate."""
    torch, device = L.torch, "cpu"
    model = build_nmt(L)
    _copy_weights(init, model)
    optimizer = L.optim.Adam(model.parameters(), lr=0.01)
    data = make_nmt_corpus(12, seed=5)
    record = {}
    model_save_path = str(tmp_path / f"model_{L.name}.bin")
    train_nmt(L, model, data, optimizer, record, epochs=1)
    # The skeleton stores the Vocab object itself; torch >= 2.6 loads with weights_only=True and refuses it
    # there, and mg.save never pickles: both store the word lists.
    _save_nmt(L, model, model_save_path, dict(src=SRC_WORDS, tgt=TGT_WORDS))
    map_location = lambda storage, loc: storage  # noqa: E731  (a4's NMT.load / run.py, in both libraries)
    torch.save(optimizer.state_dict(), model_save_path + ".optim")
    train_nmt(L, model, data, optimizer, record, epochs=1)  # "worse": patience runs out
    # decay lr, and restore from previously best checkpoint
    lr = optimizer.param_groups[0]["lr"] * 0.5
    params = torch.load(model_save_path, map_location=map_location)
    model.load_state_dict(params["state_dict"])
    model = model.to(device)
    optimizer.load_state_dict(torch.load(model_save_path + ".optim"))
    for param_group in optimizer.param_groups:
        param_group["lr"] = lr
    train_nmt(L, model, data, optimizer, record, epochs=1)
    # NMT.load: a fresh model from the saved arguments
    vocab = make_vocab(L)(params["vocab"]["src"], params["vocab"]["tgt"])
    loaded = make_nmt(L)(vocab=vocab, **params["args"])
    loaded.load_state_dict(params["state_dict"])
    record["loaded_ppl"] = evaluate_ppl(L, loaded, data[:4])
    record["lr"] = optimizer.param_groups[0]["lr"]
    record["adam_step"] = float(np.asarray(optimizer.state_dict()["state"][0]["step"]))
    return model, record


def test_nmt_lr_decay_reload(float64, tmp_path):
    torch.manual_seed(5)
    init = build_nmt(TH)
    t_model, t_rec = run_lr_decay(TH, init, tmp_path)
    m_model, m_rec = run_lr_decay(MG, init, tmp_path)
    np.testing.assert_allclose(m_rec["losses"], t_rec["losses"], **TOL)
    np.testing.assert_allclose(m_rec["norms"], t_rec["norms"], **TOL)
    _same_params(m_model, t_model, "after the decayed epoch")
    np.testing.assert_allclose(m_rec["loaded_ppl"], t_rec["loaded_ppl"], **TOL)
    assert m_rec["lr"] == t_rec["lr"] == 0.005
    assert m_rec["adam_step"] == t_rec["adam_step"] == 6.0  # 3 batches restored, 3 more


def test_documented_differences_of_the_skeletons(tmp_path):
    """What the skeletons write that minigrad does not take as it is (README: Tensor.data, mg.save/load)."""
    model = build_nmt(MG32)
    # run.py's uniform init: `p.data.uniform_(-0.1, 0.1)`: .data is the NumPy array
    p = next(model.parameters())
    with pytest.raises(AttributeError, match="uniform_"):
        p.data.uniform_(-0.1, 0.1)
    for p in model.parameters():  # the port
        mg.nn.init.uniform_(p.data, -0.1, 0.1)
    assert all(float(p.abs().max()) <= 0.1 for p in model.parameters())
    assert float(model.encoder.weight_hh_l0.abs().max()) > 0.05  # re-drawn (torch's init bound is 1/sqrt(5))
    # the skeleton's step(): e_t.data.masked_fill_(...)
    e_t = mg.randn(2, 3, requires_grad=True) * 1
    with pytest.raises(AttributeError, match="masked_fill_"):
        e_t.data.masked_fill_(mg.tensor([[False, False, True], [False, False, False]]), -float("inf"))
    # NMT.save with the Vocab object inside: mg.save never pickles, and names the key
    path = str(tmp_path / "model.bin")
    with pytest.raises(TypeError, match=r"\['vocab'\]"):
        _save_nmt(MG32, model, path, model.vocab)
    # a3 written with the legacy constructor, nn.Parameter(torch.Tensor(in, out)): a clear TypeError
    with pytest.raises(TypeError, match="mg.empty"):
        mg.nn.Parameter(mg.Tensor(30, 200))
    # NMT.load / the lr decay: map_location=lambda storage, loc: storage
    mg.save({"state_dict": model.state_dict()}, path)
    loaded = mg.load(path, map_location=lambda storage, loc: storage)["state_dict"]
    assert list(loaded) == list(model.state_dict())
    assert all(np.array_equal(v.numpy(), model.state_dict()[k].numpy()) for k, v in loaded.items())


# =====================================================================================
# 3. a5: character-level word embeddings (CNN + Highway) and the character decoder
# =====================================================================================
MAX_WORD_LENGTH = 8
CHARS = list("abcdefgh")


class CharVocab:
    """a5's VocabEntry, character part: <pad>=0, {=start of word, }=end of word, <unk>."""

    def __init__(self, L):
        self.L = L
        self.char2id = {"<pad>": 0, "{": 1, "}": 2, "<unk>": 3}
        for c in CHARS:
            self.char2id[c] = len(self.char2id)
        self.char_pad = self.char2id["<pad>"]
        self.char_unk = self.char2id["<unk>"]
        self.start_of_word = self.char2id["{"]
        self.end_of_word = self.char2id["}"]
        self.id2char = {v: k for k, v in self.char2id.items()}

    def words2charindices(self, sents):
        return [[[self.start_of_word] + [self.char2id.get(c, self.char_unk) for c in w] + [self.end_of_word]
                 for w in s] for s in sents]

    def to_input_tensor_char(self, sents, device):
        """(max_sentence_length, batch_size, max_word_length) LongTensor."""
        char_ids = self.words2charindices(sents)
        sents_t = pad_sents_char(char_ids, self.char_pad)
        sents_var = self.L.torch.tensor(sents_t, dtype=self.L.torch.long, device=device)
        return sents_var.permute(1, 0, 2).contiguous()


def pad_sents_char(sents, char_pad_token):
    """Words truncated / padded to MAX_WORD_LENGTH, sentences padded with all-pad words."""
    max_sent_len = max(len(s) for s in sents)
    out = []
    for s in sents:
        words = [(w + [char_pad_token] * MAX_WORD_LENGTH)[:MAX_WORD_LENGTH] for w in s]
        out.append(words + [[char_pad_token] * MAX_WORD_LENGTH] * (max_sent_len - len(s)))
    return out


def make_char_model(L, pool="max", char_embed_size=3, word_embed_size=4, hidden_size=5):
    torch, nn, F = L.torch, L.nn, L.F

    class CNN(nn.Module):
        def __init__(self, char_embed_size, num_filters, max_word_length=MAX_WORD_LENGTH, kernel_size=5,
                     padding=1):
            super(CNN, self).__init__()
            self.conv1d = nn.Conv1d(char_embed_size, num_filters, kernel_size=kernel_size, padding=padding)
            self.maxpool = nn.MaxPool1d(max_word_length - kernel_size + 1 + 2 * padding)

        def forward(self, x_reshaped):
            """(batch, e_char, m_word) -> (batch, e_word): relu, then max over time."""
            x_conv = self.conv1d(x_reshaped)
            if pool == "max":
                x_conv_out = torch.max(F.relu(x_conv), dim=2)[0]
            else:
                x_conv_out = self.maxpool(F.relu(x_conv)).squeeze(2)
            return x_conv_out

    class Highway(nn.Module):
        def __init__(self, word_embed_size):
            super(Highway, self).__init__()
            self.proj = nn.Linear(word_embed_size, word_embed_size)
            self.gate = nn.Linear(word_embed_size, word_embed_size)

        def forward(self, x_conv_out):
            x_proj = F.relu(self.proj(x_conv_out))
            x_gate = torch.sigmoid(self.gate(x_conv_out))
            x_highway = x_gate * x_proj + (1 - x_gate) * x_conv_out
            return x_highway

    class ModelEmbeddings(nn.Module):
        def __init__(self, word_embed_size, vocab):
            super(ModelEmbeddings, self).__init__()
            self.word_embed_size = word_embed_size
            self.char_embed_size = char_embed_size
            self.embeddings = nn.Embedding(len(vocab.char2id), self.char_embed_size, padding_idx=vocab.char_pad)
            self.cnn = CNN(self.char_embed_size, word_embed_size)
            self.highway = Highway(word_embed_size)
            self.dropout = nn.Dropout(0.3)

        def forward(self, input):
            """(sentence_length, batch_size, max_word_length) -> (sentence_length, batch_size, word_embed_size)."""
            x_emb = self.embeddings(input)
            sentence_length, batch_size, max_word_length, _ = x_emb.shape
            x_reshaped = x_emb.view(sentence_length * batch_size, max_word_length, self.char_embed_size)
            x_reshaped = x_reshaped.transpose(1, 2)
            x_conv_out = self.cnn(x_reshaped)
            x_highway = self.highway(x_conv_out)
            x_word_emb = self.dropout(x_highway)
            return x_word_emb.view(sentence_length, batch_size, self.word_embed_size)

    class CharDecoder(nn.Module):
        def __init__(self, hidden_size, char_embedding_size=50, target_vocab=None):
            super(CharDecoder, self).__init__()
            self.target_vocab = target_vocab
            self.charDecoder = nn.LSTM(char_embedding_size, hidden_size)
            self.char_output_projection = nn.Linear(hidden_size, len(self.target_vocab.char2id))
            self.decoderCharEmb = nn.Embedding(len(self.target_vocab.char2id), char_embedding_size,
                                               padding_idx=self.target_vocab.char_pad)

        def forward(self, input, dec_hidden=None):
            X = self.decoderCharEmb(input)
            dec_state, dec_hidden = self.charDecoder(X, dec_hidden)
            scores = self.char_output_projection(dec_state)
            return scores, dec_hidden

        def train_forward(self, char_sequence, dec_hidden=None):
            scores, dec_hidden = self.forward(char_sequence[:-1], dec_hidden)
            loss = nn.CrossEntropyLoss(ignore_index=self.target_vocab.char_pad, reduction="sum")
            return loss(scores.reshape(-1, scores.shape[-1]), char_sequence[1:].contiguous().view(-1))

        def decode_greedy(self, initialStates, device, max_length=MAX_WORD_LENGTH):
            batch_size = initialStates[0].shape[1]
            dec_hidden = initialStates
            current_char = torch.tensor([[self.target_vocab.start_of_word] * batch_size], device=device)
            output_word = []
            for t in range(max_length):
                scores, dec_hidden = self.forward(current_char, dec_hidden)
                current_char = scores.argmax(dim=-1)  # (1, batch)
                output_word.append(current_char)
            output_word = torch.cat(output_word, dim=0).t().tolist()
            decodedWords = []
            for w in output_word:
                word = ""
                for c in w:
                    if c == self.target_vocab.end_of_word:
                        break
                    word += self.target_vocab.id2char[c]
                decodedWords.append(word)
            return decodedWords

    class CharModel(nn.Module):
        """The two a5 parts in one module, so that one state dict carries both."""

        def __init__(self, vocab):
            super().__init__()
            self.model_embeddings = ModelEmbeddings(word_embed_size, vocab)
            self.charDecoder = CharDecoder(hidden_size, char_embed_size, vocab)

    return CharModel


CHAR_SENTS = [["abc", "de", "fgh"], ["bad", "cafe"], ["h"]]


def run_char_model(L, init, pool, steps=4):
    torch = L.torch
    vocab = CharVocab(L)
    model = make_char_model(L, pool=pool)(vocab)
    _copy_weights(init, model)
    model.eval()  # ModelEmbeddings' dropout(0.3) off: gradients are still recorded in eval mode
    optimizer = L.optim.Adam(model.parameters(), lr=0.02)
    record = {}
    words = [w for s in CHAR_SENTS for w in s]
    char_sequence = vocab.to_input_tensor_char([words], device="cpu")[:, 0, :].t()  # (m_word, n_words)
    with torch.no_grad():  # greedy decoding from the initial weights (after 4 steps it says "}" at once)
        h = torch.tensor(np.random.default_rng(7).normal(0, 2.0, (1, 6, 5)))
        record["decoded"] = model.charDecoder.decode_greedy((h, torch.zeros_like(h)), device="cpu")
    for step in range(steps):
        optimizer.zero_grad()
        x = vocab.to_input_tensor_char(CHAR_SENTS, device="cpu")  # (sent_len, b, m_word)
        word_emb = model.model_embeddings(x)
        # the char decoder starts from the word embeddings' summary state, as a5's NMT feeds it dec_hidden
        h0 = torch.tanh(word_emb.sum(dim=(0, 1))[:1]).expand(len(words), 1).unsqueeze(0)
        h0 = torch.cat([h0] * 5, dim=-1)
        loss = model.charDecoder.train_forward(char_sequence, (h0, torch.zeros_like(h0)))
        loss = loss + (word_emb ** 2).sum()
        loss.backward()
        if step == 0:
            record["word_emb"] = _np(word_emb).copy()
            record["grads"] = {n: _np(p.grad).copy() for n, p in model.named_parameters()}
        optimizer.step()
        record.setdefault("losses", []).append(loss.item())
    return model, record


@pytest.mark.parametrize("pool", ["max", "MaxPool1d"])
def test_char_cnn_highway_and_decoder(float64, pool):
    torch.manual_seed(6)
    init = make_char_model(TH, pool=pool)(CharVocab(TH))
    t_model, t_rec = run_char_model(TH, init, pool)
    m_model, m_rec = run_char_model(MG, init, pool)
    assert m_rec["word_emb"].shape == (3, 3, 4)
    _close("word embeddings", m_rec["word_emb"], t_rec["word_emb"])
    np.testing.assert_allclose(m_rec["losses"], t_rec["losses"], **TOL)
    assert list(m_rec["grads"]) == list(t_rec["grads"])
    for k in t_rec["grads"]:
        _close(f"first-step grad {k}", m_rec["grads"][k], t_rec["grads"][k])
    assert np.abs(m_rec["grads"]["model_embeddings.cnn.conv1d.weight"]).max() > 0
    _same_params(m_model, t_model, "after training")
    assert m_rec["decoded"] == t_rec["decoded"]
    assert all(isinstance(w, str) for w in m_rec["decoded"])
    assert sum(len(w) for w in m_rec["decoded"]) > 3, m_rec["decoded"]  # decoding produced characters


def test_highway_sanity_check():
    """a5's sanity check of the Highway: gate saturated open -> relu(proj(x)); closed -> x itself."""
    for L in (TH, MG):
        torch, nn = L.torch, L.nn
        model = make_char_model(L)(CharVocab(L))
        hw = model.model_embeddings.highway
        x = torch.tensor([[1.0, -2.0, 0.5, 3.0], [0.0, 1.0, -1.0, 2.0]])
        with torch.no_grad():
            nn.init.constant_(hw.gate.weight, 0.0)
            nn.init.constant_(hw.gate.bias, 50.0)  # sigmoid(50) == 1.0 in float32
            nn.init.eye_(hw.proj.weight)
            nn.init.zeros_(hw.proj.bias)
            np.testing.assert_array_equal(_np(hw(x)), np.maximum(_np(x), 0))
            nn.init.constant_(hw.gate.bias, -50.0)  # the gate closed: the input carried through
            np.testing.assert_allclose(_np(hw(x)), _np(x), rtol=0, atol=1e-20)


# =====================================================================================
# Generated sizes, minigrad on every backend
# =====================================================================================
@given(lengths=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       extra=st.lists(st.integers(0, 2), min_size=3, max_size=3), seed=st.integers(0, 2 ** 16))
def test_nmt_forward_backward_generated(device, lengths, extra, seed):
    """One NMT loss and its gradients over generated batches (batch 1, length-1 sources, equal lengths),
    minigrad on `device`, against torch on the CPU; plus the parser's two embedding lookups."""
    old_t, old_m = torch.get_default_dtype(), mg.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    mg.set_default_dtype(mg.float64)
    try:
        rng = np.random.default_rng(seed)
        src = [[SRC_WORDS[int(i)] for i in rng.integers(0, len(SRC_WORDS), n)] for n in sorted(lengths)[::-1]]
        tgt = [["<s>"] + [TGT_WORDS[int(i)] for i in rng.integers(0, len(TGT_WORDS), n + e)] + ["</s>"]
               for n, e in zip(sorted(lengths)[::-1], extra)]
        torch.manual_seed(seed)
        t_model = build_nmt(TH, post_embed_cnn=bool(seed % 2))
        m_model = build_nmt(MG, post_embed_cnn=bool(seed % 2))
        _copy_weights(t_model, m_model)
        m_model.to(device)
        t_loss = -t_model(src, tgt).sum() / len(src)
        m_loss = -m_model(src, tgt).sum() / len(src)
        assert m_loss.device.type == mg.device(device).type
        _close("NMT loss", m_loss, t_loss)
        t_loss.backward()
        m_loss.backward()
        _same_grads(m_model, t_model, "NMT")
        # a3's lookups on the same generated indices
        emb = rng.normal(size=(N_TOKENS, 3))
        w = rng.integers(0, N_TOKENS, (len(src), N_FEATURES))
        for lookup in ("index", "index_select"):
            t_parser = make_parser_model(TH, lookup)(emb, n_features=N_FEATURES, hidden_size=4)
            m_parser = make_parser_model(MG, lookup)(emb, n_features=N_FEATURES, hidden_size=4)
            _copy_weights(t_parser, m_parser)
            m_parser.to(device).eval(), t_parser.eval()
            t_out = t_parser(torch.from_numpy(w))
            m_out = m_parser(mg.from_numpy(w).to(device))
            _close(f"parser logits ({lookup})", m_out, t_out)
            t_out.sum().backward()
            m_out.sum().backward()
            _same_grads(m_parser, t_parser, f"parser ({lookup})")
    finally:
        torch.set_default_dtype(old_t)
        mg.set_default_dtype(old_m)
