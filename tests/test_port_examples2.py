"""Porting audit: three more pytorch/examples programs, run on torch and on minigrad, compared step by step.

Each program is written ONCE, as a torch user writes it, inside a factory that takes the library
as an argument (`L.torch`, `L.nn`, `L.F`, `L.optim`, `L.data`): the torch run gets `torch`,
`torch.nn`, ...; the minigrad run gets `minigrad`, `minigrad.nn`, ... (`nn.LSTM` / `nn.LSTMCell`
resolve to `models.LSTM` / `models.LSTMCell`). Both start from the same weights (torch's state dict
loaded into ours), run a few steps in float64 on tiny generated data, and are compared: losses,
outputs, gradients, optimizer / scheduler state and updated parameters, rtol 1e-7.

Programs:
1. time_sequence_prediction: `Sequence` (two LSTMCells + Linear, an empty `dummy_param` that tells
   the device, built in float32 and turned to float64 with `.to(device).double()`), the sine data
   of generate_sine_wave.py saved and loaded with `save`/`load`, the sequence cut with
   `input.chunk(input.size(1), dim=1)` or `input.split(1, dim=1)`, outputs joined with `cat` or
   `stack(...).squeeze(2)`, future prediction, MSELoss, LBFGS(lr=0.8) (default max_iter=20, and with
   the strong-Wolfe line search) whose closure is called many times per step.
2. mnist_rnn: `nn.LSTM(batch_first=True)`, `output[:, -1, :]` -> BatchNorm1d -> Dropout2d -> Linear
   -> relu -> Dropout2d -> Linear -> log_softmax, nll_loss, Adadelta(lr=0.1) + StepLR(1, 0.7), the
   example's train() / test() loops over DataLoaders (argmax(dim=1, keepdim=True), `pred.eq(...)`).
3. siamese_network: a shared CNN backbone (a small resnet-like stack: the example's resnet18 with
   its head removed by `nn.Sequential(*list(children())[:-1])`), the two embeddings concatenated,
   Linear -> ReLU(inplace) -> Linear -> Sigmoid, BCELoss, Adadelta / Adam + StepLR, weights
   initialised with `model.apply(init_weights)` (`nn.init.xavier_uniform`, bias 0.01); the
   APP_MATCHER-style paired Dataset (`__getitem__` -> (img1, img2, target), pairs drawn with Python's
   `random`, fed identically to both runs) through DataLoader(shuffle=False), also with
   num_workers=0, drop_last=True and a custom collate_fn.

Found while porting and fixed (each has a focused test here):
* `nn.Dropout2d` / `nn.Dropout3d` / `F.dropout2d` / `F.dropout3d` did not exist (mnist_rnn uses
  Dropout2d, on a 2-D input, where torch warns and drops single elements);
* torch's deprecated `nn.init.xavier_uniform` (no underscore; siamese_network's init_weights) and
  the other un-suffixed init aliases did not exist (added, with torch's FutureWarning);
* `f"{loss:.4f}"` / `"{:.6f}".format(loss)` on a 0-d tensor raised TypeError (torch formats it as
  its number): `Tensor.__format__`.

Checked and matching torch without changes: LBFGS (fixed step and strong Wolfe, its state under an
empty first parameter whose grad stays None, state_dict resume), LSTMCell/LSTM(batch_first) in
float64 after `.double()`, `chunk`/`split`/`stack`/`cat`, save/load of a NumPy array through a file
object, Adadelta/Adam + StepLR, BatchNorm1d/2d running statistics, BCELoss (and its refusal of a
squeezed batch of one), `where(outputs > 0.5, 1, 0)` (int64) `.eq(targets.view_as(pred))`, a
Dataset subclass using Python's `random`, DataLoader with drop_last / collate_fn / workers, and the
float32 siamese run staying float32.

Porting changes that are documented differences (README), not bugs:
* `m.bias.data.fill_(0.01)`: minigrad's `.data` is the raw array; the port writes
  `with torch.no_grad(): m.bias.fill_(0.01)` (which torch runs too).
* default_collate gives a tuple for tuple samples (torch a list): `for a, b, t in loader` is the same.
"""
import io
import random
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import minigrad.nn.functional as mF
import minigrad.utils.data as mdata
from minigrad.testing import gradcheck
from minigrad.testing import strategies as mst

torch = pytest.importorskip("torch")
import torch.utils.data as tdata  # noqa: E402
from porting import closer, to_numpy

TOL = dict(rtol=1e-7, atol=1e-10)

TH = SimpleNamespace(torch=torch, nn=torch.nn, F=torch.nn.functional, optim=torch.optim, data=tdata, name="torch")
MG = SimpleNamespace(torch=mg, nn=mg.nn, F=mF, optim=mg.optim, data=mdata, name="minigrad")


# ---------------------------------------------------------------- helpers
_np = to_numpy
_close = closer(TOL)


