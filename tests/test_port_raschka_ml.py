"""Porting audit: Raschka, Liu & Mirjalili, "Machine Learning with PyTorch and Scikit-Learn", chapters 12-16.

The book's programs are written ONCE, as its readers type them (our own code from the book's recipes;
sklearn / torchvision / torchtext are not used: the data are generated with NumPy), over a namespace `L`
that is either torch or minigrad. Both runs start from the same weights (torch's state_dict copied into
ours), train a few steps on tiny data, and are compared: losses, accuracies, outputs, gradients and the
parameters after training (float64: rtol 1e-7; the float32 runs of the book's exact `.float()` code:
rtol 1e-5 and the dtype asserted float32).

Programs:
* ch12: tensor basics (from_numpy, transpose/reshape/squeeze, multiply/mean/matmul, linalg.norm,
  chunk/split/cat/stack); DataLoader over a plain tensor (drop_last), TensorDataset, the JointDataset
  subclass of Dataset, shuffled epochs; linear regression by hand (`weight = torch.randn(1);
  weight.requires_grad_()`, `with torch.no_grad(): weight -= weight.grad * lr; weight.grad.zero_()`) and
  with nn.Linear + optim.SGD + nn.MSELoss; the Iris MLP (nn.Module with Sigmoid/Softmax built inside
  forward, CrossEntropyLoss on the softmax output, Adam, argmax accuracy); saving the model:
  `torch.save(model, path)` (whole module) is refused with a TypeError that names the port
  (model.state_dict()), the state_dict route round-trips.
* ch13: the computation graph (torch.sub/mul/add), gradients of w and b checked against the
  closed form and torch.autograd.grad, nn.init.xavier_normal_ (on a leaf that requires grad, inside
  a Module), nn.Sequential with xavier_uniform_ and an L1 penalty, the XOR classifier (nn.Sequential and
  an nn.ModuleList-based Module with predict()), the NoisyLinear layer (torch.normal noise in training
  only), the Auto-MPG regression (torch.bucketize, one_hot of a `% total_origin` tensor), the MNIST MLP
  (nn.Flatten over ToTensor-style images and over raw `uint8 / 255.`, f-string logs of 0-d tensors).
* ch14: the BCE / CE / NLL losses on logits and probabilities, L2 penalty over parameters,
  SGD(weight_decay=), the MNIST-style CNN and the smile classifier built with add_module (Conv2d,
  MaxPool2d, Dropout(p=0.5), AvgPool2d global pooling, Flatten, Sigmoid + BCELoss), the flattened
  size read from `model(torch.ones(...)).shape`.
* ch15: the nn.RNN forward reproduced by hand from weight_ih_l0 & co.; the IMDb-style sentiment RNN
  (Embedding(padding_idx=0), pad_sequence collate_fn, pack_padded_sequence(lengths.cpu().numpy(),
  enforce_sorted=False, batch_first=True), LSTM / RNN / bidirectional LSTM with hidden[-1] and
  cat(hidden[-2], hidden[-1])); the character-level language model (stateful LSTM one step at a time,
  `loss = 0; loss += loss_fn(pred, target_batch[:, c])`, sampling with Categorical(logits=...) and
  temperature, `int2char[last_char]` indexing a NumPy array with a 0-d tensor).
* ch16: self-attention from scratch (omega filled element by element with torch.dot, softmax, context
  vectors, U_query/U_key/U_value projections, multi-head with torch.rand(h, d, d), repeat and bmm), also
  with the graph kept through the element-wise writes and gradients compared.

Porting notes (what a user must change; all documented in README.md):
* `torch.Tensor(in, out)` (NoisyLinear) is refused with a TypeError naming `mg.empty(*sizes)`;
  `torch.Tensor(n).fill_(0)` is the number n (0-d int64) and `nn.Parameter` of it is a TypeError naming
  `mg.empty(n)`. The port writes `torch.empty(in, out)` / `torch.empty(n).fill_(0)`.
* `torch.save(model, path)` (pickling the whole module): minigrad never pickles; save the state_dict.
  (Audit fix: the TypeError now says so.)
* `torch.cat([A, B], axis=0)` / `torch.stack(..., axis=1)` (ch12): torch takes axis= for dim= on every
  native function; minigrad took it only on reductions. (Audit fix: test_axis_keyword_alias.)
* Mixing float32 and float64 is a TypeError (torch upcasts), so a float64 run replaces the book's
  `.float()` by `.double()`; that includes comparisons: `(pred >= 0.5).float() == y_batch` with float64
  labels is refused (torch compares). float32 == int64 labels works, as in the book.
"""
import contextlib
import io
import os
import re
from collections import Counter, OrderedDict
from types import SimpleNamespace

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as mF
from porting import to_numpy

torch = pytest.importorskip("torch")

TOL64 = dict(rtol=1e-7, atol=1e-10)
TOL32 = dict(rtol=2e-5, atol=1e-6)


def _libs(dtype_name):
    th = SimpleNamespace(torch=torch, nn=torch.nn, F=torch.nn.functional, optim=torch.optim,
                         data=torch.utils.data, dtype=getattr(torch, dtype_name), name="torch",
                         Categorical=torch.distributions.categorical.Categorical)
    ours = SimpleNamespace(torch=mg, nn=mg.nn, F=mF, optim=mg.optim,
                           data=mg.utils.data, dtype=getattr(mg, dtype_name), name="minigrad",
                           Categorical=mg.distributions.categorical.Categorical)
    return th, ours


TH, MG = _libs("float64")
TH32, MG32 = _libs("float32")


@contextlib.contextmanager
def _default_dtype(name):
    """Both libraries build parameters of dtype `name`."""
    old_t, old_m = torch.get_default_dtype(), mg.get_default_dtype()
    torch.set_default_dtype(getattr(torch, name))
    mg.set_default_dtype(getattr(mg, name))
    try:
        yield
    finally:
        torch.set_default_dtype(old_t)
        mg.set_default_dtype(old_m)


@pytest.fixture
def float64():
    """Both libraries build float64 parameters."""
    with _default_dtype("float64"):
        yield


def _close(what, ours, theirs, tol=TOL64, dtype=True):
    a, b = to_numpy(ours), to_numpy(theirs)
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs torch {b.shape}"
    if dtype:
        assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} vs torch {b.dtype}"
    np.testing.assert_allclose(a, b, err_msg=what, **tol)


def _copy_weights(th_model, mg_model):
    """torch's initial weights into ours (every key must match: strict load)."""
    mg_model.load_state_dict({k: v.detach().numpy().copy() for k, v in th_model.state_dict().items()})


def _cmp_models(what, ours, theirs, tol=TOL64):
    o, t = dict(ours.named_parameters()), dict(theirs.named_parameters())
    assert list(o) == list(t), f"{what}: parameter names {list(o)} vs torch {list(t)}"
    for k in o:
        _close(f"{what}: {k}", o[k], t[k], tol)
        if t[k].grad is not None:
            _close(f"{what}: {k}.grad", o[k].grad, t[k].grad, tol)


def _cast(L, t):
    """The book's `.float()`; `.double()` in the float64 runs."""
    return t.float() if L.dtype in (torch.float32, mg.float32) else t.double()


# ------------------------------------------------------------------------------------------------ ch12


def ch12_tensor_basics(L):
    torch = L.torch
    a = [1, 2, 3]
    b = np.array([4, 5, 6], dtype=np.int32)
    t_a = torch.tensor(a)
    t_b = torch.from_numpy(b)
    out = {"t_a": t_a, "t_b": t_b, "ones": torch.ones(2, 3)}
    np.random.seed(1)
    rand_tensor = torch.tensor(np.random.rand(2, 3))        # float64 from NumPy
    out["rand"] = rand_tensor
    t_a_new = t_a.to(torch.int64)
    out["to"] = t_a_new
    t = torch.tensor(np.random.rand(3, 5))
    out["transpose"] = torch.transpose(t, 0, 1)
    t = torch.zeros(30)
    out["reshape"] = t.reshape(5, 6)
    t = torch.zeros(1, 2, 1, 4, 1)
    out["squeeze"] = torch.squeeze(t, 2)
    t1 = torch.tensor(np.random.uniform(-1, 1, (5, 2)))
    t2 = torch.tensor(np.random.normal(0, 1, (5, 2)))
    out["multiply"] = torch.multiply(t1, t2)
    out["mean"] = torch.mean(t1, axis=0)
    out["matmul"] = torch.matmul(t1, torch.transpose(t2, 0, 1))
    out["matmul_t"] = torch.matmul(torch.transpose(t1, 0, 1), t2)
    out["norm"] = torch.linalg.norm(t1, ord=2, dim=1)
    t = torch.tensor(np.random.rand(6))
    out["chunk"] = torch.chunk(t, 3)
    t = torch.tensor(np.random.rand(5))
    out["split"] = torch.split(t, split_size_or_sections=[3, 2])
    A = torch.ones(3)
    B = torch.zeros(2)
    out["cat"] = torch.cat([A, B], axis=0)
    A = torch.ones(3)
    B = torch.zeros(3)
    out["stack"] = torch.stack([A, B], axis=1)
    return out


