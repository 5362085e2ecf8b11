"""The experiments: statistics helpers, the runner, every study end to end, and Dask."""

from __future__ import annotations

import io
import json
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from tinygrad_nn.cli import main as cli_main
from tinygrad_nn.experiments import STUDY_NAMES, get_study, run_experiment, stats
from tinygrad_nn.experiments.init_study import (
    expected_dead_fraction,
    hidden_revival_sentence,
    output_revival_sentence,
)
from tinygrad_nn.experiments.runner import (
    DATA_STREAM,
    WEIGHT_STREAM,
    InlineExecutor,
    Progress,
    Task,
    run_rng,
    run_tasks,
)
from tinygrad_nn.experiments.study import apply_overrides

# Tiny settings per study: a handful of steps, so every study runs end to end in seconds.
TINY = {
    "init": ["--set", "steps=30"],
    "activation": ["--set", "steps=30", "--set", "timing_rounds=2", "--set", "timing_steps=3"],
    "cost": ["--set", "steps=30", "--set", "lrs=1,0.1"],
    "regularization": [
        "--set",
        "steps=30",
        "--set",
        "l1_strengths=0.001",
        "--set",
        "l2_strengths=0.001,0.01",
        "--set",
        "test_samples=50",
    ],
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _without_timing(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


# --------------------------------------------------------------------------- statistics


def test_mean_ci_matches_the_textbook_t_interval():
    summary = stats.mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    # s = sqrt(2.5), t_{0.975, 4} = 2.776445, half width = t * s / sqrt(5) = 1.963243
    assert summary.mean == 3.0
    assert summary.std == pytest.approx(math.sqrt(2.5))
    assert summary.half_width == pytest.approx(1.963243, abs=1e-6)
    assert (summary.low, summary.high) == pytest.approx((1.036757, 4.963243), abs=1e-6)
    low, high = scipy_stats.t.interval(0.9, 4, loc=3.0, scale=math.sqrt(2.5 / 5))
    ninety = stats.mean_ci([1.0, 2.0, 3.0, 4.0, 5.0], confidence=0.9)
    assert (ninety.low, ninety.high) == pytest.approx((low, high))


def test_mean_ci_of_one_value_has_no_interval_and_formats_plainly():
    summary = stats.mean_ci([2.5])
    assert summary.mean == 2.5 and math.isnan(summary.half_width)
    assert stats.format_mean_ci(summary) == "2.5"
    assert stats.format_mean_ci(stats.mean_ci([1.0, 2.0, 3.0])) == "2 ± 2.5"


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")]])
def test_mean_ci_rejects_empty_or_non_finite_values(bad):
    with pytest.raises(ValueError, match="mean_ci"):
        stats.mean_ci(bad)


def test_wilson_interval_known_values():
    zero = stats.proportion_ci(0, 10)
    assert zero.rate == 0.0 and zero.low == 0.0
    assert zero.high == pytest.approx(0.277533, abs=1e-6)
    half = stats.proportion_ci(5, 10)
    assert (half.low, half.high) == pytest.approx((0.236593, 0.763407), abs=1e-6)
    assert stats.format_proportion(half) == "50% [24%, 76%]"
    with pytest.raises(ValueError):
        stats.proportion_ci(11, 10)


def test_welch_and_paired_tests_match_scipy():
    a = np.array([27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6])
    b = np.array([27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1])
    welch = stats.welch_t_test(a, b)
    reference = scipy_stats.ttest_ind(a, b, equal_var=False)
    assert welch.statistic == pytest.approx(reference.statistic)
    assert welch.p_value == pytest.approx(reference.pvalue)
    assert welch.difference == pytest.approx(a.mean() - b.mean())
    assert welch.low < welch.difference < welch.high
    paired = stats.paired_t_test(a, b)
    reference = scipy_stats.ttest_rel(a, b)
    assert paired.statistic == pytest.approx(reference.statistic)
    assert paired.p_value == pytest.approx(reference.pvalue)
    assert paired.df == len(a) - 1


def test_t_tests_of_identical_constant_samples():
    result = stats.paired_t_test([1.0, 1.0, 1.0], [1.0, 1.0, 1.0])
    assert result.p_value == 1.0 and result.difference == 0.0


def test_mcnemar_counts_discordant_pairs():
    a = [True, True, True, True, True, True, False, False]
    b = [False, False, False, False, False, True, False, False]
    only_a, only_b, p_value = stats.mcnemar_test(a, b)
    assert (only_a, only_b) == (5, 0)
    assert p_value == pytest.approx(2 * 0.5**5)  # two-sided binomial, 5 of 5 heads
    assert stats.mcnemar_test([True], [True])[2] == 1.0


def test_holm_adjustment_known_values():
    # Sorted p: 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> kept monotone at 0.06.
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.5, 0.9]) == [1.0, 1.0]
    assert stats.holm([]) == []
    with pytest.raises(ValueError):
        stats.holm([1.5])


