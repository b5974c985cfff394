"""End to end over OUCH/UDP: one `gatebook run --shard NAME` per shard, one sender per shard.

For each shard count, a throwaway config (the first K default symbols, round
robin over the shards, market data to a multicast group nobody joins, no log
unless asked) and a throwaway account with a cheap password hash are written;
each shard is started as `gatebook run --config FILE --shard NAME`, and a sender
process per shard (`python -m gatebook.host.cli.shards_e2e`) logs in to it, waits
for go, and sends its part of the flow in datagrams of `batch` messages,
keeping at most `window` replies outstanding (each shard's expected replies are
counted on the golden engine first: one per accepted, rejected, canceled or
replaced order, two per execution). A shard's time runs from its first
datagram to its last reply; a run's from the first start to the last end.
"""

import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import time

from argon2 import PasswordHasher

from gatebook.wire import internal

from ..engine import MatchingEngine
from ..net.accounts import Accounts
from ..ouch.framing import INBOUND_CODEC, decode_datagram
from ..ouch.gateway import flow_datagrams
from ..ouch.inject import log_in, logout_datagram
from ..shards.bench import ShardResult, RunResult, split_flow

__all__ = ["run_end_to_end", "expected_replies"]

# Replies the exchange sends its sender per event (host/ouch/replier.py): both sides
# of a fill are the one bench user's.
_REPLIES = {internal.ACCEPTED.code: 1, internal.REJECTED.code: 1, internal.CANCELLED.code: 1,
            internal.REPLACED.code: 1, internal.EXECUTED.code: 2}
_USER, _PASSWORD = "bench", "bench-password"
_CARRIED = {internal.NEW_ORDER.code, internal.CANCEL.code, internal.REPLACE.code}


