"""minigrad.distributed: torch.distributed's names for a library that runs in one process.

minigrad has no process groups and no communication backend (no NCCL, Gloo or MPI), so
multi-process training (torchrun, DistributedDataParallel) is not available. This module
exists so torch training scripts that import these names at the top still import and run
their single-process path:

    import minigrad.distributed as dist
    from minigrad.distributed import init_process_group, destroy_process_group

    ddp = int(os.environ.get("RANK", -1)) != -1   # nanoGPT's test: False when run as `python train.py`
    rank = dist.get_rank() if dist.is_initialized() else 0

What each name does:

* `is_available()` and `is_initialized()` are False (the guards torch code already uses);
  `is_nccl_available()`, `is_gloo_available()`, `is_mpi_available()` and
  `is_torchelastic_launched()` are False too.
* `get_rank()`, `get_world_size()`, `get_backend()` and the collectives (`all_reduce`,
  `barrier`, `broadcast`, `all_gather`, ...) raise the ValueError torch raises when no
  process group has been initialized (torch's text, with minigrad's hint added).
* `init_process_group()`, `new_group()` and `destroy_process_group()` raise a RuntimeError
  saying that minigrad runs in one process and how to run the script that way.
* `ReduceOp.SUM` etc. are plain constants, so code may name them at import time (default
  arguments); using one in a collective raises as above.
"""
from __future__ import annotations

import enum

# torch's exact text (get_rank, get_world_size, barrier, all_reduce, ... on a CPU build, torch 2.x)
_NOT_INITIALIZED = "Default process group has not been initialized, please make sure to call init_process_group."

_SINGLE_PROCESS = (
    "minigrad runs in one process: it has no process groups or communication backend (NCCL, Gloo, MPI), so "
    "multi-process training (torchrun, DistributedDataParallel) is not available. Run the script as a single "
    "process (`python train.py`, not `torchrun`): with RANK unset, nanoGPT-style code "
    "(`ddp = int(os.environ.get('RANK', -1)) != -1`) takes its single-process path; guard other calls with "
    "`dist.is_initialized()`")


def _not_initialized(op: str):
    """The ValueError torch raises for `op` without a process group, with minigrad's reason added."""
    return ValueError(f"{op}: {_NOT_INITIALIZED} ({_SINGLE_PROCESS})")


def is_available() -> bool:
    """Is distributed training available? Never in minigrad (one process, no backend)."""
    return False


def is_initialized() -> bool:
    """Has a default process group been initialized? Never in minigrad."""
    return False


def is_nccl_available() -> bool:
    """Is the NCCL backend available? No (minigrad has no communication backend)."""
    return False


def is_gloo_available() -> bool:
    """Is the Gloo backend available? No (minigrad has no communication backend)."""
    return False


def is_mpi_available() -> bool:
    """Is the MPI backend available? No (minigrad has no communication backend)."""
    return False


def is_torchelastic_launched() -> bool:
    """Was this process started by torchrun / torchelastic? minigrad runs single-process: False."""
    return False


def init_process_group(backend=None, init_method=None, *args, **kwargs):
    """torch.distributed.init_process_group: refused, minigrad runs in one process.

    Raises:
        RuntimeError: always, saying how to run the script single-process instead.
    """
    raise RuntimeError(f"init_process_group: {_SINGLE_PROCESS}")


def new_group(*args, **kwargs):
    """torch.distributed.new_group: refused, minigrad has no process groups.

    Raises:
        RuntimeError: always.
    """
    raise RuntimeError(f"new_group: {_SINGLE_PROCESS}")


def destroy_process_group(group=None):
    """torch.distributed.destroy_process_group: refused, there is never a process group to destroy.

    Raises:
        RuntimeError: always (torch fails here too without one; its text is an assertion).
    """
    raise RuntimeError(f"destroy_process_group: no process group to destroy; {_SINGLE_PROCESS}")


def get_rank(group=None) -> int:
    """This process's rank; there is none without a process group (torch's ValueError)."""
    raise _not_initialized("get_rank")


def get_world_size(group=None) -> int:
    """The number of processes in the group; there is none without a process group (torch's ValueError)."""
    raise _not_initialized("get_world_size")


def get_backend(group=None) -> str:
    """The process group's backend; there is none without a process group (torch's ValueError)."""
    raise _not_initialized("get_backend")


class ReduceOp(enum.Enum):
    """torch.distributed.ReduceOp's members, as constants (a collective that takes one raises)."""

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    BAND = "band"
    BOR = "bor"
    BXOR = "bxor"
    PREMUL_SUM = "premul_sum"


def _collective(name: str):
    """A collective that raises torch's not-initialized ValueError (every call: there is no process group)."""

    def collective(*args, **kwargs):
        raise _not_initialized(name)

    collective.__name__ = collective.__qualname__ = name
    collective.__doc__ = (f"torch.distributed.{name}: raises torch's ValueError (no process group is ever "
                          "initialized in minigrad, which runs in one process).")
    return collective


# torch's collectives and point-to-point calls, each refused the same way
_COLLECTIVES = ("all_reduce", "barrier", "broadcast", "reduce", "all_gather", "all_gather_into_tensor", "gather",
                "scatter", "reduce_scatter", "reduce_scatter_tensor", "all_to_all", "all_to_all_single",
                "all_gather_object", "broadcast_object_list", "gather_object", "scatter_object_list", "send",
                "recv", "isend", "irecv", "monitored_barrier")
for _name in _COLLECTIVES:
    globals()[_name] = _collective(_name)
del _name

__all__ = ["is_available", "is_initialized", "is_nccl_available", "is_gloo_available", "is_mpi_available",
           "is_torchelastic_launched", "init_process_group", "new_group", "destroy_process_group", "get_rank",
           "get_world_size", "get_backend", "ReduceOp", *_COLLECTIVES]
