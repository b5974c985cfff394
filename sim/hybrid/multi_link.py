"""One multi-symbol pipeline, a `LaneLink` view per home symbol.

`MultiLaneMux(link, lanes)` is the host's side of one `gatebook.hdl.multi_lane.MultiLane`
reached through one `LaneLink` (`MultiLaneSim`: the pipeline on Amaranth's simulator in
process; or `PacketLaneLink` to a `LaneEndpoint(..., lanes=N)`); `view(home)` is the
`LaneLink` the hybrid host drives for the lane of `home`, so `HybridExchange` runs several
homes over the one pipeline exactly as it runs several pipelines. What the views send
goes into the one input stream in the order it was sent:

- a record that names no symbol a lane holds (CANCEL, REPLACE, a HOST marker for
  ALL_SYMBOLS) goes to the pipeline's selected lane, so when that is not the sending
  view's lane a ROUTE record goes first (the pipeline's routing is mirrored here: the
  first LOAD or OWN of a new symbol takes the lowest free lane);
- the pipeline writes each command's events together and in the order the commands went
  in, so each record is its oldest unanswered command's, and that command's answer ends
  where docs/hardware.md says the host sees it end (a PUNT; a cancel's or replace's
  LEVEL; a new order's CANCELLED, own-side LEVEL, or LEVEL after the fill that left it 0).

`multi_lane_links(homes)` gives `gatebook.sim.hybrid.equivalence.run_hybrid` its
`make_link`: one pipeline, a view per home.
"""

import random
from collections import deque

from gatebook.hdl.driver import MatcherCodec
from gatebook.hdl.multi_lane import MultiLane
from gatebook.host.hybrid.link import LaneLink, LinkError
from gatebook.sim.clocked import SharedSimulation
from gatebook.wire import internal, link
from gatebook.wire.positions import CODE, INTERNAL, LINK

__all__ = ["MultiLaneMux", "MultiLaneSim", "LaneView", "multi_lane_links"]

_SLICE = 64                 # clocks per run_until step
_LOAD, _OWN, _ROUTE = link.LOAD.code, link.OWN.code, link.ROUTE.code
_PUNT, _FLUSH, _SPILL = link.PUNT.code, link.FLUSH.code, link.SPILL.code
_NEW, _EXECUTED = internal.NEW_ORDER.code, internal.EXECUTED.code
_LEVEL, _CANCELLED = internal.LEVEL.code, internal.CANCELLED.code
_NEW_SIDE, _LEVEL_SIDE = INTERNAL.NEW_ORDER.side, INTERNAL.LEVEL.side
_AGGRESSOR_LEAVES = INTERNAL.EXECUTED.aggressor_leaves
# Where a record names its symbol, for every command the pipeline routes by symbol.
_SYMBOL_AT = {message.code: message.field_names.index("symbol") + 1
              for message in internal.COMMANDS.messages + link.LINK_COMMANDS.messages
              if "symbol" in message.field_names}
_STAMPED = {message.code for message in internal.COMMANDS.messages + link.LINK_COMMANDS.messages
            if message.field_names[:2] == ("seq", "ts")}
_SEQ, _TS = LINK.ROUTE.seq, LINK.ROUTE.ts


class _Answer:
    """A record sent that the pipeline answers: whose it is, and its fills so far."""

    __slots__ = ("view", "command", "leaves")

    def __init__(self, view, command):
        self.view = view
        self.command = command
        self.leaves = None          # the aggressor's open shares after its last fill

    def ends_with(self, record):
        """True when `record` is the last the pipeline writes for this command."""
        kind = record[CODE]
        if kind == _PUNT:
            return True
        if kind == _FLUSH or kind == _SPILL:
            return False
        if kind == _EXECUTED:
            self.leaves = record[_AGGRESSOR_LEAVES]
            return False
        command = self.command
        if command[CODE] != _NEW:
            return kind == _LEVEL                   # CANCELLED or REPLACED, then LEVEL
        if kind == _CANCELLED:
            return True                             # FOK kill, IOC or market remainder
        if kind != _LEVEL:
            return False
        return record[_LEVEL_SIDE] == command[_NEW_SIDE] or self.leaves == 0


