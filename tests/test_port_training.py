"""Porting audit: whole torch training programs, run in torch and in minigrad with the same weights.

Each test writes a program as a torch user would (the shape of pytorch/examples' mnist, vae and
dcgan scripts, a regression loop with schedulers and checkpoints, the data utilities), once with
torch and once with minigrad's names (`torch` -> `mg`, `torch.nn` -> `mg.nn`, `torch.optim` ->
`mg.optim`, `torch.utils.data` -> `mg.utils.data`), loads torch's initial weights into the minigrad
model, trains both for a few steps on tiny generated data in float64 and compares losses, outputs,
gradients, optimizer/scheduler state and updated parameters. Randomness that cannot be shared
(dropout masks, the reparameterisation noise, shuffling) is switched off, fed identically to both, or
checked by its exact deterministic part.

Found while porting and fixed (each has a focused test here):
* `x -= y`, `x += y`, ... on a Tensor rebound the name to a new tensor instead of writing in place, so
  the manual SGD loop of torch's tutorials (`p -= lr * p.grad` under no_grad) silently did not train;
* `nn.init.normal_(m.weight.data, ...)` (DCGAN's weights_init) refused the raw array `.data` is here;
* `nn.init._calculate_fan_in_and_fan_out(w)` (custom layers' reset_parameters) needed an extra argument;
* `mg.load(path, map_location=..., weights_only=True)` refused torch's keywords;
* `torch.Generator().manual_seed(n)` had no counterpart (`mg.Generator`).
"""
import math

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as mnn
import minigrad.nn.functional as MF
import minigrad.optim as moptim
from minigrad.utils import data as mdata
from porting import closer, to_numpy

torch = pytest.importorskip("torch")
tnn = torch.nn
TF = torch.nn.functional

TOL = dict(rtol=1e-7, atol=1e-10)


# ---------------------------------------------------------------- helpers
_np = to_numpy
_close = closer(TOL, check_dtype=False)


def _copy_weights(theirs, ours):
    """torch's state dict (parameters and buffers) into our module, as a porter would."""
    missing, unexpected = ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    assert not missing and not unexpected


def _same_state(ours, theirs, **tol):
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)
    for k in a:
        _close(k, a[k], b[k], **tol)


def _same_grads(ours, theirs):
    for (k, p), (k2, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert k == k2
        assert (p.grad is None) == (q.grad is None), k
        if p.grad is not None:
            _close(f"{k}.grad", p.grad, q.grad)


# ---------------------------------------------------------------- 1. pytorch/examples mnist
def _mnist_net(lib, nn, F, p1=0.25, p2=0.5):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, 3, 1)
            self.conv2 = nn.Conv2d(4, 6, 3, 1)
            self.dropout1 = nn.Dropout(p1)
            self.dropout2 = nn.Dropout(p2)
            self.fc1 = nn.Linear(6 * 2 * 2, 12)
            self.fc2 = nn.Linear(12, 10)

        def forward(self, x):
            x = self.conv1(x)
            x = F.relu(x)
            x = self.conv2(x)
            x = F.relu(x)
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = lib.flatten(x, 1)
            x = self.fc1(x)
            x = F.relu(x)
            x = self.dropout2(x)
            x = self.fc2(x)
            output = F.log_softmax(x, dim=1)
            return output

    return Net()


def _mnist_run(lib, nn, F, optim, model, X, Y, train_mode):
    """The example's train() and test() loops, 3 epochs of 2 batches, Adadelta + StepLR(gamma=0.7)."""
    optimizer = optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    log = []
    for epoch in range(1, 4):
        model.train(train_mode)
        for batch_idx in range(2):
            data, target = lib.tensor(X[batch_idx * 3:(batch_idx + 1) * 3]), lib.tensor(Y[batch_idx * 3:(batch_idx + 1) * 3])
            optimizer.zero_grad()
            output = model(data)
            loss = F.nll_loss(output, target)
            loss.backward()
            optimizer.step()
            log.append(("loss", loss.item()))
        model.eval()
        test_loss, correct = 0, 0
        with lib.no_grad():
            data, target = lib.tensor(X), lib.tensor(Y)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
        test_loss /= len(X)
        log.append(("test", test_loss, correct, 100.0 * correct / len(X)))
        log.append(("pred", pred.numpy().copy()))
        scheduler.step()
        log.append(("lr", optimizer.param_groups[0]["lr"], scheduler.get_last_lr()[0]))
    return log


