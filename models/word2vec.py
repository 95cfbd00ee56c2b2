"""Word2vec: skip-gram and CBOW with negative sampling (Mikolov et al. 2013), trained by minigrad.

    from models.word2vec import Word2Vec
    model = Word2Vec(sentences, vector_size=100, window=5, min_count=5, epochs=5, sg=1)   # sg=0 (default): CBOW
    model.wv.most_similar("king")
    model.wv.most_similar(positive=["king", "woman"], negative=["man"])   # 3CosAdd analogy

What is learned. Every vocabulary word w has an *input* vector u_w (the word
vector users keep, `wv`) and an *output* vector v_w. Skip-gram reads each
(context word c, centre word t) pair of the corpus as a binary task: tell the
observed centre word apart from `negative` noise words n_1..n_K drawn from the
unigram distribution raised to 0.75:

    loss(c, t) = -log s(u_c . v_t) - sum_k log s(-u_c . v_{n_k}),   s = sigmoid

CBOW (`sg=0`) does the same with h = mean of the context words' input vectors in
place of u_c, predicting the centre word from its whole window.

The pipeline, in the order of word2vec.c (the reference C tool) and gensim:

1. Vocabulary (one pass over the stream): count words; prune the rarest whenever
   there are more than `max_vocab_size` distinct words (C: ReduceVocab); keep words
   seen at least `min_count` times, most frequent first.
2. Per chunk of about `batch_words` words, vectorised with NumPy on the host:
   drop out-of-vocabulary words; subsample frequent words (word w survives with
   probability (sqrt(f_w / (sample * T)) + 1) * (sample * T) / f_w, T the number of
   in-vocabulary words: the C tool's formula); give each centre word an effective
   window b drawn uniformly from 1..window ("dynamic window": near words count
   more); list the (context, centre) pairs of every window inside its sentence;
   draw the noise words in bulk (Walker's alias method: O(1) per draw, exact).
3. Per step of `batch_pairs` pairs, on the model's device: gather the input rows
   (`F.embedding`, sparse), score each against its centre word and noise words
   (`F.embedding_dot`: gather and dot products in one op, whose backward sums the
   output-table gradient rows without forming one row per (pair, target)), log-sigmoid
   loss, autograd backward into row-sparse gradients, and one `optim.SGD` step that
   moves only the touched rows. The learning rate decays linearly from `alpha` to
   `min_alpha` over all the words of all epochs, updated once per chunk from the words done before it
   (word2vec.c updates it every 10,000 words, gensim once per job of batch_words).

How a batch relates to the C tool's per-pair SGD (the one real difference). The C
tool and gensim update the vectors after every single pair (several threads doing
so without locks: "Hogwild"). Here the pairs of one step are evaluated at the same
parameters and their gradients are *summed* (the loss is the sum, not the mean, of
the per-pair losses), so each pair moves the vectors by the same lr * gradient as in
the C tool, just slightly later. Summing is right for the rare words (one pair, one
C-sized update); a mean would divide every update by the batch size. The danger is
the frequent words: one that is the noise word of hundreds of pairs in a step gets
hundreds of updates computed at the *same* point, which overshoots where sequential
updates would have slowed down. Steps of `batch_pairs=1024` pairs (about 300 words
of text) keep that small: on the synthetic class task (a 260-word vocabulary, the
worst case for repeats) precision@5 is within 0.01 of gensim's with the same
initialisation, 256-pair steps within 0.002, while 8k-pair steps lose a few points
and 16k+ pairs visibly damage frequent words (benchmarks/RESULTS.md). Smaller steps
cost speed: about half of a 1024-pair step is fixed per-step work (Python, autograd,
index bookkeeping), so 256-pair steps train at roughly half the words/s. On a GPU that
fixed work is nearly all of a 1024-pair step (kernel launches): an H200 trained at ~100k
words/s there, slower than the CPU, and at ~700k words/s with 16k-pair steps, which cost
the quality above (benchmarks/RESULTS.md, "GPU"). `batch_words`
only sets how much text is prepared at once (and how often the learning rate is updated).

Initialisation: input vectors U(-0.5/D, 0.5/D) as word2vec.c (gensim >= 4 uses
U(-1/D, 1/D), which trains faster in short runs), output vectors zero.

Other deliberate differences: sigmoid is computed exactly (the C tool and gensim use
a table on |x| < 6; gensim skips the update beyond it); sentences longer than 10,000
words are split (gensim's LineSentence does the same, the C tool splits at 1,000);
there is no hierarchical softmax (hs=1 raises NotImplementedError, never a silent
fallback); `workers` is accepted and ignored (one process trains vectorised batches, and the
result depends on `seed` only, whatever `workers` is: gensim needs workers=1 for that);
`max_vocab_size` prunes as word2vec.c (words seen at most r times, r = 1, 2, ...) and
guarantees the bound; `build_vocab(update=True)` recomputes the subsampling and noise
tables from the summed counts. Everything else follows gensim 4's names, defaults
(sg=0: CBOW, seed=1) and semantics: `train(corpus, total_examples=..., epochs=...)`,
the learning-rate schedule, `compute_loss` / `get_latest_training_loss()`, callbacks
(`CallbackAny2Vec`), `shrink_windows`, `max_final_vocab`, `trim_rule`, and `wv`, a
`KeyedVectors` with gensim's look-up, similarity, evaluation and word2vec-file API.
"""
from __future__ import annotations

import itertools
import math
import os
import sys
import time
import warnings
from collections import Counter, namedtuple

import minigrad as mg
from minigrad import backend as _B
from minigrad import functional as F
from minigrad import nn, optim

np = _B.np  # host-side data preparation (vocabulary, sampling, index arrays) and the host word vectors

__all__ = [
    "Word2Vec", "KeyedVectors", "SkipGramNegativeSampling", "CBOWNegativeSampling", "negative_sampling_loss",
    "skipgram_loss", "cbow_loss",
    "LineSentence", "build_vocab", "keep_probabilities", "AliasSampler", "context_windows",
    "synthetic_class_corpus", "neighbour_precision", "CallbackAny2Vec", "RULE_DEFAULT", "RULE_DISCARD", "RULE_KEEP",
]

MAX_SENTENCE_LENGTH = 10000  # longer sentences are split into pieces of this many words (as gensim's LineSentence)
_FORMAT = "minigrad-word2vec"
_FORMAT_VERSION = 1


# ====================================================================== corpus streaming
class LineSentence:
    """A corpus file read lazily: one sentence per line, tokens separated by whitespace (gensim's LineSentence).

    Re-iterable (each `iter()` reopens the file), so it can be passed as `sentences`
    and streamed once per epoch without holding the corpus in memory.

    Args:
        path: a UTF-8 text file.
        max_sentence_length: lines longer than this are split into pieces of this many tokens.
    """

    def __init__(self, path, max_sentence_length: int = MAX_SENTENCE_LENGTH):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"LineSentence: no such corpus file: {self.path!r}")
        self.max_sentence_length = int(max_sentence_length)

    def __iter__(self):
        n = self.max_sentence_length
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                words = line.split()
                for i in range(0, len(words), n):
                    yield words[i:i + n]

    def __repr__(self):
        return f"LineSentence({self.path!r})"


def _check_reiterable(sentences, who: str):
    """Refuse one-shot iterators: training reads the corpus once for the vocabulary and once per epoch."""
    if isinstance(sentences, (str, bytes)):
        raise TypeError(f"{who}: sentences must be an iterable of token lists, got a single "
                        f"{type(sentences).__name__}; for a text file pass corpus_file=PATH")
    try:
        it = iter(sentences)
    except TypeError:
        raise TypeError(f"{who}: sentences must be an iterable of token lists, "
                        f"got {type(sentences).__name__}") from None
    if it is sentences:
        raise TypeError(f"{who}: sentences is a one-shot iterator ({type(sentences).__name__}), but the corpus is read "
                        "once for the vocabulary and once per epoch; pass a list, a LineSentence, or an object whose "
                        "__iter__ returns a fresh iterator each time")


def _sentence_pieces(sentences, who: str):
    """Yield each sentence as a list of str tokens, split into pieces of at most MAX_SENTENCE_LENGTH."""
    for s in sentences:
        if isinstance(s, (str, bytes)):
            raise TypeError(f"{who}: each sentence must be a list of tokens, got a {type(s).__name__} "
                            f"({s[:40]!r}...); split it into words first, e.g. text.split()")
        if not isinstance(s, list):
            s = list(s)
        if s and not isinstance(s[0], str):
            raise TypeError(f"{who}: tokens must be str, got {type(s[0]).__name__} ({s[0]!r})")
        if len(s) <= MAX_SENTENCE_LENGTH:
            yield s
        else:
            for i in range(0, len(s), MAX_SENTENCE_LENGTH):
                yield s[i:i + MAX_SENTENCE_LENGTH]


# ====================================================================== vocabulary
RULE_DEFAULT, RULE_DISCARD, RULE_KEEP = 0, 1, 2  # what a trim_rule returns (gensim.utils' values)


def _keep_word(word, count, min_count, trim_rule=None) -> bool:
    """gensim's keep_vocab_item: count >= min_count, unless trim_rule(word, count, min_count) says KEEP or DISCARD."""
    if trim_rule is not None:
        rule = trim_rule(word, count, min_count)
        if rule == RULE_KEEP:
            return True
        if rule == RULE_DISCARD:
            return False
    return count >= min_count


def _count_words(sentences, max_vocab_size=None, trim_rule=None, who="build_vocab"):
    """One pass: (Counter of words in first-seen order, number of tokens, number of sentences)."""
    if max_vocab_size is not None and (isinstance(max_vocab_size, bool) or not isinstance(max_vocab_size, int)
                                       or max_vocab_size < 1):
        raise ValueError(f"{who}: max_vocab_size must be None or an int >= 1, got {max_vocab_size!r}")
    counts = Counter()
    total = n_sentences = 0
    min_reduce = 1
    for s in _sentence_pieces(sentences, who):
        counts.update(s)
        total += len(s)
        n_sentences += 1
        if max_vocab_size is not None and len(counts) > max_vocab_size:
            min_reduce = _prune(counts, min_reduce, trim_rule)
    while max_vocab_size is not None and len(counts) > max_vocab_size:
        min_reduce = _prune(counts, min_reduce, trim_rule)
    return counts, total, n_sentences


def _effective_min_count(counts: Counter, min_count: int, max_final_vocab=None) -> int:
    """gensim's max_final_vocab: raise min_count just enough that at most max_final_vocab words pass it
    (the count of the (max_final_vocab+1)-th most frequent word, plus one); never lower than min_count."""
    if max_final_vocab is None or max_final_vocab >= len(counts):
        return min_count
    ranked = sorted(counts.values(), reverse=True)
    return max(min_count, ranked[max_final_vocab] + 1)


def _select_words(counts: Counter, min_count: int, trim_rule=None, sorted_vocab=True):
    """The kept (word, count) pairs: most frequent first (ties in order of first appearance) or in first-seen order."""
    kept = [(w, c) for w, c in counts.items() if _keep_word(w, c, min_count, trim_rule)]
    if sorted_vocab:
        kept.sort(key=lambda wc: -wc[1])  # stable, and Counter keeps first-seen order
    return [w for w, _ in kept], np.array([c for _, c in kept], dtype=np.int64)


