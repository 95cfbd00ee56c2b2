"""Learning-rate schedulers (torch.optim.lr_scheduler's names and values).

A scheduler rewrites `group["lr"]` of its optimizer's param groups each time its
`step()` is called (usually once per epoch, after `optimizer.step()`). Creating one
sets the lr of "epoch 0" right away and records each group's starting lr as
`group["initial_lr"]`, as torch does. The formulas are torch's recursive ones, so
the values agree with torch to the last bit and schedulers can be chained.
"""
from __future__ import annotations

import functools
import math
import numbers
import types
import warnings
import weakref
from bisect import bisect_right
from collections import Counter

from ..tensor import Tensor
from .optimizer import Optimizer

__all__ = ["LRScheduler", "LambdaLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR", "ExponentialLR",
           "PolynomialLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "OneCycleLR", "SequentialLR",
           "ChainedScheduler", "ReduceLROnPlateau", "MultiplicativeLR", "CyclicLR"]


# torch's warning for the deprecated `scheduler.step(epoch)` (which it still honours)
EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being deprecated where possible. "
    "Please use `scheduler.step()` to step the scheduler. During the deprecation, if epoch is different from "
    "None, the closed form is used instead of the new chainable form, where available.")


# torch's warnings for the pre-1.1 call order (the schedule's first value would be skipped)
ORDER_WARNING = (
    "Detected call of `lr_scheduler.step()` before `optimizer.step()`. In PyTorch 1.1.0 and later, you should "
    "call them in the opposite order: `optimizer.step()` before `lr_scheduler.step()`.  Failure to do this will "
    "result in PyTorch skipping the first value of the learning rate schedule.")
OVERRIDE_WARNING = (
    "Seems like `optimizer.step()` has been overridden after learning rate scheduler initialization. Please, "
    "make sure to call `optimizer.step()` before `lr_scheduler.step()`.")


def _track_optimizer_steps(optimizer: Optimizer) -> None:
    """Wrap `optimizer.step` (once per optimizer, as torch) so that a scheduler can tell whether it has run."""
    if hasattr(optimizer.step, "_wrapped_by_lr_sched"):
        return
    func, opt_ref = optimizer.step.__func__, weakref.ref(optimizer)  # a weak reference: no cycle

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        opt = opt_ref()
        opt._opt_called = True
        return func.__get__(opt, type(opt))(*args, **kwargs)

    wrapper._wrapped_by_lr_sched = True
    optimizer.step = wrapper


def _warn_call_order(scheduler) -> None:
    """At the first `scheduler.step()`: warn (as torch) if `optimizer.step()` has not been called yet."""
    if scheduler._step_count == 1:
        if not hasattr(scheduler.optimizer.step, "_wrapped_by_lr_sched"):
            warnings.warn(OVERRIDE_WARNING, UserWarning, stacklevel=3)
        elif not getattr(scheduler.optimizer, "_opt_called", False):
            warnings.warn(ORDER_WARNING, UserWarning, stacklevel=3)


def _set_lr(group: dict, lr) -> None:
    """Write a group's new lr; a Tensor lr (torch allows one) is filled in place, as torch's schedulers do."""
    if isinstance(group["lr"], Tensor):
        group["lr"].fill_(float(lr))
    else:
        group["lr"] = lr


def _check_epoch(scheduler: str, epoch) -> None:
    """`step(epoch)` takes a number (torch does no check; text or None-like objects fail later, obscurely)."""
    if isinstance(epoch, bool) or not isinstance(epoch, numbers.Real):
        raise TypeError(f"{scheduler}.step: epoch must be a number (or None for the next epoch), "
                        f"got {type(epoch).__name__}")


def _int_at_least(scheduler: str, name: str, value, minimum: int = 1, expected: str = "a positive int") -> int:
    """`value` as an int >= minimum (bools refused), else a ValueError naming the scheduler and the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{scheduler}: {name} must be {expected}, got {value!r}")
    return int(value)


class _Schedule:
    """What every scheduler shares: the last lrs it set, and its state as plain numbers and lists."""

    def get_last_lr(self) -> list:
        """The lrs the last `step()` set, one per param group (a Tensor lr as a copy, as torch)."""
        return [lr.clone() if isinstance(lr, Tensor) else lr for lr in self._last_lr]

    def state_dict(self) -> dict:
        """Everything but the optimizer (numbers and lists): save it alongside the optimizer's state."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update({k: (list(v) if isinstance(v, list) else v) for k, v in state_dict.items()})


