"""Host side of the matching core: records <-> stream payload integers.

STYLE principle 4: the layouts come from the component's own signature, so a
change to a wire table reaches the gateware and this driver together. A record
is the tuple the golden model uses (type code first, then the table's fields
in order); a payload is the integer a simulator puts on, or reads from, the
component's `i.payload` / `o.payload` port.
"""

from gatebook.wire import internal, link
from gatebook.wire.positions import CODE

__all__ = ["StreamCodec", "MatcherCodec"]

_MESSAGES = {message.code: message
             for protocol in (internal.COMMANDS, internal.EVENTS,
                              link.LINK_COMMANDS, link.LINK_EVENTS)
             for message in protocol.messages}


class StreamCodec:
    """Packs records into, and unpacks them from, one union-layout stream payload.

    Parameters
    ----------
    layout : amaranth.lib.data.UnionLayout
        The payload shape of the stream (`gatebook.hdl.layouts.COMMAND` or `EVENT`).
    """

    def __init__(self, layout):
        self.layout = layout
        self.width = layout.size
        self._fields = {}       # code -> (message, [(name, offset, width), ...])
        for message in _MESSAGES.values():
            if message.name not in layout.members:
                continue
            struct = layout.members[message.name]
            fields = [(name, struct[name].offset, struct[name].shape.width)
                      for name in message.field_names]
            self._fields[message.code] = (message, fields)

    def message(self, code):
        return self._fields[code][0]

    def encode(self, record):
        """The payload integer of `record`."""
        message, fields = self._fields[record[CODE]]
        if len(record) != len(fields) + 1:
            raise ValueError(f"{message.name}: {len(record) - 1} fields, table has {len(fields)}")
        value = record[CODE]
        for (name, offset, width), field in zip(fields, record[CODE + 1:]):
            if not 0 <= field < 1 << width:
                raise ValueError(f"{message.name}.{name}={field} does not fit {width} bits")
            value |= field << offset
        return value

    def decode(self, value):
        """The record tuple of a payload integer."""
        value = int(value)
        message, fields = self._fields[value & 0xFF]
        return (message.code,) + tuple((value >> offset) & ((1 << width) - 1)
                                       for _, offset, width in fields)


class MatcherCodec:
    """Both directions of a `gatebook.hdl.matcher.Matcher` (or anything with its `i`/`o` streams).

    `commands` packs the input records; an output beat carries one or two event
    records (`decode_beat`), each decoded by `events`.
    """

    def __init__(self, component):
        members = component.signature.members
        self.commands = StreamCodec(members["i"].signature.members["payload"].shape)
        beat = members["o"].signature.members["payload"].shape
        self.events = StreamCodec(beat["first"].shape)
        self.second = StreamCodec(beat["second"].shape)
        self.beat_width = beat.size
        self._second = beat["second"].offset
        self._pair = beat["pair"].offset
        self._mask = (1 << self.events.width) - 1
        self._second_mask = (1 << self.second.width) - 1
        self.depth = getattr(component, "depth", None)

    def decode_beat(self, value):
        """The records of one event-port beat (`gatebook.hdl.layouts.EVENT_PAIR`): one or two."""
        value = int(value)
        first = self.events.decode(value & self._mask)
        if not (value >> self._pair) & 1:
            return [first]
        return [first, self.second.decode((value >> self._second) & self._second_mask)]
