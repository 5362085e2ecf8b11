"""Hypothesis strategies for gradient tests: shapes, arrays, Tensors and MLP layouts.

Values default to the range [-3, 3], where every elementwise op of tinygrad_nn is well
conditioned for finite differences. Kinks (relu and abs at 0, clip at its bounds) are
avoided explicitly: ``avoid=(0.0,)`` keeps every drawn value at least ``margin`` away from
0 by filtering, so no finite-difference step of size ``eps << margin`` can cross a kink.
``distinct=True`` draws values at least ``margin`` apart (no ties, for max and min).

Example:
    >>> from hypothesis import given
    >>> from tinygrad_nn.testing import strategies as tst
    >>> @given(tst.arrays(avoid=(0.0,)))
    ... def test_relu_is_nonnegative(x):
    ...     assert (Tensor(x).relu().data >= 0).all()
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_nn.tensor import Tensor

__all__ = [
    "DEFAULT_MARGIN",
    "DEFAULT_MAX_VALUE",
    "DEFAULT_MIN_VALUE",
    "arrays",
    "broadcastable_shapes",
    "elements",
    "mlp_shapes",
    "shapes",
    "tensors",
]

DEFAULT_MIN_VALUE = -3.0
DEFAULT_MAX_VALUE = 3.0
# Far larger than a finite-difference step (1e-6), far smaller than the value range.
DEFAULT_MARGIN = 1e-3

Shape = tuple[int, ...]


def _check_range(caller: str, min_value: float, max_value: float, margin: float) -> None:
    if not (math.isfinite(min_value) and math.isfinite(max_value)) or min_value > max_value:
        raise ValueError(
            f"{caller}: need finite min_value <= max_value, got [{min_value}, {max_value}]"
        )
    if not margin >= 0:
        raise ValueError(f"{caller}: margin must be >= 0, got {margin}")


def _is_far(value: float, avoid: Sequence[float], margin: float) -> bool:
    return all(abs(value - point) >= margin for point in avoid)


def _has_room(min_value: float, max_value: float, avoid: Sequence[float], margin: float) -> bool:
    """Whether some value in [min_value, max_value] stays ``margin`` away from every point."""
    candidates = [min_value, max_value]
    for point in avoid:
        candidates += [point - margin, point + margin]
    return any(
        min_value <= c <= max_value and _is_far(c, avoid, margin * (1 - 1e-9)) for c in candidates
    )


def elements(
    min_value: float = DEFAULT_MIN_VALUE,
    max_value: float = DEFAULT_MAX_VALUE,
    *,
    avoid: Sequence[float] = (),
    margin: float = DEFAULT_MARGIN,
) -> st.SearchStrategy[float]:
    """Finite floats in [min_value, max_value], each at least ``margin`` from every ``avoid`` point.

    Args:
        min_value: Smallest value drawn.
        max_value: Largest value drawn.
        avoid: Points to keep away from, e.g. ``(0.0,)`` for relu and abs.
        margin: Smallest allowed distance to a point of ``avoid``.

    Returns:
        A strategy of Python floats; values near ``avoid`` are rejected by a filter.

    Example:
        >>> elements(-1.0, 1.0, avoid=(0.0,)).example() != 0.0
        True
    """
    _check_range("elements", min_value, max_value, margin)
    avoid = tuple(float(p) for p in avoid)
    if avoid and not _has_room(min_value, max_value, avoid, margin):
        raise ValueError(
            f"elements: every value of [{min_value}, {max_value}] lies within {margin} of "
            f"avoid={avoid}; widen the range or lower margin"
        )
    values = st.floats(min_value, max_value, allow_nan=False, allow_infinity=False)
    if avoid:
        values = values.filter(lambda v: _is_far(v, avoid, margin))
    return values


_elements = elements  # `arrays` has a parameter of the same name


def shapes(
    *, min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4
) -> st.SearchStrategy[Shape]:
    """Array shapes, including 0-d ``()`` and size-1 axes by default.

    Example:
        >>> all(1 <= side <= 4 for side in shapes().example())
        True
    """
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def broadcastable_shapes(
    n: int = 2,
    *,
    min_dims: int = 0,
    max_dims: int = 3,
    min_side: int = 1,
    max_side: int = 4,
) -> st.SearchStrategy[tuple[Shape, ...]]:
    """Tuples of ``n`` shapes that broadcast together (NumPy rules), 0-d and size-1 included.

    Example:
        >>> a, b = broadcastable_shapes(2).example()
        >>> len(np.broadcast_shapes(a, b)) == max(len(a), len(b))
        True
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"broadcastable_shapes: n must be a positive int, got {n!r}")
    if n == 1:
        return shapes(
            min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
        ).map(lambda shape: (shape,))
    return hnp.mutually_broadcastable_shapes(
        num_shapes=n, min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    ).map(lambda drawn: drawn.input_shapes)


