"""`Parameter` and `Module`: the containers every layer and model is built from (torch's API)."""
from __future__ import annotations

import warnings
from collections import OrderedDict, namedtuple
from collections.abc import Mapping

from .. import backend as _B
from ..autograd import RemovableHandle, _user_stacklevel, is_grad_enabled, no_grad
from ..ops.hooks import backward_hook_identity
from ..tensor import Tensor, _wrap, check_dtype, to_args, type_name_args
from .buffer import Buffer

np = _B.np  # dtype handling only

__all__ = ["Parameter", "Module", "register_module_forward_pre_hook", "register_module_forward_hook",
           "register_module_full_backward_pre_hook", "register_module_full_backward_hook"]

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
        if requires_grad and self.ndim == 0 and self.dtype.kind in "iub":
            # torch.Tensor(n) is torch's legacy "n uninitialized floats"; mg.Tensor(n) is the number n
            raise TypeError(f"Parameter: got a 0-d {self.dtype} tensor ({self.item()}); a parameter must be "
                            "floating-point. For torch's legacy nn.Parameter(torch.Tensor(n)) (n uninitialized "
                            "floats) write nn.Parameter(mg.empty(n)): mg.Tensor(n) is the number n")
        if requires_grad:
            self.requires_grad_(True)

    def __setattr__(self, name, value):
        # torch's `p.data = t` (HF's `bias.data = F.pad(...)`, `param.data = new`) puts t's values in p; here
        # `.data` is the raw array, and a Tensor stored there only failed later, deep in an op or backward.
        # Parameters only: plain Tensors keep their fast constructor (ops.common.refuse_tensor_data).
        if name == "data" and not _B.is_array(value):
            raise TypeError(f"Parameter.data must be a backend array, got {type(value).__name__}: `.data` is the "
                            "raw array in minigrad, so torch's `p.data = t` ports as `p.data = t.data` (t's "
                            "memory) or `with mg.no_grad(): p.copy_(t)` (same shape)")
        if name == "data" and value.dtype.kind not in "biuf":  # complex (or text) data: refused, as everywhere
            check_dtype(value.dtype, "Parameter.data")
        object.__setattr__(self, name, value)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


_NO_INPUT_GRAD_WARNING = (
    "Full backward hook is firing when gradients are computed with respect to module outputs since no inputs "
    "require gradients. See https://docs.pytorch.org/docs/main/generated/torch.nn.Module.html"
    "#torch.nn.Module.register_full_backward_hook for more details.")


