"""UDP datagrams over a DPDK port or a kernel socket, behind one interface.

# Ref: RFC 768 (UDP), RFC 791 (IPv4, header checksum per RFC 1071),
#      RFC 826 (ARP), RFC 1112 section 6.4 (IPv4 multicast to Ethernet MAC).

The exchange reads order datagrams and writes replies and market data as
`(payload, (ip, port))` pairs and never learns which backend carries them:

- `DpdkUdp` frames and parses Ethernet/IPv4/UDP itself on a `Port`, answers
  ARP for its address, and replies to a peer at the MAC it last heard it from;
- `SocketUdp` is a non-blocking kernel UDP socket.

`open_udp` picks one by name; it never swaps one for the other on its own.
"""

import errno
import ipaddress
import socket
import struct
from collections import Counter

from gatebook.wire import ethernet

from .frames import ETHERNET_HEADER as _ETH
from .frames import FRAME_HEADERS_SIZE as _FRAME_HEADERS
from .frames import UDP_HEADER as _UDP
from .frames import udp_frame

__all__ = ["DatagramPort", "DpdkUdp", "SocketUdp", "open_udp", "udp_frame", "answerable",
           "BACKENDS"]

BACKENDS = ("dpdk", "socket")


# ARP has no table in gatebook.wire (order entry answers it, nothing else reads it).
_ARP = struct.Struct("!HHBBH6s4s6s4s")


def answerable(ip, port):
    """Whether a reply can go to IPv4 address `ip` (an integer) and UDP `port`:
    not port 0, not 0.0.0.0 or the limited broadcast, not multicast (224/4) or
    the reserved 240/4. Both backends refuse a datagram from anywhere else
    (counted as `bad_source`) before order entry sees it: its sender can only
    be forged, and a reply would fail (the kernel refuses port 0) or go to many.
    `gb_source_ok` (dpdk_bridge/csrc/udp_rx.c) is the same rule in C."""
    return port != 0 and ip != 0 and ip >> 28 < 0xE


def _mac_bytes(text):
    return bytes.fromhex(text.replace(":", ""))


class DatagramPort:
    """What the exchange needs from a transport: bursts of datagrams.

    Every port counts what it refused before order entry saw it, by kind
    (`refused`: `bad_source`, and on DPDK `fragment`, `fragmented`,
    `oversize`), and the datagrams it could not send, by reason (`unsent`:
    the errno's name, e.g. `EINVAL`); neither ever raises to the caller.
    """

    backend = "abstract"

    def recv(self, max_datagrams=32):
        """Up to `max_datagrams` received `(payload, (ip, port))` pairs; never blocks."""
        raise NotImplementedError

    def send(self, datagrams):
        """Send `(payload, (ip, port))` pairs; return how many left."""
        raise NotImplementedError

    def send_replies(self, replier):
        """Send the datagrams `replier.flush()` gives; return how many left."""
        return self.send(replier.flush())

    def close(self):
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SocketUdp(DatagramPort):
    """A kernel UDP socket bound to `(ip, port)` (port 0: any free port), or,
    with `group`, a subscriber to that multicast group on the interface of `ip`."""

    backend = "socket"

    def __init__(self, ip="127.0.0.1", port=0, group=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._open(ip, port, group)
        except BaseException:
            self.sock.close()           # a bind refused (an address not ours) leaks nothing
            raise
        self.refused = Counter()
        self.unsent = Counter()

    def _open(self, ip, port, group):
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        if group is not None:            # a market-data subscriber: bind the group's port
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((group, port))
            self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                                 socket.inet_aton(group) + socket.inet_aton(ip))
        else:
            self.sock.bind((ip, port))
        # Multicast we send leaves by our own address's interface, one hop at most.
        if ip != "0.0.0.0":
            self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ip))
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        self.sock.setblocking(False)
        self.address = self.sock.getsockname()

    def recv(self, max_datagrams=32):
        out = []
        recvfrom = self.sock.recvfrom
        try:
            for _ in range(max_datagrams):
                datagram = recvfrom(65535)
                ip, port = datagram[1]
                if not answerable(int.from_bytes(socket.inet_aton(ip), "big"), port):
                    self.refused["bad_source"] += 1
                    continue
                out.append(datagram)
        except BlockingIOError:
            pass
        return out

    def send(self, datagrams):
        """Send `(payload, (ip, port))` pairs until the socket's buffer is full;
        a datagram the kernel refuses (a peer it cannot reach, a payload too
        long) is counted in `unsent` under its errno's name and skipped."""
        sent = 0
        for payload, peer in datagrams:
            try:
                self.sock.sendto(payload, peer)
            except BlockingIOError:
                break
            except (socket.gaierror, TypeError, ValueError, OverflowError):
                self.unsent["bad address"] += 1       # not an (ip, port) it can resolve
                continue
            except OSError as error:
                if error.errno == errno.ENOBUFS:
                    break
                self.unsent[errno.errorcode.get(error.errno, str(error.errno))] += 1
                continue
            sent += 1
        return sent

    def close(self):
        self.sock.close()


