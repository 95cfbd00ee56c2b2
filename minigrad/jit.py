"""torch.compile and torch.jit, for code that calls them: minigrad has no compiler.

`mg.compile(model)` returns `model` itself (a documented no-op), so a torch program that
compiles its model runs unchanged, eagerly. `mg.jit.script` / `mg.jit.trace` raise
NotImplementedError: TorchScript produces a serialized program, which minigrad cannot make,
and pretending would hand back something that is not one.
"""
from __future__ import annotations

__all__ = ["compile", "script", "trace"]


def compile(model=None, *, fullgraph=False, dynamic=None, backend="inductor", mode=None,  # noqa: A001
            options=None, disable=False, **kwargs):
    """torch.compile's signature, as a no-op: returns `model` (a Module or function) unchanged.

    Works as torch's does in every spelling: `mg.compile(model)`, `@mg.compile` and
    `@mg.compile(fullgraph=True)` (without a model it returns the decorator). The options are
    accepted and ignored; minigrad runs eagerly.

    One difference from torch: torch wraps a Module in an `OptimizedModule` whose state_dict
    keys carry an `_orig_mod.` prefix; here the Module itself comes back, so its keys are
    unprefixed (a state_dict saved from a compiled torch model loads after stripping the prefix:
    `{k.removeprefix("_orig_mod."): v for k, v in sd.items()}`).

    Raises:
        TypeError: `model` is given but is not callable (torch raises AssertionError).
    """
    if model is None:
        def decorator(fn):
            return compile(fn, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode, options=options,
                           disable=disable, **kwargs)
        return decorator
    if not callable(model):
        raise TypeError(f"compile: expected a Module or a function, got {type(model).__name__}")
    return model


def _no_torchscript(name: str):
    return NotImplementedError(
        f"mg.jit.{name}: TorchScript is not supported (minigrad has no compiler or serialized program format). "
        f"Call the Module or function directly (it runs eagerly), save weights with mg.save(model.state_dict(), "
        f"path), and drop the jit.{name} call; mg.compile(model) is accepted as a no-op.")


def script(obj=None, *args, **kwargs):
    """torch.jit.script: refused with NotImplementedError (no TorchScript in minigrad)."""
    raise _no_torchscript("script")


def trace(func=None, *args, **kwargs):
    """torch.jit.trace: refused with NotImplementedError (no TorchScript in minigrad)."""
    raise _no_torchscript("trace")
