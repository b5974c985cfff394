"""What the WebSocket fanout costs and how late it is: the measurements of `gatebook bench-md`.

Three runs over one seeded flow, in one process as `gatebook run` has them
(the engine, the ITCH feed and the MoldUDP64 publisher on the caller's
thread, the WebSocket server on its own):

- the engine and publisher alone, flat out: commands/s and ITCH messages/s;
- the same with the server attached and its clients connected;
- paced at a fixed command rate, every command stamped with the wall clock
  as it is applied: the delay from that stamp (the engine event's ITCH
  timestamp, which each `l2` message carries) to the moment a client
  process reads the message.

Clients run in separate processes (`python -m gatebook.host.marketdata.ws_bench
HOST PORT CLIENTS SLOW SECONDS`), a few hundred connections each on one
asyncio loop, each watching one symbol's L2 (10 levels a side), the symbols
taken in turn; slow clients read one message every 200 ms, so the server
conflates for them.
"""

import asyncio
import json
import subprocess
import sys
import time

from gatebook.wire import internal
from gatebook.wire.positions import CODE, INTERNAL

from ..engine import MatchingEngine
from ..symbols import DEFAULT_SYMBOLS
from .feed_tap import FeedTap, LocalSource
from .itch_feed import NANOSECONDS_PER_DAY, ItchFeed
from .publisher import MoldPublisher
from .websocket import MarketDataServer

__all__ = ["Rig", "run_flat_out", "run_paced", "start_clients", "collect_clients",
           "percentiles", "stamped", "BURST"]

BURST = 32                    # commands per publish, as the exchange loop's bursts
SLOW_READ_SECONDS = 0.2
_TS = {message.code: getattr(INTERNAL, message.name.upper()).ts
       for message in internal.COMMANDS.messages}


class _NullPort:
    def send(self, datagrams):
        return len(datagrams)


class Rig:
    """Engine, ITCH feed and publisher; `fanout` "websocket" adds a FeedTap and a WebSocket
    server, "nats" a FeedTap and a `NatsFanout` to the NATS server at `nats`."""

    def __init__(self, fanout=None, nats=None, **server_options):
        self.engine = MatchingEngine(DEFAULT_SYMBOLS)
        self.records = []
        self.feed = ItchFeed(DEFAULT_SYMBOLS, self.records.extend)
        self.engine.subscribe(self.feed)
        port = _NullPort()
        self.tap = FeedTap(port) if fanout else None
        sink = self.tap or port
        self.publisher = MoldPublisher(
            "GATEBOOK01", lambda packets: sink.send([(packet, None) for packet in packets]))
        self.publisher.publish(self.feed.start_of_day(time.time_ns()))
        self.server = self.nats = None
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
        for part in (self.server, self.nats):
            if part is not None:
                part.close()


def run_flat_out(rig, commands, progress=None):
    """Apply `commands` in bursts as fast as they go; (commands/s, ITCH messages/s)."""
    before = rig.publisher.messages
    started = time.perf_counter()
    for start in range(0, len(commands), BURST):
        rig.apply(commands[start:start + BURST])
        if progress is not None and start % (BURST * 256) == 0:
            progress(start, len(commands))
    seconds = time.perf_counter() - started
    return len(commands) / seconds, (rig.publisher.messages - before) / seconds


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


def start_clients(address, clients, slow, seconds, per_process=500):
    """Client processes holding `clients` connections (`slow` of them slow) for `seconds`."""
    processes = []
    for first in range(0, clients, per_process):
        count = min(per_process, clients - first)
        slow_here = max(0, min(count, slow - first))
        processes.append(subprocess.Popen(
            [sys.executable, "-m", __name__, address[0], str(address[1]), str(count),
             str(slow_here), str(seconds)], stdout=subprocess.PIPE, text=True))
    return processes


def collect_clients(processes):
    """The client processes' reports merged: connected, messages, delays (µs, sampled)."""
    merged = {"connected": 0, "failed": 0, "messages": 0, "slow_messages": 0, "delays_us": []}
    for process in processes:
        out, _ = process.communicate(timeout=600)
        report = json.loads(out.strip().splitlines()[-1])
        for key in merged:
            merged[key] += report[key]
    return merged


def percentiles(values, points=(50, 99, 99.9)):
    """{point: value} of `values` (nearest rank), and "max"."""
    if not values:
        return {}
    ordered = sorted(values)
    out = {point: ordered[min(len(ordered) - 1, int(len(ordered) * point / 100))]
           for point in points}
    out["max"] = ordered[-1]
    return out


# -- the client process ------------------------------------------------------

async def _client(url, slow, index, until, report):
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosedOK
    try:
        async with connect(url, compression=None, max_queue=4 if slow else 64,
                           proxy=None, open_timeout=30) as ws:
            report["connected"] += 1
            hello = json.loads(await ws.recv())
            symbols = hello["symbols"]
            await ws.send(json.dumps({"op": "subscribe", "symbol": symbols[index % len(symbols)],
                                      "channels": ["l2"], "depth": 10}))
            # One timer for the whole read, not one per message (wait_for costs a task).
            async with asyncio.timeout(max(0.0, until - time.monotonic())):
                async for text in ws:
                    if slow:
                        report["slow_messages"] += 1
                        await asyncio.sleep(SLOW_READ_SECONDS)
                        continue
                    report["messages"] += 1
                    if report["messages"] % 7:                    # a sample keeps it cheap
                        continue
                    received = time.time_ns() % NANOSECONDS_PER_DAY
                    message = json.loads(text)
                    if message.get("type") == "l2" and message["ts"]:
                        delay = received - message["ts"]
                        if 0 <= delay < 60 * 10**9:
                            report["delays_us"].append(delay // 1000)
    except TimeoutError:                # the bench's end
        pass
    except ConnectionClosedOK:          # the server closed at the end of the bench
        pass
    except Exception:                   # refused or cut: counted, the others go on
        report["failed"] += 1


async def _clients(host, port, count, slow, seconds):
    report = {"connected": 0, "failed": 0, "messages": 0, "slow_messages": 0, "delays_us": []}
    until = time.monotonic() + seconds
    url = f"ws://{host}:{port}/ws"
    await asyncio.gather(*(_client(url, index < slow, index, until, report)
                           for index in range(count)))
    return report


if __name__ == "__main__":
    host, port, count, slow, seconds = sys.argv[1:6]
    print(json.dumps(asyncio.run(_clients(host, int(port), int(count), int(slow),
                                          float(seconds)))))
