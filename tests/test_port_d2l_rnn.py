"""Porting audit: the recurrent-network chapters of "Dive into Deep Learning" (d2l.ai, PyTorch).

The book's programs are written ONCE, as its readers write them (our own code from the
book's recipes; `d2l` itself is not imported: the few helpers it provides -- Vocab,
Accumulator, the two partitioning iterators, truncate_pad, grad_clipping, sgd, bleu -- are
re-implemented below in plain Python over the library `L`). The torch run gets `torch`,
`torch.nn`, ...; the minigrad run gets `minigrad`, `minigrad.nn`, ... Both start from the
same weights (torch's copied into ours), train on a tiny generated corpus in float64, and are
compared: per-minibatch losses, perplexity, gradients, parameters after training and the
predicted text, rtol 1e-7.

Programs:
1. RNN from scratch (ch. "Recurrent Neural Network Implementation from Scratch"): parameters
   as a list of leaf tensors with requires_grad_(True), F.one_hot(X.T, V).type(dtype), the
   rnn() loop with torch.mm / torch.tanh / torch.cat, tuple states from begin_state,
   grad_clipping by hand (`p.grad[:] *= theta / norm`), random and sequential partitioning,
   `s.detach_()` between minibatches, perplexity = exp(mean loss), the hand-written
   `sgd(params, lr, batch_size)` updater, predict_ch8 with warm-up.
2. GRU and LSTM from scratch (the book's gate equations with torch.sigmoid and @).
3. Concise RNNModel over nn.RNN / nn.GRU / nn.LSTM (Linear on Y.reshape((-1, Y.shape[-1]))),
   optim.SGD; deep (num_layers=2) and bidirectional LSTMs.
4. Machine translation: Seq2SeqEncoder / Seq2SeqDecoder (GRU, context = state[-1].repeat),
   sequence_mask, MaskedSoftmaxCELoss (subclass of nn.CrossEntropyLoss), xavier init through
   net.apply and m._flat_weights_names, teacher forcing (bos prepended with torch.cat),
   grad clipping, Adam, predict_seq2seq (greedy argmax) and BLEU.

Porting notes (what a user must change):
* MaskedSoftmaxCELoss calls `super().forward(pred.permute(0, 2, 1), label)` because torch's
  cross entropy wants classes in dim 1. minigrad's takes the class dimension LAST (README),
  so the port drops the permute: `super().forward(pred, label)`. Left unported, minigrad
  raises a ValueError naming the class-last rule whenever num_steps != vocab size; when
  num_steps == vocab size the shapes are indistinguishable and the loss is silently wrong
  (shape-compatible; no check can tell the two layouts apart).
"""
import collections
import math
import random
from types import SimpleNamespace

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as mF
from porting import to_numpy

torch = pytest.importorskip("torch")

TOL = dict(rtol=1e-7, atol=1e-9)


def _libs(dtype_name):
    th = SimpleNamespace(torch=torch, nn=torch.nn, F=torch.nn.functional, optim=torch.optim,
                         data=torch.utils.data, dtype=getattr(torch, dtype_name), name="torch")
    ours = SimpleNamespace(torch=mg, nn=mg.nn, F=mF, optim=mg.optim,
                           data=mg.utils.data, dtype=getattr(mg, dtype_name), name="minigrad")
    return th, ours


TH, MG = _libs("float64")


@pytest.fixture(autouse=True)
def _float64():
    """Both libraries build float64 parameters (torch.set_default_dtype, mg.set_default_dtype)."""
    old_t, old_m = torch.get_default_dtype(), mg.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    mg.set_default_dtype(mg.float64)
    yield
    torch.set_default_dtype(old_t)
    mg.set_default_dtype(old_m)


_np = to_numpy


def _close(what, ours, theirs, **tol):
    a, b = _np(ours), _np(theirs)
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs torch {b.shape}"
    np.testing.assert_allclose(a, b, err_msg=what, **(tol or TOL))


def _copy_weights(theirs, ours):
    """torch's state dict into ours (as NumPy arrays); the keys must be identical."""
    sd = theirs.state_dict()
    assert list(ours.state_dict().keys()) == list(sd.keys())
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in sd.items()})


def _same_params(ours, theirs, what="", **tol):
    named_o, named_t = dict(ours.named_parameters()), dict(theirs.named_parameters())
    assert list(named_o) == list(named_t), f"{what}: parameter names differ"
    for k in named_t:
        _close(f"{what} parameter {k}", named_o[k], named_t[k], **tol)


# =====================================================================================
# d2l's plain-Python helpers (text, vocabulary, metrics): no tensors involved
# =====================================================================================
WORDS = "the time traveller machine said a an in it was".split()


def make_text(n_words, seed):
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(n_words))]


def tokenize(lines, token="word"):
    if token == "word":
        return [line.split() for line in lines]
    return [list(line) for line in lines]


def count_corpus(tokens):
    if len(tokens) == 0 or isinstance(tokens[0], list):
        tokens = [token for line in tokens for token in line]
    return collections.Counter(tokens)


class Vocab:
    """d2l.Vocab: '<unk>' is 0, then reserved tokens, then tokens by falling frequency."""

    def __init__(self, tokens=None, min_freq=0, reserved_tokens=None):
        tokens = tokens or []
        reserved_tokens = reserved_tokens or []
        counter = count_corpus(tokens)
        self._token_freqs = sorted(counter.items(), key=lambda x: (-x[1], x[0]))
        self.idx_to_token = ["<unk>"] + reserved_tokens
        self.token_to_idx = {token: idx for idx, token in enumerate(self.idx_to_token)}
        for token, freq in self._token_freqs:
            if freq < min_freq:
                break
            if token not in self.token_to_idx:
                self.idx_to_token.append(token)
                self.token_to_idx[token] = len(self.idx_to_token) - 1

    def __len__(self):
        return len(self.idx_to_token)

    def __getitem__(self, tokens):
        if not isinstance(tokens, (list, tuple)):
            return self.token_to_idx.get(tokens, self.unk)
        return [self.__getitem__(token) for token in tokens]

    def to_tokens(self, indices):
        if not isinstance(indices, (list, tuple)):
            return self.idx_to_token[indices]
        return [self.idx_to_token[index] for index in indices]

    @property
    def unk(self):
        return 0


class Accumulator:
    def __init__(self, n):
        self.data = [0.0] * n

    def add(self, *args):
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def __getitem__(self, idx):
        return self.data[idx]


def load_corpus(seed=0, n_words=40):
    tokens = tokenize(make_text(n_words, seed), "char")
    vocab = Vocab(tokens)
    corpus = [vocab[token] for line in tokens for token in line]
    return corpus, vocab


def bleu(pred_seq, label_seq, k):
    """d2l's BLEU: brevity penalty times the weighted n-gram precisions (pure Python)."""
    pred_tokens, label_tokens = pred_seq.split(" "), label_seq.split(" ")
    len_pred, len_label = len(pred_tokens), len(label_tokens)
    score = math.exp(min(0, 1 - len_label / len_pred))
    for n in range(1, k + 1):
        num_matches, label_subs = 0, collections.defaultdict(int)
        for i in range(len_label - n + 1):
            label_subs[" ".join(label_tokens[i: i + n])] += 1
        for i in range(len_pred - n + 1):
            if label_subs[" ".join(pred_tokens[i: i + n])] > 0:
                num_matches += 1
                label_subs[" ".join(pred_tokens[i: i + n])] -= 1
        score *= math.pow(num_matches / (len_pred - n + 1), math.pow(0.5, n))
    return score


