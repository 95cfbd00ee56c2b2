"""Tests of models/word2vec.py: learned structure, gradients, sampling, vocabulary, I/O and the gensim-shaped API."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import functional as F
from minigrad.testing import gradcheck
from models.word2vec import (
    AliasSampler, CBOWNegativeSampling, KeyedVectors, LineSentence, SkipGramNegativeSampling, Word2Vec, build_vocab,
    cbow_loss, context_windows, keep_probabilities, negative_sampling_loss, neighbour_precision, skipgram_loss,
    synthetic_class_corpus,
)


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def class_corpus():
    """6 classes x 6 words in 18 templates: words of a class are interchangeable (16k tokens)."""
    return synthetic_class_corpus(3000, n_classes=6, words_per_class=6, n_templates=18, n_function_words=12, seed=0)


@pytest.fixture(scope="module")
def trained(class_corpus):
    sentences, _ = class_corpus
    return Word2Vec(sentences, vector_size=32, min_count=1, epochs=20, seed=1, sg=1, progress=False)


def _tiny_corpus():
    return [["the", "cat", "sat", "on", "the", "mat"], ["the", "dog", "sat", "on", "the", "log"],
            ["a", "cat", "and", "a", "dog"], ["the", "cat", "ran"]] * 5


# ---------------------------------------------------------------- quality on known structure
def test_neighbours_are_in_the_same_class(trained, class_corpus):
    """precision@5 of the class words: chance is (6-1)/(V-1) ~ 0.11 (V = 36 class + 12 function words);
    require 0.8 (this run gives ~0.98-1.0; gensim gets the same on this corpus)."""
    _, word_class = class_corpus
    precision, chance = neighbour_precision(trained.wv, word_class, k=5)
    assert chance == pytest.approx(5 / (len(trained.wv) - 1))
    assert chance < 0.15
    assert precision >= 0.8, f"precision@5 {precision:.3f} (chance {chance:.3f})"


def test_training_lowers_the_loss(trained):
    assert len(trained.loss_history) == 20
    assert trained.loss_history[-1] < 0.8 * trained.loss_history[0]
    # the schedule ran down to (about) min_alpha
    assert trained.min_alpha_yet_reached == pytest.approx(trained.min_alpha, abs=2e-3)


def test_cbow_learns_the_classes_too(class_corpus):
    sentences, word_class = class_corpus
    model = Word2Vec(sentences, vector_size=32, min_count=1, epochs=20, sg=0, seed=2, progress=False)
    assert isinstance(model.network, CBOWNegativeSampling)
    precision, chance = neighbour_precision(model.wv, word_class, k=5)
    assert precision >= 0.8, f"CBOW precision@5 {precision:.3f} (chance {chance:.3f})"


# ---------------------------------------------------------------- gradients of the loss
def _batch(rng, num_words, batch, k):
    inputs = rng.integers(0, num_words, size=batch)
    targets = rng.integers(0, num_words, size=(batch, k + 1))  # repeats on purpose: rows accumulate
    weights = (rng.random((batch, k + 1)) < 0.8).astype(np.float64)
    weights[:, 0] = 1.0
    return inputs, targets, weights


def test_skipgram_loss_gradcheck(device):
    """Gradients w.r.t. both tables (row-sparse, checked through their dense view), repeated rows included."""
    rng = np.random.default_rng(0)
    inputs, targets, weights = (mg.tensor(a, device=device) for a in _batch(rng, 7, 5, 3))
    w_in = mg.tensor(rng.standard_normal((7, 4)), device=device, requires_grad=True)
    w_out = mg.tensor(rng.standard_normal((7, 4)), device=device, requires_grad=True)
    assert gradcheck(lambda a, b: skipgram_loss(inputs, targets, a, b, weights), w_in, w_out)


def test_skipgram_loss_value_and_sparse_gradients(device):
    """The loss is -log s(u.v_t) - sum_k log s(-u.v_k), summed; both tables get row-sparse gradients."""
    rng = np.random.default_rng(1)
    net = SkipGramNegativeSampling(9, 5, device=device, dtype=mg.float64)
    w_in, w_out = rng.standard_normal((9, 5)), rng.standard_normal((9, 5))
    with mg.no_grad():
        net.in_embed.weight.copy_(w_in)
        net.out_embed.weight.copy_(w_out)
    inputs, targets, weights = _batch(rng, 9, 6, 4)
    loss = net(mg.tensor(inputs, device=device), mg.tensor(targets, device=device), mg.tensor(weights, device=device))
    logits = np.einsum("bd,bkd->bk", w_in[inputs], w_out[targets])
    signs = np.array([1.0] + [-1.0] * 4)
    expected = (-np.log(1 / (1 + np.exp(-signs * logits))) * weights).sum()
    assert float(loss.item()) == pytest.approx(expected, rel=1e-10)
    loss.backward()
    for p, used in ((net.in_embed.weight, inputs), (net.out_embed.weight, targets)):
        assert p.grad.is_sparse
        assert set(mg.backend.to_device(p.grad.indices, "cpu").tolist()) <= set(np.unique(used).tolist())


def test_fused_skipgram_loss_equals_the_composed_one(device):
    """skipgram_loss scores targets with F.embedding_dot; the readable form gathers the
    vectors and multiplies. Same loss and same gradients for both tables (float64)."""
    rng = np.random.default_rng(4)
    w_in, w_out = rng.standard_normal((30, 8)), rng.standard_normal((30, 8))
    inputs, targets, weights = _batch(rng, 30, 200, 5)
    results = []
    for fused in (True, False):
        a = mg.tensor(w_in, device=device, requires_grad=True)
        b = mg.tensor(w_out, device=device, requires_grad=True)
        i, t, w = (mg.tensor(x, device=device) for x in (inputs, targets, weights))
        if fused:
            loss = skipgram_loss(i, t, a, b, w)
        else:
            loss = negative_sampling_loss(F.embedding(i, a, sparse=True), F.embedding(t, b, sparse=True), w)
        loss.backward()
        results.append((loss.item(), a.grad.to_dense().numpy(), b.grad.to_dense().numpy()))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-12)
    for got, want in zip(results[0][1:], results[1][1:]):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_loss_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    h, v = rng.standard_normal((6, 8)), rng.standard_normal((6, 4, 8))
    w = (rng.random((6, 4)) < 0.7).astype(np.float64)
    mh, mv = mg.tensor(h, requires_grad=True), mg.tensor(v, requires_grad=True)
    ours = negative_sampling_loss(mh, mv, mg.tensor(w))
    ours.backward()
    th, tv = torch.tensor(h, requires_grad=True), torch.tensor(v, requires_grad=True)
    logits = torch.einsum("bd,bkd->bk", th, tv)
    ref = -(torch.nn.functional.logsigmoid(logits[:, 0]) * torch.tensor(w[:, 0])).sum() \
        - (torch.nn.functional.logsigmoid(-logits[:, 1:]) * torch.tensor(w[:, 1:])).sum()
    ref.backward()
    assert float(ours.item()) == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(mh.grad.numpy(), th.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mv.grad.numpy(), tv.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_loss_is_stable_for_large_logits():
    h = mg.tensor([[30.0, 0.0]], requires_grad=True)
    v = mg.tensor([[[-30.0, 0.0], [30.0, 0.0]]], requires_grad=True)  # u.v = -900 (true word), +900 (noise)
    loss = negative_sampling_loss(h, v)
    loss.backward()
    assert float(loss.item()) == pytest.approx(1800.0)
    assert np.isfinite(h.grad.numpy()).all() and np.isfinite(v.grad.numpy()).all()


def _cbow_batch(rng, num_words, batch, width, k):
    context = rng.integers(0, num_words, size=(batch, width))
    cweights = (rng.random((batch, width)) < 0.6).astype(np.float64)
    cweights[:, 0] = 1.0  # at least one real context word per row
    inputs, targets, weights = _batch(rng, num_words, batch, k)
    return context, cweights, targets, weights


def test_cbow_loss_gradcheck(device):
    """With full_context_error=False the CBOW loss has its exact gradient (mean and sum variants)."""
    rng = np.random.default_rng(3)
    ctx, cw, tgt, tw = (mg.tensor(a, device=device) for a in _cbow_batch(rng, 6, 4, 4, 2))
    w_in = mg.tensor(rng.standard_normal((6, 3)), device=device, requires_grad=True)
    w_out = mg.tensor(rng.standard_normal((6, 3)), device=device, requires_grad=True)
    for mean in (True, False):
        assert gradcheck(lambda a, b: cbow_loss(ctx, cw, tgt, a, b, tw, cbow_mean=mean, full_context_error=False),
                         w_in, w_out)


def test_cbow_full_context_error_is_n_times_the_gradient(device):
    """word2vec.c adds the whole error of the mean to each context vector: n x the true gradient."""
    rng = np.random.default_rng(4)
    context, cweights, targets, tweights = _cbow_batch(rng, 30, 1, 6, 3)
    context[0] = np.arange(6)  # distinct words, so each row's gradient comes from one slot
    n = cweights.sum()
    w_in, w_out = rng.standard_normal((30, 4)), rng.standard_normal((30, 4))
    grads = {}
    for full in (False, True):
        net = CBOWNegativeSampling(30, 4, full_context_error=full, device=device, dtype=mg.float64)
        with mg.no_grad():
            net.in_embed.weight.copy_(w_in)
            net.out_embed.weight.copy_(w_out)
        loss = net(*(mg.tensor(a, device=device) for a in (context, cweights, targets, tweights)))
        loss.backward()
        grads[full] = (net.in_embed.weight.grad.to_dense().numpy(), net.out_embed.weight.grad.to_dense().numpy())
    assert np.abs(grads[False][0]).max() > 0
    np.testing.assert_allclose(grads[True][0], n * grads[False][0], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(grads[True][1], grads[False][1], rtol=1e-10, atol=1e-14)


def test_initialisation_follows_word2vec_c():
    net = SkipGramNegativeSampling(200, 50)
    w = net.in_embed.weight.numpy()
    assert w.dtype == np.float32
    assert np.abs(w).max() <= 0.5 / 50 and np.abs(w).max() > 0.45 / 50
    assert abs(float(w.mean())) < 5 * (0.5 / 50) / math.sqrt(3 * w.size)  # 5 standard errors
    assert not net.out_embed.weight.numpy().any()


# ---------------------------------------------------------------- sampling
def test_noise_distribution_is_unigram_to_the_075():
    """Chi-square test of 400k draws against counts^0.75 / Z (df = 29; p = 1e-6 threshold ~ 75)."""
    counts = np.array([5000, 2000, 900, 400, 300, 120, 60, 55, 40, 33] + list(range(30, 10, -1)), dtype=np.float64)
    sampler = AliasSampler(counts ** 0.75)
    expected_p = counts ** 0.75 / (counts ** 0.75).sum()
    np.testing.assert_allclose(sampler.probabilities, expected_p)
    n = 400_000
    draws = sampler.sample(np.random.default_rng(0), (n // 5, 5))
    assert draws.shape == (n // 5, 5) and draws.dtype.kind == "i"
    observed = np.bincount(draws.reshape(-1), minlength=counts.size)
    chi2 = (((observed - n * expected_p) ** 2) / (n * expected_p)).sum()
    assert chi2 < 75, chi2
    # and the biggest deviation is small in absolute terms
    assert np.abs(observed / n - expected_p).max() < 0.003


def test_alias_sampler_edge_cases():
    s = AliasSampler([0.0, 3.0, 0.0])  # a single possible outcome
    assert (s.sample(np.random.default_rng(0), 1000) == 1).all()
    with pytest.raises(ValueError, match="non-negative"):
        AliasSampler([1.0, -1.0])
    with pytest.raises(ValueError):
        AliasSampler([])


def test_keep_probabilities_formula():
    counts = np.array([10000, 1000, 100, 10])
    t = 1e-3 * counts.sum()
    expected = np.minimum(1.0, (np.sqrt(counts / t) + 1) * t / counts)
    np.testing.assert_allclose(keep_probabilities(counts, 1e-3), expected)
    assert expected[0] < 0.05 and expected[-1] == 1.0
    assert (keep_probabilities(counts, 0) == 1).all()


def test_model_subsampling_fraction():
    """The pipeline keeps each word with its keep probability: counted through CBOW rows (one per kept centre)."""
    sentences = [["the"] * 6 + ["of"] * 3 + ["a", "b", "c"]] * 400
    model = Word2Vec(min_count=1, sample=0.02, window=20, negative=1, sg=0, progress=False, seed=4, batch_words=10 ** 6)
    model.build_vocab(sentences)
    (ids, sentence), _ = next(model._chunks(sentences))
    ex = model._examples(ids, sentence)
    # window 20 > sentence length: every kept word has a context, so it gets a CBOW row
    kept = np.bincount(ex["targets"][:, 0], minlength=len(model.wv))
    occurrences = np.bincount(ids, minlength=len(model.wv))
    p = model._keep
    sd = np.sqrt(occurrences * p * (1 - p))
    assert np.all(np.abs(kept - occurrences * p) <= 5 * sd + 1e-9), (kept, occurrences * p)
    assert kept[model.wv.get_index("the")] < 0.7 * occurrences[model.wv.get_index("the")]


def test_context_windows_are_dynamic_and_stay_in_the_sentence():
    rng = np.random.default_rng(0)
    sentence = np.repeat(np.arange(2000), 7)  # 2000 sentences of 7 words
    n = sentence.size
    start = np.searchsorted(sentence, sentence, side="left")
    end = np.searchsorted(sentence, sentence, side="right")
    pos, valid = context_windows(n, start, end, 3, rng)
    assert pos.shape == (n, 6)
    centre = np.arange(n)[:, None]
    assert np.all(sentence[pos][valid] == np.broadcast_to(sentence[:, None], pos.shape)[valid])
    offsets = (pos - centre)[valid]
    assert set(np.unique(np.abs(offsets)).tolist()) == {1, 2, 3}
    # Centre words in the middle of a sentence (position 3 of 7) see every offset up to their window:
    # P(distance d used) = (W - d + 1) / W, i.e. 1, 2/3, 1/3 for W = 3.
    middle = valid[3::7]
    used = middle[:, [2, 3]].mean(), middle[:, [1, 4]].mean(), middle[:, [0, 5]].mean()
    np.testing.assert_allclose(used, [1.0, 2 / 3, 1 / 3], atol=0.03)


def test_noise_words_equal_to_the_centre_are_dropped():
    model = Word2Vec(min_count=1, negative=20, progress=False, seed=5)
    sentences = [["x", "y"] * 10] * 20
    model.build_vocab(sentences)
    (ids, sentence), _ = next(model._chunks(sentences))
    ex = model._examples(ids, sentence)
    t, w = ex["targets"], ex["target_weights"]
    assert (w[:, 0] == 1).all()
    np.testing.assert_array_equal(w[:, 1:] == 0, t[:, 1:] == t[:, :1])
    assert (w[:, 1:] == 0).any()


# ---------------------------------------------------------------- vocabulary
def test_build_vocab_min_count_order_and_totals():
    words, counts, total, n_sent = build_vocab(_tiny_corpus(), min_count=5)
    assert total == 5 * (6 + 6 + 5 + 3) and n_sent == 20
    assert words[0] == "the" and counts[0] == 25
    assert all(c >= 5 for c in counts) and list(counts) == sorted(counts, reverse=True)
    assert "mat" in words and "ran" in words  # 5 each
    words2, _, _, _ = build_vocab(_tiny_corpus(), min_count=6)
    assert "mat" not in words2 and "cat" in words2


def test_max_vocab_size_prunes_the_rarest():
    sentences = [["common"] * 5 + [f"rare{i}"] for i in range(300)] + [["mid", "mid"]] * 3
    words, counts, _, _ = build_vocab(sentences, min_count=1, max_vocab_size=10)
    assert len(words) <= 10
    assert words[0] == "common" and counts[0] == 1500
    assert "mid" in words
    with pytest.raises(ValueError, match="max_vocab_size"):
        build_vocab(sentences, max_vocab_size=0)


def test_empty_vocabulary_is_a_clear_error():
    with pytest.raises(ValueError, match="min_count=5"):
        Word2Vec([["a", "b"]], min_count=5, progress=False)


def test_bad_arguments():
    with pytest.raises(ValueError, match="vector_size"):
        Word2Vec(vector_size=0)
    with pytest.raises(ValueError, match="sg"):
        Word2Vec(sg=2)
    with pytest.raises(ValueError, match="alpha"):
        Word2Vec(alpha=0.01, min_alpha=0.1)
    with pytest.raises(TypeError, match="list of tokens"):
        Word2Vec(["a sentence as one string"], min_count=1, progress=False)
    with pytest.raises(ValueError, match="not both"):
        Word2Vec([["a"]], corpus_file="x.txt")
    with pytest.raises(RuntimeError, match="build_vocab"):
        Word2Vec(progress=False).train([["a"]])


# ---------------------------------------------------------------- streaming input
class CountingCorpus:
    """A re-iterable corpus that counts how often it is read."""

    def __init__(self, sentences):
        self.sentences, self.passes = sentences, 0

    def __iter__(self):
        self.passes += 1
        yield from self.sentences


def test_streams_a_reiterable_once_per_epoch():
    corpus = CountingCorpus(_tiny_corpus())
    model = Word2Vec(corpus, min_count=1, vector_size=8, epochs=3, batch_words=7, progress=False)
    assert corpus.passes == 1 + 3
    assert model.corpus_total_words == 100 and len(model.loss_history) == 3


def test_one_shot_iterators_are_refused():
    with pytest.raises(TypeError, match="one-shot iterator"):
        Word2Vec((s for s in _tiny_corpus()), min_count=1, progress=False)


def test_corpus_file_gives_the_same_model_as_sentences(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(" ".join(s) for s in _tiny_corpus()) + "\n", encoding="utf-8")
    kw = dict(min_count=1, vector_size=8, epochs=2, seed=7, progress=False)
    from_file = Word2Vec(corpus_file=str(path), **kw)
    from_list = Word2Vec(_tiny_corpus(), **kw)
    assert from_file.wv.index_to_key == from_list.wv.index_to_key
    np.testing.assert_array_equal(from_file.wv.vectors, from_list.wv.vectors)
    assert list(LineSentence(path)) == _tiny_corpus()


def test_long_lines_are_split(tmp_path):
    path = tmp_path / "long.txt"
    path.write_text(" ".join(["w"] * 25) + "\n", encoding="utf-8")
    assert [len(s) for s in LineSentence(path, max_sentence_length=10)] == [10, 10, 5]


# ---------------------------------------------------------------- the KeyedVectors API
def test_lookup_api(trained):
    wv = trained.wv
    assert len(wv) == len(wv.index_to_key) == wv.vectors.shape[0]
    word = wv.index_to_key[3]
    assert word in wv and "no-such-word" not in wv
    assert wv.key_to_index[word] == 3
    v = wv[word]
    assert isinstance(v, np.ndarray) and v.shape == (32,) and v.dtype == np.float32
    np.testing.assert_array_equal(wv[[word, word]], np.stack([v, v]))
    with pytest.raises(KeyError, match="no-such-word"):
        wv["no-such-word"]
    with pytest.raises(KeyError, match="not in vocabulary"):
        wv.most_similar("no-such-word")


def test_similarity_and_most_similar(trained):
    wv = trained.wv
    a, b = "c0w0", "c0w1"
    cos = float(wv[a] @ wv[b] / np.linalg.norm(wv[a]) / np.linalg.norm(wv[b]))
    assert wv.similarity(a, b) == pytest.approx(cos, abs=1e-5)
    assert wv.similarity(a, b) == pytest.approx(wv.similarity(b, a))
    top = wv.most_similar(a, topn=5)
    assert len(top) == 5 and a not in [w for w, _ in top]
    sims = [s for _, s in top]
    assert sims == sorted(sims, reverse=True)
    assert top[0][1] == pytest.approx(max(wv.similarity(a, w) for w in wv.index_to_key if w != a), abs=1e-5)
    assert wv.most_similar(positive=[a], topn=5) == top
    assert wv.most_similar(a, topn=0) == []
    all_sims = wv.most_similar(a, topn=None)
    assert all_sims.shape == (len(wv),)


def test_analogy_is_3cosadd_without_the_query_words(trained):
    wv = trained.wv
    pos, neg = ["c0w0", "c1w0"], ["c2w0"]
    answer = wv.most_similar(positive=pos, negative=neg, topn=3)
    assert not {w for w, _ in answer} & set(pos + neg)
    unit = wv.get_normed_vectors()
    query = unit[wv.get_index(pos[0])] + unit[wv.get_index(pos[1])] - unit[wv.get_index(neg[0])]
    scores = unit @ (query / np.linalg.norm(query))
    for i in [wv.get_index(w) for w in pos + neg]:
        scores[i] = -np.inf
    best = [wv.index_to_key[i] for i in np.argsort(-scores)[:3]]
    assert [w for w, _ in answer] == best
    assert answer[0][1] == pytest.approx(float(scores.max()), abs=1e-5)
    # a vector can stand in for a word
    by_vector = wv.most_similar(positive=[wv["c0w0"]], topn=3)
    assert by_vector[0][0] == "c0w0"
    with pytest.raises(ValueError, match="at least one"):
        wv.most_similar(positive=[], negative=[])


# ---------------------------------------------------------------- persistence
def test_save_load_round_trip(trained, tmp_path):
    path = tmp_path / "w2v.npz"
    trained.save(path)
    loaded = Word2Vec.load(path)
    assert loaded.wv.index_to_key == trained.wv.index_to_key
    np.testing.assert_array_equal(loaded.wv.vectors, trained.wv.vectors)
    np.testing.assert_array_equal(loaded.network.out_embed.weight.numpy(), trained.network.out_embed.weight.numpy())
    np.testing.assert_array_equal(loaded.word_counts, trained.word_counts)
    assert loaded.wv.most_similar("c3w1", topn=4) == trained.wv.most_similar("c3w1", topn=4)
    assert (loaded.vector_size, loaded.window, loaded.sg, loaded.negative) == (32, 5, 1, 5)
    with open(path, "rb") as f:  # an .npz written without pickle
        assert f.read(4) == b"PK\x03\x04"
    np.load(path, allow_pickle=False).close()


def test_loaded_model_trains_further(tmp_path):
    model = Word2Vec(_tiny_corpus(), min_count=1, vector_size=8, epochs=1, progress=False)
    model.save(tmp_path / "m.npz")
    loaded = Word2Vec.load(tmp_path / "m.npz")
    before = loaded.wv.vectors.copy()
    loaded.train(_tiny_corpus(), epochs=1)
    assert not np.array_equal(before, loaded.wv.vectors)
    assert len(loaded.loss_history) == 2


@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_format_round_trip(trained, tmp_path, binary):
    path = tmp_path / ("vectors.bin" if binary else "vectors.txt")
    trained.wv.save_word2vec_format(path, binary=binary)
    if not binary:
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines[0] == f"{len(trained.wv)} 32"
        first = lines[1].split(" ")
        assert first[0] == trained.wv.index_to_key[0] and len(first) == 33
    loaded = KeyedVectors.load_word2vec_format(path, binary=binary)
    assert loaded.index_to_key == trained.wv.index_to_key
    np.testing.assert_array_equal(loaded.vectors, trained.wv.vectors)  # 9 significant digits: exact for float32
    assert loaded.most_similar("c2w2", topn=3) == trained.wv.most_similar("c2w2", topn=3)


def test_word2vec_format_errors(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("2 3\nw 1 2 3\nv 1 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 3 has 2 numbers, expected 3"):
        KeyedVectors.load_word2vec_format(bad)
    bad.write_text("hello\n", encoding="utf-8")
    with pytest.raises(ValueError, match="first line"):
        KeyedVectors.load_word2vec_format(bad)


# ---------------------------------------------------------------- progress display and devices
def test_progress_line_and_quiet_mode(capsys):
    Word2Vec(_tiny_corpus(), min_count=1, vector_size=8, epochs=1, progress=False)
    assert capsys.readouterr().err == ""
    Word2Vec(_tiny_corpus(), min_count=1, vector_size=8, epochs=1, progress=True)
    err = capsys.readouterr().err
    assert "word" in err and ("words/s" in err or "word/s" in err)


def test_trains_on_device(device):
    model = Word2Vec(_tiny_corpus(), min_count=1, vector_size=8, epochs=2, device=device, progress=False)
    assert model.network.in_embed.weight.device.startswith(device)
    assert isinstance(model.wv.vectors, np.ndarray)
    assert math.isfinite(model.loss_history[-1])
    # same seed -> same vectors on every device (initialisation and sampling happen on the host)
    ref = Word2Vec(_tiny_corpus(), min_count=1, vector_size=8, epochs=2, device="cpu", progress=False)
    np.testing.assert_allclose(model.wv.vectors, ref.wv.vectors, rtol=1e-3, atol=1e-5)  # float32 sums differ by backend


def test_modules_are_the_functional_losses():
    """The modules compute exactly skipgram_loss / cbow_loss on their tables, value and gradients."""
    rng = np.random.default_rng(6)
    for cbow in (False, True):
        net = (CBOWNegativeSampling if cbow else SkipGramNegativeSampling)(10, 4, dtype=mg.float64)
        with mg.no_grad():
            net.out_embed.weight.copy_(rng.standard_normal((10, 4)))
        if cbow:
            args = [mg.tensor(a) for a in _cbow_batch(rng, 10, 3, 4, 2)]
            a = net(*args)
            b = cbow_loss(*args[:3], net.in_embed.weight, net.out_embed.weight, args[3])
        else:
            args = [mg.tensor(a) for a in _batch(rng, 10, 3, 2)]
            a = net(*args)
            b = skipgram_loss(*args[:2], net.in_embed.weight, net.out_embed.weight, args[2])
        assert float(a.item()) == float(b.item())
        a.backward()
        g = [p.grad.to_dense().numpy().copy() for p in (net.in_embed.weight, net.out_embed.weight)]
        net.zero_grad()
        b.backward()
        for ga, p in zip(g, (net.in_embed.weight, net.out_embed.weight)):
            np.testing.assert_array_equal(ga, p.grad.to_dense().numpy())


# ---------------------------------------------------------------- the example
def test_example_smoke_run(tmp_path):
    """examples/word2vec.py --smoke runs end to end and reports its metrics as one JSON line."""
    import json
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cmd = [sys.executable, os.path.join(root, "examples", "word2vec.py"), "--smoke", "--json", "--quiet",
           "--outdir", str(tmp_path)]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout[-2000:]  # --quiet: only the JSON line
    metrics = json.loads(lines[0])
    assert metrics["corpus"] == "pydoc_data.topics" and metrics["words"] > 10000 and metrics["vocabulary"] > 500
    assert metrics["final_loss"] < metrics["first_epoch_loss"]
    assert set(metrics["neighbours"]) >= {"list", "float"} and len(metrics["neighbours"]["list"]) == 6
    assert metrics["analogy"].startswith("int:integer=float:")
