"""ember.nn: modules, layers, losses, parameters and initializers."""

from . import functional, init
from .activation import LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .containers import ModuleDict, ModuleList, Sequential
from .dropout import Dropout
from .flatten import Flatten
from .linear import Identity, LazyLinear, Linear
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module
from .parameter import Parameter, UninitializedParameter
from .sparse import Embedding

__all__ = [
    "Module", "Parameter", "UninitializedParameter",
    "Sequential", "ModuleList", "ModuleDict",
    "Identity", "Linear", "LazyLinear", "Flatten", "Dropout",
    "ReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
    "MSELoss", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "Embedding",
    "functional", "init",
]
