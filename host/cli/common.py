"""Options and helpers shared by the host subcommands."""

import sys
import time

from gatebook.wire.codec import ProtocolCodec
from gatebook.wire.internal import COMMANDS

from ..flow import generate_flow

__all__ = ["add_flow_options", "load_commands", "Progress"]


def add_flow_options(parser, default_orders):
    group = parser.add_argument_group("order flow")
    group.add_argument("--orders", type=int, default=default_orders, metavar="N",
                       help=f"commands in the generated flow (default {default_orders:,})")
    group.add_argument("--seed", type=int, default=1,
                       help="seed of the generated flow; the same seed gives the same flow (default 1)")
    group.add_argument("--input", metavar="FILE",
                       help="replay recorded commands (written by `gatebook demo --record`) "
                            "instead of generating a flow")


class Progress:
    """Progress on stderr for long steps, silent when stderr is not a terminal."""

    def __init__(self, label, stream=sys.stderr):
        self.label = label
        self.stream = stream
        self.start = time.perf_counter()
        self.shown = False

    def __call__(self, done, total):
        if not self.stream.isatty():
            return
        elapsed = time.perf_counter() - self.start
        self.stream.write(f"\r{self.label}: {done:,}/{total:,} ({100 * done // total}%) {elapsed:.1f}s")
        self.stream.flush()
        self.shown = True

    def done(self):
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()


def load_commands(args):
    """The commands `args` asks for: a recorded file or a seeded generated flow."""
    if args.input:
        with open(args.input, "rb") as file:
            data = file.read()
        return list(ProtocolCodec(COMMANDS).decode_stream(data))
    progress = Progress("generating flow")
    commands = generate_flow(args.orders, seed=args.seed, progress=progress)
    progress.done()
    return commands


def write_commands(path, commands):
    codec = ProtocolCodec(COMMANDS)
    with open(path, "wb") as file:
        for command in commands:
            file.write(codec.encode(command))
