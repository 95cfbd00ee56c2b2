"""Pruning (torch.nn.utils.prune): zero out parameter entries with a mask that a forward pre-hook applies.

    import minigrad.nn.utils.prune as prune
    prune.l1_unstructured(fc, "weight", amount=0.3)  # the 30% smallest |w| are pruned
    fc.weight_orig, fc.weight_mask                   # a Parameter and a buffer (both in state_dict)
    fc(x)                                            # fc.weight = weight_orig * weight_mask, recomputed first
    prune.ln_structured(fc, "weight", 0.5, n=2, dim=0)  # pruned again: among the rows still alive
    prune.remove(fc, "weight")                       # weight a plain Parameter again, zeros baked in

How it works. Pruning `name` of a module the first time re-parametrizes it: the Parameter
moves to `name + "_orig"` (the same object, so an optimizer that holds it keeps working),
the 0/1 mask becomes the buffer `name + "_mask"`, and `name` becomes a plain attribute,
`orig * mask`, recomputed by a forward pre-hook (the pruning method itself) before every
forward. The gradient of the loss reaches `_orig` through that product: pruned entries get
a zero gradient.

Pruning the same tensor again collects the methods in a `PruningContainer`: each new
method only looks at the entries (unstructured) or slices (structured) still unpruned, and
its `amount` counts among those, so pruned entries never come back.

Selection rules. "Smallest" means: the k entries (or slices) of least |importance| (L1)
or least n-norm (Ln). Among equal scores minigrad prunes the one with the lower flat index
first (a stable sort). torch picks among ties with `topk`, whose choice is unspecified and
changes with the tensor's size, so masks agree with torch exactly when the scores have no
ties at the cut (random real-valued weights have none).

Differences from torch 2.13, all on error paths: a pruning call that fails (bad amount,
too large an amount, a bad dim) leaves the module exactly as it was (torch has already
removed the existing pruning hook by then, leaving the module without its hook);
pruning a missing (None) parameter raises before changing anything; `global_unstructured`
accepts any iterable (torch's reads it three times, so a generator fails there).
"""
from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Iterable

from ... import backend as _B
from ...autograd import no_grad
from ...tensor import Tensor, _wrap
from ..module import Module, Parameter
from .convert_parameters import parameters_to_vector

__all__ = ["BasePruningMethod", "PruningContainer", "Identity", "RandomUnstructured", "L1Unstructured",
           "RandomStructured", "LnStructured", "CustomFromMask", "identity", "random_unstructured",
           "l1_unstructured", "random_structured", "ln_structured", "global_unstructured", "custom_from_mask",
           "remove", "is_pruned"]


# ---------------------------------------------------------------- small helpers (on raw arrays)
def _array(x):
    """The backend array of a Tensor (or the array itself)."""
    return x.data if isinstance(x, Tensor) else x


def _shape(x) -> tuple:
    return tuple(x.shape)


def _pruning_hooks(module: Module):
    """(key, method) of the pruning methods among `module`'s forward pre-hooks, in order."""
    hooks = module.__dict__.get("_forward_pre_hooks") or {}
    return [(k, h) for k, h in hooks.items() if isinstance(h, BasePruningMethod)]


def _check_amount(owner: str, amount) -> None:
    """amount is a count (int >= 0) or a fraction (float in [0, 1]); checked when a method is made, as torch."""
    if not isinstance(amount, numbers.Real):
        raise TypeError(f"{owner}: invalid type for amount: {amount!r} ({type(amount).__name__}); expected an int "
                        "(how many entries to prune) or a float in [0, 1] (which fraction)")
    if (amount < 0) if isinstance(amount, numbers.Integral) else not 0.0 <= float(amount) <= 1.0:
        raise ValueError(f"{owner}: amount={amount} should either be a float in the range [0, 1] or a "
                         "non-negative integer")


