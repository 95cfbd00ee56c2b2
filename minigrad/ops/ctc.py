"""Connectionist temporal classification (CTC) loss (Graves, Fernandez, Gomez, Schmidhuber, ICML 2006).

The problem. A network emits, at every frame t = 0..T-1, a distribution over C classes
y[t, c] = exp(log_probs[t, c]), one of which is the *blank* (no label). The target is a
shorter label sequence z = (z_1, ..., z_S) with no alignment to the frames given (speech,
handwriting, OCR). An *alignment* pi is one class per frame; it yields z when collapsing it
(merge repeated classes, then drop blanks) gives z: for z = "ab", T = 4, "-aab", "ab--",
"a-bb" all do. CTC maximises p(z | x) = sum over alignments pi of z of prod_t y[t, pi_t],
and the loss is nll = -log p(z | x).

The extended label sequence. There are exponentially many alignments, but they are the
paths through a small graph. Put a blank between labels and at both ends:
l' = (blank, z_1, blank, z_2, ..., blank, z_S, blank), length L = 2 S + 1. An alignment is a
path s_0, s_1, ..., s_{T-1} through the positions of l' that starts at s_0 in {0, 1}
(leading blank or first label), ends at s_{T-1} in {L-1, L-2} (trailing blank or last label),
and at each frame stays (s), steps (s + 1) or skips a blank (s + 2). The skip is allowed only
onto a label that differs from the label two places back: between two equal labels ("aa")
the blank is compulsory, otherwise the repeat would collapse into one "a".

The alpha (forward) recursion, in log space (alpha[t, s] = log of the summed probability of
all path prefixes that emit frames 0..t and sit on position s at frame t, emission at t
included):
    alpha[0, s]  = log y[0, l'_s] for s in {0, 1}, -inf elsewhere
    alpha[t, s]  = log y[t, l'_s] + logsumexp(alpha[t-1, s], alpha[t-1, s-1], alpha[t-1, s-2] if skip(s))
    nll          = -logsumexp(alpha[T-1, L-1], alpha[T-1, L-2])

The beta (backward) recursion (beta[t, s] = log of the summed probability of all path
suffixes that emit frames t+1..T-1 starting from position s at frame t; Graves' 2012
convention, emission at t excluded, so alpha + beta is the log-probability of the paths
through (t, s) with no emission counted twice):
    beta[T-1, s] = 0 for s in {L-1, L-2}, -inf elsewhere
    beta[t, s]   = logsumexp over s' in {s, s+1, s+2 if skip(s+2)} of (log y[t+1, l'_s'] + beta[t+1, s'])

The gradient. The probability that an alignment sits on class c at frame t (its posterior
"occupation") is gamma[t, c] = sum over s with l'_s = c of exp(alpha[t, s] + beta[t, s] + nll);
for every frame t, sum_c gamma[t, c] = 1. Since each path probability is the product of its
y's, the partial derivative with respect to log_probs as free inputs is
    d nll / d log_probs[t, c] = -gamma[t, c].
torch's ctc_loss returns something else, and so does minigrad (matching torch exactly):
    grad[t, n, c] = exp(log_probs[t, n, c]) - gamma[t, n, c]     (times the incoming gradient)
which is the textbook gradient with respect to the *logits* z of log_probs = log_softmax(z)
(Graves' eq. 16). The two differ by exp(log_probs) * g, a vector along the direction that
log_softmax's backward removes: dz = d - softmax(z) * sum_c d, and sum_c (exp(lp) - gamma) =
1 - 1 = 0. So whenever log_probs come from log_softmax (the documented use, and the only one
where the inputs are log-probabilities) the gradient reaching the logits is exact either way.
What it means for a gradcheck: finite differences taken directly on log_probs disagree with
torch's (and minigrad's) gradient by exp(log_probs) * grad_out; gradcheck ctc_loss(log_softmax(z))
with respect to z instead.

Frames t >= input_length get zero gradient. An impossible target (too long for its input,
counting the compulsory blanks between repeats) has nll = inf; its gradient is NaN, as
torch, unless zero_infinity=True, which turns both the loss and its gradient into 0.
"""
from __future__ import annotations

import numbers