def _copy_weights(theirs, ours):
    """torch's state dict (parameters and buffers) into ours, and check the keys are identical."""
    sd = theirs.state_dict()
    assert list(ours.state_dict().keys()) == list(sd.keys())
    if isinstance(ours, torch.nn.Module):  # the torch run of a program starts from the same weights
        ours.load_state_dict({k: v.detach().clone() for k, v in sd.items()})
    else:
        missing, unexpected = ours.load_state_dict({k: v.detach().numpy().copy() for k, v in sd.items()})
        assert not missing and not unexpected


def _same_state(what, ours, theirs, **tol):
    """Parameters and buffers (BatchNorm's running statistics, num_batches_tracked)."""
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b), what
    for k in b:
        _close(f"{what} {k}", a[k], b[k], **tol)


def _same_grads(what, ours, theirs, **tol):
    named_o, named_t = dict(ours.named_parameters()), dict(theirs.named_parameters())
    assert list(named_o) == list(named_t), what
    for k in named_t:
        go, gt = named_o[k].grad, named_t[k].grad
        assert (go is None) == (gt is None), f"{what} grad of {k}: {go} vs torch {gt}"
        if gt is not None:
            _close(f"{what} grad {k}", go, gt, **tol)


def _same_log(ours, theirs):
    """Two logs of ("tag", values...) entries, compared entry by entry (floats to TOL, arrays too)."""
    assert [e[0] for e in ours] == [e[0] for e in theirs]
    for i, (a, b) in enumerate(zip(ours, theirs)):
        for x, y in zip(a[1:], b[1:]):
            if isinstance(y, (float, np.ndarray)):
                np.testing.assert_allclose(x, y, err_msg=f"log entry {i} {b[0]}", **TOL)
            else:
                assert x == y, f"log entry {i} {b[0]}: {x!r} vs torch {y!r}"


# =====================================================================================
# 1. time_sequence_prediction: two LSTMCells, LBFGS, future prediction
# =====================================================================================
HIDDEN = 5


def make_sequence(L, cut="chunk", join="cat"):
    torch, nn = L.torch, L.nn

    class Sequence(nn.Module):
        def __init__(self):
            super(Sequence, self).__init__()
            self.lstm1 = nn.LSTMCell(1, HIDDEN)
            self.lstm2 = nn.LSTMCell(HIDDEN, HIDDEN)
            self.linear = nn.Linear(HIDDEN, 1)
            self.dummy_param = nn.Parameter(torch.empty(0))  # only tells forward() the device

        def forward(self, input, future=0):  # noqa: A002
            outputs = []
            device = self.dummy_param.device
            h_t = torch.zeros(input.size(0), HIDDEN, dtype=torch.double).to(device)
            c_t = torch.zeros(input.size(0), HIDDEN, dtype=torch.double).to(device)
            h_t2 = torch.zeros(input.size(0), HIDDEN, dtype=torch.double).to(device)
            c_t2 = torch.zeros(input.size(0), HIDDEN, dtype=torch.double).to(device)
            steps = input.chunk(input.size(1), dim=1) if cut == "chunk" else input.split(1, dim=1)
            for input_t in steps:
                h_t, c_t = self.lstm1(input_t, (h_t, c_t))
                h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
                output = self.linear(h_t2)
                outputs += [output]
            for i in range(future):  # if we should predict the future
                h_t, c_t = self.lstm1(output, (h_t, c_t))
                h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
                output = self.linear(h_t2)
                outputs += [output]
            if join == "cat":
                outputs = torch.cat(outputs, dim=1)
            else:  # the older version of the example
                outputs = torch.stack(outputs, 1).squeeze(2)
            return outputs

    return Sequence


def generate_sine_wave(L, f, N=5, length=14, T=4):
    """generate_sine_wave.py at a small size: N shifted sines, saved with L.torch.save to a file object."""
    rng = np.random.RandomState(2)
    x = np.empty((N, length), "int64")
    x[:] = np.array(range(length)) + rng.randint(-4 * T, 4 * T, N).reshape(N, 1)
    data = np.sin(x / 1.0 / T).astype("float64")
    L.torch.save(data, f)


def run_time_sequence(L, init, cut, join, line_search_fn, steps=2, future=4):
    torch, nn, optim = L.torch, L.nn, L.optim
    device = torch.device("cpu")
    f = io.BytesIO()
    generate_sine_wave(L, f)
    f.seek(0)
    data = torch.from_numpy(torch.load(f, weights_only=False)).to(device)
    input = data[2:, :-1]  # noqa: A001
    target = data[2:, 1:]
    test_input = data[:2, :-1]
    test_target = data[:2, 1:]
    seq = make_sequence(L, cut, join)()
    assert seq.linear.weight.dtype == torch.float32  # built in the default dtype ...
    seq = seq.to(device).double()                     # ... and turned to float64 in place, as the example
    assert all(p.dtype == torch.float64 for p in seq.parameters())
    _copy_weights(init, seq)
    criterion = nn.MSELoss().to(device)
    optimizer = optim.LBFGS(seq.parameters(), lr=0.8, line_search_fn=line_search_fn)
    log = []
    for i in range(steps):
        def closure():
            optimizer.zero_grad()
            out = seq(input)
            loss = criterion(out, target)
            log.append(("loss", loss.item()))
            loss.backward()
            return loss
        first = optimizer.step(closure)
        log.append(("step returns", first.item()))
        st = optimizer.state_dict()["state"][0]  # the state lives under the first parameter (dummy_param)
        log.append(("state", st["func_evals"], st["n_iter"], len(st["old_dirs"]), float(st["t"]),
                    float(st["H_diag"]), _np(st["d"]).copy(), _np(st["prev_flat_grad"]).copy()))
        with torch.no_grad():  # begin to predict, no need to track gradient here
            pred = seq(test_input, future=future)
            loss = criterion(pred[:, :-future], test_target)
            log.append(("test loss", loss.item()))
            y = pred.cpu().detach().numpy()
            log.append(("pred", y.copy()))
    return seq, log


