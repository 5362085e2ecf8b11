"""CONTRIBUTING.md stays true: its code runs, its links resolve, and its layout diagram
names every module and package of tinygrad_nn (and nothing that is not there)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_docs import code_blocks, relative_links, run_page

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "CONTRIBUTING.md"
PACKAGE = ROOT / "tinygrad_nn"
ENTRY = re.compile(r"^[\s│├└─┌┐┘┬┴┼]*(?P<name>_?[a-z][a-z_]*(?:\.py|/)?)(?=\s{2})")


def layout_entries() -> set[str]:
    """The names the diagram lists, one per line, without ``.py`` or ``/``."""
    (diagram,) = [b for b in code_blocks(PAGE.read_text(encoding="utf-8")) if b.info == ""]
    names = {m["name"] for line in diagram.code.splitlines() if (m := ENTRY.match(line))}
    names.discard("tinygrad_nn/")
    return {name.removesuffix(".py").removesuffix("/") for name in names}


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
