"""Shared gradient-test helpers: `check_op` (the op property of tests/test_ops_*.py, public as
`minigrad.testing.check_op`), `draw_array`, `call_with` (gradcheck of a module with respect
to its own parameters) and `canonical` / `device_regex` (the `device` fixture's name as tensors
and error messages spell it).

Not a test module (no `test_` prefix); the op test files import it as
`from opcheck import check_op, draw_array`, which works because pytest's default
import mode puts tests/ (it has a conftest.py and no __init__.py) on sys.path.
"""
import re

import numpy as np

import minigrad as mg
from minigrad.testing import check_op  # noqa: F401  (re-exported for the op tests)
from minigrad.testing import strategies as mst


def draw_array(data, shape, device="cpu", **kw):
    """float64 NumPy values drawn as float32 (so the float32 run sees exactly the same numbers).

    Extra keywords (min_value, avoid, unique, ...) go to `minigrad.testing.strategies.tensors`.
    """
    return data.draw(mst.tensors(shape=shape, dtype="float32", device=device, **kw)).numpy().astype(np.float64)


def call_with(module, params, fn):
    """Run fn() with module's parameters temporarily replaced by `params` (same order as named_parameters).

    gradcheck hands us fresh leaf tensors; swapping them in (without registering them)
    lets it differentiate the module's output with respect to its own parameters.
    """
    saved = []
    for (name, _), new in zip(list(module.named_parameters()), params):
        *path, attr = name.split(".")
        owner = module
        for p in path:
            owner = getattr(owner, p)
        saved.append((owner, attr, getattr(owner, attr)))
        object.__setattr__(owner, attr, new)
    try:
        return fn()
    finally:
        for owner, attr, old in saved:
            object.__setattr__(owner, attr, old)


def canonical(device):
    """The device name as `Tensor.device` spells it: the fixture's 'cuda' is 'cuda:0', 'cpu' stays 'cpu'."""
    return mg.backend.parse_device(device)


def device_regex(device):
    """`canonical(device)` escaped for `pytest.raises(match=...)`: error messages name the canonical device."""
    return re.escape(canonical(device))
