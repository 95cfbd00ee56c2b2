"""parameters_to_vector / vector_to_parameters (torch.nn.utils' names): all parameters as one flat vector and back.

    vec = nn.utils.parameters_to_vector(model.parameters())      # differentiable, a copy
    nn.utils.vector_to_parameters(vec * 0.5, model.parameters())  # written back in place
"""
from __future__ import annotations

from ... import backend as _B
from ...autograd import no_grad
from ...ops.shape import cat
from ...tensor import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _param_list(op: str, parameters) -> list:
    """The parameters as a list of Tensors, all on one device."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    params = list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"{op}: expected Tensors (e.g. model.parameters()), got a {type(p).__name__}")
    devices = sorted({p.device for p in params})
    if len(devices) > 1:
        raise TypeError(f"{op}: found parameters on different devices ({', '.join(devices)}); the vector "
                        "lives on one device")
    return params


def parameters_to_vector(parameters) -> Tensor:
    """All parameters flattened and concatenated, in order: vec = cat([p.reshape(-1) for p in parameters]).

    Differentiable (it is built from reshape and cat), and a copy: writing into the vector
    does not change the parameters.

    Args:
        parameters: an iterable of Tensors (e.g. `model.parameters()`), of one dtype and device.

    Returns:
        A 1-D Tensor with sum(p.numel()) elements.
    """
    op = "parameters_to_vector"
    params = _param_list(op, parameters)
    if not params:
        raise ValueError(f"{op}: expected at least one parameter, got none")
    dtypes = sorted({str(p.dtype) for p in params})
    if len(dtypes) > 1:
        raise TypeError(f"{op}: the parameters have different dtypes ({', '.join(dtypes)}); convert them to one "
                        "dtype first (model.to(dtype))")
    flat = [p.reshape(-1) for p in params]
    return cat(flat) if len(flat) > 1 else flat[0].clone()  # cat of one tensor would be a view of it


def vector_to_parameters(vec: Tensor, parameters) -> None:
    """Copy consecutive slices of the 1-D `vec` into the parameters, in order (the inverse of parameters_to_vector).

    The values are written in place (under no_grad, bumping each parameter's version, cast to
    its dtype), so the parameters stay the same objects with their dtype and device, and an
    optimizer that holds them keeps working. (torch rebinds `param.data` to views of `vec`
    instead; the values are the same.)

    Args:
        vec: a 1-D Tensor with exactly sum(p.numel()) elements.
        parameters: an iterable of Tensors (e.g. `model.parameters()`).
    """
    op = "vector_to_parameters"
    if not isinstance(vec, Tensor):
        raise TypeError(f"{op}: expected a minigrad Tensor as vec, but got: {type(vec).__name__}")
    params = _param_list(op, parameters)
    if vec.ndim != 1:
        raise ValueError(f"{op}: vec must be 1-D (from parameters_to_vector), got shape {tuple(vec.shape)}")
    total = sum(p.data.size for p in params)
    if vec.shape[0] != total:
        raise ValueError(f"{op}: vec has {vec.shape[0]} elements but the parameters have {total} in all")
    if vec.data.dtype.kind != "f":
        raise TypeError(f"{op}: vec is {vec.dtype}; expected a floating-point vector for floating-point parameters")
    offset = 0
    with no_grad():
        for p in params:
            n = p.data.size
            chunk = vec.data[offset:offset + n]
            if _B.device_of(chunk) != p.device:
                chunk = _B.to_device(chunk, p.device)
            p.data[...] = chunk.reshape(p.data.shape)  # cast to p's dtype by the assignment
            p._bump()
            offset += n
