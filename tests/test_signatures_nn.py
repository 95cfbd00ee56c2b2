"""Signature parity with torch: positional order, names, defaults and keyword-only markers.

torch code passes arguments positionally all the time (``nn.Embedding(n, d, None, 1.0)``,
``DataLoader(ds, 32, False, sampler)``). Where minigrad's parameter at some position means
something else, such code runs and answers wrong, silently. This file compares
``inspect.signature`` of each public callable in torch.nn (modules' ``__init__``/``forward``),
nn.functional, nn.init, nn.utils (+ rnn, parametrize, parametrizations, prune), the optimizers,
the lr schedulers, torch.utils.data, the distributions, torch.autograd and torch.amp against
minigrad's same-named object, and flags:

* ``a``: a positional parameter at the same position with another name (another meaning);
* ``b``: a same-named parameter with another default;
* ``c``: keyword-only on one side, positional on the other;
* ``d``: a parameter torch has that minigrad lacks.

Differences that are understood live in ``ALLOWED`` with the reason. A new difference, or an
ALLOWED entry that no longer happens, fails the test, so drift is caught both ways.
Run ``python tests/test_signatures_nn.py`` to print every finding.
"""
import ast
import importlib
import inspect
import re

import pytest

torch = pytest.importorskip("torch")

import minigrad as mg  # noqa: E402

P = inspect.Parameter
_POS = (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)

# torch's name -> minigrad's name for the tensor argument of a forward / functional: same meaning,
# same position; only a keyword call (``F.relu(input=t)``) differs, and it fails loudly (TypeError).
SYNONYMS = {("input", "x"), ("input_", "input"), ("target_", "target")}

_RNN_BASE_ARGS = "input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0, " \
                 "bidirectional=False, proj_size=0, device=None, dtype=None"
# torch's RNN/LSTM/GRU take (*args, **kwargs) and forward them to RNNBase(mode, *args); these are the
# signatures that results in (RNN takes nonlinearity as its 4th positional).
_TORCH_OVERRIDES = {
    "nn.RNN.__init__": "input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True, batch_first=False, "
                       "dropout=0.0, bidirectional=False, device=None, dtype=None",
    "nn.LSTM.__init__": _RNN_BASE_ARGS,
    "nn.GRU.__init__": _RNN_BASE_ARGS.replace("proj_size=0, ", ""),
}

_MHA_ARGS = ("query key value embed_dim_to_check num_heads in_proj_weight in_proj_bias bias_k bias_v add_zero_attn "
             "dropout_p out_proj_weight out_proj_bias training key_padding_mask need_weights attn_mask "
             "use_separate_proj_weight q_proj_weight k_proj_weight v_proj_weight static_k static_v "
             "average_attn_weights is_causal").split()

