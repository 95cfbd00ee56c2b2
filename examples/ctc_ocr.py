"""Unsegmented sequence labelling with CTC: read digit strings from "images", one pixel column per frame.

    python examples/ctc_ocr.py                  # ~99.8% of held-out strings exactly right, ~15 s on a CPU
    python examples/ctc_ocr.py --verbose        # ... and watch the alignment form during training
    python examples/ctc_ocr.py --smoke          # a seconds-long run that checks everything works

The task. A string of 2-6 digits is drawn as a 7-pixel-high image: each digit is a small
hand-drawn glyph (3-5 columns wide), its columns randomly stretched, the digits separated
by random gaps (sometimes none), ink of uneven strength and noise everywhere. Here is
"4177" without the noise, and where each digit was drawn:

    .......#....##.####.####..
    .....###...###....#....#..      one frame = one column = 7 numbers,
    ....#..#....##...#....#...      read left to right
    ...#...#....##..#....#....
    ...######...##..#....#....
    .......#....##..#....#....
    .......#...####.#....#....
       444444  11117777 7777        <- the model is never told this row

The model reads the image column by column and must output the string. What it is NOT
told is which columns belong to which digit: the training labels are only the strings
("4177"), not one label per frame. Speech recognition (audio frames -> words) and
handwriting / OCR (pixel columns -> characters) have exactly this shape: the output is
shorter than the input, and nobody marks where each symbol starts and ends.

Why plain cross-entropy does not work here. Cross-entropy needs a target for every frame,
i.e. a segmentation: "columns 0-4 are a 4, 5-6 are gap, 7-9 are a 1, ...". We could
make one for generated data, but for real speech or handwriting nobody has it.

What CTC does (connectionist temporal classification, Graves et al. 2006). The network
emits, at every frame, a distribution over 11 classes: the 10 digits and a special
*blank* ("no new symbol here"). A per-frame choice of classes -- an *alignment* -- is read
as a string by collapsing it: merge repeated classes, then drop the blanks,

    frames:  -  4  4  4  -  -  1  1  7  -  -  7  -        ("-" = blank)
    merge:   -  4           -     1  7  -     7  -
    drop:       4                 1  7        7         -> "4177"

Many alignments collapse to the same string ("-44-17-7", "4--1-7-7-", ...). CTC's loss is
-log of the SUM of the probabilities of all of them, so the model is rewarded for any
timing that yields the right string, and the data never has to say which. There are
exponentially many alignments, but a dynamic programme (the alpha / beta, i.e. forward /
backward, recursions over the label sequence with blanks interleaved) sums them in
O(frames x labels); read minigrad/ops/ctc.py for the recursions and the gradient.

What the blank is for. (1) Frames that show no digit -- gaps, margins, the rest of a
wide glyph the model has already announced -- need an output that means "nothing new";
every frame must emit some class, so the blank is the only way to say nothing.
(2) Repeated digits: "77" must come out of an alignment like "7-7"; without a blank
between them, "77" would collapse to "7" (so "4177" needs at least 5 frames, not 4).
A trained CTC model is typically *peaky*: it emits each digit as a spike on one or two
frames and blank everywhere else, as the alignment printed at the end shows. CTC fixes
only the ORDER of the spikes, not where inside its glyph each one sits: a bidirectional
model is free to fire at a glyph's left or right edge, and does.

What training looks like (`--verbose` prints an alignment at every check). First the
model learns that most frames are blank and says blank everywhere (the loss drops fast to
~2.5 per label, and decodes every image as ""); after a plateau of a hundred or so steps
the first spikes appear, and then the error rate falls quickly.

Decoding. At test time we take the most likely class at each frame and collapse
(`greedy_decode`: argmax per frame, merge repeats, drop blanks). This "best path"
decoding finds the most likely *alignment*, not strictly the most likely *string* (that
sums over alignments and needs a beam search), but for a peaky, confident model the two
almost always agree, and greedy decoding is what most systems use first.

The model: a bidirectional LSTM over the columns (each frame's output sees the whole
image, left and right of it), a Linear layer to 11 scores per frame, log_softmax, and
`F.ctc_loss`. The images have different widths, so the batch is padded and handed to the
LSTM as a `PackedSequence` (`pack_padded_sequence`), exactly as in torch; the padding
frames never reach the loss (`input_lengths`). Metrics, on held-out strings that never
occur in training: exact-string accuracy and the character error rate (edit distance /
number of true characters).
"""
from __future__ import annotations

