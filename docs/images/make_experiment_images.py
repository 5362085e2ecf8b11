"""Regenerate the measured parts of docs/experiments.md, its plots and their results.

Run from anywhere: ``python docs/images/make_experiment_images.py [--jobs J] [NAME ...]``.
For each study (all four by default) it runs the experiment at its default size and seed,
exactly as ``tinygrad-nn experiment NAME`` does, then

- copies its PNG plots to ``docs/images/experiments/``,
- writes its results without the per-run records to ``docs/images/experiments/NAME.json``,
- rewrites the block between ``<!-- BEGIN GENERATED: NAME -->`` and
  ``<!-- END GENERATED: NAME -->`` in docs/experiments.md from that JSON alone,
- and the table "The article's four questions" of README.md (its first comparisons).

``--from-results`` skips the runs and rewrites the blocks from the committed JSON files;
the test suite checks that this changes nothing, so the page cannot go stale.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from tinygrad_nn.experiments import STUDY_NAMES, run_experiment
from tinygrad_nn.experiments.report import render_markdown, results_dict
from tinygrad_nn.experiments.runner import default_jobs
from tinygrad_nn.experiments.verdict import short_sentence

HERE = Path(__file__).resolve().parent
IMAGES = HERE / "experiments"
PAGE = HERE.parent / "experiments.md"
README = HERE.parent.parent / "README.md"
QUESTIONS = {
    "init": "why does a badly centred init give bad results?",
    "activation": "sigmoid vs relu, and their speed",
    "cost": "absolute vs squared cost",
    "regularization": "L1/L2 on a reduced dataset",
}


def block(results: dict[str, Any]) -> str:
    """The page's generated block for one study, from its results (records not needed)."""
    name = results["study"]
    images = [f"images/experiments/{image}" for image in results["images"]]
    body = render_markdown(results, images, level=3, settings=False)
    facts = (
        f"Measured with {results['runs']} compared runs per arm on {results['machine']['cpus']} "
        f"cores ({results['executor']}): {results['elapsed_s']:.0f} s including the selection "
        "runs and the measurements."
    )
    return "\n".join(
        [
            f"<!-- BEGIN GENERATED: {name} -->",
            "<!-- written by docs/images/make_experiment_images.py from "
            f"docs/images/experiments/{name}.json; edit those, not this -->",
            "",
            facts,
            "",
            body.rstrip(),
            "",
            f"<!-- END GENERATED: {name} -->",
        ]
    )


def questions_table(all_results: dict[str, dict[str, Any]]) -> str:
    """README's table: each study's command and its first comparison, from its results."""
    lines = [
        "<!-- BEGIN GENERATED: questions -->",
        "| question | command | first comparison at the default settings |",
        "|---|---|---|",
    ]
    for name, results in all_results.items():
        first = results["stats"]["comparisons"][0]
        label = results["stats"]["metric"]["label"]
        lines.append(
            f"| {QUESTIONS[name]} | `tinygrad-nn experiment {name}` | "
            f"{short_sentence(first, label)} |"
        )
    lines.append("<!-- END GENERATED: questions -->")
    return "\n".join(lines)


def replace_block(page: str, name: str, text: str) -> str:
    """``page`` with the generated block of ``name`` replaced by ``text``."""
    pattern = re.compile(
        rf"<!-- BEGIN GENERATED: {name} -->.*?<!-- END GENERATED: {name} -->", re.DOTALL
    )
    if not pattern.search(page):
        raise SystemExit(f"{PAGE}: no block for {name!r} (add the BEGIN/END GENERATED markers)")
    return pattern.sub(lambda _: text, page)


def run_study(name: str, jobs: int) -> dict[str, Any]:
    """Run one study at its defaults; copy its plots; write and return its slim results."""
    with tempfile.TemporaryDirectory() as folder:
        result = run_experiment(name, jobs=jobs, out=Path(folder) / name, progress=False)
        IMAGES.mkdir(parents=True, exist_ok=True)
        images = []
        for path in result.files:
            if path.suffix == ".png":
                shutil.copyfile(path, IMAGES / path.name)
                images.append(path.name)
    results = results_dict(result, records=False)
    results["images"] = images
    (IMAGES / f"{name}.json").write_text(
        json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(STUDY_NAMES), metavar="NAME")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (all cores)")
    parser.add_argument(
        "--from-results", action="store_true", help="rewrite the page from the committed JSON"
    )
    args = parser.parse_args(argv)
    jobs = args.jobs or default_jobs()
    page = PAGE.read_text(encoding="utf-8")
    for name in args.names:
        if args.from_results:
            results = json.loads((IMAGES / f"{name}.json").read_text(encoding="utf-8"))
        else:
            print(f"running {name} ...", file=sys.stderr)
            results = run_study(name, jobs)
        page = replace_block(page, name, block(results))
        PAGE.write_text(page, encoding="utf-8")  # keep what is done if a later study fails
    if all((IMAGES / f"{name}.json").exists() for name in STUDY_NAMES):
        everything = {
            name: json.loads((IMAGES / f"{name}.json").read_text(encoding="utf-8"))
            for name in STUDY_NAMES
        }
        readme = README.read_text(encoding="utf-8")
        README.write_text(
            replace_block(readme, "questions", questions_table(everything)), encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
