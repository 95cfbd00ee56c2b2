"""Porting audit: Daniel Voigt Godoy's "Deep Learning with PyTorch Step-by-Step" (volumes I-III), run in torch
and in minigrad.

Programs (written from memory, as readers type them): the `StepByStep` class (to(device), set_seed,
the _make_train_step_fn / _make_val_step_fn closures, _mini_batch, train, save/load_checkpoint, predict,
count_parameters), its visualization hooks keyed by layer name (attach_hooks / remove_hooks), the LR range
test (LambdaLR with an exponential or linear factor, model and optimizer state restored with deepcopy,
smoothed loss), gradient clipping (clip_grad_value_, clip_grad_norm_, clamping in `p.register_hook`),
capture_gradients / capture_parameters, schedulers stepped per epoch (StepLR, ReduceLROnPlateau on the
validation loss) and per mini-batch (CyclicLR with SGD momentum), BatchNorm1d with momentum=None, Dropout in
train vs eval, and Volume III's sequence models: Encoder/Decoder over nn.GRU(batch_first=True) with teacher
forcing, Attention with `masked_fill(mask == 0, -1e9)`, the EncoderDecoderSelfAttn with its subsequent_mask
and PositionalEncoding, and a model around `nn.Transformer` with `generate_square_subsequent_mask`.

Each program is built in both libraries with the same float64 weights (torch's state_dict loaded into
minigrad) and trained a few steps on small generated data; losses, outputs, gradients, learning rates and
updated parameters are compared (rtol 1e-7). Teacher forcing draws from one `random.Random(seed)` per library
(the book's `torch.rand(1)` has no counterpart stream in minigrad); dropout is compared in eval or as
statistics. Shuffled loaders are compared for reproducibility within minigrad (the streams differ by design).
"""
import copy
import random
from collections import OrderedDict

import numpy as np
import pytest

import minigrad as mg
from porting import closer, to_numpy

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _restore_cudnn_flags():
    """set_seed sets backends.cudnn.deterministic / benchmark in both libraries: put them back after each test."""
    saved = [(lib.backends.cudnn, lib.backends.cudnn.deterministic, lib.backends.cudnn.benchmark) for lib in (torch, mg)]
    yield
    for cudnn, deterministic, benchmark in saved:
        cudnn.deterministic, cudnn.benchmark = deterministic, benchmark

LIBS = (torch, mg)
close = closer(dict(rtol=1e-7, atol=1e-12))


def same_weights(ours, theirs):
    """Copy torch module `theirs`'s state into minigrad module `ours` (as numpy arrays)."""
    res = ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert res.missing_keys == [] and res.unexpected_keys == []
    return ours


def compare_state(ours, theirs, what):
    sd_o, sd_t = ours.state_dict(), theirs.state_dict()
    assert list(sd_o) == list(sd_t), what
    for k in sd_t:
        close(f"{what}: {k}", sd_o[k], sd_t[k])


def both(build):
    """build(lib) in torch (seeded) and in minigrad with torch's weights."""
    torch.manual_seed(0)
    t = build(torch)
    return same_weights(build(mg), t), t


