"""The autodiff engine: `Function` (op and graph node), grad mode and the backward pass.

Every differentiable operation is a `Function` subclass with a static ``forward`` and
``backward`` that work on plain ndarrays. Applying one to Tensors records a graph node
(the Function instance itself, also called ``ctx``) on the output tensor::

    x ──┐
        ├─ Mul ── y ── Sum ── loss        loss._ctx is a Sum node whose parents are (y,)
    w ──┘                                 y._ctx is a Mul node whose parents are (x, w)

``loss.backward()`` walks that graph once in reverse topological order. Each node turns
the gradient of its output into gradients of its inputs (a vector-Jacobian product);
the engine sums broadcast axes back to each input's shape (`unbroadcast`), checks shapes,
accumulates contributions, and stores the result in ``.grad`` of the leaf tensors.

A node references its input tensors and its saved arrays, never its output tensor, so
tensors and nodes form no reference cycles and a dropped graph is freed at once.
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

if TYPE_CHECKING:
    from tinygrad_nn.tensor import Tensor

__all__ = [
    "Function",
    "backward",
    "detect_anomaly",
    "enable_grad",
    "get_default_dtype",
    "is_anomaly_enabled",
    "is_grad_enabled",
    "no_grad",
    "set_default_dtype",
    "unbroadcast",
]

F = TypeVar("F", bound=Callable[..., Any])


# --------------------------------------------------------------------------- global state


class _State(threading.local):
    """Per-thread switches read by every op (grad mode, anomaly mode, module scope)."""

    grad_enabled: bool = True
    anomaly: bool = False
    # Tuple of the Modules currently being called, outermost first (for graph drawings).
    module_scope: tuple[Any, ...] = ()
    # Called with the root of every backward, which then keeps its graph (as with
    # retain_graph=True) so it can still be drawn; set by `tinygrad_nn.viz.keep_graphs`.
    backward_observers: tuple[Callable[[Tensor], None], ...] = ()
    # Called with (op class, input tensors, keyword arguments, output) for every op while
    # `tinygrad_nn.capture.capture_step` records a step.
    recorder: Callable[..., None] | None = None


_state = _State()
_next_sequence_number = itertools.count().__next__
_default_dtype = np.dtype(np.float64)


def is_grad_enabled() -> bool:
    """Return True when operations are recorded for backward (the default)."""
    return _state.grad_enabled


class _GradMode:
    """Context manager and decorator that sets grad mode, restoring the old mode on exit."""

    enabled: ClassVar[bool]

    def __init__(self) -> None:
        self._previous: list[bool] = []

    def __enter__(self) -> None:
        self._previous.append(_state.grad_enabled)
        _state.grad_enabled = self.enabled

    def __exit__(self, *exc_info: object) -> None:
        _state.grad_enabled = self._previous.pop()

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(_GradMode):
    """Disable graph recording: ``with tnn.no_grad(): ...`` or ``@tnn.no_grad()``.

    Example:
        >>> with no_grad():
        ...     y = model(x)          # no graph is built, nothing is saved for backward
    """

    enabled = False


class enable_grad(_GradMode):
    """Re-enable graph recording inside a `no_grad` block (context manager or decorator)."""

    enabled = True


class detect_anomaly:
    """Raise as soon as an op produces NaN or inf, naming that op (forward or backward).

    Checking every output costs time, so use it while debugging only.

    Example:
        >>> with detect_anomaly():
        ...     loss = (x.log() * w).sum()   # RuntimeError names 'Log' if x has zeros
        ...     loss.backward()
    """

    def __init__(self) -> None:
        self._previous: list[bool] = []

    def __enter__(self) -> None:
        self._previous.append(_state.anomaly)
        _state.anomaly = True

    def __exit__(self, *exc_info: object) -> None:
        _state.anomaly = self._previous.pop()


def is_anomaly_enabled() -> bool:
    """Return True inside a `detect_anomaly` block."""
    return _state.anomaly


def set_default_dtype(dtype: Any) -> None:
    """Set the float dtype given to Python numbers, lists and new parameters.

    Args:
        dtype: ``np.float32`` or ``np.float64`` (the default).
    """
    global _default_dtype
    resolved = np.dtype(dtype)
    if resolved.kind != "f":
        raise TypeError(
            f"set_default_dtype: expected a floating dtype such as np.float32 or np.float64, "
            f"got {resolved}"
        )
    _default_dtype = resolved


def get_default_dtype() -> np.dtype:
    """Return the current default float dtype (float64 unless `set_default_dtype` changed it)."""
    return _default_dtype


def _push_module(module: Any) -> tuple[Any, ...]:
    """Enter a Module call; returns the previous scope to hand back to `_pop_module`."""
    previous = _state.module_scope
    _state.module_scope = (*previous, module)
    return previous


def _pop_module(previous: tuple[Any, ...]) -> None:
    _state.module_scope = previous


# --------------------------------------------------------------------------- Function


class Function:
    """Base class of every differentiable op; an instance is one node of the graph.

    Subclass it with two static methods that work on ndarrays::

        class Cube(Function):
            '''f(x) = x**3,  f'(x) = 3 x**2'''

            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x**3

            @staticmethod
            def backward(ctx, grad):
                (x,) = ctx.saved
                return (3 * x**2 * grad,)

        y = Cube.apply(t)

    ``backward`` returns a tuple with one entry per input of ``forward``: the gradient of
    the loss with respect to that input, or None. It may return a gradient with the shape
    of the (broadcast) output; the engine sums it back to the input's shape.
    ``ctx.needs_input_grad[i]`` says whether input ``i`` needs a gradient at all, so an op
    can skip work (the engine drops gradients that are not needed either way).
    """

    # The graph links are slots; __dict__ stays so custom ops may set ctx.anything.
    __slots__ = ("__dict__", "needs_input_grad", "parents", "saved", "scope", "seq")

    # Hint appended to forward errors; ops override it with advice that fits them.
    hint: ClassVar[str] = "check the shapes and dtypes of the inputs"

    parents: tuple[Tensor, ...] | None
    saved: tuple[Any, ...] | None
    needs_input_grad: tuple[bool, ...]
    scope: tuple[Any, ...]
    seq: int  # creation order; backward visits nodes newest first

    @classmethod
    def op_name(cls) -> str:
        """Name used in errors, graph drawings and traces."""
        return cls.__name__

    def save_for_backward(self, *values: Any) -> None:
        """Keep ``values`` (arrays or anything else backward needs) until backward runs."""
        self.saved = values

    @staticmethod
    def forward(ctx: Function, *arrays: Any, **kwargs: Any) -> np.ndarray:
        """Compute the output from input ndarrays."""
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Function, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        """Map the output's gradient to one gradient (or None) per input."""
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Any, **kwargs: Any) -> Tensor:
        """Run the op on Tensors (or arrays and numbers, taken as constants).

        A graph node is recorded only when grad mode is on and some input requires grad.
        """
        tensor_type = _tensor_module.Tensor
        tensors = inputs
        for value in inputs:
            if value.__class__ is not tensor_type and not isinstance(value, tensor_type):
                tensors = _as_tensors(inputs, tensor_type)
                break
        ctx = cls.__new__(cls)
        ctx.saved = None
        # Unrolled for one to three inputs (three: Linear): this is the per-op overhead of
        # every model, and a list comprehension costs as much as the rest of it.
        arity = len(tensors)
        if arity == 2:
            first, second = tensors
            needs = (first.requires_grad, second.requires_grad)
            arrays = (first.data, second.data)
        elif arity == 1:
            needs = (tensors[0].requires_grad,)
            arrays = (tensors[0].data,)
        elif arity == 3:
            first, second, third = tensors
            needs = (first.requires_grad, second.requires_grad, third.requires_grad)
            arrays = (first.data, second.data, third.data)
        else:
            needs = tuple([t.requires_grad for t in tensors])
            arrays = tuple([t.data for t in tensors])
        ctx.needs_input_grad = needs
        state = _state
        record = state.grad_enabled and True in needs
        try:
            # Spreading an empty **kwargs still builds a dict: most ops take none.
            out = cls.forward(ctx, *arrays, **kwargs) if kwargs else cls.forward(ctx, *arrays)
        except (ValueError, IndexError, TypeError) as error:
            raise _with_context(cls, tensors, error) from error
        if out.__class__ is not np.ndarray:
            out = np.asarray(out)
        if state.anomaly:
            _check_forward_finite(cls, tensors, out)
        result = tensor_type._make(out, record)
        if record:
            ctx.parents = tensors
            ctx.scope = state.module_scope
            ctx.seq = _next_sequence_number()
            result._ctx = ctx
        if state.recorder is not None:
            state.recorder(cls, tensors, kwargs, result)
        return result

    def __repr__(self) -> str:
        return f"<{self.op_name()} node>"


