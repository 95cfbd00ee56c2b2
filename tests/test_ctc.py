"""CTC loss: `F.ctc_loss` and `nn.CTCLoss` (minigrad/ops/ctc.py).

- a brute-force reference that enumerates every alignment (every class sequence of T
  frames) and keeps those that collapse to the target: the loss and the occupation
  posteriors, hence torch's gradient exp(log_probs) - gamma, over generated tiny cases;
- torch parity (float64 values and gradients) over generated cases: every reduction, padded
  and concatenated targets, repeated labels, impossible alignments with and without
  zero_infinity, unbatched input, any blank;
- the gradient: a float64 finite-difference gradcheck through log_softmax (with respect to
  the logits, where torch's gradient definition is the exact derivative), and the documented
  relation grad = (finite differences on log_probs) + exp(log_probs) * grad_out;
- float32 kept, length forms, the module, errors naming the op, and a tiny model that learns
  to emit a label sequence with a compulsory blank.
"""
import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import functional as F
from minigrad import nn
from minigrad.ops.ctc import CTCLoss
from minigrad.testing import gradcheck

GRADIENT_TESTED = [CTCLoss]

REDUCTIONS = ["mean", "sum", "none"]


# ------------------------------------------------------------------------------------ generated cases

def np_log_softmax(x):
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def _needed_frames(t):
    """The fewest frames that can emit labels t: one per label plus a blank between equal neighbours."""
    return len(t) + int(np.sum(t[1:] == t[:-1]))


@st.composite
def ctc_cases(draw, max_T=5, max_S=3, feasible=False):
    """A random CTC problem: logits (T, N, C) float64, padded targets with junk padding, lengths, blank.

    The label alphabet is tiny (C <= 4, so repeated labels, which need a blank between them,
    are common) and lengths vary, so impossible alignments (inf loss) come up too, unless
    feasible=True, which lengthens inputs or shortens targets until every target fits.
    """
    C = draw(st.integers(2, 4))
    T = draw(st.integers(1, max_T if C <= 3 else 4))  # the brute force enumerates C**T alignments
    N = draw(st.integers(1, 3))
    S = draw(st.integers(0, max_S))
    blank = draw(st.integers(0, C - 1))
    labels = [c for c in range(C) if c != blank]
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((T, N, C)) * draw(st.sampled_from([0.5, 2.0]))
    tl = rng.integers(0, S + 1, size=N)
    il = rng.integers(0, T + 1, size=N) if draw(st.booleans()) else np.full(N, T)
    targets = rng.choice(labels, size=(N, S)) if S else np.zeros((N, 0), dtype=np.int64)
    if feasible:
        for n in range(N):
            while _needed_frames(targets[n, :tl[n]]) > T:
                tl[n] -= 1
            il[n] = max(il[n], _needed_frames(targets[n, :tl[n]]))
    for n in range(N):  # padding may hold anything (blank, -1, out of range): it must be ignored
        targets[n, tl[n]:] = rng.choice([blank, -1, C + 7])
    return dict(logits=logits, lp=np_log_softmax(logits), targets=targets.astype(np.int64), il=il.tolist(),
                tl=tl.tolist(), blank=blank, C=C, T=T, N=N)


def collapse(path, blank):
    """Merge repeated classes, then drop blanks: the labelling an alignment yields."""
    out = []
    prev = None
    for c in path:
        if c != prev and c != blank:
            out.append(c)
        prev = c
    return tuple(out)


def brute_force(lp, target, blank):
    """nll and occupation posteriors gamma (T, C) of one sequence by enumerating all C**T alignments."""
    T, C = lp.shape
    total, occ = 0.0, np.zeros((T, C))
    for path in itertools.product(range(C), repeat=T):
        if collapse(path, blank) == tuple(target):
            p = math.exp(sum(lp[t, c] for t, c in enumerate(path)))
            total += p
            for t, c in enumerate(path):
                occ[t, c] += p
    if total == 0.0:
        return math.inf, np.full((T, C), np.nan)
    return -math.log(total), occ / total


