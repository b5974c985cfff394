"""The compiled gateway and replier (dpdk_bridge/_ouchfast.c) against the readable
Python reference: the same commands tuple for tuple, the same reply datagrams byte
for byte, the same refusals, logs, gaps, duplicates, token map and origins, on
directed, seeded random and fuzzed datagrams."""

import random

import pytest

from gatebook.dpdk_bridge.fast import FastPathUnavailable, status
from gatebook.wire import ouch
from gatebook.host.clock import ManualClock
from gatebook.host.engine import MatchingEngine
from gatebook.host.flow import generate_flow
from gatebook.host.ouch.inject import bad_datagrams, mix_in
from gatebook.host.ouch.gateway import CompiledGateway, Gateway, flow_datagrams
from gatebook.host.ouch.replier import MAX_PAYLOAD, Replier
from gatebook.host.ouch.framing import HEADER_STRUCT, encode_datagram
from gatebook.host.sequencer import Sequencer
from gatebook.host.symbols import DEFAULT_SYMBOLS

needs_compiled = pytest.mark.skipif(status()[0] is None, reason=status()[1])

_O, _U, _X = ouch.ENTER_ORDER.code, ouch.REPLACE_ORDER.code, ouch.CANCEL_ORDER.code
_TOP = 2**64 - 1


def _pair(max_payload=MAX_PAYLOAD):
    """(reference gateway, replier, engine), (compiled ...), on equal clocks."""
    out = []
    for compiled in (False, True):
        gateway = Gateway(Sequencer(ManualClock(start=1, step=3)), DEFAULT_SYMBOLS,
                          compiled=compiled)
        out.append((gateway, Replier(gateway, DEFAULT_SYMBOLS, max_payload),
                    MatchingEngine(DEFAULT_SYMBOLS)))
    return out


def _drive(side, datagrams, flush_every, batched=False):
    """Feed (peer, payload) datagrams through one side; return (commands, replies)."""
    gateway, replier, engine = side
    commands, replies, frames, data = [], [], [], bytearray()
    for index, (peer, payload) in enumerate(datagrams):
        if batched:          # several datagrams in one buffer, as a DPDK burst
            frame = gateway.frame(payload, peer)
            if frame is not None:
                frames.append(frame[:3] + (len(data) + HEADER_STRUCT.size,) + frame[4:])
            data += payload
        else:
            frame = gateway.frame(payload, peer)
            for command in gateway.commands(payload, () if frame is None else (frame,)):
                commands.append(command)
                replier.add(engine.apply(command))
        if index % flush_every == flush_every - 1:
            for command in gateway.commands(bytes(data), frames):
                commands.append(command)
                replier.add(engine.apply(command))
            frames, data = [], bytearray()
            replies += replier.flush()
    for command in gateway.commands(bytes(data), frames):
        commands.append(command)
        replier.add(engine.apply(command))
    return commands, replies + replier.flush()


def _same(reference, compiled, datagrams, flush_every=7, batched=False):
    got = [_drive(side, datagrams, flush_every, batched) for side in (reference, compiled)]
    assert got[0][0] == got[1][0]                          # tuple for tuple
    assert got[0][1] == got[1][1]                          # byte for byte, same peers
    (python, _, _), (fast, _, _) = reference, compiled
    assert isinstance(fast, CompiledGateway) and not isinstance(python, CompiledGateway)
    assert fast.bad == python.bad
    assert list(fast.bad_log) == list(python.bad_log)
    assert list(fast.gap_log) == list(python.gap_log)
    assert (fast.tracker.duplicates, fast.tracker.gaps) == (python.tracker.duplicates,
                                                            python.tracker.gaps)
    assert fast.tracker.expected == python.tracker.expected
    assert fast.peers == python.peers
    assert (fast.messages, fast.next_order_id) == (python.messages, python.next_order_id)
    assert fast.order_ids == python.order_ids
    assert fast.owners == python.owners
    assert fast.origins == python.origins
    assert reference[1].sequences == compiled[1].sequences
    for order_id in list(python.owners) + [0, 10**9, _TOP, -1]:
        assert fast.token_of(order_id) == python.token_of(order_id)
    return got[0]


def _enter(token, stock="GATE", side=0, shares=100, price=100_0000, order_type=0, tif=0,
           stop=0):
    return (_O, token, stock, side, order_type, tif, shares, price, stop)