def _as_tensors(inputs: tuple[Any, ...], tensor_type: type[Tensor]) -> tuple[Tensor, ...]:
    """Wrap numbers and arrays as constants; numbers follow the first tensor's float dtype."""
    like = next((x for x in inputs if isinstance(x, tensor_type)), None)
    return tuple(
        x if isinstance(x, tensor_type) else tensor_type._constant(x, like=like) for x in inputs
    )


def _with_context(
    cls: type[Function], tensors: Sequence[Tensor | np.ndarray], error: Exception
) -> Exception:
    """The forward error re-raised as its builtin type, naming the op, shapes and a fix.

    NumPy's own subclasses (AxisError, _UFuncNoLoopError ...) have other constructors,
    so the builtin base class carries the message.
    """
    shapes = ", ".join(f"{t.shape} {t.dtype}" for t in tensors)
    message = f"{cls.op_name()}: {error} (inputs: {shapes}); {cls.hint}"
    for builtin in (ValueError, IndexError, TypeError):
        if isinstance(error, builtin):
            return builtin(message)
    return RuntimeError(message)


def _check_forward_finite(cls: type[Function], tensors: Sequence[Tensor], out: np.ndarray) -> None:
    if out.dtype.kind not in "fc" or np.isfinite(out).all():
        return
    if all(t.dtype.kind not in "fc" or np.isfinite(t.data).all() for t in tensors):
        shapes = ", ".join(str(t.shape) for t in tensors)
        raise RuntimeError(
            f"detect_anomaly: {cls.op_name()} produced NaN or inf in its forward output "
            f"from finite inputs of shapes {shapes}"
        )


