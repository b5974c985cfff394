"""`gatebook build`: a board's bitstream, its figures, how to program it; the boards table.

A CLI module: it sits on the top layer (docs/architecture.md, "Layers"), so it may import
both the build (`gatebook.boards.build`) and the simulator that counts the lane's clocks
(`gatebook.sim.matcher.cycles`), which `gatebook.boards` itself must not.

- `gatebook build --board NAME --depth N`: synthesis, placement, routing and the
  bitstream, with a line per stage; then the figures, the row for docs/boards.md, the
  `openFPGALoader` command and how to cable the board. The record is `summary.json` in
  the build directory.
- `gatebook build --board NAME --mac-only`: an Ethernet board's MAC alone
  (`gatebook.boards.mac_top`), to time its clocks in minutes.
- `--time-limit MIN` stops the tools and records where the build got to;
  `--record-stopped` records a build in `--out` that was stopped by hand.
- `gatebook build --table [PATH ...]`: docs/boards.md's table from such records.
"""

import json
import pathlib
import sys

__all__ = ["register"]


def register(subparsers):
    """Add the `build` subcommand to the `gatebook` command's `subparsers`."""
    from gatebook.boards import BOARDS
    parser = subparsers.add_parser(
        "build", help="build a board's bitstream (yosys + nextpnr), or print the boards table",
        description="Synthesises, places and routes the board's top (the Ethernet boards: "
                    "the MAC, the link endpoint and one matching lane; the ULX3S: a lane on "
                    "random stimulus) with the open toolchain the board's platform names, "
                    "writes the bitstream, prints the cells used, the Fmax nextpnr reports "
                    "against each clock's target, the lane's cycle figures in nanoseconds, "
                    "the row for docs/boards.md and how to program and cable the board. "
                    "Needs the `boards` extra (pip install -e .[boards]). With --table, "
                    "prints docs/boards.md's table from the records earlier builds wrote.")
    parser.add_argument("--board", choices=sorted(BOARDS), help="board to build for")
    parser.add_argument("--depth", type=int, default=4, help="window depth N (default 4)")
    parser.add_argument("--out", type=pathlib.Path,
                        help="build directory (default build/boards/BOARD_dDEPTH)")
    parser.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (default 1)")
    parser.add_argument("--no-cycles", action="store_true",
                        help="skip the cycle measurement (no nanosecond table)")
    parser.add_argument("--synth-only", action="store_true",
                        help="run yosys only and print its cell counts (no bitstream)")
    parser.add_argument("--mac-only", action="store_true",
                        help="an Ethernet board's MAC alone, its received frames sent back "
                             "(minutes, not the lane's hour): the MAC's clocks' Fmax")
    parser.add_argument("--time-limit", type=float, metavar="MIN",
                        help="stop the tools after MIN minutes; the record then says where "
                             "the build stopped (and yosys's counts, if it got that far)")
    parser.add_argument("--record-stopped", action="store_true",
                        help="write the record of a build in --out whose tools were stopped "
                             "by hand (a build run without --time-limit); runs no tool")
    parser.add_argument("--source", metavar="COMMIT",
                        help="with --record-stopped: the commit that build was made from, "
                             "when it was not this checkout's")
    parser.add_argument("--table", nargs="*", type=pathlib.Path, metavar="PATH",
                        help="print the boards table from build records (summary.json files, "
                             "or directories holding them; default build/boards)")
    parser.set_defaults(run=_run)


def _run(args):
    if args.table is not None:
        return _print_table(args.table or [pathlib.Path("build/boards")])
    if args.board is None:
        print("gatebook build: --board is required (or --table)", file=sys.stderr)
        return 2
    return _run_build(args)


def _print_table(paths):
    from gatebook.boards.report import load_records, markdown_table
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"gatebook build: no build records at {', '.join(missing)}", file=sys.stderr)
        return 1
    try:
        records = load_records(paths)
        table = markdown_table(records)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError) as error:
        # a file that is not a record of ours, or a record someone edited by hand
        print(f"gatebook build: unreadable build record: {error!r}", file=sys.stderr)
        return 1
    if not records:
        print(f"gatebook build: no build records in "
              f"{', '.join(map(str, paths))}", file=sys.stderr)
        return 1
    print(table)
    return 0


