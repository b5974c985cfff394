"""`gatebook bench-net` on a small flow: every row measured, every order answered."""

import re

from gatebook.cli import main


def test_bench_net_prints_every_path(capsys):
    assert main(["bench-net", "--orders", "3000", "--copy-packets", "200000",
                 "--socket-orders", "600"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert re.fullmatch(r"gateway and replier: (compiled|python) \(.+\)", lines[0])
    rows = {line[:52].strip(): line[52:].split() for line in lines[2:-1]}
    from gatebook.dpdk_bridge import dpdk_available
    if dpdk_available()[0]:
        copy = [line for line in lines if "burst copy only" in line]
        ingress = [line for line in lines if "-> gateway -> engine" in line]
        reference = [line for line in lines if "-> python gateway -> engine" in line]
        assert [line.split()[-4] for line in copy + ingress] == ["32", "256", "32", "256"]
        # beside a compiled gateway, the Python reference's rows
        assert len(reference) == (2 if lines[0].startswith("gateway and replier: compiled")
                                  else 0)
        for line in copy + ingress + reference:
            assert int(line.split()[-3].replace(",", "")) > 0
        for line in ingress + reference:                  # orders/s, by wall clock and CPU
            assert all(int(cell.replace(",", "")) > 0 for cell in line.split()[-2:])
        assert re.search(r"engine alone / best DPDK end to end: [0-9.]+x by the wall clock, "
                         r"[0-9.]+x by CPU time", out)
    assert int(rows["kernel UDP socket, loopback round trip (window 64)"][-2].replace(",", "")) > 0
    assert int(rows["golden-model engine alone, the same commands"][-1].replace(",", "")) > 0
    assert re.search(r"answered 600 of 600", out)
