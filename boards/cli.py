"""`gatebook build`: a matching lane on an FPGA board, with utilisation, Fmax and nanoseconds.

A CLI module: it sits on the top layer (docs/architecture.md, "Layers"), so it may import
both the build (`gatebook.boards.build`) and the simulator that counts the lane's clocks
(`gatebook.sim.matcher.cycles`), which `gatebook.boards` itself must not.
"""

import json
import pathlib
import sys

__all__ = ["register"]


def register(subparsers):
    """Add the `build` subcommand to the `gatebook` command's `subparsers`."""
    from gatebook.boards import BOARDS
    parser = subparsers.add_parser(
        "build", help="build a matching lane for an FPGA board (yosys + nextpnr)",
        description="Synthesises, places and routes one matching lane "
                    "(gatebook.hdl.matcher.Matcher) with the board top in boards/top.py, using "
                    "the open toolchain the board's platform names (nextpnr-ecp5 or "
                    "nextpnr-ice40), then prints the cells used, the Fmax nextpnr reports for "
                    "the lane's clock and the lane's cycle figures in nanoseconds. "
                    "Needs the `boards` extra (pip install -e .[boards]).")
    parser.add_argument("--board", required=True, choices=sorted(BOARDS), help="board to build for")
    parser.add_argument("--depth", type=int, default=4, help="window depth N (default 4)")
    parser.add_argument("--out", type=pathlib.Path,
                        help="build directory (default build/boards/BOARD_dDEPTH)")
    parser.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (default 1)")
    parser.add_argument("--no-cycles", action="store_true",
                        help="skip the cycle measurement (no nanosecond table)")
    parser.set_defaults(run=_run_build)


def _run_build(args):
    from gatebook.boards.build import build, format_summary
    out = args.out or pathlib.Path("build/boards") / f"{args.board}_d{args.depth}"
    print(f"gatebook build: board {args.board}, depth {args.depth}, in {out} "
          f"(yosys + nextpnr take minutes; logs in {out}/build.log)", flush=True)
    try:
        report = build(args.board, args.depth, out, seed=args.seed)
    except RuntimeError as error:
        print(f"gatebook build: {error}", file=sys.stderr)
        return 1
    cycles = None
    if not args.no_cycles:
        print("  measuring cycles on the Amaranth simulator…", flush=True)
        from gatebook.sim.matcher.cycles import measure
        cycles = measure(args.depth)
    (out / "summary.json").write_text(json.dumps(report, indent=1))
    print(format_summary(report, cycles))
    return 0
