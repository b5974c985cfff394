"""`gatebook bench-net` on a small flow: every row measured, every order answered."""

import re

from gatebook.cli import main


def test_bench_net_prints_every_path(capsys):
    assert main(["bench-net", "--orders", "3000", "--copy-packets", "200000",
                 "--socket-orders", "600"]) == 0
    out = capsys.readouterr().out
    rows = {line[:52].strip(): line[52:].split() for line in out.splitlines()[1:-1]}
    from dpdk_bridge import dpdk_available
    if dpdk_available()[0]:
        copy = [line for line in out.splitlines() if "burst copy only" in line]
        ingress = [line for line in out.splitlines() if "-> engine" in line]
        assert [line.split()[-4] for line in copy + ingress] == ["32", "256", "32", "256"]
        for line in copy + ingress:
            assert int(line.split()[-3].replace(",", "")) > 0
        for line in ingress:                              # orders/s, by wall clock and CPU
            assert all(int(cell.replace(",", "")) > 0 for cell in line.split()[-2:])
        assert re.search(r"engine alone / best DPDK end to end: [0-9.]+x by the wall clock, "
                         r"[0-9.]+x by CPU time", out)
    assert int(rows["kernel UDP socket, loopback round trip (window 64)"][-2].replace(",", "")) > 0
    assert int(rows["golden-model engine alone, the same commands"][-1].replace(",", "")) > 0
    assert re.search(r"answered 600 of 600", out)
