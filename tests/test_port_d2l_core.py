"""Porting audit: the non-recurrent, non-attention chapters of "Dive into Deep Learning" (d2l.ai, PyTorch).

The book's code is written ONCE (from memory of the book, our own code; `d2l` is not imported: its small
helpers -- synthetic_data, data_iter, linreg, squared_loss, sgd, Accumulator, accuracy, load_array,
evaluate_accuracy, train_epoch_ch3 -- are re-implemented) in `_book(torch, nn)`, against the names
`torch`, `nn`, `F`; the same source runs with `torch` -> torch and with `torch` -> minigrad. Both start
from the same values (torch's parameters / random draws copied into ours), train a few steps on tiny
generated data in float64 and are compared: losses, outputs, gradients, updated parameters (rtol 1e-7);
a few programs also run as the book does, in float32 (rtol 1e-5, float32 rounding in another order).

Programs (chapters):
* 3 linear regression from scratch (synthetic_data with torch.normal, data_iter with shuffled indices,
  linreg, squared_loss, sgd with `param -= lr * param.grad / batch_size; param.grad.zero_()` under
  no_grad) and concise (TensorDataset/DataLoader, nn.Sequential(nn.Linear), the weight initialised
  in place, nn.MSELoss, optim.SGD); softmax regression from scratch (softmax by exp/sum keepdim,
  cross_entropy by `y_hat[range(len(y_hat)), y]`, accuracy with argmax and `y_hat.type(y.dtype) == y`,
  Accumulator, evaluate_accuracy, train_epoch_ch3 with either updater) and concise (Flatten + Linear,
  CrossEntropyLoss(reduction='none')).
* 5 MLP from scratch (relu as torch.max(X, zeros_like(X)), nn.Parameter(torch.randn(...) * 0.01));
  the activation plots' gradients (arange with requires_grad, y.backward(ones_like(x), retain_graph));
  polynomial fitting (load_array, evaluate_loss); weight decay (l2_penalty, param groups with
  weight_decay on the weight only); dropout from scratch (dropout_layer's mask compared on one
  shared uniform draw) and concise (nn.Dropout in eval); numerical stability (sigmoid gradient).
* 6 builders' guide: MLP, MySequential (self._modules and add_module / children()), FixedHiddenMLP
  (constant rand_weight, `while X.abs().sum() > 1: X /= 2`), NestMLP/chimera, parameter access
  (state_dict, .bias.data, named_parameters, nested blocks, module repr), net.apply with nn.init
  normal_/zeros_/constant_/xavier_uniform_/uniform_ and the `m.weight.data *= m.weight.data.abs() >= 5`
  custom init, tied layers, CenteredLayer / MyLinear, lazy layers, save/load of tensors, lists, dicts
  and a state_dict, devices (try_gpu).
* 7-8 CNNs: corr2d with explicit loops, Conv2D learned from the edge-detection X/Y, nn.Conv2d learned
  with `conv2d.weight.data[:] -= lr * conv2d.weight.grad`, padding/stride shapes, corr2d_multi_in(_out),
  1x1 convolution by matmul, pool2d from scratch vs nn.MaxPool2d/AvgPool2d, LeNet (Sigmoid,
  AvgPool2d) with train_ch6, AlexNet/VGG/NiN blocks at tiny sizes, GoogLeNet Inception, batch_norm
  from scratch (is_grad_enabled, moving statistics) vs nn.BatchNorm2d, ResNet Residual, DenseNet.
* 12 optimisation: gradient descent with Newton's method, sgd / momentum / adagrad / rmsprop /
  adadelta / adam from scratch with `states` tuples and `hyperparams` dicts (train_ch11), compared
  with torch.optim (train_concise_ch11) where the update rules coincide.

Found and fixed: float `mg.arange` used NumPy's arange, which steps in float32 for float32 (the book's
`torch.arange(-8.0, 8.0, 0.1)` was up to 1.5e-5 off, i.e. 16 float32 steps) and by (start + step) - start
in float64; it now computes start + i*step in float64 and rounds once, as torch (minigrad/factory.py;
test_arange_float32_is_rounded_once_as_torch).

Porting notes (what a user must change; all documented in README.md, each tested below):
* `Tensor.data` is the raw NumPy array (README, Autograd): `net[0].weight.data.normal_(0, 0.01)`,
  `.fill_(0)`, `p.grad.data.zero_()` and `net[0].weight.data.numpy()` are NumPy AttributeErrors; the
  ports are `nn.init.normal_(net[0].weight, 0, 0.01)` (nn.init also accepts `.data`), `p.grad.zero_()`
  and `.detach().numpy()`. `conv2d.weight.data[:] -= lr * conv2d.weight.grad` is NumPy's TypeError
  ("operand 'Tensor' does not support ufuncs"): port `... -= lr * conv2d.weight.grad.data` (or
  `with torch.no_grad(): conv2d.weight -= lr * conv2d.weight.grad`). What works as written: reading
  `.data` (`net[2].bias.data`, `net[0].weight.data[0]`), `m.weight.data *= m.weight.data.abs() >= 5`,
  `net[0].weight.data[:] += 1`, `net[0].weight.data[0, 0] = 42`, and MyLinear's
  `torch.matmul(X, self.weight.data) + self.bias.data` (a constant, as in torch).
* batch_norm from scratch returns `moving_mean.data, moving_var.data`: in minigrad those are arrays;
  training still matches torch, prediction is a TypeError naming the port `.detach()`
  (test_batch_norm_from_scratch_book_spelling). `m.weight.data *= m.weight.data.abs() >= 5` is an
  AttributeError (arrays have no .abs()); port `with torch.no_grad(): m.weight *= m.weight.abs() >= 5`.
* No silent float32 -> float64 promotion (README): dropout_layer's `.float()` mask times a float64 X is a
  TypeError naming both dtypes; the book runs in float32, where it ports unchanged.
* torch's own float arange differs from the exactly rounded values in the last bit (its vectorised
  loop): `arange(-8, 8, 0.1)[80]` is 4.4e-16 in torch, 0.0 here, so relu'(x[80]) is 1 there, 0 here.
"""
import math
import random
from types import SimpleNamespace

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as mnn
from porting import closer, to_numpy

torch = pytest.importorskip("torch")
tnn = torch.nn

TOL = dict(rtol=1e-7, atol=1e-10)
TOL32 = dict(rtol=1e-5, atol=1e-6)  # float32 runs: the same float32 values, rounded in another order
pytestmark = pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True:UserWarning")

_np = to_numpy
_close = closer(TOL)


@pytest.fixture(autouse=True)
def _float64_defaults():
    """The book's code calls zeros/normal/rand/Linear plainly: both libraries default to float64."""
    old_t, old_m = torch.get_default_dtype(), mg.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    mg.set_default_dtype(mg.float64)
    yield
    torch.set_default_dtype(old_t)
    mg.set_default_dtype(old_m)


@pytest.fixture
def float32_defaults(_float64_defaults):
    """The book's own default dtype, float32, in both libraries."""
    torch.set_default_dtype(torch.float32)
    mg.set_default_dtype(mg.float32)


def _programs():
    return _book(torch, tnn), _book(mg, mnn)


def _copy_weights(theirs, ours):
    missing, unexpected = ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    assert not missing and not unexpected


def _snapshot(net):
    """A torch module's state as NumPy arrays, taken before training (loaded into ours with load_state_dict)."""
    return {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}


def _same_params(ours, theirs, what, **tol):
    a, b = dict(ours.named_parameters()), dict(theirs.named_parameters())
    assert list(a) == list(b), what
    for k in b:
        _close(f"{what} {k}", a[k], b[k], **tol)


def _same_grads(ours, theirs, what, **tol):
    a, b = dict(ours.named_parameters()), dict(theirs.named_parameters())
    for k in b:
        assert (a[k].grad is None) == (b[k].grad is None), f"{what} {k}.grad"
        if b[k].grad is not None:
            _close(f"{what} {k}.grad", a[k].grad, b[k].grad, **tol)


def _set(lib, p, value):
    """Overwrite a tensor's values in place (the shared starting point of both runs)."""
    with lib.no_grad():
        p.copy_(lib.tensor(np.asarray(value)).to(p.dtype))
    return p


