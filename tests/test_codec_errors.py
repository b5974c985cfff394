"""Encoding a bad record raises WireError with a message, never anything else,
and never quietly writes bytes that are not the record."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatebook.wire import internal
from gatebook.wire.codec import ProtocolCodec, RecordCodec, WireError
from gatebook.wire.enums import Side
from gatebook.wire.itch50 import ADD_ORDER, ITCH50

ITCH = ProtocolCodec(ITCH50)
EVENTS = ProtocolCodec(internal.EVENTS)
ADD = (ord("A"), 1, 0, 5, 1, "B", 100, "AAPL", 1500000)


def _with(record, index, value):
    return record[:index] + (value,) + record[index + 1:]


@pytest.mark.parametrize("record, complaint", [
    (_with(ADD, 5, Side.SELL),  "side: .* not ASCII text"),   # bytes(1) was one NUL
    (_with(ADD, 5, Side.BUY),   "side: .* not ASCII text"),   # bytes(0) was a space
    (_with(ADD, 7, "ÄPL"),      "stock: .* not ASCII text"),
    (_with(ADD, 7, None),       "stock: .* not ASCII text"),
    (_with(ADD, 7, "ABCDEFGHI"), "longer than 8 bytes"),
    (_with(ADD, 3, -1),         "timestamp: -1 does not fit 48 bits"),
    (_with(ADD, 3, 1 << 48),    "does not fit 48 bits"),
    (_with(ADD, 3, "noon"),     "does not fit 48 bits"),
    (_with(ADD, 6, 1 << 32),    "add_order"),
    (ADD[:4],                   "4 values, expected 9"),
    (ADD + (0,),                "10 values, expected 9"),
    (5,                         "no message type"),
    (None,                      "no message type"),
    ((),                        "no message type"),
])
def test_protocol_encode_refuses(record, complaint):
    with pytest.raises(WireError, match=complaint):
        ITCH.encode(record)


def test_record_codec_refuses_another_messages_code():
    # The bytes would carry type "D" over an add order's layout.
    with pytest.raises(WireError, match="type code 68, expected 0x41"):
        RecordCodec(ADD_ORDER, "big").encode(_with(ADD, 0, ord("D")))
    executed = RecordCodec(internal.EXECUTED, "little")
    with pytest.raises(WireError, match="type code 88"):
        executed.encode((ord("X"),) + (0,) * len(internal.EXECUTED.fields))


def test_alpha_accepts_ascii_bytes():
    assert ITCH.encode(_with(ADD, 7, b"AAPL")) == ITCH.encode(ADD)


_VALUES = (st.integers(-2, 1 << 66) | st.integers(0, 300) | st.text(max_size=10)
           | st.binary(max_size=10) | st.none() | st.floats(allow_nan=False)
           | st.sampled_from(list(Side)))


def _junk(examples):
    """Junk records for every codec, `examples` of them (derandomized: the same each run)."""
    return lambda test: pytest.mark.parametrize("codec", [ITCH, EVENTS], ids=["itch", "events"])(
        settings(derandomize=True, database=None, deadline=None, max_examples=examples)(
            given(data=st.data())(test)))


# The default run draws 150 records per codec; the long run (--run-long) 400.
@_junk(150)
def test_encode_junk(codec, data):
    _check_junk(codec, data)


@pytest.mark.long
@_junk(400)
def test_encode_junk_long(codec, data):
    _check_junk(codec, data)


def _check_junk(codec, data):
    message = data.draw(st.sampled_from([c.message for c in codec.by_code.values()]))
    arity = len(message.fields)
    values = data.draw(st.lists(_VALUES, min_size=arity - 1, max_size=arity + 1))
    record = (message.code, *values)
    try:
        raw = codec.encode(record)
    except WireError as error:
        assert str(error).strip()
        return
    assert len(raw) == message.size
    decoded = codec.decode(raw)
    assert codec.encode(decoded) == raw