def _count_to_prune(owner: str, amount, size: int) -> int:
    """How many of `size` entries (or slices) `amount` prunes: the int itself, or round(fraction * size).

    Python's round (half to even), as torch, so amount=0.5 of 5 prunes 2.
    """
    k = int(amount) if isinstance(amount, numbers.Integral) else round(float(amount) * size)
    if k > size:
        raise ValueError(f"{owner}: amount={amount} should be smaller than the number of parameters to "
                         f"prune={size}")
    return k


def _smallest(xp, scores, k: int):
    """Flat indices of the k smallest entries of the 1-D `scores` (ties: lower index first; NaN counts as largest)."""
    return xp.argsort(scores, kind="stable")[:k]


def _structured_dim(owner: str, t, dim) -> int:
    """`dim` of a structured method checked against t (at least 2-D) and made non-negative."""
    shape = _shape(t)
    if len(shape) <= 1:
        raise ValueError(f"{owner}: structured pruning can only be applied to multidimensional tensors. Found "
                         f"tensor of shape {shape} with {len(shape)} dims")
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"{owner}: dim must be an int, got {type(dim).__name__} {dim!r}")
    if not -len(shape) <= dim < len(shape):
        raise IndexError(f"{owner}: invalid index dim={dim} for a tensor of shape {shape} (expected a dim in "
                         f"[-{len(shape)}, {len(shape) - 1}])")
    return int(dim) % len(shape)


def _slice_norms(a, n, dim: int):
    """The n-norm of every slice a[..., j, ...] along `dim` (torch.norm(a, p=n, dim=<all other dims>)).

    n: an int or float p (sum |x|^p)^(1/p), inf (max |x|), -inf (min |x|), 0 (count of nonzeros),
    'fro' or None (2-norm), or 'nuc' (sum of singular values; a 3-D tensor only, as torch).
    """
    xp = _B.get_array_module(a)
    moved = xp.moveaxis(a, dim, 0)
    if isinstance(n, str):
        if n == "nuc":
            if a.ndim != 3:
                raise RuntimeError(f"LnStructured: the nuclear norm needs exactly 2 dims besides dim={dim}, but the "
                                   f"tensor has shape {_shape(a)} (torch: linalg.matrix_norm: dim must be a 2-tuple)")
            return xp.linalg.svd(moved, compute_uv=False).sum(axis=-1)
        if n != "fro":
            raise RuntimeError(f"LnStructured: norm order n={n!r} not supported (expected a number, inf, 'fro' "
                               "or 'nuc')")
        n = 2.0
    elif n is None:
        n = 2.0
    elif isinstance(n, bool) or not isinstance(n, numbers.Real):
        raise TypeError(f"LnStructured: the norm order n must be a number, inf, 'fro' or 'nuc', got "
                        f"{type(n).__name__} {n!r}")
    flat = xp.abs(moved.reshape(moved.shape[0], -1))
    n = float(n)
    if n == math.inf:
        return flat.max(axis=1)
    if n == -math.inf:
        return flat.min(axis=1)
    if n == 0.0:
        return (flat != 0).sum(axis=1).astype(a.dtype)
    if n == 2.0:
        return xp.sqrt((flat * flat).sum(axis=1))
    if n == 1.0:
        return flat.sum(axis=1)
    with _B.np.errstate(divide="ignore"):  # 0 ** (negative p) is inf, as torch
        return (flat ** n).sum(axis=1) ** (1.0 / n)


def _channel_mask(t, dim: int, pruned, default_mask):
    """A 0/1 mask of t's shape (t's dtype) that is 0 on the slices `pruned` along `dim`, times default_mask."""
    xp = _B.get_array_module(t)
    keep = xp.ones(t.shape[dim], dtype=t.dtype)
    keep[pruned] = 0
    shape = [1] * t.ndim
    shape[dim] = t.shape[dim]
    mask = xp.broadcast_to(keep.reshape(shape), t.shape).copy()
    mask *= default_mask.astype(mask.dtype, copy=False)
    return mask


