"""The experiments: statistics, the wording of conclusions, the shared design, the studies,
the command line and the generated docs."""

from __future__ import annotations

import importlib.util
import json
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from tinygrad_nn.cli import main as cli_main
from tinygrad_nn.experiments import STUDY_NAMES, get_study, run_experiment, stats, verdict
from tinygrad_nn.experiments.init_study import dead_output_probability, expected_dead_fraction
from tinygrad_nn.experiments.runner import (
    COMPARISON,
    DATA_STREAM,
    SELECTION,
    InlineExecutor,
    Task,
    run_rng,
    run_tasks,
)
from tinygrad_nn.experiments.study import (
    Arm,
    Column,
    Metric,
    Study,
    apply_overrides,
    check_settings,
)

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Tiny settings per study: a few steps and runs, so every study runs end to end in seconds.
TINY = {
    "init": "steps=20,lrs=0.3,1,selection_runs=2,means=-1,0,grid_lrs=1,grid_runs=2,"
    "init_networks=20",
    "activation": "steps=20,lrs=1,timing_processes=1,timing_rounds=1,timing_steps=2",
    "cost": "steps=20,squared_lrs=0.3,absolute_lrs=0.03,huber_lrs=1,budgets=20,long_steps=20",
    "regularization": "steps=20,lrs=0.3,l2_strengths=0,0.01,l1_strengths=0,0.01,"
    "check_every=5,test_samples=50",
}


def _tiny(name: str) -> list[str]:
    """--set arguments of TINY[name] (values may hold commas: split at the names)."""
    arguments, current = [], ""
    for part in TINY[name].split(","):
        if "=" in part:
            if current:
                arguments += ["--set", current]
            current = part
        else:
            current += "," + part
    return [*arguments, "--set", current]


def _tiny_overrides(name: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in _tiny(name)[1::2])


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


def test_wilson_bounds_always_bracket_the_rate():
    # Rounding once put the lower bound of 0/n at 3.5e-18 > 0, a negative error bar.
    for n in range(1, 80):
        for k in range(n + 1):
            p = stats.proportion_ci(k, n)
            assert 0.0 <= p.low <= p.rate <= p.high <= 1.0


def test_compare_paired_ratio_is_the_paired_t_test_of_the_logs():
    a = np.array([0.02, 0.03, 0.05, 0.01, 0.04, 0.02])
    b = np.array([0.03, 0.03, 0.09, 0.02, 0.05, 0.05])
    c = stats.compare_paired(a, b)
    reference = scipy_stats.ttest_rel(np.log(a), np.log(b))
    assert c.p_value == pytest.approx(reference.pvalue)
    assert c.effect == pytest.approx(np.exp(np.mean(np.log(a / b))))
    assert c.low < c.effect < c.high
    assert c.mean_a == pytest.approx(np.exp(np.mean(np.log(a))))
    diverged = stats.compare_paired([np.inf, 1.0, 2.0], [1.0, 1.0, 1.0])
    assert math.isfinite(diverged.effect)  # inf counts as LOG_CAP


def test_compare_paired_difference_uses_mcnemar():
    a = [True] * 6 + [False] * 4
    b = [False] * 6 + [False] * 4
    c = stats.compare_paired(a, b, kind="difference")
    assert c.effect == pytest.approx(0.6)
    assert c.p_value == pytest.approx(stats.mcnemar_test(a, b)[2])
    assert [x.p_holm for x in stats.adjust([c, c])] == pytest.approx([2 * c.p_value] * 2)


# --------------------------------------------------------------------------- wording


def _comparison(effect: float, p_holm: float, kind: str = "ratio") -> dict:
    neutral = 1.0 if kind == "ratio" else 0.0
    return {
        "a": "A",
        "b": "B",
        "kind": kind,
        "n": 10,
        "mean_a": 0.5,
        "mean_b": 0.5,
        "effect": effect,
        "low": effect - 0.1,
        "high": effect + 0.1,
        "p_value": p_holm / 2,
        "p_holm": p_holm,
        "d_z": 0.0,
        "significant": p_holm < verdict.ALPHA,
        "neutral": neutral,
    }


def test_number_and_percent_never_write_minus_zero():
    for value in (-1e-9, -0.0, -1e-4, 1e-12, -0.0004):
        assert verdict.percent(value) == "0%"
        assert verdict.number(value, 1) in ("0", "-1e-09", "-0.0001", "1e-12", "-0.0004")
    assert verdict.number(-0.0) == "0" and verdict.percent(-0.004) == "-0.4%"
    assert verdict.percent(0.571) == "57%" and verdict.percent(0.0625) == "6.2%"
    assert verdict.number(float("inf")) == "inf" and verdict.number(None) == "n/a"


