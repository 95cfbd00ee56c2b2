"""torch.nn's remaining pooling-family layers: MaxUnpool1d/2d, LPPool1d/2d, FeatureAlphaDropout, and the
deprecated NLLLoss2d and Container (torch's names, arguments, attributes and reprs).

Each layer calls one function of `minigrad.functional` (ops/pool_more.py); nothing here writes a backward.
"""
from __future__ import annotations

import warnings

from .. import functional as F
from ..ops.conv import _int_arg
from ..ops.conv2d import _pair
from .extra import _DropoutNd
from .loss import NLLLoss
from .module import Module

__all__ = ["MaxUnpool1d", "MaxUnpool2d", "LPPool1d", "LPPool2d", "FeatureAlphaDropout", "NLLLoss2d", "Container"]


# ---------------------------------------------------------------- max unpooling
class _MaxUnpoolNd(Module):
    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """The partial inverse of MaxPool1d: each value goes back to the position its index names, 0 elsewhere.

    Args:
        kernel_size, stride (default kernel_size), padding: the pooling's (stored as 1-tuples, as torch).

    forward(input, indices, output_size=None): see `F.max_unpool1d`.
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        op = type(self).__name__
        self.kernel_size = (_int_arg(op, "kernel_size", kernel_size, 1),)
        self.stride = (_int_arg(op, "stride", kernel_size if stride is None else stride, 1),)
        self.padding = (_int_arg(op, "padding", padding, 0),)

    def forward(self, input, indices, output_size=None):  # noqa: A002
        return F.max_unpool1d(input, indices, self.kernel_size, self.stride, self.padding, output_size)


class MaxUnpool2d(_MaxUnpoolNd):
    """The partial inverse of MaxPool2d: each value goes back to the flat position h*W + w its index names.

    Args:
        kernel_size, stride (default kernel_size), padding: the pooling's (stored as pairs, as torch).

    forward(input, indices, output_size=None): see `F.max_unpool2d`.
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        op = type(self).__name__
        self.kernel_size = _pair(op, "kernel_size", kernel_size, 1)
        self.stride = _pair(op, "stride", kernel_size if stride is None else stride, 1)
        self.padding = _pair(op, "padding", padding, 0)

    def forward(self, input, indices, output_size=None):  # noqa: A002
        return F.max_unpool2d(input, indices, self.kernel_size, self.stride, self.padding, output_size)


# ---------------------------------------------------------------- power-average pooling
class _LPPoolNd(Module):
    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode: bool = False):
        super().__init__()
        self.norm_type, self.kernel_size, self.stride, self.ceil_mode = norm_type, kernel_size, stride, ceil_mode

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    """(sum over each window of x ** p) ** (1/p) along the last axis (see `F.lp_pool1d`).

    Args:
        norm_type: p (inf: the max of |x|).
        kernel_size: window size.
        stride: step between windows (default: kernel_size).
        ceil_mode: round the output length up, as torch.
    """

    def forward(self, input):  # noqa: A002
        return F.lp_pool1d(input, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode)


class LPPool2d(_LPPoolNd):
    """(sum over each (kH, kW) window of x ** p) ** (1/p) (see `F.lp_pool2d`).

    Args:
        norm_type: p (inf: the max of |x|).
        kernel_size: window size (int or pair).
        stride: step between windows (default: kernel_size).
        ceil_mode: round the output size up, as torch.
    """

    def forward(self, input):  # noqa: A002
        return F.lp_pool2d(input, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode)


# ---------------------------------------------------------------- dropout
class FeatureAlphaDropout(_DropoutNd):
    """Alpha dropout of whole channels (SELU networks), in training: `F.feature_alpha_dropout`.

    As torch, `inplace` is stored (and shown) but the forward never works in place.
    """

    def forward(self, input):  # noqa: A002
        return F.feature_alpha_dropout(input, self.p, self.training)


# ---------------------------------------------------------------- deprecated aliases
class NLLLoss2d(NLLLoss):
    """Deprecated torch alias of NLLLoss (warns FutureWarning on construction, as torch).

    It is minigrad's NLLLoss, so the class dimension is LAST: torch's (N, C, H, W) input is
    `input.permute(0, 2, 3, 1)` here, with the same (N, H, W) target.
    """

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean"):
        warnings.warn("`NLLLoss2d` has been deprecated. Please use `NLLLoss` instead as a drop-in replacement and "
                      "see https://pytorch.org/docs/main/nn.html#torch.nn.NLLLoss for more details.",
                      FutureWarning, stacklevel=2)
        super().__init__(weight, size_average, ignore_index, reduce, reduction)


class Container(Module):
    """Deprecated torch base class: a Module whose keyword arguments become child modules (warns FutureWarning)."""

    def __init__(self, **kwargs):
        warnings.warn("`nn.Container` is deprecated. All of its functionality is now implemented in `nn.Module`. "
                      "Subclass that instead.", FutureWarning, stacklevel=2)
        super().__init__()
        for key, value in kwargs.items():
            self.add_module(key, value)
