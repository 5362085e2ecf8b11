"""Kernels: ops written out as the NumPy lines a compiled step runs.

`tinygrad_nn.capture_step` compiles a recorded step into one Python function of
straight-line NumPy when every op it recorded has a kernel here: forward, backward and the
gradients' writes, with no Tensor, node or graph walk per call. A kernel restates one
op's ``forward`` and ``backward`` as source lines, with the same NumPy calls in the same
order, so a compiled step computes bitwise what eager execution computes; the shapes,
dtypes and keyword arguments are those of the recording, so a kernel chooses its lines
once (or declines, and the step is replayed through the engine instead).
tests/test_kernels.py checks every kernel against its op on drawn shapes.

A kernel is a function of a `Site` (one recorded op: its variables' names, shapes and
dtypes) returning a `Kernel`, or None where it does not apply::

    @kernel(Cube)                   # f(x) = x**3, a custom Function
    def cube_kernel(site):
        (x,) = site.args
        return Kernel(
            forward=[f"{site.out} = {x} * {x} * {x}"],
            backward=lambda g: ([], (Grad(f"3 * {x} * {x} * {g}"),)),
        )

Elementwise ops of one input are a table, `UNARY`: their forward and gradient as
templates.

Kernels are looked up by the op's exact class: a subclass of an op is replayed until it
registers a kernel of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinygrad_nn import ops
from tinygrad_nn.autograd import Function

__all__ = ["KERNELS", "UNARY", "Grad", "Kernel", "Site", "kernel"]


@dataclass(frozen=True)
class Grad:
    """One input's gradient in a kernel's backward: a NumPy expression of the input's
    shape and dtype, and whether it is a new array (not the incoming gradient, a view or
    an array another input also gets), which may then become a ``.grad`` uncopied."""

    expression: str
    fresh: bool = True


Backward = Callable[[str], tuple[list[str], tuple[Grad | None, ...]]]


@dataclass
class Kernel:
    """An op's compiled lines: ``forward`` assigns the output's variable; ``backward(g)``
    takes the name of the incoming gradient and gives the lines to run and one `Grad`
    per input (None where the input needs none)."""

    forward: list[str]
    backward: Backward


@dataclass
class Site:
    """One recorded op as a kernel sees it.

    Attributes:
        op: the op class.
        out: the output's variable name.
        args: the inputs' variable names.
        shapes, dtypes: the inputs' shapes and dtypes at recording.
        out_shape, out_dtype: the output's.
        kwargs: the keyword arguments the op was applied with.
        needs: which inputs need a gradient.
        constants: names -> values the compiled function reads as globals.
        temporaries: the names `temp` gave out.
    """

    op: type[Function]
    out: str
    args: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[np.dtype, ...]
    out_shape: tuple[int, ...]
    out_dtype: np.dtype
    kwargs: dict[str, Any]
    needs: tuple[bool, ...]
    constants: dict[str, Any] = field(default_factory=dict)
    temporaries: list[str] = field(default_factory=list)

    def constant(self, value: float) -> str:
        """The name of a number as a 0-d array of the output's dtype, which NumPy combines
        with arrays faster than a Python number, with the same result."""
        array = np.asarray(value, dtype=self.out_dtype)
        array.flags.writeable = False
        name = f"{self.out}_c{len(self.constants)}"
        self.constants[name] = array
        return name

    def dtype_name(self) -> str:
        """The name of the output's dtype."""
        name = f"{self.out_dtype.name}_dtype"
        self.constants[name] = self.out_dtype
        return name

    def temp(self, label: str) -> str:
        """A variable private to this op, e.g. a value forward keeps for backward."""
        name = f"{self.out}_{label}"
        if name not in self.temporaries:
            self.temporaries.append(name)
        return name

    def reduced(self, expression: str, index: int) -> str:
        """``expression`` (of the output's shape) summed to input ``index``'s shape, as the
        engine sums a broadcast gradient (`tinygrad_nn.autograd.unbroadcast`)."""
        if self.shapes[index] == self.out_shape:
            return expression
        return f"unbroadcast({expression}, {self.shapes[index]!r})"

    def same_dtypes(self) -> bool:
        """Whether every input has the output's dtype (else the engine casts gradients)."""
        return all(dtype == self.out_dtype for dtype in self.dtypes)


KernelFactory = Callable[[Site], Kernel | None]
KERNELS: dict[type[Function], KernelFactory] = {}


def kernel(op: type[Function]) -> Callable[[KernelFactory], KernelFactory]:
    """Register the decorated function as ``op``'s kernel."""

    def register(factory: KernelFactory) -> KernelFactory:
        KERNELS[op] = factory
        return factory

    return register


# --------------------------------------------------------------------------- elementwise


