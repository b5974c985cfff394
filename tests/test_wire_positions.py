"""gatebook.wire.positions: every field's tuple index comes from its table."""

import pytest

from gatebook.wire import (codec, ethernet, internal, itch50, link, link_frame, moldudp64,
                           ouch, positions, wal)
from gatebook.wire.layout import Field, Message

TABLES = [
    (positions.INTERNAL, internal), (positions.LINK, link), (positions.ITCH, itch50),
    (positions.OUCH, ouch), (positions.WAL, wal), (positions.MOLDUDP64, moldudp64),
    (positions.LINK_FRAME, link_frame), (positions.ETHERNET, ethernet),
]

MESSAGES = [(table, name, getattr(module, name))
            for table, module in TABLES for name in module.__all__
            if isinstance(getattr(module, name), Message)]


@pytest.mark.parametrize("table, name, message", MESSAGES,
                         ids=[f"{message.name}" for _, _, message in MESSAGES])
def test_every_field_index_matches_field_names(table, name, message):
    at = getattr(table, name)
    first = 0 if message.code is None else 1
    for offset, field_name in enumerate(message.field_names):
        assert getattr(at, field_name) == first + offset
    if message.code is not None:
        assert at.code == positions.CODE == 0
    assert len(at) == first + len(message.fields)
    assert sorted(dir(at)) == sorted(message.field_names + (("code",) if message.code is not None else ()))


def test_indexes_read_the_field_a_codec_decodes():
    """A record decoded from bytes has each value where its name says."""
    values = {name: index * 3 + 1 for index, name in enumerate(internal.EXECUTED.field_names)}
    record = (internal.EXECUTED.code,) + tuple(values[name] for name in internal.EXECUTED.field_names)
    decoded = codec.RecordCodec(internal.EXECUTED, "little").decode(
        codec.RecordCodec(internal.EXECUTED, "little").encode(record))
    for name, value in values.items():
        assert decoded[getattr(positions.INTERNAL.EXECUTED, name)] == value


def test_indexes_follow_a_changed_table():
    """A field added in front shifts every later index: no reader can be left behind."""
    before = Message("probe", ord("z"), (Field("seq", 8), Field("qty", 4)))
    after = Message("probe", ord("z"), (Field("seq", 8), Field("ts", 8), Field("qty", 4)))
    assert positions.positions_of(before).qty == 2
    assert positions.positions_of(after).qty == 3


def test_unknown_field_and_assignment_are_refused():
    with pytest.raises(AttributeError, match="no field 'aggressor'"):
        positions.INTERNAL.EXECUTED.aggressor
    with pytest.raises(AttributeError):
        positions.INTERNAL.EXECUTED.qty = 1
    with pytest.raises(AttributeError):
        positions.INTERNAL.EXECUTED = None


def test_a_field_named_code_is_refused_where_it_would_hide_the_type_byte():
    with pytest.raises(ValueError, match="code"):
        positions.positions_of(Message("bad", ord("b"), (Field("code", 1),)))
    assert positions.positions_of(Message("header", None, (Field("code", 1),))).code == 0


def test_indexes_are_plain_ints():
    """Bound into module constants they cost nothing on the hot path."""
    assert type(positions.INTERNAL.EXECUTED.aggressor_leaves) is int


def test_require_field_order_stops_an_import_built_on_an_old_order():
    positions.require_field_order(internal.CANCEL, ("seq", "ts", "order_id", "user"), "here")
    with pytest.raises(ImportError, match="here builds cancel"):
        positions.require_field_order(internal.CANCEL, ("seq", "ts", "user", "order_id"), "here")


def test_every_internal_and_link_record_with_a_seq_has_it_where_readers_take_it():
    """Readers take any command's or event's seq and ts at NEW_ORDER's positions."""
    seq, ts = positions.INTERNAL.NEW_ORDER.seq, positions.INTERNAL.NEW_ORDER.ts
    for message in internal.COMMANDS.messages + internal.EVENTS.messages + link.LINK_EVENTS.messages:
        at = positions.positions_of(message)
        assert (at.seq, at.ts) == (seq, ts), message.name
