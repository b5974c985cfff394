"""The replication port under attack, and a dropped link that must not cause a failover.

Real TCP on loopback throughout: a JournaledExchange with its
ReplicationServer, Followers in threads, raw sockets for the attacker, and
`Relay`, a TCP relay between follower and primary that can record, cut the
connection (a 0-second blip) or alter bytes in transit. Real processes where
the other replication tests use them: a SIGKILLed primary (tests/wal_driver.py)
and `gatebook run` / `gatebook standby`.

Each attack of the issue has its test: a 17-byte HELLO that fenced the
primary, an idle connection that made the standby promote, a forged APPLIED
that released acknowledgements with no standby behind them, and a HELLO that
read the whole log. Then: a wrong secret, an impostor primary (answering, or
silent), a replayed handshake, a flipped bit each way, a frame dropped or
played twice, a blip, a standby away (held acknowledgements and their
bound), the secret file's checks, and a real death that still promotes.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from gatebook.wire.codec import ProtocolCodec
from gatebook.wire.wal import (APPLIED, AUTH_CHALLENGE, AUTH_HELLO, AUTH_PROOF, HEARTBEAT, HELLO,
                               MAC_SIZE, NONCE_SIZE, RECORDS, REPLICATION, REPLICATION_VERSION)
from host.clock import ManualClock
from host.wal.channel import AuthError, Channel, SecretError, accept_follower, load_secret
from host.wal.epoch import check_peer
from host.wal.journal import JournaledExchange
from host.wal.loadgen import START_NS, STEP_NS, seeded_commands
from host.wal.format import OUTPUT, SegmentScan, encode_record
from host.wal.replication import LogTail, ReplicationServer, StandbyLost
from host.wal.standby import Follower

from ouch_login import flow_accounts
from wal_helpers import reference_hash, write_log

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SECRET = os.urandom(32)
SEED = 23
TIMEOUT = 0.5                   # the followers' heartbeat timeout
FRAMES = ProtocolCodec(REPLICATION)
CHALLENGE_BYTES = AUTH_CHALLENGE.size + NONCE_SIZE      # all an unauthenticated peer ever gets
HANDSHAKE_TO_FOLLOWER = CHALLENGE_BYTES + AUTH_PROOF.size + MAC_SIZE
HANDSHAKE_TO_PRIMARY = AUTH_HELLO.size + NONCE_SIZE + AUTH_PROOF.size + MAC_SIZE


def wait_for(condition, what, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


class Relay:
    """A TCP relay in front of the primary: records what the first follower connection
    sends, alters bytes of the first connection in one direction, cuts on demand.

    `tamper` is (direction, start, end, change): bytes start..end of that
    direction's stream go on as change(those bytes); the rest is untouched.
    """

    def __init__(self, target, tamper=None):
        self.target = target
        self.tamper = tamper
        self.recorded = bytearray()
        self.connections = 0
        self._closed = False
        self._sockets = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = self._listener.getsockname()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._closed:
                    client.close()
                    upstream.close()
                    return
                index = self.connections
                self.connections += 1
                self._sockets += [client, upstream]
            for source, sink, direction in ((client, upstream, "to_primary"),
                                            (upstream, client, "to_follower")):
                threading.Thread(target=self._pump, args=(source, sink, direction, index),
                                 daemon=True).start()

    def _pump(self, source, sink, direction, index):
        tamper = self.tamper if index == 0 and self.tamper and self.tamper[0] == direction \
            else None
        passed, held = 0, bytearray()   # bytes sent on before `start`; bytes held from it
        try:
            while data := source.recv(65536):
                if index == 0 and direction == "to_primary":
                    self.recorded += data
                if tamper is None:
                    sink.sendall(data)
                    continue
                _, start, end, change = tamper
                held += data
                if passed < start:
                    ahead = held[:start - passed]
                    sink.sendall(ahead)
                    del held[:len(ahead)]
                    passed += len(ahead)
                if passed == start and len(held) >= end - start:
                    sink.sendall(change(bytes(held[:end - start])) + held[end - start:])
                    tamper = None
        except OSError:
            pass
        for end in (source, sink):
            _shutdown(end)

    def cut(self):
        """Close every connection through the relay at once; new ones are still relayed."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shutdown(sock)
            sock.close()

    def close(self):
        with self._lock:
            self._closed = True
        _shutdown(self._listener)
        self._listener.close()
        self.cut()


