"""Porting audit: generative and vision models written from scratch the way learners type them, run in torch
and in minigrad.

1. DDPM ("The Annotated Diffusion Model" / lucidrains' denoising-diffusion-pytorch minimal versions, without
   einops: reshape/permute instead): linear / quadratic / sigmoid / cosine beta schedules (`linspace`,
   `cumprod`, `F.pad(alphas_cumprod[:-1], (1, 0), value=1.0)`, `sqrt`), `extract` via `a.gather(-1, t.cpu())`,
   `q_sample`, `SinusoidalPositionEmbeddings`, `WeightStandardizedConv2d`, ResNet blocks with scale/shift
   time conditioning and ConvNeXt blocks with `h + condition[..., None, None]`, full attention and linear
   attention (1x1 qkv conv, `chunk(3, dim=1)`, `einsum`), `PreNorm(GroupNorm(1, dim))`, strided-conv
   downsampling and `nn.Upsample(scale_factor=2, mode="nearest")`, skip connections with
   `torch.cat((x, h.pop()), dim=1)`, `p_losses` with l1 / l2 / huber, Adam steps, and the sampling loop
   under `@torch.no_grad()` with the noise shared between the libraries. lucidrains' later GaussianDiffusion
   pieces: RMSNorm via `F.normalize`, learned sinusoidal embedding, attention with memory key/values and
   `F.scaled_dot_product_attention`, float32 schedule buffers via `register_buffer`, pred_v objective with
   min-SNR loss weights (`snr.clone().clamp_(max=5)`), DDIM sampling (`linspace(...).int().tolist()`), and the
   EMA copy (`copy.deepcopy(model).requires_grad_(False)` + `lerp_`, and `AveragedModel` with
   `get_ema_multi_avg_fn`).
2. A Vision Transformer from scratch: `Conv2d(kernel=stride=patch)` patch embedding,
   `flatten(2).transpose(1, 2)`, `cls_token.expand(B, -1, -1)`, `nn.init.trunc_normal_(std=.02)` position
   embedding, pre-norm blocks with `nn.MultiheadAttention(batch_first=True)` or a hand-written attention
   (`qkv(x).reshape(B, N, 3, H, D).permute(2, 0, 3, 1, 4)`), head on `x[:, 0]`, `model.apply(_init_weights)`,
   AdamW with label smoothing; timm's DropPath (`x.new_empty(shape).bernoulli_(keep)`, `div_`); MAE's
   `xavier_uniform_(w.view([w.shape[0], -1]))`; MHA attention weights; and the short ViT built on
   `nn.TransformerEncoder(norm_first=True, activation="gelu")`.
3. The GAN family: WGAN with weight clipping and RMSprop, a conditional GAN (`nn.Embedding` labels
   concatenated with the noise), LSGAN (MSE targets), pix2pix (U-Net generator with ConvTranspose2d, skip cat,
   BatchNorm/InstanceNorm, Dropout(0.5), LeakyReLU(0.2, inplace=True), Tanh; PatchGAN discriminator;
   BCEWithLogits + 100 * L1), CycleGAN's ReflectionPad2d ResnetBlock and ImagePool (decisions shared),
   spectral norm (legacy `nn.utils.spectral_norm` and `nn.utils.parametrizations.spectral_norm`, power
   iteration in train mode from loaded u/v, on Conv2d, ConvTranspose2d, Linear, Embedding) in an SNGAN hinge-loss
   discriminator and a BigGAN-style conditional-BN generator with a projection discriminator and softplus
   losses, and WGAN-GP's gradient penalty (`torch.autograd.grad(create_graph=True)`: no double backward).

Each program is written once against `lib` (torch or minigrad); minigrad gets torch's weights through
`load_state_dict` (NumPy arrays), runs in float64, and losses, outputs, gradients and updated parameters are
compared (rtol 1e-7). Random draws (noise, timesteps, dropout off / eval, pool decisions) are made on the host
and shared.

Porting notes:
* WGAN's `for p in D.parameters(): p.data.clamp_(-c, c)` meets NumPy's AttributeError (`Tensor.data` is the
  raw array: README, documented); it ports as `with torch.no_grad(): p.clamp_(-c, c)`, which runs unchanged
  in torch too.
  `p.data = p.data.clip(-c, c)` also works in both libraries.
* WGAN-GP's `torch.autograd.grad(..., create_graph=True)` raises NotImplementedError (README: no double
  backward); the test checks the message names create_graph and double backward. The penalty's value (without
  a graph through it) matches torch; training on it is impossible in minigrad.
* CycleGAN's ImagePool `torch.unsqueeze(image.data, 0)` gets a clear TypeError (README) and ports as
  `image.detach()`.
* GANLoss's float32 label buffers against a float64 model: minigrad's mse_loss refuses the mix (README: no
  float32/float64 mixing; torch's mse_loss promotes, and torch's BCEWithLogits even returns float32); only a
  float64 run meets it; `.double()` / `.to(device)` the loss module as the original does.
* MAE's `w = proj.weight.data; xavier_uniform_(w.view([w.shape[0], -1]))`: `.data` is the raw array, whose
  `.view` is NumPy's dtype view: NumPy's own TypeError ("Field elements must be 2- or 3-tuples") that does not
  say what to do. Ports as `w = proj.weight` (views write through) or `w.data.reshape(...)`.
* The EMA update `ema_p.data.mul_(decay).add_(p.data, alpha=1 - decay)` meets NumPy's AttributeError
  (README); ports as `ema_p.lerp_(p, 1 - decay)` under no_grad. `torch._foreach_lerp_` (ema-pytorch, private
  torch API) does not exist in minigrad.
* Null directions: the attention key bias and a conv bias right before an affine-free InstanceNorm have zero
  gradient in exact arithmetic; after Adam they hold rounding noise in both libraries, compared with an
  absolute tolerance that says so.
"""
import math
import random
from functools import partial

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


def _twin(build, seed=0):
    """The same float64 model in both libraries: torch's (seeded) and minigrad's with torch's weights."""
    torch.manual_seed(seed)
    mg.manual_seed(seed)
    ours, theirs = build(mg).double(), build(torch).double()
    missing = ours.load_state_dict(_weights(theirs))
    assert not getattr(missing, "missing_keys", None) and not getattr(missing, "unexpected_keys", None)
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    return ours, theirs


def _compare_params(ours, theirs, what, grads=False, null=()):
    """Parameters (and gradients) equal; the names in `null` have zero gradient in exact arithmetic (a conv
    bias right before an affine-free InstanceNorm is removed by the normalisation), so after Adam they hold
    rounding noise in both libraries, amplified by Adam's normalisation: compared with atol 1e-7 (Adam moves a
    parameter by at most lr per step; here the noise moves it ~1e-9)."""
    mine = dict(ours.named_parameters())
    assert sorted(mine) == sorted(n for n, _ in theirs.named_parameters()), what
    for name, p in theirs.named_parameters():
        if name in null:
            _close(f"{what}: {name} (null direction)", mine[name], p, rtol=0, atol=1e-7)
            continue
        _close(f"{what}: {name}", mine[name], p)
        if grads and p.grad is not None:
            _close(f"{what}: {name}.grad", mine[name].grad, p.grad)


def _null_biases(model):
    """Names of conv biases followed directly by an affine-free InstanceNorm2d inside an nn.Sequential."""
    names = set()
    for prefix, m in model.named_modules():
        if isinstance(m, torch.nn.Sequential):
            kids = list(m.named_children())
            for (n1, a), (_, b) in zip(kids, kids[1:]):
                if (isinstance(a, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) and a.bias is not None
                        and isinstance(b, torch.nn.InstanceNorm2d) and not b.affine):
                    names.add(f"{prefix}.{n1}.bias" if prefix else f"{n1}.bias")
    return names


class _default_float64:
    """`torch.set_default_dtype(torch.float64)` for both libraries, restored afterwards (the annotated DDPM
    builds float tensors with the default dtype: `linspace`, `arange(...) * -emb`)."""

    def __enter__(self):
        self.saved = torch.get_default_dtype(), mg.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        mg.set_default_dtype(mg.float64)

    def __exit__(self, *exc):
        torch.set_default_dtype(self.saved[0])
        mg.set_default_dtype(self.saved[1])


# ================================================================ 1. DDPM
def beta_schedules(lib):
    torch_, F = lib, lib.nn.functional

    def cosine_beta_schedule(timesteps, s=0.008):
        steps = timesteps + 1
        x = torch_.linspace(0, timesteps, steps)
        alphas_cumprod = torch_.cos(((x / timesteps) + s) / (1 + s) * torch_.pi * 0.5) ** 2
        alphas_cumprod = alphas_cumprod / alphas_cumprod[0]
        betas = 1 - (alphas_cumprod[1:] / alphas_cumprod[:-1])
        return torch_.clip(betas, 0.0001, 0.9999)

    def linear_beta_schedule(timesteps):
        beta_start, beta_end = 0.0001, 0.02
        return torch_.linspace(beta_start, beta_end, timesteps)

    def quadratic_beta_schedule(timesteps):
        beta_start, beta_end = 0.0001, 0.02
        return torch_.linspace(beta_start ** 0.5, beta_end ** 0.5, timesteps) ** 2

    def sigmoid_beta_schedule(timesteps):
        beta_start, beta_end = 0.0001, 0.02
        betas = torch_.linspace(-6, 6, timesteps)
        return torch_.sigmoid(betas) * (beta_end - beta_start) + beta_start

    def precompute(betas):
        alphas = 1. - betas
        alphas_cumprod = torch_.cumprod(alphas, axis=0)
        alphas_cumprod_prev = F.pad(alphas_cumprod[:-1], (1, 0), value=1.0)
        sqrt_recip_alphas = torch_.sqrt(1.0 / alphas)
        sqrt_alphas_cumprod = torch_.sqrt(alphas_cumprod)
        sqrt_one_minus_alphas_cumprod = torch_.sqrt(1. - alphas_cumprod)
        posterior_variance = betas * (1. - alphas_cumprod_prev) / (1. - alphas_cumprod)
        return dict(betas=betas, alphas_cumprod=alphas_cumprod, alphas_cumprod_prev=alphas_cumprod_prev,
                    sqrt_recip_alphas=sqrt_recip_alphas, sqrt_alphas_cumprod=sqrt_alphas_cumprod,
                    sqrt_one_minus_alphas_cumprod=sqrt_one_minus_alphas_cumprod,
                    posterior_variance=posterior_variance)

    return dict(cosine=cosine_beta_schedule, linear=linear_beta_schedule, quadratic=quadratic_beta_schedule,
                sigmoid=sigmoid_beta_schedule), precompute


def extract_fn(lib):
    def extract(a, t, x_shape):
        batch_size = t.shape[0]
        out = a.gather(-1, t.cpu())
        return out.reshape(batch_size, *((1,) * (len(x_shape) - 1))).to(t.device)
    return extract


