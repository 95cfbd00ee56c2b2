"""Porting audit: the University of Amsterdam Deep Learning course tutorials 2-7 (uvadlc notebooks, PyTorch
versions), run in torch and in minigrad, compared.

Written from memory of the notebooks; where a notebook trains with PyTorch Lightning the equivalent plain loop is
written (training_step -> loss.backward(), optimizer.step(), the scheduler stepped per batch as its
`optimizer_step` override does, `gradient_clip_val` -> clip_grad_norm_).

2. Introduction to PyTorch: the tensor basics and the computation-graph example, SimpleClassifier, XORDataset
   (`data.Dataset` with `__len__`/`__getitem__`), DataLoader, BCEWithLogitsLoss, the training loop, state_dict
   save/load, `eval_model` (`torch.sigmoid`, `(preds >= 0.5).long()`, `true_preds += ...sum()`), and the
   decision-boundary image of `visualize_classification` (meshgrid, `c0[None, None]` blending).
3. Activation functions: Sigmoid/Tanh/ReLU/LeakyReLU/ELU/Swish as `ActivationFunction` modules with config
   dicts, `get_grads` (linspace with requires_grad, `out.sum().backward()`), BaseNetwork (Sequential of Linear +
   activation), json config + state_dict save/load, `visualize_gradients`, the activation statistics, the
   dead-neuron count, and the FashionMNIST-style training/test loops (on generated images).
4. Optimization and initialization: const/constant-variance/xavier/kaiming init, activation variances and the
   gradient statistics, OptimizerTemplate with SGD / SGDMomentum / Adam written from scratch (tensors as dict
   keys, `p.grad.detach_(); p.grad.zero_()`, `@torch.no_grad()` step, `p.add_(p_update)`) against
   torch.optim, the pathological-curvature and steep-optima trajectories, and training BaseNetwork with each.
5. Inception, ResNet and DenseNet: InceptionBlock/GoogleNet, ResNetBlock/PreActResNetBlock/ResNet,
   DenseLayer/DenseBlock/TransitionLayer/DenseNet (tiny sizes), their kaiming/constant init, a few training
   steps with their optimizers + MultiStepLR, then eval-mode logits (BatchNorm running statistics).
6. Transformers: scaled_dot_product with `masked_fill(mask == 0, -9e15)`, expand_mask, MultiheadAttention
   (qkv_proj, reshape/permute/chunk), EncoderBlock, TransformerEncoder.get_attention_maps, PositionalEncoding
   (`register_buffer(..., persistent=False)`), CosineWarmupScheduler subclassing `_LRScheduler`, the
   reverse-sequence task (F.one_hot inputs, Adam + warmup + gradient clipping), the set-anomaly predictor.
7. GNNs: GCNLayer (`sum(dim=-1, keepdims=True)`, `torch.bmm`) and GATLayer (`nonzero`, `index_select(input=,
   index=, dim=)`, pair concatenation, LeakyReLU, the `new_zeros(...).fill_(-9e15)` matrix written through a
   boolean mask, softmax, `einsum('bijh,bjhc->bihc')`) with the notebook's hand-set weights, their gradients,
   and node classification with both.

Both libraries run the same program text (`lib` is torch or minigrad), in float64 unless a test says otherwise,
on generated data; torch's initial weights are loaded into minigrad's models; losses, outputs, gradients and
updated parameters are compared at rtol 1e-7.

Found while porting and fixed (each has a focused test below):
* `optim.lr_scheduler._LRScheduler` (torch's old base-class name, subclassed by the CosineWarmupScheduler of
  tutorial 6) was missing;
* `torch.index_select(input=..., index=..., dim=0)` (tutorial 7's GATLayer) was a TypeError: minigrad named the
  first parameter `x`;
* the reductions (sum, mean, var/std, amax/amin, prod, norm, logsumexp) of a permuted tensor kept NumPy's layout, so
  GATLayer's `node_feats.mean(dim=2)` (of an einsum result) followed by `.view(-1, C)` was refused by `view`; torch's
  reductions return contiguous tensors, and now minigrad's do too.
Not fixed (same layout gap, reported): softmax, cumsum, all/any, count_nonzero, nansum of a permuted tensor are still
laid out like their input (torch's are contiguous), so `.view` right after them can be refused where torch's works.
Known differences met (README, "Tensor.data is the raw NumPy/CuPy array"), ported as the README says:
`param.data.fill_(0)` / `param.data.normal_(...)` / `.uniform_(...)` -> `nn.init.*_(param, ...)`;
`p.grad.data.view(-1)` -> `p.grad.view(-1)`; `weights.data.detach()` -> `weights.detach()`;
`layer.weight.data = torch.Tensor(...)` -> `with torch.no_grad(): layer.weight.copy_(...)`;
`torch.Tensor(num_heads, 2 * c_out)` (uninitialised) -> `torch.empty(...)`. And float32 does not mix with
float64: tutorial 3's ReLU `x * (x > 0).float()` is float32-only (a clear TypeError on a float64 x; torch
upcasts); the float64 runs here write `(x > 0).to(x.dtype)`.
"""
import json
import math
import types

import numpy as np
import pytest

import minigrad as mg
from porting import default_dtype_in_both, same_record, to_numpy

torch = pytest.importorskip("torch")

TOL = dict(rtol=1e-7, atol=1e-12)
_np = to_numpy


# ---------------------------------------------------------------- helpers
@pytest.fixture
def f64():
    """float64 as the default dtype in both libraries (restored afterwards)."""
    yield from default_dtype_in_both(torch, "float64")


@pytest.fixture
def f32():
    """The notebooks' own float32 default in both libraries."""
    yield from default_dtype_in_both(torch, "float32")


def _same(ours, theirs, name="", **tol):
    """Compare minigrad's record with torch's (porting.same_record), at this file's TOL by default."""
    same_record(ours, theirs, name, TOL, **tol)


class _SameInit:
    """torch's run records each new model's initial state; minigrad's run loads them in the same order."""

    def __init__(self):
        self.saved, self.used = [], 0

    def __call__(self, lib, model):
        if lib is torch:
            self.saved.append({k: v.detach().numpy().copy() for k, v in model.state_dict().items()})
        else:
            missing, unexpected = model.load_state_dict(self.saved[self.used])
            assert not missing and not unexpected
            self.used += 1
        return model

    def share(self, lib, tensor):
        """torch's value of a tensor the lib computed itself (copied in place into minigrad's, in the same order)."""
        if lib is torch:
            self.saved.append(tensor.detach().numpy().copy())
        else:
            with mg.no_grad():
                tensor.copy_(mg.tensor(self.saved[self.used]))
            self.used += 1
        return tensor


def _both(program, *args, loose=None, **tol):
    """Run program(lib, init, *args) with torch then minigrad and compare what they return (the top-level keys in
    `loose` with their own tolerance)."""
    init = _SameInit()
    theirs = program(torch, init, *args)
    ours = program(mg, init, *args)
    assert init.used == len(init.saved)
    loose = loose or {}
    _same({k: v for k, v in ours.items() if k not in loose}, {k: v for k, v in theirs.items() if k not in loose},
          program.__name__, **tol)
    for k, k_tol in loose.items():
        _same(ours[k], theirs[k], f"{program.__name__}/{k}", **k_tol)
    return ours, theirs


def _params(model):
    return {k: v for k, v in model.named_parameters()}


def _grads(model):
    return {k: v.grad for k, v in model.named_parameters()}


