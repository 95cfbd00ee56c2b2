"""Porting audit: the PyTorch NLP tutorials not ported before, run in torch and in minigrad, compared.

Each program is written ONCE, as a torch user writes it (from memory of the official tutorials),
inside a factory that takes the library as an argument (`L.torch`, `L.nn`, `L.F`, `L.optim`), so
porting is exactly "change the imports" (the recurrent layer `nn.LSTM` resolves to `models.LSTM`).
Both runs are float64, start from the same weights (torch's state dict loaded into ours) and train a
few steps on tiny made-up data; losses, outputs, gradients, updated parameters and decoded paths are
compared (rtol 1e-7).

Programs:
1. "Advanced: Making Dynamic Decisions and the Bi-LSTM CRF": BiLSTM_CRF (Embedding, bidirectional
   LSTM with hidden_dim // 2, a `transitions` Parameter written through `.data`, the forward
   algorithm with the tutorial's log_sum_exp, _score_sentence, Viterbi decoding with argmax /
   indexing / backpointers, neg_log_likelihood, SGD with weight_decay); the vectorised forward
   algorithm of the exercise and a vectorised Viterbi (max over dim 1; the gradient of the best
   path's score); Viterbi paths against brute force. The tutorial's `init_hidden` draws (h0, c0)
   with randn (different streams in the two libraries), so both runs get the same draws instead.
2. "Word Embeddings: Encoding Lexical Semantics": the first Embedding lookup, the N-gram language
   model (NGramLanguageModeler: Embedding, Linear, relu, log_softmax, NLLLoss, SGD), and the CBOW
   exercise (summed context embeddings, SGD with momentum; a batched Adam step, nearest words by
   cosine similarity + topk; the same model with nn.EmbeddingBag(mode='sum'), 2-D and offsets).
3. "NLP From Scratch: Generating Names with a Character-Level RNN": the hand-written RNN (i2h, i2o,
   o2o over torch.cat of category / input / hidden, Dropout, LogSoftmax), one-hot helpers written
   element by element, `loss = torch.Tensor([0]); loss += criterion(...)` over the name, the manual
   SGD update, greedy sampling with topk and sampling with torch.multinomial.
The CRF and the generator also run in the tutorials' float32 default (dtypes kept, float32 tolerances).

Found while porting (each has a focused test below):
* `mg.Tensor([0])` (torch's legacy constructor, the tutorial's `loss = torch.Tensor([0])`) inferred
  int64 from the list where torch gives the default float dtype; fixed (`Tensor(list)` now makes
  the default float dtype, `mg.tensor(list)` still infers the dtype, as torch.tensor).
* `torch.LongTensor(letter_indexes)` (the tutorial's targetTensor): the legacy type objects
  (`mg.LongTensor`, `FloatTensor`, ..., `BoolTensor`) were missing; added (constructors from data or
  sizes, and isinstance checks on CPU tensors).
Known differences met (README): `p.data` is the raw array, so the tutorial's manual update
`p.data.add_(p.grad.data, alpha=-learning_rate)` is written
`with torch.no_grad(): p.add_(p.grad, alpha=-learning_rate)` (or NumPy's in place
`p.data -= learning_rate * p.grad.data`); `self.transitions.data[i, :] = -10000` works unchanged
(NumPy indexing on the raw array).
"""
import itertools
import random
import string
from types import SimpleNamespace

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as mF
from porting import closer, to_numpy

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


_np = to_numpy
_close = closer(TOL)


def _copy_weights(theirs, ours):
    """torch's state dict into ours (as NumPy arrays), and check the keys are identical, in order."""
    sd = theirs.state_dict()
    assert list(ours.state_dict().keys()) == list(sd.keys())
    if isinstance(ours, torch.nn.Module):  # the torch run starts from the same weights, copied
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


def _both(fn):
    """Run fn(L) for torch and for minigrad."""
    return fn(TH), fn(MG)


# =====================================================================================
# 1. Advanced: Making Dynamic Decisions and the Bi-LSTM CRF
# =====================================================================================
START_TAG = "<START>"
STOP_TAG = "<STOP>"

CRF_DATA = [
    ("the wall street journal reported today that apple corporation made money".split(),
     "B I I I O O O B I O O".split()),
    ("georgia tech is a university in georgia".split(), "B I O O O O B".split()),
]
CRF_WORD_TO_IX = {}
for _sentence, _tags in CRF_DATA:
    for _word in _sentence:
        if _word not in CRF_WORD_TO_IX:
            CRF_WORD_TO_IX[_word] = len(CRF_WORD_TO_IX)
CRF_TAG_TO_IX = {"B": 0, "I": 1, "O": 2, START_TAG: 3, STOP_TAG: 4}


