"""Review of session 10's changes: 3-D convolution and pooling results (and the adaptive max pools')
are contiguous as torch's, so a port's `y.view(n, -1)` works, and `mg.load(f, fn)` takes torch's
second positional argument, map_location, in its dict and callable forms."""
import io

import numpy as np
import pytest

import minigrad as mg

F = mg.nn.functional
torch = pytest.importorskip("torch")
TF = torch.nn.functional

RNG = np.random.default_rng(10)
X5 = RNG.standard_normal((2, 3, 4, 5, 5)).astype(np.float32)
RNG_W = RNG.standard_normal((4, 3, 2, 2, 2)).astype(np.float32)  # conv3d's weight

CASES = [  # (name, minigrad call, torch call) on X5
    ("conv3d", lambda f, lib, x: f.conv3d(x, lib.tensor(RNG_W))),
    ("conv3d_unbatched", lambda f, lib, x: f.conv3d(x[0], lib.tensor(RNG_W))),
    ("avg_pool3d", lambda f, lib, x: f.avg_pool3d(x, 2, padding=1)),
    ("adaptive_avg_pool3d", lambda f, lib, x: f.adaptive_avg_pool3d(x, (2, 3, 3))),
    ("adaptive_max_pool3d", lambda f, lib, x: f.adaptive_max_pool3d(x, (2, 2, 3))),
    ("adaptive_max_pool2d", lambda f, lib, x: f.adaptive_max_pool2d(x[:, :, 0], (2, 3))),
]


@pytest.mark.parametrize("name,call", CASES, ids=[c[0] for c in CASES])
def test_3d_results_are_contiguous_and_view_as_torch(device, name, call):
    """Each result is C-ordered (NumPy left them permuted), `.view(-1)` works as in torch, and the values
    and the gradient through the view match torch's."""
    x = mg.tensor(X5, device=device, requires_grad=True)
    tx = torch.tensor(X5, requires_grad=True)
    y, ty = call(F, mg, x), call(TF, torch, tx)
    assert y.is_contiguous() and ty.is_contiguous()
    flat, tflat = y.view(-1), ty.view(-1)
    np.testing.assert_allclose(flat.detach().cpu().numpy(), tflat.detach().numpy(), rtol=1e-5, atol=1e-5)
    w = RNG.standard_normal(tflat.shape).astype(np.float32)
    (flat * mg.tensor(w, device=device)).sum().backward()
    (tflat * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_adaptive_max_pool_indices_are_contiguous(device, dims):
    shape = (2, 3, 4, 6, 6)[:2 + dims]
    x = RNG.standard_normal(shape).astype(np.float32)
    size = (2, 2, 3)[:dims]
    fn, tfn = getattr(F, f"adaptive_max_pool{dims}d"), getattr(TF, f"adaptive_max_pool{dims}d")
    v, i = fn(mg.tensor(x, device=device), size, return_indices=True)
    tv, ti = tfn(torch.tensor(x), size, return_indices=True)
    assert v.is_contiguous() and i.is_contiguous()
    np.testing.assert_array_equal(i.view(-1).cpu().numpy(), ti.reshape(-1).numpy())
    np.testing.assert_array_equal(v.view(-1).cpu().numpy(), tv.reshape(-1).numpy())


@pytest.mark.parametrize("map_location", [lambda storage, loc: storage, {"cpu": "cpu"}],
                         ids=["callable", "dict"])
def test_load_second_positional_is_torchs_map_location(map_location):
    """`torch.load(path, lambda storage, loc: storage)`: torch's second positional is map_location; a dict or
    callable there is read as it (a device name there is minigrad's device=, the same thing)."""
    buf = io.BytesIO()
    mg.save({"w": mg.arange(3.0)}, buf)
    buf.seek(0)
    out = mg.load(buf, map_location)
    assert out["w"].device == "cpu"
    np.testing.assert_array_equal(out["w"].numpy(), [0.0, 1.0, 2.0])
    buf.seek(0)
    with pytest.raises(ValueError, match="device"):
        mg.load(buf, "tpu")