# ---------------------------------------------------------------- 2. Introduction to PyTorch
def tutorial2(lib, init, xor, tmp_path, dtype):
    torch = lib
    DT = getattr(torch, dtype)  # the notebook's torch.float32 (float64 in the exact comparison)
    nn = torch.nn
    data = torch.utils.data
    rec = {}

    # "Dynamic computation graph and backpropagation"
    x = torch.arange(3, dtype=DT, requires_grad=True)
    a = x + 2
    b = a ** 2
    c = b + 3
    y = c.mean()
    y.backward()
    rec["graph"] = (y, x.grad)
    # the tensor operations section
    x = torch.arange(6)
    x = x.view(2, 3)
    x = x.permute(1, 0)
    W = torch.arange(9).view(3, 3)
    rec["ops"] = (x, torch.matmul(x.permute(1, 0), W), x[:, 1], x[0], x[:2, -1], x[1:3, :])

    class SimpleClassifier(nn.Module):
        def __init__(self, num_inputs, num_hidden, num_outputs):
            super().__init__()
            self.linear1 = nn.Linear(num_inputs, num_hidden)
            self.act_fn = nn.Tanh()
            self.linear2 = nn.Linear(num_hidden, num_outputs)

        def forward(self, x):
            x = self.linear1(x)
            x = self.act_fn(x)
            x = self.linear2(x)
            return x

    class XORDataset(data.Dataset):
        def __init__(self, size, std=0.1):
            super().__init__()
            self.size = size
            self.std = std
            self.generate_continuous_xor()

        def generate_continuous_xor(self):
            data = torch.randint(low=0, high=2, size=(self.size, 2), dtype=DT)
            label = (data.sum(dim=1) == 1).to(torch.long)
            data += self.std * torch.randn(data.shape)
            self.data = data
            self.label = label

        def __len__(self):
            return self.size

        def __getitem__(self, idx):
            data_point = self.data[idx]
            data_label = self.label[idx]
            return data_point, data_label

    model = init(lib, SimpleClassifier(num_inputs=2, num_hidden=4, num_outputs=1))
    rec["names"] = [(name, tuple(p.shape)) for name, p in model.named_parameters()]

    dataset = XORDataset(size=64)
    # the generated points are the lib's own draws: check them, then use the shared ones (same data in both)
    assert len(dataset) == 64 and dataset.data.dtype == DT and dataset.label.dtype == torch.long
    assert (dataset.label == ((dataset.data > 0.5).sum(dim=1) == 1).long()).float().mean() > 0.9
    dataset.data, dataset.label = torch.tensor(xor[0], dtype=DT), torch.tensor(xor[1])
    rec["item"] = dataset[0]

    data_loader = data.DataLoader(dataset, batch_size=8, shuffle=False)  # shuffle=True: each lib's own order
    data_inputs, data_labels = next(iter(data_loader))
    rec["first batch"] = (data_inputs, data_labels)

    loss_module = nn.BCEWithLogitsLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    train_data_loader = data.DataLoader(dataset, batch_size=16, shuffle=False)

    def train_model(model, optimizer, data_loader, loss_module, num_epochs=3):
        model.train()
        losses = []
        for epoch in range(num_epochs):
            for data_inputs, data_labels in data_loader:
                preds = model(data_inputs)
                preds = preds.squeeze(dim=1)
                loss = loss_module(preds, data_labels.float() if DT == torch.float32 else data_labels.double())
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
        return losses

    rec["losses"] = train_model(model, optimizer, train_data_loader, loss_module)
    rec["trained"] = _params(model)

    state_dict = model.state_dict()
    path = str(tmp_path / f"our_model_{torch.__name__}.tar")
    torch.save(state_dict, path)
    state_dict = torch.load(path)
    new_model = SimpleClassifier(num_inputs=2, num_hidden=4, num_outputs=1)
    new_model.load_state_dict(state_dict)
    rec["reloaded"] = _params(new_model)

    test_dataset = XORDataset(size=40)
    test_dataset.data, test_dataset.label = torch.tensor(xor[2], dtype=DT), torch.tensor(xor[3])
    test_data_loader = data.DataLoader(test_dataset, batch_size=16, shuffle=False, drop_last=False)

    def eval_model(model, data_loader):
        model.eval()
        true_preds, num_preds = 0.0, 0.0
        with torch.no_grad():
            for data_inputs, data_labels in data_loader:
                preds = model(data_inputs)
                preds = preds.squeeze(dim=1)
                preds = torch.sigmoid(preds)
                pred_labels = (preds >= 0.5).long()
                true_preds += (pred_labels == data_labels).sum()
                num_preds += data_labels.shape[0]
        acc = true_preds / num_preds
        return acc

    rec["acc"] = eval_model(new_model, test_data_loader)

    @torch.no_grad()
    def visualize_classification(model, data, label):
        c0 = torch.Tensor((0.12, 0.47, 0.71, 1.0))  # to_rgba("C0")
        c1 = torch.Tensor((1.0, 0.5, 0.05, 1.0))  # to_rgba("C1")
        x1 = torch.arange(-0.5, 1.5, step=0.25)
        x2 = torch.arange(-0.5, 1.5, step=0.25)
        xx1, xx2 = torch.meshgrid(x1, x2, indexing="ij")
        model_inputs = torch.stack([xx1, xx2], dim=-1).to(DT)
        preds = model(model_inputs)
        preds = torch.sigmoid(preds)
        output_image = (1 - preds) * c0[None, None].to(DT) + preds * c1[None, None].to(DT)
        output_image = output_image.cpu().numpy()
        data_0 = data[label == 0]
        data_1 = data[label == 1]
        return output_image, data_0.shape, data_1.shape

    rec["image"] = visualize_classification(new_model, dataset.data, dataset.label)
    return rec


def _xor_data(seed=0):
    rng = np.random.default_rng(seed)

    def make(n):
        clean = rng.integers(0, 2, (n, 2)).astype(float)
        return clean + 0.1 * rng.standard_normal((n, 2)), (clean.sum(1) == 1).astype(np.int64)

    return make(64) + make(40)


def test_tutorial2_xor_classifier(f64, tmp_path):
    ours, _ = _both(tutorial2, _xor_data(), tmp_path, "float64")
    for k, p in ours["trained"].items():  # the saved and reloaded model is the trained one, bit for bit
        assert np.array_equal(p.numpy(), ours["reloaded"][k].numpy()), k


def test_tutorial2_xor_classifier_float32_as_written(f32, tmp_path):
    """The notebook's own float32: every tensor stays float32 (the dtype of each is compared); float32 rounding
    of a few SGD steps gives differences of a few ulps, hence the float32 tolerance."""
    ours, _ = _both(tutorial2, _xor_data(), tmp_path, "float32", rtol=2e-5, atol=1e-6)
    assert ours["trained"]["linear1.weight"].dtype == mg.float32 and ours["image"][0].dtype == np.float32




# ---------------------------------------------------------------- 3. Activation functions
def activation_classes(lib, float_only=True):
    """The notebook's ActivationFunction modules. `float_only=False`: ReLU's mask cast to x's dtype (float64 runs)."""
    torch = lib
    nn = torch.nn

    class ActivationFunction(nn.Module):
        def __init__(self):
            super().__init__()
            self.name = self.__class__.__name__
            self.config = {"name": self.name}

    class Sigmoid(ActivationFunction):
        def forward(self, x):
            return 1 / (1 + torch.exp(-x))

    class Tanh(ActivationFunction):
        def forward(self, x):
            x_exp, neg_x_exp = torch.exp(x), torch.exp(-x)
            return (x_exp - neg_x_exp) / (x_exp + neg_x_exp)

    class ReLU(ActivationFunction):
        def forward(self, x):
            return x * ((x > 0).float() if float_only else (x > 0).to(x.dtype))

    class LeakyReLU(ActivationFunction):
        def __init__(self, alpha=0.1):
            super().__init__()
            self.config["alpha"] = alpha

        def forward(self, x):
            return torch.where(x > 0, x, self.config["alpha"] * x)

    class ELU(ActivationFunction):
        def forward(self, x):
            return torch.where(x > 0, x, torch.exp(x) - 1)

    class Swish(ActivationFunction):
        def forward(self, x):
            return x * torch.sigmoid(x)

    act_fn_by_name = {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU, "leakyrelu": LeakyReLU, "elu": ELU,
                      "swish": Swish}
    return ActivationFunction, act_fn_by_name


def activations_and_grads(lib, init):
    torch = lib
    _, act_fn_by_name = activation_classes(lib)

    def get_grads(act_fn, x):
        x = x.clone().requires_grad_()
        out = act_fn(x)
        out.sum().backward()
        return x.grad

    rec = {}
    x = torch.linspace(-5, 5, 1000)
    for name, cls in act_fn_by_name.items():
        act_fn = cls()
        y = act_fn(x)
        y_grads = get_grads(act_fn, x)
        x_np, y_np, g_np = x.cpu().numpy(), y.cpu().numpy(), y_grads.cpu().numpy()
        rec[name] = (act_fn.config, y, y_grads, y_np, g_np)
    # the brief's spelling: a leaf made with requires_grad=True
    x = torch.linspace(-5, 5, 1000, requires_grad=True)
    out = act_fn_by_name["swish"]()(x)
    out.sum().backward()
    rec["swish leaf"] = x.grad
    return rec


def test_tutorial3_activation_functions_and_their_gradients(f32):
    """float32 as in the notebook: each activation is a few elementwise ops, so the values and gradients agree to a
    few float32 ulps (NumPy's and torch's vectorised exp round differently)."""
    ours, _ = _both(activations_and_grads, rtol=1e-6, atol=1e-6)
    assert ours["relu"][2].dtype == mg.float32
    # the gradients are the known derivatives
    x = np.linspace(-5, 5, 1000, dtype=np.float32)
    s = 1 / (1 + np.exp(-x.astype(np.float64)))
    np.testing.assert_allclose(ours["sigmoid"][4], s * (1 - s), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ours["relu"][4], (x > 0).astype(np.float32))
    np.testing.assert_allclose(ours["leakyrelu"][4], np.where(x > 0, 1, 0.1).astype(np.float32))


def test_tutorial3_relu_float_mask_on_a_float64_input_is_a_clear_error():
    """Documented difference: `x * (x > 0).float()` with a float64 x is float64 in torch (upcast) and a TypeError
    in minigrad (float32 never mixes with float64 silently) that says what to do."""
    _, acts = activation_classes(mg)
    x = mg.linspace(-1, 1, 5, dtype=mg.float64)
    with pytest.raises(TypeError, match=r"mul: dtype mismatch: float64\[5\].*float32\[5\].*\.double\(\)"):
        acts["relu"]()(x)
    _, acts = activation_classes(mg, float_only=False)
    assert acts["relu"]()(x).dtype == mg.float64


def _base_network(lib, act_fn, input_size=784, num_classes=10, hidden_sizes=(512, 256, 256, 128)):
    torch = lib
    nn = torch.nn

    class BaseNetwork(nn.Module):
        def __init__(self, act_fn, input_size=784, num_classes=10, hidden_sizes=[512, 256, 256, 128]):
            super().__init__()
            layers = []
            layer_sizes = [input_size] + hidden_sizes
            for layer_index in range(1, len(layer_sizes)):
                layers += [nn.Linear(layer_sizes[layer_index - 1], layer_sizes[layer_index]), act_fn]
            layers += [nn.Linear(layer_sizes[-1], num_classes)]
            self.layers = nn.Sequential(*layers)
            # tutorial 3 saves the activation's config dict, tutorial 4 its class name (nn.Identity / nn.ReLU)
            act_config = act_fn.config if hasattr(act_fn, "config") else act_fn.__class__.__name__
            self.config = {"act_fn": act_config, "input_size": input_size, "num_classes": num_classes,
                           "hidden_sizes": hidden_sizes}

        def forward(self, x):
            x = x.view(x.size(0), -1)
            out = self.layers(x)
            return out

    return BaseNetwork(act_fn, input_size=input_size, num_classes=num_classes, hidden_sizes=list(hidden_sizes))


def _fashion_like(n=48, seed=0):
    """FashionMNIST-shaped data, tiny: (n, 1, 6, 6) images normalised to [-1, 1] as the notebook's transform does."""
    rng = np.random.default_rng(seed)
    imgs = (rng.random((n, 1, 6, 6)) - 0.5) / 0.5
    return imgs, rng.integers(0, 10, n)


SIZES = dict(input_size=36, num_classes=10, hidden_sizes=(12, 8, 8))


