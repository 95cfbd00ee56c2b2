"""Porting audit: Sebastian Raschka's "Build a Large Language Model (From Scratch)", run in torch and minigrad.

The code a learner types from chapters 2-7 and appendix E (LoRA), written from memory: the sliding-window
GPTDatasetV1 + create_dataloader_v1 and the token/position embeddings (ch. 2); simplified self-attention
(torch.empty + torch.dot loops, softmax_naive), SelfAttention_v1 (nn.Parameter(torch.rand(...))) and v2
(nn.Linear, qkv_bias), the masking steps, CausalAttention (register_buffer('mask', torch.triu(...)),
masked_fill_ in place on the scores), MultiHeadAttentionWrapper and MultiHeadAttention (view / transpose /
contiguous, out_proj) (ch. 3); the custom LayerNorm (var unbiased=False, scale/shift), GELU (tanh form with
torch.sqrt(torch.tensor(2.0 / torch.pi))), FeedForward, the shortcut demo, TransformerBlock with
drop_shortcut, GPTModel, parameter counting and weight tying, generate_text_simple (ch. 4); the loss by hand,
calc_loss_batch / calc_loss_loader / evaluate_model / train_model_simple with AdamW(weight_decay=0.1),
temperature and top-k (torch.topk, torch.where(condition=, input=, other=)), generate(..., eos_id), saving
and loading model and optimizer, load_weights_into_gpt from a GPT-2-format NumPy params dict (ch. 5); the
classification fine-tune (freeze, new out_head, unfreeze last block and final_norm, logits[:, -1, :],
calc_accuracy_loader, classify_review) (ch. 6); custom_collate_fn with ignore_index and the instruction
fine-tune (ch. 7); LoRALayer / LinearWithLoRA / replace_linear_with_lora (appendix E).

Each program is written once as a function of a namespace called `torch` (torch itself or minigrad): the
port by changing imports. The tokenizer is a tiny word-level one over a generated vocabulary (tiktoken
would need a download). Tiny configs, float64, dropout 0 (or eval) where values are compared; both runs
start from torch's weights (state_dict loaded into ours); losses, logits, gradients, parameters after AdamW
steps and generated tokens must agree with torch to rounding. DataLoaders run with shuffle=False where two
runs are compared (torch's and minigrad's generators draw different permutations; shuffle=True is checked
for being a permutation). Sampling is compared through shared uniforms (an inverse-CDF `multinomial` given
to both programs) and with sampling switched off (temperature 0 / top_k=1); minigrad's own multinomial is
checked by its frequencies.

Found while porting and fixed (each has a focused test here):
* `torch.pi` (the GELU's `torch.sqrt(torch.tensor(2.0 / torch.pi))`), `torch.inf` (`-torch.inf` in the
  attention masks), `torch.e`, `torch.nan`, `torch.newaxis` did not exist;
* `if idx_next == eos_id: break` in generate() with the default eos_id=None raised "eq: unsupported operand
  None"; `t == None` / `t == 'text'` is now False (and `!=` True), as torch's;
* `torch.where(condition=..., input=..., other=...)` (the book's top-k cell uses the keywords) was a TypeError:
  where's parameters are now named as torch's;
* `mg.load("model.pth")` of a file written by torch.save said only "not written by minigrad.save"; it now says
  it is a torch pickle and how to bring it over (torch.load, then load_state_dict, which takes torch tensors).
Differences met, not changed: grad_fn names in printed tensors (torch's MeanBackward1, ours MeanBackward);
torch's CPU float32 sqrt of float32(2/pi) is one ulp above the correctly rounded value NumPy gives (so the
GELU's constant differs by 7.5e-8 relative); DataLoader(shuffle=True) over an empty dataset is an empty epoch
here, torch's RandomSampler raises ValueError; shuffled batches come in another order (another generator).
"""
import math
import re
from functools import partial

import numpy as np
import pytest

import minigrad as mg
from porting import closer, to_numpy

torch = pytest.importorskip("torch")

TOL = dict(rtol=1e-7, atol=1e-10)
TOL32 = dict(rtol=1e-5, atol=1e-6)  # float32 on both sides: summation order differs (BLAS)
_np = to_numpy
_close = closer(TOL)

WORDS = ("every effort moves you forward . the cat sat on a mat and it was warm today ! "
         "spam win money now free prize call").split()
EOT = "<|endoftext|>"


@pytest.fixture(autouse=True)
def _float64_defaults():
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


class Tokenizer:
    """A word-level stand-in for tiktoken's gpt2 encoding: encode(text, allowed_special=...) / decode(ids),
    '<|endoftext|>' is the last id (as 50256 is GPT-2's)."""

    def __init__(self):
        self.itos = list(WORDS) + ["<|unk|>", EOT]
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        self.n_vocab = len(self.itos)
        self.eot = self.stoi[EOT]

    def encode(self, text, allowed_special=None):
        toks = re.findall(r"<\|endoftext\|>|[\w']+|[.!?#:]", text)
        return [self.stoi.get(t, self.stoi["<|unk|>"]) for t in toks]

    def decode(self, ids):
        return " ".join(self.itos[i] for i in ids)


TOK = Tokenizer()
VOCAB = TOK.n_vocab  # 25


def _text(n=200, seed=0):
    """'The Verdict': a noisy repeating word pattern, so the model has something to learn."""
    rng = np.random.default_rng(seed)
    out = [WORDS[(i * 3) % 17] if rng.random() < 0.8 else WORDS[rng.integers(len(WORDS))] for i in range(n)]
    return " ".join(out)


def _cfg(**kw):
    cfg = {"vocab_size": VOCAB, "context_length": 8, "emb_dim": 8, "n_heads": 2, "n_layers": 2,
           "drop_rate": 0.0, "qkv_bias": False}
    cfg.update(kw)
    return cfg


def _copy_weights(theirs, ours):
    """torch's state dict (parameters and buffers) into our module; no key missing or left over."""
    missing, unexpected = ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
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
    """The library as the program sees it, with `multinomial` an inverse-CDF draw from uniforms shared by both
    runs (torch's and minigrad's generators differ); the probabilities it is given are recorded."""

    def __init__(self, lib, uniforms):
        self._lib, self._u, self.probs = lib, iter(uniforms), []

    def __getattr__(self, name):
        return getattr(self._lib, name)

    def multinomial(self, probs, num_samples, generator=None):
        assert num_samples == 1
        self.probs.append(_np(probs).copy())
        u = self._lib.tensor(next(self._u)[:, None], dtype=probs.dtype)
        cdf = probs.cumsum(-1) / probs.sum(-1, keepdim=True)
        return (cdf < u).sum(-1, keepdim=True).clamp(max=probs.shape[-1] - 1)


# ================================================================ chapter 2: data sampling with a sliding window
def build_ch2(torch):
    Dataset, DataLoader = torch.utils.data.Dataset, torch.utils.data.DataLoader

    class GPTDatasetV1(Dataset):
        def __init__(self, txt, tokenizer, max_length, stride):
            self.input_ids = []
            self.target_ids = []
            token_ids = tokenizer.encode(txt)
            for i in range(0, len(token_ids) - max_length, stride):
                input_chunk = token_ids[i:i + max_length]
                target_chunk = token_ids[i + 1: i + max_length + 1]
                self.input_ids.append(torch.tensor(input_chunk))
                self.target_ids.append(torch.tensor(target_chunk))

        def __len__(self):
            return len(self.input_ids)

        def __getitem__(self, idx):
            return self.input_ids[idx], self.target_ids[idx]

    def create_dataloader_v1(txt, batch_size=4, max_length=256, stride=128, shuffle=True, drop_last=True,
                             num_workers=0):
        tokenizer = TOK
        dataset = GPTDatasetV1(txt, tokenizer, max_length, stride)
        dataloader = DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                                num_workers=num_workers)
        return dataloader

    return GPTDatasetV1, create_dataloader_v1


def test_ch2_dataset_dataloader_and_embeddings():
    txt = _text(110)
    runs = {}
    for lib in (torch, mg):
        GPTDatasetV1, create_dataloader_v1 = build_ch2(lib)
        dataloader = create_dataloader_v1(txt, batch_size=8, max_length=4, stride=4, shuffle=False)
        data_iter = iter(dataloader)
        inputs, targets = next(data_iter)
        second = next(data_iter)
        batches = [(x, y) for x, y in dataloader]
        # stride 1 / batch 1 (the book's first look at the loader)
        first_batch = next(iter(create_dataloader_v1(txt, batch_size=1, max_length=4, stride=1, shuffle=False)))
        # the embeddings: token + absolute position
        lib.manual_seed(123)
        output_dim, context_length = 6, 4
        token_embedding_layer = lib.nn.Embedding(VOCAB, output_dim)
        pos_embedding_layer = lib.nn.Embedding(context_length, output_dim)
        if lib is mg:
            _copy_weights(runs[torch]["tok"], token_embedding_layer)
            _copy_weights(runs[torch]["pos"], pos_embedding_layer)
        token_embeddings = token_embedding_layer(inputs)
        pos_embeddings = pos_embedding_layer(lib.arange(context_length))
        input_embeddings = token_embeddings + pos_embeddings
        runs[lib] = dict(inputs=inputs, targets=targets, second=second, batches=batches, first=first_batch,
                         n=len(dataloader), ds=len(GPTDatasetV1(txt, TOK, 4, 4)), emb=input_embeddings,
                         tok=token_embedding_layer, pos=pos_embedding_layer)
    t, m = runs[torch], runs[mg]
    assert m["n"] == t["n"] and m["ds"] == t["ds"] and len(m["batches"]) == len(t["batches"]) == t["n"]
    assert m["inputs"].dtype == mg.int64 and m["inputs"].shape == (8, 4)
    for (a, b), (c, d) in zip(m["batches"] + [m["second"], m["first"]], t["batches"] + [t["second"], t["first"]]):
        np.testing.assert_array_equal(_np(a), _np(c))
        np.testing.assert_array_equal(_np(b), _np(d))
    np.testing.assert_array_equal(_np(m["targets"])[:, :-1], _np(m["inputs"])[:, 1:])  # targets shifted by one
    _close("input_embeddings", m["emb"], t["emb"])
    assert m["emb"].shape == (8, 4, 6)


def test_ch2_shuffled_loader_is_a_permutation():
    """shuffle=True (the book's default): the same windows in another order, drop_last honoured."""
    txt = _text(60)
    _, create_dataloader_v1 = build_ch2(mg)
    mg.manual_seed(123)
    plain = [tuple(r) for x, _ in create_dataloader_v1(txt, 4, 4, 2, shuffle=False, drop_last=False)
             for r in x.tolist()]
    shuffled_loader = create_dataloader_v1(txt, 4, 4, 2, shuffle=True, drop_last=True)
    shuffled = [tuple(r) for x, _ in shuffled_loader for r in x.tolist()]
    assert len(shuffled_loader) == len(plain) // 4 and len(shuffled) == 4 * (len(plain) // 4)
    assert set(shuffled) <= set(plain) and shuffled != plain[:len(shuffled)]


# ================================================================ chapter 3: attention
def ch3_inputs(torch):
    return torch.tensor([[0.43, 0.15, 0.89],  # Your     (x^1)
                         [0.55, 0.87, 0.66],  # journey  (x^2)
                         [0.57, 0.85, 0.64],  # starts   (x^3)
                         [0.22, 0.58, 0.33],  # with     (x^4)
                         [0.77, 0.25, 0.10],  # one      (x^5)
                         [0.05, 0.80, 0.55]])  # step     (x^6)


def ch3_simplified(torch):
    """Section 3.3: attention without trainable weights, loops first, then matrix products."""
    inputs = ch3_inputs(torch)
    query = inputs[1]
    attn_scores_2 = torch.empty(inputs.shape[0])
    for i, x_i in enumerate(inputs):
        attn_scores_2[i] = torch.dot(x_i, query)
    attn_weights_2_tmp = attn_scores_2 / attn_scores_2.sum()

    def softmax_naive(x):
        return torch.exp(x) / torch.exp(x).sum(dim=0)

    attn_weights_2_naive = softmax_naive(attn_scores_2)
    attn_weights_2 = torch.softmax(attn_scores_2, dim=0)
    context_vec_2 = torch.zeros(query.shape)
    for i, x_i in enumerate(inputs):
        context_vec_2 += attn_weights_2[i] * x_i
    attn_scores = torch.empty(6, 6)
    for i, x_i in enumerate(inputs):
        for j, x_j in enumerate(inputs):
            attn_scores[i, j] = torch.dot(x_i, x_j)
    attn_scores_mm = inputs @ inputs.T
    attn_weights = torch.softmax(attn_scores_mm, dim=-1)
    row_2_sum = sum([0.1385, 0.2379, 0.2333, 0.1240, 0.1082, 0.1581])
    all_row_sums = attn_weights.sum(dim=-1)
    all_context_vecs = attn_weights @ inputs
    # 3.4.1: the weights step by step, W as non-trainable Parameters
    x_2 = inputs[1]
    d_in, d_out = inputs.shape[1], 2
    torch.manual_seed(123)
    W_query = torch.nn.Parameter(torch.rand(d_in, d_out), requires_grad=False)
    W_key = torch.nn.Parameter(torch.rand(d_in, d_out), requires_grad=False)
    W_value = torch.nn.Parameter(torch.rand(d_in, d_out), requires_grad=False)
    return dict(attn_scores_2=attn_scores_2, tmp=attn_weights_2_tmp, naive=attn_weights_2_naive,
                w2=attn_weights_2, ctx2=context_vec_2, scores=attn_scores, scores_mm=attn_scores_mm,
                weights=attn_weights, row_sums=all_row_sums, ctx=all_context_vecs, row_2_sum=row_2_sum,
                W=(W_query, W_key, W_value), x_2=x_2,
                allclose=torch.allclose(attn_scores, attn_scores_mm),
                is_param=isinstance(W_query, torch.nn.Parameter), rg=W_query.requires_grad)


