"""What every example shares, so the examples themselves can stay about the model.

* `make_parser` -- the common flags: --smoke (seconds-long run for tests), --quiet,
  --json (final metrics as one JSON line on stdout), --seed, --device, --outdir;
* `parse_args_with_smoke` -- parse, stop with a clear usage error if --device names no device
  present here (e.g. 'cuda' without a GPU), and with --smoke switch to the example's small configuration;
* `Progress` -- a progress bar with loss and throughput: tqdm when it is installed,
  else a small built-in text bar (on stderr, so stdout stays clean for --json);
* `Reporter` -- prints unless --quiet, and `finish` prints the final metrics
  (a table, or one JSON line with --json);
* `save_plot` -- writes a PNG with matplotlib's Agg backend when matplotlib is
  importable, and says clearly when it is not (the base install is NumPy only).

Run from anywhere: `python examples/char_lm.py`. Import this module FIRST in an example:

* it puts the repository root on sys.path, so `import models` finds the in-tree package
  even without an install;
* it asks BLAS for one thread (unless OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS
  are already set) before NumPy is imported. The examples multiply small matrices
  (batch 32 x hidden 128); for those, extra BLAS threads cost more in synchronisation than
  they save, and on a busy machine they spin for cores: we measured a char-LM step 5-10x
  slower with OpenBLAS's default threads on a loaded 2-core box.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # only takes effect if NumPy is not imported yet

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)  # the in-tree minigrad/ and models/ come first

import minigrad as mg  # noqa: E402

__all__ = ["make_parser", "parse_args_with_smoke", "check_device", "Progress", "Reporter", "save_plot",
           "matplotlib_available", "outdir_for", "fmt_vec", "set_seed"]


# ---------------------------------------------------------------- arguments
def make_parser(description: str, default_outdir: str) -> argparse.ArgumentParser:
    """An ArgumentParser with the flags every example understands.

    Args:
        description: the example's one-paragraph summary (shown by --help).
        default_outdir: where plots and checkpoints go unless --outdir says otherwise.
    """
    p = argparse.ArgumentParser(description=description, formatter_class=_HelpFormatter)
    g = p.add_argument_group("common options")
    g.add_argument("--smoke", action="store_true",
                   help="a tiny configuration that runs in seconds (used by the test suite)")
    g.add_argument("--quiet", action="store_true", help="print nothing but errors (and the --json line)")
    g.add_argument("--json", action="store_true", help="print the final metrics as one JSON line on stdout")
    g.add_argument("--seed", type=int, default=0, help="random seed (minigrad and the data generator)")
    g.add_argument("--device", default="cpu", help="'cpu' or 'cuda' (needs CuPy and a GPU)")
    g.add_argument("--outdir", default=default_outdir, help="directory for plots and checkpoints")
    return p


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """--help shows every option's default (argparse's own formatter skips options without a
    help text), but not the uninformative ones: None, or False for an on/off flag."""

    def _format_action(self, action):
        if not action.help and action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
            action = copy.copy(action)
            action.help = "(default: %(default)s)"
        return super()._format_action(action)

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def check_device(parser: argparse.ArgumentParser, device: str) -> None:
    """Stop with a usage error (exit status 2) when `device` is misspelt or not present here,
    before any data is made or any model built."""
    try:
        mg.backend.parse_device(device)
    except (ValueError, TypeError, RuntimeError) as e:
        parser.error(f"--device {device}: {e}")


def parse_args_with_smoke(parser: argparse.ArgumentParser, argv, smoke: dict) -> argparse.Namespace:
    """parser.parse_args(argv), with --device checked; with --smoke, the options named in `smoke`
    take those values.

    Only options not given on the command line are replaced: flags given explicitly win,
    even when they repeat the default (`--smoke --steps 20` runs the small configuration
    for 20 steps).
    """
    args = parser.parse_args(argv)
    check_device(parser, args.device)
    if args.smoke:
        # Parse again with every default hidden: what remains was typed by the user.
        probe = copy.deepcopy(parser)
        for action in probe._actions:
            action.default = argparse.SUPPRESS
        given = vars(probe.parse_args(argv))
        for k, v in smoke.items():
            if k not in given:
                setattr(args, k, v)
    return args


def set_seed(seed: int) -> None:
    """Seed minigrad's generator (parameter init, dropout, sampling)."""
    mg.manual_seed(seed)


def outdir_for(args) -> str:
    """args.outdir, created if needed."""
    os.makedirs(args.outdir, exist_ok=True)
    return args.outdir


# ---------------------------------------------------------------- printing
class Reporter:
    """`say(...)` prints like print() unless --quiet; `finish(metrics)` prints the results.

    With --json the metrics go to stdout as one JSON line, last, so a caller can read
    `stdout.splitlines()[-1]`; everything else a run prints comes before it.
    """

    def __init__(self, args):
        self.quiet = bool(getattr(args, "quiet", False))
        self.json = bool(getattr(args, "json", False))

    def say(self, *parts, **kw) -> None:
        if not self.quiet:
            print(*parts, **kw, flush=True)

    def finish(self, metrics: dict) -> dict:
        """Print the final metrics (a table, or one JSON line with --json) and return them."""
        if self.json:
            print(json.dumps(metrics, sort_keys=True, default=_json_default), flush=True)
        elif not self.quiet:
            print("\nfinal metrics:")
            width = max((len(k) for k in metrics), default=0)
            for k, v in metrics.items():
                print(f"  {k:<{width}}  {_short(v)}")
        return metrics


