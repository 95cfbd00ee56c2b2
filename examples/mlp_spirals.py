"""Train an MLP to separate two interleaved spirals: the training loop used throughout minigrad.

    python examples/mlp_spirals.py            # about a second or two; prints the final accuracy
    python examples/mlp_spirals.py --json     # final metrics as one JSON line on stdout
    python examples/mlp_spirals.py --smoke    # a tiny run that only checks everything works
    python examples/mlp_spirals.py --device cuda   # the same run on a GPU (CuPy)

The loop is torch's idiom, unchanged:

    opt.zero_grad()                 # forget the previous step's gradients
    loss = loss_fn(model(x), y)     # forward: build the graph
    loss.backward()                 # backward: fill p.grad for every parameter
    opt.step()                      # update the parameters in place

With matplotlib installed (`pip install minigrad[plot]`) it also writes a PNG of
the decision boundary.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np

import minigrad as mg
import minigrad.optim  # noqa: F401  (mg.optim)
from minigrad import nn


def make_spirals(n_per_class: int, turns: float = 3.0, noise: float = 0.0, seed: int = 0):
    """Two spirals of `turns` turns each; class 1 is class 0 rotated by pi.

    Returns:
        x: float32 (2 * n_per_class, 2) points; y: int64 (2 * n_per_class,) labels 0/1.
    """
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.random(n_per_class)) * turns * 2 * math.pi  # sqrt: even spacing along the arm
    r = t / (turns * 2 * math.pi)  # radius grows from 0 to 1
    xs, ys = [], []
    for c in (0, 1):
        angle = t + c * math.pi
        pts = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1)
        xs.append(pts + noise * rng.standard_normal(pts.shape))
        ys.append(np.full(n_per_class, c))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


def make_model(hidden: int, activation: str = "tanh") -> nn.Module:
    act = {"tanh": nn.Tanh, "relu": nn.ReLU}[activation]
    return nn.Sequential(
        nn.Linear(2, hidden), act(),
        nn.Linear(hidden, hidden), act(),
        nn.Linear(hidden, 2),  # two logits: CrossEntropyLoss takes the class dimension last
    )


def accuracy(model: nn.Module, x, y) -> float:
    with mg.no_grad():
        pred = model(x).argmax(-1)
    return float((pred.numpy() == y.numpy()).mean())


class Progress:
    """tqdm when it is installed, else one self-overwriting text line."""

    def __init__(self, total: int, enabled: bool, stream):
        self.total, self.enabled, self.stream = total, enabled, stream
        self.bar = None
        self.n = 0
        self.t0 = time.perf_counter()
        if enabled:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc="training", file=stream, leave=True)
            except ImportError:
                pass

    def update(self, n: int, **metrics):
        self.n += n
        if not self.enabled:
            return
        text = " ".join(f"{k}={v:.4f}" for k, v in metrics.items())
        if self.bar is not None:
            self.bar.update(n)
            self.bar.set_postfix_str(text)
            return
        width = 30
        done = int(width * self.n / self.total)
        rate = self.n / max(time.perf_counter() - self.t0, 1e-9)
        self.stream.write(f"\rtraining [{'#' * done}{'.' * (width - done)}] {self.n}/{self.total} "
                          f"{rate:.0f} it/s {text}")
        self.stream.flush()

    def close(self):
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.close()
        else:
            self.stream.write("\n")
            self.stream.flush()


def plot_decision_boundary(model: nn.Module, x_np, y_np, scale: float, path: str, log, device="cpu") -> bool:
    """Write a PNG of the model's decision regions with the training points; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed, so no decision-boundary plot was written "
            "(install it with `pip install minigrad[plot]` or `pip install matplotlib`).")
        return False
    lim = 1.15 * float(np.abs(x_np).max())
    g = np.linspace(-lim, lim, 300, dtype=np.float32)
    gx, gy = np.meshgrid(g, g)
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    with mg.no_grad():
        p1 = mg.F.softmax(model(mg.tensor(grid * scale, device=device)), dim=-1).numpy()[:, 1].reshape(gx.shape)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.contourf(gx, gy, p1, levels=20, cmap="RdBu_r", alpha=0.6)
    ax.contour(gx, gy, p1, levels=[0.5], colors="k", linewidths=1)
    ax.scatter(x_np[:, 0], x_np[:, 1], c=y_np, cmap="RdBu_r", s=8, edgecolors="k", linewidths=0.3)
    ax.set_title("MLP decision boundary on two spirals")
    ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    log(f"decision boundary written to {path}")
    return True


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=200, help="points per class")
    ap.add_argument("--turns", type=float, default=3.0, help="turns of each spiral")
    ap.add_argument("--noise", type=float, default=0.01, help="std of Gaussian noise added to the points")
    ap.add_argument("--hidden", type=int, default=32, help="units in each of the two hidden layers")
    ap.add_argument("--activation", choices=["tanh", "relu"], default="tanh")
    ap.add_argument("--steps", type=int, default=1500, help="full-batch Adam steps")
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="'cpu' or 'cuda' (needs CuPy and a GPU)")
    ap.add_argument("--plot", default="mlp_spirals.png", help="where to write the decision-boundary PNG")
    ap.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    ap.add_argument("--json", action="store_true", help="print the final metrics as one JSON line on stdout")
    ap.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    ap.add_argument("--smoke", action="store_true", help="a tiny, fast run (checks the script works; no plot)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.points, args.steps, args.hidden, args.no_plot = 20, 20, 8, True

    # Human-readable output goes to stderr when stdout is reserved for the JSON line.
    stream = sys.stderr if args.json else sys.stdout

    def log(msg):
        if not args.quiet:
            print(msg, file=stream)

    mg.manual_seed(args.seed)
    x_np, y_np = make_spirals(args.points, args.turns, args.noise, args.seed)
    scale = 3.0  # spread the inputs over tanh's responsive range
    x, y = mg.tensor(x_np * scale, device=args.device), mg.tensor(y_np, device=args.device)

    model = make_model(args.hidden, args.activation).to(args.device)  # the one call that picks the device
    loss_fn = nn.CrossEntropyLoss()
    opt = mg.optim.Adam(model.parameters(), lr=args.lr)
    log(f"{model}\n{model.num_parameters()} parameters, {len(y_np)} points, {args.steps} Adam steps")

    t0 = time.perf_counter()
    bar = Progress(args.steps, enabled=not args.quiet, stream=stream)
    every = max(1, args.steps // 100)  # refresh the bar about 100 times
    for step in range(1, args.steps + 1):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if step % every == 0 or step == args.steps:
            bar.update(step - bar.n, loss=loss.item())
    bar.close()
    seconds = time.perf_counter() - t0

    with mg.no_grad():
        final_loss = loss_fn(model(x), y).item()
    acc = accuracy(model, x, y)
    log(f"final training loss {final_loss:.4f}, accuracy {100 * acc:.2f}% ({seconds:.1f} s)")
    plotted = False
    if not args.no_plot:
        plotted = plot_decision_boundary(model, x_np, y_np, scale, args.plot, log, args.device)

    metrics = {"accuracy": acc, "loss": final_loss, "steps": args.steps, "points": int(len(y_np)),
               "parameters": model.num_parameters(), "seconds": round(seconds, 3),
               "plot": args.plot if plotted else None}
    if args.json:
        print(json.dumps(metrics))
    return metrics


if __name__ == "__main__":
    main()
