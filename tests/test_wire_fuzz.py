"""Fuzzing the derived decoders, and random round trips through every codec.

A decoder given any bytes either returns records or raises `WireError` with a
message; any other exception is a bug. Valid field values for every message
of every protocol encode and decode back to the same tuple. Hypothesis runs
derandomized and without its example database, so every run is the same run.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatebook.wire import internal, mold
from gatebook.wire.codec import ProtocolCodec, WireError
from gatebook.wire.itch50 import ITCH50
from gatebook.wire.layout import ALPHA

from wire_vectors import load

PROTOCOLS = (ITCH50, internal.COMMANDS, internal.EVENTS)
CODECS = {protocol.name: ProtocolCodec(protocol) for protocol in PROTOCOLS}
ITCH = CODECS[ITCH50.name]

# Golden vectors as (bytes, codec); internal ones go to both internal codecs,
# so each is also fed to the protocol it does not belong to.
ITCH_SINGLE = [(vector.data, ITCH) for vector in load("itch50.txt").values()]

SINGLE = (ITCH_SINGLE +
          [(vector.data, codec) for vector in load("internal.txt").values()
           for codec in (CODECS[internal.COMMANDS.name], CODECS[internal.EVENTS.name])])
PACKETS = [vector.data for vector in load("moldudp64.txt").values()]

FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=300,
                suppress_health_check=[HealthCheck.too_slow])


def _each_codec():
    return pytest.mark.parametrize("codec", list(CODECS.values()), ids=list(CODECS))


# -- the contract ------------------------------------------------------------

def _decode(codec, data):
    """ProtocolCodec.decode under the contract; any decoded bytes re-encode exactly."""
    try:
        record = codec.decode(data)
    except WireError as error:
        assert str(error).strip(), "WireError without a message"
        return None
    assert isinstance(record, tuple)
    assert codec.encode(record) == bytes(data)
    return record


def _decode_stream(codec, data):
    records = []
    try:
        for record in codec.decode_stream(data):
            records.append(record)
    except WireError as error:
        assert str(error).strip(), "WireError without a message"
    assert b"".join(codec.encode(record) for record in records) == bytes(data)[:sum(
        codec.by_code[record[0]].size for record in records)]
    return records


def _parse(data):
    try:
        packet = mold.parse(data)
    except WireError as error:
        assert str(error).strip(), "WireError without a message"
        return None
    if packet.is_end_of_session:
        rebuilt = mold.end_of_session(packet.session, packet.sequence_number)
    else:
        assert packet.message_count == len(packet.messages)
        rebuilt = mold.build(packet.session, packet.sequence_number, packet.messages)
    assert rebuilt == bytes(data)
    for message in packet.messages:
        _decode(ITCH, message)
    return packet


# -- random bytes ------------------------------------------------------------

@_each_codec()
@FUZZ
@given(data=st.binary(max_size=80))
def test_decode_random_bytes(codec, data):
    _decode(codec, data)
    _decode_stream(codec, data)


@_each_codec()
@FUZZ
@given(st.data())
def test_decode_random_body_after_a_valid_type(codec, data):
    # A known type byte and a body of about the right length reaches the field
    # decoding (ALPHA fields, the split timestamp) that random bytes rarely do.
    message_codec = data.draw(st.sampled_from(list(codec.by_code.values())))
    size = message_codec.size
    body = data.draw(st.binary(min_size=max(0, size - 3), max_size=size + 2))
    raw = bytes([message_codec.message.code]) + body
    record = _decode(codec, raw)
    if len(raw) == size:
        # Exactly one message long: only non-ASCII text may refuse it.
        assert record is not None or any(byte > 0x7F for byte in body)
    _decode_stream(codec, raw)


@FUZZ
@given(data=st.binary(max_size=120))
def test_parse_random_bytes(data):
    _parse(data)


@FUZZ
@given(header=st.binary(min_size=mold.HEADER_SIZE - 2, max_size=mold.HEADER_SIZE - 2),
       count=st.integers(0, 4) | st.just(mold.END_OF_SESSION_COUNT),
       blocks=st.lists(st.tuples(st.integers(0, 0xFFFF) | st.integers(0, 40),
                                 st.binary(max_size=40)), max_size=4),
       tail=st.binary(max_size=3))
def test_parse_random_blocks(header, count, blocks, tail):
    # A random header with a plausible count, then blocks whose length prefix
    # may or may not match what follows.
    data = header + count.to_bytes(2, "big")
    for length, payload in blocks:
        data += length.to_bytes(2, "big") + payload
    _parse(data + tail)


# -- truncations and mutations of the golden vectors ---------------------------

@pytest.mark.parametrize("index", range(len(SINGLE)))
def test_every_truncation_is_refused(index):
    data, codec = SINGLE[index]
    for end in range(len(data)):
        with pytest.raises(WireError, match=r"\S"):
            codec.decode(data[:end])
        if end:
            with pytest.raises(WireError, match=r"\S"):
                list(codec.decode_stream(data[:end]))


@pytest.mark.parametrize("index", range(len(PACKETS)))
def test_every_packet_truncation_is_refused(index):
    data = PACKETS[index]
    for end in range(len(data)):
        with pytest.raises(WireError, match=r"\S"):
            mold.parse(data[:end])


def _mutate(data, draw):
    """Overwrite, insert or delete a few bytes of `data`."""
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["set", "insert", "delete"]))
        position = draw(st.integers(0, len(data)))
        if kind == "set" and position < len(data):
            data[position] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=3))
        elif kind == "delete" and data:
            del data[position:position + draw(st.integers(1, 3))]
    return bytes(data)


@FUZZ
@given(st.data())
def test_decode_mutated_vectors(data):
    vector, codec = data.draw(st.sampled_from(SINGLE))
    mutated = _mutate(vector, data.draw)
    _decode(codec, mutated)
    _decode_stream(codec, mutated)


@FUZZ
@given(st.data())
def test_decode_stream_of_mutated_vectors(data):
    vectors = data.draw(st.lists(st.sampled_from(ITCH_SINGLE), min_size=1, max_size=5))
    stream = _mutate(b"".join(vector for vector, _ in vectors), data.draw)
    _decode_stream(ITCH, stream)


@FUZZ
@given(st.data())
def test_parse_mutated_packets(data):
    _parse(_mutate(data.draw(st.sampled_from(PACKETS)), data.draw))


# -- random round trips ------------------------------------------------------

def _field_values(field):
    if field.kind == ALPHA:
        # Any ASCII; trailing spaces are padding, so a value never ends in one.
        text = st.text(st.characters(max_codepoint=0x7F), max_size=field.width)
        return text.map(lambda value: value.rstrip(" "))
    return st.integers(0, (1 << field.bits) - 1)


def _records(message):
    return st.tuples(st.just(message.code), *map(_field_values, message.fields))


MESSAGES = [(protocol, message) for protocol in PROTOCOLS for message in protocol.messages]


@pytest.mark.parametrize("protocol, message", MESSAGES,
                         ids=[f"{p.name}:{m.name}" for p, m in MESSAGES])
def test_round_trip(protocol, message):
    codec = CODECS[protocol.name]

    @settings(FUZZ, max_examples=60)
    @given(_records(message))
    def round_trip(record):
        raw = codec.encode(record)
        assert len(raw) == message.size
        assert codec.decode(raw) == record
        assert list(codec.decode_stream(raw + raw)) == [record, record]

    round_trip()


@FUZZ
@given(session=st.text(st.characters(max_codepoint=0x7F), max_size=10).map(lambda s: s.rstrip(" ")),
       sequence_number=st.integers(0, (1 << 64) - 1),
       records=st.lists(st.sampled_from(ITCH50.messages).flatmap(_records), max_size=5))
def test_packet_round_trip(session, sequence_number, records):
    raw = mold.build(session, sequence_number, [ITCH.encode(record) for record in records])
    packet = mold.parse(raw)
    assert (packet.session, packet.sequence_number, packet.message_count) == \
        (session, sequence_number, len(records))
    assert [ITCH.decode(message) for message in packet.messages] == records
    assert packet.is_heartbeat == (not records)
