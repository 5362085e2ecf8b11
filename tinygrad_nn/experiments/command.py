"""`tinygrad-nn experiment NAME`: run one of the article's four studies from the shell.

::

    tinygrad-nn experiment init                      # default runs, all cores
    tinygrad-nn experiment cost --runs 200 --jobs 8 --out results/cost --seed 1
    tinygrad-nn experiment activation --set steps=1000
    tinygrad-nn experiment regularization --scheduler tcp://10.0.0.5:8786

Writes ``results.json``, ``report.md`` and PNG plots to ``--out`` (default
``experiments/NAME``), replacing that folder as a whole when the study has finished, and
prints the conclusions.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["add_arguments", "run", "validate"]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return name.strip(), value.strip()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the experiment command's arguments to ``parser``."""
    from tinygrad_nn.experiments import STUDY_NAMES

    parser.add_argument(
        "name",
        choices=STUDY_NAMES,
        metavar="NAME",
        help=f"the study to run: {', '.join(STUDY_NAMES)}",
    )
    parser.add_argument(
        "--runs",
        type=_positive_int,
        default=None,
        help="independent runs per arm (default: the study's, sized to take "
        "under a minute on 2 cores)",
    )
    parser.add_argument(
        "--jobs",
        type=_positive_int,
        default=None,
        help="worker processes (default: all cores; 1 runs in this process)",
    )
    parser.add_argument(
        "--out", default=None, metavar="DIR", help="output folder (default: experiments/NAME)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="base seed; run i uses the streams of (seed, i) (default 0)",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on a Dask cluster at ADDRESS (tcp://host:8786), or 'local' "
        "for a local one; needs pip install 'tinygrad-nn[distributed]'",
    )
    parser.add_argument(
        "--set",
        dest="settings",
        type=_setting,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a study setting, e.g. --set steps=1000 or "
        "--set lrs=1,0.1 (repeatable; report.md lists them all)",
    )
    parser.add_argument("--quiet", action="store_true", help="print no conclusions")


def validate(args: argparse.Namespace) -> None:
    """Check the command line before any work: raise a one-line ValueError if unusable.

    Checks the study's settings (names, types and ranges: ``steps=0``, ``lr=nan``,
    ``init_std=-1`` and ``final_window`` above ``steps`` are refused), that Dask is there
    for ``--scheduler``, and that ``--out`` is a folder that can be created and written
    (it is created here, with its parents, as the command-line convention says).
    """
    from tinygrad_nn.experiments import get_study
    from tinygrad_nn.experiments.study import apply_overrides, check_settings

    study = get_study(args.name)
    settings = apply_overrides(study.settings_type(), dict(args.settings))
    check_settings(settings)
    if study.check is not None:
        study.check(settings)
    if args.scheduler:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ValueError(
                "--scheduler needs Dask; pip install 'tinygrad-nn[distributed]'"
            ) from None
    out = Path(args.out if args.out is not None else f"experiments/{args.name}")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a file; give a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out.parent):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ValueError(f"--out {str(out)!r} cannot be created or written: {reason}") from None


def run(args: argparse.Namespace) -> int:
    """Run the study named in ``args``; returns the exit status.

    The output folder is replaced only when the study has finished; Ctrl-C prints one line
    and leaves it as it was (exit status 130).
    """
    from tinygrad_nn.experiments import run_experiment

    try:  # the CLI calls validate first; calling it again is harmless and covers direct use
        validate(args)
    except ValueError as error:
        print(f"tinygrad-nn experiment: error: {error}", file=sys.stderr)
        return 2
    out = args.out if args.out is not None else f"experiments/{args.name}"
    start = time.perf_counter()
    try:
        result = run_experiment(
            args.name,
            runs=args.runs,
            seed=args.seed,
            jobs=args.jobs,
            scheduler=args.scheduler,
            out=out,
            **dict(args.settings),
        )
    except KeyboardInterrupt:
        print(f"tinygrad-nn experiment: interrupted; {out} was left as it was", file=sys.stderr)
        return 130
    if not args.quiet:
        print(f"{result.study.title} ({result.runs} compared runs per arm)")
        for sentence in result.conclusions:
            print(f"- {sentence}")
    plots = len(result.files) - 2
    print(
        f"wrote {out}/report.md, results.json and {plots} plots "
        f"in {time.perf_counter() - start:.1f} s"
    )
    return 0
