"""torch.func for minigrad: the parts that need neither vmap nor double backward.

    functional_call(module, params, args)    run `module` with other tensors in place of its own
    stack_module_state(models)               every model's parameters and buffers stacked on dim 0
    grad(f) / grad_and_value(f)              d f / d args[argnums] for ONE call (f returns a scalar)
    vjp(f, *primals)                         (f(*primals), vjp_fn): vjp_fn(v) = v^T J, reusable
    jacrev(f) / jacfwd(f)                    the Jacobian, one backward pass per output element
    jvp(f, primals, tangents)                J v, from that Jacobian (minigrad has no forward mode)

What is refused, and why:

    vmap        minigrad has no batching rules: each op runs on the arrays it is given, so
                `vmap(f)(xs)` would be a Python loop in disguise. Write the loop (and mg.stack),
                which is what it would have done; see `vmap`'s message for the port.
    hessian     the Jacobian of a gradient: needs double backward, which minigrad's engine
                does not have (its backward rules compute on raw arrays and record no graph).

The transforms differentiate fresh leaves (`x.detach().requires_grad_()`) of the arguments,
as torch.func does, so no `.grad` of yours changes and closures see the same values. Their
results are plain tensors (no graph): torch would let you differentiate them again (e.g. MAML's
inner step), which needs double backward. Arguments may be pytrees: Tensors inside nested
tuples, lists and dicts (e.g. `dict(model.named_parameters())`).

Per-sample gradients and model ensembles are loops here:

    torch:    vmap(grad(loss), in_dims=(None, 0, 0))(params, xs, ys)
    minigrad: [grad(loss)(params, x, y) for x, y in zip(xs, ys)]   (then stack each key)
"""
from __future__ import annotations

import contextlib
import functools

from . import autograd as _ag
from .autograd_functional import _NO_DOUBLE_BACKWARD
from .autograd_functional import grad as _autograd_grad
from .nn.module import Module
from .ops import stack as _stack
from .tensor import Tensor

__all__ = ["functional_call", "stack_module_state", "grad", "grad_and_value", "vjp", "jacrev", "jacfwd", "jvp",
           "hessian", "vmap"]

_MISSING = object()  # "this attribute did not exist": restoring it means deleting it


# ---------------------------------------------------------------- functional_call
def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *, tie_weights=True, strict=False):
    """Call `module` with the given tensors in place of its parameters and buffers (torch.func.functional_call).

    For the duration of the call, each `name -> tensor` entry replaces the module's parameter or
    buffer of that dotted name ("fc1.weight", "bn.running_mean"); the module's own are put back
    afterwards, also when the call raises. Gradients flow to the tensors you passed, not to the
    module's parameters. A module that writes a buffer in place (BatchNorm's running stats in
    training) writes into your tensor, and a module that reassigns one leaves the new tensor in
    your dict, as in torch.

    Args:
        module: the nn.Module to call.
        parameter_and_buffer_dicts: a dict {name: Tensor}, or a tuple/list of dicts with distinct
            keys (e.g. `(params, buffers)` from `stack_module_state` sliced per model).
        args: the positional arguments of the call (a non-tuple is one argument).
        kwargs: the keyword arguments of the call.
        tie_weights: a tensor registered under several names (tied weights) is replaced under all
            of them when one is given; giving different tensors for tied names is an error.
            With False only the names given are replaced.
        strict: the keys must be exactly the module's parameter and buffer names (RuntimeError
            listing the unexpected and missing keys otherwise).

    Returns:
        What `module(*args, **kwargs)` returns.
    """
    parameters_and_buffers = _merged_dicts(parameter_and_buffer_dicts)
    from .nn.parallel import DataParallel  # torch refuses it too (the replicas would not see the tensors)
    if isinstance(module, DataParallel):
        raise RuntimeError("The stateless API can't be used with nn.DataParallel module")
    if kwargs is None:
        kwargs = {}
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    with _reparametrize_module(module, parameters_and_buffers, tie_weights=tie_weights, strict=strict):
        return module(*args, **kwargs)