@pytest.mark.parametrize("mode", ["eval", "train_p0"])
def test_mnist_net_adadelta_steplr(mode):
    """mode 'eval': the example's dropout rates in eval mode; 'train_p0': train mode with p=0 (exact)."""
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((6, 1, 8, 8)), rng.integers(0, 10, 6)
    ps = (0.25, 0.5) if mode == "eval" else (0.0, 0.0)
    torch.manual_seed(0)
    theirs = _mnist_net(torch, tnn, TF, *ps).double()
    ours = _mnist_net(mg, mnn, MF, *ps).double()
    _copy_weights(theirs, ours)
    a = _mnist_run(mg, mnn, MF, moptim, ours, X, Y, mode != "eval")
    b = _mnist_run(torch, tnn, TF, torch.optim, theirs, X, Y, mode != "eval")
    assert [e[0] for e in a] == [e[0] for e in b]
    for ea, eb in zip(a, b):
        if ea[0] == "test":
            assert ea[2] == eb[2] and isinstance(ea[2], int)  # `correct` is a Python int in both
            np.testing.assert_allclose(ea[1], eb[1], **TOL)
        elif ea[0] == "pred":
            np.testing.assert_array_equal(ea[1], eb[1])
        else:
            np.testing.assert_allclose(ea[1:], eb[1:], **TOL)
    assert a[-1][1] == pytest.approx(0.7 ** 3, rel=1e-15)
    _same_state(ours, theirs)


# ---------------------------------------------------------------- 2. VAE
def _vae(lib, nn, F):
    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(16, 8)
            self.fc21 = nn.Linear(8, 2)
            self.fc22 = nn.Linear(8, 2)
            self.fc3 = nn.Linear(2, 8)
            self.fc4 = nn.Linear(8, 16)

        def encode(self, x):
            h1 = F.relu(self.fc1(x))
            return self.fc21(h1), self.fc22(h1)

        def reparameterize(self, mu, logvar, eps=None):
            std = lib.exp(0.5 * logvar)
            if eps is None:
                eps = lib.randn_like(std)
            return mu + eps * std

        def decode(self, z):
            h3 = F.relu(self.fc3(z))
            return lib.sigmoid(self.fc4(h3))

        def forward(self, x, eps=None):
            mu, logvar = self.encode(x.view(-1, 16))
            z = self.reparameterize(mu, logvar, eps)
            return self.decode(z), mu, logvar

    def loss_function(recon_x, x, mu, logvar):
        BCE = F.binary_cross_entropy(recon_x, x.view(-1, 16), reduction="sum")
        KLD = -0.5 * lib.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return BCE + KLD

    return VAE(), loss_function


def test_vae_adam():
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(5, 1, 4, 4))
    torch.manual_seed(0)
    theirs, tloss = _vae(torch, tnn, TF)
    ours, mloss = _vae(mg, mnn, MF)
    theirs.double()
    ours.double()
    _copy_weights(theirs, ours)
    topt = torch.optim.Adam(theirs.parameters(), lr=1e-2)
    mopt = moptim.Adam(ours.parameters(), lr=1e-2)
    for _ in range(4):
        eps = rng.standard_normal((5, 2))  # the same noise for both (randn_like replaced by a given eps)
        for lib, model, opt, lf in ((torch, theirs, topt, tloss), (mg, ours, mopt, mloss)):
            model.train()
            opt.zero_grad()
            data = lib.tensor(X)
            recon_batch, mu, logvar = model(data, lib.tensor(eps))
            loss = lf(recon_batch, data, mu, logvar)
            loss.backward()
            opt.step()
            if lib is torch:
                t_out = (loss.item(), recon_batch.detach().numpy().copy())
            else:
                m_out = (loss.item(), recon_batch.numpy().copy())
        np.testing.assert_allclose(m_out[0], t_out[0], **TOL)
        _close("recon", m_out[1], t_out[1])
        _same_grads(ours, theirs)
    _same_state(ours, theirs)
    # the example's own sampling line, with the noise minigrad draws: shape and dtype as torch's
    with mg.no_grad():
        mu, logvar = ours.encode(mg.tensor(X).view(-1, 16))
        z = ours.reparameterize(mu, logvar)
        sample = ours.decode(mg.randn(3, 2, dtype=mg.float64))
    assert z.shape == (5, 2) and z.dtype == mg.float64 and not z.requires_grad
    assert sample.shape == (3, 16) and bool(((sample > 0) & (sample < 1)).all())


# ---------------------------------------------------------------- 3. DCGAN
NZ, NGF, NDF, NC = 4, 4, 4, 1


def _dcgan(nn):
    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.main = nn.Sequential(
                nn.ConvTranspose2d(NZ, NGF * 2, 4, 1, 0, bias=False),  # 1x1 -> 4x4
                nn.BatchNorm2d(NGF * 2),
                nn.ReLU(True),
                nn.ConvTranspose2d(NGF * 2, NC, 4, 2, 1, bias=False),  # 4x4 -> 8x8
                nn.Tanh(),
            )

        def forward(self, input):  # noqa: A002
            return self.main(input)

    class Discriminator(nn.Module):
        def __init__(self):
            super().__init__()
            self.main = nn.Sequential(
                nn.Conv2d(NC, NDF, 4, 2, 1, bias=False),  # 8x8 -> 4x4
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(NDF, NDF * 2, 4, 2, 1, bias=False),  # -> 2x2
                nn.BatchNorm2d(NDF * 2),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(NDF * 2, 1, 2, 1, 0, bias=False),  # -> 1x1
                nn.Sigmoid(),
            )

        def forward(self, input):  # noqa: A002
            return self.main(input).view(-1, 1).squeeze(1)

    return Generator(), Discriminator()


