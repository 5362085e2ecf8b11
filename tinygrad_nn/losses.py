"""Costs and penalties: squared and absolute error, cross-entropy, L1 and L2 weight penalties.

With ``d = pred - target`` over all ``n`` elements::

    squared_error  sum(d**2)          (the article's cost; "mean": sum(d**2) / n)
    absolute_error sum(|d|)           ("mean": sum(|d|) / n)
    mse, mae       the same with reduction="mean" by default
    cross_entropy  -log_softmax(logits)[i, labels[i]], averaged over the batch
    l1_penalty     sum over tensors of sum(|w|)    (params: Tensors, or one Tensor)
    l2_penalty     sum over tensors of sum(w**2)   (no 1/2)

``reduction="none"`` returns the elementwise (per-sample for cross_entropy) values.
Prediction and target must have the same shape: a mismatch is a ValueError, never a
silent broadcast.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from tinygrad_nn import functional, ops
from tinygrad_nn._composite import composite
from tinygrad_nn.tensor import Tensor

__all__ = [
    "REDUCTIONS",
    "absolute_error",
    "cross_entropy",
    "l1_penalty",
    "l2_penalty",
    "mae",
    "mse",
    "squared_error",
]

REDUCTIONS = ("sum", "mean", "none")


def _check_reduction(fn: str, reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _pair(fn: str, pred: Any, target: Any) -> tuple[Tensor, Tensor]:
    """Both as Tensors of the same shape; a constant target takes the prediction's dtype."""
    if not isinstance(pred, Tensor):
        pred = Tensor(pred)
    if not isinstance(target, Tensor):
        array = np.asarray(target)
        if pred.dtype.kind == "f" and array.dtype != pred.dtype:
            array = array.astype(pred.dtype)  # keep float32 losses float32
        target = Tensor._make(array, False)
    if pred.shape != target.shape:
        raise ValueError(
            f"{fn}: prediction shape {pred.shape} and target shape {target.shape} differ; "
            "losses never broadcast, reshape one of them (e.g. target.reshape(pred.shape))"
        )
    return pred, target


def _reduce(values: Tensor, reduction: str) -> Tensor:
    if reduction == "sum":
        return values.sum()
    if reduction == "mean":
        return values.mean()
    return values


def _squared(fn: str, pred: Any, target: Any, reduction: str) -> Tensor:
    _check_reduction(fn, reduction)
    pred, target = _pair(fn, pred, target)
    # A fused primitive (ops.SquaredError): about twice as fast as Sub + Square + Sum.
    return ops.SquaredError.apply(pred, target, reduction=reduction)


def _absolute(fn: str, pred: Any, target: Any, reduction: str) -> Tensor:
    _check_reduction(fn, reduction)
    pred, target = _pair(fn, pred, target)
    return _reduce((pred - target).abs(), reduction)


def squared_error(pred: Any, target: Any, reduction: str = "sum") -> Tensor:
    """The article's cost: sum((pred - target)**2), as one fused graph node.

    Args:
        pred: the prediction, a Tensor (or array).
        target: a Tensor or array of the same shape.
        reduction: "sum" (default), "mean" (divide by the number of elements) or "none".

    Returns:
        A 0-d Tensor, or the elementwise squares for "none".

    Example:
        >>> squared_error(Tensor([1.0, 2.0]), np.array([0.0, 0.0])).item()
        5.0
    """
    return _squared("squared_error", pred, target, reduction)


def absolute_error(pred: Any, target: Any, reduction: str = "sum") -> Tensor:
    """sum(|pred - target|); the gradient at pred == target is 0.

    Example:
        >>> absolute_error(Tensor([1.0, -2.0]), np.zeros(2)).item()
        3.0
    """
    return _absolute("absolute_error", pred, target, reduction)


