"""What RNN, LSTM and GRU share: parameters, input checks, lengths, stacking, directions, state.

A recurrent *layer* is a stack of `num_layers` layers, each run in one or two
directions. Per layer and direction it runs one *sequence function* over the whole
(time-major) input:

* fused (`fused=True`, the default): one op from `minigrad.ops.recurrent`
  (`rnn_sequence`, `lstm_sequence` -- `lstm_proj_sequence` with proj_size > 0 --,
  `gru_sequence`) whose backward is the BPTT recurrence written out by hand -- the fast version;
* composed (`fused=False`): `composed_sequence` below, which loops the readable cell
  (`rnn_cell`, `lstm_cell`, `gru_cell`) over time and lets autograd do BPTT -- the
  reference the fused ops are tested against.

Both follow the same rules for a padded batch with `lengths`:

* outputs at t >= lengths[b] are zero;
* h_n[b] (and c_n[b]) is the state after sequence b's own last step, lengths[b] - 1;
* the reverse direction reads t = lengths[b] - 1 down to 0, i.e. it starts at each
  sequence's own last step, not at the padding.

This is what torch computes for a `pack_padded_sequence` input. A layer also takes a
`PackedSequence` itself (`RecurrentLayer._forward_packed`): it unpacks it to (padded,
lengths), runs this path and packs the output the same way.
"""
from __future__ import annotations

import math
import numbers
import warnings

import minigrad as mg
from minigrad import backend as _B
from minigrad import functional as F
from minigrad.nn import Module, Parameter
from minigrad.nn import init as nn_init
from minigrad.nn.utils.rnn import PackedSequence, pad_packed_sequence
from minigrad.nn.utils.rnn_packed import _repack_like

np = _B.np  # host-side bookkeeping only (lengths, reversal indices, masks)

__all__ = ["detach_state", "composed_sequence", "reversal_index", "RecurrentLayer", "RecurrentCell"]


# ---------------------------------------------------------------- truncated BPTT
def detach_state(state):
    """Cut a recurrent state from the graph: a Tensor, or (nested) tuples/lists of them.

    The idiom for truncated backpropagation through time over a long sequence::

        state = None
        for chunk in chunks:                      # consecutive pieces of one long sequence
            out, state = lstm(chunk, state)       # continue from where the last chunk ended
            loss = criterion(out, target)
            opt.zero_grad(); loss.backward(); opt.step()
            state = models.detach_state(state)    # keep the values, drop the graph

    Values carry over, so the chunks together compute exactly what one long run
    computes; gradients stop at each cut, so memory and time per step stay bounded.
    `None` passes through (a fresh state).
    """
    if state is None:
        return None
    if isinstance(state, mg.Tensor):
        return state.detach()
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)
    raise TypeError(f"detach_state: expected a Tensor or (nested) tuples of Tensors, got {type(state).__name__}")


