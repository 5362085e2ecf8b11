"""The autodiff engine: `Function` (op and graph node), grad mode and the backward pass.

Every differentiable operation is a `Function` subclass with a static ``forward`` and
``backward``. Applying one to Tensors records a graph node (the Function instance
itself, also called ``ctx``) on the output tensor::

    x ──┐
        ├─ Mul ── y ── Sum ── loss        loss.grad_fn is a Sum node whose parents are (y,)
    w ──┘                                 y.grad_fn is a Mul node whose parents are (x, w)

Backward walks that graph once, newest node first (`backward_order`), in one routine
(`backpropagate`) that every caller shares: ``Tensor.backward``, `gradients` (and the
function transforms built on it), `tinygrad_nn.capture` replays and
`tinygrad_nn.viz.trace_backward`. Each node turns the gradient of its output into
gradients of its inputs (a vector-Jacobian product); the engine sums broadcast axes back to
each input's shape (`unbroadcast`), checks shapes and dtypes, and adds up contributions in a
dict that belongs to the pass. Leaves' ``.grad`` are written only after the whole pass
succeeded, under a lock, so an exception, a KeyboardInterrupt or a second thread never
leaves a gradient half-written or pending.

For a gradient with a graph of its own (``create_graph=True``) the same ``backward`` runs
on Tensors instead of ndarrays, and its NumPy calls record themselves
(`tinygrad_nn.dispatch`): each derivative is written once, for every order.

A node references its input tensors and its saved values, never its output tensor, so
tensors and nodes form no reference cycles and a dropped graph is freed at once. After a
backward without ``retain_graph`` each node drops what it saved and replaces its
intermediate inputs by `ReleasedTensor` records (op, shape, dtype, name): the memory
returns, the structure stays for drawings and traces.
"""

from __future__ import annotations

import functools
import gc
import itertools
import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

import numpy as np

if TYPE_CHECKING:
    from tinygrad_nn.tensor import Tensor

__all__ = [
    "BackwardPass",
    "Function",
    "ReleasedTensor",
    "add_backward_observer",
    "as_tensor",
    "backpropagate",
    "backward",
    "backward_order",
    "conform_gradient",
    "detect_anomaly",
    "enable_grad",
    "enter_module",
    "exit_module",
    "forward_error",
    "get_default_dtype",
    "gradients",
    "is_anomaly_enabled",
    "is_grad_enabled",
    "is_recording",
    "is_released",
    "is_tensor",
    "make_node",
    "make_tensor",
    "next_version",
    "no_grad",
    "register_tensor_type",
    "remove_backward_observer",
    "seed_gradient",
    "set_default_dtype",
    "set_recorder",
    "thread_switches",
    "unbroadcast",
    "write_gradients",
]

F = TypeVar("F", bound=Callable[..., Any])


# --------------------------------------------------------------------------- global state


class _State(threading.local):
    """Per-thread switches read by every op (grad mode, anomaly mode, module scope)."""

    grad_enabled: bool = True
    anomaly: bool = False
    # Tuple of the Modules currently being called, outermost first (for graph drawings).
    module_scope: tuple[Any, ...] = ()
    # Called with the roots of every backward, which then keeps its graph (as with
    # retain_graph=True) so it can still be drawn; see `add_backward_observer`.
    backward_observers: tuple[Callable[[tuple[Tensor, ...]], None], ...] = ()
    # Called with (op class, input tensors, keyword arguments, output) for every op while
    # `tinygrad_nn.capture.capture_step` records a step.
    recorder: Callable[..., None] | None = None


_state = _State()
# One counter numbers nodes (creation order) and stamps in-place changes of tensors
# (Tensor._version), so "changed after this node saved it" is one integer comparison.
_next_sequence_number = itertools.count(1).__next__


def next_version() -> int:
    """A stamp for a tensor whose data just changed in place (newer than every node so far)."""
    return _next_sequence_number()


_default_dtype = np.dtype(np.float64)


def thread_switches() -> _State:
    """The object holding the per-thread switches (its attributes read the calling
    thread's values): for generated code that checks several in one expression, as
    `capture_step`'s guard does."""
    return _state


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


# --------------------------------------------------------------------------- hooks for clients
# The named interface between the engine and the modules built on it: nn's module scope,
# capture's recorder, viz's backward observers. Nothing outside this file touches `_state`.


def enter_module(module: Any) -> tuple[Any, ...]:
    """Enter a Module call (nodes made inside record it as their scope, for drawings).

    Returns the previous scope, to hand back to `exit_module` (a token, not a context
    manager: Module.__call__ is on every model's hot path).
    """
    previous = _state.module_scope
    _state.module_scope = (*previous, module)
    return previous


def exit_module(previous: tuple[Any, ...]) -> None:
    """Leave a Module call entered with `enter_module`."""
    _state.module_scope = previous


