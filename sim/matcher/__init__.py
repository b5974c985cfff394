"""Bench of the matching core (hdl.matcher): scoreboard, cocotb tests, cycle report."""