def ch3_weights_step(torch, W_query, W_key, W_value, inputs):
    x_2 = inputs[1]
    query_2 = x_2 @ W_query
    keys = inputs @ W_key
    values = inputs @ W_value
    keys_2 = keys[1]
    attn_score_22 = query_2.dot(keys_2)
    attn_scores_2 = query_2 @ keys.T
    d_k = keys.shape[-1]
    attn_weights_2 = torch.softmax(attn_scores_2 / d_k ** 0.5, dim=-1)
    context_vec_2 = attn_weights_2 @ values
    return attn_score_22, attn_scores_2, attn_weights_2, context_vec_2


def test_ch3_simplified_attention_cells():
    t, m = ch3_simplified(torch), ch3_simplified(mg)
    for k in ("attn_scores_2", "tmp", "naive", "w2", "ctx2", "scores", "scores_mm", "weights", "row_sums", "ctx"):
        _close(k, m[k], t[k])
    assert m["allclose"] is True or bool(m["allclose"]) is True
    assert m["is_param"] and m["rg"] is False and t["rg"] is False
    # the W matrices: ours from our own generator (values differ from torch's by design), then torch's in
    Wt = [w.detach() for w in t["W"]]
    Wm = [mg.nn.Parameter(mg.tensor(w.numpy()), requires_grad=False) for w in Wt]
    for a, b in zip(ch3_weights_step(mg, *Wm, ch3_inputs(mg)), ch3_weights_step(torch, *Wt, ch3_inputs(torch))):
        _close("weights step", a, b)
    assert all(0 <= float(w.min()) and float(w.max()) < 1 for w in m["W"])  # torch.rand: U[0, 1)


def build_ch3(torch):
    nn = torch.nn

    class SelfAttention_v1(nn.Module):
        def __init__(self, d_in, d_out):
            super().__init__()
            self.W_query = nn.Parameter(torch.rand(d_in, d_out))
            self.W_key = nn.Parameter(torch.rand(d_in, d_out))
            self.W_value = nn.Parameter(torch.rand(d_in, d_out))

        def forward(self, x):
            keys = x @ self.W_key
            queries = x @ self.W_query
            values = x @ self.W_value
            attn_scores = queries @ keys.T  # omega
            attn_weights = torch.softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)
            context_vec = attn_weights @ values
            return context_vec

    class SelfAttention_v2(nn.Module):
        def __init__(self, d_in, d_out, qkv_bias=False):
            super().__init__()
            self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
            self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
            self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)

        def forward(self, x):
            keys = self.W_key(x)
            queries = self.W_query(x)
            values = self.W_value(x)
            attn_scores = queries @ keys.T
            attn_weights = torch.softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)
            context_vec = attn_weights @ values
            return context_vec

    class CausalAttention(nn.Module):
        def __init__(self, d_in, d_out, context_length, dropout, qkv_bias=False):
            super().__init__()
            self.d_out = d_out
            self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
            self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
            self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
            self.dropout = nn.Dropout(dropout)
            self.register_buffer('mask', torch.triu(torch.ones(context_length, context_length), diagonal=1))

        def forward(self, x):
            b, num_tokens, d_in = x.shape
            keys = self.W_key(x)
            queries = self.W_query(x)
            values = self.W_value(x)
            attn_scores = queries @ keys.transpose(1, 2)
            attn_scores.masked_fill_(self.mask.bool()[:num_tokens, :num_tokens], -torch.inf)
            attn_weights = torch.softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)
            attn_weights = self.dropout(attn_weights)
            context_vec = attn_weights @ values
            return context_vec

    class MultiHeadAttentionWrapper(nn.Module):
        def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
            super().__init__()
            self.heads = nn.ModuleList(
                [CausalAttention(d_in, d_out, context_length, dropout, qkv_bias) for _ in range(num_heads)])

        def forward(self, x):
            return torch.cat([head(x) for head in self.heads], dim=-1)

    class MultiHeadAttention(nn.Module):
        def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
            super().__init__()
            assert (d_out % num_heads == 0), "d_out must be divisible by num_heads"
            self.d_out = d_out
            self.num_heads = num_heads
            self.head_dim = d_out // num_heads
            self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
            self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
            self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
            self.out_proj = nn.Linear(d_out, d_out)
            self.dropout = nn.Dropout(dropout)
            self.register_buffer("mask", torch.triu(torch.ones(context_length, context_length), diagonal=1))

        def forward(self, x):
            b, num_tokens, d_in = x.shape
            keys = self.W_key(x)
            queries = self.W_query(x)
            values = self.W_value(x)
            keys = keys.view(b, num_tokens, self.num_heads, self.head_dim)
            values = values.view(b, num_tokens, self.num_heads, self.head_dim)
            queries = queries.view(b, num_tokens, self.num_heads, self.head_dim)
            keys = keys.transpose(1, 2)
            queries = queries.transpose(1, 2)
            values = values.transpose(1, 2)
            attn_scores = queries @ keys.transpose(2, 3)
            mask_bool = self.mask.bool()[:num_tokens, :num_tokens]
            attn_scores.masked_fill_(mask_bool, -torch.inf)
            attn_weights = torch.softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)
            attn_weights = self.dropout(attn_weights)
            context_vec = (attn_weights @ values).transpose(1, 2)
            context_vec = context_vec.contiguous().view(b, num_tokens, self.d_out)
            context_vec = self.out_proj(context_vec)
            return context_vec

    return dict(SelfAttention_v1=SelfAttention_v1, SelfAttention_v2=SelfAttention_v2,
                CausalAttention=CausalAttention, MultiHeadAttentionWrapper=MultiHeadAttentionWrapper,
                MultiHeadAttention=MultiHeadAttention)


def _fwd_bwd_both(make, x_np, seed=123):
    """Build with `make(lib)` in both libraries (torch's weights into ours), forward x, backward a weighted sum."""
    torch.manual_seed(seed)
    t_mod = make(torch)
    m_mod = make(mg)
    _copy_weights(t_mod, m_mod)
    outs = []
    for lib, mod in ((torch, t_mod), (mg, m_mod)):
        x = lib.tensor(x_np, requires_grad=True)
        out = mod(x)
        out.backward(lib.tensor(np.random.default_rng(seed).standard_normal(tuple(out.shape))))  # the same weights
        outs.append((mod, x, out))
    (t_mod, tx, tout), (m_mod, mx, mout) = outs
    _close("output", mout, tout)
    _close("input grad", mx.grad, tx.grad)
    _same_grads(m_mod, t_mod)
    return m_mod, mout, t_mod, tout


@pytest.mark.parametrize("qkv_bias", [False, True])
def test_ch3_self_attention_v1_v2(qkv_bias):
    inputs = ch3_inputs(torch).numpy()
    _fwd_bwd_both(lambda lib: build_ch3(lib)["SelfAttention_v1"](3, 2), inputs)
    _fwd_bwd_both(lambda lib: build_ch3(lib)["SelfAttention_v2"](3, 2, qkv_bias=qkv_bias), inputs)
    # exercise 3.1: v2's Linear weights into v1 (transposed) give v1 the same outputs, in each library
    for lib in (torch, mg):
        classes = build_ch3(lib)
        lib.manual_seed(789)
        sa_v2 = classes["SelfAttention_v2"](3, 2)
        sa_v1 = classes["SelfAttention_v1"](3, 2)
        sa_v1.W_query = lib.nn.Parameter(sa_v2.W_query.weight.T)
        sa_v1.W_key = lib.nn.Parameter(sa_v2.W_key.weight.T)
        sa_v1.W_value = lib.nn.Parameter(sa_v2.W_value.weight.T)
        x = ch3_inputs(lib)
        _close(f"{lib.__name__}: v1 with v2's weights", sa_v1(x), sa_v2(x))
        assert [k for k, _ in sa_v1.named_parameters()] == ["W_query", "W_key", "W_value"]


def ch3_masking(torch, attn_scores):
    """Section 3.5.1: the simple mask, renormalising, then the -inf mask (and dropout on ones)."""
    attn_weights = torch.softmax(attn_scores / 2 ** 0.5, dim=-1)
    context_length = attn_scores.shape[0]
    mask_simple = torch.tril(torch.ones(context_length, context_length))
    masked_simple = attn_weights * mask_simple
    row_sums = masked_simple.sum(dim=-1, keepdim=True)
    masked_simple_norm = masked_simple / row_sums
    mask = torch.triu(torch.ones(context_length, context_length), diagonal=1)
    masked = attn_scores.masked_fill(mask.bool(), -torch.inf)
    attn_weights2 = torch.softmax(masked / 2 ** 0.5, dim=-1)
    return masked_simple_norm, masked, attn_weights2


def test_ch3_masking_and_dropout_cells():
    scores = np.random.default_rng(0).standard_normal((6, 6))
    t = ch3_masking(torch, torch.tensor(scores))
    m = ch3_masking(mg, mg.tensor(scores))
    for a, b in zip(m, t):
        _close("masking", a, b)
    _close("the two ways agree", m[0], m[2])  # renormalised softmax == softmax of the -inf-masked scores
    assert np.isneginf(_np(m[1])[0, 1:]).all()
    # dropout on a matrix of ones: kept entries scaled by 1 / (1 - p) = 2, about half dropped
    mg.manual_seed(123)
    dropout = mg.nn.Dropout(0.5)
    example = mg.ones(40, 40)
    out = _np(dropout(example))
    assert set(np.unique(out)) <= {0.0, 2.0}
    # 1600 Bernoulli(0.5) draws: the kept fraction has sd 0.0125; 5 sd
    assert abs((out == 2.0).mean() - 0.5) < 0.0625
    dropout.eval()
    np.testing.assert_array_equal(_np(dropout(example)), 1.0)


@pytest.mark.parametrize("qkv_bias", [False, True])
def test_ch3_causal_and_multihead_attention(qkv_bias):
    inputs = ch3_inputs(torch).numpy()
    batch = np.stack((inputs, inputs), axis=0)  # torch.stack((inputs, inputs), dim=0)
    assert np.array_equal(_np(mg.stack((ch3_inputs(mg), ch3_inputs(mg)), dim=0)), batch)
    ca, out, tca, _ = _fwd_bwd_both(lambda lib: build_ch3(lib)["CausalAttention"](3, 2, 6, 0.0, qkv_bias), batch)
    assert out.shape == (2, 6, 2) and list(ca.state_dict()) == list(tca.state_dict())  # the buffer first, as torch
    assert list(ca.state_dict())[0] == "mask"
    # a shorter sequence than context_length: the mask is sliced
    _fwd_bwd_both(lambda lib: build_ch3(lib)["CausalAttention"](3, 2, 6, 0.0, qkv_bias), batch[:, :4])
    _, out, _, _ = _fwd_bwd_both(
        lambda lib: build_ch3(lib)["MultiHeadAttentionWrapper"](3, 2, 6, 0.0, num_heads=2, qkv_bias=qkv_bias), batch)
    assert out.shape == (2, 6, 4)
    mha, out, _, _ = _fwd_bwd_both(
        lambda lib: build_ch3(lib)["MultiHeadAttention"](3, 4, 6, 0.0, num_heads=2, qkv_bias=qkv_bias), batch)
    assert out.shape == (2, 6, 4) and mha.head_dim == 2
    with pytest.raises(AssertionError, match="divisible"):
        build_ch3(mg)["MultiHeadAttention"](3, 3, 6, 0.0, num_heads=2)
    # forgetting .contiguous() before .view(...): a RuntimeError in both (view never copies)
    for lib in (torch, mg):
        ctx = lib.ones(2, 2, 6, 2).transpose(1, 2)  # (b, num_tokens, num_heads, head_dim) after the transpose
        with pytest.raises(RuntimeError, match="view"):
            ctx.view(2, 6, 4)
        assert ctx.contiguous().view(2, 6, 4).shape == (2, 6, 4)