def unet_program(lib, use_convnext=False):
    torch_, nn, F = lib, lib.nn, lib.nn.functional

    class Residual(nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.fn = fn

        def forward(self, x, *args, **kwargs):
            return self.fn(x, *args, **kwargs) + x

    def Upsample(dim, dim_out=None):
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                             nn.Conv2d(dim, dim_out or dim, 3, padding=1))

    def Downsample(dim, dim_out=None):
        return nn.Conv2d(dim, dim_out or dim, 4, 2, 1)

    class SinusoidalPositionEmbeddings(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.dim = dim

        def forward(self, time):
            device = time.device
            half_dim = self.dim // 2
            embeddings = math.log(10000) / (half_dim - 1)
            embeddings = torch_.exp(torch_.arange(half_dim, device=device) * -embeddings)
            embeddings = time[:, None] * embeddings[None, :]
            embeddings = torch_.cat((embeddings.sin(), embeddings.cos()), dim=-1)
            return embeddings

    class WeightStandardizedConv2d(nn.Conv2d):
        def forward(self, x):
            eps = 1e-5 if x.dtype == torch_.float32 else 1e-3
            weight = self.weight
            mean = weight.mean(dim=(1, 2, 3), keepdim=True)  # reduce(weight, "o ... -> o 1 1 1", "mean")
            var = weight.var(dim=(1, 2, 3), unbiased=False, keepdim=True)
            normalized_weight = (weight - mean) * (var + eps).rsqrt()
            return F.conv2d(x, normalized_weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    class Block(nn.Module):
        def __init__(self, dim, dim_out, groups=8):
            super().__init__()
            self.proj = WeightStandardizedConv2d(dim, dim_out, 3, padding=1)
            self.norm = nn.GroupNorm(groups, dim_out)
            self.act = nn.SiLU()

        def forward(self, x, scale_shift=None):
            x = self.proj(x)
            x = self.norm(x)
            if scale_shift is not None:
                scale, shift = scale_shift
                x = x * (scale + 1) + shift
            x = self.act(x)
            return x

    class ResnetBlock(nn.Module):
        def __init__(self, dim, dim_out, *, time_emb_dim=None, groups=8):
            super().__init__()
            self.mlp = (nn.Sequential(nn.SiLU(), nn.Linear(time_emb_dim, dim_out * 2))
                        if time_emb_dim is not None else None)
            self.block1 = Block(dim, dim_out, groups=groups)
            self.block2 = Block(dim_out, dim_out, groups=groups)
            self.res_conv = nn.Conv2d(dim, dim_out, 1) if dim != dim_out else nn.Identity()

        def forward(self, x, time_emb=None):
            scale_shift = None
            if self.mlp is not None and time_emb is not None:
                time_emb = self.mlp(time_emb)
                time_emb = time_emb[..., None, None]  # rearrange(time_emb, "b c -> b c 1 1")
                scale_shift = time_emb.chunk(2, dim=1)
            h = self.block1(x, scale_shift=scale_shift)
            h = self.block2(h)
            return h + self.res_conv(x)

    class ConvNextBlock(nn.Module):
        def __init__(self, dim, dim_out, *, time_emb_dim=None, mult=2, norm=True):
            super().__init__()
            self.mlp = (nn.Sequential(nn.GELU(), nn.Linear(time_emb_dim, dim)) if time_emb_dim is not None
                        else None)
            self.ds_conv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
            self.net = nn.Sequential(
                nn.GroupNorm(1, dim) if norm else nn.Identity(),
                nn.Conv2d(dim, dim_out * mult, 3, padding=1),
                nn.GELU(),
                nn.GroupNorm(1, dim_out * mult),
                nn.Conv2d(dim_out * mult, dim_out, 3, padding=1),
            )
            self.res_conv = nn.Conv2d(dim, dim_out, 1) if dim != dim_out else nn.Identity()

        def forward(self, x, time_emb=None):
            h = self.ds_conv(x)
            if self.mlp is not None and time_emb is not None:
                condition = self.mlp(time_emb)
                h = h + condition[..., None, None]
            h = self.net(h)
            return h + self.res_conv(x)

    class Attention(nn.Module):
        def __init__(self, dim, heads=2, dim_head=8):
            super().__init__()
            self.scale = dim_head ** -0.5
            self.heads = heads
            hidden_dim = dim_head * heads
            self.to_qkv = nn.Conv2d(dim, hidden_dim * 3, 1, bias=False)
            self.to_out = nn.Conv2d(hidden_dim, dim, 1)

        def forward(self, x):
            b, c, h, w = x.shape
            qkv = self.to_qkv(x).chunk(3, dim=1)
            q, k, v = map(lambda t: t.reshape(b, self.heads, -1, h * w), qkv)  # b (h c) x y -> b h c (x y)
            q = q * self.scale
            sim = torch_.einsum("b h d i, b h d j -> b h i j", q, k)
            sim = sim - sim.amax(dim=-1, keepdim=True).detach()
            attn = sim.softmax(dim=-1)
            out = torch_.einsum("b h i j, b h d j -> b h i d", attn, v)
            out = out.permute(0, 1, 3, 2).reshape(b, -1, h, w)  # b h (x y) d -> b (h d) x y
            return self.to_out(out)

    class LinearAttention(nn.Module):
        def __init__(self, dim, heads=2, dim_head=8):
            super().__init__()
            self.scale = dim_head ** -0.5
            self.heads = heads
            hidden_dim = dim_head * heads
            self.to_qkv = nn.Conv2d(dim, hidden_dim * 3, 1, bias=False)
            self.to_out = nn.Sequential(nn.Conv2d(hidden_dim, dim, 1), nn.GroupNorm(1, dim))

        def forward(self, x):
            b, c, h, w = x.shape
            qkv = self.to_qkv(x).chunk(3, dim=1)
            q, k, v = map(lambda t: t.reshape(b, self.heads, -1, h * w), qkv)
            q = q.softmax(dim=-2)
            k = k.softmax(dim=-1)
            q = q * self.scale
            context = torch_.einsum("b h d n, b h e n -> b h d e", k, v)
            out = torch_.einsum("b h d e, b h d n -> b h e n", context, q)
            out = out.reshape(b, -1, h, w)  # b h c (x y) -> b (h c) x y
            return self.to_out(out)

    class PreNorm(nn.Module):
        def __init__(self, dim, fn):
            super().__init__()
            self.fn = fn
            self.norm = nn.GroupNorm(1, dim)

        def forward(self, x):
            x = self.norm(x)
            return self.fn(x)

    class Unet(nn.Module):
        def __init__(self, dim, init_dim=None, out_dim=None, dim_mults=(1, 2), channels=1,
                     self_condition=False, resnet_block_groups=4):
            super().__init__()
            self.channels = channels
            input_channels = channels
            init_dim = init_dim or dim
            self.init_conv = nn.Conv2d(input_channels, init_dim, 1, padding=0)
            dims = [init_dim, *map(lambda m: dim * m, dim_mults)]
            in_out = list(zip(dims[:-1], dims[1:]))
            block_klass = (partial(ConvNextBlock, mult=2) if use_convnext
                           else partial(ResnetBlock, groups=resnet_block_groups))
            time_dim = dim * 4
            self.time_mlp = nn.Sequential(
                SinusoidalPositionEmbeddings(dim), nn.Linear(dim, time_dim), nn.GELU(),
                nn.Linear(time_dim, time_dim))
            self.downs = nn.ModuleList([])
            self.ups = nn.ModuleList([])
            num_resolutions = len(in_out)
            for ind, (dim_in, dim_out) in enumerate(in_out):
                is_last = ind >= (num_resolutions - 1)
                self.downs.append(nn.ModuleList([
                    block_klass(dim_in, dim_in, time_emb_dim=time_dim),
                    block_klass(dim_in, dim_in, time_emb_dim=time_dim),
                    Residual(PreNorm(dim_in, LinearAttention(dim_in))),
                    Downsample(dim_in, dim_out) if not is_last else nn.Conv2d(dim_in, dim_out, 3, padding=1),
                ]))
            mid_dim = dims[-1]
            self.mid_block1 = block_klass(mid_dim, mid_dim, time_emb_dim=time_dim)
            self.mid_attn = Residual(PreNorm(mid_dim, Attention(mid_dim)))
            self.mid_block2 = block_klass(mid_dim, mid_dim, time_emb_dim=time_dim)
            for ind, (dim_in, dim_out) in enumerate(reversed(in_out)):
                is_last = ind == (len(in_out) - 1)
                self.ups.append(nn.ModuleList([
                    block_klass(dim_out + dim_in, dim_out, time_emb_dim=time_dim),
                    block_klass(dim_out + dim_in, dim_out, time_emb_dim=time_dim),
                    Residual(PreNorm(dim_out, LinearAttention(dim_out))),
                    Upsample(dim_out, dim_in) if not is_last else nn.Conv2d(dim_out, dim_in, 3, padding=1),
                ]))
            self.out_dim = out_dim or channels
            self.final_res_block = block_klass(dim * 2, dim, time_emb_dim=time_dim)
            self.final_conv = nn.Conv2d(dim, self.out_dim, 1)

        def forward(self, x, time):
            x = self.init_conv(x)
            r = x.clone()
            t = self.time_mlp(time)
            h = []
            for block1, block2, attn, downsample in self.downs:
                x = block1(x, t)
                h.append(x)
                x = block2(x, t)
                x = attn(x)
                h.append(x)
                x = downsample(x)
            x = self.mid_block1(x, t)
            x = self.mid_attn(x)
            x = self.mid_block2(x, t)
            for block1, block2, attn, upsample in self.ups:
                x = torch_.cat((x, h.pop()), dim=1)
                x = block1(x, t)
                x = torch_.cat((x, h.pop()), dim=1)
                x = block2(x, t)
                x = attn(x)
                x = upsample(x)
            x = torch_.cat((x, r), dim=1)
            x = self.final_res_block(x, t)
            return self.final_conv(x)

    return Unet, SinusoidalPositionEmbeddings


def diffusion_fns(lib, timesteps, schedule="linear"):
    torch_, F = lib, lib.nn.functional
    schedules, precompute = beta_schedules(lib)
    c = precompute(schedules[schedule](timesteps))
    extract = extract_fn(lib)

    def q_sample(x_start, t, noise=None):
        if noise is None:
            noise = torch_.randn_like(x_start)
        sqrt_alphas_cumprod_t = extract(c["sqrt_alphas_cumprod"], t, x_start.shape)
        sqrt_one_minus_alphas_cumprod_t = extract(c["sqrt_one_minus_alphas_cumprod"], t, x_start.shape)
        return sqrt_alphas_cumprod_t * x_start + sqrt_one_minus_alphas_cumprod_t * noise

    def p_losses(denoise_model, x_start, t, noise=None, loss_type="l1"):
        if noise is None:
            noise = torch_.randn_like(x_start)
        x_noisy = q_sample(x_start=x_start, t=t, noise=noise)
        predicted_noise = denoise_model(x_noisy, t)
        if loss_type == "l1":
            loss = F.l1_loss(noise, predicted_noise)
        elif loss_type == "l2":
            loss = F.mse_loss(noise, predicted_noise)
        elif loss_type == "huber":
            loss = F.smooth_l1_loss(noise, predicted_noise)
        else:
            raise NotImplementedError()
        return loss

    @torch_.no_grad()
    def p_sample(model, x, t, t_index, noise):
        betas_t = extract(c["betas"], t, x.shape)
        sqrt_one_minus_alphas_cumprod_t = extract(c["sqrt_one_minus_alphas_cumprod"], t, x.shape)
        sqrt_recip_alphas_t = extract(c["sqrt_recip_alphas"], t, x.shape)
        model_mean = sqrt_recip_alphas_t * (x - betas_t * model(x, t) / sqrt_one_minus_alphas_cumprod_t)
        if t_index == 0:
            return model_mean
        posterior_variance_t = extract(c["posterior_variance"], t, x.shape)
        return model_mean + torch_.sqrt(posterior_variance_t) * noise

    @torch_.no_grad()
    def p_sample_loop(model, shape, noises):
        b = shape[0]
        img = torch_.tensor(noises[-1])  # torch.randn(shape, device=device), shared
        imgs = []
        for i in reversed(range(0, timesteps)):
            img = p_sample(model, img, torch_.full((b,), i, dtype=torch_.long), i, torch_.tensor(noises[i]))
            imgs.append(img.cpu().numpy())
        return imgs

    return c, q_sample, p_losses, p_sample_loop


@pytest.mark.parametrize("name", ["linear", "quadratic", "sigmoid", "cosine"])
def test_ddpm_beta_schedules_default_float32(name):
    """The schedules as typed (default float32), and everything precomputed from them."""
    T = 50
    ours = beta_schedules(mg)
    theirs = beta_schedules(torch)
    mb, tb = ours[0][name](T), theirs[0][name](T)
    # float32 on both sides: cos/sigmoid may differ by an ulp between NumPy and torch, and the cosine betas
    # are `1 - ratio` with ratio near 1, so their absolute error is a few float32 eps (4 * 1.19e-7)
    f32 = closer(dict(rtol=2e-6, atol=5e-7))
    assert mb.dtype == mg.float32 and tb.dtype == torch.float32
    f32(f"{name} betas", mb, tb)
    mc, tc = ours[1](mb), theirs[1](tb)
    for key in tc:
        f32(f"{name} {key}", mc[key], tc[key], rtol=2e-5, atol=1e-6)  # cumprod of 50 float32 factors
    # the same schedules with the default dtype float64 match to 1e-7
    with _default_float64():
        mb, tb = ours[0][name](T), theirs[0][name](T)
        mc, tc = ours[1](mb), theirs[1](tb)
    for key in tc:
        _close(f"{name} {key} (float64)", mc[key], tc[key], atol=1e-15, rtol=1e-9 if name == "cosine" else 1e-12)


def test_ddpm_extract_q_sample_and_embeddings():
    T, B = 30, 3
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((B, 1, 4, 4))
    noise = rng.standard_normal((B, 1, 4, 4))
    t = rng.integers(0, T, size=(B,))
    with _default_float64():
        res = {}
        for lib in (mg, torch):
            c, q_sample, _, _ = diffusion_fns(lib, T, "cosine")
            tt = lib.tensor(t).long()
            ex = extract_fn(lib)(c["sqrt_alphas_cumprod"], tt, x0.shape)
            xn = q_sample(lib.tensor(x0), tt, noise=lib.tensor(noise))
            _, Sin = unet_program(lib)
            emb = Sin(16)(tt)
            res[lib] = ex, xn, emb
    for i, what in enumerate(["extract", "q_sample", "sinusoidal embedding"]):
        _close(what, res[mg][i], res[torch][i])
    assert tuple(res[mg][0].shape) == (B, 1, 1, 1)
    assert tuple(res[mg][2].shape) == (B, 16)
    # randn_like inside q_sample (noise=None): a draw of x0's shape and dtype
    with _default_float64():
        c, q_sample, _, _ = diffusion_fns(mg, T)
        out = q_sample(mg.tensor(x0), mg.tensor(t).long())
    assert out.shape == x0.shape and out.dtype == mg.float64


@pytest.mark.parametrize("use_convnext,loss_type", [(False, "l1"), (False, "huber"), (True, "l2")])
def test_ddpm_unet_training_steps_and_sampling(use_convnext, loss_type):
    T, B = 6, 2
    rng = np.random.default_rng(1)
    steps = [(rng.uniform(-1, 1, (B, 1, 8, 8)), rng.integers(0, T, size=(B,)), rng.standard_normal((B, 1, 8, 8)))
             for _ in range(2)]
    sample_noise = [rng.standard_normal((1, 1, 8, 8)) for _ in range(T + 1)]
    with _default_float64():
        ours, theirs = _twin(lambda lib: unet_program(lib, use_convnext)[0](dim=8, dim_mults=(1, 2)))
        results = {}
        for lib, model in ((mg, ours), (torch, theirs)):
            _, _, p_losses, p_sample_loop = diffusion_fns(lib, T, "linear")
            optimizer = lib.optim.Adam(model.parameters(), lr=1e-3)
            losses, grads = [], None
            for x0, t, noise in steps:
                optimizer.zero_grad()
                loss = p_losses(model, lib.tensor(x0), lib.tensor(t).long(), noise=lib.tensor(noise),
                                loss_type=loss_type)
                losses.append(loss)
                loss.backward()
                if grads is None:
                    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
                optimizer.step()
            samples = p_sample_loop(model, (1, 1, 8, 8), sample_noise)
            results[lib] = losses, grads, samples
    for i, (a, b) in enumerate(zip(results[mg][0], results[torch][0])):
        _close(f"loss {i}", a, b)
    assert sorted(results[mg][1]) == sorted(results[torch][1])
    for name, g in results[torch][1].items():
        _close(f"first-step grad {name}", results[mg][1][name], g)
    _compare_params(ours, theirs, "after 2 Adam steps")
    assert len(results[mg][2]) == T
    for i, (a, b) in enumerate(zip(results[mg][2], results[torch][2])):
        _close(f"sample step {i}", a, b)


# ---------------------------------------------------------------- 1b. lucidrains-style GaussianDiffusion pieces
def lucidrains_program(lib, timesteps=12, sampling_timesteps=4):
    torch_, nn, F = lib, lib.nn, lib.nn.functional
    extract = extract_fn(lib)
    maybe_clip = partial(torch_.clamp, min=-1., max=1.)

    class RMSNorm(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.scale = dim ** 0.5
            self.g = nn.Parameter(torch_.ones(1, dim, 1, 1))

        def forward(self, x):
            return F.normalize(x, dim=1) * self.g * self.scale

    class RandomOrLearnedSinusoidalPosEmb(nn.Module):
        def __init__(self, dim, is_random=False):
            super().__init__()
            half_dim = dim // 2
            self.weights = nn.Parameter(torch_.randn(half_dim), requires_grad=not is_random)

        def forward(self, x):
            x = x[:, None]  # rearrange(x, 'b -> b 1')
            freqs = x * self.weights[None, :] * 2 * math.pi
            fouriered = torch_.cat((freqs.sin(), freqs.cos()), dim=-1)
            return torch_.cat((x, fouriered), dim=-1)

    class Attention(nn.Module):
        def __init__(self, dim, heads=2, dim_head=4, num_mem_kv=2):
            super().__init__()
            self.heads = heads
            hidden_dim = dim_head * heads
            self.norm = RMSNorm(dim)
            self.mem_kv = nn.Parameter(torch_.randn(2, heads, num_mem_kv, dim_head))
            self.to_qkv = nn.Conv2d(dim, hidden_dim * 3, 1, bias=False)
            self.to_out = nn.Conv2d(hidden_dim, dim, 1)

        def forward(self, x):
            b, c, h, w = x.shape
            x = self.norm(x)
            qkv = self.to_qkv(x).chunk(3, dim=1)
            # rearrange(t, 'b (h c) x y -> b h (x y) c')
            q, k, v = map(lambda t: t.reshape(b, self.heads, -1, h * w).transpose(-1, -2), qkv)
            # repeat(t, 'h n d -> b h n d', b=b)
            mk, mv = map(lambda t: t.unsqueeze(0).expand(b, -1, -1, -1), self.mem_kv)
            k, v = map(partial(torch_.cat, dim=-2), ((mk, k), (mv, v)))
            out = F.scaled_dot_product_attention(q, k, v)  # Attend(flash=True)
            out = out.transpose(-1, -2).reshape(b, -1, h, w)  # 'b h (x y) d -> b (h d) x y'
            return self.to_out(out)

    class Denoiser(nn.Module):
        def __init__(self, dim=8, channels=1):
            super().__init__()
            self.channels = channels
            self.self_condition = False
            self.init_conv = nn.Conv2d(channels, dim, 7, padding=3)
            self.time_mlp = nn.Sequential(RandomOrLearnedSinusoidalPosEmb(dim), nn.Linear(dim + 1, dim * 2),
                                          nn.GELU(), nn.Linear(dim * 2, dim * 2))
            self.norm = RMSNorm(dim)
            self.conv = nn.Conv2d(dim, dim, 3, padding=1)
            self.attn = Attention(dim)
            self.final_conv = nn.Conv2d(dim, channels, 1)

        def forward(self, x, time, x_self_cond=None):
            x = self.init_conv(x)
            scale, shift = self.time_mlp(time)[..., None, None].chunk(2, dim=1)
            h = F.silu(self.norm(self.conv(x)) * (scale + 1) + shift)
            h = self.attn(h) + h
            return self.final_conv(h + x)

    class GaussianDiffusion(nn.Module):
        def __init__(self, model, image_size, min_snr_gamma=5):
            super().__init__()
            self.model = model
            self.channels = model.channels
            self.image_size = image_size
            self.objective = "pred_v"
            self.num_timesteps = timesteps
            self.sampling_timesteps = sampling_timesteps
            self.ddim_sampling_eta = 0.5
            s = 0.008
            x = torch_.linspace(0, timesteps, timesteps + 1, dtype=torch_.float64)
            alphas_cumprod = torch_.cos(((x / timesteps) + s) / (1 + s) * math.pi * 0.5) ** 2
            alphas_cumprod = alphas_cumprod / alphas_cumprod[0]
            betas = torch_.clip(1 - (alphas_cumprod[1:] / alphas_cumprod[:-1]), 0, 0.999)
            alphas = 1. - betas
            alphas_cumprod = torch_.cumprod(alphas, dim=0)
            register_buffer = lambda name, val: self.register_buffer(name, val.to(torch_.float32))  # noqa: E731
            register_buffer("betas", betas)
            register_buffer("alphas_cumprod", alphas_cumprod)
            register_buffer("sqrt_alphas_cumprod", torch_.sqrt(alphas_cumprod))
            register_buffer("sqrt_one_minus_alphas_cumprod", torch_.sqrt(1. - alphas_cumprod))
            register_buffer("sqrt_recip_alphas_cumprod", torch_.sqrt(1. / alphas_cumprod))
            register_buffer("sqrt_recipm1_alphas_cumprod", torch_.sqrt(1. / alphas_cumprod - 1))
            snr = alphas_cumprod / (1 - alphas_cumprod)
            maybe_clipped_snr = snr.clone()
            maybe_clipped_snr.clamp_(max=min_snr_gamma)
            register_buffer("loss_weight", maybe_clipped_snr / (snr + 1))

        def predict_start_from_v(self, x_t, t, v):
            return (extract(self.sqrt_alphas_cumprod, t, x_t.shape) * x_t
                    - extract(self.sqrt_one_minus_alphas_cumprod, t, x_t.shape) * v)

        def predict_noise_from_start(self, x_t, t, x0):
            return ((extract(self.sqrt_recip_alphas_cumprod, t, x_t.shape) * x_t - x0)
                    / extract(self.sqrt_recipm1_alphas_cumprod, t, x_t.shape))

        def predict_v(self, x_start, t, noise):
            return (extract(self.sqrt_alphas_cumprod, t, x_start.shape) * noise
                    - extract(self.sqrt_one_minus_alphas_cumprod, t, x_start.shape) * x_start)

        def model_predictions(self, x, t, clip_x_start=True):
            v = self.model(x, t)
            x_start = self.predict_start_from_v(x, t, v)
            x_start = maybe_clip(x_start) if clip_x_start else x_start
            pred_noise = self.predict_noise_from_start(x, t, x_start)
            return pred_noise, x_start

        def q_sample(self, x_start, t, noise):
            return (extract(self.sqrt_alphas_cumprod, t, x_start.shape) * x_start
                    + extract(self.sqrt_one_minus_alphas_cumprod, t, x_start.shape) * noise)

        def p_losses(self, x_start, t, noise):
            b = x_start.shape[0]
            x = self.q_sample(x_start=x_start, t=t, noise=noise)
            model_out = self.model(x, t)
            target = self.predict_v(x_start, t, noise)
            loss = F.mse_loss(model_out, target, reduction="none")
            loss = loss.reshape(b, -1).mean(dim=1)  # reduce(loss, 'b ... -> b', 'mean')
            loss = loss * extract(self.loss_weight, t, loss.shape)
            return loss.mean()

        def forward(self, img, t, noise):
            b, c, h, w, device, img_size = *img.shape, img.device, self.image_size
            assert h == img_size and w == img_size, f"height and width of image must be {img_size}"
            img = img * 2 - 1  # normalize_to_neg_one_to_one
            return self.p_losses(img, t, noise)

        @torch_.no_grad()
        def ddim_sample(self, shape, noises):
            batch, total_timesteps, eta = shape[0], self.num_timesteps, self.ddim_sampling_eta
            times = torch_.linspace(-1, total_timesteps - 1, steps=self.sampling_timesteps + 1)
            times = list(reversed(times.int().tolist()))
            time_pairs = list(zip(times[:-1], times[1:]))
            img = torch_.tensor(noises[0])  # torch.randn(shape, device=device), shared
            for i, (time, time_next) in enumerate(time_pairs):
                time_cond = torch_.full((batch,), time, dtype=torch_.long)
                pred_noise, x_start = self.model_predictions(img, time_cond, clip_x_start=True)
                if time_next < 0:
                    img = x_start
                    continue
                alpha = self.alphas_cumprod[time]
                alpha_next = self.alphas_cumprod[time_next]
                sigma = eta * ((1 - alpha / alpha_next) * (1 - alpha_next) / (1 - alpha)).sqrt()
                c = (1 - alpha_next - sigma ** 2).sqrt()
                noise = torch_.tensor(noises[i + 1])  # torch.randn_like(img), shared
                img = x_start * alpha_next.sqrt() + c * pred_noise + sigma * noise
            return (img + 1) * 0.5, times  # unnormalize_to_zero_to_one

    return Denoiser, GaussianDiffusion


def test_lucidrains_gaussian_diffusion_pred_v_min_snr_ddim():
    T = 12
    rng = np.random.default_rng(12)
    steps = [(rng.uniform(0, 1, (2, 1, 8, 8)), rng.integers(0, T, 2), rng.standard_normal((2, 1, 8, 8)))
             for _ in range(2)]
    noises = [rng.standard_normal((2, 1, 8, 8)) for _ in range(5)]

    def build(lib):
        Denoiser, GaussianDiffusion = lucidrains_program(lib, T)
        return GaussianDiffusion(Denoiser(), image_size=8)

    # the schedule buffers each library computes itself (float64 math, stored as float32 as lucidrains does)
    fresh_m, fresh_t = build(mg), build(torch)
    assert sorted(dict(fresh_m.named_buffers())) == sorted(dict(fresh_t.named_buffers()))
    for name, b in fresh_t.named_buffers():
        assert dict(fresh_m.named_buffers())[name].dtype == mg.float32
        _close(f"buffer {name}", dict(fresh_m.named_buffers())[name], b)
    ours, theirs = _twin(build, seed=8)  # (load_state_dict carries the buffers too)
    assert ours.betas.dtype == mg.float64
    results = {}
    for lib, model in ((mg, ours), (torch, theirs)):
        opt = lib.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
        log = []
        for img, t, noise in steps:
            loss = model(lib.tensor(img), lib.tensor(t).long(), lib.tensor(noise))
            loss.backward()
            opt.step()
            opt.zero_grad()
            log.append(loss.item())
        model.eval()
        sample, times = model.ddim_sample((2, 1, 8, 8), noises)
        results[lib] = log, sample, times
    np.testing.assert_allclose(results[mg][0], results[torch][0], **TOL)
    assert results[mg][2] == results[torch][2] == [11, 8, 5, 2, -1]
    _close("ddim sample", results[mg][1], results[torch][1])
    _compare_params(ours, theirs, "after 2 Adam steps")
    assert ours.model.time_mlp[0].weights.requires_grad  # learned sinusoidal: trainable
    # random (frozen) Fourier features: nn.Parameter(..., requires_grad=False) stays out of the gradient
    Denoiser, _ = lucidrains_program(mg, T)
    emb = Denoiser().time_mlp[0].__class__(8, is_random=True)
    assert not emb.weights.requires_grad and tuple(emb(mg.tensor([1.0, 2.0])).shape) == (2, 9)


# ================================================================ 2. Vision Transformer
def vit_program(lib, hand_attention=False, num_classes=3):
    torch_, nn, F = lib, lib.nn, lib.nn.functional

    class PatchEmbed(nn.Module):
        def __init__(self, img_size=8, patch_size=4, in_chans=3, embed_dim=16):
            super().__init__()
            self.img_size, self.patch_size = img_size, patch_size
            self.n_patches = (img_size // patch_size) ** 2
            self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

        def forward(self, x):
            x = self.proj(x)  # (B, E, H/P, W/P)
            x = x.flatten(2)  # (B, E, N)
            x = x.transpose(1, 2)  # (B, N, E)
            return x

    class Attention(nn.Module):
        def __init__(self, dim, n_heads=2, qkv_bias=True, attn_p=0., proj_p=0.):
            super().__init__()
            self.n_heads = n_heads
            self.dim = dim
            self.head_dim = dim // n_heads
            self.scale = self.head_dim ** -0.5
            self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
            self.attn_drop = nn.Dropout(attn_p)
            self.proj = nn.Linear(dim, dim)
            self.proj_drop = nn.Dropout(proj_p)

        def forward(self, x):
            n_samples, n_tokens, dim = x.shape
            if dim != self.dim:
                raise ValueError
            qkv = self.qkv(x)
            qkv = qkv.reshape(n_samples, n_tokens, 3, self.n_heads, self.head_dim)
            qkv = qkv.permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            k_t = k.transpose(-2, -1)
            dp = (q @ k_t) * self.scale
            attn = dp.softmax(dim=-1)
            attn = self.attn_drop(attn)
            weighted_avg = attn @ v
            weighted_avg = weighted_avg.transpose(1, 2)
            weighted_avg = weighted_avg.flatten(2)
            x = self.proj(weighted_avg)
            x = self.proj_drop(x)
            return x

    class MLP(nn.Module):
        def __init__(self, in_features, hidden_features, out_features, p=0.):
            super().__init__()
            self.fc1 = nn.Linear(in_features, hidden_features)
            self.act = nn.GELU()
            self.fc2 = nn.Linear(hidden_features, out_features)
            self.drop = nn.Dropout(p)

        def forward(self, x):
            return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))

    class Block(nn.Module):
        def __init__(self, dim, n_heads, mlp_ratio=4.0, qkv_bias=True, p=0., attn_p=0.):
            super().__init__()
            self.norm1 = nn.LayerNorm(dim, eps=1e-6)
            if hand_attention:
                self.attn = Attention(dim, n_heads=n_heads, qkv_bias=qkv_bias, attn_p=attn_p, proj_p=p)
            else:
                self.attn = nn.MultiheadAttention(dim, n_heads, dropout=attn_p, batch_first=True)
            self.norm2 = nn.LayerNorm(dim, eps=1e-6)
            self.mlp = MLP(dim, int(dim * mlp_ratio), dim)

        def forward(self, x):
            h = self.norm1(x)
            if hand_attention:
                x = x + self.attn(h)
            else:
                x = x + self.attn(h, h, h, need_weights=False)[0]
            x = x + self.mlp(self.norm2(x))
            return x

    class VisionTransformer(nn.Module):
        def __init__(self, img_size=8, patch_size=4, in_chans=3, n_classes=num_classes, embed_dim=16, depth=2,
                     n_heads=2, mlp_ratio=2., qkv_bias=True, p=0., attn_p=0.):
            super().__init__()
            self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
            self.cls_token = nn.Parameter(torch_.zeros(1, 1, embed_dim))
            self.pos_embed = nn.Parameter(torch_.zeros(1, 1 + self.patch_embed.n_patches, embed_dim))
            self.pos_drop = nn.Dropout(p=p)
            self.blocks = nn.ModuleList([
                Block(embed_dim, n_heads, mlp_ratio, qkv_bias, p, attn_p) for _ in range(depth)])
            self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
            self.head = nn.Linear(embed_dim, n_classes)
            nn.init.trunc_normal_(self.pos_embed, std=.02)
            nn.init.trunc_normal_(self.cls_token, std=.02)
            self.apply(self._init_weights)

        def _init_weights(self, m):
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=.02)
                if isinstance(m, nn.Linear) and m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.LayerNorm):
                nn.init.constant_(m.bias, 0)
                nn.init.constant_(m.weight, 1.0)

        def forward(self, x):
            n_samples = x.shape[0]
            x = self.patch_embed(x)
            cls_token = self.cls_token.expand(n_samples, -1, -1)
            x = torch_.cat((cls_token, x), dim=1)
            x = x + self.pos_embed
            x = self.pos_drop(x)
            for block in self.blocks:
                x = block(x)
            x = self.norm(x)
            cls_token_final = x[:, 0]
            return self.head(cls_token_final)

    return VisionTransformer