def test_ch12_tensor_basics():
    theirs, ours = ch12_tensor_basics(TH32), ch12_tensor_basics(MG32)
    for k in theirs:
        if isinstance(theirs[k], tuple):
            assert len(ours[k]) == len(theirs[k]), k
            for i, (o, t) in enumerate(zip(ours[k], theirs[k])):
                _close(f"{k}[{i}]", o, t)
        else:
            _close(k, ours[k], theirs[k])


def ch12_dataloaders(L):
    torch, data = L.torch, L.data
    out = {}
    t = torch.arange(6, dtype=torch.float32)
    data_loader = data.DataLoader(t)
    out["plain"] = [item for item in data_loader]
    data_loader = data.DataLoader(t, batch_size=3, drop_last=False)
    out["batches"] = [batch for batch in data_loader]
    data_loader = data.DataLoader(t, batch_size=4, drop_last=True)
    out["drop_last"] = [batch for batch in data_loader]

    np.random.seed(1)
    t_x = torch.tensor(np.random.rand(4, 3)).float()
    t_y = torch.arange(4)

    class JointDataset(data.Dataset):
        def __init__(self, x, y):
            self.x = x
            self.y = y

        def __len__(self):
            return len(self.x)

        def __getitem__(self, idx):
            return self.x[idx], self.y[idx]

    joint_dataset = JointDataset(t_x, t_y)
    out["joint_items"] = [example for example in joint_dataset]
    tensor_ds = data.TensorDataset(t_x, t_y)
    out["tensor_ds_items"] = [example for example in tensor_ds]
    torch.manual_seed(1)
    data_loader = data.DataLoader(dataset=joint_dataset, batch_size=2, shuffle=True)
    epochs = []
    for epoch in range(2):
        batches = []
        for i, batch in enumerate(data_loader, 1):
            batches.append(batch)
        epochs.append(batches)
    out["shuffled"] = epochs
    out["t_x"] = t_x
    return out


def test_ch12_dataloaders():
    theirs, ours = ch12_dataloaders(TH32), ch12_dataloaders(MG32)
    for k in ("plain", "batches", "drop_last"):
        assert len(ours[k]) == len(theirs[k]), k
        for i, (o, t) in enumerate(zip(ours[k], theirs[k])):
            _close(f"{k}[{i}]", o, t)
    for k in ("joint_items", "tensor_ds_items"):
        assert len(ours[k]) == 4
        for i, ((ox, oy), (tx, ty)) in enumerate(zip(ours[k], theirs[k])):
            _close(f"{k}[{i}].x", ox, tx)
            _close(f"{k}[{i}].y", oy, ty)
    # shuffled epochs: torch's and minigrad's generators differ, so compare the structure: each epoch is
    # a permutation of the 4 examples in two (x, y) batches of 2, rows kept together with their label
    tx = to_numpy(ours["t_x"])
    for batches in ours["shuffled"]:
        assert len(batches) == 2
        seen = []
        for bx, by in batches:
            assert tuple(bx.shape) == (2, 3) and tuple(by.shape) == (2,)
            assert bx.dtype == mg.float32 and by.dtype == mg.int64
            np.testing.assert_array_equal(to_numpy(bx), tx[to_numpy(by)])
            seen += list(to_numpy(by))
        assert sorted(seen) == [0, 1, 2, 3]


def ch12_linreg_by_hand(L, X_train, y_train, w0, b0):
    torch, data = L.torch, L.data
    X_train_norm = (X_train - np.mean(X_train)) / np.std(X_train)
    X_train_norm = _cast(L, torch.from_numpy(X_train_norm))
    y_train = _cast(L, torch.from_numpy(y_train))
    train_ds = data.TensorDataset(X_train_norm, y_train)
    train_dl = data.DataLoader(train_ds, batch_size=2, shuffle=False)

    torch.manual_seed(1)
    weight = torch.randn(1, dtype=L.dtype)
    weight.requires_grad_()
    bias = torch.zeros(1, dtype=L.dtype, requires_grad=True)
    with torch.no_grad():                         # the shared starting point
        weight.copy_(_cast(L, torch.tensor([w0])))
        bias.copy_(_cast(L, torch.tensor([b0])))

    def loss_fn(input, target):
        return (input - target).pow(2).mean()

    def model(xb):
        return xb @ weight + bias

    learning_rate = 0.001
    losses = []
    for epoch in range(3):
        for x_batch, y_batch in train_dl:
            pred = model(x_batch)
            loss = loss_fn(pred, y_batch.long())      # the book's .long() target: float - int64 is float
            loss.backward()                           # gradients accumulate over the epoch's batches
            losses.append(loss.item())
        with torch.no_grad():
            weight -= weight.grad * learning_rate
            bias -= bias.grad * learning_rate
            weight.grad.zero_()
            bias.grad.zero_()
    X_test = np.linspace(0, 9, num=5).reshape(-1, 1)
    X_test_norm = (X_test - np.mean(X_train)) / np.std(X_train)
    X_test_norm = _cast(L, torch.from_numpy(X_test_norm))
    y_pred = model(X_test_norm).detach()
    return losses, weight.detach(), bias.detach(), y_pred


def ch12_linreg_nn(L, X_train, y_train, state):
    torch, nn, data = L.torch, L.nn, L.data
    X_train_norm = _cast(L, torch.from_numpy((X_train - np.mean(X_train)) / np.std(X_train)))
    y_train = _cast(L, torch.from_numpy(y_train))
    train_dl = data.DataLoader(data.TensorDataset(X_train_norm, y_train), batch_size=2, drop_last=True)
    input_size, output_size = 1, 1
    model = nn.Linear(input_size, output_size)
    if state is None:
        state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    else:
        model.load_state_dict(state)
    loss_fn = nn.MSELoss(reduction="mean")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    losses = []
    for epoch in range(3):
        for x_batch, y_batch in train_dl:
            pred = model(x_batch)[:, 0]
            loss = loss_fn(pred, y_batch)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())
    return losses, model.weight.detach(), model.bias.detach(), state


@pytest.mark.parametrize("libs", [(TH, MG), (TH32, MG32)], ids=["float64", "float32"])
def test_ch12_linear_regression(libs):
    th, ours = libs
    tol = TOL64 if th.dtype == torch.float64 else TOL32
    with _default_dtype(str(th.dtype).split(".")[1]):
        _linear_regression(th, ours, tol)


def _linear_regression(th, ours, tol):
    X_train = np.arange(10, dtype="float32").reshape((10, 1))
    y_train = np.array([1.0, 1.3, 3.1, 2.0, 5.0, 6.3, 6.6, 7.4, 8.0, 9.0], dtype="float32")
    t = ch12_linreg_by_hand(th, X_train, y_train, 0.66, 0.1)
    o = ch12_linreg_by_hand(ours, X_train, y_train, 0.66, 0.1)
    assert len(o[0]) == 3 * 5
    _close("by hand: losses", np.array(o[0]), np.array(t[0]), tol)
    for what, a, b in zip(("weight", "bias", "y_pred"), o[1:], t[1:]):
        _close(f"by hand: {what}", a, b, tol)
    assert o[1].dtype == ours.dtype and o[3].dtype == ours.dtype
    t = ch12_linreg_nn(th, X_train, y_train, None)
    o = ch12_linreg_nn(ours, X_train, y_train, t[3])
    assert len(o[0]) == 3 * 5
    _close("nn.Linear: losses", np.array(o[0]), np.array(t[0]), tol)
    _close("nn.Linear: weight", o[1], t[1], tol)
    _close("nn.Linear: bias", o[2], t[2], tol)


