"""Diagnostics of a network's activations: which ReLU units are dead.

A *unit* is one entry of the last axis (a neuron). It is dead on a batch when its
activation is zero for every row: its derivative is then zero everywhere, so no gradient
reaches the weights that feed it. Drawings, the training history, the demo and the
experiments all count dead units with `dead_units`, so they always agree.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["dead_units"]


def dead_units(activations: Any) -> np.ndarray:
    """One flag per unit (last axis): True where the activation is 0 on every row.

    Args:
        activations: a ReLU output (Tensor or array), shape ``(rows, units)`` or more axes
            (all but the last are rows); a 1-D array is one row.

    Returns:
        A bool array of shape ``(units,)``.

    Example:
        >>> dead_units(np.array([[0.0, 1.0], [0.0, 0.0]]))
        array([ True, False])
    """
    array = np.asarray(getattr(activations, "data", activations))
    if array.ndim == 0:
        raise ValueError("dead_units: activations must have at least one axis (the units)")
    rows = array.reshape(-1, array.shape[-1]) if array.size else array.reshape(0, array.shape[-1])
    return ~(rows != 0).any(axis=0)
