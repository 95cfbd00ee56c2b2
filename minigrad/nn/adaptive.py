"""`nn.AdaptiveLogSoftmaxWithLoss`: Grave et al.'s adaptive softmax for large vocabularies (torch's module).

The classes are split by `cutoffs` into a frequent shortlist [0, c_0) and tail clusters
[c_0, c_1), [c_1, c_2), ...; the head is one softmax over the shortlist plus one entry per
cluster, and cluster i has its own small softmax behind a projection to
in_features // div_value ** (i + 1) features. So

    log p(y | x) = log_softmax(head(x))[y]                                      if y < c_0
                 = log_softmax(head(x))[c_0 + i] + log_softmax(tail_i(x))[y - c_i]   if y in cluster i

Composed from public ops (Linear, log_softmax, gather, index_select, cat); nothing here writes a backward.
Parameter names and shapes are torch's (head.weight, tail.{i}.0.weight, tail.{i}.1.weight), so a
torch state_dict loads as is.
"""
from __future__ import annotations

from collections import namedtuple

from .. import backend as _B
from .. import functional as F
from ..ops.common import describe
from ..ops.reduce import argmax
from ..ops.shape import cat, index_select
from ..tensor import Tensor, tensor
from .layers import Linear, ModuleList, Sequential
from .module import Module

np = _B.np  # host-side index bookkeeping only

__all__ = ["AdaptiveLogSoftmaxWithLoss"]

def _index(host, device):
    """An int64 index tensor from host (NumPy) positions, on `device`."""
    return tensor(host.astype(np.int64), device=device)


_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])  # torch's name: forward's (output, loss)