class _BackwardHooks:
    """One module call's backward hooks: torch.utils.hooks.BackwardHook's protocol, on minigrad's engine.

    The call's Tensor inputs go through one identity node (`BackwardHookFunction`) and its
    Tensor outputs through another. Backward reaches the outputs' node first: it records
    grad_output (after the pre-hooks, which may replace it). The inputs' node comes later,
    once every gradient w.r.t. the inputs is summed: the full hooks see grad_input there,
    with the recorded grad_output, and may replace grad_input. Nothing here refers to a
    tensor of the graph (only the gradients between the two nodes), so no cycle is formed.
    """

    __slots__ = ("module", "hooks", "pre_hooks", "grad_outputs", "n_inputs", "input_idx", "input_meta",
                 "n_outputs", "output_idx", "output_meta")

    def __init__(self, module, hooks, pre_hooks):
        self.module, self.hooks, self.pre_hooks = module, hooks, pre_hooks
        self.grad_outputs = None
        self.n_inputs = self.n_outputs = 0
        self.input_idx = self.output_idx = None  # positions of the Tensors wrapped (None: not wrapped)
        self.input_meta = self.output_meta = ()

    @staticmethod
    def _through_identity(values, on_backward, materialize):
        """(values with their Tensors passed through one identity node, their positions, their metadata);
        values unchanged and None when no Tensor requires grad or grad mode is off (no hook can fire)."""
        idx = [i for i, v in enumerate(values) if isinstance(v, Tensor)]
        tensors = [values[i] for i in idx]
        if not (is_grad_enabled() and any(t.requires_grad for t in tensors)):
            return values, None, ()
        outs = backward_hook_identity(tensors, on_backward, materialize)
        new = list(values)
        for i, o in zip(idx, outs):
            new[i] = o
        new = tuple(new) if type(values) is tuple else type(values)(*new)  # (a namedtuple stays one)
        return new, idx, [(t.shape, t.dtype, t.device) for t in tensors]

    def setup_inputs(self, args):
        self.n_inputs = len(args)
        args, self.input_idx, self.input_meta = self._through_identity(args, self._on_input_grads, True)
        return args

    def setup_outputs(self, result):
        single = isinstance(result, Tensor)
        if not (single or isinstance(result, tuple)):
            warnings.warn("For backward hooks to be called, module output should be a Tensor or a tuple of "
                          f"Tensors but received {type(result)}", stacklevel=_user_stacklevel())
        values = (result,) if not isinstance(result, tuple) else result
        self.n_outputs = len(values)
        # materialize=False: an output that got no gradient shows None in grad_output, as in torch
        values, self.output_idx, self.output_meta = self._through_identity(values, self._on_output_grads, False)
        return values[0] if not isinstance(result, tuple) else values

    # -------------------------------------------------------- in backward (arrays in, arrays out)
    def _tensors(self, idx, grads, n):
        """The hooks' view: a tuple of n entries, a Tensor (a copy: hooks may write into it) or None."""
        out = [None] * n
        for i, g in zip(idx, grads):
            if g is not None:
                out[i] = _wrap(g.copy(), False, None)
        return tuple(out)

    def _arrays(self, new, idx, meta, what):
        """The replacement a hook returned, back as the arrays at the wrapped positions (checked)."""
        arrays = []
        for i, (shape, dtype, device) in zip(idx, meta):
            g = new[i]
            if g is None:
                arrays.append(None)
                continue
            if not isinstance(g, Tensor):
                raise TypeError(f"{type(self.module).__name__}: a backward {what} returned a "
                                f"{type(g).__name__} at position {i}; expected a Tensor or None")
            if g.shape != shape or g.dtype != dtype or g.device != device:
                raise RuntimeError(f"{type(self.module).__name__}: a backward {what} returned a gradient "
                                   f"{g.dtype}{list(g.shape)} on {g.device} at position {i} for a tensor of "
                                   f"{dtype}{list(shape)} on {device}; it must keep the shape, dtype and device")
            arrays.append(g.data)
        return tuple(arrays)

    def _check_length(self, new, n, what, name):
        if not isinstance(new, (tuple, list)):
            raise TypeError(f"{type(self.module).__name__}: a {what} must return None or a tuple of {n} "
                            f"{name} (Tensors or None), got {type(new).__name__}")
        if len(new) != n:
            raise RuntimeError(f"{what.capitalize()} returned an invalid number of {name}, got {len(new)}, "
                               f"but expected {n}")

    def _on_output_grads(self, grads):
        """At the outputs' node: the pre-hooks see (and may replace) grad_output; recorded for the full hooks."""
        go = self._tensors(self.output_idx, grads, self.n_outputs)
        replaced = False
        for hook in self.pre_hooks:
            new = hook(self.module, go)
            if new is None:
                continue
            self._check_length(new, self.n_outputs, "backward pre hook", "grad_output")
            go, replaced = tuple(new), True
        self.grad_outputs = go
        if self.input_idx is None:  # no input requires grad: there is no inputs' node, so call the hooks now
            warnings.warn(_NO_INPUT_GRAD_WARNING, UserWarning, stacklevel=_user_stacklevel())
            gi = (None,) * self.n_inputs
            for hook in self.hooks:
                new = hook(self.module, gi, go)
                if new is not None and not (isinstance(new, (tuple, list)) and all(g is None for g in new)):
                    raise RuntimeError("Backward hook for Modules where no input requires gradient should always "
                                       "return None or None for all gradients.")
            self.grad_outputs = None
        return self._arrays(go, self.output_idx, self.output_meta, "pre hook") if replaced else grads

    def _on_input_grads(self, grads):
        """At the inputs' node: the full hooks see grad_input (and the recorded grad_output) and may replace it."""
        go = self.grad_outputs
        if go is None:  # the gradient reached the inputs without passing through this call's outputs
            return grads
        gi = self._tensors(self.input_idx, grads, self.n_inputs)
        replaced = False
        for hook in self.hooks:
            new = hook(self.module, gi, go)
            if new is None:
                continue
            self._check_length(new, self.n_inputs, "backward hook", "grad_input")
            gi, replaced = tuple(new), True
        self.grad_outputs = None
        return self._arrays(gi, self.input_idx, self.input_meta, "hook") if replaced else grads


