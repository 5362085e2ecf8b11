"""NumPy's array manipulation and sorting on Tensors: reshaping, transposing, joining and
splitting, padding, repeating, rearranging, triangles and diagonals, sorting.

Most are composites of the core ops Reshape, Transpose, BroadcastTo, Index, ScatterAdd and
Where, each one NumPy call forward and backward (see `tinygrad_nn.ops.shape`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

import numpy as np

from tinygrad_nn import ops
from tinygrad_nn.autograd import as_tensor, is_tensor
from tinygrad_nn.dispatch import implements
from tinygrad_nn.routines._common import axes_list, refuse, shape_tuple

if TYPE_CHECKING:
    from tinygrad_nn.tensor import Tensor

__all__ = [
    "array_split",
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "broadcast_to",
    "column_stack",
    "diag",
    "diagonal",
    "diff",
    "dstack",
    "expand_dims",
    "flip",
    "fliplr",
    "flipud",
    "hstack",
    "moveaxis",
    "pad",
    "ravel",
    "repeat",
    "reshape",
    "roll",
    "rot90",
    "sort",
    "split",
    "squeeze",
    "swapaxes",
    "take_along_axis",
    "tile",
    "transpose",
    "tril",
    "triu",
    "vstack",
]


# --------------------------------------------------------------------------- shape and axes


@implements(np.reshape)
def reshape(x: Any, shape: int | Sequence[int], **numpy_only: Any) -> Tensor:
    """The same elements in a new shape (one axis may be -1)."""
    if numpy_only:
        refuse(numpy_only, "reshape")
    return ops.Reshape.apply(as_tensor(x), shape=shape_tuple(shape))


@implements(np.ravel)
def ravel(x: Any, **numpy_only: Any) -> Tensor:
    """The elements as a 1-D tensor."""
    if numpy_only:
        refuse(numpy_only, "ravel")
    return ops.Reshape.apply(as_tensor(x), shape=(-1,))


@implements(np.squeeze)
def squeeze(x: Any, axis: int | Sequence[int] | None = None) -> Tensor:
    """Remove size-1 axes (all of them when ``axis`` is None)."""
    tensor = as_tensor(x)
    if axis is None:
        return ops.Reshape.apply(tensor, shape=tuple(s for s in tensor.shape if s != 1))
    axes = axes_list(axis, tensor.ndim, "squeeze")
    wide = [a for a in axes if tensor.ndim and tensor.shape[a] != 1]
    if wide:
        raise ValueError(
            f"squeeze: axis {wide[0]} of shape {tensor.shape} has size {tensor.shape[wide[0]]}; "
            "only size-1 axes can be removed"
        )
    shape = tuple(size for a, size in enumerate(tensor.shape) if a not in axes)
    return ops.Reshape.apply(tensor, shape=shape)


@implements(np.expand_dims)
def expand_dims(x: Any, axis: int | Sequence[int]) -> Tensor:
    """Insert size-1 axes at the positions ``axis`` of the result."""
    tensor = as_tensor(x)
    count = 1 if isinstance(axis, (int, np.integer)) else len(axis)
    new = set(axes_list(axis, tensor.ndim + count, "expand_dims"))
    sizes = iter(tensor.shape)
    shape = tuple(1 if a in new else next(sizes) for a in range(tensor.ndim + count))
    return ops.Reshape.apply(tensor, shape=shape)


@implements(np.transpose)
def transpose(x: Any, axes: Sequence[int] | None = None) -> Tensor:
    """Permute the axes (reverse them when ``axes`` is None)."""
    return ops.Transpose.apply(as_tensor(x), axes=None if axes is None else tuple(axes))


@implements(np.swapaxes)
def swapaxes(x: Any, axis1: int, axis2: int) -> Tensor:
    """Exchange two axes."""
    tensor = as_tensor(x)
    first, second = axes_list((axis1, axis2), tensor.ndim, "swapaxes")
    axes = list(range(tensor.ndim))
    axes[first], axes[second] = axes[second], axes[first]
    return ops.Transpose.apply(tensor, axes=tuple(axes))


@implements(np.moveaxis)
def moveaxis(x: Any, source: int | Sequence[int], destination: int | Sequence[int]) -> Tensor:
    """Move axes to new positions, keeping the order of the others."""
    tensor = as_tensor(x)
    sources = axes_list(source, tensor.ndim, "moveaxis")
    destinations = axes_list(destination, tensor.ndim, "moveaxis")
    if len(sources) != len(destinations):
        raise ValueError(
            f"moveaxis: source {source} and destination {destination} need the same number of axes"
        )
    order = [axis for axis in range(tensor.ndim) if axis not in sources]
    for axis_to, axis_from in sorted(zip(destinations, sources, strict=True)):
        order.insert(axis_to, axis_from)
    return ops.Transpose.apply(tensor, axes=tuple(order))


@implements(np.broadcast_to)
def broadcast_to(x: Any, shape: int | Sequence[int]) -> Tensor:
    """The tensor repeated along axes of size 1 (and new leading axes) to ``shape``."""
    return ops.BroadcastTo.apply(as_tensor(x), shape=shape_tuple(shape))


# --------------------------------------------------------------------------- joining and splitting


def _at_least(tensor: Tensor, ndim: int) -> Tensor:
    """np.atleast_1d / atleast_2d for one tensor (a vector becomes a row)."""
    if tensor.ndim >= ndim:
        return tensor
    return ops.Reshape.apply(tensor, shape=(1,) * (ndim - tensor.ndim) + tensor.shape)


def _at_least_all(name: str, ndim: int, tensors: tuple[Any, ...]) -> Tensor | list[Tensor]:
    if not tensors:
        raise TypeError(f"{name}: give at least one tensor")
    results = []
    for given in tensors:
        tensor = as_tensor(given)
        if ndim == 3 and tensor.ndim in (1, 2):  # NumPy: (n,) -> (1, n, 1), (m, n) -> (m, n, 1)
            shape = (1, *tensor.shape, 1) if tensor.ndim == 1 else (*tensor.shape, 1)
            tensor = ops.Reshape.apply(tensor, shape=shape)
        results.append(_at_least(tensor, ndim))
    return results[0] if len(results) == 1 else results


@implements(np.atleast_1d)
def atleast_1d(*tensors: Any) -> Tensor | list[Tensor]:
    """Each tensor with at least one axis (a 0-d one becomes shape (1,))."""
    return _at_least_all("atleast_1d", 1, tensors)


@implements(np.atleast_2d)
def atleast_2d(*tensors: Any) -> Tensor | list[Tensor]:
    """Each tensor with at least two axes (a vector becomes a row)."""
    return _at_least_all("atleast_2d", 2, tensors)


@implements(np.atleast_3d)
def atleast_3d(*tensors: Any) -> Tensor | list[Tensor]:
    """Each tensor with at least three axes, as np.atleast_3d: (n,) -> (1, n, 1),
    (m, n) -> (m, n, 1)."""
    return _at_least_all("atleast_3d", 3, tensors)


@implements(np.vstack)
def vstack(tensors: Sequence[Any], **numpy_only: Any) -> Tensor:
    """Stack rows: 1-D tensors become rows, then join along axis 0 (np.vstack)."""
    if numpy_only:
        refuse(_without_default_casting(numpy_only), "vstack")
    parts = [_at_least(as_tensor(t), 2) for t in _sequence(tensors, "vstack")]
    return ops.Concatenate.apply(*parts, axis=0)


@implements(np.hstack)
def hstack(tensors: Sequence[Any], **numpy_only: Any) -> Tensor:
    """Join along axis 1, or axis 0 for 1-D tensors (np.hstack)."""
    if numpy_only:
        refuse(_without_default_casting(numpy_only), "hstack")
    parts = [_at_least(as_tensor(t), 1) for t in _sequence(tensors, "hstack")]
    return ops.Concatenate.apply(*parts, axis=0 if parts[0].ndim == 1 else 1)


@implements(np.dstack)
def dstack(tensors: Sequence[Any]) -> Tensor:
    """Join along the third axis after `atleast_3d` (np.dstack)."""
    parts = [atleast_3d(t) for t in _sequence(tensors, "dstack")]
    return ops.Concatenate.apply(*parts, axis=2)


@implements(np.column_stack)
def column_stack(tensors: Sequence[Any]) -> Tensor:
    """1-D tensors become columns, then join along axis 1 (np.column_stack)."""
    parts = [as_tensor(t) for t in _sequence(tensors, "column_stack")]
    parts = [ops.Reshape.apply(t, shape=(-1, 1)) if t.ndim < 2 else t for t in parts]
    return ops.Concatenate.apply(*parts, axis=1)


def _without_default_casting(numpy_only: dict[str, Any]) -> dict[str, Any]:
    """NumPy's keywords less ``casting="same_kind"``, the default that np.row_stack passes on."""
    if numpy_only.get("casting") == "same_kind":
        return {key: value for key, value in numpy_only.items() if key != "casting"}
    return numpy_only


