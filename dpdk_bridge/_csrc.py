"""Where the DPDK bridge's C is, and what cffi is given of it.

# Ref: DPDK 22.11 API (Debian libdpdk-dev); cffi "Main mode of usage" (cdef,
#      set_source with sources=).

The C lives in dpdk_bridge/csrc/ as ordinary `.c` and `.h` files, so compilers
and editors read it as C:

- `bridge.h` declares every function Python calls (DPDK's own and the `gb_*`
  helpers) in plain C that cffi's cdef parses;
- `bridge_internal.h` holds what the C files share and Python never sees;
- `eal_port.c`, `mac_table.c`, `udp_rx.c`, `udp_tx.c` are the helpers, each
  compiled on its own and linked into the extension;
- "gb_bridge_tables.h" is generated at build time from the wire tables
  (`_cgen.bridge_header`): the structs Python shares with C, the order-entry
  and Ethernet/IPv4/UDP offsets and sizes, the descriptor statuses.

The cdef is `bridge.h` without its preprocessor lines, after the generated
structs and constants (each `#define` as `#define NAME ...`, so cffi reads the
compiled value back as `lib.NAME`). Nothing is declared twice by hand.
"""

import re
from pathlib import Path

from ._cgen import BRIDGE_HEADER_NAME, bridge_declarations, bridge_header

__all__ = ["MODULE_NAME", "CSRC", "HEADERS", "PARTS", "CDEF", "PREAMBLE", "GENERATED_HEADER",
           "cdef", "source_texts", "write_generated_header"]

MODULE_NAME = "_gatebook_dpdk"

CSRC = Path(__file__).with_name("csrc")
HEADERS = ("bridge.h", "bridge_internal.h")
PARTS = ("eal_port.c", "mac_table.c", "udp_rx.c", "udp_tx.c")

# What cffi's own wrapper file includes: the declarations it calls through.
PREAMBLE = '#include "bridge.h"\n'

GENERATED_HEADER = bridge_header()


def cdef(header_text):
    """The cffi declarations: the tables' structs and constants, then
    `header_text` (bridge.h) without its preprocessor lines."""
    constants = re.sub(r"^(#define \w+) .*$", r"\1 ...", bridge_declarations(), flags=re.M)
    plain = "".join(line for line in header_text.splitlines(keepends=True)
                    if not line.lstrip().startswith("#"))
    return constants + plain


def source_texts(csrc=CSRC):
    """[(file name, text)] of every hand-written C file the extension is built from."""
    return [(name, (Path(csrc) / name).read_text()) for name in HEADERS + PARTS]


def write_generated_header(directory):
    """Write "gb_bridge_tables.h" into `directory`; return its path."""
    path = Path(directory) / BRIDGE_HEADER_NAME
    path.write_text(GENERATED_HEADER)
    return path


CDEF = cdef((CSRC / "bridge.h").read_text())