# tag -> {finding: reason}. A finding is "<kind>:<detail>" as `_findings` writes it.
ALLOWED = {
    # --- nn modules -------------------------------------------------------------------------------
    "nn.RNNBase.__init__": dict.fromkeys(
        ["a:0:mode/input_size", "a:1:input_size/hidden_size", "a:2:hidden_size/num_layers", "a:3:num_layers/bias",
         "a:4:bias/batch_first", "a:5:batch_first/dropout", "a:6:dropout/bidirectional", "d:mode",
         "c:proj_size", "c:device", "c:dtype"],
        "minigrad's RNNBase is the shared base of RNN/LSTM/GRU (models/_layer.py), each subclass fixing its cell; "
        "torch's takes the cell as a `mode` string. Code builds nn.LSTM etc., whose signatures match; "
        "nn.RNNBase('LSTM', 10, 20) fails loudly here (input_size must be an int)"),
    "nn.RNNCellBase.__init__": {
        "b:bias": "torch's base requires bias (its subclasses default it to True); minigrad's base defaults it",
        "d:num_chunks": "minigrad's cell base takes no gate count: each cell subclass knows its own",
        "a:3:num_chunks/device": "(torch's 4th positional of the base, the gate count, is missing here: see d:num_chunks; "
                                 "code builds RNNCell/LSTMCell/GRUCell, whose order matches torch's; a number passed "
                                 "as device fails loudly)",
        "a:4:device/dtype": "(shifted by the missing num_chunks, see above)",
    },
    "nn.Hardtanh.__init__": dict.fromkeys(
        ["d:min_value", "d:max_value"],
        "torch's deprecated aliases of min_val/max_val (they only warn and copy); passing them fails loudly here"),
    **{f"nn.{name}.__init__": dict.fromkeys(
        ["c:device", "c:dtype"],
        "torch's 9th/10th positionals (after bidirectional and proj_size); minigrad has its keyword-only `fused` "
        "(and GRU's `reset_after`) there, so device/dtype are keyword-only; passing them positionally fails loudly")
       for name in ("RNN", "LSTM", "GRU")},
    **{f"nn.LazyBatchNorm{k}d.__init__": {
        "d:bias": "torch 2.13's new keyword-only bias=False is not implemented for the lazy batch norms; passing "
                  "it fails loudly (TypeError); the eager BatchNorm*d take it"} for k in (1, 2, 3)},
    # --- functional -------------------------------------------------------------------------------
    "F.pad": {"b:value": "torch's None means 0: the same padding as minigrad's 0.0 (value=None is accepted too)"},
    **{f"F.{name}": {"d:weight": "torch 2.13's new elementwise weight= is not implemented; passing it fails "
                                 "loudly (TypeError)"} for name in ("mse_loss", "l1_loss", "huber_loss")},
    "F.multi_head_attention_forward": dict.fromkeys(
        [f"a:{i}:{n}/*args" for i, n in enumerate(_MHA_ARGS)] + [f"d:{n}" for n in _MHA_ARGS],
        "a lazy (*args, **kwargs) forwarder to nn/attention.py's multi_head_attention_forward, whose own "
        "signature is compared as 'F.multi_head_attention_forward.impl'"),
    "F.normalize": {"d:out": "out= is not supported by F.normalize; passing it fails loudly (TypeError)"},
    # --- data ------------------------------------------------------------------------------------
    "data.DataLoader.__init__": {
        "b:shuffle": "torch's None means False for a map-style dataset (and 'unspecified' for an IterableDataset, "
                     "which minigrad also accepts as None); minigrad defaults to False, the same behaviour",
    },
    "data.default_collate": {
        "a:0:batch/samples": "the same argument (the list of samples) under another name; only "
                             "default_collate(batch=...) differs, and it fails loudly (TypeError)",
        "d:batch": "see a:0: the argument is there, named `samples`",
    },
    "data.random_split": {
        "b:generator": "torch's default is its global default_generator; minigrad's None means the global host RNG "
                       "(mg.manual_seed): the same meaning",
    },
}


# ------------------------------------------------------------------------------------------------
# reading signatures
# ------------------------------------------------------------------------------------------------

def _literal(node):
    """A default from a docstring signature: a literal, or a constant expression like `1.0 / 8`."""
    try:
        return ast.literal_eval(node)
    except ValueError:
        try:
            return eval(compile(ast.Expression(node), "<default>", "eval"), {"__builtins__": {}})  # noqa: S307
        except Exception:
            return ast.unparse(node)


def _params_from_text(args: str):
    """Parameters from the text between a signature's parentheses, e.g. 'input, beta=1, *, out=None'."""
    tree = ast.parse(f"def f({args.replace('Tensor?', 'Tensor')}): pass")
    a = tree.body[0].args
    pos = a.posonlyargs + a.args
    first_default = len(pos) - len(a.defaults)
    params = []
    for i, x in enumerate(pos):
        kind = P.POSITIONAL_ONLY if x in a.posonlyargs else P.POSITIONAL_OR_KEYWORD
        params.append(P(x.arg, kind, default=_literal(a.defaults[i - first_default]) if i >= first_default else P.empty))
    if a.vararg:
        params.append(P(a.vararg.arg, P.VAR_POSITIONAL))
    for x, d in zip(a.kwonlyargs, a.kw_defaults):
        params.append(P(x.arg, P.KEYWORD_ONLY, default=P.empty if d is None else _literal(d)))
    if a.kwarg:
        params.append(P(a.kwarg.arg, P.VAR_KEYWORD))
    return params


