"""Translate human-written dates to ISO 8601 with an attentional encoder-decoder, and look at the attention.

    python examples/dates.py              # ~15 s on a laptop CPU; prints an attention matrix
    python examples/dates.py --json       # ... and the final metrics as one JSON line
    python examples/dates.py --smoke      # a seconds-long run that checks everything works

    "23 nov 2026"                ->  "2026-11-23"
    "Monday, November 23, 2026"  ->  "2026-11-23"
    "11/23/26"                   ->  "2026-11-23"

Dates between 1950 and 2049 are drawn at random with Python's `datetime` and written
in one of several formats (see FORMATS); two-digit years mean 1950-2049. The model
reads characters and writes characters: a bidirectional GRU encoder, and a GRU decoder
with Bahdanau's additive attention (`--attention` picks another score). No rule about
month names or year windows is given; it learns them from examples.

Attention makes the model's reasoning visible: to write the month digits of
"2026-11-23" it looks at "nov" (or "November", or the "11" before the first slash).
The script prints one example's attention matrix as text (rows: output characters,
columns: input characters) and, when matplotlib is installed, saves heatmaps of a
few examples as a PNG. Held-out dates (a fixed 10% of all days, chosen by a hash of
the date) are never used for training.
"""
from __future__ import annotations

import datetime as dt
import os
import time

import _common  # noqa: F401  (first: repository root on sys.path, single-threaded BLAS)
from _common import Progress, Reporter, make_parser, parse_args_with_smoke, save_plot

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402
from minigrad import functional as F  # noqa: E402
from minigrad.data import Vocab  # noqa: E402
from minigrad.nn.utils import clip_grad_norm_  # noqa: E402

import models  # noqa: E402

# ---------------------------------------------------------------- writing dates
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]  # English names, independent of the machine's locale
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 11 <= n % 100 <= 13 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


FORMATS = [
    lambda d: f"{d.day} {MONTHS[d.month - 1][:3].lower()} {d.year}",                       # 23 nov 2026
    lambda d: f"{DAYS[d.weekday()]}, {MONTHS[d.month - 1]} {d.day}, {d.year}",               # Monday, November 23, 2026
    lambda d: f"{d.month:02d}/{d.day:02d}/{d.year % 100:02d}",                               # 11/23/26
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",                                          # 23.11.2026
    lambda d: f"{MONTHS[d.month - 1][:3]} {d.day}, {d.year}",                                 # Nov 23, 2026
    lambda d: f"{_ordinal(d.day)} of {MONTHS[d.month - 1]} {d.year}",                         # 23rd of November 2026
    lambda d: f"{DAYS[d.weekday()][:3].upper()} {d.day} {MONTHS[d.month - 1][:3].upper()} {d.year % 100:02d}",
    lambda d: f"{d.month}/{d.day}/{d.year}",                                                  # 11/23/2026
]
FIRST, LAST = dt.date(1950, 1, 1), dt.date(2049, 12, 31)
N_DAYS = (LAST - FIRST).days + 1


def is_held_out(day_numbers):
    """A fixed 10% of all days, by a multiplicative hash of the day number (never trained on)."""
    x = (np.asarray(day_numbers, dtype=np.int64) * 2654435761) % (2 ** 32)
    return (x >> 8) % 10 == 0


def sample_dates(rng, n: int, held_out: bool):
    """n (day number, format index) pairs from the training days or the held-out days."""
    out = np.empty(0, dtype=np.int64)
    while out.size < n:
        days = rng.integers(0, N_DAYS, size=3 * n)
        out = np.concatenate([out, days[is_held_out(days) == held_out]])
    return out[:n], rng.integers(0, len(FORMATS), size=n)


def render(days, fmts):
    """(human strings, ISO strings) for day numbers and format indices."""
    dates = [FIRST + dt.timedelta(days=int(k)) for k in days]
    return [FORMATS[f](d) for d, f in zip(dates, fmts)], [d.isoformat() for d in dates]


# ---------------------------------------------------------------- vocabularies
def _all_source_chars():
    chars = set()
    for f in FORMATS:
        for d in (dt.date(2001, m, 28) for m in range(1, 13)):  # every month name, every day name
            for k in range(7):
                chars.update(f(d + dt.timedelta(days=k)))
    return sorted(chars | set("0123456789"))