@pytest.mark.parametrize("hand_attention", [False, True])
def test_vit_init_and_adamw_training(hand_attention):
    ours, theirs = _twin(lambda lib: vit_program(lib, hand_attention)())
    # our own initialisation did what _init_weights asked: trunc-normal std .02 inside [-2, 2] (not 2 std:
    # timm's trunc_normal_ default a=-2., b=2.), zero biases, LayerNorm ones / zeros
    mg.manual_seed(3)
    fresh = vit_program(mg, hand_attention)()
    lin = [m for m in fresh.modules() if isinstance(m, mg.nn.Linear)]
    w = np.concatenate([m.weight.numpy().ravel() for m in lin])
    assert w.size > 1000 and abs(w.std() - 0.02) < 0.002 and np.abs(w).max() < 0.2
    assert all(not m.bias.numpy().any() for m in lin)
    ln = [m for m in fresh.modules() if isinstance(m, mg.nn.LayerNorm)]
    assert ln and all((m.weight.numpy() == 1).all() and not m.bias.numpy().any() for m in ln)
    assert fresh.pos_embed.shape == (1, 5, 16) and 0 < fresh.pos_embed.numpy().std() < 0.05
    assert fresh.cls_token.numpy().any()

    rng = np.random.default_rng(4)
    data = [(rng.standard_normal((3, 3, 8, 8)), rng.integers(0, 3, size=(3,))) for _ in range(3)]
    results = {}
    for lib, model in ((mg, ours), (torch, theirs)):
        model.train()
        opt = lib.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.05)
        crit = lib.nn.CrossEntropyLoss(label_smoothing=0.1)
        losses, grads, logits = [], None, []
        for x, y in data:
            opt.zero_grad()
            out = model(lib.tensor(x))
            loss = crit(out, lib.tensor(y))
            loss.backward()
            if grads is None:
                grads = {n: p.grad.clone() for n, p in model.named_parameters()}
            lib.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
            logits.append(out.detach())
        model.eval()
        with lib.no_grad():
            pred = model(lib.tensor(data[0][0])).argmax(dim=1)
        results[lib] = losses, grads, logits, pred
    np.testing.assert_allclose(results[mg][0], results[torch][0], **TOL)
    for name, g in results[torch][1].items():
        _close(f"first-step grad {name}", results[mg][1][name], g)
    for i, (a, b) in enumerate(zip(results[mg][2], results[torch][2])):
        _close(f"logits {i}", a, b)
    _close("eval predictions", results[mg][3], results[torch][3])
    # the key bias (middle third of in_proj_bias / qkv.bias) has zero gradient in exact arithmetic (softmax is
    # shift invariant), so after AdamW it holds rounding noise ~1e-12 in both libraries: checked for being that
    # small, and every other parameter at full tolerance
    mine = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        if name.endswith(("in_proj_bias", "qkv.bias")):
            d = p.shape[0] // 3
            a, b = to_numpy(mine[name]), to_numpy(p)
            _close(f"{name} (q, v)", np.r_[a[:d], a[2 * d:]], np.r_[b[:d], b[2 * d:]])
            assert np.abs(a[d:2 * d]).max() < 1e-10 and np.abs(b[d:2 * d]).max() < 1e-10, name
        else:
            _close(f"after 3 AdamW steps: {name}", mine[name], p)


