"""Bench of the matching core (gatebook.hdl.matcher): scoreboard, cocotb tests, cycle report."""