def build_vocab(sentences, min_count: int = 5, max_vocab_size=None, trim_rule=None, max_final_vocab=None,
                sorted_vocab=True):
    """Count the words of a sentence stream and keep the frequent ones.

    Args:
        sentences: iterable of token lists (read once).
        min_count: keep words seen at least this often.
        max_vocab_size: while counting, whenever more than this many distinct words are held,
            drop those seen at most `r` times and raise r by one (word2vec.c's ReduceVocab,
            r starting at 1), so counting needs bounded memory; the final vocabulary has at
            most this many words. None: no limit.
        trim_rule: optional callable (word, count, min_count) -> RULE_KEEP / RULE_DISCARD /
            RULE_DEFAULT (gensim's): overrides the count test for the words it names.
        max_final_vocab: keep at most this many words by raising min_count as needed (gensim).
        sorted_vocab: most frequent first (True) or in order of first appearance.

    Returns:
        (words, counts, total_words, n_sentences): the kept words, most frequent first
        (ties in order of first appearance); their counts (int64 array); the number of
        tokens in the corpus (out-of-vocabulary ones included); the number of sentences.
    """
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise ValueError(f"build_vocab: min_count must be an int >= 1, got {min_count!r}")
    counts, total, n_sentences = _count_words(sentences, max_vocab_size, trim_rule)
    words, freq = _select_words(counts, _effective_min_count(counts, min_count, max_final_vocab), trim_rule,
                                sorted_vocab)
    return words, freq, total, n_sentences


def _prune(counts: Counter, min_reduce: int, trim_rule=None) -> int:
    """Delete words seen at most `min_reduce` times; return the next threshold (C's ReduceVocab)."""
    for w in [w for w, c in counts.items() if not _keep_word(w, c, min_reduce + 1, trim_rule)]:
        del counts[w]
    return min_reduce + 1


# ====================================================================== sampling
def keep_probabilities(counts, sample: float):
    """Probability that each occurrence of a word survives subsampling (word2vec.c's formula).

    With T = counts.sum() and threshold t = sample * T, a word seen f times is kept with
    probability min(1, (sqrt(f / t) + 1) * t / f): about sqrt(t / f) for very frequent
    words, 1 for words rarer than about 2.6 t. sample=0 disables subsampling. As gensim, a
    `sample` of 1 or more is an absolute count instead: t = int(sample * (3 + sqrt 5) / 2).
    """
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0:
        return np.ones(counts.shape, dtype=np.float64)
    if sample < 1.0:
        t = sample * counts.sum()
    else:  # gensim: sample >= 1 is a word count; words seen fewer than about `sample` times are all kept
        t = float(int(sample * (3.0 + math.sqrt(5.0)) / 2.0))
    return np.minimum(1.0, (np.sqrt(counts / t) + 1.0) * t / counts)


class AliasSampler:
    """Draws from a fixed discrete distribution in O(1) per draw (Walker's alias method, Vose's construction).

    The table splits the n outcomes into n equally likely columns; column i holds outcome
    i with probability prob[i] and outcome alias[i] otherwise. A draw picks a column
    uniformly and then one of its two outcomes: two array lookups, whatever n is. (The
    C tool uses a 1e8-entry table of word ids instead; this is exact and takes 2n numbers.)

    Args:
        weights: non-negative weights (need not sum to 1), at least one positive.
    """

    def __init__(self, weights):
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
            raise ValueError("AliasSampler: weights must be a non-empty 1-D array of finite non-negative numbers "
                             "with a positive sum")
        n = w.size
        self.probabilities = w / w.sum()
        scaled = self.probabilities * n  # mean 1: a column is "small" below 1, "large" above
        prob = np.ones(n, dtype=np.float64)
        alias = np.arange(n, dtype=np.int64)
        small = [i for i in range(n) if scaled[i] < 1.0]
        large = [i for i in range(n) if scaled[i] >= 1.0]
        while small and large:
            s, big = small.pop(), large.pop()
            prob[s], alias[s] = scaled[s], big  # column s: s itself, topped up by `big`
            scaled[big] -= 1.0 - scaled[s]
            (small if scaled[big] < 1.0 else large).append(big)
        # What is left is 1 up to rounding: those columns hold only their own outcome.
        self.prob, self.alias, self.n = prob, alias, n

    def sample(self, rng, size):
        """`size` draws (an int array of that shape) using NumPy Generator `rng`."""
        x = rng.random(size) * self.n
        col = x.astype(np.int64)  # the column, uniform in 0..n-1
        np.minimum(col, self.n - 1, out=col)  # guard the (rounding) edge x == n
        u = x - col  # the fractional part is a second, independent uniform number
        return np.where(u < self.prob[col], col, self.alias[col])


def context_windows(n: int, sentence_start, sentence_end, window: int, rng, shrink: bool = True):
    """Context positions of n centre words with dynamic windows, as a (n, 2*window) grid.

    Centre i looks at positions i-b..i+b (not i itself) with b drawn uniformly from
    1..window per centre (word2vec.c: b = window - rand() % window), clipped to its own
    sentence [sentence_start[i], sentence_end[i]). shrink=False (gensim's
    shrink_windows=False): b = window for every centre, and nothing is drawn.

    Returns:
        (positions, valid): int64 (n, 2*window) positions (clipped into range where
        invalid) and the bool mask of the real context words. Row-major order of the
        valid entries is the C tool's order: centre by centre, left to right.
    """
    offsets = np.concatenate([np.arange(-window, 0), np.arange(1, window + 1)])
    # the effective window of each centre word
    reach = rng.integers(1, window + 1, size=n) if shrink else np.full(n, window, dtype=np.int64)
    pos = np.arange(n)[:, None] + offsets  # (n, 2W)
    valid = np.abs(offsets) <= reach[:, None]
    valid &= (pos >= sentence_start[:, None]) & (pos < sentence_end[:, None])
    np.clip(pos, 0, max(n - 1, 0), out=pos)
    return pos, valid


# ====================================================================== the model
def negative_sampling_loss(h, target_vectors, target_weights=None):
    """Summed negative-sampling loss of a batch (the readable form: vectors first, then scores).

    loss = sum_b [ -log s(h_b . v_b0) - sum_{k>=1} log s(-h_b . v_bk) ] with -log s(x) = softplus(-x).

    Args:
        h: (B, D) the input side: a context word's vector (skip-gram) or the window mean (CBOW).
        target_vectors: (B, 1+K, D) output vectors: the true centre word first, then K noise words.
        target_weights: optional (B, 1+K) weights (0 drops a term: a noise word that equals the centre word).

    Returns:
        A scalar: the sum (not the mean) over the batch, so that each pair moves the vectors
        by lr * its own gradient, as in word2vec.c's per-pair SGD.
    """
    logits = (target_vectors @ h.unsqueeze(-1)).squeeze(-1)  # (B, 1+K): v_t . h for every target
    return negative_sampling_loss_from_scores(logits, target_weights)


def negative_sampling_loss_from_scores(logits, target_weights=None):
    """The loss above from the scores logits[b, k] = h_b . v_bk (true word first): sum of
    softplus(-logit) for the true word and softplus(logit) for each noise word, weighted."""
    k = logits.shape[-1] - 1
    # -log s(x) = softplus(-x) for the true word, -log s(-x) = softplus(x) for the noise words
    signs = mg.tensor([-1.0] + [1.0] * k, dtype=logits.dtype, device=logits.device)
    losses = F.softplus(logits * signs)
    if target_weights is not None:
        losses = losses * target_weights
    return losses.sum()


def skipgram_loss(inputs, targets, in_weight, out_weight, target_weights=None, sparse=True):
    """Skip-gram negative-sampling loss from the two tables.

    h = in_weight[inputs] (F.embedding); the scores h . out_weight[t] of the targets come
    from F.embedding_dot, the fused form of `negative_sampling_loss(h, F.embedding(targets,
    out_weight), ...)` that never forms the (B, 1+K, D) gradient of the gathered rows
    (tests/test_word2vec.py checks the two agree).

    Args:
        inputs: (B,) ids of the input (context) words; targets: (B, 1+K) ids (centre word, then noise words).
        in_weight, out_weight: (V, D) tables; sparse: row-sparse gradients for leaf tables.
    """
    h = F.embedding(inputs, in_weight, sparse=sparse)
    return negative_sampling_loss_from_scores(F.embedding_dot(targets, out_weight, h, sparse=sparse), target_weights)


def cbow_loss(context, context_weights, targets, in_weight, out_weight, target_weights=None, cbow_mean=True,
              full_context_error=True, sparse=True):
    """CBOW negative-sampling loss: h = mean (or sum) of the context vectors predicts the centre word.

    Args:
        context: (B, C) context word ids, padded; context_weights: (B, C) 1 for a real word, 0 for padding.
        cbow_mean, full_context_error: see CBOWNegativeSampling.
        (others as skipgram_loss)
    """
    vectors = F.embedding(context, in_weight, sparse=sparse)  # (B, C, D)
    s = (context_weights.unsqueeze(1) @ vectors).squeeze(1)  # (B, D): sum of the real context vectors
    h = s
    if cbow_mean:
        h = s / context_weights.sum(dim=1, keepdim=True)
        if full_context_error:
            h = s - (s - h).detach()  # the mean's value, the sum's gradient (word2vec.c's update)
    return negative_sampling_loss_from_scores(F.embedding_dot(targets, out_weight, h, sparse=sparse), target_weights)


class SkipGramNegativeSampling(nn.Module):
    """Skip-gram with negative sampling: two embedding tables and the loss above.

    Args:
        num_words: vocabulary size V.
        embedding_dim: vector size D.
        sparse: row-sparse gradients (only the looked-up rows), for `optim.SGD`'s sparse step.
        device, dtype: where and in what float type the tables live.

    Attributes:
        in_embed: `nn.Embedding` (V, D), the input vectors u (word2vec.c's syn0: the word vectors).
        out_embed: `nn.Embedding` (V, D), the output vectors v (syn1neg).

    Call: `model(inputs, targets, target_weights=None)` with inputs (B,) word ids (the context
    word of each pair), targets (B, 1+K) ids (its centre word, then K noise words) and optional
    (B, 1+K) float weights -> the summed loss (a scalar Tensor).
    """

    def __init__(self, num_words: int, embedding_dim: int, sparse: bool = True, device=None, dtype=None):
        super().__init__()
        self.num_words, self.embedding_dim = int(num_words), int(embedding_dim)
        self.in_embed = nn.Embedding(num_words, embedding_dim, sparse=sparse, device=device, dtype=dtype)
        self.out_embed = nn.Embedding(num_words, embedding_dim, sparse=sparse, device=device, dtype=dtype)
        self.reset_parameters()

    def reset_parameters(self, rng=None):
        """Input vectors ~ U(-0.5/D, 0.5/D), output vectors 0 (word2vec.c's initialisation).

        Args:
            rng: a NumPy Generator to draw from (default: minigrad's seeded host generator).
        """
        bound = 0.5 / self.embedding_dim
        if rng is None:
            nn.init.uniform_(self.in_embed.weight, -bound, bound)
        else:
            with mg.no_grad():
                self.in_embed.weight.copy_(rng.uniform(-bound, bound, size=tuple(self.in_embed.weight.shape)))
        nn.init.zeros_(self.out_embed.weight)

    def forward(self, inputs, targets, target_weights=None):
        return skipgram_loss(inputs, targets, self.in_embed.weight, self.out_embed.weight, target_weights,
                             sparse=self.in_embed.sparse)

    def extra_repr(self) -> str:
        return f"num_words={self.num_words}, embedding_dim={self.embedding_dim}"