def tutorial3_networks(lib, init, images, tmp_path):
    torch = lib
    nn = torch.nn
    F = nn.functional
    data = torch.utils.data
    ActivationFunction, act_fn_by_name = activation_classes(lib, float_only=False)
    imgs_all, labels_all = torch.tensor(images[0]), torch.tensor(images[1])
    train_set = data.TensorDataset(imgs_all, labels_all)
    rec = {}

    def visualize_gradients(net):
        net.eval()
        small_loader = data.DataLoader(train_set, batch_size=16, shuffle=False)
        imgs, labels = next(iter(small_loader))
        net.zero_grad()
        preds = net(imgs)
        loss = F.cross_entropy(preds, labels)
        loss.backward()
        # the notebook: params.grad.data.view(-1); `.data` is the raw array in minigrad (README)
        grads = {name: params.grad.view(-1).cpu().clone().numpy() for name, params in net.named_parameters()
                 if "weight" in name}
        net.zero_grad()
        return grads

    def visualize_activations(net):
        activations = {}
        net.eval()
        small_loader = data.DataLoader(train_set, batch_size=32)
        imgs, labels = next(iter(small_loader))
        with torch.no_grad():
            imgs = imgs.view(imgs.size(0), -1)
            for layer_index, layer in enumerate(net.layers[:-1]):
                imgs = layer(imgs)
                activations[layer_index] = imgs.view(-1).cpu().numpy()
        return activations

    @torch.no_grad()
    def measure_number_dead_neurons(net):
        neurons_dead = [torch.ones(layer.weight.shape[0], dtype=torch.bool) for layer in net.layers[:-1]
                        if isinstance(layer, nn.Linear)]
        net.eval()
        for imgs, labels in data.DataLoader(train_set, batch_size=16):
            layer_index = 0
            imgs = imgs.view(imgs.size(0), -1)
            for layer in net.layers[:-1]:
                imgs = layer(imgs)
                if isinstance(layer, ActivationFunction):
                    neurons_dead[layer_index] = torch.logical_and(neurons_dead[layer_index], (imgs == 0).all(dim=0))
                    layer_index += 1
        number_neurons_dead = [t.sum().item() for t in neurons_dead]
        text = ", ".join([f"{(100.0 * num_dead / tens.shape[0]):4.2f}%"
                          for tens, num_dead in zip(neurons_dead, number_neurons_dead)])
        return neurons_dead, number_neurons_dead, text

    def save_model(model, model_path, config_path):
        with open(config_path, "w") as f:
            json.dump(model.config, f)
        torch.save(model.state_dict(), model_path)

    def load_model(model_path, config_path):
        with open(config_path) as f:
            config_dict = json.load(f)
        act_fn_name = config_dict["act_fn"].pop("name").lower()
        act_fn = act_fn_by_name[act_fn_name](**config_dict.pop("act_fn"))
        net = _base_network(lib, act_fn=act_fn, **config_dict)
        net.load_state_dict(torch.load(model_path))
        return net

    def train_model(net, max_epochs=2, batch_size=16):
        optimizer = torch.optim.SGD(net.parameters(), lr=1e-2, momentum=0.9)
        loss_module = nn.CrossEntropyLoss()
        train_loader_local = data.DataLoader(train_set, batch_size=batch_size, shuffle=False, drop_last=True)
        accs = []
        for epoch in range(max_epochs):
            net.train()
            true_preds, count = 0.0, 0
            for imgs, labels in train_loader_local:
                optimizer.zero_grad()
                preds = net(imgs)
                loss = loss_module(preds, labels)
                loss.backward()
                optimizer.step()
                true_preds += (preds.argmax(dim=-1) == labels).sum()
                count += labels.shape[0]
            train_acc = true_preds / count
            accs.append((train_acc, loss))
        return accs

    def test_model(net, data_loader):
        net.eval()
        true_preds, count = 0.0, 0
        for imgs, labels in data_loader:
            with torch.no_grad():
                preds = net(imgs).argmax(dim=-1)
                true_preds += (preds == labels).sum().item()
                count += labels.shape[0]
        test_acc = true_preds / count
        return test_acc

    for name in ("sigmoid", "relu", "leakyrelu", "swish"):
        act_fn = act_fn_by_name[name]()
        net = init(lib, _base_network(lib, act_fn=act_fn, **SIZES))
        rec[name + " grads"] = visualize_gradients(net)
        rec[name + " activations"] = visualize_activations(net)
        rec[name + " dead"] = measure_number_dead_neurons(net)
        rec[name + " train"] = train_model(net)
        rec[name + " params"] = _params(net)
        mp, cp = str(tmp_path / f"{name}_{torch.__name__}.tar"), str(tmp_path / f"{name}_{torch.__name__}.config")
        save_model(net, mp, cp)
        net2 = load_model(mp, cp)
        rec[name + " reloaded config"] = net2.config
        rec[name + " test"] = test_model(net2, data.DataLoader(train_set, batch_size=20, shuffle=False))
    return rec


def test_tutorial3_base_network_gradients_activations_dead_neurons_training(f64, tmp_path):
    ours, _ = _both(tutorial3_networks, _fashion_like(), tmp_path)
    assert ours["leakyrelu reloaded config"]["act_fn"] == {"name": "LeakyReLU", "alpha": 0.1}


# ---------------------------------------------------------------- 4. Optimization and initialization
def init_functions(lib):
    """The notebook's initialisations. `param.data.fill_/normal_/uniform_` are ported to nn.init (README: `.data` is
    the raw array in minigrad); torch's run uses the same nn.init calls, which draw the same distributions."""
    nn = lib.nn

    def const_init(model, fill=0.0):
        for name, param in model.named_parameters():
            nn.init.constant_(param, fill)  # param.data.fill_(fill)

    def constant_variance_init(model, std=0.01):
        for name, param in model.named_parameters():
            nn.init.normal_(param, mean=0.0, std=std)  # param.data.normal_(mean=0.0, std=std)

    def xavier_init(model):
        for name, param in model.named_parameters():
            if name.endswith(".bias"):
                nn.init.zeros_(param)  # param.data.fill_(0)
            else:
                bound = math.sqrt(6) / math.sqrt(param.shape[0] + param.shape[1])
                nn.init.uniform_(param, -bound, bound)  # param.data.uniform_(-bound, bound)

    def kaiming_init(model):
        for name, param in model.named_parameters():
            if name.endswith(".bias"):
                nn.init.zeros_(param)
            elif name.startswith("layers.0"):  # the first layer has no ReLU on its input
                nn.init.normal_(param, 0, 1 / math.sqrt(param.shape[1]))
            else:
                nn.init.normal_(param, 0, math.sqrt(2) / math.sqrt(param.shape[1]))

    return dict(const=const_init, constant_variance=constant_variance_init, xavier=xavier_init, kaiming=kaiming_init)


def _tiny_identity_net(lib):
    return _base_network(lib, lib.nn.Identity(), input_size=36, num_classes=10, hidden_sizes=(40, 40, 40))


@pytest.mark.parametrize("lib", ["torch", "minigrad"])
def test_tutorial4_initialisations_have_the_intended_statistics(lib):
    """Each lib's own random draws: the init functions give the notebook's variances (n = 1440..1600 weights per
    layer, so the sample std is within 10% of its target with overwhelming probability)."""
    lib = torch if lib == "torch" else mg
    lib.manual_seed(0)
    fns = init_functions(lib)
    net = _tiny_identity_net(lib)
    w = {k: _np(v) for k, v in net.named_parameters()}
    fns["const"](net, fill=0.005)
    assert all(np.all(_np(p) == np.float32(0.005)) for p in net.parameters())
    fns["constant_variance"](net, std=0.01)
    for k, p in net.named_parameters():
        if k.endswith("weight"):
            assert abs(_np(p).std() / 0.01 - 1) < 0.1, k
    fns["xavier"](net)
    for k, p in net.named_parameters():
        if k.endswith("bias"):
            assert not _np(p).any()
        else:
            bound = math.sqrt(6) / math.sqrt(p.shape[0] + p.shape[1])
            assert np.abs(_np(p)).max() <= bound and abs(_np(p).std() / (bound / math.sqrt(3)) - 1) < 0.1, k
    fns["kaiming"](net)
    for k, p in net.named_parameters():
        if k.endswith("weight"):
            target = (1 if k.startswith("layers.0") else math.sqrt(2)) / math.sqrt(p.shape[1])
            assert abs(_np(p).std() / target - 1) < 0.1, k
    assert {k: v.shape for k, v in w.items()} == {k: tuple(v.shape) for k, v in net.named_parameters()}


def test_tutorial4_param_data_initialisers_are_documented_numpy_errors():
    """The notebook's `param.data.normal_(...)` / `.fill_(...)` meet NumPy's array (README); nn.init takes p.data."""
    p = mg.nn.Parameter(mg.zeros(3, 4))
    with pytest.raises(AttributeError, match="normal_"):
        p.data.normal_(mean=0.0, std=0.1)
    with pytest.raises(AttributeError, match="fill_"):
        p.data.fill_(0.0)
    mg.nn.init.normal_(p.data, 0.0, 0.1)
    assert p.data.std() > 0


def tutorial4_statistics(lib, init, images, which):
    """Activation variances and gradient statistics of the notebook's BaseNetwork (Identity or ReLU) after an init."""
    torch = lib
    F = torch.nn.functional
    imgs, labels = torch.tensor(images[0]), torch.tensor(images[1])
    act = torch.nn.Identity() if which == "identity" else torch.nn.ReLU()
    model = _base_network(lib, act, input_size=36, num_classes=10, hidden_sizes=(20, 20, 20))
    if lib is torch:  # torch's draws; minigrad's model loads them
        init_functions(lib)[which if which != "identity" else "xavier"](model)
    model = init(lib, model)
    rec = {}

    def visualize_gradients(model):
        model.train()
        model.zero_grad()
        preds = model(imgs)
        loss = F.cross_entropy(preds, labels)
        loss.backward()
        grads = {name: params.grad.view(-1).cpu().clone().numpy()  # notebook: params.grad.data.view(-1)
                 for name, params in model.named_parameters() if "weight" in name}
        model.zero_grad()
        return grads, {k: np.std(v) for k, v in grads.items()}

    def visualize_activations(model):
        model.eval()
        feats = {}
        with torch.no_grad():
            x = imgs.view(imgs.size(0), -1)
            for layer_index, layer in enumerate(model.layers[:-1]):
                x = layer(x)
                if isinstance(layer, torch.nn.Linear):
                    feats[f"Layer {layer_index}"] = x.view(-1).detach().cpu().numpy()
        return feats, {k: np.var(v) for k, v in feats.items()}

    def visualize_weight_distribution(model):
        return {name: param.detach().view(-1).cpu().numpy() for name, param in model.named_parameters()
                if not name.endswith(".bias")}

    rec["grads"] = visualize_gradients(model)
    rec["acts"] = visualize_activations(model)
    rec["weights"] = visualize_weight_distribution(model)
    return rec


