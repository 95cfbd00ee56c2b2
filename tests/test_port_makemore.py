"""Porting audit: the code of Karpathy's "makemore" lectures (parts 1-5), run in torch and in minigrad.

These are the programs of people learning how autograd works: a count-based bigram model and its
neural twin trained by `W.data += -50 * W.grad`; the MLP of Bengio et al. (embedding table `C[X]`,
`emb.view(-1, 30)`, minibatches, a learning-rate sweep); batch norm written by hand with running
statistics, the Kaiming factor and hand-written `Linear`/`BatchNorm1d`/`Tanh` "layers" whose
activations and gradients (`retain_grad`) are inspected; "becoming a backprop ninja" (the manual
backward pass of the whole MLP, compared against autograd with `cmp`); and the WaveNet-style
hierarchy (`FlattenConsecutive`, `Sequential`, batch norm over dims (0, 1)). The code is written
once, as the lectures write it against `torch`, and run with `lib = torch` and `lib = minigrad`
on the same data (200 synthetic names from a seeded generator) and the same initial weights
(drawn by NumPy and handed to both); float64 values must agree to rtol 1e-9, and the float32
runs "as written" to float32 rounding.

Where the lecture's torch line cannot be written the same way in minigrad the test says so, runs
the torch line in torch and the port in minigrad (`update_ported`), and asserts the literal line's
behaviour in minigrad. That is one documented difference (README: `Tensor.data` is the raw NumPy
array, not a Tensor): `W.data += -50 * W.grad` raises NumPy's TypeError (an ndarray cannot be
updated in place from a Tensor) and `p.data.std()` is NumPy's population std (ddof=0), not
torch's Bessel-corrected one; the ports are `W.data += -50 * W.grad.data` or
`with mg.no_grad(): W += -50 * W.grad`, and `p.std()`.

Random streams differ (minigrad's `Generator` is NumPy's PCG64): samples drawn with
`generator=g` are compared for validity, shape, dtype and, for `multinomial`, frequencies.
"""
import math
import random

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as mgF

torch = pytest.importorskip("torch")
import torch.nn.functional as torchF  # noqa: E402

LIBS = (torch, mg)
F_OF = {torch: torchF, mg: mgF}
DT = {(torch, "float64"): torch.float64, (torch, "float32"): torch.float32,
      (mg, "float64"): mg.float64, (mg, "float32"): mg.float32}
# float64 agrees to ~1e-12 (kept with a 100x margin). float32: the two libraries sum in different
# orders (BLAS blocking, pairwise sums), so the values differ by a few float32 ulps (eps 1.2e-7),
# amplified by the lr=50 bigram updates and the batch-norm divisions: observed up to 5e-6 absolute
# and 5e-5 relative on elements near 0, hence atol 1e-6 beside rtol 1e-5.
TOL = {"float64": dict(rtol=1e-9, atol=1e-12), "float32": dict(rtol=1e-5, atol=1e-6)}


# ---------------------------------------------------------------- data: 200 synthetic names
def make_names(n=200, seed=1234):
    """Pronounceable lowercase names (consonant/vowel alternation plus some noise), all 26 letters used."""
    rng = random.Random(seed)
    cons, vows = "bcdfghjklmnprstvwz", "aeiouy"
    words = []
    for _ in range(n):
        length = rng.randint(2, 9)
        w = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") if rng.random() < 0.15
                    else rng.choice(cons if i % 2 == 0 else vows) for i in range(length))
        words.append(w)
    return words


WORDS = make_names()
chars = sorted(list(set("".join(WORDS))))
stoi = {s: i + 1 for i, s in enumerate(chars)}
stoi["."] = 0
itos = {i: s for s, i in stoi.items()}
VOCAB = len(itos)


def build_dataset(lib, words, block_size=3):
    """The lecture's (X, Y): every block_size-character context and the next character."""
    X, Y = [], []
    for w in words:
        context = [0] * block_size
        for ch in w + ".":
            ix = stoi[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]
    return lib.tensor(X), lib.tensor(Y)


def arr(t):
    """Host NumPy value of a torch/minigrad tensor (or number)."""
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    if isinstance(t, mg.Tensor):
        return t.numpy()
    return np.asarray(t)


def close(a, b, dtype="float64", msg=""):
    a, b = arr(a), arr(b)
    assert a.shape == b.shape, f"{msg}: shape {a.shape} vs {b.shape}"
    np.testing.assert_allclose(a, b, err_msg=msg, **TOL[dtype])


def update_literal(lib, p, lr):
    """The lecture's update line, exactly as written for torch."""
    p.data += -lr * p.grad


def update_ported(lib, p, lr):
    """torch: the lecture's line; minigrad: its port (`.data` is the raw array, README)."""
    if lib is torch:
        p.data += -lr * p.grad
    else:
        with mg.no_grad():
            p += -lr * p.grad


def test_synthetic_names_cover_the_alphabet():
    assert len(WORDS) == 200 and VOCAB == 27 and itos[0] == "."


# ================================================================ part 1: bigrams
def bigram_counts(lib):
    N = lib.zeros((27, 27), dtype=lib.int32)
    for w in WORDS:
        chs = ["."] + list(w) + ["."]
        for ch1, ch2 in zip(chs, chs[1:]):
            ix1, ix2 = stoi[ch1], stoi[ch2]
            N[ix1, ix2] += 1
    return N


def test_bigram_counts_probabilities_and_nll():
    """Counting loop, smoothed P with keepdims=True (the lecture's spelling), average negative log likelihood."""
    ref = np.zeros((27, 27), np.int64)
    for w in WORDS:
        chs = ["."] + list(w) + ["."]
        for a, b in zip(chs, chs[1:]):
            ref[stoi[a], stoi[b]] += 1
    res = {}
    for lib in LIBS:
        N = bigram_counts(lib)
        assert N.dtype == lib.int32
        P = (N + 1).float()
        P /= P.sum(1, keepdims=True)
        assert P.dtype == lib.float32 and tuple(P.shape) == (27, 27)
        log_likelihood = 0.0
        n = 0
        for w in WORDS:
            chs = ["."] + list(w) + ["."]
            for ch1, ch2 in zip(chs, chs[1:]):
                prob = P[stoi[ch1], stoi[ch2]]
                logprob = lib.log(prob)
                log_likelihood += logprob
                n += 1
        nll = -log_likelihood
        res[lib] = (N, P, nll / n)
        np.testing.assert_array_equal(arr(N), ref)
        close(P.sum(1), np.ones(27), "float32", "rows of P sum to 1")
    close(res[mg][1], res[torch][1], "float32", "P")
    # the running sum of 1400 float32 logs: the same additions in the same order in both
    close(res[mg][2], res[torch][2], "float32", "nll")
    assert res[mg][2].dtype == mg.float32
    expected = -np.mean([np.log((ref[stoi[a], stoi[b]] + 1) / (ref[stoi[a]] + 1).sum())
                         for w in WORDS for a, b in zip(["."] + list(w), list(w) + ["."])])
    np.testing.assert_allclose(res[mg][2].item(), expected, rtol=1e-5)