# --------------------------------------------------------------------------- backward


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched, giving ``shape``.

    Leading extra axes are summed away, then axes where ``shape`` has size 1 are summed
    with keepdims. Raises ValueError when ``grad`` cannot come from broadcasting ``shape``.

    Example:
        >>> unbroadcast(np.ones((4, 2, 3)), (2, 1)).tolist()
        [[12.0], [12.0]]
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0:
        raise ValueError(f"gradient of shape {grad.shape} cannot be reduced to shape {shape}")
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, size in enumerate(shape) if size == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    if grad.shape != shape:
        raise ValueError(f"gradient of shape {grad.shape} cannot be reduced to shape {shape}")
    return np.asarray(grad)


def _backward_order(root: Tensor) -> list[Tensor]:
    """Non-leaf tensors reachable from ``root``, newest node first.

    Every node gets a sequence number when it is recorded, and an op's inputs always exist
    before its output, so decreasing sequence numbers are a valid reverse topological
    order: no depth-first bookkeeping, and no recursion whatever the graph's depth. The
    numbers are unique, so one dict both marks visited nodes and sorts them.
    """
    by_number = {root._ctx.seq: root}
    stack = [root]
    while stack:
        node = stack.pop()._ctx
        parents = node.parents
        if parents is None:
            raise RuntimeError(
                f"backward: the graph through {node.op_name()} was already freed by an "
                "earlier backward (or one that raised part-way); pass retain_graph=True to "
                "the first backward() call to backpropagate through the same graph twice"
            )
        for parent in parents:
            parent_node = parent._ctx
            if parent_node is not None and parent_node.seq not in by_number:
                by_number[parent_node.seq] = parent
                stack.append(parent)
    return [by_number[number] for number in sorted(by_number, reverse=True)]


def backward(
    root: Tensor,
    grad: Any = None,
    retain_graph: bool = False,
    inputs: Sequence[Tensor] | None = None,
) -> None:
    """Backpropagate from ``root``; see `Tensor.backward`."""
    seed = _seed_gradient(root, grad)
    only = None if inputs is None else _input_ids(inputs)
    if _state.backward_observers:  # inside tinygrad_nn.viz.keep_graphs(): keep the graph
        retain_graph = True
        for observer in _state.backward_observers:
            observer(root)
    if root._ctx is None:  # a leaf: its gradient is the seed itself
        if only is None or id(root) in only:
            _accumulate(root, seed)
        return
    order = _backward_order(root)
    root._pending_grad = seed
    leaves: list[Tensor] = []
    retained: list[tuple[Tensor, np.ndarray]] = []
    try:
        _run_backward(order, retain_graph, _state.anomaly, only, leaves, retained)
    except BaseException:
        for tensor in (*order, *leaves):
            tensor._pending_grad = None
        raise
    # .grad is written only once the whole pass succeeded: a backward that raises
    # part-way leaves every .grad as it was.
    for tensor, tensor_grad in retained:
        _accumulate(tensor, tensor_grad)
    for leaf in leaves:
        leaf_grad, leaf._pending_grad = leaf._pending_grad, None
        if leaf.grad is None:
            leaf.grad = leaf_grad
        else:
            leaf.grad += leaf_grad