# ---------------------------------------------------------------- global module hooks (torch.nn.modules.module)
# Hooks that run for every module call, before the module's own hooks of the same kind (torch's order).
# `_global_hook_ids` is non-empty while any is registered: the one check of Module.__call__'s fast path.
_global_forward_pre_hooks: OrderedDict = OrderedDict()
_global_forward_hooks: OrderedDict = OrderedDict()
_global_backward_pre_hooks: OrderedDict = OrderedDict()
_global_backward_hooks: OrderedDict = OrderedDict()
_global_hook_flags: dict = {}  # handle id -> {"with_kwargs", "always_call"} (forward hooks)
_global_hook_ids: set = set()
_NO_FLAGS: dict = {}


class _GlobalHookHandle(RemovableHandle):
    """RemovableHandle of a global hook: removing it also forgets its id and flags."""

    def __init__(self, hooks: dict, hook, flags: set = frozenset()):
        super().__init__(hooks, hook)
        _global_hook_ids.add(self.id)
        if flags:
            _global_hook_flags[self.id] = set(flags)

    def remove(self) -> None:
        super().remove()
        _global_hook_ids.discard(self.id)
        _global_hook_flags.pop(self.id, None)


def _hooks_of_call(global_hooks: dict, own_hooks) -> list:
    """(handle id, hook) pairs for one call: the global hooks, then the module's (a snapshot)."""
    return [*global_hooks.items(), *(own_hooks.items() if own_hooks else ())]


def _global_hook(hooks: dict, hook, op: str, flags=frozenset()) -> RemovableHandle:
    if not callable(hook):
        raise TypeError(f"{op}: expected a callable hook, got {type(hook).__name__}")
    return _GlobalHookHandle(hooks, hook, flags)


def register_module_forward_pre_hook(hook) -> RemovableHandle:
    """Register hook(module, args) to run before the forward of every module (torch's global hook).

    It behaves as `Module.register_forward_pre_hook(hook)` on every module (returning a value
    replaces args) and runs before the module's own forward pre-hooks. Meant for debugging and
    profiling. Returns a handle: `.remove()` unregisters the hook.
    """
    return _global_hook(_global_forward_pre_hooks, hook, "register_module_forward_pre_hook")


def register_module_forward_hook(hook, *, with_kwargs: bool = False, always_call: bool = False) -> RemovableHandle:
    """Register hook(module, args, output) to run after the forward of every module (torch's global hook).

    It behaves as `Module.register_forward_hook(hook, with_kwargs=..., always_call=...)` on every
    module (returning a value replaces the output) and runs before the module's own forward hooks.
    E.g. `register_module_forward_hook(lambda m, a, out: print(type(m).__name__, out.shape))`.
    Returns a handle: `.remove()` unregisters the hook.
    """
    flags = {k for k, v in (("with_kwargs", with_kwargs), ("always_call", always_call)) if v}
    return _global_hook(_global_forward_hooks, hook, "register_module_forward_hook", flags)


def register_module_full_backward_pre_hook(hook) -> RemovableHandle:
    """Register hook(module, grad_output) for every module (torch's global hook); see
    `Module.register_full_backward_pre_hook`. Runs before the module's own backward pre-hooks.
    Returns a handle: `.remove()` unregisters the hook."""
    return _global_hook(_global_backward_pre_hooks, hook, "register_module_full_backward_pre_hook")


def register_module_full_backward_hook(hook) -> RemovableHandle:
    """Register hook(module, grad_input, grad_output) for every module (torch's global hook); see
    `Module.register_full_backward_hook`. Runs before the module's own full backward hooks.
    Returns a handle: `.remove()` unregisters the hook."""
    return _global_hook(_global_backward_hooks, hook, "register_module_full_backward_hook")


