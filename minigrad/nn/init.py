"""Parameter initialisation, in place, with torch's names, gains and fan conventions.

Every function here fills a tensor in place (under `no_grad`, bumping its version
counter like any in-place write) and returns it, so it reads as in torch::

    nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5))
    nn.init.zeros_(layer.bias)

Random values come from the seeded host generator (`mg.manual_seed`), drawn in
float64 on the host and then cast and placed on the tensor's device. So one seed
gives the same weights on 'cpu' and 'cuda', and in float32 and float64 (up to rounding).

Fans follow torch: for a weight of shape (out, in, *kernel), fan_in = in * prod(kernel)
and fan_out = out * prod(kernel).
"""
from __future__ import annotations

import functools
import math
import numbers
import warnings

from .. import backend as _B
from ..autograd import no_grad
from ..tensor import Tensor

np = _B.np  # host-side random draws only; values are placed on the tensor's device

__all__ = [
    "calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_", "eye_",
    "xavier_uniform_", "xavier_normal_", "glorot_uniform_", "glorot_normal_",
    "kaiming_uniform_", "kaiming_normal_", "he_uniform_", "he_normal_", "orthogonal_",
    "trunc_normal_", "dirac_", "sparse_",
]

_LINEAR_LIKE = ("linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for a nonlinearity (torch's table).

    linear/identity/conv*/sigmoid: 1; tanh: 5/3; relu: sqrt(2);
    leaky_relu: sqrt(2 / (1 + slope^2)) with slope = `param` (default 0.01); selu: 3/4.

    Raises:
        ValueError: for an unknown nonlinearity or a non-numeric leaky_relu slope.
    """
    if nonlinearity in _LINEAR_LIKE:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, numbers.Real) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1.0 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4.0
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; expected one of "
                     f"{list(_LINEAR_LIKE) + ['tanh', 'relu', 'leaky_relu', 'selu']}")


# ---------------------------------------------------------------- helpers
def _rng(generator):
    """The host generator to draw from: torch's generator= argument (an `mg.Generator` / NumPy Generator),
    else the global one that `mg.manual_seed` seeds."""
    return _B.host_rng() if generator is None else generator


def _check(op: str, tensor) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"init.{op}: expected a minigrad Tensor (e.g. a Parameter), got {type(tensor).__name__}")
    if tensor.data.dtype.kind != "f":
        raise TypeError(f"init.{op}: expected a floating-point tensor, got dtype {tensor.dtype}")
    return tensor


def _fill(tensor: Tensor, host_values) -> Tensor:
    """Write host values into `tensor` in place (cast to its dtype, moved to its device)."""
    with no_grad():  # parameters require grad; an init is not part of any graph
        tensor.copy_(_B.as_array(host_values, dtype=tensor.data.dtype, device=tensor.device))
    return tensor


def _fans(op: str, tensor: Tensor):
    """fan_in = shape[1] * receptive field, fan_out = shape[0] * receptive field (torch's rule)."""
    if tensor.ndim < 2:
        raise ValueError(f"init.{op}: fan in and fan out cannot be computed for a tensor with fewer than 2 "
                         f"dimensions (got shape {tuple(tensor.shape)}); use uniform_/normal_ for biases")
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _calculate_fan_in_and_fan_out(tensor: Tensor):
    """torch's (private but widely used) helper: ``fan_in, fan_out = init._calculate_fan_in_and_fan_out(w)``."""
    return _fans("_calculate_fan_in_and_fan_out", tensor)


def _fan(op: str, tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init.{op}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(op, tensor)
    return fan_in if mode == "fan_in" else fan_out


# ---------------------------------------------------------------- basic fills
def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    """Fill with samples of U(a, b)."""
    _check("uniform_", tensor)
    if not a <= b:
        raise ValueError(f"init.uniform_: need a <= b, got a={a}, b={b}")
    return _fill(tensor, _rng(generator).uniform(float(a), float(b), size=tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    """Fill with samples of N(mean, std^2)."""
    _check("normal_", tensor)
    if std < 0:
        raise ValueError(f"init.normal_: std must be non-negative, got {std}")
    return _fill(tensor, _rng(generator).normal(float(mean), float(std), size=tensor.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with the value `val`."""
    _check("constant_", tensor)
    with no_grad():
        tensor.fill_(val)
    return tensor


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0."""
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1."""
    return constant_(tensor, 1.0)


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D tensor with the identity matrix (ones on the diagonal)."""
    _check("eye_", tensor)
    if tensor.ndim != 2:
        raise ValueError(f"init.eye_: expected a 2-D tensor, got shape {tuple(tensor.shape)}")
    return _fill(tensor, np.eye(*tensor.shape))


# ---------------------------------------------------------------- fan-scaled
def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot & Bengio (2010): U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    _check("xavier_uniform_", tensor)
    fan_in, fan_out = _fans("xavier_uniform_", tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return _fill(tensor, _rng(generator).uniform(-bound, bound, size=tensor.shape))


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot & Bengio (2010): N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    _check("xavier_normal_", tensor)
    fan_in, fan_out = _fans("xavier_normal_", tensor)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return _fill(tensor, _rng(generator).normal(0.0, std, size=tensor.shape))


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator=None) -> Tensor:
    """He et al. (2015): U(-b, b) with b = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a).

    Args:
        a: negative slope of the leaky_relu that follows (only used for nonlinearity='leaky_relu').
            torch's Linear uses a=sqrt(5), which gives b = 1 / sqrt(fan_in).
        mode: 'fan_in' keeps the forward activations' variance, 'fan_out' the backward gradients'.
        nonlinearity: a name accepted by `calculate_gain`.
    """
    _check("kaiming_uniform_", tensor)
    fan = _fan("kaiming_uniform_", tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan) if fan else 0.0
    bound = math.sqrt(3.0) * std  # U(-b, b) has std b / sqrt(3)
    return _fill(tensor, _rng(generator).uniform(-bound, bound, size=tensor.shape))


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator=None) -> Tensor:
    """He et al. (2015): N(0, std^2) with std = gain / sqrt(fan), gain = calculate_gain(nonlinearity, a)."""
    _check("kaiming_normal_", tensor)
    fan = _fan("kaiming_normal_", tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan) if fan else 0.0
    return _fill(tensor, _rng(generator).normal(0.0, std, size=tensor.shape))


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Saxe et al. (2013): a (semi-)orthogonal matrix times `gain` (trailing dims are flattened).

    For shape (rows, cols): rows <= cols gives orthonormal rows (W W^T = I),
    rows >= cols orthonormal columns (W^T W = I). Made from the QR decomposition
    of a Gaussian matrix, with R's diagonal signs folded into Q so the result is
    uniformly distributed (torch's recipe).
    """
    _check("orthogonal_", tensor)
    if tensor.ndim < 2:
        raise ValueError(f"init.orthogonal_: only tensors with 2 or more dimensions are supported, "
                         f"got shape {tuple(tensor.shape)}")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _rng(generator).standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    d = np.sign(np.diag(r))
    d[d == 0] = 1.0  # a zero on R's diagonal (measure zero) must not zero a column
    q = q * d
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(tensor.shape))


def _default_linear_init_(weight: Tensor, bias=None) -> None:
    """torch's default init of Linear and Conv*: weight U(-b, b) with b = 1 / sqrt(fan_in), bias the same.

    That is kaiming_uniform_(a=sqrt(5)) on the weight (gain sqrt(2 / 6) times sqrt(3 / fan_in)),
    then U(-1/sqrt(fan_in), 1/sqrt(fan_in)) on the bias (if any); a layer's `reset_parameters()`.
    """
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = _fans("uniform_", weight)
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        uniform_(bias, -bound, bound)


# Aliases under the authors' other common names.
glorot_uniform_ = xavier_uniform_
glorot_normal_ = xavier_normal_
he_uniform_ = kaiming_uniform_
he_normal_ = kaiming_normal_


# ---------------------------------------------------------------- truncated normal, Dirac, sparse
def _norm_cdf(x: float) -> float:
    """Phi(x), the standard normal CDF."""
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator=None) -> Tensor:
    """Fill with samples of N(mean, std^2) conditioned on [a, b]: density ~ exp(-(x - mean)^2 / (2 std^2)) there.

    Sampled exactly by rejection, as torch 2.13 does: when [a, b] holds more than 30% of the
    normal's mass, draw normals and redraw those outside [a, b]; otherwise draw uniformly on
    [a, b] and accept x with probability exp(-(x - mean)^2 / (2 std^2)) / (its maximum on [a, b]).
    Every value lies in [a, b] (in the tensor's dtype: rounding is monotone).

    Args:
        tensor: the floating-point tensor to fill.
        mean, std: the mean and standard deviation of the normal (std > 0).
        a, b: the bounds (a <= b); torch warns when mean is more than 2 std outside them, and so do we.
    """
    _check("trunc_normal_", tensor)
    for name, v in (("mean", mean), ("std", std), ("a", a), ("b", b)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or math.isnan(v):
            raise TypeError(f"init.trunc_normal_: {name} must be a number, got {v!r}")
    mean, std, a, b = float(mean), float(std), float(a), float(b)
    if not std > 0 or math.isinf(std):
        raise ValueError(f"init.trunc_normal_: std must be positive and finite, got {std}")
    if not a <= b:
        raise ValueError(f"init.trunc_normal_: need a <= b, got a={a}, b={b}")
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("init.trunc_normal_: mean is more than 2 std from [a, b]; the distribution of values may "
                      "be incorrect (as torch warns)", stacklevel=2)
    rng, shape = _rng(generator), tuple(tensor.shape)
    mass = _norm_cdf((b - mean) / std) - _norm_cdf((a - mean) / std)
    if mass > 0.3:
        out = rng.normal(mean, std, size=shape)
        bad = (out < a) | (out > b)
        while bad.any():  # each round keeps >30% of the rest: a few rounds
            out[bad] = rng.normal(mean, std, size=int(bad.sum()))
            bad = (out < a) | (out > b)
    else:
        if math.isinf(a) or math.isinf(b):
            raise ValueError(f"init.trunc_normal_: [a, b] = [{a}, {b}] is unbounded but holds only {mass:.3g} of the "
                             "normal's mass: sample its far tail some other way")
        mode = max(a, min(mean, b))  # where the density peaks on [a, b]
        log_peak = -0.5 * ((mode - mean) / std) ** 2
        out = np.empty(shape)
        pending = np.ones(shape, dtype=bool)
        while pending.any():
            n = int(pending.sum())
            x = rng.uniform(a, b, size=n)
            accept = np.log(rng.uniform(size=n)) <= -0.5 * ((x - mean) / std) ** 2 - log_peak
            rows = np.flatnonzero(pending)[accept]
            out.reshape(-1)[rows] = x[accept]
            pending.reshape(-1)[rows] = False
    return _fill(tensor, out)


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a 3-, 4- or 5-D convolution weight with the Dirac delta: the conv passes its inputs through.

    weight[g * out_per_group + d, d, center...] = 1 for d < min(out_per_group, in_channels) in every
    group g (out_per_group = shape[0] // groups), 0 elsewhere; a conv (with `groups` groups and
    'same' padding) then copies as many input channels to the output as it can.

    Args:
        tensor: a weight of shape (out, in, *kernel) with 1 to 3 kernel dims.
        groups: the conv's groups (shape[0] must be divisible by it).
    """
    _check("dirac_", tensor)
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(f"init.dirac_: only tensors with 3, 4, or 5 dimensions are supported, "
                         f"got shape {tuple(tensor.shape)}")
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or groups < 1:
        raise ValueError(f"init.dirac_: groups must be a positive int, got {groups!r}")
    shape = tuple(tensor.shape)
    if shape[0] % groups != 0:
        raise ValueError(f"init.dirac_: dim 0 (size {shape[0]}) must be divisible by groups={groups}")
    out_per_group = shape[0] // groups
    center = tuple(k // 2 for k in shape[2:])
    values = np.zeros(shape)
    for g in range(groups):
        for d in range(min(out_per_group, shape[1])):
            values[(g * out_per_group + d, d) + center] = 1.0
    return _fill(tensor, values)


def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01, generator=None) -> Tensor:
    """Fill a 2-D tensor with N(0, std^2) samples and zero ceil(sparsity * rows) random entries of every column.

    Martens (2010), "Deep learning via Hessian-free optimization": each column (unit) gets the
    same number of zeros, in rows drawn at random without replacement.

    Args:
        tensor: a 2-D tensor (rows, cols).
        sparsity: the fraction of each column set to zero, in [0, 1].
        std: the standard deviation of the nonzero values (default 0.01).
    """
    _check("sparse_", tensor)
    if tensor.ndim != 2:
        raise ValueError(f"init.sparse_: only tensors with 2 dimensions are supported, got shape {tuple(tensor.shape)}")
    if isinstance(sparsity, bool) or not isinstance(sparsity, numbers.Real) or not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"init.sparse_: sparsity must be a fraction in [0, 1], got {sparsity!r}")
    if isinstance(std, bool) or not isinstance(std, numbers.Real) or not std >= 0:
        raise ValueError(f"init.sparse_: std must be a non-negative number, got {std!r}")
    rows, cols = tensor.shape
    num_zeros = math.ceil(sparsity * rows)
    rng = _rng(generator)
    values = rng.normal(0.0, float(std), size=(rows, cols))
    for col in range(cols):
        values[rng.permutation(rows)[:num_zeros], col] = 0.0
    return _fill(tensor, values)


# ---------------------------------------------------------------- raw arrays (torch's `init.normal_(m.weight.data)`)
def _also_on_arrays(fn):
    """Let `fn` fill a backend array in place too, and return that array.

    torch code often initialises through ``.data`` (``nn.init.normal_(m.weight.data, 0.0, 0.02)`` in
    pytorch/examples' DCGAN). A minigrad Tensor's ``.data`` is its NumPy/CuPy array itself, so the fill goes
    through a Tensor wrapped around that same memory: the parameter changes, and (as with torch's ``.data``)
    its version counter does not.
    """
    @functools.wraps(fn)
    def fill(tensor, *args, **kwargs):
        if _B.is_array(tensor):
            fn(Tensor(tensor), *args, **kwargs)
            return tensor
        return fn(tensor, *args, **kwargs)
    return fill


_wrapped: dict = {}  # one wrapper per function, so aliases stay aliases (glorot_uniform_ is xavier_uniform_)
for _name in __all__:
    if _name.endswith("_"):
        _fn = globals()[_name]
        globals()[_name] = _wrapped.setdefault(id(_fn), _also_on_arrays(_fn))
del _name, _fn, _wrapped


def _make_deprecate(meth):
    """torch's deprecated un-suffixed alias (`nn.init.xavier_uniform`) of `meth`, with its FutureWarning."""
    new_name = meth.__name__
    old_name = new_name[:-1]

    def deprecated_init(*args, **kwargs):
        warnings.warn(f"`nn.init.{old_name}` is now deprecated in favor of `nn.init.{new_name}`.",
                      FutureWarning, stacklevel=2)
        return meth(*args, **kwargs)

    deprecated_init.__doc__ = f"Deprecated alias of `{new_name}` (as in torch)."
    deprecated_init.__name__ = old_name
    return deprecated_init


uniform = _make_deprecate(uniform_)
normal = _make_deprecate(normal_)
constant = _make_deprecate(constant_)
xavier_uniform = _make_deprecate(xavier_uniform_)
xavier_normal = _make_deprecate(xavier_normal_)
kaiming_uniform = _make_deprecate(kaiming_uniform_)
kaiming_normal = _make_deprecate(kaiming_normal_)
orthogonal = _make_deprecate(orthogonal_)
sparse = _make_deprecate(sparse_)
