"""minigrad.nn: Module, Parameter and the generic layers models are built from.

    import minigrad as mg
    from minigrad import nn

    model = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 2))
    loss = nn.CrossEntropyLoss()(model(x), y)   # class dimension LAST

Submodules: `nn.init` (in-place initialisers), `nn.utils` (gradient clipping; `nn.utils.rnn.pad_sequence`),
`nn.functional` (the same module as `minigrad.functional`, so torch's `import ... nn.functional as F` works).
"""
import sys as _sys

from .. import functional
from . import init, utils

# `import minigrad.nn.functional as F` (torch's spelling) finds the one functional module, not a copy.
_sys.modules[__name__ + ".functional"] = functional
from .activation import (
    CELU, ELU, GLU, SELU, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSigmoid, Mish, PReLU, ReLU6, SiLU, Softmin,
    Softsign, Tanhshrink,
)
from .attention import MultiheadAttention
from .containers import ParameterDict, ParameterList
from .ctc import CTCLoss
from .conv import AdaptiveAvgPool1d, AvgPool1d, Conv1d, MaxPool1d
from .conv2d import (
    AdaptiveAvgPool2d, AdaptiveMaxPool1d, AdaptiveMaxPool2d, AvgPool2d, Conv2d, ConvTranspose1d, ConvTranspose2d, Fold,
    MaxPool2d, PixelShuffle, PixelUnshuffle, Unfold, Upsample, UpsamplingBilinear2d, UpsamplingNearest2d,
)
from .conv3d import (
    AdaptiveAvgPool3d, AdaptiveMaxPool3d, AvgPool3d, Conv3d, ConvTranspose3d, MaxPool3d,
)
from .layers import (
    Dropout, Embedding, Flatten, GELU, Identity, LayerNorm, Linear, LogSoftmax, ModuleDict, ModuleList, ReLU,
    Sequential, Sigmoid, Softmax, Softplus, Tanh, Unflatten,
)
from .loss import (
    BCELoss, BCEWithLogitsLoss, CosineEmbeddingLoss, CosineSimilarity, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss,
    MarginRankingLoss, MSELoss, NLLLoss, SmoothL1Loss,
)
from .extra import (
    AlphaDropout, Bilinear, CircularPad1d, CircularPad2d, CircularPad3d, ConstantPad1d, ConstantPad2d, ConstantPad3d,
    Dropout1d, Dropout2d, Dropout3d, EmbeddingBag, GaussianNLLLoss, Hardshrink, HingeEmbeddingLoss, MultiLabelMarginLoss,
    MultiLabelSoftMarginLoss, MultiMarginLoss, PairwiseDistance, PoissonNLLLoss, ReflectionPad1d, ReflectionPad2d,
    ReflectionPad3d, ReplicationPad1d, ReplicationPad2d, ReplicationPad3d, RReLU, Softmax2d, SoftMarginLoss,
    Softshrink, Threshold, TripletMarginLoss, TripletMarginWithDistanceLoss, ZeroPad1d, ZeroPad2d, ZeroPad3d,
)
from .module import Module, Parameter
from . import parallel  # torch.nn.parallel: DataParallel, DistributedDataParallel (one process)
from .parallel import DataParallel
from .adaptive import AdaptiveLogSoftmaxWithLoss
from .buffer import Buffer
from .pool_more import (
    Container, FeatureAlphaDropout, LPPool1d, LPPool2d, MaxUnpool1d, MaxUnpool2d, NLLLoss2d,
)
from .norm import BatchNorm1d, RMSNorm
from .norm_more import (
    BatchNorm2d, BatchNorm3d, ChannelShuffle, GroupNorm, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d, LazyLinear,
    LocalResponseNorm, UninitializedParameter, LazyBatchNorm1d, LazyBatchNorm2d, LazyBatchNorm3d,
)
from .transformer import (
    Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer,
)

# torch's package path `torch.nn.modules` (e.g. `from torch.nn.modules.module import Module,
# register_module_forward_hook`): `nn.modules.module` is nn/module.py itself; `nn.modules` and its
# layer submodules (`nn.modules.linear`, ...) are one alias that looks names up in nn
# (`from minigrad.nn.modules.linear import Linear`). torch's private helpers there (_ConvNd, _Loss, ...) are not.
from . import module as _module_file


