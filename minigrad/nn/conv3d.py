"""3-D convolution, transposed convolution and pooling layers over (N, C, D, H, W) (torch's names,
arguments, attributes, init and reprs).

Each layer is its 2-D sibling's shared base (nn/conv2d.py, nn/conv.py) with three spatial dims; it
calls one function of `minigrad.functional` whose gradients come from `minigrad/ops/conv3d.py`.
"""
from __future__ import annotations

from .conv import _AdaptiveMaxPoolNd, _AdaptivePoolNd, _MaxPoolNd
from .conv2d import _AvgPoolNd, _ConvNd, _ConvTransposeNd

__all__ = ["Conv3d", "ConvTranspose3d", "MaxPool3d", "AvgPool3d", "AdaptiveAvgPool3d", "AdaptiveMaxPool3d"]


class Conv3d(_ConvNd):
    """A 3-D convolution (cross-correlation): (N, C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out).

    Args:
        in_channels, out_channels: channels of the input and of the output.
        kernel_size: an int or a (d, h, w) triple.
        stride, dilation: ints or (d, h, w) triples.
        padding: an int or (d, h, w) triple (both sides), 'valid' (0) or 'same' (output size = input
            size; stride 1 only).
        groups: independent channel groups (in_channels and out_channels must be divisible by it).
        bias: learn an additive bias per output channel (default True).
        padding_mode: 'zeros' (default), 'reflect', 'replicate' or 'circular' (done by `F.pad`
            before an unpadded convolution, as torch).
        device, dtype: where and in what float type to create the parameters.

    Attributes:
        weight: (out_channels, in_channels / groups, kD, kH, kW), U(-b, b) with
            b = 1 / sqrt(in_channels / groups * kD * kH * kW) (torch's kaiming_uniform_(a=sqrt(5))).
        bias: (out_channels,), U(-b, b) with the same b; None when bias=False.

    Shape: (N, C_in, D, H, W) or unbatched (C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out) or unbatched,
        D_out = (D + 2 * padding[0] - dilation[0] * (kernel_size[0] - 1) - 1) // stride[0] + 1 (H, W alike).
    """

    _dims = 3


class ConvTranspose3d(_ConvTransposeNd):
    """A 3-D transposed convolution (the adjoint of Conv3d in its input; see `F.conv_transpose3d`).

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias: as Conv3d's (padding
            is what the matching Conv3d would pad: it crops the output here).
        output_padding: extra size added after the output (< stride or < dilation).
        padding_mode: 'zeros' only (torch refuses the others).

    Attributes:
        weight: (in_channels, out_channels / groups, kD, kH, kW), U(-b, b),
            b = 1 / sqrt(out_channels / groups * kD * kH * kW).
        bias: (out_channels,), U(-b, b); None when bias=False.

    forward(input, output_size=None): output_size picks the output_padding that gives that size.
    """

    _dims = 3
    _name = "ConvTranspose3d"


class MaxPool3d(_MaxPoolNd):
    """The maximum over (kD, kH, kW) windows (see `F.max_pool3d`).

    Args:
        kernel_size: window size (int or triple).
        stride: step between windows (default: kernel_size).
        padding: implicit -inf padding on both sides (at most kernel_size / 2).
        dilation: spacing between a window's taps.
        return_indices: also return the flat positions d*H*W + h*W + w of the maxima (int64).
        ceil_mode: round the output size up, as torch.
    """

    _pool = "max_pool3d"


class AvgPool3d(_AvgPoolNd):
    """The mean over (kD, kH, kW) windows (see `F.avg_pool3d`).

    Args:
        kernel_size: window size (int or triple).
        stride: step between windows (default: kernel_size).
        padding: implicit zero padding on both sides (at most kernel_size / 2).
        ceil_mode: round the output size up, as torch.
        count_include_pad: count the zero padding in each window's divisor (default True).
        divisor_override: divide every window's sum by this int instead.
    """

    _pool = "avg_pool3d"


class AdaptiveAvgPool3d(_AdaptivePoolNd):
    """Means over (out_d, out_h, out_w) boxes that tile D, H and W, whatever their size (see
    `F.adaptive_avg_pool3d`); output_size is an int or a triple, None in it keeping that input size."""

    _pool = "adaptive_avg_pool3d"


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """Maxima over (out_d, out_h, out_w) boxes that tile D, H and W (see `F.adaptive_max_pool3d`);
    return_indices=True also gives their flat positions d*H*W + h*W + w."""

    _pool = "adaptive_max_pool3d"
