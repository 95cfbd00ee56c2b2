"""Tensor creation: zeros, ones, full, arange, randn, rand, *_like (torch's names)."""
from __future__ import annotations

import math
import numbers

from . import backend as _B
from .tensor import Tensor, _wrap, check_dtype

np = _B.np  # host-side generation; arrays are then placed on the requested device

__all__ = ["zeros", "ones", "full", "arange", "randn", "rand", "randint", "zeros_like", "ones_like",
           "full_like", "randn_like", "rand_like", "empty", "eye", "empty_like", "linspace", "logspace",
           "triu_indices", "tril_indices", "randperm", "multinomial", "bernoulli", "normal", "poisson"]


def _size_arg(op, sizes, size):
    """The shape given positionally (`zeros(2, 3)`, `zeros((2, 3))`) or as torch's keyword (`zeros(size=(2, 3))`)."""
    if size is None:
        return sizes
    if sizes:
        raise TypeError(f"{op}() got multiple values for argument 'size' (positional {sizes} and size={size!r})")
    return (size,)


def _shape(size, op="zeros"):
    if len(size) == 1 and not isinstance(size[0], numbers.Integral):
        try:
            size = tuple(size[0])
        except TypeError:
            raise TypeError(f"{op}: size must be ints or a sequence of ints, got {size[0]!r}") from None
    for s in size:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"{op}: size must be ints or a sequence of ints, got {size}")
        if s < 0:
            raise ValueError(f"{op}: expected a shape of non-negative ints, got {size}")
    return tuple(int(s) for s in size)