# ---------------------------------------------------------------- checks shared by cells and layers
def _check_size(owner: str, name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _describe(t) -> str:
    return f"{t.dtype}{list(t.shape)} on {t.device}"


def _check_tensor(owner: str, what: str, t, like):
    """t, which must be a Tensor with the dtype and device of `like` (the parameters); returns it.

    Inside `mg.autocast`, a floating t of another float dtype (a float16 activation) is cast to
    the parameters' dtype: recurrent layers run in their parameters' precision there (torch's
    CUDA autocast runs them in float16).
    """
    if not isinstance(t, mg.Tensor):
        raise TypeError(f"{owner}: {what} must be a minigrad Tensor, got {type(t).__name__}")
    if t.dtype != like.dtype or t.device != like.device:
        if (t.device == like.device and t.is_floating_point() and like.is_floating_point()
                and mg.is_autocast_enabled(like.device.type)):
            return t.to(like.dtype)
        raise TypeError(f"{owner}: {what} is {_describe(t)} but the parameters are {like.dtype} on {like.device}; "
                        f"convert one of them (e.g. .double() / .to(device))")
    return t


def _check_lengths(owner: str, lengths, T: int, B: int):
    """Host int64 array of B sequence lengths, each in [1, T] (or None)."""
    if lengths is None:
        return None
    if isinstance(lengths, mg.Tensor):
        lengths = lengths.numpy()
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{owner}: lengths must be integers (a list, NumPy array or int Tensor), got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.shape != (B,):
        raise ValueError(f"{owner}: lengths must have one entry per sequence, shape ({B},); got shape {arr.shape}")
    if arr.min() < 1 or arr.max() > T:
        raise ValueError(f"{owner}: every length must be in [1, {T}] (the padded sequence length); "
                         f"got {arr.tolist()}")
    return arr


# ---------------------------------------------------------------- the composed sequence loop
def reversal_index(lengths, T: int, B: int):
    """idx (T, B): the time step that the reversed sequence b reads at step t.

    idx[t, b] = lengths[b] - 1 - t inside the sequence and t in the padding, so each
    sequence is reversed within its own length and the padding stays where it is.
    The map is its own inverse: applying it twice gives the identity.
    """
    t = np.arange(T)[:, None]
    n = np.full((1, B), T) if lengths is None else lengths[None, :]
    return np.where(t < n, n - 1 - t, t)


def composed_sequence(step, x, state, lengths=None, reverse=False):
    """Run a cell over time with autograd doing BPTT: the readable reference of a sequence op.

    Args:
        step: `step(x_t, state) -> new_state`, a tuple whose first entry is the output h.
        x: (T, B, I) input, time-major.
        state: tuple of (B, H) initial states ((h,) or (h, c)).
        lengths: None or a host int array of B lengths in [1, T].
        reverse: run from each sequence's last valid step back to step 0.

    Returns:
        (out, final_state): out (T, B, H) with zeros at t >= lengths[b]; final_state the
        state after each sequence's own last step.
    """
    T, B = x.shape[0], x.shape[1]
    if reverse:
        # Reverse each sequence inside its own length by gathering time steps, run forward,
        # then put the outputs back with the same (self-inverse) index.
        rev = (reversal_index(lengths, T, B), np.arange(B))
        x = x[rev]
    valid = None
    if lengths is not None:
        # valid[t, b, 0]: step t lies inside sequence b (built on the host, moved once)
        valid = mg.tensor((np.arange(T)[:, None] < lengths[None, :])[:, :, None], device=x.device)
    outputs = []
    for t in range(T):
        new = step(x[t], state)
        if valid is None:
            state = new
            outputs.append(new[0])
        else:
            # Past its end a sequence keeps its state and outputs zeros.
            keep = valid[t]  # (B, 1) bool, broadcast over the hidden units
            state = tuple(F.where(keep, n, s) for n, s in zip(new, state))
            outputs.append(F.where(keep, new[0], 0.0))
    out = F.stack(outputs, dim=0)
    if reverse:
        out = out[rev]
    return out, state


# ---------------------------------------------------------------- cells
class RecurrentCell(Module):
    """Parameters and input handling shared by RNNCell, LSTMCell and GRUCell.

    weight_ih (G*H, I), weight_hh (G*H, H), bias_ih (G*H,), bias_hh (G*H,) with the G gate
    blocks stacked along dim 0 in torch's order; all drawn from U(-1/sqrt(H), 1/sqrt(H)).
    """

    _num_gates = 1
    _num_states = 1  # 2 for LSTM: (h, c)

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):  # torch's order
        super().__init__()
        name = type(self).__name__
        self.input_size = _check_size(name, "input_size", input_size)
        self.hidden_size = _check_size(name, "hidden_size", hidden_size)
        self.bias = bool(bias)
        G, H = self._num_gates, self.hidden_size
        self.weight_ih = Parameter(mg.zeros(G * H, self.input_size, dtype=dtype, device=device))
        self.weight_hh = Parameter(mg.zeros(G * H, H, dtype=dtype, device=device))
        if self.bias:
            self.bias_ih = Parameter(mg.zeros(G * H, dtype=dtype, device=device))
            self.bias_hh = Parameter(mg.zeros(G * H, dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        """Every parameter ~ U(-1/sqrt(H), 1/sqrt(H)), in registration order (torch's init)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn_init.uniform_(p, -bound, bound)

    def _prepare(self, x, states):
        """Check (x, *states); return them batched (2-D), zeros for missing states, and `batched`."""
        name = type(self).__name__
        x = _check_tensor(name, "input", x, self.weight_ih)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected input of shape (batch, {self.input_size}) or ({self.input_size},), "
                             f"got {_describe(x)}")
        batched = x.ndim == 2
        B, H = (x.shape[0] if batched else 1), self.hidden_size
        want = (B, H) if batched else (H,)
        out = []
        for k, s in enumerate(states):
            what = ("hx", "cx")[k] if self._num_states == 2 else "hx"
            if s is None:
                out.append(mg.zeros(B, H, dtype=x.dtype, device=x.device))
                continue
            s = _check_tensor(name, what, s, self.weight_ih)
            if tuple(s.shape) != want:
                raise ValueError(f"{name}: expected {what} of shape {want} for input {_describe(x)}, "
                                 f"got {_describe(s)}")
            out.append(s if batched else s.unsqueeze(0))
        return (x if batched else x.unsqueeze(0)), out, batched

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        return s if self.bias else s + ", bias=False"


# ---------------------------------------------------------------- layers
class RecurrentLayer(Module):
    """Stacked, optionally bidirectional recurrent layer over padded batches (torch's RNN API).

    Subclasses set `_num_gates`, `_num_states` and define `_cell_step` (composed) and
    `_fused_sequence` (one op from minigrad.ops.recurrent).

    `proj_size` (torch's RNNBase argument, only LSTM passes it): P > 0 adds `weight_hr_l{k}` (P, H)
    after each direction's biases and makes h (and so the output) P wide instead of H.
    """

    _num_gates = 1
    _num_states = 1

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, *, proj_size=0, fused=True, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        self.input_size = _check_size(name, "input_size", input_size)
        self.hidden_size = _check_size(name, "hidden_size", hidden_size)
        self.num_layers = _check_size(name, "num_layers", num_layers)
        self.proj_size = int(proj_size)  # validated by the subclass that takes it (LSTM)
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{name}: dropout must be a number in [0, 1], got {dropout!r}")
        if dropout > 0 and self.num_layers == 1:  # torch's warning: the dropout would never be applied
            warnings.warn(f"{name}: dropout is applied between recurrent layers (after all but the last), so "
                          f"non-zero dropout expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={self.num_layers}", UserWarning, stacklevel=3)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.fused = bool(fused)
        G, H, P = self._num_gates, self.hidden_size, self.output_size
        # torch's registration order: layer by layer, forward then reverse, w_ih, w_hh, b_ih, b_hh (, w_hr).
        for k in range(self.num_layers):
            layer_in = self.input_size if k == 0 else P * self.num_directions
            for d in range(self.num_directions):
                sfx = self._suffix(k, d)
                setattr(self, "weight_ih" + sfx, Parameter(mg.zeros(G * H, layer_in, dtype=dtype, device=device)))
                setattr(self, "weight_hh" + sfx, Parameter(mg.zeros(G * H, P, dtype=dtype, device=device)))
                if self.bias:
                    setattr(self, "bias_ih" + sfx, Parameter(mg.zeros(G * H, dtype=dtype, device=device)))
                    setattr(self, "bias_hh" + sfx, Parameter(mg.zeros(G * H, dtype=dtype, device=device)))
                if self.proj_size > 0:
                    setattr(self, "weight_hr" + sfx, Parameter(mg.zeros(P, H, dtype=dtype, device=device)))
        self.reset_parameters()

    @property
    def output_size(self) -> int:
        """Features of h per direction: proj_size if projecting, else hidden_size (torch's real_hidden_size)."""
        return self.proj_size if self.proj_size > 0 else self.hidden_size

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @staticmethod
    def _suffix(layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction == 1 else "")

    def reset_parameters(self):
        """Every parameter ~ U(-1/sqrt(H), 1/sqrt(H)), in registration order (torch's init)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn_init.uniform_(p, -bound, bound)

    def _weights(self, layer: int, direction: int):
        """(w_ih, w_hh, b_ih, b_hh) of one layer and direction; biases None when bias=False;
        with proj_size > 0 a fifth entry, w_hr."""
        sfx = self._suffix(layer, direction)
        if self.bias:
            ws = (getattr(self, "weight_ih" + sfx), getattr(self, "weight_hh" + sfx),
                  getattr(self, "bias_ih" + sfx), getattr(self, "bias_hh" + sfx))
        else:
            ws = getattr(self, "weight_ih" + sfx), getattr(self, "weight_hh" + sfx), None, None
        return ws + (getattr(self, "weight_hr" + sfx),) if self.proj_size > 0 else ws

    @property
    def all_weights(self):
        """torch's: [[w_ih, w_hh, b_ih, b_hh(, w_hr)], ...], one list per layer and direction (no biases if
        bias=False)."""
        return [[w for w in self._weights(k, d) if w is not None]
                for k in range(self.num_layers) for d in range(self.num_directions)]

    @property
    def _flat_weights_names(self):
        """torch's: the parameter names in all_weights' order, flattened."""
        names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if self.bias else [])
        names += ["weight_hr"] if self.proj_size > 0 else []
        return [n + self._suffix(k, d) for k in range(self.num_layers) for d in range(self.num_directions)
                for n in names]

    def flatten_parameters(self):
        """torch's cuDNN weight-compaction call, kept so torch code runs as it is: a no-op here, since the
        kernels read the parameters directly."""
        return None

    # ------------------------------------------------------------ subclass hooks
    def _cell_step(self, x_t, state, weights):  # pragma: no cover - abstract
        raise NotImplementedError

    def _fused_sequence(self, x, state, weights, lengths, reverse):  # pragma: no cover - abstract
        raise NotImplementedError

    def _run_direction(self, x, state, weights, lengths, reverse):
        """One layer, one direction, over the whole sequence: (out (T, B, H), final state tuple)."""
        if self.fused:
            return self._fused_sequence(x, state, weights, lengths, reverse)
        return composed_sequence(lambda x_t, s: self._cell_step(x_t, s, weights), x, state, lengths, reverse)

    # ------------------------------------------------------------ forward
    def _initial_states(self, hx, x, batched):
        """hx as a list of `_num_states` tensors of shape (L*D, B, H), zeros where not given."""
        name = type(self).__name__
        n = self._num_states
        if hx is None:
            return [None] * n
        if n == 2:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"{name}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
            states, names = list(hx), ("h_0", "c_0")
        else:
            states, names = [hx], ("hx",)
        LD, B = self.num_layers * self.num_directions, x.shape[1]
        w = self.weight_ih_l0
        out = []
        for j, (s, what) in enumerate(zip(states, names)):
            if s is None:
                out.append(None)
                continue
            # h is output_size wide (proj_size when projecting); an LSTM's c is always hidden_size wide
            size, size_name = ((self.output_size, "proj_size" if self.proj_size > 0 else "hidden_size") if j == 0
                               else (self.hidden_size, "hidden_size"))
            want = (LD, B, size) if batched else (LD, size)
            s = _check_tensor(name, what, s, w)
            if tuple(s.shape) != want:
                raise ValueError(f"{name}: expected {what} of shape {want} (num_layers * num_directions, "
                                 f"{'batch, ' if batched else ''}{size_name}), got {_describe(s)}")
            out.append(s if batched else s.unsqueeze(1))
        return out

    def forward(self, x, hx=None, lengths=None):
        """Run the stacked (bi)directional recurrence over a padded batch (or a PackedSequence).

        Args:
            x: (T, B, input_size), or (B, T, input_size) with batch_first, or unbatched (T, input_size);
                or a `minigrad.nn.utils.rnn.PackedSequence` (as torch): the output is then a
                PackedSequence with x's batch_sizes and sorted_indices, and hx, h_n (c_n) are in
                the original (unsorted) batch order; batch_first does not apply to it.
            hx: initial state, (num_layers * num_directions, B, hidden_size) (unbatched: without B);
                LSTM: a tuple (h_0, c_0), h_0 proj_size wide when proj_size > 0 (c_0 stays hidden_size).
                None: zeros. Passing a previous h_n continues the sequence.
            lengths: optional B true lengths in [1, T] (list, NumPy array or int Tensor) of a
                right-padded batch.

        Returns:
            (output, h_n): output (T, B, D*H) (batch_first: (B, T, D*H)), zeros past each length;
            h_n (num_layers * D, B, H) holds each sequence's state at its own last step.
            LSTM returns (output, (h_n, c_n)); with proj_size = P > 0, output and h_n are P wide per
            direction in place of H (c_n stays H wide).
        """
        name = type(self).__name__
        if isinstance(x, PackedSequence):
            return self._forward_packed(x, hx, lengths)
        w = self.weight_ih_l0
        x = _check_tensor(name, "input", x, w)
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected input of shape (T, B, {self.input_size}) "
                             f"({'(B, T, ...) with batch_first' if self.batch_first else 'time-major'}) or "
                             f"unbatched (T, {self.input_size}); got {_describe(x)}")
        batched = x.ndim == 3
        if not batched:
            x = x.unsqueeze(1)  # (T, 1, I): a batch of one
        elif self.batch_first:
            x = x.transpose(0, 1)  # work time-major inside
        T, B = x.shape[0], x.shape[1]
        if T == 0 or B == 0:
            raise ValueError(f"{name}: input needs at least one time step and one sequence, got {_describe(x)}")
        lengths = _check_lengths(name, lengths, T, B)
        init = self._initial_states(hx, x, batched)

        D = self.num_directions
        sizes = (self.output_size, self.hidden_size)  # widths of h and (LSTM) c
        finals = []  # one state tuple per (layer, direction), in h_n's order
        layer_input = x
        for k in range(self.num_layers):
            outs = []
            for d in range(D):
                i = k * D + d
                s0 = tuple(mg.zeros(B, sizes[j], dtype=x.dtype, device=x.device) if s is None else s[i]
                           for j, s in enumerate(init))
                out, s_n = self._run_direction(layer_input, s0, self._weights(k, d), lengths, reverse=d == 1)
                outs.append(out)
                finals.append(s_n)
            layer_input = outs[0] if D == 1 else F.cat(outs, dim=2)
            if self.dropout > 0.0 and self.training and k < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)  # between layers only
        output = layer_input
        state = [F.stack([f[j] for f in finals], dim=0) for j in range(self._num_states)]
        if not batched:
            output = output.squeeze(1)
            state = [s.squeeze(1) for s in state]
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, (state[0] if self._num_states == 1 else tuple(state))

    def _forward_packed(self, packed, hx, lengths):
        """A PackedSequence input: unpack to (padded, lengths), run the `lengths=` path, pack again.

        Unpacking restores the original batch order, so hx is read and h_n (c_n) returned in
        that order, as torch does; the output is packed exactly as the input was.
        """
        name = type(self).__name__
        if lengths is not None:
            raise ValueError(f"{name}: a PackedSequence carries its own lengths; do not pass lengths= as well")
        data = packed.data
        _check_tensor(name, "input", data, self.weight_ih_l0)
        if data.ndim != 2 or data.shape[1] != self.input_size:
            raise ValueError(f"{name}: a PackedSequence input needs data of shape (sum of lengths, "
                             f"{self.input_size}), got {_describe(data)}")
        padded, lens = pad_packed_sequence(packed, batch_first=self.batch_first)
        output, state = self.forward(padded, hx, lengths=lens)
        return _repack_like(output, packed, self.batch_first), state

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if not self.fused:
            s += ", fused=False"
        return s


def recurrent_ops():
    """minigrad.ops.recurrent (imported on first use, with a clear error if it is missing)."""
    try:
        from minigrad.ops import recurrent
    except ImportError as e:  # pragma: no cover - only before the fused ops exist
        raise RuntimeError(f"fused recurrent kernels are not available ({e}); construct the layer with "
                           "fused=False to run the composed cells") from None
    return recurrent
