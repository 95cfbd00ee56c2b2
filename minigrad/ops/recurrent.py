"""Fused recurrent sequence kernels: a whole RNN / LSTM / GRU sequence as ONE op each.

Why fuse? The composed version of a recurrent layer (`models/`: a cell written from
primitive ops, looped over time) records about fifteen graph nodes per time step,
each with its own temporaries, and lets autograd discover backpropagation through
time (BPTT) node by node. Here each cell type is one multi-output `Function` whose
forward and backward are written out for the whole sequence:

* the input projection of every time step is ONE matmul,
  ``X (T*B, I) @ W_ih^T (I, G*H) + biases``, done before the time loop;
* the time loop does one ``(B, H) @ (H, G*H)`` matmul per step plus the gate
  arithmetic, written into preallocated buffers with ``out=`` ufunc arguments;
* the gates and states are saved, and the backward runs the BPTT equations
  (written out in each class docstring) backwards through time, storing the
  pre-activation gate gradients dG of every step;
* the weight gradients are then ONE big matmul each over all steps at once:
  ``dW_hh = dG^T @ H_prev``, ``dW_ih = dG^T @ X`` and ``dX = dG @ W_ih``,
  instead of T small per-step products (and ``db = sum(dG)`` rides along with
  dW_ih: ``dG^T @ [X | 1] = [dW_ih | db]``).

Shapes (time-major, as torch's default): x (T, B, I); states h0, c0 (B, H); weights
in torch's layout with the G gates stacked along the first axis: w_ih (G*H, I),
w_hh (G*H, H), biases (G*H,). Gate order: LSTM i, f, g, o; GRU r, z, n.

Padded batches (`lengths`): sequence b is valid for t < lengths[b]. Its outputs at
t >= lengths[b] are zero and its state is frozen there, so h_n[b] is the state after
step lengths[b] - 1. With `reverse=True` the loop runs t = T-1 down to 0 and the state
of sequence b stays at h0 while t >= lengths[b]: it starts at its own last valid
step, as a reversed packed sequence does in torch. Both cases are one rule: at step
t, rows with mask[t, b] = (t < lengths[b]) update, the others keep their state.

A trick used by all three kernels: sigmoid(a) = (1 + tanh(a/2)) / 2 (the identity
`stable_sigmoid` uses). Halving the sigmoid gates' weight rows and biases once per
call (exact in binary floating point) makes the whole (B, G*H) gate block ONE tanh
call followed by a per-column multiply-add (0.5, 0.5 for sigmoid columns, 1, 0 for
tanh columns), instead of separate calls per gate.

Large batches on a multi-core CPU (`_forward_in_blocks`): no step ever mixes batch rows,
so a batch of 128 rows can run as two blocks of 64 on two threads, each block the whole
kernel above with single-threaded BLAS, and the weight gradients are the blocks' sums.
One two-threaded product per step leaves a core idle during the gate arithmetic and
waits for the slower core at every step; blocks keep both cores busy and meet once
(5-13% faster on config C, `benchmarks/RESULTS.md`). They need OpenBLAS's idle threads
to sleep soon, so they are automatic only then (`backend.row_blocks` says when). Under
~64 rows a block they lose, and the batch runs as one block, as it always does on a GPU.
"""
from __future__ import annotations

import numbers

from .. import backend as _B
from ..autograd import Function
from ..tensor import Tensor
from . import gpu_kernels
from .common import describe

get_xp = _B.get_array_module
np = _B.np  # dtypes and host-side `lengths` bookkeeping only

__all__ = ["RNNSequence", "LSTMSequence", "GRUSequence", "rnn_sequence", "lstm_sequence", "gru_sequence",
           "LSTMProjSequence", "lstm_proj_sequence"]


# ---------------------------------------------------------------- shared helpers
def _gate_affine(xp, kinds: str, H: int, dtype):
    """Per-column constants for the sigmoid-via-tanh trick, one letter per gate ('s' or 't').

    Returns (scale, add), each of shape (G*H,): pre-activations are multiplied by
    `scale` (0.5 for sigmoid gates, folded into the weights), and after one tanh the
    activation is tanh * scale + add (sigmoid: 0.5 t + 0.5; tanh: 1 t + 0), because
    sigmoid(a) = 0.5 tanh(a/2) + 0.5.
    """
    half = [0.5 if k == "s" else 1.0 for k in kinds]
    offs = [0.5 if k == "s" else 0.0 for k in kinds]
    scale = xp.asarray(np.repeat(np.asarray(half), H), dtype=dtype)
    add = xp.asarray(np.repeat(np.asarray(offs), H), dtype=dtype)
    return scale, add


def _masks(xp, lengths, T: int, B: int, dtype):
    """(keep, frozen) for a padded batch, or None when every sequence is full length.

    keep (T, B, 1) of `dtype` is 1 where t < lengths[b] (the step updates the state);
    frozen (T, B, 1) bool is its complement (rows that keep their previous state).
    """
    if lengths is None or all(n == T for n in lengths):
        return None
    valid = np.arange(T)[:, None] < np.asarray(lengths)[None, :]
    keep = xp.asarray(valid[:, :, None].astype(dtype))
    frozen = xp.asarray(~valid[:, :, None])
    return keep, frozen


def _step_kernels(cell: str, xp, dtype):
    """Fused one-launch-per-step kernels (`gpu_kernels`) for 'lstm' or 'gru' on CUDA, else None.

    On the CPU the per-op loops below are the fast path (NumPy calls are cheap there); on a
    GPU every call is a kernel launch, so a step's gate arithmetic is done by one kernel.
    """
    if xp is np or not gpu_kernels.enabled:
        return None
    return gpu_kernels.step_kernels(cell, dtype)


def _product(xp, kernels):
    """The per-step matrix product (with out=): `xp.matmul`, or on the GPU (`kernels` given)
    `gpu_kernels.step_product`, the cheaper call to launch once per step."""
    return xp.matmul if kernels is None else getattr(xp, gpu_kernels.step_product)


def _time_layout(reverse: bool):
    """Offsets (dp, dc) of the previous and new state of step t in the (T+1, B, H) state buffer.

    Forward: hs[0] = h0 and step t reads hs[t], writes hs[t+1]. Reverse (steps run
    T-1 down to 0): hs[T] = h0 and step t reads hs[t+1], writes hs[t]. Either way step
    t reads hs[t + dp] and writes hs[t + dc]; the outputs are hs[dc : dc + T], the
    previous states hs[dp : dp + T] and the final state hs[T * dc].
    """
    return (1, 0) if reverse else (0, 1)


# Elements of a (steps, B, G*H) block the LSTM backward prepares at once (256 KiB of float32).
_BLOCK_ELEMENTS = 1 << 16


def _backward_blocks(T: int, block: int, reverse: bool):
    """Blocks [t0, t1) of `block` time steps in the order the backward visits them.

    The backward walks the processing order backwards: from t = T-1 down for a forward
    sequence, from t = 0 up for a reversed one (the last block may be shorter).
    """
    if reverse:
        return [(t0, min(T, t0 + block)) for t0 in range(0, T, block)]
    return [(max(0, t1 - block), t1) for t1 in range(T, 0, -block)]


def _in_order(reverse: bool, *arrays):
    """zip of the arrays' per-step rows (axis 0 = time) in processing order: T-1..0 when reversed."""
    return zip(*[a[::-1] if reverse else a for a in arrays])


def _split_biases(arrays, has_bias):
    """The optional (b_ih, b_hh) arrays from the tail of the forward's inputs."""
    it = iter(arrays)
    b_ih = next(it) if has_bias[0] else None
    b_hh = next(it) if has_bias[1] else None
    return b_ih, b_hh


def _bias_grads(has_bias, db_ih, db_hh):
    """The gradients for the biases that were passed (None ones are not inputs)."""
    out = ()
    if has_bias[0]:
        out += (db_ih,)
    if has_bias[1]:
        out += (db_hh,)
    return out


