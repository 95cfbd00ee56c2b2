"""`Optimizer`: the base class of every optimizer (torch.optim's API).

An optimizer holds `param_groups`, a list of dicts: each has the group's
parameters under "params" and its hyperparameters ("lr", "momentum", ...), so
different parts of a model can train with different settings and a learning-rate
scheduler changes `group["lr"]`. Per-parameter buffers (momentum, Adam's moments)
live in `optimizer.state[p]`.

`step()` updates every parameter that has a gradient, in place, on the
parameter's own device with its array module (NumPy or CuPy). Hyperparameters
are Python numbers and step counts are Python ints, so a step never reads a
value back from the GPU (the lr may also be a one-element Tensor, as torch allows:
each step reads its current value, a host read if it lives on the GPU; schedulers
fill it in place). torch's implementation switches `foreach`, `fused` and
`capturable` are accepted and change nothing (see `check_torch_flags`). Each
update bumps the parameter's version counter, so
backpropagating through a graph built before the step raises instead of giving
a silently wrong gradient.

Gradients may be dense (`p.grad` a Tensor) or row-sparse (`p.grad` a
`minigrad.sparse.RowSparseGrad`, from `Embedding(sparse=True)`); each optimizer's
docstring says what it does with sparse gradients.
"""
from __future__ import annotations

import numbers

from .. import backend as _B
from ..autograd import enable_grad, no_grad
from ..sparse import RowSparseGrad
from ..tensor import Tensor

__all__ = ["Optimizer"]


