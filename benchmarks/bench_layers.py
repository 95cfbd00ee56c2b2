"""Generic layers, one training step each (forward, a sum loss, backward), minigrad vs torch CPU.

Conv1d, MaxPool1d, BatchNorm1d, MultiheadAttention, F.scaled_dot_product_attention and a
TransformerEncoderLayer (dropout 0, feed-forward 4 x 128) at sizes of a small text model, float32, the same weights and inputs in both frameworks.
Each framework runs alternating blocks of steps in one process (so both see the same
machine load); the table gives the median step time, the fastest step and the ratio
minigrad / torch of the medians.

    python benchmarks/bench_layers.py [--repeats 20] [--rounds 3]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import minigrad as mg
from minigrad import functional as F
from minigrad import nn

try:
    import torch
except ImportError:  # the script still times minigrad alone
    torch = None

B, C, L, E, H = 32, 128, 64, 128, 4  # batch, channels, length (tokens), embedding, heads


def cases():
    """(name, build) pairs; build(lib) returns a step function for lib = minigrad or torch."""
    rng = np.random.default_rng(0)
    x_ncl = rng.standard_normal((B, C, L)).astype(np.float32)
    x_nle = rng.standard_normal((B, L, E)).astype(np.float32)

    def conv(lib):
        if lib is mg:
            m = nn.Conv1d(C, C, 3, padding=1)
            x = mg.tensor(x_ncl, requires_grad=True)
        else:
            m = torch.nn.Conv1d(C, C, 3, padding=1)
            x = torch.tensor(x_ncl, requires_grad=True)
        return m, x, lambda: m(x)

    def pool(lib):
        x = (mg if lib is mg else torch).tensor(x_ncl, requires_grad=True)
        f = F.max_pool1d if lib is mg else torch.nn.functional.max_pool1d
        return None, x, lambda: f(x, 3, 2, 1)

    def bn(lib):
        m = nn.BatchNorm1d(C) if lib is mg else torch.nn.BatchNorm1d(C)
        x = (mg if lib is mg else torch).tensor(x_ncl, requires_grad=True)
        return m, x, lambda: m(x)

    def mha(lib):
        m = (nn if lib is mg else torch.nn).MultiheadAttention(E, H, batch_first=True)
        x = (mg if lib is mg else torch).tensor(x_nle, requires_grad=True)
        pad = np.zeros((B, L), bool)
        pad[::2, L // 2:] = True  # half the sequences padded to half length
        mask = (mg if lib is mg else torch).tensor(pad)
        return m, x, lambda: m(x, x, x, key_padding_mask=mask, need_weights=False)[0]

    def sdpa(lib):
        q = rng.standard_normal((B, H, L, E // H)).astype(np.float32)
        x = (mg if lib is mg else torch).tensor(q, requires_grad=True)
        f = F.scaled_dot_product_attention if lib is mg else torch.nn.functional.scaled_dot_product_attention
        return None, x, lambda: f(x, x, x, is_causal=True)

    def encoder(lib):
        m = (nn if lib is mg else torch.nn).TransformerEncoderLayer(E, H, dim_feedforward=4 * E, dropout=0.0,
                                                                    batch_first=True)
        x = (mg if lib is mg else torch).tensor(x_nle, requires_grad=True)
        pad = np.zeros((B, L), bool)
        pad[::2, L // 2:] = True
        mask = (mg if lib is mg else torch).tensor(pad)
        return m, x, lambda: m(x, src_key_padding_mask=mask)

    return [("Conv1d(128, 128, 3)", conv), ("max_pool1d(3, 2, 1)", pool), ("BatchNorm1d(128)", bn),
            ("MultiheadAttention(128, 4) masked", mha), ("scaled_dot_product_attention causal", sdpa),
            ("TransformerEncoderLayer(128, 4) masked", encoder)]


def step_fn(lib, build):
    """One step: zero the grads, forward, sum, backward."""
    m, x, fwd = build(lib)
    params = list(m.parameters()) if m is not None else []

    def step():
        for p in params + [x]:
            p.grad = None
        fwd().sum().backward()

    return step


def time_steps(step, n):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def run_table(cases_, rounds, repeats, warmup=3):
    """Time each (name, build) case in alternating blocks per framework and print one table row each.

    Shared with bench_conv2d.py. Rows: median step time of both, their ratio, and the fastest steps.
    """
    print(f"{'layer':<38} {'minigrad ms':>12} {'torch ms':>10} {'ratio':>7}   fastest mg / torch")
    for name, build in cases_:
        mine = step_fn(mg, build)
        theirs = step_fn(torch, build) if torch is not None else None
        got = {"mg": [], "torch": []}
        for fn in (mine, theirs):  # warm-up
            if fn is not None:
                time_steps(fn, warmup)
        for _ in range(rounds):
            got["mg"] += time_steps(mine, repeats)
            if theirs is not None:
                got["torch"] += time_steps(theirs, repeats)
        m_ms = statistics.median(got["mg"]) * 1e3
        if theirs is None:
            print(f"{name:<38} {m_ms:>12.3f} {'-':>10} {'-':>7}")
            continue
        t_ms = statistics.median(got["torch"]) * 1e3
        print(f"{name:<38} {m_ms:>12.3f} {t_ms:>10.3f} {m_ms / t_ms:>7.2f}   "
              f"{min(got['mg']) * 1e3:.3f} / {min(got['torch']) * 1e3:.3f}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=20, help="timed steps per block")
    p.add_argument("--rounds", type=int, default=3, help="alternating blocks per framework")
    args = p.parse_args(argv)
    if torch is not None:
        torch.manual_seed(0)
    print(f"(B, C, L, E, heads) = ({B}, {C}, {L}, {E}, {H}); float32; torch "
          f"{torch.__version__ + ' ' + str(torch.get_num_threads()) + ' threads' if torch else 'not installed'}")
    run_table(cases(), args.rounds, args.repeats)


if __name__ == "__main__":
    main()
