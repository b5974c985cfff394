"""FIX prices, averages and the log-origin codec: exact integers, hostile bytes refused.

Prices are read as exact decimals into the engine's units (1/10000) and written back the
same way; AvgPx is exact to 8 decimals; FIX_LOG's origins and states round-trip and
refuse bytes that are not theirs with a ValueError (never another exception).
"""

import random

import pytest

from gatebook.host.fix import FIX_LOG, FixState
from gatebook.host.fix.log_origin import encode_origin
from gatebook.host.fix.requests import RequestError, parse_price
from gatebook.host.fix.state import FixOrder, FixOrigin, _average, price_text


@pytest.mark.parametrize("text, units", [("100", 1_000_000), ("100.5", 1_005_000),
                                         ("0.0001", 1), ("99.0500", 990_500),
                                         ("12345.6789", 123_456_789)])
def test_prices_are_exact_both_ways(text, units):
    assert parse_price(text) == units
    assert parse_price(price_text(units)) == units


@pytest.mark.parametrize("text, kind", [("1.00001", "off_tick"), ("1e3", "bad_price"),
                                        ("-1", "bad_price"), ("0.1.2", "bad_price"),
                                        ("nan", "bad_price"), ("1" * 40, "bad_price")])
def test_prices_that_are_not_plain_decimals_in_the_unit_are_refused(text, kind):
    with pytest.raises(RequestError) as refused:
        parse_price(text)
    assert refused.value.kind == kind


def test_avgpx_is_exact_where_a_float_is_not():
    # 3 fills at 100.01, 100.02, 100.02: 300.05 / 3 = 100.01666666...
    assert _average(1_000_100 + 2 * 1_000_200, 3) == "100.01666667"
    assert _average(3 * 1_000_100, 3) == "100.01" and _average(0, 0) == "0"
    assert _average(10 * 1_234_567, 10) == "123.4567"


def test_origins_and_states_round_trip():
    origin = FixOrigin(7, 12, 30, "G", "new", "old", 1)
    raw = encode_origin(origin)
    assert FIX_LOG.decode_origin(memoryview(raw), 0, len(raw)) == origin
    assert FIX_LOG.describe_origin(raw)["clordid"] == "new"
    state = FixState([FixOrder(5, 7, "a", 1, 0, 10, 6, 6 * 990_000, 990_000, 0, 1, 0)],
                     {7: [13, 31]})
    assert FIX_LOG.decode_state(FIX_LOG.encode_state(state)) == state


def test_hostile_origin_and_state_bytes_raise_value_error_only():
    raw = encode_origin(FixOrigin(7, 1, 1, "D", "abc", "", 0))
    rng = random.Random(11)
    for _ in range(2000):
        data = bytearray(raw[:rng.randrange(len(raw) + 1)])
        for _ in range(rng.randrange(3)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            FIX_LOG.decode_origin(memoryview(bytes(data)), 0, len(data))
        except ValueError:
            pass
    for junk in (b"", b"{", b"[]", b'{"orders": [[1]], "numbers": []}',
                 b'{"orders": [], "numbers": [[1, -1, 2]]}', b"\xff\xfe"):
        with pytest.raises(ValueError):
            FIX_LOG.decode_state(junk)


def test_only_the_order_a_replace_names_is_reported_replaced():
    """A replace to at most CumQty becomes a cancel of that order; another of the user's
    orders cancelled by the same command (self-trade prevention) is reported Canceled."""
    from gatebook.wire import internal
    from gatebook.wire.enums import CancelReason
    from gatebook.wire.records import make
    state = FixState([FixOrder(1, 7, "a", 1, 0, 10, 6, 6 * 990_000, 990_000),
                      FixOrder(2, 7, "b", 1, 1, 5, 0, 0, 1_000_000)])
    state.names = {1: "GATE"}

    def cancelled(order_id, qty, reason):
        return make(internal.CANCELLED, seq=9, ts=1, symbol=1, order_id=order_id, user=7,
                    qty=qty, reason=reason)
    origin = FixOrigin(7, 5, 20, "G", "a2", "a", 0)
    reports = state.reports([cancelled(2, 5, CancelReason.SELF_TRADE),
                             cancelled(1, 4, CancelReason.USER)], origin)
    by_clordid = {dict(body)[11]: dict(body) for _, _, body in reports}
    assert by_clordid["b"][150] == "4" and 41 not in by_clordid["b"]
    assert (by_clordid["a2"][150], by_clordid["a2"][39], by_clordid["a2"][41]) == ("5", "2", "a")
    assert state.orders == {} and state.ids == {}


def test_replay_takes_each_request_s_numbers_even_after_a_sequence_reset():
    from gatebook.wire import internal
    from gatebook.wire.records import make
    state = FixState()
    done = [make(internal.DONE, seq=1, ts=1, command=ord("X"), affected=0)]
    state.replay(None, FixOrigin(7, 40, 90, "F", "x", "gone", 0), done)
    assert state.numbers[7] == [41, 90]
    state.replay(None, FixOrigin(7, 2, 3, "F", "y", "gone", 0), done)    # after a reset
    assert state.numbers[7] == [3, 3]