# ---------------------------------------------------------------- the StepByStep class (Volume I, ch. 2.1 on)
def step_by_step(lib):
    """Godoy's StepByStep class, written against `lib` (torch or minigrad) exactly as in the book."""
    nn, optim = lib.nn, lib.optim
    LambdaLR = optim.lr_scheduler.LambdaLR
    lr_sched = optim.lr_scheduler

    def make_lr_fn(start_lr, end_lr, num_iter, step_mode="exp"):
        if step_mode == "linear":
            factor = (end_lr / start_lr - 1) / num_iter

            def lr_fn(iteration):
                return 1 + iteration * factor
        else:
            factor = (np.log(end_lr) - np.log(start_lr)) / num_iter  # a NumPy float64, as in the book

            def lr_fn(iteration):
                return np.exp(factor) ** iteration
        return lr_fn

    class StepByStep(object):
        def __init__(self, model, loss_fn, optimizer):
            self.model = model
            self.loss_fn = loss_fn
            self.optimizer = optimizer
            self.device = "cuda" if lib.cuda.is_available() else "cpu"
            self.model.to(self.device)
            self.train_loader = None
            self.val_loader = None
            self.scheduler = None
            self.is_batch_lr_scheduler = False
            self.clipping = None
            self.losses = []
            self.val_losses = []
            self.learning_rates = []
            self.total_epochs = 0
            self.visualization = {}
            self.handles = {}
            self._gradients = {}
            self._parameters = {}
            self.train_step_fn = self._make_train_step_fn()
            self.val_step_fn = self._make_val_step_fn()

        def to(self, device):
            try:
                self.device = device
                self.model.to(self.device)
            except RuntimeError:
                self.device = "cuda" if lib.cuda.is_available() else "cpu"
                print(f"Couldn't send it to {device}, sending it to {self.device} instead.")
                self.model.to(self.device)

        def set_loaders(self, train_loader, val_loader=None):
            self.train_loader = train_loader
            self.val_loader = val_loader

        def set_optimizer(self, optimizer):
            self.optimizer = optimizer

        def set_lr_scheduler(self, scheduler):
            if scheduler.optimizer == self.optimizer:
                self.scheduler = scheduler
                if (isinstance(scheduler, lr_sched.CyclicLR) or isinstance(scheduler, lr_sched.OneCycleLR)
                        or isinstance(scheduler, lr_sched.CosineAnnealingWarmRestarts)):
                    self.is_batch_lr_scheduler = True
                else:
                    self.is_batch_lr_scheduler = False

        def _make_train_step_fn(self):
            def perform_train_step_fn(x, y):
                self.model.train()
                yhat = self.model(x)
                loss = self.loss_fn(yhat, y)
                loss.backward()
                if callable(self.clipping):
                    self.clipping()
                self.optimizer.step()
                self.optimizer.zero_grad()
                return loss.item()
            return perform_train_step_fn

        def _make_val_step_fn(self):
            def perform_val_step_fn(x, y):
                self.model.eval()
                yhat = self.model(x)
                loss = self.loss_fn(yhat, y)
                return loss.item()
            return perform_val_step_fn

        def _mini_batch(self, validation=False):
            if validation:
                data_loader = self.val_loader
                step_fn = self.val_step_fn
            else:
                data_loader = self.train_loader
                step_fn = self.train_step_fn
            if data_loader is None:
                return None
            n_batches = len(data_loader)
            mini_batch_losses = []
            for i, (x_batch, y_batch) in enumerate(data_loader):
                x_batch = x_batch.to(self.device)
                y_batch = y_batch.to(self.device)
                mini_batch_loss = step_fn(x_batch, y_batch)
                mini_batch_losses.append(mini_batch_loss)
                if not validation:
                    self._mini_batch_schedulers(i / n_batches)
            loss = np.mean(mini_batch_losses)
            return loss

        def _mini_batch_schedulers(self, frac_epoch):
            if self.scheduler:
                if self.is_batch_lr_scheduler:
                    if isinstance(self.scheduler, lr_sched.CosineAnnealingWarmRestarts):
                        self.scheduler.step(self.total_epochs + frac_epoch)
                    else:
                        self.scheduler.step()
                    current_lr = list(map(lambda d: d["lr"], self.scheduler.optimizer.state_dict()["param_groups"]))
                    self.learning_rates.append(current_lr)

        def _epoch_schedulers(self, val_loss):
            if self.scheduler:
                if not self.is_batch_lr_scheduler:
                    if isinstance(self.scheduler, lr_sched.ReduceLROnPlateau):
                        self.scheduler.step(val_loss)
                    else:
                        self.scheduler.step()
                    current_lr = list(map(lambda d: d["lr"], self.scheduler.optimizer.state_dict()["param_groups"]))
                    self.learning_rates.append(current_lr)

        def set_seed(self, seed=42):
            lib.backends.cudnn.deterministic = True
            lib.backends.cudnn.benchmark = False
            lib.manual_seed(seed)
            np.random.seed(seed)
            random.seed(seed)
            try:
                self.train_loader.sampler.generator.manual_seed(seed)
            except AttributeError:
                pass

        def train(self, n_epochs, seed=42):
            self.set_seed(seed)
            for epoch in range(n_epochs):
                self.total_epochs += 1
                loss = self._mini_batch(validation=False)
                self.losses.append(loss)
                with lib.no_grad():
                    val_loss = self._mini_batch(validation=True)
                    self.val_losses.append(val_loss)
                self._epoch_schedulers(val_loss)

        def save_checkpoint(self, filename):
            checkpoint = {"epoch": self.total_epochs,
                          "model_state_dict": self.model.state_dict(),
                          "optimizer_state_dict": self.optimizer.state_dict(),
                          "loss": self.losses,
                          "val_loss": self.val_losses}
            lib.save(checkpoint, filename)

        def load_checkpoint(self, filename):
            checkpoint = lib.load(filename, weights_only=False)
            self.model.load_state_dict(checkpoint["model_state_dict"])
            self.optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
            self.total_epochs = checkpoint["epoch"]
            self.losses = checkpoint["loss"]
            self.val_losses = checkpoint["val_loss"]
            self.model.train()

        def predict(self, x):
            self.model.eval()
            x_tensor = lib.as_tensor(x).float()
            y_hat_tensor = self.model(x_tensor.to(self.device))
            self.model.train()
            return y_hat_tensor.detach().cpu().numpy()

        def count_parameters(self):
            return sum(p.numel() for p in self.model.parameters() if p.requires_grad)

        def attach_hooks(self, layers_to_hook, hook_fn=None):
            self.visualization = {}
            modules = list(self.model.named_modules())
            layer_names = {layer: name for name, layer in modules[1:]}
            if hook_fn is None:
                def hook_fn(layer, inputs, outputs):
                    name = layer_names[layer]
                    values = outputs.detach().cpu().numpy()
                    if self.visualization[name] is None:
                        self.visualization[name] = values
                    else:
                        self.visualization[name] = np.concatenate([self.visualization[name], values])
            for name, layer in modules:
                if name in layers_to_hook:
                    self.visualization[name] = None
                    self.handles[name] = layer.register_forward_hook(hook_fn)

        def remove_hooks(self):
            for handle in self.handles.values():
                handle.remove()
            self.handles = {}

        def lr_range_test(self, data_loader, end_lr, num_iter=100, step_mode="exp", alpha=0.05):
            previous_states = {"model": copy.deepcopy(self.model.state_dict()),
                               "optimizer": copy.deepcopy(self.optimizer.state_dict())}
            start_lr = self.optimizer.state_dict()["param_groups"][0]["lr"]
            lr_fn = make_lr_fn(start_lr, end_lr, num_iter, step_mode)
            scheduler = LambdaLR(self.optimizer, lr_lambda=lr_fn)
            tracking = {"loss": [], "lr": []}
            iteration = 0
            while iteration < num_iter:
                for x_batch, y_batch in data_loader:
                    x_batch = x_batch.to(self.device)
                    y_batch = y_batch.to(self.device)
                    self.model.train()
                    yhat = self.model(x_batch)
                    loss = self.loss_fn(yhat, y_batch)
                    loss.backward()
                    tracking["lr"].append(scheduler.get_last_lr()[0])
                    if iteration == 0:
                        tracking["loss"].append(loss.item())
                    else:
                        prev_loss = tracking["loss"][-1]
                        smoothed_loss = alpha * loss.item() + (1 - alpha) * prev_loss
                        tracking["loss"].append(smoothed_loss)
                    iteration += 1
                    if iteration == num_iter:
                        break
                    self.optimizer.step()
                    scheduler.step()
                    self.optimizer.zero_grad()
            self.optimizer.load_state_dict(previous_states["optimizer"])
            self.model.load_state_dict(previous_states["model"])
            return tracking

        def set_clip_grad_value(self, clip_value):
            self.clipping = lambda: nn.utils.clip_grad_value_(self.model.parameters(), clip_value=clip_value)

        def set_clip_grad_norm(self, max_norm, norm_type=2):
            self.clipping = lambda: nn.utils.clip_grad_norm_(self.model.parameters(), max_norm, norm_type)

        def set_clip_backprop(self, clip_value):
            if self.clipping is None:
                self.clipping = []
            for p in self.model.parameters():
                if p.requires_grad:
                    func = lambda grad: lib.clamp(grad, -clip_value, clip_value)  # noqa: E731
                    handle = p.register_hook(func)
                    self.clipping.append(handle)

        def remove_clip(self):
            if isinstance(self.clipping, list):
                for handle in self.clipping:
                    handle.remove()
            self.clipping = None

        def capture_gradients(self, layers_to_hook):
            if not isinstance(layers_to_hook, list):
                layers_to_hook = [layers_to_hook]
            modules = list(self.model.named_modules())
            self._gradients = {}

            def make_log_fn(name, parm_id):
                def log_fn(grad):
                    self._gradients[name][parm_id].append(grad.tolist())
                    return None
                return log_fn

            for name, layer in modules:
                if name in layers_to_hook:
                    self._gradients.update({name: {}})
                    for parm_id, p in layer.named_parameters():
                        if p.requires_grad:
                            self._gradients[name].update({parm_id: []})
                            log_fn = make_log_fn(name, parm_id)
                            self.handles[f"{name}.{parm_id}.grad"] = p.register_hook(log_fn)

        def capture_parameters(self, layers_to_hook):
            if not isinstance(layers_to_hook, list):
                layers_to_hook = [layers_to_hook]
            modules = list(self.model.named_modules())
            layer_names = {layer: name for name, layer in modules}
            self._parameters = {}
            for name, layer in modules:
                if name in layers_to_hook:
                    self._parameters.update({name: {}})
                    for parm_id, p in layer.named_parameters():
                        self._parameters[name].update({parm_id: []})

            def fw_hook_fn(layer, inputs, outputs):
                name = layer_names[layer]
                for parm_id, parameter in layer.named_parameters():
                    self._parameters[name][parm_id].append(parameter.tolist())

            self.attach_hooks(layers_to_hook, fw_hook_fn)

    return StepByStep


def regression_data(n=40, seed=42):
    """Volume I's synthetic linear regression: y = 1 + 2x + noise (float64, as NumPy gives it)."""
    rng = np.random.RandomState(seed)
    x = rng.rand(n, 1)
    y = 1 + 2 * x + 0.1 * rng.randn(n, 1)
    return x, y


def loaders(lib, x, y, batch_size=8, shuffle=False, n_train=32, dtype=None):
    dtype = dtype or lib.float64
    data = lib.utils.data
    x_t, y_t = lib.as_tensor(x).to(dtype), lib.as_tensor(y).to(dtype)
    train = data.TensorDataset(x_t[:n_train], y_t[:n_train])
    val = data.TensorDataset(x_t[n_train:], y_t[n_train:])
    return (data.DataLoader(train, batch_size=batch_size, shuffle=shuffle),
            data.DataLoader(val, batch_size=batch_size))


def mlp(lib):
    nn = lib.nn
    return nn.Sequential(OrderedDict([("fc1", nn.Linear(1, 5)), ("relu1", nn.ReLU()),
                                      ("fc2", nn.Linear(5, 3)), ("relu2", nn.ReLU()),
                                      ("fc3", nn.Linear(3, 1))])).double()


def setup(lib, model, opt_cls=None, shuffle=False, **opt_kw):
    opt_cls = opt_cls or (lambda ps, **kw: lib.optim.SGD(ps, lr=0.1, **kw))
    sbs = step_by_step(lib)(model, lib.nn.MSELoss(reduction="mean"), opt_cls(model.parameters(), **opt_kw))
    x, y = regression_data()
    sbs.set_loaders(*loaders(lib, x, y, shuffle=shuffle))
    return sbs


def test_stepbystep_train_predict_count_parameters():
    m_model, t_model = both(mlp)
    res = {}
    for lib, model in ((torch, t_model), (mg, m_model)):
        sbs = setup(lib, model)
        sbs.to("cpu")
        sbs.train(n_epochs=3)
        assert not model.training  # the last step of train() is a validation step: the model is left in eval
        res[lib] = sbs
    close("train losses", np.array(res[mg].losses), np.array(res[torch].losses))
    close("val losses", np.array(res[mg].val_losses), np.array(res[torch].val_losses))
    assert res[mg].count_parameters() == res[torch].count_parameters() == 10 + 18 + 4
    assert all(isinstance(v, np.floating) for v in res[mg].losses)
    compare_state(m_model, t_model, "after 3 epochs")
    # predict runs the float64 model on a float32 tensor: torch refuses (a dtype mismatch in addmm); so
    # does minigrad, with its own error -- the book's models are float32, where predict works
    for lib, model in ((torch, t_model), (mg, m_model)):
        with pytest.raises((RuntimeError, TypeError)):
            step_by_step(lib)(model, lib.nn.MSELoss(), lib.optim.SGD(model.parameters(), lr=0.1)).predict(
                np.array([[0.5]]))
    preds = {}
    for lib, model in ((torch, t_model), (mg, m_model)):
        model32 = copy.deepcopy(model).float()
        sbs = step_by_step(lib)(model32, lib.nn.MSELoss(), lib.optim.SGD(model32.parameters(), lr=0.1))
        preds[lib] = sbs.predict(np.array([[0.2], [0.5], [0.9]]))  # float64 NumPy, made float32 by .float()
        assert preds[lib].dtype == np.float32 and model32.training  # predict switches back to train()
    close("predict (float32)", preds[mg], preds[torch], rtol=1e-6)


