"""The OUCH-style order-entry protocol: one folder, one `OrderEntry`.

# Ref: gatebook/wire/ouch.py (the messages), docs/network.md (the protocol).

- `entry`: `OuchEntry`, what an `Exchange` polls (host/net/order_entry_api.py);
- `sessions`: logins and admission; `framing`: datagrams, duplicates, gaps;
- `gateway`: messages to stamped commands, client tokens to order ids (its
  compiled twin is built from `dpdk_bridge/_ouchfast.c` by dpdk_bridge/fast.py);
- `replier` and `reply_history`: execution reports, kept for a client that
  logs in again;
- `gateway_state` and `log_origin`: what the write-ahead log holds about OUCH
  and the state it rebuilds. Importing this package registers `OUCH_LOG`
  with the log (`gatebook.host.wal.register_origin_codec`).
"""

from gatebook.host.wal.origins import register_origin_codec

from .entry import OuchEntry
from .gateway_state import GatewayState, Origin
from .log_origin import OUCH_LOG
from .reply_history import KEPT_PER_USER

__all__ = ["OuchEntry", "OUCH_LOG", "GatewayState", "Origin", "KEPT_PER_USER", "ouch_exchange"]

register_origin_codec(OUCH_LOG)


def ouch_exchange(port, symbols, clock, *, accounts=None, session_options=None,
                  reply_history=KEPT_PER_USER, compiled=None, **exchange_options):
    """An `Exchange` whose one order entry is OUCH on `port` (market data leaves by it too).

    `exchange_options` are `Exchange`'s (md_destination, journal, acks,
    engine, ...); the entry is `exchange.entry`.
    """
    from gatebook.host.net.exchange_server import Exchange
    entry = OuchEntry(port, accounts, session_options, reply_history, compiled)
    return Exchange(port, symbols, clock, order_entry=entry, **exchange_options)
