"""The MoldUDP64 re-request server: a subscriber asks for a range, gets it again by unicast.

# Ref: NASDAQ MoldUDP64 Protocol Specification 1.00, "Request Packets": a
#      request names the session, the first sequence number and a message
#      count; the answer is standard downstream packets unicast to the source
#      of the request.

Every datagram is hostile until shown otherwise. One that is not exactly a
request (`gatebook.wire.mdrecovery.REQUEST`), names another session, asks
for sequence 0 or no message, or comes from an address nothing can be sent
to, is refused and counted by kind in `refused`; it gets no answer, so a
forged source cannot turn the server against someone else. A valid request
is capped at `max_messages` messages, and each source IP address may take
`messages_per_second` messages a second (a token bucket holding one second's
worth); past that its requests are refused as `rate_limited`. All sources
together may take `total_messages_per_second` (`server_busy` past it): a
source address is easy to forge, so many forged ones must not add up to a
flood sent at someone else. A request the
store cannot serve (older than what it holds, or not sent yet) is answered
with one packet without messages that carries the next sequence number: a
heartbeat, or an end of session once the session has ended. Those messages
are for the snapshot service, or have not happened.
"""

import errno
import selectors
import socket
import time
from collections import Counter, OrderedDict

from gatebook.dpdk_bridge.udp import answerable
from gatebook.wire.codec import RecordCodec, WireError
from gatebook.wire.mdrecovery import MOLDUDP64_REQUEST, REQUEST
from gatebook.wire.positions import positions_of

__all__ = ["RequestServer", "request_packet", "MAX_MESSAGES", "MESSAGES_PER_SECOND"]

MAX_MESSAGES = 2_000              # per request: a second of a busy day, ~70 packets
MESSAGES_PER_SECOND = 20_000      # per source address
TOTAL_MESSAGES_PER_SECOND = 200_000   # all sources together
MAX_SOURCES = 4_096               # rate buckets kept; the least recently seen go first
_RECV_BURST = 64                  # datagrams read per wake-up

_REQUEST = RecordCodec(REQUEST, MOLDUDP64_REQUEST.byte_order)
_AT = positions_of(REQUEST)


def request_packet(session, sequence_number, count):
    """A MoldUDP64 request for `count` messages of `session` from `sequence_number`."""
    fields = {"session": session, "sequence_number": sequence_number,
              "requested_message_count": count}
    return _REQUEST.encode(tuple(fields[name] for name in REQUEST.field_names))


class _Buckets:
    """A token bucket per source IP address, at most `max_sources` of them."""

    def __init__(self, rate, clock, max_sources):
        self.rate, self.clock, self.max_sources = rate, clock, max_sources
        self._buckets = OrderedDict()     # ip -> [tokens, last refill ns]

    def __len__(self):
        return len(self._buckets)

    def take(self, ip, wanted):
        """Messages `ip` may have now, at most `wanted` (0 when its bucket is empty)."""
        now = self.clock()
        bucket = self._buckets.pop(ip, None)
        if bucket is None:
            bucket = [float(self.rate), now]
            if len(self._buckets) >= self.max_sources:
                self._buckets.popitem(last=False)
        tokens = min(float(self.rate), bucket[0] + (now - bucket[1]) * self.rate / 1e9)
        granted = min(wanted, int(tokens))
        bucket[:] = [tokens - granted, now]
        self._buckets[ip] = bucket
        return granted


class RequestServer:
    """Answers MoldUDP64 requests from a publisher's retransmission store.

    Parameters
    ----------
    publisher : MoldPublisher
    ip, port : str, int
        Where requests arrive (port 0: any free port; see `address`).
    max_messages : int
        Messages sent at most for one request.
    messages_per_second : int
        Messages one source IP address may be sent per second.
    total_messages_per_second : int
        Messages all sources together may be sent per second.
    clock : callable returning int nanoseconds
        Monotonic time for the rate limit (injectable for tests).

    Attributes
    ----------
    refused : Counter
        Datagrams refused, by kind: `malformed`, `wrong_session`,
        `bad_sequence`, `empty_request`, `bad_source`, `rate_limited`,
        `server_busy`.
    answered : Counter
        Requests answered, by kind: `retransmitted`, `not_in_store`; and
        `messages` sent again.
    """

    def __init__(self, publisher, ip="127.0.0.1", port=0, max_messages=MAX_MESSAGES,
                 messages_per_second=MESSAGES_PER_SECOND, clock=time.monotonic_ns,
                 max_sources=MAX_SOURCES, total_messages_per_second=TOTAL_MESSAGES_PER_SECOND):
        self.publisher, self.max_messages = publisher, max_messages
        self.refused, self.answered, self.unsent = Counter(), Counter(), Counter()
        self._buckets = _Buckets(messages_per_second, clock, max_sources)
        self._total = _Buckets(total_messages_per_second, clock, 1)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind((ip, port))
            self.sock.setblocking(False)
        except BaseException:
            self.sock.close()
            raise
        self.address = self.sock.getsockname()

    @property
    def tracked_sources(self):
        """Source addresses whose rate is being tracked (bounded by `max_sources`)."""
        return len(self._buckets)

    def register(self, selector):
        """Have `selector` (a service's) call `serve` when requests wait."""
        selector.register(self.sock, selectors.EVENT_READ, lambda mask: self.serve())

    def serve(self):
        """Handle the requests waiting (a burst at most); return how many came."""
        handled = 0
        while handled < _RECV_BURST:
            try:
                data, source = self.sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as error:          # an ICMP error from an earlier answer
                self.unsent[errno.errorcode.get(error.errno, "OSError")] += 1
                continue
            handled += 1
            self.handle(data, source)
        return handled

    def handle(self, data, source):
        """Answer one datagram from `source` (ip, port), or count why not."""
        kind = self._refusal(data, source)
        if kind is not None:
            self.refused[kind] += 1
            return
        request = _REQUEST.decode(data)
        sequence = request[_AT.sequence_number]
        wanted = min(request[_AT.requested_message_count], self.max_messages)
        allowed = self._buckets.take(source[0], wanted)
        if not allowed:
            self.refused["rate_limited"] += 1
            return
        granted = self._total.take(None, allowed)
        if not granted:
            self.refused["server_busy"] += 1
            return
        packets, messages = self.publisher.retransmission(sequence, granted)
        self.answered["retransmitted" if messages else "not_in_store"] += 1
        self.answered["messages"] += messages
        for packet in packets:
            try:
                self.sock.sendto(packet, source)
            except OSError as error:
                self.unsent[errno.errorcode.get(error.errno, "OSError")] += 1

    def _refusal(self, data, source):
        if len(data) != _REQUEST.size:
            return "malformed"
        try:
            request = _REQUEST.decode(data)
        except WireError:
            return "malformed"            # a session that is not ASCII text
        if request[_AT.session] != self.publisher.session.rstrip(" "):
            return "wrong_session"
        if request[_AT.sequence_number] == 0:
            return "bad_sequence"
        if request[_AT.requested_message_count] == 0:
            return "empty_request"
        try:
            ip = int.from_bytes(socket.inet_aton(source[0]), "big")
        except OSError:
            return "bad_source"
        if not answerable(ip, source[1]):
            return "bad_source"
        return None

    def close(self):
        """Close the socket; requests are no longer answered."""
        self.sock.close()