def _weights_init(nn):
    def weights_init(m):  # pytorch/examples dcgan, verbatim: initialised through `.data`
        classname = m.__class__.__name__
        if classname.find("Conv") != -1:
            nn.init.normal_(m.weight.data, 0.0, 0.02)
        elif classname.find("BatchNorm") != -1:
            nn.init.normal_(m.weight.data, 1.0, 0.02)
            nn.init.constant_(m.bias.data, 0)
    return weights_init


def _gan_step(lib, netG, netD, criterion, optimizerD, optimizerG, real, noise):
    real_label, fake_label = 1.0, 0.0
    # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
    netD.zero_grad()
    real_cpu = lib.tensor(real)
    batch_size = real_cpu.size(0)
    label = lib.full((batch_size,), real_label, dtype=real_cpu.dtype)
    output = netD(real_cpu)
    errD_real = criterion(output, label)
    errD_real.backward()
    D_x = output.mean().item()
    fake = netG(lib.tensor(noise))
    label.fill_(fake_label)
    output = netD(fake.detach())
    errD_fake = criterion(output, label)
    g_before = [None if p.grad is None else p.grad.clone() for p in netG.parameters()]
    errD_fake.backward()
    g_untouched = all(  # fake.detach(): no gradient reached G
        (a is None and p.grad is None) or (a is not None and bool((a == p.grad).all()))
        for a, p in zip(g_before, netG.parameters()))
    D_G_z1 = output.mean().item()
    errD = errD_real + errD_fake
    optimizerD.step()
    # (2) Update G network: maximize log(D(G(z)))
    netG.zero_grad()
    label.fill_(real_label)  # fake labels are real for generator cost
    output = netD(fake)
    errG = criterion(output, label)
    errG.backward()
    D_G_z2 = output.mean().item()
    optimizerG.step()
    return [errD.item(), errG.item(), D_x, D_G_z1, D_G_z2], g_untouched, fake.detach()


def test_dcgan_train_mode_batchnorm_adam():
    torch.manual_seed(0)
    mg.manual_seed(0)
    tG, tD = (m.double() for m in _dcgan(tnn))
    mG, mD = (m.double() for m in _dcgan(mnn))
    for (nets, nn) in (((tG, tD), tnn), ((mG, mD), mnn)):
        for net in nets:
            net.apply(_weights_init(nn))
    # our weights_init really initialised our parameters through `.data` (N(0, 0.02) conv weights,
    # N(1, 0.02) BN weights, zero BN biases); sample std of 512 draws: sd 0.02 / sqrt(1024) = 6e-4
    w = mG.main[0].weight.numpy()
    assert w.size == 512 and abs(w.std() - 0.02) < 0.004 and abs(w.mean()) < 0.004
    assert np.all(np.abs(mD.main[3].weight.numpy() - 1.0) < 0.2) and not mD.main[3].bias.numpy().any()
    _copy_weights(tG, mG)
    _copy_weights(tD, mD)
    t_opt = (torch.optim.Adam(tD.parameters(), lr=2e-3, betas=(0.5, 0.999)),
             torch.optim.Adam(tG.parameters(), lr=2e-3, betas=(0.5, 0.999)))
    m_opt = (moptim.Adam(mD.parameters(), lr=2e-3, betas=(0.5, 0.999)),
             moptim.Adam(mG.parameters(), lr=2e-3, betas=(0.5, 0.999)))
    t_crit, m_crit = tnn.BCELoss(), mnn.BCELoss()
    rng = np.random.default_rng(2)
    for _ in range(3):
        real, noise = rng.uniform(-1, 1, size=(3, NC, 8, 8)), rng.standard_normal((3, NZ, 1, 1))
        a, a_untouched, a_fake = _gan_step(mg, mG, mD, m_crit, *m_opt, real, noise)
        b, b_untouched, b_fake = _gan_step(torch, tG, tD, t_crit, *t_opt, real, noise)
        np.testing.assert_allclose(a, b, **TOL)
        assert a_untouched and b_untouched
        _close("fake", a_fake, b_fake)
        _same_grads(mG, tG)
        _same_grads(mD, tD)
    # parameters and train-mode BatchNorm buffers (running mean/var, num_batches_tracked) after 3 steps
    _same_state(mG, tG)
    _same_state(mD, tD)
    assert int(mD.main[3].num_batches_tracked.item()) == 9  # real, fake.detach(), fake: 3 batches a step
    # eval mode: BatchNorm switches to the running statistics in both
    mG.eval()
    tG.eval()
    z = rng.standard_normal((2, NZ, 1, 1))
    with mg.no_grad(), torch.no_grad():
        _close("eval G(z)", mG(mg.tensor(z)), tG(torch.tensor(z)))


