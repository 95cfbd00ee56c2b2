"""Bit-exact resume and crash-safe checkpoints.

A training run interrupted at step k and resumed from its checkpoint, in a fresh process,
ends with parameters bit-identical to an uninterrupted run: for a bare MLP (dropout,
shuffled DataLoader, Adam + StepLR, interruption mid-epoch, `minigrad.checkpoint`) and for
the addition and char-LM examples driven through their command lines. Leaving out any one
part of the state (optimizer, scheduler, data position, RNG) breaks the equality, which
shows the comparison is sharp. A writer killed with SIGKILL mid-write, or an exception
raised mid-write, leaves the previous checkpoint intact and loadable.

This file is also the child program of its subprocess tests:
`python tests/test_resume.py mlp ...` trains the MLP, `... writer ...` saves checkpoints forever.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # when run as a child script
    sys.path.insert(0, ROOT)

import minigrad as mg  # noqa: E402
from minigrad import functional as F  # noqa: E402
from minigrad import nn  # noqa: E402
from minigrad.checkpoint import (  # noqa: E402
    load_training_state, restore_training_state, save_training_state, training_state,
)
from minigrad.data import DataLoader, TensorDataset  # noqa: E402

CHILD_ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                 PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))


# ================================================================ the MLP run (child and in-process)
TOTAL_STEPS = 20
STOP_AT = 11  # 8 batches per epoch: step 11 is the 3rd batch of the 2nd epoch (mid-epoch, mid-StepLR period)


def build_mlp_run(device="cpu"):
    """Every object of the run, built as a new run builds them (seeded: same weights every time)."""
    mg.manual_seed(1234)
    data = np.random.default_rng(7)
    X = data.standard_normal((60, 6)).astype(np.float32)
    y = data.integers(0, 3, size=60)
    loader = DataLoader(TensorDataset(mg.tensor(X), mg.tensor(y)), batch_size=8, shuffle=True)  # host RNG order
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3)).to(device)
    opt = mg.optim.Adam(model.parameters(), lr=1e-2)
    sched = mg.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.7)
    return model, opt, sched, loader


def train_mlp(total=TOTAL_STEPS, stop_at=None, ckpt=None, resume=False, drop=(), device="cpu"):
    """Train to `total` steps (or checkpoint to `ckpt` and stop at `stop_at`); returns the final snapshot.

    `drop` names parts to leave unrestored on resume (the negative controls).
    """
    model, opt, sched, loader = build_mlp_run(device)
    step, losses = 0, []
    if resume:
        state = mg.load(ckpt)
        kept = {"model": model, "optimizer": opt, "scheduler": sched, "loader": loader}
        for name in drop:
            kept.pop(name, None)
        extra = restore_training_state(state, strict=False, **kept)
        if "rng" in drop:
            mg.manual_seed(99)  # as if the generators had not been restored
        step, losses = extra["step"], list(extra["losses"])
    while step < total:
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            losses.append(loss.item())
            if step == stop_at:
                save_training_state(ckpt, model=model, optimizer=opt, scheduler=sched, loader=loader,
                                    step=step, losses=losses)
                return None
            if step == total:
                break
    return {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "loader": loader.state_dict(), "rng": mg.backend.get_rng_state(), "losses": losses}


# ================================================================ comparisons
def flatten(obj, prefix=""):
    """{path: leaf} over nested dicts/lists/tuples; Tensors become host arrays."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}/{k}"))
        return out
    if isinstance(obj, (list, tuple)):
        out = {}
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}[{i}]"))
        return out
    if isinstance(obj, mg.Tensor):
        return {prefix: obj.numpy()}
    if mg.backend.is_array(obj):  # e.g. CuPy's generator state in the RNG part, on a GPU
        return {prefix: mg.backend.to_device(obj, "cpu")}
    return {prefix: obj}


