"""models/word2vec.py as a gensim 4 user uses it: signature and defaults, training semantics (schedule,
loss, callbacks, windows, subsampling, vocabulary options, online update), the KeyedVectors API on vectors
with planted structure, the word2vec text/binary formats, and evaluation on user files.

gensim itself is optional: the few tests that compare with it directly use pytest.importorskip("gensim").
"""
import inspect
import math
import struct
import warnings

import numpy as np
import pytest

import models.word2vec as w2v
from models.word2vec import RULE_DISCARD, RULE_KEEP, CallbackAny2Vec, KeyedVectors, Word2Vec, context_windows

# gensim 4's Word2Vec signature (its documentation), in order, with its defaults.
GENSIM_SIGNATURE = [
    ("sentences", None), ("corpus_file", None), ("vector_size", 100), ("alpha", 0.025), ("window", 5),
    ("min_count", 5), ("max_vocab_size", None), ("sample", 1e-3), ("seed", 1), ("workers", 3), ("min_alpha", 0.0001),
    ("sg", 0), ("hs", 0), ("negative", 5), ("ns_exponent", 0.75), ("cbow_mean", 1), ("hashfxn", hash), ("epochs", 5),
    ("null_word", 0), ("trim_rule", None), ("sorted_vocab", 1), ("batch_words", 10000), ("compute_loss", False),
    ("callbacks", ()), ("comment", None), ("max_final_vocab", None), ("shrink_windows", True),
]
N_ENTITIES = 6


def planted_corpus(n_sentences=3000, seed=0):
    """Sentences about one word "<g><i>" (gender g in m/f, entity i): two context words from g's pool and two
    from i's pool around it. A word's contexts factor into a gender part and an entity part, so the vectors
    carry the analogy m_i : f_i = m_j : f_j (the offset f - m is the same for every entity)."""
    rng = np.random.default_rng(seed)
    pools = {g: [f"{g}ctx{k}" for k in range(4)] for g in "mf"}
    pools.update({i: [f"e{i}ctx{k}" for k in range(4)] for i in range(N_ENTITIES)})
    sentences = []
    for _ in range(n_sentences):
        i, g = int(rng.integers(N_ENTITIES)), "mf"[int(rng.integers(2))]
        ctx = [str(w) for w in rng.choice(pools[g], 2)] + [str(w) for w in rng.choice(pools[i], 2)]
        rng.shuffle(ctx)
        at = int(rng.integers(5))
        sentences.append(ctx[:at] + [f"{g}{i}"] + ctx[at:])
    return sentences


@pytest.fixture(scope="module")
def corpus():
    return planted_corpus()


@pytest.fixture(scope="module")
def model(corpus):
    return Word2Vec(corpus, vector_size=24, window=4, min_count=1, sample=0, epochs=15, sg=1, seed=3, progress=False)


def _tiny():
    return [["the", "cat", "sat", "on", "the", "mat"], ["the", "dog", "sat", "on", "the", "log"],
            ["a", "cat", "and", "a", "dog"], ["the", "cat", "ran"]] * 5


# ---------------------------------------------------------------- signature, defaults, refusals
def test_signature_and_defaults_are_gensims():
    params = list(inspect.signature(Word2Vec).parameters.values())
    assert [(p.name, p.default) for p in params[:len(GENSIM_SIGNATURE)]] == GENSIM_SIGNATURE
    # ours come after, keyword-only, so gensim's positional order is kept
    assert all(p.kind is p.KEYWORD_ONLY for p in params[len(GENSIM_SIGNATURE):])
    m = Word2Vec(_tiny(), min_count=1, progress=False)
    assert (m.sg, m.seed, m.workers, m.hs, m.window, m.negative) == (0, 1, 3, 0, 5, 5)
    assert type(m.network).__name__ == "CBOWNegativeSampling"  # gensim's default is CBOW


def test_signature_matches_installed_gensim():
    gensim = pytest.importorskip("gensim")
    theirs = list(inspect.signature(gensim.models.Word2Vec).parameters.values())
    ours = list(inspect.signature(Word2Vec).parameters.values())
    assert [(p.name, p.default) for p in ours[:len(theirs)]] == [(p.name, p.default) for p in theirs]