def _iris_like(n=24, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = rng.normal(size=(n, 4)) + y[:, None] * np.array([1.0, -0.5, 2.0, 1.5])
    return X, y


def ch12_iris(L, X_train, y_train, X_test, y_test, th_model=None):
    torch, nn, data = L.torch, L.nn, L.data
    X_train_norm = (X_train - np.mean(X_train)) / np.std(X_train)
    X_train_norm = _cast(L, torch.from_numpy(X_train_norm))
    y_train = torch.from_numpy(y_train)
    train_ds = data.TensorDataset(X_train_norm, y_train)
    batch_size = 2
    train_dl = data.DataLoader(train_ds, batch_size, shuffle=False)

    class Model(nn.Module):
        def __init__(self, input_size, hidden_size, output_size):
            super().__init__()
            self.layer1 = nn.Linear(input_size, hidden_size)
            self.layer2 = nn.Linear(hidden_size, output_size)

        def forward(self, x):
            x = self.layer1(x)
            x = nn.Sigmoid()(x)
            x = self.layer2(x)
            x = nn.Softmax(dim=1)(x)
            return x

    input_size = X_train_norm.shape[1]
    hidden_size = 16
    output_size = 3
    model = Model(input_size, hidden_size, output_size)
    if th_model is not None:
        _copy_weights(th_model, model)
    learning_rate = 0.001
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    num_epochs = 3
    loss_hist = [0] * num_epochs
    accuracy_hist = [0] * num_epochs
    for epoch in range(num_epochs):
        for x_batch, y_batch in train_dl:
            pred = model(x_batch)
            loss = loss_fn(pred, y_batch)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            loss_hist[epoch] += loss.item() * y_batch.size(0)
            is_correct = (torch.argmax(pred, dim=1) == y_batch).float()
            accuracy_hist[epoch] += is_correct.sum()
        loss_hist[epoch] /= len(train_dl.dataset)
        accuracy_hist[epoch] /= len(train_dl.dataset)
    X_test_norm = _cast(L, torch.from_numpy((X_test - np.mean(X_train)) / np.std(X_train)))
    y_test = torch.from_numpy(y_test)
    pred_test = model(X_test_norm)
    correct = (torch.argmax(pred_test, dim=1) == y_test).float()
    accuracy = correct.mean()
    return model, loss_hist, [float(a) for a in accuracy_hist], accuracy, pred_test.detach(), Model


def test_ch12_iris_mlp_and_save(float64, tmp_path):
    X, y = _iris_like()
    Xt, yt = _iris_like(9, seed=1)
    torch.manual_seed(1)
    t = ch12_iris(TH, X, y, Xt, yt)
    o = ch12_iris(MG, X, y, Xt, yt, th_model=_iris_init(TH))
    _close("loss_hist", np.array(o[1]), np.array(t[1]))
    _close("accuracy_hist", np.array(o[2]), np.array(t[2]))
    _close("test accuracy", o[3], t[3])
    assert o[3].dtype == mg.float32            # `.float()` in the book: float32 even in a float64 run
    _close("test predictions", o[4], t[4])
    _cmp_models("trained", o[0], t[0])

    # Saving the whole model (torch.save(model, path)): minigrad never pickles, so a Module is refused with
    # a TypeError that says what to save instead.
    model, Model = o[0], o[5]
    path = str(tmp_path / "iris_classifier.pt")
    with pytest.raises(TypeError, match=r"save: cannot store Model.*state_dict\(\)"):
        mg.save(model, path)
    assert not os.path.exists(path)
    # ...and the state_dict route restores it exactly
    mg.save(model.state_dict(), path)
    model_new = Model(4, 16, 3)
    model_new.load_state_dict(mg.load(path))
    x = mg.from_numpy(Xt)
    np.testing.assert_array_equal(to_numpy(model_new(x)), to_numpy(model(x)))
    buf = io.BytesIO()
    with pytest.raises(TypeError, match=r"state_dict"):
        mg.save({"model": model, "epoch": 3}, buf)   # a module nested in a checkpoint dict too


def _iris_init(L):
    L.torch.manual_seed(1)
    nn = L.nn

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer1 = nn.Linear(4, 16)
            self.layer2 = nn.Linear(16, 3)

    return Model()


# ------------------------------------------------------------------------------------------------ ch13


def test_ch13_computation_graph_and_grads():
    def compute_z(L, a, b, c):
        r1 = L.torch.sub(a, b)
        r2 = L.torch.mul(r1, 2)
        z = L.torch.add(r2, c)
        return z

    for L in (TH32, MG32):
        T = L.torch
        assert compute_z(L, T.tensor(1), T.tensor(2), T.tensor(3)).item() == 1
        np.testing.assert_array_equal(to_numpy(compute_z(L, T.tensor([1]), T.tensor([2]), T.tensor([3]))), [1])
        np.testing.assert_array_equal(to_numpy(compute_z(L, T.tensor([[1]]), T.tensor([[2]]), T.tensor([[3]]))),
                                      [[1]])
    res = {}
    for L in (TH32, MG32):
        T = L.torch
        a = T.tensor(3.14, requires_grad=True)
        b = T.tensor([1.0, 2.0, 3.0], requires_grad=True)
        assert a.requires_grad and b.requires_grad
        w = T.tensor([1.0, 2.0, 3.0])
        assert not w.requires_grad
        w.requires_grad_()
        assert w.requires_grad
        w = T.tensor(1.0, requires_grad=True)
        b = T.tensor(0.5, requires_grad=True)
        x = T.tensor([1.4])
        y = T.tensor([2.1])
        z = T.add(T.mul(w, x), b)
        loss = (y - z).pow(2).sum()
        (gw_functional,) = T.autograd.grad(loss, w, retain_graph=True)
        loss.backward()
        # verifying the gradient with the closed form
        closed = 2 * x * ((w * x + b) - y)
        res[L.name] = (w.grad, b.grad, gw_functional, closed.detach())
        assert w.grad.dtype == L.dtype and b.grad.shape == ()
    for i, what in enumerate(("w.grad", "b.grad", "autograd.grad(loss, w)", "closed form")):
        _close(what, res["minigrad"][i], res["torch"][i], TOL32)
    _close("w.grad == closed form", res["minigrad"][0].reshape(1), res["minigrad"][3], TOL32)


def test_ch13_xavier_init():
    """nn.init.xavier_normal_ on a plain tensor and on a leaf that requires grad (inside a Module's __init__):
    the generators differ, so the values are compared by their spread, std = sqrt(2 / (fan_in + fan_out))."""
    mg.manual_seed(1)
    w = mg.empty(60, 90)
    mg.nn.init.xavier_normal_(w)
    std = (2.0 / (60 + 90)) ** 0.5
    # the sample std of 5400 normals is within 4 standard errors (std / sqrt(2 n)) of the truth
    assert abs(float(w.std()) - std) < 4 * std / (2 * w.numel()) ** 0.5
    assert abs(float(w.mean())) < 4 * std / w.numel() ** 0.5

    class MyModule(mg.nn.Module):
        def __init__(self):
            super().__init__()
            self.w1 = mg.empty(2, 3, requires_grad=True)
            mg.nn.init.xavier_normal_(self.w1)
            self.w2 = mg.empty(1, 2, requires_grad=True)
            mg.nn.init.xavier_normal_(self.w2)

    m = MyModule()
    assert m.w1.requires_grad and m.w1.is_leaf and m.w1.grad_fn is None
    assert float(m.w1.abs().sum()) > 0
    # plain tensor attributes are not parameters, in torch as here
    assert list(m.parameters()) == []
    tm = torch.nn.Module()
    tm.w1 = torch.empty(2, 3, requires_grad=True)
    assert list(tm.parameters()) == []


def ch13_sequential_l1(L, x, y, th_model=None):
    nn, torch = L.nn, L.torch
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 32), nn.ReLU())
    nn.init.xavier_uniform_(model[0].weight)
    if th_model is not None:
        _copy_weights(th_model, model)
    l1_weight = 0.01
    l1_penalty = l1_weight * model[2].weight.abs().sum()
    loss_fn = nn.BCELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.001)
    out = torch.sigmoid(model(x)).mean(dim=1)
    loss = loss_fn(out, y) + l1_penalty
    loss.backward()
    optimizer.step()
    return model, loss.item()


def test_ch13_sequential_l1(float64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 4))
    y = (rng.random(5) > 0.5).astype(np.float64)
    torch.manual_seed(1)
    tm, tl = ch13_sequential_l1(TH, torch.tensor(x), torch.tensor(y))
    # the copy must be of the INITIAL weights: rebuild torch's initial model from the same seed
    torch.manual_seed(1)
    init = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 32), torch.nn.ReLU())
    torch.nn.init.xavier_uniform_(init[0].weight)
    om, ol = ch13_sequential_l1(MG, mg.tensor(x), mg.tensor(y), th_model=init)
    _close("loss", np.array(ol), np.array(tl))
    _cmp_models("after one SGD step", om, tm)


def _xor_data(n=40, seed=1):
    np.random.seed(seed)
    x = np.random.uniform(low=-1, high=1, size=(n, 2))
    y = np.ones(len(x))
    y[x[:, 0] * x[:, 1] < 0] = 0
    n_train = n // 2
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def ch13_xor(L, model, x_train, y_train, x_valid, y_valid, num_epochs=3, batch_size=2, training_kw=False):
    torch, nn, data = L.torch, L.nn, L.data
    x_train = _cast(L, torch.tensor(x_train))
    y_train = _cast(L, torch.tensor(y_train))
    x_valid = _cast(L, torch.tensor(x_valid))
    y_valid = _cast(L, torch.tensor(y_valid))
    train_ds = data.TensorDataset(x_train, y_train)
    train_dl = data.DataLoader(train_ds, batch_size, shuffle=False)
    loss_fn = nn.BCELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.015)
    n_train = len(x_train)
    loss_hist_train = [0] * num_epochs
    accuracy_hist_train = [0] * num_epochs
    loss_hist_valid = [0] * num_epochs
    accuracy_hist_valid = [0] * num_epochs
    for epoch in range(num_epochs):
        for x_batch, y_batch in train_dl:
            pred = (model(x_batch, True) if training_kw else model(x_batch))[:, 0]
            loss = loss_fn(pred, y_batch)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            loss_hist_train[epoch] += loss.item()
            is_correct = (_cast(L, pred >= 0.5) == y_batch).float()
            accuracy_hist_train[epoch] += is_correct.mean()
        loss_hist_train[epoch] /= n_train / batch_size
        accuracy_hist_train[epoch] /= n_train / batch_size
        pred = model(x_valid)[:, 0]
        loss = loss_fn(pred, y_valid)
        loss_hist_valid[epoch] = loss.item()
        is_correct = (_cast(L, pred >= 0.5) == y_valid).float()
        accuracy_hist_valid[epoch] += is_correct.mean()
    return (np.array(loss_hist_train), np.array([float(a) for a in accuracy_hist_train]),
            np.array(loss_hist_valid), np.array([float(a) for a in accuracy_hist_valid]))


def xor_sequential(L):
    nn = L.nn
    return nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1), nn.Sigmoid())


