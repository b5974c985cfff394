"""The replication port under attack: only a peer holding the shared secret gets anything.

Real TCP on loopback: a JournaledExchange with its ReplicationServer,
Followers in threads and raw sockets for the attacker (replication_helpers),
and a real `gatebook run` where the command line is what is tested. Each
attack of the issue has its test: a 17-byte HELLO that fenced the primary, an
idle connection that made the standby promote, a forged APPLIED that released
acknowledgements with no standby behind them, and a HELLO that read the whole
log. Then: a wrong secret, an impostor primary, a replayed handshake, and the
secret file's checks. What a dropped or altered link does is in
test_wal_replication_failover.py.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from gatebook.wire.wal import (APPLIED, AUTH_CHALLENGE, AUTH_HELLO, AUTH_PROOF, HELLO, MAC_SIZE,
                               NONCE_SIZE, REPLICATION_VERSION)
from gatebook.host.wal.channel import AuthError, SecretError, load_secret
from gatebook.host.wal.epoch import check_peer
from gatebook.host.wal.replication import ReplicationServer
from gatebook.host.wal.standby import Follower

from ouch_login import flow_accounts
from replication_helpers import (CHALLENGE_BYTES, FRAMES, HANDSHAKE_TO_PRIMARY, REPO, SECRET,
                                 TIMEOUT, Relay, caught_up, read_exactly,
                                 read_until_closed, secret_file, wait_for)
from replication_helpers import followers, primary  # noqa: F401 (fixtures, used by name)


def test_a_forged_hello_cannot_fence_the_primary(primary, followers, caplog):
    exchange, server, submit = primary()
    with socket.create_connection(server.address) as attacker:
        attacker.sendall(FRAMES.encode((HELLO.code, 1, 99, 0)))         # epoch 99: 17 bytes
        assert read_until_closed(attacker) == b""
    wait_for(lambda: server.refused["unexpected_frame"] == 1, "the HELLO to be refused")
    assert exchange.fenced is None
    assert any("refused 127.0.0.1:" in line and "unexpected_frame" in line
               for line in caplog.messages), caplog.messages
    follower, _, _ = followers(server.address)
    caught_up(follower, server, submit(50))        # still primary, still acknowledging


def test_an_idle_connection_is_not_contact_and_blocks_no_one(primary, followers):
    exchange, server, submit = primary(handshake_timeout=0.3, max_handshakes=4)
    # Before the standby connects: one idle connection and more than
    # max_handshakes others, none of which ever says a word.
    idle = [socket.create_connection(server.address) for _ in range(6)]
    try:
        follower, thread, result = followers(server.address)
        started = time.monotonic()
        while time.monotonic() - started < 4 * TIMEOUT:       # well past the timeout
            caught_up(follower, server, submit(20))
        assert thread.is_alive() and result == {}, result       # following, never promoted
        wait_for(lambda: server.refused["evicted"] + server.refused["handshake_timeout"] == 6,
                 "every idle connection to be refused")
        assert follower.reconnects == 0 and server.standby is not None
    finally:
        for sock in idle:
            sock.close()


def test_a_forged_applied_acknowledges_nothing(primary, followers):
    exchange, server, submit = primary(synchronous=True)
    forged = FRAMES.encode((APPLIED.code, 1 << 40))
    with socket.create_connection(server.address) as plain, \
            socket.create_connection(server.address) as posing:
        plain.sendall(FRAMES.encode((HELLO.code, 1, 1, 0)) + forged)     # today's protocol
        posing.sendall(FRAMES.encode((AUTH_HELLO.code, REPLICATION_VERSION)) + os.urandom(32))
        assert len(read_exactly(posing, CHALLENGE_BYTES)) == CHALLENGE_BYTES
        posing.sendall(FRAMES.encode((AUTH_PROOF.code,)) + os.urandom(MAC_SIZE) + forged)
        assert read_until_closed(plain) == b"" and read_until_closed(posing) == b""
    wait_for(lambda: server.refused["unexpected_frame"] == 1 and server.refused["bad_proof"] == 1,
             "both forgers to be refused")
    last = submit(40)                       # durable here, and no standby has them
    assert server.applied_seq == 0 and server.acked == 0
    follower, _, _ = followers(server.address)
    caught_up(follower, server, last)      # a real standby releases them


def test_an_unauthenticated_peer_reads_nothing_of_the_log(primary):
    exchange, server, submit = primary()
    submit(100)
    with socket.create_connection(server.address) as reader:
        reader.sendall(FRAMES.encode((HELLO.code, 1, 1, 0)))
        assert read_until_closed(reader) == b""
    with socket.create_connection(server.address) as reader:
        reader.sendall(FRAMES.encode((AUTH_HELLO.code, REPLICATION_VERSION)) + os.urandom(32))
        challenge = read_exactly(reader, CHALLENGE_BYTES)
        reader.sendall(FRAMES.encode((AUTH_PROOF.code,)) + bytes(MAC_SIZE))
        rest = read_until_closed(reader)
    assert challenge[0] == AUTH_CHALLENGE.code and rest == b""     # a nonce, and nothing more
    wait_for(lambda: sum(server.refused.values()) == 2, "both readers to be refused")


def test_a_wrong_secret_is_refused_and_logged(primary, tmp_path, caplog):
    exchange, server, submit = primary()
    submit(10)
    with pytest.raises(AuthError, match="refused this follower's proof") as raised:
        Follower(str(tmp_path / "wrong"), server.address, secret=os.urandom(32),
                 heartbeat_timeout=TIMEOUT)
    assert raised.value.kind == "proof_refused"
    wait_for(lambda: server.refused["bad_proof"] == 1, "the primary to refuse the proof")
    line = next(line for line in caplog.messages if "bad_proof" in line)
    assert "refused 127.0.0.1:" in line and "wrong secret" in line
    assert server.applied_seq == 0 and server.standby is None
    # A restarting primary asking its standby's epoch with the wrong secret is told so.
    with pytest.raises(AuthError, match="refused this follower's proof"):
        check_peer(str(tmp_path / "wrong"), server.address, os.urandom(32))
    wait_for(lambda: server.refused["bad_proof"] == 2, "the primary to refuse it too")
    assert exchange.fenced is None


def test_an_impostor_primary_is_refused(tmp_path):
    """Something at the primary's address that answers the handshake without the secret."""
    impostor = socket.create_server(("127.0.0.1", 0))

    def answer():
        peer, _ = impostor.accept()
        with peer:
            peer.recv(AUTH_HELLO.size + NONCE_SIZE)
            peer.sendall(FRAMES.encode((AUTH_CHALLENGE.code, REPLICATION_VERSION))
                         + os.urandom(NONCE_SIZE))
            peer.recv(AUTH_PROOF.size + MAC_SIZE)
            peer.sendall(FRAMES.encode((AUTH_PROOF.code,)) + os.urandom(MAC_SIZE))
            peer.recv(1)                # until the follower hangs up
    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        with pytest.raises(AuthError, match="does not hold the replication secret") as raised:
            Follower(str(tmp_path / "standby"), impostor.getsockname(), secret=SECRET,
                     heartbeat_timeout=TIMEOUT)
        assert raised.value.kind == "bad_proof"
        thread.join(5)
    finally:
        impostor.close()


