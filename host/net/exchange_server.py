"""The fast lane: order datagrams in, execution reports and market data out.

# Ref: docs/network.md; NASDAQ MoldUDP64 1.00 (market-data framing).

One loop over a `DatagramPort` (DPDK or kernel socket, chosen by the caller):
each burst of order datagrams goes through the session layer (logins; only a
logged-in session's datagrams from its own address pass, under the user's
id; host/net/sessions.py), the gateway (decode, sequence check, command), the
engine, the replier (execution reports to each user, kept in a reply history
for a client that logs in again and asks) and the ITCH feed (market data,
packed into MoldUDP64 and sent to the feed's destination, normally a
multicast group). Nothing here knows which backend carries the packets.

With a journal (host/wal/journal.py) the engine is the journaled exchange:
the gateway stamps commands with the journal's sequencer, every command is
logged, and each burst's execution reports and market data wait in order
until the journal's acknowledgement says the burst's last command is durable
under its policy (and, with synchronous replication, on the standby too).
Each command from order entry is logged with its origin (session, message
number, tokens, peer), and the gateway and replier start from the state the
journal recovered, so a restart keeps client tokens, session numbering and
reply numbering (host/wal/gateway_state.py). Snapshots are taken between
bursts, where the gateway's state is exactly the state after the last command.
"""

import threading
import time
from collections import Counter, deque

from gatebook.wire import itch50, mold
from gatebook.wire.codec import ProtocolCodec, WireError
from gatebook.wire.positions import INTERNAL

from ..engine import MatchingEngine
from ..marketdata.itch_feed import NANOSECONDS_PER_DAY, ItchFeed
from .order_entry import Gateway
from .order_replies import Replier
from .reply_history import KEPT_PER_USER, ReplyHistory
from .sessions import SessionLayer
from ..sequencer import Sequencer

__all__ = ["Exchange", "Acknowledgements"]

_SEQ = INTERNAL.NEW_ORDER.seq       # every command's seq (gatebook.wire.positions)

_ITCH = ProtocolCodec(itch50.ITCH50)
_MAX_MOLD_PAYLOAD = 1400          # keep MoldUDP64 packets under a 1500-byte MTU


