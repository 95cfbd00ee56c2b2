"""Loss modules: thin wrappers that store options and call `minigrad.functional` (torch's API).

Note the one deliberate difference from torch: CrossEntropyLoss and NLLLoss take the
class dimension LAST, input (..., C) with target (...), so sequence logits of shape
(batch, time, C) need no transpose. torch expects (N, C, ...).

Constructor arguments follow torch, including the deprecated `size_average`/`reduce`
flags (when given, they decide `reduction`, as in torch). Per-class or elementwise
weights are buffers: they are saved in `state_dict()` and move with `.to(device)`.
"""
from __future__ import annotations

from .. import functional as F
from ..ops.nn import _reduction
from .module import Module

__all__ = [
    "CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss",
    "KLDivLoss", "MarginRankingLoss", "CosineEmbeddingLoss", "CosineSimilarity",
]


class _Loss(Module):
    _allowed = ("mean", "sum", "none")

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        self.reduction = _reduction(type(self).__name__, reduction, size_average, reduce, allowed=self._allowed)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross-entropy between logits and targets, class dimension LAST.

    loss_n = -weight[t_n] log softmax(input_n)[t_n], then reduced.

    Args:
        weight: optional per-class weights (C,) (a buffer); 'mean' then divides by the summed
            weights of the counted targets, as torch.
        size_average, reduce: deprecated torch flags (they override `reduction` when given).
        ignore_index: targets equal to it (e.g. padding) contribute no loss and no gradient;
            'mean' divides by the number (or weight) of the other targets.
        reduction: 'mean' (default), 'sum' or 'none' (per-element losses, shape of target).
        label_smoothing: e in [0, 1): the target distribution becomes (1 - e) target + e / C.

    Shape: input (..., C) logits (classes in the LAST dim, unlike torch's dim 1); target (...)
    integer class indices, or class probabilities of input's shape (float).
    """

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(weight, size_average, reduce, reduction)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1), got {label_smoothing}")
        self.ignore_index = int(ignore_index)
        self.label_smoothing = float(label_smoothing)

    def forward(self, input, target):  # noqa: A002 - torch's name
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)

    def extra_repr(self) -> str:
        s = f"ignore_index={self.ignore_index}, reduction={self.reduction!r}"
        return s + (f", label_smoothing={self.label_smoothing}" if self.label_smoothing else "")


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities at integer targets, class dimension LAST.

    loss_n = -weight[t_n] input_n[t_n]; use after LogSoftmax (CrossEntropyLoss does both at once).

    Shape: input (..., C) log-probabilities; target (...) integer class indices.
    """

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = int(ignore_index)

    def forward(self, input, target):  # noqa: A002
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"ignore_index={self.ignore_index}, reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Squared error (input - target)^2, averaged ('mean'), summed ('sum') or per element ('none')."""

    def forward(self, input, target):  # noqa: A002
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Absolute error |input - target|, reduced."""

    def forward(self, input, target):  # noqa: A002
        return F.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target); beta = 0 gives L1Loss."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input, target):  # noqa: A002
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, beta={self.beta}"


class HuberLoss(_Loss):
    """0.5 d^2 where |d| <= delta, else delta (|d| - 0.5 delta) (d = input - target)."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input, target):  # noqa: A002
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, delta={self.delta}"


class BCELoss(_WeightedLoss):
    """Binary cross-entropy on probabilities: -w [y log x + (1 - y) log(1 - x)], logs clamped to >= -100.

    Prefer BCEWithLogitsLoss on logits (exact where sigmoid saturates).
    """

    def forward(self, input, target):  # noqa: A002
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits: -w [p y log s(x) + (1 - y) log(1 - s(x))], computed without forming s(x).

    Targets are probabilities in [0, 1] of the input's shape (floats, not class indices).

    Args:
        weight: elementwise rescaling broadcast to the input (a buffer).
        pos_weight: weight of the positive term, broadcast to the input, e.g. (C,) for
            (N, C) multi-label logits (a buffer).
    """

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean", pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):  # noqa: A002
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class KLDivLoss(_Loss):
    """KL divergence with log-probability input: target (log target - input), pointwise, then reduced.

    Use reduction='batchmean' for the KL divergence of a batch of distributions ('mean'
    averages over every element, as torch's default).
    """

    _allowed = ("mean", "sum", "none", "batchmean")

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", log_target: bool = False):
        super().__init__(size_average, reduce, reduction)
        self.log_target = bool(log_target)

    def forward(self, input, target):  # noqa: A002
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, log_target={self.log_target}"


class MarginRankingLoss(_Loss):
    """max(0, -y (x1 - x2) + margin) with y = 1 when x1 should rank higher, -1 when x2 should."""

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return F.margin_ranking_loss(input1, input2, target, margin=self.margin, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, reduction={self.reduction!r}"


class CosineEmbeddingLoss(_Loss):
    """1 - cos(x1, x2) for y = 1, max(0, cos(x1, x2) - margin) for y = -1; inputs (N, D) or (D,)."""

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return F.cosine_embedding_loss(input1, input2, target, margin=self.margin, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, reduction={self.reduction!r}"


class CosineSimilarity(Module):
    """Cosine similarity of x1 and x2 along `dim`: sum(x1 x2) / (max(||x1||, eps) max(||x2||, eps))."""

    def __init__(self, dim: int = 1, eps: float = 1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        return F.cosine_similarity(x1, x2, dim=self.dim, eps=self.eps)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, eps={self.eps}"
