"""More normalisation layers (torch's names, parameters, buffers and state) and a few extras:
BatchNorm2d/3d, GroupNorm, InstanceNorm1d/2d/3d, LocalResponseNorm, ChannelShuffle, LazyLinear,
LazyBatchNorm1d/2d/3d."""
from __future__ import annotations

import numbers
import warnings

from .. import functional as F
from ..factory import empty
from ..ops.common import describe
from ..tensor import Tensor
from . import init
from .layers import Linear, _check_positive_int
from .module import Module, Parameter
from .norm import BatchNorm1d, _BatchNorm

__all__ = ["BatchNorm2d", "BatchNorm3d", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
           "LocalResponseNorm", "ChannelShuffle", "LazyLinear", "UninitializedParameter", "LazyBatchNorm1d",
           "LazyBatchNorm2d", "LazyBatchNorm3d"]


# ---------------------------------------------------------------- batch normalisation of images and volumes
class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs: each channel over N, H and W (see BatchNorm1d).

    Training mode uses the batch statistics (biased variance) and updates `running_mean` and
    `running_var` (unbiased) with weight `momentum` (None: a cumulative average); eval mode
    uses the running estimates (or, with track_running_stats=False, the batch's again).

    Args:
        num_features: C. eps, momentum, affine, track_running_stats, device, dtype, bias: as BatchNorm1d.

    Shape: (N, C, H, W) -> the same shape.
    """

    def _check_input_dim(self, input):  # noqa: A002
        if input.ndim != 4:
            raise ValueError(f"BatchNorm2d: expected a 4-D (N, C, H, W) input, got {describe(input)}")


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of (N, C, D, H, W) inputs: each channel over N, D, H and W (see BatchNorm2d).

    Shape: (N, C, D, H, W) -> the same shape.
    """

    def _check_input_dim(self, input):  # noqa: A002
        if input.ndim != 5:
            raise ValueError(f"BatchNorm3d: expected a 5-D (N, C, D, H, W) input, got {describe(input)}")


# ---------------------------------------------------------------- group normalisation
class GroupNorm(Module):
    """Normalise each group of channels of each sample, then scale and shift per channel (F.group_norm).

    Args:
        num_groups: G, the number of groups the channels are split into (must divide num_channels).
        num_channels: C, dim 1 of the input.
        eps: added to the variance.
        affine: learn `weight` (init 1) and `bias` (init 0) of shape (C,).
        device, dtype: where and in what float type to create the parameters.
        bias: with affine, also learn the bias (keyword only, default True; torch's).

    Shape: (N, C, *) -> the same shape.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, device=None,
                 dtype=None, *, bias: bool = True):
        super().__init__()
        _check_positive_int("GroupNorm", "num_groups", num_groups)
        _check_positive_int("GroupNorm", "num_channels", num_channels)
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        self.num_groups = int(num_groups)
        self.num_channels = int(num_channels)
        self.eps = eps
        self.affine = bool(affine)
        if self.affine:
            self.weight = Parameter(empty(self.num_channels, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(empty(self.num_channels, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """weight = 1, bias = 0."""
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input):  # noqa: A002 - torch's name
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


# ---------------------------------------------------------------- instance normalisation
class _InstanceNorm(_BatchNorm):
    """Shared by InstanceNorm1d/2d/3d: the parameters and buffers of the batch norms (torch's _NormBase),
    with torch's defaults affine=False, track_running_stats=False, and F.instance_norm as forward."""

    _no_batch_dim = 2  # the rank of an unbatched input (C, L); 3 for 2d, 4 for 3d

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device=None, dtype=None, *, bias: bool = True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)

    def _check_input_dim(self, input):  # noqa: A002
        d = self._no_batch_dim
        if input.ndim not in (d, d + 1):
            raise ValueError(f"{type(self).__name__}: expected a {d}-D (unbatched) or {d + 1}-D input, "
                             f"got {describe(input)}")

    def forward(self, input):  # noqa: A002 - torch's name
        if not isinstance(input, Tensor):
            raise TypeError(f"{type(self).__name__}: input must be a minigrad Tensor, got {type(input).__name__}")
        self._check_input_dim(input)
        feature_dim = input.ndim - self._no_batch_dim
        if input.shape[feature_dim] != self.num_features:
            if self.affine:
                raise ValueError(f"{type(self).__name__}: expected input's size at dim={feature_dim} to match "
                                 f"num_features ({self.num_features}), got input {describe(input)}")
            warnings.warn(f"{type(self).__name__}: input's size at dim={feature_dim} does not match num_features. "
                          "You can silence this warning by not passing in num_features, which is not used because "
                          "affine=False", stacklevel=2)
        unbatched = input.ndim == self._no_batch_dim
        x = input.unsqueeze(0) if unbatched else input
        # as torch: running estimates are updated in training (momentum None -> 0: never), used in eval
        out = F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                              self.training or not self.track_running_stats,
                              0.0 if self.momentum is None else self.momentum, self.eps)
        return out.squeeze(0) if unbatched else out


