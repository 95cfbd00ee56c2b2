"""Spectral normalization, torch's legacy hook API (torch.nn.utils.spectral_norm): W_SN = W / sigma(W).

    D = nn.utils.spectral_norm(nn.Linear(20, 40))   # weight_orig (parameter), weight_u, weight_v (buffers)
    D(x)                                             # weight recomputed before each forward
    nn.utils.remove_spectral_norm(D)

sigma(W), the largest singular value of W (viewed as a matrix [W.shape[dim], -1]), is
estimated by power iteration: u and v approximate W's first left and right singular
vectors and sigma = u . (W v). Each forward in training mode runs `n_power_iterations`
more steps (updating the u, v buffers in place); in eval mode they are used as they are.
The gradient treats u and v as constants (as torch): it flows through sigma's W only.
Miyato et al. 2018 (https://arxiv.org/abs/1802.05957).

Unlike torch, no state_dict version metadata is written and no pre-hook converts
checkpoints from torch < 1.1 (whose `weight` key was saved instead of `weight_v`);
current torch checkpoints (weight_orig, weight_u, weight_v) load as they are.
"""
from __future__ import annotations

from ... import functional as F
from ...autograd import no_grad
from ...tensor import Tensor
from ..module import Module, Parameter
from .weight_norm import _remove_hook

__all__ = ["SpectralNorm", "spectral_norm", "remove_spectral_norm"]


def _output_dim(module: Module) -> int:
    """torch's default: dim 1 holds the outputs of ConvTranspose weights [in, out, k...], dim 0 elsewhere."""
    from ..conv2d import _ConvTransposeNd  # (imported here: nn.utils loads before the layers)
    return 1 if isinstance(module, _ConvTransposeNd) else 0


def _as_matrix(weight: Tensor, dim: int) -> Tensor:
    """weight as a matrix [weight.shape[dim], -1]: dim moved to the front, the rest flattened."""
    if dim != 0:
        weight = weight.permute(dim, *[d for d in range(weight.ndim) if d != dim])
    return weight.reshape(weight.shape[0], -1)


class SpectralNorm:
    """The forward pre-hook that recomputes `module.<name>` = `<name>_orig` / sigma (torch's class)."""

    _version = 1

    def __init__(self, name: str = "weight", n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12):
        self.name = name
        self.dim = dim
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but "
                             f"got n_power_iterations={n_power_iterations}")
        self.n_power_iterations = n_power_iterations
        self.eps = eps

    def reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        return _as_matrix(weight, self.dim)

    def compute_weight(self, module: Module, do_power_iteration: bool) -> Tensor:
        """weight_orig / (u . (W v)), after `n_power_iterations` power steps on u, v (in place) if asked."""
        weight = getattr(module, self.name + "_orig")
        u = getattr(module, self.name + "_u")
        v = getattr(module, self.name + "_v")
        weight_mat = self.reshape_weight_to_matrix(weight)
        if do_power_iteration:
            with no_grad():
                for _ in range(self.n_power_iterations):
                    # v <- W^T u / |W^T u|, u <- W v / |W v|: written into the buffers (their state persists)
                    v.copy_(F.normalize(weight_mat.t().mv(u), dim=0, eps=self.eps))
                    u.copy_(F.normalize(weight_mat.mv(v), dim=0, eps=self.eps))
                # copies: the next forward's in-place update must not touch what this graph saved
                u, v = u.clone(), v.clone()
        sigma = u.dot(weight_mat.mv(v))
        return weight / sigma

    def remove(self, module: Module) -> None:
        with no_grad():
            weight = self.compute_weight(module, do_power_iteration=False)
        for suffix in ("", "_u", "_v", "_orig"):
            delattr(module, self.name + suffix)
        module.register_parameter(self.name, Parameter(weight.detach()))

    def __call__(self, module: Module, inputs) -> None:
        setattr(module, self.name, self.compute_weight(module, do_power_iteration=module.training))

    @staticmethod
    def apply(module: Module, name: str, n_power_iterations: int, dim: int, eps: float) -> "SpectralNorm":
        if not isinstance(module, Module):
            raise TypeError(f"spectral_norm: module must be an nn.Module, got {type(module).__name__}")
        for hook in module.__dict__.get("_forward_pre_hooks", {}).values():
            if isinstance(hook, SpectralNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two spectral_norm hooks on the same parameter {name}")
        fn = SpectralNorm(name, n_power_iterations, dim, eps)
        if name not in module._parameters:
            raise ValueError(f"spectral_norm: {type(module).__name__} has no parameter {name!r} (its parameters: "
                             f"{[k for k, p in module._parameters.items() if p is not None]})")
        weight = module._parameters[name]
        if weight is None:
            raise ValueError(f"`SpectralNorm` cannot be applied as parameter `{name}` is None")
        from ..norm_more import UninitializedParameter
        if isinstance(weight, UninitializedParameter):
            raise ValueError("The module passed to `SpectralNorm` can't have uninitialized parameters. "
                             "Make sure to run the dummy forward before applying spectral normalization")
        if weight.ndim < 1 or not -weight.ndim <= dim < weight.ndim:
            raise IndexError(f"spectral_norm: dim {dim} is out of range for {name} of shape {tuple(weight.shape)}")
        with no_grad():
            weight_mat = fn.reshape_weight_to_matrix(weight)
            h, w = weight_mat.shape
            # random unit starting vectors (torch draws them from N(0, 1) too)
            u = F.normalize(weight.new_empty(h).normal_(0, 1), dim=0, eps=fn.eps)
            v = F.normalize(weight.new_empty(w).normal_(0, 1), dim=0, eps=fn.eps)
        delattr(module, fn.name)
        module.register_parameter(fn.name + "_orig", weight)
        setattr(module, fn.name, weight.detach())  # a plain attribute until the first forward recomputes it
        module.register_buffer(fn.name + "_u", u)
        module.register_buffer(fn.name + "_v", v)
        module.register_forward_pre_hook(fn)
        return fn


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12,
                  dim: int | None = None) -> Module:
    """Replace parameter `name` by `<name>_orig` / sigma, sigma its spectral norm estimated by power iteration.

    `<name>_orig` is the parameter; `<name>_u` and `<name>_v` are buffers (the singular vector
    estimates, saved in the state_dict); `module.<name>` is recomputed before every forward,
    with `n_power_iterations` power steps first in training mode.

    Args:
        module: the module holding the parameter.
        name: the parameter's name.
        n_power_iterations: power steps per forward in training mode (>= 1).
        eps: floor of the norms when u and v are normalized.
        dim: the output dim (rows of the matrix); default 0, 1 for ConvTranspose layers.

    Returns:
        `module`.
    """
    if dim is None:
        dim = _output_dim(module)
    SpectralNorm.apply(module, name, n_power_iterations, dim, eps)
    return module


def remove_spectral_norm(module: Module, name: str = "weight") -> Module:
    """Make `module.<name>` a plain Parameter again (holding weight_orig / sigma with the current u, v)."""
    return _remove_hook(module, SpectralNorm, name, "spectral_norm")
