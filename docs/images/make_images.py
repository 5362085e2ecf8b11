"""Regenerate the pictures of docs/visualization.md.

Run from anywhere: ``python docs/images/make_images.py``. It writes next to itself:

- graph.png: the article's network on one batch, after backward, ops numbered in
  backward order (Graphviz's dot; the matplotlib fallback if dot is missing).
- graph_fallback.png: the same graph drawn by the built-in matplotlib layout.
- graph_dead.png: the article's "why do we sometimes get bad results?" case, weights
  drawn from normal(-0.1, 0.1): ReLU units are dead and highlighted.
- fit.png, cost.png, training.png: a 300-batch training run of the article (seed 5).
- training_failed.png: the report of a run that fails (seed 0): one output unit is dead
  from the first batch on, so its weights never receive a gradient.
- graph_classifier.png: a cross-entropy classifier, the loss folded into one node.
- explore_forward.png, explore_backward.png: `tnn.viz.explore`'s page for graph.png's
  graph, at a forward step and a backward step, screenshotted in headless Chromium
  (Debian's ``chromium`` package and ``pip install playwright``; skipped with a message
  when either is missing).
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np

from tinygrad_nn import Tensor
from tinygrad_nn.data import sincos, sincos_grid
from tinygrad_nn.losses import cross_entropy, squared_error
from tinygrad_nn.nn import MLP, init
from tinygrad_nn.optim import SGD
from tinygrad_nn.viz import TrainingHistory, explore, plots, save_graph

HERE = Path(__file__).resolve().parent
SEED = 5  # a run that trains well; seed 0 is one that fails
FAILING_SEED = 0
BATCH = 32


def first_batch_loss(seed: int, **mlp_options: object) -> Tensor:
    """The article's network and cost on its first batch (the same weights and batch as
    `train` with this seed), after a backward that keeps the graph."""
    rng = np.random.default_rng(seed)
    model = MLP([1, 16, 2], rng=rng, **mlp_options)
    x, y = sincos(n_batches=1, batch_size=BATCH, rng=rng)
    loss = squared_error(model(Tensor(x[0], name="x")), Tensor(y[0], name="y"))
    loss.name = "cost"
    loss.backward(retain_graph=True)
    return loss


def graphs() -> None:
    loss = first_batch_loss(SEED)
    save_graph(loss, HERE / "graph.png", order=True)
    save_graph(loss, HERE / "graph_fallback.png", renderer="matplotlib", order=True)

    shifted = functools.partial(init.normal, mean=-0.1, std=0.1)
    bad = first_batch_loss(SEED, init=shifted)
    save_graph(bad, HERE / "graph_dead.png", values=False)
    save_graph(classifier_loss(), HERE / "graph_classifier.png", order=True)


def classifier_loss() -> Tensor:
    """A small classifier's cross-entropy on one batch (docs/visualization.md's example)."""
    rng = np.random.default_rng(3)
    model = MLP([2, 8, 3], output_activation=None, rng=rng)
    logits = model(Tensor(rng.normal(size=(6, 2)), name="x"))
    loss = cross_entropy(logits, np.arange(6) % 3)
    loss.name = "cost"
    loss.backward(retain_graph=True)
    return loss


# The two explorer screenshots: (file, page step index, what it shows).
SCREENSHOTS = (
    ("explore_forward.png", 1, "forward step 2: the first Relu and its dead units"),
    ("explore_backward.png", 7, "backward step 3: the gradient reaching layers.1"),
)


def screenshots() -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        chromium = None
    if chromium is None:
        print("skipped the explorer screenshots: needs Debian's chromium and playwright")
        return
    with tempfile.TemporaryDirectory() as folder:
        page_path = explore(first_batch_loss(SEED), Path(folder) / "explore.html")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1500, "height": 640})
            page.goto(page_path.resolve().as_uri())
            for name, index, _ in SCREENSHOTS:
                page.evaluate(f"window.tnnExplorer.go({index})")
                page.screenshot(path=str(HERE / name))
            browser.close()


def train(seed: int) -> tuple[MLP, TrainingHistory]:
    """The article's 300 batches of 32, recording a TrainingHistory."""
    rng = np.random.default_rng(seed)
    model = MLP([1, 16, 2], rng=rng)
    x, y = sincos(n_batches=300, batch_size=BATCH, rng=rng)
    optimizer = SGD(model.parameters(), lr=1.0)
    history = TrainingHistory()
    for step in range(len(x)):
        error_sum = squared_error(model(Tensor(x[step])), Tensor(y[step]))
        loss = error_sum / (2 * BATCH)  # the article's update: gradient of cost / (2 B)
        optimizer.zero_grad()
        loss.backward()
        history.record(model, loss, x[step], cost=error_sum.item())
        optimizer.step()
    return model, history


def training() -> None:
    model, history = train(SEED)
    grid_x, grid_y = sincos_grid(30)
    estimate = model(Tensor(grid_x)).data
    figures = {
        "fit.png": plots.plot_fit(grid_x, grid_y, estimate, labels=("sin", "cos")),
        "cost.png": plots.plot_cost(history.costs, log=True, smooth=20),
        "training.png": plots.plot_training(history),
    }
    _, failed = train(FAILING_SEED)
    figures["training_failed.png"] = plots.plot_training(failed, title="a run that fails")
    for name, figure in figures.items():
        plots.save_figure(figure, HERE / name)


if __name__ == "__main__":
    graphs()
    training()
    screenshots()
    print(f"wrote the images in {HERE}")
