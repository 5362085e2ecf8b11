"""Every Tensor op of DESIGN.md: values against NumPy, gradients against finite differences.

One table (`OPS`) lists each op with its NumPy reference, the shapes it is tried on and the
domain of each input. Hypothesis tests run over the whole table:

* forward values equal the NumPy reference (float64) and the inputs are left unchanged;
* float32 inputs give float32 outputs and float32 gradients;
* gradients match central finite differences in float64 with a random upstream gradient
  (`tnn.testing.gradcheck`, which also checks that forward and backward mutate nothing);
* second-order gradients (the backward pass recorded with ``create_graph=True`` and
  differentiated again) match finite differences of the first-order ones
  (`tnn.testing.gradgradcheck`).

`test_every_op_has_a_row` checks the table itself: every `tinygrad_nn.ops` Function must run
in some row, forward or inside a backward pass. Edge conventions (ties, zeros, kinks) and
the non-differentiable routines are tested in tests/test_ops_conventions.py.

Shapes include 0-d arrays, size-1 axes and mutually broadcastable operands. Kinks are kept
out of reach explicitly: relu/abs inputs stay `margin` away from 0 and clip inputs away from
the bounds (`avoid=`), max/min inputs are pairwise distinct (`distinct=True`), log/sqrt
inputs are positive and denominators stay away from 0, rounding inputs away from the jumps,
inverse trigonometric inputs inside (-1, 1). Products are polynomials, so their rows may
hold exact zeros (finite differences are exact across them). Ties, saturation and large
logits have their own tests below the table.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import special

import tinygrad_nn as tnn
from tinygrad_nn import Tensor, ops
from tinygrad_nn import functional as F
from tinygrad_nn.autograd import set_recorder
from tinygrad_nn.testing import gradcheck, gradgradcheck
from tinygrad_nn.testing import strategies as tst

Shape = tuple[int, ...]


# ---------------------------------------------------------------------- domains


@dataclass(frozen=True)
class Domain:
    """Where an input's values are drawn from (see `tnn.testing.strategies.arrays`)."""

    min_value: float = -3.0
    max_value: float = 3.0
    avoid: tuple[float, ...] = ()
    margin: float = 1e-3
    distinct: bool = False
    choices: tuple[float, ...] = ()  # draw only these values (exact zeros, say)

    def arrays(self, shape: Shape, dtype: Any) -> st.SearchStrategy[np.ndarray]:
        if self.choices:
            return tst.arrays(shape, dtype=dtype, elements=st.sampled_from(self.choices))
        return tst.arrays(
            shape,
            dtype=dtype,
            min_value=self.min_value,
            max_value=self.max_value,
            avoid=self.avoid,
            margin=self.margin,
            distinct=self.distinct,
        )


ANY = Domain()
WIDE = Domain(-10.0, 10.0)
POSITIVE = Domain(0.1, 3.0)  # log, sqrt, fractional and negative powers
BASE = Domain(0.5, 3.0)  # the base of a power with a tensor exponent
EXPONENT = Domain(-2.0, 2.0)
NONZERO = Domain(avoid=(0.0,), margin=0.5)  # denominators
NO_KINK = Domain(avoid=(0.0,))  # relu and abs
DISTINCT = Domain(distinct=True, margin=1e-2)  # max and min: no ties
UNIT = Domain(-0.9, 0.9)  # arcsin, arccos, arctanh
SMALL = Domain(-1.5, 1.5)  # products of up to 64 factors stay of order 1
# Exact zeros (first, so the simplest example has one): prod and cumprod's zero cases.
# Products are polynomials, so finite differences are exact across zeros.
WITH_ZEROS = Domain(choices=(0.0, -1.5, 0.5, 1.0, 2.0))
HALVES = (-2.5, -1.5, -0.5, 0.5, 1.5, 2.5)
OFF_INTEGERS = Domain(avoid=(-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0), margin=0.01)  # floor, ceil
OFF_HALVES = Domain(avoid=HALVES, margin=0.01)  # round; also never equal to a HALF
HALF = Domain(choices=HALVES)  # the other operand of maximum/minimum: no ties with OFF_HALVES
DIVISOR = Domain(choices=(-7.0, 4.0, 5.0))  # mod: |b| > 3, so a in [-3, 3] avoids multiples


# ---------------------------------------------------------------------- shapes and params

ONE = tst.shapes().map(lambda shape: (shape,))
ONE_ND = tst.shapes(min_dims=1).map(lambda shape: (shape,))
TWO = tst.broadcastable_shapes(2)
MATMUL = hnp.mutually_broadcastable_shapes(
    signature="(m?,n),(n,p?)->(m?,p?)", max_dims=2, max_side=4
).map(lambda drawn: drawn.input_shapes)

NoParams = Callable[[tuple[Shape, ...], Any], st.SearchStrategy[dict[str, Any]]]


def no_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict[str, Any]]:
    return st.just({})


def axes(ndim: int) -> st.SearchStrategy[int | tuple[int, ...] | None]:
    """None, one axis or a tuple of distinct axes, each possibly negative."""
    if ndim == 0:
        return st.none() | st.just(())
    one = st.integers(-ndim, ndim - 1)
    many = st.lists(
        st.tuples(st.integers(0, ndim - 1), st.booleans()), unique_by=lambda p: p[0]
    ).map(lambda pairs: tuple(axis - ndim if negative else axis for axis, negative in pairs))
    return st.none() | one | many


def reduction_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({"axis": axes(len(shapes[0])), "keepdims": st.booleans()})


def one_axis_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    ndim = len(shapes[0])
    return st.fixed_dictionaries({"axis": st.integers(-ndim, ndim - 1)})


def reshape_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    (shape,) = shapes
    size = math.prod(shape)
    targets = [(-1,), (size,), (1, -1), (*shape, 1), (1, *shape), shape[::-1]]
    if size == 1:
        targets.append(())
    return st.fixed_dictionaries({"shape": st.sampled_from(targets), "packed": st.booleans()})


def transpose_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    ndim = len(shapes[0])
    return st.fixed_dictionaries({"axes": st.none() | st.permutations(range(ndim)).map(tuple)})


def basic_index_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({"index": hnp.basic_indices(shapes[0], allow_newaxis=True)})


def integer_index_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    """One integer array per axis, or one array on axis 0 or 1; repeats are likely."""
    (shape,) = shapes
    index_shape = hnp.array_shapes(min_dims=1, max_dims=2, max_side=5)
    per_axis = hnp.integer_array_indices(shape, result_shape=index_shape)

    def on_axis(axis: int) -> st.SearchStrategy[tuple[Any, ...]]:
        size = shape[axis]
        values = hnp.arrays(np.int64, index_shape, elements=st.integers(-size, size - 1))
        return values.map(lambda index: (*([slice(None)] * axis), index))

    choices = per_axis | on_axis(0)
    if len(shape) >= 2:
        choices = choices | on_axis(1)
    return st.fixed_dictionaries({"index": choices})


def mask_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    (shape,) = shapes
    full = hnp.arrays(np.bool_, shape)
    leading = hnp.arrays(np.bool_, shape[:1])
    return st.fixed_dictionaries({"index": full | leading})


def where_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    result = np.broadcast_shapes(*shapes)
    cond = hnp.broadcastable_shapes(result, max_side=4).flatmap(
        lambda shape: hnp.arrays(np.bool_, shape)
    )
    return st.fixed_dictionaries({"cond": cond, "as_tensor": st.booleans()})


