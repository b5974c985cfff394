"""`gatebook bench-md` runs end to end on a small flow: every figure it prints is there."""

import re
import subprocess
import sys

import pytest


# Slow clients take ~35 s to drain what the kernel buffered for them after the server
# closes (0.2 s a message): the run with them is long, the default one has none.
@pytest.mark.parametrize("slow", [0, pytest.param(2, marks=pytest.mark.long)])
def test_bench_md_prints_rates_and_delays_with_every_client_served(slow):
    result = subprocess.run(
        [sys.executable, "-m", "gatebook.cli", "bench-md", "--orders", "1000", "--clients", "6",
         "--slow", str(slow), "--rate", "500", "--seconds", "1"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"no fanout: +[\d,]+ commands/s +[\d,]+ ITCH messages/s", out), out
    assert re.search(r"fanout on: +[\d,]+ commands/s .*\(\d+% of the rate without", out), out
    assert re.search(r"paced at 500 commands/s \([\d,]+ commands, 6 clients connected\)", out), out
    assert "clients: 6 connected, 0 failed or cut" in out, out
    assert "server cut: none; resyncs 0" in out, out
    assert re.search(r"p50 [\d,.]+ ms, p99 [\d,.]+ ms, p99.9 [\d,.]+ ms, max", out), out
