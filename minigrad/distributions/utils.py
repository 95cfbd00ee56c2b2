"""Helpers shared by the distributions (torch.distributions.utils), plus minigrad's random draws.

Every draw comes from minigrad's seeded host generator (`mg.manual_seed`), as `mg.randn` /
`mg.rand` do, and is then placed on the parameters' device: one seed gives the same samples on
'cpu' and 'cuda'. Draws are constants; gradients reach a reparameterized sample only through
the differentiable ops that transform the noise (`loc + scale * eps`).
"""
from __future__ import annotations

import numbers

from .. import backend as _B
from ..autograd import enable_grad
from ..factory import rand, randn
from ..functional import softmax
from ..ops.compose import broadcast_tensors
from ..runtime import finfo
from ..tensor import Tensor, _wrap, tensor

np = _B.np

__all__ = ["broadcast_all", "clamp_probs", "euler_constant", "lazy_property", "logits_to_probs", "probs_to_logits"]

euler_constant = 0.57721566490153286060  # Euler-Mascheroni constant


def broadcast_all(*values):
    """Broadcast tensors and numbers to one shape (torch.distributions.utils.broadcast_all).

    Numbers become tensors of the first tensor's dtype and device (the default dtype on 'cpu' if
    there is none), so float32 parameters stay float32.

    Raises:
        ValueError: an argument is neither a number nor a Tensor.
    """
    if not all(isinstance(v, (Tensor, numbers.Number)) for v in values):
        got = ", ".join(type(v).__name__ for v in values)
        raise ValueError(f"Input arguments must all be instances of Number or minigrad.Tensor, got ({got})")
    like = next((v for v in values if isinstance(v, Tensor)), None)
    opts = {} if like is None else {"dtype": like.dtype, "device": like.device}
    values = [v if isinstance(v, Tensor) else tensor(float(v), **opts) for v in values]
    return tuple(broadcast_tensors(*values))


def _sum_rightmost(value: Tensor, dim: int) -> Tensor:
    """Sum over the `dim` rightmost dims (the event dims an Independent reinterprets)."""
    if dim == 0:
        return value
    return value.reshape(tuple(value.shape[:value.dim() - dim]) + (-1,)).sum(-1)


def logits_to_probs(logits: Tensor, is_binary: bool = False) -> Tensor:
    """sigmoid(logits) for a Bernoulli, softmax over the last dim for a categorical."""
    return logits.sigmoid() if is_binary else softmax(logits, dim=-1)


def clamp_probs(probs: Tensor) -> Tensor:
    """Clamp into [eps, 1 - eps] of probs' dtype, so their logits are finite."""
    eps = finfo(probs.dtype).eps
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    """log p - log(1 - p) for a Bernoulli, log p for a categorical (probs clamped first, as torch)."""
    p = clamp_probs(probs)
    return p.log() - (-p).log1p() if is_binary else p.log()


class lazy_property:  # noqa: N801 - torch's name
    """A property computed on first access, then stored on the instance (so computed once).

    Computed with grad enabled, as torch: `Categorical(logits=l).probs` built under no_grad
    later still differentiates when used outside it.
    """

    def __init__(self, wrapped):
        self.wrapped = wrapped
        self.__doc__ = wrapped.__doc__
        self.__name__ = wrapped.__name__

    def __get__(self, instance, obj_type=None):
        if instance is None:
            return self
        with enable_grad():
            value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value


# ---------------------------------------------------------------- random draws (constants)
def _shape(sample_shape) -> tuple:
    if isinstance(sample_shape, numbers.Integral) and not isinstance(sample_shape, bool):
        raise TypeError(f"sample_shape must be a tuple of ints (torch.Size), got the int {sample_shape}: "
                        f"write sample(({sample_shape},))")
    return tuple(int(s) for s in sample_shape)


def _standard_normal(shape, like: Tensor) -> Tensor:
    """N(0, 1) noise of like's dtype and device."""
    return randn(*shape, dtype=like.dtype, device=like.device)


def _uniform(shape, like: Tensor) -> Tensor:
    """U[0, 1) noise of like's dtype and device."""
    return rand(*shape, dtype=like.dtype, device=like.device)


def _host(t: Tensor):
    """t's values as a float64 host array (the parameters of a host-side draw)."""
    return _B.to_device(t.detach().data, "cpu").astype(np.float64)


def _on(arr, like: Tensor) -> Tensor:
    """A constant tensor holding host array `arr`, of like's dtype and on like's device."""
    return _wrap(_B.as_array(np.asarray(arr).astype(like.dtype), device=like.device))


def _host_draw(method: str, like: Tensor, *args, **kw) -> Tensor:
    """`host_rng().<method>(*args, **kw)` (e.g. standard_gamma, uniform) as a constant like `like`."""
    return _on(getattr(_B.host_rng(), method)(*args, **kw), like)
