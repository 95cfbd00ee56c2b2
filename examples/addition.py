"""Teach an LSTM encoder-decoder with attention to add: "123+34" -> "157".

    python examples/addition.py                 # 3-digit addition to >= 99% exact match, ~30 s on a laptop CPU
    python examples/addition.py --digits 2      # easier (and faster)
    python examples/addition.py --json          # ... and the final metrics as one JSON line
    python examples/addition.py --resume        # continue from ./checkpoints/addition.npz
    python examples/addition.py --smoke         # a seconds-long run that checks everything works

The model never sees numbers, only characters: the source "123+34" is a sequence of
6 symbols from a 15-symbol vocabulary (10 digits, '+', and <pad> <unk> <bos> <eos>),
and the answer "157" is written one character at a time, ending with <eos>. Nothing
tells it about place value or carrying; it has to discover both from examples.

How the data is split (held-out problems are never trained on, by construction).
Each problem a + b (0 <= a, b < 10**digits) has an id a * 10**digits + b, and a
fixed hash of the id puts it in one of 100 buckets: buckets 0-89 are the training
part of the problem space, 90-94 the validation part (used to decide when to stop)
and 95-99 the test part (reported at the end). Training batches are drawn fresh
from the training part at every step; the validation and test sets are fixed
samples of their parts. Since a problem's bucket depends only on the problem,
no test problem can appear in training, whatever the seed or the number of steps
(`check_disjoint` asserts it on the actual arrays).

What makes it learn fast (all on by default; each is a flag):
* attention (Luong's `dot` score): at each answer digit the decoder looks back
  at the source digits it needs, instead of squeezing the whole problem into the
  encoder's final state;
* reversed strings (Sutskever et al. 2014): the source is fed reversed ("43+321")
  and the answer is written least-significant digit first ("751"), the order in
  which carries happen, so each output digit depends only on digits already seen
  and on the carry just made. `--no-reverse` turns both off. Predictions are always
  printed in normal order;
* a large learning rate (Adam, 1e-2) halved every `--lr-half-life` steps (a `LambdaLR`
  schedule), gradient clipping, and early stopping as soon as the validation
  exact-match reaches `--stop-at`.

Exact match means the whole answer is right (every digit and the length); a model
that gets 99% of the digits right may still get only ~96% of 4-digit answers right.
"""
from __future__ import annotations

import argparse
import os
import time

import _common  # noqa: F401  (first: repository root on sys.path, single-threaded BLAS)
from _common import Progress, Reporter, make_parser, parse_args_with_smoke

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402
from minigrad import functional as F  # noqa: E402
from minigrad.data import Vocab  # noqa: E402
from minigrad.nn.utils import clip_grad_norm_  # noqa: E402

import models  # noqa: E402

CHECK = "\u2713"  # ✓
CROSS = "\u2717"  # ✗

# ---------------------------------------------------------------- the problem space
N_BUCKETS = 100
TRAIN_BUCKETS = range(0, 90)
VALID_BUCKETS = range(90, 95)
TEST_BUCKETS = range(95, 100)


def bucket_of(ids):
    """A fixed hash of problem ids (uint64 arrays) -> bucket 0..99 (splitmix64's mixer)."""
    x = np.asarray(ids, dtype=np.uint64)
    with np.errstate(over="ignore"):  # wrapping multiplication is the point of the mixer
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x % np.uint64(N_BUCKETS)).astype(np.int64)


def in_part(ids, part):
    b = bucket_of(ids)
    return (b >= part.start) & (b < part.stop)


class Problems:
    """All problems a + b with 0 <= a, b < 10**digits, split into train / validation / test parts."""

    def __init__(self, digits: int):
        if not 1 <= digits <= 9:
            raise ValueError(f"--digits must be in 1..9 (ids must fit in 64 bits), got {digits}")
        self.digits = digits
        self.base = 10 ** digits
        self.size = self.base ** 2

    def split(self, ids):
        """ids -> (a, b)."""
        return ids // self.base, ids % self.base

    def sample_train(self, rng, n: int):
        """n problem ids drawn uniformly (with replacement) from the training part."""
        out = np.empty(0, dtype=np.int64)
        while out.size < n:  # rejection sampling: 90% of the draws are kept
            ids = rng.integers(0, self.size, size=2 * n, dtype=np.int64)
            out = np.concatenate([out, ids[in_part(ids, TRAIN_BUCKETS)]])
        return out[:n]

    def sample_held_out(self, rng, n: int, part):
        """n distinct problem ids from `part` (all of them if the part is smaller)."""
        if self.size <= 4_000_000:  # small space: list the part, sample without replacement
            ids = np.arange(self.size, dtype=np.int64)
            ids = ids[in_part(ids, part)]
            return np.sort(rng.choice(ids, size=min(n, ids.size), replace=False))
        seen = np.empty(0, dtype=np.int64)
        while seen.size < n:
            ids = rng.integers(0, self.size, size=4 * n, dtype=np.int64)
            seen = np.unique(np.concatenate([seen, ids[in_part(ids, part)]]))
        return np.sort(rng.choice(seen, size=n, replace=False))


