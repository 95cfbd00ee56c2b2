"""Generic layers: Linear, Embedding, Dropout, LayerNorm, activations and containers (torch's API).

Each layer owns its Parameters and calls one function of `minigrad.functional`
in `forward`; the gradients come from the ops' hand-written backward passes, so
nothing here writes a backward.
"""
from __future__ import annotations

import numbers
from collections import OrderedDict

from .. import functional as F
from ..autograd import no_grad
from ..factory import empty, ones, zeros
from . import init
from .module import Module, Parameter

__all__ = [
    "Linear", "Embedding", "Dropout", "LayerNorm", "Identity", "Flatten",
    "Tanh", "ReLU", "GELU", "Sigmoid", "Softplus", "Softmax", "LogSoftmax",
    "Sequential", "ModuleList", "ModuleDict",
]


def _check_positive_int(layer: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{layer}: {name} must be a positive int, got {value!r}")
    return int(value)


# ---------------------------------------------------------------- parametrised layers
class Linear(Module):
    """y = x W^T + b, applied to the last dimension of x.

    Args:
        in_features: size of each input's last dimension.
        out_features: size of each output's last dimension.
        bias: learn an additive bias (default True).
        device, dtype: where and in what float type to create the parameters
            (default: 'cpu' and the default dtype, float32).

    Attributes:
        weight: Parameter of shape (out_features, in_features), U(-k, k) with k = 1/sqrt(in_features)
            (torch's kaiming_uniform_(a=sqrt(5))).
        bias: Parameter of shape (out_features,), U(-k, k); None when bias=False.

    Shape: input (*, in_features) -> output (*, out_features).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.in_features = _check_positive_int("Linear", "in_features", in_features)
        self.out_features = _check_positive_int("Linear", "out_features", out_features)
        self.weight = Parameter(empty(out_features, in_features, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(empty(out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """torch's default: kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)), same bound for bias."""
        init._default_linear_init_(self.weight, self.bias)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table: row i of `weight` is the vector of token i.

    Args:
        num_embeddings: size of the vocabulary (rows).
        embedding_dim: size of each vector (columns).
        padding_idx: this row starts at zero and never receives a gradient (e.g. the PAD token);
            negative values count from the end, as in torch.
        max_norm, norm_type: if given, looked-up rows with a larger norm_type-norm are scaled in
            place to norm max_norm at each forward, as torch's (see `F.embedding`).
        scale_grad_by_freq: divide each row's gradient by its count in the mini-batch.
        sparse: ask `F.embedding` for a row-sparse gradient (only the looked-up rows), which saves
            memory and time for large vocabularies; optimizers must support it.
        _weight, _freeze: torch's private arguments (kept for their position): a given
            (num_embeddings, embedding_dim) table to use as the weight, and whether it is frozen.
        device, dtype: where and in what float type to create the weight.

    Attributes:
        weight: Parameter (num_embeddings, embedding_dim), initialised N(0, 1) (torch's default).

    Shape: integer input (*) -> output (*, embedding_dim).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None, max_norm=None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False,
                 _weight=None, _freeze: bool = False, device=None, dtype=None):
        super().__init__()
        self.num_embeddings = _check_positive_int("Embedding", "num_embeddings", num_embeddings)
        self.embedding_dim = _check_positive_int("Embedding", "embedding_dim", embedding_dim)
        if padding_idx is not None:
            if not isinstance(padding_idx, numbers.Integral) or not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx must be an int in [{-num_embeddings}, {num_embeddings - 1}] "
                                 f"(within num_embeddings), got {padding_idx!r}")
            padding_idx = int(padding_idx) % num_embeddings
        self.padding_idx = padding_idx
        self.max_norm, self.norm_type, self.scale_grad_by_freq = max_norm, norm_type, bool(scale_grad_by_freq)
        self.sparse = bool(sparse)
        if _weight is None:
            self.weight = Parameter(empty(num_embeddings, embedding_dim, dtype=dtype, device=device),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:  # torch's (private) way in for a given table: used as it is, not re-initialised
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight has shape {tuple(_weight.shape)}, expected "
                                 f"({num_embeddings}, {embedding_dim}) (num_embeddings, embedding_dim)")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self):
        """N(0, 1) entries; the padding row (if any) set to zero."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx=None, max_norm=None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False):
        """An Embedding whose weight is a copy of the 2-D tensor/array `embeddings`; frozen by default."""
        from ..tensor import Tensor, tensor as _tensor

        # (a Tensor stays on its device, as torch's, even inside `with mg.device(...)`; host data follows
        # the default device, as mg.tensor: a NumPy 2 array's own .device is always 'cpu', so it is not asked)
        w = embeddings.detach().clone() if isinstance(embeddings, Tensor) else _tensor(embeddings)
        if w.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape {tuple(w.shape)}")
        emb = cls(w.shape[0], w.shape[1], padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
                  scale_grad_by_freq=scale_grad_by_freq, sparse=sparse, device=w.device, dtype=w.dtype)
        with no_grad():
            emb.weight.copy_(w)
        emb.weight.requires_grad_(not freeze)
        return emb

    def forward(self, input):  # noqa: A002 - torch's name
        return F.embedding(input, self.weight, padding_idx=self.padding_idx, max_norm=self.max_norm,
                           norm_type=self.norm_type, scale_grad_by_freq=self.scale_grad_by_freq, sparse=self.sparse)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += ", scale_grad_by_freq=True"
        if self.sparse:
            s += ", sparse=True"
        return s


class LayerNorm(Module):
    """Normalise each sample over its trailing `normalized_shape` dims, then scale and shift.

    y = (x - mean) / sqrt(var + eps) * weight + bias, with mean and (biased) var taken over
    the last len(normalized_shape) dims. One fused op (`F.layer_norm`) with a hand-written backward.

    Args:
        normalized_shape: int or tuple: the trailing shape to normalise over.
        eps: added to the variance for numerical stability.
        elementwise_affine: learn `weight` (init 1) and `bias` (init 0) of shape normalized_shape.
        bias: with elementwise_affine, also learn the bias (default True).
        device, dtype: where and in what float type to create the parameters.
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(_check_positive_int("LayerNorm", "normalized_shape", s)
                                      for s in normalized_shape)
        if not self.normalized_shape:
            raise ValueError("LayerNorm: normalized_shape must name at least one dimension")
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        if self.elementwise_affine:
            self.weight = Parameter(ones(*self.normalized_shape, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(zeros(*self.normalized_shape, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self):
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


# ---------------------------------------------------------------- parameter-free layers
class Dropout(Module):
    """During training, zero each element with probability p and scale the rest by 1/(1-p).

    In eval mode (`module.eval()`) it is the identity, so evaluation is deterministic.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)
        self.inplace = inplace

    def forward(self, x):
        return F.dropout(x, self.p, training=self.training, inplace=self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Identity(Module):
    """y = x (a placeholder; accepts and ignores any constructor arguments, as torch's)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Flatten(Module):
    """Flatten dims start_dim..end_dim into one (default: all but the batch dim)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return F.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim `dim` into `unflattened_size` (torch.nn.Unflatten; one size may be -1)."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x):
        return x.unflatten(self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Tanh(Module):
    """y = tanh(x)"""

    def forward(self, x):
        return F.tanh(x)


class ReLU(Module):
    """y = max(x, 0) (inplace=True: written into x, see F.relu)"""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.relu(x, self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class GELU(Module):
    """y = x * Phi(x), Phi the standard normal CDF (approximate="tanh": torch's tanh form)"""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Sigmoid(Module):
    """y = 1 / (1 + e^-x)"""

    def forward(self, x):
        return F.sigmoid(x)


class Softplus(Module):
    """y = log(1 + e^(beta x)) / beta, and y = x where beta x > threshold (torch's definition).

    With the defaults (beta=1, threshold=20) this is the stable softplus op itself: above
    the threshold the two differ by less than e^-20 (below float32's resolution there).
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        if not beta > 0:
            raise ValueError(f"Softplus: beta must be positive, got {beta}")
        self.beta, self.threshold = float(beta), float(threshold)

    def forward(self, x):
        if self.beta == 1.0 and self.threshold >= 20.0:
            return F.softplus(x)
        bx = x * self.beta
        return F.where(bx > self.threshold, x, F.softplus(bx) / self.beta)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(Module):
    """y = softmax(x) along `dim`. dim=None (torch's default) picks torch's legacy implicit dim: 0 for 0-, 1- and 3-D
    inputs, else 1, with torch's deprecation warning."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """y = log softmax(x) along `dim` (computed as x - logsumexp(x)). dim=None (torch's default) picks
    torch's legacy implicit dim: 0 for 0-, 1- and 3-D inputs, else 1, with torch's deprecation warning."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.log_softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


# ---------------------------------------------------------------- containers
def _check_module(container: str, key, m):
    if not isinstance(m, Module):
        raise TypeError(f"{container}: entry {key!r} is a {type(m).__name__}, not a Module")
    return m


def _index(container: str, idx, n: int) -> int:
    if not isinstance(idx, numbers.Integral):
        raise TypeError(f"{container}: indices must be integers or slices, got {type(idx).__name__}")
    if not -n <= idx < n:
        raise IndexError(f"{container}: index {idx} is out of range for {n} module(s)")
    return int(idx) % n


class Sequential(Module):
    """Modules applied one after the other: Sequential(a, b, c)(x) == c(b(a(x))).

    Build it from modules (named "0", "1", ...) or from an OrderedDict of name -> module.
    Supports len(), iteration, indexing (a slice gives a new Sequential) and append().
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], (OrderedDict, dict)):
            for name, m in args[0].items():
                self.add_module(str(name), _check_module("Sequential", name, m))
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), _check_module("Sequential", i, m))

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def append(self, module: Module) -> "Sequential":
        self.add_module(str(len(self._modules)), _check_module("Sequential", len(self._modules), module))
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        items = list(self._modules.items())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(items[idx]))
        return items[_index("Sequential", idx, len(items))][1]

    def __setitem__(self, idx, module):
        name = list(self._modules)[_index("Sequential", idx, len(self._modules))]
        setattr(self, name, _check_module("Sequential", idx, module))


class ModuleList(Module):
    """A list of modules whose parameters are registered (a plain Python list would hide them).

    Not callable itself: iterate over it in your forward.
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def append(self, module: Module) -> "ModuleList":
        self.add_module(str(len(self._modules)), _check_module("ModuleList", len(self._modules), module))
        return self

    def extend(self, modules) -> "ModuleList":
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        mods = list(self._modules.values())
        n = len(mods)
        index = max(0, min(n, index + n if index < 0 else index))
        mods.insert(index, _check_module("ModuleList", index, module))
        self._rebuild(mods)

    def _rebuild(self, mods):
        for name in list(self._modules):
            delattr(self, name)
        for i, m in enumerate(mods):
            self.add_module(str(i), m)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return ModuleList(mods[idx])
        return mods[_index("ModuleList", idx, len(mods))]

    def __setitem__(self, idx, module):
        setattr(self, str(_index("ModuleList", idx, len(self._modules))), _check_module("ModuleList", idx, module))

    def __delitem__(self, idx):
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            del mods[idx]
        else:
            del mods[_index("ModuleList", idx, len(mods))]
        self._rebuild(mods)

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList is not callable: iterate over it in your module's forward()")


class ModuleDict(Module):
    """A dict of name -> module whose parameters are registered; keeps insertion order."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        if key not in self._modules:
            raise KeyError(f"ModuleDict: no module named {key!r}; have {list(self._modules)}")
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(key, str) or not key or "." in key:
            raise KeyError(f"ModuleDict: keys must be non-empty strings without '.', got {key!r}")
        self.add_module(key, _check_module("ModuleDict", key, module))

    def __delitem__(self, key: str) -> None:
        self[key]  # noqa: B018 - raises a clear KeyError when missing
        delattr(self, key)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key) -> bool:
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def pop(self, key: str) -> Module:
        m = self[key]
        del self[key]
        return m

    def clear(self) -> None:
        for k in list(self._modules):
            del self[k]

    def update(self, modules) -> None:
        items = modules.items() if hasattr(modules, "items") else modules
        for k, m in items:
            self[k] = m

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleDict is not callable: look modules up by name in your forward()")
