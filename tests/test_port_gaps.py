"""Gaps a porting audit found, closed with torch 2.13's semantics and compared with torch (float64):

1. a custom Function whose backward returns a gradient for a non-Tensor argument is refused (torch's error);
   a second backward through a freed graph says what was freed (documented difference: torch allows it
   when no op saved anything; minigrad frees every edge, README "Bounded memory");
2. `scheduler.step(epoch)`: torch's deprecated form, with its UserWarning and closed forms;
3. `Module.state_dict(destination=, prefix=, keep_vars=)`;
4. `mg.save` / `mg.load` on file objects (io.BytesIO, open binary files), still without pickle.
"""
import io
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.autograd import Function
from minigrad.optim import lr_scheduler as mls

torch = pytest.importorskip("torch")

LIBS = (torch, mg)


def t64(lib, values, requires_grad=False):
    return lib.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


def arr(t):
    return t.detach().numpy().copy() if isinstance(t, torch.Tensor) else np.array(t.numpy())


def both_raise(fn, exc, match_mg, match_torch=None):
    with pytest.raises(exc, match=match_torch):
        fn(torch)
    with pytest.raises(exc, match=match_mg):
        fn(mg)


# ---------------------------------------------------------------- 1. custom Functions, freed graphs
def _mul_constant(lib, grad_for_constant):
    """The "Extending PyTorch" MulConstant; minigrad's backward works on arrays, torch's on tensors."""
    base = torch.autograd.Function if lib is torch else Function

    class MulConstant(base):
        @staticmethod
        def forward(ctx, x, c):
            ctx.c = c
            return x * c

        @staticmethod
        def backward(ctx, g):
            return g * ctx.c, grad_for_constant

    return MulConstant


def test_gradient_for_a_non_tensor_argument_is_refused_as_in_torch():
    def run(lib):
        x = t64(lib, [1.0, 2.0], True)
        _mul_constant(lib, 1.0).apply(x, 2.0).sum().backward()

    msg = ("function MulConstantBackward returned a gradient different than None at position 2, but the "
           "corresponding forward input was not a Variable")
    both_raise(run, RuntimeError, msg, msg)

    res = {}
    for lib in LIBS:  # None for it is right, in both
        x = t64(lib, [1.0, 2.0], True)
        _mul_constant(lib, None).apply(x, 2.0).sum().backward()
        res[lib] = arr(x.grad)
    np.testing.assert_array_equal(res[torch], res[mg])

    def third(lib):  # several non-Tensor arguments: the position is the one with a gradient
        base = torch.autograd.Function if lib is torch else Function

        class M3(base):
            @staticmethod
            def forward(ctx, x, c, d):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g * 2, None, (torch.ones(1) if lib is torch else np.ones(1))

        M3.apply(t64(lib, [1.0], True), None, "s").sum().backward()

    both_raise(third, RuntimeError, "M3Backward returned a gradient different than None at position 3.*str 's'",
               "position 3")


def test_gradient_for_a_tensor_that_needs_none_is_still_ignored_as_in_torch():
    res = {}
    for lib in LIBS:
        base = torch.autograd.Function if lib is torch else Function

        class Mul2(base):
            @staticmethod
            def forward(ctx, x, y):
                return x * y

            @staticmethod
            def backward(ctx, g):
                return g, (g * 0 + 1)

        x, y = t64(lib, [1.0, 2.0], True), t64(lib, [3.0, 4.0])
        Mul2.apply(x, y).sum().backward()
        res[lib] = (arr(x.grad), y.grad)
    np.testing.assert_array_equal(res[torch][0], res[mg][0])
    assert res[torch][1] is None and res[mg][1] is None


def test_second_backward_through_a_freed_graph():
    def saved(lib):  # x * x saves x: both refuse
        x = t64(lib, [1.0, 2.0], True)
        y = (x * x).sum()
        y.backward()
        y.backward()

    both_raise(saved, RuntimeError, r"backward through \w+ a second time, but the graph was freed by the first "
               r"backward .* retain_graph=True", "retain_graph=True")

    # Documented difference: torch frees only saved tensors, so a graph whose ops saved nothing can be
    # backpropagated again; minigrad frees the edges too (README, "Bounded memory") and says so.
    x = t64(torch, [1.0, 2.0], True)
    y = (x + 1).sum()
    y.backward()
    y.backward()
    assert x.grad.tolist() == [2.0, 2.0]
    xm = t64(mg, [1.0, 2.0], True)
    ym = (xm + 1).sum()
    ym.backward()
    with pytest.raises(RuntimeError, match=r"through Sum a second time, but the graph was freed by the first "
                                           r"backward \(its edges, and the arrays its ops saved"):
        ym.backward()
    assert xm.grad.numpy().tolist() == [1.0, 1.0]  # the refused call added nothing
    ym = (xm + 1).sum()
    ym.backward(retain_graph=True)  # the fix the message gives
    ym.backward()
    assert xm.grad.numpy().tolist() == [3.0, 3.0]