def _sequence(tensors: Any, name: str) -> list[Any]:
    """The tensors to join; a single array counts as the sequence of its rows (as in NumPy)."""
    if (isinstance(tensors, np.ndarray) or is_tensor(tensors)) and tensors.ndim == 0:
        raise TypeError(f"{name}: expected a sequence of tensors, got a 0-d array")
    items = list(tensors)
    if not items:
        raise ValueError(f"{name}: need at least one tensor")
    return items


def _pieces(tensor: Tensor, bounds: Sequence[int], axis: int) -> list[Tensor]:
    prefix = (slice(None),) * axis
    return [tensor[(*prefix, slice(start, stop))] for start, stop in itertools.pairwise(bounds)]


@implements(np.split)
def split(x: Any, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Tensor]:
    """Split into equal sections, or at the given indices, along ``axis`` (np.split)."""
    tensor = as_tensor(x)
    axis = axes_list(axis, tensor.ndim, "split")[0]
    size = tensor.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0 or size % sections:
            raise ValueError(
                f"split: an axis of size {size} does not divide into {sections} equal "
                "sections; give split indices instead (or use tnn.array_split)"
            )
        return array_split(tensor, sections, axis)
    return _pieces(tensor, [0, *(int(i) for i in indices_or_sections), size], axis)