def xor_module(L):
    nn, torch = L.nn, L.torch

    class MyModule(nn.Module):
        def __init__(self):
            super().__init__()
            l1 = nn.Linear(2, 4)
            a1 = nn.ReLU()
            l2 = nn.Linear(4, 4)
            a2 = nn.ReLU()
            l3 = nn.Linear(4, 1)
            a3 = nn.Sigmoid()
            l = [l1, a1, l2, a2, l3, a3]
            self.module_list = nn.ModuleList(l)

        def forward(self, x):
            for f in self.module_list:
                x = f(x)
            return x

        def predict(self, x):
            x = torch.tensor(x, dtype=L.dtype)
            pred = self.forward(x)[:, 0]
            return _cast(L, pred >= 0.5)

    return MyModule()


def xor_noisy(L, noise_stddev=0.07):
    nn, torch = L.nn, L.torch

    class NoisyLinear(nn.Module):
        def __init__(self, input_size, output_size, noise_stddev=0.1):
            super().__init__()
            w = torch.empty(input_size, output_size)     # the book's torch.Tensor(in, out): see the module doc
            self.w = nn.Parameter(w)
            nn.init.xavier_uniform_(self.w)
            b = torch.empty(output_size).fill_(0)        # the book's torch.Tensor(out).fill_(0)
            self.b = nn.Parameter(b)
            self.noise_stddev = noise_stddev

        def forward(self, x, training=False):
            if training:
                noise = torch.normal(0.0, self.noise_stddev, (x.shape[0], x.shape[1]))
                x_new = torch.add(x, noise)
            else:
                x_new = x
            return torch.add(torch.mm(x_new, self.w), self.b)

    class MyNoisyModule(nn.Module):
        def __init__(self):
            super().__init__()
            self.l1 = NoisyLinear(2, 4, noise_stddev)
            self.a1 = nn.ReLU()
            self.l2 = nn.Linear(4, 4)
            self.a2 = nn.ReLU()
            self.l3 = nn.Linear(4, 1)
            self.a3 = nn.Sigmoid()

        def forward(self, x, training=False):
            x = self.l1(x, training)
            x = self.a1(x)
            x = self.l2(x)
            x = self.a2(x)
            x = self.l3(x)
            x = self.a3(x)
            return x

        def predict(self, x):
            x = torch.tensor(x, dtype=L.dtype)
            pred = self.forward(x)[:, 0]
            return _cast(L, pred >= 0.5)

    return MyNoisyModule()


@pytest.mark.parametrize("build", [xor_sequential, xor_module, xor_noisy], ids=["Sequential", "ModuleList", "noisy"])
def test_ch13_xor(float64, build):
    data = _xor_data()
    torch.manual_seed(1)
    tm = build(TH) if build is not xor_noisy else build(TH, noise_stddev=0.0)
    om = build(MG) if build is not xor_noisy else build(MG, noise_stddev=0.0)
    assert repr(om) == repr(tm)          # print(model) reads as torch's
    _copy_weights(tm, om)
    # the noisy model trains with training=True; with noise_stddev 0 its noise is exactly 0 in both
    # libraries, so the runs can be compared (the noise itself is checked below)
    kw = dict(training_kw=build is xor_noisy)
    t = ch13_xor(TH, tm, *data, **kw)
    o = ch13_xor(MG, om, *data, **kw)
    for what, a, b in zip(("train loss", "train acc", "valid loss", "valid acc"), o, t):
        _close(what, a, b)
    _cmp_models("trained", om, tm)
    if hasattr(tm, "predict"):   # the book's predict(x) from a NumPy array (for plot_decision_regions)
        xv = data[2]
        _close("predict", om.predict(xv), tm.predict(xv))


def test_ch13_noisy_linear_noise():
    """The noise of NoisyLinear in training: torch.normal(0.0, std, (batch, in)) is float32, N(0, std^2),
    fresh at each call; in eval (training=False) the layer is deterministic."""
    mg.manual_seed(0)
    model = xor_noisy(MG32, noise_stddev=0.07)
    noise = mg.normal(0.0, 0.07, (400, 2))
    assert noise.dtype == mg.float32 and tuple(noise.shape) == (400, 2)
    assert abs(float(noise.std()) - 0.07) < 4 * 0.07 / (2 * 800) ** 0.5
    x = mg.ones(3, 2)
    a, b = model(x, True), model(x, True)
    assert not np.array_equal(to_numpy(a), to_numpy(b))
    np.testing.assert_array_equal(to_numpy(model(x)), to_numpy(model(x)))
    assert model.l1.w.shape == (2, 4) and model.l1.b.dtype == mg.float32
    assert float(model.l1.b.abs().sum()) == 0.0


def test_ch13_noisy_linear_book_spelling_is_refused_clearly():
    """The book's `torch.Tensor(input_size, output_size)` and `nn.Parameter(torch.Tensor(n).fill_(0))`
    (documented difference: mg.Tensor(n) is the number n) fail with errors that name the port."""
    with pytest.raises(TypeError, match=r"mg.empty"):
        mg.Tensor(2, 4)
    with pytest.raises(TypeError, match=r"Parameter.*mg.empty\(n\)"):
        mg.nn.Parameter(mg.Tensor(4).fill_(0))


def ch13_auto_mpg(L, df, th_model=None):
    torch, nn, data = L.torch, L.nn, L.data
    numeric_column_names = ["Cylinders", "Displacement", "Horsepower", "Weight", "Acceleration"]
    x_num = np.stack([df[c] for c in numeric_column_names], axis=1)
    x_num = (x_num - x_num.mean(axis=0)) / x_num.std(axis=0)
    boundaries = torch.tensor([73, 76, 79])
    v = torch.tensor(df["Model Year"])
    bucketed = torch.bucketize(v, boundaries, right=True)
    total_origin = 3
    origin_encoded = nn.functional.one_hot(torch.from_numpy(df["Origin"]) % total_origin)
    x_train_numeric = torch.tensor(np.concatenate([x_num, to_numpy(bucketed)[:, None]], axis=1))
    x_train = _cast(L, torch.cat([x_train_numeric, origin_encoded], 1))
    y_train = _cast(L, torch.tensor(df["MPG"]))
    hidden_units = [8, 4]
    input_size = x_train.shape[1]
    all_layers = []
    for hidden_unit in hidden_units:
        layer = nn.Linear(input_size, hidden_unit)
        all_layers.append(layer)
        all_layers.append(nn.ReLU())
        input_size = hidden_unit
    all_layers.append(nn.Linear(hidden_units[-1], 1))
    model = nn.Sequential(*all_layers)
    if th_model is not None:
        _copy_weights(th_model, model)
    loss_fn = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.001)
    train_dl = data.DataLoader(data.TensorDataset(x_train, y_train), 4, shuffle=False)
    losses = []
    for epoch in range(2):
        loss_hist_train = 0
        for x_batch, y_batch in train_dl:
            pred = model(x_batch)[:, 0]
            loss = loss_fn(pred, y_batch)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            loss_hist_train += loss.item()
        losses.append(loss_hist_train / len(train_dl))
    with torch.no_grad():
        pred = model(x_train)[:, 0]
        mae = nn.L1Loss()(pred, y_train)
    return model, np.array(losses), mae, bucketed, origin_encoded


def test_ch13_auto_mpg(float64):
    rng = np.random.default_rng(3)
    n = 12
    df = {"Cylinders": rng.integers(4, 9, n).astype(float), "Displacement": rng.uniform(70, 400, n),
          "Horsepower": rng.uniform(50, 200, n), "Weight": rng.uniform(1600, 4500, n),
          "Acceleration": rng.uniform(8, 24, n), "Model Year": rng.integers(70, 83, n),
          "Origin": rng.integers(1, 4, n), "MPG": rng.uniform(10, 45, n)}
    torch.manual_seed(1)
    t = ch13_auto_mpg(TH, df)
    o = ch13_auto_mpg(MG, df, th_model=_auto_mpg_init())
    _close("bucketize", o[3], t[3])
    _close("one_hot", o[4], t[4])
    _close("losses", o[1], t[1])
    _close("MAE", o[2], t[2])
    _cmp_models("trained", o[0], t[0])


def _auto_mpg_init():
    torch.manual_seed(1)
    nn = torch.nn
    return nn.Sequential(nn.Linear(9, 8), nn.ReLU(), nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 1))


def ch13_mnist_mlp(L, train_x, train_y, test_data, test_targets, th_model=None):
    """The MNIST MLP: ToTensor-style float images (N, 1, H, W) for training, and the test set as the raw
    uint8 `mnist_test_dataset.data / 255.` (N, H, W); nn.Flatten takes both."""
    torch, nn, data = L.torch, L.nn, L.data
    train_ds = data.TensorDataset(torch.from_numpy(train_x), torch.from_numpy(train_y))
    train_dl = data.DataLoader(train_ds, 3, shuffle=False)
    image_size = train_ds[0][0].shape
    input_size = image_size[0] * image_size[1] * image_size[2]
    all_layers = [nn.Flatten()]
    hidden_units = [8, 6]
    for hidden_unit in hidden_units:
        layer = nn.Linear(input_size, hidden_unit)
        all_layers.append(layer)
        all_layers.append(nn.ReLU())
        input_size = hidden_unit
    all_layers.append(nn.Linear(hidden_units[-1], 10))
    model = nn.Sequential(*all_layers)
    if th_model is not None:
        _copy_weights(th_model, model)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    log = []
    for epoch in range(2):
        accuracy_hist_train = 0
        for x_batch, y_batch in train_dl:
            pred = model(x_batch)
            loss = loss_fn(pred, y_batch)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            is_correct = (torch.argmax(pred, dim=1) == y_batch).float()
            accuracy_hist_train += is_correct.sum()
        accuracy_hist_train /= len(train_dl.dataset)
        log.append(f"Epoch {epoch}  Accuracy {accuracy_hist_train:.4f}  Loss {loss.item():.6f}")
    pred = model(torch.from_numpy(test_data) / 255.)
    is_correct = (torch.argmax(pred, dim=1) == torch.from_numpy(test_targets)).float()
    log.append(f"Test accuracy: {is_correct.mean():.4f}")
    return model, log, pred