def test_hierarchical_softmax_and_other_missing_options_are_refused():
    with pytest.raises(NotImplementedError, match="hs=1"):
        Word2Vec(_tiny(), min_count=1, hs=1, negative=0, progress=False)
    with pytest.raises(NotImplementedError, match="hs=1"):
        Word2Vec(hs=1)
    with pytest.raises(ValueError, match="negative=0"):
        Word2Vec(negative=0)
    with pytest.raises(NotImplementedError, match="null_word"):
        Word2Vec(null_word=1)
    with pytest.raises(TypeError, match="trim_rule"):
        Word2Vec(trim_rule="keep")
    with pytest.raises(TypeError, match=r"model\.wv"):
        Word2Vec(_tiny(), min_count=1, progress=False)["cat"]
    with pytest.raises(RuntimeError, match="no vocabulary to update"):
        Word2Vec().build_vocab(_tiny(), update=True)


# ---------------------------------------------------------------- training semantics
def test_gensim_call_pattern_and_return_value():
    m = Word2Vec(min_count=1, vector_size=8, sample=0, progress=False)
    m.build_vocab(corpus_iterable=_tiny())
    assert m.corpus_count == 20 and m.corpus_total_words == 100
    effective, raw = m.train(_tiny(), total_examples=m.corpus_count, epochs=m.epochs)
    assert raw == 100 * 5 and effective == raw  # sample=0 and every word known: every word is trained on
    m2 = Word2Vec(min_count=1, vector_size=8, progress=False)  # sample=1e-3 drops most of a tiny corpus
    m2.build_vocab(_tiny())
    effective, raw = m2.train(sentences=_tiny(), total_words=m2.corpus_total_words, epochs=2)
    assert raw == 200 and effective < raw and m2.epochs == 2


def test_determinism_with_a_seed():
    kw = dict(vector_size=16, min_count=1, sample=0, epochs=3, progress=False, sg=1)
    a = Word2Vec(_tiny() * 5, seed=7, workers=1, **kw)
    b = Word2Vec(_tiny() * 5, seed=7, workers=1, **kw)
    c = Word2Vec(_tiny() * 5, seed=7, workers=4, **kw)  # workers changes nothing here
    d = Word2Vec(_tiny() * 5, seed=8, workers=1, **kw)
    np.testing.assert_array_equal(a.wv.vectors, b.wv.vectors)
    np.testing.assert_array_equal(a.wv.vectors, c.wv.vectors)
    np.testing.assert_array_equal(a.syn1neg, b.syn1neg)
    assert not np.allclose(a.wv.vectors, d.wv.vectors)


class Recorder(CallbackAny2Vec):
    def __init__(self):
        self.events, self.alphas, self.losses, self.near = [], [], [], []

    def on_train_begin(self, model):
        self.events.append("train_begin")

    def on_epoch_begin(self, model):
        self.events.append("epoch_begin")

    def on_batch_begin(self, model):
        self.events.append("batch")
        self.alphas.append(model.min_alpha_yet_reached)

    def on_epoch_end(self, model):
        self.events.append("epoch_end")
        self.losses.append(model.get_latest_training_loss())

    def on_train_end(self, model):
        self.events.append("train_end")


def _schedule(alpha, min_alpha, epochs, chunk_progress):
    """gensim's per-job learning rate: alpha - (alpha - min_alpha) * (epoch + p) / epochs, at least min_alpha."""
    return [max(min_alpha, alpha - (alpha - min_alpha) * (e + p) / epochs)
            for e in range(epochs) for p in chunk_progress]


def test_learning_rate_decays_linearly_from_alpha_to_min_alpha():
    """40 sentences of 5 words, batch_words=50: chunks of 10 sentences, 4 per epoch."""
    sentences = [[f"w{(i + k) % 7}" for k in range(5)] for i in range(40)]
    rec = Recorder()
    m = Word2Vec(sentences, min_count=1, vector_size=8, epochs=3, batch_words=50, alpha=0.05, min_alpha=0.002,
                 callbacks=[rec], progress=False)
    np.testing.assert_allclose(rec.alphas, _schedule(0.05, 0.002, 3, [0, 0.25, 0.5, 0.75]), rtol=1e-12)
    assert rec.events == ["train_begin"] + (["epoch_begin"] + ["batch"] * 4 + ["epoch_end"]) * 3 + ["train_end"]
    # by words (total_words) the same here; an understated total is clipped at min_alpha, never below
    rec2 = Recorder()
    m.train(sentences, total_words=200, epochs=2, callbacks=[rec2])
    np.testing.assert_allclose(rec2.alphas, _schedule(0.05, 0.002, 2, [0, 0.25, 0.5, 0.75]), rtol=1e-12)
    rec3 = Recorder()
    m.train(sentences, total_examples=10, epochs=2, callbacks=[rec3])  # says 10 sentences, has 40
    np.testing.assert_allclose(rec3.alphas, _schedule(0.05, 0.002, 2, [0, 1, 2, 3]), rtol=1e-12)
    assert min(rec3.alphas) == 0.002
    rec4 = Recorder()
    m.train(sentences, total_examples=40, epochs=1, start_alpha=0.01, end_alpha=0.001, callbacks=[rec4])
    np.testing.assert_allclose(rec4.alphas, _schedule(0.01, 0.001, 1, [0, 0.25, 0.5, 0.75]), rtol=1e-12)
    assert (m.alpha, m.min_alpha) == (0.05, 0.002)  # start/end_alpha are for that call only


