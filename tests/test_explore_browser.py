"""`tnn.viz.explore` in a real browser: headless Chromium driven by Playwright.

The pages are opened from disk with every network request refused, stepped through with
the keyboard, and what they highlight and show is compared with `trace_backward`'s own
steps. Any JavaScript error or console error fails the test. Debian's ``chromium``
package provides the browser (``.ci/run`` installs it; Playwright's own browser download
is not used); without it the module is skipped.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tinygrad_nn as tnn
from tinygrad_nn import Tensor
from tinygrad_nn.losses import cross_entropy
from tinygrad_nn.nn import MLP
from tinygrad_nn.viz import explore, trace_backward
from tinygrad_nn.viz.command import build_loss
from tinygrad_nn.viz.drawing import fmt

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium); .ci/run installs it",
        allow_module_level=True,
    )
# Playwright is a dev dependency: with chromium present, its absence is a failure, not a skip.
from playwright import sync_api  # noqa: E402

RENDERERS = ["builtin", *(["dot"] if shutil.which("dot") else [])]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


class Page:
    """One explorer page in the browser; records console errors and network requests."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.page = browser.new_page(viewport={"width": 1400, "height": 800})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.route("**/*", self._route)
        self.page.goto(path.resolve().as_uri())

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.errors.append(f"console {message.type}: {message.text}")

    def _route(self, route: Any) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            self.requests.append(route.request.url)
            route.abort()

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)

    def state(self) -> dict[str, Any]:
        return self.page.evaluate(
            """() => {
              const panel = document.getElementById("panel");
              const current = [...document.querySelectorAll("#graph g.node.current")];
              return {
                index: window.tnnExplorer.current,
                phase: panel.dataset.phase,
                op: panel.querySelector(".op-name").textContent,
                rule: panel.querySelector(".rule").textContent,
                gradIn: (panel.querySelector(".grad-in") || {}).textContent,
                sends: [...panel.querySelectorAll(".sends > li")].map(li => li.textContent),
                dead: (panel.querySelector(".dead") || {}).textContent,
                current: current.map(g => g.id),
                currentText: current.map(g => g.textContent),
                flow: [...document.querySelectorAll("#graph g.edge.flow")].map(g => g.id),
                counter: document.getElementById("counter").textContent,
              };
            }"""
        )

    def close(self) -> None:
        self.page.close()
        assert not self.errors, self.errors
        assert not self.requests, f"the page asked the network for {self.requests}"


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    pages: list[Page] = []

    def opener(path: Path) -> Page:
        pages.append(Page(browser, path))
        return pages[-1]

    yield opener
    for page in pages:
        page.close()


def walk_backward(page: Page, loss: Tensor) -> list[dict[str, Any]]:
    """Step from the first to the last step; check every backward step against the trace."""
    trace = trace_backward(loss)
    page.press("Home")
    states = []
    while True:
        state = page.state()
        states.append(state)
        if state["phase"] == "backward":
            step = trace[sum(s["phase"] == "backward" for s in states) - 1]
            assert state["op"] == step.op
            assert state["rule"] == step.rule
            # The highlighted node is the op the drawing numbers with this step, or the
            # node of the folded function call ("#1-#9 cross_entropy") that holds it.
            assert len(state["current"]) == 1
            text = state["currentText"][0]
            folded = re.search(r"#(\d+)-#(\d+) ", text)
            if state["current"][0].startswith("fn_"):
                assert folded and int(folded[1]) <= step.number <= int(folded[2])
            else:
                assert f"#{step.number} {step.op}" in text
            assert f"norm {fmt(step.grad_norm)}" in state["gradIn"]
            assert len(state["sends"]) == len(step.sends)
            for shown, sent in zip(state["sends"], step.sends, strict=True):
                assert sent.to in shown
                if sent.norm is None:
                    assert "no gradient" in shown
                else:
                    assert f"norm {fmt(sent.norm)}" in shown
            sent_edges = sum(sent.norm is not None for sent in step.sends)
            if state["current"][0].startswith("fn_"):  # edges inside the call are not drawn
                assert len(state["flow"]) <= sent_edges
            else:
                assert len(state["flow"]) == sent_edges
        page.press("ArrowRight")
        if page.state()["index"] == state["index"]:
            break
    assert sum(s["phase"] == "backward" for s in states) == len(trace)
    return states


@pytest.mark.parametrize("renderer", RENDERERS)
def test_the_articles_backward_pass_steps_as_the_trace_says(
    tmp_path: Path, open_page: Any, renderer: str
) -> None:
    _, loss = build_loss(seed=0, batch_size=8)
    page = open_page(explore(loss, tmp_path / "explore.html", renderer=renderer))
    states = walk_backward(page, loss)
    forward = [s for s in states if s["phase"] == "forward"]
    assert [s["op"] for s in forward] == ["Linear", "Relu", "Linear", "Relu", "SquaredError"]
    assert states[0]["counter"].startswith("forward step 1")
    relu = next(s for s in states if s["op"] == "Relu" and s["phase"] == "backward")
    assert relu["dead"].startswith("dead units: ")
    # Back and forth with the keys.
    page.press("ArrowLeft")
    assert page.state()["index"] == len(states) - 2
    page.press("End")
    assert page.state()["index"] == len(states) - 1


@pytest.mark.parametrize("renderer", RENDERERS)
def test_a_cross_entropy_classifier(tmp_path: Path, open_page: Any, renderer: str) -> None:
    rng = np.random.default_rng(3)
    model = MLP([2, 8, 3], output_activation=None, rng=rng)
    logits = model(Tensor(rng.normal(size=(6, 2)), name="x"))
    loss = cross_entropy(logits, rng.integers(0, 3, size=6))
    loss.name = "cost"
    page = open_page(explore(loss, tmp_path / "classifier.html", renderer=renderer))
    # cross_entropy starts folded into one node, which lights up for each of its steps.
    states = walk_backward(page, loss)
    folded = [s for s in states if s["current"] and s["current"][0].startswith("fn_")]
    assert len(folded) == 2 * 9  # its nine ops, forward and backward
    assert all("cross_entropy" in s["currentText"][0] for s in folded)
    # Expanded, every op is its own node; the function's frame folds on request.
    page.page.click("#layout")
    assert page.page.evaluate("window.tnnExplorer.layout") == "expanded"
    walk_backward(page, loss)

    def hidden() -> int:
        return page.page.evaluate("document.querySelectorAll('#graph g.node.hidden').length")

    item = page.page.locator("#frame-list li", has_text="cross_entropy")
    drawn = page.page.evaluate(
        """() => [...document.querySelectorAll('.layout:not(.hidden) g.cluster')].length"""
    )
    item.click()
    if renderer == "dot":
        assert drawn and hidden() > 9
    item.click()
    assert hidden() == 0


def test_a_higher_order_graph(tmp_path: Path, open_page: Any) -> None:
    x = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True, name="x")
    (first,) = tnn.gradients((x.tanh() * x).sum(), [x], create_graph=True)
    second = first.sum()
    page = open_page(explore(second, tmp_path / "second.html", renderer="builtin"))
    walk_backward(page, second)


def test_frames_collapse_and_expand(tmp_path: Path, open_page: Any) -> None:
    _, loss = build_loss(seed=0, batch_size=8)
    page = open_page(explore(loss, tmp_path / "explore.html", renderer="builtin"))

    def hidden() -> list[str]:
        return page.page.evaluate(
            "() => [...document.querySelectorAll('#graph g.node.hidden')].map(g => g.id)"
        )

    item = page.page.locator("#frame-list li", has_text="layers.0: Linear(1→16)")
    assert hidden() == []
    item.click()
    collapsed = hidden()
    # The first layer's op, its output and its two parameters fold away; the data x stays.
    assert len(collapsed) == 4 and "t0" not in collapsed
    item.click()
    assert hidden() == []