def test_checkpoint_resumes_training_like_uninterrupted(tmp_path):
    m_model, t_model = both(mlp)
    t_sbs = setup(torch, t_model, momentum=0.9)
    t_sbs.train(4)
    m_sbs = setup(mg, m_model, momentum=0.9)
    m_sbs.train(2)
    m_sbs.save_checkpoint(tmp_path / "model_checkpoint.pth")
    fresh = mg.nn.Sequential(OrderedDict([("fc1", mg.nn.Linear(1, 5)), ("relu1", mg.nn.ReLU()),
                                          ("fc2", mg.nn.Linear(5, 3)), ("relu2", mg.nn.ReLU()),
                                          ("fc3", mg.nn.Linear(3, 1))])).double()
    new_sbs = setup(mg, fresh, momentum=0.9)
    new_sbs.load_checkpoint(tmp_path / "model_checkpoint.pth")
    assert new_sbs.total_epochs == 2 and fresh.training
    new_sbs.train(2)
    assert new_sbs.total_epochs == 4
    close("losses across the checkpoint", np.array(new_sbs.losses), np.array(t_sbs.losses))
    close("val losses across the checkpoint", np.array(new_sbs.val_losses), np.array(t_sbs.val_losses))
    compare_state(fresh, t_model, "resumed model")


def test_set_seed_makes_shuffled_training_reproducible():
    runs = []
    for _ in range(2):
        mg.manual_seed(7)
        model = mlp(mg)
        sbs = setup(mg, model, shuffle=True)
        sbs.train(2, seed=13)
        runs.append((sbs.losses, model.state_dict()))
    assert runs[0][0] == runs[1][0]
    for k in runs[0][1]:
        np.testing.assert_array_equal(runs[0][1][k].numpy(), runs[1][1][k].numpy())
    # a loader given its own generator: the book's `sampler.generator.manual_seed(seed)` path
    g = mg.Generator()
    x, y = regression_data()
    ds = mg.utils.data.TensorDataset(mg.as_tensor(x), mg.as_tensor(y))
    dl = mg.utils.data.DataLoader(ds, batch_size=8, shuffle=True, generator=g)
    orders = []
    for _ in range(2):
        dl.sampler.generator.manual_seed(3)
        orders.append([xb.numpy().ravel().tolist() for xb, _ in dl])
    assert orders[0] == orders[1]


# ---------------------------------------------------------------- visualization hooks (Volume I, ch. 5)
def test_forward_hooks_by_layer_name_collect_outputs():
    m_model, t_model = both(mlp)
    vis = {}
    for lib, model in ((torch, t_model), (mg, m_model)):
        sbs = setup(lib, model)
        sbs.attach_hooks(["fc1", "relu1", "fc3"])
        assert sorted(sbs.handles) == ["fc1", "fc3", "relu1"]
        model.eval()
        with lib.no_grad():
            for xb, _ in sbs.val_loader:
                model(xb)
            model(lib.as_tensor(np.array([[0.3]])))
        vis[lib] = dict(sbs.visualization)
        sbs.remove_hooks()
        assert sbs.handles == {}
        model(lib.as_tensor(np.array([[0.1]])))
        assert sbs.visualization["fc1"].shape == (9, 5)  # removed: nothing more collected
    assert list(vis[mg]) == list(vis[torch])
    for k in vis[torch]:
        close(f"hooked output {k}", vis[mg][k], vis[torch][k])


# ---------------------------------------------------------------- LR range test (Volume II, ch. 6)
@pytest.mark.parametrize("step_mode", ["exp", "linear"])
def test_lr_range_test_tracks_and_restores(step_mode):
    m_model, t_model = both(mlp)
    track = {}
    for lib, model in ((torch, t_model), (mg, m_model)):
        sbs = setup(lib, model, opt_cls=lambda ps, **kw: lib.optim.Adam(ps, lr=0.01, **kw))
        sbs.train(1)  # the optimizer has state (Adam moments) to restore
        before_model = copy.deepcopy(model.state_dict())
        before_opt = copy.deepcopy(sbs.optimizer.state_dict())
        track[lib] = sbs.lr_range_test(sbs.train_loader, end_lr=1.0, num_iter=7, step_mode=step_mode)
        for k, v in model.state_dict().items():
            np.testing.assert_array_equal(np.asarray(v.detach().numpy()), before_model[k].detach().numpy(), err_msg=k)
        after_opt = sbs.optimizer.state_dict()
        assert after_opt["param_groups"][0]["lr"] == before_opt["param_groups"][0]["lr"] == 0.01
        for i, st in before_opt["state"].items():
            for k in ("exp_avg", "exp_avg_sq"):
                # minigrad's optimizer state entries are raw backend arrays (documented); torch's are tensors
                np.testing.assert_array_equal(to_numpy(after_opt["state"][i][k]), to_numpy(st[k]))
        # the LambdaLR left by the range test also set `initial_lr`, as torch's does
        assert after_opt["param_groups"][0].get("initial_lr") == before_opt["param_groups"][0].get("initial_lr")
    close("range-test lrs", np.array(track[mg]["lr"]), np.array(track[torch]["lr"]))
    close("range-test smoothed losses", np.array(track[mg]["loss"]), np.array(track[torch]["loss"]))


def test_lr_range_test_numpy_float64_factor_keeps_float32():
    """make_lr_fn returns NumPy float64 factors, so the lr in param_groups becomes np.float64: the
    float32 parameters must stay float32 through the steps (torch: they do)."""
    mg.manual_seed(0)
    model = mlp(mg).float()
    sbs = step_by_step(mg)(model, mg.nn.MSELoss(), mg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9))
    x, y = regression_data()
    train_loader, _ = loaders(mg, x, y, dtype=mg.float32)
    opt = sbs.optimizer
    sched = mg.optim.lr_scheduler.LambdaLR(opt, lr_lambda=lambda it: np.exp(np.float64(0.3)) ** it)
    for xb, yb in train_loader:
        sbs.loss_fn(model(xb), yb).backward()
        opt.step()
        sched.step()
        opt.zero_grad()
    assert isinstance(opt.param_groups[0]["lr"], np.floating)
    assert all(p.dtype == mg.float32 for p in model.parameters())
    assert all(opt.state[p]["momentum_buffer"].dtype == mg.float32 for p in model.parameters())
    tracking = sbs.lr_range_test(train_loader, end_lr=1.0, num_iter=5)
    assert len(tracking["lr"]) == 5 and all(p.dtype == mg.float32 for p in model.parameters())


# ---------------------------------------------------------------- gradient clipping (Volume II, ch. 7)
@pytest.mark.parametrize("how", ["value", "norm", "backprop"])
def test_gradient_clipping_variants(how):
    m_model, t_model = both(mlp)
    sbss = {}
    for lib, model in ((torch, t_model), (mg, m_model)):
        sbs = setup(lib, model, opt_cls=lambda ps, **kw: lib.optim.SGD(ps, lr=0.5, **kw))
        if how == "value":
            sbs.set_clip_grad_value(0.05)
        elif how == "norm":
            sbs.set_clip_grad_norm(0.1)
        else:
            sbs.set_clip_backprop(0.05)
            assert len(sbs.clipping) == 6
        sbs.train(2)
        # clipping is active: every recorded gradient is within the limit
        if how != "norm":
            loss = sbs.loss_fn(model(lib.as_tensor(np.array([[3.0]]))), lib.as_tensor(np.array([[-5.0]])))
            loss.backward()
            if how == "value":
                sbs.clipping()
            assert max(float(p.grad.abs().max()) for p in model.parameters()) <= 0.05
            sbs.optimizer.zero_grad()
        sbs.remove_clip()
        assert sbs.clipping is None
        sbs.train(1)  # unclipped from here on
        sbss[lib] = sbs
    close("losses", np.array(sbss[mg].losses), np.array(sbss[torch].losses))
    compare_state(m_model, t_model, f"after clip_{how}")
    # after remove_clip the hooks are gone: a gradient larger than the limit survives
    loss = sbss[mg].loss_fn(m_model(mg.as_tensor(np.array([[3.0]]))), mg.as_tensor(np.array([[-50.0]])))
    loss.backward()
    assert max(float(p.grad.abs().max()) for p in m_model.parameters()) > 0.05