@implements(np.array_split)
def array_split(x: Any, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Tensor]:
    """Like `split`, but N sections need not be equal: the first ones get one more element."""
    tensor = as_tensor(x)
    axis = axes_list(axis, tensor.ndim, "array_split")[0]
    size = tensor.shape[axis]
    if not isinstance(indices_or_sections, (int, np.integer)):
        return split(tensor, indices_or_sections, axis)
    sections = int(indices_or_sections)
    if sections <= 0:
        raise ValueError(f"array_split: the number of sections must be > 0, got {sections}")
    base, extra = divmod(size, sections)
    sizes = [base + 1] * extra + [base] * (sections - extra)
    return _pieces(tensor, [0, *itertools.accumulate(sizes)], axis)


# --------------------------------------------------------------------------- rearranging


@implements(np.flip)
def flip(x: Any, axis: int | Sequence[int] | None = None) -> Tensor:
    """Reverse the order of elements along ``axis`` (all axes when None)."""
    tensor = as_tensor(x)
    if axis is not None:
        axis = tuple(axes_list(axis, tensor.ndim, "flip"))
    return ops.Flip.apply(tensor, axis=axis)


@implements(np.fliplr)
def fliplr(x: Any) -> Tensor:
    """Reverse axis 1 (np.fliplr)."""
    return flip(x, 1)


@implements(np.flipud)
def flipud(x: Any) -> Tensor:
    """Reverse axis 0 (np.flipud)."""
    return flip(x, 0)