def _modules_getattr(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(_sys.modules[__name__], name)


modules = type(_sys)(__name__ + ".modules", "torch.nn.modules's spelling of minigrad.nn (an alias).")
modules.__getattr__ = _modules_getattr
modules.__path__ = []  # a package: `import minigrad.nn.modules.module` finds the entries below
modules.module = _module_file
_sys.modules[modules.__name__] = modules
_sys.modules[modules.__name__ + ".module"] = _module_file
for _sub in ("activation", "adaptive", "batchnorm", "channelshuffle", "container", "conv", "distance", "dropout",
             "flatten", "fold", "instancenorm", "linear", "loss", "normalization", "padding", "pixelshuffle",
             "pooling", "rnn", "sparse", "transformer", "upsampling"):
    _sys.modules[f"{modules.__name__}.{_sub}"] = modules
    setattr(modules, _sub, modules)
del _sub

# torch's recurrent layers under their nn names: the classes live in the `models` package, which imports
# minigrad, so importing it here would be circular and would make every `import minigrad` load models.
# A module-level __getattr__ (PEP 562) imports models only when one of these names is first asked for.
_RECURRENT = ("RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell")


# torch's base classes (for `isinstance(m, nn.RNNBase)` in weight-init loops): the shared bases in models/_layer.py
_RECURRENT_BASES = {"RNNBase": "RecurrentLayer", "RNNCellBase": "RecurrentCell"}


def __getattr__(name):
    if name in _RECURRENT:
        import models

        return getattr(models, name)
    if name in _RECURRENT_BASES:
        from models import _layer

        return getattr(_layer, _RECURRENT_BASES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_RECURRENT) | set(_RECURRENT_BASES))


__all__ = [
    "Module", "Parameter", "init", "utils",
    "Linear", "Embedding", "Dropout", "LayerNorm", "BatchNorm1d", "RMSNorm", "Identity", "Flatten", "Unflatten",
    "Conv1d", "MaxPool1d", "AvgPool1d", "AdaptiveAvgPool1d", "MultiheadAttention",
    "Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer", "TransformerDecoderLayer",
    "Tanh", "ReLU", "GELU", "Sigmoid", "Softplus", "Softmax", "LogSoftmax",
    "Sequential", "ModuleList", "ModuleDict",
    "CrossEntropyLoss", "NLLLoss", "MSELoss", "BCEWithLogitsLoss",
    "BCELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "KLDivLoss", "MarginRankingLoss", "CosineEmbeddingLoss",
    "CosineSimilarity", "CTCLoss",
    "ParameterList", "ParameterDict",
    "LeakyReLU", "ELU", "SELU", "CELU", "SiLU", "Mish", "Hardtanh", "ReLU6", "Hardsigmoid", "Hardswish",
    "LogSigmoid", "Softsign", "Tanhshrink", "GLU", "Softmin", "PReLU",
    # nn/extra.py: more losses, distance, activations, padding, Bilinear, EmbeddingBag, dropout variants
    "GaussianNLLLoss", "PoissonNLLLoss", "HingeEmbeddingLoss", "SoftMarginLoss", "MultiLabelSoftMarginLoss",
    "MultiMarginLoss", "MultiLabelMarginLoss", "TripletMarginLoss", "TripletMarginWithDistanceLoss",
    "PairwiseDistance", "Threshold", "Hardshrink", "Softshrink", "RReLU", "Softmax2d",
    "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d",
    "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d",
    "ReplicationPad3d", "CircularPad1d", "CircularPad2d", "CircularPad3d",
    "Bilinear", "EmbeddingBag", "Dropout1d", "AlphaDropout", "Dropout2d", "Dropout3d",
    # nn/conv2d.py: 2-D convolution and pooling, transposed convolution, fold/unfold, pixel shuffle, upsampling
    "Conv2d", "ConvTranspose1d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "Unfold", "Fold", "PixelShuffle", "PixelUnshuffle", "Upsample",
    "UpsamplingNearest2d", "UpsamplingBilinear2d",
    # nn/conv3d.py: 3-D convolution and pooling, transposed convolution
    "Conv3d", "ConvTranspose3d", "MaxPool3d", "AvgPool3d", "AdaptiveAvgPool3d", "AdaptiveMaxPool3d",
    # nn/norm_more.py: more normalisation layers, ChannelShuffle, LazyLinear
    "BatchNorm2d", "BatchNorm3d", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
    "LocalResponseNorm", "ChannelShuffle", "LazyLinear", "UninitializedParameter",
    "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d",
    # nn/buffer.py, nn/pool_more.py: Buffer, unpooling, power-average pooling, FeatureAlphaDropout, deprecated aliases
    "Buffer", "MaxUnpool1d", "MaxUnpool2d", "LPPool1d", "LPPool2d", "FeatureAlphaDropout", "NLLLoss2d", "Container",
    "AdaptiveLogSoftmaxWithLoss",  # nn/adaptive.py
    "parallel", "DataParallel",  # nn/parallel.py
]
__all__ += list(_RECURRENT)  # resolved lazily by __getattr__ above (a star-import loads models)
