"""examples/addition.py: the data split, text encoding, the --smoke run end to end, checkpoint and resume."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "addition.py")
sys.path.insert(0, os.path.join(ROOT, "examples"))

import addition as A  # noqa: E402


# ---------------------------------------------------------------- the split
def test_parts_partition_the_problem_space_and_are_disjoint():
    problems = A.Problems(2)  # 10^4 problems: check every one
    ids = np.arange(problems.size, dtype=np.int64)
    parts = [A.in_part(ids, p) for p in (A.TRAIN_BUCKETS, A.VALID_BUCKETS, A.TEST_BUCKETS)]
    assert np.all(sum(p.astype(int) for p in parts) == 1)  # every problem in exactly one part
    fractions = [p.mean() for p in parts]
    assert abs(fractions[0] - 0.90) < 0.02 and abs(fractions[2] - 0.05) < 0.01  # the hash spreads evenly


def test_training_draws_never_hit_held_out_problems():
    problems = A.Problems(3)
    rng = np.random.default_rng(0)
    train = np.concatenate([problems.sample_train(rng, 512) for _ in range(20)])
    held = np.random.default_rng(1)
    val = problems.sample_held_out(held, 2000, A.VALID_BUCKETS)
    test = problems.sample_held_out(held, 2000, A.TEST_BUCKETS)
    assert len(np.unique(test)) == 2000 and len(np.unique(val)) == 2000  # without replacement
    A.check_disjoint(train, test)
    A.check_disjoint(train, val)
    assert np.intersect1d(val, test).size == 0
    with pytest.raises(AssertionError):
        A.check_disjoint(train, np.concatenate([test, train[:1]]))  # the check does catch an overlap


def test_large_digit_counts_use_rejection_sampling():
    problems = A.Problems(7)  # 10^14 problems: the part is not listed, ids are drawn and filtered
    ids = problems.sample_held_out(np.random.default_rng(0), 300, A.TEST_BUCKETS)
    assert len(np.unique(ids)) == 300 and A.in_part(ids, A.TEST_BUCKETS).all()
    a, b = problems.split(ids)
    assert a.max() < 10 ** 7 and b.max() < 10 ** 7


def test_encoding_and_reversal():
    problems = A.Problems(3)
    ids = np.array([123 * 1000 + 34, 999 * 1000 + 999])
    q, ans = A.to_strings(problems, ids)
    assert q == ["123+34", "999+999"] and ans == ["157", "1998"]
    src, src_len, tgt, answers = A.make_batch(problems, ids, reverse=True, device="cpu")
    itos = A.VOCAB.itos
    assert "".join(itos[t] for t in src.numpy()[0, :src_len[0]]) == "43+321"
    assert list(src_len) == [6, 7]
    assert [itos[t] for t in tgt.numpy()[0]] == ["7", "5", "1", "<eos>", "<pad>"]  # least significant first
    assert [itos[t] for t in tgt.numpy()[1]] == ["8", "9", "9", "1", "<eos>"]
    assert answers == ["157", "1998"]


def test_decoded_answers_are_printed_in_normal_order():
    import minigrad as mg
    import models

    s = A.VOCAB.stoi
    toks = mg.tensor(np.array([[s["7"], s["5"], s["1"], A.EOS], [s["2"], A.EOS, A.PAD, A.PAD]]))
    out = models.DecodeOutput(toks, [3, 1], mg.zeros(2), None)
    assert A.decode_answers(out, reverse=True) == ["157", "2"]
    assert A.decode_answers(out, reverse=False) == ["751", "2"]


# ---------------------------------------------------------------- end to end
def test_smoke_run_reports_json_metrics(tmp_path):
    ckpt = tmp_path / "add.npz"
    proc = subprocess.run([sys.executable, EXAMPLE, "--smoke", "--json", "--checkpoint", str(ckpt)],
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"exact_match", "seconds", "steps"} <= set(metrics)
    assert 0.0 <= metrics["exact_match"] <= 1.0 and metrics["steps"] == 40 and metrics["seconds"] > 0
    # the human-readable part: predictions with right/wrong marks, in normal order ("a+b = c")
    assert "\u2713" in proc.stdout or "\u2717" in proc.stdout
    assert " = " in proc.stdout and "exact match" in proc.stdout
    assert ckpt.exists()


def test_checkpoint_and_resume_continue_training(tmp_path):
    ckpt = str(tmp_path / "add.npz")
    first = A.main(["--smoke", "--quiet", "--checkpoint", ckpt, "--max-steps", "20"])
    assert first["steps"] == 20
    import minigrad as mg

    saved = mg.load(ckpt)
    assert saved["step"] == 20 and "model" in saved and "optimizer" in saved and "data_rng" in saved
    second = A.main(["--smoke", "--quiet", "--checkpoint", ckpt, "--max-steps", "30", "--resume"])
    assert second["steps"] == 30
    assert mg.load(ckpt)["step"] == 30
    # resuming with a different model shape is refused with a clear message
    with pytest.raises(SystemExit, match="different settings"):
        A.main(["--smoke", "--quiet", "--checkpoint", ckpt, "--hidden", "48", "--resume"])


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    """Model, optimizer, step and the data generator's position are all restored: same weights."""
    import minigrad as mg

    a = str(tmp_path / "a.npz")
    b = str(tmp_path / "b.npz")
    A.main(["--smoke", "--quiet", "--checkpoint", a, "--max-steps", "24", "--eval-every", "12"])
    A.main(["--smoke", "--quiet", "--checkpoint", b, "--max-steps", "12", "--eval-every", "12"])
    A.main(["--smoke", "--quiet", "--checkpoint", b, "--max-steps", "24", "--eval-every", "12", "--resume"])
    wa, wb = mg.load(a)["model"], mg.load(b)["model"]
    for k in wa:
        np.testing.assert_allclose(np.asarray(wa[k].numpy() if hasattr(wa[k], "numpy") else wa[k]),
                                   np.asarray(wb[k].numpy() if hasattr(wb[k], "numpy") else wb[k]),
                                   rtol=1e-6, atol=1e-7, err_msg=k)