import os
import time
from typing import NamedTuple

import _common  # noqa: F401  (first: repository root on sys.path, single-threaded BLAS)
from _common import Progress, Reporter, make_parser, parse_args_with_smoke, save_plot, set_seed

import numpy as np  # noqa: E402
import minigrad as mg  # noqa: E402
from minigrad import functional as F  # noqa: E402
from minigrad import nn  # noqa: E402
from minigrad.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

# ================================================================ 1. the data: digit strings drawn as images
# Hand-drawn 7-row glyphs, 3-5 columns wide ("#" = ink). Some share columns with others
# (the left edge of 0, 6 and 8 ...), so a digit is only recognisable from several columns.
GLYPHS_TEXT = {
    "0": [".##.", "#..#", "#..#", "#..#", "#..#", "#..#", ".##."],
    "1": [".#.", "##.", ".#.", ".#.", ".#.", ".#.", "###"],
    "2": [".##.", "#..#", "...#", "..#.", ".#..", "#...", "####"],
    "3": ["###.", "...#", "...#", ".##.", "...#", "...#", "###."],
    "4": ["...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."],
    "5": ["####", "#...", "###.", "...#", "...#", "#..#", ".##."],
    "6": [".##.", "#...", "#...", "###.", "#..#", "#..#", ".##."],
    "7": ["####", "...#", "..#.", ".#..", ".#..", ".#..", ".#.."],
    "8": [".##.", "#..#", "#..#", ".##.", "#..#", "#..#", ".##."],
    "9": [".##.", "#..#", "#..#", ".###", "...#", "...#", ".##."],
}
GLYPHS = {d: np.array([[c == "#" for c in row] for row in rows], dtype=np.float32) for d, rows in GLYPHS_TEXT.items()}
HEIGHT = 7
BLANK = 0                    # class 0 is the blank (F.ctc_loss's default), digit d is class d + 1
NUM_CLASSES = 11
CLASS_CHARS = "-0123456789"  # how a class is printed: "-" for the blank


def render(text: str, rng: np.random.Generator, stretch: float = 0.35, min_gap: int = 0, max_gap: int = 2,
           noise: float = 0.15):
    """Draw `text` as a (HEIGHT, width) float32 image, ink ~1, paper ~0.

    Each glyph column is drawn once, or twice with probability `stretch` (so the same digit
    is 3 to 10 columns wide); digits are separated by min_gap..max_gap blank columns (0: they
    touch); 1-3 blank margin columns on each side; ink strength varies per pixel and Gaussian
    noise is added.

    Returns:
        (image, spans): spans[i] = (first, last + 1) columns of the i-th digit. The spans are
        only used to print the ground truth next to what the model learnt; training never sees them.
    """
    cols, spans = [np.zeros((HEIGHT, int(rng.integers(1, 4))), dtype=np.float32)], []
    x = cols[0].shape[1]
    for i, ch in enumerate(text):
        if i > 0:
            gap = int(rng.integers(min_gap, max_gap + 1))
            cols.append(np.zeros((HEIGHT, gap), dtype=np.float32))
            x += gap
        g = GLYPHS[ch]
        reps = 1 + (rng.random(g.shape[1]) < stretch)    # each column once or twice
        drawn = np.repeat(g, reps, axis=1)
        cols.append(drawn)
        spans.append((x, x + drawn.shape[1]))
        x += drawn.shape[1]
    cols.append(np.zeros((HEIGHT, int(rng.integers(1, 4))), dtype=np.float32))
    img = np.concatenate(cols, axis=1)
    img = img * rng.uniform(0.6, 1.0, img.shape) + rng.normal(0.0, noise, img.shape)
    return img.astype(np.float32), spans


def random_string(rng: np.random.Generator, min_len: int = 2, max_len: int = 6) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, int(rng.integers(min_len, max_len + 1))))