# =====================================================================================
# The book's tensor code, written once over the library L
# =====================================================================================
def make_ch8(L):
    torch, nn, F = L.torch, L.nn, L.F  # noqa: F811 - the book's names

    def seq_data_iter_random(corpus, batch_size, num_steps):
        corpus = corpus[random.randint(0, num_steps - 1):]
        num_subseqs = (len(corpus) - 1) // num_steps
        initial_indices = list(range(0, num_subseqs * num_steps, num_steps))
        random.shuffle(initial_indices)

        def data(pos):
            return corpus[pos: pos + num_steps]

        num_batches = num_subseqs // batch_size
        for i in range(0, batch_size * num_batches, batch_size):
            initial_indices_per_batch = initial_indices[i: i + batch_size]
            X = [data(j) for j in initial_indices_per_batch]
            Y = [data(j + 1) for j in initial_indices_per_batch]
            yield torch.tensor(X), torch.tensor(Y)

    def seq_data_iter_sequential(corpus, batch_size, num_steps):
        offset = random.randint(0, num_steps)
        num_tokens = ((len(corpus) - offset - 1) // batch_size) * batch_size
        Xs = torch.tensor(corpus[offset: offset + num_tokens])
        Ys = torch.tensor(corpus[offset + 1: offset + 1 + num_tokens])
        Xs, Ys = Xs.reshape(batch_size, -1), Ys.reshape(batch_size, -1)
        num_batches = Xs.shape[1] // num_steps
        for i in range(0, num_steps * num_batches, num_steps):
            X = Xs[:, i: i + num_steps]
            Y = Ys[:, i: i + num_steps]
            yield X, Y

    # ---- from-scratch models: parameters are a plain list of leaf tensors ----
    def normal(shape):
        return torch.randn(size=shape) * 0.01

    def get_rnn_params(vocab_size, num_hiddens, device):
        num_inputs = num_outputs = vocab_size
        W_xh = normal((num_inputs, num_hiddens))
        W_hh = normal((num_hiddens, num_hiddens))
        b_h = torch.zeros(num_hiddens, device=device)
        W_hq = normal((num_hiddens, num_outputs))
        b_q = torch.zeros(num_outputs, device=device)
        params = [W_xh, W_hh, b_h, W_hq, b_q]
        for param in params:
            param.requires_grad_(True)
        return params

    def init_rnn_state(batch_size, num_hiddens, device):
        return (torch.zeros((batch_size, num_hiddens), device=device),)

    def rnn(inputs, state, params):
        W_xh, W_hh, b_h, W_hq, b_q = params
        H, = state
        outputs = []
        for X in inputs:
            H = torch.tanh(torch.mm(X, W_xh) + torch.mm(H, W_hh) + b_h)
            Y = torch.mm(H, W_hq) + b_q
            outputs.append(Y)
        return torch.cat(outputs, dim=0), (H,)

    def three(num_inputs, num_hiddens, device):
        return (normal((num_inputs, num_hiddens)), normal((num_hiddens, num_hiddens)),
                torch.zeros(num_hiddens, device=device))

    def get_gru_params(vocab_size, num_hiddens, device):
        num_inputs = num_outputs = vocab_size
        W_xz, W_hz, b_z = three(num_inputs, num_hiddens, device)   # update gate
        W_xr, W_hr, b_r = three(num_inputs, num_hiddens, device)   # reset gate
        W_xh, W_hh, b_h = three(num_inputs, num_hiddens, device)   # candidate state
        W_hq = normal((num_hiddens, num_outputs))
        b_q = torch.zeros(num_outputs, device=device)
        params = [W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q]
        for param in params:
            param.requires_grad_(True)
        return params

    def gru(inputs, state, params):
        W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q = params
        H, = state
        outputs = []
        for X in inputs:
            Z = torch.sigmoid((X @ W_xz) + (H @ W_hz) + b_z)
            R = torch.sigmoid((X @ W_xr) + (H @ W_hr) + b_r)
            H_tilda = torch.tanh((X @ W_xh) + ((R * H) @ W_hh) + b_h)
            H = Z * H + (1 - Z) * H_tilda
            Y = H @ W_hq + b_q
            outputs.append(Y)
        return torch.cat(outputs, dim=0), (H,)

    def get_lstm_params(vocab_size, num_hiddens, device):
        num_inputs = num_outputs = vocab_size
        W_xi, W_hi, b_i = three(num_inputs, num_hiddens, device)
        W_xf, W_hf, b_f = three(num_inputs, num_hiddens, device)
        W_xo, W_ho, b_o = three(num_inputs, num_hiddens, device)
        W_xc, W_hc, b_c = three(num_inputs, num_hiddens, device)
        W_hq = normal((num_hiddens, num_outputs))
        b_q = torch.zeros(num_outputs, device=device)
        params = [W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c, W_hq, b_q]
        for param in params:
            param.requires_grad_(True)
        return params

    def init_lstm_state(batch_size, num_hiddens, device):
        return (torch.zeros((batch_size, num_hiddens), device=device),
                torch.zeros((batch_size, num_hiddens), device=device))

    def lstm(inputs, state, params):
        (W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c, W_hq, b_q) = params
        (H, C) = state
        outputs = []
        for X in inputs:
            I = torch.sigmoid((X @ W_xi) + (H @ W_hi) + b_i)  # noqa: E741
            Fg = torch.sigmoid((X @ W_xf) + (H @ W_hf) + b_f)
            O = torch.sigmoid((X @ W_xo) + (H @ W_ho) + b_o)  # noqa: E741
            C_tilda = torch.tanh((X @ W_xc) + (H @ W_hc) + b_c)
            C = Fg * C + I * C_tilda
            H = O * torch.tanh(C)
            Y = (H @ W_hq) + b_q
            outputs.append(Y)
        return torch.cat(outputs, dim=0), (H, C)

    SCRATCH = {"rnn": (get_rnn_params, init_rnn_state, rnn),
               "gru": (get_gru_params, init_rnn_state, gru),
               "lstm": (get_lstm_params, init_lstm_state, lstm)}

    class RNNModelScratch:
        def __init__(self, vocab_size, num_hiddens, device, get_params, init_state, forward_fn):
            self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
            self.params = get_params(vocab_size, num_hiddens, device)
            self.init_state, self.forward_fn = init_state, forward_fn

        def __call__(self, X, state):
            X = F.one_hot(X.T, self.vocab_size).type(L.dtype)   # the book: .type(torch.float32)
            return self.forward_fn(X, state, self.params)

        def begin_state(self, batch_size, device):
            return self.init_state(batch_size, self.num_hiddens, device)

    # ---- concise model over the library's recurrent layer ----
    class RNNModel(nn.Module):
        def __init__(self, rnn_layer, vocab_size, **kwargs):
            super().__init__(**kwargs)
            self.rnn = rnn_layer
            self.vocab_size = vocab_size
            self.num_hiddens = self.rnn.hidden_size
            if not self.rnn.bidirectional:
                self.num_directions = 1
                self.linear = nn.Linear(self.num_hiddens, self.vocab_size)
            else:
                self.num_directions = 2
                self.linear = nn.Linear(self.num_hiddens * 2, self.vocab_size)

        def forward(self, inputs, state):
            X = F.one_hot(inputs.T.long(), self.vocab_size)
            X = X.to(L.dtype)
            Y, state = self.rnn(X, state)
            # The fully connected layer first reshapes Y to (num_steps * batch_size, num_hiddens).
            output = self.linear(Y.reshape((-1, Y.shape[-1])))
            return output, state

        def begin_state(self, device, batch_size=1):
            shape = (self.num_directions * self.rnn.num_layers, batch_size, self.num_hiddens)
            if not isinstance(self.rnn, nn.LSTM):
                return torch.zeros(shape, device=device)
            return (torch.zeros(shape, device=device), torch.zeros(shape, device=device))

    def predict_ch8(prefix, num_preds, net, vocab, device):
        state = net.begin_state(batch_size=1, device=device)
        outputs = [vocab[prefix[0]]]

        def get_input():
            return torch.tensor([outputs[-1]], device=device).reshape((1, 1))

        for y in prefix[1:]:  # warm-up period
            _, state = net(get_input(), state)
            outputs.append(vocab[y])
        for _ in range(num_preds):
            y, state = net(get_input(), state)
            outputs.append(int(y.argmax(dim=1).reshape(1)))
        return "".join([vocab.idx_to_token[i] for i in outputs])

    def grad_clipping(net, theta):
        if isinstance(net, nn.Module):
            params = [p for p in net.parameters() if p.requires_grad]
        else:
            params = net.params
        norm = torch.sqrt(sum(torch.sum((p.grad ** 2)) for p in params))
        if norm > theta:
            for param in params:
                param.grad[:] *= theta / norm

    def sgd(params, lr, batch_size):
        with torch.no_grad():
            for param in params:
                param -= lr * param.grad / batch_size
                param.grad.zero_()

    def train_epoch_ch8(net, train_iter, loss, updater, device, use_random_iter, log):
        state = None
        metric = Accumulator(2)
        for X, Y in train_iter:
            if state is None or use_random_iter:
                state = net.begin_state(batch_size=X.shape[0], device=device)
            else:
                if isinstance(net, nn.Module) and not isinstance(state, tuple):
                    state.detach_()   # nn.GRU / nn.RNN: state is one tensor
                else:
                    for s in state:   # nn.LSTM or a from-scratch model: a tuple
                        s.detach_()
            y = Y.T.reshape(-1)
            X, y = X.to(device), y.to(device)
            y_hat, state = net(X, state)
            l = loss(y_hat, y.long()).mean()
            if isinstance(updater, torch.optim.Optimizer):
                updater.zero_grad()
                l.backward()
                grad_clipping(net, 1)
                updater.step()
            else:
                l.backward()
                grad_clipping(net, 1)
                updater(batch_size=1)   # the mean loss already divides by the batch
            metric.add(l * y.numel(), y.numel())
            log.append(float(l))
        return math.exp(metric[0] / metric[1])

    def train_ch8(net, corpus, vocab, lr, num_epochs, batch_size, num_steps, device,
                  use_random_iter=False):
        loss = nn.CrossEntropyLoss()
        if isinstance(net, nn.Module):
            updater = torch.optim.SGD(net.parameters(), lr)
        else:
            def updater(batch_size):
                return sgd(net.params, lr, batch_size)
        data_iter_fn = seq_data_iter_random if use_random_iter else seq_data_iter_sequential
        log, ppls = [], []
        for _ in range(num_epochs):
            train_iter = data_iter_fn(corpus, batch_size, num_steps)
            ppls.append(train_epoch_ch8(net, train_iter, loss, updater, device, use_random_iter, log))
        return log, ppls, predict_ch8("the t", 8, net, vocab, device)

    return SimpleNamespace(**locals())


def _scratch_model(L, kind, vocab_size, num_hiddens, init=None):
    """RNNModelScratch of `kind`; `init` (torch's params) is copied in, as the book's reader would."""
    P = make_ch8(L)
    get_params, init_state, fn = P.SCRATCH[kind]
    net = P.RNNModelScratch(vocab_size, num_hiddens, "cpu", get_params, init_state, fn)
    if init is not None:
        assert len(net.params) == len(init)
        with L.torch.no_grad():
            for p, q in zip(net.params, init):
                assert tuple(p.shape) == tuple(q.shape)
                p.copy_(L.torch.tensor(q.detach().numpy()))
    return P, net


def _run_scratch(kind, use_random_iter, num_epochs=2, lr=1.0):
    corpus, vocab = load_corpus()
    torch.manual_seed(0)
    results = {}
    init = None
    for L in (TH, MG):
        P, net = _scratch_model(L, kind, len(vocab), 6, init)
        if init is None:
            init = [p.detach().clone() for p in net.params]
        random.seed(1)   # the partitioning draws from Python's `random`, the same in both runs
        results[L.name] = (net, P.train_ch8(net, corpus, vocab, lr, num_epochs, 2, 5, "cpu",
                                            use_random_iter=use_random_iter))
    return results


@pytest.mark.parametrize("use_random_iter", [False, True], ids=["sequential", "random"])
@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_scratch_rnn_gru_lstm_training_matches_torch(kind, use_random_iter):
    res = _run_scratch(kind, use_random_iter)
    (net_t, (log_t, ppl_t, pred_t)), (net_m, (log_m, ppl_m, pred_m)) = res["torch"], res["minigrad"]
    assert len(log_t) >= 8
    np.testing.assert_allclose(log_m, log_t, **TOL)
    np.testing.assert_allclose(ppl_m, ppl_t, **TOL)
    for i, (p, q) in enumerate(zip(net_m.params, net_t.params)):
        _close(f"{kind} param {i}", p, q)
        # sgd() zeroed every gradient in place after the step
        assert p.grad is not None and not np.any(p.grad.numpy())
        assert p.is_leaf and p.requires_grad
    assert pred_m == pred_t


def test_scratch_rnn_one_step_gradients_and_clipping_match_torch():
    """One minibatch: the loss, every gradient before and after grad_clipping (which fires)."""
    corpus, vocab = load_corpus()
    torch.manual_seed(3)
    init, grads = None, {}
    for L in (TH, MG):
        P, net = _scratch_model(L, "rnn", len(vocab), 6, init)
        if init is None:
            with torch.no_grad():   # larger weights so that clipping fires
                for p in net.params:
                    p.mul_(100.0)
            init = [p.detach().clone() for p in net.params]
        random.seed(2)
        X, Y = next(P.seq_data_iter_sequential(corpus, 3, 4))
        state = net.begin_state(batch_size=X.shape[0], device="cpu")
        y_hat, state = net(X, state)
        assert isinstance(state, tuple) and len(state) == 1
        l = L.nn.CrossEntropyLoss()(y_hat, Y.T.reshape(-1).long()).mean()
        l.backward()
        before = [p.grad.clone() for p in net.params]
        norm = float(L.torch.sqrt(sum(L.torch.sum(p.grad ** 2) for p in net.params)))
        P.grad_clipping(net, 1)
        after = [p.grad.clone() for p in net.params]
        grads[L.name] = (float(l), y_hat, before, norm, after)
    (lt, yt, bt, nt, at), (lm, ym, bm, nm, am) = grads["torch"], grads["minigrad"]
    assert nt > 1  # clipping really happened
    np.testing.assert_allclose(lm, lt, **TOL)
    _close("y_hat", ym, yt)
    np.testing.assert_allclose(nm, nt, **TOL)
    for i in range(5):
        _close(f"grad {i}", bm[i], bt[i])
        _close(f"clipped grad {i}", am[i], at[i])
    clipped = math.sqrt(sum(float((g.numpy() ** 2).sum()) for g in am))
    assert clipped == pytest.approx(1.0, rel=1e-12)


def test_scratch_float32_as_in_the_book():
    """The book's exact dtype (.type(torch.float32) on float32 params): float32 stays float32."""
    old = mg.get_default_dtype()
    mg.set_default_dtype(mg.float32)
    torch.set_default_dtype(torch.float32)
    try:
        th, ours = _libs("float32")
        corpus, vocab = load_corpus()
        torch.manual_seed(0)
        init, out = None, {}
        for L in (th, ours):
            P, net = _scratch_model(L, "gru", len(vocab), 6, init)
            if init is None:
                init = [p.detach().clone() for p in net.params]
            random.seed(1)
            out[L.name] = (net, P.train_ch8(net, corpus, vocab, 1.0, 1, 2, 5, "cpu"))
        net_m, (log_m, _, _) = out["minigrad"]
        net_t, (log_t, _, _) = out["torch"]
        for p in net_m.params:
            assert p.dtype == mg.float32 and p.grad.dtype == mg.float32
        # float32 rounding differs (summation order): agreement to float32 precision only
        np.testing.assert_allclose(log_m, log_t, rtol=2e-5)
        for p, q in zip(net_m.params, net_t.params):
            _close("float32 param", p, q, rtol=1e-4, atol=1e-6)
    finally:
        mg.set_default_dtype(old)


def test_scratch_float32_inputs_with_float64_params_is_a_clear_error():
    """A float32 one-hot against float64 weights: torch's mm refuses; minigrad refuses clearly too."""
    X = mF.one_hot(mg.tensor([[1, 2]]).T, 4).type(mg.float32)
    W = mg.zeros((4, 3), dtype=mg.float64, requires_grad=True)
    with pytest.raises((TypeError, RuntimeError), match="float32.*float64|float64.*float32"):
        mg.mm(X[0], W)


# ---------------------------- concise models ----------------------------------------
RNN_LAYERS = {
    "rnn": lambda L, V, H: L.nn.RNN(V, H),
    "gru": lambda L, V, H: L.nn.GRU(V, H),
    "lstm": lambda L, V, H: L.nn.LSTM(V, H),
    "deep_lstm": lambda L, V, H: L.nn.LSTM(V, H, 2),
    "deep_gru": lambda L, V, H: L.nn.GRU(V, H, num_layers=2),
    "bidirectional_lstm": lambda L, V, H: L.nn.LSTM(V, H, 2, bidirectional=True),
}


@pytest.mark.parametrize("kind, use_random_iter",
                         [(k, False) for k in RNN_LAYERS] + [("rnn", True), ("deep_lstm", True)],
                         ids=[f"{k}-sequential" for k in RNN_LAYERS] + ["rnn-random", "deep_lstm-random"])
def test_concise_rnn_model_training_matches_torch(kind, use_random_iter):
    corpus, vocab = load_corpus()
    torch.manual_seed(0)
    nets, outs = {}, {}
    for L in (TH, MG):   # build both first: ours starts from torch's untrained weights
        nets[L.name] = make_ch8(L).RNNModel(RNN_LAYERS[kind](L, len(vocab), 5), vocab_size=len(vocab))
    _copy_weights(nets["torch"], nets["minigrad"])
    for L in (TH, MG):
        P, net = make_ch8(L), nets[L.name]
        random.seed(1)
        outs[L.name] = P.train_ch8(net, corpus, vocab, 1.0, 2, 2, 5, "cpu", use_random_iter)
    (log_t, ppl_t, pred_t), (log_m, ppl_m, pred_m) = outs["torch"], outs["minigrad"]
    assert len(log_t) >= 8
    np.testing.assert_allclose(log_m, log_t, **TOL)
    np.testing.assert_allclose(ppl_m, ppl_t, **TOL)
    _same_params(nets["minigrad"], nets["torch"], kind)
    assert pred_m == pred_t


def test_concise_gru_learns_and_predicts_like_torch():
    """Longer training (6 epochs, 96 SGD steps): the same perplexity and the same generated text."""
    corpus, vocab = load_corpus(n_words=60)
    torch.manual_seed(0)
    nets, outs = {}, {}
    for L in (TH, MG):
        nets[L.name] = make_ch8(L).RNNModel(L.nn.GRU(len(vocab), 24), vocab_size=len(vocab))
    _copy_weights(nets["torch"], nets["minigrad"])
    for L in (TH, MG):
        random.seed(1)
        outs[L.name] = make_ch8(L).train_ch8(nets[L.name], corpus, vocab, 2.0, 6, 4, 8, "cpu")
    (log_t, ppl_t, pred_t), (log_m, ppl_m, pred_m) = outs["torch"], outs["minigrad"]
    np.testing.assert_allclose(log_m, log_t, **TOL)
    np.testing.assert_allclose(ppl_m, ppl_t, **TOL)
    assert ppl_m[-1] < ppl_m[0] / 2   # it learned something
    _same_params(nets["minigrad"], nets["torch"], "gru")
    assert pred_m == pred_t
    assert len(set(pred_m[5:]) - {" "}) >= 2   # more than spaces after the prefix


def test_concise_state_detach_keeps_values_and_cuts_graph():
    """train_epoch_ch8's `state.detach_()` on nn.GRU's tensor state: in place, same values, a leaf."""
    corpus, vocab = load_corpus()
    P = make_ch8(MG)
    net = P.RNNModel(mg.nn.GRU(len(vocab), 4), vocab_size=len(vocab))
    X = mg.tensor([corpus[:5], corpus[5:10]])
    state = net.begin_state(batch_size=2, device="cpu")
    _, state = net(X, state)
    assert state.requires_grad and not state.is_leaf
    before = state.numpy().copy()
    ident = id(state)
    state.detach_()
    assert id(state) == ident and not state.requires_grad and state.grad_fn is None
    np.testing.assert_array_equal(state.numpy(), before)
    # the next minibatch's graph stops at the detached state
    y_hat, _ = net(X, state)
    y_hat.sum().backward()
    assert state.grad is None


# =====================================================================================
# 4. Machine translation: encoder-decoder with teacher forcing, BLEU
# =====================================================================================
SRC_WORDS = "go run hi stop wait help".split()
TGT_WORDS = {"go": "va", "run": "cours", "hi": "salut", "stop": "arrete", "wait": "attends",
             "help": "aide"}


def make_nmt_pairs(n, seed=0):
    rng = random.Random(seed)
    src, tgt = [], []
    for _ in range(n):
        words = [rng.choice(SRC_WORDS) for _ in range(rng.randint(1, 3))]
        src.append(words + ["."])
        tgt.append([TGT_WORDS[w] for w in words] + ["!"])
    return src, tgt


def truncate_pad(line, num_steps, padding_token):
    if len(line) > num_steps:
        return line[:num_steps]
    return line + [padding_token] * (num_steps - len(line))


def make_nmt(L, class_dim_last):
    torch, nn = L.torch, L.nn  # noqa: F811

    def build_array_nmt(lines, vocab, num_steps):
        lines = [vocab[l] for l in lines]
        lines = [l + [vocab["<eos>"]] for l in lines]
        array = torch.tensor([truncate_pad(l, num_steps, vocab["<pad>"]) for l in lines])
        valid_len = (array != vocab["<pad>"]).type(torch.int32).sum(1)
        return array, valid_len

    def load_array(data_arrays, batch_size, is_train=True):
        dataset = L.data.TensorDataset(*data_arrays)
        return L.data.DataLoader(dataset, batch_size, shuffle=is_train)

    class Encoder(nn.Module):
        def forward(self, X, *args):
            raise NotImplementedError

    class Decoder(nn.Module):
        def init_state(self, enc_outputs, *args):
            raise NotImplementedError

    class EncoderDecoder(nn.Module):
        def __init__(self, encoder, decoder, **kwargs):
            super().__init__(**kwargs)
            self.encoder = encoder
            self.decoder = decoder

        def forward(self, enc_X, dec_X, *args):
            enc_outputs = self.encoder(enc_X, *args)
            dec_state = self.decoder.init_state(enc_outputs, *args)
            return self.decoder(dec_X, dec_state)

    class Seq2SeqEncoder(Encoder):
        def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0, **kwargs):
            super().__init__(**kwargs)
            self.embedding = nn.Embedding(vocab_size, embed_size)
            self.rnn = nn.GRU(embed_size, num_hiddens, num_layers, dropout=dropout)

        def forward(self, X, *args):
            X = self.embedding(X)          # (batch_size, num_steps, embed_size)
            X = X.permute(1, 0, 2)         # time first for the RNN
            output, state = self.rnn(X)    # state: (num_layers, batch_size, num_hiddens)
            return output, state

    class Seq2SeqDecoder(Decoder):
        def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0, **kwargs):
            super().__init__(**kwargs)
            self.embedding = nn.Embedding(vocab_size, embed_size)
            self.rnn = nn.GRU(embed_size + num_hiddens, num_hiddens, num_layers, dropout=dropout)
            self.dense = nn.Linear(num_hiddens, vocab_size)

        def init_state(self, enc_outputs, *args):
            return enc_outputs[1]

        def forward(self, X, state):
            X = self.embedding(X).permute(1, 0, 2)
            # Broadcast the context so that it has the same num_steps as X
            context = state[-1].repeat(X.shape[0], 1, 1)
            X_and_context = torch.cat((X, context), 2)
            output, state = self.rnn(X_and_context, state)
            output = self.dense(output).permute(1, 0, 2)
            return output, state

    def sequence_mask(X, valid_len, value=0):
        maxlen = X.size(1)
        mask = torch.arange((maxlen), dtype=torch.float32, device=X.device)[None, :] < valid_len[:, None]
        X[~mask] = value
        return X

    class MaskedSoftmaxCELoss(nn.CrossEntropyLoss):
        # pred: (batch_size, num_steps, vocab_size); label, valid_len as usual
        def forward(self, pred, label, valid_len):
            weights = torch.ones_like(label)
            weights = sequence_mask(weights, valid_len)
            self.reduction = "none"
            if class_dim_last:   # the minigrad port: its cross entropy takes classes LAST
                unweighted_loss = super().forward(pred, label)
            else:                # the book (torch: classes in dim 1)
                unweighted_loss = super().forward(pred.permute(0, 2, 1), label)
            weighted_loss = (unweighted_loss * weights).mean(dim=1)
            return weighted_loss

    def xavier_init_weights(m):
        if type(m) == nn.Linear:  # noqa: E721 - the book's test
            nn.init.xavier_uniform_(m.weight)
        if type(m) == nn.GRU:  # noqa: E721
            for param in m._flat_weights_names:
                if "weight" in param:
                    nn.init.xavier_uniform_(m._parameters[param])

    def grad_clipping(net, theta):
        params = [p for p in net.parameters() if p.requires_grad]
        norm = torch.sqrt(sum(torch.sum((p.grad ** 2)) for p in params))
        if norm > theta:
            for param in params:
                param.grad[:] *= theta / norm

    def train_seq2seq(net, data_iter, lr, num_epochs, tgt_vocab, device, log):
        optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        loss = MaskedSoftmaxCELoss()
        net.train()
        for _ in range(num_epochs):
            metric = Accumulator(2)
            for batch in data_iter:
                optimizer.zero_grad()
                X, X_valid_len, Y, Y_valid_len = [x.to(device) for x in batch]
                bos = torch.tensor([tgt_vocab["<bos>"]] * Y.shape[0], device=device).reshape(-1, 1)
                dec_input = torch.cat([bos, Y[:, :-1]], 1)  # teacher forcing
                Y_hat, _ = net(X, dec_input, X_valid_len)
                l = loss(Y_hat, Y, Y_valid_len)
                l.sum().backward()
                grad_clipping(net, 1)
                num_tokens = Y_valid_len.sum()
                optimizer.step()
                with torch.no_grad():
                    metric.add(l.sum(), num_tokens)
                log.append([float(v) for v in l])
            log.append(metric[0] / metric[1])

    def predict_seq2seq(net, src_sentence, src_vocab, tgt_vocab, num_steps, device):
        net.eval()
        src_tokens = src_vocab[src_sentence.lower().split(" ")] + [src_vocab["<eos>"]]
        enc_valid_len = torch.tensor([len(src_tokens)], device=device)
        src_tokens = truncate_pad(src_tokens, num_steps, src_vocab["<pad>"])
        enc_X = torch.unsqueeze(torch.tensor(src_tokens, dtype=torch.long, device=device), dim=0)
        enc_outputs = net.encoder(enc_X, enc_valid_len)
        dec_state = net.decoder.init_state(enc_outputs, enc_valid_len)
        dec_X = torch.unsqueeze(torch.tensor([tgt_vocab["<bos>"]], dtype=torch.long, device=device), dim=0)
        output_seq = []
        for _ in range(num_steps):
            Y, dec_state = net.decoder(dec_X, dec_state)
            dec_X = Y.argmax(dim=2)   # greedy: the most likely token is the next input
            pred = dec_X.squeeze(dim=0).type(torch.int32).item()
            if pred == tgt_vocab["<eos>"]:
                break
            output_seq.append(pred)
        return " ".join(tgt_vocab.to_tokens(output_seq))

    return SimpleNamespace(**locals())


