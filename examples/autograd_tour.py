"""A tour of minigrad's autograd: tensors, backward, the graph, gradcheck, a custom op, devices.

Run: python examples/autograd_tour.py

1. A tensor that records what is done to it, and `backward()`.
2. The graph behind a loss, as Graphviz DOT text (`minigrad.viz.to_dot`), rendered to a
   picture with `minigrad.viz.render` when Graphviz's `dot` program is installed.
3. `gradcheck`: analytic gradients against float64 finite differences.
4. Your own op: a `minigrad.autograd.Function` subclass with forward and backward on raw
   arrays, checked by gradcheck and by a Hypothesis property test built from
   `minigrad.testing.strategies` (run here when `hypothesis` is installed).
5. `no_grad`: evaluate without recording a graph.
6. In-place writes: `hs[t] = h` in a hand-written loop is recorded in the graph, and a write
   that would spoil a value saved for backward is refused, naming the op.
7. Devices: the same model on 'cpu' and, when a GPU and CuPy are present, on 'cuda'.
"""
from __future__ import annotations

import math
import os
import time

import _common  # noqa: F401  (first: repository root on sys.path, single-threaded BLAS)
from _common import Reporter, make_parser, parse_args_with_smoke, set_seed

import numpy as np  # noqa: E402
import minigrad as mg  # noqa: E402
import models  # noqa: E402
from minigrad import nn  # noqa: E402
from minigrad.autograd import Function  # noqa: E402
from minigrad.testing import gradcheck  # noqa: E402


# ---------------------------------------------------------------- 4. a custom op
class LogCosh(Function):
    """y = log(cosh(x)), computed without overflow or cancellation; dy/dx = tanh(x).

    The naive `log(cosh(x))` overflows once cosh(x) does (|x| > ~89 in float32,
    ~710 in float64). Large |x|: |x| + log(1 + exp(-2|x|)) - log 2 never exponentiates
    anything larger than 1. Small |x|: that form subtracts nearly equal numbers (and
    came out slightly negative in float32 -- the property test below found it), so
    there we use log(1 + 2 sinh(x/2)^2), which is accurate near 0.
    """

    @staticmethod
    def forward(ctx, x):
        xp = mg.backend.get_array_module(x)  # numpy or cupy: the same code on every device
        a = xp.abs(x)
        e = xp.exp(-a)  # <= 1, and exp(-a)**2 rather than exp(-2a): -2a itself can overflow
        large = a + xp.log1p(e * e) - math.log(2.0)  # Python floats keep float32 float32
        s = xp.sinh(0.5 * xp.minimum(a, 1.0))  # clamped: only used where a < 1
        small = xp.log1p(2.0 * s * s)
        ctx.save_for_backward(x)
        return xp.where(a < 1.0, small, large)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors  # what forward saved (raw arrays here), as in torch
        xp = mg.backend.get_array_module(x)
        return grad * xp.tanh(x)  # one gradient per input, the input's shape and dtype


def logcosh(x):
    """The lowercase wrapper users call (as every op in minigrad.ops has)."""
    return LogCosh.apply(x)


def property_test(report, max_examples: int):
    """Hypothesis: for generated shapes and values, logcosh's gradient passes gradcheck and its value
    matches the naive formula; for huge float32 inputs it stays finite. Returns (status, examples run)."""
    try:
        from hypothesis import given, settings

        from minigrad.testing import strategies as mst
    except ImportError:
        report.say("  hypothesis is not installed: skipping the property test (pip install hypothesis)")
        return "skipped", 0
    runs = [0]

    @settings(max_examples=max_examples, deadline=None, database=None)
    @given(mst.tensors(shape=mst.shapes(max_dims=3, max_side=4), dtype="float64", requires_grad=True,
                       min_value=-20.0, max_value=20.0))
    def gradient_and_value(x):
        runs[0] += 1
        gradcheck(logcosh, x)
        y = logcosh(x).numpy()
        assert y.dtype == np.float64 and y.shape == x.shape
        np.testing.assert_allclose(y, np.log(np.cosh(x.numpy())), rtol=1e-12, atol=1e-12)

    @settings(max_examples=max_examples, deadline=None, database=None)
    @given(mst.tensors(shape=mst.shapes(max_dims=2), dtype="float32", min_value=-3e38, max_value=3e38))
    def finite_for_huge_float32(x):
        runs[0] += 1
        y = logcosh(x)
        assert y.dtype == mg.float32 and np.isfinite(y.numpy()).all() and (y.numpy() >= 0.0).all()

    gradient_and_value()
    finite_for_huge_float32()
    return "passed", runs[0]


# ---------------------------------------------------------------- 6. one model, two devices
def device_comparison(report, device: str):
    """Run an LSTM + Linear forward and backward on cpu and on `device` ('cuda' unless --device names
    another GPU); the largest difference, or None when there is no GPU here."""
    def run(device):
        set_seed(0)  # parameters come from the host generator: the same weights on every device
        lstm, head = models.LSTM(4, 8).to(device), nn.Linear(8, 1).to(device)
        x = mg.tensor(np.linspace(-1, 1, 5 * 3 * 4, dtype=np.float32).reshape(5, 3, 4), device=device)
        out, _ = lstm(x)
        loss = head(out).pow(2).mean()
        loss.backward()
        return [loss.numpy()] + [p.grad.numpy() for p in list(lstm.parameters()) + list(head.parameters())]

    cpu = run("cpu")
    report.say(f"  cpu : loss {float(cpu[0]):.7f}")
    if not mg.cuda.is_available():
        report.say("  cuda: not available here (needs a GPU and CuPy: pip install minigrad[gpu]); skipped")
        return None
    gpu = run(device)
    diff = max(float(np.abs(a - b).max()) for a, b in zip(cpu, gpu))
    report.say(f"  {device}: loss {float(gpu[0]):.7f}; largest difference in loss and gradients {diff:.2e} "
               "(float32 sums in a different order)")
    return diff


