"""Benches of the Ethernet MAC (`gatebook.hdl.mac`) and the unit a board carries.

- `model`: Ethernet frames on the wire in plain Python (zlib's CRC-32), for the
  Amaranth tests (tests/test_hdl_mac.py);
- `top`: `MacEndpoint` between simulated RGMII pins, as plain Verilog ports;
- `scapy_frames`: link frames built with scapy layers made from the wire tables;
- `test_mac_cocotb`: cocotbext-eth's RGMII source and sink against that Verilog under
  Icarus: the hybrid host through the MAC checked against the golden engine, and bad
  frames dropped and counted.
"""
