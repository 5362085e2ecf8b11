"""Gradient testing: `gradcheck`, property tests for ops and models, hypothesis strategies.

Importing this package imports hypothesis (``pip install tinygrad-nn[testing]``);
``import tinygrad_nn`` alone never does.

Example:
    >>> import numpy as np
    >>> from tinygrad_nn.testing import gradcheck
    >>> gradcheck(lambda x: (x * x).sigmoid(), np.array([0.5, -1.0]))
    True
"""

from __future__ import annotations

from tinygrad_nn.testing import strategies
from tinygrad_nn.testing.gradcheck import (
    assert_gradients_close,
    central_differences,
    gradcheck,
    gradgradcheck,
)
from tinygrad_nn.testing.properties import check_function, check_model, scaled_squared_error

__all__ = [
    "assert_gradients_close",
    "central_differences",
    "check_function",
    "check_model",
    "gradcheck",
    "gradgradcheck",
    "scaled_squared_error",
    "strategies",
]