def test_compute_loss_and_get_latest_training_loss(corpus):
    rec = Recorder()
    m = Word2Vec(corpus[:600], vector_size=16, min_count=1, sample=0, epochs=4, sg=1, compute_loss=True,
                 callbacks=[rec], progress=False)
    total = m.get_latest_training_loss()
    assert total > 0 and rec.losses[-1] == total
    per_epoch = np.diff([0.0] + rec.losses)  # gensim's number is cumulative over the train() call
    assert (per_epoch > 0).all() and per_epoch[-1] < per_epoch[0]
    # the sum per epoch = mean loss per pair (loss_history) x pairs, so the two agree in their ratios
    np.testing.assert_allclose(per_epoch / per_epoch[0], np.array(m.loss_history) / m.loss_history[0], rtol=0.05)
    m.train(corpus[:600], total_examples=600, epochs=1, compute_loss=True)
    assert 0 < m.get_latest_training_loss() < total  # reset at every train() call
    m.train(corpus[:600], total_examples=600, epochs=1)  # compute_loss=False, as gensim's default in train()
    assert m.get_latest_training_loss() == 0.0
    quiet = Word2Vec(corpus[:200], vector_size=8, min_count=1, epochs=1, progress=False)
    assert quiet.get_latest_training_loss() == 0.0


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's overflow warnings on the way to NaN
def test_divergence_is_a_clear_error_and_the_default_step_avoids_it():
    """Steps of 1024 pairs on a 10-word vocabulary (sample=0) give each word ~100 updates at once: NaN.
    That is refused with a message naming batch_pairs; the default step (8 pairs per word) trains fine."""
    with pytest.raises(RuntimeError, match="batch_pairs"):
        Word2Vec(_tiny() * 20, vector_size=100, min_count=1, sample=0, epochs=10, sg=1, batch_pairs=1024,
                 progress=False)
    for sg in (0, 1):
        m = Word2Vec(_tiny() * 20, vector_size=100, min_count=1, sample=0, epochs=10, sg=sg, progress=False)
        assert np.isfinite(m.wv.vectors).all() and np.abs(m.wv.vectors).max() < 10
        assert m._step_pairs() == 80


def test_shrink_windows():
    n, window = 40, 3
    sentence = np.repeat(np.arange(4), 10)
    start = np.searchsorted(sentence, sentence, side="left")
    end = np.searchsorted(sentence, sentence, side="right")
    _, full = context_windows(n, start, end, window, np.random.default_rng(0), shrink=False)
    pos = np.arange(n)[:, None] + np.array([-3, -2, -1, 1, 2, 3])
    np.testing.assert_array_equal(full, (pos >= start[:, None]) & (pos < end[:, None]))
    # through the model: skip-gram pairs of one 10-word sentence, sample=0
    sentences = [[f"w{i}" for i in range(10)]] * 200
    exact = sum(min(i, window) + min(9 - i, window) for i in range(10)) * 200
    counts = {}
    for shrink in (False, True):
        m = Word2Vec(min_count=1, sample=0, window=window, sg=1, shrink_windows=shrink, batch_words=10 ** 6,
                     progress=False)
        m.build_vocab(sentences)
        (ids, sent), _ = next(m._chunks(sentences))
        counts[shrink] = m._examples(ids, sent)["inputs"].size
    assert counts[False] == exact
    assert counts[True] < 0.8 * exact  # windows drawn from 1..3 keep (3 + 2 + 1) / (3 * 3) of far pairs


def test_sample_formula_is_gensims():
    counts = np.array([5000, 800, 60, 3])
    for sample in (1e-3, 1e-5):
        t = sample * counts.sum()
        np.testing.assert_allclose(w2v.keep_probabilities(counts, sample),
                                   np.minimum(1.0, (np.sqrt(counts / t) + 1) * t / counts))
    t = int(50 * (3 + math.sqrt(5)) / 2)  # sample >= 1: a count threshold
    np.testing.assert_allclose(w2v.keep_probabilities(counts, 50),
                               np.minimum(1.0, (np.sqrt(counts / t) + 1) * t / counts))
    assert w2v.keep_probabilities(counts, 50)[2:].tolist() == [1.0, 1.0]


