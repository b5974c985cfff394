"""The gateware layouts are the wire tables: same fields, widths and offsets."""

import pytest

from gatebook.wire import codec, internal, link
from gatebook.hdl.driver import StreamCodec
from gatebook.hdl.layouts import COMMAND, ENTRY, EVENT, struct_layout

MESSAGES = (internal.COMMANDS.messages + internal.EVENTS.messages
            + link.LINK_COMMANDS.messages + link.LINK_EVENTS.messages)


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m.name)
def test_struct_matches_table(message):
    layout = struct_layout(message)
    assert layout.size == 8 * message.size
    assert layout["code"].offset == 0 and layout["code"].shape.width == 8
    offset = 1
    for field in message.fields:
        assert layout[field.name].offset == 8 * offset, field.name
        assert layout[field.name].shape.width == field.bits, field.name
        offset += field.width


def test_unions_hold_every_record():
    for union, protocols in ((COMMAND, (internal.COMMANDS, link.LINK_COMMANDS)),
                             (EVENT, (internal.EVENTS, link.LINK_EVENTS))):
        assert union["code"].shape.width == 8
        for protocol in protocols:
            for message in protocol.messages:
                if message.name in union.members:
                    assert union.size >= 8 * message.size


def test_entry_is_load_without_symbol_and_side():
    names = [f.name for f in link.ENTRY_FIELDS if f.name not in ("symbol", "side")]
    assert list(ENTRY.members) == names
    assert ENTRY.size == 8 * sum(link.LOAD.field(n).width for n in names)


ON_STREAMS = [(COMMAND, m) for m in MESSAGES if m.name in COMMAND.members] + \
             [(EVENT, m) for m in MESSAGES if m.name in EVENT.members]


@pytest.mark.parametrize("union, message", ON_STREAMS, ids=lambda x: getattr(x, "name", ""))
def test_payload_bytes_are_the_wire_bytes(union, message):
    """The payload integer, little-endian, is the record's wire encoding."""
    stream = StreamCodec(union)
    record = (message.code,) + tuple((i * 0x9E37_79B9 + 1) % (1 << f.bits)
                                     for i, f in enumerate(message.fields))
    value = stream.encode(record)
    wire = codec.RecordCodec(message, "little").encode(record)
    assert value.to_bytes(union.size // 8, "little")[:message.size] == wire
    assert stream.decode(value) == record


def test_event_beat_carries_one_or_two_records():
    """`o` beats: `first` at bit 0, `second` (LEVEL, CANCELLED or TRADE) after it, then `pair`."""
    from amaranth.hdl import Fragment

    from gatebook.hdl.driver import MatcherCodec
    from gatebook.hdl.layouts import EVENT_PAIR
    from gatebook.hdl.matcher import Matcher

    dut = Matcher(2)
    codec = MatcherCodec(dut)
    Fragment.get(dut, None)             # elaborated, so Amaranth does not warn it went unused
    assert EVENT_PAIR["first"].offset == 0
    assert EVENT_PAIR["second"].offset == EVENT.size
    assert codec.beat_width == EVENT_PAIR.size
    accepted = (internal.ACCEPTED.code, 7, 70, 1, 99, 3, 0, 0, 1, 10_000, 0, 10)
    level = (internal.LEVEL.code, 7, 70, 1, 0, 10_000, 25, 2)
    one = codec.events.encode(accepted)
    two = one | codec.second.encode(level) << EVENT_PAIR["second"].offset \
        | 1 << EVENT_PAIR["pair"].offset
    assert codec.decode_beat(one) == [accepted]
    assert codec.decode_beat(two) == [accepted, level]