SRC_VOCAB = Vocab(_all_source_chars())
TGT_VOCAB = Vocab(list("0123456789-"))
PAD, BOS, EOS = TGT_VOCAB.pad_index, TGT_VOCAB.bos_index, TGT_VOCAB.eos_index
assert SRC_VOCAB.pad_index == PAD


def encode(strings, vocab, add_eos):
    lengths = np.array([len(s) + add_eos for s in strings], dtype=np.int64)
    out = np.full((len(strings), int(lengths.max())), PAD, dtype=np.int64)
    for i, s in enumerate(strings):
        out[i, :len(s)] = [vocab.stoi[c] for c in s]
        if add_eos:
            out[i, len(s)] = EOS
    return out, lengths


def make_batch(days, fmts, device):
    human, iso = render(days, fmts)
    src, src_len = encode(human, SRC_VOCAB, add_eos=False)
    tgt, _ = encode(iso, TGT_VOCAB, add_eos=True)
    return mg.tensor(src, device=device), src_len, mg.tensor(tgt, device=device), human, iso


def to_text(out: models.DecodeOutput):
    itos = TGT_VOCAB.itos
    return ["".join(itos[t] if len(itos[t]) == 1 else "?" for t in row[:n])
            for row, n in zip(out.tokens.numpy(), out.lengths)]


@mg.no_grad()
def evaluate(model, days, fmts, device, batch_size=1000):
    model.eval()
    preds, humans, isos, outs = [], [], [], []
    for i in range(0, len(days), batch_size):
        src, src_len, _, human, iso = make_batch(days[i:i + batch_size], fmts[i:i + batch_size], device)
        out = model.greedy_decode(src, src_len, max_len=11)
        preds += to_text(out)
        humans += human
        isos += iso
        outs.append((out, src_len))
    model.train()
    return float(np.mean([p == t for p, t in zip(preds, isos)])), preds, humans, isos, outs


# ---------------------------------------------------------------- showing attention
SHADES = " .:-=+*#%@"  # weight 0 -> ' ', weight 1 -> '@'


def attention_text(weights, source: str, output: str) -> str:
    """One example's attention matrix as text: a row per output character, a column per input character."""
    lines = ["      " + " ".join(source), "      " + " ".join("-" * len(source))]
    for r, ch in enumerate(output):
        row = weights[r, :len(source)]
        cells = " ".join(SHADES[min(int(w * len(SHADES)), len(SHADES) - 1)] for w in row)
        lines.append(f"  {ch!s:>2}  {cells}   <- looks most at {source[int(row.argmax())]!r} ({row.max():.2f})")
    lines.append(f"  (shades {SHADES!r} from weight 0 to 1; each row sums to 1)")
    return "\n".join(lines)


def draw_heatmaps(plt, examples):
    """examples: (source, output, weights) triples -> one heatmap each."""
    fig = plt.gcf()
    fig.set_size_inches(4.5 * len(examples), 4.0)
    for i, (source, output, w) in enumerate(examples):
        ax = fig.add_subplot(1, len(examples), i + 1)
        ax.imshow(w[:len(output), :len(source)], cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(source)))
        ax.set_xticklabels(list(source), fontsize=8)
        ax.set_yticks(range(len(output)))
        ax.set_yticklabels(list(output), fontsize=8)
        ax.set_title(f"{source!r} -> {output}", fontsize=9)
        ax.set_xlabel("input characters")
    fig.axes[0].set_ylabel("output characters")


# ---------------------------------------------------------------- main
def parse_args(argv=None):
    p = make_parser(__doc__.split("\n\n")[0], default_outdir=os.path.join("runs", "dates"))
    p.add_argument("--attention", default="additive", choices=["dot", "general", "additive"])
    p.add_argument("--cell", default="gru", choices=["gru", "lstm", "rnn"])
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--embed", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-2, help="Adam's initial learning rate (halved every 500 steps)")
    p.add_argument("--max-steps", type=int, default=1500)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--stop-at", type=float, default=0.995, help="stop when validation exact match reaches this")
    p.add_argument("--min-steps", type=int, default=300,
                   help="train at least this long (the attention keeps sharpening after the answers are right)")
    p.add_argument("--test-size", type=int, default=2000)
    p.add_argument("--show", type=int, default=8, help="held-out translations to print")
    smoke = dict(hidden=16, embed=8, batch_size=32, max_steps=20, min_steps=0, eval_every=10, test_size=100, show=3)
    return parse_args_with_smoke(p, argv, smoke)


