"""Gradient clipping (torch.nn.utils' names): clip_grad_norm_ (= get_total_norm + clip_grads_with_norm_) and
clip_grad_value_; parameters_to_vector / vector_to_parameters; `rnn.pad_sequence`.

Both work on the gradients' own device with their array module, and neither
moves a value to the host: the scale factor stays an array, so on a GPU a
training step with clipping needs no synchronisation.
"""
from __future__ import annotations

import math
import numbers

from ... import backend as _B
from ...sparse import RowSparseGrad
from ...tensor import Tensor, _wrap

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_", "parameters_to_vector",
           "vector_to_parameters", "rnn", "parametrize", "parametrizations", "weight_norm", "remove_weight_norm",
           "spectral_norm", "remove_spectral_norm", "prune", "stateless"]


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
    with _B.np.errstate(over="ignore"):  # float32 3e38**2 is inf: the norm is inf, silently, as torch's
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


def _norm_order(op: str, norm_type) -> float:
    """norm_type as a positive float ('inf' is torch's documented spelling of the max-norm)."""
    if norm_type == "inf":
        norm_type = math.inf
    norm_type = _number(op, "norm_type", norm_type)
    if not norm_type > 0:
        raise ValueError(f"{op}: norm_type must be positive (or inf), got {norm_type}")
    return norm_type


def _foreach(op: str, foreach) -> None:
    """torch's `foreach` switch picks a fused kernel; minigrad has one implementation, so it is only checked."""
    if foreach is not None and not isinstance(foreach, bool):
        raise TypeError(f"{op}: foreach must be None, True or False, got {foreach!r}")


def _total_norm(op: str, grads, norm_type: float, error_if_nonfinite: bool):
    """The norm_type-norm of the arrays `grads` as if concatenated: a 0-d array where the first one lives."""
    if not grads:
        return _B.np.zeros((), dtype=_B.get_default_dtype())
    xp, device, dtype = _B.get_array_module(grads[0]), _B.device_of(grads[0]), grads[0].dtype
    # One norm per array, gathered (device to device) where the first array lives.
    norms = [_B.to_device(_vector_norm(g, norm_type), device).astype(dtype, copy=False) for g in grads]
    total = _vector_norm(xp.stack(norms), norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"{op}: the total norm of order {norm_type} of the gradients is {float(total)}; "
                           "set error_if_nonfinite=False to clip anyway")
    return total


def _scale_to(grads, max_norm: float, total) -> None:
    """Multiply every array in `grads` in place by min(1, max_norm / (total + 1e-6)) (no branch, no host read)."""
    if not grads:
        return
    xp = _B.get_array_module(total)
    scale = xp.asarray(xp.minimum(max_norm / (total + 1e-6), 1.0), dtype=total.dtype)
    device = _B.device_of(total)
    for g in grads:
        s = scale if _B.device_of(g) == device else _B.to_device(scale, _B.device_of(g))
        with _B.np.errstate(invalid="ignore"):  # inf * 0 = NaN when the norm is infinite: as torch, silently
            g *= s.astype(g.dtype, copy=False)


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """The norm_type-norm of all elements of `tensors` taken together: ||(||t_1||, ..., ||t_n||)||_p.

    Usually the gradients, `[p.grad for p in params if p.grad is not None]`; with
    `clip_grads_with_norm_` it splits `clip_grad_norm_` in two (e.g. to all-reduce the norm
    in between). Computed on the tensors' device without reading any value back.

    Args:
        tensors: a Tensor or an iterable of Tensors (row-sparse gradients count their coalesced rows).
        norm_type: p of the p-norm (2.0 default; float('inf') or 'inf' for the largest |t|).
        error_if_nonfinite: raise if the norm is NaN or Inf (this check reads the norm on the host).
        foreach: accepted for torch compatibility (minigrad has one implementation).

    Returns:
        A 0-d Tensor on the first tensor's device, in its dtype (0.0 in the default dtype for no tensors).
    """
    op = "get_total_norm"
    norm_type = _norm_order(op, norm_type)
    _foreach(op, foreach)
    if isinstance(tensors, (Tensor, RowSparseGrad)):
        tensors = [tensors]
    arrays = []
    for t in tensors:
        if isinstance(t, RowSparseGrad):
            arrays.append(t.coalesce().values)
        elif isinstance(t, Tensor):
            arrays.append(t.data)
        else:
            raise TypeError(f"{op}: expected Tensors (e.g. the gradients [p.grad for p in params]), "
                            f"got a {type(t).__name__}")
    return _wrap(_total_norm(op, arrays, norm_type, error_if_nonfinite))


