"""Packet-path benchmarks: DPDK burst copies, DPDK ingress into the engine,
and orders end to end over the kernel-socket backend.

Each function returns a dict of measured figures; `gatebook bench-net`
prints them side by side. All traffic is a pcap file or loopback.
"""

import os
import subprocess
import sys
import tempfile
import time

from gatebook.wire import ouch
from gatebook.wire.positions import CODE, OUCH

from ..engine import MatchingEngine
from ..flow import generate_flow
from .inject import to_frames
from .gateway import Gateway, flow_datagrams
from .replier import Replier
from ..runtime import quiet_gc
from ..sequencer import Sequencer
from ..symbols import DEFAULT_SYMBOLS

__all__ = ["order_datagrams", "write_order_pcap", "bench_copy", "bench_ingress",
           "gateway_commands", "bench_engine",
           "bench_socket_end_to_end", "client_main", "instructions_per_order"]

# The client token an order message names (a replace: the new one, as its reply does),
# and where every order reply carries it, from the tables (gatebook.wire.positions).
_TOKEN_AT = {ouch.ENTER_ORDER.code: OUCH.ENTER_ORDER.order_token,
             ouch.CANCEL_ORDER.code: OUCH.CANCEL_ORDER.order_token,
             ouch.REPLACE_ORDER.code: OUCH.REPLACE_ORDER.replacement_order_token}
_REPLY_TOKEN = OUCH.ACCEPTED.order_token
assert all(at == _REPLY_TOKEN for at in (
    OUCH.EXECUTED.order_token, OUCH.CANCELED.order_token, OUCH.REJECTED.order_token,
    OUCH.REPLACED.replacement_order_token)), "order replies carry their token apart"
_EXECUTED = ouch.EXECUTED.code


def order_datagrams(orders, seed=1, batch=1):
    """(session, payload) datagrams carrying a standard flow of `orders` commands,
    up to `batch` messages per datagram."""
    return flow_datagrams(generate_flow(orders, seed=seed), DEFAULT_SYMBOLS, batch=batch)


def write_order_pcap(path, datagrams):
    from scapy.utils import PcapWriter
    writer = PcapWriter(path, linktype=1, sync=False)
    for frame in to_frames(datagrams):
        writer.write(frame)
    writer.close()
    return path


_port_names = iter(range(200, 10**6))


def bench_copy(pcap, burst, packets, frames_in_pcap):
    """Packets/s of `rx_burst` alone: net_pcap replays the file from memory
    (`infinite_rx`, which holds every frame in an mbuf, so keep the file small)
    and each burst is copied into one buffer."""
    from gatebook.dpdk_bridge.eal import Eal
    port = Eal.start().attach(f"net_pcap{next(_port_names)},rx_pcap={pcap},infinite_rx=1",
                              pool_size=frames_in_pcap + 4096)
    try:
        buf, got = port.burst(burst), 0
        rx = port.rx_burst
        start = time.perf_counter()
        while got < packets:
            got += rx(buf)
        seconds = time.perf_counter() - start
    finally:
        port.close()
    return {"packets": got, "seconds": seconds, "pps": got / seconds}


