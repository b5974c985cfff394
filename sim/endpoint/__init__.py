"""Benches of the link endpoint (`gatebook.hdl.link_endpoint`), the gateware end of the packet link.

- `amaranth_port`: the endpoint on Amaranth's simulator as a port of whole frames
  (`PacketLaneLink` runs over it unchanged);
- `frames`: shared test data (a window to load, every kind of bad frame);
- `test_endpoint_cocotb`: the endpoint's Verilog under cocotb with those frames;
- `cycles`: `python -m gatebook.sim.endpoint.cycles`, the endpoint's clocks per frame;
- `board`: `python -m gatebook.sim.endpoint.board`, the endpoint on an FPGA board (size, Fmax).
"""