from .. import backend as _B
from ..autograd import Function
from ..tensor import Tensor, _wrap
from .common import describe
from .nn import _reduction
from .. import amp as _amp

np = _B.np  # dtypes only
get_xp = _B.get_array_module

_NEG_INF = float("-inf")  # a Python float: it never upcasts float32 arrays


def _shift(xp, a, k):
    """a moved k places along its last axis (right for k > 0, left for k < 0), filled with -inf.

    _shift(alpha, 1)[s] = alpha[s - 1]: the value one position back, -inf where there is none.
    """
    L = a.shape[-1]
    fill = xp.full(a.shape[:-1] + (abs(k),), _NEG_INF, dtype=a.dtype)
    if k > 0:
        return xp.concatenate([fill, a], axis=-1)[..., :L]
    return xp.concatenate([a, fill], axis=-1)[..., -k:]


def _logsumexp3(xp, a, b, c):
    """log(e^a + e^b + e^c) elementwise, stably: factor out the largest term (0 where all are -inf).

    With m = max(a, b, c), e^(a - m) etc. are <= 1 (no overflow) and one of them is 1 (no
    underflow of the sum to 0 unless every term is -inf, which correctly gives log 0 = -inf).
    """
    m = xp.maximum(xp.maximum(a, b), c)
    m = xp.where(m == _NEG_INF, 0.0, m)  # (-inf) - (-inf) would be NaN
    with np.errstate(divide="ignore"):  # log(0) = -inf is intended
        return (m + xp.log(xp.exp(a - m) + xp.exp(b - m) + xp.exp(c - m))).astype(a.dtype, copy=False)


def _extended_labels(xp, targets, target_lengths, blank):
    """The extended label sequences l' (N, 2S+1), their valid-position mask and the skip mask.

    l'_s is blank at even s and target[(s - 1) / 2] at odd s; positions s >= 2 tl_n + 1 are
    padding (set to blank so they index a real class; their emissions are masked to -inf).
    skip[n, s]: a path may jump from s - 2 to s (s a label differing from the label at s - 2).
    """
    N, S = targets.shape
    L = 2 * S + 1
    s = xp.arange(L)
    valid = s[None, :] < (2 * target_lengths + 1)[:, None]
    ext = xp.full((N, L), blank, dtype=targets.dtype)
    ext[:, 1::2] = targets
    ext = xp.where(valid, ext, blank)
    skip = xp.zeros((N, L), dtype=bool)
    skip[:, 2:] = ext[:, 2:] != ext[:, :-2]  # (equal at even s: both are blanks)
    skip &= valid & (s % 2 == 1)[None, :]
    return ext, valid, skip