def set_recorder(recorder: Callable[..., None] | None) -> Callable[..., None] | None:
    """Have every op call ``recorder(op class, input tensors, kwargs, output)`` on this thread
    (None stops it); returns the previous recorder. Used by `tinygrad_nn.capture`."""
    previous = _state.recorder
    _state.recorder = recorder
    return previous


def is_recording() -> bool:
    """True while a recorder set by `set_recorder` is active on this thread."""
    return _state.recorder is not None


def add_backward_observer(observer: Callable[[tuple[Tensor, ...]], None]) -> None:
    """Call ``observer(roots)`` at the start of every backward on this thread; while any
    observer is registered, backward keeps its graph (as ``retain_graph=True``)."""
    _state.backward_observers = (*_state.backward_observers, observer)


def remove_backward_observer(observer: Callable[[tuple[Tensor, ...]], None]) -> None:
    """Undo `add_backward_observer`."""
    _state.backward_observers = tuple(o for o in _state.backward_observers if o != observer)


# --------------------------------------------------------------------------- Tensor hook
# tensor.py builds on this module, so the engine makes Tensors through the class that
# tensor.py registers when it is imported, instead of importing it back (no import cycle).

_tensor_type: Any = None


def register_tensor_type(tensor_type: type) -> None:
    """Called once by tinygrad_nn.tensor with the Tensor class."""
    global _tensor_type
    _tensor_type = tensor_type


def make_tensor(data: np.ndarray, requires_grad: bool) -> Tensor:
    """Wrap an ndarray as a Tensor without copying or validating it (an op's output)."""
    tensor: Tensor = _tensor_type._make(data, requires_grad)
    return tensor


def as_tensor(value: Any, like: Tensor | None = None) -> Tensor:
    """``value`` itself if it is a Tensor, else a constant; numbers take ``like``'s float dtype."""
    if isinstance(value, _tensor_type):
        return value
    constant: Tensor = _tensor_type._constant(value, like=like)
    return constant


def is_tensor(value: Any) -> bool:
    return isinstance(value, _tensor_type)


# --------------------------------------------------------------------------- Function


class Function:
    """Base class of every differentiable op; an instance is one node of the graph.

    Subclass it with two static methods::

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

    ``forward`` works on ndarrays. ``backward`` returns a tuple with one entry per input of
    ``forward``: the gradient of the loss with respect to that input, or None. It may return
    a gradient with the shape of the (broadcast) output; the engine sums it back to the
    input's shape. ``ctx.needs_input_grad[i]`` says whether input ``i`` needs a gradient at
    all, so an op can skip work (the engine drops gradients that are not needed either way).

    Written with NumPy functions and operators on ``grad`` and ``ctx.saved`` (the inputs, the
    output, shapes and masks), the same ``backward`` also gives higher-order gradients: for
    those the engine passes Tensors, and the NumPy calls record a graph (see
    `tinygrad_nn.ops` for the rules).
    """

    # The graph links are slots; __dict__ stays so custom ops may set ctx.anything.
    __slots__ = ("__dict__", "needs_input_grad", "parents", "saved", "scope", "seq")

    # Hint appended to forward errors; ops override it with advice that fits them.
    hint: ClassVar[str] = "check the shapes and dtypes of the inputs"
    # The error type a forward's OverflowError becomes (an axis or index beyond any size).
    overflow_error: ClassVar[type[Exception]] = ValueError

    # After a releasing backward, intermediate entries of ``parents`` are `ReleasedTensor`
    # records, which have the attributes drawings read; a live graph has Tensors only.
    parents: tuple[Tensor, ...]
    saved: tuple[Any, ...]  # () until save_for_backward; _FREED once backward released it
    needs_input_grad: tuple[bool, ...]
    scope: tuple[Any, ...]
    seq: int  # creation order; backward visits nodes newest first

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("forward", "backward"):
            method = cls.__dict__.get(name)
            if method is not None and not isinstance(method, staticmethod):
                raise TypeError(
                    f"{cls.__name__}.{name} must be a @staticmethod taking ctx first "
                    f"({name}(ctx, ...)); add @staticmethod above its def"
                )

    @classmethod
    def op_name(cls) -> str:
        """Name used in errors, graph drawings and traces."""
        return cls.__name__

    def save_for_backward(self, *values: Any) -> None:
        """Keep ``values`` (arrays or anything else backward needs) until backward runs."""
        self.saved = values

    @property
    def saved_tensors(self) -> tuple[Any, ...] | None:
        """PyTorch's name for `saved`."""
        return self.saved

    @staticmethod
    def forward(ctx: Function, *arrays: Any, **kwargs: Any) -> np.ndarray:
        """Compute the output from input ndarrays."""
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        """Map the output's gradient to one gradient (or None) per input."""
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Any, **kwargs: Any) -> Tensor:
        """Run the op on Tensors (or arrays and numbers, taken as constants).

        A graph node is recorded only when grad mode is on, some input requires grad and
        the output is floating point (an integer or boolean result has no gradient).
        """
        tensor_type = _tensor_type
        tensors = inputs
        for value in inputs:
            if value.__class__ is not tensor_type and not isinstance(value, tensor_type):
                tensors = _as_tensors(inputs)
                break
        ctx = cls.__new__(cls)
        ctx.saved = ()
        # Spelled out for the one to three inputs of nearly every op (three: Linear): two
        # comprehensions cost 0.8 us an op, the spelled-out tuples 0.1 (2-3% of the
        # article's step).
        needs: tuple[bool, ...]
        arrays: tuple[np.ndarray, ...]
        arity = len(tensors)
        if arity == 2:
            first, second = tensors
            needs = (first.requires_grad, second.requires_grad)
            arrays = (first._data, second._data)
        elif arity == 1:
            (only,) = tensors
            needs, arrays = (only.requires_grad,), (only._data,)
        elif arity == 3:
            first, second, third = tensors
            needs = (first.requires_grad, second.requires_grad, third.requires_grad)
            arrays = (first._data, second._data, third._data)
        else:
            needs = tuple([t.requires_grad for t in tensors])
            arrays = tuple([t._data for t in tensors])
        ctx.needs_input_grad = needs
        state = _state
        try:
            # Spreading an empty **kwargs still builds a dict: most ops take none.
            out = cls.forward(ctx, *arrays, **kwargs) if kwargs else cls.forward(ctx, *arrays)
        except (ValueError, IndexError, TypeError, OverflowError) as error:
            raise forward_error(cls, tensors, error) from error
        if out.__class__ is not np.ndarray:
            scalar, out = out, np.asarray(out)
            if ctx.saved:  # NumPy gave a 0-d result as a scalar: what forward saved is `out`
                ctx.saved = tuple([out if value is scalar else value for value in ctx.saved])
        if state.anomaly:
            _check_forward_finite(cls, tensors, out)
        record = state.grad_enabled and True in needs and out.dtype.kind == "f"
        result = tensor_type._make(out, record)
        if record:
            ctx.parents = tensors
            ctx.scope = state.module_scope
            ctx.seq = _next_sequence_number()
            result._ctx = ctx
        if state.recorder is not None:
            state.recorder(cls, tensors, kwargs, result)
        return result

    @classmethod
    def evaluate(cls, *inputs: Any, **kwargs: Any) -> Any:
        """Run the op inside another op's backward, differentiably when it matters.

        On ndarrays this is the forward alone (no node, an ndarray back: first-order speed);
        when any input is a Tensor it is `apply`, so a backward pass that is itself being
        differentiated records the op. Use it in a backward for an op that has no NumPy
        function, e.g. ``ScatterAdd.evaluate(grad, shape=..., index=...)``.
        """
        for value in inputs:
            if isinstance(value, _tensor_type):
                return cls.apply(*inputs, **kwargs)
        ctx = cls.__new__(cls)
        ctx.saved = ()
        ctx.needs_input_grad = (False,) * len(inputs)
        return cls.forward(ctx, *inputs, **kwargs)

    def __repr__(self) -> str:
        return f"<{self.op_name()} node>"