def register_module_backward_hook(hook):
    """Refused: torch's deprecated non-full global backward hook (use `register_module_full_backward_hook`)."""
    raise NotImplementedError(
        "register_module_backward_hook: torch's deprecated (non-full) module backward hook is not supported "
        "(see Module.register_backward_hook); use register_module_full_backward_hook(hook), with the same "
        "hook(module, grad_input, grad_output)")


class Module:
    """Base class of layers and models.

    Assigning a `Parameter` or a `Module` as an attribute registers it, so
    `parameters()`, `state_dict()`, `to()` and `train()/eval()` reach it.
    Subclasses define `forward(...)`; calling the module calls `forward`.
    """

    _version: int = 1  # torch's format version of the module's state (state-dict hooks' local_metadata)

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
        elif isinstance(value, Buffer) and name not in modules:  # nn.Buffer registers itself (torch 2.5+)
            self.register_buffer(name, value, value.persistent)
            return
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

    def type(self, dst_type):  # noqa: A003  (torch's name)
        """Cast every parameter and buffer to `dst_type` in place and return self (torch's Module.type).

        Unlike `to(dtype)`, integer buffers are cast too, as in torch (`type(mg.float64)` makes
        BatchNorm's `num_batches_tracked` float64). A legacy name ('torch.DoubleTensor') works as
        its dtype; 'torch.cuda.FloatTensor' also moves the module to the GPU.
        """
        dt, on_gpu = type_name_args(dst_type, f"{type(self).__name__}.type")
        if dt.kind != "f" and any(True for _ in self.parameters()):
            raise RuntimeError(f"{type(self).__name__}.type: parameters require gradients and must stay floating point; "
                               f"got {dt}")
        if on_gpu is not None:
            self.to("cuda" if on_gpu else "cpu")
        return self._apply_to_tensors(lambda a: a.astype(dt, copy=False))

    # ------------------------------------------------------------ state
    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        """name -> Tensor (parameters and persistent buffers), detached, sharing memory with the module.

        Args (torch's):
            destination: a dict (e.g. an OrderedDict) to write the entries into, and return;
                default a new OrderedDict.
            prefix: put before every name, e.g. "model." (default "").
            keep_vars: return the Parameter and buffer objects themselves (not detached
                Tensors), so requires_grad and the Parameter type are kept.

        Positional arguments (destination, prefix, keep_vars) still work with torch's
        FutureWarning. Unlike torch, the result has no `_metadata` attribute (no module
        versions are recorded).

        As in torch, each module (the root, then its children, depth first) runs its
        `register_state_dict_pre_hook` hooks, writes its own entries, calls its children's
        `state_dict`, then runs its `register_state_dict_post_hook` hooks.
        """
        if args:
            if len(args) > 3:
                raise TypeError(f"{type(self).__name__}.state_dict: takes at most 3 positional arguments "
                                f"(destination, prefix, keep_vars), got {len(args)}")
            warnings.warn("Positional args are being deprecated, use kwargs instead. Refer to "
                          "https://pytorch.org/docs/main/generated/torch.nn.Module.html#torch.nn.Module.state_dict"
                          " for details.", FutureWarning, stacklevel=2)
            # (as torch: a positional value is used where the keyword was left at its default)
            destination = args[0] if destination is None else destination
            prefix = args[1] if len(args) > 1 and prefix == "" else prefix
            keep_vars = args[2] if len(args) > 2 and keep_vars is False else keep_vars
        if not isinstance(prefix, str):
            raise TypeError(f"{type(self).__name__}.state_dict: prefix must be a str, got {type(prefix).__name__}")
        out = OrderedDict() if destination is None else destination
        d = self.__dict__
        pre = d.get("_state_dict_pre_hooks")
        for hook in list(pre.values()) if pre else ():
            hook(self, prefix, keep_vars)
        skip = d.get("_non_persistent_buffers_set", ())
        for name, t in self._parameters.items():
            if t is not None:
                out[prefix + name] = t if keep_vars else t.detach()
        for name, t in self._buffers.items():
            if t is not None and name not in skip:
                out[prefix + name] = t if keep_vars else t.detach()
        for name, child in self._modules.items():
            if child is not None:
                child.state_dict(destination=out, prefix=prefix + name + ".", keep_vars=keep_vars)
        post = d.get("_state_dict_hooks")
        if post:
            public = d.get("_hook_flags", _NO_FLAGS)
            local_metadata = {"version": self._version}
            for hid, hook in list(post.items()):
                res = hook(self, out, prefix, local_metadata)
                if "public" in public.get(hid, ()):
                    if res is not None:
                        raise RuntimeError("state_dict post-hook must return None")
                elif res is not None:  # torch's private _register_state_dict_hook: a new dict replaces it
                    out = res
        return out

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copy values from `state_dict` into this module's parameters and buffers, in place.

        Values may be minigrad Tensors, NumPy/CuPy arrays, nested lists or torch tensors;
        each is converted to the dtype and device of the tensor it fills (the module keeps
        its own dtype and device). As in torch, a shape mismatch always raises; with
        strict=True (default) missing and unexpected keys raise too, in one error that
        names every problem key. With assign=True (torch's) each parameter/buffer is replaced
        by the given minigrad Tensor itself (no copy; its dtype and device are kept, parameters
        keep their requires_grad); other values are converted to the module's dtype and device.

        Hooks, in torch's order: each module (the root, then its children, depth first) runs its
        load pre-hooks (`register_load_state_dict_pre_hook`) on a copy of the state dict
        restricted to its prefix (they may rename or add keys: what its children see), takes its
        own entries, loads its children, then runs its post-hooks
        (`register_load_state_dict_post_hook`), which may edit the missing/unexpected lists in
        place before the strict check. Without load hooks nothing is copied unless the whole
        load succeeds; with them values are copied module by module as in torch (a post-hook
        sees its module loaded), so a failing load may have changed the modules before it.
        A key is unexpected when no parameter, buffer or child module takes it (a little
        stricter than torch, which ignores e.g. "weight.extra").

        Returns:
            A named tuple (missing_keys, unexpected_keys).
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict into {type(self).__name__}: expected state_dict to be dict-like "
                            f"(name -> tensor), got {type(state_dict).__name__}")
        metadata = getattr(state_dict, "_metadata", None)  # a torch state dict's per-module versions
        state_dict = OrderedDict(state_dict)  # a copy, as torch: pre-hooks may change it
        missing, unexpected, mismatched, error_msgs, pending = [], [], [], [], []
        hooked = any("_load_state_dict_pre_hooks" in m.__dict__ or "_load_state_dict_post_hooks" in m.__dict__
                     for m in self.modules())

        def load(module, local, prefix):
            d = module.__dict__
            pre = d.get("_load_state_dict_pre_hooks")
            if pre:
                local_metadata = dict(metadata.get(prefix[:-1], {})) if metadata is not None else {}
                if assign:
                    local_metadata["assign_to_params_buffers"] = assign
                flags = d.get("_hook_flags", _NO_FLAGS)
                for hid, hook in list(pre.items()):
                    # strict is always True here, as in torch (the strict check is done at the end)
                    args = (local, prefix, local_metadata, True, missing, unexpected, error_msgs)
                    hook(module, *args) if "with_module" in flags.get(hid, ()) else hook(*args)
            skip = d.get("_non_persistent_buffers_set", ())
            own = [(n, t) for n, t in module._parameters.items() if t is not None]
            own += [(n, t) for n, t in module._buffers.items() if t is not None and n not in skip]
            for name, t in own:
                key = prefix + name
                if key not in local:
                    missing.append(key)
                    continue
                v = local[key]
                shape = tuple(v.shape) if hasattr(v, "shape") else np.shape(v)
                if tuple(shape) != tuple(t.shape):
                    mismatched.append(f"{key}: checkpoint {tuple(shape)} vs model {tuple(t.shape)}")
                elif hooked:
                    self._load_value(key, t, v, assign)
                else:
                    pending.append((key, t, v))
            # keys under this prefix: this module's own, or a child's (handed down), or unexpected
            own_names, children = {n for n, _ in own}, module._modules
            by_child = {}
            for key, v in local.items():
                rest = key[len(prefix):]
                head = rest.partition(".")[0]
                if rest in own_names:
                    continue
                if children.get(head) is not None and rest != head:
                    by_child.setdefault(head, {})[key] = v
                else:
                    unexpected.append(key)
            for name, child in children.items():
                if child is not None:
                    load(child, by_child.get(name, {}), prefix + name + ".")
            post = d.get("_load_state_dict_post_hooks")
            if post:
                incompatible = _IncompatibleKeys(missing, unexpected)  # the lists themselves: edits count
                for hook in list(post.values()):
                    if hook(module, incompatible) is not None:
                        raise AssertionError(
                            "Hooks registered with ``register_load_state_dict_post_hook`` are not expected to "
                            "return new values, if incompatible_keys need to be modified, it should be done "
                            "inplace.")

        load(self, state_dict, "")
        if mismatched or error_msgs or (strict and (missing or unexpected)):
            parts = []
            if strict and missing:
                parts.append("missing keys: " + ", ".join(missing))
            if strict and unexpected:
                parts.append("unexpected keys: " + ", ".join(unexpected))
            if mismatched:
                parts.append("shape mismatches: " + "; ".join(mismatched))
            parts += error_msgs  # added by load pre-hooks
            raise RuntimeError(f"load_state_dict into {type(self).__name__}: " + " | ".join(parts))
        for key, t, v in pending:
            self._load_value(key, t, v, assign)
        return _IncompatibleKeys(missing, unexpected)

    def _load_value(self, key, t, v, assign):
        """load_state_dict: fill tensor `t` (the module's `key`) with the checkpoint's value `v`."""
        with no_grad():
            if assign and isinstance(v, Tensor):
                self._assign_tensor(key, t, v)
                return
            if isinstance(v, Tensor):
                v = v.data
            elif hasattr(v, "detach") and hasattr(v, "cpu") and hasattr(v, "numpy"):  # a torch tensor
                v = v.detach().cpu()
                v = (v.float() if str(v.dtype) == "torch.bfloat16" else v).numpy()
            try:
                arr = _B.as_array(v, dtype=t.data.dtype, device=t.device)
            except (TypeError, ValueError) as e:
                raise TypeError(f"load_state_dict into {type(self).__name__}: cannot convert the value of "
                                f"{key!r} ({type(v).__name__}) to a {t.data.dtype} array: {e}") from None
            t.data[...] = arr
            t._bump()  # bumps the version: stale graphs notice

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
        # no hook was ever registered on this module and no global hook is registered now: forward
        if not _global_hook_ids and "_hook_dicts" not in self.__dict__:
            return self.forward(*args, **kwargs)
        return self._call_with_hooks(args, kwargs)

    def _call_with_hooks(self, args, kwargs):
        """__call__ with hooks, in torch's order: forward pre-hooks, (inputs wrapped for backward hooks),
        forward, forward hooks, (outputs wrapped for backward hooks). Of each kind, the global hooks
        (`register_module_forward_hook`, ...) run before the module's own, as in torch."""
        d = self.__dict__
        flags = d.get("_hook_flags", _NO_FLAGS)  # handle id -> {"with_kwargs", "always_call"}
        if _global_hook_flags:
            flags = {**_global_hook_flags, **flags}
        result, ran = None, set()
        try:
            for hid, hook in _hooks_of_call(_global_forward_pre_hooks, d.get("_forward_pre_hooks")):
                if "with_kwargs" in flags.get(hid, ()):
                    new = hook(self, args, kwargs)
                    if new is not None:
                        if not (isinstance(new, tuple) and len(new) == 2):
                            raise RuntimeError("forward pre-hook must return None or a tuple of (new_args, "
                                               f"new_kwargs), but got {new!r}.")
                        args, kwargs = new
                else:
                    new = hook(self, args)
                    if new is not None:
                        args = new if isinstance(new, tuple) else (new,)
            bw_hooks = [h for _, h in _hooks_of_call(_global_backward_hooks, d.get("_backward_hooks"))]
            bw_pre = [h for _, h in _hooks_of_call(_global_backward_pre_hooks, d.get("_backward_pre_hooks"))]
            bw = None
            if bw_hooks or bw_pre:  # the hooks of this call are the ones registered now (as torch)
                bw = _BackwardHooks(self, bw_hooks, bw_pre)
                args = bw.setup_inputs(args)
            result = self.forward(*args, **kwargs)
            for hid, hook in _hooks_of_call(_global_forward_hooks, d.get("_forward_hooks")):
                f = flags.get(hid, ())
                if "always_call" in f:
                    ran.add(hid)
                new = hook(self, args, kwargs, result) if "with_kwargs" in f else hook(self, args, result)
                if new is not None:
                    result = new
            if bw is not None:
                result = bw.setup_outputs(result)
            return result
        except Exception:
            # forward hooks registered with always_call=True run even when something above raised
            # (global ones first; unlike torch, a global one registered with_kwargs=True gets its kwargs)
            for hid, hook in _hooks_of_call(_global_forward_hooks, d.get("_forward_hooks")):
                f = flags.get(hid, ())
                if "always_call" not in f or hid in ran:
                    continue
                try:
                    new = hook(self, args, kwargs, result) if "with_kwargs" in f else hook(self, args, result)
                    if new is not None:
                        result = new
                except Exception as e:  # noqa: BLE001 (the first error is the one raised)
                    warnings.warn("module forward hook with ``always_call=True`` raised an exception that was "
                                  f"silenced as another error was raised in forward: {e}",
                                  stacklevel=_user_stacklevel())
            raise

    # ------------------------------------------------------------ hooks (torch's API)
    def register_forward_pre_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False):
        """hook(module, args) runs before each forward; returning a tuple (or one value) replaces args.

        With with_kwargs=True it is hook(module, args, kwargs) and returns None or a tuple
        (new_args, new_kwargs). prepend=True runs it before the hooks already registered.
        Returns a handle: `.remove()` unregisters the hook.
        """
        return self._add_hook("_forward_pre_hooks", hook, "register_forward_pre_hook", prepend,
                              with_kwargs=with_kwargs)

    def register_forward_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False):
        """hook(module, args, output) runs after each forward; returning a value replaces the output.

        E.g. record every layer's activation: `layer.register_forward_hook(lambda m, a, out: acts.append(out))`.
        With with_kwargs=True it is hook(module, args, kwargs, output). With always_call=True it
        also runs when forward (or a hook) raises, with output None, and the error is raised
        after it. prepend=True runs it before the hooks already registered.
        Returns a handle: `.remove()` unregisters the hook.
        """
        return self._add_hook("_forward_hooks", hook, "register_forward_hook", prepend,
                              with_kwargs=with_kwargs, always_call=always_call)

    def register_full_backward_pre_hook(self, hook, prepend: bool = False):
        """hook(module, grad_output) runs when the gradients w.r.t. the module's outputs are computed.

        grad_output is a tuple with one entry per output (None for a non-Tensor output, or an
        output that got no gradient); returning a tuple of the same length replaces them (what
        flows into the module and what full backward hooks see). Not called for a forward run
        under no_grad(). Returns a handle: `.remove()` unregisters the hook.
        """
        return self._add_hook("_backward_pre_hooks", hook, "register_full_backward_pre_hook", prepend)

    def register_full_backward_hook(self, hook, prepend: bool = False):
        """hook(module, grad_input, grad_output) runs when the gradients w.r.t. the module's inputs are computed.

        grad_input has one entry per positional argument of the call: the gradient w.r.t. that
        Tensor (zeros for a Tensor argument that got none), None for non-Tensor arguments;
        keyword arguments are not included. grad_output is as in `register_full_backward_pre_hook`.
        Returning a tuple of the same length replaces grad_input (what flows on to the inputs).
        If no input requires grad, the hook runs with grad_input all None when the output
        gradients are known (with torch's UserWarning), and must return None.

        As in torch: the inputs and outputs go through an identity op (`BackwardHookFunction`),
        so changing an output (or, inside forward, an input) in place in a recorded graph is
        refused: clone() it first. Not called for a forward run under no_grad(). The hooks of a
        call are those registered when it ran. A module used twice calls them twice.
        Returns a handle: `.remove()` unregisters the hook.
        """
        return self._add_hook("_backward_hooks", hook, "register_full_backward_hook", prepend)

    def register_backward_hook(self, hook):
        """Refused: torch's deprecated non-full backward hook (use `register_full_backward_hook`)."""
        raise NotImplementedError(
            f"{type(self).__name__}.register_backward_hook: torch's deprecated (non-full) module backward hook is not "
            "supported: its grad_input are the gradients of whatever autograd node made the output last (e.g. "
            "(bias, input, weight.T) for torch's Linear), which depend on torch's internals. Use "
            "register_full_backward_hook(hook): the same hook(module, grad_input, grad_output), with grad_input "
            "the gradients w.r.t. the module's inputs (what torch's docs recommend)")

    # ------------------------------------------------------------ state-dict hooks (torch's API)
    def register_state_dict_pre_hook(self, hook):
        """hook(module, prefix, keep_vars) runs when `state_dict()` reaches this module, before its entries.

        Returns a handle: `.remove()` unregisters the hook.
        """
        return self._add_hook("_state_dict_pre_hooks", hook, "register_state_dict_pre_hook", calls=False)

    def register_state_dict_post_hook(self, hook):
        """hook(module, state_dict, prefix, local_metadata) runs once `state_dict()` has this module's
        entries and its children's; it may change `state_dict` in place and must return None.

        local_metadata is {"version": module._version} (torch's; 1 for every minigrad module).
        Returns a handle: `.remove()` unregisters the hook.
        """
        return self._add_hook("_state_dict_hooks", hook, "register_state_dict_post_hook", calls=False, public=True)

    def _register_state_dict_hook(self, hook):
        """torch's older private form of `register_state_dict_post_hook` (still common in ported code):
        the same hook, which may also return a new dict, used when this module is the root."""
        return self._add_hook("_state_dict_hooks", hook, "_register_state_dict_hook", calls=False)

    def register_load_state_dict_pre_hook(self, hook):
        """hook(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)
        runs when `load_state_dict` reaches this module, before it takes its entries.

        state_dict is a copy holding the keys under `prefix` (what this module and its children
        load): the hook may rename, add or drop keys in it, e.g. to load an old checkpoint;
        strings appended to error_msgs make the load fail. As in torch, strict is always True
        here. local_metadata is simplified: the checkpoint's `_metadata` entry for this module
        when it has one (a torch state dict does), else {}; with "assign_to_params_buffers"
        when load_state_dict(assign=True). Returns a handle: `.remove()` unregisters the hook.
        """
        return self._register_load_state_dict_pre_hook(hook, with_module=True)

    def _register_load_state_dict_pre_hook(self, hook, with_module: bool = False):
        """torch's private form, common in ported code: with_module=False (default) calls
        hook(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)."""
        return self._add_hook("_load_state_dict_pre_hooks", hook, "register_load_state_dict_pre_hook", calls=False,
                              with_module=with_module)

    def register_load_state_dict_post_hook(self, hook):
        """hook(module, incompatible_keys) runs when `load_state_dict` has loaded this module and its children.

        incompatible_keys is the named tuple (missing_keys, unexpected_keys) of the keys found so
        far; editing those lists in place changes what strict=True reports and what is returned
        (e.g. drop the missing keys of an optional part). The hook must return None.
        Returns a handle: `.remove()` unregisters the hook.
        """
        return self._add_hook("_load_state_dict_post_hooks", hook, "register_load_state_dict_post_hook", calls=False)

    def _add_hook(self, slot, hook, op, prepend=False, calls=True, **flags):
        """Register `hook` in the module's OrderedDict `slot` (made on first use). calls=False for
        hooks that __call__ never runs (state-dict hooks), so it keeps its fast path."""
        if not callable(hook):
            raise TypeError(f"{op}: expected a callable hook, got {type(hook).__name__}")
        d = self.__dict__
        if slot not in d:
            object.__setattr__(self, slot, OrderedDict())
        if "_hook_flags" not in d:
            object.__setattr__(self, "_hook_flags", {})
        handle = RemovableHandle(d[slot], hook)
        if prepend:
            d[slot].move_to_end(handle.id, last=False)
        on = {k for k, v in flags.items() if v}
        if on:
            d["_hook_flags"][handle.id] = on
        if calls:
            object.__setattr__(self, "_hook_dicts", True)  # from now on __call__ takes the hooked path
        return handle

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