def assert_bit_identical(a, b, what=""):
    fa, fb = flatten(a), flatten(b)
    assert fa.keys() == fb.keys(), f"{what}: different entries: {sorted(fa.keys() ^ fb.keys())[:10]}"
    for k in fa:
        x, y = fa[k], fb[k]
        if isinstance(x, (np.ndarray, np.generic)) or isinstance(y, (np.ndarray, np.generic)):
            x, y = np.asarray(x), np.asarray(y)
            assert x.dtype == y.dtype and x.shape == y.shape, f"{what}{k}: {x.dtype}{x.shape} vs {y.dtype}{y.shape}"
            assert x.tobytes() == y.tobytes(), f"{what}{k}: values differ (max |diff| " \
                f"{np.max(np.abs(x.astype(np.float64) - y.astype(np.float64))) if x.size else 0})"
        else:
            assert type(x) is type(y) and x == y, f"{what}{k}: {x!r} != {y!r}"


def params_equal(a, b) -> bool:
    return all(a[k].numpy().tobytes() == b[k].numpy().tobytes() for k in a)


def run_child(*args, timeout=120):
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=CHILD_ENV, cwd=ROOT)
    assert proc.returncode == 0, f"child {args} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


# ================================================================ MLP: bit-exact in a fresh process
def test_mlp_resumed_in_fresh_process_is_bit_identical(tmp_path):
    ckpt, full, resumed = tmp_path / "ckpt.npz", tmp_path / "full.npz", tmp_path / "resumed.npz"
    run_child("mlp", "--out", full)                                     # never interrupted
    run_child("mlp", "--stop-at", STOP_AT, "--ckpt", ckpt)               # killed at step 11 ...
    assert ckpt.exists() and not resumed.exists()
    saved = mg.load(ckpt)
    assert saved["extra"]["step"] == STOP_AT
    assert saved["loader"]["in_epoch"] and saved["loader"]["batch"] == 3  # interrupted mid-epoch
    run_child("mlp", "--resume", "--ckpt", ckpt, "--out", resumed)       # ... and resumed elsewhere
    a, b = mg.load(full), mg.load(resumed)
    assert len(a["losses"]) == TOTAL_STEPS
    # parameters, Adam's moments and step, the scheduler, the data position, the RNG and every loss
    assert_bit_identical(a, b, "resumed vs uninterrupted: ")
    # and an in-process run agrees with both (no hidden per-process state)
    here = train_mlp()
    assert params_equal(here["model"], a["model"])


def test_mlp_resumes_bit_exactly_on_every_device(tmp_path, device):
    """The same resume in one process on each backend: on a GPU the dropout masks come from CuPy's
    generator, whose state the checkpoint carries too; without the RNG part the run differs."""
    ckpt = tmp_path / "ckpt.npz"
    full = train_mlp(device=device)
    assert train_mlp(stop_at=STOP_AT, ckpt=ckpt, device=device) is None
    assert_bit_identical(full, train_mlp(resume=True, ckpt=ckpt, device=device), f"{device} resumed: ")
    assert not params_equal(full["model"], train_mlp(resume=True, ckpt=ckpt, drop=("rng",), device=device)["model"])


def test_each_part_of_the_state_is_needed(tmp_path):
    """Negative controls: resume without one part and the run is no longer the same run."""
    ckpt = tmp_path / "ckpt.npz"
    full = train_mlp()
    train_mlp(stop_at=STOP_AT, ckpt=ckpt)
    assert_bit_identical(full, train_mlp(resume=True, ckpt=ckpt))  # everything restored: identical
    for part in ("optimizer", "scheduler", "loader", "rng"):
        other = train_mlp(resume=True, ckpt=ckpt, drop=(part,))
        assert not params_equal(full["model"], other["model"]), f"resuming without the {part} state changed nothing"