class InstanceNorm1d(_InstanceNorm):
    """Normalise each channel of each sample over its length: (N, C, L) or unbatched (C, L).

    Args:
        num_features: C. eps: added to the variance. momentum: weight of each batch in the running
        estimates (None: no update). affine: learn per-channel `weight`/`bias` (default False).
        track_running_stats: keep `running_mean`/`running_var` (updated in training with the batch
        mean of the per-instance statistics) and use them in eval mode (default False).
        device, dtype, bias: as BatchNorm1d.
    """

    _no_batch_dim = 2


class InstanceNorm2d(_InstanceNorm):
    """Normalise each channel of each sample over H and W: (N, C, H, W) or unbatched (C, H, W) (see InstanceNorm1d)."""

    _no_batch_dim = 3


class InstanceNorm3d(_InstanceNorm):
    """Normalise each channel of each sample over D, H and W: (N, C, D, H, W) or (C, D, H, W) (see InstanceNorm1d)."""

    _no_batch_dim = 4


# ---------------------------------------------------------------- parameter-free extras
class LocalResponseNorm(Module):
    """y_c = x_c / (k + alpha / size * sum of x^2 over `size` neighbouring channels)^beta (F.local_response_norm).

    Shape: (N, C, *) with at least 3 dims -> the same shape.
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input):  # noqa: A002 - torch's name
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class ChannelShuffle(Module):
    """Interleave the channels of `groups` groups (ShuffleNet): F.channel_shuffle. Shape: (N, C, *) -> same."""

    def __init__(self, groups: int):
        super().__init__()
        if isinstance(groups, bool) or not isinstance(groups, numbers.Integral):
            raise TypeError(f"ChannelShuffle: groups must be an int, got {groups!r}")
        self.groups = int(groups)

    def forward(self, input):  # noqa: A002 - torch's name
        return F.channel_shuffle(input, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


# ---------------------------------------------------------------- lazy modules
class UninitializedParameter(Parameter):
    """A Parameter whose shape is not known yet (torch's name), held by lazy modules until their first call.

    Simplified from torch: it is a 0-element placeholder that already knows its dtype and device
    (so `.to()` before the first call is honoured); `materialize(shape)` gives it the shape in
    place (the same object becomes a plain Parameter, so optimizers built on it keep working).
    """

    __slots__ = ()

    def materialize(self, shape):
        """Become a Parameter of `shape` (uninitialised values) with this placeholder's dtype and device."""
        self.data = empty(*shape, dtype=self.data.dtype, device=self.device).data
        self.__class__ = Parameter

    def __repr__(self):
        return "<UninitializedParameter>"


class LazyLinear(Linear):
    """A Linear whose in_features is inferred from the first input (torch's nn.LazyLinear).

    Until the first call `weight` (and `bias`) are `UninitializedParameter` placeholders and
    in_features is 0; the first forward sets in_features = input.shape[-1], materialises them
    in place, initialises them as Linear does, and the module becomes a plain `Linear`.

    Simplifications (documented, not torch's): a placeholder is a 0-element tensor rather than a
    shapeless one, and `load_state_dict` into a module that was never called is refused (the
    shapes differ): run one forward first.

    Args:
        out_features: size of each output's last dimension.
        bias, device, dtype: as Linear.
    """

    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, device=None, dtype=None):
        Module.__init__(self)
        self.in_features = 0
        self.out_features = _check_positive_int("LazyLinear", "out_features", out_features)
        self.weight = UninitializedParameter(empty(0, dtype=dtype, device=device))
        if bias:
            self.bias = UninitializedParameter(empty(0, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)

    def has_uninitialized_params(self) -> bool:
        return any(isinstance(p, UninitializedParameter) for p in self._parameters.values())

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.in_features:
            super().reset_parameters()

    def initialize_parameters(self, input):  # noqa: A002 - torch's name
        """Materialise weight (out_features, input.shape[-1]) and bias from the first input, then init them."""
        if not isinstance(input, Tensor):
            raise TypeError(f"LazyLinear: input must be a minigrad Tensor, got {type(input).__name__}")
        if input.ndim == 0 or input.shape[-1] == 0:
            raise ValueError(f"LazyLinear: cannot infer in_features from input {describe(input)} "
                             "(expected (*, in_features) with in_features > 0)")
        if self.has_uninitialized_params():
            self.in_features = int(input.shape[-1])
            self.weight.materialize((self.out_features, self.in_features))
            if self.bias is not None:
                self.bias.materialize((self.out_features,))
            self.reset_parameters()

    def forward(self, input):  # noqa: A002 - torch's name
        self.initialize_parameters(input)
        self.__class__ = self.cls_to_become  # a plain Linear from now on (as torch)
        return Linear.forward(self, input)


class _LazyBatchNorm(_BatchNorm):
    """A batch norm whose num_features (C = input.shape[1]) is inferred from the first input (torch's
    nn.LazyBatchNorm1d/2d/3d), with LazyLinear's simplifications: until the first call `weight`/`bias` are
    0-element `UninitializedParameter`s and `running_mean`/`running_var` 0-element buffers; the first
    forward gives them C elements, initialises them as the batch norm does, and the module becomes
    `cls_to_become` (BatchNorm1d/2d/3d).

    Args: eps, momentum, affine, track_running_stats, device, dtype: as BatchNorm1d.
    """

    cls_to_become = None  # set by each subclass

    def __init__(self, eps: float = 1e-5, momentum=0.1, affine: bool = True, track_running_stats: bool = True,
                 device=None, dtype=None):
        super().__init__(1, eps, momentum, affine, track_running_stats, device=device, dtype=dtype)
        self.num_features = 0
        for name in ("weight", "bias"):
            if self._parameters.get(name) is not None:
                setattr(self, name, UninitializedParameter(empty(0, dtype=dtype, device=device)))
        for name in ("running_mean", "running_var"):
            if self._buffers.get(name) is not None:
                setattr(self, name, empty(0, dtype=dtype, device=device))

    def has_uninitialized_params(self) -> bool:
        return any(isinstance(p, UninitializedParameter) for p in self._parameters.values())

    def reset_parameters(self):
        if self.num_features:  # nothing to initialise before the first input
            super().reset_parameters()

    def initialize_parameters(self, input):  # noqa: A002 - torch's name
        """Give weight, bias, running_mean and running_var C = input.shape[1] elements, then initialise them."""
        if not isinstance(input, Tensor):
            raise TypeError(f"{type(self).__name__}: input must be a minigrad Tensor, got {type(input).__name__}")
        self.cls_to_become._check_input_dim(self, input)  # the rank the batch norm accepts, before shape[1]
        if not self.num_features:
            if input.shape[1] == 0:
                raise ValueError(f"{type(self).__name__}: cannot infer num_features from {describe(input)} (C = 0)")
            self.num_features = int(input.shape[1])
            for p in self._parameters.values():
                if isinstance(p, UninitializedParameter):
                    p.materialize((self.num_features,))
            for name in ("running_mean", "running_var"):
                buf = self._buffers.get(name)
                if buf is not None:  # same dtype and device as the placeholder
                    setattr(self, name, empty(self.num_features, dtype=buf.dtype, device=buf.device))
            self.reset_parameters()

    def forward(self, input):  # noqa: A002 - torch's name
        self.initialize_parameters(input)
        self.__class__ = self.cls_to_become  # a plain batch norm from now on (as torch)
        return self.forward(input)


class LazyBatchNorm1d(_LazyBatchNorm):
    __doc__ = _LazyBatchNorm.__doc__
    cls_to_become = BatchNorm1d


class LazyBatchNorm2d(_LazyBatchNorm):
    __doc__ = _LazyBatchNorm.__doc__
    cls_to_become = BatchNorm2d


class LazyBatchNorm3d(_LazyBatchNorm):
    __doc__ = _LazyBatchNorm.__doc__
    cls_to_become = BatchNorm3d