def drop_path_program(lib):
    nn = lib.nn

    def drop_path(x, drop_prob: float = 0., training: bool = False, scale_by_keep: bool = True):
        if drop_prob == 0. or not training:
            return x
        keep_prob = 1 - drop_prob
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        random_tensor = x.new_empty(shape).bernoulli_(keep_prob)
        if keep_prob > 0.0 and scale_by_keep:
            random_tensor.div_(keep_prob)
        return x * random_tensor

    class DropPath(nn.Module):
        def __init__(self, drop_prob=None):
            super().__init__()
            self.drop_prob = drop_prob

        def forward(self, x):
            return drop_path(x, self.drop_prob, self.training)

    return DropPath


def test_vit_drop_path_mae_init_and_attention_weights():
    # timm's stochastic depth: `dpr = [x.item() for x in torch.linspace(0, drop_path_rate, depth)]`
    dpr = [x.item() for x in mg.linspace(0, 0.5, 3)]
    assert dpr == pytest.approx([0.0, 0.25, 0.5])
    dp = drop_path_program(mg)(0.5)
    x = mg.ones(4000, 3, dtype=mg.float64, requires_grad=True)
    y = dp(x)
    kept = y.numpy()[:, 0] != 0
    assert set(np.unique(y.numpy())) <= {0.0, 2.0} and (y.numpy() == y.numpy()[:, :1]).all()  # per sample
    assert abs(kept.mean() - 0.5) < 0.04  # 4000 Bernoulli(0.5): sd 0.008
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())
    dp.eval()
    assert dp(x) is x
    # MAE's initialize_weights: `w = self.patch_embed.proj.weight.data;
    # torch.nn.init.xavier_uniform_(w.view([w.shape[0], -1]))`. Here `.data` is the raw array, whose
    # `.view` is NumPy's dtype view (NumPy's TypeError: README); it ports as `w = proj.weight` (a view of a
    # Parameter writes through, as torch's) or `w.data.reshape(...)`.
    mg.manual_seed(9)
    proj = mg.nn.Conv2d(3, 64, 4, 4)
    with pytest.raises(TypeError):
        proj.weight.data.view([proj.weight.shape[0], -1])
    w = proj.weight
    mg.nn.init.xavier_uniform_(w.view([w.shape[0], -1]))
    bound = math.sqrt(6.0 / (48 + 64))  # fans of the (64, 48) view, not of the 4-d weight
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.9 * bound
    assert abs(w.numpy().std() - bound / math.sqrt(3)) < 0.01
    # nn.MultiheadAttention(batch_first=True) attention weights (need_weights=True, averaged over heads)
    torch.manual_seed(10)
    t_mha = torch.nn.MultiheadAttention(8, 2, batch_first=True).double()
    m_mha = mg.nn.MultiheadAttention(8, 2, batch_first=True).double()
    m_mha.load_state_dict(_weights(t_mha))
    q = np.random.default_rng(13).standard_normal((2, 5, 8))
    (mo, mw), (to, tw) = m_mha(*[mg.tensor(q)] * 3), t_mha(*[torch.tensor(q)] * 3)
    _close("MHA output", mo, to)
    _close("MHA averaged weights", mw, tw)
    mw = m_mha(*[mg.tensor(q)] * 3, average_attn_weights=False)[1]
    _close("MHA per-head weights", mw, t_mha(*[torch.tensor(q)] * 3, average_attn_weights=False)[1])