# ---------------------------------------------------------------- 4. regression: schedulers, accumulation, clipping
def _regressor(nn):
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))


_PLATEAU_METRIC = [1.0, 0.9, 0.9, 0.95, 0.9, 0.89, 0.95, 1.0]  # a validation loss that stalls


def _make_opt_sched(optim, model, kind):
    optimizer = optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.1)
    if kind == "cosine":
        scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=5, eta_min=1e-3)
    elif kind == "onecycle":
        scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=8)
    else:
        scheduler = optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=0)
    return optimizer, scheduler


def _regression_epochs(lib, nn, model, optimizer, scheduler, kind, X, Y, start, stop):
    """Each epoch: 2 micro-batches accumulated into one step, clip_grad_norm_, step, scheduler step."""
    log = []
    for epoch in range(start, stop):
        model.train()
        optimizer.zero_grad()
        running = 0.0
        for mb in range(2):
            xb, yb = lib.tensor(X[mb * 8:(mb + 1) * 8]), lib.tensor(Y[mb * 8:(mb + 1) * 8])
            loss = nn.functional.mse_loss(model(xb), yb) / 2  # averaged over the accumulation steps
            loss.backward()
            running += loss.item()
        total_norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)
        optimizer.step()
        if kind == "plateau":
            scheduler.step(_PLATEAU_METRIC[epoch])
        else:
            scheduler.step()
        group = optimizer.param_groups[0]
        log.append([running, float(total_norm), group["lr"], group["betas"][0]])
    return log


def _regression_data():
    rng = np.random.default_rng(3)
    return rng.standard_normal((16, 3)), rng.standard_normal((16, 1))


@pytest.mark.parametrize("kind", ["cosine", "onecycle", "plateau"])
def test_regression_adamw_schedulers_accumulation_clipping(kind):
    X, Y = _regression_data()
    torch.manual_seed(0)
    theirs = _regressor(tnn).double()
    ours = _regressor(mnn).double()
    _copy_weights(theirs, ours)
    a = _regression_epochs(mg, mnn, ours, *_make_opt_sched(moptim, ours, kind), kind, X, Y, 0, 8)
    b = _regression_epochs(torch, tnn, theirs, *_make_opt_sched(torch.optim, theirs, kind), kind, X, Y, 0, 8)
    np.testing.assert_allclose(a, b, **TOL)
    lrs = [row[2] for row in a]
    assert len(set(lrs)) > 2  # the schedule really moved the rate
    if kind == "onecycle":
        assert len({row[3] for row in a}) > 2  # ... and cycled Adam's beta1
    assert any(row[1] > 0.5 for row in a)  # clipping was active in some step
    _same_state(ours, theirs)


def _optimizer_arrays(opt):
    sd = opt.state_dict()
    return {(i, k): np.asarray(_np(v)) for i, s in sd["state"].items() for k, v in s.items()}


@pytest.mark.parametrize("kind", ["cosine", "onecycle", "plateau"])
def test_checkpoint_resume_is_bit_exact(kind, tmp_path):
    """torch's checkpoint recipe with mg.save/mg.load mid-training; the resumed run equals the uninterrupted one."""
    X, Y = _regression_data()

    def fresh(seed):
        mg.manual_seed(seed)
        model = _regressor(mnn).double()
        return (model,) + _make_opt_sched(moptim, model, kind)

    model, optimizer, scheduler = fresh(0)
    full_log = _regression_epochs(mg, mnn, model, optimizer, scheduler, kind, X, Y, 0, 8)
    full = (model.state_dict(), _optimizer_arrays(optimizer), scheduler.state_dict())

    model, optimizer, scheduler = fresh(0)
    first = _regression_epochs(mg, mnn, model, optimizer, scheduler, kind, X, Y, 0, 3)
    path = tmp_path / "checkpoint.pt"
    mg.save({"epoch": 3, "model_state_dict": model.state_dict(), "optimizer_state_dict": optimizer.state_dict(),
             "scheduler_state_dict": scheduler.state_dict(), "loss": first[-1][0]}, path)
    del model, optimizer, scheduler

    model, optimizer, scheduler = fresh(1)  # other initial weights: everything must come from the file
    checkpoint = mg.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(checkpoint["model_state_dict"])
    optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
    scheduler.load_state_dict(checkpoint["scheduler_state_dict"])
    epoch, loss = checkpoint["epoch"], checkpoint["loss"]
    assert epoch == 3 and loss == first[-1][0]
    rest = _regression_epochs(mg, mnn, model, optimizer, scheduler, kind, X, Y, epoch, 8)

    assert first + rest == full_log  # every loss, norm, lr and beta1, bit for bit
    for k, v in model.state_dict().items():
        assert np.array_equal(v.numpy(), full[0][k].numpy()), k
    resumed = _optimizer_arrays(optimizer)
    assert resumed.keys() == full[1].keys()
    for k in resumed:
        assert np.array_equal(resumed[k], full[1][k]), k
    assert scheduler.state_dict() == full[2]

    # negative control: the same resume without the optimizer's state diverges, so the test can see a gap
    model, optimizer, scheduler = fresh(1)
    model.load_state_dict(checkpoint["model_state_dict"])
    scheduler.load_state_dict(checkpoint["scheduler_state_dict"])
    _regression_epochs(mg, mnn, model, optimizer, scheduler, kind, X, Y, epoch, 8)
    assert not all(np.array_equal(v.numpy(), full[0][k].numpy()) for k, v in model.state_dict().items())


