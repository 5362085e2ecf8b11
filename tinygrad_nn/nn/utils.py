"""Gradient clipping: `clip_grad_norm_` and `clip_grad_value_` (PyTorch's ``torch.nn.utils``).

Both work on ``.grad`` after ``backward()`` and before ``optimizer.step()``, and replace
each ``.grad`` by a new array (assigned to the attribute, never written through a view).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from tinygrad_nn.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _with_grads(fn: str, parameters: Tensor | Iterable[Tensor]) -> list[tuple[Tensor, np.ndarray]]:
    """The Tensors that have a gradient, each with it."""
    if callable(getattr(parameters, "parameters", None)):
        raise TypeError(
            f"{fn}: got a {type(parameters).__name__} (a Module); pass model.parameters()"
        )
    tensors = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for index, tensor in enumerate(tensors):
        if not isinstance(tensor, Tensor):
            raise TypeError(f"{fn}: item {index} is a {type(tensor).__name__}, not a Tensor")
    return [(tensor, grad) for tensor in tensors if (grad := tensor.grad) is not None]


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> Tensor:
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    The total norm is the ``norm_type``-norm of the vector of all gradient entries (``inf``:
    the largest absolute entry). If it exceeds ``max_norm``, every gradient is multiplied by
    ``max_norm / (total + 1e-6)`` (PyTorch's formula). Parameters without a grad are skipped.

    Args:
        parameters: Tensors (``model.parameters()``) or one Tensor.
        max_norm: the largest allowed norm, >= 0.
        norm_type: p of the p-norm, > 0, or ``math.inf``.
        error_if_nonfinite: raise a RuntimeError when the total norm is NaN or infinite
            (otherwise the gradients are scaled by a NaN factor, as in PyTorch).

    Returns:
        The total norm before clipping, a 0-d Tensor (``.item()`` gives the float).

    Example:
        >>> loss.backward()
        >>> norm = clip_grad_norm_(model.parameters(), max_norm=1.0)
        >>> optimizer.step()
    """
    fn = "clip_grad_norm_"
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if not max_norm >= 0:
        raise ValueError(f"{fn}: max_norm must be >= 0, got {max_norm}")
    if not norm_type > 0:
        raise ValueError(f"{fn}: norm_type must be > 0 or math.inf, got {norm_type}")
    pairs = _with_grads(fn, parameters)
    if not pairs:
        return Tensor(0.0)
    grads = [grad for _, grad in pairs]
    if math.isinf(norm_type):
        total = max(float(np.max(np.abs(grad), initial=0.0)) for grad in grads)
    else:
        norms = [np.linalg.norm(grad.ravel(), ord=norm_type) for grad in grads]
        total = float(np.linalg.norm(np.array(norms, dtype=np.float64), ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"{fn}: the total norm of order {norm_type} of the gradients is {total}; pass "
            "error_if_nonfinite=False to scale anyway, or find the op that made it with "
            "tnn.detect_anomaly()"
        )
    coefficient = max_norm / (total + 1e-6)  # NaN for a NaN norm, 0 for an infinite one
    if not coefficient >= 1.0:
        for tensor, grad in pairs:
            tensor.grad = grad * grad.dtype.type(coefficient)
    return Tensor(total, dtype=grads[0].dtype)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clip every gradient entry into ``[-clip_value, clip_value]``.

    Args:
        parameters: Tensors (``model.parameters()``) or one Tensor; those without a grad
            are skipped.
        clip_value: the bound, >= 0.

    Example:
        >>> clip_grad_value_(model.parameters(), clip_value=0.5)
    """
    clip_value = float(clip_value)
    if not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for tensor, grad in _with_grads("clip_grad_value_", parameters):
        tensor.grad = np.clip(grad, -clip_value, clip_value).astype(grad.dtype, copy=False)