def ndarray_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    """A constant ndarray of the test's dtype whose shape broadcasts with the input."""
    other = hnp.broadcastable_shapes(shapes[0], max_side=4).flatmap(
        lambda shape: tst.arrays(shape, dtype=dtype)
    )
    return st.fixed_dictionaries({"other": other})


@st.composite
def concatenate_shapes(draw: Any) -> tuple[Shape, ...]:
    """1-3 shapes equal on every axis but one."""
    base = draw(tst.shapes(min_dims=1))
    axis = draw(st.integers(0, len(base) - 1))
    sizes = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    return tuple((*base[:axis], size, *base[axis + 1 :]) for size in sizes)


def concatenate_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    ndim = len(shapes[0])
    valid = [axis for axis in range(ndim) if len({s[:axis] + s[axis + 1 :] for s in shapes}) == 1]
    return st.fixed_dictionaries({"axis": st.sampled_from(valid + [axis - ndim for axis in valid])})


STACK = tst.shapes().flatmap(lambda shape: st.integers(1, 3).map(lambda n: (shape,) * n))


def stack_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    ndim = len(shapes[0])
    return st.fixed_dictionaries({"axis": st.integers(-ndim - 1, ndim)})


def ddof_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    """An axis choice and ddof 0 or 1, keeping at least one degree of freedom."""

    def with_ddof(params: dict) -> st.SearchStrategy[dict]:
        shape, axis = shapes[0], params["axis"]
        reduced = range(len(shape)) if axis is None else np.atleast_1d(axis) % max(len(shape), 1)
        count = math.prod(shape[a] for a in reduced) if shape else 1
        return st.sampled_from([0, 1] if count > 1 else [0]).map(lambda d: {**params, "ddof": d})

    return reduction_params(shapes, dtype).flatmap(with_ddof)


def scan_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    ndim = len(shapes[0])
    axis = st.none() | st.integers(-ndim, ndim - 1) if ndim else st.none()
    return st.fixed_dictionaries({"axis": axis})


def optional_axis_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    """axis None, one axis or a tuple of distinct axes (flip)."""
    return st.fixed_dictionaries({"axis": axes(len(shapes[0]))})


def squeeze_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    ones = [a for a, size in enumerate(shapes[0]) if size == 1]
    choices = st.none()
    if ones:
        choices = (
            choices
            | st.sampled_from(ones)
            | st.lists(st.sampled_from(ones), min_size=1, unique=True).map(tuple)
        )
    return st.fixed_dictionaries({"axis": choices})


def expand_dims_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    ndim = len(shapes[0])
    return st.fixed_dictionaries({"axis": st.integers(-ndim - 1, ndim)})


def pad_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    """np.pad's pad_width forms (n, (b, a), one pair per axis) and its modes."""
    ndim = len(shapes[0])
    width = st.integers(0, 2)
    forms = width | st.tuples(width, width) | st.tuples(*[st.tuples(width, width)] * ndim)
    constant = st.fixed_dictionaries(
        {
            "pad_width": forms,
            "mode": st.just("constant"),
            "constant_values": st.sampled_from([0.0, 1.5]),
        }
    )
    # reflect needs widths below each size; edge, symmetric and wrap take any width on size >= 1
    others = st.fixed_dictionaries(
        {"pad_width": forms, "mode": st.sampled_from(["edge", "symmetric", "wrap"])}
    )
    return constant | others


def repeat_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    shape = shapes[0]

    def per_axis(axis: int | None) -> st.SearchStrategy[dict]:
        length = math.prod(shape) if axis is None else shape[axis]
        counts = st.integers(0, 3) | st.lists(st.integers(0, 2), min_size=length, max_size=length)
        return counts.map(lambda repeats: {"repeats": repeats, "axis": axis})

    axis = st.none() | st.integers(0, len(shape) - 1) if shape else st.none()
    return axis.flatmap(per_axis)


def tile_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    reps = st.integers(1, 3) | st.lists(st.integers(1, 2), min_size=1, max_size=4).map(tuple)
    return st.fixed_dictionaries({"reps": reps})


def roll_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    ndim = len(shapes[0])
    shift = st.integers(-5, 5)
    if not ndim:
        return st.fixed_dictionaries({"shift": shift, "axis": st.none()})
    pairs = st.lists(st.tuples(shift, st.integers(-ndim, ndim - 1)), min_size=1, max_size=3)
    several = pairs.map(lambda p: {"shift": tuple(s for s, _ in p), "axis": tuple(a for _, a in p)})
    return (
        st.fixed_dictionaries({"shift": shift, "axis": st.none() | st.integers(-ndim, ndim - 1)})
        | several
    )


def split_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    ndim = len(shapes[0])
    return st.fixed_dictionaries(
        {"sections": st.integers(1, 4), "axis": st.integers(-ndim, ndim - 1)}
    )


def two_axes_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    ndim = len(shapes[0])
    pair = st.lists(
        st.integers(-ndim, ndim - 1), min_size=2, max_size=2, unique_by=lambda a: a % ndim
    )
    return pair.map(lambda p: {"axis1": p[0], "axis2": p[1]})


def moveaxis_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    ndim = len(shapes[0])
    return (
        st.integers(1, ndim)
        .flatmap(
            lambda n: st.tuples(
                st.permutations(range(ndim)).map(lambda p: tuple(p[:n])),
                st.permutations(range(ndim)).map(lambda p: tuple(p[:n])),
            )
        )
        .map(lambda sd: {"source": sd[0], "destination": sd[1]})
    )


def broadcast_to_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    """A target shape the input broadcasts to (new leading axes, stretched size-1 axes)."""
    (shape,) = shapes
    lead = st.lists(st.integers(1, 3), max_size=2)
    sides = st.tuples(*[st.integers(1, 3) if size == 1 else st.just(size) for size in shape])
    return st.tuples(lead, sides).map(lambda ls: {"shape": (*ls[0], *ls[1])})


def diagonal_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    return two_axes_params(shapes, dtype).flatmap(
        lambda p: st.integers(-3, 3).map(lambda offset: {**p, "offset": offset})
    )


def k_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({"k": st.integers(-3, 3)})


def take_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    """Integer indices along one axis (repeats and negatives likely), or along the flat tensor."""
    (shape,) = shapes

    def along(axis: int | None) -> st.SearchStrategy[dict]:
        size = math.prod(shape) if axis is None else shape[axis]
        index_shape = (
            st.tuples(st.integers(1, 4))
            if axis is None
            else st.tuples(
                *[
                    st.integers(1, 3) if a == axis else st.sampled_from([1, s])
                    for a, s in enumerate(shape)
                ]
            )
        )
        indices = index_shape.flatmap(
            lambda s: hnp.arrays(np.int64, s, elements=st.integers(-size, size - 1))
        )
        return indices.map(lambda index: {"indices": index, "axis": axis})

    return (st.none() | st.integers(-len(shape), len(shape) - 1)).flatmap(along)


def sort_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    ndim = len(shapes[0])
    return st.fixed_dictionaries({"axis": st.none() | st.integers(-ndim, ndim - 1)})


def vector_norm_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    ndim = len(shapes[0])
    return st.fixed_dictionaries(
        {
            "ord": st.sampled_from([None, 2, 1]),
            "axis": st.integers(-ndim, ndim - 1),
            "keepdims": st.booleans(),
        }
    )