def _directed():
    peer = ("198.18.0.2", 40000)
    other = ("198.18.0.3", 40001)
    d = [
        (peer, encode_datagram(7, 1, [_enter(1), _enter(2, side=1, shares=40)])),
        (peer, encode_datagram(7, 1, [_enter(1)])),                      # a duplicate
        (peer, encode_datagram(7, 2, [_enter(2), _enter(3, side=1)])),  # half duplicate
        (peer, encode_datagram(7, 6, [_enter(1, shares=5)])),           # a gap; token reused
        (peer, encode_datagram(7, 7, [(_U, 3, 30, 20, 100_0000)])),     # replace, new token
        (peer, encode_datagram(7, 8, [(_U, 30, 30, 10, 100_0000)])),    # same token
        (peer, encode_datagram(7, 9, [(_U, 999, 31, 10, 100_0000)])),   # unknown token
        (peer, encode_datagram(7, 10, [(_X, 30), (_X, 30), (_X, 4242)])),
        (other, encode_datagram(8, 1, [_enter(1, "NOPE"), _enter(_TOP, "GATE", 1, 7)])),
        (other, encode_datagram(8, 2, [_enter(9, price=0, order_type=1)])),   # market
        (other, encode_datagram(0, 1, [_enter(5, shares=0)])),                # session 0
        (other, encode_datagram(2**32 - 1, _TOP, [_enter(5)])),               # far ahead
        (other, encode_datagram(2**32 - 1, 5, [_enter(6)])),                  # far behind
        (other, encode_datagram(9, 1, [])),                                    # heartbeat
        (None, encode_datagram(10, 1, [_enter(1)])),                           # no peer
        (peer, b""), (peer, b"\x00" * 13), (peer, encode_datagram(7, 11, [_enter(7)])[:-1]),
        (peer, encode_datagram(7, 11, [_enter(7)]) + b"Z"),
        (peer, HEADER_STRUCT.pack(7, 11, 2) + encode_datagram(7, 11, [_enter(7)])[14:]),
        (peer, HEADER_STRUCT.pack(7, 11, 1) + b"Q" + bytes(31)),
        (peer, encode_datagram(7, 11, [_enter(8, side=1, shares=300)])),
    ]
    return d


@needs_compiled
@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("max_payload", [MAX_PAYLOAD, 60, 20])
def test_directed_datagrams(max_payload, batched):
    commands, replies = _same(*_pair(max_payload), _directed(), flush_every=3, batched=batched)
    assert len(commands) >= 12 and replies


@needs_compiled
@pytest.mark.parametrize("seed, batch, flush_every", [(1, 1, 32), (2, 3, 5), (3, 5, 256)])
def test_seeded_flows(seed, batch, flush_every):
    flow = flow_datagrams(generate_flow(4000, seed=seed), DEFAULT_SYMBOLS, batch=batch)
    rng = random.Random(seed)
    datagrams = []
    for session, payload in flow:
        peer = ("127.0.0.1", 20000 + session % 50)
        datagrams.append((peer, payload))
        if rng.random() < 0.03:                    # a retransmission now and then
            datagrams.append((peer, payload))
    del datagrams[rng.randrange(len(datagrams))]   # and a loss
    commands, replies = _same(*_pair(), datagrams, flush_every, batched=True)
    assert len(commands) >= 3900 and len(replies) > 100


@needs_compiled
def test_fuzzed_and_garbage_datagrams_mixed_into_a_flow():
    flow = flow_datagrams(generate_flow(1500, seed=5), DEFAULT_SYMBOLS, batch=2)
    mixed = mix_in(flow, bad_datagrams(400, seed=5), seed=5)
    rng = random.Random(5)
    datagrams = [(("10.0.0.%d" % (index % 9), 1000 + index % 3), payload)
                 for index, (_, payload) in enumerate(mixed)]
    for _ in range(200):                          # flipped bytes in good datagrams
        peer, payload = datagrams[rng.randrange(len(datagrams))]
        if payload:
            at = rng.randrange(len(payload))
            datagrams.append((peer, payload[:at] + bytes([rng.randrange(256)])
                              + payload[at + 1:]))
    for batched in (False, True):
        commands, _ = _same(*_pair(), datagrams, flush_every=16, batched=batched)
        assert len(commands) >= 1400


@needs_compiled
def test_a_command_the_journal_gives_back():
    """The exchange with a journal: a command that cannot be logged gives its
    seq back and its origin is dropped; both paths then go on alike."""
    reference, compiled = _pair()
    for gateway, replier, engine in (reference, compiled):
        payload = encode_datagram(3, 1, [_enter(1), _enter(2)])
        taken = []
        for command in gateway.commands(payload, (gateway.frame(payload, ("1.1.1.1", 1)),)):
            if not taken:                          # as Exchange._unloggable
                gateway.origins.pop(command[1], None)
                gateway.sequencer.next_seq -= 1
                taken.append(None)
                continue
            taken.append(command)
            replier.add(engine.apply(command))
        gateway.result = (taken, replier.flush(), dict(gateway.origins.items()))
    assert reference[0].result == compiled[0].result
    assert reference[0].result[1][0][1] == ("1.1.1.1", 1)