# ================================================================ the book's code, written once
def _book(torch, nn):  # noqa: C901 - the chapters, in one place
    """d2l's chapters 3-8 and 12 for either library (`torch` is torch or minigrad)."""
    F = nn.functional
    data = torch.utils.data
    optim = torch.optim

    # ------------------------------------------------ 3.2 linear regression from scratch
    def synthetic_data(w, b, num_examples):
        """Generate y = Xw + b + noise."""
        X = torch.normal(0, 1, (num_examples, len(w)))
        y = torch.matmul(X, w) + b
        y += torch.normal(0, 0.01, y.shape)
        return X, y.reshape((-1, 1))

    def data_iter(batch_size, features, labels, rng=random):
        num_examples = len(features)
        indices = list(range(num_examples))
        rng.shuffle(indices)  # the examples are read at random, in no particular order
        for i in range(0, num_examples, batch_size):
            batch_indices = torch.tensor(indices[i: min(i + batch_size, num_examples)])
            yield features[batch_indices], labels[batch_indices]

    def linreg(X, w, b):
        return torch.matmul(X, w) + b

    def squared_loss(y_hat, y):
        return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2

    def sgd(params, lr, batch_size):
        with torch.no_grad():
            for param in params:
                param -= lr * param.grad / batch_size
                param.grad.zero_()

    def train_linreg_scratch(features, labels, true_w, true_b, w0, lr=0.03, num_epochs=3, batch_size=10, seed=0):
        w = torch.normal(0, 0.01, size=(2, 1), requires_grad=True)
        b = torch.zeros(1, requires_grad=True)
        _set(torch, w, w0)  # the test's shared draw
        net, loss = linreg, squared_loss
        rng = random.Random(seed)
        epoch_losses, grads = [], []
        for epoch in range(num_epochs):
            for X, y in data_iter(batch_size, features, labels, rng):
                l = loss(net(X, w, b), y)
                l.sum().backward()
                grads.append((w.grad.clone(), b.grad.clone()))
                sgd([w, b], lr, batch_size)
            with torch.no_grad():
                train_l = loss(net(features, w, b), labels)
                epoch_losses.append(float(train_l.mean()))
        return SimpleNamespace(losses=epoch_losses, grads=grads, w=w, b=b,
                               err_w=true_w - w.reshape(true_w.shape), err_b=true_b - b)

    # ------------------------------------------------ 3.3 concise linear regression
    def load_array(data_arrays, batch_size, is_train=True):
        dataset = data.TensorDataset(*data_arrays)
        return data.DataLoader(dataset, batch_size, shuffle=is_train)

    def train_linreg_concise(features, labels, w0, num_epochs=3, batch_size=10):
        data_iter = load_array((features, labels), batch_size, is_train=False)
        net = nn.Sequential(nn.Linear(2, 1))
        nn.init.normal_(net[0].weight, 0, 0.01)   # book: net[0].weight.data.normal_(0, 0.01)
        nn.init.zeros_(net[0].bias)               # book: net[0].bias.data.fill_(0)
        _set(torch, net[0].weight, w0.T)
        loss = nn.MSELoss()
        trainer = torch.optim.SGD(net.parameters(), lr=0.03)
        losses = []
        for epoch in range(num_epochs):
            for X, y in data_iter:
                l = loss(net(X), y)
                trainer.zero_grad()
                l.backward()
                trainer.step()
            l = loss(net(features), labels)
            losses.append(l.item())
        w = net[0].weight.data
        b = net[0].bias.data
        return SimpleNamespace(losses=losses, net=net, w=w, b=b)

    # ------------------------------------------------ 3.6 softmax regression from scratch
    class Accumulator:
        """For accumulating sums over n variables."""

        def __init__(self, n):
            self.data = [0.0] * n

        def add(self, *args):
            self.data = [a + float(b) for a, b in zip(self.data, args)]

        def reset(self):
            self.data = [0.0] * len(self.data)

        def __getitem__(self, idx):
            return self.data[idx]

    def softmax(X):
        X_exp = torch.exp(X)
        partition = X_exp.sum(1, keepdim=True)
        return X_exp / partition  # the broadcasting mechanism is applied here

    def cross_entropy(y_hat, y):
        return - torch.log(y_hat[range(len(y_hat)), y])

    def accuracy(y_hat, y):
        """Compute the number of correct predictions."""
        if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
            y_hat = y_hat.argmax(axis=1)
        cmp = y_hat.type(y.dtype) == y
        return float(cmp.type(y.dtype).sum())

    def evaluate_accuracy(net, data_iter):
        if isinstance(net, torch.nn.Module):
            net.eval()  # set the model to evaluation mode
        metric = Accumulator(2)  # no. of correct predictions, no. of predictions
        with torch.no_grad():
            for X, y in data_iter:
                metric.add(accuracy(net(X), y), y.numel())
        return metric[0] / metric[1]

    def train_epoch_ch3(net, train_iter, loss, updater):
        if isinstance(net, torch.nn.Module):
            net.train()
        metric = Accumulator(3)  # sum of training loss, sum of training accuracy, no. of examples
        for X, y in train_iter:
            y_hat = net(X)
            l = loss(y_hat, y)
            if isinstance(updater, torch.optim.Optimizer):
                updater.zero_grad()
                l.mean().backward()
                updater.step()
            else:
                l.sum().backward()
                updater(X.shape[0])
            metric.add(float(l.sum()), accuracy(y_hat, y), y.numel())
        return metric[0] / metric[2], metric[1] / metric[2]

    def train_ch3(net, train_iter, test_iter, loss, num_epochs, updater):
        history = []
        for epoch in range(num_epochs):
            train_metrics = train_epoch_ch3(net, train_iter, loss, updater)
            test_acc = evaluate_accuracy(net, test_iter)
            history.append((*train_metrics, test_acc))
        return history

    def softmax_scratch(train_iter, test_iter, W0, num_inputs, num_outputs, num_epochs=2, lr=0.1):
        W = torch.normal(0, 0.01, size=(num_inputs, num_outputs), requires_grad=True)
        b = torch.zeros(num_outputs, requires_grad=True)
        _set(torch, W, W0)

        def net(X):
            return softmax(torch.matmul(X.reshape((-1, W.shape[0])), W) + b)

        def updater(batch_size):
            return sgd([W, b], lr, batch_size)

        history = train_ch3(net, train_iter, test_iter, cross_entropy, num_epochs, updater)
        preds = net(next(iter(test_iter))[0]).argmax(axis=1)
        return SimpleNamespace(history=history, W=W, b=b, preds=preds)

    def softmax_concise(train_iter, test_iter, num_inputs, num_outputs, num_epochs=2):
        net = nn.Sequential(nn.Flatten(), nn.Linear(num_inputs, num_outputs))

        def init_weights(m):
            if type(m) == nn.Linear:
                nn.init.normal_(m.weight, std=0.01)

        net.apply(init_weights)
        loss = nn.CrossEntropyLoss(reduction='none')
        trainer = torch.optim.SGD(net.parameters(), lr=0.1)
        return net, loss, trainer

    # ------------------------------------------------ 5.2 MLP from scratch
    def relu(X):
        a = torch.zeros_like(X)
        return torch.max(X, a)

    def mlp_scratch_params(num_inputs, num_outputs, num_hiddens):
        W1 = nn.Parameter(torch.randn(num_inputs, num_hiddens, requires_grad=True) * 0.01)
        b1 = nn.Parameter(torch.zeros(num_hiddens, requires_grad=True))
        W2 = nn.Parameter(torch.randn(num_hiddens, num_outputs, requires_grad=True) * 0.01)
        b2 = nn.Parameter(torch.zeros(num_outputs, requires_grad=True))
        return [W1, b1, W2, b2]

    def mlp_scratch_net(params, num_inputs):
        W1, b1, W2, b2 = params

        def net(X):
            X = X.reshape((-1, num_inputs))
            H = relu(X @ W1 + b1)  # here '@' stands for matrix multiplication
            return (H @ W2 + b2)

        return net

    # ------------------------------------------------ 5.4 (4.6 in ed. 1) polynomial fitting
    def evaluate_loss(net, data_iter, loss):
        """Evaluate the loss of a model on the given dataset."""
        metric = Accumulator(2)  # sum of losses, no. of examples
        for X, y in data_iter:
            out = net(X)
            y = y.reshape(out.shape)
            l = loss(out, y)
            metric.add(l.sum(), l.numel())
        return metric[0] / metric[1]

    # ------------------------------------------------ weight decay
    def init_params(num_inputs):
        w = torch.normal(0, 1, size=(num_inputs, 1), requires_grad=True)
        b = torch.zeros(1, requires_grad=True)
        return [w, b]

    def l2_penalty(w):
        return torch.sum(w.pow(2)) / 2

    # ------------------------------------------------ dropout from scratch
    def dropout_layer(X, dropout, rand=None):
        assert 0 <= dropout <= 1
        if dropout == 1:  # all elements are dropped
            return torch.zeros_like(X)
        if dropout == 0:  # all elements are kept
            return X
        rand = rand or torch.rand  # the test passes one shared uniform draw for both libraries
        mask = (rand(X.shape) > dropout).float()
        return mask * X / (1.0 - dropout)

    class DropoutNet(nn.Module):
        def __init__(self, num_inputs, num_outputs, num_hiddens1, num_hiddens2, dropout1, dropout2,
                     is_training=True, rand=None):
            super(DropoutNet, self).__init__()
            self.num_inputs = num_inputs
            self.training = is_training
            self.lin1 = nn.Linear(num_inputs, num_hiddens1)
            self.lin2 = nn.Linear(num_hiddens1, num_hiddens2)
            self.lin3 = nn.Linear(num_hiddens2, num_outputs)
            self.relu = nn.ReLU()
            self.dropout1, self.dropout2, self.rand = dropout1, dropout2, rand

        def forward(self, X):
            H1 = self.relu(self.lin1(X.reshape((-1, self.num_inputs))))
            if self.training == True:  # noqa: E712 - the book's spelling
                H1 = dropout_layer(H1, self.dropout1, self.rand)
            H2 = self.relu(self.lin2(H1))
            if self.training == True:  # noqa: E712
                H2 = dropout_layer(H2, self.dropout2, self.rand)
            out = self.lin3(H2)
            return out

    # ------------------------------------------------ 6 builders' guide
    class MLP(nn.Module):
        def __init__(self):
            # Call the constructor of the parent class nn.Module to perform the necessary initialization
            super().__init__()
            self.hidden = nn.Linear(20, 256)  # hidden layer
            self.out = nn.Linear(256, 10)  # output layer

        def forward(self, X):
            return self.out(F.relu(self.hidden(X)))

    class MySequential(nn.Module):
        def __init__(self, *args):
            super().__init__()
            for idx, module in enumerate(args):
                # module is an instance of a Module subclass; saved in the ordered dict `_modules`
                self._modules[str(idx)] = module

        def forward(self, X):
            for block in self._modules.values():
                X = block(X)
            return X

    class MySequential2(nn.Module):  # the second edition's spelling
        def __init__(self, *args):
            super().__init__()
            for idx, module in enumerate(args):
                self.add_module(str(idx), module)

        def forward(self, X):
            for module in self.children():
                X = module(X)
            return X

    class FixedHiddenMLP(nn.Module):
        def __init__(self):
            super().__init__()
            # Random weight parameters that will not compute gradients and therefore keep constant
            self.rand_weight = torch.rand((20, 20), requires_grad=False)
            self.linear = nn.Linear(20, 20)

        def forward(self, X):
            X = self.linear(X)
            X = F.relu(torch.mm(X, self.rand_weight) + 1)
            # Reuse the fully connected layer: equivalent to sharing parameters
            X = self.linear(X)
            # Control flow
            while X.abs().sum() > 1:
                X /= 2
            return X.sum()

    class NestMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU())
            self.linear = nn.Linear(32, 16)

        def forward(self, X):
            return self.linear(self.net(X))

    def block1():
        return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4), nn.ReLU())

    def block2():
        net = nn.Sequential()
        for i in range(4):
            net.add_module(f'block {i}', block1())  # nested here
        return net

    def init_normal(m):
        if type(m) == nn.Linear:
            nn.init.normal_(m.weight, mean=0, std=0.01)
            nn.init.zeros_(m.bias)

    def init_constant(m):
        if type(m) == nn.Linear:
            nn.init.constant_(m.weight, 1)
            nn.init.zeros_(m.bias)

    def init_xavier(m):
        if type(m) == nn.Linear:
            nn.init.xavier_uniform_(m.weight)

    def init_42(m):
        if type(m) == nn.Linear:
            nn.init.constant_(m.weight, 42)

    def my_init(m, log, shared=None):
        if type(m) == nn.Linear:
            log.append(("Init", *[(name, tuple(param.shape)) for name, param in m.named_parameters()][0]))
            nn.init.uniform_(m.weight, -10, 10)
            if shared is not None:  # the test's shared draw in place of the uniform one
                _set(torch, m.weight, shared[len(log) - 1])
            if torch.__name__ == "minigrad":  # port: .data is an array without .abs() (README)
                with torch.no_grad():
                    m.weight *= m.weight.abs() >= 5
            else:
                m.weight.data *= m.weight.data.abs() >= 5

    class CenteredLayer(nn.Module):
        def __init__(self):
            super().__init__()

        def forward(self, X):
            return X - X.mean()

    class MyLinear(nn.Module):
        def __init__(self, in_units, units):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(in_units, units))
            self.bias = nn.Parameter(torch.randn(units,))

        def forward(self, X):
            linear = torch.matmul(X, self.weight.data) + self.bias.data
            return F.relu(linear)

    def try_gpu(i=0):
        """Return gpu(i) if exists, otherwise return cpu()."""
        if torch.cuda.device_count() >= i + 1:
            return torch.device(f'cuda:{i}')
        return torch.device('cpu')

    def try_all_gpus():
        devices = [torch.device(f'cuda:{i}') for i in range(torch.cuda.device_count())]
        return devices if devices else [torch.device('cpu')]

    return SimpleNamespace(**{k: v for k, v in locals().items() if k not in ("torch", "nn")}, torch=torch, nn=nn)


# ================================================================ 3 linear neural networks
def _linreg_data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    true_w, true_b = np.array([2.0, -3.4]), 4.2
    X = rng.normal(0, 1, (n, 2))
    y = (X @ true_w + true_b + rng.normal(0, 0.01, n)).reshape(-1, 1)
    return X, y, true_w, true_b, rng.normal(0, 0.01, (2, 1))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_linear_regression_from_scratch(dtype, request):
    if dtype == "float32":
        request.getfixturevalue("float32_defaults")
    tol = TOL if dtype == "float64" else TOL32
    X, y, true_w, true_b, w0 = _linreg_data()
    runs = []
    for lib, book in zip((torch, mg), _programs()):
        tdt = getattr(lib, dtype)
        runs.append(book.train_linreg_scratch(lib.tensor(X, dtype=tdt), lib.tensor(y, dtype=tdt),
                                              lib.tensor(true_w, dtype=tdt), true_b, w0))
    t, m = runs
    assert m.w.dtype == getattr(mg, dtype) and m.w.grad.dtype == getattr(mg, dtype)
    assert len(m.grads) == len(t.grads) == 12
    for i, ((gw, gb), (tw, tb)) in enumerate(zip(m.grads, t.grads)):
        _close(f"w.grad step {i}", gw, tw, **(tol if dtype == "float64" else dict(rtol=1e-4, atol=1e-4)))
        _close(f"b.grad step {i}", gb, tb, **(tol if dtype == "float64" else dict(rtol=1e-4, atol=1e-4)))
    np.testing.assert_allclose(m.losses, t.losses, **tol)
    _close("w", m.w, t.w, **tol)
    _close("b", m.b, t.b, **tol)
    _close("error in estimating w", m.err_w, t.err_w, **tol)
    _close("error in estimating b", m.err_b, t.err_b, **tol)
    assert m.losses[-1] < m.losses[0]