def _as_tensors(inputs: tuple[Any, ...]) -> tuple[Tensor, ...]:
    """Wrap numbers and arrays as constants; numbers follow the first tensor's float dtype."""
    like = next((x for x in inputs if isinstance(x, _tensor_type)), None)
    return tuple(as_tensor(x, like=like) for x in inputs)


def forward_error(
    cls: type[Function], tensors: Sequence[Tensor | np.ndarray], error: Exception
) -> Exception:
    """The forward error re-raised as its builtin type, naming the op, shapes and a fix.

    NumPy's own subclasses (AxisError, _UFuncNoLoopError ...) have other constructors,
    so the builtin base class carries the message.
    """
    shapes = ", ".join(f"{t.shape} {t.dtype}" for t in tensors)
    message = f"{cls.op_name()}: {error} (inputs: {shapes}); {cls.hint}"
    if isinstance(error, OverflowError):
        return cls.overflow_error(message)
    for builtin in (ValueError, IndexError, TypeError):
        if isinstance(error, builtin):
            return builtin(message)
    return RuntimeError(message)


def _check_forward_finite(cls: type[Function], tensors: Sequence[Tensor], out: np.ndarray) -> None:
    if out.dtype.kind not in "fc" or np.isfinite(out).all():
        return
    if all(t.dtype.kind not in "fc" or np.isfinite(t._data).all() for t in tensors):
        shapes = ", ".join(str(t.shape) for t in tensors)
        raise RuntimeError(
            f"detect_anomaly: {cls.op_name()} produced NaN or inf in its forward output "
            f"from finite inputs of shapes {shapes}"
        )