def _input_projection(x, w_ih, bias, scale):
    """X W_ih^T + bias for every time step as ONE matmul: (T*B, I) @ (I, G*H) -> (T, B, G*H).

    With a bias, it rides in the same matmul as the weight of a constant input 1:
    [X | 1] @ [W_ih | b]^T = X W_ih^T + b. That saves a pass over the (T*B, G*H)
    result here, and in the backward the same trick gives db with dW_ih:
    dG^T @ [X | 1] = [dG^T X | sum(dG)] (see `_input_grads`).
    `scale` (or None) multiplies the gate rows (the sigmoid-via-tanh halving); scaling
    the (G*H, I) weight is cheaper than scaling the (T*B, G*H) result.

    Returns:
        (projection (T, B, G*H), X1): X1 is [X | 1] (T*B, I+1) with a bias, else X (T*B, I);
        the backward keeps X1.
    """
    T, B, I = x.shape
    if bias is None:
        x1, w1 = x.reshape(T * B, I), w_ih
    else:
        xp = get_xp(x)
        x1 = xp.empty((T * B, I + 1), dtype=x.dtype)
        x1.reshape(T, B, I + 1)[:, :, :I] = x  # any strides (e.g. a batch_first transpose) in one copy
        x1[:, I] = 1
        w1 = xp.empty((w_ih.shape[0], I + 1), dtype=w_ih.dtype)
        w1[:, :I] = w_ih
        w1[:, I] = bias
    if scale is not None:
        w1 = w1 * scale[:, None]
    return (x1 @ w1.T).reshape(T, B, w1.shape[0]), x1


def _recurrent_matrix(xp, w_hh, scale=None):
    """W_hh^T (rows optionally scaled) as a row-major (H, G*H) matrix for the per-step h @ W_hh^T.

    Made once per call, so each of the T per-step matmuls reads a row-major right
    operand (faster than the transposed view w_hh.T). On the CPU each row is padded
    by one 64-byte cache line (the returned view hides the padding): with rows a
    multiple of 4 KiB long (G*H = 1024 float32, say) every row maps to the same L1
    cache sets and the product runs ~20% slower.
    """
    GH, H = w_hh.shape
    pad = 64 // w_hh.dtype.itemsize if xp is np else 0
    out = xp.empty((H, GH + pad), dtype=w_hh.dtype)[:, :GH]
    if scale is None:
        out[...] = w_hh.T
    else:
        xp.multiply(w_hh.T, scale, out=out)  # column j of W_hh^T is gate row j: scale[j]
    return out


def _weight_grads(dG, rows):
    """dW = dG^T @ rows over all T*B (step, batch) pairs at once: (G*H, T*B) @ (T*B, K)."""
    return dG.reshape(-1, dG.shape[-1]).T @ rows.reshape(-1, rows.shape[-1])


def _input_grads(dG, x1, has_bias, need_w, need_b):
    """(dW_ih, db) from the x-side gate gradients dG (T*B, G*H) and X1 of `_input_projection`.

    With a bias, ONE matmul dG^T @ [X | 1] = [dG^T X | sum over steps of dG] gives both
    (when only db is needed, a plain sum is cheaper). Returns None where not needed.
    """
    if not (need_w or (need_b and has_bias)):
        return None, None
    if not need_w:
        return None, dG.sum(axis=0)
    dw = dG.T @ x1
    if not has_bias:
        return dw, None
    return dw[:, :-1], dw[:, -1]


def _lstm_cell_update(xp, gt, rec, scale, add, i, f, g, c_prev, c, tc, ig):
    """One LSTM step's gates and cell state, into preallocated buffers (the CPU loops of both LSTM kernels).

    gt (B, 4H) holds the step's input projection (sigmoid rows halved) and becomes the activations
    [i, f, g, o] (i, f, g are its column views); then c_t = f * c_{t-1} + i * g (ig: an i * g buffer)
    and tc = tanh(c_t).
    """
    gt += rec
    xp.tanh(gt, out=gt)                  # one tanh for all four gates ...
    gt *= scale                          # ... then sigmoid = 0.5 tanh(a/2) + 0.5
    gt += add
    xp.multiply(f, c_prev, out=c)        # c_t = f * c_{t-1} + i * g
    xp.multiply(i, g, out=ig)
    c += ig
    xp.tanh(c, out=tc)


# ---------------------------------------------------------------- RNN
class RNNSequence(Function):
    """Elman RNN over a sequence: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh or relu.

    Forward, per step (A_t = X_t W_ih^T + b for all t is precomputed in one matmul)::

        h_t = act(A_t + h_{t-1} W_hh^T)

    Backward (BPTT), t from the last processed step back to the first, with
    dh_t = dout_t + (gradient arriving from step t+1)::

        da_t      = dh_t * act'(h_t)          tanh' = 1 - h_t**2;  relu' = [h_t > 0]
        dh_{t-1}  = da_t @ W_hh               (the carry into the previous step)

    and after the loop, over all steps at once (dA stacks the da_t)::

        dW_hh = dA^T @ H_prev,   [dW_ih | db] = dA^T @ [X | 1],   db_ih = db_hh = db,   dX = dA @ W_ih

    Inputs: x, h0, w_ih, w_hh, [b_ih], [b_hh]; outputs: (out (T, B, H), h_n (B, H)).
    """

    @staticmethod
    def forward(ctx, x, h0, *params, **kw):
        return _forward_in_blocks(RNNSequence.forward_rows, ctx, x, (h0,), params, **kw)

    @staticmethod
    def backward(ctx, dout, dh_n):
        return _backward_in_blocks(RNNSequence.backward_rows, ctx, (dout, dh_n))

    @staticmethod
    def forward_rows(ctx, x, h0, w_ih, w_hh, *biases, has_bias=(True, True), nonlinearity="tanh",
                     lengths=None, reverse=False):
        """The forward on a batch of rows (all of them, or one block: see `_forward_in_blocks`)."""
        xp = get_xp(x)
        T, B, _ = x.shape
        H = h0.shape[1]
        b_ih, b_hh = _split_biases(biases, has_bias)
        bias = b_ih if b_hh is None else (b_hh if b_ih is None else b_ih + b_hh)
        A, x1 = _input_projection(x, w_ih, bias, None)  # (T, B, H)
        whhT = _recurrent_matrix(xp, w_hh)  # (H, H)
        masks = _masks(xp, lengths, T, B, x.dtype)
        dp, dc = _time_layout(reverse)

        hs = xp.empty((T + 1, B, H), dtype=x.dtype)
        h_prev = hs[T * dp]
        h_prev[...] = h0
        relu = nonlinearity == "relu"
        frozen_t = masks[1] if masks is not None else [None] * T
        kernels = _step_kernels("rnn_" + nonlinearity, xp, x.dtype) if masks is None else None
        mm = _product(xp, kernels)
        for a, h, frozen in _in_order(reverse, A, hs[dc:dc + T], frozen_t):
            mm(h_prev, whhT, out=h)
            if kernels is not None:  # GPU: the add and the activation in one launch
                kernels.forward(a, h)
                h_prev = h
                continue
            h += a
            if relu:
                xp.maximum(h, 0, out=h)
            else:
                xp.tanh(h, out=h)
            if frozen is not None:  # finished (or not yet started) rows keep their state
                xp.copyto(h, h_prev, where=frozen)
            h_prev = h

        out = hs[dc:dc + T]
        if masks is not None:
            out = out * masks[0]  # zero past each sequence's end
        ctx.save_for_backward(x1, w_ih, w_hh, hs)
        ctx.meta = (x.shape, has_bias, relu, masks, reverse)
        return out, hs[T * dc].copy()

    @staticmethod
    def backward_rows(ctx, dout, dh_n):
        x1, w_ih, w_hh, hs = ctx.saved
        x_shape, has_bias, relu, masks, reverse = ctx.meta
        xp = get_xp(x1)
        T, B, _ = x_shape
        H = hs.shape[-1]
        dp, dc = _time_layout(reverse)

        dA = xp.empty((T, B, H), dtype=x1.dtype)
        carry, spare = dh_n.copy(), xp.empty_like(dh_n)  # d loss / d h_t arriving from step t+1
        dh = xp.empty_like(dh_n)
        deriv = xp.empty_like(dh_n)
        keep_t, frozen_t = masks if masks is not None else ([None] * T,) * 2
        kernels = _step_kernels("rnn_" + ("relu" if relu else "tanh"), xp, x1.dtype) if masks is None else None
        if kernels is not None:
            dout = xp.ascontiguousarray(dout)         # the kernel reads rows as flat memory
        mm = _product(xp, kernels)
        for dout_t, h, da, keep, frozen in _in_order(not reverse, dout, hs[dc:dc + T], dA, keep_t, frozen_t):
            if kernels is not None:  # GPU: da_t = (dout_t + carry) act'(a_t) in one launch
                kernels.backward(dout_t, carry, h, da)
                mm(da, w_hh, out=carry)        # the kernel has read carry: overwrite it
                continue
            xp.add(dout_t, carry, out=dh)             # dh_t = dout_t + carry
            if keep is not None:
                dh *= keep                            # frozen rows: no gradient into this step
            if relu:
                xp.greater(h, 0, out=deriv)           # relu'(a) = [h > 0] (0 at 0, as torch)
            else:
                xp.multiply(h, h, out=deriv)
                xp.subtract(1, deriv, out=deriv)      # tanh'(a) = 1 - h**2
            xp.multiply(dh, deriv, out=da)
            xp.matmul(da, w_hh, out=spare)            # dh_{t-1} = da_t @ W_hh
            if frozen is not None:                    # frozen rows pass their carry through
                xp.copyto(spare, carry, where=frozen)
            carry, spare = spare, carry

        need = ctx.needs_input_grad
        dA2 = dA.reshape(T * B, H)
        dx = (dA2 @ w_ih).reshape(x_shape) if need[0] else None
        dw_hh = _weight_grads(dA, hs[dp:dp + T]) if need[3] else None
        dw_ih, db = _input_grads(dA2, x1, any(has_bias), need[2], any(need[4:]))
        return (dx, carry, dw_ih, dw_hh) + _bias_grads(has_bias, db, db)


