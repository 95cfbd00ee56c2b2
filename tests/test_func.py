"""minigrad.func (torch.func without vmap or double backward): parity with torch, float64, rtol 1e-7.

functional_call on Linear / Sequential / BatchNorm (buffers written in place, module's own state
restored, also after an exception), tuples of dicts, strict and tie_weights with torch's messages;
stack_module_state and model ensembling by a loop over the stacked state, against torch's
vmap(functional_call); per-sample gradients by a loop over func.grad, against torch's vmap(grad);
grad / grad_and_value / vjp / jacrev / jacfwd / jvp against torch.func; hessian and vmap refused.
"""
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import minigrad.func as mfunc
from minigrad.func import functional_call, stack_module_state
from porting import closer

torch = pytest.importorskip("torch")
import torch.func as tfunc  # noqa: E402

close = closer(dict(rtol=1e-7, atol=1e-12))
LIBS = (torch, mg)


def t2m(t, requires_grad=False):
    """A torch tensor's values as a minigrad tensor (same dtype)."""
    return mg.tensor(t.detach().numpy().copy(), requires_grad=requires_grad)


def same_weights(mmodel, tmodel):
    mmodel.load_state_dict({k: v.detach().numpy() for k, v in tmodel.state_dict().items()})
    return mmodel


def twin(build):
    """The same float64 module in both libraries: build(lib) for each, torch's weights copied to minigrad."""
    torch.manual_seed(0)
    tm = build(torch).double()
    return tm, same_weights(build(mg).double(), tm)


def random_state(tmodel, seed):
    """Other tensors for every parameter and buffer name (float: random; integer buffers: copies)."""
    g = torch.Generator().manual_seed(seed)
    t = {}
    for k, v in list(tmodel.named_parameters()) + list(tmodel.named_buffers()):
        t[k] = torch.rand(v.shape, generator=g, dtype=v.dtype) + 0.5 if v.is_floating_point() else v.clone()
    return t


def mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))


# ---------------------------------------------------------------- functional_call
@pytest.mark.parametrize("build", [lambda lib: lib.nn.Linear(3, 2), mlp], ids=["Linear", "Sequential"])
def test_functional_call_outputs_and_gradients_match_torch(build):
    tm, mm = twin(build)
    tstate = {k: v.requires_grad_() for k, v in random_state(tm, 1).items()}
    mstate = {k: t2m(v, requires_grad=True) for k, v in tstate.items()}
    tx = torch.rand(5, 3, dtype=torch.float64)
    mx = t2m(tx)
    tout, mout = functional_call(mm, mstate, (mx,)), tfunc.functional_call(tm, tstate, (tx,))
    close("output", mout, tout)
    (tout ** 2).sum().backward()
    (mout ** 2).sum().backward()
    for k in tstate:
        close(f"grad {k}", mstate[k].grad, tstate[k].grad)
    # the module's own parameters got no gradient, and are its own again
    assert all(p.grad is None for p in mm.parameters())
    assert all(type(p) is mg.nn.Parameter for p in mm.parameters())
    close("module unchanged", mm(mx), tm(tx))
    close("args not a tuple: one argument", functional_call(mm, mstate, mx), tout)


@pytest.mark.parametrize("training", [True, False])
def test_functional_call_batchnorm_buffers(training):
    tm, mm = twin(lambda lib: lib.nn.BatchNorm1d(3))
    tm.train(training)
    mm.train(training)
    tstate = random_state(tm, 2)
    mstate = {k: t2m(v) for k, v in tstate.items()}
    for d in (tstate, mstate):
        d["weight"].requires_grad_()
        d["bias"].requires_grad_()
    tx = torch.rand(6, 3, dtype=torch.float64)
    mx = t2m(tx)
    own = {k: v.detach().numpy().copy() for k, v in mm.state_dict().items()}
    tout = tfunc.functional_call(tm, tstate, (tx,))
    mout = functional_call(mm, mstate, (mx,))
    close("output", mout, tout)
    (tout * tx).sum().backward()
    (mout * mx).sum().backward()
    close("grad weight", mstate["weight"].grad, tstate["weight"].grad)
    close("grad bias", mstate["bias"].grad, tstate["bias"].grad)
    for k in ("running_mean", "running_var", "num_batches_tracked"):  # updated in the given tensors (training)
        close(f"given {k}", mstate[k], tstate[k])
    for k, v in mm.state_dict().items():  # the module's own buffers were not touched
        np.testing.assert_array_equal(v.numpy(), own[k], err_msg=k)
    if training:
        assert int(mstate["num_batches_tracked"].item()) == 1