def test_load_accepts_torch_keywords(tmp_path):
    path = tmp_path / "model.pth"
    model = _regressor(mnn)
    mg.save(model.state_dict(), path)
    fresh = _regressor(mnn)
    fresh.load_state_dict(mg.load(path, map_location="cpu", weights_only=True))  # the tutorials' spelling
    for k, v in fresh.state_dict().items():
        assert np.array_equal(v.numpy(), model.state_dict()[k].numpy())
    assert list(mg.load(path, weights_only=False)) == list(model.state_dict())
    # torch's dict and callable forms: saved cpu tensors stay on the cpu, values unchanged
    for form in ({"cuda:0": "cpu"}, {"cpu": "cpu"}, lambda storage, loc: storage, lambda storage, loc: None):
        loaded = mg.load(path, map_location=form)
        assert list(loaded) == list(model.state_dict())
        for k, v in loaded.items():
            assert v.device == "cpu" and np.array_equal(v.numpy(), model.state_dict()[k].numpy())
    seen = []
    mg.load(path, map_location=lambda storage, loc: seen.append(loc))
    assert seen == ["cpu"] * len(model.state_dict())  # called once per tensor with its saved device
    with pytest.raises(TypeError, match="map_location callable failed.*NumPy array"):
        mg.load(path, map_location=lambda storage, loc: storage.cuda())
    with pytest.raises(TypeError, match="map_location callable returned list"):
        mg.load(path, map_location=lambda storage, loc: [1])
    with pytest.raises(ValueError, match="changed the array"):
        mg.load(path, map_location=lambda storage, loc: storage[:1])
    with pytest.raises(TypeError, match="str -> str"):
        mg.load(path, map_location={0: "cpu"})
    with pytest.raises(ValueError, match="not both"):
        mg.load(path, "cpu", map_location={"cpu": "cpu"})
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        mg.load(path, map_location="tpu")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        mg.load(path, map_location={"cpu": "tpu"})


