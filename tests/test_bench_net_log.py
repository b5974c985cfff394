"""`gatebook bench-net --log`: the DPDK end-to-end rows with the write-ahead log on are real.

The logged row runs what `gatebook run --log` runs (a JournaledExchange logging every
command with its OUCH origin, replies held until acknowledged), so the log it leaves
recovers, every OUTPUT record verified against the re-derived events.
"""

import os
import re

import pytest

from gatebook.cli import main
from gatebook.dpdk_bridge import dpdk_available
from gatebook.host.cli.bench_net import bench_engine_logged, bench_ingress_logged
from gatebook.host.ouch.bench import (bench_ingress, gateway_commands, order_datagrams,
                                      write_order_pcap)
from gatebook.host.wal.recovery import recover

_available, _why = dpdk_available()
_dpdk = pytest.mark.skipif(not _available, reason=f"DPDK unavailable: {_why}")


@_dpdk
def test_the_logged_dpdk_row_answers_every_order_and_leaves_a_log_that_recovers(tmp_path):
    datagrams = order_datagrams(1500, seed=4)
    pcap = write_order_pcap(str(tmp_path / "orders.pcap"), datagrams)
    plain = bench_ingress(pcap, 32, len(datagrams))
    logged = bench_ingress_logged(pcap, 32, len(datagrams), str(tmp_path / "log"))
    assert logged["orders"] == plain["orders"] == 1500 and logged["bad"] == 0
    # Held until acknowledged, then sent: the same replies as without the log.
    assert logged["replies"] == plain["replies"] > 0
    assert logged["cpu_seconds"] > 0 and logged["seconds"] > 0
    engine, report = recover(str(tmp_path / "log"), verify_outputs=True)
    assert report.last_seq == 1500 and report.verified == 1500
    assert report.origins == 1500           # every command logged with its OUCH origin


def test_the_logged_engine_row_logs_every_command(tmp_path):
    commands = gateway_commands(order_datagrams(800, seed=2))
    result = bench_engine_logged(commands, str(tmp_path), "batched")
    assert result["commands"] == 800 and result["commands_per_cpu_s"] > 0
    _, report = recover(str(tmp_path), verify_outputs=True)
    assert report.last_seq == report.verified == 800


def test_bench_net_prints_rows_with_the_log_off_and_on(capsys, tmp_path):
    assert main(["bench-net", "--orders", "2000", "--copy-packets", "100000",
                 "--socket-orders", "300", "--repeat", "1", "--log", "off,batched",
                 "--log-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    figures = {}
    for line in out.splitlines():
        found = re.fullmatch(r"(.+?)\s+(\d+|-)\s+([\d,]+|-)\s+([\d,]+|-)\s+([\d,]+|-)", line)
        if found:
            figures[found[1], found[2]] = found.groups()[2:]
    engine_logged = figures["golden-model engine alone, the same commands, log batched", "-"]
    assert int(engine_logged[2].replace(",", "")) > 0
    if _available:
        for burst in ("32", "256"):
            row = figures["dpdk net_pcap -> gateway -> journal (log batched) -> replies", burst]
            assert all(int(cell.replace(",", "")) > 0 for cell in row)
            assert ("dpdk net_pcap -> gateway -> engine -> replies", burst) in figures
    assert os.listdir(tmp_path) == []       # the logs went with the run


def test_bench_net_refuses_an_unknown_log_mode(capsys):
    with pytest.raises(SystemExit):
        main(["bench-net", "--log", "off,sometimes"])
    assert "--log takes off, strict, batched, none" in capsys.readouterr().err
