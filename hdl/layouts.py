"""Amaranth layouts derived from the wire tables (STYLE principle 1).

Every record is a `data.StructLayout` whose members are the table's fields
in table order, each `unsigned(8 * width)`, after a leading 8-bit `code`
member for the type byte. The tables are little-endian, so byte k of a
record is bits 8k..8k+7 of its struct and nothing here swaps bytes
(STYLE principle 2). Streams that carry several record kinds use a
`data.UnionLayout` of these structs: the type byte is bits 0..7 of every
member, so a core reads `payload.code` first and then the member it names.
"""

from amaranth.hdl import unsigned
from amaranth.lib import data

from gatebook.wire import internal, link

__all__ = [
    "struct_layout", "union_layout", "entry_layout", "entry_slot_layout",
    "COMMAND", "EVENT", "EVENT_PAIR", "ENTRY", "ENTRY_KEY_FIELDS",
]


def struct_layout(message, fields=None):
    """The `data.StructLayout` of one wire-table message.

    Parameters
    ----------
    message : gatebook.wire.layout.Message
        The table entry.
    fields : iterable of str, optional
        Keep only these fields (in table order) and leave out the type byte;
        for storage records such as window entries.
    """
    members = {}
    if fields is None:
        if message.code is not None:
            members["code"] = unsigned(8)
        chosen = message.fields
    else:
        wanted = set(fields)
        chosen = [field for field in message.fields if field.name in wanted]
        if len(chosen) != len(wanted):
            raise KeyError(f"{message.name} lacks {sorted(wanted - {f.name for f in chosen})}")
    for field in chosen:
        members[field.name] = unsigned(field.bits)
    return data.StructLayout(members)


def union_layout(*messages):
    """A `data.UnionLayout`: `code` (the type byte), then one struct per message, by name."""
    members = {"code": unsigned(8)}
    members.update((message.name, struct_layout(message)) for message in messages)
    return data.UnionLayout(members)


# What the matching pipeline reads and writes.
COMMAND = union_layout(internal.NEW_ORDER, internal.CANCEL, internal.REPLACE,
                       internal.MASS_CANCEL, internal.ADMIN, link.LOAD, link.OWN, link.HOST,
                       link.ROUTE)
EVENT = union_layout(internal.ACCEPTED, internal.REJECTED, internal.EXECUTED,
                     internal.CANCELLED, internal.REPLACED, internal.TRADE, internal.LEVEL,
                     internal.DONE, link.FLUSH, link.SPILL, link.PUNT)
# One beat of the event port: one record, or two (`pair` = 1) where two fit one
# clock: ACCEPTED+LEVEL (a resting add), ACCEPTED+CANCELLED (a FOK kill, an IOC
# with nothing to hit), CANCELLED+LEVEL, REPLACED+LEVEL, EXECUTED+TRADE (a fill).
# The second record is only ever a LEVEL, CANCELLED or TRADE, so its slot is that
# narrow.
EVENT_PAIR = data.StructLayout({
    "first":  EVENT,
    "second": union_layout(internal.LEVEL, internal.CANCELLED, internal.TRADE),
    "pair":   unsigned(1),
})


def entry_layout():
    """A resting order in a window: the LOAD record without type byte, symbol and side."""
    return struct_layout(link.LOAD, [f.name for f in link.ENTRY_FIELDS
                                     if f.name not in ("symbol", "side")])


ENTRY = entry_layout()


ENTRY_KEY_FIELDS = ("price", "qty")
"""The entry fields a window shifts to keep price-time order; the rest stay in a slot."""


def entry_slot_layout():
    """What a window keeps of an entry in its slot, which never moves: every field but the key."""
    return struct_layout(link.LOAD, [name for name in ENTRY.members
                                     if name not in ENTRY_KEY_FIELDS])
