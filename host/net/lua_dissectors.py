"""Wireshark Lua dissectors generated from the wire tables.

# Ref: Wireshark 4.0 Lua API reference (Proto, ProtoField, TreeItem,
#      DissectorTable); gatebook/wire/itch50.py, moldudp64.py, ouch.py.

`generate()` returns one Lua script with these protocols:

- `gb_moldudp64`: MoldUDP64 on `MOLDUDP64_PORT` (and, by its shape, on any
  UDP port: re-request answers and heartbeats come from other ports, and the
  feed of `gatebook run` from `OUCH_PORT`), each message block handed to
- `gb_itch50`: ITCH 5.0 (Debian's tshark only knows the older ASCII ITCH),
  also offered to Wireshark's own MoldUDP64 through "Decode As":
  `tshark -d udp.port==26400,moldudp64 -d moldudp64.payload,gb_itch50`;
- `gb_ouch`: the order-entry protocol on `OUCH_PORT`; datagrams *to* the port
  are inbound messages, datagrams *from* it outbound;
- `gb_moldreq`: a MoldUDP64 request packet (gatebook.wire.mdrecovery), by its
  shape on any UDP port;
- `gb_link`: host <-> pipeline link frames on EtherType 0x88B5 (channel 0
  commands, channel 1 events), little-endian records.

Field filter names are `<proto>.<message>.<field>`, e.g.
`gb_itch50.add_order.price`, `gb_ouch.enter_order.shares`. Load with
`tshark -X lua_script:gatebook.lua`, or copy to Wireshark's plugin folder.
"""

from gatebook.wire import internal, itch50, link, mdrecovery, moldudp64, ouch
from gatebook.wire import link_frame as lf
from gatebook.wire.layout import ALPHA, PRICE4, Protocol

from .defaults import MOLDUDP64_PORT, OUCH_PORT

__all__ = ["generate", "write", "FILENAME"]

FILENAME = "gatebook.lua"

_UINT_TYPES = {1: "uint8", 2: "uint16", 4: "uint32", 6: "uint64", 8: "uint64"}


def _lua_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _title(name):
    return " ".join(part.capitalize() for part in name.split("_"))


def _valstring(enum):
    return "{" + ", ".join(f"[{int(member)}]={_lua_string(member.name)}" for member in enum) + "}"


class _Emitter:
    """Builds the Lua for one protocol's fields and per-message dissect functions."""

    def __init__(self, proto, byte_order):
        self.proto, self.byte_order = proto, byte_order
        self.fields, self.lines = [], []

    def field(self, key, field):
        """Declare `field` as `F_<proto>["<key>"]`; return the Lua expression for it."""
        abbrev = f"{self.proto}.{key}"
        desc = _lua_string(field.doc) if field.doc else "nil"
        label = _lua_string(_title(field.name))
        if field.kind == ALPHA:
            decl = f"ProtoField.string({_lua_string(abbrev)}, {label}, base.ASCII, {desc})"
        else:
            kind = _UINT_TYPES[field.width]
            values = _valstring(field.enum) if field.enum is not None else "nil"
            decl = f"ProtoField.{kind}({_lua_string(abbrev)}, {label}, base.DEC, {values}, nil, {desc})"
        self.fields.append(f'F_{self.proto}[{_lua_string(key)}] = {decl}')
        return f'F_{self.proto}[{_lua_string(key)}]'

    def add_field(self, out, key, field, offset):
        """Lua lines adding `field` at `offset` (relative to `off`) to `tree`."""
        ref = self.field(key, field)
        rng = f"tvb(off + {offset}, {field.width})"
        add = "add_le" if self.byte_order == "little" else "add"
        if field.kind == ALPHA:
            out.append(f"    tree:add({ref}, {rng}, ({rng}:string():gsub(' +$', '')))")
        elif field.width in (6, 8):
            getter = "le_uint64" if self.byte_order == "little" else "uint64"
            out.append(f"    tree:{add}({ref}, {rng}, {rng}:{getter}())")
        elif field.kind == PRICE4:
            getter = "le_uint" if self.byte_order == "little" else "uint"
            out.append(f"    tree:{add}({ref}, {rng}):append_text("
                       f"string.format(' (%.4f)', {rng}:{getter}() / 10000))")
        else:
            out.append(f"    tree:{add}({ref}, {rng})")

    def message_functions(self, protocol, table):
        """`<table>[code] = {name=..., size=..., dissect=function(tvb, off, tree)}`."""
        for message in protocol.messages:
            out = [f"{table}[{message.code}] = {{name = {_lua_string(message.name)}, "
                   f"size = {message.size}, dissect = function(tvb, off, tree)"]
            offset = 1
            for field in message.fields:
                self.add_field(out, f"{message.name}.{field.name}", field, offset)
                offset += field.width
            out.append("end}")
            self.lines += out