class ReleasedTensor:
    """What a node keeps of an intermediate input once backward has released the graph.

    The op that made it (``grad_fn``), its shape, dtype and name stay, so the graph can
    still be drawn and traced; the values are gone (``data`` is None), which is where the
    graph's memory returns. Leaves and tensors that called ``retain_grad()`` are kept as
    they are instead.
    """

    __slots__ = ("_ctx", "dtype", "name", "shape")
    data = None
    grad = None
    requires_grad = True
    is_leaf = False

    def __init__(self, tensor: Tensor) -> None:
        data = tensor._data
        self._ctx = tensor._ctx
        self.shape: tuple[int, ...] = data.shape
        self.dtype: np.dtype = data.dtype
        self.name: str | None = tensor.name

    @property
    def grad_fn(self) -> Function | None:
        return self._ctx

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __repr__(self) -> str:
        op = self._ctx.op_name() if self._ctx is not None else "?"
        return f"ReleasedTensor(shape={self.shape}, dtype={self.dtype}, grad_fn={op})"


# Marks a node whose saved values a backward without retain_graph released.
_FREED: tuple[Any, ...] = ("<freed by backward>",)

# A releasing backward through at least this many nodes holds off the cyclic garbage
# collector while it runs (`_CollectorPause`). The `ReleasedTensor` records and new
# ``parents`` tuples it makes are objects the collector tracks, though they cannot form
# cycles; made by the hundred thousand they set off full collections over the whole
# graph, which doubled a 300,000-node chain's backward.
GC_PAUSE_NODES = 1000


class _CollectorPause:
    """Hold off Python's cyclic garbage collector in a ``with`` block, process-wide.

    Threads pausing it at once share the pause: the collector comes back on when the last
    of them leaves, and only if it was on when the first came in. A ``gc.disable()`` by
    some other code while a pause lasts is undone when it ends. A child process forked
    during a pause starts with the collector as it was before the pause.
    """

    _lock = threading.Lock()
    _holders = 0
    _was_enabled = False

    def __enter__(self) -> None:
        with _CollectorPause._lock:
            if _CollectorPause._holders == 0:
                _CollectorPause._was_enabled = gc.isenabled()
            _CollectorPause._holders += 1
            try:
                gc.disable()
            except BaseException:  # a KeyboardInterrupt: no __exit__ follows, so undo here
                _CollectorPause._leave()
                raise

    def __exit__(self, *exc_info: object) -> None:
        with _CollectorPause._lock:
            _CollectorPause._leave()

    @staticmethod
    def _leave() -> None:
        # with the lock held: the last pause to end turns the collector back on
        _CollectorPause._holders -= 1
        if _CollectorPause._holders == 0 and _CollectorPause._was_enabled:
            gc.enable()

    @staticmethod
    def _reset_in_child() -> None:
        # the forking thread's pause does not exist in the child, nor do other threads'
        _CollectorPause._lock = threading.Lock()
        if _CollectorPause._holders and _CollectorPause._was_enabled:
            gc.enable()
        _CollectorPause._holders = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_CollectorPause._reset_in_child)


def is_released(node: Function) -> bool:
    """True once a backward without retain_graph has released ``node``'s saved values."""
    return node.saved is _FREED


# --------------------------------------------------------------------------- backward


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``grad`` over the axes that broadcasting added or stretched, giving ``shape``.

    Leading extra axes are summed away, then axes where ``shape`` has size 1 are summed
    with keepdims. Works on ndarrays and on Tensors (recording the sums). Raises
    ValueError when ``grad`` cannot come from broadcasting ``shape``.

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
    return grad if isinstance(grad, _tensor_type) else np.asarray(grad)


def backward_order(roots: Sequence[Tensor], *, allow_released: bool = False) -> list[Tensor]:
    """Non-leaf tensors reachable from ``roots``, newest node first: the graph walk.

    Every node gets a sequence number when it is recorded, and an op's inputs always exist
    before its output, so decreasing sequence numbers are a valid reverse topological
    order: no depth-first bookkeeping, and no recursion whatever the graph's depth. The
    numbers are unique, so one dict both marks visited nodes and sorts them. Raises the
    RuntimeError naming ``retain_graph=True`` when a node was released by a backward,
    unless ``allow_released`` (drawings and traces walk released graphs too; their
    intermediate tensors are then `ReleasedTensor` records). Reversed, it is the forward
    order in which the ops ran.
    """
    by_number: dict[int, Tensor] = {}
    stack = []
    for root in roots:
        if root._ctx is not None and root._ctx.seq not in by_number:
            by_number[root._ctx.seq] = root
            stack.append(root)
    while stack:
        node: Function = stack.pop()._ctx  # type: ignore[assignment]  # never a leaf
        if node.saved is _FREED and not allow_released:
            raise RuntimeError(
                f"backward: the graph through {node.op_name()} was already freed by an "
                "earlier backward; pass retain_graph=True to the first backward() (or "
                "tnn.gradients) call to backpropagate through the same graph twice"
            )
        for parent in node.parents:
            parent_node = parent._ctx
            if parent_node is not None and parent_node.seq not in by_number:
                by_number[parent_node.seq] = parent
                stack.append(parent)
    return [by_number[number] for number in sorted(by_number, reverse=True)]


# Serialises the final writes of .grad, so that concurrent backward passes on shared
# parameters add up exactly (each pass sums into its own dict first).
_grad_lock = threading.Lock()


