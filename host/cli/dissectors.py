"""`gatebook dissectors`: write the Wireshark Lua dissectors generated from the wire tables."""

import os

from ..net.lua_dissectors import FILENAME, write
from ..net.defaults import MOLDUDP64_PORT

__all__ = ["register"]


def register(subparsers):
    parser = subparsers.add_parser(
        "dissectors", help="write Wireshark/tshark Lua dissectors for ITCH 5.0, MoldUDP64 "
                           "and the order-entry protocol",
        description="Generates one Lua script from gatebook/wire's tables. Load it with "
                    "`tshark -X lua_script:PATH` or copy it into Wireshark's personal "
                    "plugins folder.")
    parser.add_argument("-o", "--output", default=FILENAME,
                        help=f"file (or directory) to write (default ./{FILENAME})")
    parser.set_defaults(run=run_dissectors)


def run_dissectors(args):
    path = args.output
    if os.path.isdir(path):
        path = os.path.join(path, FILENAME)
    write(path)
    print(f"wrote {path}")
    print(f"  tshark -X lua_script:{path} -r CAPTURE.pcap -V")
    print(f"  or, with Wireshark's own MoldUDP64: tshark -X lua_script:{path} "
          f"-d udp.port=={MOLDUDP64_PORT},moldudp64 -d moldudp64.payload,gb_itch50 -r CAPTURE.pcap")
    return 0