def reference(case, reduction, zero_infinity, w):
    """Brute-force loss after the reduction, and torch's gradient w.r.t. log_probs (for the
    cotangent w of the N losses with reduction='none', 1 otherwise)."""
    lp, T, N = case["lp"], case["T"], case["N"]
    nll = np.zeros(N)
    dnll = np.zeros_like(lp)  # d nll_n / d lp[:, n, :], torch's definition: exp(lp) - gamma for t < T_n
    for n in range(N):
        Tn, tgt = case["il"][n], case["targets"][n, :case["tl"][n]]
        nll[n], gamma = brute_force(lp[:Tn, n], tgt, case["blank"])
        if math.isinf(nll[n]):
            dnll[:Tn, n] = 0.0 if zero_infinity else np.nan
            nll[n] = 0.0 if zero_infinity else nll[n]
        else:
            dnll[:Tn, n] = np.exp(lp[:Tn, n]) - gamma
    if reduction == "none":
        return nll, dnll * w[None, :, None]
    if reduction == "sum":
        return nll.sum(), dnll
    scale = 1.0 / (np.maximum(case["tl"], 1) * N)  # 'mean': loss_n / max(tl_n, 1), then the batch mean
    return (nll * scale).sum(), dnll * scale[None, :, None]


def concatenated(case):
    return np.concatenate([case["targets"][n, :case["tl"][n]] for n in range(case["N"])]).astype(np.int64)


# ------------------------------------------------------------------------------------ brute force

@given(case=ctc_cases(), reduction=st.sampled_from(REDUCTIONS), zero_infinity=st.booleans(), concat=st.booleans())
def test_matches_brute_force_enumeration(device, case, reduction, zero_infinity, concat):
    """Loss and gradient equal the sums over every alignment (float64), on every backend."""
    w = np.random.default_rng(0).uniform(0.5, 1.5, size=case["N"])
    want, want_grad = reference(case, reduction, zero_infinity, w)
    lp = mg.tensor(case["lp"], device=device, requires_grad=True)
    targets = concatenated(case) if concat else case["targets"]
    loss = F.ctc_loss(lp, mg.tensor(targets, device=device), case["il"], case["tl"], blank=case["blank"],
                      reduction=reduction, zero_infinity=zero_infinity)
    got = loss.numpy() if device == "cpu" else loss.to("cpu").numpy()
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    g = w if reduction == "none" else np.array(1.0)
    loss.backward(mg.tensor(g, device=device))
    np.testing.assert_allclose(lp.grad.to("cpu").numpy(), want_grad, rtol=1e-9, atol=1e-12)  # NaNs where want's are


@given(case=ctc_cases())
def test_float32_kept_and_close_to_float64(device, case):
    lp64 = mg.tensor(case["lp"], device=device, requires_grad=True)
    lp32 = mg.tensor(case["lp"].astype(np.float32), device=device, requires_grad=True)
    args = (case["targets"], case["il"], case["tl"])
    l64 = F.ctc_loss(lp64, *args, blank=case["blank"], reduction="sum", zero_infinity=True)
    l32 = F.ctc_loss(lp32, *args, blank=case["blank"], reduction="sum", zero_infinity=True)
    l64.backward()
    l32.backward()
    assert l32.dtype == np.float32 and lp32.grad.dtype == np.float32
    np.testing.assert_allclose(l32.to("cpu").numpy(), l64.to("cpu").numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lp32.grad.to("cpu").numpy(), lp64.grad.to("cpu").numpy(), atol=1e-5)


# ------------------------------------------------------------------------------------ gradient

@given(case=ctc_cases(max_T=4, feasible=True), reduction=st.sampled_from(REDUCTIONS))
def test_gradcheck_through_log_softmax(device, case, reduction):
    """Finite differences w.r.t. the logits z of log_probs = log_softmax(z): there torch's gradient
    definition is the exact derivative (every target feasible: an inf loss has no derivative)."""
    z = mg.tensor(case["logits"], device=device, requires_grad=True)
    targets = mg.tensor(case["targets"], device=device)
    gradcheck(lambda z: F.ctc_loss(z.log_softmax(-1), targets, case["il"], case["tl"], blank=case["blank"],
                                   reduction=reduction), z)