@pytest.mark.parametrize("which", ["identity", "constant_variance", "kaiming"])
def test_tutorial4_activation_and_gradient_statistics(f64, which):
    _both(tutorial4_statistics, _fashion_like(64, seed=3), which)


def optimizers_from_scratch(lib):
    torch = lib

    class OptimizerTemplate:
        def __init__(self, params, lr):
            self.params = list(params)
            self.lr = lr

        def zero_grad(self):
            for p in self.params:
                if p.grad is not None:
                    p.grad.detach_()
                    p.grad.zero_()

        @torch.no_grad()
        def step(self):
            for p in self.params:
                if p.grad is None:
                    continue
                self.update_param(p)

        def update_param(self, p):
            raise NotImplementedError

    class SGD(OptimizerTemplate):
        def __init__(self, params, lr):
            super().__init__(params, lr)

        def update_param(self, p):
            p_update = -self.lr * p.grad
            p.add_(p_update)

    class SGDMomentum(OptimizerTemplate):
        def __init__(self, params, lr, momentum=0.0):
            super().__init__(params, lr)
            self.momentum = momentum
            self.param_momentum = {p: torch.zeros_like(p.data) for p in self.params}

        def update_param(self, p):
            self.param_momentum[p] = (1 - self.momentum) * p.grad + self.momentum * self.param_momentum[p]
            p_update = -self.lr * self.param_momentum[p]
            p.add_(p_update)

    class Adam(OptimizerTemplate):
        def __init__(self, params, lr, beta1=0.9, beta2=0.999, eps=1e-8):
            super().__init__(params, lr)
            self.beta1 = beta1
            self.beta2 = beta2
            self.eps = eps
            self.param_step = {p: 0 for p in self.params}
            self.param_momentum = {p: torch.zeros_like(p.data) for p in self.params}
            self.param_2nd_momentum = {p: torch.zeros_like(p.data) for p in self.params}

        def update_param(self, p):
            self.param_step[p] += 1
            self.param_momentum[p] = (1 - self.beta1) * p.grad + self.beta1 * self.param_momentum[p]
            self.param_2nd_momentum[p] = (1 - self.beta2) * (p.grad) ** 2 + self.beta2 * self.param_2nd_momentum[p]
            bias_correction_1 = 1 - self.beta1 ** self.param_step[p]
            bias_correction_2 = 1 - self.beta2 ** self.param_step[p]
            p_mom = self.param_momentum[p] / bias_correction_1
            p_2nd_mom = self.param_2nd_momentum[p] / bias_correction_2
            p_lr = self.lr / (torch.sqrt(p_2nd_mom) + self.eps)
            p_update = -p_lr * p_mom
            p.add_(p_update)

    return dict(SGD=SGD, SGDMomentum=SGDMomentum, Adam=Adam)


def curves(lib):
    torch = lib

    def pathological_curve_loss(w1, w2):
        x1_loss = torch.tanh(w1) ** 2 + 0.01 * torch.abs(w1)
        x2_loss = torch.sigmoid(w2)
        return x1_loss + x2_loss

    def bivar_gaussian(w1, w2, x_mean=0.0, y_mean=0.0, x_sig=1.0, y_sig=1.0):
        norm = 1 / (2 * np.pi * x_sig * y_sig)  # a NumPy float64 scalar times a tensor
        x_exp = (-1 * (w1 - x_mean) ** 2) / (2 * x_sig ** 2)
        y_exp = (-1 * (w2 - y_mean) ** 2) / (2 * y_sig ** 2)
        return norm * torch.exp(x_exp + y_exp)

    def comb_func(w1, w2):
        z = -bivar_gaussian(w1, w2, x_mean=1.0, y_mean=-0.5, x_sig=0.2, y_sig=0.2)
        z -= bivar_gaussian(w1, w2, x_mean=-1.0, y_mean=0.5, x_sig=0.2, y_sig=0.2)
        z -= bivar_gaussian(w1, w2, x_mean=-0.5, y_mean=-0.8, x_sig=0.2, y_sig=0.2)
        return z

    return pathological_curve_loss, comb_func


def train_curve(lib, optimizer_func, curve_func, num_updates=100, init=[5, 5], tensor_type="FloatTensor"):
    torch = lib
    nn = torch.nn
    weights = nn.Parameter(getattr(torch, tensor_type)(init), requires_grad=True)
    optimizer = optimizer_func([weights])
    list_points = []
    for _ in range(num_updates):
        loss = curve_func(weights[0], weights[1])
        # notebook: weights.data.detach(); `.data` is the raw array in minigrad (README)
        list_points.append(torch.cat([weights.detach(), loss.unsqueeze(dim=0).detach()], dim=0))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    points = torch.stack(list_points, dim=0).numpy()
    return points


def trajectories(lib, init, tensor_type):
    opts = optimizers_from_scratch(lib)
    pathological, comb = curves(lib)
    rec = {}
    runs = {"SGD": lambda params: opts["SGD"](params, lr=10),
            "SGDMom": lambda params: opts["SGDMomentum"](params, lr=10, momentum=0.9),
            "Adam": lambda params: opts["Adam"](params, lr=1)}
    for name, f in runs.items():
        rec["pathological " + name] = train_curve(lib, f, pathological, tensor_type=tensor_type)
    runs = {"SGD": lambda params: opts["SGD"](params, lr=0.5),
            "SGDMom": lambda params: opts["SGDMomentum"](params, lr=1, momentum=0.9),
            "Adam": lambda params: opts["Adam"](params, lr=0.2)}
    for name, f in runs.items():
        rec["steep " + name] = train_curve(lib, f, comb, init=[0, 0], tensor_type=tensor_type)
    # the template against the library's optimizers: plain SGD is torch.optim.SGD; Adam is torch.optim.Adam
    rec["optim.SGD"] = train_curve(lib, lambda p: lib.optim.SGD(p, lr=10), pathological, tensor_type=tensor_type)
    rec["optim.Adam"] = train_curve(lib, lambda p: lib.optim.Adam(p, lr=1), pathological, tensor_type=tensor_type)
    return rec


CHAOTIC = ("pathological SGD", "optim.SGD")


def _compare_trajectories(ours, theirs, chaotic_steps, **tol):
    """SGD with lr=10 on the pathological curve bounces across the tanh valley (the notebook's point): a rounding
    difference of one ulp in tanh grows ~30x per 10 steps (measured: 3e-15 at step 6, 2.5e-9 at step 25, 1e-5 at
    step 30), so those two runs are compared over their first `chaotic_steps` steps, the others over all 100."""
    assert list(ours) == list(theirs)
    for k in theirs:
        n = chaotic_steps if k in CHAOTIC else len(theirs[k])
        assert ours[k].shape == theirs[k].shape == (100, 3) and ours[k].dtype == theirs[k].dtype, k
        np.testing.assert_allclose(ours[k][:n], theirs[k][:n], err_msg=k, **tol)


def test_tutorial4_optimizer_trajectories_float64(f64):
    theirs, ours = trajectories(torch, None, "DoubleTensor"), trajectories(mg, None, "DoubleTensor")
    _compare_trajectories(ours, theirs, 20, **TOL)
    np.testing.assert_array_equal(ours["optim.SGD"], ours["pathological SGD"])  # the template is optim.SGD
    # torch's Adam divides by sqrt(v)/sqrt(bc2) + eps, the template by sqrt(v/bc2) + eps: equal up to rounding
    np.testing.assert_allclose(ours["optim.Adam"], ours["pathological Adam"], rtol=1e-9, atol=1e-12)


def test_tutorial4_optimizer_trajectories_float32_as_written(f32):
    """`torch.FloatTensor(init)` as in the notebook: the trajectories stay float32 (the NumPy float64 `norm` of
    bivar_gaussian does not upcast them). In float32 the bouncing runs amplify rounding within a few dozen steps
    (NumPy's float32 tanh is within 1 ulp, torch's within 1/2 ulp: measured 6e-8 vs 3e-8 on [1, 5]; the float64
    test above is the exact comparison), so every run is compared over its first 12 steps here."""
    theirs, ours = trajectories(torch, None, "FloatTensor"), trajectories(mg, None, "FloatTensor")
    for k in theirs:
        assert ours[k].dtype == theirs[k].dtype == np.float32, k
        np.testing.assert_allclose(ours[k][:12], theirs[k][:12], rtol=1e-5, atol=1e-6, err_msg=k)


def tutorial4_training(lib, init, images, opt_name):
    torch = lib
    nn = torch.nn
    data = torch.utils.data
    opts = optimizers_from_scratch(lib)
    train_set = data.TensorDataset(torch.tensor(images[0]), torch.tensor(images[1]))
    net = _base_network(lib, nn.ReLU(), input_size=36, num_classes=10, hidden_sizes=(16, 16))
    init_functions(lib)["kaiming"](net)
    net = init(lib, net)
    optimizer = {"SGD": lambda p: opts["SGD"](p, lr=1e-1),
                 "SGDMom": lambda p: opts["SGDMomentum"](p, lr=1e-1, momentum=0.9),
                 "Adam": lambda p: opts["Adam"](p, lr=1e-3)}[opt_name](net.parameters())
    loss_module = nn.CrossEntropyLoss()
    losses = []
    for epoch in range(2):
        net.train()
        for imgs, labels in data.DataLoader(train_set, batch_size=16, shuffle=False):
            optimizer.zero_grad()
            preds = net(imgs)
            loss = loss_module(preds, labels)
            loss.backward()
            optimizer.step()
            losses.append(loss)
    rec = {"losses": losses, "params": _params(net), "grads": {k: g.clone() for k, g in _grads(net).items()}}
    grads_before = _grads(net)
    optimizer.zero_grad()  # the template's: detach_() and zero_() in place, so the same .grad tensors hold zeros
    rec["zeroed"] = [g is grads_before[k] and not g.any().item() for k, g in _grads(net).items()]
    return rec


