"""The log and snapshots carry the gateway's state; recovery rebuilds it.

Order-entry traffic goes through a real gateway and replier into a
JournaledExchange (each command logged with its origin). Recovery, by full
replay or from a snapshot plus the tail, must give the gateway state the
live gateway and replier had; a torn origin is cut like any torn record; a
version 1 log still recovers (without gateway state) and goes on in a new
version 2 segment."""

import os
import struct
import zlib

import pytest

from gatebook.host.clock import ManualClock
from gatebook.host.ouch.gateway import Gateway
from gatebook.host.ouch.replier import Replier
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.host.wal.format import HEADER_SIZE, INPUT, SEGMENT_HEADER_SIZE, segment_version
from gatebook.host.ouch import OUCH_LOG
from gatebook.host.ouch.gateway_state import GatewayState
from gatebook.host.ouch.log_origin import ORIGIN_SIZE, encode_origin
from gatebook.host.wal.origins import ORIGIN_HEADER_SIZE
from gatebook.wire.enums import OrderEntryProtocol
from gatebook.host.wal.journal import JournaledExchange
from gatebook.host.wal.recovery import recover
from gatebook.host.wal.snapshot import capture, decode, encode, list_snapshots
from gatebook.host.wal.loadgen import seeded_commands, stamped
from gatebook.host.engine import MatchingEngine

from test_wal_gateway_state import PATHS, _continuation
from wal_helpers import old_segment, segments

OUCH = OrderEntryProtocol.OUCH


def _journaled_run(directory, compiled, datagrams, **options):
    """Datagrams through gateway -> journal (with origins) -> replier, as the
    exchange does; returns the live GatewayState after the last burst."""
    journal = JournaledExchange(directory, clock=ManualClock(1_000, 7), **options)
    gateway = Gateway(journal.sequencer, DEFAULT_SYMBOLS, compiled=compiled)
    replier = Replier(gateway, DEFAULT_SYMBOLS)
    gateway.restore_state(journal.states[OUCH], replier)
    journal.entry_states = lambda: {OUCH: OUCH_LOG.encode_state(gateway.export_state(replier))}
    origin_of, peers = gateway.origins.get, gateway.peers
    for index, (peer, payload) in enumerate(datagrams):
        frame = gateway.frame(payload, peer)
        for command in gateway.commands(payload, () if frame is None else (frame,)):
            origin = origin_of(command[1])
            logged = encode_origin(command[0], origin, peers.get(origin[0]))
            replier.add(journal.apply(command, (OUCH, logged)))
        replier.flush()
        if journal.snapshot_due:
            journal.snapshot(wait=True)
    live = gateway.export_state(replier)
    journal.close()
    return live


def _comparable(state):
    state = state.copy()
    state.expected = {s: n for s, n in state.expected.items() if n != 1}
    return state


@pytest.mark.parametrize("compiled", PATHS)
def test_full_replay_and_snapshot_plus_tail_rebuild_the_live_state(tmp_path, compiled):
    before, after = _continuation(5)
    live = _journaled_run(str(tmp_path), compiled, before + after, snapshot_every=700,
                          segment_bytes=64 << 10)
    assert len(list_snapshots(str(tmp_path))) == 2 and len(segments(str(tmp_path))) > 2
    _, full = recover(str(tmp_path), use_snapshots=False)
    _, snapped = recover(str(tmp_path))
    assert snapped.snapshot and 0 < snapped.replayed < full.replayed
    assert full.origins == full.replayed                 # every command came from order entry
    assert _comparable(full.states[OUCH]) == _comparable(snapped.states[OUCH]) == _comparable(live)
    assert any(line.startswith("order entry ouch: ") for line in snapped.lines())
    # and a restart goes on from it: the next run sees the same state
    restarted = JournaledExchange(str(tmp_path))
    assert _comparable(restarted.states[OUCH]) == _comparable(live)
    restarted.close()