def _doc_params(fn, name):
    """torch's C functions (F.conv2d, ...) have no inspectable signature; their docstring's first line has it."""
    doc = (getattr(fn, "__doc__", None) or "").strip()
    m = re.match(rf"{re.escape(name)}\((.*?)\)\s*(->[^\n]*)?\n", doc + "\n", re.S)
    if not m:
        return None
    try:
        return _params_from_text(" ".join(m.group(1).split()))
    except SyntaxError:
        return None


def _params(fn, name, drop_self=False):
    try:
        params = list(inspect.signature(inspect.unwrap(fn)).parameters.values())
    except (ValueError, TypeError):
        params = _doc_params(fn, name)
        if params is None:
            return None
    if drop_self and params and params[0].name == "self":
        params = params[1:]
    return params


def _same_default(t, m):
    if t is P.empty or m is P.empty:
        return t is m
    if callable(t) and callable(m):  # e.g. activation=F.relu: the same function under each library
        return getattr(t, "__name__", None) == getattr(m, "__name__", None)
    if isinstance(t, tuple) and isinstance(m, tuple):  # torch.Size is a tuple
        return tuple(t) == tuple(m)
    if isinstance(t, bool) or isinstance(m, bool) or t is None or m is None:
        return t is m or (type(t) is type(m) and t == m)
    if isinstance(t, (int, float)) and isinstance(m, (int, float)):
        return t == m
    try:
        return type(t) is type(m) and bool(t == m)
    except Exception:
        return False


def _findings(tparams, mparams):
    """The differences between torch's and minigrad's parameter lists, as 'kind:detail' strings."""
    out = set()
    tpos = [p for p in tparams if p.kind in _POS]
    mpos = [p for p in mparams if p.kind in _POS]
    m_varpos = any(p.kind == P.VAR_POSITIONAL for p in mparams)
    for i, tp in enumerate(tpos):
        if i < len(mpos):
            if mpos[i].name != tp.name and (tp.name, mpos[i].name) not in SYNONYMS:
                out.add(f"a:{i}:{tp.name}/{mpos[i].name}")
        elif m_varpos:  # torch's positional lands in minigrad's *args: check by hand
            out.add(f"a:{i}:{tp.name}/*args")
    mnames = {p.name: p for p in mparams}
    synonym_of = {t: m for t, m in SYNONYMS}
    for tp in tparams:
        if tp.kind in (P.VAR_POSITIONAL, P.VAR_KEYWORD):
            continue
        mp = mnames.get(tp.name)
        if mp is None and tp.name in synonym_of:
            mp = mnames.get(synonym_of[tp.name])
        if mp is None:
            out.add(f"d:{tp.name}")
            continue
        if not _same_default(tp.default, mp.default):
            out.add(f"b:{tp.name}")
        if (tp.kind == P.KEYWORD_ONLY) != (mp.kind == P.KEYWORD_ONLY):
            out.add(f"c:{tp.name}")
    return out


# ------------------------------------------------------------------------------------------------
# what to compare: (tag, torch params, minigrad params)
# ------------------------------------------------------------------------------------------------

def _is_public_fn(obj):
    return callable(obj) and not isinstance(obj, type) and not inspect.ismodule(obj)


def _class_pairs(prefix, tcls, mcls, methods=("__init__",)):
    for meth in methods:
        tag = f"{prefix}.{meth}"
        tf, mf = getattr(tcls, meth, None), getattr(mcls, meth, None)
        if tf is None or mf is None or (meth == "forward" and tf is torch.nn.Module.forward):
            continue
        tparams = _params_from_text(_TORCH_OVERRIDES[tag]) if tag in _TORCH_OVERRIDES else _params(tf, meth, True)
        yield tag, tparams, _params(mf, meth, True)


def _module_pairs(prefix, tmod, mmod, names):
    for name in sorted(names):
        tobj, mobj = getattr(tmod, name, None), getattr(mmod, name, None)
        if tobj is None or mobj is None:
            continue
        if isinstance(tobj, type):
            yield from _class_pairs(prefix + name, tobj, mobj)
        elif _is_public_fn(tobj):
            yield prefix + name, _params(tobj, name), _params(mobj, name)