@st.composite
def _distinct_values(
    draw: Any,
    size: int,
    min_value: float,
    max_value: float,
    avoid: tuple[float, ...],
    margin: float,
) -> list[float]:
    """``size`` values pairwise at least ``margin`` apart and ``margin`` from ``avoid``.

    Values sit in distinct slots of width ``2 * margin`` with a jitter of at most a quarter
    slot either way, so two values differ by at least half a slot: ``margin``.
    """
    width = 2 * margin
    slots = max(int((max_value - min_value) // width), 1)

    def center(slot: int) -> float:
        return min_value + width * (slot + 0.5)

    usable = st.integers(0, slots - 1).filter(
        lambda slot: _is_far(center(slot), avoid, margin + width / 4)
    )
    chosen = draw(st.lists(usable, min_size=size, max_size=size, unique=True))
    jitter = draw(st.lists(st.floats(-0.25, 0.25), min_size=size, max_size=size))
    return [center(slot) + width * j for slot, j in zip(chosen, jitter, strict=True)]


def arrays(
    shape: Shape | st.SearchStrategy[Shape] | None = None,
    *,
    dtype: Any = np.float64,
    elements: st.SearchStrategy[float] | None = None,
    min_value: float = DEFAULT_MIN_VALUE,
    max_value: float = DEFAULT_MAX_VALUE,
    avoid: Sequence[float] = (),
    margin: float = DEFAULT_MARGIN,
    distinct: bool = False,
) -> st.SearchStrategy[np.ndarray]:
    """Float ndarrays of a given or drawn shape with values kept away from kinks.

    Values are drawn as float64 and then cast, so float32 arrays hold the same values
    rounded (the range and margins need not be representable in float32).

    Args:
        shape: A shape, a strategy of shapes, or None for `shapes()`.
        dtype: ``np.float64`` (default) or ``np.float32``.
        elements: A strategy of floats to use instead of ``min_value``/``max_value``
            (``avoid`` still filters it).
        min_value: Smallest value drawn.
        max_value: Largest value drawn.
        avoid: Points that every value stays at least ``margin`` away from.
        margin: Distance kept from ``avoid`` (and between values when ``distinct``).
        distinct: Draw values pairwise at least ``margin`` apart, so max and min have no
            ties and no finite-difference step changes which element wins.

    Returns:
        A strategy of ndarrays of ``dtype``.

    Example:
        >>> x = arrays((2, 3), avoid=(0.0,), margin=0.1).example()
        >>> x.shape, bool((np.abs(x) >= 0.1).all())
        ((2, 3), True)
    """
    resolved = np.dtype(dtype)
    if resolved.kind != "f":
        raise TypeError(
            f"arrays: dtype must be a floating dtype such as np.float64, got {resolved}"
        )
    _check_range("arrays", min_value, max_value, margin)
    avoid = tuple(float(p) for p in avoid)
    if distinct:
        if elements is not None:
            raise ValueError("arrays: distinct=True draws its own values; drop elements=")
        if margin <= 0:
            raise ValueError("arrays: distinct=True needs margin > 0 (the smallest gap)")
    if elements is None and isinstance(shape, (tuple, list)):
        # Tests often build this strategy once per drawn shape: reuse it (cheaper draws).
        shape = tuple(int(side) for side in shape)
        return _cached_arrays(shape, resolved.str, min_value, max_value, avoid, margin, distinct)
    return _build_arrays(shape, resolved, elements, min_value, max_value, avoid, margin, distinct)


@functools.lru_cache(maxsize=1024)
def _cached_arrays(
    shape: Shape,
    dtype: str,
    min_value: float,
    max_value: float,
    avoid: tuple[float, ...],
    margin: float,
    distinct: bool,
) -> st.SearchStrategy[np.ndarray]:
    return _build_arrays(
        shape, np.dtype(dtype), None, min_value, max_value, avoid, margin, distinct
    )


def _build_arrays(
    shape: Shape | st.SearchStrategy[Shape] | None,
    dtype: np.dtype,
    elements: st.SearchStrategy[float] | None,
    min_value: float,
    max_value: float,
    avoid: tuple[float, ...],
    margin: float,
    distinct: bool,
) -> st.SearchStrategy[np.ndarray]:
    shape_strategy = shapes() if shape is None else shape
    if not isinstance(shape_strategy, st.SearchStrategy):
        shape_strategy = st.just(tuple(shape_strategy))

    if distinct:

        def distinct_array(drawn_shape: Shape) -> st.SearchStrategy[np.ndarray]:
            size = math.prod(drawn_shape)
            values = _distinct_values(size, min_value, max_value, avoid, margin)
            return values.map(lambda v: np.array(v, dtype=np.float64).reshape(drawn_shape))

        return shape_strategy.flatmap(distinct_array).map(lambda a: a.astype(dtype))

    if elements is None:
        values = _elements(min_value, max_value, avoid=avoid, margin=margin)
    elif avoid:
        values = elements.filter(lambda v: _is_far(v, avoid, margin))
    else:
        values = elements
    drawn = hnp.arrays(np.float64, shape_strategy, elements=values)
    return drawn if dtype == np.float64 else drawn.map(lambda a: a.astype(dtype))


def tensors(
    shape: Shape | st.SearchStrategy[Shape] | None = None,
    *,
    requires_grad: bool = True,
    dtype: Any = np.float64,
    **array_options: Any,
) -> st.SearchStrategy[Tensor]:
    """Tensors wrapping `arrays` (same options), requiring grad by default.

    Example:
        >>> t = tensors((3,), dtype=np.float32).example()
        >>> t.shape, t.dtype, t.requires_grad
        ((3,), dtype('float32'), True)
    """
    return arrays(shape, dtype=dtype, **array_options).map(
        lambda a: Tensor(a, requires_grad=requires_grad)
    )


def mlp_shapes(
    *, min_layers: int = 1, max_layers: int = 3, min_width: int = 1, max_width: int = 8
) -> st.SearchStrategy[list[int]]:
    """Layer widths for `tnn.nn.MLP`, input first: ``layers + 1`` ints such as ``[1, 16, 2]``.

    Example:
        >>> widths = mlp_shapes(max_layers=2).example()
        >>> 2 <= len(widths) <= 3
        True
    """
    if not 1 <= min_layers <= max_layers:
        raise ValueError(
            f"mlp_shapes: need 1 <= min_layers <= max_layers, got {min_layers}, {max_layers}"
        )
    return st.lists(
        st.integers(min_width, max_width), min_size=min_layers + 1, max_size=max_layers + 1
    )
