"""The documentation runs: every ```python block of README.md and docs/*.md, and every example.

Each page's blocks run in order in one fresh module namespace (a later block may use names
from an earlier one), in a temporary working directory with matplotlib's Agg backend.
Blocks fenced as ```pycon, ```text, ```bash and so on are not run, and neither is a
```python block preceded by the line ``<!-- no-run -->``.

Examples in examples/*.py are imported as modules; if one has a ``main`` function it is
called as ``main(quick=True)`` when its signature has a ``quick`` parameter (the
convention for examples: a few steps, small data), else as ``main()``; the number it
returns (a final loss, an accuracy) must be finite and within the bounds in
``EXAMPLE_RESULTS``.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import re
import sys
import traceback
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
NO_RUN = "<!-- no-run -->"
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*?)\s*$")


@dataclass
class Block:
    """One fenced code block: its language, the line of its opening fence (1-based), its code."""

    info: str
    line: int
    code: str
    no_run: bool

    @property
    def first_line(self) -> str:
        return next((line.strip() for line in self.code.splitlines() if line.strip()), "")


def code_blocks(markdown: str) -> list[Block]:
    """Split a Markdown text into its fenced code blocks (``` or ~~~, any length >= 3)."""
    blocks: list[Block] = []
    lines = markdown.splitlines()
    previous_text = ""  # the last non-blank line outside a block
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            if lines[i].strip():
                previous_text = lines[i].strip()
            i += 1
            continue
        fence, indent = match["fence"], len(match["indent"])
        start = i + 1
        body: list[str] = []
        i += 1
        while i < len(lines):
            closing = FENCE.match(lines[i])
            if (
                closing
                and not closing["info"]
                and closing["fence"][0] == fence[0]
                and len(closing["fence"]) >= len(fence)
            ):
                break
            body.append(lines[i][indent:] if lines[i][:indent].isspace() else lines[i])
            i += 1
        language = match["info"].split()[0].lower() if match["info"] else ""
        blocks.append(Block(language, start, "\n".join(body) + "\n", previous_text == NO_RUN))
        previous_text = ""
        i += 1  # skip the closing fence
    return blocks


def runnable_blocks(markdown: str) -> list[Block]:
    return [block for block in code_blocks(markdown) if block.info == "python" and not block.no_run]


def page_id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A temporary working directory, a non-interactive matplotlib, and cleanup afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setattr(sys, "argv", ["docs"])
    yield tmp_path
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


def fresh_module(name: str, monkeypatch) -> types.ModuleType:
    """A module registered in sys.modules for the test's duration (dataclasses, pickle need it)."""
    module = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, module)
    return module


def _short_traceback(filename: str) -> str:
    """The traceback from the failing block's frames on, without the test's own frames."""
    lines = traceback.format_exc().splitlines()
    for index, line in enumerate(lines):
        if filename in line:
            return "\n".join(lines[index:])
    return "\n".join(lines)


def run_page(markdown: str, label: str, monkeypatch) -> None:
    """Run a page's python blocks in order in one fresh namespace; fail naming the block."""
    namespace = fresh_module("docs_" + re.sub(r"\W", "_", label), monkeypatch).__dict__
    for block in runnable_blocks(markdown):
        # Padding with newlines makes tracebacks show the page's own line numbers.
        code = "\n" * block.line + block.code
        try:
            exec(compile(code, label, "exec"), namespace)
        except Exception:
            pytest.fail(
                f"{label}: the python block at line {block.line} "
                f"(starting {block.first_line!r}) raised:\n{_short_traceback(label)}",
                pytrace=False,
            )


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_page_code_blocks_run(page, sandbox, monkeypatch):
    run_page(page.read_text(encoding="utf-8"), page_id(page), monkeypatch)


# example -> bounds of what main(quick=True) returns, and what it is. The examples are
# seeded, so these hold exactly; each bound says the short run learned something.
EXAMPLE_RESULTS = {
    # mean squared error of y = 3x - 1; 4 before training
    "autodiff_basics": (0.0, 1e-3, "the final mean squared error"),
    # two spirals, 2 classes: chance is 0.5
    "classification": (0.6, 1.0 + 1e-9, "the training accuracy"),
    # error against the curve; predicting 0 everywhere (the start) gives 0.52
    "custom_model": (0.0, 0.25, "the mean squared error against the curve"),
    # sum over 32 samples of sin² + cos² errors; outputs stuck at 0 give exactly 32
    "sin_cos": (0.0, 32.0, "the end cost of a batch"),
    # ten digits: chance is 0.1; the quick run (2 epochs on 480 images) reaches about 0.9
    "digits": (0.5, 1.0 + 1e-9, "the CNN's test accuracy"),
    # largest error against sin and cos on [0, 1]; the untrained trial solutions are off
    # by about 0.3, and the full run reaches about 1e-4
    "sin_cos_from_ode": (0.0, 0.01, "the largest error against sin and cos"),
}


@pytest.mark.parametrize("path", EXAMPLES, ids=page_id)
def test_example_runs(path, sandbox, monkeypatch):
    name = "example_" + path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.syspath_prepend(str(path.parent))
    spec.loader.exec_module(module)
    main = getattr(module, "main", None)
    if callable(main):
        quick = "quick" in inspect.signature(main).parameters
        result = main(quick=True) if quick else main()
        assert path.stem in EXAMPLE_RESULTS, f"add {path.stem}'s result to EXAMPLE_RESULTS"
        low, high, meaning = EXAMPLE_RESULTS[path.stem]
        assert isinstance(result, (int, float)) and math.isfinite(result), result
        assert low < result < high, f"{path.stem}: {meaning} is {result}, not in ({low}, {high})"


# ------------------------------------------------------------------ the runner itself

SAMPLE = """\
# Title

```python
x = 1
```

Text.

```pycon
>>> x = 2
```

<!-- no-run -->
```python
raise SystemExit("must not run")
```

````markdown
```python
raise SystemExit("a fence inside a longer fence is text")
```
````

  ```python
  y = x * 2
  ```

```text
not code
```

~~~bash
echo hi
~~~
"""


def test_code_blocks_are_found_with_languages_and_lines():
    blocks = code_blocks(SAMPLE)
    languages = ["python", "pycon", "python", "markdown", "python", "text", "bash"]
    assert [b.info for b in blocks] == languages
    assert [b.line for b in blocks] == [3, 9, 14, 18, 24, 28, 32]
    assert blocks[2].no_run and not blocks[4].no_run
    assert blocks[3].code.startswith("```python\nraise")
    assert blocks[4].code == "y = x * 2\n"


def test_only_unmarked_python_blocks_run():
    namespace: dict = {}
    for block in runnable_blocks(SAMPLE):
        exec(block.code, namespace)
    assert (namespace["x"], namespace["y"]) == (1, 2)


def test_a_failing_block_is_reported_with_page_and_first_line(monkeypatch):
    page = "```python\nok = True\n```\n\n```python\n\n1 / 0\n```\n"
    with pytest.raises(pytest.fail.Exception) as info:
        run_page(page, "docs/broken.md", monkeypatch)
    message = str(info.value)
    assert "docs/broken.md" in message and "block at line 5" in message
    assert "'1 / 0'" in message and 'docs/broken.md", line 7' in message
    assert "ZeroDivisionError" in message


def test_api_page_lists_every_public_name():
    import tinygrad_nn as tnn

    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    missing = [name for name in tnn.__all__ if f"tnn.{name}" not in text]
    tensor_section = text.split("## `Tensor`", 1)[1].split("\n## ", 1)[0]
    public = [name for name in dir(tnn.Tensor) if not name.startswith("_")]
    missing += [
        f"Tensor.{name}" for name in public if not re.search(rf"\b{name}\b", tensor_section)
    ]
    assert not missing, f"docs/api.md does not mention {missing}"


# module -> the heading that starts its section of docs/api.md
API_SECTIONS = {
    "tinygrad_nn.nn": "## `tnn.nn`",
    "tinygrad_nn.nn.init": "## `tnn.nn`",
    "tinygrad_nn.losses": "## `tnn.losses`",
    "tinygrad_nn.optim": "## `tnn.optim`",
    "tinygrad_nn.io": "## Saving",
    "tinygrad_nn.reference": "## `tnn.reference`",
    "tinygrad_nn.data": "## `tnn.data`",
    "tinygrad_nn.viz": "## `tnn.viz`",
    "tinygrad_nn.viz.plots": "## `tnn.viz`",
    "tinygrad_nn.testing": "## `tnn.testing`",
    "tinygrad_nn.testing.strategies": "## `tnn.testing`",
    "tinygrad_nn.experiments": "## Experiments",
    "tinygrad_nn.capture": "## Top level",
}


def api_section(text: str, heading: str) -> str:
    return heading + text.split(heading, 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize("module_name", API_SECTIONS)
def test_api_page_lists_every_name_of_each_module_in_its_section(module_name):
    module = importlib.import_module(module_name)
    section = api_section(
        (ROOT / "docs" / "api.md").read_text(encoding="utf-8"), API_SECTIONS[module_name]
    )
    # Each name must appear as a code span's word (`name`, `name(...)`, `plots.name`).
    spans = " ".join(re.findall(r"`([^`]+)`", section))
    missing = [name for name in module.__all__ if not re.search(rf"\b{name}\b", spans)]
    assert not missing, f"docs/api.md's {API_SECTIONS[module_name]!r} section lacks {missing}"


def test_api_page_lists_every_command():
    from tinygrad_nn.cli import COMMANDS

    section = api_section((ROOT / "docs" / "api.md").read_text(encoding="utf-8"), "## Command line")
    missing = [name for name in COMMANDS if f"`tinygrad-nn {name}" not in section]
    assert not missing, f"docs/api.md does not list the commands {missing}"


# [text](target) and ![alt](target); the target ends at whitespace or ")".
LINK = re.compile(r"!?\[[^\]]*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")


def relative_links(markdown: str) -> list[str]:
    """The targets of links to files: not URLs, not in-page anchors, not inside code."""
    prose = re.sub(r"```.*?```|~~~.*?~~~", "", markdown, flags=re.DOTALL)
    prose = re.sub(r"`[^`\n]*`", "", prose)
    targets = [match["target"] for match in LINK.finditer(prose)]
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:|#", t)]


def test_relative_links_are_found():
    page = "[a](docs/x.md) ![b](images/y.png) [c](https://e.org) [d](#top) `[e](f.md)`\n"
    page += '```\n[g](h.md)\n```\n[i](z.md#part "title")'
    assert relative_links(page) == ["docs/x.md", "images/y.png", "z.md#part"]


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_relative_links_point_to_existing_files(page):
    broken = [
        target
        for target in relative_links(page.read_text(encoding="utf-8"))
        if not (page.parent / target.split("#", 1)[0]).exists()
    ]
    assert not broken, f"{page_id(page)} links to missing files: {broken}"


def test_there_are_pages_and_examples():
    assert ROOT / "README.md" in PAGES and ROOT / "docs" / "index.md" in PAGES
    assert EXAMPLES
