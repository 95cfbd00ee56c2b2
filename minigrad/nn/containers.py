"""ParameterList and ParameterDict: registered lists/dicts of Parameters (torch's API).

A plain Python list of Parameters assigned to a module is invisible to
`parameters()`, `state_dict()` and `to()`; these containers register each entry,
named "0", "1", ... (list) or by its key (dict), as torch does.
"""
from __future__ import annotations

import numbers

from ..tensor import Tensor
from .module import Module, Parameter

__all__ = ["ParameterList", "ParameterDict"]


def _as_parameter(container: str, key, value) -> Parameter:
    """A Parameter as is; any other Tensor wrapped in a new Parameter (requires grad), as torch does."""
    if isinstance(value, Parameter):
        return value
    if isinstance(value, Tensor):
        return Parameter(value)
    raise TypeError(f"{container}: entry {key!r} must be a Parameter or a Tensor, got {type(value).__name__}")


def _param_repr(p) -> str:
    return f"Parameter containing: [{p.dtype} of size {list(p.shape)} on {p.device}]"


class _ParameterContainer(Module):
    """What ParameterList and ParameterDict share: len(), the repr of their entries, and no forward()."""

    _not_callable_hint = ""  # how to use the container instead of calling it (set by each subclass)

    def __len__(self):
        return len(self._parameters)

    def extra_repr(self) -> str:
        return "\n".join(f"  ({name}): {_param_repr(p)}" for name, p in self._parameters.items())

    def __repr__(self):
        body = self.extra_repr()
        return f"{type(self).__name__}(\n{body}\n)" if body else f"{type(self).__name__}()"

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} is not callable: {self._not_callable_hint}")


class ParameterList(_ParameterContainer):
    """A list of Parameters registered under the names "0", "1", ...

    Tensors that are not Parameters are wrapped in one. Supports len(), iteration,
    indexing (a slice gives a new ParameterList), append(), extend() and assignment.

    Example::

        self.scales = nn.ParameterList([nn.Parameter(mg.ones(d)) for _ in range(layers)])
    """

    _not_callable_hint = "index it in your module's forward()"

    def __init__(self, values=None):
        super().__init__()
        if values is not None:
            self.extend(values)

    def _index(self, idx) -> int:
        n = len(self._parameters)
        if isinstance(idx, bool) or not isinstance(idx, numbers.Integral):
            raise TypeError(f"ParameterList: indices must be integers or slices, got {type(idx).__name__}")
        if not -n <= idx < n:
            raise IndexError(f"ParameterList: index {idx} is out of range for {n} parameter(s)")
        return int(idx) % n

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ParameterList(list(self)[idx])
        return self._parameters[str(self._index(idx))]

    def __setitem__(self, idx, param):
        i = self._index(idx)
        setattr(self, str(i), _as_parameter("ParameterList", i, param))

    def __iter__(self):
        return iter(self._parameters.values())

    def append(self, value) -> "ParameterList":
        i = len(self._parameters)
        setattr(self, str(i), _as_parameter("ParameterList", i, value))
        return self

    def extend(self, values) -> "ParameterList":
        if isinstance(values, Tensor):  # iterating a tensor would add its rows one by one
            raise TypeError("ParameterList.extend: expected an iterable of Parameters, got a single Tensor; "
                            "use append()")
        for v in values:
            self.append(v)
        return self


class ParameterDict(_ParameterContainer):
    """An ordered dict of name -> Parameter, each registered under its key.

    Keys are non-empty strings without '.'; Tensors that are not Parameters are wrapped
    in one. Supports [], in, len(), iteration over keys, keys/values/items, update, pop
    and clear.
    """

    _not_callable_hint = "look parameters up by key in your forward()"

    def __init__(self, parameters=None):
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key: str) -> Parameter:
        if key not in self._parameters:
            raise KeyError(f"ParameterDict: no parameter named {key!r}; have {list(self._parameters)}")
        return self._parameters[key]

    def __setitem__(self, key: str, value) -> None:
        if not isinstance(key, str) or not key or "." in key:
            raise KeyError(f"ParameterDict: keys must be non-empty strings without '.', got {key!r}")
        if hasattr(type(self), key) or (key in self.__dict__ and key not in self._parameters):
            # e.g. "keys" would hide the method, "training" would replace the module's flag
            raise KeyError(f"ParameterDict: key {key!r} is the name of a ParameterDict attribute")
        setattr(self, key, _as_parameter("ParameterDict", key, value))

    def __delitem__(self, key: str) -> None:
        self[key]  # noqa: B018 - a clear KeyError when missing
        delattr(self, key)

    def __iter__(self):
        return iter(self._parameters)

    def __contains__(self, key) -> bool:
        return key in self._parameters

    def keys(self):
        return self._parameters.keys()

    def values(self):
        return self._parameters.values()

    def items(self):
        return self._parameters.items()

    def get(self, key: str, default=None):
        return self._parameters.get(key, default)

    def pop(self, key: str) -> Parameter:
        p = self[key]
        del self[key]
        return p

    def clear(self) -> None:
        for k in list(self._parameters):
            del self[k]

    def update(self, parameters) -> None:
        items = parameters.items() if hasattr(parameters, "items") else parameters
        for k, v in items:
            self[k] = v
