"""Clocks per command of the multi-symbol pipeline against one lane, on Amaranth's simulator.

`python -m gatebook.sim.multilane.cycles [--depth 4] [--lanes 1 2 4] [--count 96]` feeds
each workload back to back (input always valid, output always ready) into
`gatebook.hdl.matcher.Matcher(depth)` and into `gatebook.hdl.multi_lane.MultiLane(depth, N)`,
and prints clocks per command (from the first record presented to the last beat out) and
the clocks from an isolated command's arrival to its first beat. The workloads:

- `add+cancel, 1 symbol`: a resting add, then its cancel (one beat each), one symbol;
- `add+cancel, N symbols`: the same spread over N symbols, a ROUTE before each cancel;
- `IOC kill, N symbols`: an IOC with nothing to hit (ACCEPTED+CANCELLED, one beat), the
  symbols in turn;
- `cross, N symbols`: a resting sell per symbol, then per symbol a buy that takes it
  (ACCEPTED, EXECUTED+TRADE, LEVEL: three beats).
"""

import argparse
import sys

from amaranth.sim import Simulator

from gatebook.hdl.driver import MatcherCodec
from gatebook.hdl.matcher import Matcher
from gatebook.hdl.multi_lane import MultiLane
from gatebook.wire import internal, link
from gatebook.wire.enums import Side, TimeInForce

__all__ = ["workloads", "measure", "main"]

_PRICE = 100_0000
_IOC = int(TimeInForce.IOC)


def _record(message, **fields):
    return (message.code,) + tuple(fields[name] for name in message.field_names)


def _order(seq, symbol, order_id, side, price, qty=100):
    return _record(internal.NEW_ORDER, seq=seq, ts=seq, symbol=symbol, order_id=order_id,
                   user=1, side=side, order_type=0, tif=1, price=price, stop_price=0, qty=qty)


def _owns(symbols):
    return [_record(link.OWN, symbol=s, bid_deep=0, ask_deep=0, last_price=0) for s in symbols]


def workloads(count, symbols):
    """{name: (setup records, measured records, commands)} for `symbols` (ids from 1)."""
    names = list(range(1, symbols + 1))
    out = {}
    spreads = [("add+cancel, 1 symbol", [1])]
    if symbols > 1:
        spreads.append((f"add+cancel, {symbols} symbols", names))
    for label, spread in spreads:
        records, seq = [], 0
        while seq < count:
            for symbol in spread:           # a round of adds, then their cancels
                seq += 1
                records.append(_order(seq, symbol, seq, Side.BUY, _PRICE))
            for symbol, order_id in zip(spread, range(seq - len(spread) + 1, seq + 1)):
                if len(spread) > 1:
                    records.append(_record(link.ROUTE, seq=seq, ts=seq, symbol=symbol))
                records.append(_record(internal.CANCEL, seq=seq, ts=seq, order_id=order_id,
                                       user=1))
        commands = sum(r[0] != link.ROUTE.code for r in records)
        out[label] = (_owns(spread), records, commands)
    kills = [_record(internal.NEW_ORDER, seq=k + 1, ts=k + 1, symbol=names[k % symbols],
                     order_id=k + 1, user=1, side=Side.BUY, order_type=0, tif=_IOC,
                     price=_PRICE, stop_price=0, qty=100) for k in range(count)]
    out[f"IOC kill, {symbols} symbol{'s' if symbols > 1 else ''}"] = (_owns(names), kills, count)
    records, seq = [], 0
    while seq < count:                      # a round of resting sells, then the buys
        for side in (Side.SELL, Side.BUY):
            for symbol in names:
                seq += 1
                records.append(_order(seq, symbol, seq, side, _PRICE))
    out[f"cross, {symbols} symbol{'s' if symbols > 1 else ''}"] = (_owns(names), records,
                                                                  len(records))
    return out


def measure(dut, setup, records):
    """(clocks for `records` back to back, clocks from the first one's arrival to its first beat)."""
    codec = MatcherCodec(dut)
    result = {}

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        for phase, stream in (("setup", setup), ("run", records)):
            start, first_beat, pending = None, None, list(stream)
            clock = 0
            while True:
                ctx.set(dut.i.valid, bool(pending))
                if pending:
                    ctx.set(dut.i.payload.as_value(), codec.commands.encode(pending[0]))
                _, _, ready, valid, idle = await ctx.tick().sample(
                    dut.i.ready, dut.o.valid, dut.idle)
                clock += 1
                if start is None:
                    start = clock
                if valid and first_beat is None:
                    first_beat = clock - start
                if pending and ready:
                    pending.pop(0)
                elif not pending and idle and not valid:
                    break
            result[phase] = (clock - start, first_beat)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return result["run"]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gatebook.sim.multilane.cycles",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--lanes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--count", type=int, default=96, help="commands per workload (about)")
    args = parser.parse_args(argv)
    print(f"clocks per command, depth {args.depth}, no stalls "
          f"(first beat: clocks from a lone command's arrival to its first beat)")
    print(f"  {'design':14} {'workload':26} {'commands':>8} {'clocks':>7} {'per cmd':>8} "
          f"{'first beat':>10}")
    designs = [("Matcher", lambda: Matcher(args.depth), 1)]
    designs += [(f"MultiLane N={n}", (lambda n=n: MultiLane(args.depth, n)), n) for n in args.lanes]
    for name, make, symbols in designs:
        for label, (setup, records, commands) in workloads(args.count, symbols).items():
            clocks, _ = measure(make(), setup, records)
            _, first = measure(make(), setup, records[:1])
            print(f"  {name:14} {label:26} {commands:8} {clocks:7} {clocks / commands:8.2f} "
                  f"{first:10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
