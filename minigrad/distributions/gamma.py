"""Gamma distribution (torch.distributions.Gamma): density rate^a x^(a-1) exp(-rate x) / Gamma(a)."""
from __future__ import annotations

import numbers

from ..autograd import no_grad
from ..ops import digamma, lgamma, xlogy
from ..runtime import finfo
from . import constraints
from .distribution import Distribution
from .utils import _host, _on, broadcast_all
from .. import backend as _B

__all__ = ["Gamma"]


def _standard_gamma(concentration):
    """Gamma(concentration, 1) draws (host generator), clamped to the dtype's tiny so log x is finite."""
    draw = _B.host_rng().standard_gamma(_host(concentration))
    return _on(draw, concentration).clamp(min=finfo(concentration.dtype).tiny)


class Gamma(Distribution):
    """Gamma(concentration a, rate b): mean a / b, variance a / b^2.

    has_rsample is False in minigrad (torch: True): torch differentiates a Gamma draw through
    the implicit function x = F^{-1}(u; a) with a special kernel for dx/da; minigrad has no exact
    such gradient, so only sample() (no gradient) is given.

    Args:
        concentration: shape a > 0.
        rate: rate b > 0 (1 / scale).
        validate_args: see Distribution.
    """
    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = False

    def __init__(self, concentration, rate, validate_args=None):
        self.concentration, self.rate = broadcast_all(concentration, rate)
        scalar = isinstance(concentration, numbers.Number) and isinstance(rate, numbers.Number)
        super().__init__(() if scalar else self.concentration.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Gamma, _instance)
        batch_shape = tuple(batch_shape)
        new.concentration, new.rate = self.concentration.expand(batch_shape), self.rate.expand(batch_shape)
        return self._finish_expand(new, batch_shape)

    @property
    def mean(self):
        return self.concentration / self.rate

    @property
    def mode(self):
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self):
        return self.concentration / self.rate.pow(2)

    def sample(self, sample_shape=()):
        shape = tuple(self._extended_shape(sample_shape))
        with no_grad():
            return _standard_gamma(self.concentration.expand(shape)) / self.rate.expand(shape)

    def log_prob(self, value):
        """a log b + (a - 1) log x - b x - lgamma(a)."""
        if self._validate_args:
            self._validate_sample(value)
        a, b = self.concentration, self.rate
        return xlogy(a, b) + xlogy(a - 1, value) - b * value - lgamma(a)

    def entropy(self):
        """a - log b + lgamma(a) + (1 - a) digamma(a)."""
        a = self.concentration
        return a - self.rate.log() + lgamma(a) + (1.0 - a) * digamma(a)
