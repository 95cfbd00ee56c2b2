"""torch.utils.checkpoint: activation checkpointing, trading compute for memory.

    from minigrad.utils.checkpoint import checkpoint, checkpoint_sequential
    h = checkpoint(block, x, use_reentrant=False)          # block's activations are not kept
    y = checkpoint_sequential(model, 2, x, use_reentrant=False)

How it works. The forward runs `function(*args)` under no_grad, so none of its intermediate
arrays are saved; one graph node (`_Checkpoint`) stands for the whole call and keeps only the
inputs (and the random generator's state). When backward reaches that node it runs the
function again, with gradients on and the generator restored (so dropout draws the same
mask), and backpropagates the incoming gradients through this fresh graph with a backward
of its own: the inputs' gradients are returned to the outer pass, and the parameters used
inside receive theirs in `.grad` on the way. The gradients are the ones the plain function
gives (bit for bit, when the function is deterministic given the generator).

Not the same as `minigrad.checkpoint` (saving and loading a whole training state to resume
exactly): this module is `minigrad.utils.checkpoint`, torch's name for activation checkpointing.

Differences from torch, all raised or documented rather than silent:
- Both variants (`use_reentrant=True` / `False`) run the backward-inside-backward described
  above. So, as torch's reentrant variant does, a checkpointed call refuses a backward that is
  restricted to some tensors (`mg.autograd.grad(...)`, `backward(inputs=...)`) with a
  RuntimeError; torch's non-reentrant variant supports those.
- use_reentrant=False gives the parameters inside their gradients even when no input requires
  grad (as torch). Its output then requires grad even if nothing inside does (torch's would not).
- context_fn and debug are not supported (NotImplementedError); determinism_check and
  early_stop are accepted and have no effect.
"""
from __future__ import annotations

import contextlib
import warnings

from .. import amp as _amp
from .. import autograd as _ag
from .. import backend as _B
from ..autograd import Function, enable_grad, no_grad
from ..tensor import Tensor, _wrap

__all__ = ["checkpoint", "checkpoint_sequential"]


# ---------------------------------------------------------------- outputs: any nesting of tuples, lists and dicts
def _flatten(obj, tensors: list):
    """obj with each Tensor replaced by its position in `tensors` (appended there): a template to refill."""
    if isinstance(obj, Tensor):
        tensors.append(obj)
        return _Slot(len(tensors) - 1)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a namedtuple
        return type(obj)(*[_flatten(o, tensors) for o in obj])
    if type(obj) in (tuple, list):
        return type(obj)(_flatten(o, tensors) for o in obj)
    if type(obj) is dict:
        return {k: _flatten(v, tensors) for k, v in obj.items()}
    return obj


def _refill(template, tensors):
    if isinstance(template, _Slot):
        return tensors[template.index]
    if isinstance(template, tuple) and hasattr(template, "_fields"):
        return type(template)(*[_refill(o, tensors) for o in template])
    if type(template) in (tuple, list):
        return type(template)(_refill(o, tensors) for o in template)
    if type(template) is dict:
        return {k: _refill(v, tensors) for k, v in template.items()}
    return template


class _Slot:
    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index


# ---------------------------------------------------------------- the graph node
class _Call:
    """What one checkpointed call keeps between its forward and its backward (besides the input arrays)."""

    def __init__(self, function, args, kwargs, preserve_rng_state, reentrant):
        self.function, self.args, self.kwargs = function, args, kwargs
        self.preserve_rng_state, self.reentrant = preserve_rng_state, reentrant
        self.tensor_positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.template = None  # the output's structure, set by the forward
        self.rng_state = None
        self.autocast_state = None


