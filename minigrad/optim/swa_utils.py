"""Weight averaging (torch.optim.swa_utils): Stochastic Weight Averaging and exponential moving averages.

    swa_model = optim.swa_utils.AveragedModel(model)                 # a copy holding the running average
    swa_sched = optim.swa_utils.SWALR(opt, swa_lr=0.05)
    for epoch in range(epochs):
        train_one_epoch(model, opt)
        if epoch >= swa_start:
            swa_model.update_parameters(model)                       # average_{n+1} = avg_n + (w - avg_n)/(n+1)
            swa_sched.step()
    optim.swa_utils.update_bn(train_loader, swa_model)              # BatchNorm statistics for the averaged weights

    ema = optim.swa_utils.AveragedModel(model, multi_avg_fn=optim.swa_utils.get_ema_multi_avg_fn(0.999))

Izmailov et al. 2018, "Averaging Weights Leads to Wider Optima and Better Generalization".
"""
from __future__ import annotations

import itertools
import math
import numbers
from copy import deepcopy

from .. import backend as _B
from ..autograd import no_grad
from ..nn.module import Module
from ..tensor import Tensor, tensor
from .lr_scheduler import LRScheduler
from .optimizer import Optimizer

__all__ = ["AveragedModel", "update_bn", "SWALR", "get_ema_multi_avg_fn", "get_swa_multi_avg_fn", "get_ema_avg_fn",
           "get_swa_avg_fn"]


def _is_float(t: Tensor) -> bool:
    return t.data.dtype.kind in "fc"


def _check_decay(decay) -> float:
    if isinstance(decay, bool) or not isinstance(decay, numbers.Real):
        raise TypeError(f"get_ema_avg_fn: decay must be a number in [0, 1], got {type(decay).__name__} {decay!r}")
    if decay < 0.0 or decay > 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] range.")
    return float(decay)


def get_ema_multi_avg_fn(decay: float = 0.999):
    """An update for all tensors at once: ema <- lerp(ema, current, 1 - decay) = decay * ema + (1 - decay) * current.

    For `AveragedModel(model, multi_avg_fn=...)`; integer tensors (e.g. a BatchNorm's
    num_batches_tracked with use_buffers=True) take decay * ema + (1 - decay) * current, truncated.
    """
    decay = _check_decay(decay)

    def ema_update(ema_param_list, current_param_list, _num_averaged) -> None:
        with no_grad():
            if _is_float(ema_param_list[0]):
                for p_ema, p_model in zip(ema_param_list, current_param_list):
                    p_ema.lerp_(p_model, 1 - decay)
            else:
                for p_ema, p_model in zip(ema_param_list, current_param_list):
                    p_ema.copy_(p_ema * decay + p_model * (1 - decay))

    return ema_update


def get_swa_multi_avg_fn():
    """An update for all tensors at once: avg <- lerp(avg, current, 1 / (n + 1)), the running mean of n + 1 values.

    As torch, with n the n_averaged buffer (an int64 tensor) the weight 1 / (n + 1) is computed
    as a tensor of the default dtype (float32 unless changed), so float64 averages use that
    rounded weight. Integer tensors are refused, as torch refuses them (its addcdiv).
    """

    def swa_update(averaged_param_list, current_param_list, num_averaged) -> None:
        if not _is_float(averaged_param_list[0]):
            raise RuntimeError(f"get_swa_multi_avg_fn: cannot average integer tensors "
                               f"({averaged_param_list[0].dtype}, e.g. a BatchNorm's num_batches_tracked with "
                               "use_buffers=True), as torch cannot; use the default averaging (no multi_avg_fn) or "
                               "use_buffers=False")
        with no_grad():
            weight = 1 / (num_averaged + 1)
            weight = weight.item() if isinstance(weight, Tensor) else weight  # (torch: a Scalar from the tensor)
            for p_avg, p_model in zip(averaged_param_list, current_param_list):
                p_avg.lerp_(p_model, weight)

    return swa_update


def get_ema_avg_fn(decay: float = 0.999):
    """An update for one tensor: returns decay * ema + (1 - decay) * current (for `AveragedModel(avg_fn=...)`)."""
    decay = _check_decay(decay)

    def ema_update(ema_param: Tensor, current_param: Tensor, num_averaged):
        with no_grad():
            return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_swa_avg_fn():
    """An update for one tensor: returns avg + (current - avg) / (n + 1), the running mean of n + 1 values."""

    def swa_update(averaged_param: Tensor, current_param: Tensor, num_averaged):
        with no_grad():
            return averaged_param + (current_param - averaged_param) / (num_averaged + 1)

    return swa_update


