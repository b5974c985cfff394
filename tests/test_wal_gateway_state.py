"""The gateway's durable state (host/ouch/gateway_state.py): exported and restored
on both gateway paths (the Python reference and the compiled twin), and rebuilt
from the logged commands, origins and events by `GatewayState.replay`.

A gateway restored from another's state (or from the replay) must take the
next datagrams exactly as the gateway that never stopped: the same commands,
the same reply datagrams byte for byte (tokens, numbers, peers)."""

import random

import pytest

from gatebook.dpdk_bridge.fast import status
from gatebook.wire import internal, ouch
from gatebook.host.clock import ManualClock
from gatebook.host.engine import MatchingEngine
from gatebook.host.flow import generate_flow
from gatebook.host.ouch.gateway import Gateway, flow_datagrams
from gatebook.host.ouch.replier import Replier
from gatebook.host.ouch.framing import encode_datagram
from gatebook.host.sequencer import Sequencer
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.host.ouch.gateway_state import GatewayState, Origin

PATHS = [False, pytest.param(True, marks=pytest.mark.skipif(status()[0] is None,
                                                             reason=status()[1]))]
_O, _U, _X = ouch.ENTER_ORDER.code, ouch.REPLACE_ORDER.code, ouch.CANCEL_ORDER.code


def _side(compiled, engine=None, next_seq=1, clock=None):
    gateway = Gateway(Sequencer(clock or ManualClock(start=1, step=3), next_seq),
                      DEFAULT_SYMBOLS, compiled=compiled)
    return gateway, Replier(gateway, DEFAULT_SYMBOLS), engine or MatchingEngine(DEFAULT_SYMBOLS)


def _run(side, datagrams, log=None):
    """Feed (peer, payload) datagrams, a flush after each; (commands, replies).
    `log` collects (command, Origin or None, events) as a journal would."""
    gateway, replier, engine = side
    commands, replies = [], []
    for peer, payload in datagrams:
        frame = gateway.frame(payload, peer)
        for command in gateway.commands(payload, () if frame is None else (frame,)):
            events = engine.apply(command)
            if log is not None:
                origin = gateway.origins.get(command[1])
                log.append((command, origin and Origin.of(origin, gateway.peers.get(origin[0])),
                            events))
            commands.append(command)
            replier.add(events)
        replies += replier.flush()
    return commands, replies


def _traffic(seed, orders=1500):
    """A seeded flow from 20 sessions, with retransmissions, a loss, directed
    replaces and cancels by token, and a gap."""
    rng = random.Random(seed)
    out = []
    for session, payload in flow_datagrams(generate_flow(orders, seed=seed), DEFAULT_SYMBOLS,
                                           batch=rng.choice([1, 3])):
        peer = ("127.0.0.1", 20000 + session % 50)
        out.append((peer, payload))
        if rng.random() < 0.05:
            out.append((peer, payload))                  # retransmitted: duplicates
    del out[rng.randrange(len(out))]                     # a loss: a gap later
    return out


def _directed(first):
    peer = ("198.18.0.9", 41000)
    n = first
    return [
        (peer, encode_datagram(77, n, [(_O, 1, "GATE", 0, 0, 0, 100, 100_0000, 0),
                                       (_O, 2, "GATE", 1, 0, 0, 50, 101_0000, 0)])),
        (peer, encode_datagram(77, n + 2, [(_U, 2, 20, 40, 101_0000)])),    # new token
        (peer, encode_datagram(77, n + 3, [(_X, 1)])),
        (peer, encode_datagram(77, n + 1, [(_O, 2, "GATE", 1, 0, 0, 50, 101_0000, 0)])),  # dup
        (peer, encode_datagram(77, n + 9, [(_O, 3, "GATE", 0, 0, 0, 10, 99_0000, 0)])),   # gap
    ]


