"""Per-op overhead: microseconds per op on tiny tensors, where bookkeeping dominates the arithmetic.

A chain of 100 elementwise ops (mul, add, tanh, scalar mul; 25 rounds) on 1- and
16-element float32 tensors, timed three ways for each framework in the same run:
forward+backward with grad recording, forward under no_grad, and (for NumPy) the
bare array arithmetic. Prints a table and the ratios to torch (when installed).

    python benchmarks/bench_overhead.py [--repeats 200]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import minigrad as mg

N_OPS = 100


def chain_minigrad(x, w):
    y = x
    for _ in range(N_OPS // 4):
        y = y * w
        y = y + x
        y = y.tanh()
        y = y * 0.5
    return y


def chain_numpy(x, w):
    y = x
    for _ in range(N_OPS // 4):
        y = y * w
        y = y + x
        y = np.tanh(y)
        y = y * 0.5
    return y


def timeit(fn, repeats):
    """Median seconds of `repeats` calls after a warm-up."""
    for _ in range(max(3, repeats // 10)):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(size, repeats):
    rng = np.random.default_rng(0)
    xa = rng.standard_normal(size).astype(np.float32)
    wa = rng.standard_normal(size).astype(np.float32)
    res = {}

    x = mg.tensor(xa, requires_grad=True)
    w = mg.tensor(wa, requires_grad=True)

    def mg_fb():
        x.grad = w.grad = None
        chain_minigrad(x, w).sum().backward()

    def mg_fwd():
        with mg.no_grad():
            chain_minigrad(x, w)

    res["minigrad fwd+bwd"] = timeit(mg_fb, repeats)
    res["minigrad no_grad"] = timeit(mg_fwd, repeats)
    res["numpy fwd"] = timeit(lambda: chain_numpy(xa, wa), repeats)
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        tx = torch.tensor(xa, requires_grad=True)
        tw = torch.tensor(wa, requires_grad=True)

        def t_fb():
            tx.grad = tw.grad = None
            chain_minigrad(tx, tw).sum().backward()

        def t_fwd():
            with torch.no_grad():
                chain_minigrad(tx, tw)

        res["torch fwd+bwd"] = timeit(t_fb, repeats)
        res["torch no_grad"] = timeit(t_fwd, repeats)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--sizes", default="1,16")
    args = ap.parse_args()
    print(f"chain of {N_OPS} elementwise ops, float32, median of {args.repeats} runs; us per op")
    print(f"{'size':>5} {'mode':<18} {'minigrad':>9} {'numpy':>8} {'torch':>8} {'ratio mg/torch':>15}")
    for size in [int(s) for s in args.sizes.split(",")]:
        r = run(size, args.repeats)
        for mode in ("fwd+bwd", "no_grad"):
            ours = r[f"minigrad {mode}"] / N_OPS * 1e6
            npy = r["numpy fwd"] / N_OPS * 1e6 if mode == "no_grad" else float("nan")
            tor = r.get(f"torch {mode}")
            tor_us = tor / N_OPS * 1e6 if tor else float("nan")
            ratio = f"{ours / tor_us:.2f}x" if tor else "n/a"
            print(f"{size:>5} {mode:<18} {ours:>9.2f} {npy:>8.2f} {tor_us:>8.2f} {ratio:>15}")


if __name__ == "__main__":
    main()