def test_functional_call_tuple_of_dicts_and_stateless_alias():
    tm, mm = twin(lambda lib: lib.nn.BatchNorm1d(2))
    tm.eval()
    mm.eval()
    tstate = random_state(tm, 3)
    tparams = {k: v for k, v in tstate.items() if k in ("weight", "bias")}
    tbufs = {k: v for k, v in tstate.items() if k not in tparams}
    mparams, mbufs = ({k: t2m(v) for k, v in d.items()} for d in (tparams, tbufs))
    tx = torch.rand(4, 2, dtype=torch.float64)
    mx = t2m(tx)
    want = tfunc.functional_call(tm, (tparams, tbufs), tx)
    close("tuple of dicts", functional_call(mm, (mparams, mbufs), mx), want)
    close("list of dicts", functional_call(mm, [mparams, mbufs], mx), want)
    with pytest.warns(FutureWarning, match="torch.func.functional_call"):
        close("nn.utils.stateless", mg.nn.utils.stateless.functional_call(mm, {**mparams, **mbufs}, mx), want)
    for lib, mod, p in ((torch, tm, tparams), (mg, mm, mparams)):
        with pytest.raises(ValueError, match=r"\['weight'\] appeared in multiple dictionaries; behavior of "):
            (tfunc if lib is torch else mfunc).functional_call(mod, (p, {"weight": p["weight"]}), tx)
    with pytest.raises(ValueError, match="Expected all elements of parameter_and_buffer_dicts to be dictionaries"):
        functional_call(mm, (mparams, 3), mx)
    with pytest.raises(ValueError, match="Expected parameter_and_buffer_dicts to be a dict, or a list/tuple"):
        functional_call(mm, 3, mx)
    with pytest.raises(TypeError, match="'weight' is a float; expected a Tensor"):
        functional_call(mm, {"weight": 3.0}, mx)