class AveragedModel(Module):
    """A copy of `model` whose parameters are the average of the models given to `update_parameters`.

    Calling it calls the copy (`self.module`). By default the average is the equal-weight
    running mean (SWA); `avg_fn(averaged, current, n_averaged) -> new` (one tensor at a time) or
    `multi_avg_fn(averaged_list, current_list, n_averaged)` (in place, all tensors of one device
    and dtype at once) choose another, e.g. `get_ema_multi_avg_fn(0.999)`. The first update copies
    the model. Buffers (BatchNorm statistics) are copied from the model at each update, or, with
    use_buffers=True, averaged like the parameters. The state_dict holds `module.<name>` entries
    and `n_averaged`, as torch's.

    Args:
        model: the model to average (deep-copied).
        device: where to keep the average (e.g. 'cpu' to save GPU memory); default: the model's device.
        avg_fn: per-tensor averaging function (see above); at most one of avg_fn, multi_avg_fn.
        multi_avg_fn: in-place averaging function over lists of tensors.
        use_buffers: average the buffers too (and read them from `model.buffers()` in order).
    """

    def __init__(self, model: Module, device=None, avg_fn=None, multi_avg_fn=None, use_buffers: bool = False):
        super().__init__()
        if not isinstance(model, Module):
            raise TypeError(f"AveragedModel: model must be an nn.Module, got {type(model).__name__}")
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", tensor(0, dtype=_B.np.int64, device=device))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def update_parameters(self, model: Module) -> None:
        """Fold `model`'s parameters (and buffers, with use_buffers=True) into the average; n_averaged += 1."""
        if not isinstance(model, Module):
            raise TypeError(f"AveragedModel.update_parameters: model must be an nn.Module, got {type(model).__name__}")
        if self.use_buffers:
            self_param = itertools.chain(self.module.parameters(), self.module.buffers())
            model_param = itertools.chain(model.parameters(), model.buffers())
        else:
            self_param, model_param = self.parameters(), model.parameters()
        averaged, current = [], []
        first = int(self.n_averaged.item()) == 0  # (one host read per update, as torch)
        with no_grad():
            for p_averaged, p_model in zip(self_param, model_param):
                p_model_ = p_model.detach().to(p_averaged.device)
                averaged.append(p_averaged.detach())
                current.append(p_model_)
                if first:
                    p_averaged.detach().copy_(p_model_)
            if not first:
                self._average(averaged, current)
            if not self.use_buffers:  # the buffers follow the model (update_bn recomputes BatchNorm's later)
                for b_swa, b_model in zip(self.module.buffers(), model.buffers()):
                    b_swa.detach().copy_(b_model.detach().to(b_swa.device))
            self.n_averaged.add_(1)

    def _average(self, averaged: list, current: list) -> None:
        """One averaging step, as torch: per (device, dtype) group with multi_avg_fn; per tensor with avg_fn."""
        if self.avg_fn is not None:
            for p_averaged, p_model in zip(averaged, current):
                n = self.n_averaged.to(p_averaged.device)
                p_averaged.copy_(self.avg_fn(p_averaged, p_model, n))
            return
        groups: dict = {}  # (device, dtype) -> ([averaged], [current]), in first-seen order
        for p_averaged, p_model in zip(averaged, current):
            a, c = groups.setdefault((p_averaged.device, p_averaged.dtype), ([], []))
            a.append(p_averaged)
            c.append(p_model)
        for (device, _), (a, c) in groups.items():
            n = self.n_averaged.to(device)
            if self.multi_avg_fn is not None:
                self.multi_avg_fn(a, c, n)
            elif device.type == "cuda" and _is_float(a[0]):  # torch's fused (foreach) path on GPUs: lerp
                get_swa_multi_avg_fn()(a, c, n)
            else:  # and its per-tensor formula elsewhere (and for integer buffers, which torch's GPU path refuses)
                avg_fn = get_swa_avg_fn()
                for p_averaged, p_model in zip(a, c):
                    p_averaged.copy_(avg_fn(p_averaged, p_model, n))


def _batch_norms(model: Module) -> list:
    """The BatchNorm layers of `model` (torch's _BatchNorm family; minigrad's InstanceNorm derives from
    its _BatchNorm, but torch's does not, so it is left out)."""
    from ..nn.norm import _BatchNorm
    from ..nn.norm_more import _InstanceNorm
    return [m for m in model.modules() if isinstance(m, _BatchNorm) and not isinstance(m, _InstanceNorm)]


