"""Porting audit: the official "PyTorch Recipes" and a few intermediate tutorials, run in torch and minigrad.

Programs (written from memory, as a torch user writes them): "Defining a Neural Network", "What is a
state_dict", "Saving and loading models for inference" / "a general checkpoint" / "multiple models in one
file", "Warmstarting a model using parameters from a different model", "Zeroing out gradients", "Tips for
loading an nn.Module from a checkpoint" (assign=True, mmap=True; the meta device is refused), "Changing
default device", the "Parametrizations tutorial", "Model ensembling" and "Per-sample gradients" (torch's
torch.func versions compared with the loops a minigrad user writes: minigrad has no vmap), and the
hooks recipes (tensor, module and forward hooks with kwargs).

Each test builds both versions with the same float64 weights (torch's state_dict loaded into minigrad),
runs a few steps and compares values, gradients and updated parameters (rtol 1e-7). Refusals are checked
for a clear message. Documented differences: `mg.save` stores state (dicts, tensors, numbers), not whole
modules (no pickle); optimizers do not keep torch's `foreach`/`fused`/`differentiable` flags in
`param_groups`; no meta device, no `to_empty`; no vmap; no hooks on graph nodes (`grad_fn`).
"""
import io

import numpy as np
import pytest

import minigrad as mg
from porting import closer

torch = pytest.importorskip("torch")

LIBS = (torch, mg)
close = closer(dict(rtol=1e-7, atol=1e-12))


def fill_(lib, module, offset=0.0):
    """Deterministic, distinct float64 values for every parameter (same in both libraries)."""
    with lib.no_grad():
        for i, (_, p) in enumerate(module.named_parameters()):
            vals = 0.5 * np.sin(np.arange(p.numel()) * 0.7 + i + offset).reshape(tuple(p.shape))
            p.copy_(lib.tensor(vals, dtype=lib.float64))
    return module


def data(lib, *shape, seed=0):
    return lib.tensor(np.random.default_rng(seed).standard_normal(shape), dtype=lib.float64)


def same_weights(ours, theirs):
    """Copy torch module `theirs`'s state into minigrad module `ours` (as numpy arrays)."""
    res = ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert res.missing_keys == [] and res.unexpected_keys == []
    return ours


def compare_state(ours, theirs, what):
    sd_o, sd_t = ours.state_dict(), theirs.state_dict()
    assert list(sd_o) == list(sd_t), what
    for k in sd_t:
        close(f"{what}: {k}", sd_o[k], sd_t[k])


# ---------------------------------------------------------------- Defining a Neural Network
def recipe_net(lib):
    nn, F = lib.nn, lib.nn.functional

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 2, 3, 1)
            self.conv2 = nn.Conv2d(2, 4, 3, 1)
            self.dropout1 = nn.Dropout2d(0.25)
            self.dropout2 = nn.Dropout(0.5)
            self.fc1 = nn.Linear(16, 8)
            self.fc2 = nn.Linear(8, 3)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            x = F.relu(self.conv2(x))
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = lib.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = self.dropout2(x)
            x = self.fc2(x)
            return F.log_softmax(x, dim=1)

    return Net().double()