def test_ch3_causal_attention_dropout_in_training():
    """dropout=0.5 on the attention weights: eval gives the deterministic output; in training every
    weight is 0 or twice the eval weight (checked on a probe of the same module)."""
    classes = build_ch3(mg)
    mg.manual_seed(0)
    ca = classes["CausalAttention"](3, 2, 6, 0.5)
    x = mg.stack((ch3_inputs(mg), ch3_inputs(mg)))
    ca.eval()
    ref = ca(x)
    torch.manual_seed(0)
    tca = build_ch3(torch)["CausalAttention"](3, 2, 6, 0.5)
    tca.load_state_dict({k: torch.tensor(_np(v)) for k, v in ca.state_dict().items()})  # ours into torch's
    tca.eval()
    _close("eval output", ref, tca(torch.stack((ch3_inputs(torch), ch3_inputs(torch)))))
    ca.train()
    mg.manual_seed(1)
    out = ca(x)
    assert out.shape == ref.shape and not np.allclose(_np(out), _np(ref))


def test_ch3_batched_matmul_cell():
    a_np = np.array([[[[0.2745, 0.6584, 0.2775, 0.8573], [0.8993, 0.0390, 0.9268, 0.7388],
                       [0.7179, 0.7058, 0.9156, 0.4340]],
                      [[0.0772, 0.3565, 0.1479, 0.5331], [0.4066, 0.2318, 0.4545, 0.9737],
                       [0.4606, 0.5159, 0.4220, 0.5786]]]])
    res = {}
    for lib in (torch, mg):
        a = lib.tensor(a_np)
        first_head = a[0, 0, :, :]
        second_head = a[0, 1, :, :]
        res[lib] = (a @ a.transpose(2, 3), first_head @ first_head.T, second_head @ second_head.T)
    for x, y in zip(res[mg], res[torch]):
        _close("batched matmul", x, y)
    _close("head 0 == batched", res[mg][0][0, 0], res[mg][1])


# ================================================================ chapter 4: the GPT model
def build_ch4(torch):
    nn = torch.nn
    MultiHeadAttention = build_ch3(torch)["MultiHeadAttention"]

    class LayerNorm(nn.Module):
        def __init__(self, emb_dim):
            super().__init__()
            self.eps = 1e-5
            self.scale = nn.Parameter(torch.ones(emb_dim))
            self.shift = nn.Parameter(torch.zeros(emb_dim))

        def forward(self, x):
            mean = x.mean(dim=-1, keepdim=True)
            var = x.var(dim=-1, keepdim=True, unbiased=False)
            norm_x = (x - mean) / torch.sqrt(var + self.eps)
            return self.scale * norm_x + self.shift

    class GELU(nn.Module):
        def __init__(self):
            super().__init__()

        def forward(self, x):
            return 0.5 * x * (1 + torch.tanh(
                torch.sqrt(torch.tensor(2.0 / torch.pi)) *
                (x + 0.044715 * torch.pow(x, 3))
            ))

    class FeedForward(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.layers = nn.Sequential(
                nn.Linear(cfg["emb_dim"], 4 * cfg["emb_dim"]),
                GELU(),
                nn.Linear(4 * cfg["emb_dim"], cfg["emb_dim"]),
            )

        def forward(self, x):
            return self.layers(x)

    class ExampleDeepNeuralNetwork(nn.Module):
        def __init__(self, layer_sizes, use_shortcut):
            super().__init__()
            self.use_shortcut = use_shortcut
            self.layers = nn.ModuleList([
                nn.Sequential(nn.Linear(layer_sizes[i], layer_sizes[i + 1]), GELU())
                for i in range(len(layer_sizes) - 1)
            ])

        def forward(self, x):
            for layer in self.layers:
                layer_output = layer(x)
                if self.use_shortcut and x.shape == layer_output.shape:
                    x = x + layer_output
                else:
                    x = layer_output
            return x

    class TransformerBlock(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.att = MultiHeadAttention(
                d_in=cfg["emb_dim"],
                d_out=cfg["emb_dim"],
                context_length=cfg["context_length"],
                num_heads=cfg["n_heads"],
                dropout=cfg["drop_rate"],
                qkv_bias=cfg["qkv_bias"])
            self.ff = FeedForward(cfg)
            self.norm1 = LayerNorm(cfg["emb_dim"])
            self.norm2 = LayerNorm(cfg["emb_dim"])
            self.drop_shortcut = nn.Dropout(cfg["drop_rate"])

        def forward(self, x):
            shortcut = x
            x = self.norm1(x)
            x = self.att(x)
            x = self.drop_shortcut(x)
            x = x + shortcut

            shortcut = x
            x = self.norm2(x)
            x = self.ff(x)
            x = self.drop_shortcut(x)
            x = x + shortcut
            return x

    class GPTModel(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.tok_emb = nn.Embedding(cfg["vocab_size"], cfg["emb_dim"])
            self.pos_emb = nn.Embedding(cfg["context_length"], cfg["emb_dim"])
            self.drop_emb = nn.Dropout(cfg["drop_rate"])
            self.trf_blocks = nn.Sequential(*[TransformerBlock(cfg) for _ in range(cfg["n_layers"])])
            self.final_norm = LayerNorm(cfg["emb_dim"])
            self.out_head = nn.Linear(cfg["emb_dim"], cfg["vocab_size"], bias=False)

        def forward(self, in_idx):
            batch_size, seq_len = in_idx.shape
            tok_embeds = self.tok_emb(in_idx)
            pos_embeds = self.pos_emb(torch.arange(seq_len, device=in_idx.device))
            x = tok_embeds + pos_embeds
            x = self.drop_emb(x)
            x = self.trf_blocks(x)
            x = self.final_norm(x)
            logits = self.out_head(x)
            return logits

    def generate_text_simple(model, idx, max_new_tokens, context_size):
        for _ in range(max_new_tokens):
            idx_cond = idx[:, -context_size:]
            with torch.no_grad():
                logits = model(idx_cond)
            logits = logits[:, -1, :]
            probas = torch.softmax(logits, dim=-1)
            idx_next = torch.argmax(probas, dim=-1, keepdim=True)
            idx = torch.cat((idx, idx_next), dim=1)
        return idx

    return dict(LayerNorm=LayerNorm, GELU=GELU, FeedForward=FeedForward,
                ExampleDeepNeuralNetwork=ExampleDeepNeuralNetwork, TransformerBlock=TransformerBlock,
                GPTModel=GPTModel, generate_text_simple=generate_text_simple)


def ch4_layernorm_cells(torch, LayerNorm, x_np, lin_state):
    """Section 4.2: normalising by hand (var with Bessel's correction, as the book's first cell), then LayerNorm."""
    batch_example = torch.tensor(x_np)
    layer = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.ReLU())
    layer.load_state_dict(lin_state)
    out = layer(batch_example)
    mean = out.mean(dim=-1, keepdim=True)
    var = out.var(dim=-1, keepdim=True)
    out_norm = (out - mean) / torch.sqrt(var)
    mean_n = out_norm.mean(dim=-1, keepdim=True)
    var_n = out_norm.var(dim=-1, keepdim=True)
    torch.set_printoptions(sci_mode=False)
    ln = LayerNorm(emb_dim=5)
    out_ln = ln(batch_example)
    mean_ln = out_ln.mean(dim=-1, keepdim=True)
    var_ln = out_ln.var(dim=-1, unbiased=False, keepdim=True)
    return out, mean, var, out_norm, mean_n, var_n, out_ln, mean_ln, var_ln


def test_ch4_layernorm_gelu_feedforward():
    rng = np.random.default_rng(123)
    x_np = rng.standard_normal((2, 5))
    torch.manual_seed(123)
    lin_state = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.ReLU()).state_dict()
    ct, cm = build_ch4(torch), build_ch4(mg)
    t = ch4_layernorm_cells(torch, ct["LayerNorm"], x_np, lin_state)
    m = ch4_layernorm_cells(mg, cm["LayerNorm"], x_np, {k: v.numpy() for k, v in lin_state.items()})
    for i, (a, b) in enumerate(zip(m, t)):
        _close(f"layernorm cell {i}", a, b)
    np.testing.assert_allclose(_np(m[7]), 0, atol=1e-12)
    np.testing.assert_allclose(_np(m[8]), 1, rtol=1e-4)  # eps=1e-5 in the denominator
    mg.set_printoptions(profile="default")  # back to the defaults (sci_mode=None)
    torch.set_printoptions(profile="default")
    # GELU: values and gradients, and against torch's own tanh-approximate GELU
    x_np = np.linspace(-3, 3, 100)
    _fwd_bwd_both(lambda lib: build_ch4(lib)["GELU"](), x_np)
    _close("GELU == F.gelu(approximate='tanh')", cm["GELU"]()(mg.tensor(x_np)),
           torch.nn.functional.gelu(torch.tensor(x_np), approximate="tanh"))
    _close("relu", mg.nn.ReLU()(mg.tensor(x_np)), torch.nn.ReLU()(torch.tensor(x_np)))
    cfg = _cfg()
    x = rng.standard_normal((2, 3, cfg["emb_dim"]))
    _fwd_bwd_both(lambda lib: build_ch4(lib)["FeedForward"](cfg), x)
    _fwd_bwd_both(lambda lib: build_ch4(lib)["LayerNorm"](cfg["emb_dim"]), x)


def test_ch4_gelu_keeps_float32_and_mixes_like_torch(float32_defaults):
    """The GELU's constant is a 0-d float32 tensor (torch.tensor(2.0 / torch.pi)); with float32 inputs the
    result stays float32, and on a float64 input (model.double()) the 0-d constant does not decide the dtype.

    The constant itself: sqrt(float32(2/pi)) = 0.79788454471 exactly; NumPy (so minigrad) rounds it to the
    nearest float32, 0.79788452387, torch's CPU sqrt gives the next one up, 0.79788458347 (one float32 ulp,
    7.5e-8 relative). So the float64 run agrees with torch to that ulp, not to float64 rounding; with the
    constant rounded torch's way the two agree to float64 rounding."""
    const = float(mg.sqrt(mg.tensor(2.0 / mg.pi)).item())
    assert mg.tensor(2.0 / mg.pi).dtype == mg.float32
    assert const == float(np.sqrt(np.float32(2 / np.pi))) and abs(const - math.sqrt(2 / math.pi)) < 6e-8
    for dt in ("float32", "float64"):
        x_np = np.linspace(-2, 2, 7).astype(dt)
        out = build_ch4(mg)["GELU"]()(mg.tensor(x_np))
        ref = build_ch4(torch)["GELU"]()(torch.tensor(x_np))
        assert str(out.dtype) == dt == str(ref.dtype).replace("torch.", "")
        _close(f"gelu {dt}", out, ref, **(TOL32 if dt == "float32" else dict(rtol=3e-7, atol=1e-12)))
    # float64 input with torch's constant: exact agreement
    x_np = np.linspace(-2, 2, 7)
    c_t = torch.sqrt(torch.tensor(2.0 / torch.pi))
    ours = 0.5 * mg.tensor(x_np) * (1 + mg.tanh(mg.tensor(c_t.item(), dtype=mg.float32)
                                               * (mg.tensor(x_np) + 0.044715 * mg.pow(mg.tensor(x_np), 3))))
    _close("gelu float64, torch's constant", ours, build_ch4(torch)["GELU"]()(torch.tensor(x_np)))


def print_gradients(torch, model, x):
    """Section 4.4's helper, returning what it prints."""
    output = model(x)
    target = torch.tensor([[0.]])
    loss = torch.nn.MSELoss()
    loss = loss(output, target)
    loss.backward()
    lines = []
    for name, param in model.named_parameters():
        if 'weight' in name:
            lines.append(f"{name} has gradient mean of {param.grad.abs().mean().item()}")
    return lines


@pytest.mark.parametrize("use_shortcut", [False, True])
def test_ch4_shortcut_connections(use_shortcut):
    layer_sizes = [3, 3, 3, 3, 3, 1]
    sample_input = [[1., 0., -1.]]
    lines = {}
    for lib in (torch, mg):
        lib.manual_seed(123)
        model = build_ch4(lib)["ExampleDeepNeuralNetwork"](layer_sizes, use_shortcut=use_shortcut)
        if lib is mg:
            _copy_weights(models_t, model)
        else:
            models_t = model
        lines[lib] = (model, print_gradients(lib, model, lib.tensor(sample_input)))
    (mm, lm), (tm, lt) = lines[mg], lines[torch]
    _same_grads(mm, tm)
    assert len(lm) == len(lt) == 5
    for a, b in zip(lm, lt):
        na, va = a.rsplit(" ", 1)
        nb, vb = b.rsplit(" ", 1)
        assert na == nb
        np.testing.assert_allclose(float(va), float(vb), rtol=1e-7, atol=1e-14)


def _gpt_pair(cfg, seed=123):
    torch.manual_seed(seed)
    t_model = build_ch4(torch)["GPTModel"](cfg)
    m_model = build_ch4(mg)["GPTModel"](cfg)
    _copy_weights(t_model, m_model)
    return m_model, t_model


def _batch_ids(rng, b, n, vocab=VOCAB):
    return rng.integers(0, vocab, size=(b, n))


@pytest.mark.parametrize("qkv_bias", [False, True])
def test_ch4_gpt_model_forward_backward_and_counts(qkv_bias):
    cfg = _cfg(qkv_bias=qkv_bias)
    m_model, t_model = _gpt_pair(cfg)
    rng = np.random.default_rng(1)
    for lib, model in ((torch, t_model), (mg, m_model)):
        batch = []
        txt1, txt2 = "every effort moves you", "the cat sat on"
        batch.append(lib.tensor(TOK.encode(txt1)))
        batch.append(lib.tensor(TOK.encode(txt2)))
        batch = lib.stack(batch, dim=0)
        out = model(batch)
        ids = lib.tensor(_batch_ids(rng if lib is torch else np.random.default_rng(1), 3, 8))
        logits = model(ids)
        w = lib.tensor(np.random.default_rng(2).standard_normal(tuple(logits.shape)))
        (logits * w).sum().backward()
        model._rec = dict(out=out, logits=logits,
                          total=sum(p.numel() for p in model.parameters()),
                          tok=tuple(model.tok_emb.weight.shape), head=tuple(model.out_head.weight.shape),
                          gpt2=sum(p.numel() for p in model.parameters())
                          - sum(p.numel() for p in model.out_head.parameters()),
                          ff=sum(p.numel() for p in model.trf_blocks[0].ff.parameters()),
                          att=sum(p.numel() for p in model.trf_blocks[0].att.parameters()))
    for k in ("out", "logits"):
        _close(k, m_model._rec[k], t_model._rec[k])
    for k in ("total", "tok", "head", "gpt2", "ff", "att"):
        assert m_model._rec[k] == t_model._rec[k], k
    assert m_model._rec["out"].shape == (2, 4, VOCAB)
    _same_grads(m_model, t_model)
    total_size_mb = m_model._rec["total"] * 4 / (1024 * 1024)  # the book's float32 size estimate
    assert f"Total number of parameters: {m_model._rec['total']:,}" == \
        f"Total number of parameters: {t_model._rec['total']:,}" and f"{total_size_mb:.2f} MB"
    assert [k for k in m_model.state_dict()] == [k for k in t_model.state_dict()]
    # a sequence longer than context_length: pos_emb's index is out of range (torch: IndexError too)
    with pytest.raises(IndexError):
        m_model(mg.tensor(_batch_ids(rng, 1, cfg["context_length"] + 1)))


def test_ch4_transformer_block_shapes_and_grads():
    cfg = _cfg()
    x = np.random.default_rng(0).standard_normal((2, 4, cfg["emb_dim"]))
    _, out, _, _ = _fwd_bwd_both(lambda lib: build_ch4(lib)["TransformerBlock"](cfg), x)
    assert out.shape == (2, 4, cfg["emb_dim"])


def test_ch4_weight_tying():
    """The book's weight-tying discussion: out_head.weight = tok_emb.weight (GPT-2 shares them). parameters()
    lists the shared tensor once, its gradient sums both uses, state_dict keeps both names."""
    cfg = _cfg()
    m_model, t_model = _gpt_pair(cfg)
    ids = _batch_ids(np.random.default_rng(3), 2, 6)
    for lib, model in ((torch, t_model), (mg, m_model)):
        n_before = sum(p.numel() for p in model.parameters())
        model.out_head.weight = model.tok_emb.weight
        model._n = (n_before, sum(p.numel() for p in model.parameters()))
        x = lib.tensor(ids)
        logits = model(x)
        lib.nn.functional.cross_entropy(logits.flatten(0, 1), x.roll(-1, 1).flatten()).backward()
    assert m_model._n == t_model._n and m_model._n[0] - m_model._n[1] == VOCAB * cfg["emb_dim"]
    assert m_model.out_head.weight is m_model.tok_emb.weight
    _same_grads(m_model, t_model)
    assert list(m_model.state_dict()) == list(t_model.state_dict())
    assert "out_head.weight" in m_model.state_dict()


def test_ch4_weight_tying_save_load(tmp_path):
    """A tied model saved with torch.save(model.state_dict()) and loaded into a fresh tied model: both names
    carry the same values, and the tie survives (one Parameter)."""
    cfg = _cfg()
    for lib in (torch, mg):
        lib.manual_seed(1)
        model = build_ch4(lib)["GPTModel"](cfg)
        model.out_head.weight = model.tok_emb.weight
        lib.save(model.state_dict(), tmp_path / "tied.pth")
        fresh = build_ch4(lib)["GPTModel"](cfg)
        fresh.out_head.weight = fresh.tok_emb.weight
        fresh.load_state_dict(lib.load(tmp_path / "tied.pth", weights_only=True))
        assert fresh.out_head.weight is fresh.tok_emb.weight
        np.testing.assert_array_equal(_np(fresh.out_head.weight), _np(model.tok_emb.weight))


def test_ch5_calc_loss_loader_on_an_empty_loader():
    """Too little text for a window: the loader is empty and calc_loss_loader returns nan (its first branch).
    (With shuffle=True torch's and minigrad's RandomSampler refuse the empty dataset at construction.)"""
    cfg = _cfg()
    for lib in (torch, mg):
        _, create_dataloader_v1 = build_ch2(lib)
        loader = create_dataloader_v1("every effort", batch_size=2, max_length=cfg["context_length"],
                                      stride=cfg["context_length"], shuffle=False, drop_last=False)
        assert len(loader) == 0 and list(loader) == []
        model = build_ch4(lib)["GPTModel"](cfg)
        assert math.isnan(build_ch5(lib)["calc_loss_loader"](loader, model, "cpu"))


def test_ch4_generate_text_simple():
    """Greedy generation with the book's drop_rate=0.1 config in eval mode (dropout off)."""
    cfg = _cfg(drop_rate=0.1)
    m_model, t_model = _gpt_pair(cfg)
    start_context = "every effort"
    outs = {}
    for lib, model in ((torch, t_model), (mg, m_model)):
        encoded = TOK.encode(start_context)
        encoded_tensor = lib.tensor(encoded).unsqueeze(0)
        model.eval()
        out = build_ch4(lib)["generate_text_simple"](model=model, idx=encoded_tensor, max_new_tokens=10,
                                                     context_size=cfg["context_length"])
        decoded_text = TOK.decode(out.squeeze(0).tolist())
        outs[lib] = (out, decoded_text)
        assert encoded_tensor.shape == (1, 2)
    np.testing.assert_array_equal(_np(outs[mg][0]), _np(outs[torch][0]))
    assert outs[mg][1] == outs[torch][1] and outs[mg][0].shape == (1, 12)


def test_ch4_gpt_float32_as_written(float32_defaults):
    """The book runs in float32: logits and gradients at float32's rounding; dtypes stay float32."""
    cfg = _cfg()
    m_model, t_model = _gpt_pair(cfg)
    ids = _batch_ids(np.random.default_rng(4), 2, 8)
    for lib, model in ((torch, t_model), (mg, m_model)):
        x = lib.tensor(ids)
        logits = model(x)
        loss = lib.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), x[:, 1:].flatten())
        loss.backward()
        model._out = (logits, loss)
    assert m_model._out[0].dtype == mg.float32 and m_model.trf_blocks[0].norm1.scale.grad.dtype == mg.float32
    _close("logits f32", m_model._out[0], t_model._out[0], **TOL32)
    _close("loss f32", m_model._out[1], t_model._out[1], **TOL32)
    _same_grads(m_model, t_model, rtol=1e-4, atol=1e-6)


