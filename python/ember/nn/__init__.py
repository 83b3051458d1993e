"""ember.nn: modules, layers, losses, parameters and initializers."""

from . import functional, init, parallel
from .activation import LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .batchnorm import (BatchNorm1d, BatchNorm2d, BatchNorm3d, LazyBatchNorm1d, LazyBatchNorm2d,
                        LazyBatchNorm3d)
from .containers import ModuleDict, ModuleList, Sequential
from .conv import Conv1d, Conv2d, LazyConv1d, LazyConv2d
from .dropout import Dropout
from .flatten import Flatten
from .linear import Identity, LazyLinear, Linear
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module
from .normalization import LayerNorm
from .parameter import Parameter, UninitializedBuffer, UninitializedParameter
from .pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool1d, AdaptiveMaxPool2d, AvgPool1d,
                      AvgPool2d, MaxPool1d, MaxPool2d)
from .sparse import Embedding

__all__ = [
    "Module", "Parameter", "UninitializedParameter", "UninitializedBuffer",
    "Sequential", "ModuleList", "ModuleDict",
    "Identity", "Linear", "LazyLinear", "Flatten", "Dropout",
    "ReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
    "MSELoss", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "Embedding",
    "functional", "init", "parallel",
    "Conv1d", "Conv2d", "LazyConv1d", "LazyConv2d",
    "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LazyBatchNorm1d", "LazyBatchNorm2d",
    "LazyBatchNorm3d", "LayerNorm",
]
