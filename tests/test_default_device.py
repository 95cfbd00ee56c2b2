"""The default device: mg.set_default_device / mg.get_default_device / ``with mg.device(...):``.

torch 2.13's rules: factories and mg.tensor / mg.as_tensor given no device= use the default,
and so do layer constructors (they pass device=None down to the factories); `*_like`, `new_*`,
ops, `from_numpy`, the `Tensor` constructor and `.to()` do not. The default is per thread;
``with`` blocks nest and restore on exit, exceptions included. Each test runs with the
`device` fixture as the default, so on a GPU machine the cuda case moves tensors for real.
"""
import threading

import numpy as np
import pytest

import minigrad as mg
import models
from minigrad import backend as _B

# name, the call (the same in minigrad and torch: `m` is either module), does torch honour the default?
FACTORIES = [
    ("zeros", lambda m: m.zeros(2, 3), True),
    ("ones", lambda m: m.ones(2), True),
    ("empty", lambda m: m.empty(2), True),
    ("full", lambda m: m.full((2,), 1.5), True),
    ("eye", lambda m: m.eye(2), True),
    ("arange", lambda m: m.arange(4), True),
    ("linspace", lambda m: m.linspace(0, 1, 3), True),
    ("logspace", lambda m: m.logspace(0, 1, 3), True),
    ("rand", lambda m: m.rand(2), True),
    ("randn", lambda m: m.randn(2), True),
    ("randint", lambda m: m.randint(0, 5, (3,)), True),
    ("randperm", lambda m: m.randperm(4), True),
    ("triu_indices", lambda m: m.triu_indices(3, 3), True),
    ("tril_indices", lambda m: m.tril_indices(3, 3), True),
    ("tensor(list)", lambda m: m.tensor([1, 2]), True),
    ("tensor(float)", lambda m: m.tensor(1.5), True),
    ("tensor(ndarray)", lambda m: m.tensor(np.zeros(2, np.float32)), True),
    ("as_tensor(list)", lambda m: m.as_tensor([1.0, 2.0]), True),
    ("as_tensor(ndarray)", lambda m: m.as_tensor(np.zeros(2)), True),
]


@pytest.fixture(autouse=True)
def _no_default_left_behind():
    """A failing test must not leave a default device for the next one."""
    yield
    mg.set_default_device(None)
    del _B._device._default.replaced[:]


def _on(device):
    return _B.parse_device(device)  # the canonical device a tensor reports ('cuda' -> 'cuda:0')


def test_torch_honours_the_default_where_we_say():
    """The table above is torch 2.13's behaviour (checked with the 'meta' device on a CPU build)."""
    torch = pytest.importorskip("torch")
    for name, make, honours in FACTORIES:
        with torch.device("meta"):
            got = make(torch).device.type
        assert got == ("meta" if honours else "cpu"), name
    cpu = torch.zeros(2)
    with torch.device("meta"):  # what we leave alone, torch leaves alone
        assert torch.zeros_like(cpu).device.type == "cpu"
        assert torch.randn_like(cpu).device.type == "cpu"
        assert cpu.new_zeros(2).device.type == "cpu"
        assert torch.from_numpy(np.zeros(2)).device.type == "cpu"
        assert (cpu + 1).device.type == "cpu"
        assert cpu.to(torch.float64).device.type == "cpu"
        assert torch.nn.Linear(2, 3).weight.device.type == "meta"
        assert torch.nn.LSTM(2, 3).weight_hh_l0.device.type == "meta"
        # the one we differ on: torch skips normal(mean, std, size) (torch/utils/_device.py);
        # ours honours the default, as every other factory that takes device=
        assert torch.normal(0.0, 1.0, (2,)).device.type == "cpu"
    assert torch.get_default_device().type == "cpu"


def test_factories_and_tensor_follow_the_default(device):
    dev = _on(device)
    with mg.device(device) as entered:
        assert entered == device and isinstance(entered, mg.device)
        assert mg.get_default_device() == dev
        for name, make, _ in FACTORIES:
            assert make(mg).device == dev, name
        assert mg.normal(0.0, 1.0, (2,)).device == dev  # (torch: cpu; see above)
        assert mg.zeros(2, device="cpu").device == "cpu"  # an explicit device wins
        t = mg.tensor([1, 2])
        assert t.dtype == mg.int64 and t.tolist() == [1, 2]
    assert mg.get_default_device() == "cpu"
    for name, make, _ in FACTORIES:
        assert make(mg).device == "cpu", name