def make_bilstm_crf(L):
    torch, nn = L.torch, L.nn

    def argmax(vec):
        # return the argmax as a python int
        _, idx = torch.max(vec, 1)
        return idx.item()

    def prepare_sequence(seq, to_ix):
        idxs = [to_ix[w] for w in seq]
        return torch.tensor(idxs, dtype=torch.long)

    def log_sum_exp(vec):
        # log sum exp of a (1, n) row, the max subtracted first for numerical stability
        max_score = vec[0, argmax(vec)]
        max_score_broadcast = max_score.view(1, -1).expand(1, vec.size()[1])
        return max_score + torch.log(torch.sum(torch.exp(vec - max_score_broadcast)))

    class BiLSTM_CRF(nn.Module):
        def __init__(self, vocab_size, tag_to_ix, embedding_dim, hidden_dim):
            super().__init__()
            self.embedding_dim = embedding_dim
            self.hidden_dim = hidden_dim
            self.vocab_size = vocab_size
            self.tag_to_ix = tag_to_ix
            self.tagset_size = len(tag_to_ix)

            self.word_embeds = nn.Embedding(vocab_size, embedding_dim)
            self.lstm = nn.LSTM(embedding_dim, hidden_dim // 2, num_layers=1, bidirectional=True)
            # Maps the output of the LSTM into tag space.
            self.hidden2tag = nn.Linear(hidden_dim, self.tagset_size)
            # transitions[i, j]: the score of transitioning *to* i *from* j.
            self.transitions = nn.Parameter(torch.randn(self.tagset_size, self.tagset_size))
            # never transfer to the start tag, never transfer from the stop tag
            self.transitions.data[tag_to_ix[START_TAG], :] = -10000
            self.transitions.data[:, tag_to_ix[STOP_TAG]] = -10000
            self.hidden = self.init_hidden()

        def init_hidden(self):
            return (torch.randn(2, 1, self.hidden_dim // 2),
                    torch.randn(2, 1, self.hidden_dim // 2))

        def _forward_alg(self, feats):
            # the forward algorithm: log of the partition function
            init_alphas = torch.full((1, self.tagset_size), -10000.)
            # START_TAG has all of the score.
            init_alphas[0][self.tag_to_ix[START_TAG]] = 0.
            forward_var = init_alphas
            for feat in feats:
                alphas_t = []  # the forward tensors at this timestep
                for next_tag in range(self.tagset_size):
                    # the emission score is the same whatever the previous tag
                    emit_score = feat[next_tag].view(1, -1).expand(1, self.tagset_size)
                    # entry i of trans_score: the score of transitioning to next_tag from i
                    trans_score = self.transitions[next_tag].view(1, -1)
                    next_tag_var = forward_var + trans_score + emit_score
                    alphas_t.append(log_sum_exp(next_tag_var).view(1))
                forward_var = torch.cat(alphas_t).view(1, -1)
            terminal_var = forward_var + self.transitions[self.tag_to_ix[STOP_TAG]]
            alpha = log_sum_exp(terminal_var)
            return alpha

        def _forward_alg_vectorized(self, feats):
            # the exercise: one logsumexp over the previous tag per step instead of a loop over tags
            forward_var = torch.full((1, self.tagset_size), -10000.)
            forward_var[0][self.tag_to_ix[START_TAG]] = 0.
            for feat in feats:
                # [next, prev] = forward_var[prev] + transitions[next, prev] + feat[next]
                scores = forward_var + self.transitions + feat.view(-1, 1)
                forward_var = torch.logsumexp(scores, dim=1).view(1, -1)
            terminal_var = forward_var + self.transitions[self.tag_to_ix[STOP_TAG]]
            return torch.logsumexp(terminal_var, dim=1)[0]  # 0-d, like log_sum_exp's

        def _get_lstm_features(self, sentence):
            self.hidden = self.init_hidden()
            embeds = self.word_embeds(sentence).view(len(sentence), 1, -1)
            lstm_out, self.hidden = self.lstm(embeds, self.hidden)
            lstm_out = lstm_out.view(len(sentence), self.hidden_dim)
            lstm_feats = self.hidden2tag(lstm_out)
            return lstm_feats

        def _score_sentence(self, feats, tags):
            # the score of a given tag sequence
            score = torch.zeros(1)
            tags = torch.cat([torch.tensor([self.tag_to_ix[START_TAG]], dtype=torch.long), tags])
            for i, feat in enumerate(feats):
                score = score + self.transitions[tags[i + 1], tags[i]] + feat[tags[i + 1]]
            score = score + self.transitions[self.tag_to_ix[STOP_TAG], tags[-1]]
            return score

        def _viterbi_decode(self, feats):
            backpointers = []
            init_vvars = torch.full((1, self.tagset_size), -10000.)
            init_vvars[0][self.tag_to_ix[START_TAG]] = 0
            # forward_var at step i holds the viterbi variables for step i-1
            forward_var = init_vvars
            for feat in feats:
                bptrs_t = []  # the backpointers for this step
                viterbivars_t = []  # the viterbi variables for this step
                for next_tag in range(self.tagset_size):
                    # no emission score here: the max does not depend on it (added below)
                    next_tag_var = forward_var + self.transitions[next_tag]
                    best_tag_id = argmax(next_tag_var)
                    bptrs_t.append(best_tag_id)
                    viterbivars_t.append(next_tag_var[0][best_tag_id].view(1))
                forward_var = (torch.cat(viterbivars_t) + feat).view(1, -1)
                backpointers.append(bptrs_t)
            # Transition to STOP_TAG
            terminal_var = forward_var + self.transitions[self.tag_to_ix[STOP_TAG]]
            best_tag_id = argmax(terminal_var)
            path_score = terminal_var[0][best_tag_id]
            # Follow the back pointers to decode the best path.
            best_path = [best_tag_id]
            for bptrs_t in reversed(backpointers):
                best_tag_id = bptrs_t[best_tag_id]
                best_path.append(best_tag_id)
            start = best_path.pop()  # the start tag
            assert start == self.tag_to_ix[START_TAG]  # Sanity check
            best_path.reverse()
            return path_score, best_path

        def _viterbi_decode_vectorized(self, feats):
            # one max over the previous tag per step: (values, indices) along dim 1
            forward_var = torch.full((1, self.tagset_size), -10000.)
            forward_var[0, self.tag_to_ix[START_TAG]] = 0
            backpointers = []
            for feat in feats:
                next_tag_var = forward_var + self.transitions  # [next, prev]
                viterbivars_t, bptrs_t = torch.max(next_tag_var, dim=1)
                backpointers.append(bptrs_t.tolist())
                forward_var = (viterbivars_t + feat).view(1, -1)
            terminal_var = forward_var + self.transitions[self.tag_to_ix[STOP_TAG]]
            path_score, best_tag_id = terminal_var.max(1)
            best_path = [best_tag_id.item()]
            for bptrs_t in reversed(backpointers):
                best_path.append(bptrs_t[best_path[-1]])
            assert best_path.pop() == self.tag_to_ix[START_TAG]
            return path_score[0], best_path[::-1]

        def neg_log_likelihood(self, sentence, tags):
            feats = self._get_lstm_features(sentence)
            forward_score = self._forward_alg(feats)
            gold_score = self._score_sentence(feats, tags)
            return forward_score - gold_score

        def forward(self, sentence):  # not _forward_alg: the best path given the BiLSTM's emissions
            lstm_feats = self._get_lstm_features(sentence)
            score, tag_seq = self._viterbi_decode(lstm_feats)
            return score, tag_seq

    return BiLSTM_CRF, prepare_sequence, log_sum_exp


def _crf_fixed_hidden(L, rng_seed=5, hidden=2):
    """The tutorial draws (h0, c0) with randn on every sentence; both runs get the same draws instead."""
    rng = np.random.default_rng(rng_seed)
    draws = [rng.standard_normal((2, 1, hidden)) for _ in range(200)]
    it = iter(draws)

    def init_hidden():  # in the default float dtype, as randn's
        dt = L.torch.get_default_dtype()
        return L.torch.tensor(next(it), dtype=dt), L.torch.tensor(next(it), dtype=dt)
    return init_hidden


def _run_crf(L, init, epochs=2, lr=0.05):
    torch, optim = L.torch, L.optim
    BiLSTM_CRF, prepare_sequence, _ = make_bilstm_crf(L)
    word_to_ix, tag_to_ix = CRF_WORD_TO_IX, CRF_TAG_TO_IX
    torch.manual_seed(1)
    model = BiLSTM_CRF(len(word_to_ix), tag_to_ix, 5, 4)
    _copy_weights(init, model)
    model.init_hidden = _crf_fixed_hidden(L)
    optimizer = optim.SGD(model.parameters(), lr=lr, weight_decay=1e-4)
    out = {}
    with torch.no_grad():  # predictions before training
        precheck_sent = prepare_sequence(CRF_DATA[0][0], word_to_ix)
        out["before"] = model(precheck_sent)
    losses = []
    for _epoch in range(epochs):
        for sentence, tags in CRF_DATA:
            model.zero_grad()
            sentence_in = prepare_sequence(sentence, word_to_ix)
            targets = torch.tensor([tag_to_ix[t] for t in tags], dtype=torch.long)
            loss = model.neg_log_likelihood(sentence_in, targets)
            loss.backward()
            out.setdefault("grads", []).append({k: _np(p.grad).copy() for k, p in model.named_parameters()})
            optimizer.step()
            losses.append(loss)
    with torch.no_grad():
        out["after"] = model(precheck_sent)
    return model, losses, out


def test_bilstm_crf_matches_torch():
    torch.manual_seed(1)
    init = make_bilstm_crf(TH)[0](len(CRF_WORD_TO_IX), CRF_TAG_TO_IX, 5, 4)
    assert (init.transitions[CRF_TAG_TO_IX[START_TAG]] == -10000).all()
    t_model, t_losses, t = _run_crf(TH, init)
    m_model, m_losses, m = _run_crf(MG, init)
    assert len(m_losses) == len(t_losses) == 4
    for i, (lo, lt) in enumerate(zip(m_losses, t_losses)):
        _close(f"neg_log_likelihood step {i}", lo, lt)  # shape (1,), as torch's
    for i, (go, gt) in enumerate(zip(m["grads"], t["grads"])):
        for k in gt:
            _close(f"step {i} grad {k}", go[k], gt[k])
    _same_params(m_model, t_model, "BiLSTM_CRF after SGD(weight_decay)")
    for when in ("before", "after"):
        (ms, mp), (ts, tp) = m[when], t[when]
        _close(f"Viterbi path score {when}", ms, ts)
        assert mp == tp, f"Viterbi path {when}: {mp} vs torch {tp}"
        assert all(type(i) is int for i in mp)


@pytest.mark.parametrize("program", ["crf", "char_gen"])
def test_programs_in_float32_stay_float32(program):
    """The tutorials' real default is float32: no float64 creeps in (Python floats in torch.full, the
    -10000 writes, torch.Tensor([0]), torch.zeros(1)), and the runs agree with torch's to float32 precision
    (rtol 2e-5: a few hundred float32 roundings, accumulated in different orders, over four SGD steps)."""
    torch.set_default_dtype(torch.float32)
    mg.set_default_dtype(mg.float32)
    f32 = dict(rtol=2e-5, atol=2e-5)
    if program == "crf":
        torch.manual_seed(1)
        init = make_bilstm_crf(TH)[0](len(CRF_WORD_TO_IX), CRF_TAG_TO_IX, 5, 4)
        (t_model, t_losses, t), (m_model, m_losses, m) = _run_crf(TH, init), _run_crf(MG, init)
        for lo, lt in zip(m_losses, t_losses):
            _close("float32 CRF loss", lo, lt, **f32)
        assert m["after"][1] == t["after"][1]
    else:
        t_model, m_model = _char_gen_pair()
        t_model.eval()
        m_model.eval()
        t_run, m_run = _train_char_gen(TH, t_model, 4), _train_char_gen(MG, m_model, 4)
        for m_step, t_step in zip(m_run, t_run):
            _close("float32 char-RNN summed loss", m_step[4], t_step[4], **f32)
    assert all(p.dtype == mg.float32 for p in m_model.parameters())
    _same_params(m_model, t_model, f"float32 {program}", **f32)


def test_crf_forward_alg_vectorized_and_viterbi_brute_force():
    """The exercise's vectorised forward algorithm equals the loop (values and gradients, both libraries),
    and Viterbi decoding finds the best path by brute force over every tag sequence."""
    torch.manual_seed(3)
    init = make_bilstm_crf(TH)[0](len(CRF_WORD_TO_IX), CRF_TAG_TO_IX, 5, 4)
    rng = np.random.default_rng(0)
    feats_np = rng.standard_normal((4, 5)) * 3
    results = {}
    for L in (TH, MG):
        BiLSTM_CRF = make_bilstm_crf(L)[0]
        model = BiLSTM_CRF(len(CRF_WORD_TO_IX), CRF_TAG_TO_IX, 5, 4)
        _copy_weights(init, model)
        r = {}
        for name in ("_forward_alg", "_forward_alg_vectorized"):
            feats = L.torch.tensor(feats_np, requires_grad=True)
            model.zero_grad()
            alpha = getattr(model, name)(feats)
            alpha.backward()
            r[name] = (alpha, feats.grad, model.transitions.grad)
        with L.torch.no_grad():
            r["viterbi"] = model._viterbi_decode(L.torch.tensor(feats_np))
        # the vectorised decoder, and the gradient of the best path's score (through max: the used transitions)
        feats = L.torch.tensor(feats_np, requires_grad=True)
        model.zero_grad()
        score, path = model._viterbi_decode_vectorized(feats)
        score.backward()
        r["viterbi_vec"] = (score, path, feats.grad, model.transitions.grad)
        results[L.name] = r
    for name in ("_forward_alg", "_forward_alg_vectorized"):
        for part, what in enumerate(("alpha", "d alpha / d feats", "d alpha / d transitions")):
            _close(f"{name} {what}", results["minigrad"][name][part], results["torch"][name][part])
            _close(f"{name} vs loop {what}", results["minigrad"][name][part], results["minigrad"]["_forward_alg"][part])
    # the partition function's gradient w.r.t. the emissions is the tag marginals: each row sums to 1
    np.testing.assert_allclose(_np(results["minigrad"]["_forward_alg"][1]).sum(1), 1.0, rtol=1e-12)
    # brute force: every path of 4 real tags (start/stop are excluded by the -10000 transitions)
    trans = init.transitions.detach().numpy()
    s, e = CRF_TAG_TO_IX[START_TAG], CRF_TAG_TO_IX[STOP_TAG]
    best = max(itertools.product(range(5), repeat=4),
               key=lambda p: trans[p[0], s] + sum(trans[p[i + 1], p[i]] for i in range(3))
               + trans[e, p[-1]] + sum(feats_np[i, p[i]] for i in range(4)))
    best_score = (trans[best[0], s] + sum(trans[best[i + 1], best[i]] for i in range(3)) + trans[e, best[-1]]
                  + sum(feats_np[i, best[i]] for i in range(4)))
    for lib in ("torch", "minigrad"):
        score, path = results[lib]["viterbi"]
        assert path == list(best), f"{lib} Viterbi path {path} vs brute force {list(best)}"
        np.testing.assert_allclose(_np(score), best_score, rtol=1e-12)
        v_score, v_path = results[lib]["viterbi_vec"][:2]
        assert v_path == list(best), f"{lib} vectorised Viterbi path {v_path} vs brute force {list(best)}"
        np.testing.assert_allclose(_np(v_score), best_score, rtol=1e-12)
    m_vec, t_vec = results["minigrad"]["viterbi_vec"], results["torch"]["viterbi_vec"]
    _close("d best path score / d feats", m_vec[2], t_vec[2])
    _close("d best path score / d transitions", m_vec[3], t_vec[3])
    one_hot = np.zeros((4, 5))
    one_hot[np.arange(4), list(best)] = 1
    np.testing.assert_array_equal(_np(m_vec[2]), one_hot)  # the emissions on the best path, once each


def test_crf_transitions_data_write_and_log_sum_exp():
    """`self.transitions.data[i, :] = -10000` (a write through .data, the raw array here) and the
    tutorial's log_sum_exp (max by argmax + index, view, expand): values and gradients as torch's."""
    vec_np = np.array([[0.5, -1.0, 3.0, 2.0]])
    got = {}
    for L in (TH, MG):
        p = L.nn.Parameter(L.torch.zeros(3, 3))
        p.data[1, :] = -10000
        p.data[:, 2] = -10000
        got[L.name + "p"] = p
        log_sum_exp = make_bilstm_crf(L)[2]
        vec = L.torch.tensor(vec_np, requires_grad=True)
        y = log_sum_exp(vec)
        y.backward()
        got[L.name] = (y, vec.grad)
    _close("parameter written through .data", got["minigradp"], got["torchp"])
    assert got["minigradp"].requires_grad and got["minigradp"].is_leaf
    _close("log_sum_exp", got["minigrad"][0], got["torch"][0])
    _close("d log_sum_exp / d vec (softmax)", got["minigrad"][1], got["torch"][1])


# =====================================================================================
# 2. Word Embeddings: Encoding Lexical Semantics (N-gram language model, CBOW)
# =====================================================================================
CONTEXT_SIZE = 2
SONNET = """When forty winters shall besiege thy brow,
And dig deep trenches in thy beauty's field,
Thy youth's proud livery so gazed on now,
Will be a totter'd weed of small worth held:""".split()
RAW_TEXT = """We are about to study the idea of a computational process.
Computational processes are abstract beings that inhabit computers.
As they evolve, processes manipulate other abstract things called data.""".split()


def test_embedding_lookup_matches_torch():
    torch.manual_seed(1)
    word_to_ix = {"hello": 0, "world": 1}
    t_embeds = torch.nn.Embedding(2, 5)  # 2 words in vocab, 5 dimensional embeddings
    embeds = mg.nn.Embedding(2, 5)
    _copy_weights(t_embeds, embeds)
    out = {}
    for L, emb in ((TH, t_embeds), (MG, embeds)):
        lookup_tensor = L.torch.tensor([word_to_ix["hello"]], dtype=L.torch.long)
        hello_embed = emb(lookup_tensor)
        hello_embed.sum().backward()
        out[L.name] = (hello_embed, emb.weight.grad)
    _close("hello embedding", out["minigrad"][0], out["torch"][0])
    _close("embedding grad (row 0 only)", out["minigrad"][1], out["torch"][1])


def make_ngram(L):
    nn, F = L.nn, L.F

    class NGramLanguageModeler(nn.Module):
        def __init__(self, vocab_size, embedding_dim, context_size):
            super().__init__()
            self.embeddings = nn.Embedding(vocab_size, embedding_dim)
            self.linear1 = nn.Linear(context_size * embedding_dim, 128)
            self.linear2 = nn.Linear(128, vocab_size)

        def forward(self, inputs):
            embeds = self.embeddings(inputs).view((1, -1))
            out = F.relu(self.linear1(embeds))
            out = self.linear2(out)
            log_probs = F.log_softmax(out, dim=1)
            return log_probs

    return NGramLanguageModeler


def _ngram_data():
    # ([ word_i-CONTEXT_SIZE, ..., word_i-1 ], target word)
    ngrams = [([SONNET[i - j - 1] for j in range(CONTEXT_SIZE)], SONNET[i]) for i in range(CONTEXT_SIZE, len(SONNET))]
    vocab = sorted(set(SONNET))  # the tutorial's set(), sorted so both runs (and reruns) agree on the ids
    word_to_ix = {word: i for i, word in enumerate(vocab)}
    return ngrams, vocab, word_to_ix


def _run_ngram(L, init, epochs=2):
    torch, nn, optim = L.torch, L.nn, L.optim
    ngrams, vocab, word_to_ix = _ngram_data()
    losses = []
    loss_function = nn.NLLLoss()
    model = make_ngram(L)(len(vocab), 10, CONTEXT_SIZE)
    _copy_weights(init, model)
    optimizer = optim.SGD(model.parameters(), lr=0.05)
    for _epoch in range(epochs):
        total_loss = 0
        for context, target in ngrams:
            # the words -> integer indices, wrapped in a tensor
            context_idxs = torch.tensor([word_to_ix[w] for w in context], dtype=torch.long)
            model.zero_grad()
            log_probs = model(context_idxs)
            loss = loss_function(log_probs, torch.tensor([word_to_ix[target]], dtype=torch.long))
            loss.backward()
            optimizer.step()
            total_loss += loss.item()
        losses.append(total_loss)
    return model, losses, model.embeddings.weight[word_to_ix["beauty's"]]


def test_ngram_language_model_matches_torch():
    torch.manual_seed(1)
    _, vocab, _ = _ngram_data()
    init = make_ngram(TH)(len(vocab), 10, CONTEXT_SIZE)
    t_model, t_losses, t_vec = _run_ngram(TH, init)
    m_model, m_losses, m_vec = _run_ngram(MG, init)
    assert isinstance(m_losses[0], float)
    np.testing.assert_allclose(m_losses, t_losses, **TOL)
    assert m_losses[1] < m_losses[0]  # it learns
    _same_params(m_model, t_model, "NGramLanguageModeler")
    _close("embedding of 'beauty's'", m_vec, t_vec)
    assert m_vec.requires_grad and m_vec.grad_fn is not None  # indexing a parameter stays in the graph, as torch


def make_cbow(L):
    torch, nn, F = L.torch, L.nn, L.F

    class CBOW(nn.Module):
        """Continuous bag of words: the summed context embeddings predict the middle word."""

        def __init__(self, vocab_size, embedding_dim, hidden=16):
            super().__init__()
            self.embeddings = nn.Embedding(vocab_size, embedding_dim)
            self.linear1 = nn.Linear(embedding_dim, hidden)
            self.linear2 = nn.Linear(hidden, vocab_size)

        def forward(self, inputs):
            # inputs: (2 * CONTEXT_SIZE,) one context, or (B, 2 * CONTEXT_SIZE) a batch
            embeds = self.embeddings(inputs).sum(dim=-2)
            if embeds.dim() == 1:
                embeds = embeds.view(1, -1)
            out = F.relu(self.linear1(embeds))
            return F.log_softmax(self.linear2(out), dim=-1)

    def make_context_vector(context, word_to_ix):
        idxs = [word_to_ix[w] for w in context]
        return torch.tensor(idxs, dtype=torch.long)

    return CBOW, make_context_vector


def _cbow_data():
    vocab = sorted(set(RAW_TEXT))
    word_to_ix = {word: i for i, word in enumerate(vocab)}
    data = []
    for i in range(CONTEXT_SIZE, len(RAW_TEXT) - CONTEXT_SIZE):
        context = ([RAW_TEXT[i - j - 1] for j in range(CONTEXT_SIZE)]
                   + [RAW_TEXT[i + j + 1] for j in range(CONTEXT_SIZE)])
        data.append((context, RAW_TEXT[i]))
    return vocab, word_to_ix, data


def _run_cbow(L, init, epochs=2):
    torch, nn, F, optim = L.torch, L.nn, L.F, L.optim
    CBOW, make_context_vector = make_cbow(L)
    vocab, word_to_ix, data = _cbow_data()
    model = CBOW(len(vocab), 8)
    _copy_weights(init, model)
    loss_function = nn.NLLLoss()
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _epoch in range(epochs):  # one context at a time, as the exercise
        for context, target in data:
            model.zero_grad()
            log_probs = model(make_context_vector(context, word_to_ix))
            loss = loss_function(log_probs, torch.tensor([word_to_ix[target]], dtype=torch.long))
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    # then a whole-batch step with Adam, and the nearest words of "processes" by cosine similarity
    contexts = torch.stack([make_context_vector(c, word_to_ix) for c, _ in data])
    targets = torch.tensor([word_to_ix[t] for _, t in data])
    adam = optim.Adam(model.parameters(), lr=0.01)
    for _ in range(2):
        adam.zero_grad()
        loss = F.nll_loss(model(contexts), targets)
        loss.backward()
        adam.step()
        losses.append(loss.item())
    with torch.no_grad():
        emb = model.embeddings.weight
        query = emb[word_to_ix["processes"]].unsqueeze(0)
        sims = F.cosine_similarity(query, emb, dim=1)
        top = sims.topk(4)
    return model, losses, sims, top


def test_cbow_matches_torch():
    torch.manual_seed(2)
    vocab, word_to_ix, data = _cbow_data()
    assert len(data[0][0]) == 2 * CONTEXT_SIZE
    init = make_cbow(TH)[0](len(vocab), 8)
    t_model, t_losses, t_sims, t_top = _run_cbow(TH, init)
    m_model, m_losses, m_sims, m_top = _run_cbow(MG, init)
    np.testing.assert_allclose(m_losses, t_losses, **TOL)
    _same_params(m_model, t_model, "CBOW")
    _close("cosine similarities", m_sims, t_sims)
    _close("top-4 similarities", m_top.values, t_top.values)
    assert m_top.indices.tolist() == t_top.indices.tolist()
    assert m_top.indices[0].item() == word_to_ix["processes"]


def make_cbow_bag(L):
    nn, F = L.nn, L.F

    class CBOWBag(nn.Module):
        """CBOW with nn.EmbeddingBag(mode='sum'): the bag sums the context embeddings itself."""

        def __init__(self, vocab_size, embedding_dim):
            super().__init__()
            self.bag = nn.EmbeddingBag(vocab_size, embedding_dim, mode="sum")
            self.linear = nn.Linear(embedding_dim, vocab_size)

        def forward(self, inputs, offsets=None):
            return F.log_softmax(self.linear(self.bag(inputs, offsets)), dim=1)

    return CBOWBag


@pytest.mark.parametrize("form", ["2d", "offsets"])
def test_cbow_embedding_bag_matches_torch(form):
    """The same CBOW written with EmbeddingBag: a (B, 2 * CONTEXT_SIZE) batch, or flat indices + offsets."""
    torch.manual_seed(5)
    vocab, word_to_ix, data = _cbow_data()
    init = make_cbow_bag(TH)(len(vocab), 6)
    runs = {}
    for L in (TH, MG):
        model = make_cbow_bag(L)(len(vocab), 6)
        _copy_weights(init, model)
        opt = L.optim.SGD(model.parameters(), lr=0.5)
        contexts = L.torch.tensor([[word_to_ix[w] for w in c] for c, _ in data])
        targets = L.torch.tensor([word_to_ix[t] for _, t in data])
        losses = []
        for _ in range(3):
            opt.zero_grad()
            if form == "2d":
                log_probs = model(contexts)
            else:
                offsets = L.torch.arange(0, contexts.numel(), 2 * CONTEXT_SIZE)
                log_probs = model(contexts.flatten(), offsets)
            loss = L.nn.NLLLoss()(log_probs, targets)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        runs[L.name] = (model, losses)
    np.testing.assert_allclose(runs["minigrad"][1], runs["torch"][1], **TOL)
    _same_params(runs["minigrad"][0], runs["torch"][0], f"CBOW with EmbeddingBag ({form})")


# =====================================================================================
# 3. NLP From Scratch: Generating Names with a Character-Level RNN
# =====================================================================================
ALL_LETTERS = string.ascii_letters + " .,;'-"
N_LETTERS = len(ALL_LETTERS) + 1  # Plus EOS marker
CATEGORY_LINES = {
    "Scottish": ["Smith", "Brown", "Wilson", "Campbell"],
    "Italian": ["Rossi", "Ferrari", "Esposito"],
    "Greek": ["Papadopoulos", "Nikolaidis"],
}
ALL_CATEGORIES = list(CATEGORY_LINES)
N_CATEGORIES = len(ALL_CATEGORIES)


def make_char_gen(L):
    torch, nn = L.torch, L.nn

    class RNN(nn.Module):
        def __init__(self, input_size, hidden_size, output_size, dropout=0.1):
            super().__init__()
            self.hidden_size = hidden_size
            self.i2h = nn.Linear(N_CATEGORIES + input_size + hidden_size, hidden_size)
            self.i2o = nn.Linear(N_CATEGORIES + input_size + hidden_size, output_size)
            self.o2o = nn.Linear(hidden_size + output_size, output_size)
            self.dropout = nn.Dropout(dropout)
            self.softmax = nn.LogSoftmax(dim=1)

        def forward(self, category, input, hidden):  # noqa: A002 - the tutorial's names
            input_combined = torch.cat((category, input, hidden), 1)
            hidden = self.i2h(input_combined)
            output = self.i2o(input_combined)
            output_combined = torch.cat((hidden, output), 1)
            output = self.o2o(output_combined)
            output = self.dropout(output)
            output = self.softmax(output)
            return output, hidden

        def initHidden(self):  # noqa: N802
            return torch.zeros(1, self.hidden_size)

    def categoryTensor(category):  # noqa: N802 - one-hot vector for category
        li = ALL_CATEGORIES.index(category)
        tensor = torch.zeros(1, N_CATEGORIES)
        tensor[0][li] = 1
        return tensor

    def inputTensor(line):  # noqa: N802 - one-hot matrix of first to last letters (not EOS) for input
        tensor = torch.zeros(len(line), 1, N_LETTERS)
        for li in range(len(line)):
            letter = line[li]
            tensor[li][0][ALL_LETTERS.find(letter)] = 1
        return tensor

    def targetTensor(line):  # noqa: N802 - second letter to end (EOS) for target
        letter_indexes = [ALL_LETTERS.find(line[li]) for li in range(1, len(line))]
        letter_indexes.append(N_LETTERS - 1)  # EOS
        return torch.LongTensor(letter_indexes)

    return SimpleNamespace(RNN=RNN, categoryTensor=categoryTensor, inputTensor=inputTensor, targetTensor=targetTensor)


def _train_char_gen(L, rnn, steps, learning_rate=0.05, loss_start="Tensor"):
    torch, nn = L.torch, L.nn
    P = make_char_gen(L)
    criterion = nn.NLLLoss()

    def train(category_tensor, input_line_tensor, target_line_tensor):
        target_line_tensor.unsqueeze_(-1)
        hidden = rnn.initHidden()
        rnn.zero_grad()
        loss = torch.Tensor([0]) if loss_start == "Tensor" else 0  # "you can also just simply use loss = 0"
        for i in range(input_line_tensor.size(0)):
            output, hidden = rnn(category_tensor, input_line_tensor[i], hidden)
            l = criterion(output, target_line_tensor[i])  # noqa: E741
            loss += l
        loss.backward()
        # the tutorial: p.data.add_(p.grad.data, alpha=-learning_rate); minigrad's p.data is the raw array
        with torch.no_grad():
            for p in rnn.parameters():
                p.add_(p.grad, alpha=-learning_rate)
        return output, loss.item() / input_line_tensor.size(0), loss

    random.seed(7)  # randomTrainingExample, the same draws for both libraries
    out = []
    for _ in range(steps):
        category = random.choice(ALL_CATEGORIES)
        line = random.choice(CATEGORY_LINES[category])
        output, loss, loss_t = train(P.categoryTensor(category), P.inputTensor(line), P.targetTensor(line))
        out.append((category, line, output, loss, loss_t, {k: _np(p.grad).copy() for k, p in rnn.named_parameters()}))
    return out


def _char_gen_pair(dropout=0.1):
    torch.manual_seed(4)
    theirs = make_char_gen(TH).RNN(N_LETTERS, 12, N_LETTERS, dropout)
    ours = make_char_gen(MG).RNN(N_LETTERS, 12, N_LETTERS, dropout)
    _copy_weights(theirs, ours)
    return theirs, ours


@pytest.mark.parametrize("loss_start", ["Tensor", "zero"])
def test_char_rnn_generation_training_matches_torch(loss_start):
    theirs, ours = _char_gen_pair()
    theirs.eval()  # dropout off in both (the tutorial trains with it on: random masks cannot be compared)
    ours.eval()
    t_run = _train_char_gen(TH, theirs, 4, loss_start=loss_start)
    m_run = _train_char_gen(MG, ours, 4, loss_start=loss_start)
    for i, (m, t) in enumerate(zip(m_run, t_run)):
        assert m[:2] == t[:2]
        _close(f"step {i} last output", m[2], t[2])
        assert isinstance(m[3], float)
        np.testing.assert_allclose(m[3], t[3], **TOL)
        _close(f"step {i} summed loss tensor", m[4], t[4])
        for k in t[5]:
            _close(f"step {i} grad {k}", m[5][k], t[5][k])
    _same_params(ours, theirs, "char-RNN generator after manual SGD")


def test_legacy_tensor_constructor_makes_default_float():
    """torch.Tensor(list) (the tutorial's `loss = torch.Tensor([0])`) has the default float dtype even for
    ints; torch.tensor(list) infers it. minigrad's Tensor(list) gave int64, and `loss += l` then failed."""
    for dt_t, dt_m in ((torch.float64, mg.float64), (torch.float32, mg.float32)):
        torch.set_default_dtype(dt_t)
        mg.set_default_dtype(dt_m)
        for data in ([0], [1, 2], (3, 4), [[1, 2], [3, 4]], [True, False], [1.5]):
            t, m = torch.Tensor(data), mg.Tensor(data)
            assert str(m.dtype) == str(t.dtype).replace("torch.", ""), (data, m.dtype, t.dtype)
            assert m.tolist() == t.tolist()
    # torch.tensor infers from the data, unchanged
    assert mg.tensor([1, 2]).dtype == mg.int64 and mg.tensor([True]).dtype == mg.bool
    assert mg.as_tensor([1, 2]).dtype == mg.int64
    # an explicit dtype, arrays and tensors keep theirs
    assert mg.Tensor([1, 2], dtype=mg.int32).dtype == mg.int32
    assert mg.Tensor(np.array([1, 2])).dtype == mg.int64
    assert mg.Tensor(mg.tensor([1, 2])).dtype == mg.int64
    l = mg.tensor(1.5, requires_grad=True) * 2  # noqa: E741
    loss = mg.Tensor([0])
    loss += l
    loss.backward()
    assert loss.item() == 3.0


def test_legacy_tensor_types():
    """torch.LongTensor(list) (the tutorial's targetTensor) and the other legacy type objects: constructors
    (data, or sizes) and isinstance checks, as torch's. They were missing (AttributeError)."""
    cases = [("LongTensor", [1, 2]), ("LongTensor", [1.5, -2.7]), ("LongTensor", (2, 3)), ("FloatTensor", [1, 2]),
             ("DoubleTensor", [[1, 2]]), ("IntTensor", [True, False]), ("ByteTensor", [1, 255]),
             ("BoolTensor", [0, 2]), ("HalfTensor", [0.5]), ("ShortTensor", []), ("CharTensor", [-3]),
             ("FloatTensor", np.array([1, 2]))]
    for name, data in cases:
        m, t = getattr(mg, name)(data), getattr(torch, name)(data)
        assert str(m.dtype) == str(t.dtype).replace("torch.", ""), (name, data, m.dtype, t.dtype)
        assert m.tolist() == t.tolist(), (name, data)
    for args in [(), (2, 3), (4,), (torch.Size([2, 1]),)]:
        margs = tuple(mg.Size(a) if isinstance(a, torch.Size) else a for a in args)
        m, t = mg.LongTensor(*margs), torch.LongTensor(*args)
        assert tuple(m.shape) == tuple(t.shape) and m.dtype == mg.int64  # (torch's values are uninitialised)
    assert isinstance(mg.tensor([1, 2]), mg.LongTensor) and not isinstance(mg.tensor([1, 2]), mg.FloatTensor)
    assert isinstance(mg.ones(2, dtype=mg.float32), mg.FloatTensor) and not isinstance([1], mg.FloatTensor)
    assert mg.ones(2, dtype=mg.float32).type() == "minigrad." + mg.FloatTensor.__name__
    x = mg.tensor([1, 2])
    assert mg.LongTensor(x) is x  # the same data, as torch's alias
    with pytest.raises(TypeError, match="LongTensor: expected a int64 tensor, got float32"):
        mg.LongTensor(mg.ones(2, dtype=mg.float32))
    with pytest.raises(TypeError):
        torch.LongTensor(torch.ones(2, dtype=torch.float32))


def test_manual_update_numpy_form_matches_torch_p_data():
    """The tutorial's `p.data.add_(p.grad.data, alpha=-lr)` in torch equals NumPy's in-place update on
    minigrad's raw arrays, `p.data -= lr * p.grad.data` (the documented alternative to no_grad + add_)."""
    theirs, ours = _char_gen_pair(dropout=0.0)
    for L, rnn in ((TH, theirs), (MG, ours)):
        P = make_char_gen(L)
        out, hidden = rnn(P.categoryTensor("Greek"), P.inputTensor("P")[0], rnn.initHidden())
        L.nn.NLLLoss()(out, P.targetTensor("P")).backward()
        for p in rnn.parameters():
            if L is TH:
                p.data.add_(p.grad.data, alpha=-0.5)
            else:
                p.data -= 0.5 * p.grad.data
    _same_params(ours, theirs, "after the manual update")


def _sample_greedy(L, rnn, category, start_letter="A", max_length=20):
    torch = L.torch
    P = make_char_gen(L)
    with torch.no_grad():  # no need to track history in sampling
        category_tensor = P.categoryTensor(category)
        input = P.inputTensor(start_letter)  # noqa: A001
        hidden = rnn.initHidden()
        output_name = start_letter
        for _i in range(max_length):
            output, hidden = rnn(category_tensor, input[0], hidden)
            topv, topi = output.topk(1)
            topi = topi[0][0]
            if topi == N_LETTERS - 1:
                break
            else:
                letter = ALL_LETTERS[topi]
                output_name += letter
            input = P.inputTensor(letter)  # noqa: A001
        return output_name, topv


def test_char_rnn_sampling_matches_torch():
    theirs, ours = _char_gen_pair()
    # train a little first so the samples are not all the same letter
    theirs.eval()
    ours.eval()
    _train_char_gen(TH, theirs, 40, learning_rate=0.1)  # samples like 'Sapalalal...', 'Ss', 'Rllll...'
    _train_char_gen(MG, ours, 40, learning_rate=0.1)
    names = set()
    for category in ALL_CATEGORIES:
        for start in "SRP":
            m_name, m_v = _sample_greedy(MG, ours, category, start)
            t_name, t_v = _sample_greedy(TH, theirs, category, start)
            assert m_name == t_name, (category, start, m_name, t_name)
            names.add(m_name[1:])
            _close("last top value", m_v, t_v)
    assert len(names) >= 3  # the greedy paths differ between categories / start letters (a real comparison)
    # sampling from the distribution instead of the argmax: torch.multinomial(output.exp(), 1)
    P = make_char_gen(MG)
    mg.manual_seed(0)
    ours.train()  # dropout on: outputs are still log-probabilities
    with mg.no_grad():
        hidden = ours.initHidden()
        inp = P.inputTensor("S")[0]
        letters = []
        for _ in range(8):
            output, hidden = ours(P.categoryTensor("Scottish"), inp, hidden)
            assert output.shape == (1, N_LETTERS) and hidden.shape == (1, 12)
            np.testing.assert_allclose(output.exp().sum(1).numpy(), 1.0, rtol=1e-12)
            idx = mg.multinomial(output.exp(), 1)
            assert idx.shape == (1, 1) and idx.dtype == mg.int64
            i = idx[0][0]
            assert 0 <= i.item() < N_LETTERS
            letters.append(ALL_LETTERS[i] if i < N_LETTERS - 1 else "<EOS>")
            inp = P.inputTensor(letters[-1][0])[0]
    assert len(letters) == 8
    t_idx = torch.multinomial(torch.ones(1, N_LETTERS), 1)
    assert tuple(idx.shape) == tuple(t_idx.shape) and str(idx.dtype) == str(t_idx.dtype).replace("torch.", "")


def test_char_rnn_dropout_train_mode_statistics():
    """With dropout on (the tutorial's training mode), output = log_softmax(dropout(o2o(...))): each row is a
    distribution, and about p of the pre-softmax values are zeroed, the rest scaled by 1 / (1 - p)."""
    _, ours = _char_gen_pair(dropout=0.25)
    ours.train()
    seen = []
    ours.dropout.register_forward_hook(lambda mod, inp, out: seen.append((inp[0].numpy(), out.numpy())))
    P = make_char_gen(MG)
    mg.manual_seed(3)
    hidden = ours.initHidden()
    for _ in range(40):
        output, hidden = ours(P.categoryTensor("Italian"), P.inputTensor("R")[0], hidden.detach())
        np.testing.assert_allclose(output.exp().sum(1).numpy(), 1.0, rtol=1e-12)
    x = np.concatenate([s[0] for s in seen])
    y = np.concatenate([s[1] for s in seen])
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / 0.75, rtol=1e-12)
    # 40 * 59 = 2360 Bernoulli(0.25) draws: sd of the fraction ~0.009, so 5 sd is ~0.045
    assert abs((~kept).mean() - 0.25) < 0.045
