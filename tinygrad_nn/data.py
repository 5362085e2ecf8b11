"""Small synthetic data sets, a batch iterator, and PyTorch's TensorDataset and DataLoader.

`sincos` and `sincos_grid` are the original article's regression task (learn sin and cos
on [0, 1)); `two_spirals` and `moons` are 2-D classification sets; `batches` walks any
pair of arrays in mini-batches; `TensorDataset` and `DataLoader` do the same the PyTorch
way (a loader is iterated once per epoch, reshuffling each time). Everything is seedable:
``rng`` may be None, an int seed or a ``numpy.random.Generator``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn._random import RngLike, as_generator
from tinygrad_nn.tensor import Tensor

if TYPE_CHECKING:
    from numpy.typing import DTypeLike

__all__ = [
    "DataLoader",
    "TensorDataset",
    "batches",
    "moons",
    "sincos",
    "sincos_grid",
    "two_spirals",
]

SPIRAL_TURNS = 1.5  # each spiral arm winds this many times around the origin


def _check_count(function: str, name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{function}: {name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{function}: {name} must be >= 1, got {value}")
    return int(value)


def _check_noise(function: str, noise: float) -> float:
    if isinstance(noise, bool) or not isinstance(noise, (int, float, np.integer, np.floating)):
        raise TypeError(f"{function}: noise must be a real number, got {type(noise).__name__}")
    if not math.isfinite(noise) or noise < 0:
        raise ValueError(f"{function}: noise must be finite and >= 0, got {noise}")
    return float(noise)


def _check_dtype(function: str, dtype: DTypeLike) -> np.dtype:
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved is None or not np.issubdtype(resolved, np.floating):
        raise TypeError(f"{function}: dtype must be a floating dtype, got {dtype!r}")
    return resolved


def _sin_cos(x: np.ndarray) -> np.ndarray:
    """Targets [sin x, cos x] stacked on a new last axis of size 2 (x ends in size 1)."""
    return np.concatenate([np.sin(x), np.cos(x)], axis=-1)


def sincos(
    n_batches: int = 300,
    batch_size: int = 32,
    rng: RngLike = None,
    dtype: DTypeLike = np.float64,
) -> tuple[np.ndarray, np.ndarray]:
    """The article's training data: x uniform in [0, 1), targets sin x and cos x.

    Args:
        n_batches: Number of batches (the article uses 300).
        batch_size: Rows per batch (the article uses 32).
        rng: Seed or generator for x.
        dtype: Floating dtype of both arrays.

    Returns:
        ``(x, y)`` of shapes ``(n_batches, batch_size, 1)`` and ``(n_batches, batch_size, 2)``
        with ``y[..., 0] = sin(x)`` and ``y[..., 1] = cos(x)``.

    Example:
        >>> x, y = sincos(n_batches=3, batch_size=4, rng=0)
        >>> x.shape, y.shape
        ((3, 4, 1), (3, 4, 2))
    """
    n_batches = _check_count("sincos", "n_batches", n_batches)
    batch_size = _check_count("sincos", "batch_size", batch_size)
    dtype = _check_dtype("sincos", dtype)
    x = as_generator(rng, "sincos").random((n_batches, batch_size, 1)).astype(dtype)
    return x, _sin_cos(x)


def sincos_grid(n: int = 30, dtype: DTypeLike = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """The article's test points: ``n`` evenly spaced x in [0, 1] and their sin/cos targets.

    Returns:
        ``(x, y)`` of shapes ``(n, 1)`` and ``(n, 2)``.
    """
    n = _check_count("sincos_grid", "n", n)
    dtype = _check_dtype("sincos_grid", dtype)
    x = np.linspace(0.0, 1.0, n)[:, None].astype(dtype)
    return x, _sin_cos(x)


def batches(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    shuffle: bool = True,
    rng: RngLike = None,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Iterate over ``(x[rows], y[rows])`` mini-batches along the first axis.

    Arguments are checked when called, not when iteration starts; the shuffle order is
    also drawn then. Batches are copies.

    Args:
        x: Inputs, first axis = samples.
        y: Targets with the same number of samples.
        batch_size: Rows per batch; the last batch may be smaller unless ``drop_last``.
        shuffle: Visit the samples in a random order drawn from ``rng``.
        rng: Seed or generator for the order.
        drop_last: Skip a final batch smaller than ``batch_size``.

    Example:
        >>> x, y = np.arange(5.0)[:, None], np.arange(5)
        >>> [len(yb) for _, yb in batches(x, y, 2, shuffle=False)]
        [2, 2, 1]
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(
            f"batches: x and y need a first (sample) axis, got shapes {x.shape} and {y.shape}"
        )
    if len(x) != len(y):
        raise ValueError(
            f"batches: x and y must have the same number of samples, got {len(x)} and "
            f"{len(y)} (shapes {x.shape} and {y.shape})"
        )
    batch_size = _check_count("batches", "batch_size", batch_size)
    order = as_generator(rng, "batches").permutation(len(x)) if shuffle else np.arange(len(x))
    return _iterate_batches(x, y, order, batch_size, drop_last)


def _iterate_batches(
    x: np.ndarray, y: np.ndarray, order: np.ndarray, batch_size: int, drop_last: bool
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        if drop_last and len(rows) < batch_size:
            return
        yield x[rows], y[rows]


def _with_noise(
    points: np.ndarray, noise: float, generator: np.random.Generator, dtype: np.dtype
) -> np.ndarray:
    return (points + generator.normal(0.0, noise, size=points.shape)).astype(dtype)


def _labels(n_per_class: int) -> np.ndarray:
    """n_per_class zeros followed by n_per_class ones."""
    return np.repeat(np.arange(2, dtype=np.int64), n_per_class)


def two_spirals(
    n_per_class: int,
    noise: float = 0.1,
    rng: RngLike = None,
    dtype: DTypeLike = np.float64,
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spiral arms in the plane, one per class, within radius about 1.

    A point at fraction t of its arm sits at radius t and angle ``2 pi * 1.5 * t``; class 1
    is class 0 turned by half a circle. t = sqrt(u) for uniform u spaces points evenly along
    the arm. Gaussian noise of standard deviation ``noise`` is added to both coordinates.

    Returns:
        ``(x, labels)``: x of shape ``(2 * n_per_class, 2)``, int64 labels in {0, 1}
        (class 0 first).
    """
    n_per_class = _check_count("two_spirals", "n_per_class", n_per_class)
    noise = _check_noise("two_spirals", noise)
    dtype = _check_dtype("two_spirals", dtype)
    generator = as_generator(rng, "two_spirals")

    t = np.sqrt(generator.random(2 * n_per_class))
    angle = 2 * np.pi * SPIRAL_TURNS * t
    angle[n_per_class:] += np.pi
    points = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1)
    return _with_noise(points, noise, generator, dtype), _labels(n_per_class)