# ---------------------------------------------------------------- the base class and the container
class BasePruningMethod(ABC):
    """A way to choose which entries of a tensor to prune; also the forward pre-hook that applies the mask.

    Subclasses set `PRUNING_TYPE` ('unstructured', 'structured' with a `dim` attribute, or
    'global') and write `compute_mask(t, default_mask)`; `apply(module, name, ...)` then prunes
    a module's parameter with it (e.g. torch's tutorial's method that prunes every other entry)::

        class EveryOther(prune.BasePruningMethod):
            PRUNING_TYPE = "unstructured"
            def compute_mask(self, t, default_mask):
                mask = default_mask.clone()
                mask.view(-1)[::2] = 0
                return mask

        EveryOther.apply(fc, "bias")
    """

    _tensor_name: str | None = None
    PRUNING_TYPE: str

    def __call__(self, module: Module, inputs) -> None:
        """The forward pre-hook: module.<name> = <name>_orig * <name>_mask, before every forward."""
        setattr(module, self._tensor_name, self.apply_mask(module))

    @abstractmethod
    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """The new mask for `t` (a Tensor of t's shape, 1 = keep, 0 = pruned), given the mask so far.

        Args:
            t: the importance scores (by default the tensor being pruned).
            default_mask: the mask from earlier prunings (all ones the first time).
        """

    def apply_mask(self, module: Module) -> Tensor:
        """<name>_orig * <name>_mask for the tensor this method prunes (differentiable w.r.t. _orig)."""
        if self._tensor_name is None:
            raise AssertionError(f"Module {module} has to be pruned (this {type(self).__name__} was never applied "
                                 "to a tensor)")
        mask = getattr(module, self._tensor_name + "_mask")
        orig = getattr(module, self._tensor_name + "_orig")
        return mask.to(dtype=orig.dtype) * orig

    @classmethod
    def apply(cls, module: Module, name: str, *args, importance_scores=None, **kwargs) -> "BasePruningMethod":
        """Prune `module.<name>` with `cls(*args, **kwargs)`, adding the re-parametrization and its hook.

        The first time, `name` moves to the Parameter `name + '_orig'` and its mask to the buffer
        `name + '_mask'`; a tensor pruned before keeps them, and this method joins the earlier
        ones in a `PruningContainer` (it prunes only among what is still unpruned).

        Args:
            module: the module holding the tensor.
            name: the parameter's name in `module` (e.g. 'weight').
            *args, **kwargs: passed to the method's constructor (e.g. amount, n, dim).
            importance_scores: a tensor of the parameter's shape ranking the entries instead of
                the parameter's own values (methods that rank: L1Unstructured, LnStructured).

        Returns:
            The pruning method now hooked on `module` for `name` (this one, or the container).
        """
        if not isinstance(module, Module):
            raise TypeError(f"{cls.__name__}.apply: module must be an nn.Module, got {type(module).__name__}")
        if not isinstance(name, str):
            raise TypeError(f"{cls.__name__}.apply: name must be a str, got {type(name).__name__} {name!r}")
        earlier = [(k, h) for k, h in _pruning_hooks(module) if h._tensor_name == name]
        if len(earlier) > 1:
            raise AssertionError(f"Avoid adding multiple pruning hooks to the same tensor {name} of module "
                                 f"{module}. Use a PruningContainer.")
        method = cls(*args, **kwargs)  # checks amount before anything changes
        method._tensor_name = name
        old_key, old = earlier[0] if earlier else (None, None)

        if not hasattr(module, name):
            raise AttributeError(f"'{type(module).__name__}' object has no attribute '{name}' (its parameters: "
                                 f"{[k for k, p in module._parameters.items() if p is not None]})")
        orig = getattr(module, name)
        if old is None:  # first pruning: `name` must be a Parameter of this module
            if orig is None:
                raise TypeError(f"{cls.__name__}.apply: parameter '{name}' of {type(module).__name__} is None (e.g. "
                                "bias=False): there is nothing to prune")
            if not isinstance(orig, Parameter) or name not in module._parameters:
                raise TypeError(f"{cls.__name__}.apply: '{name}' of {type(module).__name__} is a "
                                f"{type(orig).__name__}, not a registered Parameter; only parameters can be pruned "
                                f"(cannot assign it to parameter '{name}_orig')")
        if importance_scores is not None:
            if not isinstance(importance_scores, Tensor):
                importance_scores = _wrap(_B.as_array(importance_scores, device=orig.device))
            if _shape(importance_scores) != _shape(orig):
                raise AssertionError(f"importance_scores should have the same shape as parameter {name} of "
                                     f"{type(module).__name__}, got {_shape(importance_scores)} vs {_shape(orig)}")
        else:
            importance_scores = orig

        # The composite method: this one alone, or appended to the earlier ones (undone if it fails).
        if old is None:
            final, undo = method, None
        elif isinstance(old, PruningContainer):
            final, undo = old, old._pruning_methods
            old.add_pruning_method(method)
        else:
            final, undo = PruningContainer(old), None
            final.add_pruning_method(method)
        xp = _B.get_array_module(orig.data)
        if old is None:
            default_mask = xp.ones_like(orig.data)
        else:
            default_mask = getattr(module, name + "_mask").data.copy()
        try:
            with no_grad():  # the mask is a constant: no graph through the scores
                mask = final.compute_mask(importance_scores, default_mask=_wrap(default_mask))
            if not isinstance(mask, Tensor):
                if not _B.is_array(mask):
                    raise TypeError(f"{type(method).__name__}.compute_mask must return a Tensor (the mask), got "
                                    f"{type(mask).__name__}")
                mask = _wrap(mask)
            if _shape(mask) != _shape(orig):
                raise RuntimeError(f"{type(method).__name__}.compute_mask returned a mask of shape {_shape(mask)} "
                                   f"for '{name}' of shape {_shape(orig)}")
        except BaseException:
            if undo is not None:
                old._pruning_methods = undo
            raise

        # Commit: re-parametrize (the first time), store the mask, recompute `name`, hook the method.
        if old is None:
            module.register_parameter(name + "_orig", orig)  # the same Parameter object
            del module._parameters[name]
        module.register_buffer(name + "_mask", mask)
        setattr(module, name, final.apply_mask(module))  # a plain attribute now
        if old_key is not None:
            del module.__dict__["_forward_pre_hooks"][old_key]
        module.register_forward_pre_hook(final)
        return final

    def prune(self, t: Tensor, default_mask: Tensor | None = None, importance_scores=None) -> Tensor:
        """t * compute_mask(importance_scores or t, default_mask or ones): t pruned, without a module.

        Differentiable w.r.t. t (the mask is a constant).
        """
        if importance_scores is not None:
            if _shape(importance_scores) != _shape(t):
                raise AssertionError(f"importance_scores should have the same shape as tensor t, got "
                                     f"{_shape(importance_scores)} vs {_shape(t)}")
        else:
            importance_scores = t
        if default_mask is None:
            default_mask = _wrap(_B.get_array_module(_array(t)).ones_like(_array(t)))
        with no_grad():
            mask = self.compute_mask(importance_scores, default_mask=default_mask)
        return t * mask

    def remove(self, module: Module) -> None:
        """Make the pruning permanent: `name` a Parameter again holding orig * mask; _orig, _mask removed.

        The Parameter is the `_orig` object itself (its values replaced), so an optimizer holding
        it keeps working. The hook itself is unregistered by the function `remove(module, name)`.
        """
        if self._tensor_name is None:
            raise AssertionError(f"Module {module} has to be pruned before pruning can be removed")
        name = self._tensor_name
        with no_grad():
            weight = self.apply_mask(module)
        orig = module._parameters[name + "_orig"]
        orig.data = weight.data
        if hasattr(module, name):
            delattr(module, name)
        delattr(module, name + "_orig")  # (delattr, not just the dict entry: no stale attribute left)
        delattr(module, name + "_mask")
        setattr(module, name, orig)