class CTCLoss(Function):
    """nll_n = -log sum over alignments pi of target_n of prod_{t < T_n} y[t, n, pi_t] (alpha recursion);
    grad[t, n, c] = exp(log_probs[t, n, c]) - gamma[t, n, c] for t < T_n (torch's, see the module docstring)

    Inputs: log_probs (T, N, C) float; targets (N, S) padded integer labels; input_lengths (N,)
    and target_lengths (N,) integers, all checked by `ctc_loss`. Output: nll (N,), log_probs' dtype.
    """

    @staticmethod
    def forward(ctx, log_probs, targets, input_lengths, target_lengths, *, blank, zero_infinity):
        xp = get_xp(log_probs)
        T, N, _ = log_probs.shape
        ext, valid, skip = _extended_labels(xp, targets, target_lengths, blank)
        L = ext.shape[1]
        # emit[t, n, s] = log y[t, n, l'_{n,s}], -inf on padding positions (so no path uses them)
        emit = xp.take_along_axis(log_probs, xp.broadcast_to(ext[None], (T, N, L)), axis=2)
        emit = xp.where(valid[None], emit, _NEG_INF).astype(log_probs.dtype, copy=False)

        # alpha recursion: one vectorised step per frame, all sequences and positions at once
        alpha = xp.full((T, N, L), _NEG_INF, dtype=log_probs.dtype)
        alpha[0, :, :2] = emit[0, :, :2]  # start on the leading blank or on the first label
        for t in range(1, T):
            a = alpha[t - 1]
            skipped = xp.where(skip, _shift(xp, a, 2), _NEG_INF)
            alpha[t] = emit[t] + _logsumexp3(xp, a, _shift(xp, a, 1), skipped)

        # end on the trailing blank (L_n - 1) or the last label (L_n - 2, if there is one),
        # read at each sequence's own last frame T_n - 1
        n = xp.arange(N)
        ext_len = 2 * target_lengths + 1
        a_end = alpha[xp.maximum(input_lengths - 1, 0), n]  # (N, L)
        end_blank = a_end[n, ext_len - 1]
        end_label = xp.where(target_lengths > 0, a_end[n, xp.maximum(ext_len - 2, 0)], _NEG_INF)
        nll = -xp.logaddexp(end_blank, end_label)
        # T_n = 0: the empty alignment yields only the empty target (probability 1), nothing else
        nll = xp.where(input_lengths == 0, xp.where(target_lengths == 0, 0.0, float("inf")), nll)
        nll = nll.astype(log_probs.dtype, copy=False)

        ctx.save_for_backward(log_probs, ext, emit, skip, alpha, nll, input_lengths, target_lengths)
        ctx.zero_infinity = zero_infinity
        if zero_infinity:
            nll = xp.where(nll == float("inf"), 0.0, nll).astype(log_probs.dtype, copy=False)
        return nll

    @staticmethod
    def backward(ctx, g):
        log_probs, ext, emit, skip, alpha, nll, input_lengths, target_lengths = ctx.saved
        xp = get_xp(log_probs)
        T, N, C = log_probs.shape
        L = ext.shape[1]
        last = input_lengths - 1  # each sequence's last frame

        # beta recursion, backwards in time. beta_end: log 1 on the two end positions.
        s = xp.arange(L)[None, :]
        ext_len = (2 * target_lengths + 1)[:, None]
        is_end = (s == ext_len - 1) | ((s == ext_len - 2) & (target_lengths[:, None] > 0))
        beta_end = xp.where(is_end, 0.0, _NEG_INF).astype(log_probs.dtype)
        skip_ahead = xp.zeros_like(skip)  # skip_ahead[n, s]: from s, a path may jump to s + 2
        skip_ahead[:, :-2] = skip[:, 2:]
        beta = xp.full((T, N, L), _NEG_INF, dtype=log_probs.dtype)
        for t in range(T - 1, -1, -1):
            if t < T - 1:
                nxt = emit[t + 1] + beta[t + 1]  # log y[t+1, l'_s'] + beta[t+1, s']
                rec = _logsumexp3(xp, nxt, _shift(xp, nxt, -1), xp.where(skip_ahead, _shift(xp, nxt, -2), _NEG_INF))
            else:
                rec = xp.full((N, L), _NEG_INF, dtype=log_probs.dtype)
            beta[t] = xp.where((t == last)[:, None], beta_end, xp.where((t < last)[:, None], rec, _NEG_INF))

        # occupation of position s at frame t: P(alignment passes through (t, s) | target)
        possible = nll != float("inf")  # (a NaN loss, from NaN inputs, keeps its NaN gradient)
        occ = xp.exp(alpha + beta + xp.where(possible, nll, 0.0)[None, :, None]).astype(log_probs.dtype, copy=False)
        # gamma[t, n, c] = sum of occ over the positions s with l'_s = c (repeated labels add up)
        flat = ((xp.arange(T)[:, None, None] * N + xp.arange(N)[None, :, None]) * C + ext[None]).reshape(-1)
        gamma = _B.scatter_add(xp.zeros(T * N * C, dtype=log_probs.dtype), flat, occ.reshape(-1)).reshape(T, N, C)

        # torch's gradient: w.r.t. the logits behind log_probs (see the module docstring)
        grad = (xp.exp(log_probs) - gamma) * g[None, :, None]
        # an impossible target (nll = inf): NaN, as torch, or 0 with zero_infinity
        grad = xp.where(possible[None, :, None], grad, 0.0 if ctx.zero_infinity else float("nan"))
        in_time = xp.arange(T)[:, None] < input_lengths[None, :]  # frames past T_n get no gradient
        grad = xp.where(in_time[..., None], grad, 0.0).astype(log_probs.dtype, copy=False)
        return grad, None, None, None


# ---------------------------------------------------------------------------------------------
# the public wrapper: torch's argument forms and checks