def check_disjoint(train_ids, held_out_ids):
    """Assert no problem is in both sets (true by construction: the hash buckets differ)."""
    assert in_part(train_ids, TRAIN_BUCKETS).all(), "a training problem lies outside the training part"
    assert not in_part(held_out_ids, TRAIN_BUCKETS).any(), "a held-out problem lies in the training part"
    assert np.intersect1d(train_ids, held_out_ids).size == 0, "train and held-out sets overlap"


# ---------------------------------------------------------------- text <-> tokens
VOCAB = Vocab(list("0123456789+"))  # <pad>=0 <unk>=1 <bos>=2 <eos>=3, then the 11 symbols
PAD, BOS, EOS = VOCAB.pad_index, VOCAB.bos_index, VOCAB.eos_index
_CHAR_TO_ID = np.zeros(128, dtype=np.int64)
for _c in "0123456789+":
    _CHAR_TO_ID[ord(_c)] = VOCAB.stoi[_c]


def to_strings(problems: Problems, ids):
    """Problem ids -> (["123+34", ...], ["157", ...]) in normal reading order."""
    a, b = problems.split(np.asarray(ids))
    return [f"{x}+{y}" for x, y in zip(a.tolist(), b.tolist())], [str(s) for s in (a + b).tolist()]


def encode(strings, add_eos: bool):
    """Strings -> (padded (B, T) int64 array, lengths): one token per character (+ <eos>)."""
    lengths = np.array([len(s) + add_eos for s in strings], dtype=np.int64)
    out = np.full((len(strings), int(lengths.max())), PAD, dtype=np.int64)
    for i, s in enumerate(strings):
        out[i, :len(s)] = _CHAR_TO_ID[np.frombuffer(s.encode("ascii"), dtype=np.uint8)]
        if add_eos:
            out[i, len(s)] = EOS
    return out, lengths


def make_batch(problems, ids, reverse: bool, device: str):
    """Token tensors for a set of problems: (src, src_lengths, tgt, answers as strings)."""
    questions, answers = to_strings(problems, ids)
    if reverse:  # feed "43+321" and expect "751": see the module docstring
        questions = [q[::-1] for q in questions]
        targets = [a[::-1] for a in answers]
    else:
        targets = answers
    src, src_len = encode(questions, add_eos=False)
    tgt, _ = encode(targets, add_eos=True)
    return mg.tensor(src, device=device), src_len, mg.tensor(tgt, device=device), answers


def decode_answers(output: models.DecodeOutput, reverse: bool):
    """Generated token rows -> answer strings in normal order (stopping at <eos>)."""
    rows = output.tokens.numpy()
    itos = VOCAB.itos
    out = []
    for row, n in zip(rows, output.lengths):
        s = "".join(itos[t] if len(itos[t]) == 1 else "?" for t in row[:n])  # specials become '?'
        out.append(s[::-1] if reverse else s)
    return out


# ---------------------------------------------------------------- model, evaluation
def build_model(args):
    return models.Seq2Seq.build(
        len(VOCAB), len(VOCAB), embed_size=args.embed, hidden_size=args.hidden, cell="lstm",
        attention=None if args.attention == "none" else args.attention,
        sos_idx=BOS, eos_idx=EOS, pad_idx=PAD, device=args.device)


def max_answer_len(digits: int) -> int:
    return digits + 2  # up to digits + 1 characters, plus <eos>


@mg.no_grad()
def evaluate(model, problems, ids, args, batch_size: int = 2000, beam_width: int = 1):
    """Exact-match accuracy on `ids` and the predicted answers (greedy, or beam search if beam_width > 1)."""
    model.eval()
    preds, answers = [], []
    for i in range(0, len(ids), batch_size):
        src, src_len, _, ans = make_batch(problems, ids[i:i + batch_size], args.reverse, args.device)
        max_len = max_answer_len(problems.digits)
        out = (model.greedy_decode(src, src_len, max_len=max_len) if beam_width == 1
               else model.beam_search(src, src_len, beam_width=beam_width, max_len=max_len))
        preds += decode_answers(out, args.reverse)
        answers += ans
    model.train()
    correct = [p == a for p, a in zip(preds, answers)]
    return sum(correct) / max(len(correct), 1), preds, answers


