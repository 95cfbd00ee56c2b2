"""Activations, written as numerically stable primitives (no exp(x)/(1+exp(x)) that overflows)."""
from __future__ import annotations

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
