"""OUCH's log-origin codec: what the log holds about a command from OUCH order entry.

# Ref: gatebook/wire/wal.py (INPUT_ORIGIN, SNAPSHOT_GATEWAY and its records),
#      host/net/order_entry_api.py (LogOriginCodec), docs/durability.md.

The write-ahead log carries each command's origin as opaque bytes under a
protocol id (host/wal/origins.py); this module is what those bytes mean for
OUCH. An origin is an INPUT_ORIGIN (the message, session, its number, the
client tokens, the peer: `encode_origin`, `decode_origin`); the state they
rebuild is a `GatewayState` (gateway_state.py), which a snapshot holds as
SNAPSHOT_GATEWAY and its token, owner and session records (`encode_state`,
`decode_state`). `OUCH_LOG` is the codec recovery, the standby and `gatebook
log` use; importing `gatebook.host.ouch` registers it.
"""

import itertools
import socket
import struct

from gatebook.wire import internal, ouch
from gatebook.wire.codec import WireError
from gatebook.wire.enums import OrderEntryProtocol
from gatebook.wire.wal import (INPUT_ORIGIN, SNAPSHOT, SNAPSHOT_GATEWAY, SNAPSHOT_OWNER,
                               SNAPSHOT_SESSION, SNAPSHOT_TOKEN, WAL)
from gatebook.host.wal.format import struct_of

from .gateway_state import GatewayState, Origin

__all__ = ["OuchLogCodec", "OUCH_LOG", "encode_origin", "decode_origin", "ORIGIN_SIZE"]

_ORIGIN = struct_of(INPUT_ORIGIN, WAL.byte_order)
ORIGIN_SIZE = _ORIGIN.size
_ORIGIN_CODE = INPUT_ORIGIN.code
_REPLACE_MESSAGE = ouch.REPLACE_ORDER.code
_MESSAGE_OF = {internal.NEW_ORDER.code: ouch.ENTER_ORDER.code,
               internal.CANCEL.code: ouch.CANCEL_ORDER.code,
               internal.REPLACE.code: ouch.REPLACE_ORDER.code}
_peer_numbers = {None: (0, 0)}         # peer -> (IPv4 as a number, port)
_peer_of = {}                          # (number, port) -> peer

_GATEWAY = struct_of(SNAPSHOT_GATEWAY, SNAPSHOT.byte_order)
_TOKEN = struct_of(SNAPSHOT_TOKEN, SNAPSHOT.byte_order)
_OWNER = struct_of(SNAPSHOT_OWNER, SNAPSHOT.byte_order)
_SESSION = struct_of(SNAPSHOT_SESSION, SNAPSHOT.byte_order)
_KNOWN_EXPECTED, _KNOWN_REPLY, _KNOWN_PEER = 1, 2, 4


def _numbers(peer):
    try:
        return _peer_numbers[peer]
    except (KeyError, TypeError):
        pass
    try:
        ip, port = peer
        found = (int.from_bytes(socket.inet_aton(ip), "big"), int(port))
    except (TypeError, ValueError, OSError):
        return 0, 0                     # not an IPv4 (address, port): logged as unknown
    if len(_peer_numbers) < 65536:
        _peer_numbers[peer] = found
    return found


def encode_origin(command_code, origin, peer=None):
    """The INPUT_ORIGIN bytes of a command from order entry: `origin` is the
    gateway's tuple `(session, token, number[, previous token])`, `peer` the
    session's (IPv4 text, port) or None. WireError if a field does not fit."""
    ip, port = _numbers(peer)
    try:
        return _ORIGIN.pack(_ORIGIN_CODE, _MESSAGE_OF.get(command_code, 0), origin[0], origin[2],
                            origin[1], origin[3] if len(origin) > 3 else 0, ip, port)
    except (struct.error, IndexError, TypeError) as error:
        raise WireError(f"origin {origin!r} does not fit INPUT_ORIGIN: {error}") from None


def decode_origin(view, offset):
    """The Origin in an INPUT_ORIGIN at `offset` (ValueError if it is not one)."""
    code, message, session, number, token, previous, ip, port = _ORIGIN.unpack_from(view, offset)
    if code != _ORIGIN_CODE:
        raise ValueError(f"type {code:#04x} after the command, not INPUT_ORIGIN")
    if ip or port:
        peer = _peer_of.get((ip, port))
        if peer is None:
            peer = (socket.inet_ntoa(ip.to_bytes(4, "big")), port)
            if len(_peer_of) < 65536:
                _peer_of[(ip, port)] = peer
    else:
        peer = None
    return Origin(session, number, token, previous if message == _REPLACE_MESSAGE else None,
                  peer)


