"""Random generators from user input, checked one way everywhere: `as_generator`, `check_seed`.

Every ``rng=`` argument in tinygrad_nn (initialisers, layers, the reference network, data
sets) takes None (fresh entropy), an int seed, or a ``numpy.random.Generator`` (used as
is, so one stream can feed several calls). A seed means ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RngLike", "as_generator", "check_seed"]

RngLike = np.random.Generator | int | None


def check_seed(seed: object, owner: str) -> int:
    """``seed`` as an int, or TypeError/ValueError naming ``owner`` (bools are not seeds)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{owner}: a seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"{owner}: a seed must be >= 0, got {seed}")
    return int(seed)


def as_generator(rng: object, owner: str) -> np.random.Generator:
    """A Generator from None, an int seed or a Generator; TypeError naming ``owner`` otherwise.

    Example:
        >>> as_generator(0, "moons").random() == np.random.default_rng(0).random()
        True
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, bool) or not isinstance(rng, (int, np.integer)):
        raise TypeError(
            f"{owner}: rng must be None, an int seed or a numpy.random.Generator, "
            f"got {type(rng).__name__}"
        )
    return np.random.default_rng(check_seed(rng, owner))
