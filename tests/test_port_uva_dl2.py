"""Porting audit: the University of Amsterdam Deep Learning course tutorials (uvadlc notebooks, PyTorch
versions) 8, 9, 11, 12 and tutorial 17's SimCLR loss, written from memory with plain loops where the
notebooks use Lightning, run in torch and in minigrad.

1. Tutorial 8, energy-based models: `Swish`, the small `CNNModel` (strided convs, Flatten, Linear,
   `.squeeze(dim=-1)`), the `Sampler` with its replay buffer (`torch.rand((1,) + img_shape) * 2 - 1`,
   `torch.cat(random.choices(...))`, `chunk` back into the buffer) and Langevin MCMC on the inputs
   (`model.eval()`, `p.requires_grad = False`, `inp_imgs.requires_grad = True`, `torch.set_grad_enabled`,
   `noise.normal_(0, 0.005)`, clamped input gradients, `inp_imgs.grad.detach_()` / `.zero_()`, restoring
   `requires_grad` and `model.train(is_training)`), and the contrastive-divergence training step with the
   `real_out ** 2 + fake_out ** 2` regulariser, Adam(betas=(0.0, 0.999)) and StepLR.
2. Tutorial 9, autoencoders: `Encoder` (stride-2 Conv2d, GELU, Flatten, Linear), `Decoder` (Linear,
   reshape, `ConvTranspose2d(..., output_padding=1, padding=1, stride=2)`, Tanh), the summed-over-pixels
   MSE `F.mse_loss(x, x_hat, reduction="none").sum(dim=[1, 2, 3]).mean(dim=[0])`, Adam with
   ReduceLROnPlateau on the validation loss, embeddings and `cdist` nearest-neighbour retrieval.
3. Tutorial 11, normalizing flows: `Dequantization` (sigmoid / inverse sigmoid with ldj bookkeeping,
   `ldj += np.log(...) * np.prod(...)` in place), `VariationalDequantization`, `CouplingLayer` with
   `register_buffer('mask', ...)`, `create_checkerboard_mask` (`meshgrid(indexing='ij')`, `fmod`) and
   `create_channel_mask`, `torch.tanh(s / s_fac) * s_fac`, `GatedConv` / `ConcatELU` / `LayerNormChannels`
   (`var(dim=1, unbiased=False, keepdim=True)`), `SqueezeFlow` / `SplitFlow` (reshape/permute, a
   `distributions.Normal` prior), `ImageFlow._get_likelihood` in bits per dim, importance-sampled test
   likelihood (`logsumexp`), and sampling in reverse.
4. Tutorial 12, PixelCNN: `MaskedConvolution` (`register_buffer('mask', mask[None, None])`, the weight
   masked in place in forward), `VerticalStackConvolution` / `HorizontalStackConvolution`,
   `GatedMaskedConv` (`chunk(2, dim=1)`, tanh * sigmoid, dilation), the bits-per-dim loss with
   `F.cross_entropy` over 256 classes, the receptive-field probe (`loss.backward(retain_graph=True)`,
   `img.grad.fill_(0)`) and pixel-by-pixel sampling under `no_grad`.
5. Tutorial 17, SimCLR's `info_nce_loss`: `F.cosine_similarity(feats[:, None, :], feats[None, :, :], dim=-1)`,
   `torch.eye(..., dtype=torch.bool)`, `masked_fill_(self_mask, -9e15)`, `roll`, `logsumexp`, boolean
   indexing, the ranking metrics via `argsort(descending=True).argmin(dim=-1)`, AdamW with
   CosineAnnealingLR; and the logistic-regression probe on frozen features.

Each program is written once against `lib` (torch or minigrad); minigrad's model gets torch's weights
through `load_state_dict`, runs in float64, and losses, outputs, gradients and updated parameters are
compared (rtol 1e-7). Random draws (Langevin noise, dequantization noise, replay-buffer choices) are made on
the host and shared; the libraries' own samplers (`normal_`, `multinomial`, `prior.sample`) are run in
minigrad and checked for shape, dtype and range.

Porting notes (README: `Tensor.data` is the raw NumPy array in minigrad; `F.cross_entropy` takes the class
dimension last):
* tutorial 8's `inp_imgs.data.add_(noise.data)`, `inp_imgs.data.clamp_(min=-1.0, max=1.0)` and
  `inp_imgs.grad.data.clamp_(-0.03, 0.03)` meet NumPy's AttributeError (documented); they port as
  `inp_imgs.data += noise.data`, `with torch.no_grad(): inp_imgs.clamp_(min=-1.0, max=1.0)` and
  `inp_imgs.grad.clamp_(-0.03, 0.03)`; `inp_imgs.data.add_(-step_size * inp_imgs.grad.data)` ports as
  `inp_imgs.data += -step_size * inp_imgs.grad.data`. These spellings run unchanged in torch too, so the
  programs below use them in both libraries.
* tutorial 11's `self.nn[-1].weight.data.zero_()` ports as `nn.init.zeros_(self.nn[-1].weight)`.
* tutorial 12's `self.conv.weight.data *= self.mask` (a Tensor into a NumPy in-place op: NumPy's TypeError)
  ports as `self.conv.weight.data *= self.mask.data`; `F.cross_entropy(pred, x)` with torch's
  (N, 256, C, H, W) logits is refused (a ValueError naming both shapes); port as
  `F.cross_entropy(pred.movedim(1, -1), x)`.
"""
import contextlib
import copy
import random

import numpy as np
import pytest

import minigrad as mg
from porting import closer, to_numpy

torch = pytest.importorskip("torch")

TOL = dict(rtol=1e-7, atol=1e-12)
_close = closer(TOL)


def _weights(module):
    """torch's state dict as NumPy arrays, as a porter would hand it to load_state_dict."""
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def _twin(build, seed=0, perturb=0.0):
    """The same model in both libraries: torch's (float64, seeded; `perturb` adds noise to every parameter so
    zero-initialised layers do something) and minigrad's with torch's weights loaded."""
    torch.manual_seed(seed)
    ours, theirs = build(mg).double(), build(torch).double()
    if perturb:
        with torch.no_grad():
            for p in theirs.parameters():
                p.add_(perturb * torch.randn_like(p))
    ours.load_state_dict(_weights(theirs))
    return ours, theirs


def _compare_params(ours, theirs, what, grads=False):
    mine = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        _close(f"{what}: {name}", mine[name], p)
        if grads and p.grad is not None:
            _close(f"{what}: {name}.grad", mine[name].grad, p.grad)