def _shutdown(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _follow_in_thread(follower):
    result = {}

    def run():
        try:
            result["silence"] = follower.follow()
        except Exception as error:          # handed to the test thread
            result["error"] = error
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def _read_until_closed(sock, seconds=5.0):
    sock.settimeout(seconds)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.fixture
def primary(tmp_path):
    """make(**server options) -> (exchange, server, submit(count) -> last seq)."""
    made = []

    def make(**options):
        exchange = JournaledExchange(str(tmp_path / "primary"),
                                     clock=ManualClock(START_NS, STEP_NS))
        options.setdefault("heartbeat_interval", 0.05)
        server = ReplicationServer(exchange, secret=SECRET, **options)
        stream = seeded_commands(SEED)

        def submit(count):
            for _ in range(count):
                seq, _ = exchange.submit(*next(stream))
            wait_for(lambda: server.local_seq >= seq, f"seq {seq} durable on the primary")
            return seq
        made.append((exchange, server))
        return exchange, server, submit
    yield make
    for exchange, server in made:
        server.close()
        exchange.close()


@pytest.fixture
def followers(tmp_path):
    """make(address, name="follower", **options) -> (follower, thread, result); stopped after."""
    made = []

    def make(address, name="follower", **options):
        options.setdefault("secret", SECRET)
        follower = Follower(str(tmp_path / name), address, heartbeat_timeout=TIMEOUT, **options)
        thread, result = _follow_in_thread(follower)
        made.append((follower, thread))
        return follower, thread, result
    yield make
    for follower, thread in made:
        follower.close()
        thread.join(5)


def _caught_up(follower, server, seq):
    wait_for(lambda: follower.next_seq > seq and server.acked >= seq,
             f"the follower to log seq {seq} and the primary to acknowledge it")


# -- the four attacks ---------------------------------------------------------------


def test_a_forged_hello_cannot_fence_the_primary(primary, followers, caplog):
    exchange, server, submit = primary()
    with socket.create_connection(server.address) as attacker:
        attacker.sendall(FRAMES.encode((HELLO.code, 1, 99, 0)))         # epoch 99: 17 bytes
        assert _read_until_closed(attacker) == b""
    wait_for(lambda: server.refused["unexpected_frame"] == 1, "the HELLO to be refused")
    assert exchange.fenced is None
    assert any("refused 127.0.0.1:" in line and "unexpected_frame" in line
               for line in caplog.messages), caplog.messages
    follower, _, _ = followers(server.address)
    _caught_up(follower, server, submit(50))        # still primary, still acknowledging


def test_an_idle_connection_is_not_contact_and_blocks_no_one(primary, followers):
    exchange, server, submit = primary(handshake_timeout=0.3, max_handshakes=4)
    # Before the standby connects: one idle connection and more than
    # max_handshakes others, none of which ever says a word.
    idle = [socket.create_connection(server.address) for _ in range(6)]
    try:
        follower, thread, result = followers(server.address)
        started = time.monotonic()
        while time.monotonic() - started < 4 * TIMEOUT:       # well past the timeout
            _caught_up(follower, server, submit(20))
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
        assert len(_read_until_closed_after(posing, CHALLENGE_BYTES)) == CHALLENGE_BYTES
        posing.sendall(FRAMES.encode((AUTH_PROOF.code,)) + os.urandom(MAC_SIZE) + forged)
        assert _read_until_closed(plain) == b"" and _read_until_closed(posing) == b""
    wait_for(lambda: server.refused["unexpected_frame"] == 1 and server.refused["bad_proof"] == 1,
             "both forgers to be refused")
    last = submit(40)                       # durable here, and no standby has them
    assert server.applied_seq == 0 and server.acked == 0
    follower, _, _ = followers(server.address)
    _caught_up(follower, server, last)      # a real standby releases them


def _read_until_closed_after(sock, size):
    sock.settimeout(5)
    data = b""
    while len(data) < size and (chunk := sock.recv(size - len(data))):
        data += chunk
    return data


def test_an_unauthenticated_peer_reads_nothing_of_the_log(primary):
    exchange, server, submit = primary()
    submit(100)
    with socket.create_connection(server.address) as reader:
        reader.sendall(FRAMES.encode((HELLO.code, 1, 1, 0)))
        assert _read_until_closed(reader) == b""
    with socket.create_connection(server.address) as reader:
        reader.sendall(FRAMES.encode((AUTH_HELLO.code, REPLICATION_VERSION)) + os.urandom(32))
        challenge = _read_until_closed_after(reader, CHALLENGE_BYTES)
        reader.sendall(FRAMES.encode((AUTH_PROOF.code,)) + bytes(MAC_SIZE))
        rest = _read_until_closed(reader)
    assert challenge[0] == AUTH_CHALLENGE.code and rest == b""     # a nonce, and nothing more
    wait_for(lambda: sum(server.refused.values()) == 2, "both readers to be refused")


# -- authentication -------------------------------------------------------------


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


def test_a_silent_impostor_is_no_contact_and_the_standby_still_promotes(primary, followers):
    exchange, server, submit = primary()
    follower, thread, result = followers(server.address)
    _caught_up(follower, server, submit(20))
    server.close()                          # the primary dies ...
    exchange.close()
    # ... and something else takes its port: it accepts connections, says nothing.
    with socket.create_server(server.address):
        thread.join(10)
    assert "silence" in result, result      # promoted despite the connections it accepted
    assert follower.refused["handshake_timeout"] >= 1 and follower.reconnects == 0


def test_a_replayed_handshake_is_refused(primary, followers):
    exchange, server, submit = primary()
    relay = Relay(server.address)
    try:
        follower, _, _ = followers(relay.address)
        _caught_up(follower, server, submit(30))
        recorded = bytes(relay.recorded)    # its AUTH_HELLO, AUTH_PROOF, HELLO, APPLIEDs
    finally:
        relay.close()
    assert len(recorded) > HANDSHAKE_TO_PRIMARY
    with socket.create_connection(server.address) as replay:
        replay.sendall(recorded)
        got = _read_until_closed(replay)
    assert len(got) == CHALLENGE_BYTES      # a new nonce, then the door closes
    wait_for(lambda: server.refused["bad_proof"] == 1, "the replayed proof to be refused")


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
        _caught_up(follower, server, last)
        assert follower.reconnects == 1 and thread.is_alive() and result == {}
        assert first < last and follower.engine.state_hash() == reference_hash(last, seed=SEED)
    finally:
        relay.close()


# -- failover rules ---------------------------------------------------------------


def test_a_blip_reconnects_and_does_not_promote(primary, followers, caplog):
    exchange, server, submit = primary(synchronous=True)
    relay = Relay(server.address)
    try:
        follower, thread, result = followers(relay.address)
        _caught_up(follower, server, submit(50))
        relay.cut()                         # a 0-second blip, with the primary alive
        cut_at = time.monotonic()
        while time.monotonic() - cut_at < 4 * TIMEOUT:
            _caught_up(follower, server, submit(20))
        assert thread.is_alive() and result == {}, result
        assert follower.reconnects == 1 and relay.connections == 2
        assert any("standby 127.0.0.1:" in line and "lost" in line and "holding" in line
                   for line in caplog.messages), caplog.messages
        assert any("reconnected to 127.0.0.1:" in line for line in caplog.messages)
    finally:
        relay.close()


def test_a_primary_holds_acknowledgements_while_its_standby_is_away_within_a_bound(
        primary, tmp_path):
    exchange, server, submit = primary(synchronous=True, hold_seconds=1.0)
    standby_dir = str(tmp_path / "standby")
    follower = Follower(standby_dir, server.address, secret=SECRET, heartbeat_timeout=TIMEOUT)
    thread, _ = _follow_in_thread(follower)
    acked = submit(30)
    _caught_up(follower, server, acked)
    follower.close()                        # the standby goes away (and stays away)
    thread.join(5)
    wait_for(lambda: server.standby is None, "the primary to notice")
    held = submit(20)
    assert server.acked == acked            # matched and durable here, not acknowledged
    # Back within the bound: what it logs is released.
    follower = Follower(standby_dir, server.address, secret=SECRET, heartbeat_timeout=TIMEOUT)
    thread, _ = _follow_in_thread(follower)
    _caught_up(follower, server, held)
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
    secret = _secret_file(tmp_path)
    driver = subprocess.Popen([sys.executable, os.path.join(HERE, "wal_driver.py"),
                               str(tmp_path / "primary"), "strict", str(SEED), "0",
                               str(1 << 20), "replicate", secret],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = driver.stdout.readline().split()
        assert ready[:2] == ["READY", "1"], driver.stderr.read()
        follower = Follower(str(tmp_path / "standby"), ("127.0.0.1", int(ready[2])),
                            secret=load_secret(secret), heartbeat_timeout=TIMEOUT)
        thread, result = _follow_in_thread(follower)
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


# -- the secret file ---------------------------------------------------------------


def _secret_file(tmp_path, data=None, mode=0o600):
    path = tmp_path / "secret"
    path.write_bytes(os.urandom(32) if data is None else data)
    path.chmod(mode)
    return str(path)


@pytest.mark.parametrize("data, mode, says", [
    (None, 0o644, "chmod 600"),                         # world-readable
    (b"hunter2\n", 0o600, "fewer than 32"),             # too short
])
def test_a_weak_secret_file_is_refused_saying_what_to_do(tmp_path, data, mode, says):
    path = _secret_file(tmp_path, data, mode)
    with pytest.raises(SecretError, match=says):
        load_secret(path)
    with pytest.raises(SecretError, match="head -c 32 /dev/urandom"):
        load_secret(str(tmp_path / "missing"))
    assert len(load_secret(_secret_file(tmp_path))) == 32


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
    weak = _secret_file(tmp_path, mode=0o644)
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
         "--replication-secret", _secret_file(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        while not (line := child.stdout.readline()).startswith("run: gateway and replier"):
            assert line, child.stderr.read()
        with socket.create_connection(("127.0.0.1", replication)) as attacker:
            attacker.sendall(FRAMES.encode((HELLO.code, 1, 99, 0)))
            assert _read_until_closed(attacker) == b""
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
        _caught_up(follower, server, server.local_seq)
        assert thread.is_alive() and result == {}, result
        last = follower.next_seq - 1
        assert follower.engine.state_hash() == reference_hash(last, seed=SEED)
    finally:
        stop.set()
        relay.close()