@given(case=ctc_cases(max_T=4, feasible=True))
def test_gradient_is_free_input_derivative_plus_exp_log_probs(case):
    """The documented definition: grad = d nll / d log_probs (log_probs as free inputs, by finite
    differences) + exp(log_probs) * grad_out on frames t < T_n, i.e. the logits' gradient. So a
    gradcheck directly on log_probs fails by exactly that term; through log_softmax it passes."""
    lp = case["lp"]
    w = np.random.default_rng(1).uniform(0.5, 1.5, size=case["N"])
    x = mg.tensor(lp, requires_grad=True)
    loss = F.ctc_loss(x, case["targets"], case["il"], case["tl"], blank=case["blank"], reduction="none")
    loss.backward(mg.tensor(w))

    def f(a):
        return float((F.ctc_loss(mg.tensor(a), case["targets"], case["il"], case["tl"], blank=case["blank"],
                                 reduction="none").numpy() * w).sum())

    eps = 1e-6
    fd = np.zeros_like(lp)
    for i in np.ndindex(lp.shape):
        d = np.zeros_like(lp)
        d[i] = eps
        fd[i] = (f(lp + d) - f(lp - d)) / (2 * eps)
    in_time = (np.arange(case["T"])[:, None] < np.array(case["il"])[None, :])[..., None]
    np.testing.assert_allclose(x.grad.numpy(), fd + np.where(in_time, np.exp(lp) * w[None, :, None], 0.0),
                               atol=1e-7)
    # and the gradient's sum over classes vanishes where log_probs are normalised: sum_c gamma = 1
    np.testing.assert_allclose(x.grad.numpy().sum(-1), 0.0, atol=1e-12)


def test_masked_class_gets_zero_gradient_not_nan():
    """A class with log-probability -inf (masked): minigrad's gradient there is 0 (the limit);
    torch's kernel forms -inf - (-inf) and returns NaN, which log_softmax's backward would spread."""
    z = np.random.default_rng(3).standard_normal((4, 1, 4))
    z[:, :, 3] = -np.inf
    x = mg.tensor(z, requires_grad=True)
    loss = F.ctc_loss(x.log_softmax(-1), [[1, 2]], [4], [2], reduction="sum")
    loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(x.grad.numpy()))
    np.testing.assert_array_equal(x.grad.numpy()[:, :, 3], 0.0)
    lp = np_log_softmax(z[:, :, :3])  # the same problem without the masked class
    want, want_grad = reference(dict(lp=lp, T=4, N=1, il=[4], tl=[2], targets=np.array([[1, 2]]), blank=0),
                                "sum", False, np.ones(1))
    np.testing.assert_allclose(loss.item(), want, rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy()[:, :, :3], want_grad, atol=1e-12)


# ------------------------------------------------------------------------------------ torch parity

@given(case=ctc_cases(max_T=6, max_S=4), reduction=st.sampled_from(REDUCTIONS), zero_infinity=st.booleans(),
       form=st.sampled_from(["padded", "concatenated", "unbatched"]))
def test_torch_parity(case, reduction, zero_infinity, form):
    torch = pytest.importorskip("torch")
    lp, targets, il, tl = case["lp"], case["targets"], case["il"], case["tl"]
    if form == "unbatched":  # (T, C) with 1-D targets (= the concatenated form of one sequence)
        lp, targets, il, tl = lp[:, 0], concatenated(dict(case, N=1)), il[:1], tl[:1]
    elif form == "concatenated":
        targets = concatenated(case)
    kw = dict(blank=case["blank"], reduction=reduction, zero_infinity=zero_infinity)
    lt_in = torch.tensor(lp, requires_grad=True)
    want = torch.nn.functional.ctc_loss(lt_in, torch.tensor(targets), tuple(il), tuple(tl), **kw)
    cot = np.random.default_rng(2).uniform(0.5, 1.5, size=tuple(want.shape))
    (want * torch.tensor(cot)).sum().backward()
    x = mg.tensor(lp, requires_grad=True)
    got = F.ctc_loss(x, targets, il, tl, **kw)
    assert got.shape == tuple(want.shape)
    (got * mg.tensor(cot)).sum().backward()
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), lt_in.grad.numpy(), rtol=1e-8, atol=1e-12)  # NaN patterns too


@pytest.mark.parametrize("T, want_inf", [(2, True), (3, False)])
def test_repeated_label_needs_a_blank_between(T, want_inf):
    """"aa" needs three frames (a, blank, a): with two it is impossible (inf, NaN gradient as torch)."""
    torch = pytest.importorskip("torch")
    lp = np_log_softmax(np.random.default_rng(4).standard_normal((T, 1, 3)))
    x = mg.tensor(lp, requires_grad=True)
    loss = F.ctc_loss(x, [[1, 1]], [T], [2], reduction="sum")
    loss.backward()
    xt = torch.tensor(lp, requires_grad=True)
    lt = torch.nn.functional.ctc_loss(xt, torch.tensor([[1, 1]]), (T,), (2,), reduction="sum")
    lt.backward()
    assert math.isinf(loss.item()) == want_inf
    np.testing.assert_allclose(loss.item(), lt.item(), rtol=1e-12)
    assert np.isnan(x.grad.numpy()).all() == want_inf
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    z = mg.tensor(lp, requires_grad=True)  # zero_infinity: loss and gradient 0 instead
    lz = F.ctc_loss(z, [[1, 1]], [T], [2], reduction="sum", zero_infinity=True)
    lz.backward()
    if want_inf:
        assert lz.item() == 0.0 and not z.grad.numpy().any()