class MultiLaneMux:
    """The host's side of one multi-symbol pipeline: a `LaneView` per home symbol.

    Parameters
    ----------
    link : LaneLink
        The pipeline's one transport: `MultiLaneSim` in process, or a
        `gatebook.host.net.link.PacketLaneLink` to a `LaneEndpoint(..., lanes=N)`.
    lanes : int
        Lanes in the pipeline (at least as many as views).

    Attributes
    ----------
    routes : int
        ROUTE records sent ahead of records that name no held symbol.
    """

    def __init__(self, link, lanes):
        self.link = link
        self.depth = link.depth
        self.lanes = lanes
        self.answers = deque()      # _Answer per record sent that the pipeline answers
        self.routes = 0
        self.views = []
        self._open = 0
        self._claims = {}           # symbol -> lane, as the pipeline's table has it
        self._selected = 0

    def view(self, home):
        """The `LaneLink` of the lane that holds `home`."""
        if len(self.views) == self.lanes:
            raise ValueError(f"the pipeline has {self.lanes} lanes, all with a view")
        if any(view.home == home for view in self.views):
            raise ValueError(f"symbol {home} already has a view")
        view = LaneView(self, home)
        self.views.append(view)
        self._open += 1
        return view

    # -- what the views call ---------------------------------------------------

    def send(self, view, records):
        """Queue `view`'s records, each after a ROUTE when the pipeline would route it elsewhere."""
        out = []
        for record in records:
            lane = self._lane_of(view, record)
            if lane != self._claims.get(view.home):
                out.append(self._route_to(view, record))
            out.append(record)
            if record[CODE] not in (_LOAD, _OWN):
                self.answers.append(_Answer(view, record))
        self.link.send(out)

    def run(self):
        """Let the pipeline answer everything sent; hand each view its records."""
        for record in self.link.run():
            if not self.answers:
                raise LinkError(f"record with nothing in flight: {record}")
            answer = self.answers[0]
            answer.view.outbox.append(record)
            if answer.ends_with(record):
                self.answers.popleft()

    def release(self, view):
        self._open -= 1
        if self._open == 0:
            self.link.close()

    # -- routing, as the pipeline does it ------------------------------------------

    def _lane_of(self, view, record):
        """The lane the pipeline gives `record` (claiming one for a new LOAD or OWN)."""
        code = record[CODE]
        at = _SYMBOL_AT.get(code)
        symbol = record[at] if at is not None else None
        if symbol in self._claims:
            lane = self._claims[symbol]
            if lane != self._claims.get(view.home):
                raise LinkError(f"symbol {symbol} is another lane's; {view.home}'s view sent "
                                f"{record}")
            return lane
        if code in (_LOAD, _OWN):
            if symbol != view.home:
                raise LinkError(f"{view.home}'s view loads symbol {symbol}: {record}")
            self._claims[symbol] = len(self._claims)     # the lowest free lane
            return self._claims[symbol]
        return self._selected

    def _route_to(self, view, record):
        lane = self._claims.get(view.home)
        if lane is None:
            raise LinkError(f"symbol {view.home} has no lane yet: {record}")
        self._selected = lane
        self.routes += 1
        stamp = (record[_SEQ], record[_TS]) if record[CODE] in _STAMPED else (0, 0)
        return (_ROUTE, *stamp, view.home)


