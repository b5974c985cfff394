"""Cycle figures of the matching core, measured on Amaranth's simulator.

`python -m gatebook.sim.matcher.cycles [depth ...]` prints, per window depth and per
kind of command: events written, beats of the event port they take (a beat
carries one or two records), initiation interval (clocks between accepted
commands, in a back-to-back run without stalls: the clock that writes a
command's last beat starts the next) and latency (clocks from the clock a
command is accepted to the clock its first event is written, for a command that
does not wait in the lane's input stage behind another's events: the fewest of
the run). The clock counts are those of the RTL, so Icarus and Verilator
give the same numbers; only a board build adds nanoseconds.
"""

import sys
from statistics import mean

from gatebook.wire import link
from gatebook.wire.positions import CODE, INTERNAL, LINK

from ..flows import BUY, FOK, IOC, SELL, Flow, cents
from .amaranth_bench import run_flow

# Every command, event and link record but LOAD and OWN (skipped first) has its seq here.
_SEQ = INTERNAL.NEW_ORDER.seq
assert all(at.seq == _SEQ for at in (INTERNAL.CANCEL, INTERNAL.REPLACE, INTERNAL.EXECUTED,
                                     LINK.HOST, LINK.FLUSH, LINK.SPILL, LINK.PUNT)), "seq moved"

__all__ = ["measure", "format_table", "table"]


def _kinds(depth):
    """[(name, setup commands, measured commands)]: each measured run starts from setup."""
    n = min(depth, 12)
    kinds = []

    f = Flow()
    for i in range(n):
        f.order(BUY if i % 2 else SELL, cents(10000 + (i // 2 + 1) * (1 if i % 2 == 0 else -1)), 10)
    kinds.append(("resting add", [], f.commands))

    g = f.continued()
    for order_id in range(1, n + 1):
        g.cancel(order_id)
    kinds.append(("cancel", f.commands, g.commands))

    g = f.continued()
    for order_id in range(1, n + 1):
        g.replace(order_id, f.commands[order_id - 1][9], 5)     # same price, fewer shares
    kinds.append(("replace, quantity decrease", f.commands, g.commands))

    f = Flow()
    for i in range(n):
        f.order(SELL, cents(10001), 10, user=2)
    g = f.continued()
    for i in range(n):
        g.order(BUY, cents(10001), 10, tif=IOC)
    kinds.append(("cross, 1 fill", f.commands, g.commands))

    f = Flow()
    for i in range(n):
        f.order(SELL, cents(10001 + i // 2), 10, user=2)
    g = f.continued()
    g.order(BUY, cents(20000), 10 * n)
    kinds.append((f"sweep, {n} fills / {(n + 1) // 2} levels", f.commands, g.commands))

    f = Flow()
    f.order(SELL, cents(10001), 10, user=2)
    g = f.continued()
    for i in range(n):
        g.order(BUY, cents(10001), 20, tif=FOK)
    kinds.append(("FOK kill", f.commands, g.commands))

    g = Flow()
    for i in range(n):
        g.order(BUY, cents(10001), 20, tif=IOC)
    kinds.append(("IOC, nothing to hit", [], g.commands))

    g = Flow()
    for i in range(n):
        g.cancel(10_000 + i)
    kinds.append(("punt (cancel not in window)", [], g.commands))
    return kinds


def measure(depth):
    """{kind: (events per command, beats per command, II, latency)} for one window depth."""
    results = {}
    for name, setup, measured in _kinds(depth):
        trace = []
        run_flow(setup + measured, depth=depth, trace=trace)
        wanted = {command[_SEQ] for command in measured}
        accepted, first, last = {}, {}, {}
        events, beats = 0, set()
        for cycle, direction, record in trace:
            if record[CODE] in (link.OWN.code, link.LOAD.code) or record[_SEQ] not in wanted:
                continue
            seq = record[_SEQ]
            if direction == "i":
                accepted[seq] = cycle
            else:
                events += 1
                beats.add(cycle)
                first.setdefault(seq, cycle)
                last[seq] = cycle
        order = sorted(accepted)
        # The writer starts the next command in the clock that writes this one's last
        # event, so a command holds it from its first beat to its last.
        results[name] = (events / len(order), len(beats) / len(order),
                         mean(last[s] - first[s] + 1 for s in order),
                         min(first[s] - accepted[s] for s in order))
    return results


def format_table(figures_by_depth):
    """The table of `{depth: measure(depth)}`, one line per depth and command kind."""
    lines = [f"{'depth':>5}  {'command':<32} {'events':>6} {'beats':>6} {'II':>6} {'latency':>7}"]
    for depth, figures in figures_by_depth.items():
        for name, (events, beats, ii, latency) in figures.items():
            lines.append(f"{depth:>5}  {name:<32} {events:>6.1f} {beats:>6.1f} {ii:>6.1f} "
                         f"{latency:>7.1f}")
    return "\n".join(lines)


def table(depths=(4, 16)):
    """The cycle table for each window depth in `depths` (measured here)."""
    return format_table({depth: measure(depth) for depth in depths})


if __name__ == "__main__":
    print(table(tuple(int(a) for a in sys.argv[1:]) or (4, 16)))