# ---------------------------------------------------------------- 2. scheduler.step(epoch)
def _optimizers():
    mp = [mg.tensor(np.ones(2), requires_grad=True) for _ in range(2)]
    tp = [torch.tensor(np.ones(2), requires_grad=True) for _ in range(2)]
    mopt = mg.optim.SGD([{"params": [mp[0]]}, {"params": [mp[1]], "lr": 0.3}], lr=0.1, momentum=0.9)
    topt = torch.optim.SGD([{"params": [tp[0]]}, {"params": [tp[1]], "lr": 0.3}], lr=0.1, momentum=0.9)
    return mopt, topt


SCHEDULERS = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 5, 5], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.8)),
    ("CosineAnnealingLR", dict(T_max=6, eta_min=0.01)),
    ("LambdaLR", dict(lr_lambda=lambda e: 0.9 ** e)),
    ("MultiplicativeLR", dict(lr_lambda=lambda e: 0.95)),
    ("ConstantLR", dict(factor=0.5, total_iters=4)),
    ("LinearLR", dict(start_factor=0.25, total_iters=4)),
    ("PolynomialLR", dict(total_iters=6, power=2.0)),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=20)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.5, step_size_up=3)),
]
# plain steps and jumps, forwards and back, a fractional epoch, and plain steps after each jump
PLAN = [None, 5, None, 2, 0, 7, None, None, 3.5, None, 12, None]


@pytest.mark.parametrize("name,kwargs", SCHEDULERS, ids=[n for n, _ in SCHEDULERS])
def test_step_with_an_epoch_matches_torch(name, kwargs):
    mopt, topt = _optimizers()
    ms = getattr(mls, name)(mopt, **kwargs)
    ts = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    for epoch in PLAN:
        got = {}
        for lib, opt, s in ((torch, topt, ts), (mg, mopt, ms)):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                opt.step()
                s.step() if epoch is None else s.step(epoch)
            deprecation = [w for w in caught if "epoch parameter in `scheduler.step()`" in str(w.message)]
            assert len(deprecation) == (epoch is not None) and all(w.category is UserWarning for w in deprecation)
            got[lib] = (s.get_last_lr(), [g["lr"] for g in opt.param_groups], s.last_epoch)
        np.testing.assert_allclose(got[mg][0], got[torch][0], rtol=1e-13, atol=0)
        np.testing.assert_allclose(got[mg][1], got[torch][1], rtol=1e-13, atol=0)
        assert got[mg][2] == got[torch][2]


def test_reduce_on_plateau_step_with_an_epoch_matches_torch():
    mopt, topt = _optimizers()
    ms = mls.ReduceLROnPlateau(mopt, patience=1, factor=0.5)
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, patience=1, factor=0.5)
    for k, (metric, epoch) in enumerate([(1.0, None), (1.0, 10), (1.0, None), (2.0, 3), (0.5, None)]):
        for s in (ts, ms):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                s.step(metric) if epoch is None else s.step(metric, epoch)
            assert len([w for w in caught if "epoch parameter" in str(w.message)]) == (epoch is not None)
        assert ms.last_epoch == ts.last_epoch
        assert ms.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-15)


def test_step_epoch_refusals():
    mopt, topt = _optimizers()
    for lib, opt in ((torch, topt), (mg, mopt)):  # neither composite scheduler takes an epoch
        sl = lib.optim.lr_scheduler
        a, b = sl.StepLR(opt, step_size=2), sl.ExponentialLR(opt, gamma=0.9)
        for composite in (sl.SequentialLR(opt, [a, b], milestones=[2]), sl.ChainedScheduler([a, b])):
            with pytest.raises(TypeError):
                composite.step(3)
    with pytest.raises(TypeError, match="StepLR.step: epoch must be a number"):
        mls.StepLR(mopt, step_size=2).step("3")
    with pytest.raises(TypeError, match="ReduceLROnPlateau.step: epoch must be a number"):
        mls.ReduceLROnPlateau(mopt).step(1.0, "2")


def test_warm_restarts_step_epoch_does_not_warn_as_in_torch():
    mopt, topt = _optimizers()
    for lib, opt in ((torch, topt), (mg, mopt)):
        s = lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            s.step(2.5)