@pytest.mark.parametrize("opt_name", ["SGD", "SGDMom", "Adam"])
def test_tutorial4_training_with_the_hand_written_optimizers(f64, opt_name):
    ours, _ = _both(tutorial4_training, _fashion_like(48, seed=5), opt_name)
    assert all(ours["zeroed"])


# ---------------------------------------------------------------- 5. Inception, ResNet and DenseNet
def cnn_architectures(lib):
    torch = lib
    nn = torch.nn
    act_fn_by_name = {"tanh": nn.Tanh, "relu": nn.ReLU, "leakyrelu": nn.LeakyReLU, "gelu": nn.GELU}

    class InceptionBlock(nn.Module):
        def __init__(self, c_in, c_red: dict, c_out: dict, act_fn):
            super().__init__()
            self.conv_1x1 = nn.Sequential(nn.Conv2d(c_in, c_out["1x1"], kernel_size=1), nn.BatchNorm2d(c_out["1x1"]),
                                          act_fn())
            self.conv_3x3 = nn.Sequential(
                nn.Conv2d(c_in, c_red["3x3"], kernel_size=1), nn.BatchNorm2d(c_red["3x3"]), act_fn(),
                nn.Conv2d(c_red["3x3"], c_out["3x3"], kernel_size=3, padding=1), nn.BatchNorm2d(c_out["3x3"]),
                act_fn())
            self.conv_5x5 = nn.Sequential(
                nn.Conv2d(c_in, c_red["5x5"], kernel_size=1), nn.BatchNorm2d(c_red["5x5"]), act_fn(),
                nn.Conv2d(c_red["5x5"], c_out["5x5"], kernel_size=5, padding=2), nn.BatchNorm2d(c_out["5x5"]),
                act_fn())
            self.max_pool = nn.Sequential(nn.MaxPool2d(kernel_size=3, padding=1, stride=1),
                                          nn.Conv2d(c_in, c_out["max"], kernel_size=1), nn.BatchNorm2d(c_out["max"]),
                                          act_fn())

        def forward(self, x):
            x_1x1 = self.conv_1x1(x)
            x_3x3 = self.conv_3x3(x)
            x_5x5 = self.conv_5x5(x)
            x_max = self.max_pool(x)
            x_out = torch.cat([x_1x1, x_3x3, x_5x5, x_max], dim=1)
            return x_out

    class GoogleNet(nn.Module):
        def __init__(self, num_classes=10, act_fn_name="relu", **kwargs):
            super().__init__()
            self.hparams = types.SimpleNamespace(num_classes=num_classes, act_fn_name=act_fn_name,
                                                 act_fn=act_fn_by_name[act_fn_name])
            self._create_network()
            self._init_params()

        def _create_network(self):
            act = self.hparams.act_fn
            self.input_net = nn.Sequential(nn.Conv2d(3, 8, kernel_size=3, padding=1), nn.BatchNorm2d(8), act())
            self.inception_blocks = nn.Sequential(
                InceptionBlock(8, c_red={"3x3": 4, "5x5": 2}, c_out={"1x1": 2, "3x3": 4, "5x5": 2, "max": 2},
                               act_fn=act),
                nn.MaxPool2d(3, stride=2, padding=1),
                InceptionBlock(10, c_red={"3x3": 4, "5x5": 2}, c_out={"1x1": 4, "3x3": 4, "5x5": 2, "max": 2},
                               act_fn=act))
            self.output_net = nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
                                            nn.Linear(12, self.hparams.num_classes))

        def _init_params(self):
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, nonlinearity=self.hparams.act_fn_name)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

        def forward(self, x):
            x = self.input_net(x)
            x = self.inception_blocks(x)
            x = self.output_net(x)
            return x

    class ResNetBlock(nn.Module):
        def __init__(self, c_in, act_fn, subsample=False, c_out=-1):
            super().__init__()
            if not subsample:
                c_out = c_in
            self.net = nn.Sequential(
                nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, stride=1 if not subsample else 2, bias=False),
                nn.BatchNorm2d(c_out), act_fn(),
                nn.Conv2d(c_out, c_out, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(c_out))
            self.downsample = nn.Conv2d(c_in, c_out, kernel_size=1, stride=2) if subsample else None
            self.act_fn = act_fn()

        def forward(self, x):
            z = self.net(x)
            if self.downsample is not None:
                x = self.downsample(x)
            out = z + x
            out = self.act_fn(out)
            return out

    class PreActResNetBlock(nn.Module):
        def __init__(self, c_in, act_fn, subsample=False, c_out=-1):
            super().__init__()
            if not subsample:
                c_out = c_in
            self.net = nn.Sequential(
                nn.BatchNorm2d(c_in), act_fn(),
                nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, stride=1 if not subsample else 2, bias=False),
                nn.BatchNorm2d(c_out), act_fn(),
                nn.Conv2d(c_out, c_out, kernel_size=3, padding=1, bias=False))
            self.downsample = nn.Sequential(nn.BatchNorm2d(c_in), act_fn(),
                                            nn.Conv2d(c_in, c_out, kernel_size=1, stride=2, bias=False)) \
                if subsample else None

        def forward(self, x):
            z = self.net(x)
            if self.downsample is not None:
                x = self.downsample(x)
            out = z + x
            return out

    resnet_blocks_by_name = {"ResNetBlock": ResNetBlock, "PreActResNetBlock": PreActResNetBlock}

    class ResNet(nn.Module):
        def __init__(self, num_classes=10, num_blocks=[1, 1], c_hidden=[4, 8], act_fn_name="relu",
                     block_name="ResNetBlock", **kwargs):
            super().__init__()
            assert block_name in resnet_blocks_by_name
            self.hparams = types.SimpleNamespace(num_classes=num_classes, c_hidden=c_hidden, num_blocks=num_blocks,
                                                 act_fn_name=act_fn_name, act_fn=act_fn_by_name[act_fn_name],
                                                 block_class=resnet_blocks_by_name[block_name])
            self._create_network()
            self._init_params()

        def _create_network(self):
            c_hidden = self.hparams.c_hidden
            if self.hparams.block_class == PreActResNetBlock:
                self.input_net = nn.Sequential(nn.Conv2d(3, c_hidden[0], kernel_size=3, padding=1, bias=False))
            else:
                self.input_net = nn.Sequential(nn.Conv2d(3, c_hidden[0], kernel_size=3, padding=1, bias=False),
                                               nn.BatchNorm2d(c_hidden[0]), self.hparams.act_fn())
            blocks = []
            for block_idx, block_count in enumerate(self.hparams.num_blocks):
                for bc in range(block_count):
                    subsample = bc == 0 and block_idx > 0
                    blocks.append(self.hparams.block_class(
                        c_in=c_hidden[block_idx if not subsample else (block_idx - 1)], act_fn=self.hparams.act_fn,
                        subsample=subsample, c_out=c_hidden[block_idx]))
            self.blocks = nn.Sequential(*blocks)
            self.output_net = nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
                                            nn.Linear(c_hidden[-1], self.hparams.num_classes))

        def _init_params(self):
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity=self.hparams.act_fn_name)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

        def forward(self, x):
            x = self.input_net(x)
            x = self.blocks(x)
            x = self.output_net(x)
            return x

    class DenseLayer(nn.Module):
        def __init__(self, c_in, bn_size, growth_rate, act_fn):
            super().__init__()
            self.net = nn.Sequential(
                nn.BatchNorm2d(c_in), act_fn(),
                nn.Conv2d(c_in, bn_size * growth_rate, kernel_size=1, bias=False),
                nn.BatchNorm2d(bn_size * growth_rate), act_fn(),
                nn.Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, padding=1, bias=False))

        def forward(self, x):
            out = self.net(x)
            out = torch.cat([out, x], dim=1)
            return out

    class DenseBlock(nn.Module):
        def __init__(self, c_in, num_layers, bn_size, growth_rate, act_fn):
            super().__init__()
            layers = []
            for layer_idx in range(num_layers):
                layers.append(DenseLayer(c_in=c_in + layer_idx * growth_rate, bn_size=bn_size,
                                         growth_rate=growth_rate, act_fn=act_fn))
            self.block = nn.Sequential(*layers)

        def forward(self, x):
            out = self.block(x)
            return out

    class TransitionLayer(nn.Module):
        def __init__(self, c_in, c_out, act_fn):
            super().__init__()
            self.transition = nn.Sequential(nn.BatchNorm2d(c_in), act_fn(),
                                            nn.Conv2d(c_in, c_out, kernel_size=1, bias=False),
                                            nn.AvgPool2d(kernel_size=2, stride=2))

        def forward(self, x):
            return self.transition(x)

    class DenseNet(nn.Module):
        def __init__(self, num_classes=10, num_layers=[2, 2], bn_size=2, growth_rate=4, act_fn_name="relu",
                     **kwargs):
            super().__init__()
            self.hparams = types.SimpleNamespace(num_classes=num_classes, num_layers=num_layers, bn_size=bn_size,
                                                 growth_rate=growth_rate, act_fn_name=act_fn_name,
                                                 act_fn=act_fn_by_name[act_fn_name])
            self._create_network()
            self._init_params()

        def _create_network(self):
            c_hidden = self.hparams.growth_rate * self.hparams.bn_size
            self.input_net = nn.Sequential(nn.Conv2d(3, c_hidden, kernel_size=3, padding=1))
            blocks = []
            for block_idx, num_layers in enumerate(self.hparams.num_layers):
                blocks.append(DenseBlock(c_in=c_hidden, num_layers=num_layers, bn_size=self.hparams.bn_size,
                                         growth_rate=self.hparams.growth_rate, act_fn=self.hparams.act_fn))
                c_hidden = c_hidden + num_layers * self.hparams.growth_rate
                if block_idx < len(self.hparams.num_layers) - 1:
                    blocks.append(TransitionLayer(c_in=c_hidden, c_out=c_hidden // 2, act_fn=self.hparams.act_fn))
                    c_hidden = c_hidden // 2
            self.blocks = nn.Sequential(*blocks)
            self.output_net = nn.Sequential(nn.BatchNorm2d(c_hidden), self.hparams.act_fn(),
                                            nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
                                            nn.Linear(c_hidden, self.hparams.num_classes))

        def _init_params(self):
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, nonlinearity=self.hparams.act_fn_name)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

        def forward(self, x):
            x = self.input_net(x)
            x = self.blocks(x)
            x = self.output_net(x)
            return x

    return dict(GoogleNet=GoogleNet, ResNet=ResNet, DenseNet=DenseNet)


CNN_CASES = {
    "GoogleNet": (dict(act_fn_name="relu"), "AdamW", dict(lr=1e-3, weight_decay=1e-4)),
    "ResNet": (dict(act_fn_name="relu", block_name="ResNetBlock"), "SGD",
               dict(lr=0.1, momentum=0.9, weight_decay=1e-4)),
    "PreActResNet": (dict(act_fn_name="relu", block_name="PreActResNetBlock"), "SGD",
                     dict(lr=0.1, momentum=0.9, weight_decay=1e-4)),
    "DenseNet": (dict(act_fn_name="relu"), "Adam", dict(lr=1e-3, weight_decay=1e-4)),
}


def cnn_training(lib, init, case, batches):
    torch = lib
    nn = torch.nn
    model_name = "ResNet" if case.endswith("ResNet") else case
    model_hparams, optimizer_name, optimizer_hparams = CNN_CASES[case]
    model = init(lib, cnn_architectures(lib)[model_name](num_classes=10, **model_hparams))
    # configure_optimizers: the optimizer and MultiStepLR(milestones=[100, 150]) (here [2, 3]: it acts within 4 steps)
    optimizer = getattr(torch.optim, optimizer_name)(model.parameters(), **optimizer_hparams)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[2, 3], gamma=0.1)
    loss_module = nn.CrossEntropyLoss()
    rec = {"losses": [], "accs": []}
    for imgs, labels in batches:  # training_step
        imgs, labels = torch.tensor(imgs), torch.tensor(labels)
        model.train()
        preds = model(imgs)
        loss = loss_module(preds, labels)
        acc = (preds.argmax(dim=-1) == labels).float().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()  # Lightning steps an epoch scheduler per epoch; one batch per "epoch" here
        rec["losses"].append(loss)
        rec["accs"].append(acc)
    rec["lr"] = scheduler.get_last_lr()
    rec["grads"] = _grads(model)
    rec["state"] = dict(model.state_dict())  # parameters and BatchNorm running statistics
    model.eval()  # validation_step: BatchNorm uses its running statistics
    with torch.no_grad():
        rec["eval logits"] = model(torch.tensor(batches[0][0]))
    return rec


