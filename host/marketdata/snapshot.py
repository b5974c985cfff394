"""The book every subscriber holds, kept from the feed itself, and the snapshot that shows it.

# Ref: NASDAQ TotalView-ITCH 5.0 sections 4.1-4.5; NASDAQ GLIMPSE 5.0 (a
#      snapshot of the book as ITCH messages, then End of Snapshot with the
#      sequence number to continue from).

`SnapshotBook` applies the ITCH records the publisher sends, so it holds
exactly what a subscriber that saw every message holds: system events,
stock directory, trading states and every displayed order (its feed
reference number, shares left, price), in arrival order, which is time
priority within a level. Being built from the feed and not from the engine,
it can never disagree with the sequence number it is taken at.

`encode_snapshot` frames those records as ITCH BinaryFILE (a 2-byte length
before each message) and ends them with GLIMPSE's End of Snapshot;
`decode_snapshot` reads such a stream back.
"""

from gatebook.wire import itch50
from gatebook.wire.codec import ProtocolCodec, RecordCodec, WireError
from gatebook.wire.mdrecovery import END_OF_SNAPSHOT, GLIMPSE
from gatebook.wire.positions import CODE, ITCH

__all__ = ["SnapshotBook", "encode_snapshot", "decode_snapshot", "MAX_SNAPSHOT_MESSAGE"]

_ITCH = ProtocolCodec(itch50.ITCH50)
_END = RecordCodec(END_OF_SNAPSHOT, GLIMPSE.byte_order)
_LENGTH = RecordCodec(itch50.BINARYFILE_LENGTH, itch50.BINARYFILE.byte_order)
# The longest message a snapshot holds; a longer length prefix is not ours.
MAX_SNAPSHOT_MESSAGE = max(message.size
                           for message in itch50.ITCH50.messages + GLIMPSE.messages)

_SYSTEM, _DIRECTORY = itch50.SYSTEM_EVENT.code, itch50.STOCK_DIRECTORY.code
_ACTION, _ADD, _ADD_MPID = (itch50.STOCK_TRADING_ACTION.code, itch50.ADD_ORDER.code,
                            itch50.ADD_ORDER_MPID.code)
_EXECUTED, _EXECUTED_PRICE = itch50.ORDER_EXECUTED.code, itch50.ORDER_EXECUTED_WITH_PRICE.code
_CANCEL, _DELETE, _REPLACE = (itch50.ORDER_CANCEL.code, itch50.ORDER_DELETE.code,
                              itch50.ORDER_REPLACE.code)

_EVENT_CODE = ITCH.SYSTEM_EVENT.event_code
_LOCATE = ITCH.STOCK_DIRECTORY.stock_locate      # the same place in every ITCH message
_ADD_FIELDS = ITCH.ADD_ORDER
_MPID_FIELDS = ITCH.ADD_ORDER_MPID
_REPLACE_FIELDS = ITCH.ORDER_REPLACE
_REF = ITCH.ORDER_DELETE.order_ref               # the same place in E, C, X, D
_EXECUTED_SHARES = ITCH.ORDER_EXECUTED.executed_shares
_EXECUTED_PRICE_SHARES = ITCH.ORDER_EXECUTED_WITH_PRICE.executed_shares
_CANCELLED_SHARES = ITCH.ORDER_CANCEL.cancelled_shares
assert _LOCATE == ITCH.ADD_ORDER.stock_locate == ITCH.STOCK_TRADING_ACTION.stock_locate
assert _REF == ITCH.ORDER_EXECUTED.order_ref == ITCH.ORDER_CANCEL.order_ref \
    == ITCH.ORDER_EXECUTED_WITH_PRICE.order_ref


