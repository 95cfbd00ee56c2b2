"""Bounded memory: no graph survives backward(), training runs stay flat, a missing detach() is caught.

* After `loss.backward()` every graph node (grad_fn) but the loss's own, every saved array and
  every intermediate tensor is gone, by reference counting alone (the garbage collector is
  disabled around the step, so a reference cycle would keep them alive and fail the test);
  once the loss goes out of scope nothing is left at all.
* A 5,000-step training run of a small LSTM (truncated BPTT, Adam, clipping) keeps its
  resident memory (RSS, from /proc/self/statm) flat; the same measurement does see a leak of
  one graph per step, so the bound is meaningful.
* Carrying a hidden state across batches without detach(): the second backward raises an
  error that tells you to detach() the state; with retain_graph=True (which would make
  memory and time grow without bound) a `GraphGrowthWarning` says the same. Legitimate uses
  of retain_graph (several losses over one graph) do not warn.
"""
from __future__ import annotations

import gc
import os
import warnings
import weakref
from contextlib import contextmanager

import pytest

import minigrad as mg
import models
from minigrad import functional as F
from minigrad import nn
from minigrad.autograd import GraphGrowthWarning

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")


@contextmanager
def gc_disabled():
    was = gc.isenabled()
    gc.collect()  # start clean, then let reference counting alone free things
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def graph_refs(root):
    """Weak references to every node reachable from `root`, its saved arrays and intermediate tensors.

    Saved arrays that are a leaf's own memory (a parameter's data) are skipped: the leaf keeps those.
    """
    leaf_data = set()
    nodes, tensors, seen, stack = [], [], {id(root.grad_fn)}, [root.grad_fn]
    while stack:
        node = stack.pop()
        nodes.append(node)
        for t in node.inputs:
            if t.grad_fn is None:
                leaf_data.add(id(t.data))
            elif id(t.grad_fn) not in seen:
                seen.add(id(t.grad_fn))
                stack.append(t.grad_fn)
                tensors.append(t)
    saved = [a for n in nodes for a in n.__dict__.get("saved", ()) if mg.backend.is_array(a) and id(a) not in leaf_data]
    return ([weakref.ref(n) for n in nodes], [weakref.ref(a) for a in saved], [weakref.ref(t) for t in tensors])


def alive(refs):
    return sum(r() is not None for r in refs)


# ---------------------------------------------------------------- models under test
def mlp_loss():
    model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Tanh(), nn.Dropout(0.2), nn.Linear(8, 3))
    x, y = mg.randn(5, 4), mg.tensor([0, 1, 2, 1, 0])
    return model, F.cross_entropy(model(x), y)


def embedding_loss():
    emb, lin = nn.Embedding(10, 4), nn.Linear(4, 1)
    h = emb(mg.tensor([[1, 2, 3], [3, 3, 9]]))
    out = lin(F.softmax(h, dim=-1) * h.sigmoid() + h.relu().exp()).mean(dim=1)
    return nn.ModuleList([emb, lin]), ((out - 1.0) ** 2).sum() + h.logsumexp(dim=-1).sum()


def recurrent_loss(kind, fused):
    layer = getattr(models, kind)(3, 5, num_layers=2, fused=fused)
    out, _ = layer(mg.randn(4, 2, 3), lengths=[4, 2])
    return layer, (out * out).sum()


def lstm_cell_loop_loss():
    cell = models.LSTMCell(3, 4)
    state = None
    outs = []
    for t in range(4):  # a hand-written unrolled loop, states chained through Python variables
        state = cell(mg.randn(2, 3), state)
        outs.append(state[0])
    return cell, mg.stack(outs).sum()


def seq2seq_loss():
    model = models.Seq2Seq.build(8, 8, 4, 6, attention="dot", sos_idx=2, eos_idx=3, pad_idx=0)
    src, tgt = mg.tensor([[4, 5, 6], [7, 4, 0]]), mg.tensor([[5, 6, 3], [4, 3, 0]])
    logits, _ = model(src, [3, 2], tgt)
    return model, F.cross_entropy(logits, tgt, ignore_index=0)


