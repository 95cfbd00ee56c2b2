"""1-D convolution and pooling layers over (N, C, L) inputs (torch's names, arguments and init).

Each layer calls one function of `minigrad.functional` (`conv1d`, `max_pool1d`,
`avg_pool1d`, `adaptive_avg_pool1d`); the gradients come from the ops' hand-written
backward passes in `minigrad/ops/conv.py`.
"""
from __future__ import annotations

from .. import functional as F
from ..factory import empty
from ..ops.conv import _int_arg, conv_padding
from . import init
from .module import Module, Parameter

__all__ = ["Conv1d", "MaxPool1d", "AvgPool1d", "AdaptiveAvgPool1d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class Conv1d(Module):
    """A 1-D convolution (cross-correlation) over the last axis: (N, C_in, L) -> (N, C_out, L_out).

    Args:
        in_channels, out_channels: channels of the input and of the output.
        kernel_size: taps of each filter (an int or a 1-tuple).
        stride: step between output positions.
        padding: an int (both sides), 'valid' (0) or 'same' (L_out = L; stride 1 only).
        dilation: spacing between the taps.
        groups: split the channels into this many independent groups (in_channels and
            out_channels must both be divisible by it).
        bias: learn an additive bias per output channel (default True).
        padding_mode: 'zeros' (default), 'reflect', 'replicate' or 'circular' (the padding
            is then done by `F.pad` before an unpadded convolution, as torch).
        device, dtype: where and in what float type to create the parameters.

    Attributes:
        weight: (out_channels, in_channels / groups, kernel_size), U(-b, b) with
            b = 1 / sqrt(in_channels / groups * kernel_size) (torch's kaiming_uniform_(a=sqrt(5))).
        bias: (out_channels,), U(-b, b) with the same b; None when bias=False.

    Shape: (N, C_in, L) or unbatched (C_in, L) -> (N, C_out, L_out) or (C_out, L_out), with
        L_out = (L + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__()
        op = "Conv1d"
        self.in_channels = _int_arg(op, "in_channels", in_channels, 1)
        self.out_channels = _int_arg(op, "out_channels", out_channels, 1)
        self.groups = _int_arg(op, "groups", groups, 1)
        if self.in_channels % self.groups:
            raise ValueError(f"{op}: in_channels ({self.in_channels}) must be divisible by groups ({self.groups})")
        if self.out_channels % self.groups:
            raise ValueError(f"{op}: out_channels ({self.out_channels}) must be divisible by groups ({self.groups})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{op}: padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
        k = _int_arg(op, "kernel_size", kernel_size, 1)
        s = _int_arg(op, "stride", stride, 1)
        d = _int_arg(op, "dilation", dilation, 1)
        self.kernel_size, self.stride, self.dilation = (k,), (s,), (d,)
        self.padding_mode = padding_mode
        left, right = conv_padding(op, padding, k, s, d)  # checks 'same'/'valid' and the int
        self.padding = padding if isinstance(padding, str) else (left,)
        # F.pad's (left, right) for the non-zero padding modes (torch's attribute name)
        self._reversed_padding_repeated_twice = (left, right)
        self.weight = Parameter(empty(out_channels, self.in_channels // self.groups, k, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """torch's default: kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)), same bound for bias."""
        init._default_linear_init_(self.weight, self.bias)

    def forward(self, input):  # noqa: A002 - torch's name
        if self.padding_mode != "zeros":
            try:
                x = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            except (ValueError, TypeError, IndexError, RuntimeError) as e:  # name the layer, not only F.pad
                raise type(e)(f"Conv1d (padding_mode={self.padding_mode!r}): {e}") from None
            return F.conv1d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return F.conv1d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,):
            s += f", padding={self.padding}"
        if self.dilation != (1,):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _MaxPoolNd(Module):
    """MaxPool1d / MaxPool2d: the arguments kept for `F.<_pool>` (torch's attribute names and repr)."""

    _pool = ""  # the F function's name

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = bool(return_indices), bool(ceil_mode)

    def forward(self, input):  # noqa: A002
        return getattr(F, self._pool)(input, self.kernel_size, self.stride, self.padding, self.dilation,
                                      ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """The maximum over windows of the last axis (see `F.max_pool1d`).

    Args:
        kernel_size: window size.
        stride: step between windows (default: kernel_size).
        padding: implicit -inf padding on both sides (at most kernel_size / 2).
        dilation: spacing between a window's taps.
        return_indices: also return the positions of the maxima (int64).
        ceil_mode: round the output length up, as torch.
    """

    _pool = "max_pool1d"


class AvgPool1d(Module):
    """The mean over windows of the last axis (see `F.avg_pool1d`).

    Args:
        kernel_size: window size.
        stride: step between windows (default: kernel_size).
        padding: implicit zero padding on both sides (at most kernel_size / 2).
        ceil_mode: round the output length up, as torch.
        count_include_pad: count the zero padding in each window's divisor (default True).
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True):
        super().__init__()
        k = _int_arg("AvgPool1d", "kernel_size", kernel_size, 1)
        self.kernel_size = (k,)  # torch keeps 1-tuples here
        self.stride = (_int_arg("AvgPool1d", "stride", stride, 1),) if stride is not None else (k,)
        self.padding = (_int_arg("AvgPool1d", "padding", padding, 0),)
        self.ceil_mode, self.count_include_pad = bool(ceil_mode), bool(count_include_pad)

    def forward(self, input):  # noqa: A002
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AdaptivePoolNd(Module):
    """The adaptive pools: output_size kept for `F.<_pool>`; the max pools also take return_indices."""

    _pool = ""  # the F function's name

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):  # noqa: A002
        return getattr(F, self._pool)(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class _AdaptiveMaxPoolNd(_AdaptivePoolNd):
    def __init__(self, output_size, return_indices: bool = False):
        super().__init__(output_size)
        self.return_indices = bool(return_indices)

    def forward(self, input):  # noqa: A002
        return getattr(F, self._pool)(input, self.output_size, self.return_indices)


class AdaptiveAvgPool1d(_AdaptivePoolNd):
    """Means over `output_size` windows that tile the last axis, whatever its length (see `F.adaptive_avg_pool1d`)."""

    _pool = "adaptive_avg_pool1d"