# ---------------------------------------------------------------- checkpoints
MODEL_KEYS = ("digits", "hidden", "embed", "attention", "reverse")


def save_checkpoint(path, model, opt, sched, step, data_rng, best_val, args):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    mg.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
             "step": step,
             "data_rng": data_rng.bit_generator.state, "minigrad_rng": mg.backend.get_rng_state(),
             "best_val": best_val, "config": {k: getattr(args, k) for k in MODEL_KEYS}}, path)


def load_checkpoint(path, model, opt, sched, data_rng, args):
    ckpt = mg.load(path)
    saved = ckpt["config"]
    differ = [f"{k}: checkpoint {saved[k]!r} vs now {getattr(args, k)!r}" for k in MODEL_KEYS
              if saved.get(k) != getattr(args, k)]
    if differ:
        raise SystemExit(f"--resume: {path} was trained with different settings ({'; '.join(differ)}); "
                         "pass the same flags, or a different --checkpoint")
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    data_rng.bit_generator.state = ckpt["data_rng"]
    mg.backend.set_rng_state(ckpt["minigrad_rng"])
    return int(ckpt["step"]), float(ckpt["best_val"])


# ---------------------------------------------------------------- main
def parse_args(argv=None):
    p = make_parser(__doc__.split("\n\n")[0], default_outdir="checkpoints")
    p.add_argument("--digits", type=int, default=3, help="operands have up to this many digits")
    p.add_argument("--reverse", action=argparse.BooleanOptionalAction, default=True,
                   help="feed the question reversed and write the answer least-significant digit first "
                        "(--no-reverse: both in reading order)")
    p.add_argument("--attention", default="dot", choices=["dot", "general", "additive", "none"])
    p.add_argument("--hidden", type=int, default=128, help="LSTM hidden size")
    p.add_argument("--embed", type=int, default=32, help="character embedding size")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-2, help="Adam's initial learning rate")
    p.add_argument("--lr-half-life", type=float, default=600, help="steps after which the learning rate halves")
    p.add_argument("--clip", type=float, default=1.0, help="gradient-norm clipping threshold")
    p.add_argument("--max-steps", type=int, default=4000, help="stop after this many steps in any case")
    p.add_argument("--eval-every", type=int, default=100, help="validate every this many steps")
    p.add_argument("--stop-at", type=float, default=0.995,
                   help="stop when validation exact-match reaches this (a margin above the 99%% goal)")
    p.add_argument("--val-size", type=int, default=2000)
    p.add_argument("--test-size", type=int, default=5000)
    p.add_argument("--beam-width", type=int, default=1, help="decode the test set with beam search (1 = greedy)")
    p.add_argument("--show", type=int, default=10, help="held-out predictions to print")
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint file (OUTDIR/addition.npz; OUTDIR/addition-smoke.npz with --smoke)")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    # --smoke: seconds, for the test suite: 2-digit problems, a small model, a few steps
    smoke = dict(digits=2, hidden=32, embed=16, batch_size=64, max_steps=40, eval_every=20, val_size=200,
                 test_size=300, show=4)
    args = parse_args_with_smoke(p, argv, smoke)
    if args.checkpoint is None:
        args.checkpoint = os.path.join(args.outdir, "addition-smoke.npz" if args.smoke else "addition.npz")
    return args