def test_training_state_helpers_check_their_input(tmp_path):
    model, opt, sched, loader = build_mlp_run()
    data_rng = np.random.default_rng(3)
    data_rng.random(5)
    p = tmp_path / "s.npz"
    save_training_state(p, model=model, optimizer=opt, loader=loader, generators={"data": data_rng}, step=4)
    fresh = np.random.default_rng(3)
    extra = load_training_state(p, model=model, optimizer=opt, loader=loader, generators={"data": fresh})
    assert extra == {"step": 4} and fresh.random() == data_rng.random()  # the generator continues exactly
    with pytest.raises(ValueError, match="holds a loader state but no loader= was given"):
        load_training_state(p, model=model, optimizer=opt, generators={"data": fresh})
    with pytest.raises(ValueError, match="scheduler was given but the checkpoint holds no scheduler"):
        load_training_state(p, model=model, optimizer=opt, scheduler=sched, loader=loader, generators={"data": fresh})
    with pytest.raises(ValueError, match="holds generators"):
        load_training_state(p, model=model, optimizer=opt, loader=loader)
    with pytest.raises(ValueError, match="expected a dict made by training_state"):
        restore_training_state({"model": {}}, model=model)
    with pytest.raises(TypeError, match="must be a numpy.random.Generator"):
        training_state(generators={"data": 3})
    extra = load_training_state(p, model=model, strict=False)  # parts may be skipped on purpose
    assert extra["step"] == 4


# ================================================================ the examples, through their command lines
EXAMPLES = os.path.join(ROOT, "examples")


def run_example(name, *args, timeout=150):
    cmd = [sys.executable, os.path.join(EXAMPLES, f"{name}.py"), *map(str, args), "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=CHILD_ENV, cwd=ROOT)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"


def test_addition_example_resumes_bit_exactly(tmp_path):
    # Reduced configuration; the interruption (step 7) is not at an evaluation step (every 5), and
    # --stop-at 2 keeps the validation score (evaluated at 7 only in the interrupted run) from
    # stopping either run early.
    small = ["--digits", "2", "--hidden", "16", "--embed", "8", "--batch-size", "16", "--val-size", "40",
             "--test-size", "40", "--eval-every", "5", "--stop-at", "2", "--show", "0", "--seed", "3"]
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    run_example("addition", *small, "--max-steps", "12", "--checkpoint", a)
    run_example("addition", *small, "--max-steps", "7", "--checkpoint", b)
    assert mg.load(b)["step"] == 7
    run_example("addition", *small, "--max-steps", "12", "--checkpoint", b, "--resume")
    ca, cb = mg.load(a), mg.load(b)
    assert ca["step"] == cb["step"] == 12
    for part in ("model", "optimizer", "data_rng", "minigrad_rng"):
        assert_bit_identical(ca[part], cb[part], f"addition {part}: ")


def test_char_lm_example_resumes_bit_exactly(tmp_path):
    # Two layers with dropout between them, so the host RNG matters to every step; the
    # interruption (step 7) is between checkpoints of the full run and mid-way through the text.
    small = ["--smoke", "--layers", "2", "--dropout", "0.3", "--hidden", "16", "--embed", "8", "--batch", "4",
             "--seq-len", "16", "--eval-every", "100", "--ckpt-every", "100", "--sample-len", "5", "--seed", "5"]
    run_example("char_lm", *small, "--steps", "12", "--outdir", tmp_path / "full")
    run_example("char_lm", *small, "--steps", "7", "--outdir", tmp_path / "resumed")
    run_example("char_lm", *small, "--steps", "12", "--resume", "--outdir", tmp_path / "resumed")
    ca, cb = mg.load(tmp_path / "full" / "char_lm.npz"), mg.load(tmp_path / "resumed" / "char_lm.npz")
    assert ca["step"] == cb["step"] == 12
    # model, Adam state, the carried hidden state, the data position and the training losses
    for part in ("model", "optimizer", "state", "data"):
        assert_bit_identical(ca[part], cb[part], f"char_lm {part}: ")
    assert ca["history"]["loss"] == cb["history"]["loss"]
    # the generator state after step 12 (sampling happens after the last checkpoint)
    assert_bit_identical(ca["rng"], cb["rng"], "char_lm rng: ")


# ================================================================ crashes while writing
BIG = 8_000_000  # float32 values: a 32 MB checkpoint takes long enough to write to be caught mid-write


def writer_loop(path, n):
    """Save checkpoints to `path` forever; checkpoint i holds w = i everywhere and step = i.

    Like a training run, it continues from the checkpoint it finds (so steps keep increasing).
    """
    w = np.empty(n, dtype=np.float32)
    i = mg.load(path)["step"] if os.path.exists(path) else 0
    while True:
        i += 1
        w.fill(i)
        mg.save({"step": i, "w": w, "tail": mg.tensor([float(i)] * 7)}, path)
        print(i, flush=True)


def check_intact(path):
    ckpt = mg.load(path)  # loads: not truncated, not half-replaced
    i = ckpt["step"]
    assert i >= 1 and ckpt["w"].shape == (BIG,)
    assert ckpt["w"][0] == i and ckpt["w"][-1] == i and bool((ckpt["w"] == i).all())
    assert ckpt["tail"].tolist() == [float(i)] * 7
    return i


def temp_files(d):
    return [f for f in os.listdir(d) if f.endswith(".tmp")]


def test_sigkill_mid_write_keeps_previous_checkpoint(tmp_path):
    path = tmp_path / "big.npz"
    killed_mid_write = 0
    last = 0
    for round_ in range(3):
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "writer", "--ckpt", str(path)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=CHILD_ENV, cwd=ROOT)
        try:
            # wait for one complete save of this round, then for the next save to be under way
            line = proc.stdout.readline()
            assert line.strip(), f"writer died: {proc.stderr.read()[-2000:]}"
            before = set(temp_files(tmp_path))
            deadline = time.monotonic() + 20
            while not (set(temp_files(tmp_path)) - before) and time.monotonic() < deadline:
                time.sleep(0.0005)
            time.sleep(0.002 * round_)  # kill at a different point of the write each round
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL
        leftovers = set(temp_files(tmp_path)) - before
        killed_mid_write += bool(leftovers)  # the rename never happened: it died inside save()
        i = check_intact(path)
        assert i > last  # this round completed at least one save, and nothing went backwards
        last = i
        for f in leftovers:  # a hard kill leaves its hidden temp file behind; harmless, removed here
            os.unlink(tmp_path / f)
    assert killed_mid_write >= 1, "no kill landed inside save(); the test did not test anything"


