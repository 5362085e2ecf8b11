"""Regenerate the measured parts of docs/experiments.md and its plots.

Run from anywhere: ``python docs/images/make_experiment_images.py [--jobs J] [NAME ...]``.
For each study (all four by default) it runs the experiment at its default size and seed,
exactly as ``tinygrad-nn experiment NAME`` does, then

- copies its PNG plots to ``docs/images/experiments/``, and
- rewrites the block between ``<!-- BEGIN GENERATED: NAME -->`` and
  ``<!-- END GENERATED: NAME -->`` in docs/experiments.md: the command, the measured
  tables, the conclusions (all computed from the runs) and the plots.

The text outside those blocks is written by hand. Runs are deterministic per seed, so
rerunning changes only the timings.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tinygrad_nn.experiments import STUDY_NAMES, run_experiment
from tinygrad_nn.experiments.report import command_line
from tinygrad_nn.experiments.runner import default_jobs

HERE = Path(__file__).resolve().parent
IMAGES = HERE / "experiments"
PAGE = HERE.parent / "experiments.md"


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the worker processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def generated_block(name: str, jobs: int) -> str:
    """Run one study at its defaults; return the Markdown block for the page."""
    with tempfile.TemporaryDirectory() as folder:
        wall, cpu = time.perf_counter(), _cpu_seconds()
        result = run_experiment(name, jobs=jobs, out=folder, progress=False)
        wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
        IMAGES.mkdir(parents=True, exist_ok=True)
        images = []
        for path in result.files:
            if path.suffix == ".png":
                shutil.copyfile(path, IMAGES / path.name)
                images.append(path.name)
    lines = [
        f"<!-- BEGIN GENERATED: {name} -->",
        "<!-- written by docs/images/make_experiment_images.py; edit that, not this -->",
        "",
        "```bash",
        command_line(result),
        "```",
        "",
        f"Measured with {result.runs} runs per arm on {os.cpu_count()} cores ({jobs} worker "
        f"processes): {wall:.0f} s wall clock, {cpu:.0f} s of CPU time, plots included.",
        "",
    ]
    for table in result.analysis.tables:
        lines += [f"**{table.title}**", "", table.to_markdown(), ""]
    lines += ["Conclusions, as the report computes them from the runs:", ""]
    lines += [f"- {sentence}" for sentence in result.analysis.conclusions]
    lines.append("")
    lines += [f"![{image[:-4]}](images/experiments/{image})" for image in images]
    lines += ["", f"<!-- END GENERATED: {name} -->"]
    return "\n".join(lines)


def replace_block(page: str, name: str, block: str) -> str:
    """``page`` with the generated block of ``name`` replaced by ``block``."""
    pattern = re.compile(
        rf"<!-- BEGIN GENERATED: {name} -->.*?<!-- END GENERATED: {name} -->", re.DOTALL
    )
    if not pattern.search(page):
        raise SystemExit(f"{PAGE}: no block for {name!r} (add the BEGIN/END GENERATED markers)")
    return pattern.sub(lambda _: block, page)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(STUDY_NAMES), metavar="NAME")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (all cores)")
    args = parser.parse_args(argv)
    jobs = args.jobs or default_jobs()
    page = PAGE.read_text(encoding="utf-8")
    for name in args.names:
        print(f"running {name} ...", file=sys.stderr)
        page = replace_block(page, name, generated_block(name, jobs))
        PAGE.write_text(page, encoding="utf-8")  # keep what is done if a later study fails
    return 0


if __name__ == "__main__":
    sys.exit(main())
