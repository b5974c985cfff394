"""The `gatebook` command.

Each subcommand lives beside the code it drives and registers itself through
a `register(subparsers)` function; this module only lists them.
"""

import argparse
import importlib
import logging
import sys

from . import __version__

__all__ = ["main", "configure_logging"]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# How every command's log lines look on stderr; tests match on it.
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"

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
    "gatebook.host.cli.ledger",
    "gatebook.host.cli.md_edge",
    "gatebook.host.cli.bench_md",
    "gatebook.host.cli.shards",
    "gatebook.boards.cli",
)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="gatebook",
        description="Gatebook: an FPGA-offloaded exchange matching engine. "
                    "Run `gatebook COMMAND --help` for each command.")
    parser.add_argument("--version", action="version", version=f"gatebook {__version__}")
    parser.add_argument("--log-level", choices=LOG_LEVELS, type=str.upper,
                        help="the least severe log messages shown on stderr (default WARNING)")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="show more log messages: -v INFO, -vv DEBUG (--log-level wins)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def configure_logging(level=None, verbose=0):
    """Send log records at `level` and above to stderr, for the whole process.

    `level` is a name of LOG_LEVELS; without it, WARNING, lowered one step
    for each `verbose`. Every command gets its level from here and nowhere else.
    """
    if level is None:
        level = ("WARNING", "INFO", "DEBUG")[min(verbose, 2)]
    logging.basicConfig(format=LOG_FORMAT)
    logging.getLogger().setLevel(level)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level, args.verbose)
    try:
        return args.run(args) or 0
    except BrokenPipeError:          # `gatebook ... | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
