"""Word vectors from the Python documentation: skip-gram with negative sampling (word2vec).

Every Python install ships the text of its own help topics (`pydoc_data.topics`,
the pages `help("FOR")` shows): about 60,000 words of English about lists, loops,
exceptions and classes. Word2vec reads it as (context word, centre word) pairs and
learns a vector per word such that words used in the same contexts get similar
vectors. So, with no labels at all, "list" ends up next to "tuple", "float" next to
"complex", and the analogy int : integer = float : ? is answered "floating".

    python examples/word2vec.py                  # ~5 s with SciPy installed, ~13 s with NumPy only
    python examples/word2vec.py --corpus my.txt  # any plain-text file
    python examples/word2vec.py --sg 0           # CBOW instead of skip-gram

The model (models/word2vec.py) follows word2vec.c: frequent-word subsampling,
dynamic windows, noise words from the unigram distribution to the 0.75, linearly
decaying learning rate; steps of 1024 pairs run through minigrad's autograd with
row-sparse embedding gradients and SGD.
"""
from __future__ import annotations

import os
import re
import time

import _common  # noqa: F401  (first: repository root on sys.path, single-threaded BLAS)
from _common import Reporter, make_parser, parse_args_with_smoke, save_plot

import numpy as np  # noqa: E402
from models.word2vec import Word2Vec  # noqa: E402

PROBES = ["list", "dictionary", "exception", "loop", "string", "float", "true"]
ANALOGY = ("int", "integer", "float")  # int : integer = float : ?  (expected: "floating")
PLOT_WORDS = ["list", "tuple", "set", "dictionary", "string", "integer", "float", "complex", "class", "method",
              "function", "exception", "error", "loop", "while", "for", "break", "continue", "true", "false", "none",
              "file", "module", "import"]

_SENTENCE_END = re.compile(r"(?<=[.!?:])\s+|\n\s*\n")
_WORD = re.compile(r"[a-z][a-z0-9_]*")


def tokenize(text: str):
    """Lower-case `text`, cut it into sentences (. ! ? : or a blank line) and those into words."""
    sentences = []
    for chunk in _SENTENCE_END.split(text.lower()):
        words = _WORD.findall(chunk)
        if len(words) >= 2:
            sentences.append(words)
    return sentences


def load_corpus(path=None):
    """Sentences of the pydoc topics (default) or of a text file."""
    if path is None:
        from pydoc_data.topics import topics
        return [s for key in sorted(topics) for s in tokenize(topics[key])], "pydoc_data.topics"
    with open(path, encoding="utf-8", errors="replace") as f:
        return tokenize(f.read()), path


def pca_2d(vectors):
    """Project rows onto their first two principal components."""
    centred = vectors - vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


SMOKE = dict(epochs=3, dim=32, min_count=3)


def main(argv=None) -> dict:
    p = make_parser(__doc__.split("\n\n")[0], default_outdir="runs/word2vec")
    p.add_argument("--corpus", default=None, help="a plain-text file to train on (default: the pydoc topics)")
    p.add_argument("--epochs", type=int, default=25, help="passes over the corpus")
    p.add_argument("--dim", type=int, default=100, help="vector size")
    p.add_argument("--window", type=int, default=5, help="largest distance of a context word (dynamic window)")
    p.add_argument("--min-count", type=int, default=3, help="ignore words seen fewer times")
    p.add_argument("--negative", type=int, default=5, help="noise words per (context, centre) pair")
    p.add_argument("--sg", type=int, choices=[0, 1], default=1, help="1 skip-gram, 0 CBOW")
    args = parse_args_with_smoke(p, argv, SMOKE)
    report = Reporter(args)
    t0 = time.perf_counter()

    sentences, source = load_corpus(args.corpus)
    if args.smoke:
        sentences = sentences[: len(sentences) // 4]
    n_words = sum(len(s) for s in sentences)
    report.say(f"corpus: {source}: {len(sentences):,} sentences, {n_words:,} words")

    model = Word2Vec(sentences, vector_size=args.dim, window=args.window, min_count=args.min_count,
                     negative=args.negative, sg=args.sg, epochs=args.epochs, seed=args.seed, device=args.device,
                     progress=not args.quiet)
    wv = model.wv
    report.say(f"vocabulary: {len(wv):,} words seen at least {args.min_count} times; trained {args.epochs} epochs in "
               f"{model.train_seconds:.1f} s ({model.train_words_per_second:,.0f} words/s); "
               f"loss per pair {model.loss_history[0]:.3f} -> {model.loss_history[-1]:.3f}")

    neighbours = {}
    probes = [w for w in PROBES if w in wv]
    if len(probes) < 3:  # another corpus: probe some of its own frequent words (past the commonest few)
        frequent = [w for w in wv.index_to_key if len(w) >= 4 and w not in probes]
        probes += frequent[5:5 + 7 - len(probes)] or frequent[:7 - len(probes)]
    report.say("\nnearest neighbours (cosine):")
    for word in probes:
        near = wv.most_similar(word, topn=6)
        neighbours[word] = [w for w, _ in near]
        report.say(f"  {word:>11}: " + ", ".join(f"{w} {s:.2f}" for w, s in near))

    analogy = None
    a, b, c = ANALOGY
    if all(w in wv for w in ANALOGY):
        answer = wv.most_similar(positive=[b, c], negative=[a], topn=5)
        analogy = answer[0][0]
        report.say(f"\nanalogy {a} : {b} = {c} : ?   ->  " + ", ".join(f"{w} {s:.2f}" for w, s in answer))
    else:
        report.say(f"\n(analogy {a} : {b} = {c} : ? skipped: "
                   f"{', '.join(repr(w) for w in ANALOGY if w not in wv)} not in this corpus's vocabulary)")

    words = [w for w in PLOT_WORDS if w in wv]
    xy = pca_2d(wv[words]) if len(words) >= 3 else None

    def draw(plt):
        plt.scatter(xy[:, 0], xy[:, 1], s=12)
        for (x, y), w in zip(xy, words):
            plt.annotate(w, (x, y), fontsize=8, xytext=(3, 2), textcoords="offset points")
        plt.title(f"word2vec on {os.path.basename(source)}: 2-D PCA of selected words")

    plot = save_plot(os.path.join(args.outdir, "word2vec_pca.png"), draw, report) if xy is not None else None
    return report.finish({
        "corpus": source, "sentences": len(sentences), "words": n_words, "vocabulary": len(wv),
        "epochs": args.epochs, "dim": args.dim, "sg": args.sg,
        "train_seconds": round(model.train_seconds, 2), "words_per_second": round(model.train_words_per_second),
        "first_epoch_loss": round(model.loss_history[0], 4), "final_loss": round(model.loss_history[-1], 4),
        "neighbours": neighbours, "analogy": f"{a}:{b}={c}:{analogy}" if analogy else None,
        "plot": plot, "seconds": round(time.perf_counter() - t0, 2),
    })


if __name__ == "__main__":
    main()
