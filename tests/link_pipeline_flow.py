"""OUCH datagrams that race: a seeded command flow as clients would send it, tokens and all.

`racing_datagrams` turns a flow of internal commands (`gatebook.sim.hybrid.hot_flow`,
`gatebook.sim.flows.hybrid_flow`) into the order-entry datagrams of its users, so
that a pipelined exchange has adds, cancels, replaces and fills in flight together
and meets every case where a reply or a command depends on an answer still due:

- replaces that rename an order's token (most of them), so a fill or cancel of an
  earlier command must be reported under the token the order had then;
- cancels and replaces of orders a command just before them filled (the flow's
  own cancels of dead orders, and its cancels behind a taker);
- enter orders that reuse a token of the same user, live (a duplicate) or done;
- replaces to a token that still names another live order of the user.
"""

import random

from gatebook.wire import internal, ouch
from gatebook.wire.positions import CODE, INTERNAL
from gatebook.host.ouch.framing import encode_datagram

__all__ = ["racing_datagrams"]

_NEW, _CANCEL, _REPLACE = internal.NEW_ORDER.code, internal.CANCEL.code, internal.REPLACE.code
_N, _C, _R = INTERNAL.NEW_ORDER, INTERNAL.CANCEL, INTERNAL.REPLACE


def racing_datagrams(commands, symbols, seed, users=4, batch=3, reuse=0.04, rename=0.6,
                     collide=0.05):
    """[(user, payload)]: `commands` from `users` users (the flow's users folded onto
    1..users), up to `batch` messages per datagram, in flow order.

    `reuse`: share of enter orders that take one of the user's earlier tokens;
    `rename`: share of replaces to a new token; `collide`: share to one of the
    user's earlier tokens (which may still name a live order).
    """
    rng = random.Random(seed)
    names = {spec.symbol_id: spec.name for spec in symbols}
    token_of = {}                   # the flow's order id -> the token it was sent under
    used = {}                       # user -> tokens sent so far
    fresh = {}                      # user -> next new token
    pending, numbers, out = {}, {}, []

    def new_token(user):
        fresh[user] = fresh.get(user, 0) + 1
        token = fresh[user]
        used.setdefault(user, []).append(token)
        return token

    def flush(user):
        records = pending.pop(user, [])
        if records:
            first = numbers.get(user, 1)
            numbers[user] = first + len(records)
            out.append((user, encode_datagram(user, first, records)))

    for command in commands:
        code = command[CODE]
        if code == _NEW:
            user = command[_N.user] % users + 1
            if used.get(user) and rng.random() < reuse:
                token = rng.choice(used[user])
            else:
                token = new_token(user)
            token_of[command[_N.order_id]] = token
            record = (ouch.ENTER_ORDER.code, token, names.get(command[_N.symbol], "?"),
                      command[_N.side], command[_N.order_type], command[_N.tif],
                      command[_N.qty], command[_N.price], command[_N.stop_price])
        elif code == _CANCEL:
            user = command[_C.user] % users + 1
            record = (ouch.CANCEL_ORDER.code, token_of.get(command[_C.order_id], 999_999))
        elif code == _REPLACE:
            user = command[_R.user] % users + 1
            existing = token_of.get(command[_R.order_id], 999_999)
            draw = rng.random()
            if draw < collide and used.get(user):
                replacement = rng.choice(used[user])
            elif draw < collide + rename:
                replacement = new_token(user)
            else:
                replacement = existing
            token_of[command[_R.order_id]] = replacement
            record = (ouch.REPLACE_ORDER.code, existing, replacement, command[_R.qty],
                      command[_R.price])
        else:
            continue
        pending.setdefault(user, []).append(record)
        if len(pending[user]) >= rng.randint(1, batch):
            flush(user)
    for user in list(pending):
        flush(user)
    return out
