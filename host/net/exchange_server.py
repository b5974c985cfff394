"""The exchange loop: commands from every order entry in, replies and market data out.

# Ref: docs/network.md; NASDAQ MoldUDP64 1.00 (market-data framing).

One loop over one or more order-entry protocols (`OrderEntry`,
host/net/order_entry_api.py: OUCH datagrams in host/ouch/, FIX next), each
owning its transport: every poll takes each entry's stamped commands (one
shared sequencer, one shared source of exchange order ids), applies them to
the engine one at a time, hands every command's events to the ITCH feed and
to every entry (each replies for its own orders only), then lets each entry
send its replies. Market data is packed into MoldUDP64 and sent to the
feed's destination, normally a multicast group.

With a journal (host/wal/journal.py) the engine is the journaled exchange:
entries stamp commands with the journal's sequencer, every command is logged
with its origin (the entry's protocol id and bytes), and each burst's
replies and market data wait in order until the journal's acknowledgement
says the burst's last command is durable under its policy (and, with
synchronous replication, on the standby too). Each entry starts from the
state the journal recovered for its protocol, so a restart keeps client
tokens and numbering. Snapshots are taken between bursts, where every
entry's state is exactly the state after the last command.

With a pipelined engine (a `HybridExchange` whose lanes are at the end of a
link, and no journal) a poll does not wait a round trip per command: each
entry's commands are submitted as they come, their events come back in
sequence order and go to the feed and the entries then, and the poll waits
once, at its end, before the entries send their replies. An entry's replies
for a command still read its client tokens as they were when that command
was sequenced (host/ouch/: renames kept by sequence number), and where the
entry's next command depends on answers still due it says `SETTLE` and the
exchange waits for them first, so every reply is the one the golden engine
gives one command at a time (tests/test_link_pipeline.py).
"""

import threading
import time
from collections import Counter, deque

from gatebook.wire import internal
from gatebook.wire.codec import WireError
from gatebook.wire.positions import CODE, INTERNAL

from ..engine import MatchingEngine
from ..marketdata.publisher import STORE_MESSAGES
from ..marketdata.resume import open_market_data
from ..sequencer import Sequencer
from .order_entry_api import SETTLE, EntryContext, OrderEntry, OrderIds

__all__ = ["Exchange", "Acknowledgements"]

_SEQ = INTERNAL.NEW_ORDER.seq       # every command's seq (gatebook.wire.positions)
_REJECTED = internal.REJECTED.code


