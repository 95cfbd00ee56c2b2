"""A character-level language model: read text one character at a time, predict the next one.

Many-to-many: at every step t the network sees character x_t and outputs a probability
distribution over the character x_{t+1}. Trained on real English (Python's own help
topics, `pydoc_data.topics`, shipped with every Python install) it learns spelling,
words and some syntax, and can then write text of its own, one sampled character at a time.

    python examples/char_lm.py --walkthrough        # the classic "hello" RNN, step by step, then trained
    python examples/char_lm.py                      # train an LSTM (about a minute on a laptop CPU)
    python examples/char_lm.py --cell gru --hidden 256 --layers 2 --steps 2000
    python examples/char_lm.py --resume             # continue from the last checkpoint
    python examples/char_lm.py --corpus my.txt --temperature 0.5

What to look at:
* bits per character (bpc) on held-out text: 0 would be perfect prediction;
  log2(vocabulary size) is a uniform guess; the unigram entropy is what you get from
  character frequencies alone. Anything below that has learnt context. At every
  evaluation a short sample is drawn too, so the table at the end shows the text
  improving as the bpc falls (random characters, then words, then phrases).
* Stateful truncated BPTT: the text is cut into `--batch` long streams read in
  parallel. Each step reads the next `--seq-len` characters of every stream, starting
  from the hidden state the previous step ended with (so the model sees context from
  long before the window), but backpropagates only through the window: the state is
  cut from the graph with `models.detach_state` between steps.
* Gradient clipping (`clip_grad_norm_`) keeps one unlucky batch from blowing the weights up.
* Temperature: probabilities ~ exp(logit / T). T < 1 is conservative (common words, loops),
  T > 1 adventurous (more typos).
"""
from __future__ import annotations

import math
import os
import time

import _common  # noqa: F401  (first: repository root on sys.path, single-threaded BLAS)
from _common import Progress, Reporter, fmt_vec, make_parser, outdir_for, parse_args_with_smoke, save_plot, set_seed

import numpy as np  # noqa: E402
import minigrad as mg  # noqa: E402
import models  # noqa: E402
from minigrad import nn  # noqa: E402

CELLS = {"rnn": models.RNN, "lstm": models.LSTM, "gru": models.GRU}


# ================================================================ 1. the walkthrough
# The "hello" example: vocabulary h, e, l, o; a vanilla RNN with 3 hidden units reads
# "hell" and should predict "ello". Fixed weights, so every number can be checked by hand.
WALK_VOCAB = ["h", "e", "l", "o"]
WALK_U = [[0.287027, 0.84606, 0.572392, 0.486813],
          [0.902874, 0.871522, 0.691079, 0.18998],
          [0.537524, 0.09224, 0.558159, 0.491528]]          # input -> hidden (3 x 4)
WALK_W_DIAG = 0.427043                                     # hidden -> hidden: W = 0.427043 * I
WALK_B = 0.567001                                          # the same bias on every unit
WALK_V = [[0.37168, 0.974829459, 0.830034886],
          [0.39141, 0.282585823, 0.659835709],
          [0.64985, 0.09821557, 0.334287084],
          [0.91266, 0.32581642, 0.144630018]]              # hidden -> output (4 x 3)
WALK_INPUT, WALK_TARGET = "hell", "ello"