def test_directions_are_said_only_when_significant():
    rng = np.random.default_rng(0)
    for _ in range(300):
        kind = "ratio" if rng.random() < 0.5 else "difference"
        effect = float(rng.uniform(0.2, 2.0) if kind == "ratio" else rng.uniform(-0.5, 0.5))
        c = _comparison(effect, float(rng.uniform(0, 0.2)), kind)
        sentence = verdict.comparison_sentence(c, "test MSE")
        said = " lower " in sentence or " higher " in sentence
        assert said == (c["significant"] and effect != c["neutral"])
        if not c["significant"]:
            assert sentence.startswith("No significant difference") and "CI" in sentence
        elif effect < c["neutral"]:
            assert "significantly lower" in sentence
        assert "-0%" not in sentence and " -0 " not in sentence


# --------------------------------------------------------------------------- the design


def _fake_run(settings, seed, run, phase, lr, offset=0.0):
    """A stand-in training run: error lowest at lr 0.3, plus run noise (shared per run)."""
    noise = run_rng(seed, run, DATA_STREAM, phase).normal(0.0, 0.05)
    return {"error": float(np.exp((np.log(lr / 0.3)) ** 2 + noise + offset)), "phase_seen": phase}


@dataclass(frozen=True)
class _FakeSettings:
    steps: int = 10
    selection_runs: int = 3


def _fake_study(**changes) -> Study:
    fields = dict(
        name="fake",
        title="Fake",
        question="q",
        method="m",
        settings_type=_FakeSettings,
        default_runs=6,
        arms=lambda s: [
            Arm("tuned", {}, (0.1, 0.3, 1.0)),
            Arm("worse", {"offset": 0.5}, (0.1, 0.3, 1.0)),
            Arm("same", {}, (0.3,)),
        ],
        run=_fake_run,
        metric=Metric("error", "error"),
        comparisons=lambda s: [("worse", "tuned"), ("same", "tuned")],
        columns=(Column("error", "error", "geomean"),),
        conclude=lambda settings, stats, records: [],
        plot=lambda result, folder: [],
    )
    fields.update(changes)
    return Study(**fields)


def test_harness_tunes_each_arm_on_selection_runs_disjoint_from_the_compared_ones():
    result = run_experiment(_fake_study(), jobs=1)
    arms = result.stats["arms"]
    assert arms["tuned"]["lr"] == 0.3 and arms["worse"]["lr"] == 0.3 and arms["same"]["lr"] == 0.3
    assert set(arms["tuned"]["selection"]) == {"0.1", "0.3", "1"}
    assert not arms["same"]["selection"]  # one candidate: nothing to tune
    assert len(result.selection_records) == 2 * 3 * 3  # tuned arms x lrs x selection runs
    assert all(r["phase"] == SELECTION for r in result.selection_records)
    assert all(r["phase"] == COMPARISON for r in result.records)
    # the selection runs' noise is not the compared runs' noise
    selected = {r["run"]: r["error"] for r in result.selection_records if r["lr"] == 0.3}
    compared = {r["run"]: r["error"] for r in result.records if r["arm"] == "same"}
    assert all(selected[i] != compared[i] for i in selected)
    first, second = result.stats["comparisons"]
    assert first["significant"] and first["effect"] == pytest.approx(np.exp(0.5))
    assert not second["significant"] and second["effect"] == pytest.approx(1.0)
    assert result.conclusions[0].startswith("worse has a significantly higher error than tuned")
    assert result.conclusions[1].startswith("No significant difference in error")
    assert not any("edge of their candidates" in line for line in result.conclusions)
    edge = _fake_study(arms=lambda s: [Arm("tuned", {}, (0.3, 1.0)), Arm("same", {}, (0.3,))])
    lines = run_experiment(edge, jobs=1).conclusions
    assert (
        "Tuned learning rates at the edge of their candidates" in lines[-1]
        and "tuned (0.3)" in lines[-1]
    )


def test_markdown_tables_escape_pipes_in_cells():
    from tinygrad_nn.experiments.study import Table

    text = Table("t", ["sum |w|", "b"], [["1|2", "3"]]).to_markdown()
    assert text.splitlines()[0] == "| sum \\|w\\| | b |" and "1\\|2" in text