def main(argv=None):
    args = parse_args(argv)
    report = Reporter(args)
    t_start = time.perf_counter()
    mg.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    held = np.random.default_rng(10_000 + args.seed)
    val_days, val_fmts = sample_dates(held, 500, held_out=True)
    test_days, test_fmts = sample_dates(held, args.test_size, held_out=True)
    # the attention gets room to look at both directions' states: keys are 2H wide
    model = models.Seq2Seq.build(len(SRC_VOCAB), len(TGT_VOCAB), args.embed, args.hidden, cell=args.cell,
                                 bidirectional=args.attention != "dot", attention=args.attention,
                                 sos_idx=BOS, eos_idx=EOS, pad_idx=PAD, device=args.device)
    opt = mg.optim.Adam(model.parameters(), lr=args.lr)
    sched = mg.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5 ** (step / 500))  # halve the lr every 500 steps
    report.say(f"dates 1950-2049 in {len(FORMATS)} formats -> ISO; {len(SRC_VOCAB)} input symbols; "
               f"{args.cell.upper()} encoder-decoder, {args.attention} attention, "
               f"{model.num_parameters():,} parameters")
    bar = Progress(total=args.max_steps, desc="train", unit="dates", quiet=args.quiet)
    step, best_val, loss_avg = 0, 0.0, None
    trained_days = []  # every training draw, for the check that the test days were never trained on
    while step < args.max_steps and (best_val < args.stop_at or step < args.min_steps):
        days, fmts = sample_dates(rng, args.batch_size, held_out=False)
        trained_days.append(days)
        src, src_len, tgt, _, _ = make_batch(days, fmts, args.device)
        logits, _ = model(src, src_len, tgt)
        loss = F.cross_entropy(logits, tgt, ignore_index=PAD)
        opt.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        loss_avg = loss.item() if loss_avg is None else 0.9 * loss_avg + 0.1 * loss.item()
        metrics = {"loss": round(loss_avg, 4)}
        if step % args.eval_every == 0:
            val = evaluate(model, val_days, val_fmts, args.device)[0]
            best_val = max(best_val, val)
            metrics["val"] = round(val, 4)
        bar.update(items=args.batch_size, **metrics)
    bar.close()
    train_seconds = time.perf_counter() - t_start

    # Held-out means never trained on: checked on the days actually drawn for training.
    trained = np.concatenate(trained_days) if trained_days else np.empty(0, dtype=np.int64)
    assert is_held_out(test_days).all() and not np.isin(test_days, trained).any()
    acc, preds, humans, isos, outs = evaluate(model, test_days, test_fmts, args.device)
    report.say(f"\nheld-out dates (\u2713 right, \u2717 wrong):")
    width = max(len(h) for h in humans[:args.show]) if args.show else 0
    for i in range(min(args.show, len(preds))):
        mark = "\u2713" if preds[i] == isos[i] else "\u2717"
        note = "" if preds[i] == isos[i] else f"  (true {isos[i]})"
        report.say(f"  {humans[i]:>{width}}  ->  {preds[i]:<10} {mark}{note}")

    # Attention of the first few test examples (the first batch holds them).
    first_out, _ = outs[0]
    weights = first_out.attention.numpy()
    k = next((i for i in range(len(preds)) if len(humans[i]) > 12), 0)  # a long, wordy one reads best
    report.say(f"\nattention while translating {humans[k]!r} -> {preds[k]!r}:")
    report.say(attention_text(weights[k], humans[k], preds[k]))
    if not args.quiet:
        examples = [(humans[i], preds[i], weights[i]) for i in range(min(3, len(preds)))]
        path = os.path.join(args.outdir, "dates_attention.png")
        save_plot(path, lambda plt: draw_heatmaps(plt, examples), report)

    seconds = time.perf_counter() - t_start
    report.say(f"\nexact match on {len(test_days)} held-out dates: {acc:.2%} after {step} steps ({seconds:.0f}s)")
    return report.finish({"exact_match": acc, "seconds": round(seconds, 2), "steps": step,
                          "train_seconds": round(train_seconds, 2), "val_exact_match": best_val})


if __name__ == "__main__":
    main()