# ---------------------------------------------------------------- capturing gradients and parameters
def test_capture_gradients_and_parameters_with_hooks():
    m_model, t_model = both(mlp)
    got = {}
    for lib, model in ((torch, t_model), (mg, m_model)):
        sbs = setup(lib, model)
        sbs.capture_gradients(["fc1", "fc3"])
        sbs.capture_parameters(["fc1"])
        sbs.train(2)
        assert sorted(sbs.handles) == ["fc1", "fc1.bias.grad", "fc1.weight.grad", "fc3.bias.grad", "fc3.weight.grad"]
        sbs.remove_hooks()
        got[lib] = (sbs._gradients, sbs._parameters)
    (mgrad, mpar), (tgrad, tpar) = got[mg], got[torch]
    assert list(mgrad) == list(tgrad) and list(mgrad["fc1"]) == ["weight", "bias"]
    for layer in tgrad:
        for pid in tgrad[layer]:
            assert len(mgrad[layer][pid]) == len(tgrad[layer][pid]) == 8  # 4 mini-batches x 2 epochs
            assert isinstance(mgrad[layer][pid][0], list) and isinstance(mgrad[layer][pid][0][0], (list, float))
            close(f"captured grad {layer}.{pid}", np.array(mgrad[layer][pid]), np.array(tgrad[layer][pid]))
    for pid in tpar["fc1"]:
        # forward hooks fire in training and in validation: 8 train + 2 val batches
        assert len(mpar["fc1"][pid]) == len(tpar["fc1"][pid]) == 10
        close(f"captured parameter fc1.{pid}", np.array(mpar["fc1"][pid]), np.array(tpar["fc1"][pid]))


# ---------------------------------------------------------------- schedulers (Volume II, ch. 6)
@pytest.mark.parametrize("kind", ["step", "plateau", "cyclic"])
def test_schedulers_per_epoch_and_per_batch(kind):
    m_model, t_model = both(mlp)
    sbss = {}
    for lib, model in ((torch, t_model), (mg, m_model)):
        sched = lib.optim.lr_scheduler
        sbs = setup(lib, model, opt_cls=lambda ps, **kw: lib.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True))
        if kind == "step":
            s = sched.StepLR(sbs.optimizer, step_size=2, gamma=0.5)
        elif kind == "plateau":
            s = sched.ReduceLROnPlateau(sbs.optimizer, patience=0, factor=0.5, threshold=0.5)
        else:
            s = sched.CyclicLR(sbs.optimizer, base_lr=0.01, max_lr=0.1, step_size_up=3, mode="triangular2",
                               cycle_momentum=False)
        sbs.set_lr_scheduler(s)
        assert sbs.is_batch_lr_scheduler == (kind == "cyclic")
        sbs.train(4)
        sbss[lib] = sbs
    assert len(sbss[mg].learning_rates) == (16 if kind == "cyclic" else 4)
    close("learning rates", np.array(sbss[mg].learning_rates), np.array(sbss[torch].learning_rates))
    close("losses", np.array(sbss[mg].losses), np.array(sbss[torch].losses))
    compare_state(m_model, t_model, f"after training with {kind}")
    if kind == "plateau":
        assert min(lr for (lr,) in sbss[mg].learning_rates) < 0.1  # it did reduce


# ---------------------------------------------------------------- BatchNorm1d and Dropout (Volume II, ch. 7)
def test_batchnorm1d_momentum_none_is_cumulative_average():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(8, 2)) for _ in range(3)]
    res = {}
    for lib in LIBS:
        bn = lib.nn.BatchNorm1d(num_features=2, affine=False, momentum=None).double()
        bn.train()
        for b in batches:
            out = bn(lib.as_tensor(b))
        # train-mode output is standardised with the batch's own (biased) statistics
        assert np.allclose(out.detach().numpy().mean(0), 0.0, atol=1e-12)
        bn.eval()
        ev = bn(lib.as_tensor(batches[0]))
        res[lib] = (bn.running_mean, bn.running_var, bn.num_batches_tracked, ev)
        assert list(bn.state_dict()) == ["running_mean", "running_var", "num_batches_tracked"]
    for what, a, b in zip(("running_mean", "running_var", "num_batches_tracked", "eval output"), res[mg], res[torch]):
        close(what, a, b)
    # momentum=None: the plain average of the batches' means and (unbiased) variances
    close("cumulative mean", res[mg][0], np.mean([b.mean(0) for b in batches], 0))
    close("cumulative var", res[mg][1], np.mean([b.var(0, ddof=1) for b in batches], 0))
    assert int(res[mg][2]) == 3


def test_dropout_train_vs_eval():
    x = np.arange(1, 1001, dtype=np.float64).reshape(10, 100) / 100.0
    for lib in LIBS:
        lib.manual_seed(42)
        drop = lib.nn.Dropout(p=0.5)
        xt = lib.as_tensor(x)
        drop.eval()
        np.testing.assert_array_equal(drop(xt).numpy(), x)  # identity in eval
        drop.train()
        out = drop(xt).numpy()
        kept = out != 0
        np.testing.assert_allclose(out[kept], x[kept] / 0.5, rtol=1e-15)  # survivors scaled by 1/(1-p)
        # 1000 Bernoulli(0.5) draws: the kept fraction is within 5 standard deviations (0.079) of 0.5
        assert abs(kept.mean() - 0.5) < 0.08