@pytest.mark.parametrize("cut,join,line_search_fn", [("chunk", "cat", None), ("split", "stack", None),
                                                     ("chunk", "stack", "strong_wolfe")])
def test_time_sequence_prediction(cut, join, line_search_fn):
    torch.manual_seed(0)
    init = make_sequence(TH)().double()
    t_seq, t_log = run_time_sequence(TH, init, cut, join, line_search_fn)
    m_seq, m_log = run_time_sequence(MG, init, cut, join, line_search_fn)
    n_evals = sum(e[0] == "loss" for e in t_log)
    assert n_evals > 10  # the closure ran many times per step (max_iter=20)
    _same_log(m_log, t_log)
    assert m_log[-1][1].shape == (2, 13 + 4)
    _same_state("Sequence after LBFGS", m_seq, t_seq)
    _same_grads("Sequence after LBFGS", m_seq, t_seq)  # the grads of the last closure call; dummy_param: None
    assert m_seq.dummy_param.grad is None and m_seq.dummy_param.shape == (0,)


def test_time_sequence_lbfgs_state_dict_resume():
    """The LBFGS state (under the empty dummy_param) saved and loaded into a fresh optimizer continues
    exactly as torch's does."""
    torch.manual_seed(1)
    init = make_sequence(TH)().double()
    rng = np.random.RandomState(3)
    x, y = rng.standard_normal((3, 6)), rng.standard_normal((3, 6))
    runs = {}
    for L in (TH, MG):
        seq = make_sequence(L)().double()
        _copy_weights(init, seq)
        inp, tgt = L.torch.tensor(x), L.torch.tensor(y)
        opt = L.optim.LBFGS(seq.parameters(), lr=0.8, max_iter=4)

        def closure():
            opt.zero_grad()
            loss = L.nn.MSELoss()(seq(inp), tgt)
            loss.backward()
            return loss
        opt.step(closure)
        f = io.BytesIO()
        L.torch.save(opt.state_dict(), f)
        f.seek(0)
        opt2 = L.optim.LBFGS(seq.parameters(), lr=0.8, max_iter=4)
        opt2.load_state_dict(L.torch.load(f))
        opt = opt2
        opt2.step(closure)
        runs[L.name] = (seq, opt2.state_dict()["state"][0])
    (m_seq, m_st), (t_seq, t_st) = runs["minigrad"], runs["torch"]
    _same_state("after resumed LBFGS", m_seq, t_seq)
    assert sorted(m_st) == sorted(t_st)
    assert (m_st["n_iter"], m_st["func_evals"]) == (t_st["n_iter"], t_st["func_evals"])
    for k in ("old_dirs", "old_stps", "ro"):
        assert len(m_st[k]) == len(t_st[k]), k
        for a, b in zip(m_st[k], t_st[k]):
            np.testing.assert_allclose(_np(a), _np(b), err_msg=k, **TOL)


# =====================================================================================
# 2. mnist_rnn: LSTM(batch_first=True) over image rows, last output -> BatchNorm1d -> MLP
# =====================================================================================
def make_mnist_rnn(L, side=7, hidden=8, p1=0.25, p2=0.5):
    torch, nn, F = L.torch, L.nn, L.F

    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.rnn = nn.LSTM(input_size=side, hidden_size=hidden, batch_first=True)
            self.batchnorm = nn.BatchNorm1d(hidden)
            self.dropout1 = nn.Dropout2d(p1)
            self.dropout2 = nn.Dropout2d(p2)
            self.fc1 = nn.Linear(hidden, 6)
            self.fc2 = nn.Linear(6, 10)

        def forward(self, input):  # noqa: A002
            # (batch, 1, side, side) -> (batch, side, side): rows are the time steps
            input = input.reshape(-1, side, side)  # noqa: A001
            output, hidden = self.rnn(input)
            output = output[:, -1, :]  # the last time step's output
            output = self.batchnorm(output)
            output = self.dropout1(output)
            output = self.fc1(output)
            output = F.relu(output)
            output = self.dropout2(output)
            output = self.fc2(output)
            output = F.log_softmax(output, dim=1)
            return output

    return Net


