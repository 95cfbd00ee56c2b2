"""The examples run end to end (reduced `--smoke` configurations) and tell the story they claim.

Each example is run as a user would run it, in a subprocess:
`python examples/<name>.py --smoke --json --quiet --outdir <tmp>`, and its final metrics
(the last stdout line, JSON) are checked: the recurrent model beats bag-of-words where
order matters, the bidirectional tagger beats the unidirectional one, the char LM beats
the uniform and unigram baselines and resumes exactly from a checkpoint, RNN gradients
vanish faster than LSTM ones and clipping bounds the exploding ones. The `--walkthrough`
printout is checked number by number against the same recurrence written in NumPy here.
"""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


def run_example(name, *args, outdir=None, json_out=True, timeout=180):
    """Run examples/<name>.py in a subprocess; return its metrics (json_out) or its stdout."""
    cmd = [sys.executable, os.path.join(EXAMPLES, f"{name}.py"), *args]
    if outdir is not None:
        cmd += ["--outdir", str(outdir)]
    if json_out:
        cmd += ["--json", "--quiet"]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    if not json_out:
        return proc.stdout
    lines = proc.stdout.strip().splitlines()
    assert lines, f"{name}: no output on stdout (stderr: {proc.stderr[-2000:]})"
    if "--quiet" in cmd:
        assert len(lines) == 1, f"{name} --quiet --json printed more than the JSON line:\n{proc.stdout[-2000:]}"
    return json.loads(lines[-1])


# ---------------------------------------------------------------- char_lm
WALK_U = np.array([[0.287027, 0.84606, 0.572392, 0.486813],
                   [0.902874, 0.871522, 0.691079, 0.18998],
                   [0.537524, 0.09224, 0.558159, 0.491528]])
WALK_V = np.array([[0.37168, 0.974829459, 0.830034886],
                   [0.39141, 0.282585823, 0.659835709],
                   [0.64985, 0.09821557, 0.334287084],
                   [0.91266, 0.32581642, 0.144630018]])


def numpy_hello_rnn():
    """The walkthrough's recurrence, independently: s_t = tanh(U x_t + W s_{t-1} + b), p_t = softmax(V s_t)."""
    W, b = 0.427043 * np.eye(3), np.full(3, 0.567001)
    s = np.zeros(3)
    rows = []
    for ch in "hell":
        x = np.eye(4)["helo".index(ch)]
        ux, wsb = WALK_U @ x, W @ s + b
        s = np.tanh(ux + wsb)
        o = WALK_V @ s
        p = np.exp(o - o.max())
        p /= p.sum()
        rows.append({"U x": ux, "W s": wsb, "pre": ux + wsb, "s": s, "V s": o, "p": p})
    return rows


def parse_vectors(text, label):
    """Every `label[t] = [a, b, ...]` line of the printout, as {t: array}."""
    pat = re.compile(r"^\s*" + re.escape(label) + r"\[(\d+)\]\s*(?:\+ b)?\s*=\s*\[([^\]]*)\]", re.M)
    return {int(t): np.array([float(v) for v in body.split(",")]) for t, body in pat.findall(text)}


def test_char_lm_walkthrough_matches_numpy():
    out = run_example("char_lm", "--walkthrough", json_out=False)
    expected = numpy_hello_rnn()
    for label, key, shift in [("U x", "U x", 0), ("W s", "W s", 1), ("pre", "pre", 0), ("s", "s", 0),
                              ("V s", "V s", 0), ("p", "p", 0)]:
        got = parse_vectors(out, label)
        want_steps = [t - shift for t in range(1, 5)]  # "W s[t-1] + b" is printed at step t
        assert sorted(got) == want_steps, f"{label}: printed steps {sorted(got)}, expected {want_steps}"
        for t in range(1, 5):
            printed = got[t - shift]
            assert printed.shape == expected[t - 1][key].shape
            # printed to 6 decimals: within half a unit of the last place
            np.testing.assert_allclose(printed, expected[t - 1][key], rtol=0, atol=5.01e-7, err_msg=f"{label}[{t}]")
    # the probabilities are distributions, and the library's rnn_cell agrees with the hand-written steps
    for t in range(1, 5):
        assert abs(parse_vectors(out, "p")[t].sum() - 1.0) < 5e-6
    diff = re.search(r"max difference ([0-9.e+-]+)\)", out)
    assert diff is not None and float(diff.group(1)) < 1e-12