def mse(pred: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error: `squared_error` with reduction="mean" by default.

    Example:
        >>> mse(Tensor([1.0, 2.0]), np.zeros(2)).item()
        2.5
    """
    return _squared("mse", pred, target, reduction)


def mae(pred: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean absolute error: `absolute_error` with reduction="mean" by default.

    Example:
        >>> mae(Tensor([1.0, -2.0]), np.zeros(2)).item()
        1.5
    """
    return _absolute("mae", pred, target, reduction)


@composite  # drawn as one node
def cross_entropy(logits: Any, labels: Any, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy with integer class labels, like PyTorch's.

    ``loss_i = -log_softmax(logits_i)[labels_i] = logsumexp(logits_i) - logits_i[labels_i]``,
    computed stably (logits of 1000 are fine), then averaged over the batch ("mean"),
    summed ("sum") or returned per sample ("none").

    Args:
        logits: (batch, classes) Tensor of unnormalised scores.
        labels: (batch,) integer array or Tensor, each in [0, classes).
        reduction: "mean" (default), "sum" or "none".

    Example:
        >>> round(cross_entropy(Tensor([[0.0, 0.0]]), np.array([1])).item(), 4)
        0.6931
    """
    _check_reduction("cross_entropy", reduction)
    if not isinstance(logits, Tensor):
        logits = Tensor(logits)
    label_array = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if logits.ndim != 2:
        raise ValueError(
            f"cross_entropy: logits must have shape (batch, classes), got {logits.shape}"
        )
    if label_array.dtype.kind not in "iu":
        raise TypeError(
            f"cross_entropy: labels must be integers (class indices), got dtype "
            f"{label_array.dtype}; convert with labels.astype(int)"
        )
    batch, classes = logits.shape
    if label_array.shape != (batch,):
        raise ValueError(
            f"cross_entropy: labels must have shape ({batch},) to match logits "
            f"{logits.shape}, got {label_array.shape}"
        )
    if batch and (label_array.min() < 0 or label_array.max() >= classes):
        raise ValueError(
            f"cross_entropy: labels must lie in [0, {classes}), got values from "
            f"{label_array.min()} to {label_array.max()}"
        )
    log_probs = functional.log_softmax(logits, axis=-1)
    per_sample = -log_probs[np.arange(batch), label_array]
    return _reduce(per_sample, reduction)


def _penalty_terms(fn: str, params: Tensor | Iterable[Tensor]) -> list[Tensor]:
    # One Tensor is one parameter (iterating it would walk its rows, one node per row).
    if isinstance(params, Tensor):
        return [params]
    if callable(getattr(params, "parameters", None)):
        raise TypeError(f"{fn}: got a {type(params).__name__} (a Module); pass model.parameters()")
    tensors = list(params)
    if not tensors:
        raise ValueError(f"{fn}: got no tensors; pass e.g. model.parameters()")
    for index, tensor in enumerate(tensors):
        if not isinstance(tensor, Tensor):
            raise TypeError(f"{fn}: item {index} is a {type(tensor).__name__}, not a Tensor")
    return tensors


def l1_penalty(params: Tensor | Iterable[Tensor]) -> Tensor:
    """sum(|w|) over every element of every given tensor; the result is named "l1_penalty".

    Args:
        params: Tensors, e.g. ``model.parameters()`` or only the weights, or a single
            Tensor (``l1_penalty(w)``), which counts as one parameter.

    Example:
        >>> loss = squared_error(model(x), y) + 1e-3 * l1_penalty(model.parameters())
    """
    tensors = _penalty_terms("l1_penalty", params)
    total = tensors[0].abs().sum()
    for tensor in tensors[1:]:
        total = total + tensor.abs().sum()
    total.name = "l1_penalty"
    return total


def l2_penalty(params: Tensor | Iterable[Tensor]) -> Tensor:
    """sum(w**2) over every element of every given tensor (no 1/2); named "l2_penalty".

    Args:
        params: Tensors, e.g. ``model.parameters()`` or only the weights, or a single
            Tensor (``l2_penalty(w)``), which counts as one parameter.

    Example:
        >>> loss = squared_error(model(x), y) + 1e-3 * l2_penalty(model.parameters())
    """
    tensors = _penalty_terms("l2_penalty", params)
    total = tensors[0].square().sum()
    for tensor in tensors[1:]:
        total = total + tensor.square().sum()
    total.name = "l2_penalty"
    return total
