"""The measuring WebSocket clients of `gatebook bench-md`, in processes of their own.

# Ref: RFC 6455 (The WebSocket Protocol) sections 4.1 (the client's
#      handshake) and 5.2 (base framing).

`python -m gatebook.host.marketdata.ws_load KIND HOST:PORT[,HOST:PORT...]
CLIENTS SLOW SECONDS` holds CLIENTS connections (the first SLOW of them slow)
spread over the servers in turn, each watching one symbol's L2 (10 levels a
side), the symbols in turn. It prints `connected N` once every connection
is open and subscribed (or failed), then, when SECONDS have passed or its
standard input closes (how `stop_clients` ends them), one JSON line: connected, failed, messages read, and the sampled delays (µs) from the
engine event's timestamp (`ts`, nanoseconds since midnight UTC) to receipt.

Two kinds of client, so that what is measured is the server and not the
clients on the same cores (and a third that is no WebSocket client at all):

- "raw" (the default): one selector loop over plain sockets. It speaks just enough RFC
  6455 to hold a connection (the handshake, unmasked server frames, pings
  answered with pongs) and reads each frame's bytes without decoding JSON,
  except the sampled ones: some microseconds per message.
- "c": the raw client in C (ws_load_c.py, compiled at first use): the
  kernel's receive and little else;
- "websockets": the `websockets` library's asyncio client, a connection as a
  real application holds one (tens of microseconds per message in Python);
- "feed": one process that joins the feed's multicast group (the address
  given) and times the ITCH messages themselves: the floor, what any
  process on these cores sees with no WebSocket hop in between.

Slow clients read one message every 200 ms (a raw slow client reads 256
bytes every 200 ms), so the server conflates for them.
"""

import asyncio
import base64
import json
import os
import selectors
import socket
import struct
import subprocess
import sys
import time

from gatebook.wire import itch50, mold
from gatebook.wire.codec import WireError
from gatebook.wire.positions import ITCH

__all__ = ["start_clients", "wait_connected", "stop_clients", "KINDS", "SAMPLE_EVERY",
           "SLOW_READ_SECONDS"]

KINDS = ("raw", "c", "websockets", "feed")
SAMPLE_EVERY = 7              # every seventh message of a fast client is timed
SLOW_READ_SECONDS = 0.2
NANOSECONDS_PER_DAY = 86_400 * 1_000_000_000


def start_clients(kind, servers, clients, slow, seconds, per_process=500, cpus=None):
    """Client processes holding `clients` connections (`slow` of them slow) for `seconds`,
    spread over `servers` ((host, port) each) in turn; on `cpus` only, if given."""
    addresses = ",".join(f"{host}:{port}" for host, port in servers)
    if kind == "c":
        from .ws_load_c import build
        program = [build()]
    else:
        program = [sys.executable, "-m", __name__]
    processes = []
    for first in range(0, clients, per_process):
        count = min(per_process, clients - first)
        slow_here = max(0, min(count, slow - first))
        processes.append(subprocess.Popen(
            program + [kind, addresses, str(count), str(slow_here), str(seconds), str(first)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            preexec_fn=None if cpus is None else lambda: os.sched_setaffinity(0, cpus)))
    return processes


def wait_connected(processes, seconds=120):
    """Wait for each process's `connected N` line; the connections open in all."""
    connected, deadline = 0, time.monotonic() + seconds
    for process in processes:
        selector = selectors.DefaultSelector()
        selector.register(process.stdout, selectors.EVENT_READ)
        ready = selector.select(max(0.0, deadline - time.monotonic()))
        selector.close()
        line = process.stdout.readline() if ready else ""
        if line.startswith("connected "):
            connected += int(line.split()[1])
    return connected


def stop_clients(processes):
    """End the client processes; their reports merged: connected, failed (refused or cut
    before the end), messages read, delays (µs, sampled), CPU seconds they used."""
    merged = {"connected": 0, "failed": 0, "messages": 0, "slow_messages": 0, "delays_us": [],
              "cpu_seconds": 0.0}
    for process in processes:
        process.stdin.close()
    for process in processes:
        out = process.stdout.read()             # to its end: the process has exited
        process.wait(timeout=60)
        lines = [line for line in out.strip().splitlines() if line.startswith("{")]
        if not lines:
            merged["failed"] += 1
            continue
        report = json.loads(lines[-1])
        for key in merged:
            merged[key] += report[key]
    return merged


def _new_report():
    return {"connected": 0, "failed": 0, "messages": 0, "slow_messages": 0, "delays_us": []}


def _symbol_request(symbols, index):
    return json.dumps({"op": "subscribe", "symbol": symbols[index % len(symbols)],
                       "channels": ["l2"], "depth": 10})


def _record_delay(report, ts):
    delay = time.time_ns() % NANOSECONDS_PER_DAY - ts
    if 0 <= delay < 60 * 10**9:
        report["delays_us"].append(delay // 1000)


# -- raw clients ---------------------------------------------------------------

_TS_KEY = b'"ts":'


class _RawClient:
    """One connection's bytes, frames and state; driven by `_run_raw`'s selector."""

    __slots__ = ("sock", "slow", "index", "state", "buffer", "key", "count")

    def __init__(self, address, slow, index):
        self.sock = socket.create_connection(address, timeout=30)
        self.slow, self.index = slow, index
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /ws HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\n"
                           f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {self.key}\r\nSec-WebSocket-Version: 13\r\n"
                           f"\r\n").encode())
        self.sock.setblocking(False)
        self.state, self.buffer, self.count = "handshake", b"", 0

    def send_text(self, text):
        payload = text.encode()
        mask = os.urandom(4)
        header = bytes([0x81]) + (bytes([0x80 | len(payload)]) if len(payload) < 126 else
                                   bytes([0x80 | 126]) + struct.pack("!H", len(payload)))
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        self.sock.setblocking(True)
        self.sock.sendall(header + mask + masked)
        self.sock.setblocking(False)

    def frames(self):
        """Complete frames in the buffer: (opcode, payload) each."""
        buffer, position, out = self.buffer, 0, []
        while len(buffer) - position >= 2:
            opcode, length = buffer[position] & 0x0F, buffer[position + 1] & 0x7F
            start = position + 2
            if length == 126:
                if len(buffer) - start < 2:
                    break
                length = struct.unpack_from("!H", buffer, start)[0]
                start += 2
            elif length == 127:
                if len(buffer) - start < 8:
                    break
                length = struct.unpack_from("!Q", buffer, start)[0]
                start += 8
            if len(buffer) - start < length:
                break
            out.append((opcode, buffer[start:start + length]))
            position = start + length
        self.buffer = buffer[position:]
        return out