class OuchLogCodec:
    """OUCH's `LogOriginCodec` (host/net/order_entry_api.py): origins and gateway state."""

    protocol = OrderEntryProtocol.OUCH

    @staticmethod
    def decode_origin(view, first, end):
        """The Origin in the bytes view[first:end] (ValueError unless exactly one)."""
        if end - first != ORIGIN_SIZE:
            raise ValueError(f"{end - first} bytes, not an INPUT_ORIGIN's {ORIGIN_SIZE}")
        return decode_origin(view, first)

    @staticmethod
    def new_state():
        return GatewayState()

    @staticmethod
    def encode_state(state):
        return _encode_gateway(state)

    @staticmethod
    def decode_state(data):
        return _decode_gateway(memoryview(data))[0]

    @staticmethod
    def describe_origin(data):
        """{field: value} of an origin for `gatebook log dump`: the table's names, the
        message as its letter, the peer as IP:port."""
        fields = dict(zip((field.name for field in INPUT_ORIGIN.fields),
                          _ORIGIN.unpack_from(data, 0)[1:]))
        ip, port = fields.pop("peer_ip"), fields.pop("peer_port")
        fields["message"] = chr(fields["message"]) if fields["message"] else ""
        fields["peer"] = (f"{socket.inet_ntoa(ip.to_bytes(4, 'big'))}:{port}" if ip or port
                          else "none")
        return {"type": INPUT_ORIGIN.name, **fields}

    @staticmethod
    def summary(state):
        return (f"{len(state.order_ids)} client tokens, "
                f"{len(set(state.expected) | set(state.sequences))} sessions")


OUCH_LOG = OuchLogCodec()


def _ip(peer):
    """(IPv4 as a number, port) of a peer, or None for one that is not that."""
    try:
        ip, port = peer
        return int.from_bytes(socket.inet_aton(ip), "big"), int(port)
    except (TypeError, ValueError, OSError):
        return None


def _encode_gateway(gateway):
    # In the dicts' own order (sorting 670 k tuple keys would cost more than the rest).
    tokens, owners = gateway.order_ids.items(), gateway.owners.items()
    sessions = sorted(set(gateway.expected) | set(gateway.sequences) | set(gateway.peers))
    rows = []
    for session in sessions:
        expected, reply, peer = (gateway.expected.get(session), gateway.sequences.get(session),
                                 _ip(gateway.peers.get(session)))
        known = ((expected is not None) * _KNOWN_EXPECTED | (reply is not None) * _KNOWN_REPLY
                 | (peer is not None) * _KNOWN_PEER)
        expected = expected or 0
        ip, port = peer or (0, 0)
        rows.append((session, known, expected & (2**64 - 1), expected >> 64, reply or 0, ip, port))
    token, owner = _TOKEN.pack, _OWNER.pack
    return b"".join((
        _GATEWAY.pack(gateway.next_order_id, len(tokens), len(owners), len(sessions)),
        b"".join([token(session, client, order_id) for (session, client), order_id in tokens]),
        b"".join([owner(order_id, session, client) for order_id, (session, client) in owners]),
        b"".join(itertools.starmap(_SESSION.pack, rows))))


def _decode_gateway(body, offset=0):
    """(GatewayState, offset after it) of the gateway section at `offset`."""
    if offset + _GATEWAY.size > len(body):
        raise ValueError("gateway section missing")
    next_order_id, n_tokens, n_owners, n_sessions = _GATEWAY.unpack_from(body, offset)
    offset += _GATEWAY.size
    end = offset + n_tokens * _TOKEN.size + n_owners * _OWNER.size + n_sessions * _SESSION.size
    if end != len(body):
        raise ValueError("its length does not match its counts")
    state = GatewayState(next_order_id=next_order_id)
    stop = offset + n_tokens * _TOKEN.size
    state.order_ids = {(session, token): order_id for session, token, order_id
                       in _TOKEN.iter_unpack(body[offset:stop])}
    offset, stop = stop, stop + n_owners * _OWNER.size
    state.owners = {order_id: (session, token) for order_id, session, token
                    in _OWNER.iter_unpack(body[offset:stop])}
    offset = stop
    for index in range(n_sessions):
        session, known, low, high, reply, ip, port = _SESSION.unpack_from(
            body, offset + index * _SESSION.size)
        if known & _KNOWN_EXPECTED:
            state.expected[session] = high << 64 | low
        if known & _KNOWN_REPLY:
            state.sequences[session] = reply
        if known & _KNOWN_PEER:
            state.peers[session] = (socket.inet_ntoa(ip.to_bytes(4, "big")), port)
    return state, end