# ---------------------------------------------------------------- LSTM
class LSTMSequence(Function):
    """LSTM over a sequence: gates i, f, g, o; c_t = f*c_{t-1} + i*g, h_t = o*tanh(c_t).

    Forward, per step (A_t = X_t W_ih^T + b_ih + b_hh precomputed for all t)::

        [a_i, a_f, a_g, a_o] = A_t + h_{t-1} W_hh^T
        i, f, o = sigmoid(a_i, a_f, a_o);   g = tanh(a_g)
        c_t = f * c_{t-1} + i * g
        h_t = o * tanh(c_t)

    Backward (BPTT), t from the last processed step back, with dh_t = dout_t + carry_h
    and carry_c the gradient of c_t arriving from step t+1::

        dc_t     = carry_c + dh_t * o * (1 - tanh(c_t)**2)
        da_o     = dh_t * tanh(c_t) * o (1 - o)
        da_i     = dc_t * g * i (1 - i)
        da_f     = dc_t * c_{t-1} * f (1 - f)
        da_g     = dc_t * i * (1 - g**2)
        carry_c  = dc_t * f                         (d c_{t-1})
        carry_h  = [da_i, da_f, da_g, da_o] @ W_hh  (d h_{t-1})

    then, over all steps at once (dG stacks the (B, 4H) gate gradients)::

        dW_hh = dG^T @ H_prev,   [dW_ih | db] = dG^T @ [X | 1],   db_ih = db_hh = db,   dX = dG @ W_ih

    Inputs: x, h0, c0, w_ih, w_hh, [b_ih], [b_hh]; outputs: (out, h_n, c_n).
    """

    @staticmethod
    def forward(ctx, x, h0, c0, *params, **kw):
        return _forward_in_blocks(LSTMSequence.forward_rows, ctx, x, (h0, c0), params, **kw)

    @staticmethod
    def backward(ctx, dout, dh_n, dc_n):
        return _backward_in_blocks(LSTMSequence.backward_rows, ctx, (dout, dh_n, dc_n))

    @staticmethod
    def forward_rows(ctx, x, h0, c0, w_ih, w_hh, *biases, has_bias=(True, True), lengths=None, reverse=False):
        """The forward on a batch of rows (all of them, or one block: see `_forward_in_blocks`)."""
        xp = get_xp(x)
        T, B, _ = x.shape
        H = h0.shape[1]
        dt = x.dtype
        b_ih, b_hh = _split_biases(biases, has_bias)
        bias = b_ih if b_hh is None else (b_hh if b_ih is None else b_ih + b_hh)
        scale, add = _gate_affine(xp, "ssts", H, dt)
        G, x1 = _input_projection(x, w_ih, bias, scale)  # (T, B, 4H): becomes the saved gates in place
        whhT = _recurrent_matrix(xp, w_hh, scale)  # (H, 4H), halved sigmoid rows
        masks = _masks(xp, lengths, T, B, dt)
        dp, dc = _time_layout(reverse)

        hs = xp.empty((T + 1, B, H), dtype=dt)   # h states
        cs = xp.empty((T + 1, B, H), dtype=dt)   # c states
        tcs = xp.empty((T, B, H), dtype=dt)      # tanh(c_t), reused by the backward
        h_prev, c_prev = hs[T * dp], cs[T * dp]
        h_prev[...] = h0
        c_prev[...] = c0
        G_i, G_f, G_g, G_o = G[..., :H], G[..., H:2 * H], G[..., 2 * H:3 * H], G[..., 3 * H:]  # (T, B, H) views
        rec = xp.empty((B, 4 * H), dtype=dt)     # h_{t-1} W_hh^T
        ig = xp.empty((B, H), dtype=dt)          # i * g
        # (B, 4H) copies of the per-column constants: same-shape operands are ~2x faster than broadcasting
        scale_b = xp.ascontiguousarray(xp.broadcast_to(scale, (B, 4 * H)))
        add_b = xp.ascontiguousarray(xp.broadcast_to(add, (B, 4 * H)))
        frozen_t = masks[1] if masks is not None else [None] * T
        # The per-step views, in processing order (iterating an array yields its rows as views).
        per_step = _in_order(reverse, G, G_i, G_f, G_g, G_o, cs[dc:dc + T], hs[dc:dc + T], tcs, frozen_t)
        kernels = _step_kernels("lstm", xp, dt) if masks is None else None
        mm = _product(xp, kernels)
        for gt, i, f, g, o, c, h, tc, frozen in per_step:
            mm(h_prev, whhT, out=rec)
            if kernels is not None:  # GPU: the lines below in one launch
                kernels.forward(rec, gt, c_prev, c, tc, h)
                h_prev, c_prev = h, c
                continue
            _lstm_cell_update(xp, gt, rec, scale_b, add_b, i, f, g, c_prev, c, tc, ig)
            xp.multiply(o, tc, out=h)            # h_t = o * tanh(c_t)
            if frozen is not None:               # finished (or not yet started) rows keep their state
                xp.copyto(h, h_prev, where=frozen)
                xp.copyto(c, c_prev, where=frozen)
            h_prev, c_prev = h, c

        out = hs[dc:dc + T]
        if masks is not None:
            out = out * masks[0]
        ctx.save_for_backward(x1, w_ih, w_hh, G, hs, cs, tcs)
        ctx.meta = (x.shape, has_bias, masks, reverse)
        return out, hs[T * dc].copy(), cs[T * dc].copy()

    @staticmethod
    def backward_rows(ctx, dout, dh_n, dc_n):
        x1, w_ih, w_hh, G, hs, cs, tcs = ctx.saved
        x_shape, has_bias, masks, reverse = ctx.meta
        xp = get_xp(x1)
        T, B, _ = x_shape
        H = hs.shape[-1]
        dt = x1.dtype
        H2, H3 = 2 * H, 3 * H
        dp, _ = _time_layout(reverse)

        dG = xp.empty((T, B, 4 * H), dtype=dt)
        carry_h, spare_h = dh_n.copy(), xp.empty_like(dh_n)
        carry_c, spare_c = dc_n.copy(), xp.empty_like(dc_n)
        kernels = _step_kernels("lstm", xp, dt) if masks is None else None
        if kernels is not None:  # GPU: per step one launch for all the elementwise work, then the product
            dout = xp.ascontiguousarray(dout)         # the kernel reads rows as flat memory
            mm = _product(xp, kernels)
            for dout_t, g_t, c_prev_t, tc_t, dg_t in _in_order(not reverse, dout, G, cs[dp:dp + T], tcs, dG):
                kernels.backward(dout_t, carry_h, carry_c, g_t, c_prev_t, tc_t, dg_t, spare_c)
                mm(dg_t, w_hh, out=carry_h)    # the kernel has read carry_h: overwrite it
                carry_c, spare_c = spare_c, carry_c
            blocks = ()
        else:
            # The CPU backward splits each dG_t into factors known from the forward alone,
            #     [da_i, da_f, da_g] = dc_t * P_t,  P = [g i(1-i), c_{t-1} f(1-f), i (1-g**2)]
            #     da_o = dh_t * Q_t,                Q = tanh(c_t) o (1-o)
            #     dc_t = carry_c + dh_t * R_t,      R = o (1 - tanh(c_t)**2)
            # and computes P and Q (into dG itself) and R for a block of steps at once, so the
            # sequential loop is left with seven small calls per step. Blocks are sized to stay
            # in cache; with a small batch one block covers the whole sequence.
            block = max(1, min(T, _BLOCK_ELEMENTS // max(1, B * 4 * H)))
            blocks = _backward_blocks(T, block, reverse)
            R = xp.empty((block, B, H), dtype=dt)
            tmp = xp.empty((block, B, 4 * H), dtype=dt)
            # Activation derivatives from the saved activations y, for all four gates at once:
            # (1 - y)(y + beta) is y (1 - y) for the sigmoid gates (beta = 0) and 1 - y**2 for g (beta = 1).
            beta = xp.zeros((block, B, 4 * H), dtype=dt)
            beta[..., H2:H3] = 1
            dG_ifg = dG.reshape(T, B, 4, H)[:, :, :3]     # (T, B, 3, H) views of dG's gate blocks
            dG_o = dG[..., H3:]
            G_f = G[..., H:H2]
            dh = xp.empty_like(dh_n)
            dc = xp.empty_like(dh_n)
            dc_b = dc[:, None, :]                         # broadcasts over the 3 gates i, f, g
        for t0, t1 in blocks:
            n = t1 - t0
            g_blk, d_blk, r_blk, tmp_blk = G[t0:t1], dG[t0:t1], R[:n], tmp[:n]
            i, g, o = g_blk[..., :H], g_blk[..., H2:H3], g_blk[..., H3:]
            tc = tcs[t0:t1]
            xp.subtract(1, g_blk, out=d_blk)           # dG <- activation derivatives, all gates
            xp.add(g_blk, beta[:n], out=tmp_blk)
            d_blk *= tmp_blk
            d_blk[..., :H] *= g                        # P_i = g * i (1 - i)
            d_blk[..., H:H2] *= cs[t0 + dp:t1 + dp]    # P_f = c_{t-1} * f (1 - f)
            d_blk[..., H2:H3] *= i                     # P_g = i * (1 - g**2)
            d_blk[..., H3:] *= tc                      # Q   = tanh(c_t) * o (1 - o)
            xp.multiply(tc, tc, out=r_blk)             # R   = o (1 - tanh(c_t)**2)
            xp.subtract(1, r_blk, out=r_blk)
            r_blk *= o
            keep_b, frozen_b = (masks[0][t0:t1], masks[1][t0:t1]) if masks is not None else ([None] * n,) * 2
            # the block's steps backwards through the processing order, as views
            per_step = _in_order(not reverse, dout[t0:t1], r_blk, dG[t0:t1], dG_ifg[t0:t1], dG_o[t0:t1],
                                 G_f[t0:t1], keep_b, frozen_b)
            for dout_t, r_t, dg_t, dg_ifg, dg_o, f_t, keep, frozen in per_step:
                xp.add(dout_t, carry_h, out=dh)           # dh_t = dout_t + carry_h
                xp.multiply(dh, r_t, out=dc)
                if keep is not None:                      # frozen rows: no gradient into this step
                    dh *= keep
                    dc *= keep
                    xp.multiply(carry_c, keep, out=spare_c)
                    dc += spare_c
                else:
                    dc += carry_c                         # dc_t = carry_c + dh_t * R_t
                dg_ifg *= dc_b                            # [da_i, da_f, da_g] = dc_t * P_t
                dg_o *= dh                                # da_o = dh_t * Q_t
                xp.multiply(dc, f_t, out=spare_c)         # d c_{t-1} = dc_t * f
                xp.matmul(dg_t, w_hh, out=spare_h)        # d h_{t-1} = dG_t @ W_hh
                if frozen is not None:                    # frozen rows pass their carries through
                    xp.copyto(spare_h, carry_h, where=frozen)
                    xp.copyto(spare_c, carry_c, where=frozen)
                carry_h, spare_h = spare_h, carry_h
                carry_c, spare_c = spare_c, carry_c

        need = ctx.needs_input_grad
        dG2 = dG.reshape(T * B, 4 * H)
        dx = (dG2 @ w_ih).reshape(x_shape) if need[0] else None
        dw_hh = _weight_grads(dG, hs[dp:dp + T]) if need[4] else None
        dw_ih, db = _input_grads(dG2, x1, any(has_bias), need[3], any(need[5:]))
        return (dx, carry_h, carry_c, dw_ih, dw_hh) + _bias_grads(has_bias, db, db)


# ---------------------------------------------------------------- LSTM with projections
class LSTMProjSequence(Function):
    """LSTM with projections (torch's proj_size = P > 0) over a sequence: h_t = W_hr (o * tanh(c_t)).

    The cell state c stays H wide; what is output and fed back is projected to P features.
    Forward, per step (A_t = X_t W_ih^T + b_ih + b_hh precomputed for all t)::

        [a_i, a_f, a_g, a_o] = A_t + h_{t-1} W_hh^T          W_hh (4H, P)
        c_t = f * c_{t-1} + i * g
        m_t = o * tanh(c_t)                                   (B, H), the unprojected output
        h_t = m_t W_hr^T                                      W_hr (P, H): (B, P)

    Backward (BPTT) as `LSTMSequence`'s, with the projection in front of each step::

        dh_t  = dout_t + carry_h                              (B, P)
        dm_t  = dh_t @ W_hr                                   (B, H)
        then LSTMSequence's equations with dm_t in place of its dh_t; carry_h = dG_t @ W_hh

    and over all steps at once: dW_hr = dH^T @ M (dH, M stack dh_t, m_t), dW_hh = dG^T @ H_prev,
    [dW_ih | db] = dG^T @ [X | 1], dX = dG @ W_ih.

    A separate op so that `LSTMSequence` (the tuned proj_size = 0 kernel) is left as it is; this one
    is plain array code (NumPy or CuPy), one batch block, without the GPU step kernels.

    Inputs: x, h0 (B, P), c0 (B, H), w_ih, w_hh, w_hr, [b_ih], [b_hh]; outputs: (out, h_n, c_n).
    """

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, w_hr, *biases, has_bias=(True, True), lengths=None, reverse=False):
        xp = get_xp(x)
        T, B, _ = x.shape
        P, H = w_hr.shape
        dt = x.dtype
        b_ih, b_hh = _split_biases(biases, has_bias)
        bias = b_ih if b_hh is None else (b_hh if b_ih is None else b_ih + b_hh)
        scale, add = _gate_affine(xp, "ssts", H, dt)
        G, x1 = _input_projection(x, w_ih, bias, scale)  # (T, B, 4H): becomes the saved gates in place
        whhT = _recurrent_matrix(xp, w_hh, scale)        # (P, 4H), halved sigmoid rows
        whrT = xp.ascontiguousarray(w_hr.T)              # (H, P)
        masks = _masks(xp, lengths, T, B, dt)
        dp, dc = _time_layout(reverse)

        hs = xp.empty((T + 1, B, P), dtype=dt)   # projected h states
        cs = xp.empty((T + 1, B, H), dtype=dt)   # c states
        tcs = xp.empty((T, B, H), dtype=dt)      # tanh(c_t)
        ms = xp.empty((T, B, H), dtype=dt)       # m_t = o * tanh(c_t), the projection's input
        h_prev, c_prev = hs[T * dp], cs[T * dp]
        h_prev[...] = h0
        c_prev[...] = c0
        G_i, G_f, G_g, G_o = G[..., :H], G[..., H:2 * H], G[..., 2 * H:3 * H], G[..., 3 * H:]
        rec = xp.empty((B, 4 * H), dtype=dt)
        ig = xp.empty((B, H), dtype=dt)
        frozen_t = masks[1] if masks is not None else [None] * T
        for gt, i, f, g, o, c, h, tc, m, frozen in _in_order(reverse, G, G_i, G_f, G_g, G_o, cs[dc:dc + T],
                                                             hs[dc:dc + T], tcs, ms, frozen_t):
            xp.matmul(h_prev, whhT, out=rec)
            _lstm_cell_update(xp, gt, rec, scale, add, i, f, g, c_prev, c, tc, ig)
            xp.multiply(o, tc, out=m)            # m_t = o * tanh(c_t)
            xp.matmul(m, whrT, out=h)            # h_t = m_t W_hr^T
            if frozen is not None:               # finished (or not yet started) rows keep their state
                xp.copyto(h, h_prev, where=frozen)
                xp.copyto(c, c_prev, where=frozen)
            h_prev, c_prev = h, c

        out = hs[dc:dc + T]
        if masks is not None:
            out = out * masks[0]
        ctx.save_for_backward(x1, w_ih, w_hh, w_hr, G, hs, cs, tcs, ms)
        ctx.meta = (x.shape, has_bias, masks, reverse)
        return out, hs[T * dc].copy(), cs[T * dc].copy()

    @staticmethod
    def backward(ctx, dout, dh_n, dc_n):
        x1, w_ih, w_hh, w_hr, G, hs, cs, tcs, ms = ctx.saved
        x_shape, has_bias, masks, reverse = ctx.meta
        xp = get_xp(x1)
        T, B, _ = x_shape
        H = cs.shape[-1]
        H2, H3 = 2 * H, 3 * H
        dp, _ = _time_layout(reverse)

        dG = xp.empty((T, B, 4 * H), dtype=x1.dtype)
        dH = xp.empty_like(hs[:T])               # dh_t of every step (masked), for dW_hr
        carry_h, carry_c = dh_n.copy(), dc_n.copy()
        keep_t, frozen_t = masks if masks is not None else ([None] * T, [None] * T)
        per_step = _in_order(not reverse, dout, G, cs[dp:dp + T], tcs, dG, dH, keep_t, frozen_t)
        for dout_t, g_t, c_prev, tc, dg, dh, keep, frozen in per_step:
            i, f, g, o = g_t[:, :H], g_t[:, H:H2], g_t[:, H2:H3], g_t[:, H3:]
            xp.add(dout_t, carry_h, out=dh)      # dh_t = dout_t + carry_h
            if keep is not None:                 # frozen rows: no gradient into this step
                dh *= keep
            dm = dh @ w_hr                       # dm_t = dh_t @ W_hr
            dc = dm * o * (1 - tc * tc) + (carry_c if keep is None else carry_c * keep)
            dg[:, :H] = dc * g * i * (1 - i)                # da_i
            dg[:, H:H2] = dc * c_prev * f * (1 - f)         # da_f
            dg[:, H2:H3] = dc * i * (1 - g * g)             # da_g
            dg[:, H3:] = dm * tc * o * (1 - o)              # da_o
            new_c = dc * f                                  # d c_{t-1}
            new_h = dg @ w_hh                               # d h_{t-1}
            if frozen is not None:               # frozen rows pass their carries through
                xp.copyto(new_h, carry_h, where=frozen)
                xp.copyto(new_c, carry_c, where=frozen)
            carry_h, carry_c = new_h, new_c

        need = ctx.needs_input_grad
        dG2 = dG.reshape(T * B, 4 * H)
        dx = (dG2 @ w_ih).reshape(x_shape) if need[0] else None
        dw_hh = _weight_grads(dG, hs[dp:dp + T]) if need[4] else None
        dw_hr = _weight_grads(dH, ms) if need[5] else None
        dw_ih, db = _input_grads(dG2, x1, any(has_bias), need[3], any(need[6:]))
        return (dx, carry_h, carry_c, dw_ih, dw_hh, dw_hr) + _bias_grads(has_bias, db, db)


# ---------------------------------------------------------------- GRU
class GRUSequence(Function):
    """GRU over a sequence: gates r, z, n; h_t = (1 - z) * n + z * h_{t-1} (computed as n + z (h - n)).

    Forward, per step, torch's formulation (`reset_after=True`)::

        [a_r, a_z] = X_t W_{ir,iz}^T + b_{ir,iz} + h_{t-1} W_{hr,hz}^T + b_{hr,hz}
        r, z       = sigmoid(a_r), sigmoid(a_z)
        gh_n       = h_{t-1} W_hn^T + b_hn
        n          = tanh(X_t W_in^T + b_in + r * gh_n)
        h_t        = n + z * (h_{t-1} - n)

    or the classic one (`reset_after=False`): n = tanh(X_t W_in^T + b_in + (r * h_{t-1}) W_hn^T + b_hn).

    Backward (BPTT), with dh_t = dout_t + carry::

        dn   = dh_t * (1 - z)           dz = dh_t * (h_{t-1} - n)
        da_n = dn * (1 - n**2)
        da_z = dz * z (1 - z)
      reset_after=True:
        dgh_n = da_n * r                da_r = da_n * gh_n * r (1 - r)
        carry = dh_t * z + [da_r, da_z, dgh_n] @ W_hh
        (x side: [da_r, da_z, da_n]; h side: [da_r, da_z, dgh_n])
      reset_after=False (rh = r * h_{t-1}):
        drh   = da_n @ W_hn             da_r = drh * h_{t-1} * r (1 - r)
        carry = dh_t * z + drh * r + [da_r, da_z] @ W_{hr,hz}
        (both sides: [da_r, da_z, da_n]; dW_hn uses rh instead of h_{t-1})

    and over all steps at once: dW_hh = dG_h^T @ H_prev, [dW_ih | db_ih] = dG_x^T @ [X | 1],
    db_hh = sum(dG_h), dX = dG_x @ W_ih (classic: dW_hn = dG_n^T @ (r * H_prev)).

    Inputs: x, h0, w_ih, w_hh, [b_ih], [b_hh]; outputs: (out, h_n).
    """

    @staticmethod
    def forward(ctx, x, h0, *params, **kw):
        return _forward_in_blocks(GRUSequence.forward_rows, ctx, x, (h0,), params, **kw)

    @staticmethod
    def backward(ctx, dout, dh_n):
        return _backward_in_blocks(GRUSequence.backward_rows, ctx, (dout, dh_n))

    @staticmethod
    def forward_rows(ctx, x, h0, w_ih, w_hh, *biases, has_bias=(True, True), lengths=None, reverse=False,
                     reset_after=True):
        """The forward on a batch of rows (all of them, or one block: see `_forward_in_blocks`)."""
        xp = get_xp(x)
        T, B, _ = x.shape
        H = h0.shape[1]
        dt = x.dtype
        H2 = 2 * H
        b_ih, b_hh = _split_biases(biases, has_bias)
        scale, _ = _gate_affine(xp, "sst", H, dt)
        # Every bias that is simply added before an activation goes into the input
        # projection; with reset_after, b_hn sits inside r * (W_hn h + b_hn) and stays apart.
        b_hn = None
        bias = b_ih
        if b_hh is not None:
            if reset_after:
                b_hn = b_hh[H2:]
                b_rz = xp.zeros_like(b_hh)
                b_rz[:H2] = b_hh[:H2]
            else:
                b_rz = b_hh
            bias = b_rz if bias is None else bias + b_rz
        G, x1 = _input_projection(x, w_ih, bias, scale)  # (T, B, 3H): becomes the saved gates r, z, n
        masks = _masks(xp, lengths, T, B, dt)
        dp, dc = _time_layout(reverse)

        hs = xp.empty((T + 1, B, H), dtype=dt)
        h_prev = hs[T * dp]
        h_prev[...] = h0
        side = xp.empty((T, B, H), dtype=dt)  # gh_n (reset_after) or r * h_{t-1} (classic), for backward
        tmp = xp.empty((B, H), dtype=dt)
        if reset_after:
            whhT = _recurrent_matrix(xp, w_hh, scale)  # (H, 3H), halved r, z rows
            rec = xp.empty((B, 3 * H), dtype=dt)
        else:
            whhT_rz = _recurrent_matrix(xp, w_hh[:H2], scale[:H2])  # (H, 2H), halved (both sigmoid)
            whhT_n = _recurrent_matrix(xp, w_hh[H2:])                # (H, H)
            rec = xp.empty((B, H2), dtype=dt)
        frozen_t = masks[1] if masks is not None else [None] * T
        per_step = _in_order(reverse, G[..., :H2], G[..., :H], G[..., H:H2], G[..., H2:], side, hs[dc:dc + T],
                             frozen_t, G)
        kernels = _step_kernels("gru", xp, dt) if reset_after and masks is None else None
        if kernels is not None:
            b_hn_k = xp.zeros(H, dtype=dt) if b_hn is None else xp.ascontiguousarray(b_hn)
        mm = _product(xp, kernels)
        for rz, r, z, n, s, h, frozen, gt in per_step:
            mm(h_prev, whhT if reset_after else whhT_rz, out=rec)
            if kernels is not None:  # GPU: the reset_after lines below in one launch
                kernels.forward(rec, gt, b_hn_k, h_prev, s, h)
                h_prev = h
                continue
            rz += rec[:, :H2]
            xp.tanh(rz, out=rz)                   # r, z = sigmoid = 0.5 tanh(a/2) + 0.5
            rz *= 0.5
            rz += 0.5
            if reset_after:                       # n = tanh(a_xn + r * (W_hn h + b_hn))
                if b_hn is None:
                    s[...] = rec[:, H2:]
                else:
                    xp.add(rec[:, H2:], b_hn, out=s)
                xp.multiply(r, s, out=tmp)
            else:                                 # n = tanh(a_xn + (r * h) W_hn^T + b_hn)
                xp.multiply(r, h_prev, out=s)
                xp.matmul(s, whhT_n, out=tmp)
            n += tmp
            xp.tanh(n, out=n)
            xp.subtract(h_prev, n, out=tmp)       # h_t = n + z * (h_{t-1} - n)
            tmp *= z
            xp.add(n, tmp, out=h)
            if frozen is not None:                # finished (or not yet started) rows keep their state
                xp.copyto(h, h_prev, where=frozen)
            h_prev = h

        out = hs[dc:dc + T]
        if masks is not None:
            out = out * masks[0]
        ctx.save_for_backward(x1, w_ih, w_hh, G, hs, side)
        ctx.meta = (x.shape, has_bias, masks, reverse, reset_after)
        return out, hs[T * dc].copy()

    @staticmethod
    def backward_rows(ctx, dout, dh_n):
        x1, w_ih, w_hh, G, hs, side = ctx.saved
        x_shape, has_bias, masks, reverse, reset_after = ctx.meta
        xp = get_xp(x1)
        T, B, _ = x_shape
        H = hs.shape[-1]
        dt = x1.dtype
        H2 = 2 * H
        dp, _ = _time_layout(reverse)

        # dGh: the gradient w.r.t. the h-side pre-activations (B, 3H) per step; with
        # reset_after its n block (dgh_n = da_n * r) differs from the x side's da_n,
        # which then goes to dAn. Classic: one dG serves both sides.
        dGh = xp.empty((T, B, 3 * H), dtype=dt)
        dAn = xp.empty((T, B, H), dtype=dt) if reset_after else None
        carry, spare = dh_n.copy(), xp.empty_like(dh_n)
        dh = xp.empty_like(dh_n)
        tmp = xp.empty_like(dh_n)
        drz = xp.empty((B, H2), dtype=dt)
        w_hh_rz, w_hh_n = w_hh[:H2], w_hh[H2:]
        keep_t, frozen_t = masks if masks is not None else ([None] * T,) * 2
        dan_slots = dAn if reset_after else dGh[..., H2:]  # where da_n is stored
        kernels = _step_kernels("gru", xp, dt) if reset_after and masks is None else None
        if kernels is not None:
            dout = xp.ascontiguousarray(dout)          # the kernel reads rows as flat memory
            # d h_{t-1} = dG_h @ W_hh + dh_t * z: the kernel keeps the second term in `skip` and
            # adds it at the next step, so a step is one kernel and one product
            skip = xp.zeros_like(dh_n)
        mm = _product(xp, kernels)
        per_step = _in_order(not reverse, dout, G[..., :H2], G[..., :H], G[..., H:H2], G[..., H2:],
                             hs[dp:dp + T], dGh, dan_slots, side, keep_t, frozen_t, G)
        for dout_t, rz, r, z, n, h_prev, dgt, dan, s, keep, frozen, g_t in per_step:
            if kernels is not None:  # GPU: the reset_after lines below in one launch; skip = dh * z
                kernels.backward(dout_t, carry, g_t, h_prev, s, dgt, skip, dan)
                mm(dgt, w_hh, out=carry)       # the kernel has read carry: overwrite it
                continue
            xp.add(dout_t, carry, out=dh)             # dh_t = dout_t + carry
            if keep is not None:
                dh *= keep                            # frozen rows: no gradient into this step
            # dz = dh (h_{t-1} - n) -> slot z
            xp.subtract(h_prev, n, out=tmp)
            xp.multiply(dh, tmp, out=dgt[:, H:H2])
            # da_n = dh (1 - z) (1 - n**2)
            xp.subtract(1, z, out=tmp)
            xp.multiply(dh, tmp, out=dan)
            xp.multiply(n, n, out=tmp)
            xp.subtract(1, tmp, out=tmp)
            dan *= tmp
            if reset_after:
                xp.multiply(dan, s, out=dgt[:, :H])         # dr = da_n * gh_n
                xp.multiply(dan, r, out=dgt[:, H2:])        # dgh_n = da_n * r
            else:
                xp.matmul(dan, w_hh_n, out=tmp)             # drh = da_n @ W_hn
                xp.multiply(tmp, h_prev, out=dgt[:, :H])    # dr = drh * h_{t-1}
                tmp *= r                                    # drh * r: part of d h_{t-1}
            # through the sigmoids: da_{r,z} = d{r,z} * y (1 - y)
            xp.subtract(1, rz, out=drz)
            drz *= rz
            dgt[:, :H2] *= drz
            # carry = dh * z + (reset_after: dG_h @ W_hh | classic: drh * r + dG_rz @ W_hr,hz)
            if reset_after:
                xp.matmul(dgt, w_hh, out=spare)
            else:
                xp.matmul(dgt[:, :H2], w_hh_rz, out=spare)
                spare += tmp
            xp.multiply(dh, z, out=tmp)
            spare += tmp
            if frozen is not None:                    # frozen rows pass their carry through
                xp.copyto(spare, carry, where=frozen)
            carry, spare = spare, carry
        if kernels is not None:
            carry += skip                             # the last step's dh * z

        need = ctx.needs_input_grad
        h_prev = hs[dp:dp + T]
        TB = T * B
        dx = dw_ih = dw_hh = db_ih = db_hh = None
        dGh2 = dGh.reshape(TB, 3 * H)
        need_b = any(need[4:])
        if reset_after:
            # x side = [da_r, da_z | da_n]: the first 2H columns of dG_h, then dAn; the
            # two row blocks of dW_ih (and db_ih, via the [X | 1] column) come separately.
            dAn2 = dAn.reshape(TB, H)
            if need[0]:
                dx = (dGh2[:, :H2] @ w_ih[:H2] + dAn2 @ w_ih[H2:]).reshape(x_shape)
            dw_rz, db_rz = _input_grads(dGh2[:, :H2], x1, any(has_bias), need[2], need_b)
            dw_n, db_n = _input_grads(dAn2, x1, any(has_bias), need[2], need_b)
            if need[2]:
                dw_ih = xp.concatenate([dw_rz, dw_n], axis=0)
            if need[3]:
                dw_hh = _weight_grads(dGh, h_prev)
            if need_b:
                db_ih = xp.concatenate([db_rz, db_n])
                db_hh = xp.concatenate([db_rz, dGh2[:, H2:].sum(axis=0)])  # b_hn: inside r * (...)
        else:
            if need[0]:
                dx = (dGh2 @ w_ih).reshape(x_shape)
            if need[3]:
                dw_hh = xp.empty((3 * H, H), dtype=dt)
                xp.matmul(dGh2[:, :H2].T, h_prev.reshape(TB, H), out=dw_hh[:H2])
                xp.matmul(dGh2[:, H2:].T, side.reshape(TB, H), out=dw_hh[H2:])  # rows of rh
            dw_ih, db_ih = _input_grads(dGh2, x1, any(has_bias), need[2], need_b)
            db_hh = db_ih
        return (dx, carry, dw_ih, dw_hh) + _bias_grads(has_bias, db_ih, db_hh)


# ---------------------------------------------------------------- row blocks on parallel threads
class _Block:
    """The ctx of one row block's kernel: what it saved, and its metadata."""

    saved = ()

    def __init__(self, needs_input_grad=None):
        self.needs_input_grad = needs_input_grad

    def save_for_backward(self, *arrays):
        self.saved = arrays


def _forward_in_blocks(kernel, ctx, x, states, params, lengths=None, **kw):
    """Run a sequence op's forward `kernel` on the whole batch, or on row blocks in parallel.

    The recurrence never mixes batch rows, so rows [a, b) of a batch run exactly as a
    batch of their own would. On a multi-core CPU, a large batch is cut into one block
    per core (`backend.row_blocks`), each running the whole kernel on its own thread
    with single-threaded BLAS; the outputs are joined along the batch. One block (the
    usual case, and always on a GPU) is the kernel on the whole batch, ctx and all.
    """
    xp = get_xp(x)
    blocks = _B.row_blocks(xp, x.shape[1])
    if len(blocks) == 1:
        return kernel(ctx, x, *states, *params, lengths=lengths, **kw)

    def work(k, rows):
        sub = _Block()
        lens = None if lengths is None else lengths[rows]
        return sub, kernel(sub, x[:, rows], *[s[rows] for s in states], *params, lengths=lens, **kw)

    done = _B.run_blocks(blocks, work)
    ctx.blocks = [(rows, sub) for rows, (sub, _) in zip(blocks, done)]
    ctx.save_for_backward(*[a for _, sub in ctx.blocks for a in sub.saved])  # for version checks and freeing
    outs = [o for _, o in done]
    out = xp.concatenate([o[0] for o in outs], axis=1)  # (T, B, H): batch is axis 1
    return (out,) + tuple(xp.concatenate([o[j] for o in outs]) for j in range(1, len(outs[0])))


def _sum_of(arrays):
    """arrays[0] + arrays[1] + ... as a new array (a kernel may return one array twice: db_ih is db_hh)."""
    total = arrays[0] + arrays[1]
    for a in arrays[2:]:
        total += a
    return total


def _backward_in_blocks(kernel, ctx, grads):
    """The backward of `_forward_in_blocks`: each block's `kernel` on its rows of the gradients.

    The gradients of x and of the initial states are joined along the batch; those of
    the weights and biases (shared by all rows) are the sums of the blocks' gradients.
    """
    blocks = ctx.__dict__.get("blocks")
    if blocks is None:
        return kernel(ctx, *grads)
    need = ctx.needs_input_grad
    n_states = len(grads) - 1  # one gradient per output: out and each final state

    def work(k, rows):
        sub = blocks[k][1]
        sub.needs_input_grad = need
        return kernel(sub, grads[0][:, rows], *[g[rows] for g in grads[1:]])

    done = _B.run_blocks([rows for rows, _ in blocks], work)
    xp = get_xp(grads[0])
    dx = None if done[0][0] is None else xp.concatenate([d[0] for d in done], axis=1)
    d_states = tuple(None if done[0][j] is None else xp.concatenate([d[j] for d in done])
                     for j in range(1, 1 + n_states))
    d_params = tuple(None if done[0][j] is None else _sum_of([d[j] for d in done])
                     for j in range(1 + n_states, len(done[0])))
    return (dx,) + d_states + d_params


# ---------------------------------------------------------------- argument checks
def _check_lengths(op: str, lengths, T: int, B: int):
    """Host tuple of ints from None / list / tuple / NumPy / integer Tensor; 1 <= len <= T."""
    if lengths is None:
        return None
    if isinstance(lengths, Tensor):
        if lengths.dtype.kind not in "iu":
            raise TypeError(f"{op}: lengths must hold integers, got a {describe(lengths)} tensor")
        arr = lengths.numpy()
    elif _B.is_array(lengths):
        arr = _B.to_device(lengths, "cpu")
    else:
        if isinstance(lengths, numbers.Integral):
            raise TypeError(f"{op}: lengths must be a sequence of {B} ints (one per batch element), "
                            f"got the int {lengths!r}")
        try:
            arr = np.asarray(lengths)
        except (TypeError, ValueError):
            arr = None
        if arr is None or (arr.size and arr.dtype.kind not in "iu"):
            raise TypeError(f"{op}: lengths must be a sequence of ints, got {lengths!r}")
    if arr.dtype.kind not in "iu":
        if arr.size == 0:
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"{op}: lengths must hold integers, got dtype {arr.dtype}")
    if arr.shape != (B,):
        raise ValueError(f"{op}: lengths must have one entry per batch element, shape ({B},), "
                         f"got shape {tuple(arr.shape)}")
    if B and (arr.min() < 1 or arr.max() > T):
        raise ValueError(f"{op}: every length must be in [1, T={T}], got {arr.tolist()}")
    return tuple(int(v) for v in arr)