def expected_replies(commands, specs):
    """Replies each command draws when one user sends them all."""
    engine = MatchingEngine(specs)
    return [sum(_REPLIES.get(event[0], 0) for event in engine.apply(command))
            for command in commands]


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _write_config(directory, groups, specs, log):
    accounts = Accounts(hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    accounts.add(_USER, 1, "trader", _PASSWORD)
    accounts.save(os.path.join(directory, "accounts.json"))
    names = {spec.symbol_id: spec.name for spec in specs}
    lines = ['[sessions]', 'accounts = "accounts.json"', 'max_live_orders = 10000000',
             'max_message_rate = 100000000']
    if log:
        lines += ['[log]', f'durability = "{log}"']
    for spec in specs:
        lines += ['[[symbols]]', f'id = {spec.symbol_id}', f'name = "{spec.name}"',
                  f'tick = {spec.tick_size}', f'lot = {spec.lot_size}',
                  f'price_min = {spec.price_min}', f'price_max = {spec.price_max}']
    listens = []
    for index, group in enumerate(groups):
        listens.append(("127.0.0.1", _free_port()))
        lines += ['[[shards]]', f'name = "S{index}"',
                  'symbols = [' + ", ".join(f'"{names[s]}"' for s in group) + ']',
                  f'listen = "127.0.0.1:{listens[-1][1]}"',
                  f'md = "239.192.26.9:{27000 + index}"']
        if log:
            lines.append(f'log = "log-s{index}"')
    path = os.path.join(directory, "exchange.toml")
    with open(path, "w") as file:
        file.write("\n".join(lines) + "\n")
    return path, listens


def _start_shard(config, name):
    child = subprocess.Popen([sys.executable, "-m", "gatebook.cli", "run", "--config", config,
                              "--shard", name], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)     # as Supervisor does: its own CPU share
    seen = []
    for line in child.stdout:
        seen.append(line)
        if line.startswith("run: backend "):
            return child
    raise RuntimeError(f"shard {name} did not start:\n{''.join(seen)}")


def _cpu_seconds(pid):
    """User and system CPU seconds process `pid` has used (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as file:
        fields = file.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _schedstat(pid):
    """(seconds on a CPU, seconds runnable but waiting for one) of `pid`'s main thread:
    the second is what other processes on the machine took from it."""
    with open(f"/proc/{pid}/schedstat") as file:
        running, waiting = file.read().split()[:2]
    return int(running) / 1e9, int(waiting) / 1e9


def run_end_to_end(flow, specs, groups, workdir=None, batch=32, window=8192, log=None):
    """One run over `groups` (each shard's symbol ids): a RunResult (CPU seconds: the shard
    processes' own), each sender's report and each shard's summary line.

    A sender's report (a dict) holds its `replies` (each numbered once) of `expected`,
    `gap_messages`, `duplicate_messages`, datagrams `refused` by kind, its own
    `cpu_seconds` and `waited_seconds` (runnable, waiting for a CPU), and the shard's
    `shard_cpu_seconds` and `shard_waited_seconds` over the same run."""
    workdir = workdir or tempfile.mkdtemp(prefix="gb-shards-e2e-")
    config, listens = _write_config(workdir, groups, specs, log)
    shards, senders = [], []
    try:
        shards = [_start_shard(config, f"S{index}") for index in range(len(groups))]
        for index, part in enumerate(split_flow(flow, groups)):
            # what OUCH carries: mass cancels and admin commands have no message here
            part = [command for command in part if command[0] in _CARRIED]
            # one datagram per command keeps the flow's order across its users
            payloads = [payload for _, payload in flow_datagrams(part, specs, batch=1)]
            records = [record for payload in payloads
                       for record in decode_datagram(payload, INBOUND_CODEC)[2]]
            replies = expected_replies(part, specs)
            path = os.path.join(workdir, f"sender{index}.pkl")
            with open(path, "wb") as out:
                pickle.dump((listens[index], records, replies, batch, window), out)
            senders.append(subprocess.Popen(
                [sys.executable, "-m", "gatebook.host.cli.shards_e2e", path],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                start_new_session=True))
        for sender in senders:
            line = sender.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"a sender did not log in: {line!r}")
        before = [_cpu_seconds(shard.pid) for shard in shards]
        sched = [_schedstat(shard.pid) for shard in shards]
        for sender in senders:
            sender.stdin.write("go\n")
            sender.stdin.flush()
        results = []
        for sender in senders:
            out, _ = sender.communicate(timeout=600)
            results.append(json.loads(out))
        for result, shard, cpu, (_, waited) in zip(results, shards, before, sched):
            result["shard_cpu_seconds"] = _cpu_seconds(shard.pid) - cpu
            result["shard_waited_seconds"] = _schedstat(shard.pid)[1] - waited
    finally:
        for sender in senders:
            if sender.poll() is None:
                sender.kill()
                sender.wait()
        summaries = []
        for shard in shards:
            shard.send_signal(signal.SIGTERM)
            out, _ = shard.communicate(timeout=60)
            summaries.append(next((line for line in out.splitlines()
                                   if " datagrams, " in line), out[-300:]))
    run = RunResult([ShardResult(result["commands"], result["replies"], result["start_ns"],
                                 result["end_ns"], result["shard_cpu_seconds"], "")
                     for result in results])
    return run, results, summaries


def _sender(path):
    """A sender process: log in, say ready, wait for go, send under a window, report JSON.

    Replies are counted from their headers (`ReplyTally`), not decoded: the
    sender is the load generator, and its CPU is taken from the shards'."""
    from gatebook.dpdk_bridge.udp import SocketUdp
    from ..ouch.framing import encode_datagram
    from .shards_replies import ReplyTally
    with open(path, "rb") as file:
        server, records, replies, batch, window = pickle.load(file)
    server = tuple(server)
    with SocketUdp("127.0.0.1") as sock:
        _, session, user_id, number, next_reply = log_in(sock, server, _USER, _PASSWORD)
        tally = ReplyTally(user_id, next_reply)
        datagrams, owed = [], []
        for start in range(0, len(records), batch):
            chunk = records[start:start + batch]
            datagrams.append(encode_datagram(session, number, chunk))
            owed.append(sum(replies[start:start + batch]))
            number += len(chunk)
        print("ready", flush=True)
        sys.stdin.readline()
        raw = sock.sock
        raw.connect(server)             # the kernel drops datagrams from any other peer
        raw.setblocking(True)
        raw.settimeout(2.0)
        send, recv, add = raw.send, raw.recv, tally.add
        expected = sum(owed)
        sched, cpu, start = _schedstat("self"), time.process_time(), time.monotonic_ns()
        sent_owed = received = 0
        last = start
        try:
            for payload, count in zip(datagrams, owed):
                send(payload)
                sent_owed += count
                while sent_owed - received > window:
                    received += add(recv(65535))
                    last = time.monotonic_ns()
            while received < expected:
                received += add(recv(65535))
                last = time.monotonic_ns()
        except socket.timeout:
            pass                        # the exchange went quiet: the shortfall is reported
        cpu = time.process_time() - cpu
        waited = _schedstat("self")[1] - sched[1]
        sock.send([(logout_datagram(session), server)])
    print(json.dumps({"commands": len(records), "replies": tally.messages, "expected": expected,
                      "gap_messages": tally.gap_messages,
                      "duplicate_messages": tally.duplicate_messages,
                      "refused": dict(tally.refused), "start_ns": start, "end_ns": last,
                      "cpu_seconds": cpu, "waited_seconds": waited}))


if __name__ == "__main__":
    _sender(sys.argv[1])