GRAPHS = {
    "mlp": mlp_loss, "embedding+activations": embedding_loss,
    "lstm-fused": lambda: recurrent_loss("LSTM", True), "lstm-composed": lambda: recurrent_loss("LSTM", False),
    "gru-fused": lambda: recurrent_loss("GRU", True), "rnn-composed": lambda: recurrent_loss("RNN", False),
    "lstm-cell-loop": lstm_cell_loop_loss, "seq2seq-attention": seq2seq_loss,
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_no_graph_survives_backward(name):
    with gc_disabled():
        model, loss = GRAPHS[name]()
        nodes, saved, tensors = graph_refs(loss)
        assert len(nodes) > 3 and saved and alive(nodes) == len(nodes)  # the graph is there
        root = weakref.ref(loss.grad_fn)
        loss.backward()
        # Only the loss's own node survives (it is loss.grad_fn), emptied; no saved array survives.
        assert alive(saved) == 0, f"{name}: {alive(saved)} of {len(saved)} saved arrays survive backward()"
        assert alive(tensors) == 0, f"{name}: {alive(tensors)} intermediate tensors survive backward()"
        assert alive(nodes) == 1 and root() is loss.grad_fn, f"{name}: {alive(nodes)} nodes survive backward()"
        assert loss.grad_fn.__dict__ == {}  # its edges and saved arrays are released too
        del loss
        assert root() is None and alive(nodes) == 0
        assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", ["mlp", "lstm-composed", "seq2seq-attention"])
def test_retained_graph_is_freed_with_its_loss(name):
    """retain_graph=True keeps the graph as long as the loss lives, not longer: still no cycles."""
    with gc_disabled():
        _, loss = GRAPHS[name]()
        nodes, saved, _ = graph_refs(loss)
        loss.backward(retain_graph=True)
        loss.backward(retain_graph=True)
        assert alive(nodes) == len(nodes) and alive(saved) == len(saved)
        del loss
        assert alive(nodes) == 0 and alive(saved) == 0


def test_forward_without_grad_records_nothing():
    lstm = models.LSTM(3, 4)
    with mg.no_grad():
        out, (h, c) = lstm(mg.randn(5, 2, 3))
    assert out.grad_fn is None and h.grad_fn is None and c.grad_fn is None


# ---------------------------------------------------------------- resident memory of a long run
def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


RSS_BOUND = 2 * 1024 * 1024  # a leaked graph per step costs ~8 KB here: 4,500 steps would be ~35 MB


def lstm_training(steps, warmup, fused=True, keep=None):
    """Train a tiny LSTM with truncated BPTT; return (RSS after warm-up, RSS at the end, last node ref)."""
    mg.manual_seed(0)
    lstm, head = models.LSTM(3, 8, fused=fused), nn.Linear(8, 3)
    params = list(lstm.parameters()) + list(head.parameters())
    opt = mg.optim.Adam(params, lr=1e-3)
    x, y = mg.randn(5, 2, 3), mg.randint(0, 3, (5, 2))  # T=5, batch 2
    state, start, node = None, None, None
    for i in range(steps):
        out, state = lstm(x + 0.01 * (i % 7), state)
        loss = F.cross_entropy(head(out), y)
        if keep is not None:  # the deliberate leak of the control run: every graph kept, never freed
            keep.append(loss)
            continue
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        state = models.detach_state(state)  # truncated BPTT: keep the values, cut the graph
        if i == warmup - 1:
            start = rss_bytes()
        if i == warmup:
            node = weakref.ref(out.grad_fn)
    return start, rss_bytes(), node


def test_long_lstm_run_keeps_memory_flat():
    with gc_disabled():  # reference counting alone must keep it flat
        start, end, node = lstm_training(steps=5000, warmup=500)
    assert node() is None  # a graph from step 500 is long gone
    assert end - start < RSS_BOUND, f"RSS grew by {(end - start) / 2**20:.2f} MiB over 4,500 steps"


def test_composed_lstm_run_keeps_memory_flat():
    with gc_disabled():
        start, end, node = lstm_training(steps=1500, warmup=300, fused=False)
    assert node() is None
    assert end - start < RSS_BOUND, f"RSS grew by {(end - start) / 2**20:.2f} MiB over 1,200 steps"


def test_rss_measurement_sees_a_leak():
    """Control: the same loop keeping every graph grows well past the bound (so the bound means something).

    It leaks over as many steps as the flat run measures (4,500, ~35 MB). A shorter leak can
    vanish into memory that earlier tests freed and the process kept (the dev profile saw
    1,000 leaked graphs grow RSS by only 0.4 MB).
    """
    keep = []
    before = rss_bytes()
    lstm_training(steps=4500, warmup=0, keep=keep)
    assert rss_bytes() - before > RSS_BOUND
    del keep


# ---------------------------------------------------------------- carrying state without detach()
def carried_state_steps(layer, steps, detach, retain_graph):
    """Feed each batch's final state into the next, as a stateful TBPTT loop does."""
    state = None
    for _ in range(steps):
        out, state = layer(mg.randn(3, 2, 3), state)
        out.sum().backward(retain_graph=retain_graph)
        if detach:
            state = models.detach_state(state)


@pytest.mark.parametrize("kind,fused", [("LSTM", True), ("LSTM", False), ("GRU", True), ("RNN", False)])
def test_carried_state_without_detach_raises_and_says_detach(kind, fused):
    layer = getattr(models, kind)(3, 4, fused=fused)
    with pytest.raises(RuntimeError, match=r"second time.*hidden state carried across batches.*detach\(\)"):
        carried_state_steps(layer, steps=2, detach=False, retain_graph=False)
    carried_state_steps(layer, steps=3, detach=True, retain_graph=False)  # the fix


def test_hand_written_loop_without_detach_raises_too():
    cell = models.GRUCell(3, 4)
    h = None
    with pytest.raises(RuntimeError, match=r"detach\(\)"):
        for _ in range(2):
            h = cell(mg.randn(2, 3), h)
            h.sum().backward()


@contextmanager
def recorded():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        yield w


def growth_warnings(w):
    return [x for x in w if issubclass(x.category, GraphGrowthWarning)]


@pytest.mark.parametrize("kind,fused", [("LSTM", True), ("LSTM", False), ("GRU", False)])
def test_carried_state_with_retain_graph_warns(kind, fused):
    layer = getattr(models, kind)(3, 4, fused=fused)
    with recorded() as w:
        carried_state_steps(layer, steps=6, detach=False, retain_graph=True)
    found = growth_warnings(w)
    assert found, "no warning for a graph that grew with every backward"
    msg = str(found[0].message)
    assert "keeps growing" in msg and "hidden state" in msg and "detach()" in msg and "detach_state" in msg
    assert found[0].filename == __file__  # points at the user's backward() call
    with recorded() as w:  # the fix: detach after each step; retain_graph alone is then harmless
        carried_state_steps(layer, steps=6, detach=True, retain_graph=True)
    assert not growth_warnings(w)


def test_legitimate_retain_graph_uses_do_not_warn():
    lin = nn.Linear(3, 3)
    with recorded() as w:
        # several losses over one shared trunk, each backpropagated with retain_graph
        h = lin(mg.randn(4, 3)).tanh()
        for k in range(8):
            (h * float(k)).sum().backward(retain_graph=True)
        # one loss backpropagated many times (e.g. accumulating over repeats)
        loss = lin(mg.randn(2, 3)).relu().sum()
        for _ in range(8):
            loss.backward(retain_graph=True)
        # retain_graph=True out of habit, on a fresh graph every step
        for _ in range(8):
            lin(mg.randn(2, 3)).sum().backward(retain_graph=True)
    assert not growth_warnings(w)