def _check_args(op: str, x, states, w_ih, w_hh, b_ih, b_hh, gates: int):
    """Types, shapes, dtypes and devices of a sequence op's arguments; returns (T, B, I, H)."""
    named = [("x", x)] + list(states) + [("w_ih", w_ih), ("w_hh", w_hh), ("b_ih", b_ih), ("b_hh", b_hh)]
    for name, t in named:
        if t is None and name in ("b_ih", "b_hh"):
            continue
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a minigrad Tensor, got {type(t).__name__}")
    if x.ndim != 3:
        raise ValueError(f"{op}: x must be 3-D (T, B, input_size), time-major, got {describe(x)}")
    T, B, I = x.shape
    if T < 1:
        raise ValueError(f"{op}: x must have at least one time step, got {describe(x)}")
    h0 = states[0][1]
    if h0.ndim != 2:
        raise ValueError(f"{op}: h0 must be 2-D (B, hidden_size), got {describe(h0)}")
    H = h0.shape[1]
    expected = {"w_ih": (gates * H, I), "w_hh": (gates * H, H), "b_ih": (gates * H,), "b_hh": (gates * H,)}
    for name, t in states:
        expected[name] = (B, H)
    for name, t in named[1:]:
        if t is not None and tuple(t.shape) != expected[name]:
            raise ValueError(f"{op}: {name} must have shape {expected[name]} (T={T}, B={B}, input_size={I}, "
                             f"hidden_size={H}, {gates} gate(s)), got {describe(t)}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected floating-point tensors, got x {describe(x)}; convert with .float()")
    for name, t in named[1:]:
        if t is None:
            continue
        if t.dtype != x.dtype:
            raise TypeError(f"{op}: dtype mismatch: x is {describe(x)} but {name} is {describe(t)}; "
                            "convert with .float() or .double() (no silent upcast)")
        if t.device != x.device:
            raise RuntimeError(f"{op}: expected all tensors on one device: x is {describe(x)} but {name} is "
                               f"{describe(t)}; move one with .to(device)")
    return T, B, I, H