@pytest.mark.parametrize("case", list(CNN_CASES))
def test_tutorial5_cnn_architectures_train_like_torch(f64, case):
    rng = np.random.default_rng(7)
    batches = [(rng.standard_normal((4, 3, 8, 8)), rng.integers(0, 10, 4)) for _ in range(4)]
    _both(cnn_training, case, batches)


@pytest.mark.parametrize("lib", ["torch", "minigrad"])
def test_tutorial5_kaiming_init_statistics(lib):
    """Each lib's own draws: kaiming_normal_(nonlinearity='relu'/'leaky_relu', mode='fan_out') gives std
    gain / sqrt(fan) on the notebook's conv layers, and BatchNorm weight 1, bias 0."""
    lib = torch if lib == "torch" else mg
    lib.manual_seed(0)
    nn = lib.nn
    conv = nn.Conv2d(32, 64, kernel_size=3)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    assert abs(_np(conv.weight).std() / (math.sqrt(2) / math.sqrt(64 * 9)) - 1) < 0.05
    nn.init.kaiming_normal_(conv.weight, nonlinearity="leaky_relu")
    assert abs(_np(conv.weight).std() / (math.sqrt(2 / (1 + 0.01 ** 2)) / math.sqrt(32 * 9)) - 1) < 0.05
    for name in ("gelu", "leakyrelu"):  # the notebook's other act_fn_names have no gain in either lib
        with pytest.raises(ValueError, match=name):
            nn.init.kaiming_normal_(conv.weight, nonlinearity=name)


# ---------------------------------------------------------------- 6. Transformers and multi-head attention
def transformer_parts(lib):
    torch = lib
    nn = torch.nn
    F = nn.functional
    optim = torch.optim

    def scaled_dot_product(q, k, v, mask=None):
        d_k = q.size()[-1]
        attn_logits = torch.matmul(q, k.transpose(-2, -1))
        attn_logits = attn_logits / math.sqrt(d_k)
        if mask is not None:
            attn_logits = attn_logits.masked_fill(mask == 0, -9e15)
        attention = F.softmax(attn_logits, dim=-1)
        values = torch.matmul(attention, v)
        return values, attention

    def expand_mask(mask):
        assert mask.ndim >= 2, "Mask must be at least 2-dimensional with seq_length x seq_length"
        if mask.ndim == 3:
            mask = mask.unsqueeze(1)
        while mask.ndim < 4:
            mask = mask.unsqueeze(0)
        return mask

    class MultiheadAttention(nn.Module):
        def __init__(self, input_dim, embed_dim, num_heads):
            super().__init__()
            assert embed_dim % num_heads == 0, "Embedding dimension must be 0 modulo number of heads."
            self.embed_dim = embed_dim
            self.num_heads = num_heads
            self.head_dim = embed_dim // num_heads
            self.qkv_proj = nn.Linear(input_dim, 3 * embed_dim)
            self.o_proj = nn.Linear(embed_dim, embed_dim)
            self._reset_parameters()

        def _reset_parameters(self):
            nn.init.xavier_uniform_(self.qkv_proj.weight)
            nn.init.zeros_(self.qkv_proj.bias)  # notebook: self.qkv_proj.bias.data.fill_(0) (README: .data)
            nn.init.xavier_uniform_(self.o_proj.weight)
            nn.init.zeros_(self.o_proj.bias)

        def forward(self, x, mask=None, return_attention=False):
            batch_size, seq_length, _ = x.size()
            if mask is not None:
                mask = expand_mask(mask)
            qkv = self.qkv_proj(x)
            qkv = qkv.reshape(batch_size, seq_length, self.num_heads, 3 * self.head_dim)
            qkv = qkv.permute(0, 2, 1, 3)  # [Batch, Head, SeqLen, Dims]
            q, k, v = qkv.chunk(3, dim=-1)
            values, attention = scaled_dot_product(q, k, v, mask=mask)
            values = values.permute(0, 2, 1, 3)  # [Batch, SeqLen, Head, Dims]
            values = values.reshape(batch_size, seq_length, self.embed_dim)
            o = self.o_proj(values)
            if return_attention:
                return o, attention
            else:
                return o

    class EncoderBlock(nn.Module):
        def __init__(self, input_dim, num_heads, dim_feedforward, dropout=0.0):
            super().__init__()
            self.self_attn = MultiheadAttention(input_dim, input_dim, num_heads)
            self.linear_net = nn.Sequential(nn.Linear(input_dim, dim_feedforward), nn.Dropout(dropout),
                                            nn.ReLU(inplace=True), nn.Linear(dim_feedforward, input_dim))
            self.norm1 = nn.LayerNorm(input_dim)
            self.norm2 = nn.LayerNorm(input_dim)
            self.dropout = nn.Dropout(dropout)

        def forward(self, x, mask=None):
            attn_out = self.self_attn(x, mask=mask)
            x = x + self.dropout(attn_out)
            x = self.norm1(x)
            linear_out = self.linear_net(x)
            x = x + self.dropout(linear_out)
            x = self.norm2(x)
            return x

    class TransformerEncoder(nn.Module):
        def __init__(self, num_layers, **block_args):
            super().__init__()
            self.layers = nn.ModuleList([EncoderBlock(**block_args) for _ in range(num_layers)])

        def forward(self, x, mask=None):
            for l in self.layers:
                x = l(x, mask=mask)
            return x

        def get_attention_maps(self, x, mask=None):
            attention_maps = []
            for l in self.layers:
                _, attn_map = l.self_attn(x, mask=mask, return_attention=True)
                attention_maps.append(attn_map)
                x = l(x)
            return attention_maps

    class PositionalEncoding(nn.Module):
        def __init__(self, d_model, max_len=5000):
            super().__init__()
            pe = torch.zeros(max_len, d_model)
            position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
            div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
            pe[:, 0::2] = torch.sin(position * div_term)
            pe[:, 1::2] = torch.cos(position * div_term)
            pe = pe.unsqueeze(0)
            self.register_buffer("pe", pe, persistent=False)

        def forward(self, x):
            x = x + self.pe[:, : x.size(1)]
            return x

    class CosineWarmupScheduler(optim.lr_scheduler._LRScheduler):
        def __init__(self, optimizer, warmup, max_iters):
            self.warmup = warmup
            self.max_num_iters = max_iters
            super().__init__(optimizer)

        def get_lr(self):
            lr_factor = self.get_lr_factor(epoch=self.last_epoch)
            return [base_lr * lr_factor for base_lr in self.base_lrs]

        def get_lr_factor(self, epoch):
            lr_factor = 0.5 * (1 + np.cos(np.pi * epoch / self.max_num_iters))
            if epoch <= self.warmup:
                lr_factor *= epoch * 1.0 / self.warmup
            return lr_factor

    class TransformerPredictor(nn.Module):
        def __init__(self, input_dim, model_dim, num_classes, num_heads, num_layers, lr, warmup, max_iters,
                     dropout=0.0, input_dropout=0.0):
            super().__init__()
            self.hparams = types.SimpleNamespace(input_dim=input_dim, model_dim=model_dim, num_classes=num_classes,
                                                 num_heads=num_heads, num_layers=num_layers, lr=lr, warmup=warmup,
                                                 max_iters=max_iters, dropout=dropout, input_dropout=input_dropout)
            self._create_model()

        def _create_model(self):
            h = self.hparams
            self.input_net = nn.Sequential(nn.Dropout(h.input_dropout), nn.Linear(h.input_dim, h.model_dim))
            self.positional_encoding = PositionalEncoding(d_model=h.model_dim)
            self.transformer = TransformerEncoder(num_layers=h.num_layers, input_dim=h.model_dim,
                                                  dim_feedforward=2 * h.model_dim, num_heads=h.num_heads,
                                                  dropout=h.dropout)
            self.output_net = nn.Sequential(nn.Linear(h.model_dim, h.model_dim), nn.LayerNorm(h.model_dim),
                                            nn.ReLU(inplace=True), nn.Dropout(h.dropout),
                                            nn.Linear(h.model_dim, h.num_classes))

        def forward(self, x, mask=None, add_positional_encoding=True):
            x = self.input_net(x)
            if add_positional_encoding:
                x = self.positional_encoding(x)
            x = self.transformer(x, mask=mask)
            x = self.output_net(x)
            return x

        @torch.no_grad()
        def get_attention_maps(self, x, mask=None, add_positional_encoding=True):
            x = self.input_net(x)
            if add_positional_encoding:
                x = self.positional_encoding(x)
            attention_maps = self.transformer.get_attention_maps(x, mask=mask)
            return attention_maps

        def configure_optimizers(self):
            optimizer = optim.Adam(self.parameters(), lr=self.hparams.lr)
            self.lr_scheduler = CosineWarmupScheduler(optimizer, warmup=self.hparams.warmup,
                                                      max_iters=self.hparams.max_iters)
            return optimizer

    return types.SimpleNamespace(**locals())