def extreme_norm_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    ndim = len(shapes[0])
    return st.fixed_dictionaries(
        {
            "ord": st.sampled_from([np.inf, -np.inf]),
            "axis": st.integers(-ndim, ndim - 1),
            "keepdims": st.booleans(),
        }
    )


def tensordot_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    return st.just({"axes": TENSORDOT_AXES[shapes]})


def einsum_params(shapes: tuple[Shape, ...], dtype: Any) -> st.SearchStrategy[dict]:
    return st.just({"subscripts": EINSUM_SUBSCRIPTS[shapes]})


# Fixed cases with their shapes: (subscripts, shapes), several sizes each.
EINSUM_CASES = [
    ("ij,jk->ik", ((2, 3), (3, 4))),
    ("ij,jk", ((1, 2), (2, 1))),
    ("i,i->", ((3,), (3,))),
    ("i,j->ij", ((2,), (3,))),
    ("ii->i", ((3, 3),)),
    ("ii", ((2, 2),)),
    ("ij->", ((2, 3),)),
    ("ij->j", ((3, 2),)),
    ("ji", ((2, 3),)),
    ("bij,bjk->bik", ((2, 2, 3), (2, 3, 2))),
    ("...ij,...jk->...ik", ((2, 1, 2, 3), (4, 3, 2))),
    ("i...,i...->...", ((3, 2), (3, 1))),
    ("ij,jk,kl->il", ((2, 3), (3, 2), (2, 2))),
    ("iij,jk->ik", ((2, 2, 3), (3, 1))),
    (",i->i", ((), (3,))),
]
EINSUM_SUBSCRIPTS = {shapes: subscripts for subscripts, shapes in EINSUM_CASES}
EINSUM = st.sampled_from([shapes for _, shapes in EINSUM_CASES])

TENSORDOT_CASES = [
    (((2, 3), (3, 4)), 1),
    (((2, 3, 4), (3, 4, 2)), 2),
    (((2, 3), (4,)), 0),
    (((), (2,)), 0),
    (((2, 3, 4), (4, 2, 3)), ([1, 2], [2, 0])),
    (((3, 2), (2, 3)), ([-1, 0], [0, -1])),
]
TENSORDOT_AXES = {shapes: axes for shapes, axes in TENSORDOT_CASES}
TENSORDOT = st.sampled_from([shapes for shapes, _ in TENSORDOT_CASES])

DOT = st.sampled_from(
    [
        ((), (3,)),
        ((3,), ()),
        ((3,), (3,)),
        ((2, 3), (3,)),
        ((3,), (3, 2)),
        ((2, 3), (3, 4)),
        ((2, 2, 3), (3,)),
        ((2, 3), (4, 3, 2)),
        ((2, 1, 3), (2, 3, 2)),
        ((3,), (2, 3, 4)),
    ]
)
INNER = st.sampled_from(
    [((), (2, 3)), ((3,), (3,)), ((2, 3), (3,)), ((2, 3), (4, 3)), ((2, 1, 3), (2, 3))]
)
AT_LEAST_2D = tst.shapes(min_dims=2).map(lambda shape: (shape,))
MATRIX = tst.shapes(min_dims=2, max_dims=2).map(lambda shape: (shape,))
PAIR_OF_ANY = tst.shapes(max_dims=2).flatmap(lambda a: tst.shapes(max_dims=2).map(lambda b: (a, b)))


@st.composite
def linear_shapes(draw: Any, bias: bool) -> tuple[Shape, ...]:
    """x (*batch, in) with 0-2 batch axes, weight (out, in), bias (out,)."""
    batch = draw(tst.shapes(min_dims=0, max_dims=2))
    n_in, n_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    shapes = ((*batch, n_in), (n_out, n_in))
    return (*shapes, (n_out,)) if bias else shapes


# ---------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Op:
    """One row of the table: how to call the op, its NumPy reference, shapes and domains.

    ``fn(*tensors, **params)`` and ``reference(*arrays, **params)`` receive one argument per
    drawn shape; ``params`` are drawn from the shapes (axes, indices, masks ...).
    """

    name: str
    fn: Callable[..., Tensor]
    reference: Callable[..., Any]
    shapes: st.SearchStrategy[tuple[Shape, ...]] = ONE
    domains: tuple[Domain, ...] = (ANY,)  # one per input; the last one repeats
    params: NoParams = no_params

    def domain(self, position: int) -> Domain:
        return self.domains[min(position, len(self.domains) - 1)]


def _where(a: Tensor, b: Tensor, cond: np.ndarray, as_tensor: bool) -> Tensor:
    return tnn.where(Tensor(cond) if as_tensor else cond, a, b)


