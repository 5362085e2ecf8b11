"""conv2d, max_pool2d, avg_pool2d and their layers: values against direct NumPy loops of the
definitions, gradients (first and second order) against float64 finite differences."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import tinygrad_nn as tnn
from tinygrad_nn import Tensor, functional, nn
from tinygrad_nn.ops import conv as conv_ops
from tinygrad_nn.testing import gradcheck, gradgradcheck

RNG = np.random.default_rng(0)


def conv_loops(x, w, b, stride, padding, dilation, groups):
    """The definition: y[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] x_pad[n, ...]."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    n, _, h, width = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, o, oh, ow))
    og = o // groups
    for s, k, i, j in itertools.product(range(n), range(o), range(oh), range(ow)):
        first = (k // og) * cg
        for ci, p, q in itertools.product(range(cg), range(kh), range(kw)):
            out[s, k, i, j] += w[k, ci, p, q] * xp[s, first + ci, i * sh + p * dh, j * sw + q * dw]
        out[s, k, i, j] += 0 if b is None else b[k]
    return out


def pool_loops(x, kernel, stride, padding, reduce, fill):
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    oh = (xp.shape[2] - kh) // sh + 1
    ow = (xp.shape[3] - kw) // sw + 1
    out = np.zeros((*x.shape[:2], oh, ow))
    for i, j in itertools.product(range(oh), range(ow)):
        out[:, :, i, j] = reduce(xp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw], axis=(2, 3))
    return out


CASES = [
    # (x shape, w shape, stride, padding, dilation, groups)
    ((2, 3, 6, 5), (4, 3, 3, 3), (1, 1), (0, 0), (1, 1), 1),
    ((1, 4, 7, 7), (6, 2, 3, 2), (2, 1), (1, 1), (1, 2), 2),
    ((2, 2, 5, 6), (2, 1, 2, 2), (1, 2), (1, 0), (2, 1), 2),
    ((1, 3, 4, 4), (2, 3, 1, 1), (1, 1), (0, 0), (1, 1), 1),
    # padding wider than the kernel reaches: some offsets and outputs read only padding
    ((2, 2, 1, 3), (3, 2, 3, 2), (2, 1), (3, 1), (1, 2), 1),
]


@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "padding", "dilation", "groups"), CASES)
def test_conv2d_values_and_gradients(x_shape, w_shape, stride, padding, dilation, groups) -> None:
    x, w, b = RNG.normal(size=x_shape), RNG.normal(size=w_shape), RNG.normal(size=w_shape[0])
    out = functional.conv2d(Tensor(x), Tensor(w), Tensor(b), stride, padding, dilation, groups)
    np.testing.assert_allclose(
        out.data, conv_loops(x, w, b, stride, padding, dilation, groups), rtol=1e-12, atol=1e-12
    )

    def fn(x_: Tensor, w_: Tensor, b_: Tensor) -> Tensor:
        return functional.conv2d(x_, w_, b_, stride, padding, dilation, groups)

    gradcheck(fn, x, w, b)
    gradgradcheck(fn, x, w, b)


def test_conv2d_third_order_and_no_bias() -> None:
    x = Tensor(RNG.normal(size=(1, 2, 4, 4)), requires_grad=True)
    w = Tensor(RNG.normal(size=(2, 2, 2, 2)), requires_grad=True)
    loss = (functional.conv2d(x, w) ** 2).sum()
    (grad_x,) = tnn.gradients(loss, [x], create_graph=True)
    (grad_w,) = tnn.gradients((grad_x**2).sum(), [w], create_graph=True)
    (third,) = tnn.gradients(grad_w.sum(), [x])
    assert third.shape == x.shape and np.all(np.isfinite(third.data))
    gradgradcheck(lambda a: (functional.conv2d(a, w.detach()) ** 2).sum(), x.data.copy())