def test_vit_with_nn_transformer_encoder_norm_first():
    """The short ViT learners write with nn.TransformerEncoder(norm_first=True, activation="gelu")."""
    def build(lib):
        nn, torch_ = lib.nn, lib

        class ViT(nn.Module):
            def __init__(self, img=8, patch=4, chans=1, dim=8, depth=2, heads=2, classes=3):
                super().__init__()
                self.patch_embed = nn.Conv2d(chans, dim, kernel_size=patch, stride=patch)
                self.cls_token = nn.Parameter(torch_.zeros(1, 1, dim))
                self.pos_embed = nn.Parameter(torch_.randn(1, (img // patch) ** 2 + 1, dim) * .02)
                layer = nn.TransformerEncoderLayer(dim, heads, dim * 2, dropout=0.0, activation="gelu",
                                                   batch_first=True, norm_first=True)
                self.encoder = nn.TransformerEncoder(layer, depth, norm=nn.LayerNorm(dim),
                                                     enable_nested_tensor=False)
                self.head = nn.Linear(dim, classes)

            def forward(self, x):
                x = self.patch_embed(x).flatten(2).transpose(1, 2)
                x = torch_.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
                return self.head(self.encoder(x)[:, 0])

        return ViT()

    ours, theirs = _twin(build, seed=12)
    rng = np.random.default_rng(15)
    data = [(rng.standard_normal((4, 1, 8, 8)), rng.integers(0, 3, 4)) for _ in range(2)]
    results = {}
    for lib, model in ((mg, ours), (torch, theirs)):
        opt = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        log = []
        for x, y in data:
            opt.zero_grad()
            loss = lib.nn.functional.cross_entropy(model(lib.tensor(x)), lib.tensor(y))
            loss.backward()
            opt.step()
            log.append(loss.item())
        results[lib] = log
    np.testing.assert_allclose(results[mg], results[torch], **TOL)
    mine = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        if name.endswith("in_proj_bias"):  # the key bias is a null direction (see test_vit_init_...)
            d = p.shape[0] // 3
            a, b = to_numpy(mine[name]), to_numpy(p)
            _close(name, np.r_[a[:d], a[2 * d:]], np.r_[b[:d], b[2 * d:]])
            _close(f"{name} (keys)", a[d:2 * d], b[d:2 * d], rtol=0, atol=1e-10)
        else:
            _close(name, mine[name], p)


def test_diffusion_ema_deepcopy_lerp_and_averaged_model():
    """The EMA of the denoiser every diffusion repo keeps: `ema = copy.deepcopy(model).requires_grad_(False)`
    and `ema_p.data.mul_(decay).add_(p.data, alpha=1 - decay)` (NumPy's AttributeError on `.data`: README),
    ported as `ema_p.lerp_(p, 1 - decay)` under no_grad; and optim.swa_utils.AveragedModel with
    get_ema_multi_avg_fn."""
    import copy

    ours, theirs = _twin(lambda lib: unet_program(lib)[0](dim=8, dim_mults=(1, 2)), seed=13)
    with pytest.raises(AttributeError, match="mul_"):
        next(ours.parameters()).data.mul_(0.9)
    rng = np.random.default_rng(16)
    steps = [(rng.uniform(-1, 1, (2, 1, 8, 8)), rng.integers(0, 10, 2), rng.standard_normal((2, 1, 8, 8)))
             for _ in range(2)]
    results = {}
    with _default_float64():
        for lib, model in ((mg, ours), (torch, theirs)):
            ema = copy.deepcopy(model).requires_grad_(False)
            swa = lib.optim.swa_utils.AveragedModel(
                model, multi_avg_fn=lib.optim.swa_utils.get_ema_multi_avg_fn(0.9))
            _, _, p_losses, _ = diffusion_fns(lib, 10, "cosine")
            opt = lib.optim.Adam(model.parameters(), lr=1e-2)
            for x0, t, noise in steps:
                opt.zero_grad()
                p_losses(model, lib.tensor(x0), lib.tensor(t).long(), lib.tensor(noise), "l2").backward()
                opt.step()
                with lib.no_grad():
                    for ema_p, p in zip(ema.parameters(), model.parameters()):
                        ema_p.lerp_(p, 1 - 0.9)
                swa.update_parameters(model)
            assert not any(p.requires_grad for p in ema.parameters())
            results[lib] = ema, swa
    _compare_params(results[mg][0], results[torch][0], "EMA (deepcopy + lerp_)")
    _compare_params(results[mg][1], results[torch][1], "EMA (AveragedModel)")
    a = dict(results[mg][0].named_parameters())["final_conv.weight"].numpy()
    assert not np.allclose(a, dict(ours.named_parameters())["final_conv.weight"].numpy())  # EMA lags


# ================================================================ 3. GAN family
def _set_requires_grad(nets, requires_grad=False):
    if not isinstance(nets, list):
        nets = [nets]
    for net in nets:
        if net is not None:
            for param in net.parameters():
                param.requires_grad = requires_grad


# ---------------------------------------------------------------- 3a. WGAN with weight clipping
def wgan_program(lib, latent_dim=4, img_shape=(1, 4, 4)):
    nn = lib.nn
    n = int(np.prod(img_shape))

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()

            def block(in_feat, out_feat, normalize=True):
                layers = [nn.Linear(in_feat, out_feat)]
                if normalize:
                    layers.append(nn.BatchNorm1d(out_feat, 0.8))
                layers.append(nn.LeakyReLU(0.2, inplace=True))
                return layers

            self.model = nn.Sequential(*block(latent_dim, 8, normalize=False), *block(8, 16),
                                       nn.Linear(16, n), nn.Tanh())

        def forward(self, z):
            img = self.model(z)
            return img.view(img.shape[0], *img_shape)

    class Discriminator(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = nn.Sequential(nn.Linear(n, 16), nn.LeakyReLU(0.2, inplace=True), nn.Linear(16, 8),
                                       nn.LeakyReLU(0.2, inplace=True), nn.Linear(8, 1))

        def forward(self, img):
            img_flat = img.view(img.shape[0], -1)
            return self.model(img_flat)

    return Generator(), Discriminator()


def test_wgan_weight_clipping_rmsprop():
    torch.manual_seed(0)
    tG, tD = (m.double() for m in wgan_program(torch))
    mG, mD = (m.double() for m in wgan_program(mg))
    mG.load_state_dict(_weights(tG))
    mD.load_state_dict(_weights(tD))
    clip_value, n_critic = 0.1, 2
    rng = np.random.default_rng(5)
    batches = [(rng.uniform(-1, 1, (4, 1, 4, 4)), rng.standard_normal((4, 4))) for _ in range(4)]
    # the program as typed: `p.data.clamp_(-c, c)` meets NumPy (Tensor.data is the raw array: README)
    with pytest.raises(AttributeError, match="clamp_"):
        next(mD.parameters()).data.clamp_(-clip_value, clip_value)
    results = {}
    for lib, G, D in ((mg, mG, mD), (torch, tG, tD)):
        optimizer_G = lib.optim.RMSprop(G.parameters(), lr=5e-3)
        optimizer_D = lib.optim.RMSprop(D.parameters(), lr=5e-3)
        log = []
        for i, (imgs, z) in enumerate(batches):
            real_imgs = lib.tensor(imgs)
            optimizer_D.zero_grad()
            z = lib.tensor(z)
            fake_imgs = G(z).detach()
            loss_D = -lib.mean(D(real_imgs)) + lib.mean(D(fake_imgs))
            loss_D.backward()
            optimizer_D.step()
            for p in D.parameters():  # ported: p.data.clamp_(-clip_value, clip_value)
                with lib.no_grad():
                    p.clamp_(-clip_value, clip_value)
            log.append(loss_D.item())
            if i % n_critic == 0:
                optimizer_G.zero_grad()
                gen_imgs = G(z)
                loss_G = -lib.mean(D(gen_imgs))
                loss_G.backward()
                optimizer_G.step()
                log.append(loss_G.item())
        results[lib] = log
    np.testing.assert_allclose(results[mg], results[torch], **TOL)
    _compare_params(mG, tG, "G")
    _compare_params(mD, tD, "D")
    _close("G running_var", mG.model[3].running_var, tG.model[3].running_var)
    clipped = np.concatenate([p.numpy().ravel() for p in mD.parameters()])
    assert np.abs(clipped).max() <= clip_value and (np.abs(clipped) == clip_value).sum() > 10  # clipping bit
    # the other spelling, `p.data = p.data.clip(-c, c)` (Tensor.clip in torch, ndarray.clip here), works too
    for (mp, tp) in zip(wgan_program(mg)[1].double().parameters(), wgan_program(torch)[1].double().parameters()):
        with torch.no_grad():
            tp.mul_(100.0)
        mp.data = tp.detach().numpy().copy()
        mp.data = mp.data.clip(-clip_value, clip_value)
        tp.data = tp.data.clip(-clip_value, clip_value)
        assert mp.dtype == mg.float64
        _close("p.data = p.data.clip(...)", mp, tp)


# ---------------------------------------------------------------- 3b. conditional GAN (MSE, as PyTorch-GAN)
def cgan_program(lib, n_classes=3, latent_dim=4, img_shape=(1, 4, 4), p_drop=0.4):
    torch_, nn = lib, lib.nn
    n = int(np.prod(img_shape))

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.label_emb = nn.Embedding(n_classes, n_classes)

            def block(in_feat, out_feat, normalize=True):
                layers = [nn.Linear(in_feat, out_feat)]
                if normalize:
                    layers.append(nn.BatchNorm1d(out_feat, 0.8))
                layers.append(nn.LeakyReLU(0.2, inplace=True))
                return layers

            self.model = nn.Sequential(*block(latent_dim + n_classes, 8, normalize=False), *block(8, 16),
                                       nn.Linear(16, n), nn.Tanh())

        def forward(self, noise, labels):
            gen_input = torch_.cat((self.label_emb(labels), noise), -1)
            img = self.model(gen_input)
            return img.view(img.size(0), *img_shape)

    class Discriminator(nn.Module):
        def __init__(self):
            super().__init__()
            self.label_embedding = nn.Embedding(n_classes, n_classes)
            self.model = nn.Sequential(
                nn.Linear(n_classes + n, 16), nn.LeakyReLU(0.2, inplace=True),
                nn.Linear(16, 16), nn.Dropout(p_drop), nn.LeakyReLU(0.2, inplace=True), nn.Linear(16, 1))

        def forward(self, img, labels):
            d_in = torch_.cat((img.view(img.size(0), -1), self.label_embedding(labels)), -1)
            return self.model(d_in)

    return Generator(), Discriminator()


def test_cgan_embedding_concat_mse_adam():
    torch.manual_seed(1)
    tG, tD = (m.double() for m in cgan_program(torch, p_drop=0.0))  # dropout off for parity
    mG, mD = (m.double() for m in cgan_program(mg, p_drop=0.0))
    mG.load_state_dict(_weights(tG))
    mD.load_state_dict(_weights(tD))
    rng = np.random.default_rng(6)
    batches = [(rng.uniform(-1, 1, (4, 1, 4, 4)), rng.integers(0, 3, 4), rng.standard_normal((4, 4)),
                rng.integers(0, 3, 4)) for _ in range(3)]
    results = {}
    for lib, G, D in ((mg, mG, mD), (torch, tG, tD)):
        adversarial_loss = lib.nn.MSELoss()
        optimizer_G = lib.optim.Adam(G.parameters(), lr=2e-3, betas=(0.5, 0.999))
        optimizer_D = lib.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
        log = []
        for imgs, labels, z, gen_labels in batches:
            batch_size = imgs.shape[0]
            valid = lib.ones(batch_size, 1, dtype=lib.float64, requires_grad=False)
            fake = lib.zeros(batch_size, 1, dtype=lib.float64, requires_grad=False)
            real_imgs, labels = lib.tensor(imgs), lib.tensor(labels).long()
            optimizer_G.zero_grad()
            z, gen_labels = lib.tensor(z), lib.tensor(gen_labels).long()
            gen_imgs = G(z, gen_labels)
            validity = D(gen_imgs, gen_labels)
            g_loss = adversarial_loss(validity, valid)
            g_loss.backward()
            optimizer_G.step()
            optimizer_D.zero_grad()
            validity_real = D(real_imgs, labels)
            d_real_loss = adversarial_loss(validity_real, valid)
            validity_fake = D(gen_imgs.detach(), gen_labels)
            d_fake_loss = adversarial_loss(validity_fake, fake)
            d_loss = (d_real_loss + d_fake_loss) / 2
            d_loss.backward()
            optimizer_D.step()
            log += [g_loss.item(), d_loss.item()]
        results[lib] = log, gen_imgs.detach()
    np.testing.assert_allclose(results[mg][0], results[torch][0], **TOL)
    _close("generated images", results[mg][1], results[torch][1])
    _compare_params(mG, tG, "G", grads=True)
    _compare_params(mD, tD, "D", grads=True)
    # dropout as typed (p=0.4) only acts in train mode: eval outputs agree
    torch.manual_seed(2)
    tG, tD = (m.double().eval() for m in cgan_program(torch))
    mD = cgan_program(mg)[1].double().eval()
    mD.load_state_dict(_weights(tD))
    img, lab = rng.uniform(-1, 1, (3, 1, 4, 4)), rng.integers(0, 3, 3)
    _close("eval D with Dropout(0.4)", mD(mg.tensor(img), mg.tensor(lab)), tD(torch.tensor(img), torch.tensor(lab)))


# ---------------------------------------------------------------- 3c/3d. pix2pix (junyanz) and LSGAN
def pix2pix_program(lib):
    torch_, nn = lib, lib.nn

    class GANLoss(nn.Module):
        def __init__(self, gan_mode, target_real_label=1.0, target_fake_label=0.0):
            super().__init__()
            self.register_buffer("real_label", torch_.tensor(target_real_label))
            self.register_buffer("fake_label", torch_.tensor(target_fake_label))
            self.gan_mode = gan_mode
            if gan_mode == "lsgan":
                self.loss = nn.MSELoss()
            elif gan_mode == "vanilla":
                self.loss = nn.BCEWithLogitsLoss()
            else:
                raise NotImplementedError("gan mode %s not implemented" % gan_mode)

        def get_target_tensor(self, prediction, target_is_real):
            target_tensor = self.real_label if target_is_real else self.fake_label
            return target_tensor.expand_as(prediction)

        def __call__(self, prediction, target_is_real):
            target_tensor = self.get_target_tensor(prediction, target_is_real)
            return self.loss(prediction, target_tensor)

    class UnetSkipConnectionBlock(nn.Module):
        def __init__(self, outer_nc, inner_nc, input_nc=None, submodule=None, outermost=False, innermost=False,
                     norm_layer=nn.BatchNorm2d, use_dropout=False):
            super().__init__()
            self.outermost = outermost
            if type(norm_layer) == partial:
                use_bias = norm_layer.func == nn.InstanceNorm2d
            else:
                use_bias = norm_layer == nn.InstanceNorm2d
            if input_nc is None:
                input_nc = outer_nc
            downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            downrelu = nn.LeakyReLU(0.2, True)
            downnorm = norm_layer(inner_nc)
            uprelu = nn.ReLU(True)
            upnorm = norm_layer(outer_nc)
            if outermost:
                upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
                down = [downconv]
                up = [uprelu, upconv, nn.Tanh()]
                model = down + [submodule] + up
            elif innermost:
                upconv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
                down = [downrelu, downconv]
                up = [uprelu, upconv, upnorm]
                model = down + up
            else:
                upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1,
                                            bias=use_bias)
                down = [downrelu, downconv, downnorm]
                up = [uprelu, upconv, upnorm]
                if use_dropout:
                    model = down + [submodule] + up + [nn.Dropout(0.5)]
                else:
                    model = down + [submodule] + up
            self.model = nn.Sequential(*model)

        def forward(self, x):
            if self.outermost:
                return self.model(x)
            # NB: downrelu is in place, so `x` here is already leaky-relu'd (a quirk of the original)
            return torch_.cat([x, self.model(x)], 1)

    class UnetGenerator(nn.Module):
        def __init__(self, input_nc, output_nc, num_downs, ngf=4, norm_layer=nn.BatchNorm2d, use_dropout=False):
            super().__init__()
            unet_block = UnetSkipConnectionBlock(ngf * 4, ngf * 4, input_nc=None, submodule=None,
                                                 norm_layer=norm_layer, innermost=True)
            for _ in range(num_downs - 4):
                unet_block = UnetSkipConnectionBlock(ngf * 4, ngf * 4, input_nc=None, submodule=unet_block,
                                                     norm_layer=norm_layer, use_dropout=use_dropout)
            unet_block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, input_nc=None, submodule=unet_block,
                                                 norm_layer=norm_layer)
            unet_block = UnetSkipConnectionBlock(ngf, ngf * 2, input_nc=None, submodule=unet_block,
                                                 norm_layer=norm_layer)
            self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=unet_block,
                                                 outermost=True, norm_layer=norm_layer)

        def forward(self, input):  # noqa: A002
            return self.model(input)

    class NLayerDiscriminator(nn.Module):
        def __init__(self, input_nc, ndf=4, n_layers=2, norm_layer=nn.BatchNorm2d):
            super().__init__()
            if type(norm_layer) == partial:
                use_bias = norm_layer.func == nn.InstanceNorm2d
            else:
                use_bias = norm_layer == nn.InstanceNorm2d
            kw, padw = 4, 1
            sequence = [nn.Conv2d(input_nc, ndf, kernel_size=kw, stride=2, padding=padw), nn.LeakyReLU(0.2, True)]
            nf_mult = 1
            for n in range(1, n_layers):
                nf_mult_prev, nf_mult = nf_mult, min(2 ** n, 8)
                sequence += [nn.Conv2d(ndf * nf_mult_prev, ndf * nf_mult, kernel_size=kw, stride=2, padding=padw,
                                       bias=use_bias),
                             norm_layer(ndf * nf_mult), nn.LeakyReLU(0.2, True)]
            nf_mult_prev, nf_mult = nf_mult, min(2 ** n_layers, 8)
            sequence += [nn.Conv2d(ndf * nf_mult_prev, ndf * nf_mult, kernel_size=kw, stride=1, padding=padw,
                                   bias=use_bias),
                         norm_layer(ndf * nf_mult), nn.LeakyReLU(0.2, True)]
            sequence += [nn.Conv2d(ndf * nf_mult, 1, kernel_size=kw, stride=1, padding=padw)]
            self.model = nn.Sequential(*sequence)

        def forward(self, input):  # noqa: A002
            return self.model(input)

    def init_weights(net, init_gain=0.02):
        def init_func(m):
            classname = m.__class__.__name__
            if hasattr(m, "weight") and (classname.find("Conv") != -1 or classname.find("Linear") != -1):
                nn.init.normal_(m.weight.data, 0.0, init_gain)
                if hasattr(m, "bias") and m.bias is not None:
                    nn.init.constant_(m.bias.data, 0.0)
            elif classname.find("BatchNorm2d") != -1:
                nn.init.normal_(m.weight.data, 1.0, init_gain)
                nn.init.constant_(m.bias.data, 0.0)
        net.apply(init_func)

    return GANLoss, UnetGenerator, NLayerDiscriminator, init_weights


def test_pix2pix_skip_carries_inplace_leaky_relu():
    """The junyanz block's skip `torch.cat([x, self.model(x)], 1)` concatenates `x` after the block's first
    layer, LeakyReLU(0.2, True), changed it in place: minigrad's inplace=True must really act in place."""
    def build(lib):
        Block = type(pix2pix_program(lib)[1](2, 2, num_downs=4).model)  # UnetSkipConnectionBlock
        return Block(2, 4, submodule=Block(4, 4, innermost=True))

    ours, theirs = _twin(build, seed=11)
    x = np.random.default_rng(14).standard_normal((2, 2, 8, 8))
    out = {}
    for lib, block in ((mg, ours), (torch, theirs)):
        xt = lib.tensor(x, requires_grad=True)
        h = xt * 1.0  # a non-leaf, as inside the generator
        y = block(h)
        y.sum().backward()
        out[lib] = y.detach(), h.detach(), xt.grad
    leaky = np.where(x > 0, x, 0.2 * x)
    np.testing.assert_allclose(to_numpy(out[mg][0])[:, :2], leaky, **TOL)  # the skip half
    np.testing.assert_allclose(to_numpy(out[mg][1]), leaky, **TOL)  # h itself was changed
    for i, what in enumerate(["output", "input after the block", "input grad"]):
        _close(what, out[mg][i], out[torch][i])


def _pix2pix_step(lib, netG, netD, criterionGAN, criterionL1, optimizer_G, optimizer_D, real_A, real_B):
    fake_B = netG(real_A)
    # update D
    _set_requires_grad(netD, True)
    optimizer_D.zero_grad()
    fake_AB = lib.cat((real_A, fake_B), 1)
    pred_fake = netD(fake_AB.detach())
    loss_D_fake = criterionGAN(pred_fake, False)
    real_AB = lib.cat((real_A, real_B), 1)
    pred_real = netD(real_AB)
    loss_D_real = criterionGAN(pred_real, True)
    loss_D = (loss_D_fake + loss_D_real) * 0.5
    loss_D.backward()
    optimizer_D.step()
    # update G
    _set_requires_grad(netD, False)
    optimizer_G.zero_grad()
    fake_AB = lib.cat((real_A, fake_B), 1)
    pred_fake = netD(fake_AB)
    loss_G_GAN = criterionGAN(pred_fake, True)
    loss_G_L1 = criterionL1(fake_B, real_B) * 100.0
    loss_G = loss_G_GAN + loss_G_L1
    loss_G.backward()
    optimizer_G.step()
    return [loss_D.item(), loss_G_GAN.item(), loss_G_L1.item()], fake_B.detach()


@pytest.mark.parametrize("norm,gan_mode", [("batch", "vanilla"), ("instance", "lsgan")])
def test_pix2pix_unet_patchgan(norm, gan_mode):
    def build(lib):
        GANLoss, UnetGenerator, NLayerDiscriminator, init_weights = pix2pix_program(lib)
        nl = (lib.nn.BatchNorm2d if norm == "batch"
              else partial(lib.nn.InstanceNorm2d, affine=False, track_running_stats=False))
        netG = UnetGenerator(2, 2, num_downs=4, ngf=4, norm_layer=nl, use_dropout=False)
        netD = NLayerDiscriminator(4, ndf=4, n_layers=2, norm_layer=nl)
        init_weights(netG)
        init_weights(netD)
        return lib.nn.ModuleDict(dict(G=netG, D=netD, crit=GANLoss(gan_mode)))

    # our init_weights through `.data` really initialises (nn.init accepts the raw array): N(0, 0.02) conv
    # weights (128 draws: sd of the sample std ~ 0.02 / sqrt(256)), zero biases, N(1, 0.02) BatchNorm weights
    mg.manual_seed(30)
    fresh = build(mg)
    w = fresh.G.model.model[0].weight.numpy()
    assert w.size == 128 and abs(w.std() - 0.02) < 0.005
    biased = [m for m in fresh.modules() if "Conv" in type(m).__name__ and m.bias is not None]
    assert biased and all(not m.bias.numpy().any() for m in biased)
    bn = [m for m in fresh.modules() if isinstance(m, mg.nn.BatchNorm2d)]
    assert all(np.abs(m.weight.numpy() - 1).max() < 0.15 and (m.weight.numpy() != 1).any() for m in bn)
    ours, theirs = _twin(build, seed=3)
    rng = np.random.default_rng(7)
    data = [(rng.uniform(-1, 1, (2, 2, 16, 16)), rng.uniform(-1, 1, (2, 2, 16, 16))) for _ in range(2)]
    results = {}
    for lib, m in ((mg, ours), (torch, theirs)):
        opt_G = lib.optim.Adam(m.G.parameters(), lr=2e-3, betas=(0.5, 0.999))
        opt_D = lib.optim.Adam(m.D.parameters(), lr=2e-3, betas=(0.5, 0.999))
        log = []
        for a, b in data:
            losses, fake = _pix2pix_step(lib, m.G, m.D, m.crit, lib.nn.L1Loss(), opt_G, opt_D,
                                         lib.tensor(a), lib.tensor(b))
            log.append((losses, fake))
        results[lib] = log
    for i, ((la, fa), (lb, fb)) in enumerate(zip(results[mg], results[torch])):
        np.testing.assert_allclose(la, lb, err_msg=f"losses step {i}", **TOL)
        _close(f"fake_B step {i}", fa, fb)
    _compare_params(ours.G, theirs.G, "G", grads=True, null=_null_biases(theirs.G))
    _compare_params(ours.D, theirs.D, "D", null=_null_biases(theirs.D))
    assert (norm == "instance") == bool(_null_biases(theirs.G))
    for (name, b) in theirs.named_buffers():
        _close(f"buffer {name}", dict(ours.named_buffers())[name], b)
    assert all(not p.requires_grad for p in ours.D.parameters())  # set_requires_grad(netD, False) stuck


def test_pix2pix_unet_dropout_generator_eval():
    """use_dropout=True (Dropout(0.5) in the middle blocks): the train-mode draws differ between libraries,
    so the deterministic parts are compared: eval outputs, and the train-mode dropout zeroing about half."""
    def build(lib):
        _, UnetGenerator, _, _ = pix2pix_program(lib)
        return UnetGenerator(2, 2, num_downs=5, ngf=4, use_dropout=True)

    ours, theirs = _twin(build, seed=4)
    assert sum(isinstance(m, mg.nn.Dropout) for m in ours.modules()) == 1
    x = np.random.default_rng(8).uniform(-1, 1, (2, 2, 32, 32))
    ours.eval(), theirs.eval()
    _close("eval output", ours(mg.tensor(x)), theirs(torch.tensor(x)))


# ---------------------------------------------------------------- 3e. CycleGAN
def cyclegan_program(lib):
    torch_, nn = lib, lib.nn

    class ResnetBlock(nn.Module):
        def __init__(self, dim, padding_type, norm_layer, use_dropout, use_bias):
            super().__init__()
            conv_block = []
            p = 0
            if padding_type == "reflect":
                conv_block += [nn.ReflectionPad2d(1)]
            elif padding_type == "replicate":
                conv_block += [nn.ReplicationPad2d(1)]
            elif padding_type == "zero":
                p = 1
            conv_block += [nn.Conv2d(dim, dim, kernel_size=3, padding=p, bias=use_bias), norm_layer(dim),
                           nn.ReLU(True)]
            if use_dropout:
                conv_block += [nn.Dropout(0.5)]
            if padding_type == "reflect":
                conv_block += [nn.ReflectionPad2d(1)]
            elif padding_type == "replicate":
                conv_block += [nn.ReplicationPad2d(1)]
            conv_block += [nn.Conv2d(dim, dim, kernel_size=3, padding=p, bias=use_bias), norm_layer(dim)]
            self.conv_block = nn.Sequential(*conv_block)

        def forward(self, x):
            return x + self.conv_block(x)

    class ResnetGenerator(nn.Module):
        def __init__(self, input_nc, output_nc, ngf=4, norm_layer=nn.BatchNorm2d, use_dropout=False, n_blocks=2,
                     padding_type="reflect"):
            super().__init__()
            use_bias = (norm_layer.func == nn.InstanceNorm2d if type(norm_layer) == partial
                        else norm_layer == nn.InstanceNorm2d)
            model = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0, bias=use_bias),
                     norm_layer(ngf), nn.ReLU(True)]
            n_downsampling = 2
            for i in range(n_downsampling):
                mult = 2 ** i
                model += [nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1, bias=use_bias),
                          norm_layer(ngf * mult * 2), nn.ReLU(True)]
            mult = 2 ** n_downsampling
            for i in range(n_blocks):
                model += [ResnetBlock(ngf * mult, padding_type=padding_type, norm_layer=norm_layer,
                                      use_dropout=use_dropout, use_bias=use_bias)]
            for i in range(n_downsampling):
                mult = 2 ** (n_downsampling - i)
                model += [nn.ConvTranspose2d(ngf * mult, int(ngf * mult / 2), kernel_size=3, stride=2, padding=1,
                                             output_padding=1, bias=use_bias),
                          norm_layer(int(ngf * mult / 2)), nn.ReLU(True)]
            model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0), nn.Tanh()]
            self.model = nn.Sequential(*model)

        def forward(self, input):  # noqa: A002
            return self.model(input)

    class ImagePool:
        def __init__(self, pool_size, rnd):
            self.pool_size = pool_size
            self.rnd = rnd  # `random` module in the original; a seeded random.Random shared here
            if self.pool_size > 0:
                self.num_imgs = 0
                self.images = []

        def query(self, images):
            if self.pool_size == 0:
                return images
            return_images = []
            for image in images:
                image = torch_.unsqueeze(image.detach(), 0)  # original: torch.unsqueeze(image.data, 0)
                if self.num_imgs < self.pool_size:
                    self.num_imgs = self.num_imgs + 1
                    self.images.append(image)
                    return_images.append(image)
                else:
                    p = self.rnd.uniform(0, 1)
                    if p > 0.5:
                        random_id = self.rnd.randint(0, self.pool_size - 1)
                        tmp = self.images[random_id].clone()
                        self.images[random_id] = image
                        return_images.append(tmp)
                    else:
                        return_images.append(image)
            return torch_.cat(return_images, 0)

    return ResnetGenerator, ImagePool


