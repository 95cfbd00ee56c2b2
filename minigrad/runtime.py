"""torch's process-wide switches and dtype facts: threads, finfo/iinfo, print options, determinism.

    mg.set_num_threads(1)                     # BLAS (and minigrad's row blocks) on one thread
    eps = mg.finfo(x.dtype).eps               # 1.1920928955078125e-07 for float32
    mg.set_printoptions(precision=2)          # tensor([1.12, 2.50])
    mg.use_deterministic_algorithms(True)     # refuse the GPU float sums whose order varies

All are exported at the top level (`mg.set_num_threads`, `mg.finfo`, ...), as in torch.
"""
from __future__ import annotations

import contextlib
import math
import numbers
import warnings

from . import backend as _B

np = _B.np  # dtype facts and host-side formatting only

__all__ = [
    "set_num_threads", "get_num_threads", "set_num_interop_threads", "get_num_interop_threads",
    "finfo", "iinfo", "set_printoptions", "get_printoptions", "printoptions", "tensor_str", "tensor_repr",
    "use_deterministic_algorithms", "are_deterministic_algorithms_enabled",
    "is_deterministic_algorithms_warn_only_enabled",
]


# ---------------------------------------------------------------- threads
def _positive_int(op: str, n) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{op}: expected a positive int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"{op}: expected a positive int, got {n}")
    return int(n)


_warned_no_blas = False


def set_num_threads(n: int) -> None:
    """Use `n` threads for products on the CPU (torch.set_num_threads).

    minigrad's CPU products run in NumPy's BLAS: with NumPy's OpenBLAS (the wheels'), this sets
    its thread count for the whole process, as ``openblas_set_num_threads`` does, and caps the
    row blocks recurrent layers run on parallel threads (`backend.row_blocks`). Elementwise ops
    run on one thread in NumPy anyway. With another BLAS (MKL, Accelerate) minigrad cannot reach
    the setting: it warns once and changes nothing but the row-block cap; set OMP_NUM_THREADS /
    MKL_NUM_THREADS in the environment before starting Python instead.

    Raises:
        TypeError / ValueError: `n` is not a positive int.
    """
    global _warned_no_blas
    n = _positive_int("set_num_threads", n)
    if not _B.set_blas_threads(n) and not _warned_no_blas:
        _warned_no_blas = True
        warnings.warn("set_num_threads: NumPy's BLAS here is not an OpenBLAS minigrad can reach, so its thread "
                      "count is unchanged; set OMP_NUM_THREADS (or MKL_NUM_THREADS) before starting Python",
                      RuntimeWarning, stacklevel=2)


def get_num_threads() -> int:
    """The threads NumPy's OpenBLAS uses for a product (torch.get_num_threads).

    Without a reachable OpenBLAS: the count last given to `set_num_threads`, else the cores
    this process may run on.
    """
    n = _B.blas_threads()
    if n is None:
        n = _B.intra_op_threads or _B._cores()
    return int(n)


_interop_threads = 0


def set_num_interop_threads(n: int) -> None:
    """torch.set_num_interop_threads: recorded, no effect. minigrad runs one op at a time (no
    inter-op thread pool); the value is what `get_num_interop_threads` returns."""
    global _interop_threads
    _interop_threads = _positive_int("set_num_interop_threads", n)


def get_num_interop_threads() -> int:
    """The value given to `set_num_interop_threads`, else the number of cores (torch's default)."""
    return _interop_threads or _B._cores()


# ---------------------------------------------------------------- dtype facts
def _dtype_arg(op: str, dtype):
    """`dtype` as a NumPy dtype (None: the default floating dtype), or a TypeError naming `op`."""
    if dtype is None:
        return _B.get_default_dtype()
    if hasattr(dtype, "grad_fn"):  # a Tensor (NumPy would read its .dtype): torch refuses it too
        raise TypeError(f"{op}: expected a dtype such as mg.float32, got a Tensor; pass its .dtype")
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{op}: expected a dtype such as mg.float32 (e.g. x.dtype), got {type(dtype).__name__}") \
            from None


def _g(v) -> str:
    return f"{v:g}"  # (torch's reprs show 6 significant digits)


