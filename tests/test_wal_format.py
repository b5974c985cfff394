"""Log record layout, CRC and validity rules, byte for byte (vectors: tests/vectors/wal.txt)."""

import zlib

import pytest

from gatebook.wire import wal
from gatebook.wire.codec import ProtocolCodec, RecordCodec
from gatebook.wire.wal import REPLICATION
from gatebook.host.wal.format import (HEADER_SIZE, INPUT, OUTPUT, SEGMENT_HEADER_SIZE, TRAILER_SIZE,
                             SegmentScan, check_records, decode_segment_header, encode_record,
                             encode_segment_header, find_valid_record)

from wire_vectors import load


def test_crc_is_crc32_iso_hdlc():
    # The catalogue check value of CRC-32/ISO-HDLC (the zlib/Ethernet CRC).
    assert zlib.crc32(b"123456789") == 0xCBF43926


def test_record_golden_vector():
    record = encode_record(0x0102030405060708, 0x1112131415161718, INPUT, b"\xAA\xBB")
    head = bytes.fromhex("02000000" "0807060504030201" "1817161514131211" "49")
    assert record[:HEADER_SIZE] == head
    assert record[HEADER_SIZE:-TRAILER_SIZE] == b"\xAA\xBB"
    assert record[-TRAILER_SIZE:] == zlib.crc32(head + b"\xAA\xBB").to_bytes(4, "little")
    assert len(record) == 21 + 2 + 4


def test_tables_give_the_sizes_the_format_uses():
    assert RecordCodec(wal.RECORD_HEADER, "little").size == HEADER_SIZE == 21
    assert RecordCodec(wal.SEGMENT_HEADER, "little").size == SEGMENT_HEADER_SIZE == 26
    replication = ProtocolCodec(wal.REPLICATION)
    assert replication.decode(replication.encode((ord("A"), 7))) == (ord("A"), 7)


def test_segment_header_round_trip_and_damage():
    header = encode_segment_header(3, 1234)
    assert decode_segment_header(header) == (3, 1234)
    damaged = bytearray(header)
    damaged[12] ^= 1
    with pytest.raises(ValueError, match="CRC"):
        decode_segment_header(bytes(damaged))
    with pytest.raises(ValueError, match="torn"):
        decode_segment_header(header[:10])
    with pytest.raises(ValueError, match="magic"):
        decode_segment_header(b"NOTALOG!" + header[8:])


def _segment(*records):
    return encode_segment_header(0, 1) + b"".join(records)


def test_scan_reads_inputs_and_outputs_in_order():
    data = _segment(encode_record(1, 10, INPUT, b"a"), encode_record(1, 10, OUTPUT, b"bb"),
                    encode_record(2, 11, INPUT, b"c"))
    scan = SegmentScan(data, 1)
    assert [(r.seq, r.kind, r.payload) for r in scan] == [(1, INPUT, b"a"), (1, OUTPUT, b"bb"),
                                                          (2, INPUT, b"c")]
    assert scan.damage is None and scan.end == len(data) and scan.next_seq == 3


@pytest.mark.parametrize("mutate, reason", [
    (lambda d: d[:-3], "torn record"),
    (lambda d: d[:-30], "torn record header"),
    (lambda d: d[:-1] + bytes((d[-1] ^ 0x10,)), "CRC mismatch"),
    (lambda d: d[:-45] + bytes(45), "unknown record kind"),     # zero-filled tail
])
def test_scan_stops_at_the_first_invalid_record(mutate, reason):
    good = _segment(encode_record(1, 10, INPUT, b"a" * 20))
    last = encode_record(2, 11, INPUT, b"b" * 20)
    data = mutate(good + last)
    scan = SegmentScan(data, 1)
    assert [r.seq for r in scan] == [1]
    assert scan.damage.offset == len(good)
    assert reason in scan.damage.reason


def test_scan_rejects_sequence_gaps_and_stray_outputs():
    gap = _segment(encode_record(1, 0, INPUT, b""), encode_record(3, 0, INPUT, b""))
    scan = SegmentScan(gap, 1)
    assert len(list(scan)) == 1 and "expected 2" in scan.damage.reason
    double = _segment(encode_record(1, 0, INPUT, b""), encode_record(1, 0, OUTPUT, b""),
                      encode_record(1, 0, OUTPUT, b""))
    scan = SegmentScan(double, 1)
    assert len(list(scan)) == 2 and "OUTPUT" in scan.damage.reason


def test_find_valid_record_tells_tail_from_middle():
    first, second = encode_record(1, 0, INPUT, b"x" * 10), encode_record(2, 0, INPUT, b"y" * 10)
    data = bytearray(_segment(first, second))
    data[SEGMENT_HEADER_SIZE + 25] ^= 0xFF                 # damage the first record's payload
    assert find_valid_record(bytes(data), SEGMENT_HEADER_SIZE + 1) == SEGMENT_HEADER_SIZE + len(first)
    assert find_valid_record(bytes(data) + bytes(4096), SEGMENT_HEADER_SIZE + len(first) + 1) is None


