"""Gatebook: an FPGA-offloaded exchange matching engine with a software golden model."""

__version__ = "0.1.0"
