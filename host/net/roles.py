"""Who may do what: an account's mass cancel and admin messages as commands, or why not.

# Ref: gatebook/wire/ouch.py (MASS_CANCEL, ADMIN), gatebook/wire/internal.py
#      (the commands they become), docs/security.md (the roles).

A trader may cancel its own orders, in every symbol (scope USER) or in one
(USER_SYMBOL). An admin may also cancel another user's orders or everyone's
in a symbol (SYMBOL), and is the only one who may halt, resume, end the day
or pull the kill switch. A message that asks for more than its account may
gets `SessionRefusal.NOT_ADMIN`; one whose scope, action or stock is not one
the exchange knows gets INVALID (so the engine never rejects what a role
check let through, and no command is stamped for it).
"""

from gatebook.wire import ouch
from gatebook.wire.enums import ALL_SYMBOLS, AdminAction, MassCancelScope, SessionRefusal

__all__ = ["mass_cancel_command", "admin_command"]

_BLANK = b" " * ouch.ADMIN.field("stock").width
_SCOPES, _ACTIONS = frozenset(MassCancelScope), frozenset(AdminAction)


def _symbol(symbol_ids, stock, blank):
    return blank if stock == _BLANK else symbol_ids.get(stock)


def mass_cancel_command(account, fields, symbol_ids, sequencer):
    """The stamped MASS_CANCEL command of a MASS_CANCEL message's raw `fields`
    (type, scope, user_id, stock) from `account`, or the SessionRefusal."""
    _, scope, target, stock = fields
    if scope not in _SCOPES:
        return SessionRefusal.INVALID
    target = target or account.user_id
    if (scope == MassCancelScope.SYMBOL or target != account.user_id) and not account.is_admin:
        return SessionRefusal.NOT_ADMIN
    symbol = _symbol(symbol_ids, stock, ALL_SYMBOLS if scope == MassCancelScope.USER else None)
    if symbol is None:
        return SessionRefusal.INVALID
    return sequencer.mass_cancel(scope, target, symbol)


def admin_command(account, fields, symbol_ids, sequencer):
    """The stamped ADMIN command of an ADMIN message's raw `fields` (type,
    action, stock; blank: every symbol) from `account`, or the SessionRefusal."""
    _, action, stock = fields
    if not account.is_admin:
        return SessionRefusal.NOT_ADMIN
    symbol = _symbol(symbol_ids, stock, ALL_SYMBOLS)
    if action not in _ACTIONS or symbol is None:
        return SessionRefusal.INVALID
    return sequencer.admin(action, symbol)