@implements(np.rot90)
def rot90(x: Any, k: int = 1, axes: Sequence[int] = (0, 1)) -> Tensor:
    """Rotate by 90 degrees ``k`` times in the plane of ``axes``, from the first axis
    towards the second (np.rot90)."""
    tensor = as_tensor(x)
    first, second = axes_list(tuple(axes), tensor.ndim, "rot90")
    if first == second:
        raise ValueError(f"rot90: the two axes must differ, got {tuple(axes)}")
    turns = int(k) % 4
    if turns == 0:
        return tensor
    if turns == 2:
        return flip(tensor, (first, second))
    if turns == 1:
        return swapaxes(flip(tensor, second), first, second)
    return flip(swapaxes(tensor, first, second), second)


@implements(np.roll)
def roll(x: Any, shift: int | Sequence[int], axis: int | Sequence[int] | None = None) -> Tensor:
    """Shift elements cyclically by ``shift`` along ``axis`` (the flattened tensor when None)."""
    tensor = as_tensor(x)
    if axis is None:
        return reshape(roll(ravel(tensor), shift, 0), tensor.shape)
    shifts, axes = np.broadcast_arrays(np.asarray(shift), np.asarray(axis))
    total: dict[int, int] = {}
    for step, target in zip(shifts.ravel(), axes.ravel(), strict=True):
        target = axes_list(int(target), tensor.ndim, "roll")[0]
        total[target] = total.get(target, 0) + int(step)
    for target, step in total.items():
        size = tensor.shape[target]
        if size and step % size:
            index = (np.arange(size) - step) % size
            tensor = tensor[(*(slice(None),) * target, index)]
    return tensor


@implements(np.repeat)
def repeat(x: Any, repeats: int | Sequence[int], axis: int | None = None) -> Tensor:
    """Repeat each element ``repeats`` times along ``axis`` (the flattened tensor when None)."""
    tensor = as_tensor(x)
    if axis is None:
        tensor, axis = ravel(tensor), 0
    axis = axes_list(axis, tensor.ndim, "repeat")[0]
    try:
        index = np.repeat(np.arange(tensor.shape[axis]), repeats)
    except ValueError as error:
        raise ValueError(
            f"repeat: {error} (shape {tensor.shape}, axis {axis}); give one non-negative count "
            "or one per element"
        ) from None
    return tensor[(*(slice(None),) * axis, index)]


@implements(np.tile)
def tile(x: Any, reps: int | Sequence[int]) -> Tensor:
    """The tensor repeated ``reps`` times along each axis (np.tile)."""
    tensor = as_tensor(x)
    reps = shape_tuple(reps)
    ndim = len(reps) if len(reps) > tensor.ndim else tensor.ndim
    shape = (1,) * (ndim - tensor.ndim) + tensor.shape
    reps = (1,) * (ndim - len(reps)) + reps
    # (r0, s0, r1, s1, ...) by broadcasting (1, s0, 1, s1, ...): BroadcastTo sums back.
    spread = ops.Reshape.apply(tensor, shape=tuple(itertools.chain(*((1, s) for s in shape))))
    wide = ops.BroadcastTo.apply(
        spread, shape=tuple(itertools.chain(*zip(reps, shape, strict=True)))
    )
    return ops.Reshape.apply(wide, shape=tuple(r * s for r, s in zip(reps, shape, strict=True)))


_PadMode = Literal["constant", "edge", "reflect", "symmetric", "wrap"]
_PAD_MODES: tuple[str, ...] = get_args(_PadMode)


