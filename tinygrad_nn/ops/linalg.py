"""Linear algebra ops beyond matmul: einsum, with a backward that is itself einsums.

dot, inner, outer, tensordot and kron are composites in `tinygrad_nn.routines` of MatMul,
Reshape, Transpose and Mul (NumPy's own tensordot is that transpose-reshape-matmul).
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np

from tinygrad_nn.autograd import Function

__all__ = ["Einsum"]


class Einsum(Function):
    """f(x1, x2, ...) = np.einsum(subscripts, x1, x2, ...);
    df/dxi = einsum of grad with the other operands, producing xi's subscripts

    ``subscripts`` is explicit ("ij,jk->ik") and without ellipsis: `tinygrad_nn.routines.einsum`
    normalises what users write. An index repeated within one operand ("ii->i", a
    diagonal) gets its gradient through an identity matrix, and an index summed within one
    operand only ("ij->i") through a vector of ones, both constants; so every gradient is
    one more `Einsum`, differentiable again to any order.
    """

    hint = (
        "each index letter must have one size in every operand that uses it (or size 1), "
        "and each operand as many letters as axes"
    )

    @staticmethod
    def forward(ctx: Function, *operands: np.ndarray, subscripts: str) -> np.ndarray:
        ctx.save_for_backward(*operands, subscripts)
        return np.asarray(np.einsum(subscripts, *operands, optimize=len(operands) > 2))

    @staticmethod
    def backward(ctx: Function, grad: Any) -> tuple[Any, ...]:
        *operands, subscripts = ctx.saved
        inputs, output = subscripts.split("->")
        labels = inputs.split(",")
        grads: list[Any] = []  # ndarrays, or Tensors in a higher-order pass
        for position, needed in enumerate(ctx.needs_input_grad):
            if not needed:
                grads.append(None)
                continue
            spec, constants = _gradient_spec(labels, output, position, operands[position].shape)
            others = [x for i, x in enumerate(operands) if i != position]
            grads.append(np.einsum(spec, grad, *others, *constants))
        return tuple(grads)


def _gradient_spec(
    labels: list[str], output: str, position: int, shape: tuple[int, ...]
) -> tuple[str, list[np.ndarray]]:
    """The einsum (and its constant operands) that maps the output's gradient to operand
    ``position``'s: grad and the other operands in, the operand's own subscripts out."""
    own = labels[position]
    others = [label for i, label in enumerate(labels) if i != position]
    available = set(output).union(*others)
    unused = iter(sorted(set(string.ascii_letters) - set("".join(labels)) - set(output)))
    target: list[str] = []
    constant_labels: list[str] = []
    constants: list[np.ndarray] = []
    for axis, letter in enumerate(own):
        if letter in target:  # a repeat: a fresh letter tied to the first by an identity
            fresh = next(unused)
            constant_labels.append(letter + fresh)
            constants.append(np.eye(shape[axis], dtype=bool))
            target.append(fresh)
            continue
        if letter not in available:  # summed within this operand only: broadcast back
            constant_labels.append(letter)
            constants.append(np.ones(shape[axis], dtype=bool))
            available.add(letter)
        target.append(letter)
    spec = ",".join([output, *others, *constant_labels]) + "->" + "".join(target)
    return spec, constants