class finfo:
    """Machine limits of a floating dtype (torch.finfo), as Python floats.

    Args:
        type: mg.float16 / float32 / float64 (or their names; a complex dtype gives its parts');
            default: the default dtype (`mg.get_default_dtype()`).

    Attributes:
        bits, eps (smallest e with 1 + e != 1), max, min (= -max), tiny and smallest_normal
        (the smallest positive normal number), resolution (10**-digits), dtype (its name, 'float32').

    Raises:
        TypeError: an integer or bool dtype (use `iinfo`), or something that is not a dtype.
    """

    __slots__ = ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype")

    def __init__(self, type=None):  # noqa: A002  (torch's parameter name)
        dt = _dtype_arg("finfo", type)
        if dt.kind == "c":  # torch: a complex dtype's real and imaginary parts
            dt = np.dtype(f"f{dt.itemsize // 2}")
        if dt.kind != "f":
            raise TypeError(f"finfo: expected a floating-point dtype, got {dt}; use mg.iinfo for integer dtypes")
        info = np.finfo(dt)
        self.bits = int(info.bits)
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.tiny = self.smallest_normal = float(info.smallest_normal)
        self.resolution = 10.0 ** -int(info.precision)  # (as a double: NumPy's is rounded to `dt`)
        self.dtype = str(dt)

    def __eq__(self, other):
        return isinstance(other, finfo) and other.dtype == self.dtype

    def __hash__(self):
        return hash(("finfo", self.dtype))

    def __repr__(self):
        return (f"finfo(resolution={_g(self.resolution)}, min={_g(self.min)}, max={_g(self.max)}, eps={_g(self.eps)}, "
                f"smallest_normal={_g(self.smallest_normal)}, tiny={_g(self.tiny)}, dtype={self.dtype})")


class iinfo:
    """Limits of an integer dtype (torch.iinfo), as Python ints.

    Args:
        type: mg.uint8, int8, int16, int32, int64 (or their names).

    Attributes:
        bits, max, min, dtype (its name, 'int64').

    Raises:
        TypeError: a floating or bool dtype, or something that is not a dtype.
    """

    __slots__ = ("bits", "max", "min", "dtype")

    def __init__(self, type):  # noqa: A002
        dt = _dtype_arg("iinfo", type) if type is not None else None
        if dt is None or dt.kind not in "iu":
            what = "None" if dt is None else str(dt)
            raise TypeError(f"iinfo: expected an integer dtype, got {what}"
                            + ("; use mg.finfo for floating dtypes" if dt is not None and dt.kind == "f" else ""))
        info = np.iinfo(dt)
        self.bits, self.max, self.min, self.dtype = int(info.bits), int(info.max), int(info.min), str(dt)

    def __eq__(self, other):
        return isinstance(other, iinfo) and other.dtype == self.dtype

    def __hash__(self):
        return hash(("iinfo", self.dtype))

    def __repr__(self):
        return f"iinfo(min={_g(float(self.min))}, max={_g(float(self.max))}, dtype={self.dtype})"


# ---------------------------------------------------------------- printing
_PROFILES = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": math.inf, "edgeitems": 3, "linewidth": 80},
}
_opts = dict(_PROFILES["default"], sci_mode=None)


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    """How tensors print (torch.set_printoptions); `repr(tensor)` follows torch's layout exactly.

    Args:
        precision: digits after the point (default 4).
        threshold: more elements than this print summarized, with "..." (default 1000).
        edgeitems: items kept at each end of a summarized dimension (default 3).
        linewidth: characters per line before a row wraps (default 80).
        profile: 'default', 'short' (precision 2, edgeitems 2) or 'full' (never summarize),
            applied first; the other arguments then override it.
        sci_mode: True / False force / forbid scientific notation; None (also what leaving it
            out means, as in torch) lets the values decide.

    Raises:
        ValueError / TypeError: an unknown profile or a negative / non-numeric option.
    """
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: unknown profile {profile!r}; expected one of {sorted(_PROFILES)}")
        _opts.update(_PROFILES[profile])
    for name, value in (("precision", precision), ("edgeitems", edgeitems), ("linewidth", linewidth)):
        if value is not None:
            _opts[name] = _count("set_printoptions", name, value)
    if threshold is not None:  # (a number: float('inf') never summarizes)
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not threshold >= 0:
            raise ValueError(f"set_printoptions: threshold must be a number >= 0, got {threshold!r}")
        _opts["threshold"] = threshold
    if sci_mode is not None and not isinstance(sci_mode, bool):
        raise TypeError(f"set_printoptions: sci_mode must be True, False or None, got {sci_mode!r}")
    _opts["sci_mode"] = sci_mode


