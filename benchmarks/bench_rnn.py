"""One training step of RNN / LSTM / GRU: minigrad's fused sequence ops against torch, same run.

A step is: forward over the whole sequence, a loss (sum of the outputs, or MSE
against a fixed target with --loss mse), backward into every parameter (the input
needs no gradient, as for a first layer fed with data). float32, time-major,
one layer, one direction, zero initial state. Each framework runs its block of
steps (warm-up, then --repeats timed steps; the median is reported) with a short
pause between blocks, because both libraries' BLAS/OpenMP threads spin for a while
after a call and would steal the 2 cores from the other one if interleaved.

    python benchmarks/bench_rnn.py [--configs A,B,C] [--cells rnn,lstm,gru] [--repeats 15]
                                   [--rounds 2] [--device cpu|cuda] [--layer] [--loss sum|mse]
                                   [--clock wall|cpu] [--torch-onednn default|off] [--tf32 off|torch|both]

Configurations (batch, seq, input, hidden): A (32, 64, 128, 256), B (1, 100, 64, 128),
C (128, 32, 256, 512), and L (256, 128, 512, 1024), the large GPU configuration
(`--device cuda --configs A,B,C,L`; its target, LSTM within 2x torch CUDA, applies there). `--layer` times `models.RNN/LSTM/GRU` (fused=True) instead of
the ops from `minigrad.ops.recurrent` directly. `--device cuda` runs minigrad on CuPy
(and torch on CUDA when it has it; otherwise ours only). `--torch-onednn off` times torch with
oneDNN disabled: on the CPU, torch 2.x runs nn.LSTM as oneDNN's fused kernel by default, while
its GRU and RNN always run on ordinary ops; this puts the LSTM on the same footing.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import minigrad as mg  # noqa: E402
from minigrad.ops.recurrent import gru_sequence, lstm_sequence, rnn_sequence  # noqa: E402

CONFIGS = {  # name: (batch, seq, input, hidden)
    "A": (32, 64, 128, 256),
    "B": (1, 100, 64, 128),
    "C": (128, 32, 256, 512),
    "L": (256, 128, 512, 1024),  # the large GPU configuration (not part of the CPU default run)
}
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
# Targets: our time / torch's time, CPU float32 (from the issue).
TARGETS = {("lstm", "A"): 1.15, ("lstm", "C"): 1.15, ("lstm", "B"): 1.5}
DEFAULT_TARGET = 1.0
# On a GPU (against torch CUDA / cuDNN) the issue sets one target: LSTM at L within 2x.
CUDA_TARGETS = {("lstm", "L"): 2.0}


def target_for(cell: str, config: str, device: str):
    """The target ratio (ours / torch) for this row, or None where the issues set none."""
    if device != "cpu":
        return CUDA_TARGETS.get((cell, config))
    return None if config == "L" else TARGETS.get((cell, config), DEFAULT_TARGET)


def sync(device):
    if device != "cpu":
        mg.backend.cupy.cuda.Device().synchronize()


CLOCK = time.perf_counter  # --clock cpu: time.process_time (all threads' CPU time of this process)


def timeit(step, repeats, warmup, device):
    """Per-call seconds of `repeats` calls of `step` after `warmup` untimed ones."""
    for _ in range(warmup):
        step()
    sync(device)
    times = []
    for _ in range(repeats):
        t0 = CLOCK()
        step()
        sync(device)
        times.append(CLOCK() - t0)
    return times


def _loadavg():
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "n/a"


def make_weights(cell, I, H, seed=0):
    """Host float32 arrays w_ih, w_hh, b_ih, b_hh from U(-1/sqrt(H), 1/sqrt(H)), torch's init."""
    rng = np.random.default_rng(seed)
    k = 1.0 / np.sqrt(H)
    G = GATES[cell]
    return [rng.uniform(-k, k, shape).astype(np.float32) for shape in ((G * H, I), (G * H, H), (G * H,), (G * H,))]