def _merged_dicts(dicts) -> dict:
    """One dict from a dict or a sequence of dicts with distinct keys (torch's checks and messages)."""
    if isinstance(dicts, dict):
        return dicts  # the caller's own dict: reassigned buffers are written back into it, as in torch
    if not isinstance(dicts, (tuple, list)):
        raise ValueError("Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts, "
                         f"but got {type(dicts)}")
    if not all(isinstance(d, dict) for d in dicts):
        raise ValueError("Expected all elements of parameter_and_buffer_dicts to be dictionaries")
    counts: dict = {}
    for d in dicts:
        for k in d:
            counts[k] = counts.get(k, 0) + 1
    repeated = [k for k, n in counts.items() if n > 1]
    if repeated:
        raise ValueError(f"{repeated} appeared in multiple dictionaries; behavior of functional call is ambiguous")
    return {k: v for d in dicts for k, v in d.items()}


def _all_named_tensors(module) -> dict:
    """Every parameter and buffer name, tied duplicates included (named_*(remove_duplicate=False))."""
    named = dict(module.named_parameters(remove_duplicate=False))
    named.update(module.named_buffers(remove_duplicate=False))
    return named


def _untie(module, tensors: dict) -> dict:
    """`tensors` plus, for each given name of a tied tensor, the same value under its other names."""
    names_of: dict = {}  # id(tensor) -> every name it is registered under
    for name, t in _all_named_tensors(module).items():
        names_of.setdefault(id(t), set()).add(name)
    tied = {name: names for names in names_of.values() if len(names) > 1 for name in names}
    given = [name for name in tensors if name in tied]
    for name in given:
        values = {id(tensors[n]) for n in tied[name] if n in tensors}
        if len(values) > 1:  # two different tensors for one tied weight: which should win?
            raise ValueError(f"functional_call got multiple values for keys {sorted(tied[name])}, "
                             "which are tied. Consider using tie_weights=False")
    untied = dict(tensors)
    for name in given:
        for other in tied[name]:
            untied[other] = tensors[name]
    return untied


def _check_keys(module, tensors: dict) -> None:
    """strict=True: the keys are exactly the module's tensor names (torch's message)."""
    valid = set(_all_named_tensors(module))
    missing, unexpected = sorted(valid - set(tensors)), sorted(set(tensors) - valid)
    msgs = []
    if unexpected:
        msgs.append(f"Unexpected key(s): {', '.join(map(repr, unexpected))}.")
    if missing:
        msgs.append(f"Missing key(s): {', '.join(map(repr, missing))}.")
    if msgs:
        raise RuntimeError("Error(s) in reparametrizing for {}:\n\t{}".format(type(module).__name__, "\n\t".join(msgs)))


@contextlib.contextmanager
def _reparametrize_module(module, tensors: dict, tie_weights: bool = True, strict: bool = False):
    """Swap the tensors in, yield, swap the module's own back (in reverse order), whatever happened."""
    if not isinstance(module, Module):
        raise TypeError(f"functional_call: expected an nn.Module, got {type(module).__name__}")
    swapped = _untie(module, tensors) if tie_weights else tensors
    if strict:
        _check_keys(module, swapped)
    originals: dict = {}
    try:
        for name, value in swapped.items():
            originals[name] = _swap_tensor(module, name, value)
        yield
    finally:
        current = {name: _swap_tensor(module, name, old) for name, old in reversed(originals.items())}
        # a module that reassigned a buffer (`self.count = self.count + 1`) leaves the new tensor in the dict
        tensors.update({k: current[k] for k in tensors if k in current})


