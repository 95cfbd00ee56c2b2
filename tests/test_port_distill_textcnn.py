"""Porting audit: knowledge distillation, Kim's sentence CNN and the first NLP tutorial's BoW classifier.

Each program is written ONCE, as a torch user writes it (from memory of the official tutorials),
inside a factory that takes the library as an argument (`L.torch`, `L.nn`, `L.F`, `L.optim`), so
porting is exactly "change the imports". Both runs are float64 (unless a test says float32), start
from the same weights (torch's state dict loaded into ours) and train a few steps on tiny made-up
data; losses, outputs, gradients and updated parameters are compared (rtol 1e-7). Dropout is in the
programs but the compared runs are in eval mode (the two libraries draw different masks).

Programs:
1. "Knowledge Distillation Tutorial": DeepNN teacher / LightNN student (Conv2d, ReLU, MaxPool2d,
   torch.flatten, Linear, Dropout), plain cross-entropy training, train_knowledge_distillation with
   the tutorial's soft-target loss `sum(p_t * (log p_t - log_softmax(s / T))) / N * T**2` plus the
   weighted CrossEntropyLoss (teacher under no_grad and eval); the same loss through
   nn.KLDivLoss(reduction='batchmean') with log_target False / True; the cosine variant
   (hidden representations flattened and brought to one size with F.avg_pool1d on a 2-D tensor,
   nn.CosineEmbeddingLoss with target torch.ones(N)); the regressor variant (a Conv2d regressor on
   the student's feature map, MSELoss against the teacher's); the test loop with torch.max(out, 1).
2. Kim (2014) "Convolutional Neural Networks for Sentence Classification": CNN_Text with
   nn.Embedding(padding_idx) or nn.Embedding.from_pretrained(freeze=True/False, padding_idx),
   Conv2d over (N, 1, L, E) or Conv1d over (N, E, L) with several filter widths, relu, max over time
   (F.max_pool1d(x, x.size(2)).squeeze(2) and torch.max(x, dim=2)[0]), torch.cat, Dropout,
   Linear, F.cross_entropy, Adadelta / Adam (over `filter(lambda p: p.requires_grad, ...)`), and
   the max-norm constraint on fc weights applied by hand (torch.renorm / w.norm(dim=1) scaling
   under no_grad); the multichannel (static + non-static) variant.
3. "Deep Learning with PyTorch" (NLP tutorial): BoWClassifier (bag-of-words vectors filled with
   `vec[ix] += 1`, nn.Linear, F.log_softmax, NLLLoss, SGD, 100 epochs), printing the parameters,
   and `next(model.parameters())[:, word_to_ix["creo"]]` (a view, as torch's: it shows the trained values).

Found while porting (fixed; focused tests at the end):
* `torch.max(outputs.data, 1)` (the KD tutorial's test loop): `.data` is the raw array here (README), and
  mg.max/min/argmax/argmin of it failed inside with "'memoryview' object has no attribute 'size'"; now a
  TypeError naming the op and the port (`mg.max(out.detach(), 1)`).
* nn.Embedding / F.embedding / Embedding.from_pretrained lacked torch's max_norm, norm_type and
  scale_grad_by_freq, and nn.Embedding's 4th positional argument was `sparse` (torch's is max_norm, so
  `nn.Embedding(V, D, 0, 1.0)` silently made a sparse embedding); added, in torch's order.
* nn.KLDivLoss() / F.kl_div with the default reduction='mean' (the classic distillation mistake) gave no
  warning; it now gives torch's UserWarning recommending 'batchmean'.
Known differences met (README): `p.data` is the raw array, so `w.data.renorm_(...)` /
`embed.weight.data.copy_(...)` are written `with torch.no_grad(): w.renorm_(...)` / `w.copy_(...)`.
"""
import math
from types import SimpleNamespace

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as mF
import minigrad.utils.data as mdata

torch = pytest.importorskip("torch")
import torch.utils.data as tdata  # noqa: E402
from porting import closer, to_numpy

TOL = dict(rtol=1e-7, atol=1e-10)
TOL32 = dict(rtol=2e-5, atol=1e-6)

TH = SimpleNamespace(torch=torch, nn=torch.nn, F=torch.nn.functional, optim=torch.optim, data=tdata, name="torch")
MG = SimpleNamespace(torch=mg, nn=mg.nn, F=mF, optim=mg.optim, data=mdata, name="minigrad")


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
_close = closer(TOL)


def _copy_weights(theirs, ours):
    """torch's state dict into ours (as NumPy arrays), and check the keys are identical, in order."""
    sd = theirs.state_dict()
    assert list(ours.state_dict().keys()) == list(sd.keys())
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in sd.items()})


def _same_params(ours, theirs, what="", **tol):
    named_o, named_t = dict(ours.named_parameters()), dict(theirs.named_parameters())
    assert list(named_o) == list(named_t), f"{what}: parameter names differ"
    for k in named_t:
        assert named_o[k].requires_grad == named_t[k].requires_grad, f"{what} {k}: requires_grad"
        _close(f"{what} parameter {k}", named_o[k], named_t[k], **tol)


def _same_grads(ours, theirs, what="", **tol):
    named_o, named_t = dict(ours.named_parameters()), dict(theirs.named_parameters())
    for k in named_t:
        go, gt = named_o[k].grad, named_t[k].grad
        assert (go is None) == (gt is None), f"{what} grad of {k}: {go} vs torch {gt}"
        if gt is not None:
            _close(f"{what} grad {k}", go, gt, **tol)


