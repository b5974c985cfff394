"""The hybrid host: the golden engine plus hardware lanes behind abstract links."""

# Before the exchange loads: choose its compiled or its source form (loading.py).
from .loading import install as _install_exchange_finder

_install_exchange_finder()

from .exchange import HybridExchange  # noqa: E402 (after the finder)
from .link import LaneLink, LinkError  # noqa: E402
from .policy import FitsWindow, RandomReload  # noqa: E402

__all__ = ["HybridExchange", "LaneLink", "LinkError", "FitsWindow", "RandomReload"]
