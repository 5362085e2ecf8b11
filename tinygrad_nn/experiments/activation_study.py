"""Study ``activation``: relu versus sigmoid, each at its own tuned learning rate, and time.

The article's second question: "Try sigmoid and sigmoidDerivative instead of relu and
reluDerivative. What is the difference for same number of steps. Time the learning too."

Arms: the article's swap (sigmoid everywhere against relu everywhere) and the same two
with a linear output (a relu output can die, see the ``init`` study). Every arm's learning
rate is tuned on selection runs. Time is measured as time to reach a target cost: steps
(from the compared runs) times seconds per step, the latter measured in separate fresh
processes, one after another, each timing interleaved blocks of every arm.
"""

from __future__ import annotations

import signal
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_nn.experiments.report import COLOURS, mean_band, new_figure, save_png
from tinygrad_nn.experiments.runner import DATA_STREAM, WEIGHT_STREAM, run_rng
from tinygrad_nn.experiments.study import Arm, Column, Metric, Study, Table, by_arm
from tinygrad_nn.experiments.training import ArticleSettings, article_run, build_net, train
from tinygrad_nn.experiments.verdict import number

if TYPE_CHECKING:
    from tinygrad_nn.experiments.study import ExperimentResult

__all__ = ["STUDY", "ActivationSettings", "run_activation", "time_steps"]

# arm name -> (hidden activation, output activation)
ARMS = {
    "relu": ("relu", "relu"),
    "sigmoid": ("sigmoid", "sigmoid"),
    "relu, linear output": ("relu", None),
    "sigmoid, linear output": ("sigmoid", None),
}


@dataclass(frozen=True)
class ActivationSettings(ArticleSettings):
    """The article's setup; candidate learning rates, the target cost, and timing.

    Timing: ``timing_processes`` fresh processes, one after another, each timing
    ``timing_rounds`` rounds of one block of ``timing_steps`` steps per arm (rotating order).
    """

    lrs: tuple[float, ...] = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
    selection_runs: int = 10
    target_cost: float = 0.25
    timing_processes: int = 3
    timing_rounds: int = 10
    timing_steps: int = 30


def run_activation(
    settings: ActivationSettings, seed: int, run: int, phase: int, lr: float, arm: str
) -> dict[str, Any]:
    """One training run of ``arm`` (a key of `ARMS`)."""
    activation, output = ARMS[arm]
    return article_run(
        settings,
        seed,
        run,
        phase,
        lr,
        activation=activation,
        output_activation=output,
        target_cost=settings.target_cost,
    )


def arms(settings: ActivationSettings) -> list[Arm]:
    return [Arm(name, {"arm": name}, settings.lrs) for name in ARMS]


def comparisons(settings: ActivationSettings) -> list[tuple[str, str]]:
    return [
        ("sigmoid", "relu"),
        ("sigmoid, linear output", "relu, linear output"),
        ("sigmoid", "relu, linear output"),
        ("relu, linear output", "relu"),
        ("sigmoid, linear output", "sigmoid"),
    ]