def _swap_tensor(module, dotted: str, value):
    """Put `value` at `module.<dotted>` and return what was there (_MISSING if nothing)."""
    if value is not _MISSING and value is not None and not isinstance(value, Tensor):
        raise TypeError(f"functional_call: the value for {dotted!r} is a {type(value).__name__}; expected a Tensor")
    path, _, name = dotted.rpartition(".")
    owner = module
    for part in path.split(".") if path else []:
        child = owner._modules.get(part)
        if child is None:
            raise AttributeError(f"functional_call: {type(owner).__name__} has no submodule `{part}` (key {dotted!r})")
        owner = child
    # A registered parameter or buffer lives in its table (what parameters()/ParameterList read) and in
    # the instance dict (what `self.weight` reads): both are swapped. A plain Tensor may stand in for a
    # Parameter here, which Module.__setattr__ refuses; that is the point of a functional call.
    for table in (owner._parameters, owner._buffers):
        if name in table:
            old = table[name]
            if value is _MISSING:
                del table[name]
                owner.__dict__.pop(name, None)
            else:
                table[name] = value
                object.__setattr__(owner, name, value)
            return old
    if isinstance(getattr(type(owner), name, None), property):  # nn.utils.parametrize's computed tensor
        raise RuntimeError(
            f"functional_call: {dotted!r} is computed by a parametrization of {type(owner).__name__}; pass the "
            f"unconstrained tensor as {(path + '.' if path else '') + 'parametrizations.' + name + '.original'!r} "
            "instead (the parametrization then maps it)")
    old = owner.__dict__.get(name, _MISSING)  # torch sets an unknown name as a plain attribute for the call
    if old is not _MISSING and old is not None and not isinstance(old, Tensor):
        raise TypeError(f"functional_call: attribute `{dotted}` of {type(owner).__name__} is a "
                        f"{type(old).__name__}, not a Tensor, and cannot be replaced")
    if value is _MISSING:
        owner.__dict__.pop(name, None)
    else:
        object.__setattr__(owner, name, value)
    return old


# ---------------------------------------------------------------- stack_module_state
def stack_module_state(models):
    """Stack the parameters and buffers of models of one class along a new dim 0 (torch.func.stack_module_state).

    Returns `(params, buffers)`, two dicts {name: stacked tensor}. Stacked parameters are new
    leaves (detached, then requires_grad_()) that an optimizer can train directly; they share
    nothing with the models. minigrad has no vmap: use them with a loop,
    `mg.stack([functional_call(base, ({k: v[i] for k, v in params.items()},
    {k: v[i] for k, v in buffers.items()}), (x,)) for i in range(len(models))])`.

    Args:
        models: a sequence (or nn.ModuleList) of modules of one class, all in train or all in eval mode.
    """
    if len(models) == 0:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if not (all(m.training for m in models) or all(not m.training for m in models)):
        raise RuntimeError("stack_module_state: Expected all models to have the same training/eval mode.")
    if not all(type(m) is type(models[0]) for m in models):
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")
    all_params = [dict(m.named_parameters()) for m in models]
    params = {k: _stacked_leaf([p[k] for p in all_params], k) for k in all_params[0]}
    all_buffers = [dict(m.named_buffers()) for m in models]
    buffers = {k: _stacked_leaf([b[k] for b in all_buffers], k) for k in all_buffers[0]}
    return params, buffers


def _stacked_leaf(tensors: list, name: str) -> Tensor:
    requires = [t.requires_grad for t in tensors]
    if any(requires) and not all(requires):
        raise RuntimeError(f"Expected {name} from each model to have the same .requires_grad")
    stacked = _stack([t.detach() for t in tensors])
    return stacked.requires_grad_() if all(requires) else stacked


