"""Benches of the Ethernet MAC (`gatebook.hdl.mac`) and the unit a board carries.

- `model`: Ethernet frames on the wire in plain Python (zlib's CRC-32), for the
  Amaranth tests (tests/test_hdl_mac.py);
- `cycles`: `python -m gatebook.sim.mac.cycles`, the clocks the MAC adds each way;
- `top`: `MacEndpoint` between simulated RGMII pins, as plain Verilog ports;
- `scapy_frames`: link frames built with scapy layers made from the wire tables;
- `rgmii_port`: a port of whole frames over cocotbext-eth's RGMII models, with broken copies;
- `test_mac_cocotb`: cocotbext-eth's RGMII source and sink against that Verilog under
  Icarus: the hybrid host through the MAC checked against the golden engine, and bad
  frames dropped and counted.
"""