@implements(np.pad)
def pad(
    x: Any, pad_width: Any, mode: str = "constant", constant_values: Any = 0, **numpy_only: Any
) -> Tensor:
    """Pad each axis with ``pad_width`` = n, (before, after) or ((before, after), ...) values
    (np.pad). Modes: "constant" (``constant_values``), "edge", "reflect", "symmetric" and
    "wrap"; the gradient of padding copies adds up into the elements copied.

    Example:
        >>> tnn.pad(tnn.Tensor([1.0, 2.0]), (1, 2)).tolist()
        [0.0, 1.0, 2.0, 0.0, 0.0]
    """
    if numpy_only:
        refuse(numpy_only, "pad")
    tensor = as_tensor(x)
    widths = np.asarray(pad_width)
    if widths.dtype.kind not in "iu" or (widths < 0).any():
        raise ValueError(f"pad: pad_width must hold non-negative ints, got {pad_width!r}")
    try:
        widths = np.broadcast_to(widths, (tensor.ndim, 2))
    except ValueError:
        raise ValueError(
            f"pad: pad_width {pad_width!r} does not fit a tensor of shape {tensor.shape}; give "
            "n, (before, after) or one (before, after) pair per axis"
        ) from None
    if mode == "constant":
        shape = tuple(int(b + s + a) for s, (b, a) in zip(tensor.shape, widths, strict=True))
        index = tuple(
            slice(int(b), int(b) + s) for s, (b, _) in zip(tensor.shape, widths, strict=True)
        )
        padded = ops.ScatterAdd.apply(tensor, shape=shape, index=index)
        if np.any(np.asarray(constant_values) != 0):
            fill = np.pad(
                np.zeros(tensor.shape, tensor.dtype), widths, constant_values=constant_values
            )
            padded = padded + fill
        return padded
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: unsupported mode {mode!r}; use one of {_PAD_MODES}")
    source_mode = cast(_PadMode, mode)  # one of _PAD_MODES, checked just above
    try:  # the source element of each padded position, axis by axis
        sources = [
            np.pad(np.arange(size), (int(b), int(a)), mode=source_mode)
            for size, (b, a) in zip(tensor.shape, widths, strict=True)
        ]
    except ValueError as error:
        raise ValueError(f"pad: {error} (shape {tensor.shape}, mode {mode!r})") from None
    return tensor[np.ix_(*sources)] if sources else tensor


# -------------------------------------------------------------------------- diagonals, triangles


@implements(np.diagonal)
def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """The diagonal of the (axis1, axis2) planes as a new last axis (np.diagonal)."""
    tensor = as_tensor(x)
    if tensor.ndim < 2:
        raise ValueError(f"diagonal: needs at least 2 axes, got shape {tensor.shape}")
    first, second = axes_list((axis1, axis2), tensor.ndim, "diagonal")
    if first == second:
        raise ValueError(f"diagonal: axis1 and axis2 must differ, got {axis1} and {axis2}")
    moved = moveaxis(tensor, (first, second), (-2, -1))
    rows, columns = moved.shape[-2:]
    length = max(0, min(rows, columns - offset) if offset >= 0 else min(rows + offset, columns))
    steps = np.arange(length)
    start_row, start_column = (0, offset) if offset >= 0 else (-offset, 0)
    return moved[..., steps + start_row, steps + start_column]


@implements(np.diag)
def diag(x: Any, k: int = 0) -> Tensor:
    """A 1-D tensor placed on diagonal ``k`` of a square matrix, or a 2-D tensor's
    diagonal ``k`` (np.diag)."""
    tensor = as_tensor(x)
    if tensor.ndim == 2:
        return diagonal(tensor, k)
    if tensor.ndim != 1:
        raise ValueError(f"diag: needs a 1-D or 2-D tensor, got shape {tensor.shape}")
    size = tensor.shape[0] + abs(k)
    steps = np.arange(tensor.shape[0])
    index = (steps - min(k, 0), steps + max(k, 0))
    return ops.ScatterAdd.apply(tensor, shape=(size, size), index=index)


@implements(np.diff)
def diff(x: Any, n: int = 1, axis: int = -1, **numpy_only: Any) -> Tensor:
    """The ``n``-th differences along ``axis``: x[1:] - x[:-1], ``n`` times (np.diff)."""
    if numpy_only:
        refuse(numpy_only, "diff")
    tensor = as_tensor(x)
    if tensor.ndim == 0:
        raise ValueError("diff: needs at least one axis, got a 0-d tensor")
    axis = axes_list(axis, tensor.ndim, "diff")[0]
    if n < 0:
        raise ValueError(f"diff: the order n must be >= 0, got {n}")
    prefix = (slice(None),) * axis
    for _ in range(n):
        tensor = tensor[(*prefix, slice(1, None))] - tensor[(*prefix, slice(None, -1))]
    return tensor


