"""Convolution and pooling layers (NCHW, PyTorch's arguments): Conv2d, MaxPool2d, AvgPool2d."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygrad_nn import functional
from tinygrad_nn.nn import init as _init
from tinygrad_nn.nn.layers import init_weight_and_bias
from tinygrad_nn.nn.module import Module
from tinygrad_nn.tensor import Tensor

__all__ = ["AvgPool2d", "Conv2d", "MaxPool2d"]

IntOrPair = int | tuple[int, int]


class Conv2d(Module):
    """A 2-d convolution layer over (N, C, H, W) inputs, as ``torch.nn.Conv2d``.

    ``weight`` has shape (out_channels, in_channels / groups, KH, KW) and ``bias``
    (out_channels,); by default both are drawn like PyTorch's (uniform in +-1/sqrt(fan_in),
    fan_in = in_channels / groups * KH * KW). See `tinygrad_nn.functional.conv2d`.

    Args:
        in_channels: C of the input.
        out_channels: channels of the output.
        kernel_size: KH, KW (an int for a square kernel).
        stride: step between windows.
        padding: zeros added on each side.
        dilation: spacing between kernel elements.
        groups: split the channels into this many independent groups.
        bias: learn a bias per output channel.
        init: "pytorch" (default) or another scheme of `tinygrad_nn.nn.init.get`.
        dtype: parameter dtype (default: `tnn.get_default_dtype()`).
        rng: a ``numpy.random.Generator``, an int seed, or None.

    Example:
        >>> conv = Conv2d(1, 8, 3, padding=1, rng=0)
        >>> conv(Tensor(np.zeros((4, 1, 8, 8)))).shape
        (4, 8, 8, 8)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrPair,
        stride: IntOrPair = 1,
        padding: IntOrPair = 0,
        dilation: IntOrPair = 1,
        groups: int = 1,
        bias: bool = True,
        init: Any = "pytorch",
        dtype: Any = None,
        rng: _init.RngLike = None,
    ) -> None:
        super().__init__()
        owner = "Conv2d"
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("groups", groups)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"{owner}: in_channels ({in_channels}) and out_channels ({out_channels}) must "
                f"both be divisible by groups ({groups})"
            )
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = functional._int_pair(owner, "kernel_size", kernel_size, 1)
        self.stride = functional._int_pair(owner, "stride", stride, 1)
        self.padding = functional._int_pair(owner, "padding", padding, 0)
        self.dilation = functional._int_pair(owner, "dilation", dilation, 1)
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight, self.bias = init_weight_and_bias(owner, shape, bias, init, dtype, rng)

    def forward(self, x: Tensor) -> Tensor:
        return functional.conv2d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )

    def extra_repr(self) -> str:
        text = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text + ("" if self.bias is not None else ", bias=False")


class _Pool2d(Module):
    """What the pooling layers share: the window geometry (stride defaults to the kernel)."""

    def __init__(
        self, kernel_size: IntOrPair, stride: IntOrPair | None, padding: IntOrPair
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """The maximum of each window, as ``torch.nn.MaxPool2d`` (stride defaults to the kernel).

    Example:
        >>> MaxPool2d(2)(Tensor(np.zeros((1, 3, 8, 8)))).shape
        (1, 3, 4, 4)
    """

    def __init__(
        self,
        kernel_size: IntOrPair,
        stride: IntOrPair | None = None,
        padding: IntOrPair = 0,
        dilation: IntOrPair = 1,
    ) -> None:
        super().__init__(kernel_size, stride, padding)
        self.dilation = dilation

    def forward(self, x: Tensor) -> Tensor:
        return functional.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, dilation={self.dilation}"


class AvgPool2d(_Pool2d):
    """The mean of each window, as ``torch.nn.AvgPool2d`` (stride defaults to the kernel).

    Example:
        >>> AvgPool2d(2)(Tensor(np.ones((1, 3, 8, 8)))).shape
        (1, 3, 4, 4)
    """

    def __init__(
        self,
        kernel_size: IntOrPair,
        stride: IntOrPair | None = None,
        padding: IntOrPair = 0,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x: Tensor) -> Tensor:
        return functional.avg_pool2d(
            x, self.kernel_size, self.stride, self.padding, self.count_include_pad
        )