def test_torch_parity_float32_module_and_length_forms():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    T, N, C = 12, 3, 6
    lp = np_log_softmax(rng.standard_normal((T, N, C))).astype(np.float32)
    targets = np.array([[1, 2, 2, 5], [3, 3, 3, 0], [4, 1, 0, 0]])
    il, tl = [12, 9, 7], [4, 3, 2]
    xt = torch.tensor(lp, requires_grad=True)
    want = torch.nn.CTCLoss(zero_infinity=True)(xt, torch.tensor(targets), torch.tensor(il), torch.tensor(tl))
    want.backward()
    for il_form, tl_form in [(il, tl), (tuple(il), tuple(tl)), (mg.tensor(il), mg.tensor(tl)),
                             (np.array(il, dtype=np.int32), np.array(tl, dtype=np.int32)),
                             (tuple(mg.tensor(v) for v in il), mg.tensor([tl]))]:  # 0-d tensors; any shape
        x = mg.tensor(lp, requires_grad=True)
        got = nn.CTCLoss(zero_infinity=True)(x, mg.tensor(targets), il_form, tl_form)
        got.backward()
        assert got.dtype == np.float32 and x.grad.dtype == np.float32
        np.testing.assert_allclose(got.item(), want.item(), rtol=1e-6)
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), atol=1e-6)


def test_edge_cases_match_torch():
    """Empty targets (all blanks), zero-length inputs, unbatched 'none' giving a 0-d loss."""
    torch = pytest.importorskip("torch")
    lp = np_log_softmax(np.random.default_rng(6).standard_normal((4, 3, 3)))
    for targets, il, tl in [([[1], [2], [1]], [4, 3, 0], [0, 0, 0]), ([[1], [2], [1]], [0, 4, 0], [1, 1, 0])]:
        for red in REDUCTIONS:
            x, xt = mg.tensor(lp, requires_grad=True), torch.tensor(lp, requires_grad=True)
            got = F.ctc_loss(x, targets, il, tl, reduction=red)
            want = torch.nn.functional.ctc_loss(xt, torch.tensor(targets), il, tl, reduction=red)
            np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-12)
            got.sum().backward()
            want.sum().backward()
            np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), atol=1e-12)
    one = F.ctc_loss(mg.tensor(lp[:, 0]), [1, 2], mg.tensor(4), mg.tensor(2), reduction="none")
    assert one.shape == ()


def test_inputs_not_modified():
    lp = np_log_softmax(np.random.default_rng(7).standard_normal((5, 2, 4)))
    targets = np.array([[1, 1, 0], [2, 3, 3]])
    lp0, t0 = lp.copy(), targets.copy()
    x = mg.tensor(lp, requires_grad=True)
    t = mg.tensor(targets)
    F.ctc_loss(x, t, [5, 5], [2, 3]).backward()
    np.testing.assert_array_equal(x.numpy(), lp0)
    np.testing.assert_array_equal(t.numpy(), t0)


# ------------------------------------------------------------------------------------ errors

def _lp(T=4, N=2, C=3, dtype="float64"):
    return mg.tensor(np_log_softmax(np.random.default_rng(8).standard_normal((T, N, C))).astype(dtype))