def test_bigram_broadcasting_pitfall_is_the_same_silent_bug():
    """The lecture's warning: P / P.sum(1) (no keepdim) broadcasts the row sums along the wrong axis."""
    out = {}
    for lib in LIBS:
        P = (bigram_counts(lib) + 1).float()
        wrong = P / P.sum(1)  # (27, 27) / (27,) -> divides column j by the sum of row j
        right = P / P.sum(1, keepdim=True)
        assert not np.allclose(arr(wrong.sum(1)), 1.0)
        close(right.sum(1), np.ones(27), "float32")
        out[lib] = wrong
    close(out[mg], out[torch], "float32", "the wrong normalisation agrees too")


def test_bigram_sampling_with_a_generator():
    """torch.multinomial(p, num_samples=1, replacement=True, generator=g).item(): valid names, right frequencies."""
    P = (bigram_counts(mg) + 1).float()
    P /= P.sum(1, keepdims=True)
    g = mg.Generator().manual_seed(2147483647)
    names = []
    for _ in range(20):
        out = []
        ix = 0
        while True:
            p = P[ix]
            ix = mg.multinomial(p, num_samples=1, replacement=True, generator=g).item()
            out.append(itos[ix])
            if ix == 0:
                break
        names.append("".join(out))
    assert all(nm.endswith(".") and set(nm[:-1]) <= set(chars) for nm in names)
    # the same generator state gives the same names; a generator is a separate stream from mg.manual_seed
    g2 = mg.Generator().manual_seed(2147483647)
    mg.manual_seed(0)
    first = [mg.multinomial(P[0], num_samples=1, replacement=True, generator=g2).item() for _ in range(5)]
    g3 = mg.Generator().manual_seed(2147483647)
    mg.manual_seed(99)
    assert first == [mg.multinomial(P[0], num_samples=1, replacement=True, generator=g3).item() for _ in range(5)]
    # frequencies of 20000 draws from row 0: within 5 binomial standard deviations of P[0]
    draws = mg.multinomial(P[0], num_samples=20000, replacement=True, generator=g)
    assert draws.dtype == mg.int64 and tuple(draws.shape) == (20000,)
    freq = np.bincount(draws.numpy(), minlength=27) / 20000
    p0 = P[0].numpy().astype(np.float64)
    assert np.all(np.abs(freq - p0) <= 5 * np.sqrt(p0 * (1 - p0) / 20000) + 1e-12)
    # the Tensor method takes it too, and a torch.Generator is refused with a message saying what to pass
    assert P[0].multinomial(3, generator=g).shape == (3,)
    with pytest.raises(TypeError, match="multinomial: generator must be an mg.Generator"):
        mg.multinomial(P[0], 1, generator=torch.Generator().manual_seed(1))


def test_generator_keyword_on_every_lecture_factory():
    """torch.randn/rand/randint/randperm((...), generator=g): accepted; a re-seeded generator repeats its stream."""
    def draws(g):
        return (mg.randn((27, 27), generator=g, requires_grad=True), mg.rand(3, generator=g),
                mg.randint(0, 100, (32,), generator=g), mg.randperm(10, generator=g))
    a = draws(mg.Generator().manual_seed(2147483647))
    b = draws(mg.Generator().manual_seed(2147483647))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    W, u, ix, perm = a
    assert W.requires_grad and W.is_leaf and W.dtype == mg.float32 and W.shape == (27, 27)
    assert u.dtype == mg.float32 and ix.dtype == mg.int64 and ix.shape == (32,)
    assert 0 <= ix.min().item() and ix.max().item() < 100 and sorted(perm.tolist()) == list(range(10))
    # torch.randn(..., generator=g) gives the same shapes/dtypes
    tg = torch.Generator().manual_seed(2147483647)
    assert tuple(torch.randn((27, 27), generator=tg).shape) == tuple(W.shape)
    for fn in (lambda g: mg.randn(2, generator=g), lambda g: mg.randint(0, 3, (2,), generator=g),
               lambda g: mg.rand(2, generator=g), lambda g: mg.randperm(3, generator=g)):
        with pytest.raises(TypeError, match="generator must be an mg.Generator"):
            fn(tg)


# ---------------------------------------------------------------- the neural bigram
def bigram_pairs():
    xs, ys = [], []
    for w in WORDS[:40]:
        chs = ["."] + list(w) + ["."]
        for ch1, ch2 in zip(chs, chs[1:]):
            xs.append(stoi[ch1])
            ys.append(stoi[ch2])
    return xs, ys


def neural_bigram(lib, dtype, W0, steps=4, update=update_ported):
    F = F_OF[lib]
    xs_l, ys_l = bigram_pairs()
    xs, ys = lib.tensor(xs_l), lib.tensor(ys_l)
    num = xs.nelement()
    W = lib.tensor(W0.astype(dtype), requires_grad=True)
    losses = []
    for k in range(steps):
        xenc = F.one_hot(xs, num_classes=27).to(DT[lib, dtype])  # the lecture's .float() in float32
        logits = xenc @ W  # log-counts
        counts = logits.exp()  # equivalent to N
        probs = counts / counts.sum(1, keepdims=True)
        loss = -probs[lib.arange(num), ys].log().mean() + 0.01 * (W ** 2).mean()
        W.grad = None
        loss.backward()
        losses.append(loss.item())
        update(lib, W, 50)
    return losses, W


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_neural_bigram_training(dtype):
    """one_hot @ W, softmax by hand, NLL + 0.01 * (W**2).mean(), W.grad = None, backward, update with lr 50."""
    W0 = np.random.default_rng(0).standard_normal((27, 27))
    lt, Wt = neural_bigram(torch, dtype, W0)
    lm, Wm = neural_bigram(mg, dtype, W0)
    np.testing.assert_allclose(lm, lt, **TOL[dtype])
    assert lm[-1] < lm[0]
    close(Wm, Wt, dtype, "W after 4 steps")
    assert Wm.dtype == DT[mg, dtype] and Wm.grad.dtype == DT[mg, dtype]
    # one_hot as the lecture writes it: .float() (float32) for the float32 program
    assert mgF.one_hot(mg.tensor([1, 2]), num_classes=27).float().dtype == mg.float32


