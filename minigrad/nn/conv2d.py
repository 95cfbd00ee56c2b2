"""2-D convolution, transposed convolution, pooling, fold/unfold, pixel shuffle and upsampling layers
(torch's names, arguments, attributes, init and reprs).

Each layer calls one function of `minigrad.functional`; the gradients come from the ops'
hand-written backward passes in `minigrad/ops/conv2d.py`.
"""
from __future__ import annotations

from .. import functional as F
from ..factory import empty
from ..ops.conv import _int_arg
from ..ops.conv2d import _pair, conv2d_padding
from . import init
from .conv import _AdaptiveMaxPoolNd, _AdaptivePoolNd, _MaxPoolNd  # (shared with the 1-D modules)
from .module import Module, Parameter

__all__ = [
    "Conv2d", "ConvTranspose1d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "Unfold", "Fold", "PixelShuffle", "PixelUnshuffle", "Upsample",
    "UpsamplingNearest2d", "UpsamplingBilinear2d",
]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _conv_repr(m) -> str:
    """torch's _ConvNd.extra_repr: only the non-default settings after kernel_size and stride."""
    s = f"{m.in_channels}, {m.out_channels}, kernel_size={m.kernel_size}, stride={m.stride}"
    if m.padding != (0,) * len(m.kernel_size):
        s += f", padding={m.padding}"
    if m.dilation != (1,) * len(m.dilation):
        s += f", dilation={m.dilation}"
    if getattr(m, "output_padding", None) is not None and m.output_padding != (0,) * len(m.output_padding):
        s += f", output_padding={m.output_padding}"
    if m.groups != 1:
        s += f", groups={m.groups}"
    if m.bias is None:
        s += ", bias=False"
    if m.padding_mode != "zeros":
        s += f", padding_mode={m.padding_mode}"
    return s


def _channels(op, in_channels, out_channels, groups):
    in_c = _int_arg(op, "in_channels", in_channels, 1)
    out_c = _int_arg(op, "out_channels", out_channels, 1)
    g = _int_arg(op, "groups", groups, 1)
    if in_c % g:
        raise ValueError(f"{op}: in_channels ({in_c}) must be divisible by groups ({g})")
    if out_c % g:
        raise ValueError(f"{op}: out_channels ({out_c}) must be divisible by groups ({g})")
    return in_c, out_c, g