def _on_frames(client, report, symbols):
    for opcode, payload in client.frames():
        if opcode == 0x9:                                   # ping: answer, or be cut
            client.sock.setblocking(True)
            mask = os.urandom(4)
            client.sock.sendall(bytes([0x8A, 0x80 | len(payload)]) + mask + bytes(
                byte ^ mask[i % 4] for i, byte in enumerate(payload)))
            client.sock.setblocking(False)
        elif opcode == 0x8:
            raise ConnectionError("closed by the server")
        elif opcode == 0x1:
            if client.state == "hello":
                symbols[:] = symbols or json.loads(payload)["symbols"]
                client.send_text(_symbol_request(symbols, client.index))
                client.state = "open"
                report["connected"] += 1
                continue
            if client.slow:
                report["slow_messages"] += 1
                continue
            report["messages"] += 1
            client.count += 1
            if client.count % SAMPLE_EVERY == 0 and payload.startswith(b'{"type":"l2"'):
                at = payload.find(_TS_KEY)
                end = payload.find(b",", at)
                if at > 0 and end > at:
                    _record_delay(report, int(payload[at + len(_TS_KEY):end]))


def _run_raw(servers, count, slow, seconds, first):
    report, symbols, clients = _new_report(), [], []
    selector = selectors.DefaultSelector()
    for index in range(count):
        try:
            client = _RawClient(servers[(first + index) % len(servers)], index < slow,
                                first + index)
        except OSError:
            report["failed"] += 1
            continue
        clients.append(client)
        selector.register(client.sock, selectors.EVENT_READ, client)
    until = time.monotonic() + seconds
    selector.register(sys.stdin, selectors.EVENT_READ, None)     # closed: the end
    announced, slow_open, next_slow_read = False, [], 0.0
    while time.monotonic() < until:
        if not announced and report["connected"] + report["failed"] >= count:
            print(f"connected {report['connected']}", flush=True)
            report["cpu_connected"] = time.process_time()     # what reading costs, from here
            announced = True
        now = time.monotonic()
        ready = [key.data for key, _ in selector.select(min(0.05, max(0.0, until - now)))]
        if None in ready:
            if not sys.stdin.readline():
                break
            ready.remove(None)
        if slow_open and now >= next_slow_read:       # slow readers: 256 bytes each 200 ms
            ready += slow_open
            next_slow_read = now + SLOW_READ_SECONDS
        for client in ready:
            try:
                data = client.sock.recv(256 if client.slow and client.state == "open"
                                        else 1 << 16)
                if not data:
                    raise ConnectionError("closed")
                client.buffer += data
                if client.state == "handshake":
                    head, found, rest = client.buffer.partition(b"\r\n\r\n")
                    if not found:
                        continue
                    if not head.startswith(b"HTTP/1.1 101"):
                        raise ConnectionError(head.split(b"\r\n")[0].decode(errors="replace"))
                    client.buffer, client.state = rest, "hello"
                _on_frames(client, report, symbols)
                if client.slow and client.state == "open" and client not in slow_open:
                    selector.unregister(client.sock)
                    slow_open.append(client)
            except BlockingIOError:
                continue
            except (OSError, ValueError, KeyError):
                report["failed"] += 1
                if client in slow_open:
                    slow_open.remove(client)
                else:
                    selector.unregister(client.sock)
                client.sock.close()
    if not announced:
        print(f"connected {report['connected']}", flush=True)
    for client in clients:
        client.sock.close()
    return report