class Acknowledgements:
    """The highest sequence number that may be acknowledged: a journal's `on_ack`.

    Called (with a sequence number) from the log writer's or the replication
    thread; the exchange loop reads `seq` and may `wait` for it to move.
    """

    def __init__(self, seq=0):
        self.seq = seq
        self._cond = threading.Condition()

    def __call__(self, seq):
        with self._cond:
            if seq > self.seq:
                self.seq = seq
                self._cond.notify_all()

    def wait(self, seq, timeout):
        """True once `seq` may be acknowledged, False after `timeout` seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: self.seq >= seq, timeout)


class Exchange:
    """Order entries, engine, replies and market data: one exchange's loop.

    Parameters
    ----------
    port : DatagramPort or None
        Sends market data (unless `md_port`); None with no `md_destination`.
    symbols : iterable of SymbolSpec
    clock : callable returning int nanoseconds (the sequencer's)
    order_entry : OrderEntry or iterable of OrderEntry
        The protocols clients send orders through (at least one; at most one
        per protocol id, whose state the log keeps under that id). Each owns
        its transport; the exchange polls them in order.
    md_destination : (ip, port) or None
        Where MoldUDP64 market data goes; None sends none.
    md_port : DatagramPort or None
        Sends market data, when it should leave by another port than `port`.
    session : str
        The MoldUDP64 session name (10 characters at most). With a journal the
        session the log was publishing goes on (host/marketdata/resume.py).
    md_store_messages : int
        Market-data messages kept for re-requests (host/marketdata/publisher.py).
    engine : object with `apply(command) -> events`, optional
        The matcher: by default the golden model in this process; a
        `gatebook.host.hybrid.HybridExchange` puts hot symbols in hardware lanes, in
        process or at the end of a packet link (`gatebook.host.net.link.PacketLaneLink`).
    journal : gatebook.host.wal.JournaledExchange, optional
        Log every command: the journal is the engine and its sequencer
        stamps the commands (it continues the recovered sequence). Needs
        `acks`, the journal's `on_ack`.
    acks : Acknowledgements, optional
        With a journal: replies and market data of a burst leave only once
        `acks.seq` reaches the burst's last sequence number.

    Attributes
    ----------
    pipeline : bool
        Whether commands are submitted without waiting for each one's events:
        True by default when `engine` is pipelined (has `submit`, `subscribe`
        and `drain`, as `HybridExchange`) and there is no journal. Set it False
        to wait a round trip per command (`gatebook run --link-pipeline off`).
    """

    def __init__(self, port, symbols, clock, md_destination=None, md_port=None,
                 session="GATEBOOK01", engine=None, journal=None, acks=None, order_entry=(),
                 md_store_messages=STORE_MESSAGES):
        entries = (order_entry,) if isinstance(order_entry, OrderEntry) else tuple(order_entry)
        if not entries:
            raise ValueError("an exchange needs an order entry (an OrderEntry, e.g. "
                             "gatebook.host.ouch.OuchEntry) for clients to send orders through")
        for entry in entries:
            if not isinstance(entry, OrderEntry):
                raise TypeError(f"{entry!r} is not an OrderEntry (gatebook.host.net."
                                f"order_entry_api): it lacks some of its methods")
        protocols = [int(entry.protocol) for entry in entries]
        if len(set(protocols)) != len(protocols):
            raise ValueError(f"two order entries of one protocol ({protocols}): the log keeps "
                             f"one state per protocol")
        self.entries, self.entry = entries, entries[0]
        self.port, self.md_port = port, md_port or port
        self.md_destination, self.session = md_destination, session
        if journal is not None and (engine is not None or acks is None):
            raise ValueError("a journal is the engine, and needs the acknowledgements it feeds")
        self.journal, self.acks = journal, acks
        self.sequencer = journal.sequencer if journal else Sequencer(clock)
        # Order ids continue after every id the recovered engine has seen.
        self.order_ids = OrderIds(max(journal.engine.used_ids, default=0) + 1 if journal else 1)
        self.engine = journal if journal is not None else (
            engine if engine is not None else MatchingEngine(symbols))
        self._held = deque()          # (last seq, [(entry, batch)], ITCH records) awaiting acks
        self._in_flight = deque()     # (entry, command) submitted, events not yet delivered
        pipelined = journal is None and all(callable(getattr(self.engine, name, None))
                                            for name in ("submit", "subscribe", "drain"))
        self.pipeline = pipelined
        self.counts = Counter()       # datagrams_in, orders, replies, md_packets, md_messages
        # callable(poll, burst) -> received that runs one poll, timing it (host/metrics.py).
        self.burst_timer = None
        symbols = tuple(symbols)
        for entry in entries:
            entry.attach(EntryContext(
                self.sequencer, self.order_ids, symbols, clock, self.counts,
                engine=journal.engine if journal else None,
                recovered=journal.states.get(entry.protocol) if journal else None,
                journaled=journal is not None,
                in_flight=self._in_flight.__len__ if pipelined else None))
        if journal is not None:
            self._apply = {entry: self._journaled(journal, entry) for entry in entries}
            journal.entry_states = lambda: {int(entry.protocol): entry.export_state()
                                            for entry in entries}
        else:
            self._apply = dict.fromkeys(entries, self.engine.apply)
        self._itch = []
        # The MoldUDP64 session: a new one, or the one the log was publishing.
        self.market_data = open_market_data(symbols, self._itch.extend, session, self._send_md,
                                            clock, journal, md_store_messages,
                                            continue_session=md_destination is not None)
        self.feed, self.publisher = self.market_data.feed, self.market_data.publisher
        # Every applied command's events go to the feed, then to every entry.
        self._listeners = (self.feed,) + tuple(listen for entry in entries
                                               for listen in entry.listeners)
        self._clock = clock
        if pipelined:
            self.engine.subscribe(self._deliver)
        if md_destination is not None:
            self._publish(self.market_data.opening)
            if self.market_data.continued:
                self.publisher.send_heartbeat()     # subscribers see where it goes on

    @staticmethod
    def _journaled(journal, entry):
        """`apply` for the journal: each command logged with its origin."""
        log, origin_of = journal.apply, entry.origin

        def apply(command):
            try:
                origin = origin_of(command)
            except Exception as error:      # noqa: BLE001 (any entry's fault costs one command)
                # The entry could not say where the command came from: it is not
                # logged, so it never happened, and its number goes to the next one.
                journal.give_back(command)
                raise WireError(f"no origin for seq {command[_SEQ]}: "
                                f"{type(error).__name__}: {error}") from None
            return log(command, origin)
        return apply

    @property
    def messages(self):
        """Order messages every entry has taken so far."""
        return sum(entry.messages for entry in self.entries)

    def poll(self, burst=32):
        """Take at most `burst` units (datagrams, messages) from each entry; return how many came.

        Every entry hears every command's events, so once anything came every
        entry ends its burst (its replies may be about another entry's command,
        such as a fill of its resting order); when nothing came, each is idle.
        With a `burst_timer` (the metrics' histogram), the poll runs through it:
        two clock reads per burst, nothing per command.
        """
        if self.burst_timer is not None:
            return self.burst_timer(self._poll, burst)
        return self._poll(burst)

    def _poll(self, burst):
        received, hold = 0, self.acks is not None
        pipeline = self.pipeline
        try:
            for entry in self.entries:
                together = pipeline and getattr(entry, "pipelines", False)
                if pipeline and not together:
                    self.engine.drain()     # it takes commands as answers stand now
                count, commands = entry.receive(burst)
                if count:
                    received += count
                    self.counts["datagrams_in"] += count
                    if together:
                        self._submit_all(entry, commands)
                    elif pipeline:
                        self._submit_all(entry, commands, each=True)
                    else:
                        self._apply_all(entry, commands)
            if pipeline:
                self.engine.drain()         # every reply of the burst is in
        finally:
            # Also when the journal fails mid-burst (LogFailure): what was
            # applied before is held like any output and leaves only if acked.
            self.counts["orders"] = self.messages
            if received:
                batches = [(entry, batch) for entry in self.entries
                           if (batch := entry.end_burst(hold))]
                self._output(batches)
            else:
                for entry in self.entries:
                    entry.idle()
        if self.journal is not None and self.journal.snapshot_due:
            self.journal.snapshot()         # between bursts: every entry's state is whole
        return received

    def _apply_all(self, entry, commands):
        """Apply `entry`'s commands one at a time; every listener hears each one's events."""
        apply, listeners = self._apply[entry], self._listeners
        for command in commands:
            if command is SETTLE:
                continue                # each command is answered before the next anyway
            try:
                events = apply(command)
            except WireError as error:
                # Only a journal raises this, before the engine saw the command and
                # after giving its sequence number back: the command never happened.
                entry.refuse(command, f"command cannot be logged: {error}")
                continue
            for listen in listeners:
                listen(events)

    def _submit_all(self, entry, commands, each=False):
        """Submit `entry`'s commands to the pipelined engine; `_deliver` hears their events.

        `SETTLE` from the entry: wait for every answer due before its next
        command. `each`: wait for each command's answer (an entry that cannot
        have commands in flight).
        """
        submit, drain, in_flight = self.engine.submit, self.engine.drain, self._in_flight
        for command in commands:
            if command is SETTLE:
                self.counts["settles"] += 1
                drain()
                continue
            in_flight.append((entry, command))
            submit(command)
            if each:
                drain()

    def _deliver(self, events):
        """One submitted command's events, in sequence order: to the feed and every entry."""
        if not self._in_flight:
            return                  # the engine's own apply() (pipeline off) returns them
        entry, command = self._in_flight.popleft()
        if events and events[0][CODE] == _REJECTED and getattr(entry, "pipelines", False):
            events = entry.resolve(command, events)
        for listen in self._listeners:
            listen(events)

    def _output(self, batches):
        if self.acks is None:
            if self._itch:
                self._publish(self._itch)
                self._itch.clear()
            return
        if batches or self._itch:
            self._held.append((self.sequencer.next_seq - 1, batches, self._itch[:]))
            self._itch.clear()
        self.release()

    def release(self):
        """Send the held replies and market data whose commands are acknowledged."""
        held, acked = self._held, self.acks.seq
        while held and held[0][0] <= acked:
            _, batches, itch = held.popleft()
            for entry, batch in batches:
                entry.send(batch)
            if itch:
                self._publish(itch)

    def _publish(self, records):
        if self.md_destination is None:
            return
        packets, messages = self.publisher.publish(records)
        self.counts["md_packets"] += packets
        self.counts["md_messages"] += messages

    def _send_md(self, packets):
        return self.md_port.send([(packet, self.md_destination) for packet in packets])

    def run(self, seconds=None, max_orders=None, burst=32, idle_sleep=0.0002):
        """Poll until `seconds` pass or `max_orders` orders were handled."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            if max_orders is not None and self.messages >= max_orders:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            if not self.poll(burst):
                if self._held:
                    self.acks.wait(self._held[0][0], idle_sleep or 0.001)
                    self.release()
                elif idle_sleep:
                    time.sleep(idle_sleep)

    def close(self, end_of_day=True, drain_seconds=1.0):
        """Send the end-of-day system events and MoldUDP64's end of session.

        Not with a journal: its session outlives the process, and the next
        start goes on with it (host/marketdata/resume.py).

        With a journal, held output first waits up to `drain_seconds` for its
        acknowledgement; what is still not acknowledged then is dropped:
        those commands were never acknowledged.
        """
        for entry in self.entries:
            entry.close()
        if self._held:
            self.acks.wait(self._held[-1][0], drain_seconds)
            self.release()
            self._held.clear()
        if self.md_destination is not None and end_of_day and self.journal is None:
            self._publish(self.feed.end_of_day(self._clock()))
            self.publisher.end_session()
