"""Weight normalization, torch's legacy hook API (torch.nn.utils.weight_norm): w = g * v / ||v||.

    m = nn.utils.weight_norm(nn.Linear(20, 40))   # parameters weight_g [40, 1], weight_v [40, 20]
    m(x)                                           # m.weight recomputed from g and v before each forward
    nn.utils.remove_weight_norm(m)                 # weight a plain Parameter again

Salimans & Kingma 2016 (https://arxiv.org/abs/1602.07868). torch deprecates this form in
favour of `nn.utils.parametrizations.weight_norm` (the same math, state under
`parametrizations.weight.original0/1`); both are here, with torch's state_dict keys.
"""
from __future__ import annotations

import warnings

from ...tensor import Tensor
from ..module import Module, Parameter

__all__ = ["WeightNorm", "weight_norm", "remove_weight_norm", "norm_except_dim"]


def norm_except_dim(v: Tensor, pow: float = 2, dim: int = 0) -> Tensor:  # noqa: A002 (torch's name)
    """||v||_pow over every dim but `dim`, keeping v's rank (torch.norm_except_dim).

    dim=0 on v [o, i, k] gives [o, 1, 1]; dim=-1 is torch's code for "no dim": the norm of
    all of v, a 0-d tensor (so dim=-1 does NOT mean the last dim here, as in torch; other
    negative dims count from the end). Differentiable (composed of reshape, transpose and norm).
    """
    if not isinstance(v, Tensor):
        raise TypeError(f"norm_except_dim: expected a Tensor, got {type(v).__name__}")
    if dim == -1:
        return v.norm(pow)
    n = v.ndim
    if n == 0 or not -n <= dim < n:
        raise IndexError(f"norm_except_dim: dim {dim} is out of range for a tensor of shape {tuple(v.shape)} "
                         f"(expected -1 for the whole tensor, or a dim in [-{n}, {n - 1}])")
    dim = dim % n
    out_shape = [1] * n
    out_shape[dim] = v.shape[dim]
    if dim == 0:  # one norm per slice v[j]: rows of v viewed as [v.shape[0], -1]
        return v.reshape(v.shape[0], -1).norm(pow, dim=1).reshape(out_shape)
    if dim == n - 1:
        return v.reshape(-1, v.shape[-1]).norm(pow, dim=0).reshape(out_shape)
    return norm_except_dim(v.transpose(0, dim), pow, 0).transpose(0, dim)  # (torch's: dim moved to the front)


def _weight_norm(v: Tensor, g: Tensor, dim: int = 0) -> Tensor:
    """w = v * (g / ||v||), the norm over every dim but `dim` (torch._weight_norm); gradients reach g and v."""
    if v.device != g.device:
        raise RuntimeError(f"weight_norm: expected v and g on the same device, but v is on {v.device} "
                           f"and g is on {g.device}")
    return v * (g / norm_except_dim(v, 2, dim))


class WeightNorm:
    """The forward pre-hook that recomputes `module.<name>` from `<name>_g` and `<name>_v` (torch's class)."""

    def __init__(self, name: str, dim: int):
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module: Module) -> Tensor:
        return _weight_norm(getattr(module, self.name + "_v"), getattr(module, self.name + "_g"), self.dim)

    @staticmethod
    def apply(module: Module, name: str, dim: int) -> "WeightNorm":
        warnings.warn("`torch.nn.utils.weight_norm` is deprecated in favor of "
                      "`torch.nn.utils.parametrizations.weight_norm`.", FutureWarning, stacklevel=3)
        if not isinstance(module, Module):
            raise TypeError(f"weight_norm: module must be an nn.Module, got {type(module).__name__}")
        for hook in module.__dict__.get("_forward_pre_hooks", {}).values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter {name}")
        fn = WeightNorm(name, dim)
        weight = module._parameters.get(name)
        if weight is None:
            raise ValueError(f"weight_norm: {type(module).__name__} has no parameter {name!r} (its parameters: "
                             f"{[k for k, p in module._parameters.items() if p is not None]})")
        from ..norm_more import UninitializedParameter
        if isinstance(weight, UninitializedParameter):
            raise ValueError("The module passed to `WeightNorm` can't have uninitialized parameters. "
                             "Make sure to run the dummy forward before applying weight normalization")
        # w leaves the parameters; g (its norm) and v (its direction) replace it
        del module._parameters[name]
        module.register_parameter(name + "_g", Parameter(norm_except_dim(weight, 2, fn.dim).detach()))
        module.register_parameter(name + "_v", Parameter(weight.detach()))
        setattr(module, name, fn.compute_weight(module))  # a plain attribute, not a parameter
        module.register_forward_pre_hook(fn)  # recompute w before every forward
        return fn

    def remove(self, module: Module) -> None:
        weight = self.compute_weight(module)
        delattr(module, self.name)
        delattr(module, self.name + "_g")
        delattr(module, self.name + "_v")
        setattr(module, self.name, Parameter(weight.detach()))

    def __call__(self, module: Module, inputs) -> None:
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Split parameter `name` into a magnitude `<name>_g` and a direction `<name>_v`: w = g * v / ||v||.

    A forward pre-hook recomputes `module.<name>` (a plain tensor, not a parameter) from them
    before every forward, so gradients reach `<name>_g` and `<name>_v`. Deprecated in torch (it
    warns, FutureWarning, and so does this) for `nn.utils.parametrizations.weight_norm`.

    Args:
        module: the module holding the parameter.
        name: the parameter's name.
        dim: the dim kept by the norm (one norm per slice along it: dim=0, the default, is one per
            output unit of Linear/Conv); None for one norm over the whole tensor (and, as torch's
            quirk, -1 means the same).

    Returns:
        `module`.
    """
    WeightNorm.apply(module, name, dim)
    return module


def _remove_hook(module: Module, hook_cls, name: str, what: str) -> Module:
    """Undo a legacy reparametrization: find its `hook_cls` forward pre-hook for `name`, let it restore
    the plain Parameter, and unregister it (shared by remove_weight_norm and remove_spectral_norm)."""
    hooks = module.__dict__.get("_forward_pre_hooks", {})
    for k, hook in hooks.items():
        if isinstance(hook, hook_cls) and hook.name == name:
            hook.remove(module)
            del hooks[k]
            return module
    raise ValueError(f"{what} of '{name}' not found in {module}")


def remove_weight_norm(module: Module, name: str = "weight") -> Module:
    """Make `module.<name>` a plain Parameter again (holding the current g * v / ||v||)."""
    return _remove_hook(module, WeightNorm, name, "weight_norm")
