"""Default UDP ports and groups of Gatebook's packet interfaces.

Plain data, imported by the scapy layers, the Lua dissector generator and the
packet tools, so every one of them binds the same ports.
"""

from gatebook.wire.ouch import UDP_PORT as OUCH_PORT

__all__ = ["OUCH_PORT", "OUCH_CLIENT_PORT", "MOLDUDP64_PORT", "MOLDUDP64_GROUP"]

# Source port of test and injected order flow (a real client uses any port).
OUCH_CLIENT_PORT = OUCH_PORT + 1

# Market data: ITCH 5.0 in MoldUDP64, sent to this multicast group and port.
MOLDUDP64_PORT  = 26400
MOLDUDP64_GROUP = "239.192.26.1"     # organisation-local scope (RFC 2365)
