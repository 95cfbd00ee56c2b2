"""Pictures of the graph: `to_dot(tensor)` returns Graphviz DOT text of everything that produced it.

    print(mg.viz.to_dot(loss))              # paste into any Graphviz viewer
    mg.viz.render(loss, "graph.png")        # needs the `dot` program; says so clearly if absent

Boxes are tensors (leaves in light blue, the output in green), ellipses are ops
(named after their Function class). Arrows follow the forward computation.
"""
from __future__ import annotations

import shutil
import subprocess

from .tensor import Tensor

__all__ = ["to_dot", "render"]


def _label(t: Tensor, name: str | None) -> str:
    head = f"{name}\\n" if name else ""
    if not hasattr(t.data, "shape"):  # a non-Tensor argument of a custom Function (Function.apply(x, 2.0))
        return head + str(t.data).replace('"', "'")[:40]
    shape = "x".join(str(s) for s in t.shape) or "scalar"
    return f"{head}{shape} {t.dtype}"


def to_dot(output: Tensor, names: dict | None = None, show_saved: bool = False) -> str:
    """Graphviz DOT text of the graph behind `output` (walked iteratively, each node once).

    Args:
        output: the tensor whose history is drawn (usually the loss).
        names: optional {tensor: label} (e.g. {x: "x", w: "w"}); matched by identity.
        show_saved: list how many arrays each op saved for backward.
    """
    label_of = {id(k): v for k, v in (names or {}).items()}
    lines = ["digraph minigrad {", '  rankdir=LR; node [fontname="Helvetica", fontsize=10];']
    seen_t, seen_f = set(), set()

    def tensor_node(t, color):
        if id(t) not in seen_t:
            seen_t.add(id(t))
            lines.append(f'  t{id(t)} [shape=box, style=filled, fillcolor="{color}", '
                         f'label="{_label(t, label_of.get(id(t)))}"];')
        return f"t{id(t)}"

    out_id = tensor_node(output, "palegreen")
    if output.grad_fn is None:
        lines.append("}")
        return "\n".join(lines)
    stack = [(output.grad_fn, out_id)]
    while stack:
        fn, consumer = stack.pop()
        fid = f"f{id(fn)}"
        lines.append(f"  {fid} -> {consumer};")
        if id(fn) in seen_f:
            continue
        seen_f.add(id(fn))
        extra = ""
        if show_saved and getattr(fn, "saved", ()):
            extra = f"\\nsaved: {len(fn.saved)}"
        freed = "\\n(freed)" if "inputs" not in fn.__dict__ else ""  # backward already released it
        lines.append(f'  {fid} [shape=ellipse, label="{type(fn).__name__}{extra}{freed}"];')
        for t in fn.__dict__.get("inputs", ()):
            if t.grad_fn is None:
                tid = tensor_node(t, "lightblue" if t.requires_grad else "white")
                lines.append(f"  {tid} -> {fid};")
            else:
                stack.append((t.grad_fn, fid))
    lines.append("}")
    return "\n".join(lines)


def render(output: Tensor, path: str, names: dict | None = None) -> str:
    """Write the graph to `path` (.png, .svg, .pdf) with Graphviz's `dot`; returns the path.

    Raises RuntimeError with install advice when `dot` is not on PATH
    (the DOT text from `to_dot` works without it).
    """
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError("render: the Graphviz `dot` program is not installed (e.g. `apt-get install graphviz`); "
                           "use to_dot(...) to get the DOT text instead")
    fmt = path.rsplit(".", 1)[-1].lower() if "." in path else "png"
    subprocess.run([dot, f"-T{fmt}", "-o", path], input=to_dot(output, names).encode(), check=True)
    return path
