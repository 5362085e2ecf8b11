"""Convolution and max pooling in NCHW layout with PyTorch's semantics, each one fused node.

A convolution gathers every receptive field into a matrix (im2col: one strided copy per
kernel offset) and multiplies it by the kernel in a batched ``matmul`` (over samples and
groups), laid out so that the result is already NCHW; it does so a few samples at a time, so
that the matrix stays in the CPU's cache between the copies and the product. Its gradients
are convolutions too, so three linear ops close under differentiation::

    Conv2d(x, w)                y[n, o] = sum_c,i,j w[o, c, i, j] x[n, c, s*h + d*i, s*w + d*j]
    Conv2dInputGrad(g, w)       the gradient of Conv2d with respect to x (a transposed conv)
    Conv2dWeightGrad(x, g)      the gradient of Conv2d with respect to w

and each one's backward calls the other two through ``evaluate``: the rule is written once
and the ops are differentiable to any order. Pooling keeps the argmax of each window
(`MaxPool2d`), whose gradient is a `ScatterAdd`; average pooling is a convolution with a
constant kernel (`tinygrad_nn.functional.avg_pool2d`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tinygrad_nn.autograd import Function
from tinygrad_nn.ops.core import ScatterAdd

__all__ = ["Conv2d", "Conv2dInputGrad", "Conv2dWeightGrad", "MaxPool2d"]

Pair = tuple[int, int]

_HINT = (
    "conv2d takes x (N, C, H, W) and w (O, C / groups, KH, KW); check the channels, groups "
    "and that the (padded) input is at least as large as the (dilated) kernel"
)


def output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length along one axis: floor((size + 2 p - d (k - 1) - 1) / s) + 1."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _windows(
    x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair, fill: float = 0.0
) -> np.ndarray:
    """Every receptive field as a strided view: (N, C, OH, OW, KH, KW), no copy but the pad."""
    (ph, pw), (dh, dw), (sh, sw) = padding, dilation, stride
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    span = (dh * (kernel[0] - 1) + 1, dw * (kernel[1] - 1) + 1)
    return sliding_window_view(x, span, axis=(2, 3))[:, :, ::sh, ::sw, ::dh, ::dw]


def _axis_taps(
    size: int, out: int, kernel: int, stride: int, padding: int, dilation: int
) -> list[tuple[slice, slice]]:
    """Along one axis, for each kernel index: the outputs that read inside the input (not
    its zero padding) and the input positions they read, as a pair of slices."""
    taps = []
    for index in range(kernel):
        start = index * dilation - padding  # where output 0 reads, possibly in the padding
        first = max(0, -(start // stride))  # the first output reading at position >= 0
        stop = min(out, (size - 1 - start) // stride + 1)  # past the last one reading < size
        if stop <= first:
            taps.append((slice(0, 0), slice(0, 0)))
        else:
            reads = slice(start + first * stride, start + (stop - 1) * stride + 1, stride)
            taps.append((slice(first, stop), reads))
    return taps


def _taps(
    shape: tuple[int, ...], out: Pair, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair
) -> list[tuple[tuple[slice, slice], tuple[slice, slice]]]:
    """For each kernel offset (i, j): the output (rows, columns) that read inside an (N, C,
    H, W) input and the input (rows, columns) they read; the padding is never materialised."""
    rows, columns = (
        _axis_taps(
            shape[2 + axis], out[axis], kernel[axis], stride[axis], padding[axis], dilation[axis]
        )
        for axis in range(2)
    )
    return [
        ((o_rows, o_columns), (i_rows, i_columns))
        for o_rows, i_rows in rows
        for o_columns, i_columns in columns
    ]


# im2col and col2im work on a few samples at a time, about this many bytes of columns: small
# enough to stay in the CPU's cache from the copies that fill them to the matmul that reads
# them. One buffer for the whole batch is slower (``benchmarks/conv.py --chunk-bytes``).
CHUNK_BYTES = 1 << 20


def _chunks(
    n: int, per_sample: tuple[int, ...], dtype: np.dtype[Any]
) -> Iterator[tuple[slice, np.ndarray]]:
    """Ranges of samples covering range(n), each with a zero-filled (samples, *per_sample)
    buffer of about CHUNK_BYTES (at least one sample); every chunk reuses the same buffer."""
    sample_bytes = math.prod(per_sample) * dtype.itemsize
    size = max(1, min(n, CHUNK_BYTES // max(sample_bytes, 1)))
    buffer = np.zeros((size, *per_sample), dtype=dtype)
    for start in range(0, n, size):
        part = slice(start, min(start + size, n))
        yield part, buffer[: part.stop - start]


def _output_hw(
    shape: tuple[int, ...], kernel: Pair, stride: Pair, padding: Pair, dilation: Pair
) -> Pair:
    """(OH, OW) of a convolution of an (N, C, H, W) input."""
    return (
        output_size(shape[2], kernel[0], stride[0], padding[0], dilation[0]),
        output_size(shape[3], kernel[1], stride[1], padding[1], dilation[1]),
    )


def _column_chunks(
    x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair, groups: int
) -> Iterator[tuple[slice, np.ndarray]]:
    """im2col by chunks of samples: (samples, their columns (n, groups, C/g*KH*KW, OH*OW)).

    The layout keeps NCHW's order, so the products with the kernel come out as (N, O, OH, OW)
    without a transpose; one strided copy per kernel offset fills it, and what would read the
    zero padding is left at the buffer's zeros. Every chunk reuses one buffer: use its columns
    before asking for the next chunk.
    """
    n, c = x.shape[:2]
    out = _output_hw(x.shape, kernel, stride, padding, dilation)
    taps = _taps(x.shape, out, kernel, stride, padding, dilation)
    for part, cols in _chunks(n, (c, len(taps), *out), x.dtype):
        source = x[part]
        for offset, (reader, read) in enumerate(taps):
            cols[:, :, offset, reader[0], reader[1]] = source[:, :, read[0], read[1]]
        yield part, cols.reshape(len(cols), groups, -1, out[0] * out[1])


def _settings(stride: Pair, padding: Pair, dilation: Pair, groups: int) -> dict[str, Any]:
    """The keyword arguments every conv op takes, kept on ctx for its backward."""
    return {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}


class Conv2d(Function):
    """f(x, w, b) = cross-correlation of x (N, C, H, W) with w (O, C/g, KH, KW), plus b;
    df/dx = Conv2dInputGrad(grad, w), df/dw = Conv2dWeightGrad(x, grad), df/db = sum of grad
    over N, OH, OW"""

    hint = _HINT

    @staticmethod
    def forward(
        ctx: Function,
        x: np.ndarray,
        w: np.ndarray,
        *bias: np.ndarray,
        stride: Pair,
        padding: Pair,
        dilation: Pair,
        groups: int,
    ) -> np.ndarray:
        ctx.save_for_backward(x, w, _settings(stride, padding, dilation, groups))
        n = x.shape[0]
        o, _, kh, kw = w.shape
        oh, ow = _output_hw(x.shape, (kh, kw), stride, padding, dilation)
        kernel = w.reshape(groups, o // groups, -1)
        out = np.empty((n, groups, o // groups, oh * ow), dtype=np.result_type(x, w, *bias))
        for part, cols in _column_chunks(x, (kh, kw), stride, padding, dilation, groups):
            np.matmul(kernel, cols, out=out[part])
            if bias:
                out[part] += bias[0].reshape(groups, o // groups, 1)  # while it is in cache
        return out.reshape(n, o, oh, ow)

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        x, w, settings = ctx.saved
        needs = ctx.needs_input_grad
        grad_x = grad_w = None
        if needs[0]:
            grad_x = Conv2dInputGrad.evaluate(grad, w, x_shape=tuple(x.shape), **settings)
        if needs[1]:
            grad_w = Conv2dWeightGrad.evaluate(x, grad, w_shape=tuple(w.shape), **settings)
        if len(needs) == 2:
            return (grad_x, grad_w)
        return (grad_x, grad_w, grad.sum(axis=(0, 2, 3)) if needs[2] else None)


class Conv2dInputGrad(Function):
    """f(g, w) = the gradient of Conv2d(x, w) with respect to x for output gradient g
    (col2im of g times w); df/dg = Conv2d(grad, w), df/dw = Conv2dWeightGrad(grad, g)"""

    hint = _HINT

    @staticmethod
    def forward(
        ctx: Function,
        g: np.ndarray,
        w: np.ndarray,
        *,
        x_shape: tuple[int, int, int, int],
        stride: Pair,
        padding: Pair,
        dilation: Pair,
        groups: int,
    ) -> np.ndarray:
        ctx.save_for_backward(g, w, _settings(stride, padding, dilation, groups))
        n, c = x_shape[:2]
        _, o, oh, ow = g.shape
        kernel = (w.shape[2], w.shape[3])
        taps = _taps(x_shape, (oh, ow), kernel, stride, padding, dilation)
        kernel_t = w.reshape(groups, o // groups, -1).transpose(0, 2, 1)  # (groups, C/g*KK, O/g)
        flat_g = g.reshape(n, groups, o // groups, oh * ow)
        grad_x = np.zeros(x_shape, dtype=np.result_type(g, w))
        for part, cols in _chunks(n, (groups, kernel_t.shape[1], oh * ow), grad_x.dtype):
            np.matmul(kernel_t, flat_g[part], out=cols)
            cols, target = cols.reshape(len(cols), c, len(taps), oh, ow), grad_x[part]
            for offset, (reader, read) in enumerate(taps):  # col2im: a slab per offset
                target[:, :, read[0], read[1]] += cols[:, :, offset, reader[0], reader[1]]
        return grad_x

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        g, w, settings = ctx.saved
        needs = ctx.needs_input_grad
        return (
            Conv2d.evaluate(grad, w, **settings) if needs[0] else None,
            Conv2dWeightGrad.evaluate(grad, g, w_shape=tuple(w.shape), **settings)
            if needs[1]
            else None,
        )


class Conv2dWeightGrad(Function):
    """f(x, g) = the gradient of Conv2d(x, w) with respect to w for output gradient g
    (g times im2col of x); df/dx = Conv2dInputGrad(g, grad), df/dg = Conv2d(x, grad)"""

    hint = _HINT

    @staticmethod
    def forward(
        ctx: Function,
        x: np.ndarray,
        g: np.ndarray,
        *,
        w_shape: tuple[int, int, int, int],
        stride: Pair,
        padding: Pair,
        dilation: Pair,
        groups: int,
    ) -> np.ndarray:
        ctx.save_for_backward(x, g, _settings(stride, padding, dilation, groups))
        n, o = g.shape[:2]
        flat_g = g.reshape(n, groups, o // groups, -1)
        columns = w_shape[1] * w_shape[2] * w_shape[3]
        grad_w = np.zeros((groups, columns, o // groups), dtype=np.result_type(x, g))
        chunks = _column_chunks(x, (w_shape[2], w_shape[3]), stride, padding, dilation, groups)
        for part, cols in chunks:
            # cols times g transposed, not g times cols transposed: the same product, but
            # OpenBLAS is about 1.5x faster with the narrow operand (O/g wide) transposed.
            grad_w += np.matmul(cols, flat_g[part].transpose(0, 1, 3, 2)).sum(axis=0)
        grad_w = grad_w.transpose(0, 2, 1)  # (groups, O/g, C/g*KH*KW)
        return grad_w.reshape(w_shape)

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        x, g, settings = ctx.saved
        needs = ctx.needs_input_grad
        return (
            Conv2dInputGrad.evaluate(g, grad, x_shape=tuple(x.shape), **settings)
            if needs[0]
            else None,
            Conv2d.evaluate(x, grad, **settings) if needs[1] else None,
        )


class MaxPool2d(Function):
    """f(x) = the maximum of each window (padding counts as -inf);  df/dx = grad at each
    window's (first) maximum, summed where windows overlap"""

    hint = "max_pool2d takes x (N, C, H, W); the padded input must hold at least one window"

    @staticmethod
    def forward(
        ctx: Function,
        x: np.ndarray,
        *,
        kernel_size: Pair,
        stride: Pair,
        padding: Pair,
        dilation: Pair,
    ) -> np.ndarray:
        windows = _windows(x, kernel_size, stride, padding, dilation, fill=-np.inf)
        n, c, oh, ow, kh, kw = windows.shape
        flat = windows.reshape(n, c, oh, ow, kh * kw)
        best = flat.argmax(axis=-1)
        out = np.take_along_axis(flat, best[..., None], axis=-1)[..., 0]
        # Where each maximum sits in x, as a flat index (padding is never a window's maximum
        # because PyTorch's padding <= kernel / 2 leaves every window a real element).
        rows = np.arange(oh)[:, None] * stride[0] + (best // kw) * dilation[0] - padding[0]
        cols = np.arange(ow)[None, :] * stride[1] + (best % kw) * dilation[1] - padding[1]
        planes = np.arange(n * c).reshape(n, c, 1, 1) * (x.shape[2] * x.shape[3])
        ctx.save_for_backward((planes + rows * x.shape[3] + cols).ravel(), x.shape)
        return out

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        index, shape = ctx.saved
        size = int(np.prod(shape))
        flat = ScatterAdd.evaluate(grad.reshape(-1), shape=(size,), index=index)
        return (flat.reshape(shape),)
