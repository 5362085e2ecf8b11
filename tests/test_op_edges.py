"""Edge cases of individual ops' arguments: negative and NumPy-integer axes, empty and 0-d
inputs, and arguments of the wrong kind, each of which once went wrong.

The op table in test_ops.py checks every op's values and gradients on ordinary inputs.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_nn as tnn
from tinygrad_nn import Tensor


def test_transpose_with_negative_axes_routes_the_gradient_back() -> None:
    x = Tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    upstream = np.random.default_rng(0).normal(size=(4, 2, 3))
    x.transpose(-1, 0, -2).backward(upstream)
    np.testing.assert_array_equal(x.grad, np.transpose(upstream, (1, 2, 0)))


@pytest.mark.parametrize("reduce", ["sum", "max", "min", "mean"])
def test_numpy_integer_axes_work_in_backward(reduce: str) -> None:
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    getattr(x, reduce)(axis=np.int64(1)).sum().backward()
    expected = {
        "sum": np.ones((2, 3)),
        "mean": np.full((2, 3), 1 / 3),
        "max": np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]),
        "min": np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]),
    }
    np.testing.assert_allclose(x.grad, expected[reduce])


def test_mean_of_an_empty_batch_has_an_empty_result() -> None:
    assert Tensor(np.ones((0, 3))).mean(axis=1).shape == (0,)
    with pytest.raises(ValueError, match="empty axis"):
        Tensor(np.ones((0, 3))).mean(axis=0)


def test_softmax_with_a_bad_axis_names_the_function_and_shape() -> None:
    with pytest.raises(ValueError, match=r"log_softmax: axis 2 .*\(2, 3\)"):
        Tensor(np.ones((2, 3))).softmax(axis=2)


def test_softmax_of_a_0d_tensor_is_one() -> None:
    x = Tensor(3.0, requires_grad=True)
    out = x.softmax()
    out.backward()
    assert out.item() == 1.0 and x.grad == 0.0


def test_where_needs_a_boolean_condition() -> None:
    with pytest.raises(TypeError, match="boolean"):
        tnn.where(np.array([0.0, 1.0]), Tensor([1.0, 2.0]), 0.0)