def test_selection_streams_differ_from_every_compared_stream():
    draws = {run_rng(0, i, s, COMPARISON).random() for i in range(20) for s in range(3)}
    assert all(
        run_rng(0, i, s, SELECTION).random() not in draws for i in range(20) for s in range(3)
    )
    assert run_rng(0, 3, DATA_STREAM).random() == run_rng(0, 3, DATA_STREAM, COMPARISON).random()


@pytest.mark.parametrize(
    ("name", "setting", "message"),
    [
        ("init", {"steps": "0"}, "steps must be an integer >= 1"),
        ("activation", {"target_cost": "nan"}, "target_cost must be finite"),
        ("cost", {"absolute_lrs": "0.1,nan"}, "absolute_lrs must be finite"),
        ("init", {"init_std": "-1"}, "init_std must be a number > 0"),
        ("init", {"final_window": "400"}, "final_window (400) must not exceed"),
        ("cost", {"budgets": "300,5"}, "final_window (10) must not exceed"),
        ("regularization", {"folds": "3"}, "multiple of folds"),
    ],
)
def test_settings_out_of_range_are_refused(name, setting, message):
    study = get_study(name)
    with pytest.raises(ValueError, match=None) as error:
        settings = apply_overrides(study.settings_type(), setting)
        check_settings(settings)
        if study.check is not None:
            study.check(settings)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_settings_overrides_parse_text_like_the_command_line():
    settings = get_study("cost").settings_type()
    changed = apply_overrides(settings, {"huber_lrs": "1,0.1", "steps": "12", "outliers": "0.2"})
    assert changed.huber_lrs == (1.0, 0.1) and changed.steps == 12 and changed.outliers == 0.2
    with pytest.raises(ValueError, match="unknown setting 'stpes'"):
        apply_overrides(settings, {"stpes": "3"})
    with pytest.raises(ValueError, match="steps"):
        apply_overrides(settings, {"steps": "many"})


# --------------------------------------------------------------------------- training


def test_training_matches_the_hand_written_network():
    from tinygrad_nn.data import sincos
    from tinygrad_nn.experiments.training import build_net, train
    from tinygrad_nn.reference import HandwrittenMLP

    x, y = sincos(25, 8, rng=4)
    network = HandwrittenMLP(
        [1, 6, 2], cost="absolute", l1=1e-3, l2=1e-2, rng=np.random.default_rng(9)
    )
    reference_costs = [network.step(x[i], y[i], 0.5) for i in range(25)]
    model = build_net([1, 6, 2], "relu", "relu", np.random.default_rng(9))
    history = train(model, x, y, 25, 0.5, cost="absolute", l1=1e-3, l2=1e-2)
    np.testing.assert_allclose(history.absolute, reference_costs, rtol=1e-10)
    np.testing.assert_allclose(model.layers[0].weight.data, network.weights[0][:, 1:], rtol=1e-10)
    np.testing.assert_allclose(model.layers[1].bias.data, network.weights[1][:, 0], rtol=1e-10)


def test_huber_from_primitives_matches_its_formula_and_gradient():
    from tinygrad_nn import Tensor
    from tinygrad_nn.experiments.training import huber
    from tinygrad_nn.testing import gradcheck

    e = np.array([-2.0, -0.3, -0.05, 0.02, 0.2, 1.5])
    expected = np.where(np.abs(e) <= 0.1, 0.5 * e**2, 0.1 * (np.abs(e) - 0.05))
    np.testing.assert_allclose(huber(Tensor(e), 0.1).data, expected)
    gradcheck(lambda t: huber(t, 0.1).sum(), Tensor(e, requires_grad=True))


def test_proximal_l1_sets_weights_exactly_to_zero_and_the_subgradient_does_not():
    from tinygrad_nn.data import sincos
    from tinygrad_nn.experiments.training import build_net, train, weight_norms

    x, y = sincos(1, 8, rng=0)
    counts = {}
    for name, kwargs in (("prox", {"l1_prox": 0.05}), ("sub", {"l1": 0.05})):
        model = build_net([1, 16, 2], "relu", None, np.random.default_rng(1))
        train(model, x, y, 200, 0.3, **kwargs)
        counts[name] = weight_norms(model)["zero_weights"]
    assert counts["prox"] > 5 and counts["sub"] == 0


