"""Weight initialisers that fill a Tensor (its .data is replaced) or an ndarray (in place),
seedable and dtype-preserving."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tinygrad_nn._random import RngLike, as_generator
from tinygrad_nn.tensor import Tensor

__all__ = [
    "Initializer",
    "RngLike",
    "calculate_gain",
    "fans",
    "get",
    "kaiming_uniform",
    "normal",
    "uniform",
    "xavier_uniform",
    "zeros",
]

Initializer = Callable[..., Any]  # fn(tensor, rng=generator) -> tensor

_GAINS = {"linear": 1.0, "identity": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2)}


def _array_of(tensor: Tensor | np.ndarray, fn: str) -> np.ndarray:
    array = tensor.data if isinstance(tensor, Tensor) else tensor
    if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
        got = array.dtype if isinstance(array, np.ndarray) else type(tensor).__name__
        raise TypeError(f"init.{fn}: expected a floating-point Tensor or ndarray, got {got}")
    return array


def _fill(tensor: Tensor | np.ndarray, values: np.ndarray) -> Any:
    # Values are drawn in float64 and cast on assignment: the tensor keeps its dtype, and a
    # seed gives the same numbers (up to rounding) in float32 and float64.
    # A Tensor gets a new array through its .data attribute (which the engine observes);
    # an ndarray, which cannot be rebound, is filled in place.
    if isinstance(tensor, Tensor):
        tensor.data = np.broadcast_to(values, tensor.data.shape).astype(tensor.data.dtype)
    else:
        tensor[...] = values
    return tensor


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel), as PyTorch computes them.

    Example:
        >>> fans((16, 3))
        (3, 16)
    """
    if len(shape) < 2:
        raise ValueError(
            f"init: fan_in and fan_out need a weight with at least 2 axes, got shape {shape}; "
            "initialise biases with normal, uniform or zeros"
        )
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, a: float = 0.0) -> float:
    """The recommended gain for a nonlinearity (PyTorch's values).

    Args:
        nonlinearity: "linear", "identity", "sigmoid", "tanh", "relu" or "leaky_relu".
        a: negative slope of leaky_relu.

    Example:
        >>> round(calculate_gain("relu"), 4)
        1.4142
    """
    if nonlinearity == "leaky_relu":
        return math.sqrt(2.0 / (1.0 + a * a))
    if nonlinearity not in _GAINS:
        raise ValueError(
            f"init.calculate_gain: unknown nonlinearity {nonlinearity!r}; choose one of "
            f"{sorted([*_GAINS, 'leaky_relu'])}"
        )
    return _GAINS[nonlinearity]


def normal(
    tensor: Tensor | np.ndarray, mean: float = 0.0, std: float = 0.1, rng: RngLike = None
) -> Any:
    """Fill with samples of normal(mean, std); the default is the article's normal(0, 0.1).

    Args:
        tensor: a floating Tensor or ndarray, filled (its shape and dtype are kept).
        mean: mean of the distribution.
        std: standard deviation (>= 0).
        rng: a ``numpy.random.Generator``, an int seed, or None (the default generator,
            which `tnn.manual_seed` seeds).

    Returns:
        ``tensor`` itself.

    Example:
        >>> w = normal(Tensor(np.empty((16, 1))), rng=0)
    """
    array = _array_of(tensor, "normal")
    if not std >= 0:
        raise ValueError(f"init.normal: std must be >= 0, got {std}")
    return _fill(tensor, as_generator(rng, "init.normal").normal(mean, std, size=array.shape))


def uniform(
    tensor: Tensor | np.ndarray, low: float = 0.0, high: float = 1.0, rng: RngLike = None
) -> Any:
    """Fill with samples of uniform[low, high).

    Example:
        >>> w = uniform(Tensor(np.empty((3, 2))), -0.5, 0.5, rng=0)
    """
    array = _array_of(tensor, "uniform")
    if not low <= high:
        raise ValueError(f"init.uniform: need low <= high, got low={low}, high={high}")
    return _fill(tensor, as_generator(rng, "init.uniform").uniform(low, high, size=array.shape))


