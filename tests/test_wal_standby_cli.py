"""`gatebook standby` as an operator runs it: a primary whose log its engine cannot
reproduce is a sentence and exit 3, never a traceback."""

import dataclasses
import subprocess
import sys

from gatebook.host.clock import ManualClock
from gatebook.host.symbols import DEFAULT_SYMBOLS
from gatebook.host.wal.journal import JournaledExchange
from gatebook.host.wal.loadgen import START_NS, STEP_NS, seeded_commands
from gatebook.host.wal.replication import ReplicationServer

from replication_helpers import REPO, SECRET
from waiting import wait_for


def test_a_standby_that_cannot_reproduce_the_primary_says_so_and_stops(tmp_path):
    # A primary listing its symbols with a one-tick price band: the standby's
    # engine (the default symbols) accepts what the primary's rejected.
    other = tuple(dataclasses.replace(spec, price_max=spec.price_min + spec.tick_size)
                  for spec in DEFAULT_SYMBOLS)
    exchange = JournaledExchange(str(tmp_path / "primary"), other,
                                 clock=ManualClock(START_NS, STEP_NS))
    server = ReplicationServer(exchange, secret=SECRET, heartbeat_interval=0.05)
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET)
    secret.chmod(0o600)
    try:
        stream = seeded_commands(5)
        for _ in range(300):
            seq, _ = exchange.submit(*next(stream))
        wait_for(lambda: server.local_seq >= seq, "the primary's log")
        done = subprocess.run(
            [sys.executable, "-m", "gatebook.cli", "standby", "--connect",
             f"127.0.0.1:{server.address[1]}", "--dir", str(tmp_path / "standby"),
             "--replication-secret", str(secret)],
            cwd=REPO, capture_output=True, text=True, timeout=30)
    finally:
        server.close()
        exchange.close()
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    assert "is not a copy of the primary's" in done.stderr
    assert "start it again on an empty --dir" in done.stderr
