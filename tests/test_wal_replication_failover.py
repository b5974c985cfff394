"""A dropped or altered replication link: reconnection, not promotion; a dead primary still promotes.

Real TCP on loopback (replication_helpers: a primary, followers in threads,
`Relay`, a TCP relay that cuts the connection or alters bytes in transit) and
a real primary process SIGKILLed (tests/wal_driver.py). The failover rule
(host/wal/standby.py): promote only after the heartbeat timeout without
authenticated contact, with every reconnection in that window failed. The
primary holds acknowledgements while its standby is away, within a bound.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from gatebook.wire.wal import APPLIED, HEARTBEAT, HELLO, MAC_SIZE, RECORDS
from gatebook.host.clock import ManualClock
from gatebook.host.wal.channel import Channel, accept_follower, load_secret
from gatebook.host.wal.format import OUTPUT, SegmentScan, encode_record
from gatebook.host.wal.loadgen import START_NS, STEP_NS, seeded_commands
from gatebook.host.wal.replication import LogTail, StandbyLost
from gatebook.host.wal.standby import Follower

from replication_helpers import (HANDSHAKE_TO_FOLLOWER, HANDSHAKE_TO_PRIMARY, HERE, SECRET, SEED,
                                 TIMEOUT, Relay, caught_up, follow_in_thread,
                                 secret_file, wait_for)
from replication_helpers import followers, primary  # noqa: F401 (fixtures, used by name)
from wal_helpers import reference_hash, write_log


def test_a_silent_impostor_is_no_contact_and_the_standby_still_promotes(primary, followers):
    exchange, server, submit = primary()
    follower, thread, result = followers(server.address)
    caught_up(follower, server, submit(20))
    server.close()                          # the primary dies ...
    exchange.close()
    # ... and something else takes its port: it accepts connections, says nothing.
    with socket.create_server(server.address):
        thread.join(10)
    assert "silence" in result, result      # promoted despite the connections it accepted
    assert follower.refused["handshake_timeout"] >= 1 and follower.reconnects == 0


def _flip(data):
    return bytes((data[0] ^ 0x10,)) + data[1:]


FIRST_HEARTBEAT = (HANDSHAKE_TO_FOLLOWER, HANDSHAKE_TO_FOLLOWER + HEARTBEAT.size + MAC_SIZE)


@pytest.mark.parametrize("tamper", [
    ("to_follower", FIRST_HEARTBEAT[1] + 40, FIRST_HEARTBEAT[1] + 41, _flip),  # in RECORDS
    ("to_follower", *FIRST_HEARTBEAT, lambda frame: b""),                      # dropped
    ("to_follower", *FIRST_HEARTBEAT, lambda frame: frame * 2),                # replayed
    ("to_primary", HANDSHAKE_TO_PRIMARY + 5, HANDSHAKE_TO_PRIMARY + 6, _flip),  # in HELLO
], ids=["flipped-bit-to-follower", "dropped-frame", "replayed-frame", "flipped-bit-to-primary"])
def test_an_altered_stream_is_caught_and_the_follower_recovers(primary, followers, tamper):
    exchange, server, submit = primary()
    first = submit(60)                      # so the first frames after HEARTBEAT are RECORDS
    relay = Relay(server.address, tamper=tamper)
    direction = tamper[0]
    try:
        follower, thread, result = followers(relay.address)
        refused = follower.refused if direction == "to_follower" else server.refused
        wait_for(lambda: refused["bad_mac"] == 1, "the altered frame to fail its MAC")
        last = submit(40)
        caught_up(follower, server, last)
        assert follower.reconnects == 1 and thread.is_alive() and result == {}
        assert first < last and follower.engine.state_hash() == reference_hash(last, seed=SEED)
    finally:
        relay.close()


def test_a_blip_reconnects_and_does_not_promote(primary, followers, caplog):
    exchange, server, submit = primary(synchronous=True)
    relay = Relay(server.address)
    try:
        follower, thread, result = followers(relay.address)
        caught_up(follower, server, submit(50))
        relay.cut()                         # a 0-second blip, with the primary alive
        cut_at = time.monotonic()
        while time.monotonic() - cut_at < 4 * TIMEOUT:
            caught_up(follower, server, submit(20))
        assert thread.is_alive() and result == {}, result
        assert follower.reconnects == 1 and relay.connections == 2
        assert any("standby 127.0.0.1:" in line and "lost" in line and "holding" in line
                   for line in caplog.messages), caplog.messages
        assert any("reconnected to 127.0.0.1:" in line for line in caplog.messages)
    finally:
        relay.close()


def test_blips_under_load_never_refuse_or_promote(primary, followers):
    """Cut while records stream: the follower reconnects from a seq whose records may
    still be on their way to its disk, and its HELLO must still match the primary's log."""
    exchange, server, submit = primary(synchronous=False)
    relay = Relay(server.address)
    stop = threading.Event()

    def load():
        while not stop.is_set():
            submit(25)
    loader = threading.Thread(target=load, daemon=True)
    try:
        follower, thread, result = followers(relay.address)
        loader.start()
        for cut in range(1, 9):
            wait_for(lambda: follower.next_seq > server.local_seq - 50, "the follower to keep up")
            relay.cut()
            wait_for(lambda: relay.connections > cut and follower.reconnects == cut,
                     f"reconnection {cut}")
        stop.set()
        loader.join(10)
        caught_up(follower, server, server.local_seq)
        assert thread.is_alive() and result == {}, result
        last = follower.next_seq - 1
        assert follower.engine.state_hash() == reference_hash(last, seed=SEED)
    finally:
        stop.set()
        relay.close()


