"""Primitive differentiable ops: each a small `Function` with forward and backward side by side.

The ops are grouped by kind in the modules of this package and re-exported here, so
``tinygrad_nn.ops.Mul`` names every op whatever file defines it. `core` holds the
primitives the engine and the article's network are built from; `elementwise`,
`reductions`, `shape` and `linalg` the rest of NumPy's differentiable functions (listed
with their derivatives in docs/ops.md).

How a backward is written (so that it is also twice differentiable): it computes the
input gradients from ``grad`` and ``ctx.saved`` with NumPy functions, ufuncs, operators
and the ndarray methods that Tensor shares (``reshape``, ``sum``, ``transpose``, ``T``,
``astype``, indexing), or with other ops through ``SomeOp.evaluate(...)``. For first-order
gradients the engine hands it ndarrays and it runs at NumPy speed; when a graph of the
gradient is asked for (``tnn.gradients(..., create_graph=True)``) the engine hands it
Tensors, and the same lines record themselves through NumPy's dispatch protocols. So
``ctx.saved`` may hold the op's inputs, its output and non-float values (shapes, axes,
masks, indices), but no other float array computed in forward: the engine refuses such an
op in a higher-order pass, since it could not differentiate through that array. Backward
never writes into arrays in place (``out[...] = ...``, ``+=`` on a saved array).
"""

from tinygrad_nn.ops.conv import *  # noqa: F403
from tinygrad_nn.ops.conv import __all__ as _conv_names
from tinygrad_nn.ops.core import *  # noqa: F403
from tinygrad_nn.ops.core import __all__ as _core_names
from tinygrad_nn.ops.elementwise import *  # noqa: F403
from tinygrad_nn.ops.elementwise import __all__ as _elementwise_names
from tinygrad_nn.ops.linalg import *  # noqa: F403
from tinygrad_nn.ops.linalg import __all__ as _linalg_names
from tinygrad_nn.ops.reductions import *  # noqa: F403
from tinygrad_nn.ops.reductions import __all__ as _reduction_names
from tinygrad_nn.ops.shape import *  # noqa: F403
from tinygrad_nn.ops.shape import __all__ as _shape_names

__all__ = [
    *_core_names,
    *_elementwise_names,
    *_reduction_names,
    *_shape_names,
    *_linalg_names,
    *_conv_names,
]