# ---------------------------------------------------------------- 5. data, modes, init, freezing
def test_dataloader_seeded_shuffle_trains_like_torch_on_the_same_order():
    rng = np.random.default_rng(4)
    X, Y = rng.standard_normal((10, 3)), rng.standard_normal((10, 1))
    ds = mdata.TensorDataset(mg.tensor(X), mg.tensor(Y))
    tds = torch.utils.data.TensorDataset(torch.tensor(X), torch.tensor(Y))

    def loader(seed):
        return mdata.DataLoader(ds, batch_size=4, shuffle=True, generator=mg.Generator().manual_seed(seed))

    dl = loader(0)
    assert len(dl) == len(torch.utils.data.DataLoader(tds, batch_size=4)) == 3 and len(dl.dataset) == 10
    epochs = [[(xb.numpy(), yb.numpy()) for xb, yb in dl] for _ in range(2)]
    again = [[(xb.numpy(), yb.numpy()) for xb, yb in loader(0)]]
    orders = []
    for epoch in epochs:
        assert [len(xb) for xb, _ in epoch] == [4, 4, 2]
        xs, ys = np.concatenate([e[0] for e in epoch]), np.concatenate([e[1] for e in epoch])
        order = [int(np.flatnonzero((X == row).all(1))[0]) for row in xs]
        assert sorted(order) == list(range(10))  # a permutation of the dataset
        np.testing.assert_array_equal(ys, Y[order])  # inputs and targets stay paired
        orders.append(order)
    assert orders[0] != orders[1]  # a new order each epoch, as torch's generator advances
    for (ax, ay), (bx, by) in zip(epochs[0], again[0]):  # the same seed, the same order
        assert np.array_equal(ax, bx) and np.array_equal(ay, by)

    # one epoch of training on that order, in torch (given the order as its sampler) and here
    torch.manual_seed(0)
    theirs = _regressor(tnn).double()
    ours = _regressor(mnn).double()
    _copy_weights(theirs, ours)
    topt = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    mopt = moptim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    tdl = torch.utils.data.DataLoader(tds, batch_size=4, sampler=orders[0])
    for (xb, yb), (txb, tyb) in zip(loader(0), tdl):
        _close("batch", xb, txb)
        for model, opt, x, y, nn in ((ours, mopt, xb, yb, mnn), (theirs, topt, txb, tyb, tnn)):
            opt.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
            opt.step()
    _same_state(ours, theirs)

    # without shuffling the batches are torch's exactly; drop_last drops the short one
    for (xb, yb), (txb, tyb) in zip(mdata.DataLoader(ds, batch_size=4), torch.utils.data.DataLoader(tds, batch_size=4)):
        _close("x", xb, txb)
        _close("y", yb, tyb)
    assert [len(b[0]) for b in mdata.DataLoader(ds, batch_size=4, drop_last=True)] == [4, 4]
    # a NumPy generator works too; torch's own is refused with a message that says what to pass
    assert len(list(mdata.DataLoader(ds, batch_size=4, shuffle=True, generator=np.random.default_rng(0)))) == 3
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        mdata.DataLoader(ds, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("n, lengths", [(10, [0.8, 0.2]), (10, [0.7, 0.2, 0.1]), (7, [0.5, 0.5]),
                                        (5, [0.3, 0.3, 0.4]), (10, [6, 4])])
def test_random_split_lengths_match_torch(n, lengths):
    ds = mdata.TensorDataset(mg.arange(n))
    parts = mdata.random_split(ds, lengths, generator=mg.Generator().manual_seed(42))
    tparts = torch.utils.data.random_split(torch.utils.data.TensorDataset(torch.arange(n)), lengths,
                                           generator=torch.Generator().manual_seed(42))
    assert [len(p) for p in parts] == [len(p) for p in tparts]
    flat = [i for p in parts for i in p.indices]
    assert sorted(flat) == list(range(n))  # disjoint and covering
    assert [int(p[0][0].item()) for p in parts if len(p)] == [p.indices[0] for p in parts if len(p)]
    again = mdata.random_split(ds, lengths, generator=mg.Generator().manual_seed(42))
    assert [p.indices for p in again] == [p.indices for p in parts]
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        mdata.random_split(ds, lengths, generator=torch.Generator().manual_seed(42))


def _mode_net(nn, p):
    return nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Dropout(p), nn.ReLU(), nn.Linear(6, 2))


def test_train_eval_switch_dropout_and_batchnorm():
    rng = np.random.default_rng(5)
    torch.manual_seed(0)
    theirs = _mode_net(tnn, 0.5).double()
    ours = _mode_net(mnn, 0.5).double()
    _copy_weights(theirs, ours)
    assert ours.training and all(m.training for m in ours.modules())
    # train mode: BatchNorm normalises by the batch and updates its running statistics; the dropout
    # after it is random, so the buffers (which it cannot touch) are compared exactly
    for _ in range(3):
        x = rng.standard_normal((5, 4))
        ours(mg.tensor(x))
        theirs(torch.tensor(x))
    for k in ("1.running_mean", "1.running_var", "1.num_batches_tracked"):
        _close(k, ours.state_dict()[k], theirs.state_dict()[k])
    # dropout in train mode: zeros, and the survivors scaled by exactly 1 / (1 - p)
    h = mg.tensor(rng.standard_normal((200, 6)) + 3.0)
    drop = ours[2]
    out = drop(h).numpy()
    kept = out != 0
    np.testing.assert_array_equal(out[kept], h.numpy()[kept] * 2.0)
    assert 0.4 < 1 - kept.mean() < 0.6  # p = 0.5 over 1200 draws: sd 0.014
    # eval(): every submodule switches, dropout is the identity and BatchNorm uses the running statistics
    assert ours.eval() is ours and not any(m.training for m in ours.modules())
    theirs.eval()
    x = rng.standard_normal((3, 4))
    _close("eval output", ours(mg.tensor(x)), theirs(torch.tensor(x)))
    np.testing.assert_array_equal(drop(h).numpy(), h.numpy())
    assert int(ours[1].num_batches_tracked.item()) == 3  # eval forwards do not count
    ours.train()
    assert all(m.training for m in ours.modules())
    # momentum=None: BatchNorm's cumulative average, as torch
    tb, mb = tnn.BatchNorm2d(3, momentum=None).double(), mnn.BatchNorm2d(3, momentum=None).double()
    for _ in range(3):
        x = rng.standard_normal((2, 3, 2, 2))
        _close("bn out", mb(mg.tensor(x)), tb(torch.tensor(x)))
    _same_state(mb, tb)