class PruningContainer(BasePruningMethod):
    """The pruning methods applied to one tensor, in order (what `apply` builds for a tensor pruned twice).

    Its mask is the last method's mask computed only on what the earlier ones left:
    an 'unstructured' method sees the still-unpruned entries (as a 1-D tensor), a
    'structured' one the slices along its `dim` that are not all zero, a 'global' one the
    whole tensor; the result is written back into the earlier mask, so nothing pruned
    comes back. Iterable, indexable, with len().
    """

    def __init__(self, *methods):
        self._pruning_methods: tuple = ()
        if len(methods) == 1:  # torch's usual form: the container takes the tensor of its first method
            self._tensor_name = methods[0]._tensor_name if isinstance(methods[0], BasePruningMethod) else None
        for method in methods:
            self.add_pruning_method(method)

    def add_pruning_method(self, method) -> None:
        """Append `method` (a BasePruningMethod for the same tensor as the container's)."""
        if method is None:
            self._pruning_methods += (method,)  # (torch accepts None here too)
            return
        if not isinstance(method, BasePruningMethod):
            raise TypeError(f"{type(method)} is not a BasePruningMethod subclass")
        if self._tensor_name is None and not self._pruning_methods:
            self._tensor_name = method._tensor_name  # a container built from several methods
        elif self._tensor_name != method._tensor_name:
            raise ValueError(f"Can only add pruning methods acting on the parameter named '{self._tensor_name}' "
                             f"to PruningContainer {self}. Found '{method._tensor_name}'")
        self._pruning_methods += (method,)

    def __len__(self) -> int:
        return len(self._pruning_methods)

    def __iter__(self):
        return iter(self._pruning_methods)

    def __getitem__(self, idx):
        return self._pruning_methods[idx]

    def compute_mask(self, t, default_mask) -> Tensor:
        """default_mask with the last method's mask written into what it left unpruned (see the class doc)."""
        method = self._pruning_methods[-1]
        scores, old = _array(t), _array(default_mask)
        new = old.astype(scores.dtype, copy=True)
        kind = getattr(method, "PRUNING_TYPE", None)
        if kind == "unstructured":
            alive = old == 1  # the entries not pruned yet
        elif kind == "structured":
            if not hasattr(method, "dim"):
                raise AttributeError('Pruning methods of PRUNING_TYPE "structured" need to have the attribute `dim` '
                                     "defined.")
            nd, dim = old.ndim, method.dim
            if not -nd <= dim < nd:
                raise IndexError(f"PruningContainer: dim={dim} of {type(method).__name__} is out of bounds for "
                                 f"a tensor with {nd} dims")
            dim %= nd
            # the slices along dim that still have an unpruned entry
            alive = [slice(None)] * nd
            alive[dim] = old.sum(axis=tuple(d for d in range(nd) if d != dim)) != 0
            alive = tuple(alive)
        elif kind == "global":
            alive = (slice(None),) * old.ndim
        else:
            raise ValueError(f"Unrecognized PRUNING_TYPE {kind!r} of {type(method).__name__} (expected "
                             "'unstructured', 'structured' or 'global')")
        partial = method.compute_mask(_wrap(scores[alive].copy()), default_mask=_wrap(old[alive].copy()))
        new[alive] = _array(partial).astype(new.dtype, copy=False)
        return _wrap(new)