class MultiLaneSim(LaneLink):
    """A `MultiLane(depth, lanes)` on Amaranth's simulator, as one `LaneLink`.

    Records go in as sent (ROUTE included); `run()` returns what the pipeline wrote.

    Parameters
    ----------
    depth : int
        Window depth of every lane.
    lanes : int
        Lanes in the pipeline.
    stall : float
        Probability of holding back `i.valid` (between records) and `o.ready` (any clock).
    seed : int
        Seed of the stalls.
    vcd : str or None
        Waveform file to write.
    max_idle : int
        Clocks without a transfer after which `run()` gives up.

    Attributes
    ----------
    cycles : int
        Clocks simulated.
    unrouted : int
        The pipeline's `unrouted` counter, as of the last clock.
    """

    def __init__(self, depth, lanes, *, stall=0.0, seed=0, vcd=None, max_idle=10_000):
        self.depth = depth
        self.lanes = lanes
        self._shared = SharedSimulation.take(("multi_lane", depth, lanes, True),
                                             lambda: MultiLane(depth, lanes), self, vcd)
        self.dut = self._shared.dut
        self.codec = MatcherCodec(self.dut)
        self.inbox = deque()        # (record, payload) not yet taken by the pipeline
        self.outbox = []
        self.cycles = 0
        self.unrouted = 0
        self._quiet = True
        self._stall = stall
        self._rng = random.Random(seed)
        self._max_idle = max_idle

    def send(self, records):
        encode = self.codec.commands.encode
        self.inbox.extend((record, encode(record)) for record in records)
        self._quiet = False

    def run(self):
        idle_since = self.cycles
        seen = 0
        while not self._quiet:
            self._shared.clocked.step(_SLICE)
            if len(self.outbox) != seen or not self.inbox:
                seen, idle_since = len(self.outbox), self.cycles
            if self.cycles - idle_since > self._max_idle:
                raise LinkError(f"pipeline stuck for {self._max_idle} clocks at cycle {self.cycles}")
        out, self.outbox = self.outbox, []
        return out

    def close(self):
        if self._shared is not None:
            self._shared.release()
            self._shared = None

    async def _bench(self, ctx):
        dut, rng, stall = self.dut, self._rng, self._stall
        decode = self.codec.decode_beat
        inbox, presenting = self.inbox, False
        while True:
            if inbox and not presenting:
                presenting = not stall or rng.random() >= stall
            presenting = presenting and bool(inbox)
            ctx.set(dut.i.valid, presenting)
            if presenting:
                ctx.set(dut.i.payload.as_value(), inbox[0][1])
            ready = not stall or rng.random() >= stall
            ctx.set(dut.o.ready, ready)
            _, _, i_ready, o_valid, o_payload, idle, unrouted = await ctx.tick().sample(
                dut.i.ready, dut.o.valid, dut.o.payload.as_value(), dut.idle, dut.unrouted)
            self.cycles += 1
            self.unrouted = unrouted
            taken = presenting and i_ready
            if taken:
                inbox.popleft()
                presenting = False
            if o_valid and ready:
                self.outbox.extend(decode(o_payload))
            elif idle and not (o_valid or taken or inbox):
                self._quiet = True


class LaneView(LaneLink):
    """The `LaneLink` of one home symbol's lane behind a `MultiLaneMux`."""

    def __init__(self, mux, home):
        self.mux = mux
        self.home = home
        self.depth = mux.depth
        self.outbox = []
        self.closed = False

    def send(self, records):
        self.mux.send(self, records)

    def run(self):
        self.mux.run()
        out, self.outbox = self.outbox, []
        return out

    def close(self):
        if not self.closed:
            self.closed = True
            self.mux.release(self)


def multi_lane_links(homes, *, lanes=None, stall=0.0, seed=0, transport=None):
    """A `make_link(depth, index, vcd)` for `run_hybrid`: one pipeline, a view per home.

    The pipeline's transport is made at index 0 (with that call's waveform):
    `transport(depth, lanes, vcd)` if given, else a `MultiLaneSim` with `stall` and
    `seed`; `lanes` defaults to one per home.
    """
    made = {}
    count = lanes or len(homes)
    if len(homes) > count:
        raise ValueError(f"{len(homes)} homes for a pipeline of {count} lanes")

    def make_link(depth, index, vcd):
        if index == 0:
            link = (transport(depth, count, vcd) if transport is not None else
                    MultiLaneSim(depth, count, stall=stall, seed=seed, vcd=vcd))
            made["mux"] = MultiLaneMux(link, count)
        mux = made["mux"]
        if depth != mux.depth:
            raise ValueError("every lane of a pipeline has the same depth")
        return mux.view(homes[index])

    return make_link
