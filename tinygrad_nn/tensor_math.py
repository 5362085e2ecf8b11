"""`TensorMath`: Tensor's NumPy-named methods (``t.exp()``, ``t.sum(axis=0)``, ``t.softmax()``).

Each method calls the module-level function of the same name (`tinygrad_nn.routines`,
`tinygrad_nn.functional`), which is also what ``np.NAME(t)`` runs, so the three spellings
cannot disagree. `Tensor` inherits these; tensor.py keeps the core (data, grad, backward,
operators).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tinygrad_nn import functional, routines

if TYPE_CHECKING:
    from tinygrad_nn.tensor import Tensor

__all__ = ["TensorMath"]


class TensorMath:
    """Methods shared by every Tensor; see `tinygrad_nn.routines` for each one's semantics."""

    __slots__ = ()

    def sign(self: Any) -> Tensor:
        """-1, 0 or 1 by sign, elementwise (gradient 0)."""
        return routines.sign(self)

    def swapaxes(self: Any, axis1: int, axis2: int) -> Tensor:
        """Exchange two axes."""
        return routines.swapaxes(self, axis1, axis2)

    def softmax(self: Any, axis: int = -1) -> Tensor:
        """exp(x) / sum(exp(x)) along ``axis``, computed stably."""
        return functional.softmax(self, axis=axis)

    def log_softmax(self: Any, axis: int = -1) -> Tensor:
        """x - logsumexp(x) along ``axis``, computed stably."""
        return functional.log_softmax(self, axis=axis)
