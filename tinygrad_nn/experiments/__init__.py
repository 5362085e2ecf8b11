"""The four studies of the original article, as reproducible experiments.

Each answers one of the article's closing questions with many seeded runs, statistics,
plots and a report (see ``docs/experiments.md``)::

    tinygrad-nn experiment init            normal(0, eps) vs normal(-eps, eps), and the fixes
    tinygrad-nn experiment activation      relu vs sigmoid at tuned lrs: cost, time to target
    tinygrad-nn experiment cost            squared vs absolute vs Huber: budgets, outliers
    tinygrad-nn experiment regularization  L1 / L2 / early stopping chosen by CV, small data

Every study follows the same design rules (docs/experiments.md): learning rates tuned on
selection seeds disjoint from the compared runs, the compared quantity declared with the
study, paired comparisons with effect sizes, intervals and Holm-adjusted p-values, and
conclusions worded from the statistics.

From Python::

    from tinygrad_nn.experiments import run_experiment
    result = run_experiment("init", runs=8, out="results/init")  # its folder must exist
"""

from __future__ import annotations

import importlib

from tinygrad_nn.experiments.study import ExperimentResult, Study, Table, run_experiment

__all__ = [
    "STUDY_NAMES",
    "ExperimentResult",
    "Study",
    "Table",
    "get_study",
    "run_experiment",
]

# name -> module defining STUDY; imported on first use.
_MODULES = {
    "init": "tinygrad_nn.experiments.init_study",
    "activation": "tinygrad_nn.experiments.activation_study",
    "cost": "tinygrad_nn.experiments.cost_study",
    "regularization": "tinygrad_nn.experiments.regularization_study",
}
STUDY_NAMES = tuple(_MODULES)


def get_study(name: str) -> Study:
    """The `Study` called ``name`` (one of `STUDY_NAMES`)."""
    if name not in _MODULES:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(STUDY_NAMES)}")
    return importlib.import_module(_MODULES[name]).STUDY
