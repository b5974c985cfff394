"""The hybrid host: the golden engine plus hardware lanes behind abstract links."""

from .exchange import HybridExchange
from .link import LaneLink, LinkError
from .policy import FitsWindow, RandomReload

__all__ = ["HybridExchange", "LaneLink", "LinkError", "FitsWindow", "RandomReload"]
