"""Exponential distribution (torch.distributions.Exponential): density rate exp(-rate x), x >= 0."""
from __future__ import annotations

import numbers

from ..factory import zeros_like
from . import constraints
from .distribution import Distribution
from .utils import _host_draw, broadcast_all

__all__ = ["Exponential"]


class Exponential(Distribution):
    """Exponential(rate), mean 1 / rate.

    Args:
        rate: rate > 0.
        validate_args: see Distribution.
    """
    arg_constraints = {"rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, rate, validate_args=None):
        (self.rate,) = broadcast_all(rate)
        super().__init__(() if isinstance(rate, numbers.Number) else self.rate.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Exponential, _instance)
        batch_shape = tuple(batch_shape)
        new.rate = self.rate.expand(batch_shape)
        return self._finish_expand(new, batch_shape)

    @property
    def mean(self):
        return self.rate.reciprocal()

    @property
    def mode(self):
        return zeros_like(self.rate)

    @property
    def stddev(self):
        return self.rate.reciprocal()

    @property
    def variance(self):
        return self.rate.pow(-2)

    def rsample(self, sample_shape=()):
        """E / rate with E ~ Exponential(1): d/drate = -E / rate^2."""
        e = _host_draw("standard_exponential", self.rate, tuple(self._extended_shape(sample_shape)))
        return e / self.rate

    def log_prob(self, value):
        """log rate - rate x."""
        if self._validate_args:
            self._validate_sample(value)
        return self.rate.log() - self.rate * value

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 1 - (-self.rate * value).exp()

    def icdf(self, value):
        return -(-value).log1p() / self.rate

    def entropy(self):
        """1 - log rate."""
        return 1.0 - self.rate.log()
