"""Loss modules: thin wrappers that store options and call `minigrad.functional` (torch's API).

Note the one deliberate difference from torch: CrossEntropyLoss and NLLLoss take the
class dimension LAST, input (..., C) with target (...), so sequence logits of shape
(batch, time, C) need no transpose. torch expects (N, C, ...).
"""
from __future__ import annotations

from .. import functional as F
from .module import Module

__all__ = ["CrossEntropyLoss", "NLLLoss", "MSELoss", "BCEWithLogitsLoss"]

_REDUCTIONS = ("mean", "sum", "none")


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy between logits and integer class targets, class dimension LAST.

    loss_n = -log softmax(input_n)[target_n], then reduced.

    Args:
        ignore_index: targets equal to it (e.g. padding) contribute no loss and no gradient;
            'mean' divides by the number of the other targets.
        reduction: 'mean' (default), 'sum' or 'none' (per-element losses, shape of target).
        label_smoothing: e in [0, 1): the target distribution becomes (1 - e) one-hot + e / C.

    Shape: input (..., C) logits (classes in the LAST dim, unlike torch's dim 1);
    target (...) integer class indices.
    """

    def __init__(self, ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(reduction)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1), got {label_smoothing}")
        self.ignore_index = int(ignore_index)
        self.label_smoothing = float(label_smoothing)

    def forward(self, input, target):  # noqa: A002 - torch's name
        return F.cross_entropy(input, target, ignore_index=self.ignore_index, reduction=self.reduction,
                               label_smoothing=self.label_smoothing)

    def extra_repr(self) -> str:
        s = f"ignore_index={self.ignore_index}, reduction={self.reduction!r}"
        return s + (f", label_smoothing={self.label_smoothing}" if self.label_smoothing else "")


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities at integer targets, class dimension LAST.

    loss_n = -input_n[target_n]; use after LogSoftmax (CrossEntropyLoss does both at once).

    Shape: input (..., C) log-probabilities; target (...) integer class indices.
    """

    def __init__(self, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(reduction)
        self.ignore_index = int(ignore_index)

    def forward(self, input, target):  # noqa: A002
        return F.nll_loss(input, target, ignore_index=self.ignore_index, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"ignore_index={self.ignore_index}, reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Squared error (input - target)^2, averaged ('mean'), summed ('sum') or per element ('none')."""

    def forward(self, input, target):  # noqa: A002
        return F.mse_loss(input, target, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits: -[y log s(x) + (1 - y) log(1 - s(x))], computed without forming s(x).

    Targets are probabilities in [0, 1] of the input's shape (floats, not class indices).
    """

    def forward(self, input, target):  # noqa: A002
        return F.binary_cross_entropy_with_logits(input, target, reduction=self.reduction)
