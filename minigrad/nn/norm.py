"""BatchNorm1d: batch normalisation over the channels of (N, C) or (N, C, L) inputs (torch's API and state);
RMSNorm: root-mean-square normalisation over the trailing dims."""
from __future__ import annotations

import numbers

from .. import backend as _B
from .. import functional as F
from ..factory import empty, ones, zeros
from ..ops.common import describe
from ..tensor import tensor
from . import init
from .layers import _check_positive_int
from .module import Module, Parameter

__all__ = ["BatchNorm1d", "RMSNorm"]


class _BatchNorm(Module):
    """Normalise each channel to zero mean and unit variance, then scale and shift (BatchNorm1d/2d/3d).

    In training mode each channel is normalised with the statistics of the batch (over N,
    and L for 3-D input; biased variance) and the running estimates are updated with the
    unbiased variance: r = (1 - momentum) * r + momentum * batch value. In eval mode
    (`module.eval()`) the running estimates are used, so outputs no longer depend on the batch.

    Args:
        num_features: C, the number of channels (dim 1 of the input).
        eps: added to the variance for numerical stability.
        momentum: weight of each new batch in the running estimates; None for a cumulative
            average (each batch weighted 1 / num_batches_tracked).
        affine: learn `weight` (init 1) and `bias` (init 0) of shape (C,).
        track_running_stats: keep the buffers `running_mean` (init 0), `running_var` (init 1) and
            `num_batches_tracked` (int64, init 0); without them eval mode also uses batch statistics.
        device, dtype: where and in what float type to create the parameters and buffers.
        bias: with affine, also learn the bias (keyword only, default True; torch's).

    Shape: (N, C) or (N, C, L) -> the same shape.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum=0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        _check_positive_int(type(self).__name__, "num_features", num_features)
        if momentum is not None and (isinstance(momentum, bool) or not isinstance(momentum, numbers.Real)):
            raise TypeError(f"{type(self).__name__}: momentum must be a float or None, got {momentum!r}")
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        if self.affine:
            self.weight = Parameter(empty(self.num_features, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(empty(self.num_features, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", zeros(self.num_features, dtype=dtype, device=device))
            self.register_buffer("running_var", ones(self.num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked",
                                 tensor(0, dtype=_B.np.int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self):
        """running_mean = 0, running_var = 1, num_batches_tracked = 0."""
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            self.num_batches_tracked.zero_()

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input):  # noqa: A002 - torch's name
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        track = self.training and self.track_running_stats
        if track and self.momentum is None:  # cumulative average: this batch weighs 1 / (batches so far)
            factor = 1.0 / (self._batches_tracked() + 1)
        # Batch statistics in training, and in eval mode when there are no running estimates.
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        out = F.batch_norm(input,
                           self.running_mean if not self.training or self.track_running_stats else None,
                           self.running_var if not self.training or self.track_running_stats else None,
                           self.weight, self.bias, use_batch, factor, self.eps)
        if track:  # counted after a successful step (a refused batch leaves the state alone)
            done = self._batches_tracked() + 1 if self.momentum is None else None
            self.num_batches_tracked.add_(1)
            if done is not None:
                self._remember_batches(done)
        return out

    def _check_input_dim(self, input):  # noqa: A002 - each subclass accepts its own ranks
        raise NotImplementedError

    def _batches_tracked(self) -> int:
        """num_batches_tracked as a host int, without reading the buffer (a GPU sync) every step.

        A host mirror is trusted while the buffer is the same tensor at the version this module
        last saw; any other write (load_state_dict, reset_running_stats, a user's in-place
        change, `.to()` replacing the buffer) bumps the version or swaps the tensor, and the
        buffer is read once more.
        """
        buf = self.num_batches_tracked
        mirror = self.__dict__.get("_batches_mirror")
        if mirror is not None and mirror[0] is buf and mirror[1] == buf._vc[0]:
            return mirror[2]
        return self._remember_batches(int(buf.item()))

    def _remember_batches(self, count: int) -> int:
        buf = self.num_batches_tracked
        self.__dict__["_batches_mirror"] = (buf, buf._vc[0], count)  # (plain attribute, not a buffer)
        return count

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    __doc__ = _BatchNorm.__doc__

    def _check_input_dim(self, input):  # noqa: A002
        if input.ndim not in (2, 3):
            raise ValueError(f"BatchNorm1d: expected a 2-D (N, C) or 3-D (N, C, L) input, got {describe(input)}")


class RMSNorm(Module):
    """Scale each sample by the inverse root mean square of its trailing `normalized_shape` dims.

    y = x / sqrt(mean(x**2) + eps) * weight, the mean over the last len(normalized_shape) dims
    (Zhang & Sennrich, 2019: LayerNorm without centring and without a bias). One fused op
    (`F.rms_norm`) with a hand-written backward.

    Args:
        normalized_shape: int or tuple: the trailing shape to normalise over.
        eps: added to the mean square; None (default) = the machine epsilon of the input's dtype
            (torch.finfo(x.dtype).eps), as torch.
        elementwise_affine: learn `weight` (init 1) of shape normalized_shape.
        device, dtype: where and in what float type to create the weight.

    Shape: (*, *normalized_shape) -> the same shape.
    """

    def __init__(self, normalized_shape, eps: float | None = None, elementwise_affine: bool = True, device=None,
                 dtype=None):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(_check_positive_int("RMSNorm", "normalized_shape", s)
                                      for s in normalized_shape)
        if not self.normalized_shape:
            raise ValueError("RMSNorm: normalized_shape must name at least one dimension")
        if eps is not None and (isinstance(eps, bool) or not isinstance(eps, numbers.Real) or eps < 0):
            raise ValueError(f"RMSNorm: eps must be a number >= 0 or None, got {eps!r}")
        self.eps = None if eps is None else float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        if self.elementwise_affine:
            self.weight = Parameter(ones(*self.normalized_shape, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self):
        """weight = 1."""
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, x):
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