def xavier_uniform(tensor: Tensor | np.ndarray, gain: float = 1.0, rng: RngLike = None) -> Any:
    """Glorot uniform: uniform(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)).

    Example:
        >>> w = xavier_uniform(Tensor(np.empty((16, 1))), rng=0)
    """
    array = _array_of(tensor, "xavier_uniform")
    fan_in, fan_out = fans(array.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    generator = as_generator(rng, "init.xavier_uniform")
    return _fill(tensor, generator.uniform(-bound, bound, size=array.shape))


def kaiming_uniform(
    tensor: Tensor | np.ndarray,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "relu",
    rng: RngLike = None,
) -> Any:
    """He uniform: uniform(-b, b) with b = gain * sqrt(3 / fan), gain from the nonlinearity.

    Args:
        tensor: a floating Tensor or ndarray with at least 2 axes, filled.
        a: negative slope, used when ``nonlinearity="leaky_relu"``.
        mode: "fan_in" (preserves forward variance) or "fan_out" (backward variance).
        nonlinearity: see `calculate_gain`; "relu" gives gain sqrt(2).
        rng: a ``numpy.random.Generator``, an int seed, or None.

    Example:
        >>> w = kaiming_uniform(Tensor(np.empty((16, 1))), rng=0)
    """
    array = _array_of(tensor, "kaiming_uniform")
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init.kaiming_uniform: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fans(array.shape)
    fan = fan_in if mode == "fan_in" else fan_out
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    generator = as_generator(rng, "init.kaiming_uniform")
    return _fill(tensor, generator.uniform(-bound, bound, size=array.shape))


def zeros(tensor: Tensor | np.ndarray, rng: RngLike = None) -> Any:
    """Fill with zeros (``rng`` is accepted, and ignored, so every initialiser is called alike).

    Example:
        >>> b = zeros(Tensor(np.ones(4)))
    """
    _array_of(tensor, "zeros")
    return _fill(tensor, np.zeros(()))


def _pytorch(fan_in: int) -> tuple[Initializer, Initializer]:
    """PyTorch's default for Linear and Conv2d: kaiming_uniform(a=sqrt(5)) weights, which is
    uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), and biases from the same range."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0

    def weight(tensor: Tensor | np.ndarray, rng: RngLike = None) -> Any:
        return kaiming_uniform(tensor, a=math.sqrt(5), nonlinearity="leaky_relu", rng=rng)

    def bias(tensor: Tensor | np.ndarray, rng: RngLike = None) -> Any:
        return uniform(tensor, -bound, bound, rng=rng)

    return weight, bias


# Named schemes for `Linear(init=...)`: (weight initialiser, bias initialiser).
_SCHEMES: dict[str, tuple[Initializer, Initializer]] = {
    "normal": (normal, normal),  # the article: weights and biases both normal(0, 0.1)
    "xavier_uniform": (xavier_uniform, zeros),
    "kaiming_uniform": (kaiming_uniform, zeros),
    "zeros": (zeros, zeros),
}
SCHEME_NAMES = ("pytorch", *_SCHEMES)


def get(
    scheme: str | Initializer | tuple[Any, Any], fan_in: int | None = None
) -> tuple[Initializer, Initializer]:
    """Resolve a layer's ``init`` argument to a (weight, bias) pair of initialisers.

    Args:
        scheme: a name: "pytorch" (PyTorch's default for Linear and Conv2d: weight and bias
            uniform(-1/sqrt(fan_in), 1/sqrt(fan_in))), "normal" (the article's normal(0, 0.1)
            for both), "xavier_uniform", "kaiming_uniform" (weight; bias zeros), "zeros"; a
            callable ``fn(tensor, rng=generator)`` used for the weight and the bias; or a
            pair ``(weight_init, bias_init)`` of names or callables.
        fan_in: the layer's inputs per output, which "pytorch" needs for the bias.

    Example:
        >>> get("xavier_uniform") == (xavier_uniform, zeros)
        True
    """
    if isinstance(scheme, str):
        if scheme == "pytorch":
            if fan_in is None:
                raise ValueError("init: the 'pytorch' scheme needs the layer's fan_in")
            return _pytorch(fan_in)
        if scheme not in _SCHEMES:
            raise ValueError(
                f"init: unknown scheme {scheme!r}; choose one of {sorted(SCHEME_NAMES)}, pass "
                "a callable fn(tensor, rng=generator), or a (weight_init, bias_init) pair"
            )
        return _SCHEMES[scheme]
    if callable(scheme):
        return scheme, scheme
    if isinstance(scheme, tuple) and len(scheme) == 2:
        return _function(scheme[0]), _function(scheme[1])
    raise TypeError(
        f"init: expected a scheme name, a callable or a (weight_init, bias_init) pair, "
        f"got {scheme!r}"
    )


def _function(entry: str | Initializer) -> Initializer:
    """One entry of a (weight_init, bias_init) pair: a callable or an initialiser's name."""
    if callable(entry):
        return entry
    functions = {
        fn.__name__: fn for fn in (normal, uniform, xavier_uniform, kaiming_uniform, zeros)
    }
    if isinstance(entry, str) and entry in functions:
        return functions[entry]
    raise ValueError(
        f"init: unknown initialiser {entry!r} in a (weight_init, bias_init) pair; choose one of "
        f"{sorted(functions)} or pass a callable"
    )
