# amaranth: UnusedElaboratable=no
# (A Matcher is made here only for MatcherCodec's layouts.)
"""The Verilator lane link's codec: records in their wire encoding, as the Matcher's payloads.

`VerilatorLink` writes each record's little-endian wire encoding and reads beats
with `decode_beats`, instead of building payload integers field by field
(`gatebook.hdl.driver.MatcherCodec`); both must give the same bytes and records.
"""

import random

import pytest

from gatebook.hdl.driver import MatcherCodec
from gatebook.hdl.layouts import EVENT_PAIR
from gatebook.hdl.matcher import Matcher
from gatebook.host.hybrid.link import LinkError
from gatebook.host.net.link import COMMAND_CODEC
from gatebook.wire import internal, link
from gatebook.wire.codec import WireError
from gatebook.sim.hybrid import verilator_link
from gatebook.sim.hybrid.verilator_link import command_packers, decode_beats, encode_commands

DEPTH = 16


@pytest.fixture(scope="module")
def codec():
    return MatcherCodec(Matcher(DEPTH))


def _random_record(rng, message):
    return (message.code,) + tuple(rng.choice((0, 1, (1 << f.bits) - 1, rng.getrandbits(f.bits)))
                                   for f in message.fields)


def test_commands_are_their_payloads(codec):
    rng = random.Random(1)
    size = 4 * ((codec.commands.width + 31) // 32)
    for message in internal.COMMANDS.messages + link.LINK_COMMANDS.messages:
        for _ in range(20):
            record = _random_record(rng, message)
            wire = COMMAND_CODEC.by_code[record[0]].encode(record).ljust(size, b"\0")
            assert wire == codec.commands.encode(record).to_bytes(size, "little"), message.name


def test_batches_pack_as_the_driver_does(codec):
    """`encode_commands` (one padded struct per record type, the whole batch at once) writes
    what the driver's payload integers are, and refuses what a table cannot hold."""
    rng = random.Random(3)
    size = 4 * ((codec.commands.width + 31) // 32)
    messages = internal.COMMANDS.messages + link.LINK_COMMANDS.messages
    records = [_random_record(rng, rng.choice(messages)) for _ in range(400)]
    assert encode_commands(records, command_packers(size)) == b"".join(
        codec.commands.encode(record).to_bytes(size, "little") for record in records)
    too_big = records[:3] + [(internal.CANCEL.code, 1, 2, 1 << 64, 4)]
    with pytest.raises(WireError, match="(?i)cancel"):
        encode_commands(too_big, command_packers(size))


def test_a_beat_the_lane_cannot_write_is_a_link_error(codec):
    """A beat with no event type at its front (a broken harness) is the link's error, not a
    KeyError out of the host."""
    size = 4 * ((codec.beat_width + 31) // 32)
    with pytest.raises(LinkError, match="cannot have written"):
        decode_beats(bytes([0xEE]) + bytes(size - 1), size)


def test_beats_decode_as_the_driver_does(codec):
    rng = random.Random(2)
    firsts = [message for message in internal.EVENTS.messages + link.LINK_EVENTS.messages
              if message.name in codec.events.layout.members]      # what the lane writes
    seconds = (internal.LEVEL, internal.CANCELLED, internal.TRADE)
    size = 4 * ((codec.beat_width + 31) // 32)
    beats, want = [], []
    for _ in range(300):
        value = codec.events.encode(_random_record(rng, rng.choice(firsts)))
        if rng.random() < 0.5:
            value |= codec.second.encode(_random_record(rng, rng.choice(seconds))) \
                << EVENT_PAIR["second"].offset
            value |= 1 << EVENT_PAIR["pair"].offset
        beats.append(value.to_bytes(size, "little"))
        want.extend(codec.decode_beat(value))
    assert decode_beats(b"".join(beats), size) == want


def test_hot_flow_on_the_compiled_lane():
    """The hot symbol's flow, pipelined, through the Verilator harness: equal to the engine."""
    from gatebook.sim.flows import SYMBOL
    from gatebook.sim.hybrid.equivalence import check_equivalence
    from gatebook.sim.hybrid.hot_flow import hot_flow
    if not verilator_link.verilator_available() or verilator_link.built_harness(DEPTH) is None:
        pytest.skip(f"no current d{DEPTH} Verilator harness in the build cache "
                    "(python -m gatebook.sim.cosim.link_bench --no-veth builds it)")
    make = lambda depth, index, vcd: verilator_link.VerilatorLink(depth, stall=0.2,  # noqa: E731
                                                                  seed=index, vcd=vcd)
    commands = hot_flow(11, 5000)
    hybrid = check_equivalence(commands, make, depths=[DEPTH], homes=[SYMBOL], window=16,
                               hash_every=1000, name="verilator_hot")
    assert hybrid.lane_commands > 0.7 * len(commands)