def test_a_snapshot_holds_the_gateway_section_byte_for_byte():
    engine = MatchingEngine(DEFAULT_SYMBOLS)
    for command in stamped(seeded_commands(1, 300)):
        engine.apply(command)
    gateway = GatewayState(order_ids={(7, 1): 5, (7, 2): 6, (2**32 - 1, 2**64 - 1): 7},
                           owners={5: (7, 1), 6: (7, 20), 7: (2**32 - 1, 2**64 - 1)},
                           expected={7: 12, 9: 2**64 + 3}, sequences={7: 30, 8: 2},
                           peers={7: ("198.18.0.2", 40000), 10: ("10.0.0.1", 1)},
                           next_order_id=8)
    data = encode(capture(engine, 5, {OUCH: OUCH_LOG.encode_state(gateway)}))
    state = decode(data)
    assert OUCH_LOG.decode_state(state.entry_states[OUCH]) == gateway
    assert encode(state) == data
    assert decode(encode(capture(engine))).entry_states == {}
    # Versions 3 (no breaker records), 2 (OUCH's gateway section bare after the ids) and 1
    # (none) still decode; 1 and 2 are cut from 3's bytes.
    data = encode(state, version=3)
    assert decode(data).entry_states == state.entry_states
    from gatebook.wire.codec import RecordCodec
    from gatebook.wire.wal import SNAPSHOT_ENTRIES, SNAPSHOT_ENTRY_STATE, SNAPSHOT_HEADER
    header_size = RecordCodec(SNAPSHOT_HEADER, "little").size
    section = data.index(struct.pack("<QQQQ", 8, 3, 3, 4))      # SNAPSHOT_GATEWAY's fields
    entries = section - sum(RecordCodec(message, "little").size
                            for message in (SNAPSHOT_ENTRIES, SNAPSHOT_ENTRY_STATE))

    def older(version, body):
        head = bytearray(data[:header_size])
        head[8:10] = version.to_bytes(2, "little")
        head[-12:-4] = len(body).to_bytes(8, "little")
        head[-4:] = zlib.crc32(body, zlib.crc32(bytes(head[:-4]))).to_bytes(4, "little")
        return decode(bytes(head) + body)
    two = older(2, data[header_size:entries] + data[section:])
    assert OUCH_LOG.decode_state(two.entry_states[OUCH]) == gateway
    one = older(1, data[header_size:entries])
    assert one.entry_states == {} and one.used_ids == state.used_ids


@pytest.mark.parametrize("cut", [1, 20, 35])
def test_a_torn_origin_is_cut_like_any_torn_record(tmp_path, cut):
    before, _ = _continuation(6)
    live = _journaled_run(str(tmp_path), False, before[:40], snapshot_every=0)
    last = segments(str(tmp_path))[-1]
    with open(last, "rb") as file:
        data = file.read()
    # The last INPUT record ends with its origin; tear it `cut` bytes into the origin.
    offset = SEGMENT_HEADER_SIZE
    inputs = []
    while offset < len(data):
        length = int.from_bytes(data[offset:offset + 4], "little")
        if data[offset + HEADER_SIZE - 1] == INPUT:
            inputs.append((offset, offset + HEADER_SIZE + length))
        offset += HEADER_SIZE + length + 4
    start, body_end = inputs[-1]
    with open(last, "r+b") as file:
        file.truncate(body_end - ORIGIN_HEADER_SIZE - ORIGIN_SIZE + cut)
    engine, report = recover(str(tmp_path))
    assert report.repairs and report.last_seq == len(inputs) - 1
    assert report.states[OUCH].next_order_id <= live.next_order_id
    assert sum(report.states[OUCH].sequences.values()) < sum(live.sequences.values())


