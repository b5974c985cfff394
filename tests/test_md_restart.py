"""The MoldUDP64 session survives a restart: the log says what the feed published."""

from gatebook.wire import mold
from gatebook.host.clock import ManualClock
from gatebook.host.engine import MatchingEngine
from gatebook.host.marketdata.itch_book import ItchBook
from gatebook.host.marketdata.itch_feed import ItchFeed
from gatebook.host.marketdata.publisher import MoldPublisher
from gatebook.host.marketdata.resume import open_market_data
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.host.wal.journal import JournaledExchange
from gatebook.host.wal.loadgen import START_NS, STEP_NS, seeded_commands
from gatebook.wire import itch50
from gatebook.wire.codec import ProtocolCodec

from test_md_publisher import messages_of

ITCH = ProtocolCodec(itch50.ITCH50)
SESSION = "GATEBOOK01"


class Reference:
    """The feed of an exchange that never stopped: the packets it sends, command by command."""

    def __init__(self):
        self.engine = MatchingEngine(DEFAULT_SYMBOLS)
        self.records, self.packets = [], []
        self.feed = ItchFeed(DEFAULT_SYMBOLS, self.records.extend)
        self.publisher = MoldPublisher(SESSION, self._send)
        self.opened = False

    def _send(self, packets):
        self.packets += packets
        return len(packets)

    def apply(self, command):
        if not self.opened:
            self.publisher.publish(self.feed.start_of_day(command[2]))
            self.opened = True
        self.feed(self.engine.apply(command))
        self.publisher.publish(self.records)
        self.records.clear()


def _run(journal, start, reference, commands, sent):
    """Submit `commands` to `journal` and `reference`; publish the journal's feed."""
    records = []
    start.feed.sink = records.extend
    for command in commands:
        stamped = journal.sequencer.stamp(*command)
        start.feed(journal.apply(stamped))
        reference.apply(stamped)
        start.publisher.publish(records)
        records.clear()
    return sent


def _open(directory, clock, sent, store_messages=100_000, **options):
    journal = JournaledExchange(directory, DEFAULT_SYMBOLS, clock=clock, **options)
    start = open_market_data(DEFAULT_SYMBOLS, list.append, SESSION,
                             lambda packets: sent.extend(packets) or len(packets), clock, journal,
                             store_messages)
    return journal, start


def test_a_restart_goes_on_with_the_session_exactly_where_it_was(tmp_path):
    directory, clock = str(tmp_path / "log"), ManualClock(START_NS, STEP_NS)
    commands = list(seeded_commands(7, 3000))
    reference, first_sent, second_sent = Reference(), [], []
    journal, start = _open(directory, clock, first_sent, snapshot_every=700)
    assert not start.continued and start.publisher.session == SESSION
    start.publisher.publish(start.opening)
    _run(journal, start, reference, commands[:1800], first_sent)
    journal.close()
    before = start.publisher.next_sequence

    journal, start = _open(directory, clock, second_sent, snapshot_every=700)
    assert start.continued and start.opening == [], start.why
    assert start.publisher.session == SESSION and start.publisher.next_sequence == before
    # What the first process sent can be sent again after the restart, byte for byte
    # (all but the opening, whose timestamp the replay takes from the first command).
    sent_before = {}
    for packet in first_sent:
        parsed = mold.parse(packet)
        for offset, message in enumerate(parsed.messages):
            sent_before[parsed.sequence_number + offset] = message
    opening = len(start.feed.start_of_day(0))
    again, count = start.publisher.retransmission(opening + 1, before)
    assert count == before - opening - 1
    assert [m for p in again for m in mold.parse(p).messages] == \
        [sent_before[seq] for seq in range(opening + 1, before)]
    # The restarted feed goes on exactly as a feed that never stopped.
    reference_start = len(reference.packets)
    _run(journal, start, reference, commands[1800:], second_sent)
    journal.close()
    assert second_sent == reference.packets[reference_start:] and len(second_sent) > 100
    assert start.publisher.snapshot()[0] == reference.publisher.snapshot()[0]


def test_a_log_cut_before_its_first_commands_opens_a_new_session_showing_the_book(tmp_path):
    directory, clock = str(tmp_path / "log"), ManualClock(START_NS, STEP_NS)
    commands = list(seeded_commands(8, 2000))
    reference, sent = Reference(), []
    journal, start = _open(directory, clock, sent, snapshot_every=500, prune="delete",
                           segment_bytes=16 << 10)
    _run(journal, start, reference, commands[:1500], sent)
    journal.snapshot(wait=True)
    journal.close()

    journal, start = _open(directory, clock, sent, segment_bytes=16 << 10)
    assert not start.continued and start.publisher.session == "GA00001500", start.why
    subscriber = ItchBook()
    start.publisher.publish(start.opening)
    _run(journal, start, reference, commands[1500:], sent)
    journal.close()
    for packet in sent:
        if mold.parse(packet).session == start.publisher.session:
            for message in mold.parse(packet).messages:
                subscriber.apply(ITCH.decode(message))
    for symbol, book in journal.engine.books.items():
        for side, letter in ((0, itch50.BUY), (1, itch50.SELL)):
            assert subscriber.orders_at(symbol, letter) == [
                (price, [order.qty for order in orders]) for price, orders in book.orders_at(side)]


def test_a_restarted_store_holds_the_last_messages_the_session_sent(tmp_path):
    directory, clock = str(tmp_path / "log"), ManualClock(START_NS, STEP_NS)
    reference, sent = Reference(), []
    journal, start = _open(directory, clock, sent)
    start.publisher.publish(start.opening)
    _run(journal, start, reference, list(seeded_commands(9, 1200)), sent)
    journal.close()
    before, numbered = start.publisher.next_sequence, messages_of(sent)

    journal, start = _open(directory, clock, [], store_messages=300)
    journal.close()
    assert start.continued and start.publisher.next_sequence == before
    again, count = start.publisher.retransmission(before - 300, 1000)
    assert count == 300 and messages_of(again) == {seq: numbered[seq]
                                                 for seq in range(before - 300, before)}
    (gone,), count = start.publisher.retransmission(before - 301, 1)
    assert count == 0 and mold.parse(gone).is_heartbeat
