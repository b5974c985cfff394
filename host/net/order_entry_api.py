"""What an order-entry protocol does for the exchange: the `OrderEntry` interface.

# Ref: docs/architecture.md ("The data path"), docs/network.md ("Order entry").

`gatebook.host.net.exchange_server.Exchange` runs one matching engine for
any number of order-entry protocols side by side (OUCH datagrams in
`host/ouch/`, FIX over TCP next). Each protocol is one object with the
methods below; the exchange knows nothing else of it. It lives here, in
`host/net/`, beside the exchange that calls it, and not in a protocol's
folder: every protocol implements it and none may be the one the others
import from. `typing.Protocol` rather than a base class: an implementation
(a compiled twin, a test's text protocol) owes the exchange these methods,
not an ancestry; `isinstance(entry, OrderEntry)` still checks one.

What the exchange does with an entry, per poll:

1. `receive(burst)`: the entry reads its own transport (OUCH a
   `DatagramPort`, FIX its TCP listener and connections) and returns how
   many units it received and an iterable of stamped commands. It stamps
   them with the shared `Sequencer` and takes new exchange order ids from the
   shared `OrderIds`, both handed over in `attach`. The exchange applies each
   command before taking the next.
2. `origin(command)`: for a journaled exchange, before the command is
   applied: `(protocol id, bytes)` to log with it (the protocol's log-origin
   codec reads them back at recovery), or None.
3. `listeners`: callables the exchange hands the events of every applied
   command, whichever entry (or admin tool) it came from; an entry replies
   only for the orders it owns and ignores the rest.
4. `end_burst(hold)`: once any entry received something, every entry's
   replies of this poll (some may be about other entries' commands: a fill
   of its resting order). `hold` False: send them now and return None.
   `hold` True (a journal): return them as one batch, which the exchange
   passes to `send(batch)` once the journal has acknowledged the poll's last
   command (or drops, if it never does). When no entry received anything,
   each gets `idle()` instead.
5. `refuse(command, reason)`: a command the exchange could not apply (the
   log could not encode it); its sequence number was given back.

A pipelined engine (a `HybridExchange` with lanes, no journal) answers a
command later than it takes it: `EntryContext.in_flight` then says how many
commands are taken and not yet answered. An entry whose next command depends
on answers still due yields `SETTLE` instead, and the exchange waits for
them before it asks again. An entry with `pipelines = True` may be handed
commands in flight and supplies `resolve(command, events)` (the events of a
rejected command as the entry would have had them one at a time); any other
entry's commands are each answered before its next one is taken.

A journaled exchange calls `export_state()` between bursts for snapshots
(the state as bytes, or a callable returning them, which may run later on
another thread), and at start `attach` hands over what recovery rebuilt from
the log for this protocol. `LogOriginCodec` is the other half: the object a
protocol registers with the log (`gatebook.host.wal.register_origin_codec`)
so that recovery, the standby and `gatebook log` can read its origins and
state without importing the protocol.
"""

from dataclasses import dataclass, field
from collections import Counter
from typing import Any, Callable, Iterable, Optional, Protocol, runtime_checkable

__all__ = ["OrderEntry", "LogOriginCodec", "OriginState", "EntryContext", "OrderIds", "SETTLE"]

SETTLE = "settle"   # yielded by `receive`'s commands: answer every command in flight first


class OrderIds:
    """The exchange order ids every entry of one exchange takes new ones from.

    Entries run one at a time on the exchange's thread, so an entry may copy
    `next_id` into its own counter when `receive` starts and give its counter
    back with `at_least` when the burst ends (`end_burst`/`idle`; another
    entry may have taken ids since): no two entries ever hand out the same id.
    """

    def __init__(self, next_id=1):
        self.next_id = next_id

    def take(self):
        """One new order id."""
        order_id = self.next_id
        self.next_id = order_id + 1
        return order_id

    def at_least(self, next_id):
        """Never hand out an id below `next_id` (one a restored entry already used)."""
        if next_id > self.next_id:
            self.next_id = next_id