def held_out_strings(n: int, rng: np.random.Generator, exclude=frozenset()) -> list:
    """n distinct random strings, none of them in `exclude`."""
    out, seen = [], set(exclude)
    while len(out) < n:
        s = random_string(rng)
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def make_batch(texts, rng, device="cpu", **render_kw):
    """Render `texts` into one padded batch.

    Returns:
        x (B, T, HEIGHT) float32 (frame t = column t; zeros after each image's width),
        widths (list of B ints: the input lengths), targets (B, S) int64 class ids padded with
        blanks (only the first target_lengths[b] entries are read), target_lengths (list of B ints),
        and the images and digit spans (for printing).
    """
    images, spans = zip(*(render(t, rng, **render_kw) for t in texts))
    widths = [im.shape[1] for im in images]
    x = np.zeros((len(texts), max(widths), HEIGHT), dtype=np.float32)
    for b, im in enumerate(images):
        # Columns become frames, centred: ink ~ +1, paper ~ -1. With paper at 0 the LSTM's input
        # weights get no signal from most pixels, and the all-blank plateau (below) lasts far longer.
        x[b, :widths[b]] = 2.0 * im.T - 1.0
    S = max(len(t) for t in texts)
    targets = np.full((len(texts), S), BLANK, dtype=np.int64)
    for b, t in enumerate(texts):
        targets[b, :len(t)] = [int(c) + 1 for c in t]
    return (mg.tensor(x, device=device), widths, mg.tensor(targets, device=device), [len(t) for t in texts],
            images, spans)


class Stream:
    """Training batches drawn fresh at every step (new strings, new stretching, new noise),
    never a string of the held-out sets."""

    def __init__(self, seed: int, held_out: set, batch: int, device: str):
        self.rng, self.held_out, self.batch, self.device = np.random.default_rng(seed), held_out, batch, device

    def next(self):
        texts = []
        while len(texts) < self.batch:
            s = random_string(self.rng)
            if s not in self.held_out:
                texts.append(s)
        return texts, make_batch(texts, self.rng, self.device)


# ================================================================ 2. the model
class ColumnReader(nn.Module):
    """Bidirectional LSTM over the image columns -> Linear -> log-probabilities of 11 classes per frame."""

    def __init__(self, hidden: int = 64, layers: int = 1):
        super().__init__()
        self.rnn = nn.LSTM(HEIGHT, hidden, num_layers=layers, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, NUM_CLASSES)

    def forward(self, x, widths):
        """x (B, T, HEIGHT), widths (B,) -> log_probs (T, B, 11), time-major as ctc_loss wants."""
        # Pack: the LSTM runs each image only over its own width (the reverse direction starts at
        # the image's true right edge, not in the padding). `self.rnn(x, lengths=widths)` is the
        # same computation without the packing round trip.
        packed = pack_padded_sequence(x, widths, batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])  # (B, T, 2H)
        return self.head(out).log_softmax(dim=-1).transpose(0, 1)


# ================================================================ 3. decoding and metrics
def greedy_decode(frame_classes, width: int) -> str:
    """Best-path CTC decoding of one sequence: the argmax class at each of its `width` frames,
    then merge runs of the same class, then drop the blanks.

        frames "--44-1-77-" -> merge "-4-1-7-" -> drop "417"

    (Merging comes first: "7-7" keeps both 7s, "77" is one 7.)
    """
    out, prev = [], BLANK
    for c in frame_classes[:width]:
        c = int(c)
        if c != prev and c != BLANK:
            out.append(CLASS_CHARS[c])
        prev = c
    return "".join(out)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions turning a into b."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev_diag, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev_diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev_diag + (ca != cb))
    return row[-1]


class Example(NamedTuple):
    """One evaluated image, kept for printing: the truth, the decoding and what led to it."""
    truth: str
    guess: str
    image: np.ndarray      # (HEIGHT, width)
    spans: list            # where each digit was drawn (for printing only)
    best: np.ndarray       # (width,) the argmax class per frame
    probs: np.ndarray      # (width, 11) the per-frame class probabilities


@mg.no_grad()
def evaluate(model, texts, seed, device, batch=250) -> dict:
    """Exact-string accuracy, character error rate and the blank share of frames on `texts`
    (rendered with their own fixed random generator, so every call sees the same images)."""
    model.eval()
    rng = np.random.default_rng(seed)
    right = errors = chars = blank_frames = frames = 0
    examples = []
    for i in range(0, len(texts), batch):
        chunk = texts[i:i + batch]
        x, widths, _, _, images, spans = make_batch(chunk, rng, device)
        log_probs = model(x, widths)                        # (T, B, 11)
        best = log_probs.argmax(dim=-1).numpy().T           # (B, T): the most likely class per frame
        for b, truth in enumerate(chunk):
            guess = greedy_decode(best[b], widths[b])
            right += guess == truth
            errors += edit_distance(guess, truth)
            chars += len(truth)
            blank_frames += int((best[b, :widths[b]] == BLANK).sum())
            frames += widths[b]
            if len(examples) < 8:
                probs = log_probs[:widths[b], b].exp().numpy()
                examples.append(Example(truth, guess, images[b], spans[b], best[b, :widths[b]], probs))
    model.train()
    return {"exact": right / len(texts), "cer": errors / chars, "blank_frac": blank_frames / frames,
            "examples": examples}