def _make(arr_fn, size, dtype, device, requires_grad, op="tensor creation"):
    device = _B.factory_device(device)  # device=None: the default device (mg.set_default_device, `with mg.device`)
    xp = _B.array_module_for(device)
    dtype = _B.get_default_dtype() if dtype is None else check_dtype(dtype, op)
    try:
        if xp is np:
            arr = arr_fn(np, dtype)
        else:
            with _B.cupy.cuda.Device(int(device.split(":")[1])):
                arr = arr_fn(xp, dtype)
    except MemoryError as e:  # NumPy's message would not name the op
        what = f"a {np.dtype(dtype)} tensor" + ("" if size is None else f" of shape {tuple(size)}") + f" on {device}"
        raise _B.out_of_memory(op, what, e) from None
    t = _wrap(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*sizes, size=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape = _shape(_size_arg("zeros", sizes, size), "zeros")
    return _make(lambda xp, dt: xp.zeros(shape, dtype=dt), shape, dtype, device, requires_grad, op="zeros")


def ones(*sizes, size=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape = _shape(_size_arg("ones", sizes, size), "ones")
    return _make(lambda xp, dt: xp.ones(shape, dtype=dt), shape, dtype, device, requires_grad, op="ones")


empty = zeros  # minigrad has no uninitialised memory: empty() is zeros()


def full(size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape = _shape((size,) if isinstance(size, numbers.Integral) else (size,), "full")
    if not isinstance(fill_value, numbers.Number) or isinstance(fill_value, complex):  # NumPy would parse '1'
        raise TypeError(f"full: fill_value must be a real number, got {type(fill_value).__name__} {fill_value!r}")
    if dtype is None and isinstance(fill_value, bool):
        dtype = np.bool_
    elif dtype is None and isinstance(fill_value, numbers.Integral):
        dtype = np.int64
    return _make(lambda xp, dt: xp.full(shape, fill_value, dtype=dt), shape, dtype, device, requires_grad, op="full")


def eye(n, m=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    n, m = _shape((n,), "eye")[0], (None if m is None else _shape((m,), "eye")[0])
    return _make(lambda xp, dt: xp.eye(n, m, dtype=dt), (n, m), dtype, device, requires_grad, op="eye")


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Values start, start+step, ... < end; int64 for integer arguments, else the default float dtype."""
    if end is None:
        start, end = 0, start
    for v in (start, end, step):
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"arange: start, end and step must be numbers, got {v!r}")
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    count = (end - start) / step
    if not math.isfinite(count) or abs(count) > 2 ** 62:  # NumPy would fail with a bare "Maximum allowed size exceeded"
        raise ValueError(f"arange: [{start}, {end}) in steps of {step} would have {count:.3g} elements")
    if dtype is None:
        ints = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = np.int64 if ints else _B.get_default_dtype()
    def values(xp, dt):
        if np.dtype(dt).kind != "f":
            return xp.arange(start, end, step, dtype=dt)
        # start + i * step in float64, rounded once to dt: the exact values (torch's vectorised loop is within
        # ~2 float32 steps of them). NumPy's float32 arange steps in float32 (up to 1.5e-5 off in
        # arange(-8, 8, 0.1)) and its float64 one by (start + step) - start.
        n = max(0, math.ceil(count))
        return (start + step * xp.arange(n, dtype=np.float64)).astype(dt, copy=False)

    return _make(values, None, dtype, device, requires_grad, op="arange")


def _rng(op, generator):
    """The generator a draw uses: `generator=` (a NumPy Generator such as mg.Generator()) or the host one."""
    if generator is None:
        return _B.host_rng()
    if not isinstance(generator, np.random.Generator):  # e.g. a torch.Generator: say what to pass instead
        raise TypeError(f"{op}: generator must be an mg.Generator (or any numpy.random.Generator) or None for "
                        f"minigrad's host generator (seeded by mg.manual_seed); got "
                        f"{type(generator).__module__}.{type(generator).__name__}")
    return generator


def _host_random(shape, dtype, kind, generator=None):
    rng = _rng("randn" if kind == "normal" else "rand", generator)
    dt = np.dtype(dtype)
    if dt.kind != "f":  # torch refuses too: integer "samples" would be silently truncated
        op = "randn" if kind == "normal" else "rand"
        raise TypeError(f"{op}: needs a floating dtype, got {dt} (use randint for random integers)")
    draw = rng.standard_normal if kind == "normal" else rng.random
    gen_dtype = dt if dt in (np.dtype(np.float32), np.dtype(np.float64)) else np.float64
    return draw(shape, dtype=gen_dtype).astype(dt, copy=False)


def randn(*sizes, size=None, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples from the seeded host generator, or `generator` (same values on every device)."""
    shape = _shape(_size_arg("randn", sizes, size), "randn")
    return _make(lambda xp, dt: xp.asarray(_host_random(shape, dt, "normal", generator)), shape, dtype, device,
                 requires_grad, op="randn")


def rand(*sizes, size=None, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform [0, 1) samples from the seeded host generator, or `generator`."""
    shape = _shape(_size_arg("rand", sizes, size), "rand")
    return _make(lambda xp, dt: xp.asarray(_host_random(shape, dt, "uniform", generator)), shape, dtype, device,
                 requires_grad, op="rand")


def randint(low, high=None, size=(), dtype=None, device=None, *, generator=None) -> Tensor:
    """Integers in [low, high) (int64), from the seeded host generator or `generator`.

    As torch: `randint(high, size)` or `randint(low, high, size)`.
    """
    if isinstance(high, (tuple, list)) and size == ():  # torch's two-argument form randint(high, size)
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if not high > low:
        raise ValueError(f"randint: expected low < high (values drawn from [low, high)), got low={low}, high={high}")
    shape = _shape((size,) if isinstance(size, numbers.Integral) else (size,), "randint")
    dtype = np.int64 if dtype is None else dtype
    rng = _rng("randint", generator)
    return _make(lambda xp, dt: xp.asarray(rng.integers(low, high, shape).astype(dt)), shape, dtype,
                 device, False, op="randint")


def zeros_like(input, dtype=None, device=None, requires_grad=False) -> Tensor:  # noqa: A002 (torch's name)
    return zeros(*input.shape, dtype=input.dtype if dtype is None else dtype,
                 device=input.device if device is None else device,
                 requires_grad=requires_grad)


def ones_like(input, dtype=None, device=None, requires_grad=False) -> Tensor:  # noqa: A002 (torch's name)
    return ones(*input.shape, dtype=input.dtype if dtype is None else dtype,
                device=input.device if device is None else device,
                requires_grad=requires_grad)


def full_like(input, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:  # noqa: A002 (torch's name)
    return full(input.shape, fill_value, dtype=input.dtype if dtype is None else dtype,
                device=input.device if device is None else device, requires_grad=requires_grad)


def randn_like(input, dtype=None, device=None, requires_grad=False) -> Tensor:  # noqa: A002 (torch's name)
    return randn(*input.shape, dtype=input.dtype if dtype is None else dtype,
                 device=input.device if device is None else device,
                 requires_grad=requires_grad)


def rand_like(input, dtype=None, device=None, requires_grad=False) -> Tensor:  # noqa: A002 (torch's name)
    return rand(*input.shape, dtype=input.dtype if dtype is None else dtype,
                device=input.device if device is None else device,
                requires_grad=requires_grad)


# ---------------------------------------------------------------- ranges, index grids, permutations
def empty_like(input, dtype=None, device=None, requires_grad=False) -> Tensor:  # noqa: A002 (torch's name)
    """torch.empty_like: minigrad has no uninitialised memory, so zeros_like."""
    return zeros_like(input, dtype=dtype, device=device, requires_grad=requires_grad)


def _steps(op, steps):
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral):
        raise TypeError(f"{op}: steps must be an int, got {steps!r}")
    if steps < 0:
        raise ValueError(f"{op}: number of steps must be non-negative, got {steps}")
    return int(steps)


def _real(op, name, v):
    if isinstance(v, Tensor):  # torch takes 0-d tensors for start/end
        if v.data.ndim != 0:
            raise ValueError(f"{op}: {name} must be a number or a 0-d tensor, got shape {v.shape}")
        v = v.item()
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{op}: {name} must be a real number, got {v!r}")
    return float(v)


def _linspace_values(start, end, steps, dtype):
    """Host values start .. end computed as torch does, in `dtype` for floats (float64 for integers):
    the first half counts up from start and the second half down from end, so both ends are exact."""
    ct = np.dtype(dtype) if np.dtype(dtype).kind == "f" else np.dtype(np.float64)
    start, end = ct.type(start), ct.type(end)
    if steps == 1:
        return np.full(1, start, dtype=ct)
    step = (end - start) / ct.type(steps - 1)
    i = np.arange(steps, dtype=ct)
    return np.where(i < steps // 2, start + step * i, end - step * (ct.type(steps - 1) - i))


def _int_ends(start, end, dt):
    """start and end as torch reads them for an integer dtype: converted into it (truncated, wrapped) first."""
    if np.dtype(dt).kind in "iu" and math.isfinite(start) and math.isfinite(end):
        return tuple(int(np.array(math.trunc(v), dtype=np.int64).astype(dt)) for v in (start, end))
    return start, end


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False) -> Tensor:
    """torch.linspace: `steps` evenly spaced values from start to end inclusive (default float dtype)."""
    op = "linspace"
    start, end, steps = _real(op, "start", start), _real(op, "end", end), _steps(op, steps)

    def values(xp, dt):
        # an integer dtype converts start and end into it first, as torch: truncated (linspace(0.12, -4.25, 5) is
        # 0, -1, .., -4) and wrapped (uint8: end=-1 is 255)
        s, e = _int_ends(start, end, dt)
        return xp.asarray(_linspace_values(s, e, steps, dt).astype(dt))

    return _make(values, (steps,), dtype, device, requires_grad, op=op)


def logspace(start, end, steps, base=10.0, dtype=None, device=None, requires_grad=False) -> Tensor:
    """torch.logspace: base ** linspace(start, end, steps)."""
    op = "logspace"
    start, end, steps = _real(op, "start", start), _real(op, "end", end), _steps(op, steps)
    base = _real(op, "base", base)

    def values(xp, dt):
        with np.errstate(over="ignore"):  # overflow gives inf, as torch
            exps = _linspace_values(*_int_ends(start, end, dt), steps, dt)  # (integer dtypes: torch's ends)
            return xp.asarray((exps.dtype.type(base) ** exps).astype(dt))

    return _make(values, (steps,), dtype, device, requires_grad, op=op)


def _tri_indices(op, lower, row, col, offset, dtype, device):
    for name, v in (("row", row), ("col", col), ("offset", offset)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{op}: {name} must be an int, got {v!r}")
    if row < 0 or col < 0:
        raise ValueError(f"{op}: row and col must be non-negative, got row={row}, col={col}")
    dtype = np.int64 if dtype is None else check_dtype(dtype, op)
    if np.dtype(dtype).kind not in "iu":
        raise TypeError(f"{op}: needs an integer dtype, got {np.dtype(dtype)}")
    make = np.tril_indices if lower else np.triu_indices
    idx = np.stack(make(int(row), int(offset), int(col))) if row and col else np.zeros((2, 0), np.int64)
    return _make(lambda xp, dt: xp.asarray(idx.astype(dt)), idx.shape, dtype, device, False, op=op)


def triu_indices(row, col, offset=0, dtype=None, device=None) -> Tensor:
    """torch.triu_indices: (2, N) int64 row/column indices of the upper triangle (col - row >= offset), row-major."""
    return _tri_indices("triu_indices", False, row, col, offset, dtype, device)


def tril_indices(row, col, offset=0, dtype=None, device=None) -> Tensor:
    """torch.tril_indices: (2, N) int64 row/column indices of the lower triangle (col - row <= offset), row-major."""
    return _tri_indices("tril_indices", True, row, col, offset, dtype, device)


def randperm(n, dtype=None, device=None, requires_grad=False, *, generator=None) -> Tensor:
    """torch.randperm: a random permutation of 0 .. n-1 (int64) from the seeded host generator or `generator`."""
    op = "randperm"
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{op}: n must be an int, got {n!r}")
    if n < 0:
        raise ValueError(f"{op}: n must be non-negative, got {n}")
    perm = _rng(op, generator).permutation(int(n))
    dtype = np.int64 if dtype is None else dtype
    return _make(lambda xp, dt: xp.asarray(perm.astype(dt)), (n,), dtype, device, requires_grad, op=op)


# ---------------------------------------------------------------- random sampling
# Every draw comes from the seeded host generator (`mg.manual_seed`) and is then moved to the
# tensor's device, so a seed gives the same numbers on 'cpu' and 'cuda'. Samples are constants:
# they carry no gradient (torch's derivative of a sample with respect to its parameters is 0).
def _host(t):
    """t's values as a float64 host array (the parameters of a draw)."""
    return _B.to_device(t.data, "cpu").astype(np.float64)


def _on(t, arr, dtype):
    """A new constant tensor of `dtype` holding host array `arr`, on t's device."""
    return _wrap(_B.as_array(np.asarray(arr).astype(dtype), device=t.device))


def _float_input(op, t, what="input"):
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {what} must be a Tensor, got {type(t).__name__}")
    if t.data.dtype.kind != "f":
        raise TypeError(f"{op}: {what} must be a floating-point tensor, got {t.dtype}{list(t.shape)} on {t.device}")


def multinomial(input, num_samples, replacement=False, *, generator=None) -> Tensor:  # noqa: A002 - torch's names
    """torch.multinomial: int64 indices of categories drawn with probability proportional to the rows of input.

    input is (n,) or (rows, n) of non-negative weights (they need not sum to 1). Without
    replacement each category is drawn at most once: the keys E / w (E exponential) of an
    exponential race, sorted, are such a draw; weight-0 categories come last.
    """
    op = "multinomial"
    _float_input(op, input)
    if input.data.ndim not in (1, 2):
        raise ValueError(f"{op}: input must be 1-D or 2-D (a row of weights per draw), got shape {input.shape}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, numbers.Integral):
        raise TypeError(f"{op}: num_samples must be an int, got {num_samples!r}")
    n = input.data.shape[-1]
    if num_samples <= 0:
        raise ValueError(f"{op}: cannot sample num_samples={num_samples} <= 0 samples")
    if not replacement and num_samples > n:
        raise ValueError(f"{op}: cannot sample {num_samples} > {n} categories without replacement")
    w = _host(input).reshape(-1, n)
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError(f"{op}: the weights must be finite and non-negative (got inf, nan or a value < 0)")
    if w.shape[0] and (w.sum(axis=1) <= 0).any():
        raise ValueError(f"{op}: every row of weights needs a positive sum (a row sums to 0)")
    rng = _rng(op, generator)
    if replacement:  # inverse CDF: the first category whose cumulative weight exceeds u * total
        cdf = np.cumsum(w, axis=1)
        u = rng.random((w.shape[0], num_samples)) * cdf[:, -1:]
        out = np.stack([np.searchsorted(c, r, side="right") for c, r in zip(cdf, u)]) if w.shape[0] \
            else np.zeros((0, num_samples), np.int64)
        out = np.minimum(out, n - 1)
    else:
        with np.errstate(divide="ignore"):
            keys = rng.exponential(size=w.shape) / w  # weight 0 -> inf: last
        out = np.argsort(keys, axis=1, kind="stable")[:, :num_samples]
    return _on(input, out.reshape(input.shape[:-1] + (num_samples,)), np.int64)


def bernoulli(input, p=None) -> Tensor:  # noqa: A002
    """torch.bernoulli: 1 with probability input (or the number p), else 0, in input's dtype."""
    op = "bernoulli"
    _float_input(op, input)
    if p is None:
        prob = _host(input)
        if not ((prob >= 0) & (prob <= 1)).all():
            raise ValueError(f"{op}: probabilities must be in [0, 1]")
    else:
        prob = _probability(op, p)
    return _on(input, _B.host_rng().random(input.shape) < prob, input.dtype)


def _probability(op, p, low_open=False, high_open=False):
    p = _real(op, "p", p)
    if not ((0 < p if low_open else 0 <= p) and (p < 1 if high_open else p <= 1)):
        raise ValueError(f"{op}: expects p in {'(' if low_open else '['}0, 1{')' if high_open else ']'}, got p={p}")
    return p


def normal(mean, std=1.0, size=None, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """torch.normal: samples of N(mean, std^2).

    Forms: normal(mean_tensor, std_tensor) (they broadcast), normal(mean_tensor, std=1.0),
    normal(mean, std_tensor), and normal(mean, std, size) for two numbers.
    """
    op = "normal"
    if not isinstance(mean, Tensor) and not isinstance(std, Tensor):
        if size is None:
            raise TypeError(f"{op}: with a number mean and std give size=, e.g. normal(0.0, 1.0, size=(2, 3))")
        m, s = _real(op, "mean", mean), _real(op, "std", std)
        if s < 0:
            raise ValueError(f"{op}: expects std >= 0, got std={s}")
        shape = _shape((size,) if isinstance(size, numbers.Integral) else (size,), op)
        vals = _B.host_rng().normal(m, s, size=shape)
        return _make(lambda xp, dt: xp.asarray(vals.astype(dt)), shape, dtype, device, requires_grad, op=op)
    if size is not None or dtype is not None or device is not None:
        raise TypeError(f"{op}: size, dtype and device are for the form normal(mean, std, size) with numbers; "
                        "with a tensor mean or std the result takes their shape, dtype and device")
    like = mean if isinstance(mean, Tensor) else std
    for name, v in (("mean", mean), ("std", std)):
        if isinstance(v, Tensor):
            _float_input(op, v, name)
    m = _host(mean) if isinstance(mean, Tensor) else _real(op, "mean", mean)
    s = _host(std) if isinstance(std, Tensor) else _real(op, "std", std)
    if isinstance(mean, Tensor) and isinstance(std, Tensor):
        if mean.dtype != std.dtype or mean.device != std.device:
            raise TypeError(f"{op}: mean {mean.dtype} on {mean.device} and std {std.dtype} on {std.device} must "
                            "have one dtype and device")
    if (np.asarray(s) < 0).any():
        raise ValueError(f"{op}: expects std >= 0")
    try:
        shape = np.broadcast_shapes(np.shape(m), np.shape(s))
    except ValueError:
        raise ValueError(f"{op}: mean {np.shape(m)} and std {np.shape(s)} do not broadcast together") from None
    out = _on(like, m + s * _B.host_rng().standard_normal(shape), like.dtype)
    return out.requires_grad_(True) if requires_grad else out


def poisson(input) -> Tensor:  # noqa: A002
    """torch.poisson: a Poisson(rate) count for each rate in input, in input's dtype."""
    op = "poisson"
    _float_input(op, input)
    rate = _host(input)
    if not (rate >= 0).all():
        raise ValueError(f"{op}: invalid Poisson rate, expected rates >= 0 (and not nan)")
    return _on(input, _B.host_rng().poisson(rate), input.dtype)


def _dtype_range(dt):
    """torch's random_() range without bounds: [0, 2**mantissa] for floats, the dtype's max for integers."""
    if dt.kind == "b":
        return 0, 2
    if dt.kind == "f":
        return 0, 2 ** (np.finfo(dt).nmant + 1) + 1
    return 0, int(np.iinfo(dt).max) + 1


def random_like(op, t, **kw):
    """A constant tensor shaped and typed as t, filled by the in-place initialiser `op` (normal_, uniform_, ...).

    The parameters are checked as torch checks them; the values come from the host generator.
    """
    dt = t.data.dtype
    shape = t.data.shape
    rng = _B.host_rng()
    continuous = op in ("normal_", "uniform_", "exponential_", "log_normal_", "cauchy_")
    if continuous and dt.kind != "f":
        raise TypeError(f"{op}: draws from a continuous distribution and needs a floating-point tensor, "
                        f"got {dt}{list(shape)} on {t.device}")
    if op == "normal_" or op == "log_normal_":
        mean, std = _real(op, "mean", kw["mean"]), _real(op, "std", kw["std"])
        if std < 0 or (op == "log_normal_" and std == 0):
            raise ValueError(f"{op}: expects std {'>' if op == 'log_normal_' else '>='} 0, got std={std}")
        vals = rng.normal(mean, std, shape)
        vals = np.exp(vals) if op == "log_normal_" else vals
    elif op == "uniform_":
        lo, hi = _real(op, "from", kw["low"]), _real(op, "to", kw["high"])
        if lo > hi:
            raise ValueError(f"{op}: expects a [from, to) range, got from={lo} > to={hi}")
        vals = rng.uniform(lo, hi, shape).astype(dt)
        if lo < hi:  # rounding to float32 could land on `to` itself
            vals = np.minimum(vals, np.nextafter(np.asarray(hi, dt), np.asarray(lo, dt)))
    elif op == "exponential_":
        lambd = _real(op, "lambd", kw["lambd"])
        if not lambd > 0:
            raise ValueError(f"{op}: expects lambd > 0, got lambd={lambd}")
        vals = rng.exponential(1.0 / lambd, shape)
    elif op == "cauchy_":
        median, sigma = _real(op, "median", kw["median"]), _real(op, "sigma", kw["sigma"])
        if not sigma > 0:
            raise ValueError(f"{op}: expects sigma > 0, got sigma={sigma}")
        vals = median + sigma * rng.standard_cauchy(shape)
    elif op == "geometric_":
        vals = rng.geometric(_probability(op, kw["p"], low_open=True, high_open=True), shape)
    elif op == "bernoulli_":
        p = kw["p"]
        if isinstance(p, Tensor):
            _float_input(op, p, "p")
            prob = _host(p)
            if not ((prob >= 0) & (prob <= 1)).all():
                raise ValueError(f"{op}: probabilities p must be in [0, 1]")
            try:
                prob = np.broadcast_to(prob, shape)
            except ValueError:
                raise ValueError(f"{op}: p of shape {p.shape} does not broadcast to {tuple(shape)}") from None
        else:
            prob = _probability(op, p)
        vals = rng.random(shape) < prob
    elif op == "random_":
        lo, hi = kw["low"], kw["high"]
        for name, v in (("from", lo), ("to", hi)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Integral)):
                raise TypeError(f"{op}: {name} must be an int, got {v!r}")
        if hi is None:
            hi = _dtype_range(dt)[1]
        if lo >= hi:
            raise ValueError(f"{op}: expects 'from' < 'to', got from={lo} >= to={hi}")
        vals = rng.integers(int(lo), int(hi), shape) if hi <= 2 ** 63 else rng.integers(int(lo), 2 ** 63 - 1, shape)
    else:
        raise ValueError(f"random_like: unknown initialiser {op!r}")
    return _on(t, vals, dt)
