"""The ``tinygrad-nn bench`` command: options, their checks, the run and its files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tinygrad_nn._files import atomic_path, check_output_file
from tinygrad_nn.bench.report import to_markdown
from tinygrad_nn.bench.suite import run_benchmarks

__all__ = ["add_arguments", "main", "run", "validate"]

MAX_THREADS = 1024
MAX_CHAIN_LENGTH = 100_000_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``tinygrad-nn bench``."""
    parser.add_argument("--quick", action="store_true", help="a few-second smoke run, no verdict")
    parser.add_argument("--json", metavar="PATH", help="write the full report as JSON")
    parser.add_argument("--markdown", metavar="PATH", help="write the tables as Markdown")
    parser.add_argument(
        "--threads", type=int, metavar="N", help="BLAS (and PyTorch) threads (default: as set)"
    )
    parser.add_argument(
        "--chain-length",
        type=int,
        metavar="N",
        help="nodes of the graph-building chain (default 1,000,000; 1,000 with --quick; 0 skips)",
    )
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")


def validate(args: argparse.Namespace) -> None:
    """Refuse bad numbers and unusable output paths before any work.

    A missing output folder is created (with its parents, by
    `tinygrad_nn._files.check_output_file`, as every command does); a folder that cannot
    be created or written, a path that is a folder or read-only, or the same file for
    ``--json`` and ``--markdown`` raise a ValueError with a one-line message.

    Example:
        >>> validate(argparse.Namespace(threads=0, chain_length=None, json=None, markdown=None))
        Traceback (most recent call last):
        ValueError: --threads must be between 1 and 1024, got 0
    """
    if args.threads is not None and not 1 <= args.threads <= MAX_THREADS:
        raise ValueError(f"--threads must be between 1 and {MAX_THREADS}, got {args.threads}")
    if args.chain_length is not None and not 0 <= args.chain_length <= MAX_CHAIN_LENGTH:
        raise ValueError(
            f"--chain-length must be between 0 (skip) and {MAX_CHAIN_LENGTH:,}, "
            f"got {args.chain_length}"
        )
    outputs = [(option, getattr(args, option)) for option in ("json", "markdown")]
    outputs = [(option, Path(value)) for option, value in outputs if value is not None]
    if len(outputs) == 2 and outputs[0][1].resolve() == outputs[1][1].resolve():
        raise ValueError(f"--json and --markdown name the same file {str(outputs[0][1])!r}")
    for option, path in outputs:
        check_output_file(path, option=f"--{option}")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark, print the Markdown report, write the requested files."""
    report = run_benchmarks(
        quick=args.quick,
        use_torch=not args.no_torch,
        threads=args.threads,
        chain_length=args.chain_length,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    markdown = to_markdown(report)
    print(markdown)
    if args.json:
        _write(args.json, json.dumps(report, indent=2) + "\n")
    if args.markdown:
        _write(args.markdown, markdown)
    return 0


def _write(path: str, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """``python -m tinygrad_nn.bench`` (the same as ``tinygrad-nn bench``)."""
    parser = argparse.ArgumentParser(
        prog="tinygrad-nn bench", description="measure tinygrad_nn against hand-written NumPy"
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        validate(args)
    except ValueError as error:
        parser.error(str(error))
    return run(args)
