"""Costs and penalties: the article's errors, PyTorch's classification and robust losses.

With ``d = pred - target`` over all ``n`` elements::

    squared_error  sum(d**2)          (the article's cost; "mean": sum(d**2) / n)
    absolute_error sum(|d|)           ("mean": sum(|d|) / n)
    mse, mae       the same with reduction="mean" by default
    l1_penalty     sum over tensors of sum(|w|)    (params: Tensors, or one Tensor)
    l2_penalty     sum over tensors of sum(w**2)   (no 1/2)

PyTorch's losses take ``(input, target)`` and default to ``reduction="mean"`` as
``torch.nn.functional``'s do::

    cross_entropy      -log_softmax(logits)[i, y_i], label smoothing, class weights
    nll_loss           -log_probs[i, y_i] (weighted mean over the non-ignored samples)
    binary_cross_entropy             -(y log p + (1 - y) log(1 - p)), each log >= -100
    binary_cross_entropy_with_logits (1 - y) x + (1 + (pos_weight - 1) y) softplus(-x)
    huber_loss         d**2 / 2 where |d| < delta, else delta (|d| - delta / 2)
    smooth_l1_loss     d**2 / (2 beta) where |d| < beta, else |d| - beta / 2
    kl_div             target (log target - input)  (input: log-probabilities)

``reduction="none"`` returns the elementwise (per-sample for the class losses) values.
Prediction and target must have the same shape: a mismatch is a ValueError, never a
silent broadcast. Every loss is composed of primitives, stable for logits of +-1e4.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from tinygrad_nn import functional, ops
from tinygrad_nn._composite import composite
from tinygrad_nn.tensor import Tensor

__all__ = [
    "REDUCTIONS",
    "absolute_error",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "huber_loss",
    "kl_div",
    "l1_penalty",
    "l2_penalty",
    "mae",
    "mse",
    "nll_loss",
    "smooth_l1_loss",
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


def _class_inputs(fn: str, scores: Any, target: Any) -> tuple[Tensor, np.ndarray]:
    """(batch, classes) scores as a Tensor and (batch,) integer class indices."""
    if not isinstance(scores, Tensor):
        scores = Tensor(scores)
    labels = np.asarray(target.data if isinstance(target, Tensor) else target)
    if scores.ndim != 2:
        raise ValueError(f"{fn}: input must have shape (batch, classes), got {scores.shape}")
    if labels.dtype.kind not in "iu":
        raise TypeError(
            f"{fn}: target must be integers (class indices), got dtype {labels.dtype}; "
            "convert with target.astype(int)"
        )
    batch = scores.shape[0]
    if labels.shape != (batch,):
        raise ValueError(
            f"{fn}: target must have shape ({batch},) to match input {scores.shape}, got "
            f"{labels.shape}"
        )
    return scores, labels


def _check_labels(fn: str, labels: np.ndarray, classes: int, ignore_index: int) -> np.ndarray:
    """The mask of samples that count; every counted label must be a class index."""
    counted = labels != ignore_index
    used = labels[counted]
    if used.size and (used.min() < 0 or used.max() >= classes):
        raise ValueError(
            f"{fn}: target must lie in [0, {classes}) (or equal ignore_index={ignore_index}), "
            f"got values from {used.min()} to {used.max()}"
        )
    return counted


def _class_weights(fn: str, weight: Any, classes: int, like: Tensor) -> np.ndarray:
    if weight is None:
        return np.ones(classes, dtype=like.dtype)
    array = np.asarray(weight.data if isinstance(weight, Tensor) else weight, dtype=like.dtype)
    if array.shape != (classes,):
        raise ValueError(f"{fn}: weight must have shape ({classes},), got {array.shape}")
    return array


@composite  # drawn as one node
def nll_loss(
    input: Any,  # PyTorch's argument name
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of integer class labels, given log-probabilities (PyTorch's).

    ``loss_i = -weight[y_i] * input[i, y_i]``; "mean" divides the sum by the total weight
    of the counted samples; samples whose label is ``ignore_index`` count nowhere.

    Args:
        input: (batch, classes) log-probabilities, e.g. from `functional.log_softmax`.
        target: (batch,) integer class indices.
        weight: optional (classes,) weight per class.
        ignore_index: a label to skip.
        reduction: "mean" (default), "sum" or "none".

    Example:
        >>> round(nll_loss(Tensor([[-0.5, -1.0]]), np.array([1])).item(), 4)
        1.0
    """
    _check_reduction("nll_loss", reduction)
    log_probs, labels = _class_inputs("nll_loss", input, target)
    batch, classes = log_probs.shape
    counted = _check_labels("nll_loss", labels, classes, ignore_index)
    if weight is None and counted.all():
        # The labels index the log-probabilities as given, so capture_step sees that they
        # come from an input (and refuses to freeze them) instead of a copy made here.
        return _reduce(-log_probs[np.arange(batch), labels], reduction)
    weights = _class_weights("nll_loss", weight, classes, log_probs)
    safe = np.where(counted, labels, 0)
    sample_weights = np.where(counted, weights[safe], 0).astype(log_probs.dtype)
    per_sample = -log_probs[np.arange(batch), safe] * sample_weights
    if reduction == "mean":
        return per_sample.sum() * (1.0 / float(sample_weights.sum()))
    return _reduce(per_sample, reduction)