def _inputs_and_flags(b_ih, b_hh):
    biases = tuple(b for b in (b_ih, b_hh) if b is not None)
    return biases, (b_ih is not None, b_hh is not None)


# ---------------------------------------------------------------- public wrappers
def rnn_sequence(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh", lengths=None, reverse=False):
    """Run an Elman RNN over a whole (time-major) sequence as one fused op.

    h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act = tanh or relu.

    Args:
        x: (T, B, I) inputs. h0: (B, H) initial state.
        w_ih: (H, I); w_hh: (H, H); b_ih, b_hh: (H,) or None (torch's layout).
        nonlinearity: "tanh" or "relu".
        lengths: None, or B ints (list, NumPy array or integer Tensor) with 1 <= lengths[b] <= T:
            outputs at t >= lengths[b] are zero and h_n[b] is the state after step lengths[b] - 1.
        reverse: run from the last (valid) step down to t = 0; outputs stay at their time positions.

    Returns:
        (out, h_n): out (T, B, H), the state after each step; h_n (B, H), the final state.
    """
    op = "rnn_sequence"
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{op}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    T, B, _, _ = _check_args(op, x, [("h0", h0)], w_ih, w_hh, b_ih, b_hh, 1)
    lengths = _check_lengths(op, lengths, T, B)
    biases, has_bias = _inputs_and_flags(b_ih, b_hh)
    return RNNSequence.apply(x, h0, w_ih, w_hh, *biases, has_bias=has_bias, nonlinearity=nonlinearity,
                             lengths=lengths, reverse=bool(reverse))


def lstm_sequence(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None, reverse=False):
    """Run an LSTM over a whole (time-major) sequence as one fused op.

    c_t = f * c_{t-1} + i * g, h_t = o * tanh(c_t), gates i, f, g, o stacked in that order.

    Args:
        x: (T, B, I) inputs. h0, c0: (B, H) initial states.
        w_ih: (4H, I); w_hh: (4H, H); b_ih, b_hh: (4H,) or None (torch's layout).
        lengths: None, or B ints with 1 <= lengths[b] <= T (see `rnn_sequence`).
        reverse: run from each sequence's last valid step down to t = 0.

    Returns:
        (out, h_n, c_n): out (T, B, H); h_n, c_n (B, H), the final states.
    """
    op = "lstm_sequence"
    T, B, _, _ = _check_args(op, x, [("h0", h0), ("c0", c0)], w_ih, w_hh, b_ih, b_hh, 4)
    lengths = _check_lengths(op, lengths, T, B)
    biases, has_bias = _inputs_and_flags(b_ih, b_hh)
    return LSTMSequence.apply(x, h0, c0, w_ih, w_hh, *biases, has_bias=has_bias, lengths=lengths,
                              reverse=bool(reverse))


def lstm_proj_sequence(x, h0, c0, w_ih, w_hh, w_hr, b_ih=None, b_hh=None, lengths=None, reverse=False):
    """Run an LSTM with projections (torch's proj_size) over a whole (time-major) sequence as one fused op.

    c_t = f * c_{t-1} + i * g, h_t = W_hr (o * tanh(c_t)), gates i, f, g, o stacked in that order.

    Args:
        x: (T, B, I) inputs. h0: (B, P), c0: (B, H) initial states.
        w_ih: (4H, I); w_hh: (4H, P); w_hr: (P, H); b_ih, b_hh: (4H,) or None (torch's layout).
        lengths: None, or B ints with 1 <= lengths[b] <= T (see `rnn_sequence`).
        reverse: run from each sequence's last valid step down to t = 0.

    Returns:
        (out, h_n, c_n): out (T, B, P); h_n (B, P), c_n (B, H), the final states.
    """
    op = "lstm_proj_sequence"
    named = [("x", x), ("h0", h0), ("c0", c0), ("w_ih", w_ih), ("w_hh", w_hh), ("w_hr", w_hr),
             ("b_ih", b_ih), ("b_hh", b_hh)]
    for name, t in named:
        if not isinstance(t, Tensor) and not (t is None and name in ("b_ih", "b_hh")):
            raise TypeError(f"{op}: {name} must be a minigrad Tensor, got {type(t).__name__}")
    if x.ndim != 3 or x.shape[0] < 1:
        raise ValueError(f"{op}: x must be 3-D (T, B, input_size), time-major, with T >= 1, got {describe(x)}")
    if w_hr.ndim != 2:
        raise ValueError(f"{op}: w_hr must be 2-D (proj_size, hidden_size), got {describe(w_hr)}")
    T, B, I = x.shape
    P, H = w_hr.shape
    expected = {"h0": (B, P), "c0": (B, H), "w_ih": (4 * H, I), "w_hh": (4 * H, P), "w_hr": (P, H),
                "b_ih": (4 * H,), "b_hh": (4 * H,)}
    for name, t in named[1:]:
        if t is not None and tuple(t.shape) != expected[name]:
            raise ValueError(f"{op}: {name} must have shape {expected[name]} (T={T}, B={B}, input_size={I}, "
                             f"hidden_size={H}, proj_size={P}), got {describe(t)}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected floating-point tensors, got x {describe(x)}; convert with .float()")
    for name, t in named[1:]:
        if t is not None and t.dtype != x.dtype:
            raise TypeError(f"{op}: dtype mismatch: x is {describe(x)} but {name} is {describe(t)}; "
                            "convert with .float() or .double() (no silent upcast)")
        if t is not None and t.device != x.device:
            raise RuntimeError(f"{op}: expected all tensors on one device: x is {describe(x)} but {name} is "
                               f"{describe(t)}; move one with .to(device)")
    lengths = _check_lengths(op, lengths, T, B)
    biases, has_bias = _inputs_and_flags(b_ih, b_hh)
    return LSTMProjSequence.apply(x, h0, c0, w_ih, w_hh, w_hr, *biases, has_bias=has_bias, lengths=lengths,
                                  reverse=bool(reverse))


def gru_sequence(x, h0, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None, reverse=False, reset_after=True):
    """Run a GRU over a whole (time-major) sequence as one fused op.

    h_t = (1 - z) * n + z * h_{t-1}, gates r, z, n stacked in that order;
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) (torch, reset_after=True) or
    n = tanh(W_in x + b_in + W_hn (r * h) + b_hn) (classic, reset_after=False).

    Args:
        x: (T, B, I) inputs. h0: (B, H) initial state.
        w_ih: (3H, I); w_hh: (3H, H); b_ih, b_hh: (3H,) or None (torch's layout).
        lengths: None, or B ints with 1 <= lengths[b] <= T (see `rnn_sequence`).
        reverse: run from each sequence's last valid step down to t = 0.
        reset_after: where the reset gate applies (see above).

    Returns:
        (out, h_n): out (T, B, H); h_n (B, H).
    """
    op = "gru_sequence"
    T, B, _, _ = _check_args(op, x, [("h0", h0)], w_ih, w_hh, b_ih, b_hh, 3)
    lengths = _check_lengths(op, lengths, T, B)
    biases, has_bias = _inputs_and_flags(b_ih, b_hh)
    return GRUSequence.apply(x, h0, w_ih, w_hh, *biases, has_bias=has_bias, lengths=lengths,
                             reverse=bool(reverse), reset_after=bool(reset_after))
