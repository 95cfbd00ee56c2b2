"""Session 9 CuPy-path review: the new code's backend branches, run on every backend (`device` fixture).

Written without a GPU (session 9 had none): on a GPU machine the 'cuda' cases are what
`bash benchmarks/gpu_check.sh rerun` runs. Each test states the CuPy difference it guards:

* histogram: CuPy's bincount reads max(positions) back, which fails for no positions
  (nothing in range, all NaN, empty input); NumPy's gives zeros(minlength).
* Embedding(scale_grad_by_freq=True): counts by atomic int adds on CuPy (its bincount syncs
  every backward and fails on an empty batch); the same gradient on every backend.
* Embedding(max_norm=...): cupy.linalg.norm's vector orders and the no-grad row write.
* storage_offset / data_ptr / resize_: CuPy's `.base` chain and device addresses.
* mg.tensor([tensor, ...]) on a device; to_tensor keeps a CuPy array on its GPU.
* frexp's special values (inf, NaN, +-0, subnormals, float16) through CuPy's frexp/ldexp.
* prune: LnStructured's batched SVD ('nuc'), a structured method after an unstructured one
  (boolean-and-slice indexing), RandomUnstructured's device draws.
* a Tensor lr on the parameters' device (read each step; filled by a scheduler).
"""
import numpy as np
import pytest

import minigrad as mg
from minigrad import backend as _B
from minigrad.nn.utils import prune
from minigrad.ops.common import to_tensor


def _np(t):
    return t.detach().cpu().numpy()


# ---------------------------------------------------------------- histogram
@pytest.mark.parametrize("values, kw", [
    ([5.0, 6.0, 7.0], dict(range=(0.0, 1.0))),              # every value outside the range
    ([float("nan"), float("nan")], dict(range=(0.0, 1.0))),  # NaN is never counted
    ([], {}),                                                # no data: bins over [0, 1]
])
@pytest.mark.parametrize("weighted", [False, True])
def test_histogram_with_nothing_in_range_gives_zero_counts(device, values, kw, weighted):
    x = mg.tensor(np.array(values, dtype=np.float32), device=device)
    w = mg.ones(len(values), device=device) if weighted else None
    hist, edges = mg.histogram(x, 4, weight=w, **kw)
    assert hist.device == x.device and hist.dtype == mg.float32 and edges.dtype == mg.float32
    np.testing.assert_array_equal(_np(hist), np.zeros(4, np.float32))
    lo, hi = kw.get("range", (0.0, 1.0))
    np.testing.assert_allclose(_np(edges), np.linspace(lo, hi, 5), rtol=1e-6)


def test_histogram_counts_match_numpy(device):
    rng = np.random.default_rng(3)
    a = rng.standard_normal(200).astype(np.float32)
    w = rng.random(200).astype(np.float32)
    hist, edges = mg.histogram(mg.tensor(a, device=device), 7, weight=mg.tensor(w, device=device))
    want, want_edges = np.histogram(a, 7, weights=w)
    np.testing.assert_allclose(_np(edges), want_edges, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(hist), want, rtol=1e-5)
    hist, _ = mg.histogram(mg.tensor(a, device=device), 7)
    np.testing.assert_array_equal(_np(hist), np.histogram(a, 7)[0].astype(np.float32))


# ---------------------------------------------------------------- embedding
def test_embedding_scale_grad_by_freq_gradient(device):
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((6, 3))
    idx = np.array([[1, 1, 4], [4, 1, 0]])
    emb = mg.nn.Embedding.from_pretrained(mg.tensor(w0, device=device), freeze=False, scale_grad_by_freq=True)
    g = rng.standard_normal((2, 3, 3))
    (emb(mg.tensor(idx, device=device)) * mg.tensor(g, device=device)).sum().backward()
    counts = np.bincount(idx.ravel(), minlength=6)
    want = np.zeros_like(w0)
    np.add.at(want, idx.ravel(), g.reshape(-1, 3) / counts[idx.ravel()][:, None])
    assert emb.weight.grad.device == emb.weight.device and emb.weight.grad.dtype == mg.float64
    np.testing.assert_allclose(_np(emb.weight.grad), want, rtol=1e-12)


def test_embedding_scale_grad_by_freq_empty_batch(device):
    emb = mg.nn.Embedding(5, 2, scale_grad_by_freq=True).to(device)
    out = emb(mg.zeros(0, dtype=mg.int64, device=device))
    assert tuple(out.shape) == (0, 2)
    out.sum().backward()
    np.testing.assert_array_equal(_np(emb.weight.grad), np.zeros((5, 2), np.float32))


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
def test_embedding_max_norm_renormalizes_looked_up_rows(device, norm_type):
    rng = np.random.default_rng(1)
    w0 = (rng.standard_normal((5, 4)) * 3).astype(np.float32)
    emb = mg.nn.Embedding.from_pretrained(mg.tensor(w0, device=device), freeze=False, max_norm=1.5,
                                          norm_type=norm_type)
    idx = np.array([0, 3, 3])
    emb(mg.tensor(idx, device=device))
    want = w0.copy()
    for r in np.unique(idx):
        n = np.linalg.norm(w0[r].astype(np.float64), ord=norm_type)
        if n > 1.5:
            want[r] = w0[r] * np.float32(1.5 / (n + 1e-7))
    got = _np(emb.weight)
    assert emb.weight.dtype == mg.float32 and emb.weight.device == _B.parse_device(device)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_array_equal(got[[1, 2, 4]], w0[[1, 2, 4]])  # rows not looked up are untouched


