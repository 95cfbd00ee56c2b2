"""Porting gaps (audit 9b), each against torch:

1. torch.distributed / torch.nn.parallel names (nanoGPT's train.py imports them at the top):
   `minigrad.distributed`, `minigrad.nn.parallel` (DataParallel, DistributedDataParallel).
2. Shape ops given a raw array (`torch.flip(t.data, ...)` ported verbatim): a TypeError that
   names the op and the port, not NumPy's "memoryview: invalid slice key".
3. 0-d boolean masks in indexing (`v[v > 0.3]`, `v[v > 0.3] = c` on a 0-d v; `x[True]`):
   values and gradients as torch's, read and write, recorded and not.
4. `p.data = <complex array>` on a Parameter: refused like complex data everywhere else.
"""
import os
import runpy

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import minigrad.distributed as dist
from minigrad.nn.parallel import DataParallel, DistributedDataParallel
from minigrad.testing import gradcheck

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, (mg.Tensor, torch.Tensor)) else np.asarray(t)


# ---------------------------------------------------------------- 1. distributed / parallel
_TRAIN_LIKE = '''
import os
import numpy as np
import {lib} as torch
import {lib}.nn as nn
from {lib}.nn import functional as F
from {lib}.nn.parallel import DistributedDataParallel as DDP
from {lib}.distributed import init_process_group, destroy_process_group

ddp = int(os.environ.get('RANK', -1)) != -1  # is this a ddp run?
if ddp:
    init_process_group(backend='nccl')
    ddp_rank = int(os.environ['RANK'])
    master_process = ddp_rank == 0
    seed_offset = ddp_rank
else:
    master_process = True
    seed_offset = 0
    ddp_world_size = 1
rng = np.random.default_rng(1337 + seed_offset)
model = nn.Sequential(nn.Embedding(7, 4), nn.Linear(4, 7))
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32)))
if ddp:
    model = DDP(model, device_ids=[0])
raw_model = model.module if ddp else model
optimizer = torch.optim.AdamW(raw_model.parameters(), lr=1e-2, weight_decay=0.1)
X = torch.tensor(rng.integers(0, 7, (2, 5)))
Y = torch.tensor(rng.integers(0, 7, (2, 5)))
losses = []
for it in range(3):
    logits = model(X)
    loss = F.cross_entropy(logits.view(-1, logits.size(-1)), Y.view(-1))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    losses.append(loss.item())
final = [p.detach().numpy().copy() if hasattr(p, "numpy") else None for p in raw_model.parameters()]
if ddp:
    destroy_process_group()
'''


def _run_train_like(tmp_path, lib):
    path = tmp_path / f"train_like_{lib}.py"
    path.write_text(_TRAIN_LIKE.format(lib=lib))
    return runpy.run_path(str(path))