def _nmt_data(num_steps=5, n=12):
    src, tgt = make_nmt_pairs(n)
    src_vocab = Vocab(src, reserved_tokens=["<pad>", "<bos>", "<eos>"])
    tgt_vocab = Vocab(tgt, reserved_tokens=["<pad>", "<bos>", "<eos>"])
    return src, tgt, src_vocab, tgt_vocab


def _build_nmt(L, src_vocab, tgt_vocab, embed=4, hidden=6, layers=2, class_dim_last=None):
    if class_dim_last is None:
        class_dim_last = L is MG
    P = make_nmt(L, class_dim_last)
    encoder = P.Seq2SeqEncoder(len(src_vocab), embed, hidden, layers)
    decoder = P.Seq2SeqDecoder(len(tgt_vocab), embed, hidden, layers)
    net = P.EncoderDecoder(encoder, decoder)
    net.apply(P.xavier_init_weights)
    return P, net


def test_seq2seq_translation_training_and_bleu_match_torch():
    num_steps = 5
    src, tgt, src_vocab, tgt_vocab = _nmt_data(num_steps, n=24)
    assert len(tgt_vocab) != num_steps  # the unported loss would be a clear error (test below)
    torch.manual_seed(0)
    nets, logs, preds = {}, {}, {}
    engs = ["go .", "hi run .", "stop wait help .", "help ."]
    for L in (TH, MG):   # build both first: ours starts from torch's untrained weights
        nets[L.name] = _build_nmt(L, src_vocab, tgt_vocab, embed=8, hidden=16)
    _copy_weights(nets["torch"][1], nets["minigrad"][1])
    for L in (TH, MG):
        P, net = nets[L.name]
        src_array, src_valid_len = P.build_array_nmt(src, src_vocab, num_steps)
        tgt_array, tgt_valid_len = P.build_array_nmt(tgt, tgt_vocab, num_steps)
        assert src_valid_len.dtype == L.torch.int64  # sum of int32 is int64, as in torch
        data_iter = P.load_array((src_array, src_valid_len, tgt_array, tgt_valid_len), 8,
                                 is_train=False)  # no shuffle: the two runs see the same batches
        log = []
        P.train_seq2seq(net, data_iter, 0.05, 15, tgt_vocab, "cpu", log)
        logs[L.name] = log
        preds[L.name] = [P.predict_seq2seq(net, e, src_vocab, tgt_vocab, num_steps, "cpu") for e in engs]
    assert len(logs["torch"]) == 15 * (3 + 1)   # 3 batches and the epoch's mean per epoch
    for i, (a, b) in enumerate(zip(logs["minigrad"], logs["torch"])):
        np.testing.assert_allclose(a, b, err_msg=f"loss record {i}", **TOL)
    _same_params(nets["minigrad"][1], nets["torch"][1], "seq2seq")
    assert preds["minigrad"] == preds["torch"]
    scores = []
    for eng, pred in zip(engs, preds["minigrad"]):
        ref = " ".join(TGT_WORDS[w] for w in eng.split()[:-1]) + " !"
        assert pred, "the trained model predicts at least one token"
        scores.append(bleu(pred, ref, k=2))
    assert all(0.0 <= b <= 1.0 for b in scores)
    assert max(scores) == 1.0   # 45 Adam steps are enough for the one-word sentences


