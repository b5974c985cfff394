"""The order-entry protocols Gatebook ships, and registering their log-origin codecs.

# Ref: host/net/order_entry_api.py (OrderEntry, LogOriginCodec), docs/durability.md
#      ("The order-entry state").

The log (`gatebook.host.wal`) imports no protocol: each protocol's package
registers its codec when imported. Whoever reads a log that `gatebook run`
wrote (the public `gatebook.recover`, `gatebook log`, the standby) calls
`register_shipped()` first, so the origins and states of every protocol
Gatebook ships are understood. A new shipped protocol adds its package here.
"""

from importlib import import_module

__all__ = ["SHIPPED", "register_shipped", "shipped_codecs"]

# Packages whose import registers their LogOriginCodec (gatebook.host.wal.register_origin_codec).
SHIPPED = ("gatebook.host.ouch", "gatebook.host.fix")


def register_shipped():
    """Import every shipped protocol package, registering its log-origin codec."""
    for package in SHIPPED:
        import_module(package)


def shipped_codecs():
    """{protocol id: LogOriginCodec} of the shipped protocols (registered on the way)."""
    from gatebook.host.wal.origins import registered_codecs
    register_shipped()
    return registered_codecs()
