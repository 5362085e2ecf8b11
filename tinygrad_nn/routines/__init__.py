"""NumPy-named functions on Tensors: ``tnn.exp(t)``, ``tnn.sum(t, axis=0)``, ``tnn.reshape(t, s)``.

Each is a thin call of an op from `tinygrad_nn.ops` (or a short composite of them), with
NumPy's name and semantics, and is registered (`tinygrad_nn.dispatch.implements`) as what
``np.NAME`` does on a Tensor. Tensor's methods of the same names (`tinygrad_nn.tensor_math`)
call these functions, so a function, its method and its NumPy spelling can never disagree.
Arguments may be Tensors, ndarrays or numbers; numbers and arrays are constants.

The modules follow the sections of NumPy's reference: `elementwise` (mathematical
functions), `reductions` (sums, products, statistics, norms), `shape` (array
manipulation, sorting), `linalg` (products) and `factories` (array creation, random).
"""

from tinygrad_nn.routines.elementwise import *  # noqa: F403
from tinygrad_nn.routines.elementwise import __all__ as _elementwise_names
from tinygrad_nn.routines.factories import *  # noqa: F403
from tinygrad_nn.routines.factories import __all__ as _factory_names
from tinygrad_nn.routines.linalg import *  # noqa: F403
from tinygrad_nn.routines.linalg import __all__ as _linalg_names
from tinygrad_nn.routines.reductions import *  # noqa: F403
from tinygrad_nn.routines.reductions import __all__ as _reduction_names
from tinygrad_nn.routines.shape import *  # noqa: F403
from tinygrad_nn.routines.shape import __all__ as _shape_names

__all__ = sorted(
    [*_elementwise_names, *_reduction_names, *_shape_names, *_linalg_names, *_factory_names]
)