# ---------------------------------------------------------------- the methods
class Identity(BasePruningMethod):
    """Prunes nothing: the mask stays what it was (all ones the first time); it only re-parametrizes."""

    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t, default_mask):
        return default_mask

    @classmethod
    def apply(cls, module, name):
        """Re-parametrize `module.<name>` as <name>_orig * <name>_mask with an all-ones mask."""
        return super().apply(module, name)


class RandomUnstructured(BasePruningMethod):
    """Prunes `amount` entries chosen uniformly at random.

    Args:
        amount: an int (how many entries) or a float in [0, 1] (which fraction, rounded).
    """

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount):
        _check_amount("RandomUnstructured", amount)
        self.amount = amount

    def compute_mask(self, t, default_mask):
        scores, mask = _array(t), _array(default_mask).copy()
        k = _count_to_prune("RandomUnstructured", self.amount, scores.size)
        if k:
            xp = _B.get_array_module(scores)
            # a uniformly random subset of k: the k least of i.i.d. uniform draws
            draws = _B.random_uniform(xp, (scores.size,), _B.np.float64)
            flat = mask.reshape(-1)
            flat[_smallest(xp, draws, k)] = 0
            mask = flat.reshape(mask.shape)
        return _wrap(mask)

    @classmethod
    def apply(cls, module, name, amount):
        """Prune `amount` random entries of `module.<name>`."""
        return super().apply(module, name, amount=amount)