def _json_default(v):
    if hasattr(v, "item"):  # NumPy scalars
        return v.item()
    if hasattr(v, "tolist"):
        return v.tolist()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def _short(v) -> str:
    if isinstance(v, str) and ("\n" in v or len(v) > 60):
        return repr(v[:57] + "...") if len(v) > 60 else repr(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.4f}" if v == 0 or 1e-3 <= abs(v) < 1e5 else f"{v:.4e}"
    return str(v)


def fmt_vec(values, decimals: int = 6) -> str:
    """[a, b, c] with a fixed number of decimals (what the walkthrough prints and tests parse)."""
    return "[" + ", ".join(f"{float(v):.{decimals}f}" for v in values) + "]"


# ---------------------------------------------------------------- progress bar
def _si(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.1f}{unit}"
    return f"{x:.1f}"


class Progress:
    """A progress bar over `total` steps that shows metrics and throughput.

        bar = Progress(total=300, desc="train", unit="chars", quiet=args.quiet)
        for step in range(300):
            ...
            bar.update(items=batch * seq_len, loss=loss.item())
        bar.close()

    Uses tqdm when it is importable; otherwise draws its own bar on stderr (redrawn in
    place on a terminal, a line every ~10% when stderr is a file or a pipe).

    Args:
        total: number of steps (calls to `update`).
        desc: a short label.
        unit: what `items` counts (chars, tokens, sequences): shown as `unit/s`.
        quiet: draw nothing.
    """

    def __init__(self, total: int, desc: str = "", unit: str = "items", quiet: bool = False):
        self.total, self.desc, self.unit, self.quiet = int(total), desc, unit, quiet
        self.n = 0
        self.items = 0
        self.metrics = {}
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._last_decile = -1
        self._drawn_n = None  # the step count of the last line written (pipes and files)
        self._tty = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
        self._tqdm = None
        if not quiet:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._tqdm = tqdm(total=self.total, desc=desc, unit="step", dynamic_ncols=True, leave=True)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def rate(self) -> float:
        """Items per second so far."""
        return self.items / max(self.elapsed, 1e-9)

    def update(self, n: int = 1, items: int = 0, **metrics) -> None:
        """Advance by `n` steps that processed `items` items; show `metrics` (e.g. loss=...)."""
        self.n += n
        self.items += items
        self.metrics.update(metrics)
        if self.quiet:
            return
        if self._tqdm is not None:
            post = {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in self.metrics.items()}
            post[f"{self.unit}/s"] = _si(self.rate())
            self._tqdm.set_postfix(post, refresh=False)
            self._tqdm.update(n)
            return
        now = time.perf_counter()
        decile = int(10 * self.n / max(self.total, 1))
        done = self.n >= self.total
        if self._tty and (now - self._last_draw > 0.1 or done):
            self._last_draw = now
            sys.stderr.write("\r" + self._line())
            sys.stderr.flush()
        elif not self._tty and (decile > self._last_decile or done):
            self._last_decile = decile
            self._drawn_n = self.n
            sys.stderr.write(self._line() + "\n")
            sys.stderr.flush()

    def _line(self) -> str:
        width = 24
        frac = min(self.n / max(self.total, 1), 1.0)
        fill = int(round(width * frac))
        bar = "#" * fill + "." * (width - fill)
        el = self.elapsed
        eta = el / self.n * (self.total - self.n) if self.n else float("nan")
        mets = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.metrics.items())
        thr = f" {_si(self.rate())} {self.unit}/s" if self.items else ""
        eta_s = f" eta {eta:.0f}s" if math.isfinite(eta) and self.n < self.total else ""
        return f"{self.desc} [{bar}] {self.n}/{self.total} {mets}{thr} {el:.1f}s{eta_s}"

    def close(self) -> None:
        if self.quiet:
            return
        if self._tqdm is not None:
            self._tqdm.close()
        elif self._tty:  # the last update may have been skipped (redraws are rate-limited)
            sys.stderr.write("\r" + self._line() + "\n")
            sys.stderr.flush()
        elif self._drawn_n != self.n:  # stopped early, between deciles: show where it ended
            sys.stderr.write(self._line() + "\n")
            sys.stderr.flush()


# ---------------------------------------------------------------- plots
def matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def save_plot(path: str, draw, report: Reporter | None = None):
    """Draw a figure with matplotlib (Agg backend, no display needed) and write it to `path`.

    Args:
        path: the PNG (or .svg/.pdf) to write.
        draw: `draw(plt)` makes the figure on the current pyplot state.
        report: where to say what happened.

    Returns:
        The path written, or None when matplotlib is not installed (a message says so;
        the examples always print their numbers as a text table too).
    """
    say = report.say if report is not None else print
    try:
        import matplotlib
        matplotlib.use("Agg")  # files only: works without a display
        import matplotlib.pyplot as plt
    except ImportError:
        say(f"(plot) matplotlib is not installed, so {path} was not drawn; the numbers are printed above. "
            "`pip install matplotlib` (or `pip install minigrad[plot]`) to get the picture.")
        return None
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    plt.figure(figsize=(7, 4.5))
    try:
        draw(plt)
        plt.tight_layout()
        plt.savefig(path, dpi=120)
    finally:
        plt.close("all")
    say(f"(plot) wrote {path}")
    return path
