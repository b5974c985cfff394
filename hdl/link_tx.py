"""The link endpoint's transmitter: the lane's event beats in, event frames (bytes) out.

# Ref: gatebook/wire/link_frame.py (the framing and the `answered` rule),
#      host/net/link.py (`unpack_frame`, the host's end), docs/hardware.md
#      ("The link endpoint").

Each beat's one or two records are written into a body buffer (a memory of one
payload, `MTU` less the frame header, in 8-byte rows with byte enables, a row a
clock: a record that starts in byte lane k of a row has each 8 of its bytes
turned by k lanes, and each row takes its lanes from k on from this clock's 8
bytes and those below k from the last clock's, so no record is ever shifted by
a variable amount), so the frame's `count` is known before its header goes out. A frame is closed, and sent (header
bytes, then the body from the buffer), when the next record would not fit the
payload, or when the lane has answered a command frame: the lane has taken every
record of the command frames committed so far and gone quiet (its input idle
with nothing queued, nothing on its output: the rule `gatebook.sim.hybrid.AmaranthLink`
uses). Only that frame carries the new `answered`; frames closed because they
were full carry the count already announced, and an answer that wrote nothing
is a header-only frame. The lane waits (`i.ready` low) while a frame is sent.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.utils import exact_log2
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from gatebook.wire import link_frame as lf

from .layouts import EVENT_PAIR
from .link_header import LINK_HEADER, MTU, BYTE, byte_stream, mac_int, record_sizes, size_lookup

__all__ = ["LinkTransmitter"]

_ROW = 64                       # bits of the body buffer written in one clock


class LinkTransmitter(wiring.Component):
    """The lane's output beats in; event frames out, one byte per beat.

    Parameters
    ----------
    mac : str or int
        Source MAC of the event frames.
    mtu : int
        Largest Ethernet payload (frame header and records) of a frame.

    Attributes
    ----------
    i : In(stream.Signature(EVENT_PAIR))
        The lane's beats.
    o : Out(stream.Signature(BYTE))
        Event frames.
    drained : In(1)
        The lane's input is idle and nothing committed waits for it.
    frames : In(32)
        Command frames committed so far (the receiver's count).
    peer : In(48)
        Where replies go: the last command frame's source MAC.
    answered : Out(32)
        Command frames answered so far (announced in the frame being sent or before).
    sent : Out(32)
        Event frames sent; the next one's frame_seq.
    idle : Out(1)
        Nothing buffered or being sent.
    """

    i:        In(stream.Signature(EVENT_PAIR))
    o:        Out(byte_stream(BYTE))
    drained:  In(1)
    frames:   In(32)
    peer:     In(48)
    answered: Out(32)
    sent:     Out(32)
    idle:     Out(1)

    def __init__(self, mac, mtu=MTU):
        self.mac = mac_int(mac)
        self.mtu = mtu
        self.room = mtu - lf.FRAME_HEADER.size       # bytes of records a frame holds
        self.first_sizes = record_sizes(EVENT_PAIR.members["first"])
        self.second_sizes = record_sizes(EVENT_PAIR.members["second"])
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        header = LINK_HEADER
        room = self.room
        lanes = _ROW // 8
        record_bits = EVENT_PAIR.members["first"].size

        m.submodules.body = body = Memory(shape=_ROW, depth=-(-room // lanes), init=[])
        wr = body.write_port(granularity=8)
        rd = body.read_port()

        fill = Signal(range(room + 1))          # body bytes written
        end = Signal(range(room + 1))           # where the record being written ends
        count = Signal(16)                      # records in the body
        first = Signal(record_bits)             # the beat's records, next row lowest
        second = Signal(EVENT_PAIR.members["second"].size)
        second_size = Signal(range(max(self.second_sizes.values()) + 1))
        pair = Signal()
        on_second = Signal()                    # writing the beat's second record
        turn = Signal(range(lanes))             # the lane the record starts in
        carry = Signal(_ROW)                    # last clock's row, turned
        resume_write = Signal()                 # after sending, go on writing the record
        dst = Signal(48)
        pos = Signal(range(header.size + room + 1))   # byte of the frame being sent

        beat = self.i.payload
        size_first, _ = size_lookup(m, beat.first.code, self.first_sizes)
        size_second, _ = size_lookup(m, beat.second.code, self.second_sizes)

        # -- writing: a record starting in lane `turn` is turned by `turn` lanes; each
        # clock writes one row: lanes from `turn` on from this clock's 8 record bytes,
        # lanes below `turn` from the last clock's (the byte enables keep the rest) ------
        bits = exact_log2(lanes)
        row = Cat(Const(0, bits), fill[bits:])           # the row's first byte
        window = Mux(on_second, second[:_ROW], first[:_ROW])
        turned = Signal(_ROW)
        with m.Switch(turn):
            for k in range(lanes):
                with m.Case(k):
                    m.d.comb += turned.eq(window.rotate_left(8 * k))
        last_row = Signal()                     # this row ends the record
        m.d.comb += [
            last_row.eq(end <= row + lanes),
            wr.addr.eq(fill >> bits),
            wr.data.eq(Cat(*(Mux(k < turn, carry.word_select(k, 8), turned.word_select(k, 8))
                             for k in range(lanes)))),
        ]

        # -- sending: header bytes, then the body a byte a clock ---------------------------
        frame = header.wire({
            "dst": dst, "src": self.mac, "ethertype": lf.ETHERTYPE, "magic": lf.MAGIC,
            "version": lf.VERSION, "channel": lf.EVENTS, "frame_seq": self.sent,
            "answered": self.answered, "count": count,
        })
        length = header.size + fill
        advance = self.o.valid & self.o.ready
        next_pos = pos + advance
        in_body = (pos - header.size)[:bits]
        m.d.comb += [
            rd.addr.eq(Mux(next_pos >= header.size, next_pos - header.size, 0)
                       >> bits),
            self.o.payload.data.eq(Mux(pos < header.size, frame.word_select(pos, 8),
                                       rd.data.word_select(in_body, 8))),
            self.o.payload.first.eq(pos == 0),
            self.o.payload.last.eq(pos == length - 1),
        ]

        def close(answer):
            m.d.sync += [dst.eq(self.peer), pos.eq(0)]
            if answer:
                m.d.sync += self.answered.eq(self.frames)
            m.next = "SEND"

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [self.i.ready.eq(1), self.idle.eq(fill == 0)]
                with m.If(self.i.valid):
                    m.d.sync += [first.eq(beat.first), second.eq(beat.second),
                                 pair.eq(beat.pair), on_second.eq(0),
                                 second_size.eq(size_second)]
                    with m.If(fill + size_first <= room):
                        m.d.sync += [end.eq(fill + size_first), turn.eq(fill[:bits])]
                        m.next = "WRITE"
                    with m.Else():                  # the record starts the next frame
                        m.d.sync += [end.eq(size_first), turn.eq(0), resume_write.eq(1)]
                        close(answer=False)
                with m.Elif(self.drained & (self.frames != self.answered)):
                    m.d.sync += resume_write.eq(0)
                    close(answer=True)

            with m.State("WRITE"):
                m.d.comb += wr.en.eq(Cat(*((k >= fill[:bits]) & (row + k < end)
                                           for k in range(lanes))))
                m.d.sync += [carry.eq(turned), fill.eq(Mux(last_row, end, row + lanes))]
                with m.If(on_second):
                    m.d.sync += second.eq(second >> _ROW)
                with m.Else():
                    m.d.sync += first.eq(first >> _ROW)
                with m.If(last_row):
                    m.d.sync += count.eq(count + 1)
                    with m.If(pair & ~on_second):
                        m.d.sync += on_second.eq(1)
                        with m.If(end + second_size <= room):
                            m.d.sync += [end.eq(end + second_size), turn.eq(end[:bits])]
                        with m.Else():
                            m.d.sync += [end.eq(second_size), turn.eq(0), resume_write.eq(1)]
                            close(answer=False)
                    with m.Else():
                        m.next = "IDLE"

            with m.State("SEND"):
                m.d.comb += self.o.valid.eq(1)
                with m.If(advance):
                    m.d.sync += pos.eq(pos + 1)
                    with m.If(self.o.payload.last):
                        m.d.sync += [fill.eq(0), count.eq(0), self.sent.eq(self.sent + 1)]
                        with m.If(resume_write):
                            m.next = "WRITE"
                        with m.Else():
                            m.next = "IDLE"
        return m
