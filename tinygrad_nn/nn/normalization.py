"""Normalisation layers: `LayerNorm`, `BatchNorm1d`, `BatchNorm2d` (PyTorch's semantics).

BatchNorm keeps running statistics as buffers (``running_mean``, ``running_var``,
``num_batches_tracked``): `state_dict` saves them, `parameters` skips them. In training
mode a batch is normalised by its own mean and biased variance, and the running
statistics move towards the batch's mean and *unbiased* variance by ``momentum`` (PyTorch's
convention); in eval mode the running statistics are used. Buffers are replaced through
their ``.data`` attribute, never written in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tinygrad_nn import autograd
from tinygrad_nn.nn.layers import parameter_dtype
from tinygrad_nn.nn.module import Module
from tinygrad_nn.tensor import Tensor

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm"]


class LayerNorm(Module):
    """Normalise over the last ``len(normalized_shape)`` axes, then scale and shift.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias`` with the mean and biased variance
    over those axes of each sample.

    Args:
        normalized_shape: the trailing shape to normalise over (an int for the last axis).
        eps: added to the variance.
        elementwise_affine: learn ``weight`` (ones) and ``bias`` (zeros) of that shape.
        bias: learn the bias too (with elementwise_affine).
        dtype: parameter dtype (default: `tnn.get_default_dtype()`).

    Example:
        >>> LayerNorm(4)(Tensor(np.arange(8.0).reshape(2, 4))).data.mean(axis=1).round(6)
        array([0., 0.])
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
        self.normalized_shape = tuple(int(n) for n in shape)
        if not self.normalized_shape or min(self.normalized_shape) < 1:
            raise ValueError(
                f"LayerNorm: normalized_shape must be positive ints, got {normalized_shape!r}"
            )
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        dtype = parameter_dtype("LayerNorm", dtype)
        self.weight: Tensor | None = None
        self.bias: Tensor | None = None
        if elementwise_affine:
            self.weight = Tensor(np.ones(self.normalized_shape, dtype), requires_grad=True)
            if bias:
                self.bias = Tensor(np.zeros(self.normalized_shape, dtype), requires_grad=True)

    def forward(self, x: Tensor) -> Tensor:
        count = len(self.normalized_shape)
        if tuple(x.shape[-count:]) != self.normalized_shape or x.ndim < count:
            raise ValueError(
                f"LayerNorm: input of shape {x.shape} does not end in normalized_shape "
                f"{self.normalized_shape}"
            )
        axes = tuple(range(x.ndim - count, x.ndim))
        centered = x - x.mean(axis=axes, keepdims=True)
        variance = centered.square().mean(axis=axes, keepdims=True)
        y = centered / (variance + self.eps).sqrt()
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )


class _BatchNorm(Module):
    """Shared by BatchNorm1d and BatchNorm2d: they differ only in the input ranks allowed."""

    _ranks: tuple[int, ...] = ()
    # Buffers (register_buffer), None with track_running_stats=False.
    running_mean: Tensor | None
    running_var: Tensor | None
    num_batches_tracked: Tensor | None

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)):
            raise TypeError(f"{owner}: num_features must be an int, got {num_features!r}")
        if num_features < 1:
            raise ValueError(f"{owner}: num_features must be >= 1, got {num_features}")
        if momentum is not None and not 0 <= momentum <= 1:
            raise ValueError(f"{owner}: momentum must lie in [0, 1] or be None, got {momentum}")
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        dtype = parameter_dtype(owner, dtype)
        self.weight: Tensor | None = None
        self.bias: Tensor | None = None
        if affine:
            self.weight = Tensor(np.ones(num_features, dtype), requires_grad=True)
            self.bias = Tensor(np.zeros(num_features, dtype), requires_grad=True)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def _running_stats(self) -> tuple[Tensor, Tensor, Tensor]:
        """The running mean, variance and batch count buffers."""
        mean, var, batches = self.running_mean, self.running_var, self.num_batches_tracked
        if mean is None or var is None or batches is None:
            raise RuntimeError(
                f"{type(self).__name__}: the running statistics are None; they exist only "
                "with track_running_stats=True"
            )
        return mean, var, batches

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches tracked."""
        if self.track_running_stats:
            mean, var, batches = self._running_stats()
            mean.data = np.zeros_like(mean.data)
            var.data = np.ones_like(var.data)
            batches.data = np.zeros_like(batches.data)

    def forward(self, x: Tensor) -> Tensor:
        owner = type(self).__name__
        if x.ndim not in self._ranks or x.shape[1] != self.num_features:
            ranks = " or ".join(f"{r}-d" for r in self._ranks)
            raise ValueError(
                f"{owner}: expected a {ranks} input with {self.num_features} channels on axis "
                f"1, got shape {x.shape}"
            )
        axes = (0, *range(2, x.ndim))
        shape = (1, self.num_features) + (1,) * (x.ndim - 2)
        use_batch = self.training or not self.track_running_stats
        if use_batch:
            count = x.size // self.num_features
            if count < 2 and self.training:
                raise ValueError(
                    f"{owner}: expected more than 1 value per channel when training, got input "
                    f"of shape {x.shape}; use a larger batch or call .eval()"
                )
            mean = x.mean(axis=axes, keepdims=True)
            centered = x - mean
            variance = centered.square().mean(axis=axes, keepdims=True)
            if self.training and self.track_running_stats:
                if autograd.is_recording():
                    raise ValueError(
                        f"capture_step: {owner} updates its running statistics outside the "
                        "ops, which a replay would skip; capture the step in eval mode "
                        "(model.eval()), pass track_running_stats=False, or run it without "
                        "capture_step"
                    )
                self._update_running_stats(mean.data, variance.data, count)
            y = centered / (variance + self.eps).sqrt()
        else:
            running_mean, running_var, _ = self._running_stats()
            scale = 1.0 / np.sqrt(running_var.data.reshape(shape) + self.eps)
            y = (x - running_mean.data.reshape(shape)) * scale
        if self.weight is not None:
            y = y * self.weight.reshape(shape)
        if self.bias is not None:
            y = y + self.bias.reshape(shape)
        return y

    def _update_running_stats(self, mean: np.ndarray, variance: np.ndarray, count: int) -> None:
        running_mean, running_var, batches = self._running_stats()
        batches.data = batches.data + 1
        factor = (
            1.0 / float(batches.data)  # momentum=None: a cumulative average
            if self.momentum is None
            else self.momentum
        )
        unbiased = variance.ravel() * (count / (count - 1))
        dtype = running_mean.data.dtype
        running_mean.data = ((1 - factor) * running_mean.data + factor * mean.ravel()).astype(
            dtype, copy=False
        )
        running_var.data = ((1 - factor) * running_var.data + factor * unbiased).astype(
            dtype, copy=False
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs over the batch (and length) axes.

    Args:
        num_features: C, the number of channels.
        eps: added to the variance.
        momentum: weight of the new batch in the running statistics; None for a
            cumulative average.
        affine: learn ``weight`` (ones) and ``bias`` (zeros) per channel.
        track_running_stats: keep running statistics (for eval mode); without them
            eval mode also normalises by the batch's statistics.
        dtype: parameter dtype (default: `tnn.get_default_dtype()`).

    Example:
        >>> bn = BatchNorm1d(3)
        >>> [name for name, _ in bn.named_buffers()]
        ['running_mean', 'running_var', 'num_batches_tracked']
    """

    _ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs over the batch and spatial axes.

    Args: as `BatchNorm1d`.

    Example:
        >>> BatchNorm2d(8)(Tensor(np.ones((4, 8, 5, 5)))).shape
        (4, 8, 5, 5)
    """

    _ranks = (4,)