def test_synthetic_data_as_written(float32_defaults):
    """The book's synthetic_data draws from torch.normal: float32 by default, y = Xw + b + N(0, 0.01)."""
    book = _book(mg, mnn)
    mg.manual_seed(0)
    true_w = mg.tensor([2, -3.4])
    features, labels = book.synthetic_data(true_w, 4.2, 1000)
    assert features.shape == (1000, 2) and labels.shape == (1000, 1)
    assert features.dtype == labels.dtype == mg.float32
    print('features:', features[0], '\nlabel:', labels[0])
    noise = (labels - (features @ true_w.reshape(2, 1) + 4.2)).numpy()
    # the noise is N(0, 0.01) sampled 1000 times: its std is within 20% of 0.01 (~6 standard errors)
    assert 0.008 < noise.std() < 0.012 and abs(noise.mean()) < 0.002
    batches = list(book.data_iter(10, features, labels))
    assert len(batches) == 100 and batches[0][0].shape == (10, 2) and batches[0][1].shape == (10, 1)
    # every example once per epoch
    seen = np.sort(np.concatenate([b[0].numpy()[:, 0] for b in batches]))
    np.testing.assert_array_equal(seen, np.sort(features.numpy()[:, 0]))


def test_linear_regression_concise():
    X, y, true_w, true_b, w0 = _linreg_data()
    t, m = (book.train_linreg_concise(lib.tensor(X), lib.tensor(y), w0) for lib, book in zip((torch, mg), _programs()))
    np.testing.assert_allclose(m.losses, t.losses, **TOL)
    _same_params(m.net, t.net, "linreg concise")
    # `w = net[0].weight.data` then `true_w - w.reshape(true_w.shape)`: an array in minigrad, works the same
    err_m = mg.tensor(true_w) - m.w.reshape(true_w.shape)
    err_t = torch.tensor(true_w) - t.w.reshape(true_w.shape)
    _close("error in estimating w", err_m, err_t)
    _close("error in estimating b", true_b - m.b, true_b - t.b)


def test_linear_regression_concise_data_spelling_is_a_documented_error():
    """`net[0].weight.data.normal_(0, 0.01)` / `.fill_(0)`: .data is a NumPy array (README); nn.init is the port."""
    net = mnn.Sequential(mnn.Linear(2, 1))
    with pytest.raises(AttributeError, match="normal_"):
        net[0].weight.data.normal_(0, 0.01)
    with pytest.raises(AttributeError, match="fill_"):
        net[0].bias.data.fill_(0)
    # nn.init also takes `.data` (README), so the in-between spelling works
    mg.manual_seed(0)
    mnn.init.normal_(net[0].weight.data, 0, 0.01)
    mnn.init.zeros_(net[0].bias.data)
    assert net[0].bias.item() == 0.0 and 0 < float(net[0].weight.abs().max()) < 0.1


def _softmax_data(n=24, c=3, hw=3, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 1, (n, 1, hw, hw))
    y = rng.integers(0, c, n)
    return X, y


def test_softmax_regression_from_scratch():
    X, y = _softmax_data()
    Xte, yte = _softmax_data(seed=2)
    W0 = np.random.default_rng(3).normal(0, 0.01, (9, 3))
    runs = []
    for lib, book in zip((torch, mg), _programs()):
        train_iter = book.load_array((lib.tensor(X), lib.tensor(y)), 8, is_train=False)
        test_iter = book.load_array((lib.tensor(Xte), lib.tensor(yte)), 8, is_train=False)
        runs.append(book.softmax_scratch(train_iter, test_iter, W0, 9, 3, num_epochs=3, lr=0.5))
    t, m = runs
    np.testing.assert_allclose(np.array(m.history), np.array(t.history), **TOL)
    _close("W", m.W, t.W)
    _close("b", m.b, t.b)
    _close("predictions", m.preds, t.preds)
    assert m.history[-1][0] < m.history[0][0]
    # the book's small examples
    tb, mb = _programs()
    for lib, book in ((torch, tb), (mg, mb)):
        y_hat = lib.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
        yy = lib.tensor([0, 2])
        assert book.accuracy(y_hat, yy) / len(yy) == 0.5
        Xs = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        assert tuple(Xs.sum(0, keepdim=True).shape) == (1, 3) and tuple(Xs.sum(1, keepdim=True).shape) == (2, 1)
    _close("cross_entropy", mb.cross_entropy(mg.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]]), mg.tensor([0, 2])),
           tb.cross_entropy(torch.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]]), torch.tensor([0, 2])))
    Xr = np.random.default_rng(4).normal(0, 1, (2, 5))
    X_prob_m, X_prob_t = mb.softmax(mg.tensor(Xr)), tb.softmax(torch.tensor(Xr))
    _close("softmax", X_prob_m, X_prob_t)
    _close("softmax row sums", X_prob_m.sum(1), X_prob_t.sum(1))


def test_softmax_regression_concise():
    X, y = _softmax_data()
    Xte, yte = _softmax_data(seed=2)
    hist, nets = [], []
    for lib, book in zip((torch, mg), _programs()):
        train_iter = book.load_array((lib.tensor(X), lib.tensor(y)), 8, is_train=False)
        test_iter = book.load_array((lib.tensor(Xte), lib.tensor(yte)), 8, is_train=False)
        net, loss, trainer = book.softmax_concise(train_iter, test_iter, 9, 3)
        nets.append(net)
        if lib is torch:
            start = _snapshot(net)
        else:
            net.load_state_dict(start)
        hist.append(book.train_ch3(net, train_iter, test_iter, loss, 3, trainer))
    np.testing.assert_allclose(np.array(hist[1]), np.array(hist[0]), **TOL)
    _same_params(nets[1], nets[0], "softmax concise")
    assert not nets[1].training  # evaluate_accuracy left it in eval mode, as torch
    assert nets[1].training == nets[0].training


# ================================================================ 5 multilayer perceptrons
def test_mlp_from_scratch():
    X, y = _softmax_data(n=16)
    rng = np.random.default_rng(5)
    inits = [rng.normal(0, 0.01, (9, 6)), np.zeros(6), rng.normal(0, 0.01, (6, 3)), np.zeros(3)]
    res = []
    for lib, book in zip((torch, mg), _programs()):
        params = book.mlp_scratch_params(9, 3, 6)
        assert all(type(p) is lib.nn.Parameter and p.requires_grad and p.is_leaf for p in params)
        for p, v in zip(params, inits):
            _set(lib, p, v * 30)  # larger than the book's 0.01 so the ReLUs are not all near 0
        net = book.mlp_scratch_net(params, 9)
        loss = lib.nn.CrossEntropyLoss(reduction='none')
        updater = lib.optim.SGD(params, lr=0.1)
        train_iter = book.load_array((lib.tensor(X), lib.tensor(y)), 4, is_train=False)
        hist = [book.train_epoch_ch3(net, train_iter, loss, updater) for _ in range(3)]
        res.append((hist, params))
    (ht, pt), (hm, pm) = res
    np.testing.assert_allclose(np.array(hm), np.array(ht), **TOL)
    for i, (a, b) in enumerate(zip(pm, pt)):
        _close(f"param {i}", a, b)
        _close(f"param {i}.grad", a.grad, b.grad)


def test_activation_gradients_and_numerical_stability():
    """5.1's plots: relu/sigmoid/tanh and their gradients on arange(-8, 8, 0.1); 5.4's vanishing sigmoid."""
    tb, mb = _programs()
    out = {}
    for lib, book in ((torch, tb), (mg, mb)):
        x = lib.arange(-8.0, 8.0, 0.1, requires_grad=True)
        y = lib.relu(x)
        y.backward(lib.ones_like(x), retain_graph=True)
        g_relu = x.grad.clone()
        x.grad.zero_()  # book: x.grad.data.zero_() (.data is an array here: see the module docstring)
        y2 = lib.sigmoid(x)
        y2.backward(lib.ones_like(x))
        g_sig = x.grad.clone()
        x.grad.zero_()
        y3 = lib.tanh(x)
        y3.backward(lib.ones_like(x))
        out[lib.__name__] = (x, y, g_relu, y2, g_sig, y3, x.grad, book.relu(x.detach()))
    names = ["x", "relu", "relu'", "sigmoid", "sigmoid'", "tanh", "tanh'", "book relu"]
    xt, xm = out["torch"][0].detach().numpy(), out["minigrad"][0].detach().numpy()
    # x[80] is 0 up to rounding: 4.4e-16 in torch (an artifact of its vectorised arange), 0.0 here; so
    # relu'(x[80]) is 1 there and 0 here. Every other point is compared, and ours is relu' of our own x.
    off = np.abs(xt) < 1e-12
    assert off.sum() == 1
    np.testing.assert_array_equal(out["minigrad"][2].numpy(), (xm > 0).astype(xm.dtype))
    for n, a, b in zip(names, out["minigrad"], out["torch"]):
        _close(n, _np(a)[~off], _np(b)[~off])
    with pytest.raises(AttributeError, match="zero_"):
        out["minigrad"][0].grad.data.zero_()


@pytest.mark.parametrize("args", [(-8.0, 8.0, 0.1), (0.5, 100.3, 0.7), (0, 1, 0.01), (5.0, -3.0, -0.3)])
def test_arange_float32_is_rounded_once_as_torch(args, float32_defaults):
    """`torch.arange(-8.0, 8.0, 0.1)` (float32). minigrad used NumPy's float32 arange, which steps in float32:
    1.5e-5 (16 float32 steps at 8) off at the end of that range. Now start + i*step is computed in float64
    and rounded once (as torch's accumulate type does): correctly rounded, and within 2 float32 steps of
    torch's values at the range's largest magnitude (torch's own error reaches ~1.8 steps)."""
    m, t = mg.arange(*args), torch.arange(*args)
    assert m.dtype == mg.float32 and m.shape == tuple(t.shape)
    exact = args[0] + np.arange(len(t)) * np.float64(args[2])
    np.testing.assert_array_equal(m.numpy(), exact.astype(np.float32))
    step = float(np.spacing(np.float32(max(abs(args[0]), abs(args[1])))))
    np.testing.assert_allclose(m.numpy(), t.numpy(), rtol=0, atol=2 * step)


def test_polynomial_fitting_train_and_evaluate_loss():
    """4.4's polynomial regression: features / gamma(i+1), load_array, evaluate_loss, train_epoch_ch3."""
    max_degree, n_train, n_test = 8, 20, 20
    rng = np.random.default_rng(7)
    true_w = np.zeros(max_degree)
    true_w[0:4] = np.array([5, 1.2, -3.4, 5.6])
    features = rng.normal(size=(n_train + n_test, 1))
    rng.shuffle(features)
    poly_features = np.power(features, np.arange(max_degree).reshape(1, -1))
    for i in range(max_degree):
        poly_features[:, i] /= math.gamma(i + 1)
    labels = np.dot(poly_features, true_w)
    labels += rng.normal(scale=0.1, size=labels.shape)
    res = []
    for lib, book in zip((torch, mg), _programs()):
        true_w_, features_, poly_, labels_ = [lib.tensor(x, dtype=lib.float64) for x in [true_w, features, poly_features, labels]]
        train_features, test_features = poly_[:n_train, :4], poly_[n_train:, :4]
        train_labels, test_labels = labels_[:n_train], labels_[n_train:]
        loss = lib.nn.MSELoss(reduction='none')
        input_shape = train_features.shape[-1]
        net = lib.nn.Sequential(lib.nn.Linear(input_shape, 1, bias=False))
        if lib is torch:
            start = _snapshot(net)
        else:
            net.load_state_dict(start)
        batch_size = min(10, train_labels.shape[0])
        train_iter = book.load_array((train_features, train_labels.reshape(-1, 1)), batch_size, is_train=False)
        test_iter = book.load_array((test_features, test_labels.reshape(-1, 1)), batch_size, is_train=False)
        trainer = lib.optim.SGD(net.parameters(), lr=0.01)
        curve = []
        for epoch in range(5):
            book.train_epoch_ch3(net, train_iter, loss, trainer)
            curve.append((book.evaluate_loss(net, train_iter, loss), book.evaluate_loss(net, test_iter, loss)))
        res.append((net, curve))
    (nt, ct), (nm, cm) = res
    np.testing.assert_allclose(cm, ct, **TOL)
    # book: print('weight:', net[0].weight.data.numpy()); .data is an array here, so .detach().numpy()
    np.testing.assert_allclose(nm[0].weight.detach().numpy(), nt[0].weight.data.numpy(), **TOL)
    with pytest.raises(AttributeError, match="numpy"):
        nm[0].weight.data.numpy()


