"""Ethernet framing of the host <-> matching-pipeline link (the packet link).

# Ref: docs/hardware.md (the record streams), gatebook/wire/link.py and
#      internal.py (the records); IEEE 802 "local experimental" EtherType
#      0x88B5 (IEEE Std 802-2014, clause 9.2.2), for a link that never leaves
#      its cable.

Records cross the link in Ethernet frames of this EtherType: one
FRAME_HEADER, then `count` records back to back, each the record's own
encoding (type byte first; its size follows from the type). Channel 0 carries
commands host -> pipeline (internal commands and LOAD/OWN/HOST), channel 1
events pipeline -> host (internal events and FLUSH/SPILL/PUNT). Each channel numbers
its frames from 0, so a receiver sees a lost or repeated frame at once. The
pipeline answers every command frame, in order, once the lane has taken all
of its records and written everything they cause: event frames carry how many
command frames have been answered so far (`answered`), so the host knows its
batch is complete without a per-command marker (a frame whose records cause
no output is answered by an event frame holding no records).

Little-endian, like the records themselves.
"""

from .layout import Field, Message, Protocol

__all__ = ["ETHERTYPE", "MAGIC", "VERSION", "COMMANDS", "EVENTS", "FRAME_HEADER", "LINK_FRAME"]

ETHERTYPE = 0x88B5
MAGIC     = 0x4247          # "GB" in little-endian byte order
VERSION   = 1
COMMANDS, EVENTS = 0, 1     # channel numbers

FRAME_HEADER = Message("link_frame_header", None, (
    Field("magic",     2, doc="MAGIC"),
    Field("version",   1, doc="VERSION"),
    Field("channel",   1, doc="0 commands (host to pipeline), 1 events (pipeline to host)"),
    Field("frame_seq", 4, doc="frames sent on this channel before this one"),
    Field("answered",  4, doc="events: command frames answered in full up to here; commands: 0"),
    Field("count",     2, doc="records in this frame"),
))

LINK_FRAME = Protocol("gatebook-link-frame", "little", (FRAME_HEADER,))
