"""The end-to-end shard bench's sender counts replies by header: no lost reply goes unseen."""

from gatebook.host.cli.shards_replies import ReplyTally
from gatebook.host.ouch.framing import OUTBOUND_CODEC, encode_datagram
from gatebook.wire import ouch
from gatebook.wire.layout import ALPHA

OWNER, FIRST = 7, 1
_REPLY = {message.name: message for message in ouch.OUTBOUND.messages}


def _replies(datagrams):
    """`datagrams` numbered reply datagrams of three OUTBOUND messages of different widths
    each (the tally frames a datagram by the tables' sizes)."""
    records = [_record(name) for name in ("accepted", "canceled", "executed")]
    return [encode_datagram(OWNER, FIRST + 3 * index, records, OUTBOUND_CODEC)
            for index in range(datagrams)]


def _record(name):
    message = _REPLY[name]
    return (message.code, *("" if field.kind == ALPHA else 0 for field in message.fields))


def _tally(datagrams):
    tally = ReplyTally(OWNER, FIRST)
    for data in datagrams:
        tally.add(data)
    return tally


def test_every_reply_counted_once_in_order():
    tally = _tally(_replies(5))
    assert tally.messages == 15 and tally.gap_messages == 0 and tally.complete(15)


def test_a_dropped_reply_datagram_is_a_gap_and_the_count_falls_short():
    datagrams = _replies(5)
    tally = _tally(datagrams[:2] + datagrams[3:])
    assert tally.messages == 12 and tally.gap_messages == 3 and not tally.complete(15)


def test_the_last_datagram_dropped_falls_short():
    tally = _tally(_replies(5)[:-1])
    assert not tally.complete(15)


def test_a_duplicate_does_not_hide_a_drop():
    """Summing header counts (the sender's old way) makes 15 of this; the tally does not."""
    datagrams = _replies(5)
    tally = _tally(datagrams[:2] + [datagrams[1]] + datagrams[3:])
    assert tally.duplicate_messages == 3 and tally.gap_messages == 3
    assert tally.messages == 12 and not tally.complete(15)


def test_truncated_foreign_and_short_datagrams_are_refused_by_kind():
    good = _replies(1)[0]
    stranger = encode_datagram(OWNER + 1, FIRST, [_record("canceled")], OUTBOUND_CODEC)
    tally = _tally([good[:-1], good + b"\x00", b"\x01\x02", stranger, bytes([0xFF]) * 40])
    assert tally.messages == 0
    assert tally.refused == {"TRUNCATED": 1, "TOO_MANY": 1, "SHORT": 1, "FOREIGN_SESSION": 1,
                             "UNKNOWN_TYPE": 1}
    tally.add(good)
    assert tally.complete(3)
