"""`gatebook bench-md`: the WebSocket market-data fanout's delay to N clients, and its cost."""

import os
import signal
import socket
import subprocess
import sys

from ..flow import generate_flow
from .common import Progress

__all__ = ["register"]

# The bench's own multicast group: the feed goes there, edges join it.
BENCH_GROUP = "239.192.26.99"


def register(subparsers):
    parser = subparsers.add_parser(
        "bench-md", help="WebSocket market data: delay to N clients, and the engine's rate "
                         "with the fanout attached",
        description="One seeded flow through the engine, the ITCH feed and the MoldUDP64 "
                    "publisher, sent to a multicast group: flat out without a fanout; then "
                    "with `md-edge --mold` processes serving N WebSocket clients (in separate "
                    "processes, some reading slowly), paced, with the delay from each engine "
                    "event to a client's receipt, then flat out again.")
    parser.add_argument("--orders", type=int, default=50_000, metavar="N",
                        help="commands in the flow (default 50,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--clients", type=int, default=1000, metavar="N",
                        help="WebSocket clients, each watching one symbol's L2, the symbols "
                             "in turn (default 1,000)")
    parser.add_argument("--slow", type=int, default=100, metavar="N",
                        help="of them, clients that read slowly (default 100)")
    parser.add_argument("--rate", type=int, default=2000, metavar="N",
                        help="commands/s of the paced run (default 2,000)")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="length of the paced run (default 10)")
    parser.add_argument("--edges", type=int, default=2, metavar="K",
                        help="md-edge --mold processes sharing the clients (default 2); 0: none")
    parser.add_argument("--client", choices=("c", "raw", "websockets"), default="c",
                        help="the measuring clients: raw sockets in C, compiled with cc at first "
                             "use (default; raw when there is no compiler), the same in Python, "
                             "or the websockets library's")
    parser.add_argument("--in-process", action="store_true",
                        help="also serve the clients from a WebSocket server in the exchange's "
                             "own process (gatebook run --md-websocket), to see what it costs")
    parser.add_argument("--pin", action="store_true",
                        help="run the exchange on the first CPU and the edges and clients on "
                             "the others (os.sched_setaffinity), as a deployment keeps the "
                             "fanout off the engine's core; then once more without the fanout "
                             "but with a busy loop on each of the others")
    parser.add_argument("--nats", metavar="URL",
                        help="also run flat out with the NATS fanout (gatebook run --md-nats) "
                             "publishing to this server, JetStream on")
    parser.set_defaults(run=run_bench_md)