def main(argv=None) -> dict:
    parser = make_parser(__doc__.split("\n\n")[0], default_outdir=os.path.join("runs", "autograd_tour"))
    args = parse_args_with_smoke(parser, argv, {})  # --smoke: fewer Hypothesis examples (below)
    report = Reporter(args)
    say = report.say
    set_seed(args.seed)
    t_start = time.perf_counter()
    os.makedirs(args.outdir, exist_ok=True)

    # 1. A tensor that records what is done to it.
    say("1. backward")
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()  # y = sum x_i^2
    y.backward()       # dy/dx = 2x
    say("  x      =", x)
    say("  y      =", y)
    say("  dy/dx  =", x.grad, "(expected 2x)")

    # 2. The graph behind a small loss.
    say("\n2. the graph of loss = mean(tanh(inp @ w + b) ** 2)")
    w = mg.randn(3, 2, dtype="float64", requires_grad=True)
    b = mg.zeros(2, dtype="float64", requires_grad=True)
    inp = mg.randn(4, 3, dtype="float64")
    loss = ((inp @ w + b).tanh() ** 2).mean()
    names = {w: "w", b: "b", inp: "inp", loss: "loss"}
    dot = mg.viz.to_dot(loss, names=names)
    say(dot)
    dot_path = os.path.join(args.outdir, "graph.dot")
    with open(dot_path, "w") as f:
        f.write(dot + "\n")
    say(f"  (DOT text written to {dot_path}; boxes are tensors, ellipses ops, arrows the forward direction)")
    try:
        picture = mg.viz.render(loss, os.path.join(args.outdir, "graph.png"), names=names)
        say(f"  (rendered with Graphviz: {picture})")
    except RuntimeError as e:
        picture = None
        say(f"  (no picture: {e})")
    n_ops = dot.count("shape=ellipse")

    # 3. Gradients, checked against finite differences.
    say("\n3. gradcheck")
    loss.backward()
    say("  d loss / dw =")
    say(w.grad)
    ok = gradcheck(lambda w, b: ((inp @ w + b).tanh() ** 2).mean(), w, b, raise_exception=False)
    say("  gradcheck against finite differences:", "passed" if ok else "FAILED")

    # 4. A custom op.
    say("\n4. a custom op: LogCosh (forward: stable log cosh; backward: grad * tanh(x))")
    big = mg.tensor([-1000.0, -1.0, 0.0, 1.0, 1000.0], dtype=mg.float32, requires_grad=True)
    out = logcosh(big)
    out.sum().backward()
    with np.errstate(over="ignore"):
        naive = np.log(np.cosh(big.numpy()))
    say(f"  logcosh({big.tolist()}) = {out.tolist()}")
    say(f"  naive log(cosh(x))      = {naive.tolist()}  (overflows)")
    say(f"  gradient tanh(x)        = {big.grad.tolist()}")
    ok_custom = gradcheck(logcosh, mg.randn(2, 3, dtype="float64", requires_grad=True), raise_exception=False)
    say("  gradcheck:", "passed" if ok_custom else "FAILED")
    say("  Hypothesis property test (generated shapes and values):")
    status, examples = property_test(report, max_examples=10 if args.smoke else 40)
    if status == "passed":
        say(f"  property test passed on {examples} generated examples")

    # 5. no_grad
    say("\n5. no_grad")
    with mg.no_grad():
        z = (inp @ w).tanh()
    say("  under no_grad, requires_grad =", z.requires_grad, "and grad_fn =", z.grad_fn)

    # 6. In-place writes
    say("\n6. in place: a hand-written RNN loop that fills a buffer, hs[t] = h")
    W = mg.randn(3, 3, dtype="float64").mul_(0.5).requires_grad_()
    h0 = mg.randn(2, 3, dtype="float64")
    grads = []
    for fill in ("buffer", "stack"):
        W.grad, h, steps = None, h0, []
        hs = mg.zeros(4, 2, 3, dtype="float64")
        for t in range(4):
            h = (h @ W).tanh()
            if fill == "buffer":
                hs[t] = h  # recorded: hs joins the graph, one node per write
            else:
                steps.append(h)
        if fill == "stack":
            hs = mg.stack(steps)
        (hs ** 2).sum().backward()
        grads.append(W.grad.numpy().copy())
    inplace_ok = bool(np.allclose(grads[0], grads[1], rtol=1e-12))
    say("  W.grad through the buffer equals W.grad through mg.stack:", inplace_ok)
    y = W.exp()  # exp saves its output for backward (d exp(x)/dx = exp(x))
    with mg.no_grad():
        y.mul_(2.0)  # ... which this write spoils
    try:
        y.sum().backward()
        refused = False
    except RuntimeError as e:
        refused = True
        say("  a write to a value saved for backward is refused:\n   ", e)

    # 7. devices
    say("\n7. the same LSTM on each device")
    diff = device_comparison(report, "cuda" if args.device == "cpu" else args.device)

    return report.finish({
        "gradcheck": bool(ok), "gradcheck_custom_op": bool(ok_custom), "hypothesis": status,
        "hypothesis_examples": examples, "naive_overflows": bool(np.isinf(naive).any()),
        "inplace_matches_stack": inplace_ok, "stale_write_refused": refused,
        "logcosh_finite": bool(np.isfinite(out.numpy()).all()), "dot_ops": n_ops, "dot_path": dot_path,
        "picture": picture, "cuda": diff is not None, "cpu_cuda_max_diff": diff,
        "seconds": round(time.perf_counter() - t_start, 2),
    })


if __name__ == "__main__":
    main()
