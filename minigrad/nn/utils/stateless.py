"""torch.nn.utils.stateless: the deprecated home of `functional_call` (now `minigrad.func.functional_call`)."""
from __future__ import annotations

import warnings

__all__ = ["functional_call"]


def functional_call(module, parameters_and_buffers, args=None, kwargs=None, *, tie_weights=True, strict=False):
    """Deprecated alias of `minigrad.func.functional_call` (torch's FutureWarning included).

    Same call as torch.nn.utils.stateless.functional_call: `parameters_and_buffers` is one dict
    {name: Tensor}; see minigrad.func.functional_call for the semantics.
    """
    warnings.warn("`torch.nn.utils.stateless.functional_call` is deprecated as of PyTorch 2.0 and will be removed "
                  "in a future version of PyTorch. Please use `torch.func.functional_call` instead which is a "
                  "drop-in replacement.", FutureWarning, stacklevel=2)
    from ...func import functional_call as _functional_call  # here: minigrad.func imports nn at load time
    return _functional_call(module, parameters_and_buffers, args, kwargs, tie_weights=tie_weights, strict=strict)
