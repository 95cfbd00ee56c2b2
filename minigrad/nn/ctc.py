"""nn.CTCLoss: the connectionist temporal classification loss as a module (torch's API)."""
from __future__ import annotations

from ..ops.ctc import ctc_loss
from .loss import _Loss

__all__ = ["CTCLoss"]


class CTCLoss(_Loss):
    """Connectionist temporal classification loss: -log p(target | input) summed over all alignments.

    For unsegmented sequence labelling (speech, handwriting, OCR): the network emits a
    distribution over C classes (one of them the blank) per frame, and the target is a
    shorter label sequence with no frame alignment given. See `minigrad.ops.ctc` for the
    algorithm (extended labels, alpha/beta recursions) and `F.ctc_loss` for the details.

    Args:
        blank: class index of the blank (default 0).
        reduction: 'mean' (each loss divided by its target length, then the batch mean),
            'sum' or 'none'.
        zero_infinity: turn infinite losses (impossible alignments) and their gradients into 0.

    Shape: log_probs (T, N, C) or (T, C), log-softmaxed over C; targets (N, S) padded or
    concatenated 1-D of length sum(target_lengths); input_lengths and target_lengths: N
    integers (tuple, list or integer tensor). Output: scalar, or (N,) with reduction='none'.

    Example::

        ctc = nn.CTCLoss()
        log_probs = model(x).log_softmax(-1)            # (T, N, C)
        loss = ctc(log_probs, targets, input_lengths, target_lengths)
    """

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False):
        super().__init__(reduction=reduction)
        self.blank = blank
        self.zero_infinity = zero_infinity

    def forward(self, log_probs, targets, input_lengths, target_lengths):
        return ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=self.blank,
                        reduction=self.reduction, zero_infinity=self.zero_infinity)

    def extra_repr(self) -> str:
        return f"blank={self.blank}, reduction={self.reduction!r}, zero_infinity={self.zero_infinity}"
