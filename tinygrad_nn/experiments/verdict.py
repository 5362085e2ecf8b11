"""Words from statistics: every sentence a study concludes is built here or from these parts.

The wording follows the statistics and cannot contradict them:

* a direction ("lower", "higher", "fewer") is said only for a comparison significant at
  `ALPHA` after Holm's adjustment; otherwise the sentence says "no significant difference"
  and gives the effect with its interval;
* numbers are printed with `number`, which never writes "-0" (so never "-0%");
* effects are ratios of geometric means (errors, costs) or differences of rates in
  percentage points (failures), always with their 95% interval and both p-values.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from tinygrad_nn.experiments.stats import LOG_CAP
from tinygrad_nn.experiments.study import ALPHA, Table

if TYPE_CHECKING:
    from tinygrad_nn.experiments.study import Study

__all__ = [
    "comparison_sentence",
    "direction",
    "generic_conclusions",
    "generic_tables",
    "number",
    "p_clause",
    "p_text",
    "percent",
    "short_sentence",
]


def number(value: float | None, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits; "n/a" for None/NaN; never "-0".

    Example:
        >>> number(-0.0001, 1), number(0.04249), number(None)
        ('-0.0001', '0.0425', 'n/a')
    """
    if value is None or not math.isfinite(value):
        return "inf" if value is not None and value == math.inf else "n/a"
    text = f"{value:.{digits}g}"
    return "0" if float(text) == 0 else text


def percent(rate: float | None) -> str:
    """A rate as a percentage: ``0.571 -> '57%'``, ``0.062 -> '6.2%'``; never ``'-0%'``."""
    if rate is None or not math.isfinite(rate):
        return "n/a"
    value = 100 * rate
    text = f"{value:.0f}" if abs(value) >= 10 else f"{value:.1f}"
    return f"{'0' if float(text) == 0 else text}%"


def p_text(p: float) -> str:
    """A p-value: two significant digits, "< 1e-16" below double precision's resolution."""
    return "< 1e-16" if p < 1e-16 else f"{p:.2g}"


