"""Cycle figures of the matching core (printed with -s; see sim/matcher/cycles.py).

Guards the figures docs/hardware.md quotes: one beat of one or two event
records per clock, the next command accepted in the clock of the last beat
(so II = beats), first event two clocks after a command is accepted (one in the
lane's input stage, where the windows look its order id up); resting
adds, cancels, quantity-decrease replaces, FOK kills and IOCs with nothing
to hit fit one beat (II = 1); a fill is one beat (EXECUTED+TRADE), and a level
it empties or leaves one more (LEVEL).
"""

from gatebook.sim.matcher.cycles import format_table, measure


def test_cycle_figures(capsys):
    figures = measure(8)
    for name, (events, beats, ii, latency) in figures.items():
        assert latency == 2, name
        assert ii == beats, name           # one beat per clock, no bubbles
        assert events / 2 <= beats <= events, name
    for name in ("resting add", "cancel", "replace, quantity decrease", "FOK kill",
                 "IOC, nothing to hit", "punt (cancel not in window)"):
        assert figures[name][2] == 1, name
    assert figures["resting add"][0] == 2 and figures["cancel"][0] == 2
    assert figures["cross, 1 fill"][2] == 3          # ACCEPTED | EXECUTED+TRADE | LEVEL
    events, beats, ii, _ = figures["sweep, 8 fills / 4 levels"]
    assert ii == 1 + 8 + 4                           # one clock per fill and per level
    with capsys.disabled():
        print("\n" + format_table({8: figures}))      # the figures checked, not a second run