def test_weight_decay_from_scratch_and_concise():
    n_train, num_inputs, batch_size = 10, 12, 5
    rng = np.random.default_rng(8)
    X = rng.normal(size=(n_train, num_inputs))
    y = X @ np.full((num_inputs, 1), 0.01) + 0.05 + rng.normal(0, 0.01, (n_train, 1))
    w0 = rng.normal(size=(num_inputs, 1))
    out = []
    for lib, book in zip((torch, mg), _programs()):
        train_iter = book.load_array((lib.tensor(X), lib.tensor(y)), batch_size, is_train=False)
        # from scratch
        w, b = book.init_params(num_inputs)
        _set(lib, w, w0)
        net, loss = (lambda X: book.linreg(X, w, b)), book.squared_loss
        lambd, lr = 3, 0.003
        for epoch in range(4):
            for Xb, yb in train_iter:
                l = loss(net(Xb), yb) + lambd * book.l2_penalty(w)
                l.sum().backward()
                book.sgd([w, b], lr, batch_size)
        scratch = (w, b, lib.norm(w).item(), book.evaluate_loss(net, train_iter, loss))
        # concise: weight decay on the weight only
        wd = 3
        cnet = lib.nn.Sequential(lib.nn.Linear(num_inputs, 1))
        for param in cnet.parameters():
            lib.nn.init.normal_(param)  # book: param.data.normal_()
        if lib is torch:
            start = _snapshot(cnet)
        else:
            cnet.load_state_dict(start)
        closs = lib.nn.MSELoss(reduction='none')
        trainer = lib.optim.SGD([{"params": cnet[0].weight, 'weight_decay': wd},
                                 {"params": cnet[0].bias}], lr=lr)
        assert [g["weight_decay"] for g in trainer.param_groups] == [wd, 0]
        for epoch in range(4):
            for Xb, yb in train_iter:
                trainer.zero_grad()
                l = closs(cnet(Xb), yb)
                l.mean().backward()
                trainer.step()
        out.append((scratch, cnet, cnet[0].weight.norm().item()))
    (st, ct, nt), (sm, cm, nm) = out
    _close("w (scratch)", sm[0], st[0])
    _close("b (scratch)", sm[1], st[1])
    np.testing.assert_allclose([sm[2], sm[3]], [st[2], st[3]], **TOL)
    _same_params(cm, ct, "concise weight decay")
    _same_grads(cm, ct, "concise weight decay")
    np.testing.assert_allclose(nm, nt, **TOL)


def test_dropout_layer_from_scratch():
    tb, mb = _programs()
    for lib, book in ((torch, tb), (mg, mb)):
        X = lib.arange(16, dtype=lib.float32).reshape((2, 8))
        assert book.dropout_layer(X, 0.) is X
        z = book.dropout_layer(X, 1.)
        assert z.dtype == lib.float32 and float(z.abs().sum()) == 0.0
    # p = 0.5 on one shared uniform draw: the same mask, the same scaling
    u = np.random.default_rng(9).random((2, 8))
    Xm = mb.dropout_layer(mg.arange(16, dtype=mg.float32).reshape((2, 8)), 0.5, rand=lambda s: mg.tensor(u))
    Xt = tb.dropout_layer(torch.arange(16, dtype=torch.float32).reshape((2, 8)), 0.5, rand=lambda s: torch.tensor(u))
    _close("dropout_layer(X, 0.5)", Xm, Xt)
    assert Xm.dtype == mg.float32
    # the book's own torch.rand: every element is either dropped or doubled, ~half of them dropped
    mg.manual_seed(0)
    X = mg.ones(4000, dtype=mg.float32)  # the book's float32 (its mask is `.float()`)
    d = mb.dropout_layer(X, 0.5).numpy()
    assert set(np.unique(d)) <= {0.0, 2.0}
    assert abs((d == 0).mean() - 0.5) < 0.05  # binomial(4000, 0.5): std of the fraction 0.008


def test_dropout_net_from_scratch_shared_masks_and_concise_eval(float32_defaults):
    """In float32, the book's dtype (its mask is `.float()`: in float64 minigrad refuses float32 * float64,
    see test_dropout_layer_float64_needs_the_dtype_of_x); rtol 1e-5 for float32 rounding."""
    rng = np.random.default_rng(10)
    X, y = rng.normal(size=(6, 1, 2, 4)), rng.integers(0, 3, 6)
    draws = [rng.random((3, n)) for _ in range(4) for n in (10, 7)]   # two dropout layers, four steps
    nets = []
    for lib, book in zip((torch, mg), _programs()):
        it = iter(draws)
        net = book.DropoutNet(8, 3, 10, 7, 0.2, 0.5, rand=lambda s, lib=lib, it=it: lib.tensor(next(it), dtype=lib.float32))
        assert net.training is True
        if lib is torch:
            start = _snapshot(net)
        else:
            net.load_state_dict(start)
        loss = lib.nn.CrossEntropyLoss(reduction='none')
        trainer = lib.optim.SGD(net.parameters(), lr=0.5)
        train_iter = book.load_array((lib.tensor(X, dtype=lib.float32), lib.tensor(y)), 3, is_train=False)
        hist = [book.train_epoch_ch3(net, train_iter, loss, trainer) for _ in range(2)]
        net.eval()
        evald = net(lib.tensor(X, dtype=lib.float32))
        nets.append((net, hist, evald))
    (nt, ht, et), (nm, hm, em) = nets
    np.testing.assert_allclose(np.array(hm), np.array(ht), **TOL32)
    _same_params(nm, nt, "dropout net", **TOL32)
    _close("eval output", em, et, **TOL32)
    assert em.dtype == mg.float32
    # concise: nn.Dropout, compared in eval mode (identity)
    outs = []
    for lib in (torch, mg):
        nn = lib.nn
        net = nn.Sequential(nn.Flatten(), nn.Linear(8, 10), nn.ReLU(), nn.Dropout(0.2),
                            nn.Linear(10, 7), nn.ReLU(), nn.Dropout(0.5), nn.Linear(7, 3))
        if outs:
            _copy_weights(outs[0][0], net)
        net.eval()
        out = net(lib.tensor(X, dtype=lib.float32))
        out.sum().backward()
        outs.append((net, out))
    _close("nn.Dropout eval output", outs[1][1], outs[0][1], **TOL32)
    _same_grads(outs[1][0], outs[0][0], "nn.Dropout eval", **TOL32)


def test_dropout_layer_float64_needs_the_dtype_of_x():
    """`mask = (torch.rand(X.shape) > dropout).float()` times a float64 X: torch promotes to float64,
    minigrad refuses float32 * float64 (README: no silent upcast) with a TypeError naming both;
    the float64 port is `.type(X.dtype)`."""
    mb = _book(mg, mnn)
    X = mg.ones(2, 8, dtype=mg.float64)
    with pytest.raises(TypeError, match=r"float32\[2, 8\].*float64\[2, 8\]|float64\[2, 8\].*float32\[2, 8\]"):
        mb.dropout_layer(X, 0.5)
    mg.manual_seed(0)
    mask = (mg.rand(X.shape) > 0.5).type(X.dtype)
    assert (mask * X / (1.0 - 0.5)).dtype == mg.float64


# ================================================================ 6 builders' guide
def test_layers_and_modules_mlp_mysequential_fixed_hidden_nest():
    rng = np.random.default_rng(11)
    X = rng.random((2, 20))
    tb, mb = _programs()
    # MLP, MySequential (both spellings), nn.Sequential: forward, backward, state dict keys
    for make in ("MLP", "MySequential", "MySequential2", "Sequential"):
        nets = []
        for lib, book in ((torch, tb), (mg, mb)):
            nn = lib.nn
            if make == "MLP":
                net = book.MLP()
            elif make == "Sequential":
                net = nn.Sequential(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10))
            else:
                net = getattr(book, make)(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10))
            if nets:
                _copy_weights(nets[0][0], net)
            out = net(lib.tensor(X))
            out.pow(2).sum().backward()
            nets.append((net, out))
        (nt, ot), (nm, om) = nets
        assert list(nm.state_dict()) == list(nt.state_dict()), make
        assert [n for n, _ in nm.named_children()] == [n for n, _ in nt.named_children()], make
        _close(f"{make} output", om, ot)
        _same_grads(nm, nt, make)
    # FixedHiddenMLP: a constant rand_weight (copied), the while loop halving X in place
    res = []
    for lib, book in ((torch, tb), (mg, mb)):
        net = book.FixedHiddenMLP()
        assert not net.rand_weight.requires_grad and list(net.state_dict()) == ["linear.weight", "linear.bias"]
        if res:
            _copy_weights(res[0][0], net)
            net.rand_weight = mg.tensor(res[0][0].rand_weight.numpy())
        out = net(lib.tensor(X))
        out.backward()
        res.append((net, out))
    (nt, ot), (nm, om) = res
    assert om.shape == () and abs(om.item()) <= 1
    _close("FixedHiddenMLP output", om, ot)
    _same_grads(nm, nt, "FixedHiddenMLP")
    # NestMLP inside a chimera with FixedHiddenMLP
    res = []
    for lib, book in ((torch, tb), (mg, mb)):
        chimera = lib.nn.Sequential(book.NestMLP(), lib.nn.Linear(16, 20), book.FixedHiddenMLP())
        if res:
            _copy_weights(res[0][0], chimera)
            chimera[2].rand_weight = mg.tensor(res[0][0][2].rand_weight.numpy())
        out = chimera(lib.tensor(X))
        out.backward()
        res.append((chimera, out))
    (nt, ot), (nm, om) = res
    assert list(nm.state_dict()) == list(nt.state_dict())
    _close("chimera output", om, ot)
    _same_grads(nm, nt, "chimera")


def test_parameter_access_and_module_repr():
    rng = np.random.default_rng(12)
    X = rng.random((2, 4))
    res = []
    for lib, book in zip((torch, mg), _programs()):
        nn = lib.nn
        net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
        if res:
            _copy_weights(res[0]["net"], net)
        r = dict(net=net, out=net(lib.tensor(X)))
        sd = net[2].state_dict()
        r["sd_keys"] = list(sd)
        r["sd_type"] = type(sd).__name__
        r["bias_type"] = type(net[2].bias).__name__
        r["bias_data"] = np.asarray(net[2].bias.data)
        r["grad_is_none"] = net[2].weight.grad is None
        r["named0"] = [(name, tuple(param.shape)) for name, param in net[0].named_parameters()]
        r["named"] = [(name, tuple(param.shape)) for name, param in net.named_parameters()]
        r["sd_bias"] = np.asarray(net.state_dict()['2.bias'].data)
        rgnet = nn.Sequential(book.block2(), nn.Linear(4, 1))
        if len(res):
            _copy_weights(res[0]["rgnet"], rgnet)
        r["rgnet"] = rgnet
        r["rg_out"] = rgnet(lib.tensor(X))
        r["rg_bias"] = np.asarray(rgnet[0][1][0].bias.data)
        r["repr"] = repr(rgnet)
        res.append(r)
    t, m = res
    for k in ("sd_keys", "sd_type", "bias_type", "grad_is_none", "named0", "named", "repr"):
        assert m[k] == t[k], (k, m[k], t[k])
    for k in ("out", "bias_data", "sd_bias", "rg_out", "rg_bias"):
        _close(k, m[k], t[k])
    assert "(block 0): Sequential(" in m["repr"]