def test_nanogpt_train_header_imports_and_trains_single_process(tmp_path, monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    ours = _run_train_like(tmp_path, "minigrad")
    theirs = _run_train_like(tmp_path, "torch")
    assert ours["torch"] is mg and theirs["torch"] is torch
    assert ours["ddp"] is False and ours["master_process"] is True
    np.testing.assert_allclose(ours["losses"], theirs["losses"], rtol=1e-5, atol=1e-6)
    assert ours["losses"][-1] < ours["losses"][0]
    for a, b in zip(ours["final"], theirs["final"]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_ddp_run_is_refused_with_the_single_process_recipe(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(RuntimeError, match=r"init_process_group: minigrad runs in one process.*RANK unset"):
        _run_train_like(tmp_path, "minigrad")


def test_distributed_queries_match_torch_without_a_process_group():
    assert dist.is_available() is False and dist.is_initialized() is False
    assert torch.distributed.is_initialized() is False
    for name in ("is_nccl_available", "is_mpi_available", "is_gloo_available", "is_torchelastic_launched"):
        assert getattr(dist, name)() is False
    for name in ("get_rank", "get_world_size", "get_backend"):
        with pytest.raises(ValueError) as theirs:
            getattr(torch.distributed, name)()
        with pytest.raises(ValueError) as ours:
            getattr(dist, name)()
        assert str(theirs.value) in str(ours.value)  # torch's text, then minigrad's reason
        assert str(ours.value).startswith(f"{name}: ") and "one process" in str(ours.value)


@pytest.mark.parametrize("name", ["all_reduce", "barrier", "broadcast", "all_gather", "reduce"])
def test_collectives_raise_torchs_error(name):
    args = {"all_reduce": (torch.ones(2),), "barrier": (), "broadcast": (torch.ones(2), 0),
            "all_gather": ([torch.ones(2)], torch.ones(2)), "reduce": (torch.ones(2), 0)}[name]
    with pytest.raises(ValueError) as theirs:
        getattr(torch.distributed, name)(*args)
    ours_args = tuple(mg.ones(2) if isinstance(a, torch.Tensor) else a for a in args)
    with pytest.raises(ValueError) as ours:
        getattr(dist, name)(*ours_args, op=dist.ReduceOp.SUM) if name == "all_reduce" else \
            getattr(dist, name)(*ours_args)
    assert str(theirs.value) in str(ours.value) and "python train.py" in str(ours.value)


def test_reduce_op_names_are_torchs_and_usable_at_import_time():
    names = {m.name for m in dist.ReduceOp}
    assert names == {"SUM", "AVG", "PRODUCT", "MIN", "MAX", "BAND", "BOR", "BXOR", "PREMUL_SUM"}
    assert all(hasattr(torch.distributed.ReduceOp, n) for n in names)

    def reduce_mean(x, op=dist.ReduceOp.SUM):  # a default argument names it when the module loads
        return op

    assert reduce_mean(None) is dist.ReduceOp.SUM


@pytest.mark.parametrize("call", [lambda: dist.init_process_group("gloo"), lambda: dist.init_process_group(),
                                  lambda: dist.destroy_process_group(), lambda: dist.new_group([0])])
def test_process_group_setup_is_refused_clearly(call):
    with pytest.raises(RuntimeError, match=r"one process.*python train\.py.*RANK unset"):
        call()


def test_ddp_refused_but_importable_under_torchs_paths():
    from minigrad.nn.parallel.distributed import DistributedDataParallel as DDP2
    from minigrad.nn.parallel.data_parallel import DataParallel as DP2

    assert DDP2 is DistributedDataParallel and DP2 is DataParallel is mg.nn.DataParallel is mg.nn.parallel.DataParallel
    assert mg.distributed is dist and callable(mg.dist)  # torch.dist (the distance) is untouched
    model = mg.nn.Linear(2, 3)
    assert not isinstance(model, DistributedDataParallel)  # `model.module if isinstance(model, DDP) else model`
    with pytest.raises(RuntimeError, match=r"DistributedDataParallel: minigrad runs in one process"):
        DistributedDataParallel(model, device_ids=[0])
    # torch.utils.data.distributed.DistributedSampler: the one sampler, torch's shares when told the replicas
    from minigrad.utils.data.distributed import DistributedSampler

    assert DistributedSampler is mg.data.DistributedSampler
    data = list(range(7))
    for rank in range(3):
        ours = list(DistributedSampler(data, num_replicas=3, rank=rank, shuffle=False))
        theirs = list(torch.utils.data.distributed.DistributedSampler(data, num_replicas=3, rank=rank, shuffle=False))
        assert ours == theirs


def test_data_parallel_on_cpu_is_torchs_wrapper(device):
    if torch.cuda.is_available():  # (torch's DataParallel then moves the module to its GPU and scatters inputs)
        pytest.skip("compares with torch's CPU wrapper: this torch has CUDA")
    rng = np.random.default_rng(0)
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    tdp = torch.nn.DataParallel(tm)  # torch on a CPU build: a plain wrapper
    ours = DataParallel(mg.nn.Sequential(mg.nn.Linear(3, 4), mg.nn.Tanh(), mg.nn.Linear(4, 2)))
    # every visible GPU, as torch's (none on a CPU-only machine)
    assert ours.device_ids == (list(range(mg.cuda.device_count())) if mg.cuda.is_available() else [])
    assert tdp.device_ids == (list(range(torch.cuda.device_count())) if torch.cuda.is_available() else [])
    assert list(ours.state_dict()) == list(tdp.state_dict())  # 'module.0.weight', ...
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in tdp.named_parameters()]
    assert repr(ours).startswith("DataParallel(\n  (module): Sequential(")
    # a DataParallel checkpoint of torch loads into ours, keys and all
    ours.load_state_dict({k: v.numpy() for k, v in tdp.state_dict().items()})
    ours.to(device)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    xt, xm = torch.tensor(x, requires_grad=True), mg.tensor(x, device=device, requires_grad=True)
    yt, ym = tdp(xt), ours(xm)
    np.testing.assert_allclose(_np(ym), _np(yt), rtol=1e-5, atol=1e-6)
    yt.square().sum().backward()
    ym.square().sum().backward()
    np.testing.assert_allclose(_np(xm.grad), _np(xt.grad), rtol=1e-5, atol=1e-6)
    for (n, p), (_, q) in zip(ours.named_parameters(), tdp.named_parameters()):
        np.testing.assert_allclose(_np(p.grad), _np(q.grad), rtol=1e-5, atol=1e-6, err_msg=n)
    # the wrapped module is `.module`; its own state_dict has no prefix
    assert list(ours.module.state_dict()) == list(tm.state_dict())
    out = mg.nn.parallel.data_parallel(ours.module, xm)
    np.testing.assert_allclose(_np(out), _np(ym), rtol=1e-6)
    with pytest.raises(TypeError, match="DataParallel: module must be an nn.Module"):
        DataParallel(lambda x: x)


# ---------------------------------------------------------------- 2. shape ops given a raw array
_RAW_ARRAY_OPS = {
    "flip": lambda a: mg.flip(a, [0]),
    "split": lambda a: mg.split(a, 1),
    "chunk": lambda a: mg.chunk(a, 2),
    "tile": lambda a: mg.tile(a, (2,)),
    "narrow": lambda a: mg.narrow(a, 0, 0, 1),
    "select": lambda a: mg.select(a, 0, 0),
    "unbind": lambda a: mg.unbind(a),
    "diagonal": lambda a: mg.diagonal(a),
    "diag": lambda a: mg.diag(a),
    "trace": lambda a: mg.trace(a),
    "tril": lambda a: mg.tril(a),
    "triu": lambda a: mg.triu(a),
    "repeat_interleave": lambda a: mg.repeat_interleave(a, 2),
    "unflatten": lambda a: mg.unflatten(a, 1, (3, 1)),
    "diff": lambda a: mg.diff(a),
    "index_select": lambda a: mg.index_select(a, 0, mg.tensor([0])),
    "cumsum": lambda a: mg.cumsum(a, 0),
    "cumprod": lambda a: mg.cumprod(a, 0),
    "sort": lambda a: mg.sort(a),
    "argsort": lambda a: mg.argsort(a),
    # already refused before this audit (kept here so the whole family stays covered)
    "roll": lambda a: mg.roll(a, 1, 0),
    "rot90": lambda a: mg.rot90(a),
    "transpose": lambda a: mg.transpose(a, 0, 1),
    "permute": lambda a: mg.permute(a, (1, 0)),
    "reshape": lambda a: mg.reshape(a, (3, 2)),
    "squeeze": lambda a: mg.squeeze(a),
    "flatten": lambda a: mg.flatten(a),
}


@pytest.mark.parametrize("op", sorted(_RAW_ARRAY_OPS))
def test_shape_ops_refuse_a_raw_array_naming_op_and_port(op):
    a = mg.arange(6.0).reshape(2, 3).data  # what torch's `t.data` is in minigrad
    with pytest.raises(TypeError) as e:
        _RAW_ARRAY_OPS[op](a)
    text = str(e.value)
    name = op
    assert text.startswith(f"{name}:") and "must be a Tensor" in text and "ndarray" in text
    assert "mg.tensor(" in text
    if op in ("flip", "tile", "cumsum", "sort", "argsort", "unbind", "narrow", "index_select"):  # this audit's
        assert f"mg.{name}(t.detach(), ...)" in text and "raw array" in text


def test_cat_and_stack_refuse_raw_array_elements():
    a = mg.ones(2, 3)
    for op in (mg.cat, mg.stack):
        with pytest.raises(TypeError, match=rf"{op.__name__}: expected Tensors, got ndarray"):
            op([a, a.data])


def test_flip_and_friends_unchanged_on_tensors(device):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    xt, xm = torch.tensor(x, requires_grad=True), mg.tensor(x, device=device, requires_grad=True)
    for f in (lambda v, L: L.flip(v, [0, 2]), lambda v, L: L.tril(v[0], 1), lambda v, L: L.cumsum(v, 1),
              lambda v, L: L.diff(v, dim=1), lambda v, L: L.tile(v, (2, 1, 1))):
        np.testing.assert_allclose(_np(f(xm, mg)), _np(f(xt, torch)))
    mg.flip(xm, [1]).mul(mg.arange(24.0, device=device).reshape(2, 3, 4)).sum().backward()
    torch.flip(xt, [1]).mul(torch.arange(24.0).reshape(2, 3, 4)).sum().backward()
    np.testing.assert_allclose(_np(xm.grad), _np(xt.grad))


# ---------------------------------------------------------------- 3. 0-d boolean masks
def _T(L):
    return L.tensor(True)


def _F(L):
    return L.tensor(False)


_GET_CASES = {  # x has shape (2, 3, 4)
    "[T]": lambda x, L: x[_T(L)],
    "[F]": lambda x, L: x[_F(L)],
    "[True]": lambda x, L: x[True],
    "[False]": lambda x, L: x[False],
    "[:, T]": lambda x, L: x[:, _T(L)],
    "[..., T]": lambda x, L: x[..., _T(L)],
    "[T, ..., F]": lambda x, L: x[_T(L), ..., _F(L)],
    "[T, [0, 1]]": lambda x, L: x[_T(L), [0, 1]],
    "[[1, 0], T]": lambda x, L: x[[1, 0], _T(L)],
    "[T, T]": lambda x, L: x[_T(L), _T(L)],
    "[T, None]": lambda x, L: x[_T(L), None],
    "[:, [[0], [1]], T]": lambda x, L: x[:, [[0], [1]], _T(L)],
    "[T, 1:, mask]": lambda x, L: x[_T(L), 1:, x[0, :, 0] > 0],
}


def _values_and_grads(fn, x_np, device):
    """fn's value and x's gradient (for a fixed random cotangent) in torch and in minigrad."""
    xt = torch.tensor(x_np, requires_grad=True)
    xm = mg.tensor(x_np, device=device, requires_grad=True)
    yt, ym = fn(xt, torch), fn(xm, mg)
    assert tuple(ym.shape) == tuple(yt.shape)
    w = np.random.default_rng(1).standard_normal(tuple(yt.shape)).astype(np.float32)
    (yt * torch.tensor(w)).sum().backward()
    (ym * mg.tensor(w, device=device)).sum().backward()
    return (_np(yt), _np(xt.grad)), (_np(ym), _np(xm.grad))


@pytest.mark.parametrize("case", list(_GET_CASES))
def test_0d_mask_getitem_matches_torch(case, device):
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    (yt, gt), (ym, gm) = _values_and_grads(_GET_CASES[case], x, device)
    np.testing.assert_array_equal(ym, yt)
    np.testing.assert_array_equal(gm, gt)


@pytest.mark.parametrize("value", [0.7, -0.2])
def test_0d_mask_on_a_0d_tensor(value, device):
    x = np.float32(value)
    for fn, kept in ((lambda v, L: v[v > 0.3], value > 0.3), (lambda v, L: v[v < 0.3] * 2, value < 0.3)):
        (yt, gt), (ym, gm) = _values_and_grads(fn, np.asarray(x), device)
        assert ym.shape == yt.shape == ((1,) if kept else (0,))  # a dim of size 1 (True) or 0 (False)
        np.testing.assert_array_equal(ym, yt)
        np.testing.assert_array_equal(gm, gt)


@given(ndim=st.integers(0, 3), data=st.data())
def test_0d_mask_property_matches_torch(ndim, data):
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    keep = data.draw(st.booleans())
    pos = data.draw(st.integers(0, ndim))  # where the mask stands among full slices
    use_ellipsis = data.draw(st.booleans())

    def fn(x, L):
        idx = (slice(None),) * pos + (L.tensor(keep),)
        return x[(Ellipsis,) + idx[pos:] if use_ellipsis and pos == ndim else idx]

    x = np.random.default_rng(ndim).standard_normal(shape).astype(np.float32)
    (yt, gt), (ym, gm) = _values_and_grads(fn, x, "cpu")
    np.testing.assert_array_equal(ym, yt)
    np.testing.assert_array_equal(gm, gt)


def test_0d_mask_gradcheck(device):
    x = mg.tensor(np.random.default_rng(2).standard_normal((2, 3)), device=device, requires_grad=True)
    assert gradcheck(lambda v: v[:, mg.tensor(True)] * v[mg.tensor(True), 1], x)
    s = mg.tensor(0.8, dtype=mg.float64, device=device, requires_grad=True)
    assert gradcheck(lambda v: v[v > 0.3].square(), s)


_SET_CASES = [  # (x's values, x's shape, index, value)
    (0.5, (), lambda y, L: y > 0.3, 2.0),
    (0.1, (), lambda y, L: y > 0.3, 2.0),  # mask False: nothing written
    (0.5, (), lambda y, L: y > 0.3, [7.0]),
    (np.arange(6.0), (2, 3), lambda y, L: _T(L), [1.0, 2.0, 3.0]),
    (np.arange(6.0), (2, 3), lambda y, L: (slice(None), _F(L)), 9.0),
    (np.arange(6.0), (2, 3), lambda y, L: (_T(L), 1), [4.0, 5.0, 6.0]),
    (np.arange(6.0), (2, 3), lambda y, L: (True, ..., [0, 2]), 3.0),
    (np.arange(6.0), (2, 3), lambda y, L: (_T(L), slice(None), _T(L), 2), [[8.0, 9.0]]),  # two masks
]


def _setitem(L, val, shape, index, value, record, device):
    kw = {"device": device} if L is mg else {}
    x = L.tensor(np.asarray(val, dtype=np.float32).reshape(shape), **kw)
    if record:
        x.requires_grad_(True)
        y = x * 1.0  # a non-leaf: the write is recorded in the graph
    else:
        y = x.clone()
    v = value if isinstance(value, float) else L.tensor(np.asarray(value, dtype=np.float32), requires_grad=record,
                                                          **kw)
    y[index(y, L)] = v
    out = [_np(y)]
    if record:
        w = L.arange(float(y.numel()), **kw).reshape(tuple(y.shape))
        (y * w).sum().backward()
        out.append(_np(x.grad))
        if not isinstance(value, float):
            out.append(_np(v.grad))
    return out


@pytest.mark.parametrize("record", [False, True])
@pytest.mark.parametrize("k", range(len(_SET_CASES)))
def test_0d_mask_setitem_matches_torch(k, record, device):
    theirs = _setitem(torch, *_SET_CASES[k], record, "cpu")
    ours = _setitem(mg, *_SET_CASES[k], record, device)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def test_0d_mask_write_through_a_non_contiguous_view(device):
    xt = torch.arange(24.0).reshape(2, 3, 4).permute(2, 0, 1)
    xm = mg.arange(24.0, device=device).reshape(2, 3, 4).permute(2, 0, 1)
    xt[:, True, 1] = -1.0
    xm[:, mg.tensor(True, device=device), 1] = -1.0
    np.testing.assert_array_equal(_np(xm), _np(xt))
    for start, expect in ((0.9, 0.0), (0.1, 0.1)):
        v = mg.tensor(start, device=device)
        v[v > 0.3] = 0.0  # the line this audit found (written in place, no graph)
        assert float(v) == pytest.approx(expect)


def test_0d_mask_still_checks_the_other_indices():
    x = mg.zeros(2, 3)
    with pytest.raises(IndexError, match="out of range"):
        x[mg.tensor(True), 5]
    with pytest.raises(IndexError):
        x[mg.tensor(True), 0, 0, 0]


# ---------------------------------------------------------------- 4. complex data into a Parameter
def test_parameter_data_refuses_complex_arrays():
    p = mg.nn.Parameter(mg.ones(2))
    before = p.data
    with pytest.raises(TypeError, match=r"Parameter\.data: complex tensors are not supported \(dtype complex64\)"):
        p.data = np.ones(2, dtype=np.complex64)
    with pytest.raises(TypeError, match=r"Parameter\.data: unsupported dtype"):
        p.data = np.array(["a", "b"])
    assert p.data is before
    p.data = np.zeros(3, dtype=np.float32)  # real arrays still replace the data, as torch's `p.data = t`
    assert p.shape == (3,) and p.requires_grad
    with pytest.raises(TypeError, match="complex"):
        mg.tensor(np.ones(2, dtype=np.complex64))  # the README's rule, for comparison