# ================================================================ chapter 5: pretraining
def build_ch5(torch):
    ch4 = build_ch4(torch)
    generate_text_simple = ch4["generate_text_simple"]

    def text_to_token_ids(text, tokenizer):
        encoded = tokenizer.encode(text, allowed_special={'<|endoftext|>'})
        encoded_tensor = torch.tensor(encoded).unsqueeze(0)  # add batch dimension
        return encoded_tensor

    def token_ids_to_text(token_ids, tokenizer):
        flat = token_ids.squeeze(0)  # remove batch dimension
        return tokenizer.decode(flat.tolist())

    def calc_loss_batch(input_batch, target_batch, model, device):
        input_batch, target_batch = input_batch.to(device), target_batch.to(device)
        logits = model(input_batch)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), target_batch.flatten())
        return loss

    def calc_loss_loader(data_loader, model, device, num_batches=None):
        total_loss = 0.
        if len(data_loader) == 0:
            return float("nan")
        elif num_batches is None:
            num_batches = len(data_loader)
        else:
            num_batches = min(num_batches, len(data_loader))
        for i, (input_batch, target_batch) in enumerate(data_loader):
            if i < num_batches:
                loss = calc_loss_batch(input_batch, target_batch, model, device)
                total_loss += loss.item()
            else:
                break
        return total_loss / num_batches

    def evaluate_model(model, train_loader, val_loader, device, eval_iter):
        model.eval()
        with torch.no_grad():
            train_loss = calc_loss_loader(train_loader, model, device, num_batches=eval_iter)
            val_loss = calc_loss_loader(val_loader, model, device, num_batches=eval_iter)
        model.train()
        return train_loss, val_loss

    def generate_and_print_sample(model, tokenizer, device, start_context, log):
        model.eval()
        context_size = model.pos_emb.weight.shape[0]
        encoded = text_to_token_ids(start_context, tokenizer).to(device)
        with torch.no_grad():
            token_ids = generate_text_simple(model=model, idx=encoded, max_new_tokens=6, context_size=context_size)
        decoded_text = token_ids_to_text(token_ids, tokenizer)
        log.append(decoded_text.replace("\n", " "))  # Compact print format
        model.train()

    def train_model_simple(model, train_loader, val_loader, optimizer, device, num_epochs,
                           eval_freq, eval_iter, start_context, tokenizer, log):
        train_losses, val_losses, track_tokens_seen = [], [], []
        tokens_seen, global_step = 0, -1
        for epoch in range(num_epochs):
            model.train()
            for input_batch, target_batch in train_loader:
                optimizer.zero_grad()
                loss = calc_loss_batch(input_batch, target_batch, model, device)
                loss.backward()
                optimizer.step()
                tokens_seen += input_batch.numel()
                global_step += 1
                if global_step % eval_freq == 0:
                    train_loss, val_loss = evaluate_model(model, train_loader, val_loader, device, eval_iter)
                    train_losses.append(train_loss)
                    val_losses.append(val_loss)
                    track_tokens_seen.append(tokens_seen)
                    log.append(f"Ep {epoch+1} (Step {global_step:06d}): "
                               f"Train loss {train_loss:.3f}, Val loss {val_loss:.3f}")
            generate_and_print_sample(model, tokenizer, device, start_context, log)
        return train_losses, val_losses, track_tokens_seen

    def generate(model, idx, max_new_tokens, context_size, temperature=0.0, top_k=None, eos_id=None):
        for _ in range(max_new_tokens):
            idx_cond = idx[:, -context_size:]
            with torch.no_grad():
                logits = model(idx_cond)
            logits = logits[:, -1, :]
            if top_k is not None:
                top_logits, _ = torch.topk(logits, top_k)
                min_val = top_logits[:, -1]
                logits = torch.where(logits < min_val, torch.tensor(float('-inf')).to(logits.device), logits)
            if temperature > 0.0:
                logits = logits / temperature
                probs = torch.softmax(logits, dim=-1)
                idx_next = torch.multinomial(probs, num_samples=1)
            else:
                idx_next = torch.argmax(logits, dim=-1, keepdim=True)
            if idx_next == eos_id:
                break
            idx = torch.cat((idx, idx_next), dim=1)
        return idx

    return dict(ch4, text_to_token_ids=text_to_token_ids, token_ids_to_text=token_ids_to_text,
                calc_loss_batch=calc_loss_batch, calc_loss_loader=calc_loss_loader, evaluate_model=evaluate_model,
                train_model_simple=train_model_simple, generate=generate)


def ch5_loss_by_hand(torch, logits, targets):
    """Section 5.1.2: the target probabilities picked out by hand, then cross_entropy and perplexity."""
    probas = torch.softmax(logits, dim=-1)
    token_ids = torch.argmax(probas, dim=-1, keepdim=True)
    text_idx = 0
    target_probas_1 = probas[text_idx, [0, 1, 2], targets[text_idx]]
    text_idx = 1
    target_probas_2 = probas[text_idx, [0, 1, 2], targets[text_idx]]
    log_probas = torch.log(torch.cat((target_probas_1, target_probas_2)))
    avg_log_probas = torch.mean(log_probas)
    neg_avg_log_probas = avg_log_probas * -1
    logits_flat = logits.flatten(0, 1)
    targets_flat = targets.flatten()
    loss = torch.nn.functional.cross_entropy(logits_flat, targets_flat)
    perplexity = torch.exp(loss)
    return token_ids, target_probas_1, log_probas, neg_avg_log_probas, loss, perplexity, logits_flat.shape


