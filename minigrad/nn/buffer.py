"""`nn.Buffer` (torch 2.5+): a tensor that registers itself as a buffer when assigned to a Module attribute."""
from __future__ import annotations

from ..tensor import Tensor

__all__ = ["Buffer"]


class Buffer(Tensor):
    """A Tensor marked as module state that is not a parameter (BatchNorm's running_mean is one).

    `self.mask = nn.Buffer(t)` inside a Module registers it as `register_buffer("mask", t, persistent)`
    would: it appears in `buffers()`, moves with `to()`, and (if persistent) in `state_dict()`.
    Assigning a plain Tensor does not register it.

    Args:
        data: the tensor (shared, detached, keeping its requires_grad); None gives an empty float tensor.
        persistent: whether the buffer is part of the module's `state_dict()`. Default True.
    """

    __slots__ = ("persistent",)

    def __init__(self, data=None, *, persistent: bool = True):
        if data is None:
            from ..factory import empty  # (factory imports tensor; a local import keeps this module light)

            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Buffer: data must be a minigrad Tensor (or None), got {type(data).__name__}")
        super().__init__(data.data)  # the same array: a detached view of data, as torch's data.detach()
        if data.requires_grad:
            self.requires_grad_(True)
        self.persistent = bool(persistent)