def _type_field(emitter, protocols):
    names = {}
    for protocol in protocols:
        for message in protocol.messages:
            names.setdefault(message.code, []).append(message.name)
    values = "{" + ", ".join(f"[{code}]={_lua_string(chr(code) + ' ' + '/'.join(n))}"
                             for code, n in sorted(names.items())) + "}"
    emitter.fields.append(f'F_{emitter.proto}["type"] = ProtoField.uint8('
                          f'"{emitter.proto}.type", "Message Type", base.HEX, {values})')


_MESSAGES_LOOP = """
local function gb_messages(tvb, pinfo, tree, off, stop, msgs, proto, type_field, names, limit)
    local n = 0
    while off < stop and (limit == nil or n < limit) do
        n = n + 1
        local code = tvb(off, 1):uint()
        local m = msgs[code]
        local problem = nil
        if m == nil then
            problem = string.format("unknown message type 0x%02x", code)
        elseif off + m.size > stop then
            problem = string.format("%s truncated: %d of %d bytes", m.name, stop - off, m.size)
        end
        if problem ~= nil then
            local bad = tree:add(proto, tvb(off, stop - off))
            bad:append_text(", " .. problem)
            bad:add_proto_expert_info(gb_bad, problem)
            names[#names + 1] = "MALFORMED"
            return off
        end
        local sub = tree:add(proto, tvb(off, m.size))
        sub:append_text(", " .. m.name)
        sub:add(type_field, tvb(off, 1))
        m.dissect(tvb, off, sub)
        names[#names + 1] = m.name
        off = off + m.size
    end
    return off
end
"""


def _header(emitter, message):
    """Lua lines adding a fixed header's fields, and each field's `tvb(offset, width)`."""
    lines, at, offset = [], {}, 0
    for field in message.fields:
        emitter.add_field(lines, field.name, field, offset)
        at[field.name] = f"tvb({offset}, {field.width})"
        offset += field.width
    return lines, at


def _looks_like_mold(header, at, request_at):
    """Lua `looks_like_mold(tvb)`: a printable session, then blocks that fill the
    datagram exactly (or nothing, for a heartbeat or an end of session); and
    `looks_like_request(tvb)`: a printable session and a count, nothing more.

    An order-entry reply cannot pass: its header's sequence number puts zero
    bytes where a MoldUDP64 session has text."""
    names = [field.name for field in header.fields]
    start = sum(field.width for field in header.fields[:names.index("session")])
    width = header.fields[names.index("session")].width
    size, eos = header.size, moldudp64.END_OF_SESSION_COUNT
    return "\n".join([
        "local function printable_session(tvb)",
        f"    if tvb:len() < {size} then return false end",
        f"    for i = {start}, {start + width - 1} do",
        "        local c = tvb(i, 1):uint()",
        "        if c < 0x20 or c > 0x7e then return false end",
        "    end",
        "    return true",
        "end",
        "local function looks_like_request(tvb)",
        f"    if tvb:len() ~= {mdrecovery.REQUEST.size} then return false end",
        "    if not printable_session(tvb) then return false end",
        f"    local count = {request_at['requested_message_count']}:uint()",
        f"    return count ~= 0 and count ~= {eos}",
        "end",
        "local function looks_like_mold(tvb)",
        "    local len = tvb:len()",
        "    if not printable_session(tvb) then return false end",
        f"    local count = {at['message_count']}:uint()",
        f"    if count == 0 or count == {eos} then return len == {size} end",
        f"    local off = {size}",
        "    for _ = 1, count do",
        "        if off + 2 > len then return false end",
        "        off = off + 2 + tvb(off, 2):uint()",
        "    end",
        "    return off == len",
        "end",
    ])


