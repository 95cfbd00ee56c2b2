"""Session 8's code paths that receive CuPy arrays, run on every backend (the `device` fixture).

A review of the CuPy branches written without a GPU (git diff 87c49f1) found these spots where
NumPy and CuPy differ; each test pins the behaviour both must share:

* printing copies only what it prints to the host (it copied the whole array);
* `+=` into an expand()ed `.grad`: NumPy refuses the write (read-only), CuPy has no such flag and
  would add into the shared elements; both now accumulate into a new array;
* a TensorDataset indexed by GPU indices: one read back for the range check (CuPy wraps
  out-of-range indices instead of raising), and a clear error for data on another device;
* word2vec callbacks see the current vectors on a GPU too (they saw the last epoch's copy);
* GradScaler keeps its state on the device of the loss it scaled;
and checks, on the GPU, paths that had no device test: the engine's alias check (CuPy's `.base`),
view / view(dtype) / einsum's own memory, module backward hooks, the hint for torch methods
called on arrays in a custom Function.
"""
import numpy as np
import pytest

import minigrad as mg
from minigrad import backend as _B
from minigrad import nn, runtime
from minigrad.data import TensorDataset


def _host(t):
    return np.array(t.numpy())


# ---------------------------------------------------------------- printing
@pytest.mark.parametrize("options", [{}, {"edgeitems": 1}, {"edgeitems": 0, "threshold": 5}], ids=str)
def test_repr_copies_only_the_printed_part_to_the_host(device, monkeypatch, options):
    torch = pytest.importorskip("torch")
    a = np.arange(100 * 120, dtype=np.float32).reshape(100, 120) / 7
    x = mg.tensor(a, device=device)
    moved = []
    to_device = _B.to_device

    def spy(arr, dev):
        moved.append(arr.size)
        return to_device(arr, dev)

    monkeypatch.setattr(_B, "to_device", spy)
    try:
        torch.set_printoptions(**options)
        with runtime.printoptions(**options):
            ours = repr(x)
        theirs = repr(torch.tensor(a))
    finally:
        torch.set_printoptions(profile="default")
    edge = options.get("edgeitems", 3)
    assert moved and max(moved) <= (2 * edge + 1) ** 2  # (was 12000: the whole tensor)
    where = "" if device == "cpu" else f", device='{x.device}'"
    # torch's suffixes: device first, then size (printed when edgeitems=0 hides every value)
    expected = theirs.replace(", size=", where + ", size=") if ", size=" in theirs else theirs[:-1] + where + ")"
    assert ours == expected


def test_repr_of_small_and_empty_tensors_on_every_device(device):
    x = mg.tensor([[1.5, 2.0], [3.0, 4.25]], device=device)
    where = "" if device == "cpu" else f", device='{x.device}'"
    assert repr(x) == f"tensor([[1.5000, 2.0000],\n        [3.0000, 4.2500]]{where})"
    assert repr(mg.zeros(0, 3, device=device)) == f"tensor([]{where}, size=(0, 3))"


# ---------------------------------------------------------------- autograd
def test_gradient_accumulates_into_an_expanded_grad_out_of_place(device):
    """NumPy refuses `+=` into a broadcast view; CuPy would do it, racing on the shared element.
    Both give .grad a new array (torch refuses the accumulation instead)."""
    x = mg.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    g0 = mg.zeros(1, device=device).expand(3)
    x.grad = g0
    (x * 2).sum().backward()
    assert x.grad is not g0 and x.grad.device == x.device
    assert _host(x.grad).tolist() == [2.0, 2.0, 2.0] and _host(g0).tolist() == [0.0, 0.0, 0.0]
    (x * 3).sum().backward()  # now an ordinary array: accumulated in place
    assert _host(x.grad).tolist() == [5.0, 5.0, 5.0]


def test_a_grad_on_another_device_is_refused_clearly(device):
    """`+=` between a NumPy and a CuPy array is a bare TypeError from CuPy; the refusal names both devices."""
    x = mg.tensor([1.0, 2.0], device=device, requires_grad=True)
    other = "cpu" if device != "cpu" else None
    if other is None:  # one backend: what this host can check is that a fitting .grad still accumulates
        x.grad = mg.ones(2, device=device)
        (x * 2).sum().backward()
        assert _host(x.grad).tolist() == [3.0, 3.0]
        return
    x.grad = mg.ones(2, device=other)
    with pytest.raises(RuntimeError, match=r"cannot accumulate the gradient into .grad of a float32\[2\] tensor on "
                                           r"cuda:0: its .grad is float32\[2\] on cpu"):
        (x * 2).sum().backward()


