"""Porting audit: two compact modern-LLM model files, run in torch and in minigrad.

(1) Karpathy's llama2.c `model.py`: ModelArgs, RMSNorm (computed in `x.float()`, cast back with `type_as`),
precompute_freqs_cis (cos and sin tables), reshape_for_broadcast, apply_rotary_emb (real-arithmetic RoPE
through `reshape(... + (-1, 2)).unbind(-1)` / `stack(...).flatten(3)`), repeat_kv (grouped-query attention by
`x[:, :, :, None, :].expand(...).reshape(...)`), Attention with the flash path
(`F.scaled_dot_product_attention(..., is_causal=True)`) and the manual path (a registered `-inf` triu mask
buffer, `softmax(scores.float()).type_as(xq)`), SwiGLU FeedForward with `multiple_of` rounding,
TransformerBlock, Transformer (tied `tok_embeddings.weight = output.weight`, non-persistent RoPE buffers,
`_init_weights` plus the scaled init of `w3`/`wo`, `last_loss` with `ignore_index=-1`, inference on
`h[:, [-1], :]`), configure_optimizers (decay groups by `p.dim() >= 2`, the `inspect` check for a fused
AdamW), estimate_mfu and generate (`@torch.inference_mode()`, temperature 0 through `topk(k=1)`, top-k
filtering by a boolean-mask write, multinomial); train.py's loop (cosine lr with warm-up written into
param_groups, gradient accumulation, GradScaler(enabled=False), clipping).

(2) johnma2006's mamba-minimal `model.py`, with its einops calls written as torch (`transpose`, `repeat`,
`torch.einsum`): ModelArgs (`d_inner`, `dt_rank='auto'`, vocab padding), RMSNorm, ResidualBlock, MambaBlock
(in_proj to 2*d_inner, `split(split_size=...)`, depthwise causal Conv1d trimmed to `[:, :, :l]`, SiLU gate,
ssm with `A = -exp(A_log.float())`, softplus'd delta, the sequential selective scan), tied lm_head, plus the
official Mamba init of A_log (`arange(1, n+1)` repeated) and of dt_proj (uniform weight, bias = inverse
softplus of a log-uniform dt), and demo.py's generate (argmax, top-k renormalisation, multinomial).

Each program is written once as a function of a library namespace called `torch` (torch or minigrad), which
is what a port by changing imports does. Tiny configs and generated token ids. Both runs start from torch's
weights (state_dict loaded into ours).

Dtypes, as the programs are written. Both files contain `.float()` casts meant as "at least float32".
* float32 (as written): everything stays float32 in both libraries; compared at float32's rounding.
* default dtype float64, as written: llama2.c's RMSNorm, RoPE (its cos/sin tables are built with `.float()`)
  and manual softmax run in float32 islands and are cast back by `type_as`; both libraries do exactly the
  same, so they agree at float32's rounding, and every gradient is float64 where its parameter is. mamba-minimal's
  `A_log.float()` there makes `einsum('bld,dn->bldn', float64 delta, float32 A)`: torch promotes it to float64
  (an einsum with a contraction it would refuse), minigrad refuses it (TypeError naming einsum and both dtypes).
* `model.double()` after building (the buffers become float64): torch promotes llama2.c's
  `xq.float() * freqs_cos` (float32 * float64) to float64 silently; minigrad refuses float32/float64 mixing
  by design (README), with a TypeError that names the op and both dtypes. Intended, documented difference.
* the float64 port: the same code with the `.float()` casts dropped (the one change a float64 port needs;
  `type_as` then is a no-op). Everything is compared with torch at rtol 1e-7: logits, losses, every gradient
  (tied weights included), parameters after AdamW steps, greedy generation; flash and manual attention agree.

Sampling: torch.multinomial and minigrad's draw from different generators, so sampled generation is compared
through an inverse-CDF draw from uniforms shared by both runs (the program text is unchanged), and greedy
paths (temperature 0, top_k=1, argmax) directly.

Found while porting and fixed (each has a focused test here):
* `x_and_res.split(split_size=[d_in, d_in], dim=-1)` (mamba-minimal; torch's Tensor.split keyword is
  `split_size`) was a TypeError: minigrad's Tensor.split called it `split_size_or_sections` (torch.split's
  name). Tensor.split now takes torch's `split_size`.
"""
import inspect
import io
import math
import struct
from dataclasses import dataclass
from typing import Optional, Tuple, Union

import numpy as np
import pytest

import minigrad as mg
from porting import closer, to_numpy

torch = pytest.importorskip("torch")

TOL = dict(rtol=1e-7, atol=1e-10)
TOL32 = dict(rtol=2e-5, atol=2e-6)  # float32 arithmetic on both sides: summation orders differ (BLAS)


@pytest.fixture(autouse=True)
def _float64_defaults():
    """float64 parameters and factories in both libraries (the programs call zeros/ones/arange plainly)."""
    old_t, old_m, n = torch.get_default_dtype(), mg.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)
    mg.set_default_dtype(mg.float64)
    torch.set_num_threads(1)
    yield
    torch.set_default_dtype(old_t)
    mg.set_default_dtype(old_m)
    torch.set_num_threads(n)


@pytest.fixture
def float32_defaults():
    torch.set_default_dtype(torch.float32)
    mg.set_default_dtype(mg.float32)


# ---------------------------------------------------------------- helpers
_np = to_numpy
_close = closer(TOL)


def _copy_weights(theirs, ours):
    """torch's state dict (parameters and persistent buffers, both names of a tied weight) into ours."""
    sd = {k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()}
    missing, unexpected = ours.load_state_dict(sd)
    assert not missing and not unexpected


def _same_grads(ours, theirs, **tol):
    named_t, named_m = list(theirs.named_parameters()), list(ours.named_parameters())
    assert [k for k, _ in named_m] == [k for k, _ in named_t]
    for (k, p), (_, q) in zip(named_m, named_t):
        assert (p.grad is None) == (q.grad is None), k
        if p.grad is not None:
            _close(f"{k}.grad", p.grad, q.grad, **tol)


def _same_state(ours, theirs, **tol):
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)
    for k in a:
        _close(k, a[k], b[k], **tol)


class SharedSampling:
    """The library as the program sees it, with `multinomial` an inverse-CDF draw from shared uniforms."""

    def __init__(self, lib, uniforms):
        self._lib, self._u, self.probs = lib, iter(uniforms), []

    def __getattr__(self, name):
        return getattr(self._lib, name)

    def multinomial(self, probs, num_samples, generator=None):
        assert num_samples == 1
        self.probs.append(_np(probs).copy())
        u = self._lib.tensor(next(self._u)[:, None], dtype=probs.dtype)
        cdf = probs.cumsum(-1) / probs.sum(-1, keepdim=True)
        idx = (cdf < u).sum(-1, keepdim=True)
        return idx.clamp(max=probs.shape[-1] - 1)