def time_steps(settings: ActivationSettings, seed: int, lrs: dict[str, float]) -> dict[str, float]:
    """Seconds per training step of every arm (and the hand-written network's).

    Each round times one block of ``timing_steps`` steps per arm, in a rotating order so
    that no arm always runs first, after an untimed warm-up block of each. The result is the
    fastest block of each, as ``timeit`` reports: other load on the machine only ever adds
    time, so the minimum is the least disturbed estimate.
    """
    from tinygrad_nn.data import sincos
    from tinygrad_nn.reference import HandwrittenMLP

    steps = settings.timing_steps
    x, y = sincos(steps, settings.batch_size, rng=run_rng(seed, 0, DATA_STREAM))
    blocks = {}
    for name, (activation, output) in ARMS.items():
        model = build_net(settings.shape, activation, output, run_rng(seed, 0, WEIGHT_STREAM))

        def block(model: Any = model, lr: float = lrs[name]) -> None:
            train(model, x, y, steps, lr)

        blocks[name] = block
    for activation in ("relu", "sigmoid"):
        network = HandwrittenMLP(
            list(settings.shape), activation=activation, rng=run_rng(seed, 0, WEIGHT_STREAM)
        )

        def hand_block(network: Any = network, lr: float = lrs[activation]) -> None:
            for i in range(steps):
                network.step(x[i], y[i], lr)

        blocks[f"hand-written {activation}"] = hand_block
    names = list(blocks)
    for name in names:
        blocks[name]()
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(settings.timing_rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            blocks[name]()
            seconds[name].append((time.perf_counter() - start) / steps)
    return {name: float(np.min(values)) for name, values in seconds.items()}


def measure(settings: ActivationSettings, seed: int, lrs: dict[str, float]) -> dict[str, Any]:
    """Seconds per step of every arm in each of ``timing_processes`` fresh processes."""
    per_process = []
    for _ in range(settings.timing_processes):
        with ProcessPoolExecutor(
            1,
            mp_context=get_context("spawn"),
            initializer=signal.signal,
            initargs=(signal.SIGINT, signal.SIG_IGN),
        ) as pool:
            per_process.append(pool.submit(time_steps, settings, seed, lrs).result())
    return {"seconds_per_step": per_process}


def _timing(settings: ActivationSettings, stats: dict[str, Any]) -> dict[str, Any]:
    """Per arm: seconds per step over processes, steps and seconds to the target cost."""
    per_process = stats["measurements"].get("seconds_per_step", [])
    if not per_process:
        return {}
    timing: dict[str, Any] = {"step": {}, "ratio": {}}
    for name in per_process[0]:
        values = [p[name] for p in per_process]
        timing["step"][name] = (float(np.median(values)), min(values), max(values))
    for pair in (("sigmoid", "relu"), ("hand-written sigmoid", "hand-written relu")):
        ratios = [p[pair[0]] / p[pair[1]] for p in per_process]
        timing["ratio"][f"{pair[0]} / {pair[1]}"] = (
            float(np.median(ratios)),
            min(ratios),
            max(ratios),
        )
    return timing


def tables(
    settings: ActivationSettings, stats: dict[str, Any], records: list[dict[str, Any]]
) -> list[Table]:
    timing = _timing(settings, stats)
    if not timing:
        return []
    groups = by_arm(records)
    rows = []
    for name in ARMS:
        reached = [r["steps_to_target"] for r in groups.get(name, []) if r["steps_to_target"]]
        median, low, high = timing["step"][name]
        steps = float(np.median(reached)) if reached else None
        rows.append(
            [
                name,
                f"{stats['arms'][name]['lr']:g}",
                f"{len(reached)}/{len(groups.get(name, []))}",
                number(steps),
                f"{median * 1e6:.0f} [{low * 1e6:.0f}, {high * 1e6:.0f}]",
                number(steps * median * 1e3) if steps else "n/a",
            ]
        )
    for name in ("hand-written relu", "hand-written sigmoid"):
        median, low, high = timing["step"][name]
        rows.append(
            [name, "", "", "", f"{median * 1e6:.0f} [{low * 1e6:.0f}, {high * 1e6:.0f}]", ""]
        )
    n = len(stats["measurements"]["seconds_per_step"])
    return [
        Table(
            f"Time to reach a cost below {settings.target_cost:g}",
            [
                "arm",
                "lr",
                "runs reaching it",
                "median steps",
                "µs per step [min, max over processes]",
                "ms to target",
            ],
            rows,
            note=(
                f"Steps: first step where the mean of the last {settings.final_window} batch "
                "costs is "
                f"below {settings.target_cost:g}, median over the compared runs that got there. "
                f"Step times: fastest of {settings.timing_rounds} interleaved blocks of "
                f"{settings.timing_steps} steps, in each of {n} fresh processes run one after "
                "another; "
                "the median over processes is shown with their min and max. ms to target: median "
                "steps times median step time."
            ),
        )
    ]


def conclude(
    settings: ActivationSettings, stats: dict[str, Any], records: list[dict[str, Any]]
) -> list[str]:
    arms_ = stats["arms"]
    lines = [
        "Tuned learning rates: "
        + "; ".join(f"{name} {arms_[name]['lr']:g}" for name in ARMS)
        + f" (candidates {', '.join(f'{lr:g}' for lr in settings.lrs)})."
    ]
    timing = _timing(settings, stats)
    for pair, (median, low, high) in timing.get("ratio", {}).items():
        n = len(stats["measurements"]["seconds_per_step"])
        processes = f"{n} fresh process" + ("es" if n != 1 else "")
        spread = (
            f"above 1 in each of the {processes}"
            if low > 1
            else f"below 1 in each of the {processes}"
            if high < 1
            else f"on both sides of 1 across the {processes}"
        )
        lines.append(
            f"Time per step {pair}: {number(median)} (median over {processes}, range "
            f"{number(low)} to {number(high)}: {spread})."
        )
    return lines


def plot(result: ExperimentResult, folder: Path) -> list[Path]:
    """Cost curves of the compared runs (each arm at its tuned lr) and step times."""
    groups = by_arm(result.records)
    figure, axes = new_figure(7.5, 4.0)
    for index, (arm, group) in enumerate(groups.items()):
        curves = np.array([r["costs"] for r in group], dtype=np.float64)
        curves = np.nan_to_num(curves, nan=1e3, posinf=1e3)
        mean_band(
            axes, np.clip(curves, 1e-12, 1e3), f"{arm} (lr {group[0]['lr']:g})", COLOURS[index]
        )
    axes.axhline(result.settings.target_cost, color="grey", linestyle="--", linewidth=1)
    axes.set_yscale("log")
    axes.set_xlabel("step (batch)")
    axes.set_ylabel("batch cost sum((out - y)²)")
    axes.set_title(
        f"Batch cost at each arm's tuned lr, {result.runs} runs (mean, 95% CI)", fontsize=10
    )
    axes.legend(fontsize=8)
    paths = [save_png(figure, folder / "activation_cost_curves.png")]
    per_process = result.measurements.get("seconds_per_step")
    if per_process:
        figure, axes = new_figure(7.0, 3.4)
        names = list(per_process[0])
        for row, name in enumerate(names):
            values = [1e6 * p[name] for p in per_process]
            axes.scatter(values, [row] * len(values), color=COLOURS[row % len(COLOURS)])
        axes.set_yticks(range(len(names)), names, fontsize=8)
        axes.set_xlabel("µs per training step (one point per fresh process)")
        axes.set_title("Step time of each arm, repeated in separate processes", fontsize=10)
        paths.append(save_png(figure, folder / "activation_step_time.png"))
    return paths


def _measure(settings: ActivationSettings, seed: int) -> dict[str, Any]:
    # The step time hardly depends on the learning rate; 0.1 keeps every block finite.
    return measure(settings, seed, {name: 0.1 for name in [*ARMS, "relu", "sigmoid"]})


STUDY = Study(
    name="activation",
    title="Activation: relu versus sigmoid, each at its own learning rate",
    question=(
        "Try sigmoid and sigmoidDerivative instead of relu and reluDerivative. What is the "
        "difference for same number of steps. Time the learning too."
    ),
    method=(
        "The article's network (1-16-2, batch 32, one fresh batch per step, 300 steps) with "
        "relu or sigmoid everywhere (the article's swap), and each with a linear output. "
        "Every arm's learning rate is tuned on selection runs; the compared runs then share "
        "their batches and initial weights across arms. Time: steps to a target cost, times "
        "seconds per step measured in separate fresh processes."
    ),
    settings_type=ActivationSettings,
    default_runs=40,
    arms=arms,
    run=run_activation,
    metric=Metric("final_cost", "final cost"),
    comparisons=comparisons,
    columns=(
        Column("final_cost", "final cost (geometric mean)", "geomean"),
        Column("test_mse", "test MSE (geometric mean)", "geomean"),
        Column("failed", "final cost > 1", "rate"),
        Column("dead_outputs_end", "a dead output relu at the end", "rate"),
        Column("steps_to_target", "median steps to target", "median"),
    ),
    conclude=conclude,
    tables=tables,
    plot=plot,
    measure=_measure,
)