def test_neural_bigram_data_update_line():
    """`W.data += -50 * W.grad`: torch updates in place; in minigrad `.data` is the NumPy array (README), so
    the literal line is NumPy's TypeError, and `W.data += -50 * W.grad.data` is the in-place port."""
    W0 = np.random.default_rng(1).standard_normal((27, 27))
    lt, Wt = neural_bigram(torch, "float64", W0, steps=2, update=update_literal)
    with pytest.raises(TypeError, match="does not support ufuncs"):
        neural_bigram(mg, "float64", W0, steps=1, update=update_literal)

    def data_port(lib, p, lr):
        before = p.data
        p.data += -lr * p.grad.data
        assert p.data is before  # in place, on the parameter's own array

    lm, Wm = neural_bigram(mg, "float64", W0, steps=2, update=data_port)
    np.testing.assert_allclose(lm, lt, **TOL["float64"])
    close(Wm, Wt, "float64", "W after .data updates")


# ================================================================ part 2: the MLP
def mlp_params(lib, dtype, seed=0, n_embd=10, n_hidden=64, block_size=3, kaiming=False, batchnorm=False):
    """C, W1, b1, W2, b2 (+ bngain, bnbias), drawn by NumPy and built in lib (the lecture's randn(..., generator=g))."""
    rng = np.random.default_rng(seed)
    t = lambda a: lib.tensor(np.asarray(a, dtype=dtype))  # noqa: E731
    fan_in = n_embd * block_size
    C = t(rng.standard_normal((VOCAB, n_embd)))
    W1 = t(rng.standard_normal((fan_in, n_hidden)))
    if kaiming:
        W1 = W1 * (5 / 3) / (fan_in ** 0.5)  # the tanh gain over sqrt(fan_in), computed by each library
    b1 = t(rng.standard_normal(n_hidden)) * 0.01
    W2 = t(rng.standard_normal((n_hidden, VOCAB))) * 0.01
    b2 = t(rng.standard_normal(VOCAB)) * 0
    params = [C, W1, b1, W2, b2]
    if batchnorm:
        params += [lib.ones((1, n_hidden), dtype=DT[lib, dtype]), lib.zeros((1, n_hidden), dtype=DT[lib, dtype])]
    for p in params:
        p.requires_grad = True
    return params


