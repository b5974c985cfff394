"""The derived codecs against the hand-written golden vectors in tests/vectors/.

Every vector decodes to its expected fields and re-encodes byte for byte; the
offsets typed beside each field agree with the offsets derived from the
tables; the message sizes the tables give equal the sizes the specs state.
"""

import pytest

from gatebook.wire import internal, mold
from gatebook.wire.codec import ProtocolCodec, RecordCodec
from gatebook.wire.itch50 import ITCH50
from gatebook.wire.moldudp64 import BLOCK_LENGTH, HEADER, MOLDUDP64

from wire_vectors import load

ITCH = ProtocolCodec(ITCH50)
ITCH_VECTORS = load("itch50.txt")
MOLD_VECTORS = load("moldudp64.txt")
INTERNAL_VECTORS = load("internal.txt")

# Each single-message vector with the message and codec it names. Names are
# unique within a protocol family, not across them (ITCH and internal both
# have a "trade"), so each file is looked up in its own protocols only.
SINGLE = {}
for _vectors, _protocols in ((ITCH_VECTORS, (ITCH50,)),
                             (INTERNAL_VECTORS, (internal.COMMANDS, internal.EVENTS))):
    _known = {message.name: (message, ProtocolCodec(protocol))
              for protocol in _protocols for message in protocol.messages}
    for _vector in _vectors.values():
        SINGLE[_vector.name] = (_vector,) + _known[_vector.message]
assert len(SINGLE) == len(ITCH_VECTORS) + len(INTERNAL_VECTORS), "vector names must be unique"

# Lengths as printed in the specs, typed here rather than derived.
ITCH_SPEC_SIZES = {"S": 12, "R": 39, "H": 25, "A": 36, "F": 40, "E": 31,
                   "C": 36, "X": 23, "D": 19, "U": 35, "P": 44}
MOLD_HEADER_SPEC_SIZE = 20
MOLD_BLOCK_LENGTH_SPEC_SIZE = 2


def _layout(message):
    """(offset, name, width) for the type byte and every field, from the table."""
    rows, offset = [], 0
    if message.code is not None:
        rows.append((0, "type", 1))
        offset = 1
    for field in message.fields:
        rows.append((offset, field.name, field.width))
        offset += field.width
    return rows


def _expected(message, vector):
    assert tuple(vector.fields) == message.field_names, \
        f"{vector.where}: fields must be the table's, in table order"
    return (message.code,) + tuple(vector.fields.values())


def _params(vectors):
    return pytest.mark.parametrize("vector", list(vectors.values()), ids=list(vectors))


# -- sizes ------------------------------------------------------------------

def test_itch_sizes_match_spec():
    sizes = {chr(message.code): message.size for message in ITCH50.messages}
    assert sizes == ITCH_SPEC_SIZES
    for code, codec in ITCH.by_code.items():
        assert codec.size == ITCH_SPEC_SIZES[chr(code)]


def test_moldudp64_sizes_match_spec():
    assert HEADER.size == MOLD_HEADER_SPEC_SIZE
    assert BLOCK_LENGTH.size == MOLD_BLOCK_LENGTH_SPEC_SIZE
    assert RecordCodec(HEADER, MOLDUDP64.byte_order).size == MOLD_HEADER_SPEC_SIZE
    assert mold.HEADER_SIZE == MOLD_HEADER_SPEC_SIZE


def test_every_itch_message_has_vectors():
    covered = {vector.message for vector in ITCH_VECTORS.values()}
    assert covered == {message.name for message in ITCH50.messages}


# -- single messages (ITCH and internal) ----------------------------------

@_params(ITCH_VECTORS | INTERNAL_VECTORS)
def test_vector_layout_matches_table(vector):
    _, message, _ = SINGLE[vector.name]
    assert list(vector.layout) == _layout(message)
    assert len(vector.data) == message.size


@_params(ITCH_VECTORS | INTERNAL_VECTORS)
def test_vector_decodes_and_reencodes(vector):
    _, message, codec = SINGLE[vector.name]
    expected = _expected(message, vector)
    assert codec.decode(vector.data) == expected
    assert codec.encode(expected) == vector.data
    assert codec.by_name[vector.message].decode(vector.data) == expected
    assert list(codec.decode_stream(vector.data)) == [expected]


def test_itch_stream_of_every_vector():
    vectors = list(ITCH_VECTORS.values())
    stream = b"".join(vector.data for vector in vectors)
    expected = [_expected(ITCH.by_name[vector.message].message, vector) for vector in vectors]
    assert list(ITCH.decode_stream(stream)) == expected
    assert list(ITCH.decode_stream(bytearray(stream))) == expected


# -- MoldUDP64 packets ------------------------------------------------------

@_params(MOLD_VECTORS)
def test_packet_header_layout_matches_table(vector):
    header = _layout(HEADER)
    assert list(vector.layout[:len(header)]) == header


@_params(MOLD_VECTORS)
def test_packet_splits_into_blocks_that_decode(vector):
    packet = mold.parse(vector.data)
    header = {name: vector.fields[name] for name in HEADER.field_names}
    assert packet[:len(HEADER.fields)] == tuple(header.values())
    blocks = [ITCH_VECTORS[name] for name in vector.fields["blocks"]]
    assert packet.messages == tuple(block.data for block in blocks)
    for payload, block in zip(packet.messages, blocks):
        assert ITCH.decode(payload) == _expected(ITCH.by_name[block.message].message, block)


@_params(MOLD_VECTORS)
def test_packet_rebuilds_byte_for_byte(vector):
    fields = vector.fields
    if fields["message_count"] == mold.END_OF_SESSION_COUNT:
        built = mold.end_of_session(fields["session"], fields["sequence_number"])
    else:
        assert fields["message_count"] == len(fields["blocks"])
        built = mold.build(fields["session"], fields["sequence_number"],
                           [ITCH_VECTORS[name].data for name in fields["blocks"]])
    assert built == vector.data


def test_loader_catches_a_dropped_byte(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("== v (order_delete)\nhex:\n44  # 0 type\n00  # 1 stock_locate\n"
                    "00 00  # 3 tracking_number\n")
    with pytest.raises(ValueError, match="bad.txt:5: comment says offset 3, but 2 bytes"):
        load(path)


def test_packet_kinds():
    assert mold.parse(MOLD_VECTORS["heartbeat"].data).is_heartbeat
    assert mold.parse(MOLD_VECTORS["end_of_session"].data).is_end_of_session
    three = mold.parse(MOLD_VECTORS["packet_three_blocks"].data)
    assert not three.is_heartbeat and not three.is_end_of_session
    heartbeat = MOLD_VECTORS["heartbeat"]
    assert mold.heartbeat("GATEBOOK01", 4) == heartbeat.data