def test_ch5_loss_by_hand():
    cfg = _cfg()
    m_model, t_model = _gpt_pair(cfg)
    inputs = [[16, 1, 2], [6, 7, 8]]
    targets = [[1, 2, 3], [7, 8, 9]]
    res = {}
    for lib, model in ((torch, t_model), (mg, m_model)):
        with lib.no_grad():
            logits = model(lib.tensor(inputs))
        res[lib] = ch5_loss_by_hand(lib, logits, lib.tensor(targets))
    for i, (a, b) in enumerate(zip(res[mg][:-1], res[torch][:-1])):
        _close(f"loss cell {i}", a, b)
    assert tuple(res[mg][-1]) == tuple(res[torch][-1]) == (6, VOCAB)
    _close("cross_entropy == -mean log p", res[mg][4], res[mg][3])


def _loaders(lib, txt, cfg, batch_size=2, train_ratio=0.85):
    """Section 5.1.3's split and loaders (shuffle=False so both runs see the same batches)."""
    _, create_dataloader_v1 = build_ch2(lib)
    split_idx = int(train_ratio * len(txt))
    train_data, val_data = txt[:split_idx], txt[split_idx:]
    lib.manual_seed(123)
    train_loader = create_dataloader_v1(train_data, batch_size=batch_size, max_length=cfg["context_length"],
                                        stride=cfg["context_length"], drop_last=True, shuffle=False)
    val_loader = create_dataloader_v1(val_data, batch_size=batch_size, max_length=cfg["context_length"],
                                      stride=cfg["context_length"], drop_last=False, shuffle=False)
    return train_loader, val_loader


def _pretrain(lib, model, cfg, txt, num_epochs=2, log=None, optimizer=None):
    ch5 = build_ch5(lib)
    train_loader, val_loader = _loaders(lib, txt, cfg)
    device = lib.device("cuda" if lib.cuda.is_available() else "cpu")
    model.to(device)
    with lib.no_grad():
        start = (ch5["calc_loss_loader"](train_loader, model, device),
                 ch5["calc_loss_loader"](val_loader, model, device))
    if optimizer is None:
        optimizer = lib.optim.AdamW(model.parameters(), lr=0.0004 * 10, weight_decay=0.1)
    log = [] if log is None else log
    hist = ch5["train_model_simple"](model, train_loader, val_loader, optimizer, device, num_epochs=num_epochs,
                                     eval_freq=2, eval_iter=2, start_context="every effort moves you",
                                     tokenizer=TOK, log=log)
    epochs_seen = lib.linspace(0, num_epochs, len(hist[0]))  # plot_losses' x axis
    return dict(start=start, hist=hist, log=log, optimizer=optimizer, epochs=epochs_seen,
                n_train=len(train_loader), n_val=len(val_loader))


def test_ch5_train_model_simple_matches_torch():
    cfg = _cfg()
    txt = _text(240)
    m_model, t_model = _gpt_pair(cfg)
    t = _pretrain(torch, t_model, cfg, txt)
    m = _pretrain(mg, m_model, cfg, txt)
    assert m["n_train"] == t["n_train"] and m["n_val"] == t["n_val"] and t["n_train"] >= 4
    np.testing.assert_allclose(m["start"], t["start"], **TOL)
    for a, b in zip(m["hist"], t["hist"]):
        np.testing.assert_allclose(a, b, **TOL)
    assert m["log"] == t["log"]
    _same_state(m_model, t_model)
    _close("epochs_seen", m["epochs"], t["epochs"])
    assert m["hist"][0][-1] < m["hist"][0][0]  # it learns


def test_ch5_temperature_and_topk_cells():
    vocab = {"closer": 0, "every": 1, "effort": 2, "forward": 3, "inches": 4, "moves": 5, "pizza": 6,
             "toward": 7, "you": 8}
    inverse_vocab = {v: k for k, v in vocab.items()}
    res = {}
    for lib in (torch, mg):
        next_token_logits = lib.tensor([4.51, 0.89, -1.90, 6.75, 1.63, -1.62, -1.89, 6.28, 1.79])
        probas = lib.softmax(next_token_logits, dim=0)
        next_token_id = lib.argmax(probas).item()

        def softmax_with_temperature(logits, temperature):
            scaled_logits = logits / temperature
            return lib.softmax(scaled_logits, dim=0)

        temperatures = [1, 0.1, 5]
        scaled_probas = [softmax_with_temperature(next_token_logits, T) for T in temperatures]
        top_k = 3
        top_logits, top_pos = lib.topk(next_token_logits, top_k)
        new_logits = lib.where(condition=next_token_logits < top_logits[-1],
                               input=lib.tensor(float("-inf")), other=next_token_logits)
        topk_probas = lib.softmax(new_logits, dim=0)
        res[lib] = (probas, scaled_probas, top_logits, top_pos, new_logits, topk_probas,
                    inverse_vocab[next_token_id])
    m, t = res[mg], res[torch]
    _close("probas", m[0], t[0])
    for a, b in zip(m[1], t[1]):
        _close("temperature", a, b)
    for i in (2, 4, 5):
        _close(f"topk cell {i}", m[i], t[i])
    np.testing.assert_array_equal(_np(m[3]), _np(t[3]))
    assert m[6] == t[6] == "forward"

    # print_sampled_tokens: 1000 multinomial draws after manual_seed(123); minigrad's generator is its own,
    # so compare frequencies: each count is Binomial(1000, p) (sd <= 16), 5 sd
    probas = _np(m[0])
    mg.manual_seed(123)
    sample = [mg.multinomial(m[0], num_samples=1).item() for i in range(1_000)]
    sampled_ids = mg.bincount(mg.tensor(sample), minlength=len(probas))
    counts = _np(sampled_ids)
    assert counts.sum() == 1000 and sampled_ids.dtype == mg.int64
    np.testing.assert_array_less(np.abs(counts - 1000 * probas), 5 * np.sqrt(1000 * probas * (1 - probas)) + 1)
    mg.manual_seed(123)
    again = [mg.multinomial(m[0], num_samples=1).item() for i in range(1_000)]
    assert again == sample  # seeded: reproducible
    # the same with a seeded generator passed in (generator=), as a learner does to keep sampling apart
    draws = [[mg.multinomial(m[0], num_samples=1, generator=g).item() for _ in range(50)]
             for g in (mg.Generator().manual_seed(123), mg.Generator().manual_seed(123))]
    assert draws[0] == draws[1]


def test_ch5_generate_with_eos_none_and_greedy():
    """generate() with its defaults (temperature=0.0, eos_id=None: `idx_next == eos_id` must be False, as in
    torch), with top_k alone, and with top_k=1 and a temperature (one nonzero probability: multinomial must pick
    it), and stopping at eos_id."""
    cfg = _cfg()
    m_model, t_model = _gpt_pair(cfg)
    res = {}
    for lib, model in ((torch, t_model), (mg, m_model)):
        model.eval()
        g = build_ch5(lib)
        idx = g["text_to_token_ids"]("every effort moves you", TOK)
        out1 = g["generate"](model=model, idx=idx, max_new_tokens=8, context_size=cfg["context_length"])
        out2 = g["generate"](model=model, idx=idx, max_new_tokens=8, context_size=cfg["context_length"], top_k=5)
        lib.manual_seed(123)
        out3 = g["generate"](model=model, idx=idx, max_new_tokens=8, context_size=cfg["context_length"],
                             top_k=1, temperature=1.4)
        # eos: the first greedy token is declared the end-of-text id, so nothing is appended
        first = int(out1[0, 4])
        out4 = g["generate"](model=model, idx=idx, max_new_tokens=8, context_size=cfg["context_length"],
                             eos_id=first)
        res[lib] = (out1, out2, out3, out4, g["token_ids_to_text"](out1, TOK))
    for a, b in zip(res[mg][:4], res[torch][:4]):
        np.testing.assert_array_equal(_np(a), _np(b))
    np.testing.assert_array_equal(_np(res[mg][0]), _np(res[mg][2]))  # top_k=1 sampling == greedy
    assert res[mg][3].shape == (1, 4) and res[mg][4] == res[torch][4]


def test_tensor_eq_none_and_text_is_false_as_torch():
    """torch.Tensor.__eq__ with None or text returns False (Python's fallback), != returns True."""
    for lib in (torch, mg):
        t = lib.tensor([[3]])
        assert (t == None) is False and (t != None) is True  # noqa: E711
        assert (t == "a") is False and (t != "a") is True
        assert (None == t) is False  # noqa: E711
    # comparisons that order still refuse text, and a number compares elementwise
    with pytest.raises(TypeError, match="lt"):
        mg.tensor([1]) < "2"
    assert bool(mg.tensor([[3]]) == 3)


def test_where_takes_torchs_keyword_names():
    c = np.array([True, False, True])
    for lib in (torch, mg):
        a, b = lib.tensor([1.0, 2.0, 3.0]), lib.tensor([-1.0, -2.0, -3.0])
        out = lib.where(condition=lib.tensor(c), input=a, other=b)
        np.testing.assert_array_equal(_np(out), [1.0, -2.0, 3.0])
        np.testing.assert_array_equal(_np(lib.where(lib.tensor(c), a, other=b)), [1.0, -2.0, 3.0])


def test_math_constants():
    for name in ("pi", "e", "inf", "nan", "newaxis"):
        a, b = getattr(mg, name), getattr(torch, name)
        assert type(a) is type(b) and (a == b or (a != a and b != b)), name
    assert -mg.inf == float("-inf")
    x = mg.ones(2, 3)
    assert x[:, mg.newaxis].shape == (2, 1, 3)


@pytest.mark.parametrize("temperature,top_k", [(1.4, 25), (1.0, None), (0.7, 3)])
def test_ch5_generate_sampling_with_shared_draws(temperature, top_k):
    cfg = _cfg()
    m_model, t_model = _gpt_pair(cfg)
    uniforms = np.random.default_rng(7).random((10, 1))
    res = {}
    for lib, model in ((torch, t_model), (mg, m_model)):
        model.eval()
        shim = SharedSampling(lib, uniforms)
        g = build_ch5(shim)
        idx = g["text_to_token_ids"]("every effort moves you", TOK)
        out = g["generate"](model=model, idx=idx, max_new_tokens=10, context_size=cfg["context_length"],
                            top_k=top_k, temperature=temperature)
        res[lib] = (out, shim.probs)
    np.testing.assert_array_equal(_np(res[mg][0]), _np(res[torch][0]))
    assert len(res[mg][1]) == len(res[torch][1]) == 10
    for a, b in zip(res[mg][1], res[torch][1]):
        _close("sampling probs", a, b)
        if top_k is not None:
            assert (a > 0).sum() <= top_k


def test_ch5_save_and_load_model_and_optimizer(tmp_path):
    """torch.save(model.state_dict()); load_state_dict(torch.load(..., map_location=device, weights_only=True));
    the model+optimizer dict; training resumed from it continues exactly as the uninterrupted run, as in torch."""
    cfg = _cfg()
    txt = _text(240)
    results = {}
    for lib in (torch, mg):
        GPTModel = build_ch4(lib)["GPTModel"]
        m_model, t_model = _gpt_pair(cfg)
        model = t_model if lib is torch else m_model
        device = lib.device("cpu")
        run = _pretrain(lib, model, cfg, txt, num_epochs=1)
        optimizer = run["optimizer"]
        path = tmp_path / f"{lib.__name__}_model.pth"
        lib.save(model.state_dict(), path)
        model2 = GPTModel(cfg)
        model2.load_state_dict(lib.load(path, map_location=device, weights_only=True))
        model2.eval()
        _same_state(model2, model)
        both = tmp_path / f"{lib.__name__}_model_and_optimizer.pth"
        lib.save({"model_state_dict": model.state_dict(), "optimizer_state_dict": optimizer.state_dict()}, both)
        # the uninterrupted run: one more epoch
        cont = _pretrain(lib, model, cfg, txt, num_epochs=1, optimizer=optimizer)
        # the resumed one
        checkpoint = lib.load(both, weights_only=True)
        model3 = GPTModel(cfg)
        model3.load_state_dict(checkpoint["model_state_dict"])
        optimizer3 = lib.optim.AdamW(model3.parameters(), lr=5e-4, weight_decay=0.1)
        optimizer3.load_state_dict(checkpoint["optimizer_state_dict"])
        model3.train()
        resumed = _pretrain(lib, model3, cfg, txt, num_epochs=1, optimizer=optimizer3)
        for a, b in zip(resumed["hist"], cont["hist"]):
            np.testing.assert_array_equal(a, b)
        sa, sb = model3.state_dict(), model.state_dict()
        for k in sa:
            np.testing.assert_array_equal(_np(sa[k]), _np(sb[k]), err_msg=k)
        results[lib] = (model3, resumed)
    _same_state(results[mg][0], results[torch][0])
    np.testing.assert_allclose(results[mg][1]["hist"][0], results[torch][1]["hist"][0], **TOL)
    # a checkpoint written by torch.save: minigrad never unpickles (README), and the error says what to do
    with pytest.raises(mg.io.CheckpointError, match="torch.save file.*load_state_dict"):
        mg.load(tmp_path / "torch_model.pth", weights_only=True)
    # ... which works: torch's state dict (torch tensors) straight into our model
    model4 = build_ch4(mg)["GPTModel"](cfg)
    model4.load_state_dict(torch.load(tmp_path / "torch_model.pth", weights_only=True))
    sd = torch.load(tmp_path / "torch_model.pth", weights_only=True)
    for k, v in model4.state_dict().items():
        np.testing.assert_array_equal(_np(v), sd[k].numpy(), err_msg=k)