def test_parameter_initialization_apply():
    rng = np.random.default_rng(13)
    X = rng.random((2, 4))
    shared = [rng.uniform(-10, 10, (8, 4)), rng.uniform(-10, 10, (1, 8))]
    res = []
    for lib, book in zip((torch, mg), _programs()):
        nn = lib.nn
        net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
        r = {}
        lib.manual_seed(0)
        net.apply(book.init_normal)
        w = net[0].weight.detach().numpy()
        assert abs(w.std() - 0.01) < 0.005 and net[0].bias.abs().sum().item() == 0  # N(0, 0.01^2) on 32 draws
        net.apply(book.init_constant)
        r["const"] = (net[0].weight.data[0], net[0].bias.data[0])
        net[0].apply(book.init_xavier)
        net[2].apply(book.init_42)
        bound = math.sqrt(6 / (4 + 8))  # xavier_uniform_'s bound for fan_in 4, fan_out 8
        assert np.all(np.abs(net[0].weight.detach().numpy()) <= bound)
        r["42"] = net[2].weight.data
        log = []
        net.apply(lambda m: book.my_init(m, log, shared))
        r["log"] = log
        r["my_init"] = net[0].weight[:2].detach().clone()  # a view: later edits would show through
        with lib.no_grad():  # the book writes through .data; both spellings are checked
            net[0].weight.data[:] += 1
            net[0].weight.data[0, 0] = 42
        r["edited"] = net[0].weight.data[0]
        r["out"] = net(lib.tensor(X))
        res.append(r)
    t, m = res
    assert m["log"] == t["log"] == [("Init", "weight", (8, 4)), ("Init", "weight", (1, 8))]
    _close("constant weight", m["const"][0], t["const"][0])
    _close("zero bias", m["const"][1], t["const"][1])
    _close("42", m["42"], t["42"])
    _close("my_init", m["my_init"], t["my_init"])
    assert np.all((np.abs(m["my_init"].detach().numpy()) >= 5) | (m["my_init"].detach().numpy() == 0))
    _close("edited weight", m["edited"], t["edited"])
    _close("output", m["out"], t["out"])
    # the book's line as written: `.data` is a NumPy array, which has no .abs() (README, Autograd)
    w = mnn.Linear(4, 8).weight
    with pytest.raises(AttributeError, match="abs"):
        w.data *= w.data.abs() >= 5
    w.data *= np.abs(w.data) >= 5   # NumPy's spelling of it works on the array


def test_tied_parameters():
    rng = np.random.default_rng(14)
    X = rng.random((2, 4))
    res = []
    for lib in (torch, mg):
        nn = lib.nn
        shared = nn.Linear(8, 8)
        net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), shared, nn.ReLU(), shared, nn.ReLU(), nn.Linear(8, 1))
        if res:
            _copy_weights(res[0][0], net)
        out = net(lib.tensor(X))
        out.sum().backward()
        same = bool((net[2].weight.data[0] == net[4].weight.data[0]).all())
        net[2].weight.data[0, 0] = 100   # the book's check that they are the same object
        still = bool((net[2].weight.data[0] == net[4].weight.data[0]).all())
        res.append((net, out, same, still, list(net.state_dict()), [n for n, _ in net.named_parameters()]))
    (nt, ot, *rt), (nm, om, *rm) = res
    assert rm == rt and rm[0] and rm[1]
    _close("output", om, ot)
    _same_grads(nm, nt, "tied")   # the shared layer's gradient is the sum over both uses
    assert nm[2].weight.grad is nm[4].weight.grad


def test_custom_layers_centered_and_mylinear():
    tb, mb = _programs()
    for lib, book in ((torch, tb), (mg, mb)):
        layer = book.CenteredLayer()
        _close("centered", layer(lib.tensor([1.0, 2, 3, 4, 5])), np.array([-2.0, -1, 0, 1, 2]))
    rng = np.random.default_rng(15)
    X = rng.random((4, 8))
    res = []
    for lib, book in ((torch, tb), (mg, mb)):
        net = lib.nn.Sequential(lib.nn.Linear(8, 128), book.CenteredLayer())
        if res:
            _copy_weights(res[0][0], net)
        Y = net(lib.tensor(X))
        Y.pow(2).sum().backward()
        res.append((net, Y))
    (nt, yt), (nm, ym) = res
    _close("centered net", ym, yt)
    assert abs(ym.mean().item()) < 1e-12
    _same_grads(nm, nt, "centered net")
    # MyLinear reads self.weight.data: a constant in the graph, in torch (a tensor) and here (an array)
    res = []
    X = rng.random((3, 64))
    for lib, book in ((torch, tb), (mg, mb)):
        linear = book.MyLinear(5, 3)
        assert [n for n, _ in linear.named_parameters()] == ["weight", "bias"]
        net = lib.nn.Sequential(book.MyLinear(64, 8), book.MyLinear(8, 1))
        if res:
            _copy_weights(res[0][0], net)
        Xt = lib.tensor(X, requires_grad=True)
        out = net(Xt)
        out.sum().backward()
        res.append((net, out, Xt))
    (nt, ot, xt), (nm, om, xm) = res
    _close("MyLinear net", om, ot)
    _close("MyLinear input gradient", xm.grad, xt.grad)
    # .data is a constant in the graph in both: the parameters get no gradient
    assert all(p.grad is None for p in nt.parameters()) and all(p.grad is None for p in nm.parameters())


def test_lazy_initialization():
    rng = np.random.default_rng(16)
    X = rng.random((2, 20))
    res = []
    for lib in (torch, mg):
        nn = lib.nn
        net = nn.Sequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10))
        net(lib.tensor(X))
        assert tuple(net[0].weight.shape) == (256, 20) and tuple(net[2].weight.shape) == (10, 256)
        assert type(net[0]).__name__ == "Linear"  # a LazyLinear becomes a Linear once it has seen its input
        if res:
            _copy_weights(res[0][0], net)
        out = net(lib.tensor(X))
        out.sum().backward()
        res.append((net, out))
    (nt, ot), (nm, om) = res
    _close("lazy output", om, ot)
    _same_grads(nm, nt, "lazy")


def test_file_io(tmp_path):
    tb, mb = _programs()
    out = {}
    for lib, book in ((torch, tb), (mg, mb)):
        d = tmp_path / lib.__name__
        d.mkdir()
        x = lib.arange(4)
        lib.save(x, d / 'x-file')
        x2 = lib.load(d / 'x-file')
        y = lib.zeros(4)
        lib.save([x, y], d / 'x-files')
        x2, y2 = lib.load(d / 'x-files')
        mydict = {'x': x, 'y': y}
        lib.save(mydict, d / 'mydict')
        mydict2 = lib.load(d / 'mydict')
        lib.manual_seed(0)
        net = book.MLP()
        X = lib.tensor(np.random.default_rng(17).normal(size=(2, 20)))
        Y = net(X)
        lib.save(net.state_dict(), d / 'mlp.params')
        clone = book.MLP()
        clone.load_state_dict(lib.load(d / 'mlp.params'))
        clone.eval()
        Y_clone = clone(X)
        out[lib.__name__] = (x2, y2, mydict2, Y_clone == Y)
    (xt, yt, dt, et), (xm, ym, dm, em) = out["torch"], out["minigrad"]
    _close("x", xm, xt)
    _close("y", ym, yt)
    assert list(dm) == ["x", "y"] and dm["x"].dtype == mg.int64
    _close("dict x", dm["x"], dt["x"])
    assert em.dtype == mg.bool and bool(em.all())


def test_devices_try_gpu():
    tb, mb = _programs()
    for lib, book in ((torch, tb), (mg, mb)):
        cpu = lib.device('cpu')
        assert str(cpu) == 'cpu' and cpu.type == 'cpu'
        if not lib.cuda.is_available():
            assert book.try_gpu() == lib.device('cpu') and book.try_gpu(10) == lib.device('cpu')
            assert book.try_all_gpus() == [lib.device('cpu')]
        X = lib.ones(2, 3, device=book.try_gpu())
        assert X.device == book.try_gpu()
        net = lib.nn.Sequential(lib.nn.Linear(3, 1))
        net = net.to(device=book.try_gpu())
        assert net[0].weight.device == X.device
        if lib is mg:  # .data is the raw array: NumPy on the CPU, CuPy on a GPU
            assert mg.backend.get_array_module(net[0].weight.data) is mg.backend.array_module_for(X.device)