def test_a_version_1_log_recovers_and_goes_on_in_a_version_2_segment(tmp_path):
    directory = str(tmp_path)
    commands = list(stamped(seeded_commands(2, 400)))
    expected = old_segment(os.path.join(directory, "segment-00000000.wal"), commands, 1)
    engine, report = recover(directory)
    assert engine.state_hash() == expected and report.last_seq == 400
    assert report.states[OUCH] == GatewayState() and report.origins == 0
    before, _ = _continuation(7)
    live = _journaled_run(directory, False, before[:30], snapshot_every=0)
    names = segments(directory)
    assert len(names) == 2
    with open(names[0], "rb") as first, open(names[1], "rb") as second:
        assert segment_version(first.read(SEGMENT_HEADER_SIZE)) == 1
        assert segment_version(second.read(SEGMENT_HEADER_SIZE)) >= 2   # this build's version
    _, again = recover(directory)
    assert again.last_seq > 400 and again.origins == again.last_seq - 400
    # Orders of the version 1 commands have no tokens: their events number nothing.
    assert _comparable(again.states[OUCH]) == _comparable(live)


def test_log_dump_shows_each_commands_origin(tmp_path, capsys):
    import json
    from gatebook.cli import main
    before, _ = _continuation(9)
    _journaled_run(str(tmp_path), False, before[:5], snapshot_every=0)
    assert main(["log", "dump", "--dir", str(tmp_path), "--limit", "1"]) == 0
    text = capsys.readouterr().out
    assert "input_origin message=O session=" in text and "number=1 " in text
    assert "protocol=OUCH" in text
    assert "peer=127.0.0.1:" in text
    assert main(["log", "dump", "--dir", str(tmp_path), "--json", "--limit", "1"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert row["records"][1]["type"] == "input_origin" and row["records"][1]["number"] == 1


def test_a_version_3_log_with_ouch_origins_recovers_them_and_goes_on_in_version_4(tmp_path):
    """Versions 2 and 3 hold OUCH's INPUT_ORIGIN alone after a command: still OUCH's origins."""
    from gatebook.host.ouch.gateway_state import Origin
    directory = str(tmp_path)
    commands = list(stamped(seeded_commands(3, 300)))
    peer = ("10.0.0.7", 4000)
    # As the gateway makes them: a replace names the token it replaces.
    from gatebook.wire import internal
    from gatebook.wire.positions import INTERNAL
    tokens, origins = {}, []
    for index, command in enumerate(commands):
        origin = (7, 1000 + index, index + 1)
        if command[0] == internal.NEW_ORDER.code:
            tokens[command[INTERNAL.NEW_ORDER.order_id]] = 1000 + index
        elif command[0] == internal.REPLACE.code:
            order_id = command[INTERNAL.REPLACE.order_id]
            origin += (tokens.get(order_id, 0),)
            tokens[order_id] = 1000 + index
        origins.append(origin)
    expected = old_segment(os.path.join(directory, "segment-00000000.wal"), commands, 3,
                           [encode_origin(command[0], origin, peer)
                            for command, origin in zip(commands, origins)])
    reference, engine = GatewayState(), MatchingEngine(DEFAULT_SYMBOLS)
    for command, origin in zip(commands, origins):
        reference.replay(command, Origin.of(origin, peer), engine.apply(command))
    engine, report = recover(directory)
    assert engine.state_hash() == expected and report.origins == 300
    assert report.states[OUCH] == reference and reference.expected == {7: 301}
    assert report.tail.startswith("clean (the last write's COMMIT record")
    # This build goes on in a version 4 segment; both read back, each by its version.
    journal = JournaledExchange(directory, snapshot_every=0)
    for command in list(seeded_commands(3, 320))[300:]:
        journal.submit(*command)
    journal.close()
    with open(segments(directory)[-1], "rb") as newer:
        assert segment_version(newer.read(SEGMENT_HEADER_SIZE)) == 4
    _, again = recover(directory, verify_outputs=True)
    assert again.last_seq == 320 and again.verified == 320
    assert again.states[OUCH] == journal.states[OUCH]       # as the live journal kept it