def _conv2d_reference(x: np.ndarray, w: np.ndarray, stride: int, padding: int) -> np.ndarray:
    """Cross-correlation by direct loops over output positions (PyTorch's conv2d)."""
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    kh, kw = w.shape[2:]
    rows = (x.shape[2] - kh) // stride + 1
    cols = (x.shape[3] - kw) // stride + 1
    out = np.zeros((x.shape[0], w.shape[0], rows, cols), dtype=x.dtype)
    for i in range(rows):
        for j in range(cols):
            patch = x[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
            out[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w)
    return out


def _reduce(values: np.ndarray, reduction: str) -> np.ndarray:
    return {"sum": np.sum, "mean": np.mean, "none": np.asarray}[reduction](values)


REDUCTION = st.sampled_from(["sum", "mean", "none"])


def _linear_reference(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    out = np.matmul(x, w.T)
    return out if b is None else out + b


OPS = [
    # binary arithmetic, operands broadcast against each other
    Op("add", lambda a, b: a + b, np.add, TWO),
    Op("sub", lambda a, b: a - b, np.subtract, TWO),
    Op("mul", lambda a, b: a * b, np.multiply, TWO),
    Op("div", lambda a, b: a / b, np.divide, TWO, (ANY, NONZERO)),
    Op("pow_tensor_exponent", lambda a, b: a**b, np.power, TWO, (BASE, EXPONENT)),
    Op(
        "where",
        _where,
        lambda a, b, cond, as_tensor: np.where(cond, a, b),
        TWO,
        params=where_params,
    ),
    # a Python scalar or an ndarray on either side
    Op("add_scalar", lambda t: t + 2.5, lambda a: a + 2.5),
    Op("radd_scalar", lambda t: 2.5 + t, lambda a: 2.5 + a),
    Op("sub_scalar", lambda t: t - 1, lambda a: a - 1),
    Op("rsub_scalar", lambda t: 1.5 - t, lambda a: 1.5 - a),
    Op("mul_scalar", lambda t: t * 3, lambda a: a * 3),
    Op("rmul_scalar", lambda t: -0.5 * t, lambda a: -0.5 * a),
    Op("div_scalar", lambda t: t / 4.0, lambda a: a / 4.0),
    Op("rdiv_scalar", lambda t: 10 / t, lambda a: 10 / a, domains=(NONZERO,)),
    Op("pow_two", lambda t: t**2, lambda a: a**2),
    Op("pow_int", lambda t: t**3, lambda a: a**3),
    Op("pow_half", lambda t: t**0.5, np.sqrt, domains=(POSITIVE,)),
    Op("pow_negative", lambda t: t**-1.5, lambda a: a**-1.5, domains=(POSITIVE,)),
    Op("rpow_scalar", lambda t: 2.0**t, lambda a: 2.0**a),
    Op("neg", lambda t: -t, np.negative),
    Op(
        "radd_ndarray",
        lambda t, other: other + t,
        lambda a, other: other + a,
        params=ndarray_params,
    ),
    Op(
        "rmul_ndarray",
        lambda t, other: other * t,
        lambda a, other: other * a,
        params=ndarray_params,
    ),
    Op(
        "sub_ndarray", lambda t, other: t - other, lambda a, other: a - other, params=ndarray_params
    ),
    # elementwise functions
    Op("relu", Tensor.relu, lambda a: np.maximum(a, 0), domains=(NO_KINK,)),
    Op("sigmoid", Tensor.sigmoid, special.expit, domains=(WIDE,)),
    Op("tanh", Tensor.tanh, np.tanh),
    Op("exp", Tensor.exp, np.exp),
    Op("log", Tensor.log, np.log, domains=(POSITIVE,)),
    Op("abs", Tensor.abs, np.abs, domains=(NO_KINK,)),
    Op("sqrt", Tensor.sqrt, np.sqrt, domains=(POSITIVE,)),
    Op("square", Tensor.square, np.square),
    Op(
        "clip",
        lambda t: t.clip(-1.0, 1.5),
        lambda a: np.clip(a, -1.0, 1.5),
        domains=(Domain(avoid=(-1.0, 1.5)),),
    ),
    Op(
        "clip_lo",
        lambda t: t.clip(lo=-0.5),
        lambda a: np.maximum(a, -0.5),
        domains=(Domain(avoid=(-0.5,)),),
    ),
    Op(
        "clip_hi",
        lambda t: t.clip(hi=0.5),
        lambda a: np.minimum(a, 0.5),
        domains=(Domain(avoid=(0.5,)),),
    ),
    # reductions
    Op("sum", Tensor.sum, np.sum, params=reduction_params),
    Op("mean", Tensor.mean, np.mean, params=reduction_params),
    Op("max", Tensor.max, np.max, domains=(DISTINCT,), params=reduction_params),
    Op("min", Tensor.min, np.min, domains=(DISTINCT,), params=reduction_params),
    # shape and indexing
    Op(
        "reshape",
        lambda t, shape, packed: t.reshape(shape) if packed else t.reshape(*shape),
        lambda a, shape, packed: np.reshape(a, shape),
        params=reshape_params,
    ),
    Op(
        "transpose",
        lambda t, axes: t.transpose() if axes is None else t.transpose(*axes),
        lambda a, axes: np.transpose(a, axes),
        params=transpose_params,
    ),
    Op("T", lambda t: t.T, lambda a: a.T),
    Op("flatten", Tensor.flatten, np.ravel),
    Op(
        "index_basic",
        lambda t, index: t[index],
        lambda a, index: a[index],
        params=basic_index_params,
    ),
    Op(
        "index_integer_arrays",
        lambda t, index: t[index],
        lambda a, index: a[index],
        ONE_ND,
        params=integer_index_params,
    ),
    Op(
        "index_boolean_mask",
        lambda t, index: t[index],
        lambda a, index: a[index],
        ONE_ND,
        params=mask_params,
    ),
    # linear algebra
    Op("matmul", lambda a, b: a @ b, np.matmul, MATMUL),
    Op("linear", F.linear, _linear_reference, linear_shapes(bias=True)),
    Op("linear_no_bias", F.linear, _linear_reference, linear_shapes(bias=False)),
    # softmax family
    Op(
        "softmax",
        lambda t, axis: t.softmax(axis=axis),
        lambda a, axis: special.softmax(a, axis=axis),
        ONE_ND,
        params=one_axis_params,
    ),
    Op(
        "log_softmax",
        lambda t, axis: t.log_softmax(axis=axis),
        lambda a, axis: special.log_softmax(a, axis=axis),
        ONE_ND,
        params=one_axis_params,
    ),
    # joining
    Op(
        "concatenate",
        lambda *ts, axis: tnn.concatenate(ts, axis=axis),
        lambda *arrays, axis: np.concatenate(arrays, axis=axis),
        concatenate_shapes(),
        params=concatenate_params,
    ),
    Op(
        "stack",
        lambda *ts, axis: tnn.stack(ts, axis=axis),
        lambda *arrays, axis: np.stack(arrays, axis=axis),
        STACK,
        params=stack_params,
    ),
    Op("astype_float64", lambda t: t.astype(np.float64), lambda a: a.astype(np.float64)),
    # ---------------------------------------------------------------- elementwise (NumPy's)
    Op("sin", Tensor.sin, np.sin),
    Op("cos", Tensor.cos, np.cos),
    Op("tan", Tensor.tan, np.tan, domains=(Domain(-1.2, 1.2),)),
    Op("arcsin", Tensor.arcsin, np.arcsin, domains=(UNIT,)),
    Op("arccos", Tensor.arccos, np.arccos, domains=(UNIT,)),
    Op("arctan", Tensor.arctan, np.arctan),
    Op("sinh", Tensor.sinh, np.sinh),
    Op("cosh", Tensor.cosh, np.cosh),
    Op("arcsinh", Tensor.arcsinh, np.arcsinh),
    Op("arccosh", Tensor.arccosh, np.arccosh, domains=(Domain(1.1, 3.0),)),
    Op("arctanh", Tensor.arctanh, np.arctanh, domains=(UNIT,)),
    Op("log2", Tensor.log2, np.log2, domains=(POSITIVE,)),
    Op("log10", Tensor.log10, np.log10, domains=(POSITIVE,)),
    Op("log1p", Tensor.log1p, np.log1p, domains=(Domain(-0.9, 3.0),)),
    Op("exp2", Tensor.exp2, np.exp2),
    Op("expm1", Tensor.expm1, np.expm1),
    Op("reciprocal", Tensor.reciprocal, np.reciprocal, domains=(NONZERO,)),
    Op("sign", Tensor.sign, np.sign, domains=(NO_KINK,)),
    Op("floor", Tensor.floor, np.floor, domains=(OFF_INTEGERS,)),
    Op("ceil", Tensor.ceil, np.ceil, domains=(OFF_INTEGERS,)),
    Op("round", Tensor.round, np.round, domains=(OFF_HALVES,)),
    Op(
        "round_decimals",
        lambda t: t.round(1),
        lambda a: np.round(a, 1),
        domains=(Domain(avoid=tuple(np.arange(-3.05, 3.1, 0.1).round(2)), margin=0.002),),
    ),
    Op("np_sin_dispatch", np.sin, np.sin),
    Op("maximum", tnn.maximum, np.maximum, TWO, (OFF_HALVES, HALF)),
    Op("minimum", tnn.minimum, np.minimum, TWO, (HALF, OFF_HALVES)),
    Op("arctan2", tnn.arctan2, np.arctan2, TWO, (NONZERO,)),  # y = 0, x < 0 is the branch cut
    Op("hypot", tnn.hypot, np.hypot, TWO, (NONZERO, ANY)),
    Op("logaddexp", tnn.logaddexp, np.logaddexp, TWO, (WIDE,)),
    Op("mod", tnn.mod, np.mod, TWO, (Domain(avoid=(0.0,), margin=0.01), DIVISOR)),
    Op(
        "mod_operator",
        lambda t: t % 2.5,
        lambda a: a % 2.5,
        domains=(Domain(avoid=(-2.5, 0.0, 2.5), margin=0.01),),
    ),
    Op("rmod_operator", lambda t: 7.0 % t, lambda a: 7.0 % a, domains=(Domain(4.0, 6.5),)),
    # ---------------------------------------------------------------- activations (PyTorch's)
    Op(
        "leaky_relu",
        lambda t: F.leaky_relu(t, 0.1),
        lambda a: np.where(a > 0, a, 0.1 * a),
        domains=(NO_KINK,),
    ),
    Op("elu", F.elu, lambda a: np.where(a > 0, a, np.expm1(np.minimum(a, 0))), domains=(NO_KINK,)),
    Op("gelu", F.gelu, lambda a: 0.5 * a * (1 + special.erf(a / np.sqrt(2)))),
    Op(
        "gelu_tanh",
        lambda t: F.gelu(t, approximate="tanh"),
        lambda a: 0.5 * a * (1 + np.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a**3))),
    ),
    Op("erf", ops.Erf.apply, special.erf),
    Op("silu", F.silu, lambda a: a * special.expit(a), domains=(WIDE,)),
    Op("softplus", F.softplus, lambda a: np.logaddexp(0, a), domains=(WIDE,)),
    Op(
        "softplus_beta_threshold",
        lambda t: F.softplus(t, beta=2.0, threshold=1.0),
        lambda a: np.where(2 * a > 1, a, np.logaddexp(0, 2 * a) / 2),
        domains=(Domain(avoid=(0.5,)),),
    ),
    Op("mish", F.mish, lambda a: a * np.tanh(np.logaddexp(0, a))),
    Op(
        "hardswish",
        F.hardswish,
        lambda a: a * np.clip(a + 3, 0, 6) / 6,
        domains=(Domain(-4.0, 4.0, avoid=(-3.0, 3.0)),),
    ),
    Op(
        "relu6", F.relu6, lambda a: np.clip(a, 0, 6), domains=(Domain(-2.0, 8.0, avoid=(0.0, 6.0)),)
    ),
    Op("hardtanh", F.hardtanh, lambda a: np.clip(a, -1, 1), domains=(Domain(avoid=(-1.0, 1.0)),)),
    Op("logsigmoid", F.logsigmoid, lambda a: -np.logaddexp(0, -a), domains=(WIDE,)),
    # ---------------------------------------------------------------- reductions
    Op("prod", Tensor.prod, np.prod, domains=(SMALL,), params=reduction_params),
    Op("prod_with_zeros", Tensor.prod, np.prod, domains=(WITH_ZEROS,), params=reduction_params),
    Op("var", Tensor.var, np.var, params=ddof_params),
    Op("std", Tensor.std, np.std, domains=(DISTINCT,), params=ddof_params),
    Op("cumsum", Tensor.cumsum, np.cumsum, params=scan_params),
    Op(
        "cumprod",
        Tensor.cumprod,
        np.cumprod,
        domains=(Domain(-1.5, 1.5, avoid=(0.0,), margin=0.1),),
        params=scan_params,
    ),
    Op("cumprod_with_zeros", Tensor.cumprod, np.cumprod, domains=(WITH_ZEROS,), params=scan_params),
    Op(
        "logsumexp",
        Tensor.logsumexp,
        lambda a, axis, keepdims: np.log(np.sum(np.exp(a), axis=axis, keepdims=keepdims)),
        domains=(WIDE,),
        params=reduction_params,
    ),
    Op("norm", Tensor.norm, np.linalg.norm, domains=(NO_KINK,)),
    Op("norm_vector", Tensor.norm, np.linalg.norm, ONE_ND, (NO_KINK,), vector_norm_params),
    Op(
        "norm_max_min",
        Tensor.norm,
        np.linalg.norm,
        ONE_ND,
        (Domain(0.1, 3.0, distinct=True, margin=1e-2),),
        extreme_norm_params,
    ),
    Op("norm_fro", lambda t: t.norm("fro"), lambda a: np.linalg.norm(a, "fro"), MATRIX, (NO_KINK,)),
    # ---------------------------------------------------------------- shape
    Op("squeeze", Tensor.squeeze, np.squeeze, params=squeeze_params),
    Op("expand_dims", Tensor.expand_dims, np.expand_dims, params=expand_dims_params),
    Op("unsqueeze", lambda t, axis: t.unsqueeze(axis), np.expand_dims, params=expand_dims_params),
    Op("flip", Tensor.flip, np.flip, params=optional_axis_params),
    Op("pad", tnn.pad, np.pad, ONE_ND, params=pad_params),
    Op(
        "pad_reflect",
        lambda t: tnn.pad(t, 1, mode="reflect"),
        lambda a: np.pad(a, 1, mode="reflect"),
        tst.shapes(min_side=2).map(lambda s: (s,)),
    ),
    Op("repeat", Tensor.repeat, np.repeat, params=repeat_params),
    Op("tile", Tensor.tile, np.tile, params=tile_params),
    Op("roll", Tensor.roll, np.roll, params=roll_params),
    Op(
        "array_split",
        lambda t, sections, axis: tnn.concatenate(
            [p * (i + 1.0) for i, p in enumerate(tnn.array_split(t, sections, axis))], axis
        ),
        lambda a, sections, axis: np.concatenate(
            [p * (i + 1.0) for i, p in enumerate(np.array_split(a, sections, axis))], axis
        ),
        ONE_ND,
        params=split_params,
    ),
    Op(
        "vstack",
        lambda *ts: tnn.vstack(ts),
        lambda *arrays: np.vstack(arrays),
        STACK.filter(lambda s: len(s[0]) <= 2),
    ),
    Op("hstack", lambda *ts: tnn.hstack(ts), lambda *arrays: np.hstack(arrays), STACK),
    Op("moveaxis", Tensor.moveaxis, np.moveaxis, ONE_ND, params=moveaxis_params),
    Op(
        "swapaxes",
        Tensor.swapaxes,
        np.swapaxes,
        AT_LEAST_2D,
        params=two_axes_params,
    ),
    Op("broadcast_to", Tensor.broadcast_to, np.broadcast_to, params=broadcast_to_params),
    Op(
        "diagonal",
        Tensor.diagonal,
        np.diagonal,
        AT_LEAST_2D,
        params=diagonal_params,
    ),
    Op(
        "trace",
        Tensor.trace,
        np.trace,
        AT_LEAST_2D,
        params=diagonal_params,
    ),
    Op("triu", Tensor.triu, np.triu, AT_LEAST_2D, params=k_params),
    Op("tril", Tensor.tril, np.tril, AT_LEAST_2D, params=k_params),
    Op("take_along_axis", tnn.take_along_axis, np.take_along_axis, ONE_ND, params=take_params),
    Op("sort", tnn.sort, np.sort, ONE_ND, (DISTINCT,), params=sort_params),
    # more of NumPy's array manipulation (peers' suites use them)
    Op("atleast_1d", tnn.atleast_1d, np.atleast_1d),
    Op("atleast_2d", tnn.atleast_2d, np.atleast_2d),
    Op("atleast_3d", tnn.atleast_3d, np.atleast_3d),
    Op("dstack", lambda *ts: tnn.dstack(ts), lambda *arrays: np.dstack(arrays), STACK),
    Op(
        "column_stack",
        lambda *ts: tnn.column_stack(ts),
        lambda *arrays: np.column_stack(arrays),
        STACK.filter(lambda s: 1 <= len(s[0]) <= 2),
    ),
    Op("fliplr", tnn.fliplr, np.fliplr, AT_LEAST_2D),
    Op("flipud", tnn.flipud, np.flipud, ONE_ND),
    Op(
        "rot90",
        tnn.rot90,
        np.rot90,
        AT_LEAST_2D,
        params=lambda shapes, dtype: two_axes_params(shapes, dtype).flatmap(
            lambda p: st.integers(-5, 5).map(lambda k: {"k": k, "axes": (p["axis1"], p["axis2"])})
        ),
    ),
    Op(
        "diag_vector",
        tnn.diag,
        np.diag,
        tst.shapes(min_dims=1, max_dims=1).map(lambda s: (s,)),
        params=k_params,
    ),
    Op("diag_matrix", tnn.diag, np.diag, MATRIX, params=k_params),
    Op(
        "diff",
        tnn.diff,
        np.diff,
        ONE_ND,
        params=lambda shapes, dtype: st.fixed_dictionaries(
            {"n": st.integers(0, 3), "axis": st.integers(-len(shapes[0]), len(shapes[0]) - 1)}
        ),
    ),
    Op(
        "average_weighted",
        lambda t, w, axis: tnn.average(t, axis=axis, weights=w),
        lambda a, w, axis: np.average(a, axis=axis, weights=w),
        ONE.map(lambda s: (s[0], s[0])),
        (ANY, POSITIVE),
        params=lambda shapes, dtype: st.fixed_dictionaries(
            {"axis": st.none() | st.integers(0, len(shapes[0]) - 1) if shapes[0] else st.none()}
        ),
    ),
    # ---------------------------------------------------------------- linear algebra
    Op("dot", tnn.dot, np.dot, DOT),
    Op("outer", tnn.outer, np.outer, PAIR_OF_ANY),
    Op("inner", tnn.inner, np.inner, INNER),
    Op("tensordot", tnn.tensordot, np.tensordot, TENSORDOT, params=tensordot_params),
    Op(
        "einsum",
        lambda *ts, subscripts: tnn.einsum(subscripts, *ts),
        lambda *arrays, subscripts: np.einsum(subscripts, *arrays),
        EINSUM,
        params=einsum_params,
    ),
    Op("kron", tnn.kron, np.kron, PAIR_OF_ANY),
    # ---------------------------------------------------------------- PyTorch spellings, fused loss
    Op(
        "permute",
        lambda t, axes: t.permute(*(range(t.ndim)[::-1] if axes is None else axes)),
        lambda a, axes: np.transpose(a, axes),
        params=transpose_params,
    ),
    Op(
        "view",
        lambda t, shape, packed: t.view(shape),
        lambda a, shape, packed: np.reshape(a, shape),
        params=reshape_params,
    ),
    Op("clone", Tensor.clone, np.copy),
    Op(
        "sum_dim",
        lambda t, axis, keepdims: t.sum(dim=axis, keepdims=keepdims),
        np.sum,
        params=reduction_params,
    ),
    Op(
        "absolute_error",
        lambda p, target, reduction: tnn.losses.absolute_error(p, target, reduction),
        lambda p, target, reduction: _reduce(np.abs(p - target), reduction),
        domains=(OFF_HALVES,),
        params=lambda shapes, dtype: st.fixed_dictionaries(
            {"target": HALF.arrays(shapes[0], dtype), "reduction": REDUCTION}
        ),
    ),
    Op(
        "cross_entropy",
        lambda logits, labels, reduction: tnn.losses.cross_entropy(
            logits, labels, reduction=reduction
        ),
        lambda logits, labels, reduction: _reduce(
            -special.log_softmax(logits, axis=-1)[np.arange(len(labels)), labels], reduction
        ),
        tst.shapes(min_dims=2, max_dims=2).map(lambda shape: (shape,)),
        params=lambda shapes, dtype: st.fixed_dictionaries(
            {
                "labels": hnp.arrays(
                    np.int64, shapes[0][:1], elements=st.integers(0, shapes[0][1] - 1)
                ),
                "reduction": REDUCTION,
            }
        ),
    ),
    # ---------------------------------------------------------------- convolution, NCHW
    Op(
        "conv2d",
        lambda x, w, stride, padding: F.conv2d(x, w, stride=stride, padding=padding),
        lambda x, w, stride, padding: _conv2d_reference(x, w, stride, padding),
        st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(3, 5), st.integers(1, 2)).map(
            lambda n_c_h_o: (
                (n_c_h_o[0], n_c_h_o[1], n_c_h_o[2], n_c_h_o[2]),
                (n_c_h_o[3], n_c_h_o[1], 2, 2),
            )
        ),
        params=lambda shapes, dtype: st.fixed_dictionaries(
            {"stride": st.sampled_from([1, 2]), "padding": st.sampled_from([0, 1])}
        ),
    ),
    Op(
        "max_pool2d",
        lambda x: F.max_pool2d(x, 2),
        lambda x: x.reshape(*x.shape[:2], x.shape[2] // 2, 2, x.shape[3] // 2, 2).max(axis=(3, 5)),
        st.tuples(st.integers(1, 2), st.integers(1, 2)).map(lambda n_c: ((*n_c, 4, 4),)),
        (Domain(distinct=True),),
    ),
    Op(
        "avg_pool2d",
        lambda x: F.avg_pool2d(x, 2),
        lambda x: x.reshape(*x.shape[:2], x.shape[2] // 2, 2, x.shape[3] // 2, 2).mean(axis=(3, 5)),
        st.tuples(st.integers(1, 2), st.integers(1, 2)).map(lambda n_c: ((*n_c, 4, 4),)),
    ),
    Op(
        "l1_penalty",
        lambda *ts: tnn.losses.l1_penalty(ts),
        lambda *a: sum(np.abs(x).sum() for x in a),
        TWO,
        (NO_KINK,),
    ),
    Op(
        "l2_penalty",
        lambda *ts: tnn.losses.l2_penalty(ts),
        lambda *a: sum((x * x).sum() for x in a),
        TWO,
    ),
    Op(
        "squared_error",
        lambda p, t, reduction: tnn.losses.squared_error(p, t, reduction),
        lambda p, t, reduction: _reduce((p - t) ** 2, reduction),
        ONE.map(lambda s: (s[0], s[0])),
        params=lambda shapes, dtype: st.fixed_dictionaries({"reduction": REDUCTION}),
    ),
]

# Examples per op and test: the table has ~140 rows and three tests each, so a few examples
# per row keep it within CI's budget; every row still meets 0-d, size-1 and broadcast shapes
# across runs (hypothesis' database and its bias towards small shapes).
TABLE_EXAMPLES = 12
SECOND_ORDER_EXAMPLES = 6

# astype(float64) turns float32 into float64 by request: the one op whose output is not float32.
CHANGES_DTYPE = {"astype_float64"}


@st.composite
def cases(draw: Any, op: Op, dtype: Any = np.float64) -> tuple[list[np.ndarray], dict]:
    """Draw the arrays (one per shape) and params of one example of ``op``."""
    shapes = draw(op.shapes)
    arrays = [draw(op.domain(i).arrays(shape, dtype)) for i, shape in enumerate(shapes)]
    params = draw(op.params(shapes, dtype))
    return arrays, params


def assert_unchanged(tensors: list[Tensor], copies: list[np.ndarray]) -> None:
    for position, (tensor, copy) in enumerate(zip(tensors, copies, strict=True)):
        assert tensor.data.dtype == copy.dtype
        assert np.array_equal(tensor.data, copy), f"input {position} was modified in place"


def test_table_covers_every_op_once() -> None:
    names = [op.name for op in OPS]
    assert len(names) == len(set(names))


def _float32_params(params: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value.astype(np.float32)
        if isinstance(value, np.ndarray) and value.dtype == np.float64
        else value
        for key, value in params.items()
    }


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
@settings(max_examples=TABLE_EXAMPLES)
@given(data=st.data())
def test_forward_matches_numpy_in_float64_and_float32(op: Op, data: st.DataObject) -> None:
    arrays, params = data.draw(cases(op))
    expected = np.asarray(op.reference(*arrays, **params))

    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    out = op.fn(*tensors, **params)
    assert isinstance(out, Tensor)
    assert out.dtype == np.float64
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-12)
    assert_unchanged(tensors, arrays)

    # The same values in float32: the output and every gradient stay float32.
    narrow = [a.astype(np.float32) for a in arrays]
    tensors = [Tensor(a, requires_grad=True) for a in narrow]
    out = op.fn(*tensors, **_float32_params(params))
    assert out.dtype == (np.float64 if op.name in CHANGES_DTYPE else np.float32)
    np.testing.assert_allclose(out.data, expected, rtol=1e-4, atol=1e-4)
    out.backward(np.ones(out.shape, dtype=out.dtype))
    for tensor in tensors:
        assert tensor.grad is not None
        assert tensor.grad.dtype == np.float32
        assert tensor.grad.shape == tensor.shape
    assert_unchanged(tensors, narrow)


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
@settings(max_examples=TABLE_EXAMPLES)
@given(data=st.data())
def test_gradient_matches_finite_differences(op: Op, data: st.DataObject) -> None:
    arrays, params = data.draw(cases(op))
    assert gradcheck(lambda *tensors: op.fn(*tensors, **params), *arrays)


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
@settings(max_examples=SECOND_ORDER_EXAMPLES)
@given(data=st.data())
def test_second_order_gradient_matches_finite_differences(op: Op, data: st.DataObject) -> None:
    arrays, params = data.draw(cases(op))
    assert gradgradcheck(lambda *tensors: op.fn(*tensors, **params), *arrays)