def _input_ids(inputs: Any) -> set[int]:
    """The ids of ``backward(inputs=...)``: a Tensor or a non-empty sequence of them."""
    tensors = (inputs,) if isinstance(inputs, _tensor_module.Tensor) else tuple(inputs)
    if not tensors or not all(isinstance(t, _tensor_module.Tensor) for t in tensors):
        raise ValueError("backward: inputs must be a Tensor or a non-empty sequence of Tensors")
    return {id(tensor) for tensor in tensors}


def _seed_gradient(root: Tensor, grad: Any) -> np.ndarray:
    if not root.requires_grad:
        raise RuntimeError(
            "backward: this tensor does not require grad and has no graph; create the "
            "inputs with requires_grad=True (and not under no_grad) to get gradients"
        )
    if grad is None:
        data = root.data
        if data.size != 1:
            raise RuntimeError(
                f"backward: grad can be omitted only for a single-element tensor, but this one "
                f"has shape {root.shape}; reduce it first (e.g. loss.sum()) or pass "
                f"grad= an array of shape {root.shape}"
            )
        seed = np.array(1, dtype=data.dtype)  # np.ones is a Python function, 5x slower
        return seed if data.ndim == 0 else seed.reshape(data.shape)
    seed = np.asarray(grad.data if isinstance(grad, _tensor_module.Tensor) else grad)
    if seed.shape != root.shape:
        raise ValueError(
            f"backward: grad has shape {seed.shape} but the tensor has shape {root.shape}; "
            "pass a gradient of the same shape as the tensor"
        )
    return seed.astype(root.dtype, copy=True)


def _run_backward(
    order: list[Tensor],
    retain_graph: bool,
    anomaly: bool,
    only: set[int] | None,
    leaves: list[Tensor],
    retained: list[tuple[Tensor, np.ndarray]],
) -> None:
    """The backward loop: one vector-Jacobian product per node, newest node first.

    Each tensor's incoming gradient is summed in its ``_pending_grad`` slot: a non-leaf's
    until its turn comes, a leaf's until the pass ends (the leaf is then listed in
    ``leaves``, one sum per leaf however often it is used). Gradients to store in a
    non-leaf's ``.grad`` (``retain_grad``, or named in ``only``) go to ``retained``.
    Only tensors in ``only`` get a ``.grad`` when it is given. This loop runs once
    per node and input of every training step, so it does only the checks that catch
    real mistakes (shape, dtype, arity) and leaves rare work to helpers.
    """
    ndarray = np.ndarray
    for tensor in order:
        node = tensor._ctx
        out_grad = tensor._pending_grad
        if out_grad is None:  # nothing flows through this node (e.g. an unused branch)
            if not retain_graph:
                node.saved = node.parents = None
            continue
        tensor._pending_grad = None
        if tensor._retains_grad if only is None else id(tensor) in only:
            retained.append((tensor, out_grad))
        input_grads = node.backward(node, out_grad)
        parents = node.parents
        if input_grads.__class__ is not tuple or len(input_grads) != len(parents):
            _raise_bad_arity(node, input_grads, len(parents))
        for parent, parent_grad in zip(parents, input_grads, strict=False):  # checked above
            if parent_grad is None or not parent.requires_grad:
                continue
            data = parent.data
            if (
                parent_grad.__class__ is not ndarray
                or parent_grad.shape != data.shape
                or parent_grad.dtype is not data.dtype  # `is` is cheap; _conform compares
            ):
                parent_grad = _conform(
                    node, parent_grad, data.shape, data.dtype, _input_index(node, parent)
                )
            if anomaly and not np.isfinite(parent_grad).all():
                raise RuntimeError(
                    f"detect_anomaly: {node.op_name()}.backward produced NaN or inf in the "
                    f"gradient of input {_input_index(node, parent)} (shape {data.shape})"
                )
            if parent._ctx is not None:
                previous = parent._pending_grad
                parent._pending_grad = parent_grad if previous is None else previous + parent_grad
            elif only is not None and id(parent) not in only:
                continue
            else:
                previous = parent._pending_grad
                if previous is not None:
                    parent._pending_grad = previous + parent_grad
                    continue
                leaves.append(parent)
                if parent.grad is None:  # may become .grad itself: it must be private
                    parent_grad = _private(parent_grad, node, out_grad, input_grads)
                parent._pending_grad = parent_grad
        if not retain_graph:  # free saved arrays and links: the graph's memory returns now
            node.saved = node.parents = None