class BackwardPass:
    """The results of one `backpropagate`: gradients by tensor id, nothing written yet."""

    __slots__ = ("leaves", "retained")

    def __init__(self) -> None:
        # id -> [tensor, summed gradient, whether the array is private to the pass]
        self.leaves: dict[int, list[Any]] = {}
        self.retained: dict[int, list[Any]] = {}

    def write(self) -> None:
        """Add the gradients into ``.grad`` of their tensors: all or nothing, under a lock."""
        write_gradients([*self.leaves.values(), *self.retained.values()])


def make_node(cls: type[Function], needs_input_grad: tuple[bool, ...]) -> Function:
    """A fresh node of op ``cls``, as `Function.apply` makes one, before its forward runs.

    The caller runs ``cls.forward`` with it and then links ``parents`` and the output
    (`tinygrad_nn.capture` replays do, to reuse the engine's backward).
    """
    ctx = cls.__new__(cls)
    ctx.saved = ()
    ctx.needs_input_grad = needs_input_grad
    ctx.scope = ()
    ctx.seq = _next_sequence_number()
    return ctx


def backpropagate(
    order: Sequence[Tensor],
    seeds: dict[int, Any],
    *,
    retain_graph: bool = False,
    create_graph: bool = False,
    targets: set[int] | None = None,
    observer: Callable[..., None] | None = None,
) -> BackwardPass:
    """The backward loop: one vector-Jacobian product per node, newest node first.

    Args:
        order: the non-leaf tensors to visit, newest first (`backward_order`, or a plan a
            capture replay worked out once). Without ``retain_graph`` the pass lets go of
            each tensor at its turn: a list is overwritten with None there (using it
            again raises; pass a copy to keep it), so that it holds no intermediate past
            its turn.
        seeds: gradient arriving at each root, by ``id(tensor)``.
        retain_graph: keep the graph as it is; else each node, right after its turn, drops
            what it saved and replaces its intermediate inputs by `ReleasedTensor` records
            (leaves and ``retain_grad`` tensors stay): an intermediate tensor no one else
            holds goes, values and all, at its own turn (which comes after every node that
            used it), so memory returns as the pass goes; the structure stays for drawings
            and traces.
        create_graph: run the backward rules on Tensors so the gradients carry a graph.
        targets: ids of the only tensors whose gradients are collected (leaves or not);
            None collects every leaf that requires grad and every ``retain_grad`` tensor.
        observer: called as ``observer(tensor, node, out_grad, input_grads)`` after each
            node's backward, with the gradients as the op returned them (`conform_gradient`
            gives what the engine made of them); `tinygrad_nn.viz.trace_backward` records
            the pass with it.

    Returns:
        The collected gradients; the caller writes them (``Tensor.backward``) or returns
        them (`gradients`). Nothing outside the pass is changed except released nodes.
    """
    # A list is the pass's to clear as it goes; any other sequence is copied first.
    visits: list[Tensor | None] = (
        cast("list[Tensor | None]", order) if isinstance(order, list) else [*order]
    )
    if not retain_graph and len(visits) >= GC_PAUSE_NODES:
        with _CollectorPause():  # see GC_PAUSE_NODES
            return _route_gradients(visits, seeds, False, create_graph, targets, observer)
    return _route_gradients(visits, seeds, retain_graph, create_graph, targets, observer)


def _route_gradients(
    order: list[Tensor | None],
    seeds: dict[int, Any],
    retain_graph: bool,
    create_graph: bool,
    targets: set[int] | None,
    observer: Callable[..., None] | None,
) -> BackwardPass:
    # The body of `backpropagate`.
    pending = dict(seeds)
    result = BackwardPass()
    leaves, retained = result.leaves, result.retained
    anomaly = _state.anomaly
    ndarray = np.ndarray
    for index, tensor in enumerate(order):
        if tensor is None:
            raise RuntimeError(
                "backward: this order was already gone through by a backward that released "
                "its graph; pass retain_graph=True to the first pass (or a copy of the "
                "order) to backpropagate through the same graph twice"
            )
        if not retain_graph:
            order[index] = None  # the pass holds no tensor past its turn
        node: Function = tensor._ctx  # type: ignore[assignment]  # order holds non-leaves
        out_grad = pending.pop(id(tensor), None)
        if out_grad is not None:  # else nothing flows through this node (an unused branch)
            if tensor._retains_grad if targets is None else id(tensor) in targets:
                retained[id(tensor)] = [tensor, out_grad, False]
            if create_graph:
                input_grads = node.backward(_differentiable_context(node, tensor), out_grad)
            else:
                input_grads = node.backward(node, out_grad)
            parents = node.parents
            if input_grads.__class__ is not tuple or len(input_grads) != len(parents):
                _raise_bad_arity(node, input_grads, len(parents))
            for parent, parent_grad in zip(parents, input_grads, strict=False):  # checked above
                if parent_grad is None or not parent.requires_grad:
                    continue
                data = parent._data
                if (
                    parent_grad.__class__ is not ndarray
                    or parent_grad.shape != data.shape
                    or parent_grad.dtype is not data.dtype  # `is` is cheap; _conform compares
                ):
                    parent_grad = conform_gradient(node, parent_grad, parent, create_graph)
                if parent._version > node.seq:
                    _check_unmodified(node, parent)
                if anomaly:
                    _check_gradient_finite(node, parent_grad, parent)
                key = id(parent)
                if parent._ctx is not None:
                    previous = pending.get(key)
                    pending[key] = parent_grad if previous is None else previous + parent_grad
                    continue
                if targets is not None and key not in targets:
                    continue
                entry = leaves.get(key)
                if entry is None:  # the first gradient may become .grad itself: is it private?
                    private = create_graph or _is_private(parent_grad, node, out_grad, input_grads)
                    leaves[key] = [parent, parent_grad, private]
                else:
                    entry[1] = entry[1] + parent_grad
                    entry[2] = True  # a fresh sum
            if observer is not None:
                observer(tensor, node, out_grad, input_grads)
        if not retain_graph:  # the graph's memory returns as we go, its structure stays
            node.saved = _FREED
            node.parents = tuple(
                [
                    parent
                    if parent._ctx is None or parent._retains_grad
                    else ReleasedTensor(parent)  # type: ignore[misc]
                    for parent in node.parents
                ]
            )
    return result