def minibatches(n_rows, steps, batch=32, seed=5):
    """The lecture's ix = torch.randint(0, X.shape[0], (32,)), drawn once by NumPy for both libraries."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, n_rows, batch) for _ in range(steps)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_mlp_training_with_lr_schedule(dtype):
    """emb = C[X]; emb.view(-1, 30); tanh; F.cross_entropy; minibatches; lrs = 10**torch.linspace(-3, 0, 1000)."""
    res = {}
    for lib in LIBS:
        F = F_OF[lib]
        X, Y = build_dataset(lib, WORDS)
        parameters = mlp_params(lib, dtype)
        C, W1, b1, W2, b2 = parameters
        assert sum(p.nelement() for p in parameters) == 27 * 10 + 30 * 64 + 64 + 64 * 27 + 27
        lre = lib.linspace(-3, 0, 1000)
        lrs = 10 ** lre
        losses, lri = [], []
        for i, ix in enumerate(minibatches(X.shape[0], 6)):
            ix = lib.tensor(ix)
            emb = C[X[ix]]  # (32, 3, 10)
            h = lib.tanh(emb.view(-1, 30) @ W1 + b1)  # (32, 64)
            logits = h @ W2 + b2  # (32, 27)
            loss = F.cross_entropy(logits, Y[ix])
            for p in parameters:
                p.grad = None
            loss.backward()
            lr = lrs[600 + 50 * i]  # a 0-d float32 tensor, as in the lecture's sweep
            for p in parameters:
                update_ported(lib, p, lr)
            lri.append(lre[600 + 50 * i].item())
            losses.append(loss.item())
        # full-data loss, and the long-hand softmax the lecture derives cross_entropy from
        with lib.no_grad():
            emb = C[X]
            h = lib.tanh(emb.view(-1, 30) @ W1 + b1)
            logits = h @ W2 + b2
            full = F.cross_entropy(logits, Y)
            counts = logits.exp()
            prob = counts / counts.sum(1, keepdims=True)
            by_hand = -prob[lib.arange(Y.shape[0]), Y].log().mean()
            close(full, by_hand, dtype, "cross_entropy vs the long hand")
        res[lib] = (losses, lri, parameters, full, lrs)
    np.testing.assert_allclose(res[mg][0], res[torch][0], **TOL[dtype])
    np.testing.assert_allclose(res[mg][1], res[torch][1], rtol=1e-6)
    close(res[mg][4], res[torch][4], "float32", "lrs = 10**lre")
    for name, pm, pt in zip("C W1 b1 W2 b2".split(), res[mg][2], res[torch][2]):
        close(pm, pt, dtype, f"{name} after 6 steps")
        assert pm.dtype == DT[mg, dtype]
    close(res[mg][3], res[torch][3], dtype, "full-data loss")


def test_mlp_embedding_reshapes_agree():
    """cat([emb[:, 0, :], emb[:, 1, :], emb[:, 2, :]], 1) == cat(unbind(emb, 1), 1) == emb.view(-1, 30),
    with the gradient of C accumulated over repeated rows (C[X] with integer X of shape (N, 3))."""
    res = {}
    for lib in LIBS:
        X, _ = build_dataset(lib, WORDS[:10])
        C = mlp_params(lib, "float64")[0]
        emb = C[X]
        assert tuple(emb.shape) == (X.shape[0], 3, 10)
        a = lib.cat([emb[:, 0, :], emb[:, 1, :], emb[:, 2, :]], 1)
        b = lib.cat(lib.unbind(emb, 1), 1)
        c = emb.view(-1, 30)
        close(a, c)
        close(b, c)
        w = lib.tensor(np.linspace(-1, 1, 30))
        ((a * w).sum() + (b * w).sum() + (c * w ** 2).sum()).backward()
        res[lib] = (C.grad, C[5], C[lib.tensor(5)], C[[5, 6, 7]])
    for x, y in zip(res[mg], res[torch]):
        close(x, y)


def test_mlp_batch_sampling_with_generator():
    """ix = torch.randint(0, X.shape[0], (32,), generator=g) and X[ix] / Y[ix] shapes."""
    X, Y = build_dataset(mg, WORDS)
    g = mg.Generator().manual_seed(2147483647)
    ix = mg.randint(0, X.shape[0], (32,), generator=g)
    assert ix.dtype == mg.int64 and tuple(X[ix].shape) == (32, 3) and tuple(Y[ix].shape) == (32,)
    assert 0 <= ix.min().item() and ix.max().item() < X.shape[0]


# ================================================================ part 3: batch norm by hand, the layers API
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_mlp_with_handwritten_batchnorm(dtype):
    """hpreact.mean/std(0, keepdim=True), bngain/bnbias, running stats under no_grad, Kaiming init, eval split loss."""
    res = {}
    for lib in LIBS:
        F = F_OF[lib]
        X, Y = build_dataset(lib, WORDS)
        parameters = mlp_params(lib, dtype, seed=3, kaiming=True, batchnorm=True)
        C, W1, b1, W2, b2, bngain, bnbias = parameters
        bnmean_running = lib.zeros((1, 64), dtype=DT[lib, dtype])
        bnstd_running = lib.ones((1, 64), dtype=DT[lib, dtype])
        losses = []
        for ix in minibatches(X.shape[0], 5, seed=8):
            ix = lib.tensor(ix)
            Xb, Yb = X[ix], Y[ix]
            emb = C[Xb]
            embcat = emb.view(emb.shape[0], -1)
            hpreact = embcat @ W1 + b1
            bnmeani = hpreact.mean(0, keepdim=True)
            bnstdi = hpreact.std(0, keepdim=True)
            hpreact = bngain * (hpreact - bnmeani) / bnstdi + bnbias
            with lib.no_grad():
                bnmean_running = 0.999 * bnmean_running + 0.001 * bnmeani
                bnstd_running = 0.999 * bnstd_running + 0.001 * bnstdi
            h = lib.tanh(hpreact)
            logits = h @ W2 + b2
            loss = F.cross_entropy(logits, Yb)
            for p in parameters:
                p.grad = None
            loss.backward()
            grads = [p.grad.clone() for p in parameters]
            for p in parameters:
                update_ported(lib, p, 0.1)
            losses.append(loss.item())
        assert not bnmean_running.requires_grad and not bnstd_running.requires_grad

        @lib.no_grad()
        def split_loss():
            emb = C[X]
            hpreact = emb.view(emb.shape[0], -1) @ W1 + b1
            hpreact = bngain * (hpreact - bnmean_running) / bnstd_running + bnbias
            return F.cross_entropy(lib.tanh(hpreact) @ W2 + b2, Y)

        # the lecture's calibration pass: statistics of the whole training set after training
        with lib.no_grad():
            hall = C[X].view(X.shape[0], -1) @ W1 + b1
            bnmean, bnstd = hall.mean(0, keepdim=True), hall.std(0, keepdim=True)
        res[lib] = (losses, grads, parameters, bnmean_running, bnstd_running, split_loss(), bnmean, bnstd)
    np.testing.assert_allclose(res[mg][0], res[torch][0], **TOL[dtype])
    for i, name in enumerate("C W1 b1 W2 b2 bngain bnbias".split()):
        close(res[mg][1][i], res[torch][1][i], dtype, f"last grad of {name}")
        close(res[mg][2][i], res[torch][2][i], dtype, f"{name} after 5 steps")
    for j, name in ((3, "bnmean_running"), (4, "bnstd_running"), (5, "split loss"), (6, "bnmean"), (7, "bnstd")):
        close(res[mg][j], res[torch][j], dtype, name)
        assert res[mg][j].dtype == DT[mg, dtype]


def layer_classes(lib, rng, dtype):
    """The lecture's hand-written Linear / BatchNorm1d / Tanh, for `lib` (weights drawn from NumPy rng)."""
    dt = DT[lib, dtype]

    class Linear:
        def __init__(self, fan_in, fan_out, bias=True):
            self.weight = lib.tensor(rng.standard_normal((fan_in, fan_out)).astype(dtype)) / fan_in ** 0.5
            self.bias = lib.zeros(fan_out, dtype=dt) if bias else None

        def __call__(self, x):
            self.out = x @ self.weight
            if self.bias is not None:
                self.out += self.bias
            return self.out

        def parameters(self):
            return [self.weight] + ([] if self.bias is None else [self.bias])

    class BatchNorm1d:
        def __init__(self, dim, eps=1e-5, momentum=0.1):
            self.eps = eps
            self.momentum = momentum
            self.training = True
            # parameters (trained with backprop)
            self.gamma = lib.ones(dim, dtype=dt)
            self.beta = lib.zeros(dim, dtype=dt)
            # buffers (trained with a running 'momentum update')
            self.running_mean = lib.zeros(dim, dtype=dt)
            self.running_var = lib.ones(dim, dtype=dt)

        def __call__(self, x):
            if self.training:
                if x.ndim == 2:
                    dim = 0
                elif x.ndim == 3:
                    dim = (0, 1)
                xmean = x.mean(dim, keepdim=True)  # batch mean
                xvar = x.var(dim, keepdim=True)  # batch variance
            else:
                xmean = self.running_mean
                xvar = self.running_var
            xhat = (x - xmean) / lib.sqrt(xvar + self.eps)  # normalize to unit variance
            self.out = self.gamma * xhat + self.beta
            if self.training:
                with lib.no_grad():
                    self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * xmean
                    self.running_var = (1 - self.momentum) * self.running_var + self.momentum * xvar
            return self.out

        def parameters(self):
            return [self.gamma, self.beta]

    class Tanh:
        def __call__(self, x):
            self.out = lib.tanh(x)
            return self.out

        def parameters(self):
            return []

    return Linear, BatchNorm1d, Tanh


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_layers_api_with_activation_and_gradient_statistics(dtype):
    """Linear/BatchNorm1d/Tanh classes, gamma *= 0.1 and weight *= 5/3 under no_grad, out.retain_grad(),
    the lecture's plots' numbers: tanh saturation, activation/gradient mean and std, histograms,
    grad:data ratios and update:data ratios ((lr*p.grad).std() / p.data.std()).log10()."""
    n_embd, n_hidden = 10, 32
    res = {}
    for lib in LIBS:
        F = F_OF[lib]
        rng = np.random.default_rng(11)
        Linear, BatchNorm1d, Tanh = layer_classes(lib, rng, dtype)
        C = lib.tensor(rng.standard_normal((VOCAB, n_embd)).astype(dtype))
        # bias=False before each BatchNorm, as the lecture ends up (a bias there gets gradient 0 + roundoff)
        layers = [Linear(n_embd * 3, n_hidden, bias=False), BatchNorm1d(n_hidden), Tanh(),
                  Linear(n_hidden, n_hidden, bias=False), BatchNorm1d(n_hidden), Tanh(),
                  Linear(n_hidden, VOCAB, bias=False), BatchNorm1d(VOCAB)]
        with lib.no_grad():
            layers[-1].gamma *= 0.1  # last layer: make less confident
            for layer in layers[:-1]:
                if isinstance(layer, Linear):
                    layer.weight *= 5 / 3  # the tanh gain
        parameters = [C] + [p for layer in layers for p in layer.parameters()]
        for p in parameters:
            p.requires_grad = True
        X, Y = build_dataset(lib, WORDS)
        ud, stats = [], []
        lr = 0.1
        for ix in minibatches(X.shape[0], 3, seed=21):
            ix = lib.tensor(ix)
            Xb, Yb = X[ix], Y[ix]
            emb = C[Xb]
            x = emb.view(emb.shape[0], -1)
            for layer in layers:
                x = layer(x)
            loss = F.cross_entropy(x, Yb)
            for layer in layers:
                layer.out.retain_grad()
            for p in parameters:
                p.grad = None
            loss.backward()
            for p in parameters:
                update_ported(lib, p, lr)
            with lib.no_grad():
                ud.append([((lr * p.grad).std() / p.std()).log10().item() for p in parameters])
        # the forward-pass and backward-pass plots of the last step
        for layer in layers[:-1]:
            if isinstance(layer, Tanh):
                t = layer.out
                stats.append((t.mean(), t.std(), (t.abs() > 0.97).float().mean() * 100))
                hy, hx = lib.histogram(t.detach(), density=True)
                stats.append((hy, hx))
                g = t.grad
                stats.append((g.mean(), g.std()))
        for p in parameters:
            if p.ndim == 2:
                stats.append((p.grad.mean(), p.grad.std(), p.grad.std() / p.std()))
        res[lib] = (loss, ud, stats, [layer.out.grad for layer in layers], layers)
    close(res[mg][0], res[torch][0], dtype, "loss")
    np.testing.assert_allclose(res[mg][1], res[torch][1], **TOL[dtype])
    for i, (sm, st) in enumerate(zip(res[mg][2], res[torch][2])):
        for a, b in zip(sm, st):
            close(a, b, dtype, f"statistic {i}")
    for i, (gm, gt) in enumerate(zip(res[mg][3], res[torch][3])):
        close(gm, gt, dtype, f"layer {i} .out.grad (retain_grad)")
    for lm, lt in zip(res[mg][4], res[torch][4]):
        for name in ("running_mean", "running_var", "weight", "bias", "gamma", "beta"):
            if getattr(lm, name, None) is not None:
                close(getattr(lm, name), getattr(lt, name), dtype, f"{type(lm).__name__}.{name}")


