"""Tools to verify gradients, for our tests and yours.

`gradcheck` compares analytic gradients with float64 finite differences.
`minigrad.testing.strategies` (needs `hypothesis`) generates shapes, broadcastable
shape pairs, tensors and index expressions for property tests.
"""
from .gradcheck import GradcheckError, gradcheck

__all__ = ["gradcheck", "GradcheckError"]
