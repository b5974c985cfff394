"""What the journal does with a command it cannot log or apply: it refuses it before the
engine sees it, or drops its INPUT record when the engine raises, and gives its sequence
number back either way, so the log stays gapless and recovers to the same state."""

import pytest

from gatebook.host.wal.journal import JournaledExchange
from gatebook.host.wal.recovery import recover
from gatebook.wire import internal
from gatebook.wire.codec import WireError
from gatebook.wire.positions import INTERNAL

_PRICE = 1_000_000
_ORDER_ID = INTERNAL.NEW_ORDER.order_id
_BROKEN_ORDER = 13


class _RaisingFront:
    """A front (where host/risk's gate stands) that raises on one order id, as a bug would."""

    def __init__(self, engine, saved):
        self.engine = engine

    def apply(self, command):
        if command[0] == internal.NEW_ORDER.code and command[_ORDER_ID] == _BROKEN_ORDER:
            raise RuntimeError("a bug in front of the engine")
        return self.engine.apply(command)

    def export(self):
        return None


def _order(order_id):
    return (internal.NEW_ORDER.code, 1, order_id, 7, 0, 0, 1, _PRICE, 0, 100)


def test_a_command_the_engine_raises_on_leaves_no_gap_in_the_log(tmp_path):
    exchange = JournaledExchange(str(tmp_path), front=_RaisingFront, snapshot_every=0)
    exchange.submit(*_order(1))
    with pytest.raises(RuntimeError):
        exchange.submit(*_order(_BROKEN_ORDER))
    seq, events = exchange.submit(*_order(2))
    assert seq == 2 and events
    exchange.close()
    engine, report = recover(str(tmp_path), verify_outputs=True)
    assert report.last_seq == 2 and engine.state_hash() == exchange.engine.state_hash()


@pytest.mark.parametrize("origin", [(1, "not bytes"), (1, 5), (0, b"x"), (256, b"x"),
                                    (1.5, b"x"), (1,), (1, b"x" * 65536)])
def test_an_origin_the_log_cannot_hold_is_refused_and_its_number_given_back(tmp_path, origin):
    exchange = JournaledExchange(str(tmp_path), snapshot_every=0)
    exchange.entry_states = dict            # as an exchange that keeps its entries' states
    first = exchange.sequencer.stamp(*_order(1))
    with pytest.raises(WireError):
        exchange.apply(first, origin)
    assert exchange.sequencer.next_seq == 1 and not exchange.engine.orders
    seq, _ = exchange.submit(*_order(2))
    assert seq == 1
    exchange.close()
    engine, report = recover(str(tmp_path), verify_outputs=True)
    assert report.last_seq == 1 and engine.state_hash() == exchange.engine.state_hash()
