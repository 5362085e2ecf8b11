"""Shape ops that are not views of indexing: flip.

Most of NumPy's shape routines (squeeze, pad, repeat, tile, roll, diagonal, triu, sort,
take_along_axis ...) are composites in `tinygrad_nn.routines` of the core ops Reshape,
Transpose, BroadcastTo, Index (whose backward scatters, adding up repeats), ScatterAdd
and Where: each of those is one NumPy call forward and backward, as fast as a fused op
would be, and already twice differentiable.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygrad_nn.autograd import Function

__all__ = ["Flip"]


class Flip(Function):
    """f(x) = x reversed along ``axis`` (all axes when None);  the gradient is flipped back"""

    hint = "axis must be None, an int or a tuple of ints within the tensor's ndim"

    @staticmethod
    def forward(ctx: Function, x: np.ndarray, *, axis: Any = None) -> np.ndarray:
        ctx.save_for_backward(axis)
        return np.flip(x, axis)

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        (axis,) = ctx.saved
        return (np.flip(grad, axis),)
