"""`ModuleList` and `ModuleDict`: hold child modules by index or by name (PyTorch's).

Their children are registered like any child (``0``, ``1``, ... or the keys), so their
parameters are found, named (``blocks.0.weight``), saved and moved with the model. Neither
has a ``forward``: call the modules yourself.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from tinygrad_nn.nn.module import Module

__all__ = ["ModuleDict", "ModuleList"]


def _check_module(owner: str, where: str, module: Any) -> Module:
    if not isinstance(module, Module):
        raise TypeError(f"{owner}: {where} is a {type(module).__name__}, not a Module")
    return module


class ModuleList(Module):
    """A list of modules: indexing, slicing, ``len``, iteration, ``append``, ``extend``,
    ``insert``; children named "0", "1", ...

    Example:
        >>> blocks = ModuleList([Linear(4, 4) for _ in range(3)])
        >>> blocks.append(Linear(4, 2))
        >>> len(blocks), [name for name, _ in blocks.named_parameters()][-1]
        (4, '3.bias')
    """

    _items: list[Module]

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        object.__setattr__(self, "_items", [])
        if modules is not None:
            self.extend(modules)

    def _register_all(self) -> None:
        # Children are re-registered under 0..n-1 after every change, so names stay dense.
        registry = self._get_registry()
        for name in [name for name in registry if name.isdigit()]:
            del registry[name]
            object.__delattr__(self, name)
        for index, module in enumerate(self._items):
            self.add_module(str(index), module)

    def append(self, module: Module) -> ModuleList:
        """Add ``module`` at the end; returns self."""
        self._items.append(_check_module("ModuleList.append", "the argument", module))
        self.add_module(str(len(self._items) - 1), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Add every module of ``modules`` at the end; returns self."""
        if isinstance(modules, Module) and not isinstance(modules, ModuleList):
            raise TypeError("ModuleList.extend: expected an iterable of Modules, got one Module")
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before position ``index``."""
        self._items.insert(index, _check_module("ModuleList.insert", "the module", module))
        self._register_all()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._items))

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return ModuleList(self._items[index])
        try:
            return self._items[operator.index(index)]
        except IndexError:
            raise IndexError(
                f"ModuleList: index {index} is out of range for {len(self)} modules"
            ) from None

    def __setitem__(self, index: int, module: Module) -> None:
        module = _check_module("ModuleList", f"item {index}", module)
        try:
            self._items[operator.index(index)] = module
        except IndexError:
            raise IndexError(
                f"ModuleList: index {index} is out of range for {len(self)} modules"
            ) from None
        self._register_all()

    def __delitem__(self, index: int | slice) -> None:
        del self._items[index]
        self._register_all()


class ModuleDict(Module):
    """A dict of modules by string key, in insertion order; children named by their keys.

    Keys may not contain "." and may not be names of ModuleDict's own attributes (such
    as "keys" or "forward"), because the children are also attributes.

    Example:
        >>> heads = ModuleDict({"digit": Linear(8, 10), "parity": Linear(8, 2)})
        >>> list(heads), heads["digit"].out_features
        (['digit', 'parity'], 10)
    """

    _items: dict[str, Module]

    def __init__(self, modules: Mapping[str, Module] | None = None) -> None:
        super().__init__()
        object.__setattr__(self, "_items", {})
        if modules is not None:
            self.update(modules)

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(key, str) or not key or "." in key:
            raise KeyError(f"ModuleDict: keys must be non-empty strings without '.', got {key!r}")
        if hasattr(type(self), key) or key.startswith("_") or key == "training":
            raise KeyError(
                f"ModuleDict: the key {key!r} is the name of a ModuleDict attribute; choose "
                "another key"
            )
        self._items[key] = _check_module("ModuleDict", f"the value for {key!r}", module)
        self.add_module(key, module)

    def __getitem__(self, key: str) -> Module:
        try:
            return self._items[key]
        except KeyError:
            raise KeyError(
                f"ModuleDict: no module {key!r}; the keys are {list(self._items)}"
            ) from None

    def __delitem__(self, key: str) -> None:
        self[key]  # the KeyError that names the keys
        del self._items[key]
        delattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._items))

    def keys(self) -> list[str]:
        """The keys, in insertion order."""
        return list(self._items)

    def values(self) -> list[Module]:
        """The modules, in insertion order."""
        return list(self._items.values())

    def items(self) -> list[tuple[str, Module]]:
        """(key, module) pairs, in insertion order."""
        return list(self._items.items())

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add or replace modules from a mapping or (key, module) pairs."""
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for key, module in pairs:
            self[key] = module

    def pop(self, key: str) -> Module:
        """Remove the module under ``key`` and return it."""
        module = self[key]
        del self[key]
        return module