class AdaptiveLogSoftmaxWithLoss(Module):
    """Efficient softmax approximation for many classes sorted by frequency (torch's nn.AdaptiveLogSoftmaxWithLoss).

    Args:
        in_features: features of the input (the last dim).
        n_classes: number of classes.
        cutoffs: increasing, unique ints in [1, n_classes - 1]: where the shortlist and the clusters end.
        div_value: cluster i projects to in_features // div_value ** (i + 1) features (default 4.0).
        head_bias: give the head Linear a bias (default False).
        device, dtype: where and in what float type to create the parameters.

    forward(input (B, in_features) or (in_features,), target (B,) or () ints) returns the namedtuple
    (output, loss): output[b] = log p(target[b] | input[b]); loss = mean of -output.
    `log_prob(input)` gives all (B, n_classes) log-probabilities; `predict(input)` the most likely class.
    """

    def __init__(self, in_features: int, n_classes: int, cutoffs, div_value: float = 4.0, head_bias: bool = False,
                 device=None, dtype=None):
        super().__init__()
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise ValueError("AdaptiveLogSoftmaxWithLoss: cutoffs should be a sequence of length larger than 0")
        if (cutoffs != sorted(cutoffs) or min(cutoffs) <= 0 or max(cutoffs) > n_classes - 1
                or len(set(cutoffs)) != len(cutoffs) or any(int(c) != c for c in cutoffs)):
            raise ValueError("AdaptiveLogSoftmaxWithLoss: cutoffs should be a sequence of unique, positive integers "
                             "sorted in an increasing order, where each value is between 1 and n_classes-1, got "
                             f"cutoffs={cutoffs} with n_classes={n_classes}")
        self.in_features, self.n_classes = in_features, n_classes
        self.cutoffs = [int(c) for c in cutoffs] + [n_classes]
        self.div_value, self.head_bias = div_value, head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        kw = dict(device=device, dtype=dtype)
        self.head = Linear(in_features, self.head_size, bias=head_bias, **kw)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hsz = int(in_features // (div_value ** (i + 1)))
            osz = self.cutoffs[i + 1] - self.cutoffs[i]
            if hsz < 1:  # torch builds a zero-width Linear (its cluster is then uniform); minigrad's Linear refuses
                raise ValueError(f"AdaptiveLogSoftmaxWithLoss: cluster {i} would project to in_features // "
                                 f"div_value ** {i + 1} = {in_features} // {div_value ** (i + 1)} = 0 features; "
                                 "use more in_features, a smaller div_value or fewer cutoffs")
            self.tail.append(Sequential(Linear(in_features, hsz, bias=False, **kw), Linear(hsz, osz, bias=False, **kw)))

    def reset_parameters(self) -> None:
        """Re-initialise the head and every tail projection (Linear's default init)."""
        self.head.reset_parameters()
        for i2h, h2o in self.tail:
            i2h.reset_parameters()
            h2o.reset_parameters()

    def _check(self, input, target):  # noqa: A002
        name = type(self).__name__
        if not isinstance(input, Tensor) or not isinstance(target, Tensor):
            raise TypeError(f"{name}: input and target must be minigrad Tensors, got {type(input).__name__} and "
                            f"{type(target).__name__}")
        if target.ndim == 1:
            if input.ndim == 0 or input.shape[0] != target.shape[0]:
                raise RuntimeError(f"{name}: Input and target should have the same size in the batch dimension, got "
                                   f"input {describe(input)} and target {describe(target)}")
            if input.ndim != 2:
                raise RuntimeError(f"{name}: 1D target tensor expects 2D input tensors, but found input "
                                   f"{describe(input)}")
        elif target.ndim == 0:
            if input.ndim != 1:
                raise RuntimeError(f"{name}: 0D target tensor expects 1D input tensors, but found input "
                                   f"{describe(input)}")
        else:
            raise RuntimeError(f"{name}: 0D or 1D target tensor expected, multi-target not supported, got target "
                               f"{describe(target)}")
        if target.dtype.kind not in "iu":
            raise TypeError(f"{name}: target must hold integer class indices, got {describe(target)}")

    def forward(self, input, target):  # noqa: A002
        self._check(input, target)
        batched = target.ndim > 0
        x = input if batched else input.unsqueeze(0)
        t = (target if batched else target.unsqueeze(0)).detach().cpu().numpy().astype(np.int64)
        if t.size and (t.min() < 0 or t.max() >= self.n_classes):
            raise RuntimeError(f"{type(self).__name__}: Target values should be in [0, {self.n_classes - 1}], but "
                               f"values in range [{t.min()}, {t.max()}] were found.")
        dev = x.device
        # head entry of each row: its class in the shortlist, else its cluster's entry
        cluster = np.searchsorted(np.asarray(self.cutoffs), t, side="right")  # 0 = shortlist, i = tail i - 1
        head_index = np.where(cluster == 0, t, self.shortlist_size + cluster - 1)
        head_lp = F.log_softmax(self.head(x), dim=1)
        output = head_lp.gather(1, _index(head_index[:, None], device=dev)).squeeze(1)
        # tail clusters: each row's log-probability within its cluster, computed on that cluster's rows only
        parts, where = [x.new_zeros(1)], np.zeros(len(t), dtype=np.int64)  # rows of the shortlist read the 0
        filled = 1
        for i in range(1, self.n_clusters + 1):
            rows = np.nonzero(cluster == i)[0]
            if rows.size == 0:
                continue
            sub = index_select(x, 0, _index(rows, device=dev))
            local = F.log_softmax(self.tail[i - 1](sub), dim=1)
            rel = (t[rows] - self.cutoffs[i - 1])[:, None]
            parts.append(local.gather(1, _index(rel, device=dev)).squeeze(1))
            where[rows] = filled + np.arange(rows.size)
            filled += rows.size
        if filled > 1:
            output = output + index_select(cat(parts), 0, _index(where, device=dev))
        loss = (-output).mean()
        return _ASMoutput(output if batched else output.squeeze(0), loss)

    def _full_log_prob(self, input, head_output):  # noqa: A002
        head_lp = F.log_softmax(head_output, dim=1)
        cols = [head_lp[:, :self.shortlist_size]]
        for i in range(self.n_clusters):
            cluster_lp = F.log_softmax(self.tail[i](input), dim=1)
            cols.append(cluster_lp + head_lp[:, self.shortlist_size + i:self.shortlist_size + i + 1])
        return cat(cols, dim=1)

    def log_prob(self, input):  # noqa: A002
        """All log-probabilities (B, n_classes) of input (B, in_features)."""
        return self._full_log_prob(input, self.head(input))

    def predict(self, input):  # noqa: A002
        """The most likely class of each row of input (B, in_features), int64 (B,): the head's argmax when it
        is a shortlist class, else the argmax of the full log-probabilities (computed for those rows only)."""
        head_output = self.head(input)
        output = argmax(head_output, dim=1)
        outside = np.nonzero(output.detach().cpu().numpy() >= self.shortlist_size)[0]
        if outside.size == 0:
            return output
        rows = _index(outside, device=input.device)
        lp = self._full_log_prob(index_select(input, 0, rows), index_select(head_output, 0, rows))
        output = output.detach().clone()
        output[rows] = argmax(lp, dim=1)
        return output
