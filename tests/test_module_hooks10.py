"""Global module hooks (torch.nn.modules.module.register_module_*_hook) and state-dict hooks
(register_state_dict_pre/post_hook, register_load_state_dict_pre/post_hook and torch's private
_register_state_dict_hook / _register_load_state_dict_pre_hook), checked against torch: the same
tiny models in both libraries, every hook call recorded (order and arguments) and compared.
"""
import inspect

import numpy as np
import pytest

import minigrad as mg
from minigrad.nn import module as mg_module

torch = pytest.importorskip("torch")
import torch.nn.modules.module as torch_module  # noqa: E402

LIBS = (torch, mg)
GLOBAL = {torch: torch_module, mg: mg_module}


def _np(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else t.numpy()


def _shape(t):
    return None if t is None else tuple(t.shape)


def make_model(lib):
    """Sequential(Linear(2, 3), Block, Linear(3, 1)) with torch's weights; Block has a child, a
    parameter and a persistent and a non-persistent buffer."""
    nn = lib.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Linear(3, 3)
            self.scale = nn.Parameter(lib.ones(3))
            self.register_buffer("count", lib.zeros(1))
            self.register_buffer("tmp", lib.zeros(1), persistent=False)

        def forward(self, x, shift=0.0):
            return self.inner(x).relu() * self.scale + shift

    model = nn.Sequential(nn.Linear(2, 3), Block(), nn.Linear(3, 1))
    rng = np.random.default_rng(0)  # the same weights in both libraries
    with lib.no_grad():
        for name, t in model.state_dict(keep_vars=True).items():
            t.copy_(lib.tensor(rng.uniform(-1, 1, tuple(t.shape)).astype(np.float32)))
    return model


def x_of(lib):
    return lib.tensor(np.array([[0.5, -1.0], [2.0, 0.3]], dtype=np.float32), requires_grad=True)


# ---------------------------------------------------------------- global module hooks
def test_global_hook_functions_have_torchs_signatures_and_paths():
    names = ["register_module_forward_pre_hook", "register_module_forward_hook",
             "register_module_full_backward_pre_hook", "register_module_full_backward_hook"]
    for name in names:
        ts, ms = inspect.signature(getattr(torch_module, name)), inspect.signature(getattr(mg_module, name))
        assert [(p.name, p.kind, p.default) for p in ms.parameters.values()] == \
            [(p.name, p.kind, p.default) for p in ts.parameters.values()], name
    # torch's import paths port by renaming the package
    from minigrad.nn.modules.module import Module, register_module_forward_hook
    from minigrad.nn.modules.linear import Linear

    assert Module is mg.nn.Module and Linear is mg.nn.Linear
    assert register_module_forward_hook is mg.nn.modules.module.register_module_forward_hook
    assert mg.nn.modules.Linear is mg.nn.Linear and mg.nn.modules.Sequential is mg.nn.Sequential
    assert torch.nn.modules.Linear is torch.nn.Linear
    for meth in ("register_state_dict_pre_hook", "register_state_dict_post_hook", "_register_state_dict_hook",
                 "register_load_state_dict_pre_hook", "_register_load_state_dict_pre_hook",
                 "register_load_state_dict_post_hook"):
        ts, ms = inspect.signature(getattr(torch.nn.Module, meth)), inspect.signature(getattr(mg.nn.Module, meth))
        assert list(ms.parameters) == list(ts.parameters), meth
    with pytest.raises(NotImplementedError, match="register_module_full_backward_hook"):
        mg_module.register_module_backward_hook(lambda *a: None)
    with pytest.raises(TypeError, match="register_module_forward_hook: expected a callable"):
        mg_module.register_module_forward_hook(3)


def _forward_log(lib):
    """Global and per-module forward hooks of every kind; one forward with a keyword argument."""
    g, log = GLOBAL[lib], []
    model = make_model(lib)
    block = model[1]
    handles = [
        g.register_module_forward_pre_hook(lambda m, a: log.append(("g_pre", type(m).__name__, _shape(a[0])))),
        g.register_module_forward_hook(lambda m, a, o: log.append(("g_fwd", type(m).__name__, _shape(o)))),
        g.register_module_forward_hook(
            lambda m, a, kw, o: log.append(("g_fwd_kw", type(m).__name__, sorted(kw))), with_kwargs=True),
        block.register_forward_pre_hook(lambda m, a: log.append(("own_pre", type(m).__name__))),
        block.register_forward_hook(lambda m, a, o: log.append(("own_fwd", type(m).__name__))),
        block.register_forward_hook(lambda m, a, o: log.append(("own_first", type(m).__name__)), prepend=True),
    ]
    try:
        h = model[0](x_of(lib))
        out = block(h, shift=1.0)
    finally:
        for hd in handles:
            hd.remove()
    log.append("removed")
    model(x_of(lib))  # no hook left: nothing recorded
    return log, out


def test_global_forward_hooks_run_for_every_module_before_its_own_as_torch():
    (tlog, tout), (mlog, mout) = _forward_log(torch), _forward_log(mg)
    assert mlog == tlog
    assert tlog[-1] == "removed"
    # torch's order: global pre-hooks, the module's pre-hooks, (forward: the children's hooks), global
    # forward hooks, the module's forward hooks
    block_calls = [e for e in tlog if e != "removed" and e[1] == "Block"]
    assert [e[0] for e in block_calls] == ["g_pre", "own_pre", "g_fwd", "g_fwd_kw", "own_first", "own_fwd"]
    np.testing.assert_allclose(_np(mout), _np(tout), rtol=1e-6)
    assert not mg_module._global_hook_ids  # Module.__call__ is back on its fast path


def test_global_hooks_replace_args_and_output_and_always_call_as_torch():
    res = {}
    for lib in LIBS:
        g, log = GLOBAL[lib], []
        model = make_model(lib)

        def pre(m, a):  # double the input of every Linear
            return (a[0] * 2,) if type(m).__name__ == "Linear" else None

        def fwd(m, a, o):  # and add 1 to the output of the last one
            return o + 1 if m is model[2] else None

        with g.register_module_forward_pre_hook(pre), g.register_module_forward_hook(fwd):
            out = model(x_of(lib))
        res[lib] = _np(out)

        def boom(x):
            raise ValueError("boom")

        bad = lib.nn.Linear(2, 2)
        bad.forward = boom
        h = g.register_module_forward_hook(lambda m, a, o: log.append(("always", o)), always_call=True)
        h2 = g.register_module_forward_hook(lambda m, a, o: log.append(("plain", o)))
        try:
            with pytest.raises(ValueError, match="boom"):
                bad(x_of(lib))
        finally:
            h.remove()
            h2.remove()
        assert log == [("always", None)]
    np.testing.assert_allclose(res[mg], res[torch], rtol=1e-6)


def _backward_log(lib):
    g, log = GLOBAL[lib], []
    model = make_model(lib)

    def g_bpre(m, go):
        log.append(("g_bpre", type(m).__name__, [_shape(t) for t in go]))

    def g_bwd(m, gi, go):
        log.append(("g_bwd", type(m).__name__, [_shape(t) for t in gi], [_shape(t) for t in go]))
        if m is model[0]:
            return tuple(None if t is None else t * 3 for t in gi)  # the gradient w.r.t. the input, tripled
        return None

    handles = [g.register_module_full_backward_pre_hook(g_bpre), g.register_module_full_backward_hook(g_bwd),
               model[2].register_full_backward_pre_hook(lambda m, go: log.append(("own_bpre", type(m).__name__))),
               model[2].register_full_backward_hook(lambda m, gi, go: log.append(("own_bwd", type(m).__name__)))]
    x = x_of(lib)
    try:
        model(x).sum().backward()
    finally:
        for hd in handles:
            hd.remove()
    return log, x.grad, model[0].weight.grad


def test_global_backward_hooks_match_torch():
    (tlog, tgx, tgw), (mlog, mgx, mgw) = _backward_log(torch), _backward_log(mg)
    assert mlog == tlog
    last = [e[0] for e in tlog if e[1] == "Linear"][:4]
    assert last == ["g_bpre", "own_bpre", "g_bwd", "own_bwd"]  # global before the module's own
    np.testing.assert_allclose(_np(mgx), _np(tgx), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(_np(mgw), _np(tgw), rtol=1e-5, atol=1e-7)
    assert not mg_module._global_hook_ids


# ---------------------------------------------------------------- state_dict hooks
def _state_dict_log(lib, keep_vars=False):
    log = []
    model = make_model(lib)
    handles = []
    for name, m in model.named_modules():
        def pre(mod, prefix, kv, name=name):
            log.append(("pre", name, type(mod).__name__, prefix, kv))

        def post(mod, sd, prefix, meta, name=name):
            log.append(("post", name, prefix, list(sd), dict(meta)))

        handles += [m.register_state_dict_pre_hook(pre), m.register_state_dict_post_hook(post)]
    sd = model.state_dict(prefix="net.", keep_vars=keep_vars)
    for hd in handles:
        hd.remove()
    model.state_dict()
    return log, sd


@pytest.mark.parametrize("keep_vars", [False, True])
def test_state_dict_hooks_order_and_arguments_match_torch(keep_vars):
    (tlog, tsd), (mlog, msd) = _state_dict_log(torch, keep_vars), _state_dict_log(mg, keep_vars)
    assert mlog == tlog
    assert [e[:2] for e in tlog[:3]] == [("pre", ""), ("pre", "0"), ("post", "0")]
    assert tlog[-1][:3] == ("post", "", "net.")
    assert list(msd) == list(tsd)


def test_state_dict_post_hooks_edit_in_place_and_private_hook_may_replace():
    for lib in LIBS:
        model = make_model(lib)
        # a post-hook may drop or add entries in place (e.g. leave out a frozen part)
        def drop_inner(m, sd, prefix, meta):
            for k in [k for k in sd if k.startswith(prefix + "inner.")]:
                del sd[k]

        h = model[1].register_state_dict_post_hook(drop_inner)
        assert "1.inner.weight" not in model.state_dict() and "1.scale" in model.state_dict()
        h.remove()
        assert "1.inner.weight" in model.state_dict()
        # the public post-hook must return None
        h = model.register_state_dict_post_hook(lambda m, sd, prefix, meta: {})
        with pytest.raises(RuntimeError, match="state_dict post-hook must return None"):
            model.state_dict()
        h.remove()
        # torch's private form: a dict returned by the root's hook is the result
        h = model._register_state_dict_hook(lambda m, sd, prefix, meta: {"only": 1})
        assert model.state_dict() == {"only": 1}
        h.remove()
        assert "0.weight" in model.state_dict()


# ---------------------------------------------------------------- load_state_dict hooks
def _keys(d):
    return sorted(d)


def _load_log(lib, strict=False):
    log = []
    model = make_model(lib)
    state = {k: v.clone() for k, v in make_model(lib).state_dict().items()}
    del state["1.inner.bias"], state["2.weight"]  # two missing keys
    state["1.extra"] = lib.zeros(1)  # two unexpected ones, at two depths
    state["bogus"] = lib.zeros(1)
    for name, m in model.named_modules():
        def pre(mod, sd, prefix, meta, strict_, missing, unexpected, errors, name=name):
            log.append(("pre", name, type(mod).__name__, prefix, _keys(sd), dict(meta), strict_,
                        list(missing), list(unexpected), list(errors)))

        def post(mod, inc, name=name):
            log.append(("post", name, list(inc.missing_keys), list(inc.unexpected_keys), type(inc).__name__))

        m.register_load_state_dict_pre_hook(pre)
        m.register_load_state_dict_post_hook(post)
    if strict:
        with pytest.raises(RuntimeError) as e:
            model.load_state_dict(state)
        return log, str(e.value)
    res = model.load_state_dict(state, strict=False)
    return log, (list(res.missing_keys), list(res.unexpected_keys))


@pytest.mark.parametrize("strict", [False, True])
def test_load_state_dict_hooks_order_and_arguments_match_torch(strict):
    (tlog, tres), (mlog, mres) = _load_log(torch, strict), _load_log(mg, strict)
    assert mlog == tlog
    assert [e[:2] for e in tlog[:4]] == [("pre", ""), ("pre", "0"), ("post", "0"), ("pre", "1")]
    if strict:
        for key in ("1.inner.bias", "2.weight", "1.extra", "bogus"):
            assert key in tres and key in mres
    else:
        assert mres == tres == (["1.inner.bias", "2.weight"], ["bogus", "1.extra"])


def test_load_pre_hook_local_metadata_of_a_torch_checkpoint():
    """A torch state dict carries per-module `_metadata`; the hooks see the same local_metadata in both."""
    tsd = make_model(torch).state_dict()
    assert hasattr(tsd, "_metadata")
    seen = {}
    for lib in LIBS:
        model, seen[lib] = make_model(lib), []
        for name, m in model.named_modules():
            m.register_load_state_dict_pre_hook(lambda mod, sd, prefix, meta, *rest, name=name: seen[lib].append(
                (name, dict(meta))))
        model.load_state_dict(tsd)
    assert seen[mg] == seen[torch]
    assert seen[mg][0] == ("", {"version": 1})
    # assign=True is announced to the hooks, as in torch
    model, metas = make_model(mg), []
    model.register_load_state_dict_pre_hook(lambda mod, sd, prefix, meta, *rest: metas.append(dict(meta)))
    model.load_state_dict(dict(model.state_dict()), assign=True)
    assert metas == [{"assign_to_params_buffers": True}]


def _rename_old_checkpoint(lib):
    """An old checkpoint named the first layer `linear` and Block's `scale` `gain`: a root pre-hook
    renames the first, torch's private pre-hook (no module argument) on Block renames the second."""
    model = make_model(lib)
    new_state = {k: v.clone() + 1 for k, v in make_model(lib).state_dict().items()}
    old = {k.replace("0.", "linear.", 1) if k.startswith("0.") else k.replace("1.scale", "1.gain"): v
           for k, v in new_state.items()}
    with pytest.raises(RuntimeError):
        model.load_state_dict(old)

    def rename(mod, sd, prefix, meta, strict, missing, unexpected, errors):
        for k in [k for k in sd if k.startswith(prefix + "linear.")]:
            sd[prefix + "0." + k[len(prefix + "linear."):]] = sd.pop(k)

    def rename_gain(sd, prefix, meta, strict, missing, unexpected, errors):
        if prefix + "gain" in sd:
            sd[prefix + "scale"] = sd.pop(prefix + "gain")

    h1 = model.register_load_state_dict_pre_hook(rename)
    h2 = model[1]._register_load_state_dict_pre_hook(rename_gain)
    res = model.load_state_dict(old)  # strict
    assert list(res.missing_keys) == [] and list(res.unexpected_keys) == []
    assert set(old) == set(new_state) - {"0.weight", "0.bias", "1.scale"} | {"linear.weight", "linear.bias",
                                                                              "1.gain"}  # not changed
    loaded = {k: _np(v) for k, v in model.state_dict().items()}
    for k, v in new_state.items():
        np.testing.assert_array_equal(loaded[k], _np(v))
    h1.remove()
    h2.remove()
    with pytest.raises(RuntimeError):  # the hooks are gone
        model.load_state_dict(old)
    return loaded


def test_key_renaming_pre_hooks_load_an_old_checkpoint_as_torch():
    t, m = _rename_old_checkpoint(torch), _rename_old_checkpoint(mg)
    assert list(m) == list(t)
    for k in t:
        np.testing.assert_allclose(m[k], t[k], rtol=1e-6)


def _filter_missing(lib):
    """A model with an optional `adapter` the checkpoint lacks: a post-hook drops its missing keys."""
    model = make_model(lib)
    model.adapter = lib.nn.Linear(1, 1)
    state = dict(make_model(lib).state_dict())
    seen = []

    def ignore_adapter(mod, inc):
        seen.append(list(inc.missing_keys))
        inc.missing_keys[:] = [k for k in inc.missing_keys if not k.startswith("adapter.")]

    model.register_load_state_dict_post_hook(ignore_adapter)
    res = model.load_state_dict(state)  # strict: nothing left to report
    out = {"res": (list(res.missing_keys), list(res.unexpected_keys)), "seen": seen[:]}
    # strict loading still reports what the hook leaves: a key really missing, and an unexpected one
    del state["2.bias"]
    state["stale"] = lib.zeros(1)
    with pytest.raises(RuntimeError) as e:
        model.load_state_dict(state)
    msg = str(e.value)
    assert "2.bias" in msg and "stale" in msg and "adapter" not in msg
    res = model.load_state_dict(state, strict=False)
    out["nonstrict"] = (list(res.missing_keys), list(res.unexpected_keys))
    # a post-hook must not return anything
    model.register_load_state_dict_post_hook(lambda mod, inc: inc)
    with pytest.raises(AssertionError, match="register_load_state_dict_post_hook"):
        model.load_state_dict(state, strict=False)
    return out


def test_post_hook_filters_missing_keys_and_strict_reports_the_rest_as_torch():
    t, m = _filter_missing(torch), _filter_missing(mg)
    assert m == t
    assert t["seen"] == [["adapter.weight", "adapter.bias"]]
    assert t["nonstrict"] == (["2.bias"], ["stale"])


def test_error_msgs_from_a_pre_hook_fail_the_load():
    for lib in LIBS:
        model = make_model(lib)
        model[1].register_load_state_dict_pre_hook(
            lambda mod, sd, prefix, meta, strict, missing, unexpected, errors: errors.append("old format: v0"))
        with pytest.raises(RuntimeError, match="old format: v0"):
            model.load_state_dict(model.state_dict(), strict=False)


def test_post_hook_sees_its_module_loaded_as_torch_and_hookless_loads_stay_all_or_nothing():
    sums = {}
    for lib in LIBS:
        model, target = make_model(lib), make_model(lib)
        with lib.no_grad():
            for p in target.parameters():
                p.add_(1.0)
        sums[lib] = []
        model[0].register_load_state_dict_post_hook(
            lambda mod, inc, s=sums[lib]: s.append(float(mod.weight.detach().sum())))
        model.load_state_dict(target.state_dict())
    np.testing.assert_allclose(sums[mg], sums[torch], rtol=1e-6)
    # without load hooks minigrad checks every key and shape before copying anything
    model = make_model(mg)
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    bad = {k: v + 1 for k, v in model.state_dict().items()}
    bad["2.weight"] = mg.zeros(5, 5)
    with pytest.raises(RuntimeError, match=r"2\.weight: checkpoint \(5, 5\) vs model \(1, 3\)"):
        model.load_state_dict(bad)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
    with pytest.raises(TypeError, match="expected state_dict to be dict-like"):
        model.load_state_dict([("0.weight", 1)])


def test_state_dict_hooks_leave_the_call_fast_path_alone():
    model = make_model(mg)
    model.register_state_dict_pre_hook(lambda *a: None)
    model.register_load_state_dict_post_hook(lambda *a: None)
    assert "_hook_dicts" not in model.__dict__
