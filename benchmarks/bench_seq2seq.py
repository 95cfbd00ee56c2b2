"""Time to 99% exact match on 3-digit addition: minigrad's seq2seq against the same model in torch, same run.

    python benchmarks/bench_seq2seq.py [--target 0.99] [--max-steps 3000] [--threads 1] [--seed 0]

Both frameworks train the model of examples/addition.py (LSTM encoder, LSTM decoder with
Luong dot attention over the padded, masked encoder outputs, hidden 128, embeddings 32,
reversed strings), starting from the SAME initial weights (torch's are copied from
minigrad's), on the SAME batches (one shared stream of problem ids), with the same
optimiser (Adam, lr 1e-2 halving every 600 steps, gradient norm clipped at 1.0). Every
`--eval-every` steps each model greedily decodes the same 2000 held-out validation
problems; a framework's time to target is its own training + evaluation time up to
the first evaluation at or above `--target`. The torch model packs the padded sources
(`pack_padded_sequence`) so its encoder's final states and outputs match minigrad's
`lengths` semantics.

The two run in alternating blocks of `--eval-every` steps (minigrad, torch, minigrad,
...), so slow phases of a shared machine hit both alike; each keeps its own clock.
Both use `--threads` BLAS/OpenMP threads (default 1: the matrices are small, and
threads spinning between calls would steal cores from the other framework).
Timings on a shared machine are noisy: compare numbers from the same run only.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time


def _set_threads(n: int) -> None:
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)


if __name__ == "__main__":  # thread counts must be fixed before NumPy and torch load
    _pre = argparse.ArgumentParser(add_help=False)
    _pre.add_argument("--threads", type=int, default=1)
    _set_threads(_pre.parse_known_args()[0].threads)

import numpy as np  # noqa: E402

_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, _ROOT)
sys.path.insert(0, os.path.join(_ROOT, "examples"))

import minigrad as mg  # noqa: E402
import minigrad.optim  # noqa: E402,F401
from minigrad import functional as F  # noqa: E402
from minigrad.nn.utils import clip_grad_norm_  # noqa: E402

import addition as A  # noqa: E402  (the example's data, vocabulary and model)


# ---------------------------------------------------------------- the same model in torch
def torch_model(torch, mg_model):
    """examples/addition.py's Seq2Seq written in torch, with minigrad's initial weights copied in."""
    nn = torch.nn

    class TorchSeq2Seq(nn.Module):
        def __init__(self, V, E, H):
            super().__init__()
            self.enc_emb = nn.Embedding(V, E, padding_idx=A.PAD)
            self.enc = nn.LSTM(E, H, batch_first=True)
            self.dec_emb = nn.Embedding(V, E, padding_idx=A.PAD)
            self.dec = nn.LSTM(E, H, batch_first=True)
            self.combine = nn.Linear(2 * H, H)
            self.out = nn.Linear(H, V)

        def encode(self, src, lengths):
            packed = nn.utils.rnn.pack_padded_sequence(self.enc_emb(src), lengths, batch_first=True,
                                                       enforce_sorted=False)
            out, state = self.enc(packed)
            out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
            mask = torch.arange(src.shape[1])[None, :] < torch.as_tensor(lengths)[:, None]
            return out, state, mask

        def decode(self, tokens, state, enc_out, mask):
            h, state = self.dec(self.dec_emb(tokens), state)
            scores = (h @ enc_out.transpose(1, 2)).masked_fill(~mask[:, None, :], float("-inf"))
            context = scores.softmax(-1) @ enc_out
            return self.out(torch.tanh(self.combine(torch.cat([context, h], -1)))), state

        def forward(self, src, lengths, tgt):
            enc_out, state, mask = self.encode(src, lengths)
            start = torch.full((tgt.shape[0], 1), A.BOS, dtype=torch.long)
            return self.decode(torch.cat([start, tgt[:, :-1]], 1), state, enc_out, mask)[0]

        @torch.no_grad()
        def greedy(self, src, lengths, max_len):
            enc_out, state, mask = self.encode(src, lengths)
            token = torch.full((src.shape[0], 1), A.BOS, dtype=torch.long)
            finished = torch.zeros(src.shape[0], dtype=torch.bool)
            out = []
            for _ in range(max_len):
                logits, state = self.decode(token, state, enc_out, mask)
                token = logits.argmax(-1)
                token = torch.where(finished[:, None], torch.full_like(token, A.PAD), token)
                out.append(token)
                finished |= token[:, 0] == A.EOS
                if bool(finished.all()):
                    break
            return torch.cat(out, 1)

    E = mg_model.encoder.embedding.embedding_dim
    H = mg_model.encoder.hidden_size
    V = mg_model.decoder.vocab_size
    tm = TorchSeq2Seq(V, E, H)
    names = {  # torch name -> minigrad name
        "enc_emb.weight": "encoder.embedding.weight", "dec_emb.weight": "decoder.embedding.weight",
        "combine.weight": "decoder.combine.weight", "combine.bias": "decoder.combine.bias",
        "out.weight": "decoder.out.weight", "out.bias": "decoder.out.bias",
    }
    for p in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        names[f"enc.{p}"] = f"encoder.rnn.{p}"
        names[f"dec.{p}"] = f"decoder.rnn.{p}"
    ours = dict(mg_model.named_parameters())
    assert len(ours) == len(names), sorted(set(ours) - set(names.values()))
    with torch.no_grad():
        for tn, p in tm.named_parameters():
            p.copy_(torch.from_numpy(ours[names[tn]].numpy()))
    return tm


def answers_from_tokens(rows, reverse):
    itos = A.VOCAB.itos
    out = []
    for row in rows:
        s = ""
        for t in row:
            if t == A.EOS or t == A.PAD:
                break
            s += itos[t] if len(itos[t]) == 1 else "?"
        out.append(s[::-1] if reverse else s)
    return out


# ---------------------------------------------------------------- the two trainers
class MinigradRun:
    name = "minigrad"

    def __init__(self, args):
        mg.manual_seed(args.seed)
        self.args = args
        self.model = A.build_model(args)
        self.opt = mg.optim.Adam(self.model.parameters(), lr=args.lr)

    def step(self, batch, lr):
        src, src_len, tgt = batch["mg"]
        for g in self.opt.param_groups:
            g["lr"] = lr
        logits, _ = self.model(src, src_len, tgt)
        loss = F.cross_entropy(logits, tgt, ignore_index=A.PAD)
        self.opt.zero_grad()
        loss.backward()
        clip_grad_norm_(self.model.parameters(), self.args.clip)
        self.opt.step()
        return loss.item()

    def accuracy(self, problems, ids):
        acc, _, _ = A.evaluate(self.model, problems, ids, self.args)
        return acc


class TorchRun:
    name = "torch"

    def __init__(self, args, mg_model, torch):
        self.torch, self.args = torch, args
        self.model = torch_model(torch, mg_model)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=args.lr)

    def step(self, batch, lr):
        torch = self.torch
        src, src_len, tgt = batch["torch"]
        for g in self.opt.param_groups:
            g["lr"] = lr
        logits = self.model(src, src_len, tgt)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1),
                                                 ignore_index=A.PAD)
        self.opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.args.clip)
        self.opt.step()
        return loss.item()

    def accuracy(self, problems, ids):
        torch = self.torch
        right = 0
        for i in range(0, len(ids), 2000):
            chunk = ids[i:i + 2000]
            questions, answers = A.to_strings(problems, chunk)
            if self.args.reverse:
                questions = [q[::-1] for q in questions]
            src, src_len = A.encode(questions, add_eos=False)
            pred = self.model.greedy(torch.from_numpy(src), src_len.tolist(), A.max_answer_len(problems.digits))
            right += sum(p == a for p, a in zip(answers_from_tokens(pred.numpy(), self.args.reverse), answers))
        return right / len(ids)


def make_batch(problems, rng, args, torch):
    """One batch in both frameworks' tensors (the same problems)."""
    ids = problems.sample_train(rng, args.batch_size)
    questions, answers = A.to_strings(problems, ids)
    targets = answers
    if args.reverse:
        questions = [q[::-1] for q in questions]
        targets = [a[::-1] for a in answers]
    src, src_len = A.encode(questions, add_eos=False)
    tgt, _ = A.encode(targets, add_eos=True)
    return {"mg": (mg.tensor(src), src_len, mg.tensor(tgt)),
            "torch": (torch.from_numpy(src), src_len.tolist(), torch.from_numpy(tgt))}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", type=float, default=0.99, help="validation exact match to reach")
    p.add_argument("--max-steps", type=int, default=3000)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads for both frameworks")
    p.add_argument("--seed", type=int, default=0)
    cli = p.parse_args()
    import torch

    torch.set_num_threads(cli.threads)
    torch.manual_seed(cli.seed)
    # The example's defaults (model size, lr, schedule, clipping), as `python examples/addition.py` uses them.
    args = A.parse_args(["--seed", str(cli.seed)])
    problems = A.Problems(args.digits)
    held_rng = np.random.default_rng(10_000 + cli.seed)
    val_ids = problems.sample_held_out(held_rng, args.val_size, A.VALID_BUCKETS)
    test_ids = problems.sample_held_out(held_rng, args.test_size, A.TEST_BUCKETS)

    ours = MinigradRun(args)
    theirs = TorchRun(args, ours.model, torch)
    runs = [ours, theirs]
    clock = {r.name: 0.0 for r in runs}  # training + evaluation seconds
    train_clock = {r.name: 0.0 for r in runs}
    steps_done = {r.name: 0 for r in runs}
    reached = {r.name: None for r in runs}  # (steps, seconds) at the first evaluation >= target
    history = {r.name: [] for r in runs}
    data_rng = np.random.default_rng(cli.seed)
    print(f"3-digit addition, batch {args.batch_size}, hidden {args.hidden}, attention {args.attention}; "
          f"target {cli.target:.0%} on {len(val_ids)} validation problems; {cli.threads} thread(s) each; "
          f"{platform.processor() or platform.machine()}, torch {torch.__version__}", flush=True)
    step = 0
    while step < cli.max_steps and any(v is None for v in reached.values()):
        block = [make_batch(problems, data_rng, args, torch) for _ in range(cli.eval_every)]
        lrs = [args.lr * 0.5 ** ((step + i) / args.lr_half_life) for i in range(cli.eval_every)]
        for run in runs:
            if reached[run.name] is not None:
                continue
            t0 = time.perf_counter()
            for batch, lr in zip(block, lrs):
                run.step(batch, lr)
            t1 = time.perf_counter()
            acc = run.accuracy(problems, val_ids)
            t2 = time.perf_counter()
            train_clock[run.name] += t1 - t0
            clock[run.name] += t2 - t0
            steps_done[run.name] += len(block)
            history[run.name].append(acc)
            if acc >= cli.target:
                reached[run.name] = (steps_done[run.name], clock[run.name])
        step += cli.eval_every
        print(f"  step {step:5d}  " + "  ".join(
            f"{r.name}: val {history[r.name][-1]:.4f} ({clock[r.name]:.1f}s)" for r in runs), flush=True)

    print()
    print(f"{'':10s} {'steps to target':>16s} {'time to target':>15s} {'ms / train step':>16s} "
          f"{'test exact match':>17s}")
    per_step = {}
    for run in runs:
        r = reached[run.name]
        per_step[run.name] = 1000 * train_clock[run.name] / max(steps_done[run.name], 1)
        test = run.accuracy(problems, test_ids)
        print(f"{run.name:10s} {(r[0] if r else 'not reached'):>16} "
              f"{(f'{r[1]:.1f} s' if r else '-'):>15s} {per_step[run.name]:>16.1f} {test:>17.4f}")
    if all(reached.values()):
        ratio = reached["minigrad"][1] / reached["torch"][1]
        print(f"\ntime-to-{cli.target:.0%} ratio minigrad / torch: {ratio:.2f}x "
              f"(steps {reached['minigrad'][0]} vs {reached['torch'][0]})")
    print(f"time per training step ratio minigrad / torch: {per_step['minigrad'] / per_step['torch']:.2f}x")


if __name__ == "__main__":
    main()