def _continuation(seed):
    """Datagrams after the restart: the same sessions continue their numbering,
    cancel and replace pre-restart tokens, retransmit pre-restart datagrams and
    trade against pre-restart orders."""
    before = _traffic(seed)
    after = _traffic(seed + 100, orders=600)
    rng = random.Random(seed)
    # Renumber `after` to continue each session: shift by the messages sent before.
    from gatebook.host.ouch.framing import HEADER_STRUCT
    sent = {}
    for _, payload in before:
        session, sequence, count = HEADER_STRUCT.unpack_from(payload)
        sent[session] = max(sent.get(session, 1), sequence + count)
    shifted = []
    for peer, payload in after:
        session, sequence, count = HEADER_STRUCT.unpack_from(payload)
        shifted.append((peer, HEADER_STRUCT.pack(session, sequence + sent.get(session, 1) - 1,
                                                 count) + payload[HEADER_STRUCT.size:]))
    shifted[10:10] = rng.sample(before, 20)              # retransmissions of old datagrams
    return before + _directed(1), shifted + _directed(6)


@pytest.mark.parametrize("first, second", [(False, False), (False, True), (True, False),
                                           (True, True)],
                         ids=["python-python", "python-compiled", "compiled-python",
                              "compiled-compiled"])
@pytest.mark.parametrize("seed", [1, 2])
def test_a_restored_gateway_goes_on_as_the_one_that_never_stopped(first, second, seed):
    if True in (first, second) and status()[0] is None:
        pytest.skip(status()[1])
    before, after = _continuation(seed)
    steady = _side(first)
    _run(steady, before)
    expected = _run(steady, after)

    stopped = _side(first)
    _run(stopped, before)
    state = stopped[0].export_state(stopped[1])
    # A new process: a fresh gateway and replier; the engine as recovery gives it.
    restarted = _side(second, engine=stopped[2], next_seq=stopped[0].sequencer.next_seq,
                      clock=stopped[0].sequencer.clock)
    restarted[0].restore_state(state, restarted[1])
    assert restarted[0].export_state(restarted[1]) == state
    got = _run(restarted, after)
    assert got[0] == expected[0]                         # the same commands
    assert got[1] == expected[1]                         # the same replies, byte for byte
    assert any(payload for payload, _ in got[1])


@pytest.mark.parametrize("compiled", PATHS)
def test_both_paths_export_the_same_state(compiled):
    before, after = _continuation(3)
    states = []
    for path in (False, compiled):
        side = _side(path)
        _run(side, before + after)
        states.append(side[0].export_state(side[1]))
    assert states[0] == states[1]
    assert states[0].order_ids and states[0].owners and states[0].sequences


def _without_idle(state):
    """Sessions that only ever sent datagrams that made no command leave no
    trace in the log: drop the entries such datagrams alone make."""
    state = state.copy()
    state.expected = {s: n for s, n in state.expected.items() if n != 1}
    return state


@pytest.mark.parametrize("compiled", PATHS)
def test_replaying_the_log_rebuilds_the_state(compiled):
    before, after = _continuation(4)
    side = _side(compiled)
    log = []
    _run(side, before + after, log)
    live = side[0].export_state(side[1])
    rebuilt = GatewayState()
    for command, origin, events in log:
        rebuilt.replay(command, origin, events)
    assert _without_idle(rebuilt) == _without_idle(live)


def test_commands_without_an_origin_still_number_their_owners_replies():
    """A mass cancel (an admin tool's, no origin) cancels order-entry orders:
    their owners' replies are numbered, so the replay counts them."""
    from gatebook.wire import internal
    side = _side(False)
    log = []
    _run(side, [(("1.2.3.4", 5), encode_datagram(4, 1, [
        (_O, 1, "GATE", 0, 0, 0, 100, 100_0000, 0), (_O, 2, "GATE", 0, 0, 0, 100, 99_0000, 0)]))],
        log)
    gateway, replier, engine = side
    from gatebook.wire.enums import MassCancelScope
    mass = gateway.sequencer.stamp(internal.MASS_CANCEL.code, MassCancelScope.USER, 4, 0)
    events = engine.apply(mass)
    replier.add(events)
    replier.flush()
    log.append((mass, None, events))
    rebuilt = GatewayState()
    for entry in log:
        rebuilt.replay(*entry)
    assert rebuilt == gateway.export_state(replier)
    assert rebuilt.sequences[4] == 5                    # 2 accepted, 2 canceled


