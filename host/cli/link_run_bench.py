"""`python -m gatebook.host.cli.link_run_bench`: commands/s of `gatebook run --link`, one at a time and pipelined.

One seeded hot-symbol flow (`gatebook.sim.hybrid.hot_flow`: quotes, requotes and
takers on the lane's home symbol), as its users' OUCH datagrams, goes to a real
`gatebook run` on loopback three times in one run: on the golden engine without a
link (for scale), then with its lane at the far end of a veth pair (`python -m
gatebook.sim.cosim --sim harness` in a network namespace) with `--link-pipeline off`
(a round trip per command, what `gatebook run --link` did before) and `on` (a
burst's commands in flight together). The client logs every user in, sends every
datagram at once (the exchange's socket buffer holds them) and takes the time from
the first send to the last reply; a row with lost datagrams (gaps) is flagged. The
share of the commands the lane matched itself and the link's round trips come from
the run's summary. Needs root for the namespace. Wall-clock figures: on a shared
machine compare rows of one run.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

from gatebook.dpdk_bridge.udp import SocketUdp
from gatebook.host.net.accounts import Accounts
from gatebook.host.ouch.inject import flow_datagrams, log_in, under_session
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.sim.cosim.netns import FarEnd, link_namespace, why_no_namespaces
from gatebook.sim.hybrid.hot_flow import HOT_MIX, hot_flow

__all__ = ["main"]

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _accounts(path, users):
    from argon2 import PasswordHasher
    # The cheapest Argon2id: the bench measures orders, not logins.
    accounts = Accounts(hasher=PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))
    for user in users:
        accounts.add(f"user{user}", user, "trader", f"pw{user}")
    accounts.save(path)


def _summary_number(out, before, after):
    """The number between `before` and `after` in `out` (commas allowed), or None."""
    if before not in out:
        return None
    return int(out.split(before, 1)[1].split(after, 1)[0].strip().replace(",", ""))


def _row(datagrams, accounts_file, extra):
    """(orders/s, lane share, round trips, gap messages) of one `gatebook run`."""
    messages = sum(int.from_bytes(payload[12:14], "big") for _, payload in datagrams)
    with SocketUdp() as probe:
        port = probe.address[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "gatebook.cli", "run", "--listen", f"127.0.0.1:{port}",
         "--md", "none", "--max-orders", str(messages), "--seconds", "600",
         "--accounts", accounts_file, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=_ROOT)
    try:
        for line in server.stdout:
            if line.startswith("run: gateway and replier"):
                break
        with SocketUdp() as sock:
            address = ("127.0.0.1", port)
            sessions = {user: log_in(sock, address, f"user{user}", f"pw{user}")[1]
                        for user in sorted({user for user, _ in datagrams})}
            numbered, first = [], {}
            for user, payload in datagrams:
                numbered += under_session([(user, payload)], sessions[user], first.get(user, 1))
                first[user] = first.get(user, 1) + int.from_bytes(payload[12:14], "big")
            start = time.perf_counter()
            sock.send([(payload, address) for _, payload in numbered])
            last = start
            while server.poll() is None:
                if sock.recv(256):
                    last = time.perf_counter()
                else:
                    time.sleep(0.0005)
            while sock.recv(256):
                last = time.perf_counter()
        out, err = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.terminate()
            server.communicate(timeout=10)
    if server.returncode != 0:
        raise RuntimeError(f"gatebook run {' '.join(extra)} failed:\n{err[-3000:]}")
    matched = _summary_number(out, "pipeline matched ", " commands")
    trips = _summary_number(out, "records), ", " round trips")
    gaps = _summary_number(out, "gap messages ", "\n")
    return (messages / (last - start), None if matched is None else matched / messages, trips,
            gaps)


def _window_rows(commands, depth, burst, windows):
    """(window, lane share, waits) of the hybrid host in process (the Verilator harness),
    `burst` commands submitted then drained, at most `window` in flight."""
    from gatebook.host.hybrid import HybridExchange
    from gatebook.sim.flows import SYMBOL
    from gatebook.sim.hybrid.verilator_link import VerilatorLink

    class CountingLink(VerilatorLink):
        waits = 0

        def run(self):
            self.waits += 1
            return super().run()

    rows = []
    for window in windows:
        link = CountingLink(depth)
        hybrid = HybridExchange(DEFAULT_SYMBOLS, [link], [SYMBOL], window=window)
        try:
            for at in range(0, len(commands), burst):
                for command in commands[at:at + burst]:
                    hybrid.submit(command)
                hybrid.drain()
        finally:
            hybrid.close()
        rows.append((window, hybrid.lane_commands / len(commands), link.waits))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gatebook.host.cli.link_run_bench",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--commands", type=int, default=5000,
                        help="the flow's length (the exchange's socket buffer must hold it)")
    parser.add_argument("--depth", type=int, default=16, help="orders per side in the window")
    parser.add_argument("--sim", default="harness", help="the far end's lane (--sim of cosim)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--burst", type=int, default=32,
                        help="datagrams per poll (gatebook run --burst): at most a burst's "
                             "commands are in flight together")
    parser.add_argument("--windows", metavar="N,N,...",
                        help="instead: the lane's share and the waits for it in process, "
                             "for each limit on commands in flight (HybridExchange's window)")
    args = parser.parse_args(argv)
    commands = hot_flow(args.seed, args.commands)
    if args.windows:
        print(f"{len(commands):,} commands (seed {args.seed}), the hybrid host in process "
              f"(Verilator harness, depth {args.depth}), {args.burst} submitted then drained")
        print(f"{'in flight at most':>17} {'in lane':>7} {'waits':>6}")
        for window, share, waits in _window_rows(commands, args.depth, args.burst,
                                                 [int(w) for w in args.windows.split(",")]):
            print(f"{window:17} {share:7.0%} {waits:6,}")
        return 0
    why = why_no_namespaces()
    if why:
        print(f"link_run_bench: {why}", file=sys.stderr)
        return 2
    datagrams = flow_datagrams(commands, DEFAULT_SYMBOLS)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, \
            link_namespace(f"r{os.getpid() % 10000}") as (ns, pairs):
        accounts_file = os.path.join(tmp, "accounts.json")
        _accounts(accounts_file, {user for user, _ in datagrams})
        burst = ("--burst", str(args.burst))
        rows.append(("golden engine, no link", "-") + _row(datagrams, accounts_file, burst))
        print("link_run_bench: golden done", file=sys.stderr, flush=True)
        far = FarEnd(ns, pairs[1][1], args.sim, depth=args.depth)
        try:
            for mode in ("off", "on"):
                link = ["--link-iface", pairs[1][0], "--link-peer", far.mac,
                        "--link-depth", str(args.depth), "--link-pipeline", mode, *burst]
                rows.append((f"{args.sim} over veth", mode) + _row(datagrams, accounts_file,
                                                                    link))
                print(f"link_run_bench: --link-pipeline {mode} done", file=sys.stderr, flush=True)
        finally:
            far.stop()
    print(f"{len(commands):,} commands (seed {args.seed}) on the lane's home symbol, a hot "
          f"symbol: {HOT_MIX.describe()}; depth {args.depth}; one datagram per command, "
          f"--burst {args.burst}")
    print(f"{'gatebook run':26} {'pipeline':8} {'commands/s':>10} {'in lane':>7} "
          f"{'round trips':>11}  gaps")
    for name, mode, rate, share, trips, gaps in rows:
        print(f"{name:26} {mode:8} {rate:10,.0f} "
              f"{'-' if share is None else f'{share:.0%}':>7} "
              f"{'-' if trips is None else f'{trips:,}':>11}  {gaps}")
    return 0 if all(row[-1] == 0 for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