def test_every_factory_reads_the_default(monkeypatch):
    """On a CPU-only machine the default and the fallback are both 'cpu'; this checks the default is
    what each factory resolves (the cuda case of the test above checks where tensors land)."""
    default = mg.device("cpu")  # a fresh object: the spy below knows it by identity
    asked = []

    def spy(dev, _real=_B.parse_device):
        asked.append(dev is default)
        return _real(dev)

    monkeypatch.setattr(_B, "parse_device", spy)
    with default:
        for name, make, _ in FACTORIES + [("normal", lambda m: m.normal(0.0, 1.0, (2,)), True)]:
            del asked[:]
            make(mg)
            assert any(asked), f"{name} did not read the default device"


def test_a_set_default_moves_tensor_data_there(device):
    """mg.tensor(t) / mg.as_tensor(t) copy t to the default when one is set, even 'cpu' (torch's rule);
    with none set they keep t's device."""
    src = mg.arange(3.0, device=device)
    assert mg.tensor(src).device == _on(device)  # no default: the data's device
    assert mg.as_tensor(src) is src
    with mg.device("cpu"):
        assert mg.tensor(src).device == "cpu" and mg.tensor(src).tolist() == [0.0, 1.0, 2.0]
        assert mg.as_tensor(src).device == "cpu"
    with mg.device(device):
        assert mg.as_tensor(src) is src  # already there: the tensor itself, as torch
        assert mg.as_tensor(src, dtype=mg.float64).device == _on(device)


@pytest.mark.parametrize("source_is_default", [True, False])
def test_like_new_and_ops_keep_their_inputs_device(device, source_is_default):
    """`*_like`, `new_*`, ops, `from_numpy`, the Tensor constructor and `.to(dtype)` are not moved
    (on a GPU machine one of the two devices below is 'cuda', the other 'cpu')."""
    src_dev, default = (device, "cpu") if source_is_default else ("cpu", device)
    src = mg.randn(2, 3, device=src_dev)
    with mg.device(default):
        for name, made in [("zeros_like", mg.zeros_like(src)), ("ones_like", mg.ones_like(src)),
                           ("full_like", mg.full_like(src, 2.0)), ("empty_like", mg.empty_like(src)),
                           ("rand_like", mg.rand_like(src)), ("randn_like", mg.randn_like(src)),
                           ("new_zeros", src.new_zeros(2)), ("new_ones", src.new_ones(2)),
                           ("new_full", src.new_full((2,), 1.0)), ("new_empty", src.new_empty(2)),
                           ("new_tensor", src.new_tensor([1.0])), ("normal(tensor)", mg.normal(src)),
                           ("bernoulli", mg.bernoulli(mg.full_like(src, 0.5))),
                           ("op", src * 2 + 1), ("sum", src.sum()), ("to(dtype)", src.to(mg.float64)),
                           ("Tensor(t)", mg.Tensor(src))]:
            assert made.device == _on(src_dev), name
        assert mg.from_numpy(np.zeros(2)).device == "cpu"  # shares host memory
        assert mg.Tensor([1.0, 2.0]).device == "cpu"  # torch.Tensor(list), the legacy constructor: cpu too
        assert src.to(default).device == _on(default)  # .to() moves only where told


def test_layers_built_inside_have_their_parameters_there(device):
    dev = _on(device)
    mg.manual_seed(3)
    with mg.device(device):
        lin = mg.nn.Linear(4, 3)
        lstm = models.LSTM(3, 5, num_layers=2, bidirectional=True)
        emb = mg.nn.Embedding(7, 3)
        norm = mg.nn.LayerNorm(3)
    params = list(lin.named_parameters()) + list(lstm.named_parameters()) + list(emb.parameters()) \
        + list(norm.parameters())
    assert len(params) == 2 + 16 + 1 + 2
    for p in params:
        p = p[1] if isinstance(p, tuple) else p
        assert p.device == dev and p.dtype == mg.float32
    assert lstm.weight_ih_l1_reverse.shape == (20, 10)  # torch's names, made there
    # the same weights as built with device= (initialisation draws on the host either way)
    mg.manual_seed(3)
    ref = mg.nn.Linear(4, 3, device=device)
    np.testing.assert_array_equal(lin.weight.numpy(), ref.weight.numpy())
    # and they work there: a forward and backward with inputs made inside the block
    with mg.device(device):
        x = mg.randn(2, 6, 4)  # (T, B, I)
        out, _ = lstm(lin(x))
        out.sum().backward()
    assert out.device == dev and out.shape == (2, 6, 10)
    assert lin.weight.grad.device == dev and np.isfinite(lin.weight.grad.numpy()).all()


