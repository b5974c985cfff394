"""Packets in and out of Gatebook: DPDK through cffi, or kernel sockets.

`gatebook.dpdk_bridge.eal.Eal` and `gatebook.dpdk_bridge.port.Port` bind Debian's libdpdk
(built by `python -m gatebook.dpdk_bridge.build`, which `scripts/bootstrap` runs);
`gatebook.dpdk_bridge.udp` carries order and market-data datagrams over either a DPDK
port or a kernel UDP socket behind one interface. Nothing here falls back
silently: asking for DPDK where it is missing raises `DpdkUnavailable`.

`gatebook.dpdk_bridge.fast` builds the compiled gateway and replier
(`_ouchfast.c`, layouts from `_fastgen.py`), which need a C compiler but
not DPDK; where it cannot be built, `status()` says why and the Python
reference runs.
"""

from .errors import DpdkError, DpdkUnavailable

__all__ = ["DpdkError", "DpdkUnavailable", "dpdk_available"]


def dpdk_available():
    """(True, "") when the DPDK bridge can be loaded, else (False, the reason)."""
    from .build import load
    try:
        load()
    except DpdkUnavailable as error:
        return False, str(error)
    return True, ""