class Optimizer:
    """Base class: subclasses set `defaults` and implement `_update(p, grad, state, group)`.

    Args:
        params: an iterable of Tensors (e.g. `model.parameters()`), or of dicts
            `{"params": [...], "lr": ..., ...}` (param groups) whose keys override
            `defaults` for that group.
        defaults: the hyperparameters of groups that do not set them.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state: dict = {}  # Tensor -> dict of that parameter's buffers (torch's layout)
        self.param_groups: list[dict] = []
        name = type(self).__name__
        if isinstance(params, Tensor) or isinstance(params, dict):
            raise TypeError(f"{name}: params should be an iterable of Tensors or of dicts (param groups), "
                            f"got a {type(params).__name__}; pass e.g. model.parameters() or [tensor]")
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: params must be an ordered collection (a set has no stable order, so "
                            "state_dict indices would be meaningless); use a list")
        try:
            groups = list(params)
        except TypeError:
            raise TypeError(f"{name}: params should be an iterable of Tensors or of dicts, "
                            f"got {type(params).__name__}") from None
        if not groups:
            raise ValueError(f"{name} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    # ------------------------------------------------------------ param groups
    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters (e.g. a layer unfrozen during fine-tuning) with its own options."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: a param group must be a dict with a 'params' key, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{name}: a param group needs a 'params' entry, got keys {sorted(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(f"{name}: params must be an ordered collection (a set has no stable order, so "
                            "state_dict indices would be meaningless); use a list")
        else:
            params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name} can only optimize Tensors, but one of the params is a {type(p).__name__}")
            if p.grad_fn is not None:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor (shape {tuple(p.shape)}, computed by "
                                 f"{type(p.grad_fn).__name__}); optimize the leaf it came from, or detach() it")
            if p.data.dtype.kind not in "fc":
                raise TypeError(f"{name}: can't optimize a {p.dtype} tensor; parameters must be floating point")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: a parameter appears twice in one param group")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        # torch's key order: the group's own keys ('params' first), then the defaults it left out
        group = dict(param_group)
        group["params"] = params
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        # Extra keys are kept (torch allows annotations such as a group "name").
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict) -> None:
        """Validate a group's hyperparameters (subclasses raise ValueError like torch)."""

    # ------------------------------------------------------------ the update
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: set `.grad` to None (default), or fill it with zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                elif p.grad.is_sparse:
                    p.grad.zero_()  # a sparse zero: no rows
                else:
                    p.grad.data.fill(0)

    def step(self, closure=None):
        """Update every parameter that has a gradient (parameters whose `.grad` is None are skipped).

        Args:
            closure: optional function that recomputes the loss (calls backward) and returns it;
                it runs with gradients enabled before the update.

        Returns:
            The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    grad = self._gradient_of(p, group.get("maximize", False))
                    state = self.state.get(p)
                    if state is None:
                        state = self.state[p] = {}
                    self._update(p, grad, state, group)
                    p._bump()  # p changed in place: graphs that saved its old value are now stale
        return loss

    def _update(self, p: Tensor, grad, state: dict, group: dict) -> None:  # pragma: no cover - abstract
        """Update `p.data` in place from `grad` (a backend array, or a coalesced RowSparseGrad)."""
        raise NotImplementedError

    def _gradient_of(self, p: Tensor, maximize: bool):
        """p's gradient as a backend array or a coalesced RowSparseGrad, checked against p (and negated if maximize)."""
        g = p.grad
        sparse = isinstance(g, RowSparseGrad)
        arr = g.values if sparse else g.data
        if (tuple(g.shape) if sparse else g.data.shape) != p.data.shape or arr.dtype != p.data.dtype or _B.device_of(arr) != _B.device_of(p.data):
            raise RuntimeError(
                f"{type(self).__name__}.step: the gradient of a parameter of shape {tuple(p.shape)} ({p.dtype} on "
                f"{p.device}) is {arr.dtype}{list(g.shape)} on {_B.device_of(arr)}; a gradient must have its "
                "parameter's shape, dtype and device")
        if sparse:
            g = g.coalesce()  # unique rows (the engine stores them so; user-made gradients may repeat)
        if maximize:  # ascend: step along +grad
            return -g if sparse else -arr
        return g if sparse else arr

    def _sparse_unsupported(self, p: Tensor, why: str):
        return RuntimeError(
            f"{type(self).__name__} does not support sparse gradients: the parameter of shape {tuple(p.shape)} has a "
            f"row-sparse gradient (from Embedding(sparse=True)), and {why}. Use Embedding(sparse=False) for it, "
            "or an optimizer with a sparse update (SGD, Adagrad, Adam/SparseAdam without weight decay), "
            "e.g. in a separate param group or optimizer.")

    # ------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """The optimizer's state as plain data: {"state": {index: {...}}, "param_groups": [...]}.

        Parameters are named by their position across the groups (0, 1, ...), as in torch,
        so the dict can be loaded into a new optimizer over the same model. State entries are
        backend arrays (referenced, not copied, as in torch: deepcopy the dict to keep a
        snapshot while training goes on) and Python numbers; tuples (betas) become lists.
        """
        index, groups, start = {}, [], 0
        for group in self.param_groups:
            packed = {k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items() if k != "params"}
            packed["params"] = list(range(start, start + len(group["params"])))
            for i, p in enumerate(group["params"]):
                index[id(p)] = start + i
            start += len(group["params"])
            groups.append(packed)
        # an empty state (SGD without momentum) is left out, as in torch
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index and s}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyperparameters and buffers saved by `state_dict()` (copies them onto the params' devices).

        Buffers are cast to their parameter's floating dtype and moved to its device, so a
        checkpoint saved on the GPU loads on the CPU and vice versa.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups' "
                             "(from optimizer.state_dict())")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: loaded state dict has {len(saved_groups)} parameter groups, "
                             f"this optimizer has {len(self.param_groups)}")
        params = []
        for k, (g, sg) in enumerate(zip(self.param_groups, saved_groups)):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError(f"{name}.load_state_dict: loaded state dict contains a parameter group {k} with "
                                 f"{len(sg['params'])} parameters, but this optimizer's group {k} has "
                                 f"{len(g['params'])}")
            params.extend(zip(sg["params"], g["params"]))
        by_index = {int(i): p for i, p in params}

        new_state = {}
        for key, s in state_dict["state"].items():
            i = int(key)  # a saver may have turned int keys into strings
            if i not in by_index:
                raise ValueError(f"{name}.load_state_dict: state for parameter index {i}, but the groups only "
                                 f"name indices {sorted(by_index)}")
            p = by_index[i]
            new_state[p] = {k: _load_value(v, p, k) for k, v in s.items()}

        new_groups = []
        for g, sg in zip(self.param_groups, saved_groups):
            ng = {}
            for k, v in sg.items():
                if k == "params":
                    continue
                if isinstance(self.defaults.get(k), tuple) and isinstance(v, list):
                    v = tuple(v)  # betas were saved as a list
                ng[k] = v
            ng["params"] = g["params"]
            self._check_group(ng)
            new_groups.append(ng)
        self.param_groups = new_groups
        self.state = new_state

    # ------------------------------------------------------------ display
    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k != "params":
                    lines.append(f"    {k}: {group[k]}")
        lines.append(")")
        return "\n".join(lines)


def _load_value(v, p: Tensor, key: str):
    """A saved state entry made ready for parameter p: arrays copied to p's device (floats to p's dtype)."""
    if isinstance(v, Tensor):
        v = v.data
    elif hasattr(v, "detach") and hasattr(v, "cpu") and hasattr(v, "numpy"):  # torch's (as Module.load_state_dict)
        v = v.detach().cpu()
        v = (v.float() if str(v.dtype) == "torch.bfloat16" else v).numpy()
    if _B.is_array(v):
        if key == "step" and v.size == 1:  # a step count saved as an array (torch keeps a tensor)
            return int(_B.to_device(v, "cpu").reshape(()).item())
        arr = _B.to_device(v, p.device)
        if arr.dtype.kind == "f" and arr.dtype != p.data.dtype:
            arr = arr.astype(p.data.dtype)
        elif arr is v:
            arr = arr.copy()  # never share memory with the caller's dict
        if arr.shape != p.data.shape:
            raise ValueError(f"load_state_dict: state {key!r} has shape {tuple(arr.shape)} but its parameter has "
                             f"shape {tuple(p.shape)}")
        return arr
    if isinstance(v, (numbers.Number, str)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return type(v)(v)
    raise TypeError(f"load_state_dict: unsupported state entry {key!r} of type {type(v).__name__}")


def check_torch_flags(opt: str, foreach=None, fused=None, capturable=False, differentiable=False) -> None:
    """Accept torch's implementation switches, so torch code ports unchanged; refuse differentiable=True.

    foreach / fused choose among torch's kernels (a loop over the parameters, multi-tensor or fused ops)
    and capturable keeps the step CUDA-graph safe; all compute the same update. minigrad has one
    implementation (which never reads a value back from the GPU inside a step), so they change nothing.
    differentiable=True (autograd through the update) is not possible: steps write in place under no_grad.
    """
    for key, v in (("foreach", foreach), ("fused", fused), ("capturable", capturable)):
        if v is not None and not isinstance(v, bool):
            raise TypeError(f"{opt}: {key} must be None, True or False, got {v!r}")
    if foreach and fused:
        raise RuntimeError(f"{opt}: `fused` and `foreach` cannot be `True` together.")
    if differentiable:
        raise NotImplementedError(
            f"{opt}: differentiable=True (backpropagating through the optimizer step) is not supported: minigrad "
            "updates the parameters in place under no_grad; write the update with tensor ops for a differentiable "
            "step")


def check_hyper(opt: str, group: dict, key: str, low: float = 0.0, high: float | None = None,
                low_open: bool = False, high_open: bool = True, label: str | None = None) -> None:
    """Raise a torch-like ValueError unless group[key] is a real number in the allowed range."""
    v = group[key]
    label = label or f"{key} value"
    if key == "lr" and isinstance(v, Tensor):  # torch allows a one-element Tensor lr: each step reads its value
        if v.numel() != 1 or v.dtype.kind != "f" or v.requires_grad:
            raise ValueError(f"{opt}: a Tensor lr must hold one floating-point number and not require grad, got "
                             f"a {v.dtype} tensor of shape {tuple(v.shape)} (requires_grad={v.requires_grad})")
        v = float(v)
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{opt}: {key} must be a Python number, got {type(v).__name__} ({v!r})")
    too_low = v <= low if low_open else v < low
    too_high = high is not None and (v >= high if high_open else v > high)
    if too_low or too_high or v != v or v in (float("inf"), float("-inf")):  # NaN, inf: never a valid setting
        rng = f"{'(' if low_open else '['}{low}, {high if high is not None else 'inf'}{')' if high_open else ']'}"
        raise ValueError(f"{opt}: Invalid {label}: {v} (expected in {rng})")