# ---------------------------------------------------------------- Volume III: sequence models
def seq_models(lib, rng_draw=None):
    nn, F = lib.nn, lib.nn.functional

    class Encoder(nn.Module):
        def __init__(self, n_features, hidden_dim):
            super().__init__()
            self.hidden_dim = hidden_dim
            self.n_features = n_features
            self.hidden = None
            self.basic_rnn = nn.GRU(self.n_features, self.hidden_dim, batch_first=True)

        def forward(self, X):
            rnn_out, self.hidden = self.basic_rnn(X)
            return rnn_out  # N, L, F

    class Decoder(nn.Module):
        def __init__(self, n_features, hidden_dim):
            super().__init__()
            self.hidden_dim = hidden_dim
            self.n_features = n_features
            self.hidden = None
            self.basic_rnn = nn.GRU(self.n_features, self.hidden_dim, batch_first=True)
            self.regression = nn.Linear(self.hidden_dim, self.n_features)

        def init_hidden(self, hidden_seq):
            hidden_final = hidden_seq[:, -1:]  # N, 1, H
            self.hidden = hidden_final.permute(1, 0, 2)  # 1, N, H

        def forward(self, X):
            batch_first_output, self.hidden = self.basic_rnn(X, self.hidden)
            last_output = batch_first_output[:, -1:]
            out = self.regression(last_output)
            return out.view(-1, 1, self.n_features)

    class EncoderDecoder(nn.Module):
        def __init__(self, encoder, decoder, input_len, target_len, teacher_forcing_prob=0.5):
            super().__init__()
            self.encoder = encoder
            self.decoder = decoder
            self.input_len = input_len
            self.target_len = target_len
            self.teacher_forcing_prob = teacher_forcing_prob
            self.outputs = None

        def init_outputs(self, batch_size):
            device = next(self.parameters()).device
            self.outputs = lib.zeros(batch_size, self.target_len, self.encoder.n_features).to(device)

        def store_output(self, i, out):
            self.outputs[:, i:i + 1, :] = out

        def forward(self, X):
            source_seq = X[:, :self.input_len, :]
            target_seq = X[:, self.input_len:, :]
            self.init_outputs(X.shape[0])
            hidden_seq = self.encoder(source_seq)
            self.decoder.init_hidden(hidden_seq)
            dec_inputs = source_seq[:, -1:, :]
            for i in range(self.target_len):
                out = self.decoder(dec_inputs)
                self.store_output(i, out)
                prob = self.teacher_forcing_prob
                if not self.training:
                    prob = 0
                if rng_draw() <= prob:  # the book: torch.rand(1) <= prob
                    dec_inputs = target_seq[:, i:i + 1, :]
                else:
                    dec_inputs = out
            return self.outputs

    class Attention(nn.Module):
        def __init__(self, hidden_dim, input_dim=None, proj_values=False):
            super().__init__()
            self.d_k = hidden_dim
            self.input_dim = hidden_dim if input_dim is None else input_dim
            self.proj_values = proj_values
            self.linear_query = nn.Linear(self.input_dim, hidden_dim)
            self.linear_key = nn.Linear(self.input_dim, hidden_dim)
            self.linear_value = nn.Linear(self.input_dim, hidden_dim)
            self.alphas = None

        def init_keys(self, keys):
            self.keys = keys
            self.proj_keys = self.linear_key(self.keys)
            self.values = self.linear_value(self.keys) if self.proj_values else self.keys

        def score_function(self, query):
            proj_query = self.linear_query(query)
            dot_products = lib.bmm(proj_query, self.proj_keys.permute(0, 2, 1))
            scores = dot_products / np.sqrt(self.d_k)
            return scores

        def forward(self, query, mask=None):
            scores = self.score_function(query)  # N, 1, L
            if mask is not None:
                scores = scores.masked_fill(mask == 0, -1e9)
            alphas = F.softmax(scores, dim=-1)
            self.alphas = alphas.detach()
            context = lib.bmm(alphas, self.values)
            return context

    class DecoderAttn(nn.Module):
        def __init__(self, n_features, hidden_dim):
            super().__init__()
            self.hidden_dim = hidden_dim
            self.n_features = n_features
            self.hidden = None
            self.basic_rnn = nn.GRU(self.n_features, self.hidden_dim, batch_first=True)
            self.attn = Attention(self.hidden_dim)
            self.regression = nn.Linear(2 * self.hidden_dim, self.n_features)

        def init_hidden(self, hidden_seq):
            self.attn.init_keys(hidden_seq)
            hidden_final = hidden_seq[:, -1:]
            self.hidden = hidden_final.permute(1, 0, 2)

        def forward(self, X, mask=None):
            batch_first_output, self.hidden = self.basic_rnn(X, self.hidden)
            query = batch_first_output[:, -1:]
            context = self.attn(query, mask=mask)
            concatenated = lib.cat([context, query], axis=-1)
            out = self.regression(concatenated)
            return out.view(-1, 1, self.n_features)

    class MultiHeadAttention(nn.Module):
        def __init__(self, n_heads, d_model, input_dim=None, proj_values=True):
            super().__init__()
            self.linear_out = nn.Linear(n_heads * d_model, d_model)
            self.attn_heads = nn.ModuleList([Attention(d_model, input_dim=input_dim, proj_values=proj_values)
                                             for _ in range(n_heads)])

        def init_keys(self, key):
            for attn in self.attn_heads:
                attn.init_keys(key)

        @property
        def alphas(self):
            return lib.stack([attn.alphas for attn in self.attn_heads], dim=0)

        def output_function(self, contexts):
            concatenated = lib.cat(contexts, axis=-1)
            return self.linear_out(concatenated)

        def forward(self, query, mask=None):
            contexts = [attn(query, mask=mask) for attn in self.attn_heads]
            return self.output_function(contexts)

    class EncoderSelfAttn(nn.Module):
        def __init__(self, n_heads, d_model, ff_units, n_features=None):
            super().__init__()
            self.n_heads = n_heads
            self.d_model = d_model
            self.ff_units = ff_units
            self.n_features = n_features
            self.self_attn_heads = MultiHeadAttention(n_heads, d_model, input_dim=n_features)
            self.ffn = nn.Sequential(nn.Linear(d_model, ff_units), nn.ReLU(), nn.Linear(ff_units, d_model))

        def forward(self, query, mask=None):
            self.self_attn_heads.init_keys(query)
            att = self.self_attn_heads(query, mask)
            return self.ffn(att)

    class DecoderSelfAttn(nn.Module):
        def __init__(self, n_heads, d_model, ff_units, n_features=None):
            super().__init__()
            self.n_heads = n_heads
            self.d_model = d_model
            self.ff_units = ff_units
            self.n_features = d_model if n_features is None else n_features
            self.self_attn_heads = MultiHeadAttention(n_heads, d_model, input_dim=self.n_features)
            self.cross_attn_heads = MultiHeadAttention(n_heads, d_model)
            self.ffn = nn.Sequential(nn.Linear(d_model, ff_units), nn.ReLU(), nn.Linear(ff_units, self.n_features))

        def init_keys(self, states):
            self.cross_attn_heads.init_keys(states)

        def forward(self, query, source_mask=None, target_mask=None):
            self.self_attn_heads.init_keys(query)
            att1 = self.self_attn_heads(query, target_mask)
            att2 = self.cross_attn_heads(att1, source_mask)
            return self.ffn(att2)

    class EncoderDecoderSelfAttn(nn.Module):
        def __init__(self, encoder, decoder, input_len, target_len):
            super().__init__()
            self.encoder = encoder
            self.decoder = decoder
            self.input_len = input_len
            self.target_len = target_len
            self.trg_masks = self.subsequent_mask(self.target_len)

        @staticmethod
        def subsequent_mask(size):
            attn_shape = (1, size, size)
            subsequent_mask = (1 - lib.triu(lib.ones(attn_shape), diagonal=1)).bool()
            return subsequent_mask

        def encode(self, source_seq, source_mask):
            encoder_states = self.encoder(source_seq, source_mask)
            self.decoder.init_keys(encoder_states)

        def decode(self, shifted_target_seq, source_mask=None, target_mask=None):
            return self.decoder(shifted_target_seq, source_mask=source_mask, target_mask=target_mask)

        def predict(self, source_seq, source_mask):
            inputs = source_seq[:, -1:]
            for i in range(self.target_len):
                out = self.decode(inputs, source_mask, self.trg_masks[:, :i + 1, :i + 1])
                out = lib.cat([inputs, out[:, -1:, :]], dim=-2)
                inputs = out.detach()
            return inputs[:, 1:, :]

        def forward(self, X, source_mask=None):
            self.trg_masks = self.trg_masks.type_as(X).bool()
            source_seq = X[:, :self.input_len, :]
            self.encode(source_seq, source_mask)
            if self.training:
                shifted_target_seq = X[:, self.input_len - 1:-1, :]
                outputs = self.decode(shifted_target_seq, source_mask, self.trg_masks)
            else:
                outputs = self.predict(source_seq, source_mask)
            return outputs

    class PositionalEncoding(nn.Module):
        def __init__(self, max_len, d_model):
            super().__init__()
            self.d_model = d_model
            pe = lib.zeros(max_len, d_model)
            position = lib.arange(0, max_len).float().unsqueeze(1)
            angular_speed = lib.exp(lib.arange(0, d_model, 2).float() * (-np.log(10000.0) / d_model))
            pe[:, 0::2] = lib.sin(position * angular_speed)
            pe[:, 1::2] = lib.cos(position * angular_speed)
            self.register_buffer("pe", pe.unsqueeze(0))

        def forward(self, x):
            scaled_x = x * np.sqrt(self.d_model)
            return scaled_x + self.pe[:, :x.size(1), :]

    class TransformerModel(nn.Module):
        def __init__(self, transformer, input_len, target_len, n_features):
            super().__init__()
            self.transf = transformer
            self.input_len = input_len
            self.target_len = target_len
            self.trg_masks = self.transf.generate_square_subsequent_mask(self.target_len)
            self.n_features = n_features
            self.proj = nn.Linear(n_features, self.transf.d_model)
            self.linear = nn.Linear(self.transf.d_model, n_features)
            max_len = max(self.input_len, self.target_len)
            self.pe = PositionalEncoding(max_len, self.transf.d_model)
            self.norm = nn.LayerNorm(self.transf.d_model)

        def preprocess(self, seq):
            seq_proj = self.proj(seq)
            seq_enc = self.pe(seq_proj)
            return self.norm(seq_enc)

        def encode_decode(self, source, target, source_mask=None, target_mask=None):
            src = self.preprocess(source)
            tgt = self.preprocess(target)
            out = self.transf(src, tgt, src_key_padding_mask=source_mask, tgt_mask=target_mask)
            return self.linear(out)

        def predict(self, source_seq, source_mask=None):
            inputs = source_seq[:, -1:]
            for i in range(self.target_len):
                out = self.encode_decode(source_seq, inputs, source_mask=source_mask,
                                         target_mask=self.trg_masks[:i + 1, :i + 1])
                out = lib.cat([inputs, out[:, -1:, :]], dim=-2)
                inputs = out.detach()
            return inputs[:, 1:, :]

        def forward(self, X, source_mask=None):
            self.trg_masks = self.trg_masks.type_as(X)
            source_seq = X[:, :self.input_len, :]
            if self.training:
                shifted_target_seq = X[:, self.input_len - 1:-1, :]
                return self.encode_decode(source_seq, shifted_target_seq, source_mask=source_mask,
                                          target_mask=self.trg_masks)
            return self.predict(source_seq, source_mask)

    return dict(Encoder=Encoder, Decoder=Decoder, EncoderDecoder=EncoderDecoder, Attention=Attention,
                DecoderAttn=DecoderAttn, MultiHeadAttention=MultiHeadAttention, EncoderSelfAttn=EncoderSelfAttn,
                DecoderSelfAttn=DecoderSelfAttn, EncoderDecoderSelfAttn=EncoderDecoderSelfAttn,
                PositionalEncoding=PositionalEncoding, TransformerModel=TransformerModel)


