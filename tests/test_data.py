"""Synthetic data sets, the batch iterator, TensorDataset and DataLoader: shapes, ranges,
seeding, epochs and argument checks."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_nn import Tensor, data
from tinygrad_nn.data import batches, moons, sincos, sincos_grid, two_spirals

CLASSIFICATION_SETS = [two_spirals, moons]


# ---------------------------------------------------------------------- sin / cos


def test_sincos_shapes_range_and_targets() -> None:
    x, y = sincos(rng=0)
    assert x.shape == (300, 32, 1)
    assert y.shape == (300, 32, 2)
    assert x.dtype == y.dtype == np.float64
    assert x.min() >= 0.0
    assert x.max() < 1.0
    assert x.std() == pytest.approx(np.sqrt(1 / 12), rel=0.05)  # uniform on [0, 1)
    np.testing.assert_array_equal(y[..., 0], np.sin(x[..., 0]))
    np.testing.assert_array_equal(y[..., 1], np.cos(x[..., 0]))


def test_sincos_is_deterministic_per_seed() -> None:
    first_x, first_y = sincos(n_batches=4, batch_size=3, rng=5)
    second_x, second_y = sincos(n_batches=4, batch_size=3, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(first_x, second_x)
    np.testing.assert_array_equal(first_y, second_y)
    other_x, _ = sincos(n_batches=4, batch_size=3, rng=6)
    assert not np.array_equal(first_x, other_x)


def test_sincos_float32_targets_are_computed_from_the_float32_inputs() -> None:
    x, y = sincos(n_batches=2, batch_size=5, rng=0, dtype=np.float32)
    assert x.dtype == y.dtype == np.float32
    np.testing.assert_array_equal(y[..., :1], np.sin(x))


def test_sincos_grid_is_the_articles_test_points() -> None:
    x, y = sincos_grid()
    assert x.shape == (30, 1)
    assert y.shape == (30, 2)
    np.testing.assert_array_equal(x[:, 0], np.linspace(0.0, 1.0, 30))
    assert x[0, 0] == 0.0
    assert x[-1, 0] == 1.0
    np.testing.assert_array_equal(y, np.concatenate([np.sin(x), np.cos(x)], axis=1))
    assert sincos_grid(7, dtype=np.float32)[0].dtype == np.float32


# ---------------------------------------------------------------------- batches


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 40),
    batch_size=st.integers(1, 12),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_batches_visit_every_row_once_in_pairs(
    n: int, batch_size: int, shuffle: bool, drop_last: bool, seed: int
) -> None:
    x = np.arange(n * 2).reshape(n, 2)
    y = np.arange(n)
    pairs = list(batches(x, y, batch_size, shuffle=shuffle, rng=seed, drop_last=drop_last))

    full, rest = divmod(n, batch_size)
    expected_sizes = [batch_size] * full + ([rest] if rest and not drop_last else [])
    assert [len(yb) for _, yb in pairs] == expected_sizes
    for xb, yb in pairs:
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)  # rows stay paired
    seen = np.concatenate([yb for _, yb in pairs]) if pairs else np.array([], dtype=int)
    if not drop_last:
        np.testing.assert_array_equal(np.sort(seen), y)
    assert len(np.unique(seen)) == len(seen)
    if not shuffle:
        np.testing.assert_array_equal(seen, y[: len(seen)])


def test_batches_shuffle_is_seeded() -> None:
    x = np.arange(50.0)[:, None]
    y = np.arange(50)

    def order(seed: int) -> np.ndarray:
        return np.concatenate([yb for _, yb in batches(x, y, 8, rng=seed)])

    np.testing.assert_array_equal(order(1), order(1))
    assert not np.array_equal(order(1), order(2))
    assert not np.array_equal(order(1), y)


def test_batches_are_copies() -> None:
    x, y = np.zeros((4, 1)), np.zeros(4)
    for xb, _ in batches(x, y, 2, shuffle=False):
        xb += 1.0
    np.testing.assert_array_equal(x, 0.0)


def test_batches_check_arguments_when_called() -> None:
    x = np.zeros((5, 1))
    with pytest.raises(ValueError, match=r"batches: .*same number of samples.*5 and 4"):
        batches(x, np.zeros(4), 2)
    with pytest.raises(ValueError, match=r"batches: .*first \(sample\) axis"):
        batches(np.float64(1.0), np.zeros(1), 2)
    with pytest.raises(ValueError, match=r"batches: batch_size must be >= 1, got 0"):
        batches(x, np.zeros(5), 0)
    with pytest.raises(TypeError, match=r"batches: batch_size must be an int, got float"):
        batches(x, np.zeros(5), 2.0)


# ---------------------------------------------------------------------- classification sets


@pytest.mark.parametrize("make", CLASSIFICATION_SETS)
def test_classification_sets_shapes_labels_and_seeding(make: Callable) -> None:
    x, labels = make(25, rng=0)
    assert x.shape == (50, 2)
    assert x.dtype == np.float64
    assert labels.shape == (50,)
    assert np.issubdtype(labels.dtype, np.integer)
    np.testing.assert_array_equal(labels, [0] * 25 + [1] * 25)
    np.testing.assert_array_equal(x, make(25, rng=np.random.default_rng(0))[0])
    assert not np.array_equal(x, make(25, rng=1)[0])
    assert make(3, rng=0, dtype=np.float32)[0].dtype == np.float32


@pytest.mark.parametrize("make", CLASSIFICATION_SETS)
def test_noise_has_the_requested_standard_deviation(make: Callable) -> None:
    # The clean points are drawn before the noise, so the same seed gives the same points.
    clean, _ = make(2000, noise=0.0, rng=3)
    noisy, _ = make(2000, noise=0.05, rng=3)
    assert (noisy - clean).std() == pytest.approx(0.05, rel=0.05)
    assert abs((noisy - clean).mean()) < 0.005


def test_two_spirals_geometry_without_noise() -> None:
    x, labels = two_spirals(200, noise=0.0, rng=0)
    radius = np.hypot(x[:, 0], x[:, 1])
    assert radius.max() <= 1.0
    # A point at radius t lies at angle 3 pi t (class 0) or 3 pi t + pi (class 1).
    expected_angle = 3 * np.pi * radius + np.pi * labels
    angle_error = np.angle(np.exp(1j * (np.arctan2(x[:, 1], x[:, 0]) - expected_angle)))
    np.testing.assert_allclose(angle_error, 0.0, atol=1e-9)


def test_moons_geometry_without_noise() -> None:
    x, labels = moons(200, noise=0.0, rng=0)
    upper, lower = x[labels == 0], x[labels == 1]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0)
    assert upper[:, 1].min() >= 0.0
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0)
    assert lower[:, 1].max() <= 0.5


# ---------------------------------------------------------------------- argument checks


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: sincos(n_batches=0), ValueError, r"sincos: n_batches must be >= 1, got 0"),
        (lambda: sincos(batch_size=2.5), TypeError, r"sincos: batch_size must be an int"),
        (lambda: sincos(dtype=np.int32), TypeError, r"sincos: dtype must be a floating"),
        (lambda: sincos(dtype="nonsense"), TypeError, r"sincos: dtype"),
        (lambda: sincos_grid(0), ValueError, r"sincos_grid: n must be >= 1"),
        (lambda: two_spirals(0), ValueError, r"two_spirals: n_per_class must be >= 1"),
        (lambda: two_spirals(True), TypeError, r"two_spirals: n_per_class must be an int"),
        (lambda: two_spirals(5, noise=-0.1), ValueError, r"two_spirals: noise .*-0\.1"),
        (lambda: moons(5, noise=float("nan")), ValueError, r"moons: noise .*nan"),
        (lambda: moons(5, noise="0.1"), TypeError, r"moons: noise must be a real number"),
        (lambda: moons(5, dtype=bool), TypeError, r"moons: dtype must be a floating"),
    ],
)
def test_bad_arguments_are_rejected(
    call: Callable[[], object], error: type[Exception], pattern: str
) -> None:
    with pytest.raises(error, match=pattern):
        call()


# ---------------------------------------------------------------------- TensorDataset, DataLoader


def test_tensor_dataset_indexing_and_errors() -> None:
    x, y = np.arange(12.0).reshape(6, 2), np.arange(6)
    dataset = data.TensorDataset(x, y)
    assert len(dataset) == 6
    xi, yi = dataset[4]
    np.testing.assert_array_equal(xi, [8.0, 9.0])
    assert yi == 4
    rows = dataset[np.array([5, 0])]
    np.testing.assert_array_equal(rows[1], [5, 0])
    as_tensor = data.TensorDataset(Tensor(x))[1:3][0]
    assert isinstance(as_tensor, Tensor) and not as_tensor.requires_grad
    with pytest.raises(ValueError, match=r"same first \(sample\) axis.*\(6, 2\), \(5,\)"):
        data.TensorDataset(x, np.arange(5))
    with pytest.raises(ValueError, match="at least one"):
        data.TensorDataset()


def test_data_loader_batches_epochs_and_drop_last() -> None:
    x, y = np.arange(10.0)[:, None], np.arange(10)
    loader = data.DataLoader(data.TensorDataset(x, y), batch_size=4)
    assert len(loader) == 3
    batches = list(loader)
    assert [len(yb) for _, yb in batches] == [4, 4, 2]  # the last, short batch
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in batches]), y)  # in order
    np.testing.assert_array_equal(batches[0][0], x[:4])

    dropping = data.DataLoader(data.TensorDataset(x, y), batch_size=4, drop_last=True)
    assert len(dropping) == 2 and [len(yb) for _, yb in dropping] == [4, 4]

    shuffled = data.DataLoader(data.TensorDataset(x, y), batch_size=3, shuffle=True, rng=0)
    first = np.concatenate([yb for _, yb in shuffled])
    second = np.concatenate([yb for _, yb in shuffled])
    assert sorted(first) == list(range(10)) and sorted(second) == list(range(10))
    assert not np.array_equal(first, second), "each epoch has its own order"
    again = data.DataLoader(data.TensorDataset(x, y), batch_size=3, shuffle=True, rng=0)
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in again]), first)  # seeded
    for xb, yb in shuffled:
        np.testing.assert_array_equal(xb[:, 0], yb)  # the arrays stay aligned


def test_data_loader_stacks_samples_of_any_dataset() -> None:
    class Squares:
        def __len__(self) -> int:
            return 5

        def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
            return np.full(2, float(index)), index * index

    xb, yb = next(iter(data.DataLoader(Squares(), batch_size=3)))
    np.testing.assert_array_equal(xb, [[0, 0], [1, 1], [2, 2]])
    np.testing.assert_array_equal(yb, [0, 1, 4])
    with pytest.raises(TypeError, match="TensorDataset"):
        data.DataLoader(object())
    with pytest.raises(ValueError, match="batch_size"):
        data.DataLoader(Squares(), batch_size=0)
