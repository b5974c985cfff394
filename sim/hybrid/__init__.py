"""Links from the hybrid host (host/hybrid) to simulated lanes."""