def squares(n=6, seed=11):
    """Volume III's 'drawing squares' data: 4 corners (x, y) per sequence, float64 with a little noise."""
    rng = np.random.default_rng(seed)
    base = np.array([[-1, -1], [-1, 1], [1, 1], [1, -1]], dtype=np.float64)
    out = []
    for _ in range(n):
        start, direction = rng.integers(4), rng.choice([-1, 1])
        pts = base[[(start + direction * k) % 4 for k in range(4)]]
        out.append(pts + 0.1 * rng.standard_normal(pts.shape))
    return np.stack(out)


def train_seq(lib, model, X, steps=3, lr=0.01, source_mask=None):
    """The book's loop in miniature: Adam, MSELoss on the second half of each sequence."""
    opt = lib.optim.Adam(model.parameters(), lr=lr)
    loss_fn = lib.nn.MSELoss()
    Xt = lib.as_tensor(X)
    losses = []
    for _ in range(steps):
        model.train()
        yhat = model(Xt) if source_mask is None else model(Xt, source_mask)
        loss = loss_fn(yhat, Xt[:, 2:])
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    return np.array(losses)


@pytest.fixture
def float64_default():
    """The book's EncoderDecoder allocates its outputs with torch.zeros (the default dtype): run the float64
    parity checks with float64 as the default dtype in both libraries."""
    old_t, old_m = torch.get_default_dtype(), mg.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    mg.set_default_dtype(mg.float64)
    yield
    torch.set_default_dtype(old_t)
    mg.set_default_dtype(old_m)


def test_encoder_decoder_double_model_float32_outputs_refused_clearly():
    """With a .double() model and the default float32, `self.outputs[:, i:i+1, :] = out` casts each
    float64 step into the float32 buffer in both libraries (torch's rule); torch's MSELoss then promotes
    float32 vs float64 silently, minigrad refuses (documented: no silent upcast) and says how to fix it."""
    X = squares()
    res = {}
    for lib in LIBS:
        M = seq_models(lib, rng_draw=random.Random(5).random)
        torch.manual_seed(1)
        model = M["EncoderDecoder"](M["Encoder"](2, 3), M["Decoder"](2, 3), input_len=2, target_len=2).double()
        res[lib] = model(lib.as_tensor(X))
        assert res[lib].dtype == lib.float32
    with pytest.raises(TypeError, match=r"mse_loss: dtype mismatch: float32\[6, 2, 2\].*float64\[6, 2, 2\]"):
        mg.nn.MSELoss()(res[mg], mg.as_tensor(X)[:, 2:])
    assert torch.nn.MSELoss()(res[torch], torch.as_tensor(X)[:, 2:]).dtype == torch.float64


def test_encoder_decoder_gru_teacher_forcing(float64_default):
    X = squares()
    res = {}
    for lib in LIBS:
        r = random.Random(5)
        M = seq_models(lib, rng_draw=r.random)
        torch.manual_seed(1)
        model = M["EncoderDecoder"](M["Encoder"](2, 3), M["Decoder"](2, 3), input_len=2, target_len=2,
                                    teacher_forcing_prob=0.5).double()
        res[lib] = model
    m_model, t_model = res[mg], res[torch]
    same_weights(m_model, t_model)
    assert isinstance(m_model.encoder.basic_rnn, mg.nn.GRU)
    lm = train_seq(mg, m_model, X)
    lt = train_seq(torch, t_model, X)
    close("teacher-forcing losses", lm, lt)
    compare_state(m_model, t_model, "encoder-decoder after 3 Adam steps")
    close("decoder hidden", m_model.decoder.hidden, t_model.decoder.hidden)
    for lib, model in ((mg, m_model), (torch, t_model)):
        model.eval()
    close("eval predictions", m_model(mg.as_tensor(X)), t_model(torch.as_tensor(X)))


def test_encoder_decoder_attention_with_source_mask(float64_default):
    X = squares()
    mods = {}
    for lib in LIBS:
        M = seq_models(lib, rng_draw=random.Random(3).random)
        torch.manual_seed(2)
        mods[lib] = (M, M["EncoderDecoder"](M["Encoder"](2, 3), M["DecoderAttn"](2, 3), input_len=2,
                                            target_len=2, teacher_forcing_prob=0.5).double())
    same_weights(mods[mg][1], mods[torch][1])
    close("losses", train_seq(mg, mods[mg][1], X), train_seq(torch, mods[torch][1], X))
    compare_state(mods[mg][1], mods[torch][1], "attention model after training")
    close("alphas", mods[mg][1].decoder.attn.alphas, mods[torch][1].decoder.attn.alphas)
    # Attention alone, with a padding mask (N, 1, L) hiding the second key of the first sequence
    outs = {}
    for lib in LIBS:
        torch.manual_seed(3)
        attn = mods[lib][0]["Attention"](3, input_dim=2, proj_values=True).double()
        outs[lib] = attn
    same_weights(outs[mg], outs[torch])
    keys = np.random.default_rng(4).standard_normal((2, 3, 2))
    query = np.random.default_rng(5).standard_normal((2, 1, 2))
    mask_np = np.array([[[1, 0, 1]], [[1, 1, 1]]])
    res = {}
    for lib in LIBS:
        a = outs[lib]
        k = lib.tensor(keys, requires_grad=True)
        a.init_keys(k)
        ctx = a(lib.as_tensor(query), mask=lib.as_tensor(mask_np))
        ctx.sum().backward()
        res[lib] = (ctx, a.alphas, k.grad, a.linear_query.weight.grad)
        assert float(a.alphas[0, 0, 1]) == 0.0
    for what, x, y in zip(("context", "alphas", "keys.grad", "linear_query.weight.grad"), res[mg], res[torch]):
        close(what, x, y)


def test_attention_and_positional_encoding_stay_float32():
    """The book divides by np.sqrt(d_k) and multiplies by -np.log(10000.0) / d_model: NumPy float64
    scalars. In torch they act as Python numbers; float32 models must stay float32."""
    M = seq_models(mg)
    mg.manual_seed(0)
    attn = M["Attention"](4, input_dim=2, proj_values=True)
    attn.init_keys(mg.randn(2, 3, 2))
    out = attn(mg.randn(2, 1, 2))
    assert out.dtype == mg.float32 and attn.alphas.dtype == mg.float32
    pe = M["PositionalEncoding"](5, 4)
    assert pe.pe.dtype == mg.float32 and pe.pe.shape == (1, 5, 4)
    assert pe(mg.zeros(2, 3, 4)).dtype == mg.float32
    tpe = seq_models(torch)["PositionalEncoding"](5, 4)
    close("positional encoding buffer", pe.pe, tpe.pe, rtol=1e-6, atol=1e-7)
    assert list(pe.state_dict()) == ["pe"]


def test_encoder_decoder_self_attention_train_and_predict():
    X = squares()
    mods = {}
    for lib in LIBS:
        M = seq_models(lib)
        torch.manual_seed(4)
        enc = M["EncoderSelfAttn"](n_heads=2, d_model=2, ff_units=5, n_features=2)
        dec = M["DecoderSelfAttn"](n_heads=2, d_model=2, ff_units=5, n_features=2)
        mods[lib] = M["EncoderDecoderSelfAttn"](enc, dec, input_len=2, target_len=2).double()
    m_model, t_model = mods[mg], mods[torch]
    same_weights(m_model, t_model)
    tm = t_model.subsequent_mask(3)
    mm = m_model.subsequent_mask(3)
    assert mm.dtype == mg.bool
    np.testing.assert_array_equal(mm.numpy(), tm.numpy())
    src_mask = np.ones((6, 1, 2), dtype=bool)
    src_mask[0, 0, 0] = False
    close("losses", train_seq(mg, m_model, X, source_mask=mg.as_tensor(src_mask)),
          train_seq(torch, t_model, X, source_mask=torch.as_tensor(src_mask)))
    compare_state(m_model, t_model, "self-attention model after training")
    close("decoder self-attention alphas", m_model.decoder.self_attn_heads.alphas,
          t_model.decoder.self_attn_heads.alphas)
    m_model.eval()
    t_model.eval()
    close("greedy predictions (eval)", m_model(mg.as_tensor(X)), t_model(torch.as_tensor(X)))
    close("cross-attention alphas after predict", m_model.decoder.cross_attn_heads.alphas,
          t_model.decoder.cross_attn_heads.alphas)


