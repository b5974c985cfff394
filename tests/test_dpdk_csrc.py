"""The DPDK bridge's C in dpdk_bridge/csrc/: one declaration of each function
(bridge.h, read by both cffi and the C), the frame and struct layouts generated
from the tables, a build hash that sees every C file, and C that compiles clean
with -Wall -Wextra."""

import re
import shutil
import socket
import struct
import subprocess

import pytest

from gatebook.dpdk_bridge import dpdk_available
from gatebook.dpdk_bridge import _cgen, _csrc
from gatebook.wire import ethernet

_available, _why = dpdk_available()
needs_dpdk = pytest.mark.skipif(not _available, reason=f"DPDK unavailable: {_why}")

# A definition with external linkage starts its line with its return type.
_DEFINED = re.compile(r"^(?!static\b)[a-z]\w*(?: \w+)* \**(gb_\w+)\(", re.M)
_DECLARED = re.compile(r"\b(gb_\w+)\(")


def test_bridge_h_declares_exactly_the_functions_the_c_files_export():
    """A helper added to a .c file but not to bridge.h (or the reverse) would
    be missing from Python or fail to link; the two lists are the same."""
    defined = set()
    for name in _csrc.PARTS:
        defined |= set(_DEFINED.findall((_csrc.CSRC / name).read_text()))
    declared = set(_DECLARED.findall((_csrc.CSRC / "bridge.h").read_text()))
    assert defined and defined == declared


def test_the_cdef_parses_and_carries_the_generated_declarations():
    import cffi
    ffi = cffi.FFI()
    ffi.cdef(_csrc.CDEF)              # raises on anything cffi cannot read
    assert "#include" not in _csrc.CDEF and "#ifndef" not in _csrc.CDEF
    for name, *_ in _cgen.STATS:
        assert f" {name};" in _csrc.CDEF
    assert "#define GB_FRAME_HEADERS_SIZE ..." in _csrc.CDEF


def test_the_build_hash_covers_every_c_file(tmp_path):
    from gatebook.dpdk_bridge.build import source_key
    copy = tmp_path / "csrc"
    shutil.copytree(_csrc.CSRC, copy)
    flags = (["-I/x"], ["-ly"])
    original = source_key(*flags, csrc=copy)
    assert source_key(*flags, csrc=_csrc.CSRC) == original
    for name in _csrc.HEADERS + _csrc.PARTS:
        path = copy / name
        text = path.read_text()
        path.write_text(text + "\n/* edited */\n")
        assert source_key(*flags, csrc=copy) != original, name
        path.write_text(text)
    assert source_key(["-I/z"], ["-ly"], csrc=copy) != original


def test_the_ip_and_udp_tables_are_the_rfc_layouts():
    # Independent of the tables: RFC 791's and RFC 768's headers as struct formats.
    ipv4, udp = struct.Struct("!BBHHHBBH4s4s"), struct.Struct("!HHHH")
    assert ethernet.IPV4_HEADER.size == ipv4.size == 20
    assert ethernet.UDP_HEADER.size == udp.size == 8
    assert ethernet.ETHERNET_HEADER.size == 14
    assert _cgen.field_offsets(ethernet.IPV4_HEADER) == {
        "version_ihl": 0, "dscp_ecn": 1, "total_length": 2, "identification": 4,
        "flags_fragment": 6, "ttl": 8, "protocol": 9, "header_checksum": 10, "src": 12,
        "dst": 16}
    assert _cgen.field_offsets(ethernet.UDP_HEADER) == {
        "src_port": 0, "dst_port": 2, "length": 4, "checksum": 6}
    assert ethernet.IPPROTO_UDP == socket.IPPROTO_UDP


def _compile_flags():
    from gatebook.dpdk_bridge.build import COMPILE_FLAGS, pkg_config
    cflags, _ = pkg_config()
    return cflags + COMPILE_FLAGS


@needs_dpdk
@pytest.mark.parametrize("name", _csrc.PARTS + ("gb_bridge_tables.h",))
def test_each_c_file_compiles_clean_with_all_warnings(tmp_path, name):
    """The build dropped -w: each part (and the generated header on its own)
    compiles with -Wall -Wextra -Werror against DPDK's headers."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler")
    _csrc.write_generated_header(tmp_path)
    source = _csrc.CSRC / name
    if name.endswith(".h"):           # on its own, twice: it needs nothing and guards itself
        source = tmp_path / "alone.c"
        source.write_text(f'#include "{name}"\n#include "{name}"\n')
    done = subprocess.run([compiler, "-c", "-o", str(tmp_path / "part.o"), *_compile_flags(),
                           "-Werror", f"-I{tmp_path}", f"-I{_csrc.CSRC}", str(source)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]


@needs_dpdk
def test_compiled_frame_offsets_are_the_rfcs():
    from gatebook.dpdk_bridge.build import load
    lib = load().lib
    assert (lib.GB_ETH_SIZE, lib.GB_ETH_DST_OFF, lib.GB_ETH_SRC_OFF,
            lib.GB_ETH_ETHERTYPE_OFF) == (14, 0, 6, 12)
    assert (lib.GB_IPV4_SIZE, lib.GB_IPV4_VERSION_IHL_OFF, lib.GB_IPV4_TOTAL_LENGTH_OFF,
            lib.GB_IPV4_IDENTIFICATION_OFF, lib.GB_IPV4_FLAGS_FRAGMENT_OFF, lib.GB_IPV4_TTL_OFF,
            lib.GB_IPV4_PROTOCOL_OFF, lib.GB_IPV4_HEADER_CHECKSUM_OFF, lib.GB_IPV4_SRC_OFF,
            lib.GB_IPV4_DST_OFF) == (20, 0, 2, 4, 6, 8, 9, 10, 12, 16)
    assert (lib.GB_UDP_SIZE, lib.GB_UDP_SRC_PORT_OFF, lib.GB_UDP_DST_PORT_OFF,
            lib.GB_UDP_LENGTH_OFF, lib.GB_UDP_CHECKSUM_OFF) == (8, 0, 2, 4, 6)
    assert lib.GB_FRAME_HEADERS_SIZE == 42
    assert (lib.GB_ETHERTYPE_IPV4, lib.GB_ETHERTYPE_ARP, lib.GB_IPPROTO_UDP,
            lib.GB_IPV4_VERSION) == (0x0800, 0x0806, 17, 4)
    assert (lib.GB_IPV4_DONT_FRAGMENT, lib.GB_IPV4_MORE_FRAGMENTS,
            lib.GB_IPV4_FRAGMENT_OFFSET) == (0x4000, 0x2000, 0x1FFF)


@needs_dpdk
@pytest.mark.parametrize("struct_name, table", [("gb_stats", _cgen.STATS),
                                                ("gb_link", _cgen.LINK)])
def test_the_port_structs_are_their_tables(struct_name, table):
    from gatebook.dpdk_bridge.build import load
    ffi = load().ffi
    fields = dict(ffi.typeof(f"struct {struct_name}").fields)
    assert list(fields) == [name for name, *_ in table]
    at = 0
    for name, width, signed, _ in table:
        assert fields[name].offset == at, name
        assert ffi.sizeof(fields[name].type) == width, name
        assert (fields[name].type.cname[0] != "u") == signed, name
        at += width
    assert ffi.sizeof(f"struct {struct_name}") == at
