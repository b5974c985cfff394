"""Subcommands of the `gatebook` command that drive the host."""
