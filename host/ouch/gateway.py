"""Order entry: datagrams of the OUCH-like protocol to and from engine commands.

# Ref: gatebook/wire/ouch.py (the messages), gatebook/wire/internal.py (the
#      commands), host/ouch/framing.py (framing and sequence tracking).

`Gateway.datagram()` is the ingress: it decodes one datagram, drops
duplicates, notes gaps, maps each client's order tokens to exchange order
ids and hands stamped commands back. It never raises on what arrives: a
datagram that does not decode is counted under its reason and logged, and
the exchange goes on. Semantic checks (unknown symbol, bad price) are the
engine's: such an order still becomes a command, so it still gets a reply.

The gateway knows users, not logins: `host/ouch/sessions.py` stands in front
of it, admits a datagram only from a logged-in session's own address, and
hands it on with the account's user id where the header had the session id,
so `session` below is that key (the user id) and the frames it gets hold
order messages only.

`flow_datagrams()` (inject.py, re-exported here) goes the other
way for testers: it turns a flow of
internal commands into the datagrams clients would have sent.

With a pipelined engine (`pipeline()`: commands answered later than they
are taken, host/net/exchange_server.py) two things change. A replace that
renames an order's token is kept in `renames` with its sequence number until
the replier has taken that command's events, so a reply to an earlier
command names the token as it was then. And a message whose command depends
on answers still due is preceded by `SETTLE`: an enter order whose token
still names an order (which a fill in flight may end, freeing the token),
and a replace to a token that still names another order.

This module is the readable reference. Where `dpdk_bridge/_ouchfast.c` is
built, `Gateway(...)` gives a `CompiledGateway`, which does the same work
per message in C and is checked against this code by
tests/test_ouch_compiled.py.
"""

from collections import Counter, deque

from gatebook.wire import internal, ouch
from ..net.order_entry_api import SETTLE
from .gateway_state import GatewayState
from .gateway_views import CompiledOrigins, CompiledTracker

from .inject import flow_datagrams
from .framing import (HEADER_STRUCT, RAW_INBOUND, SessionTracker, frame_datagram,
                           refusal)

__all__ = ["Gateway", "CompiledGateway", "flow_datagrams"]

_ENTER, _REPLACE, _CANCEL = ouch.ENTER_ORDER.code, ouch.REPLACE_ORDER.code, ouch.CANCEL_ORDER.code
_NEW_ORDER, _CANCEL_CMD, _REPLACE_CMD = (internal.NEW_ORDER.code, internal.CANCEL.code,
                                         internal.REPLACE.code)
_ENTER_STRUCT, _REPLACE_STRUCT, _CANCEL_STRUCT = (RAW_INBOUND[_ENTER], RAW_INBOUND[_REPLACE],
                                                  RAW_INBOUND[_CANCEL])
_ENTER_SIZE, _REPLACE_SIZE, _CANCEL_SIZE = (_ENTER_STRUCT.size, _REPLACE_STRUCT.size,
                                           _CANCEL_STRUCT.size)
_SIZES = {code: layout.size for code, layout in RAW_INBOUND.items()}
_HEADER = HEADER_STRUCT.size

# The commands are built here as the Sequencer builds them (code, seq, ts, then
# the fields in internal.py's order), inline because this is the hot path;
# tests/test_ouch_gateway.py checks them against the flow they carry.
_BUILT = {
    internal.NEW_ORDER: ("seq", "ts", "symbol", "order_id", "user", "side", "order_type", "tif",
                         "price", "stop_price", "qty"),
    internal.CANCEL:    ("seq", "ts", "order_id", "user"),
    internal.REPLACE:   ("seq", "ts", "order_id", "user", "price", "qty"),
}
for _message, _fields in _BUILT.items():
    if _message.field_names != _fields:
        raise ImportError(f"gatebook.host.ouch.gateway builds {_message.name} as {_fields}; "
                          f"the table now says {_message.field_names}")


