"""Limits of order entry: live orders and message rate per user, failed logins per address.

The session layer (`host/ouch/sessions.py`) asks `UserLimits.allows` before it
admits a datagram; a datagram over a limit is refused whole (REFUSED with
TOO_MANY_LIVE_ORDERS or RATE_LIMITED), before any of its messages is
numbered, stamped or logged, so the client sends it again later under the
same numbers and a restart sees nothing of it.

Live orders are counted from the engine's events (`observe`, once per
command): an accepted order is live until a fill leaves it nothing, or it is
cancelled (by its owner, IOC/FOK, self-trade, halt, mass cancel, end of
day). `seed` counts what a recovered engine holds.
"""

from collections import Counter, OrderedDict, deque

from gatebook.wire import internal
from gatebook.wire.positions import CODE

__all__ = ["UserLimits", "TokenBucket", "FailedLogins"]

_A, _C, _E = internal.ACCEPTED.code, internal.CANCELLED.code, internal.EXECUTED.code


def _at(message, name):
    return message.field_names.index(name) + 1     # item 0 is the type code


_A_ID, _A_USER = _at(internal.ACCEPTED, "order_id"), _at(internal.ACCEPTED, "user")
_C_ID = _at(internal.CANCELLED, "order_id")
_E_AGG, _E_AGG_LEFT = _at(internal.EXECUTED, "aggressor_id"), _at(internal.EXECUTED,
                                                                  "aggressor_leaves")
_E_REST, _E_REST_LEFT = _at(internal.EXECUTED, "resting_id"), _at(internal.EXECUTED,
                                                                  "resting_leaves")


class TokenBucket:
    """At most `per_second` a second, as many at once, on an injectable clock (ns)."""

    def __init__(self, per_second, clock):
        self.per_second, self.clock = per_second, clock
        self.tokens, self.at = float(per_second), clock()

    def take(self, count=1):
        """Spend `count` if there are as many; whether there were."""
        now = self.clock()
        self.tokens = min(self.per_second,
                          self.tokens + (now - self.at) * self.per_second / 1e9)
        self.at = now
        if self.tokens < count:
            return False
        self.tokens -= count
        return True


class UserLimits:
    """Each user's live orders and message budget.

    Parameters
    ----------
    clock : callable returning int nanoseconds
    max_live_orders : int or None
        Live orders a user may have; None: no limit.
    messages_per_second : int or None
        Messages a user may send a second (as many at once); None: no limit.
    """

    def __init__(self, clock, max_live_orders=None, messages_per_second=None):
        self.clock = clock
        self.max_live_orders, self.messages_per_second = max_live_orders, messages_per_second
        self.owner = {}                     # live order id -> user
        self.live = Counter()               # user -> live orders
        self._budget = {}                   # user -> TokenBucket

    def seed(self, engine):
        """Count the live orders of a recovered `engine` (its books' public views)."""
        for book in engine.books.values():
            for side in (0, 1):
                for _, orders in book.orders_at(side):
                    for order in orders:
                        self._add(order.order_id, order.user)
                for order in book.live_stops(side):
                    self._add(order.order_id, order.user)

    def _add(self, order_id, user):
        if order_id not in self.owner:
            self.owner[order_id] = user
            self.live[user] += 1

    def _gone(self, order_id):
        user = self.owner.pop(order_id, None)
        if user is not None:
            left = self.live[user] - 1
            if left:
                self.live[user] = left
            else:
                del self.live[user]

    def observe(self, events):
        """Take one command's events: which orders became live, which are gone."""
        if self.max_live_orders is None:
            return
        for event in events:
            code = event[CODE]
            if code == _A:
                self._add(event[_A_ID], event[_A_USER])
            elif code == _C:
                self._gone(event[_C_ID])
            elif code == _E:
                if not event[_E_AGG_LEFT]:
                    self._gone(event[_E_AGG])
                if not event[_E_REST_LEFT]:
                    self._gone(event[_E_REST])

    def allows(self, user, messages, new_orders):
        """None when `user` may send `messages` messages holding `new_orders`
        enter orders now (the budget is spent), else why not: "live_orders"
        or "rate"."""
        if self.max_live_orders is not None and new_orders \
                and self.live[user] + new_orders > self.max_live_orders:
            return "live_orders"
        if self.messages_per_second is not None and messages:
            budget = self._budget.get(user)
            if budget is None:
                budget = self._budget[user] = TokenBucket(self.messages_per_second, self.clock)
            if not budget.take(messages):
                return "rate"
        return None


class FailedLogins:
    """Failed logins per (address, name) and, `PER_ADDRESS` times as many, per address.

    Every protocol's login (OUCH's LOGIN_REQUEST, FIX's Logon) asks `too_many`
    before it checks a password and calls `record` after a failure: guessing is
    slow, and a guesser sharing an address locks out no one else. At most
    `capacity` keys are kept, the least recently failed going first, so a flood
    from forged addresses costs bounded memory.

    Parameters
    ----------
    limit : int
        Failures per (address, name) within `window_ns`.
    window_ns : int
    capacity : int
    """

    PER_ADDRESS = 20

    def __init__(self, limit=5, window_ns=60_000_000_000, capacity=65_536):
        self.limit, self.window_ns, self.capacity = limit, window_ns, capacity
        self._tries = OrderedDict()        # IP, or (IP, name) -> deque of failure times

    def __len__(self):
        return len(self._tries)

    def too_many(self, ip, name, now):
        """True when `name` from `ip` (or anyone from `ip`) failed too often lately."""
        return (self._over((ip, name), self.limit, now)
                or self._over(ip, self.PER_ADDRESS * self.limit, now))

    def record(self, ip, name, now):
        """One more failed login of `name` from `ip` at `now`."""
        tries = self._tries
        for key in ((ip, name), ip):
            times = tries.pop(key, None) or deque()
            times.append(now)
            tries[key] = times              # newest last: the oldest go first when full
        while len(tries) > self.capacity:
            tries.popitem(last=False)

    def _over(self, key, limit, now):
        times = self._tries.get(key)
        if not times:
            return False
        while times and now - times[0] > self.window_ns:
            times.popleft()
        return len(times) >= limit