@pytest.mark.parametrize("call, exc, match", [
    (lambda: F.ctc_loss(_lp(), [[1, 2], [2, 1]], [5, 4], [2, 2]), ValueError, "input_lengths must be at most T = 4"),
    (lambda: F.ctc_loss(_lp(), [[1, 2], [2, 1]], [-1, 4], [2, 2]), ValueError, "input_lengths must be >= 0"),
    (lambda: F.ctc_loss(_lp(), [[1, 2], [2, 1]], [4, 4], [-1, 2]), ValueError, "target_lengths must be >= 0"),
    (lambda: F.ctc_loss(_lp(), [[1, 2], [2, 1]], [4, 4], [3, 2]), ValueError, "larger than the padded targets"),
    (lambda: F.ctc_loss(_lp(), [1, 2, 2], [4, 4], [2, 2]), ValueError, r"sum\(target_lengths\)"),
    (lambda: F.ctc_loss(_lp(), [[1, 2], [2, 1]], [4, 4, 4], [2, 2]), ValueError, "one entry per sequence"),
    (lambda: F.ctc_loss(_lp(), [[1, 2], [2, 1]], [4, 4], [2]), ValueError, "target_lengths must have one entry"),
    (lambda: F.ctc_loss(_lp(), [[1, 2]], [4, 4], [2, 2]), ValueError, "one row per sequence"),
    (lambda: F.ctc_loss(_lp(), [[[1, 2]]], [4, 4], [2, 2]), ValueError, "2-D padded"),
    (lambda: F.ctc_loss(_lp(), [[1, 2], [2, 1]], [4, 4], [2, 2], blank=3), ValueError, "blank must be"),
    (lambda: F.ctc_loss(_lp(), [[1, 2], [2, 1]], [4, 4], [2, 2], blank=-1), ValueError, "blank must be"),
    (lambda: F.ctc_loss(_lp(), [[0, 2], [2, 1]], [4, 4], [2, 2]), ValueError, "must not contain the blank"),
    (lambda: F.ctc_loss(_lp(), [[1, 3], [2, 1]], [4, 4], [2, 2]), IndexError, "out of range for 3 classes"),
    (lambda: F.ctc_loss(_lp(), [[1, -2], [2, 1]], [4, 4], [2, 2]), IndexError, "label -2 is out of range"),
    (lambda: F.ctc_loss(_lp()[:, 0, 0], [1], [4], [1]), ValueError, r"3-D \(T, N, C\) or 2-D"),
    (lambda: F.ctc_loss(_lp().reshape(1, 4, 2, 3), [[1], [2]], [4, 4], [1, 1]), ValueError, "3-D"),
    (lambda: F.ctc_loss(_lp(T=0), [[1], [2]], [0, 0], [1, 1]), ValueError, "must not be empty"),
    (lambda: F.ctc_loss(_lp(N=0), [], [], []), ValueError, "must not be empty"),
    (lambda: F.ctc_loss(mg.zeros(4, 2, 3, dtype="int64"), [[1], [2]], [4, 4], [1, 1]), TypeError, "float32 or"),
    (lambda: F.ctc_loss(_lp(dtype="float16"), [[1], [2]], [4, 4], [1, 1]), TypeError, "float32 or float64"),
    (lambda: F.ctc_loss(np.zeros((4, 2, 3)), [[1], [2]], [4, 4], [1, 1]), TypeError, "must be a Tensor"),
    (lambda: F.ctc_loss(_lp(), [[1.0], [2.0]], [4, 4], [1, 1]), TypeError, "integer class indices"),
    (lambda: F.ctc_loss(_lp(), [[1], [2]], mg.tensor([4.0, 4.0]), [1, 1]), TypeError, "must be integral"),
    (lambda: F.ctc_loss(_lp(), [[1], [2]], [4.0, 4.0], [1, 1]), TypeError, "must hold integers"),
    (lambda: F.ctc_loss(_lp()[:, 0], [1], 4, 1), TypeError, "use a 1-tuple"),
    (lambda: F.ctc_loss(_lp(), [[1], [2]], [4, 4], [1, 1], reduction="avg"), ValueError, "reduction must be"),
    (lambda: nn.CTCLoss(reduction="batchmean"), ValueError, "reduction must be"),
])
def test_errors_name_the_op(call, exc, match):
    with pytest.raises(exc, match=match) as info:
        call()
    assert "CTCLoss" in str(info.value) or "ctc_loss" in str(info.value)


# ------------------------------------------------------------------------------------ learning

def greedy_decode(log_probs, blank=0):
    """Best path decoding: the most likely class per frame, collapsed (repeats merged, blanks dropped)."""
    return collapse(log_probs.argmax(-1).tolist(), blank)


def test_tiny_model_learns_to_emit_a_label_sequence():
    """A linear layer on fixed random per-frame features learns to emit (1, 2, 2, 3) (the
    repeated 2 needs a blank between) from 10 frames with CTC: loss falls, greedy decoding is right."""
    mg.manual_seed(0)
    T, D, C = 10, 12, 4
    target = (1, 2, 2, 3)
    feats = mg.tensor(np.random.default_rng(9).standard_normal((T, 1, D)).astype(np.float32))
    model = nn.Linear(D, C)
    opt = mg.optim.Adam(model.parameters(), lr=0.1)
    ctc = nn.CTCLoss()
    losses = []
    for _ in range(80):
        opt.zero_grad()
        loss = ctc(model(feats).log_softmax(-1), [list(target)], [T], [len(target)])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]
    with mg.no_grad():
        assert greedy_decode(model(feats).log_softmax(-1).numpy()[:, 0]) == target