class CBOWNegativeSampling(SkipGramNegativeSampling):
    """CBOW with negative sampling: h = mean (or sum) of the context words' input vectors predicts the centre word.

    Args:
        cbow_mean: average the context vectors (word2vec.c's cbow, gensim's cbow_mean=1);
            False sums them.
        full_context_error: with the mean, give every context vector the whole error
            dL/dh, as word2vec.c and gensim do, rather than the true gradient dL/dh / n
            (n context words). Done by h = s - (s - s/n).detach() with s the sum: the value
            is the mean, the gradient flows as through the sum. False: the exact gradient.
        (other arguments as SkipGramNegativeSampling)

    Call: `model(context, context_weights, targets, target_weights=None)` with context (B, C)
    word ids padded to C columns, context_weights (B, C) floats (1 for a real context word,
    0 for padding; at least one 1 per row), targets and target_weights as for skip-gram.
    """

    def __init__(self, num_words: int, embedding_dim: int, cbow_mean: bool = True, full_context_error: bool = True,
                 sparse: bool = True, device=None, dtype=None):
        super().__init__(num_words, embedding_dim, sparse=sparse, device=device, dtype=dtype)
        self.cbow_mean, self.full_context_error = bool(cbow_mean), bool(full_context_error)

    def forward(self, context, context_weights, targets, target_weights=None):
        return cbow_loss(context, context_weights, targets, self.in_embed.weight, self.out_embed.weight,
                         target_weights, cbow_mean=self.cbow_mean, full_context_error=self.full_context_error,
                         sparse=self.in_embed.sparse)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", cbow_mean={self.cbow_mean}, full_context_error={self.full_context_error}"


# ====================================================================== word vectors
_KEY_TYPES = (str, int, np.integer)  # what can name a vector: a word, or a row number (as in gensim)
_FORMAT_KV = "minigrad-keyedvectors"

Correlation = namedtuple("Correlation", ["statistic", "pvalue"])
Correlation.correlation = property(lambda self: self.statistic, doc="the statistic (SciPy's older name)")
Correlation.__doc__ = ("A correlation coefficient and its two-sided p-value (t test, n-2 degrees of freedom): "
                       "SciPy's pearsonr / spearmanr result, indexable as (statistic, pvalue).")


