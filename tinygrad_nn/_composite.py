"""Mark composite functions (softmax, losses) so drawings can fold their ops into one node.

``@composite`` enters a `CompositeCall` into the module scope that every recorded op
already carries (``ctx.scope``, the way ops know which Module call they ran in). The graph
drawings then show the function as one node, ``cross_entropy``, whose internals expand on
request. Nothing is recorded when grad mode is off, so the marker costs nothing there.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from tinygrad_nn import autograd

__all__ = ["CompositeCall", "composite"]

F = TypeVar("F", bound=Callable[..., Any])


class CompositeCall:
    """One call of a composite function, as it appears in an op's module scope."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<composite {self.name}>"


def composite(function: F) -> F:
    """Record the ops ``function`` runs as one composite call named after it."""
    name = function.__name__

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not autograd.is_grad_enabled():
            return function(*args, **kwargs)
        previous = autograd.enter_module(CompositeCall(name))
        try:
            return function(*args, **kwargs)
        finally:
            autograd.exit_module(previous)

    return wrapper  # type: ignore[return-value]