def test_the_path_is_said_and_never_silently_swapped(monkeypatch):
    python = Gateway(Sequencer(ManualClock()), DEFAULT_SYMBOLS, compiled=False)
    assert python.path == "python (asked for)" and type(python) is Gateway
    assert Replier(python, DEFAULT_SYMBOLS).path == "python"
    with pytest.raises(ValueError, match="needs a compiled gateway"):
        Replier(python, DEFAULT_SYMBOLS, compiled=True)
    monkeypatch.setenv("GATEBOOK_GATEWAY", "python")
    assert Gateway(Sequencer(ManualClock()), DEFAULT_SYMBOLS).path.startswith("python (")
    with pytest.raises(FastPathUnavailable, match="GATEBOOK_GATEWAY"):
        Gateway(Sequencer(ManualClock()), DEFAULT_SYMBOLS, compiled=True)
    monkeypatch.delenv("GATEBOOK_GATEWAY")
    default = Gateway(Sequencer(ManualClock()), DEFAULT_SYMBOLS)
    assert default.path == status()[1]
    assert isinstance(default, CompiledGateway) == (status()[0] is not None)


@needs_compiled
def test_the_compiled_gateway_refuses_frames_it_cannot_read():
    gateway = Gateway(Sequencer(ManualClock()), DEFAULT_SYMBOLS, compiled=True)
    good = encode_datagram(1, 1, [_enter(1)])
    with pytest.raises(ValueError, match="outside"):
        list(gateway.commands(good, [(1, 1, 1, 400, None, None)]))
    with pytest.raises(ValueError, match="no whole message"):
        list(gateway.commands(good, [(1, 2, 1, 0, None, None)]))
    with pytest.raises(TypeError, match="a frame is"):
        list(gateway.commands(good, [(1, 3, 1)]))
    with pytest.raises(OverflowError):
        list(gateway.commands(good, [(2**32, 1, 1, 14, None, None)]))
    # and it goes on: the next good datagram is taken
    assert len(gateway.datagram(encode_datagram(1, 4, [_enter(2)]))) == 1


def test_without_a_compiler_the_python_path_runs_and_says_so(tmp_path):
    """No C compiler and an empty cache: the gateway, the replier and DpdkUdp's
    loops run their Python paths, and `bench-net` says which path ran and why."""
    import os
    import subprocess
    import sys
    env = dict(os.environ, PATH=str(tmp_path), GATEBOOK_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("GATEBOOK_GATEWAY", None)
    code = ("from gatebook.cli import main\n"
            "from gatebook.host.clock import ManualClock\n"
            "from gatebook.host.ouch.gateway import Gateway\n"
            "from gatebook.host.sequencer import Sequencer\n"
            "from gatebook.host.symbols import DEFAULT_SYMBOLS\n"
            "g = Gateway(Sequencer(ManualClock()), DEFAULT_SYMBOLS)\n"
            "print(type(g).__name__, '|', g.path)\n"
            "main(['bench-net', '--orders', '300', '--copy-packets', '1000',"
            " '--socket-orders', '100'])\n")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          cwd=os.path.dirname(os.path.dirname(__file__)), timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Gateway | python (compiled gateway unavailable: no C compiler")
    assert lines[1].startswith("gateway and replier: python (compiled gateway unavailable: ")
    assert "answered 100 of 100" in done.stdout


@needs_compiled
def test_the_compiled_session_tracker_checks_as_the_reference():
    from gatebook.host.ouch.framing import SessionTracker
    rng = random.Random(9)
    reference = SessionTracker()
    compiled = Gateway(Sequencer(ManualClock()), DEFAULT_SYMBOLS, compiled=True).tracker
    for _ in range(3000):
        session = rng.choice([0, 1, 7, 2**32 - 1])
        base = rng.choice([1, 2**63, 2**64 - 70000])
        sequence = base + rng.randrange(0, 40) if rng.random() < 0.9 else rng.randrange(2**64)
        count = rng.choice([0, 1, 2, 5, 65535])
        assert compiled.check(session, sequence, count) == reference.check(session, sequence,
                                                                           count)
    for sequence, count in ((2**64 - 1, 5), (2**64 - 3, 2), (2**64 - 1, 1)):   # past 64 bits
        assert compiled.check(3, sequence, count) == reference.check(3, sequence, count)
    assert reference.expected[3] == 2**64 + 4 and reference.gaps > 2**64
    assert compiled.expected == reference.expected
    assert (compiled.duplicates, compiled.gaps) == (reference.duplicates, reference.gaps)