class L1Unstructured(BasePruningMethod):
    """Prunes the `amount` entries of least absolute value (of the importance scores, by default the tensor).

    Args:
        amount: an int (how many entries) or a float in [0, 1] (which fraction, rounded).
    """

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount):
        _check_amount("L1Unstructured", amount)
        self.amount = amount

    def compute_mask(self, t, default_mask):
        scores, mask = _array(t), _array(default_mask).copy()
        k = _count_to_prune("L1Unstructured", self.amount, scores.size)
        if k:
            xp = _B.get_array_module(scores)
            flat = mask.reshape(-1)
            flat[_smallest(xp, xp.abs(scores).reshape(-1), k)] = 0
            mask = flat.reshape(mask.shape)
        return _wrap(mask)

    @classmethod
    def apply(cls, module, name, amount, importance_scores=None):
        """Prune the `amount` entries of `module.<name>` of least |importance_scores| (default |<name>|)."""
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


class RandomStructured(BasePruningMethod):
    """Prunes `amount` whole slices along `dim` chosen uniformly at random (e.g. dim=0: output channels).

    Args:
        amount: an int (how many slices) or a float in [0, 1] (which fraction of them, rounded).
        dim: the dim whose slices are pruned (default -1).
    """

    PRUNING_TYPE = "structured"

    def __init__(self, amount, dim=-1):
        _check_amount("RandomStructured", amount)
        self.amount = amount
        self.dim = dim

    def compute_mask(self, t, default_mask):
        scores, old = _array(t), _array(default_mask)
        dim = _structured_dim("RandomStructured", scores, self.dim)
        n = scores.shape[dim]
        k = _count_to_prune("RandomStructured", self.amount, n)
        if k == 0:
            return _wrap(old.copy())
        xp = _B.get_array_module(scores)
        pruned = _smallest(xp, _B.random_uniform(xp, (n,), _B.np.float64), k)
        return _wrap(_channel_mask(scores, dim, pruned, old))

    @classmethod
    def apply(cls, module, name, amount, dim=-1):
        """Prune `amount` random slices along `dim` of `module.<name>`."""
        return super().apply(module, name, amount=amount, dim=dim)