def p_clause(p: float) -> str:
    """``"p = 0.003"``, or ``"p < 1e-16"`` below double precision's resolution."""
    text = p_text(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def short_sentence(comparison: dict[str, Any], label: str) -> str:
    """A one-line summary of a comparison (for tables): values, effect, Holm p, verdict."""
    values = (
        (number(comparison["mean_a"]), number(comparison["mean_b"]))
        if comparison["kind"] == "ratio"
        else (percent(comparison["mean_a"]), percent(comparison["mean_b"]))
    )
    way = direction(comparison)
    verdict = f"significantly {way}" if way else "no significant difference"
    return (
        f"{comparison['a']} vs {comparison['b']}: {label} {values[0]} vs {values[1]}, "
        f"{verdict} ({effect_text(comparison)}, Holm {p_clause(comparison['p_holm'])})"
    )


def direction(comparison: dict[str, Any]) -> str | None:
    """ "lower" or "higher" (a against b) when the comparison is significant, else None."""
    if not comparison["significant"]:
        return None
    neutral = 1.0 if comparison["kind"] == "ratio" else 0.0
    if comparison["effect"] == neutral:
        return None
    return "lower" if comparison["effect"] < neutral else "higher"


def _values(comparison: dict[str, Any], label: str) -> str:
    a, b = comparison["a"], comparison["b"]
    if comparison["kind"] == "ratio":
        return (
            f"{label} {number(comparison['mean_a'])} for {a} against "
            f"{number(comparison['mean_b'])} for {b} (geometric means over "
            f"{comparison['n']} paired runs)"
        )
    return (
        f"{label} {percent(comparison['mean_a'])} for {a} against "
        f"{percent(comparison['mean_b'])} for {b} ({comparison['n']} paired runs)"
    )


def effect_text(comparison: dict[str, Any]) -> str:
    """The effect with its interval: ``ratio 0.52 [95% CI 0.45, 0.61]`` or points."""
    if comparison["kind"] == "ratio":
        return (
            f"ratio {number(comparison['effect'])} [95% CI {number(comparison['low'])}, "
            f"{number(comparison['high'])}]"
        )
    points = [100 * comparison[k] for k in ("effect", "low", "high")]
    return (
        f"difference {number(points[0])} percentage points [95% CI {number(points[1])}, "
        f"{number(points[2])}]"
    )


def comparison_sentence(comparison: dict[str, Any], label: str) -> str:
    """One comparison in words, its direction only if significant after Holm's adjustment.

    Example:
        >>> c = {"a": "A", "b": "B", "kind": "ratio", "n": 8, "mean_a": 1.0, "mean_b": 2.0,
        ...      "effect": 0.5, "low": 0.4, "high": 0.6, "p_value": 1e-4, "p_holm": 2e-4,
        ...      "significant": True}
        >>> comparison_sentence(c, "test MSE").startswith("A has a significantly lower test MSE")
        True
    """
    p = f"paired {p_clause(comparison['p_value'])}, Holm-adjusted {p_text(comparison['p_holm'])}"
    facts = f"{_values(comparison, label)}; {effect_text(comparison)}; {p}"
    way = direction(comparison)
    if way is not None:
        return (
            f"{comparison['a']} has a significantly {way} {label} than {comparison['b']}: {facts}."
        )
    return (
        f"No significant difference in {label} between {comparison['a']} and "
        f"{comparison['b']} at the {ALPHA:g} level: {facts}."
    )


def _cell(cell: dict[str, Any]) -> str:
    kind = cell["kind"]
    if kind == "rate":
        return f"{percent(cell['rate'])} [{percent(cell['low'])}, {percent(cell['high'])}]"
    if kind == "median":
        text = number(cell["median"])
        return text if cell["n"] == cell["of"] else f"{text} ({cell['n']}/{cell['of']} runs)"
    if kind == "geomean":
        return f"{number(cell['mean'])} [{number(cell['low'])}, {number(cell['high'])}]"
    if cell["mean"] is None:
        return "n/a"
    text = number(cell["mean"])
    if cell["half_width"] is not None:
        text += f" ± {number(cell['half_width'], 2)}"
    return text if cell["n"] == cell["of"] else f"{text} ({cell['n']}/{cell['of']} runs)"


def _score(kind: str, score: float) -> str:
    if kind == "difference":
        return percent(score)
    value = math.exp(score)
    return "diverged" if value >= LOG_CAP else number(value)


def generic_tables(study: Study, settings: Any, stats: dict[str, Any]) -> list[Table]:
    """The tables every study has: tuned learning rates, arms per group, comparisons."""
    metric = stats["metric"]
    arms = stats["arms"]
    tables = []
    tuned = {name: arm for name, arm in arms.items() if arm["selection"] and arm["listed"]}
    if tuned:
        rows = [
            [
                name,
                ", ".join(
                    f"{lr}: {_score(metric['kind'], score)}"
                    for lr, score in arm["selection"].items()
                ),
                f"{arm['lr']:g}",
            ]
            for name, arm in tuned.items()
        ]
        tables.append(
            Table(
                "Learning rates, tuned on the selection runs",
                ["arm", f"candidate lr: {metric['label']} on the selection runs", "chosen lr"],
                rows,
                note=(
                    f"{settings.selection_runs} selection runs per candidate, with seeds (data and "
                    "weights) disjoint from the compared runs'. Scores: geometric mean (rates: "
                    "the rate) of the compared quantity; the lowest is chosen."
                ),
            )
        )
    groups: dict[str, list[str]] = {}
    for name, arm in arms.items():
        if arm["listed"]:
            groups.setdefault(arm["group"], []).append(name)
    for group, names in groups.items():
        rows = [
            [name, f"{arms[name]['lr']:g}", str(arms[name]["n"])]
            + [_cell(arms[name]["columns"][c.key]) for c in study.columns]
            for name in names
            if arms[name]["columns"]
        ]
        title = "Compared runs" if group == "main" else group
        tables.append(
            Table(
                title,
                ["arm", "lr", "runs"] + [c.label for c in study.columns],
                rows,
                note=(
                    "Means ± 95% CI half-width (Student's t); geometric means and rates "
                    "with their 95% intervals (rates: Wilson); medians over the runs that "
                    "have a value."
                ),
            )
        )
    if stats["comparisons"]:
        rows = []
        for c in stats["comparisons"]:
            values = (
                (number(c["mean_a"]), number(c["mean_b"]))
                if c["kind"] == "ratio"
                else (percent(c["mean_a"]), percent(c["mean_b"]))
            )
            rows.append(
                [
                    c["a"],
                    c["b"],
                    *values,
                    effect_text(c),
                    f"{c['d_z']:.2f}",
                    p_text(c["p_value"]),
                    p_text(c["p_holm"]),
                    direction(c) or "not significant",
                ]
            )
        tables.append(
            Table(
                f"Paired comparisons of the {metric['label']}",
                ["a", "b", "a's value", "b's value", "effect a vs b", "d_z", "p", "Holm p", "a is"],
                rows,
                note=(
                    "Ratio: geometric mean of a / b over paired runs (same seeds), with the "
                    "paired t interval of the log ratio; difference: of rates, McNemar's exact "
                    "p. d_z: mean paired difference (of logs for ratios) over its std. Holm: "
                    f"adjusted over the {len(rows)} comparisons; significant below {ALPHA:g}."
                ),
            )
        )
    return tables


def generic_conclusions(study: Study, stats: dict[str, Any]) -> list[str]:
    """One sentence per comparison; tuned rates at the edge of their candidates; divergences."""
    label = stats["metric"]["label"]
    lines = [comparison_sentence(c, label) for c in stats["comparisons"]]
    edge = [
        f"{name} ({arm['lr']:g})"
        for name, arm in stats["arms"].items()
        if arm["selection"] and arm["lr"] in (min(arm["lrs"]), max(arm["lrs"]))
    ]
    if edge:
        lines.append(
            "Tuned learning rates at the edge of their candidates (a better one may lie "
            "beyond): " + ", ".join(edge) + "."
        )
    diverged = [
        f"{name} {arm['diverged']} of {arm['n']}"
        for name, arm in stats["arms"].items()
        if arm["diverged"]
    ]
    if diverged:
        lines.append(
            "Compared runs that diverged (cost inf or NaN; counted as error 1e6): "
            + ", ".join(diverged)
            + "."
        )
    return lines