def test_nn_transformer_model_with_square_subsequent_mask():
    X = squares()
    mods = {}
    for lib in LIBS:
        M = seq_models(lib)
        torch.manual_seed(5)
        transformer = lib.nn.Transformer(d_model=6, nhead=3, num_encoder_layers=1, num_decoder_layers=1,
                                         dim_feedforward=20, dropout=0.0, batch_first=True)
        mods[lib] = M["TransformerModel"](transformer, input_len=2, target_len=2, n_features=2).double()
    m_model, t_model = mods[mg], mods[torch]
    same_weights(m_model, t_model)
    np.testing.assert_array_equal(mg.nn.Transformer.generate_square_subsequent_mask(4).numpy(),
                                  torch.nn.Transformer.generate_square_subsequent_mask(4).numpy())
    src_mask = np.zeros((6, 2), dtype=bool)
    src_mask[1, 0] = True  # padding: True = ignore (key_padding_mask convention)
    close("losses", train_seq(mg, m_model, X, source_mask=mg.as_tensor(src_mask)),
          train_seq(torch, t_model, X, source_mask=torch.as_tensor(src_mask)))
    # The key part of every in_proj_bias has an exactly zero gradient (softmax is unchanged by adding the
    # same number to all of a query's scores), so after Adam it holds rounding noise divided by eps (~1e-12,
    # different in each library): it is checked to be that noise; every other entry at rtol 1e-7.
    sd_m, sd_t = m_model.state_dict(), t_model.state_dict()
    assert list(sd_m) == list(sd_t)
    for k in sd_t:
        a, b = to_numpy(sd_m[k]), to_numpy(sd_t[k])
        if k.endswith("in_proj_bias"):
            d = a.shape[0] // 3
            assert np.abs(a[d:2 * d]).max() < 1e-10 and np.abs(b[d:2 * d]).max() < 1e-10, k
            a, b = np.concatenate([a[:d], a[2 * d:]]), np.concatenate([b[:d], b[2 * d:]])
        close(f"transformer model after training: {k}", a, b)
    m_model.eval()
    t_model.eval()
    close("greedy predictions (eval)", m_model(mg.as_tensor(X)), t_model(torch.as_tensor(X)))


# ---------------------------------------------------------------- Volume III, ch. 8: packed sequences
def square_model_packed(lib):
    nn, rnn_utils = lib.nn, lib.nn.utils.rnn

    class SquareModelPacked(nn.Module):
        def __init__(self, n_features, hidden_dim, n_outputs):
            super().__init__()
            self.hidden_dim = hidden_dim
            self.n_features = n_features
            self.n_outputs = n_outputs
            self.hidden = None
            self.cell = None
            self.basic_rnn = nn.LSTM(self.n_features, self.hidden_dim, bidirectional=True)
            self.classifier = nn.Linear(2 * self.hidden_dim, self.n_outputs)

        def forward(self, X):
            # X is a PACKED sequence
            rnn_out, (self.hidden, self.cell) = self.basic_rnn(X)
            batch_first_output, seq_sizes = rnn_utils.pad_packed_sequence(rnn_out, batch_first=True)
            seq_idx = lib.arange(seq_sizes.size(0))
            last_output = batch_first_output[seq_idx, seq_sizes - 1]
            out = self.classifier(last_output)
            return out.view(-1, self.n_outputs)

    class CustomDataset(lib.utils.data.Dataset):
        def __init__(self, x, y):
            self.x = x
            self.y = y

        def __getitem__(self, index):
            return (lib.as_tensor(self.x[index]), self.y[index])

        def __len__(self):
            return len(self.x)

    def pack_collate(batch):
        X = [item[0] for item in batch]
        y = [item[1] for item in batch]
        X_pack = rnn_utils.pack_sequence(X, enforce_sorted=False)
        return X_pack, lib.as_tensor(y).view(-1, 1)

    return SquareModelPacked, CustomDataset, pack_collate


def test_packed_bidirectional_lstm_trained_by_stepbystep():
    """Variable-length squares (2 to 4 corners), a bidirectional LSTM over a PackedSequence built by a
    collate_fn, trained by StepByStep (x_batch.to(device) on a PackedSequence) with BCEWithLogitsLoss."""
    full = squares(n=10, seed=3)
    rng = np.random.default_rng(8)
    var_x = [full[i, :int(rng.integers(2, 5))] for i in range(10)]
    var_y = rng.integers(0, 2, size=10).astype(np.float64)
    mods = {}
    for lib in LIBS:
        Model, CustomDataset, pack_collate = square_model_packed(lib)
        torch.manual_seed(6)
        mods[lib] = (Model(2, 2, 1).double(), CustomDataset, pack_collate)
    same_weights(mods[mg][0], mods[torch][0])
    sbss = {}
    for lib in LIBS:
        model, CustomDataset, pack_collate = mods[lib]
        train_loader = lib.utils.data.DataLoader(CustomDataset(var_x[:8], var_y[:8]), batch_size=4,
                                                 collate_fn=pack_collate)
        val_loader = lib.utils.data.DataLoader(CustomDataset(var_x[8:], var_y[8:]), batch_size=2,
                                               collate_fn=pack_collate)
        sbs = step_by_step(lib)(model, lib.nn.BCEWithLogitsLoss(), lib.optim.Adam(model.parameters(), lr=0.01))
        sbs.set_loaders(train_loader, val_loader)
        sbs.train(3)
        sbss[lib] = sbs
    close("losses", np.array(sbss[mg].losses), np.array(sbss[torch].losses))
    close("val losses", np.array(sbss[mg].val_losses), np.array(sbss[torch].val_losses))
    compare_state(mods[mg][0], mods[torch][0], "packed LSTM model after 3 epochs")
    close("final hidden (2, N, H)", mods[mg][0].hidden, mods[torch][0].hidden)
    close("final cell", mods[mg][0].cell, mods[torch][0].cell)


# ---------------------------------------------------------------- Volume II, ch. 5: balanced sampler
def test_balanced_sampler_random_split_and_set_seed():
    """make_balanced_sampler (weights from y.unique(return_counts=True)), random_split with a seeded
    generator, and StepByStep.set_seed reseeding the sampler's generator: reproducible in minigrad."""
    x, _ = regression_data(n=20)
    y = (x > 0.7).astype(np.float64)

    def make_balanced_sampler(lib, y):
        classes, counts = y.unique(return_counts=True)
        weights = 1.0 / counts.float()
        sample_weights = weights[y.squeeze().long()]
        generator = lib.Generator()
        sampler = lib.utils.data.WeightedRandomSampler(weights=sample_weights, num_samples=len(sample_weights),
                                                       generator=generator, replacement=True)
        return sampler

    yt = mg.as_tensor(y)
    sampler = make_balanced_sampler(mg, yt)
    tsampler = make_balanced_sampler(torch, torch.as_tensor(y))
    close("sample weights", sampler.weights, tsampler.weights.double())
    ds = mg.utils.data.TensorDataset(mg.as_tensor(x), yt)
    train, val = mg.utils.data.random_split(ds, [16, 4], generator=mg.Generator().manual_seed(13))
    train2, _ = mg.utils.data.random_split(ds, [16, 4], generator=mg.Generator().manual_seed(13))
    assert list(train.indices) == list(train2.indices) and sorted(list(train.indices) + list(val.indices)) == list(range(20))
    loader = mg.utils.data.DataLoader(ds, batch_size=5, sampler=sampler)
    mg.manual_seed(0)
    model = mg.nn.Linear(1, 1).double()
    sbs = step_by_step(mg)(model, mg.nn.BCEWithLogitsLoss(), mg.optim.SGD(model.parameters(), lr=0.1))
    sbs.set_loaders(loader)
    draws = []
    for _ in range(2):
        sbs.set_seed(42)
        draws.append([int(i) for i in sampler])
    assert draws[0] == draws[1] and len(draws[0]) == 20
    # balanced: the minority class (about 6 of 20) is drawn about half the time over many draws
    sbs.set_seed(1)
    many = [i for _ in range(50) for i in sampler]
    frac = float(np.mean(y[many]))
    assert abs(frac - 0.5) < 5 * np.sqrt(0.25 / len(many))