def _directional_gradient(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """``x -> <d sum(g * fn(x)) / dx, v>`` for fixed random ``g`` and ``v``, built with
    ``create_graph=True``: its second derivative is ``fn``'s third."""
    rng = np.random.default_rng(1)
    fixed: dict[str, Any] = {}

    def directional(*tensors: Tensor) -> Tensor:
        out = fn(*tensors)
        leaves = [t for t in tensors if isinstance(t, Tensor) and t.requires_grad]
        if not out.requires_grad or not leaves:
            return (out * 0.0).sum()
        if not fixed:
            fixed["g"] = rng.standard_normal(out.shape)
            fixed["v"] = [rng.standard_normal(t.shape) for t in leaves]
        grads = tnn.gradients(out, leaves, fixed["g"], create_graph=True, allow_unused=True)
        terms = [(g * v).sum() for g, v in zip(grads, fixed["v"], strict=True) if g is not None]
        return functools.reduce(operator.add, terms) if terms else (out * 0.0).sum()

    return directional


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
@settings(max_examples=1)
@given(data=st.data())
def test_third_order_gradient_matches_finite_differences(op: Op, data: st.DataObject) -> None:
    arrays, params = data.draw(cases(op))
    directional = _directional_gradient(lambda *tensors: op.fn(*tensors, **params))
    assert gradgradcheck(directional, *arrays, atol=1e-4, rtol=1e-3)


def test_every_op_has_a_row() -> None:
    """Each `tinygrad_nn.ops` Function runs in some row, forward or in a backward pass
    (on each row's first example, hypothesis' simplest: the smallest shapes and values)."""
    used: set[type] = set()
    first = settings(max_examples=1, phases=[Phase.generate], database=None)

    def record(op: type, inputs: Any, kwargs: Any, output: Any) -> None:
        used.add(op)

    for op in OPS:
        arrays, params = find(cases(op), lambda _: True, settings=first)
        previous = set_recorder(record)
        try:
            leaves = [Tensor(a, requires_grad=True) for a in arrays]
            out = op.fn(*leaves, **params)
            if out.requires_grad:
                grads = tnn.gradients(
                    out, leaves, np.ones(out.shape), create_graph=True, allow_unused=True
                )
                total = functools.reduce(operator.add, [g.sum() for g in grads if g is not None])
                if total.requires_grad:
                    tnn.gradients(total, leaves, allow_unused=True)
        finally:
            set_recorder(previous)
    functions = {
        cls
        for name in ops.__all__
        if isinstance(cls := getattr(ops, name), type) and issubclass(cls, tnn.Function)
    }
    missing = sorted(cls.__name__ for cls in functions - used)
    assert not missing, f"ops without a row in the table of tests/test_ops.py: {missing}"


# ---------------------------------------------------------------------- beyond the table


@pytest.mark.parametrize("reduce", ["max", "min"])
@given(data=st.data())
def test_max_and_min_ties_share_the_gradient_equally(reduce: str, data: st.DataObject) -> None:
    # Values from {-1, 0, 1} make ties the rule rather than the exception.
    x = data.draw(hnp.arrays(np.float64, tst.shapes(), elements=st.sampled_from([-1.0, 0.0, 1.0])))
    params = data.draw(reduction_params((x.shape,), np.float64))
    upstream_shape = getattr(np, reduce)(x, **params).shape
    upstream = data.draw(tst.arrays(upstream_shape))
    t = Tensor(x, requires_grad=True)
    getattr(t, reduce)(**params).backward(upstream)

    axis, keepdims = params["axis"], params["keepdims"]
    is_winner = x == getattr(np, reduce)(x, axis=axis, keepdims=True)
    count = is_winner.sum(axis=axis, keepdims=True)
    if axis is None:
        spread = np.reshape(upstream, (1,) * x.ndim)
    elif keepdims:
        spread = upstream
    else:
        spread = np.expand_dims(upstream, axis)
    np.testing.assert_allclose(t.grad, is_winner * spread / count, rtol=1e-12)
    # Whatever the ties, the gradient still sums to the upstream gradient.
    assert np.isclose(t.grad.sum(), np.sum(upstream))


def test_max_tie_example() -> None:
    t = Tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], requires_grad=True)
    t.max(axis=1).sum().backward()
    np.testing.assert_allclose(t.grad, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])