class DpdkUdp(DatagramPort):
    """UDP on `(ip, port)` over a DPDK `Port` whose MAC is `mac` (default the port's)."""

    backend = "dpdk"

    def __init__(self, port, ip, udp_port, mac=None, burst=32):
        self.port = port
        self.address = (ip, udp_port)
        self._ip = socket.inet_aton(ip)
        self._mac = _mac_bytes(mac or port.mac)
        # Senders' MACs by IPv4 address, learned from traffic: a table in C,
        # which the receive helpers fill and gb_udp_tx reads.
        lib = port._lib
        self._macs = port._ffi.gc(lib.gb_mac_table_new(), lib.gb_mac_table_free)
        if self._macs == port._ffi.NULL:
            raise MemoryError("gb_mac_table_new")
        from .fast import status
        self._fast, self.path = status()   # the compiled frame and send loops, or why not
        self._rx = port.burst(burst)
        self._ip_id = 0
        # Positive RX_STATUS counts (frames not ours, refused fragments and
        # sources), which the C split adds to; `recv` adds to the same array.
        from ._cgen import RX_KINDS
        self._kinds = port._ffi.new("uint64_t[]", RX_KINDS)
        self._oversize = Counter()     # what `recv` refused that the C split hands on
        self.unsent = Counter()
        self._desc = None              # order-entry fast path: descriptors, made on first use
        self._peer_of = {}             # (ip << 16 | port) -> (ip text, port)
        self._ip_of = {}               # ip text -> int, for sending
        self._tx = None                # send's burst buffer, made on first use

    def recv_ouch(self):
        """Order-entry fast path: one C call receives a burst and splits it.

        Returns `(data, frames)`: `data` is the burst buffer and `frames` holds
        `(session, sequence_number, count, offset, peer, error)` per order-entry
        datagram, as `gatebook.host.ouch.gateway.Gateway.commands` takes them (with
        the compiled loops, an `RxBurst` that iterates those tuples and that the
        compiled gateway reads straight from the descriptors). Both are reused
        by the next call, so take the commands before receiving again. The C
        helper checks Ethernet, IPv4 and UDP as `recv` does and the session
        framing as `gatebook.host.ouch.framing.frame_datagram` does; a datagram it
        refuses carries `error` (a refusal name and two integers) and nothing
        is lost. ARP is answered here; other frames count in `.bad`, and
        what the port refuses itself in `.refused`.
        """
        rx, lib = self._rx, self.port._lib
        self._descriptors()
        n = lib.gb_ouch_rx(self.port.id, 0, rx._data_ptr, rx.slot, rx._lens_ptr, rx.size,
                           self.address[1], self._desc_ptr, self._macs, self._kinds)
        rx.count = n
        if not n:
            return rx.data, ()
        if self._fast is not None:
            # The frames stay in the descriptors (the compiled gateway reads them
            # there); iterating them gives the tuples below.
            frames, arp, _ = self._fast.rx_burst(self._desc, n, self._peer_of, self._new_peer)
            for index in arp:
                self._answer_arp(index)
            return rx.data, frames
        frames, peer_of, refusals = [], self._peer_of, self._refusals
        for (sequence, mac, key, session, ip, offset, status, first, second, count, index,
             _) in self._desc_iter(memoryview(self._desc)[:n * self._desc_size]):
            if status == 0:
                peer = peer_of.get(key)
                if peer is None:
                    peer = self._new_peer(key)
                frames.append((session, sequence, count, offset, peer, None))
            elif status < 0:
                peer = peer_of.get(key) or self._new_peer(key)
                frames.append((session, sequence, count, offset, peer,
                               (refusals[status], first, second)))
            elif status == 1:
                self._answer_arp(index)
        return rx.data, frames

    @property
    def bad(self):
        """Frames that were not IPv4/UDP to our port, or whose lengths do not add up."""
        from ._cgen import RX_STATUS
        return self._kinds[RX_STATUS["NOT_OURS"]]

    @property
    def refused(self):
        """Datagrams to our port refused before order entry, by kind: `fragment`
        (a later IPv4 fragment), `bad_source` (`answerable` says no); `recv`
        also counts `fragmented` and `oversize` here, which `recv_ouch` hands
        to the gateway as refusals instead, so their senders can be answered."""
        from ._cgen import RX_STATUS
        out = Counter({kind.lower(): self._kinds[RX_STATUS[kind]]
                       for kind in ("FRAGMENT", "BAD_SOURCE")})
        return +(out + self._oversize)

    def _descriptors(self):
        # The descriptor array the C split fills, made on first use.
        if self._desc is None:
            from ._cgen import RX_DESC_STRUCT, RX_STATUS
            self._desc = bytearray(RX_DESC_STRUCT.size * self._rx.size)
            self._desc_ptr = self.port._ffi.from_buffer("struct gb_rx_desc[]", self._desc)
            self._desc_iter = RX_DESC_STRUCT.iter_unpack
            self._desc_size = RX_DESC_STRUCT.size
            self._refusals = {value: name for name, value in RX_STATUS.items() if value < 0}

    def _answer_arp(self, index):
        reply = self._arp(bytes(self._rx.packet(index)))
        if reply:
            self.port.send([reply])

    def learn(self, ip, mac):
        """Send to IPv4 address `ip` at `mac` (both integers) until told otherwise."""
        self.port._lib.gb_mac_learn(self._macs, ip, mac)

    def mac_of(self, ip):
        """The MAC (an integer) last heard from IPv4 address `ip`, or None."""
        return self.port._lib.gb_mac_lookup(self._macs, ip) or None

    def _new_peer(self, key):
        peer = self._peer_of[key] = (socket.inet_ntoa((key >> 16).to_bytes(4, "big")),
                                     key & 0xFFFF)
        return peer

    def recv(self, max_datagrams=32):
        """Any UDP datagrams to our port (not only order entry), as
        `(payload, (ip, port))` pairs. The C split classifies each frame, as
        for `recv_ouch`; fragments and frames cut at the slot count in
        `refused` here."""
        out, replies, rx, lib = [], [], self._rx, self.port._lib
        self._descriptors()
        from ._cgen import RX_STATUS
        arp, cut = RX_STATUS["ARP"], {RX_STATUS["FRAGMENTED"]: "fragmented",
                                      RX_STATUS["OVERSIZE"]: "oversize"}
        while len(out) < max_datagrams and self.port.rx_burst(rx):
            lib.gb_ouch_split(rx._data_ptr, rx.slot, rx._lens_ptr, rx.count, self.address[1],
                              self._desc_ptr, self._macs, self._kinds)
            for (_, _, key, _, _, _, status, _, _, _, index, _) in self._desc_iter(
                    memoryview(self._desc)[:rx.count * self._desc_size]):
                if status == arp:
                    reply = self._arp(bytes(rx.packet(index)))
                    if reply:
                        replies.append(reply)
                elif status in cut:
                    self._oversize[cut[status]] += 1
                elif status <= 0:
                    out.append((self._payload(rx.packet(index)),
                                self._peer_of.get(key) or self._new_peer(key)))
        if replies:                 # after the loop: a looped-back answer is not ours
            self.port.send(replies)
        return out

    @staticmethod
    def _payload(frame):
        # A frame the C split took as UDP to our port: its lengths add up.
        udp = _ETH.size + (frame[_ETH.size] & 0x0F) * 4         # after the IPv4 options
        at = udp + _UDP.offsets["length"]
        return bytes(frame[udp + _UDP.size:udp + int.from_bytes(frame[at:at + 2], "big")])

    def _arp(self, frame):
        if len(frame) < _ETH.size + _ARP.size:
            return None
        _, _, _, _, op, sha, spa, _, tpa = _ARP.unpack_from(frame, _ETH.size)
        self.learn(int.from_bytes(spa, "big"), int.from_bytes(sha, "big"))
        if op != 1 or tpa != self._ip:
            return None
        return (_ETH.pack(dst=sha, src=self._mac, ethertype=ethernet.ETHERTYPE_ARP)
                + _ARP.pack(1, ethernet.ETHERTYPE_IPV4, 6, 4, 2, self._mac, self._ip, sha, spa))

    def _dest_mac(self, ip):
        # multicast: 01:00:5e + low 23 bits of the group; else learned, else broadcast
        return self.port._lib.gb_mac_resolve(self._macs, int.from_bytes(ip, "big")).to_bytes(
            6, "big")

    def frame(self, payload, peer):
        """The Ethernet frame carrying `payload` to `peer` = (ip, port)."""
        dst = socket.inet_aton(peer[0])
        self._ip_id = (self._ip_id + 1) & 0xFFFF
        return udp_frame(self._dest_mac(dst), self._mac, self._ip, dst,
                         self.address[1], peer[1], payload, self._ip_id)

    def send(self, datagrams):
        """Frame and send `(payload, (ip, port))` pairs in bursts: each payload
        is copied into a slot with a `gb_tx_desc` (by the compiled `tx_fill`,
        or by the loop below where it is not built); one C call builds the
        Ethernet, IPv4 and UDP headers of the whole burst, resolves each MAC
        from the table the receive side fills, and sends it."""
        if self._tx is None:
            from ._cgen import TX_DESC_STRUCT
            self._tx = self.port.burst(self._rx.size)
            self._tx_desc = bytearray(TX_DESC_STRUCT.size * self._tx.size)
            self._tx_desc_ptr = self.port._ffi.from_buffer("struct gb_tx_desc[]", self._tx_desc)
            self._tx_pack = TX_DESC_STRUCT.pack_into
            self._tx_size = TX_DESC_STRUCT.size
            self._src_mac = self.port._ffi.from_buffer("uint8_t[]", bytearray(self._mac))
        tx, size, slot = self._tx, self._tx.size, self._tx.slot
        limit = min(slot, 0xFFFF) - _FRAME_HEADERS
        if self._fast is not None:
            if not isinstance(datagrams, (list, tuple)):
                datagrams = list(datagrams)
            fill, total, at, sent = self._fast.tx_fill, len(datagrams), 0, 0
            while at < total:
                at, count = fill(datagrams, at, tx.data, slot, self._tx_desc, size,
                                 self._ip_of, limit)
                sent += self._tx_flush(count)
            return sent
        data, desc, pack, step = tx.data, self._tx_desc, self._tx_pack, self._tx_size
        ips, sent, index = self._ip_of, 0, 0
        for payload, (ip_text, port) in datagrams:
            length = len(payload)
            if length > limit:
                raise ValueError(f"a {length}-byte payload does not fit a {slot}-byte slot "
                                 f"with its headers")
            ip = ips.get(ip_text)
            if ip is None:
                try:
                    ip = int.from_bytes(socket.inet_aton(ip_text), "big")
                except (OSError, TypeError):
                    self.unsent["bad address"] += 1
                    continue
                ips[ip_text] = ip
            if not ip or not port:              # multicast and broadcast are ours to send
                self.unsent["no destination"] += 1
                continue
            at = index * slot
            data[at:at + length] = payload
            pack(desc, index * step, 0, ip, port, length)      # MAC 0: gb_udp_tx resolves it
            index += 1
            if index == size:
                sent += self._tx_flush(index)
                index = 0
        if index:
            sent += self._tx_flush(index)
        return sent

    def send_replies(self, replier):
        """Send what `replier.flush()` would give; return how many datagrams left.

        A compiled replier (`gatebook.host.ouch.replier.Replier` over a compiled
        gateway) writes its datagrams straight into the send burst's slots
        (`flush_into`), with no Python object per datagram; any other goes
        through `send(replier.flush())`."""
        fill = getattr(replier, "flush_into", None)
        if fill is None:
            return self.send(replier.flush())
        if self._tx is None:
            self.send(())                          # makes the send burst
        tx, size = self._tx, self._tx.size
        limit, sent = min(tx.slot, 0xFFFF) - _FRAME_HEADERS, 0
        while True:
            count = fill(tx.data, tx.slot, self._tx_desc, size, self._ip_of, limit)
            if count:
                sent += self._tx_flush(count)
            if count < size:
                return sent

    def _tx_flush(self, count):
        first = (self._ip_id + 1) & 0xFFFF
        self._ip_id = (self._ip_id + count) & 0xFFFF
        port = self.port
        return port.eal.check(f"gb_udp_tx(port {port.id})", port._lib.gb_udp_tx(
            port.id, 0, port._pool, self._tx._data_ptr, self._tx.slot, self._tx_desc_ptr,
            count, self._src_mac, int.from_bytes(self._ip, "big"), self.address[1], first,
            self._macs))

    def close(self):
        self.port.close()


def open_udp(backend, ip="127.0.0.1", port=0, devargs=None, mac=None, burst=32):
    """A `DatagramPort` on the named backend. `dpdk` needs `devargs` (a vdev or
    PCI address) and raises DpdkUnavailable where DPDK is missing; `burst` sizes
    its receive and send bursts."""
    if backend == "socket":
        return SocketUdp(ip, port)
    if backend == "dpdk":
        if devargs is None:
            raise ValueError("the dpdk backend needs devargs (e.g. net_tap0 or a PCI address)")
        ipaddress.IPv4Address(ip)
        from .eal import Eal
        return DpdkUdp(Eal.start().attach(devargs), ip, port, mac, burst=burst)
    raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