def run_mnist_rnn(L, init, X, Y, p, epochs=3):
    torch, F, optim, data = L.torch, L.F, L.optim, L.data
    device = torch.device("cpu")
    model = make_mnist_rnn(L, p1=p, p2=p)().to(device)
    model.double()
    _copy_weights(init, model)
    train_loader = data.DataLoader(data.TensorDataset(torch.tensor(X[:10]), torch.tensor(Y[:10])), batch_size=4,
                                   shuffle=False)
    test_loader = data.DataLoader(data.TensorDataset(torch.tensor(X[10:]), torch.tensor(Y[10:])), batch_size=3,
                                  shuffle=False)
    optimizer = optim.Adadelta(model.parameters(), lr=0.1)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    log, first_grads = [], None
    for epoch in range(1, epochs + 1):
        model.train()  # train(args, model, device, train_loader, optimizer, epoch)
        for batch_idx, (data_, target) in enumerate(train_loader):
            data_, target = data_.to(device), target.to(device)
            optimizer.zero_grad()
            output = model(data_)
            loss = F.nll_loss(output, target)
            loss.backward()
            if first_grads is None:
                first_grads = {k: _np(q.grad).copy() for k, q in model.named_parameters()}
            optimizer.step()
            log.append(("train", epoch, batch_idx * len(data_), len(train_loader.dataset), len(train_loader),
                        loss.item()))
        model.eval()  # test(args, model, device, test_loader)
        test_loss = 0
        correct = 0
        with torch.no_grad():
            for data_, target in test_loader:
                data_, target = data_.to(device), target.to(device)
                output = model(data_)
                test_loss += F.nll_loss(output, target, reduction="sum").item()  # sum up batch loss
                pred = output.argmax(dim=1, keepdim=True)  # the index of the max log-probability
                correct += pred.eq(target.view_as(pred)).sum().item()
                log.append(("pred", _np(pred).copy(), _np(output).copy()))
        test_loss /= len(test_loader.dataset)
        log.append(("test", test_loss, correct, 100.0 * correct / len(test_loader.dataset)))
        scheduler.step()
        log.append(("lr", optimizer.param_groups[0]["lr"], scheduler.get_last_lr()[0]))
    return model, optimizer, log, first_grads


NO_2D_WARNING = pytest.mark.filterwarnings("ignore:dropout2d. Received a 2-D input:UserWarning")


@NO_2D_WARNING
def test_mnist_rnn():
    """Dropout2d with p=0 in training (exact); eval mode in test(), as the example. The example's own
    rates in train mode draw masks that cannot be shared: see test_dropout2d_on_2d_input."""
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((16, 1, 7, 7)), rng.integers(0, 10, 16)
    torch.manual_seed(1)
    init = make_mnist_rnn(TH)().double()
    t_model, t_opt, t_log, t_g = run_mnist_rnn(TH, init, X, Y, p=0.0)
    m_model, m_opt, m_log, m_g = run_mnist_rnn(MG, init, X, Y, p=0.0)
    assert sum(e[0] == "train" for e in t_log) == 9  # 3 epochs x 3 batches (4, 4, 2)
    _same_log(m_log, t_log)
    assert list(m_g) == list(t_g)
    for k in t_g:
        np.testing.assert_allclose(m_g[k], t_g[k], err_msg=f"first grad {k}", **TOL)
    _same_state("mnist_rnn after 3 epochs", m_model, t_model)  # LSTM weights, BatchNorm running stats
    _same_grads("mnist_rnn after 3 epochs", m_model, t_model)
    t_st, m_st = t_opt.state_dict(), m_opt.state_dict()
    for i, st in t_st["state"].items():
        for k in ("square_avg", "acc_delta"):
            _close(f"Adadelta state {i} {k}", m_st["state"][i][k], st[k])
    # the model saved as the example does (torch.save(model.state_dict(), ...)) loads into a fresh one
    f = io.BytesIO()
    mg.save(m_model.state_dict(), f)
    f.seek(0)
    fresh = make_mnist_rnn(MG)()
    fresh.double()
    fresh.load_state_dict(mg.load(f))
    _same_state("reloaded", fresh, t_model)


@NO_2D_WARNING
def test_mnist_rnn_eval_with_the_examples_dropout_rates():
    """With p=(0.25, 0.5) in eval mode both dropouts are the identity: outputs match torch exactly."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((5, 1, 7, 7))
    torch.manual_seed(2)
    theirs = make_mnist_rnn(TH)().double()
    ours = make_mnist_rnn(MG)().double()
    _copy_weights(theirs, ours)
    theirs.eval()
    ours.eval()
    _close("eval output", ours(mg.tensor(X)), theirs(torch.tensor(X)))


@pytest.mark.parametrize("fn", ["dropout2d", "dropout3d"])
def test_dropout_nd_2d_input_warns_as_torch(fn):
    """mnist_rnn applies Dropout2d to a (batch, features) input: torch warns and drops single elements
    (the features are its 'channels'); dropout3d reads a 2-D input as unbatched and drops whole rows.
    Same warnings, same masks' structure here."""
    x = mg.ones(400, 50, dtype=mg.float64, requires_grad=True)
    layer = getattr(mg.nn, fn.capitalize())(0.5)
    mg.manual_seed(0)
    with pytest.warns(UserWarning, match=f"{fn}: Received a 2-D input to {fn}, which is deprecated"):
        y = layer(x)
    with pytest.warns(UserWarning, match=f"{fn}: Received a 2-D input to {fn}, which is deprecated"):
        ref = torch.nn.functional.__dict__[fn](torch.ones(400, 50), 0.5)
    v, r = y.numpy(), ref.numpy()
    assert set(np.unique(v)) == {0.0, 2.0}
    assert abs((v == 0).mean() - 0.5) < 0.1  # >= 400 Bernoulli(0.5) draws: 4 sd = 0.1
    rows_constant = lambda a: ((a == 0).all(1) | (a == 2).all(1)).mean()  # noqa: E731
    if fn == "dropout2d":
        assert rows_constant(v) == rows_constant(r) == 0.0  # elements, not rows, are dropped
    else:
        assert rows_constant(v) == rows_constant(r) == 1.0  # whole rows
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), v)  # d/dx = the mask / (1 - p)