# ---------------------------------------------------------------- examples/dates.py (the other seq2seq demo)
def test_dates_formats_and_held_out_days():
    import datetime as dt

    import dates as D

    k = (dt.date(2026, 11, 23) - D.FIRST).days
    human, iso = D.render([k] * len(D.FORMATS), list(range(len(D.FORMATS))))
    assert iso == ["2026-11-23"] * len(D.FORMATS)
    assert {"23 nov 2026", "Monday, November 23, 2026", "11/23/26"} <= set(human)
    days, _ = D.sample_dates(np.random.default_rng(0), 2000, held_out=False)
    assert not D.is_held_out(days).any()
    assert 0.05 < D.is_held_out(np.arange(D.N_DAYS)).mean() < 0.15


def test_dates_attention_text():
    import dates as D

    w = np.zeros((2, 3))
    w[0, 1] = w[1, 2] = 1.0
    text = D.attention_text(w, "abc", "xy")
    assert "a b c" in text and "looks most at 'b' (1.00)" in text and "looks most at 'c'" in text


def test_dates_smoke_run(tmp_path):
    script = os.path.join(ROOT, "examples", "dates.py")
    proc = subprocess.run([sys.executable, script, "--smoke", "--json", "--outdir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"exact_match", "seconds", "steps"} <= set(metrics) and metrics["steps"] == 20
    assert "attention while translating" in proc.stdout and "looks most at" in proc.stdout
    try:
        import matplotlib  # noqa: F401
        assert (tmp_path / "dates_attention.png").exists()
    except ImportError:
        assert "matplotlib is not installed" in proc.stdout