def main(argv=None):
    args = parse_args(argv)
    report = Reporter(args)
    t_start = time.perf_counter()
    mg.manual_seed(args.seed)
    problems = Problems(args.digits)
    data_rng = np.random.default_rng(args.seed)
    held_rng = np.random.default_rng(10_000 + args.seed)  # held-out sets do not depend on training length
    val_ids = problems.sample_held_out(held_rng, args.val_size, VALID_BUCKETS)
    test_ids = problems.sample_held_out(held_rng, args.test_size, TEST_BUCKETS)

    model = build_model(args)
    opt = mg.optim.Adam(model.parameters(), lr=args.lr)
    # lr = args.lr * 0.5 ** (step / half-life): LambdaLR multiplies the initial lr by the factor
    sched = mg.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5 ** (step / args.lr_half_life))
    start_step, best_val = 0, 0.0
    if args.resume:
        if not os.path.exists(args.checkpoint):
            raise SystemExit(f"--resume: no checkpoint at {args.checkpoint}")
        start_step, best_val = load_checkpoint(args.checkpoint, model, opt, sched, data_rng, args)
        report.say(f"resumed from {args.checkpoint} at step {start_step} (best validation {best_val:.2%})")

    report.say(f"{problems.digits}-digit addition: {problems.size:,} problems; train on fresh draws from 90% of them, "
               f"validate on {len(val_ids)}, test on {len(test_ids)} held-out problems")
    report.say(f"model: LSTM encoder-decoder, attention={args.attention}, hidden={args.hidden}, "
               f"{model.num_parameters():,} parameters; input {'reversed' if args.reverse else 'in reading order'}")

    step = start_step
    bar = Progress(total=args.max_steps, desc="train", unit="problems", quiet=args.quiet)
    bar.update(n=start_step)
    t_train = time.perf_counter()
    seen_train = []  # every training draw of this run, for the disjointness check at the end
    loss_avg = acc_avg = None
    while step < args.max_steps and best_val < args.stop_at:
        ids = problems.sample_train(data_rng, args.batch_size)
        seen_train.append(ids)
        src, src_len, tgt, _ = make_batch(problems, ids, args.reverse, args.device)
        logits, _ = model(src, src_len, tgt)  # teacher forcing: (B, T, V)
        loss = F.cross_entropy(logits, tgt, ignore_index=PAD)
        opt.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        sched.step()
        step += 1
        # Running averages for the bar: the loss, and the teacher-forced whole-answer accuracy.
        with mg.no_grad():
            right = ((logits.argmax(dim=-1) == tgt) | (tgt == PAD)).numpy().all(axis=1).mean()
        lv = loss.item()
        loss_avg = lv if loss_avg is None else 0.9 * loss_avg + 0.1 * lv
        acc_avg = right if acc_avg is None else 0.9 * acc_avg + 0.1 * right
        metrics = {"loss": round(loss_avg, 4), "acc": round(float(acc_avg), 3)}
        if step % args.eval_every == 0 or step == args.max_steps:
            val_acc, _, _ = evaluate(model, problems, val_ids, args)
            best_val = max(best_val, val_acc)
            metrics["val"] = round(val_acc, 4)
            save_checkpoint(args.checkpoint, model, opt, sched, step, data_rng, best_val, args)
        bar.update(items=args.batch_size, **metrics)
    bar.close()
    train_seconds = time.perf_counter() - t_train
    if step > start_step and step % args.eval_every != 0:
        save_checkpoint(args.checkpoint, model, opt, sched, step, data_rng, best_val, args)

    # Held-out test set: never trained on (asserted on the actual ids), never used for stopping.
    check_disjoint(np.concatenate(seen_train) if seen_train else np.empty(0, np.int64), test_ids)
    check_disjoint(np.concatenate(seen_train) if seen_train else np.empty(0, np.int64), val_ids)
    test_acc, preds, answers = evaluate(model, problems, test_ids, args, beam_width=args.beam_width)
    questions, _ = to_strings(problems, test_ids)
    wrong = [i for i in range(len(preds)) if preds[i] != answers[i]]
    show = np.random.default_rng(args.seed).permutation(len(preds))[:args.show].tolist()  # a random few
    show += wrong[:max(0, min(3, args.show))]  # a few mistakes too, if there are any
    report.say(f"\nheld-out predictions (answers in normal order; {CHECK} right, {CROSS} wrong):")
    for i in dict.fromkeys(show):
        mark = CHECK if preds[i] == answers[i] else CROSS
        report.say(f"  {questions[i]:>{2 * args.digits + 1}} = {preds[i]:<{args.digits + 1}} {mark}"
                   + ("" if preds[i] == answers[i] else f"   (true {answers[i]})"))
    seconds = time.perf_counter() - t_start
    report.say(f"\nexact match on {len(test_ids)} held-out problems: {test_acc:.2%} "
               f"after {step} steps ({train_seconds:.0f}s training, {seconds:.0f}s in all); "
               f"checkpoint: {args.checkpoint}")
    return report.finish({"exact_match": test_acc, "seconds": round(seconds, 2), "steps": step,
                          "train_seconds": round(train_seconds, 2), "val_exact_match": best_val,
                          "test_size": len(test_ids), "digits": args.digits})


if __name__ == "__main__":
    main()