# ---------------------------------------------------------------- clip_grad_norm_ result, CyclicLR momentum
def test_clip_grad_norm_returns_total_norm_and_cyclic_momentum():
    m_model, t_model = both(mlp)
    out = {}
    for lib, model in ((torch, t_model), (mg, m_model)):
        x, y = regression_data()
        loss = lib.nn.MSELoss()(model(lib.as_tensor(x)), lib.as_tensor(y))
        loss.backward()
        total = lib.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.1, norm_type=2)
        clipped = [p.grad.clone() for p in model.parameters()]
        opt = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        s = lib.optim.lr_scheduler.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=2)  # cycle_momentum=True
        moms, lrs = [], []
        for _ in range(5):
            opt.step()
            s.step()
            moms.append(opt.param_groups[0]["momentum"])
            lrs.append(s.get_last_lr()[0])
        out[lib] = (total, lib.cat([g.reshape(-1) for g in clipped]), np.array(moms), np.array(lrs))
    for what, a, b in zip(("total norm", "clipped grad", "cycled momentum", "lrs"), out[mg], out[torch]):
        close(what, a, b)
    compare_state(m_model, t_model, "after CyclicLR steps")


def test_stepbystep_to_unavailable_device_falls_back(capsys):
    """The book's `to()` catches RuntimeError: minigrad's refusal of an absent GPU is one."""
    if mg.cuda.is_available():
        pytest.skip("a GPU is present: nothing to fall back from")
    model = mlp(mg)
    sbs = step_by_step(mg)(model, mg.nn.MSELoss(), mg.optim.SGD(model.parameters(), lr=0.1))
    sbs.to("cuda")
    assert sbs.device == "cpu" and "sending it to cpu instead" in capsys.readouterr().out
    assert next(model.parameters()).device == "cpu"


# ---------------------------------------------------------------- Volume III, ch. 8: cells by hand
def test_rnn_and_gru_cells_recomputed_from_state_dict():
    """The book rebuilds RNNCell / GRUCell with Linear layers whose weights are set to
    nn.Parameter(state_dict entries) (split per gate with .split(hidden_dim, dim=0)) and compares."""
    n_features, hidden_dim = 2, 3
    X = squares(n=1)[0]  # (4, 2): one sequence, four corners
    res = {}
    for lib in LIBS:
        nn = lib.nn
        torch.manual_seed(19)
        rnn_cell = nn.RNNCell(input_size=n_features, hidden_size=hidden_dim).double()
        gru_cell = nn.GRUCell(input_size=n_features, hidden_size=hidden_dim).double()
        res[lib] = [rnn_cell, gru_cell]
    for tm, mm in zip(res[torch], res[mg]):
        same_weights(mm, tm)
    out = {}
    for lib in LIBS:
        nn = lib.nn
        rnn_cell, gru_cell = res[lib]
        rnn_state = rnn_cell.state_dict()
        linear_input = nn.Linear(n_features, hidden_dim).double()
        linear_hidden = nn.Linear(hidden_dim, hidden_dim).double()
        with lib.no_grad():
            linear_input.weight = nn.Parameter(rnn_state["weight_ih"])
            linear_input.bias = nn.Parameter(rnn_state["bias_ih"])
            linear_hidden.weight = nn.Parameter(rnn_state["weight_hh"])
            linear_hidden.bias = nn.Parameter(rnn_state["bias_hh"])
        Xt = lib.as_tensor(X)
        initial_hidden = lib.zeros(1, hidden_dim, dtype=lib.float64)
        th = linear_hidden(initial_hidden)
        tx = linear_input(Xt[0:1])
        by_hand = lib.tanh(th + tx)
        hidden = lib.zeros(1, hidden_dim, dtype=lib.float64)
        for i in range(X.shape[0]):
            hidden = rnn_cell(Xt[i:i + 1], hidden)
        np.testing.assert_allclose(to_numpy(by_hand), to_numpy(rnn_cell(Xt[0:1])), rtol=1e-12)

        def linear_layers(Wx, bx, Wh, bh):
            hidden_dim, n_features = Wx.size()
            lin_input = nn.Linear(n_features, hidden_dim).double()
            lin_input.load_state_dict({"weight": Wx, "bias": bx})
            lin_hidden = nn.Linear(hidden_dim, hidden_dim).double()
            lin_hidden.load_state_dict({"weight": Wh, "bias": bh})
            return lin_hidden, lin_input

        gru_state = gru_cell.state_dict()
        Wx, bx = gru_state["weight_ih"], gru_state["bias_ih"]
        Wh, bh = gru_state["weight_hh"], gru_state["bias_hh"]
        Wxr, Wxz, Wxn = Wx.split(hidden_dim, dim=0)
        bxr, bxz, bxn = bx.split(hidden_dim, dim=0)
        Whr, Whz, Whn = Wh.split(hidden_dim, dim=0)
        bhr, bhz, bhn = bh.split(hidden_dim, dim=0)
        r_hidden, r_input = linear_layers(Wxr, bxr, Whr, bhr)
        z_hidden, z_input = linear_layers(Wxz, bxz, Whz, bhz)
        n_hidden, n_input = linear_layers(Wxn, bxn, Whn, bhn)

        def reset_gate(h, x):
            return lib.sigmoid(r_hidden(h) + r_input(x))

        def update_gate(h, x):
            return lib.sigmoid(z_hidden(h) + z_input(x))

        def candidate_n(h, x, r):
            return lib.tanh(r * n_hidden(h) + n_input(x))

        h = lib.as_tensor(np.array([[0.1, -0.2, 0.3]]))
        x = Xt[1:2]
        r = reset_gate(h, x)
        z = update_gate(h, x)
        n = candidate_n(h, x, r)
        h_prime = n * (1 - z) + h * z
        np.testing.assert_allclose(to_numpy(h_prime), to_numpy(gru_cell(x, h)), rtol=1e-12)
        out[lib] = (hidden, h_prime, isinstance(linear_input.weight, nn.Parameter))
    close("RNNCell over the sequence", out[mg][0], out[torch][0])
    close("GRU step by hand", out[mg][1], out[torch][1])
    assert out[mg][2] and out[torch][2]


# ---------------------------------------------------------------- Volume I, ch. 1: leaves and `.data`
def test_non_leaf_after_to_device_and_weight_data_port():
    """Volume I shows `torch.randn(1, requires_grad=True).to(device)`: on a GPU a non-leaf whose .grad stays
    None after backward. On the same device `.to` returns the leaf itself (both libraries). Volume II's
    visualize_filters reads `layer.weight.data.cpu().numpy()`: minigrad's `.data` is the raw array
    (documented), so the port is `layer.weight.detach().cpu().numpy()`."""
    for lib in LIBS:
        b = lib.randn(1, requires_grad=True, dtype=lib.float).to("cpu")
        assert b.is_leaf
        nl = lib.randn(1, requires_grad=True, dtype=lib.float) * 1.0  # a non-leaf, like .to("cuda") on a GPU
        (nl * 2).sum().backward()
        assert not nl.is_leaf and not nl.retains_grad
    conv = mg.nn.Conv2d(1, 2, 3)
    with pytest.raises(AttributeError, match="cpu"):
        conv.weight.data.cpu()
    w = conv.weight.detach().cpu().numpy()
    assert w.shape == (2, 1, 3, 3) and w.dtype == np.float32


def test_reading_grad_of_non_leaf_warns_as_torch():
    """Volume I relies on torch's warning to explain non-leaf tensors; minigrad warns the same way."""
    tnl = torch.randn(1, requires_grad=True) * 2.0
    with pytest.warns(UserWarning, match="not a leaf Tensor"):
        assert tnl.grad is None
    nl = mg.randn(1, requires_grad=True) * 2.0
    with pytest.warns(UserWarning, match="not a leaf"):
        assert nl.grad is None
    # no warning where torch gives none: a leaf, a non-leaf that retains its grad, a tensor outside the graph
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        leaf = mg.randn(1, requires_grad=True)
        kept = (leaf * 2.0).retain_grad()
        assert leaf.grad is None and kept.grad is None and mg.ones(1).grad is None
        kept.sum().backward()
        assert kept.grad.tolist() == [1.0] and leaf.grad.tolist() == [2.0]