def test_cyclegan_resnet_generator_image_pool_cycle_loss():
    def build(lib):
        ResnetGenerator, _ = cyclegan_program(lib)
        nl = partial(lib.nn.InstanceNorm2d, affine=False, track_running_stats=False)
        _, _, NLayerDiscriminator, _ = pix2pix_program(lib)
        return lib.nn.ModuleDict(dict(
            G_A=ResnetGenerator(2, 2, ngf=4, norm_layer=nl, n_blocks=2),
            G_B=ResnetGenerator(2, 2, ngf=4, norm_layer=nl, n_blocks=1, padding_type="replicate"),
            D_A=NLayerDiscriminator(2, ndf=4, n_layers=2, norm_layer=nl),
            D_B=NLayerDiscriminator(2, ndf=4, n_layers=2, norm_layer=nl)))

    ours, theirs = _twin(build, seed=5)
    rng = np.random.default_rng(9)
    data = [(rng.uniform(-1, 1, (2, 2, 16, 16)), rng.uniform(-1, 1, (2, 2, 16, 16))) for _ in range(3)]
    # the original `torch.unsqueeze(image.data, 0)` gets a clear TypeError here (README: `.data` is raw)
    with pytest.raises(TypeError, match=r"unsqueeze.*detach"):
        mg.unsqueeze(mg.tensor(data[0][0]).data, 0)
    results = {}
    for lib, m in ((mg, ours), (torch, theirs)):
        GANLoss = pix2pix_program(lib)[0]
        _, ImagePool = cyclegan_program(lib)
        rnd = random.Random(0)  # the same pool decisions in both libraries
        fake_A_pool, fake_B_pool = ImagePool(2, rnd), ImagePool(2, rnd)
        # GANLoss(...).to(device) in the original; its float32 label buffers must follow the float64 model
        # here: minigrad refuses float64 predictions against float32 targets (README: no mixing; torch's
        # mse_loss promotes)
        criterionGAN = GANLoss("lsgan")
        if lib is mg:
            with pytest.raises(TypeError, match=r"mse_loss: dtype mismatch: float64.*float32"):
                criterionGAN(m.D_A(lib.tensor(data[0][0])), True)
        criterionGAN, criterionCycle, criterionIdt = criterionGAN.double(), lib.nn.L1Loss(), lib.nn.L1Loss()
        import itertools
        optimizer_G = lib.optim.Adam(itertools.chain(m.G_A.parameters(), m.G_B.parameters()), lr=2e-3,
                                     betas=(0.5, 0.999))
        optimizer_D = lib.optim.Adam(itertools.chain(m.D_A.parameters(), m.D_B.parameters()), lr=2e-3,
                                     betas=(0.5, 0.999))
        lambda_A = lambda_B = 10.0
        lambda_idt = 0.5
        log = []
        for a, b in data:
            real_A, real_B = lib.tensor(a), lib.tensor(b)
            fake_B = m.G_A(real_A)
            rec_A = m.G_B(fake_B)
            fake_A = m.G_B(real_B)
            rec_B = m.G_A(fake_A)
            # G_A and G_B
            _set_requires_grad([m.D_A, m.D_B], False)
            optimizer_G.zero_grad()
            idt_A = m.G_A(real_B)
            loss_idt_A = criterionIdt(idt_A, real_B) * lambda_B * lambda_idt
            idt_B = m.G_B(real_A)
            loss_idt_B = criterionIdt(idt_B, real_A) * lambda_A * lambda_idt
            loss_G_A = criterionGAN(m.D_A(fake_B), True)
            loss_G_B = criterionGAN(m.D_B(fake_A), True)
            loss_cycle_A = criterionCycle(rec_A, real_A) * lambda_A
            loss_cycle_B = criterionCycle(rec_B, real_B) * lambda_B
            loss_G = loss_G_A + loss_G_B + loss_cycle_A + loss_cycle_B + loss_idt_A + loss_idt_B
            loss_G.backward()
            optimizer_G.step()
            # D_A and D_B
            _set_requires_grad([m.D_A, m.D_B], True)
            optimizer_D.zero_grad()

            def backward_D_basic(netD, real, fake):
                pred_real = netD(real)
                loss_D_real = criterionGAN(pred_real, True)
                pred_fake = netD(fake.detach())
                loss_D_fake = criterionGAN(pred_fake, False)
                loss_D = (loss_D_real + loss_D_fake) * 0.5
                loss_D.backward()
                return loss_D

            pooled_B = fake_B_pool.query(fake_B)
            loss_D_A = backward_D_basic(m.D_A, real_B, pooled_B)
            pooled_A = fake_A_pool.query(fake_A)
            loss_D_B = backward_D_basic(m.D_B, real_A, pooled_A)
            optimizer_D.step()
            log.append(([loss_G.item(), loss_cycle_A.item(), loss_idt_B.item(), loss_D_A.item(), loss_D_B.item()],
                        pooled_B.detach(), pooled_A.detach(), fake_B.detach()))
        results[lib] = log, len(fake_B_pool.images)
    assert results[mg][1] == results[torch][1] == 2
    # the pool really swapped: some image D_A saw was an older fake, not this step's
    assert any(not np.allclose(x[1].numpy(), x[3].numpy()) for x in results[mg][0][1:])
    for i, (x, y) in enumerate(zip(results[mg][0], results[torch][0])):
        np.testing.assert_allclose(x[0], y[0], err_msg=f"losses step {i}", **TOL)
        _close(f"pooled fake_B step {i}", x[1], y[1])
        _close(f"pooled fake_A step {i}", x[2], y[2])
    for k in ("G_A", "G_B", "D_A", "D_B"):
        _compare_params(ours[k], theirs[k], k, null=_null_biases(theirs[k]))


