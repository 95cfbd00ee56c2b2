"""Word2vec: skip-gram and CBOW with negative sampling (Mikolov et al. 2013), trained by minigrad.

    from models.word2vec import Word2Vec
    model = Word2Vec(sentences, vector_size=100, window=5, min_count=5, epochs=5)
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
there is no hierarchical softmax (hs=0 only).
"""
from __future__ import annotations

import itertools
import os
import sys
import time
from collections import Counter

import minigrad as mg
from minigrad import backend as _B
from minigrad import functional as F
from minigrad import nn, optim

np = _B.np  # host-side data preparation (vocabulary, sampling, index arrays) and the host word vectors

__all__ = [
    "Word2Vec", "KeyedVectors", "SkipGramNegativeSampling", "CBOWNegativeSampling", "negative_sampling_loss",
    "skipgram_loss", "cbow_loss",
    "LineSentence", "build_vocab", "keep_probabilities", "AliasSampler", "context_windows",
    "synthetic_class_corpus", "neighbour_precision",
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
def build_vocab(sentences, min_count: int = 5, max_vocab_size=None):
    """Count the words of a sentence stream and keep the frequent ones.

    Args:
        sentences: iterable of token lists (read once).
        min_count: keep words seen at least this often.
        max_vocab_size: while counting, whenever more than this many distinct words are held,
            drop those seen at most `r` times and raise r by one (word2vec.c's ReduceVocab,
            r starting at 1), so counting needs bounded memory; the final vocabulary has at
            most this many words. None: no limit.

    Returns:
        (words, counts, total_words, n_sentences): the kept words, most frequent first
        (ties in order of first appearance); their counts (int64 array); the number of
        tokens in the corpus (out-of-vocabulary ones included); the number of sentences.
    """
    if not isinstance(min_count, int) or min_count < 1:
        raise ValueError(f"build_vocab: min_count must be an int >= 1, got {min_count!r}")
    if max_vocab_size is not None and (not isinstance(max_vocab_size, int) or max_vocab_size < 1):
        raise ValueError(f"build_vocab: max_vocab_size must be None or an int >= 1, got {max_vocab_size!r}")
    counts = Counter()
    total = n_sentences = 0
    min_reduce = 1
    for s in _sentence_pieces(sentences, "build_vocab"):
        counts.update(s)
        total += len(s)
        n_sentences += 1
        if max_vocab_size is not None and len(counts) > max_vocab_size:
            min_reduce = _prune(counts, min_reduce)
    while max_vocab_size is not None and len(counts) > max_vocab_size:
        min_reduce = _prune(counts, min_reduce)
    # sorted() is stable and Counter keeps first-seen order, so ties stay in order of appearance.
    kept = sorted(((w, c) for w, c in counts.items() if c >= min_count), key=lambda wc: -wc[1])
    words = [w for w, _ in kept]
    freq = np.array([c for _, c in kept], dtype=np.int64)
    return words, freq, total, n_sentences


def _prune(counts: Counter, min_reduce: int) -> int:
    """Delete words seen at most `min_reduce` times; return the next threshold (C's ReduceVocab)."""
    for w in [w for w, c in counts.items() if c <= min_reduce]:
        del counts[w]
    return min_reduce + 1


# ====================================================================== sampling
def keep_probabilities(counts, sample: float):
    """Probability that each occurrence of a word survives subsampling (word2vec.c's formula).

    With T = counts.sum() and threshold t = sample * T, a word seen f times is kept with
    probability min(1, (sqrt(f / t) + 1) * t / f): about sqrt(t / f) for very frequent
    words, 1 for words rarer than about 2.6 t. sample=0 disables subsampling.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0:
        return np.ones(counts.shape, dtype=np.float64)
    t = sample * counts.sum()
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


def context_windows(n: int, sentence_start, sentence_end, window: int, rng):
    """Context positions of n centre words with dynamic windows, as a (n, 2*window) grid.

    Centre i looks at positions i-b..i+b (not i itself) with b drawn uniformly from
    1..window per centre (word2vec.c: b = window - rand() % window), clipped to its own
    sentence [sentence_start[i], sentence_end[i]).

    Returns:
        (positions, valid): int64 (n, 2*window) positions (clipped into range where
        invalid) and the bool mask of the real context words. Row-major order of the
        valid entries is the C tool's order: centre by centre, left to right.
    """
    offsets = np.concatenate([np.arange(-window, 0), np.arange(1, window + 1)])
    reach = rng.integers(1, window + 1, size=n)  # the effective window of each centre word
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
class KeyedVectors:
    """Word vectors on the host (NumPy), looked up by word: gensim's KeyedVectors, in small.

    Args:
        vector_size: D.
        index_to_key: the words, in row order.
        vectors: (len(index_to_key), D) float array (kept, not copied).

    Attributes:
        vectors, index_to_key, key_to_index, vector_size.
    """

    def __init__(self, vector_size: int, index_to_key=None, vectors=None):
        self.vector_size = int(vector_size)
        self.index_to_key = list(index_to_key) if index_to_key is not None else []
        self.key_to_index = {w: i for i, w in enumerate(self.index_to_key)}
        if len(self.key_to_index) != len(self.index_to_key):
            raise ValueError("KeyedVectors: index_to_key has repeated words")
        if vectors is None:
            vectors = np.zeros((len(self.index_to_key), self.vector_size), dtype=np.float32)
        self._set_vectors(vectors)

    def _set_vectors(self, vectors):
        if vectors.shape != (len(self.index_to_key), self.vector_size):
            raise ValueError(f"KeyedVectors: vectors of shape {tuple(vectors.shape)} do not fit "
                             f"{len(self.index_to_key)} words of size {self.vector_size}")
        self.vectors = vectors
        self._normed = None  # unit vectors, computed on the first similarity query

    # ------------------------------------------------------------ lookup
    def __len__(self):
        return len(self.index_to_key)

    def __contains__(self, word):
        return word in self.key_to_index

    def get_index(self, word) -> int:
        """Row of `word`; KeyError naming the word if it is not in the vocabulary."""
        try:
            return self.key_to_index[word]
        except (KeyError, TypeError):
            raise KeyError(f"word {word!r} not in vocabulary ({len(self)} words; words seen fewer than min_count "
                           "times are not kept)") from None

    def __getitem__(self, words):
        """The vector of a word (D,), or of a list of words (n, D). A host NumPy array."""
        if isinstance(words, str):
            return self.vectors[self.get_index(words)]
        return self.vectors[[self.get_index(w) for w in words]]

    get_vector = __getitem__

    def get_normed_vectors(self):
        """All vectors scaled to unit length (cached until the vectors change)."""
        if self._normed is None or self._normed.shape != self.vectors.shape:
            v = np.asarray(self.vectors, dtype=np.float32)
            norms = np.linalg.norm(v, axis=1, keepdims=True)
            self._normed = v / np.maximum(norms, np.float32(1e-12))  # an all-zero vector stays zero
        return self._normed

    # ------------------------------------------------------------ similarity
    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        n = self.get_normed_vectors()
        return float(n[self.get_index(a)] @ n[self.get_index(b)])

    def most_similar(self, positive=None, negative=None, topn=10):
        """The words nearest (by cosine) to the mean of the unit vectors of `positive` minus `negative`.

        `most_similar("king")` gives king's neighbours; `most_similar(positive=["king", "woman"],
        negative=["man"])` answers "man : king = woman : ?" (3CosAdd). Query words are left out
        of the answer, as in gensim. Entries may be words or vectors (arrays of size D).

        Returns:
            A list of (word, cosine) pairs, best first; with topn=None the array of cosines to every word.
        """
        if isinstance(positive, (str, bytes)) or _is_vector(positive):
            positive = [positive]
        if isinstance(negative, (str, bytes)) or _is_vector(negative):
            negative = [negative]
        positive, negative = list(positive or []), list(negative or [])
        if not positive and not negative:
            raise ValueError("most_similar: give at least one word in positive or negative")
        if topn is not None and (not isinstance(topn, int) or topn < 0):
            raise ValueError(f"most_similar: topn must be a non-negative int or None, got {topn!r}")
        normed = self.get_normed_vectors()
        query, exclude = [], set()
        for sign, items in ((1.0, positive), (-1.0, negative)):
            for item in items:
                if isinstance(item, str):
                    i = self.get_index(item)
                    query.append(sign * normed[i])
                    exclude.add(i)
                else:
                    v = np.asarray(item, dtype=np.float32).reshape(-1)
                    if v.shape != (self.vector_size,):
                        raise ValueError(f"most_similar: a vector query must have size {self.vector_size}, "
                                         f"got shape {np.shape(item)}")
                    query.append(sign * v / max(float(np.linalg.norm(v)), 1e-12))
        mean = np.mean(query, axis=0).astype(np.float32)
        mean /= max(float(np.linalg.norm(mean)), 1e-12)
        sims = normed @ mean
        if topn is None:
            return sims
        # Only the best topn + len(exclude) can make the list: partition, then sort those few.
        k = min(topn + len(exclude), sims.size)
        best = np.argpartition(-sims, k - 1)[:k] if 0 < k < sims.size else np.arange(sims.size)
        order = best[np.argsort(-sims[best], kind="stable")]
        out = []
        if topn == 0:
            return out
        for i in order:
            if int(i) in exclude:
                continue
            out.append((self.index_to_key[i], float(sims[i])))
            if len(out) == topn:
                break
        return out

    # ------------------------------------------------------------ the word2vec file format
    def save_word2vec_format(self, path, binary: bool = False):
        """Write the standard word2vec file: a "V D" header line, then one word and its D numbers per line.

        Text (binary=False): numbers in decimal with 9 significant digits (exact for float32).
        Binary: after the header, each entry is the word, a space and D little-endian float32s
        (then a newline), as word2vec.c writes with -binary 1.
        """
        words, vecs = self.index_to_key, np.asarray(self.vectors, dtype=np.float32)
        for w in words:
            if not w or any(ch.isspace() for ch in w):
                raise ValueError(f"save_word2vec_format: word {w!r} is empty or contains whitespace, which the "
                                 "format cannot represent")
        with open(path, "wb") as f:
            f.write(f"{len(words)} {self.vector_size}\n".encode("utf-8"))
            if binary:
                le = vecs.astype("<f4", copy=False)
                for w, row in zip(words, le):
                    f.write(w.encode("utf-8") + b" " + row.tobytes() + b"\n")
            else:
                for w, row in zip(words, vecs.tolist()):
                    f.write((w + " " + " ".join(f"{x:.9g}" for x in row) + "\n").encode("utf-8"))

    @classmethod
    def load_word2vec_format(cls, path, binary: bool = False):
        """Read a file written by `save_word2vec_format` (or by word2vec.c / gensim); vectors as float32."""
        with open(path, "rb") as f:
            header = f.readline().decode("utf-8").split()
            if len(header) != 2 or not all(h.isdigit() for h in header):
                raise ValueError(f"load_word2vec_format: {path}: the first line must be 'V D' (word count and "
                                 f"vector size), got {' '.join(header)!r}")
            n, dim = int(header[0]), int(header[1])
            words, vecs = [], np.empty((n, dim), dtype=np.float32)
            for i in range(n):
                if binary:
                    word = _read_binary_word(f, path, i)
                    raw = f.read(4 * dim)
                    if len(raw) != 4 * dim:
                        raise ValueError(f"load_word2vec_format: {path}: entry {i + 1} ({word!r}) is truncated")
                    vecs[i] = np.frombuffer(raw, dtype="<f4")
                else:
                    line = f.readline()
                    if not line:
                        raise ValueError(f"load_word2vec_format: {path}: the header promises {n} words but the file "
                                         f"ends after {i}")
                    parts = line.decode("utf-8").rstrip().split(" ")
                    if len(parts) != dim + 1:
                        raise ValueError(f"load_word2vec_format: {path}: line {i + 2} has {len(parts) - 1} numbers, "
                                         f"expected {dim}")
                    try:
                        vecs[i] = [float(x) for x in parts[1:]]
                    except ValueError:
                        raise ValueError(f"load_word2vec_format: {path}: line {i + 2} has a value that is not a "
                                         "number") from None
                    word = parts[0]
                words.append(word)
        if len(set(words)) != len(words):
            raise ValueError(f"load_word2vec_format: {path}: a word appears twice")
        return cls(dim, words, vecs)

    def __repr__(self):
        return f"KeyedVectors({len(self)} words, vector_size={self.vector_size})"


def _is_vector(x) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype") and getattr(x, "ndim", 0) >= 1 and x.dtype.kind == "f"


def _read_binary_word(f, path, i) -> str:
    chars = []
    while True:
        ch = f.read(1)
        if not ch:
            raise ValueError(f"load_word2vec_format: {path}: the file ends inside entry {i + 1}")
        if ch == b" ":
            break
        if ch != b"\n" or chars:  # skip the newline that ends the previous entry
            chars.append(ch)
    return b"".join(chars).decode("utf-8")


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
class Word2Vec:
    """Train word vectors with skip-gram (sg=1) or CBOW (sg=0) and negative sampling; gensim's API.

    Args:
        sentences: a re-iterable of token lists (a list, a `LineSentence`, any object whose
            `__iter__` starts over); read once for the vocabulary and once per epoch, a
            chunk at a time. If given (or `corpus_file`), the model is trained right away.
        corpus_file: path of a text file with one whitespace-tokenised sentence per line.
        vector_size: D, the size of the word vectors.
        window: maximum distance between the centre word and a context word (the window
            actually used is drawn uniformly from 1..window for each centre word).
        min_count: ignore words seen fewer times.
        max_vocab_size: bound on distinct words held while counting (rarest pruned); None: no bound.
        negative: noise words per pair (K).
        sample: subsampling threshold for frequent words (0 disables it).
        alpha, min_alpha: the learning rate falls linearly from alpha to min_alpha over all epochs.
        sg: 1 skip-gram, 0 CBOW.
        epochs: passes over the corpus.
        batch_words: words of text turned into index arrays at a time (host work).
        seed: seeds the initial vectors, subsampling, windows and noise words.
        device: 'cpu', 'cuda' or 'cuda:N': where the tables live and the steps run.
        progress: show a words/s progress line while training.
        batch_pairs: training pairs per SGD step (see the module docstring for why 1024).
        cbow_mean: CBOW averages (1) or sums (0) the context vectors.
        ns_exponent: the power of the unigram counts the noise distribution uses (0.75).

    Attributes:
        wv: `KeyedVectors` of the trained input vectors (host NumPy).
        network: the `SkipGramNegativeSampling` / `CBOWNegativeSampling` module.
        word_counts: int64 counts of the vocabulary words (row order of wv).
        corpus_total_words, corpus_count: tokens and sentences in the corpus.
        loss_history: mean loss per training pair, one entry per epoch trained.
        train_seconds, train_words_per_second: of the last `train()` call (corpus words per second).
    """

    def __init__(self, sentences=None, corpus_file=None, vector_size=100, window=5, min_count=5, max_vocab_size=None,
                 negative=5, sample=1e-3, alpha=0.025, min_alpha=1e-4, sg=1, epochs=5, batch_words=10000, seed=0,
                 device="cpu", progress=True, *, batch_pairs=1024, cbow_mean=1, ns_exponent=0.75):
        self.vector_size = _positive_int("vector_size", vector_size)
        self.window = _positive_int("window", window)
        self.min_count = _positive_int("min_count", min_count)
        if max_vocab_size is not None:
            _positive_int("max_vocab_size", max_vocab_size)
        self.max_vocab_size = max_vocab_size
        self.negative = _positive_int("negative", negative)
        if not (isinstance(sample, (int, float)) and sample >= 0):
            raise ValueError(f"Word2Vec: sample must be a number >= 0, got {sample!r}")
        if not (isinstance(alpha, (int, float)) and alpha > 0 and isinstance(min_alpha, (int, float))
                and 0 <= min_alpha <= alpha):
            raise ValueError(f"Word2Vec: need alpha > 0 and 0 <= min_alpha <= alpha, got alpha={alpha!r}, "
                             f"min_alpha={min_alpha!r}")
        if sg not in (0, 1):
            raise ValueError(f"Word2Vec: sg must be 1 (skip-gram) or 0 (CBOW), got {sg!r}")
        if cbow_mean not in (0, 1):
            raise ValueError(f"Word2Vec: cbow_mean must be 0 or 1, got {cbow_mean!r}")
        self.sample, self.alpha, self.min_alpha = float(sample), float(alpha), float(min_alpha)
        self.sg, self.cbow_mean, self.ns_exponent = int(sg), int(cbow_mean), float(ns_exponent)
        self.epochs = _positive_int("epochs", epochs)
        self.batch_words = _positive_int("batch_words", batch_words)
        self.batch_pairs = _positive_int("batch_pairs", batch_pairs)
        self.seed = int(seed)
        self.device = _B.parse_device(device)
        self.progress = bool(progress)
        self.rng = np.random.default_rng(self.seed)
        self.wv = KeyedVectors(self.vector_size)
        self.network = None
        self.word_counts = np.zeros(0, dtype=np.int64)
        self.corpus_total_words = self.corpus_count = 0
        self.loss_history, self.train_seconds, self.train_words_per_second = [], 0.0, 0.0
        self.min_alpha_yet_reached = self.alpha  # the learning rate of the latest step (gensim's name)
        if sentences is not None or corpus_file is not None:
            corpus = self._corpus(sentences, corpus_file)
            self.build_vocab(corpus)
            self.train(corpus)

    # ------------------------------------------------------------ corpus and vocabulary
    @staticmethod
    def _corpus(sentences, corpus_file):
        if sentences is not None and corpus_file is not None:
            raise ValueError("Word2Vec: give either sentences or corpus_file, not both")
        if corpus_file is not None:
            return LineSentence(corpus_file)
        if sentences is None:
            raise ValueError("Word2Vec: no corpus: give sentences (a re-iterable of token lists) or corpus_file")
        _check_reiterable(sentences, "Word2Vec")
        return sentences

    def build_vocab(self, sentences=None, corpus_file=None):
        """Scan the corpus once: vocabulary, counts, subsampling and noise tables, fresh tables of vectors."""
        corpus = self._corpus(sentences, corpus_file)
        words, counts, total, n_sent = build_vocab(corpus, self.min_count, self.max_vocab_size)
        if not words:
            raise ValueError(f"Word2Vec.build_vocab: the vocabulary is empty: no word occurs at least "
                             f"min_count={self.min_count} times in the {total} words of the corpus; lower min_count")
        self.word_counts, self.corpus_total_words, self.corpus_count = counts, total, n_sent
        self._make_tables()
        module = SkipGramNegativeSampling if self.sg else CBOWNegativeSampling
        kwargs = {} if self.sg else {"cbow_mean": bool(self.cbow_mean)}
        self.network = module(len(words), self.vector_size, sparse=True, **kwargs)
        self.network.reset_parameters(self.rng)
        self.network.to(self.device)
        self.wv = KeyedVectors(self.vector_size, words, self._host_vectors())
        return self

    def _make_tables(self):
        self._keep = keep_probabilities(self.word_counts, self.sample)
        self._noise = AliasSampler(self.word_counts.astype(np.float64) ** self.ns_exponent)

    def _host_vectors(self):
        """The input vectors as a host array (on 'cpu' the parameter's own array: no copy)."""
        return _B.to_device(self.network.in_embed.weight.data, "cpu")

    # ------------------------------------------------------------ batches
    def _chunks(self, corpus):
        """Yield (word ids, sentence number of each id, raw words) for ~batch_words words of text at a time.

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
                yield self._chunk_arrays(ids, lengths), raw
                ids, lengths, raw = [], [], 0
        if raw:
            yield self._chunk_arrays(ids, lengths), raw

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
        (the C tool skips those).
        """
        rng = self.rng
        keep = ids >= 0
        keep[keep] = rng.random(int(keep.sum())) < self._keep[ids[keep]]
        ids, sentence = ids[keep], sentence[keep]
        n = ids.size
        # Sentences are contiguous runs of the same number: find each word's run.
        start = np.searchsorted(sentence, sentence, side="left")
        end = np.searchsorted(sentence, sentence, side="right")
        pos, valid = context_windows(n, start, end, self.window, rng)
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
        return ex

    # ------------------------------------------------------------ training
    def train(self, sentences=None, corpus_file=None, epochs=None, total_words=None, total_examples=None):
        """Train for `epochs` (default: the constructor's) passes over the corpus; returns self.

        The learning rate falls linearly from alpha to min_alpha over the total_words * epochs
        words of this call (total_words: the corpus size, by default the one build_vocab counted).
        `total_examples` is accepted for gensim's call signature and not needed (the schedule
        counts words).
        """
        if self.network is None:
            raise RuntimeError("Word2Vec.train: no vocabulary yet; call build_vocab(sentences) first "
                               "(or pass sentences to the constructor)")
        corpus = self._corpus(sentences, corpus_file)
        epochs = self.epochs if epochs is None else _positive_int("epochs", epochs)
        net, dev, dtype = self.network, self.device, self.network.in_embed.weight.dtype
        opt = optim.SGD(net.parameters(), lr=self.alpha)
        total = max(int(total_words) if total_words is not None else self.corpus_total_words, 1) * epochs
        progress = _Progress(total, epochs, self.progress)
        done = 0  # corpus words processed so far (the clock of the learning-rate schedule)
        t0 = time.perf_counter()
        recent = [None, 0]  # (device) loss sum and pair count since the display last read it

        def recent_loss():
            value = float(recent[0].item()) / max(recent[1], 1) if recent[0] is not None else float("nan")
            recent[0], recent[1] = None, 0
            return value

        net.train()
        try:
            for epoch in range(epochs):
                epoch_loss, epoch_pairs = None, 0
                for (ids, sentence), raw in self._chunks(corpus):
                    ex = self._examples(ids, sentence)
                    n = ex["targets"].shape[0]
                    # One learning rate per chunk, from the words done before it (as word2vec.c, which
                    # updates alpha every 10,000 words, and gensim, per job of batch_words words).
                    lr = self.alpha - (self.alpha - self.min_alpha) * (done / total)
                    opt.param_groups[0]["lr"] = self.min_alpha_yet_reached = lr
                    for lo in range(0, n, self.batch_pairs):
                        hi = min(lo + self.batch_pairs, n)
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
                    progress.update(raw, epoch, recent_loss)
                self.loss_history.append(float(epoch_loss.item()) / epoch_pairs if epoch_pairs else float("nan"))
        finally:
            progress.close()
            opt.zero_grad()
            self.train_seconds = time.perf_counter() - t0
            self.train_words_per_second = done / max(self.train_seconds, 1e-9)
            self.wv._set_vectors(self._host_vectors())
        return self

    # ------------------------------------------------------------ persistence
    _HYPER = ("vector_size", "window", "min_count", "max_vocab_size", "negative", "sample", "alpha", "min_alpha", "sg",
              "epochs", "batch_words", "seed", "batch_pairs", "cbow_mean", "ns_exponent")

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
        model = cls(device=device, progress=False, **ckpt["hyper"])
        model.word_counts = np.asarray(ckpt["counts"], dtype=np.int64)
        model.corpus_total_words, model.corpus_count = ckpt["corpus_total_words"], ckpt["corpus_count"]
        model.loss_history = list(ckpt["loss_history"])
        model._make_tables()
        words = ckpt["words"]
        module = SkipGramNegativeSampling if model.sg else CBOWNegativeSampling
        kwargs = {} if model.sg else {"cbow_mean": bool(model.cbow_mean)}
        model.network = module(len(words), model.vector_size, sparse=True, **kwargs).to(model.device)
        model.network.load_state_dict(ckpt["state"])
        model.wv = KeyedVectors(model.vector_size, words, model._host_vectors())
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
