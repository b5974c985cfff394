"""What the WebSocket fanout costs and how late it is: the measurements of `gatebook bench-md`.

The exchange's side runs here, as `gatebook run` has it: the engine, the
ITCH feed and the MoldUDP64 publisher on the caller's thread (`Rig`). The
fanout is attached the way a deployment runs it: `gatebook md-edge --mold`
processes (started by `gatebook bench-md`, host/cli/bench_md.py) that take
the feed from a multicast group and a snapshot from the rig's snapshot
service, and serve the WebSocket clients; or, for comparison, the WebSocket server in the exchange's own process
(`Rig("websocket")`), or the NATS publisher (`Rig("nats")`).

- flat out: commands/s and ITCH messages/s, and the CPU time the exchange's
  thread spends per command (what the fanout costs the engine itself, apart
  from cores it shares with edges and clients);
- paced at a fixed command rate, every command stamped with the wall clock
  as it is applied: the delay from that stamp (the engine event's ITCH
  timestamp, which each `l2` message carries) to the moment a client
  process reads the message (clients: ws_load.py).
"""

import time

from gatebook.dpdk_bridge.udp import SocketUdp
from gatebook.wire import internal
from gatebook.wire.positions import CODE, INTERNAL

from ..engine import MatchingEngine
from ..symbols import DEFAULT_SYMBOLS
from .feed_tap import FeedTap, LocalSource
from .itch_feed import ItchFeed
from .publisher import MoldPublisher
from .service import RecoveryService
from .websocket import MarketDataServer

__all__ = ["Rig", "run_flat_out", "run_paced", "percentiles", "stamped",
           "BURST"]

BURST = 32                    # commands per publish, as the exchange loop's bursts
_TS = {message.code: getattr(INTERNAL, message.name.upper()).ts
       for message in internal.COMMANDS.messages}


class _NullPort:
    def send(self, datagrams):
        return len(datagrams)


class _FeedPort:
    """The feed's packets to one destination (a multicast group) from a UDP socket."""

    def __init__(self, destination):
        self.socket, self.destination = SocketUdp("127.0.0.1", 0), destination

    def send(self, datagrams):
        return self.socket.send([(packet, self.destination) for packet, _ in datagrams])

    def close(self):
        self.socket.close()


class Rig:
    """Engine, ITCH feed and publisher, and what is attached to them.

    Parameters
    ----------
    fanout : None, "websocket" or "nats"
        "websocket" adds a FeedTap and a WebSocket server in this process,
        "nats" a FeedTap and a `NatsFanout` to the NATS server at `nats`.
    feed : (group, port) or None
        Send the feed's packets there (for `md-edge --mold` edges) and serve
        snapshots (`snapshot_address`); None sends them nowhere.
    """

    def __init__(self, fanout=None, nats=None, feed=None, **server_options):
        self.engine = MatchingEngine(DEFAULT_SYMBOLS)
        self.records = []
        self.feed = ItchFeed(DEFAULT_SYMBOLS, self.records.extend)
        self.engine.subscribe(self.feed)
        self.port = _FeedPort(feed) if feed is not None else _NullPort()
        self.tap = FeedTap(self.port) if fanout else None
        sink = self.tap or self.port
        self.publisher = MoldPublisher(
            "GATEBOOK01", lambda packets: sink.send([(packet, None) for packet in packets]))
        self.publisher.publish(self.feed.start_of_day(time.time_ns()))
        self.server = self.nats = self.service = None
        self.snapshot_address = None
        if feed is not None:
            self.service = RecoveryService(self.publisher, snapshot=("127.0.0.1", 0))
            self.snapshot_address = self.service.snapshots.address
        if fanout == "websocket":
            self.server = MarketDataServer(LocalSource(self.tap, self.publisher),
                                           **server_options)
        elif fanout == "nats":
            from .nats import NatsFanout
            self.nats = NatsFanout(LocalSource(self.tap, self.publisher), nats)

    def apply(self, commands):
        apply, records = self.engine.apply, self.records
        for command in commands:
            apply(command)
        if records:
            self.publisher.publish(records)
            records.clear()

    def close(self):
        for part in (self.server, self.nats, self.service, self.port):
            if part is not None and hasattr(part, "close"):
                part.close()


def run_flat_out(rig, commands, progress=None):
    """Apply `commands` in bursts as fast as they go.

    Returns (commands/s, ITCH messages/s, CPU µs per command of this thread,
    CPU µs per command of the whole process): the exchange thread's own work,
    and with it whatever other threads of its process do meanwhile (an
    in-process WebSocket server's), which cores shared with other processes
    do not change.
    """
    before = rig.publisher.messages
    started, cpu, process = time.perf_counter(), time.thread_time(), time.process_time()
    for start in range(0, len(commands), BURST):
        rig.apply(commands[start:start + BURST])
        if progress is not None and start % (BURST * 256) == 0:
            progress(start, len(commands))
    cpu, process = time.thread_time() - cpu, time.process_time() - process
    seconds = time.perf_counter() - started
    return (len(commands) / seconds, (rig.publisher.messages - before) / seconds,
            cpu / len(commands) * 1e6, process / len(commands) * 1e6)


def stamped(command, now):
    """`command` with its timestamp field set to `now` (found by name, per command type)."""
    index = _TS[command[CODE]]
    return command[:index] + (now,) + command[index + 1:]


def run_paced(rig, commands, rate, seconds, progress=None):
    """Apply `commands` at `rate` a second for `seconds`, each stamped as applied; how many."""
    started = time.perf_counter()
    done, total = 0, min(len(commands), int(rate * seconds))
    while done < total:
        due = int((time.perf_counter() - started) * rate)
        if due <= done:
            time.sleep(0.0002)
            continue
        now = time.time_ns()
        burst = [stamped(command, now) for command in commands[done:min(due, total,
                                                                         done + BURST)]]
        rig.apply(burst)
        done += len(burst)
        if progress is not None and done % 1000 < len(burst):
            progress(done, total)
    return done


def percentiles(values, points=(50, 99, 99.9)):
    """{point: value} of `values` (nearest rank), and "max"."""
    if not values:
        return {}
    ordered = sorted(values)
    out = {point: ordered[min(len(ordered) - 1, int(len(ordered) * point / 100))]
           for point in points}
    out["max"] = ordered[-1]
    return out