def test_nesting_restores_each_level(device):
    dev = _on(device)
    inner = mg.device("cpu")
    with mg.device(device):
        with inner:
            assert mg.zeros(1).device == "cpu"
            with inner:  # the same device object, re-entered
                assert mg.get_default_device() == "cpu"
            assert mg.get_default_device() == "cpu"
        assert mg.zeros(1).device == dev
    assert _B.default_device_or_none() is None
    assert mg.get_default_device() == "cpu"


def test_an_exception_inside_restores(device):
    with pytest.raises(KeyError):
        with mg.device(device):
            raise KeyError("boom")
    assert _B.default_device_or_none() is None
    with mg.device("cpu"):
        with pytest.raises(ValueError):
            with mg.device(device):
                mg.zeros(-1)  # a factory's own error inside the block
        assert _B.default_device_or_none() == "cpu"  # the outer block's default is back
    assert _B.default_device_or_none() is None


def test_set_default_device_and_reset(device):
    dev = _on(device)
    mg.set_default_device(device)
    assert mg.get_default_device() == dev and mg.randn(2).device == dev
    assert mg.nn.Linear(2, 2).weight.device == dev
    with mg.device("cpu"):  # a block over a set default
        assert mg.ones(1).device == "cpu"
    assert mg.ones(1).device == dev
    mg.set_default_device(mg.device("cpu"))  # an mg.device (or a torch.device, an int N) works too
    assert mg.get_default_device() == "cpu" and _B.default_device_or_none() == "cpu"
    mg.set_default_device(None)  # unset: factories use cpu, mg.tensor keeps its data's device
    assert _B.default_device_or_none() is None
    assert mg.get_default_device() == "cpu" and mg.zeros(1).device == "cpu"


def test_set_inside_a_block_lasts_until_the_block_ends(device):
    """torch 2.13 fails here (an AssertionError, or a stale default); we document this rule."""
    with mg.device("cpu"):
        mg.set_default_device(device)
        assert mg.zeros(1).device == _on(device)
    assert _B.default_device_or_none() is None


def test_the_default_is_per_thread(device):
    mg.set_default_device(device)
    seen = []

    def worker():
        seen.append((_B.default_device_or_none(), mg.zeros(1).device))
        mg.set_default_device("cpu")  # does not leak back into the main thread
        with mg.device("cpu"):
            seen.append(mg.get_default_device())

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [(None, "cpu"), "cpu"]
    assert _B.default_device_or_none() == device and mg.zeros(1).device == _on(device)


def test_bad_devices_fail_at_entry_and_change_nothing():
    """Unlike torch, which raises at the first tensor made, a missing CUDA device is refused at once."""
    with pytest.raises(RuntimeError, match="cuda:99"):
        with mg.device("cuda:99"):  # no machine here has 100 GPUs
            pytest.fail("entered a block on a missing device")
    with pytest.raises(RuntimeError, match="cuda:99"):
        mg.set_default_device("cuda:99")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        mg.set_default_device("tpu")
    with pytest.raises(ValueError, match="unknown device 1.5"):  # (torch: a TypeError)
        mg.set_default_device(1.5)
    assert _B.default_device_or_none() is None and mg.zeros(1).device == "cpu"


@pytest.mark.skipif(mg.cuda_available(), reason="needs a machine without CUDA")
def test_cuda_block_without_a_gpu_raises_the_cuda_error():
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        with mg.device("cuda"):
            pytest.fail("entered a cuda block without a GPU")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        mg.set_default_device("cuda")
    assert _B.default_device_or_none() is None


@pytest.mark.skipif(not mg.cuda_available(), reason="needs CUDA")
def test_default_cuda_means_the_current_gpu():
    """'cuda' as the default is resolved at each use (torch: get_default_device() is 'cuda:N')."""
    with mg.device("cuda"):
        assert mg.get_default_device() == f"cuda:{mg.cuda.current_device()}"
        assert mg.zeros(1).device == mg.get_default_device()


def test_from_pretrained_keeps_a_tensor_on_its_device(device):
    """torch's Embedding(Bag).from_pretrained wraps the given tensor where it is: the default device
    applies to new tensors, not to pretrained weights passed in."""
    pretrained = mg.arange(6.0).reshape(3, 2)  # made outside the block: on the CPU
    with mg.device(device):
        emb = mg.nn.Embedding.from_pretrained(pretrained)
        bag = mg.nn.EmbeddingBag.from_pretrained(pretrained)
        from_array = mg.nn.Embedding.from_pretrained(np.ones((3, 2), dtype=np.float32))
    assert emb.weight.device == "cpu" and bag.weight.device == "cpu"
    assert from_array.weight.device == _B.parse_device(device)  # host data follows the default, as mg.tensor
    np.testing.assert_array_equal(emb.weight.numpy(), pretrained.numpy())