@pytest.mark.parametrize("fn,shape,mask_shape", [
    ("dropout2d", (30, 40, 3, 2), (30, 40, 1, 1)),
    ("dropout2d", (30, 40, 3), (30, 40, 1)),   # torch: a 3-D input is (N, C, L) (with a warning)
    ("dropout3d", (20, 30, 2, 2, 2), (20, 30, 1, 1, 1)),
    ("dropout3d", (300, 2, 2, 2), (300, 1, 1, 1)),  # unbatched (C, D, H, W)
])
def test_dropout_nd_drops_whole_channels(fn, shape, mask_shape):
    x = mg.ones(*shape, dtype=mg.float64, requires_grad=True)
    mg.manual_seed(1)
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        y = getattr(mF, fn)(x, p=0.25)
    with warnings.catch_warnings(record=True) as want:
        warnings.simplefilter("always")
        getattr(torch.nn.functional, fn)(torch.ones(*shape), p=0.25)
    assert [str(w.message) for w in got] == [str(w.message) for w in want]
    v = y.numpy()
    assert set(np.unique(v)) == {0.0, 1.0 / 0.75}
    axes = tuple(i for i, s in enumerate(mask_shape) if s == 1)
    assert (v.min(axis=axes) == v.max(axis=axes)).all()  # one draw per channel
    assert abs((v == 0).mean() - 0.25) < 0.05  # >= 1200 channels: 4 sd <= 0.05
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), v)


def test_dropout_nd_modes_and_errors():
    x = mg.randn(2, 3, 4, 4, dtype=mg.float64)
    for name in ("Dropout2d", "Dropout3d"):
        layer = getattr(mg.nn, name)(0.3)
        assert repr(layer) == repr(getattr(torch.nn, name)(0.3))
        layer.eval()
        assert layer(x) is x  # eval: the identity, the same tensor (as torch)
        layer.train()
        assert getattr(mg.nn, name)(0.0)(x) is x
        with pytest.raises(ValueError, match="between 0 and 1"):
            getattr(mg.nn, name)(1.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert (mF.dropout2d(x, 1.0).numpy() == 0).all()
        with pytest.raises(RuntimeError, match="dropout2d"):
            mF.dropout2d(mg.ones(5), 0.5)  # torch: feature dropout needs at least 2 dimensions
    y = x.clone()
    z = mF.dropout2d(y, 0.5, inplace=True)
    assert z is y


@pytest.mark.parametrize("fn", ["dropout2d", "dropout3d"])
@given(data=st.data())
def test_dropout_nd_gradient(device, fn, data):
    """The gradient through a fixed mask (the generator re-seeded at each call) against finite differences."""
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=2, max_size=5)))
    x = mg.tensor(data.draw(mst.arrays(shape)), dtype=mg.float64, device=device, requires_grad=True)

    def f(x):
        mg.manual_seed(7)
        return getattr(mF, fn)(x, p=0.4)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # ranks torch warns about are drawn too
        assert gradcheck(f, x)


# =====================================================================================
# 3. siamese_network: a shared CNN on two images, concatenated embeddings, BCELoss
# =====================================================================================
def make_siamese(L):
    torch, nn = L.torch, L.nn

    class TinyResNet(nn.Module):
        """resnet18's layout at toy size (stem, one residual stage, global pooling, fc head)."""

        def __init__(self, width=4):
            super().__init__()
            self.conv1 = nn.Conv2d(3, width, kernel_size=3, stride=1, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            self.layer1 = nn.Sequential(nn.Conv2d(width, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6),
                                        nn.ReLU(inplace=True))
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(6, 1000)

    class SiameseNetwork(nn.Module):
        def __init__(self):
            super(SiameseNetwork, self).__init__()
            self.resnet = TinyResNet()
            # over-write the first conv layer to read 1-channel images
            self.resnet.conv1 = nn.Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
            self.fc_in_features = self.resnet.fc.in_features
            # remove the last layer (the linear head after avgpool)
            self.resnet = torch.nn.Sequential(*(list(self.resnet.children())[:-1]))
            # linear layers to compare the features of the two images
            self.fc = nn.Sequential(
                nn.Linear(self.fc_in_features * 2, 8),
                nn.ReLU(inplace=True),
                nn.Linear(8, 1),
            )
            self.sigmoid = nn.Sigmoid()
            self.resnet.apply(self.init_weights)
            self.fc.apply(self.init_weights)

        def init_weights(self, m):
            if isinstance(m, nn.Linear):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FutureWarning)  # the example's deprecated alias
                    torch.nn.init.xavier_uniform(m.weight)
                with torch.no_grad():  # the example: m.bias.data.fill_(0.01) (README: .data is the raw array)
                    m.bias.fill_(0.01)

        def forward_once(self, x):
            output = self.resnet(x)
            output = output.view(output.size()[0], -1)
            return output

        def forward(self, input1, input2):
            output1 = self.forward_once(input1)  # the two images' features, same weights
            output2 = self.forward_once(input2)
            output = torch.cat((output1, output2), 1)
            output = self.fc(output)
            output = self.sigmoid(output)
            return output

    return SiameseNetwork


