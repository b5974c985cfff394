"""Benches of the multi-symbol pipeline (`gatebook.hdl.multi_lane`).

- `flows`: a seeded hot flow over several symbols at once;
- `cycles`: `python -m gatebook.sim.multilane.cycles`, clocks per command by lane count;
- `area`: `python -m gatebook.sim.multilane.area`, LUT4 and FF by lane count (yosys).

The host side (a `LaneLink` view per home symbol) is `gatebook.sim.hybrid.multi_link`.
"""