def test_seq2seq_one_step_loss_and_gradients_match_torch():
    """The masked loss per sequence and every gradient of l.sum() after one forward pass."""
    num_steps = 5
    src, tgt, src_vocab, tgt_vocab = _nmt_data(num_steps)
    torch.manual_seed(1)
    nets, losses = {}, {}
    for L in (TH, MG):
        P, net = _build_nmt(L, src_vocab, tgt_vocab)
        if L is MG:
            _copy_weights(nets["torch"], net)
        X, X_valid_len = P.build_array_nmt(src[:3], src_vocab, num_steps)
        Y, Y_valid_len = P.build_array_nmt(tgt[:3], tgt_vocab, num_steps)
        bos = L.torch.tensor([tgt_vocab["<bos>"]] * Y.shape[0]).reshape(-1, 1)
        dec_input = L.torch.cat([bos, Y[:, :-1]], 1)
        Y_hat, state = net(X, dec_input, X_valid_len)
        assert tuple(Y_hat.shape) == (3, num_steps, len(tgt_vocab))
        assert tuple(state.shape) == (2, 3, 6)
        l = P.MaskedSoftmaxCELoss()(Y_hat, Y, Y_valid_len)
        l.sum().backward()
        nets[L.name], losses[L.name] = net, (l, Y_hat, state)
    for a, b, what in zip(losses["minigrad"], losses["torch"], ("loss", "Y_hat", "state")):
        _close(what, a, b)
    named_m, named_t = dict(nets["minigrad"].named_parameters()), dict(nets["torch"].named_parameters())
    for k in named_t:
        _close(f"grad {k}", named_m[k].grad, named_t[k].grad)