# ================================================================ 7-8 convolutional networks (the book's code, once)
def _cnn_book(torch, nn, data_spelling=False):  # noqa: C901
    """d2l's chapters 7-8 for either library. data_spelling: batch_norm returns `moving_mean.data` (the
    book) instead of the port `.detach()`."""
    F = nn.functional

    def corr2d(X, K):
        """Compute 2D cross-correlation."""
        h, w = K.shape
        Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
        for i in range(Y.shape[0]):
            for j in range(Y.shape[1]):
                Y[i, j] = (X[i:i + h, j:j + w] * K).sum()
        return Y

    class Conv2D(nn.Module):
        def __init__(self, kernel_size):
            super().__init__()
            self.weight = nn.Parameter(torch.rand(kernel_size))
            self.bias = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return corr2d(x, self.weight) + self.bias

    def comp_conv2d(conv2d, X):
        # (1, 1) indicates that batch size and the number of channels are both 1
        X = X.reshape((1, 1) + X.shape)
        Y = conv2d(X)
        return Y.reshape(Y.shape[2:])  # strip the first two dimensions: examples and channels

    def corr2d_multi_in(X, K):
        # Iterate through the 0th dimension (channel) of K first, then add them up
        return sum(corr2d(x, k) for x, k in zip(X, K))

    def corr2d_multi_in_out(X, K):
        return torch.stack([corr2d_multi_in(X, k) for k in K], 0)

    def corr2d_multi_in_out_1x1(X, K):
        c_i, h, w = X.shape
        c_o = K.shape[0]
        X = X.reshape((c_i, h * w))
        K = K.reshape((c_o, c_i))
        Y = torch.matmul(K, X)  # matrix multiplication in the fully connected layer
        return Y.reshape((c_o, h, w))

    def pool2d(X, pool_size, mode='max'):
        p_h, p_w = pool_size
        Y = torch.zeros((X.shape[0] - p_h + 1, X.shape[1] - p_w + 1))
        for i in range(Y.shape[0]):
            for j in range(Y.shape[1]):
                if mode == 'max':
                    Y[i, j] = X[i: i + p_h, j: j + p_w].max()
                elif mode == 'avg':
                    Y[i, j] = X[i: i + p_h, j: j + p_w].mean()
        return Y

    def lenet(hw=28):
        s = (hw // 2 - 4) // 2   # 5 for the book's 28x28
        return nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Flatten(),
            nn.Linear(16 * s * s, 120), nn.Sigmoid(),
            nn.Linear(120, 84), nn.Sigmoid(),
            nn.Linear(84, 10))

    def evaluate_accuracy_gpu(net, data_iter, accuracy, Accumulator, device=None):
        if isinstance(net, nn.Module):
            net.eval()  # set the model to evaluation mode
            if not device:
                device = next(iter(net.parameters())).device
        metric = Accumulator(2)
        with torch.no_grad():
            for X, y in data_iter:
                if isinstance(X, list):
                    X = [x.to(device) for x in X]
                else:
                    X = X.to(device)
                y = y.to(device)
                metric.add(accuracy(net(X), y), y.numel())
        return metric[0] / metric[1]

    def train_ch6(net, train_iter, test_iter, num_epochs, lr, device, book, init=True):
        def init_weights(m):
            if type(m) == nn.Linear or type(m) == nn.Conv2d:
                nn.init.xavier_uniform_(m.weight)

        if init:
            net.apply(init_weights)
        net.to(device)
        optimizer = torch.optim.SGD(net.parameters(), lr=lr)
        loss = nn.CrossEntropyLoss()
        history = []
        for epoch in range(num_epochs):
            metric = book.Accumulator(3)
            net.train()
            for i, (X, y) in enumerate(train_iter):
                optimizer.zero_grad()
                X, y = X.to(device), y.to(device)
                y_hat = net(X)
                l = loss(y_hat, y)
                l.backward()
                optimizer.step()
                with torch.no_grad():
                    metric.add(l * X.shape[0], book.accuracy(y_hat, y), X.shape[0])
            train_l, train_acc = metric[0] / metric[2], metric[1] / metric[2]
            test_acc = evaluate_accuracy_gpu(net, test_iter, book.accuracy, book.Accumulator)
            history.append((train_l, train_acc, test_acc))
        return history

    def alexnet(c=(4, 8, 8, 8, 6), hidden=16):
        """AlexNet's layer pattern at a tiny width (the book: 96, 256, 384, 384, 256 channels, 4096 units)."""
        return nn.Sequential(
            nn.Conv2d(1, c[0], kernel_size=11, stride=4, padding=1), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c[0], c[1], kernel_size=5, padding=2), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c[1], c[2], kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(c[2], c[3], kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(c[3], c[4], kernel_size=3, padding=1), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Flatten(),
            nn.Linear(c[4], hidden), nn.ReLU(),
            nn.Dropout(p=0.5),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Dropout(p=0.5),
            nn.Linear(hidden, 10))

    def vgg_block(num_convs, in_channels, out_channels):
        layers = []
        for _ in range(num_convs):
            layers.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
            layers.append(nn.ReLU())
            in_channels = out_channels
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        return nn.Sequential(*layers)

    def vgg(conv_arch, hw, hidden=16):
        conv_blks = []
        in_channels = 1
        for (num_convs, out_channels) in conv_arch:
            conv_blks.append(vgg_block(num_convs, in_channels, out_channels))
            in_channels = out_channels
        s = hw // 2 ** len(conv_arch)
        return nn.Sequential(
            *conv_blks, nn.Flatten(),
            nn.Linear(out_channels * s * s, hidden), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(hidden, 10))

    def nin_block(in_channels, out_channels, kernel_size, strides, padding):
        return nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size, strides, padding),
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, kernel_size=1), nn.ReLU())

    def nin(c=(6, 8, 8)):
        return nn.Sequential(
            nin_block(1, c[0], kernel_size=5, strides=2, padding=0),
            nn.MaxPool2d(3, stride=2),
            nin_block(c[0], c[1], kernel_size=3, strides=1, padding=1),
            nn.MaxPool2d(3, stride=2),
            nn.Dropout(0.5),
            # there are 10 label classes
            nin_block(c[1], 10, kernel_size=3, strides=1, padding=1),
            nn.AdaptiveAvgPool2d((1, 1)),
            # transform the four-dimensional output into two-dimensional output with a shape of (batch size, 10)
            nn.Flatten())

    class Inception(nn.Module):
        # c1--c4 are the number of output channels for each path
        def __init__(self, in_channels, c1, c2, c3, c4, **kwargs):
            super(Inception, self).__init__(**kwargs)
            # Path 1 is a single 1 x 1 convolutional layer
            self.p1_1 = nn.Conv2d(in_channels, c1, kernel_size=1)
            # Path 2 is a 1 x 1 convolutional layer followed by a 3 x 3 convolutional layer
            self.p2_1 = nn.Conv2d(in_channels, c2[0], kernel_size=1)
            self.p2_2 = nn.Conv2d(c2[0], c2[1], kernel_size=3, padding=1)
            # Path 3 is a 1 x 1 convolutional layer followed by a 5 x 5 convolutional layer
            self.p3_1 = nn.Conv2d(in_channels, c3[0], kernel_size=1)
            self.p3_2 = nn.Conv2d(c3[0], c3[1], kernel_size=5, padding=2)
            # Path 4 is a 3 x 3 maximum pooling layer followed by a 1 x 1 convolutional layer
            self.p4_1 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
            self.p4_2 = nn.Conv2d(in_channels, c4, kernel_size=1)

        def forward(self, x):
            p1 = F.relu(self.p1_1(x))
            p2 = F.relu(self.p2_2(F.relu(self.p2_1(x))))
            p3 = F.relu(self.p3_2(F.relu(self.p3_1(x))))
            p4 = F.relu(self.p4_2(self.p4_1(x)))
            # Concatenate the outputs on the channel dimension
            return torch.cat((p1, p2, p3, p4), dim=1)

    def googlenet_tiny():
        b1 = nn.Sequential(nn.Conv2d(1, 8, kernel_size=7, stride=2, padding=3), nn.ReLU(),
                           nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        b3 = nn.Sequential(Inception(8, 4, (4, 6), (2, 3), 3), Inception(16, 6, (4, 8), (2, 4), 4),
                           nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        return nn.Sequential(b1, b3, nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(22, 10))

    def batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum):
        # Use is_grad_enabled to determine whether we are in training mode
        if not torch.is_grad_enabled():
            # In prediction mode, use mean and variance obtained by moving average
            X_hat = (X - moving_mean) / torch.sqrt(moving_var + eps)
        else:
            assert len(X.shape) in (2, 4)
            if len(X.shape) == 2:
                # When using a fully connected layer, calculate the mean and variance on the feature dimension
                mean = X.mean(dim=0)
                var = ((X - mean) ** 2).mean(dim=0)
            else:
                # When using a 2D convolutional layer, calculate the mean and variance on the channel
                # dimension (axis=1). Here we keep the shape of X so that broadcasting works later
                mean = X.mean(dim=(0, 2, 3), keepdim=True)
                var = ((X - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
            # In training mode, the current mean and variance are used
            X_hat = (X - mean) / torch.sqrt(var + eps)
            # Update the mean and variance using moving average
            moving_mean = (1.0 - momentum) * moving_mean + momentum * mean
            moving_var = (1.0 - momentum) * moving_var + momentum * var
        Y = gamma * X_hat + beta  # scale and shift
        if data_spelling:
            return Y, moving_mean.data, moving_var.data
        return Y, moving_mean.detach(), moving_var.detach()

    class BatchNorm(nn.Module):
        # num_features: the number of outputs for a fully connected layer or the number of output
        # channels for a convolutional layer. num_dims: 2 for a fully connected layer and 4 for a
        # convolutional layer
        def __init__(self, num_features, num_dims):
            super().__init__()
            if num_dims == 2:
                shape = (1, num_features)
            else:
                shape = (1, num_features, 1, 1)
            # The scale parameter and the shift parameter (model parameters) are initialized to 1 and 0
            self.gamma = nn.Parameter(torch.ones(shape))
            self.beta = nn.Parameter(torch.zeros(shape))
            # The variables that are not model parameters are initialized to 0 and 1
            self.moving_mean = torch.zeros(shape)
            self.moving_var = torch.ones(shape)

        def forward(self, X):
            # If X is not on the main memory, copy moving_mean and moving_var to the device where X is located
            if self.moving_mean.device != X.device:
                self.moving_mean = self.moving_mean.to(X.device)
                self.moving_var = self.moving_var.to(X.device)
            # Save the updated moving_mean and moving_var
            Y, self.moving_mean, self.moving_var = batch_norm(
                X, self.gamma, self.beta, self.moving_mean,
                self.moving_var, eps=1e-5, momentum=0.1)
            return Y

    def lenet_bn(scratch, hw=16):
        s = ((hw - 4) // 2 - 4) // 2
        BN2 = (lambda c: BatchNorm(c, num_dims=4)) if scratch else nn.BatchNorm2d
        BN1 = (lambda c: BatchNorm(c, num_dims=2)) if scratch else nn.BatchNorm1d
        return nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5), BN2(6), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5), BN2(16), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2), nn.Flatten(),
            nn.Linear(16 * s * s, 12), BN1(12), nn.Sigmoid(),
            nn.Linear(12, 10))

    class Residual(nn.Module):
        def __init__(self, input_channels, num_channels, use_1x1conv=False, strides=1):
            super().__init__()
            self.conv1 = nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1, stride=strides)
            self.conv2 = nn.Conv2d(num_channels, num_channels, kernel_size=3, padding=1)
            if use_1x1conv:
                self.conv3 = nn.Conv2d(input_channels, num_channels, kernel_size=1, stride=strides)
            else:
                self.conv3 = None
            self.bn1 = nn.BatchNorm2d(num_channels)
            self.bn2 = nn.BatchNorm2d(num_channels)

        def forward(self, X):
            Y = F.relu(self.bn1(self.conv1(X)))
            Y = self.bn2(self.conv2(Y))
            if self.conv3:
                X = self.conv3(X)
            Y += X
            return F.relu(Y)

    def resnet_block(input_channels, num_channels, num_residuals, first_block=False):
        blk = []
        for i in range(num_residuals):
            if i == 0 and not first_block:
                blk.append(Residual(input_channels, num_channels, use_1x1conv=True, strides=2))
            else:
                blk.append(Residual(num_channels, num_channels))
        return blk

    def resnet_tiny():
        b1 = nn.Sequential(nn.Conv2d(1, 4, kernel_size=7, stride=2, padding=3), nn.BatchNorm2d(4), nn.ReLU(),
                           nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        b2 = nn.Sequential(*resnet_block(4, 4, 2, first_block=True))
        b3 = nn.Sequential(*resnet_block(4, 8, 2))
        return nn.Sequential(b1, b2, b3, nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(8, 10))

    def conv_block(input_channels, num_channels):
        return nn.Sequential(
            nn.BatchNorm2d(input_channels), nn.ReLU(),
            nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1))

    class DenseBlock(nn.Module):
        def __init__(self, num_convs, input_channels, num_channels):
            super(DenseBlock, self).__init__()
            layer = []
            for i in range(num_convs):
                layer.append(conv_block(num_channels * i + input_channels, num_channels))
            self.net = nn.Sequential(*layer)

        def forward(self, X):
            for blk in self.net:
                Y = blk(X)
                # Concatenate the input and output of each block on the channel dimension
                X = torch.cat((X, Y), dim=1)
            return X

    def transition_block(input_channels, num_channels):
        return nn.Sequential(
            nn.BatchNorm2d(input_channels), nn.ReLU(),
            nn.Conv2d(input_channels, num_channels, kernel_size=1),
            nn.AvgPool2d(kernel_size=2, stride=2))

    def densenet_tiny():
        b1 = nn.Sequential(nn.Conv2d(1, 6, kernel_size=3, stride=1, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                           nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        num_channels, growth_rate = 6, 4
        num_convs_in_dense_blocks = [2, 2]
        blks = []
        for i, num_convs in enumerate(num_convs_in_dense_blocks):
            blks.append(DenseBlock(num_convs, num_channels, growth_rate))
            num_channels += num_convs * growth_rate  # the number of output channels of the dense block
            if i != len(num_convs_in_dense_blocks) - 1:
                # a transition layer halves the number of channels
                blks.append(transition_block(num_channels, num_channels // 2))
                num_channels = num_channels // 2
        return nn.Sequential(b1, *blks, nn.BatchNorm2d(num_channels), nn.ReLU(),
                             nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(num_channels, 10))

    return SimpleNamespace(**{k: v for k, v in locals().items() if k not in ("torch", "nn")}, torch=torch, nn=nn)


def _cnn_programs(**kw):
    return _cnn_book(torch, tnn, **kw), _cnn_book(mg, mnn, **kw)


def test_corr2d_edge_detection_and_learning_a_kernel():
    tb, mb = _cnn_programs()
    out = {}
    for lib, book in ((torch, tb), (mg, mb)):
        X = lib.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
        K = lib.tensor([[0.0, 1.0], [2.0, 3.0]])
        r = dict(small=book.corr2d(X, K))
        X = lib.ones((6, 8))
        X[:, 2:6] = 0
        K = lib.tensor([[1.0, -1.0]])
        Y = book.corr2d(X, K)
        r.update(Y=Y, Yt=book.corr2d(X.t(), K))
        # the hand-written Conv2D module, trained by the book's loop (corr2d writes Y[i, j] in a graph)
        conv = book.Conv2D(kernel_size=(1, 2))
        _set(lib, conv.weight, [[0.3, 0.8]])
        losses = []
        for i in range(6):
            Y_hat = conv(X)
            l = (Y_hat - Y) ** 2
            conv.zero_grad()
            l.sum().backward()
            losses.append(l.sum().item())
            with lib.no_grad():
                conv.weight -= 3e-2 * conv.weight.grad
                conv.bias -= 3e-2 * conv.bias.grad
        r.update(conv_losses=losses, conv_w=conv.weight, conv_b=conv.bias)
        # nn.Conv2d learned with the book's update through .data
        conv2d = lib.nn.Conv2d(1, 1, kernel_size=(1, 2), bias=False)
        _set(lib, conv2d.weight, [[[[0.3, 0.8]]]])
        X4, Y4 = X.reshape((1, 1, 6, 8)), Y.reshape((1, 1, 6, 7))
        lr = 3e-2
        losses = []
        for i in range(10):
            Y_hat = conv2d(X4)
            l = (Y_hat - Y4) ** 2
            conv2d.zero_grad()
            l.sum().backward()
            losses.append(l.sum().item())
            if lib is torch:
                conv2d.weight.data[:] -= lr * conv2d.weight.grad
            else:  # port: the gradient as an array too (README, Autograd)
                conv2d.weight.data[:] -= lr * conv2d.weight.grad.data
        r.update(losses=losses, learned=conv2d.weight.data.reshape((1, 2)))
        out[lib.__name__] = r
    t, m = out["torch"], out["minigrad"]
    _close("corr2d", m["small"], np.array([[19.0, 25.0], [37.0, 43.0]]))
    for k in ("small", "Y", "Yt", "conv_w", "conv_b", "learned"):
        _close(k, m[k], t[k])
    np.testing.assert_allclose(m["conv_losses"], t["conv_losses"], **TOL)
    np.testing.assert_allclose(m["losses"], t["losses"], **TOL)
    assert m["losses"][-1] < 0.1 * m["losses"][0]
    # the book's update as written: NumPy's in-place operator cannot take a Tensor (documented)
    conv2d = mnn.Conv2d(1, 1, kernel_size=(1, 2), bias=False)
    conv2d(mg.ones(1, 1, 2, 3)).sum().backward()
    with pytest.raises(TypeError, match="Tensor"):
        conv2d.weight.data[:] -= 3e-2 * conv2d.weight.grad


def test_padding_stride_multichannel_and_1x1():
    tb, mb = _cnn_programs()
    rng = np.random.default_rng(20)
    Xs = rng.random((8, 8))
    shapes = {}
    for lib, book in ((torch, tb), (mg, mb)):
        nn = lib.nn
        X = lib.tensor(Xs)
        shapes[lib.__name__] = [tuple(book.comp_conv2d(c, X).shape) for c in (
            nn.Conv2d(1, 1, kernel_size=3, padding=1),
            nn.Conv2d(1, 1, kernel_size=(5, 3), padding=(2, 1)),
            nn.Conv2d(1, 1, kernel_size=3, padding=1, stride=2),
            nn.Conv2d(1, 1, kernel_size=(3, 5), padding=(0, 1), stride=(3, 4)))]
    assert shapes["minigrad"] == shapes["torch"] == [(8, 8), (8, 8), (4, 4), (2, 2)]
    out = {}
    for lib, book in ((torch, tb), (mg, mb)):
        X = lib.tensor([[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]],
                        [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]])
        K = lib.tensor([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]]])
        r = dict(multi_in=book.corr2d_multi_in(X, K))
        K = lib.stack((K, K + 1, K + 2), 0)
        r["K_shape"] = tuple(K.shape)
        r["multi_out"] = book.corr2d_multi_in_out(X, K)
        # against the library's conv2d
        r["conv"] = lib.nn.functional.conv2d(X.unsqueeze(0), K)[0]
        X = lib.tensor(rng.normal(0, 1, (3, 3, 3))) if lib is torch else lib.tensor(out["torch"]["X1"].numpy())
        K = lib.tensor(rng.normal(0, 1, (2, 3, 1, 1))) if lib is torch else lib.tensor(out["torch"]["K1"].numpy())
        Y1 = book.corr2d_multi_in_out_1x1(X, K)
        Y2 = book.corr2d_multi_in_out(X, K)
        assert float(lib.abs(Y1 - Y2).sum()) < 1e-6
        r.update(X1=X, K1=K, Y1=Y1)
        out[lib.__name__] = r
    t, m = out["torch"], out["minigrad"]
    _close("multi_in", m["multi_in"], np.array([[56.0, 72.0], [104.0, 120.0]]))
    assert m["K_shape"] == t["K_shape"] == (3, 2, 2, 2)
    for k in ("multi_in", "multi_out", "conv", "Y1"):
        _close(k, m[k], t[k])
    _close("corr2d_multi_in_out vs conv2d", m["multi_out"], m["conv"])


def test_pooling_from_scratch_and_layers():
    tb, mb = _cnn_programs()
    out = {}
    for lib, book in ((torch, tb), (mg, mb)):
        nn = lib.nn
        X = lib.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]], requires_grad=True)
        r = dict(mx=book.pool2d(X, (2, 2)), avg=book.pool2d(X, (2, 2), 'avg'))
        (r["mx"].sum() + r["avg"].pow(2).sum()).backward()   # the loops' Y[i, j] = ... writes, differentiated
        r["grad"] = X.grad
        X = lib.arange(16, dtype=lib.float32).reshape((1, 1, 4, 4))
        r["p3"] = nn.MaxPool2d(3)(X)
        r["p3s"] = nn.MaxPool2d(3, padding=1, stride=2)(X)
        r["p23"] = nn.MaxPool2d((2, 3), stride=(2, 3), padding=(0, 1))(X)
        X = lib.cat((X, X + 1), 1)
        r["chan"] = nn.MaxPool2d(3, padding=1, stride=2)(X)
        r["avgl"] = nn.AvgPool2d(2)(X)
        out[lib.__name__] = r
    t, m = out["torch"], out["minigrad"]
    _close("max pool", m["mx"], np.array([[4.0, 5.0], [7.0, 8.0]]))
    _close("avg pool", m["avg"], np.array([[2.0, 3.0], [5.0, 6.0]]))
    for k, v in t.items():
        _close(k, m[k], v)
    assert m["p3"].dtype == mg.float32


