"""The order-entry protocols' part of the log: each command's origin, each protocol's state.

# Ref: gatebook/wire/wal.py (ORIGIN_HEADER, SNAPSHOT_ENTRY_STATE), docs/durability.md
#      ("The order-entry state").

A command that came from order entry is logged with its origin: which
protocol it came through (an id, `gatebook.wire.enums.OrderEntryProtocol`)
and that protocol's own bytes (for OUCH the session, the message number,
the client tokens, the peer; for FIX its string ClOrdIDs). The log carries
those bytes and never reads them: what they mean, and the state a gateway
rebuilds from them, belong to the protocol, which hands the log a
*log-origin codec* (`gatebook.host.net.order_entry_api.LogOriginCodec`).

This package imports no protocol (layering: `tests/test_layers.py`), so
whoever assembles an exchange or reads a log registers the codecs:
`register_origin_codec(codec)` (the protocol's package does it when
imported: `import gatebook.host.ouch`), or passes them to `recover` and
`JournaledExchange` as `origin_codecs`. A log holding an origin of a
protocol with no codec is refused (`UnknownOrigin`): recovering it would
silently lose that protocol's clients' tokens and numbering.

`EntryStates` holds one state per codec and replays each logged command
into all of them: a protocol's state also hears the events of other
protocols' commands (a fill of its resting order by another protocol's
order), with `origin` None for those.
"""

import struct

from gatebook.wire.codec import WireError
from gatebook.wire.enums import OrderEntryProtocol
from gatebook.wire.wal import INPUT_ORIGIN, LEGACY_ORIGIN_PROTOCOL, ORIGIN_HEADER, ORIGIN_MAX_BYTES

from .format import struct_of
from .snapshot import SnapshotError

__all__ = ["register_origin_codec", "registered_codecs", "UnknownOrigin", "EntryStates",
           "encode_origin", "split_origin", "protocol_name", "ORIGIN_HEADER_SIZE"]

_HEADER = struct_of(ORIGIN_HEADER, "little")
ORIGIN_HEADER_SIZE = _HEADER.size
_HEADER_CODE = ORIGIN_HEADER.code
_LEGACY_SIZE = struct_of(INPUT_ORIGIN, "little").size
_LEGACY_CODE = INPUT_ORIGIN.code

_registered = {}                    # protocol id -> codec


def register_origin_codec(codec):
    """Make `codec` (a LogOriginCodec) the reader of its protocol's origins and state.

    Registering another codec for the same protocol id replaces it.
    """
    _registered[int(codec.protocol)] = codec


def registered_codecs():
    """{protocol id: codec} of every registered log-origin codec."""
    return dict(_registered)


def protocol_name(protocol):
    """A protocol id in words: its enum name, or `private protocol N`."""
    try:
        return OrderEntryProtocol(protocol).name
    except ValueError:
        return f"protocol {protocol}"


class UnknownOrigin(ValueError):
    """A log or snapshot holds an order-entry protocol's state that no codec reads."""

    def __init__(self, protocol, where):
        self.protocol = protocol
        super().__init__(
            f"{where} came through order-entry {protocol_name(protocol)} (id {protocol}), "
            f"which no registered log-origin codec reads; recovering without it would lose "
            f"that protocol's client state. Register its codec (import the protocol's "
            f"package, or pass origin_codecs=) and recover again.")


def encode_origin(protocol, data):
    """ORIGIN_HEADER and `data`: the origin bytes an INPUT record holds after its command."""
    if not 0 < protocol < 256 or len(data) > ORIGIN_MAX_BYTES:
        raise WireError(f"origin of protocol {protocol}, {len(data)} bytes: does not fit "
                        f"ORIGIN_HEADER (ids 1..255, at most {ORIGIN_MAX_BYTES} bytes)")
    return _HEADER.pack(_HEADER_CODE, protocol, len(data)) + data


def split_origin(view, start, stop, version):
    """(protocol, first, end) of the protocol's bytes in the origin at view[start:stop].

    A version 4 segment's origin is ORIGIN_HEADER then exactly `length` bytes;
    a version 2 or 3 segment's is OUCH's INPUT_ORIGIN alone. ValueError otherwise.
    `version` None takes either, by the type byte (a replication stream does
    not say which version the primary's segment is).
    """
    if version is None:
        version = 3 if view[start] == _LEGACY_CODE else 4
    if version < 4:
        if stop - start != _LEGACY_SIZE:
            raise ValueError(f"{stop - start} bytes after the command")
        return LEGACY_ORIGIN_PROTOCOL, start, stop
    try:
        code, protocol, length = _HEADER.unpack_from(view, start)
    except struct.error:
        raise ValueError("origin header truncated") from None
    if code != _HEADER_CODE:
        raise ValueError(f"type {code:#04x} after the command, not ORIGIN_HEADER")
    first = start + ORIGIN_HEADER_SIZE
    if first + length != stop:
        raise ValueError(f"origin says {length} bytes, {stop - first} follow")
    return protocol, first, stop


class EntryStates:
    """The order-entry protocols' states as of one command, one per codec.

    Parameters
    ----------
    codecs : dict or None
        {protocol id: LogOriginCodec}; None: the registered ones.
    """

    def __init__(self, codecs=None):
        self.codecs = dict(registered_codecs() if codecs is None else codecs)
        self.states = {protocol: codec.new_state() for protocol, codec in self.codecs.items()}
        self.origins = 0                    # commands replayed with an origin

    def __getitem__(self, protocol):
        return self.states[int(protocol)]

    def get(self, protocol, default=None):
        return self.states.get(int(protocol), default)

    def decode(self, view, first, end, protocol, seq):
        """The protocol's origin object of the bytes view[first:end] (UnknownOrigin
        without its codec, ValueError when they are not one)."""
        codec = self.codecs.get(protocol)
        if codec is None:
            raise UnknownOrigin(protocol, f"the command of seq {seq}")
        return codec.decode_origin(view, first, end)

    def replay(self, command, protocol, origin, events):
        """One logged command: its origin (`protocol`'s object, or None) and events."""
        for each, state in self.states.items():
            state.replay(command, origin if each == protocol else None, events)

    def restore(self, raw, where):
        """Take the states of a snapshot ({protocol: bytes}); UnknownOrigin without a codec,
        SnapshotError if a codec refuses its bytes."""
        for protocol, data in raw.items():
            codec = self.codecs.get(protocol)
            if codec is None:
                raise UnknownOrigin(protocol, f"the state in {where}")
            try:
                self.states[protocol] = codec.decode_state(data)
            except (ValueError, struct.error) as error:
                raise SnapshotError(f"{where}: {protocol_name(protocol)} state unreadable: "
                                    f"{error}") from None

    def copy(self):
        twin = EntryStates(self.codecs)
        twin.states = {protocol: state.copy() for protocol, state in self.states.items()}
        return twin

    def export(self):
        """{protocol: callable returning its state's bytes}, for a snapshot (encoded later)."""
        frozen = self.copy().states
        return {protocol: (lambda codec=self.codecs[protocol], state=state:
                           codec.encode_state(state))
                for protocol, state in frozen.items()}

    def lines(self):
        """One line per protocol for a recovery report."""
        for protocol, state in self.states.items():
            yield f"{protocol_name(protocol).lower()}: {self.codecs[protocol].summary(state)}"