def test_ch13_mnist_mlp():
    rng = np.random.default_rng(0)
    train_x = rng.random((6, 1, 5, 5), dtype=np.float32)
    train_y = rng.integers(0, 10, 6)
    test_data = rng.integers(0, 256, (4, 5, 5)).astype(np.uint8)
    test_targets = rng.integers(0, 10, 4)
    torch.manual_seed(1)
    tm, tlog, tpred = ch13_mnist_mlp(TH32, train_x, train_y, test_data, test_targets)
    torch.manual_seed(1)
    init = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(25, 8), torch.nn.ReLU(), torch.nn.Linear(8, 6),
                               torch.nn.ReLU(), torch.nn.Linear(6, 10))
    om, olog, opred = ch13_mnist_mlp(MG32, train_x, train_y, test_data, test_targets, th_model=init)
    assert olog == tlog          # the printed lines (f-strings of 0-d tensors) read the same
    _close("test logits (uint8 / 255. input)", opred, tpred, TOL32)
    _cmp_models("trained", om, tm, TOL32)


def test_ch12_activation_functions():
    """The activation section: tanh / sigmoid / softmax of torch.from_numpy(z) (float64 in, float64 out)."""
    z = np.arange(-5, 5, 0.5)
    Z = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]])
    for name, f in [("tanh", lambda T: T.tanh(T.from_numpy(z))), ("sigmoid", lambda T: T.sigmoid(T.from_numpy(z))),
                    ("softmax", lambda T: T.softmax(T.from_numpy(Z), dim=0)),
                    ("softmax dim=1", lambda T: T.softmax(T.from_numpy(Z), dim=1))]:
        _close(name, f(mg), f(torch))


# ------------------------------------------------------------------------------------------------ ch14


def test_ch14_losses_and_l2_penalty():
    res = {}
    for L in (TH32, MG32):
        torch, nn = L.torch, L.nn
        out = []
        # binary cross-entropy on probabilities and on logits
        logits = torch.tensor([0.8])
        probas = torch.sigmoid(logits)
        target = torch.tensor([1.0])
        bce_loss_fn = nn.BCELoss()
        bce_logits_loss_fn = nn.BCEWithLogitsLoss()
        out += [bce_loss_fn(probas, target), bce_logits_loss_fn(logits, target)]
        # categorical cross-entropy: on logits, and NLL on log-probabilities
        logits = torch.tensor([[1.5, 0.8, 2.1]])
        probas = torch.softmax(logits, dim=1)
        target = torch.tensor([2])
        cce_loss_fn = nn.NLLLoss()
        cce_logits_loss_fn = nn.CrossEntropyLoss()
        out += [cce_logits_loss_fn(logits, target), cce_loss_fn(torch.log(probas), target)]
        # an L2 penalty over a layer's parameters
        torch.manual_seed(1)
        conv_layer = nn.Conv2d(in_channels=3, out_channels=5, kernel_size=5)
        if L is MG32:
            _copy_weights(res["torch"][1], conv_layer)
        l2_lambda = 0.001
        l2_penalty = l2_lambda * sum([(p ** 2).sum() for p in conv_layer.parameters()])
        l2_penalty.backward()
        out += [l2_penalty, conv_layer.weight.grad, conv_layer.bias.grad]
        res[L.name] = (out, conv_layer)
    for i, (a, b) in enumerate(zip(res["minigrad"][0], res["torch"][0])):
        _close(f"value {i}", a, b, TOL32)


def test_ch14_sgd_weight_decay(float64):
    """SGD(weight_decay=l2_lambda) == the explicit penalty l2_lambda / 2 * sum(p**2), as the book says."""
    x = np.random.default_rng(0).normal(size=(4, 3, 6, 6))
    torch.manual_seed(1)
    tconv = torch.nn.Conv2d(3, 2, kernel_size=3)
    state = {k: v.detach().numpy().copy() for k, v in tconv.state_dict().items()}
    results = []
    for L in (TH, MG):
        conv = tconv if L is TH else L.nn.Conv2d(3, 2, kernel_size=3)
        if L is MG:
            conv.load_state_dict(state)
        optimizer = L.torch.optim.SGD(conv.parameters(), weight_decay=0.01, lr=0.1)
        for _ in range(2):
            loss = conv(L.torch.tensor(x)).pow(2).mean()
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        results.append(conv)
    _cmp_models("SGD weight_decay", results[1], results[0])


def ch14_mnist_cnn(L, x, y, th_model=None, side=12):
    torch, nn = L.torch, L.nn
    model = nn.Sequential()
    model.add_module("conv1", nn.Conv2d(in_channels=1, out_channels=4, kernel_size=5, padding=2))
    model.add_module("relu1", nn.ReLU())
    model.add_module("pool1", nn.MaxPool2d(kernel_size=2))
    model.add_module("conv2", nn.Conv2d(in_channels=4, out_channels=6, kernel_size=5, padding=2))
    model.add_module("relu2", nn.ReLU())
    model.add_module("pool2", nn.MaxPool2d(kernel_size=2))
    shape_before_flatten = model(torch.ones((4, 1, side, side))).shape
    model.add_module("flatten", nn.Flatten())
    flat = model(torch.ones((4, 1, side, side))).shape
    model.add_module("fc1", nn.Linear(flat[1], 16))
    model.add_module("relu3", nn.ReLU())
    model.add_module("dropout", nn.Dropout(p=0.5))
    model.add_module("fc2", nn.Linear(16, 10))
    if th_model is not None:
        _copy_weights(th_model, model)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    # dropout switched off for the compared training (the generators differ); the rest is the book's loop
    model.dropout.p = 0.0
    model.train()
    losses, accs = [], []
    for step in range(3):
        x_batch, y_batch = x[2 * step: 2 * step + 2], y[2 * step: 2 * step + 2]
        pred = model(x_batch)
        loss = loss_fn(pred, y_batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item() * y_batch.size(0))
        is_correct = (torch.argmax(pred, dim=1) == y_batch).float()
        accs.append(is_correct.sum().item())
    model.dropout.p = 0.5
    model.eval()
    pred = model(x)
    is_correct = (torch.argmax(pred, dim=1) == y).float()
    return model, tuple(shape_before_flatten), tuple(flat), np.array(losses), np.array(accs), pred.detach(), \
        is_correct.mean()


def test_ch14_mnist_cnn(float64):
    rng = np.random.default_rng(0)
    x, y = rng.random((6, 1, 12, 12)), rng.integers(0, 10, 6)
    torch.manual_seed(1)
    t = ch14_mnist_cnn(TH, torch.tensor(x), torch.tensor(y))
    o = ch14_mnist_cnn(MG, mg.tensor(x), mg.tensor(y), th_model=_mnist_init())
    assert o[1] == t[1] == (4, 6, 3, 3) and o[2] == t[2] == (4, 54)
    _close("losses", o[3], t[3])
    _close("train correct", o[4], t[4])
    _close("eval predictions", o[5], t[5])
    _close("eval accuracy", o[6], t[6])
    _cmp_models("trained", o[0], t[0])


def _mnist_init():
    torch.manual_seed(1)
    nn = torch.nn
    m = nn.Sequential()
    m.add_module("conv1", nn.Conv2d(1, 4, kernel_size=5, padding=2))
    m.add_module("relu1", nn.ReLU())
    m.add_module("pool1", nn.MaxPool2d(kernel_size=2))
    m.add_module("conv2", nn.Conv2d(4, 6, kernel_size=5, padding=2))
    m.add_module("relu2", nn.ReLU())
    m.add_module("pool2", nn.MaxPool2d(kernel_size=2))
    m.add_module("flatten", nn.Flatten())
    m.add_module("fc1", nn.Linear(54, 16))
    m.add_module("relu3", nn.ReLU())
    m.add_module("dropout", nn.Dropout(p=0.5))
    m.add_module("fc2", nn.Linear(16, 10))
    return m


