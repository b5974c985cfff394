"""When the hybrid host gives a symbol (back) to its lane.

A policy answers one question, asked before the host routes a command that
touches a lane's home symbol while the host owns it: load it now? The host
only asks when the load is allowed at all (docs/hardware.md): the symbol is
not halted and has no pending stops, since stop triggers and halts live on
the host.
"""

import random

__all__ = ["FitsWindow", "RandomReload"]


class FitsWindow:
    """Load when each side's best level fits the window, `cooldown` commands after a handover.

    A best level with more orders than the window holds would leave that side
    of the window empty with the host holding orders behind it, and the next
    order on either side would hand the symbol straight back.
    """

    def __init__(self, cooldown=0):
        self.cooldown = cooldown

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

    def __init__(self, seed, p=0.5, cooldown=0):
        super().__init__(cooldown)
        self.rng = random.Random(seed)
        self.p = p

    def should_load(self, book, depth, idle_commands):
        return self.rng.random() < self.p and super().should_load(book, depth, idle_commands)
