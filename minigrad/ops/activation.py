"""Activations, written as numerically stable primitives (no exp(x)/(1+exp(x)) that overflows).

The first half holds the classic ones (tanh, sigmoid, relu, softplus, erf, gelu); the second
half the rest of torch.nn.functional's activations (leaky_relu, elu/selu/celu, silu, mish,
hardtanh/relu6, hardsigmoid, hardswish, logsigmoid, softsign, tanhshrink, glu, prelu, softmin)
and `_inplace`, which gives relu, leaky_relu, elu, ... their `inplace=True` form.
"""
from __future__ import annotations

import math
import warnings

from .. import backend as _B
from ..autograd import Function
from ..tensor import Tensor
from .common import c_order, check_float, check_pair, describe, normalize_axis
from .elementwise import _number
from .. import amp as _amp

get_xp = _B.get_array_module


def stable_sigmoid(xp, x):
    """sigmoid(x) = 1 / (1 + e^-x); for x << 0, e^-x overflows to inf and the result is exactly 0.

    Full relative precision on both tails, and branch-free. (The identity (1 + tanh(x/2)) / 2
    cancels for x << 0: in float32 it is 1e-3 off at x = -10 and exactly 0 at x = -20. The
    two-sided e^-|x| form needs a select, which costs 5-10x more on random signs.)
    """
    if x.dtype == _B.np.float16:  # e^-x overflows float16 already at x = -11: compute in float32
        return stable_sigmoid(xp, x.astype(_B.np.float32)).astype(x.dtype)
    with _B.np.errstate(over="ignore"):  # e^-x = inf is intended (NumPy would warn; CuPy does not)
        return 1 / (1 + xp.exp(-x))


def stable_softplus(xp, x):
    """softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|), finite for every finite x."""
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


class Tanh(Function):
    """y = tanh(x);  dy/dx = 1 - y**2"""

    saves_output = True  # backward reads the output: in-place changes to it must be caught

    @staticmethod
    def forward(ctx, x):
        y = get_xp(x).tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        y = ctx.saved[0]
        return g * (1 - y * y)


