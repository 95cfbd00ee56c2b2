"""How fast can a recurrent training step be when it is built from BLAS calls? The matrix-product floor.

A fused recurrent op (ours, or torch's aten RNN/GRU) does a training step with these
matrix products and nothing cleverer (B batch, T steps, I input, H hidden, G gates):

    forward   X1 @ W1^T              (T*B, I+1) @ (I+1, G*H)   the input projection, bias included
              h_{t-1} @ W_hh^T       (B, H) @ (H, G*H)          once per step, T times, one after another
    backward  dG_t @ W_hh            (B, G*H) @ (G*H, H)        once per step, T times, one after another
              dG^T @ H_prev          (G*H, T*B) @ (T*B, H)      dW_hh
              dG^T @ X1              (G*H, T*B) @ (T*B, I+1)    [dW_ih | db]

This script times exactly those products, with nothing else (no gate arithmetic, no
Python bookkeeping beyond the calls), twice: through NumPy (its OpenBLAS: what minigrad
calls) and through torch.mm (torch's own CPU BLAS), and sets both against

- minigrad's whole training step (`minigrad.ops.recurrent`, as in bench_rnn.py), and
- torch's whole training step (`torch.nn.LSTM` etc.; on the CPU torch runs its LSTM as
  oneDNN's fused RNN primitive, whose matrix products and gate arithmetic share one JIT
  kernel, and its GRU and RNN as aten ops).

If "products only" is already close to or above torch's whole step, no arrangement of
NumPy (or aten) calls around those products can reach that step time: the remaining
gap is BLAS-call efficiency at these sizes, not the gate arithmetic.

    python benchmarks/bench_rnn_floor.py [--configs A,B,C] [--cells lstm,gru,rnn] [--repeats 15] [--rounds 2]

A timing script, not a test: all figures of one row come from the same run, alternating
blocks with a pause between them (both libraries' BLAS threads spin after a call).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_rnn import CONFIGS, GATES, make_weights, minigrad_step, timeit, torch_step  # noqa: E402


def numpy_products(cell, cfg):
    """One call runs the products of one training step through NumPy, on the step's real shapes."""
    B, T, I, H = cfg
    GH = GATES[cell] * H
    rng = np.random.default_rng(2)
    x1 = rng.standard_normal((T * B, I + 1)).astype(np.float32)
    w1 = rng.standard_normal((GH, I + 1)).astype(np.float32)
    w_hh = rng.standard_normal((GH, H)).astype(np.float32)
    # the per-step right operand as minigrad makes it: row-major W_hh^T, rows padded by one cache line
    whhT = np.empty((H, GH + 16), dtype=np.float32)[:, :GH]
    whhT[...] = w_hh.T
    hs = (0.01 * rng.standard_normal((T + 1, B, H))).astype(np.float32)
    dG = (0.01 * rng.standard_normal((T, B, GH))).astype(np.float32)
    rec = np.empty((B, GH), dtype=np.float32)
    carry = np.empty((B, H), dtype=np.float32)

    def step():
        x1 @ w1.T
        for t in range(T):
            np.matmul(hs[t], whhT, out=rec)
        for t in range(T - 1, -1, -1):
            np.matmul(dG[t], w_hh, out=carry)
        dG2 = dG.reshape(T * B, GH)
        dG2.T @ hs[:T].reshape(T * B, H)
        dG2.T @ x1

    return step


def torch_products(torch, cell, cfg):
    """The same products through torch.mm (torch's CPU BLAS), on the same shapes."""
    B, T, I, H = cfg
    GH = GATES[cell] * H
    g = torch.Generator().manual_seed(2)
    x1 = torch.randn(T * B, I + 1, generator=g)
    w1 = torch.randn(GH, I + 1, generator=g)
    w_hh = torch.randn(GH, H, generator=g)
    whhT = w_hh.t().contiguous()
    hs = 0.01 * torch.randn(T + 1, B, H, generator=g)
    dG = 0.01 * torch.randn(T, B, GH, generator=g)
    rec = torch.empty(B, GH)
    carry = torch.empty(B, H)

    def step():
        with torch.no_grad():
            x1 @ w1.t()
            for t in range(T):
                torch.mm(hs[t], whhT, out=rec)
            for t in range(T - 1, -1, -1):
                torch.mm(dG[t], w_hh, out=carry)
            dG2 = dG.reshape(T * B, GH)
            dG2.t() @ hs[:T].reshape(T * B, H)
            dG2.t() @ x1

    return step


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default="A,B,C")
    ap.add_argument("--cells", default="lstm,gru,rnn")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--pause", type=float, default=0.5)
    args = ap.parse_args(argv)
    try:
        import torch
    except ImportError:
        torch = None
    configs = [c.strip().upper() for c in args.configs.split(",") if c.strip()]
    cells = [c.strip().lower() for c in args.cells.split(",") if c.strip()]
    for c in configs:
        if c not in CONFIGS or c == "L":
            ap.error(f"unknown CPU config {c!r}; choose from A, B, C")
    for c in cells:
        if c not in GATES:
            ap.error(f"unknown cell {c!r}; choose from {', '.join(GATES)}")

    print(f"# bench_rnn_floor: {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPU(s), numpy {np.__version__}, "
          f"torch {getattr(torch, '__version__', 'absent')}"
          + (f" ({torch.get_num_threads()} threads)" if torch else ""))
    print("# one training step, float32, medians (ms); products: only the matrix products such a step needs")
    head = (f"{'cfg':<4}{'cell':<6}{'minigrad step':>14}{'products (NumPy)':>18}{'products (torch.mm)':>21}"
            f"{'torch step':>12}{'ours/torch':>12}{'NumPy products/torch':>22}")
    print(head)
    print("-" * len(head))
    for cname in configs:
        cfg = CONFIGS[cname]
        for cell in cells:
            runs = {"ours": minigrad_step(cell, cfg, "cpu", "sum", False), "np_mm": numpy_products(cell, cfg)}
            if torch is not None:
                runs["torch_mm"] = torch_products(torch, cell, cfg)
                runs["torch"] = torch_step(torch, cell, cfg, "cpu", "sum")
            times = {k: [] for k in runs}
            for _ in range(args.rounds):
                for name, step in runs.items():
                    times[name] += timeit(step, args.repeats, args.warmup, "cpu")
                    time.sleep(args.pause)
            ms = {k: statistics.median(v) * 1e3 for k, v in times.items()}
            tmm = f"{ms['torch_mm']:.2f}" if "torch_mm" in ms else "-"
            tst = f"{ms['torch']:.2f}" if "torch" in ms else "-"
            r1 = f"{ms['ours'] / ms['torch']:.2f}" if "torch" in ms else "-"
            r2 = f"{ms['np_mm'] / ms['torch']:.2f}" if "torch" in ms else "-"
            print(f"{cname:<4}{cell:<6}{ms['ours']:>14.2f}{ms['np_mm']:>18.2f}{tmm:>21}{tst:>12}{r1:>12}{r2:>22}",
                  flush=True)


if __name__ == "__main__":
    main()