def _differentiable_context(node: Function, output: Tensor) -> Function:
    """A copy of ``node`` whose saved arrays are the Tensors they came from.

    Its backward then records, so the gradients it returns can be differentiated again.
    Saved inputs become the input Tensors and a saved output the output Tensor; masks and
    indices stay constants. Any other saved float array was computed in forward, and no
    gradient could flow through it: that is refused rather than silently wrong.
    """
    cls = type(node)
    view = cls.__new__(cls)
    view.__dict__.update(node.__dict__)
    view.needs_input_grad = node.needs_input_grad
    view.parents, view.scope, view.seq = node.parents, node.scope, node.seq
    saved = node.saved
    view.saved = tuple(_saved_tensor(value, node, output) for value in saved)
    return view


def _saved_tensor(value: Any, node: Function, output: Tensor) -> Any:
    if value.__class__ is not np.ndarray:
        return value
    if value is output._data:
        return output
    for parent in node.parents:
        if value is parent._data:
            return parent
    if value.dtype.kind in "fc":
        raise RuntimeError(
            f"{node.op_name()}: its backward uses a float array that forward computed and "
            f"saved (shape {value.shape}); a higher-order gradient cannot flow through it. "
            "Save the op's inputs or its output instead and recompute the rest in backward"
        )
    return value  # a mask or indices: a constant of the derivative


def _is_private(grad: Any, node: Function, out_grad: Any, input_grads: tuple[Any, ...]) -> bool:
    """Whether ``grad`` belongs to this pass alone, so it may become a leaf's ``.grad``.

    A leaf's first gradient becomes its ``.grad``, and later backwards add into it in
    place; so it must not be the incoming gradient (Add passes it on to both inputs), a
    view, an array returned for two inputs, an array the node saved or an input's data
    (a custom backward may return those).
    """
    if grad is out_grad or grad.base is not None:
        return False
    holders = 0
    for other in input_grads:  # plain loops: a generator costs more than the whole check
        if other is grad:
            holders += 1
    for other in node.saved:
        if other is grad:
            holders += 1
    for parent in node.parents:
        if parent._data is grad:
            holders += 1
    return holders <= 1


def _raise_bad_arity(node: Function, input_grads: Any, expected: int) -> None:
    got = len(input_grads) if isinstance(input_grads, tuple) else type(input_grads).__name__
    hint = " (write `return (gx,)`, not `return gx`)" if expected == 1 else ""
    raise RuntimeError(
        f"{node.op_name()}.backward must return a tuple with one gradient (or None) per "
        f"input: expected {expected}, got {got}{hint}"
    )


def _input_position(node: Function, parent: Any) -> int:
    """Where ``parent`` stands among the node's inputs (for error messages)."""
    return next(i for i, other in enumerate(node.parents) if other is parent)


def conform_gradient(node: Function, grad: Any, parent: Tensor, create_graph: bool = False) -> Any:
    """An op's gradient for input ``parent`` as the engine uses it: summed over broadcast
    axes to the input's shape, in its dtype (a Tensor when ``create_graph``)."""
    if create_graph:
        grad = as_tensor(grad)
    elif isinstance(grad, _tensor_type):
        grad = grad._data
    elif grad.__class__ is not np.ndarray:
        grad = np.asarray(grad)
    shape, dtype = parent._data.shape, parent._data.dtype
    if grad.shape != shape:
        try:
            grad = unbroadcast(grad, shape)
        except ValueError:
            raise RuntimeError(
                f"{node.op_name()}.backward returned a gradient of shape {grad.shape} for input "
                f"{_input_position(node, parent)}, which has shape {shape}; return the input's "
                "shape (or the broadcast output's shape)"
            ) from None
    if grad.dtype != dtype:
        if grad.dtype.kind not in "fiub":
            raise TypeError(
                f"{node.op_name()}.backward returned a {grad.dtype} gradient for input "
                f"{_input_position(node, parent)} of dtype {dtype}; gradients must be real"
            )
        grad = grad.astype(dtype)
    return grad