class _Returns(mg.Function):
    """y = make(x), possibly sharing x's memory without declaring a view."""

    @staticmethod
    def forward(ctx, a, make):
        return make(a)

    @staticmethod
    def backward(ctx, g):
        return g, None


@pytest.mark.parametrize("make", [lambda a: a, lambda a: a.reshape(a.shape), lambda a: a[::-1][::-1],
                                  lambda a: a.reshape(2, 2).T.T.reshape(4)], ids=["self", "reshape", "slices", "T"])
def test_engine_copies_an_undeclared_alias_on_every_device(device, make):
    """The alias check reads `.base` (CuPy collapses chains of views to the owner, as NumPy does)."""
    w = mg.tensor([1.0, 2.0, 3.0, 4.0], device=device, requires_grad=True)
    x = w * 1
    y = _Returns.apply(x, make)
    z = (y * y).sum()
    x.mul_(3)  # would change y too, and so what z's backward reads
    z.backward()
    assert _host(w.grad).tolist() == [2.0, 4.0, 6.0, 8.0]
    assert _host(y).tolist() == [1.0, 2.0, 3.0, 4.0]


def test_torch_method_on_an_array_in_a_custom_function_names_the_fix(device):
    class MyReLU(mg.Function):
        @staticmethod
        def forward(ctx, input):  # noqa: A002
            return input.clamp(min=0)  # torch's spelling; arrays have clip

        @staticmethod
        def backward(ctx, g):
            return g

    x = mg.tensor([-1.0, 2.0], device=device, requires_grad=True)
    with pytest.raises(AttributeError, match=r"MyReLU.forward: .*no attribute 'clamp'. A Function's forward and "
                                             r"backward receive backend arrays"):
        MyReLU.apply(x)


# ---------------------------------------------------------------- views
def test_views_share_memory_on_every_device(device):
    x = mg.arange(12, device=device).float()
    v = x.view(3, 4)
    v[0, 0] = 100.0
    assert _host(x)[0] == 100.0 and x._version == v._version
    with pytest.raises(RuntimeError, match="view: shape"):
        x.view(3, 4).t().view(12)
    assert _host(x.view(3, 4).t().view(2, 2, 3)).tolist() == _host(x).reshape(3, 4).T.reshape(2, 2, 3).tolist()
    y = mg.tensor(np.arange(6, dtype=np.float32).reshape(2, 3), device=device)
    e = mg.einsum("ij->ji", y)
    y.data[0, 0] = 42.0
    assert _host(e)[0, 0] == 0.0  # einsum's result owns its memory (NumPy and CuPy return a view)


@pytest.mark.parametrize("dst", ["float16", "int32", "uint8", "float64"])
def test_view_dtype_on_every_device(device, dst):
    base = (np.arange(24, dtype=np.float32).reshape(4, 6) - 5) / 3
    x = mg.tensor(base, device=device)
    assert _host(x.view(dst)).tobytes() == base.view(dst).tobytes()
    # a slice whose last dimension is contiguous (not the whole array): torch and NumPy view it;
    # CuPy releases before 13 wanted the whole array C-contiguous
    part = x[:, :4]
    want = base[:, :4].view(dst)
    got = part.view(dst)
    assert got.shape == want.shape and _host(got).tobytes() == np.ascontiguousarray(want).tobytes()
    got.data[...] = 0  # shares part's memory
    assert (_host(x)[:, :4] == 0).all() and (_host(x)[:, 4:] == base[:, 4:]).all()


# ---------------------------------------------------------------- module backward hooks
def _hooked_run(device):
    mg.manual_seed(0)
    lin = nn.Linear(3, 2).double().to(device)
    seen = []
    lin.register_full_backward_pre_hook(lambda m, go: (go[0] * 2,))
    lin.register_full_backward_hook(lambda m, gi, go: seen.append((_host(gi[0]), _host(go[0]))))
    x = mg.tensor(np.arange(6.0).reshape(2, 3), device=device, requires_grad=True)
    out = lin(x)
    with pytest.raises(RuntimeError):  # the output is a view of the hook node's input: no in-place change
        out.mul_(2)
    (out ** 2).sum().backward()
    return seen, _host(x.grad), _host(lin.weight.grad)


