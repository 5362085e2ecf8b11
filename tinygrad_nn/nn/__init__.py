"""Neural-network building blocks: `Module`, `Linear`, activations, `Sequential`, `MLP`, `init`."""

from tinygrad_nn.nn import init
from tinygrad_nn.nn.layers import Identity, Linear, ReLU, Sequential, Sigmoid, Tanh
from tinygrad_nn.nn.mlp import MLP
from tinygrad_nn.nn.module import IncompatibleKeys, Module, StateDictError

__all__ = [
    "MLP",
    "Identity",
    "IncompatibleKeys",
    "Linear",
    "Module",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "StateDictError",
    "Tanh",
    "init",
]
