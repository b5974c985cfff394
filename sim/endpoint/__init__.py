"""Benches of the link endpoint (`hdl.link_endpoint`): the gateware end of the packet link."""
