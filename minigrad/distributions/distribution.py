"""Distribution: the base class of every distribution (torch.distributions.Distribution).

A distribution holds tensors of parameters batched over `batch_shape`; one draw is a point of
`event_shape` (() for scalars, (k,) for a vector). A sample of `sample(sample_shape)` has shape
sample_shape + batch_shape + event_shape; `log_prob(value)` has value's shape minus the event
dims (value broadcasts against batch_shape + event_shape).

Everything differentiable (log_prob, entropy, mean, rsample, kl_divergence) is composed from
minigrad's ops, so gradients flow to the parameters through the ordinary engine.
"""
from __future__ import annotations

import warnings

from ..autograd import no_grad
from ..tensor import Size, Tensor
from . import constraints
from .utils import _shape, lazy_property

__all__ = ["Distribution"]


def _format_param(value) -> str:
    """A parameter as torch's repr shows it: the number for a 0-d tensor, else the tensor (one
    element) or its shape."""
    if not isinstance(value, Tensor):
        return str(value)
    if value.dim() == 0:
        return str(value.item())
    return str(value) if value.numel() == 1 else f"Size({list(value.shape)})"


def _show(value) -> str:
    """A value as torch's f-string shows it: a 0-d tensor as its number."""
    return str(value.item()) if isinstance(value, Tensor) and value.dim() == 0 else str(value)


def _all_true(mask: Tensor) -> bool:
    return bool(mask.all().item())