def _count(op: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{op}: {name} must be an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{op}: {name} must not be negative, got {value}")
    return int(value)


def get_printoptions() -> dict:
    """The current print options, as keywords `set_printoptions` accepts."""
    return dict(_opts)


@contextlib.contextmanager
def printoptions(**options):
    """``with mg.runtime.printoptions(precision=2): print(x)``: options for the block only."""
    before = get_printoptions()
    set_printoptions(**options)
    try:
        yield
    finally:
        _opts.update(before)


class _Formatter:
    """One element's text, as torch writes it: every element of a tensor gets the same width and style.

    Floats print in one of three styles chosen from the finite non-zero values: integers ('3.'),
    fixed point with `precision` digits ('3.1416'), or scientific ('3.1416e+00') when the largest
    is over 1e8 or 1000 times the smallest, or the smallest is under 1e-4.
    """

    def __init__(self, values):
        self.floating = values.dtype.kind == "f"
        self.precision = _opts["precision"]
        self.int_mode, self.sci_mode, self.width = True, False, 1
        flat = values.reshape(-1)
        if not self.floating:
            self.width = max([1] + [len(str(v)) for v in flat.tolist()])
            return
        shown = flat[np.isfinite(flat) & (flat != 0)]
        if not shown.size:
            return
        size = np.abs(shown).astype(np.float64)
        lo, hi = float(size.min()), float(size.max())
        self.int_mode = bool(np.all(shown == np.ceil(shown)))
        forced = _opts["sci_mode"]
        self.sci_mode = (hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4) if forced is None else forced
        p = self.precision
        for v in shown.tolist():
            if self.sci_mode:
                text = f"{v:.{p}e}"
            elif self.int_mode:
                text = f"{v:.0f}."
            else:
                text = f"{v:.{p}f}"
            self.width = max(self.width, len(text))

    def format(self, v) -> str:
        if not self.floating:
            text = str(v)
        elif self.sci_mode:
            text = f"{v:{self.width}.{self.precision}e}"
        elif self.int_mode:
            text = f"{v:.0f}" + ("" if math.isinf(v) or math.isnan(v) else ".")
        else:
            text = f"{v:.{self.precision}f}"
        return text.rjust(self.width)


def _summarized(a, edge: int):
    """The elements a summarized print shows: `edge` items at each end of every long dimension."""
    for axis, n in enumerate(a.shape):
        if n > 2 * edge:
            keep = list(range(edge)) + list(range(n - edge, n))
            a = a.take(keep, axis=axis)
    return a


def _printed_part(a, edge: int):
    """What a summarized print of `a` (a NumPy or CuPy array) reads: `edge` + 1 items at the start and `edge`
    at the end of every long dimension (the extra one stands where "..." goes), so that only this part of
    a large GPU array is copied to the host. On it `_rows` prints exactly what it prints of all of `a`."""
    xp = _B.get_array_module(a)
    for axis, n in enumerate(a.shape):
        if n > 2 * edge + 1:
            head = a[(slice(None),) * axis + (slice(0, edge + 1),)]
            tail = a[(slice(None),) * axis + (slice(n - edge, n),)]
            a = xp.concatenate([head, tail], axis=axis)
    return a


def _rows(a, indent: int, summarize: bool, fmt: _Formatter) -> str:
    edge = _opts["edgeitems"]
    if a.ndim == 0:
        return fmt.format(a.item())
    if a.ndim == 1:
        per_line = max(1, (_opts["linewidth"] - indent) // (fmt.width + 2))
        if summarize and not edge:
            items = ["..."]
        elif summarize and a.shape[0] > 2 * edge:
            items = [fmt.format(v) for v in a[:edge].tolist()] + [" ..."] + [fmt.format(v) for v in a[-edge:].tolist()]
        else:
            items = [fmt.format(v) for v in a.tolist()]
        lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    n = a.shape[0]
    if summarize and n > 2 * edge:
        parts = ([_rows(a[i], indent + 1, summarize, fmt) for i in range(edge)] + ["..."]
                 + [_rows(a[i], indent + 1, summarize, fmt) for i in range(n - edge, n)])
    else:
        parts = [_rows(a[i], indent + 1, summarize, fmt) for i in range(n)]
    return "[" + ("," + "\n" * (a.ndim - 1) + " " * (indent + 1)).join(parts) + "]"


def tensor_str(a, indent: int, summarize=None) -> str:
    """The values of host array `a` as torch prints them, lines after the first indented by `indent`.

    `Tensor.__repr__` calls it (through `tensor_repr`) with indent len("tensor(").
    `summarize`: print with "..." (None: when `a` has more elements than the threshold); `a` may
    then be all of the array or just its `_printed_part`.
    """
    if a.size == 0:
        return "[]"
    if summarize is None:
        summarize = a.size > _opts["threshold"]
    values = _summarized(a, _opts["edgeitems"]) if summarize else a
    if summarize and not _opts["edgeitems"]:
        values = a.reshape(-1)[:0]
    return _rows(a, indent, summarize, _Formatter(values))


def tensor_repr(a, device, tail=()) -> str:
    """``repr(tensor)`` as torch writes it, for array `a` (NumPy, or CuPy: only the printed part is
    copied to the host) on `device`.

    After the values come device='cuda:0' (not for the CPU), size=(...) (an empty tensor that is not
    1-D, or every tensor when edgeitems is 0), dtype=... when the values do not imply it (not the
    default floating dtype, not int64, not bool; always for an empty tensor that is not of the
    default dtype), then `tail` (grad_fn=..., requires_grad=True). A suffix that would pass the
    line width starts a new line.
    """
    prefix = "tensor("
    suffixes = [] if device == "cpu" else [f"device='{device}'"]
    dt = a.dtype
    if a.size == 0:
        if a.ndim != 1:
            suffixes.append(f"size={tuple(a.shape)}")
        implied = dt == _B.get_default_dtype()  # no values to tell
    else:
        if not _opts["edgeitems"]:
            suffixes.append(f"size={tuple(a.shape)}")
        implied = dt == _B.get_default_dtype() or dt == np.int64 or dt == np.bool_
    if not implied:
        suffixes.append(f"dtype={dt}")
    summarize = a.size > _opts["threshold"]
    shown = _B.to_device(_printed_part(a, _opts["edgeitems"]) if summarize else a, "cpu")
    text = prefix + tensor_str(shown, len(prefix), summarize)
    line = len(text) - text.rfind("\n") + 1  # (torch's count, one more than the last line's length)
    parts = [text]
    for suffix in list(suffixes) + list(tail):
        if line + len(suffix) + 2 > _opts["linewidth"]:
            parts.append(",\n" + " " * len(prefix) + suffix)
            line = len(prefix) + len(suffix)
        else:
            parts.append(", " + suffix)
            line += len(suffix) + 2
    return "".join(parts) + ")"


# ---------------------------------------------------------------- determinism
def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Refuse operations whose results can vary from run to run (torch.use_deterministic_algorithms).

    On the CPU every minigrad op is deterministic (same inputs, same thread count: same bits).
    On a GPU the exception is summing float values at repeated indices with CuPy's atomic adds
    (`backend.scatter_add`: the backward of embeddings, index_add / scatter_add / index_put with
    accumulate, conv2d's input gradient, ...), whose order varies. With `mode` True those raise
    a RuntimeError naming the op (or, with `warn_only`, warn and go on). Integer sums are exact
    in any order and stay allowed. Off by default, as in torch.

    Raises:
        TypeError: `mode` or `warn_only` is not a bool.
    """
    if not isinstance(mode, bool) or not isinstance(warn_only, bool):
        raise TypeError(f"use_deterministic_algorithms: mode and warn_only must be bools, got "
                        f"{type(mode).__name__} and {type(warn_only).__name__}")
    _B.deterministic_algorithms = ("warn" if warn_only else "error") if mode else None


def are_deterministic_algorithms_enabled() -> bool:
    """Whether `use_deterministic_algorithms(True)` is in force."""
    return _B.deterministic_algorithms is not None


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    """Whether deterministic mode only warns (``warn_only=True``)."""
    return _B.deterministic_algorithms == "warn"
