"""WebSocket clients for the market-data tests: a well-behaved one and raw hostile ones.

The well-behaved client is the `websockets` library's; the hostile ones speak
RFC 6455 by hand over a plain socket, so they can do what no library lets a
client do: stop reading, never answer a ping, send a frame too large.
"""

import base64
import json
import os
import socket
import struct
import time

from websockets.sync.client import connect

__all__ = ["Client", "RawClient"]


class Client:
    """A `websockets` client that keeps the latest message per (type, symbol)."""

    def __init__(self, address, path="/ws"):
        self.ws = connect(f"ws://{address[0]}:{address[1]}{path}", proxy=None,
                          compression=None, open_timeout=10, legacy=True)
        self.hello = json.loads(self.ws.recv(timeout=10))
        self.latest, self.received = {}, 0
        self.trades = {}                   # symbol -> [trade, ...] as received

    def send(self, **request):
        self.ws.send(json.dumps(request))

    def subscribe(self, symbol, **options):
        self.send(op="subscribe", symbol=symbol, **options)

    def read(self, seconds):
        """Read what comes for `seconds`; return the messages."""
        out, deadline = [], time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = json.loads(self.ws.recv(timeout=left))
            except TimeoutError:
                break
            out.append(message)
            self.received += 1
            self.latest[message["type"], message.get("symbol")] = message
            if message["type"] == "trades":
                self.trades.setdefault(message["symbol"], []).extend(message["trades"])
        return out

    def read_until(self, done, seconds=20):
        """Read until `done(self)` holds; fail after `seconds`."""
        deadline = time.monotonic() + seconds
        while not done(self):
            assert time.monotonic() < deadline, self.latest
            self.read(0.05)

    def close(self):
        self.ws.close()


class RawClient:
    """A WebSocket client by hand: handshake, then frames exactly as the test writes them."""

    def __init__(self, address, receive_buffer=None):
        self.sock = socket.socket()
        if receive_buffer is not None:        # a small window fills at once when unread
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.connect(address)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /ws HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
                          .encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = self.sock.recv(1)           # byte by byte: leave the frames unread
            assert chunk, answer
            answer += chunk
        self.status = int(answer.split()[1])

    @staticmethod
    def encode(payload, opcode=1, mask=None):
        """One client frame: masked, as RFC 6455 requires (a zero key leaves it as it is)."""
        if isinstance(payload, str):
            payload = payload.encode()
        mask = os.urandom(4) if mask is None else mask
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        if mask != bytes(4):
            payload = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        return header + mask + payload

    def frame(self, payload, opcode=1):
        """Send one frame (text by default); False once the server has cut us."""
        return self.send_bytes(self.encode(payload, opcode))

    def send_bytes(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def closed_by_server(self, seconds):
        """True once the server closed the connection (reading and dropping what came)."""
        self.sock.settimeout(0.2)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if not self.sock.recv(65536):
                    return True
            except TimeoutError:
                continue
            except OSError:
                return True
        return False

    def close(self):
        self.sock.close()