def test_sigmoid_is_stable_at_plus_and_minus_800() -> None:
    for dtype in (np.float64, np.float32):
        t = Tensor(np.array([-800.0, -40.0, 0.0, 40.0, 800.0], dtype=dtype), requires_grad=True)
        out = t.sigmoid()
        out.sum().backward()
        assert out.dtype == dtype and t.grad.dtype == dtype
        assert np.isfinite(out.data).all() and np.isfinite(t.grad).all()
        np.testing.assert_allclose(out.data, special.expit(t.data.astype(np.float64)), atol=1e-7)
        assert out.data[0] == 0.0 and out.data[-1] == 1.0
        assert t.grad[0] == 0.0 and t.grad[-1] == 0.0 and t.grad[2] == 0.25


@pytest.mark.parametrize("offset", [1000.0, -1000.0, 1e6])
def test_softmax_and_log_softmax_are_stable_for_large_logits(offset: float) -> None:
    logits = np.array([[0.0, 1.0, 2.0], [5.0, 5.0, -3.0]]) + offset
    t = Tensor(logits, requires_grad=True)
    probs = t.softmax()
    log_probs = t.log_softmax()
    assert np.isfinite(probs.data).all() and np.isfinite(log_probs.data).all()
    np.testing.assert_allclose(probs.data.sum(axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(probs.data, special.softmax(logits - offset, axis=-1))
    np.testing.assert_allclose(
        log_probs.data, special.log_softmax(logits - offset, axis=-1), atol=1e-9
    )
    (probs * Tensor([[1.0, -2.0, 0.5], [0.0, 1.0, 3.0]])).sum().backward()
    assert np.isfinite(t.grad).all()
    # softmax is shift invariant, so its gradient is too: compare with the unshifted logits.
    s = Tensor(logits - offset, requires_grad=True)
    (s.softmax() * Tensor([[1.0, -2.0, 0.5], [0.0, 1.0, 3.0]])).sum().backward()
    np.testing.assert_allclose(t.grad, s.grad, atol=1e-12)


@given(tst.arrays(tst.shapes(min_dims=1), min_value=-50.0, max_value=50.0), st.data())
def test_softmax_rows_sum_to_one(x: np.ndarray, data: st.DataObject) -> None:
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    probs = Tensor(x).softmax(axis=axis).data
    assert (probs >= 0).all()
    np.testing.assert_allclose(probs.sum(axis=axis), 1.0, rtol=1e-12)


def test_integer_index_with_repeats_accumulates() -> None:
    t = Tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    t[[0, 0, 2, -4]].sum().backward()
    np.testing.assert_array_equal(t.grad, [3.0, 0.0, 1.0, 0.0])
    m = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    (m[np.array([1, 1]), np.array([2, 2])] * Tensor([10.0, 1.0])).sum().backward()
    np.testing.assert_array_equal(m.grad, [[0, 0, 0], [0, 0, 11.0]])


def test_boolean_mask_index_gradient() -> None:
    t = Tensor([[1.0, -2.0], [-3.0, 4.0]], requires_grad=True)
    picked = t[t > 0]
    np.testing.assert_array_equal(picked.data, [1.0, 4.0])
    (picked * Tensor([2.0, 3.0])).sum().backward()
    np.testing.assert_array_equal(t.grad, [[2.0, 0.0], [0.0, 3.0]])


SCALAR_EXPRESSIONS: list[tuple[str, Callable[[Tensor], Tensor]]] = [
    ("t + 2", lambda t: t + 2),
    ("2 + t", lambda t: 2 + t),
    ("t - 1.5", lambda t: t - 1.5),
    ("1.5 - t", lambda t: 1.5 - t),
    ("t * 3", lambda t: t * 3),
    ("-0.5 * t", lambda t: -0.5 * t),
    ("t / 4", lambda t: t / 4),
    ("10 / t", lambda t: 10 / t),
    ("t ** 2", lambda t: t**2),
    ("t ** 3", lambda t: t**3),
    ("t ** 0.5", lambda t: t**0.5),
    ("2.0 ** t", lambda t: 2.0**t),
    ("2 ** t", lambda t: 2**t),
    ("np.float64(2) * t", lambda t: np.float64(2.0) * t),
    ("t * np.float64(2)", lambda t: t * np.float64(2.0)),
    ("-t", lambda t: -t),
    ("where(t > 1, t, 0.0)", lambda t: tnn.where(t > 1, t, 0.0)),
    ("where(t > 1, 0.0, t)", lambda t: tnn.where(t > 1, 0.0, t)),
    ("t.clip(0.75, 1.5)", lambda t: t.clip(0.75, 1.5)),
    ("t.mean()", lambda t: t.mean()),
    ("t.softmax()", lambda t: t.softmax()),
    ("t.log_softmax()", lambda t: t.log_softmax()),
]


@pytest.mark.parametrize(
    "expression", [e for _, e in SCALAR_EXPRESSIONS], ids=[n for n, _ in SCALAR_EXPRESSIONS]
)
def test_python_scalars_keep_float32(expression: Callable[[Tensor], Tensor]) -> None:
    data = np.array([[0.5, 1.25, 2.0], [1.1, 0.9, 1.7]], dtype=np.float32)
    t = Tensor(data, requires_grad=True)
    out = expression(t)
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape, dtype=np.float32))
    assert t.grad.dtype == np.float32
    wide = Tensor(data.astype(np.float64), requires_grad=True)
    expected = expression(wide)
    expected.backward(np.ones(expected.shape))
    np.testing.assert_allclose(out.data, expected.data, rtol=1e-5)
    np.testing.assert_allclose(t.grad, wide.grad, rtol=1e-5, atol=1e-6)
    assert np.array_equal(t.data, data)