VECTORS = load("wal.txt")
_FRAMES = ProtocolCodec(REPLICATION)


@pytest.mark.parametrize("vector", [v for v in VECTORS.values() if v.message in
                                    {m.name for m in REPLICATION.messages}], ids=repr)
def test_replication_frames_match_the_golden_vectors(vector):
    message = next(m for m in REPLICATION.messages if m.name == vector.message)
    fields = (message.code,) + tuple(vector.fields.values())
    assert tuple(vector.fields) == message.field_names
    assert _FRAMES.decode(vector.data) == fields and _FRAMES.encode(fields) == vector.data


def test_segment_header_and_record_match_the_golden_vectors():
    header = VECTORS["first_segment"]
    assert encode_segment_header(0, 1) == header.data
    assert decode_segment_header(header.data) == (0, 1)
    assert header.fields["crc"] == zlib.crc32(header.data[:-4])
    record = VECTORS["input_record"]
    fields = record.fields
    payload = record.data[HEADER_SIZE:-4]
    assert encode_record(fields["seq"], fields["ts"], fields["kind"], payload) == record.data
    assert len(payload) == fields["length"] and fields["kind"] == INPUT
    assert fields["crc"] == int.from_bytes(record.data[-4:], "little")
    command = load("internal.txt")["new_order_limit"]
    assert payload == command.data                     # the record holds the command's bytes
    end = check_records(header.data + record.data, 1)
    assert end.damage is None and end.next_seq == 2


@pytest.mark.parametrize("name, version", [("first_segment_v1", 1), ("first_segment_v2", 2),
                                           ("first_segment_v3", 3)])
def test_older_segment_headers_are_still_read(name, version):
    from gatebook.host.wal.format import segment_version
    old = VECTORS[name]
    assert decode_segment_header(old.data) == (0, 1)
    assert segment_version(old.data) == version
    assert segment_version(VECTORS["first_segment"].data) == wal.FORMAT_VERSION == 4
    bad = bytearray(old.data)
    bad[8] = 5
    bad[-4:] = zlib.crc32(bytes(bad[:-4])).to_bytes(4, "little")
    with pytest.raises(ValueError, match="version 5; this build reads versions 1, 2, 3, 4"):
        decode_segment_header(bytes(bad))


def test_a_commit_record_matches_the_golden_vector_and_closes_a_write():
    from gatebook.host.wal.format import COMMIT, COMMIT_SIZE, Marker, encode_commit
    vector = VECTORS["commit_record_closing_a_segment"]
    assert encode_commit(500, 500, closed=True) == vector.data
    codec = RecordCodec(wal.COMMIT_MARKER, "little")
    assert codec.size == COMMIT_SIZE == 9
    assert tuple(codec.decode(vector.data[HEADER_SIZE:-TRAILER_SIZE])) == tuple(vector.fields.values())
    assert vector.data[HEADER_SIZE - 1] == COMMIT == ord("C")
    write = [encode_record(1, 10, INPUT, b"a"), encode_record(1, 10, OUTPUT, b"b"),
             encode_commit(1, 0)]
    end = check_records(_segment(*write), 1)
    assert end.damage is None and end.marker == Marker(1, 0, False)
    scan = SegmentScan(_segment(*write), 1)
    assert [r.kind for r in scan] == [INPUT, OUTPUT]        # checked, never handed out
    assert check_records(_segment(*write[:2]), 1).marker is None   # the write's end is missing
    wrong = check_records(_segment(write[0], encode_commit(2, 0)), 1)
    assert "does not close INPUT 1" in wrong.damage.reason