def smile_model(L, side=16, ch=(3, 4, 5, 6, 7)):
    """The book's smile classifier (3 -> 32 -> 64 -> 128 -> 256 channels on 64x64 images), scaled down."""
    nn, torch = L.nn, L.torch
    model = nn.Sequential()
    model.add_module("conv1", nn.Conv2d(in_channels=ch[0], out_channels=ch[1], kernel_size=3, padding=1))
    model.add_module("relu1", nn.ReLU())
    model.add_module("pool1", nn.MaxPool2d(kernel_size=2))
    model.add_module("dropout1", nn.Dropout(p=0.5))
    model.add_module("conv2", nn.Conv2d(in_channels=ch[1], out_channels=ch[2], kernel_size=3, padding=1))
    model.add_module("relu2", nn.ReLU())
    model.add_module("pool2", nn.MaxPool2d(kernel_size=2))
    model.add_module("dropout2", nn.Dropout(p=0.5))
    model.add_module("conv3", nn.Conv2d(in_channels=ch[2], out_channels=ch[3], kernel_size=3, padding=1))
    model.add_module("relu3", nn.ReLU())
    model.add_module("pool3", nn.MaxPool2d(kernel_size=2))
    model.add_module("conv4", nn.Conv2d(in_channels=ch[3], out_channels=ch[4], kernel_size=3, padding=1))
    model.add_module("relu4", nn.ReLU())
    x = torch.ones((4, 3, side, side))
    before_pool = tuple(model(x).shape)
    model.add_module("pool4", nn.AvgPool2d(kernel_size=side // 8))
    model.add_module("flatten", nn.Flatten())
    after_flatten = tuple(model(x).shape)
    model.add_module("fc", nn.Linear(ch[4], 1))
    model.add_module("sigmoid", nn.Sigmoid())
    return model, before_pool, after_flatten


def ch14_smile_train(L, model, x, y):
    torch, nn = L.torch, L.nn
    loss_fn = nn.BCELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    for m in (model.dropout1, model.dropout2):   # compared runs: dropout off (the generators differ)
        m.p = 0.0
    hist = []
    for epoch in range(2):
        model.train()
        loss_hist_train = accuracy_hist_train = 0
        for i in range(0, len(x), 2):
            x_batch, y_batch = x[i:i + 2], y[i:i + 2]
            pred = model(x_batch)[:, 0]
            loss = loss_fn(pred, _cast(L, y_batch))
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            loss_hist_train += loss.item() * y_batch.size(0)
            is_correct = ((pred >= 0.5).float() == y_batch).float()     # float32 == int64 labels, as the book
            accuracy_hist_train += is_correct.sum().cpu()
        model.eval()
        with torch.no_grad():
            pred = model(x)[:, 0]
            loss = loss_fn(pred, _cast(L, y))
        hist.append([loss_hist_train / len(x), float(accuracy_hist_train) / len(x), loss.item()])
    return np.array(hist), pred


def test_ch14_smile_classifier(float64):
    rng = np.random.default_rng(0)
    x, y = rng.random((4, 3, 16, 16)), rng.integers(0, 2, 4)
    torch.manual_seed(1)
    tm, tb, tf = smile_model(TH)
    om, ob, of = smile_model(MG)
    assert ob == tb == (4, 7, 2, 2) and of == tf == (4, 7)
    assert repr(om) == repr(tm)
    _copy_weights(tm, om)
    t = ch14_smile_train(TH, tm, torch.tensor(x), torch.tensor(y))
    o = ch14_smile_train(MG, om, mg.tensor(x), mg.tensor(y))
    _close("history (train loss, train acc, valid loss)", o[0], t[0])
    _close("eval predictions", o[1], t[1])
    _cmp_models("trained", om, tm)


def test_ch14_smile_dropout_in_training():
    """nn.Dropout(p=0.5) in train mode: about half of the units are zeroed and the kept ones doubled;
    identity in eval mode (both as torch)."""
    mg.manual_seed(0)
    drop = mg.nn.Dropout(p=0.5)
    x = mg.ones(40, 50)
    drop.train()
    out = to_numpy(drop(x))
    assert set(np.unique(out)) <= {0.0, 2.0}
    frac = (out == 0).mean()
    assert abs(frac - 0.5) < 4 * (0.25 / out.size) ** 0.5
    drop.eval()
    np.testing.assert_array_equal(to_numpy(drop(x)), to_numpy(x))


# ------------------------------------------------------------------------------------------------ ch15


def test_ch15_rnn_by_hand():
    """The book's manual RNN forward from rnn_layer.weight_ih_l0 & co. equals nn.RNN's output."""
    torch.manual_seed(1)
    t_rnn = torch.nn.RNN(input_size=5, hidden_size=2, num_layers=1, batch_first=True)
    res = {}
    for L in (TH32, MG32):
        T, nn = L.torch, L.nn
        rnn_layer = t_rnn if L is TH32 else nn.RNN(input_size=5, hidden_size=2, num_layers=1, batch_first=True)
        if L is MG32:
            _copy_weights(t_rnn, rnn_layer)
        w_xh = rnn_layer.weight_ih_l0
        w_hh = rnn_layer.weight_hh_l0
        b_xh = rnn_layer.bias_ih_l0
        b_hh = rnn_layer.bias_hh_l0
        assert tuple(w_xh.shape) == (2, 5) and tuple(w_hh.shape) == (2, 2)
        x_seq = T.tensor([[1.0] * 5, [2.0] * 5, [3.0] * 5]).float()
        output, hn = rnn_layer(T.reshape(x_seq, (1, 3, 5)))
        out_man = []
        for t in range(3):
            xt = T.reshape(x_seq[t], (1, 5))
            ht = T.matmul(xt, T.transpose(w_xh, 0, 1)) + b_xh
            if t > 0:
                prev_h = out_man[t - 1]
            else:
                prev_h = T.zeros((ht.shape))
            ot = ht + T.matmul(prev_h, T.transpose(w_hh, 0, 1)) + b_hh
            ot = T.tanh(ot)
            out_man.append(ot)
            np.testing.assert_allclose(ot.detach().numpy(), output[:, t].detach().numpy(), **TOL32)
        res[L.name] = (output, hn, T.stack(out_man))
    for i, what in enumerate(("output", "h_n", "by hand")):
        _close(what, res["minigrad"][i], res["torch"][i], TOL32)


def _reviews(n=8, seed=0):
    rng = np.random.default_rng(seed)
    good, bad, neutral = ["great", "fun", "loved", "superb"], ["awful", "boring", "hated", "bad"], \
        ["the", "movie", "plot", "actors", "was", "and", "<br />"]
    out = []
    for i in range(n):
        label = 2 if i % 2 else 1                      # torchtext's IMDB labels: 1 = neg, 2 = pos
        words = list(rng.choice(neutral, rng.integers(1, 5))) + list(rng.choice(good if label == 2 else bad, 2))
        rng.shuffle(words)
        out.append((label, " ".join(words) + " :)" * (i % 3 == 0)))
    return out


def tokenizer(text):
    text = re.sub(r"<[^>]*>", "", text)
    emoticons = re.findall(r"(?::|;|=)(?:-)?(?:\)|\(|D|P)", text.lower())
    text = re.sub(r"[\W]+", " ", text.lower()) + " ".join(emoticons).replace("-", "")
    tokenized = text.split()
    return tokenized


def _vocab(train_dataset):
    token_counts = Counter()
    for label, line in train_dataset:
        tokens = tokenizer(line)
        token_counts.update(tokens)
    sorted_by_freq_tuples = sorted(token_counts.items(), key=lambda x: x[1], reverse=True)
    ordered_dict = OrderedDict(sorted_by_freq_tuples)
    itos = ["<pad>", "<unk>"] + list(ordered_dict)     # torchtext's vocab with insert_token / default index
    stoi = {s: i for i, s in enumerate(itos)}
    return lambda tokens: [stoi.get(t, 1) for t in tokens], len(itos)


def sentiment_loader(L, train_dataset, batch_size=4):
    torch, nn, data = L.torch, L.nn, L.data
    vocab, vocab_size = _vocab(train_dataset)

    def text_pipeline(x):
        return vocab(tokenizer(x))

    def label_pipeline(x):
        return 1. if x == 2 else 0.

    def collate_batch(batch):
        label_list, text_list, lengths = [], [], []
        for _label, _text in batch:
            label_list.append(label_pipeline(_label))
            processed_text = torch.tensor(text_pipeline(_text), dtype=torch.int64)
            text_list.append(processed_text)
            lengths.append(processed_text.size(0))
        label_list = torch.tensor(label_list)
        lengths = torch.tensor(lengths)
        padded_text_list = nn.utils.rnn.pad_sequence(text_list, batch_first=True)
        return padded_text_list, label_list, lengths

    return data.DataLoader(train_dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_batch), vocab_size


def sentiment_model(L, vocab_size, kind):
    nn, torch = L.nn, L.torch

    class RNN(nn.Module):
        def __init__(self, vocab_size, embed_dim, rnn_hidden_size, fc_hidden_size):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
            if kind == "lstm":
                self.rnn = nn.LSTM(embed_dim, rnn_hidden_size, batch_first=True)
            elif kind == "rnn":
                self.rnn = nn.RNN(embed_dim, rnn_hidden_size, batch_first=True, num_layers=2)
            else:
                self.rnn = nn.LSTM(embed_dim, rnn_hidden_size, batch_first=True, bidirectional=True)
            width = rnn_hidden_size * (2 if kind == "bilstm" else 1)
            self.fc1 = nn.Linear(width, fc_hidden_size)
            self.relu = nn.ReLU()
            self.fc2 = nn.Linear(fc_hidden_size, 1)
            self.sigmoid = nn.Sigmoid()

        def forward(self, text, lengths):
            out = self.embedding(text)
            out = nn.utils.rnn.pack_padded_sequence(out, lengths.cpu().numpy(), enforce_sorted=False,
                                                    batch_first=True)
            if kind == "lstm":
                out, (hidden, cell) = self.rnn(out)
                out = hidden[-1, :, :]
            elif kind == "rnn":
                _, hidden = self.rnn(out)
                out = hidden[-1, :, :]
            else:
                _, (hidden, cell) = self.rnn(out)
                out = torch.cat((hidden[-2, :, :], hidden[-1, :, :]), dim=1)
            out = self.fc1(out)
            out = self.relu(out)
            out = self.fc2(out)
            out = self.sigmoid(out)
            return out

    return RNN(vocab_size, 6, 5, 4)


def sentiment_train(L, model, train_dl, valid_dl):
    torch, nn = L.torch, L.nn
    loss_fn = nn.BCELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)

    def train(dataloader):
        model.train()
        total_acc, total_loss = 0, 0
        for text_batch, label_batch, lengths in dataloader:
            optimizer.zero_grad()
            pred = model(text_batch, lengths)[:, 0]
            loss = loss_fn(pred, label_batch)
            loss.backward()
            optimizer.step()
            total_acc += (_cast(L, pred >= 0.5) == label_batch).float().sum().item()
            total_loss += loss.item() * label_batch.size(0)
        return total_acc / len(dataloader.dataset), total_loss / len(dataloader.dataset)

    def evaluate(dataloader):
        model.eval()
        total_acc, total_loss = 0, 0
        with torch.no_grad():
            for text_batch, label_batch, lengths in dataloader:
                pred = model(text_batch, lengths)[:, 0]
                loss = loss_fn(pred, label_batch)
                total_acc += (_cast(L, pred >= 0.5) == label_batch).float().sum().item()
                total_loss += loss.item() * label_batch.size(0)
        return total_acc / len(dataloader.dataset), total_loss / len(dataloader.dataset), pred

    hist = []
    for epoch in range(2):
        acc_train, loss_train = train(train_dl)
        acc_valid, loss_valid, pred = evaluate(valid_dl)
        hist.append([acc_train, loss_train, acc_valid, loss_valid])
    return np.array(hist), pred


@pytest.mark.parametrize("kind", ["lstm", "rnn", "bilstm"])
def test_ch15_sentiment_rnn(float64, kind):
    reviews = _reviews(10)
    train_ds, valid_ds = reviews[:8], reviews[8:]
    runs = {}
    for L in (TH, MG):
        train_dl, vocab_size = sentiment_loader(L, train_ds)
        valid_dl, _ = sentiment_loader(L, valid_ds)
        valid_dl = L.data.DataLoader(valid_ds, batch_size=2, collate_fn=valid_dl.collate_fn)
        text_batch, label_batch, length_batch = next(iter(train_dl))
        assert text_batch.shape[0] == 4 and label_batch.dtype == L.dtype
        torch.manual_seed(1)
        model = sentiment_model(L, vocab_size, kind)
        if L is MG:
            model.load_state_dict(runs["torch"][0])
            np.testing.assert_array_equal(to_numpy(model.embedding.weight)[0], 0)   # padding_idx row
        init = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
        hist, pred = sentiment_train(L, model, train_dl, valid_dl)
        runs[L.name] = (init, hist, pred, model, (text_batch, label_batch, length_batch))
    o, t = runs["minigrad"], runs["torch"]
    lengths = [list(to_numpy(b[2])) for b in sentiment_loader(MG, train_ds)[0]]
    assert any(n != sorted(n, reverse=True) for n in lengths)      # enforce_sorted=False is exercised
    for i, what in enumerate(("padded text", "labels", "lengths")):
        _close(what, o[4][i], t[4][i])
    _close("history (acc, loss, valid acc, valid loss)", o[1], t[1])
    _close("valid predictions", o[2], t[2])
    _cmp_models("trained", o[3], t[3])
    assert repr(o[3]) == repr(t[3])
    np.testing.assert_array_equal(to_numpy(o[3].embedding.weight)[0], 0)   # the padding row never trained


def _char_data(L, text="the quick brown fox jumps over the lazy dog. the end.", seq_length=6):
    torch, data = L.torch, L.data
    char_set = set(text)
    chars_sorted = sorted(char_set)
    char2int = {ch: i for i, ch in enumerate(chars_sorted)}
    char_array = np.array(chars_sorted)
    text_encoded = np.array([char2int[ch] for ch in text], dtype=np.int32)
    chunk_size = seq_length + 1
    text_chunks = [text_encoded[i:i + chunk_size] for i in range(len(text_encoded) - chunk_size + 1)]

    class TextDataset(data.Dataset):
        def __init__(self, text_chunks):
            self.text_chunks = text_chunks

        def __len__(self):
            return len(self.text_chunks)

        def __getitem__(self, idx):
            text_chunk = self.text_chunks[idx]
            return text_chunk[:-1].long(), text_chunk[1:].long()

    seq_dataset = TextDataset(torch.tensor(np.array(text_chunks)))
    return seq_dataset, char2int, char_array, len(char_array)


def char_model(L, vocab_size, embed_dim=5, rnn_hidden_size=7):
    nn, torch = L.nn, L.torch

    class RNN(nn.Module):
        def __init__(self, vocab_size, embed_dim, rnn_hidden_size):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, embed_dim)
            self.rnn_hidden_size = rnn_hidden_size
            self.rnn = nn.LSTM(embed_dim, rnn_hidden_size, batch_first=True)
            self.fc = nn.Linear(rnn_hidden_size, vocab_size)

        def forward(self, x, hidden, cell):
            out = self.embedding(x).unsqueeze(1)
            out, (hidden, cell) = self.rnn(out, (hidden, cell))
            out = self.fc(out).reshape(out.size(0), -1)
            return out, hidden, cell

        def init_hidden(self, batch_size):
            hidden = torch.zeros(1, batch_size, self.rnn_hidden_size)
            cell = torch.zeros(1, batch_size, self.rnn_hidden_size)
            return hidden.to("cpu"), cell.to("cpu")

    return RNN(vocab_size, embed_dim, rnn_hidden_size)


