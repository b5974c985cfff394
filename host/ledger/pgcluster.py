"""A throwaway PostgreSQL server in a directory of its own: for tests and the benchmark.

`TemporaryCluster(base).start()` runs Debian's `initdb` and `pg_ctl` (they live
in /usr/lib/postgresql/VERSION/bin, off PATH) on a free loopback port, with
trust authentication for its own user and its socket inside its directory; no
system service, no configuration outside that directory. `stop()` and
`start()` again keep the data, which is how the tests take the database away
from a running ledger writer. `find_binaries()` is None when PostgreSQL is not
installed (`scripts/bootstrap` installs it), so a test can skip saying why.

PostgreSQL refuses to run as root. Under root the server runs as the
`postgres` user the Debian package creates (through `runuser`), and its
directory is made in the system's temporary directory when `base` is under a
directory that user cannot enter (pytest's own, for one).
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile

__all__ = ["TemporaryCluster", "find_binaries", "ClusterError"]

# Set to a directory holding initdb and pg_ctl to use another PostgreSQL build.
BIN_ENV = "GATEBOOK_PG_BIN"


class ClusterError(RuntimeError):
    """initdb or pg_ctl failed; the message holds the server's log tail."""


def find_binaries():
    """The directory holding initdb and pg_ctl (the newest Debian version), or None."""
    candidates = [os.environ[BIN_ENV]] if os.environ.get(BIN_ENV) else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                         key=lambda path: int(path.split("/")[-2]) if path.split("/")[-2].isdigit()
                         else 0, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(os.path.dirname(on_path))
    for directory in candidates:
        if all(os.access(os.path.join(directory, tool), os.X_OK) for tool in ("initdb", "pg_ctl")):
            return directory
    return None


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class TemporaryCluster:
    """One PostgreSQL server with its data under `base`.

    Parameters
    ----------
    base : str
        A directory for the cluster (see the module's note about root).
    settings : dict
        Server settings passed as `-c name=value` (e.g. {"fsync": "off"} for tests).
    """

    def __init__(self, base, settings=None):
        self.bin = find_binaries()
        if self.bin is None:
            raise ClusterError("PostgreSQL's initdb and pg_ctl are not installed "
                               "(Debian: apt-get install postgresql, or run scripts/bootstrap)")
        self.settings = dict(settings or {})
        self.run_as = "postgres" if os.geteuid() == 0 else None
        self._own_directory = None
        if self.run_as and not _reachable_by(base, self.run_as):
            base = self._own_directory = tempfile.mkdtemp(prefix="gatebook-pg-")
            shutil.chown(base, self.run_as, self.run_as)
        self.directory = os.path.join(base, "pgcluster")
        self.data = os.path.join(self.directory, "data")
        self.log = os.path.join(self.directory, "server.log")
        self.port = _free_port()
        self.user = "gatebook"

    @property
    def url(self):
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def _command(self, tool, *args):
        command = [os.path.join(self.bin, tool), *args]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode:
            raise ClusterError(f"{tool} failed ({result.returncode}): "
                               f"{(result.stderr or result.stdout).strip()[-2000:]}\n"
                               f"{self.log_tail()}")
        return result

    def log_tail(self, lines=20):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as file:
                return "".join(file.readlines()[-lines:])
        except OSError:
            return ""

    def start(self):
        """initdb (the first time) and start the server; return self."""
        if not os.path.exists(self.data):
            os.makedirs(self.directory, exist_ok=True)
            if self.run_as:
                shutil.chown(self.directory, self.run_as, self.run_as)
            self._command("initdb", "-D", self.data, "-U", self.user, "--auth=trust",
                          "-E", "UTF8", "--no-instructions")
        options = [f"-p {self.port}", f"-k {self.directory}", "-c listen_addresses=127.0.0.1"]
        options += [f"-c {name}={value}" for name, value in self.settings.items()]
        self._command("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60",
                      "-o", " ".join(options), "start")
        return self

    def stop(self, mode="fast"):
        """Stop the server (mode fast, or immediate: as if it crashed); keeps the data."""
        self._command("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def running(self):
        command = [os.path.join(self.bin, "pg_ctl"), "-D", self.data, "status"]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        return subprocess.run(command, capture_output=True).returncode == 0

    def remove(self):
        """Stop the server if it runs and delete its directory."""
        if os.path.exists(self.data) and self.running():
            self.stop("immediate")
        shutil.rmtree(self._own_directory or self.directory, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.remove()               # no half-made cluster left behind
            raise

    def __exit__(self, *exc):
        self.remove()


def _reachable_by(path, user):
    """Whether `user` can enter every directory down to `path` (checked as that user)."""
    return subprocess.run(["runuser", "-u", user, "--", "test", "-x", path, "-a", "-w", path],
                          capture_output=True).returncode == 0