def _write_project(args, spec, out):
    from gatebook.boards.build import write_project
    from gatebook.boards.report import program_lines
    files = write_project(args.board, args.depth, out)
    print(f"gatebook build: {args.board} builds with {spec.VENDOR}, which is not installed "
          f"here: wrote its project to {out} ({', '.join(files)}).\n"
          f"On a machine with {spec.VENDOR} on PATH: cd {out} && sh build_top.sh "
          f"(writes top.bit and the timing and utilisation reports top_*.rpt)")
    print("\n".join(program_lines(spec, out / "top.bit")))
    return 0


def _mac_only_top(spec, depth):
    from gatebook.boards.ethernet_top import EthernetBoardTop
    from gatebook.boards.mac_top import MacLoopback
    return EthernetBoardTop(spec, depth, unit=MacLoopback)


def _record_stopped(args, out):
    """A record for a build directory whose tools were stopped. It has no build time: a
    tool's logs stay silent for long stretches (yosys's LUT mapping), so their last write
    does not say when it stopped, and a paused build's wall time is not its tools'."""
    from gatebook.boards.build import stopped_record
    if not (out / "top.il").exists():
        print(f"gatebook build: {out} holds no build (no top.il)", file=sys.stderr)
        return 1
    if (out / "summary.json").exists():
        print(f"gatebook build: {out} already has its record", file=sys.stderr)
        return 1
    record = stopped_record(out, args.board, args.depth, "stopped by hand", None, args.seed)
    if args.source:
        record["source"] = args.source
    (out / "summary.json").write_text(json.dumps(record, indent=1))
    print(f"gatebook build: recorded {out / 'summary.json'}: stopped in "
          f"{record['stage'] or 'its first stage'}")
    return 0


def _run_build(args):
    from gatebook.boards import board
    from gatebook.boards.build import build, format_summary
    from gatebook.boards.report import program_lines, table_header, table_row
    spec = board(args.board)
    if args.mac_only and not hasattr(spec, "ETHERNET"):
        print(f"gatebook build: {args.board} has no Ethernet PHY (--mac-only)", file=sys.stderr)
        return 2
    name = "mac" if args.mac_only else f"d{args.depth}"
    out = args.out or pathlib.Path("build/boards") / f"{args.board}_{name}"
    if getattr(spec, "VENDOR", None):
        return _write_project(args, spec, out)
    if args.record_stopped:
        return _record_stopped(args, out)
    print(f"gatebook build: board {args.board}, depth {args.depth}, in {out} "
          f"(yosys + nextpnr take minutes to an hour; logs in {out}/build.log)", flush=True)
    try:
        report = build(args.board, args.depth, out, seed=args.seed, synth_only=args.synth_only,
                       top=_mac_only_top if args.mac_only else None,
                       time_limit=args.time_limit * 60 if args.time_limit else None)
    except RuntimeError as error:
        print(f"gatebook build: {error}", file=sys.stderr)
        return 1
    if args.mac_only:
        report["top"] = "mac"           # not a lane's row: `--table` refuses it
    (out / "summary.json").write_text(json.dumps(report, indent=1))
    if "stopped" in report:
        print(f"gatebook build: {report['stopped']}, in {report['stage'] or 'its first stage'}; "
              f"the record ({out / 'summary.json'}) says so")
        return 1
    if args.synth_only:
        print(f"yosys: {report['seconds']:.0f} s; cells:")
        for cell, count in sorted(report["synthesis"].items()):
            print(f"  {cell:<20} {count:>8,}")
        return 0
    if args.mac_only:
        print(format_summary(report))
        return 0
    cycles = None
    if not args.no_cycles:
        print("  measuring cycles on the Amaranth simulator…", flush=True)
        from gatebook.sim.matcher.cycles import measure
        cycles = measure(args.depth)
    print(format_summary(report, cycles))
    print(f"\nbitstream: {out / 'top.bit'}; the row for docs/boards.md:")
    print("\n".join(table_header() + [table_row(report)]))
    print()
    print("\n".join(program_lines(board(args.board), out / "top.bit")))
    return 0