# ---------------------------------------------------------------- pytrees: Tensors in tuples, lists and dicts
def _flatten(tree):
    """(leaves, spec): the leaves of nested tuples/lists/dicts in order, and the structure to rebuild them."""
    if isinstance(tree, (tuple, list)):
        leaves, specs = [], []
        for x in tree:
            sub, spec = _flatten(x)
            leaves += sub
            specs.append(spec)
        return leaves, (type(tree), None, tuple(specs))
    if isinstance(tree, dict):
        leaves, specs = [], []
        for x in tree.values():
            sub, spec = _flatten(x)
            leaves += sub
            specs.append(spec)
        return leaves, (type(tree), tuple(tree), tuple(specs))
    return [tree], "*"


def _unflatten(leaves, spec):
    it = iter(leaves)

    def build(s):
        if s == "*":
            return next(it)
        cls, keys, children = s
        items = [build(c) for c in children]
        if keys is not None:
            return cls(zip(keys, items))
        return cls(*items) if hasattr(cls, "_fields") else cls(items)  # a namedtuple takes its fields positionally

    return build(spec)


def _map_tensors(fn, tree):
    leaves, spec = _flatten(tree)
    return _unflatten([fn(x) if isinstance(x, Tensor) else x for x in leaves], spec)


def _detach_all(tree):
    return _map_tensors(lambda t: t.detach(), tree)


# ---------------------------------------------------------------- argnums (torch's checks and messages)
def _check_argnums(argnums, num_args: int):
    """argnums (an int or a non-empty tuple of distinct ints), negatives wrapped."""
    def one(a):
        if not isinstance(a, int) or isinstance(a, bool):
            raise RuntimeError(f"argnum must be int, got: {type(a)}")
        if -num_args <= a < num_args:
            return a % num_args
        raise RuntimeError(f"Got argnum={a}, but only {num_args} positional inputs")

    if isinstance(argnums, int) and not isinstance(argnums, bool):
        return one(argnums)
    if not isinstance(argnums, tuple):
        raise RuntimeError(f"argnums must be int or Tuple[int, ...], got: {type(argnums)}")
    if not argnums:
        raise RuntimeError("argnums must be non-empty")
    if len(set(argnums)) != len(argnums):
        raise RuntimeError(f"argnums elements must be unique, got {argnums}")
    return tuple(one(a) for a in argnums)


def _differentiable(x):
    """A fresh leaf with x's values (same memory) that requires grad: what the transform differentiates."""
    if not isinstance(x, Tensor):
        raise ValueError(f"Thing passed to transform API must be Tensor, got {type(x)}")
    if x.dtype.kind not in "fc":
        raise RuntimeError(f"only Tensors of floating point dtype can require gradients (got {x.dtype}); "
                           "a transform differentiates floating-point arguments only")
    return x.detach().requires_grad_()


def _with_fresh_leaves(args: tuple, argnums):
    """(args with the differentiated ones replaced by fresh leaves, those leaves, their pytree spec)."""
    argnums = _check_argnums(argnums, len(args))
    diff = args[argnums] if isinstance(argnums, int) else tuple(args[i] for i in argnums)
    leaves, spec = _flatten(diff)
    fresh = [_differentiable(x) for x in leaves]
    new = _unflatten(fresh, spec)
    args = list(args)
    for k, i in enumerate((argnums,) if isinstance(argnums, int) else argnums):
        args[i] = new if isinstance(argnums, int) else new[k]
    return tuple(args), fresh, spec


def _vjp_arrays(outputs: list, cotangents: list, leaves: list, retain_graph: bool) -> list:
    """sum_k cotangents[k] . d outputs[k] / d leaf, for each leaf: zeros where no output depends on it."""
    pairs = [(o, c) for o, c in zip(outputs, cotangents) if o.requires_grad]
    if not pairs:  # nothing to differentiate (e.g. f returned a constant): zero gradients, as in torch
        return [_zeros_like(x) for x in leaves]
    return list(_autograd_grad([o for o, _ in pairs], leaves, grad_outputs=[c for _, c in pairs],
                               retain_graph=retain_graph, materialize_grads=True))


def _zeros_like(t: Tensor) -> Tensor:
    from .factory import zeros_like
    return zeros_like(t.detach())