def test_ch5_device_selection_cells():
    """The book's device choice (cuda, then mps, then cpu) and model.to(device) / tensor.to(device)."""
    for lib in (torch, mg):
        if lib.cuda.is_available():
            device = lib.device("cuda")
        elif lib.backends.mps.is_available():
            device = lib.device("mps")
        else:
            device = lib.device("cpu")
        model = build_ch4(lib)["GPTModel"](_cfg())
        assert model.to(device) is model
        x = lib.tensor([[1, 2, 3]]).to(device)
        assert model(x).shape == (1, 3, VOCAB)
        assert str(x.device) in (str(device), "cuda:0")


def test_ch5_load_weights_into_gpt_from_numpy_params():
    """Section 5.5: GPT-2's weights as gpt_download.py returns them (a dict of NumPy arrays, c_attn fused and
    stored input-major), copied in with assign() = nn.Parameter(torch.tensor(right)) and np.split(..., 3)."""
    cfg = _cfg(qkv_bias=True)
    E, L = cfg["emb_dim"], cfg["n_layers"]
    rng = np.random.default_rng(5)
    r = lambda *s: 0.3 * rng.standard_normal(s)  # noqa: E731
    params = {"wte": r(VOCAB, E), "wpe": r(cfg["context_length"], E), "g": 1 + r(E), "b": r(E), "blocks": [
        {"attn": {"c_attn": {"w": r(E, 3 * E), "b": r(3 * E)}, "c_proj": {"w": r(E, E), "b": r(E)}},
         "mlp": {"c_fc": {"w": r(E, 4 * E), "b": r(4 * E)}, "c_proj": {"w": r(4 * E, E), "b": r(E)}},
         "ln_1": {"g": 1 + r(E), "b": r(E)}, "ln_2": {"g": 1 + r(E), "b": r(E)}} for _ in range(L)]}

    def load_weights_into_gpt(torch, gpt, params):
        def assign(left, right):
            if left.shape != right.shape:
                raise ValueError(f"Shape mismatch. Left: {left.shape}, Right: {right.shape}")
            return torch.nn.Parameter(torch.tensor(right))

        gpt.pos_emb.weight = assign(gpt.pos_emb.weight, params['wpe'])
        gpt.tok_emb.weight = assign(gpt.tok_emb.weight, params['wte'])
        for b in range(len(params["blocks"])):
            q_w, k_w, v_w = np.split((params["blocks"][b]["attn"]["c_attn"])["w"], 3, axis=-1)
            gpt.trf_blocks[b].att.W_query.weight = assign(gpt.trf_blocks[b].att.W_query.weight, q_w.T)
            gpt.trf_blocks[b].att.W_key.weight = assign(gpt.trf_blocks[b].att.W_key.weight, k_w.T)
            gpt.trf_blocks[b].att.W_value.weight = assign(gpt.trf_blocks[b].att.W_value.weight, v_w.T)
            q_b, k_b, v_b = np.split((params["blocks"][b]["attn"]["c_attn"])["b"], 3, axis=-1)
            gpt.trf_blocks[b].att.W_query.bias = assign(gpt.trf_blocks[b].att.W_query.bias, q_b)
            gpt.trf_blocks[b].att.W_key.bias = assign(gpt.trf_blocks[b].att.W_key.bias, k_b)
            gpt.trf_blocks[b].att.W_value.bias = assign(gpt.trf_blocks[b].att.W_value.bias, v_b)
            gpt.trf_blocks[b].att.out_proj.weight = assign(
                gpt.trf_blocks[b].att.out_proj.weight, params["blocks"][b]["attn"]["c_proj"]["w"].T)
            gpt.trf_blocks[b].att.out_proj.bias = assign(
                gpt.trf_blocks[b].att.out_proj.bias, params["blocks"][b]["attn"]["c_proj"]["b"])
            gpt.trf_blocks[b].ff.layers[0].weight = assign(
                gpt.trf_blocks[b].ff.layers[0].weight, params["blocks"][b]["mlp"]["c_fc"]["w"].T)
            gpt.trf_blocks[b].ff.layers[0].bias = assign(
                gpt.trf_blocks[b].ff.layers[0].bias, params["blocks"][b]["mlp"]["c_fc"]["b"])
            gpt.trf_blocks[b].ff.layers[2].weight = assign(
                gpt.trf_blocks[b].ff.layers[2].weight, params["blocks"][b]["mlp"]["c_proj"]["w"].T)
            gpt.trf_blocks[b].ff.layers[2].bias = assign(
                gpt.trf_blocks[b].ff.layers[2].bias, params["blocks"][b]["mlp"]["c_proj"]["b"])
            gpt.trf_blocks[b].norm1.scale = assign(gpt.trf_blocks[b].norm1.scale, params["blocks"][b]["ln_1"]["g"])
            gpt.trf_blocks[b].norm1.shift = assign(gpt.trf_blocks[b].norm1.shift, params["blocks"][b]["ln_1"]["b"])
            gpt.trf_blocks[b].norm2.scale = assign(gpt.trf_blocks[b].norm2.scale, params["blocks"][b]["ln_2"]["g"])
            gpt.trf_blocks[b].norm2.shift = assign(gpt.trf_blocks[b].norm2.shift, params["blocks"][b]["ln_2"]["b"])
        gpt.final_norm.scale = assign(gpt.final_norm.scale, params["g"])
        gpt.final_norm.shift = assign(gpt.final_norm.shift, params["b"])
        gpt.out_head.weight = assign(gpt.out_head.weight, params["wte"])

    ids = _batch_ids(rng, 2, 8)
    res = {}
    for lib in (torch, mg):
        lib.manual_seed(123)
        gpt = build_ch4(lib)["GPTModel"](cfg)
        load_weights_into_gpt(lib, gpt, params)
        gpt.eval()
        logits = gpt(lib.tensor(ids))
        lib.nn.functional.cross_entropy(logits.flatten(0, 1), lib.tensor(ids).roll(-1, 1).flatten()).backward()
        res[lib] = (gpt, logits)
        with pytest.raises(ValueError, match="Shape mismatch"):
            load_weights_into_gpt(lib, gpt, dict(params, wpe=r(3, E)))
    _close("logits from GPT-2-format params", res[mg][1], res[torch][1])
    _same_grads(res[mg][0], res[torch][0])
    _same_state(res[mg][0], res[torch][0])
    np.testing.assert_array_equal(_np(res[mg][0].out_head.weight), params["wte"])
    assert res[mg][0].out_head.weight is not res[mg][0].tok_emb.weight  # separate Parameters, as in torch


# ================================================================ chapter 6: classification fine-tuning
def build_ch6(torch):
    Dataset = torch.utils.data.Dataset

    class SpamDataset(Dataset):
        def __init__(self, rows, tokenizer, max_length=None, pad_token_id=TOK.eot):
            self.data = rows  # (text, label) pairs standing in for the pandas frame; labels are np.int64
            self.encoded_texts = [tokenizer.encode(text) for text, _ in self.data]
            if max_length is None:
                self.max_length = self._longest_encoded_length()
            else:
                self.max_length = max_length
                self.encoded_texts = [encoded_text[:self.max_length] for encoded_text in self.encoded_texts]
            self.encoded_texts = [encoded_text + [pad_token_id] * (self.max_length - len(encoded_text))
                                  for encoded_text in self.encoded_texts]

        def __getitem__(self, index):
            encoded = self.encoded_texts[index]
            label = self.data[index][1]
            return (torch.tensor(encoded, dtype=torch.long), torch.tensor(label, dtype=torch.long))

        def __len__(self):
            return len(self.data)

        def _longest_encoded_length(self):
            max_length = 0
            for encoded_text in self.encoded_texts:
                encoded_length = len(encoded_text)
                if encoded_length > max_length:
                    max_length = encoded_length
            return max_length

    def calc_accuracy_loader(data_loader, model, device, num_batches=None):
        model.eval()
        correct_predictions, num_examples = 0, 0
        if num_batches is None:
            num_batches = len(data_loader)
        else:
            num_batches = min(num_batches, len(data_loader))
        for i, (input_batch, target_batch) in enumerate(data_loader):
            if i < num_batches:
                input_batch, target_batch = input_batch.to(device), target_batch.to(device)
                with torch.no_grad():
                    logits = model(input_batch)[:, -1, :]  # Logits of last output token
                predicted_labels = torch.argmax(logits, dim=-1)
                num_examples += predicted_labels.shape[0]
                correct_predictions += (predicted_labels == target_batch).sum().item()
            else:
                break
        return correct_predictions / num_examples

    def calc_loss_batch(input_batch, target_batch, model, device):
        input_batch, target_batch = input_batch.to(device), target_batch.to(device)
        logits = model(input_batch)[:, -1, :]  # Logits of last output token
        loss = torch.nn.functional.cross_entropy(logits, target_batch)
        return loss

    def calc_loss_loader(data_loader, model, device, num_batches=None):
        total_loss = 0.
        if len(data_loader) == 0:
            return float("nan")
        elif num_batches is None:
            num_batches = len(data_loader)
        else:
            num_batches = min(num_batches, len(data_loader))
        for i, (input_batch, target_batch) in enumerate(data_loader):
            if i < num_batches:
                loss = calc_loss_batch(input_batch, target_batch, model, device)
                total_loss += loss.item()
            else:
                break
        return total_loss / num_batches

    def evaluate_model(model, train_loader, val_loader, device, eval_iter):
        model.eval()
        with torch.no_grad():
            train_loss = calc_loss_loader(train_loader, model, device, num_batches=eval_iter)
            val_loss = calc_loss_loader(val_loader, model, device, num_batches=eval_iter)
        model.train()
        return train_loss, val_loss

    def train_classifier_simple(model, train_loader, val_loader, optimizer, device, num_epochs,
                                eval_freq, eval_iter, log):
        train_losses, val_losses, train_accs, val_accs = [], [], [], []
        examples_seen, global_step = 0, -1
        for epoch in range(num_epochs):
            model.train()
            for input_batch, target_batch in train_loader:
                optimizer.zero_grad()
                loss = calc_loss_batch(input_batch, target_batch, model, device)
                loss.backward()
                optimizer.step()
                examples_seen += input_batch.shape[0]
                global_step += 1
                if global_step % eval_freq == 0:
                    train_loss, val_loss = evaluate_model(model, train_loader, val_loader, device, eval_iter)
                    train_losses.append(train_loss)
                    val_losses.append(val_loss)
                    log.append(f"Ep {epoch+1} (Step {global_step:06d}): "
                               f"Train loss {train_loss:.3f}, Val loss {val_loss:.3f}")
            train_accuracy = calc_accuracy_loader(train_loader, model, device, num_batches=eval_iter)
            val_accuracy = calc_accuracy_loader(val_loader, model, device, num_batches=eval_iter)
            log.append(f"Training accuracy: {train_accuracy*100:.2f}% | Validation accuracy: {val_accuracy*100:.2f}%")
            train_accs.append(train_accuracy)
            val_accs.append(val_accuracy)
        return train_losses, val_losses, train_accs, val_accs, examples_seen

    def classify_review(text, model, tokenizer, device, max_length=None, pad_token_id=TOK.eot):
        model.eval()
        input_ids = tokenizer.encode(text)
        supported_context_length = model.pos_emb.weight.shape[0]
        input_ids = input_ids[:min(max_length, supported_context_length)]
        input_ids += [pad_token_id] * (max_length - len(input_ids))
        input_tensor = torch.tensor(input_ids, device=device).unsqueeze(0)
        with torch.no_grad():
            logits = model(input_tensor)[:, -1, :]
        predicted_label = torch.argmax(logits, dim=-1).item()
        return "spam" if predicted_label == 1 else "not spam"

    return dict(SpamDataset=SpamDataset, calc_accuracy_loader=calc_accuracy_loader, calc_loss_loader=calc_loss_loader,
                train_classifier_simple=train_classifier_simple, classify_review=classify_review)