# ---------------------------------------------------------------- 3f. spectral norm (SNGAN discriminator)
def sn_program(lib, parametrization):
    nn = lib.nn
    SN = nn.utils.parametrizations.spectral_norm if parametrization else nn.utils.spectral_norm

    class SNDiscriminator(nn.Module):
        def __init__(self):
            super().__init__()
            self.main = nn.Sequential(
                SN(nn.Conv2d(1, 4, 3, 2, 1)), nn.LeakyReLU(0.1),
                SN(nn.Conv2d(4, 8, 3, 2, 1)), nn.LeakyReLU(0.1))
            self.fc = SN(nn.Linear(8 * 2 * 2, 1))

        def forward(self, x):
            return self.fc(self.main(x).flatten(1))

    return SNDiscriminator()


@pytest.mark.parametrize("parametrization", [False, True])
def test_spectral_norm_discriminator_hinge_loss(parametrization):
    ours, theirs = _twin(lambda lib: sn_program(lib, parametrization), seed=6)
    rng = np.random.default_rng(10)
    batches = [(rng.standard_normal((3, 1, 8, 8)), rng.standard_normal((3, 1, 8, 8))) for _ in range(3)]
    results = {}
    for lib, D in ((mg, ours), (torch, theirs)):
        D.train()  # power iteration runs (and updates u, v) on every training forward
        opt = lib.optim.Adam(D.parameters(), lr=1e-2, betas=(0.0, 0.9))
        log = []
        for real, fake in batches:
            opt.zero_grad()
            # hinge loss (SNGAN / BigGAN)
            loss = lib.relu(1.0 - D(lib.tensor(real))).mean() + lib.relu(1.0 + D(lib.tensor(fake))).mean()
            loss.backward()
            opt.step()
            log.append(loss.item())
        D.eval()
        with lib.no_grad():
            log.append(D(lib.tensor(batches[0][0])).sum().item())
        results[lib] = log
    np.testing.assert_allclose(results[mg], results[torch], **TOL)
    _compare_params(ours, theirs, "SN D")
    mine = dict(ours.state_dict())
    for name, v in theirs.state_dict().items():
        _close(f"state {name}", mine[name], v)
    w = ours.fc.weight
    assert abs(np.linalg.svd(w.detach().numpy(), compute_uv=False)[0] - 1.0) < 0.05  # sigma(W/sigma) ~ 1


