"""Every ``rng=`` argument takes None, an int seed or a Generator, checked the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from tinygrad_nn import data
from tinygrad_nn._random import as_generator, check_seed
from tinygrad_nn.experiments import run_experiment
from tinygrad_nn.experiments.stats import bootstrap_ci
from tinygrad_nn.nn import MLP, Linear, init
from tinygrad_nn.reference import HandwrittenMLP
from tinygrad_nn.testing import gradcheck

# (owner named in the error, a call taking rng=...)
USERS: list[tuple[str, Callable[[Any], object]]] = [
    ("init.normal", lambda rng: init.normal(np.empty(3), rng=rng)),
    ("init.uniform", lambda rng: init.uniform(np.empty(3), rng=rng)),
    ("init.xavier_uniform", lambda rng: init.xavier_uniform(np.empty((2, 2)), rng=rng)),
    ("init.kaiming_uniform", lambda rng: init.kaiming_uniform(np.empty((2, 2)), rng=rng)),
    ("Linear", lambda rng: Linear(2, 3, rng=rng)),
    ("MLP", lambda rng: MLP([1, 4, 2], rng=rng)),
    ("HandwrittenMLP", lambda rng: HandwrittenMLP([1, 4, 2], rng=rng)),
    ("sincos", lambda rng: data.sincos(2, 3, rng=rng)),
    ("batches", lambda rng: data.batches(np.ones((4, 1)), np.ones(4), 2, rng=rng)),
    ("two_spirals", lambda rng: data.two_spirals(5, rng=rng)),
    ("moons", lambda rng: data.moons(5, rng=rng)),
    ("gradcheck", lambda rng: gradcheck(lambda x: x * 2, np.ones(3), seed=rng)),
    ("bootstrap_ci", lambda rng: bootstrap_ci([1.0, 2.0, 3.0], resamples=10, seed=rng)),
]


@pytest.mark.parametrize("bad", [True, False, "0", 1.5, [1, 2]])
@pytest.mark.parametrize(("owner", "call"), USERS, ids=[owner for owner, _ in USERS])
def test_bad_rngs_raise_a_type_error_naming_the_owner(owner: str, call: Callable, bad: Any) -> None:
    with pytest.raises(TypeError, match=rf"^{owner}: rng must be None, an int seed or a numpy"):
        call(bad)


@pytest.mark.parametrize(("owner", "call"), USERS, ids=[owner for owner, _ in USERS])
def test_none_ints_and_generators_are_accepted(owner: str, call: Callable) -> None:
    for rng in (None, 3, np.int64(3), np.random.default_rng(3)):
        call(rng)


def test_a_seed_means_default_rng_of_that_seed() -> None:
    assert as_generator(7, "x").random() == np.random.default_rng(7).random()
    generator = np.random.default_rng(0)
    assert as_generator(generator, "x") is generator
    x_seed, _ = data.moons(10, rng=5)
    x_generator, _ = data.moons(10, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(x_seed, x_generator)
    np.testing.assert_array_equal(
        HandwrittenMLP([1, 4, 2], rng=5).weights[0],
        np.random.default_rng(5).normal(0.0, 0.1, size=(4, 2)),
    )


def test_seeds_must_be_non_negative_ints() -> None:
    assert check_seed(np.int32(4), "x") == 4
    with pytest.raises(ValueError, match="moons: a seed must be >= 0"):
        data.moons(5, rng=-1)
    with pytest.raises(TypeError, match="run_experiment: a seed must be an int, got bool"):
        run_experiment("init", runs=1, seed=True, jobs=1, steps=2)