def test_update_to_data_ratio_with_p_data_std():
    """The lecture writes p.data.std(): torch's Bessel-corrected std of the parameter. In minigrad p.data is the
    NumPy array, whose .std() is the population std (ddof=0): the ratio silently differs by
    log10(sqrt(n / (n-1))). The port is p.std() (or p.detach().std())."""
    rng = np.random.default_rng(2)
    w = rng.standard_normal((6, 4))
    g = rng.standard_normal((6, 4))
    pt = torch.tensor(w, requires_grad=True)
    pt.grad = torch.tensor(g)
    pm = mg.tensor(w, requires_grad=True)
    pm.grad = mg.tensor(g)
    lr = 0.1
    torch_ratio = ((lr * pt.grad).std() / pt.data.std()).log10().item()
    literal = ((lr * pm.grad).std() / pm.data.std()).log10().item()
    ported = ((lr * pm.grad).std() / pm.std()).log10().item()
    np.testing.assert_allclose(ported, torch_ratio, rtol=1e-12)
    np.testing.assert_allclose(literal - torch_ratio, math.log10(math.sqrt(24 / 23)), rtol=1e-9)
    assert isinstance(pm.data, np.ndarray) and not isinstance(pt.data, np.ndarray)


# ================================================================ part 4: becoming a backprop ninja
def ninja_forward(lib, dtype, params, Xb, Yb, n):
    """The lecture's forward pass, chunked into every intermediate the manual backward visits."""
    C, W1, b1, W2, b2, bngain, bnbias = params
    emb = C[Xb]
    embcat = emb.view(emb.shape[0], -1)
    hprebn = embcat @ W1 + b1
    bnmeani = 1 / n * hprebn.sum(0, keepdim=True)
    bndiff = hprebn - bnmeani
    bndiff2 = bndiff ** 2
    bnvar = 1 / (n - 1) * (bndiff2).sum(0, keepdim=True)  # Bessel's correction
    bnvar_inv = (bnvar + 1e-5) ** -0.5
    bnraw = bndiff * bnvar_inv
    hpreact = bngain * bnraw + bnbias
    h = lib.tanh(hpreact)
    logits = h @ W2 + b2
    logit_maxes = logits.max(1, keepdim=True).values
    norm_logits = logits - logit_maxes  # subtract max for numerical stability
    counts = norm_logits.exp()
    counts_sum = counts.sum(1, keepdims=True)
    counts_sum_inv = counts_sum ** -1
    probs = counts * counts_sum_inv
    logprobs = probs.log()
    loss = -logprobs[range(n), Yb].mean()
    T = dict(logprobs=logprobs, probs=probs, counts=counts, counts_sum=counts_sum, counts_sum_inv=counts_sum_inv,
             norm_logits=norm_logits, logit_maxes=logit_maxes, logits=logits, h=h, hpreact=hpreact, bnraw=bnraw,
             bnvar_inv=bnvar_inv, bnvar=bnvar, bndiff2=bndiff2, bndiff=bndiff, hprebn=hprebn, bnmeani=bnmeani,
             embcat=embcat, emb=emb)
    for p in params:
        p.grad = None
    for t in T.values():
        t.retain_grad()
    loss.backward()
    return loss, T


def ninja_backward(lib, params, T, Xb, Yb, n):
    """Exercise 1: backprop through every line by hand."""
    F = F_OF[lib]
    C, W1, b1, W2, b2, bngain, bnbias = params
    g = T  # short names, as in the notebook
    logprobs, probs, counts, counts_sum = g["logprobs"], g["probs"], g["counts"], g["counts_sum"]
    counts_sum_inv, logits, h, bnraw = g["counts_sum_inv"], g["logits"], g["h"], g["bnraw"]
    bnvar_inv, bnvar, bndiff2, bndiff = g["bnvar_inv"], g["bnvar"], g["bndiff2"], g["bndiff"]
    hprebn, embcat, emb = g["hprebn"], g["embcat"], g["emb"]
    with lib.no_grad():
        dlogprobs = lib.zeros_like(logprobs)
        dlogprobs[range(n), Yb] = -1.0 / n
        dprobs = (1.0 / probs) * dlogprobs
        dcounts_sum_inv = (counts * dprobs).sum(1, keepdim=True)
        dcounts = counts_sum_inv * dprobs
        dcounts_sum = (-counts_sum ** -2) * dcounts_sum_inv
        dcounts += lib.ones_like(counts) * dcounts_sum
        dnorm_logits = counts * dcounts
        dlogits = dnorm_logits.clone()
        dlogit_maxes = (-dnorm_logits).sum(1, keepdim=True)
        dlogits += F.one_hot(logits.max(1).indices, num_classes=logits.shape[1]) * dlogit_maxes
        dh = dlogits @ W2.T
        dW2 = h.T @ dlogits
        db2 = dlogits.sum(0)
        dhpreact = (1.0 - h ** 2) * dh
        dbngain = (bnraw * dhpreact).sum(0, keepdim=True)
        dbnraw = bngain * dhpreact
        dbnbias = dhpreact.sum(0, keepdim=True)
        dbndiff = bnvar_inv * dbnraw
        dbnvar_inv = (bndiff * dbnraw).sum(0, keepdim=True)
        dbnvar = (-0.5 * (bnvar + 1e-5) ** -1.5) * dbnvar_inv
        dbndiff2 = (1.0 / (n - 1)) * lib.ones_like(bndiff2) * dbnvar
        dbndiff += (2 * bndiff) * dbndiff2
        dhprebn = dbndiff.clone()
        dbnmeani = (-dbndiff).sum(0)
        dhprebn += 1.0 / n * (lib.ones_like(hprebn) * dbnmeani)
        dembcat = dhprebn @ W1.T
        dW1 = embcat.T @ dhprebn
        db1 = dhprebn.sum(0)
        demb = dembcat.view(emb.shape)
        dC = lib.zeros_like(C)
        for k in range(Xb.shape[0]):
            for j in range(Xb.shape[1]):
                ix = Xb[k, j]
                dC[ix] += demb[k, j]
    return dict(logprobs=dlogprobs, probs=dprobs, counts_sum_inv=dcounts_sum_inv, counts_sum=dcounts_sum,
                counts=dcounts, norm_logits=dnorm_logits, logit_maxes=dlogit_maxes, logits=dlogits, h=dh,
                hpreact=dhpreact, bnraw=dbnraw, bnvar_inv=dbnvar_inv, bnvar=dbnvar, bndiff2=dbndiff2,
                bndiff=dbndiff, bnmeani=dbnmeani, hprebn=dhprebn, embcat=dembcat, emb=demb,
                W2=dW2, b2=db2, bngain=dbngain, bnbias=dbnbias, W1=dW1, b1=db1, C=dC)