def attention_pieces(lib, init, qkv, pad_mask):
    torch = lib
    T = transformer_parts(lib)
    rec = {}
    q, k, v = (torch.tensor(a, requires_grad=True) for a in qkv)
    values, attention = T.scaled_dot_product(q, k, v)
    (values.sum() + (attention ** 2).sum()).backward()
    rec["sdp"] = (values, attention, q.grad, k.grad, v.grad)

    mha = init(lib, T.MultiheadAttention(input_dim=6, embed_dim=8, num_heads=2))
    x = torch.tensor(np.asarray(qkv[0]).reshape(2, 3, 6)[:, :3], requires_grad=True)
    mask = torch.tensor(pad_mask)  # (B, L, L): 1 = may attend; padded keys are 0
    o, attn = mha(x, mask=mask, return_attention=True)
    (o ** 2).mean().backward()
    rec["mha"] = (o, attn, x.grad, _grads(mha))

    pe = T.PositionalEncoding(d_model=8, max_len=20)
    rec["pe"] = (pe.pe, list(pe.state_dict()), [n for n, _ in pe.named_buffers()])
    block = init(lib, T.EncoderBlock(input_dim=8, num_heads=2, dim_feedforward=16, dropout=0.0))
    y = block(o.detach(), mask=mask)
    rec["block"] = y
    enc = init(lib, T.TransformerEncoder(num_layers=2, input_dim=8, num_heads=2, dim_feedforward=16, dropout=0.0))
    rec["maps"] = enc.get_attention_maps(o.detach(), mask=mask)

    p = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([p], lr=1e-3)
    lr_scheduler = T.CosineWarmupScheduler(optimizer=optimizer, warmup=10, max_iters=40)
    lrs = []
    for epoch in range(45):
        lrs.append(lr_scheduler.get_lr_factor(epoch))
        optimizer.step()
        lr_scheduler.step()
    rec["lrs"] = (lrs, optimizer.param_groups[0]["lr"], lr_scheduler.get_last_lr(), lr_scheduler.last_epoch)
    return rec


def test_tutorial6_attention_encoder_positional_encoding_scheduler(f64):
    rng = np.random.default_rng(11)
    qkv = [rng.standard_normal((2, 3, 6)) for _ in range(3)]
    pad_mask = np.ones((2, 3, 3), dtype=np.int64)
    pad_mask[1, :, 2] = 0  # the second sequence has 2 tokens
    # the notebook computes the positional-encoding table in float32 (`dtype=torch.float`, `.float()`) before writing
    # it into the float64 `pe`: float32 sin/cos differ by up to one float32 ulp (1.2e-7) between NumPy and torch
    ours, _ = _both(attention_pieces, qkv, pad_mask, loose={"pe": dict(rtol=0, atol=1.2e-7)})
    assert ours["pe"][1] == [] and ours["pe"][2] == ["pe"]  # persistent=False: a buffer, not in state_dict
    assert ours["pe"][0].dtype == mg.float64
    assert not ours["mha"][1][1, :, :, 2].numpy().any()  # masked keys get weight 0 (exp(-9e15 - max) = 0)


def reverse_task(lib, init, dataset):
    torch = lib
    F = torch.nn.functional
    data = torch.utils.data
    T = transformer_parts(lib)

    class ReverseDataset(data.Dataset):
        def __init__(self, num_categories, seq_len, size):
            super().__init__()
            self.num_categories = num_categories
            self.seq_len = seq_len
            self.size = size
            self.data = torch.randint(self.num_categories, size=(self.size, self.seq_len))

        def __len__(self):
            return self.size

        def __getitem__(self, idx):
            inp_data = self.data[idx]
            labels = torch.flip(inp_data, dims=(0,))
            return inp_data, labels

    ds = ReverseDataset(10, 6, 24)
    assert ds.data.dtype == torch.int64 and int(ds.data.max()) < 10
    ds.data = torch.tensor(dataset)  # the shared draws
    train_loader = data.DataLoader(ds, batch_size=8, shuffle=False, drop_last=True)

    model = init(lib, T.TransformerPredictor(input_dim=10, model_dim=16, num_heads=2, num_classes=10, num_layers=1,
                                             dropout=0.0, lr=5e-3, warmup=2, max_iters=12))
    # the table is computed in float32 (one float32 ulp apart between the libs, see the test above): torch's is shared
    init.share(lib, model.positional_encoding.pe)
    optimizer = model.configure_optimizers()

    def _calculate_loss(batch):
        inp_data, labels = batch
        # notebook: F.one_hot(...).float() (float32); the float64 run needs the model's dtype
        inp_data = F.one_hot(inp_data, num_classes=model.hparams.num_classes).to(torch.get_default_dtype())
        preds = model(inp_data, add_positional_encoding=True)
        loss = F.cross_entropy(preds.view(-1, preds.size(-1)), labels.view(-1))
        acc = (preds.argmax(dim=-1) == labels).float().mean()
        return loss, acc

    rec = {"losses": [], "accs": [], "lrs": [], "norms": []}
    for epoch in range(2):
        for batch in train_loader:
            model.train()
            loss, acc = _calculate_loss(batch)
            optimizer.zero_grad()
            loss.backward()
            rec["norms"].append(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=5.0))  # gradient_clip_val
            optimizer.step()
            model.lr_scheduler.step()  # the notebook's optimizer_step override: once per iteration
            rec["losses"].append(loss)
            rec["accs"].append(acc)
            rec["lrs"].append(optimizer.param_groups[0]["lr"])
    rec["params"] = _params(model)
    model.eval()
    inp_data, labels = next(iter(train_loader))
    inp_data = F.one_hot(inp_data, num_classes=10).to(torch.get_default_dtype())
    rec["attention maps"] = model.get_attention_maps(inp_data)
    with torch.no_grad():
        rec["val"] = _calculate_loss(next(iter(train_loader)))
    return rec


def test_tutorial6_reverse_task(f64):
    rng = np.random.default_rng(3)
    # the key projection's bias has gradient 0 in exact arithmetic (softmax ignores a constant added to every
    # logit of a query): both libs leave rounding noise of ~1e-13 there, which Adam turns into updates of ~1e-12;
    # hence atol 1e-10 (rtol stays 1e-7)
    ours, _ = _both(reverse_task, rng.integers(0, 10, (24, 6)), rtol=1e-7, atol=1e-10)
    assert ours["attention maps"][0].shape == (8, 2, 6, 6)


def anomaly_task(lib, init, feats, anomaly_pos):
    """The set-anomaly predictor: a set of image features (no positional encoding), one odd element to find."""
    torch = lib
    F = torch.nn.functional
    T = transformer_parts(lib)
    model = init(lib, T.TransformerPredictor(input_dim=12, model_dim=16, num_heads=4, num_classes=1, num_layers=2,
                                             dropout=0.0, input_dropout=0.0, lr=5e-4, warmup=2, max_iters=6))
    optimizer = model.configure_optimizers()
    img_sets, labels = torch.tensor(feats), torch.tensor(anomaly_pos)
    rec = {"losses": []}
    for _ in range(3):
        preds = model(img_sets, add_positional_encoding=False)
        preds = preds.squeeze(dim=-1)
        loss = F.cross_entropy(preds, labels)
        acc = (preds.argmax(dim=-1) == labels).float().mean()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=2.0)
        optimizer.step()
        model.lr_scheduler.step()
        rec["losses"].append((loss, acc))
    rec["params"] = _params(model)
    attention_maps = model.get_attention_maps(img_sets, add_positional_encoding=False)
    rec["maps"] = [m[0] for m in attention_maps]
    return rec


def test_tutorial6_set_anomaly(f64):
    rng = np.random.default_rng(5)
    feats = rng.standard_normal((4, 5, 12))
    pos = rng.integers(0, 5, 4)
    feats[np.arange(4), pos] += 3.0  # the anomaly stands out
    _both(anomaly_task, feats, pos)