def make_app_matcher(L):
    torch, data = L.torch, L.data

    class APP_MATCHER(data.Dataset):  # noqa: N801
        """Pairs of images: same class for even indices (target 1), different classes for odd ones (0)."""

        def __init__(self, images, targets, dtype):
            super(APP_MATCHER, self).__init__()
            self.images, self.targets, self.dtype = images, targets, dtype  # uint8 (N, H, W), int64 (N,)
            self.data = self.images.unsqueeze(1).clone()  # (N, 1, H, W)
            self.group_examples()

        def group_examples(self):
            np_arr = np.array(self.targets.clone())
            self.grouped_examples = {}
            for i in range(0, 3):
                self.grouped_examples[i] = np.where((np_arr == i))[0]

        def __len__(self):
            return self.data.shape[0]

        def __getitem__(self, index):
            selected_class = random.randint(0, 2)
            random_index_1 = random.randint(0, self.grouped_examples[selected_class].shape[0] - 1)
            index_1 = self.grouped_examples[selected_class][random_index_1]
            image_1 = self.data[index_1].clone().to(self.dtype) / 255.0
            if index % 2 == 0:  # same class, another image
                random_index_2 = random.randint(0, self.grouped_examples[selected_class].shape[0] - 1)
                while random_index_2 == random_index_1:
                    random_index_2 = random.randint(0, self.grouped_examples[selected_class].shape[0] - 1)
                index_2 = self.grouped_examples[selected_class][random_index_2]
                image_2 = self.data[index_2].clone().to(self.dtype) / 255.0
                target = torch.tensor(1, dtype=self.dtype)
            else:  # different class
                other_selected_class = random.randint(0, 2)
                while other_selected_class == selected_class:
                    other_selected_class = random.randint(0, 2)
                random_index_2 = random.randint(0, self.grouped_examples[other_selected_class].shape[0] - 1)
                index_2 = self.grouped_examples[other_selected_class][random_index_2]
                image_2 = self.data[index_2].clone().to(self.dtype) / 255.0
                target = torch.tensor(0, dtype=self.dtype)
            return image_1, image_2, target

    return APP_MATCHER


def _images(n=12, side=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, side, side)).astype(np.uint8), np.arange(n) % 3


def run_siamese(L, init, opt_name, epochs=2, double=True):
    torch, nn, optim, data = L.torch, L.nn, L.optim, L.data
    imgs, labels = _images()
    test_imgs, test_labels = _images(7, seed=1)
    Dataset = make_app_matcher(L)
    dtype = torch.float64 if double else torch.float  # the example: float32 images, targets and model
    train_dataset = Dataset(torch.tensor(imgs), torch.tensor(labels), dtype)
    test_dataset = Dataset(torch.tensor(test_imgs), torch.tensor(test_labels), dtype)
    train_loader = data.DataLoader(train_dataset, batch_size=5, shuffle=False)
    test_loader = data.DataLoader(test_dataset, batch_size=4, shuffle=False)
    device = torch.device("cpu")
    model = make_siamese(L)().to(device)
    model.double() if double else model.float()
    _copy_weights(init, model)
    if opt_name == "adadelta":  # the example's
        optimizer = optim.Adadelta(model.parameters(), lr=1.0)
    else:
        optimizer = optim.Adam(model.parameters(), lr=1e-2)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    log, first_grads = [], None
    for epoch in range(1, epochs + 1):
        random.seed(100 + epoch)  # the pairs: the same draws in both runs (the loader reads indices in order)
        model.train()
        criterion = nn.BCELoss()
        for batch_idx, (images_1, images_2, targets) in enumerate(train_loader):
            images_1, images_2, targets = images_1.to(device), images_2.to(device), targets.to(device)
            optimizer.zero_grad()
            outputs = model(images_1, images_2).squeeze()
            loss = criterion(outputs, targets)
            loss.backward()
            if first_grads is None:
                first_grads = {k: _np(q.grad).copy() for k, q in model.named_parameters()}
            optimizer.step()
            log.append(("batch", _np(targets).copy(), _np(images_1).copy(), _np(outputs).copy(), loss.item(),
                        "Loss: {:.6f}".format(loss)))  # a 0-d tensor formatted directly
        model.eval()
        test_loss = 0
        correct = 0
        criterion = nn.BCELoss()
        random.seed(200 + epoch)
        with torch.no_grad():
            for (images_1, images_2, targets) in test_loader:
                outputs = model(images_1, images_2).squeeze()
                test_loss += criterion(outputs, targets).sum().item()  # sum up batch loss
                pred = torch.where(outputs > 0.5, 1, 0)
                correct += pred.eq(targets.view_as(pred)).sum().item()
                log.append(("test batch", _np(pred).copy(), str(pred.dtype).replace("torch.", "")))
        test_loss /= len(test_loader.dataset)
        log.append(("test", test_loss, correct))
        scheduler.step()
        log.append(("lr", scheduler.get_last_lr()[0]))
    return model, log, first_grads


