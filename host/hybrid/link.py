"""The hybrid host's view of one hardware lane: an abstract link (STYLE principle 5).

The host talks to a lane only through `LaneLink`: it queues records for the
lane's input stream (internal commands and the LOAD, OWN and HOST link
records) and collects what the lane wrote (events, FLUSH and PUNT records),
all as the record tuples of gatebook.wire. Implementations move them over
some transport: `gatebook.sim.hybrid.amaranth_link.AmaranthLink` runs `gatebook.hdl.matcher.Matcher`
on Amaranth's simulator in process, `gatebook.sim.hybrid.verilator_link.VerilatorLink`
runs its Verilog as a compiled Verilator harness fed in batches; a DPDK link
would frame the same records (gatebook.wire.link_frame).
"""

from abc import ABC, abstractmethod

__all__ = ["LaneLink", "LinkError"]


class LinkError(RuntimeError):
    """The lane broke the link contract (a record out of order, no progress)."""


class LaneLink(ABC):
    """One lane behind a transport.

    Attributes
    ----------
    depth : int
        Orders per side the lane's window holds (the host's LOAD limit).
    """

    depth: int

    @abstractmethod
    def send(self, records):
        """Queue `records` for the lane's input, after everything queued before."""

    @abstractmethod
    def run(self):
        """Let the lane work through its queued input; return the records it wrote, in order.

        Returns once the lane has accepted everything queued and written every
        record those commands cause (an empty list when nothing was queued).
        """

    def close(self):
        """Release the transport."""
