"""Dirichlet distribution over the probability simplex (torch.distributions.Dirichlet)."""
from __future__ import annotations

from .. import backend as _B
from ..autograd import no_grad
from ..ops import digamma, lgamma, where, xlogy
from ..ops.nn import one_hot as _one_hot
from ..runtime import finfo
from . import constraints
from .distribution import Distribution
from .utils import _host, _on

__all__ = ["Dirichlet"]


class Dirichlet(Distribution):
    """Dirichlet(concentration) over vectors on the simplex (event_shape (K,)).

    has_rsample is False in minigrad (torch: True, through a special kernel for the implicit
    reparameterization gradient of Gamma draws); sample() draws normalised Gamma variables.

    Args:
        concentration: alpha > 0, (..., K).
        validate_args: see Distribution.
    """
    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = False

    def __init__(self, concentration, validate_args=None):
        if concentration.dim() < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        super().__init__(concentration.shape[:-1], concentration.shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Dirichlet, _instance)
        batch_shape = tuple(batch_shape)
        new.concentration = self.concentration.expand(batch_shape + tuple(self.event_shape))
        return self._finish_expand(new, batch_shape)

    def sample(self, sample_shape=()):
        """g / sum(g) with g_k ~ Gamma(alpha_k, 1), clamped into [tiny, 1 - eps] as torch."""
        shape = tuple(self._extended_shape(sample_shape))
        with no_grad():
            alpha = self.concentration.expand(shape)
            g = _B.host_rng().standard_gamma(_host(alpha))
            total = g.sum(-1, keepdims=True)
            x = g / _B.np.where(total > 0, total, 1.0)  # every draw 0 (tiny alphas): the clamp below decides
            info = finfo(alpha.dtype)
            return _on(x, alpha).clamp(min=info.tiny, max=1 - info.eps)

    def log_prob(self, value):
        """sum (alpha - 1) log x + lgamma(sum alpha) - sum lgamma(alpha)."""
        if self._validate_args:
            self._validate_sample(value)
        a = self.concentration
        return xlogy(a - 1.0, value).sum(-1) + lgamma(a.sum(-1)) - lgamma(a).sum(-1)

    @property
    def mean(self):
        return self.concentration / self.concentration.sum(-1, True)

    @property
    def mode(self):
        """(alpha - 1)+ / sum; where every alpha < 1 the density peaks at a vertex: one-hot of the argmax."""
        cm1 = (self.concentration - 1).clamp(min=0.0)
        mode = cm1 / cm1.sum(-1, True)
        vertex = _one_hot(mode.argmax(dim=-1), cm1.shape[-1]).type_as(mode)
        return where((self.concentration < 1).all(dim=-1).unsqueeze(-1), vertex, mode)

    @property
    def variance(self):
        a0 = self.concentration.sum(-1, True)
        return self.concentration * (a0 - self.concentration) / (a0.pow(2) * (a0 + 1))

    def entropy(self):
        """sum lgamma(alpha) - lgamma(a0) - (K - a0) digamma(a0) - sum (alpha - 1) digamma(alpha)."""
        a = self.concentration
        k = a.shape[-1]
        a0 = a.sum(-1)
        return lgamma(a).sum(-1) - lgamma(a0) - (k - a0) * digamma(a0) - ((a - 1.0) * digamma(a)).sum(-1)