def test_lenet_train_ch6():
    rng = np.random.default_rng(21)
    X, y = rng.normal(size=(12, 1, 28, 28)), rng.integers(0, 10, 12)
    Xte, yte = rng.normal(size=(6, 1, 28, 28)), rng.integers(0, 10, 6)
    res = []
    for lib, book, cnn in zip((torch, mg), _programs(), _cnn_programs()):
        net = cnn.lenet()
        Xs = lib.rand(size=(1, 1, 28, 28), dtype=lib.float32)
        shapes = []
        net32 = cnn.lenet().float()
        for layer in net32:
            Xs = layer(Xs)
            shapes.append((layer.__class__.__name__, tuple(Xs.shape)))
        lib.manual_seed(0)
        net.apply(lambda m: lib.nn.init.xavier_uniform_(m.weight) if type(m) in (lib.nn.Linear, lib.nn.Conv2d) else None)
        if lib is torch:
            start = _snapshot(net)
        else:
            net.load_state_dict(start)
        train_iter = book.load_array((lib.tensor(X), lib.tensor(y)), 4, is_train=False)
        test_iter = book.load_array((lib.tensor(Xte), lib.tensor(yte)), 3, is_train=False)
        hist = cnn.train_ch6(net, train_iter, test_iter, 2, 0.9, book.try_gpu(), book, init=False)
        res.append((net, hist, shapes))
    (nt, ht, st), (nm, hm, sm) = res
    assert sm == st and sm[-1] == ("Linear", (1, 10)) and sm[6] == ("Flatten", (1, 400))
    np.testing.assert_allclose(np.array(hm), np.array(ht), **TOL)
    _same_params(nm, nt, "LeNet")
    _same_grads(nm, nt, "LeNet")


@pytest.mark.parametrize("arch", ["alexnet", "vgg", "nin", "googlenet", "resnet", "densenet"])
def test_modern_cnn_blocks_tiny(arch):
    """Each architecture's blocks at tiny widths: shapes layer by layer, 2 SGD steps in train mode
    (dropout off: p set to 0 after construction; BatchNorm in training mode), then eval outputs."""
    hw = {"alexnet": 67, "vgg": 8, "nin": 23, "googlenet": 16, "resnet": 16, "densenet": 8}[arch]
    rng = np.random.default_rng(22)
    X, y = rng.normal(size=(4, 1, hw, hw)), rng.integers(0, 10, 4)
    res = []
    for lib, cnn in zip((torch, mg), _cnn_programs()):
        net = {"alexnet": cnn.alexnet, "vgg": lambda: cnn.vgg(((1, 4), (2, 6)), hw),
               "nin": cnn.nin, "googlenet": cnn.googlenet_tiny, "resnet": cnn.resnet_tiny,
               "densenet": cnn.densenet_tiny}[arch]()
        for mod in net.modules():
            if isinstance(mod, lib.nn.Dropout):
                mod.p = 0.0
        if lib is torch:
            start = _snapshot(net)
        else:
            net.load_state_dict(start)
        shapes, Z = [], lib.tensor(X)
        for layer in net:
            Z = layer(Z)
            shapes.append((layer.__class__.__name__, tuple(Z.shape)))
        opt = lib.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        losses = []
        for step in range(2):
            opt.zero_grad()
            l = lib.nn.functional.cross_entropy(net(lib.tensor(X)), lib.tensor(y))
            l.backward()
            opt.step()
            losses.append(l.item())
        net.eval()
        res.append((net, shapes, losses, net(lib.tensor(X))))
    (nt, st, lt, et), (nm, sm, lm, em) = res
    assert sm == st and sm[-1][1] == (4, 10)
    np.testing.assert_allclose(lm, lt, **TOL)
    _same_grads(nm, nt, arch)
    _same_params(nm, nt, arch)
    assert list(nm.state_dict()) == list(nt.state_dict())
    for k, v in nt.state_dict().items():   # BatchNorm running statistics and num_batches_tracked too
        _close(f"{arch} state {k}", nm.state_dict()[k], v)
    _close(f"{arch} eval output", em, et)


def test_residual_block_shapes():
    for lib, cnn in zip((torch, mg), _cnn_programs()):
        blk = cnn.Residual(3, 3)
        X = lib.rand(4, 3, 6, 6)
        assert tuple(blk(X).shape) == (4, 3, 6, 6)
        assert blk.conv3 is None and "conv3" not in dict(blk.named_children())
        blk = cnn.Residual(3, 6, use_1x1conv=True, strides=2)
        assert tuple(blk(X).shape) == (4, 6, 3, 3)
        blk = cnn.DenseBlock(2, 3, 10)
        assert tuple(blk(lib.rand(4, 3, 8, 8)).shape) == (4, 23, 8, 8)
        assert tuple(cnn.transition_block(23, 10)(blk(lib.rand(4, 3, 8, 8))).shape) == (4, 10, 4, 4)
        assert tuple(cnn.Inception(8, 4, (4, 6), (2, 3), 3)(lib.rand(2, 8, 5, 5)).shape) == (2, 16, 5, 5)


@pytest.mark.parametrize("scratch", [True, False], ids=["from_scratch", "nn.BatchNorm"])
def test_batch_norm_lenet(scratch):
    """8.5: LeNet with the from-scratch BatchNorm (is_grad_enabled, moving statistics kept as plain tensors,
    moved with .to(X.device)) and with nn.BatchNorm2d/1d; train 3 SGD steps, then predict under no_grad."""
    rng = np.random.default_rng(23)
    X, y = rng.normal(size=(6, 1, 16, 16)), rng.integers(0, 10, 6)
    res = []
    for lib, cnn in zip((torch, mg), _cnn_programs()):
        net = cnn.lenet_bn(scratch)
        if lib is torch:
            start = _snapshot(net)
        else:
            net.load_state_dict(start)
        opt = lib.optim.SGD(net.parameters(), lr=0.5)
        losses = []
        for step in range(3):
            opt.zero_grad()
            l = lib.nn.CrossEntropyLoss()(net(lib.tensor(X[2 * step:2 * step + 4])), lib.tensor(y[2 * step:2 * step + 4]))
            l.backward()
            opt.step()
            losses.append(l.item())
        if scratch:
            stats = [(m.moving_mean, m.moving_var) for m in net if type(m).__name__ == "BatchNorm"]
            assert all(type(s) is lib.Tensor and not s.requires_grad for pair in stats for s in pair)
        else:
            net.eval()
            stats = [(m.running_mean, m.running_var) for m in net if "BatchNorm" in type(m).__name__]
        with lib.no_grad():
            pred = net(lib.tensor(X))
        res.append((net, losses, stats, pred, net[1].gamma.reshape((-1,)) if scratch else net[1].weight))
    (nt, lt, st, pt, gt), (nm, lm, sm, pm, gm) = res
    np.testing.assert_allclose(lm, lt, **TOL)
    _same_params(nm, nt, "LeNet-BN")
    _same_grads(nm, nt, "LeNet-BN")
    for i, ((a, b), (c, d)) in enumerate(zip(sm, st)):
        _close(f"moving mean {i}", a, c)
        _close(f"moving var {i}", b, d)
    _close("prediction", pm, pt)
    _close("gamma", gm, gt)