def test_bootstrap_is_reproducible_and_brackets_the_median():
    values = np.random.default_rng(1).normal(10.0, 1.0, size=200)
    first = stats.bootstrap_ci(values, seed=3)
    assert first == stats.bootstrap_ci(values, seed=3)
    estimate, low, high = first
    assert estimate == pytest.approx(np.median(values))
    assert low < estimate < high and high - low < 0.6


def test_expected_dead_fraction_of_a_hidden_relu():
    assert expected_dead_fraction(0.0, 0.1) == pytest.approx(3 / 8, abs=1e-9)
    samples = np.random.default_rng(0).normal(-0.1, 0.1, size=(200_000, 2))
    monte_carlo = np.mean((samples[:, 0] <= 0) & (samples.sum(axis=1) <= 0))
    assert expected_dead_fraction(-0.1, 0.1) == pytest.approx(monte_carlo, abs=0.005)


# --------------------------------------------------------------------------- runner


def _square(value: int) -> int:
    return value * value


def _fail(value: int) -> int:
    raise ZeroDivisionError(f"task {value}")


@pytest.mark.parametrize("executor", [None, InlineExecutor(), ThreadPoolExecutor(3)])
def test_run_tasks_returns_results_in_task_order(executor):
    tasks = [Task(_square, {"value": v}) for v in range(20)]
    assert run_tasks(tasks, executor) == [v * v for v in range(20)]


def test_run_tasks_raises_a_task_error():
    with pytest.raises(ZeroDivisionError, match="task 1"):
        run_tasks([Task(_fail, {"value": 1})], ThreadPoolExecutor(2))


def test_run_streams_are_deterministic_and_distinct():
    first = run_rng(0, 5, DATA_STREAM).random(3)
    assert np.array_equal(first, run_rng(0, 5, DATA_STREAM).random(3))
    for other in (
        run_rng(0, 6, DATA_STREAM),
        run_rng(1, 5, DATA_STREAM),
        run_rng(0, 5, WEIGHT_STREAM),
    ):
        assert not np.array_equal(first, other.random(3))


def test_progress_bar_is_silent_off_a_terminal_and_draws_on_one():
    quiet = io.StringIO()
    with Progress(4, "init", stream=quiet) as bar:
        for _ in range(4):
            bar.update()
    assert quiet.getvalue() == ""

    loud = io.StringIO()
    with Progress(4, "init", stream=loud, enabled=True) as bar:
        bar.update(4)
    assert "init [" in loud.getvalue() and "4/4" in loud.getvalue()
    assert loud.getvalue().endswith("\n")


def test_settings_overrides_parse_text_like_the_command_line():
    settings = get_study("cost").settings_type()
    changed = apply_overrides(settings, {"lrs": "1,0.1", "steps": "12", "output": "relu"})
    assert changed.lrs == (1.0, 0.1) and changed.steps == 12 and changed.output == "relu"
    with pytest.raises(ValueError, match="unknown setting 'stpes'"):
        apply_overrides(settings, {"stpes": "3"})
    with pytest.raises(ValueError, match="steps"):
        apply_overrides(settings, {"steps": "many"})


# --------------------------------------------------------------------------- studies


@pytest.mark.parametrize("name", STUDY_NAMES)
def test_each_experiment_runs_end_to_end_from_the_command_line(name, tmp_path, capsys):
    out = tmp_path / name
    status = cli_main(
        ["experiment", name, "--runs", "2", "--jobs", "1", "--seed", "3", "--out", str(out)]
        + TINY[name]
    )
    assert status == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed

    results = json.loads((out / "results.json").read_text())
    study = get_study(name)
    assert results["study"] == name and results["runs"] == 2 and results["seed"] == 3
    assert results["settings"]["steps"] == 30
    arms = {record["arm"] for record in results["records"]}
    assert len(results["records"]) == 2 * len(arms)
    assert all(record["run"] in (0, 1) for record in results["records"])
    assert results["conclusions"] and all(isinstance(c, str) for c in results["conclusions"])
    assert "--set steps=30" in results["command"]

    report = (out / "report.md").read_text()
    assert report.startswith(f"# {study.title}")
    assert "| --- |" not in report and "|---|" in report  # a Markdown table
    assert "## Conclusion" in report and results["conclusions"][0] in report
    pngs = sorted(out.glob("*.png"))
    assert pngs, "no plots written"
    for png in pngs:
        assert png.read_bytes()[:8] == PNG_MAGIC
        assert f"]({png.name})" in report
    assert not list(out.glob(".*")), "a temporary file was left behind"


def test_runs_are_deterministic_whatever_the_executor():
    serial = run_experiment("cost", runs=2, jobs=1, steps=15, lrs=(1.0,))
    again = run_experiment("cost", runs=2, executor=ThreadPoolExecutor(2), steps=15, lrs=(1.0,))
    assert _without_timing(serial.records) == _without_timing(again.records)
    other_seed = run_experiment("cost", runs=2, jobs=1, seed=1, steps=15, lrs=(1.0,))
    assert _without_timing(serial.records) != _without_timing(other_seed.records)


def test_process_pool_gives_the_same_records_as_in_process():
    serial = run_experiment("init", runs=2, jobs=1, steps=10)
    parallel = run_experiment("init", runs=2, jobs=2, steps=10)
    assert _without_timing(serial.records) == _without_timing(parallel.records)