# ================================================================ 1. tutorial 8: energy-based models
def ebm_program(lib):
    torch_, nn = lib, lib.nn

    class Swish(nn.Module):
        def forward(self, x):
            return x * torch_.sigmoid(x)

    class CNNModel(nn.Module):
        def __init__(self, hidden_features=32, out_dim=1, **kwargs):
            super().__init__()
            c_hid1, c_hid2, c_hid3 = hidden_features // 2, hidden_features, hidden_features * 2
            self.cnn_layers = nn.Sequential(
                nn.Conv2d(1, c_hid1, kernel_size=5, stride=2, padding=4),  # [16x16]
                Swish(),
                nn.Conv2d(c_hid1, c_hid2, kernel_size=3, stride=2, padding=1),  # [8x8]
                Swish(),
                nn.Conv2d(c_hid2, c_hid3, kernel_size=3, stride=2, padding=1),  # [4x4]
                Swish(),
                nn.Conv2d(c_hid3, c_hid3, kernel_size=3, stride=2, padding=1),  # [2x2]
                Swish(),
                nn.Flatten(),
                nn.Linear(c_hid3 * 4, c_hid3),
                Swish(),
                nn.Linear(c_hid3, out_dim))

        def forward(self, x):
            return self.cnn_layers(x).squeeze(dim=-1)

    def generate_samples(model, inp_imgs, steps=60, step_size=10, return_img_per_step=False, draw_noise=None):
        is_training = model.training
        model.eval()
        for p in model.parameters():
            p.requires_grad = False
        inp_imgs.requires_grad = True

        had_gradients_enabled = torch_.is_grad_enabled()
        torch_.set_grad_enabled(True)

        noise = torch_.randn(inp_imgs.shape, device=inp_imgs.device, dtype=inp_imgs.dtype)
        imgs_per_step = []
        for _ in range(steps):
            # Part 1: add noise to the input (`draw_noise` replays host draws so both libraries see the same)
            if draw_noise is None:
                noise.normal_(0, 0.005)
            else:
                draw_noise(noise)
            inp_imgs.data += noise.data                       # torch: inp_imgs.data.add_(noise.data)
            with torch_.no_grad():
                inp_imgs.clamp_(min=-1.0, max=1.0)            # torch: inp_imgs.data.clamp_(min=-1.0, max=1.0)

            # Part 2: gradients for the current input
            out_imgs = -model(inp_imgs)
            out_imgs.sum().backward()
            inp_imgs.grad.clamp_(-0.03, 0.03)                 # torch: inp_imgs.grad.data.clamp_(-0.03, 0.03)

            inp_imgs.data += -step_size * inp_imgs.grad.data  # torch: inp_imgs.data.add_(-step_size * ...)
            inp_imgs.grad.detach_()
            inp_imgs.grad.zero_()
            with torch_.no_grad():
                inp_imgs.clamp_(min=-1.0, max=1.0)

            if return_img_per_step:
                imgs_per_step.append(inp_imgs.clone().detach())

        for p in model.parameters():
            p.requires_grad = True
        model.train(is_training)
        torch_.set_grad_enabled(had_gradients_enabled)
        if return_img_per_step:
            return torch_.stack(imgs_per_step, dim=0)
        return inp_imgs

    class Sampler:
        def __init__(self, model, img_shape, sample_size, max_len=8192, host=None):
            self.model, self.img_shape, self.sample_size, self.max_len = model, img_shape, sample_size, max_len
            self.host = host  # shared host randomness: (numpy Generator, random.Random, dtype)
            self.examples = [self._rand((1,) + img_shape) * 2 - 1 for _ in range(self.sample_size)]

        def _rand(self, shape):  # torch.rand(shape), drawn on the host
            rng, _, dtype = self.host
            return torch_.tensor(rng.random(shape), dtype=dtype)

        def sample_new_exmps(self, steps=60, step_size=10, draw_noise=None):
            rng, pyrng, _ = self.host
            n_new = rng.binomial(self.sample_size, 0.05)
            rand_imgs = self._rand((n_new,) + self.img_shape) * 2 - 1
            old_imgs = torch_.cat(pyrng.choices(self.examples, k=self.sample_size - n_new), dim=0)
            inp_imgs = torch_.cat([rand_imgs, old_imgs], dim=0).detach().to("cpu")
            inp_imgs = generate_samples(self.model, inp_imgs, steps=steps, step_size=step_size,
                                        draw_noise=draw_noise)
            self.examples = list(inp_imgs.to(torch_.device("cpu")).chunk(self.sample_size, dim=0)) + self.examples
            self.examples = self.examples[:self.max_len]
            return inp_imgs

    def training_step(cnn, sampler, optimizer, real_imgs, small_noise, alpha=0.1, draw_noise=None):
        real_imgs.add_(small_noise).clamp_(min=-1.0, max=1.0)
        fake_imgs = sampler.sample_new_exmps(steps=4, step_size=10, draw_noise=draw_noise)
        inp_imgs = torch_.cat([real_imgs, fake_imgs], dim=0)
        real_out, fake_out = cnn(inp_imgs).chunk(2, dim=0)
        reg_loss = alpha * (real_out ** 2 + fake_out ** 2).mean()
        cdiv_loss = fake_out.mean() - real_out.mean()
        loss = reg_loss + cdiv_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss, reg_loss, cdiv_loss, real_out, fake_out

    return dict(CNNModel=CNNModel, Sampler=Sampler, generate_samples=generate_samples,
                training_step=training_step)


def _noise_replayer(lib, draws):
    """`noise.normal_(0, 0.005)` replaced by the next of `draws` (host arrays), copied in place."""
    it = iter(draws)

    def draw(noise):
        with lib.no_grad():
            noise.copy_(lib.tensor(next(it), dtype=noise.dtype))

    return draw


def test_ebm_langevin_and_training_match_torch():
    progs = {lib: ebm_program(lib) for lib in (mg, torch)}
    ours, theirs = _twin(lambda lib: progs[lib]["CNNModel"](hidden_features=4))
    assert ours(mg.zeros(2, 1, 16, 16, dtype=mg.float64)).shape == (2,)
    B, shape, steps = 3, (1, 16, 16), 3  # 16x16 (the notebook: 28x28) also ends at 2x2
    host = np.random.default_rng(0)
    noises = [0.005 * host.standard_normal((B,) + shape) for _ in range(steps * 4)]
    reals = [host.random((B,) + shape) * 2 - 1 for _ in range(steps)]
    small = [0.005 * host.standard_normal((B,) + shape) for _ in range(steps)]
    runs = {}
    for lib, model in ((mg, ours), (torch, theirs)):
        prog = progs[lib]
        sampler = prog["Sampler"](model, shape, sample_size=B, max_len=5,
                                  host=(np.random.default_rng(1), random.Random(2), lib.float64))
        opt = lib.optim.Adam(model.parameters(), lr=1e-2, betas=(0.0, 0.999))
        sched = lib.optim.lr_scheduler.StepLR(opt, 1, gamma=0.97)
        draw = _noise_replayer(lib, noises)
        out = []
        for i in range(steps):
            real = lib.tensor(reals[i])
            res = prog["training_step"](model, sampler, opt, real, lib.tensor(small[i]), draw_noise=draw)
            sched.step()
            out.append((res, real))
            assert all(p.requires_grad for p in model.parameters()) and model.training
        assert lib.is_grad_enabled()
        runs[lib] = (out, sampler)
    for i, ((r_mg, real_mg), (r_t, real_t)) in enumerate(zip(runs[mg][0], runs[torch][0])):
        _close(f"step {i}: real images after add_/clamp_", real_mg, real_t)
        for name, a, b in zip(("loss", "reg_loss", "cdiv_loss", "real_out", "fake_out"), r_mg, r_t):
            _close(f"step {i}: {name}", a, b)
    _compare_params(ours, theirs, "EBM after 3 steps", grads=True)
    ex_mg, ex_t = runs[mg][1].examples, runs[torch][1].examples
    assert len(ex_mg) == len(ex_t) == 5
    for k, (a, b) in enumerate(zip(ex_mg, ex_t)):
        _close(f"replay buffer entry {k}", a, b)


def test_ebm_generate_samples_with_library_noise_runs_in_float32():
    """The sampler as written (`noise.normal_(0, 0.005)` drawn by minigrad), in float32, with the per-step
    images: dtype, range, and that Langevin steps lower the energy of the samples on average."""
    prog = ebm_program(mg)
    mg.manual_seed(0)
    model = prog["CNNModel"](hidden_features=4)
    model.train()
    imgs = mg.rand(4, 1, 28, 28) * 2 - 1
    with mg.no_grad():
        e0 = -model(imgs)
    steps = prog["generate_samples"](model, imgs.detach(), steps=6, step_size=10, return_img_per_step=True)
    assert steps.shape == (6, 4, 1, 28, 28) and steps.dtype == mg.float32
    assert float(steps.abs().max()) <= 1.0
    assert model.training and all(p.requires_grad for p in model.parameters())
    with mg.no_grad():
        e1 = -model(steps[-1])
    assert float(e1.mean()) < float(e0.mean())  # the samples moved downhill in energy (= up in -E)
    # a gradient-free caller gets its grad mode back
    with mg.no_grad():
        prog["generate_samples"](model, imgs.detach(), steps=1)
        assert not mg.is_grad_enabled()


def test_ebm_unported_data_lines_fail_as_documented():
    """The notebook's `.data` methods meet NumPy's AttributeError in minigrad (README: Tensor.data is the raw
    array); this pins what a porter sees so a change is noticed."""
    x = mg.zeros(2, 3)
    x.requires_grad = True
    noise = mg.randn(2, 3)
    with pytest.raises(AttributeError, match="add_"):
        x.data.add_(noise.data)
    with pytest.raises(AttributeError, match="clamp_"):
        x.data.clamp_(min=-1.0, max=1.0)