class Distribution:
    """The abstract base: shapes, argument validation, sample via rsample, and torch's API.

    Args:
        batch_shape: the shape over which the parameters are batched.
        event_shape: the shape of one draw.
        validate_args: check the parameters against `arg_constraints` now, and values given to
            log_prob against `support`; None takes the class default (True, as torch's
            `__debug__` default; see `set_default_validate_args`).

    Raises:
        ValueError: validate_args is on and a parameter breaks its constraint (the message
            names the parameter, its shape, the distribution and the constraint, as torch's).
    """
    has_rsample = False
    has_enumerate_support = False
    _validate_args = __debug__

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        """Turn argument validation on or off for every distribution made from now on."""
        if value not in (True, False):
            raise ValueError(f"set_default_validate_args: expected True or False, got {value!r}")
        Distribution._validate_args = value

    def __init__(self, batch_shape=(), event_shape=(), validate_args=None):
        self._batch_shape = Size(batch_shape)
        self._event_shape = Size(event_shape)
        if validate_args is not None:
            self._validate_args = validate_args
        if self._validate_args:
            try:
                arg_constraints = self.arg_constraints
            except NotImplementedError:
                arg_constraints = {}
                warnings.warn(f"{self.__class__} does not define `arg_constraints`. Please set "
                              "`arg_constraints = {}` or initialize the distribution with `validate_args=False` "
                              "to turn off validation.", stacklevel=2)
            for param, constraint in arg_constraints.items():
                if constraints.is_dependent(constraint):
                    continue  # a constraint on other parameters: not checkable alone
                if param not in self.__dict__ and isinstance(getattr(type(self), param, None), lazy_property):
                    continue  # not given (e.g. logits when probs were): derived, so valid by construction
                value = getattr(self, param)
                if not _all_true(constraint.check(value)):
                    raise ValueError(f"Expected parameter {param} ({type(value).__name__} of shape "
                                     f"{tuple(value.shape)}) of distribution {self!r} to satisfy the constraint "
                                     f"{constraint!r}, but found invalid values:\n{_show(value)}")

    def expand(self, batch_shape, _instance=None):
        """A new distribution with the parameters expanded (views, no copies) to `batch_shape`."""
        raise NotImplementedError(f"{self.__class__.__name__}.expand is not implemented")

    @property
    def batch_shape(self) -> Size:
        """The shape over which the parameters are batched."""
        return self._batch_shape

    @property
    def event_shape(self) -> Size:
        """The shape of one draw."""
        return self._event_shape

    @property
    def arg_constraints(self) -> dict:
        """{parameter name: Constraint} for the parameters validate_args checks."""
        raise NotImplementedError

    @property
    def support(self):
        """The Constraint every value of the distribution satisfies."""
        raise NotImplementedError

    @property
    def mean(self) -> Tensor:
        raise NotImplementedError(f"{self.__class__.__name__} does not implement mean")

    @property
    def mode(self) -> Tensor:
        raise NotImplementedError(f"{self.__class__} does not implement mode")

    @property
    def variance(self) -> Tensor:
        raise NotImplementedError(f"{self.__class__.__name__} does not implement variance")

    @property
    def stddev(self) -> Tensor:
        return self.variance.sqrt()

    def sample(self, sample_shape=()) -> Tensor:
        """A draw of shape sample_shape + batch_shape + event_shape, with no gradient."""
        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=()) -> Tensor:
        """A reparameterized draw: a differentiable function of the parameters and constant noise."""
        raise NotImplementedError(f"{self.__class__.__name__} has no rsample (has_rsample=False): minigrad gives it "
                                  "no reparameterized gradient; use sample() (e.g. with a score-function estimator)")

    def sample_n(self, n: int) -> Tensor:
        """sample((n,)) (deprecated in torch)."""
        return self.sample((n,))

    def log_prob(self, value: Tensor) -> Tensor:
        """log density (or mass) at `value`."""
        raise NotImplementedError(f"{self.__class__.__name__} does not implement log_prob")

    def cdf(self, value: Tensor) -> Tensor:
        raise NotImplementedError(f"{self.__class__.__name__} does not implement cdf")

    def icdf(self, value: Tensor) -> Tensor:
        raise NotImplementedError(f"{self.__class__.__name__} does not implement icdf")

    def enumerate_support(self, expand: bool = True) -> Tensor:
        raise NotImplementedError(f"{self.__class__.__name__} does not implement enumerate_support")

    def entropy(self) -> Tensor:
        """The entropy, one value per batch element (shape batch_shape)."""
        raise NotImplementedError(f"{self.__class__.__name__} does not implement entropy")

    def perplexity(self) -> Tensor:
        """exp(entropy)."""
        return self.entropy().exp()

    def _extended_shape(self, sample_shape=()) -> Size:
        """sample_shape + batch_shape + event_shape: the shape of a sample."""
        return Size(_shape(sample_shape) + tuple(self._batch_shape) + tuple(self._event_shape))

    def _validate_sample(self, value) -> None:
        """Check a value given to log_prob/cdf: a Tensor, shape compatible, inside the support.

        Raises:
            ValueError: with torch's messages.
        """
        if not isinstance(value, Tensor):
            raise ValueError("The value argument to log_prob must be a Tensor")
        shape, event = tuple(value.shape), tuple(self._event_shape)
        if shape[len(shape) - len(event):] != event:
            raise ValueError(f"The right-most size of value must match event_shape: {shape} vs {event}.")
        expected = tuple(self._batch_shape) + event
        for i, j in zip(reversed(shape), reversed(expected)):
            if i != 1 and j != 1 and i != j:
                raise ValueError(f"Value is not broadcastable with batch_shape+event_shape: {shape} vs {expected}.")
        try:
            support = self.support
        except NotImplementedError:
            warnings.warn(f"{self.__class__} does not define `support` to enable sample validation. Please "
                          "initialize the distribution with `validate_args=False` to turn off validation.",
                          stacklevel=2)
            return
        if not _all_true(support.check(value)):
            raise ValueError(f"Expected value argument ({type(value).__name__} of shape {shape}) to be within the "
                             f"support ({support!r}) of the distribution {self!r}, but found invalid values:\n{_show(value)}")

    def _finish_expand(self, new, batch_shape):
        """The end of every expand(): `new` gets `batch_shape` and this event shape, and validates as this
        one does (its parameters, expanded views of checked ones, need no new check)."""
        Distribution.__init__(new, tuple(batch_shape), self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _get_checked_instance(self, cls, _instance=None):
        if _instance is None and type(self).__init__ != cls.__init__:
            raise NotImplementedError(f"Subclass {self.__class__.__name__} of {cls.__name__} that defines a custom "
                                      "__init__ method must also define a custom .expand() method.")
        return self.__new__(type(self)) if _instance is None else _instance

    def __repr__(self) -> str:
        try:
            names = [k for k in self.arg_constraints if k in self.__dict__]
        except NotImplementedError:
            names = []
        args = ", ".join(f"{p}: {_format_param(self.__dict__[p])}" for p in names)
        return f"{self.__class__.__name__}({args})"