class LRScheduler(_Schedule):
    """Base class: subclasses implement `get_lr()`, the lrs for epoch `self.last_epoch`.

    Args:
        optimizer: the Optimizer whose learning rates to set.
        last_epoch: the index of the last epoch seen; -1 (default) starts fresh. A
            resumed run passes its epoch, and its groups must then hold "initial_lr".
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                lr = group["lr"]
                group.setdefault("initial_lr", lr.clone() if isinstance(lr, Tensor) else lr)
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{type(self).__name__}: param 'initial_lr' is not specified in param_groups[{i}] "
                                   f"when resuming a scheduler with last_epoch={last_epoch}; load the optimizer's "
                                   "state_dict first, or use last_epoch=-1 for a fresh run")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._is_initial = False
        _track_optimizer_steps(optimizer)
        self._initial_step()

    def _initial_step(self) -> None:
        """The first step (epoch 0), taken when the scheduler is made, as in torch."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self, epoch=None) -> None:
        """Advance one epoch and write the new lrs into the optimizer's param groups.

        `step(epoch)` (deprecated in torch, which warns; so does minigrad) sets the epoch to
        `epoch` and uses the closed form where the scheduler has one (StepLR, MultiStepLR,
        ConstantLR, LinearLR, ExponentialLR, PolynomialLR, CosineAnnealingLR), else its usual
        formula at that epoch, as torch does. Later plain `step()`s go on from there.
        """
        _warn_call_order(self)
        self._step_count += 1
        if epoch is not None:
            _check_epoch(type(self).__name__, epoch)
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        """Set the lrs of the next epoch, or (epoch given) of that epoch by the closed form where there is one.

        `SequentialLR` restarts a scheduler with epoch=0 when its milestone comes.
        """
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            closed = getattr(self, "_get_closed_form_lr", None)
            values = closed() if closed is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            _set_lr(group, lr)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _group_lrs(self) -> list:
        return [group["lr"] for group in self.optimizer.param_groups]


class _LRScheduler(LRScheduler):
    """torch's pre-2.0 name of `LRScheduler`, still subclassed by tutorials (`class CosineWarmupScheduler(
    optim.lr_scheduler._LRScheduler)`); the same class, as in torch 2.13."""