def test_lr_scheduler_underscore_alias_is_lr_scheduler():
    """`optim.lr_scheduler._LRScheduler`, torch's old base name, is there and is an LRScheduler (was missing)."""
    assert issubclass(mg.optim.lr_scheduler._LRScheduler, mg.optim.lr_scheduler.LRScheduler)
    assert issubclass(torch.optim.lr_scheduler._LRScheduler, torch.optim.lr_scheduler.LRScheduler)


# ---------------------------------------------------------------- 7. Graph neural networks
def gnn_layers(lib):
    torch = lib
    nn = torch.nn
    F = nn.functional

    class GCNLayer(nn.Module):
        def __init__(self, c_in, c_out):
            super().__init__()
            self.projection = nn.Linear(c_in, c_out)

        def forward(self, node_feats, adj_matrix):
            # adj_matrix: [batch_size, num_nodes, num_nodes], with self-connections
            num_neighbours = adj_matrix.sum(dim=-1, keepdims=True)
            node_feats = self.projection(node_feats)
            node_feats = torch.bmm(adj_matrix, node_feats)
            node_feats = node_feats / num_neighbours
            return node_feats

    class GATLayer(nn.Module):
        def __init__(self, c_in, c_out, num_heads=1, concat_heads=True, alpha=0.2):
            super().__init__()
            self.num_heads = num_heads
            self.concat_heads = concat_heads
            if self.concat_heads:
                assert c_out % num_heads == 0, "Number of output features must be a multiple of the count of heads."
                c_out = c_out // num_heads
            self.projection = nn.Linear(c_in, c_out * num_heads)
            self.a = nn.Parameter(torch.empty(num_heads, 2 * c_out))  # notebook: torch.Tensor(num_heads, 2 * c_out)
            self.leakyrelu = nn.LeakyReLU(alpha)
            nn.init.xavier_uniform_(self.projection.weight.data, gain=1.414)  # nn.init accepts p.data (README)
            nn.init.xavier_uniform_(self.a.data, gain=1.414)

        def forward(self, node_feats, adj_matrix, print_attn_probs=False):
            batch_size, num_nodes = node_feats.size(0), node_feats.size(1)
            node_feats = self.projection(node_feats)
            node_feats = node_feats.view(batch_size, num_nodes, self.num_heads, -1)
            edges = adj_matrix.nonzero(as_tuple=False)  # [batch, row, col] of every edge
            node_feats_flat = node_feats.view(batch_size * num_nodes, self.num_heads, -1)
            edge_indices_row = edges[:, 0] * num_nodes + edges[:, 1]
            edge_indices_col = edges[:, 0] * num_nodes + edges[:, 2]
            a_input = torch.cat([
                torch.index_select(input=node_feats_flat, index=edge_indices_row, dim=0),
                torch.index_select(input=node_feats_flat, index=edge_indices_col, dim=0),
            ], dim=-1)
            attn_logits = torch.einsum("bhc,hc->bh", a_input, self.a)
            attn_logits = self.leakyrelu(attn_logits)
            attn_matrix = attn_logits.new_zeros(adj_matrix.shape + (self.num_heads,)).fill_(-9e15)
            attn_matrix[adj_matrix[..., None].repeat(1, 1, 1, self.num_heads) == 1] = attn_logits.reshape(-1)
            attn_probs = F.softmax(attn_matrix, dim=2)
            if print_attn_probs:
                print("Attention probs\n", attn_probs.permute(0, 3, 1, 2))
            node_feats = torch.einsum("bijh,bjhc->bihc", attn_probs, node_feats)
            if self.concat_heads:
                node_feats = node_feats.reshape(batch_size, num_nodes, -1)
            else:
                node_feats = node_feats.mean(dim=2)
            return node_feats, attn_probs

    return GCNLayer, GATLayer


def gnn_notebook_examples(lib, init, capsys_read):
    torch = lib
    GCNLayer, GATLayer = gnn_layers(lib)
    rec = {}
    node_feats = torch.arange(8, dtype=torch.float32).view(1, 4, 2)
    adj_matrix = torch.Tensor([[[1, 1, 0, 0], [1, 1, 1, 1], [0, 1, 1, 1], [0, 1, 1, 1]]])

    layer = GCNLayer(c_in=2, c_out=2)
    with torch.no_grad():  # notebook: layer.projection.weight.data = torch.Tensor(...) (README: .data)
        layer.projection.weight.copy_(torch.Tensor([[1.0, 0.0], [0.0, 1.0]]))
        layer.projection.bias.copy_(torch.Tensor([0.0, 0.0]))
    with torch.no_grad():
        out_feats = layer(node_feats, adj_matrix)
    rec["gcn"] = out_feats

    layer = GATLayer(2, 2, num_heads=2)
    with torch.no_grad():
        layer.projection.weight.copy_(torch.Tensor([[1.0, 0.0], [0.0, 1.0]]))
        layer.projection.bias.copy_(torch.Tensor([0.0, 0.0]))
        layer.a.copy_(torch.Tensor([[-0.2, 0.3], [0.1, -0.1]]))
    with torch.no_grad():
        out_feats, probs = layer(node_feats, adj_matrix, print_attn_probs=True)
    rec["gat"] = (out_feats, probs)
    rec["printed"] = capsys_read()
    return rec


def test_tutorial7_notebook_examples(f32, capsys):
    """The notebook's hand-set weights, float32 as written; the GCN output is exact, the GAT's a softmax."""
    ours, theirs = _both(gnn_notebook_examples, lambda: capsys.readouterr().out, loose={"printed": {}},
                         rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(ours["gcn"].numpy(), [[[1, 2], [3, 4], [4, 5], [4, 5]]])
    # print(..., attn_probs.permute(0, 3, 1, 2)) prints the same text, character for character
    assert ours["printed"] == theirs["printed"] and ours["printed"].startswith("Attention probs\n tensor([[[[0.3543,")


def gnn_training(lib, init, graph):
    """Node classification on a batch of small graphs with a GCN layer then a GAT layer (both heads modes)."""
    torch = lib
    nn = torch.nn
    F = nn.functional
    GCNLayer, GATLayer = gnn_layers(lib)
    feats, adj, labels = (torch.tensor(a) for a in graph)

    class GNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.gcn = GCNLayer(3, 8)
            self.gat = GATLayer(8, 8, num_heads=2, concat_heads=True)
            self.gat2 = GATLayer(8, 4, num_heads=2, concat_heads=False)

        def forward(self, x, adj):
            x = F.relu(self.gcn(x, adj))
            x, _ = self.gat(x, adj)
            x = F.elu(x)
            x, probs = self.gat2(x, adj)
            return x, probs

    model = init(lib, GNN())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    rec = {"losses": []}
    for step in range(3):
        out, probs = model(feats, adj)
        loss = F.cross_entropy(out.view(-1, 4), labels.view(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        rec["losses"].append(loss)
        if step == 0:
            rec["grads"] = {k: g.clone() for k, g in _grads(model).items()}
            rec["probs"] = probs
    rec["params"] = _params(model)
    return rec


def test_tutorial7_gcn_gat_training(f64):
    rng = np.random.default_rng(2)
    B, N = 2, 5
    adj = (rng.random((B, N, N)) < 0.4).astype(np.float64)
    adj = np.maximum(adj, adj.transpose(0, 2, 1))
    adj[:, np.arange(N), np.arange(N)] = 1  # self-connections, as the notebook's GCN assumes
    ours, _ = _both(gnn_training, (rng.standard_normal((B, N, 3)), adj, rng.integers(0, 4, (B, N))))
    # non-edges get exactly zero attention (-9e15 before the softmax)
    assert not (ours["probs"].numpy()[np.broadcast_to(adj[..., None] == 0, ours["probs"].shape)]).any()


def test_index_select_takes_torchs_input_keyword(device):
    """`torch.index_select(input=x, index=i, dim=0)` (tutorial 7) was a TypeError: the first parameter was `x`."""
    x = mg.arange(12.0, device=device).view(4, 3).requires_grad_()
    i = mg.tensor([3, 0, 3], device=device)
    out = mg.index_select(input=x, index=i, dim=0)
    assert out.tolist() == [[9.0, 10.0, 11.0], [0.0, 1.0, 2.0], [9.0, 10.0, 11.0]]
    out.sum().backward()
    assert x.grad.tolist() == [[1.0] * 3, [0.0] * 3, [0.0] * 3, [2.0] * 3]
    tx = torch.arange(12.0).view(4, 3)
    assert torch.index_select(input=tx, index=torch.tensor([3, 0, 3]), dim=0).tolist() == out.tolist()


REDUCTIONS = {
    "sum": lambda x: x.sum(dim=1), "mean": lambda x: x.mean(dim=1), "sum keepdim": lambda x: x.sum(1, keepdim=True),
    "mean keepdim": lambda x: x.mean(dim=-1, keepdim=True), "var": lambda x: x.var(dim=1), "std": lambda x: x.std(1),
    "amax": lambda x: x.amax(dim=1), "amin": lambda x: x.amin(dim=(0, 1)), "prod": lambda x: x.prod(dim=1),
    "norm": lambda x: x.norm(dim=1), "logsumexp": lambda x: x.logsumexp(dim=1),
}


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reductions_of_a_permuted_tensor_are_contiguous_like_torchs(device, name):
    """Tutorial 7's `node_feats.mean(dim=2)` of an einsum result, then `.view(-1, C)`: torch's reductions return
    contiguous tensors, NumPy's keep the input's layout, and minigrad's view refused the shape (was a
    RuntimeError). The values and gradients are unchanged."""
    a = np.random.default_rng(0).random((3, 4, 5))
    x = mg.tensor(a, device=device, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    y, ty = REDUCTIONS[name](x.permute(2, 0, 1)), REDUCTIONS[name](tx.permute(2, 0, 1))
    assert y.is_contiguous() and ty.is_contiguous()
    assert y.stride() == ty.stride()
    y.view(-1).sum().backward()
    ty.view(-1).sum().backward()
    np.testing.assert_allclose(y.detach().cpu().numpy(), ty.detach().numpy(), **TOL)
    np.testing.assert_allclose(x.grad.cpu().numpy(), tx.grad.numpy(), **TOL)