def test_training_matches_the_hand_written_network():
    from tinygrad_nn.data import sincos
    from tinygrad_nn.experiments.training import build_mlp, train
    from tinygrad_nn.reference import HandwrittenMLP

    x, y = sincos(25, 8, rng=4)
    network = HandwrittenMLP(
        [1, 6, 2], cost="absolute", l1=1e-3, l2=1e-2, rng=np.random.default_rng(9)
    )
    reference_costs = [network.step(x[i], y[i], 0.5) for i in range(25)]
    model = build_mlp([1, 6, 2], "relu", "relu", np.random.default_rng(9))
    history = train(model, x, y, 25, 0.5, cost="absolute", l1=1e-3, l2=1e-2)
    np.testing.assert_allclose(history.absolute, reference_costs, rtol=1e-10)
    np.testing.assert_allclose(model.layers[0].weight.data, network.weights[0][:, 1:], rtol=1e-10)
    np.testing.assert_allclose(model.layers[1].bias.data, network.weights[1][:, 0], rtol=1e-10)


def test_init_study_detects_dead_units_from_a_negative_mean():
    result = run_experiment("init", runs=12, jobs=1, steps=60)
    groups = {
        arm: [r for r in result.records if r["arm"] == arm]
        for arm in ("normal(0, eps)", "normal(-eps, eps)")
    }
    zero, negative = groups["normal(0, eps)"], groups["normal(-eps, eps)"]

    def mean(records: list[dict], key: str) -> float:
        return float(np.mean([r[key] for r in records]))

    assert mean(negative, "dead_hidden_init") > mean(zero, "dead_hidden_init") + 0.2
    assert mean(negative, "dead_hidden_end") > mean(zero, "dead_hidden_end")
    assert mean(negative, "dead_outputs_end") > mean(zero, "dead_outputs_end")
    assert sum(r["failed"] for r in negative) > sum(r["failed"] for r in zero)
    # A hidden relu dead on all of [0, 1] gets no gradient from inputs in [0, 1): never revived.
    assert sum(r["revived_hidden"] for r in result.records) == 0
    summary = result.analysis.summary
    assert summary["normal(-eps, eps)"]["failure"].rate > summary["normal(0, eps)"]["failure"].rate
    assert any("McNemar" in sentence for sentence in result.analysis.conclusions)


def test_revival_sentences_follow_the_numbers():
    assert hidden_revival_sentence(0, 12).startswith("None of the 12 hidden relus dead at init")
    some = hidden_revival_sentence(3, 12)
    assert some.startswith("3 of the 12 hidden relus dead at init came back")
    assert "None" not in some
    assert hidden_revival_sentence(0, 0) == "No hidden relu was dead at init in any run."
    none = output_revival_sentence(0, 8)
    assert none.startswith("No dead output relu came back: all 8") and "rarely" not in none
    assert output_revival_sentence(2, 8).startswith("2 of the 8 output relus dead at init came")


def test_init_conclusions_are_generated_from_the_measured_counts():
    result = run_experiment("init", runs=3, jobs=1, steps=20)
    summary, conclusions = result.analysis.summary, result.analysis.conclusions
    arms = ["normal(0, eps)", "normal(-eps, eps)"]
    revived = sum(summary[arm]["revived_hidden"] for arm in arms)
    total = sum(summary[arm]["dead_hidden_total_init"] for arm in arms)
    assert hidden_revival_sentence(revived, total) in conclusions
    dead_outputs = sum(summary[arm]["dead_outputs_total_init"] for arm in arms)
    revived_outputs = sum(summary[arm]["revived_outputs"] for arm in arms)
    if dead_outputs:
        assert output_revival_sentence(revived_outputs, dead_outputs) in conclusions
    assert not any("rarely" in line or "stay dead" in line for line in conclusions)


def test_command_line_rejects_a_bad_setting(capsys, tmp_path):
    status = cli_main(["experiment", "init", "--set", "bogus=1", "--out", str(tmp_path / "x")])
    assert status == 2
    assert "unknown setting 'bogus'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------- Dask


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_dask_client_runs_the_same_sweep(dask_cluster):
    local = run_experiment("init", runs=2, jobs=1, steps=10)
    on_dask = run_experiment("init", runs=2, executor=dask_cluster, steps=10)
    assert _without_timing(local.records) == _without_timing(on_dask.records)
    via_executor = run_experiment("init", runs=2, executor=dask_cluster.get_executor(), steps=10)
    assert _without_timing(local.records) == _without_timing(via_executor.records)


def test_scheduler_option_runs_on_a_dask_cluster(dask_cluster, tmp_path: Path):
    out = tmp_path / "init"
    address = dask_cluster.scheduler.address
    status = cli_main(
        [
            "experiment",
            "init",
            "--runs",
            "2",
            "--scheduler",
            address,
            "--out",
            str(out),
            "--set",
            "steps=10",
            "--quiet",
        ]
    )
    assert status == 0
    results = json.loads((out / "results.json").read_text())
    assert results["executor"] == f"dask:{address}"
    assert len(results["records"]) == 4