def walkthrough(report: Reporter) -> dict:
    """Run s_t = tanh(U x_t + W s_{t-1} + b), p_t = softmax(V s_t) over "hell", printing everything."""
    f64 = mg.float64
    U = mg.tensor(WALK_U, dtype=f64)
    W = WALK_W_DIAG * mg.eye(3, dtype=f64)
    b = mg.full((3,), WALK_B, dtype=f64)
    V = mg.tensor(WALK_V, dtype=f64)
    s = mg.zeros(3, dtype=f64)  # s_0: the state before the first character

    say = report.say
    say("A vanilla RNN, one step per character:")
    say("    s_t = tanh(U x_t + W s_{t-1} + b)      the new state: the input and the old state, squashed")
    say("    p_t = softmax(V s_t)                   a distribution over the next character")
    say(f"vocabulary {WALK_VOCAB}, hidden size 3, W = {WALK_W_DIAG} * I, b = {WALK_B} on every unit")
    say(f"input {WALK_INPUT!r}, targets {WALK_TARGET!r}, s_0 = {fmt_vec(s.tolist())}\n")

    states, probs, losses = [], [], []
    for t, (ch, target) in enumerate(zip(WALK_INPUT, WALK_TARGET), start=1):
        x = mg.zeros(4, dtype=f64)
        x[WALK_VOCAB.index(ch)] = 1.0                   # one-hot: picks one column of U
        ux = U @ x
        wsb = W @ s + b
        a = ux + wsb
        s = a.tanh()
        o = V @ s                                       # logits, one per character
        p = mg.F.softmax(o, dim=-1)
        k = WALK_VOCAB.index(target)
        loss = -math.log(p[k].item())                   # cross-entropy of the true next character
        states.append(s.tolist())
        probs.append(p.tolist())
        losses.append(loss)
        say(f"t={t} input {ch!r} -> target {target!r}")
        say(f"  x[{t}]         = {fmt_vec(x.tolist(), 0)}")
        say(f"  U x[{t}]       = {fmt_vec(ux.tolist())}")
        say(f"  W s[{t - 1}] + b   = {fmt_vec(wsb.tolist())}")
        say(f"  pre[{t}]       = {fmt_vec(a.tolist())}")
        say(f"  s[{t}]         = {fmt_vec(s.tolist())}")
        say(f"  V s[{t}]       = {fmt_vec(o.tolist())}")
        say(f"  p[{t}]         = {fmt_vec(p.tolist())}")
        guess = WALK_VOCAB[int(np.argmax(p.tolist()))]
        say(f"  p(target {target!r}) = {p[k].item():.6f}, loss = -ln p = {loss:.6f}, "
            f"most likely next: {guess!r}\n")
    # The same recurrence is what the library's RNN cell computes (weight_ih = U, weight_hh = W, bias = b):
    s_lib = mg.zeros(1, 3, dtype=f64)
    for ch in WALK_INPUT:
        x = mg.zeros(1, 4, dtype=f64)
        x[0, WALK_VOCAB.index(ch)] = 1.0
        s_lib = models.rnn_cell(x, s_lib, U, W, b)
    diff = float(np.abs(s_lib[0].numpy() - np.asarray(states[-1])).max())
    say(f"check: models.rnn_cell(x, s, weight_ih=U, weight_hh=W, bias_ih=b) over {WALK_INPUT!r} gives "
        f"s[{len(WALK_INPUT)}] = {fmt_vec(s_lib[0].tolist())} (max difference {diff:.1e})")
    say(f"total loss {sum(losses):.6f} (mean {sum(losses) / len(losses):.6f} nats per character; "
        f"uniform guessing would give ln 4 = {math.log(4):.6f}). Training lowers it by changing U, W, b, V.")
    trained = walkthrough_training(say)
    return {"mode": "walkthrough", "states": states, "probs": probs, "losses": losses,
            "total_loss": sum(losses), "rnn_cell_max_diff": diff, **trained}