@composite  # drawn as one node
def cross_entropy(
    input: Any,  # PyTorch's argument name
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax cross-entropy of logits against class labels or class probabilities.

    With integer labels, ``loss_i = -(1 - eps) log p[i, y_i] - eps / C * sum_c log p[i, c]``
    (``p = softmax(input)``, ``eps = label_smoothing``, class weights multiply each term as
    in PyTorch; "mean" divides by the counted samples' total weight). With a float target
    of the input's shape (probabilities), ``loss_i = -sum_c q[i, c] log p[i, c]`` with
    ``q`` the smoothed target. log_softmax subtracts the maximum first, so logits of 1e4
    are fine.

    Args:
        input: (batch, classes) Tensor of unnormalised scores.
        target: (batch,) integer labels, or (batch, classes) probabilities.
        weight: optional (classes,) weight per class.
        ignore_index: a label to skip (integer labels only).
        reduction: "mean" (default), "sum" or "none".
        label_smoothing: eps in [0, 1].

    Example:
        >>> round(cross_entropy(Tensor([[0.0, 0.0]]), np.array([1])).item(), 4)
        0.6931
    """
    fn = "cross_entropy"
    _check_reduction(fn, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{fn}: label_smoothing must lie in [0, 1], got {label_smoothing}")
    logits = input if isinstance(input, Tensor) else Tensor(input)
    target_array = np.asarray(target.data if isinstance(target, Tensor) else target)
    if target_array.dtype.kind == "f" and target_array.shape == logits.shape and logits.ndim == 2:
        log_probs = functional.log_softmax(logits, axis=-1)
        classes = logits.shape[1]
        weights = _class_weights(fn, weight, classes, logits)
        probs = target_array.astype(logits.dtype) * (1 - label_smoothing) + (
            label_smoothing / classes
        )
        per_sample = -(log_probs * (probs * weights)).sum(axis=1)
        return _reduce(per_sample, reduction)
    logits, labels = _class_inputs(fn, logits, target)
    classes = logits.shape[1]
    counted = _check_labels(fn, labels, classes, ignore_index)  # errors name cross_entropy
    log_probs = functional.log_softmax(logits, axis=-1)
    loss = nll_loss(log_probs, labels, weight, ignore_index, reduction)
    if label_smoothing == 0:
        return loss
    if weight is None and counted.all():
        smooth = _reduce(-log_probs.sum(axis=1), reduction)
        return loss * (1 - label_smoothing) + smooth * (label_smoothing / classes)
    weights = _class_weights(fn, weight, classes, logits)
    smooth = -(log_probs * (weights * counted[:, None]).astype(logits.dtype)).sum(axis=1)
    if reduction == "mean":
        safe = np.where(counted, labels, 0)
        smooth = smooth.sum() * (1.0 / float(np.where(counted, weights[safe], 0).sum()))
    else:
        smooth = _reduce(smooth, reduction)
    return loss * (1 - label_smoothing) + smooth * (label_smoothing / classes)


def _new_reduction(fn: str, reduction: str, extra: tuple[str, ...] = ()) -> None:
    allowed = ("mean", "sum", "none", *extra)
    if reduction not in allowed:
        raise ValueError(f"{fn}: reduction must be one of {allowed}, got {reduction!r}")


def _weighted(values: Tensor, weight: Any) -> Tensor:
    if weight is None:
        return values
    array = np.asarray(weight.data if isinstance(weight, Tensor) else weight)
    return values * array.astype(values.dtype)


# log(x) is clamped at -100 like PyTorch's: log(max(x, e**-100)) has that value and a zero
# gradient below it, so p = 0 or 1 gives a finite loss and finite gradients.
_LOG_FLOOR = math.exp(-100.0)


@composite  # drawn as one node
def binary_cross_entropy(
    input: Any,  # PyTorch's argument name
    target: Any,
    weight: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """-(y log p + (1 - y) log(1 - p)) elementwise, each log clamped at -100 (PyTorch's).

    Args:
        input: probabilities p in [0, 1] (e.g. after sigmoid); prefer
            `binary_cross_entropy_with_logits` on the logits, which is stabler.
        target: y, the same shape, usually 0 or 1.
        weight: optional rescaling of each element (broadcast to the input).
        reduction: "mean" (default), "sum" or "none".

    Where p is below e**-100 (or 1 - p is), that log is the constant -100 and its gradient
    0; PyTorch's gradient there is its formula with the denominator clamped at 1e-12.

    Example:
        >>> round(binary_cross_entropy(Tensor([0.5]), np.array([1.0])).item(), 4)
        0.6931
    """
    fn = "binary_cross_entropy"
    _new_reduction(fn, reduction)
    probs, target = _pair(fn, input, target)
    if probs.size and (probs.data.min() < 0 or probs.data.max() > 1):
        raise ValueError(
            f"{fn}: input must hold probabilities in [0, 1], got values from "
            f"{probs.data.min()} to {probs.data.max()}; for logits use "
            "binary_cross_entropy_with_logits"
        )
    log_p = probs.clip(_LOG_FLOOR, None).log()
    log_not_p = (1.0 - probs).clip(_LOG_FLOOR, None).log()
    values = -(target * log_p + (1.0 - target) * log_not_p)
    return _reduce(_weighted(values, weight), reduction)


@composite  # drawn as one node
def binary_cross_entropy_with_logits(
    input: Any,  # PyTorch's argument name
    target: Any,
    weight: Any = None,
    reduction: str = "mean",
    pos_weight: Any = None,
) -> Tensor:
    """Sigmoid and binary cross-entropy in one stable formula (PyTorch's).

    ``loss = (1 - y) x + (1 + (pos_weight - 1) y) softplus(-x)``, which equals
    ``-(pos_weight y log sigmoid(x) + (1 - y) log(1 - sigmoid(x)))`` without ever
    forming sigmoid(x): logits of +-1e4 give exact losses and gradients.

    Args:
        input: logits x.
        target: y, the same shape, in [0, 1].
        weight: optional rescaling of each element.
        reduction: "mean" (default), "sum" or "none".
        pos_weight: optional weight of the positive term, broadcast along the last axis
            (one per class).

    Example:
        >>> round(binary_cross_entropy_with_logits(Tensor([0.0]), np.array([1.0])).item(), 4)
        0.6931
    """
    fn = "binary_cross_entropy_with_logits"
    _new_reduction(fn, reduction)
    logits, target = _pair(fn, input, target)
    softplus = functional.softplus(-logits, threshold=math.inf)  # log(1 + exp(-x))
    if pos_weight is None:
        scale: Any = 1.0
    else:
        pos = np.asarray(pos_weight.data if isinstance(pos_weight, Tensor) else pos_weight)
        scale = (target * (pos.astype(logits.dtype) - 1.0)) + 1.0
    values = (1.0 - target) * logits + softplus * scale
    return _reduce(_weighted(values, weight), reduction)


def _robust(fn: str, pred: Any, target: Any, width: float, reduction: str, huber: bool) -> Tensor:
    _new_reduction(fn, reduction)
    if not width >= 0:
        raise ValueError(f"{fn}: {'delta' if huber else 'beta'} must be >= 0, got {width}")
    pred, target = _pair(fn, pred, target)
    diff = pred - target
    size = diff.abs()
    if width == 0:  # smooth_l1_loss with beta=0 is the L1 loss
        return _reduce(size, reduction)
    small = size.data < width
    quadratic = diff.square() * (0.5 if huber else 0.5 / width)
    linear = (size - 0.5 * width) * width if huber else size - 0.5 * width
    return _reduce(functional.where(small, quadratic, linear), reduction)


@composite  # drawn as one node
def huber_loss(
    input: Any,  # PyTorch's argument name
    target: Any,
    reduction: str = "mean",
    delta: float = 1.0,
) -> Tensor:
    """Huber loss: d**2 / 2 where |d| < delta, else delta * (|d| - delta / 2), d = input - target.

    Example:
        >>> huber_loss(Tensor([0.5, 3.0]), np.zeros(2), reduction="none").data.tolist()
        [0.125, 2.5]
    """
    return _robust("huber_loss", input, target, float(delta), reduction, huber=True)


@composite  # drawn as one node
def smooth_l1_loss(
    input: Any,  # PyTorch's argument name
    target: Any,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    """Smooth L1: d**2 / (2 beta) where |d| < beta, else |d| - beta / 2 (huber / beta).

    Example:
        >>> smooth_l1_loss(Tensor([0.5, 3.0]), np.zeros(2), reduction="none").data.tolist()
        [0.125, 2.5]
    """
    return _robust("smooth_l1_loss", input, target, float(beta), reduction, huber=False)


@composite  # drawn as one node
def kl_div(
    input: Any,  # PyTorch's argument name
    target: Any,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    """Kullback-Leibler divergence with ``input`` the log-probabilities (PyTorch's argument order).

    Elementwise ``target * (log(target) - input)`` (0 where target is 0), or with
    ``log_target=True`` ``exp(target) * (target - input)``. "batchmean" divides the sum by
    the batch size (the mathematically right KL per sample); "mean" by the number of
    elements, as in PyTorch.

    Args:
        input: log-probabilities (e.g. `functional.log_softmax` of logits).
        target: probabilities (or log-probabilities with log_target), the same shape.
        reduction: "mean" (default), "batchmean", "sum" or "none".
        log_target: whether target holds log-probabilities.

    Example:
        >>> kl_div(Tensor(np.log([[0.5, 0.5]])), np.array([[0.5, 0.5]]), "batchmean").item()
        0.0
    """
    fn = "kl_div"
    _new_reduction(fn, reduction, ("batchmean",))
    log_q, target = _pair(fn, input, target)
    if log_target:
        values = target.exp() * (target - log_q)
    else:
        positive = target.data > 0
        safe = functional.where(positive, target, 1.0)
        values = functional.where(positive, target * safe.log(), 0.0) - target * log_q
    if reduction == "batchmean":
        batch = values.shape[0] if values.ndim else 1
        return values.sum() * (1.0 / batch)
    return _reduce(values, reduction)


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