# torch's Tensor.__array__ warns under NumPy 2 in `np.array(self.targets.clone())` (ours does not:
# test_np_array_of_a_tensor_does_not_warn)
TORCH_ARRAY_WARNING = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


@TORCH_ARRAY_WARNING
@pytest.mark.parametrize("opt_name", ["adadelta", "adam"])
def test_siamese_network(opt_name):
    torch.manual_seed(3)
    init = make_siamese(TH)().double()
    t_model, t_log, t_g = run_siamese(TH, init, opt_name)
    m_model, m_log, m_g = run_siamese(MG, init, opt_name)
    assert sum(e[0] == "batch" for e in t_log) == 6  # 2 epochs x 3 batches (5, 5, 2)
    _same_log(m_log, t_log)
    for k in t_g:
        np.testing.assert_allclose(m_g[k], t_g[k], err_msg=f"first grad {k}", **TOL)
    _same_state("siamese after 2 epochs", m_model, t_model)  # conv/linear weights, BatchNorm2d statistics
    _same_grads("siamese after 2 epochs", m_model, t_model)


@TORCH_ARRAY_WARNING
def test_siamese_network_float32():
    """The example as it is, in float32 (`.float()` images and targets, float32 model): everything stays
    float32, and values agree with torch's to float32 rounding (different summation orders in the
    convolutions; observed differences ~3e-7 relative, so rtol 1e-5 / atol 1e-6)."""
    torch.manual_seed(4)
    init = make_siamese(TH)()
    t_model, t_log, t_g = run_siamese(TH, init, "adadelta", double=False)
    m_model, m_log, m_g = run_siamese(MG, init, "adadelta", double=False)
    tol = dict(rtol=1e-5, atol=1e-6)
    for a, b in zip(m_log, t_log):
        assert a[0] == b[0]
        if a[0] == "batch":
            assert a[2].dtype == a[3].dtype == np.float32 and a[1].dtype == np.float32
            np.testing.assert_allclose(a[3], b[3], **tol)
            np.testing.assert_allclose(a[4], b[4], **tol)
        elif a[0] == "test":
            np.testing.assert_allclose(a[1], b[1], **tol)
            assert a[2] == b[2]
    for k in t_g:
        assert m_g[k].dtype == np.float32
        np.testing.assert_allclose(m_g[k], t_g[k], err_msg=k, **tol)
    _same_state("float32 siamese", m_model, t_model, **tol)


def test_siamese_last_batch_of_one_is_refused_as_in_torch():
    """`model(...).squeeze()` on a batch of one gives a 0-d output against a (1,) target: torch's BCELoss
    raises ValueError (a known trap of the example); ours too, naming the shapes."""
    with pytest.raises(ValueError, match="different to the input size"):
        torch.nn.BCELoss()(torch.tensor([0.3]).squeeze(), torch.tensor([1.0]))
    with pytest.raises(ValueError, match=r"binary_cross_entropy.*float32\[\].*float32\[1\]"):
        mg.nn.BCELoss()(mg.tensor([0.3]).squeeze(), mg.tensor([1.0]))


def test_format_a_0d_tensor():
    """The examples print `'Loss: {:.6f}'.format(loss.item())`; torch also formats a 0-d tensor itself."""
    for lib in (torch, mg):
        t = lib.tensor(0.123456789, dtype=lib.float64)
        assert "{:.4f}".format(t) == "0.1235" and f"{t:.2e}" == "1.23e-01", lib.__name__
        assert format(lib.tensor(3), "d") == "3" and format(lib.tensor(True), "") == "True"
        assert format(lib.ones(2), "") == str(lib.ones(2))
        with pytest.raises(TypeError, match="unsupported format string passed to Tensor.__format__"):
            format(lib.ones(2), ".2f")


def test_siamese_structure_and_init():
    """The head removed with Sequential(*list(children())[:-1]) keeps torch's parameter names; the
    example's init (xavier_uniform through the deprecated alias, bias 0.01) fills the Linear layers."""
    t_model, m_model = make_siamese(TH)(), make_siamese(MG)()
    assert list(m_model.state_dict()) == list(t_model.state_dict())
    assert [type(m).__name__ for m in m_model.resnet] == [type(m).__name__ for m in t_model.resnet]
    assert m_model.fc_in_features == 6
    for lin in (m_model.fc[0], m_model.fc[2]):
        np.testing.assert_array_equal(lin.bias.numpy(), np.float32(0.01))
        fan_in, fan_out = lin.weight.shape[1], lin.weight.shape[0]
        bound = (6.0 / (fan_in + fan_out)) ** 0.5
        assert np.abs(lin.weight.numpy()).max() <= bound