def test_functional_call_strict_messages_match_torch():
    msgs = {}
    for lib in LIBS:
        class Spy(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = lib.nn.Linear(2, 2)
                self.bn = lib.nn.BatchNorm1d(2)

            def forward(self, x):
                return self.bn(self.lin(x))

        spy = Spy().double()
        fc = (tfunc if lib is torch else mfunc).functional_call
        x = lib.ones(3, 2, dtype=lib.float64)
        full = {k: v.detach().clone() for k, v in list(spy.named_parameters()) + list(spy.named_buffers())}
        fc(spy, full, (x,), strict=True)  # every key: fine
        out = []
        for given in ({"lin.weight": full["lin.weight"], "foo": lib.zeros(1)}, {}):
            with pytest.raises(RuntimeError) as e:
                fc(spy, given, (x,), strict=True)
            out.append(str(e.value))
        msgs[lib] = out
    assert msgs[mg] == msgs[torch]
    assert msgs[mg][0].startswith("Error(s) in reparametrizing for Spy:\n\tUnexpected key(s): 'foo'.\n\t"
                                  "Missing key(s): 'bn.bias', ")


def tied(lib):
    class Tied(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = lib.nn.Linear(2, 2, bias=False)
            self.b = lib.nn.Linear(2, 2, bias=False)
            self.b.weight = self.a.weight  # tied, as an embedding and its output layer

        def forward(self, x):
            return self.b(self.a(x))

    return Tied()


def test_tie_weights_match_torch():
    tm, mm = twin(tied)
    assert mm.b.weight is mm.a.weight
    tw = torch.rand(2, 2, dtype=torch.float64) + 0.5
    tw2 = tw * 2
    mw, mw2 = t2m(tw), t2m(tw2)
    tx = torch.rand(3, 2, dtype=torch.float64)
    mx = t2m(tx)
    for kw in ({}, {"tie_weights": True}, {"tie_weights": False}):
        close(f"a.weight only {kw}", functional_call(mm, {"a.weight": mw}, mx, **kw),
              tfunc.functional_call(tm, {"a.weight": tw}, tx, **kw))
    # the same tensor under both names: fine either way
    close("both, same", functional_call(mm, {"a.weight": mw, "b.weight": mw}, mx),
          tfunc.functional_call(tm, {"a.weight": tw, "b.weight": tw}, tx))
    # different tensors for one tied weight: an error unless tie_weights=False
    for lib, mod, fc, w, w2, x in ((torch, tm, tfunc.functional_call, tw, tw2, tx), (mg, mm, functional_call, mw, mw2,
                                                                                        mx)):
        with pytest.raises(ValueError, match=r"functional_call got multiple values for keys \['a.weight', "
                                             r"'b.weight'\], which are tied. Consider using tie_weights=False"):
            fc(mod, {"a.weight": w, "b.weight": w2}, x)
    close("both, untied", functional_call(mm, {"a.weight": mw, "b.weight": mw2}, mx, tie_weights=False),
          tfunc.functional_call(tm, {"a.weight": tw, "b.weight": tw2}, tx, tie_weights=False))
    # strict counts tied names separately, as torch: with tie_weights one name is enough
    functional_call(mm, {"a.weight": mw}, mx, strict=True)
    tfunc.functional_call(tm, {"a.weight": tw}, tx, strict=True)
    with pytest.raises(RuntimeError, match=r"Missing key\(s\): 'b.weight'\."):
        functional_call(mm, {"a.weight": mw}, mx, strict=True, tie_weights=False)
    assert mm.b.weight is mm.a.weight and type(mm.a.weight) is mg.nn.Parameter  # restored, still tied


def test_state_restored_after_an_exception_and_unknown_names():
    class Boom(mg.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = mg.nn.Linear(2, 2)
            self.register_buffer("count", mg.zeros(()))

        def forward(self, x, fail=False):
            self.seen = (self.lin.weight, getattr(self, "extra", None))
            if fail:
                raise ValueError("boom")
            self.count = self.count + 1  # reassigns the buffer: the new tensor goes back into the caller's dict
            return self.lin(x)

    m = Boom()
    w, b, count = m.lin.weight, m.lin.bias, m.count
    new_w, extra = mg.zeros(2, 2), mg.ones(1)
    with pytest.raises(ValueError, match="boom"):
        functional_call(m, {"lin.weight": new_w, "extra": extra, "count": mg.ones(())}, (mg.ones(1, 2),),
                        {"fail": True})
    assert m.seen[0] is new_w and m.seen[1] is extra  # they were in place during the call
    assert m.lin.weight is w and m.lin._parameters["weight"] is w and m.lin.bias is b
    assert m.count is count and m._buffers["count"] is count
    assert not hasattr(m, "extra")  # an unknown name is a plain attribute for the call only (as torch)
    # a swap that fails part way (no such submodule) restores the ones already made
    with pytest.raises(AttributeError, match="Linear has no submodule `nope`"):
        functional_call(m, {"lin.weight": new_w, "lin.nope.weight": new_w}, mg.ones(1, 2))
    assert m.lin.weight is w
    # reassigned buffer written back into the caller's dict (torch does the same)
    state = {"count": mg.full((), 5.0)}
    functional_call(m, state, mg.ones(1, 2))
    assert float(state["count"].item()) == 6.0 and float(m.count.item()) == 0.0
    t = torch.nn.Module()
    t.register_buffer("count", torch.zeros(()))
    t.forward = lambda: setattr(t, "count", t.count + 1)
    tstate = {"count": torch.full((), 5.0)}
    tfunc.functional_call(t, tstate, ())
    assert float(tstate["count"]) == 6.0  # torch's behaviour, the one mirrored above


# ---------------------------------------------------------------- stack_module_state and model ensembling
def test_stack_module_state_and_ensembling_match_torch_vmap():
    n = 3
    tmodels, mmodels = [], []
    for i in range(n):
        torch.manual_seed(i)
        tmod = mlp(torch).double()
        tmodels.append(tmod)
        mmodels.append(same_weights(mlp(mg).double(), tmod))
    tparams, tbufs = tfunc.stack_module_state(tmodels)
    mparams, mbufs = stack_module_state(mmodels)
    assert list(mparams) == list(tparams) and list(mbufs) == list(tbufs)
    for k in tparams:
        close(f"stacked {k}", mparams[k], tparams[k])
        assert mparams[k].requires_grad and mparams[k].is_leaf and mparams[k].grad_fn is None
    tx = torch.rand(n, 5, 3, dtype=torch.float64)
    mx = t2m(tx)
    base = mlp(torch).double().to("meta")

    def tmodel(params, buffers, x):
        return tfunc.functional_call(base, (params, buffers), (x,))

    t_same = torch.vmap(tmodel, in_dims=(0, 0, None))(tparams, tbufs, tx[0])
    t_diff = torch.vmap(tmodel)(tparams, tbufs, tx)
    mbase = mmodels[0]

    def member(i):
        return {k: v[i] for k, v in mparams.items()}, {k: v[i] for k, v in mbufs.items()}

    m_same = mg.stack([functional_call(mbase, member(i), (mx[0],)) for i in range(n)])
    m_diff = mg.stack([functional_call(mbase, member(i), (mx[i],)) for i in range(n)])
    close("same minibatch", m_same, t_same)
    close("different minibatches", m_diff, t_diff)
    (t_diff ** 2).sum().backward()
    (m_diff ** 2).sum().backward()
    for k in tparams:  # gradients reach the stacked leaves, not the models
        close(f"grad of stacked {k}", mparams[k].grad, tparams[k].grad)
    assert all(p.grad is None for m in mmodels for p in m.parameters())


def test_stack_module_state_buffers_and_errors():
    bns = [mg.nn.BatchNorm1d(2) for _ in range(2)]
    bns[1].running_mean.fill_(3.0)
    params, bufs = stack_module_state(bns)
    assert tuple(bufs["running_mean"].shape) == (2, 2) and not bufs["running_mean"].requires_grad
    np.testing.assert_array_equal(bufs["running_mean"].numpy(), [[0, 0], [3, 3]])
    assert bufs["num_batches_tracked"].dtype == mg.int64 and tuple(bufs["num_batches_tracked"].shape) == (2,)
    with pytest.raises(RuntimeError, match="Expected at least one model, got 0"):
        stack_module_state([])
    with pytest.raises(RuntimeError, match="Expected all models to be of the same class"):
        stack_module_state([mg.nn.Linear(2, 2), mg.nn.Bilinear(2, 2, 2)])
    with pytest.raises(RuntimeError, match="same training/eval mode"):
        stack_module_state([mg.nn.Linear(2, 2), mg.nn.Linear(2, 2).eval()])
    frozen = mg.nn.Linear(2, 2)
    frozen.weight.requires_grad_(False)
    with pytest.raises(RuntimeError, match="Expected weight from each model to have the same .requires_grad"):
        stack_module_state([mg.nn.Linear(2, 2), frozen])
    p, _ = stack_module_state(mg.nn.ModuleList([mg.nn.Linear(2, 3), mg.nn.Linear(2, 3)]))
    assert tuple(p["weight"].shape) == (2, 3, 2)


# ---------------------------------------------------------------- per-sample gradients: a loop over func.grad
def test_per_sample_gradients_loop_matches_torch_vmap_grad():
    tm, mm = twin(mlp)
    n = 4
    tx, ty = torch.rand(n, 3, dtype=torch.float64), torch.tensor([0, 1, 1, 0])
    mx, my = t2m(tx), mg.tensor([0, 1, 1, 0])

    def tloss(params, x, y):
        return torch.nn.functional.cross_entropy(tfunc.functional_call(tm, params, (x[None],)), y[None])

    def mloss(params, x, y):
        return mg.nn.functional.cross_entropy(functional_call(mm, params, (x[None],)), y[None])

    tparams = {k: v.detach() for k, v in tm.named_parameters()}
    want = tfunc.vmap(tfunc.grad(tloss), in_dims=(None, 0, 0))(tparams, tx, ty)
    params = dict(mm.named_parameters())  # not detached: grad differentiates fresh leaves anyway
    per_sample = [mfunc.grad(mloss)(params, mx[i], my[i]) for i in range(n)]
    got = {k: mg.stack([g[k] for g in per_sample]) for k in params}
    for k in want:
        close(f"per-sample grad {k}", got[k], want[k])
        assert not got[k].requires_grad
    assert all(p.grad is None for p in mm.parameters())
    # and grad_and_value's values are the per-sample losses
    values = mg.stack([mfunc.grad_and_value(mloss)(params, mx[i], my[i])[1] for i in range(n)])
    close("per-sample losses", values, tfunc.vmap(tloss, in_dims=(None, 0, 0))(tparams, tx, ty))


# ---------------------------------------------------------------- grad, grad_and_value
def f_pytree(lib):
    def f(p, x, scale=1.0):
        h = lib.tanh(x @ p["w"]) * p["b"][0]
        return (h.sum() + (p["b"][1] ** 2).sum()) * scale, {"h": h}
    return f


def test_grad_and_value_pytrees_argnums_aux_match_torch():
    g = torch.Generator().manual_seed(4)
    tp = {"w": torch.rand(3, 2, generator=g, dtype=torch.float64), "b": [torch.rand(2, generator=g,
                                                                                     dtype=torch.float64),
                                                                         torch.rand(2, generator=g,
                                                                                    dtype=torch.float64)]}
    tx = torch.rand(4, 3, generator=g, dtype=torch.float64)
    mp = {"w": t2m(tp["w"]), "b": [t2m(tp["b"][0]), t2m(tp["b"][1])]}
    mx = t2m(tx)
    for argnums in (0, 1, (0, 1), -1, (1, -2)):
        (tgr, (tval, taux)) = tfunc.grad_and_value(f_pytree(torch), argnums=argnums, has_aux=True)(tp, tx, scale=2.0)
        (mgr, (mval, maux)) = mfunc.grad_and_value(f_pytree(mg), argnums=argnums, has_aux=True)(mp, mx, scale=2.0)
        close(f"value {argnums}", mval, tval)
        close(f"aux {argnums}", maux["h"], taux["h"])
        tl, ts = torch.utils._pytree.tree_flatten(tgr)
        ml, ms = torch.utils._pytree.tree_flatten(_to_lists(mgr))
        assert ms == ts  # the same structure: dict of [tensor, list], or a tuple over argnums
        for i, (a, b) in enumerate(zip(ml, tl)):
            close(f"grad {argnums} leaf {i}", a, b)
    # grad = grad_and_value[0]; with has_aux: (grad, aux)
    close("grad", mfunc.grad(lambda x: (x ** 3).sum())(mx), tfunc.grad(lambda x: (x ** 3).sum())(tx))
    gw, aux = mfunc.grad(f_pytree(mg), has_aux=True)(mp, mx)
    close("grad has_aux", gw["w"], tfunc.grad(f_pytree(torch), has_aux=True)(tp, tx)[0]["w"])
    assert set(aux) == {"h"}


def _to_lists(tree):
    """minigrad tensors in a pytree as torch tensors (so torch's pytree can flatten the same structure)."""
    if isinstance(tree, dict):
        return {k: _to_lists(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_to_lists(v) for v in tree)
    return torch.from_numpy(tree.numpy())


def test_grad_details():
    x = mg.tensor([1.0, 2.0], dtype=mg.float64)
    with mg.no_grad():  # an outer no_grad does not stop the transform (torch.func's rule)
        np.testing.assert_allclose(mfunc.grad(lambda a: (a * a).sum())(x).numpy(), [2.0, 4.0])
    # an argument the output does not use gets zeros; a constant output: zeros
    ga, gb = mfunc.grad(lambda a, b: (a * 2).sum(), argnums=(0, 1))(x, x)
    np.testing.assert_array_equal(gb.numpy(), [0, 0])
    np.testing.assert_array_equal(mfunc.grad(lambda a: mg.tensor(3.0, dtype=mg.float64))(x).numpy(), [0, 0])
    assert x.grad is None and not x.requires_grad
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    gw = mfunc.grad(lambda a: (a * a).sum())(w)
    assert w.grad is None and not gw.requires_grad  # a plain tensor (no double backward)
    # torch's errors
    with pytest.raises(RuntimeError, match="Expected f\\(\\*args\\) to return a scalar Tensor, got tensor with 1 "
                                           "dims. Maybe you wanted to use the vjp or jacrev APIs instead?"):
        mfunc.grad(lambda a: a * 2)(x)
    with pytest.raises(RuntimeError, match="Expected f\\(\\*args\\) to return a Tensor, got <class 'float'>"):
        mfunc.grad(lambda a: 1.0)(x)
    with pytest.raises(RuntimeError, match="output of function f should be a tuple: \\(output, aux\\)"):
        mfunc.grad(lambda a: a.sum(), has_aux=True)(x)
    with pytest.raises(RuntimeError, match="Got argnum=2, but only 1 positional inputs"):
        mfunc.grad(lambda a: a.sum(), argnums=2)(x)
    with pytest.raises(RuntimeError, match="argnums elements must be unique"):
        mfunc.grad(lambda a, b: a.sum(), argnums=(0, 0))(x, x)
    with pytest.raises(RuntimeError, match="argnums must be int or Tuple"):
        mfunc.grad(lambda a: a.sum(), argnums=[0])(x)
    with pytest.raises(ValueError, match="Thing passed to transform API must be Tensor, got <class 'float'>"):
        mfunc.grad(lambda a: a)(1.0)
    with pytest.raises(RuntimeError, match="floating point"):
        mfunc.grad(lambda a: a.sum())(mg.tensor([1, 2]))


@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), seed=st.integers(0, 2 ** 16))
def test_grad_property_matches_torch(shape, seed, device):
    """grad of a small composite over generated shapes, on each backend, against torch.func.grad."""
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)

    def f(lib):
        return lambda x, y: (lib.tanh(x) * y + x ** 2).sum()

    tg = tfunc.grad(f(torch), argnums=(0, 1))(torch.from_numpy(a), torch.from_numpy(b))
    mg_ = mfunc.grad(f(mg), argnums=(0, 1))(mg.tensor(a, device=device), mg.tensor(b, device=device))
    for ours, theirs in zip(mg_, tg):
        assert ours.device == mg.tensor(a, device=device).device
        close("grad", ours.to("cpu"), theirs)


# ---------------------------------------------------------------- vjp, jacrev, jacfwd, jvp
def two_out(lib):
    def f(x, y):
        return {"s": lib.sin(x) * y, "p": (x * y).sum(-1)}, x.sum()
    return f


def test_vjp_matches_torch():
    g = torch.Generator().manual_seed(5)
    tx, ty = torch.rand(2, 3, generator=g, dtype=torch.float64), torch.rand(2, 3, generator=g, dtype=torch.float64)
    mx, my = t2m(tx), t2m(ty)
    tout, tfn, taux = tfunc.vjp(two_out(torch), tx, ty, has_aux=True)
    mout, mfn, maux = mfunc.vjp(two_out(mg), mx, my, has_aux=True)
    close("output s", mout["s"], tout["s"])
    close("output p", mout["p"], tout["p"])
    close("aux", maux, taux)
    assert not mout["s"].requires_grad
    tct = {"s": torch.rand(2, 3, generator=g, dtype=torch.float64), "p": torch.rand(2, generator=g,
                                                                                  dtype=torch.float64)}
    mct = {k: t2m(v) for k, v in tct.items()}
    for _ in range(2):  # vjp_fn can be called again (retain_graph=True by default)
        tg, mgr = tfn(tct), mfn(mct)
        assert isinstance(mgr, tuple) and len(mgr) == 2
        close("vjp x", mgr[0], tg[0])
        close("vjp y", mgr[1], tg[1])
    with pytest.raises(RuntimeError, match="Expected pytree structure of cotangents to be the same as pytree"):
        mfn({"s": mct["s"]})
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        mfn({"s": mct["s"], "p": mg.ones(3, dtype=mg.float64)})
    with pytest.raises(NotImplementedError, match="double backward"):
        mfn(mct, create_graph=True)
    mfn(mct, retain_graph=False)
    with pytest.raises(RuntimeError):  # the graph is gone now, as in torch
        mfn(mct)
    # unused primal: zeros; an integer output is refused as in torch
    _, fn = mfunc.vjp(lambda a, b: a * 2, mx, my)
    np.testing.assert_array_equal(fn(mg.ones(2, 3, dtype=mg.float64))[1].numpy(), np.zeros((2, 3)))
    with pytest.raises(RuntimeError, match="All outputs of f must be floating-point"):
        mfunc.vjp(lambda a: a.argmax(), mx)


@pytest.mark.parametrize("jac", ["jacrev", "jacfwd"])
@pytest.mark.parametrize("argnums", [0, 1, (0, 1)])
def test_jacobians_match_torch(jac, argnums):
    g = torch.Generator().manual_seed(6)
    tx, ty = torch.rand(2, 3, generator=g, dtype=torch.float64), torch.rand(2, 3, generator=g, dtype=torch.float64)
    mx, my = t2m(tx), t2m(ty)
    tj, taux = getattr(tfunc, jac)(two_out(torch), argnums=argnums, has_aux=True)(tx, ty)
    mj, maux = getattr(mfunc, jac)(two_out(mg), argnums=argnums, has_aux=True)(mx, my)
    close("aux", maux, taux)
    for key in ("s", "p"):
        tb = tj[key] if isinstance(argnums, tuple) else (tj[key],)
        mb = mj[key] if isinstance(argnums, tuple) else (mj[key],)
        assert isinstance(mj[key], tuple) == isinstance(argnums, tuple)
        for i, (a, b) in enumerate(zip(mb, tb)):
            close(f"{jac} {key} wrt {i}", a, b)
    close("plain jacrev", mfunc.jacrev(mg.sin)(mx), tfunc.jacrev(torch.sin)(tx))


def test_jvp_matches_torch():
    g = torch.Generator().manual_seed(7)
    tx, tv = torch.rand(3, generator=g, dtype=torch.float64), torch.rand(3, generator=g, dtype=torch.float64)
    ty, tw = torch.rand(3, generator=g, dtype=torch.float64), torch.rand(3, generator=g, dtype=torch.float64)

    def f(lib):
        return lambda a, b: (lib.sin(a) * b, (a ** 2).sum())

    tout, tjv = tfunc.jvp(f(torch), (tx, ty), (tv, tw))
    mout, mjv = mfunc.jvp(f(mg), (t2m(tx), t2m(ty)), (t2m(tv), t2m(tw)))
    for i in range(2):
        close(f"output {i}", mout[i], tout[i])
        close(f"jvp {i}", mjv[i], tjv[i])
    with pytest.raises(RuntimeError, match="Expected primals to be a tuple of Tensors"):
        mfunc.jvp(mg.sin, t2m(tx), (t2m(tv),))


# ---------------------------------------------------------------- refused, and how it is reached
def test_hessian_and_vmap_refuse_clearly():
    with pytest.raises(NotImplementedError, match="double backward"):
        mfunc.hessian(lambda x: (x ** 2).sum())
    with pytest.raises(NotImplementedError, match=r"(?s)no batching rules.*mg.stack\(\[f\(x\) for x in xs\]\)"):
        mfunc.vmap(lambda x: x, in_dims=(0,))
    with pytest.raises(AttributeError, match="no attribute 'vmap': minigrad has no vmap"):
        mg.vmap
    with pytest.raises(AttributeError, match="no linearize"):
        mfunc.linearize


def test_namespace():
    import minigrad.func

    assert mg.func is minigrad.func and mfunc.functional_call is functional_call
    for name in minigrad.func.__all__:
        assert hasattr(tfunc, name), name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert callable(torch.nn.utils.stateless.functional_call) and callable(mg.nn.utils.stateless.functional_call)


def test_parametrized_module():
    """The unconstrained tensor goes in under '...parametrizations.weight.original' (as torch's docs say); the
    parametrized name itself is refused (torch 2.13 routes it through right_inverse, writing the original)."""
    out = {}
    for lib in LIBS:
        tri = type("Tri", (lib.nn.Module,), {"forward": lambda self, X: X.tril()})
        lin = lib.nn.Linear(2, 2).double()
        lib.nn.utils.parametrize.register_parametrization(lin, "weight", tri())
        fc = (tfunc if lib is torch else mfunc).functional_call
        w = lib.ones(2, 2, dtype=lib.float64)
        out[lib] = fc(lin, {"parametrizations.weight.original": w, "bias": lib.zeros(2, dtype=lib.float64)},
                      (lib.ones(1, 2, dtype=lib.float64),))
    close("parametrized", out[mg], out[torch])
    with pytest.raises(RuntimeError, match="pass the unconstrained tensor as 'parametrizations.weight.original'"):
        functional_call(lin, {"weight": w}, (mg.ones(1, 2, dtype=mg.float64),))
    assert type(lin.parametrizations.weight.original) is mg.nn.Parameter
