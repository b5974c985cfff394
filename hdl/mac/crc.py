"""The Ethernet FCS's CRC-32, one byte per clock.

# Ref: IEEE Std 802.3-2018 clause 3.2.9 (the FCS: CRC-32, generator 0x04C11DB7, register
#      preset to all ones, bits in wire order, the result complemented); the reflected
#      form (0xEDB88320, least significant bit first) is zlib's `crc32`.

The CRC is linear: each bit of the next register is the XOR of some bits of the
register and the byte. Those sets are worked out here in Python, once, by pushing each
single bit through the bitwise definition (`step`), so the gateware is one XOR
reduction per bit (small Verilog, fast to simulate) and the definition sits in one
place. After a frame and its own FCS the register holds `RESIDUE`.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Crc32", "step", "RESIDUE"]

_POLY = 0xEDB88320                  # 0x04C11DB7, bit-reversed
_ONES = 0xFFFF_FFFF
RESIDUE = 0xDEBB20E3                # the register after a frame and its FCS (not complemented)


def step(register, byte):
    """The register after one byte, bit by bit (the definition the gateware is derived from)."""
    register ^= byte
    for _ in range(8):
        register = (register >> 1) ^ (_POLY if register & 1 else 0)
    return register


def _masks():
    """For each bit of the next register, which bits of Cat(register, byte) feed it."""
    columns = [step(1 << k, 0) for k in range(32)] + [step(0, 1 << k) for k in range(8)]
    return [sum(1 << j for j, column in enumerate(columns) if column >> bit & 1)
            for bit in range(32)]


_MASKS = _masks()


class Crc32(wiring.Component):
    """The CRC of the bytes given since `start`, registered.

    Attributes
    ----------
    start : In(1)
        Begin a new CRC with this clock's byte (if `valid`) or with none.
    valid : In(1)
        Take `data` this clock.
    data : In(8)
        The byte.
    crc : Out(32)
        The CRC of the bytes so far (complemented: the FCS, least significant byte first
        on the wire), a clock after the last byte.
    crc_next : Out(32)
        The same with this clock's byte taken in already (combinational): for a sender
        whose CRC takes each byte a clock after it was sent, the FCS's first byte.
    match : Out(1)
        The bytes so far end with their own good FCS.
    """

    start:    In(1)
    valid:    In(1)
    data:     In(8)
    crc:      Out(32)
    crc_next: Out(32)
    match:    Out(1)

    def elaborate(self, platform):
        m = Module()
        register = Signal(32, init=_ONES)
        current = Signal(32)
        following = Signal(32)
        m.d.comb += current.eq(register)
        with m.If(self.start):
            m.d.comb += current.eq(_ONES)
        inputs = Cat(current, self.data)
        for bit, mask in enumerate(_MASKS):
            m.d.comb += following[bit].eq((inputs & mask).xor())
        with m.If(self.valid):
            m.d.sync += register.eq(following)
        with m.Elif(self.start):
            m.d.sync += register.eq(_ONES)
        m.d.comb += [self.crc.eq(~register), self.match.eq(register == RESIDUE),
                     self.crc_next.eq(~following)]
        with m.If(~self.valid):
            m.d.comb += self.crc_next.eq(~current)
        return m
