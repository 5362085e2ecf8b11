"""Layers: `Linear` (one fused node), `Dropout`, `Flatten`, `Embedding`, ReLU, Sigmoid,
Tanh, Identity and `Sequential`."""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator
from typing import Any

import numpy as np

from tinygrad_nn import autograd, functional
from tinygrad_nn._random import as_generator
from tinygrad_nn.nn import init as _init
from tinygrad_nn.nn.module import Module
from tinygrad_nn.tensor import Tensor

__all__ = [
    "Dropout",
    "Embedding",
    "Flatten",
    "Identity",
    "Linear",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
]


def _check_features(name: str, value: Any, owner: str = "Linear") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")
    return int(value)


def parameter_dtype(owner: str, dtype: Any) -> np.dtype:
    """A layer's ``dtype`` argument resolved (None: the default dtype); floats only."""
    resolved = np.dtype(autograd.get_default_dtype() if dtype is None else dtype)
    if resolved.kind != "f":
        raise TypeError(f"{owner}: dtype must be a floating dtype, got {resolved}")
    return resolved


def init_weight_and_bias(
    owner: str,
    shape: tuple[int, ...],
    bias: bool,
    init: Any,
    dtype: Any,
    rng: _init.RngLike,
) -> tuple[Tensor, Tensor | None]:
    """A ``weight`` of ``shape`` (out first) and, with ``bias``, a ``bias`` of shape (out,),
    drawn in that order by the ``init`` scheme (PyTorch's fan_in: all axes but the first);
    the layer assigns both, weight first, so they register in that order."""
    dtype = parameter_dtype(owner, dtype)
    weight_init, bias_init = _init.get(init, fan_in=math.prod(shape[1:]))
    generator = as_generator(rng, owner)
    weight = Tensor(np.zeros(shape, dtype), requires_grad=True, name="weight")
    weight_init(weight, rng=generator)
    if not bias:
        return weight, None
    bias_tensor = Tensor(np.zeros(shape[0], dtype), requires_grad=True, name="bias")
    bias_init(bias_tensor, rng=generator)
    return weight, bias_tensor