class _Checkpoint(Function):
    """One node for a whole checkpointed call: forward runs it under no_grad, backward runs it again with grad
    and backpropagates through that (d out / d inputs is the function's own, recomputed)."""

    check_alias = True  # the outputs are whatever the user's function returned (possibly an input itself)

    @staticmethod
    def forward(ctx, *arrays, call):
        # (arrays: the tensor arguments' data, and for use_reentrant=False possibly one placeholder at the end)
        ctx.call = call
        ctx.save_for_backward(*arrays)
        if call.preserve_rng_state:
            call.rng_state = _B.get_rng_state()
        call.autocast_state = dict(_amp._dtype)
        with no_grad():
            out = call.function(*call.args, **call.kwargs)
        tensors = []
        call.template = _flatten(out, tensors)
        if not tensors:
            raise TypeError(f"checkpoint: the function returned no Tensor (got {type(out).__name__}); "
                            "there is nothing to checkpoint")
        call.n_args = len(call.tensor_positions)
        # a tuple even for one output, so `apply` always returns a tuple (refilled into the user's structure)
        return tuple(t.data for t in tensors)

    @staticmethod
    def backward(ctx, *grads):
        call = ctx.call
        if _ag._restricted_pass:
            raise RuntimeError(
                "checkpoint: a checkpointed call cannot take part in a backward restricted to some tensors "
                "(mg.autograd.grad(...) or backward(inputs=...)): its backward runs a full backward of the "
                "recomputed function, which would write .grad of every parameter inside (torch's use_reentrant=True "
                "refuses this too). Call loss.backward() without inputs=, or compute without checkpoint.")
        # Fresh leaves holding the saved input arrays, requiring grad where the inputs did.
        needs = ctx.needs_input_grad
        leaves = [_wrap(a, needs[k], None) for k, a in enumerate(ctx.saved[:call.n_args])]
        args = list(call.args)
        for k, i in enumerate(call.tensor_positions):
            args[i] = leaves[k]
        outer_rng = _B.get_rng_state() if call.preserve_rng_state else None
        try:
            if call.preserve_rng_state:  # the same random numbers as the forward drew (dropout masks)
                _B.set_rng_state(call.rng_state)
            with _autocast_as(call.autocast_state), enable_grad():
                out = call.function(*args, **call.kwargs)
        finally:
            if outer_rng is not None:
                _B.set_rng_state(outer_rng)
        outs = []
        _flatten(out, outs)
        if len(outs) != len(grads):
            raise RuntimeError(f"checkpoint: the recomputed function returned {len(outs)} tensor(s), the forward "
                               f"{len(grads)}; the function must compute the same thing each time it is called")
        roots, seeds = [], []
        for o, g in zip(outs, grads):
            if o.requires_grad and g is not None:
                roots.append(o)
                seeds.append(g)
        if not roots:
            if call.reentrant:
                raise RuntimeError("checkpoint: none of the outputs of the recomputed function requires grad, "
                                   "so this checkpoint() is not necessary (torch raises this too)")
            return (None,) * len(ctx.saved)
        _ag.run_backward(roots, seeds)  # into the leaves above, and into .grad of the parameters inside
        in_grads = [leaf.grad.data if leaf.grad is not None else None for leaf in leaves]
        return tuple(in_grads) + (None,) * (len(ctx.saved) - call.n_args)  # (None for the placeholder)


def _autocast_as(state: dict):
    """The autocast regions that were on during the forward, on again for the recomputation."""
    stack = contextlib.ExitStack()
    for kind, dtype in state.items():
        if dtype is not None:
            stack.enter_context(_amp.autocast(kind, dtype=dtype))
        elif _amp._dtype.get(kind) is not None:  # (off in the forward, on now: off for the recomputation)
            stack.enter_context(_amp.autocast(kind, enabled=False))
    return stack


def _may_have_trainable_parameters(function) -> bool:
    """False only when function is a Module (or a Module's method) none of whose parameters requires grad."""
    from ..nn.module import Module
    owner = function if isinstance(function, Module) else getattr(function, "__self__", None)
    if isinstance(owner, Module):
        return any(p.requires_grad for p in owner.parameters())
    return True  # a plain function may close over anything


def _warn_use_reentrant(name: str):
    warnings.warn(
        f"{name}: pass use_reentrant explicitly. As torch 2.13 does, leaving it out means use_reentrant=True; "
        "use_reentrant=False is the recommended variant (keyword arguments, and gradients for the parameters "
        "inside even when no input requires grad).", UserWarning, stacklevel=3)