def _nn_modules():
    tnn, mnn = torch.nn, mg.nn
    for name in sorted(dir(tnn)):
        tcls = getattr(tnn, name)
        if name.startswith("_") or not (isinstance(tcls, type) and issubclass(tcls, tnn.Module)):
            continue
        mcls = getattr(mnn, name, None)
        if mcls is not None:
            yield from _class_pairs("nn." + name, tcls, mcls, ("__init__", "forward"))


def _functional():
    TF, MF = torch.nn.functional, mg.functional
    names = [n for n in dir(TF) if not n.startswith("_") and _is_public_fn(getattr(TF, n))]
    yield from _module_pairs("F.", TF, MF, names)
    # minigrad's F.multi_head_attention_forward forwards (*args, **kwargs) to nn/attention.py's
    from minigrad.nn import attention
    yield ("F.multi_head_attention_forward.impl", _params(TF.multi_head_attention_forward, "x"),
           _params(attention.multi_head_attention_forward, "x"))


def _init():
    ti = torch.nn.init
    names = [n for n in dir(ti) if not n.startswith("_") and inspect.isfunction(getattr(ti, n))
             and getattr(ti, n).__module__ == "torch.nn.init"]
    yield from _module_pairs("init.", ti, mg.nn.init, names)


def _nn_utils():
    for sub in ("", ".rnn", ".parametrize", ".parametrizations", ".prune"):
        tmod = importlib.import_module("torch.nn.utils" + sub)
        mmod = importlib.import_module("minigrad.nn.utils" + sub)
        names = getattr(tmod, "__all__", None) or [n for n in dir(tmod) if not n.startswith("_")]
        names = [n for n in names if (inspect.isfunction(getattr(tmod, n, None)) or isinstance(getattr(tmod, n, None), type))
                 and getattr(getattr(tmod, n), "__module__", "").startswith("torch")]
        yield from _module_pairs(f"utils{sub}.", tmod, mmod, names)


def _optim():
    to = torch.optim
    names = [n for n in dir(to) if isinstance(getattr(to, n), type) and issubclass(getattr(to, n), to.Optimizer)]
    yield from _module_pairs("optim.", to, mg.optim, names)
    tl = torch.optim.lr_scheduler
    names = [n for n in dir(tl) if not n.startswith("_") and isinstance(getattr(tl, n), type)
             and getattr(tl, n).__module__ == tl.__name__]
    yield from _module_pairs("lr_scheduler.", tl, mg.optim.lr_scheduler, names)


def _data():
    td = torch.utils.data
    yield from _module_pairs("data.", td, mg.utils.data, [n for n in td.__all__ if not n.startswith("_")])


def _distributions():
    td = torch.distributions
    names = [n for n in dir(td) if isinstance(getattr(td, n), type) and issubclass(getattr(td, n), td.Distribution)]
    yield from _module_pairs("distributions.", td, mg.distributions, names + ["kl_divergence", "register_kl"])


def _autograd_amp():
    import minigrad.autograd_functional as maf
    import torch.autograd.functional as taf

    yield from _module_pairs("autograd.", torch.autograd, mg.autograd, ["grad", "backward"])
    yield from _module_pairs("autograd.functional.", taf, maf, ["jacobian", "hessian", "vjp", "jvp", "hvp", "vhp"])
    yield from _module_pairs("amp.", torch.amp, mg.amp, [n for n in torch.amp.__all__ if not n.startswith("_")])


AREAS = {"nn": _nn_modules, "functional": _functional, "init": _init, "nn_utils": _nn_utils, "optim": _optim,
         "data": _data, "distributions": _distributions, "autograd_amp": _autograd_amp}


def _area_findings(area):
    found = {}
    for tag, tparams, mparams in AREAS[area]():
        if tparams is None or mparams is None:
            found[tag] = {"?:no signature on " + ("torch's side" if tparams is None else "minigrad's side")}
        else:
            found[tag] = _findings(tparams, mparams)
    return found


def _area_of(tag):
    for area, prefixes in {"nn": ("nn.",), "functional": ("F.",), "init": ("init.",), "nn_utils": ("utils",),
                           "optim": ("optim.", "lr_scheduler."), "data": ("data.",),
                           "distributions": ("distributions.",), "autograd_amp": ("autograd.", "amp.")}.items():
        if tag.startswith(prefixes):
            return area
    return None