def _private(
    grad: np.ndarray, node: Function, out_grad: np.ndarray, input_grads: tuple[Any, ...]
) -> np.ndarray:
    """``grad`` itself when no one else can hold it, else a copy.

    A leaf's first gradient becomes its ``.grad``, and later backwards add into it in
    place; so it must not be the incoming gradient (Add passes it on to both inputs), a
    view, an array returned for two inputs, an array the node saved or an input's data
    (a custom backward may return those).
    """
    if grad is out_grad or grad.base is not None:
        return grad.copy()
    holders = 0
    for other in input_grads:  # plain loops: a generator costs more than the whole check
        if other is grad:
            holders += 1
    for other in node.saved or ():
        if other is grad:
            holders += 1
    for parent in getattr(node, "parents", None) or ():  # replayed nodes (capture) have none
        if parent.data is grad:
            holders += 1
    return grad.copy() if holders > 1 else grad


def _input_index(node: Function, parent: Tensor) -> int:
    """Position of ``parent`` among the node's inputs (for error messages)."""
    return next(index for index, tensor in enumerate(node.parents) if tensor is parent)


def _raise_bad_arity(node: Function, input_grads: Any, expected: int) -> None:
    got = len(input_grads) if isinstance(input_grads, tuple) else type(input_grads).__name__
    raise RuntimeError(
        f"{node.op_name()}.backward must return a tuple with one gradient (or None) per "
        f"input: expected {expected}, got {got}"
    )


def _conform(
    node: Function, grad: Any, shape: tuple[int, ...], dtype: np.dtype, position: int
) -> np.ndarray:
    """Give input ``position``'s gradient its shape (summing broadcast axes) and dtype."""
    if grad.__class__ is not np.ndarray:
        grad = np.asarray(grad)
    if grad.shape != shape:
        try:
            grad = unbroadcast(grad, shape)
        except ValueError:
            raise RuntimeError(
                f"{node.op_name()}.backward returned a gradient of shape {grad.shape} for input "
                f"{position}, which has shape {shape}; return the input's shape (or the "
                "broadcast output's shape)"
            ) from None
    if grad.dtype != dtype:
        grad = grad.astype(dtype)
    return grad


def _accumulate(tensor: Tensor, grad: np.ndarray) -> None:
    """Add ``grad`` into ``tensor.grad`` (a private copy the first time)."""
    if tensor.grad is None:
        tensor.grad = grad.copy()
    else:
        tensor.grad += grad


# --------------------------------------------------------------------------- functional API


def value_and_grad(
    fn: Callable[..., Any], argnums: int | Sequence[int] = 0
) -> Callable[..., tuple[Any, Any]]:
    """Turn a scalar function of Tensors or arrays into one returning (value, gradient).

    Args:
        fn: returns a single-element Tensor.
        argnums: which positional argument(s) to differentiate; an int gives one
            gradient, a tuple gives a tuple of gradients.

    Returns:
        A function with fn's signature returning ``(value as float, gradient ndarray(s))``.

    Example:
        >>> f = value_and_grad(lambda x: (x * x).sum())
        >>> f(np.array([1.0, 2.0]))
        (5.0, array([2., 4.]))
    """
    positions = (argnums,) if isinstance(argnums, int) else tuple(argnums)

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        tensor_type = _tensor_module.Tensor
        args = list(args)
        watched = []
        for position in positions:
            if not -len(args) <= position < len(args):
                raise ValueError(
                    f"grad: argnums {position} is out of range for {len(args)} arguments"
                )
            value = args[position]
            data = value.data if isinstance(value, tensor_type) else value
            leaf = tensor_type(data, requires_grad=True)
            args[position] = leaf
            watched.append(leaf)
        with enable_grad():
            out = fn(*args, **kwargs)
        if not isinstance(out, tensor_type) or out.size != 1:
            raise TypeError(
                "grad: the function must return a single-element Tensor, got "
                f"{out.shape if isinstance(out, tensor_type) else type(out).__name__}"
            )
        if out.requires_grad:
            out.backward(inputs=watched)  # other tensors' .grad stay untouched
        grads = tuple(
            leaf.grad if leaf.grad is not None else np.zeros_like(leaf.data) for leaf in watched
        )
        return out.item(), grads[0] if isinstance(argnums, int) else grads

    return wrapped


def grad(fn: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """Turn a scalar function of Tensors or arrays into one returning its gradient.

    Example:
        >>> grad(lambda x: (x**3).sum())(np.array([2.0]))
        array([12.])
    """
    value_and_gradient = value_and_grad(fn, argnums)

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return value_and_gradient(*args, **kwargs)[1]

    return wrapped


# Imported last: tensor.py builds on Function, and Function.apply creates Tensors.
from tinygrad_nn import tensor as _tensor_module  # noqa: E402
