"""Categorical distribution over {0, ..., K-1} (torch.distributions.Categorical), from probs or logits."""
from __future__ import annotations

from ..factory import arange, full, multinomial
from ..ops.compose import broadcast_tensors
from ..runtime import finfo
from . import constraints
from .distribution import Distribution
from .utils import _shape, lazy_property, logits_to_probs, probs_to_logits

__all__ = ["Categorical"]


class Categorical(Distribution):
    """Categorical(probs) or Categorical(logits=...) over the last dim of the parameter.

    probs need not sum to 1 (they are normalised); logits are normalised so that
    logsumexp(logits) = 0, i.e. they become log-probabilities. The batch shape is the
    parameter's shape without its last dim; a sample is an int64 category index.

    Args:
        probs: non-negative weights, (..., K).
        logits: unnormalised log-probabilities, (..., K).
        validate_args: see Distribution.

    Example:
        >>> dist = Categorical(logits=policy(obs)); a = dist.sample()
        >>> loss = -(dist.log_prob(a) * returns).mean()   # REINFORCE
    """
    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            if probs.dim() < 1:
                raise ValueError("`probs` parameter must be at least one-dimensional.")
            self.probs = probs / probs.sum(-1, keepdim=True)
        else:
            if logits.dim() < 1:
                raise ValueError("`logits` parameter must be at least one-dimensional.")
            self.logits = logits - logits.logsumexp(dim=-1, keepdim=True)
        self._param = self.probs if probs is not None else self.logits
        self._num_events = self._param.shape[-1]
        batch_shape = self._param.shape[:-1] if self._param.dim() > 1 else ()
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Categorical, _instance)
        batch_shape = tuple(batch_shape)
        param_shape = batch_shape + (self._num_events,)
        if "probs" in self.__dict__:
            new.probs = new._param = self.probs.expand(param_shape)
        if "logits" in self.__dict__:
            new.logits = new._param = self.logits.expand(param_shape)
        new._num_events = self._num_events
        return self._finish_expand(new, batch_shape)

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        return constraints.integer_interval(0, self._num_events - 1)

    @lazy_property
    def logits(self):
        return probs_to_logits(self.probs)

    @lazy_property
    def probs(self):
        return logits_to_probs(self.logits)

    @property
    def param_shape(self):
        return self._param.shape

    @property
    def mean(self):
        """NaN: the categories are labels, not numbers (as torch)."""
        return full(tuple(self._extended_shape()), float("nan"), dtype=self.probs.dtype, device=self.probs.device)

    @property
    def mode(self):
        return self.probs.argmax(dim=-1)

    @property
    def variance(self):
        return full(tuple(self._extended_shape()), float("nan"), dtype=self.probs.dtype, device=self.probs.device)

    def sample(self, sample_shape=()):
        """int64 indices of shape sample_shape + batch_shape, drawn with replacement per batch row."""
        sample_shape = _shape(sample_shape)
        n = 1
        for s in sample_shape:
            n *= s
        shape = tuple(self._extended_shape(sample_shape))
        if n == 0:
            return full(shape, 0, device=self._param.device)
        probs_2d = self.probs.detach().reshape(-1, self._num_events)
        return multinomial(probs_2d, n, True).T.reshape(shape)

    def log_prob(self, value):
        """logits[value]: value (int, any shape broadcasting with batch_shape) picks a log-probability."""
        if self._validate_args:
            self._validate_sample(value)
        value = value.long().unsqueeze(-1)
        value, log_pmf = broadcast_tensors(value, self.logits)
        return log_pmf.gather(-1, value[..., :1]).squeeze(-1)

    def entropy(self):
        """-sum_k p_k log p_k (logits clamped to the dtype's min so p = 0 gives 0, not 0 * -inf)."""
        logits = self.logits.clamp(min=finfo(self.logits.dtype).min)
        return -(logits * self.probs).sum(-1)

    def enumerate_support(self, expand=True):
        values = arange(self._num_events, device=self._param.device)
        values = values.reshape((-1,) + (1,) * len(self._batch_shape))
        return values.expand((-1,) + tuple(self._batch_shape)) if expand else values