def bench_ingress(pcap, burst, expected, compiled=None):
    """Packets/s from a net_pcap replay through UDP parsing and the session
    framing (one C call per burst), the order-entry gateway and the
    golden-model engine, with replies packed, framed per burst and sent out
    of a net_null port (Ethernet, IPv4 and UDP headers built in C).
    `gateway_commands` gives the same commands, for `bench_engine`.
    `compiled` picks the gateway and replier (`Gateway`'s argument); the
    result's `path` says which ran."""
    from gatebook.dpdk_bridge.eal import Eal
    from gatebook.dpdk_bridge.udp import DpdkUdp
    udp = DpdkUdp(Eal.start().attach(f"net_pcap{next(_port_names)},rx_pcap={pcap}"),
                  "127.0.0.1", 15000, burst=burst)
    out = DpdkUdp(Eal.start().attach(f"net_null{next(_port_names)}"), "127.0.0.1", 15000,
                  burst=burst)
    gateway = Gateway(Sequencer(time.time_ns), DEFAULT_SYMBOLS, compiled=compiled)
    engine, replier = MatchingEngine(DEFAULT_SYMBOLS), Replier(gateway, DEFAULT_SYMBOLS)
    packets = replies = idle = 0
    apply, add, commands_of = engine.apply, replier.add, gateway.commands
    recv, send_replies = udp.recv_ouch, out.send_replies
    try:
        with quiet_gc():
            start, cpu = time.perf_counter(), time.process_time()
            while packets < expected and idle < 1000:
                data, frames = recv()
                if not frames:
                    idle += 1
                    continue
                idle = 0
                packets += len(frames)
                for command in commands_of(data, frames):
                    add(apply(command))
                replies += send_replies(replier)
            seconds = time.perf_counter() - start
            cpu = time.process_time() - cpu
    finally:
        udp.close()
        out.close()
    return {"packets": packets, "orders": gateway.messages, "replies": replies,
            "seconds": seconds, "cpu_seconds": cpu, "pps": packets / seconds,
            "bad": sum(gateway.bad.values()), "path": gateway.path}


def gateway_commands(datagrams):
    """The commands the gateway makes of `datagrams` ((session, payload) pairs)."""
    gateway = Gateway(Sequencer(time.time_ns), DEFAULT_SYMBOLS)
    return [command for _, payload in datagrams for command in gateway.datagram(payload)]


def bench_engine(commands, repeat=3):
    """Commands/s of the golden-model engine alone on `commands`, the best of
    `repeat` runs on a fresh engine each (as `gatebook bench`), by the wall
    clock and by this process's CPU time (which a loaded machine disturbs less)."""
    best = best_cpu = 0.0
    for _ in range(repeat):
        engine = MatchingEngine(DEFAULT_SYMBOLS)
        apply = engine.apply
        with quiet_gc():
            start, cpu = time.perf_counter(), time.process_time()
            for command in commands:
                apply(command)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        best = max(best, len(commands) / seconds)
        best_cpu = max(best_cpu, len(commands) / cpu)
    return {"commands": len(commands), "commands_per_s": best, "commands_per_cpu_s": best_cpu}


