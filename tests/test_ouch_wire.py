"""The order-entry protocol's tables, codecs, datagrams and session tracking."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatebook.wire import ouch
from gatebook.wire.codec import ProtocolCodec, WireError
from gatebook.wire.enums import (AdminAction, CancelReason, LoginRejectReason, LogoutReason,
                                 MassCancelScope, OrderType, RejectReason, SessionRefusal, Side,
                                 TimeInForce)
from gatebook.host.ouch.framing import (HEADER_CODEC, INBOUND_CODEC, OUTBOUND_CODEC, SessionTracker,
                               decode_datagram, encode_datagram)

# Golden vectors, written by hand from the tables (STYLE 3).
GOLDEN = [
    (INBOUND_CODEC,
     (ord("O"), 0x0102030405060708, "AAPL", Side.BUY, OrderType.LIMIT, TimeInForce.DAY,
      100, 1_500_000, 0),
     "4f 0102030405060708 4141504c20202020 00 00 00 00000064 0016e360 00000000"),
    (INBOUND_CODEC, (ord("U"), 7, 8, 50, 1_499_900),
     "55 0000000000000007 0000000000000008 00000032 0016e2fc"),
    (INBOUND_CODEC, (ord("X"), 9), "58 0000000000000009"),
    (OUTBOUND_CODEC,
     (ord("E"), 1_700_000_000_000_000_000, 7, 30, 1_500_000, "R", 42, 70),
     "45 17979cfe362a0000 0000000000000007 0000001e 0016e360 52 000000000000002a 00000046"),
    (OUTBOUND_CODEC, (ord("J"), 5, 9, RejectReason.UNKNOWN_ORDER),
     "4a 0000000000000005 0000000000000009 0e"),
    (OUTBOUND_CODEC, (ord("C"), 5, 9, 100, CancelReason.USER),
     "43 0000000000000005 0000000000000009 00000064 01"),
    # The session messages: "alice" and "pw" space-padded to 16 and 32.
    (INBOUND_CODEC, (ord("L"), "alice", "pw", 3),
     "4c 616c696365202020 2020202020202020 7077202020202020 2020202020202020"
     " 2020202020202020 2020202020202020 0000000000000003"),
    (INBOUND_CODEC, (ord("Z"),), "5a"),
    (INBOUND_CODEC, (ord("Q"), MassCancelScope.USER_SYMBOL, 0, "GATE"),
     "51 02 00000000 4741544520202020"),
    (INBOUND_CODEC, (ord("W"), AdminAction.KILL, ""), "57 03 2020202020202020"),
    (OUTBOUND_CODEC, (ord("L"), 0xDEADBEEF, 7, 4, 9),
     "4c deadbeef 00000007 0000000000000004 0000000000000009"),
    (OUTBOUND_CODEC, (ord("K"), LoginRejectReason.NOT_AUTHORIZED), "4b 01"),
    (OUTBOUND_CODEC, (ord("Z"), LogoutReason.REPLACED), "5a 02"),
    (OUTBOUND_CODEC, (ord("R"), SessionRefusal.WRONG_PEER), "52 02"),
]


@pytest.mark.parametrize("codec, record, hex_text", GOLDEN)
def test_golden_vectors(codec, record, hex_text):
    data = bytes.fromhex(hex_text.replace(" ", ""))
    assert codec.encode(record) == data
    assert codec.decode(data) == tuple(record)


def test_sizes_follow_the_tables():
    assert ouch.SESSION_HEADER.size == 14
    assert ouch.ENTER_ORDER.size == 32
    assert ouch.CANCEL_ORDER.size == 9
    assert ouch.ACCEPTED.size == 1 + 8 + 8 + 8 + 3 + 12 + 8
    # 'U' means replace in both directions, so the two directions are two protocols
    assert ouch.INBOUND.by_code()[ord("U")] is ouch.REPLACE_ORDER
    assert ouch.OUTBOUND.by_code()[ord("U")] is ouch.REPLACED


def test_every_enum_field_names_an_internal_enum():
    for protocol in (ouch.INBOUND, ouch.OUTBOUND):
        for message in protocol.messages:
            for field in message.fields:
                if field.enum is not None:
                    assert field.width == 1 and max(field.enum) < 256


def test_datagram_round_trip_and_exact_length():
    records = [(ord("O"), 1, "MSFT", 1, 0, 1, 10, 3_000_000, 0), (ord("X"), 1)]
    data = encode_datagram(77, 5, records)
    assert data[:HEADER_CODEC.size] == bytes.fromhex("0000004d 0000000000000005 0002".replace(" ", ""))
    assert decode_datagram(data) == (77, 5, records)
    with pytest.raises(WireError, match="truncated"):
        decode_datagram(data[:-1])
    with pytest.raises(WireError, match="header says 2"):
        decode_datagram(data + encode_datagram(0, 0, [(ord("X"), 2)])[HEADER_CODEC.size:])
    with pytest.raises(WireError, match="shorter than"):
        decode_datagram(data[:5])
    with pytest.raises(WireError, match="unknown message type"):
        decode_datagram(data[:HEADER_CODEC.size] + b"?" * 9)


def test_session_tracker_flags_gaps_and_duplicates():
    tracker = SessionTracker()
    assert tracker.check(1, 1, 3).skip == 0                     # 1..3
    verdict = tracker.check(1, 2, 3)                            # 2..4: 2, 3 seen
    assert (verdict.skip, verdict.missing) == (2, None)
    verdict = tracker.check(1, 8, 1)                            # 5..7 never came
    assert (verdict.skip, verdict.missing) == (0, (5, 7))
    assert tracker.check(1, 5, 2).skip == 2                     # late: now duplicates
    assert tracker.check(2, 1, 1).skip == 0                     # sessions are separate
    assert (tracker.duplicates, tracker.gaps, tracker.expected) == (4, 3, {1: 9, 2: 2})


_ALPHA = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", max_size=8)


@given(token=st.integers(0, 2**64 - 1), stock=_ALPHA, side=st.sampled_from(Side),
       shares=st.integers(0, 2**32 - 1), price=st.integers(0, 2**32 - 1))
def test_enter_order_round_trips(token, stock, side, shares, price):
    record = (ord("O"), token, stock, side, 0, 0, shares, price, 0)
    codec = ProtocolCodec(ouch.INBOUND)
    assert codec.decode(codec.encode(record)) == record