class LambdaLR(LRScheduler):
    """lr = initial_lr * lr_lambda(epoch).

    Args:
        optimizer: the Optimizer.
        lr_lambda: a function of the epoch (int) returning a factor, or a list of them
            (one per param group).
        last_epoch: see `LRScheduler`.

    `state_dict()` does not save plain functions (as torch: they cannot be serialised);
    for callable objects it saves their `__dict__`.
    """

    def __init__(self, optimizer: Optimizer, lr_lambda, last_epoch: int = -1):
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != len(optimizer.param_groups):
                raise ValueError(f"LambdaLR: expected {len(optimizer.param_groups)} lr_lambdas (one per param group), "
                                 f"got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * len(optimizer.param_groups)
        for f in self.lr_lambdas:
            if not callable(f):
                raise TypeError(f"LambdaLR: lr_lambda must be callable, got {type(f).__name__}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * f(self.last_epoch) for f, base in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self):
        sd = {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items()
              if k not in ("optimizer", "lr_lambdas")}
        sd["lr_lambdas"] = [None if isinstance(f, types.FunctionType) else dict(f.__dict__) for f in self.lr_lambdas]
        return sd

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        lambdas = state_dict.pop("lr_lambdas", None) or []
        super().load_state_dict(state_dict)
        for f, saved in zip(self.lr_lambdas, lambdas):
            if saved is not None:
                f.__dict__.update(saved)


class StepLR(LRScheduler):
    """Multiply the lr by `gamma` every `step_size` epochs: lr = initial_lr * gamma ** (epoch // step_size).

    Args:
        optimizer: the Optimizer.
        step_size: epochs between decays (a positive int).
        gamma: the decay factor (default 0.1).
        last_epoch: see `LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        # a whole float counts as its int: torch's tutorials write StepLR(optimizer, 1.0, gamma=0.95)
        if isinstance(step_size, numbers.Real) and not isinstance(step_size, (bool, numbers.Integral)) \
                and float(step_size).is_integer():
            step_size = int(step_size)
        self.step_size = _int_at_least("StepLR", "step_size", step_size, expected="a positive int (or whole float)")
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._group_lrs()
        return [lr * self.gamma for lr in self._group_lrs()]

    def _get_closed_form_lr(self):
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class ConstantLR(LRScheduler):
    """Multiply the lr by a constant `factor` for the first `total_iters` epochs, then restore it.

    lr(epoch) = initial_lr * factor for epoch < total_iters, initial_lr afterwards (a simple warm-up).

    Args:
        optimizer: the Optimizer.
        factor: the factor, in [0, 1] (default 1/3).
        total_iters: epochs with the reduced lr (default 5).
        last_epoch: see `LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5, last_epoch: int = -1):
        if not 0.0 <= factor <= 1.0:
            raise ValueError(f"ConstantLR: factor must be in [0, 1], got {factor}")
        self.factor = factor
        self.total_iters = _int_at_least("ConstantLR", "total_iters", total_iters, 0, "a non-negative int")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return [lr * self.factor for lr in self._group_lrs()]
        if self.last_epoch != self.total_iters:
            return self._group_lrs()
        return [lr * (1.0 / self.factor) for lr in self._group_lrs()]

    def _get_closed_form_lr(self):
        return [base * (self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor))
                for base in self.base_lrs]


class LinearLR(LRScheduler):
    """Scale the lr linearly from start_factor to end_factor over `total_iters` epochs, then keep it.

    lr(epoch) = initial_lr * (start_factor + (end_factor - start_factor) * min(epoch, total_iters) / total_iters)
    (computed recursively from the current lr, as in torch, so it composes with other schedulers).

    Args:
        optimizer: the Optimizer.
        start_factor: factor at epoch 0, in (0, 1] (default 1/3).
        end_factor: factor from epoch total_iters on, in [0, 1] (default 1).
        total_iters: epochs of the ramp (default 5).
        last_epoch: see `LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1):
        if start_factor > 1.0 or start_factor <= 0:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1], got {start_factor}")
        if end_factor > 1.0 or end_factor < 0:
            raise ValueError(f"LinearLR: end_factor must be in [0, 1], got {end_factor}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = _int_at_least("LinearLR", "total_iters", total_iters)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._group_lrs()]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._group_lrs()
        ratio = 1.0 + (self.end_factor - self.start_factor) / (
            self.total_iters * self.start_factor + (self.last_epoch - 1) * (self.end_factor - self.start_factor))
        return [lr * ratio for lr in self._group_lrs()]

    def _get_closed_form_lr(self):
        frac = min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * (self.start_factor + (self.end_factor - self.start_factor) * frac) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the lr by `gamma` at each epoch listed in `milestones` (gamma**k for a milestone listed k times).

    Args:
        optimizer: the Optimizer.
        milestones: epoch indices (ints).
        gamma: the decay factor (default 0.1).
        last_epoch: see `LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        milestones = list(milestones)
        if any(isinstance(m, bool) or not isinstance(m, numbers.Integral) for m in milestones):
            raise ValueError(f"MultiStepLR: milestones must be ints, got {milestones!r}")
        self.milestones = Counter(int(m) for m in milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch not in self.milestones:
            return self._group_lrs()
        return [lr * self.gamma ** self.milestones[self.last_epoch] for lr in self._group_lrs()]

    def _get_closed_form_lr(self):
        passed = bisect_right(sorted(self.milestones.elements()), self.last_epoch)
        return [base * self.gamma ** passed for base in self.base_lrs]

    def state_dict(self):
        sd = super().state_dict()
        sd["milestones"] = dict(self.milestones)
        return sd

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self.milestones = Counter(self.milestones)


class ExponentialLR(LRScheduler):
    """Multiply the lr by `gamma` every epoch: lr = initial_lr * gamma ** epoch.

    Args:
        optimizer: the Optimizer.
        gamma: the decay factor.
        last_epoch: see `LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return self._group_lrs()
        return [lr * self.gamma for lr in self._group_lrs()]

    def _get_closed_form_lr(self):
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    """Decay the lr to 0 along a polynomial over `total_iters` epochs, then keep it.

    lr(epoch) = initial_lr * (1 - min(epoch, total_iters) / total_iters) ** power (computed
    recursively from the current lr, as in torch).

    Args:
        optimizer: the Optimizer.
        total_iters: epochs of the decay (default 5).
        power: the polynomial's power (default 1: linear).
        last_epoch: see `LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1):
        self.total_iters = _int_at_least("PolynomialLR", "total_iters", total_iters)
        self.power = power
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._group_lrs()
        e, n = self.last_epoch, self.total_iters
        factor = ((1.0 - e / n) / (1.0 - (e - 1) / n)) ** self.power
        return [lr * factor for lr in self._group_lrs()]

    def _get_closed_form_lr(self):
        return [base * (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters) ** self.power
                for base in self.base_lrs]


def _cosine_lr(low: float, base: float, t: float, period: float) -> float:
    """The cosine annealing curve: base at t = 0, down to low at t = period (then back up)."""
    return low + (base - low) * (1 + math.cos(math.pi * t / period)) / 2


class CosineAnnealingLR(LRScheduler):
    """Anneal the lr along half a cosine from initial_lr down to eta_min over T_max epochs (then back up).

    lr(epoch) = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2, computed as torch
    does, from the previous lr, so it composes with other schedulers and matches torch's values.

    Args:
        optimizer: the Optimizer.
        T_max: epochs of half a period (a positive int).
        eta_min: the lowest lr (default 0).
        last_epoch: see `LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):  # noqa: N803
        self.T_max = _int_at_least("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        e, T, low = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._group_lrs()
        if self._step_count == 1 and e > 0:  # resumed mid-schedule: the closed form
            return [_cosine_lr(low, base, e, T) for base in self.base_lrs]
        if (e - 1 - T) % (2 * T) == 0:  # just past the bottom: the cosine turns back up
            return [lr + (base - low) * (1 - math.cos(math.pi / T)) / 2
                    for lr, base in zip(self._group_lrs(), self.base_lrs)]
        # the ratio of consecutive points of the cosine, applied to the distance above eta_min
        ratio = (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T))
        return [ratio * (lr - low) + low for lr in self._group_lrs()]

    def _get_closed_form_lr(self):
        return [_cosine_lr(self.eta_min, base, self.last_epoch, self.T_max) for base in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing from initial_lr to eta_min that restarts every T_i epochs (SGDR, Loshchilov & Hutter).

    lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2, where T_cur counts
    the epochs since the last restart and each period is T_mult times the previous one (T_0 first).

    `step()` advances one epoch; `step(epoch)` jumps to `epoch`, which may be fractional
    (e.g. `epoch + i / batches_per_epoch` to anneal within an epoch), as in torch.

    Args:
        optimizer: the Optimizer.
        T_0: epochs of the first period (a positive int).
        T_mult: growth factor of the periods (an int >= 1, default 1).
        eta_min: the lowest lr (default 0).
        last_epoch: see `LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0,  # noqa: N803
                 last_epoch: int = -1):
        name = "CosineAnnealingWarmRestarts"
        self.T_0 = self.T_i = _int_at_least(name, "T_0", T_0)
        self.T_mult = _int_at_least(name, "T_mult", T_mult, 1, "an int >= 1")
        if isinstance(eta_min, bool) or not isinstance(eta_min, numbers.Real):
            raise ValueError(f"{name}: eta_min must be a number, got {eta_min!r}")
        self.eta_min = eta_min
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [_cosine_lr(self.eta_min, base, self.T_cur, self.T_i) for base in self.base_lrs]

    def step(self, epoch=None) -> None:
        """Advance one epoch, or go to `epoch` (a number >= 0, fractions allowed)."""
        self._step_count += 1
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur += 1
            if self.T_cur >= self.T_i:  # a restart: the next period is T_mult times longer
                self.T_cur -= self.T_i
                self.T_i *= self.T_mult
        else:
            if isinstance(epoch, bool) or not isinstance(epoch, numbers.Real) or epoch < 0:
                raise ValueError(f"CosineAnnealingWarmRestarts.step: expected a number >= 0 as epoch, got {epoch!r}")
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:  # periods T_0, T_0 m, T_0 m^2, ...: n whole periods end at T_0 (m^n - 1) / (m - 1)
                    n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult ** n
            else:
                self.T_i, self.T_cur = self.T_0, epoch
        self.last_epoch = math.floor(epoch)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            _set_lr(group, lr)
        self._last_lr = self._group_lrs()