class Gateway:
    """Ingress of order-entry datagrams for one exchange.

    Parameters
    ----------
    sequencer : gatebook.host.sequencer.Sequencer
        Stamps the commands the gateway makes.
    symbols : iterable of SymbolSpec
        Maps the `stock` field to symbol ids; an unlisted stock maps to 0,
        which the engine rejects as an unknown symbol.
    log_size : int
        Refusals and gaps kept in `bad_log` and `gap_log`.
    compiled : bool or None
        Whether `Gateway(...)` gives the compiled twin of this class
        (`CompiledGateway`, built by `dpdk_bridge/fast.py`): None where it is
        built, True insists (FastPathUnavailable says why not), False keeps
        this readable Python, the reference. `path` says which runs, and why.
    """

    def __new__(cls, sequencer, symbols, log_size=1000, compiled=None):
        if cls is Gateway and compiled is not False:
            module, path = _compiled(sequencer)
            if module is not None:
                return super().__new__(CompiledGateway)
            if compiled:
                from gatebook.dpdk_bridge.fast import FastPathUnavailable
                raise FastPathUnavailable(path)
        return super().__new__(cls)

    def __init__(self, sequencer, symbols, log_size=1000, compiled=None):
        self.sequencer = sequencer
        self.symbol_ids = {spec.name.encode().ljust(8): spec.symbol_id for spec in symbols}
        self.tracker = SessionTracker()
        self.peers = {}                     # session -> address it last sent from
        self.bad = Counter()                # reason -> datagrams refused
        self.bad_log = deque(maxlen=log_size)    # (peer, reason) of the latest refusals
        self.gap_log = deque(maxlen=log_size)    # (session, first, last) never received
        self._start(compiled)

    def _start(self, compiled):
        self.order_ids = {}                 # (session, token) -> exchange order id
        self.owners = {}                    # exchange order id -> (session, token)
        self.next_order_id = 1
        # command seq -> (session, token, the message's session sequence number
        # [, previous token of a replace]): what its replies and the log need
        self.origins = {}
        self.messages = 0
        self.path = "python (asked for)" if compiled is False else _compiled(self.sequencer)[1]
        # (seq, order id, session, token before) of renames whose events are not in yet
        self.renames = deque()
        self.settles = False

    def pipeline(self):
        """Commands are answered later than they are taken: keep renames by sequence
        number and say `SETTLE` before a message that depends on answers still due."""
        self.settles = True
    def refuse(self, peer, reason, kind="undecodable"):
        """Count a refused datagram under `kind` and log `reason`."""
        self.bad[kind] += 1
        self.bad_log.append((peer, f"{kind}: {reason}"))

    def frame(self, payload, peer=None):
        """The frame tuple `commands` takes for one datagram, or None when it is
        refused (counted and logged here)."""
        session, sequence, count, error = frame_datagram(payload)
        if error is not None:
            self._refused(peer, error)
            return None
        return session, sequence, count, _HEADER, peer, None

    def _refused(self, peer, error):
        # A frame whose framing failed: `error` is (REFUSALS name, first, second).
        self.refuse(peer, refusal(*error))

    def _resync(self, data, session, sequence, count, at):
        # A datagram out of order: note the gap, skip the duplicates; the
        # (offset, count) of the messages still to take.
        verdict = self.tracker.check(session, sequence, count)
        if verdict.missing:
            self.gap_log.append((session, *verdict.missing))
        for _ in range(verdict.skip):
            at += _SIZES[data[at]]
        return at, count - verdict.skip

    def datagram(self, payload, peer=None):
        """Stamped commands for the new messages in one datagram (maybe none),
        all made before any is applied: where a message may name an order an
        earlier one of the same datagram ends, take `commands` one at a time."""
        frame = self.frame(payload, peer)
        return [] if frame is None else list(self.commands(payload, (frame,)))

    def commands(self, data, frames):
        """Stamped commands, one at a time, for the messages of `frames` in `data`.

        `data` is one buffer (a datagram, or a whole received burst); each frame
        is `(session, sequence_number, count, offset, peer, error)` for a
        datagram whose messages start at `offset` and whose framing has been
        checked (`frame`, or the DPDK ingress in C). A frame with an `error`
        (a `ouch_session.REFUSALS` name and two integers) is refused instead.
        This generator changes the gateway's state (order ids, tokens) just
        before it yields each command, so the caller should apply each command
        before taking the next: replies then see the tokens as they were.
        """
        expected, peers, symbol_ids = self.tracker.expected, self.peers, self.symbol_ids
        order_ids, owners, origins = self.order_ids, self.owners, self.origins
        stamp = self.sequencer
        clock = stamp.clock
        enter, replace, cancel = (_ENTER_STRUCT.unpack_from, _REPLACE_STRUCT.unpack_from,
                                  _CANCEL_STRUCT.unpack_from)
        for session, sequence, count, at, peer, error in frames:
            if error is not None:
                self._refused(peer, error)
                continue
            if peer is not None:
                peers[session] = peer
            if expected.get(session, 1) == sequence:
                expected[session] = sequence + count
                number = sequence
            else:
                number = sequence + count
                at, count = self._resync(data, session, sequence, count, at)
                number -= count             # the first message not skipped as a duplicate
            self.messages += count
            for number in range(number, number + count):
                code = data[at]
                if self.settles and self._unsettled(data, at, session):
                    yield SETTLE
                seq = stamp.next_seq
                stamp.next_seq = seq + 1
                if code == _ENTER:
                    _, token, stock, side, order_type, tif, shares, price, stop = enter(data, at)
                    at += _ENTER_SIZE
                    key = (session, token)
                    order_id = order_ids.get(key)
                    if order_id is None:
                        # A reused token reaches the engine with its first order's id: a duplicate.
                        order_id = self.next_order_id
                        self.next_order_id = order_id + 1
                        order_ids[key] = order_id
                        owners[order_id] = key
                    origins[seq] = (session, token, number)
                    yield (_NEW_ORDER, seq, clock(), symbol_ids.get(stock, 0), order_id, session,
                           side, order_type, tif, price, stop, shares)
                elif code == _CANCEL:
                    token = cancel(data, at)[1]
                    at += _CANCEL_SIZE
                    origins[seq] = (session, token, number)
                    yield _CANCEL_CMD, seq, clock(), order_ids.get((session, token), 0), session
                else:
                    _, existing, replacement, shares, price = replace(data, at)
                    at += _REPLACE_SIZE
                    order_id = order_ids.get((session, existing), 0)
                    if order_id and replacement != existing:
                        # The order is known by its new token only.
                        order_ids[(session, replacement)] = order_id
                        owners[order_id] = (session, replacement)
                        del order_ids[(session, existing)]
                        if self.settles:
                            self.renames.append((seq, order_id, session, existing))
                    origins[seq] = (session, replacement, number, existing)
                    yield _REPLACE_CMD, seq, clock(), order_id, session, price, shares

    def _unsettled(self, data, at, session):
        """True when the message at `at` must wait for the answers in flight: an enter
        order whose token names an order, or a replace to a token naming another."""
        code, order_ids = data[at], self.order_ids
        if code == _ENTER:
            return (session, _ENTER_STRUCT.unpack_from(data, at)[1]) in order_ids
        if code == _REPLACE:
            _, existing, replacement, _, _ = _REPLACE_STRUCT.unpack_from(data, at)
            return replacement != existing and (session, replacement) in order_ids \
                and (session, existing) in order_ids
        return False

    def token_of(self, order_id):
        """(session, client token) of an exchange order id, for replies."""
        return self.owners.get(order_id)

    def note_origin(self, seq, session, number):
        """Record where a command the session layer stamped came from (a mass
        cancel or admin message: `session`'s message `number`, no token), so
        the log holds it and a restart continues the numbering past it."""
        self.origins[seq] = (session, 0, number)

    def forget_order(self, order_id):
        """Forget a gone order's token and owner (the replier calls it once the
        order is filled, cancelled or, new, rejected), so the token map holds
        live orders only and a token names a new order once its old one is gone."""
        owner = self.owners.pop(order_id, None)
        if owner is not None and self.order_ids.get(owner) == order_id:
            del self.order_ids[owner]

    def forget_peer(self, session):
        """Send `session`'s replies nowhere until a frame from it names a peer
        again (its numbers still advance): the session layer calls it when a
        user's session ends, and a restart for every user."""
        self.peers.pop(session, None)

    def export_state(self, replier=None, deferred=False):
        """A copy of what a restart must not lose (`gatebook.host.wal.GatewayState`): the
        token map, owners, expected inbound numbers, peers, the next order id,
        and `replier`'s outbound numbers. Take it between bursts (after the
        replier's flush): then it is the state as of the last command stamped.
        `deferred` gives a callable that returns it instead, which may be
        called later on another thread (a snapshot's background encode): the
        compiled gateway then copies its tables with a memcpy now and builds
        the dicts then."""
        state = GatewayState(dict(self.order_ids), dict(self.owners),
                             dict(self.tracker.expected),
                             dict(replier.sequences) if replier is not None else {},
                             dict(self.peers), self.next_order_id)
        return (lambda: state) if deferred else state

    def restore_state(self, state, replier=None):
        """Take `state` (a GatewayState, e.g. what recovery rebuilt from the log)
        before the first datagram; `replier` continues its outbound numbers."""
        self._load(state)
        self.next_order_id = max(self.next_order_id, state.next_order_id)
        if replier is not None:
            replier.sequences.update(state.sequences)

    def _load(self, state):
        self.order_ids.update(state.order_ids)
        self.owners.update(state.owners)
        self.tracker.expected.update(state.expected)
        self.peers.update(state.peers)


