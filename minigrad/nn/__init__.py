"""minigrad.nn: Module, Parameter and the generic layers models are built from.

    import minigrad as mg
    from minigrad import nn

    model = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 2))
    loss = nn.CrossEntropyLoss()(model(x), y)   # class dimension LAST

Submodules: `nn.init` (in-place initialisers), `nn.utils` (gradient clipping; `nn.utils.rnn.pad_sequence`).
"""
from . import init, utils
from .activation import (
    CELU, ELU, GLU, SELU, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSigmoid, Mish, PReLU, ReLU6, SiLU, Softmin,
    Softsign, Tanhshrink,
)
from .attention import MultiheadAttention
from .containers import ParameterDict, ParameterList
from .conv import AdaptiveAvgPool1d, AvgPool1d, Conv1d, MaxPool1d
from .layers import (
    Dropout, Embedding, Flatten, GELU, Identity, LayerNorm, Linear, LogSoftmax, ModuleDict, ModuleList, ReLU,
    Sequential, Sigmoid, Softmax, Softplus, Tanh, Unflatten,
)
from .loss import (
    BCELoss, BCEWithLogitsLoss, CosineEmbeddingLoss, CosineSimilarity, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss,
    MarginRankingLoss, MSELoss, NLLLoss, SmoothL1Loss,
)
from .module import Module, Parameter
from .norm import BatchNorm1d

__all__ = [
    "Module", "Parameter", "init", "utils",
    "Linear", "Embedding", "Dropout", "LayerNorm", "BatchNorm1d", "Identity", "Flatten", "Unflatten",
    "Conv1d", "MaxPool1d", "AvgPool1d", "AdaptiveAvgPool1d", "MultiheadAttention",
    "Tanh", "ReLU", "GELU", "Sigmoid", "Softplus", "Softmax", "LogSoftmax",
    "Sequential", "ModuleList", "ModuleDict",
    "CrossEntropyLoss", "NLLLoss", "MSELoss", "BCEWithLogitsLoss",
    "BCELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "KLDivLoss", "MarginRankingLoss", "CosineEmbeddingLoss",
    "CosineSimilarity",
    "ParameterList", "ParameterDict",
    "LeakyReLU", "ELU", "SELU", "CELU", "SiLU", "Mish", "Hardtanh", "ReLU6", "Hardsigmoid", "Hardswish",
    "LogSigmoid", "Softsign", "Tanhshrink", "GLU", "Softmin", "PReLU",
]