# ---------------------------------------------------------------- 3. state_dict(destination, prefix, keep_vars)
def _nets():
    rng = np.random.default_rng(0)
    sd = {"0.weight": rng.standard_normal((2, 2)), "0.bias": rng.standard_normal(2), "1.weight": np.ones(2),
          "1.bias": np.zeros(2), "1.running_mean": rng.standard_normal(2), "1.running_var": np.ones(2),
          "1.num_batches_tracked": np.array(3)}
    out = {}
    for lib in LIBS:
        net = lib.nn.Sequential(lib.nn.Linear(2, 2), lib.nn.BatchNorm1d(2)).double()
        net.load_state_dict({k: lib.tensor(v) for k, v in sd.items()})
        out[lib] = net
    return out


def test_state_dict_keep_vars_returns_the_parameters_themselves():
    nets = _nets()
    desc = {}
    for lib, net in nets.items():
        sd = net.state_dict(keep_vars=True)
        assert sd["0.weight"] is net[0].weight and sd["1.running_mean"] is net[1].running_mean
        desc[lib] = [(k, type(v).__name__, v.requires_grad) for k, v in sd.items()]
        plain = net.state_dict()
        assert plain["0.weight"] is not net[0].weight and not plain["0.weight"].requires_grad
        assert type(plain["0.weight"]).__name__ == "Tensor"
        with lib.no_grad():
            plain["0.weight"][0, 0] = 5.0  # detached, but sharing memory (as torch)
        assert arr(net[0].weight)[0, 0] == 5.0
    assert desc[mg] == desc[torch]


def test_state_dict_destination_and_prefix():
    from collections import OrderedDict

    nets = _nets()
    keys = {}
    for lib, net in nets.items():
        d = {}
        assert net.state_dict(destination=d, prefix="model.") is d
        od = OrderedDict(x=1)
        with pytest.warns(FutureWarning, match="Positional args are being deprecated"):
            r = net.state_dict(od, "p.")
        assert r is od
        with pytest.warns(FutureWarning):
            kv = net.state_dict(None, "", True)
        assert kv["0.weight"] is net[0].weight
        keys[lib] = (list(d), list(od))
        for k in d:
            np.testing.assert_array_equal(arr(d[k]), arr(net.state_dict()[k[len("model."):]]))
    assert keys[mg] == keys[torch]
    assert keys[mg][0][0] == "model.0.weight" and keys[mg][1][:2] == ["x", "p.0.weight"]
    with pytest.raises(TypeError, match="takes at most 3 positional arguments"):
        nets[mg].state_dict(None, "", False, 4)  # torch ignores the extra value; minigrad refuses it
    # a state_dict with a prefix loads into the inner module once the prefix is stripped, in both
    for lib, net in nets.items():
        sd = net.state_dict(prefix="model.")
        other = lib.nn.Sequential(lib.nn.Linear(2, 2), lib.nn.BatchNorm1d(2)).double()
        other.load_state_dict({k[len("model."):]: v for k, v in sd.items()})
        np.testing.assert_array_equal(arr(other[0].weight), arr(net[0].weight))


# ---------------------------------------------------------------- 4. save / load with file objects
def _checkpoint(lib):
    rng = np.random.default_rng(1)
    lin = lib.nn.Linear(3, 2).double()
    lin.load_state_dict({"weight": lib.tensor(rng.standard_normal((2, 3))), "bias": lib.tensor(rng.standard_normal(2))})
    return lin, {"model": lin.state_dict(), "step": 7, "name": "run-1"}


def test_save_and_load_through_a_bytes_buffer_as_torch():
    out = {}
    for lib in LIBS:
        lin, ckpt = _checkpoint(lib)
        buf = io.BytesIO()
        lib.save(ckpt, buf)
        assert buf.tell() == len(buf.getvalue()) > 0  # written from the start, position at the end (as torch)
        buf.seek(0)
        back = lib.load(buf)
        assert not buf.closed
        fresh = lib.nn.Linear(3, 2).double()
        fresh.load_state_dict(back["model"])
        x = t64(lib, np.arange(6.0).reshape(2, 3))
        out[lib] = (arr(fresh(x)), back["step"], back["name"])
    np.testing.assert_allclose(out[mg][0], out[torch][0], rtol=1e-14)
    assert out[mg][1:] == out[torch][1:]
    buf = io.BytesIO()
    mg.save({"a": 1}, buf)
    assert not np.array_equal(np.frombuffer(buf.getvalue()[:4], np.uint8), np.zeros(4))
    with pytest.raises(mg.io.CheckpointError, match=r"nothing after position \d+ .*f.seek\(0\)"):
        mg.load(buf)  # not rewound (torch: an EOFError)