# ---------------------------------------------------------------- vocabulary options
def _vocab_corpus():
    return [["a"] * 9 + ["b"] * 7 + ["c"] * 5 + ["d"] * 5 + ["e"] * 2 + ["f"]]


def test_max_final_vocab_trim_rule_sorted_vocab():
    m = Word2Vec(min_count=1, max_final_vocab=3, progress=False)
    m.build_vocab(_vocab_corpus())
    assert m.wv.index_to_key == ["a", "b"] and m.effective_min_count == 6  # c and d tie at 5: both go
    m = Word2Vec(min_count=1, max_final_vocab=4, progress=False)
    m.build_vocab(_vocab_corpus())
    assert m.wv.index_to_key == ["a", "b", "c", "d"] and m.effective_min_count == 3
    m = Word2Vec(min_count=6, max_final_vocab=10, progress=False)  # never below min_count
    m.build_vocab(_vocab_corpus())
    assert m.wv.index_to_key == ["a", "b"]

    def rule(word, count, min_count):
        return RULE_KEEP if word == "f" else RULE_DISCARD if word == "a" else w2v.RULE_DEFAULT
    m = Word2Vec(_vocab_corpus(), min_count=3, trim_rule=rule, epochs=1, progress=False)
    assert m.wv.index_to_key == ["b", "c", "d", "f"]
    m = Word2Vec(min_count=1, sorted_vocab=0, progress=False)
    m.build_vocab([["z", "y", "y", "x", "x", "x"]])
    assert m.wv.index_to_key == ["z", "y", "x"] and m.wv.get_vecattr("x", "count") == 3


def test_online_vocabulary_update():
    m = Word2Vec(_tiny(), min_count=1, vector_size=8, sample=0, epochs=2, progress=False)
    before = m.wv.vectors.copy()
    new = [["the", "bird", "flew"], ["a", "bird", "sang"]] * 3
    m.build_vocab(new, update=True)
    old_words = Word2Vec(_tiny(), min_count=1, progress=False).wv.index_to_key
    assert m.wv.index_to_key == old_words + ["bird", "flew", "sang"]  # new words appended, most frequent first
    np.testing.assert_array_equal(m.wv.vectors[:10], before)  # trained rows kept
    assert m.wv.get_vecattr("the", "count") == 25 + 3 and m.wv.get_vecattr("bird", "count") == 6
    assert m.corpus_count == 6 and m.corpus_total_words == 18
    assert m.syn1neg.shape == (13, 8) and not m.syn1neg[10:].any()  # new output rows start at zero
    fresh = m.wv["bird"].copy()
    m.train(new, total_examples=m.corpus_count, epochs=m.epochs)
    assert not np.array_equal(fresh, m.wv["bird"])


# ---------------------------------------------------------------- quality: planted structure
def test_analogies_on_planted_structure(model):
    wv = model.wv
    right = 0
    for i in range(N_ENTITIES):
        for j in range(N_ENTITIES):
            if i != j:  # m_i : f_i = m_j : ?
                right += wv.most_similar(positive=[f"f{i}", f"m{j}"], negative=[f"m{i}"], topn=1)[0][0] == f"f{j}"
    assert right >= 27, f"{right}/30 analogies right"  # this run: 30/30; a random table would get ~0
    cosmul = sum(wv.most_similar_cosmul(positive=[f"f{i}", f"m{j}"], negative=[f"m{i}"], topn=1)[0][0] == f"f{j}"
                 for i in range(N_ENTITIES) for j in range(N_ENTITIES) if i != j)
    assert cosmul >= 27
    assert wv.doesnt_match(["e0ctx0", "e0ctx1", "e0ctx2", "e3ctx1"]) == "e3ctx1"
    assert wv.similarity("e1ctx0", "e1ctx1") > wv.similarity("e1ctx0", "e4ctx1") + 0.3


def test_cbow_default_learns_the_planted_analogies(corpus):
    m = Word2Vec(corpus, vector_size=24, window=4, min_count=1, sample=0, epochs=15, seed=3, progress=False)
    right = sum(m.wv.most_similar(positive=[f"f{i}", f"m{j}"], negative=[f"m{i}"], topn=1)[0][0] == f"f{j}"
                for i in range(N_ENTITIES) for j in range(N_ENTITIES) if i != j)
    assert right >= 24, f"CBOW: {right}/30"


