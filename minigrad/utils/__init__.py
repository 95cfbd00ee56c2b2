"""minigrad.utils: torch.utils's spelling of minigrad's modules.

`minigrad.utils.data` IS `minigrad.data` (one module under two names, not a copy), so
torch code ports by changing the package name only:

    from minigrad.utils.data import DataLoader, TensorDataset, random_split
    import minigrad.utils.data as data      # data.DataLoader is minigrad.data.DataLoader

`minigrad.utils.checkpoint` is torch.utils.checkpoint (activation checkpointing: `checkpoint`,
`checkpoint_sequential`), not `minigrad.checkpoint` (saving a training state to resume).
"""
import sys as _sys

from .. import data

# `import minigrad.utils.data` finds the one data module (as minigrad.nn does for nn.functional)
_sys.modules[__name__ + ".data"] = data
# torch's submodule imports port too (`from torch.utils.data.sampler import SubsetRandomSampler`,
# `...dataloader import default_collate`, `...distributed import DistributedSampler`): each is the one module
for _sub in ("dataset", "sampler", "dataloader", "distributed"):
    _sys.modules[f"{__name__}.data.{_sub}"] = _sys.modules[f"{data.__name__}.{_sub}"] = data
    # ... and as attributes, as torch's submodules are (`torch.utils.data.dataloader.DataLoader(...)`)
    setattr(data, _sub, data)

from . import checkpoint  # noqa: E402  (torch.utils.checkpoint: activation checkpointing)

__all__ = ["data", "checkpoint"]