def test_requires_grad_assignment_is_checked_as_torch():
    """The sampler's `p.requires_grad = False` / `inp_imgs.requires_grad = True` idiom, misapplied: torch's
    attribute setter refuses a non-leaf (the assignment would silently cut the graph) and an integer tensor
    (it would get an integer .grad); minigrad's setter checks what requires_grad_() checks (its integer refusal
    is a TypeError, as everywhere in minigrad)."""
    for make, val, err in ((lambda lib: lib.randn(2, requires_grad=True) * 2, False, RuntimeError),
                           (lambda lib: lib.zeros(3, dtype=lib.int64), True, TypeError)):
        with pytest.raises(RuntimeError):
            make(torch).requires_grad = val
        t = make(mg)
        with pytest.raises(err, match="requires_grad"):
            t.requires_grad = val
    # a non-leaf refuses True as well (the method requires_grad_(True) is allowed on it, in both)
    with pytest.raises(RuntimeError, match="leaf"):
        (mg.randn(2, requires_grad=True) * 2).requires_grad = True
    # what both allow: a leaf stops requiring grad; a fresh leaf starts
    for lib in (torch, mg):
        x = lib.randn(2, requires_grad=True)
        x.requires_grad = False
        assert not x.requires_grad
        z = lib.zeros(2)
        z.requires_grad = True
        (z * 3).sum().backward()
        assert z.grad.tolist() == [3.0, 3.0]


# ================================================================ 2. tutorial 9: autoencoders
def autoencoder_program(lib):
    torch_, nn, F = lib, lib.nn, lib.nn.functional

    class Encoder(nn.Module):
        def __init__(self, num_input_channels, base_channel_size, latent_dim, act_fn=nn.GELU):
            super().__init__()
            c_hid = base_channel_size
            self.net = nn.Sequential(
                nn.Conv2d(num_input_channels, c_hid, kernel_size=3, padding=1, stride=2),  # 32x32 => 16x16
                act_fn(),
                nn.Conv2d(c_hid, c_hid, kernel_size=3, padding=1),
                act_fn(),
                nn.Conv2d(c_hid, 2 * c_hid, kernel_size=3, padding=1, stride=2),  # 16x16 => 8x8
                act_fn(),
                nn.Conv2d(2 * c_hid, 2 * c_hid, kernel_size=3, padding=1),
                act_fn(),
                nn.Conv2d(2 * c_hid, 2 * c_hid, kernel_size=3, padding=1, stride=2),  # 8x8 => 4x4
                act_fn(),
                nn.Flatten(),
                nn.Linear(2 * 16 * c_hid, latent_dim))

        def forward(self, x):
            return self.net(x)

    class Decoder(nn.Module):
        def __init__(self, num_input_channels, base_channel_size, latent_dim, act_fn=nn.GELU):
            super().__init__()
            c_hid = base_channel_size
            self.linear = nn.Sequential(nn.Linear(latent_dim, 2 * 16 * c_hid), act_fn())
            self.net = nn.Sequential(
                nn.ConvTranspose2d(2 * c_hid, 2 * c_hid, kernel_size=3, output_padding=1, padding=1, stride=2),
                act_fn(),
                nn.Conv2d(2 * c_hid, 2 * c_hid, kernel_size=3, padding=1),
                act_fn(),
                nn.ConvTranspose2d(2 * c_hid, c_hid, kernel_size=3, output_padding=1, padding=1, stride=2),
                act_fn(),
                nn.Conv2d(c_hid, c_hid, kernel_size=3, padding=1),
                act_fn(),
                nn.ConvTranspose2d(c_hid, num_input_channels, kernel_size=3, output_padding=1, padding=1,
                                   stride=2),
                nn.Tanh())

        def forward(self, x):
            x = self.linear(x)
            x = x.reshape(x.shape[0], -1, 4, 4)
            return self.net(x)

    class Autoencoder(nn.Module):
        def __init__(self, base_channel_size, latent_dim, encoder_class=Encoder, decoder_class=Decoder,
                     num_input_channels=3, width=32, height=32):
            super().__init__()
            self.encoder = encoder_class(num_input_channels, base_channel_size, latent_dim)
            self.decoder = decoder_class(num_input_channels, base_channel_size, latent_dim)
            self.example_input_array = torch_.zeros(2, num_input_channels, width, height)

        def forward(self, x):
            return self.decoder(self.encoder(x))

        def _get_reconstruction_loss(self, batch):
            x, _ = batch
            x_hat = self.forward(x)
            loss = F.mse_loss(x, x_hat, reduction="none")
            loss = loss.sum(dim=[1, 2, 3]).mean(dim=[0])
            return loss

    def embed_imgs(model, batches):
        img_list, embed_list = [], []
        model.eval()
        for imgs, _ in batches:
            with torch_.no_grad():
                z = model.encoder(imgs)
            img_list.append(imgs)
            embed_list.append(z)
        return torch_.cat(img_list, dim=0), torch_.cat(embed_list, dim=0)

    def find_similar_images(query_z, key_embeds, K=3):
        dist = torch_.cdist(query_z[None, :], key_embeds[1], p=2)
        dist = dist.squeeze(dim=0)
        dist, indices = torch_.sort(dist)
        return dist[:K], indices[:K]

    return dict(Autoencoder=Autoencoder, embed_imgs=embed_imgs, find_similar_images=find_similar_images)


def test_autoencoder_training_with_plateau_schedule_matches_torch():
    progs = {lib: autoencoder_program(lib) for lib in (mg, torch)}
    ours, theirs = _twin(lambda lib: progs[lib]["Autoencoder"](base_channel_size=2, latent_dim=4))
    host = np.random.default_rng(3)
    train = [host.random((2, 3, 32, 32)) * 2 - 1 for _ in range(2)]
    val = host.random((2, 3, 32, 32)) * 2 - 1
    runs = {}
    for lib, model in ((mg, ours), (torch, theirs)):
        opt = lib.optim.Adam(model.parameters(), lr=1e-3)
        sched = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.2, patience=0, min_lr=5e-5)
        losses, lrs, val_losses = [], [], []
        for epoch in range(3):
            model.train()
            for x in train:
                loss = model._get_reconstruction_loss((lib.tensor(x), None))
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss)
            model.eval()
            with lib.no_grad():
                # a constant validation loss after the first epoch makes the plateau logic cut the lr
                v = model._get_reconstruction_loss((lib.tensor(val), None)) if epoch == 0 else val_losses[0]
            val_losses.append(v)
            sched.step(v)
            lrs.append(opt.param_groups[0]["lr"])
        recon = model(lib.tensor(val))
        imgs, embeds = progs[lib]["embed_imgs"](model, [(lib.tensor(x), None) for x in train])
        dist, idx = progs[lib]["find_similar_images"](embeds[0], (imgs, embeds), K=3)
        grid = lib.stack([lib.tensor(val), recon], dim=1).flatten(0, 1)
        runs[lib] = (losses, lrs, recon, embeds, dist, idx, grid, model.example_input_array)
    r_mg, r_t = runs[mg], runs[torch]
    for i, (a, b) in enumerate(zip(r_mg[0], r_t[0])):
        _close(f"reconstruction loss {i}", a, b)
    assert r_mg[1] == r_t[1] and r_t[1][-1] < 1e-3, (r_mg[1], r_t[1])  # the lr was cut, the same way
    _compare_params(ours, theirs, "autoencoder after training", grads=True)
    for name, a, b in zip(("reconstruction", "embeddings", "cdist", "sort indices", "image grid"),
                          r_mg[2:7], r_t[2:7]):
        _close(name, a, b)
    assert r_mg[2].shape == (2, 3, 32, 32)
    assert r_mg[7].dtype == mg.float32 and r_mg[7].shape == (2, 3, 32, 32)


