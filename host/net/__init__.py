"""The fast lane's host side: order entry, replies, `gatebook run`, the packet link to a
pipeline, and the tools that make and read its traffic (scapy layers, Lua dissectors,
injection, the packet-path benchmark). See docs/network.md."""
