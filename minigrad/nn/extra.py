"""More of torch.nn: the remaining losses, distance, shrink/threshold activations, padding layers,
Bilinear, EmbeddingBag and channel / alpha dropout.

Each module stores torch's constructor arguments and calls one function of
`minigrad.functional` (ops/loss_extra.py, or `F.pad` for the padding layers); nothing here
writes a backward. Reprs follow torch's: `Threshold(threshold=0.1, value=20)`, `ZeroPad2d((1, 1, 1, 1))`.
"""
from __future__ import annotations

import math
import numbers

from .. import functional as F
from ..autograd import no_grad
from ..factory import empty
from ..ops.loss_extra import softmax2d
from . import init
from .activation import _inplace_repr
from .layers import _check_positive_int
from .loss import _Loss, _WeightedLoss
from .module import Module, Parameter

__all__ = [
    "GaussianNLLLoss", "PoissonNLLLoss", "HingeEmbeddingLoss", "SoftMarginLoss", "MultiLabelSoftMarginLoss",
    "MultiMarginLoss", "MultiLabelMarginLoss", "TripletMarginLoss", "TripletMarginWithDistanceLoss",
    "PairwiseDistance", "Threshold", "Hardshrink", "Softshrink", "RReLU", "Softmax2d",
    "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d",
    "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d",
    "ReplicationPad3d", "CircularPad1d", "CircularPad2d", "CircularPad3d",
    "Bilinear", "EmbeddingBag", "Dropout1d", "AlphaDropout", "Dropout2d", "Dropout3d",
]


# ================================================================ losses
class GaussianNLLLoss(_Loss):
    """0.5 (log max(var, eps) + (input - target)^2 / max(var, eps)), reduced: `F.gaussian_nll_loss`.

    forward(input, target, var): var has input's shape, one dim fewer (the last), or one dim of size 1.
    """

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
        super().__init__(None, None, reduction)
        self.full, self.eps = bool(full), float(eps)

    def forward(self, input, target, var):  # noqa: A002
        return F.gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps, reduction=self.reduction)


class PoissonNLLLoss(_Loss):
    """exp(input) - target input (log_input=True) or input - target log(input + eps): `F.poisson_nll_loss`."""

    def __init__(self, log_input: bool = True, full: bool = False, size_average=None, eps: float = 1e-8,
                 reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.log_input, self.full, self.eps = bool(log_input), bool(full), float(eps)

    def forward(self, log_input, target):
        return F.poisson_nll_loss(log_input, target, log_input=self.log_input, full=self.full, eps=self.eps,
                                  reduction=self.reduction)


class HingeEmbeddingLoss(_Loss):
    """x where y = 1, max(0, margin - x) where y = -1: `F.hinge_embedding_loss`."""

    def __init__(self, margin: float = 1.0, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = float(margin)

    def forward(self, input, target):  # noqa: A002
        return F.hinge_embedding_loss(input, target, margin=self.margin, reduction=self.reduction)


class SoftMarginLoss(_Loss):
    """log(1 + exp(-y x)), reduced: `F.soft_margin_loss`."""

    def forward(self, input, target):  # noqa: A002
        return F.soft_margin_loss(input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_WeightedLoss):
    """Per-sample mean over classes (last dim) of the binary logistic losses: `F.multilabel_soft_margin_loss`.

    weight (a buffer) rescales each class.
    """

    def forward(self, input, target):  # noqa: A002
        return F.multilabel_soft_margin_loss(input, target, weight=self.weight, reduction=self.reduction)


class MultiMarginLoss(_WeightedLoss):
    """Multi-class hinge loss (1/C) sum_{i != y} w_y max(0, margin - x_y + x_i)^p: `F.multi_margin_loss`.

    Shape: input (N, C) or (C,); target (N,) class indices or one index.
    """

    def __init__(self, p: int = 1, margin: float = 1.0, weight=None, size_average=None, reduce=None,
                 reduction: str = "mean"):
        if isinstance(p, bool) or p not in (1, 2):
            raise ValueError(f"MultiMarginLoss: only p == 1 and p == 2 are supported, got p={p!r}")
        if weight is not None and getattr(weight, "ndim", None) != 1:
            raise ValueError(f"MultiMarginLoss: weight must be 1-D (one entry per class), got {weight!r}")
        super().__init__(weight, size_average, reduce, reduction)
        self.p, self.margin = int(p), float(margin)

    def forward(self, input, target):  # noqa: A002
        return F.multi_margin_loss(input, target, p=self.p, margin=self.margin, weight=self.weight,
                                   reduction=self.reduction)


class MultiLabelMarginLoss(_Loss):
    """Multi-label hinge loss against targets listed before the first -1: `F.multilabel_margin_loss`."""

    def forward(self, input, target):  # noqa: A002
        return F.multilabel_margin_loss(input, target, reduction=self.reduction)


class TripletMarginLoss(_Loss):
    """max(0, margin + d(a, p) - d(a, n)) with the p-norm pairwise distance: `F.triplet_margin_loss`."""

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                 size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        if isinstance(margin, bool) or not isinstance(margin, numbers.Real) or margin <= 0:
            raise ValueError(f"TripletMarginLoss: margin must be greater than 0, got {margin!r}")
        self.margin, self.p, self.eps, self.swap = float(margin), p, float(eps), bool(swap)

    def forward(self, anchor, positive, negative):
        return F.triplet_margin_loss(anchor, positive, negative, margin=self.margin, p=self.p, eps=self.eps,
                                     swap=self.swap, reduction=self.reduction)


class TripletMarginWithDistanceLoss(_Loss):
    """The triplet loss with any distance_function (default: `PairwiseDistance()`, shown as a submodule as torch)."""

    def __init__(self, *, distance_function=None, margin: float = 1.0, swap: bool = False, reduction: str = "mean"):
        super().__init__(None, None, reduction)
        if isinstance(margin, bool) or not isinstance(margin, numbers.Real) or margin <= 0:
            raise ValueError(f"TripletMarginWithDistanceLoss: margin must be greater than 0, got {margin!r}")
        if distance_function is not None and not callable(distance_function):
            raise TypeError("TripletMarginWithDistanceLoss: distance_function must be callable, got "
                            f"{type(distance_function).__name__}")
        self.distance_function = distance_function if distance_function is not None else PairwiseDistance()
        self.margin, self.swap = float(margin), bool(swap)

    def forward(self, anchor, positive, negative):
        return F.triplet_margin_with_distance_loss(anchor, positive, negative, distance_function=self.distance_function,
                                                   margin=self.margin, swap=self.swap, reduction=self.reduction)


class PairwiseDistance(Module):
    """||x1 - x2 + eps||_p over the last dim: `F.pairwise_distance` (torch's repr shows no arguments)."""

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, bool(keepdim)  # torch stores p as `norm`

    def forward(self, x1, x2):
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


# ================================================================ activations
class Threshold(Module):
    """y = x where x > threshold, else value: `F.threshold`."""

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, input):  # noqa: A002
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace, f"threshold={self.threshold}, value={self.value}")


