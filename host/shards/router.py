"""Which shard an order-entry message goes to: routing by symbol for one client.

# Ref: gatebook/wire/ouch.py (the inbound messages and their fields).

A client of a sharded exchange holds one session per shard (each shard has its
own sessions, numbering and order ids; the accounts are the same). An order
goes to the shard that owns its stock; a cancel or replace goes where the order
it names went, so the router remembers each token's shard; a mass cancel or
admin message for one symbol goes to its owner, and one for every symbol
(blank stock) goes to every shard. What cannot be routed is not sent: it is
counted in `refused` by kind, and `route` returns no shard.
"""

from collections import Counter

from gatebook.wire import ouch
from gatebook.wire.positions import CODE, OUCH

__all__ = ["OrderRouter", "REFUSED_KINDS"]

REFUSED_KINDS = {
    "unknown_symbol": "no shard owns the order's stock",
    "unknown_token": "the token names no order this client sent through the router",
    "token_on_other_shard": "the token is already in use on another shard",
    "not_routable": "login and logout belong to each shard's session, not to one message",
}

_ENTER, _CANCEL, _REPLACE = ouch.ENTER_ORDER.code, ouch.CANCEL_ORDER.code, ouch.REPLACE_ORDER.code
_MASS_CANCEL, _ADMIN = ouch.MASS_CANCEL.code, ouch.ADMIN.code


def _stock(value):
    """A stock field as the codec (text) or the raw struct (padded bytes) gives it."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("ascii", "replace")
    return value.strip()


class OrderRouter:
    """Routes one client's OUCH inbound records to the shards of a `ShardMap`.

    Parameters
    ----------
    shard_map : gatebook.host.shards.ShardMap

    Attributes
    ----------
    refused : collections.Counter
        Records not routed, by kind (`REFUSED_KINDS`).
    """

    def __init__(self, shard_map):
        self.shard_map = shard_map
        self.refused = Counter()
        self._token_shard = {}

    def route(self, record):
        """The names of the shards `record` goes to; () when it goes nowhere (counted).

        `record` is an inbound record tuple (type code first, fields in table
        order), as `gatebook.wire.codec` and `encode_datagram` take them.
        """
        code = record[CODE]
        if code == _ENTER:
            owner = self.shard_map.owner(_stock(record[OUCH.ENTER_ORDER.stock]))
            if owner is None:
                return self._refuse("unknown_symbol")
            token = record[OUCH.ENTER_ORDER.order_token]
            if self._token_shard.get(token, owner.name) != owner.name:
                return self._refuse("token_on_other_shard")
            self._token_shard[token] = owner.name
            return (owner.name,)
        if code == _CANCEL:
            shard = self._token_shard.get(record[OUCH.CANCEL_ORDER.order_token])
            return (shard,) if shard is not None else self._refuse("unknown_token")
        if code == _REPLACE:
            shard = self._token_shard.get(record[OUCH.REPLACE_ORDER.existing_order_token])
            if shard is None:
                return self._refuse("unknown_token")
            new = record[OUCH.REPLACE_ORDER.replacement_order_token]
            if self._token_shard.get(new, shard) != shard:
                return self._refuse("token_on_other_shard")
            self._token_shard[new] = shard
            return (shard,)
        if code in (_MASS_CANCEL, _ADMIN):
            position = OUCH.MASS_CANCEL.stock if code == _MASS_CANCEL else OUCH.ADMIN.stock
            stock = _stock(record[position])
            if not stock:
                return self.shard_map.names         # every symbol: every shard
            owner = self.shard_map.owner(stock)
            return (owner.name,) if owner is not None else self._refuse("unknown_symbol")
        return self._refuse("not_routable")

    def split(self, records):
        """{shard name: [records]} for `records`, each shard's in the order given."""
        out = {}
        for record in records:
            for name in self.route(record):
                out.setdefault(name, []).append(record)
        return out

    def _refuse(self, kind):
        self.refused[kind] += 1
        return ()
