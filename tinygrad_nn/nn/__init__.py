"""Neural-network building blocks: `Module`, layers, activations, normalisation,
containers, the article's `MLP`, initialisers (`init`) and gradient clipping (`utils`)."""

from tinygrad_nn.nn import init, utils
from tinygrad_nn.nn.activation import ELU, GELU, LeakyReLU, LogSoftmax, SiLU, Softmax, Softplus
from tinygrad_nn.nn.container import ModuleDict, ModuleList
from tinygrad_nn.nn.conv import AvgPool2d, Conv2d, MaxPool2d
from tinygrad_nn.nn.layers import (
    Dropout,
    Embedding,
    Flatten,
    Identity,
    Linear,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
)
from tinygrad_nn.nn.mlp import MLP
from tinygrad_nn.nn.module import IncompatibleKeys, Module, StateDictError
from tinygrad_nn.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm

__all__ = [
    "ELU",
    "GELU",
    "MLP",
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "Dropout",
    "Embedding",
    "Flatten",
    "Identity",
    "IncompatibleKeys",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MaxPool2d",
    "Module",
    "ModuleDict",
    "ModuleList",
    "ReLU",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "StateDictError",
    "Tanh",
    "init",
    "utils",
]
