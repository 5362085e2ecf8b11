"""The `tinygrad-nn` command (also `python -m tinygrad_nn`).

Each subcommand lives in its own module, which provides ``add_arguments(parser)``,
``run(args) -> int`` and optionally ``validate(args) -> None``; modules are imported only
when the command line needs them, so `tinygrad-nn --help` stays quick and plotting
libraries load only for commands that plot.

The protocol, the same for every command:

- argparse errors (an unknown option, a bad type) print usage and exit with status 2;
- then ``validate(args)`` runs, before any work: it checks values and output paths (see
  `tinygrad_nn._files.prepare_output_folder`) and raises ``ValueError("one-line message")``,
  which prints ``tinygrad-nn COMMAND: error: message`` and exits with status 2;
- then ``run(args)``, whose return value is the exit status;
- Ctrl-C (KeyboardInterrupt) at any point prints ``tinygrad-nn COMMAND: interrupted`` and
  exits with status 130, the shell's convention for SIGINT, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# name -> (module implementing it, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("tinygrad_nn.demo", "train the article's sin/cos network and write its plots"),
    "graph": ("tinygrad_nn.viz.command", "draw the computation graph of the article's network"),
    "experiment": ("tinygrad_nn.experiments.command", "run one of the article's four studies"),
    "bench": ("tinygrad_nn.bench", "measure training-step speed against hand-written NumPy"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; only ``command``'s module is imported to add its options."""
    parser = argparse.ArgumentParser(
        prog="tinygrad-nn",
        description="A small, readable and fast autodiff framework on NumPy.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        subparser = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == command:
            importlib.import_module(module_name).add_arguments(subparser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status (0, 2 for bad usage, 130 on Ctrl-C).

    Example:
        >>> main(["demo", "--batches", "100", "--out", "demo-out"])
        0
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in arguments if not a.startswith("-")), None)
    label = f"tinygrad-nn {command}" if command in COMMANDS else "tinygrad-nn"
    try:
        args = build_parser(command).parse_args(arguments)
        module = importlib.import_module(COMMANDS[args.command][0])
        validate = getattr(module, "validate", None)
        if validate is not None:
            try:
                validate(args)
            except ValueError as error:
                print(f"{label}: error: {error}", file=sys.stderr)
                return 2
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print(f"{label}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