def test_apply_init_fn_order_and_init_functions():
    def build(nn):
        return nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                             nn.Sequential(nn.Flatten(), nn.Linear(16, 5)), nn.Linear(5, 3))

    seen = {"ours": [], "theirs": []}
    ours, theirs = build(mnn), build(tnn)
    ours.apply(lambda m: seen["ours"].append(type(m).__name__))
    theirs.apply(lambda m: seen["theirs"].append(type(m).__name__))
    assert seen["ours"] == seen["theirs"]  # children first, then the module itself

    mg.manual_seed(0)

    def init_fn(m):  # a typical init function: isinstance dispatch, torch's nn.init names
        if isinstance(m, mnn.Conv2d):
            mnn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            mnn.init.zeros_(m.bias)
        elif isinstance(m, mnn.BatchNorm2d):
            mnn.init.constant_(m.weight, 1)
            mnn.init.constant_(m.bias, 0)
        elif isinstance(m, mnn.Linear):
            mnn.init.xavier_uniform_(m.weight)
            mnn.init.constant_(m.bias, 0.1)

    assert ours.apply(init_fn) is ours
    for lin in (ours[3][1], ours[4]):
        fan_in, fan_out = mnn.init._calculate_fan_in_and_fan_out(lin.weight)
        assert (fan_in, fan_out) == tnn.init._calculate_fan_in_and_fan_out(torch.empty(lin.weight.shape))
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        assert np.abs(lin.weight.numpy()).max() <= bound and np.all(lin.bias.numpy() == np.float32(0.1))
    assert mnn.init._calculate_fan_in_and_fan_out(ours[0].weight) == (18, 36)
    assert ours[0].weight.numpy().std() > 0 and not ours[0].bias.numpy().any()
    assert np.all(ours[1].weight.numpy() == 1) and not ours[1].bias.numpy().any()
    # through `.data` (the raw array here): the same fill, the parameter itself changes
    w = ours[4].weight
    arr = w.data
    assert mnn.init.constant_(w.data, 0.5) is arr and w.data is arr and np.all(w.numpy() == 0.5)
    mnn.init.normal_(w.data, 0.0, 0.02)
    assert np.abs(w.numpy()).max() < 0.2 and len(np.unique(w.numpy())) == w.numel()


@pytest.mark.parametrize("opt_name", ["AdamW", "SGD"])
def test_frozen_submodule_is_skipped_by_the_optimizer(opt_name):
    def build(nn):
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.backbone = nn.Sequential(nn.Linear(3, 5), nn.Tanh())
                self.head = nn.Linear(5, 2)

            def forward(self, x):
                return self.head(self.backbone(x))
        return Net()

    def make_opt(optim, params):
        if opt_name == "AdamW":
            return optim.AdamW(params, lr=0.05, weight_decay=0.1)
        return optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.01)

    rng = np.random.default_rng(6)
    torch.manual_seed(0)
    theirs, ours = build(tnn).double(), build(mnn).double()
    _copy_weights(theirs, ours)
    frozen0 = {k: v.numpy().copy() for k, v in ours.backbone.state_dict().items()}
    assert ours.backbone.requires_grad_(False) is ours.backbone
    theirs.backbone.requires_grad_(False)
    assert [p.requires_grad for p in ours.parameters()] == [p.requires_grad for p in theirs.parameters()]
    topt, mopt = make_opt(torch.optim, theirs.parameters()), make_opt(moptim, ours.parameters())
    for _ in range(3):
        x, y = rng.standard_normal((4, 3)), rng.integers(0, 2, 4)
        for model, opt, lib, F in ((ours, mopt, mg, MF), (theirs, topt, torch, TF)):
            opt.zero_grad()
            F.cross_entropy(model(lib.tensor(x)), lib.tensor(y)).backward()
            opt.step()
        _same_grads(ours, theirs)
        assert all(p.grad is None for p in ours.backbone.parameters())
    # the frozen weights did not move (weight decay skips parameters with no gradient, as torch)
    for k, v in ours.backbone.state_dict().items():
        assert np.array_equal(v.numpy(), frozen0[k]), k
    _same_state(ours, theirs)
    assert len(mopt.state_dict()["state"]) == len(topt.state_dict()["state"]) == 2  # head only
    # the other torch idiom: hand the optimizer only what trains
    opt2 = make_opt(moptim, filter(lambda p: p.requires_grad, ours.parameters()))
    assert sum(len(g["params"]) for g in opt2.param_groups) == 2


