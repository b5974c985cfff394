"""Cycle figures of the matching core (printed with -s; see sim/matcher/cycles.py).

Guards the figures docs/hardware.md quotes: one event per clock, the next
command accepted in the clock of the last event, first event one clock
after a command is accepted.
"""

from sim.matcher.cycles import measure, table


def test_cycle_figures(capsys):
    figures = measure(8)
    for name, (events, ii, latency) in figures.items():
        assert latency == 1, name
        assert ii == events, name          # one event per clock, no bubbles
    assert figures["resting add"][1] == 2
    assert figures["cancel"][1] == 2
    assert figures["replace, quantity decrease"][1] == 2
    assert figures["cross, 1 fill"][1] == 4
    with capsys.disabled():
        print("\n" + table((8,)))