def test_batched_ensemble_equals_separate_trainings():
    from tinygrad_nn.experiments.regularization_study import RegularizationSettings, train_ensemble
    from tinygrad_nn.experiments.training import build_net, train

    settings = RegularizationSettings()
    rng = np.random.default_rng(3)
    x = rng.random((2, 6, 1))
    y = np.concatenate([np.sin(x), np.cos(x)], axis=-1) + 0.1 * rng.standard_normal((2, 6, 2))
    params, _ = train_ensemble(settings, x, y, [7], 0.5, 40, l2=np.array([0.0, 0.01]))
    for k, l2 in enumerate((0.0, 0.01)):
        model = build_net(settings.shape, "relu", None, np.random.default_rng([7]))
        train(model, x[k][None], y[k][None], 40, 0.5, l2=l2)
        np.testing.assert_allclose(params[0][k], model.layers[0].weight.data, rtol=1e-9)
        np.testing.assert_allclose(params[3][k, 0], model.layers[1].bias.data, rtol=1e-9)


def test_dead_unit_closed_forms_match_monte_carlo():
    from tinygrad_nn.experiments.training import build_net, dead_units

    assert expected_dead_fraction(0.0, 0.1) == pytest.approx(3 / 8, abs=1e-9)
    samples = np.random.default_rng(0).normal(-0.1, 0.1, size=(200_000, 2))
    monte_carlo = np.mean((samples[:, 0] <= 0) & (samples.sum(axis=1) <= 0))
    assert expected_dead_fraction(-0.1, 0.1) == pytest.approx(monte_carlo, abs=0.005)
    probe = np.linspace(0, 1, 51)[:, None]
    for mean in (0.0, -0.1, 0.05):
        dead = [
            dead_units(
                build_net([1, 16, 2], "relu", "relu", np.random.default_rng(i), mean), probe
            )["output"]
            for i in range(600)
        ]
        # 1200 outputs: the binomial standard error is at most 0.015
        assert dead_output_probability(mean, 0.1) == pytest.approx(np.mean(dead), abs=0.05)


# --------------------------------------------------------------------------- the studies


@pytest.mark.parametrize("name", STUDY_NAMES)
def test_each_study_runs_end_to_end_and_its_report_is_rendered_from_its_results(
    name, tmp_path, capsys
):
    from tinygrad_nn.experiments.report import render_markdown

    out = tmp_path / name
    arguments = ["experiment", name, "--runs", "2", "--jobs", "1", "--seed", "3"]
    status = cli_main([*arguments, "--out", str(out), *_tiny(name)])
    assert status == 0
    assert "wrote" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert results["study"] == name and results["runs"] == 2 and results["seed"] == 3
    assert results["design"]["metric"]["label"] and results["conclusions"]
    assert all(r["phase"] == SELECTION for r in results["selection_records"])
    assert "--set steps=20" in results["command"]
    report = (out / "report.md").read_text()
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs
    for png in pngs:
        assert (out / png).read_bytes()[:8] == PNG_MAGIC
    images = [
        line[line.index("(") + 1 : -1] for line in report.splitlines() if line.startswith("![")
    ]
    assert report == render_markdown(results, images)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary folder left"
    plain = tmp_path / "plain"
    plain.mkdir()
    assert out.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_init_grid_with_five_means_draws_its_plots():
    # --set means=-1,-0.5,0,0.5,1 once crashed drawing a Wilson interval of a 0% rate.
    result = run_experiment(
        "init", runs=2, jobs=1, **{**_tiny_overrides("init"), "means": "-1,-0.5,0,0.5,1"}
    )
    assert result.stats["arms"]["mean 1 eps, lr 1"]["n"] == 2
    assert any(t.title.startswith("Failure rate over initial mean") for t in result.tables)


# The smallest whole study: init with one learning rate per arm and a one-cell grid.
SMALL = {
    "steps": 10,
    "lrs": (1.0,),
    "means": (0.0,),
    "grid_lrs": (1.0,),
    "grid_runs": 1,
    "init_networks": 2,
}


def test_runs_are_deterministic_whatever_the_executor():
    serial = run_experiment("init", runs=2, jobs=1, **SMALL)
    threads = run_experiment("init", runs=2, executor=ThreadPoolExecutor(2), **SMALL)
    processes = run_experiment("init", runs=2, jobs=2, **SMALL)
    assert serial.records == threads.records == processes.records
    assert serial.conclusions == processes.conclusions
    other_seed = run_experiment("init", runs=2, jobs=1, seed=1, **SMALL)
    assert serial.records != other_seed.records


def _negate(value: int) -> int:
    return -value


def test_run_tasks_returns_results_in_task_order():
    tasks = [Task(_negate, {"value": -v}) for v in range(20)]
    for executor in (None, InlineExecutor(), ThreadPoolExecutor(3)):
        assert run_tasks(tasks, executor) == list(range(20))