class Sigmoid(Function):
    """y = 1 / (1 + e^-x);  dy/dx = y (1 - y)"""

    saves_output = True  # backward reads the output: in-place changes to it must be caught

    @staticmethod
    def forward(ctx, x):
        y = stable_sigmoid(get_xp(x), x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        y = ctx.saved[0]
        return g * y * (1 - y)


class ReLU(Function):
    """y = max(x, 0);  dy/dx = 1 where x > 0, else 0 (0 at x = 0, as torch)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return get_xp(x).maximum(x, 0)

    @staticmethod
    def backward(ctx, g):
        # a select, not g * mask: an inf/NaN gradient arriving where x <= 0 becomes 0, as torch's
        # threshold_backward (0 * inf would be NaN: lp_pool's sign(s) * relu(|s|) at s = 0 needs this)
        return get_xp(g).where(ctx.saved[0] <= 0, g.dtype.type(0), g)  # (a typed 0: no upcast on any backend)


class Softplus(Function):
    """y = log(1 + e^x);  dy/dx = sigmoid(x)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return stable_softplus(get_xp(x), x)

    @staticmethod
    def backward(ctx, g):
        return g * stable_sigmoid(get_xp(g), ctx.saved[0])


class Erf(Function):
    """y = erf(x);  dy/dx = 2/sqrt(pi) e^(-x**2)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _B.erf(x)

    @staticmethod
    def backward(ctx, g):
        x = ctx.saved[0]
        return g * ((2 / math.sqrt(math.pi)) * get_xp(x).exp(-x * x))


class GELU(Function):
    """y = x Phi(x), Phi(x) = (1 + erf(x/sqrt 2))/2;  dy/dx = Phi(x) + x phi(x), phi(x) = e^(-x**2/2)/sqrt(2 pi)

    approximate="tanh" (torch's option): Phi(x) ~ (1 + t)/2, t = tanh(u), u = sqrt(2/pi)(x + 0.044715 x**3),
    and dy/dx = (1 + t)/2 + x/2 (1 - t**2) sqrt(2/pi)(1 + 3 * 0.044715 x**2).
    """

    @staticmethod
    def forward(ctx, x, approximate):
        xp = get_xp(x)
        if approximate == "tanh":
            t = xp.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x))
            cdf = 0.5 * (1 + t)
        else:
            t = None
            cdf = 0.5 * (1 + _B.erf(x * (1 / math.sqrt(2))))
        ctx.save_for_backward(x, cdf, t)
        return x * cdf

    @staticmethod
    def backward(ctx, g):
        x, cdf, t = ctx.saved
        xp = get_xp(x)
        if t is None:
            slope = cdf + x * xp.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))
        else:
            slope = cdf + 0.5 * x * (1 - t * t) * math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x * x)
        return g * slope


def erf(x):
    """The error function, elementwise (torch.erf); integer and bool tensors give the default float dtype."""
    return Erf.apply(_float_input("erf", x))


def gelu(x, approximate="none"):
    """torch.nn.functional.gelu: x * Phi(x) with the Gaussian CDF Phi; approximate="tanh" uses tanh's form."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    check_float("gelu", x)
    return GELU.apply(x, approximate=approximate)


def tanh(x):
    """torch.tanh; integer and bool tensors give the default float dtype, as in torch."""
    return Tanh.apply(_float_input("tanh", x))


def sigmoid(x):
    """torch.sigmoid; integer and bool tensors give the default float dtype, as in torch."""
    return Sigmoid.apply(_float_input("sigmoid", x))


def relu(x, inplace=False):
    """torch.nn.functional.relu: max(x, 0); integer tensors stay integer, bool is refused (as torch)."""
    _check_input("relu", x, floats_only=False)
    if inplace:
        return _inplace("relu", ReLU, x)
    return ReLU.apply(x)


def relu_(x):
    """torch.relu_ / F.relu_: relu written into x (see `relu(x, inplace=True)`)."""
    return relu(x, inplace=True)


def softplus(x):
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('softplus', softplus, x=x)
    check_float("softplus", x)
    return Softplus.apply(x)


def tanh_(x):
    """torch.tanh_ / Tensor.tanh_: tanh written into x (float tensors only, as torch)."""
    _check_input("tanh_", x)
    return _inplace("tanh", Tanh, x)


def sigmoid_(x):
    """torch.sigmoid_ / Tensor.sigmoid_: sigmoid written into x (float tensors only, as torch)."""
    _check_input("sigmoid_", x)
    return _inplace("sigmoid", Sigmoid, x)


# ---------------------------------------------------------------- argument checks and inplace=True
def _check_input(op, x, floats_only=True):
    """A TypeError naming `op` unless x is a Tensor of a dtype the op accepts (torch refuses bool
    everywhere here, and integers wherever the result is a float that torch does not promote to)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor as input, got {type(x).__name__}")
    if x.data.dtype.kind == "b":
        raise TypeError(f"{op}: bool tensors are not supported (got {describe(x)}); convert with .float()")
    if floats_only:
        check_float(op, x)


def _float_input(op, x):
    """x itself when it is a float tensor; integer and bool tensors as the default float dtype (torch's
    promotion for tanh, sigmoid, erf); anything else a TypeError naming `op`."""
    if isinstance(x, Tensor):
        kind = x.data.dtype.kind
        if kind == "f":  # the common case first: these ops sit in every RNN step
            return x
        if kind in "biu":
            return x.to(_B.get_default_dtype())
    else:
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    check_float(op, x)  # (complex and anything else: check_float's error)
    return x


def _promote_int(x):
    """Integer input as the default float dtype (softsign, tanhshrink: torch promotes there)."""
    if x.data.dtype.kind in "iu":
        return x.to(_B.get_default_dtype())
    return x


def _inplace(op, cls, x, **kw):
    """`cls` applied to x with the result written into x's own memory (inplace=True); returns x.

    The same path as every in-place op (`Tensor._write_in_place`): a plain write that bumps
    x's version counter when there is no graph, recorded (`autograd.record_inplace`) on a
    non-leaf that requires grad, so `nn.ReLU(inplace=True)` trains as in torch; refused on a
    leaf that requires grad, as in torch.
    """
    return x._write_in_place(op + "_", lambda t: cls.apply(t, **kw))


def _apply(op, cls, x, inplace, **kw):
    """cls on x, out of place, or written into x when inplace=True (the activations' `inplace=` argument)."""
    return _inplace(op, cls, x, **kw) if inplace else cls.apply(x, **kw)


# ---------------------------------------------------------------- piecewise-linear activations
class LeakyReLU(Function):
    """y = x if x > 0 else slope x;  dy/dx = 1 if x > 0 else slope (slope at x = 0, as torch)"""

    @staticmethod
    def forward(ctx, x, negative_slope):
        ctx.save_for_backward(x)
        ctx.slope = negative_slope
        return get_xp(x).where(x > 0, x, x * negative_slope)

    @staticmethod
    def backward(ctx, g):
        x = ctx.saved[0]
        return get_xp(g).where(x > 0, g, g * ctx.slope)


class Hardtanh(Function):
    """y = clip(x, lo, hi);  dy/dx = 1 where lo < x < hi, else 0 (0 at both bounds, as torch)"""

    @staticmethod
    def forward(ctx, x, min_val, max_val):
        ctx.save_for_backward(x)
        ctx.bounds = (min_val, max_val)
        return get_xp(x).clip(x, min_val, max_val)

    @staticmethod
    def backward(ctx, g):
        x = ctx.saved[0]
        lo, hi = ctx.bounds
        return g * ((x > lo) & (x < hi))


class Hardsigmoid(Function):
    """y = clip(x + 3, 0, 6) / 6;  dy/dx = 1/6 where -3 < x < 3, else 0 (0 at +-3, as torch)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return get_xp(x).clip(x + 3, 0, 6) / 6

    @staticmethod
    def backward(ctx, g):
        x = ctx.saved[0]
        return g * ((x > -3) & (x < 3)) / 6


class Hardswish(Function):
    """y = x clip(x + 3, 0, 6) / 6;  dy/dx = 0 for x <= -3, x/3 + 1/2 for -3 < x < 3, 1 for x >= 3 (torch's)"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * get_xp(x).clip(x + 3, 0, 6) / 6

    @staticmethod
    def backward(ctx, g):
        x = ctx.saved[0]
        xp = get_xp(x)
        return xp.where(x <= -3, 0, xp.where(x < 3, g * (x / 3 + 0.5), g)).astype(g.dtype, copy=False)


# ---------------------------------------------------------------- smooth activations
class ELU(Function):
    """y = scale x if x > 0 else scale alpha (e^(s x) - 1), s = input_scale;
    dy/dx = scale if x > 0 else scale alpha s e^(s x) (the x <= 0 branch at x = 0, as torch).

    elu is (alpha, 1, 1), selu (1.6733, 1.0507, 1) and celu (alpha, 1, 1/alpha): torch's own split.
    """

    @staticmethod
    def forward(ctx, x, alpha, scale, input_scale):
        xp = get_xp(x)
        ctx.save_for_backward(x)
        ctx.coefs = (alpha, scale, input_scale)
        # min(x, 0): e^(s x) cannot overflow on the branch that is thrown away
        return xp.where(x > 0, x * scale, xp.expm1(xp.minimum(x, 0) * input_scale) * (alpha * scale))

    @staticmethod
    def backward(ctx, g):
        x = ctx.saved[0]
        alpha, scale, input_scale = ctx.coefs
        xp = get_xp(g)
        # e^(s x) itself, not expm1(s x) + 1, which loses the digits of small e^(s x) to cancellation
        return xp.where(x > 0, g * scale, g * xp.exp(xp.minimum(x, 0) * input_scale) * (alpha * scale * input_scale))


class SiLU(Function):
    """y = x sigmoid(x);  dy/dx = s (1 + x (1 - s)), s = sigmoid(x)"""

    @staticmethod
    def forward(ctx, x):
        s = stable_sigmoid(get_xp(x), x)
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, g):
        x, s = ctx.saved
        return g * (s * (1 + x * (1 - s)))


class Mish(Function):
    """y = x tanh(softplus(x));  dy/dx = t + x (1 - t**2) sigmoid(x), t = tanh(softplus(x))"""

    @staticmethod
    def forward(ctx, x):
        xp = get_xp(x)
        t = xp.tanh(stable_softplus(xp, x))
        ctx.save_for_backward(x, t)
        return x * t

    @staticmethod
    def backward(ctx, g):
        x, t = ctx.saved
        return g * (t + x * (1 - t * t) * stable_sigmoid(get_xp(x), x))


class LogSigmoid(Function):
    """y = log sigmoid(x) = min(x, 0) - log(1 + e^-|x|);  dy/dx = sigmoid(-x)"""

    @staticmethod
    def forward(ctx, x):
        xp = get_xp(x)
        e = xp.exp(-xp.abs(x))  # never overflows; log1p keeps the tiny values of x >> 0
        ctx.save_for_backward(x, e)
        return c_order(xp.minimum(x, 0) - xp.log1p(e))  # C order, as torch's (x may be permuted)

    @staticmethod
    def backward(ctx, g):
        x, e = ctx.saved
        # sigmoid(-x) from e = e^-|x|: e / (1 + e) for x > 0, 1 / (1 + e) else (the tail keeps its
        # relative precision down to subnormals, where 1 / (1 + e^x) would overflow to 0 first)
        return g * get_xp(x).where(x > 0, e, 1) / (1 + e)


class Softsign(Function):
    """y = x / (1 + |x|);  dy/dx = 1 / (1 + |x|)**2"""

    @staticmethod
    def forward(ctx, x):
        d = 1 + get_xp(x).abs(x)
        ctx.save_for_backward(d)
        return x / d

    @staticmethod
    def backward(ctx, g):
        d = ctx.saved[0]
        return g / (d * d)


class Tanhshrink(Function):
    """y = x - tanh(x);  dy/dx = tanh(x)**2"""

    @staticmethod
    def forward(ctx, x):
        t = get_xp(x).tanh(x)
        ctx.save_for_backward(t)
        return x - t

    @staticmethod
    def backward(ctx, g):
        t = ctx.saved[0]
        return g * (t * t)


class GLU(Function):
    """y = a sigmoid(b), (a, b) = the two halves of x along dim;  dy/da = sigmoid(b), dy/db = a s (1 - s)"""

    @staticmethod
    def forward(ctx, x, dim):
        xp = get_xp(x)
        a, b = xp.split(x, 2, axis=dim)
        s = stable_sigmoid(xp, b)
        ctx.save_for_backward(a, s)
        ctx.dim = dim
        return a * s

    @staticmethod
    def backward(ctx, g):
        a, s = ctx.saved
        return get_xp(g).concatenate([g * s, g * a * s * (1 - s)], axis=ctx.dim)


class PReLU(Function):
    """y = x if x > 0 else w x, w per channel (dim 1) or one for all;
    dy/dx = 1 if x > 0 else w (w at x = 0, as torch), dy/dw = sum of x where x <= 0"""

    @staticmethod
    def forward(ctx, x, w):
        # w as it broadcasts against x: one value, or (1, C, 1, ...) for channels on dim 1
        wb = w.reshape(()) if w.size == 1 else w.reshape((1, -1) + (1,) * (x.ndim - 2))
        ctx.save_for_backward(x, wb)
        ctx.w_shape = w.shape
        return get_xp(x).where(x > 0, x, x * wb)

    @staticmethod
    def backward(ctx, g):
        x, wb = ctx.saved
        xp = get_xp(g)
        pos = x > 0
        gx = xp.where(pos, g, g * wb) if ctx.needs_input_grad[0] else None
        gw = None
        if ctx.needs_input_grad[1]:
            gxw = xp.where(pos, 0, g * x).astype(g.dtype, copy=False)
            axes = tuple(i for i in range(x.ndim) if wb.ndim == 0 or i != 1)
            gw = gxw.sum(axis=axes).reshape(ctx.w_shape)
        return gx, gw


# ---------------------------------------------------------------- wrappers (torch.nn.functional's)
SELU_ALPHA = 1.6732632423543772848170429916717  # torch's constants (Klambauer et al. 2017)
SELU_SCALE = 1.0507009873554804934193349852946


def leaky_relu(x, negative_slope=0.01, inplace=False):
    """torch.nn.functional.leaky_relu: x where x > 0, negative_slope * x elsewhere."""
    _check_input("leaky_relu", x)
    kw = dict(negative_slope=float(_number("leaky_relu", "negative_slope", negative_slope, allow_bool=False)))
    return _apply("leaky_relu", LeakyReLU, x, inplace, **kw)


def leaky_relu_(x, negative_slope=0.01):
    """F.leaky_relu_: leaky_relu written into x."""
    return leaky_relu(x, negative_slope, inplace=True)


def _elu(op, x, alpha, scale, input_scale, inplace):
    kw = dict(alpha=alpha, scale=scale, input_scale=input_scale)
    return _apply(op, ELU, x, inplace, **kw)


def elu(x, alpha=1.0, inplace=False):
    """torch.nn.functional.elu: x where x > 0, alpha (e^x - 1) elsewhere."""
    _check_input("elu", x)
    return _elu("elu", x, float(_number("elu", "alpha", alpha, allow_bool=False)), 1.0, 1.0, inplace)


def elu_(x, alpha=1.0):
    """F.elu_: elu written into x."""
    return elu(x, alpha, inplace=True)


def selu(x, inplace=False):
    """torch.nn.functional.selu: scale * elu(x, alpha) with the self-normalising constants."""
    _check_input("selu", x)
    return _elu("selu", x, SELU_ALPHA, SELU_SCALE, 1.0, inplace)


def selu_(x):
    """F.selu_: selu written into x."""
    return selu(x, inplace=True)


def celu(x, alpha=1.0, inplace=False):
    """torch.nn.functional.celu: x where x > 0, alpha (e^(x/alpha) - 1) elsewhere (alpha != 0)."""
    _check_input("celu", x)
    alpha = float(_number("celu", "alpha", alpha, allow_bool=False))
    if alpha == 0:
        raise ValueError("celu: alpha cannot be 0 (the result divides by alpha)")
    return _elu("celu", x, alpha, 1.0, 1.0 / alpha, inplace)


def celu_(x, alpha=1.0):
    """F.celu_: celu written into x."""
    return celu(x, alpha, inplace=True)


def silu(x, inplace=False):
    """torch.nn.functional.silu (swish): x * sigmoid(x)."""
    _check_input("silu", x)
    return _apply("silu", SiLU, x, inplace)


def mish(x, inplace=False):
    """torch.nn.functional.mish: x * tanh(softplus(x))."""
    _check_input("mish", x)
    return _apply("mish", Mish, x, inplace)


def hardtanh(x, min_val=-1.0, max_val=1.0, inplace=False):
    """torch.nn.functional.hardtanh: x clipped to [min_val, max_val]; integer tensors stay integer
    (the bounds then truncated to integers, as torch does)."""
    return _hardtanh("hardtanh", x, min_val, max_val, inplace)


def _hardtanh(op, x, min_val, max_val, inplace):
    _check_input(op, x, floats_only=False)
    lo = _number(op, "min_val", min_val, allow_bool=False)
    hi = _number(op, "max_val", max_val, allow_bool=False)
    if lo > hi:
        raise ValueError(f"{op}: min_val cannot be greater than max_val, got min_val={min_val}, max_val={max_val}")
    if x.data.dtype.kind in "iu":
        lo, hi = int(lo), int(hi)  # torch converts the bounds to the tensor's integer type
    else:
        lo, hi = float(lo), float(hi)
    kw = dict(min_val=lo, max_val=hi)
    return _apply(op, Hardtanh, x, inplace, **kw)


def hardtanh_(x, min_val=-1.0, max_val=1.0):
    """F.hardtanh_: hardtanh written into x."""
    return hardtanh(x, min_val, max_val, inplace=True)


def relu6(x, inplace=False):
    """torch.nn.functional.relu6: min(max(x, 0), 6) = hardtanh(x, 0, 6) (integer tensors stay integer)."""
    return _hardtanh("relu6", x, 0.0, 6.0, inplace)


def hardsigmoid(x, inplace=False):
    """torch.nn.functional.hardsigmoid: clip(x + 3, 0, 6) / 6."""
    _check_input("hardsigmoid", x)
    return _apply("hardsigmoid", Hardsigmoid, x, inplace)


def hardswish(x, inplace=False):
    """torch.nn.functional.hardswish: x * clip(x + 3, 0, 6) / 6."""
    _check_input("hardswish", x)
    return _apply("hardswish", Hardswish, x, inplace)


def logsigmoid(x):
    """torch.nn.functional.logsigmoid: log(sigmoid(x)), finite and precise for any finite x."""
    _check_input("logsigmoid", x)
    return LogSigmoid.apply(x)


def softsign(x):
    """torch.nn.functional.softsign: x / (1 + |x|); integer tensors give the default float dtype (as torch)."""
    _check_input("softsign", x, floats_only=False)
    return Softsign.apply(_promote_int(x))


def tanhshrink(x):
    """torch.nn.functional.tanhshrink: x - tanh(x); integer tensors give the default float dtype (as torch)."""
    _check_input("tanhshrink", x, floats_only=False)
    return Tanhshrink.apply(_promote_int(x))


def glu(x, dim=-1):
    """torch.nn.functional.glu: a * sigmoid(b), where a and b are the halves of x along `dim`."""
    _check_input("glu", x)
    if x.data.ndim == 0:
        raise ValueError(f"glu: does not support scalars (0-d input {describe(x)}): the halving dimension must be even")
    d = normalize_axis("glu", dim, x.data.ndim)
    if x.data.shape[d] % 2:
        raise ValueError(f"glu: the halving dimension must have an even size, but dimension {d} of "
                         f"{describe(x)} has size {x.data.shape[d]}")
    return GLU.apply(x, dim=d)


def prelu(x, weight):
    """torch.nn.functional.prelu: x where x > 0, weight * x elsewhere; weight holds one slope, or
    one per channel (dim 1 of x)."""
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('prelu', prelu, x=x, weight=weight)
    _check_input("prelu", x)
    if not isinstance(weight, Tensor):
        raise TypeError(f"prelu: weight must be a Tensor, got {type(weight).__name__}")
    _check_input("prelu (weight)", weight)
    x, weight = check_pair("prelu", x, weight)
    n = weight.data.size
    if n != 1:
        if x.data.ndim == 0:
            raise ValueError(f"prelu: a 0-d input {describe(x)} needs a single slope, got weight {describe(weight)}")
        channels = x.data.shape[1] if x.data.ndim >= 2 else 1
        if weight.data.ndim != 1 or n != channels:
            raise ValueError(f"prelu: weight {describe(weight)} must hold 1 slope or one per channel (dim 1) of "
                             f"input {describe(x)}, i.e. {channels}")
    return PReLU.apply(x, weight)


def softmin(x, dim=None, _stacklevel=3, dtype=None):
    """torch.nn.functional.softmin: softmax(-x) along `dim` (dtype: cast x first, as torch)."""
    from .nn import softmax  # (ops.nn imports this module)
    _check_input("softmin", x, floats_only=dtype is None)
    if dtype is not None:  # e.g. an integer tensor with dtype=mg.float32
        x = x.to(dtype)
        check_float("softmin", x)
    if dim is None:
        # torch's legacy choice: dim 0 for 0-, 1- and 3-d input, else 1 (and the same warning)
        dim = 0 if x.data.ndim in (0, 1, 3) else 1
        warnings.warn("Implicit dimension choice for softmin has been deprecated. Change the call to include "
                      "dim=X as an argument.", UserWarning, stacklevel=_stacklevel)
    normalize_axis("softmin", dim, max(x.data.ndim, 1))  # the error names softmin (a 0-d x takes dim 0 or -1)
    return softmax(-x, dim)
