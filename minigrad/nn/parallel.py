"""minigrad.nn.parallel: torch.nn.parallel's wrappers for a library that runs in one process.

* `DataParallel(module)` wraps a module as torch's does: `.module` is the wrapped module, and
  `state_dict()` keys carry the `module.` prefix, so checkpoints saved from a DataParallel
  model load the same way as torch's. Without a GPU (torch's CPU behaviour) a call is a call
  of the module. With GPUs it runs the module on the first of `device_ids` (inputs moved
  there); minigrad does not split a batch across several GPUs, and warns when given more.
* `DistributedDataParallel` cannot be built: there is no process group in minigrad (see
  `minigrad.distributed`). The class exists so `from ... import DistributedDataParallel as DDP`
  and `isinstance(model, DDP)` work in scripts whose single-process path never builds one.
"""
from __future__ import annotations

import sys
import warnings

from .. import backend as _B
from ..distributed import _SINGLE_PROCESS
from ..tensor import Tensor
from .module import Module


def _device_index(d) -> int:
    """A GPU index from 3, 'cuda:3', 'cuda' (the current GPU) or mg.device('cuda', 3)."""
    if isinstance(d, int):
        return d
    text = str(d)
    if not text.startswith("cuda"):
        raise ValueError(f"DataParallel: device_ids must be GPU indices or 'cuda:N', got {d!r}")
    return int(text.split(":")[1]) if ":" in text else _B.cupy.cuda.runtime.getDevice()


def _move(obj, device):
    """obj with every Tensor in it (inside lists, tuples and dicts) moved to `device`, as torch's scatter does."""
    if isinstance(obj, Tensor):
        return obj.to(device)
    if isinstance(obj, (list, tuple)):
        moved = [_move(o, device) for o in obj]
        return type(obj)(*moved) if hasattr(obj, "_fields") else type(obj)(moved)  # (namedtuples too)
    if isinstance(obj, dict):
        return type(obj)((k, _move(v, device)) for k, v in obj.items())
    return obj


class DataParallel(Module):
    """torch.nn.DataParallel: the module, called on one device (no batch splitting in minigrad).

    Args:
        module: the module to wrap; it is `self.module`, so parameter and state_dict names
            get the prefix ``module.`` as in torch.
        device_ids: GPUs to use (default: all). Without a GPU this is ignored and
            `device_ids` is ``[]``, as torch's. Only the first is used (a warning says so
            when there are more).
        output_device: accepted for torch's signature; the output stays where the module
            put it (with one device, torch does the same).
        dim: accepted for torch's signature (the dim torch would split the batch along).
    """

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DataParallel: module must be an nn.Module, got {type(module).__name__}")
        self.module = module
        if not _B.cuda_available() or (device_ids is not None and len(device_ids) == 0):
            self.device_ids = []  # torch's CPU behaviour: a plain wrapper
            return
        if device_ids is None:
            device_ids = range(_B.cupy.cuda.runtime.getDeviceCount())
        self.device_ids = [_device_index(d) for d in device_ids]
        if len(self.device_ids) > 1:
            warnings.warn(f"DataParallel: minigrad runs the module on one GPU (cuda:{self.device_ids[0]}); the "
                          f"batch is not split across device_ids {self.device_ids}", UserWarning, stacklevel=2)
        self.dim = dim
        self.output_device = self.device_ids[0] if output_device is None else _device_index(output_device)
        self.src_device_obj = f"cuda:{self.device_ids[0]}"
        module.to(self.src_device_obj)

    def forward(self, *inputs, **kwargs):
        """module(*inputs, **kwargs), with the inputs moved to the module's GPU first when there is one."""
        if not self.device_ids:
            return self.module(*inputs, **kwargs)
        return self.module(*_move(inputs, self.src_device_obj), **_move(kwargs, self.src_device_obj))


class DistributedDataParallel(Module):
    """torch.nn.parallel.DistributedDataParallel: not available (minigrad runs in one process).

    Raises:
        RuntimeError: when built, saying how to run the script single-process.
    """

    def __init__(self, module=None, *args, **kwargs):
        raise RuntimeError(f"DistributedDataParallel: {_SINGLE_PROCESS}; use the model itself (as `raw_model`)")


def data_parallel(module, inputs, device_ids=None, output_device=None, dim=0, module_kwargs=None):
    """torch.nn.parallel.data_parallel: module(*inputs, **module_kwargs) as a one-off DataParallel call."""
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    module_kwargs = module_kwargs or {}
    if not _B.cuda_available():  # torch's CPU behaviour
        return module(*inputs, **module_kwargs)
    return DataParallel(module, device_ids, output_device, dim)(*inputs, **module_kwargs)


# torch's submodule spellings (`from torch.nn.parallel.distributed import DistributedDataParallel`,
# `...data_parallel import DataParallel`) find this one module (the attribute `data_parallel` stays the
# function, as in torch)
for _sub in ("distributed", "data_parallel"):
    sys.modules[f"{__name__}.{_sub}"] = sys.modules[__name__]

__all__ = ["DataParallel", "DistributedDataParallel", "data_parallel"]
