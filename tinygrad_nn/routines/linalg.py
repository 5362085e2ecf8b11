"""NumPy's products on Tensors: matmul, dot, inner, outer, tensordot, einsum, kron, trace."""

from __future__ import annotations

import math
import string
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn import ops
from tinygrad_nn.autograd import as_tensor
from tinygrad_nn.dispatch import implements
from tinygrad_nn.routines._common import axes_list, pair
from tinygrad_nn.routines.shape import diagonal, moveaxis

if TYPE_CHECKING:
    from tinygrad_nn.tensor import Tensor

__all__ = ["dot", "einsum", "inner", "kron", "matmul", "outer", "tensordot", "trace"]


@implements(np.matmul)
def matmul(a: Any, b: Any) -> Tensor:
    """a @ b with np.matmul's rules for 1-D operands and batch axes."""
    return ops.MatMul.apply(*pair(a, b))


@implements(np.dot)
def dot(a: Any, b: Any) -> Tensor:
    """np.dot: a product of scalars, an inner product, or a matrix product.

    For operands of up to two axes it is `matmul` (a scalar operand multiplies); N-D
    operands follow np.dot's rule (sum over a's last and b's second-to-last axis).
    """
    a, b = pair(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return ops.Mul.apply(a, b)
    if (a.ndim <= 2 and b.ndim <= 2) or b.ndim == 1:
        return ops.MatMul.apply(a, b)
    moved = moveaxis(b, -2, 0)  # (k, ..., m): contract a's last axis with axis 0
    flat = ops.Reshape.apply(moved, shape=(moved.shape[0], -1))
    out = ops.MatMul.apply(a, flat)
    return ops.Reshape.apply(out, shape=a.shape[:-1] + moved.shape[1:])


@implements(np.tensordot)
def tensordot(a: Any, b: Any, axes: int | Sequence[Any] = 2) -> Tensor:
    """Sum products over ``axes`` of a and b (np.tensordot): an int N pairs a's last N axes
    with b's first N; a pair of sequences names them.

    Computed as NumPy does, by transposing and reshaping both to matrices and one matmul.

    Args:
        a, b: Tensors, arrays or numbers.
        axes: an int N, or a pair (axes of a, axes of b) of ints or sequences of ints.

    Returns:
        The free axes of a followed by those of b.

    Example:
        >>> tnn.tensordot(tnn.Tensor(np.ones((2, 3))), tnn.Tensor(np.ones((3, 4))), 1).shape
        (2, 4)
    """
    a, b = pair(a, b)
    if isinstance(axes, (int, np.integer)):
        count = int(axes)
        if not 0 <= count <= min(a.ndim, b.ndim):
            raise ValueError(
                f"tensordot: axes={count} needs that many axes in both operands, shapes "
                f"{a.shape} and {b.shape}"
            )
        summed_a, summed_b = list(range(a.ndim - count, a.ndim)), list(range(count))
    else:
        first, second = axes
        summed_a = axes_list(first, a.ndim, "tensordot")
        summed_b = axes_list(second, b.ndim, "tensordot")
    sizes_a = [a.shape[i] for i in summed_a]
    if len(summed_a) != len(summed_b) or sizes_a != [b.shape[i] for i in summed_b]:
        raise ValueError(
            f"tensordot: the summed axes {summed_a} of shape {a.shape} and {summed_b} of shape "
            f"{b.shape} must pair up with equal sizes"
        )
    free_a = [i for i in range(a.ndim) if i not in summed_a]
    free_b = [i for i in range(b.ndim) if i not in summed_b]
    shared = math.prod(sizes_a)
    left = ops.Reshape.apply(ops.Transpose.apply(a, axes=(*free_a, *summed_a)), shape=(-1, shared))
    right = ops.Reshape.apply(ops.Transpose.apply(b, axes=(*summed_b, *free_b)), shape=(shared, -1))
    out = ops.MatMul.apply(left, right)
    shape = tuple(a.shape[i] for i in free_a) + tuple(b.shape[i] for i in free_b)
    return ops.Reshape.apply(out, shape=shape)


@implements(np.inner)
def inner(a: Any, b: Any) -> Tensor:
    """Sum over the last axes of a and b (np.inner); scalars multiply."""
    a, b = pair(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return ops.Mul.apply(a, b)
    return tensordot(a, b, axes=([-1], [-1]))


@implements(np.outer)
def outer(a: Any, b: Any) -> Tensor:
    """The outer product of a and b, flattened first (np.outer)."""
    a, b = pair(a, b)
    return ops.Mul.apply(ops.Reshape.apply(a, shape=(-1, 1)), ops.Reshape.apply(b, shape=(1, -1)))


@implements(np.kron)
def kron(a: Any, b: Any) -> Tensor:
    """The Kronecker product (np.kron): blocks a[i, j] * b."""
    a, b = pair(a, b)
    ndim = max(a.ndim, b.ndim)
    shape_a = (1,) * (ndim - a.ndim) + a.shape
    shape_b = (1,) * (ndim - b.ndim) + b.shape
    # (a0, 1, a1, 1, ...) * (1, b0, 1, b1, ...) -> (a0, b0, a1, b1, ...) -> (a0 b0, a1 b1, ...)
    spread_a = ops.Reshape.apply(a, shape=tuple(x for size in shape_a for x in (size, 1)))
    spread_b = ops.Reshape.apply(b, shape=tuple(x for size in shape_b for x in (1, size)))
    blocks = ops.Mul.apply(spread_a, spread_b)
    shape = tuple(m * n for m, n in zip(shape_a, shape_b, strict=True))
    return ops.Reshape.apply(blocks, shape=shape)


@implements(np.trace)
def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """The sum along a diagonal (np.trace)."""
    return ops.Sum.apply(diagonal(x, offset, axis1, axis2), axis=-1)


@implements(np.einsum)
def einsum(subscripts: Any, *operands: Any, **numpy_only: Any) -> Tensor:
    """Einstein summation (np.einsum) with NumPy's subscripts: explicit ("ij,jk->ik") or
    implicit ("ij,jk"), with ``...`` for broadcast axes and repeated indices for diagonals, or
    NumPy's interleaved form ``einsum(a, [0, 1], b, [1, 2], [0, 2])``.

    Its gradient with respect to each operand is another einsum, so it is differentiable
    to any order. ``optimize=`` is accepted and ignored (three or more operands are always
    contracted in an optimised order).

    Example:
        >>> a, b = tnn.Tensor(np.ones((2, 3))), tnn.Tensor(np.ones((3, 4)))
        >>> tnn.einsum("ij,jk->ik", a, b).shape
        (2, 4)
    """
    numpy_only.pop("optimize", None)
    given = sorted(key for key, value in numpy_only.items() if value is not None)
    if given:
        raise TypeError(f"einsum: the NumPy arguments {given} are not supported on Tensors")
    if not isinstance(subscripts, str):
        subscripts, operands = _sublist_subscripts((subscripts, *operands))
    tensors = [as_tensor(x) for x in operands]
    like = next((t for t in tensors if t.requires_grad), tensors[0] if tensors else None)
    tensors = [as_tensor(x, like=like) for x in operands]
    explicit = _explicit_subscripts(subscripts, [t.ndim for t in tensors])
    return ops.Einsum.apply(*tensors, subscripts=explicit)


def _sublist_subscripts(args: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """NumPy's interleaved form ``einsum(a, [0, 1], b, [1, 2], [0, 2])`` as a subscripts string
    and the operands: each axis number is a letter (0 -> 'a', 26 -> 'A'), Ellipsis is ``...``.
    """

    def letters(sublist: Any) -> str:
        try:
            labels = list(sublist)
        except TypeError:
            labels = None
        if labels is None or not all(
            label is Ellipsis or (isinstance(label, (int, np.integer)) and 0 <= label < 52)
            for label in labels
        ):
            raise TypeError(
                "einsum: give the subscripts as a string first (einsum('ij,jk->ik', a, b)) or "
                "interleave operands with lists of axis numbers in [0, 52) and Ellipsis "
                f"(einsum(a, [0, 1], b, [1, 2], [0, 2])), got {sublist!r}"
            )
        return "".join("..." if lab is Ellipsis else string.ascii_letters[lab] for lab in labels)

    pairs = args[: len(args) - len(args) % 2]
    inputs = ",".join(letters(sublist) for sublist in pairs[1::2])
    if len(args) % 2:
        output = letters(args[-1])
    else:  # NumPy's implicit output: broadcast axes, then the labels used once, by number
        labels = [label for sublist in pairs[1::2] for label in sublist]
        once = sorted(label for label in set(labels) - {Ellipsis} if labels.count(label) == 1)
        output = ("..." if Ellipsis in labels else "") + letters(once)
    return f"{inputs}->{output}", tuple(pairs[0::2])


def _explicit_subscripts(subscripts: str, ndims: list[int]) -> str:
    """``subscripts`` with an explicit output and every ``...`` replaced by letters."""
    text = subscripts.replace(" ", "")
    inputs, arrow, output = text.partition("->")
    labels = inputs.split(",")
    if len(labels) != len(ndims):
        raise ValueError(
            f"einsum: the subscripts {subscripts!r} name {len(labels)} operands, but "
            f"{len(ndims)} were given"
        )
    letters = set(text) - set(",.->")
    if not all(c in string.ascii_letters for c in letters):
        raise ValueError(
            f"einsum: subscripts may use only letters, ',', '->' and '...': {subscripts!r}"
        )
    spare = [c for c in string.ascii_letters if c not in letters]
    broadcast = max(
        (n - len(label.replace("...", "")) for label, n in zip(labels, ndims, strict=True)),
        default=0,
    )
    ellipsis = "".join(spare[:broadcast])
    expanded = []
    for label, ndim in zip(labels, ndims, strict=True):
        named = len(label.replace("...", ""))
        if "..." in label:
            label = label.replace(
                "...", ellipsis[broadcast - (ndim - named) :] if ndim > named else ""
            )
        if len(label) != ndim:
            raise ValueError(
                f"einsum: the subscripts {label!r} name {len(label)} axes for an operand with "
                f"{ndim}; give one letter per axis (or '...')"
            )
        expanded.append(label)
    if arrow:
        output = output.replace("...", ellipsis)
    else:
        counts = "".join(expanded)
        output = ellipsis + "".join(
            sorted(c for c in set(counts) if counts.count(c) == 1 and c not in ellipsis)
        )
    return ",".join(expanded) + "->" + output
