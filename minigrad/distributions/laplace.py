"""Laplace distribution (torch.distributions.Laplace): density exp(-|x - loc| / scale) / (2 scale)."""
from __future__ import annotations

import numbers

from ..runtime import finfo
from . import constraints
from .distribution import Distribution
from .utils import _host_draw, broadcast_all

__all__ = ["Laplace"]


class Laplace(Distribution):
    """Laplace(loc, scale), batched over loc and scale broadcast together.

    Args:
        loc: location (the mean and median).
        scale: scale b > 0 (variance 2 b^2).
        validate_args: see Distribution.
    """
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = broadcast_all(loc, scale)
        scalar = isinstance(loc, numbers.Number) and isinstance(scale, numbers.Number)
        super().__init__(() if scalar else self.loc.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Laplace, _instance)
        batch_shape = tuple(batch_shape)
        new.loc, new.scale = self.loc.expand(batch_shape), self.scale.expand(batch_shape)
        return self._finish_expand(new, batch_shape)

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return 2 * self.scale.pow(2)

    @property
    def stddev(self):
        return (2 ** 0.5) * self.scale

    def rsample(self, sample_shape=()):
        """loc - scale sign(u) log(1 - |u|), u ~ U(eps - 1, 1) (inverse CDF; eps keeps log finite)."""
        shape = tuple(self._extended_shape(sample_shape))
        eps = finfo(self.loc.dtype).eps
        # drawn in float64 then rounded: keep u below 1 in float32 too (1 - eps/2 is its largest float < 1)
        u = _host_draw("uniform", self.loc, eps - 1, 1.0, shape).clamp(max=1.0 - eps / 2)
        return self.loc - self.scale * u.sign() * (-u.abs()).log1p()

    def log_prob(self, value):
        """-log(2 scale) - |x - loc| / scale."""
        if self._validate_args:
            self._validate_sample(value)
        return -(2 * self.scale).log() - (value - self.loc).abs() / self.scale

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 0.5 - 0.5 * (value - self.loc).sign() * (-(value - self.loc).abs() / self.scale).expm1()

    def icdf(self, value):
        term = value - 0.5
        return self.loc - self.scale * term.sign() * (-2 * term.abs()).log1p()

    def entropy(self):
        """1 + log(2 scale)."""
        return 1 + (2 * self.scale).log()
