"""`gatebook bench-md` runs end to end on a small flow: every figure it prints is there."""

import os
import re
import subprocess
import sys

import pytest

RATE = (r"[\d,]+ commands/s +[\d,]+ ITCH messages/s +[\d.]+ µs CPU/command, +[\d.]+ with "
        r"its process's other threads")


def _bench(*options):
    result = subprocess.run(
        [sys.executable, "-m", "gatebook.cli", "bench-md", "--orders", "1000", "--rate", "500",
         "--seconds", "1", *options], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _delays(out):
    return re.findall(r"p50 [\d,.]+ ms, p99 [\d,.]+ ms, p99.9 [\d,.]+ ms, max", out)


# Slow clients hold their connection to the end (raw ones read 256 bytes every 200 ms);
# the run with the library's slow clients, which drain what the kernel buffered for them
# after the server closes (0.2 s a message, ~35 s), is long.
@pytest.mark.parametrize("client, slow", [
    ("c", 1), pytest.param("raw", 1, marks=pytest.mark.long),
    pytest.param("websockets", 2, marks=pytest.mark.long)])
def test_bench_md_measures_the_engine_with_edge_processes_serving_the_clients(client, slow):
    out = _bench("--clients", "6", "--slow", str(slow), "--edges", "2", "--client", client)
    assert re.search(r"no fanout: +" + RATE, out), out
    assert re.search(r"no fanout, again: +" + RATE + r" +\(\d+% of the rate", out), out
    assert re.search(r"2 md-edge processes: +" + RATE + r" +\(\d+% of the rate, \d+% and \d+% "
                     r"of the CPU without\)", out), out
    assert re.search(r"paced at 500 commands/s \([\d,]+ commands, 6 clients connected to 2 "
                     r"md-edge processes\)", out), out
    # A slow client whose pongs wait behind what it has not read is cut by the ping
    # timeout once a loaded machine stretches the run past 10 s; nothing else is cut.
    assert re.search(rf"clients: 6 connected, [0-{slow}] failed or cut", out), out
    assert re.search(rf"edges sent [1-9][\d,]* messages, cut: (none|ping_timeout [1-{slow}]); "
                     r"snapshots taken", out), out
    assert len(_delays(out)) == 2, out               # the clients', and the feed's floor
    assert "a process reading the feed itself, no WebSocket" in out, out
    assert re.search(r"CPU per WebSocket message: edges [\d,.]+ µs sent \([\d,.]+ s, .*\); "
                     r"clients [\d,.]+ µs read \([\d,.]+ s, " + client + r"\)", out), out


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="--pin needs two CPUs")
def test_bench_md_in_process_server_is_measured_beside_the_edges():
    out = _bench("--clients", "4", "--slow", "0", "--edges", "1", "--in-process", "--pin")
    assert re.search(r"the exchange on CPU \d+, edges and clients on CPU \d", out), out
    assert re.search(r"1 md-edge processes: +" + RATE, out), out
    assert re.search(r"no fanout, other CPUs busy: +" + RATE, out), out
    assert re.search(r"WebSocket server in process: +" + RATE + r" +\(\d+% of the rate", out), out
    assert "server sent" in out and "resyncs 0" in out, out
    assert out.count("clients: 4 connected, 0 failed or cut") == 2, out
    assert len(_delays(out)) == 3, out