def ninja_setup(lib, dtype, n=32):
    """The notebook's init: small non-zero biases and gains so that no gradient is trivially 0."""
    rng = np.random.default_rng(42)
    n_embd, n_hidden, block_size = 10, 64, 3
    t = lambda a: lib.tensor(np.asarray(a, dtype=dtype))  # noqa: E731
    C = t(rng.standard_normal((VOCAB, n_embd)))
    W1 = t(rng.standard_normal((n_embd * block_size, n_hidden))) * (5 / 3) / ((n_embd * block_size) ** 0.5)
    b1 = t(rng.standard_normal(n_hidden)) * 0.1  # using b1 just for fun, it's useless because of BN
    W2 = t(rng.standard_normal((n_hidden, VOCAB))) * 0.1
    b2 = t(rng.standard_normal(VOCAB)) * 0.1
    bngain = t(rng.standard_normal((1, n_hidden))) * 0.1 + 1.0
    bnbias = t(rng.standard_normal((1, n_hidden))) * 0.1
    parameters = [C, W1, b1, W2, b2, bngain, bnbias]
    for p in parameters:
        p.requires_grad = True
    X, Y = build_dataset(lib, WORDS)
    ix = lib.tensor(minibatches(X.shape[0], 1, batch=n, seed=77)[0])
    return parameters, X[ix], Y[ix]


def cmp(lib, s, dt, t):
    """The notebook's helper: exact, approximate, max difference."""
    ex = lib.all(dt == t.grad).item()
    app = lib.allclose(dt, t.grad)
    maxdiff = (dt - t.grad).abs().max().item()
    return ex, app, maxdiff


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_backprop_ninja_manual_backward_matches_autograd(dtype):
    """Exercise 1: every manual gradient == autograd's .grad (cmp), in both libraries, and across them."""
    n = 32
    res = {}
    for lib in LIBS:
        params, Xb, Yb = ninja_setup(lib, dtype, n)
        loss, T = ninja_forward(lib, dtype, params, Xb, Yb, n)
        D = ninja_backward(lib, params, T, Xb, Yb, n)
        named = dict(T, **dict(zip("C W1 b1 W2 b2 bngain bnbias".split(), params)))
        report = {}
        for name, dt in D.items():
            ex, app, maxdiff = cmp(lib, name, dt, named[name])
            report[name] = (ex, app, maxdiff)
            assert app, f"{lib.__name__}: manual d{name} differs from autograd by {maxdiff}"
        res[lib] = (loss, D, {k: named[k].grad for k in D}, report)
    close(res[mg][0], res[torch][0], dtype, "loss")
    for name in res[torch][1]:
        close(res[mg][1][name], res[torch][1][name], dtype, f"manual d{name}")
        close(res[mg][2][name], res[torch][2][name], dtype, f"autograd {name}.grad")
        assert res[mg][2][name].dtype == DT[mg, dtype] and res[mg][1][name].dtype == DT[mg, dtype], name
    # exact agreement of manual and autograd happens where both do the same arithmetic (the lecture's
    # "exact: True" lines); check those few are exact in minigrad too
    for name in ("logprobs", "probs", "counts_sum_inv", "W2", "b2", "h"):
        assert res[mg][3][name][0], f"d{name} should match autograd exactly: maxdiff {res[mg][3][name][2]}"


def test_backprop_ninja_fused_cross_entropy_and_batchnorm_backward():
    """Exercises 2 and 3: dlogits = softmax - onehot over n; the one-line batchnorm backward (Bessel n/(n-1))."""
    n = 32
    res = {}
    for lib in LIBS:
        F = F_OF[lib]
        params, Xb, Yb = ninja_setup(lib, "float64", n)
        C, W1, b1, W2, b2, bngain, bnbias = params
        emb = C[Xb]
        embcat = emb.view(emb.shape[0], -1)
        hprebn = embcat @ W1 + b1
        bnmean = hprebn.mean(0, keepdim=True)
        bnvar = hprebn.var(0, keepdim=True, unbiased=True)
        bnvar_inv = (bnvar + 1e-5) ** -0.5
        bnraw = (hprebn - bnmean) * bnvar_inv
        hpreact = bngain * bnraw + bnbias
        h = lib.tanh(hpreact)
        logits = h @ W2 + b2
        loss_fast = F.cross_entropy(logits, Yb)
        for t in (logits, hpreact, hprebn):
            t.retain_grad()
        loss_fast.backward()
        with lib.no_grad():
            dlogits = F.softmax(logits, 1)
            dlogits[range(n), Yb] -= 1
            dlogits /= n
            dh = dlogits @ W2.T
            dhpreact = (1.0 - h ** 2) * dh
            dhprebn = bngain * bnvar_inv / n * (n * dhpreact - dhpreact.sum(0) - n / (n - 1) * bnraw
                                                 * (dhpreact * bnraw).sum(0))
        for name, d, t in (("logits", dlogits, logits), ("hpreact", dhpreact, hpreact), ("hprebn", dhprebn, hprebn)):
            ex, app, maxdiff = cmp(lib, name, d, t)
            assert app and maxdiff < 1e-12, (lib.__name__, name, maxdiff)
        res[lib] = (loss_fast, dlogits, dhprebn)
    for a, b in zip(res[mg], res[torch]):
        close(a, b)