def test_an_input_record_with_its_origin_matches_the_golden_vectors():
    from gatebook.wire.codec import RecordCodec
    from gatebook.wire.enums import OrderEntryProtocol
    from gatebook.wire.wal import INPUT_ORIGIN, WAL as WAL_PROTOCOL
    from gatebook.host.ouch import OUCH_LOG
    from gatebook.host.ouch.log_origin import decode_origin, encode_origin
    from gatebook.host.ouch.gateway_state import Origin
    from gatebook.host.wal.format import split_input
    from gatebook.host.wal.origins import encode_origin as wrap, split_origin
    from gatebook.host.wal.reader import decode_payload, origin_fields
    origin = VECTORS["origin_of_an_order"]
    codec = RecordCodec(INPUT_ORIGIN, WAL_PROTOCOL.byte_order)
    assert tuple(codec.decode(origin.data)) == (INPUT_ORIGIN.code,) + tuple(origin.fields.values())
    assert encode_origin(ord("O"), (7, 42, 12), ("198.18.0.2", 40000)) == origin.data
    assert decode_origin(origin.data, 0) == Origin(7, 12, 42, None, ("198.18.0.2", 40000))
    command = load("internal.txt")["new_order_limit"]
    for name, version, logged in (
            ("input_record_with_origin", 4, wrap(OrderEntryProtocol.OUCH, origin.data)),
            ("input_record_with_origin_v3", 3, origin.data)):
        record = VECTORS[name]
        fields = record.fields
        payload = record.data[HEADER_SIZE:-4]
        assert encode_record(fields["seq"], fields["ts"], fields["kind"], payload) == record.data
        assert payload == command.data + logged
        parsed, at = split_input(payload, 0, len(payload))
        assert parsed[:3] == (ord("O"), 1, 1700000000000000000) and at == len(command.data)
        protocol, first, end = split_origin(payload, at, len(payload), version)
        assert protocol == OrderEntryProtocol.OUCH and payload[first:end] == origin.data
        assert OUCH_LOG.decode_origin(payload, first, end).token == 42
        assert split_input(command.data, 0, len(command.data))[1] is None
        inner = decode_payload(INPUT, payload, version)
        described = origin_fields(inner[1])
        assert described["peer"] == "198.18.0.2:40000" and described["protocol"] == "OUCH"
        assert origin_fields(inner[0]) is None
        for damaged in (payload[:-1], payload + b"\0", payload[:46] + b"Z" + payload[47:]):
            with pytest.raises((ValueError, KeyError, IndexError)):
                _, at = split_input(damaged, 0, len(damaged))
                protocol, first, end = split_origin(damaged, at, len(damaged), version)
                OUCH_LOG.decode_origin(damaged, first, end)
    end = check_records(VECTORS["first_segment"].data + VECTORS["input_record_with_origin"].data,
                        1)
    assert end.damage is None and end.next_seq == 2
    # A replace names the token it replaces; the tuple is the gateway's origin.
    replace = encode_origin(ord("U"), (7, 43, 13, 42), None)
    assert decode_origin(replace, 0) == Origin(7, 13, 43, 42, None)
    from gatebook.wire.codec import WireError
    with pytest.raises(WireError, match="does not fit"):
        encode_origin(ord("O"), (7, 42, 2**64), None)
    with pytest.raises(WireError, match="does not fit ORIGIN_HEADER"):
        wrap(OrderEntryProtocol.OUCH, bytes(70_000))


# -- the writer's encoding: one struct pack per event, the bytes the table codecs make --

def _flow_items(count, seed=7):
    from gatebook.host.engine import MatchingEngine
    from gatebook.host.symbols import DEFAULT_SYMBOLS
    from gatebook.host.wal.loadgen import seeded_commands, stamped
    from gatebook.wire import internal
    engine, encode = MatchingEngine(DEFAULT_SYMBOLS), ProtocolCodec(internal.COMMANDS).encode
    return [(command[1], command[2], encode(command), engine.apply(command))
            for command in stamped(seeded_commands(seed, count))]


def test_command_records_are_the_records_the_table_codecs_make():
    from gatebook.host.wal.format import encode_command_records
    from gatebook.wire import internal
    encode_event = ProtocolCodec(internal.EVENTS).encode
    items = _flow_items(3000)
    assert {event[0] for _, _, _, events in items for event in events} >= {
        ord(code) for code in "AJECLP"}     # accepted, rejected, executed, cancelled, ...
    for seq, ts, command_bytes, events in items:
        expected = (encode_record(seq, ts, INPUT, command_bytes)
                    + encode_record(seq, ts, OUTPUT, b"".join(map(encode_event, events))))
        assert encode_command_records(seq, ts, command_bytes, events) == expected


def test_output_payloads_match_each_versions_codec_and_refuse_what_does_not_fit():
    from gatebook.host.wal.format import encode_command_records, encode_output
    from gatebook.wire.codec import WireError
    events = [event for _, _, _, found in _flow_items(500) for event in found]
    for version, table in wal.OUTPUT_EVENTS.items():
        codec = ProtocolCodec(table)
        assert encode_output(events, version) == b"".join(map(codec.encode, events))
    # A LEVEL's total past 32 bits: version 4 holds it, versions 1 and 2 cannot.
    level = (ord("L"), 9, 10, 1, 1, 1_000_000, 1 << 33, 3)
    assert ProtocolCodec(wal.OUTPUT_EVENTS[4]).decode(encode_output([level])) == level
    with pytest.raises(WireError):
        encode_output([level], 2)
    for bad in [(ord("Z"), 1, 2), (ord("L"), 1, 2), (ord("L"), 9, 10, 1, 1, -1, 5, 3), ()]:
        with pytest.raises(WireError):
            encode_output([bad])
        with pytest.raises(WireError):
            encode_command_records(9, 10, b"x", [bad])