def _per_group(name: str, optimizer: Optimizer, value) -> list:
    """One value per param group: a list/tuple of that length, or one value repeated."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(f"{name} must have one value per param group: got {len(value)} values for "
                             f"{len(optimizer.param_groups)} groups")
        return list(value)
    return [value] * len(optimizer.param_groups)


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin, 2018): lr up to max_lr, then far below where it started. Step per batch.

    Phase 1 (the first pct_start of total_steps) anneals the lr from max_lr / div_factor up to
    max_lr; phase 2 anneals it down to max_lr / div_factor / final_div_factor. Momentum
    (SGD's `momentum`, or Adam's beta1) moves the opposite way, max_momentum -> base_momentum
    -> max_momentum, when cycle_momentum is on. With three_phase=True the lr comes back to its
    start before a final decay phase. "cos" or "linear" annealing.

    Call `step()` after every batch, total_steps times in all (more raises, as in torch).

    Args:
        optimizer: the Optimizer.
        max_lr: the peak lr (one number, or one per param group).
        total_steps: steps in the cycle; or give epochs and steps_per_epoch.
        epochs, steps_per_epoch: total_steps = epochs * steps_per_epoch.
        pct_start: the fraction of the cycle spent increasing the lr (default 0.3).
        anneal_strategy: "cos" (default) or "linear".
        cycle_momentum: also cycle the momentum (default True).
        base_momentum, max_momentum: its range (defaults 0.85, 0.95).
        div_factor: initial_lr = max_lr / div_factor (default 25).
        final_div_factor: min_lr = initial_lr / final_div_factor (default 1e4).
        three_phase: use the three-phase schedule (default False).
        last_epoch: the index of the last batch seen (see `LRScheduler`).
    """

    def __init__(self, optimizer: Optimizer, max_lr, total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum=0.85, max_momentum=0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False, last_epoch: int = -1):
        name = "OneCycleLR"
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: expected an Optimizer, got {type(optimizer).__name__}")
        if total_steps is not None:
            self.total_steps = _int_at_least(name, "total_steps", total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = _int_at_least(name, "epochs", epochs) * _int_at_least(name, "steps_per_epoch",
                                                                                    steps_per_epoch)
        else:
            raise ValueError(f"{name}: give either total_steps or both epochs and steps_per_epoch")
        if isinstance(pct_start, bool) or not isinstance(pct_start, numbers.Real) or not 0 <= pct_start <= 1:
            raise ValueError(f"{name}: pct_start must be a number in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"{name}: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        up = float(pct_start * self.total_steps) - 1
        # (end step, lr from, lr to, momentum from, momentum to) of each phase; names of group keys
        if three_phase:
            self._phases = [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                            (float(2 * pct_start * self.total_steps) - 2, "max_lr", "initial_lr", "base_momentum",
                             "max_momentum"),
                            (self.total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        else:
            self._phases = [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                            (self.total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]
        groups = optimizer.param_groups
        if last_epoch == -1:
            for group, peak in zip(groups, _per_group(f"{name}: max_lr", optimizer, max_lr)):
                group["initial_lr"] = peak / div_factor
                group["max_lr"] = peak
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"{name}: cycle_momentum=True needs an optimizer with momentum or betas "
                                 f"({type(optimizer).__name__} has neither); pass cycle_momentum=False")
            self.use_beta1 = "betas" in optimizer.defaults
            if last_epoch == -1:
                tops = _per_group(f"{name}: max_momentum", optimizer, max_momentum)
                bottoms = _per_group(f"{name}: base_momentum", optimizer, base_momentum)
                for group, top, bottom in zip(groups, tops, bottoms):
                    self._set_momentum(group, top)
                    group["max_momentum"], group["base_momentum"] = top, bottom
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group, value):
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self):
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {step} times; the schedule has total_steps="
                             f"{self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, (end, lr_from, lr_to, mom_from, mom_to) in enumerate(self._phases):
                if step <= end or i == len(self._phases) - 1:
                    # a phase of zero length (tiny total_steps) is already complete (torch divides by zero)
                    pct = (step - start) / (end - start) if end != start else 1.0
                    lrs.append(self._anneal(group[lr_from], group[lr_to], pct))
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(group[mom_from], group[mom_to], pct))
                    break
                start = end
        return lrs


def _check_members(name: str, schedulers, optimizer) -> list:
    """The schedulers a SequentialLR / ChainedScheduler drives: all plain schedulers of one optimizer."""
    schedulers = list(schedulers)
    if not schedulers:
        raise ValueError(f"{name} expects at least one scheduler, got none")
    for i, s in enumerate(schedulers):
        if isinstance(s, ReduceLROnPlateau):
            raise ValueError(f"{name} does not support ReduceLROnPlateau (its step needs the metric), "
                             f"got one at index {i}")
        if not isinstance(s, _Schedule):
            raise TypeError(f"{name}: the scheduler at index {i} is a {type(s).__name__}, not a scheduler")
        if s.optimizer is not optimizer:
            raise ValueError(f"{name} expects all schedulers to belong to the same optimizer, but the "
                             f"{type(s).__name__} at index {i} has another one")
    return schedulers


class _Composite(_Schedule):
    """State of a scheduler made of schedulers: its own numbers, and each member's state_dict."""

    def state_dict(self) -> dict:
        sd = {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items()
              if k not in ("optimizer", "_schedulers")}
        sd["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return sd

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        members = state_dict.pop("_schedulers")
        super().load_state_dict(state_dict)
        for s, saved in zip(self._schedulers, members):
            s.load_state_dict(saved)


class SequentialLR(_Composite):
    """Run schedulers one after another, switching at the given epochs (e.g. a warm-up, then a decay).

        warmup = LinearLR(opt, start_factor=0.1, total_iters=5)
        decay = CosineAnnealingLR(opt, T_max=95)
        sched = SequentialLR(opt, [warmup, decay], milestones=[5])

    At each milestone the next scheduler starts from its own epoch 0 (its closed-form value
    there, i.e. from the initial lr), as in torch.

    Args:
        optimizer: the Optimizer all the schedulers belong to.
        schedulers: the schedulers, in order.
        milestones: the epochs at which to switch (one fewer than the schedulers).
        last_epoch: see `LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, schedulers, milestones, last_epoch: int = -1):
        name = "SequentialLR"
        self._schedulers = _check_members(name, schedulers, optimizer)
        milestones = list(milestones)
        if len(milestones) != len(self._schedulers) - 1:
            raise ValueError(f"{name}: expected {len(self._schedulers) - 1} milestones (one fewer than the "
                             f"{len(self._schedulers)} schedulers), got {len(milestones)}")
        self._milestones = milestones
        self.optimizer = optimizer
        self.last_epoch = last_epoch + 1
        for group in optimizer.param_groups:  # the members' constructors already stepped: start over
            group["lr"] = group["initial_lr"]
        for s in self._schedulers:
            _undo_initial_step(s)
        first = self._schedulers[bisect_right(milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self) -> None:
        """Advance one epoch with the scheduler whose stretch this is (restarting it at its milestone)."""
        self.last_epoch += 1
        i = bisect_right(self._milestones, self.last_epoch)
        s = self._schedulers[i]
        if i > 0 and self._milestones[i - 1] == self.last_epoch:
            s._update_lr(0)
        else:
            s.step()
        self._last_lr = s.get_last_lr()


def _undo_initial_step(s) -> None:
    """Wind a scheduler (and any it contains) back by the step its constructor took."""
    if hasattr(s, "_schedulers"):
        for member in s._schedulers:
            _undo_initial_step(member)
    else:
        s.last_epoch -= 1


class ChainedScheduler(_Composite):
    """Step several schedulers together, each multiplying in its own change (e.g. a warm-up and a decay at once).

    Args:
        schedulers: the schedulers (of one optimizer).
        optimizer: that optimizer (default: the first scheduler's).
    """

    def __init__(self, schedulers, optimizer: Optimizer | None = None):
        schedulers = list(schedulers)
        if optimizer is None and schedulers:
            optimizer = getattr(schedulers[0], "optimizer", None)
        self._schedulers = _check_members("ChainedScheduler", schedulers, optimizer)
        self.optimizer = optimizer
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def step(self) -> None:
        """Step every scheduler, in order."""
        for s in self._schedulers:
            s.step()
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


class ReduceLROnPlateau(_Schedule):
    """Multiply the lr by `factor` once a metric has stopped improving for `patience` epochs.

    Call `step(metric)` once per epoch with the value to watch (a number or a 0-d Tensor,
    e.g. the validation loss). As torch's:

    Args:
        optimizer: the Optimizer.
        mode: "min" (lower is better, default) or "max".
        factor: the lr multiplier, in (0, 1) (default 0.1).
        patience: epochs without improvement that are tolerated (default 10); one more reduces.
        threshold, threshold_mode: what counts as an improvement: "rel" (default) needs
            metric < best * (1 - threshold) in "min" mode (best * (1 + threshold) in "max"),
            "abs" needs metric < best - threshold (best + threshold).
        cooldown: epochs after a reduction during which bad epochs are not counted (default 0).
        min_lr: the lowest lr, one number or one per param group (default 0).
        eps: a reduction smaller than this is skipped (default 1e-8).
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0, min_lr=0.0,
                 eps: float = 1e-8):
        name = "ReduceLROnPlateau"
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: expected an Optimizer, got {type(optimizer).__name__}")
        if not 0.0 < factor < 1.0:
            raise ValueError(f"{name}: factor must be in (0, 1), got {factor}")
        if mode not in ("min", "max"):
            raise ValueError(f"{name}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{name}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        groups = optimizer.param_groups
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(groups):
                raise ValueError(f"{name}: expected {len(groups)} min_lrs (one per param group), got {len(min_lr)}")
            self.min_lrs = [float(v) for v in min_lr]
        else:
            self.min_lrs = [float(min_lr)] * len(groups)
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, float(factor), patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = cooldown, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in groups]

    def step(self, metrics, epoch=None) -> None:
        """Record this epoch's metric; reduce the lrs when it has not improved for more than `patience` epochs.

        `epoch` (deprecated in torch, which warns; so does minigrad) sets `last_epoch`; it changes nothing else.
        """
        if epoch is not None:
            _check_epoch("ReduceLROnPlateau", epoch)
        try:
            if isinstance(metrics, (str, bytes)):  # text is never read as a number
                raise TypeError
            current = float(metrics)
        except (TypeError, ValueError):
            raise TypeError(f"ReduceLROnPlateau.step: expected a number (or a 0-d Tensor) to watch, "
                            f"got {type(metrics).__name__}") from None
        if epoch is None:
            self.last_epoch += 1
        else:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
            self.last_epoch = epoch
        if self._is_better(current):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:  # bad epochs right after a reduction do not count
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, low in zip(self.optimizer.param_groups, self.min_lrs):
                old = float(group["lr"])
                new = max(old * self.factor, low)
                if old - new > self.eps:
                    _set_lr(group, new)
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _is_better(self, a: float) -> bool:
        best, th = self.best, self.threshold
        if self.mode == "min":
            return a < (best * (1 - th) if self.threshold_mode == "rel" else best - th)
        return a > (best * (1 + th) if self.threshold_mode == "rel" else best + th)



class MultiplicativeLR(LRScheduler):
    """Multiply the lr by lr_lambda(epoch) at every epoch: lr_e = lr_{e-1} * lr_lambda(e) (e >= 1).

    Unlike `LambdaLR` (initial_lr times the factor), the factors accumulate, so
    `lr_lambda=lambda e: 0.95` decays the lr by 5% per epoch.

    Args:
        optimizer: the Optimizer.
        lr_lambda: a function of the epoch (int) returning a factor, or a list of them
            (one per param group).
        last_epoch: see `LRScheduler`.

    `state_dict()` does not save plain functions (as torch); for callable objects it saves their `__dict__`.
    """

    def __init__(self, optimizer: Optimizer, lr_lambda, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"MultiplicativeLR: expected an Optimizer, got {type(optimizer).__name__}")
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != len(optimizer.param_groups):
                raise ValueError(f"MultiplicativeLR: expected {len(optimizer.param_groups)} lr_lambdas (one per "
                                 f"param group), got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * len(optimizer.param_groups)
        for f in self.lr_lambdas:
            if not callable(f):
                raise TypeError(f"MultiplicativeLR: lr_lambda must be callable, got {type(f).__name__}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return self._group_lrs()
        return [lr * f(self.last_epoch) for f, lr in zip(self.lr_lambdas, self._group_lrs())]

    def state_dict(self):
        sd = {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items()
              if k not in ("optimizer", "lr_lambdas")}
        sd["lr_lambdas"] = [None if isinstance(f, types.FunctionType) else dict(f.__dict__) for f in self.lr_lambdas]
        return sd

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        lambdas = state_dict.pop("lr_lambdas", None) or []
        _Schedule.load_state_dict(self, state_dict)
        for f, saved in zip(self.lr_lambdas, lambdas):
            if saved is not None:
                f.__dict__.update(saved)


class CyclicLR(LRScheduler):
    """Cyclical learning rates (Smith, 2017): the lr goes back and forth between base_lr and max_lr. Step per batch.

    A cycle is step_size_up steps up and step_size_down steps down. With c the cycle number
    (from 1) and x in [0, 1) the position within the cycle at step e:

        c = floor(1 + e / (up + down)),   x = 1 + e / (up + down) - c
        h = x / r if x <= r else (x - 1) / (r - 1)      (r = up / (up + down): the height, 0 -> 1 -> 0)
        lr = base_lr + (max_lr - base_lr) * h * scale   (scale = scale_fn(c) or scale_fn(e))

    The modes are scale functions: "triangular" scale = 1; "triangular2" halves the amplitude
    every cycle, 1 / 2^(c - 1); "exp_range" scales by gamma^e (per step). A custom `scale_fn`
    replaces the mode and is given c (scale_mode="cycle") or e (scale_mode="iterations").
    With cycle_momentum the momentum (SGD's `momentum`, or Adam's beta1) moves the other way,
    momentum = max_momentum - (max_momentum - base_momentum) * h * scale.

    Args:
        optimizer: the Optimizer (its lr is set to base_lr).
        base_lr: the lower lr (one number, or one per param group).
        max_lr: the upper lr (one number, or one per param group).
        step_size_up: steps in the rising half of a cycle (default 2000).
        step_size_down: steps in the falling half (default: step_size_up).
        mode: "triangular" (default), "triangular2" or "exp_range" (ignored if scale_fn is given).
        gamma: exp_range's factor (default 1.0).
        scale_fn: a custom scale function of one argument, values in [0, 1].
        scale_mode: "cycle" (default) or "iterations": what scale_fn is given (a custom one only).
        cycle_momentum: cycle the momentum too (default True; needs momentum or betas).
        base_momentum, max_momentum: the momentum's range (defaults 0.8, 0.9; one or one per group).
        last_epoch: the index of the last batch seen (see `LRScheduler`).

    `state_dict()` saves a custom scale_fn only if it is a callable object (its `__dict__`), as torch.
    """

    def __init__(self, optimizer: Optimizer, base_lr, max_lr, step_size_up: int = 2000,
                 step_size_down: int | None = None, mode: str = "triangular", gamma: float = 1.0, scale_fn=None,
                 scale_mode: str = "cycle", cycle_momentum: bool = True, base_momentum=0.8, max_momentum=0.9,
                 last_epoch: int = -1):
        name = "CyclicLR"
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: expected an Optimizer, got {type(optimizer).__name__}")
        base_lrs = _per_group(f"{name}: base_lr", optimizer, base_lr)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                group["lr"] = lr
        self.max_lrs = _per_group(f"{name}: max_lr", optimizer, max_lr)
        for key, v in (("step_size_up", step_size_up), ("step_size_down", step_size_down)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Real) or not v > 0):
                raise ValueError(f"{name}: {key} must be a positive number of steps, got {v!r}")
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        if mode not in ("triangular", "triangular2", "exp_range") and scale_fn is None:
            raise ValueError(f"{name}: mode must be 'triangular', 'triangular2' or 'exp_range' (or give a "
                             f"scale_fn), got {mode!r}")
        if scale_fn is not None and not callable(scale_fn):
            raise TypeError(f"{name}: scale_fn must be callable, got {type(scale_fn).__name__}")
        if scale_mode not in ("cycle", "iterations"):
            raise ValueError(f"{name}: scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}")
        self.mode = mode
        self.gamma = gamma
        self.scale_mode = scale_mode
        self._scale_fn_custom = scale_fn
        self._init_scale_fn()
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"{name}: cycle_momentum=True needs an optimizer with momentum or betas "
                                 f"({type(optimizer).__name__} has neither); pass cycle_momentum=False")
            self.use_beta1 = "betas" in optimizer.defaults
            self.base_momentums = _per_group(f"{name}: base_momentum", optimizer, base_momentum)
            self.max_momentums = _per_group(f"{name}: max_momentum", optimizer, max_momentum)
            if last_epoch == -1:
                for top, bottom, group in zip(self.max_momentums, self.base_momentums, optimizer.param_groups):
                    self._set_momentum(group, top)
                    group["max_momentum"], group["base_momentum"] = top, bottom
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs  # after the first step, as torch (which took its base from initial_lr)

    def _init_scale_fn(self) -> None:
        """The built-in modes fix what their scale function is given (torch overrides scale_mode)."""
        if self._scale_fn_custom is None:
            self.scale_mode = "iterations" if self.mode == "exp_range" else "cycle"

    def scale_fn(self, x) -> float:
        """The amplitude's scale at cycle (or step) x."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma ** x  # exp_range

    _set_momentum = OneCycleLR._set_momentum

    def get_lr(self):
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        if x <= self.step_ratio:
            scale_factor = x / self.step_ratio
        else:
            scale_factor = (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        lrs = [base + (top - base) * scale_factor * scale for base, top in zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            for group, bottom, top in zip(self.optimizer.param_groups, self.base_momentums, self.max_momentums):
                self._set_momentum(group, top - (top - bottom) * scale_factor * scale)
        return lrs

    def state_dict(self) -> dict:
        sd = {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items()
              if k not in ("optimizer", "_scale_fn_custom")}
        fn = self._scale_fn_custom
        sd["_scale_fn_custom"] = None if fn is None or isinstance(fn, types.FunctionType) else dict(fn.__dict__)
        return sd

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        fn = state_dict.pop("_scale_fn_custom", None)
        super().load_state_dict(state_dict)
        if fn is not None and self._scale_fn_custom is not None:
            self._scale_fn_custom.__dict__.update(fn)
        self._init_scale_fn()