@pytest.mark.parametrize("name", ["uniform", "normal", "constant", "xavier_uniform", "xavier_normal",
                                  "kaiming_uniform", "kaiming_normal", "orthogonal", "sparse"])
def test_deprecated_init_aliases(name):
    """torch keeps nn.init.<name> (no underscore) as a deprecated alias of <name>_, with a FutureWarning."""
    args = {"constant": (0.3,), "sparse": (0.5,)}.get(name, ())
    with pytest.warns(FutureWarning, match=f"nn.init.{name}` is now deprecated in favor of `nn.init.{name}_"):
        getattr(torch.nn.init, name)(torch.empty(4, 3), *args)
    a, b = mg.empty(4, 3), mg.empty(4, 3)
    mg.manual_seed(5)
    with pytest.warns(FutureWarning, match=f"nn.init.{name}` is now deprecated in favor of `nn.init.{name}_"):
        out = getattr(mg.nn.init, name)(a, *args)
    mg.manual_seed(5)
    getattr(mg.nn.init, name + "_")(b, *args)
    assert out is a
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_np_array_of_a_tensor_does_not_warn():
    """APP_MATCHER.group_examples: np.array(targets.clone()), np.where on it, indexing with NumPy ints."""
    t = mg.tensor([0, 1, 2, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        arr = np.array(t.clone())
        idx = np.where(arr == 1)[0]
        row = mg.arange(8).reshape(4, 2)[idx[1]]
    assert arr.dtype == np.int64 and idx.tolist() == [1, 3] and row.tolist() == [6, 7]


@TORCH_ARRAY_WARNING
def test_paired_dataset_loader_options():
    """The paired dataset through DataLoader with num_workers=0, drop_last=True and a custom collate_fn:
    the same batches as torch's (the pairs drawn with Python's random from the same seed)."""
    imgs, labels = _images(11)

    def collate_pairs(batch):  # a custom collate_fn: one (B, 2, H, W) tensor of pairs and the targets
        return (torch_lib.stack([torch_lib.cat([a, b], 0) for a, b, _ in batch]),
                torch_lib.stack([t for _, _, t in batch]))

    got = {}
    for L in (TH, MG):
        torch_lib = L.torch
        ds = make_app_matcher(L)(L.torch.tensor(imgs), L.torch.tensor(labels), L.torch.float64)
        plain = L.data.DataLoader(ds, batch_size=4, shuffle=False, num_workers=0, drop_last=True)
        custom = L.data.DataLoader(ds, batch_size=3, shuffle=False, num_workers=0, drop_last=True,
                                   collate_fn=collate_pairs)
        assert (len(plain), len(custom)) == (2, 3)
        random.seed(0)
        batches = [tuple(_np(t).copy() for t in b) for b in plain]
        random.seed(1)
        batches += [tuple(_np(t).copy() for t in b) for b in custom]
        random.seed(2)
        one = ds[3]  # indexing the dataset directly
        batches.append(tuple(_np(t).copy() for t in one))
        got[L.name] = batches
    assert [[a.shape for a in b] for b in got["minigrad"]] == [[a.shape for a in b] for b in got["torch"]]
    assert [a.shape for a in got["torch"][0]] == [(4, 1, 6, 6), (4, 1, 6, 6), (4,)]
    assert [a.shape for a in got["torch"][2]] == [(3, 2, 6, 6), (3,)]
    for i, (bm, bt) in enumerate(zip(got["minigrad"], got["torch"])):
        for a, b in zip(bm, bt):
            assert a.dtype == b.dtype, i
            np.testing.assert_array_equal(a, b, err_msg=f"batch {i}")


def test_paired_dataset_with_the_examples_cuda_loader_options():
    """The example's CUDA kwargs (num_workers=1, pin_memory=True, shuffle=True): the pairs are drawn in
    the worker (its own seeded `random`), so they cannot match torch's; check each batch instead: every
    target says whether the two images are of the same class, and shuffling covers every index once."""
    imgs, labels = _images(9)
    ds = make_app_matcher(MG)(mg.tensor(imgs), mg.tensor(labels), mg.float64)
    lookup = {imgs[i].tobytes(): labels[i] for i in range(len(imgs))}
    loader = mdata.DataLoader(ds, batch_size=4, num_workers=1, pin_memory=True, shuffle=True)
    seen, positives = 0, 0
    for images_1, images_2, targets in loader:
        assert images_1.shape[1:] == (1, 6, 6) and images_1.dtype == mg.float64 and targets.dtype == mg.float64
        for a, b, t in zip(images_1.numpy(), images_2.numpy(), targets.numpy()):
            ca = lookup[np.rint(a[0] * 255.0).astype(np.uint8).tobytes()]
            cb = lookup[np.rint(b[0] * 255.0).astype(np.uint8).tobytes()]
            assert (ca == cb) == (t == 1.0)
        seen += len(targets)
        positives += int(targets.sum().item())
    assert seen == len(ds) == 9 and positives == 5  # the even indices 0, 2, 4, 6, 8 give same-class pairs