def _scramble(theirs, ours, seed, std=0.5):
    """Larger random matrices (same in both): a freshly initialised tied model at std 0.02 only repeats its
    last token greedily, which would make generation comparisons trivial."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for k, p in theirs.named_parameters():
            if p.dim() >= 2 and "conv1d" not in k:
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * std)
    _copy_weights(theirs, ours)


def _tokens(lib, shape, vocab, seed, ignore=0):
    """Generated token ids (a noisy 'count by 3' pattern); `ignore` targets set to -1 (llama2.c's padding)."""
    rng = np.random.default_rng(seed)
    b, t = shape
    start = rng.integers(vocab, size=(b, 1))
    ids = (start + 3 * np.arange(t + 1)[None]) % vocab
    noise = rng.random(ids.shape) < 0.2
    ids = np.where(noise, rng.integers(vocab, size=ids.shape), ids)
    x, y = ids[:, :-1].copy(), ids[:, 1:].copy()
    if ignore:
        y.reshape(-1)[rng.choice(y.size, ignore, replace=False)] = -1
    return lib.tensor(x, dtype=lib.long), lib.tensor(y, dtype=lib.long)


# ================================================================ 1. llama2.c model.py
def build_llama(torch, as_written=True, force_manual=False):
    """llama2.c's model.py as typed. `as_written=False` is the float64 port: the `.float()` casts dropped.
    `force_manual` takes the slow attention path (what a torch without sdpa would run)."""
    nn = torch.nn
    F = torch.nn.functional
    up = (lambda t: t.float()) if as_written else (lambda t: t)

    @dataclass
    class ModelArgs:
        # default hyperparameters for the Llama 7B model
        dim: int = 4096
        n_layers: int = 32
        n_heads: int = 32
        n_kv_heads: Optional[int] = None
        vocab_size: int = 32000
        hidden_dim: Optional[int] = None
        multiple_of: int = 256  # MLP hidden layer size will be multiple of
        norm_eps: float = 1e-5
        max_seq_len: int = 2048
        dropout: float = 0.0

    class RMSNorm(torch.nn.Module):
        def __init__(self, dim: int, eps: float):
            super().__init__()
            self.eps = eps
            self.weight = nn.Parameter(torch.ones(dim))

        def _norm(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)

        def forward(self, x):
            output = self._norm(up(x)).type_as(x)
            return output * self.weight

    def precompute_freqs_cis(dim: int, end: int, theta: float = 10000.0):
        freqs = 1.0 / (theta ** (up(torch.arange(0, dim, 2)[: (dim // 2)]) / dim))
        t = torch.arange(end, device=freqs.device)
        freqs = up(torch.outer(t, freqs))
        freqs_cos = torch.cos(freqs)  # real part
        freqs_sin = torch.sin(freqs)  # imaginary part
        return freqs_cos, freqs_sin

    def reshape_for_broadcast(freqs_cis, x):
        ndim = x.ndim
        assert 0 <= 1 < ndim
        assert freqs_cis.shape == (x.shape[1], x.shape[-1])
        shape = [d if i == 1 or i == ndim - 1 else 1 for i, d in enumerate(x.shape)]
        return freqs_cis.view(shape)

    def apply_rotary_emb(xq, xk, freqs_cos, freqs_sin) -> Tuple:
        # reshape xq and xk to match the complex representation
        xq_r, xq_i = up(xq).reshape(xq.shape[:-1] + (-1, 2)).unbind(-1)
        xk_r, xk_i = up(xk).reshape(xk.shape[:-1] + (-1, 2)).unbind(-1)

        # reshape freqs_cos and freqs_sin for broadcasting
        freqs_cos = reshape_for_broadcast(freqs_cos, xq_r)
        freqs_sin = reshape_for_broadcast(freqs_sin, xq_r)

        # apply rotation using real numbers
        xq_out_r = xq_r * freqs_cos - xq_i * freqs_sin
        xq_out_i = xq_r * freqs_sin + xq_i * freqs_cos
        xk_out_r = xk_r * freqs_cos - xk_i * freqs_sin
        xk_out_i = xk_r * freqs_sin + xk_i * freqs_cos

        # flatten last two dimensions
        xq_out = torch.stack([xq_out_r, xq_out_i], dim=-1).flatten(3)
        xk_out = torch.stack([xk_out_r, xk_out_i], dim=-1).flatten(3)

        return xq_out.type_as(xq), xk_out.type_as(xk)

    def repeat_kv(x, n_rep: int):
        """torch.repeat_interleave(x, dim=2, repeats=n_rep)"""
        bs, slen, n_kv_heads, head_dim = x.shape
        if n_rep == 1:
            return x
        return (
            x[:, :, :, None, :]
            .expand(bs, slen, n_kv_heads, n_rep, head_dim)
            .reshape(bs, slen, n_kv_heads * n_rep, head_dim)
        )

    class Attention(nn.Module):
        def __init__(self, args: ModelArgs):
            super().__init__()
            self.n_kv_heads = args.n_heads if args.n_kv_heads is None else args.n_kv_heads
            assert args.n_heads % self.n_kv_heads == 0
            model_parallel_size = 1
            self.n_local_heads = args.n_heads // model_parallel_size
            self.n_local_kv_heads = self.n_kv_heads // model_parallel_size
            self.n_rep = self.n_local_heads // self.n_local_kv_heads
            self.head_dim = args.dim // args.n_heads
            self.wq = nn.Linear(args.dim, args.n_heads * self.head_dim, bias=False)
            self.wk = nn.Linear(args.dim, self.n_kv_heads * self.head_dim, bias=False)
            self.wv = nn.Linear(args.dim, self.n_kv_heads * self.head_dim, bias=False)
            self.wo = nn.Linear(args.n_heads * self.head_dim, args.dim, bias=False)
            self.attn_dropout = nn.Dropout(args.dropout)
            self.resid_dropout = nn.Dropout(args.dropout)
            self.dropout = args.dropout

            # use flash attention or a manual implementation?
            self.flash = hasattr(torch.nn.functional, 'scaled_dot_product_attention') and not force_manual
            if not self.flash:
                mask = torch.full((1, 1, args.max_seq_len, args.max_seq_len), float("-inf"))
                mask = torch.triu(mask, diagonal=1)
                self.register_buffer("mask", mask)

        def forward(self, x, freqs_cos, freqs_sin):
            bsz, seqlen, _ = x.shape

            # QKV
            xq, xk, xv = self.wq(x), self.wk(x), self.wv(x)
            xq = xq.view(bsz, seqlen, self.n_local_heads, self.head_dim)
            xk = xk.view(bsz, seqlen, self.n_local_kv_heads, self.head_dim)
            xv = xv.view(bsz, seqlen, self.n_local_kv_heads, self.head_dim)

            # RoPE relative positional embeddings
            xq, xk = apply_rotary_emb(xq, xk, freqs_cos, freqs_sin)

            # grouped multiquery attention: expand out keys and values
            xk = repeat_kv(xk, self.n_rep)  # (bs, seqlen, n_local_heads, head_dim)
            xv = repeat_kv(xv, self.n_rep)  # (bs, seqlen, n_local_heads, head_dim)

            # make heads into a batch dimension
            xq = xq.transpose(1, 2)  # (bs, n_local_heads, seqlen, head_dim)
            xk = xk.transpose(1, 2)
            xv = xv.transpose(1, 2)

            # flash implementation
            if self.flash:
                output = torch.nn.functional.scaled_dot_product_attention(
                    xq, xk, xv, attn_mask=None, dropout_p=self.dropout if self.training else 0.0, is_causal=True)
            else:
                # manual implementation
                scores = torch.matmul(xq, xk.transpose(2, 3)) / math.sqrt(self.head_dim)
                assert hasattr(self, 'mask')
                scores = scores + self.mask[:, :, :seqlen, :seqlen]  # (bs, n_local_heads, seqlen, cache_len + seqlen)
                scores = F.softmax(up(scores), dim=-1).type_as(xq)
                scores = self.attn_dropout(scores)
                output = torch.matmul(scores, xv)  # (bs, n_local_heads, seqlen, head_dim)

            # restore time as batch dimension and concat heads
            output = output.transpose(1, 2).contiguous().view(bsz, seqlen, -1)

            # final projection into the residual stream
            output = self.wo(output)
            output = self.resid_dropout(output)
            return output

    class FeedForward(nn.Module):
        def __init__(self, dim: int, hidden_dim: int, multiple_of: int, dropout: float):
            super().__init__()
            if hidden_dim is None:
                hidden_dim = 4 * dim
                hidden_dim = int(2 * hidden_dim / 3)
                hidden_dim = multiple_of * ((hidden_dim + multiple_of - 1) // multiple_of)
            self.w1 = nn.Linear(dim, hidden_dim, bias=False)
            self.w2 = nn.Linear(hidden_dim, dim, bias=False)
            self.w3 = nn.Linear(dim, hidden_dim, bias=False)
            self.dropout = nn.Dropout(dropout)

        def forward(self, x):
            return self.dropout(self.w2(F.silu(self.w1(x)) * self.w3(x)))

    class TransformerBlock(nn.Module):
        def __init__(self, layer_id: int, args: ModelArgs):
            super().__init__()
            self.n_heads = args.n_heads
            self.dim = args.dim
            self.head_dim = args.dim // args.n_heads
            self.attention = Attention(args)
            self.feed_forward = FeedForward(
                dim=args.dim,
                hidden_dim=args.hidden_dim,
                multiple_of=args.multiple_of,
                dropout=args.dropout,
            )
            self.layer_id = layer_id
            self.attention_norm = RMSNorm(args.dim, eps=args.norm_eps)
            self.ffn_norm = RMSNorm(args.dim, eps=args.norm_eps)

        def forward(self, x, freqs_cos, freqs_sin):
            h = x + self.attention.forward(self.attention_norm(x), freqs_cos, freqs_sin)
            out = h + self.feed_forward.forward(self.ffn_norm(h))
            return out

    class Transformer(nn.Module):
        last_loss: Optional[torch.Tensor]

        def __init__(self, params: ModelArgs):
            super().__init__()
            self.params = params
            self.vocab_size = params.vocab_size
            self.n_layers = params.n_layers

            self.tok_embeddings = nn.Embedding(params.vocab_size, params.dim)
            self.dropout = nn.Dropout(params.dropout)
            self.layers = torch.nn.ModuleList()
            for layer_id in range(params.n_layers):
                self.layers.append(TransformerBlock(layer_id, params))
            self.norm = RMSNorm(params.dim, eps=params.norm_eps)
            self.output = nn.Linear(params.dim, params.vocab_size, bias=False)

            # share the unembedding parameters with the embedding parameters
            self.tok_embeddings.weight = self.output.weight  # https://paperswithcode.com/method/weight-tying

            # some useful precompute for the RoPE relative positional embeddings
            freqs_cos, freqs_sin = precompute_freqs_cis(self.params.dim // self.params.n_heads, self.params.max_seq_len)
            self.register_buffer("freqs_cos", freqs_cos, persistent=False)
            self.register_buffer("freqs_sin", freqs_sin, persistent=False)

            # init all weights
            self.apply(self._init_weights)
            # apply special scaled init to the residual projections, per GPT-2 paper
            for pn, p in self.named_parameters():
                if pn.endswith('w3.weight') or pn.endswith('wo.weight'):
                    torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * params.n_layers))

            # Initialize attribute for the loss of the last forward call.
            self.last_loss = None

        def _init_weights(self, module):
            if isinstance(module, nn.Linear):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if module.bias is not None:
                    torch.nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

        def forward(self, tokens, targets=None):
            _bsz, seqlen = tokens.shape
            h = self.tok_embeddings(tokens)
            h = self.dropout(h)
            freqs_cos = self.freqs_cos[:seqlen]
            freqs_sin = self.freqs_sin[:seqlen]

            for layer in self.layers:
                h = layer(h, freqs_cos, freqs_sin)
            h = self.norm(h)

            if targets is not None:
                # if we are given some desired targets also calculate the loss
                logits = self.output(h)
                self.last_loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
            else:
                # inference-time mini-optimization: only forward the output on the very last position
                logits = self.output(h[:, [-1], :])  # note: using list [-1] to preserve the time dim
                self.last_loss = None

            return logits

        def configure_optimizers(self, weight_decay, learning_rate, betas, device_type):
            # start with all of the candidate parameters
            param_dict = {pn: p for pn, p in self.named_parameters()}
            # filter out those that do not require grad
            param_dict = {pn: p for pn, p in param_dict.items() if p.requires_grad}
            # create optim groups. Any parameters that is 2D will be weight decayed, otherwise no.
            decay_params = [p for n, p in param_dict.items() if p.dim() >= 2]
            nodecay_params = [p for n, p in param_dict.items() if p.dim() < 2]
            optim_groups = [
                {'params': decay_params, 'weight_decay': weight_decay},
                {'params': nodecay_params, 'weight_decay': 0.0}
            ]
            num_decay_params = sum(p.numel() for p in decay_params)
            num_nodecay_params = sum(p.numel() for p in nodecay_params)
            self.report = (len(decay_params), num_decay_params, len(nodecay_params), num_nodecay_params)
            # Create AdamW optimizer and use the fused version if it is available
            fused_available = 'fused' in inspect.signature(torch.optim.AdamW).parameters
            use_fused = fused_available and device_type == 'cuda'
            extra_args = dict(fused=True) if use_fused else dict()
            optimizer = torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas, **extra_args)
            self.use_fused = (fused_available, use_fused)
            return optimizer

        def estimate_mfu(self, fwdbwd_per_iter, dt):
            """ estimate model flops utilization (MFU) in units of A100 bfloat16 peak FLOPS """
            N = sum(p.numel() for p in self.parameters())
            cfg = self.params
            L, H, Q, T = cfg.n_layers, cfg.n_heads, cfg.dim // cfg.n_heads, cfg.max_seq_len
            flops_per_token = 6 * N + 12 * L * H * Q * T
            flops_per_fwdbwd = flops_per_token * T
            flops_per_iter = flops_per_fwdbwd * fwdbwd_per_iter
            flops_achieved = flops_per_iter * (1.0 / dt)  # per second
            flops_promised = 312e12  # A100 GPU bfloat16 peak flops is 312 TFLOPS
            mfu = flops_achieved / flops_promised
            return mfu

        @torch.inference_mode()
        def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None):
            for _ in range(max_new_tokens):
                # if the sequence context is growing too long we must crop it at block_size
                idx_cond = idx if idx.size(1) <= self.params.max_seq_len else idx[:, -self.params.max_seq_len:]
                # forward the model to get the logits for the index in the sequence
                logits = self(idx_cond)
                logits = logits[:, -1, :]  # crop to just the logits at the final step
                if temperature == 0.0:
                    # "sample" the single most likely index
                    _, idx_next = torch.topk(logits, k=1, dim=-1)
                else:
                    # pluck the logits at the final step and scale by desired temperature
                    logits = logits / temperature
                    # optionally crop the logits to only the top k options
                    if top_k is not None:
                        v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                        logits[logits < v[:, [-1]]] = -float('Inf')
                    # apply softmax to convert logits to (normalized) probabilities
                    probs = F.softmax(logits, dim=-1)
                    idx_next = torch.multinomial(probs, num_samples=1)
                # append sampled index to the running sequence and continue
                idx = torch.cat((idx, idx_next), dim=1)

            return idx

    return dict(ModelArgs=ModelArgs, Transformer=Transformer, RMSNorm=RMSNorm,
                precompute_freqs_cis=precompute_freqs_cis, apply_rotary_emb=apply_rotary_emb, repeat_kv=repeat_kv)


LLAMA_CFG = dict(dim=16, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=11, multiple_of=8, max_seq_len=8,
                 dropout=0.0)


def _llama_pair(as_written=True, force_manual=False, seed=0, **over):
    cfg = {**LLAMA_CFG, **over}
    t, m = build_llama(torch, as_written, force_manual), build_llama(mg, as_written, force_manual)
    torch.manual_seed(seed)
    mg.manual_seed(seed)
    theirs = t["Transformer"](t["ModelArgs"](**cfg))
    ours = m["Transformer"](m["ModelArgs"](**cfg))
    _copy_weights(theirs, ours)
    return theirs, ours


def test_llama_structure_init_and_buffers():
    """Parameter names/shapes, tying, non-persistent RoPE buffers, the scaled init and SwiGLU's hidden size."""
    theirs, ours = _llama_pair()
    m = build_llama(mg)
    mg.manual_seed(1)
    fresh = m["Transformer"](m["ModelArgs"](**LLAMA_CFG))
    # hidden_dim: 4*16 = 64 -> int(2*64/3) = 42 -> rounded up to a multiple of 8 = 48
    assert tuple(fresh.layers[0].feed_forward.w1.weight.shape) == (48, 16)
    # the tie: one Parameter under two names; named_parameters lists it once, state_dict twice
    assert fresh.tok_embeddings.weight is fresh.output.weight
    assert [k for k, _ in ours.named_parameters()] == [k for k, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert "freqs_cos" not in ours.state_dict() and "output.weight" in ours.state_dict()
    assert [k for k, _ in ours.named_buffers()] == [k for k, _ in theirs.named_buffers()]
    # the buffers, computed by our own precompute_freqs_cis (not copied): float32 by `.float()`
    for k in ("freqs_cos", "freqs_sin"):
        _close(k, getattr(ours, k), getattr(theirs, k), **TOL32)
        assert getattr(ours, k).dtype == mg.float32
    # the initialisation's statistics in our own init: w3/wo get std 0.02/sqrt(2*n_layers) = 0.01
    big = m["Transformer"](m["ModelArgs"](**{**LLAMA_CFG, "dim": 64, "n_heads": 4}))
    sd = dict(big.named_parameters())
    wo = np.concatenate([sd[f"layers.{i}.attention.wo.weight"].numpy().ravel() for i in range(2)])
    w1 = np.concatenate([sd[f"layers.{i}.feed_forward.w1.weight"].numpy().ravel() for i in range(2)])
    assert abs(wo.std() - 0.01) < 0.001 and abs(w1.std() - 0.02) < 0.002
    np.testing.assert_array_equal(sd["norm.weight"].numpy(), np.ones(64))
    # estimate_mfu is plain arithmetic on numel: the same number
    assert ours.estimate_mfu(4, 0.5) == theirs.estimate_mfu(4, 0.5)


def test_llama_pieces_float64_port():
    """RMSNorm, RoPE and repeat_kv of the float64 port against torch, values and gradients."""
    t, m = build_llama(torch, False), build_llama(mg, False)
    rng = np.random.default_rng(0)
    xq = rng.standard_normal((2, 5, 4, 6))
    xk = rng.standard_normal((2, 5, 2, 6))
    outs = {}
    for lib, ns in ((torch, t), (mg, m)):
        cos, sin = ns["precompute_freqs_cis"](6, 5)
        q = lib.tensor(xq, requires_grad=True)
        k = lib.tensor(xk, requires_grad=True)
        rq, rk = ns["apply_rotary_emb"](q, k, cos, sin)
        kk = ns["repeat_kv"](rk, 2)
        norm = ns["RMSNorm"](6, eps=1e-5)
        y = norm(kk)
        w = lib.tensor(rng.standard_normal(y.shape) if lib is torch else outs["w"])
        outs["w"] = _np(w)
        ((rq * rq.flip(1)).sum() + (y * w).sum()).backward()
        outs[lib.__name__] = [cos, sin, rq, rk, kk, y, q.grad, k.grad, norm.weight.grad]
    for i, (a, b) in enumerate(zip(outs["minigrad"], outs["torch"])):
        _close(f"piece {i}", a, b)
    # RoPE is a rotation: it keeps each pair's norm
    rq = _np(outs["minigrad"][2]).reshape(2, 5, 4, 3, 2)
    np.testing.assert_allclose((rq ** 2).sum(-1), (xq.reshape(2, 5, 4, 3, 2) ** 2).sum(-1), rtol=1e-12)


@pytest.mark.parametrize("force_manual", [False, True], ids=["flash", "manual"])
def test_llama_float64_port_trains_like_torch(force_manual):
    """llama2.c's train.py loop in float64: cosine lr with warm-up, gradient accumulation, GradScaler(enabled=False),
    clipping, AdamW with decay groups; last_loss (with ignore_index=-1 targets), every gradient, parameters."""
    theirs, ours = _llama_pair(as_written=False, force_manual=force_manual)
    assert ours.layers[0].attention.flash is (not force_manual)
    learning_rate, warmup_iters, lr_decay_iters, min_lr = 5e-3, 2, 6, 5e-4

    def get_lr(it):
        if it < warmup_iters:
            return learning_rate * it / warmup_iters
        if it > lr_decay_iters:
            return min_lr
        decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
        coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
        return min_lr + coeff * (learning_rate - min_lr)

    runs = {}
    for lib, model in ((torch, theirs), (mg, ours)):
        optimizer = model.configure_optimizers(0.1, learning_rate, (0.9, 0.95), "cpu")
        scaler = lib.amp.GradScaler("cpu", enabled=False)
        batches = [_tokens(lib, (3, 8), 11, seed=s, ignore=2) for s in range(7)]
        losses, grads = [], []
        gradient_accumulation_steps, grad_clip = 2, 1.0
        X, Y = batches[0]
        for it in range(3):
            lr = get_lr(it + 1)
            for param_group in optimizer.param_groups:
                param_group["lr"] = lr
            for micro_step in range(gradient_accumulation_steps):
                logits = model(X, Y)
                loss = model.last_loss
                loss = loss / gradient_accumulation_steps
                X, Y = batches[1 + 2 * it + micro_step]
                scaler.scale(loss).backward()
                losses.append(loss.item())
            if grad_clip != 0.0:
                scaler.unscale_(optimizer)
                lib.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            grads.append({k: _np(p.grad).copy() for k, p in model.named_parameters()})
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
        runs[lib.__name__] = (losses, grads, logits, model.report, model.use_fused)
    (lm, gm, logm, rep_m, fu_m), (lt, gt, logt, rep_t, fu_t) = runs["minigrad"], runs["torch"]
    np.testing.assert_allclose(lm, lt, **TOL)
    assert rep_m == rep_t and fu_m == fu_t == (True, False)
    _close("logits", logm, logt)
    assert logm.shape == (3, 8, 11)
    for step, (a, b) in enumerate(zip(gm, gt)):
        assert list(a) == list(b)
        for k in a:
            _close(f"step {step} {k}.grad", a[k], b[k])
    _same_state(ours, theirs)
    assert ours.tok_embeddings.weight is ours.output.weight


def test_llama_tied_gradient_and_ignore_index_float64():
    """One forward/backward: the tied weight's gradient is the sum of both uses; -1 targets are ignored."""
    theirs, ours = _llama_pair(as_written=False)
    for lib, model in ((torch, theirs), (mg, ours)):
        X, Y = _tokens(lib, (2, 8), 11, seed=5, ignore=5)
        model(X, Y)
        model.last_loss.backward()
    _close("loss", ours.last_loss, theirs.last_loss)
    _same_grads(ours, theirs)
    # ignored targets: the loss equals the mean over the kept ones only
    X, Y = _tokens(mg, (2, 8), 11, seed=5, ignore=5)
    with mg.no_grad():
        logits = ours(X, Y)
        keep = Y.view(-1) != -1
        manual = mg.nn.functional.cross_entropy(logits.view(-1, 11)[keep], Y.view(-1)[keep])
    _close("ignore_index", ours.last_loss, manual)


def test_llama_flash_and_manual_paths_agree():
    """The same weights through F.scaled_dot_product_attention(is_causal=True) and the masked manual path."""
    m = build_llama(mg, as_written=False)
    mm = build_llama(mg, as_written=False, force_manual=True)
    mg.manual_seed(3)
    flash = m["Transformer"](m["ModelArgs"](**LLAMA_CFG))
    manual = mm["Transformer"](mm["ModelArgs"](**LLAMA_CFG))
    missing, unexpected = manual.load_state_dict(flash.state_dict(), strict=False)
    assert not unexpected and sorted(missing) == [f"layers.{i}.attention.mask" for i in range(2)]
    out = []
    for model in (flash, manual):
        X, Y = _tokens(mg, (2, 8), 11, seed=7)
        model(X, Y)
        model.last_loss.backward()
        out.append((model.last_loss, {k: p.grad for k, p in model.named_parameters()}))
    _close("loss", out[0][0], out[1][0], rtol=1e-12, atol=1e-14)
    for k in out[0][1]:
        _close(k, out[0][1][k], out[1][1][k], rtol=1e-10, atol=1e-14)
    # the mask buffer: -inf strictly above the diagonal, 0 elsewhere, and persistent
    mask = manual.layers[0].attention.mask.numpy()[0, 0]
    assert np.isneginf(mask[np.triu_indices(8, 1)]).all() and (mask[np.tril_indices(8)] == 0).all()


def test_llama_as_written_in_default_float64():
    """As written with default dtype float64: float32 islands (RMSNorm, RoPE, the manual softmax), cast back by
    type_as. Both libraries compute the same islands; every gradient has its parameter's dtype."""
    for manual in (False, True):
        theirs, ours = _llama_pair(as_written=True, force_manual=manual)
        assert ours.freqs_cos.dtype == mg.float32 and ours.output.weight.dtype == mg.float64
        out = {}
        for lib, model in ((torch, theirs), (mg, ours)):
            X, Y = _tokens(lib, (2, 8), 11, seed=9, ignore=1)
            logits = model(X, Y)
            model.last_loss.backward()
            out[lib.__name__] = (logits, model.last_loss)
        for name, a, b in zip(("logits", "loss"), out["minigrad"], out["torch"]):
            _close(name, a, b, **TOL32)
            assert a.dtype == mg.float64
        _same_grads(ours, theirs, **TOL32)
        for _, p in ours.named_parameters():
            assert p.grad.dtype == p.dtype == mg.float64


def test_llama_double_after_build_is_refused_with_clear_error():
    """model.double() after building (default float32): torch promotes `xq.float() * freqs_cos` (float32 x float64)
    to float64 silently; minigrad refuses float32/float64 mixing (documented), naming the op and both dtypes."""
    torch.set_default_dtype(torch.float32)
    mg.set_default_dtype(mg.float32)
    theirs, ours = _llama_pair(as_written=True)
    theirs.double()
    ours.double()
    assert ours.freqs_cos.dtype == mg.float64
    X, Y = _tokens(torch, (2, 8), 11, seed=2)
    theirs(X, Y)
    assert theirs.last_loss.dtype == torch.float64  # torch: silently promoted
    X, Y = _tokens(mg, (2, 8), 11, seed=2)
    with pytest.raises(TypeError, match=r"(?s)float32.*float64|float64.*float32"):
        ours(X, Y)


def test_llama_float32_as_written(float32_defaults):
    theirs, ours = _llama_pair(as_written=True)
    for lib, model in ((torch, theirs), (mg, ours)):
        optimizer = model.configure_optimizers(0.1, 1e-2, (0.9, 0.95), "cpu")
        for s in range(2):
            X, Y = _tokens(lib, (2, 8), 11, seed=s, ignore=1)
            logits = model(X, Y)
            model.last_loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        assert str(logits.dtype).endswith("float32")
    _close("loss", ours.last_loss, theirs.last_loss, **TOL32)
    for k, p in ours.named_parameters():
        assert p.dtype == mg.float32, k
    _same_state(ours, theirs, **TOL32)


def test_llama_generate_greedy_and_sampled():
    """generate under @inference_mode: temperature 0 (topk k=1) directly; temperature + top_k (the boolean-mask
    write of -inf) through a shared sampler, comparing the probabilities each step too. max_seq_len cropping
    is exercised (prompt 3 + 7 new tokens > 8)."""
    theirs, ours = _llama_pair(as_written=False, seed=4)
    _scramble(theirs, ours, 4)
    prompt = np.array([[1, 4, 7], [2, 2, 9]])
    a = ours.generate(mg.tensor(prompt), 7, temperature=0.0)
    b = theirs.generate(torch.tensor(prompt), 7, temperature=0.0)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert a.dtype == mg.int64 and not a.requires_grad
    assert len(set(a.numpy()[:, 3:].ravel().tolist())) > 2  # not a constant run
    uniforms = np.random.default_rng(0).random((7, 2))
    shared = {}
    for lib, ns_model in ((torch, theirs), (mg, ours)):
        sampler = SharedSampling(lib, uniforms)
        ns = build_llama(sampler, as_written=False)
        model = ns["Transformer"](ns["ModelArgs"](**LLAMA_CFG))
        model.load_state_dict(ns_model.state_dict())
        out = model.generate(lib.tensor(prompt), 7, temperature=0.8, top_k=3)
        shared[lib.__name__] = (_np(out), sampler.probs)
    np.testing.assert_array_equal(shared["minigrad"][0], shared["torch"][0])
    for i, (p, q) in enumerate(zip(shared["minigrad"][1], shared["torch"][1])):
        np.testing.assert_allclose(p, q, rtol=1e-7, atol=1e-12, err_msg=f"step {i}")
        assert ((p > 0).sum(-1) <= 3).all()
    # top_k=1 with real multinomial: one nonzero probability, so the draw is forced, and equals greedy
    mg.manual_seed(0)
    c = ours.generate(mg.tensor(prompt), 7, temperature=1.0, top_k=1)
    np.testing.assert_array_equal(c.numpy(), b.numpy())


def build_export(torch):
    """llama2.c's export.py: serialize_fp32/int8, quantize_q80, legacy_export (v0) and version2_export (Q8_0)."""

    def serialize_fp32(file, tensor):
        """ writes one fp32 tensor to file that is open in wb mode """
        d = tensor.detach().cpu().view(-1).to(torch.float32).numpy()
        b = struct.pack(f'{len(d)}f', *d)
        file.write(b)

    def serialize_int8(file, tensor):
        """ writes one int8 tensor to file that is open in wb mode """
        d = tensor.detach().cpu().view(-1).numpy().astype(np.int8)
        b = struct.pack(f'{len(d)}b', *d)
        file.write(b)

    def quantize_q80(w, group_size):
        """takes a tensor and returns the Q8_0 quantized version, i.e. symmetric quantization into int8"""
        assert w.numel() % group_size == 0
        w = w.float()  # convert to float32
        w = w.reshape(-1, group_size)
        wmax = torch.abs(w).max(dim=1).values
        scale = wmax / 127.0
        quant = w / scale[:, None]
        int8val = torch.round(quant).to(torch.int8)
        fp32val = (int8val.float() * scale[:, None]).view(-1)
        fp32valr = fp32val.reshape(-1, group_size)
        err = torch.abs(fp32valr - w).max(dim=1).values
        maxerr = err.max().item()
        return int8val, scale, maxerr

    def legacy_export(model, out_file):
        p = model.params
        shared_classifier = torch.equal(model.tok_embeddings.weight, model.output.weight)
        vocab_size = p.vocab_size if shared_classifier else -p.vocab_size
        n_kv_heads = p.n_heads if p.n_kv_heads is None else p.n_kv_heads
        hidden_dim = model.layers[0].feed_forward.w1.weight.shape[0]
        header = struct.pack('iiiiiii', p.dim, hidden_dim, p.n_layers, p.n_heads,
                             n_kv_heads, vocab_size, p.max_seq_len)
        out_file.write(header)
        serialize_fp32(out_file, model.tok_embeddings.weight)
        for name in ("attention_norm", "attention.wq", "attention.wk", "attention.wv", "attention.wo",
                     "ffn_norm", "feed_forward.w1", "feed_forward.w2", "feed_forward.w3"):
            for layer in model.layers:
                serialize_fp32(out_file, layer.get_submodule(name).weight)
        serialize_fp32(out_file, model.norm.weight)
        serialize_fp32(out_file, model.freqs_cos[:p.max_seq_len])
        serialize_fp32(out_file, model.freqs_sin[:p.max_seq_len])
        if not shared_classifier:
            serialize_fp32(out_file, model.output.weight)

    def version2_export(model, out_file, group_size=64):
        version = 2
        while model.params.dim % group_size != 0:
            group_size //= 2
        weights = [
            model.tok_embeddings.weight,
            *[layer.attention.wq.weight for layer in model.layers],
            *[layer.attention.wk.weight for layer in model.layers],
            *[layer.attention.wv.weight for layer in model.layers],
            *[layer.attention.wo.weight for layer in model.layers],
            *[layer.feed_forward.w1.weight for layer in model.layers],
            *[layer.feed_forward.w2.weight for layer in model.layers],
            *[layer.feed_forward.w3.weight for layer in model.layers],
        ]
        shared_classifier = torch.equal(model.tok_embeddings.weight, model.output.weight)
        for w in weights:
            assert w.numel() % group_size == 0, f"weight {w.shape} not divisible by group_size {group_size}"
        out_file.write(struct.pack('I', 0x616b3432))
        out_file.write(struct.pack('i', version))
        p = model.params
        hidden_dim = model.layers[0].feed_forward.w1.weight.shape[0]
        n_kv_heads = p.n_heads if p.n_kv_heads is None else p.n_kv_heads
        out_file.write(struct.pack('iiiiiii', p.dim, hidden_dim, p.n_layers, p.n_heads,
                                   n_kv_heads, p.vocab_size, p.max_seq_len))
        out_file.write(struct.pack('B', int(shared_classifier)))
        out_file.write(struct.pack('i', group_size))
        pad = 256 - out_file.tell()
        out_file.write(b'\0' * pad)
        for layer in model.layers:
            serialize_fp32(out_file, layer.attention_norm.weight)
        for layer in model.layers:
            serialize_fp32(out_file, layer.ffn_norm.weight)
        serialize_fp32(out_file, model.norm.weight)
        errs = []
        for w in weights:
            q, s, err = quantize_q80(w, group_size)
            serialize_int8(out_file, q)
            serialize_fp32(out_file, s)
            errs.append(err)
        return errs

    return legacy_export, version2_export


def test_llama_export_bytes_match_torch():
    """export.py run on both models writes the same bytes (v0 float32 and v2 Q8_0: round, .to(int8), .values)."""
    theirs, ours = _llama_pair(as_written=True, seed=6, vocab_size=12)
    files = {}
    for lib, model in ((torch, theirs), (mg, ours)):
        legacy, v2 = build_export(lib)
        f0, f2 = io.BytesIO(), io.BytesIO()
        legacy(model, f0)
        errs = v2(model, f2)
        files[lib.__name__] = (f0.getvalue(), f2.getvalue(), errs)
    a, b = files["minigrad"], files["torch"]
    assert struct.unpack("iiiiiii", a[0][:28]) == (16, 48, 2, 4, 2, 12, 8)  # shared classifier: vocab > 0
    assert len(a[0]) == 28 + 4 * (12 * 16 + 2 * (2 * 16 + 16 * 16 * 2 + 16 * 8 * 2 + 3 * 48 * 16) + 16 + 2 * 8 * 2)
    # the weights (float32 casts of the same float64 values) are byte-identical; the RoPE tables are computed by
    # each library in float32, and torch's float32 cos/sin differ from NumPy's by at most one ulp
    rope = 28 + 4 * (12 * 16 + 2 * (2 * 16 + 16 * 16 * 2 + 16 * 8 * 2 + 3 * 48 * 16) + 16)
    assert a[0][:rope] == b[0][:rope]
    ta, tb = (np.frombuffer(f[rope:], dtype=np.float32) for f in (a[0], b[0]))
    assert np.abs(ta.view(np.int32) - tb.view(np.int32)).max() <= 1
    assert a[1] == b[1]
    assert a[2] == b[2] and max(a[2]) > 0


def test_llama_repeat_kv_is_repeat_interleave():
    """repeat_kv's docstring: it equals torch.repeat_interleave(x, dim=2, repeats=n_rep), gradient included."""
    m = build_llama(mg)
    x = mg.tensor(np.random.default_rng(1).standard_normal((2, 3, 2, 4)), requires_grad=True)
    a = m["repeat_kv"](x, 3)
    b = mg.repeat_interleave(x, dim=2, repeats=3)
    _close("repeat_kv", a, b, rtol=0, atol=0)
    w = mg.tensor(np.random.default_rng(2).standard_normal(a.shape))
    (g1,) = mg.autograd.grad((a * w).sum(), x)
    (g2,) = mg.autograd.grad((b * w).sum(), x)
    _close("grad", g1, g2, rtol=0, atol=0)
    np.testing.assert_allclose(g1.numpy(), w.numpy().reshape(2, 3, 2, 3, 4).sum(3), rtol=1e-14)


# ================================================================ 2. mamba-minimal model.py (einops written as torch)
def build_mamba(torch, as_written=True):
    """mamba-minimal's model.py with einops spelled in torch, plus the official Mamba init of A_log and dt_proj.
    `as_written=False` is the float64 port: `.float()` on A_log and D dropped."""
    nn = torch.nn
    F = torch.nn.functional
    up = (lambda t: t.float()) if as_written else (lambda t: t)

    @dataclass
    class ModelArgs:
        d_model: int
        n_layer: int
        vocab_size: int
        d_state: int = 16
        expand: int = 2
        dt_rank: Union[int, str] = 'auto'
        d_conv: int = 4
        pad_vocab_size_multiple: int = 8
        conv_bias: bool = True
        bias: bool = False

        def __post_init__(self):
            self.d_inner = int(self.expand * self.d_model)

            if self.dt_rank == 'auto':
                self.dt_rank = math.ceil(self.d_model / 16)

            if self.vocab_size % self.pad_vocab_size_multiple != 0:
                self.vocab_size += (self.pad_vocab_size_multiple
                                    - self.vocab_size % self.pad_vocab_size_multiple)

    class RMSNorm(nn.Module):
        def __init__(self, d_model: int, eps: float = 1e-5):
            super().__init__()
            self.eps = eps
            self.weight = nn.Parameter(torch.ones(d_model))

        def forward(self, x):
            output = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight
            return output

    class MambaBlock(nn.Module):
        def __init__(self, args: ModelArgs, dt_min=0.001, dt_max=0.1, dt_init_floor=1e-4, dt_scale=1.0):
            """A single Mamba block, as described in Figure 3 in Section 3.4 in the Mamba paper [1]."""
            super().__init__()
            self.args = args

            self.in_proj = nn.Linear(args.d_model, args.d_inner * 2, bias=args.bias)

            self.conv1d = nn.Conv1d(
                in_channels=args.d_inner,
                out_channels=args.d_inner,
                bias=args.conv_bias,
                kernel_size=args.d_conv,
                groups=args.d_inner,
                padding=args.d_conv - 1,
            )

            # x_proj takes in `x` and outputs the input-specific delta, B, C
            self.x_proj = nn.Linear(args.d_inner, args.dt_rank + args.d_state * 2, bias=False)

            # dt_proj projects delta from dt_rank to d_in
            self.dt_proj = nn.Linear(args.dt_rank, args.d_inner, bias=True)

            # the official init: dt_proj's weight uniform, its bias the inverse softplus of a log-uniform dt
            dt_init_std = args.dt_rank ** -0.5 * dt_scale
            nn.init.uniform_(self.dt_proj.weight, -dt_init_std, dt_init_std)
            dt = torch.exp(
                torch.rand(args.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
            ).clamp(min=dt_init_floor)
            # Inverse of softplus: https://github.com/pytorch/pytorch/issues/72759
            inv_dt = dt + torch.log(-torch.expm1(-dt))
            with torch.no_grad():
                self.dt_proj.bias.copy_(inv_dt)
            self.dt_proj.bias._no_reinit = True

            # S4D real initialization: A = repeat(arange(1, n+1), 'n -> d n', d=d_inner)
            A = torch.arange(1, args.d_state + 1).repeat(args.d_inner, 1)
            self.A_log = nn.Parameter(torch.log(A))
            self.A_log._no_weight_decay = True
            self.D = nn.Parameter(torch.ones(args.d_inner))
            self.D._no_weight_decay = True
            self.out_proj = nn.Linear(args.d_inner, args.d_model, bias=args.bias)

        def forward(self, x):
            (b, l, d) = x.shape

            x_and_res = self.in_proj(x)  # shape (b, l, 2 * d_in)
            (x, res) = x_and_res.split(split_size=[self.args.d_inner, self.args.d_inner], dim=-1)

            x = x.transpose(1, 2)  # rearrange 'b l d_in -> b d_in l'
            x = self.conv1d(x)[:, :, :l]
            x = x.transpose(1, 2)  # rearrange 'b d_in l -> b l d_in'

            x = F.silu(x)

            y = self.ssm(x)

            y = y * F.silu(res)

            output = self.out_proj(y)

            return output

        def ssm(self, x):
            (d_in, n) = self.A_log.shape

            A = -torch.exp(up(self.A_log))  # shape (d_in, n)
            D = up(self.D)

            x_dbl = self.x_proj(x)  # (b, l, dt_rank + 2*n)

            (delta, B, C) = x_dbl.split(split_size=[self.args.dt_rank, n, n], dim=-1)
            delta = F.softplus(self.dt_proj(delta))  # (b, l, d_in)

            y = self.selective_scan(x, delta, A, B, C, D)

            return y

        def selective_scan(self, u, delta, A, B, C, D):
            (b, l, d_in) = u.shape
            n = A.shape[1]

            # Discretize continuous parameters (A, B)
            deltaA = torch.exp(torch.einsum('bld,dn->bldn', delta, A))
            deltaB_u = torch.einsum('bld,bln,bld->bldn', delta, B, u)

            # Perform selective scan (see scan_SSM() in The Annotated S4 [2])
            x = torch.zeros((b, d_in, n), device=deltaA.device)
            ys = []
            for i in range(l):
                x = deltaA[:, i] * x + deltaB_u[:, i]
                y = torch.einsum('bdn,bn->bd', x, C[:, i, :])
                ys.append(y)
            y = torch.stack(ys, dim=1)  # shape (b, l, d_in)

            y = y + u * D

            return y

    class ResidualBlock(nn.Module):
        def __init__(self, args: ModelArgs):
            super().__init__()
            self.args = args
            self.mixer = MambaBlock(args)
            self.norm = RMSNorm(args.d_model)

        def forward(self, x):
            output = self.mixer(self.norm(x)) + x
            return output

    class Mamba(nn.Module):
        def __init__(self, args: ModelArgs):
            """Full Mamba model."""
            super().__init__()
            self.args = args

            self.embedding = nn.Embedding(args.vocab_size, args.d_model)
            self.layers = nn.ModuleList([ResidualBlock(args) for _ in range(args.n_layer)])
            self.norm_f = RMSNorm(args.d_model)

            self.lm_head = nn.Linear(args.d_model, args.vocab_size, bias=False)
            self.lm_head.weight = self.embedding.weight  # Tie output projection to embedding weights.

        def forward(self, input_ids):
            x = self.embedding(input_ids)

            for layer in self.layers:
                x = layer(x)

            x = self.norm_f(x)
            logits = self.lm_head(x)

            return logits

    def generate(model, input_ids, n_tokens_to_gen: int = 50, sample: bool = True, top_k: int = 40):
        """demo.py's generate, with the tokenizer left out (ids in, ids out)."""
        model.eval()
        for token_n in range(n_tokens_to_gen):
            with torch.no_grad():
                indices_to_input = input_ids
                next_token_logits = model(indices_to_input)[:, -1]

            probs = F.softmax(next_token_logits, dim=-1)
            (batch, vocab_size) = probs.shape

            if top_k is not None:
                (values, indices) = torch.topk(probs, k=top_k)
                probs[probs < values[:, -1, None]] = 0
                probs = probs / probs.sum(axis=1, keepdims=True)

            if sample:
                next_indices = torch.multinomial(probs, num_samples=1)
            else:
                next_indices = torch.argmax(probs, dim=-1)[:, None]

            input_ids = torch.cat([input_ids, next_indices], dim=1)
        return input_ids

    return dict(ModelArgs=ModelArgs, Mamba=Mamba, MambaBlock=MambaBlock, generate=generate)


MAMBA_CFG = dict(d_model=8, n_layer=2, vocab_size=11, d_state=4)


def _mamba_pair(as_written=True, seed=0):
    t, m = build_mamba(torch, as_written), build_mamba(mg, as_written)
    torch.manual_seed(seed)
    mg.manual_seed(seed)
    theirs = t["Mamba"](t["ModelArgs"](**MAMBA_CFG))
    ours = m["Mamba"](m["ModelArgs"](**MAMBA_CFG))
    _copy_weights(theirs, ours)
    return theirs, ours


def test_mamba_structure_and_init():
    """ModelArgs' derived sizes, parameter names/shapes, the tie, and our own init of A_log and dt_proj."""
    theirs, ours = _mamba_pair()
    a = ours.args
    assert (a.d_inner, a.dt_rank, a.vocab_size) == (16, 1, 16)
    assert [(k, tuple(p.shape)) for k, p in ours.named_parameters()] == \
        [(k, tuple(p.shape)) for k, p in theirs.named_parameters()]
    assert ours.lm_head.weight is ours.embedding.weight
    assert list(ours.state_dict()) == list(theirs.state_dict())
    m = build_mamba(mg)
    mg.manual_seed(1)
    fresh = m["Mamba"](m["ModelArgs"](**{**MAMBA_CFG, "d_model": 64}))
    blk = fresh.layers[0].mixer
    # A_log = log(1..n) on every row, float by log of an integer tensor (the default dtype)
    assert blk.A_log.dtype == mg.float64 and blk.A_log._no_weight_decay is True
    np.testing.assert_allclose(blk.A_log.numpy(), np.log(np.tile(np.arange(1, 5), (128, 1))), rtol=1e-15)
    # dt_proj.bias is softplus^-1(dt): softplus gives back dt, which lies in [dt_min, dt_max], log-uniformly
    dt = mg.nn.functional.softplus(blk.dt_proj.bias).detach().numpy()
    assert (dt >= 0.001 - 1e-12).all() and (dt <= 0.1 + 1e-12).all()
    assert abs(np.log(dt).mean() - (math.log(0.001) + math.log(0.1)) / 2) < 0.5
    assert blk.dt_proj.bias._no_reinit is True
    w = blk.dt_proj.weight.numpy()
    assert np.abs(w).max() <= 64 / 16 ** 0 and np.abs(w).max() <= 4 ** -0.5 + 1e-12  # dt_rank = 4
    # the inverse-softplus formula itself against torch, on the same dt
    d = np.exp(np.linspace(math.log(1e-4), math.log(0.1), 7))
    ours_inv = (lambda t: t + mg.log(-mg.expm1(-t)))(mg.tensor(d))
    theirs_inv = (lambda t: t + torch.log(-torch.expm1(-t)))(torch.tensor(d))
    _close("inv_dt", ours_inv, theirs_inv, rtol=1e-13, atol=0)
    # the other spelling of einops' repeat: expand (a view) then log, and the official float32 + contiguous form
    A = mg.arange(1, 5)
    np.testing.assert_array_equal(mg.log(A.unsqueeze(0).expand(128, -1)).numpy(), blk.A_log.numpy())
    A32 = mg.arange(1, 5, dtype=mg.float32).unsqueeze(0).expand(128, 4).contiguous()
    assert mg.nn.Parameter(mg.log(A32)).dtype == mg.float32 and A32.is_contiguous()
    # the depthwise conv: one filter per channel
    assert tuple(blk.conv1d.weight.shape) == (128, 1, 4) and blk.conv1d.groups == 128


def test_mamba_float64_port_trains_like_torch():
    """Logits, loss, every gradient (tied embedding/lm_head, A_log, D, the depthwise conv) and parameters after
    AdamW steps, with the `.float()` casts dropped (float64 port)."""
    theirs, ours = _mamba_pair(as_written=False)
    for lib, model in ((torch, theirs), (mg, ours)):
        opt = lib.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.05)
        model.train()
        model.hist = []
        for s in range(3):
            X, Y = _tokens(lib, (2, 6), 11, seed=10 + s)
            logits = model(X)
            loss = lib.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), Y.view(-1))
            opt.zero_grad()
            loss.backward()
            model.hist.append((loss.item(), _np(logits).copy(),
                               {k: _np(p.grad).copy() for k, p in model.named_parameters()}))
            opt.step()
    for s, ((lm, om, gm), (lt, ot, gt)) in enumerate(zip(ours.hist, theirs.hist)):
        np.testing.assert_allclose(lm, lt, **TOL)
        _close(f"step {s} logits", om, ot)
        assert list(gm) == list(gt)
        for k in gm:
            _close(f"step {s} {k}.grad", gm[k], gt[k])
    assert "layers.0.mixer.A_log" in gm and "embedding.weight" in gm and "lm_head.weight" not in gm
    _same_state(ours, theirs)


def test_mamba_float32_as_written(float32_defaults):
    theirs, ours = _mamba_pair(as_written=True)
    for lib, model in ((torch, theirs), (mg, ours)):
        X, Y = _tokens(lib, (2, 6), 11, seed=3)
        logits = model(X)
        model.loss = lib.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), Y.view(-1))
        model.loss.backward()
        model.logits = logits
    _close("logits", ours.logits, theirs.logits, **TOL32)
    _close("loss", ours.loss, theirs.loss, **TOL32)
    _same_grads(ours, theirs, **TOL32)
    for k, p in ours.named_parameters():
        assert p.dtype == p.grad.dtype == mg.float32, k


def test_mamba_as_written_in_default_float64():
    """As written with default float64, `A = -exp(A_log.float())` is float32, so `einsum('bld,dn->bldn', delta, A)`
    mixes float64 with float32: torch promotes this einsum (it has no contraction) to float64 silently (an einsum
    with a contraction it refuses: "expected scalar type Double but found Float"); minigrad refuses float32/float64
    mixing by design (README), naming einsum and both operands' dtypes and shapes."""
    theirs, ours = _mamba_pair(as_written=True)
    assert theirs(_tokens(torch, (1, 4), 11, seed=0)[0]).dtype == torch.float64
    with pytest.raises(TypeError, match=r"einsum: dtype mismatch: float64\[1, 4, 16\].*float32\[16, 4\]"):
        ours(_tokens(mg, (1, 4), 11, seed=0)[0])


def test_mamba_generate_greedy_topk_and_sampled():
    """demo.py's generate: argmax (sample=False), top-k renormalisation with probs.sum(axis=1, keepdims=True), and
    sampling through a shared sampler (probabilities compared each step); the model is left in eval mode."""
    theirs, ours = _mamba_pair(as_written=False, seed=2)
    _scramble(theirs, ours, 2)
    prompt = np.array([[3, 6], [1, 0]])
    t, m = build_mamba(torch, False), build_mamba(mg, False)
    a = m["generate"](ours, mg.tensor(prompt), 5, sample=False, top_k=None)
    b = t["generate"](theirs, torch.tensor(prompt), 5, sample=False, top_k=None)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not ours.training and a.dtype == mg.int64
    assert len(set(a.numpy()[:, 2:].ravel().tolist())) > 2  # not a constant run
    c = m["generate"](ours, mg.tensor(prompt), 5, sample=False, top_k=4)
    np.testing.assert_array_equal(c.numpy(), b.numpy())  # top-k keeps the argmax
    uniforms = np.random.default_rng(1).random((5, 2))
    shared = {}
    for lib, model in ((torch, theirs), (mg, ours)):
        sampler = SharedSampling(lib, uniforms)
        gen = build_mamba(sampler, False)["generate"]
        shared[lib.__name__] = (_np(gen(model, lib.tensor(prompt), 5, sample=True, top_k=4)), sampler.probs)
    np.testing.assert_array_equal(shared["minigrad"][0], shared["torch"][0])
    for i, (p, q) in enumerate(zip(shared["minigrad"][1], shared["torch"][1])):
        np.testing.assert_allclose(p, q, rtol=1e-7, atol=1e-12, err_msg=f"step {i}")
        assert ((p > 0).sum(-1) <= 4).all()
        np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-12)


def test_tensor_split_takes_torchs_keyword():
    """Tensor.split's keyword is torch's `split_size` (mamba-minimal calls x.split(split_size=[...], dim=-1))."""
    x = np.arange(2 * 7, dtype=np.float64).reshape(2, 7)
    for sizes in ([3, 4], 3):
        a = mg.tensor(x).split(split_size=sizes, dim=-1)
        b = torch.tensor(x).split(split_size=sizes, dim=-1)
        assert len(a) == len(b)
        for p, q in zip(a, b):
            _close("split", p, q)
    # torch.split (the function) keeps its own name, split_size_or_sections
    a = mg.split(mg.tensor(x), split_size_or_sections=[3, 4], dim=1)
    assert [tuple(p.shape) for p in a] == [(2, 3), (2, 4)]
