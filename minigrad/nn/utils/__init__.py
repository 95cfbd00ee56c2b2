"""Gradient clipping (torch.nn.utils' names): clip_grad_norm_ and clip_grad_value_; `rnn.pad_sequence`.

Both work on the gradients' own device with their array module, and neither
moves a value to the host: the scale factor stays an array, so on a GPU a
training step with clipping needs no synchronisation.
"""
from __future__ import annotations

import math
import numbers

from ... import backend as _B
from ...tensor import Tensor, _wrap

__all__ = ["clip_grad_norm_", "clip_grad_value_", "rnn"]


def _grad_arrays(op: str, parameters):
    """The gradient arrays of the parameters (a Tensor or an iterable of them) that have a .grad.

    A dense gradient gives its array. A row-sparse gradient (Embedding(sparse=True)) gives
    its `values` rows, coalesced first so each row counts once; scaling or clamping those
    rows in place scales or clamps the gradient itself.
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    out = []
    for p in parameters:
        if not isinstance(p, Tensor):
            raise TypeError(f"{op}: expected Tensors (e.g. model.parameters()), got a {type(p).__name__}")
        g = p.grad
        if g is None:
            continue
        if getattr(g, "is_sparse", False):
            if not g.is_coalesced():
                p.grad = g = g.coalesce()
            out.append(g.values)
        else:
            out.append(g.data)
    return out


def _vector_norm(g, p: float):
    """||g||_p of all elements of array g, as a 0-d array of g's dtype on g's device."""
    xp = _B.get_array_module(g)
    if g.size == 0:
        return xp.zeros((), dtype=g.dtype)
    a = xp.abs(g)
    if p == math.inf:
        n = a.max()
    elif p == 2.0:
        n = xp.sqrt((a * a).sum())
    elif p == 1.0:
        n = a.sum()
    else:
        n = (a ** p).sum() ** (1.0 / p)
    return xp.asarray(n, dtype=g.dtype)  # NumPy reductions give scalars; keep a 0-d array


def _number(op: str, name: str, value) -> float:
    """A Python float from a number (or 0-d tensor); text and other objects are TypeErrors naming the argument."""
    if isinstance(value, Tensor) and value.ndim == 0:
        return float(value.item())
    if isinstance(value, (str, bytes, bool)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a number, got {type(value).__name__} {value!r}")
    return float(value)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False) -> Tensor:
    """Scale all gradients together so that their joint norm is at most `max_norm`.

    The total norm is the `norm_type`-norm of all gradients as if concatenated into one
    vector. Every gradient is multiplied in place by min(1, max_norm / (total + 1e-6))
    (always multiplied, never branched on, so no value goes to the host).

    Args:
        parameters: a Tensor or an iterable of Tensors (e.g. `model.parameters()`);
            those without a gradient are skipped.
        max_norm: the largest allowed total norm.
        norm_type: p of the p-norm (2.0 default; float('inf') or 'inf' for the largest |g|).
        error_if_nonfinite: raise if the total norm is NaN or Inf (this one check reads
            the norm on the host).

    Returns:
        The total norm of the gradients before clipping, as a 0-d Tensor on the gradients' device.
    """
    if norm_type == "inf":  # torch's documented spelling of the max-norm
        norm_type = math.inf
    max_norm = _number("clip_grad_norm_", "max_norm", max_norm)
    norm_type = _number("clip_grad_norm_", "norm_type", norm_type)
    if max_norm < 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be non-negative, got {max_norm}")
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be positive (or inf), got {norm_type}")
    grads = _grad_arrays("clip_grad_norm_", parameters)
    if not grads:
        return _wrap(_B.np.zeros((), dtype=_B.get_default_dtype()))
    xp, device, dtype = _B.get_array_module(grads[0]), _B.device_of(grads[0]), grads[0].dtype
    # One norm per gradient, gathered (device to device) where the first gradient lives.
    norms = [_B.to_device(_vector_norm(g, norm_type), device).astype(dtype, copy=False) for g in grads]
    total = _vector_norm(xp.stack(norms), norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {float(total)}; "
                           "set error_if_nonfinite=False to clip anyway")
    scale = xp.asarray(xp.minimum(max_norm / (total + 1e-6), 1.0), dtype=dtype)
    for g in grads:
        s = scale if _B.device_of(g) == device else _B.to_device(scale, _B.device_of(g))
        with _B.np.errstate(invalid="ignore"):  # inf * 0 = NaN when the norm is infinite: as torch, silently
            g *= s.astype(g.dtype, copy=False)
    return _wrap(total)


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every gradient element to [-clip_value, clip_value], in place."""
    clip_value = _number("clip_grad_value_", "clip_value", clip_value)
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be non-negative, got {clip_value}")
    for g in _grad_arrays("clip_grad_value_", parameters):
        _B.get_array_module(g).clip(g, -clip_value, clip_value, out=g)
from . import rnn  # noqa: E402,F401  (torch.nn.utils.rnn's pad_sequence)