def _triangle(x: Any, k: int, name: str, upper: bool) -> Tensor:
    tensor = as_tensor(x)
    if tensor.ndim < 2:
        raise ValueError(f"{name}: needs at least 2 axes, got shape {tensor.shape}")
    rows, columns = tensor.shape[-2:]
    lower = np.tri(rows, columns, k - 1 if upper else k, dtype=bool)
    keep = ~lower if upper else lower
    return ops.Where.apply(tensor, as_tensor(0, like=tensor), cond=keep)


@implements(np.triu)
def triu(x: Any, k: int = 0) -> Tensor:
    """The upper triangle of the last two axes (elements below diagonal ``k`` set to 0)."""
    return _triangle(x, k, "triu", upper=True)


@implements(np.tril)
def tril(x: Any, k: int = 0) -> Tensor:
    """The lower triangle of the last two axes (elements above diagonal ``k`` set to 0)."""
    return _triangle(x, k, "tril", upper=False)


# --------------------------------------------------------------------------- indexing and sorting


@implements(np.take_along_axis)
def take_along_axis(x: Any, indices: Any, axis: int | None) -> Tensor:
    """Pick ``indices`` along ``axis`` (np.take_along_axis); gradients go back to the
    picked positions, repeats adding up.

    Args:
        x: a Tensor, array or number.
        indices: an integer array (or Tensor) with x's number of axes, broadcasting
            against x on the other axes.
        axis: the axis to pick along, or None for the flattened tensor (1-D indices).

    Returns:
        ``x[..., indices, ...]`` along ``axis``.

    Example:
        >>> x = tnn.Tensor([[10.0, 20.0], [30.0, 40.0]])
        >>> tnn.take_along_axis(x, np.array([[1], [0]]), axis=1).tolist()
        [[20.0], [30.0]]
    """
    tensor = as_tensor(x)
    index = np.asarray(indices.data if is_tensor(indices) else indices)
    if index.dtype.kind not in "iu":
        raise TypeError(f"take_along_axis: indices must be integers, got dtype {index.dtype}")
    if axis is None:
        tensor, axis = ravel(tensor), 0
    if index.ndim != tensor.ndim:
        raise ValueError(
            f"take_along_axis: indices need as many axes as the tensor ({tensor.ndim}), got "
            f"shape {index.shape}"
        )
    axis = axes_list(axis, tensor.ndim, "take_along_axis")[0]
    grid = [
        index if a == axis else np.arange(size).reshape((-1,) + (1,) * (tensor.ndim - a - 1))
        for a, size in enumerate(tensor.shape)
    ]
    return tensor[tuple(grid)]


@implements(np.sort)
def sort(x: Any, axis: int | None = -1, **numpy_only: Any) -> Tensor:
    """The values sorted along ``axis`` (the flattened tensor when None), stable; each
    gradient goes back to the position its value came from.

    Args:
        x: a Tensor or array with at least one axis.
        axis: the axis to sort along (default the last), or None.

    Returns:
        A sorted copy (ascending); NumPy's ``kind=`` is accepted, the sort is always stable.

    Example:
        >>> tnn.sort(tnn.Tensor([3.0, 1.0, 2.0])).tolist()
        [1.0, 2.0, 3.0]
    """
    refuse({k: v for k, v in numpy_only.items() if k != "kind"}, "sort")
    tensor = as_tensor(x)
    if axis is None:
        tensor, axis = ravel(tensor), -1
    if tensor.ndim == 0:
        raise ValueError("sort: a 0-d tensor has no axis to sort along; use axis=None")
    order = np.argsort(tensor.data, axis=axis, kind="stable")
    return take_along_axis(tensor, order, axis)
