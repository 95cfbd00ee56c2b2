"""Tools to verify gradients, for our tests and yours.

`gradcheck` compares analytic gradients with float64 finite differences.
`check_op` checks a whole op the way the project's own tests do: values against a
NumPy reference (float64 and float32), gradients (`gradcheck`), float32 kept
float32, inputs never written.
`assert_close` and `make_tensor` are torch.testing's (dtype-based tolerances, nested inputs).
`minigrad.testing.strategies` (needs `hypothesis`) generates shapes, broadcastable
shape pairs, tensors and NumPy arrays, dims, index arrays and index expressions, and
positive-definite matrices for property tests.
"""
from .comparison import assert_close, make_tensor
from .gradcheck import GradcheckError, gradcheck
from .opcheck import check_op

__all__ = ["gradcheck", "GradcheckError", "check_op", "assert_close", "make_tensor"]