def char_train(L, model, seq_dl, seq_length=6, batch_size=4, num_epochs=3):
    torch, nn = L.torch, L.nn
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    losses = []
    it = iter(seq_dl)
    for epoch in range(num_epochs):
        hidden, cell = model.init_hidden(batch_size)
        seq_batch, target_batch = next(it)
        optimizer.zero_grad()
        loss = 0
        for c in range(seq_length):
            pred, hidden, cell = model(seq_batch[:, c], hidden, cell)
            loss += loss_fn(pred, target_batch[:, c])
        loss.backward()
        optimizer.step()
        loss = loss.item() / seq_length
        losses.append(loss)
    return np.array(losses)


def char_sample(L, model, char2int, int2char, starting_str, len_generated_text=8, scale_factor=1.0,
                forced=None):
    """The book's sample(); `forced` replays another run's sampled characters (to compare logits)."""
    torch = L.torch
    encoded_input = torch.tensor([char2int[s] for s in starting_str])
    encoded_input = torch.reshape(encoded_input, (1, -1))
    generated_str = starting_str
    model.eval()
    hidden, cell = model.init_hidden(1)
    for c in range(len(starting_str) - 1):
        _, hidden, cell = model(encoded_input[:, c].view(1), hidden, cell)
    last_char = encoded_input[:, -1]
    all_logits = []
    for i in range(len_generated_text):
        logits, hidden, cell = model(last_char.view(1), hidden, cell)
        logits = torch.squeeze(logits, 0)
        scaled_logits = logits * scale_factor
        m = L.Categorical(logits=scaled_logits)
        last_char = m.sample()
        if forced is not None:
            last_char = torch.tensor(char2int[forced[len(starting_str) + i]])
        generated_str += str(int2char[last_char])
        all_logits.append(m.probs.detach())
    return generated_str, torch.stack(all_logits)


def test_ch15_char_language_model(float64):
    runs = {}
    for L in (TH, MG):
        seq_dataset, char2int, int2char, vocab_size = _char_data(L)
        x0, y0 = seq_dataset[0]
        assert x0.dtype == L.torch.int64 and tuple(x0.shape) == (6,)
        seq_dl = L.data.DataLoader(seq_dataset, batch_size=4, shuffle=False, drop_last=True)
        torch.manual_seed(1)
        model = char_model(L, vocab_size)
        if L is MG:
            model.load_state_dict(runs["torch"][0])
        init = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
        losses = char_train(L, model, seq_dl)
        L.torch.manual_seed(1)
        text, probs = char_sample(L, model, char2int, int2char, "the ", scale_factor=2.0,
                                  forced=runs["torch"][2] if L is MG else None)
        runs[L.name] = (init, losses, text, probs, model)
    o, t = runs["minigrad"], runs["torch"]
    _close("per-character loss", o[1], t[1])
    _cmp_models("trained", o[4], t[4])
    assert o[2] == t[2]      # the replayed text (ours sampled its own characters, then was forced to torch's)
    _close("sampling probabilities (temperature 1/2)", o[3], t[3])