def _check_unmodified(node: Function, parent: Tensor) -> None:
    """Refuse to differentiate through values that changed in place after the op saved them."""
    saved = node.saved
    if any(value is parent._data for value in saved):
        label = f" {parent.name!r}" if parent.name else ""
        raise RuntimeError(
            f"backward: input {_input_position(node, parent)}{label} (shape {parent.shape}) of "
            f"{node.op_name()} was "
            "modified in place after the op saved it (an optimizer step, load_state_dict or "
            "an assignment to .data), so its gradient would use the new values. Run backward "
            "before updating the tensor, or compute the forward again after the update"
        )


def _check_gradient_finite(node: Function, grad: Any, parent: Tensor) -> None:
    values = grad._data if isinstance(grad, _tensor_type) else grad
    if not np.isfinite(values).all():
        raise RuntimeError(
            f"detect_anomaly: {node.op_name()}.backward produced NaN or inf in the "
            f"gradient of input {_input_position(node, parent)} (shape {parent.shape})"
        )


def backward(
    root: Tensor,
    grad: Any = None,
    retain_graph: bool = False,
    inputs: Any = None,
    create_graph: bool = False,
) -> None:
    """Backpropagate from ``root`` into ``.grad``; see `Tensor.backward`."""
    if create_graph:
        raise TypeError(
            "backward: create_graph=True is not supported, since .grad stays an ndarray; use "
            "tnn.gradients(outputs, inputs, create_graph=True) to get gradients that can be "
            "differentiated again"
        )
    seed = seed_gradient(root, grad, "backward")
    only = None if inputs is None else {id(t) for t in _tensor_list(inputs, "backward: inputs")}
    if _state.backward_observers:  # someone keeps the graph to draw it
        retain_graph = True
        for observer in _state.backward_observers:
            observer((root,))
    if root._ctx is None:  # a leaf: its gradient is the seed itself
        if only is None or id(root) in only:
            write_gradients([[root, seed, False]])
        return
    order = backward_order((root,))
    backpropagate(order, {id(root): seed}, retain_graph=retain_graph, targets=only).write()


def write_gradients(entries: list[list[Any]]) -> None:
    """Add each gradient into its tensor's ``.grad``: all or nothing, under the lock.

    ``entries`` holds ``[tensor, gradient, private]`` lists: a private gradient (an array
    no one else holds) may become a ``.grad`` itself, any other is copied first.
    """
    for tensor, _, _ in entries:  # check everything before writing anything
        existing = tensor.grad
        if existing is not None and (
            existing.__class__ is not np.ndarray
            or existing.shape != tensor._data.shape
            or (existing.dtype is not tensor._data.dtype and existing.dtype != tensor._data.dtype)
        ):
            described = (
                f"shape {existing.shape} and dtype {existing.dtype}"
                if isinstance(existing, np.ndarray)
                else type(existing).__name__
            )
            raise RuntimeError(
                f"backward: a tensor of shape {tensor.shape} and dtype {tensor.dtype} has a .grad "
                f"of {described}; set its .grad to None (zero_grad) or to an array of its shape "
                "and dtype before backward"
            )
    with _grad_lock:
        for tensor, grad, private in entries:
            if tensor.grad is None:
                tensor.grad = grad if private else grad.copy()
            else:
                tensor.grad += grad


def _tensor_list(values: Any, what: str) -> tuple[Tensor, ...]:
    """A Tensor or a non-empty sequence of Tensors, as a tuple."""
    tensors = (values,) if isinstance(values, _tensor_type) else tuple(values)
    if not tensors:
        raise ValueError(f"{what} must be a Tensor or a non-empty sequence of Tensors, got []")
    if not all(isinstance(t, _tensor_type) for t in tensors):
        kinds = sorted({type(t).__name__ for t in tensors if not isinstance(t, _tensor_type)})
        raise TypeError(
            f"{what} must be a Tensor or a non-empty sequence of Tensors, got {', '.join(kinds)}"
        )
    return tensors


