"""CONTRIBUTING.md stays true: its code runs, its links resolve, its layout diagram names
every module and package of tinygrad_nn (and nothing that is not there), imports point up
the diagram as it says, and no modules import each other when they load."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from test_docs import code_blocks, relative_links, run_page

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "CONTRIBUTING.md"
PACKAGE = ROOT / "tinygrad_nn"
ENTRY = re.compile(r"^[\s│├└─┌┐┘┬┴┼]*(?P<name>_?[a-z][a-z_]*(?:\.py|/)?)(?=\s{2})")


# The lazy imports that display a Tensor or a Module in a notebook (the documented exception).
DISPLAY_IMPORTS = {("tensor", "viz"), ("nn", "viz")}


def diagram_lines() -> list[str]:
    (diagram,) = [b for b in code_blocks(PAGE.read_text(encoding="utf-8")) if b.info == ""]
    return diagram.code.splitlines()


def layout_order() -> list[tuple[str, bool]]:
    """The diagram's entries top to bottom, without ``.py`` or ``/``, each with whether it is
    inside the engine's box."""
    entries = []
    for line in diagram_lines():
        match = ENTRY.match(line)
        if match and match["name"] != "tinygrad_nn/":
            name = match["name"].removesuffix(".py").removesuffix("/")
            entries.append((name, line.startswith("│  │")))
    return entries


def layout_entries() -> set[str]:
    return {name for name, _ in layout_order()}


def package_imports(path: Path) -> set[str]:
    """The top-level tinygrad_nn entries ``path`` imports, outside ``__main__`` blocks."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            skipped |= {id(inner) for inner in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            if parts[0] == "tinygrad_nn" and len(parts) > 1:
                found.add(parts[1])
    return found


def package_entries() -> set[str]:
    entries = {p.stem for p in PACKAGE.glob("*.py")} | {
        p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()
    }
    return entries - {"__init__", "__main__"}


def test_the_python_blocks_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run_page(PAGE.read_text(encoding="utf-8"), "CONTRIBUTING.md", monkeypatch)


def test_relative_links_point_to_existing_files() -> None:
    links = relative_links(PAGE.read_text(encoding="utf-8"))
    assert links
    assert [t for t in links if not (ROOT / t.split("#", 1)[0]).exists()] == []


def test_the_layout_lists_every_module_and_package() -> None:
    listed, present = layout_entries(), package_entries()
    assert present - listed == set(), "modules missing from CONTRIBUTING.md's layout"
    assert listed - present == set(), "CONTRIBUTING.md's layout names modules that are gone"


def test_imports_point_up_the_layout() -> None:
    order = layout_order()
    rank = {
        name: (0 if in_engine else position)
        for position, (name, in_engine) in enumerate(order, start=1)
    }
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if own not in rank:
            continue  # __init__ and __main__ import everything on purpose
        for target in package_imports(path) & rank.keys():
            if rank[target] > rank[own] and (own, target) not in DISPLAY_IMPORTS:
                wrong.append(f"{path.relative_to(ROOT)} imports {target}")
    assert rank["autograd"] == 0 and rank["cli"] == len(order)
    assert wrong == [], "imports that point down CONTRIBUTING.md's layout"


def load_time_imports() -> dict[str, set[str]]:
    """Module -> the package's modules its top-level statements import (not under
    TYPE_CHECKING, not in functions: those run later, once everything is loaded)."""
    names = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
        for p in PACKAGE.rglob("*.py")
    }
    graph = {}
    for name, path in names.items():
        found = set()
        for statement in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(statement, ast.If) and "TYPE_CHECKING" in ast.unparse(statement.test):
                continue
            for node in ast.walk(statement) if isinstance(statement, ast.If) else [statement]:
                if isinstance(node, ast.Import):
                    found |= {alias.name for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    inner = {f"{node.module}.{alias.name}" for alias in node.names}
                    # "from package import submodule" needs the submodule, the package is
                    # already loading
                    found |= inner & names.keys() if inner <= names.keys() else {node.module}
        graph[name] = (found & names.keys()) - {name}
    return graph


def test_no_modules_import_each_other_when_they_load() -> None:
    graph = load_time_imports()
    assert "tinygrad_nn.tensor" in graph["tinygrad_nn.nn.module"]  # the walk sees imports
    cycles = []
    for start in graph:
        stack, seen = list(graph[start]), set()
        while stack:
            name = stack.pop()
            if name == start:
                cycles.append(start)
                break
            if name not in seen:
                seen.add(name)
                stack.extend(graph[name])
    assert cycles == [], "modules on an import cycle"