def biggan_program(lib, parametrization, n_classes=3, nz=4, ch=4):
    torch_, nn, F = lib, lib.nn, lib.nn.functional
    SN = nn.utils.parametrizations.spectral_norm if parametrization else nn.utils.spectral_norm

    class ConditionalBatchNorm2d(nn.Module):
        def __init__(self, num_features, num_classes):
            super().__init__()
            self.num_features = num_features
            self.bn = nn.BatchNorm2d(num_features, affine=False)
            self.embed = nn.Embedding(num_classes, num_features * 2)
            # self.embed.weight.data[:, :num_features].normal_(1, 0.02) in the original (README: raw array)
            nn.init.normal_(self.embed.weight.data[:, :num_features], 1, 0.02)
            nn.init.zeros_(self.embed.weight.data[:, num_features:])

        def forward(self, x, y):
            out = self.bn(x)
            gamma, beta = self.embed(y).chunk(2, 1)
            return gamma.view(-1, self.num_features, 1, 1) * out + beta.view(-1, self.num_features, 1, 1)

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = SN(nn.Linear(nz, ch * 2 * 2 * 2))
            self.up = SN(nn.ConvTranspose2d(ch * 2, ch, 4, 2, 1))
            self.cbn = ConditionalBatchNorm2d(ch, n_classes)
            self.out = SN(nn.Conv2d(ch, 1, 3, 1, 1))

        def forward(self, z, y):
            h = self.fc(z).view(-1, ch * 2, 2, 2)
            h = F.relu(self.cbn(self.up(h), y))
            return torch_.tanh(self.out(h))

    class ProjectionDiscriminator(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = SN(nn.Conv2d(1, ch, 3, 2, 1))
            self.l_out = SN(nn.Linear(ch, 1))
            self.l_y = SN(nn.Embedding(n_classes, ch))

        def forward(self, x, y):
            h = torch_.sum(F.leaky_relu(self.conv(x), 0.2), dim=(2, 3))  # global sum pooling
            output = self.l_out(h)
            return output + torch_.sum(self.l_y(y) * h, dim=1, keepdim=True)

    return nn.ModuleDict(dict(G=Generator(), D=ProjectionDiscriminator()))


@pytest.mark.parametrize("parametrization", [False, True])
def test_sngan_conditional_bn_projection_discriminator(parametrization):
    ours, theirs = _twin(lambda lib: biggan_program(lib, parametrization), seed=14)
    rng = np.random.default_rng(17)
    batches = [(rng.uniform(-1, 1, (3, 1, 4, 4)), rng.integers(0, 3, 3), rng.standard_normal((3, 4)),
                rng.integers(0, 3, 3)) for _ in range(2)]
    results = {}
    for lib, m in ((mg, ours), (torch, theirs)):
        F = lib.nn.functional
        opt_G = lib.optim.Adam(m.G.parameters(), lr=2e-3, betas=(0.0, 0.9))
        opt_D = lib.optim.Adam(m.D.parameters(), lr=2e-3, betas=(0.0, 0.9))
        log = []
        for real, y, z, y_fake in batches:
            real, y, z, y_fake = lib.tensor(real), lib.tensor(y).long(), lib.tensor(z), lib.tensor(y_fake).long()
            opt_D.zero_grad()
            fake = m.G(z, y_fake)
            # non-saturating logistic loss (StyleGAN's softplus form)
            loss_D = F.softplus(-m.D(real, y)).mean() + F.softplus(m.D(fake.detach(), y_fake)).mean()
            loss_D.backward()
            opt_D.step()
            opt_G.zero_grad()
            loss_G = F.softplus(-m.D(fake, y_fake)).mean()
            loss_G.backward()
            opt_G.step()
            log += [loss_D.item(), loss_G.item()]
        m.eval()
        with lib.no_grad():
            log.append(m.G(lib.tensor(batches[0][2]), lib.tensor(batches[0][3]).long()).sum().item())
        results[lib] = log
    np.testing.assert_allclose(results[mg], results[torch], **TOL)
    mine = dict(ours.state_dict())
    for name, v in theirs.state_dict().items():
        _close(f"state {name}", mine[name], v)
    # the conditional BN embedding was initialised through `.data` slices (nn.init accepts raw arrays)
    mg.manual_seed(15)
    e = biggan_program(mg, parametrization).G.cbn.embed.weight.numpy()
    assert np.abs(e[:, :4] - 1).max() < 0.15 and (e[:, :4] != 1).any() and not e[:, 4:].any()


# ---------------------------------------------------------------- 3g. WGAN-GP gradient penalty
def test_wgan_gp_gradient_penalty_needs_double_backward():
    def compute_gradient_penalty(lib, D, real_samples, fake_samples, alpha, create_graph=True):
        interpolates = (alpha * real_samples + ((1 - alpha) * fake_samples)).requires_grad_(True)
        d_interpolates = D(interpolates)
        fake = lib.ones(real_samples.shape[0], 1, dtype=lib.float64, requires_grad=False)
        gradients = lib.autograd.grad(outputs=d_interpolates, inputs=interpolates, grad_outputs=fake,
                                      create_graph=create_graph, retain_graph=True, only_inputs=True)[0]
        gradients = gradients.view(gradients.size(0), -1)
        return ((gradients.norm(2, dim=1) - 1) ** 2).mean()

    torch.manual_seed(7)
    _, tD = (m.double() for m in wgan_program(torch))
    mD = wgan_program(mg)[1].double()
    mD.load_state_dict(_weights(tD))
    rng = np.random.default_rng(11)
    real, fake, alpha = rng.standard_normal((4, 1, 4, 4)), rng.standard_normal((4, 1, 4, 4)), rng.random((4, 1, 1, 1))
    args = lambda lib: (lib.tensor(real), lib.tensor(fake), lib.tensor(alpha))  # noqa: E731
    # the program as typed: create_graph=True, then backward through the penalty; minigrad has no double
    # backward (README) and says so, naming what is missing
    with pytest.raises(NotImplementedError, match=r"create_graph=True.*double backward"):
        compute_gradient_penalty(mg, mD, *args(mg))
    # the penalty's value itself (no graph through it) matches torch's
    ours = compute_gradient_penalty(mg, mD, *args(mg), create_graph=False)
    theirs = compute_gradient_penalty(torch, tD, *args(torch), create_graph=False)
    _close("gradient penalty value", ours, theirs)
    tgp = compute_gradient_penalty(torch, tD, *args(torch))
    tgp.backward()  # torch differentiates it; minigrad cannot (documented)
    assert next(tD.parameters()).grad is not None