def test_char_lm_walkthrough_json_is_exact():
    res = run_example("char_lm", "--walkthrough")
    assert res["trained_prediction"] == "ello"  # the walkthrough then trains the RNN until it predicts the next letters
    expected = numpy_hello_rnn()
    np.testing.assert_allclose(res["states"], [r["s"] for r in expected], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res["probs"], [r["p"] for r in expected], rtol=1e-12, atol=1e-14)
    nll = [-np.log(r["p"]["helo".index(c)]) for r, c in zip(expected, "ello")]
    np.testing.assert_allclose(res["losses"], nll, rtol=1e-12)


def test_char_lm_learns_and_resumes_exactly(tmp_path):
    full = run_example("char_lm", "--smoke", outdir=tmp_path / "full")
    # Learnt something: below a uniform guess by a wide margin, and below character frequencies.
    assert full["valid_bpc"] < full["uniform_bpc"] - 1.0
    assert full["valid_bpc"] < full["unigram_bpc"]
    assert full["steps"] == 40 and os.path.exists(full["checkpoint"])
    assert full["plot"] is None or os.path.exists(full["plot"])

    # Stop at step 20, resume to 40: model, optimizer, RNG, data position and the carried hidden
    # state all come back, so the result is the uninterrupted run's, bit for bit.
    half = run_example("char_lm", "--smoke", "--steps", "20", outdir=tmp_path / "resumed")
    assert half["steps"] == 20
    resumed = run_example("char_lm", "--smoke", "--steps", "40", "--resume", outdir=tmp_path / "resumed")
    assert resumed["steps"] == 40 and resumed["resumed_from"] == 20 and full["resumed_from"] == 0
    assert resumed["valid_bpc"] == full["valid_bpc"]
    assert resumed["sample"] == full["sample"]


# ---------------------------------------------------------------- sentiment
def test_sentiment_order_matters(tmp_path):
    m = run_example("sentiment", "--smoke", outdir=tmp_path)
    # The recurrent model reads the words in order and gets the hard cases right ...
    assert m["reader_all"] > 0.95
    assert m["reader_negation"] > 0.9 and m["reader_order"] > 0.9
    # ... the linear bag of words fails on negation (an XOR of "not" and the adjective) ...
    assert m["bag_of_words_negation"] < 0.6
    # ... and every order-blind model is near a coin flip where only the order differs.
    assert m["bag_of_words_order"] < 0.65 and m["avg_embedding_mlp_order"] < 0.65
    assert m["reader_hard"] > m["bag_of_words_hard"] + 0.3
    assert m["reader_hard"] > m["avg_embedding_mlp_hard"] + 0.15
    # the nonlinear order-blind model does handle plain reviews
    assert m["avg_embedding_mlp_plain"] > 0.9


@pytest.mark.parametrize("cell", ["cnn", "attention"])
def test_sentiment_convolution_and_self_attention_also_read_order(tmp_path, cell):
    # A trigram convolution (Conv1d) and one self-attention layer (MultiheadAttention with a
    # key_padding_mask) get the negation and word-order reviews right, where order-blind models are at chance.
    m = run_example("sentiment", "--smoke", "--cell", cell, outdir=tmp_path)
    assert m["cell"] == cell
    assert m["reader_all"] > 0.9 and m["reader_negation"] > 0.85 and m["reader_order"] > 0.85
    assert m["reader_hard"] > m["avg_embedding_mlp_hard"] + 0.15


# ---------------------------------------------------------------- tagging
def test_tagging_bidirectional_wins(tmp_path):
    m = run_example("tagging", "--smoke", outdir=tmp_path)
    assert m["bi_token_acc"] > m["uni_token_acc"] + 0.1
    assert m["bi_entity_exact"] > m["uni_entity_exact"] + 0.3
    # The first word of an entity: its type is only decided by a later word.
    assert m["bi_first_name_acc"] > 0.9
    assert m["uni_first_name_acc"] < 0.6  # about 1/3: a guess among three types