def test_backprop_ninja_training_with_manual_gradients():
    """Exercise 4: train with the manual gradients only (under no_grad), p.data += -lr * grad; compare with torch."""
    n = 32
    res = {}
    for lib in LIBS:
        params, _, _ = ninja_setup(lib, "float64", n)
        X, Y = build_dataset(lib, WORDS)
        losses = []
        for i, ix in enumerate(minibatches(X.shape[0], 3, seed=99)):
            ix = lib.tensor(ix)
            Xb, Yb = X[ix], Y[ix]
            loss, T = ninja_forward(lib, "float64", params, Xb, Yb, n)
            D = ninja_backward(lib, params, T, Xb, Yb, n)
            grads = [D[k] for k in "C W1 b1 W2 b2 bngain bnbias".split()]
            lr = 0.1 if i < 2 else 0.01
            for p, grad in zip(params, grads):
                if lib is torch:
                    p.data += -lr * grad  # the notebook's line
                else:
                    p.data += -lr * grad.data  # the port: .data is the NumPy array (README)
            losses.append(loss.item())
        res[lib] = (losses, params)
    np.testing.assert_allclose(res[mg][0], res[torch][0], **TOL["float64"])
    for pm, pt in zip(res[mg][1], res[torch][1]):
        close(pm, pt)


def test_backprop_ninja_index_and_onehot_idioms():
    """The idioms the manual backward relies on: writes through range() index, one_hot(int) * float promotes,
    dC[ix] += row with a 0-d int tensor ix, .T, view of a gradient as emb.shape."""
    res = {}
    for lib in LIBS:
        F = F_OF[lib]
        z = lib.zeros((4, 5), dtype=DT[lib, "float64"])
        z[range(4), lib.tensor([0, 2, 2, 4])] = -0.25
        oh = F.one_hot(lib.tensor([1, 3]), num_classes=5) * lib.tensor([[2.0], [3.0]], dtype=DT[lib, "float64"])
        assert oh.dtype == DT[lib, "float64"]
        dC = lib.zeros((5, 2), dtype=DT[lib, "float64"])
        for ix in lib.tensor([3, 1, 3]):
            dC[ix] += lib.tensor([1.0, 2.0], dtype=DT[lib, "float64"])
        res[lib] = (z, oh, dC, z.T, z.view(2, 10))
    for a, b in zip(res[mg], res[torch]):
        close(a, b)
        assert arr(a).dtype == arr(b).dtype