def moons(
    n_per_class: int,
    noise: float = 0.1,
    rng: RngLike = None,
    dtype: DTypeLike = np.float64,
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles of radius 1 (class 0 on top, class 1 below, shifted).

    Angles are uniform in [0, pi); class 0 is ``(cos a, sin a)``, class 1 is
    ``(1 - cos a, 0.5 - sin a)``; Gaussian noise of standard deviation ``noise`` is added.

    Returns:
        ``(x, labels)``: x of shape ``(2 * n_per_class, 2)``, int64 labels in {0, 1}
        (class 0 first).
    """
    n_per_class = _check_count("moons", "n_per_class", n_per_class)
    noise = _check_noise("moons", noise)
    dtype = _check_dtype("moons", dtype)
    generator = as_generator(rng, "moons")

    angle = np.pi * generator.random(2 * n_per_class)
    upper = np.stack([np.cos(angle[:n_per_class]), np.sin(angle[:n_per_class])], axis=1)
    lower_angle = angle[n_per_class:]
    lower = np.stack([1 - np.cos(lower_angle), 0.5 - np.sin(lower_angle)], axis=1)
    points = np.concatenate([upper, lower], axis=0)
    return _with_noise(points, noise, generator, dtype), _labels(n_per_class)


class TensorDataset:
    """Samples ``(a[i], b[i], ...)`` from arrays (or Tensors) that share their first axis.

    Args:
        *arrays: ndarrays or Tensors, at least one, all with the same first-axis length.

    Example:
        >>> data = TensorDataset(np.zeros((5, 2)), np.arange(5))
        >>> len(data), data[1][1]
        (5, 1)
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ValueError("TensorDataset: needs at least one array")
        self.arrays = tuple(a if isinstance(a, Tensor) else np.asarray(a) for a in arrays)
        lengths = [a.shape[0] if a.ndim else None for a in self.arrays]
        if None in lengths or len(set(lengths)) != 1:
            shapes = [tuple(a.shape) for a in self.arrays]
            raise ValueError(
                f"TensorDataset: every array needs the same first (sample) axis, got shapes "
                f"{shapes}"
            )

    def __len__(self) -> int:
        return int(self.arrays[0].shape[0])

    def __getitem__(self, index: Any) -> tuple[Any, ...]:
        """The sample(s) at ``index``: an int, a slice or an integer array of indices."""
        return tuple(_take(array, index) for array in self.arrays)


def _take(array: Any, index: Any) -> Any:
    """Rows of an ndarray, or of a Tensor as a new constant Tensor (a batch is data)."""
    if isinstance(array, Tensor):
        return Tensor(array.data[index])
    return array[index]


class DataLoader:
    """Mini-batches of a dataset, one pass per ``for`` loop (an epoch), as PyTorch's.

    Each iteration with ``shuffle=True`` draws a new order from the loader's generator, so
    epochs differ and a seeded loader repeats the same sequence of epochs. The last batch
    is shorter when the size is not a multiple of ``batch_size``, unless ``drop_last``.
    A `TensorDataset` is batched by one indexing per array; any other dataset (with
    ``len`` and integer indexing) is batched by stacking its samples, field by field.

    Args:
        dataset: a `TensorDataset` or any object with ``__len__`` and ``__getitem__``.
        batch_size: samples per batch, >= 1.
        shuffle: visit the samples in a new random order every epoch.
        drop_last: skip the last batch if it is shorter than ``batch_size``.
        rng: a ``numpy.random.Generator``, an int seed, or None (fresh entropy).

    Example:
        >>> loader = DataLoader(TensorDataset(np.arange(10.0), np.arange(10)), batch_size=4)
        >>> len(loader), [len(xb) for xb, yb in loader]
        (3, [4, 4, 2])
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        rng: RngLike = None,
    ) -> None:
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(
                f"DataLoader: the dataset must have __len__ and __getitem__, got "
                f"{type(dataset).__name__}; wrap arrays in TensorDataset(x, y)"
            )
        self.dataset = dataset
        self.batch_size = _check_count("DataLoader", "batch_size", batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.generator = as_generator(rng, "DataLoader")

    def __len__(self) -> int:
        """The number of batches in one epoch."""
        size = len(self.dataset)
        return size // self.batch_size if self.drop_last else math.ceil(size / self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        size = len(self.dataset)
        order = self.generator.permutation(size) if self.shuffle else np.arange(size)
        for batch in range(len(self)):
            rows = order[batch * self.batch_size : (batch + 1) * self.batch_size]
            if isinstance(self.dataset, TensorDataset):
                yield self.dataset[rows]
            else:
                yield _collate([self.dataset[int(i)] for i in rows])

    def __repr__(self) -> str:
        return (
            f"DataLoader({len(self.dataset)} samples, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last})"
        )


def _collate(samples: list[Any]) -> Any:
    """Stack samples: tuples field by field, Tensors into a Tensor, the rest with np.stack."""
    first = samples[0]
    if isinstance(first, tuple):
        return tuple(_collate(list(field)) for field in zip(*samples, strict=True))
    if isinstance(first, Tensor):
        return Tensor(np.stack([sample.data for sample in samples]))
    return np.stack([np.asarray(sample) for sample in samples])
