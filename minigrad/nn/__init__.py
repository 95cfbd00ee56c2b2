"""minigrad.nn: Module, Parameter and the generic layers models are built from."""
from .module import Module, Parameter

__all__ = ["Module", "Parameter"]