def bench_socket_end_to_end(datagrams, window=64, timeout=60):
    """Orders/s through a kernel UDP socket on loopback: a client process sends
    `window` orders at a time and waits for each one's reply; this process
    receives, matches and replies."""
    from gatebook.dpdk_bridge.udp import SocketUdp
    gateway = Gateway(Sequencer(time.time_ns), DEFAULT_SYMBOLS)
    engine, replier = MatchingEngine(DEFAULT_SYMBOLS), Replier(gateway, DEFAULT_SYMBOLS)
    with SocketUdp() as server, tempfile.NamedTemporaryFile(suffix=".bin") as flow:
        for _, payload in datagrams:
            flow.write(len(payload).to_bytes(2, "big") + payload)
        flow.flush()
        client = subprocess.Popen(
            [sys.executable, "-c", "from gatebook.host.ouch.bench import client_main; client_main()",
             str(server.address[1]), flow.name, str(window)],
            stdout=subprocess.PIPE, text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
        deadline = time.monotonic() + timeout
        start = None
        while gateway.messages < len(datagrams) and time.monotonic() < deadline:
            got = server.recv(64)
            if got and start is None:
                start = time.perf_counter()
            for payload, peer in got:
                frame = gateway.frame(payload, peer)
                if frame is not None:
                    for command in gateway.commands(payload, (frame,)):
                        replier.add(engine.apply(command))
            if got:
                server.send(replier.flush())
        seconds = time.perf_counter() - (start or time.perf_counter())
        out, _ = client.communicate(timeout=30)
    answered = int(out.split()[0]) if out.strip() else 0
    return {"orders": gateway.messages, "answered": answered, "seconds": seconds,
            "orders_per_s": gateway.messages / seconds if seconds else 0.0}


def client_main():
    """The client process of `bench_socket_end_to_end` (argv: port, flow file, window)."""
    import socket
    from collections import Counter

    from .framing import OUTBOUND_CODEC, decode_datagram
    port, path, window = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    with open(path, "rb") as flow:
        data = flow.read()
    payloads, at = [], 0
    while at < len(data):
        size = int.from_bytes(data[at:at + 2], "big")
        payloads.append(data[at + 2:at + 2 + size])
        at += 2 + size
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.settimeout(2)
    answered = 0
    for start in range(0, len(payloads), window):
        waiting = Counter()     # (session, token) -> replies still due
        for payload in payloads[start:start + window]:
            session, _, records = decode_datagram(payload)
            first = records[0]
            waiting[session, first[_TOKEN_AT[first[CODE]]]] += 1
            sock.sendto(payload, ("127.0.0.1", port))
        while +waiting:
            try:
                reply = sock.recv(65535)
            except socket.timeout:
                break
            session, _, records = decode_datagram(reply, OUTBOUND_CODEC)
            for record in records:
                key = (session, record[_REPLY_TOKEN])
                if waiting[key] > 0 and record[CODE] != _EXECUTED:
                    waiting[key] -= 1
                    answered += 1
    print(answered)


def instructions_per_order(path, orders=(10_000, 30_000), batch=1, seed=1, workdir=None):
    """Instructions per order under callgrind, for `path` = "engine" (the golden
    model alone on the gateway's commands) or a burst size (the DPDK row of
    `bench_ingress`). Far steadier than time on a busy machine.

    Each measurement runs the loop once and twice in fresh processes under
    `valgrind --tool=callgrind`; the difference is one loop. That is done for
    two flow sizes, and the difference between those, per order, leaves out
    everything a loop pays once (ports, pools, the collector's start)."""
    import pickle
    import re
    workdir = workdir or tempfile.mkdtemp(prefix="gb-callgrind-")
    loops = {}
    for count in orders:
        stem = os.path.join(workdir, f"flow{count}_{batch}_{seed}")
        if not os.path.exists(stem + ".pkl"):
            datagrams = order_datagrams(count, seed, batch)
            write_order_pcap(stem + ".pcap", datagrams)
            with open(stem + ".pkl", "wb") as out:
                pickle.dump((len(datagrams), gateway_commands(datagrams)), out)
        refs = []
        for repeat in (1, 2):
            done = subprocess.run(
                ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                 sys.executable, "-c", "import sys; from gatebook.host.ouch.bench import _loops; _loops()",
                 stem, str(path), str(repeat)],
                capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(
                    os.path.dirname(os.path.abspath(__file__)))))
            found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
            if done.returncode != 0 or found is None:
                raise RuntimeError(f"callgrind run failed:\n{done.stderr[-2000:]}")
            refs.append(int(found.group(1).replace(",", "")))
        loops[count] = refs[1] - refs[0]
    small, large = orders
    return (loops[large] - loops[small]) / (large - small)


def _loops():
    """The child of `instructions_per_order` (argv: flow stem, path, repeats)."""
    import pickle
    stem, path, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(stem + ".pkl", "rb") as flow:
        packets, commands = pickle.load(flow)
    for _ in range(repeats):
        if path == "engine":
            bench_engine(commands, repeat=1)
        else:
            result = bench_ingress(stem + ".pcap", int(path), packets)
            if result["orders"] != len(commands):
                raise SystemExit(f"decoded {result['orders']} of {len(commands)} orders")


if __name__ == "__main__":
    # python -m gatebook.host.ouch.bench engine 256 32 [--batch 4]: instructions per order
    import argparse
    parser = argparse.ArgumentParser(description=instructions_per_order.__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", help="engine, or a DPDK burst size")
    parser.add_argument("--batch", type=int, default=1)
    for what in parser.parse_args().paths:
        print(f"{what:>6s}  batch {parser.parse_args().batch}: "
              f"{instructions_per_order(what, batch=parser.parse_args().batch):,.0f} "
              f"instructions per order", flush=True)
