"""Property tests for a custom `Function` (`check_function`) and for a model (`check_model`).

`check_function` is a hypothesis test you call from your own test: it draws shapes and
values, runs the op forward and backward in float64 and float32, and fails with
hypothesis's shrunk, minimal counterexample. `check_model` compares a model's autodiff
gradients with finite differences and, for a `tnn.nn.MLP` under the article's cost, with
the hand-written backprop of `tnn.reference.HandwrittenMLP`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tinygrad_nn.autograd import Function, enable_grad, no_grad
from tinygrad_nn.tensor import Tensor
from tinygrad_nn.testing import strategies
from tinygrad_nn.testing.gradcheck import (
    assert_gradients_close,
    central_differences,
    gradcheck,
    gradgradcheck,
)

__all__ = ["check_function", "check_model", "scaled_squared_error"]

Shape = tuple[int, ...]
# A strategy of floats, or a (min_value, max_value) range.
ElementsSpec = st.SearchStrategy[float] | tuple[float, float]


# --------------------------------------------------------------------------- check_function


def _infer_arity(function: type[Function]) -> int:
    parameters = list(inspect.signature(function.forward).parameters.values())[1:]  # drop ctx
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        raise ValueError(
            f"check_function: {function.__name__}.forward takes *arrays; pass arity= (the "
            "number of tensor inputs to draw)"
        )
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in positional and p.default is inspect.Parameter.empty for p in parameters)


def _is_range(spec: Any) -> bool:
    return (
        isinstance(spec, (tuple, list))
        and len(spec) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in spec)
    )


def _per_input_elements(elements: Any, arity: int) -> list[ElementsSpec | None]:
    """One elements spec per input from None, one spec, or a sequence of ``arity`` specs."""
    if elements is None or _is_range(elements) or isinstance(elements, st.SearchStrategy):
        return [elements] * arity
    if isinstance(elements, (tuple, list)) and len(elements) == arity:
        for spec in elements:
            if not (spec is None or _is_range(spec) or isinstance(spec, st.SearchStrategy)):
                break
        else:
            return list(elements)
    raise TypeError(
        "check_function: elements must be a strategy of floats, a (min_value, max_value) "
        f"pair, or a sequence of {arity} of those (one per input); got {elements!r}"
    )


def _shape_strategy(shapes: Any, arity: int) -> st.SearchStrategy[tuple[Shape, ...]]:
    if shapes is None:
        return strategies.broadcastable_shapes(arity)
    if isinstance(shapes, st.SearchStrategy):
        return shapes
    shapes = tuple(shapes)
    if all(isinstance(side, (int, np.integer)) for side in shapes):
        shapes = (shapes,)  # one shape for a one-input op: (2, 3) means ((2, 3),)
    fixed = tuple(tuple(int(side) for side in shape) for shape in shapes)
    return st.just(fixed)


def _array_strategy(
    shape: Shape, spec: ElementsSpec | None, avoid: Sequence[float], margin: float, distinct: bool
) -> st.SearchStrategy[np.ndarray]:
    options: dict[str, Any] = {"avoid": avoid, "margin": margin, "distinct": distinct}
    if isinstance(spec, st.SearchStrategy):
        options["elements"] = spec
    elif spec is not None:
        options["min_value"], options["max_value"] = (float(v) for v in spec)
    return strategies.arrays(shape, **options)


def _fail(name: str, message: str) -> AssertionError:
    return AssertionError(f"check_function({name}): {message}")


def _check_unchanged(name: str, tensors: list[Tensor], copies: list[np.ndarray], when: str) -> None:
    for position, (tensor, copy) in enumerate(zip(tensors, copies, strict=True)):
        if not np.array_equal(tensor.data, copy, equal_nan=True):
            raise _fail(name, f"{when} modified input {position} in place; copy before writing")


def _forward_checks(
    function: type[Function],
    arrays: list[np.ndarray],
    kwargs: Mapping[str, Any],
    reference: Callable[..., Any] | None,
) -> None:
    name = function.__name__
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    copies = [a.copy() for a in arrays]
    out = function.apply(*tensors, **kwargs)
    _check_unchanged(name, tensors, copies, "forward")
    if out.dtype != np.float64:
        raise _fail(name, f"float64 inputs gave a {out.dtype} output; keep the inputs' dtype")
    if not np.isfinite(out.data).all():
        raise _fail(
            name,
            "the forward output is not finite; restrict the drawn values with elements= "
            "(a range or strategy) if the op is undefined there",
        )
    if reference is not None:
        expected = np.asarray(reference(*copies, **kwargs))
        if expected.shape != out.shape:
            raise _fail(
                name, f"output shape {out.shape} differs from the reference's {expected.shape}"
            )
        if not np.allclose(out.data, expected, rtol=1e-7, atol=1e-10):
            worst = float(np.max(np.abs(out.data - expected)))
            raise _fail(name, f"forward values differ from the reference by up to {worst:.3g}")


def _float32_checks(
    function: type[Function], arrays: list[np.ndarray], kwargs: Mapping[str, Any], seed: int
) -> None:
    name = function.__name__
    tensors = [Tensor(a.astype(np.float32), requires_grad=True) for a in arrays]
    copies = [t.data.copy() for t in tensors]
    out = function.apply(*tensors, **kwargs)
    if out.dtype != np.float32:
        raise _fail(name, f"float32 inputs gave a {out.dtype} output; float32 must stay float32")
    upstream = np.random.default_rng(seed).standard_normal(out.shape).astype(np.float32)
    if out.requires_grad:
        out.backward(upstream)
    _check_unchanged(name, tensors, copies, "forward or backward")
    for position, tensor in enumerate(tensors):
        grad = tensor.grad
        if grad is not None and (grad.shape != tensor.shape or grad.dtype != np.float32):
            raise _fail(
                name,
                f"the gradient of float32 input {position} has shape {grad.shape} and dtype "
                f"{grad.dtype}; expected {tensor.shape} and float32",
            )


def check_function(
    function: type[Function],
    *,
    arity: int | None = None,
    shapes: st.SearchStrategy[tuple[Shape, ...]] | Sequence[Shape] | None = None,
    elements: ElementsSpec | Sequence[ElementsSpec] | None = None,
    avoid: Sequence[float] = (),
    margin: float = strategies.DEFAULT_MARGIN,
    distinct: bool = False,
    kwargs: Mapping[str, Any] | None = None,
    reference: Callable[..., Any] | None = None,
    max_examples: int | None = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    order: int = 1,
) -> None:
    """Property-test a custom `Function` over many drawn shapes and values.

    For every example it checks that: the forward output is finite (and matches
    ``reference`` when given); each gradient matches central finite differences in float64
    (with a random upstream gradient, see `gradcheck`) and has its input's shape and dtype;
    no input is modified; float32 inputs give a float32 output and float32 gradients.
    On failure hypothesis shrinks the example and re-raises the error with the minimal
    shapes and values drawn (in the exception's notes, printed by pytest).

    Args:
        function: The `Function` subclass, called as ``function.apply(*tensors, **kwargs)``.
        arity: Number of tensor inputs; inferred from ``forward``'s required positional
            parameters when omitted.
        shapes: A strategy of tuples of ``arity`` shapes, or one fixed tuple of shapes.
            Default: mutually broadcastable shapes (`strategies.broadcastable_shapes`),
            including 0-d and size-1 axes.
        elements: The values: a strategy of floats or a ``(min_value, max_value)`` range,
            or a sequence with one of those per input. Default: [-3, 3].
        avoid: Points every value stays at least ``margin`` away from (kinks), e.g. ``(0.0,)``.
        margin: Distance kept from ``avoid``, and between values when ``distinct``.
        distinct: Draw values pairwise ``margin`` apart (ops like max that have ties).
        kwargs: Keyword arguments for ``apply`` and ``reference``.
        reference: A NumPy function of the input arrays (and kwargs) giving the expected
            forward output.
        max_examples: Examples to run; default from the loaded hypothesis profile.
            Failing examples are not stored in hypothesis's database.
        eps: Finite-difference step of `gradcheck`.
        atol: Absolute tolerance of `gradcheck`.
        rtol: Relative tolerance of `gradcheck`.
        order: 2 also checks second-order gradients (`gradgradcheck`): the op's backward,
            run on Tensors, must itself be differentiable.

    Raises:
        AssertionError: A property fails (after shrinking).
        RuntimeError: The engine rejects a gradient (e.g. a shape that cannot come from
            broadcasting the input), naming the op.
        TypeError: ``function`` is not a Function subclass, or ``elements`` is malformed.
        ValueError: ``arity`` cannot be inferred or does not match ``shapes``.

    Example:
        >>> class Cube(tnn.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         ctx.save_for_backward(x)
        ...         return x**3
        ...     @staticmethod
        ...     def backward(ctx, grad):
        ...         (x,) = ctx.saved
        ...         return (3 * x**2 * grad,)
        >>> check_function(Cube, reference=lambda x: x**3, max_examples=20)
    """
    if not (isinstance(function, type) and issubclass(function, Function)):
        raise TypeError(
            f"check_function: expected a Function subclass (the class, not an instance or "
            f"its apply), got {function!r}"
        )
    if arity is None:
        arity = _infer_arity(function)
    if isinstance(arity, bool) or not isinstance(arity, int) or arity < 1:
        raise ValueError(f"check_function: arity must be a positive int, got {arity!r}")
    per_input = _per_input_elements(elements, arity)
    shape_strategy = _shape_strategy(shapes, arity)
    op_kwargs = dict(kwargs or {})
    name = function.__name__
    if order not in (1, 2):
        raise ValueError(f"check_function: order must be 1 or 2, got {order!r}")

    def property_test(data: st.DataObject) -> None:
        drawn_shapes = data.draw(shape_strategy, label="shapes")
        if len(drawn_shapes) != arity:
            raise ValueError(
                f"check_function({name}): shapes drew {len(drawn_shapes)} shapes for an op "
                f"of arity {arity}; draw one shape per input"
            )
        arrays = [
            data.draw(_array_strategy(shape, spec, avoid, margin, distinct), label=f"input {i}")
            for i, (shape, spec) in enumerate(zip(drawn_shapes, per_input, strict=True))
        ]
        _forward_checks(function, arrays, op_kwargs, reference)
        try:
            for check in (gradcheck, gradgradcheck)[:order]:
                check(
                    lambda *tensors: function.apply(*tensors, **op_kwargs),
                    *arrays,
                    eps=eps,
                    atol=atol,
                    rtol=rtol,
                )
        except AssertionError as error:
            raise _fail(name, str(error)) from None
        _float32_checks(function, arrays, op_kwargs, seed=1)

    property_test.__name__ = property_test.__qualname__ = f"check_{name}"
    options: dict[str, Any] = {
        "deadline": None,
        "database": None,  # one inner test serves every op: stored examples would mix
        "suppress_health_check": [HealthCheck.too_slow],
        "report_multiple_bugs": False,  # one minimal counterexample, not a group
        "phases": [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    }
    if max_examples is not None:
        options["max_examples"] = max_examples
    settings(**options)(given(data=st.data())(property_test))()


# --------------------------------------------------------------------------- check_model


def scaled_squared_error(pred: Tensor, target: Any) -> Tensor:
    """J = sum((pred - target)**2) / (2 * batch): the article's cost as its update scales it.

    ``batch`` is ``pred.shape[0]``. This is the scalar whose gradient
    `tnn.reference.HandwrittenMLP.gradients` returns for ``cost="squared"``.

    Example:
        >>> scaled_squared_error(Tensor([[1.0], [3.0]]), np.zeros((2, 1))).item()
        2.5
    """
    batch = pred.shape[0] if pred.ndim else 1
    return ((pred - target) ** 2).sum() * (1.0 / (2 * batch))


def _as_float64(value: Any) -> np.ndarray:
    return np.asarray(value.data if isinstance(value, Tensor) else value, dtype=np.float64)


def _reference_applies(module: Any, loss_fn: Any, mode: bool | str) -> bool:
    """Whether to compare with HandwrittenMLP (see `check_model`'s ``reference``)."""
    if mode is False:
        return False
    if mode not in (True, "auto"):
        raise ValueError(f"check_model: reference must be 'auto', True or False, got {mode!r}")
    from tinygrad_nn.nn import MLP
    from tinygrad_nn.reference import ACTIVATIONS

    is_mlp = isinstance(module, MLP)
    if mode is True:
        if not is_mlp:
            raise TypeError(
                f"check_model: reference=True needs a tnn.nn.MLP, got {type(module).__name__}; "
                "use reference='auto' or False for other modules"
            )
        return True
    return (
        is_mlp
        and loss_fn in (None, scaled_squared_error)
        and getattr(module, "activation", None) in ACTIVATIONS
        and getattr(module, "output_activation", None) in (*ACTIVATIONS, "identity", None)
    )


def _compare_with_reference(module: Any, x: np.ndarray, y: np.ndarray, atol: float, rtol: float):
    from tinygrad_nn.reference import HandwrittenMLP

    hand = HandwrittenMLP.from_module(module).gradients(x, y)
    for index, (layer, expected) in enumerate(zip(module.layers, hand, strict=True)):
        for part, tensor, column in (
            ("bias", layer.bias, expected[:, 0]),
            ("weight", layer.weight, expected[:, 1:]),
        ):
            analytic = tensor.grad if tensor.grad is not None else np.zeros_like(tensor.data)
            label = f"parameter 'layers.{index}.{part}' (shape {tensor.shape})"
            assert_gradients_close(
                label,
                analytic,
                column,
                atol=atol,
                rtol=rtol,
                caller="check_model",
                against="HandwrittenMLP.gradients",
            )


def check_model(
    module: Any,
    x: Any,
    y: Any,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    *,
    reference: bool | Literal["auto"] = "auto",
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> tuple[str, ...]:
    """Check a model's autodiff gradients against finite differences and the reference.

    The scalar is ``J = loss_fn(module(x), y)``; the default ``loss_fn`` is
    `scaled_squared_error`, ``sum((module(x) - y)**2) / (2 * batch)``. Parameters, ``x``
    and ``y`` are converted to float64 for the check and the parameters' data and
    ``.grad`` are restored afterwards.

    1. Autodiff: ``J.backward()`` gives every parameter's ``.grad``.
    2. Finite differences: each parameter element is moved by ``±eps`` (central
       differences, as in `gradcheck`); every gradient must agree.
    3. Reference: with ``reference="auto"`` (the default), when ``module`` is a
       `tnn.nn.MLP` whose activations `HandwrittenMLP` supports (relu, sigmoid; output
       also None or "identity") and ``loss_fn`` is None or `scaled_squared_error`
       (exactly the ``J`` of ``HandwrittenMLP(cost="squared")`` with no penalties), the
       gradients must also equal ``HandwrittenMLP.from_module(module).gradients(x, y)``:
       column 0 against ``layers[i].bias.grad``, columns 1: against
       ``layers[i].weight.grad``.
       ``reference=True`` demands this comparison (you vouch that ``loss_fn`` computes that
       ``J``); ``reference=False`` skips it.

    A relu (or abs) argument within ``eps`` of 0 makes finite differences wrong there;
    seed your data so that no pre-activation sits at a kink.

    Args:
        module: A `tnn.nn.Module` (``named_parameters()``, ``zero_grad()``, callable).
        x: Input batch (Tensor or array).
        y: Target (Tensor or array).
        loss_fn: ``loss_fn(prediction, y)`` returning a single-element Tensor.
        reference: ``"auto"``, True or False (see above).
        eps: Finite-difference step.
        atol: Absolute tolerance.
        rtol: Relative tolerance.

    Returns:
        The comparisons made, e.g. ``("finite differences", "HandwrittenMLP")``.

    Raises:
        AssertionError: A gradient disagrees; the message names the parameter, the element
            index, both values and the worst errors.
        TypeError: ``module`` has no parameters or ``loss_fn`` does not return a scalar.

    Example:
        >>> mlp = tnn.nn.MLP([2, 3, 1], activation="sigmoid", rng=np.random.default_rng(0))
        >>> check_model(mlp, np.ones((4, 2)), np.zeros((4, 1)))
        ('finite differences', 'HandwrittenMLP')
    """
    named = list(module.named_parameters())
    if not named:
        raise TypeError(f"check_model: {type(module).__name__} has no parameters to check")
    use_reference = _reference_applies(module, loss_fn, reference)
    loss = scaled_squared_error if loss_fn is None else loss_fn
    x64, y64 = Tensor(_as_float64(x)), Tensor(_as_float64(y))
    saved = [(param, param.data, param.grad) for _, param in named]

    def objective() -> Tensor:
        value = loss(module(x64), y64)
        if not isinstance(value, Tensor) or value.size != 1:
            raise TypeError(
                "check_model: loss_fn must return a single-element Tensor, got "
                f"{value.shape if isinstance(value, Tensor) else type(value).__name__}"
            )
        return value

    try:
        for param, data, _ in saved:
            param.data = data.astype(np.float64)
        module.zero_grad()
        with enable_grad():
            objective().backward()
        for dotted_name, param in named:
            analytic = param.grad if param.grad is not None else np.zeros_like(param.data)

            def scalar() -> float:
                with no_grad():
                    return float(objective().item())

            numeric = central_differences(scalar, param.data, eps)
            assert_gradients_close(
                f"parameter {dotted_name!r} (shape {param.shape})",
                analytic,
                numeric,
                atol=atol,
                rtol=rtol,
                caller="check_model",
                hint=f" A relu or abs argument within eps={eps} of 0 also gives this.",
            )
        if not use_reference:
            return ("finite differences",)
        _compare_with_reference(module, x64.data, y64.data, atol, rtol)
        return ("finite differences", "HandwrittenMLP")
    finally:
        for param, data, grad in saved:
            param.data, param.grad = data, grad
