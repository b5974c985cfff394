"""Simulation benches for the gateware (cocotb and Amaranth's simulator)."""