def test_sequence_mask_matches_torch():
    """The book's example: a float tensor, an int ones_like tensor, and value=-1 on 3-D input."""
    X_t = torch.tensor([[1.0, 2, 3], [4, 5, 6]])
    vl_t = torch.tensor([1, 2])
    P_t, P_m = make_nmt(TH, False), make_nmt(MG, True)
    out_t = P_t.sequence_mask(X_t.clone(), vl_t)
    out_m = P_m.sequence_mask(mg.tensor(X_t.numpy()), mg.tensor(vl_t.numpy()))
    _close("sequence_mask", out_m, out_t)
    X3_t = torch.ones(2, 3, 4)
    out_t = P_t.sequence_mask(X3_t.clone(), vl_t, value=-1)
    out_m = P_m.sequence_mask(mg.ones(2, 3, 4), mg.tensor([1, 2]), value=-1)
    _close("sequence_mask 3-D", out_m, out_t)
    w_m = P_m.sequence_mask(mg.ones_like(mg.tensor([[3, 1, 2], [0, 0, 1]])), mg.tensor([3, 1]))
    assert w_m.dtype == mg.int64
    np.testing.assert_array_equal(w_m.numpy(), [[1, 1, 1], [1, 0, 0]])


def test_masked_softmax_ce_loss_book_example_matches_torch():
    """d2l: loss(torch.ones(3, 4, 10), torch.ones((3, 4), dtype=torch.long), torch.tensor([4, 2, 0]))."""
    l_t = make_nmt(TH, False).MaskedSoftmaxCELoss()(
        torch.ones(3, 4, 10), torch.ones((3, 4), dtype=torch.long), torch.tensor([4, 2, 0]))
    l_m = make_nmt(MG, True).MaskedSoftmaxCELoss()(
        mg.ones(3, 4, 10), mg.ones((3, 4), dtype=mg.long), mg.tensor([4, 2, 0]))
    _close("masked CE", l_m, l_t)
    np.testing.assert_allclose(l_m.numpy(), [math.log(10), math.log(10) / 2, 0.0], rtol=1e-12)