def print_image(image, spans, truth, say) -> None:
    """The image as text (darker = more ink), and under it where each digit of `truth` was drawn."""
    shades = " .:#"
    for r in range(HEIGHT):
        say("    " + "".join(shades[int(np.clip(v, 0.0, 0.999) * len(shades))] for v in image[r]))
    truth_row = [" "] * image.shape[1]
    for ch, (a, b) in zip(truth, spans):
        truth_row[a:b] = ch * (b - a)
    say("    " + "".join(truth_row) + "   <- where each digit was drawn (never shown to the model)")


def show_alignment(example: Example, say) -> None:
    """Print the image as text with the per-frame argmax class under it, and the collapse steps."""
    truth, guess, image, spans, best, _ = example
    say(f"\n  alignment of {truth!r} (read {guess!r}): the image, one column per frame, and the most "
        "likely class at each frame ('-' = blank)")
    print_image(image, spans, truth, say)
    path = "".join(CLASS_CHARS[int(c)] for c in best)
    say("    " + path + "   <- argmax per frame")
    merged = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
    say(f"    merge repeats: {''.join(merged)}   drop blanks: {''.join(c for c in merged if c != '-')}")
    if guess == truth and any(a == b for a, b in zip(truth, truth[1:])):
        say("    (a doubled digit is read as two spikes with a blank between them: without the blank they would merge)")


def draw_loss(plt, losses, history) -> None:
    """The training loss per step (log scale) and the validation exact accuracy at each check."""
    plt.plot(np.arange(1, len(losses) + 1), losses, lw=0.8, label="training CTC loss (per label)")
    plt.yscale("log")
    plt.xlabel("step")
    plt.legend(loc="upper right")
    ax2 = plt.gca().twinx()
    ax2.plot([h[0] for h in history], [h[1] for h in history], "o-", c="C1", label="validation exact")
    ax2.set_ylim(0, 1.02)
    ax2.legend(loc="center right")


def draw_alignment(plt, example: Example) -> None:
    """The image over the per-frame class probabilities: CTC's spikes, one per digit, blank between."""
    ax = plt.subplot(2, 1, 1)
    ax.imshow(example.image, cmap="gray_r", aspect="auto", interpolation="nearest")
    ax.set_title(f"image of {example.truth!r}, read as {example.guess!r}")
    ax.set_yticks([])
    ax = plt.subplot(2, 1, 2, sharex=ax)
    ax.imshow(example.probs.T, cmap="viridis", aspect="auto", interpolation="nearest", vmin=0.0, vmax=1.0)
    ax.set_yticks(range(NUM_CLASSES), ["blank"] + list(CLASS_CHARS[1:]))
    ax.set_xlabel("frame (image column)")
    ax.set_ylabel("p(class | frame)")


# ================================================================ 4. training
def build_parser():
    p = make_parser(__doc__.split("\n\n")[0], default_outdir=os.path.join("runs", "ctc_ocr"))
    p.add_argument("--hidden", type=int, default=64, help="LSTM hidden size per direction")
    p.add_argument("--layers", type=int, default=1, help="stacked bidirectional LSTM layers")
    p.add_argument("--steps", type=int, default=800, help="training steps (a fresh batch each)")
    p.add_argument("--batch", type=int, default=32, help="images per training step")
    p.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate (decayed to 1/10 by the end)")
    p.add_argument("--valid-size", type=int, default=300, help="held-out strings checked during training")
    p.add_argument("--test-size", type=int, default=1000, help="held-out strings for the final metrics")
    p.add_argument("--eval-every", type=int, default=150, help="steps between validation checks")
    p.add_argument("--stop-at", type=float, default=None,
                   help="stop early once the validation exact accuracy reaches this (None: run all --steps)")
    p.add_argument("--verbose", action="store_true", help="print a validation alignment at every check")
    return p


SMOKE = dict(steps=150, hidden=32, batch=16, lr=2e-2, valid_size=60, test_size=100, eval_every=50)


