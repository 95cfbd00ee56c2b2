"""The whole training state in one checkpoint, for bit-exact resume.

A run interrupted at step k and resumed from its checkpoint ends with the same
parameters, bit for bit, as a run that was never interrupted, provided the
checkpoint holds *everything* the next step depends on:

* the model's parameters and buffers            (``model.state_dict()``)
* the optimizer's buffers and hyperparameters   (``optimizer.state_dict()``: Adam's moments and step)
* the learning-rate scheduler's position        (``scheduler.state_dict()``)
* the random generators of every backend        (``minigrad.backend.get_rng_state()``: dropout masks,
                                                 initialisation, shuffling)
* the position in the data order                (``loader.state_dict()``: epoch, batch, permutation)
* any other NumPy generators the script draws from, and its own counters (step, history, a
  carried hidden state).

Forgetting any one of them still resumes *something*, but not the same run. These two
functions gather and restore all of them so a script cannot forget one::

    from minigrad.checkpoint import save_training_state, load_training_state

    # every N steps (atomically: a crash mid-write keeps the previous file)
    save_training_state("run.npz", model=model, optimizer=opt, scheduler=sched, loader=loader,
                        step=step)

    # in a fresh process: build every object as for a new run, then
    extra = load_training_state("run.npz", model=model, optimizer=opt, scheduler=sched, loader=loader)
    step = extra["step"]

All of minigrad's randomness, GPU dropout included, derives from the host generator
(see `minigrad.backend.random_uniform`), so its state is enough. Code that calls
`cupy.random` directly only gets its seed restored (cuRAND exposes no stream position).
"""
from __future__ import annotations

from . import backend as _B
from .io import load, save

np = _B.np  # only to recognise NumPy generators

__all__ = ["training_state", "restore_training_state", "save_training_state", "load_training_state"]

FORMAT = "minigrad-training-state"
_PARTS = ("model", "optimizer", "scheduler", "loader")


def training_state(*, model=None, optimizer=None, scheduler=None, loader=None, generators=None, **extra) -> dict:
    """Gather a training run's state into one dict that `minigrad.save` can write.

    Args:
        model, optimizer, scheduler, loader: objects with ``state_dict()`` (a Module, an
            Optimizer, an LR scheduler, a DataLoader); any may be omitted.
        generators: ``{name: numpy.random.Generator}`` the script draws from besides
            minigrad's own (e.g. a data generator); their exact states are saved.
        **extra: the script's own values (step counts, histories, a carried hidden state);
            anything `minigrad.save` accepts. They come back from `restore_training_state`.

    The RNG state of every backend is always included. The returned dict references live
    arrays (as ``state_dict()`` does): save it right away, as `save_training_state` does.
    """
    state = {"format": FORMAT, "rng": _B.get_rng_state()}
    for name, obj in zip(_PARTS, (model, optimizer, scheduler, loader)):
        if obj is not None:
            state[name] = obj.state_dict()
    if generators:
        state["generators"] = {str(k): _generator(g, k, "training_state").bit_generator.state
                               for k, g in generators.items()}
    state["extra"] = dict(extra)
    return state


def restore_training_state(state: dict, *, model=None, optimizer=None, scheduler=None, loader=None,
                           generators=None, strict: bool = True) -> dict:
    """Load `state` (from `training_state`, e.g. via `minigrad.load`) into freshly built objects.

    Build the model, optimizer, scheduler and loader exactly as a new run would, then call
    this: it overwrites their state and the backends' generators (last, so building the
    objects may draw random numbers freely).

    Args:
        state: the dict `training_state` made.
        model, optimizer, scheduler, loader, generators: the objects to restore into.
        strict: raise when the checkpoint holds a part (say the loader's position) that no
            object was given for, since dropping it silently would resume a different run.

    Returns:
        The ``**extra`` values given to `training_state` (a dict).

    Raises:
        ValueError: not a training state, a part missing from it, or (strict) a saved part
            with no object to restore it into.
    """
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError("restore_training_state: expected a dict made by training_state() "
                         f"(format {FORMAT!r}), got {type(state).__name__}")
    given = dict(zip(_PARTS, (model, optimizer, scheduler, loader)))
    gens = dict(generators or {})
    for name, obj in given.items():
        if obj is not None and name not in state:
            raise ValueError(f"restore_training_state: a {name} was given but the checkpoint holds no {name} state")
        if strict and obj is None and name in state:
            raise ValueError(f"restore_training_state: the checkpoint holds a {name} state but no {name}= was given; "
                             f"pass it (or strict=False to ignore it: the run would not resume exactly)")
    saved_gens = state.get("generators", {})
    for k in gens:
        if str(k) not in saved_gens:
            raise ValueError(f"restore_training_state: generator {k!r} is not in the checkpoint "
                             f"(it has {sorted(saved_gens)})")
    if strict and set(saved_gens) - {str(k) for k in gens}:
        raise ValueError(f"restore_training_state: the checkpoint holds generators {sorted(saved_gens)}, "
                         f"only {sorted(map(str, gens))} were given (pass them all, or strict=False)")

    for name, obj in given.items():
        if obj is not None:
            obj.load_state_dict(state[name])
    for k, g in gens.items():
        _generator(g, k, "restore_training_state").bit_generator.state = saved_gens[str(k)]
    _B.set_rng_state(state["rng"])
    return dict(state.get("extra", {}))


def save_training_state(path, *, model=None, optimizer=None, scheduler=None, loader=None, generators=None,
                        **extra) -> None:
    """`training_state(...)` written to `path` with `minigrad.save` (atomic: write, fsync, rename)."""
    save(training_state(model=model, optimizer=optimizer, scheduler=scheduler, loader=loader,
                        generators=generators, **extra), path)


def load_training_state(path, *, model=None, optimizer=None, scheduler=None, loader=None, generators=None,
                        strict: bool = True, device=None) -> dict:
    """Read `path` with `minigrad.load(path, device)` and `restore_training_state` it; returns the extras."""
    return restore_training_state(load(path, device=device), model=model, optimizer=optimizer,
                                  scheduler=scheduler, loader=loader, generators=generators, strict=strict)


def _generator(g, name, fn):
    if not isinstance(g, np.random.Generator):
        raise TypeError(f"{fn}: generators[{name!r}] must be a numpy.random.Generator, got {type(g).__name__}")
    return g