def test_defining_a_neural_network_forward_and_training():
    tnet = recipe_net(torch)
    mnet = same_weights(recipe_net(mg), tnet)
    assert repr(mnet) == repr(tnet)
    res = {}
    for lib, net in ((torch, tnet), (mg, mnet)):
        net.eval()  # the recipe's dropout layers are random in train mode: compare them switched off
        x = data(lib, 3, 1, 8, 8)
        y = lib.tensor([0, 2, 1])
        out = net(x)
        opt = lib.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        losses = []
        for _ in range(3):
            opt.zero_grad()
            loss = lib.nn.functional.nll_loss(net(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        res[lib] = (out, lib.stack(losses), net.conv1.weight.grad, net.fc2.bias.grad)
    for what, a, b in zip(("output", "losses", "conv1.weight.grad", "fc2.bias.grad"), res[mg], res[torch]):
        close(what, a, b)
    compare_state(mnet, tnet, "after 3 SGD steps")
    # train mode: dropout is random, but the output is still a batch of log-probabilities
    mnet.train()
    out = mnet(data(mg, 3, 1, 8, 8))
    assert out.shape == (3, 3) and np.allclose(np.exp(out.numpy()).sum(1), 1.0)


# ---------------------------------------------------------------- What is a state_dict
def test_state_dict_of_model_and_optimizer_as_printed():
    tnet = recipe_net(torch)
    mnet = same_weights(recipe_net(mg), tnet)
    for k in tnet.state_dict():
        assert tuple(mnet.state_dict()[k].size()) == tuple(tnet.state_dict()[k].size()), k
    topt = torch.optim.SGD(tnet.parameters(), lr=0.001, momentum=0.9)
    mopt = mg.optim.SGD(mnet.parameters(), lr=0.001, momentum=0.9)
    tsd, msd = topt.state_dict(), mopt.state_dict()
    assert list(msd) == list(tsd) == ["state", "param_groups"]
    assert msd["state"] == tsd["state"] == {}
    (tg,), (mg_,) = tsd["param_groups"], msd["param_groups"]
    # torch also lists its implementation switches (foreach, fused, differentiable): minigrad has one
    # implementation and keeps none of them (documented); every other entry is torch's, in torch's order.
    assert [k for k in tg if k not in ("foreach", "fused", "differentiable")] == list(mg_)
    assert all(mg_[k] == tg[k] for k in mg_)
    # after a step the momentum buffers are the state, keyed by parameter index
    for lib, net, opt in ((torch, tnet, topt), (mg, mnet, mopt)):
        net.eval()
        lib.nn.functional.nll_loss(net(data(lib, 2, 1, 8, 8)), lib.tensor([1, 0])).backward()
        opt.step()
    tsd, msd = topt.state_dict(), mopt.state_dict()
    assert list(msd["state"]) == list(tsd["state"]) == list(range(8))
    for i in range(8):
        close(f"momentum_buffer {i}", msd["state"][i]["momentum_buffer"], tsd["state"][i]["momentum_buffer"])


# ---------------------------------------------------------------- Saving and loading models
def test_save_and_load_state_dict_for_inference(tmp_path):
    tnet = recipe_net(torch)
    mnet = same_weights(recipe_net(mg), tnet)
    path = tmp_path / "model.pt"
    mg.save(mnet.state_dict(), path)
    model = recipe_net(mg)
    res = model.load_state_dict(mg.load(path, weights_only=True))
    assert res.missing_keys == [] and res.unexpected_keys == [] and str(res) == "<All keys matched successfully>"
    model.eval()
    tnet.eval()
    x = data(mg, 2, 1, 8, 8)
    close("inference output", model(x), tnet(data(torch, 2, 1, 8, 8)))
    # the whole-model form `torch.save(model, PATH)` pickles the class: minigrad stores state only
    with pytest.raises(TypeError, match=r"save: cannot store Net"):
        mg.save(model, io.BytesIO())


def test_general_checkpoint_resumes_training_exactly(tmp_path):
    """Train 2 steps, save {epoch, model, optimizer, loss}, load into fresh objects, train 2 more: the
    same as 4 uninterrupted steps in torch (Adam's state travels with the checkpoint)."""
    tnet = recipe_net(torch).eval()
    mnet = same_weights(recipe_net(mg), tnet).eval()
    x_t, y_t = data(torch, 4, 1, 8, 8), torch.tensor([0, 1, 2, 1])
    x_m, y_m = data(mg, 4, 1, 8, 8), mg.tensor([0, 1, 2, 1])
    topt = torch.optim.Adam(tnet.parameters(), lr=0.01)
    t_losses = []
    for _ in range(4):
        topt.zero_grad()
        loss = torch.nn.functional.nll_loss(tnet(x_t), y_t)
        loss.backward()
        topt.step()
        t_losses.append(loss.item())

    mopt = mg.optim.Adam(mnet.parameters(), lr=0.01)
    m_losses = []
    for epoch in range(2):
        mopt.zero_grad()
        loss = mg.nn.functional.nll_loss(mnet(x_m), y_m)
        loss.backward()
        mopt.step()
        m_losses.append(loss.item())
    path = tmp_path / "checkpoint.tar"
    mg.save({"epoch": epoch, "model_state_dict": mnet.state_dict(),
             "optimizer_state_dict": mopt.state_dict(), "loss": loss}, path)

    model = recipe_net(mg)
    optimizer = mg.optim.Adam(model.parameters(), lr=0.01)
    checkpoint = mg.load(path, weights_only=True)
    model.load_state_dict(checkpoint["model_state_dict"])
    optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
    assert checkpoint["epoch"] == 1 and isinstance(checkpoint["epoch"], int)
    assert checkpoint["loss"].item() == m_losses[-1] and not checkpoint["loss"].requires_grad
    model.eval()
    for _ in range(2):
        optimizer.zero_grad()
        loss = mg.nn.functional.nll_loss(model(x_m), y_m)
        loss.backward()
        optimizer.step()
        m_losses.append(loss.item())
    np.testing.assert_allclose(m_losses, t_losses, rtol=1e-7)
    compare_state(model, tnet, "resumed model")
    tstate, mstate = topt.state_dict()["state"], optimizer.state_dict()["state"]
    for i in tstate:
        close(f"Adam step {i}", np.asarray(mstate[i]["step"], dtype=np.float32), tstate[i]["step"])
        close(f"exp_avg_sq {i}", mstate[i]["exp_avg_sq"], tstate[i]["exp_avg_sq"])


def test_multiple_models_in_one_file():
    """The GAN-style checkpoint: two models and two optimizers in one dict."""
    def make(lib):
        lib.manual_seed(0)
        a = fill_(lib, lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Tanh(), lib.nn.Linear(4, 2)).double())
        b = fill_(lib, lib.nn.Sequential(lib.nn.Linear(2, 3), lib.nn.Sigmoid(), lib.nn.Linear(3, 1)).double(), 1.0)
        return a, b, lib.optim.SGD(a.parameters(), lr=0.1, momentum=0.9), lib.optim.Adam(b.parameters(), lr=0.01)

    def step(lib, a, b, oa, ob):
        x = data(lib, 5, 3)
        for opt, loss in ((oa, lambda: (a(x) ** 2).mean()), (ob, lambda: b(a(x)).pow(2).mean())):
            opt.zero_grad()
            loss().backward()
            opt.step()

    t = make(torch)
    m = make(mg)
    for lib, objs in ((torch, t), (mg, m)):
        step(lib, *objs)
    buf = io.BytesIO()
    modelA, modelB, optimizerA, optimizerB = m
    mg.save({"modelA_state_dict": modelA.state_dict(), "modelB_state_dict": modelB.state_dict(),
             "optimizerA_state_dict": optimizerA.state_dict(),
             "optimizerB_state_dict": optimizerB.state_dict()}, buf)
    buf.seek(0)
    checkpoint = mg.load(buf, weights_only=True)
    modelA, modelB = make(mg)[:2]
    optimizerA = mg.optim.SGD(modelA.parameters(), lr=0.1, momentum=0.9)
    optimizerB = mg.optim.Adam(modelB.parameters(), lr=0.01)
    modelA.load_state_dict(checkpoint["modelA_state_dict"])
    modelB.load_state_dict(checkpoint["modelB_state_dict"])
    optimizerA.load_state_dict(checkpoint["optimizerA_state_dict"])
    optimizerB.load_state_dict(checkpoint["optimizerB_state_dict"])
    modelA.train()
    modelB.train()
    step(torch, *t)
    step(mg, modelA, modelB, optimizerA, optimizerB)
    compare_state(modelA, t[0], "modelA")
    compare_state(modelB, t[1], "modelB")


# ---------------------------------------------------------------- Warmstarting
def warm_nets(lib):
    nn = lib.nn

    class NetA(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 6)
            self.fc2 = nn.Linear(6, 3)

        def forward(self, x):
            return self.fc2(lib.relu(self.fc1(x)))

    class NetB(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 6)
            self.fc3 = nn.Linear(6, 2)

        def forward(self, x):
            return self.fc3(lib.relu(self.fc1(x)))

    return fill_(lib, NetA().double()), fill_(lib, NetB().double(), 2.0)


def test_warmstart_with_strict_false_reports_missing_and_unexpected_keys():
    res = {}
    for lib in LIBS:
        netA, netB = warm_nets(lib)
        result = netB.load_state_dict(netA.state_dict(), strict=False)
        missing, unexpected = result  # a NamedTuple: unpacks, and has the two fields
        assert (missing, unexpected) == (result.missing_keys, result.unexpected_keys)
        x = data(lib, 3, 4)
        res[lib] = (missing, unexpected, netB(x), netB.fc1.weight, netB.fc3.weight)
    assert res[mg][:2] == res[torch][:2] == (["fc3.weight", "fc3.bias"], ["fc2.weight", "fc2.bias"])
    close("warm-started output", res[mg][2], res[torch][2])
    close("fc1 copied from netA", res[mg][3], res[torch][3])
    close("fc3 left as it was", res[mg][4], res[torch][4])
    # strict=True (the default) refuses, naming both lists
    netA, netB = warm_nets(mg)
    with pytest.raises(RuntimeError, match=r"missing keys: fc3\.weight, fc3\.bias.*unexpected keys: fc2\.weight"):
        netB.load_state_dict(netA.state_dict())
    # renaming keys to match ("Warmstarting ... with different parameter names")
    renamed = {k.replace("fc2", "fc3"): v for k, v in netA.state_dict().items() if not k.startswith("fc2")}
    assert netB.load_state_dict(renamed, strict=False).missing_keys == ["fc3.weight", "fc3.bias"]
    # a shape mismatch is an error even with strict=False, as torch
    bad = {"fc3.weight": mg.zeros(5, 6, dtype=mg.float64)}
    for lib, b in ((torch, {"fc3.weight": torch.zeros(5, 6, dtype=torch.float64)}), (mg, bad)):
        with pytest.raises(RuntimeError, match="fc3.weight"):
            warm_nets(lib)[1].load_state_dict(b, strict=False)


# ---------------------------------------------------------------- Zeroing out gradients
def test_zeroing_out_gradients():
    res = {}
    for lib in LIBS:
        net = fill_(lib, lib.nn.Sequential(lib.nn.Linear(4, 5), lib.nn.ReLU(), lib.nn.Linear(5, 2)).double())
        opt = lib.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        x, y = data(lib, 6, 4), data(lib, 6, 2, seed=1)
        crit = lib.nn.MSELoss()
        # without zeroing, gradients accumulate across backward calls
        crit(net(x), y).backward()
        once = net[0].weight.grad.clone()
        crit(net(x), y).backward()
        twice = net[0].weight.grad.clone()
        close("accumulated", twice, 2 * once)
        opt.zero_grad()  # set_to_none=True is the default since torch 2.0
        assert all(p.grad is None for p in net.parameters())
        losses = []
        for _ in range(3):  # the recipe's loop
            opt.zero_grad()
            loss = crit(net(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        opt.zero_grad(set_to_none=False)
        assert all(p.grad is not None and not p.grad.numpy().any() for p in net.parameters())
        crit(net(x), y).backward()
        net.zero_grad()  # Module.zero_grad: also to None
        assert all(p.grad is None for p in net.parameters())
        crit(net(x), y).backward()
        net.zero_grad(set_to_none=False)
        g = net[2].bias.grad
        assert g is not None and g.dtype == net[2].bias.dtype and not g.numpy().any()
        res[lib] = (once, losses)
    close("first gradient", res[mg][0], res[torch][0])
    np.testing.assert_allclose(res[mg][1], res[torch][1], rtol=1e-7)


def test_zero_grad_set_to_false_keeps_the_same_grad_tensor():
    """torch zeroes `.grad` in place with set_to_none=False: a reference taken before sees the zeros."""
    for lib in LIBS:
        lin = lib.nn.Linear(2, 2)
        lin(lib.ones(1, 2)).sum().backward()
        g = lin.weight.grad
        lib.optim.SGD(lin.parameters(), lr=0.1).zero_grad(set_to_none=False)
        assert lin.weight.grad is g and not g.numpy().any()


# ---------------------------------------------------------------- Tips for loading an nn.Module from a checkpoint
def test_load_state_dict_assign_uses_the_checkpoint_tensors():
    res = {}
    for lib in LIBS:
        src = fill_(lib, lib.nn.Linear(3, 2).double())
        state_dict = src.state_dict()
        m = lib.nn.Linear(3, 2)  # float32: assign=True takes the checkpoint's dtype, copying keeps the module's
        m.load_state_dict(state_dict, assign=True)
        assert type(m.weight).__name__ == "Parameter" and m.weight.requires_grad
        assert m.weight.dtype == lib.float64
        with lib.no_grad():
            state_dict["weight"][0, 0] = 42.0  # the parameter is the checkpoint's memory, not a copy
        assert m.weight[0, 0].item() == 42.0
        frozen = lib.nn.Linear(3, 2)
        frozen.weight.requires_grad_(False)
        frozen.load_state_dict(lib.nn.Linear(3, 2).state_dict(), assign=True)
        assert not frozen.weight.requires_grad  # requires_grad comes from the module's parameter
        copied = lib.nn.Linear(3, 2)
        copied.load_state_dict(src.state_dict())
        assert copied.weight.dtype == lib.float32
        x = data(lib, 4, 3)
        out = m(x)
        out.sum().backward()
        res[lib] = (out, m.weight.grad)
    close("output", res[mg][0], res[torch][0])
    close("weight.grad", res[mg][1], res[torch][1])


def test_checkpoint_tips_mmap_load_and_meta_device(tmp_path):
    """`torch.load(path, mmap=True, weights_only=True)` then `load_state_dict(sd, assign=True)` ports; the
    recipe's `with torch.device('meta'):` construction does not (no meta tensors): a clear ValueError."""
    src = fill_(mg, mg.nn.Linear(3, 2).double())
    path = tmp_path / "checkpoint.pth"
    mg.save(src.state_dict(), path)
    state_dict = mg.load(path, mmap=True, weights_only=True)
    m = mg.nn.Linear(3, 2)
    m.load_state_dict(state_dict, assign=True)
    close("weight", m.weight, src.weight)
    with open(path, "rb") as f:  # as torch: mapping needs a file name
        with pytest.raises(ValueError, match="file path in order to use the mmap"):
            mg.load(f, mmap=True)
    with pytest.raises(ValueError, match="unknown device 'meta'"):
        with mg.device("meta"):
            mg.nn.Linear(3, 2)
    with pytest.raises(ValueError, match="unknown device 'meta'"):
        mg.nn.Linear(3, 2, device="meta")


# ---------------------------------------------------------------- Changing default device
def test_changing_default_device():
    for lib in LIBS:
        before = lib.get_default_device()
        assert str(before) == "cpu"
        try:
            lib.set_default_device("cpu")
            assert str(lib.get_default_device()) == "cpu"
            assert str(lib.nn.Linear(2, 2).weight.device) == "cpu"
        finally:
            lib.set_default_device(None)
        with lib.device("cpu"):
            assert str(lib.randn(2).device) == "cpu" and str(lib.nn.Linear(2, 2).bias.device) == "cpu"
        assert str(lib.get_default_device()) == "cpu"
    if not mg.cuda_available():  # torch's CPU build fails at the first tensor; minigrad on entering the block
        with pytest.raises(RuntimeError, match="device 'cuda': CUDA is not available"):
            with mg.device("cuda"):
                mg.nn.Linear(2, 2)
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            mg.set_default_device("cuda")
        assert str(mg.get_default_device()) == "cpu"


# ---------------------------------------------------------------- Parametrizations tutorial
def parametrizations(lib):
    nn = lib.nn
    P = nn.utils.parametrize

    class Symmetric(nn.Module):
        def forward(self, X):
            return X.triu() + X.triu(1).transpose(-1, -2)

    class Skew(nn.Module):
        def forward(self, X):
            A = X.triu(1)
            return A - A.transpose(-1, -2)

    class MatrixExponential(nn.Module):
        def forward(self, X):
            return lib.matrix_exp(X)

    class CayleyMap(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.register_buffer("Id", lib.eye(n, dtype=lib.float64))

        def forward(self, X):
            return lib.linalg.solve(self.Id - X, self.Id + X)

    class SymmetricWithInverse(Symmetric):
        def right_inverse(self, A):
            return A.triu()

    calls = []

    class NoisyParametrization(nn.Module):
        def forward(self, X):
            calls.append(1)
            return X

    W = lib.tensor(np.sin(np.arange(9.0) * 1.3).reshape(3, 3) + 2 * np.eye(3), dtype=lib.float64)

    def layer(w=W):
        lin = nn.Linear(3, 3).double()
        with lib.no_grad():
            lin.weight.copy_(w)
            lin.bias.fill_(0.1)
        return lin

    out = {}
    sym = layer()
    P.register_parametrization(sym, "weight", Symmetric())
    A = sym.weight
    assert type(sym).__name__ == "ParametrizedLinear" and lib.allclose(A, A.T)
    out["symmetric"] = A
    out["repr"] = repr(sym)
    out["keys"] = list(sym.state_dict())
    out["named_parameters"] = [n for n, _ in sym.named_parameters()]
    out["original"] = sym.parametrizations.weight.original

    orth = layer(W / 3)
    P.register_parametrization(orth, "weight", Skew())
    P.register_parametrization(orth, "weight", MatrixExponential())
    X = orth.weight
    out["expm"] = X
    out["orthogonality"] = lib.dist(X.T @ X, lib.eye(3, dtype=lib.float64))
    out["list_repr"] = repr(orth.parametrizations.weight)
    cay = layer(W / 3)
    P.register_parametrization(cay, "weight", Skew())
    P.register_parametrization(cay, "weight", CayleyMap(3))
    out["cayley"] = cay.weight
    out["cayley_keys"] = list(cay.state_dict())

    ri = layer()
    P.register_parametrization(ri, "weight", SymmetricWithInverse())
    ri.weight = W + W.T  # assignment goes through right_inverse
    out["right_inverse_weight"] = ri.weight
    out["right_inverse_original"] = ri.parametrizations.weight.original
    noinv = layer()
    P.register_parametrization(noinv, "weight", Skew())
    try:
        noinv.weight = W
        out["no_right_inverse"] = None
    except Exception as e:  # torch: RuntimeError "parametrization Skew does not implement right_inverse."
        out["no_right_inverse"] = (type(e).__name__, str(e))

    noisy = layer()
    P.register_parametrization(noisy, "weight", NoisyParametrization())
    calls.clear()
    _ = noisy.weight + noisy.weight.T
    _ = noisy.weight.sum()
    out["uncached_calls"] = len(calls)
    calls.clear()
    with P.cached():
        _ = noisy.weight + noisy.weight.T
        _ = noisy.weight.sum()
    out["cached_calls"] = len(calls)

    kept = layer()
    P.register_parametrization(kept, "weight", Skew())
    P.remove_parametrizations(kept, "weight")
    out["removed_kept"] = kept.weight
    out["removed_class"] = (type(kept).__name__, type(kept.weight).__name__, P.is_parametrized(kept))
    orig = layer()
    P.register_parametrization(orig, "weight", Skew())
    P.remove_parametrizations(orig, "weight", leave_parametrized=False)
    out["removed_original"] = orig.weight

    # training through the parametrization: the unconstrained `original` moves, weight stays orthogonal
    net = layer(W / 3)
    P.register_parametrization(net, "weight", Skew())
    P.register_parametrization(net, "weight", MatrixExponential())
    opt = lib.optim.SGD(net.parameters(), lr=0.1)
    x = lib.tensor(np.linspace(-1, 1, 6).reshape(2, 3), dtype=lib.float64)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = (net(x) ** 2).sum()
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    out["losses"] = lib.stack(losses)
    out["trained_original"] = net.parametrizations.weight.original
    out["trained_original_grad"] = net.parametrizations.weight.original.grad
    out["trained_weight"] = net.weight
    out["trained_state"] = net.state_dict()

    builtin = layer()
    nn.utils.parametrizations.orthogonal(builtin)
    out["builtin_orthogonal"] = builtin.weight
    out["builtin_keys"] = list(builtin.state_dict())
    return out


def test_parametrizations_tutorial():
    t, m = parametrizations(torch), parametrizations(mg)
    for k in t:
        if isinstance(t[k], torch.Tensor):
            close(k, m[k], t[k], rtol=1e-7, atol=1e-9 if k == "orthogonality" else 1e-12)
        elif k == "trained_state":
            assert list(m[k]) == list(t[k])
            for kk in t[k]:
                close(f"state {kk}", m[k][kk], t[k][kk])
        else:
            assert m[k] == t[k], k
    assert t["uncached_calls"] == 3 and t["cached_calls"] == 1
    assert t["keys"] == ["bias", "parametrizations.weight.original"]


def test_parametrized_state_dict_loads_from_torch():
    """A torch checkpoint of a parametrized layer (torch's keys) loads into the minigrad layer."""
    res = {}
    for lib in LIBS:
        lin = lib.nn.Linear(3, 3).double()
        lib.nn.utils.parametrize.register_parametrization(lin, "weight", type("Tri", (lib.nn.Module,), {
            "forward": lambda self, X: X.tril()})())
        res[lib] = lin
    fill_(torch, res[torch])
    res[mg].load_state_dict({k: v.detach().numpy() for k, v in res[torch].state_dict().items()})
    close("weight", res[mg].weight, res[torch].weight)


# ---------------------------------------------------------------- torch.func: model ensembling, per-sample grads
_MLP_CLASSES = {}


def simple_mlp(lib, seed):
    """The recipes' SimpleMLP (one class per library: stack_module_state wants instances of one class)."""
    if lib not in _MLP_CLASSES:
        nn = lib.nn

        class SimpleMLP(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = nn.Linear(6, 8)
                self.fc2 = nn.Linear(8, 3)

            def forward(self, x):
                return self.fc2(lib.relu(self.fc1(x.flatten(1))))

        _MLP_CLASSES[lib] = SimpleMLP
    return fill_(lib, _MLP_CLASSES[lib]().double(), float(seed))


def test_vmap_is_refused_clearly():
    """mg.func exists (functional_call, grad, ...; tests/test_func.py); vmap does not."""
    with pytest.raises(AttributeError, match=r"no attribute 'vmap': minigrad has no vmap .*autograd.grad"):
        mg.vmap
    with pytest.raises(NotImplementedError, match=r"(?s)no batching rules.*mg.stack\(\[f\(x\) for x in xs\]\)"):
        mg.func.vmap(lambda x: x)


def test_model_ensembling_vmap_versus_a_loop():
    """torch: `vmap(fmodel, in_dims=(0, 0, None))(params, buffers, minibatch)` over `stack_module_state`;
    minigrad: the loop over the models (the recipe's first version) and a stacked-parameter loop."""
    from torch.func import functional_call, stack_module_state

    num_models = 3
    tmodels = [simple_mlp(torch, i) for i in range(num_models)]
    mmodels = [same_weights(simple_mlp(mg, 0), t) for t in tmodels]
    t_minibatches, m_minibatches = data(torch, num_models, 4, 2, 3), data(mg, num_models, 4, 2, 3)
    t_mb, m_mb = t_minibatches[0], m_minibatches[0]

    params, buffers = stack_module_state(tmodels)
    base = simple_mlp(torch, 0).to("meta")

    def fmodel(params, buffers, x):
        return functional_call(base, (params, buffers), (x,))

    t_same = torch.vmap(fmodel, in_dims=(0, 0, None))(params, buffers, t_mb)
    t_diff = torch.vmap(fmodel)(params, buffers, t_minibatches)

    m_same = mg.stack([model(m_mb) for model in mmodels])
    m_diff = mg.stack([model(mb) for model, mb in zip(mmodels, m_minibatches)])
    close("same minibatch", m_same, t_same)
    close("different minibatches", m_diff, t_diff)

    # stack_module_state by hand: one stacked tensor per name, then the forward written with F.linear
    m_params = {k: mg.stack([dict(m.named_parameters())[k] for m in mmodels]) for k, _ in mmodels[0].named_parameters()}
    F = mg.nn.functional
    m_stacked = mg.stack([F.linear(mg.relu(F.linear(mb.flatten(1), m_params["fc1.weight"][i], m_params["fc1.bias"][i])),
                                   m_params["fc2.weight"][i], m_params["fc2.bias"][i])
                          for i, mb in enumerate(m_minibatches)])
    close("stacked-parameter loop", m_stacked, t_diff)
    m_stacked.sum().backward()  # gradients flow back to every model's parameters through mg.stack
    t_diff.sum().backward()
    close("fc1.weight grad of model 2", mmodels[2].fc1.weight.grad, params["fc1.weight"].grad[2])


def test_per_sample_gradients_loop_matches_torch_func():
    from torch.func import functional_call, grad, vmap

    tmodel = simple_mlp(torch, 5)
    mmodel = same_weights(simple_mlp(mg, 0), tmodel)
    n = 4
    t_x, m_x = data(torch, n, 2, 3), data(mg, n, 2, 3)
    t_y, m_y = torch.tensor([0, 2, 1, 2]), mg.tensor([0, 2, 1, 2])

    def compute_grad(lib, model, sample, target):
        sample, target = sample.unsqueeze(0), target.unsqueeze(0)
        loss = lib.nn.functional.cross_entropy(model(sample), target)
        return lib.autograd.grad(loss, list(model.parameters()))

    t_loop = [torch.stack(gs) for gs in zip(*[compute_grad(torch, tmodel, t_x[i], t_y[i]) for i in range(n)])]
    m_loop = [mg.stack(gs) for gs in zip(*[compute_grad(mg, mmodel, m_x[i], m_y[i]) for i in range(n)])]

    params = {k: v.detach() for k, v in tmodel.named_parameters()}

    def compute_loss(params, sample, target):
        predictions = functional_call(tmodel, params, (sample.unsqueeze(0),))
        return torch.nn.functional.cross_entropy(predictions, target.unsqueeze(0))

    t_vmap = vmap(grad(compute_loss), in_dims=(None, 0, 0))(params, t_x, t_y)
    for (name, _), ours, loop, vm in zip(tmodel.named_parameters(), m_loop, t_loop, t_vmap.values()):
        close(f"per-sample grad {name} (torch loop)", ours, loop)
        close(f"per-sample grad {name} (torch.func)", ours, vm)
    # no .grad was touched by autograd.grad
    assert all(p.grad is None for p in mmodel.parameters())
    # and the per-sample gradients sum to the gradient of the summed loss
    mg.nn.functional.cross_entropy(mmodel(m_x), m_y, reduction="sum").backward()
    close("sum of per-sample grads", m_loop[0].sum(0), mmodel.fc1.weight.grad)


# ---------------------------------------------------------------- hooks
def hooks_program(lib):
    nn = lib.nn
    log, out = [], {}

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(3, 4)
            self.fc2 = nn.Linear(4, 2)

        def forward(self, x, scale=1.0):
            return self.fc2(lib.tanh(self.fc1(x))) * scale

    m = fill_(lib, Model().double())
    x = lib.tensor(np.linspace(-1, 1, 6).reshape(2, 3), dtype=lib.float64, requires_grad=True)

    def pre_kw(mod, args, kwargs):
        log.append(("pre", type(mod).__name__, sorted(kwargs)))
        return args, {**kwargs, "scale": 2.0}

    def fwd_kw(mod, args, kwargs, output):
        log.append(("fwd", kwargs["scale"]))
        return output + 1

    def pre_plain(mod, args):
        log.append(("pre_plain", len(args)))
        return (args[0] * 2,)

    def fwd_plain(mod, args, output):
        log.append(("fwd_plain", tuple(output.shape)))
        out["fc2_activation"] = output.detach().clone()

    def bwd(mod, grad_input, grad_output):
        log.append(("bwd", [tuple(g.shape) for g in grad_input], [tuple(g.shape) for g in grad_output]))
        out["fc1_grad_input"] = grad_input[0].detach().clone()
        out["fc1_grad_output"] = grad_output[0].detach().clone()
        return (grad_input[0] * 3,)

    def bwd_pre(mod, grad_output):
        log.append(("bwd_pre", tuple(grad_output[0].shape)))
        return (grad_output[0] * 0.5,)

    handles = [m.register_forward_pre_hook(pre_kw, with_kwargs=True),
               m.register_forward_hook(fwd_kw, with_kwargs=True),
               m.fc1.register_forward_pre_hook(pre_plain),
               m.fc2.register_forward_hook(fwd_plain),
               m.fc1.register_full_backward_hook(bwd),
               m.fc2.register_full_backward_pre_hook(bwd_pre)]
    y = m(x, scale=1.0)
    y.register_hook(lambda g: g * 2)
    y.sum().backward()
    out.update(y=y, x_grad=x.grad.clone(), w1_grad=m.fc1.weight.grad.clone(), w2_grad=m.fc2.weight.grad.clone())
    for h in handles:
        h.remove()
    m.zero_grad()
    x.grad = None
    y2 = m(x)
    y2.sum().backward()
    out.update(y_unhooked=y2, x_grad_unhooked=x.grad)

    # tensor hooks: on an intermediate (with retain_grad), on a leaf, and post-accumulate
    a = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
    b = a.mul(2)
    b.retain_grad()
    b.register_hook(lambda g: g + 1)
    a.register_hook(lambda g: log.append(("leaf_hook", g.tolist())))
    a.register_post_accumulate_grad_hook(lambda p: log.append(("post_acc", p.grad.tolist())))
    b.sin().sum().backward()
    out.update(b_grad=b.grad, a_grad=a.grad)
    return out, log


def test_hooks_recipe_matches_torch():
    (t, tlog), (m, mlog) = hooks_program(torch), hooks_program(mg)
    assert mlog == tlog
    assert [e[0] for e in tlog[:7]] == ["pre", "pre_plain", "fwd_plain", "fwd", "bwd_pre", "bwd", "leaf_hook"]
    for k in t:
        close(k, m[k], t[k])


def test_node_hooks_and_global_module_hooks_are_refused_clearly():
    """`y.grad_fn.register_hook` / `register_prehook` (torch's autograd-mechanics section) are not
    available: NotImplementedError with the alternatives; torch accepts them."""
    y = mg.ones(2, requires_grad=True) * 2
    for meth in ("register_hook", "register_prehook"):
        with pytest.raises(NotImplementedError, match=rf"MulScalarBackward\.{meth}: hooks on graph nodes .*"
                                                      r"tensor\.register_hook"):
            getattr(y.grad_fn, meth)(lambda *a: None)
    # the global hooks of torch.nn.modules.module exist at torch's path (tested in test_module_hooks10.py)
    assert hasattr(torch.nn.modules.module, "register_module_forward_hook")
    assert callable(mg.nn.modules.module.register_module_forward_hook)


def test_autograd_grad_takes_model_parameters_as_a_generator():
    """`torch.autograd.grad(loss, model.parameters())` (MAML, per-sample gradients): any iterable of inputs."""
    res = {}
    for lib in LIBS:
        model = simple_mlp(lib, 1)
        loss = model(data(lib, 2, 2, 3)).pow(2).sum()
        grads = lib.autograd.grad(loss, model.parameters(), retain_graph=True)
        assert isinstance(grads, tuple) and len(grads) == 4
        outs = lib.autograd.grad(iter([loss]), iter([model.fc2.bias]))  # outputs may be any iterable too
        res[lib] = grads + outs
        with pytest.raises(TypeError):
            lib.autograd.grad(loss, 3)
    for i, (a, b) in enumerate(zip(res[mg], res[torch])):
        close(f"grad {i}", a, b)
    with pytest.raises(TypeError, match=r"grad: inputs must be a Tensor or a sequence of Tensors, got str"):
        mg.autograd.grad(mg.ones(1, requires_grad=True).sum(), "weight")
    with pytest.raises(TypeError, match=r"grad: all inputs have to be Tensors, but inputs\[1\] is int"):
        mg.autograd.grad(mg.ones(1, requires_grad=True).sum(), iter([mg.ones(1, requires_grad=True), 2]))


def test_hook_handle_as_a_context_manager():
    """`with module.register_forward_hook(fn):` removes the hook on exit (torch's RemovableHandle)."""
    for lib in LIBS:
        calls = []
        lin = lib.nn.Linear(2, 2)
        with lin.register_forward_hook(lambda m, a, o: calls.append("fwd")) as handle:
            lin(lib.ones(1, 2))
        assert handle is not None
        lin(lib.ones(1, 2))
        x = lib.ones(2, requires_grad=True)
        with x.register_hook(lambda g: calls.append("tensor")):
            pass
        (x * 2).sum().backward()
        assert calls == ["fwd"]