def _lengths(name, lengths, op="ctc_loss"):
    """input_lengths / target_lengths as a host list of Python ints.

    Accepted as torch: a tuple or list of ints (or of 0-d integer tensors), or an integer
    tensor/array of any shape (flattened). A bare Python int is refused, as torch does.
    """
    if isinstance(lengths, Tensor):
        lengths = lengths.data
    if _B.is_array(lengths):
        if lengths.dtype.kind not in "iu":
            raise TypeError(f"{op}: {name} must be integral, got a {lengths.dtype} array of shape "
                            f"{list(lengths.shape)}")
        return [int(v) for v in _B.to_device(lengths, "cpu").reshape(-1).tolist()]
    if isinstance(lengths, (list, tuple)):
        out = []
        for v in lengths:
            if isinstance(v, Tensor):
                v = v.data
            if _B.is_array(v):
                if v.dtype.kind not in "iu" or v.size != 1:
                    raise TypeError(f"{op}: {name} must hold integers, got an element of dtype {v.dtype} and "
                                    f"shape {list(v.shape)}")
                v = int(_B.to_device(v, "cpu").reshape(-1)[0])
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError(f"{op}: {name} must hold integers, got {type(v).__name__} {v!r}")
            out.append(int(v))
        return out
    raise TypeError(f"{op}: {name} must be a tuple or list of ints or an integer tensor, got "
                    f"{type(lengths).__name__} {lengths!r}" + (" (use a 1-tuple)" if isinstance(lengths, int) else ""))


