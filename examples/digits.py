"""Recognise handwritten digits: an MLP and a small CNN on scikit-learn's 8x8 digits.

The data set (1,797 images of 8x8 pixels, values 0-16, ten classes) ships inside
scikit-learn's wheel, so nothing is downloaded (``pip install "tinygrad-nn[examples]"`` or
``pip install scikit-learn``). A seeded split keeps 360 images for testing. Two models are
trained with Adam on mini-batches from `tnn.data.DataLoader`:

- an MLP: Flatten, then Linear(64, 256), ReLU, Dropout(0.2) twice (the second Linear
  256 -> 256), then Linear(256, 10);
- a CNN: two blocks of Conv2d (3x3, padding 1), BatchNorm2d, ReLU and MaxPool2d(2),
  then Dropout and Linear(128, 10).

Each epoch prints one progress line; at the end the CNN's confusion matrix is plotted and
its weights (with the BatchNorm running statistics) are saved with `tnn.save`.

Run it with ``python examples/digits.py [--out digits_output] [--seed 0] [--quick]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import tinygrad_nn as tnn
from tinygrad_nn import Tensor, nn
from tinygrad_nn.data import DataLoader, TensorDataset
from tinygrad_nn.losses import cross_entropy
from tinygrad_nn.optim import Adam
from tinygrad_nn.optim.lr_scheduler import CosineAnnealingLR

TEST_SIZE = 360


def load_digits(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Images as float32 (N, 1, 8, 8) scaled to [0, 1] and int labels: train, then test."""
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]  # add the channel axis
    order = np.random.default_rng(seed).permutation(len(images))
    test, train = order[:TEST_SIZE], order[TEST_SIZE:]
    return images[train], digits.target[train], images[test], digits.target[test]


def make_mlp(seed: int) -> nn.Module:
    """Two hidden layers of 256 relu units with dropout, PyTorch's default init."""
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(64, 256, dtype=np.float32, rng=rng),
        nn.ReLU(),
        nn.Dropout(0.2, rng=rng),
        nn.Linear(256, 256, dtype=np.float32, rng=rng),
        nn.ReLU(),
        nn.Dropout(0.2, rng=rng),
        nn.Linear(256, 10, dtype=np.float32, rng=rng),
    )


def make_cnn(seed: int) -> nn.Module:
    """Two conv blocks (8x8 -> 4x4 -> 2x2), dropout, and a linear classifier."""
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, dtype=np.float32, rng=rng),
        nn.BatchNorm2d(16, dtype=np.float32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1, dtype=np.float32, rng=rng),
        nn.BatchNorm2d(32, dtype=np.float32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.25, rng=rng),
        nn.Linear(32 * 2 * 2, 10, dtype=np.float32, rng=rng),
    )


def predict(model: nn.Module, images: np.ndarray) -> np.ndarray:
    """Class predictions in eval mode (dropout off, BatchNorm's running statistics)."""
    model.eval()
    with tnn.no_grad():
        labels = model(Tensor(images)).data.argmax(axis=1)
    model.train()
    return labels


def train(
    name: str,
    model: nn.Module,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    epochs: int,
    lr: float,
    seed: int,
) -> float:
    """Adam with a cosine learning-rate schedule; one progress line per epoch. Returns the
    final test accuracy."""
    train_x, train_y, test_x, test_y = data
    loader = DataLoader(TensorDataset(train_x, train_y), batch_size=32, shuffle=True, rng=seed)
    optimizer = Adam(model.parameters(), lr=lr)
    scheduler = CosineAnnealingLR(optimizer, T_max=epochs)
    accuracy = 0.0
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        total = 0.0
        for images, labels in loader:
            optimizer.zero_grad()
            loss = cross_entropy(model(Tensor(images)), labels)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(labels)
        scheduler.step()
        accuracy = float(np.mean(predict(model, test_x) == test_y))
        print(
            f"{name} epoch {epoch:2d}/{epochs}: loss {total / len(train_y):.4f}, "
            f"test accuracy {accuracy:.1%} ({time.perf_counter() - start:.2f} s)"
        )
    return accuracy


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, classes: int = 10) -> np.ndarray:
    """counts[i, j]: how many images of digit i were predicted as j."""
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (truth, predicted), 1)
    return counts


def plot_confusion(counts: np.ndarray, title: str):
    """The confusion matrix as a heat map with the counts written in."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.5, 5), layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(counts, cmap="Blues")
    for (i, j), count in np.ndenumerate(counts):
        if count:
            colour = "white" if count > counts.max() / 2 else "black"
            ax.text(j, i, str(count), ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(title)
    figure.colorbar(image, ax=ax, label="images")
    return figure


def main(quick: bool = False, out: str | Path = "digits_output", seed: int = 0) -> float:
    """Train the MLP and the CNN, plot and save; returns the CNN's test accuracy."""
    from tinygrad_nn.viz.plots import save_figure

    data = load_digits(seed)
    if quick:  # a smoke run: a third of the training images, few epochs
        data = (data[0][:480], data[1][:480], data[2], data[3])
    mlp_epochs, cnn_epochs = (2, 2) if quick else (30, 15)
    start = time.perf_counter()
    mlp_accuracy = train("MLP", make_mlp(seed), data, mlp_epochs, lr=3e-3, seed=seed)
    mlp_seconds = time.perf_counter() - start
    cnn = make_cnn(seed)
    start = time.perf_counter()
    cnn_accuracy = train("CNN", cnn, data, cnn_epochs, lr=1e-2, seed=seed)
    cnn_seconds = time.perf_counter() - start
    print(
        f"test accuracy: MLP {mlp_accuracy:.1%} ({mlp_seconds:.1f} s), "
        f"CNN {cnn_accuracy:.1%} ({cnn_seconds:.1f} s)"
    )

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)  # a script creates its output folder
    counts = confusion_matrix(data[3], predict(cnn, data[2]))
    figure = plot_confusion(counts, f"CNN on the digits: {cnn_accuracy:.1%} test accuracy")
    print(f"saved the confusion matrix to {save_figure(figure, folder / 'confusion.png')}")
    checkpoint = folder / "digits_cnn.npz"
    tnn.save(cnn.state_dict(), checkpoint)
    print(f"saved the CNN's weights to {checkpoint}")
    return cnn_accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="digits_output", help="folder for the plot and weights")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and the weights")
    parser.add_argument("--quick", action="store_true", help="a few epochs on fewer images")
    options = parser.parse_args()
    main(quick=options.quick, out=options.out, seed=options.seed)
