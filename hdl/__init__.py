"""Gateware of the FPGA matching pipeline (Amaranth); see docs/hardware.md."""