def minigrad_step(cell, cfg, device, loss_kind, layer):
    B, T, I, H = cfg
    rng = np.random.default_rng(1)
    x = mg.tensor(rng.standard_normal((T, B, I)).astype(np.float32), device=device)
    target = mg.tensor(rng.standard_normal((T, B, H)).astype(np.float32), device=device)
    if layer:
        import models

        mg.manual_seed(0)
        module = {"rnn": models.RNN, "lstm": models.LSTM, "gru": models.GRU}[cell](I, H, fused=True).to(device)
        params = list(module.parameters())

        def forward():
            return module(x)[0]
    else:
        params = [mg.tensor(w, device=device, requires_grad=True) for w in make_weights(cell, I, H)]
        h0 = mg.zeros(B, H, device=device)
        c0 = mg.zeros(B, H, device=device)

        def forward():
            if cell == "rnn":
                return rnn_sequence(x, h0, *params)[0]
            if cell == "lstm":
                return lstm_sequence(x, h0, c0, *params)[0]
            return gru_sequence(x, h0, *params)[0]

    def step():
        for p in params:
            p.grad = None
        out = forward()
        loss = out.sum() if loss_kind == "sum" else mg.functional.mse_loss(out, target)
        loss.backward()

    return step


def torch_step(torch, cell, cfg, device, loss_kind):
    B, T, I, H = cfg
    rng = np.random.default_rng(1)
    module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](I, H).to(device)
    with torch.no_grad():
        for p, w in zip((module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0, module.bias_hh_l0),
                        make_weights(cell, I, H)):
            p.copy_(torch.from_numpy(w))
    x = torch.from_numpy(rng.standard_normal((T, B, I)).astype(np.float32)).to(device)
    target = torch.from_numpy(rng.standard_normal((T, B, H)).astype(np.float32)).to(device)

    def step():
        module.zero_grad(set_to_none=True)
        out = module(x)[0]
        loss = out.sum() if loss_kind == "sum" else torch.nn.functional.mse_loss(out, target)
        loss.backward()

    def sync_step():
        if TORCH_ONEDNN is None:
            step()
        else:
            with torch.backends.mkldnn.flags(enabled=TORCH_ONEDNN):
                step()
        if device != "cpu":
            torch.cuda.synchronize()

    return sync_step


