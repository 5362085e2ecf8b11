"""Study ``init``: weights from normal(0, eps) versus normal(-eps, eps), why, and the fixes.

The article's first question: "change 0 to -eps [in the initial weights]. Why sometimes we
get bad results out of this?" Both article arms train the article's network at its
learning rate from the same batches and the same weight noise (normal(-eps, eps) is
normal(0, eps) shifted by -eps). A relu is *dead* on [0, 1] when its pre-activation is <= 0
for every input there: it outputs 0 and passes back a zero gradient.

The prediction, in closed form: a hidden unit z = b + w x is dead on [0, 1] exactly when
b <= 0 and b + w <= 0 (`expected_dead_fraction`). An output z_o = b_o + sum_j v_j h_j(x) is
dead when it is <= 0 at both ends of [0, 1]; given the hidden layer, (z_o(0), z_o(1)) is
bivariate normal, and replacing the sums over the 16 hidden units by their expectations
(closed forms of E[relu(N(mu, s²))] and its square) gives `dead_output_probability`. The
study then measures how the dead outputs at the start decide the run, runs the usual fixes
under the badly centred init, and maps failures over a grid of means and learning rates.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn.experiments.report import COLOURS, interval_bars, new_figure, save_png
from tinygrad_nn.experiments.stats import proportion_ci
from tinygrad_nn.experiments.study import Arm, Column, Metric, Study, Table
from tinygrad_nn.experiments.training import ArticleSettings, article_run
from tinygrad_nn.experiments.verdict import percent

if TYPE_CHECKING:
    from tinygrad_nn.experiments.study import ExperimentResult

__all__ = [
    "STUDY",
    "InitSettings",
    "dead_output_probability",
    "expected_dead_fraction",
    "run_init",
]

ZERO, NEGATIVE, TUNED = "normal(0, eps)", "normal(-eps, eps)", "normal(-eps, eps), tuned lr"
# fix arm -> keyword arguments of run_init (all under normal(-eps, eps))
FIXES = {
    "-eps, linear output": {"output": None},
    "-eps, biases +0.1": {"bias": True},
    "-eps, leaky relu": {"activation": "leaky_relu"},
    "-eps, He-scaled weights": {"he": True},
}


@dataclass(frozen=True)
class InitSettings(ArticleSettings):
    """The article's setup; the fixes' candidate lrs; the (mean, lr) grid of the heat map.

    ``lr``: the article's learning rate, used by the two article arms. ``means``: rows of
    the grid, in units of init_std. ``bias_value``: the constant bias of the bias fix.
    """

    lr: float = 1.0
    lrs: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0, 3.0)
    selection_runs: int = 16
    bias_value: float = 0.1
    means: tuple[float, ...] = (-1.0, -0.5, 0.0, 0.5, 1.0)
    grid_lrs: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0)
    grid_runs: int = 30
    init_networks: int = 2000


def _phi(z: float) -> float:
    return math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2))


def _relu_moments(mu: float, sigma: float) -> tuple[float, float]:
    """E[relu(u)] and E[relu(u)²] for u ~ normal(mu, sigma²), in closed form."""
    a = mu / sigma
    first = mu * _cdf(a) + sigma * _phi(a)
    second = (mu * mu + sigma * sigma) * _cdf(a) + mu * sigma * _phi(a)
    return first, second


def expected_dead_fraction(mean: float, std: float) -> float:
    """P(b <= 0 and b + w <= 0) for b, w ~ normal(mean, std) independent.

    The chance that a hidden relu of the 1-input network starts dead on [0, 1]:
    ``integral over b <= 0 of pdf(b) * P(w <= -b)``, computed by quadrature. For mean 0 it
    is 3/8.

    Example:
        >>> round(expected_dead_fraction(0.0, 0.1), 6)
        0.375
    """
    from scipy.integrate import quad

    def integrand(b: float) -> float:
        return _phi((b - mean) / std) / std * _cdf((-b - mean) / std)

    value, _ = quad(integrand, mean - 12 * std, min(0.0, mean + 12 * std))
    return float(value)


def dead_output_probability(mean: float, std: float, hidden: int = 16) -> float:
    """Mean-field closed form of P(an output relu starts dead on [0, 1]).

    Every weight and bias ~ normal(mean, std). Hidden unit j gives h_j(x) = relu(b_j + w_j x)
    with b_j + w_j x ~ normal(mean (1 + x), std² (1 + x²)). Given the hidden layer, the
    output's z(x) = b + sum_j v_j h_j(x) at x = 0 and x = 1 is bivariate normal with means
    mean (1 + S_x), variances std² (1 + Q_x) and covariance std² (1 + C), where S_x = sum
    h_j(x), Q_x = sum h_j(x)², C = sum h_j(0) h_j(1). Replacing S, Q, C by their
    expectations (closed forms for relu of a normal; C by one quadrature) gives the chance
    that z <= 0 at both ends, which for a piecewise-linear z is nearly the chance that it is
    <= 0 on all of [0, 1].

    Example:
        >>> 0.4 < dead_output_probability(0.0, 0.1) < 0.5
        True
    """
    from scipy.integrate import quad
    from scipy.stats import multivariate_normal

    s_values, q_values = [], []
    for x in (0.0, 1.0):
        first, second = _relu_moments(mean * (1 + x), std * math.sqrt(1 + x * x))
        s_values.append(hidden * first)
        q_values.append(hidden * second)

    def both(b: float) -> float:  # relu(b) E_w[relu(b + w)] pdf(b)
        return b * _relu_moments(b + mean, std)[0] * _phi((b - mean) / std) / std

    cross, _ = quad(both, 0.0, max(0.0, mean) + 12 * std)
    cross *= hidden
    centre = [mean * (1 + s) for s in s_values]
    cov = std * std * np.array([[1 + q_values[0], 1 + cross], [1 + cross, 1 + q_values[1]]])
    return float(multivariate_normal(mean=centre, cov=cov).cdf(np.zeros(2)))


def run_init(
    settings: InitSettings,
    seed: int,
    run: int,
    phase: int,
    lr: float,
    mean: float,
    activation: str = "relu",
    output: str | None = "relu",
    bias: bool = False,
    he: bool = False,
) -> dict[str, Any]:
    """One training run from weights centred at ``mean`` * init_std (and a fix's change)."""
    record = article_run(
        settings,
        seed,
        run,
        phase,
        lr,
        activation=activation,
        output_activation=activation if output == "relu" and activation != "relu" else output,
        init_mean=mean * settings.init_std,
        he_weights=he,
        bias_value=settings.bias_value if bias else None,
    )
    record["dead_output_init"] = record["dead_outputs_init"] > 0
    record["dead_output_end"] = record["dead_outputs_end"] > 0
    if run >= 8:  # the curves of the first 8 runs are enough for the plots
        record.pop("costs")
    return record


def _grid_name(mean: float, lr: float) -> str:
    return f"mean {mean:g} eps, lr {lr:g}"


def arms(settings: InitSettings) -> list[Arm]:
    result = [
        Arm(ZERO, {"mean": 0.0}, (settings.lr,)),
        Arm(NEGATIVE, {"mean": -1.0}, (settings.lr,)),
        Arm(TUNED, {"mean": -1.0}, settings.lrs, "fixes"),
    ]
    result += [Arm(name, {"mean": -1.0, **p}, settings.lrs, "fixes") for name, p in FIXES.items()]
    result += [
        Arm(_grid_name(m, lr), {"mean": m}, (lr,), "grid", runs=settings.grid_runs, listed=False)
        for m in settings.means
        for lr in settings.grid_lrs
    ]
    return result


def _grid(
    settings: InitSettings, stats: dict[str, Any], key: str
) -> dict[tuple[float, float], Any]:
    """A column's cell for every (mean, lr) of the heat-map grid."""
    return {
        (m, lr): stats["arms"][_grid_name(m, lr)]["columns"][key]
        for m in settings.means
        for lr in settings.grid_lrs
        if stats["arms"].get(_grid_name(m, lr), {}).get("columns")
    }


def comparisons(settings: InitSettings) -> list[tuple[str, str]]:
    return [(NEGATIVE, ZERO), (TUNED, NEGATIVE)] + [(name, TUNED) for name in FIXES]


def measure(settings: InitSettings, seed: int) -> dict[str, Any]:
    """Dead relus before training in ``init_networks`` networks per grid mean (no training).

    Network i is drawn from the weight stream of compared run i, so the first ones are the
    compared runs' own starting networks.
    """
    from tinygrad_nn.experiments.runner import WEIGHT_STREAM, run_rng

    probe = np.linspace(0.0, 1.0, settings.probe_points)[:, None]
    std, layers = settings.init_std, list(itertools.pairwise(settings.shape))
    counts = {}
    for m in settings.means:
        hidden, outputs, networks = 0.0, 0, 0
        for i in range(settings.init_networks):
            # The draws of `build_net`: one (out, in + 1) array per layer, bias in column 0.
            rng = run_rng(seed, i, WEIGHT_STREAM)
            activations = probe
            for index, (n_in, n_out) in enumerate(layers):
                drawn = m * std + std * rng.standard_normal((n_out, n_in + 1))
                z = activations @ drawn[:, 1:].T + drawn[:, 0]
                dead = z.max(axis=0) <= 0
                if index < len(layers) - 1:
                    hidden += float(np.mean(dead)) / (len(layers) - 1)
                activations = np.maximum(z, 0.0)
            outputs += int(dead.sum())
            networks += bool(dead.any())
        counts[f"{m:g}"] = {
            "hidden": hidden / settings.init_networks,
            "outputs": outputs,
            "networks": networks,
        }
    return {"dead_at_start": counts, "init_networks": settings.init_networks}


def _prediction_rows(settings: InitSettings, stats: dict[str, Any]) -> list[dict[str, Any]]:
    counts = stats["measurements"].get("dead_at_start", {})
    rows = []
    for m in settings.means:
        if f"{m:g}" not in counts:
            continue
        count = counts[f"{m:g}"]
        n = stats["measurements"]["init_networks"]
        per_output = dead_output_probability(
            m * settings.init_std, settings.init_std, sum(settings.shape[1:-1])
        )
        rows.append(
            {
                "mean": m,
                "hidden_predicted": expected_dead_fraction(
                    m * settings.init_std, settings.init_std
                ),
                "hidden_measured": count["hidden"],
                "output_predicted": per_output,
                "output_measured": count["outputs"] / (settings.shape[-1] * n),
                "any_predicted": 1 - (1 - per_output) ** settings.shape[-1],
                "any_measured": proportion_ci(count["networks"], n),
                "n": n,
            }
        )
    return rows


def _by_dead_outputs(records: list[dict[str, Any]]) -> dict[int, Any]:
    """Failure rate of the article arms' runs by their number of dead outputs at the start."""
    article = [r for r in records if r["arm"] in (ZERO, NEGATIVE)]
    result = {}
    for count in sorted({r["dead_outputs_init"] for r in article}):
        group = [r for r in article if r["dead_outputs_init"] == count]
        result[count] = proportion_ci(sum(r["failed"] for r in group), len(group))
    return result


def tables(
    settings: InitSettings, stats: dict[str, Any], records: list[dict[str, Any]]
) -> list[Table]:
    result = []
    rows = [
        [
            f"{r['mean']:g}",
            percent(r["hidden_predicted"]),
            percent(r["hidden_measured"]),
            percent(r["output_predicted"]),
            percent(r["output_measured"]),
            percent(r["any_predicted"]),
            f"{percent(r['any_measured'].rate)} [{percent(r['any_measured'].low)}, "
            f"{percent(r['any_measured'].high)}]",
            str(r["n"]),
        ]
        for r in _prediction_rows(settings, stats)
    ]
    if rows:
        result.append(
            Table(
                "Dead relus at the start: closed form against measured",
                [
                    "mean (eps)",
                    "hidden dead, predicted",
                    "measured",
                    "output dead, predicted",
                    "measured",
                    "a dead output, predicted",
                    "measured [95% CI]",
                    "networks",
                ],
                rows,
                note=(
                    "Measured on networks drawn as the compared runs' are, before training. "
                    "Predicted: hidden, the exact "
                    "P(b <= 0, b + w <= 0); output, the mean-field closed form "
                    "(`dead_output_probability`); a dead output: 1 - (1 - p)², as if the two "
                    "outputs were independent."
                ),
            )
        )
    decide = _by_dead_outputs(records)
    if decide:
        result.append(
            Table(
                "Failures by dead outputs at the start (the two article arms' runs)",
                ["dead outputs at the start", "runs", "failed [95% CI]"],
                [
                    [str(k), str(p.n), f"{percent(p.rate)} [{percent(p.low)}, {percent(p.high)}]"]
                    for k, p in decide.items()
                ],
            )
        )
    grid = _grid(settings, stats, "failed")
    if grid:
        result.append(
            Table(
                f"Failure rate over initial mean and learning rate "
                f"({settings.grid_runs} runs each)",
                ["mean (eps)"] + [f"lr {lr:g}" for lr in settings.grid_lrs],
                [
                    [f"{m:g}"] + [percent(grid[m, lr]["rate"]) for lr in settings.grid_lrs]
                    for m in settings.means
                ],
                note="A failure: final cost above the failure threshold (see the Design section).",
            )
        )
    return result


def conclude(
    settings: InitSettings, stats: dict[str, Any], records: list[dict[str, Any]]
) -> list[str]:
    lines = []
    for r in _prediction_rows(settings, stats):
        if r["mean"] in (0.0, -1.0):
            lines.append(
                f"At mean {r['mean']:g} eps, before any training: hidden relus dead "
                f"{percent(r['hidden_measured'])} (predicted {percent(r['hidden_predicted'])}); "
                f"output relus dead {percent(r['output_measured'])} (predicted "
                f"{percent(r['output_predicted'])}); networks with a dead output "
                f"{percent(r['any_measured'].rate)} (predicted {percent(r['any_predicted'])}), "
                f"over {r['n']} networks."
            )
    decide = _by_dead_outputs(records)
    if decide:
        lines.append(
            "The start decides the run: of the article arms' runs, "
            + "; ".join(
                f"those with {k} dead output{'s' if k != 1 else ''} at the start failed "
                f"in {percent(p.rate)} [{percent(p.low)}, {percent(p.high)}] of {p.n}"
                for k, p in decide.items()
            )
            + "."
        )
    article = [r for r in records if r["arm"] in (ZERO, NEGATIVE)]
    dead = sum(round(r["dead_hidden_init"] * sum(settings.shape[1:-1])) for r in article)
    revived = sum(r["revived_hidden"] for r in article)
    lines.append(
        f"Hidden relus dead at the start that were alive at the end: {revived} of {dead} "
        "(a dead hidden relu of this network gets a zero gradient for every input in [0, 1))."
    )
    lines.append(
        "Learning rates of the fixes, tuned on the selection runs: "
        + "; ".join(f"{name} {stats['arms'][name]['lr']:g}" for name in [TUNED, *FIXES])
        + "."
    )
    return lines


def plot(result: ExperimentResult, folder: Path) -> list[Path]:
    """The heat map, failures by dead outputs at the start, and every arm's failure rate."""
    settings: InitSettings = result.settings
    paths = []
    grid = _grid(settings, result.stats, "failed")
    if grid:
        rates = np.array(
            [[grid[m, lr]["rate"] for lr in settings.grid_lrs] for m in settings.means]
        )
        figure, axes = new_figure(6.0, 4.2)
        image = axes.imshow(100 * rates, cmap="Reds", vmin=0, vmax=100, aspect="auto")
        for (row, col), rate in np.ndenumerate(rates):
            axes.text(
                col,
                row,
                percent(rate),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if rate > 0.6 else "black",
            )
        axes.set_xticks(range(len(settings.grid_lrs)), [f"{lr:g}" for lr in settings.grid_lrs])
        axes.set_yticks(range(len(settings.means)), [f"{m:g}" for m in settings.means])
        axes.set_xlabel("learning rate")
        axes.set_ylabel("initial mean (in eps)")
        axes.set_title(f"Failure rate, {settings.grid_runs} runs per cell", fontsize=10)
        figure.colorbar(image, ax=axes, label="% of runs failed")
        paths.append(save_png(figure, folder / "init_heat_map.png"))
    figure, (left, right) = new_figure(11.0, 3.8, ncols=2)
    decide = _by_dead_outputs(result.records)
    if decide:
        interval_bars(
            left,
            [f"{k} dead at start" for k in decide],
            [100 * p.rate for p in decide.values()],
            [100 * p.low for p in decide.values()],
            [100 * p.high for p in decide.values()],
            COLOURS[1],
        )
        left.set_xlabel("% of runs failed (Wilson 95% CI)")
        left.set_xlim(0, 100)
        left.set_title("Article arms: failures by dead outputs at the start", fontsize=10)
    arms_ = {k: v for k, v in result.stats["arms"].items() if v["group"] != "grid"}
    cells = [arms_[name]["columns"]["failed"] for name in arms_]
    interval_bars(
        right,
        [f"{n} (lr {arms_[n]['lr']:g})" for n in arms_],
        [100 * c["rate"] for c in cells],
        [100 * c["low"] for c in cells],
        [100 * c["high"] for c in cells],
    )
    right.set_xlabel("% of runs failed (Wilson 95% CI)")
    right.set_xlim(0, 100)
    right.set_title(f"Every arm, {result.runs} runs", fontsize=10)
    paths.append(save_png(figure, folder / "init_failures.png"))
    return paths


STUDY = Study(
    name="init",
    title="Initial weights: normal(0, eps) versus normal(-eps, eps)",
    question=(
        "Try getting few results with changing the last line of the class constructor "
        "(i.e. change 0 to -eps). Why sometimes we get bad results out of this?"
    ),
    method=(
        "The article's network (1-16-2, relu hidden and output units, batch 32, one fresh "
        "batch per step, 300 steps) from weights and biases drawn from normal(0, eps) or "
        "normal(-eps, eps), eps = 0.1, at the article's learning rate 1; then, under "
        "normal(-eps, eps), a linear output, biases of +0.1, leaky relus and He-scaled "
        "weights, each at its tuned learning rate; and a grid of means and learning rates. "
        "A run fails when its final cost (the article's batch cost, mean of the last "
        "batches) is above the failure threshold."
    ),
    settings_type=InitSettings,
    default_runs=100,
    arms=arms,
    run=run_init,
    metric=Metric("failed", "failure rate", "difference", tie_key="final_cost"),
    comparisons=comparisons,
    columns=(
        Column("failed", "failed", "rate"),
        Column("final_cost", "final cost (geometric mean)", "geomean"),
        Column("dead_output_init", "a dead output at the start", "rate"),
        Column("dead_output_end", "at the end", "rate"),
        Column("dead_hidden_init", "hidden dead at the start"),
        Column("test_mse", "test MSE (geometric mean)", "geomean"),
    ),
    conclude=conclude,
    tables=tables,
    plot=plot,
    measure=measure,
)
