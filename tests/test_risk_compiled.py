"""The risk gate's two builds of one source (host/risk/loading.py): the Cython-compiled
gate and gate.py run as Python give the same events, rejects and balances, command for
command, on the seeded flows with limits tight enough to refuse, fees on every side, and
the restore from a snapshot's state."""

import pytest

from gatebook.host import compiled
from gatebook.host.engine import MatchingEngine
from gatebook.host.ledger import Fee, FeeSchedule
from gatebook.host.risk import AccountLimits, gate
from gatebook.host.risk.loading import gate_build, load_pure
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.host.wal.loadgen import seeded_commands, stamped
from gatebook.host.wal.snapshot import capture, restore

FEES = FeeSchedule(buy_taker=Fee(rate_ppm=30), sell_taker=Fee(per_share=1),
                   buy_maker=Fee(rate_ppm=-10), sell_maker=Fee(per_share=-1, rate_ppm=5))
PURE = load_pure()

pytestmark = pytest.mark.skipif(not compiled.is_compiled(gate),
                                reason=f"the gate loaded is not compiled ({gate_build()})")


def _limits(seed):
    return {user: AccountLimits(buying_power=(seed * 7_919 * user) % 5_000_000_000,
                                max_position=100 + (seed * user) % 900,
                                max_order_qty=200 + (user * 37) % 400,
                                max_order_notional=50_000_000 + (seed * user * 104_729) % 10**9)
            for user in range(1, 50)}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_compiled_gate_is_the_source_gate_command_for_command(seed):
    assert PURE.RiskGate is not gate.RiskGate and not compiled.is_compiled(PURE)
    gates = [module.RiskGate(MatchingEngine(DEFAULT_SYMBOLS), DEFAULT_SYMBOLS, _limits(seed),
                             default_limits=AccountLimits(10**9, 500, 300, 10**9) if seed % 2
                             else None, fees=FEES)
             for module in (gate, PURE)]
    commands = list(stamped(seeded_commands(seed, 4000)))
    for number, command in enumerate(commands):
        fast, slow = (each.apply(command) for each in gates)
        assert fast == slow, number
        if number == 2000:                      # both restored from the same snapshot state
            saved = gates[0].export()
            assert saved == gates[1].export()
            gates = [module.RiskGate.restore(restore(capture(each.engine), DEFAULT_SYMBOLS),
                                             DEFAULT_SYMBOLS, saved)
                     for module, each in zip((gate, PURE), gates)]
    assert gates[0].export() == gates[1].export()
    assert gates[0].rejected == gates[1].rejected and gates[0].rejected
    assert gates[0].reserved == gates[1].reserved
    assert gates[0].engine.state_hash() == gates[1].engine.state_hash()
