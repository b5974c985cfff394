"""The `gatebook` command.

Each subcommand lives beside the code it drives and registers itself through
a `register(subparsers)` function; this module only lists them.
"""

import argparse
import importlib
import sys

from . import __version__

__all__ = ["main"]

# Modules that add subcommands, in the order `gatebook --help` lists them.
SUBCOMMAND_MODULES = (
    "gatebook.host.cli.demo",
    "gatebook.host.cli.bench",
    "gatebook.host.cli.book",
    "gatebook.host.cli.log",
    "gatebook.host.cli.bench_log",
    "gatebook.host.cli.dissectors",
    "gatebook.host.cli.inject",
    "gatebook.host.cli.bench_net",
    "gatebook.host.cli.run",
    "gatebook.host.cli.accounts",
    "gatebook.boards.cli",
)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="gatebook",
        description="Gatebook: an FPGA-offloaded exchange matching engine. "
                    "Run `gatebook COMMAND --help` for each command.")
    parser.add_argument("--version", action="version", version=f"gatebook {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except BrokenPipeError:          # `gatebook ... | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
