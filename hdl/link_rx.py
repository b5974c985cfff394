"""The link endpoint's receiver: command frames from a MAC, lane command records out.

# Ref: gatebook/wire/link_frame.py (the framing), host/net/link.py (`pack_frames`,
#      the host's end), docs/hardware.md ("The link endpoint").

Bytes of a frame arrive one per beat. The receiver keeps the header's bytes,
checks them once the header is in, then cuts the body into records, one byte
per clock, each record's size looked up from its type byte (sizes from the wire
tables, `gatebook.hdl.link_header.record_sizes`). Finished records go into a record
FIFO, but the lane sees them only once the frame's last byte has arrived and
every check has passed: the FIFO's write pointer is committed at the frame's
end and rolled back when the frame is dropped, so a bad frame never reaches
the lane, even one whose fault shows only at its end (a truncated record, a
count that does not match, a frame check sequence the MAC flags in `error`).
That costs nothing in clocks for the records (they are assembled while the
frame arrives); the lane sees a frame's first record two clocks after its last
byte (the memory, then an output register). The FIFO holds one frame's worst case (`capacity`, 128 records of at
least 15 bytes, more than a 1500-byte payload holds).
"""

from enum import IntEnum

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from gatebook.wire import link_frame as lf

from .layouts import COMMAND
from .link_header import LINK_HEADER, MIN_FRAME, RX_BYTE, byte_stream, record_sizes, size_lookup

__all__ = ["DropReason", "LinkReceiver", "DROPS"]


class DropReason(IntEnum):
    """Why the receiver dropped a frame, in the order it checks (one reason a frame)."""
    FCS          = 0    # the MAC flagged the frame check sequence on the last byte
    ETHERTYPE    = 1    # not a link frame (other traffic on the port counts here too)
    MAGIC        = 2
    VERSION      = 3
    CHANNEL      = 4    # an event frame, or an unknown channel
    SEQUENCE     = 5    # frame_seq is neither the next one nor 0 (a new host session)
    UNKNOWN_TYPE = 6    # a record whose type byte the lane does not take
    TRUNCATED    = 7    # the frame ends inside its header or inside a record
    COUNT        = 8    # whole records, but not `count` of them (or more than fit the FIFO)


DROPS = data.StructLayout({reason.name.lower(): 32 for reason in DropReason})


