"""Loader for the golden wire vectors in tests/vectors/*.txt.

A vector file is a series of vectors; each is a name, the message it holds,
the decoded fields it must give, and its bytes written field by field::

    == add_order_buy (add_order)            name (message)
    stock_locate = 1                        expected fields, as Python literals
    stock        = "AAPL"
    hex:
    41                   #  0 type          one field per line: the bytes, then
    00 01                #  1 stock_locate  a comment giving its offset and name
    ...

Lines that start with '#' and blank lines are ignored. Every hex line needs a
comment that starts with its offset; the loader checks that offset against
the bytes already read, so a dropped or doubled byte is caught on the line
where it was typed. The word after the offset is the line's label (the
field name, for single messages), kept in `Vector.layout`.
"""

import ast
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Vector", "load", "VECTORS"]

VECTORS = Path(__file__).parent / "vectors"

_HEADING = re.compile(r"==\s*(\S+)\s*\(\s*(\S+)\s*\)\s*$")
_FIELD = re.compile(r"([A-Za-z_]\w*)\s*=\s*(.+)$")
_HEX = re.compile(r"([0-9A-Fa-f ]+?)\s*#\s*(\d+)\s+(\S+)")


@dataclass(frozen=True)
class Vector:
    name:    str
    message: str                          # the table's message name ("packet" for MoldUDP64)
    fields:  dict                         # field name -> expected value, in file order
    data:    bytes
    layout:  "tuple[tuple[int, str, int], ...]"   # (offset, label, width) per hex line
    where:   str                          # file:line of the heading

    def __repr__(self):                   # pytest ids and failure messages
        return f"Vector({self.name})"


def load(filename):
    """The vectors in `filename` (relative to tests/vectors), by name, in file order."""
    path = VECTORS / filename
    vectors = {}
    current = None

    def finish():
        if current is None:
            return
        name, message, fields, chunks, layout, where, in_hex = current
        if not in_hex or not chunks:
            raise ValueError(f"{where}: vector {name} has no hex section")
        if name in vectors:
            raise ValueError(f"{where}: vector {name} defined twice")
        vectors[name] = Vector(name, message, fields, b"".join(chunks), tuple(layout), where)

    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        where = f"{path.name}:{number}"
        if not line or line.startswith("#"):
            continue
        heading = _HEADING.match(line)
        if heading:
            finish()
            current = [heading[1], heading[2], {}, [], [], where, False]
            continue
        if current is None:
            raise ValueError(f"{where}: text before the first vector heading")
        if line == "hex:":
            current[6] = True
            continue
        if current[6]:
            match = _HEX.match(line)
            if not match:
                raise ValueError(f"{where}: expected hex bytes and '# <offset> <label>'")
            chunk = bytes.fromhex(match[1])
            offset = sum(len(part) for part in current[3])
            if int(match[2]) != offset:
                raise ValueError(f"{where}: comment says offset {match[2]}, "
                                 f"but {offset} bytes precede this line")
            current[3].append(chunk)
            current[4].append((offset, match[3], len(chunk)))
            continue
        field = _FIELD.match(line)
        if not field:
            raise ValueError(f"{where}: expected 'field = value' or 'hex:'")
        if field[1] in current[2]:
            raise ValueError(f"{where}: field {field[1]} given twice")
        current[2][field[1]] = ast.literal_eval(field[2])
    finish()
    return vectors