def _resume_feed(feed, engine, ts):
    """Teach `feed` the recovered engine's book; return the ITCH records that show it.

    A restarted exchange opens a new MoldUDP64 session (numbered from 1), so
    its subscribers learn the book from an Add Order per resting order (best
    level first, time priority within a level), after the start of day, and a
    Stock Trading Action per halted symbol. Pending stops are remembered, not
    shown, as the feed does for stops it sees accepted.
    """
    from ..book import BUY, SELL
    add, action = itch50.ADD_ORDER, itch50.STOCK_TRADING_ACTION
    itch_side = {BUY: itch50.BUY, SELL: itch50.SELL}
    stamp = ts % NANOSECONDS_PER_DAY
    out = []
    for symbol, book in sorted(engine.books.items()):
        name = feed.specs[symbol].name if symbol in feed.specs else book.spec.name
        if book.halted:
            out.append((action.code, symbol, 0, stamp, name, "H", "", ""))
        for side in (BUY, SELL):
            for price, orders in book.orders_at(side):
                for order in orders:
                    ref = feed._new_ref()
                    feed.displayed[order.order_id] = [ref, order.qty, side]
                    out.append((add.code, symbol, feed._track(), stamp, ref, itch_side[side],
                                order.qty, name, price))
            for order in book.live_stops(side):
                feed.stops[order.order_id] = (symbol, side, order.order_type, order.price,
                                              order.qty)
    return out


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
    """Gateway, engine, replies and market data over one datagram port.

    Parameters
    ----------
    port : gatebook.dpdk_bridge.udp.DatagramPort
        Receives orders and sends replies (and market data, unless `md_port`).
    symbols : iterable of SymbolSpec
    clock : callable returning int nanoseconds (the sequencer's)
    md_destination : (ip, port) or None
        Where MoldUDP64 market data goes; None sends none.
    md_port : DatagramPort or None
        Sends market data, when it should leave by another port.
    session : str
        The MoldUDP64 session name (10 characters at most).
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
    accounts : gatebook.host.net.accounts.Accounts
        Who may log in (required: order entry without a login is not served).
    session_options : dict, optional
        Keyword arguments of `gatebook.host.net.sessions.SessionLayer` (timeout,
        table size, login and reply limits).
    reply_history : int
        Replies kept per user for a client that logs in again and asks for
        them (`gatebook.host.net.reply_history`); 0 keeps none (and lets a DPDK port
        write replies straight into its send burst).
    """

    def __init__(self, port, symbols, clock, md_destination=None, md_port=None,
                 session="GATEBOOK01", engine=None, journal=None, acks=None, accounts=None,
                 session_options=None, reply_history=KEPT_PER_USER):
        if accounts is None:
            raise ValueError("order entry needs accounts: every datagram is refused "
                             "until its sender logs in")
        self.port, self.md_port = port, md_port or port
        self.md_destination, self.session = md_destination, session
        if journal is not None and (engine is not None or acks is None):
            raise ValueError("a journal is the engine, and needs the acknowledgements it feeds")
        self.journal, self.acks = journal, acks
        self.gateway = Gateway(journal.sequencer if journal else Sequencer(clock), symbols)
        if journal is not None:
            engine = journal
            # Order ids continue after every id the recovered engine has seen.
            self.gateway.next_order_id = max(journal.engine.used_ids, default=0) + 1
        self.engine = engine if engine is not None else MatchingEngine(symbols)
        self._held = deque()          # (last seq, reply datagrams, ITCH records) awaiting acks
        self.replier = Replier(self.gateway, symbols)
        self.history = ReplyHistory(reply_history) if reply_history else None
        if self.history is not None and journal is not None:
            self.history.seed(journal.gateway.recent, symbols)
        self.sessions = SessionLayer(self.gateway, accounts, clock, replier=self.replier,
                                     history=self.history, **(session_options or {}))
        if journal is not None:
            self.sessions.limits.seed(journal.engine)
        if journal is not None:
            # Tokens, expected and reply numbers, peers: as the log left them.
            self.gateway.restore_state(journal.gateway, self.replier)
            # Sessions die with the process: no one is logged in, so no
            # report goes anywhere until its user logs in again.
            for user in list(self.gateway.peers):
                self.gateway.forget_peer(user)
            journal.gateway_state = lambda: self.gateway.export_state(self.replier,
                                                                      deferred=True)
            self._apply = self._journaled(journal)
        self._itch = []
        self.feed = ItchFeed(symbols, self._itch.extend)
        self.md_sequence = 1
        self.counts = Counter()       # datagrams_in, orders, replies, md_packets, md_messages
        self._clock = clock
        self._fast = hasattr(port, "recv_ouch")
        opening = self.feed.start_of_day(clock()) if md_destination is not None else []
        if journal is not None:
            opening += _resume_feed(self.feed, journal.engine, clock())
        if md_destination is not None:
            self._publish(opening)

    def _journaled(self, journal):
        """`apply` for the journal: each command with its origin and peer."""
        log, origin_of, peers = journal.apply, self.gateway.origins.get, self.gateway.peers

        def apply(command):
            origin = origin_of(command[_SEQ])
            return log(command, origin, peers.get(origin[0]) if origin else None)
        return apply

    def poll(self, burst=32):
        """Handle at most `burst` received datagrams; return how many came.

        A port with an order-entry fast path (`DpdkUdp.recv_ouch`) hands over
        the whole burst buffer split in C, up to its own burst size; any other
        port gives `(payload, peer)` pairs that the gateway frames one by one.
        """
        gateway, engine, replier, feed = self.gateway, self.engine, self.replier, self.feed
        sessions = self.sessions
        sessions.settle()                   # logins whose password check is done
        if self._fast:
            data, frames = self.port.recv_ouch()
            received = len(frames)
        else:
            datagrams = self.port.recv(burst)
            received = len(datagrams)
        if not received:
            self._answer_sessions()
            sessions.forget_ended()         # sessions the sweep ended
            return 0
        apply, add = self._apply if self.journal is not None else engine.apply, replier.add
        observe = sessions.limits.observe
        try:
            if self._fast:
                for command in sessions.commands(data, frames):
                    try:
                        events = apply(command)
                    except WireError as error:
                        self._unloggable(command, None, error)
                        continue
                    feed(events)
                    add(events)
                    observe(events)
            else:
                for payload, peer in datagrams:
                    for command in sessions.receive(payload, peer):
                        try:
                            events = apply(command)
                        except WireError as error:
                            self._unloggable(command, peer, error)
                            continue
                        feed(events)
                        add(events)
                        observe(events)
        finally:
            # Also when the journal fails mid-burst (LogFailure): what was
            # applied before is held like any output and leaves only if acked.
            self.counts["datagrams_in"] += received
            self.counts["orders"] = gateway.messages
            self._answer_sessions()
            if self.acks is None:
                # A DPDK port takes a compiled replier's datagrams straight into
                # its send burst; any other port sends what flush() gives.
                send_replies = getattr(self.port, "send_replies", None)
                if send_replies is not None and self.history is None:
                    self.counts["replies"] += send_replies(replier)
                else:
                    self._send_replies(replier.flush(self.history is not None))
                if self._itch:
                    self._publish(self._itch)
                    self._itch.clear()
            else:
                replies = replier.flush(self.history is not None)
                if replies or self._itch:
                    self._held.append((gateway.sequencer.next_seq - 1, replies, self._itch[:]))
                    self._itch.clear()
                self.release()
            sessions.forget_ended()         # after the flush: this burst's replies had them
        if self.journal is not None and self.journal.snapshot_due:
            self.journal.snapshot()         # between bursts: the gateway's state is whole
        return received

    def _answer_sessions(self):
        # Login answers and refusals are about no logged command: they leave now.
        answers = self.sessions.take_outbox()
        if answers:
            self.counts["session_replies"] += self.port.send(answers)

    def _unloggable(self, command, peer, error):
        # Only a journal raises this, before the engine saw the command and
        # after giving its sequence number back: the command never happened.
        self.gateway.origins.pop(command[_SEQ], None)
        self.gateway.refuse(peer, f"command cannot be logged: {error}", "unloggable")

    def release(self):
        """Send the held replies and market data whose commands are acknowledged."""
        held, acked = self._held, self.acks.seq
        while held and held[0][0] <= acked:
            _, replies, itch = held.popleft()
            self._send_replies(replies)
            if itch:
                self._publish(itch)

    def _send_replies(self, replies):
        # Every reply goes into the history; those with an address leave.
        if not replies:
            return
        if self.history is not None:
            self.history.add(replies)
            replies = [reply for reply in replies if reply[1] is not None]
        if replies:
            self.counts["replies"] += self.port.send(replies)

    def _publish(self, records):
        if self.md_destination is None:
            return
        packets, batch, size = [], [], 0
        for record in records:
            message = _ITCH.encode(record)
            if size + len(message) + 2 > _MAX_MOLD_PAYLOAD and batch:
                packets.append(self._packet(batch))
                batch, size = [], 0
            batch.append(message)
            size += len(message) + 2
        if batch:
            packets.append(self._packet(batch))
        self.counts["md_packets"] += self.md_port.send(
            [(packet, self.md_destination) for packet in packets])

    def _packet(self, messages):
        packet = mold.build(self.session, self.md_sequence, messages)
        self.md_sequence += len(messages)
        self.counts["md_messages"] += len(messages)
        return packet

    def run(self, seconds=None, max_orders=None, burst=32, idle_sleep=0.0002):
        """Poll until `seconds` pass or `max_orders` orders were handled."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            if max_orders is not None and self.gateway.messages >= max_orders:
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

        With a journal, held output first waits up to `drain_seconds` for its
        acknowledgement; what is still not acknowledged then is dropped:
        those commands were never acknowledged.
        """
        self.sessions.close()
        if self._held:
            self.acks.wait(self._held[-1][0], drain_seconds)
            self.release()
            self._held.clear()
        if self.md_destination is not None and end_of_day:
            self._publish(self.feed.end_of_day(self._clock()))
            self.md_port.send([(mold.end_of_session(self.session, self.md_sequence),
                                self.md_destination)])
