"""Pre-trade risk on a hot standby: the follower rebuilds the primary's risk gate from its
own log and feeds it every command the primary sends, so its decisions are checked against
the primary's OUTPUT records like the engine's; promoted, it decides as the primary would
have."""

from gatebook.host.clock import ManualClock
from gatebook.host.engine import MatchingEngine
from gatebook.host.risk import RISK_REASONS, AccountLimits, RiskGate
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.host.wal.journal import JournaledExchange
from gatebook.host.wal.loadgen import START_NS, STEP_NS, seeded_commands, stamped
from gatebook.host.wal.replication import ReplicationServer
from gatebook.wire import internal

from replication_helpers import SECRET, caught_up, followers  # noqa: F401 (fixture)

TIGHT = AccountLimits(buying_power=3_000_000_000, max_position=600, max_order_qty=450,
                      max_order_notional=400_000_000)


def _front(engine, saved):
    if saved is not None:
        return RiskGate.restore(engine, DEFAULT_SYMBOLS, saved)
    return RiskGate(engine, DEFAULT_SYMBOLS, {}, default_limits=TIGHT)


def test_the_standby_decides_as_the_primary_and_goes_on_deciding_after_promotion(
        tmp_path, followers):  # noqa: F811 (the fixture)
    commands = list(seeded_commands(11, 2000))
    reference = RiskGate(MatchingEngine(DEFAULT_SYMBOLS), DEFAULT_SYMBOLS, {},
                         default_limits=TIGHT)
    expected = [reference.apply(command) for command in stamped(commands)]
    assert any(event[0] == internal.REJECTED.code and event[-1] in RISK_REASONS
               for events in expected[:1200] for event in events)
    primary = JournaledExchange(str(tmp_path / "primary"), clock=ManualClock(START_NS, STEP_NS),
                                front=_front)
    server = ReplicationServer(primary, secret=SECRET, heartbeat_interval=0.05)
    try:
        follower, thread, result = followers(server.address, front=_front)
        for command in commands[:1200]:
            primary.submit(*command)
        caught_up(follower, server, 1200)
        assert "error" not in result                # no ShadowMismatch: same decisions
        assert follower.front.export() == primary.front.export()
    finally:
        server.close()
        primary.close()
    thread.join(10)
    promoted = follower.promote()
    try:
        assert promoted.front is follower.front
        promoted.sequencer.clock = ManualClock(START_NS + 1200 * STEP_NS, STEP_NS)
        assert [promoted.submit(*command)[1] for command in commands[1200:]] == expected[1200:]
        assert promoted.front.export() == reference.export()
    finally:
        promoted.close()
