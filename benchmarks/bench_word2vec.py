"""Word2vec: minigrad's skip-gram (models/word2vec.py) against gensim, speed and quality, same run.

Speed: words per second of one training epoch (vocabulary built beforehand, not timed)
on the same corpus with the same parameters (sg=1, negative=5, window=5,
vector_size=100, sample=1e-3, min_count=5, alpha 0.025 -> 1e-4): the Python
documentation topics (`pydoc_data.topics`, ~63k words) repeated to --tokens words
(default 5M). gensim runs with 1 and with 2 worker threads. words/s = corpus words /
training seconds (out-of-vocabulary and subsampled words included, for both).
BLAS is limited to one thread (set before NumPy loads) so "minigrad" is one core,
like gensim's single worker. Where SciPy is installed (`pip install minigrad[fast]`),
minigrad sums embedding-gradient rows with SciPy's compiled sparse product; one more row
times the same training with that switched off (NumPy only).

Quality: precision@5 on the synthetic class task (`synthetic_class_corpus`: 20 classes
of 10 interchangeable words in 60 templates, 4000 sentences, ~22k words): the mean over
class words of the fraction of their 5 nearest neighbours in their own class (chance ~0.04),
averaged over --seeds corpora/seeds. Two training budgets: 20 epochs (both converge) and
10 epochs (under-trained: there the starting scale of the vectors matters, and gensim >= 4
draws them from U(-1/D, 1/D), twice word2vec.c's U(-0.5/D, 0.5/D) which we follow; so
gensim is also run with its vectors halved after build_vocab (= word2vec.c's start), and
we with ours doubled (= gensim's start)). Our rows use batch_pairs=1024 (the default)
unless they say otherwise; the 256 and 8192 rows show the effect of the step size.

    python benchmarks/bench_word2vec.py                      # ~10 minutes on 2 busy cores
    python benchmarks/bench_word2vec.py --tokens 500000 --seeds 2  # quick look
    python benchmarks/bench_word2vec.py --skip-quality / --skip-speed
    python benchmarks/bench_word2vec.py --skip-quality --device cuda   # + minigrad on a GPU

gensim is optional (`pip install gensim`); without it only our numbers are printed.
Other processes on the machine make absolute numbers noisy; the ratios come from
runs made back to back in this process.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core for us, as for gensim's single worker

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import minigrad as mg  # noqa: E402
from models.word2vec import Word2Vec, neighbour_precision, synthetic_class_corpus  # noqa: E402

try:
    import gensim
    from gensim.models import Word2Vec as GensimWord2Vec
except ImportError:  # optional: the project does not depend on it
    gensim = GensimWord2Vec = None

PARAMS = dict(vector_size=100, window=5, min_count=5, negative=5, sample=1e-3, sg=1, alpha=0.025, min_alpha=1e-4)
CLASS_TASK = dict(n_sentences=4000, n_classes=20, words_per_class=10, n_templates=60, n_function_words=40)
SPEED_TARGET = 0.5  # ours / gensim single worker (from the issue)
QUALITY_TOLERANCE = 0.02  # ours >= gensim - 0.02


def pydoc_sentences():
    """The pydoc topics as lower-case word lists, one per sentence (as examples/word2vec.py)."""
    from pydoc_data.topics import topics

    out = []
    for key in sorted(topics):
        for chunk in re.split(r"(?<=[.!?:])\s+|\n\s*\n", topics[key].lower()):
            words = re.findall(r"[a-z][a-z0-9_]*", chunk)
            if len(words) >= 2:
                out.append(words)
    return out


def repeated(sentences, tokens):
    """The sentence list repeated until it holds at least `tokens` words (a list of the same list objects)."""
    n = sum(len(s) for s in sentences)
    return sentences * max(1, -(-tokens // n))


# ---------------------------------------------------------------- speed
def time_ours(corpus, epochs, batch_pairs, use_scipy=True, device="cpu"):
    saved, mg.backend.use_scipy = mg.backend.use_scipy, use_scipy
    try:
        model = Word2Vec(epochs=epochs, progress=False, batch_pairs=batch_pairs, device=device, **PARAMS)
        model.build_vocab(corpus)
        model.train(corpus)
    finally:
        mg.backend.use_scipy = saved
    return model.train_seconds, len(model.wv)


def scipy_version():
    try:
        import scipy
    except ImportError:
        return None
    return scipy.__version__


def time_gensim(corpus, epochs, workers):
    model = GensimWord2Vec(epochs=epochs, workers=workers, seed=0, **PARAMS)
    model.build_vocab(corpus)
    t0 = time.perf_counter()
    model.train(corpus, total_examples=len(corpus), epochs=epochs)
    return time.perf_counter() - t0, len(model.wv)


def speed(args, out):
    corpus = repeated(pydoc_sentences(), args.tokens)
    words = sum(len(s) for s in corpus) * args.epochs
    print(f"\n== speed: {words:,} words ({sum(len(s) for s in corpus):,} per epoch x {args.epochs}), "
          f"{', '.join(f'{k}={v}' for k, v in PARAMS.items())}")
    rows = {}
    if gensim is not None:
        for workers in (1, 2):
            sec, vocab = time_gensim(corpus, args.epochs, workers)
            rows[f"gensim {workers} worker{'s' if workers > 1 else ''}"] = (sec, vocab)
    for bp in args.batch_pairs:
        sec, vocab = time_ours(corpus, args.epochs, bp)
        rows[f"minigrad batch_pairs={bp}"] = (sec, vocab)
    if args.device != "cpu":  # minigrad on the GPU (CuPy), against the same CPU gensim rows
        for bp in args.batch_pairs:
            sec, vocab = time_ours(corpus, args.epochs, bp, device=args.device)
            rows[f"minigrad {args.device} batch_pairs={bp}"] = (sec, vocab)
    if scipy_version() is not None and not args.skip_numpy_only:
        # The same training with SciPy's sparse product switched off (minigrad's NumPy-only route).
        sec, vocab = time_ours(corpus, args.epochs, args.batch_pairs[0], use_scipy=False)
        rows[f"minigrad batch_pairs={args.batch_pairs[0]}, NumPy only"] = (sec, vocab)
    base = rows.get("gensim 1 worker", (None,))[0]
    print(f"{'':40s} {'seconds':>9s} {'words/s':>11s} {'vs gensim 1 worker':>19s}")
    for name, (sec, vocab) in rows.items():
        ratio = f"{base / sec:.3f}x" if base else "-"
        print(f"{name:40s} {sec:9.2f} {words / sec:11,.0f} {ratio:>19s}")
        out["speed"][name] = {"seconds": round(sec, 3), "words_per_second": round(words / sec), "vocabulary": vocab}
    if base:
        ours = max(v["words_per_second"] for k, v in out["speed"].items()
                   if k.startswith("minigrad batch_pairs") and not k.endswith("NumPy only"))
        ratio = ours / (words / base)
        out["speed_ratio_vs_gensim_1_worker"] = round(ratio, 3)
        print(f"best minigrad (default install route) / gensim (1 worker) = {ratio:.3f} (target >= {SPEED_TARGET}: "
              f"{'met' if ratio >= SPEED_TARGET else 'NOT met'})")


# ---------------------------------------------------------------- quality
def ours_precision(sentences, word_class, seed, epochs, init_scale=1.0, batch_pairs=1024):
    model = Word2Vec(epochs=epochs, seed=seed, progress=False, batch_pairs=batch_pairs,
                     **dict(PARAMS, min_count=1))
    model.build_vocab(sentences)
    if init_scale != 1.0:
        with mg.no_grad():
            model.network.in_embed.weight.mul_(init_scale)
    model.train(sentences)
    return neighbour_precision(model.wv, word_class, k=5)


def gensim_precision(sentences, word_class, seed, epochs, init_scale=1.0):
    model = GensimWord2Vec(epochs=epochs, seed=seed, workers=1, **dict(PARAMS, min_count=1))
    model.build_vocab(sentences)
    model.wv.vectors *= init_scale
    model.train(sentences, total_examples=len(sentences), epochs=epochs)
    return neighbour_precision(model.wv, word_class, k=5)


def quality(args, out):
    print(f"\n== quality: precision@5 on the synthetic class task {CLASS_TASK}, mean of {args.seeds} seeds")
    runs = {"minigrad (word2vec.c init)": lambda s, w, seed, ep: ours_precision(s, w, seed, ep),
            "minigrad batch_pairs=256": lambda s, w, seed, ep: ours_precision(s, w, seed, ep, batch_pairs=256),
            "minigrad batch_pairs=8192": lambda s, w, seed, ep: ours_precision(s, w, seed, ep, batch_pairs=8192),
            "minigrad (gensim init: x2)": lambda s, w, seed, ep: ours_precision(s, w, seed, ep, init_scale=2.0)}
    if gensim is not None:
        runs["gensim (its init)"] = lambda s, w, seed, ep: gensim_precision(s, w, seed, ep)
        runs["gensim (word2vec.c init: x0.5)"] = lambda s, w, seed, ep: gensim_precision(s, w, seed, ep, 0.5)
    chance = None
    for epochs in args.quality_epochs:
        res = {name: [] for name in runs}
        for seed in range(args.seeds):
            sentences, word_class = synthetic_class_corpus(seed=seed, **CLASS_TASK)
            for name, fn in runs.items():
                p, chance = fn(sentences, word_class, seed, epochs)
                res[name].append(p)
        print(f"-- {epochs} epochs (chance {chance:.3f})")
        for name, vals in res.items():
            print(f"   {name:34s} {np.mean(vals):.3f}   ({', '.join(f'{v:.3f}' for v in vals)})")
        out["quality"][f"{epochs}_epochs"] = {name: round(float(np.mean(v)), 4) for name, v in res.items()}
        if gensim is not None:
            q = out["quality"][f"{epochs}_epochs"]
            for ours, theirs in (("minigrad (word2vec.c init)", "gensim (word2vec.c init: x0.5)"),
                                 ("minigrad (word2vec.c init)", "gensim (its init)"),
                                 ("minigrad (gensim init: x2)", "gensim (its init)")):
                d = q[ours] - q[theirs]
                print(f"   {ours} - {theirs} = {d:+.3f} ({'within' if d >= -QUALITY_TOLERANCE else 'OUTSIDE'} "
                      f"the -{QUALITY_TOLERANCE} tolerance)")
    out["quality"]["chance"] = round(chance, 4)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", type=int, default=5_000_000, help="corpus words per epoch for the speed test")
    p.add_argument("--epochs", type=int, default=1, help="epochs for the speed test")
    p.add_argument("--batch-pairs", type=lambda s: [int(x) for x in s.split(",")], default=[1024],
                   help="comma-separated batch_pairs values to time")
    p.add_argument("--seeds", type=int, default=5, help="corpora/seeds for the quality test")
    p.add_argument("--quality-epochs", type=lambda s: [int(x) for x in s.split(",")], default=[20, 10])
    p.add_argument("--skip-numpy-only", action="store_true", help="don't time the NumPy-only route (no SciPy)")
    p.add_argument("--device", default="cpu", help="also time minigrad on this device (e.g. cuda), CuPy needed")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--skip-quality", action="store_true")
    p.add_argument("--json", action="store_true", help="also print all results as one JSON line")
    args = p.parse_args(argv)
    if args.device != "cpu":
        try:
            mg.backend.parse_device(args.device)
        except (RuntimeError, ValueError) as e:
            p.error(f"--device {args.device}: {e}")

    out = {"date": datetime.date.today().isoformat(), "python": platform.python_version(),
           "numpy": np.__version__, "scipy": scipy_version(), "minigrad": mg.__version__,
           "gensim": getattr(gensim, "__version__", None),
           "cpus": os.cpu_count(), "machine": platform.processor() or platform.machine(), "speed": {},
           "quality": {}}
    print(f"word2vec benchmark {out['date']}: Python {out['python']}, NumPy {out['numpy']}, "
          f"SciPy {out['scipy'] or 'not installed (minigrad uses NumPy only)'}, minigrad "
          f"{out['minigrad']}, gensim {out['gensim'] or 'not installed (pip install gensim to compare)'}, "
          f"{out['cpus']} CPUs")
    if not args.skip_speed:
        speed(args, out)
    if not args.skip_quality:
        quality(args, out)
    if args.json:
        print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
