"""Shared test configuration: hypothesis profiles and a non-interactive matplotlib."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("MPLBACKEND", "Agg")

# "ci" has no deadline: shared 2-core CI machines have noisy timings.
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("dev", deadline=None, max_examples=40)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(autouse=True)
def _restore_global_state():
    """Keep tests independent of each other's default dtype and grad mode."""
    import tinygrad_nn as tnn

    dtype = tnn.get_default_dtype()
    yield
    tnn.set_default_dtype(dtype)
    assert tnn.is_grad_enabled(), "a test left grad mode disabled"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