class KeyedVectors:
    """Word vectors on the host (NumPy), looked up by word: gensim 4's KeyedVectors.

    Args:
        vector_size: D.
        index_to_key: the words, in row order.
        vectors: (len(index_to_key), D) float array (kept, not copied).
        dtype: of the empty table when `vectors` is not given.

    Attributes:
        vectors, index_to_key, key_to_index, vector_size, and `expandos` ({"count": int64
        counts}, when known: `get_vecattr(word, "count")`).

    A key is a word, or (as in gensim) an int row number: `wv[0]` is the first vector and
    `0 in wv` is True for a non-empty table. Vector queries (`most_similar(positive=[vec])`)
    are NumPy arrays of size D.
    """

    def __init__(self, vector_size: int, index_to_key=None, vectors=None, *, dtype=None):
        self.vector_size = int(vector_size)
        if isinstance(index_to_key, (int, np.integer)) and not isinstance(index_to_key, bool):
            raise TypeError("KeyedVectors: the second argument is the list of words (index_to_key); gensim's "
                            "preallocated `count` is not supported: start empty and call add_vectors(keys, weights)")
        self.index_to_key = list(index_to_key) if index_to_key is not None else []
        self.key_to_index = {w: i for i, w in enumerate(self.index_to_key)}
        if len(self.key_to_index) != len(self.index_to_key):
            raise ValueError("KeyedVectors: index_to_key has repeated words")
        if vectors is None:
            vectors = np.zeros((len(self.index_to_key), self.vector_size), dtype=dtype or np.float32)
        self.expandos = {}
        self._set_vectors(vectors)

    def _set_vectors(self, vectors):
        if vectors.shape != (len(self.index_to_key), self.vector_size):
            raise ValueError(f"KeyedVectors: vectors of shape {tuple(vectors.shape)} do not fit "
                             f"{len(self.index_to_key)} words of size {self.vector_size}")
        self.vectors = vectors
        self._normed = None  # unit vectors, computed on the first similarity query

    def _vectors_changed(self):
        """Forget the cached unit vectors (after the vectors were updated in place, e.g. by training)."""
        self._normed = None

    # ------------------------------------------------------------ lookup
    def __len__(self):
        return len(self.index_to_key)

    def __contains__(self, key):
        return self.has_index_for(key)

    def has_index_for(self, key) -> bool:
        """True if `key` is a word of the vocabulary (or an int row number in range, as gensim)."""
        return self.get_index(key, -1) >= 0

    def get_index(self, key, default=None) -> int:
        """Row of `key` (a word, or an int row number); `default` if absent, else a KeyError naming the word."""
        try:
            i = self.key_to_index.get(key, -1)
        except TypeError:  # unhashable (a list ...)
            i = -1
        if i >= 0:
            return i
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool) and 0 <= key < len(self.index_to_key):
            return int(key)
        if default is not None:
            return default
        raise KeyError(f"word {key!r} not in vocabulary ({len(self)} words; words seen fewer than min_count "
                       "times are not kept)")

    def get_vector(self, key, norm: bool = False):
        """The vector of one key (D,): a read-only view of its row, or (norm=True) a unit-length copy."""
        i = self.get_index(key)
        if norm:
            return self.get_normed_vectors()[i].copy()
        out = self.vectors[i]
        out.setflags(write=False)  # a view into the table: writing to it would change the model silently
        return out

    word_vec = get_vector  # gensim 3's name

    def __getitem__(self, key_or_keys):
        """The vector of a key (D,), or of a list of keys (n, D). A host NumPy array."""
        if isinstance(key_or_keys, _KEY_TYPES):
            return self.get_vector(key_or_keys)
        return self.vectors[[self.get_index(k) for k in key_or_keys]]

    def get_normed_vectors(self):
        """All vectors scaled to unit length (cached until the vectors change; an all-zero vector stays zero)."""
        if self._normed is None or self._normed.shape != self.vectors.shape:
            v = np.asarray(self.vectors, dtype=np.float32)
            norms = np.linalg.norm(v, axis=1, keepdims=True)
            self._normed = v / np.maximum(norms, np.float32(1e-12))
        return self._normed

    def get_vecattr(self, key, attr):
        """A per-word attribute, e.g. get_vecattr("king", "count") (the word's count in the training corpus)."""
        if attr not in self.expandos:
            raise KeyError(f"KeyedVectors.get_vecattr: no attribute {attr!r} (known: {sorted(self.expandos)})")
        return self.expandos[attr][self.get_index(key)].item()

    def set_vecattr(self, key, attr, value):
        """Set a per-word attribute (an int64 column created on first use)."""
        col = self.expandos.setdefault(attr, np.zeros(len(self), dtype=np.int64))
        col[self.get_index(key)] = value

    def add_vectors(self, keys, weights, replace: bool = False):
        """Append the vectors of new keys (gensim); keys already present keep their vector unless replace=True.

        Args:
            keys: a key or a list of keys.
            weights: (D,) or (n, D) array-like, one row per key.
        """
        if isinstance(keys, _KEY_TYPES):
            keys = [keys]
        keys = list(keys)
        w = np.asarray(weights, dtype=self.vectors.dtype).reshape(len(keys), -1)
        if w.shape[1] != self.vector_size:
            raise ValueError(f"KeyedVectors.add_vectors: {len(keys)} keys need a ({len(keys)}, {self.vector_size}) "
                             f"array of vectors, got shape {np.shape(weights)}")
        known = np.array([k in self.key_to_index for k in keys], dtype=bool)
        fresh = [k for k, old in zip(keys, known) if not old]
        if len(set(fresh)) != len(fresh):
            raise ValueError("KeyedVectors.add_vectors: a new key appears twice")
        for k in fresh:
            self.key_to_index[k] = len(self.index_to_key)
            self.index_to_key.append(k)
        vectors = np.concatenate([self.vectors, w[~known]], axis=0)
        if replace and known.any():
            vectors[[self.key_to_index[k] for k, old in zip(keys, known) if old]] = w[known]
        for attr, col in self.expandos.items():
            self.expandos[attr] = np.concatenate([col, np.zeros(len(fresh), dtype=col.dtype)])
        self._set_vectors(vectors)

    def add_vector(self, key, vector) -> int:
        """Add one key's vector (gensim); returns its row."""
        self.add_vectors([key], [vector])
        return self.get_index(key)

    # ------------------------------------------------------------ similarity
    @staticmethod
    def cosine_similarities(vector_1, vectors_all):
        """Cosine similarity of one vector (D,) with each row of vectors_all (n, D)."""
        v = np.asarray(vector_1)
        m = np.asarray(vectors_all)
        return (m @ v) / (np.linalg.norm(v) * np.linalg.norm(m, axis=1))

    def similarity(self, w1, w2) -> float:
        """Cosine similarity of two words."""
        n = self.get_normed_vectors()
        return float(n[self.get_index(w1)] @ n[self.get_index(w2)])

    def distance(self, w1, w2) -> float:
        """Cosine distance, 1 - similarity."""
        return 1.0 - self.similarity(w1, w2)

    def distances(self, word_or_vector, other_words=()):
        """Cosine distances from a word (or vector) to each of `other_words` (default: every word), an array."""
        v = self.get_vector(word_or_vector) if isinstance(word_or_vector, _KEY_TYPES) else word_or_vector
        others = self.vectors if not other_words else self.vectors[[self.get_index(w) for w in other_words]]
        return 1.0 - self.cosine_similarities(v, others)

    def n_similarity(self, ws1, ws2) -> float:
        """Cosine similarity of the means of two sets of words (their raw vectors, as gensim)."""
        ws1, ws2 = list(ws1), list(ws2)
        if not ws1 or not ws2:
            raise ValueError("KeyedVectors.n_similarity: both word lists must be non-empty")
        m1 = self.get_mean_vector(ws1, pre_normalize=False, post_normalize=True)
        m2 = self.get_mean_vector(ws2, pre_normalize=False, post_normalize=True)
        return float(m1 @ m2)

    def get_mean_vector(self, keys, weights=None, pre_normalize=True, post_normalize=False, ignore_missing=True):
        """Weighted mean of the vectors of `keys` (words or arrays), gensim's rule.

        Words count through their unit vectors (pre_normalize) or raw vectors; arrays are used as
        given. The sum of weight * vector is divided by the sum of |weight|; post_normalize scales
        the result to unit length. Missing words are skipped (ignore_missing) or a KeyError.
        """
        keys = [keys] if isinstance(keys, _KEY_TYPES) or _is_vector(keys) and np.ndim(keys) == 1 else list(keys)
        if not keys:
            raise ValueError("KeyedVectors.get_mean_vector: no keys given")
        weights = np.ones(len(keys)) if weights is None else np.asarray(weights, dtype=np.float64)
        if weights.shape != (len(keys),):
            raise ValueError(f"KeyedVectors.get_mean_vector: {len(keys)} keys but weights of shape {weights.shape}")
        total, acc = 0.0, np.zeros(self.vector_size, dtype=np.float64)
        for key, w in zip(keys, weights.tolist()):
            if _is_vector(key):
                v = np.asarray(key, dtype=np.float64).reshape(-1)
                if v.shape != (self.vector_size,):
                    raise ValueError(f"KeyedVectors: a vector query must have size {self.vector_size}, "
                                     f"got shape {np.shape(key)}")
            elif self.has_index_for(key):
                v = self.get_vector(key, norm=pre_normalize)
            elif ignore_missing:
                continue
            else:
                self.get_index(key)  # raises the KeyError naming the word
            acc += w * v
            total += abs(w)
        if total > 0:
            acc /= total
        if post_normalize:
            acc /= max(float(np.linalg.norm(acc)), 1e-12)
        return acc.astype(np.float32)

    def _query(self, positive, negative, who):
        """(keys, weights, indices to leave out) of a most_similar-style query (gensim's argument forms)."""
        def as_list(x):
            if x is None:
                return []
            if isinstance(x, _KEY_TYPES) or (_is_vector(x) and np.ndim(x) == 1):
                return [x]
            return list(x)
        positive, negative = as_list(positive), as_list(negative)
        keys, weights, exclude = [], [], set()
        for default, items in ((1.0, positive), (-1.0, negative)):
            for item in items:
                if isinstance(item, tuple) and len(item) == 2 and not _is_vector(item):
                    key, weight = item  # gensim: (key, weight) pairs
                else:
                    key, weight = item, default
                if not _is_vector(key):
                    exclude.add(self.get_index(key))  # KeyError naming a missing word
                keys.append(key)
                weights.append(float(weight))
        if not keys:
            raise ValueError(f"{who}: give at least one word in positive or negative")
        return keys, weights, exclude

    def _top(self, scores, topn, exclude, clip_start=0):
        """The topn (key, score) pairs of `scores` (rows clip_start.. of the table), best first, skipping `exclude`."""
        if topn is None or topn is False:
            return scores
        if isinstance(topn, bool) or not isinstance(topn, (int, np.integer)) or topn < 0:
            raise ValueError(f"most_similar: topn must be a non-negative int or None, got {topn!r}")
        if topn == 0 or scores.size == 0:
            return []
        # Only the best topn + len(exclude) can make the list: partition, then sort those few.
        k = min(int(topn) + len(exclude), scores.size)
        best = np.argpartition(-scores, k - 1)[:k] if k < scores.size else np.arange(scores.size)
        out = []
        for i in best[np.argsort(-scores[best], kind="stable")]:
            if int(i) + clip_start in exclude:
                continue
            out.append((self.index_to_key[int(i) + clip_start], float(scores[i])))
            if len(out) == topn:
                break
        return out

    def most_similar(self, positive=None, negative=None, topn=10, clip_start=0, clip_end=None, restrict_vocab=None,
                     indexer=None):
        """The words nearest (by cosine) to the weighted mean of the query's unit vectors (gensim 4).

        `most_similar("king")` gives king's neighbours; `most_similar(positive=["king", "woman"],
        negative=["man"])` answers "man : king = woman : ?" (3CosAdd). Entries may be words, row
        numbers, vectors (NumPy arrays of size D, used as given, not normalised: gensim's rule) or
        (entry, weight) pairs (default weight 1 for positive, -1 for negative). Query words are left
        out of the answer, vectors are not.

        Args:
            topn: how many; None gives the array of cosines to every word instead.
            restrict_vocab: search only the first this many words (the most frequent ones).
            clip_start, clip_end: search rows clip_start..clip_end only (restrict_vocab sets clip_end).

        Returns:
            A list of (word, cosine) pairs, best first; with topn=None the array of cosines.
        """
        if indexer is not None:
            raise NotImplementedError("most_similar: approximate-nearest-neighbour indexers are not supported "
                                      "(indexer=None searches exactly)")
        keys, weights, exclude = self._query(positive, negative, "most_similar")
        mean = self.get_mean_vector(keys, weights, pre_normalize=True, post_normalize=True, ignore_missing=False)
        clip_end = restrict_vocab if restrict_vocab is not None else clip_end
        normed = self.get_normed_vectors()[clip_start:clip_end]
        return self._top(normed @ mean, topn, exclude, clip_start)

    def similar_by_word(self, word, topn=10, restrict_vocab=None):
        """most_similar(word)."""
        return self.most_similar(positive=[word], topn=topn, restrict_vocab=restrict_vocab)

    similar_by_key = similar_by_word

    def similar_by_vector(self, vector, topn=10, restrict_vocab=None):
        """The words nearest to a vector (a word whose own vector it is comes first: nothing is left out)."""
        return self.most_similar(positive=[vector], topn=topn, restrict_vocab=restrict_vocab)

    def most_similar_cosmul(self, positive=None, negative=None, topn=10, restrict_vocab=None):
        """Analogies by 3CosMul (Levy & Goldberg 2014): maximise prod_pos c(w, p) / (prod_neg c(w, n) + 1e-6)
        with cosines shifted to [0, 1] by c = (1 + cos) / 2. Vector entries are normalised here (gensim
        uses them as given, which takes the shifted "cosine" out of [0, 1])."""
        keys, weights, exclude = self._query(positive, negative, "most_similar_cosmul")
        normed = self.get_normed_vectors()[:restrict_vocab]
        num = np.ones(normed.shape[0], dtype=np.float32)
        den = np.ones(normed.shape[0], dtype=np.float32)
        for key, w in zip(keys, weights):
            if _is_vector(key):
                v = np.asarray(key, dtype=np.float32).reshape(-1)
                v = v / max(float(np.linalg.norm(v)), 1e-12)
            else:
                v = self.get_normed_vectors()[self.get_index(key)]
            shifted = (1.0 + normed @ v) / 2.0
            if w > 0:
                num *= shifted
            else:
                den *= shifted
        scores = num / (den + np.float32(1e-6))  # no negative words: den = 1, as gensim's empty product
        return self._top(scores.astype(np.float32), topn, exclude)

    def doesnt_match(self, words):
        """The word furthest from the mean of the others' unit vectors (words not in the vocabulary are ignored)."""
        words = list(words)
        used = [w for w in words if w in self]
        if len(used) != len(words):
            warnings.warn(f"doesnt_match: ignoring words not in the vocabulary: {[w for w in words if w not in self]}",
                          stacklevel=2)
        if not used:
            raise ValueError("doesnt_match: none of the words is in the vocabulary")
        vecs = np.stack([self.get_vector(w, norm=True) for w in used])
        mean = vecs.mean(axis=0)
        mean /= max(float(np.linalg.norm(mean)), 1e-12)
        return used[int(np.argmin(vecs @ mean))]

    def most_similar_to_given(self, key1, keys_list):
        """The key of keys_list most similar to key1."""
        keys_list = list(keys_list)
        return keys_list[int(np.argmax([self.similarity(key1, k) for k in keys_list]))]

    def closer_than(self, key1, key2):
        """The words closer to key1 than key2 is (key1 itself left out)."""
        d = self.distances(key1)
        i1, i2 = self.get_index(key1), self.get_index(key2)
        return [self.index_to_key[i] for i in np.flatnonzero(d < d[i2]).tolist() if i != i1]

    def rank(self, key1, key2) -> int:
        """Rank of key2 among key1's neighbours (1: the nearest)."""
        return len(self.closer_than(key1, key2)) + 1

    # ------------------------------------------------------------ evaluation on user files
    def _ok_vocab(self, restrict_vocab, case_insensitive):
        """word (upper-cased if case_insensitive) -> row, for the first restrict_vocab words; on a case clash
        the more frequent (earlier) word wins, as in gensim."""
        ok = {}
        for i in range(min(len(self), restrict_vocab) - 1, -1, -1):
            w = self.index_to_key[i]
            ok[w.upper() if case_insensitive else w] = i
        return ok

    def evaluate_word_analogies(self, analogies, restrict_vocab=300000, case_insensitive=True, dummy4unknown=False,
                                similarity_function="most_similar"):
        """Accuracy on an analogy file in the questions-words.txt format (gensim 4).

        The file has section lines ": name" and question lines "a b c d" (a : b = c : d). Each
        question is answered by 3CosAdd (most_similar(positive=[b, c], negative=[a])) over the first
        `restrict_vocab` words; the answer is the best word other than a, b, c. Questions with a word
        outside those are skipped (or counted wrong with dummy4unknown=True).

        Returns:
            (score, sections): the overall accuracy, and one dict per section ({"section": name,
            "correct": [(a, b, c, d), ...], "incorrect": [...]}) plus a final "Total accuracy" one.
            With case_insensitive the words in those lists are upper-cased, as gensim reports them.
        """
        if similarity_function not in ("most_similar", "most_similar_cosmul"):
            raise ValueError(f"evaluate_word_analogies: similarity_function must be 'most_similar' or "
                             f"'most_similar_cosmul', got {similarity_function!r}")
        ok = self._ok_vocab(restrict_vocab, case_insensitive)
        search = getattr(self, similarity_function)
        sections, section, questions, oov = [], None, 0, 0
        with open(analogies, "rb") as f:
            for line_no, raw in enumerate(f):
                line = raw.decode("utf-8")
                if line.startswith(": "):
                    if section:
                        sections.append(section)
                    section = {"section": line.lstrip(": ").strip(), "correct": [], "incorrect": []}
                    continue
                if not line.strip():
                    continue
                if section is None:
                    raise ValueError(f"evaluate_word_analogies: {analogies}: line {line_no + 1} comes before the "
                                     "first section line (': name')")
                words = line.split()
                if len(words) != 4:
                    warnings.warn(f"evaluate_word_analogies: {analogies}: skipping line {line_no + 1} (not 4 words)",
                                  stacklevel=2)
                    continue
                if case_insensitive:
                    words = [w.upper() for w in words]
                a, b, c, expected = words
                questions += 1
                if not all(w in ok for w in words):
                    oov += 1
                    if dummy4unknown:
                        section["incorrect"].append((a, b, c, expected))
                    continue
                ia, ib, ic = ok[a], ok[b], ok[c]
                ignore = {a, b, c}
                predicted = None
                for word, _ in search(positive=[ib, ic], negative=[ia], topn=5, restrict_vocab=restrict_vocab):
                    predicted = word.upper() if case_insensitive else word
                    if predicted in ok and predicted not in ignore:
                        break
                (section["correct"] if predicted == expected else section["incorrect"]).append((a, b, c, expected))
        if section:
            sections.append(section)
        if not questions:
            raise ValueError(f"evaluate_word_analogies: {analogies}: no analogy questions found")
        total = {"section": "Total accuracy",
                 "correct": [q for s in sections for q in s["correct"]],
                 "incorrect": [q for s in sections for q in s["incorrect"]]}
        sections.append(total)
        n = len(total["correct"]) + len(total["incorrect"])
        return (len(total["correct"]) / n if n else 0.0), sections

    def evaluate_word_pairs(self, pairs, delimiter="\t", encoding="utf8", restrict_vocab=300000,
                            case_insensitive=True, dummy4unknown=False):
        """Correlation of the model's cosine similarities with human scores in a word-pair file (gensim 4).

        Each line is "word1<delimiter>word2<delimiter>score"; lines starting with '#' and malformed
        lines are skipped. Pairs with a word outside the first `restrict_vocab` words are left out
        (or scored 0 with dummy4unknown=True).

        Returns:
            (pearson, spearman, oov_ratio): two `Correlation(statistic, pvalue)` results (SciPy's
            pearsonr / spearmanr, computed here without SciPy) and the percentage of pairs with an
            unknown word.
        """
        ok = self._ok_vocab(restrict_vocab, case_insensitive)
        normed = self.get_normed_vectors()
        gold, model, oov = [], [], 0
        with open(pairs, encoding=encoding) as f:
            for line in f:
                if not line or line.startswith("#"):
                    continue
                parts = line.split(delimiter)
                if len(parts) != 3:
                    continue
                a, b, score = parts
                try:
                    score = float(score)
                except ValueError:
                    continue
                if case_insensitive:
                    a, b = a.upper(), b.upper()
                if a not in ok or b not in ok:
                    oov += 1
                    if dummy4unknown:
                        gold.append(score)
                        model.append(0.0)
                    continue
                gold.append(score)
                model.append(float(normed[ok[a]] @ normed[ok[b]]))
        if not gold:
            raise ValueError(f"evaluate_word_pairs: {pairs}: no usable word pairs (wrong delimiter, or every pair "
                             "has a word outside the vocabulary)")
        gold, model = np.array(gold), np.array(model)
        oov_ratio = 100.0 * oov / (len(gold) if dummy4unknown else len(gold) + oov)
        return _pearson(gold, model), _pearson(_average_ranks(gold), _average_ranks(model)), oov_ratio

    # ------------------------------------------------------------ native save / load (no pickle)
    def save(self, path):
        """Save words, vectors and counts with `minigrad.save` (an .npz, no pickle); load with KeyedVectors.load."""
        mg.save({"format": _FORMAT_KV, "version": 1, "vector_size": self.vector_size,
                 "words": list(self.index_to_key), "vectors": np.asarray(self.vectors),
                 "expandos": dict(self.expandos)}, path)

    @classmethod
    def load(cls, path):
        """KeyedVectors written by `save`."""
        ckpt = mg.load(path)
        if not isinstance(ckpt, dict) or ckpt.get("format") != _FORMAT_KV:
            raise ValueError(f"KeyedVectors.load: {path} is not a file written by KeyedVectors.save (for a whole "
                             "model use Word2Vec.load; for the word2vec C format use load_word2vec_format)")
        kv = cls(ckpt["vector_size"], ckpt["words"], np.asarray(ckpt["vectors"]))
        kv.expandos = {k: np.asarray(v) for k, v in ckpt["expandos"].items()}
        return kv

    # ------------------------------------------------------------ the word2vec file format
    def save_word2vec_format(self, fname, fvocab=None, binary: bool = False, total_vec=None, write_header=True,
                             prefix="", append=False, sort_attr="count"):
        """Write the standard word2vec file: a "V D" header line, then one word and its D numbers per entry.

        Text (binary=False): numbers in decimal with 9 significant digits (exact for float32).
        Binary: after the header, each entry is the word, a space and D little-endian float32s
        (then a newline), as word2vec.c writes with -binary 1.

        Args:
            fvocab: also write "word count" lines to this file (word2vec.c's -save-vocab).
            total_vec: the V of the header (default: the number of words written).
            write_header: False leaves the header out (e.g. to append to a file).
            prefix: put before every word. append: add to the file instead of replacing it.
            sort_attr: write the words in decreasing order of this attribute when it is known
                ("count"); otherwise in row order.
        """
        vecs = np.asarray(self.vectors, dtype=np.float32)
        order = np.arange(len(self))
        if sort_attr in self.expandos:
            order = np.argsort(-self.expandos[sort_attr], kind="stable")
        words = [prefix + str(self.index_to_key[i]) for i in order.tolist()]
        for w in words:
            if not w or any(ch.isspace() for ch in w):
                raise ValueError(f"save_word2vec_format: word {w!r} is empty or contains whitespace, which the "
                                 "format cannot represent")
        if fvocab is not None:
            counts = self.expandos.get("count")
            with open(fvocab, "ab" if append else "wb") as f:
                for w, i in zip(words, order.tolist()):
                    f.write(f"{w} {int(counts[i]) if counts is not None else 0}\n".encode("utf-8"))
        with open(fname, "ab" if append else "wb") as f:
            if write_header:
                f.write(f"{len(words) if total_vec is None else int(total_vec)} {self.vector_size}\n".encode("utf-8"))
            rows = vecs[order]
            if binary:
                le = rows.astype("<f4", copy=False)
                for w, row in zip(words, le):
                    f.write(w.encode("utf-8") + b" " + row.tobytes() + b"\n")
            else:
                for w, row in zip(words, rows.tolist()):
                    f.write((w + " " + " ".join(f"{x:.9g}" for x in row) + "\n").encode("utf-8"))

    @classmethod
    def load_word2vec_format(cls, fname, fvocab=None, binary: bool = False, encoding="utf8", unicode_errors="strict",
                             limit=None, datatype=None, no_header=False):
        """Read a word2vec text or binary file (ours, word2vec.c's, gensim's); vectors as float32 (or `datatype`).

        Args:
            fvocab: a "word count" file (word2vec.c's -save-vocab) giving the counts; without it
                the counts are made up in decreasing row order, as gensim does.
            encoding, unicode_errors: how to decode the words ('ignore' / 'replace' help with
                files whose words were cut inside a multi-byte character).
            limit: read only the first this many vectors.
            datatype: the float type of the vectors (default float32).
            no_header: a text file without the "V D" line (GloVe's format).
        """
        dtype = np.dtype(datatype) if datatype is not None else np.dtype(np.float32)
        counts_by_word = None
        if fvocab is not None:
            counts_by_word = {}
            with open(fvocab, encoding=encoding, errors=unicode_errors) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 2:
                        counts_by_word[parts[0]] = int(parts[1])
        if no_header:
            if binary:
                raise ValueError("load_word2vec_format: no_header=True is for text files only")
            n, dim = 0, None
            with open(fname, "rb") as f:
                for line in f:
                    if line.strip():
                        n += 1
                        dim = len(line.rstrip().split(b" ")) - 1 if dim is None else dim
            if not n:
                raise ValueError(f"load_word2vec_format: {fname}: the file is empty")
        with open(fname, "rb") as f:
            if not no_header:
                header = f.readline().decode("utf-8", errors="replace").split()
                if len(header) != 2 or not all(h.isdigit() for h in header):
                    raise ValueError(f"load_word2vec_format: {fname}: the first line must be 'V D' (word count and "
                                     f"vector size), got {' '.join(header)!r}; for a file without it (GloVe) pass "
                                     "no_header=True")
                n, dim = int(header[0]), int(header[1])
            if limit is not None:
                n = min(n, int(limit))
            words, vecs = [], np.empty((n, dim), dtype=dtype)
            seen = set()
            for i in range(n):
                if binary:
                    word = _read_binary_word(f, fname, i).decode(encoding, errors=unicode_errors)
                    raw = f.read(4 * dim)
                    if len(raw) != 4 * dim:
                        raise ValueError(f"load_word2vec_format: {fname}: entry {i + 1} ({word!r}) is truncated")
                    row = np.frombuffer(raw, dtype="<f4")
                else:
                    line = f.readline()
                    while no_header and line and not line.strip():
                        line = f.readline()
                    if not line:
                        raise ValueError(f"load_word2vec_format: {fname}: the header promises {n} words but the "
                                         f"file ends after {i}")
                    parts = line.decode(encoding, errors=unicode_errors).rstrip().split(" ")
                    if len(parts) != dim + 1:
                        raise ValueError(f"load_word2vec_format: {fname}: line {i + 2 - no_header} has "
                                         f"{len(parts) - 1} numbers, expected {dim}")
                    word = parts[0]
                    try:
                        row = [float(x) for x in parts[1:]]
                    except ValueError:
                        raise ValueError(f"load_word2vec_format: {fname}: line {i + 2 - no_header} has a value that "
                                         "is not a number") from None
                if word in seen:  # gensim keeps the first vector of a repeated word
                    warnings.warn(f"load_word2vec_format: {fname}: duplicate word {word!r}, keeping its first vector",
                                  stacklevel=2)
                    continue
                seen.add(word)
                vecs[len(words)] = row
                words.append(word)
        kv = cls(dim, words, vecs[:len(words)].copy() if len(words) < n else vecs)
        if counts_by_word is None:
            kv.expandos["count"] = np.arange(len(words), 0, -1, dtype=np.int64)  # gensim's made-up counts
        else:
            missing = [w for w in words if w not in counts_by_word]
            if missing:
                warnings.warn(f"load_word2vec_format: {fvocab} has no count for {len(missing)} words "
                              f"(e.g. {missing[0]!r}); they get count 0", stacklevel=2)
            kv.expandos["count"] = np.array([counts_by_word.get(w, 0) for w in words], dtype=np.int64)
        return kv

    def __repr__(self):
        return f"KeyedVectors({len(self)} words, vector_size={self.vector_size})"


