"""docs/visualization.md shows only what the code produces.

Its python blocks run in order (as in tests/test_docs.py) with their output captured; every
line of a ```text block must be a line the blocks before it printed (a line ``...`` stands
for lines left out). The numbers stated in its prose are recomputed here.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import sys
from pathlib import Path

import numpy as np
import pytest
from test_docs import code_blocks

from tinygrad_nn import demo
from tinygrad_nn.nn.diagnostics import dead_units
from tinygrad_nn.viz.snapshot import walk

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "visualization.md"


@pytest.fixture
def make_images(monkeypatch):
    spec = importlib.util.spec_from_file_location(
        "make_images", ROOT / "docs/images/make_images.py"
    )
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "make_images", module)
    spec.loader.exec_module(module)
    return module


def test_every_text_block_is_what_the_code_before_it_prints(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {"__name__": "docs_visualization"}
    printed: list[str] = []
    checked = 0
    for block in code_blocks(PAGE.read_text(encoding="utf-8")):
        if block.info == "python" and not block.no_run:
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                exec(compile("\n" * block.line + block.code, str(PAGE), "exec"), namespace)
            printed.extend(line.rstrip() for line in buffer.getvalue().splitlines())
        elif block.info == "text":
            shown = [line.rstrip() for line in block.code.splitlines() if line.strip() != "..."]
            missing = [line for line in shown if line not in printed]
            assert not missing, f"line {block.line}: not printed by the code: {missing}"
            printed = []
            checked += 1
    assert checked >= 3


def test_the_first_batch_has_10_of_16_hidden_and_1_of_2_outputs_dead(make_images) -> None:
    loss = make_images.first_batch_loss(make_images.SEED)
    relus = [out.data for out in walk(loss).ops if out._ctx.op_name() == "Relu"]
    assert [(int(dead_units(a).sum()), a.shape[-1]) for a in relus] == [(10, 16), (1, 2)]


def test_9_of_the_first_12_demo_seeds_end_with_a_dead_output() -> None:
    dead = []
    for seed in range(12):
        model = demo.train(demo.DemoConfig(seed=seed)).model
        dead.append(bool(demo.dead_outputs(demo.fit_on_grid(model)[2])))
    assert sum(dead) == 9


def test_the_training_reports_tell_the_story_the_page_tells(make_images) -> None:
    _, learns = make_images.train(make_images.SEED)
    output = np.array(learns.dead_fractions["layers.1"])
    assert output[0] > 0 and np.all(output[1:] == 0)  # dead at first, then none
    _, fails = make_images.train(make_images.FAILING_SEED)
    assert np.all(np.array(fails.dead_fractions["layers.1"]) == 0.5)  # one of two outputs
