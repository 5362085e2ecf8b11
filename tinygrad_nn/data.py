"""Small synthetic data sets and a batch iterator.

`sincos` and `sincos_grid` are the original article's regression task (learn sin and cos
on [0, 1)); `two_spirals` and `moons` are 2-D classification sets; `batches` walks any
pair of arrays in mini-batches. Everything is seedable: ``rng`` may be None, an int seed or
a ``numpy.random.Generator``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from tinygrad_nn._random import RngLike, as_generator

if TYPE_CHECKING:
    from numpy.typing import DTypeLike

__all__ = ["batches", "moons", "sincos", "sincos_grid", "two_spirals"]

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
