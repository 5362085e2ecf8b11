"""`Tensor`: an ndarray plus its gradient and a link to the op that made it.

::

    w = Tensor(np.ones((1, 3)), requires_grad=True)    leaf: w._ctx is None
    y = (x @ w).relu()                                 y._ctx is a Relu node -> (x @ w)
    loss = y.sum();  loss.backward()                   w.grad now holds d loss / d w

Operators and methods are thin sugar over `Function.apply` with the ops of
`tinygrad_nn.ops`; the engine lives in `tinygrad_nn.autograd`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from tinygrad_nn import autograd, dispatch
from tinygrad_nn import ops as _ops
from tinygrad_nn.tensor_math import TensorMath

__all__ = ["Tensor"]

_ArrayLike = Any  # ndarray, Python number, nested list, or Tensor


class Tensor(TensorMath):
    """An n-dimensional array that can record the operations applied to it.

    Args:
        data: an ndarray, a Python number or a (nested) list. The data is copied. Float
            ndarrays keep their dtype; Python numbers and lists take the default dtype
            (`tnn.get_default_dtype()`, float64 unless changed); other ndarrays keep theirs.
        requires_grad: record operations on this tensor so `backward` fills ``.grad``.
            Only floating-point tensors may require grad.
        dtype: convert the data to this dtype.
        name: a label shown in reprs and graph drawings.

    Example:
        >>> w = Tensor([[0.5, -1.0]], requires_grad=True, name="w")
        >>> loss = (w * w).sum()
        >>> loss.backward()
        >>> w.grad.tolist()
        [[1.0, -2.0]]
    """

    __slots__ = (
        "__weakref__",
        "_ctx",
        "_data",
        "_retains_grad",
        "_version",
        "grad",
        "name",
        "requires_grad",
    )

    def __init__(
        self,
        data: _ArrayLike,
        requires_grad: bool = False,
        dtype: Any = None,
        name: str | None = None,
    ) -> None:
        if isinstance(data, Tensor):
            data = data.data
        if dtype is not None:
            array = np.array(data, dtype=dtype)
        elif isinstance(data, (np.ndarray, np.generic)):
            array = np.array(data)
        else:
            try:
                array = np.array(data)
            except ValueError as error:  # e.g. a ragged nested list
                raise ValueError(
                    f"Tensor: cannot make a rectangular array from this {type(data).__name__}: "
                    f"{error}; give every row the same length"
                ) from None
            if array.dtype.kind in "fiu":
                array = array.astype(autograd.get_default_dtype())
        if array.dtype.kind not in "biufc":
            raise TypeError(
                f"Tensor: expected numbers (an ndarray, a number or a nested list of numbers), "
                f"got {type(data).__name__} giving dtype {array.dtype}"
            )
        if not isinstance(requires_grad, (bool, np.bool_)):
            raise TypeError(f"Tensor: requires_grad must be True or False, got {requires_grad!r}")
        if requires_grad and array.dtype.kind != "f":
            raise TypeError(
                f"Tensor: only floating-point tensors can require grad, got dtype {array.dtype}; "
                "pass dtype=np.float64 (or float32) to convert"
            )
        self._data: np.ndarray = array
        self._version = 0
        self.grad: np.ndarray | None = None
        self.requires_grad: bool = bool(requires_grad)
        self.name: str | None = name
        self._ctx: autograd.Function | None = None
        self._retains_grad = False

    @classmethod
    def _make(cls, data: np.ndarray, requires_grad: bool) -> Tensor:
        """Wrap an op's output without copying or validating (the hot path)."""
        tensor = cls.__new__(cls)
        tensor._data = data
        tensor._version = 0
        tensor.grad = None
        tensor.requires_grad = requires_grad
        tensor.name = None
        tensor._ctx = None
        tensor._retains_grad = False
        return tensor

    @classmethod
    def _constant(cls, value: Any, like: Tensor | None = None) -> Tensor:
        """The Tensor for a non-Tensor value taking part in an op: numbers, arrays and lists
        become constants (numbers in ``like``'s float dtype), except a list or tuple
        holding Tensors (``tnn.mean([x, x + 2])``), which is stacked with the Stack op so
        that gradients reach its Tensors.
        """
        if isinstance(value, (bool, int, float)) and like is not None:  # the common case
            dtype = like._data.dtype
            if dtype.kind == "f":
                return cls._make(np.array(value, dtype), False)
        if isinstance(value, np.ndarray):
            return cls._make(value, False)
        if isinstance(value, (list, tuple)) and _holds_tensor(value):
            like = like or next(_tensors_in(value))
            return _ops.Stack.apply(*(autograd.as_tensor(item, like=like) for item in value))
        array = np.asarray(value)
        if array.dtype.kind == "f" or (array.dtype.kind in "iu" and isinstance(value, list)):
            array = array.astype(autograd.get_default_dtype())
        return cls._make(array, False)

    # ------------------------------------------------------------------ properties

    @property
    def data(self) -> np.ndarray:
        """The values, an ndarray (shared, not copied).

        Assigning to it (``t.data = array``, or ``t.data -= update`` as optimizers do) counts
        as an in-place change: a graph that saved the old values refuses to backpropagate
        through them. Writing into the array itself (``t.data[...] = x``) bypasses that
        check.
        """
        return self._data

    @data.setter
    def data(self, value: np.ndarray) -> None:
        if not isinstance(value, np.ndarray):
            value = np.asarray(value)
        self._data = value
        self._version = autograd.next_version()

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by an op that records a graph."""
        return self._ctx is None

    @property
    def grad_fn(self) -> autograd.Function | None:
        """The graph node that produced this tensor (None for leaves)."""
        return self._ctx

    @property
    def T(self) -> Tensor:
        """The tensor with its axes reversed, like ndarray.T."""
        return self.transpose()

    def item(self) -> float | int | bool:
        """The value of a single-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item: only single-element tensors convert, this has {self.shape}")
        return self.data.item()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """Let ``np.asarray(tensor)`` see the data (not an object array of Tensors)."""
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            if copy is False:
                raise ValueError(
                    f"Tensor of dtype {self.dtype} cannot be viewed as {np.dtype(dtype)} "
                    "without a copy (copy=False)"
                )
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def numpy(self) -> np.ndarray:
        """The underlying ndarray (shared, not copied)."""
        return self.data

    def tolist(self) -> Any:
        return self.data.tolist()

    def detach(self) -> Tensor:
        """A new leaf sharing the data, cut from the graph (requires_grad=False)."""
        return Tensor._make(self.data, False)

    def retain_grad(self) -> Tensor:
        """Keep ``.grad`` for this non-leaf tensor during backward (leaves always keep it)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: the tensor does not require grad")
        self._retains_grad = True
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set requires_grad in place (floating-point tensors only); returns self."""
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"requires_grad_: only floating-point tensors can require grad, got {self.dtype}"
            )
        self.requires_grad = requires_grad
        return self

    def astype(self, dtype: Any) -> Tensor:
        """A copy converted to ``dtype`` (differentiable for float targets)."""
        return _ops.AsType.apply(self, dtype=np.dtype(dtype))

    def zero_grad(self) -> None:
        self.grad = None

    def backward(
        self,
        grad: _ArrayLike = None,
        retain_graph: bool = False,
        inputs: list[Tensor] | tuple[Tensor, ...] | None = None,
        create_graph: bool = False,
    ) -> None:
        """Compute gradients of this tensor with respect to every leaf that requires grad.

        Gradients add into the leaves' ``.grad`` (PyTorch semantics), and only once the
        whole pass has succeeded.

        Args:
            grad: the gradient of some scalar with respect to this tensor; may be omitted
                only when the tensor has a single element (then it is 1).
            retain_graph: keep the graph's saved arrays so backward can run through it again.
            inputs: if given, only these tensors receive gradients.
            create_graph: not supported (TypeError): ``.grad`` stays an ndarray; use
                `tnn.gradients` with ``create_graph=True`` for gradients with a graph.
        """
        autograd.backward(self, grad, retain_graph, inputs, create_graph)

    # ------------------------------------------------------------------ NumPy protocols

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """``np.exp(t)``, ``ndarray * t`` ...: the ufunc's differentiable version (NEP 13)."""
        return dispatch.call_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(
        self, func: Any, types: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """``np.sum(t)``, ``np.concatenate([t, u])`` ...: the differentiable version (NEP 18)."""
        return dispatch.call_function(func, args, kwargs)

    # ------------------------------------------------------------------ python protocol

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Tensor(", threshold=50)
        extras = []
        if self.dtype != autograd.get_default_dtype():
            extras.append(f"dtype={self.dtype}")
        if self._ctx is not None:
            extras.append(f"grad_fn={self._ctx.op_name()}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self.name is not None:
            extras.append(f"name={self.name!r}")
        return f"Tensor({', '.join([body, *extras])})"

    def _repr_html_(self) -> str:
        # Jupyter's rich display: summary, gradient and the graph (tinygrad_nn.viz.notebook).
        from tinygrad_nn.viz.notebook import tensor_html

        return tensor_html(self)

    __hash__ = object.__hash__

    # ------------------------------------------------------------------ arithmetic

    def _binary(self, op: type[autograd.Function], other: Any, reflected: bool = False) -> Tensor:
        if not isinstance(other, Tensor):
            other = Tensor._constant(other, like=self)
        return op.apply(other, self) if reflected else op.apply(self, other)

    def __add__(self, other: Any) -> Tensor:
        return self._binary(_ops.Add, other)

    def __radd__(self, other: Any) -> Tensor:
        return self._binary(_ops.Add, other, reflected=True)

    def __sub__(self, other: Any) -> Tensor:
        return self._binary(_ops.Sub, other)

    def __rsub__(self, other: Any) -> Tensor:
        return self._binary(_ops.Sub, other, reflected=True)

    def __mul__(self, other: Any) -> Tensor:
        return self._binary(_ops.Mul, other)

    def __rmul__(self, other: Any) -> Tensor:
        return self._binary(_ops.Mul, other, reflected=True)

    def __truediv__(self, other: Any) -> Tensor:
        return self._binary(_ops.Div, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return self._binary(_ops.Div, other, reflected=True)

    def __pow__(self, other: Any) -> Tensor:
        if isinstance(other, (int, float)) and other == 2:
            return _ops.Square.apply(self)
        return self._binary(_ops.Pow, other)

    def __rpow__(self, other: Any) -> Tensor:
        return self._binary(_ops.Pow, other, reflected=True)

    def __matmul__(self, other: Any) -> Tensor:
        return self._binary(_ops.MatMul, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return self._binary(_ops.MatMul, other, reflected=True)

    def __neg__(self) -> Tensor:
        return _ops.Neg.apply(self)

    def __pos__(self) -> Tensor:
        return self

    # Comparisons give boolean tensors that never require grad (masks for `where`).
    def _compare(self, other: Any, compare: Any) -> Tensor:
        other_data = other._data if isinstance(other, Tensor) else other
        try:
            return Tensor._make(np.asarray(compare(self._data, other_data)), False)
        except ValueError as error:
            other_shape = np.shape(other_data)
            raise ValueError(
                f"{compare.__name__}: cannot compare shapes {self.shape} and {other_shape}: "
                f"{error}; the shapes must broadcast (trailing axes equal or 1)"
            ) from None

    def __and__(self, other: Any) -> Tensor:
        return self._compare(other, np.logical_and)

    def __or__(self, other: Any) -> Tensor:
        return self._compare(other, np.logical_or)

    def __xor__(self, other: Any) -> Tensor:
        return self._compare(other, np.logical_xor)

    def __invert__(self) -> Tensor:
        if self.dtype != np.bool_:
            raise TypeError(f"~ needs a boolean tensor, got dtype {self.dtype}; use -t to negate")
        return Tensor._make(~self._data, False)

    def __lt__(self, other: Any) -> Tensor:
        return self._compare(other, np.less)

    def __le__(self, other: Any) -> Tensor:
        return self._compare(other, np.less_equal)

    def __gt__(self, other: Any) -> Tensor:
        return self._compare(other, np.greater)

    def __ge__(self, other: Any) -> Tensor:
        return self._compare(other, np.greater_equal)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, np.equal)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, np.not_equal)

    # ------------------------------------------------------------------ indexing
    # NumPy-named methods (sum, reshape, exp, ...) live in `tinygrad_nn.tensor_math`.

    def __getitem__(self, index: Any) -> Tensor:
        return _ops.Index.apply(self, index=_index_data(index))


def _index_data(index: Any) -> Any:
    """Replace Tensors inside an index by their arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(part.data if isinstance(part, Tensor) else part for part in index)
    if isinstance(index, list):
        # NumPy reads an empty list as an empty integer index (not float64).
        return np.asarray(index) if index else np.asarray(index, dtype=np.intp)
    return index


autograd.register_tensor_type(Tensor)


def _tensors_in(value: Any) -> Iterator[Tensor]:
    """The Tensors inside nested lists and tuples, depth first."""
    for item in value:
        if isinstance(item, Tensor):
            yield item
        elif isinstance(item, (list, tuple)):
            yield from _tensors_in(item)


def _holds_tensor(value: Any) -> bool:
    return next(_tensors_in(value), None) is not None