class Hardshrink(Module):
    """y = x where |x| > lambd, else 0: `F.hardshrink`."""

    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input):  # noqa: A002
        return F.hardshrink(input, self.lambd)

    def extra_repr(self) -> str:
        return f"{self.lambd}"


class Softshrink(Module):
    """y = x - lambd sign(x) where |x| > lambd, else 0: `F.softshrink`."""

    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input):  # noqa: A002
        return F.softshrink(input, self.lambd)

    def extra_repr(self) -> str:
        return f"{self.lambd}"


class RReLU(Module):
    """Randomized leaky ReLU: random slopes U(lower, upper) for x <= 0 in training, (lower + upper) / 2 in eval."""

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False):
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, input):  # noqa: A002
        return F.rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace, f"lower={self.lower}, upper={self.upper}")


class Softmax2d(Module):
    """softmax over the channels of (N, C, H, W) or (C, H, W) input (dim -3)."""

    def forward(self, input):  # noqa: A002
        return softmax2d(input)


# ================================================================ padding layers
def _padding(layer: str, padding, n: int) -> tuple:
    """An int -> (p,) * 2n; a tuple is kept as given (checked to hold ints; F.pad checks its length)."""
    if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
        return (int(padding),) * (2 * n)
    try:
        pad = tuple(padding)
    except TypeError:
        raise TypeError(f"{layer}: padding must be an int or a tuple of {2 * n} ints, got {padding!r}") from None
    if any(isinstance(p, bool) or not isinstance(p, numbers.Integral) for p in pad):
        raise TypeError(f"{layer}: padding must be an int or a tuple of {2 * n} ints, got {padding!r}")
    return tuple(int(p) for p in pad)