@pytest.mark.parametrize("per_chunk", [1, 2])
def test_conv2d_by_chunks_of_samples(monkeypatch, per_chunk) -> None:
    """The im2col and col2im loops over chunks of samples (5 = 1+1+1+1+1 and 2+2+1) give the
    values and first and second derivatives of the definition."""
    x_shape, w_shape, stride, padding, dilation, groups = CASES[1]
    x_shape = (5, *x_shape[1:])
    oh, ow = (
        conv_ops.output_size(x_shape[i + 2], w_shape[i + 2], stride[i], padding[i], dilation[i])
        for i in range(2)
    )
    per_sample = (x_shape[1], w_shape[2] * w_shape[3], oh * ow)  # one sample's columns
    monkeypatch.setattr(conv_ops, "CHUNK_BYTES", per_chunk * math.prod(per_sample) * 8)
    sizes = [len(cols) for _, cols in conv_ops._chunks(5, per_sample, np.dtype(np.float64))]
    assert sizes == ([1] * 5 if per_chunk == 1 else [2, 2, 1])
    x, w, b = RNG.normal(size=x_shape), RNG.normal(size=w_shape), RNG.normal(size=w_shape[0])
    out = functional.conv2d(Tensor(x), Tensor(w), Tensor(b), stride, padding, dilation, groups)
    expected = conv_loops(x, w, b, stride, padding, dilation, groups)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)

    def fn(x_: Tensor, w_: Tensor, b_: Tensor) -> Tensor:
        return functional.conv2d(x_, w_, b_, stride, padding, dilation, groups)

    gradcheck(fn, x, w, b)
    gradgradcheck(fn, x, w, b)


def test_conv2d_float32_stays_float32_to_second_order() -> None:
    x64, w64, b64 = RNG.normal(size=(3, 4, 6, 6)), RNG.normal(size=(4, 2, 3, 3)), RNG.normal(size=4)
    grads = {}
    for dtype in (np.float32, np.float64):
        x, w, b = (Tensor(a.astype(dtype), requires_grad=True) for a in (x64, w64, b64))
        out = functional.conv2d(x, w, b, padding=1, groups=2)
        first = tnn.gradients((out**2).sum(), [x, w, b], create_graph=True)
        second = tnn.gradients(sum((g**2).sum() for g in first), [x, w, b])
        grads[dtype] = [out, *first, *second]
    for single, double in zip(grads[np.float32], grads[np.float64], strict=True):
        assert single.dtype == np.float32
        np.testing.assert_allclose(single.data, double.data, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(
    ("kernel", "stride", "padding"),
    [((2, 2), None, (0, 0)), ((3, 3), (2, 2), (1, 1)), ((2, 3), (1, 2), (1, 1))],
)
def test_pooling_values_and_gradients(kernel, stride, padding) -> None:
    x = RNG.normal(size=(2, 3, 7, 6))
    step = kernel if stride is None else stride
    out = functional.max_pool2d(Tensor(x), kernel, stride, padding)
    np.testing.assert_array_equal(out.data, pool_loops(x, kernel, step, padding, np.max, -np.inf))
    gradcheck(lambda a: functional.max_pool2d(a, kernel, stride, padding), x)
    gradgradcheck(lambda a: functional.max_pool2d(a, kernel, stride, padding) ** 2, x)
    out = functional.avg_pool2d(Tensor(x), kernel, stride, padding)
    np.testing.assert_allclose(out.data, pool_loops(x, kernel, step, padding, np.mean, 0.0))
    exclude = functional.avg_pool2d(Tensor(x), kernel, stride, padding, count_include_pad=False)
    total = pool_loops(x, kernel, step, padding, np.sum, 0.0)
    counts = pool_loops(np.ones_like(x), kernel, step, padding, np.sum, 0.0)
    np.testing.assert_allclose(exclude.data, total / counts)
    gradcheck(lambda a: functional.avg_pool2d(a, kernel, stride, padding, False), x)


def test_max_pool_gradient_goes_to_the_maximum_and_overlaps_add() -> None:
    x = Tensor(
        np.array([[[[1.0, 5.0, 2.0], [0.0, 3.0, 4.0], [6.0, 0.0, 1.0]]]]), requires_grad=True
    )
    functional.max_pool2d(x, 2, stride=1).sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0], [[0, 2, 0], [0, 0, 1], [1, 0, 0]])


