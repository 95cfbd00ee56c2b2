"""nn.ParameterList, nn.ParameterDict and nn.Embedding.from_pretrained, against torch's behaviour.

The containers register their entries under torch's names ("0", "1", ... / the keys), so
parameters(), state_dict(), to() and optimizers reach them, and torch state dicts load.
"""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


class Scales(nn.Module):
    """y = x * prod_i s_i + sum_k b_k: parameters held in a ParameterList and a ParameterDict."""

    def __init__(self, d):
        super().__init__()
        self.scales = nn.ParameterList([nn.Parameter(mg.ones(d)), mg.full((d,), 2.0)])
        self.shifts = nn.ParameterDict({"a": nn.Parameter(mg.zeros(d)), "b": mg.full((d,), 0.5)})

    def forward(self, x):
        for s in self.scales:
            x = x * s
        for b in self.shifts.values():
            x = x + b
        return x


def test_containers_register_parameters_with_torchs_names(device):
    m = Scales(3).to(device)
    assert [n for n, _ in m.named_parameters()] == ["scales.0", "scales.1", "shifts.a", "shifts.b"]
    assert list(m.state_dict()) == ["scales.0", "scales.1", "shifts.a", "shifts.b"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in m.parameters())  # tensors were wrapped
    assert all(p.device == mg.zeros(1, device=device).device for p in m.parameters())
    assert m.double().scales[1].dtype == np.float64


def test_containers_gradients(device):
    """The containers only hold leaves: backward accumulates into each entry (analytic values)."""
    m = Scales(3).double().to(device)
    x = np.random.default_rng(0).standard_normal((2, 3))
    m(mg.tensor(x, device=device)).sum().backward()
    np.testing.assert_allclose(m.scales[0].grad.numpy(), 2.0 * x.sum(0))  # s1 = 2
    np.testing.assert_allclose(m.scales[1].grad.numpy(), x.sum(0))  # s0 = 1
    for key in ("a", "b"):
        np.testing.assert_allclose(m.shifts[key].grad.numpy(), [2.0, 2.0, 2.0])  # one per batch row
        assert m.shifts[key].grad.dtype == np.float64


def test_parameter_list_api():
    pl = nn.ParameterList()
    assert len(pl) == 0 and list(pl) == []
    pl.append(mg.ones(2)).extend([nn.Parameter(mg.zeros(3)), mg.ones(1)])
    assert len(pl) == 3 and [tuple(p.shape) for p in pl] == [(2,), (3,), (1,)]
    assert pl[-1] is pl[2]
    sub = pl[1:]
    assert isinstance(sub, nn.ParameterList) and len(sub) == 2 and sub[0] is pl[1]
    new = nn.Parameter(mg.full((2,), 7.0))
    pl[0] = new
    assert pl[0] is new and [n for n, _ in pl.named_parameters()] == ["0", "1", "2"]
    with pytest.raises(IndexError, match="ParameterList: index 3 is out of range for 3"):
        pl[3]
    with pytest.raises(TypeError, match="ParameterList: entry 3 must be a Parameter or a Tensor, got str"):
        pl.append("w")
    with pytest.raises(TypeError, match="ParameterList.extend: expected an iterable"):
        pl.extend(mg.ones(2))
    with pytest.raises(NotImplementedError, match="ParameterList is not callable"):
        pl(1)


def test_parameter_dict_api():
    pd = nn.ParameterDict({"w": mg.ones(2)})
    pd["v"] = nn.Parameter(mg.zeros(3))
    pd.update([("u", mg.ones(1))])
    assert list(pd) == ["w", "v", "u"] and list(pd.keys()) == ["w", "v", "u"] and len(pd) == 3
    assert "v" in pd and "z" not in pd and pd.get("z") is None
    assert [k for k, _ in pd.items()] == ["w", "v", "u"]
    assert pd.pop("v").shape == (3,) and list(pd) == ["w", "u"]
    del pd["w"]
    assert list(pd) == ["u"] and [n for n, _ in pd.named_parameters()] == ["u"]
    with pytest.raises(KeyError, match="ParameterDict: no parameter named 'zz'"):
        pd["zz"]
    with pytest.raises(KeyError, match="without '.'"):
        pd["a.b"] = mg.ones(1)
    with pytest.raises(KeyError, match="name of a ParameterDict attribute"):
        pd["keys"] = mg.ones(1)
    with pytest.raises(KeyError, match="name of a ParameterDict attribute"):
        pd["training"] = mg.ones(1)
    with pytest.raises(TypeError, match="ParameterDict: entry 'x' must be a Parameter or a Tensor"):
        pd["x"] = 3.0
    pd.clear()
    assert len(pd) == 0


def test_containers_optimizer_steps_reach_entries():
    m = Scales(2)
    opt = mg.optim.SGD(m.parameters(), lr=0.1)
    m(mg.ones(1, 2)).sum().backward()
    opt.step()
    np.testing.assert_allclose(m.shifts["a"].numpy(), [-0.1, -0.1])


torch = pytest.importorskip("torch")


def test_containers_state_dicts_load_from_torch_and_back():
    class TorchScales(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scales = torch.nn.ParameterList([torch.nn.Parameter(torch.randn(3)), torch.randn(3)])
            self.shifts = torch.nn.ParameterDict({"a": torch.randn(3), "b": torch.randn(3)})

    ref = TorchScales()
    ours = Scales(3)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict())
    back = TorchScales()
    back.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    for k, v in ref.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k


@pytest.mark.parametrize("freeze", [True, False])
@pytest.mark.parametrize("padding_idx", [None, 1, -1])
def test_embedding_from_pretrained_matches_torch(device, freeze, padding_idx):
    w = np.random.default_rng(0).standard_normal((5, 3))
    ref = torch.nn.Embedding.from_pretrained(torch.tensor(w), freeze=freeze, padding_idx=padding_idx)
    ours = nn.Embedding.from_pretrained(mg.tensor(w, device=device), freeze=freeze, padding_idx=padding_idx)
    assert ours.weight.dtype == np.float64 and ours.weight.requires_grad == ref.weight.requires_grad
    assert ours.padding_idx == ref.padding_idx and ours.weight.device == mg.zeros(1, device=device).device
    np.testing.assert_array_equal(ours.weight.numpy(), w)  # the padding row keeps its pretrained values, as torch
    idx = np.array([[1, 4, 1], [0, 2, 3]])
    ym, yt = ours(mg.tensor(idx, device=device)), ref(torch.tensor(idx))
    np.testing.assert_array_equal(ym.numpy(), yt.detach().numpy())
    if not freeze:
        g = np.random.default_rng(1).standard_normal(ym.shape)
        ym.backward(mg.tensor(g, device=device))
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(ours.weight.grad.numpy(), ref.weight.grad.numpy(), rtol=1e-12)
    w32 = nn.Embedding.from_pretrained(np.asarray(w, dtype=np.float32))
    assert w32.weight.dtype == np.float32 and not w32.weight.requires_grad


def test_embedding_from_pretrained_refuses_non_2d():
    with pytest.raises(ValueError, match="Embedding.from_pretrained: embeddings must be 2-D"):
        nn.Embedding.from_pretrained(mg.ones(3))