def _no_double_backward(what: str):
    return NotImplementedError(f"{what}: {_NO_DOUBLE_BACKWARD}")


# ---------------------------------------------------------------- grad, grad_and_value
def grad_and_value(func, argnums=0, has_aux=False):
    """A function returning (gradient, value) of `func` with respect to args[argnums] (torch.func.grad_and_value).

    `grad_and_value(f)(*args, **kwargs)` calls f once with fresh leaves in place of the
    differentiated arguments and runs one backward pass: the gradient has the pytree structure
    of args[argnums] (a tuple over argnums when argnums is a tuple); an argument f does not use
    gets zeros. No `.grad` changes. One call, one sample: vmap over it is a loop here.

    Args:
        func: returns a scalar (0-dim) Tensor, or (scalar, aux) when has_aux=True.
        argnums: which positional arguments to differentiate: an int or a tuple of ints.
        has_aux: func returns (output, aux); aux is returned (detached) beside the value.

    Returns:
        A function returning (grad, value), or (grad, (value, aux)) with has_aux. The value,
        gradients and aux are plain tensors: no double backward, so they cannot be differentiated again.
    """
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return _grad_and_value(func, argnums, has_aux, args, kwargs)

    return wrapper


def grad(func, argnums=0, has_aux=False):
    """A function returning the gradient of `func` with respect to args[argnums] (torch.func.grad).

    `grad(f)(*args)` is `grad_and_value(f)(*args)[0]` (with has_aux: `(grad, aux)`). The classic
    use, with functional_call:

        def loss_fn(params, x, y):
            return F.cross_entropy(functional_call(model, params, (x,)), y)
        grads = grad(loss_fn)(dict(model.named_parameters()), x, y)  # {name: gradient}

    Per-sample gradients (torch: `vmap(grad(loss_fn), in_dims=(None, 0, 0))`) are a loop:
    `[grad(loss_fn)(params, x[None], y[None]) for x, y in zip(xs, ys)]`.

    Args:
        func: returns a scalar (0-dim) Tensor, or (scalar, aux) when has_aux=True.
        argnums: which positional arguments to differentiate: an int or a tuple of ints.
        has_aux: func returns (output, aux); the result is then (grad, aux).
    """
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        g, value = _grad_and_value(func, argnums, has_aux, args, kwargs)
        return (g, value[1]) if has_aux else g

    return wrapper


def _grad_and_value(func, argnums, has_aux, args, kwargs):
    with _ag.enable_grad():  # as torch.func.grad: an outer no_grad() does not stop it
        args, leaves, spec = _with_fresh_leaves(args, argnums)
        output = func(*args, **kwargs)
        aux = None
        if has_aux:
            if not (isinstance(output, tuple) and len(output) == 2):
                raise RuntimeError("grad_and_value(f)(*args): output of function f should be a tuple: "
                                   "(output, aux) if has_aux is True")
            output, aux = output
        if not isinstance(output, Tensor):
            raise RuntimeError(f"grad_and_value(f)(*args): Expected f(*args) to return a Tensor, got {type(output)}")
        if output.dim() != 0:
            raise RuntimeError(f"grad_and_value(f)(*args): Expected f(*args) to return a scalar Tensor, got tensor "
                               f"with {output.dim()} dims. Maybe you wanted to use the vjp or jacrev APIs instead?")
        grads = _vjp_arrays([output], [None], leaves, retain_graph=False)  # None: the seed 1 of a scalar
    value = output.detach()
    return _unflatten(grads, spec), ((value, _detach_all(aux)) if has_aux else value)