@pytest.mark.parametrize("area", sorted(AREAS))
def test_signatures_match_torch(area):
    found = _area_findings(area)
    assert found, f"{area}: nothing compared (the torch/minigrad pairing is broken)"
    new = {tag: sorted(f for f in fs if f not in ALLOWED.get(tag, {})) for tag, fs in found.items()}
    new = {tag: fs for tag, fs in new.items() if fs}
    assert not new, ("signature differences from torch (fix minigrad, or add to ALLOWED with the reason; "
                     f"a: other meaning at a position, b: default, c: keyword-only, d: missing): {new}")
    stale = {tag: sorted(set(allowed) - found.get(tag, set())) for tag, allowed in ALLOWED.items()
             if _area_of(tag) == area}
    stale = {tag: fs for tag, fs in stale.items() if fs}
    assert not stale, f"ALLOWED entries that no longer happen (remove them): {stale}"


def test_comparator_catches_the_dangerous_case():
    """The checker itself: a swapped positional, a changed default, a keyword-only move, a missing one."""
    def torch_like(num, dim, padding_idx=None, max_norm=None, *, out=None, extra=1):
        pass

    def ours(num, dim, padding_idx=None, sparse=False, max_norm=2.0, out=None):
        pass

    got = _findings(_params(torch_like, "f"), _params(ours, "f"))
    assert got == {"a:3:max_norm/sparse", "b:max_norm", "c:out", "d:extra"}


if __name__ == "__main__":
    for area in AREAS:
        for tag, fs in sorted(_area_findings(area).items()):
            for f in sorted(fs):
                print(f"{tag:55s} {f:40s} {'ALLOWED' if f in ALLOWED.get(tag, {}) else ''}")


# ------------------------------------------------------------------------------------------------
# the fixes this file's audit led to: torch code passing arguments positionally, same answer as torch
# ------------------------------------------------------------------------------------------------

def test_dataloader_positional_order_is_torchs():
    """DataLoader(ds, 2, False, sampler): the 4th positional is the sampler (it used to be drop_last)."""
    import numpy as np

    data = np.arange(5, dtype=np.float32)
    order = [4, 0, 3, 1, 2]
    got = [b[0].numpy().tolist() for b in mg.utils.data.DataLoader(
        mg.utils.data.TensorDataset(mg.tensor(data)), 2, False, order)]
    want = [b[0].numpy().tolist() for b in torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor(data)), 2, False, order)]
    assert got == want and len(got) == 3  # the sampler's order, and the last short batch kept
    # drop_last is the 9th positional, as in torch
    args = (2, False, None, None, 0, None, False, True)
    got = list(mg.utils.data.DataLoader(mg.utils.data.TensorDataset(mg.tensor(data)), *args))
    want = list(torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.tensor(data)), *args))
    assert len(got) == len(want) == 2


def test_embedding_positional_weight_and_freeze():
    """nn.Embedding's 8th/9th positionals are torch's _weight/_freeze (they used to be device/dtype)."""
    w = torch.randn(5, 3)
    args = (None, None, 2.0, False, False)
    t = torch.nn.Embedding(5, 3, *args, w, True)
    m = mg.nn.Embedding(5, 3, *args, mg.tensor(w.numpy()), True)
    idx = [1, 4, 1]
    assert (m(mg.tensor(idx)).numpy() == t(torch.tensor(idx)).detach().numpy()).all()
    assert m.weight.requires_grad is t.weight.requires_grad is False
    assert mg.nn.Embedding(5, 3, _freeze=True).weight.requires_grad is False
    with pytest.raises(ValueError, match="_weight"):
        mg.nn.Embedding(4, 3, _weight=mg.zeros(5, 3))


