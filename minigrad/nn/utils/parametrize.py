"""Parametrizations (torch.nn.utils.parametrize): a module's tensor computed from other tensors on every access.

    import minigrad.nn.utils.parametrize as P

    class Symmetric(nn.Module):
        def forward(self, X):
            return X.triu() + X.triu(1).mT

    layer = P.register_parametrization(nn.Linear(3, 3), "weight", Symmetric())
    layer.weight          # Symmetric()(layer.parametrizations.weight.original), recomputed each time
    with P.cached():      # computed once inside the block (e.g. an RNN loop reading the weight each step)
        out = model(x)

How (torch's design, which fits minigrad's Module as well): `layer.weight` is moved into
`layer.parametrizations.weight` (a `ParametrizationList`, which holds the original tensor
under `original`, or `original0`, `original1`, ... when `right_inverse` splits it) and the
module's class is swapped for a one-off subclass `Parametrized<Class>` with a property
`weight`. A property is a data descriptor, so it wins over the instance's attributes, and
Module.__setattr__ (which ends in object.__setattr__) reaches its setter: `layer.weight = X`
calls `right_inverse`. Nothing in Module changes, so modules that are not parametrized pay
nothing, and `state_dict()` keys are torch's: `parametrizations.weight.original` (or
`.original0`, `.original1`) plus the parametrizations' own state (e.g. `parametrizations.weight.0._u`).
"""
from __future__ import annotations

import collections.abc
from contextlib import contextmanager
from copy import deepcopy

from ...autograd import no_grad
from ...tensor import Tensor
from ..layers import ModuleDict, ModuleList
from ..module import Module, Parameter

__all__ = ["cached", "ParametrizationList", "register_parametrization", "is_parametrized",
           "remove_parametrizations", "type_before_parametrizations", "transfer_parametrizations_and_params"]

# cached(): while it is active, each parametrized tensor is computed once per (module, name)
_cache_enabled = 0
_cache: dict = {}


@contextmanager
def cached():
    """Compute each parametrized tensor once inside the block (torch's `parametrize.cached`).

    Without it, every access of `module.weight` runs the parametrization again (and, for
    spectral_norm in training mode, another power iteration). Inside it, the first access
    computes the value and later accesses reuse it; leaving the outermost block forgets them.
    """
    global _cache, _cache_enabled
    _cache_enabled += 1
    try:
        yield
    finally:
        _cache_enabled -= 1
        if not _cache_enabled:
            _cache = {}


def _register_parameter_or_buffer(module: Module, name: str, value: Tensor) -> None:
    if isinstance(value, Parameter):
        module.register_parameter(name, value)
    else:
        module.register_buffer(name, value)


