"""The `[risk]` section is input like any other: each mistake is refused with a sentence
naming the key (or the account, or the file), and nothing is opened."""

from dataclasses import replace

import pytest

from gatebook.host.builder import BuildError, build_exchange
from gatebook.host.config import ConfigError, parse_config
from gatebook.host.risk import AccountLimits
from gatebook.host.risk.settings import limits_by_user

from test_builder import _config as builder_config

LIMITS = ("buying_power = 1000\nmax_position = 10\nmax_order_qty = 5\n"
          "max_order_notional = 500\n")


def test_defaults_and_overrides_by_name_or_user_id():
    config = parse_config("[risk]\n" + LIMITS + "[risk.accounts.user7]\nmax_position = 3\n"
                          "[risk.accounts.9]\nbuying_power = 0\n")
    limits, default = limits_by_user(config.risk, {"user7": 7})
    assert default == AccountLimits(1000, 10, 5, 500)
    assert limits == {7: AccountLimits(1000, 3, 5, 500), 9: AccountLimits(0, 10, 5, 500)}
    assert parse_config("").risk is None                # no section: no gate


@pytest.mark.parametrize("text, says", [
    ("[risk]\nbuying_power = 1\n", "sets some default limits but not max_position"),
    ("[risk]\n" + LIMITS + "max_orders = 3\n", "[risk] max_orders: unknown key"),
    ("[risk]\n" + LIMITS.replace("1000", "true"), "[risk] buying_power: must be an integer"),
    ("[risk]\n" + LIMITS.replace("= 10\n", "= -1\n"), "[risk] max_position: -1 is outside"),
    ("[risk]\n" + LIMITS.replace("1000", str(1 << 63)), "is outside 0..4611686018427387904"),
    ("[risk.accounts.user7]\nbuying_power = 5\n", "[risk.accounts.user7] needs max_position"),
    ("[risk]\n" + LIMITS + "[risk.accounts.user7]\nlimit = 5\n", "unknown key limit"),
    ("risk = 3\n", "risk must be a section [risk]"),
    ("[risk]\nfees = 7\n", "[risk] fees: must be non-empty text"),
])
def test_a_bad_risk_section_is_refused_naming_the_key(text, says):
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="x.toml")
    assert says in str(caught.value) and "x.toml" in str(caught.value), caught.value


def test_what_the_builder_cannot_resolve_is_a_build_error_before_anything_opens(tmp_path):
    config = builder_config(tmp_path, directory=str(tmp_path / "log"))
    unknown = parse_config("[risk]\n" + LIMITS + "[risk.accounts.mallory]\nmax_position = 1\n")
    missing = parse_config("[risk]\n" + LIMITS + 'fees = "nowhere.toml"\n', base=str(tmp_path))
    (tmp_path / "bad.toml").write_text("[buy_taker]\nrate = 3\n")
    bad = parse_config("[risk]\n" + LIMITS + 'fees = "bad.toml"\n', base=str(tmp_path))
    for risk, says in ((unknown.risk, "no account of that name"),
                       (missing.risk, "cannot read"), (bad.risk, "unknown field")):
        with pytest.raises(BuildError, match=says) as caught:
            build_exchange(replace(config, risk=risk))
        assert caught.value.status == 2
    assert not (tmp_path / "log").exists()
    linked = replace(config, risk=unknown.risk, link=replace(config.link, iface="lo",
                                                              peer="02:00:00:00:00:01"))
    with pytest.raises(BuildError, match=r"not yet wired in front of a pipeline"):
        build_exchange(linked)
