"""The client-side router: each order-entry message to the shard that owns it."""

from gatebook.host.shards import parse_shard_map
from gatebook.host.shards.router import OrderRouter
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.wire import ouch
from gatebook.wire.enums import AdminAction, MassCancelScope

# GATE, AAPL on A; MSFT, PENNY, BRKA on B
MAP = parse_shard_map([
    {"name": "A", "symbols": ["GATE", "AAPL"], "listen": ":1", "md": "none"},
    {"name": "B", "symbols": ["MSFT", "PENNY", "BRKA"], "listen": ":2", "md": "none"},
], DEFAULT_SYMBOLS)


def enter(token, stock):
    return (ouch.ENTER_ORDER.code, token, stock, 0, 0, 0, 100, 1_000_000, 0)


def test_orders_go_to_their_symbols_owner_and_cancels_and_replaces_follow_them():
    router = OrderRouter(MAP)
    assert router.route(enter(1, "GATE")) == ("A",)
    assert router.route(enter(2, "MSFT")) == ("B",)
    assert router.route(enter(3, b"AAPL    ")) == ("A",)     # raw padded bytes too
    assert router.route((ouch.CANCEL_ORDER.code, 2)) == ("B",)
    assert router.route((ouch.REPLACE_ORDER.code, 1, 9, 50, 1_000_000)) == ("A",)
    assert router.route((ouch.CANCEL_ORDER.code, 9)) == ("A",)     # the replacement's token
    assert not router.refused


def test_what_cannot_be_routed_is_counted_by_kind_and_sent_nowhere():
    router = OrderRouter(MAP)
    router.route(enter(1, "GATE"))
    assert router.route(enter(2, "IBM")) == ()
    assert router.route((ouch.CANCEL_ORDER.code, 77)) == ()
    assert router.route((ouch.REPLACE_ORDER.code, 78, 79, 1, 1)) == ()
    assert router.route(enter(1, "MSFT")) == ()                 # token 1 lives on A
    assert router.route((ouch.LOGOUT_REQUEST.code,)) == ()
    assert router.refused == {"unknown_symbol": 1, "unknown_token": 2,
                              "token_on_other_shard": 1, "not_routable": 1}


def test_a_mass_cancel_or_halt_for_every_symbol_goes_to_every_shard():
    router = OrderRouter(MAP)
    everything = (ouch.MASS_CANCEL.code, int(MassCancelScope.USER), 0, "")
    one = (ouch.MASS_CANCEL.code, int(MassCancelScope.USER_SYMBOL), 0, "PENNY")
    assert router.route(everything) == ("A", "B")
    assert router.route(one) == ("B",)
    assert router.route((ouch.ADMIN.code, int(AdminAction.HALT), "")) == ("A", "B")
    assert router.route((ouch.ADMIN.code, int(AdminAction.HALT), "AAPL")) == ("A",)
    assert router.split([enter(5, "GATE"), enter(6, "BRKA"), everything]) == {
        "A": [enter(5, "GATE"), everything], "B": [enter(6, "BRKA"), everything]}