def test_gru_cell_fourth_positional_is_device():
    """nn.GRUCell(I, H, True, None): torch's 4th positional is device; it used to be reset_after
    (None -> the classic GRU, silently a different recurrence)."""
    torch.manual_seed(0)
    t = torch.nn.GRUCell(3, 4, True, None)
    m = mg.nn.GRUCell(3, 4, True, None)
    assert m.reset_after is True
    m.load_state_dict({k: mg.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    x, h = torch.randn(2, 3), torch.randn(2, 4)
    got = m(mg.tensor(x.numpy()), mg.tensor(h.numpy())).numpy()
    assert abs(got - t(x, h).detach().numpy()).max() < 1e-5
    # the other cells: device, dtype positional as in torch
    assert mg.nn.LSTMCell(3, 4, True, None, "float64").weight_ih.dtype == mg.float64
    assert mg.nn.RNNCell(3, 4, True, "relu", None, "float64").weight_ih.dtype == mg.float64


@pytest.mark.parametrize("args", [(), (2.0,), (2.0, 1.0), (0.5, 3.0)])
def test_functional_softplus_beta_threshold(args):
    """F.softplus(x, beta, threshold) as torch's (it used to take x alone): value and gradient."""
    import numpy as np

    x = np.linspace(-6.0, 6.0, 13)  # float64, so the gradients compare tightly; 0.75 / 1.5 avoid the kinks
    tx = torch.tensor(x, requires_grad=True)
    mx = mg.tensor(x, requires_grad=True)
    ty = torch.nn.functional.softplus(tx, *args)
    my = mg.nn.functional.softplus(mx, *args)
    ty.sum().backward()
    my.sum().backward()
    np.testing.assert_allclose(my.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert mg.nn.functional.softplus(mg.ones(2), *args).dtype == mg.float32


@pytest.mark.parametrize("name, args", [
    ("RMSprop", (0.01, 0.99, 1e-8, 0, 0, False, False, None, True)),  # ..., capturable, foreach, maximize
    ("ASGD", (0.01, 1e-4, 0.75, 1e6, 0, None, True)),                 # ..., foreach, maximize
    ("Adadelta", (1.0, 0.9, 1e-6, 0, None)),                          # ..., foreach
    ("Adagrad", (0.01, 0, 0, 0, 1e-10, None)),
    ("Adamax", (0.002, (0.9, 0.999), 1e-8, 0, None)),
])
def test_optimizer_flags_positional_as_torch(name, args):
    """torch's optimizers take foreach/maximize/... positionally; one step agrees with torch's."""
    import numpy as np

    w0 = np.array([0.5, -1.0, 2.0])
    tw = torch.tensor(w0, requires_grad=True)
    mw = mg.nn.Parameter(mg.tensor(w0))
    topt, mopt = getattr(torch.optim, name)([tw], *args), getattr(mg.optim, name)([mw], *args)
    for _ in range(2):
        topt.zero_grad(); mopt.zero_grad()
        (tw ** 2).sum().backward(); (mw ** 2).sum().backward()
        topt.step(); mopt.step()
    np.testing.assert_allclose(mw.numpy(), tw.detach().numpy(), rtol=1e-6, atol=1e-8)


def test_sparse_adam_maximize_positional():
    assert mg.optim.SparseAdam([mg.nn.Parameter(mg.zeros(2))], 1e-3, (0.9, 0.999), 1e-8, True).defaults["maximize"]


@pytest.mark.parametrize("name, args", [("uniform_", ()), ("normal_", ()), ("xavier_uniform_", ()),
                                        ("xavier_normal_", ()), ("kaiming_uniform_", ()), ("kaiming_normal_", ()),
                                        ("orthogonal_", ()), ("trunc_normal_", ()), ("sparse_", (0.5,))])
def test_init_generator(name, args):
    """nn.init's generator= (torch's): the same generator seed gives the same fill; the global stream is untouched."""
    fill = getattr(mg.nn.init, name)
    mg.manual_seed(0)
    a = fill(mg.empty(4, 5), *args, generator=mg.Generator().manual_seed(7)).numpy().copy()
    after_a = mg.rand(3).numpy()
    mg.manual_seed(0)
    b = fill(mg.empty(4, 5), *args, generator=mg.Generator().manual_seed(7)).numpy().copy()
    after_b = mg.rand(3).numpy()
    c = fill(mg.empty(4, 5), *args, generator=mg.Generator().manual_seed(8)).numpy()
    assert (a == b).all() and (after_a == after_b).all() and not (a == c).all()
    mg.manual_seed(0)
    assert (mg.rand(3).numpy() == after_a).all()  # the generator's draws did not advance the global stream