@pytest.mark.parametrize(("source", "target"), [(np.float64, np.float32), (np.float32, np.float64)])
def test_astype_converts_values_and_gradients(source: Any, target: Any) -> None:
    t = Tensor(np.array([[0.1, -2.5], [3.0, 0.7]], dtype=source), requires_grad=True)
    out = t.astype(target)
    assert out.dtype == target
    np.testing.assert_array_equal(out.data, t.data.astype(target))
    upstream = np.array([[1.0, 2.0], [-3.0, 0.25]], dtype=target)
    out.backward(upstream)
    assert t.grad.dtype == source
    np.testing.assert_array_equal(t.grad, upstream.astype(source))


@pytest.mark.parametrize("x_shape", [(3,), (2, 3), (2, 4, 3)], ids=["1d", "2d", "3d"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_linear_is_x_at_weight_t_plus_bias(x_shape: Shape, bias: bool) -> None:
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=x_shape), rng.normal(size=(5, 3)), rng.normal(size=5)
    inputs = (x, w, b) if bias else (x, w)
    out = F.linear(*(Tensor(a) for a in inputs))
    assert out.shape == (*x_shape[:-1], 5)
    np.testing.assert_allclose(out.data, _linear_reference(*inputs), rtol=1e-12)
    assert gradcheck(F.linear, *inputs)


@pytest.mark.parametrize(
    ("a_shape", "b_shape"),
    [
        ((3,), (3,)),
        ((3,), (3, 2)),
        ((2, 3), (3,)),
        ((4, 2, 3), (3, 2)),
        ((3,), (4, 3, 2)),
        ((1, 2, 3), (5, 3, 4)),
        ((5, 1, 2, 3), (4, 3, 1)),
    ],
)
def test_matmul_matches_np_matmul_on_1d_and_batched_operands(a_shape: Shape, b_shape: Shape):
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=a_shape), rng.normal(size=b_shape)
    out = Tensor(a) @ Tensor(b)
    expected = np.matmul(a, b)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    assert gradcheck(lambda x, y: x @ y, a, b)


def test_functional_forms_equal_the_methods() -> None:
    x = Tensor(np.linspace(-2.0, 2.0, 12).reshape(3, 4) + 0.05)
    for function, method in [
        (F.relu, Tensor.relu),
        (F.sigmoid, Tensor.sigmoid),
        (F.tanh, Tensor.tanh),
        (F.softmax, Tensor.softmax),
        (F.log_softmax, Tensor.log_softmax),
    ]:
        np.testing.assert_array_equal(function(x).data, method(x).data)