def test_predict_output_word(model):
    out = model.predict_output_word(["mctx0", "e2ctx1", "e2ctx3"], topn=4)
    assert out[0][0] == "m2"
    probs = [p for _, p in out]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1
    # gensim's formula: softmax over the vocabulary of (mean of the context vectors) . output vectors
    h = model.wv[["mctx0", "e2ctx1", "e2ctx3"]].astype(np.float64).mean(axis=0)
    scores = model.syn1neg.astype(np.float64) @ h
    p = np.exp(scores - scores.max())
    p /= p.sum()
    assert out[0][1] == pytest.approx(p.max(), rel=1e-9)
    with pytest.warns(UserWarning):
        assert model.predict_output_word(["unknown"]) is None


# ---------------------------------------------------------------- the KeyedVectors API
def test_lookup_api(model, corpus):
    wv = model.wv
    assert len(wv) == len(wv.index_to_key) == wv.vectors.shape[0] == 6 * 4 + 2 * 4 + 12
    assert all(wv.key_to_index[w] == i for i, w in enumerate(wv.index_to_key))
    v = wv["m0"]
    assert v.dtype == np.float32 and v.shape == (24,) and not v.flags.writeable  # a read-only view, as gensim
    with pytest.raises(ValueError):
        v[0] = 1.0
    np.testing.assert_array_equal(wv[0], wv[wv.index_to_key[0]])  # int keys are rows
    np.testing.assert_array_equal(wv[["m0", "f1"]], np.stack([wv["m0"], wv["f1"]]))
    assert "m0" in wv and "zzz" not in wv and wv.has_index_for("f5") and not wv.has_index_for("zzz")
    assert wv.get_index("zzz", -1) == -1
    with pytest.raises(KeyError, match="zzz"):
        wv["zzz"]
    unit = wv.get_vector("m0", norm=True)
    assert unit == pytest.approx(wv["m0"] / np.linalg.norm(wv["m0"]), abs=1e-6)
    np.testing.assert_allclose(np.linalg.norm(wv.get_normed_vectors(), axis=1), 1.0, rtol=1e-5)
    counts = {}
    for s in corpus:
        for w in s:
            counts[w] = counts.get(w, 0) + 1
    assert all(wv.get_vecattr(w, "count") == counts[w] for w in wv.index_to_key)


def test_similarities_and_distances(model):
    wv = model.wv

    def cos(a, b):
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    assert wv.similarity("m0", "f3") == pytest.approx(cos(wv["m0"], wv["f3"]), abs=1e-6)
    assert wv.distance("m0", "f3") == pytest.approx(1 - cos(wv["m0"], wv["f3"]), abs=1e-6)
    d = wv.distances("m0")
    assert d.shape == (len(wv),) and d[wv.get_index("m0")] == pytest.approx(0, abs=1e-6)
    np.testing.assert_allclose(wv.distances("m0", ["f3", "e1ctx0"]),
                               [1 - cos(wv["m0"], wv["f3"]), 1 - cos(wv["m0"], wv["e1ctx0"])], atol=1e-6)
    np.testing.assert_allclose(wv.distances(wv["m0"], ["f3"]), wv.distances("m0", ["f3"]), atol=1e-6)
    # n_similarity: cosine of the means of the raw vectors
    a, b = ["m0", "m1"], ["f0", "e2ctx1", "f3"]
    assert wv.n_similarity(a, b) == pytest.approx(cos(wv[a].mean(0), wv[b].mean(0)), abs=1e-6)
    with pytest.raises(ValueError):
        wv.n_similarity([], b)
    assert wv.rank("m0", wv.most_similar("m0", topn=3)[2][0]) == 3
    assert set(wv.closer_than("m0", wv.most_similar("m0", topn=3)[2][0])) == \
        {w for w, _ in wv.most_similar("m0", topn=2)}
    assert wv.most_similar_to_given("e1ctx0", ["e4ctx0", "e1ctx2", "f2"]) == "e1ctx2"
    with pytest.warns(UserWarning, match="not in the vocabulary"):
        assert wv.doesnt_match(["e0ctx0", "e0ctx1", "nope", "e3ctx1"]) == "e3ctx1"


