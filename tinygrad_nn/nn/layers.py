"""Layers: `Linear` (one fused node), the activation modules and `Sequential`."""

from __future__ import annotations

import operator
from collections.abc import Iterator
from typing import Any

import numpy as np

from tinygrad_nn import autograd, functional
from tinygrad_nn._random import as_generator
from tinygrad_nn.nn import init as _init
from tinygrad_nn.nn.module import Module
from tinygrad_nn.tensor import Tensor

__all__ = ["Identity", "Linear", "ReLU", "Sequential", "Sigmoid", "Tanh"]


def _check_features(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"Linear: {name} must be a positive int, got {value!r}")
    return int(value)


class Linear(Module):
    """A fully connected layer ``y = x @ weight.T + bias``, computed as one graph node.

    Args:
        in_features: size of the input's last axis.
        out_features: size of the output's last axis.
        bias: add a learnable bias of shape (out_features,).
        init: "normal" (the article's normal(0, 0.1) for weight and bias),
            "xavier_uniform" or "kaiming_uniform" (weight; bias zeros), "zeros"; a callable
            ``fn(tensor, rng=generator)`` applied to the weight and the bias; or a
            ``(weight_init, bias_init)`` pair. See `tinygrad_nn.nn.init`.
        dtype: parameter dtype (default: `tnn.get_default_dtype()`).
        rng: a ``numpy.random.Generator``, an int seed, or None.

    Example:
        >>> layer = Linear(1, 16, rng=0)
        >>> layer(Tensor(np.zeros((32, 1)))).shape
        (32, 16)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init: Any = "normal",
        dtype: Any = None,
        rng: _init.RngLike = None,
    ) -> None:
        super().__init__()
        self.in_features = _check_features("in_features", in_features)
        self.out_features = _check_features("out_features", out_features)
        dtype = np.dtype(autograd.get_default_dtype() if dtype is None else dtype)
        if dtype.kind != "f":
            raise TypeError(f"Linear: dtype must be a floating dtype, got {dtype}")
        weight_init, bias_init = _init.get(init)
        generator = as_generator(rng, "Linear")
        shape = (self.out_features, self.in_features)
        self.weight = Tensor(np.zeros(shape, dtype), requires_grad=True, name="weight")
        weight_init(self.weight, rng=generator)
        self.bias: Tensor | None = None
        if bias:
            self.bias = Tensor(np.zeros(shape[0], dtype), requires_grad=True, name="bias")
            bias_init(self.bias, rng=generator)

    def forward(self, x: Tensor) -> Tensor:
        return functional.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class ReLU(Module):
    """max(x, 0) as a module."""

    def forward(self, x: Tensor) -> Tensor:
        return functional.relu(x)


class Sigmoid(Module):
    """1 / (1 + exp(-x)) as a module."""

    def forward(self, x: Tensor) -> Tensor:
        return functional.sigmoid(x)


class Tanh(Module):
    """tanh(x) as a module."""

    def forward(self, x: Tensor) -> Tensor:
        return functional.tanh(x)


class Identity(Module):
    """Returns its input unchanged (a placeholder layer); constructor arguments are ignored."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x


class Sequential(Module):
    """Modules applied one after another; children are named "0", "1", ...

    Indexing gives a module (``seq[0]``) or a new Sequential of the same modules
    (``seq[1:]``); ``len`` and iteration work as on a list.

    Example:
        >>> model = Sequential(Linear(1, 16), ReLU(), Linear(16, 2))
        >>> [name for name, _ in model.named_parameters()]
        ['0.weight', '0.bias', '2.weight', '2.bias']
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for index, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(
                    f"Sequential: argument {index} is a {type(module).__name__}, not a Module"
                )
            self.add_module(str(index), module)
        # A plain tuple for the hot loop, stored past __setattr__ so it is not a container.
        object.__setattr__(self, "_sequence", tuple(modules))

    def forward(self, x: Any) -> Any:
        for module in self._sequence:
            x = module(x)
        return x

    def __len__(self) -> int:
        return len(self._sequence)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._sequence)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return Sequential(*self._sequence[index])
        try:
            return self._sequence[operator.index(index)]
        except IndexError:
            raise IndexError(
                f"Sequential: index {index} is out of range for {len(self)} modules"
            ) from None