def _is_vector(x) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype") and getattr(x, "ndim", 0) >= 1 and x.dtype.kind == "f"


def _read_binary_word(f, path, i) -> bytes:
    chars = []
    while True:
        ch = f.read(1)
        if not ch:
            raise ValueError(f"load_word2vec_format: {path}: the file ends inside entry {i + 1}")
        if ch == b" ":
            break
        if ch != b"\n" or chars:  # skip the newline that ends the previous entry (word2vec.c writes one)
            chars.append(ch)
    return b"".join(chars)


# ---------------------------------------------------------------- correlation statistics (SciPy's, without SciPy)
def _average_ranks(x):
    """Ranks 1..n of x, ties sharing their mean rank (SciPy's rankdata 'average')."""
    x = np.asarray(x, dtype=np.float64)
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[np.argsort(x, kind="stable")] = np.arange(1, x.size + 1)
    _, group = np.unique(x, return_inverse=True)
    return (np.bincount(group, weights=ranks) / np.bincount(group))[group]


def _pearson(x, y) -> Correlation:
    """Pearson's r and its two-sided p-value: t = r sqrt((n-2) / (1-r^2)) has n-2 degrees of freedom."""
    n = x.size
    dx, dy = x - x.mean(), y - y.mean()
    denom = math.sqrt(float(dx @ dx) * float(dy @ dy))
    if n < 2 or denom == 0.0:
        return Correlation(float("nan"), float("nan"))  # a constant input has no correlation
    r = max(-1.0, min(1.0, float(dx @ dy) / denom))
    df = n - 2
    if df == 0:
        return Correlation(r, 1.0)
    if abs(r) == 1.0:
        return Correlation(r, 0.0)
    # P(|T| >= |t|) for Student's t with df degrees of freedom = I_{df/(df+t^2)}(df/2, 1/2) = I_{1-r^2}(df/2, 1/2)
    return Correlation(r, _betainc(df / 2.0, 0.5, 1.0 - r * r))