def main(argv=None) -> dict:
    args = parse_args_with_smoke(build_parser(), argv, SMOKE)
    report = Reporter(args)
    set_seed(args.seed)
    t_start, cpu_start = time.perf_counter(), time.process_time()

    # Held-out strings first; training draws skip them, so no test string is ever trained on.
    split_rng = np.random.default_rng(args.seed + 1000)
    test_texts = held_out_strings(args.test_size, split_rng)
    valid_texts = held_out_strings(args.valid_size, split_rng, exclude=test_texts)
    stream = Stream(args.seed, set(test_texts) | set(valid_texts), args.batch, args.device)
    report.say(f"digit strings of 2-6 digits drawn as {HEIGHT}-pixel-high images; {len(test_texts)} test and "
               f"{len(valid_texts)} validation strings held out; training batches of {args.batch} drawn fresh.")
    image, spans = render("4170", np.random.default_rng(args.seed))
    report.say("the image of '4170' the model reads, column by column (one text row per pixel row):")
    print_image(image, spans, "4170", report.say)

    model = ColumnReader(args.hidden, args.layers).to(args.device)
    opt = mg.optim.Adam(model.parameters(), lr=args.lr)
    sched = mg.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.1 ** (s / max(args.steps, 1)))  # exponential decay
    report.say(f"model: bidirectional LSTM ({args.layers} layer(s), {args.hidden} per direction) -> Linear -> "
               f"{NUM_CLASSES} classes (blank + 10 digits), {model.num_parameters():,} parameters")

    losses, history = [], []
    bar = Progress(total=args.steps, desc="ctc", unit="frames", quiet=args.quiet)
    step = 0
    for step in range(1, args.steps + 1):
        _, (x, widths, targets, target_lengths, _, _) = stream.next()
        log_probs = model(x, widths)
        # -log p(string | image), summed over every alignment; 'mean' divides each by its length
        loss = F.ctc_loss(log_probs, targets, widths, target_lengths, blank=BLANK)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        shown_metrics = {"loss": losses[-1]}
        if step % args.eval_every == 0 or step == args.steps:
            val = evaluate(model, valid_texts, args.seed + 2000, args.device)
            history.append((step, val["exact"], val["cer"]))
            if args.verbose:
                report.say(f"\nstep {step}: loss {np.mean(losses[-args.eval_every:]):.3f}, validation exact "
                           f"{val['exact']:.3f}, CER {val['cer']:.3f}, blank frames {val['blank_frac']:.2f}")
                show_alignment(val["examples"][0], report.say)
            shown_metrics["val_exact"] = val["exact"]
        bar.update(items=sum(widths), **shown_metrics)
        if args.stop_at is not None and history and history[-1][0] == step and history[-1][1] >= args.stop_at:
            break
    bar.close()
    train_seconds = time.perf_counter() - t_start

    test = evaluate(model, test_texts, args.seed + 3000, args.device)
    report.say(f"\nheld-out test strings: exact {test['exact']:.3f}, character error rate {test['cer']:.4f}, "
               f"{test['blank_frac']:.0%} of frames read as blank")
    report.say("a few test strings (truth -> greedy decoding):")
    for e in test["examples"]:
        report.say(f"  {e.truth:>6} -> {e.guess:<6} {'ok' if e.guess == e.truth else 'WRONG'}")
    # the alignment of a string with a doubled digit, if there is one among the examples
    shown = next((e for e in test["examples"] if any(a == b for a, b in zip(e.truth, e.truth[1:]))),
                 test["examples"][0])
    show_alignment(shown, report.say)

    plot = save_plot(os.path.join(args.outdir, "loss.png"), lambda plt: draw_loss(plt, losses, history), report)
    save_plot(os.path.join(args.outdir, "alignment.png"), lambda plt: draw_alignment(plt, shown), report)

    k = min(10, len(losses))
    metrics = {"test_exact": test["exact"], "test_cer": test["cer"], "test_blank_frac": test["blank_frac"],
               "valid_exact": history[-1][1] if history else None, "steps": step,
               "first_loss": float(np.mean(losses[:k])), "final_loss": float(np.mean(losses[-k:])),
               "params": model.num_parameters(), "plot": plot,
               "train_seconds": round(train_seconds, 2), "seconds": round(time.perf_counter() - t_start, 2),
               "cpu_seconds": round(time.process_time() - cpu_start, 2)}
    return report.finish(metrics)


if __name__ == "__main__":
    main()
