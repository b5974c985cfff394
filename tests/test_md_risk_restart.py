"""The MoldUDP64 session goes on across a restart when a pre-trade risk gate stands in
front of the engine: what the feed published follows from the logged events, and the
gate's rejects are in them (a bare engine replaying the commands would accept the
orders the gate refused, miss the recovered state and open a new session)."""

from gatebook.host.clock import ManualClock
from gatebook.host.engine import MatchingEngine
from gatebook.host.risk import AccountLimits, RiskGate
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.host.wal.loadgen import START_NS, STEP_NS, seeded_commands

from test_md_checkpoint import Feed, _after
from test_md_restart import Reference

# Small enough that the seeded flow's larger orders and buyers run out of credit.
TIGHT = AccountLimits(buying_power=2_000_000_000, max_position=3_000, max_order_qty=400,
                      max_order_notional=1_000_000_000)


def _front(engine, saved):
    """The journal's front, as build_exchange makes it: the snapshot's gate, else a new one."""
    if saved is not None:
        return RiskGate.restore(engine, DEFAULT_SYMBOLS, saved)
    return RiskGate(engine, DEFAULT_SYMBOLS, {}, default_limits=TIGHT)


class GatedReference(Reference):
    """The feed of a gated exchange that never stopped."""

    def __init__(self):
        super().__init__()
        self.engine = RiskGate(MatchingEngine(DEFAULT_SYMBOLS), DEFAULT_SYMBOLS, {},
                               default_limits=TIGHT)


def _restart_goes_on(tmp_path, snapshot_every, expected):
    directory = str(tmp_path / "log")
    commands = list(seeded_commands(5, 1500))
    reference = GatedReference()
    first = Feed(directory, ManualClock(START_NS, STEP_NS), snapshot_every=snapshot_every,
                 front=_front)
    first.run(commands[:900], reference)
    first.close()
    refused = sum(reference.engine.rejected.values())
    assert refused > 20, refused                        # the gate decided some
    before = first.publisher.next_sequence

    second = Feed(directory, ManualClock(START_NS + 900 * STEP_NS, STEP_NS),
                  snapshot_every=snapshot_every, front=_front)
    assert second.start.continued and not second.start.refused, second.start.why
    assert expected in second.start.why, second.start.why
    assert second.publisher.next_sequence == before
    second.run(commands[900:], reference)
    second.close()
    assert _after(second.sent, before) == _after(reference.packets, before)
    assert len(_after(second.sent, before)) > 100


def test_a_gated_exchange_goes_on_with_its_session_replaying_the_whole_log(tmp_path):
    _restart_goes_on(tmp_path, 1_000_000, "logged commands replayed")


def test_a_gated_exchange_goes_on_with_its_session_from_a_feed_checkpoint(tmp_path):
    _restart_goes_on(tmp_path, 256, "goes on from its feed checkpoint at seq 768")