def _maybe_set(dest: Tensor, src: Tensor) -> None:
    """dest takes src's values and shape, keeping its identity (torch's `set_`): an optimizer holding
    `dest` goes on updating the right tensor."""
    if dest is src:
        return
    dest.data = src.data
    dest._bump()  # an in-place write: graphs that saved the old values notice


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor and the original tensor(s) they start from.

    The type of `module.parametrizations[name]`. It holds the original under `original`
    when the first parametrization's `right_inverse` returns one tensor (or there is none:
    the identity), else under `original0`, `original1`, .... Calling it computes the
    parametrized tensor: `self[-1](...self[1](self[0](original)))`. Made by
    `register_parametrization`, not by users.

    Args:
        modules: the parametrizations (Modules), first applied first.
        original: the Parameter or buffer being parametrized.
        unsafe: skip the check that the parametrization keeps the tensor's shape and dtype.
    """

    def __init__(self, modules, original: Tensor, unsafe: bool = False):
        if len(modules) == 0:
            raise ValueError("ParametrizationList requires one or more modules.")
        super().__init__(modules)
        self.unsafe = unsafe
        original_shape, original_dtype = original.shape, original.dtype

        # The tensor(s) to store: right_inverse of the original, through every parametrization
        # (last first); a parametrization without one (or one raising NotImplementedError) is the identity.
        with no_grad():
            new = original
            for module in reversed(list(self)):
                if hasattr(module, "right_inverse"):
                    try:
                        new = module.right_inverse(new)
                    except NotImplementedError:
                        pass
        if not isinstance(new, (Tensor, collections.abc.Sequence)):
            raise ValueError("'right_inverse' must return a Tensor or a Sequence of tensors (list, tuple...). "
                             f"Got {type(new).__name__}")
        self.is_tensor = isinstance(new, Tensor)
        self.ntensors = 1 if self.is_tensor else len(new)

        if self.is_tensor:
            if original.dtype != new.dtype:
                raise ValueError("When `right_inverse` outputs one tensor, it may not change the dtype.\n"
                                 f"original.dtype: {original.dtype}\nright_inverse(original).dtype: {new.dtype}")
            if original.device != new.device:
                raise ValueError("When `right_inverse` outputs one tensor, it may not change the device.\n"
                                 f"original.device: {original.device}\n"
                                 f"right_inverse(original).device: {new.device}")
            # the original object itself is kept (with the new values), so an optimizer needs no update
            with no_grad():
                _maybe_set(original, new)
            _register_parameter_or_buffer(self, "original", original)
        else:
            for i, originali in enumerate(new):
                if not isinstance(originali, Tensor):
                    raise ValueError("'right_inverse' must return a Tensor or a Sequence of tensors (list, tuple...). "
                                     f"Got element {i} of the sequence with type {type(originali).__name__}.")
                # new tensors: the user adds them to the optimizer after registering (as torch documents)
                if isinstance(original, Parameter):
                    originali = Parameter(originali, original.requires_grad)
                originali.requires_grad_(original.requires_grad)
                _register_parameter_or_buffer(self, f"original{i}", originali)

        if not self.unsafe:
            # forward(right_inverse(original)) must look like the original: same dtype and shape
            Z = self()
            if not isinstance(Z, Tensor):
                raise ValueError(f"A parametrization must return a tensor. Got {type(Z).__name__}.")
            if Z.dtype != original_dtype:
                raise ValueError("Registering a parametrization may not change the dtype of the tensor, unless "
                                 f"`unsafe` flag is enabled.\nunparametrized dtype: {original_dtype}\n"
                                 f"parametrized dtype: {Z.dtype}")
            if Z.shape != original_shape:
                raise ValueError("Registering a parametrization may not change the shape of the tensor, unless "
                                 f"`unsafe` flag is enabled.\nunparametrized shape: {original_shape}\n"
                                 f"parametrized shape: {Z.shape}")

    def right_inverse(self, value: Tensor) -> None:
        """Store `value` as the parametrized tensor: the parametrizations' right_inverse, last first,
        into `original` (in place) or `original0`, `original1`, ... (what `module.weight = value` does)."""
        with no_grad():
            for module in reversed(list(self)):
                if not hasattr(module, "right_inverse"):
                    raise RuntimeError(f"parametrization {type(module).__name__} does not implement right_inverse.")
                value = module.right_inverse(value)
            if self.is_tensor:
                if not isinstance(value, Tensor):
                    raise ValueError(f"`right_inverse` should return a tensor. Got {type(value).__name__}")
                if value.dtype != self.original.dtype:
                    raise ValueError(f"The tensor returned by `right_inverse` has dtype {value.dtype} "
                                     f"while `original` has dtype {self.original.dtype}")
                _maybe_set(self.original, value)
            else:
                if not isinstance(value, collections.abc.Sequence):
                    raise ValueError(f"'right_inverse' must return a sequence of tensors. Got {type(value).__name__}.")
                if len(value) != self.ntensors:
                    raise ValueError(f"'right_inverse' must return a sequence of tensors of length {self.ntensors}. "
                                     f"Got a sequence of length {len(value)}.")
                for i, tensor in enumerate(value):
                    original_i = getattr(self, f"original{i}")
                    if not isinstance(tensor, Tensor):
                        raise ValueError(f"'right_inverse' must return a sequence of tensors. Got element {i} of "
                                         f"type {type(tensor).__name__}.")
                    if original_i.dtype != tensor.dtype:
                        raise ValueError(f"Tensor {i} returned by `right_inverse` has dtype {tensor.dtype} "
                                         f"while `original{i}` has dtype {original_i.dtype}")
                    _maybe_set(original_i, tensor)

    def forward(self):
        """The parametrized tensor: the parametrizations applied in order to the original(s)."""
        mods = list(self._modules.values())
        if self.is_tensor:
            x = mods[0](self.original)
        else:
            x = mods[0](*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for m in mods[1:]:
            x = m(x)
        return x


# ---------------------------------------------------------------- the class swap
def _getstate(self):
    raise RuntimeError("Serialization of parametrized modules is only supported through state_dict(). See:\n"
                       "https://pytorch.org/tutorials/beginner/saving_loading_models.html"
                       "#saving-loading-a-general-checkpoint-for-inference-and-or-resuming-training")


def _parametrized_class(cls: type) -> type:
    """A fresh subclass `Parametrized<cls>` of `cls`, one per module (its properties are that module's)."""

    def __setattr__(self, name, value):
        # a Parameter or Module assigned to a parametrized name would be registered beside the property
        # (and shadowed by it): refused, as torch (`module.weight = X` with a plain Tensor calls right_inverse)
        if isinstance(value, (Parameter, Module)) and is_parametrized(self, name):
            raise KeyError(f"attribute '{name}' already exists: {type(self).__name__}.{name} is parametrized; "
                           f"assign a Tensor to set it through right_inverse, or call "
                           f"remove_parametrizations(module, {name!r}) first")
        cls.__setattr__(self, name, value)

    def __deepcopy__(self, memo):
        # as torch's default deepcopy, but the copy gets its own class: removing a parametrization
        # from the copy (which deletes a property from its class) must leave the original alone
        replica = object.__new__(_parametrized_class(cls))
        memo[id(self)] = replica
        object.__setattr__(replica, "__dict__", deepcopy(self.__dict__, memo))
        for name in replica.parametrizations:
            _inject_property(replica, name)
        return replica

    dct = {"__getstate__": _getstate, "__setattr__": __setattr__}
    if not hasattr(cls, "__deepcopy__"):
        dct["__deepcopy__"] = __deepcopy__
    return type(f"Parametrized{cls.__name__}", (cls,), dct)


def _inject_new_class(module: Module) -> None:
    module.__class__ = _parametrized_class(module.__class__)


def _inject_property(module: Module, tensor_name: str) -> None:
    """Make `module.<tensor_name>` a property of its (Parametrized) class: computed on get,
    `right_inverse` on set."""
    if tensor_name in module.__dict__ or hasattr(type(module), tensor_name):
        raise AssertionError(f"Module already has an attribute named '{tensor_name}'")

    def get_parametrized(self) -> Tensor:
        parametrization = self.parametrizations[tensor_name]
        if _cache_enabled:
            key = (id(self), tensor_name)
            tensor = _cache.get(key)
            if tensor is None:
                tensor = parametrization()
                _cache[key] = tensor
            return tensor
        return parametrization()

    def set_original(self, value: Tensor) -> None:
        self.parametrizations[tensor_name].right_inverse(value)

    setattr(type(module), tensor_name, property(get_parametrized, set_original))


def _check_module(op: str, module) -> None:
    if not isinstance(module, Module):
        raise TypeError(f"{op}: module must be an nn.Module, got {type(module).__name__}")


# ---------------------------------------------------------------- public API
def register_parametrization(module: Module, tensor_name: str, parametrization: Module, *,
                             unsafe: bool = False) -> Module:
    """Make `module.<tensor_name>` the output of `parametrization` (torch's register_parametrization).

    The first parametrization moves the parameter or buffer to
    `module.parametrizations.<tensor_name>.original` (its `right_inverse`, if any, decides the
    stored value; one that returns several tensors stores `original0`, `original1`, ... and
    `parametrization.forward` takes them all). Later ones are chained after it: the value is
    `p_n(...p_1(original))`. Reading `module.<tensor_name>` computes it (differentiably, so
    gradients reach the originals); assigning a tensor to it calls `right_inverse`.

    Args:
        module: the module holding the tensor.
        tensor_name: the name of a parameter or buffer of `module` (or one already parametrized).
        parametrization: an nn.Module whose forward maps the original(s) to the tensor; an optional
            `right_inverse(X)` maps a tensor back to the original(s).
        unsafe: allow the parametrization to change the tensor's shape or dtype (skips the checks).

    Returns:
        `module`, whose class is now `Parametrized<Class>` (a subclass of its class).
    """
    op = "register_parametrization"
    _check_module(op, module)
    if not isinstance(parametrization, Module):
        raise TypeError(f"{op}: the parametrization must be an nn.Module (with forward and optionally "
                        f"right_inverse), got {type(parametrization).__name__}")
    if not isinstance(tensor_name, str):
        raise TypeError(f"{op}: tensor_name must be a str, got {type(tensor_name).__name__}")
    parametrization.train(module.training)
    if is_parametrized(module, tensor_name):
        # one more parametrization on top: it must map the current tensor's space to itself
        if not unsafe:
            Y = getattr(module, tensor_name)
            X = parametrization(Y)
            if not isinstance(X, Tensor):
                raise ValueError(f"A parametrization must return a tensor. Got {type(X).__name__}.")
            if X.dtype != Y.dtype:
                raise ValueError("Registering a parametrization may not change the dtype of the tensor, unless the "
                                 f"`unsafe` flag is enabled.\nmodule.{tensor_name}.dtype: {Y.dtype}\n"
                                 f"parametrization(module.{tensor_name}).dtype: {X.dtype}")
            if X.shape != Y.shape:
                raise ValueError("Registering a parametrization may not change the shape of the tensor, unless the "
                                 f"`unsafe` flag is enabled.\nmodule.{tensor_name}.shape: {Y.shape}\n"
                                 f"parametrization(module.{tensor_name}).shape: {X.shape}")
            if hasattr(parametrization, "right_inverse"):
                try:
                    Z = parametrization.right_inverse(X)
                except NotImplementedError:
                    pass
                else:
                    if not isinstance(Z, Tensor):
                        raise ValueError(f"parametrization.right_inverse must return a tensor. Got: {type(Z).__name__}")
                    if Z.dtype != Y.dtype:
                        raise ValueError("The tensor returned by parametrization.right_inverse must have the same "
                                         f"dtype as module.{tensor_name}, unless the `unsafe` flag is enabled.\n"
                                         f"module.{tensor_name}.dtype: {Y.dtype}\nreturned dtype: {Z.dtype}")
                    if Z.shape != Y.shape:
                        raise ValueError("The tensor returned by parametrization.right_inverse must have the same "
                                         f"shape as module.{tensor_name}, unless the `unsafe` flag is enabled.\n"
                                         f"module.{tensor_name}.shape: {Y.shape}\nreturned shape: {Z.shape}")
        plist = module.parametrizations[tensor_name]
        plist.append(parametrization)
        plist.unsafe |= unsafe  # once unsafe, always unsafe
    elif tensor_name in module._buffers or tensor_name in module._parameters:
        original = getattr(module, tensor_name)
        if original is None:
            raise ValueError(f"{op}: {type(module).__name__}.{tensor_name} is None (an absent optional "
                             "parameter or buffer); there is nothing to parametrize")
        plist = ParametrizationList([parametrization], original, unsafe=unsafe)  # made first: it checks
        delattr(module, tensor_name)
        if not is_parametrized(module):
            _inject_new_class(module)
            module.parametrizations = ModuleDict()
        _inject_property(module, tensor_name)
        module.parametrizations[tensor_name] = plist
    else:
        raise ValueError(f"Module '{module}' does not have a parameter, a buffer, or a parametrized element "
                         f"with name '{tensor_name}'")
    return module


def is_parametrized(module: Module, tensor_name: str | None = None) -> bool:
    """Does `module` have a parametrization on `tensor_name` (on any tensor when tensor_name is None)?"""
    parametrizations = getattr(module, "parametrizations", None)
    if not isinstance(parametrizations, ModuleDict):
        return False
    if tensor_name is None:
        return len(parametrizations) > 0
    return tensor_name in parametrizations


def remove_parametrizations(module: Module, tensor_name: str, leave_parametrized: bool = True) -> Module:
    """Undo the parametrizations of `module.<tensor_name>`: it becomes a plain parameter (or buffer) again.

    With leave_parametrized=True it keeps its current (parametrized) value: stored into the
    original Parameter object itself when there is one original (so an optimizer holding it
    needs no update), else a new Parameter. With leave_parametrized=False the original tensor
    comes back unchanged (only possible with one original). When no tensor of the module is
    parametrized any more, its class is restored.

    Raises:
        ValueError: the tensor is not parametrized, or leave_parametrized=False with several originals.
    """
    _check_module("remove_parametrizations", module)
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {module} does not have a parametrization on {tensor_name}")
    plist = module.parametrizations[tensor_name]
    if plist.is_tensor:
        original = plist.original
        if leave_parametrized:
            with no_grad():
                t = getattr(module, tensor_name)
                _maybe_set(original, t)
    else:
        if not leave_parametrized:
            raise ValueError("Cannot leave unparametrized (`leave_parametrized=False`) a tensor that is parametrized "
                             "in terms of a sequence of tensors.")
        t = getattr(module, tensor_name)  # (with grad: does any original require it?)
        original = Parameter(t.detach()) if t.requires_grad else t.detach()
    delattr(type(module), tensor_name)  # the property first: then the name is a plain attribute again
    del module.parametrizations[tensor_name]
    _register_parameter_or_buffer(module, tensor_name, original)
    if not is_parametrized(module):
        delattr(module, "parametrizations")
        module.__class__ = type(module).__bases__[0]
    return module


def type_before_parametrizations(module: Module) -> type:
    """The module's class before parametrizations were registered (its own class if none were)."""
    return type(module).__bases__[0] if is_parametrized(module) else type(module)


def transfer_parametrizations_and_params(from_module: Module, to_module: Module,
                                         tensor_name: str | None = None) -> Module:
    """Register on `to_module` the parametrizations of `from_module` (all, or those of `tensor_name`),
    with the same original tensors (shared, not copied); tensors `to_module` lacks are created."""
    if is_parametrized(from_module):
        names = list(from_module.parametrizations) if tensor_name is None else [tensor_name]
        for name in names:
            if not hasattr(to_module, name):
                setattr(to_module, name, Parameter(getattr(from_module, name)))
            for param_func in from_module.parametrizations[name]:
                register_parametrization(to_module, name, param_func)
            src, dst = from_module.parametrizations[name], to_module.parametrizations[name]
            if hasattr(src, "original"):
                dst.original = src.original
            else:
                num = 0
                while hasattr(src, f"original{num}"):
                    setattr(dst, f"original{num}", getattr(src, f"original{num}"))
                    num += 1
    return to_module