# -- the floor: the feed itself, no WebSocket -------------------------------------

_ITCH_TS = ITCH.ADD_ORDER.timestamp              # the same place in every ITCH message
_TS_OFFSET = 1 + sum(field.width for field in itch50.ADD_ORDER.fields[:_ITCH_TS - 1])
_TS_WIDTH = itch50.ADD_ORDER.fields[_ITCH_TS - 1].width


def _run_feed(servers, count, slow, seconds, first):
    """Join the feed's multicast group (`servers[0]`) and time its messages: the delay
    from an engine event to a Python process on these cores, with no WebSocket between."""
    from gatebook.dpdk_bridge.udp import SocketUdp
    report = _new_report()
    group, port = servers[0]
    feed = SocketUdp("127.0.0.1", port, group=group)
    report["connected"] = 1
    print("connected 1", flush=True)
    report["cpu_connected"] = time.process_time()
    selector = selectors.DefaultSelector()
    selector.register(feed.sock, selectors.EVENT_READ)
    selector.register(sys.stdin, selectors.EVENT_READ)
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        ready = selector.select(0.05)
        if any(key.fileobj is sys.stdin for key, _ in ready) and not sys.stdin.readline():
            break
        for packet, _ in feed.recv(256):
            try:
                parsed = mold.parse(packet)
            except WireError:
                continue
            for message in parsed.messages:
                report["messages"] += 1
                if report["messages"] % SAMPLE_EVERY == 0:
                    ts = int.from_bytes(message[_TS_OFFSET:_TS_OFFSET + _TS_WIDTH], "big")
                    if ts:
                        _record_delay(report, ts)
    feed.close()
    return report


# -- websockets clients --------------------------------------------------------------

async def _library_client(url, slow, index, until, report, opened):
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosedOK
    try:
        async with connect(url, compression=None, max_queue=4 if slow else 64,
                           proxy=None, open_timeout=30) as ws:
            hello = json.loads(await ws.recv())
            await ws.send(_symbol_request(hello["symbols"], index))
            report["connected"] += 1
            report["open"].append(ws)
            opened()
            # One timer for the whole read, not one per message (wait_for costs a task).
            async with asyncio.timeout(max(0.0, until - time.monotonic())):
                async for text in ws:
                    if slow:
                        report["slow_messages"] += 1
                        await asyncio.sleep(SLOW_READ_SECONDS)
                        continue
                    report["messages"] += 1
                    if report["messages"] % SAMPLE_EVERY:
                        continue
                    message = json.loads(text)
                    if message.get("type") == "l2" and message["ts"]:
                        _record_delay(report, message["ts"])
    except TimeoutError:                # the bench's end
        pass
    except ConnectionClosedOK:          # the server closed at the end of the bench
        pass
    except Exception:                   # refused or cut: counted, the others go on
        report["failed"] += 1
        opened()


async def _run_library(servers, count, slow, seconds, first):
    report = _new_report()
    report["open"] = []
    until = time.monotonic() + seconds
    settled = [0]

    def opened():
        settled[0] += 1
        if settled[0] == count:
            print(f"connected {report['connected']}", flush=True)
            report["cpu_connected"] = time.process_time()

    tasks = [asyncio.create_task(_library_client(
        "ws://%s:%d/ws" % servers[(first + index) % len(servers)], index < slow, first + index,
        until, report, opened)) for index in range(count)]
    ended = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(sys.stdin, lambda: sys.stdin.readline() or ended.set())
    waiting = asyncio.create_task(ended.wait())
    done = asyncio.gather(*tasks)
    await asyncio.wait([done, waiting], return_when=asyncio.FIRST_COMPLETED)
    loop.remove_reader(sys.stdin)
    for ws in report.pop("open"):
        ws.transport.abort()        # no closing handshake: a slow one would drain its buffer
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    waiting.cancel()
    return report


def _main(argv):
    kind, addresses, count, slow, seconds, first = argv
    servers = [(host, int(port)) for host, port in
               (address.rsplit(":", 1) for address in addresses.split(","))]
    arguments = (servers, int(count), int(slow), float(seconds), int(first))
    report = (_run_raw(*arguments) if kind == "raw" else _run_feed(*arguments)
              if kind == "feed" else asyncio.run(_run_library(*arguments)))
    report["cpu_seconds"] = time.process_time() - report.pop("cpu_connected", 0.0)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    _main(sys.argv[1:])
