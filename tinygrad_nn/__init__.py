"""tinygrad_nn: a small, readable and fast reverse-mode autodiff framework on NumPy.

Example:
    >>> import numpy as np, tinygrad_nn as tnn
    >>> w = tnn.Tensor(np.ones((1, 2)), requires_grad=True)
    >>> (w * 3.0).sum().backward()
    >>> w.grad
    array([[3., 3.]])
"""

import importlib
from typing import Any

from tinygrad_nn import losses, nn, optim
from tinygrad_nn.autograd import (
    Function,
    detect_anomaly,
    enable_grad,
    get_default_dtype,
    gradients,
    is_anomaly_enabled,
    is_grad_enabled,
    no_grad,
    set_default_dtype,
)
from tinygrad_nn.capture import capture_step
from tinygrad_nn.functional import concatenate, stack, where
from tinygrad_nn.io import load, save
from tinygrad_nn.routines import *  # noqa: F403 (NumPy-named functions: tnn.exp, tnn.sum ...)
from tinygrad_nn.routines import __all__ as _routine_names
from tinygrad_nn.tensor import Tensor  # first: it registers itself with the engine
from tinygrad_nn.transforms import grad, hessian, hvp, jacobian, jvp, value_and_grad, vjp

__version__ = "0.1.0"

# Loaded on first use (`tnn.viz.draw_graph(...)`): they pull in matplotlib, graphviz or
# hypothesis, which `import tinygrad_nn` must not.
_LAZY_SUBMODULES = ("data", "experiments", "reference", "testing", "viz")


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"tinygrad_nn.{name}")
    raise AttributeError(f"module 'tinygrad_nn' has no attribute {name!r}")


__all__ = [
    "Function",
    "Tensor",
    "__version__",
    "capture_step",
    "concatenate",
    "detect_anomaly",
    "enable_grad",
    "get_default_dtype",
    "grad",
    "gradients",
    "hessian",
    "hvp",
    "is_anomaly_enabled",
    "is_grad_enabled",
    "jacobian",
    "jvp",
    "load",
    "losses",
    "nn",
    "no_grad",
    "optim",
    "save",
    "set_default_dtype",
    "stack",
    "value_and_grad",
    "vjp",
    "where",
    *_routine_names,
]
