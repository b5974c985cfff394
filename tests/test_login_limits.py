"""Failed logins, the one rule OUCH's and FIX's logins share (host/net/limits.py FailedLogins)."""

from gatebook.host.net.limits import FailedLogins

SECOND = 1_000_000_000


def test_a_name_is_locked_after_its_limit_and_unlocked_when_the_window_passes():
    failed = FailedLogins(limit=3, window_ns=60 * SECOND)
    for at in range(3):
        assert not failed.too_many("10.0.0.1", "alice", at * SECOND)
        failed.record("10.0.0.1", "alice", at * SECOND)
    assert failed.too_many("10.0.0.1", "alice", 3 * SECOND)
    assert not failed.too_many("10.0.0.1", "bob", 3 * SECOND)      # another name from there
    assert not failed.too_many("10.0.0.2", "alice", 3 * SECOND)    # the name from elsewhere
    assert not failed.too_many("10.0.0.1", "alice", 61 * SECOND)   # the first try is old now


def test_an_address_guessing_many_names_is_locked_for_all_of_them():
    failed = FailedLogins(limit=2, window_ns=60 * SECOND)
    for index in range(FailedLogins.PER_ADDRESS * 2):
        failed.record("10.0.0.9", f"name{index}", SECOND)
    assert failed.too_many("10.0.0.9", "never-tried", 2 * SECOND)
    assert not failed.too_many("10.0.0.8", "never-tried", 2 * SECOND)


def test_forged_addresses_cost_bounded_memory():
    failed = FailedLogins(capacity=1000)
    for index in range(10_000):
        failed.record(f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}", "x", index)
    assert len(failed) <= 1000
