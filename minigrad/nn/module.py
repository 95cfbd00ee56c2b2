"""`Parameter` and `Module`: the containers every layer and model is built from (torch's API)."""
from __future__ import annotations

from collections import OrderedDict, namedtuple

from .. import backend as _B
from ..autograd import RemovableHandle, no_grad
from ..tensor import Tensor, to_args

np = _B.np  # dtype handling only

__all__ = ["Parameter", "Module"]

# What load_state_dict returns (torch's name): unpacks as (missing, unexpected).
class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    __slots__ = ()

    def __repr__(self):  # torch's
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


class Parameter(Tensor):
    """A Tensor that a Module registers as learnable: a leaf with requires_grad=True by default."""

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = np.zeros((0,), dtype=_B.get_default_dtype())
        src = data.data if isinstance(data, Tensor) else data
        super().__init__(src if _B.is_array(src) else data)
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of layers and models.

    Assigning a `Parameter` or a `Module` as an attribute registers it, so
    `parameters()`, `state_dict()`, `to()` and `train()/eval()` reach it.
    Subclasses define `forward(...)`; calling the module calls `forward`.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())  # buffers left out of state_dict()
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() is called "
                                 "(call super().__init__() first in your module's __init__)")
        params, modules, buffers = self._parameters, self._modules, self._buffers
        # Re-assigning a registered name keeps its place in the order (dict assignment does).
        if isinstance(value, Parameter):
            modules.pop(name, None)
            buffers.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None)
            buffers.pop(name, None)
            modules[name] = value
        elif name in params:
            if value is not None:  # as torch: a plain value never silently replaces a parameter
                raise TypeError(f"cannot assign a {type(value).__name__} as parameter {name!r} of "
                                f"{type(self).__name__} (a Parameter or None expected); wrap it in nn.Parameter(...) "
                                f"or update it in place with `with mg.no_grad(): self.{name}.copy_(value)`")
            params[name] = None  # an absent optional parameter (e.g. bias=False)
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign a {type(value).__name__} as buffer {name!r} of "
                                f"{type(self).__name__} (a Tensor or None expected)")
            buffers[name] = value  # stays registered: saved and moved by to()
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} as child module {name!r} of "
                                f"{type(self).__name__} (a Module or None expected); `del` it first")
            modules[name] = None
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for d in (self._parameters, self._modules, self._buffers):
            d.pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None):
        """Register `param` under `name`; None records an absent optional parameter (e.g. bias=False)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None, got {type(param).__name__}")
        for d in (self._modules, self._buffers):
            d.pop(name, None)
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True):
        """A non-learnable tensor that is part of the module (moved and cast with `to()`); with
        persistent=False it is left out of `state_dict()` (and not expected by `load_state_dict`)."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None, got {type(tensor).__name__}")
        for d in (self._parameters, self._modules):
            d.pop(name, None)
        object.__setattr__(self, name, tensor)
        self._buffers[name] = tensor
        non_persistent = self.__dict__.setdefault("_non_persistent_buffers_set", set())
        (non_persistent.discard if persistent else non_persistent.add)(name)

    def add_module(self, name: str, module: "Module | None"):
        if module is None:
            self._modules[name] = None
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, module)

    def register_module(self, name: str, module: "Module | None"):
        """Alias of `add_module` (torch's newer name)."""
        self.add_module(name, module)

    def get_submodule(self, target: str) -> "Module":
        """The module at dotted path `target` ("" is this module), e.g. "encoder.layers.0"."""
        mod = self
        walked = []
        for part in target.split(".") if target else []:
            child = mod._modules.get(part)
            if child is None:
                where = ".".join(walked) or type(self).__name__
                raise AttributeError(f"get_submodule: {where} has no submodule {part!r} (path {target!r}; "
                                     f"its submodules: {sorted(n for n, m in mod._modules.items() if m is not None)})")
            walked.append(part)
            mod = child
        return mod

    def get_parameter(self, target: str) -> Parameter:
        """The Parameter at dotted path `target`, e.g. "encoder.weight_ih_l0"."""
        return self._get_tensor(target, "_parameters", "get_parameter", "parameter")

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at dotted path `target`, e.g. "norm.running_mean"."""
        return self._get_tensor(target, "_buffers", "get_buffer", "buffer")

    def _get_tensor(self, target, slot, op, kind):
        path, _, name = target.rpartition(".")
        mod = self.get_submodule(path)
        value = getattr(mod, slot).get(name)
        if value is None:
            raise AttributeError(f"{op}: {type(mod).__name__} at {path or '(root)'!r} has no {kind} {name!r} "
                                 f"(its {kind}s: {sorted(k for k, v in getattr(mod, slot).items() if v is not None)})")
        return value

    # ------------------------------------------------------------ traversal
    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        """(dotted name, Parameter) pairs, each parameter once even if shared (unless remove_duplicate=False)."""
        seen = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, p in mod._parameters.items():
                if p is None or (remove_duplicate and id(p) in seen):
                    continue
                seen.add(id(p))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), p

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        """(dotted name, buffer) pairs, persistent or not, each buffer once even if shared."""
        seen = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, b in mod._buffers.items():
                if b is None or (remove_duplicate and id(b) in seen):
                    continue
                seen.add(id(b))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), b

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def named_children(self):
        """(name, child) pairs; a child registered under two names comes once (as torch)."""
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        """This module and all below it, depth first, as (dotted name, module); iterative.

        Each module once even if shared (unless remove_duplicate=False); `memo`, a set of modules
        already seen, is torch's (they are skipped and the new ones added).
        """
        if isinstance(memo, str):  # named_modules("prefix"), minigrad's older positional spelling
            memo, prefix = None, memo
        seen = set() if memo is None else {id(m) for m in memo}
        stack = [(prefix, self)]
        while stack:
            name, mod = stack.pop()
            if remove_duplicate:
                if id(mod) in seen:
                    continue
                seen.add(id(mod))
                if memo is not None:
                    memo.add(mod)
            yield name, mod
            kids = [(f"{name}.{n}" if name else n, m) for n, m in mod._modules.items() if m is not None]
            stack.extend(reversed(kids))

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    # ------------------------------------------------------------ modes
    def train(self, mode: bool = True):
        """Set training mode (mode=True) or evaluation mode on this module and all below it; returns self."""
        if not isinstance(mode, bool):
            raise ValueError(f"{type(self).__name__}.train: training mode is expected to be boolean, got {mode!r}")
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True):
        """Forget the gradients: set every parameter's .grad to None (default) or fill it with zeros."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif getattr(p.grad, "is_sparse", False):
                p.grad.zero_()  # a row-sparse gradient becomes one with no rows
            elif p.grad is not None:
                p.grad = Tensor(_B.get_array_module(p.grad.data).zeros_like(p.grad.data))

    def apply(self, fn):
        """Call fn(m) on every submodule and then on self, as torch: each child's subtree in turn, post-order
        (child.apply(fn) for each child, then fn(self)); returns self (e.g. custom init)."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def requires_grad_(self, requires_grad: bool = True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    # ------------------------------------------------------------ device / dtype
    def _apply_to_tensors(self, fn):
        """Replace every parameter's and buffer's array by fn(array), keeping the Parameter objects."""
        seen = set()  # a tensor shared by two modules is converted once
        for m in self.modules():
            for t in list(m._parameters.values()) + list(m._buffers.values()):
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                t.data = fn(t.data)
                g = t.grad
                if g is None:
                    continue
                if getattr(g, "is_sparse", False):  # a RowSparseGrad (Embedding(sparse=True)): move its parts
                    t.grad = type(g)(fn(g.indices), fn(g.values), g.shape, coalesced=g.is_coalesced())
                else:
                    t.grad = Tensor(fn(g.data))
        return self

    def to(self, *args, device=None, dtype=None, non_blocking=False):
        """Move/cast all parameters and buffers in place and return self.

        `to('cuda')`, `to(mg.float64)`, `to(device, dtype)` or `to(tensor)` (its device and dtype).
        Only floating tensors change dtype (integer buffers keep theirs), as in torch.
        `non_blocking` is accepted for torch code and has no effect (copies are synchronous).
        """
        device, dtype = to_args(args, device, dtype)
        if device is not None:
            dev = _B.parse_device(device)
            self._apply_to_tensors(lambda a: _B.to_device(a, dev))
        if dtype is not None:
            dt = np.dtype(dtype)
            if dt.kind != "f":
                raise TypeError(f"{type(self).__name__}.to: only floating dtypes are accepted, got {dt}")
            self._apply_to_tensors(lambda a: a.astype(dt, copy=False) if a.dtype.kind == "f" else a)
        return self

    def cuda(self, device=None):
        return self.to("cuda" if device is None else (f"cuda:{device}" if isinstance(device, int) else device))

    def cpu(self):
        return self.to("cpu")

    def double(self):
        return self.to(dtype=np.float64)

    def float(self):
        return self.to(dtype=np.float32)

    def half(self):
        return self.to(dtype=np.float16)

    # ------------------------------------------------------------ state
    def state_dict(self) -> "OrderedDict[str, Tensor]":
        """name -> Tensor (parameters and buffers), detached, sharing memory with the module."""
        out = OrderedDict()
        for name, t in self._state_tensors():
            out[name] = t.detach()
        return out

    def _state_tensors(self):
        """(dotted name, tensor) of the state in torch's order: each module's parameters, then its
        persistent buffers, then its children's. As in torch, a shared tensor or module appears under
        every name it has (tied weights: both `encoder.weight` and `decoder.weight`)."""
        for mod_prefix, mod in self.named_modules(remove_duplicate=False):
            skip = mod.__dict__.get("_non_persistent_buffers_set", ())
            for kind, items in (("p", mod._parameters.items()), ("b", mod._buffers.items())):
                for name, t in items:
                    if t is None or (kind == "b" and name in skip):
                        continue
                    yield (f"{mod_prefix}.{name}" if mod_prefix else name), t


    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copy values from `state_dict` into this module's parameters and buffers, in place.

        Values may be minigrad Tensors, NumPy/CuPy arrays, nested lists or torch tensors;
        each is converted to the dtype and device of the tensor it fills (the module keeps
        its own dtype and device). As in torch, a shape mismatch always raises; with
        strict=True (default) missing and unexpected keys raise too, in one error that
        names every problem key. With assign=True (torch's) each parameter/buffer is replaced
        by the given minigrad Tensor itself (no copy; its dtype and device are kept, parameters
        keep their requires_grad); other values are converted to the module's dtype and device.

        Returns:
            A named tuple (missing_keys, unexpected_keys).
        """
        own = dict(self._state_tensors())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatched = []
        for k, t in own.items():
            if k in state_dict:
                v = state_dict[k]
                shape = tuple(v.shape) if hasattr(v, "shape") else np.shape(v)
                if tuple(shape) != tuple(t.shape):
                    mismatched.append(f"{k}: checkpoint {tuple(shape)} vs model {tuple(t.shape)}")
        if mismatched or (strict and (missing or unexpected)):
            parts = []
            if strict and missing:
                parts.append("missing keys: " + ", ".join(missing))
            if strict and unexpected:
                parts.append("unexpected keys: " + ", ".join(unexpected))
            if mismatched:
                parts.append("shape mismatches: " + "; ".join(mismatched))
            raise RuntimeError(f"load_state_dict into {type(self).__name__}: " + " | ".join(parts))
        with no_grad():
            for k, t in own.items():
                if k not in state_dict:
                    continue
                v = state_dict[k]
                if assign and isinstance(v, Tensor):
                    self._assign_tensor(k, t, v)
                    continue
                if isinstance(v, Tensor):
                    v = v.data
                elif hasattr(v, "detach") and hasattr(v, "cpu") and hasattr(v, "numpy"):  # a torch tensor
                    v = v.detach().cpu()
                    v = (v.float() if str(v.dtype) == "torch.bfloat16" else v).numpy()
                try:
                    arr = _B.as_array(v, dtype=t.data.dtype, device=t.device)
                except (TypeError, ValueError) as e:
                    raise TypeError(f"load_state_dict into {type(self).__name__}: cannot convert the value of "
                                    f"{k!r} ({type(v).__name__}) to a {t.data.dtype} array: {e}") from None
                t.data[...] = arr
                t._bump()  # bumps the version: stale graphs notice
        return _IncompatibleKeys(missing, unexpected)

    def _assign_tensor(self, key, old, value):
        """load_state_dict(assign=True): the owner of `key` now holds `value` itself (a Parameter for a parameter)."""
        path, _, name = key.rpartition(".")
        owner = self.get_submodule(path)
        if name in owner._parameters:
            new = Parameter(value.detach(), requires_grad=old.requires_grad)
            owner._parameters[name] = new
        else:
            new = value.detach()
            owner._buffers[name] = new
        object.__setattr__(owner, name, new)

    # ------------------------------------------------------------ calling and printing
    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        d = self.__dict__
        if "_forward_pre_hooks" in d:  # (modules without hooks pay one dict lookup each way)
            for hook in list(d["_forward_pre_hooks"].values()):
                new = hook(self, args)
                if new is not None:
                    args = new if isinstance(new, tuple) else (new,)
        out = self.forward(*args, **kwargs)
        if "_forward_hooks" in d:
            for hook in list(d["_forward_hooks"].values()):
                new = hook(self, args, out)
                if new is not None:
                    out = new
        return out

    # ------------------------------------------------------------ forward hooks (torch's API)
    def register_forward_pre_hook(self, hook):
        """hook(module, args) runs before each forward; returning a tuple (or one value) replaces args.

        Returns a handle: `.remove()` unregisters the hook.
        """
        return self._add_hook("_forward_pre_hooks", hook, "register_forward_pre_hook")

    def register_forward_hook(self, hook):
        """hook(module, args, output) runs after each forward; returning a value replaces the output.

        E.g. record every layer's activation: `layer.register_forward_hook(lambda m, a, out: acts.append(out))`.
        Returns a handle: `.remove()` unregisters the hook.
        """
        return self._add_hook("_forward_hooks", hook, "register_forward_hook")

    def _add_hook(self, slot, hook, op):
        if not callable(hook):
            raise TypeError(f"{op}: expected a callable hook, got {type(hook).__name__}")
        if slot not in self.__dict__:
            object.__setattr__(self, slot, OrderedDict())
        return RemovableHandle(self.__dict__[slot], hook)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        # torch's layout: a one-line extra_repr alone stays inline; otherwise every line is indented
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()]
        lines = extra_lines + child_lines
        head = f"{type(self).__name__}("
        if len(extra_lines) == 1 and not child_lines:
            return head + extra_lines[0] + ")"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"