def test_masked_softmax_ce_loss_unported_permute_is_a_clear_error():
    """The book's `pred.permute(0, 2, 1)` left in: minigrad names the class-last rule."""
    loss = make_nmt(MG, class_dim_last=False).MaskedSoftmaxCELoss()
    pred = mg.randn(3, 4, 10)   # (batch, num_steps, vocab) with num_steps != vocab
    with pytest.raises(ValueError, match=r"cross_entropy.*class dimension is last"):
        loss(pred, mg.ones((3, 4), dtype=mg.long), mg.tensor([4, 2, 0]))


def test_bleu_pure_python():
    assert bleu("va !", "va !", k=2) == 1.0
    assert bleu("il est calme .", "il est calme .", k=2) == 1.0
    # brevity penalty exp(1 - 4/2) times unigram precision 1 and bigram precision 1
    assert bleu("il est", "il est calme .", k=2) == pytest.approx(math.exp(-1.0))
    # no shared bigram: the score is 0
    assert bleu("calme est", "il est calme .", k=2) == 0.0


# =====================================================================================
# 5. The same chapters in d2l 1.0 (the current, class-based edition): nn.Module scratch
#    layers with nn.Parameter, RNNLMScratch (torch.stack, F.cross_entropy on reshaped logits,
#    argmax(axis=2)), Stacked/Bi RNN from scratch (`reversed(inputs)` on a tensor), concise
#    RNNLM with nn.LazyLinear + swapaxes, and the Trainer's loop with clip_gradients.
# =====================================================================================
def make_d2l1(L):
    torch, nn, F = L.torch, L.nn, L.F  # noqa: F811

    class RNNScratch(nn.Module):
        def __init__(self, num_inputs, num_hiddens, sigma=0.01):
            super().__init__()
            self.num_inputs, self.num_hiddens, self.sigma = num_inputs, num_hiddens, sigma
            self.W_xh = nn.Parameter(torch.randn(num_inputs, num_hiddens) * sigma)
            self.W_hh = nn.Parameter(torch.randn(num_hiddens, num_hiddens) * sigma)
            self.b_h = nn.Parameter(torch.zeros(num_hiddens))

        def forward(self, inputs, state=None):
            if state is None:
                state = torch.zeros((inputs.shape[1], self.num_hiddens), device=inputs.device)
            else:
                state, = state
            outputs = []
            for X in inputs:
                state = torch.tanh(torch.matmul(X, self.W_xh) + torch.matmul(state, self.W_hh) + self.b_h)
                outputs.append(state)
            return outputs, state

    class GRUScratch(nn.Module):
        def __init__(self, num_inputs, num_hiddens, sigma=0.01):
            super().__init__()
            self.num_inputs, self.num_hiddens, self.sigma = num_inputs, num_hiddens, sigma

            def init_weight(*shape):
                return nn.Parameter(torch.randn(*shape) * sigma)

            def triple():
                return (init_weight(num_inputs, num_hiddens), init_weight(num_hiddens, num_hiddens),
                        nn.Parameter(torch.zeros(num_hiddens)))

            self.W_xz, self.W_hz, self.b_z = triple()
            self.W_xr, self.W_hr, self.b_r = triple()
            self.W_xh, self.W_hh, self.b_h = triple()

        def forward(self, inputs, H=None):
            if H is None:
                H = torch.zeros((inputs.shape[1], self.num_hiddens), device=inputs.device)
            outputs = []
            for X in inputs:
                Z = torch.sigmoid(torch.matmul(X, self.W_xz) + torch.matmul(H, self.W_hz) + self.b_z)
                R = torch.sigmoid(torch.matmul(X, self.W_xr) + torch.matmul(H, self.W_hr) + self.b_r)
                H_tilde = torch.tanh(torch.matmul(X, self.W_xh) + torch.matmul(R * H, self.W_hh) + self.b_h)
                H = Z * H + (1 - Z) * H_tilde
                outputs.append(H)
            return outputs, H

    class LSTMScratch(nn.Module):
        def __init__(self, num_inputs, num_hiddens, sigma=0.01):
            super().__init__()
            self.num_inputs, self.num_hiddens, self.sigma = num_inputs, num_hiddens, sigma

            def init_weight(*shape):
                return nn.Parameter(torch.randn(*shape) * sigma)

            def triple():
                return (init_weight(num_inputs, num_hiddens), init_weight(num_hiddens, num_hiddens),
                        nn.Parameter(torch.zeros(num_hiddens)))

            self.W_xi, self.W_hi, self.b_i = triple()  # input gate
            self.W_xf, self.W_hf, self.b_f = triple()  # forget gate
            self.W_xo, self.W_ho, self.b_o = triple()  # output gate
            self.W_xc, self.W_hc, self.b_c = triple()  # input node

        def forward(self, inputs, H_C=None):
            if H_C is None:
                H = torch.zeros((inputs.shape[1], self.num_hiddens), device=inputs.device)
                C = torch.zeros((inputs.shape[1], self.num_hiddens), device=inputs.device)
            else:
                H, C = H_C
            outputs = []
            for X in inputs:
                I = torch.sigmoid(torch.matmul(X, self.W_xi) + torch.matmul(H, self.W_hi) + self.b_i)  # noqa: E741
                Fg = torch.sigmoid(torch.matmul(X, self.W_xf) + torch.matmul(H, self.W_hf) + self.b_f)
                O = torch.sigmoid(torch.matmul(X, self.W_xo) + torch.matmul(H, self.W_ho) + self.b_o)  # noqa: E741
                C_tilde = torch.tanh(torch.matmul(X, self.W_xc) + torch.matmul(H, self.W_hc) + self.b_c)
                C = Fg * C + I * C_tilde
                H = O * torch.tanh(C)
                outputs.append(H)
            return outputs, (H, C)

    class StackedRNNScratch(nn.Module):
        def __init__(self, num_inputs, num_hiddens, num_layers, sigma=0.01):
            super().__init__()
            self.num_hiddens, self.num_layers, self.sigma = num_hiddens, num_layers, sigma
            self.rnns = nn.Sequential(*[RNNScratch(num_inputs if i == 0 else num_hiddens, num_hiddens, sigma)
                                        for i in range(num_layers)])

        def forward(self, inputs, Hs=None):
            outputs = inputs
            if Hs is None:
                Hs = [None] * self.num_layers
            for i in range(self.num_layers):
                outputs, Hs[i] = self.rnns[i](outputs, Hs[i])
                outputs = torch.stack(outputs, 0)
            return outputs, Hs

    class BiRNNScratch(nn.Module):
        def __init__(self, num_inputs, num_hiddens, sigma=0.01):
            super().__init__()
            self.sigma = sigma
            self.f_rnn = RNNScratch(num_inputs, num_hiddens, sigma)
            self.b_rnn = RNNScratch(num_inputs, num_hiddens, sigma)
            self.num_hiddens = num_hiddens * 2  # the output dimension will be doubled

        def forward(self, inputs, Hs=None):
            f_H, b_H = Hs if Hs is not None else (None, None)
            f_outputs, f_H = self.f_rnn(inputs, f_H)
            b_outputs, b_H = self.b_rnn(reversed(inputs), b_H)   # torch: reversed(tensor) = flip(0)
            outputs = [torch.cat((f, b), -1) for f, b in zip(f_outputs, reversed(b_outputs))]
            return outputs, (f_H, b_H)

    class RNNLMScratch(nn.Module):
        def __init__(self, rnn, vocab_size, lr=0.01):
            super().__init__()
            self.rnn, self.vocab_size, self.lr = rnn, vocab_size, lr
            self.init_params()

        def init_params(self):
            self.W_hq = nn.Parameter(torch.randn(self.rnn.num_hiddens, self.vocab_size) * self.rnn.sigma)
            self.b_q = nn.Parameter(torch.zeros(self.vocab_size))

        def one_hot(self, X):
            # Output shape: (num_steps, batch_size, vocab_size)
            return F.one_hot(X.T, self.vocab_size).type(L.dtype)

        def output_layer(self, rnn_outputs):
            outputs = [torch.matmul(H, self.W_hq) + self.b_q for H in rnn_outputs]
            return torch.stack(outputs, 1)

        def forward(self, X, state=None):
            embs = self.one_hot(X)
            rnn_outputs, _ = self.rnn(embs, state)
            return self.output_layer(rnn_outputs)

        def loss(self, Y_hat, Y, averaged=True):
            Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
            Y = Y.reshape((-1,))
            return F.cross_entropy(Y_hat, Y, reduction="mean" if averaged else "none")

        def training_step(self, batch):
            return self.loss(self(*batch[:-1]), batch[-1])

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), self.lr)

        def clip_gradients(self, grad_clip_val, model):
            params = [p for p in model.parameters() if p.requires_grad]
            norm = torch.sqrt(sum(torch.sum((p.grad ** 2)) for p in params))
            if norm > grad_clip_val:
                for param in params:
                    param.grad[:] *= grad_clip_val / norm

        def predict(self, prefix, num_preds, vocab, device=None):
            state, outputs = None, [vocab[prefix[0]]]
            for i in range(len(prefix) + num_preds - 1):
                X = torch.tensor([[outputs[-1]]], device=device)
                embs = self.one_hot(X)
                rnn_outputs, state = self.rnn(embs, state)
                if i < len(prefix) - 1:  # warm-up period
                    outputs.append(vocab[prefix[i + 1]])
                else:  # predict num_preds steps
                    Y = self.output_layer(rnn_outputs)
                    outputs.append(int(Y.argmax(axis=2).reshape(1)))
            return "".join([vocab.idx_to_token[i] for i in outputs])

    class RNN(nn.Module):
        """d2l.RNN: the library's layer, with d2l's num_hiddens attribute."""

        def __init__(self, rnn_layer):
            super().__init__()
            self.rnn = rnn_layer
            self.num_hiddens = rnn_layer.hidden_size * (2 if rnn_layer.bidirectional else 1)

        def forward(self, inputs, H=None):
            return self.rnn(inputs, H)

    class RNNLM(RNNLMScratch):
        def init_params(self):
            self.linear = nn.LazyLinear(self.vocab_size)

        def output_layer(self, hiddens):
            return self.linear(hiddens).swapaxes(0, 1)

    def time_machine_loader(corpus, num_steps, batch_size):
        array = torch.tensor([corpus[i:i + num_steps + 1] for i in range(len(corpus) - num_steps)])
        X, Y = array[:, :-1], array[:, 1:]
        return L.data.DataLoader(L.data.TensorDataset(X, Y), batch_size, shuffle=False)

    def fit(model, loader, max_epochs, gradient_clip_val, log):
        """d2l.Trainer.fit: the optimizer comes first (before a lazy layer has its shape)."""
        optim = model.configure_optimizers()
        model.train()
        for _ in range(max_epochs):
            for batch in loader:
                loss = model.training_step(batch)
                optim.zero_grad()
                with torch.no_grad():
                    log.append(float(loss))
                loss.backward()
                if gradient_clip_val > 0:
                    model.clip_gradients(gradient_clip_val, model)
                optim.step()

    return SimpleNamespace(**locals())


