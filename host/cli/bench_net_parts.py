"""Instructions per order on the DPDK end-to-end path, by part, under callgrind.

    python -m gatebook.host.cli.bench_net_parts [--orders 4000,12000] [--burst 32]
        [--wal-from COMMIT] [--parts logged,encode]

Each part is a loop run once and twice in fresh processes under
`valgrind --tool=callgrind`; the difference is one loop, and the difference
between two flow sizes, per order, leaves out what a loop pays once (ports,
pools, opening the log). Instruction counts are far steadier than time on a
busy machine; every thread of the process counts (the log writer's too).
The parts are nested loops, so the table subtracts one from the next:

========  ==========================================================
rx        net_pcap receive and the C split of each burst (recv_ouch)
gateway   + the gateway's decode into stamped commands
engine    the golden engine alone on the same commands
e2e       rx, gateway, engine, replies encoded and sent (bench_ingress)
logged    e2e with the log on (batched), as `gatebook run --log`
encode    the log's encoding of a command, its OUCH origin and events, as
          the journal does it (batch.RecordBatch, compiled where built)
========  ==========================================================

`--wal-from COMMIT` runs every part with host/wal/ as it was at COMMIT (from
`git archive`, loaded in place of the installed one, as Python: a build of
that time compiled nothing there), so one run shows the log before and after
a change beside the same engine, gateway and DPDK path.
"""

import argparse
import importlib.util
import os
import pickle
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Nothing of host/wal/ (nor of host/ouch/, which imports it) at the top: a child
# may load another tree's host/wal/ first (--wal-from).

__all__ = ["PARTS", "instructions_per_order", "wal_tree", "main"]

PARTS = ("rx", "gateway", "engine", "e2e", "logged", "encode")
_WAL_PACKAGE = "gatebook.host.wal"


def wal_tree(commit, workdir):
    """host/wal/ as it was at `commit` (`git archive` of the checkout this module is in),
    extracted under `workdir`; the folder."""
    root = Path(__file__).resolve().parents[2]
    target = Path(workdir) / f"wal-{commit}"
    if not target.exists():
        target.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(root), "archive", commit, "host/wal"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target / "host" / "wal"


def _load_wal(folder):
    # host/wal/ from `folder` as gatebook.host.wal, before anything imports the installed one.
    spec = importlib.util.spec_from_file_location(
        _WAL_PACKAGE, Path(folder) / "__init__.py", submodule_search_locations=[str(folder)])
    package = importlib.util.module_from_spec(spec)
    sys.modules[_WAL_PACKAGE] = package
    spec.loader.exec_module(package)


def instructions_per_order(part, orders=(4000, 12000), burst=32, workdir=None, wal=None):
    """Instructions per order of `part` (one of PARTS), by the two-size loop difference
    (`wal`: a host/wal/ folder to run instead of the installed one)."""
    from ..ouch.bench import gateway_commands, order_datagrams, write_order_pcap
    workdir = workdir or tempfile.mkdtemp(prefix="gb-parts-")
    loops = {}
    for count in orders:
        stem = os.path.join(workdir, f"flow{count}")
        if not os.path.exists(stem + ".pkl"):
            datagrams = order_datagrams(count, 1)
            write_order_pcap(stem + ".pcap", datagrams)
            with open(stem + ".pkl", "wb") as out:
                pickle.dump((len(datagrams), gateway_commands(datagrams)), out)
        refs = []
        for repeat in (1, 2):
            done = subprocess.run(
                ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                 sys.executable, "-c", "from gatebook.host.cli.bench_net_parts import _child; "
                                       "_child()", stem, part, str(burst), str(repeat),
                 str(wal or "")],
                capture_output=True, text=True)
            found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
            if done.returncode != 0 or found is None:
                raise RuntimeError(f"callgrind run of {part} failed:\n{done.stderr[-2000:]}")
            refs.append(int(found.group(1).replace(",", "")))
        loops[count] = refs[1] - refs[0]
    small, large = orders
    return (loops[large] - loops[small]) / (large - small)


def _child():
    """One process under callgrind (argv: flow stem, part, burst, repeats, host/wal/ folder
    or '')."""
    stem, part, burst, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if sys.argv[5]:
        _load_wal(sys.argv[5])
    from ..ouch.bench import bench_engine, bench_ingress
    from ..runtime import quiet_gc
    from .bench_net import bench_ingress_logged
    with open(stem + ".pkl", "rb") as flow:
        packets, commands = pickle.load(flow)
    if part == "encode":
        encode_log, items = _log_encoding(commands)
    for _ in range(repeats):
        if part in ("rx", "gateway"):
            _receive(stem + ".pcap", burst, packets, part == "gateway")
        elif part == "engine":
            bench_engine(commands, repeat=1)
        elif part == "e2e":
            bench_ingress(stem + ".pcap", burst, packets)
        elif part == "logged":
            with tempfile.TemporaryDirectory() as directory:
                bench_ingress_logged(stem + ".pcap", burst, packets, directory)
        elif part == "encode":
            with quiet_gc():            # as the journal runs: no collection of the flow's tuples
                encode_log(items)