def walkthrough_training(say, steps: int = 200, lr: float = 0.1) -> dict:
    """Train U, W, b, V of the walkthrough by gradient descent on "hell" -> "ello", printing the progress.

    The forward pass is the one printed above (W is now a full 3 x 3 matrix, free to leave 0.427 * I);
    loss.backward() fills U.grad, W.grad, b.grad and V.grad, and SGD moves each against its gradient.
    """
    f64 = mg.float64
    U = mg.tensor(WALK_U, dtype=f64, requires_grad=True)
    W = (WALK_W_DIAG * mg.eye(3, dtype=f64)).requires_grad_()
    b = mg.full((3,), WALK_B, dtype=f64, requires_grad=True)
    V = mg.tensor(WALK_V, dtype=f64, requires_grad=True)
    xs = mg.eye(4, dtype=f64)[[WALK_VOCAB.index(c) for c in WALK_INPUT]]  # one-hot rows, one per input character
    targets = mg.tensor([WALK_VOCAB.index(c) for c in WALK_TARGET])
    opt = mg.optim.SGD([U, W, b, V], lr=lr)
    say(f"\nTraining: loss.backward() gives dloss/dU, dW, db, dV; SGD (lr {lr}) steps against them.")
    shown = {0, 1, 5, 10, 20, 50, 100, steps}
    for k in range(steps + 1):
        s, logits = mg.zeros(3, dtype=f64), []
        for x in xs:
            s = (U @ x + W @ s + b).tanh()
            logits.append(V @ s)
        logits = mg.stack(logits)                                   # (4 steps, 4 characters)
        loss = mg.F.cross_entropy(logits, targets, reduction="sum")  # the total loss above, at k = 0
        guess = "".join(WALK_VOCAB[i] for i in logits.argmax(dim=-1).tolist())
        if k in shown:
            say(f"  after {k:>3} step{'s' if k != 1 else ' '}: total loss {loss.item():.6f}, "
                f"most likely next characters {guess!r}")
        if k == steps:
            break
        opt.zero_grad()
        loss.backward()
        if k == 0:
            say(f"  (the first gradients: dloss/db = {fmt_vec(b.grad.tolist())}, "
                f"||dloss/dU|| = {U.grad.norm().item():.6f}, ||dloss/dW|| = {W.grad.norm().item():.6f}, "
                f"||dloss/dV|| = {V.grad.norm().item():.6f})")
        opt.step()
    say(f"after training the network reads {WALK_INPUT!r} and predicts {guess!r} (target {WALK_TARGET!r}).")
    return {"trained_loss": loss.item(), "trained_prediction": guess}


# ================================================================ 2. data
def load_text(corpus: str | None) -> tuple[str, str]:
    """(text, description): the --corpus file, or Python's help topics."""
    if corpus:
        with open(corpus, encoding="utf-8", errors="replace") as f:
            return f.read(), corpus
    from pydoc_data.topics import topics  # ~465k characters of English and Python, in every install
    return "\n".join(topics[k] for k in sorted(topics)), "pydoc_data.topics (Python's help text)"


def batchify(ids: np.ndarray, n_streams: int) -> np.ndarray:
    """Cut a long id sequence into n_streams equal contiguous streams, time-major (L, n_streams).

    Column b is the b-th slice of the text; row t holds character t of every slice.
    Reading rows top to bottom reads all streams in parallel, each in order.
    """
    L = len(ids) // n_streams
    return np.ascontiguousarray(ids[:L * n_streams].reshape(n_streams, L).T)


# ================================================================ 3. the model
class CharLM(nn.Module):
    """Embedding -> RNN/LSTM/GRU -> Linear: logits for the next character at every step."""

    def __init__(self, vocab_size: int, cell: str = "lstm", hidden: int = 128, layers: int = 1,
                 embed: int = 32, dropout: float = 0.0):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed)
        self.rnn = CELLS[cell](embed, hidden, num_layers=layers, dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, x, state=None):
        """x: (T, B) character ids; state: the carried recurrent state (or None). -> (logits (T, B, V), state)."""
        out, state = self.rnn(self.embed(x), state)
        return self.head(out), state


LN2 = math.log(2.0)


@mg.no_grad()
def bits_per_char(model: CharLM, ids: np.ndarray, device: str, n_streams: int = 8, chunk: int = 200) -> float:
    """Average -log2 p(next char) over `ids`, read as n_streams parallel streams with carried state."""
    model.eval()
    data = batchify(ids, n_streams)
    total, count, state = 0.0, 0, None
    for i in range(0, len(data) - 1, chunk):
        end = min(i + chunk, len(data) - 1)  # the last character has no successor to predict
        x = mg.tensor(data[i:end], device=device)
        y = mg.tensor(data[i + 1:end + 1], device=device)
        logits, state = model(x, state)
        total += mg.F.cross_entropy(logits, y, reduction="sum").item()
        count += y.numel()
    model.train()
    return total / count / LN2


