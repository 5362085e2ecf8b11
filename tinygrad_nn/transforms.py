"""Function transforms: `grad`, `value_and_grad`, `jacobian`, `hessian`, `hvp`, `vjp`, `jvp`.

Each turns a function of Tensors (or arrays) into one that returns derivatives, using
`tinygrad_nn.autograd.gradients`, so they compose: ``grad(grad(f))`` is f''. Called at
the top level they return ndarrays (and a Tensor argument is differentiated as a fresh
leaf: its own ``.grad`` and graph are left alone). Called inside another transform's
function they return Tensors connected to the enclosing differentiation (the inner
gradient is computed with ``create_graph=True``, with respect to the outer transform's
Tensors themselves), so the outer transform can go on differentiating them, closed-over
Tensors included. For gradients with a graph outside any transform, use
`tinygrad_nn.autograd.gradients` with ``create_graph=True``.

Forward-mode products (`jvp`) use the double-VJP trick: for ``g(u) = J^T u``, which is
linear in ``u``, the VJP of ``g`` with a tangent ``t`` is ``J t``. That costs two reverse
passes instead of one forward pass, but it needs no second derivative rule per op: every
op's backward, written once, serves both modes.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn.autograd import as_tensor, enable_grad, gradients, is_tensor, make_tensor

if TYPE_CHECKING:
    from tinygrad_nn.tensor import Tensor

__all__ = ["grad", "hessian", "hvp", "jacobian", "jvp", "value_and_grad", "vjp"]


class _Depth(threading.local):
    """How many transforms are running their function on this thread."""

    value = 0


_depth = _Depth()


def _positions(argnums: int | Sequence[int], transform: str) -> tuple[int, ...]:
    positions = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not positions or not all(isinstance(p, int) for p in positions):
        raise TypeError(f"{transform}: argnums must be an int or a non-empty tuple of ints")
    if len(set(positions)) != len(positions):
        raise ValueError(
            f"{transform}: argnums {tuple(positions)} names an argument twice; list each once"
        )
    return positions


def _check_callable(fn: Any, transform: str) -> None:
    if not callable(fn):
        raise TypeError(
            f"{transform}: expected a function to differentiate, got {type(fn).__name__}; for "
            "PyTorch's torch.autograd.grad(outputs, inputs) use tnn.gradients(outputs, inputs)"
        )


def _watch(
    args: tuple[Any, ...], positions: tuple[int, ...], transform: str
) -> tuple[list[Any], list[Tensor], bool]:
    """The arguments with the differentiated ones as Tensors that require grad.

    Returns (arguments, watched tensors, connected). Connected when called inside another
    transform: then a Tensor that requires grad is differentiated itself, so the result
    stays part of the enclosing graph.
    """
    arguments = list(args)
    for position in positions:
        if not -len(arguments) <= position < len(arguments):
            raise ValueError(
                f"{transform}: argnums {position} is out of range for {len(arguments)} arguments"
            )
    connected = _depth.value > 0
    watched = []
    for position in positions:
        value = arguments[position]
        if not (connected and is_tensor(value) and value.requires_grad):
            data = np.array(value.data if is_tensor(value) else value)
            if data.dtype.kind != "f":
                data = as_tensor(data.tolist()).data  # ints and lists take the default dtype
            value = make_tensor(data, True)
        arguments[position] = value
        watched.append(value)
    return arguments, watched, connected


def _call(fn: Callable[..., Any], arguments: list[Any], kwargs: dict[str, Any]) -> Any:
    _depth.value += 1
    try:
        with enable_grad():
            return fn(*arguments, **kwargs)
    finally:
        _depth.value -= 1


def _scalar_output(out: Any, transform: str) -> Tensor:
    if not is_tensor(out) or out.size != 1:
        got = out.shape if is_tensor(out) else type(out).__name__
        raise TypeError(f"{transform}: the function must return a single-element Tensor, got {got}")
    return out


def _gradients_or_zeros(
    out: Tensor, watched: list[Tensor], create_graph: bool, grad_outputs: Any = None
) -> list[Any]:
    """Gradients of ``out`` for each watched tensor; zeros where it does not depend on it."""
    if not out.requires_grad:
        found: tuple[Any, ...] = (None,) * len(watched)
    else:
        found = gradients(
            out,
            watched,
            grad_outputs,
            create_graph=create_graph,
            retain_graph=True,
            allow_unused=True,
        )
    return [
        make_tensor(np.zeros_like(leaf.data), False) if g is None else g
        for g, leaf in zip(found, watched, strict=True)
    ]


def value_and_grad(
    fn: Callable[..., Any], argnums: int | Sequence[int] = 0
) -> Callable[..., tuple[Any, Any]]:
    """Turn a scalar function of Tensors or arrays into one returning (value, gradient).

    Args:
        fn: returns a single-element Tensor.
        argnums: which positional argument(s) to differentiate; an int gives one
            gradient, a tuple gives a tuple of gradients.

    Returns:
        A function with fn's signature returning ``(value, gradient(s))``: a float and
        ndarrays, or Tensors connected to the graph when called inside another transform
        (see the module docstring).

    Example:
        >>> f = value_and_grad(lambda x: (x * x).sum())
        >>> f(np.array([1.0, 2.0]))
        (5.0, array([2., 4.]))
    """
    _check_callable(fn, "grad")
    positions = _positions(argnums, "grad")

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        arguments, watched, connected = _watch(args, positions, "grad")
        out = _scalar_output(_call(fn, arguments, kwargs), "grad")
        grads = _gradients_or_zeros(out, watched, create_graph=connected)
        if not connected:
            grads = [g.data for g in grads]
        result = grads[0] if isinstance(argnums, int) else tuple(grads)
        return (out if connected else out.item()), result

    return wrapped


def grad(fn: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """Turn a scalar function of Tensors or arrays into one returning its gradient.

    ``grad(grad(f))`` is the second derivative, and so on to any order.

    Example:
        >>> grad(lambda x: (x**3).sum())(np.array([2.0]))
        array([12.])
        >>> grad(grad(lambda x: x**3))(2.0)
        array(12.)
    """
    value_and_gradient = value_and_grad(fn, argnums)

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return value_and_gradient(*args, **kwargs)[1]

    return wrapped


def _rows(out: Tensor, watched: list[Tensor], create_graph: bool = False) -> list[np.ndarray]:
    """The Jacobian of ``out`` for each watched tensor, one reverse pass per output element."""
    blocks = [np.zeros(out.shape + leaf.shape, dtype=leaf.dtype) for leaf in watched]
    flat_blocks = [block.reshape((out.size, *block.shape[out.ndim :])) for block in blocks]
    for index in range(out.size):
        direction = np.zeros(out.size, dtype=out.dtype)
        direction[index] = 1
        grads = _gradients_or_zeros(out, watched, create_graph, direction.reshape(out.shape))
        for flat, g in zip(flat_blocks, grads, strict=True):
            flat[index] = g.data
    return blocks


def jacobian(fn: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """Turn ``fn`` into a function returning its Jacobian: ``out.shape + in.shape`` ndarrays.

    One reverse pass per output element (the graph is kept between them).

    Example:
        >>> jacobian(lambda x: x * x)(np.array([1.0, 2.0]))
        array([[2., 0.],
               [0., 4.]])
    """
    _check_callable(fn, "jacobian")
    positions = _positions(argnums, "jacobian")

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        arguments, watched, _ = _watch(args, positions, "jacobian")
        out = _call(fn, arguments, kwargs)
        if not is_tensor(out):
            raise TypeError(
                f"jacobian: the function must return a Tensor, got {type(out).__name__}"
            )
        blocks = _rows(out, watched)
        return blocks[0] if isinstance(argnums, int) else tuple(blocks)

    return wrapped


def hessian(fn: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """Turn a scalar ``fn`` into a function returning its Hessian, ``in.shape + in.shape``.

    With a tuple of argnums it returns the blocks ``H[i][j]`` (d² f / d in_i d in_j).

    Example:
        >>> hessian(lambda x: (x**3).sum())(np.array([1.0, 2.0]))
        array([[ 6.,  0.],
               [ 0., 12.]])
    """
    _check_callable(fn, "hessian")
    positions = _positions(argnums, "hessian")

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        arguments, watched, _ = _watch(args, positions, "hessian")
        out = _scalar_output(_call(fn, arguments, kwargs), "hessian")
        first = _gradients_or_zeros(out, watched, create_graph=True)
        blocks = [_rows(g, watched) for g in first]
        return blocks[0][0] if isinstance(argnums, int) else tuple(map(tuple, blocks))

    return wrapped


def hvp(fn: Callable[..., Any], x: Any, v: Any) -> np.ndarray:
    """The Hessian of scalar ``fn`` at ``x`` times ``v``, without forming the Hessian.

    Two reverse passes: the gradient with its graph, then the gradient of ``grad · v``.

    Example:
        >>> hvp(lambda x: (x**3).sum(), np.array([1.0, 2.0]), np.array([1.0, 0.0]))
        array([6., 0.])
    """
    _check_callable(fn, "hvp")
    arguments, watched, _ = _watch((x,), (0,), "hvp")
    direction = np.asarray(v.data if is_tensor(v) else v, dtype=watched[0].dtype)
    if direction.shape != watched[0].shape:
        raise ValueError(
            f"hvp: v has shape {direction.shape} but x has shape {watched[0].shape}; give a "
            "direction of the same shape as x"
        )
    out = _scalar_output(_call(fn, arguments, {}), "hvp")
    (first,) = _gradients_or_zeros(out, watched, create_graph=True)
    if not first.requires_grad:  # the gradient is constant: the Hessian is zero
        return np.zeros_like(direction)
    (product,) = _gradients_or_zeros(first, watched, False, direction)
    return product.data


def vjp(fn: Callable[..., Any], *primals: Any) -> tuple[np.ndarray, Callable[..., tuple]]:
    """Evaluate ``fn`` at ``primals`` and return ``(out, vjp_fn)``.

    ``vjp_fn(cotangent)`` returns the tuple of ``cotangent · d out / d primal_i``, one ndarray
    per primal; it may be called many times (the graph is kept).

    Example:
        >>> out, vjp_fn = vjp(lambda x: x * x, np.array([1.0, 2.0]))
        >>> vjp_fn(np.array([1.0, 1.0]))
        (array([2., 4.]),)
    """
    _check_callable(fn, "vjp")
    arguments, watched, _ = _watch(primals, tuple(range(len(primals))), "vjp")
    out = _call(fn, arguments, {})
    if not is_tensor(out):
        raise TypeError(f"vjp: the function must return a Tensor, got {type(out).__name__}")

    def vjp_fn(cotangent: Any) -> tuple[np.ndarray, ...]:
        direction = np.asarray(cotangent.data if is_tensor(cotangent) else cotangent)
        if direction.shape != out.shape:
            raise ValueError(
                f"vjp: the cotangent has shape {direction.shape} but the output has shape "
                f"{out.shape}"
            )
        grads = _gradients_or_zeros(out, watched, False, direction.astype(out.dtype))
        return tuple(g.data for g in grads)

    return out.data.copy(), vjp_fn


def jvp(
    fn: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]
) -> tuple[np.ndarray, np.ndarray]:
    """``fn``'s value at ``primals`` and its Jacobian times ``tangents`` (forward mode).

    Computed by the double-VJP trick (see the module docstring): exact, two reverse passes.

    Example:
        >>> jvp(lambda x: x * x, (np.array([1.0, 2.0]),), (np.array([1.0, 0.0]),))
        (array([1., 4.]), array([2., 0.]))
    """
    _check_callable(fn, "jvp")
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: got {len(primals)} primals but {len(tangents)} tangents")
    arguments, watched, _ = _watch(primals, tuple(range(len(primals))), "jvp")
    directions = []
    for leaf, tangent in zip(watched, tangents, strict=True):
        direction = np.asarray(tangent.data if is_tensor(tangent) else tangent, dtype=leaf.dtype)
        if direction.shape != leaf.shape:
            raise ValueError(
                f"jvp: a tangent has shape {direction.shape} but its primal has {leaf.shape}"
            )
        directions.append(direction)
    out = _call(fn, arguments, {})
    if not is_tensor(out):
        raise TypeError(f"jvp: the function must return a Tensor, got {type(out).__name__}")
    if not out.requires_grad:
        return out.data.copy(), np.zeros_like(out.data)
    dummy = make_tensor(np.zeros_like(out.data), True)
    with enable_grad():
        pulled = _gradients_or_zeros(out, watched, True, dummy)
        terms = [(g * d).sum() for g, d in zip(pulled, directions, strict=True)]
        total = terms[0]
        for term in terms[1:]:
            total = total + term
    if not total.requires_grad:
        return out.data.copy(), np.zeros_like(out.data)
    (pushed,) = _gradients_or_zeros(total, [dummy], False)
    return out.data.copy(), pushed.data