class Edge:
    """A `gatebook md-edge --mold` process: its WebSocket address, and what it said at the end."""

    def __init__(self, feed, snapshot, seconds, cpus=None):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gatebook.cli", "md-edge", "--mold", "%s:%d" % feed,
             "--snapshot", "%s:%d" % snapshot[:2], "--listen", "127.0.0.1:0",
             "--seconds", str(seconds), "--max-clients", "100000"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=pinned(cpus))
        line = self.process.stdout.readline()
        if not line.startswith("md-edge: WebSocket feed on ws://"):
            self.process.kill()
            raise RuntimeError(f"md-edge did not start: {line}{self.process.stderr.read()}")
        host, port = line.split("ws://")[1].split("/")[0].rsplit(":", 1)
        self.address = (host, int(port))
        self.summary = ""

    def stop(self):
        """SIGTERM, then its closing summary (served, cut, snapshots taken)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.summary, _ = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.summary, _ = self.process.communicate()
        return self.summary

    def counts(self, what):
        """{kind: count} of one summary line ("served", "clients cut", ...)."""
        for line in self.summary.splitlines():
            if line.startswith(f"md-edge: {what}: "):
                rest = line.split(": ", 2)[2]
                if rest == "none":
                    return {}
                return {kind: int(count) for kind, count in
                        (item.rsplit(" ", 1) for item in rest.split(", "))}
        return {}


def pinned(cpus):
    """For `Popen(preexec_fn=...)`: the child runs on `cpus` only (None: anywhere)."""
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def start_edges(count, feed, snapshot, seconds, cpus=None):
    """`count` md-edge processes on the feed at `feed`, starting from `snapshot`."""
    edges = []
    try:
        for _ in range(count):
            edges.append(Edge(feed, snapshot, seconds, cpus))
    except BaseException:
        for edge in edges:
            edge.stop()
        raise
    return edges


def _free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _rate_line(label, rate, itch, cpu, process, alone=None):
    line = (f"engine + ITCH publisher, {label + ':':<34}{rate:>10,.0f} commands/s  "
            f"{itch:>10,.0f} ITCH messages/s  {cpu:>6.1f} µs CPU/command, {process:>6.1f} "
            f"with its process's other threads")
    if alone is not None:
        line += (f"  ({rate / alone[0]:.0%} of the rate, {cpu / alone[2]:.0%} and "
                 f"{process / alone[3]:.0%} of the CPU without)")
    return line


def _attached(label, rig, servers, args, commands, paced, alone, feed=None):
    """Clients on `servers` (and, with `feed`, a process timing the feed itself); the
    paced run, then flat out. The clients' report, and the feed process's or None."""
    from ..marketdata.ws_bench import run_flat_out, run_paced
    from ..marketdata.ws_load import start_clients, stop_clients, wait_connected
    budget = 120 + args.seconds + len(commands) / max(alone[0], 1) * 4
    processes = start_clients(args.client, servers, args.clients, args.slow, budget,
                              cpus=args.fanout_cpus)
    floor = start_clients("feed", [feed], 1, 0, budget, cpus=args.fanout_cpus) \
        if feed is not None else []
    try:
        connected = wait_connected(processes)
        wait_connected(floor)
        # Paced first, so the delays are not those of a backlog left by the flat-out run.
        done = run_paced(rig, paced, args.rate, args.seconds, Progress("paced"))
        print(f"\rpaced at {args.rate:,} commands/s ({done:,} commands, {connected:,} clients "
              f"connected to {label})", flush=True)
        rates = run_flat_out(rig, commands, Progress(f"engine with {label}"))
        print("\r" + _rate_line(label, *rates, alone), flush=True)
        # Only the paced run's messages are stamped: the floor's delays are the paced run's.
    finally:
        report = stop_clients(processes)
        floor = stop_clients(floor) if floor else None
    return report, floor


def _print_delays(what, values):
    from ..marketdata.ws_bench import percentiles
    delays = percentiles(values)
    if delays:
        print(f"delay engine event -> {what}: "
              + ", ".join(f"p{point:g} {value / 1000:,.2f} ms" if point != "max" else
                          f"max {value / 1000:,.2f} ms" for point, value in delays.items()))


def _print_clients(report, served, floor=None):
    print(f"clients: {report['connected']:,} connected, {report['failed']:,} failed or cut; "
          f"fast clients read {report['messages']:,} messages, slow ones "
          f"{report['slow_messages']:,}; {served}")
    _print_delays("client receipt (paced run, fast clients, sampled)", report["delays_us"])
    if floor is not None:
        _print_delays("a process reading the feed itself, no WebSocket (the floor on these "
                      "cores)", floor["delays_us"])


def _per(seconds, count):
    return f"{seconds / count * 1e6:,.1f}" if count else "-"


def _counts(counter):
    return ", ".join(f"{kind} {count:,}" for kind, count in sorted(counter.items())) or "none"


def run_bench_md(args):
    from ..marketdata.ws_bench import Rig, run_flat_out, stamped
    # Flat out, events carry timestamp 0, which clients do not time: only the paced
    # run's commands are stamped with the wall clock, as they are applied.
    if args.client == "c":
        from ..marketdata.ws_load_c import build
        try:
            build()
        except RuntimeError as error:
            print(f"bench-md: {error}; the clients are Python's (--client raw)", file=sys.stderr)
            args.client = "raw"
    commands = [stamped(command, 0) for command in generate_flow(args.orders, seed=args.seed)]
    paced = list(generate_flow(int(args.rate * args.seconds), seed=args.seed + 1))
    print(f"bench-md: {len(commands):,} commands (seed {args.seed}); {args.clients:,} WebSocket "
          f"clients ({args.slow:,} slow, {args.client}), each watching one symbol's L2 "
          f"(10 levels a side)")
    feed = (BENCH_GROUP, _free_udp_port())
    args.fanout_cpus = None
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            print("bench-md: --pin needs two CPUs at least", file=sys.stderr)
            return 2
        os.sched_setaffinity(0, cpus[:1])
        args.fanout_cpus = set(cpus[1:])
        print(f"bench-md: the exchange on CPU {cpus[0]}, edges and clients on CPU "
              f"{', '.join(map(str, cpus[1:]))}")

    def without_fanout():
        rig = Rig(feed=feed)
        try:
            # The paced commands first, as the runs with a fanout have them: the same books.
            run_flat_out(rig, [stamped(command, 0) for command in paced])
            return run_flat_out(rig, commands, Progress("engine alone"))
        finally:
            rig.close()

    alone = without_fanout()
    print("\r" + _rate_line("no fanout", *alone), flush=True)

    if args.nats:
        rig = Rig("nats", args.nats)
        try:
            run_flat_out(rig, [stamped(command, 0) for command in paced])
            rates = run_flat_out(rig, commands, Progress("engine with NATS"))
        finally:
            rig.close()
        print("\r" + _rate_line("NATS fanout", *rates, alone)
              + f"; {rig.nats.published:,} states, {rig.nats.executions:,} executions published",
              flush=True)

    if args.edges:
        rig = Rig(feed=feed)
        edges = []
        try:
            budget = 300 + args.seconds + len(commands) / max(alone[0], 1) * 4
            edges = start_edges(args.edges, feed, rig.snapshot_address, budget,
                                args.fanout_cpus)
            label = f"{args.edges} md-edge processes"
            report, floor = _attached(label, rig, [edge.address for edge in edges], args,
                                      commands, paced, alone, feed)
        finally:
            rig.close()
            for edge in edges:
                edge.stop()
        served, cut, snapshots, cpu = {}, {}, 0, 0.0
        for edge in edges:
            cpu += float(edge.summary.split("md-edge: CPU ")[1].split()[0]) \
                if "md-edge: CPU " in edge.summary else 0.0
            for kind, count in edge.counts("served").items():
                served[kind] = served.get(kind, 0) + count
            for kind, count in edge.counts("clients cut").items():
                cut[kind] = cut.get(kind, 0) + count
            snapshots += int(edge.summary.split(" snapshots taken")[0].rsplit(" ", 1)[1]) \
                if " snapshots taken" in edge.summary else 0
        _print_clients(report, f"edges sent {served.get('messages', 0):,} messages, cut: "
                               f"{_counts(cut)}; snapshots taken {snapshots} "
                               f"({args.edges} at the start, the rest after lost datagrams)",
                       floor)
        # The limit on shared cores: what one message costs each side, in CPU time.
        sent, read = served.get("messages", 0), report["messages"] + report["slow_messages"]
        print(f"CPU per WebSocket message: edges {_per(cpu, sent)} µs sent ({cpu:,.1f} s, "
              f"rebuilding the books from the feed included); clients "
              f"{_per(report['cpu_seconds'], read)} µs read ({report['cpu_seconds']:,.1f} s, "
              f"{args.client})")

    # Once more without: how far two runs of the same thing differ on this machine now.
    print("\r" + _rate_line("no fanout, again", *without_fanout(), alone), flush=True)
    if args.fanout_cpus:
        # And with the fanout's CPUs busy doing nothing of ours: what sharing the machine
        # (caches, the hypervisor, other jobs moved over) does to the engine by itself.
        burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"],
                                    preexec_fn=pinned({cpu})) for cpu in args.fanout_cpus]
        try:
            busy = without_fanout()
        finally:
            for burner in burners:
                burner.kill()
                burner.wait()
        print("\r" + _rate_line("no fanout, other CPUs busy", *busy, alone), flush=True)

    if args.in_process:
        rig = Rig("websocket")
        try:
            report, _ = _attached("WebSocket server in process", rig, [rig.server.address],
                                  args, commands, paced, alone)
        finally:
            rig.close()
        _print_clients(report, f"server sent {rig.server.served['messages']:,} messages, cut: "
                               f"{_counts(rig.server.cut)}; resyncs {rig.server.source.resyncs}")
    return 0
