"""Helpers shared by the routines: operands as Tensors, axes, NumPy-only keywords."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn.autograd import as_tensor

if TYPE_CHECKING:
    from tinygrad_nn.tensor import Tensor

Axis = int | tuple[int, ...] | None


def pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands as Tensors; a number takes the float dtype of the other operand."""
    if hasattr(a, "requires_grad"):
        return a, as_tensor(b, like=a)
    b = as_tensor(b)
    return as_tensor(a, like=b), b


def axes_list(axes: int | Sequence[int], ndim: int, name: str = "axis") -> list[int]:
    """``axes`` (an int or a sequence) as non-negative ints; ValueError naming ``name``."""
    values = [axes] if isinstance(axes, (int, np.integer)) else list(axes)
    bound = max(ndim, 1)
    for axis in values:
        if not -bound <= int(axis) < bound:
            raise ValueError(
                f"{name}: axis {axis} is out of range for a tensor with {ndim} axes; use an "
                f"axis in [{-bound}, {bound - 1}]"
            )
    return [int(axis) % bound for axis in values]


def refuse(numpy_only: dict[str, Any], name: str) -> None:
    """NumPy keyword arguments (out=, dtype=, order= ...) that Tensors do not support."""
    given = sorted(key for key, value in numpy_only.items() if value is not None)
    if given:
        raise TypeError(
            f"{name}: the NumPy arguments {given} are not supported on Tensors; convert with "
            "t.astype(...) and write results to new tensors"
        )


def shape_tuple(shape: Any) -> tuple[int, ...]:
    """An int or a sequence of ints as a shape tuple."""
    if shape.__class__ is tuple:  # the common case, checked by the op that takes it
        return shape
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(size) for size in shape)
