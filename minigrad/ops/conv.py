"""1-D convolution and pooling over (N, C, L) inputs, torch's layout: conv1d, max_pool1d, avg_pool1d.

All three look at windows of the length axis: output position l reads the input
positions l*stride + j*dilation (j = 0..k-1) of the padded input. The forward
gathers those windows into a "column" array cols[n, c, l, j] (im2col) and reduces
it: one matmul with the weights for a convolution, a max or a mean for pooling.
The backward does the reverse (col2im): for each kernel position j, the gradient of
cols[..., j] is added back onto the strided slice of input positions it was read
from. Kernels are small, so this loop over j costs k strided additions.
Max pooling (1-D and 2-D) reads the taps from `PoolWindows`, the padded input laid out
by stride phase so that each tap of all windows is one contiguous slice.
"""
from __future__ import annotations

import itertools
import math
import numbers

from .. import backend as _B
from ..autograd import Function
from ..tensor import Tensor, _wrap
from .common import c_order, check_float, describe
from .shape import reshape
from .. import amp as _amp

get_xp = _B.get_array_module


# ---------------------------------------------------------------- window helpers (raw arrays)
def _padded(xp, x, left, right, value):
    """x with `left`/`right` positions of `value` added to its last axis (a fresh array)."""
    if not left and not right:
        return x
    out = xp.full(x.shape[:-1] + (x.shape[-1] + left + right,), value, dtype=x.dtype)
    out[..., left:left + x.shape[-1]] = x
    return out


def _im2col(xp, xpad, k, stride, dilation, l_out):
    """cols[..., l, j] = xpad[..., l*stride + j*dilation]: the (..., L_out, k) windows, one gather."""
    idx = xp.arange(l_out)[:, None] * stride + xp.arange(k)[None, :] * dilation
    return xpad[..., idx]


def _col2im(xp, dcols, padded_len, stride, dilation, left, length):
    """The adjoint of `_im2col` followed by cropping the padding: dx[..., l*stride + j*dilation - left] += dcols[..., l, j].

    For a fixed j the positions l*stride + j*dilation are distinct, so each j is one strided slice addition.
    """
    l_out, k = dcols.shape[-2], dcols.shape[-1]
    dpad = xp.zeros(dcols.shape[:-2] + (padded_len,), dtype=dcols.dtype)
    if l_out:
        for j in range(k):
            start = j * dilation
            dpad[..., start:start + stride * (l_out - 1) + 1:stride] += dcols[..., j]
    return dpad[..., left:left + length]


