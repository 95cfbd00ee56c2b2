"""The identity op that module backward hooks are built on (torch's BackwardHookFunction).

`nn.Module` passes a module's Tensor inputs, and then its Tensor outputs, through this op
when the module has backward hooks. The op changes no value; its node is simply the place
in the graph where the gradients with respect to those tensors pass, all together, so a
callback can read them (the module's grad_output, grad_input) and replace them.
"""
from __future__ import annotations

from ..autograd import Function

__all__ = ["BackwardHookFunction", "backward_hook_identity"]


class BackwardHookFunction(Function):
    """Identity on any number of arrays: out_k = in_k, so d L/d in_k = d L/d out_k.

    Keyword arguments (set by `backward_hook_identity`):
        on_backward: None, or a function (tuple of gradient arrays, one per output) ->
            the tuple of gradient arrays to pass on (it may replace some).
        non_differentiable: indices of the inputs that do not require grad; their outputs
            do not either (torch marks them non-differentiable too).
        materialize_grads: with False, `on_backward` sees None (not zeros) for outputs that
            got no gradient.
    """

    @staticmethod
    def forward(ctx, *arrays, on_backward=None, non_differentiable=(), materialize_grads=True):
        # Views, as torch's outputs are: an in-place change of one in a recorded graph is refused
        # (it would change the input too, behind the graph's back).
        outs = tuple([a.view() for a in arrays])
        if non_differentiable:
            ctx.mark_non_differentiable(*[outs[k] for k in non_differentiable])
        ctx.set_materialize_grads(materialize_grads)
        ctx.on_backward = on_backward
        return outs

    @staticmethod
    def backward(ctx, *grads):
        """d in_k = d out_k, after `on_backward` has seen (and maybe replaced) them."""
        if ctx.on_backward is not None:
            grads = ctx.on_backward(grads)
        return tuple(grads)


def backward_hook_identity(tensors, on_backward=None, materialize_grads=True) -> tuple:
    """The tensors again, through one `BackwardHookFunction` node (a tuple of new Tensors).

    Each output shares its input's memory and version counter (as a view does), so an
    in-place write to either is seen by every node that saved the other.
    """
    skip = tuple([k for k, t in enumerate(tensors) if not t.requires_grad])
    outs = BackwardHookFunction.apply(*tensors, on_backward=on_backward, non_differentiable=skip,
                                      materialize_grads=materialize_grads)
    for t, o in zip(tensors, outs):
        o._vc = t._vc
    return outs