def test_a_replayed_handshake_is_refused(primary, followers):
    exchange, server, submit = primary()
    relay = Relay(server.address)
    try:
        follower, _, _ = followers(relay.address)
        caught_up(follower, server, submit(30))
        recorded = bytes(relay.recorded)    # its AUTH_HELLO, AUTH_PROOF, HELLO, APPLIEDs
    finally:
        relay.close()
    assert len(recorded) > HANDSHAKE_TO_PRIMARY
    with socket.create_connection(server.address) as replay:
        replay.sendall(recorded)
        got = read_until_closed(replay)
    assert len(got) == CHALLENGE_BYTES      # a new nonce, then the door closes
    wait_for(lambda: server.refused["bad_proof"] == 1, "the replayed proof to be refused")


@pytest.mark.parametrize("data, mode, says", [
    (None, 0o644, "chmod 600"),                         # world-readable
    (b"hunter2\n", 0o600, "fewer than 32"),             # too short
])
def test_a_weak_secret_file_is_refused_saying_what_to_do(tmp_path, data, mode, says):
    path = secret_file(tmp_path, data, mode)
    with pytest.raises(SecretError, match=says):
        load_secret(path)
    with pytest.raises(SecretError, match="head -c 32 /dev/urandom"):
        load_secret(str(tmp_path / "missing"))
    assert len(load_secret(secret_file(tmp_path))) == 32


@pytest.mark.parametrize("command, says", [
    (["standby", "--connect", "127.0.0.1:9", "--dir", "{dir}"],
     "--replication-secret FILE is required"),
    (["run", "--log", "{dir}", "--standby-listen", "127.0.0.1:0", "--md", "none",
      "--accounts", "{accounts}"], "need --replication-secret FILE"),
])
def test_replication_without_a_secret_does_not_start(tmp_path, command, says):
    accounts = flow_accounts(str(tmp_path / "log"), users=[1])
    argv = [part.format(dir=tmp_path / "log", accounts=accounts) for part in command]
    done = subprocess.run([sys.executable, "-m", "gatebook.cli", *argv], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and says in done.stderr, done.stderr
    weak = secret_file(tmp_path, mode=0o644)
    done = subprocess.run([sys.executable, "-m", "gatebook.cli", *argv,
                           "--replication-secret", weak], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "readable by every user" in done.stderr, done.stderr
    assert not os.path.exists(tmp_path / "log")         # refused before touching anything


def test_gatebook_run_logs_and_counts_what_its_replication_port_refused(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as probe:
        replication = probe.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        orders = probe.getsockname()[1]
    log_dir = str(tmp_path / "log")
    child = subprocess.Popen(
        [sys.executable, "-m", "gatebook.cli", "run", "--listen", f"127.0.0.1:{orders}",
         "--md", "none", "--log", log_dir, "--seconds", "30",
         "--accounts", flow_accounts(log_dir, users=[1]),
         "--standby-listen", f"127.0.0.1:{replication}",
         "--replication-secret", secret_file(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        while not (line := child.stdout.readline()).startswith("run: gateway and replier"):
            assert line, child.stderr.read()
        with socket.create_connection(("127.0.0.1", replication)) as attacker:
            attacker.sendall(FRAMES.encode((HELLO.code, 1, 99, 0)))
            assert read_until_closed(attacker) == b""
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err                   # not fenced: it stopped when told
    assert "run: replication refused: unexpected_frame 1" in out, out
    refusals = [line for line in err.splitlines() if "refused 127.0.0.1:" in line]
    assert len(refusals) == 1 and "WARNING gatebook.replication" in refusals[0], err


def test_a_short_secret_is_refused_in_code_too(primary, tmp_path):
    exchange, server, _ = primary()
    with pytest.raises(ValueError, match="at least 32 bytes"):
        ReplicationServer(exchange, secret=b"hunter2")
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Follower(str(tmp_path / "standby"), server.address, secret="x" * 40)
    assert not os.path.exists(tmp_path / "standby")     # refused before recovering anything