@mg.no_grad()
def sample(model: CharLM, chars: list, prime: str, n: int, temperature: float, device: str, rng=None) -> str:
    """Feed `prime`, then draw n characters one at a time from softmax(logits / temperature).

    rng: a NumPy Generator; by default minigrad's host generator (seeded by mg.manual_seed, saved in
    checkpoints).
    """
    model.eval()
    stoi = {c: i for i, c in enumerate(chars)}
    prime = "".join(c for c in prime if c in stoi) or chars[0]
    rng = mg.backend.host_rng() if rng is None else rng
    x = mg.tensor([[stoi[c]] for c in prime], device=device)  # (T, 1)
    logits, state = model(x)
    out = []
    for _ in range(n):
        z = logits[-1, 0].numpy().astype(np.float64) / max(temperature, 1e-6)
        p = np.exp(z - z.max())
        p /= p.sum()
        k = int(rng.choice(len(p), p=p))
        out.append(chars[k])
        logits, state = model(mg.tensor([[k]], device=device), state)
    model.train()
    return prime + "".join(out)


def unigram_bits(train_ids: np.ndarray, valid_ids: np.ndarray, vocab_size: int) -> float:
    """Cross-entropy (bits) of held-out text under character frequencies alone (add-one smoothed)."""
    counts = np.bincount(train_ids, minlength=vocab_size).astype(np.float64) + 1.0
    p = counts / counts.sum()
    return float(-np.log2(p[valid_ids]).mean())


# ================================================================ 4. training
def build_parser():
    p = make_parser(__doc__.split("\n\n")[0], default_outdir=os.path.join("runs", "char_lm"))
    p.add_argument("--walkthrough", action="store_true",
                   help="print the 4-letter 'hello' RNN forward pass step by step, train it, and exit")
    p.add_argument("--cell", choices=sorted(CELLS), default="lstm")
    p.add_argument("--hidden", type=int, default=256, help="recurrent state size")
    p.add_argument("--layers", type=int, default=1, help="stacked recurrent layers")
    p.add_argument("--embed", type=int, default=32, help="character embedding size")
    p.add_argument("--dropout", type=float, default=0.0, help="between stacked layers")
    p.add_argument("--steps", type=int, default=900, help="total optimizer steps (including resumed ones)")
    p.add_argument("--batch", type=int, default=32, help="parallel streams of text")
    p.add_argument("--seq-len", type=int, default=64, help="truncated BPTT window (characters)")
    p.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
    p.add_argument("--clip", type=float, default=1.0, help="max gradient norm")
    p.add_argument("--corpus", default=None, help="a UTF-8 text file (default: Python's help topics)")
    p.add_argument("--valid-frac", type=float, default=0.05, help="tail of the text held out")
    p.add_argument("--eval-chars", type=int, default=20000, help="held-out characters scored per evaluation")
    p.add_argument("--eval-every", type=int, default=150, help="score the held-out text (and draw a short sample) "
                   "every N steps")
    p.add_argument("--temperature", type=float, default=0.8,
                   help="sampling: p ~ exp(logit / T); T < 1 is conservative, T > 1 adventurous")
    p.add_argument("--sample-len", type=int, default=300, help="characters in the final sample")
    p.add_argument("--prime", default="The ", help="text fed to the model before it writes")
    p.add_argument("--ckpt-every", type=int, default=300, help="checkpoint every N steps (and at the end)")
    p.add_argument("--resume", action="store_true", help="continue from OUTDIR/char_lm.npz")
    return p


SMOKE = dict(hidden=32, layers=1, embed=16, steps=40, batch=8, seq_len=32, eval_chars=2000, eval_every=20,
             sample_len=40, ckpt_every=20, lr=1e-2)