# ---------------------------------------------------------------- Functions
class Conv1d(Function):
    """y[n, o, l] = b[o] + sum_{c, j} w[o, c, j] x[n, g*Cg + c, l*s + j*d - pad] (g = o's group);
    dw[o, c, j] = sum_{n, l} dy[n, o, l] cols[n, c, l, j], dcols = w^T dy (then col2im), db = sum_{n, l} dy.
    """

    @staticmethod
    def forward(ctx, x, w, *bias, stride, padding, dilation, groups):
        xp = get_xp(x)
        cols, l_out = Conv1d._cols(xp, x, w.shape, stride, padding, dilation, groups)  # (N, G, L_out, Cg*k)
        n, o = x.shape[0], w.shape[0]
        wmat = w.reshape(groups, o // groups, -1)  # (G, Og, Cg*k)
        # one matmul per group over all N * L_out windows (a view when G = 1): (G, N*L_out, Og)
        cols = Conv1d._by_group(cols)
        y = cols @ wmat.transpose(0, 2, 1)
        y = y.reshape(groups, n, l_out, o // groups).transpose(1, 0, 3, 2).reshape(n, o, l_out)
        if bias:
            y = y + bias[0][:, None]
        # the windows are kept for dw (k times x's size) rather than gathered again in backward
        ctx.save_for_backward(w, cols)
        ctx.conf = (x.shape, stride, padding, dilation, groups)
        return c_order(y)  # (the reshape above keeps a permuted x's layout in some shapes; torch's y is C order)

    @staticmethod
    def _cols(xp, x, wshape, stride, padding, dilation, groups):
        """The windows of x grouped for the matmul: (N, G, L_out, Cg*k), channel-major within a group."""
        n, c, length = x.shape
        _, cg, k = wshape
        xpad = _padded(xp, x, padding[0], padding[1], 0)
        l_out = (xpad.shape[-1] - dilation * (k - 1) - 1) // stride + 1
        cols = _im2col(xp, xpad, k, stride, dilation, l_out)  # (N, C, L_out, k)
        cols = cols.reshape(n, groups, cg, l_out, k).transpose(0, 1, 3, 2, 4)
        return cols.reshape(n, groups, l_out, cg * k), l_out

    @staticmethod
    def _by_group(a):
        """(N, G, L, D) -> (G, N*L, D): the windows of each group as the rows of one matrix."""
        n, groups, length, d = a.shape
        return a.transpose(1, 0, 2, 3).reshape(groups, n * length, d)

    @staticmethod
    def backward(ctx, g):
        w, cols = ctx.saved
        (n, c, length), stride, padding, dilation, groups = ctx.conf
        need = ctx.needs_input_grad
        xp = get_xp(g)
        o, cg, k = w.shape
        l_out = g.shape[-1]
        gy = g.reshape(n, groups, o // groups, l_out)  # (N, G, Og, L_out)
        gx = gw = None
        if need[0]:
            # (G, N*L_out, Og) @ (G, Og, Cg*k): one matmul per group
            dcols = Conv1d._by_group(gy.transpose(0, 1, 3, 2)) @ w.reshape(groups, o // groups, cg * k)
            dcols = dcols.reshape(groups, n, l_out, cg, k).transpose(1, 0, 3, 2, 4).reshape(n, c, l_out, k)
            gx = _col2im(xp, dcols, length + padding[0] + padding[1], stride, dilation, padding[0], length)
        if need[1]:  # sum over n and l at once: (G, Og, N*L_out) @ (G, N*L_out, Cg*k)
            gw = (gy.transpose(1, 2, 0, 3).reshape(groups, o // groups, n * l_out) @ cols).reshape(o, cg, k)
        if len(need) == 2:
            return gx, gw
        return gx, gw, (g.sum(axis=(0, 2)) if need[2] else None)


def _first_tap_at_or_after_0(xp, l_out, stride, padding, dilation):
    """Per window, its first tap position >= 0: torch's starting index for the winner's scan (the
    index it returns when no tap wins). It is in the input unless every tap is padding, which dilation
    allows (length 1, k = 2, padding 1, dilation 2: taps -1 and 1); then it is past the input's end."""
    start = xp.arange(l_out) * stride - padding
    return start + (xp.maximum(-start, 0) + dilation - 1) // dilation * dilation


class PoolWindows:
    """The -inf-padded input of a max pool (1-D or 2-D) laid out so that each kernel tap is ONE contiguous slice.

    Tap i of output window h reads padded position h*s + i*d (per spatial axis). Split each padded
    axis by the stride, position q*s + r -> phase r at index q: the tap then reads phase (i*d) % s at
    index h + (i*d) // s. With each phase stored as (N*C, *m) and flattened, that is flat(h) plus a
    constant shift, so the tap over all samples, channels and windows is one 1-D slice of `buf`.
    NumPy then runs each elementwise op as one long contiguous loop instead of one short strided loop
    per output row (for rows of 14-32 windows those ops are 5-7x slower than contiguous ones).

    The flat index covers m >= out "wide" windows per axis (m * s spans the padded input and the last
    window); the extra ones read padding or the next row and are dropped (their gradient is 0).

    Winner rule (torch's CPU kernels): a window's scan over its real (non-padding) taps in order takes
    a value that is greater than the best so far or NaN. So the first maximum wins, the LAST NaN wins
    a window holding NaN, a window of -inf values goes to its first real tap, and a window of padding
    only (dilation allows it) has no winner.
    """

    def __init__(self, xp, x, kernel, stride, padding, dilation, out):
        self.xp, self.shape, self.out = xp, x.shape, tuple(out)
        self.conf = kernel, stride, padding, dilation
        self.nc, size = x.shape[0] * x.shape[1], x.shape[2:]  # (explicit sizes: N or C may be 0)
        self.m = m = tuple(-(-max(size[a] + padding[a], (out[a] - 1) * stride[a] + dilation[a] * (kernel[a] - 1) + 1)
                             // stride[a]) for a in range(len(size)))
        self.kernel_taps = list(itertools.product(*(range(k) for k in kernel)))  # (i, j), row-major: the scan's order
        self.taps = []  # (phase number, shift) of each tap
        for tap in self.kernel_taps:
            phase = shift = 0
            for a, i in enumerate(tap):
                phase = phase * stride[a] + i * dilation[a] % stride[a]
                shift = shift * m[a] + i * dilation[a] // stride[a]
            self.taps.append((phase, shift))
        self.size = self.nc * math.prod(m)
        shape = (math.prod(stride), self.size + max(shift for _, shift in self.taps))  # (the last row's wide
        if all(padding[a] == 0 and m[a] * stride[a] == size[a] for a in range(len(size))):  # windows read past it)
            self.buf = xp.empty(shape, dtype=x.dtype)  # the input fills the phases: only the tail is padding
            self.buf[:, self.size:] = -math.inf
        else:
            self.buf = xp.full(shape, -math.inf, dtype=x.dtype)
        self._move(x, self.buf, into_phases=True)
        self.quick = False  # see output()

    def _move(self, a, buf, into_phases):
        """Copy the (N, C, *size) array a into the phases of buf at the input's positions, or back from them."""
        kernel, stride, padding, dilation = self.conf
        size = self.shape[2:]
        flat = a.reshape((self.nc,) + size)
        phases = buf[:, :self.size].reshape((len(buf), self.nc) + self.m)
        for number, r in enumerate(itertools.product(*(range(s) for s in stride))):
            # phase index q holds padded position q*s + r = input position q*s + r - padding
            lo = [max(0, -(-(padding[a] - r[a]) // stride[a])) for a in range(len(size))]
            hi = [min(self.m[a], -(-(size[a] + padding[a] - r[a]) // stride[a])) for a in range(len(size))]
            if any(h <= q for h, q in zip(hi, lo)):
                continue  # (no input position in this phase)
            first = [lo[a] * stride[a] + r[a] - padding[a] for a in range(len(size))]
            inside = (number, slice(None)) + tuple(slice(q, h) for q, h in zip(lo, hi))
            positions = (slice(None),) + tuple(slice(f, f + (h - q - 1) * s + 1, s)
                                               for f, q, h, s in zip(first, lo, hi, stride))
            if into_phases:
                phases[inside] = flat[positions]
            else:
                flat[positions] = phases[inside]

    def tap(self, t, buf=None):
        """Tap t of every wide window: a contiguous 1-D slice of buf (default: the padded input)."""
        phase, shift = self.taps[t]
        return (self.buf if buf is None else buf)[phase, shift:shift + self.size]

    def maximum(self):
        """The running maximum over the taps (NaN propagates), one per wide window.

        On a tie NumPy's maximum returns its second operand; that only shows for -0.0 against 0.0,
        where torch keeps the earlier tap's sign: so the running maximum is the second operand.
        """
        xp = self.xp
        best = self.tap(0).copy()
        for t in range(1, len(self.taps)):
            xp.maximum(self.tap(t), best, out=best)
        return best

    @property
    def _real(self):
        """Index of the real windows in a wide array shaped (N*C, *m)."""
        return (slice(None),) + tuple(slice(0, o) for o in self.out)

    def valid(self, a):
        """The real windows' entries of a wide (size,) array, as a fresh (N, C, *out) array (never a view:
        the output may be changed in place before backward, which reads `best`)."""
        return a.reshape((self.nc,) + self.m)[self._real].reshape(self.shape[:2] + self.out).copy()

    def output(self, best):
        """The pool's output from the wide maximum; notes whether `backward` may take the quick winner rule."""
        y = self.valid(best)
        # no NaN and no -inf maximum: the winner is the first tap equal to the maximum (padding is -inf, so it
        # never is); checked here, on the contiguous output, where it is cheap (never on a GPU: a host sync)
        self.quick = self.xp is _B.np and bool((y > -math.inf).all())
        return y

    def _inside(self, t):
        """Bool mask over the wide windows (shape m): those whose tap t is a real input position."""
        kernel, stride, padding, dilation = self.conf
        tap = self.kernel_taps[t]
        xp, mask = self.xp, True
        for a, i in enumerate(tap):
            pos = xp.arange(self.m[a]) * stride[a] + i * dilation[a] - padding[a]
            ok = ((pos >= 0) & (pos < self.shape[2 + a])).reshape((-1,) + (1,) * (len(tap) - 1 - a))
            mask = mask & ok
        return mask

    def winners(self, best):
        """The winning tap of each wide window (int64; -1: none), by the scan's rule (see the class)."""
        xp = self.xp
        shape = (self.nc,) + self.m
        best = best.reshape(shape)
        arg = xp.full(best.shape, -1, dtype=xp.int64)
        for t in range(len(self.taps)):  # (elementwise: no host sync on a GPU, unlike a[mask] = t)
            v = self.tap(t).reshape(shape)
            first_max = (v == best) & (arg < 0)  # NaN == NaN is False: a NaN window is left to the next term
            arg = xp.where(self._inside(t) & (first_max | (v != v)), t, arg)
        return arg.reshape(-1)

    def backward(self, best, g):
        """dx: each window's dy added at its winner (the scan order's first or, for NaN, last; see the class)."""
        xp = self.xp
        if self.m == self.out:
            gw = g.reshape(-1)
        else:
            gw = xp.zeros((self.nc,) + self.m, dtype=g.dtype)
            gw[self._real] = g.reshape((self.nc,) + self.out)
            gw = gw.reshape(-1)  # dy of the wide windows, 0 for the dropped ones
        arg = None if self.quick else self.winners(best)
        # dy * mask = where(mask, dy, 0) for finite dy (its -0.0s add nothing: the sums start at +0.0), and
        # NumPy's where with a scattered mask is 5-8x slower than the product
        product = xp is _B.np and bool(xp.isfinite(gw).all())
        claimed = xp.zeros(self.size, dtype=bool) if arg is None else None  # windows whose winner got its dy
        dbuf = xp.zeros(self.buf.shape, dtype=g.dtype)
        for t in range(len(self.taps)):
            if arg is None:
                hit = self.tap(t) == best
                first = hit > claimed  # hit, and no earlier tap did
                claimed |= hit
            else:
                first = arg == t
            # a tap's positions are distinct, so += is exact; the taps are added in scan order, as before
            self.tap(t, dbuf)[...] += gw * first if product else xp.where(first, gw, 0)
        dx = xp.empty(self.shape, dtype=g.dtype)
        self._move(dx, dbuf, into_phases=False)
        return dx


def _window_max(xp, x, k, stride, padding, dilation, l_out):
    """(max over each window, index j of the tap that wins it, -1 for none: torch's rule, see PoolWindows)."""
    win = PoolWindows(xp, x, (k,), (stride,), (padding,), (dilation,), (l_out,))
    best = win.maximum()
    return win.valid(best), win.valid(win.winners(best))


class MaxPool1d(Function):
    """y[n, c, l] = max_j x[n, c, l*s + j*d - pad];  dx gets dy at the first maximum of each window (0 elsewhere)

    The forward is a running maximum over the k tap slices of the padded input (`PoolWindows`); the
    backward finds each window's winner from the maximum: the first tap equal to it, in window order.
    """

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, dilation, l_out):
        win = PoolWindows(get_xp(x), x, (kernel_size,), (stride,), (padding,), (dilation,), (l_out,))
        best = win.maximum()
        ctx.win = win
        ctx.save_for_backward(best)
        return win.output(best)

    @staticmethod
    def backward(ctx, g):
        (best,) = ctx.saved
        return ctx.win.backward(best, g)


class AvgPool1d(Function):
    """y[n, c, l] = sum_j x[n, c, l*s + j - pad] / div[l] (div: window size, or only its in-input part);
    dx[n, c, l*s + j - pad] += dy[n, c, l] / div[l]
    """

    @staticmethod
    def forward(ctx, x, kernel_size, stride, padding, l_out, count_include_pad):
        xp = get_xp(x)
        length = x.shape[-1]
        k = kernel_size
        right = max(0, (l_out - 1) * stride + k - length - padding)
        cols = _im2col(xp, _padded(xp, x, padding, right, 0), k, stride, 1, l_out)
        div = AvgPool1d._divisor(xp, length, k, stride, padding, l_out, count_include_pad, x.dtype)
        ctx.save_for_backward(div)
        ctx.conf = (length, k, stride, padding, length + padding + right)
        return c_order(cols.sum(axis=-1) / div)  # (C order, as torch's, whatever x's layout)

    @staticmethod
    def _divisor(xp, length, k, stride, padding, l_out, count_include_pad, dtype):
        """torch's rule: a window is clipped to [-pad, L + pad); without count_include_pad, to [0, L)."""
        start = xp.arange(l_out) * stride - padding
        end = xp.minimum(start + k, length + padding)
        if not count_include_pad:
            start, end = xp.maximum(start, 0), xp.minimum(end, length)
        return (end - start).astype(dtype)

    @staticmethod
    def backward(ctx, g):
        length, k, stride, padding, padded_len = ctx.conf
        xp = get_xp(g)
        (div,) = ctx.saved
        share = g / div  # each of the window's k positions receives dy / div
        dcols = xp.broadcast_to(share[..., None], share.shape + (k,))
        return _col2im(xp, dcols, padded_len, stride, 1, padding, length)


# ---------------------------------------------------------------- argument checks
def _int_arg(op, name, value, minimum):
    """One int (or a 1-tuple of one, torch's form) that is >= minimum."""
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"{op}: expected {name} to be a single integer value or a list of 1 value "
                             f"for a 1-D operation, got {name}={value!r}")
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{op}: {name} must be an int, got {value!r}")
    if value < minimum:
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{op}: {name} must be {kind}, got {name}={int(value)}")
    return int(value)


def _batched(op, x, what="input", spatial=("length",)):
    """x as (N, C, *spatial) plus whether a batch dim was added (torch's unbatched (C, *spatial) form).

    `spatial` names the spatial dims for the message: ("length",) for 1-D ops, ("height", "width") for 2-D.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: {what} must be a minigrad Tensor, got {type(x).__name__}")
    check_float(op, x)
    n = len(spatial) + 1  # dims without the batch
    if x.data.ndim not in (n, n + 1):
        names = ", ".join(spatial)
        raise ValueError(f"{op}: expected a {n}-D (unbatched: channels, {names}) or {n + 1}-D (batched: batch, "
                         f"channels, {names}) {what}, got {describe(x)}")
    if x.data.ndim == n:
        return reshape(x, (1,) + x.data.shape), True
    return x, False


def _unbatch(y, added):
    return reshape(y, y.data.shape[1:]) if added else y


def _same_device_dtype(op, x, name, t):
    if t.device != x.device:
        raise RuntimeError(f"{op}: {name} is on {t.device} but input is on {x.device} ({describe(t)}, {describe(x)})")
    if t.data.dtype != x.data.dtype:
        raise TypeError(f"{op}: {name} {describe(t)} and input {describe(x)} must have the same dtype "
                        "(minigrad never casts silently; use .float() or .double())")


def conv_padding(op, padding, kernel_size, stride, dilation):
    """(left, right) zero padding for an int, a 1-tuple, 'valid' (0) or 'same' (total d*(k-1), the odd one right)."""
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0
        if padding == "same":
            if stride != 1:
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions (stride={stride})")
            total = dilation * (kernel_size - 1)
            return total // 2, total - total // 2
        raise ValueError(f"{op}: invalid padding string {padding!r}; expected 'valid', 'same' or an int")
    p = _int_arg(op, "padding", padding, 0)
    return p, p


# ---------------------------------------------------------------- wrappers
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002 - torch's names
    """torch.nn.functional.conv1d: a 1-D (cross-)correlation over the last axis of (N, C_in, L) or (C_in, L).

    Args:
        input: (N, C_in, L) or unbatched (C_in, L).
        weight: (C_out, C_in / groups, k).
        bias: optional (C_out,).
        stride: step between output positions (>= 1).
        padding: zeros added on both sides (int), 'valid' (none) or 'same' (output length = input length;
            stride 1 only; an odd total puts the extra zero on the right, as torch).
        dilation: spacing between kernel taps (>= 1).
        groups: split input and output channels into this many independent groups.

    Returns:
        (N, C_out, L_out) (or (C_out, L_out)), L_out = (L + 2*padding - dilation*(k-1) - 1) // stride + 1.
    """
    if _amp.active:  # inside autocast: torch's cast policy for this op (minigrad/amp.py)
        return _amp.run('conv1d', conv1d, input=input, weight=weight, bias=bias, stride=stride, padding=padding,
                        dilation=dilation, groups=groups)
    op = "conv1d"
    x, added = _batched(op, input)
    if not isinstance(weight, Tensor):  # the wrong kind of object: TypeError; the wrong shape: ValueError
        raise TypeError(f"{op}: weight must be a Tensor (out_channels, in_channels / groups, kernel_size), "
                        f"got {type(weight).__name__}")
    if weight.data.ndim != 3:
        raise ValueError(f"{op}: weight must be a 3-D tensor (out_channels, in_channels / groups, kernel_size), "
                         f"got {describe(weight)}")
    _same_device_dtype(op, x, "weight", weight)
    stride = _int_arg(op, "stride", stride, 1)
    dilation = _int_arg(op, "dilation", dilation, 1)
    groups = _int_arg(op, "groups", groups, 1)
    o, cg, k = weight.data.shape
    c, length = x.data.shape[1], x.data.shape[2]
    if o % groups:
        raise ValueError(f"{op}: groups={groups} must divide the out_channels of weight {describe(weight)} ({o})")
    if cg * groups != c:
        raise ValueError(f"{op}: weight {describe(weight)} with groups={groups} expects input with {cg * groups} "
                         f"channels, but input {describe(input)} has {c}")
    pad = conv_padding(op, padding, k, stride, dilation)
    if length + pad[0] + pad[1] < dilation * (k - 1) + 1:
        raise ValueError(f"{op}: the padded input length ({length + pad[0] + pad[1]}) is shorter than the dilated "
                         f"kernel ({dilation * (k - 1) + 1} = dilation {dilation} * (kernel_size {k} - 1) + 1) "
                         f"for input {describe(input)}")
    args = [x, weight]
    if bias is not None:
        if not isinstance(bias, Tensor) or tuple(bias.data.shape) != (o,):
            got = describe(bias) if isinstance(bias, Tensor) else type(bias).__name__
            raise ValueError(f"{op}: bias must be a 1-D tensor of out_channels={o} elements, got {got}")
        _same_device_dtype(op, x, "bias", bias)
        args.append(bias)
    y = Conv1d.apply(*args, stride=stride, padding=pad, dilation=dilation, groups=groups)
    return _unbatch(y, added)


def _pool_len(op, length, k_eff, stride, padding, ceil_mode, x):
    """Output length of a pooling (torch's rule: with ceil_mode the last window must start inside the
    input or the left padding, and may be longer than what is left of it).

    Floor division rounds towards -inf (torch's div_rtn), so with ceil_mode a window longer than the
    padded input still gives one (partial) output: length 3, kernel 4, stride 2 -> (3 - 4 + 1) // 2 + 1 = 1.
    """
    num = length + 2 * padding - k_eff
    l_out = (num + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and l_out > 0 and (l_out - 1) * stride >= length + padding:
        l_out -= 1
    if l_out <= 0:
        raise ValueError(f"{op}: input {describe(x)} is too short for the window: length {length} with padding "
                         f"{padding} on each side gives no window of size {k_eff}")
    return l_out


def _pool_args(op, kernel_size, stride, padding):
    k = _int_arg(op, "kernel_size", kernel_size, 1)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and not stride) else _int_arg(op, "stride", stride, 1)
    p = _int_arg(op, "padding", padding, 0)
    if 2 * p > k:
        raise ValueError(f"{op}: padding should be at most half of the kernel size, got padding={p} and "
                         f"kernel_size={k}")
    return k, s, p


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
               return_indices=False):
    """torch.nn.functional.max_pool1d: the maximum of each window of the last axis of (N, C, L) or (C, L).

    Args:
        kernel_size: window size k.
        stride: step between windows (default: kernel_size).
        padding: implicit -inf padding on both sides (at most kernel_size / 2).
        dilation: spacing between the window's taps.
        ceil_mode: round the output length up (a last, partial window), as torch.
        return_indices: also return the int64 position (in the unpadded input) of each maximum (a window
            of padding only, which dilation allows, is -inf with torch's index: its first tap >= 0).

    The gradient of each output goes to the first maximum of its window (torch's choice for ties).
    """
    op = "max_pool1d"
    x, added = _batched(op, input)
    k, s, p = _pool_args(op, kernel_size, stride, padding)
    d = _int_arg(op, "dilation", dilation, 1)
    l_out = _pool_len(op, x.data.shape[-1], d * (k - 1) + 1, s, p, bool(ceil_mode), input)
    y = _unbatch(MaxPool1d.apply(x, kernel_size=k, stride=s, padding=p, dilation=d, l_out=l_out), added)
    if not return_indices:
        return y
    xp = get_xp(x.data)
    # recomputed here: the op's node (where the forward's argmax lives) is not kept without a graph
    _, arg = _window_max(xp, x.data, k, s, p, d, l_out)
    # a window of padding only (arg -1, its value -inf) gets torch's index: its first tap >= 0, past the
    # input's end (it gets no gradient; torch's backward would write there)
    where = xp.where(arg < 0, _first_tap_at_or_after_0(xp, l_out, s, p, d), arg * d + xp.arange(l_out) * s - p)
    where = where.astype(xp.int64)
    return y, _wrap(where[0] if added else where)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):  # noqa: A002
    """torch.nn.functional.avg_pool1d: the mean of each window of the last axis of (N, C, L) or (C, L).

    Args:
        kernel_size: window size k.
        stride: step between windows (default: kernel_size).
        padding: implicit zero padding on both sides (at most kernel_size / 2).
        ceil_mode: round the output length up (a last, partial window), as torch.
        count_include_pad: divide by the window size including the zero padding (default), or only by
            the number of input positions in the window.
    """
    op = "avg_pool1d"
    x, added = _batched(op, input)
    k, s, p = _pool_args(op, kernel_size, stride, padding)
    l_out = _pool_len(op, x.data.shape[-1], k, s, p, bool(ceil_mode), input)
    y = AvgPool1d.apply(x, kernel_size=k, stride=s, padding=p, l_out=l_out, count_include_pad=bool(count_include_pad))
    return _unbatch(y, added)


def _adaptive_windows(xp, length, out):
    """torch's adaptive windows: [floor(i L / out), ceil((i + 1) L / out)) for i < out."""
    i = xp.arange(out)
    return (i * length) // out, ((i + 1) * length + out - 1) // out


def adaptive_avg_pool1d(input, output_size):  # noqa: A002
    """torch.nn.functional.adaptive_avg_pool1d: `output_size` means over windows that tile the last axis.

    Window i covers [floor(i L / out), ceil((i + 1) L / out)). Composed as one matmul with a constant
    (L, out) averaging matrix, so its gradient is MatMul's: dx = dy A^T.
    """
    op = "adaptive_avg_pool1d"
    x, added = _batched(op, input)
    out = _int_arg(op, "output_size", output_size, 0)
    length = x.data.shape[-1]
    if length == 0:
        raise ValueError(f"{op}: input {describe(input)} has an empty length dimension")
    return _unbatch(adaptive_mean_last(x, out), added)


def adaptive_mean_last(x, out):
    """Means of x (..., L) over torch's `out` adaptive windows of the last axis: (..., out).

    Each window is gathered as a row of an (out, width) index, the slots past a short window's end
    masked to 0 by `where`; the gradient is getitem's and where's. (Not a matmul with an averaging
    matrix: its 0 * inf = NaN would spread one inf input into every window; found by fuzzing.)
    """
    from .elementwise import where  # (local imports: both modules import this one's neighbours)
    xp = get_xp(x.data)
    length = x.data.shape[-1]
    if out and length % out == 0:  # equal, disjoint windows (28 -> 7): a reshape and a mean, no gather
        return x.reshape(x.shape[:-1] + (out, length // out)).mean(-1)
    start, end = _adaptive_windows(xp, length, out)
    width = int((end - start).max()) if out else 0
    idx = start[:, None] + xp.arange(width)[None, :]  # (out, width)
    inside = idx < end[:, None]
    windows = x[..., _wrap(xp.minimum(idx, length - 1))]  # (..., out, width)
    total = where(_wrap(inside), windows, 0.0).sum(-1)
    return total / _wrap((end - start).astype(x.data.dtype))