# Elementwise ops of one input: (forward, gradient) as templates over the input ``{x}``,
# the output ``{out}`` and the incoming gradient ``{g}``, the same expressions as the ops'
# forward and backward.
UNARY: dict[type[Function], tuple[str, str]] = {
    ops.Neg: ("-{x}", "-{g}"),
    ops.Exp: ("exp({x})", "{g} * {out}"),
    ops.Log: ("log({x})", "{g} / {x}"),
    ops.Square: ("{x} * {x}", "2 * {x} * {g}"),
    ops.Abs: ("absolute({x})", "{g} * sign({x})"),
    ops.Tanh: ("tanh({x})", "{g} * (1 - {out} * {out})"),
    ops.Sigmoid: ("expit({x})", "{g} * {out} * (1 - {out})"),
}


def _unary(site: Site) -> Kernel | None:
    """The kernel of an op in `UNARY`."""
    if not site.same_dtypes():
        return None
    forward, gradient = UNARY[site.op]
    (x,) = site.args
    if site.op is ops.Sigmoid:
        site.constants["expit"] = ops.core._expit or ops.core._load_expit()
    return Kernel(
        [f"{site.out} = {forward.format(x=x)}"],
        lambda g: ([], (Grad(gradient.format(x=x, out=site.out, g=g)),)),
    )


for _op in UNARY:
    kernel(_op)(_unary)


@kernel(ops.Relu)
def _relu(site: Site) -> Kernel | None:
    if not site.same_dtypes():
        return None
    (x,) = site.args
    derivative, zero = site.temp("d"), site.constant(0)
    if int(np.prod(site.out_shape)) < ops.core.RELU_SIGN_SIZE:  # as Relu.backward chooses
        derivative_line = f"{derivative} = sign({site.out})"
    else:
        derivative_line = f"{derivative} = ({site.out} > {zero}).astype({site.dtype_name()})"

    def backward(g: str) -> tuple[list[str], tuple[Grad | None, ...]]:
        return [derivative_line, f"{derivative} *= {g}"], (Grad(derivative),)

    return Kernel([f"{site.out} = maximum({x}, {zero})"], backward)


def _binary(
    site: Site, expression: str, gradients: Callable[[str], tuple[list[str], tuple[str, str]]]
) -> Kernel | None:
    """A kernel for ``out = expression`` of two inputs; ``gradients(g)`` gives the lines and
    the two gradients in the output's shape (each summed to its input's shape here)."""
    if not site.same_dtypes():
        return None

    def backward(g: str) -> tuple[list[str], tuple[Grad | None, ...]]:
        lines, expressions = gradients(g)
        grads = tuple(
            Grad(site.reduced(text, index), fresh=text != g or site.shapes[index] != site.out_shape)
            if need
            else None
            for index, (text, need) in enumerate(zip(expressions, site.needs, strict=True))
        )
        return lines, grads

    return Kernel([f"{site.out} = {expression}"], backward)


@kernel(ops.Add)
def _add(site: Site) -> Kernel | None:
    a, b = site.args
    return _binary(site, f"{a} + {b}", lambda g: ([], (g, g)))


@kernel(ops.Sub)
def _sub(site: Site) -> Kernel | None:
    a, b = site.args
    return _binary(site, f"{a} - {b}", lambda g: ([], (g, f"-{g}")))


@kernel(ops.Mul)
def _mul(site: Site) -> Kernel | None:
    a, b = site.args
    return _binary(site, f"{a} * {b}", lambda g: ([], (f"{g} * {b}", f"{g} * {a}")))


@kernel(ops.Div)
def _div(site: Site) -> Kernel | None:
    a, b = site.args
    grad_a = site.temp("ga")
    return _binary(
        site,
        f"{a} / {b}",
        lambda g: ([f"{grad_a} = {g} / {b}"], (grad_a, f"-{grad_a} * {site.out}")),
    )


# --------------------------------------------------------------------------- reductions, losses


@kernel(ops.Sum)
def _sum(site: Site) -> Kernel | None:
    (x,) = site.args
    shape = site.shapes[0]
    axis, keepdims = site.kwargs.get("axis"), bool(site.kwargs.get("keepdims", False))
    if axis is None:
        reduced = tuple(range(len(shape)))
        arguments = "keepdims=True" if keepdims else ""
    else:
        axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
        reduced = tuple(int(a) % len(shape) for a in axes) if shape else ()
        written = int(axis) if np.ndim(axis) == 0 else tuple(int(a) for a in axes)
        arguments = f"axis={written!r}, keepdims={keepdims}"
    # the gradient, reshaped to broadcast against the input (the reduced axes kept as 1)
    kept = tuple(1 if index in reduced else size for index, size in enumerate(shape))
    grad = site.temp("g")

    def backward(g: str) -> tuple[list[str], tuple[Grad | None, ...]]:
        source = g if keepdims or kept == site.out_shape else f"{g}.reshape({kept!r})"
        return [f"{grad} = empty({shape!r}, {site.dtype_name()})", f"{grad}[...] = {source}"], (
            Grad(grad),
        )

    return Kernel([f"{site.out} = {x}.sum({arguments})"], backward)