def generate():
    """The Lua source of Gatebook's dissectors."""
    itch = _Emitter("gb_itch50", itch50.ITCH50.byte_order)
    itch.message_functions(itch50.ITCH50, "ITCH")
    _type_field(itch, [itch50.ITCH50])
    mold = _Emitter("gb_moldudp64", moldudp64.MOLDUDP64.byte_order)
    header, mold_at = _header(mold, moldudp64.HEADER)
    block_field = moldudp64.BLOCK_LENGTH.fields[0]
    block_ref = mold.field(block_field.name, block_field)
    request = _Emitter("gb_moldreq", mdrecovery.MOLDUDP64_REQUEST.byte_order)
    request_fields, request_at = _header(request, mdrecovery.REQUEST)
    entry = _Emitter("gb_ouch", ouch.INBOUND.byte_order)
    entry.message_functions(ouch.INBOUND, "OUCH_IN")
    entry.message_functions(ouch.OUTBOUND, "OUCH_OUT")
    _type_field(entry, [ouch.INBOUND, ouch.OUTBOUND])
    session, session_at = _header(entry, ouch.SESSION_HEADER)
    hdr_size, mold_size = ouch.SESSION_HEADER.size, moldudp64.HEADER.size
    commands = Protocol("link-commands", "little",
                        internal.COMMANDS.messages + link.LINK_COMMANDS.messages)
    events = Protocol("link-events", "little", internal.EVENTS.messages + link.LINK_EVENTS.messages)
    linkp = _Emitter("gb_link", "little")
    linkp.message_functions(commands, "LINK_CMD")
    linkp.message_functions(events, "LINK_EVT")
    _type_field(linkp, [commands, events])
    frame_header, at = _header(linkp, lf.FRAME_HEADER)
    link_size = lf.FRAME_HEADER.size
    return "\n".join([
        "-- Gatebook Wireshark dissectors: ITCH 5.0 in MoldUDP64, and the order-entry protocol.",
        "-- GENERATED from gatebook/wire/*.py by `gatebook dissectors`; do not edit.",
        'local p_itch = Proto("gb_itch50", "Gatebook ITCH 5.0")',
        'local p_mold = Proto("gb_moldudp64", "Gatebook MoldUDP64")',
        'local p_ouch = Proto("gb_ouch", "Gatebook order entry (OUCH-like)")',
        'local p_link = Proto("gb_link", "Gatebook host-pipeline link")',
        'local p_req = Proto("gb_moldreq", "Gatebook MoldUDP64 request")',
        'local gb_bad = ProtoExpert.new("gb.malformed", "Malformed Gatebook message", '
        "expert.group.MALFORMED, expert.severity.ERROR)",
        "p_itch.experts = {gb_bad}",
        "F_gb_itch50, F_gb_moldudp64, F_gb_ouch, F_gb_link = {}, {}, {}, {}",
        "F_gb_moldreq = {}",
        "ITCH, OUCH_IN, OUCH_OUT, LINK_CMD, LINK_EVT = {}, {}, {}, {}, {}",
        *itch.fields, *mold.fields, *entry.fields, *linkp.fields, *request.fields,
        "local function values(t) local out = {} for _, v in pairs(t) do out[#out + 1] = v end return out end",
        "p_itch.fields = values(F_gb_itch50)",
        "p_mold.fields = values(F_gb_moldudp64)",
        "p_ouch.fields = values(F_gb_ouch)",
        "p_link.fields = values(F_gb_link)",
        "p_req.fields = values(F_gb_moldreq)",
        *itch.lines, *entry.lines, *linkp.lines,
        _MESSAGES_LOOP,
        "function p_itch.dissector(tvb, pinfo, tree)",
        "    local names = {}",
        '    gb_messages(tvb, pinfo, tree, 0, tvb:len(), ITCH, p_itch, F_gb_itch50["type"], names)',
        '    pinfo.cols.protocol = "ITCH50"',
        "    return tvb:len()",
        "end",
        _looks_like_mold(moldudp64.HEADER, mold_at, request_at),
        "local function mold_dissector(tvb, pinfo, root)",
        f"    if tvb:len() < {mold_size} then return 0 end",
        '    pinfo.cols.protocol = "MoldUDP64/ITCH50"',
        f"    local tree = root:add(p_mold, tvb(0, {mold_size}))",
        "    local off = 0",
        *header,
        f"    local count = {mold_at['message_count']}:uint()",
        "    local names = {}",
        f"    off = {mold_size}",
        "    local n = 0",
        f"    while n < count and count ~= {moldudp64.END_OF_SESSION_COUNT} and off + 2 <= tvb:len() do",
        "        local len = tvb(off, 2):uint()",
        f"        tree:add({block_ref}, tvb(off, 2))",
        "        gb_messages(tvb, pinfo, root, off + 2, math.min(off + 2 + len, tvb:len()), ITCH, p_itch,",
        '                    F_gb_itch50["type"], names)',
        "        off = off + 2 + len",
        "        n = n + 1",
        "    end",
        '    pinfo.cols.info = string.format("MoldUDP64 seq=%s n=%d %s", '
        f"{mold_at['sequence_number']}:uint64(), count, table.concat(names, \",\"))",
        "    return tvb:len()",
        "end",
        "p_mold.dissector = mold_dissector",
        "local function request_dissector(tvb, pinfo, root)",
        '    pinfo.cols.protocol = "MoldUDP64 request"',
        f"    local tree = root:add(p_req, tvb(0, {mdrecovery.REQUEST.size}))",
        "    local off = 0",
        *request_fields,
        '    pinfo.cols.info = string.format("MoldUDP64 request seq=%s n=%d", '
        f"{request_at['sequence_number']}:uint64(), "
        f"{request_at['requested_message_count']}:uint())",
        "    return tvb:len()",
        "end",
        "-- Re-requests, their answers and heartbeats use ports no table names.",
        "local function mold_heuristic(tvb, pinfo, root)",
        "    if looks_like_mold(tvb) then mold_dissector(tvb, pinfo, root) return true end",
        "    if looks_like_request(tvb) then request_dissector(tvb, pinfo, root) return true end",
        "    return false",
        "end",
        'p_mold:register_heuristic("udp", mold_heuristic)',
        "function p_ouch.dissector(tvb, pinfo, root)",
        f"    if tvb:len() < {hdr_size} then return 0 end",
        f"    local inbound = pinfo.dst_port == {OUCH_PORT}",
        "    -- `gatebook run` sends market data from the order-entry port: what leaves",
        "    -- that port shaped as a MoldUDP64 packet is the feed, not order entry.",
        "    if not inbound and looks_like_mold(tvb) then return mold_dissector(tvb, pinfo, root) end",
        '    pinfo.cols.protocol = "GB-OUCH"',
        f"    local tree = root:add(p_ouch, tvb(0, {hdr_size}), inbound and "
        '"session header (inbound)" or "session header (outbound)")',
        "    local off = 0",
        *session,
        "    local names = {}",
        f"    gb_messages(tvb, pinfo, root, {hdr_size}, tvb:len(), inbound and OUCH_IN or OUCH_OUT, p_ouch,",
        '                F_gb_ouch["type"], names)',
        '    pinfo.cols.info = string.format("%s session=%d seq=%s %s", inbound and "in" or "out", '
        f'{session_at["session"]}:uint(), {session_at["sequence_number"]}:uint64(), '
        'table.concat(names, ","))',
        "    return tvb:len()",
        "end",
        "function p_link.dissector(tvb, pinfo, root)",
        f"    if tvb:len() < {link_size} then return 0 end",
        '    pinfo.cols.protocol = "GB-LINK"',
        f"    local tree = root:add(p_link, tvb(0, {link_size}))",
        "    local off = 0",
        *frame_header,
        f"    local channel = {at['channel']}:uint()",
        "    local names = {}",
        f"    gb_messages(tvb, pinfo, root, {link_size}, tvb:len(), channel == {lf.COMMANDS} and LINK_CMD "
        f'or LINK_EVT, p_link, F_gb_link["type"], names, {at["count"]}:le_uint())',
        '    pinfo.cols.info = string.format("%s frame=%d answered=%d %s", channel == 0 and '
        f'"commands" or "events", {at["frame_seq"]}:le_uint(), {at["answered"]}:le_uint(), '
        'table.concat(names, ","))',
        "    return tvb:len()",
        "end",
        f'DissectorTable.get("ethertype"):add({lf.ETHERTYPE}, p_link)',
        'local udp = DissectorTable.get("udp.port")',
        f"udp:add({MOLDUDP64_PORT}, p_mold)",
        f"udp:add({OUCH_PORT}, p_ouch)",
        'local mold_payload = DissectorTable.get("moldudp64.payload")',
        "if mold_payload ~= nil then mold_payload:add_for_decode_as(p_itch) end",
        "",
    ])


def write(path):
    """Write the dissectors to `path`; return the path."""
    with open(path, "w") as out:
        out.write(generate())
    return path
