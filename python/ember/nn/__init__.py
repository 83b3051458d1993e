"""ember.nn: modules, layers, losses, parameters and initializers."""

from . import functional, init, parallel
from .activation import LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .containers import ModuleDict, ModuleList, Sequential
from .dropout import Dropout
from .flatten import Flatten
from .linear import Identity, LazyLinear, Linear
from .loss import CrossEntropyLoss, MSELoss
from .module import Module
from .parameter import Parameter, UninitializedParameter

__all__ = [
    "Module", "Parameter", "UninitializedParameter",
    "Sequential", "ModuleList", "ModuleDict",
    "Identity", "Linear", "LazyLinear", "Flatten", "Dropout",
    "ReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
    "MSELoss", "CrossEntropyLoss", "functional", "init", "parallel",
]