# ---------------------------------------------------------------- fixes found by the port
def test_manual_sgd_with_augmented_assignment_updates_in_place():
    """torch's 'What is torch.nn really?' loop: `weights -= weights.grad * lr` under no_grad, then grad.zero_()."""
    rng = np.random.default_rng(7)
    X, Y = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
    w0, b0 = rng.standard_normal((4, 3)) / 2.0, np.zeros(3)
    results = {}
    for lib, F in ((mg, MF), (torch, TF)):
        weights = lib.tensor(w0).requires_grad_()
        bias = lib.tensor(b0, requires_grad=True)
        w_id = id(weights)
        for _ in range(3):
            loss = F.cross_entropy(lib.tensor(X) @ weights + bias, lib.tensor(Y))
            loss.backward()
            with lib.no_grad():
                weights -= weights.grad * 0.5
                bias -= bias.grad * 0.5
                weights.grad.zero_()
                bias.grad.zero_()
        assert id(weights) == w_id and weights.requires_grad  # still the same leaf
        results[lib.__name__] = (weights, bias, loss.item())
    for a, b in zip(results["minigrad"], results["torch"]):
        np.testing.assert_allclose(_np(a), _np(b), **TOL)

    # the module form: the loop variable is each parameter itself
    model = mnn.Linear(4, 3)
    before = model.weight.numpy().copy()
    MF.cross_entropy(model(mg.tensor(X, dtype=mg.float32)), mg.tensor(Y)).backward()
    with mg.no_grad():
        for p in model.parameters():
            p -= p.grad * 0.1
    np.testing.assert_allclose(model.weight.numpy(), before - 0.1 * model.weight.grad.numpy(), rtol=1e-6)
    # a leaf that requires grad refuses in-place arithmetic in grad mode (torch: RuntimeError as well)
    with pytest.raises(RuntimeError, match="leaf"):
        model.weight += 1.0


@pytest.mark.parametrize("op", ["+=", "-=", "*=", "/=", "**="])
def test_augmented_assignment_on_non_leaf_is_recorded_like_torch(op):
    rng = np.random.default_rng(8)
    x0, y0 = rng.uniform(0.5, 2.0, (3, 2)), rng.uniform(0.5, 2.0, (3, 2))
    grads = {}
    for lib in (mg, torch):
        x, y = lib.tensor(x0, requires_grad=True), lib.tensor(y0, requires_grad=True)
        h = x * 2.0
        alias = h
        exec(f"h {op} y", {}, ns := {"h": h, "y": y})
        h = ns["h"]
        assert h is alias  # in place: the same tensor
        (h * h).sum().backward()
        grads[lib.__name__] = (h, x.grad, y.grad)
    for a, b in zip(grads["minigrad"], grads["torch"]):
        _close(op, a, b)


def test_augmented_assignment_integer_and_bool_ops_match_torch():
    a, b = mg.tensor([1, 2, 3, 7]), torch.tensor([1, 2, 3, 7])
    for t in (a, b):
        t *= 3
        t //= 2
        t %= 5
        t **= 2
        t <<= 1
        t >>= 1
        t |= 8
        t &= 13
        t ^= 1
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    m = mg.tensor([True, False, True])
    alias = m
    m &= mg.tensor([True, True, False])
    assert m is alias and m.tolist() == [True, False, False]
    i = mg.tensor([1, 2])
    with pytest.raises((TypeError, RuntimeError), match="div_"):
        i /= 2  # torch: "result type Float can't be cast to the desired output type Long"


def test_generator_has_torchs_seeding_methods():
    g = mg.Generator()
    assert g.initial_seed() == torch.Generator().initial_seed()  # torch's default seed
    assert g.manual_seed(7) is g and g.initial_seed() == 7
    first = g.integers(0, 1000, 5)
    state = g.get_state()
    second = g.integers(0, 1000, 5)
    assert np.array_equal(g.set_state(state).integers(0, 1000, 5), second)
    assert np.array_equal(mg.Generator().manual_seed(7).integers(0, 1000, 5), first)
    assert isinstance(g, np.random.Generator) and g.device == "cpu"
    for seed in (-1, -(2 ** 63), 2 ** 64 - 1):  # torch's range, negative seeds wrapped modulo 2**64
        assert mg.Generator().manual_seed(seed).initial_seed() == torch.Generator().manual_seed(seed).initial_seed()
    with pytest.raises(RuntimeError, match="seed must be in"):
        mg.Generator().manual_seed(2 ** 64)
    with pytest.raises(TypeError, match="seed must be an int"):
        mg.Generator().manual_seed(1.5)
    s = mg.Generator()
    assert s.seed() == s.initial_seed()


def test_to_accepts_non_blocking_and_copy():
    """The ImageNet example's `images.to(device, non_blocking=True)`; `copy=True` always gives a new tensor."""
    x = mg.randn(2, 3, requires_grad=True)
    assert x.to("cpu", non_blocking=True) is x
    y = x.to("cpu", copy=True)
    assert y is not x and np.array_equal(y.numpy(), x.numpy())
    y.sum().backward()  # the copy is differentiable, as torch's
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 3), dtype=np.float32))
    assert x.to(mg.float64, copy=True).dtype == mg.float64
    model = mnn.Linear(3, 1)
    assert model.to("cpu", non_blocking=True) is model


def test_save_load_refuse_file_objects_by_name(tmp_path):
    # (file objects such as io.BytesIO are accepted now, as torch's: tests/test_port_gaps.py)
    with pytest.raises(TypeError, match=r"save: expected a file name .* or a binary file object"):
        mg.save({"a": 1}, 5)
    with pytest.raises(TypeError, match=r"save: cannot store Linear"):  # torch.save(model) pickles; we never do
        mg.save(mnn.Linear(2, 1), tmp_path / "model.pt")