def test_a_primary_holds_acknowledgements_while_its_standby_is_away_within_a_bound(
        primary, tmp_path):
    exchange, server, submit = primary(synchronous=True, hold_seconds=1.0)
    standby_dir = str(tmp_path / "standby")
    follower = Follower(standby_dir, server.address, secret=SECRET, heartbeat_timeout=TIMEOUT)
    thread, _ = follow_in_thread(follower)
    acked = submit(30)
    caught_up(follower, server, acked)
    follower.close()                        # the standby goes away (and stays away)
    thread.join(5)
    wait_for(lambda: server.standby is None, "the primary to notice")
    held = submit(20)
    assert server.acked == acked            # matched and durable here, not acknowledged
    # Back within the bound: what it logs is released.
    follower = Follower(standby_dir, server.address, secret=SECRET, heartbeat_timeout=TIMEOUT)
    thread, _ = follow_in_thread(follower)
    caught_up(follower, server, held)
    assert exchange.fenced is None
    follower.close()
    thread.join(5)
    # Away past the bound: the primary stops taking orders.
    away = time.monotonic()
    submit(5)
    wait_for(lambda: isinstance(exchange.fenced, StandbyLost), "the primary to stop")
    assert time.monotonic() - away >= 1.0 and server.acked == held
    with pytest.raises(StandbyLost, match="accepting no more commands"):
        exchange.submit(*next(seeded_commands(SEED)))


def test_a_primary_stops_when_too_many_commands_wait_for_a_standby(primary):
    exchange, server, submit = primary(synchronous=True, max_held=25)
    submit(30)                              # no standby ever connects
    wait_for(lambda: isinstance(exchange.fenced, StandbyLost), "the primary to stop")
    assert server.acked == 0 and "with no acknowledgement" in str(exchange.fenced)


def test_a_real_primary_death_still_promotes(tmp_path):
    secret = secret_file(tmp_path)
    driver = subprocess.Popen([sys.executable, os.path.join(HERE, "wal_driver.py"),
                               str(tmp_path / "primary"), "strict", str(SEED), "0",
                               str(1 << 20), "replicate", secret],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = driver.stdout.readline().split()
        assert ready[:2] == ["READY", "1"], driver.stderr.read()
        follower = Follower(str(tmp_path / "standby"), ("127.0.0.1", int(ready[2])),
                            secret=load_secret(secret), heartbeat_timeout=TIMEOUT)
        thread, result = follow_in_thread(follower)
        wait_for(lambda: follower.next_seq > 200, "the standby to follow")
        driver.send_signal(signal.SIGKILL)
        driver.communicate()
        thread.join(10)
        assert TIMEOUT <= result["silence"] < TIMEOUT + 1.0, result
        # It tried to reconnect all along and every attempt failed.
        assert follower.reconnects == 0 and follower.failed_attempts >= 4
        last = follower.next_seq - 1
        exchange = follower.promote(clock=ManualClock(START_NS + last * STEP_NS, STEP_NS))
        assert exchange.epoch == 2 and exchange.engine.state_hash() == reference_hash(last, SEED)
        exchange.close()
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.communicate()


def test_a_records_frame_never_splits_a_command(tmp_path):
    """Frames are cut at about max_bytes, but only before an INPUT record: a follower
    must get each command's INPUT, OUTPUT and COMMIT records in one frame."""
    directory = str(tmp_path / "log")
    write_log(directory, 300, seed=SEED)
    tail, next_seq, frames = LogTail(directory, 1), 1, 0
    while chunk := tail.read(300, max_bytes=100):
        scan = SegmentScan(chunk, next_seq, start=0)
        assert all(record.seq >= next_seq for record in scan) and scan.damage is None, frames
        next_seq, frames = scan.next_seq, frames + 1
    assert next_seq == 301 and frames > 100


def test_an_output_record_without_its_input_is_a_clear_error(tmp_path):
    """Even from a peer holding the secret, a frame that opens with an OUTPUT record
    stops the follower with a sentence, not a TypeError."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        sock, peer = listener.accept()
        channel = Channel(sock, peer)
        try:
            accept_follower(channel, SECRET, 5)
            channel.recv(5, {HELLO.code})
            channel.send((HEARTBEAT.code, 1, 0, 1))
            orphan = encode_record(0, START_NS, OUTPUT, b"")
            channel.send((RECORDS.code, len(orphan)), orphan)
            channel.recv(5, {APPLIED.code})         # until the follower hangs up
        except OSError:
            pass
        finally:
            channel.close()
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        follower = Follower(str(tmp_path / "standby"), listener.getsockname(), secret=SECRET,
                            heartbeat_timeout=TIMEOUT)
        with pytest.raises(ConnectionError, match="OUTPUT record without its INPUT"):
            follower.follow()
        follower.close()
        thread.join(5)
    finally:
        listener.close()