def _spam_rows(n, seed):
    rng = np.random.default_rng(seed)
    ham, spam = "the cat sat on a mat and it was warm today".split(), "spam win money now free prize call".split()
    rows = []
    for i in range(n):
        label = np.int64(i % 2)  # pandas hands out NumPy integers
        words = spam if label else ham
        rows.append((" ".join(rng.choice(words, size=rng.integers(2, 7))), label))
    return rows


def prepare_classifier(torch, model, cfg):
    """Section 6.5: freeze everything, a new 2-class out_head, unfreeze the last block and the final norm."""
    for param in model.parameters():
        param.requires_grad = False
    torch.manual_seed(123)
    num_classes = 2
    model.out_head = torch.nn.Linear(in_features=cfg["emb_dim"], out_features=num_classes)
    for param in model.trf_blocks[-1].parameters():
        param.requires_grad = True
    for param in model.final_norm.parameters():
        param.requires_grad = True
    return model


def _finetune_classifier(lib, model, cfg, head_state=None):
    ch6 = build_ch6(lib)
    DataLoader = lib.utils.data.DataLoader
    prepare_classifier(lib, model, cfg)
    if head_state is not None:
        model.out_head.load_state_dict(head_state)
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    train_dataset = ch6["SpamDataset"](_spam_rows(12, 0), TOK, max_length=None)
    val_dataset = ch6["SpamDataset"](_spam_rows(6, 1), TOK, max_length=train_dataset.max_length)
    train_loader = DataLoader(train_dataset, batch_size=4, shuffle=False, drop_last=True)
    val_loader = DataLoader(val_dataset, batch_size=4, shuffle=False, drop_last=False)
    device = lib.device("cpu")
    inputs = lib.tensor(TOK.encode("do you have time")).unsqueeze(0)
    with lib.no_grad():
        outputs = model(inputs)
    probas = lib.softmax(outputs[:, -1, :], dim=-1)
    label = lib.argmax(probas)
    acc0 = ch6["calc_accuracy_loader"](train_loader, model, device, num_batches=2)
    optimizer = lib.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=0.1)
    log = []
    hist = ch6["train_classifier_simple"](model, train_loader, val_loader, optimizer, device, num_epochs=2,
                                          eval_freq=2, eval_iter=2, log=log)
    verdicts = [ch6["classify_review"](t, model, TOK, device, max_length=train_dataset.max_length)
                for t in ("win free money now", "the cat was warm")]
    return dict(n_trainable=n_trainable, outputs=outputs, label=label.item(), acc0=acc0, hist=hist, log=log,
                verdicts=verdicts, max_length=train_dataset.max_length, first=train_dataset[0])


def test_ch6_classification_finetune_matches_torch():
    cfg = _cfg()
    m_model, t_model = _gpt_pair(cfg)
    frozen_before = {k: _np(v).copy() for k, v in m_model.state_dict().items()}
    t = _finetune_classifier(torch, t_model, cfg)
    m = _finetune_classifier(mg, m_model, cfg, head_state={k: v.detach().numpy() for k, v in
                                                           prepare_classifier(torch, build_ch4(torch)["GPTModel"](cfg),
                                                                              cfg).out_head.state_dict().items()})
    assert m["n_trainable"] == t["n_trainable"]
    assert m["max_length"] == t["max_length"]
    x, y = m["first"]
    assert x.dtype == mg.int64 and y.dtype == mg.int64 and y.shape == () and int(y) == 0
    _close("outputs", m["outputs"], t["outputs"])
    assert m["label"] == t["label"] and m["acc0"] == t["acc0"]
    for a, b in zip(m["hist"][:2], t["hist"][:2]):
        np.testing.assert_allclose(a, b, **TOL)
    assert m["hist"][2:] == t["hist"][2:]
    assert m["log"] == t["log"] and m["verdicts"] == t["verdicts"]
    _same_state(m_model, t_model)
    # frozen parameters: no gradient, unchanged by AdamW (weight decay skips them too)
    for k, p in m_model.named_parameters():
        if k.startswith("trf_blocks.0.") or k.startswith("tok_emb") or k.startswith("pos_emb"):
            assert not p.requires_grad and p.grad is None, k
            np.testing.assert_array_equal(_np(p), frozen_before[k], err_msg=k)
        else:
            assert p.requires_grad, k
    assert m_model.out_head.weight.shape == (2, cfg["emb_dim"]) and m_model.out_head.bias is not None


# ================================================================ chapter 7: instruction fine-tuning
def build_ch7(torch):
    Dataset = torch.utils.data.Dataset

    def format_input(entry):
        instruction_text = (
            f"Below is an instruction that describes a task. "
            f"Write a response that appropriately completes the request."
            f"\n\n### Instruction:\n{entry['instruction']}"
        )
        input_text = f"\n\n### Input:\n{entry['input']}" if entry["input"] else ""
        return instruction_text + input_text

    class InstructionDataset(Dataset):
        def __init__(self, data, tokenizer):
            self.data = data
            self.encoded_texts = []
            for entry in data:
                instruction_plus_input = format_input(entry)
                response_text = f"\n\n### Response:\n{entry['output']}"
                full_text = instruction_plus_input + response_text
                self.encoded_texts.append(tokenizer.encode(full_text))

        def __getitem__(self, index):
            return self.encoded_texts[index]

        def __len__(self):
            return len(self.data)

    def custom_collate_fn(batch, pad_token_id=TOK.eot, ignore_index=-100, allowed_max_length=None, device="cpu"):
        batch_max_length = max(len(item) + 1 for item in batch)
        inputs_lst, targets_lst = [], []
        for item in batch:
            new_item = item.copy()
            new_item += [pad_token_id]
            padded = new_item + [pad_token_id] * (batch_max_length - len(new_item))
            inputs = torch.tensor(padded[:-1])
            targets = torch.tensor(padded[1:])
            mask = targets == pad_token_id
            indices = torch.nonzero(mask).squeeze()
            if indices.numel() > 1:
                targets[indices[1:]] = ignore_index
            if allowed_max_length is not None:
                inputs = inputs[:allowed_max_length]
                targets = targets[:allowed_max_length]
            inputs_lst.append(inputs)
            targets_lst.append(targets)
        inputs_tensor = torch.stack(inputs_lst).to(device)
        targets_tensor = torch.stack(targets_lst).to(device)
        return inputs_tensor, targets_tensor

    return dict(format_input=format_input, InstructionDataset=InstructionDataset, custom_collate_fn=custom_collate_fn)


def test_ch7_custom_collate_fn_and_ignore_index():
    inputs_1, inputs_2, inputs_3 = [0, 1, 2, 3, 4], [5, 6], [7, 8, 9]
    batch = (inputs_1, inputs_2, inputs_3)
    res = {}
    for lib in (torch, mg):
        collate = build_ch7(lib)["custom_collate_fn"]
        a = collate(batch)
        b = collate(batch, allowed_max_length=3)
        c = collate([[1, 2, 3]], device="cpu")  # one pad only: nonzero(...).squeeze() is 0-d
        F = lib.nn.functional
        logits_1 = lib.tensor([[-1.0, 1.0], [-0.5, 1.5]])
        targets_1 = lib.tensor([0, 1])
        loss_1 = F.cross_entropy(logits_1, targets_1)
        logits_2 = lib.tensor([[-1.0, 1.0], [-0.5, 1.5], [-0.5, 1.5]])
        targets_2 = lib.tensor([0, 1, 1])
        loss_2 = F.cross_entropy(logits_2, targets_2)
        targets_3 = lib.tensor([0, 1, -100])
        loss_3 = F.cross_entropy(logits_2, targets_3)
        res[lib] = (a, b, c, loss_1, loss_2, loss_3)
    for x, y in zip(res[mg][:3], res[torch][:3]):
        for u, v in zip(x, y):
            np.testing.assert_array_equal(_np(u), _np(v))
            assert u.dtype == mg.int64
    for i in (3, 4, 5):
        _close(f"loss {i}", res[mg][i], res[torch][i])
    _close("ignore_index drops the row", res[mg][5], res[mg][3])
    np.testing.assert_array_equal(_np(res[mg][0][1])[1], [6, TOK.eot, -100, -100, -100])


def _instruction_data(n, seed):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        w = list(rng.choice(WORDS[:17], size=3))
        out.append({"instruction": " ".join(w[:2]), "input": w[2] if i % 2 else "", "output": " ".join(w[::-1])})
    return out


def _instruction_finetune(lib, model, cfg):
    ch5, ch7 = build_ch5(lib), build_ch7(lib)
    DataLoader = lib.utils.data.DataLoader
    device = lib.device("cuda" if lib.cuda.is_available() else "cpu")
    customized_collate_fn = partial(ch7["custom_collate_fn"], device=device, allowed_max_length=cfg["context_length"])
    num_workers, batch_size = 0, 2
    lib.manual_seed(123)
    train_dataset = ch7["InstructionDataset"](_instruction_data(6, 0), TOK)
    train_loader = DataLoader(train_dataset, batch_size=batch_size, collate_fn=customized_collate_fn, shuffle=False,
                              drop_last=True, num_workers=num_workers)
    val_dataset = ch7["InstructionDataset"](_instruction_data(3, 1), TOK)
    val_loader = DataLoader(val_dataset, batch_size=batch_size, collate_fn=customized_collate_fn, shuffle=False,
                            drop_last=False, num_workers=num_workers)
    shapes = [tuple(x.shape) for x, _ in train_loader]
    with lib.no_grad():
        start = ch5["calc_loss_loader"](train_loader, model, device, num_batches=5)
    optimizer = lib.optim.AdamW(model.parameters(), lr=0.00005 * 20, weight_decay=0.1)
    log = []
    hist = ch5["train_model_simple"](model, train_loader, val_loader, optimizer, device, num_epochs=2, eval_freq=2,
                                     eval_iter=2, start_context=ch7["format_input"](_instruction_data(1, 2)[0]),
                                     tokenizer=TOK, log=log)
    entry = _instruction_data(1, 3)[0]
    input_text = ch7["format_input"](entry)
    token_ids = ch5["generate"](model=model, idx=ch5["text_to_token_ids"](input_text, TOK).to(device)[:, -4:],
                                max_new_tokens=6, context_size=cfg["context_length"], eos_id=TOK.eot)
    generated_text = ch5["token_ids_to_text"](token_ids, TOK)
    return dict(start=start, hist=hist, log=log, shapes=shapes, text=generated_text)


def test_ch7_instruction_finetune_matches_torch():
    cfg = _cfg()
    m_model, t_model = _gpt_pair(cfg)
    t = _instruction_finetune(torch, t_model, cfg)
    m = _instruction_finetune(mg, m_model, cfg)
    assert m["shapes"] == t["shapes"] and all(s[1] <= cfg["context_length"] for s in m["shapes"])
    np.testing.assert_allclose(m["start"], t["start"], **TOL)
    for a, b in zip(m["hist"], t["hist"]):
        np.testing.assert_allclose(a, b, **TOL)
    assert m["log"] == t["log"] and m["text"] == t["text"]
    _same_state(m_model, t_model)


# ================================================================ appendix E: LoRA
def build_lora(torch):
    class LoRALayer(torch.nn.Module):
        def __init__(self, in_dim, out_dim, rank, alpha):
            super().__init__()
            self.A = torch.nn.Parameter(torch.empty(in_dim, rank))
            torch.nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))  # similar to standard weight initialization
            self.B = torch.nn.Parameter(torch.zeros(rank, out_dim))
            self.alpha = alpha
            self.rank = rank

        def forward(self, x):
            x = (self.alpha / self.rank) * (x @ self.A @ self.B)
            return x

    class LinearWithLoRA(torch.nn.Module):
        def __init__(self, linear, rank, alpha):
            super().__init__()
            self.linear = linear
            self.lora = LoRALayer(linear.in_features, linear.out_features, rank, alpha)

        def forward(self, x):
            return self.linear(x) + self.lora(x)

    def replace_linear_with_lora(model, rank, alpha):
        for name, module in model.named_children():
            if isinstance(module, torch.nn.Linear):
                # Replace the Linear layer with LinearWithLoRA
                setattr(model, name, LinearWithLoRA(module, rank, alpha))
            else:
                # Recursively apply the same function to child modules
                replace_linear_with_lora(module, rank, alpha)

    return LoRALayer, LinearWithLoRA, replace_linear_with_lora


