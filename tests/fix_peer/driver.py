"""Driving the QuickFIX initiator (initiator.cpp) from a test, and an exchange beside it.

`peer_binary()` compiles initiator.cpp with g++ against Debian's libquickfix-dev once
into the cache (`$GATEBOOK_CACHE_DIR`, else `~/.cache/gatebook`), keyed by the hash of
the source and its config; `QuickFixPeer` runs it (commands in on stdin, what it
received out on stdout, read by a thread); `ExchangeThread` polls an exchange on its
own thread, as `gatebook run` does, while the test talks to the peer.
"""

import hashlib
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

__all__ = ["peer_binary", "QuickFixPeer", "ExchangeThread", "fields_of"]

HERE = Path(__file__).parent
SOURCE, CONFIG = HERE / "initiator.cpp", HERE / "initiator.cfg"


def _cache_root():
    return Path(os.environ.get("GATEBOOK_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "gatebook"))


def peer_binary():
    """The compiled initiator (built on first use); the test is skipped, saying why,
    when there is no g++ or no QuickFIX."""
    key = hashlib.sha256(SOURCE.read_bytes() + CONFIG.read_bytes()).hexdigest()[:16]
    binary = _cache_root() / f"fix_peer-{key}" / "initiator"
    if binary.exists():
        return binary
    if shutil.which("g++") is None or subprocess.run(
            ["pkg-config", "--exists", "quickfix"]).returncode:
        pytest.skip("the QuickFIX peer needs g++ and libquickfix-dev (scripts/bootstrap)")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "quickfix"],
                           capture_output=True, text=True, check=True).stdout.split()
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_suffix(f".{os.getpid()}")
    subprocess.run(["g++", "-std=c++11", "-O1", "-Wno-deprecated",
                    "-Wno-deprecated-declarations", "-o", str(partial), str(SOURCE), *flags,
                    "-lpthread"], check=True)
    os.replace(partial, binary)          # atomic: a concurrent build finds a whole binary
    return binary


def fields_of(line):
    """{tag: value} of a peer line "APP 8=FIX.4.4|...|" or "ADMIN ..."."""
    body = line.split(" ", 1)[1]
    return {int(tag): value for tag, _, value in
            (pair.partition("=") for pair in body.split("|") if pair)}


class QuickFixPeer:
    """One running QuickFIX initiator; `lines` holds everything it printed."""

    def __init__(self, address, sender, username, password, log_dir):
        self.process = subprocess.Popen(
            [str(peer_binary()), str(CONFIG), address[0], str(address[1]), sender, username,
             password, str(log_dir)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.lines, self._new = [], queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.wait_line(lambda line: line == "STARTED", "the initiator to start")

    def _read(self):
        for line in self.process.stdout:
            self._new.put(line.rstrip("\n"))

    def _drain(self):
        while True:
            try:
                self.lines.append(self._new.get_nowait())
            except queue.Empty:
                return

    def wait_line(self, test, what, seconds=20.0, start=0):
        """The first printed line from index `start` on that `test` accepts."""
        deadline = time.monotonic() + seconds
        while True:
            self._drain()
            for line in self.lines[start:]:
                if test(line):
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} from the QuickFIX peer; it printed:\n"
                                     + "\n".join(self.lines[-30:]))
            time.sleep(0.005)

    def command(self, text):
        """Send one command and wait for its OK (or fail with its ERR)."""
        start = len(self.lines)
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()
        answer = self.wait_line(lambda line: line == "OK" or line.startswith("ERR"),
                                f"answer to {text!r}", start=start)
        assert answer == "OK", answer

    def app(self, msg_type=None):
        """{tag: value} of each application message received (of `msg_type`)."""
        self._drain()
        found = [fields_of(line) for line in self.lines if line.startswith("APP ")]
        return [fields for fields in found if msg_type is None or fields[35] == msg_type]

    def reports(self, clordid=None):
        return [fields for fields in self.app("8") if clordid is None or fields[11] == clordid]

    def wait_report(self, test, what, seconds=20.0):
        deadline = time.monotonic() + seconds
        while True:
            found = [fields for fields in self.app() if test(fields)]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what}; the peer printed:\n"
                                     + "\n".join(self.lines[-30:]))
            time.sleep(0.005)

    def close(self):
        if self.process.poll() is None:
            try:
                self.process.stdin.write("quit\n")
                self.process.stdin.flush()
                self.process.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self._reader.join(5)
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                pipe.close()
            except OSError:
                pass


class ExchangeThread:
    """Polls `exchange` on a thread until `stop`; re-raises what stopped it."""

    def __init__(self, exchange):
        self.exchange, self._stop, self.error = exchange, threading.Event(), None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            while not self._stop.is_set():
                self.exchange.run(seconds=0.02, idle_sleep=0.0005)
        except BaseException as error:      # handed to the test by stop()
            self.error = error

    def stop(self):
        self._stop.set()
        self._thread.join(10)
        if self.error is not None:
            raise self.error
