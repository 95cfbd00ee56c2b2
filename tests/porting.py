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


def default_dtype_in_both(torch, dtype_name):
    """Generator body of a fixture: `dtype_name` ('float64', 'float32') as the default dtype of torch and
    minigrad, torch seeded (its initial weights); afterwards torch's old default and minigrad's float32."""
    old = torch.get_default_dtype()
    torch.manual_seed(0)
    torch.set_default_dtype(getattr(torch, dtype_name))
    mg.set_default_dtype(getattr(mg, dtype_name))
    yield
    torch.set_default_dtype(old)
    mg.set_default_dtype(mg.float32)


def same_record(ours, theirs, name, default_tol, **tol):
    """Recursively compare minigrad's record of a program with torch's: dicts (key order too), lists and
    tuples, strings, None and bools (identical), dtypes, tensors (same dtype, shape, values allclose:
    `default_tol` unless tol is given) and numbers or arrays (not a Tensor where torch gave none)."""
    import torch  # (only the port tests call this, and they need torch)

    if isinstance(theirs, dict):
        assert list(ours) == list(theirs), f"{name}: keys {list(ours)} vs torch {list(theirs)}"
        for k in theirs:
            same_record(ours[k], theirs[k], f"{name}/{k}", default_tol, **tol)
    elif isinstance(theirs, (list, tuple)) and not isinstance(theirs, torch.Size):
        assert len(ours) == len(theirs), f"{name}: length {len(ours)} vs torch {len(theirs)}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            same_record(a, b, f"{name}[{i}]", default_tol, **tol)
    elif isinstance(theirs, str):
        assert ours == theirs, f"{name}: {ours!r} vs torch {theirs!r}"
    elif theirs is None or isinstance(theirs, bool):
        assert ours is theirs, f"{name}: {ours!r} vs torch {theirs!r}"
    elif isinstance(theirs, torch.dtype):
        assert str(ours) == str(theirs).replace("torch.", ""), f"{name}: {ours} vs {theirs}"
    else:
        if isinstance(theirs, (torch.Tensor, mg.Tensor)):  # (a minigrad reference record: compared the same way)
            assert isinstance(ours, mg.Tensor), f"{name}: {type(ours)}"
            assert str(ours.dtype) == str(theirs.dtype).replace("torch.", ""), f"{name}: {ours.dtype} vs {theirs.dtype}"
        else:
            assert not isinstance(ours, mg.Tensor), f"{name}: minigrad gave a Tensor where torch gave {type(theirs)}"
        a, b = to_numpy(ours), to_numpy(theirs)
        assert a.shape == b.shape, f"{name}: shape {a.shape} vs torch {b.shape}"
        np.testing.assert_allclose(a, b, err_msg=name, **(tol or default_tol))