class _PadNd(Module):
    """F.pad of the last n dims with torch's checks on the input's number of dims."""

    n = 1
    mode = "constant"

    def __init__(self, padding):
        super().__init__()
        self.padding = _padding(type(self).__name__, padding, self.n)

    def _check(self, x):
        nd = x.ndim
        name = type(self).__name__
        if self.mode == "constant":
            if len(self.padding) > 2 * nd:
                raise ValueError(f"{name}: padding {self.padding} has {len(self.padding)} values, more than two per "
                                 f"dimension of the {nd}-D input {x.dtype}{list(x.shape)}")
        elif nd not in (self.n + 1, self.n + 2):
            raise ValueError(f"{name}: expected a {self.n + 1}-D (unbatched) or {self.n + 2}-D (batched) input, "
                             f"got {nd}-D {x.dtype}{list(x.shape)}")

    def forward(self, input):  # noqa: A002
        self._check(input)
        return F.pad(input, self.padding, mode=self.mode, value=getattr(self, "value", 0.0))

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value: float):
        super().__init__(padding)
        self.value = value

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dim with `value`: padding int or (left, right)."""
    n = 1


class ConstantPad2d(_ConstantPadNd):
    """Pad the last 2 dims with `value`: padding int or (left, right, top, bottom)."""
    n = 2


class ConstantPad3d(_ConstantPadNd):
    """Pad the last 3 dims with `value`: padding int or (left, right, top, bottom, front, back)."""
    n = 3


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad1d(_ZeroPadNd):
    """Pad the last dim with zeros."""
    n = 1


class ZeroPad2d(_ZeroPadNd):
    """Pad the last 2 dims with zeros."""
    n = 2


class ZeroPad3d(_ZeroPadNd):
    """Pad the last 3 dims with zeros."""
    n = 3


class ReflectionPad1d(_PadNd):
    """Mirror the last dim without repeating the edge; input (C, W) or (N, C, W)."""
    n, mode = 1, "reflect"


class ReflectionPad2d(_PadNd):
    """Mirror the last 2 dims; input (C, H, W) or (N, C, H, W)."""
    n, mode = 2, "reflect"


class ReflectionPad3d(_PadNd):
    """Mirror the last 3 dims; input (C, D, H, W) or (N, C, D, H, W)."""
    n, mode = 3, "reflect"


class ReplicationPad1d(_PadNd):
    """Repeat the edge values of the last dim; input (C, W) or (N, C, W)."""
    n, mode = 1, "replicate"


class ReplicationPad2d(_PadNd):
    """Repeat the edge values of the last 2 dims; input (C, H, W) or (N, C, H, W)."""
    n, mode = 2, "replicate"


class ReplicationPad3d(_PadNd):
    """Repeat the edge values of the last 3 dims; input (C, D, H, W) or (N, C, D, H, W)."""
    n, mode = 3, "replicate"


class CircularPad1d(_PadNd):
    """Wrap the last dim around; input (C, W) or (N, C, W)."""
    n, mode = 1, "circular"


class CircularPad2d(_PadNd):
    """Wrap the last 2 dims around; input (C, H, W) or (N, C, H, W)."""
    n, mode = 2, "circular"


class CircularPad3d(_PadNd):
    """Wrap the last 3 dims around; input (C, D, H, W) or (N, C, D, H, W)."""
    n, mode = 3, "circular"


# ================================================================ layers with parameters
class Bilinear(Module):
    """y = x1^T A x2 + b per output feature: `F.bilinear`.

    Args:
        in1_features, in2_features: sizes of the two inputs' last dims.
        out_features: size of the output's last dim.
        bias: learn an additive bias (default True).
        device, dtype: where and in what float type to create the parameters.

    Attributes:
        weight: Parameter (out_features, in1_features, in2_features), U(-k, k) with k = 1/sqrt(in1_features)
            (torch's init).
        bias: Parameter (out_features,), U(-k, k); None when bias=False.

    Shape: input1 (*, in1_features), input2 (*, in2_features) -> (*, out_features).
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        self.in1_features = _check_positive_int("Bilinear", "in1_features", in1_features)
        self.in2_features = _check_positive_int("Bilinear", "in2_features", in2_features)
        self.out_features = _check_positive_int("Bilinear", "out_features", out_features)
        self.weight = Parameter(empty(out_features, in1_features, in2_features, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(empty(out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """U(-1/sqrt(in1_features), 1/sqrt(in1_features)) for weight and bias (torch's)."""
        bound = 1 / math.sqrt(self.in1_features)
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class EmbeddingBag(Module):
    """Sums, means or maxima of bags of embeddings, without materialising the lookups: `F.embedding_bag`.

    Args:
        num_embeddings, embedding_dim: the table's shape.
        max_norm, norm_type, scale_grad_by_freq, sparse: torch's options; only their defaults are
            supported (others are refused).
        mode: 'sum', 'mean' (default) or 'max'.
        _weight: an initial table (num_embeddings, embedding_dim) instead of N(0, 1).
        include_last_offset: offsets carry a final end marker (len(offsets) - 1 bags).
        padding_idx: ids equal to it are left out of every bag; its row starts at zero.
        device, dtype: where and in what float type to create the weight.

    Attributes:
        weight: Parameter (num_embeddings, embedding_dim), N(0, 1) (torch's init).

    forward(input, offsets=None, per_sample_weights=None) -> (bags, embedding_dim).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm=None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False, _weight=None,
                 include_last_offset: bool = False, padding_idx=None, device=None, dtype=None):
        super().__init__()
        self.num_embeddings = _check_positive_int("EmbeddingBag", "num_embeddings", num_embeddings)
        self.embedding_dim = _check_positive_int("EmbeddingBag", "embedding_dim", embedding_dim)
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise NotImplementedError("EmbeddingBag: max_norm, scale_grad_by_freq and sparse=True are not supported")
        if mode not in ("sum", "mean", "max"):
            raise ValueError(f"EmbeddingBag: mode has to be one of 'sum', 'mean' or 'max', got {mode!r}")
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral) \
                    or not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"EmbeddingBag: padding_idx must be within num_embeddings ({-num_embeddings} "
                                 f"through {num_embeddings - 1}), got {padding_idx!r}")
            padding_idx = int(padding_idx) % num_embeddings
        self.max_norm, self.norm_type, self.scale_grad_by_freq, self.sparse = max_norm, norm_type, False, False
        self.mode, self.include_last_offset, self.padding_idx = mode, bool(include_last_offset), padding_idx
        if _weight is None:
            self.weight = Parameter(empty(num_embeddings, embedding_dim, dtype=dtype, device=device))
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"EmbeddingBag: _weight must have shape ({num_embeddings}, {embedding_dim}), "
                                 f"got {tuple(_weight.shape)}")
            self.weight = Parameter(_weight.detach().clone() if hasattr(_weight, "detach") else _weight)

    def reset_parameters(self):
        """N(0, 1) entries; the padding row (if any) set to zero."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, max_norm=None, norm_type: float = 2.0,
                        scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                        include_last_offset: bool = False, padding_idx=None):
        """An EmbeddingBag whose weight is a copy of the 2-D tensor/array `embeddings`; frozen by default.

        As torch's, the padding row keeps its pretrained values (it is left out of the bags).
        """
        from ..tensor import Tensor, tensor as _tensor

        # (a Tensor stays on its device, as torch's, even inside `with mg.device(...)`; host data follows
        # the default device, as mg.tensor: a NumPy 2 array's own .device is always 'cpu', so it is not asked)
        w = embeddings.detach().clone() if isinstance(embeddings, Tensor) else _tensor(embeddings)
        if w.ndim != 2:
            raise ValueError(f"EmbeddingBag.from_pretrained: embeddings must be 2-D, got shape {tuple(w.shape)}")
        bag = cls(w.shape[0], w.shape[1], max_norm=max_norm, norm_type=norm_type,
                  scale_grad_by_freq=scale_grad_by_freq, mode=mode, sparse=sparse, _weight=w,
                  include_last_offset=include_last_offset, padding_idx=padding_idx)
        bag.weight.requires_grad_(not freeze)
        return bag

    def forward(self, input, offsets=None, per_sample_weights=None):  # noqa: A002
        return F.embedding_bag(input, self.weight, offsets, mode=self.mode, per_sample_weights=per_sample_weights,
                               include_last_offset=self.include_last_offset, padding_idx=self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}, mode={self.mode!r}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s


# ================================================================ dropout variants
class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: dropout probability has to be between 0 and 1, but got {p!r}")
        self.p, self.inplace = float(p), bool(inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(_DropoutNd):
    """Zero whole channels of (N, C, L) or (C, L) input with probability p in training: `F.dropout1d`."""

    def forward(self, input):  # noqa: A002
        return F.dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zero whole channels of (N, C, H, W) or (C, H, W) input with probability p in training: `F.dropout2d`
    (torch 2.13's reading of other ranks and its warnings included)."""

    def forward(self, input):  # noqa: A002
        return F.dropout2d(input, self.p, self.training, self.inplace)


class Dropout3d(_DropoutNd):
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) input with probability p in training: `F.dropout3d`."""

    def forward(self, input):  # noqa: A002
        return F.dropout3d(input, self.p, self.training, self.inplace)


class AlphaDropout(_DropoutNd):
    """Dropout that keeps SELU's self-normalising mean and variance, in training: `F.alpha_dropout`."""

    def forward(self, input):  # noqa: A002
        return F.alpha_dropout(input, self.p, self.training, self.inplace)