def _log_encoding(commands):
    """(loop, items): what the loaded journal encodes per command, on `commands` with
    their events and an OUCH origin's worth of bytes: straight into a RecordBatch
    (taken every 256 commands, as the writer does), or, in a tree before it, the
    command's codec, the origin and format.encode_command_records."""
    from gatebook.wire import internal
    from gatebook.wire.codec import ProtocolCodec
    from gatebook.wire.enums import OrderEntryProtocol
    from ..engine import MatchingEngine
    from ..ouch.log_origin import ORIGIN_SIZE
    from ..symbols import DEFAULT_SYMBOLS
    from ..wal import format as log_format
    from ..wal.origins import encode_origin
    try:
        from ..wal.batch import RecordBatch
    except ImportError:                 # a host/wal/ from before the batch (--wal-from)
        RecordBatch = None
    engine = MatchingEngine(DEFAULT_SYMBOLS)
    origin = (int(OrderEntryProtocol.OUCH), bytes(range(ORIGIN_SIZE)))
    items = [(command[1], command[2], command, engine.apply(command)) for command in commands]
    if RecordBatch is not None:
        def encode_log(items):
            batch = RecordBatch()
            add_input, add_output = batch.add_input, batch.add_output
            for number, (seq, ts, command, events) in enumerate(items):
                add_input(seq, ts, command, origin)
                add_output(events)
                if number % 256 == 255:
                    batch.take()
    else:
        encode_command = ProtocolCodec(internal.COMMANDS).encode
        encode_records = log_format.encode_command_records

        def encode_log(items):
            for seq, ts, command, events in items:
                encode_records(seq, ts, encode_command(command) + encode_origin(*origin), events)
    return encode_log, items


_names = iter(range(7_000_000, 8_000_000))


def _receive(pcap, burst, expected, decode):
    from gatebook.dpdk_bridge.eal import Eal
    from gatebook.dpdk_bridge.udp import DpdkUdp
    from ..ouch.gateway import Gateway
    from ..sequencer import Sequencer
    from ..symbols import DEFAULT_SYMBOLS
    udp = DpdkUdp(Eal.start().attach(f"net_pcap{next(_names)},rx_pcap={pcap}"),
                  "127.0.0.1", 15000, burst=burst)
    gateway = Gateway(Sequencer(time.time_ns), DEFAULT_SYMBOLS)
    packets = idle = 0
    try:
        while packets < expected and idle < 1000:
            data, frames = udp.recv_ouch()
            if not frames:
                idle += 1
                continue
            idle = 0
            packets += len(frames)
            if decode:
                for _ in gateway.commands(data, frames):
                    pass
    finally:
        udp.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[2].split("\n")[0])
    parser.add_argument("--orders", default="4000,12000",
                        help="the two flow sizes (default 4000,12000)")
    parser.add_argument("--burst", type=int, default=32)
    parser.add_argument("--wal-from", metavar="COMMIT",
                        help="run with host/wal/ as it was at COMMIT (the log before a change)")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated, of {', '.join(PARTS)} (default all; the table "
                             f"needs all)")
    args = parser.parse_args(argv)
    orders = tuple(int(count) for count in args.orders.split(","))
    parts = [part for part in args.parts.split(",") if part]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown parts: {', '.join(unknown)}")
    workdir = tempfile.mkdtemp(prefix="gb-parts-")
    wal = wal_tree(args.wal_from, workdir) if args.wal_from else None
    if wal:
        print(f"host/wal/ as at {args.wal_from}")
    found = {}
    for part in parts:
        found[part] = instructions_per_order(part, orders, args.burst, workdir, wal)
        print(f"{part:8s} {found[part]:>9,.0f} instructions per order", flush=True)
    if set(found) != set(PARTS):
        return 0
    rows = [("DPDK rx + C split", found["rx"]),
            ("gateway decode", found["gateway"] - found["rx"]),
            ("engine", found["engine"]),
            ("replies: encode + DPDK tx", found["e2e"] - found["gateway"] - found["engine"]),
            ("log: record encoding", found["encode"]),
            ("log: journal, queue, writer thread, held replies",
             found["logged"] - found["e2e"] - found["encode"])]
    print(f"\n{'part':58s} {'instructions/order':>18s}")
    for name, value in rows:
        print(f"{name:58s} {value:>18,.0f}")
    print(f"{'end to end, log off':58s} {found['e2e']:>18,.0f}")
    print(f"{'end to end, log on (batched)':58s} {found['logged']:>18,.0f}")
    print(f"{'the log, in all (on - off)':58s} {found['logged'] - found['e2e']:>18,.0f}")
    print(f"{'log on / log off':58s} {found['logged'] / found['e2e']:>17.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
