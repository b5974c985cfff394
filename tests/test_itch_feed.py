"""The ITCH 5.0 feed rebuilds every book exactly, order by order, through MoldUDP64."""

import pytest

from gatebook.wire import internal, itch50, mold
from gatebook.wire.codec import ProtocolCodec
from gatebook.wire.enums import AdminAction, OrderType, Side, TimeInForce
from gatebook.host.engine import MatchingEngine
from gatebook.host.flow import STANDARD_MIX, FlowMix, generate_flow
from gatebook.host.marketdata.itch_book import ItchBook
from gatebook.host.marketdata.itch_feed import ItchFeed
from gatebook.host.sequencer import Sequencer
from gatebook.host.clock import ManualClock
from gatebook.host.symbols import DEFAULT_SYMBOLS, SymbolSpec

ITCH = ProtocolCodec(itch50.ITCH50)
SIDES = {Side.BUY: itch50.BUY, Side.SELL: itch50.SELL}


class FeedRig:
    """Engine -> ItchFeed -> bytes -> MoldUDP64 packets -> parse -> decode -> ItchBook."""

    def __init__(self, specs, **engine_options):
        self.engine = MatchingEngine(specs, **engine_options)
        self.subscriber = ItchBook()
        self.packets = []
        self.next_sequence = 1
        self.feed = ItchFeed(specs, self._send)
        self.engine.subscribe(self.feed)
        self.executed = 0
        self.engine.subscribe(self._count_executions)
        self._send(self.feed.start_of_day(1_700_000_000_000_000_000))

    def _count_executions(self, events):
        qty = 1 + internal.EXECUTED.field_names.index("qty")
        self.executed += sum(e[qty] for e in events if e[0] == internal.EXECUTED.code)

    def _send(self, records):
        packet = mold.build("GATEBOOK01", self.next_sequence, [ITCH.encode(r) for r in records])
        self.next_sequence += len(records)
        self.packets.append(packet)
        for payload in mold.parse(packet).messages:
            self.subscriber.apply(ITCH.decode(payload))

    def assert_books_equal(self):
        for symbol, book in self.engine.books.items():
            for side in (Side.BUY, Side.SELL):
                expected = [(price, [o.qty for o in orders]) for price, orders in book.orders_at(side)]
                assert self.subscriber.orders_at(symbol, SIDES[side]) == expected, (symbol, side)
        assert self.subscriber.executed_shares == self.executed


@pytest.mark.parametrize("seed, mix, stp", [
    (1, STANDARD_MIX, False),
    (2, STANDARD_MIX, True),
    (3, FlowMix(mass_cancel_every=97, stop=0.05, replace=0.2), False),
    (4, FlowMix(marketable_limit=0.2, market=0.05, fok=0.05, depth_ticks=4), True),
])
def test_feed_rebuilds_every_book(seed, mix, stp):
    rig = FeedRig(DEFAULT_SYMBOLS, self_trade_prevention=stp)
    for index, command in enumerate(generate_flow(6000, seed=seed, mix=mix), 1):
        rig.engine.apply(command)
        if index % 250 == 0:
            rig.assert_books_equal()
    rig.assert_books_equal()
    assert rig.subscriber.names == {s.symbol_id: s.name for s in DEFAULT_SYMBOLS}


def scenario():
    spec = SymbolSpec(7, "TEST", tick_size=100, price_min=100, price_max=1_000_000)
    rig = FeedRig([spec])
    seq = Sequencer(ManualClock(start=1_700_000_000_000_000_000, step=1000))
    sent = []

    def send(command):
        start = len(rig.packets)
        rig.engine.apply(command)
        sent.append(command)
        return [ITCH.decode(p) for packet in rig.packets[start:] for p in mold.parse(packet).messages]

    def order(order_id, side, price, qty, user=1, tif=TimeInForce.GTC):
        return send(seq.new_order(7, order_id, user, int(side), int(OrderType.LIMIT), int(tif), price, qty))
    return rig, seq, send, order


def message_names(records):
    names = {m.code: m.name for m in itch50.ITCH50.messages}
    return [names[r[0]] for r in records]


def test_resting_order_is_added_with_what_is_left_after_its_fills():
    rig, seq, send, order = scenario()
    assert message_names(order(1, Side.SELL, 10_000, 300)) == ["add_order"]
    out = order(2, Side.BUY, 10_000, 500)
    assert message_names(out) == ["order_executed", "add_order"]
    assert out[1][itch50.ADD_ORDER.field_names.index("shares") + 1] == 200
    assert message_names(order(3, Side.SELL, 10_000, 200, tif=TimeInForce.IOC)) == ["order_executed"]
    rig.assert_books_equal()


def test_replace_messages():
    rig, seq, send, order = scenario()
    order(1, Side.BUY, 10_000, 500)
    order(2, Side.SELL, 10_300, 100)
    assert message_names(send(seq.replace(1, 1, 10_000, 300))) == ["order_cancel"]
    assert message_names(send(seq.replace(1, 1, 10_100, 300))) == ["order_replace"]
    # Through the ask: the old slot goes first, then the fill, then what rests.
    assert message_names(send(seq.replace(1, 1, 10_300, 300))) == \
        ["order_delete", "order_executed", "add_order"]
    assert message_names(send(seq.cancel(1, 1))) == ["order_delete"]
    rig.assert_books_equal()


def test_aggressors_market_ioc_fok_and_stops_never_show():
    rig, seq, send, order = scenario()
    order(1, Side.SELL, 10_000, 100)
    assert message_names(send(seq.new_order(7, 2, 2, int(Side.BUY), int(OrderType.MARKET),
                                            int(TimeInForce.IOC), 0, 300))) == ["order_executed"]
    assert send(seq.new_order(7, 3, 2, int(Side.BUY), int(OrderType.STOP), int(TimeInForce.GTC),
                              0, 100, stop_price=20_000)) == []
    assert send(seq.new_order(7, 4, 2, int(Side.BUY), int(OrderType.LIMIT), int(TimeInForce.FOK),
                              10_000, 100)) == []
    rig.assert_books_equal()


def test_halt_and_resume_are_trading_actions():
    rig, seq, send, order = scenario()
    state = 1 + itch50.STOCK_TRADING_ACTION.field_names.index("trading_state")
    halted = send(seq.admin(int(AdminAction.HALT), 7))
    assert message_names(halted) == ["stock_trading_action"] and halted[0][state] == "H"
    assert rig.subscriber.states[7] == "H"
    resumed = send(seq.admin(int(AdminAction.RESUME), 7))
    assert message_names(resumed) == ["stock_trading_action"] and resumed[0][state] == "T"
    assert rig.subscriber.states[7] == "T"