@pytest.mark.parametrize("compiled", PATHS)
def test_a_deferred_export_is_the_state_when_it_was_taken(compiled):
    """A snapshot takes the state on the matching thread (the compiled gateway
    copies its tables) and builds it later in the background: traffic in
    between must not show."""
    before, after = _continuation(8)
    side = _side(compiled)
    _run(side, before)
    now = side[0].export_state(side[1])
    later = side[0].export_state(side[1], deferred=True)
    _run(side, after)
    assert later() == now != side[0].export_state(side[1])


@pytest.mark.skipif(status()[0] is None, reason=status()[1])
def test_a_copy_of_the_compiled_tables_takes_no_commands():
    gateway = _side(True)[0]
    copy = gateway._core.copy()
    with pytest.raises(RuntimeError, match="takes no commands"):
        copy.commands(b"", [])
    with pytest.raises(RuntimeError, match="loads nothing"):
        copy.load({}, {}, {}, {})
    from gatebook.dpdk_bridge.fast import load
    with pytest.raises(TypeError, match="not a copy"):
        load().ReplierCore(Replier(gateway, DEFAULT_SYMBOLS), copy)
    with pytest.raises(TypeError, match="four dicts"):
        gateway._core.load({}, {}, {})
    with pytest.raises(OverflowError):
        gateway._core.load({(2**32, 1): 1}, {}, {}, {})


@pytest.mark.parametrize("compiled", PATHS)
def test_the_token_map_holds_live_orders_only(compiled):
    """Over a day of orders that come and go, the token map and the owners (what
    a snapshot's gateway section holds) keep only the orders still live; the
    log's replay forgets the same ones; a gone order's token names a new order."""
    side = _side(compiled)
    gateway, _, engine = side
    log = []
    datagrams = [(("127.0.0.1", 20000 + session), payload) for session, payload in
                 flow_datagrams(generate_flow(6000, seed=12), DEFAULT_SYMBOLS)]
    _run(side, datagrams, log)
    live = set(engine.orders)
    assert set(gateway.owners) == live and set(gateway.order_ids.values()) == live
    assert len(gateway.order_ids) == len(live) < gateway.next_order_id // 4
    replayed = GatewayState()
    for command, origin, events in log:
        replayed.replay(command, origin, events)
    assert (replayed.order_ids, replayed.owners) == (gateway.order_ids, gateway.owners)
    # A filled order's token, used again, is a new order (not a duplicate).
    session, token = next((key for key in _used_tokens(log) if key not in gateway.order_ids))
    commands, _ = _run(side, [(("127.0.0.1", 20000 + session), encode_datagram(
        session, gateway.tracker.expected.get(session, 1),
        [(_O, token, "GATE", 0, 0, 0, 100, 100_0000, 0)]))])
    order_id = commands[0][1 + internal.NEW_ORDER.field_names.index("order_id")]
    assert order_id == gateway.next_order_id - 1 and order_id in engine.orders
    assert gateway.order_ids[(session, token)] == order_id


def _used_tokens(log):
    return [(origin.session, origin.token) for command, origin, _ in log
            if origin is not None and command[0] == ord("O")]


def test_remembering_replies_changes_nothing_else(monkeypatch):
    """With `keep_recent`, the replay keeps each session's latest replies, numbered
    without gaps up to the next reply number, and rebuilds the same state."""
    side, log = _side(False), []
    _run(side, _traffic(3), log)
    plain = GatewayState()
    for entry in log:
        plain.replay(*entry)
    monkeypatch.setattr(GatewayState, "keep_recent", 50)
    remembering = GatewayState()
    for entry in log:
        remembering.replay(*entry)
    assert remembering == plain and remembering.recent
    for session, kept in remembering.recent.items():
        numbers = [number for number, *_ in kept]
        assert numbers == list(range(plain.sequences[session] - len(kept),
                                     plain.sequences[session]))
        assert len(kept) <= 50
