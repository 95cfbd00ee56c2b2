"""minigrad.nn: Module, Parameter and the generic layers models are built from.

    import minigrad as mg
    from minigrad import nn

    model = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 2))
    loss = nn.CrossEntropyLoss()(model(x), y)   # class dimension LAST

Submodules: `nn.init` (in-place initialisers), `nn.utils` (gradient clipping; `nn.utils.rnn.pad_sequence`).
"""
from . import init, utils
from .layers import (
    Dropout, Embedding, Flatten, GELU, Identity, LayerNorm, Linear, LogSoftmax, ModuleDict, ModuleList, ReLU,
    Sequential, Sigmoid, Softmax, Softplus, Tanh,
)
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module, Parameter

__all__ = [
    "Module", "Parameter", "init", "utils",
    "Linear", "Embedding", "Dropout", "LayerNorm", "Identity", "Flatten",
    "Tanh", "ReLU", "GELU", "Sigmoid", "Softplus", "Softmax", "LogSoftmax",
    "Sequential", "ModuleList", "ModuleDict",
    "CrossEntropyLoss", "NLLLoss", "MSELoss", "BCEWithLogitsLoss",
]