def test_most_similar_argument_forms(model):
    wv = model.wv
    unit = wv.get_normed_vectors()

    def ranked(query, exclude):
        q = query / np.linalg.norm(query)
        scores = unit @ q
        order = [i for i in np.argsort(-scores, kind="stable") if i not in exclude]
        return [(wv.index_to_key[i], float(scores[i])) for i in order]

    def same(got, want):
        assert [w for w, _ in got] == [w for w, _ in want[:len(got)]]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in want[:len(got)]], atol=1e-5)
    i = wv.get_index
    # (key, weight) pairs
    same(wv.most_similar(positive=[("f1", 2.0), "m2"], negative=["m1"], topn=5),
         ranked(2 * unit[i("f1")] + unit[i("m2")] - unit[i("m1")], {i("f1"), i("m2"), i("m1")}))
    # a raw vector counts as given (gensim 4), a word through its unit vector
    vec = wv["e3ctx0"] * 7.0
    same(wv.most_similar(positive=["m4", vec], topn=5), ranked(unit[i("m4")] + vec, {i("m4")}))
    # similar_by_vector leaves nothing out: a word's own vector finds the word first
    assert wv.similar_by_vector(wv["f2"], topn=1)[0][0] == "f2"
    assert wv.similar_by_word("f2", topn=3) == wv.most_similar("f2", topn=3)
    # restrict_vocab: only the first n words are candidates
    assert all(i(w) < 10 for w, _ in wv.most_similar("m0", topn=5, restrict_vocab=10))
    assert wv.most_similar("m0", topn=None).shape == (len(wv),)
    assert wv.most_similar("m0", topn=0) == []
    # most_similar_cosmul: prod (1 + cos(w, p)) / 2 / (prod (1 + cos(w, n)) / 2 + 1e-6)
    pos, neg = [unit[i("f1")], unit[i("m2")]], [unit[i("m1")]]
    score = ((1 + unit @ pos[0]) / 2) * ((1 + unit @ pos[1]) / 2) / ((1 + unit @ neg[0]) / 2 + 1e-6)
    want = [(wv.index_to_key[k], float(score[k])) for k in np.argsort(-score, kind="stable")
            if k not in {i("f1"), i("m2"), i("m1")}]
    same(wv.most_similar_cosmul(positive=["f1", "m2"], negative=["m1"], topn=4), want)


def test_add_vectors_and_standalone_keyed_vectors():
    kv = KeyedVectors(3)
    kv.add_vectors(["a", "b"], np.array([[1, 0, 0], [0, 1, 0]]))
    assert kv.add_vector("c", [1, 1, 0]) == 2
    assert kv.index_to_key == ["a", "b", "c"] and kv.vectors.dtype == np.float32
    assert kv.most_similar("c", topn=2)[0][1] == pytest.approx(math.sqrt(0.5))
    kv.add_vectors(["a", "d"], [[5, 5, 5], [0, 0, 1]])  # known keys keep their vector ...
    np.testing.assert_array_equal(kv["a"], [1, 0, 0])
    kv.add_vectors(["a"], [[0, 0, 2]], replace=True)  # ... unless replace=True
    np.testing.assert_array_equal(kv["a"], [0, 0, 2])
    assert kv.most_similar("d", topn=1)[0][0] == "a"  # the cache of unit vectors followed the change
    with pytest.raises(ValueError, match="add_vectors"):
        kv.add_vectors(["e"], [[1, 2]])