class LnStructured(BasePruningMethod):
    """Prunes the `amount` slices along `dim` of least n-norm (of the importance scores, by default the tensor).

    Args:
        amount: an int (how many slices) or a float in [0, 1] (which fraction of them, rounded).
        n: the norm's order, as torch.norm's p: an int or float, inf, -inf, 'fro' or 'nuc'.
        dim: the dim whose slices are pruned (default -1); dim=0 of a Linear/Conv weight is its output units.
    """

    PRUNING_TYPE = "structured"

    def __init__(self, amount, n, dim=-1):
        _check_amount("LnStructured", amount)
        self.amount = amount
        self.n = n
        self.dim = dim

    def compute_mask(self, t, default_mask):
        scores, old = _array(t), _array(default_mask)
        dim = _structured_dim("LnStructured", scores, self.dim)
        k = _count_to_prune("LnStructured", self.amount, scores.shape[dim])
        norms = _slice_norms(scores, self.n, dim)  # (n is checked even when nothing is pruned, as torch)
        if k == 0:
            return _wrap(old.copy())
        xp = _B.get_array_module(scores)
        return _wrap(_channel_mask(scores, dim, _smallest(xp, norms, k), old))

    @classmethod
    def apply(cls, module, name, amount, n, dim, importance_scores=None):
        """Prune the `amount` slices along `dim` of `module.<name>` of least n-norm."""
        return super().apply(module, name, amount=amount, n=n, dim=dim, importance_scores=importance_scores)


class CustomFromMask(BasePruningMethod):
    """Prunes where a given mask is 0 (the mask times the earlier mask).

    Args:
        mask: a tensor (or array) of the pruned tensor's shape; nonzero = keep.
    """

    PRUNING_TYPE = "global"

    def __init__(self, mask):
        self.mask = mask

    def compute_mask(self, t, default_mask):
        old = _array(default_mask)
        if _shape(old) != _shape(self.mask):
            raise AssertionError(f"default_mask shape {_shape(old)} must match self.mask shape {_shape(self.mask)}")
        given = _array(self.mask)
        if not _B.is_array(given) or _B.device_of(given) != _B.device_of(old):
            given = _B.as_array(given, device=_B.device_of(old))
        return _wrap(old * given.astype(old.dtype, copy=False))

    @classmethod
    def apply(cls, module, name, mask):
        """Prune `module.<name>` where `mask` is 0."""
        return super().apply(module, name, mask=mask)


# ---------------------------------------------------------------- the functions
def identity(module: Module, name: str) -> Module:
    """Re-parametrize `module.<name>` with an all-ones mask (prunes nothing). Returns `module`."""
    Identity.apply(module, name)
    return module


def random_unstructured(module: Module, name: str, amount) -> Module:
    """Prune `amount` (int: how many; float: which fraction) random entries of `module.<name>`. Returns `module`."""
    RandomUnstructured.apply(module, name, amount)
    return module


def l1_unstructured(module: Module, name: str, amount, importance_scores=None) -> Module:
    """Prune the `amount` entries of `module.<name>` of least |value| (or |importance_scores|).

    Args:
        module: the module holding the parameter.
        name: the parameter's name (e.g. 'weight').
        amount: an int (how many entries) or a float in [0, 1] (which fraction, rounded); pruning
            again counts among the entries still unpruned.
        importance_scores: a tensor of the parameter's shape to rank by instead of its values.

    Returns:
        `module`.
    """
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def random_structured(module: Module, name: str, amount, dim: int) -> Module:
    """Prune `amount` random slices along `dim` of `module.<name>` (whole rows, channels...). Returns `module`."""
    RandomStructured.apply(module, name, amount, dim)
    return module


