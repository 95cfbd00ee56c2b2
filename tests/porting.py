"""Shared helpers of the porting audits (tests/test_port_*.py): one torch program run in both libraries,
compared value by value.

Not a test module (no `test_` prefix); the port tests import it as `from porting import ...`, which works
because pytest's default import mode puts tests/ on sys.path (as for opcheck.py).
"""
import numpy as np

import minigrad as mg


def to_numpy(x):
    """A minigrad Tensor, a torch tensor (detached) or anything array-like, as a NumPy array."""
    if isinstance(x, mg.Tensor):
        return x.numpy()
    if hasattr(x, "detach"):  # a torch tensor (torch itself is optional here)
        return x.detach().numpy()
    return np.asarray(x)


def closer(default_tol, check_dtype=True):
    """`close(what, ours, theirs, **tol)`: same shape (and dtype), values allclose (`default_tol` unless tol
    is given); `what` names the compared quantity in the failure message."""

    def close(what, ours, theirs, **tol):
        a, b = to_numpy(ours), to_numpy(theirs)
        assert a.shape == b.shape, f"{what}: shape {a.shape} vs torch {b.shape}"
        if check_dtype:
            assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} vs torch {b.dtype}"
        np.testing.assert_allclose(a, b, err_msg=what, **(tol or default_tol))

    return close
