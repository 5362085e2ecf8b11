"""`gradcheck`: compare autodiff gradients with central finite differences in float64.

For a function ``fn`` of Tensors with a (possibly non-scalar) output ``out``, the check
draws a random upstream gradient ``g`` of ``out``'s shape (1 for a single element) and
compares, for every input ``x`` that requires grad and every element ``i``::

    analytic[i] = d/dx[i] sum(g * fn(x))     from out.backward(g)
    numeric[i]  = (L(x + eps e_i) - L(x - eps e_i)) / (2 eps),  L(x) = sum(g * fn(x))

An element passes when ``|analytic - numeric| <= atol + rtol * |numeric|`` (the rule of
``np.allclose``). The error of a central difference is about ``eps**2 * f'''`` from
truncation plus ``1e-16 * |L| / eps`` from rounding, both far below the default ``atol``
for well-conditioned functions of values of order 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tinygrad_nn._random import as_generator
from tinygrad_nn.autograd import enable_grad, gradients, no_grad
from tinygrad_nn.tensor import Tensor

__all__ = ["assert_gradients_close", "central_differences", "gradcheck", "gradgradcheck"]


def central_differences(
    objective: Callable[[], float], array: np.ndarray, eps: float
) -> np.ndarray:
    """Numerical gradient of ``objective()`` with respect to ``array``, perturbed in place.

    Each element of ``array`` is moved by ``+eps`` and ``-eps`` in turn, ``objective`` is
    evaluated, and the element is restored exactly, so ``array`` is unchanged afterwards.

    Args:
        objective: Reads ``array`` (through whatever holds it) and returns a float.
        array: A float64 array, modified during the call and restored.
        eps: The step.

    Returns:
        An array of ``array``'s shape: ``(f(x + eps) - f(x - eps)) / (2 eps)`` per element.

    Example:
        >>> x = np.array([1.0, 2.0])
        >>> central_differences(lambda: float((x**2).sum()), x, 1e-6).round(6)
        array([2., 4.])
    """
    numeric = np.zeros(array.shape, dtype=np.float64)
    for index in np.ndindex(array.shape):
        original = array[index]
        try:
            array[index] = original + eps
            plus = objective()
            array[index] = original - eps
            minus = objective()
        finally:
            array[index] = original
        numeric[index] = (plus - minus) / (2 * eps)
    return numeric


def _describe(position: int, tensor: Tensor) -> str:
    name = f"{tensor.name!r}, " if tensor.name else ""
    return f"input {position} ({name}shape {tensor.shape})"


def assert_gradients_close(
    label: str,
    analytic: np.ndarray,
    numeric: np.ndarray,
    *,
    atol: float,
    rtol: float,
    caller: str = "gradcheck",
    against: str = "finite differences",
    hint: str = "",
) -> None:
    """Raise AssertionError naming ``label`` and the worst element unless the two agree.

    Elements agree when ``|analytic - numeric| <= atol + rtol * |numeric|``; NaN never
    agrees. The message gives the index, both values and the worst absolute and relative
    errors over all elements. ``against`` names where ``numeric`` came from.
    """
    if analytic.shape != numeric.shape:
        raise AssertionError(
            f"{caller}: the gradient of {label} has shape {analytic.shape}, expected "
            f"{numeric.shape}"
        )
    analytic = np.asarray(analytic, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        abs_error = np.abs(analytic - numeric)
        allowed = atol + rtol * np.abs(numeric)
        bad = ~(abs_error <= allowed)
    if not bad.any():
        return
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        excess = np.where(bad, abs_error - allowed, -np.inf)
        excess = np.where(np.isnan(excess), np.inf, excess)
        relative = np.where(abs_error == 0, 0.0, abs_error / np.abs(numeric))
    kind = "numeric" if against == "finite differences" else "reference"
    if not np.isfinite(numeric).all():
        hint = (
            " The expected gradient is not finite: the function is undefined (NaN or inf)"
            " near the input; keep inputs inside its domain." + hint
        )
    worst = np.unravel_index(int(np.argmax(excess)), excess.shape) if excess.ndim else ()
    worst_abs = float(np.nanmax(abs_error)) if not np.isnan(abs_error).all() else float("nan")
    worst_rel = float(np.nanmax(relative)) if not np.isnan(relative).all() else float("nan")
    raise AssertionError(
        f"{caller}: the gradient of {label} does not match {against} at index "
        f"{tuple(int(i) for i in worst)}: analytic {float(analytic[worst])!r}, {kind} "
        f"{float(numeric[worst])!r}. Worst absolute error {worst_abs:.3g}, worst relative error "
        f"{worst_rel:.3g} (atol={atol}, rtol={rtol}); {int(bad.sum())} of {bad.size} "
        f"elements out of tolerance.{hint}"
    )


def _prepare(inputs: tuple[Any, ...]) -> tuple[list[Any], list[int]]:
    """float64 leaf copies of the inputs to check; everything else passes through."""
    prepared: list[Any] = []
    checked: list[int] = []
    for position, value in enumerate(inputs):
        if isinstance(value, Tensor) and value.requires_grad:
            value = Tensor(value.data.astype(np.float64), requires_grad=True, name=value.name)
            checked.append(position)
        elif isinstance(value, np.ndarray) and value.dtype.kind == "f":
            value = Tensor(value.astype(np.float64), requires_grad=True)
            checked.append(position)
        prepared.append(value)
    return prepared, checked


def _output(fn: Callable[..., Any], args: list[Any]) -> Tensor:
    out = fn(*args)
    if not isinstance(out, Tensor):
        raise TypeError(
            f"gradcheck: fn must return a Tensor, got {type(out).__name__}; wrap the result "
            "with tnn.Tensor or return a Tensor expression"
        )
    if out.dtype.kind != "f":
        raise TypeError(f"gradcheck: fn must return a floating Tensor, got dtype {out.dtype}")
    return out


def _snapshot(values: list[Any]) -> list[np.ndarray | None]:
    return [v.data.copy() if isinstance(v, Tensor) else None for v in values]


def _check_unmutated(values: list[Any], before: list[np.ndarray | None]) -> None:
    for position, (value, copy) in enumerate(zip(values, before, strict=True)):
        if copy is not None and not np.array_equal(value.data, copy, equal_nan=True):
            raise AssertionError(
                f"gradcheck: fn modified {_describe(position, value)} in place; ops must "
                "leave their inputs unchanged (copy before writing)"
            )


def gradcheck(
    fn: Callable[..., Tensor],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    seed: int | None = 0,
) -> bool:
    """Check the autodiff gradients of ``fn`` against central finite differences.

    Every input that is a float ndarray or a Tensor with ``requires_grad=True`` is checked,
    as a float64 copy; other inputs (constant Tensors, integer arrays, numbers) are passed
    through unchanged. A non-scalar output is reduced with a random upstream gradient drawn
    from ``numpy.random.default_rng(seed)``, so every output element takes part.

    Args:
        fn: Function of the inputs returning a Tensor.
        *inputs: Tensors, ndarrays or other arguments of ``fn``.
        eps: Finite-difference step.
        atol: Absolute tolerance.
        rtol: Relative tolerance (times the numeric gradient's magnitude).
        seed: Seed of the upstream gradient.

    Returns:
        True when every gradient matches.

    Raises:
        AssertionError: A gradient does not match (naming the input, the element index,
            the analytic and numeric values and the worst absolute and relative errors),
            the output is not finite, or ``fn`` modified an input.
        TypeError: ``fn`` does not return a floating Tensor.
        ValueError: No input requires grad, or ``eps`` is not positive.

    Example:
        >>> gradcheck(lambda x, w: (x @ w).tanh(), np.ones((2, 3)), np.full((3, 1), 0.1))
        True
    """
    if not callable(fn):
        raise TypeError(f"gradcheck: fn must be callable, got {type(fn).__name__}")
    if not eps > 0:
        raise ValueError(f"gradcheck: eps must be > 0, got {eps}")
    prepared, checked = _prepare(inputs)
    if not checked:
        raise ValueError(
            "gradcheck: no input to check; pass float ndarrays or Tensors created with "
            "requires_grad=True"
        )

    before = _snapshot(prepared)
    with enable_grad():
        out = _output(fn, prepared)
    if not np.isfinite(out.data).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(out.data))[0])
        raise AssertionError(
            f"gradcheck: fn's output is not finite at index {bad} ({float(out.data[bad])}); keep "
            "the inputs inside the function's domain"
        )
    rng = as_generator(seed, "gradcheck")
    upstream = np.ones(out.shape) if out.size == 1 else rng.standard_normal(out.shape)
    if out.requires_grad:
        out.backward(upstream.astype(out.dtype))
    _check_unmutated(prepared, before)

    hint = ""
    if out.dtype != np.float64:
        hint = f" Note: fn returns {out.dtype}; finite differences need float64 throughout."
    hint += (
        f" (Output shape {out.shape}, upstream gradient seed {seed}. A kink such as relu or"
        f" abs at 0, or a tie in max/min, within eps={eps} of an input also gives this.)"
    )

    for position in checked:
        tensor = prepared[position]
        analytic = tensor.grad if tensor.grad is not None else np.zeros_like(tensor.data)
        if analytic.shape != tensor.shape or analytic.dtype != tensor.dtype:
            raise AssertionError(
                f"gradcheck: the gradient of {_describe(position, tensor)} has shape "
                f"{analytic.shape} and dtype {analytic.dtype}; expected the input's "
                f"{tensor.shape} and {tensor.dtype}"
            )
        work = tensor.data.copy()
        args = list(prepared)
        args[position] = Tensor._make(work, False)

        def objective(args: list[Any] = args) -> float:
            with no_grad():
                value = _output(fn, args).data
            return float(np.sum(value.astype(np.float64) * upstream))

        numeric = central_differences(objective, work, eps)
        assert_gradients_close(
            _describe(position, tensor), analytic, numeric, atol=atol, rtol=rtol, hint=hint
        )
    return True


def gradgradcheck(
    fn: Callable[..., Tensor],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    seed: int | None = 0,
) -> bool:
    """Check second-order gradients of ``fn``: `gradcheck` applied to its backward pass.

    With a random upstream gradient ``g`` of the output and a random direction ``v_i`` for
    each checked input, the scalar ``G(x) = sum_i <d sum(g * fn(x)) / d x_i, v_i>`` is built
    from first-order gradients recorded with ``create_graph=True``; `gradcheck` then compares
    ``G``'s gradient (the backward of the backward) with finite differences of ``G``
    (first-order gradients only). Arguments, checked inputs and errors as in `gradcheck`.

    Returns:
        True when every second-order gradient matches.

    Example:
        >>> gradgradcheck(lambda x: (x * x).sigmoid(), np.array([0.5, -1.0]))
        True
    """
    if not callable(fn):
        raise TypeError(f"gradgradcheck: fn must be callable, got {type(fn).__name__}")
    prepared, checked = _prepare(inputs)
    if not checked:
        raise ValueError(
            "gradgradcheck: no input to check; pass float ndarrays or Tensors created with "
            "requires_grad=True"
        )
    rng = as_generator(seed, "gradgradcheck")
    with enable_grad():
        shape = _output(fn, prepared).shape
    upstream = np.ones(shape) if int(np.prod(shape)) == 1 else rng.standard_normal(shape)
    directions = [rng.standard_normal(prepared[p].shape) for p in checked]

    def backward_pass(*args: Any) -> Tensor:
        # In gradcheck's numeric pass the checked inputs arrive as constants: differentiate
        # fresh leaves of them instead (the value of G is the same).
        args = tuple(
            Tensor._make(a.data, True) if i in checked and not a.requires_grad else a
            for i, a in enumerate(args)
        )
        with enable_grad():
            out = _output(fn, list(args))
            if not out.requires_grad:
                return Tensor(0.0)
            grads = gradients(
                out,
                [args[p] for p in checked],
                upstream.astype(out.dtype),
                create_graph=True,
                allow_unused=True,
            )
            total = Tensor(0.0)
            for g, v in zip(grads, directions, strict=True):
                if g is not None:
                    total = total + (g * v).sum()
            return total

    try:
        return gradcheck(backward_pass, *prepared, eps=eps, atol=atol, rtol=rtol, seed=seed)
    except AssertionError as error:
        raise AssertionError(
            str(error).replace("gradcheck:", "gradgradcheck (second order):", 1)
        ) from None