def _compiled(sequencer):
    """(the compiled module or None, which path a new gateway runs and why)."""
    from gatebook.dpdk_bridge.fast import status
    module, path = status()
    if module is not None and ("next_seq" not in vars(sequencer)
                               or hasattr(type(sequencer), "next_seq")):
        return None, (f"python (the compiled gateway needs a plain next_seq on "
                      f"{type(sequencer).__name__})")
    return module, path


class CompiledGateway(Gateway):
    """The gateway with its per-message work compiled (`dpdk_bridge/_ouchfast.c`).

    `Gateway(...)` gives one of these where the extension is built (unless
    `compiled=False`). It takes the same frames, yields the same commands and
    refuses, counts and logs the same way; refusals, gaps and duplicates run
    the reference's own methods. The token map, owners and origins live in
    C, as do the session tracker's numbers (`restore_state` loads them through
    `GatewayCore.load`); `order_ids`, `owners`, `origins`
    and `tracker.expected` show them as dicts (copies, for tests and tools),
    and `origins.pop` takes an origin out. `peers` stays a dict, which only
    the gateway writes (C keeps a mirror of it for the replier). Origins are
    kept for the latest 65,536 commands: the replier takes each as soon as
    its command's events are in. `symbol_ids` is copied into C at start.
    """

    def _start(self, compiled):
        module, self.path = _compiled(self.sequencer)
        self._core = module.GatewayCore(self, self.symbol_ids)
        self.tracker = CompiledTracker(self._core)
        self.commands = self._core.commands         # no Python frame per burst
        self.token_of = self._core.token_of
        self.forget_peer = self._core.forget_peer   # the dict and the C mirror
        self.forget_order = self._core.forget_order
        self.note_origin = self._core.note_origin

    def pipeline(self):
        self.settles = True
        self._core.pipeline(SETTLE)

    pipeline.__doc__ = Gateway.pipeline.__doc__
    renames = property(lambda self: deque(self._core.renames()), doc="a copy of the renames kept")
    next_order_id = property(lambda self: self._core.next_order_id,
                             lambda self, value: setattr(self._core, "next_order_id", value))
    messages = property(lambda self: self._core.messages,
                        lambda self, value: setattr(self._core, "messages", value))
    order_ids = property(lambda self: self._core.order_ids(), doc="a copy of the token map")
    owners = property(lambda self: self._core.owners(), doc="a copy of the owners")
    origins = property(lambda self: CompiledOrigins(self._core), doc="the origins held")

    def _load(self, state):
        self._core.load(state.order_ids, state.owners, state.expected, state.peers)

    def export_state(self, replier=None, deferred=False):
        frozen = self._core.copy()          # the tables, copied in C
        sequences = dict(replier.sequences) if replier is not None else {}
        peers, next_order_id = dict(self.peers), self.next_order_id

        def state():
            return GatewayState(frozen.order_ids(), frozen.owners(), frozen.expected(),
                                sequences, peers, next_order_id)
        return state if deferred else state()

    export_state.__doc__ = Gateway.export_state.__doc__
