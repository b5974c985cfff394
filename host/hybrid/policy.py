"""When the hybrid host gives a symbol (back) to its lane, and what it keeps for itself.

A policy answers two questions. `should_load`, asked before the host routes
a command that touches a lane's home symbol while the host owns it: load it
now? The host only asks when the load is allowed at all (docs/hardware.md):
the symbol is not halted and has no pending stops, since stop triggers and
halts live on the host. `host_keeps`, read while a lane owns the symbol:
does the host process, without a round trip through the lane, the commands
the lane could only punt (see `HybridExchange`)?
"""

import random

__all__ = ["FitsWindow", "RandomReload"]


class FitsWindow:
    """Load when each side's best level fits the window, `cooldown` commands after a handover.

    A best level with more orders than the window holds would leave that side
    of the window empty with the host holding orders behind it, and the next
    order on either side would hand the symbol straight back.

    Parameters
    ----------
    cooldown : int
        Commands for the home symbol, since it came back, before a load.
    host_keeps : bool
        While the lane owns the symbol, the host processes itself what the
        lane would only punt: a rejected order, a cancel or replace of an
        order the host holds, and a limit order that would rest at or behind
        the host's best deeper price on its side (which the lane would
        answer by handing the whole window back, `BEYOND_WINDOW`). False
        sends every command of an owned symbol through the lane, as before.
    """

    def __init__(self, cooldown=0, host_keeps=True):
        self.cooldown = cooldown
        self.host_keeps = host_keeps

    def should_load(self, book, depth, idle_commands):
        if idle_commands < self.cooldown:
            return False
        for side in (0, 1):
            best = book.best(side)
            if best is not None and best[2] > depth:
                return False
        return True


class RandomReload(FitsWindow):
    """`FitsWindow`, but only with probability `p` each time it is asked (seeded).

    Adversarial flows use it so that loads land at every point in a flow.
    """

    def __init__(self, seed, p=0.5, cooldown=0, host_keeps=True):
        super().__init__(cooldown, host_keeps)
        self.rng = random.Random(seed)
        self.p = p

    def should_load(self, book, depth, idle_commands):
        return self.rng.random() < self.p and super().should_load(book, depth, idle_commands)