def test_module_backward_hooks_on_every_device(device):
    (gi, go), gx, gw = _hooked_run(device)[0][0], *_hooked_run(device)[1:]
    (gi_c, go_c), gx_c, gw_c = _hooked_run("cpu")[0][0], *_hooked_run("cpu")[1:]
    np.testing.assert_allclose(go, go_c, rtol=1e-12)
    np.testing.assert_allclose(gi, gi_c, rtol=1e-12)
    np.testing.assert_allclose(gx, gx_c, rtol=1e-12)
    np.testing.assert_allclose(gw, gw_c, rtol=1e-12)
    np.testing.assert_allclose(gx, gi, rtol=1e-12)  # what the hook saw is what reached x


# ---------------------------------------------------------------- TensorDataset
def test_tensor_dataset_indexing_on_every_device(device):
    x = mg.tensor(np.arange(12.0).reshape(6, 2), device=device)
    y = mg.arange(6, device=device)
    ds = TensorDataset(x, y)
    for index in ([0, 5, -1], np.array([1, -2]), mg.tensor([2, 0], device=device), mg.tensor([2, 0]),
                  slice(1, 4), mg.tensor([True, False, True, True, False, False], device=device)):
        want = np.arange(6)[index.numpy() if isinstance(index, mg.Tensor) else index]
        bx, by = ds[index]
        assert bx.device == by.device == x.device
        assert _host(by).tolist() == want.tolist() and _host(bx)[:, 0].tolist() == (2.0 * want).tolist()
    for bad in ([0, 6], mg.tensor([0, 6], device=device), mg.tensor([-7], device=device)):
        with pytest.raises(IndexError, match="TensorDataset: an index in .* is out of range for 6 samples"):
            ds[bad]  # (CuPy alone would wrap 6 around to 0)
    if device != "cpu":  # GPU indices for data on the host: refused as torch does, naming both devices
        host_ds = TensorDataset(mg.arange(6))
        with pytest.raises(RuntimeError, match="indices on cuda:0 cannot index data on cpu"):
            host_ds[mg.tensor([1, 2], device=device)]


# ---------------------------------------------------------------- word2vec callbacks
def test_word2vec_callbacks_see_the_current_vectors(device):
    from models.word2vec import CallbackAny2Vec, Word2Vec

    class Check(CallbackAny2Vec):
        def __init__(self):
            self.gaps, self.snapshots = [], []

        def on_batch_end(self, model):
            current = _host(model.network.in_embed.weight)
            self.gaps.append(float(np.abs(np.asarray(model.wv.vectors) - current).max()))
            self.snapshots.append(current)

    sentences = [[f"w{(i + k) % 7}" for k in range(5)] for i in range(40)]
    cb = Check()
    Word2Vec(sentences, min_count=1, vector_size=8, epochs=2, batch_words=50, sample=0, callbacks=[cb],
             progress=False, device=device)
    assert len(cb.gaps) == 8 and max(cb.gaps) == 0.0
    assert all(np.abs(a - b).max() > 0 for a, b in zip(cb.snapshots, cb.snapshots[1:]))  # they did change


# ---------------------------------------------------------------- GradScaler
def test_grad_scaler_state_stays_on_the_loss_device(device):
    kind = "cpu" if device == "cpu" else "cuda"
    p = mg.tensor([1.0, -2.0], device=device, requires_grad=True)
    opt = mg.optim.SGD([p], lr=0.5)
    s = mg.amp.GradScaler(kind, init_scale=8.0, growth_interval=1)
    s.scale((p * p).sum()).backward()
    assert _B.device_of(s._scale) == p.device and _B.device_of(s._growth_tracker) == p.device
    no_sync = _no_sync_guard(device)
    with no_sync():  # the inf check and the new scale stay on the device
        s.unscale_(opt)
    s.step(opt)  # the one host read: was any gradient inf/NaN?
    with no_sync():
        s.update()
    assert _host(p).tolist() == [0.0, 0.0] and s.get_scale() == 16.0  # stepped; grown after 1 good step
    opt.zero_grad()
    s.scale(((p + 1) * float("inf")).sum()).backward()
    s.step(opt)
    s.update()
    assert _host(p).tolist() == [0.0, 0.0] and s.get_scale() == 8.0  # skipped; backed off
    s.update(new_scale=4.0)
    assert _B.device_of(s._scale) == p.device and s.get_scale() == 4.0


def _no_sync_guard(device):
    """cupyx.allow_synchronize(False) on a GPU (where this CuPy still has the detector), else a no-op."""
    import contextlib

    if device == "cpu":
        return contextlib.nullcontext
    cupyx = pytest.importorskip("cupyx")
    if not hasattr(cupyx, "allow_synchronize"):
        return contextlib.nullcontext
    return lambda: cupyx.allow_synchronize(False)
