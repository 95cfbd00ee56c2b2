"""Activations, written as numerically stable primitives (no exp(x)/(1+exp(x)) that overflows)."""
from __future__ import annotations

import math

from .. import backend as _B
from ..autograd import Function
from .common import check_float

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
        return g * (ctx.saved[0] > 0)


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
    """The error function, elementwise (torch.erf)."""
    check_float("erf", x)
    return Erf.apply(x)


def gelu(x, approximate="none"):
    """torch.nn.functional.gelu: x * Phi(x) with the Gaussian CDF Phi; approximate="tanh" uses tanh's form."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    check_float("gelu", x)
    return GELU.apply(x, approximate=approximate)


def tanh(x):
    check_float("tanh", x)
    return Tanh.apply(x)


def sigmoid(x):
    check_float("sigmoid", x)
    return Sigmoid.apply(x)


def relu(x):
    return ReLU.apply(x)


def softplus(x):
    check_float("softplus", x)
    return Softplus.apply(x)