def seed_gradient(root: Tensor, grad: Any, caller: str, create_graph: bool = False) -> Any:
    """The gradient a backward from ``root`` starts with: ``grad`` checked and cast to
    ``root``'s dtype, or 1 for a single-element ``root``; errors name ``caller``."""
    if not root.requires_grad:
        raise RuntimeError(
            f"{caller}: this tensor does not require grad and has no graph; create the "
            "inputs with requires_grad=True (and not under no_grad) to get gradients"
        )
    data = root._data
    if data.dtype.kind != "f":
        raise TypeError(f"{caller}: cannot differentiate a tensor of dtype {data.dtype}")
    if grad is None:
        if data.size != 1:
            raise RuntimeError(
                f"{caller}: grad can be omitted only for a single-element tensor, but this one "
                f"has shape {root.shape}; reduce it first (e.g. loss.sum()) or pass "
                f"grad= an array of shape {root.shape}"
            )
        seed = np.array(1, dtype=data.dtype)  # np.ones is a Python function, 5x slower
        seed = seed if data.ndim == 0 else seed.reshape(data.shape)
        return make_tensor(seed, False) if create_graph else seed
    given = grad._data if isinstance(grad, _tensor_type) else np.asarray(grad)
    if given.dtype.kind not in "fiub":
        raise TypeError(
            f"{caller}: grad has dtype {given.dtype}; pass a real (float) gradient, tinygrad_nn "
            "differentiates real-valued functions"
        )
    if given.shape != root.shape:
        raise ValueError(
            f"{caller}: grad has shape {given.shape} but the tensor has shape {root.shape}; "
            "pass a gradient of the same shape as the tensor"
        )
    if create_graph and isinstance(grad, _tensor_type):
        return grad if grad.dtype == data.dtype else grad.astype(data.dtype)
    seed = given.astype(data.dtype, copy=True)
    return make_tensor(seed, False) if create_graph else seed


def gradients(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    *,
    create_graph: bool = False,
    retain_graph: bool | None = None,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """The gradients of ``outputs`` with respect to ``inputs`` (torch.autograd.grad).

    Nothing is written to any ``.grad``.

    Args:
        outputs: a Tensor or a sequence of Tensors to differentiate.
        inputs: a Tensor or a sequence of Tensors (leaves or intermediate results).
        grad_outputs: the gradient arriving at each output (same shapes); may be omitted
            for single-element outputs (then 1). Tensors that require grad are allowed.
        create_graph: record the backward pass so the returned gradients can be
            differentiated again (to any order).
        retain_graph: keep the graph for another backward; defaults to ``create_graph``.
        allow_unused: return None for an input the outputs do not depend on, instead of
            raising.

    Returns:
        A tuple with one Tensor (or None) per input. With ``create_graph`` the Tensors have
        a graph; otherwise they are constants.

    Example:
        >>> x = Tensor(3.0, requires_grad=True)
        >>> (dx,) = gradients(x**3, x, create_graph=True)     # 3 x**2 = 27
        >>> (ddx,) = gradients(dx, x)                         # 6 x = 18
    """
    output_list = _tensor_list(outputs, "gradients: outputs")
    input_list = _tensor_list(inputs, "gradients: inputs")
    if grad_outputs is None:
        grad_list: tuple[Any, ...] = (None,) * len(output_list)
    else:
        grad_list = (
            (grad_outputs,)
            if isinstance(grad_outputs, _tensor_type) or not isinstance(grad_outputs, (list, tuple))
            else tuple(grad_outputs)
        )
        if len(grad_list) != len(output_list):
            raise ValueError(
                f"gradients: got {len(grad_list)} grad_outputs for {len(output_list)} outputs; "
                "give one per output (None for a single-element output)"
            )
    for tensor in input_list:
        if not tensor.requires_grad:
            raise RuntimeError(
                f"gradients: an input of shape {tensor.shape} does not require grad; create it "
                "with requires_grad=True before computing the outputs"
            )
    seeds: dict[int, Any] = {}
    for output, output_grad in zip(output_list, grad_list, strict=True):
        seed = seed_gradient(output, output_grad, "gradients", create_graph)
        previous = seeds.get(id(output))
        seeds[id(output)] = seed if previous is None else previous + seed
    targets = {id(tensor) for tensor in input_list}
    keep = create_graph if retain_graph is None else retain_graph
    keep = keep or bool(_state.backward_observers)
    order = backward_order(output_list)
    with enable_grad() if create_graph else no_grad():
        result = backpropagate(
            order, seeds, retain_graph=keep, create_graph=create_graph, targets=targets
        )
    found = {**result.retained, **result.leaves}
    for output in {id(o): o for o in output_list}.values():  # a leaf output: its own source
        key = id(output)
        if output._ctx is None and key in targets:
            entry = found.get(key)
            if entry is None:
                found[key] = [output, seeds[key], False]
            elif entry[1] is not seeds[key]:
                found[key] = [output, entry[1] + seeds[key], True]
    grads: list[Tensor | None] = []
    for position, tensor in enumerate(input_list):
        entry = found.get(id(tensor))
        if entry is None:
            if not allow_unused:
                raise RuntimeError(
                    f"gradients: input {position} (shape {tensor.shape}) was not used to "
                    "compute the outputs; pass allow_unused=True to get None for it"
                )
            grads.append(None)
            continue
        grad, private = entry[1], entry[2]
        if isinstance(grad, _tensor_type):
            grads.append(grad)
        else:
            grads.append(make_tensor(grad if private else grad.copy(), False))
    return tuple(grads)