def test_ch15_categorical_sampling():
    """The book's Categorical demo: m.sample((10,)) of (1, 3) logits is (10, 1); the frequencies follow softmax."""
    mg.manual_seed(1)
    logits = mg.tensor([[1.0, 1.0, 3.0]])
    np.testing.assert_allclose(to_numpy(mF.softmax(logits, dim=1)),
                               torch.nn.functional.softmax(torch.tensor([[1.0, 1.0, 3.0]]), dim=1).numpy(), rtol=1e-6)
    m = mg.distributions.categorical.Categorical(logits=logits)
    samples = m.sample((10,))
    assert tuple(samples.shape) == (10, 1) and samples.dtype == mg.int64
    many = to_numpy(m.sample((4000,)))[:, 0]
    p = to_numpy(m.probs)[0]
    freq = np.bincount(many, minlength=3) / many.size
    assert np.all(np.abs(freq - p) < 4 * np.sqrt(p * (1 - p) / many.size))
    # temperature: scaling the logits sharpens / flattens the distribution
    for scale in (0.1, 2.5):
        m = mg.distributions.categorical.Categorical(logits=logits * scale)
        tm = torch.distributions.categorical.Categorical(logits=torch.tensor([[1.0, 1.0, 3.0]]) * scale)
        np.testing.assert_allclose(to_numpy(m.probs), tm.probs.numpy(), rtol=1e-6)


# ------------------------------------------------------------------------------------------------ ch16


def ch16_self_attention(L, weights, keep_graph=False):
    torch, F = L.torch, L.F
    out = {}
    sentence = torch.tensor([0, 7, 1, 2, 5, 6, 4, 3])
    embed = torch.nn.Embedding(10, 16)
    if L.name == "minigrad":
        embed.load_state_dict(weights["embed"])
    embedded_sentence = embed(sentence) if keep_graph else embed(sentence).detach()
    out["embedded"] = embedded_sentence
    omega = torch.empty(8, 8)
    for i, x_i in enumerate(embedded_sentence):
        for j, x_j in enumerate(embedded_sentence):
            omega[i, j] = torch.dot(x_i, x_j)
    omega_mat = embedded_sentence.matmul(embedded_sentence.T)
    assert torch.allclose(omega_mat, omega)
    out["omega"] = omega
    attention_weights = F.softmax(omega, dim=1)
    out["attention_weights"] = attention_weights
    out["row sums"] = attention_weights.sum(dim=1)
    x_2 = embedded_sentence[1, :]
    context_vec_2 = torch.zeros(x_2.shape)
    for j in range(8):
        x_j = embedded_sentence[j, :]
        context_vec_2 += attention_weights[1, j] * x_j
    context_vectors = torch.matmul(attention_weights, embedded_sentence)
    assert torch.allclose(context_vec_2, context_vectors[1])
    out["context_vectors"] = context_vectors
    out["context_vec_2"] = context_vec_2

    torch.manual_seed(123)
    d = embedded_sentence.shape[1]
    U_query = torch.rand(d, d)
    U_key = torch.rand(d, d)
    U_value = torch.rand(d, d)
    if L.name == "minigrad":      # torch's random numbers
        U_query, U_key, U_value = (torch.tensor(weights[k]) for k in ("U_query", "U_key", "U_value"))
    else:
        weights.update(U_query=U_query.numpy().copy(), U_key=U_key.numpy().copy(), U_value=U_value.numpy().copy())
    x_2 = embedded_sentence[1]
    query_2 = U_query.matmul(x_2)
    key_2 = U_key.matmul(x_2)
    value_2 = U_value.matmul(x_2)
    keys = U_key.matmul(embedded_sentence.T).T
    assert torch.allclose(key_2, keys[1])
    values = U_value.matmul(embedded_sentence.T).T
    assert torch.allclose(value_2, values[1])
    omega_23 = query_2.dot(keys[2])
    omega_2 = query_2.matmul(keys.T)
    attention_weights_2 = F.softmax(omega_2 / d ** 0.5, dim=0)
    context_vector_2 = attention_weights_2.matmul(values)
    out.update(omega_23=omega_23, omega_2=omega_2, attention_weights_2=attention_weights_2,
               context_vector_2=context_vector_2)

    # multi-head attention, as the book builds it
    torch.manual_seed(123)
    h = 8
    multihead_U_query = torch.rand(h, d, d)
    multihead_U_key = torch.rand(h, d, d)
    multihead_U_value = torch.rand(h, d, d)
    if L.name == "minigrad":
        multihead_U_query, multihead_U_key, multihead_U_value = (
            torch.tensor(weights[k]) for k in ("mq", "mk", "mv"))
    else:
        weights.update(mq=multihead_U_query.numpy().copy(), mk=multihead_U_key.numpy().copy(),
                       mv=multihead_U_value.numpy().copy())
    multihead_query_2 = multihead_U_query.matmul(x_2)
    multihead_key_2 = multihead_U_key.matmul(x_2)
    multihead_value_2 = multihead_U_value.matmul(x_2)
    out.update(mq2=multihead_query_2, mk2=multihead_key_2, mv2=multihead_value_2)
    stacked_inputs = embedded_sentence.T.repeat(8, 1, 1)
    assert tuple(stacked_inputs.shape) == (8, 16, 8)
    multihead_keys = torch.bmm(multihead_U_key, stacked_inputs)
    multihead_keys = multihead_keys.permute(0, 2, 1)
    multihead_values = torch.matmul(multihead_U_value, stacked_inputs)
    multihead_values = multihead_values.permute(0, 2, 1)
    out.update(multihead_keys=multihead_keys, multihead_values=multihead_values)
    multihead_z_2 = torch.rand(8, 16)
    linear = torch.nn.Linear(8 * 16, 16)
    if L.name == "minigrad":
        multihead_z_2 = torch.tensor(weights["z2"])
        linear.load_state_dict(weights["linear"])
    else:
        weights.update(z2=multihead_z_2.numpy().copy(),
                       linear={k: v.detach().numpy().copy() for k, v in linear.state_dict().items()})
    context_vector_2 = linear(multihead_z_2.flatten())
    out["multihead context_vector_2"] = context_vector_2
    if keep_graph:
        loss = (context_vectors ** 2).sum() + context_vec_2.sum() + multihead_keys.sum() \
            + (multihead_values * multihead_values).mean() + context_vector_2.sum()
        loss.backward()
        out["embed.weight.grad"] = embed.weight.grad
        out["linear.weight.grad"] = linear.weight.grad
    return out


@pytest.mark.parametrize("keep_graph", [False, True], ids=["book", "graph-kept"])
def test_ch16_self_attention_from_scratch(keep_graph):
    """float32 as in the book; with keep_graph the embedding is not detached, so omega[i, j] = dot(...) and
    context_vec_2 += ... are recorded element by element, and the embedding's gradient is compared."""
    torch.manual_seed(123)
    weights = {}
    t = ch16_self_attention(TH32, weights, keep_graph)
    # torch built its Embedding right after manual_seed(123) in the function; rebuild it for the copy
    torch.manual_seed(123)
    weights["embed"] = {k: v.detach().numpy().copy() for k, v in torch.nn.Embedding(10, 16).state_dict().items()}
    o = ch16_self_attention(MG32, weights, keep_graph)
    assert list(o) == list(t)
    for k in t:
        _close(k, o[k], t[k], TOL32)


# ------------------------------------------------------------------------------- fixes found by this audit


_AXIS_CALLS = {
    "cat": lambda T, x: T.cat([x, x], axis=1), "concat": lambda T, x: T.concat([x, x], axis=1),
    "stack": lambda T, x: T.stack([x, x], axis=1), "cumsum": lambda T, x: T.cumsum(x, axis=1),
    "cumprod": lambda T, x: T.cumprod(x, axis=1), "squeeze": lambda T, x: T.squeeze(x[:1], axis=0),
    "unsqueeze": lambda T, x: T.unsqueeze(x, axis=0), "chunk": lambda T, x: T.chunk(x, 2, axis=1)[1],
    "unbind": lambda T, x: T.unbind(x, axis=1)[2], "softmax": lambda T, x: T.softmax(x, axis=1),
    "log_softmax": lambda T, x: T.log_softmax(x, axis=0), "sort": lambda T, x: T.sort(x, axis=1)[0],
    "argsort": lambda T, x: T.argsort(x, axis=1), "topk": lambda T, x: T.topk(x, 2, axis=0)[0],
    "diff": lambda T, x: T.diff(x, axis=1), "count_nonzero": lambda T, x: T.count_nonzero(x, axis=1),
    "narrow": lambda T, x: T.narrow(x, axis=1, start=1, length=2),
    "index_select": lambda T, x: T.index_select(x, axis=1, index=(torch if isinstance(x, torch.Tensor) else mg)
                                                .tensor([0, 2])),
}


@pytest.mark.parametrize("name", sorted(_AXIS_CALLS))
def test_axis_keyword_alias(name):
    """torch maps axis= to dim= on every native function (the book's `torch.cat([A, B], axis=0)`,
    `torch.stack([A, B], axis=1)`); minigrad accepted it only on reductions. Function and method forms."""
    x = np.random.default_rng(0).normal(size=(3, 4))
    call = _AXIS_CALLS[name]
    _close(f"torch.{name}(..., axis=)", call(mg, mg.tensor(x)), call(torch, torch.tensor(x)))
    if name not in ("cat", "concat", "stack"):
        class Method:          # the same call as a Tensor method: x.cumsum(axis=1)
            def __getattr__(self, n):
                return lambda t, *a, **k: getattr(t, n)(*a, **k)
        _close(f"Tensor.{name}(axis=)", call(Method(), mg.tensor(x)), call(Method(), torch.tensor(x)))
    with pytest.raises(TypeError, match="both dim= and its alias axis="):
        mg.cat([mg.tensor(x)], dim=0, axis=0)
