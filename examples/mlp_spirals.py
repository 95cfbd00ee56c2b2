"""Train an MLP to separate two interleaved spirals: the training loop used throughout minigrad.

    python examples/mlp_spirals.py            # about a second; prints training and held-out accuracy
    python examples/mlp_spirals.py --json     # ... and the final metrics as one JSON line on stdout
    python examples/mlp_spirals.py --smoke    # a tiny run that only checks everything works
    python examples/mlp_spirals.py --device cuda   # the same run on a GPU (CuPy)

The loop is torch's idiom, unchanged:

    opt.zero_grad()                 # forget the previous step's gradients
    loss = loss_fn(model(x), y)     # forward: build the graph
    loss.backward()                 # backward: fill p.grad for every parameter
    opt.step()                      # update the parameters in place

and so is the evaluation: `model.eval()` and `with mg.no_grad():` on points the model was
not trained on (a second draw of the same spirals), to see that it learnt the spirals'
shape rather than the training points.

With matplotlib installed (`pip install minigrad[plot]`) it also writes a PNG of
the decision boundary.
"""
from __future__ import annotations

import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # _common.py, also when imported from a file path
import _common  # noqa: F401,E402  (first: repository root on sys.path, single-threaded BLAS)
from _common import Progress, Reporter, make_parser, parse_args_with_smoke, save_plot, set_seed

import numpy as np  # noqa: E402
import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402


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
    """The fraction of points whose larger logit is their class (evaluation mode, no graph)."""
    model.eval()
    with mg.no_grad():
        pred = model(x).argmax(-1)
    model.train()
    return (pred == y).float().mean().item()


def draw_decision_boundary(plt, model: nn.Module, x_np, y_np, scale: float, device="cpu") -> None:
    """The model's decision regions (p(class 1) as colour, the 0.5 contour in black) and the training points."""
    lim = 1.15 * float(np.abs(x_np).max())
    g = np.linspace(-lim, lim, 300, dtype=np.float32)
    gx, gy = np.meshgrid(g, g)
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    model.eval()
    with mg.no_grad():
        p1 = mg.F.softmax(model(mg.tensor(grid * scale, device=device)), dim=-1)[:, 1].cpu().numpy()
    p1 = p1.reshape(gx.shape)
    plt.gcf().set_size_inches(5, 5)
    plt.contourf(gx, gy, p1, levels=20, cmap="RdBu_r", alpha=0.6)
    plt.contour(gx, gy, p1, levels=[0.5], colors="k", linewidths=1)
    plt.scatter(x_np[:, 0], x_np[:, 1], c=y_np, cmap="RdBu_r", s=8, edgecolors="k", linewidths=0.3)
    plt.title("MLP decision boundary on two spirals")
    plt.gca().set_aspect("equal")


SMOKE = dict(points=20, steps=20, hidden=8, no_plot=True)


def main(argv=None) -> dict:
    p = make_parser(__doc__.split("\n")[0], default_outdir=os.path.join("runs", "mlp_spirals"))
    p.add_argument("--points", type=int, default=200, help="points per class (training; the test set is as large)")
    p.add_argument("--turns", type=float, default=3.0, help="turns of each spiral")
    p.add_argument("--noise", type=float, default=0.01, help="std of Gaussian noise added to the points")
    p.add_argument("--hidden", type=int, default=32, help="units in each of the two hidden layers")
    p.add_argument("--activation", choices=["tanh", "relu"], default="tanh")
    p.add_argument("--steps", type=int, default=1500, help="full-batch Adam steps")
    p.add_argument("--lr", type=float, default=0.02, help="Adam learning rate")
    p.add_argument("--plot", default=None, help="where to write the decision-boundary PNG (OUTDIR/mlp_spirals.png)")
    p.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    args = parse_args_with_smoke(p, argv, SMOKE)
    report = Reporter(args)
    set_seed(args.seed)

    x_np, y_np = make_spirals(args.points, args.turns, args.noise, args.seed)
    xt_np, yt_np = make_spirals(args.points, args.turns, args.noise, args.seed + 1)  # held out: a fresh draw
    scale = 3.0  # spread the inputs over tanh's responsive range
    x, y = mg.tensor(x_np * scale, device=args.device), mg.tensor(y_np, device=args.device)
    x_test, y_test = mg.tensor(xt_np * scale, device=args.device), mg.tensor(yt_np, device=args.device)

    model = make_model(args.hidden, args.activation).to(args.device)  # the one call that picks the device
    loss_fn = nn.CrossEntropyLoss()
    opt = mg.optim.Adam(model.parameters(), lr=args.lr)
    report.say(f"{model}\n{model.num_parameters()} parameters; {len(y_np)} training points, {len(yt_np)} held-out "
               f"points; {args.steps} full-batch Adam steps")

    t0 = time.perf_counter()
    bar = Progress(total=args.steps, desc="train", unit="points", quiet=args.quiet)
    for step in range(1, args.steps + 1):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        bar.update(items=len(y_np), loss=loss.item())
    bar.close()
    seconds = time.perf_counter() - t0

    model.eval()
    with mg.no_grad():
        final_loss = loss_fn(model(x), y).item()
    train_acc, test_acc = accuracy(model, x, y), accuracy(model, x_test, y_test)
    report.say(f"final training loss {final_loss:.4f}; accuracy {100 * train_acc:.2f}% on the training points, "
               f"{100 * test_acc:.2f}% on {len(yt_np)} held-out points ({seconds:.1f} s)")
    plot = None
    if not args.no_plot:
        path = args.plot or os.path.join(args.outdir, "mlp_spirals.png")
        plot = save_plot(path, lambda plt: draw_decision_boundary(plt, model, x_np, y_np, scale, args.device), report)

    return report.finish({"accuracy": train_acc, "test_accuracy": test_acc, "loss": final_loss, "steps": args.steps,
                          "points": int(len(y_np)), "parameters": model.num_parameters(),
                          "seconds": round(seconds, 3), "plot": plot})


if __name__ == "__main__":
    main()