TORCH_ONEDNN = None  # --torch-onednn off: torch's CPU LSTM on aten ops instead of oneDNN's fused kernel


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default="A,B,C")
    ap.add_argument("--cells", default="rnn,lstm,gru")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2,
                    help="alternate the two frameworks' blocks this many times (repeats per block)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--layer", action="store_true", help="time models.RNN/LSTM/GRU instead of the raw ops")
    ap.add_argument("--loss", default="sum", choices=["sum", "mse"])
    ap.add_argument("--clock", default="wall", choices=["wall", "cpu"],
                    help="wall: elapsed time (the default, what targets refer to); cpu: process CPU time, "
                         "which a busy shared machine disturbs less (meaningful with 1 thread per library: "
                         "OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1)")
    ap.add_argument("--pause", type=float, default=0.5, help="seconds between the two frameworks' blocks")
    ap.add_argument("--tf32", default="off", choices=["off", "torch", "both"],
                    help="on CUDA: 'off' (the default) runs both in full float32; 'torch' keeps torch's "
                         "defaults, where cuDNN's RNNs use TF32 tensor cores (10-bit mantissa products) on "
                         "Ampere and later GPUs, against ours in float32; 'both' also lets ours use TF32 "
                         "(mg.backends.cuda.matmul.allow_tf32 = True)")
    ap.add_argument("--torch-onednn", default="default", choices=["default", "off"],
                    help="off: run torch with oneDNN disabled (torch.backends.mkldnn), so its CPU LSTM uses aten "
                         "ops as its GRU and RNN do, instead of oneDNN's fused LSTM kernel")
    args = ap.parse_args(argv)
    if args.repeats < 1 or args.rounds < 1:
        ap.error("--repeats and --rounds must be >= 1")
    configs = [c.strip().upper() for c in args.configs.split(",") if c.strip()]
    cells = [c.strip().lower() for c in args.cells.split(",") if c.strip()]
    for c in configs:
        if c not in CONFIGS:
            ap.error(f"unknown config {c!r}; choose from {', '.join(CONFIGS)}")
    for c in cells:
        if c not in GATES:
            ap.error(f"unknown cell {c!r}; choose from {', '.join(GATES)}")
    global CLOCK, TORCH_ONEDNN
    CLOCK = time.perf_counter if args.clock == "wall" else time.process_time
    TORCH_ONEDNN = None if args.torch_onednn == "default" else False
    if TORCH_ONEDNN is not None:  # torch notes once that TF32-on-oneDNN needs an Intel GPU: not our concern
        warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")
    device = args.device
    if device == "cuda" and not mg.cuda_available():
        ap.error("--device cuda: CuPy finds no GPU here")

    try:
        import torch
    except ImportError:
        torch = None
    torch_device = device
    if torch is not None and device == "cuda" and not torch.cuda.is_available():
        torch = None  # CuPy vs nothing: report ours only
    tf32_note = ""
    if device == "cuda":
        mg.backends.cuda.matmul.allow_tf32 = args.tf32 == "both"
        tf32_note = f"TF32: minigrad {mg.backends.cuda.matmul.allow_tf32}"
        if torch is not None:
            if args.tf32 == "off":  # the same arithmetic as ours: full float32 products
                torch.backends.cudnn.allow_tf32 = False
                torch.backends.cuda.matmul.allow_tf32 = False
            tf32_note += (f", torch cudnn {torch.backends.cudnn.allow_tf32} / "
                          f"matmul {torch.backends.cuda.matmul.allow_tf32}")
        tf32_note += "; "

    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                                          "OPENBLAS_THREAD_TIMEOUT", "OMP_NUM_THREADS", "MINIGRAD_ROW_THREADS")}
    print(f"# bench_rnn: {time.strftime('%Y-%m-%d')}, {platform.machine()} {os.cpu_count()} CPU(s), "
          f"python {platform.python_version()}, numpy {np.__version__}"
          + (f", torch {torch.__version__} ({torch.get_num_threads()} threads)" if torch is not None else ", no torch"))
    print(f"# device {device}; env " + ", ".join(f"{k}={v}" for k, v in env.items()))
    blocks = len(mg.backend.row_blocks(mg.backend.np, 128))
    print(f"# a batch of 128 rows runs as {blocks} row block(s) on parallel threads (see README, Threads)")
    print(f"# one training step (forward, {args.loss} loss, backward), float32, median of {args.rounds} x "
          f"{args.repeats} steps (each block after {args.warmup} warm-up); "
          f"{'models layers' if args.layer else 'fused ops'}; {args.clock} clock; "
          f"{'torch with oneDNN off; ' if args.torch_onednn == 'off' else ''}{tf32_note}"
          f"last column: fastest step, ours / torch; load average {_loadavg()}")
    header = (f"{'cfg':<4}{'cell':<6}{'(B, T, I, H)':<22}{'minigrad ms':>12}{'torch ms':>10}{'ratio':>8}"
              f"{'target':>8}  met")
    print(header)
    print("-" * len(header))
    rows = []
    for cname in configs:
        cfg = CONFIGS[cname]
        for cell in cells:
            ours_step = minigrad_step(cell, cfg, device, args.loss, args.layer)
            torch_fn = torch_step(torch, cell, cfg, torch_device, args.loss) if torch is not None else None
            ours_t, theirs_t = [], []
            # Alternate the two frameworks' blocks so that a change in machine load hits both.
            for _ in range(args.rounds):
                ours_t += timeit(ours_step, args.repeats, args.warmup, device)
                time.sleep(args.pause)
                if torch_fn is not None:
                    theirs_t += timeit(torch_fn, args.repeats, args.warmup, "cpu")
                    time.sleep(args.pause)
            ours = statistics.median(ours_t)
            theirs = statistics.median(theirs_t) if theirs_t else None
            target = target_for(cell, cname, device)
            shape = f"({cfg[0]}, {cfg[1]}, {cfg[2]}, {cfg[3]})"
            mins = f"   min {min(ours_t) * 1e3:.2f}" + (f" / {min(theirs_t) * 1e3:.2f}" if theirs_t else "")
            if theirs is None:
                print(f"{cname:<4}{cell:<6}{shape:<22}{ours * 1e3:>12.2f}{'-':>10}{'-':>8}{'-':>8}     {mins}")
            else:
                ratio = ours / theirs
                met = "-  " if target is None else ("yes" if ratio <= target else "NO ")
                shown = "-" if target is None else "<=" + format(target, ".2f")
                print(f"{cname:<4}{cell:<6}{shape:<22}{ours * 1e3:>12.2f}{theirs * 1e3:>10.2f}{ratio:>8.2f}"
                      f"{shown:>8}  {met}{mins}", flush=True)
            rows.append((cname, cell, ours, theirs))
    print(f"# load average at the end: {_loadavg()}")
    return rows


if __name__ == "__main__":
    main()