def main(argv=None) -> dict:
    args = parse_args_with_smoke(build_parser(), argv, SMOKE)
    report = Reporter(args)
    if args.walkthrough:
        result = walkthrough(report)
        return report.finish(result) if args.json else result
    set_seed(args.seed)
    t_start, cpu_start = time.perf_counter(), time.process_time()
    outdir = outdir_for(args)
    ckpt_path = os.path.join(outdir, "char_lm.npz")

    # ---- data: characters -> ids; the tail of the text is held out
    text, source = load_text(args.corpus)
    if args.smoke:
        text = text[:60000]
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    ids = np.fromiter((stoi[c] for c in text), dtype=np.int64, count=len(text))
    n_valid = max(int(len(ids) * args.valid_frac), 2 * args.seq_len)
    train_ids, valid_ids = ids[:-n_valid], ids[-n_valid:][:args.eval_chars]
    train = batchify(train_ids, args.batch)  # (L, B)
    if len(train) < args.seq_len + 1:
        raise SystemExit(f"{source}: {len(train_ids):,} characters of training text make {args.batch} streams of "
                         f"{len(train):,}, shorter than one window of --seq-len {args.seq_len} (+1 for the targets); "
                         "use a longer text or smaller --batch / --seq-len")
    V = len(chars)
    uniform, unigram = math.log2(V), unigram_bits(train_ids, valid_ids, V)
    report.say(f"corpus: {source}: {len(text):,} characters, vocabulary {V}; "
               f"{len(train_ids):,} for training as {args.batch} streams of {len(train):,}, "
               f"{len(valid_ids):,} held out")
    report.say(f"baselines on held-out text: uniform {uniform:.3f} bits/char, "
               f"character frequencies (unigram) {unigram:.3f} bits/char")

    # ---- model, optimizer, and the training position
    model = CharLM(V, args.cell, args.hidden, args.layers, args.embed, args.dropout).to(args.device)
    opt = mg.optim.Adam(model.parameters(), lr=args.lr)
    step, epoch, pos, state = 0, 0, 0, None
    history = {"step": [], "loss": [], "eval_step": [], "eval_bpc": [], "eval_sample": []}
    if args.resume and os.path.exists(ckpt_path):
        ckpt = mg.load(ckpt_path, device=args.device)
        saved = ckpt["config"]
        if saved["chars"] != "".join(chars):
            raise SystemExit(f"{ckpt_path} was trained on a different character set; use another --outdir")
        wanted = {"cell": args.cell, "hidden": args.hidden, "layers": args.layers, "embed": args.embed}
        if any(saved[k] != v for k, v in wanted.items()):
            raise SystemExit(f"{ckpt_path} holds a model with {({k: saved[k] for k in wanted})}, but this run asks "
                             f"for {wanted}; pass the same options or use another --outdir")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        mg.backend.set_rng_state(ckpt["rng"])
        step, epoch, pos = ckpt["step"], ckpt["data"]["epoch"], ckpt["data"]["pos"]
        state = ckpt["state"]  # the carried hidden state: the next window continues the text exactly
        history = ckpt["history"]
        history.setdefault("eval_sample", [""] * len(history["eval_step"]))  # checkpoints from before samples
        report.say(f"resumed from {ckpt_path} at step {step} (epoch {epoch}, position {pos})")
    elif args.resume:
        report.say(f"no checkpoint at {ckpt_path}; starting fresh")
    start_step = step
    n_params = model.num_parameters()
    report.say(f"model: {args.cell.upper()} x{args.layers}, hidden {args.hidden}, {n_params:,} parameters; "
               f"{args.steps} steps of {args.batch} x {args.seq_len} characters, clip {args.clip}")

    def checkpoint():
        mg.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                 "rng": mg.backend.get_rng_state(), "data": {"epoch": epoch, "pos": pos},
                 "state": state, "history": history,
                 "config": {"chars": "".join(chars), "cell": args.cell, "hidden": args.hidden,
                            "layers": args.layers, "embed": args.embed}}, ckpt_path)

    def evaluate():
        """Held-out bits/char and a short sample, recorded in `history` at the current step."""
        history["eval_step"].append(step)
        history["eval_bpc"].append(bits_per_char(model, valid_ids, args.device))
        # The sample has its own generator: the training run (dropout, the final sample) draws the
        # same random numbers whether or not these samples are drawn.
        history["eval_sample"].append(sample(model, chars, args.prime, min(60, args.sample_len), args.temperature,
                                             args.device, rng=np.random.default_rng([args.seed, step])))

    if step == 0 and step < args.steps:
        evaluate()  # the untrained model: uniform-ish bits/char, random characters
    params = list(model.parameters())
    bar = Progress(total=args.steps - step, desc=f"train {args.cell}", unit="chars", quiet=args.quiet)
    recent = []
    while step < args.steps:
        if pos + args.seq_len + 1 > len(train):  # end of the streams: a new epoch from a fresh state
            epoch, pos, state = epoch + 1, 0, None
        x = mg.tensor(train[pos:pos + args.seq_len], device=args.device)            # (T, B)
        y = mg.tensor(train[pos + 1:pos + 1 + args.seq_len], device=args.device)    # next characters
        logits, state = model(x, state)
        loss = mg.F.cross_entropy(logits, y)  # mean over T*B predictions, in nats
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, args.clip)
        opt.step()
        state = models.detach_state(state)  # keep the values, cut the graph: truncated BPTT
        pos += args.seq_len
        step += 1
        bpc = loss.item() / LN2
        recent = (recent + [bpc])[-50:]
        history["step"].append(step)
        history["loss"].append(bpc)
        bar.update(items=args.batch * args.seq_len, bpc=bpc)
        if step % args.eval_every == 0 or step == args.steps:
            evaluate()
        if step % args.ckpt_every == 0 or step == args.steps:
            checkpoint()
    bar.close()

    valid_bpc = history["eval_bpc"][-1] if history["eval_bpc"] else bits_per_char(model, valid_ids, args.device)
    report.say(f"\nheld-out: {valid_bpc:.3f} bits/char (uniform {uniform:.3f}, unigram {unigram:.3f}); "
               f"checkpoint: {ckpt_path}")
    if history["eval_step"]:
        report.say(f"step   held-out bits/char   a sample at that step (temperature {args.temperature}; "
                   "\u21b5 = newline)")
        for s_, b_, t_ in zip(history["eval_step"], history["eval_bpc"], history["eval_sample"]):
            report.say(f"{s_:>5}   {b_:>8.3f}            {t_.replace(chr(10), chr(0x21b5))}")
    text_out = sample(model, chars, args.prime, args.sample_len, args.temperature, args.device)
    report.say(f"\nsample (temperature {args.temperature}):\n{'-' * 60}\n{text_out}\n{'-' * 60}")

    def draw(plt):
        plt.plot(history["step"], history["loss"], lw=0.8, alpha=0.6, label="training batch")
        plt.plot(history["eval_step"], history["eval_bpc"], "o-", label="held-out")
        plt.axhline(unigram, ls="--", c="gray", label="unigram baseline")
        plt.xlabel("step")
        plt.ylabel("bits per character")
        plt.title(f"char LM ({args.cell.upper()}, hidden {args.hidden})")
        plt.legend()

    plot = save_plot(os.path.join(outdir, "loss.png"), draw, report)
    return report.finish({
        "cell": args.cell, "steps": step, "resumed_from": start_step, "epoch": epoch, "params": n_params,
        "valid_bpc": valid_bpc, "train_bpc": float(np.mean(recent)) if recent else None,
        "uniform_bpc": uniform, "unigram_bpc": unigram, "checkpoint": ckpt_path, "plot": plot,
        "sample": text_out, "seconds": round(time.perf_counter() - t_start, 2),
        "cpu_seconds": round(time.process_time() - cpu_start, 2),
    })


if __name__ == "__main__":
    main()