# --------------------------------------------------------------------------- command line


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("steps=0", "steps must be an integer >= 1"),
        ("lrs=nan", "lrs must be finite"),
        ("init_std=-1", "init_std must be a number > 0"),
        ("final_window=301", "must not exceed the training length"),
        ("bogus=1", "unknown setting 'bogus'"),
    ],
)
def test_command_line_refuses_bad_settings_before_any_work(setting, message, tmp_path, capsys):
    out = tmp_path / "x"
    assert cli_main(["experiment", "init", "--set", setting, "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and "\n" not in error and "Traceback" not in error
    assert not out.exists()


def test_command_line_refuses_an_unusable_out(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    for out in (blocker, blocker / "below"):
        assert cli_main(["experiment", "init", "--out", str(out)]) == 2
        error = capsys.readouterr().err.strip()
        assert "--out" in error and "\n" not in error


def test_validate_creates_the_out_folder(tmp_path):
    import argparse

    from tinygrad_nn.experiments.command import add_arguments, validate

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "a" / "b"
    validate(parser.parse_args(["init", "--out", str(out)]))
    assert out.is_dir()
    with pytest.raises(ValueError, match="steps must be"):
        validate(parser.parse_args(["init", "--set", "steps=0"]))


def test_an_interrupted_study_leaves_the_old_folder_as_it_was(tmp_path, monkeypatch, capsys):
    out = tmp_path / "init"
    out.mkdir()
    (out / "report.md").write_text("old")

    def interrupt(result, folder):
        (folder / "half.png").write_bytes(b"partial")
        raise KeyboardInterrupt

    study = get_study("init")
    monkeypatch.setattr("tinygrad_nn.experiments.init_study.STUDY", _replace(study, plot=interrupt))
    arguments = ["experiment", "init", "--runs", "2", "--jobs", "1", "--out", str(out)]
    assert cli_main([*arguments, *_tiny("init")]) == 130
    error = capsys.readouterr().err.strip()
    assert error.endswith("was left as it was") and "\n" not in error
    assert [p.name for p in out.iterdir()] == ["report.md"] and (
        out / "report.md"
    ).read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["init"]


def _replace(study: Study, **changes) -> Study:
    import dataclasses

    return dataclasses.replace(study, **changes)


# --------------------------------------------------------------------------- docs


def _generator():
    spec = importlib.util.spec_from_file_location(
        "make_experiment_images", ROOT / "docs" / "images" / "make_experiment_images.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", STUDY_NAMES)
def test_docs_section_is_generated_from_the_committed_results(name):
    generator = _generator()
    results = json.loads((ROOT / "docs" / "images" / "experiments" / f"{name}.json").read_text())
    page = (ROOT / "docs" / "experiments.md").read_text()
    assert generator.block(results) in page, "stale: run docs/images/make_experiment_images.py"
    for image in results["images"]:
        assert (ROOT / "docs" / "images" / "experiments" / image).read_bytes()[:8] == PNG_MAGIC
    assert results["settings"] == json.loads(json.dumps(_defaults(name)))


def _defaults(name: str) -> dict:
    import dataclasses

    return dataclasses.asdict(get_study(name).settings_type())


# --------------------------------------------------------------------------- Dask


def test_dask_client_runs_the_same_sweep():
    distributed = pytest.importorskip("distributed")
    local = run_experiment("init", runs=2, jobs=1, **SMALL)
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None
    )
    with cluster, distributed.Client(cluster) as client:
        on_dask = run_experiment("init", runs=2, executor=client, **SMALL)
    assert local.records == on_dask.records


def test_readme_questions_table_is_generated_from_the_committed_results():
    generator = _generator()
    folder = ROOT / "docs" / "images" / "experiments"
    everything = {name: json.loads((folder / f"{name}.json").read_text()) for name in STUDY_NAMES}
    assert generator.questions_table(everything) in (ROOT / "README.md").read_text()


def test_ctrl_c_prints_one_line_and_leaves_no_output(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "init"
    command = [sys.executable, "-m", "tinygrad_nn", "experiment", "init", "--jobs", "2"]
    process = subprocess.Popen(
        [*command, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    deadline = time.monotonic() + 60
    while not out.exists() and time.monotonic() < deadline:  # validate() made it: running
        time.sleep(0.05)
    time.sleep(0.5)
    os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    _, error = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in error and error.strip().endswith("was left as it was")
    assert len(error.strip().splitlines()) == 1
    assert not list(out.iterdir()) and [p.name for p in tmp_path.iterdir()] == ["init"]
