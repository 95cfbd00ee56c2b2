"""examples/ctc_ocr.py: the generated images, greedy CTC decoding, the metrics, and the run end to end.

The pieces a learner reads (rendering, `greedy_decode`, `edit_distance`, the packed
bidirectional reader) are checked in-process; the script is run as a user runs it
(`--smoke`, in a subprocess) to check that it runs, that the CTC loss falls and what
the JSON metrics hold; a longer run (marked slow, a few seconds) checks that it learns
to read held-out strings far beyond chance (chance exact accuracy is ~0).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from unittest import mock

import numpy as np
import pytest

import minigrad as mg
from minigrad import functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "ctc_ocr.py")
sys.path.insert(0, os.path.join(ROOT, "examples"))

import ctc_ocr as C  # noqa: E402

METRIC_KEYS = {"test_exact", "test_cer", "test_blank_frac", "valid_exact", "steps", "first_loss", "final_loss",
               "params", "plot", "train_seconds", "seconds", "cpu_seconds"}


def frames(path: str):
    """'-41' -> class ids [0, 5, 2] ('-' = blank)."""
    return np.array([C.CLASS_CHARS.index(ch) for ch in path])


# ---------------------------------------------------------------- decoding and metrics
@pytest.mark.parametrize("path, expected", [
    ("--44-1-77-", "417"),   # merge runs, drop blanks
    ("7-7", "77"),           # a blank separates two equal digits ...
    ("77", "7"),             # ... without one they are a single digit
    ("4177", "417"),
    ("41-77", "417"),
    ("4-1-7-7", "4177"),
    ("------", ""),
    ("3", "3"),
])
def test_greedy_decode_merges_repeats_then_drops_blanks(path, expected):
    assert C.greedy_decode(frames(path), len(path)) == expected


def test_greedy_decode_reads_only_the_real_frames():
    # frames past the image's width are padding: whatever the model says there is ignored
    assert C.greedy_decode(frames("-4-1-99"), 4) == "41"


@pytest.mark.parametrize("a, b, d", [("kitten", "sitting", 3), ("", "417", 3), ("417", "", 3), ("417", "417", 0),
                                     ("417", "471", 2), ("4177", "417", 1), ("12", "21", 2), ("123", "0123", 1)])
def test_edit_distance(a, b, d):
    assert C.edit_distance(a, b) == d
    assert C.edit_distance(b, a) == d


# ---------------------------------------------------------------- the data
def test_glyphs_are_seven_rows_and_three_to_five_columns():
    assert sorted(C.GLYPHS) == list("0123456789")
    for d, g in C.GLYPHS.items():
        assert g.shape[0] == C.HEIGHT and 3 <= g.shape[1] <= 5, d
    # every glyph differs from every other (else some digits could not be told apart)
    flat = {g.tobytes() + bytes([g.shape[1]]) for g in C.GLYPHS.values()}
    assert len(flat) == 10


def test_render_stretches_glyphs_and_reports_where_they_are():
    rng = np.random.default_rng(0)
    for text in ["4177", "00", "123456", "81"]:
        img, spans = C.render(text, rng, noise=0.0)
        assert img.dtype == np.float32 and img.shape[0] == C.HEIGHT
        assert len(spans) == len(text)
        ink = img > 0
        prev_end = 0
        for ch, (a, b) in zip(text, spans):
            assert a >= prev_end + (1 if prev_end == 0 else 0)  # a margin before the first digit; gaps may be 0
            w = C.GLYPHS[ch].shape[1]
            assert w <= b - a <= 2 * w  # each glyph column drawn once or twice
            # without noise, the drawn columns are the glyph's columns, each repeated, in order
            cols = [tuple(ink[:, t]) for t in range(a, b)]
            dedup = [c for i, c in enumerate(cols) if i == 0 or c != cols[i - 1]]
            glyph_cols = [tuple(col) for col in C.GLYPHS[ch].T.astype(bool)]
            glyph_dedup = [c for i, c in enumerate(glyph_cols) if i == 0 or c != glyph_cols[i - 1]]
            assert dedup == glyph_dedup, (text, ch)
            prev_end = b
        assert img.shape[1] > prev_end  # a right margin
        outside = np.ones(img.shape[1], bool)
        for a, b in spans:
            outside[a:b] = False
        assert not ink[:, outside].any()  # gaps and margins are paper
        strokes = img[ink]
        assert strokes.min() >= 0.6 and strokes.max() <= 1.0  # uneven ink


def test_make_batch_frames_are_columns_and_targets_are_shifted_digits():
    rng = np.random.default_rng(1)
    x, widths, targets, target_lengths, images, spans = C.make_batch(["4177", "05", "123456"], rng)
    assert x.shape == (3, max(widths), C.HEIGHT) and x.dtype == mg.float32
    assert widths == [im.shape[1] for im in images] and target_lengths == [4, 2, 6]
    xs = x.numpy()
    for b, im in enumerate(images):
        np.testing.assert_array_equal(xs[b, :widths[b]], 2.0 * im.T - 1.0)  # frame t = column t, centred
        assert not xs[b, widths[b]:].any()  # padding
    t = targets.numpy()
    assert t.dtype == np.int64 and t.shape == (3, 6)
    assert t[0, :4].tolist() == [5, 2, 8, 8] and t[1, :2].tolist() == [1, 6]  # digit d is class d + 1
    assert (t[0, 4:] == C.BLANK).all()


def test_training_stream_never_draws_a_held_out_string():
    held = {f"{i:02d}" for i in range(100)} | {f"{i:03d}" for i in range(0, 1000, 2)}  # every 2-digit string, ...
    stream = C.Stream(seed=0, held_out=held, batch=64, device="cpu")
    drawn = [t for _ in range(10) for t in stream.next()[0]]
    assert len(drawn) == 640 and not held & set(drawn)
    assert all(2 <= len(t) <= 6 and t.isdigit() for t in drawn)


def test_held_out_strings_are_distinct_and_exclude():
    rng = np.random.default_rng(0)
    test = C.held_out_strings(300, rng)
    valid = C.held_out_strings(300, rng, exclude=test)
    assert len(set(test)) == 300 and len(set(valid)) == 300 and not set(test) & set(valid)


# ---------------------------------------------------------------- the model
def test_reader_emits_per_frame_distributions_independent_of_padding():
    mg.manual_seed(0)
    model = C.ColumnReader(hidden=8)
    rng = np.random.default_rng(2)
    x, widths, *_ = C.make_batch(["12", "345678"], rng)
    with mg.no_grad():
        lp = model(x, widths).numpy()  # (T, B, 11)
        alone = model(x[:1, :widths[0]], widths[:1]).numpy()
    assert lp.shape == (max(widths), 2, C.NUM_CLASSES)
    np.testing.assert_allclose(np.exp(lp).sum(-1), 1.0, rtol=1e-5)
    # packing: the short image gives the same outputs alone as padded in a batch with a longer one
    # (the backward direction starts at its own right edge, not in the padding)
    np.testing.assert_allclose(lp[:widths[0], 0], alone[:, 0], rtol=1e-5, atol=1e-6)
    # and that is what lengths= computes too
    with mg.no_grad():
        out, _ = model.rnn(x, lengths=widths)
        via_lengths = model.head(out).log_softmax(dim=-1).transpose(0, 1).numpy()
    np.testing.assert_allclose(lp[:widths[1], 1], via_lengths[:widths[1], 1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lp[:widths[0], 0], via_lengths[:widths[0], 0], rtol=1e-5, atol=1e-6)


def test_a_peaky_alignment_has_small_ctc_loss_and_decodes_to_the_string():
    """What a trained model looks like: spikes on one frame per digit, blank elsewhere (and between the 7s)."""
    path = "--4--1-7--7-"
    logits = np.full((len(path), 1, C.NUM_CLASSES), -6.0, dtype=np.float32)
    logits[np.arange(len(path)), 0, frames(path)] = 6.0
    lp = F.log_softmax(mg.tensor(logits), dim=-1)
    target = mg.tensor([[5, 2, 8, 8]])
    loss = F.ctc_loss(lp, target, [len(path)], [4])
    assert loss.item() < 0.05
    wrong = F.ctc_loss(lp, mg.tensor([[5, 2, 8]]), [len(path)], [3])  # "417": that alignment reads "4177"
    assert wrong.item() > 2.0
    assert C.greedy_decode(lp.numpy()[:, 0].argmax(-1), len(path)) == "4177"


def test_plots_draw_without_errors():
    """The figures need matplotlib (not in the base install): run the drawing code on a stand-in."""
    example = C.Example("77", "77", np.zeros((C.HEIGHT, 9), np.float32), [(1, 4), (5, 8)],
                        frames("-7---7---"), np.full((9, C.NUM_CLASSES), 1 / C.NUM_CLASSES, np.float32))
    plt = mock.MagicMock()
    C.draw_loss(plt, [3.0, 2.0, 1.0], [(2, 0.5, 0.3)])
    C.draw_alignment(plt, example)
    assert plt.plot.called and plt.subplot.call_count == 2


# ---------------------------------------------------------------- end to end
def run(*args, timeout=120):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, EXAMPLE, *args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=ROOT)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def test_smoke_run_prints_alignment_and_json(tmp_path):
    out = run("--smoke", "--verbose", "--json", "--outdir", str(tmp_path))
    lines = out.strip().splitlines()
    m = json.loads(lines[-1])  # the JSON line comes last
    assert set(m) == METRIC_KEYS
    assert m["steps"] == 150
    # the CTC loss falls (from ~5.5 per label to the end of the all-blank plateau or below)
    assert m["final_loss"] < 0.6 * m["first_loss"]
    assert 0.0 <= m["test_exact"] <= 1.0 and m["test_cer"] >= 0.0 and 0.0 <= m["test_blank_frac"] <= 1.0
    assert m["plot"] is None or os.path.exists(m["plot"])
    text = "\n".join(lines[:-1])
    assert "held-out test strings: exact" in text
    assert text.count("argmax per frame") == 1 + 150 // 50  # the final alignment + one per check (--verbose)
    assert "merge repeats:" in text and "drop blanks:" in text


def test_quiet_json_prints_only_the_metrics(tmp_path):
    out = run("--smoke", "--steps", "5", "--json", "--quiet", "--outdir", str(tmp_path))
    lines = out.strip().splitlines()
    assert len(lines) == 1 and set(json.loads(lines[0])) == METRIC_KEYS


@pytest.mark.slow
def test_short_run_learns_to_read_held_out_strings(tmp_path):
    # 300 steps of the small model (a few seconds). Chance: exact ~0, CER ~1.
    m = json.loads(run("--smoke", "--steps", "300", "--json", "--quiet", "--outdir", str(tmp_path)))
    assert m["test_exact"] > 0.5 and m["test_cer"] < 0.2
    assert m["final_loss"] < 0.5
    assert m["test_blank_frac"] > 0.5  # peaky: most frames say "nothing new"