def _pair(make, *args, **kw):
    """The same program built in torch and in minigrad, minigrad starting from torch's weights."""
    torch.manual_seed(0)
    theirs = make(TH, *args, **kw)
    ours = make(MG, *args, **kw)
    _copy_weights(theirs, ours)
    return theirs, ours


# =====================================================================================
# 1. Knowledge Distillation Tutorial (CIFAR-10 shrunk to 3x8x8 images, 4 classes)
# =====================================================================================
IMG, NCLS = 8, 4


def make_kd_models(L):
    torch, nn = L.torch, L.nn
    F = L.F

    class DeepNN(nn.Module):
        def __init__(self, num_classes=NCLS):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 8, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.Conv2d(8, 6, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(kernel_size=2, stride=2),
                nn.Conv2d(6, 6, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.Conv2d(6, 4, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(kernel_size=2, stride=2),
            )
            self.classifier = nn.Sequential(
                nn.Linear(4 * (IMG // 4) ** 2, 16),
                nn.ReLU(),
                nn.Dropout(0.1),
                nn.Linear(16, num_classes),
            )

        def forward(self, x):
            x = self.features(x)
            x = torch.flatten(x, 1)
            x = self.classifier(x)
            return x

    class LightNN(nn.Module):
        def __init__(self, num_classes=NCLS):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 4, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(kernel_size=2, stride=2),
                nn.Conv2d(4, 2, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(kernel_size=2, stride=2),
            )
            self.classifier = nn.Sequential(
                nn.Linear(2 * (IMG // 4) ** 2, 8),
                nn.ReLU(),
                nn.Dropout(0.1),
                nn.Linear(8, num_classes),
            )

        def forward(self, x):
            x = self.features(x)
            x = torch.flatten(x, 1)
            x = self.classifier(x)
            return x

    class ModifiedDeepNNCosine(DeepNN):
        def forward(self, x):
            x = self.features(x)
            flattened_conv_output = torch.flatten(x, 1)
            x = self.classifier(flattened_conv_output)
            # 16 teacher features -> 8, the student's size (avg_pool1d reads (N, L) as (C, L))
            flattened_conv_output_after_pooling = F.avg_pool1d(flattened_conv_output, 2)
            return x, flattened_conv_output_after_pooling

    class ModifiedLightNNCosine(LightNN):
        def forward(self, x):
            x = self.features(x)
            flattened_conv_output = torch.flatten(x, 1)
            x = self.classifier(flattened_conv_output)
            return x, flattened_conv_output

    class ModifiedDeepNNRegressor(DeepNN):
        def forward(self, x):
            x = self.features(x)
            conv_feature_map = x
            x = torch.flatten(x, 1)
            x = self.classifier(x)
            return x, conv_feature_map

    class ModifiedLightNNRegressor(LightNN):
        def __init__(self, num_classes=NCLS):
            super().__init__(num_classes)
            # maps the student's 2 channels to the teacher's 4
            self.regressor = nn.Sequential(nn.Conv2d(2, 4, kernel_size=3, padding=1))

        def forward(self, x):
            x = self.features(x)
            regressor_output = self.regressor(x)
            x = torch.flatten(x, 1)
            x = self.classifier(x)
            return x, regressor_output

    return SimpleNamespace(DeepNN=DeepNN, LightNN=LightNN, ModifiedDeepNNCosine=ModifiedDeepNNCosine,
                           ModifiedLightNNCosine=ModifiedLightNNCosine,
                           ModifiedDeepNNRegressor=ModifiedDeepNNRegressor,
                           ModifiedLightNNRegressor=ModifiedLightNNRegressor)


def _kd_data(n=8, seed=1):
    r = np.random.default_rng(seed)
    return r.normal(size=(n, 3, IMG, IMG)), r.integers(0, NCLS, size=n)


def _loader(L, x, y, batch_size=4):
    ds = L.data.TensorDataset(L.torch.tensor(x), L.torch.tensor(y))
    return L.data.DataLoader(ds, batch_size=batch_size, shuffle=False)


def train_ce(L, model, train_loader, epochs, learning_rate, log):
    """The tutorial's `train`: CrossEntropyLoss + Adam; dropout switched off (eval) for parity."""
    nn, optim = L.nn, L.optim
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=learning_rate)
    model.eval()
    for epoch in range(epochs):
        running_loss = 0.0
        for inputs, labels in train_loader:
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
            log.append(loss.item())
        log.append(running_loss / len(train_loader))


def test_model(L, model, test_loader):
    """The tutorial's `test`: accuracy with torch.max(outputs, 1) under no_grad."""
    torch = L.torch
    model.eval()
    correct = 0
    total = 0
    with torch.no_grad():
        for inputs, labels in test_loader:
            outputs = model(inputs)
            if isinstance(outputs, tuple):
                outputs = outputs[0]
            _, predicted = torch.max(outputs, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
    return 100 * correct / total


test_model.__test__ = False  # a tutorial helper, not a pytest test


def train_knowledge_distillation(L, teacher, student, train_loader, epochs, learning_rate, T,
                                 soft_target_loss_weight, ce_loss_weight, log, form="manual"):
    torch, nn, optim = L.torch, L.nn, L.optim
    ce_loss = nn.CrossEntropyLoss()
    optimizer = optim.Adam(student.parameters(), lr=learning_rate)
    teacher.eval()  # Teacher set to evaluation mode
    student.eval()  # (the tutorial trains in train(); eval switches dropout off for parity)
    for epoch in range(epochs):
        for inputs, labels in train_loader:
            optimizer.zero_grad()
            # Forward pass with the teacher model - do not save gradients here as we do not change the teacher's weights
            with torch.no_grad():
                teacher_logits = teacher(inputs)
            student_logits = student(inputs)
            if form == "manual":
                # Soften the student logits by applying softmax first and log() second
                soft_targets = nn.functional.softmax(teacher_logits / T, dim=-1)
                soft_prob = nn.functional.log_softmax(student_logits / T, dim=-1)
                # "Distilling the knowledge in a neural network": scale by T**2
                soft_targets_loss = torch.sum(soft_targets * (soft_targets.log() - soft_prob)) / soft_prob.size()[0] * (T**2)
            elif form == "kldiv":
                soft_targets = nn.functional.softmax(teacher_logits / T, dim=-1)
                soft_prob = nn.functional.log_softmax(student_logits / T, dim=-1)
                soft_targets_loss = nn.KLDivLoss(reduction="batchmean")(soft_prob, soft_targets) * (T**2)
            else:  # "kldiv_log_target"
                log_soft_targets = nn.functional.log_softmax(teacher_logits / T, dim=-1)
                soft_prob = nn.functional.log_softmax(student_logits / T, dim=-1)
                soft_targets_loss = nn.KLDivLoss(reduction="batchmean", log_target=True)(
                    soft_prob, log_soft_targets) * (T**2)
            # Calculate the true label loss
            label_loss = ce_loss(student_logits, labels)
            # Weighted sum of the two losses
            loss = soft_target_loss_weight * soft_targets_loss + ce_loss_weight * label_loss
            loss.backward()
            optimizer.step()
            log.append((soft_targets_loss.item(), label_loss.item(), loss.item()))
            assert teacher_logits.requires_grad is False


def train_cosine_loss(L, teacher, student, train_loader, epochs, learning_rate, hidden_rep_loss_weight,
                      ce_loss_weight, log):
    torch, nn, optim = L.torch, L.nn, L.optim
    ce_loss = nn.CrossEntropyLoss()
    cosine_loss = nn.CosineEmbeddingLoss()
    optimizer = optim.Adam(student.parameters(), lr=learning_rate)
    teacher.eval()
    student.eval()
    for epoch in range(epochs):
        for inputs, labels in train_loader:
            optimizer.zero_grad()
            with torch.no_grad():
                _, teacher_hidden_representation = teacher(inputs)
            student_logits, student_hidden_representation = student(inputs)
            hidden_rep_loss = cosine_loss(student_hidden_representation, teacher_hidden_representation,
                                          target=torch.ones(inputs.size(0)))
            label_loss = ce_loss(student_logits, labels)
            loss = hidden_rep_loss_weight * hidden_rep_loss + ce_loss_weight * label_loss
            loss.backward()
            optimizer.step()
            log.append((hidden_rep_loss.item(), label_loss.item()))


def train_mse_loss(L, teacher, student, train_loader, epochs, learning_rate, feature_map_weight,
                   ce_loss_weight, log):
    torch, nn, optim = L.torch, L.nn, L.optim
    ce_loss = nn.CrossEntropyLoss()
    mse_loss = nn.MSELoss()
    optimizer = optim.Adam(student.parameters(), lr=learning_rate)
    teacher.eval()
    student.eval()
    for epoch in range(epochs):
        for inputs, labels in train_loader:
            optimizer.zero_grad()
            with torch.no_grad():
                _, teacher_feature_map = teacher(inputs)
            student_logits, regressor_feature_map = student(inputs)
            hidden_rep_loss = mse_loss(regressor_feature_map, teacher_feature_map)
            label_loss = ce_loss(student_logits, labels)
            loss = feature_map_weight * hidden_rep_loss + ce_loss_weight * label_loss
            loss.backward()
            optimizer.step()
            log.append((hidden_rep_loss.item(), label_loss.item()))


def _make_pair_kd(cls_name):
    torch.manual_seed(0)
    theirs = getattr(make_kd_models(TH), cls_name)()
    ours = getattr(make_kd_models(MG), cls_name)()
    _copy_weights(theirs, ours)
    return theirs, ours


def test_kd_teacher_training_and_test_loop_match_torch():
    """train() (CE + Adam) on the teacher, then test(): same losses, weights, accuracy."""
    x, y = _kd_data()
    t_teacher, m_teacher = _make_pair_kd("DeepNN")
    # count_parameters, as the tutorial prints
    assert sum(p.numel() for p in m_teacher.parameters()) == sum(p.numel() for p in t_teacher.parameters())
    logs = {}
    for L, model in ((TH, t_teacher), (MG, m_teacher)):
        logs[L.name] = []
        train_ce(L, model, _loader(L, x, y), epochs=2, learning_rate=1e-2, log=logs[L.name])
    np.testing.assert_allclose(logs["minigrad"], logs["torch"], **TOL)
    _same_params(m_teacher, t_teacher, "teacher after training")
    _same_grads(m_teacher, t_teacher, "teacher after training")
    acc_t = test_model(TH, t_teacher, _loader(TH, x, y))
    acc_m = test_model(MG, m_teacher, _loader(MG, x, y))
    assert acc_m == acc_t


@pytest.mark.parametrize("form", ["manual", "kldiv", "kldiv_log_target"])
def test_train_knowledge_distillation_matches_torch(form):
    x, y = _kd_data()
    t_teacher, m_teacher = _make_pair_kd("DeepNN")
    t_student, m_student = _make_pair_kd("LightNN")
    logs = {}
    for L, teacher, student in ((TH, t_teacher, t_student), (MG, m_teacher, m_student)):
        logs[L.name] = []
        train_knowledge_distillation(L, teacher, student, _loader(L, x, y), epochs=2, learning_rate=1e-2,
                                     T=2, soft_target_loss_weight=0.25, ce_loss_weight=0.75,
                                     log=logs[L.name], form=form)
    np.testing.assert_allclose(logs["minigrad"], logs["torch"], **TOL)
    _same_params(m_student, t_student, "student")
    _same_grads(m_student, t_student, "student")
    # the teacher never got a gradient nor changed
    assert all(p.grad is None for p in m_teacher.parameters())
    _same_params(m_teacher, t_teacher, "teacher")


def test_kd_soft_target_forms_agree():
    """The tutorial's hand-written soft-target loss == KLDivLoss(batchmean) == KLDivLoss(log_target=True)."""
    r = np.random.default_rng(3)
    tl, sl = r.normal(size=(5, 4)), r.normal(size=(5, 4))
    T = 2.0
    for L in (TH, MG):
        torch, nn = L.torch, L.nn
        s = torch.tensor(sl, requires_grad=True)
        t = torch.tensor(tl)
        soft_targets = nn.functional.softmax(t / T, dim=-1)
        soft_prob = nn.functional.log_softmax(s / T, dim=-1)
        manual = torch.sum(soft_targets * (soft_targets.log() - soft_prob)) / soft_prob.size()[0] * (T**2)
        kl = nn.KLDivLoss(reduction="batchmean")(soft_prob, soft_targets) * T**2
        kl_log = nn.functional.kl_div(soft_prob, nn.functional.log_softmax(t / T, dim=-1),
                                      reduction="batchmean", log_target=True) * T**2
        np.testing.assert_allclose(_np(manual), _np(kl), **TOL)
        np.testing.assert_allclose(_np(manual), _np(kl_log), **TOL)
        grads = [_np(torch.autograd.grad(v, s, retain_graph=True)[0]) for v in (manual, kl, kl_log)]
        np.testing.assert_allclose(grads[0], grads[1], **TOL)
        np.testing.assert_allclose(grads[0], grads[2], **TOL)
        if L is TH:
            ref = (_np(manual), grads[0])
        else:
            np.testing.assert_allclose(_np(manual), ref[0], **TOL)
            np.testing.assert_allclose(grads[0], ref[1], **TOL)


def test_kd_cosine_variant_matches_torch():
    """Teacher weights loaded from DeepNN into ModifiedDeepNNCosine; avg_pool1d on (N, 16); CosineEmbeddingLoss."""
    x, y = _kd_data()
    t_deep, m_deep = _make_pair_kd("DeepNN")
    t_teacher, m_teacher = _make_pair_kd("ModifiedDeepNNCosine")
    t_student, m_student = _make_pair_kd("ModifiedLightNNCosine")
    # the tutorial: modified_nn_deep.load_state_dict(nn_deep.state_dict())
    t_teacher.load_state_dict(t_deep.state_dict())
    m_teacher.load_state_dict(m_deep.state_dict())
    _same_params(m_teacher, t_teacher, "cosine teacher")
    with torch.no_grad(), mg.no_grad():
        t_out = t_teacher(torch.tensor(x[:2]))
        m_out = m_teacher(mg.tensor(x[:2]))
    assert tuple(m_out[1].shape) == (2, 8)
    _close("teacher pooled hidden", m_out[1], t_out[1])
    logs = {}
    for L, teacher, student in ((TH, t_teacher, t_student), (MG, m_teacher, m_student)):
        logs[L.name] = []
        train_cosine_loss(L, teacher, student, _loader(L, x, y), epochs=2, learning_rate=1e-2,
                          hidden_rep_loss_weight=0.25, ce_loss_weight=0.75, log=logs[L.name])
    np.testing.assert_allclose(logs["minigrad"], logs["torch"], **TOL)
    _same_params(m_student, t_student, "cosine student")
    _same_grads(m_student, t_student, "cosine student")
    assert test_model(MG, m_student, _loader(MG, x, y)) == test_model(TH, t_student, _loader(TH, x, y))


def test_kd_regressor_variant_matches_torch():
    x, y = _kd_data()
    t_teacher, m_teacher = _make_pair_kd("ModifiedDeepNNRegressor")
    t_student, m_student = _make_pair_kd("ModifiedLightNNRegressor")
    logs = {}
    for L, teacher, student in ((TH, t_teacher, t_student), (MG, m_teacher, m_student)):
        logs[L.name] = []
        train_mse_loss(L, teacher, student, _loader(L, x, y), epochs=2, learning_rate=1e-2,
                       feature_map_weight=0.25, ce_loss_weight=0.75, log=logs[L.name])
    np.testing.assert_allclose(logs["minigrad"], logs["torch"], **TOL)
    _same_params(m_student, t_student, "regressor student")
    _same_grads(m_student, t_student, "regressor student")


def test_kd_float32_stays_float32():
    """The tutorial as written (float32 default): dtypes kept, values near torch's."""
    torch.set_default_dtype(torch.float32)
    mg.set_default_dtype(mg.float32)
    x, y = _kd_data(n=4)
    x = x.astype(np.float32)
    t_teacher, m_teacher = _make_pair_kd("DeepNN")
    t_student, m_student = _make_pair_kd("LightNN")
    logs = {}
    for L, teacher, student in ((TH, t_teacher, t_student), (MG, m_teacher, m_student)):
        logs[L.name] = []
        train_knowledge_distillation(L, teacher, student, _loader(L, x, y), epochs=1, learning_rate=1e-3,
                                     T=2, soft_target_loss_weight=0.25, ce_loss_weight=0.75, log=logs[L.name])
    for p in m_student.parameters():
        assert p.dtype == mg.float32 and p.grad.dtype == mg.float32
    np.testing.assert_allclose(logs["minigrad"], logs["torch"], **TOL32)
    _same_params(m_student, t_student, "float32 student", **TOL32)


def test_kd_dropout_train_mode_deterministic_parts():
    """In train() the student's Dropout(0.1) draws masks (different streams): check what is deterministic.

    With p=0.1 every kept activation is scaled by 1/0.9 and the dropped ones are 0; the features (before
    the classifier) do not depend on the mode.
    """
    x, _ = _kd_data(n=4)
    t_student, m_student = _make_pair_kd("LightNN")
    m_student.train()
    xm = mg.tensor(x)
    feats = mg.flatten(m_student.features(xm), 1)
    h = mF.relu(m_student.classifier[0](feats))
    mg.manual_seed(0)
    d = m_student.classifier[2](h)
    hn, dn = h.numpy(), d.numpy()
    kept = dn != 0
    np.testing.assert_allclose(dn[kept], hn[kept] / 0.9, rtol=1e-12)
    assert np.all(dn[~kept] == 0)
    with torch.no_grad():
        _close("student features", feats, torch.flatten(t_student.features(torch.tensor(x)), 1))


# =====================================================================================
# 2. Kim's CNN for sentence classification
# =====================================================================================
VOCAB, EMB, NCLASS, PAD = 12, 5, 3, 0


def make_cnn_text(L, conv="2d", ks=(2, 3, 4), co=3, dropout=0.5, embed="fresh", pretrained=None,
                  multichannel=False):
    torch, nn, F = L.torch, L.nn, L.F

    class CNN_Text(nn.Module):
        def __init__(self):
            super().__init__()
            V, D, C, Ci = VOCAB, EMB, NCLASS, (2 if multichannel else 1)
            self.conv_kind = conv
            if embed == "fresh":
                self.embed = nn.Embedding(V, D, padding_idx=PAD)
            else:  # "static" (frozen word2vec) or "nonstatic" (fine-tuned)
                self.embed = nn.Embedding.from_pretrained(torch.tensor(pretrained), freeze=(embed == "static"),
                                                          padding_idx=PAD)
            if multichannel:  # a second, frozen copy of the pretrained vectors
                self.static_embed = nn.Embedding.from_pretrained(torch.tensor(pretrained), freeze=True,
                                                                 padding_idx=PAD)
            if conv == "2d":
                self.convs = nn.ModuleList([nn.Conv2d(Ci, co, (K, D)) for K in ks])
            else:
                self.convs = nn.ModuleList([nn.Conv1d(D, co, K) for K in ks])
            self.dropout = nn.Dropout(dropout)
            self.fc1 = nn.Linear(len(ks) * co, C)

        def forward(self, x):
            emb = self.embed(x)  # (N, W, D)
            if self.conv_kind == "2d":
                if multichannel:
                    x = torch.stack([emb, self.static_embed(x)], dim=1)  # (N, 2, W, D)
                else:
                    x = emb.unsqueeze(1)  # (N, Ci, W, D)
                x = [F.relu(conv(x)).squeeze(3) for conv in self.convs]  # [(N, Co, W - K + 1)] * len(Ks)
                x = [F.max_pool1d(i, i.size(2)).squeeze(2) for i in x]  # [(N, Co)] * len(Ks)
            else:
                x = emb.permute(0, 2, 1)  # (N, D, W)
                x = [torch.max(F.relu(conv(x)), dim=2)[0] for conv in self.convs]
            x = torch.cat(x, 1)
            x = self.dropout(x)  # (N, len(Ks) * Co)
            logit = self.fc1(x)  # (N, C)
            return logit

    return CNN_Text()


def _sentences(n=6, w=7, seed=5):
    r = np.random.default_rng(seed)
    x = r.integers(1, VOCAB, size=(n, w))
    for i in range(n):  # right-padded sentences of different lengths
        x[i, r.integers(4, w + 1):] = PAD
    return x, r.integers(0, NCLASS, size=n)


def _max_norm_renorm(L, model, s):
    torch = L.torch
    with torch.no_grad():
        model.fc1.weight.copy_(torch.renorm(model.fc1.weight, p=2, dim=0, maxnorm=s))


def _max_norm_scale(L, model, s):
    torch = L.torch
    with torch.no_grad():
        w = model.fc1.weight
        norms = w.norm(dim=1, keepdim=True)
        desired = torch.clamp(norms, max=s)
        w *= desired / (1e-7 + norms)


def _max_norm_renorm_(L, model, s):
    with L.torch.no_grad():
        model.fc1.weight.renorm_(2, 0, s)


def train_cnn_text(L, model, x, y, steps, opt="adadelta", max_norm=None, s=0.3, log=None):
    torch, F, optim = L.torch, L.F, L.optim
    params = filter(lambda p: p.requires_grad, model.parameters())
    if opt == "adadelta":
        optimizer = optim.Adadelta(params, lr=1.0, rho=0.95, eps=1e-6)
    else:
        optimizer = optim.Adam(params, lr=1e-2)
    model.eval()  # dropout off for parity
    feature, target = torch.tensor(x), torch.tensor(y)
    for step in range(steps):
        optimizer.zero_grad()
        logit = model(feature)
        loss = F.cross_entropy(logit, target)
        loss.backward()
        optimizer.step()
        if max_norm is not None:
            max_norm(L, model, s)
        corrects = (torch.max(logit, 1)[1].view(target.size()) == target).sum().item()
        log.append((loss.item(), corrects))


@pytest.mark.parametrize("conv,embed,opt,max_norm", [
    ("2d", "fresh", "adadelta", _max_norm_renorm),
    ("1d", "fresh", "adam", _max_norm_scale),
    ("2d", "static", "adadelta", _max_norm_scale),
    ("1d", "nonstatic", "adam", _max_norm_renorm_),
])
def test_cnn_text_matches_torch(conv, embed, opt, max_norm):
    x, y = _sentences()
    pretrained = np.random.default_rng(9).normal(size=(VOCAB, EMB))
    t_model, m_model = _pair(make_cnn_text, conv=conv, embed=embed, pretrained=pretrained)
    assert m_model.embed.weight.requires_grad == (embed != "static")
    logs = {}
    for L, model in ((TH, t_model), (MG, m_model)):
        logs[L.name] = []
        train_cnn_text(L, model, x, y, steps=4, opt=opt, max_norm=max_norm, log=logs[L.name])
    np.testing.assert_allclose(logs["minigrad"], logs["torch"], **TOL)
    _same_params(m_model, t_model, f"cnn_text {conv} {embed}")
    _same_grads(m_model, t_model, f"cnn_text {conv} {embed}")
    # the constraint held: every row of fc1.weight has norm <= s
    assert np.all(np.linalg.norm(m_model.fc1.weight.numpy(), axis=1) <= 0.3 + 1e-9)
    if embed == "static":
        assert m_model.embed.weight.grad is None
        np.testing.assert_array_equal(m_model.embed.weight.numpy(), pretrained)
    else:  # the padding row gets no gradient, so it never moves
        np.testing.assert_array_equal(m_model.embed.weight.grad.numpy()[PAD], 0.0)


def test_cnn_text_multichannel_matches_torch():
    x, y = _sentences()
    pretrained = np.random.default_rng(9).normal(size=(VOCAB, EMB))
    t_model, m_model = _pair(make_cnn_text, conv="2d", embed="nonstatic", pretrained=pretrained,
                             multichannel=True)
    logs = {}
    for L, model in ((TH, t_model), (MG, m_model)):
        logs[L.name] = []
        train_cnn_text(L, model, x, y, steps=3, opt="adam", max_norm=_max_norm_renorm, log=logs[L.name])
    np.testing.assert_allclose(logs["minigrad"], logs["torch"], **TOL)
    _same_params(m_model, t_model, "multichannel")
    _same_grads(m_model, t_model, "multichannel")
    assert m_model.static_embed.weight.grad is None


def test_cnn_text_max_over_time_forms_agree():
    """F.max_pool1d(x, x.size(2)).squeeze(2) == torch.max(x, dim=2)[0] == x.max(2).values, gradients too."""
    r = np.random.default_rng(2)
    a = r.normal(size=(3, 4, 6))
    ref = None
    for L in (TH, MG):
        torch, F = L.torch, L.F
        outs, grads = [], []
        for form in range(3):
            x = torch.tensor(a, requires_grad=True)
            if form == 0:
                m = F.max_pool1d(x, x.size(2)).squeeze(2)
            elif form == 1:
                m = torch.max(x, dim=2)[0]
            else:
                m = x.max(2).values
            (m * torch.arange(12.0).view(3, 4)).sum().backward()
            outs.append(_np(m))
            grads.append(_np(x.grad))
        for o, g in zip(outs[1:], grads[1:]):
            np.testing.assert_allclose(o, outs[0], **TOL)
            np.testing.assert_allclose(g, grads[0], **TOL)
        if ref is None:
            ref = (outs[0], grads[0])
        else:
            np.testing.assert_allclose(outs[0], ref[0], **TOL)
            np.testing.assert_allclose(grads[0], ref[1], **TOL)


def test_cnn_text_float32_stays_float32():
    torch.set_default_dtype(torch.float32)
    mg.set_default_dtype(mg.float32)
    x, y = _sentences()
    pretrained = np.random.default_rng(9).normal(size=(VOCAB, EMB)).astype(np.float32)
    t_model, m_model = _pair(make_cnn_text, conv="2d", embed="nonstatic", pretrained=pretrained)
    logs = {}
    for L, model in ((TH, t_model), (MG, m_model)):
        logs[L.name] = []
        train_cnn_text(L, model, x, y, steps=3, opt="adadelta", max_norm=_max_norm_scale, log=logs[L.name])
    for p in m_model.parameters():
        assert p.dtype == mg.float32 and p.grad.dtype == mg.float32
    np.testing.assert_allclose(logs["minigrad"], logs["torch"], **TOL32)
    _same_params(m_model, t_model, "float32 cnn_text", **TOL32)


# =====================================================================================
# 3. Deep Learning with PyTorch: BoWClassifier
# =====================================================================================
BOW_DATA = [("me gusta comer en la cafeteria".split(), "SPANISH"),
            ("Give it to me".split(), "ENGLISH"),
            ("No creo que sea una buena idea".split(), "SPANISH"),
            ("No it is not a good idea to get lost at sea".split(), "ENGLISH")]
BOW_TEST = [("Yo creo que si".split(), "SPANISH"),
            ("it is lost on me".split(), "ENGLISH")]
WORD_TO_IX = {}
for _sent, _ in BOW_DATA + BOW_TEST:
    for _word in _sent:
        if _word not in WORD_TO_IX:
            WORD_TO_IX[_word] = len(WORD_TO_IX)
LABEL_TO_IX = {"SPANISH": 0, "ENGLISH": 1}


def make_bow(L):
    nn, F = L.nn, L.F

    class BoWClassifier(nn.Module):  # inheriting from nn.Module!
        def __init__(self, num_labels, vocab_size):
            super(BoWClassifier, self).__init__()
            self.linear = nn.Linear(vocab_size, num_labels)

        def forward(self, bow_vec):
            return F.log_softmax(self.linear(bow_vec), dim=1)

    return BoWClassifier(len(LABEL_TO_IX), len(WORD_TO_IX))


def run_bow(L, model, epochs=100):
    torch, nn, optim = L.torch, L.nn, L.optim

    def make_bow_vector(sentence, word_to_ix):
        vec = torch.zeros(len(word_to_ix))
        for word in sentence:
            vec[word_to_ix[word]] += 1
        return vec.view(1, -1)

    def make_target(label, label_to_ix):
        return torch.LongTensor([label_to_ix[label]])

    out = {"printed": [str(param) for param in model.parameters()]}
    with torch.no_grad():
        out["sample"] = model(make_bow_vector(BOW_DATA[0][0], WORD_TO_IX))
        out["before"] = [model(make_bow_vector(inst, WORD_TO_IX)) for inst, _ in BOW_TEST]
    out["creo_view"] = next(model.parameters())[:, WORD_TO_IX["creo"]]  # printed here by the tutorial
    out["creo_before"] = out["creo_view"].clone()
    loss_function = nn.NLLLoss()
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    losses = []
    for epoch in range(epochs):
        for instance, label in BOW_DATA:
            model.zero_grad()
            bow_vec = make_bow_vector(instance, WORD_TO_IX)
            target = make_target(label, LABEL_TO_IX)
            log_probs = model(bow_vec)
            loss = loss_function(log_probs, target)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    out["losses"] = losses
    with torch.no_grad():
        out["after"] = [model(make_bow_vector(inst, WORD_TO_IX)) for inst, _ in BOW_TEST]
    out["creo_after"] = next(model.parameters())[:, WORD_TO_IX["creo"]]
    return out


def test_bow_classifier_matches_torch():
    t_model, m_model = _pair(make_bow)
    res_t, res_m = run_bow(TH, t_model), run_bow(MG, m_model)
    np.testing.assert_allclose(res_m["losses"], res_t["losses"], **TOL)
    for key in ("sample", "creo_before", "creo_after", "creo_view"):
        _close(key, res_m[key], res_t[key])
    for key in ("before", "after"):
        for a, b in zip(res_m[key], res_t[key]):
            _close(key, a, b)
    _same_params(m_model, t_model, "bow")
    _same_grads(m_model, t_model, "bow")
    # the tutorial's point: after training "creo" leans Spanish (index 0 up, 1 down)
    before, after = res_m["creo_before"].numpy(), res_m["creo_after"].numpy()
    assert after[0] > before[0] and after[1] < before[1]
    # basic indexing is a view, as in torch: the column taken before training shows the trained values
    np.testing.assert_array_equal(res_m["creo_view"].numpy(), after)
    # indexing a parameter keeps it in the graph, as torch's (grad_fn set, requires_grad True)
    assert res_m["creo_after"].requires_grad and res_m["creo_after"].grad_fn is not None
    # `print(param)` prints what torch prints (values at float64 here, so the dtype is shown)
    assert res_m["printed"] == res_t["printed"]


def test_bow_float32_prints_like_torch():
    torch.set_default_dtype(torch.float32)
    mg.set_default_dtype(mg.float32)
    t_model, m_model = _pair(make_bow)
    res_t, res_m = run_bow(TH, t_model, epochs=3), run_bow(MG, m_model, epochs=3)
    assert res_m["printed"] == res_t["printed"]
    for p in m_model.parameters():
        assert p.dtype == mg.float32 and p.grad.dtype == mg.float32
    assert all(a.dtype == mg.float32 for a in res_m["after"])
    np.testing.assert_allclose(res_m["losses"], res_t["losses"], **TOL32)
    _same_params(m_model, t_model, "bow float32", **TOL32)


# =====================================================================================
# Found while porting (each fixed in minigrad; focused tests)
# =====================================================================================
def test_max_of_raw_data_is_a_clear_type_error():
    """The tutorials' `_, predicted = torch.max(outputs.data, 1)`: `.data` is the raw array here (README), and
    max/min/argmax/argmin of it used to fail inside with "'memoryview' object has no attribute 'size'"."""
    out = mg.tensor(np.arange(6.0).reshape(3, 2))
    for fn in (mg.max, mg.min, mg.argmax, mg.argmin):
        with pytest.raises(TypeError, match=r"input must be a Tensor, got ndarray.*raw array"):
            fn(out.data, 1)
    with pytest.raises(TypeError, match="max: input must be a Tensor"):
        mg.max(out.data)
    # the port: outputs itself (or outputs.detach()), same indices as torch's
    _, predicted = mg.max(out.detach(), 1)
    _, t_pred = torch.max(torch.tensor(out.numpy()).data, 1)
    np.testing.assert_array_equal(predicted.numpy(), t_pred.numpy())


EMB_IDX = [[1, 3, 3, 0], [2, 3, 5, 1]]  # repeats (3 three times, 1 twice) and the padding row 0


@pytest.mark.parametrize("max_norm,norm_type", [(1.0, 2.0), (0.7, 1.0), (0.5, math.inf), (50.0, 2.0)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_embedding_max_norm_matches_torch(max_norm, norm_type, dtype):
    """nn.Embedding(max_norm=, norm_type=): looked-up rows renormed IN PLACE before the lookup (torch's
    embedding_renorm_); rows not looked up stay; output and gradient as torch's. Was missing (TypeError)."""
    r = np.random.default_rng(4)
    w0 = r.normal(size=(7, 3)).astype(dtype)
    res = {}
    for L in (TH, MG):
        emb = L.nn.Embedding(7, 3, padding_idx=0, max_norm=max_norm, norm_type=norm_type)
        emb.to(getattr(L.torch, dtype))
        with L.torch.no_grad():
            emb.weight.copy_(L.torch.tensor(w0))
        idx = L.torch.tensor(EMB_IDX)
        out = emb(idx)
        (out * L.torch.arange(24.0, dtype=getattr(L.torch, dtype)).view(2, 4, 3)).sum().backward()
        res[L.name] = (out, emb.weight, emb.weight.grad)
    tol = TOL if dtype == "float64" else TOL32
    for what, a, b in zip(("out", "weight after", "grad"), res["minigrad"], res["torch"]):
        _close(what, a, b, **tol)
    w_after = res["minigrad"][1].numpy()
    np.testing.assert_array_equal(w_after[[4, 6]], w0[[4, 6]])  # never looked up: untouched
    assert np.all(np.linalg.norm(w_after[[1, 2, 3, 5]], ord=norm_type, axis=1) <= max_norm * (1 + 1e-6))


def test_embedding_positional_args_follow_torch_and_functional_form():
    """torch's order (num_embeddings, embedding_dim, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse):
    `nn.Embedding(V, D, 0, 1.0)` used to set sparse=True here; F.embedding and from_pretrained take them too."""
    emb = mg.nn.Embedding(7, 3, 0, 1.0)
    temb = torch.nn.Embedding(7, 3, 0, 1.0)
    assert (emb.max_norm, emb.sparse, emb.padding_idx) == (temb.max_norm, temb.sparse, temb.padding_idx)
    assert repr(emb) == repr(temb)
    w0 = np.random.default_rng(1).normal(size=(7, 3))
    tw, mw = torch.tensor(w0), mg.tensor(w0)
    t_out = torch.nn.functional.embedding(torch.tensor(EMB_IDX), tw, None, 0.8, 1.0)
    m_out = mF.embedding(mg.tensor(EMB_IDX), mw, None, 0.8, 1.0)
    _close("F.embedding max_norm out", m_out, t_out)
    _close("F.embedding renormed weight", mw, tw)
    t_emb = torch.nn.Embedding.from_pretrained(torch.tensor(w0), freeze=False, max_norm=0.9)
    m_emb = mg.nn.Embedding.from_pretrained(w0, freeze=False, max_norm=0.9)
    assert repr(m_emb) == repr(t_emb)
    _close("from_pretrained max_norm out", m_emb(mg.tensor(EMB_IDX)), t_emb(torch.tensor(EMB_IDX)))
    _close("from_pretrained weight", m_emb.weight, t_emb.weight)


@pytest.mark.parametrize("padding_idx", [None, 0])
def test_embedding_scale_grad_by_freq_matches_torch(padding_idx):
    """scale_grad_by_freq=True: each row's gradient divided by its count in the batch (was missing)."""
    w0 = np.random.default_rng(2).normal(size=(7, 3))
    g = np.random.default_rng(3).normal(size=(2, 4, 3))
    res = {}
    for L in (TH, MG):
        emb = L.nn.Embedding.from_pretrained(L.torch.tensor(w0), freeze=False, padding_idx=padding_idx,
                                             scale_grad_by_freq=True)
        out = emb(L.torch.tensor(EMB_IDX))
        (out * L.torch.tensor(g)).sum().backward()
        res[L.name] = emb.weight.grad
    _close("scale_grad_by_freq grad", res["minigrad"], res["torch"])
    # the row looked up three times got a third of the plain sum
    np.testing.assert_allclose(res["minigrad"].numpy()[3], g.reshape(-1, 3)[[1, 2, 5]].sum(0) / 3, **TOL)
    # the row-sparse gradient (sparse=True) is scaled the same way
    emb = mg.nn.Embedding.from_pretrained(w0, freeze=False, padding_idx=padding_idx, scale_grad_by_freq=True,
                                          sparse=True)
    (emb(mg.tensor(EMB_IDX)) * mg.tensor(g)).sum().backward()
    np.testing.assert_allclose(emb.weight.grad.to_dense().numpy(), res["torch"].numpy(), **TOL)


def test_kldivloss_default_mean_warns_like_torch():
    """nn.KLDivLoss() (reduction='mean') is the classic distillation mistake (divides by N * C, not N): torch
    warns and recommends 'batchmean'; minigrad now gives the same UserWarning (it gave none). Values equal."""
    r = np.random.default_rng(6)
    lp, tg = r.normal(size=(3, 4)), r.dirichlet(np.ones(4), size=3)
    vals = {}
    for L in (TH, MG):
        with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
            vals[L.name] = L.nn.KLDivLoss()(L.F.log_softmax(L.torch.tensor(lp), dim=-1), L.torch.tensor(tg))
        with pytest.warns(UserWarning, match="'mean' divides"):
            L.F.kl_div(L.F.log_softmax(L.torch.tensor(lp), dim=-1), L.torch.tensor(tg))
    _close("KLDivLoss mean", vals["minigrad"], vals["torch"])
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning for the other reductions
        for red in ("batchmean", "sum", "none"):
            mg.nn.KLDivLoss(reduction=red)(mF.log_softmax(mg.tensor(lp), dim=-1), mg.tensor(tg))