# ---------------------------------------------------------------- evaluation on user files
def _analogy_file(tmp_path):
    lines = [": gender"]
    lines += [f"{'M' if i == 0 else 'm'}{i} {'F' if i == 0 else 'f'}{i} m{j} f{j}"  # 5 upper-case lines
              for i in range(N_ENTITIES) for j in range(N_ENTITIES) if i != j][:20]
    lines += ["m0 f0 unknownword f1", ": entity-contexts", "e0ctx0 e0ctx1 e1ctx0 e1ctx1", "bad line"]
    path = tmp_path / "questions.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_evaluate_word_analogies(model, tmp_path):
    path = _analogy_file(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score, sections = model.wv.evaluate_word_analogies(path)
    assert [s["section"] for s in sections] == ["gender", "entity-contexts", "Total accuracy"]
    gender = sections[0]
    assert len(gender["correct"]) + len(gender["incorrect"]) == 20  # the unknown-word question is skipped
    assert len(gender["correct"]) >= 18
    assert all(w == w.upper() for q in gender["correct"] for w in q)  # upper-cased, as gensim reports them
    total = sections[-1]
    assert score == len(total["correct"]) / (len(total["correct"]) + len(total["incorrect"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, with_dummy = model.wv.evaluate_word_analogies(path, dummy4unknown=True)
        _, exact_case = model.wv.evaluate_word_analogies(path, case_insensitive=False)
    assert len(with_dummy[0]["incorrect"]) == len(gender["incorrect"]) + 1
    assert len(exact_case[0]["correct"]) + len(exact_case[0]["incorrect"]) == 20 - 5  # "M0 F0 ..." rows unknown


def _pairs_file(wv, tmp_path):
    """Pairs scored by a noisy version of the model's own similarity: the correlations must be high."""
    rng = np.random.default_rng(0)
    words = wv.index_to_key
    lines = ["# word1\tword2\tscore"]
    for _ in range(40):
        a, b = rng.choice(len(words), 2, replace=False)
        score = 10 * wv.similarity(words[a], words[b]) + rng.normal(0, 0.5)
        lines.append(f"{words[a].upper()}\t{words[b]}\t{score:.3f}")
    lines += ["cat\tm0\t3.0", "broken line"]
    path = tmp_path / "pairs.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_evaluate_word_pairs(model, tmp_path):
    stats = pytest.importorskip("scipy.stats")
    path = _pairs_file(model.wv, tmp_path)
    pearson, spearman, oov = model.wv.evaluate_word_pairs(path)
    assert oov == pytest.approx(100 / 41)
    assert pearson[0] > 0.8 and spearman.correlation > 0.8
    gold, ours = [], []
    for line in path.read_text().splitlines()[1:41]:
        a, b, s = line.split("\t")
        gold.append(float(s))
        ours.append(model.wv.similarity(a.lower(), b))
    ref_p, ref_s = stats.pearsonr(gold, ours), stats.spearmanr(gold, ours)
    assert pearson.statistic == pytest.approx(ref_p[0], rel=1e-6)
    assert pearson.pvalue == pytest.approx(ref_p[1], rel=1e-5)
    assert spearman.statistic == pytest.approx(ref_s[0], rel=1e-9)
    assert spearman.pvalue == pytest.approx(ref_s[1], rel=1e-5)
    _, _, oov_dummy = model.wv.evaluate_word_pairs(path, dummy4unknown=True)
    assert oov_dummy == pytest.approx(100 / 41)
    with pytest.raises(ValueError, match="no usable"):
        model.wv.evaluate_word_pairs(path, delimiter=",")


def test_correlation_p_values_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    for n in (3, 5, 12, 60):
        x = rng.normal(size=n)
        y = 0.3 * x + rng.normal(size=n)
        y[: n // 3] = np.round(y[: n // 3])  # some ties for the ranks
        got = w2v._pearson(x, y)
        ref = stats.pearsonr(x, y)
        assert got.statistic == pytest.approx(ref[0], rel=1e-10) and got.pvalue == pytest.approx(ref[1], rel=1e-8)
        np.testing.assert_allclose(w2v._average_ranks(y), stats.rankdata(y))


# ---------------------------------------------------------------- files
@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_format_round_trip_with_vocab_file(model, tmp_path, binary):
    path, vocab = tmp_path / "v.bin", tmp_path / "vocab.txt"
    model.wv.save_word2vec_format(path, fvocab=vocab, binary=binary)
    kv = KeyedVectors.load_word2vec_format(path, fvocab=vocab, binary=binary)
    assert kv.index_to_key == model.wv.index_to_key
    np.testing.assert_array_equal(kv.vectors, model.wv.vectors)
    assert all(kv.get_vecattr(w, "count") == model.wv.get_vecattr(w, "count") for w in kv.index_to_key)
    head = KeyedVectors.load_word2vec_format(path, binary=binary, limit=5)
    assert head.index_to_key == model.wv.index_to_key[:5]
    assert KeyedVectors.load_word2vec_format(path, binary=binary, datatype=np.float64).vectors.dtype == np.float64


def test_word2vec_format_variants(tmp_path):
    """Files other tools write: word2vec.c text (trailing space), binary entries without the newline
    (gensim 4 writes none), GloVe text without the header, non-ASCII words, a repeated word."""
    vecs = {"über": [1.0, 2.0], "x": [0.5, -1.25], "ναι": [3.0, 0.0]}
    text = tmp_path / "c.txt"
    text.write_bytes(("3 2\n" + "".join(f"{w} {a:f} {b:f} \n" for w, (a, b) in vecs.items())).encode("utf-8"))
    kv = KeyedVectors.load_word2vec_format(text)
    assert kv.index_to_key == list(vecs) and kv["ναι"].tolist() == [3.0, 0.0]
    binary = tmp_path / "g.bin"
    binary.write_bytes(b"3 2\n" + b"".join(w.encode() + b" " + struct.pack("<2f", *v) for w, v in vecs.items()))
    kv = KeyedVectors.load_word2vec_format(binary, binary=True)
    assert kv.index_to_key == list(vecs) and kv["x"].tolist() == [0.5, -1.25]
    glove = tmp_path / "glove.txt"
    glove.write_text("".join(f"{w} {a} {b}\n" for w, (a, b) in vecs.items()), encoding="utf-8")
    assert KeyedVectors.load_word2vec_format(glove, no_header=True).index_to_key == list(vecs)
    with pytest.raises(ValueError, match="no_header"):
        KeyedVectors.load_word2vec_format(glove)
    dup = tmp_path / "dup.txt"
    dup.write_text("3 2\na 1 2\nb 3 4\na 5 6\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="duplicate word 'a'"):
        kv = KeyedVectors.load_word2vec_format(dup)
    assert kv.index_to_key == ["a", "b"] and kv["a"].tolist() == [1.0, 2.0]
    cut = tmp_path / "cut.bin"  # a word cut inside a multi-byte character
    cut.write_bytes(b"1 1\nab\xc3 " + struct.pack("<f", 1.0))
    with pytest.raises(UnicodeDecodeError):
        KeyedVectors.load_word2vec_format(cut, binary=True)
    assert KeyedVectors.load_word2vec_format(cut, binary=True, unicode_errors="ignore").index_to_key == ["ab"]


def test_gensim_reads_our_files_and_we_read_its_files(model, tmp_path):
    gensim = pytest.importorskip("gensim")
    theirs_kv = gensim.models.KeyedVectors
    for binary in (False, True):
        ours = tmp_path / f"ours{int(binary)}"
        model.wv.save_word2vec_format(ours, binary=binary)
        g = theirs_kv.load_word2vec_format(ours, binary=binary)
        assert list(g.index_to_key) == model.wv.index_to_key
        np.testing.assert_array_equal(g.vectors, model.wv.vectors)
        theirs = tmp_path / f"theirs{int(binary)}"
        g.save_word2vec_format(theirs, binary=binary)
        back = KeyedVectors.load_word2vec_format(theirs, binary=binary)
        assert back.index_to_key == model.wv.index_to_key
        np.testing.assert_allclose(back.vectors, model.wv.vectors, rtol=1e-6)  # gensim's text has ~8 digits
    # the same vectors give gensim's answers
    assert [w for w, _ in g.most_similar(positive=["f1", "m2"], negative=["m1"], topn=5)] == \
        [w for w, _ in model.wv.most_similar(positive=["f1", "m2"], negative=["m1"], topn=5)]
    assert g.doesnt_match(["e0ctx0", "e0ctx1", "e0ctx2", "e3ctx1"]) == "e3ctx1"
    path = _analogy_file(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_score, ref_sections = g.evaluate_word_analogies(path)
        score, sections = model.wv.evaluate_word_analogies(path)
    assert score == ref_score
    assert [(s["section"], s["correct"], s["incorrect"]) for s in sections] == \
        [(s["section"], s["correct"], s["incorrect"]) for s in ref_sections]
    pairs = _pairs_file(model.wv, tmp_path)
    ref = g.evaluate_word_pairs(pairs)
    got = model.wv.evaluate_word_pairs(pairs)
    assert got[0][0] == pytest.approx(ref[0][0], rel=1e-5) and got[1][0] == pytest.approx(ref[1][0], rel=1e-5)
    assert got[2] == pytest.approx(ref[2])


def test_native_save_load(model, tmp_path):
    model.wv.save(tmp_path / "wv.kv")
    kv = KeyedVectors.load(tmp_path / "wv.kv")
    assert kv.index_to_key == model.wv.index_to_key
    np.testing.assert_array_equal(kv.vectors, model.wv.vectors)
    assert kv.get_vecattr("m0", "count") == model.wv.get_vecattr("m0", "count")
    np.load(tmp_path / "wv.kv", allow_pickle=False).close()  # no pickle inside
    model.save(tmp_path / "model.npz")
    with pytest.raises(ValueError, match="KeyedVectors.save"):  # a whole model is not a KeyedVectors file
        KeyedVectors.load(tmp_path / "model.npz")
    m = Word2Vec(_tiny(), min_count=1, vector_size=8, shrink_windows=False, max_final_vocab=50, workers=2,
                 compute_loss=True, progress=False)
    m.save(tmp_path / "m.npz")
    loaded = Word2Vec.load(tmp_path / "m.npz")
    assert (loaded.sg, loaded.shrink_windows, loaded.max_final_vocab, loaded.workers) == (0, False, 50, 2)
    assert loaded.get_latest_training_loss() == m.get_latest_training_loss() > 0
    np.testing.assert_array_equal(loaded.syn1neg, m.syn1neg)
    assert loaded.wv.get_vecattr("the", "count") == 25
