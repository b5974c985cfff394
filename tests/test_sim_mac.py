"""The unit a board carries (Ethernet MAC, link endpoint, lane) on RGMII pins under cocotb
and Icarus, driven by cocotbext-eth's RGMII models, the hybrid host through it checked
against the golden engine, broken frames dropped and counted (sim/mac/test_mac_cocotb.py).

By default the smallest lane (depth 2), one short seeded flow, the PHY's clock 0.1 % slower
than the core's; behind the long marker depth 4, every flow, a longer adversarial one, and
the PHY's clock 0.1 % faster (the receive buffer fills a little during each frame).
"""

import pytest

from gatebook.sim.mac import test_mac_cocotb as bench


def test_mac_endpoint_on_rgmii_is_the_golden_engine():
    # 60 commands make 15 frames: every third broken, so each kind of broken frame once
    # (the bench asserts every kind was sent). Icarus's start costs most of the rest.
    bench.test_mac(depth=2, commands=60)


@pytest.mark.long
def test_mac_endpoint_on_rgmii_long():
    bench.test_mac(depth=4, commands=1500, all_flows=True, phy_ps=7992)