class SnapshotBook:
    """What a subscriber that saw every ITCH message so far holds.

    Attributes
    ----------
    orders : dict
        Feed order reference -> Add Order record (a list; its shares are the
        shares left), in arrival order.
    """

    def __init__(self):
        self.events = {}          # system event code -> record, in the order first seen
        self.directory = {}       # stock locate -> Stock Directory record
        self.actions = {}         # stock locate -> latest Stock Trading Action record
        self.orders = {}

    def apply_all(self, records):
        """`apply` each of `records`, in order."""
        for record in records:
            self.apply(record)

    def apply(self, record):
        """Take one ITCH record tuple as a subscriber would (others are ignored)."""
        code = record[CODE]
        if code in (_EXECUTED, _EXECUTED_PRICE, _CANCEL):
            shares = record[_CANCELLED_SHARES if code == _CANCEL else
                            _EXECUTED_SHARES if code == _EXECUTED else _EXECUTED_PRICE_SHARES]
            order = self.orders[record[_REF]]
            order[_ADD_FIELDS.shares] -= shares
            if order[_ADD_FIELDS.shares] <= 0:
                del self.orders[record[_REF]]
        elif code == _ADD:
            self.orders[record[_ADD_FIELDS.order_ref]] = list(record)
        elif code == _DELETE:
            del self.orders[record[_REF]]
        elif code == _REPLACE:
            old = self.orders.pop(record[_REPLACE_FIELDS.original_order_ref])
            new = list(old)
            for name in ("tracking_number", "timestamp", "shares", "price"):
                new[getattr(_ADD_FIELDS, name)] = record[getattr(_REPLACE_FIELDS, name)]
            new[_ADD_FIELDS.order_ref] = record[_REPLACE_FIELDS.new_order_ref]
            self.orders[record[_REPLACE_FIELDS.new_order_ref]] = new
        elif code == _ADD_MPID:
            # Shown as a plain Add Order: the snapshot carries no attribution.
            self.orders[record[_MPID_FIELDS.order_ref]] = [_ADD] + [
                record[getattr(_MPID_FIELDS, name)] for name in itch50.ADD_ORDER.field_names]
        elif code == _SYSTEM:
            self.events[record[_EVENT_CODE]] = record
        elif code == _DIRECTORY:
            self.directory[record[_LOCATE]] = record
        elif code == _ACTION:
            self.actions[record[_LOCATE]] = record

    def records(self):
        """The ITCH records that rebuild this book: system events, the stock
        directory, trading states, then an Add Order per displayed order in
        arrival order (time priority within each level)."""
        return (list(self.events.values())
                + [self.directory[locate] for locate in sorted(self.directory)]
                + [self.actions[locate] for locate in sorted(self.actions)]
                + [tuple(order) for order in self.orders.values()])


def encode_snapshot(records, next_sequence):
    """The snapshot stream: each ITCH record length-prefixed, then End of Snapshot."""
    parts = []
    for message in [_ITCH.encode(record) for record in records] + [
            _END.encode((END_OF_SNAPSHOT.code, str(next_sequence)))]:
        parts.append(_LENGTH.encode((len(message),)))
        parts.append(message)
    return b"".join(parts)


def decode_snapshot(data):
    """(ITCH records, next sequence number) of a whole snapshot stream.

    Raises `WireError` when a message is cut short, too long or unknown, or
    the stream does not end with exactly one End of Snapshot.
    """
    view, position, records = memoryview(data), 0, []
    while position < len(view):
        if position + _LENGTH.size > len(view):
            raise WireError(f"snapshot: length prefix cut short at offset {position}")
        (length,) = _LENGTH.decode(bytes(view[position:position + _LENGTH.size]))
        start, position = position + _LENGTH.size, position + _LENGTH.size + length
        if not 0 < length <= MAX_SNAPSHOT_MESSAGE or position > len(view):
            raise WireError(f"snapshot: a {length}-byte message at offset {start}")
        message = bytes(view[start:position])
        if message[0] == END_OF_SNAPSHOT.code:
            if position != len(view):
                raise WireError(f"snapshot: {len(view) - position} bytes after End of Snapshot")
            sequence = _END.decode(message)[1]
            if not sequence.isdigit():
                raise WireError(f"snapshot: End of Snapshot sequence {sequence!r} is not a number")
            return records, int(sequence)
        records.append(_ITCH.decode(message))
    raise WireError("snapshot: no End of Snapshot (the stream was cut)")