# ================================================================ 3. tutorial 11: normalizing flows
def flow_program(lib, dtype, rand_like=None):
    """The notebook's flow layers. `dtype` stands for the notebook's `torch.float32` in `z.to(torch.float32)`
    (float64 for the parity runs); `rand_like` replays the dequantization noise from the host."""
    torch_, nn, F = lib, lib.nn, lib.nn.functional
    rand_like = rand_like or torch_.rand_like

    class ImageFlow(nn.Module):
        def __init__(self, flows, import_samples=8):
            super().__init__()
            self.flows = nn.ModuleList(flows)
            self.import_samples = import_samples
            self.prior = torch_.distributions.normal.Normal(loc=0.0, scale=1.0)

        def forward(self, imgs):
            return self._get_likelihood(imgs)

        def encode(self, imgs):
            z, ldj = imgs, torch_.zeros(imgs.shape[0], dtype=dtype, device=imgs.device)  # notebook: self.device
            for flow in self.flows:
                z, ldj = flow(z, ldj, reverse=False)
            return z, ldj

        def _get_likelihood(self, imgs, return_ll=False):
            z, ldj = self.encode(imgs)
            log_pz = self.prior.log_prob(z).sum(dim=[1, 2, 3])
            log_px = ldj + log_pz
            nll = -log_px
            bpd = nll * np.log2(np.exp(1)) / np.prod(imgs.shape[1:])
            return bpd.mean() if not return_ll else log_px

        @torch_.no_grad()
        def sample(self, img_shape, z_init=None):
            z = self.prior.sample(sample_shape=img_shape).to(dtype) if z_init is None else z_init
            ldj = torch_.zeros(img_shape[0], dtype=dtype, device=z.device)
            for flow in reversed(self.flows):
                z, ldj = flow(z, ldj, reverse=True)
            return z

        def test_bpd(self, imgs):
            samples = []
            for _ in range(self.import_samples):
                img_ll = self._get_likelihood(imgs, return_ll=True)
                samples.append(img_ll)
            img_ll = torch_.stack(samples, dim=-1)
            img_ll = torch_.logsumexp(img_ll, dim=-1) - np.log(self.import_samples)
            bpd = -img_ll * np.log2(np.exp(1)) / np.prod(imgs.shape[1:])
            return bpd.mean()

    class Dequantization(nn.Module):
        def __init__(self, alpha=1e-5, quants=256):
            super().__init__()
            self.alpha, self.quants = alpha, quants

        def forward(self, z, ldj, reverse=False):
            if not reverse:
                z, ldj = self.dequant(z, ldj)
                z, ldj = self.sigmoid(z, ldj, reverse=True)
            else:
                z, ldj = self.sigmoid(z, ldj, reverse=False)
                z = z * self.quants
                ldj += np.log(self.quants) * np.prod(z.shape[1:])
                z = torch_.floor(z).clamp(min=0, max=self.quants - 1).to(torch_.int32)
            return z, ldj

        def sigmoid(self, z, ldj, reverse=False):
            if not reverse:
                ldj += (-z - 2 * F.softplus(-z)).sum(dim=[1, 2, 3])
                z = torch_.sigmoid(z)
            else:
                z = z * (1 - self.alpha) + 0.5 * self.alpha  # keep away from 0 and 1
                ldj += np.log(1 - self.alpha) * np.prod(z.shape[1:])
                ldj += (-torch_.log(z) - torch_.log(1 - z)).sum(dim=[1, 2, 3])
                z = torch_.log(z) - torch_.log(1 - z)
            return z, ldj

        def dequant(self, z, ldj):
            z = z.to(dtype)
            z = z + rand_like(z).detach()
            z = z / self.quants
            ldj -= np.log(self.quants) * np.prod(z.shape[1:])
            return z, ldj

    class VariationalDequantization(Dequantization):
        def __init__(self, var_flows, alpha=1e-5):
            super().__init__(alpha=alpha)
            self.flows = nn.ModuleList(var_flows)

        def dequant(self, z, ldj):
            z = z.to(dtype)
            img = (z / 255.0) * 2 - 1  # the flows are conditioned on the original image
            deq_noise = rand_like(z).detach()
            deq_noise, ldj = self.sigmoid(deq_noise, ldj, reverse=True)
            for flow in self.flows:
                deq_noise, ldj = flow(deq_noise, ldj, reverse=False, orig_img=img)
            deq_noise, ldj = self.sigmoid(deq_noise, ldj, reverse=False)
            z = (z + deq_noise) / 256.0
            ldj -= np.log(256.0) * np.prod(z.shape[1:])
            return z, ldj

    class CouplingLayer(nn.Module):
        def __init__(self, network, mask, c_in):
            super().__init__()
            self.network = network
            self.scaling_factor = nn.Parameter(torch_.zeros(c_in))
            self.register_buffer("mask", mask)

        def forward(self, z, ldj, reverse=False, orig_img=None):
            z_in = z * self.mask
            if orig_img is None:
                nn_out = self.network(z_in)
            else:
                nn_out = self.network(torch_.cat([z_in, orig_img], dim=1))
            s, t = nn_out.chunk(2, dim=1)
            s_fac = self.scaling_factor.exp().view(1, -1, 1, 1)
            s = torch_.tanh(s / s_fac) * s_fac
            s = s * (1 - self.mask)
            t = t * (1 - self.mask)
            if not reverse:
                z = (z + t) * torch_.exp(s)
                ldj += s.sum(dim=[1, 2, 3])
            else:
                z = (z * torch_.exp(-s)) - t
                ldj -= s.sum(dim=[1, 2, 3])
            return z, ldj

    def create_checkerboard_mask(h, w, invert=False):
        x, y = torch_.arange(h, dtype=torch_.int32), torch_.arange(w, dtype=torch_.int32)
        xx, yy = torch_.meshgrid(x, y, indexing="ij")
        mask = torch_.fmod(xx + yy, 2)
        mask = mask.to(torch_.float32).view(1, 1, h, w)
        if invert:
            mask = 1 - mask
        return mask

    def create_channel_mask(c_in, invert=False):
        mask = torch_.cat([torch_.ones(c_in // 2, dtype=torch_.float32),
                           torch_.zeros(c_in - c_in // 2, dtype=torch_.float32)])
        mask = mask.view(1, c_in, 1, 1)
        if invert:
            mask = 1 - mask
        return mask

    class ConcatELU(nn.Module):
        def forward(self, x):
            return torch_.cat([F.elu(x), F.elu(-x)], dim=1)

    class LayerNormChannels(nn.Module):
        def __init__(self, c_in, eps=1e-5):
            super().__init__()
            self.gamma = nn.Parameter(torch_.ones(1, c_in, 1, 1))
            self.beta = nn.Parameter(torch_.zeros(1, c_in, 1, 1))
            self.eps = eps

        def forward(self, x):
            mean = x.mean(dim=1, keepdim=True)
            var = x.var(dim=1, unbiased=False, keepdim=True)
            y = (x - mean) / torch_.sqrt(var + self.eps)
            return y * self.gamma + self.beta

    class GatedConv(nn.Module):
        def __init__(self, c_in, c_hidden):
            super().__init__()
            self.net = nn.Sequential(ConcatELU(), nn.Conv2d(2 * c_in, c_hidden, kernel_size=3, padding=1),
                                     ConcatELU(), nn.Conv2d(2 * c_hidden, 2 * c_in, kernel_size=1))

        def forward(self, x):
            out = self.net(x)
            val, gate = out.chunk(2, dim=1)
            return x + val * torch_.sigmoid(gate)

    class GatedConvNet(nn.Module):
        def __init__(self, c_in, c_hidden=32, c_out=-1, num_layers=3):
            super().__init__()
            c_out = c_out if c_out > 0 else 2 * c_in
            layers = [nn.Conv2d(c_in, c_hidden, kernel_size=3, padding=1)]
            for _ in range(num_layers):
                layers += [GatedConv(c_hidden, c_hidden), LayerNormChannels(c_hidden)]
            layers += [ConcatELU(), nn.Conv2d(2 * c_hidden, c_out, kernel_size=3, padding=1)]
            self.nn = nn.Sequential(*layers)
            nn.init.zeros_(self.nn[-1].weight)  # torch: self.nn[-1].weight.data.zero_()
            nn.init.zeros_(self.nn[-1].bias)

        def forward(self, x):
            return self.nn(x)

    class SqueezeFlow(nn.Module):
        def forward(self, z, ldj, reverse=False):
            B, C, H, W = z.shape
            if not reverse:
                z = z.reshape(B, C, H // 2, 2, W // 2, 2)
                z = z.permute(0, 1, 3, 5, 2, 4)
                z = z.reshape(B, 4 * C, H // 2, W // 2)
            else:
                z = z.reshape(B, C // 4, 2, 2, H, W)
                z = z.permute(0, 1, 4, 2, 5, 3)
                z = z.reshape(B, C // 4, H * 2, W * 2)
            return z, ldj

    class SplitFlow(nn.Module):
        def __init__(self):
            super().__init__()
            self.prior = torch_.distributions.normal.Normal(loc=0.0, scale=1.0)

        def forward(self, z, ldj, reverse=False):
            if not reverse:
                z, z_split = z.chunk(2, dim=1)
                ldj += self.prior.log_prob(z_split).sum(dim=[1, 2, 3])
            else:
                z_split = self.prior.sample(sample_shape=z.shape).to(device=z.device, dtype=z.dtype)
                z = torch_.cat([z, z_split], dim=1)
                ldj -= self.prior.log_prob(z_split).sum(dim=[1, 2, 3])
            return z, ldj

    def create_multiscale_flow(h=4, w=4, hid=4, num_layers=1):
        flow_layers = []
        vardeq_layers = [CouplingLayer(network=GatedConvNet(c_in=2, c_out=2, c_hidden=hid, num_layers=num_layers),
                                       mask=create_checkerboard_mask(h=h, w=w, invert=(i % 2 == 1)), c_in=1)
                         for i in range(2)]
        flow_layers += [VariationalDequantization(vardeq_layers)]
        flow_layers += [CouplingLayer(network=GatedConvNet(c_in=1, c_hidden=hid, num_layers=num_layers),
                                      mask=create_checkerboard_mask(h=h, w=w, invert=(i % 2 == 1)), c_in=1)
                        for i in range(2)]
        flow_layers += [SqueezeFlow()]
        for i in range(2):
            flow_layers += [CouplingLayer(network=GatedConvNet(c_in=4, c_hidden=hid, num_layers=num_layers),
                                          mask=create_channel_mask(c_in=4, invert=(i % 2 == 1)), c_in=4)]
        flow_layers += [SplitFlow(), SqueezeFlow()]
        for i in range(2):
            flow_layers += [CouplingLayer(network=GatedConvNet(c_in=8, c_hidden=hid, num_layers=num_layers),
                                          mask=create_channel_mask(c_in=8, invert=(i % 2 == 1)), c_in=8)]
        return ImageFlow(flow_layers, import_samples=2)

    return dict(create_multiscale_flow=create_multiscale_flow, Dequantization=Dequantization,
                CouplingLayer=CouplingLayer, GatedConvNet=GatedConvNet, SqueezeFlow=SqueezeFlow,
                create_checkerboard_mask=create_checkerboard_mask, create_channel_mask=create_channel_mask)


def _host_rand_like(lib, rng_seed):
    """`torch.rand_like(z)` replayed from a host generator (the same numbers in both libraries)."""
    rng = np.random.default_rng(rng_seed)
    return lambda z: lib.tensor(rng.random(tuple(z.shape)), dtype=z.dtype)


def test_flow_masks_match_torch():
    progs = {lib: flow_program(lib, lib.float64) for lib in (mg, torch)}
    for inv in (False, True):
        a, b = (progs[lib]["create_checkerboard_mask"](3, 4, invert=inv) for lib in (mg, torch))
        _close(f"checkerboard mask invert={inv}", a, b)
        a, b = (progs[lib]["create_channel_mask"](5, invert=inv) for lib in (mg, torch))
        _close(f"channel mask invert={inv}", a, b)


def test_flow_training_likelihood_and_sampling_match_torch():
    progs = {lib: flow_program(lib, lib.float64, _host_rand_like(lib, 7)) for lib in (mg, torch)}
    ours, theirs = _twin(lambda lib: progs[lib]["create_multiscale_flow"](), seed=1, perturb=0.1)
    assert len(list(ours.buffers())) == len(list(theirs.buffers())) == 8
    assert all(b.dtype == mg.float64 for b in ours.buffers())  # .double() converts the mask buffers too
    host = np.random.default_rng(4)
    batches = [host.integers(0, 256, (2, 1, 4, 4)) for _ in range(3)]
    runs = {}
    for lib, model in ((mg, ours), (torch, theirs)):
        opt = lib.optim.Adam(model.parameters(), lr=1e-3)
        sched = lib.optim.lr_scheduler.StepLR(opt, 1, gamma=0.99)
        losses = []
        for imgs in batches:
            loss = model._get_likelihood(lib.tensor(imgs))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss)
        model.eval()
        with lib.no_grad():
            test_bpd = model.test_bpd(lib.tensor(batches[0]))
            z, ldj = model.encode(lib.tensor(batches[1]))
        runs[lib] = (losses, test_bpd, z, ldj)
    for i, (a, b) in enumerate(zip(runs[mg][0], runs[torch][0])):
        _close(f"bits per dim, step {i}", a, b)
    for name, a, b in zip(("importance-sampled test bpd", "latent z", "ldj"), runs[mg][1:], runs[torch][1:]):
        _close(name, a, b)
    _compare_params(ours, theirs, "flow after 3 steps", grads=True)
    assert float(runs[mg][0][0]) > 0 and runs[mg][2].shape == (2, 8, 1, 1)

    # sampling in reverse, the SplitFlow's draw shared: start both from the same latent, give the split
    # layer a prior whose sample() is a fixed tensor
    z_init = host.standard_normal((2, 8, 1, 1))
    z_split = host.standard_normal((2, 2, 2, 2))
    samples = {}
    for lib, model in ((mg, ours), (torch, theirs)):
        split = next(m for m in model.flows if type(m).__name__ == "SplitFlow")
        real_prior = split.prior

        class FixedPrior:
            def sample(self, sample_shape):
                assert tuple(sample_shape) == z_split.shape
                return lib.tensor(z_split)

            log_prob = staticmethod(real_prior.log_prob)

        split.prior = FixedPrior()
        samples[lib] = model.sample((2, 8, 1, 1), z_init=lib.tensor(z_init))
        split.prior = real_prior
    assert samples[mg].dtype == mg.int32 and samples[mg].shape == (2, 1, 4, 4)
    _close("samples (reverse pass)", samples[mg], samples[torch])

    # and the sampler as written, minigrad drawing from its own prior
    mg.manual_seed(0)
    imgs = ours.sample((3, 8, 1, 1))
    assert imgs.dtype == mg.int32 and imgs.shape == (3, 1, 4, 4)
    assert 0 <= int(imgs.min()) and int(imgs.max()) <= 255


def test_flow_layers_invert_and_ldj_float32():
    """Each invertible layer undone by its reverse pass (ldj back to zero), in float32 with the notebook's
    own `np.log(...) * np.prod(...)` NumPy float64 scalars: float32 stays float32 (as in torch)."""
    prog = flow_program(mg, mg.float32)
    mg.manual_seed(0)
    Coupling, Net = prog["CouplingLayer"], prog["GatedConvNet"]
    layers = [Coupling(Net(c_in=2, c_hidden=4, num_layers=1), prog["create_checkerboard_mask"](4, 4), c_in=2),
              prog["SqueezeFlow"](),
              Coupling(Net(c_in=8, c_hidden=4, num_layers=1), prog["create_channel_mask"](8, invert=True), c_in=8)]
    for layer in layers:  # non-zero last layer so the couplings do something
        for p in layer.parameters():
            with mg.no_grad():
                p.add_(0.1 * mg.randn(*p.shape))
    z0 = mg.randn(2, 2, 4, 4)
    z, ldj = z0, mg.zeros(2)
    for layer in layers:
        z, ldj = layer(z, ldj)
    assert z.dtype == ldj.dtype == mg.float32 and float(ldj.abs().max()) > 0
    for layer in reversed(layers):
        z, ldj = layer(z, ldj, reverse=True)
    np.testing.assert_allclose(z.numpy(), z0.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ldj.numpy(), 0.0, atol=1e-5)
    # the dequantization round trip, NumPy scalars in the ldj included
    deq = prog["Dequantization"]()
    imgs = mg.randint(0, 256, (2, 1, 4, 4))
    z, ldj = deq(imgs, mg.zeros(2))
    assert z.dtype == ldj.dtype == mg.float32
    back, ldj2 = deq(z, ldj, reverse=True)
    assert back.dtype == mg.int32 and ldj2.dtype == mg.float32
    assert (back.numpy() == imgs.numpy()).all()
    bpd = -ldj * np.log2(np.exp(1)) / np.prod(imgs.shape[1:])
    assert bpd.dtype == mg.float32


# ================================================================ 4. tutorial 12: PixelCNN
def pixelcnn_program(lib, dtype):
    """`dtype` stands for the notebook's `x.float()` (float64 for the parity runs)."""
    torch_, nn, F = lib, lib.nn, lib.nn.functional

    class MaskedConvolution(nn.Module):
        def __init__(self, c_in, c_out, mask, **kwargs):
            super().__init__()
            kernel_size = (mask.shape[0], mask.shape[1])
            dilation = 1 if "dilation" not in kwargs else kwargs["dilation"]
            padding = tuple([dilation * (kernel_size[i] - 1) // 2 for i in range(2)])
            self.conv = nn.Conv2d(c_in, c_out, kernel_size, padding=padding, **kwargs)
            self.register_buffer("mask", mask[None, None])

        def forward(self, x):
            self.conv.weight.data *= self.mask.data  # torch: self.conv.weight.data *= self.mask
            return self.conv(x)

    class VerticalStackConvolution(MaskedConvolution):
        def __init__(self, c_in, c_out, kernel_size=3, mask_center=False, **kwargs):
            mask = torch_.ones(kernel_size, kernel_size)
            mask[kernel_size // 2 + 1:, :] = 0
            if mask_center:
                mask[kernel_size // 2, :] = 0
            super().__init__(c_in, c_out, mask, **kwargs)

    class HorizontalStackConvolution(MaskedConvolution):
        def __init__(self, c_in, c_out, kernel_size=3, mask_center=False, **kwargs):
            mask = torch_.ones(1, kernel_size)
            mask[0, kernel_size // 2 + 1:] = 0
            if mask_center:
                mask[0, kernel_size // 2] = 0
            super().__init__(c_in, c_out, mask, **kwargs)

    class GatedMaskedConv(nn.Module):
        def __init__(self, c_in, **kwargs):
            super().__init__()
            self.conv_vert = VerticalStackConvolution(c_in, c_out=2 * c_in, **kwargs)
            self.conv_horiz = HorizontalStackConvolution(c_in, c_out=2 * c_in, **kwargs)
            self.conv_vert_to_horiz = nn.Conv2d(2 * c_in, 2 * c_in, kernel_size=1, padding=0)
            self.conv_horiz_1x1 = nn.Conv2d(c_in, c_in, kernel_size=1, padding=0)

        def forward(self, v_stack, h_stack):
            v_stack_feat = self.conv_vert(v_stack)
            v_val, v_gate = v_stack_feat.chunk(2, dim=1)
            v_stack_out = torch_.tanh(v_val) * torch_.sigmoid(v_gate)
            h_stack_feat = self.conv_horiz(h_stack)
            h_stack_feat = h_stack_feat + self.conv_vert_to_horiz(v_stack_feat)
            h_val, h_gate = h_stack_feat.chunk(2, dim=1)
            h_stack_feat = torch_.tanh(h_val) * torch_.sigmoid(h_gate)
            h_stack_out = self.conv_horiz_1x1(h_stack_feat)
            h_stack_out = h_stack_out + h_stack
            return v_stack_out, h_stack_out

    class PixelCNN(nn.Module):
        def __init__(self, c_in, c_hidden):
            super().__init__()
            self.conv_vstack = VerticalStackConvolution(c_in, c_hidden, mask_center=True)
            self.conv_hstack = HorizontalStackConvolution(c_in, c_hidden, mask_center=True)
            self.layers = nn.ModuleList([GatedMaskedConv(c_hidden), GatedMaskedConv(c_hidden, dilation=2),
                                         GatedMaskedConv(c_hidden), GatedMaskedConv(c_hidden, dilation=4),
                                         GatedMaskedConv(c_hidden)])
            self.conv_out = nn.Conv2d(c_hidden, c_in * 256, kernel_size=1, padding=0)

        def forward(self, x):
            x = (x.to(dtype) / 255.0) * 2 - 1
            v_stack = self.conv_vstack(x)
            h_stack = self.conv_hstack(x)
            for layer in self.layers:
                v_stack, h_stack = layer(v_stack, h_stack)
            out = self.conv_out(F.elu(h_stack))
            out = out.reshape(out.shape[0], 256, out.shape[1] // 256, out.shape[2], out.shape[3])
            return out

        def calc_likelihood(self, x):
            pred = self.forward(x)
            if lib is torch:
                nll = F.cross_entropy(pred, x, reduction="none")
            else:  # classes last (README): move torch's class dim 1 to the end
                nll = F.cross_entropy(pred.movedim(1, -1), x, reduction="none")
            bpd = nll.mean(dim=[1, 2, 3]) * np.log2(np.exp(1))
            return bpd.mean()

        @torch_.no_grad()
        def sample(self, img_shape, img=None, pick=None):
            """`pick(probs)` replaces `torch.multinomial(probs, num_samples=1)` for the deterministic runs."""
            if img is None:
                img = torch_.zeros(img_shape, dtype=torch_.long) - 1
            for h in range(img_shape[2]):
                for w in range(img_shape[3]):
                    for c in range(img_shape[1]):
                        if (img[:, c, h, w] != -1).all().item():
                            continue
                        pred = self.forward(img[:, :, :h + 1, :])
                        probs = F.softmax(pred[:, :, c, h, w], dim=-1)
                        draw = torch_.multinomial(probs, num_samples=1) if pick is None else pick(probs)
                        img[:, c, h, w] = draw.squeeze(dim=-1)
            return img

    return dict(PixelCNN=PixelCNN, HorizontalStackConvolution=HorizontalStackConvolution,
                VerticalStackConvolution=VerticalStackConvolution, GatedMaskedConv=GatedMaskedConv)


def test_pixelcnn_training_and_sampling_match_torch():
    progs = {lib: pixelcnn_program(lib, lib.float64) for lib in (mg, torch)}
    ours, theirs = _twin(lambda lib: progs[lib]["PixelCNN"](c_in=2, c_hidden=4), seed=2)
    host = np.random.default_rng(5)
    batches = [host.integers(0, 256, (2, 2, 5, 5)) for _ in range(3)]
    runs = {}
    for lib, model in ((mg, ours), (torch, theirs)):
        opt = lib.optim.Adam(model.parameters(), lr=1e-2)
        sched = lib.optim.lr_scheduler.StepLR(opt, 1, gamma=0.99)
        losses = []
        for x in batches:
            loss = model.calc_likelihood(lib.tensor(x))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss)
        model.eval()
        pred = model(lib.tensor(batches[0]))
        # greedy decoding stands in for multinomial: the same argmax in both libraries
        img = lib.zeros((2, 2, 3, 3), dtype=lib.long) - 1
        img[:, :, 0, 0] = 7  # a partly given image: the sampler skips known pixels
        greedy = model.sample((2, 2, 3, 3), img=img, pick=lambda p: p.argmax(dim=-1, keepdim=True))
        runs[lib] = (losses, pred, greedy)
    for i, (a, b) in enumerate(zip(runs[mg][0], runs[torch][0])):
        _close(f"bits per dim, step {i}", a, b)
    _close("logits", runs[mg][1], runs[torch][1])
    assert runs[mg][2].dtype == mg.int64 and (runs[mg][2][:, :, 0, 0] == 7).all().item()
    _close("greedy samples", runs[mg][2], runs[torch][2])
    _compare_params(ours, theirs, "PixelCNN after 3 steps", grads=True)
    # the masked weights stay masked after the optimizer moved them and forward ran again
    w = ours.conv_vstack.conv.weight.numpy()
    assert (w[:, :, 1:, :] == 0).all() and (w[:, :, :1, :] != 0).any()

    # the sampler as written: multinomial draws from minigrad's generator
    mg.manual_seed(0)
    imgs = ours.sample((2, 2, 3, 3))
    assert imgs.dtype == mg.int64 and imgs.shape == (2, 2, 3, 3)
    assert 0 <= int(imgs.min()) and int(imgs.max()) <= 255


def test_pixelcnn_receptive_field_probe_matches_torch():
    """The notebook's receptive-field pictures: input gradients of the centre pixel through stacked masked
    convolutions with all-ones weights (`conv.weight.data.fill_(1)` ported as `nn.init.ones_`)."""
    grads = {}
    for lib in (mg, torch):
        prog = pixelcnn_program(lib, lib.float32)
        nn = lib.nn
        inp_img = lib.zeros(1, 1, 11, 11)
        inp_img.requires_grad_()

        def show_center_recep_field(img, out):
            loss = out[0, :, img.shape[2] // 2, img.shape[3] // 2].sum()
            loss.backward(retain_graph=True)
            img_grads = img.grad.abs()
            img.grad.fill_(0)
            return (img_grads.squeeze() > 0).to(lib.int64)

        horiz_conv = prog["HorizontalStackConvolution"](c_in=1, c_out=1, kernel_size=3, mask_center=True)
        nn.init.ones_(horiz_conv.conv.weight)  # torch: horiz_conv.conv.weight.data.fill_(1)
        nn.init.zeros_(horiz_conv.conv.bias)
        horiz_img = horiz_conv(inp_img)
        first = show_center_recep_field(inp_img, horiz_img)
        vert_conv = prog["VerticalStackConvolution"](c_in=1, c_out=1, kernel_size=3, mask_center=True)
        nn.init.ones_(vert_conv.conv.weight)
        nn.init.zeros_(vert_conv.conv.bias)
        vert_img = vert_conv(inp_img)
        second = show_center_recep_field(inp_img, vert_img)
        # stacking: v = vert(v); h = horiz(h) + v, four more layers, with unmasked centres
        horiz_noc = prog["HorizontalStackConvolution"](c_in=1, c_out=1, kernel_size=3, mask_center=False)
        vert_noc = prog["VerticalStackConvolution"](c_in=1, c_out=1, kernel_size=3, mask_center=False)
        for m in (horiz_noc, vert_noc):
            nn.init.ones_(m.conv.weight)
            nn.init.zeros_(m.conv.bias)
        layers = []
        # each layer's picture: backward(retain_graph=True) through the shared, growing graph again. minigrad's
        # GraphGrowthWarning (meant for RNN states carried without detach()) fires on this legitimate probe: a
        # known false positive of its heuristic (a deeper graph each time, through the same old nodes)
        growth = pytest.warns(mg.autograd.GraphGrowthWarning) if lib is mg else contextlib.nullcontext()
        with growth:
            for _ in range(4):
                vert_img = vert_noc(vert_img)
                horiz_img = horiz_noc(horiz_img) + vert_img
                layers.append(show_center_recep_field(inp_img, horiz_img))
        assert float(inp_img.grad.abs().sum()) == 0.0
        grads[lib] = (first, second, *layers)
    names = ("horizontal", "vertical", "layer 2", "layer 3", "layer 4", "layer 5")
    for name, a, b in zip(names, grads[mg], grads[torch], strict=True):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b), err_msg=name)
    sizes = [int(g.sum()) for g in grads[mg]]
    assert sizes[5] > sizes[4] > sizes[3] > sizes[2] > sizes[0] > 0, sizes


def test_pixelcnn_torch_layout_cross_entropy_is_refused_clearly():
    """torch's `F.cross_entropy(pred, x)` with (N, 256, C, H, W) logits: refused (classes are last here), and
    the message names both shapes and the port."""
    pred, x = mg.randn(2, 256, 1, 5, 5), mg.randint(0, 256, (2, 1, 5, 5))
    with pytest.raises(ValueError, match=r"class dimension is last.*\[2, 256, 1, 5, 5\].*\[2, 1, 5, 5\]") as e:
        mg.nn.functional.cross_entropy(pred, x, reduction="none")
    assert "movedim(1, -1)" in str(e.value)
    # the port gives torch's numbers
    ours = mg.nn.functional.cross_entropy(pred.movedim(1, -1), x, reduction="none")
    theirs = torch.nn.functional.cross_entropy(torch.tensor(pred.numpy()), torch.tensor(x.numpy()),
                                               reduction="none")
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)
    # nn.CrossEntropyLoss and nll_loss say the same; a mismatch that is not torch's layout gets no such hint
    with pytest.raises(ValueError, match=r"movedim\(1, -1\)"):
        mg.nn.CrossEntropyLoss()(pred, x)
    with pytest.raises(ValueError, match=r"nll_loss: .*movedim\(1, -1\)"):
        mg.nn.functional.nll_loss(pred.log_softmax(dim=1), x)
    with pytest.raises(ValueError, match="class dimension is last") as e:
        mg.nn.functional.cross_entropy(mg.randn(2, 3, 4), mg.randint(0, 4, (2, 4, 1)))
    assert "movedim" not in str(e.value)


# ================================================================ 5. tutorial 17: SimCLR's InfoNCE loss
def simclr_program(lib):
    torch_, nn, F = lib, lib.nn, lib.nn.functional

    class TinyConvNet(nn.Module):  # stands in for torchvision's resnet18(num_classes=4 * hidden_dim)
        def __init__(self, num_classes):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True),
                                          nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.fc = nn.Linear(4, num_classes)

        def forward(self, x):
            return self.fc(self.features(x))

    class SimCLR(nn.Module):
        def __init__(self, hidden_dim, lr, temperature, weight_decay, max_epochs=500):
            super().__init__()
            self.hparams = dict(hidden_dim=hidden_dim, lr=lr, temperature=temperature,
                                weight_decay=weight_decay, max_epochs=max_epochs)
            assert temperature > 0.0, "The temperature must be a positive float!"
            self.convnet = TinyConvNet(num_classes=4 * hidden_dim)
            self.convnet.fc = nn.Sequential(self.convnet.fc, nn.ReLU(inplace=True),
                                            nn.Linear(4 * hidden_dim, hidden_dim))

        def configure_optimizers(self):
            optimizer = torch_.optim.AdamW(self.parameters(), lr=self.hparams["lr"],
                                           weight_decay=self.hparams["weight_decay"])
            lr_scheduler = torch_.optim.lr_scheduler.CosineAnnealingLR(
                optimizer, T_max=self.hparams["max_epochs"], eta_min=self.hparams["lr"] / 50)
            return optimizer, lr_scheduler

        def info_nce_loss(self, batch, mode="train"):
            imgs, _ = batch
            imgs = torch_.cat(imgs, dim=0)
            feats = self.convnet(imgs)
            cos_sim = F.cosine_similarity(feats[:, None, :], feats[None, :, :], dim=-1)
            self_mask = torch_.eye(cos_sim.shape[0], dtype=torch_.bool, device=cos_sim.device)
            cos_sim.masked_fill_(self_mask, -9e15)
            pos_mask = self_mask.roll(shifts=cos_sim.shape[0] // 2, dims=0)
            cos_sim = cos_sim / self.hparams["temperature"]
            nll = -cos_sim[pos_mask] + torch_.logsumexp(cos_sim, dim=-1)
            nll = nll.mean()
            comb_sim = torch_.cat([cos_sim[pos_mask][:, None], cos_sim.masked_fill(pos_mask, -9e15)], dim=-1)
            sim_argsort = comb_sim.argsort(dim=-1, descending=True).argmin(dim=-1)
            logs = {mode + "_loss": nll, mode + "_acc_top1": (sim_argsort == 0).float().mean(),
                    mode + "_acc_top5": (sim_argsort < 5).float().mean(),
                    mode + "_acc_mean_pos": 1 + sim_argsort.float().mean()}
            return nll, logs

    @torch_.no_grad()
    def prepare_data_features(model, loader):
        network = copy.deepcopy(model.convnet)
        network.fc = nn.Identity()
        network.eval()
        feats, labels = [], []
        for batch_imgs, batch_labels in loader:
            feats.append(network(batch_imgs).detach())
            labels.append(batch_labels)
        feats = torch_.cat(feats, dim=0)
        labels = torch_.cat(labels, dim=0)
        labels, idxs = labels.sort()
        feats = feats[idxs]
        return torch_.utils.data.TensorDataset(feats, labels)

    class LogisticRegression(nn.Module):
        def __init__(self, feature_dim, num_classes, lr, weight_decay, max_epochs=100):
            super().__init__()
            self.model = nn.Linear(feature_dim, num_classes)
            self.hparams = dict(lr=lr, weight_decay=weight_decay, max_epochs=max_epochs)

        def configure_optimizers(self):
            optimizer = torch_.optim.AdamW(self.parameters(), lr=self.hparams["lr"],
                                           weight_decay=self.hparams["weight_decay"])
            m = self.hparams["max_epochs"]
            lr_scheduler = torch_.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[int(m * 0.6), int(m * 0.8)],
                                                                 gamma=0.1)
            return optimizer, lr_scheduler

        def _calculate_loss(self, batch):
            feats, labels = batch
            preds = self.model(feats)
            loss = F.cross_entropy(preds, labels)
            acc = (preds.argmax(dim=-1) == labels).float().mean()
            return loss, acc

    return dict(SimCLR=SimCLR, prepare_data_features=prepare_data_features, LogisticRegression=LogisticRegression)


def test_simclr_info_nce_training_and_linear_probe_match_torch():
    progs = {lib: simclr_program(lib) for lib in (mg, torch)}
    ours, theirs = _twin(lambda lib: progs[lib]["SimCLR"](hidden_dim=3, lr=5e-3, temperature=0.07,
                                                          weight_decay=1e-4, max_epochs=4), seed=3)
    host = np.random.default_rng(6)
    views = [(host.standard_normal((4, 3, 6, 6)), host.standard_normal((4, 3, 6, 6))) for _ in range(3)]
    probe_x, probe_y = host.standard_normal((10, 3, 6, 6)), host.integers(0, 3, (10,))
    runs = {}
    for lib, model in ((mg, ours), (torch, theirs)):
        opt, sched = model.configure_optimizers()
        logs, lrs = [], []
        for v1, v2 in views:
            model.train()
            loss, log = model.info_nce_loss(([lib.tensor(v1), lib.tensor(v2)], None))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            logs.append(log)
            lrs.append(opt.param_groups[0]["lr"])
        model.eval()
        with lib.no_grad():
            _, val_log = model.info_nce_loss(([lib.tensor(views[0][1]), lib.tensor(views[0][0])], None), mode="val")
        # the linear probe on frozen features
        loader = lib.utils.data.DataLoader(lib.utils.data.TensorDataset(lib.tensor(probe_x), lib.tensor(probe_y)),
                                           batch_size=4, shuffle=False)
        feats_set = progs[lib]["prepare_data_features"](model, loader)
        lib.manual_seed(0)
        probe = progs[lib]["LogisticRegression"](feature_dim=4, num_classes=3, lr=1e-2, weight_decay=1e-3,
                                                 max_epochs=5)
        runs[lib] = (logs, lrs, val_log, feats_set, probe)
    ours_probe, theirs_probe = runs[mg][4].double(), runs[torch][4].double()
    ours_probe.load_state_dict(_weights(theirs_probe))
    for lib, probe in ((mg, ours_probe), (torch, theirs_probe)):
        opt, sched = probe.configure_optimizers()
        feats, labels = runs[lib][3].tensors
        out = []
        for epoch in range(5):
            loss, acc = probe._calculate_loss((feats[:6], labels[:6]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            out.append((loss, acc, opt.param_groups[0]["lr"]))
        runs[lib] = runs[lib] + (out,)
    for i, (a, b) in enumerate(zip(runs[mg][0], runs[torch][0])):
        assert a.keys() == b.keys()
        for k in a:
            _close(f"step {i}: {k}", a[k], b[k])
    np.testing.assert_allclose(runs[mg][1], runs[torch][1], rtol=1e-12)
    for k in runs[torch][2]:
        _close(f"eval: {k}", runs[mg][2][k], runs[torch][2][k])
    _compare_params(ours, theirs, "SimCLR after 3 steps", grads=True)
    _close("BatchNorm running mean", ours.convnet.features[1].running_mean, theirs.convnet.features[1].running_mean)
    for a, b in zip(runs[mg][3].tensors, runs[torch][3].tensors):
        _close("probe features / sorted labels", a, b)
    for i, ((la, aa, lra), (lb, ab, lrb)) in enumerate(zip(runs[mg][5], runs[torch][5])):
        _close(f"probe epoch {i}: loss", la, lb)
        _close(f"probe epoch {i}: acc", aa, ab)
        assert lra == pytest.approx(lrb, rel=1e-12)
    _compare_params(ours_probe, theirs_probe, "probe", grads=True)


def test_info_nce_masked_fill_gradient_matches_torch():
    """The loss's core on given features: masked_fill_ in place on cosine_similarity's output, the rolled
    positive mask and boolean indexing; the gradient with respect to the features."""
    host = np.random.default_rng(8)
    f = host.standard_normal((6, 5))
    grads, losses = {}, {}
    for lib in (mg, torch):
        F = lib.nn.functional
        feats = lib.tensor(f, requires_grad=True)
        cos_sim = F.cosine_similarity(feats[:, None, :], feats[None, :, :], dim=-1)
        self_mask = lib.eye(cos_sim.shape[0], dtype=lib.bool)
        cos_sim.masked_fill_(self_mask, -9e15)
        pos_mask = self_mask.roll(shifts=cos_sim.shape[0] // 2, dims=0)
        cos_sim = cos_sim / 0.5
        nll = (-cos_sim[pos_mask] + lib.logsumexp(cos_sim, dim=-1)).mean()
        nll.backward()
        grads[lib], losses[lib] = feats.grad, nll
    _close("InfoNCE", losses[mg], losses[torch])
    _close("InfoNCE feature gradient", grads[mg], grads[torch])


# ================================================================ float32: the notebooks as written
TOL32 = dict(rtol=2e-4, atol=2e-5)  # float32: the libraries sum in different orders


def test_flow_and_pixelcnn_float32_as_written():
    """The notebooks' own dtypes (`z.to(torch.float32)`, `x.float()`) and NumPy float64 scalars
    (`np.log2(np.exp(1))`, `np.log(self.quants) * np.prod(...)`): loss, gradients and ldj stay float32 and
    match torch's float32 run."""
    host = np.random.default_rng(9)
    flows = {lib: flow_program(lib, lib.float32, _host_rand_like(lib, 11)) for lib in (mg, torch)}
    pix = {lib: pixelcnn_program(lib, lib.float32) for lib in (mg, torch)}
    torch.manual_seed(4)
    t_flow = flows[torch]["create_multiscale_flow"]()
    with torch.no_grad():
        for p in t_flow.parameters():
            p.add_(0.1 * torch.randn_like(p))
    t_pix = pix[torch]["PixelCNN"](c_in=1, c_hidden=4)
    m_flow, m_pix = flows[mg]["create_multiscale_flow"](), pix[mg]["PixelCNN"](c_in=1, c_hidden=4)
    m_flow.load_state_dict(_weights(t_flow))
    m_pix.load_state_dict(_weights(t_pix))
    imgs = host.integers(0, 256, (2, 1, 4, 4))
    for name, ours, theirs, fn in (("flow", m_flow, t_flow, "_get_likelihood"),
                                   ("pixelcnn", m_pix, t_pix, "calc_likelihood")):
        a = getattr(ours, fn)(mg.tensor(imgs))
        b = getattr(theirs, fn)(torch.tensor(imgs))
        a.backward()
        b.backward()
        assert a.dtype == mg.float32, name
        np.testing.assert_allclose(a.item(), b.item(), **TOL32, err_msg=name)
        mine = dict(ours.named_parameters())
        for pname, p in theirs.named_parameters():
            assert mine[pname].grad.dtype == mg.float32, (name, pname)
            np.testing.assert_allclose(mine[pname].grad.numpy(), p.grad.numpy(), **TOL32, err_msg=f"{name} {pname}")
    z, ldj = m_flow.encode(mg.tensor(imgs))
    assert z.dtype == ldj.dtype == mg.float32


# ================================================================ devices: the flow's prior
def test_flow_prior_log_prob_on_device(device):
    """Tutorial 11 keeps `Normal(loc=0.0, scale=1.0)` priors as plain attributes (not moved by `.to(device)`):
    their 0-d loc/scale live on the CPU while z is on the GPU. torch lets a 0-d CPU tensor meet a CUDA tensor
    (as a number), and so does minigrad since session 10 (ops.common.check_pair moves it, differentiably)."""
    prior = mg.distributions.normal.Normal(loc=0.0, scale=1.0)  # as in ImageFlow.__init__ and SplitFlow
    z = mg.randn(2, 4, 2, 2, device=device, requires_grad=True)
    log_pz = prior.log_prob(z).sum(dim=[1, 2, 3])
    log_pz.sum().backward()
    assert log_pz.device == mg.backend.parse_device(device) and log_pz.dtype == mg.float32
    np.testing.assert_allclose(z.grad.numpy(), -z.detach().numpy(), rtol=1e-6)


def test_flow_likelihood_on_device_with_prior_on_device(device):
    prog = flow_program(mg, mg.float32)
    model = prog["create_multiscale_flow"]().to(device)
    on_dev = dict(loc=mg.tensor(0.0, device=device), scale=mg.tensor(1.0, device=device))
    model.prior = mg.distributions.normal.Normal(**on_dev)
    for m in model.flows:
        if type(m).__name__ == "SplitFlow":
            m.prior = mg.distributions.normal.Normal(**on_dev)
    imgs = mg.randint(0, 256, (2, 1, 4, 4), device=device)
    bpd = model._get_likelihood(imgs)
    bpd.backward()
    assert bpd.device == mg.backend.parse_device(device) and bpd.dtype == mg.float32
    assert all(p.grad is not None and p.grad.device == mg.backend.parse_device(device) for p in model.parameters())
    assert float(bpd) > 0