# ---------------------------------------------------------------- vanishing gradients
def test_vanishing_and_exploding_gradients(tmp_path):
    m = run_example("vanishing_gradients", "--smoke", outdir=tmp_path)
    # Part 1: per-step factors of ||dL/dh_t|| (< 1: vanishes)
    assert m["decay_rnn"] < 1.0
    assert m["decay_rnn"] < m["decay_lstm"] < m["decay_lstm_forget_bias"]
    assert m["decay_gru"] < m["decay_gru_update_bias"]
    # the +3 gate biases carry the gradient further still
    assert m["decay_lstm_forget_bias3"] > m["decay_lstm_forget_bias"]
    assert m["decay_gru_update_bias3"] > m["decay_gru_update_bias"]
    assert m["decay_rnn_exploding"] > 1.0
    assert m["ratio20_rnn"] < m["ratio20_lstm"] < m["ratio20_lstm_forget_bias"]
    # Part 2: clipping bounds every applied gradient although the raw ones explode ...
    assert m["clip_max_applied_norm"] <= m["clip"] * (1 + 1e-4)
    assert m["clip_max_grad_norm"] > m["clip"]
    assert m["clip_diverged_step"] is None and m["clip_final_loss"] < m["clip_first_loss"]
    # ... while the unclipped run blows up.
    blew_up = m["noclip_diverged_step"] is not None or m["noclip_max_loss"] > 10 * m["clip_max_loss"]
    assert blew_up, m
    assert m["noclip_max_grad_norm"] is None or m["noclip_max_grad_norm"] > 10 * m["clip"]


# ---------------------------------------------------------------- autograd tour
def test_autograd_tour(tmp_path):
    m = run_example("autograd_tour", "--smoke", outdir=tmp_path)
    assert m["gradcheck"] and m["gradcheck_custom_op"]
    pytest.importorskip("hypothesis")
    assert m["hypothesis"] == "passed" and m["hypothesis_examples"] > 0
    assert m["naive_overflows"] and m["logcosh_finite"]
    assert m["inplace_matches_stack"] and m["stale_write_refused"]
    assert m["dot_ops"] >= 4
    with open(m["dot_path"]) as f:
        assert f.read().startswith("digraph")


# ---------------------------------------------------------------- the shared helpers, in-process
@pytest.fixture()
def common():
    sys.path.insert(0, EXAMPLES)
    try:
        import _common
        yield _common
    finally:
        sys.path.remove(EXAMPLES)


def test_smoke_keeps_flags_given_explicitly(common):
    """--smoke switches to the small configuration except for flags the user typed, even when
    they repeat the default."""
    p = common.make_parser("t", "runs/t")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--hidden", type=int, default=64)
    small = {"steps": 5, "hidden": 8}
    a = common.parse_args_with_smoke(p, ["--smoke"], small)
    assert (a.steps, a.hidden) == (5, 8)
    a = common.parse_args_with_smoke(p, ["--smoke", "--steps", "100"], small)
    assert (a.steps, a.hidden) == (100, 8)
    a = common.parse_args_with_smoke(p, ["--steps", "7"], small)
    assert (a.steps, a.hidden) == (7, 64)


def test_progress_bar_and_reporter(common, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # force the built-in bar
    err = io.StringIO()
    with redirect_stderr(err):
        bar = common.Progress(total=4, desc="demo", unit="tok")
        for _ in range(4):
            bar.update(items=10, loss=0.5)
        bar.close()
        common.Progress(total=2, desc="hush", quiet=True).update(items=1, loss=1.0)
    text = err.getvalue()
    assert "demo" in text and "4/4" in text and "loss=0.5" in text and "tok/s" in text
    assert "hush" not in text

    class Args:
        quiet, json = True, True

    out = io.StringIO()
    with redirect_stdout(out):
        rep = common.Reporter(Args())
        rep.say("not shown")
        rep.finish({"acc": np.float32(0.5), "n": 3})
    assert out.getvalue().strip().splitlines() == ['{"acc": 0.5, "n": 3}']


def test_save_plot_without_matplotlib(common, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as in the base install
    out = io.StringIO()
    with redirect_stdout(out):
        path = common.save_plot(str(tmp_path / "x.png"), lambda plt: None)
    assert path is None and not (tmp_path / "x.png").exists()
    assert "matplotlib is not installed" in out.getvalue()


@pytest.mark.skipif(__import__("minigrad").cuda_available(), reason="checks the no-GPU refusal")
@pytest.mark.parametrize("name", ["addition", "mlp_spirals", "vanishing_gradients"])
def test_device_cuda_without_a_gpu_is_a_usage_error(name):
    """--device cuda on a machine without a GPU stops at argument parsing (exit 2) with minigrad's message."""
    cmd = [sys.executable, os.path.join(EXAMPLES, f"{name}.py"), "--smoke", "--device", "cuda"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "CUDA is not available" in proc.stderr