def ln_structured(module: Module, name: str, amount, n, dim: int, importance_scores=None) -> Module:
    """Prune the `amount` slices along `dim` of `module.<name>` of least n-norm.

    Args:
        module: the module holding the parameter.
        name: the parameter's name (e.g. 'weight').
        amount: an int (how many slices) or a float in [0, 1] (which fraction of them, rounded).
        n: the norm's order: an int or float, inf, -inf, 'fro' or 'nuc' (as torch.norm's p).
        dim: the dim whose slices are pruned (0: the output units of a Linear or Conv).
        importance_scores: a tensor of the parameter's shape to rank by instead of its values.

    Returns:
        `module`.
    """
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def global_unstructured(parameters, pruning_method, importance_scores=None, **kwargs) -> None:
    """Prune several tensors together, as one: e.g. the 20% smallest |w| over all of them.

        prune.global_unstructured([(net.conv1, "weight"), (net.fc1, "weight")],
                                  pruning_method=prune.L1Unstructured, amount=0.2)

    The tensors' scores are concatenated, `pruning_method(**kwargs)` (an 'unstructured'
    method) chooses among the still-unpruned entries of all of them, and each tensor is
    pruned with its share of the mask (a CustomFromMask).

    Args:
        parameters: an iterable of (module, name) pairs.
        pruning_method: an unstructured BasePruningMethod subclass (e.g. prune.L1Unstructured).
        importance_scores: a dict {(module, name): scores} for the pairs that rank by other
            scores than their values.
        **kwargs: passed to pruning_method (e.g. amount).
    """
    if not isinstance(parameters, Iterable):
        raise TypeError("global_unstructured(): parameters is not an Iterable (expected (module, name) pairs)")
    parameters = list(parameters)
    for pair in parameters:
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], Module)
                and isinstance(pair[1], str)):
            raise TypeError(f"global_unstructured(): expected (module, name) pairs, got {pair!r}")
    importance_scores = importance_scores if importance_scores is not None else {}
    if not isinstance(importance_scores, dict):
        raise TypeError(f"global_unstructured(): importance_scores must be of type dict, got "
                        f"{type(importance_scores).__name__}")
    for module, name in parameters:
        if not hasattr(module, name):
            raise AttributeError(f"global_unstructured(): '{type(module).__name__}' object has no attribute '{name}'")

    def tensor(x):
        return x if isinstance(x, Tensor) else _wrap(_B.as_array(x))

    with no_grad():
        scores = parameters_to_vector([tensor(importance_scores.get((m, n), getattr(m, n))) for m, n in parameters])
        masks = [getattr(m, n + "_mask", None) for m, n in parameters]
        default_mask = parameters_to_vector([
            mk if mk is not None else _wrap(_B.get_array_module(getattr(m, n).data).ones_like(getattr(m, n).data))
            for mk, (m, n) in zip(masks, parameters)])
    method = pruning_method(**kwargs)
    method._tensor_name = "temp"
    if method.PRUNING_TYPE != "unstructured":
        raise TypeError(f'Only "unstructured" PRUNING_TYPE supported for the `pruning_method`. Found method '
                        f"{pruning_method} of type {method.PRUNING_TYPE}")
    container = PruningContainer(method)
    final_mask = _array(container.compute_mask(scores, default_mask))
    start = 0
    for module, name in parameters:
        shape = _shape(getattr(module, name))
        size = math.prod(shape)
        custom_from_mask(module, name, mask=_wrap(final_mask[start:start + size].reshape(shape)))
        start += size


def custom_from_mask(module: Module, name: str, mask) -> Module:
    """Prune `module.<name>` where `mask` (a tensor of its shape) is 0. Returns `module`."""
    CustomFromMask.apply(module, name, mask)
    return module


def remove(module: Module, name: str) -> Module:
    """Make the pruning of `module.<name>` permanent: a plain Parameter again, with the pruned zeros in it.

    `<name>_orig` and `<name>_mask` and the hook are removed; the Parameter is the `_orig`
    object (so an optimizer holding it keeps working). Returns `module`.
    """
    for key, hook in _pruning_hooks(module):
        if hook._tensor_name == name:
            hook.remove(module)
            del module.__dict__["_forward_pre_hooks"][key]
            return module
    raise ValueError(f"Parameter '{name}' of module {module} has to be pruned before pruning can be removed")


def is_pruned(module: Module) -> bool:
    """Whether `module` or any of its submodules has a pruning hook."""
    return any(_pruning_hooks(m) for _, m in module.named_modules())
