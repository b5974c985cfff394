"""How a subscriber recovers market data: MoldUDP64 requests and the snapshot's last message.

# Ref: NASDAQ MoldUDP64 Protocol Specification 1.00, "Request Packets";
#      NASDAQ GLIMPSE 5.0 specification, "End of Snapshot Message".

A subscriber that misses packets sends a REQUEST (one UDP datagram, nothing
else in it) to the re-request server, which answers with ordinary downstream
packets unicast back to the request's source. A subscriber that joins late
reads the snapshot service (TCP): ITCH 5.0 messages (gatebook.wire.itch50)
in BinaryFILE framing, ending with END_OF_SNAPSHOT, which names the MoldUDP64
sequence number the live feed continues from.
"""

from .layout import ALPHA, Field, Message, Protocol

__all__ = ["REQUEST", "MOLDUDP64_REQUEST", "END_OF_SNAPSHOT", "GLIMPSE"]

REQUEST = Message("moldudp64_request", None, (
    Field("session",                 10, ALPHA, doc="the session whose messages are wanted"),
    Field("sequence_number",         8, doc="sequence number of the first message wanted"),
    Field("requested_message_count", 2, doc="how many messages from there"),
))

MOLDUDP64_REQUEST = Protocol("moldudp64-request", "big", (REQUEST,))

END_OF_SNAPSHOT = Message("end_of_snapshot", ord("G"), (
    Field("sequence_number", 20, ALPHA,
          doc="the MoldUDP64 sequence number to continue from, in ASCII digits"),
))

GLIMPSE = Protocol("glimpse-5.0", "big", (END_OF_SNAPSHOT,))