def _padded_targets(op, targets, tl, N, device):
    """targets as an (N, max(tl)) integer array on `device`, from the padded (N, S) or concatenated 1-D form."""
    if not isinstance(targets, Tensor):
        targets = _wrap(_B.as_array(targets, device=device))
    t = targets.data
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: targets must hold integer class indices, got {describe(targets)} "
                        "(convert with .long())")
    if targets.device != device:  # as torch: the targets follow log_probs ("a service for the user")
        t = _B.to_device(t, device)
    xp = get_xp(t)
    S = max(tl, default=0)
    if t.ndim == 2:
        if t.shape[0] != N:
            raise ValueError(f"{op}: padded targets {describe(targets)} must have one row per sequence "
                             f"(batch size N = {N})")
        if S > t.shape[1]:
            raise ValueError(f"{op}: target_lengths has a value {S} larger than the padded targets' length "
                             f"{t.shape[1]} ({describe(targets)})")
        return t[:, :S]
    if t.ndim == 1:  # concatenated: sequence n is t[offset_n : offset_n + tl_n]
        if t.shape[0] != sum(tl):
            raise ValueError(f"{op}: concatenated 1-D targets {describe(targets)} must have sum(target_lengths) "
                             f"= {sum(tl)} entries")
        offsets = _B.as_array([sum(tl[:i]) for i in range(N)], dtype=np.int64, device=device)
        lens = _B.as_array(tl, dtype=np.int64, device=device)
        j = xp.arange(S)[None, :]
        idx = xp.where(j < lens[:, None], offsets[:, None] + j, 0)
        return t[idx] if t.size else xp.zeros((N, S), dtype=t.dtype)
    raise ValueError(f"{op}: targets must be 2-D padded (N, S) or 1-D concatenated, got {describe(targets)}")


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    """Connectionist temporal classification loss (torch's `F.ctc_loss`): -log p(target | input),
    summed over every alignment of the target to the input frames (see `minigrad.ops.ctc`).

    Args:
        log_probs: (T, N, C) log-probabilities over C classes (blank included) at T frames for a
            batch of N, e.g. `logits.log_softmax(-1)`; or (T, C) for one unbatched sequence.
            float32 or float64.
        targets: integer labels, either padded (N, S) (row n's first target_lengths[n] entries
            are used, the rest may hold anything) or concatenated 1-D of length
            sum(target_lengths). Labels must be in [0, C) and differ from `blank`.
        input_lengths: the number of valid frames of each sequence (<= T): a tuple or list of
            ints or an integer tensor of N entries.
        target_lengths: the number of labels of each sequence, same forms.
        blank: the class index of the blank (default 0).
        reduction: 'mean' (each loss divided by its target length (at least 1), then the batch
            mean), 'sum' or 'none' (the N losses; a 0-d tensor when unbatched).
        zero_infinity: turn infinite losses (targets impossible to align within their input
            length) and their gradients into 0. Without it such a loss is inf and its gradient NaN.

    Returns:
        The loss tensor, of log_probs' dtype.

    The gradient is torch's: exp(log_probs) - occupation posterior, the gradient with respect to
    the logits behind log_probs = log_softmax(logits) (exact after log_softmax's backward); it is
    not the partial derivative with respect to log_probs as free inputs (see the module docstring).
    Differences from torch: minigrad refuses labels out of [0, C) or equal to blank within the
    target lengths (torch reads out of bounds or silently computes a meaningless loss) and
    non-integer targets (torch truncates floats); at log_probs = -inf (a masked class) the
    gradient is 0 where torch's is NaN.
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('ctc_loss', ctc_loss, log_probs=log_probs, targets=targets, input_lengths=input_lengths,
                        target_lengths=target_lengths, blank=blank, reduction=reduction, zero_infinity=zero_infinity)
    op = "ctc_loss"
    if not isinstance(log_probs, Tensor):
        raise TypeError(f"{op}: log_probs must be a Tensor, got {type(log_probs).__name__}")
    if log_probs.data.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: log_probs must be float32 or float64, got {describe(log_probs)} (as torch)")
    reduction = _reduction(op, reduction)
    if log_probs.data.ndim not in (2, 3):
        raise ValueError(f"{op}: log_probs must be 3-D (T, N, C) or 2-D (T, C) unbatched, got {describe(log_probs)}")
    batched = log_probs.data.ndim == 3
    lp = log_probs if batched else log_probs.unsqueeze(1)
    T, N, C = lp.data.shape
    if lp.data.size == 0:
        raise ValueError(f"{op}: log_probs {describe(log_probs)} must not be empty (need T, N, C >= 1)")
    if isinstance(blank, bool) or not isinstance(blank, numbers.Integral) or not 0 <= blank < C:
        raise ValueError(f"{op}: blank must be a class index in [0, {C}) (C = log_probs.shape[-1]), got {blank!r}")
    blank = int(blank)

    il = _lengths("input_lengths", input_lengths)
    tl = _lengths("target_lengths", target_lengths)
    for name, lens in (("input_lengths", il), ("target_lengths", tl)):
        if len(lens) != N:
            raise ValueError(f"{op}: {name} must have one entry per sequence (batch size N = {N}), got {len(lens)}")
        if lens and min(lens) < 0:
            raise ValueError(f"{op}: {name} must be >= 0, got {min(lens)}")
    if il and max(il) > T:
        raise ValueError(f"{op}: input_lengths must be at most T = {T} (log_probs {describe(log_probs)}), "
                         f"got {max(il)}")
    padded = _padded_targets(op, targets, tl, N, log_probs.device)
    xp = get_xp(padded)
    tl_arr = _B.as_array(tl, dtype=np.int64, device=log_probs.device)
    used = xp.arange(padded.shape[1])[None, :] < tl_arr[:, None]
    out_of_range = used & ((padded < 0) | (padded >= C))
    if bool(out_of_range.any()):
        raise IndexError(f"{op}: target label {int(padded[out_of_range][0])} is out of range for {C} classes "
                         f"(expected 0..{C - 1})")
    if bool((used & (padded == blank)).any()):
        raise ValueError(f"{op}: targets must not contain the blank label {blank} within their target_lengths "
                         "(the blank separates labels; it is never a label itself)")

    il_arr = _B.as_array(il, dtype=np.int64, device=log_probs.device)
    loss = CTCLoss.apply(lp, _wrap(padded.astype(np.int64, copy=False)), _wrap(il_arr), _wrap(tl_arr),
                         blank=blank, zero_infinity=bool(zero_infinity))
    if reduction == "mean":  # per-label loss, then the batch mean (torch's 'mean')
        divisor = _wrap(xp.maximum(tl_arr, 1).astype(lp.data.dtype))
        return (loss / divisor).mean()
    if reduction == "sum":
        return loss.sum()
    return loss if batched else loss.squeeze(0)