# ================================================================ part 5: the WaveNet
def wavenet_classes(lib, rng, dtype):
    """The lecture's torch.nn-like building blocks, written by hand for `lib`."""
    Linear, BatchNorm1d, Tanh = layer_classes(lib, rng, dtype)

    class Embedding:
        def __init__(self, num_embeddings, embedding_dim):
            self.weight = lib.tensor(rng.standard_normal((num_embeddings, embedding_dim)).astype(dtype))

        def __call__(self, IX):
            self.out = self.weight[IX]
            return self.out

        def parameters(self):
            return [self.weight]

    class FlattenConsecutive:
        def __init__(self, n):
            self.n = n

        def __call__(self, x):
            B, T, C = x.shape
            x = x.view(B, T // self.n, C * self.n)
            if x.shape[1] == 1:
                x = x.squeeze(1)
            self.out = x
            return self.out

        def parameters(self):
            return []

    class Sequential:
        def __init__(self, layers):
            self.layers = layers

        def __call__(self, x):
            for layer in self.layers:
                x = layer(x)
            self.out = x
            return self.out

        def parameters(self):
            # get parameters of all layers and stretch them out into one list
            return [p for layer in self.layers for p in layer.parameters()]

    return Embedding, FlattenConsecutive, Linear, BatchNorm1d, Tanh, Sequential


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_wavenet_hierarchical_model(dtype):
    """Embedding -> (FlattenConsecutive(2) -> Linear -> BatchNorm1d over (0, 1) -> Tanh) x 3 -> Linear:
    training steps, the layer shapes the lecture prints, eval mode (layer.training = False) split loss."""
    block_size, n_embd, n_hidden = 8, 6, 16
    res = {}
    for lib in LIBS:
        F = F_OF[lib]
        rng = np.random.default_rng(123)
        Embedding, FlattenConsecutive, Linear, BatchNorm1d, Tanh, Sequential = wavenet_classes(lib, rng, dtype)
        model = Sequential([
            Embedding(VOCAB, n_embd),
            FlattenConsecutive(2), Linear(n_embd * 2, n_hidden, bias=False), BatchNorm1d(n_hidden), Tanh(),
            FlattenConsecutive(2), Linear(n_hidden * 2, n_hidden, bias=False), BatchNorm1d(n_hidden), Tanh(),
            FlattenConsecutive(2), Linear(n_hidden * 2, n_hidden, bias=False), BatchNorm1d(n_hidden), Tanh(),
            Linear(n_hidden, VOCAB),
        ])
        with lib.no_grad():
            model.layers[-1].weight *= 0.1  # last layer make less confident
        parameters = model.parameters()
        nparams = sum(p.nelement() for p in parameters)
        for p in parameters:
            p.requires_grad = True
        X, Y = build_dataset(lib, WORDS, block_size=block_size)
        losses = []
        for i, ix in enumerate(minibatches(X.shape[0], 4, seed=31)):
            ix = lib.tensor(ix)
            Xb, Yb = X[ix], Y[ix]
            logits = model(Xb)
            loss = F.cross_entropy(logits, Yb)
            for p in parameters:
                p.grad = None
            loss.backward()
            lr = 0.1 if i < 3 else 0.01
            for p in parameters:
                update_ported(lib, p, lr)
            losses.append(loss.item())
        shapes = [(layer.__class__.__name__, tuple(layer.out.shape)) for layer in model.layers]
        grads = [p.grad for p in parameters]
        for layer in model.layers:
            layer.training = False

        @lib.no_grad()
        def split_loss():
            return F.cross_entropy(model(X), Y)

        running = [(layer.running_mean, layer.running_var) for layer in model.layers if isinstance(layer, BatchNorm1d)]
        res[lib] = (losses, parameters, grads, nparams, shapes, split_loss(), running)
    np.testing.assert_allclose(res[mg][0], res[torch][0], **TOL[dtype])
    assert res[mg][3] == res[torch][3] == 27 * 6 + 12 * 16 + 2 * 16 + 32 * 16 + 2 * 16 + 32 * 16 + 2 * 16 + 16 * 27 + 27
    assert res[mg][4] == res[torch][4]
    assert res[mg][4][1] == ("FlattenConsecutive", (32, 4, 12)) and res[mg][4][9] == ("FlattenConsecutive", (32, 32))
    assert res[mg][4][3] == ("BatchNorm1d", (32, 4, 16))
    for i, (pm, pt) in enumerate(zip(res[mg][1], res[torch][1])):
        close(pm, pt, dtype, f"parameter {i} after 4 steps")
        close(res[mg][2][i], res[torch][2][i], dtype, f"last gradient of parameter {i}")
    close(res[mg][5], res[torch][5], dtype, "eval-mode split loss")
    for (mm, vm), (mt, vt), want in zip(res[mg][6], res[torch][6], [(1, 1, n_hidden)] * 2 + [(1, n_hidden)]):
        assert tuple(mm.shape) == tuple(mt.shape) == want  # dims (0, 1) kept on 3-D input, as the lecture fixes
        close(mm, mt, dtype, "running_mean")
        close(vm, vt, dtype, "running_var")


def test_flatten_consecutive_views_share_memory():
    """x.view(B, T//n, C*n) is a view in both (no copy), and squeeze(1) when T//n == 1."""
    for lib in LIBS:
        x = lib.arange(2 * 4 * 3, dtype=DT[lib, "float64"]).view(2, 4, 3)
        y = x.view(2, 2, 6)
        z = x.view(2, 1, 12).squeeze(1)
        assert tuple(z.shape) == (2, 12)
        with lib.no_grad():
            y[0, 0, 0] = 100.0
        assert x[0, 0, 0].item() == 100.0 and z[0, 0].item() == 100.0


# ================================================================ numpy keyword spellings
def test_keepdims_and_axis_spellings_of_reductions():
    """torch's reductions take NumPy's keepdims= and axis= too (the lecture writes P.sum(1, keepdims=True))."""
    a = np.random.default_rng(3).standard_normal((3, 4))
    for name in ("sum", "mean", "std", "var", "prod", "amax", "amin", "logsumexp", "nansum", "nanmean", "argmax",
                 "argmin", "all", "any"):
        xt, xm = torch.tensor(a), mg.tensor(a)
        if name in ("all", "any"):
            xt, xm = xt > 0, xm > 0
        close(getattr(xm, name)(1, keepdims=True), getattr(xt, name)(1, keepdims=True), msg=name)
        close(getattr(mg, name)(xm, axis=0, keepdims=True), getattr(torch, name)(xt, axis=0, keepdims=True), msg=name)
    for name in ("max", "min", "median", "mode"):
        vm, im = getattr(mg.tensor(a), name)(axis=1, keepdims=True)
        vt, it = getattr(torch.tensor(a), name)(axis=1, keepdims=True)
        close(vm, vt, msg=name)
        close(im, it, msg=name)
    with pytest.raises(TypeError, match="sum\\(\\): got both keepdim= and its alias keepdims="):
        mg.tensor(a).sum(1, keepdim=True, keepdims=True)
    # the gradient flows through the wrapped method as before
    w = mg.tensor(a, requires_grad=True)
    (w.exp().sum(axis=1, keepdims=True) ** 2).sum().backward()
    wt = torch.tensor(a, requires_grad=True)
    (wt.exp().sum(axis=1, keepdims=True) ** 2).sum().backward()
    close(w.grad, wt.grad)


# ================================================================ fixes and idioms found on the way
def test_var_std_take_torchs_positional_unbiased():
    """torch: x.var(dim, unbiased, keepdim) and x.std(unbiased); minigrad read the second argument as keepdim
    (x.std(0, False) silently gave the Bessel-corrected std). The lecture writes var(0, keepdim=True, unbiased=True)."""
    a = np.random.default_rng(4).standard_normal((5, 3))
    calls = [lambda L, x: x.var(0, False), lambda L, x: x.std(0, True, True), lambda L, x: x.var(False),
             lambda L, x: x.std(1, unbiased=False, keepdim=True), lambda L, x: x.var(0, keepdim=True, unbiased=True),
             lambda L, x: x.var(dim=1, correction=0), lambda L, x: L.var(x, 0, False, True),
             lambda L, x: L.std(x, 1, False), lambda L, x: L.std_mean(x, 0, False, True)[0]]
    for i, f in enumerate(calls):
        close(f(mg, mg.tensor(a)), f(torch, torch.tensor(a)), msg=f"call {i}")
    with pytest.raises(TypeError, match="give unbiased or correction, not both"):
        mg.tensor(a).var(0, True, correction=0)
    with pytest.raises(TypeError, match="unbiased .* must be True or False"):
        mg.tensor(a).std(0, 2)
    # gradients of the population std, as torch
    xm, xt = mg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    xm.std(0, False).sum().backward()
    xt.std(0, False).sum().backward()
    close(xm.grad, xt.grad)


def test_lecture_printing_and_plotting_idioms():
    """% formatting of 0-d tensors, histogram's default 100 bins, one_hot of a 0-d index @ C, ::2 slicing
    (the WaveNet's explicit pairing), torch.tensor(lossi).view(-1, k).mean(1), manual_seed's generator."""
    out = {}
    for lib in LIBS:
        F = F_OF[lib]
        t = lib.tensor([0.5, -1.0, 2.0, 0.98], dtype=DT[lib, "float64"])
        line = "layer %d (%10s): mean %+.2f, std %.2f, saturated: %.2f%%" % (
            1, "Tanh", t.mean(), t.std(), (t.abs() > 0.97).float().mean() * 100)
        line2 = "weight %10s | mean %+f | std %e | grad:data ratio %e" % (
            tuple(t.shape), t.mean(), t.std(), t.std() / t.std())
        hy, hx = lib.histogram(t, density=True)
        C = lib.tensor(np.arange(54.0).reshape(27, 2))
        e = lib.arange(4 * 8 * 10).view(4, 8, 10)
        paired = lib.cat([e[:, ::2, :], e[:, 1::2, :]], dim=2)
        lossi = lib.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).view(-1, 3).mean(1)
        out[lib] = (line, line2, hy, hx, F.one_hot(lib.tensor(5), num_classes=27).double() @ C, paired, lossi)
        assert tuple(hy.shape) == (100,) and tuple(hx.shape) == (101,)
        assert (paired == e.view(4, 4, 20)).all().item() is True  # the lecture's point: view pairs neighbours
    assert out[mg][0] == out[torch][0] and out[mg][1] == out[torch][1]
    for a, b in zip(out[mg][2:], out[torch][2:]):
        close(a, b)
    g = mg.manual_seed(42)  # torch returns its default generator; minigrad its host generator
    a = mg.randn(3, generator=g)
    mg.manual_seed(42)
    np.testing.assert_array_equal(a.numpy(), mg.randn(3).numpy())
    # part 2 / 5 sampling: multinomial of a (1, 27) softmax row with a generator
    probs = mgF.softmax(mg.randn(1, 27), dim=1)
    ix = mg.multinomial(probs, num_samples=1, generator=mg.Generator().manual_seed(3))
    assert tuple(ix.shape) == (1, 1) and 0 <= ix.item() < 27
