"""`Module`: the base class of layers and models; finds parameters and children by attribute.

There is no Parameter class. Assigning an attribute classifies the value once::

    self.weight = Tensor(..., requires_grad=True)   a parameter, named "weight"
    self.fc = Linear(2, 3)                          a child module, named "fc"
    self.layers = [Linear(1, 4), Linear(4, 2)]      a container: children "layers.0", "layers.1"

Buffers (`register_buffer`) are Tensors that are state but not parameters, such as
BatchNorm's running statistics: `state_dict` saves them, `parameters` skips them, and
assigning a new Tensor (or None) to a buffer's name keeps it a buffer.

Lists, tuples and dicts are containers: their Modules are children and their Tensors that
require grad are parameters, found when the module is walked (so appending to a list
later works). `named_parameters` lists a module's own parameters first, then its
children's, depth first, each shared tensor once under its first name (PyTorch's order).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from tinygrad_nn import autograd
from tinygrad_nn.tensor import Tensor

__all__ = ["IncompatibleKeys", "Module", "StateDictError"]

# Registry kinds: what an attribute held when it was assigned.
_PARAMETER = "parameter"
_MODULE = "module"
_CONTAINER = "container"
_BUFFER = "buffer"


class StateDictError(ValueError):
    """`Module.load_state_dict` found entries that do not fit the module; nothing was loaded.

    Attributes:
        missing: names the module has and the state dict lacks.
        unexpected: names in the state dict the module does not have.
        mismatched: ``(name, problem)`` pairs for wrong shapes or dtypes.
    """

    def __init__(
        self,
        message: str,
        missing: list[str],
        unexpected: list[str],
        mismatched: list[tuple[str, str]],
    ) -> None:
        super().__init__(message)
        self.missing = missing
        self.unexpected = unexpected
        self.mismatched = mismatched


class IncompatibleKeys(NamedTuple):
    """What `Module.load_state_dict(..., strict=False)` skipped."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of layers and models: subclass it, assign parameters and children in
    ``__init__`` and write ``forward``.

    Example:
        >>> class Affine(Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.scale = Tensor(np.ones(3), requires_grad=True)
        ...         self.shift = Tensor(np.zeros(3), requires_grad=True)
        ...     def forward(self, x):
        ...         return x * self.scale + self.shift
        >>> [name for name, _ in Affine().named_parameters()]
        ['scale', 'shift']
    """

    training: bool = True

    def __init__(self) -> None:
        object.__setattr__(self, "_registry", {})
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------------ registration

    def _get_registry(self) -> dict[str, str]:
        registry = self.__dict__.get("_registry")
        if registry is None:  # a subclass that did not call super().__init__() still works
            registry = {}
            object.__setattr__(self, "_registry", registry)
        return registry

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, Tensor):
            kind = _PARAMETER if value.requires_grad else None
        elif isinstance(value, Module):
            kind = _MODULE
        elif isinstance(value, (list, tuple, dict)):
            kind = _CONTAINER
        else:
            kind = None
        registry = self._get_registry()
        if registry.get(name) is _BUFFER and (value is None or isinstance(value, Tensor)):
            kind = _BUFFER  # a buffer stays a buffer when its value is replaced
        if kind is None:
            registry.pop(name, None)
        else:
            registry[name] = kind  # a reassigned name keeps its place in the order
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._get_registry().pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, tensor: Tensor) -> None:
        """Make ``tensor`` a parameter called ``name``, even if it does not require grad."""
        if not isinstance(tensor, Tensor):
            raise TypeError(f"register_parameter: expected a Tensor, got {type(tensor).__name__}")
        object.__setattr__(self, name, tensor)
        self._get_registry()[name] = _PARAMETER

    def register_buffer(
        self, name: str, tensor: Tensor | np.ndarray | None, persistent: bool = True
    ) -> None:
        """Make ``tensor`` a buffer called ``name``: state that is not a parameter.

        `state_dict` saves it (unless ``persistent=False``), `parameters` skips it, and
        ``module.name`` returns it. An ndarray is wrapped in a Tensor that does not require
        grad; None reserves the name (nothing is saved until a Tensor is assigned).

        Example:
            >>> self.register_buffer("running_mean", Tensor(np.zeros(4)))
        """
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(
                f"register_buffer: name must be a non-empty string without '.', got {name!r}"
            )
        if isinstance(tensor, np.ndarray):
            tensor = Tensor(tensor)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                "register_buffer: expected a Tensor, an ndarray or None, got "
                f"{type(tensor).__name__}"
            )
        if tensor is not None and tensor.requires_grad:
            raise ValueError(
                f"register_buffer: {name!r} requires grad, so it would be a parameter; pass "
                "tensor.detach(), or assign it as an attribute to make it a parameter"
            )
        object.__setattr__(self, name, tensor)
        self._get_registry()[name] = _BUFFER
        non_persistent = self.__dict__.setdefault("_non_persistent", set())
        if persistent:
            non_persistent.discard(name)
        else:
            non_persistent.add(name)

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """Every buffer (not None) with its dotted name, e.g. ``bn.running_mean``.

        Example:
            >>> [name for name, _ in BatchNorm1d(3).named_buffers()]
            ['running_mean', 'running_var', 'num_batches_tracked']
        """
        for module_name, module in self.named_modules(prefix):
            for name in module._buffer_names():
                value = module.__dict__[name]
                if value is not None:
                    yield (f"{module_name}.{name}" if module_name else name), value

    def buffers(self) -> Iterator[Tensor]:
        """Every buffer, in `named_buffers` order."""
        for _, tensor in self.named_buffers():
            yield tensor

    def _buffer_names(self) -> list[str]:
        return [name for name, kind in self._get_registry().items() if kind is _BUFFER]

    def add_module(self, name: str, module: Module) -> None:
        """Make ``module`` a child called ``name`` (any string, e.g. "0"; read it with getattr)."""
        if not isinstance(module, Module):
            raise TypeError(f"add_module: expected a Module, got {type(module).__name__}")
        object.__setattr__(self, name, module)
        self._get_registry()[name] = _MODULE

    def _own(self) -> tuple[list[tuple[str, Tensor]], list[tuple[str, Module]]]:
        """This module's own (name, parameter) and (name, child) pairs, in assignment order."""
        parameters: list[tuple[str, Tensor]] = []
        children: list[tuple[str, Module]] = []
        values = self.__dict__
        for name, kind in self._get_registry().items():
            value = values[name]
            if kind is _PARAMETER:
                parameters.append((name, value))
            elif kind is _MODULE:
                children.append((name, value))
            elif kind is _BUFFER:
                continue
            else:
                _scan_container(name, value, parameters, children)
        return parameters, children

    # ------------------------------------------------------------------ calling

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; subclasses override it. Call the module, not ``forward``."""
        raise NotImplementedError(f"{type(self).__name__} must define forward(...)")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Ops recorded inside know which module calls they are in (ctx.scope), for drawings.
        previous = autograd.enter_module(self)
        try:
            return self.forward(*args, **kwargs)
        finally:
            autograd.exit_module(previous)

    # ------------------------------------------------------------------ traversal

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct children as (name, module), each module once.

        Example:
            >>> [name for name, _ in MLP([1, 4, 2]).named_children()]
            ['layers.0', 'layers.1']
        """
        seen: set[int] = set()
        for name, child in self._own()[1]:
            if id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator[Module]:
        """Direct children, each once."""
        for _, child in self.named_children():
            yield child

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module as ``(prefix, self)``, then every descendant with its dotted name.

        Depth first, in assignment order, each module once (under its first name).

        Example:
            >>> [name for name, _ in MLP([1, 4, 2]).named_modules()]
            ['', 'layers.0', 'layers.1']
        """
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = module._own()[1]
            for child_name, child in reversed(children):
                stack.append((f"{name}.{child_name}" if name else child_name, child))

    def modules(self) -> Iterator[Module]:
        """This module and every descendant, each once."""
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """Every parameter with its dotted name, e.g. ``layers.0.weight``; shared ones once.

        Example:
            >>> [name for name, _ in Linear(2, 3).named_parameters()]
            ['weight', 'bias']
        """
        seen: set[int] = set()
        for module_name, module in self.named_modules(prefix):
            for name, tensor in module._own()[0]:
                if id(tensor) not in seen:
                    seen.add(id(tensor))
                    yield (f"{module_name}.{name}" if module_name else name), tensor

    def parameters(self) -> Iterator[Tensor]:
        """Every parameter, each once, in `named_parameters` order.

        Example:
            >>> optimizer = tnn.optim.SGD(model.parameters(), lr=0.1)
        """
        for _, tensor in self.named_parameters():
            yield tensor

    # ------------------------------------------------------------------ state

    def zero_grad(self) -> None:
        """Set ``.grad`` of every parameter to None (the next backward starts afresh)."""
        for tensor in self.parameters():
            tensor.grad = None

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn(module)`` on every descendant, then on this module; returns self.

        Example:
            >>> def init_weights(m):
            ...     if isinstance(m, Linear):
            ...         tnn.nn.init.xavier_uniform(m.weight, rng=0)
            >>> model.apply(init_weights)
        """
        # Post-order like PyTorch (each module after its children), without recursion.
        order: list[Module] = []
        seen: set[int] = set()
        stack: list[tuple[Module, bool]] = [(self, False)]
        while stack:
            module, expanded = stack.pop()
            if expanded:
                order.append(module)
            elif id(module) not in seen:
                seen.add(id(module))
                stack.append((module, True))
                stack.extend((child, False) for _, child in reversed(module._own()[1]))
        for module in order:
            fn(module)
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` of every parameter (False freezes them); returns self.

        Frozen parameters stay parameters (listed, saved), but get no ``.grad``, so
        optimizers skip them.

        Example:
            >>> model.layers[0].requires_grad_(False)
        """
        for tensor in self.parameters():
            tensor.requires_grad = bool(requires_grad)
        return self

    def train(self, mode: bool = True) -> Module:
        """Set ``.training`` on this module and all descendants; returns self."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Same as ``train(False)``; returns self."""
        return self.train(False)

    def _named_state(self) -> Iterator[tuple[str, Tensor]]:
        """Parameters and persistent buffers, PyTorch's state_dict order: each module's own
        parameters, then its own buffers, then its children's, depth first; shared ones once."""
        seen: set[int] = set()
        for module_name, module in self.named_modules():
            hidden = module.__dict__.get("_non_persistent", ())
            own = module._own()[0] + [
                (name, module.__dict__[name])
                for name in module._buffer_names()
                if name not in hidden and module.__dict__[name] is not None
            ]
            for name, tensor in own:
                if id(tensor) not in seen:
                    seen.add(id(tensor))
                    yield (f"{module_name}.{name}" if module_name else name), tensor

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter's and persistent buffer's array by dotted name.

        The order is PyTorch's: a module's parameters, then its buffers, then each child's.

        Example:
            >>> list(Linear(2, 3).state_dict())
            ['weight', 'bias']
            >>> list(BatchNorm1d(3).state_dict())
            ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
        """
        return {name: tensor.data.copy() for name, tensor in self._named_state()}

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True
    ) -> IncompatibleKeys:
        """Load arrays into the parameters and buffers, after checking every entry first.

        Every name, shape and dtype is checked before anything is assigned; on any problem
        a `StateDictError` (a ValueError) lists all missing, unexpected and mismatched
        entries, and the module is left unchanged. Values of any precision are cast into
        the entry's dtype within its kind (a float64 checkpoint loads into a float32 model,
        an int32 count into an int64 buffer); another kind (an int for a float parameter,
        bool, complex, object) is a dtype mismatch.

        Args:
            state_dict: name -> ndarray (or Tensor), e.g. from `state_dict` or `tnn.load`.
            strict: when False, missing and unexpected names are skipped (and returned);
                shape and dtype mismatches still raise.

        Returns:
            ``IncompatibleKeys(missing_keys, unexpected_keys)``, empty when strict.

        Example:
            >>> model.load_state_dict(tnn.load("model.npz"))
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"load_state_dict: expected a mapping of name -> array, got "
                f"{type(state_dict).__name__}"
            )
        parameters = dict(self._named_state())
        missing = [name for name in parameters if name not in state_dict]
        unexpected = [str(name) for name in state_dict if name not in parameters]
        mismatched: list[tuple[str, str]] = []
        updates: list[tuple[Tensor, np.ndarray]] = []
        for name, tensor in parameters.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            try:
                array = value.data if isinstance(value, Tensor) else np.asarray(value)
            except ValueError:  # e.g. a ragged list
                mismatched.append((name, f"{type(value).__name__} is not an array"))
                continue
            target = tensor.data
            if array.shape != target.shape:
                mismatched.append(
                    (name, f"shape {array.shape} in the state dict, {target.shape} in the module")
                )
            elif array.dtype.kind != target.dtype.kind:
                mismatched.append(
                    (
                        name,
                        f"dtype {array.dtype} in the state dict, the module holds "
                        f"{target.dtype} (any floating dtype is accepted and cast)",
                    )
                )
            else:
                updates.append((tensor, array))
        if mismatched or (strict and (missing or unexpected)):
            lines = [f"missing: {name}" for name in (missing if strict else [])]
            lines += [f"unexpected: {name}" for name in (unexpected if strict else [])]
            lines += [f"mismatched: {name}: {problem}" for name, problem in mismatched]
            message = (
                f"load_state_dict: the state dict does not fit this {type(self).__name__}; "
                "nothing was loaded:\n  " + "\n  ".join(lines)
            )
            raise StateDictError(message, missing, unexpected, mismatched)
        # Each tensor gets a new array through its .data attribute (which the engine
        # observes); the values are copied, so the state dict stays independent.
        for tensor, array in updates:
            tensor.data = np.array(array, dtype=tensor.data.dtype, copy=True)
        return IncompatibleKeys([] if strict else missing, [] if strict else unexpected)

    # ------------------------------------------------------------------ repr

    def extra_repr(self) -> str:
        """The text between the parentheses of this module's repr; subclasses override it."""
        return ""

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        if extra:
            lines.extend(extra.split("\n"))
        for name, child in self._own()[1]:
            lines.append(f"({name}): " + repr(child).replace("\n", "\n  "))
        if not lines:
            return f"{type(self).__name__}()"
        if len(lines) == 1 and not self._own()[1]:
            return f"{type(self).__name__}({lines[0]})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"

    def _repr_html_(self) -> str:
        # Jupyter's rich display: repr and parameter table (tinygrad_nn.viz.notebook).
        from tinygrad_nn.viz.notebook import module_html

        return module_html(self)


def _scan_container(
    prefix: str,
    container: Any,
    parameters: list[tuple[str, Tensor]],
    children: list[tuple[str, Module]],
) -> None:
    """Collect Modules and grad-requiring Tensors from a (nested) list, tuple or dict."""
    items = container.items() if isinstance(container, dict) else enumerate(container)
    for key, item in items:
        name = f"{prefix}.{key}"
        if isinstance(item, Module):
            children.append((name, item))
        elif isinstance(item, Tensor):
            if item.requires_grad:
                parameters.append((name, item))
        elif isinstance(item, (list, tuple, dict)):
            _scan_container(name, item, parameters, children)