class Linear(Module):
    """A fully connected layer ``y = x @ weight.T + bias``, computed as one graph node.

    Args:
        in_features: size of the input's last axis.
        out_features: size of the output's last axis.
        bias: add a learnable bias of shape (out_features,).
        init: "pytorch" (the default, as in ``torch.nn.Linear``: weight and bias uniform
            in +-1/sqrt(in_features)); "normal" (the article's normal(0, 0.1) for weight
            and bias, `MLP`'s default), "xavier_uniform" or "kaiming_uniform" (weight; bias
            zeros), "zeros"; a callable ``fn(tensor, rng=generator)`` applied to the weight
            and the bias; or a ``(weight_init, bias_init)`` pair. See `tinygrad_nn.nn.init`.
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
        init: Any = "pytorch",
        dtype: Any = None,
        rng: _init.RngLike = None,
    ) -> None:
        super().__init__()
        self.in_features = _check_features("in_features", in_features)
        self.out_features = _check_features("out_features", out_features)
        shape = (self.out_features, self.in_features)
        self.weight, self.bias = init_weight_and_bias("Linear", shape, bias, init, dtype, rng)

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

    _sequence: tuple[Module, ...]

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


class Dropout(Module):
    """Zero each element with probability ``p`` in training mode, scaling the rest by 1/(1-p).

    In eval mode (``model.eval()``) it returns its input unchanged. The masks come from
    ``rng`` (a Generator or a seed; None draws fresh entropy), so a seeded run repeats.

    Args:
        p: the drop probability, in [0, 1].
        inplace: accepted for PyTorch compatibility and ignored (the input is never changed).
        rng: a ``numpy.random.Generator``, an int seed, or None.

    Example:
        >>> drop = Dropout(0.5, rng=0)
        >>> drop.eval()(Tensor(np.ones(4))).data.tolist()
        [1.0, 1.0, 1.0, 1.0]
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, rng: _init.RngLike = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)
        self._generator = as_generator(rng, "Dropout")

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return x * 0.0
        if autograd.is_recording():
            raise ValueError(
                "capture_step: Dropout draws a new mask on every call, which a replay would "
                "freeze at the first call's; capture the step in eval mode (model.eval()) or "
                "run it without capture_step"
            )
        keep = self._generator.random(x.shape) >= self.p
        return x * (keep * (1.0 / (1.0 - self.p))).astype(x.dtype)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Flatten(Module):
    """Merge the axes ``start_dim`` to ``end_dim`` into one (by default all but the batch axis).

    Example:
        >>> Flatten()(Tensor(np.zeros((2, 3, 4)))).shape
        (2, 12)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = int(start_dim)
        self.end_dim = int(end_dim)

    def forward(self, x: Tensor) -> Tensor:
        ndim = max(x.ndim, 1)
        start, end = self.start_dim, self.end_dim
        start, end = start + ndim if start < 0 else start, end + ndim if end < 0 else end
        if not 0 <= start <= end < ndim:
            raise ValueError(
                f"Flatten: start_dim={self.start_dim}, end_dim={self.end_dim} do not fit an "
                f"input of shape {x.shape}"
            )
        shape = x.shape
        merged = int(np.prod(shape[start : end + 1]))
        return x.reshape(*shape[:start], merged, *shape[end + 1 :])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Embedding(Module):
    """A lookup table: integer indices of any shape -> rows of ``weight`` (num, dim).

    ``weight`` is drawn from normal(0, 1) like PyTorch's. With ``padding_idx`` that row
    starts at zero and gets no gradient.

    Args:
        num_embeddings: the number of rows (the vocabulary size).
        embedding_dim: the length of each row.
        padding_idx: a row that stays fixed (zeros), or None.
        dtype: parameter dtype (default: `tnn.get_default_dtype()`).
        rng: a ``numpy.random.Generator``, an int seed, or None.

    Example:
        >>> Embedding(10, 3, rng=0)(np.array([[1, 2], [3, 4]])).shape
        (2, 2, 3)
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        dtype: Any = None,
        rng: _init.RngLike = None,
    ) -> None:
        super().__init__()
        self.num_embeddings = _check_features("num_embeddings", num_embeddings, "Embedding")
        self.embedding_dim = _check_features("embedding_dim", embedding_dim, "Embedding")
        if padding_idx is not None:
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(
                    f"Embedding: padding_idx {padding_idx} is out of range for "
                    f"{self.num_embeddings} embeddings"
                )
            padding_idx %= self.num_embeddings
        self.padding_idx = padding_idx
        dtype = parameter_dtype("Embedding", dtype)
        shape = (self.num_embeddings, self.embedding_dim)
        self.weight = Tensor(np.zeros(shape, dtype), requires_grad=True, name="weight")
        _init.normal(self.weight, 0.0, 1.0, rng=as_generator(rng, "Embedding"))
        if padding_idx is not None:
            self.weight.data = np.where(
                np.arange(self.num_embeddings)[:, None] == padding_idx, 0, self.weight.data
            ).astype(dtype)

    def forward(self, indices: Any) -> Tensor:
        array = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
        if array.dtype.kind not in "iu":
            raise TypeError(
                f"Embedding: indices must be integers, got dtype {array.dtype}; convert with "
                ".astype(int)"
            )
        if array.size and (array.min() < 0 or array.max() >= self.num_embeddings):
            raise IndexError(
                f"Embedding: indices must lie in [0, {self.num_embeddings}), got values from "
                f"{array.min()} to {array.max()}"
            )
        rows = self.weight[array]
        if self.padding_idx is None:
            return rows
        return functional.where((array != self.padding_idx)[..., None], rows, 0.0)

    def extra_repr(self) -> str:
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{padding}"
