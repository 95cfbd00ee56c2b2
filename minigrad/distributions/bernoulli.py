"""Bernoulli distribution over {0, 1} (torch.distributions.Bernoulli), from probs or logits."""
from __future__ import annotations

import numbers

from ..factory import arange, bernoulli, full_like
from ..ops import where
from ..ops.nn import binary_cross_entropy_with_logits
from . import constraints
from .distribution import Distribution
from .utils import broadcast_all, lazy_property, logits_to_probs, probs_to_logits

__all__ = ["Bernoulli"]


class Bernoulli(Distribution):
    """Bernoulli(probs) or Bernoulli(logits=...): 1 with probability probs = sigmoid(logits).

    Give exactly one of probs and logits; the other is derived on first use (lazily).
    log_prob works from the logits (binary cross-entropy with logits), so it stays finite for
    saturated probabilities.

    Args:
        probs: probabilities in [0, 1].
        logits: log-odds log(p / (1 - p)).
        validate_args: see Distribution.
    """
    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            scalar = isinstance(probs, numbers.Number)
            (self.probs,) = broadcast_all(probs)
        else:
            scalar = isinstance(logits, numbers.Number)
            (self.logits,) = broadcast_all(logits)
        self._param = self.probs if probs is not None else self.logits
        super().__init__(() if scalar else self._param.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Bernoulli, _instance)
        batch_shape = tuple(batch_shape)
        if "probs" in self.__dict__:
            new.probs = new._param = self.probs.expand(batch_shape)
        if "logits" in self.__dict__:
            new.logits = new._param = self.logits.expand(batch_shape)
        return self._finish_expand(new, batch_shape)

    @lazy_property
    def logits(self):
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self):
        return logits_to_probs(self.logits, is_binary=True)

    @property
    def param_shape(self):
        return self._param.shape

    @property
    def mean(self):
        return self.probs

    @property
    def mode(self):
        """1 where probs > 1/2, 0 where < 1/2, NaN at exactly 1/2 (no unique mode)."""
        mode = (self.probs >= 0.5).type_as(self.probs)
        return where(self.probs == 0.5, full_like(mode, float("nan")), mode)

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape=()):
        """0./1. draws in probs' dtype (no gradient: Bernoulli has no rsample)."""
        shape = tuple(self._extended_shape(sample_shape))
        return bernoulli(self.probs.detach().expand(shape))

    def log_prob(self, value):
        """x log p + (1 - x) log(1 - p) = -BCE_with_logits(logits, x)."""
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        return -binary_cross_entropy_with_logits(logits, value.type_as(logits), reduction="none")

    def entropy(self):
        """-p log p - (1 - p) log(1 - p) = BCE_with_logits(logits, p)."""
        return binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")

    def enumerate_support(self, expand=True):
        values = arange(2, dtype=self._param.dtype, device=self._param.device)
        values = values.reshape((-1,) + (1,) * len(self._batch_shape))
        return values.expand((-1,) + tuple(self._batch_shape)) if expand else values