D2L1_MODELS = {
    "rnn_scratch": lambda P, L, V, H: P.RNNLMScratch(P.RNNScratch(V, H), V, lr=1.0),
    "gru_scratch": lambda P, L, V, H: P.RNNLMScratch(P.GRUScratch(V, H), V, lr=2.0),
    "lstm_scratch": lambda P, L, V, H: P.RNNLMScratch(P.LSTMScratch(V, H), V, lr=2.0),
    "stacked_scratch": lambda P, L, V, H: P.RNNLMScratch(P.StackedRNNScratch(V, H, 2), V, lr=2.0),
    "birnn_scratch": lambda P, L, V, H: P.RNNLMScratch(P.BiRNNScratch(V, H), V, lr=1.0),
    "rnn_concise": lambda P, L, V, H: P.RNNLM(P.RNN(L.nn.RNN(V, H)), V, lr=1.0),
    "lstm_concise": lambda P, L, V, H: P.RNNLM(P.RNN(L.nn.LSTM(V, H)), V, lr=2.0),
    "deep_gru_concise": lambda P, L, V, H: P.RNNLM(P.RNN(L.nn.GRU(V, H, 2, dropout=0)), V, lr=2.0),
    "birnn_concise": lambda P, L, V, H: P.RNNLM(P.RNN(L.nn.RNN(V, H, bidirectional=True)), V, lr=1.0),
}


@pytest.mark.parametrize("kind", list(D2L1_MODELS))
def test_d2l1_language_models_match_torch(kind):
    corpus, vocab = load_corpus(n_words=12)
    torch.manual_seed(0)
    models, logs, preds = {}, {}, {}
    for L in (TH, MG):
        P = make_d2l1(L)
        models[L.name] = (P, D2L1_MODELS[kind](P, L, len(vocab), 6))
    # a lazy layer gets its shape at the first forward; the weights are copied after it
    for L in (TH, MG):
        P, model = models[L.name]
        if kind.endswith("_concise"):
            with L.torch.no_grad():
                model(L.torch.tensor([corpus[:3]]))
    _copy_weights(models["torch"][1], models["minigrad"][1])
    for L in (TH, MG):
        P, model = models[L.name]
        log = []
        P.fit(model, P.time_machine_loader(corpus, 5, 8), 2, 1, log)
        logs[L.name] = log
        preds[L.name] = model.predict("the t", 6, vocab)
    assert len(logs["torch"]) >= 10
    np.testing.assert_allclose(logs["minigrad"], logs["torch"], **TOL)
    _same_params(models["minigrad"][1], models["torch"][1], kind)
    assert preds["minigrad"] == preds["torch"]


def test_d2l1_lazy_linear_optimizer_built_before_first_forward():
    """d2l's Trainer builds the optimizer before the first batch: LazyLinear's parameters must
    be materialised in place, so the optimizer created earlier still updates them."""
    P = make_d2l1(MG)
    model = P.RNNLM(P.RNN(mg.nn.GRU(5, 3)), 5, lr=0.5)
    opt = model.configure_optimizers()
    X = mg.tensor([[0, 1, 2], [3, 4, 0]])
    loss = model.loss(model(X), mg.tensor([[1, 2, 3], [4, 0, 1]]))
    assert model.linear.weight.shape == (5, 3)
    opt.zero_grad()
    loss.backward()
    before = model.linear.weight.numpy().copy()
    opt.step()
    np.testing.assert_allclose(model.linear.weight.numpy(), before - 0.5 * model.linear.weight.grad.numpy(),
                               rtol=1e-12)


def test_reversed_tensor_is_flip_as_in_torch():
    """BiRNNScratch passes reversed(inputs) to a layer that reads inputs.shape: torch's
    Tensor.__reversed__ returns x.flip(0) (a tensor); a plain Python reverse iterator broke it."""
    x_t = torch.arange(12.0).reshape(3, 4).requires_grad_()
    x_m = mg.tensor(x_t.detach().numpy()).requires_grad_()
    r_t, r_m = reversed(x_t), reversed(x_m)
    assert isinstance(r_m, mg.Tensor) and r_m.shape == (3, 4)
    _close("reversed", r_m, r_t)
    w = torch.randn(3, 4)
    (r_t * w).sum().backward()
    (r_m * mg.tensor(w.numpy())).sum().backward()
    _close("reversed grad", x_m.grad, x_t.grad)
    s = mg.tensor(3.0)
    assert reversed(s) is s   # torch: a 0-d tensor is returned as it is
    assert [int(v) for v in reversed(mg.tensor([1, 2, 3]))] == [3, 2, 1]