def clip_grads_with_norm_(parameters, max_norm: float, total_norm, foreach=None) -> None:
    """Scale the gradients in place by min(1, max_norm / (total_norm + 1e-6)), given their total norm.

    `clip_grad_norm_` is `get_total_norm` of the gradients followed by this.

    Args:
        parameters: a Tensor or an iterable of Tensors; those without a gradient are skipped.
        max_norm: the largest allowed total norm.
        total_norm: the gradients' total norm (a 0-d Tensor, e.g. from `get_total_norm`, or a number).
        foreach: accepted for torch compatibility (minigrad has one implementation).
    """
    op = "clip_grads_with_norm_"
    max_norm = _number(op, "max_norm", max_norm)
    if max_norm < 0:
        raise ValueError(f"{op}: max_norm must be non-negative, got {max_norm}")
    _foreach(op, foreach)
    grads = _grad_arrays(op, parameters)
    if isinstance(total_norm, Tensor):
        if total_norm.numel() != 1:
            raise ValueError(f"{op}: total_norm must be a one-element tensor (the total norm), got shape "
                             f"{tuple(total_norm.shape)}")
        if total_norm.data.dtype.kind != "f":
            raise TypeError(f"{op}: total_norm must be a floating-point tensor, got {total_norm.dtype}")
        total = total_norm.data.reshape(())
    elif grads:
        total = _B.as_array(_number(op, "total_norm", total_norm), dtype=grads[0].dtype,
                            device=_B.device_of(grads[0]))
    else:
        _number(op, "total_norm", total_norm)
        return
    _scale_to(grads, max_norm, total)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None) -> Tensor:
    """Scale all gradients together so that their joint norm is at most `max_norm`.

    The total norm is the `norm_type`-norm of all gradients as if concatenated into one
    vector. Every gradient is multiplied in place by min(1, max_norm / (total + 1e-6))
    (always multiplied, never branched on, so no value goes to the host). The same as
    `get_total_norm` of the gradients followed by `clip_grads_with_norm_`.

    Args:
        parameters: a Tensor or an iterable of Tensors (e.g. `model.parameters()`);
            those without a gradient are skipped.
        max_norm: the largest allowed total norm.
        norm_type: p of the p-norm (2.0 default; float('inf') or 'inf' for the largest |g|).
        error_if_nonfinite: raise if the total norm is NaN or Inf (this one check reads
            the norm on the host).
        foreach: accepted for torch compatibility (minigrad has one implementation).

    Returns:
        The total norm of the gradients before clipping, as a 0-d Tensor on the gradients' device.
    """
    op = "clip_grad_norm_"
    max_norm = _number(op, "max_norm", max_norm)
    norm_type = _norm_order(op, norm_type)
    if max_norm < 0:
        raise ValueError(f"{op}: max_norm must be non-negative, got {max_norm}")
    _foreach(op, foreach)
    grads = _grad_arrays(op, parameters)
    total = _total_norm(op, grads, norm_type, error_if_nonfinite)
    _scale_to(grads, max_norm, total)
    return _wrap(total)


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient element to [-clip_value, clip_value], in place (`foreach` as in torch, unused)."""
    clip_value = _number("clip_grad_value_", "clip_value", clip_value)
    _foreach("clip_grad_value_", foreach)
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be non-negative, got {clip_value}")
    for g in _grad_arrays("clip_grad_value_", parameters):
        _B.get_array_module(g).clip(g, -clip_value, clip_value, out=g)
from . import rnn  # noqa: E402,F401  (torch.nn.utils.rnn's pad_sequence)
from .convert_parameters import parameters_to_vector, vector_to_parameters  # noqa: E402
from . import parametrize, parametrizations  # noqa: E402,F401  (torch.nn.utils.parametrize / .parametrizations)
from . import prune  # noqa: E402,F401  (torch.nn.utils.prune)
from . import stateless  # noqa: E402,F401  (torch.nn.utils.stateless.functional_call, deprecated)
from .spectral_norm import remove_spectral_norm, spectral_norm  # noqa: E402
from .weight_norm import remove_weight_norm, weight_norm  # noqa: E402
