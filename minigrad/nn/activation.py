"""Activation layers beyond the basic five (those, ReLU/Tanh/Sigmoid/GELU/Softplus, live in layers.py).

Each module stores torch's constructor arguments and calls one function of
`minigrad.functional` in `forward`; the gradients come from the ops' hand-written
backward passes. `inplace=True` writes the result into the input (see `F.relu`).
The reprs are torch's: `LeakyReLU(negative_slope=0.01)`, `ELU(alpha=1.0, inplace=True)`.
"""
from __future__ import annotations

import numbers

from .. import functional as F
from ..factory import full
from .init import constant_
from .layers import _check_positive_int
from .module import Module, Parameter

__all__ = [
    "LeakyReLU", "ELU", "SELU", "CELU", "SiLU", "Mish", "Hardtanh", "ReLU6", "Hardsigmoid", "Hardswish",
    "LogSigmoid", "Softsign", "Tanhshrink", "GLU", "Softmin", "PReLU",
]


def _inplace_repr(inplace: bool, args: str = "") -> str:
    """torch's extra_repr: the other arguments `args`, then "inplace=True" when it is set."""
    return ", ".join(part for part in (args, "inplace=True" if inplace else "") if part)


class LeakyReLU(Module):
    """y = x where x > 0, negative_slope * x elsewhere."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace, f"negative_slope={self.negative_slope}")


class ELU(Module):
    """y = x where x > 0, alpha (e^x - 1) elsewhere."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x):
        return F.elu(x, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace, f"alpha={self.alpha}")


class SELU(Module):
    """y = scale * (x where x > 0, alpha (e^x - 1) elsewhere), alpha ~ 1.6733, scale ~ 1.0507."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.selu(x, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class CELU(Module):
    """y = x where x > 0, alpha (e^(x / alpha) - 1) elsewhere."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x):
        return F.celu(x, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace, f"alpha={self.alpha}")


class SiLU(Module):
    """y = x * sigmoid(x) (swish)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.silu(x, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class Mish(Module):
    """y = x * tanh(softplus(x))."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.mish(x, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class Hardtanh(Module):
    """y = x clipped to [min_val, max_val]."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        super().__init__()
        for name, v in (("min_val", min_val), ("max_val", max_val)):
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise TypeError(f"Hardtanh: {name} must be a number, got {type(v).__name__} {v!r}")
        if not max_val > min_val:  # torch asserts the same (equal bounds are refused too)
            raise ValueError(f"Hardtanh: max_val ({max_val}) must be greater than min_val ({min_val})")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, x):
        return F.hardtanh(x, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace, f"min_val={self.min_val}, max_val={self.max_val}")


class ReLU6(Module):
    """y = min(max(x, 0), 6)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.relu6(x, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace)


class Hardsigmoid(Module):
    """y = clip(x + 3, 0, 6) / 6 (torch's repr shows no arguments, even with inplace=True)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.hardsigmoid(x, self.inplace)


class Hardswish(Module):
    """y = x * clip(x + 3, 0, 6) / 6 (torch's repr shows no arguments, even with inplace=True)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.hardswish(x, self.inplace)


class LogSigmoid(Module):
    """y = log(sigmoid(x)), stable for any finite x."""

    def forward(self, x):
        return F.logsigmoid(x)


class Softsign(Module):
    """y = x / (1 + |x|)."""

    def forward(self, x):
        return F.softsign(x)


class Tanhshrink(Module):
    """y = x - tanh(x)."""

    def forward(self, x):
        return F.tanhshrink(x)


class GLU(Module):
    """y = a * sigmoid(b), a and b the two halves of x along `dim` (whose size must be even)."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.glu(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmin(Module):
    """y = softmax(-x) along `dim`."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmin(x, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class PReLU(Module):
    """y = x where x > 0, weight * x elsewhere, with a learned slope.

    Args:
        num_parameters: 1 (one slope for every element) or the number of channels, dim 1 of the
            input (one slope per channel).
        init: the slopes' initial value.
        device, dtype: where and in what float type to create `weight`.

    Attributes:
        weight: Parameter of shape (num_parameters,), filled with `init`.
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        num_parameters = _check_positive_int("PReLU", "num_parameters", num_parameters)
        if isinstance(init, bool) or not isinstance(init, numbers.Real):
            raise TypeError(f"PReLU: init must be a number, got {type(init).__name__} {init!r}")
        self.num_parameters, self.init = int(num_parameters), float(init)
        self.weight = Parameter(full((self.num_parameters,), self.init, dtype=dtype, device=device))

    def reset_parameters(self):
        """Fill `weight` with `init` again (torch's reset)."""
        constant_(self.weight, self.init)

    def forward(self, x):
        return F.prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"