def test_unbatched_input_float32_and_errors() -> None:
    x = RNG.normal(size=(3, 5, 5)).astype(np.float32)
    w = RNG.normal(size=(2, 3, 3, 3)).astype(np.float32)
    out = functional.conv2d(Tensor(x), Tensor(w), padding=1)
    assert out.shape == (2, 5, 5) and out.dtype == np.float32
    assert functional.max_pool2d(Tensor(x), 2).dtype == np.float32
    assert functional.avg_pool2d(Tensor(x), 2).shape == (3, 2, 2)
    xt = Tensor(x[None])
    with pytest.raises(ValueError, match="groups"):
        functional.conv2d(xt, Tensor(w), groups=2)
    with pytest.raises(ValueError, match="smaller than the kernel"):
        functional.conv2d(xt, Tensor(RNG.normal(size=(2, 3, 7, 7)).astype(np.float32)))
    with pytest.raises(ValueError, match=r"b must have shape \(2,\)"):
        functional.conv2d(xt, Tensor(w), np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="dtype"):
        functional.conv2d(xt, Tensor(w.astype(np.float64)))
    with pytest.raises(TypeError, match="x has dtype float32 but b float64"):
        functional.conv2d(xt, Tensor(w), Tensor(np.zeros(2)))  # would give a float64 output
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        functional.conv2d(Tensor(np.ones((5, 5))), Tensor(w))
    with pytest.raises(ValueError, match="stride"):
        functional.conv2d(xt, Tensor(w), stride=0)
    with pytest.raises(ValueError, match="half the kernel"):
        functional.max_pool2d(xt, 2, padding=2)


def test_layers_follow_pytorchs_names_and_init() -> None:
    conv = nn.Conv2d(4, 6, (3, 2), stride=2, padding=1, groups=2, rng=0)
    assert list(conv.state_dict()) == ["weight", "bias"]
    assert conv.weight.shape == (6, 2, 3, 2) and conv.bias.shape == (6,)
    bound = 1 / np.sqrt(2 * 3 * 2)
    assert np.abs(conv.weight.data).max() <= bound and np.abs(conv.bias.data).max() <= bound
    x = RNG.normal(size=(2, 4, 7, 7))
    expected = conv_loops(x, conv.weight.data, conv.bias.data, (2, 2), (1, 1), (1, 1), 2)
    np.testing.assert_allclose(conv(Tensor(x)).data, expected, rtol=1e-12, atol=1e-12)
    assert nn.Conv2d(1, 2, 3, bias=False).bias is None
    assert nn.Conv2d(1, 2, 3, dtype=np.float32).weight.dtype == np.float32
    assert nn.MaxPool2d(2)(Tensor(x)).shape == (2, 4, 3, 3)
    assert nn.AvgPool2d(3, stride=1, padding=1)(Tensor(x)).shape == (2, 4, 7, 7)
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)


def test_a_small_cnn_learns() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, 1, 6, 6))
    y = (x[:, 0, :3].sum(axis=(1, 2)) > x[:, 0, 3:].sum(axis=(1, 2))).astype(int)  # top vs bottom
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, rng=0),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(36, 2, rng=1),
    )
    optimizer = tnn.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(60):
        optimizer.zero_grad()
        loss = tnn.losses.cross_entropy(model(Tensor(x)), y)
        loss.backward()
        optimizer.step()
    model.eval()
    accuracy = (model(Tensor(x)).data.argmax(axis=1) == y).mean()
    assert accuracy > 0.9
