"""Instructions per order on the DPDK end-to-end path, by part, under callgrind.

    python -m gatebook.host.cli.bench_net_parts [--orders 4000,12000] [--burst 32]

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
encode    the log's record encoding alone (format.encode_command_records)
========  ==========================================================
"""

import argparse
import os
import pickle
import re
import subprocess
import sys
import tempfile
import time

from ..engine import MatchingEngine
from ..ouch.bench import bench_engine, bench_ingress, gateway_commands, order_datagrams, write_order_pcap
from ..ouch.gateway import Gateway
from ..sequencer import Sequencer
from ..symbols import DEFAULT_SYMBOLS
from ..wal.format import encode_command_records
from .bench_net import bench_ingress_logged

__all__ = ["PARTS", "instructions_per_order", "main"]

PARTS = ("rx", "gateway", "engine", "e2e", "logged", "encode")


def instructions_per_order(part, orders=(4000, 12000), burst=32, workdir=None):
    """Instructions per order of `part` (one of PARTS), by the two-size loop difference."""
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
                                       "_child()", stem, part, str(burst), str(repeat)],
                capture_output=True, text=True)
            found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
            if done.returncode != 0 or found is None:
                raise RuntimeError(f"callgrind run of {part} failed:\n{done.stderr[-2000:]}")
            refs.append(int(found.group(1).replace(",", "")))
        loops[count] = refs[1] - refs[0]
    small, large = orders
    return (loops[large] - loops[small]) / (large - small)


def _child():
    """One process under callgrind (argv: flow stem, part, burst, repeats)."""
    stem, part, burst, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    with open(stem + ".pkl", "rb") as flow:
        packets, commands = pickle.load(flow)
    if part == "encode":
        from gatebook.wire import internal
        from gatebook.wire.codec import ProtocolCodec
        encode = ProtocolCodec(internal.COMMANDS).encode
        engine = MatchingEngine(DEFAULT_SYMBOLS)
        items = [(command[1], command[2], encode(command), engine.apply(command))
                 for command in commands]
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
            for item in items:
                encode_command_records(*item)


_names = iter(range(7_000_000, 8_000_000))


def _receive(pcap, burst, expected, decode):
    from gatebook.dpdk_bridge.eal import Eal
    from gatebook.dpdk_bridge.udp import DpdkUdp
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
    args = parser.parse_args(argv)
    orders = tuple(int(count) for count in args.orders.split(","))
    workdir = tempfile.mkdtemp(prefix="gb-parts-")
    found = {}
    for part in PARTS:
        found[part] = instructions_per_order(part, orders, args.burst, workdir)
        print(f"{part:8s} {found[part]:>9,.0f} instructions per order", flush=True)
    rows = [("DPDK rx + C split", found["rx"]),
            ("gateway decode", found["gateway"] - found["rx"]),
            ("engine", found["engine"]),
            ("replies: encode + DPDK tx", found["e2e"] - found["gateway"] - found["engine"]),
            ("log: record encoding", found["encode"]),
            ("log: journal, origins, queue, writer thread, held replies",
             found["logged"] - found["e2e"] - found["encode"])]
    print(f"\n{'part':58s} {'instructions/order':>18s}")
    for name, value in rows:
        print(f"{name:58s} {value:>18,.0f}")
    print(f"{'end to end, log off':58s} {found['e2e']:>18,.0f}")
    print(f"{'end to end, log on (batched)':58s} {found['logged']:>18,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
