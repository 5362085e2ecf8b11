"""Random generators from user input, checked one way everywhere: `as_generator`, `check_seed`.

Every ``rng=`` argument in tinygrad_nn (initialisers, layers, the reference network, data
sets) takes None (the default generator), an int seed, or a ``numpy.random.Generator``
(used as is, so one stream can feed several calls). A seed means
``numpy.random.default_rng(seed)``. The default generator also feeds ``tnn.rand`` and
``tnn.randn``; it starts from fresh entropy, and `manual_seed` (``tnn.manual_seed``)
replaces it by a seeded one, as ``torch.manual_seed`` does.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RngLike", "as_generator", "check_seed", "default_generator", "manual_seed"]

RngLike = np.random.Generator | int | None

_default_generator = np.random.default_rng()


def default_generator() -> np.random.Generator:
    """The generator used wherever no ``rng`` is given (see `manual_seed`)."""
    return _default_generator


def manual_seed(seed: int) -> np.random.Generator:
    """Seed the default generator of factories (``tnn.rand``, ``tnn.randn``), initialisers,
    layers and data sets; returns the new generator.

    Args:
        seed: an int >= 0.

    Example:
        >>> import tinygrad_nn as tnn
        >>> _ = tnn.manual_seed(0); first = tnn.randn(3)
        >>> _ = tnn.manual_seed(0); bool((tnn.randn(3).data == first.data).all())
        True
    """
    global _default_generator
    _default_generator = np.random.default_rng(check_seed(seed, "manual_seed"))
    return _default_generator


def check_seed(seed: object, owner: str) -> int:
    """``seed`` as an int, or TypeError/ValueError naming ``owner`` (bools are not seeds)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{owner}: a seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"{owner}: a seed must be >= 0, got {seed}")
    return int(seed)


def as_generator(rng: object, owner: str) -> np.random.Generator:
    """A Generator from None (the default one), an int seed or a Generator; TypeError naming
    ``owner`` otherwise.

    Example:
        >>> as_generator(0, "moons").random() == np.random.default_rng(0).random()
        True
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return _default_generator
    if isinstance(rng, bool) or not isinstance(rng, (int, np.integer)):
        raise TypeError(
            f"{owner}: rng must be None, an int seed or a numpy.random.Generator, "
            f"got {type(rng).__name__}"
        )
    return np.random.default_rng(check_seed(rng, owner))