def update_bn(loader, model: Module, device=None) -> None:
    """Recompute the BatchNorm running statistics of `model` with one pass over `loader`.

    The averaged weights need statistics of their own: every BatchNorm's running mean and
    variance are reset and re-estimated as a plain (cumulative) average over the batches, in
    training mode; the model's mode and the layers' momentum are restored afterwards. Runs
    without recording gradients.

    Args:
        loader: an iterable of batches; a list/tuple batch contributes its first element (the input).
        model: the model (e.g. an AveragedModel).
        device: move each input there first.
    """
    if not isinstance(model, Module):
        raise TypeError(f"update_bn: model must be an nn.Module, got {type(model).__name__}")
    momenta = {}
    for module in _batch_norms(model):
        module.reset_running_stats()
        momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None  # None: the cumulative average over the batches seen
    try:
        with no_grad():
            for input in loader:  # noqa: A001 (torch's name)
                if isinstance(input, (list, tuple)):
                    input = input[0]  # noqa: A001
                if device is not None:
                    input = input.to(device)  # noqa: A001
                model(input)
    finally:
        for module, momentum in momenta.items():
            module.momentum = momentum
        model.train(was_training)


class SWALR(LRScheduler):
    """Anneal each group's lr to `swa_lr` over `anneal_epochs` epochs, then hold it (torch's SWALR).

    lr_t = swa_lr * alpha_t + lr_0 * (1 - alpha_t), alpha_t = anneal(min(1, t / anneal_epochs)),
    anneal(x) = (1 - cos(pi x)) / 2 ("cos") or x ("linear"); computed, as torch, from the
    previous lr (so it chains and matches torch's values).

    Args:
        optimizer: the Optimizer.
        swa_lr: the target lr, one number or one per param group.
        anneal_epochs: epochs to reach swa_lr (an int >= 0; 0 jumps there at once).
        anneal_strategy: "cos" (default) or "linear".
        last_epoch: see `LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, swa_lr, anneal_epochs: int = 10, anneal_strategy: str = "cos",
                 last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"SWALR: expected an Optimizer, got {type(optimizer).__name__}")
        if isinstance(swa_lr, (list, tuple)):
            if len(swa_lr) != len(optimizer.param_groups):
                raise ValueError(f"swa_lr must have the same length as optimizer.param_groups. swa_lr has "
                                 f"{len(swa_lr)} values, param_groups has {len(optimizer.param_groups)}.")
            swa_lrs = list(swa_lr)
        else:
            swa_lrs = [swa_lr] * len(optimizer.param_groups)
        for lr in swa_lrs:
            if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
                raise TypeError(f"SWALR: swa_lr must be a number (or one per param group), got {type(lr).__name__}")
        for lr, group in zip(swa_lrs, optimizer.param_groups):
            group["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        self._set_anneal_func(anneal_strategy)
        if isinstance(anneal_epochs, bool) or not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _linear_anneal(t: float) -> float:
        return t

    @staticmethod
    def _cosine_anneal(t: float) -> float:
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr: float, swa_lr: float, alpha: float) -> float:
        """The lr_0 that gives `lr` at anneal weight alpha (inverting lr = swa_lr * alpha + lr_0 * (1 - alpha))."""
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def get_lr(self) -> list:
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_t = max(0, min(1, (step - 1) / max(1, self.anneal_epochs)))
        prev_alpha = self.anneal_func(prev_t)
        prev_lrs = [self._get_initial_lr(group["lr"], group["swa_lr"], prev_alpha)
                    for group in self.optimizer.param_groups]
        t = max(0, min(1, step / max(1, self.anneal_epochs)))
        alpha = self.anneal_func(t)
        return [group["swa_lr"] * alpha + lr * (1 - alpha) for group, lr in zip(self.optimizer.param_groups, prev_lrs)]

    def _set_anneal_func(self, anneal_strategy: str) -> None:
        self._anneal_strategy = anneal_strategy
        self.anneal_func = self._cosine_anneal if anneal_strategy == "cos" else self._linear_anneal

    def state_dict(self) -> dict:
        """As the other schedulers', without the anneal function (restored from its name on load)."""
        state = super().state_dict()
        state.pop("anneal_func", None)
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self._set_anneal_func(self._anneal_strategy)