# ---------------------------------------------------------------- vjp
def vjp(func, *primals, has_aux=False):
    """(func(*primals), vjp_fn): vjp_fn(cotangents) = cotangents^T J (torch.func.vjp).

    func runs once, on fresh leaves of the primals (pytrees of floating-point Tensors); every
    primal is differentiated. `vjp_fn(cotangents, retain_graph=True, create_graph=None)` takes
    cotangents with the structure and shapes of the output and returns a tuple with one
    gradient per primal (zeros for one the output does not depend on); it can be called again
    until a call passes retain_graph=False.

    Args:
        func: a function of the primals returning a Tensor or a pytree of floating-point Tensors
            (or (output, aux) with has_aux).
        *primals: the point at which the Jacobian is taken.
        has_aux: func returns (output, aux); aux is returned third (detached).

    Returns:
        (output, vjp_fn), or (output, vjp_fn, aux) with has_aux; the output is detached.
        create_graph=True in vjp_fn raises NotImplementedError (no double backward).
    """
    with _ag.enable_grad():
        leaves, spec = _flatten(primals)
        fresh = [_differentiable(x) for x in leaves]
        out = func(*_unflatten(fresh, spec))
        aux = None
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise RuntimeError("vjp(f, *primals): output of function f should be a tuple: (output, aux) "
                                   "if has_aux is True")
            out, aux = out
    flat_out, out_spec = _flatten(out)
    _check_outputs(flat_out, "vjp(f, *primals)")

    def vjp_fn(cotangents, retain_graph=True, create_graph=None):
        if create_graph:
            raise _no_double_backward("vjp_fn(create_graph=True)")
        flat_ct, ct_spec = _flatten(cotangents)
        if ct_spec != out_spec:
            raise RuntimeError("Expected pytree structure of cotangents to be the same as pytree structure of "
                               f"outputs to the function. cotangents: {_spec_str(ct_spec)}, primal output: "
                               f"{_spec_str(out_spec)}")
        for k, (c, o) in enumerate(zip(flat_ct, flat_out)):
            if not isinstance(c, Tensor):
                raise RuntimeError(f"vjp_fn: cotangent {k} is a {type(c).__name__}; expected a Tensor of shape "
                                   f"{tuple(o.shape)}")
            if tuple(c.shape) != tuple(o.shape):
                raise RuntimeError(f"Mismatch in shape: grad_output[{k}] has a shape of {tuple(c.shape)} and "
                                   f"output[{k}] has a shape of {tuple(o.shape)}.")
        return _unflatten(_vjp_arrays(flat_out, flat_ct, fresh, retain_graph=retain_graph), spec)

    result = _unflatten([o.detach() for o in flat_out], out_spec)
    return (result, vjp_fn, _detach_all(aux)) if has_aux else (result, vjp_fn)


def _check_outputs(flat_out: list, api: str) -> None:
    if not flat_out or (len(flat_out) == 1 and flat_out[0] is None):
        raise RuntimeError(f"{api}: Expected f to be a function that has non-empty output (got output = {flat_out})")
    for o in flat_out:
        if not isinstance(o, Tensor):
            raise RuntimeError(f"{api}: expected f(*primals) to return only tensors, got unsupported type {type(o)}")
        if o.dtype.kind not in "fc":
            raise RuntimeError(f"{api}: All outputs of f must be floating-point or complex Tensors, got Tensor "
                               f"with dtype {o.dtype}")


def _spec_str(spec) -> str:
    if spec == "*":
        return "*"
    cls, keys, children = spec
    inner = [_spec_str(c) for c in children]
    if keys is not None:
        return "{" + ", ".join(f"{k!r}: {s}" for k, s in zip(keys, inner)) + "}"
    return ("(" if issubclass(cls, tuple) else "[") + ", ".join(inner) + (")" if issubclass(cls, tuple) else "]")