@dataclass
class EntryContext:
    """What the exchange hands each entry in `attach`.

    Attributes
    ----------
    sequencer : gatebook.host.sequencer.Sequencer
        Stamps every command (shared by all entries: one sequence).
    order_ids : OrderIds
        Shared new exchange order ids.
    symbols : tuple of SymbolSpec
    clock : callable returning int nanoseconds
    counts : collections.Counter
        The exchange's counters; an entry adds its own (replies, ...).
    engine : MatchingEngine or None
        With a journal: the recovered engine (live orders per user, ...).
    recovered : object or None
        With a journal: this protocol's state as the log rebuilt it (what
        its `LogOriginCodec.new_state` made and replayed into), else None.
    journaled : bool
        Whether replies are held until the journal acknowledges them.
    in_flight : callable returning int, or None
        With a pipelined engine: commands taken and not answered yet.
    """

    sequencer:  Any
    order_ids:  OrderIds
    symbols:    tuple
    clock:      Callable[[], int]
    counts:     Counter = field(default_factory=Counter)
    engine:     Any = None
    recovered:  Any = None
    journaled:  bool = False
    in_flight:  Optional[Callable[[], int]] = None


@runtime_checkable
class OrderEntry(Protocol):
    """One order-entry protocol serving an `Exchange` (see the module docstring).

    Attributes
    ----------
    protocol : int
        Its id, `gatebook.wire.enums.OrderEntryProtocol` (128..255 for one
        Gatebook does not ship): the log files its origins and state under it.
    messages : int
        Order messages taken so far (`Exchange.run(max_orders=)`).
    listeners : tuple of callable(events)
        Hear every applied command's events.
    """

    protocol:  int
    messages:  int
    listeners: tuple

    def attach(self, context: EntryContext) -> None:
        """Take the shared sequencer and order ids, and any recovered state."""

    def receive(self, burst: int) -> "tuple[int, Iterable[tuple]]":
        """(units received, stamped commands) from the entry's transport."""

    def origin(self, command: tuple) -> "Optional[tuple[int, bytes]]":
        """(protocol id, origin bytes) to log with `command`, or None."""

    def refuse(self, command: tuple, reason: str) -> None:
        """`command` was not applied (its seq was given back); count it and say why."""

    def end_burst(self, hold: bool) -> Any:
        """This burst's replies: sent now (`hold` False, returns None) or as a batch."""

    def send(self, batch: Any) -> None:
        """Send a batch `end_burst(True)` returned, now acknowledged."""

    def idle(self) -> None:
        """A poll that received nothing (session timers, answers)."""

    def export_state(self) -> "bytes | Callable[[], bytes]":
        """The state a restart must not lose, for a snapshot, as of the last command."""

    def close(self) -> None:
        """Stop the entry's threads; the exchange closes transports it was given."""


class OriginState(Protocol):
    """A protocol's state as the log rebuilds it (for OUCH a `GatewayState`)."""

    def replay(self, command: tuple, origin: Any, events: list) -> None:
        """One logged command: `origin` is this protocol's decoded origin, or None when
        the command came from elsewhere (its events may still touch this protocol's
        orders)."""

    def copy(self) -> "OriginState":
        """An independent copy."""


class LogOriginCodec(Protocol):
    """How the log reads one protocol's origins and state (host/wal/origins.py).

    Attributes
    ----------
    protocol : int
        The id its origins and state are logged under.
    """

    protocol: int

    def decode_origin(self, view: Any, first: int, end: int) -> Any:
        """The origin in view[first:end] (ValueError if it is not one)."""

    def new_state(self) -> OriginState:
        """An empty state, before the first command."""

    def encode_state(self, state: OriginState) -> bytes:
        """A state as a snapshot holds it."""

    def decode_state(self, data: bytes) -> OriginState:
        """A snapshot's bytes back to a state (ValueError if they are not one)."""

    def describe_origin(self, data: bytes) -> dict:
        """{field: value} of an origin's bytes, for `gatebook log dump`."""

    def summary(self, state: OriginState) -> str:
        """A state in a few words, for `gatebook recover` and `gatebook run`."""