def _betainc(a, b, x) -> float:
    """The regularised incomplete beta function I_x(a, b), by its continued fraction (modified Lentz)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x > (a + 1.0) / (a + b + 2.0):  # the fraction converges fast only below this point: use the symmetry
        return 1.0 - _betainc(b, a, 1.0 - x)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return math.exp(log_front) * h / a



# ====================================================================== progress display
class _Progress:
    """A words/s progress line: tqdm when it is importable, else a plain text line on stderr."""

    def __init__(self, total_words: int, epochs: int, enabled: bool):
        self.enabled, self.total, self.epochs = enabled, max(int(total_words), 1), epochs
        self.bar, self.done, self.t0, self.last = None, 0, time.perf_counter(), 0.0
        if not enabled:
            return
        try:
            from tqdm import tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None:
            self.bar = tqdm(total=self.total, unit="word", unit_scale=True, desc="word2vec", file=sys.stderr,
                            leave=True)

    def update(self, words: int, epoch: int, loss_fn):
        self.done += words
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.bar is not None:
            self.bar.update(words)
            if now - self.last > 0.5:
                self.bar.set_postfix(epoch=f"{epoch + 1}/{self.epochs}", loss=f"{loss_fn():.3f}", refresh=False)
                self.last = now
        elif now - self.last > 0.5 or self.done >= self.total:
            self.last = now
            rate = self.done / max(now - self.t0, 1e-9)
            sys.stderr.write(f"\rword2vec: epoch {epoch + 1}/{self.epochs}  {100.0 * self.done / self.total:5.1f}%  "
                             f"{rate:,.0f} words/s  loss {loss_fn():.4f}   ")
            sys.stderr.flush()

    def close(self):
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


# ====================================================================== the trainer
class CallbackAny2Vec:
    """Base class of training callbacks (gensim.models.callbacks.CallbackAny2Vec): override what you need.

    Each method gets the model. Pass instances as `Word2Vec(..., callbacks=[cb])` or
    `model.train(..., callbacks=[cb])`. A batch is one chunk of about `batch_words` words of
    text (gensim's job). During callbacks `model.wv` holds the current vectors and
    `model.get_latest_training_loss()` the loss summed since train() began (with compute_loss=True).
    """

    def on_train_begin(self, model):
        pass

    def on_epoch_begin(self, model):
        pass

    def on_batch_begin(self, model):
        pass

    def on_batch_end(self, model):
        pass

    def on_epoch_end(self, model):
        pass

    def on_train_end(self, model):
        pass


class Word2Vec:
    """Train word vectors with CBOW (sg=0, the default, as gensim) or skip-gram (sg=1) and negative sampling.

    The signature, defaults and behaviour are gensim 4's (`gensim.models.Word2Vec`), with the
    differences listed in the module docstring; `device`, `progress` and `batch_pairs` are ours.

    Args:
        sentences: a re-iterable of token lists (a list, a `LineSentence`, any object whose
            `__iter__` starts over); read once for the vocabulary and once per epoch, a
            chunk at a time. If given (or `corpus_file`), the model is trained right away.
        corpus_file: path of a text file with one whitespace-tokenised sentence per line.
        vector_size: D, the size of the word vectors.
        alpha, min_alpha: the learning rate falls linearly from alpha to min_alpha over all epochs.
        window: maximum distance between the centre word and a context word.
        min_count: ignore words seen fewer times.
        max_vocab_size: bound on distinct words held while counting (rarest pruned); None: no bound.
        sample: subsampling threshold for frequent words (0 disables it; >= 1: a word count, as gensim).
        seed: seeds the initial vectors, subsampling, windows and noise words: the same seed and
            corpus give the same vectors, whatever `workers` is.
        workers: accepted for gensim's signature; training runs vectorised in this process.
        sg: 1 skip-gram, 0 CBOW (gensim's default).
        hs: 0 only; hs=1 (hierarchical softmax) is not implemented and raises NotImplementedError.
        negative: noise words per pair (K), at least 1 (negative sampling is the only objective here).
        ns_exponent: the power of the unigram counts the noise distribution uses (0.75).
        cbow_mean: CBOW averages (1) or sums (0) the context vectors.
        hashfxn: accepted for gensim's signature, unused (initialisation draws from `seed`).
        epochs: passes over the corpus.
        null_word: 0 only (gensim's padding word for CBOW is not needed here).
        trim_rule: callable (word, count, min_count) -> RULE_KEEP / RULE_DISCARD / RULE_DEFAULT,
            used by the vocabulary built in the constructor (not saved with the model).
        sorted_vocab: 1 most frequent words first, 0 in order of first appearance.
        batch_words: words of text turned into index arrays at a time (gensim's job size; the
            learning rate is updated once per chunk).
        compute_loss: record the summed training loss (`get_latest_training_loss()`).
        callbacks: `CallbackAny2Vec` objects called during the constructor's training.
        comment: stored, as in gensim.
        max_final_vocab: keep at most this many words by raising min_count as needed.
        shrink_windows: True: each centre word uses a window drawn uniformly from 1..window
            (word2vec.c's "dynamic window": near words count more); False: always `window`.
        device: 'cpu', 'cuda' or 'cuda:N': where the tables live and the steps run.
        progress: show a words/s progress line while training (on stderr).
        batch_pairs: training pairs per SGD step (see the module docstring for why 1024). None (the
            default): 1024, but at most 8 per vocabulary word (at least 16): a step sums the
            updates of its pairs computed at the same point, and with a vocabulary of a few
            dozen words (toy corpora, sample=0) 1024-pair steps give each word so many updates
            at once that training diverges (NaN); 8 per word stayed stable in every case tried.

    Attributes:
        wv: `KeyedVectors` of the trained input vectors (host NumPy).
        syn1neg: the output vectors (host NumPy copy), as gensim's attribute.
        network: the `SkipGramNegativeSampling` / `CBOWNegativeSampling` module.
        word_counts: int64 counts of the vocabulary words (row order of wv).
        corpus_total_words, corpus_count: tokens and sentences of the corpus of the last build_vocab.
        effective_min_count: the min_count actually applied (after max_final_vocab).
        running_training_loss: the summed loss of the last train() call (with compute_loss).
        min_alpha_yet_reached: the learning rate of the latest chunk.
        loss_history: mean loss per training pair, one entry per epoch trained (ours).
        train_seconds, train_words_per_second: of the last `train()` call (corpus words per second).
    """

    def __init__(self, sentences=None, corpus_file=None, vector_size=100, alpha=0.025, window=5, min_count=5,
                 max_vocab_size=None, sample=1e-3, seed=1, workers=3, min_alpha=0.0001, sg=0, hs=0, negative=5,
                 ns_exponent=0.75, cbow_mean=1, hashfxn=hash, epochs=5, null_word=0, trim_rule=None,
                 sorted_vocab=1, batch_words=10000, compute_loss=False, callbacks=(), comment=None,
                 max_final_vocab=None, shrink_windows=True, *, device="cpu", progress=True, batch_pairs=None):
        self.vector_size = _positive_int("vector_size", vector_size)
        self.window = _positive_int("window", window)
        self.min_count = _positive_int("min_count", min_count)
        if max_vocab_size is not None:
            _positive_int("max_vocab_size", max_vocab_size)
        self.max_vocab_size = max_vocab_size
        if max_final_vocab is not None:
            _positive_int("max_final_vocab", max_final_vocab)
        self.max_final_vocab = max_final_vocab
        if hs not in (0, 1):
            raise ValueError(f"Word2Vec: hs must be 0 or 1, got {hs!r}")
        if hs:
            raise NotImplementedError("Word2Vec: hs=1 (hierarchical softmax) is not implemented here; train with "
                                      "negative sampling instead (hs=0, negative=5 or so)")
        self.hs = 0
        if isinstance(negative, bool) or not isinstance(negative, int) or negative < 0:
            raise ValueError(f"Word2Vec: negative must be an int >= 1, got {negative!r}")
        if negative == 0:
            raise ValueError("Word2Vec: negative=0 with hs=0 leaves nothing to train (gensim refuses it too); "
                             "negative sampling needs negative >= 1, and hierarchical softmax (hs=1) is not "
                             "implemented here")
        self.negative = int(negative)
        if not (isinstance(sample, (int, float)) and not isinstance(sample, bool) and sample >= 0):
            raise ValueError(f"Word2Vec: sample must be a number >= 0, got {sample!r}")
        if not (isinstance(alpha, (int, float)) and alpha > 0 and isinstance(min_alpha, (int, float))
                and 0 <= min_alpha <= alpha):
            raise ValueError(f"Word2Vec: need alpha > 0 and 0 <= min_alpha <= alpha, got alpha={alpha!r}, "
                             f"min_alpha={min_alpha!r}")
        if sg not in (0, 1):
            raise ValueError(f"Word2Vec: sg must be 1 (skip-gram) or 0 (CBOW), got {sg!r}")
        if cbow_mean not in (0, 1):
            raise ValueError(f"Word2Vec: cbow_mean must be 0 or 1, got {cbow_mean!r}")
        if null_word not in (0, False):
            raise NotImplementedError("Word2Vec: null_word=1 (gensim's CBOW padding word) is not implemented; "
                                      "windows are clipped to the sentence instead")
        if sorted_vocab not in (0, 1):
            raise ValueError(f"Word2Vec: sorted_vocab must be 0 or 1, got {sorted_vocab!r}")
        if trim_rule is not None and not callable(trim_rule):
            raise TypeError(f"Word2Vec: trim_rule must be a callable (word, count, min_count) -> rule, "
                            f"got {type(trim_rule).__name__}")
        self.sample, self.alpha, self.min_alpha = float(sample), float(alpha), float(min_alpha)
        self.sg, self.cbow_mean, self.ns_exponent = int(sg), int(cbow_mean), float(ns_exponent)
        self.epochs = _positive_int("epochs", epochs)
        self.workers = _positive_int("workers", workers)
        self.batch_words = _positive_int("batch_words", batch_words)
        self.batch_pairs = None if batch_pairs is None else _positive_int("batch_pairs", batch_pairs)
        self.sorted_vocab, self.shrink_windows = int(sorted_vocab), bool(shrink_windows)
        self.compute_loss, self.callbacks = bool(compute_loss), tuple(callbacks or ())
        self.hashfxn, self.null_word, self.comment = hashfxn, 0, comment
        self.seed = int(seed)
        self.device = _B.parse_device(device)
        self.progress = bool(progress)
        self.rng = np.random.default_rng(self.seed)
        self.wv = KeyedVectors(self.vector_size)
        self.network = None
        self.word_counts = np.zeros(0, dtype=np.int64)
        self.corpus_total_words = self.corpus_count = 0
        self.effective_min_count = self.min_count
        self.running_training_loss = 0.0
        self.train_count = 0
        self.loss_history, self.train_seconds, self.train_words_per_second = [], 0.0, 0.0
        self.min_alpha_yet_reached = self.alpha  # the learning rate of the latest chunk (gensim's name)
        if sentences is not None or corpus_file is not None:
            corpus = self._corpus(sentences, corpus_file)
            self.build_vocab(corpus, trim_rule=trim_rule)
            self.train(corpus, total_examples=self.corpus_count, total_words=self.corpus_total_words,
                       epochs=self.epochs, compute_loss=self.compute_loss, callbacks=self.callbacks)

    # ------------------------------------------------------------ corpus and vocabulary
    @staticmethod
    def _corpus(sentences, corpus_file):
        if sentences is not None and corpus_file is not None:
            raise ValueError("Word2Vec: give either sentences (corpus_iterable) or corpus_file, not both")
        if corpus_file is not None:
            return LineSentence(corpus_file)
        if sentences is None:
            raise ValueError("Word2Vec: no corpus: give sentences (a re-iterable of token lists) or corpus_file")
        _check_reiterable(sentences, "Word2Vec")
        return sentences

    def _new_network(self, num_words):
        module = SkipGramNegativeSampling if self.sg else CBOWNegativeSampling
        kwargs = {} if self.sg else {"cbow_mean": bool(self.cbow_mean)}
        return module(num_words, self.vector_size, sparse=True, **kwargs)

    def build_vocab(self, corpus_iterable=None, corpus_file=None, update=False, progress_per=10000,
                    keep_raw_vocab=False, trim_rule=None, *, sentences=None):
        """Scan the corpus once: vocabulary, counts, subsampling and noise tables, and the tables of vectors.

        Args:
            corpus_iterable: the sentences (gensim 4's name; `sentences=` is accepted too).
            corpus_file: or a LineSentence-format file.
            update: False: a fresh vocabulary and fresh vectors (training so far is discarded).
                True (gensim's online update): words of this corpus seen at least min_count
                times are added at the end with fresh vectors, known words add this corpus's
                counts and keep their vectors; then `train()` on the new corpus.
            trim_rule: see the constructor.
            progress_per, keep_raw_vocab: accepted for gensim's signature, unused.
        """
        if sentences is not None:
            if corpus_iterable is not None:
                raise ValueError("Word2Vec.build_vocab: give corpus_iterable or sentences, not both")
            corpus_iterable = sentences
        corpus = self._corpus(corpus_iterable, corpus_file)
        if trim_rule is not None and not callable(trim_rule):
            raise TypeError(f"Word2Vec.build_vocab: trim_rule must be callable, got {type(trim_rule).__name__}")
        if update:
            return self._update_vocab(corpus, trim_rule)
        counts, total, n_sent = _count_words(corpus, self.max_vocab_size, trim_rule, "Word2Vec.build_vocab")
        self.effective_min_count = _effective_min_count(counts, self.min_count, self.max_final_vocab)
        words, freq = _select_words(counts, self.effective_min_count, trim_rule, bool(self.sorted_vocab))
        if not words:
            raise ValueError(f"Word2Vec.build_vocab: the vocabulary is empty: no word occurs at least "
                             f"min_count={self.min_count} times in the {total} words of the corpus; lower min_count")
        self.word_counts, self.corpus_total_words, self.corpus_count = freq, total, n_sent
        self._make_tables()
        self.network = self._new_network(len(words))
        self.network.reset_parameters(self.rng)
        self.network.to(self.device)
        self.wv = KeyedVectors(self.vector_size, words, self._host_vectors())
        self.wv.expandos["count"] = self.word_counts
        return self

    def _update_vocab(self, corpus, trim_rule):
        """build_vocab(update=True): grow the vocabulary and both tables, keeping the trained rows."""
        if self.network is None:
            raise RuntimeError("Word2Vec.build_vocab(update=True): the model has no vocabulary to update yet; "
                               "build one first with build_vocab(corpus)")
        counts, total, n_sent = _count_words(corpus, self.max_vocab_size, trim_rule, "Word2Vec.build_vocab")
        words, freq = _select_words(counts, self.min_count, trim_rule, bool(self.sorted_vocab))
        word_counts = self.word_counts.copy()
        index = self.wv.key_to_index
        fresh = [(w, c) for w, c in zip(words, freq.tolist()) if w not in index]
        for w, c in zip(words, freq.tolist()):
            if w in index:
                word_counts[index[w]] += c
        old_in = _B.to_device(self.network.in_embed.weight.data, "cpu")
        old_out = _B.to_device(self.network.out_embed.weight.data, "cpu")
        n_old, n_new = old_in.shape[0], len(fresh)
        bound = 0.5 / self.vector_size  # the new words start as fresh ones do (see reset_parameters)
        new_in = self.rng.uniform(-bound, bound, size=(n_new, self.vector_size)).astype(old_in.dtype)
        net = self._new_network(n_old + n_new)
        with mg.no_grad():
            net.in_embed.weight.copy_(np.concatenate([old_in, new_in]))
            net.out_embed.weight.copy_(np.concatenate([old_out, np.zeros((n_new, self.vector_size), old_out.dtype)]))
        self.network = net.to(self.device)
        self.word_counts = np.concatenate([word_counts, np.array([c for _, c in fresh], dtype=np.int64)])
        self.corpus_total_words, self.corpus_count = total, n_sent
        self._make_tables()
        self.wv = KeyedVectors(self.vector_size, list(self.wv.index_to_key) + [w for w, _ in fresh],
                               self._host_vectors())
        self.wv.expandos["count"] = self.word_counts
        return self

    def _make_tables(self):
        self._keep = keep_probabilities(self.word_counts, self.sample)
        self._noise = AliasSampler(self.word_counts.astype(np.float64) ** self.ns_exponent)

    def _host_vectors(self):
        """The input vectors as a host array (on 'cpu' the parameter's own array: no copy)."""
        return _B.to_device(self.network.in_embed.weight.data, "cpu")

    @property
    def syn1neg(self):
        """The output vectors (gensim's name), a host array."""
        if self.network is None:
            raise RuntimeError("Word2Vec.syn1neg: the model has no vocabulary yet")
        return _B.to_device(self.network.out_embed.weight.data, "cpu")

    # ------------------------------------------------------------ batches
    def _chunks(self, corpus):
        """Yield ((word ids, sentence number of each id), (raw words, sentences)) for ~batch_words words at a time.

        Out-of-vocabulary words become -1 here and are dropped later with the subsampled ones.
        """
        lookup = self.wv.key_to_index.get
        minus_one = itertools.repeat(-1)
        ids, lengths, raw = [], [], 0
        for s in _sentence_pieces(corpus, "Word2Vec.train"):
            ids.extend(map(lookup, s, minus_one))
            lengths.append(len(s))
            raw += len(s)
            if raw >= self.batch_words:
                yield self._chunk_arrays(ids, lengths), (raw, len(lengths))
                ids, lengths, raw = [], [], 0
        if lengths:
            yield self._chunk_arrays(ids, lengths), (raw, len(lengths))

    @staticmethod
    def _chunk_arrays(ids, lengths):
        ids = np.array(ids, dtype=np.int64)
        sentence = np.repeat(np.arange(len(lengths)), lengths)
        return ids, sentence

    def _examples(self, ids, sentence):
        """Subsample, draw windows, pair up and draw noise words for one chunk (all vectorised).

        Returns a dict of host arrays: skip-gram `inputs` (P,) context-word ids; CBOW `context`
        (P, 2W) ids and `context_weights` (P, 2W); both `targets` (P, 1+K) = the centre word then
        K noise words, and `target_weights` (P, 1+K), 0 where a noise word is the centre word itself
        (the C tool skips those). `words`: the number of words kept (gensim's effective words).
        """
        rng = self.rng
        keep = ids >= 0
        keep[keep] = rng.random(int(keep.sum())) < self._keep[ids[keep]]
        ids, sentence = ids[keep], sentence[keep]
        n = ids.size
        # Sentences are contiguous runs of the same number: find each word's run.
        start = np.searchsorted(sentence, sentence, side="left")
        end = np.searchsorted(sentence, sentence, side="right")
        pos, valid = context_windows(n, start, end, self.window, rng, self.shrink_windows)
        if self.sg:
            centre, slot = np.nonzero(valid)  # one row per (centre, context) pair, centre by centre
            ex = {"inputs": ids[pos[centre, slot]]}
            centre_ids = ids[centre]
        else:
            rows = np.flatnonzero(valid.any(axis=1))  # centres with at least one context word
            ex = {"context": ids[pos[rows]], "context_weights": valid[rows].astype(np.float32)}
            centre_ids = ids[rows]
        noise = self._noise.sample(rng, (centre_ids.size, self.negative))
        ex["targets"] = np.concatenate([centre_ids[:, None], noise], axis=1)
        weights = np.ones(ex["targets"].shape, dtype=np.float32)
        weights[:, 1:] = noise != centre_ids[:, None]
        ex["target_weights"] = weights
        self._effective_words = n
        return ex

    # ------------------------------------------------------------ training
    def _next_alpha(self, start, end, epoch, epoch_progress, epochs):
        """gensim's schedule: linear from start (progress 0) to end (progress 1) over all epochs, never below end."""
        lr = start - (start - end) * (epoch + epoch_progress) / epochs
        return max(end, lr)

    def train(self, corpus_iterable=None, corpus_file=None, total_examples=None, total_words=None, epochs=None,
              start_alpha=None, end_alpha=None, word_count=0, queue_factor=2, report_delay=1.0, compute_loss=False,
              callbacks=(), *, sentences=None):
        """Train for `epochs` passes over the corpus (gensim 4's `train`).

        The learning rate of each chunk of about batch_words words is
        alpha - (alpha - min_alpha) * (epoch + p) / epochs, never below min_alpha, where p is
        the fraction of the epoch done before the chunk: sentences done / total_examples when
        total_examples is given, else words done / total_words (gensim's rule). gensim requires
        one of them and `epochs`; here they default to the counts of the last build_vocab and
        the constructor's epochs (right when training on the corpus the vocabulary came from).

        Args:
            corpus_iterable: the sentences (`sentences=` is accepted too); or corpus_file.
            total_examples, total_words: the corpus size, for the schedule.
            epochs: passes (stored as `self.epochs`, as gensim).
            start_alpha, end_alpha: replace alpha / min_alpha for this call.
            compute_loss: record the summed loss for `get_latest_training_loss()` (as in gensim,
                this call's value replaces the constructor's setting).
            callbacks: `CallbackAny2Vec` objects.
            word_count, queue_factor, report_delay: accepted for gensim's signature, unused.

        Returns:
            (effective words, raw words): corpus words kept after dropping unknown and
            subsampled ones, and all corpus words, summed over the epochs (gensim's return value).
        """
        if self.network is None:
            raise RuntimeError("Word2Vec.train: no vocabulary yet; call build_vocab(sentences) first "
                               "(or pass sentences to the constructor)")
        if sentences is not None:
            if corpus_iterable is not None:
                raise ValueError("Word2Vec.train: give corpus_iterable or sentences, not both")
            corpus_iterable = sentences
        corpus = self._corpus(corpus_iterable, corpus_file)
        epochs = self.epochs if epochs is None else _positive_int("epochs", epochs)
        for name, value in (("total_examples", total_examples), ("total_words", total_words)):
            if value is not None:
                _positive_int(name, value)
        if total_examples is None and total_words is None:
            total_words = max(self.corpus_total_words, 1)
        start = self.alpha if start_alpha is None else float(start_alpha)
        end = self.min_alpha if end_alpha is None else float(end_alpha)
        if not (start > 0 and 0 <= end <= start):
            raise ValueError(f"Word2Vec.train: need start_alpha > 0 and 0 <= end_alpha <= start_alpha, got "
                             f"{start!r} and {end!r}")
        self.epochs = epochs
        self.compute_loss = bool(compute_loss)
        self.running_training_loss = 0.0
        callbacks = tuple(callbacks or ())
        net, dev, dtype = self.network, self.device, self.network.in_embed.weight.dtype
        step = self._step_pairs()
        opt = optim.SGD(net.parameters(), lr=start)
        expected = (total_words if total_examples is None else self.corpus_total_words) or 1
        progress = _Progress(expected * epochs, epochs, self.progress)
        done = effective = 0  # corpus words read, and kept, over the whole call
        t0 = time.perf_counter()
        recent = [None, 0]  # (device) loss sum and pair count since the display last read it

        def recent_loss():
            value = float(recent[0].item()) / max(recent[1], 1) if recent[0] is not None else float("nan")
            recent[0], recent[1] = None, 0
            return value

        net.train()
        for cb in callbacks:
            cb.on_train_begin(self)
        try:
            for epoch in range(epochs):
                for cb in callbacks:
                    cb.on_epoch_begin(self)
                epoch_loss, epoch_pairs, loss_before = None, 0, self.running_training_loss
                epoch_words = epoch_sentences = 0
                for (ids, sentence), (raw, n_sent) in self._chunks(corpus):
                    # One learning rate per chunk, from the part of the epoch done before it (gensim: per job).
                    p = epoch_sentences / total_examples if total_examples is not None else epoch_words / total_words
                    lr = self._next_alpha(start, end, epoch, p, epochs)
                    opt.param_groups[0]["lr"] = self.min_alpha_yet_reached = lr
                    for cb in callbacks:
                        cb.on_batch_begin(self)
                    ex = self._examples(ids, sentence)
                    effective += self._effective_words
                    n = ex["targets"].shape[0]
                    for lo in range(0, n, step):
                        hi = min(lo + step, n)
                        batch = {k: mg.as_tensor(v[lo:hi], device=dev) for k, v in ex.items()}
                        if self.sg:
                            loss = net(batch["inputs"], batch["targets"], batch["target_weights"].to(dtype=dtype))
                        else:
                            loss = net(batch["context"], batch["context_weights"].to(dtype=dtype),
                                       batch["targets"], batch["target_weights"].to(dtype=dtype))
                        opt.zero_grad()
                        loss.backward()
                        opt.step()
                        loss = loss.detach()
                        epoch_loss = loss if epoch_loss is None else epoch_loss + loss
                        recent[0] = loss if recent[0] is None else recent[0] + loss
                        epoch_pairs += hi - lo
                        recent[1] += hi - lo
                    done += raw
                    epoch_words += raw
                    epoch_sentences += n_sent
                    if self.compute_loss and epoch_loss is not None:
                        self.running_training_loss = loss_before + float(epoch_loss.item())
                    progress.update(raw, epoch, recent_loss)
                    if callbacks:
                        # the current vectors for the callbacks (on 'cpu' wv already holds the parameter's own
                        # array; off the CPU this is a fresh host copy, as torch code would take with .cpu())
                        self._sync_vectors()
                        for cb in callbacks:
                            cb.on_batch_end(self)
                self.loss_history.append(float(epoch_loss.item()) / epoch_pairs if epoch_pairs else float("nan"))
                if epoch_pairs and not math.isfinite(self.loss_history[-1]):
                    raise RuntimeError(
                        f"Word2Vec.train: the loss became {self.loss_history[-1]} in epoch {epoch + 1}: the SGD steps "
                        f"diverged. Each step sums the updates of {step} pairs computed at the same point, and with "
                        f"{len(self.wv)} vocabulary words each word gets many of them at once; use a smaller "
                        f"batch_pairs (e.g. {max(16, 2 * len(self.wv))}) or a smaller alpha")
                if callbacks:
                    self._sync_vectors()
                    for cb in callbacks:
                        cb.on_epoch_end(self)
        finally:
            progress.close()
            opt.zero_grad()
            self.train_seconds = time.perf_counter() - t0
            self.train_words_per_second = done / max(self.train_seconds, 1e-9)
            self._sync_vectors()
        self.train_count += 1
        for cb in callbacks:
            cb.on_train_end(self)
        return effective, done

    def _step_pairs(self) -> int:
        """Pairs per SGD step: batch_pairs, or by default 1024 but at most 8 per vocabulary word (at least 16)."""
        if self.batch_pairs is not None:
            return self.batch_pairs
        return min(1024, max(16, 8 * len(self.wv)))

    def _sync_vectors(self):
        """Point wv at the current input vectors (a fresh host copy off the CPU) and drop its cached unit vectors."""
        self.wv._set_vectors(self._host_vectors())

    def get_latest_training_loss(self) -> float:
        """The training loss summed over the pairs of the latest train() call (0.0 unless compute_loss=True).

        As gensim: one number for the whole call, growing through its epochs (a callback's
        on_epoch_end sees the sum so far); the loss of a (context, centre) pair is
        -log s(u.v_centre) - sum_k log s(-u.v_noise_k), computed exactly (gensim uses a table).
        """
        return self.running_training_loss

    def predict_output_word(self, context_words_list, topn=10):
        """The most likely centre words for a list of context words: [(word, probability)], best first.

        As gensim (negative sampling): h = the sum (cbow_mean=0) or mean of the context words'
        vectors, probabilities = softmax over the vocabulary of h . output vectors. Unknown
        context words are ignored; None if none is known.
        """
        idx = [self.wv.get_index(w) for w in context_words_list if w in self.wv.key_to_index]
        if not idx:
            warnings.warn("predict_output_word: none of the context words is in the vocabulary", stacklevel=2)
            return None
        h = self.wv.vectors[idx].astype(np.float64).sum(axis=0)
        if self.cbow_mean:
            h /= len(idx)
        scores = self.syn1neg.astype(np.float64) @ h
        prob = np.exp(scores - scores.max())
        prob /= prob.sum()
        best = np.argsort(-prob, kind="stable")[:topn]
        return [(self.wv.index_to_key[i], float(prob[i])) for i in best.tolist()]

    def __getitem__(self, key):
        raise TypeError("Word2Vec objects are not subscriptable: look words up in model.wv (model.wv['word']), "
                        "as in gensim 4")

    # ------------------------------------------------------------ persistence
    _HYPER = ("vector_size", "window", "min_count", "max_vocab_size", "negative", "sample", "alpha", "min_alpha", "sg",
              "epochs", "batch_words", "seed", "batch_pairs", "cbow_mean", "ns_exponent", "workers", "sorted_vocab",
              "shrink_windows", "compute_loss", "max_final_vocab")

    def save(self, path):
        """Save vocabulary, counts, both tables and settings with `minigrad.save` (an .npz, no pickle)."""
        if self.network is None:
            raise RuntimeError("Word2Vec.save: nothing to save: the model has no vocabulary yet")
        mg.save({
            "format": _FORMAT, "version": _FORMAT_VERSION,
            "hyper": {k: getattr(self, k) for k in self._HYPER},
            "words": list(self.wv.index_to_key),
            "counts": self.word_counts,
            "corpus_total_words": int(self.corpus_total_words), "corpus_count": int(self.corpus_count),
            "loss_history": [float(x) for x in self.loss_history],
            "running_training_loss": float(self.running_training_loss),
            "min_alpha_yet_reached": float(self.min_alpha_yet_reached),
            "state": self.network.state_dict(),
        }, path)

    @classmethod
    def load(cls, path, device="cpu"):
        """A model saved by `save`, on `device`; it can be queried (`wv`) or trained further."""
        ckpt = mg.load(path, device=device)
        if not isinstance(ckpt, dict) or ckpt.get("format") != _FORMAT:
            raise ValueError(f"Word2Vec.load: {path} is a minigrad checkpoint but not a saved Word2Vec model")
        if ckpt.get("version", 0) > _FORMAT_VERSION:
            raise ValueError(f"Word2Vec.load: {path} was written by a newer version (format {ckpt['version']})")
        hyper = dict(ckpt["hyper"])
        hyper.setdefault("sg", 1)  # files written before sg defaulted to 0 always stored it; be safe
        model = cls(device=device, progress=False, **hyper)
        model.word_counts = np.asarray(ckpt["counts"], dtype=np.int64)
        model.corpus_total_words, model.corpus_count = ckpt["corpus_total_words"], ckpt["corpus_count"]
        model.loss_history = list(ckpt["loss_history"])
        model.running_training_loss = float(ckpt.get("running_training_loss", 0.0))
        model.min_alpha_yet_reached = float(ckpt.get("min_alpha_yet_reached", model.alpha))
        model._make_tables()
        words = ckpt["words"]
        model.network = model._new_network(len(words)).to(model.device)
        model.network.load_state_dict(ckpt["state"])
        model.wv = KeyedVectors(model.vector_size, words, model._host_vectors())
        model.wv.expandos["count"] = model.word_counts
        return model

    def __repr__(self):
        kind = "skip-gram" if self.sg else "CBOW"
        return (f"Word2Vec({kind}, {len(self.wv)} words, vector_size={self.vector_size}, window={self.window}, "
                f"negative={self.negative}, device='{self.device}')")


def _positive_int(name, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Word2Vec: {name} must be a positive int, got {value!r}")
    return int(value)


# ====================================================================== evaluation on known structure
def synthetic_class_corpus(n_sentences=4000, n_classes=8, words_per_class=10, n_templates=24, n_function_words=16,
                           seed=0):
    """Sentences from templates whose slots are word classes: words of a class are interchangeable.

    Each class c has words "c<c>w<i>" with Zipf-like frequencies inside the class (so some
    are rare). Each template is a short sequence of function words "f<j>" and 2 or 3 class
    slots; a sentence picks a template and fills each slot with a word of that class. Two
    words of the same class therefore have exactly the same distribution of contexts, and a
    good embedding puts them next to each other.

    Returns:
        (sentences, word_class): a list of token lists and a dict class word -> class number.
    """
    rng = np.random.default_rng(seed)
    within = 1.0 / np.arange(1, words_per_class + 1)  # Zipf-like frequencies inside a class
    within /= within.sum()
    templates = []
    for t in range(n_templates):
        slots = rng.choice(n_classes, size=int(rng.integers(2, 4)), replace=False).tolist()
        slots[0] = t % n_classes  # every class fills templates
        items = [("c", c) for c in slots] + [("f", int(f)) for f in rng.integers(0, n_function_words,
                                                                                   size=int(rng.integers(2, 5)))]
        order = rng.permutation(len(items))
        templates.append([items[i] for i in order])
    choice = rng.integers(0, n_templates, size=n_sentences)
    sentences = []
    for t in choice:
        sent = []
        for kind, k in templates[t]:
            sent.append(f"c{k}w{rng.choice(words_per_class, p=within)}" if kind == "c" else f"f{k}")
        sentences.append(sent)
    word_class = {f"c{c}w{i}": c for c in range(n_classes) for i in range(words_per_class)}
    return sentences, word_class


def neighbour_precision(vectors, word_class, k=5):
    """Mean over the class words in the vocabulary of the fraction of their k nearest neighbours in their own class.

    Args:
        vectors: a KeyedVectors (ours or gensim's: anything with `most_similar` and `in`).
        word_class: dict word -> class.
        k: neighbours per word.

    Returns:
        (precision, chance): the precision@k, and its expected value for random vectors,
        mean over the words of (same-class words - 1) / (vocabulary size - 1).
    """
    words = [w for w in word_class if w in vectors]
    if not words:
        raise ValueError("neighbour_precision: none of the class words is in the vocabulary")
    size = Counter(word_class[w] for w in words)
    hits, chance = [], []
    for w in words:
        near = [u for u, _ in vectors.most_similar(w, topn=k)]
        hits.append(sum(word_class.get(u) == word_class[w] for u in near) / k)
        chance.append((size[word_class[w]] - 1) / (len(vectors) - 1))
    return float(np.mean(hits)), float(np.mean(chance))
