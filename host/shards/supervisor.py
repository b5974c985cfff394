"""Every shard of a config as a child process on this machine, with their status.

`Supervisor` starts one process per shard (the command is the caller's: `gatebook
run --config FILE --shard NAME`), prefixes each line it prints with the shard's
name, says when each shard is up (it printed `up_marker`) and when one exits, and
restarts a shard that died (killed, or a nonzero exit) up to `restarts` times: it
recovers from its own log, while the others go on trading. `stop` sends SIGTERM
to each (a shard syncs its log and closes its feed) and SIGKILL to one that does
not exit within the grace period.
"""

import signal
import subprocess
import threading
import time

__all__ = ["Supervisor", "ShardProcess", "UP_MARKER"]

# What `gatebook run` prints once it takes orders (host/cli/run.py, _print_start).
UP_MARKER = "run: backend "


class ShardProcess:
    """One shard's child: its state ("starting", "up", "exited"), pid, exit status, restarts."""

    def __init__(self, name, argv):
        self.name, self.argv = name, argv
        self.process = None
        self.state = "new"
        self.restarts = 0
        self.returncode = None
        self.reader = None          # the thread printing its lines

    @property
    def pid(self):
        return self.process.pid if self.process is not None else None

    def describe(self):
        """The shard's status in words."""
        if self.state == "exited":
            code = self.returncode
            how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"status {code}"
            return f"{self.name} exited ({how})"
        restarted = f", restarted {self.restarts}x" if self.restarts else ""
        return f"{self.name} {self.state} (pid {self.pid}{restarted})"


class Supervisor:
    """Runs one child process per shard and reports on them.

    Parameters
    ----------
    commands : dict of str -> list of str
        Each shard's name and the argv that runs it.
    out : callable(str)
        Where lines go (the children's, prefixed "[NAME] ", and the status).
    restarts : int
        How many times a shard that died is started again (0: never).
    up_marker : str
        The start of the line a child prints once it takes orders.
    """

    def __init__(self, commands, out=print, restarts=0, up_marker=UP_MARKER):
        self.shards = {name: ShardProcess(name, argv) for name, argv in commands.items()}
        self.out, self.restarts, self.up_marker = out, restarts, up_marker
        self._lock = threading.Lock()
        self._changed = threading.Event()

    def start(self):
        """Start every shard's process."""
        for shard in self.shards.values():
            self._spawn(shard)
        self._status()

    def status(self):
        """One line: every shard's state."""
        return "shards: " + "; ".join(shard.describe() for shard in self.shards.values())

    def wait_up(self, seconds):
        """True once every shard is up; False after `seconds` or if one exited."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.poll()
            states = {shard.state for shard in self.shards.values()}
            if states == {"up"}:
                return True
            if "exited" in states:
                return False
            self._changed.wait(0.05)
            self._changed.clear()
        return False

    def poll(self):
        """Notice exits (restarting a dead shard if allowed); True while any shard runs."""
        running = False
        for shard in self.shards.values():
            if shard.state == "exited":
                continue
            code = shard.process.poll()
            if code is None:
                running = True
                continue
            shard.returncode, shard.state = code, "exited"
            self._status()
            if code != 0 and shard.restarts < self.restarts:
                shard.restarts += 1
                with self._lock:
                    self.out(f"shards: restarting {shard.name} ({shard.restarts} of "
                             f"{self.restarts}): it recovers from its own log")
                self._spawn(shard)
                running = True
        return running

    def run(self, seconds=None):
        """Poll until every shard has exited (or `seconds` pass); Ctrl-C stops them all."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while self.poll():
            if deadline is not None and time.monotonic() > deadline:
                break
            self._changed.wait(0.2)
            self._changed.clear()

    def stop(self, grace=20.0):
        """SIGTERM every running shard, SIGKILL those still running after `grace` seconds."""
        for shard in self.shards.values():
            if shard.process is not None and shard.process.poll() is None:
                shard.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for shard in self.shards.values():
            if shard.process is None:
                continue
            try:
                shard.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                shard.process.kill()
                shard.process.wait()
            shard.returncode, shard.state = shard.process.returncode, "exited"
            if shard.reader is not None:
                shard.reader.join(5)
        self._status()

    def exit_status(self):
        """0 when every shard exited with status 0; else 3."""
        return 0 if all(shard.returncode == 0 for shard in self.shards.values()) else 3

    def _spawn(self, shard):
        # Each shard in a session of its own, as a service of its own would be: Linux's
        # autogroup scheduler shares the CPUs between sessions, not processes.
        shard.process = subprocess.Popen(shard.argv, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True, bufsize=1,
                                         start_new_session=True)
        shard.state, shard.returncode = "starting", None
        shard.reader = threading.Thread(target=self._read, args=(shard, shard.process),
                                         name=f"shard-{shard.name}", daemon=True)
        shard.reader.start()

    def _read(self, shard, process):
        for line in process.stdout:
            line = line.rstrip("\n")
            with self._lock:            # one reader thread per shard: whole lines only
                self.out(f"[{shard.name}] {line}")
            if line.startswith(self.up_marker) and shard.process is process \
                    and shard.state == "starting":
                shard.state = "up"
                self._status()
        process.stdout.close()
        self._changed.set()

    def _status(self):
        with self._lock:
            self.out(self.status())
        self._changed.set()