# ---------------------------------------------------------------- memory: data_ptr, storage_offset, resize_
def test_storage_offset_data_ptr_and_resize_views(device):
    x = mg.arange(10, dtype=mg.float32, device=device)
    y = x[3:]
    assert x.storage_offset() == 0 and y.storage_offset() == 3
    assert y.data_ptr() - x.data_ptr() == 3 * 4
    z = x.reshape(2, 5)[1, 1:]  # a view of a view: the offset counts from the memory's start
    assert z.storage_offset() == 6
    y.resize_(2, 2)  # fits in the memory it views: a view of x's elements 3..6
    np.testing.assert_array_equal(_np(y), [[3, 4], [5, 6]])
    y.fill_(-1)
    np.testing.assert_array_equal(_np(x), [0, 1, 2, -1, -1, -1, -1, 7, 8, 9])
    w = x[8:].clone()
    w.resize_(3)  # grows: new memory, old values first, then zeros
    np.testing.assert_array_equal(_np(w), [8, 9, 0])
    assert w.device == x.device


# ---------------------------------------------------------------- tensors from data on a device
def test_tensor_from_a_list_of_device_tensors(device):
    items = [mg.tensor(1.5, device=device), mg.tensor(2, device=device), 3.0]
    t = mg.tensor(items)
    assert t.dtype == mg.float32
    np.testing.assert_array_equal(_np(t), [1.5, 2.0, 3.0])
    on = mg.tensor(items, device=device)
    assert on.device == _B.parse_device(device)
    np.testing.assert_array_equal(_np(on), [1.5, 2.0, 3.0])
    d = mg.tensor([mg.tensor(1.0, dtype=mg.float64, device=device), 2.0])  # a float64 element keeps float64
    assert d.dtype == mg.float64


def test_to_tensor_keeps_an_array_on_its_device(device):
    xp = _B.array_module_for(_B.parse_device(device))
    t = to_tensor(xp.ones(3, dtype=np.float32), None, "where")
    assert t.device == _B.parse_device(device)
    out = mg.where(mg.tensor([True, False, True], device=device), mg.ones(3, device=device), 0.0)
    np.testing.assert_array_equal(_np(out), [1.0, 0.0, 1.0])


# ---------------------------------------------------------------- frexp's special values
@pytest.mark.parametrize("dt", [np.float16, np.float32, np.float64])
def test_frexp_special_values_match_numpy(device, dt):
    tiny = np.finfo(dt).smallest_subnormal
    a = np.array([0.0, -0.0, 1.0, -3.0, 0.1, 1000.5, np.inf, -np.inf, np.nan, tiny, -tiny * 3,
                  np.finfo(dt).max, np.finfo(dt).tiny], dtype=dt)
    m, e = mg.tensor(a, device=device).frexp()
    wm, we = np.frexp(a)
    assert m.dtype == a.dtype and e.dtype == mg.int32
    np.testing.assert_array_equal(_np(m), wm)
    np.testing.assert_array_equal(np.signbit(_np(m)), np.signbit(wm))
    np.testing.assert_array_equal(_np(e), we)


# ---------------------------------------------------------------- pruning
def test_ln_structured_nuclear_norm_and_container_match_cpu(device):
    mg.manual_seed(4)
    ref = mg.nn.Conv1d(2, 5, 3)  # weight (5, 2, 3): 'nuc' takes each (2, 3) slice's singular values
    lin = mg.nn.Conv1d(2, 5, 3).to(device)
    lin.load_state_dict(ref.state_dict())
    for m in (ref, lin):
        prune.l1_unstructured(m, "weight", 8)
        prune.ln_structured(m, "weight", 2, n="nuc", dim=0)  # a structured method after an unstructured one
        prune.ln_structured(m, "weight", 1, n=2, dim=1)
    np.testing.assert_array_equal(_np(lin.weight_mask), _np(ref.weight_mask))
    assert lin.weight_mask.device == lin.weight_orig.device and lin.weight_mask.dtype == mg.float32
    assert _np(lin.weight_mask).sum() < 30


def test_random_unstructured_prunes_exactly_amount_on_device(device):
    lin = mg.nn.Linear(6, 4).to(device)
    prune.random_unstructured(lin, "weight", 0.25)
    prune.random_unstructured(lin, "weight", 3)  # among the 18 left
    mask = _np(lin.weight_mask)
    assert set(np.unique(mask)) <= {0.0, 1.0} and mask.sum() == 24 - 6 - 3
    assert lin.weight.device == lin.weight_orig.device


# ---------------------------------------------------------------- a Tensor lr
def test_tensor_lr_on_the_parameters_device(device):
    mg.manual_seed(0)
    a, b = mg.nn.Linear(3, 2).to(device), mg.nn.Linear(3, 2).to(device)
    b.load_state_dict(a.state_dict())
    lr = mg.tensor(0.1, device=device)
    oa, ob = mg.optim.SGD(a.parameters(), lr=lr, momentum=0.9), mg.optim.SGD(b.parameters(), lr=0.1, momentum=0.9)
    sa, sb = (mg.optim.lr_scheduler.StepLR(o, step_size=1, gamma=0.5) for o in (oa, ob))
    x = mg.randn(4, 3, device=device)
    for _ in range(3):
        for m, o, s in ((a, oa, sa), (b, ob, sb)):
            o.zero_grad()
            (m(x) ** 2).sum().backward()
            o.step()
            s.step()
    assert oa.param_groups[0]["lr"] is lr and abs(float(lr) - 0.1 * 0.5 ** 3) < 1e-8
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(_np(p), _np(q), rtol=1e-6, atol=1e-7)