class _ConvNd(Module):
    """Shared by Conv2d / Conv3d: `_dims` spatial dims, the layer calls F.conv{_dims}d (see Conv2d's docstring)."""

    _dims = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__()
        op, n = type(self).__name__, self._dims
        self.in_channels, self.out_channels, self.groups = _channels(op, in_channels, out_channels, groups)
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{op}: padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
        self.kernel_size = _pair(op, "kernel_size", kernel_size, 1, n=n)
        self.stride = _pair(op, "stride", stride, 1, n=n)
        self.dilation = _pair(op, "dilation", dilation, 1, n=n)
        self.padding_mode = padding_mode
        pads = conv2d_padding(op, padding, self.kernel_size, self.stride, self.dilation, n=n)
        self.padding = padding if isinstance(padding, str) else tuple(before for before, _ in pads)
        # F.pad's (left, right, top, bottom, ...) for the non-zero padding modes: last axis first (torch's name)
        self._reversed_padding_repeated_twice = tuple(v for pair in reversed(pads) for v in pair)
        self.weight = Parameter(empty(self.out_channels, self.in_channels // self.groups, *self.kernel_size,
                                      dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(empty(self.out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """torch's default: kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)), same bound for bias."""
        init._default_linear_init_(self.weight, self.bias)

    def forward(self, input):  # noqa: A002 - torch's name
        conv = getattr(F, f"conv{self._dims}d")
        if self.padding_mode != "zeros":
            try:
                x = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            except (ValueError, TypeError, IndexError, RuntimeError) as e:  # name the layer, not only F.pad
                raise type(e)(f"{type(self).__name__} (padding_mode={self.padding_mode!r}): {e}") from None
            return conv(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return conv(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return _conv_repr(self)


class Conv2d(_ConvNd):
    """A 2-D convolution (cross-correlation): (N, C_in, H, W) -> (N, C_out, H_out, W_out).

    Args:
        in_channels, out_channels: channels of the input and of the output.
        kernel_size: an int or an (h, w) pair.
        stride, dilation: ints or (h, w) pairs.
        padding: an int or (h, w) pair (both sides), 'valid' (0) or 'same' (output size = input
            size; stride 1 only).
        groups: independent channel groups (in_channels and out_channels must be divisible by it).
        bias: learn an additive bias per output channel (default True).
        padding_mode: 'zeros' (default), 'reflect', 'replicate' or 'circular' (done by `F.pad`
            before an unpadded convolution, as torch).
        device, dtype: where and in what float type to create the parameters.

    Attributes:
        weight: (out_channels, in_channels / groups, kH, kW), U(-b, b) with
            b = 1 / sqrt(in_channels / groups * kH * kW) (torch's kaiming_uniform_(a=sqrt(5))).
        bias: (out_channels,), U(-b, b) with the same b; None when bias=False.

    Shape: (N, C_in, H, W) or unbatched (C_in, H, W) -> (N, C_out, H_out, W_out) or (C_out, H_out, W_out),
        H_out = (H + 2 * padding[0] - dilation[0] * (kernel_size[0] - 1) - 1) // stride[0] + 1 (W alike).
    """

    _dims = 2


class _ConvTransposeNd(Module):
    """Shared by ConvTranspose1d / 2d / 3d (torch's layout: weight (in, out / groups, *kernel))."""

    _dims = 2
    _name = "ConvTranspose2d"

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        op, n = self._name, self._dims
        self.in_channels, self.out_channels, self.groups = _channels(op, in_channels, out_channels, groups)
        if padding_mode != "zeros":
            raise ValueError(f'{op}: only "zeros" padding mode is supported, got padding_mode={padding_mode!r}')
        if isinstance(padding, str):
            raise ValueError(f"{op}: padding must be an int or a tuple of ints, got {padding!r}")
        self.kernel_size = _pair(op, "kernel_size", kernel_size, 1, n=n)
        self.stride = _pair(op, "stride", stride, 1, n=n)
        self.padding = _pair(op, "padding", padding, 0, n=n)
        self.output_padding = _pair(op, "output_padding", output_padding, 0, n=n)
        self.dilation = _pair(op, "dilation", dilation, 1, n=n)
        self.padding_mode = padding_mode
        self.weight = Parameter(empty(self.in_channels, self.out_channels // self.groups, *self.kernel_size,
                                      dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(empty(self.out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """torch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = out_channels / groups * kernel taps."""
        init._default_linear_init_(self.weight, self.bias)

    def _output_padding(self, input, output_size):  # noqa: A002
        """torch's rule: the output_padding that makes the output exactly `output_size` (spatial dims,
        optionally preceded by the batch and channel dims)."""
        if output_size is None:
            return self.output_padding
        op, n = self._name, self._dims
        size = [int(v) for v in output_size]
        lead = 2 if input.ndim == n + 2 else 1
        if len(size) == lead + n:
            size = size[lead:]
        if len(size) != n:
            raise ValueError(f"{op}: for {n}-D input, output_size must have {n} or {n + lead} elements "
                             f"(got {len(size)})")
        lo = [(input.shape[lead + d] - 1) * self.stride[d] - 2 * self.padding[d]
              + self.dilation[d] * (self.kernel_size[d] - 1) + 1 for d in range(n)]
        hi = [lo[d] + self.stride[d] - 1 for d in range(n)]
        if any(not lo[d] <= size[d] <= hi[d] for d in range(n)):
            raise ValueError(f"{op}: requested an output size of {size}, but valid sizes range from {lo} to {hi} "
                             f"(for an input of {list(input.shape[lead:])})")
        return tuple(size[d] - lo[d] for d in range(n))

    def forward(self, input, output_size=None):  # noqa: A002
        fn = getattr(F, f"conv_transpose{self._dims}d")
        return fn(input, self.weight, self.bias, self.stride, self.padding, self._output_padding(input, output_size),
                  self.groups, self.dilation)

    def extra_repr(self) -> str:
        return _conv_repr(self)


class ConvTranspose2d(_ConvTransposeNd):
    """A 2-D transposed convolution (the adjoint of Conv2d in its input; see `F.conv_transpose2d`).

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias: as Conv2d's (padding
            is what the matching Conv2d would pad: it crops the output here).
        output_padding: extra size added after the output (< stride or < dilation).
        padding_mode: 'zeros' only (torch refuses the others).

    Attributes:
        weight: (in_channels, out_channels / groups, kH, kW), U(-b, b), b = 1 / sqrt(out_channels / groups * kH * kW).
        bias: (out_channels,), U(-b, b); None when bias=False.

    forward(input, output_size=None): output_size picks the output_padding that gives that size.
    """

    _dims = 2
    _name = "ConvTranspose2d"


class ConvTranspose1d(_ConvTransposeNd):
    """A 1-D transposed convolution over (N, C_in, L) or (C_in, L) (see `F.conv_transpose1d`); weight
    (in_channels, out_channels / groups, kernel_size); arguments as ConvTranspose2d's, as ints or 1-tuples."""

    _dims = 1
    _name = "ConvTranspose1d"


class MaxPool2d(_MaxPoolNd):
    """The maximum over (kH, kW) windows (see `F.max_pool2d`).

    Args:
        kernel_size: window size (int or pair).
        stride: step between windows (default: kernel_size).
        padding: implicit -inf padding on both sides (at most kernel_size / 2).
        dilation: spacing between a window's taps.
        return_indices: also return the flat positions h*W + w of the maxima (int64).
        ceil_mode: round the output size up, as torch.
    """

    _pool = "max_pool2d"


class _AvgPoolNd(Module):
    """AvgPool2d / AvgPool3d: the arguments kept for `F.<_pool>` (torch's attribute names and repr)."""

    _pool = ""  # the F function's name

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode, self.count_include_pad = bool(ceil_mode), bool(count_include_pad)
        self.divisor_override = divisor_override

    def forward(self, input):  # noqa: A002
        return getattr(F, self._pool)(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                                      self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(_AvgPoolNd):
    """The mean over (kH, kW) windows (see `F.avg_pool2d`).

    Args:
        kernel_size: window size (int or pair).
        stride: step between windows (default: kernel_size).
        padding: implicit zero padding on both sides (at most kernel_size / 2).
        ceil_mode: round the output size up, as torch.
        count_include_pad: count the zero padding in each window's divisor (default True).
        divisor_override: divide every window's sum by this int instead.
    """

    _pool = "avg_pool2d"


class AdaptiveAvgPool2d(_AdaptivePoolNd):
    """Means over (out_h, out_w) windows that tile H and W, whatever their size (see `F.adaptive_avg_pool2d`);
    output_size is an int or a pair, None in it keeping that input size."""

    _pool = "adaptive_avg_pool2d"


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """Maxima over (out_h, out_w) windows that tile H and W (see `F.adaptive_max_pool2d`)."""

    _pool = "adaptive_max_pool2d"


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """Maxima over `output_size` windows that tile the last axis (see `F.adaptive_max_pool1d`)."""

    _pool = "adaptive_max_pool1d"


class Unfold(Module):
    """Sliding blocks as columns, (N, C, H, W) -> (N, C*kH*kW, L) (see `F.unfold`)."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride

    def forward(self, input):  # noqa: A002
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, "
                f"stride={self.stride}")


class Fold(Module):
    """Columns summed back into an image, (N, C*kH*kW, L) -> (N, C, *output_size) (see `F.fold`)."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input):  # noqa: A002
        return F.fold(input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


class PixelShuffle(Module):
    """(*, C*r*r, H, W) -> (*, C, H*r, W*r) (see `F.pixel_shuffle`)."""

    def __init__(self, upscale_factor: int):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input):  # noqa: A002
        return F.pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H*r, W*r) -> (*, C*r*r, H, W) (see `F.pixel_unshuffle`)."""

    def __init__(self, downscale_factor: int):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input):  # noqa: A002
        return F.pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


class Upsample(Module):
    """Resamples 1-D, 2-D or 3-D spatial inputs to `size` or by `scale_factor` (see `F.interpolate`).

    Args:
        size: output spatial size (int or one per dim).
        scale_factor: multiplier(s) of the spatial size (stored as floats, as torch).
        mode: 'nearest' (default), 'nearest-exact', 'linear', 'bilinear', 'bicubic', 'trilinear' or 'area'.
        align_corners: for the interpolating modes.
        recompute_scale_factor: map positions from the sizes rather than from scale_factor.
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor is not None else None
        self.mode, self.align_corners, self.recompute_scale_factor = mode, align_corners, recompute_scale_factor

    def forward(self, input):  # noqa: A002
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self) -> str:
        info = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """Upsample(size, scale_factor, mode='nearest') for 4-D inputs (torch's older name)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Upsample(size, scale_factor, mode='bilinear', align_corners=True) for 4-D inputs (torch's older name)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