# ---------------------------------------------------------------- jacrev, jacfwd, jvp
def jacrev(func, argnums=0, *, has_aux=False, chunk_size=None, _preallocate_and_copy=False):
    """A function returning the Jacobian of `func` with respect to args[argnums] (torch.func.jacrev).

    J[out][in] = d out / d in, of shape out.shape + in.shape, for every output leaf and every
    differentiated input leaf, nested as torch nests them: the output's structure outside, the
    input's (a tuple over argnums when argnums is a tuple) inside. Computed row by row: one
    backward pass per output element (torch batches those passes with vmap; same numbers).

    Args:
        func: returns a Tensor or a pytree of floating-point Tensors (or (output, aux) with has_aux).
        argnums: which positional arguments to differentiate: an int or a tuple of ints.
        has_aux: func returns (output, aux); the result is then (jacobian, aux).
        chunk_size: torch's memory knob for its vmap; accepted (must be None or > 0) and unused.
    """
    return _jacobian_fn(func, argnums, has_aux, chunk_size, "jacrev")


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error"):
    """The Jacobian of `func`, as torch.func.jacfwd returns it, computed by reverse mode.

    minigrad has no forward-mode AD, so this is `jacrev`: the same Jacobian (same structure,
    same numbers), at the cost of one backward pass per output element instead of one forward
    pass per input element. `randomness` (torch's vmap setting) is checked and unused: func
    runs once, so random ops in it draw once.
    """
    if randomness not in ("error", "different", "same"):
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or 'same'. Got {randomness}")
    return _jacobian_fn(func, argnums, has_aux, None, "jacfwd")


def _jacobian_fn(func, argnums, has_aux, chunk_size, api):
    if chunk_size is not None and not (isinstance(chunk_size, int) and chunk_size > 0):
        raise ValueError(f"{api}: `chunk_size` should be greater than 0.")

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with _ag.enable_grad():
            args, leaves, spec = _with_fresh_leaves(args, argnums)
            out = func(*args, **kwargs)
            aux = None
            if has_aux:
                if not (isinstance(out, tuple) and len(out) == 2):
                    raise RuntimeError(f"{api}(f, ...)(*args): output of function f should be a tuple: "
                                       "(output, aux) if has_aux is True")
                out, aux = out
        flat_out, out_spec = _flatten(out)
        _check_outputs(flat_out, f"{api}(f, ...)(*args)")
        blocks = _jacobian_blocks(flat_out, leaves)
        jac = _unflatten([_unflatten(row, spec) for row in blocks], out_spec)
        return (jac, _detach_all(aux)) if has_aux else jac

    return wrapper


def _jacobian_blocks(flat_out: list, leaves: list) -> list:
    """For each output o, for each leaf x: d o / d x of shape o.shape + x.shape; row k from one backward pass."""
    from .factory import zeros
    passes_left = sum(o.numel() for o in flat_out)
    blocks = []
    for o in flat_out:
        rows = [[] for _ in leaves]  # rows[j][k] = d o.flatten()[k] / d leaves[j]
        for k in range(o.numel()):
            seed = _zeros_like(o).reshape(-1)
            seed[k] = 1  # the one-hot cotangent e_k picks row k of the Jacobian
            passes_left -= 1
            for j, g in enumerate(_vjp_arrays([o], [seed.reshape(o.shape)], leaves, retain_graph=passes_left > 0)):
                rows[j].append(g)
        blocks.append([(_stack(r) if r else zeros((0,) + tuple(x.shape), dtype=x.dtype, device=x.device))
                       .reshape(tuple(o.shape) + tuple(x.shape)) for r, x in zip(rows, leaves)])
    return blocks


