"""Log-normal distribution (torch.distributions.LogNormal): exp of a Normal(loc, scale) draw."""
from __future__ import annotations

from . import constraints
from .distribution import Distribution
from .normal import Normal

__all__ = ["LogNormal"]


class LogNormal(Distribution):
    """Y = exp(X), X ~ Normal(loc, scale).

    torch builds it as TransformedDistribution(Normal, ExpTransform); minigrad has no
    TransformedDistribution, so it is written out: log p(y) = log p_X(log y) - log y.

    Args:
        loc: mean of log Y.
        scale: standard deviation of log Y, > 0.
        validate_args: see Distribution.
    """
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.base_dist = Normal(loc, scale, validate_args=validate_args)
        super().__init__(self.base_dist.batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(LogNormal, _instance)
        new.base_dist = self.base_dist.expand(batch_shape)
        return self._finish_expand(new, batch_shape)

    @property
    def loc(self):
        return self.base_dist.loc

    @property
    def scale(self):
        return self.base_dist.scale

    @property
    def mean(self):
        return (self.loc + self.scale.pow(2) / 2).exp()

    @property
    def mode(self):
        return (self.loc - self.scale.square()).exp()

    @property
    def variance(self):
        s2 = self.scale.pow(2)
        return s2.expm1() * (2 * self.loc + s2).exp()

    def rsample(self, sample_shape=()):
        return self.base_dist.rsample(sample_shape).exp()

    def log_prob(self, value):
        """log p_X(log y) - log y (the change of variables x = log y)."""
        if self._validate_args:
            self._validate_sample(value)
        log_y = value.log()
        return self.base_dist.log_prob(log_y) - log_y

    def cdf(self, value):
        return self.base_dist.cdf(value.log())

    def icdf(self, value):
        return self.base_dist.icdf(value).exp()

    def entropy(self):
        """H(X) + loc."""
        return self.base_dist.entropy() + self.loc
