"""A 1G Ethernet MAC (RGMII) in front of the link endpoint: the unit a board carries.

# Ref: docs/hardware.md ("The Ethernet MAC").

- `gmii`: the GMII byte, frame constants, `MacDrop` (why a frame is dropped);
- `crc`: the FCS's CRC-32, a byte a clock;
- `rx`, `tx`: the receiver (PHY clock) and the transmitter (core clock);
- `cdc`: drop counters from the PHY's clock to the core's;
- `mac`: `EthernetMac`, the two with the clock-domain crossing, on RGMII pin pairs;
- `pads`: the RGMII pins' double data rate flip-flops for simulation;
- `endpoint`: `MacEndpoint`, the MAC in front of `gatebook.hdl.link_endpoint.LaneEndpoint`.
"""
