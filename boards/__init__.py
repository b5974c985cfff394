"""FPGA boards a matching lane can be built for: one small module per board.

Each board module (as in amaranth-boards, where a variant only sets `device`)
names the board, says where its platform class comes from and which pins the
top (`gatebook.boards.top.BoardTop`) uses. `gatebook.boards.build` builds a top for a
board with the open toolchain its platform names; `gatebook build --board NAME`
(`gatebook.boards.cli`) runs that from the command line.
"""

import importlib

__all__ = ["BOARDS", "board"]

# Board name on the command line -> module in this package.
BOARDS = {
    "ulx3s-85f": "gatebook.boards.ulx3s_85f",
    "ecpix5-85": "gatebook.boards.ecpix5_85",
    "colorlight-5a75b": "gatebook.boards.colorlight_5a75b",
    "arty-a7-100t": "gatebook.boards.arty_a7_100t",     # a Vivado project only
}


def board(name):
    """The board module called `name` (a key of `BOARDS`)."""
    try:
        module = BOARDS[name]
    except KeyError:
        raise ValueError(f"unknown board {name!r}; known: {', '.join(sorted(BOARDS))}") from None
    return importlib.import_module(module)