def test_save_and_load_through_open_files_match_saving_to_a_path(tmp_path):
    _, ckpt = _checkpoint(mg)
    with open(tmp_path / "a.npz", "wb") as f:
        mg.save(ckpt, f)
        assert not f.closed
    mg.save(ckpt, tmp_path / "b.npz")
    for name in ("a.npz", "b.npz"):
        with open(tmp_path / name, "rb") as f:
            back = mg.load(f)
        np.testing.assert_array_equal(back["model"]["weight"].numpy(), ckpt["model"]["weight"].numpy())
        assert back["step"] == 7
    assert mg.load(tmp_path / "a.npz")["name"] == "run-1"  # a file written through a file object, read by name


class _Unseekable(io.RawIOBase):
    """A pipe-like stream: reads or writes, never seeks."""

    def __init__(self, data=b""):
        self.buf, self.out = io.BytesIO(data), bytearray()

    def readable(self):
        return True

    def writable(self):
        return True

    def seekable(self):
        return False

    def readinto(self, b):
        data = self.buf.read(len(b))
        b[:len(data)] = data
        return len(data)

    def write(self, b):
        self.out += bytes(b)
        return len(b)


def test_unseekable_streams_save_but_do_not_load_as_torch():
    data = {}
    for lib in LIBS:
        w = _Unseekable()
        lib.save({"a": lib.ones(3, dtype=lib.float64)}, w)  # writing needs no seek, in both
        data[lib] = bytes(w.out)
        assert arr(lib.load(io.BytesIO(data[lib]))["a"]).tolist() == [1.0, 1.0, 1.0]

    both_raise(lambda lib: lib.load(_Unseekable(data[lib])), io.UnsupportedOperation,
               r"load: <_Unseekable> is not seekable.*io.BytesIO", "seekable")
    assert issubclass(io.UnsupportedOperation, ValueError)  # so it is also one of minigrad's clear errors


def test_file_object_refusals(tmp_path):
    with open(tmp_path / "t.txt", "w") as f:  # text mode: refused by both
        with pytest.raises(TypeError):
            torch.save({"a": 1}, f)
        with pytest.raises(TypeError, match="text-mode file; open it in binary mode"):
            mg.save({"a": 1}, f)
    mg.save({"a": 1}, tmp_path / "c.npz")
    with open(tmp_path / "c.npz") as f:
        with pytest.raises(TypeError, match=r"load: .* is a text-mode file; open it in binary mode \('rb'\)"):
            mg.load(f)
    with pytest.raises(mg.io.CheckpointError, match="load: <BytesIO>: not a minigrad checkpoint"):
        mg.load(io.BytesIO(b"hello"))
    with pytest.raises(mg.io.CheckpointError, match="found an empty file"):
        mg.load(io.BytesIO())
    both_raise(lambda lib: lib.save({"a": 1}, 5), (TypeError, AttributeError),
               r"save: expected a file name \(str or os.PathLike\) or a binary file object")
    with pytest.raises(TypeError, match=r"load: expected a file name .* or a binary file object"):
        mg.load(5)
    # no pickle, whatever the source: a pickled npz entry in a buffer is refused like one in a file
    buf = io.BytesIO()
    np.savez(buf, a=np.array([{"x": 1}], dtype=object), __minigrad_structure__=np.frombuffer(
        b'{"format":"minigrad-checkpoint","version":1,"tree":{"t":"ndarray","key":"a","device":"cpu"}}', np.uint8))
    buf.seek(0)
    with pytest.raises(mg.io.CheckpointError, match="cannot be read"):
        mg.load(buf)


def test_save_to_a_file_object_is_not_atomic(monkeypatch):
    """Documented: a path gets write-then-rename; a file object gets the bytes directly (an error mid-write
    leaves part of the archive in it), as torch.save into a file object."""
    real = mg.io._write_archive

    def crash_halfway(f, arrays):
        tmp = io.BytesIO()
        real(tmp, arrays)
        f.write(tmp.getvalue()[: len(tmp.getvalue()) // 2])
        raise RuntimeError("simulated crash mid-write")

    monkeypatch.setattr(mg.io, "_write_archive", crash_halfway)
    buf = io.BytesIO()
    with pytest.raises(RuntimeError, match="simulated crash"):
        mg.save({"w": np.zeros(100)}, buf)
    assert 0 < buf.tell()
    buf.seek(0)
    with pytest.raises(mg.io.CheckpointError, match="truncated or corrupted"):
        mg.load(buf)