class LinkReceiver(wiring.Component):
    """Command frames (bytes) in; the lane's command records out.

    Parameters
    ----------
    capacity : int
        Records the FIFO holds: the most one frame may carry.

    Attributes
    ----------
    i : In(stream.Signature(RX_BYTE))
        The frame bytes from the MAC.
    o : Out(stream.Signature(COMMAND))
        Records of committed frames, in order.
    peer : Out(48)
        Source MAC of the last committed command frame, first wire byte most significant.
    frames : Out(32)
        Command frames committed in this session (their records all queued for the lane).
    drops : Out(DROPS)
        Frames dropped, per `DropReason`.
    restart : Out(1)
        One clock: a frame numbered 0 after others began a new host session; the
        endpoint resets the lane and the transmitter in that clock.
    idle : In(1)
        Everything committed has been answered and the transmitter is idle (so a
        restart loses nothing).
    framing : Out(1)
        Part of a frame is in (its end not yet seen).
    queued : Out(1)
        Committed records wait for the lane (in the FIFO or on `o`).
    """

    i:       In(byte_stream(RX_BYTE))
    o:       Out(stream.Signature(COMMAND))
    peer:    Out(48)
    frames:  Out(32)
    drops:   Out(DROPS)
    restart: Out(1)
    idle:    In(1)
    framing: Out(1)
    queued:  Out(1)

    def __init__(self, capacity=128):
        self.capacity = capacity
        self.sizes = record_sizes(COMMAND)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        header = LINK_HEADER
        depth = self.capacity
        assert depth & (depth - 1) == 0, "capacity must be a power of two"
        width = COMMAND.size
        max_size = max(self.sizes.values())

        # -- the record FIFO: written as records finish, visible up to `committed` ---
        m.submodules.fifo = fifo = Memory(shape=width, depth=depth, init=[])
        wr = fifo.write_port()
        rd = fifo.read_port(transparent_for=(wr,))
        wp, committed, rp = (Signal(range(2 * depth), name=n) for n in ("wp", "committed", "rp"))
        full = Signal()
        m.d.comb += full.eq((wp - rp)[:len(wp)] == depth)
        # The lane reads `o.payload` from a register, not from the memory's output, so the
        # memory's clock-to-out does not add to the lane's decision path (its critical path).
        stored = Signal()                   # a committed record waits in the memory, at `rp`
        load = Signal()                     # ... and moves to the output register this clock
        m.d.comb += [
            stored.eq(committed != rp),
            load.eq(stored & (~self.o.valid | self.o.ready)),
            rd.addr.eq((rp + load)[:len(rp) - 1]),
            wr.addr.eq(wp[:len(wp) - 1]),
            self.queued.eq(stored | self.o.valid),
        ]
        with m.If(load):
            m.d.sync += [rp.eq(rp + 1), self.o.payload.eq(rd.data), self.o.valid.eq(1)]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        # -- frame state --------------------------------------------------------------
        hdr = Signal(8 * header.size)
        have = Signal(range(header.size + 1))       # header bytes received
        ended = Signal()                            # the frame's last byte was in the header
        error = Signal()                            # ... and the MAC flagged it
        count = Signal(16)
        nrec = Signal(16)
        ridx = Signal(range(max_size))
        rsize = Signal(range(max_size + 1))
        rec = Signal(width)
        length = Signal(range(MIN_FRAME + 2))       # frame bytes, saturating past MIN_FRAME
        extra = Signal()                            # bytes after `count` records (padding?)
        expected = Signal(32)

        def field(name):
            return header.field(hdr, name)

        byte = self.i.payload
        take = Signal()
        m.d.comb += take.eq(self.i.valid & self.i.ready)

        def count_drop(reason):
            counter = getattr(self.drops, reason.name.lower())
            m.d.sync += [counter.eq(counter + 1), wp.eq(committed)]

        def commit(new_wp):
            m.d.sync += [committed.eq(new_wp), self.frames.eq(self.frames + 1),
                         expected.eq(expected + 1), self.peer.eq(field("src"))]

        def resync():
            """A byte marked `first` inside a frame (not taken): the frame before it was cut short."""
            m.d.sync += have.eq(0)
            m.next = "HEADER"

        with m.FSM() as fsm:
            with m.State("HEADER"):
                cut = self.i.valid & byte.first & (have != 0)
                m.d.comb += self.i.ready.eq(~cut)
                with m.If(cut):
                    count_drop(DropReason.TRUNCATED)
                    resync()
                with m.Elif(take):
                    with m.Switch(have):
                        for k in range(header.size):
                            with m.Case(k):
                                m.d.sync += hdr.word_select(k, 8).eq(byte.data)
                    m.d.sync += [have.eq(have + 1), ended.eq(byte.last), error.eq(byte.error)]
                    with m.If(byte.last | (have == header.size - 1)):
                        m.next = "CHECK"

            with m.State("CHECK"):
                short = have < header.size
                start, restart = Signal(), Signal()
                with m.If(ended & error):
                    count_drop(DropReason.FCS)
                with m.Elif(have <= header.last_byte("ethertype")):
                    count_drop(DropReason.TRUNCATED)
                with m.Elif(field("ethertype") != lf.ETHERTYPE):
                    count_drop(DropReason.ETHERTYPE)
                with m.Elif(short):
                    count_drop(DropReason.TRUNCATED)
                with m.Elif(field("magic") != lf.MAGIC):
                    count_drop(DropReason.MAGIC)
                with m.Elif(field("version") != lf.VERSION):
                    count_drop(DropReason.VERSION)
                with m.Elif(field("channel") != lf.COMMANDS):
                    count_drop(DropReason.CHANNEL)
                with m.Elif(field("count") > depth):
                    count_drop(DropReason.COUNT)
                with m.Elif(field("frame_seq") == expected):
                    m.d.comb += start.eq(1)
                with m.Elif(field("frame_seq") == 0):
                    m.d.comb += restart.eq(1)
                with m.Else():
                    count_drop(DropReason.SEQUENCE)
                with m.If(restart):
                    m.next = "RESTART"          # keeps the header, checks it again after
                with m.Else():
                    m.d.sync += have.eq(0)
                    with m.If(start & ~ended):
                        m.d.sync += [count.eq(field("count")), nrec.eq(0), ridx.eq(0),
                                     extra.eq(0), length.eq(header.size)]
                        m.next = "BODY"
                    with m.Elif(start):          # a header-only frame
                        with m.If(field("count") == 0):
                            commit(wp)
                        with m.Else():
                            count_drop(DropReason.COUNT)
                        m.next = "HEADER"
                    with m.Elif(ended):
                        m.next = "HEADER"
                    with m.Else():
                        m.next = "DROP"

            with m.State("RESTART"):
                with m.If(self.idle):
                    m.d.comb += self.restart.eq(1)
                    m.d.sync += [expected.eq(0), self.frames.eq(0)]
                    m.next = "CHECK"

            with m.State("BODY"):
                cut = self.i.valid & byte.first
                m.d.comb += self.i.ready.eq(~full & ~cut)
                with m.If(cut):
                    count_drop(DropReason.TRUNCATED)
                    resync()
                with m.Elif(take):
                    size, known = size_lookup(m, byte.data, self.sizes)
                    rec_next = Signal(width)
                    done = Signal()             # this byte finishes a record
                    unknown = Signal()
                    padding = Signal()
                    m.d.comb += rec_next.eq(rec)
                    with m.If(ridx == 0):
                        with m.If(nrec == count):
                            m.d.comb += padding.eq(1)
                        with m.Elif(~known):
                            m.d.comb += unknown.eq(1)
                        with m.Else():
                            m.d.comb += rec_next.eq(byte.data)
                            m.d.sync += [rsize.eq(size), ridx.eq(1)]
                    with m.Else():
                        with m.Switch(ridx):
                            for k in range(1, max_size):
                                with m.Case(k):
                                    m.d.comb += rec_next.word_select(k, 8).eq(byte.data)
                        with m.If(ridx == rsize - 1):
                            m.d.comb += done.eq(1)
                            m.d.sync += ridx.eq(0)
                        with m.Else():
                            m.d.sync += ridx.eq(ridx + 1)
                    m.d.sync += rec.eq(rec_next)
                    m.d.comb += [wr.data.eq(rec_next), wr.en.eq(done)]
                    new_wp = wp + done
                    new_nrec = nrec + done
                    new_extra = extra | padding
                    m.d.sync += [wp.eq(new_wp), nrec.eq(new_nrec), extra.eq(new_extra)]
                    with m.If(length <= MIN_FRAME):
                        m.d.sync += length.eq(length + 1)
                    with m.If(unknown):
                        count_drop(DropReason.UNKNOWN_TYPE)
                        m.next = "DROP"
                    with m.If(byte.last):
                        m.d.sync += have.eq(0)
                        m.next = "HEADER"
                        with m.If(unknown):
                            pass                # counted above
                        with m.Elif(byte.error):
                            count_drop(DropReason.FCS)
                        with m.Elif((ridx != 0) & ~done):
                            count_drop(DropReason.TRUNCATED)
                        with m.Elif(new_nrec != count):
                            count_drop(DropReason.COUNT)
                        with m.Elif(new_extra & (length >= MIN_FRAME)):
                            count_drop(DropReason.COUNT)
                        with m.Else():
                            commit(new_wp)

            with m.State("DROP"):
                cut = self.i.valid & byte.first
                m.d.comb += self.i.ready.eq(~cut)
                with m.If(cut):
                    resync()
                with m.Elif(take & byte.last):
                    m.d.sync += have.eq(0)
                    m.next = "HEADER"
        m.d.comb += self.framing.eq(~fsm.ongoing("HEADER") | (have != 0))
        return m