def make_d2l1_seq2seq(L):
    """d2l 1.0's Seq2Seq: int32/int64 casts before the embeddings, a list state
    [enc_output, hidden_state], nn.LazyLinear, swapaxes, the masked mean loss, predict_step."""
    torch, nn, F = L.torch, L.nn, L.F  # noqa: F811

    def init_seq2seq(module):
        if type(module) == nn.Linear:  # noqa: E721 - the book's test
            nn.init.xavier_uniform_(module.weight)
        if type(module) == nn.GRU:  # noqa: E721
            for param in module._flat_weights_names:
                if "weight" in param:
                    nn.init.xavier_uniform_(module._parameters[param])

    class Seq2SeqEncoder(nn.Module):
        def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, embed_size)
            self.rnn = nn.GRU(embed_size, num_hiddens, num_layers, dropout=dropout)
            self.apply(init_seq2seq)

        def forward(self, X, *args):
            embs = self.embedding(X.t().type(torch.int64))   # (num_steps, batch_size, embed_size)
            outputs, state = self.rnn(embs)
            return outputs, state

    class Seq2SeqDecoder(nn.Module):
        def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, embed_size)
            self.rnn = nn.GRU(embed_size + num_hiddens, num_hiddens, num_layers, dropout=dropout)
            self.dense = nn.LazyLinear(vocab_size)
            self.apply(init_seq2seq)

        def init_state(self, enc_all_outputs, *args):
            return enc_all_outputs

        def forward(self, X, state):
            embs = self.embedding(X.t().type(torch.int32))
            enc_output, hidden_state = state
            context = enc_output[-1]   # (batch_size, num_hiddens)
            context = context.repeat(embs.shape[0], 1, 1)
            embs_and_context = torch.cat((embs, context), -1)
            outputs, hidden_state = self.rnn(embs_and_context, hidden_state)
            outputs = self.dense(outputs).swapaxes(0, 1)
            return outputs, [enc_output, hidden_state]

    class Seq2Seq(nn.Module):
        def __init__(self, encoder, decoder, tgt_pad, lr):
            super().__init__()
            self.encoder, self.decoder, self.tgt_pad, self.lr = encoder, decoder, tgt_pad, lr

        def forward(self, enc_X, dec_X, *args):
            enc_all_outputs = self.encoder(enc_X, *args)
            dec_state = self.decoder.init_state(enc_all_outputs, *args)
            return self.decoder(dec_X, dec_state)[0]

        def loss(self, Y_hat, Y):
            Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
            l = F.cross_entropy(Y_hat, Y.reshape((-1,)), reduction="none")
            mask = (Y.reshape(-1) != self.tgt_pad).type(L.dtype)   # the book: torch.float32
            return (l * mask).sum() / mask.sum()

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=self.lr)

        def clip_gradients(self, grad_clip_val, model):
            params = [p for p in model.parameters() if p.requires_grad]
            norm = torch.sqrt(sum(torch.sum((p.grad ** 2)) for p in params))
            if norm > grad_clip_val:
                for param in params:
                    param.grad[:] *= grad_clip_val / norm

        def predict_step(self, batch, device, num_steps):
            batch = [a.to(device) for a in batch]
            src, tgt, src_valid_len, _ = batch
            enc_all_outputs = self.encoder(src, src_valid_len)
            dec_state = self.decoder.init_state(enc_all_outputs, src_valid_len)
            outputs = [tgt[:, (0)].unsqueeze(1)]
            for _ in range(num_steps):
                Y, dec_state = self.decoder(outputs[-1], dec_state)
                outputs.append(Y.argmax(2))
            return torch.cat(outputs[1:], 1)

    def build_arrays(sentences, vocab, num_steps, is_tgt=False):
        def pad_or_trim(seq, t):
            return seq[:t] if len(seq) > t else seq + ["<pad>"] * (t - len(seq))

        sentences = [pad_or_trim(s + ["<eos>"], num_steps) for s in sentences]
        if is_tgt:
            sentences = [["<bos>"] + s for s in sentences]
        array = torch.tensor([vocab[s] for s in sentences])
        valid_len = (array != vocab["<pad>"]).type(torch.int32).sum(1)
        return array, valid_len

    return SimpleNamespace(**locals())


def _to_tokens_d2l1(vocab, indices):
    """d2l 1.0's Vocab.to_tokens, which is handed a tensor row."""
    if hasattr(indices, "__len__") and len(indices) > 1:
        return [vocab.idx_to_token[int(index)] for index in indices]
    return vocab.idx_to_token[indices]


def test_d2l1_seq2seq_training_prediction_and_bleu_match_torch():
    num_steps = 5
    src, tgt, src_vocab, tgt_vocab = _nmt_data(num_steps, n=24)
    engs = [["go", "."], ["hi", "run", "."], ["stop", "wait", "help", "."], ["help", "."]]
    torch.manual_seed(0)
    models, logs, translations = {}, {}, {}
    for L in (TH, MG):
        P = make_d2l1_seq2seq(L)
        net = P.Seq2Seq(P.Seq2SeqEncoder(len(src_vocab), 8, 16, 2),
                        P.Seq2SeqDecoder(len(tgt_vocab), 8, 16, 2), tgt_vocab["<pad>"], lr=0.05)
        with L.torch.no_grad():   # materialise the LazyLinear before copying weights
            net(L.torch.zeros((1, 2), dtype=L.torch.long), L.torch.zeros((1, 2), dtype=L.torch.long))
        models[L.name] = (P, net)
    _copy_weights(models["torch"][1], models["minigrad"][1])
    for L in (TH, MG):
        P, net = models[L.name]
        s_arr, s_len = P.build_arrays(src, src_vocab, num_steps)
        t_arr, _ = P.build_arrays(tgt, tgt_vocab, num_steps, is_tgt=True)
        loader = L.data.DataLoader(L.data.TensorDataset(s_arr, t_arr[:, :-1], s_len, t_arr[:, 1:]), 8)
        optim, log = net.configure_optimizers(), []
        net.train()
        for _ in range(12):
            for batch in loader:
                l = net.loss(net(*batch[:-1]), batch[-1])
                optim.zero_grad()
                log.append(float(l))
                l.backward()
                net.clip_gradients(1, net)
                optim.step()
        logs[L.name] = log
        net.eval()
        e_arr, e_len = P.build_arrays(engs, src_vocab, num_steps)
        t0, _ = P.build_arrays([[] for _ in engs], tgt_vocab, num_steps, is_tgt=True)
        preds = net.predict_step([e_arr, t0, e_len, t0], "cpu", num_steps)
        assert preds.dtype == L.torch.int64 and tuple(preds.shape) == (len(engs), num_steps)
        out = []
        for p in preds:
            translation = []
            for token in _to_tokens_d2l1(tgt_vocab, p):
                if token == "<eos>":
                    break
                translation.append(token)
            out.append(" ".join(translation))
        translations[L.name] = out
    np.testing.assert_allclose(logs["minigrad"], logs["torch"], **TOL)
    _same_params(models["minigrad"][1], models["torch"][1], "seq2seq d2l1")
    assert translations["minigrad"] == translations["torch"]
    scores = [bleu(p, " ".join(TGT_WORDS[w] for w in e[:-1]) + " !", k=2)
              for e, p in zip(engs, translations["minigrad"]) if p]
    assert scores and max(scores) == 1.0


def test_seq2seq_gru_dropout_eval_matches_torch_and_train_mode_drops():
    """The book trains Seq2Seq with dropout=0.1 between the GRU layers: in eval the two libraries
    agree exactly; in train mode ours drops (its random stream is its own, so no value check)."""
    src, tgt, src_vocab, tgt_vocab = _nmt_data(5)
    torch.manual_seed(2)
    nets = {}
    for L in (TH, MG):
        P = make_nmt(L, class_dim_last=L is MG)
        nets[L.name] = P.EncoderDecoder(P.Seq2SeqEncoder(len(src_vocab), 4, 6, 2, dropout=0.1),
                                        P.Seq2SeqDecoder(len(tgt_vocab), 4, 6, 2, dropout=0.1))
    _copy_weights(nets["torch"], nets["minigrad"])
    X = [[3, 4, 5, 1, 1], [6, 3, 1, 1, 1]]
    outs = {}
    for L in (TH, MG):
        nets[L.name].eval()
        outs[L.name] = nets[L.name](L.torch.tensor(X), L.torch.tensor(X))
    _close("eval Y_hat", outs["minigrad"][0], outs["torch"][0])
    _close("eval state", outs["minigrad"][1], outs["torch"][1])
    net = nets["minigrad"].train()
    mg.manual_seed(0)
    y_train = net(mg.tensor(X), mg.tensor(X))[0]
    assert not np.allclose(y_train.numpy(), outs["minigrad"][0].numpy())