def test_batch_norm_from_scratch_book_spelling():
    """The book returns `moving_mean.data, moving_var.data`. In minigrad `.data` is the NumPy array
    (README), so the module's statistics become arrays: training still runs (and its statistics equal
    torch's), and prediction -- `torch.sqrt(moving_var + eps)` on an array -- is a TypeError that names
    the port, `.detach()` (which test_batch_norm_lenet uses)."""
    X = np.random.default_rng(24).normal(size=(4, 3, 2, 2))
    mb, tb = _cnn_book(mg, mnn, data_spelling=True), _cnn_book(torch, tnn, data_spelling=True)
    bn, tbn = mb.BatchNorm(3, num_dims=4), tb.BatchNorm(3, num_dims=4)
    for _ in range(2):
        Y, Yt = bn(mg.tensor(X)), tbn(torch.tensor(X))
    _close("training output", Y, Yt)
    for s, ts in zip((bn.moving_mean, bn.moving_var), (tbn.moving_mean, tbn.moving_var)):
        assert isinstance(s, np.ndarray)
        np.testing.assert_allclose(s, ts.numpy(), **TOL)
    with mg.no_grad(), pytest.raises(TypeError, match=r"sqrt: input must be a Tensor, got ndarray.*detach"):
        bn(mg.tensor(X))


# ================================================================ 12 optimisation algorithms
def _opt_book(torch, nn):  # noqa: C901
    """d2l's chapter 12 updaters, as the book writes them (except `p.grad.data.zero_()`, see below)."""

    def zero_grad(p):
        # book: p.grad.data.zero_(); `.data` is an array in minigrad (README), so the port is p.grad.zero_()
        if torch.__name__ == "minigrad":
            p.grad.zero_()
        else:
            p.grad.data.zero_()

    def sgd(params, states, hyperparams):
        for p in params:
            with torch.no_grad():
                p -= hyperparams['lr'] * p.grad
            zero_grad(p)

    def init_momentum_states(feature_dim):
        v_w = torch.zeros((feature_dim, 1))
        v_b = torch.zeros(1)
        return (v_w, v_b)

    def sgd_momentum(params, states, hyperparams):
        for p, v in zip(params, states):
            with torch.no_grad():
                v[:] = hyperparams['momentum'] * v + p.grad
                p[:] -= hyperparams['lr'] * v
            zero_grad(p)

    def init_adagrad_states(feature_dim):
        s_w = torch.zeros((feature_dim, 1))
        s_b = torch.zeros(1)
        return (s_w, s_b)

    def adagrad(params, states, hyperparams):
        eps = 1e-6
        for p, s in zip(params, states):
            with torch.no_grad():
                s[:] += torch.square(p.grad)
                p[:] -= hyperparams['lr'] * p.grad / torch.sqrt(s + eps)
            zero_grad(p)

    def init_rmsprop_states(feature_dim):
        s_w = torch.zeros((feature_dim, 1))
        s_b = torch.zeros(1)
        return (s_w, s_b)

    def rmsprop(params, states, hyperparams):
        gamma, eps = hyperparams['gamma'], 1e-6
        for p, s in zip(params, states):
            with torch.no_grad():
                s[:] = gamma * s + (1 - gamma) * torch.square(p.grad)
                p[:] -= hyperparams['lr'] * p.grad / torch.sqrt(s + eps)
            zero_grad(p)

    def init_adadelta_states(feature_dim):
        s_w, s_b = torch.zeros((feature_dim, 1)), torch.zeros(1)
        delta_w, delta_b = torch.zeros((feature_dim, 1)), torch.zeros(1)
        return ((s_w, delta_w), (s_b, delta_b))

    def adadelta(params, states, hyperparams):
        rho, eps = hyperparams['rho'], 1e-5
        for p, (s, delta) in zip(params, states):
            with torch.no_grad():
                # In-place updates via [:]
                s[:] = rho * s + (1 - rho) * torch.square(p.grad)
                g = (torch.sqrt(delta + eps) / torch.sqrt(s + eps)) * p.grad
                p[:] -= g
                delta[:] = rho * delta + (1 - rho) * g * g
            zero_grad(p)

    def init_adam_states(feature_dim):
        v_w, v_b = torch.zeros((feature_dim, 1)), torch.zeros(1)
        s_w, s_b = torch.zeros((feature_dim, 1)), torch.zeros(1)
        return ((v_w, s_w), (v_b, s_b))

    def adam(params, states, hyperparams):
        beta1, beta2, eps = 0.9, 0.999, 1e-6
        for p, (v, s) in zip(params, states):
            with torch.no_grad():
                v[:] = beta1 * v + (1 - beta1) * p.grad
                s[:] = beta2 * s + (1 - beta2) * torch.square(p.grad)
                v_bias_corr = v / (1 - beta1 ** hyperparams['t'])
                s_bias_corr = s / (1 - beta2 ** hyperparams['t'])
                p[:] -= hyperparams['lr'] * v_bias_corr / (torch.sqrt(s_bias_corr) + eps)
            zero_grad(p)
        hyperparams['t'] += 1

    def linreg(X, w, b):
        return torch.matmul(X, w) + b

    def squared_loss(y_hat, y):
        return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2

    def evaluate_loss(net, data_iter, loss):
        total, n = 0.0, 0
        for X, y in data_iter:
            out = net(X)
            l = loss(out, y.reshape(out.shape))
            total, n = total + float(l.sum()), n + l.numel()
        return total / n

    def train_ch11(trainer_fn, states, hyperparams, data_iter, feature_dim, w0, num_epochs=2):
        # Initialization
        w = torch.normal(mean=0.0, std=0.01, size=(feature_dim, 1), requires_grad=True)
        b = torch.zeros((1), requires_grad=True)
        _set(torch, w, w0)
        net, loss = lambda X: linreg(X, w, b), squared_loss
        # Train
        n, curve = 0, []
        for _ in range(num_epochs):
            for X, y in data_iter:
                l = loss(net(X), y).mean()
                l.backward()
                trainer_fn([w, b], states, hyperparams)
                n += X.shape[0]
                if n % 20 == 0:
                    curve.append(evaluate_loss(net, data_iter, loss))
        return w, b, curve

    def train_concise_ch11(trainer_fn, hyperparams, data_iter, w0, num_epochs=2, half=False):
        # Initialization
        net = nn.Sequential(nn.Linear(5, 1))

        def init_weights(m):
            if type(m) == nn.Linear:
                torch.nn.init.normal_(m.weight, std=0.01)

        net.apply(init_weights)
        _set(torch, net[0].weight, w0.T)
        _set(torch, net[0].bias, [0.0])   # the test's shared start (train_ch11's zeros)
        optimizer = trainer_fn(net.parameters(), **hyperparams)
        loss = nn.MSELoss(reduction='none')
        n, curve = 0, []
        for _ in range(num_epochs):
            for X, y in data_iter:
                optimizer.zero_grad()
                out = net(X)
                y = y.reshape(out.shape)
                l = loss(out, y)
                if half:  # the from-scratch squared_loss is half the MSE (for the comparison below)
                    l = l / 2
                l.mean().backward()
                optimizer.step()
                n += X.shape[0]
                if n % 20 == 0:
                    curve.append(evaluate_loss(net, data_iter, lambda a, b: loss(a, b) / 2))
        return net[0].weight.reshape((-1, 1)), net[0].bias, curve

    return SimpleNamespace(**{k: v for k, v in locals().items() if k not in ("torch", "nn")}, torch=torch, nn=nn)


def _airfoil_like(n=40, seed=25):
    """A stand-in for the book's airfoil data (5 standardised features, 1 target), no download."""
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(n, 6))
    data[:, -1] = data[:, :5] @ np.array([0.5, -1.0, 0.3, 0.8, -0.2]) + 0.1 * rng.normal(size=n)
    data = (data - data.mean(axis=0)) / data.std(axis=0)
    return data, rng.normal(0, 0.01, (5, 1))


OPTIMISERS = {  # name: (init_states, hyperparams, the torch.optim class and arguments with the same update)
    "sgd": (None, {'lr': 0.05}, ("SGD", {'lr': 0.05})),
    "sgd_momentum": ("init_momentum_states", {'lr': 0.02, 'momentum': 0.5}, ("SGD", {'lr': 0.02, 'momentum': 0.5})),
    "adagrad": ("init_adagrad_states", {'lr': 0.1}, None),        # torch: sqrt(s) + eps, the book sqrt(s + eps)
    "rmsprop": ("init_rmsprop_states", {'lr': 0.01, 'gamma': 0.9}, None),   # the same difference
    "adadelta": ("init_adadelta_states", {'rho': 0.9}, ("Adadelta", {'lr': 1.0, 'rho': 0.9, 'eps': 1e-5})),
    "adam": ("init_adam_states", {'lr': 0.01, 't': 1}, ("Adam", {'lr': 0.01, 'eps': 1e-6})),
}


@pytest.mark.parametrize("name", list(OPTIMISERS))
def test_optimisers_from_scratch_train_ch11(name):
    init, hyper, concise = OPTIMISERS[name]
    data, w0 = _airfoil_like()
    res = []
    for lib, ob, book in zip((torch, mg), (_opt_book(torch, tnn), _opt_book(mg, mnn)), _programs()):
        features = lib.tensor(data[:, :-1])
        labels = lib.tensor(data[:, -1])
        data_iter = book.load_array((features, labels), 10, is_train=False)
        states = getattr(ob, init)(5) if init else None
        w, b, curve = ob.train_ch11(getattr(ob, name), states, dict(hyper), data_iter, 5, w0)
        r = dict(w=w, b=b, curve=curve, states=states)
        if concise:
            cls, kw = concise
            cw, cb, ccurve = ob.train_concise_ch11(getattr(lib.optim, cls), kw, data_iter, w0)
            r.update(cw=cw, cb=cb, ccurve=ccurve)
            r["half"] = ob.train_concise_ch11(getattr(lib.optim, cls), kw, data_iter, w0, half=True)
        res.append(r)
    t, m = res
    assert len(m["curve"]) == 4
    np.testing.assert_allclose(m["curve"], t["curve"], **TOL)
    _close("w", m["w"], t["w"])
    _close("b", m["b"], t["b"])
    if init:
        flat = lambda s: [x for pair in s for x in (pair if isinstance(pair, tuple) else (pair,))]  # noqa: E731
        for i, (a, c) in enumerate(zip(flat(m["states"]), flat(t["states"]))):
            _close(f"state {i}", a, c)
    assert m["curve"][-1] < m["curve"][0]
    if concise:
        np.testing.assert_allclose(m["ccurve"], t["ccurve"], **TOL)
        _close("concise w", m["cw"], t["cw"])
        _close("concise b", m["cb"], t["cb"])
        # where the update rules coincide, the book's from-scratch updater and torch.optim agree
        # (Adam: the book's sqrt(s / (1 - b2^t)) + eps is torch's sqrt(s) / sqrt(1 - b2^t) + eps, up to rounding)
        # (on the same loss: the book's concise version trains on the MSE, twice squared_loss)
        hw, hb, hcurve = m["half"]
        np.testing.assert_allclose(hcurve, m["curve"], rtol=1e-12 if name != "adam" else 1e-10)
        _close("scratch vs optim w", hw, m["w"], rtol=1e-12 if name != "adam" else 1e-10)
        _close("scratch vs optim b", hb, m["b"], rtol=1e-12 if name != "adam" else 1e-10, atol=1e-14)


def test_gradient_descent_newton_and_grad_zero_spelling():
    """12.3's Newton's method on cosh(c x) (tensors mixed with Python floats), and the book's
    `p.grad.data.zero_()` (a documented AttributeError: `.data` is an array; port p.grad.zero_())."""
    res = []
    for lib in (torch, mg):
        c = lib.tensor(0.5)

        def f_grad(x):  # gradient of the objective function
            return c * lib.sinh(c * x)

        def f_hess(x):  # Hessian of the objective function
            return c ** 2 * lib.cosh(c * x)

        x, results = 10.0, [10.0]
        for i in range(10):
            x -= 1 * f_grad(x) / f_hess(x)
            results.append(float(x))
        res.append(results)
    np.testing.assert_allclose(res[1], res[0], **TOL)
    assert abs(res[1][-1]) < 1e-6
    p = mg.zeros(2, requires_grad=True)
    (p * 3).sum().backward()
    with pytest.raises(AttributeError, match="zero_"):
        p.grad.data.zero_()