def test_exception_mid_write_keeps_previous_training_state(tmp_path, monkeypatch):
    import minigrad.io as mio

    ckpt = tmp_path / "ckpt.npz"
    full = train_mlp()
    train_mlp(stop_at=STOP_AT, ckpt=ckpt)
    good = ckpt.read_bytes()

    def crash_halfway(f, arrays):
        f.write(b"PK\x03\x04" + b"\0" * 1000)
        raise MemoryError("injected failure while writing")

    with monkeypatch.context() as m:
        m.setattr(mio, "_write_archive", crash_halfway)
        try:
            train_mlp(stop_at=STOP_AT + 3, ckpt=ckpt)
        except MemoryError:
            pass
        else:  # pragma: no cover
            raise AssertionError("the injected failure did not propagate")
    # an object that cannot be saved fails before anything is written
    model, opt, sched, loader = build_mlp_run()
    with pytest.raises(TypeError, match="cannot store"):
        save_training_state(ckpt, model=model, optimizer=opt, scheduler=sched, loader=loader, step=object())
    assert ckpt.read_bytes() == good and temp_files(tmp_path) == []
    # the previous checkpoint still resumes the run exactly
    assert_bit_identical(full, train_mlp(resume=True, ckpt=ckpt))


# ================================================================ child entry point
def _main(argv):
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["mlp", "writer"])
    p.add_argument("--ckpt")
    p.add_argument("--out")
    p.add_argument("--stop-at", type=int)
    p.add_argument("--resume", action="store_true")
    args = p.parse_args(argv)
    if args.mode == "writer":
        writer_loop(args.ckpt, BIG)
    result = train_mlp(stop_at=args.stop_at, ckpt=args.ckpt, resume=args.resume)
    if args.out:
        mg.save(result, args.out)


if __name__ == "__main__":
    _main(sys.argv[1:])