# ---------------------------------------------------------------- the public functions
def checkpoint(function, *args, use_reentrant=None, preserve_rng_state=True, context_fn=None,
               determinism_check="default", debug=False, early_stop=True, **kwargs):
    """Run `function(*args, **kwargs)` without keeping its activations; recompute them in backward
    (torch.utils.checkpoint.checkpoint).

    Args:
        function: a Module or any callable returning a Tensor, or tuples/lists/dicts holding Tensors
            (and other values, returned as they are).
        *args: its arguments; Tensors among them get gradients, other values are passed through.
        use_reentrant: True or False, as torch (None: a warning, then True, as torch 2.13).
            False also accepts keyword arguments for `function` and gives the parameters inside
            their gradients even when no input requires grad.
        preserve_rng_state: restore the random generator for the recomputation, so random ops
            inside (dropout) draw the same numbers as in the forward (default True).
        context_fn, debug: not supported (NotImplementedError when given).
        determinism_check, early_stop: accepted (torch's options of its non-reentrant variant); no effect.
        **kwargs: keyword arguments for `function` (use_reentrant=False only, as torch).

    Returns:
        What `function` returns, its Tensors attached to one graph node that recomputes the
        function in backward.

    Raises:
        ValueError: keyword arguments with use_reentrant=True.
        RuntimeError (in backward): a backward restricted to some tensors (autograd.grad,
            backward(inputs=...)) reaches the checkpointed call.
    """
    if use_reentrant is None:
        _warn_use_reentrant("checkpoint")
        use_reentrant = True
    if context_fn is not None or debug:
        raise NotImplementedError("checkpoint: context_fn and debug are not supported by minigrad's checkpoint")
    if use_reentrant and kwargs:
        raise ValueError(f"checkpoint: unexpected keyword arguments {', '.join(kwargs)} (with use_reentrant=True "
                         "the function gets positional arguments only, as torch; pass use_reentrant=False)")
    if not callable(function):
        raise TypeError(f"checkpoint: function must be callable, got {type(function).__name__}")
    call = _Call(function, args, kwargs, bool(preserve_rng_state), bool(use_reentrant))
    inputs = [a for a in args if isinstance(a, Tensor)]
    any_grad = any(t.requires_grad for t in inputs)
    if use_reentrant and not any_grad:
        warnings.warn("checkpoint: none of the inputs has requires_grad=True, so with use_reentrant=True the "
                      "gradients inside will be None (torch warns alike); use use_reentrant=False",
                      UserWarning, stacklevel=2)
    elif not use_reentrant and not any_grad and _ag.is_grad_enabled() and _may_have_trainable_parameters(function):
        # A placeholder leaf that requires grad, so the call gets a graph node (and the parameters
        # inside get gradients) although no input requires grad: what torch's non-reentrant variant does.
        inputs.append(_wrap(_B.np.zeros(()), True, None))
    outs = _Checkpoint.apply(*inputs, call=call)
    return _refill(call.template, list(outs))


def checkpoint_sequential(functions, segments, input, use_reentrant=None, preserve_rng_state=True):  # noqa: A002
    """Run a sequence of modules/functions in `segments` chunks, checkpointing all but the last
    (torch.utils.checkpoint.checkpoint_sequential).

    Args:
        functions: an nn.Sequential, or a list of modules or functions applied in order.
        segments: how many chunks (each of len(functions) // segments items; the last chunk takes
            the rest and runs normally, keeping its activations).
        input: the Tensor fed to the first function.
        use_reentrant, preserve_rng_state: as in `checkpoint`.
    """
    if use_reentrant is None:
        _warn_use_reentrant("checkpoint_sequential")
        use_reentrant = True
    from ..nn.layers import Sequential
    if isinstance(functions, Sequential):
        functions = list(functions.children())
    functions = list(functions)
    if isinstance(segments, bool) or not isinstance(segments, int) or not 1 <= segments:
        raise ValueError(f"checkpoint_sequential: segments must be a positive int, got {segments!r}")

    def run(start, end):
        def forward(x):
            for j in range(start, end + 1):
                x = functions[j](x)
            return x
        return forward

    size = len(functions) // segments
    end = -1
    for start in range(0, size * (segments - 1), size):
        end = start + size - 1
        input = checkpoint(run(start, end), input, use_reentrant=use_reentrant,  # noqa: A001
                           preserve_rng_state=preserve_rng_state)
    return run(end + 1, len(functions) - 1)(input)
