"""Regenerate the pictures of docs/higher-order.md.

Run from anywhere: ``python docs/images/make_higher_order_images.py``. It writes next to
itself:

- gradient_graph.png: the graph that ``tnn.gradients(y, x, create_graph=True)`` records
  for y = tanh(w x) summed, drawn with `tnn.viz.save_graph`: the backward pass of Tanh and
  Mul, as ops of its own, ending in dy/dx.
- ode_fit.png: examples/sin_cos_from_ode.py at its default 2500 steps: sin and cos learned
  from u'' + u = 0 and the starting values alone.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import tinygrad_nn as tnn
from tinygrad_nn import Tensor
from tinygrad_nn.viz import save_graph

HERE = Path(__file__).resolve().parent


def gradient_graph(path: Path) -> Path:
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True, name="x")
    w = Tensor(np.array([2.0, 0.5]), requires_grad=True, name="w")
    y = (w * x).tanh().sum()
    (dy_dx,) = tnn.gradients(y, x, create_graph=True)
    dy_dx.name = "dy/dx"
    return save_graph(dy_dx, path)


def ode_fit(path: Path) -> Path:
    sys.path.insert(0, str(HERE.parents[1] / "examples"))
    import sin_cos_from_ode

    sin_cos_from_ode.main(plot=path)
    return path


if __name__ == "__main__":
    print(gradient_graph(HERE / "gradient_graph.png"))
    print(ode_fit(HERE / "ode_fit.png"))