def jvp(func, primals, tangents, *, strict=False, has_aux=False):
    """(func(*primals), J @ tangents) (torch.func.jvp), with J built by reverse mode.

    minigrad has no forward-mode AD (and torch's double-vjp trick needs double backward), so
    the full Jacobian is computed (one backward pass per output element, see `jacrev`) and
    contracted with the tangents. Fine for small functions.

    Args:
        func: a function of the primals returning a Tensor or a pytree of floating-point Tensors.
        primals: a tuple of Tensors (the point).
        tangents: a tuple of Tensors, one per primal, of its shape.
        strict: accepted for torch's signature (torch raises NotImplementedError for True).
        has_aux: func returns (output, aux); aux is returned third.
    """
    if strict:
        raise RuntimeError("jvp(f, primals, tangents): strict=True is not supported (torch has not implemented it "
                           "either)")
    for what, tup in (("primals", primals), ("tangents", tangents)):
        if not isinstance(tup, tuple):
            raise RuntimeError(f"jvp(f, primals, tangents): Expected {what} to be a tuple of Tensors, got {type(tup)}")
        if not tup:
            raise RuntimeError(f"jvp(f, primals, tangents): Expected {what} to be a non-empty tuple of Tensors.")
        for t in tup:
            if not isinstance(t, Tensor):
                raise RuntimeError(f"jvp(f, primals, tangents): Expected {what} to be a tuple of Tensors, got a "
                                   f"tuple with an element of type {type(t)}")
    if len(primals) != len(tangents) or any(tuple(p.shape) != tuple(t.shape) for p, t in zip(primals, tangents)):
        raise RuntimeError("jvp(f, primals, tangents): Expected primals and tangents to have the same structure and "
                           f"shapes, got primals {[tuple(p.shape) for p in primals]}, tangents "
                           f"{[tuple(t.shape) for t in tangents]}")
    argnums = tuple(range(len(primals)))
    with _ag.enable_grad():
        args, leaves, _ = _with_fresh_leaves(tuple(primals), argnums)
        out = func(*args)
        aux = None
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise RuntimeError("jvp(f, primals, tangents): output of function f should be a tuple: "
                                   "(output, aux) if has_aux is True")
            out, aux = out
    flat_out, out_spec = _flatten(out)
    _check_outputs(flat_out, "jvp(f, primals, tangents)")
    tangents_out = []
    for o, row in zip(flat_out, _jacobian_blocks(flat_out, leaves)):
        total = _zeros_like(o).reshape(-1)
        for block, v in zip(row, tangents):  # sum_j J_j v_j: J_j's input dims contracted with v_j
            total = total + block.reshape(o.numel(), v.numel()) @ v.detach().reshape(-1).to(block.dtype)
        tangents_out.append(total.reshape(o.shape))
    result = (_unflatten([o.detach() for o in flat_out], out_spec), _unflatten(tangents_out, out_spec))
    return result + (_detach_all(aux),) if has_aux else result


# ---------------------------------------------------------------- refused: hessian, vmap
def hessian(func, argnums=0):
    """Not supported: the Hessian is jacfwd(jacrev(f)), the Jacobian of a gradient (double backward)."""
    raise _no_double_backward("torch.func.hessian")


def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """Not supported: minigrad has no batching rules. The message shows the loop that replaces it."""
    raise NotImplementedError(
        "vmap: minigrad has no batching rules (each op runs on the arrays it is given), so there is no vmap; "
        "write the loop it stands for and stack the results:\n"
        "    torch:    vmap(f)(xs)                                  minigrad: mg.stack([f(x) for x in xs])\n"
        "    torch:    vmap(f, in_dims=(0, None))(xs, y)            minigrad: mg.stack([f(x, y) for x in xs])\n"
        "    torch:    vmap(grad(loss), in_dims=(None, 0, 0))(params, xs, ys)\n"
        "    minigrad: [mg.func.grad(loss)(params, x, y) for x, y in zip(xs, ys)], then mg.stack each key\n"
        "    ensembles: stack_module_state(models), then functional_call(base, ({k: v[i] for k, v in params.items()},"
        " {k: v[i] for k, v in buffers.items()}), (x,)) for each model i")


def __getattr__(name):  # PEP 562: torch.func names minigrad does not have
    raise AttributeError(f"module 'minigrad.func' has no attribute {name!r} (minigrad.func has {', '.join(__all__)}; "
                         "no linearize, functionalize or debug_unwrap)")