def test_lora_layer_init():
    """kaiming_uniform_(A, a=sqrt(5)) on an (in_dim, rank) matrix: torch's fan_in is size(1) = rank, so the
    bound is sqrt(6 / ((1 + 5) * rank)) = 1 / sqrt(rank); B starts at zero, so the LoRA path adds nothing."""
    LoRALayer, LinearWithLoRA, _ = build_lora(mg)
    mg.manual_seed(0)
    layer = LoRALayer(64, 10, rank=4, alpha=8)
    A = _np(layer.A)
    assert A.shape == (64, 4) and np.abs(A).max() <= 0.5 and np.abs(A).max() > 0.45
    # U(-b, b): variance b^2 / 3 = 1 / 12; 256 draws, the sample variance's sd is ~0.0047; 5 sd
    assert abs(A.var() - 1 / 12) < 0.024
    np.testing.assert_array_equal(_np(layer.B), 0)
    lin = mg.nn.Linear(6, 3)
    x = mg.randn(2, 6)
    np.testing.assert_array_equal(_np(LinearWithLoRA(lin, rank=2, alpha=4)(x)), _np(lin(x)))


def _lora_model(lib, cfg, ref=None, rank=2, alpha=4):
    _, _, replace_linear_with_lora = build_lora(lib)
    lib.manual_seed(123)
    model = build_ch4(lib)["GPTModel"](cfg)
    if ref is not None:
        model.load_state_dict({k: v.detach().numpy().copy() for k, v in ref[0].items()})
    total_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    for param in model.parameters():
        param.requires_grad = False
    frozen = sum(p.numel() for p in model.parameters() if p.requires_grad)
    replace_linear_with_lora(model, rank=rank, alpha=alpha)
    if ref is not None:  # A from torch's draw; B is zeros in both
        missing, unexpected = model.load_state_dict({k: v.detach().numpy().copy() for k, v in ref[1].items()})
        assert not missing and not unexpected
    lora_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return model, (total_params, frozen, lora_params)


def test_lora_replace_and_finetune_matches_torch():
    cfg = _cfg()
    torch.manual_seed(123)
    t_model, t_counts = _lora_model(torch, cfg)
    # the base weights of the torch model, before replacement (keys without .linear)
    base = build_ch4(torch)["GPTModel"](cfg).state_dict()
    _, _, rep = build_lora(torch)
    torch.manual_seed(123)
    t_model = build_ch4(torch)["GPTModel"](cfg)
    t_model.load_state_dict(base)
    for p in t_model.parameters():
        p.requires_grad = False
    rep(t_model, rank=2, alpha=4)
    m_model, m_counts = _lora_model(mg, cfg, ref=(base, t_model.state_dict()))
    assert m_counts == t_counts and m_counts[1] == 0
    # every Linear is wrapped, in Sequentials (ff.layers.0 / .2) and as attributes (W_query, out_head)
    assert type(m_model.trf_blocks[0].ff.layers[0]).__name__ == "LinearWithLoRA"
    assert type(m_model.trf_blocks[0].ff.layers[1]).__name__ == "GELU"
    assert type(m_model.out_head).__name__ == "LinearWithLoRA"
    assert type(m_model.trf_blocks[1].att.W_query).__name__ == "LinearWithLoRA"
    assert list(m_model.state_dict()) == list(t_model.state_dict())
    assert "trf_blocks.0.ff.layers.0.lora.A" in m_model.state_dict()
    assert repr(m_model) == repr(t_model)  # print(model) after the replacement, as the appendix shows it
    assert sorted(k for k, p in m_model.named_parameters() if p.requires_grad) == \
        sorted(k for k, p in t_model.named_parameters() if p.requires_grad)
    # LoRA starts as the identity change: the logits are the base model's
    ids = _batch_ids(np.random.default_rng(8), 2, 8)
    _close("logits after replacement", m_model(mg.tensor(ids)), t_model(torch.tensor(ids)))
    # a pretraining run with only A and B trainable
    txt = _text(240)
    t = _pretrain(torch, t_model, cfg, txt, num_epochs=1)
    m = _pretrain(mg, m_model, cfg, txt, num_epochs=1)
    for a, b in zip(m["hist"], t["hist"]):
        np.testing.assert_allclose(a, b, **TOL)
    assert m["log"] == t["log"]
    _same_state(m_model, t_model)
    for k, p in m_model.named_parameters():
        if not (k.endswith(".A") or k.endswith(".B")):
            assert p.grad is None and not p.requires_grad, k
    assert np.abs(_np(m_model.out_head.lora.B)).max() > 0  # B moved away from zero


def test_lora_setattr_on_sequential_child_replaces_it():
    """setattr(seq, '0', new) on an nn.Sequential (what replace_linear_with_lora does to FeedForward.layers)
    replaces the child used by forward, by indexing and in state_dict, as in torch."""
    for lib in (torch, mg):
        lib.manual_seed(0)
        seq = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.ReLU(), lib.nn.Linear(4, 2))
        new = lib.nn.Linear(3, 4)
        setattr(seq, "0", new)
        assert seq[0] is new and len(seq) == 3
        x = lib.ones(1, 3)
        np.testing.assert_array_equal(_np(seq(x)), _np(seq[2](seq[1](new(x)))))  # forward uses the new child
        assert [n for n, _ in seq.named_children()] == ["0", "1", "2"]


def test_topk_sampling_never_draws_a_masked_token():
    """generate()'s top-k path with minigrad's own multinomial: the -inf logits get probability 0 and are
    never drawn (checked over many draws), the kept ones all are."""
    logits = mg.tensor([[4.51, 0.89, -1.90, 6.75, 1.63, -1.62, -1.89, 6.28, 1.79]])
    top_logits, _ = mg.topk(logits, 3)
    min_val = top_logits[:, -1]
    logits = mg.where(logits < min_val, mg.tensor(float("-inf")).to(logits.device), logits)
    probs = mg.softmax(logits / 5.0, dim=-1)  # a high temperature, so every kept token is likely enough
    assert (_np(probs) > 0).sum() == 3
    mg.manual_seed(0)
    draws = {mg.multinomial(probs, num_samples=1).item() for _ in range(300)}
    assert draws == {0, 3, 7}


# ================================================================ appendix D: warmup, cosine decay, clipping
def build_appendix_d(torch):
    calc_loss_batch = build_ch5(torch)["calc_loss_batch"]

    def find_highest_gradient(model):
        max_grad = None
        for param in model.parameters():
            if param.grad is not None:
                grad_values = param.grad.data.flatten()
                max_grad_param = grad_values.max()
                if max_grad is None or max_grad_param > max_grad:
                    max_grad = max_grad_param
        return max_grad

    def train_model(model, train_loader, optimizer, device, n_epochs, warmup_steps, initial_lr=3e-05, min_lr=1e-6):
        track_lrs, losses, max_grads = [], [], []
        global_step = -1
        peak_lr = optimizer.param_groups[0]["lr"]
        total_training_steps = len(train_loader) * n_epochs
        lr_increment = (peak_lr - initial_lr) / warmup_steps
        for epoch in range(n_epochs):
            model.train()
            for input_batch, target_batch in train_loader:
                optimizer.zero_grad()
                global_step += 1
                if global_step < warmup_steps:
                    lr = initial_lr + global_step * lr_increment
                else:
                    progress = ((global_step - warmup_steps) / (total_training_steps - warmup_steps))
                    lr = min_lr + (peak_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
                for param_group in optimizer.param_groups:
                    param_group["lr"] = lr
                track_lrs.append(optimizer.param_groups[0]["lr"])
                loss = calc_loss_batch(input_batch, target_batch, model, device)
                loss.backward()
                max_grads.append(float(find_highest_gradient(model)))
                if global_step >= warmup_steps:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
                optimizer.step()
                losses.append(loss.item())
        return losses, track_lrs, max_grads

    return find_highest_gradient, train_model


def test_appendix_d_warmup_cosine_and_clipping():
    cfg = _cfg()
    txt = _text(240)
    m_model, t_model = _gpt_pair(cfg)
    res = {}
    for lib, model in ((torch, t_model), (mg, m_model)):
        find_highest_gradient, train_model = build_appendix_d(lib)
        train_loader, _ = _loaders(lib, txt, cfg)
        optimizer = lib.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.1)
        res[lib] = train_model(model, train_loader, optimizer, "cpu", n_epochs=2, warmup_steps=3)
        # the clipping demo: after clip_grad_norm_(max_norm=1.0) the total norm is at most 1
        loss = build_ch5(lib)["calc_loss_batch"](*next(iter(train_loader)), model, "cpu")
        model.zero_grad()
        (10 * loss).backward()
        before = float(find_highest_gradient(model))
        total = lib.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        after = float(find_highest_gradient(model))
        res[lib] += (before, float(total), after)
    m, t = res[mg], res[torch]
    for i, what in enumerate(("losses", "lrs", "max grads")):
        np.testing.assert_allclose(m[i], t[i], err_msg=what, **TOL)
    np.testing.assert_allclose(m[3:], t[3:], **TOL)
    assert m[5] < m[3] and m[4] > 1
    _same_state(m_model, t_model)


def test_ch5_train_float32_as_written(float32_defaults):
    """The book trains in float32: the same run at float32's rounding (losses, parameters after AdamW)."""
    cfg = _cfg()
    txt = _text(240)
    m_model, t_model = _gpt_pair(cfg)
    t = _pretrain(torch, t_model, cfg, txt, num_epochs=1)
    m = _pretrain(mg, m_model, cfg, txt, num_epochs=1)
    assert m_model.tok_emb.weight.dtype == mg.float32
    for a, b in zip(m["hist"][:2], t["hist"][:2]):
        np.testing.assert_allclose(a, b, **TOL32)
    _same_state(m_model, t_model, **TOL32)


def test_ch4_printed_cells_float32(float32_defaults):
    """The LayerNorm cells print their means and variances with sci_mode=False (float32, as the book runs):
    the printed text is torch's."""
    rng = np.random.default_rng(123)
    x_np = rng.standard_normal((2, 5)).astype("float32")
    torch.manual_seed(123)
    lin_state = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.ReLU()).state_dict()
    texts = {}
    try:
        for lib in (torch, mg):
            LayerNorm = build_ch4(lib)["LayerNorm"]
            state = lin_state if lib is torch else {k: v.numpy() for k, v in lin_state.items()}
            cells = ch4_layernorm_cells(lib, LayerNorm, x_np, state)  # sets sci_mode=False
            out_ln, mean_ln, var_ln = cells[6:]
            texts[lib] = [f"Mean:\n{mean_ln}", f"Variance:\n{var_ln}", repr(cells[4].abs() < 1e-6)]
            lib.set_printoptions(profile="default")
            texts[lib].append(repr(mean_ln))  # sci_mode back to None: tiny values print in e-notation
    finally:
        torch.set_printoptions(profile="default")
        mg.set_printoptions(profile="default")
    # the means are float32 rounding noise (~1e-8): their sign and digits depend on the summation order, so
    # compare the sci_mode=False text up to the sign of 0.0000 and the e-notation text by its form only.
    # grad_fn names differ by torch's overload number (MeanBackward1 / ours MeanBackward), a known difference
    def norm(t):
        return re.sub(r"Backward\d*>", "Backward>", t).replace("-0.0000", " 0.0000")

    assert [norm(t) for t in texts[mg][:3]] == [norm(t) for t in texts[torch][:3]]
    assert "0.0000" in texts[mg][0] and "1.0000" in texts[mg][1]
    assert "e-" in texts[mg][3] and "e-" in texts[torch][3]


def test_ch6_dataloader_keywords_and_ch7_masking_exercise():
    """DataLoader(dataset=..., ...) as chapter 6 writes it; exercise 7.2's collate that masks the instruction
    (samples are (instruction_length, token_ids) tuples; targets[:instruction_length - 1] = -100)."""
    def collate_masked(torch, batch, pad_token_id=TOK.eot, ignore_index=-100):
        batch_max_length = max(len(item) + 1 for instruction_length, item in batch)
        inputs_lst, targets_lst = [], []
        for instruction_length, item in batch:
            new_item = item.copy()
            new_item += [pad_token_id]
            padded = new_item + [pad_token_id] * (batch_max_length - len(new_item))
            inputs = torch.tensor(padded[:-1])
            targets = torch.tensor(padded[1:])
            mask = targets == pad_token_id
            indices = torch.nonzero(mask).squeeze()
            if indices.numel() > 1:
                targets[indices[1:]] = ignore_index
            targets[:instruction_length - 1] = -100
            inputs_lst.append(inputs)
            targets_lst.append(targets)
        return torch.stack(inputs_lst), torch.stack(targets_lst)

    samples = [(3, [1, 2, 3, 4, 5]), (2, [6, 7]), (4, [8, 9, 10, 11, 12, 13])]
    res = {}
    for lib in (torch, mg):
        loader = lib.utils.data.DataLoader(dataset=samples, batch_size=3, shuffle=False, drop_last=True,
                                           num_workers=0, collate_fn=partial(collate_masked, lib))
        res[lib] = next(iter(loader))
    for a, b in zip(res[mg], res[torch]):
        np.testing.assert_array_equal(_np(a), _np(b))
    assert (_np(res[mg][1])[0, :2] == -100).all()
