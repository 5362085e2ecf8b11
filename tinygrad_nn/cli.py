"""The `tinygrad-nn` command (also `python -m tinygrad_nn`).

Each subcommand lives in its own module, which provides ``add_arguments(parser)`` and
``run(args) -> int``; modules are imported only when the command line needs them, so
`tinygrad-nn --help` stays quick and plotting libraries load only for commands that plot.
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
    """Run the command line; returns the process exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in arguments if not a.startswith("-")), None)
    args = build_parser(command).parse_args(arguments)
    module = importlib.import_module(COMMANDS[args.command][0])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