@kernel(ops.SquaredError)
def _squared_error(site: Site) -> Kernel | None:
    pred, target = site.args
    reduction = site.kwargs.get("reduction", "sum")
    size = int(np.prod(site.shapes[0]))
    # Broadcasting inputs (possible through ops.SquaredError.apply, never through the
    # losses) would need the broadcast size and reduced gradients: left to the engine.
    if (
        reduction not in ("sum", "mean")
        or not site.same_dtypes()
        or size == 0
        or site.shapes[0] != site.shapes[1]
    ):
        return None
    diff, flat, grad = site.temp("diff"), site.temp("flat"), site.temp("gp")
    forward = [f"{diff} = {pred} - {target}", f"{flat} = {diff}.reshape(-1)"]
    if size <= ops.core.SQUARED_ERROR_DOT_SIZE:  # as SquaredError.forward chooses
        total = f"dot({flat}, {flat})"
    else:
        total = f"einsum('i,i->', {flat}, {flat})"
    if reduction == "sum":
        forward.append(f"{site.out} = asarray({total}, dtype={site.dtype_name()})")
    else:
        forward.append(f"{site.out} = asarray({total} / {size}, dtype={site.dtype_name()})")

    def backward(g: str) -> tuple[list[str], tuple[Grad | None, ...]]:
        factor = f"{g} * (2.0 / {size})" if reduction == "mean" else f"{g} * 2.0"
        lines = [f"{grad} = {diff} * ({factor})"]
        grads = (
            Grad(grad) if site.needs[0] else None,
            Grad(f"-{grad}") if site.needs[1] else None,
        )
        return lines, grads

    return Kernel(forward, backward)


# --------------------------------------------------------------------------- shape


@kernel(ops.Reshape)
def _reshape(site: Site) -> Kernel | None:
    (x,) = site.args
    shape = site.shapes[0]
    return Kernel(
        [f"{site.out} = {x}.reshape({site.out_shape!r})"],
        lambda g: ([], (Grad(f"{g}.reshape({shape!r})", fresh=False),)),  # views
    )


@kernel(ops.Transpose)
def _transpose(site: Site) -> Kernel | None:
    (x,) = site.args
    axes = site.kwargs.get("axes")
    if axes is not None:
        axes = tuple(int(a) % len(site.shapes[0]) for a in axes)
    inverse = None if axes is None else tuple(int(a) for a in np.argsort(axes))
    return Kernel(
        [f"{site.out} = transpose({x}, {axes!r})"],
        lambda g: ([], (Grad(f"transpose({g}, {inverse!r})", fresh=False),)),  # views
    )


# --------------------------------------------------------------------------- linear algebra


@kernel(ops.Linear)
def _linear(site: Site) -> Kernel | None:
    if len(site.args) != 3 or len(site.shapes[0]) != 2:
        return None
    x, weight, bias = site.args
    weight_dtype = site.dtypes[1]
    if site.dtypes[2] != weight_dtype or (site.dtypes[0] != weight_dtype and site.needs[0]):
        return None
    forward = []
    if site.dtypes[0] != weight_dtype:  # the layer computes in its dtype, as forward does
        cast = site.temp("x")
        forward.append(f"{cast} = {x}.astype({site.dtype_name()})")
        x = cast
    forward += [f"{site.out} = dot({x}, {weight}.T)", f"{site.out} += {bias}"]
    ones = f"{site.out}_ones"  # a constant, not a temporary
    site.constants[ones] = ops.core._ones(site.shapes[0][0], weight_dtype)

    def backward(g: str) -> tuple[list[str], tuple[Grad | None, ...]]:
        needs = site.needs
        return [], (
            Grad(f"dot({g}, {weight})") if needs[0] else None,
            Grad(f"dot({g}.T, {x})") if needs[1] else None,
            Grad(f"dot({ones}, {g})") if needs[2] else None,
        )

    return Kernel(forward, backward)


@kernel(ops.MatMul)
def _matmul(site: Site) -> Kernel | None:
    if any(len(shape) != 2 for shape in site.shapes) or not site.same_dtypes():
        return None
    a, b = site.args

    def backward(g: str) -> tuple[list[str], tuple[Grad | None, ...]]:
        needs = site.needs
        return [], (
            Grad(f"matmul({g}, swapaxes({b}, -1, -2))") if needs[0] else None,
            Grad(f"matmul(swapaxes({a}, -1, -2), {g})") if needs[1] else None,
        )

    return Kernel([f"{site.out} = matmul({a}, {b})"], backward)
