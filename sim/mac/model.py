"""Ethernet frames as bytes on the wire and as GMII byte times, in plain Python.

# Ref: IEEE Std 802.3-2018 clause 3.2 (preamble, SFD, pad, FCS), 4.4.2 (sizes, IFG).

The MAC's Amaranth tests (tests/test_hdl_mac.py) check it against this: the FCS here
is zlib's CRC-32, not the gateware's.
"""

import zlib

from gatebook.hdl.mac.gmii import FCS_BYTES, IFG_BYTES, MIN_FRAME, PREAMBLE, PREAMBLE_BYTES, SFD

__all__ = ["fcs", "wire_frame", "gmii_beats", "split_gmii", "payload_of"]


def fcs(frame):
    """The four FCS bytes of `frame`, as they go on the wire."""
    return zlib.crc32(frame).to_bytes(FCS_BYTES, "little")


def wire_frame(frame, *, pad=True, good_fcs=True, preamble=PREAMBLE_BYTES):
    """Preamble, SFD, `frame` (padded to the minimum if `pad`), FCS (spoiled unless `good_fcs`)."""
    if pad and len(frame) < MIN_FRAME:
        frame = frame + bytes(MIN_FRAME - len(frame))
    check = fcs(frame)
    if not good_fcs:
        check = bytes([check[0] ^ 0x01]) + check[1:]
    return bytes([PREAMBLE] * preamble + [SFD]) + frame + check


def gmii_beats(wires, ifg=IFG_BYTES, error_at=None):
    """GMII byte times (data, en, er) of `wires` sent back to back with `ifg` idle bytes
    after each; `error_at` = (frame index, byte index) raises RX_ER there."""
    beats = []
    for index, wire in enumerate(wires):
        for k, byte in enumerate(wire):
            beats.append((byte, 1, int(error_at == (index, k))))
        beats += [(0, 0, 0)] * ifg
    return beats


def split_gmii(beats):
    """[(wire bytes, any er, idle byte times before it)] of GMII byte times."""
    frames, current, error, idle = [], None, False, 0
    for byte, en, er in beats:
        if en:
            if current is None:
                current, error, gap, idle = bytearray(), False, idle, 0
            current.append(byte)
            error |= bool(er)
        else:
            if current is not None:
                frames.append((bytes(current), error, gap))
                current = None
            idle += 1
    if current is not None:
        frames.append((bytes(current), error, gap))
    return frames


def payload_of(wire):
    """The frame inside `wire` (preamble, SFD and FCS checked and removed); ValueError if bad."""
    start = wire.index(SFD) + 1
    if set(wire[:start - 1]) != {PREAMBLE} or start - 1 != PREAMBLE_BYTES:
        raise ValueError(f"preamble {wire[:start].hex()}")
    frame, check = wire[start:-FCS_BYTES], wire[-FCS_BYTES:]
    if fcs(frame) != check:
        raise ValueError(f"FCS {check.hex()}, want {fcs(frame).hex()}")
    return frame
