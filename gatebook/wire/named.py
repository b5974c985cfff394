"""Named views of command and event records, generated from the wire tables.

The hot path passes records as plain tuples: ``(type code, seq, ts, fields in
table order)``. For people and tests, each message of gatebook.wire.internal
gets a NamedTuple class here (`Executed`, `Accepted`, `Level`, ...) whose
first field is ``code`` (the type byte) and whose other fields are the table's,
in the table's order. A view is still a tuple and compares equal to the plain
record it was made from. Nothing here is written by hand per message: change a
table and its class changes with it.

Type checkers cannot see classes made at run time, so named.pyi spells them out
for them; it is generated too (see `REGENERATE_STUB`) and a test fails when it
is stale.

`named(record)` picks the class by the record's type byte and turns enumerated
fields into their enum (`Side.BUY` rather than 0); a value outside its enum
stays an int, so a hostile record is still shown as it is rather than refused.
"""

from enum import IntEnum
from typing import Any, NamedTuple

from . import internal
from .layout import Message

__all__ = [
    "named", "record_class", "classes_for", "stub_text", "CLASSES",
    "NewOrder", "Cancel", "Replace", "MassCancel", "Admin",
    "Accepted", "Rejected", "Executed", "Cancelled", "Replaced", "StopTriggered",
    "Trade", "Level", "TradingState", "Done",
]

#: The shell command that rewrites named.pyi from the tables.
REGENERATE_STUB = ("python -c 'from gatebook.wire.named import stub_text; "
                   "print(stub_text(), end=\"\")' > gatebook/wire/named.pyi")

#: Name of the view field holding the record's type byte.
CODE_FIELD = "code"


def class_name(message: Message) -> str:
    """``stop_triggered`` -> ``StopTriggered``."""
    return "".join(part.capitalize() for part in message.name.split("_"))


def record_class(message: Message) -> "type[tuple]":
    """A NamedTuple class for `message`: ``code`` then the table's fields, in order.

    Parameters
    ----------
    message : Message
        A table entry with a type code (gatebook.wire.layout).

    Returns
    -------
    type
        A NamedTuple subclass; its ``message`` attribute is the table entry and
        its ``from_record`` classmethod applies the table's enums.
    """
    if CODE_FIELD in message.field_names:
        raise ValueError(f"{message.name}: a field named {CODE_FIELD!r} would hide the type byte")
    annotations = [(CODE_FIELD, int)] + [(field.name, field.enum or int) for field in message.fields]
    base = NamedTuple(class_name(message), annotations)
    enum_at = tuple((index, field.enum) for index, field in enumerate(message.fields, start=1)
                    if field.enum is not None)

    def from_record(cls, record):
        values = list(record)
        for index, enum in enum_at:
            values[index] = _as_member(enum, values[index])
        return cls._make(values)

    namespace = {
        "__slots__": (),
        "__repr__": _repr,
        "__doc__": message.doc or f"The {message.name!r} record of gatebook.wire.internal.",
        "message": message,
        "from_record": classmethod(from_record),
    }
    # Subclassing keeps the generated tuple class and adds the table entry and the
    # enum-aware constructor without another per-message definition.
    return type(base.__name__, (base,), namespace)


def _repr(self):
    # The class name already says which message; enum members print as Side.BUY.
    shown = (f"{name}={_show(value)}" for name, value in zip(self._fields[1:], self[1:]))
    return f"{type(self).__name__}({', '.join(shown)})"


def _show(value):
    return f"{type(value).__name__}.{value.name}" if isinstance(value, IntEnum) else repr(value)


def _as_member(enum: "type[IntEnum]", value: Any) -> Any:
    try:
        return enum(value)
    except (ValueError, TypeError):
        return value


def classes_for(*messages: Message) -> "dict[int, type[tuple]]":
    """Type code -> view class, one per message; codes must be distinct."""
    out: "dict[int, type[tuple]]" = {}
    for message in messages:
        if message.code in out:
            raise ValueError(f"type code {message.code} used twice ({message.name})")
        out[message.code] = record_class(message)
    return out


#: Type code -> view class for every command and event of gatebook.wire.internal.
CLASSES = classes_for(*internal.COMMANDS.messages, *internal.EVENTS.messages)

_BY_NAME = {cls.__name__: cls for cls in CLASSES.values()}
NewOrder      = _BY_NAME["NewOrder"]
Cancel        = _BY_NAME["Cancel"]
Replace       = _BY_NAME["Replace"]
MassCancel    = _BY_NAME["MassCancel"]
Admin         = _BY_NAME["Admin"]
Accepted      = _BY_NAME["Accepted"]
Rejected      = _BY_NAME["Rejected"]
Executed      = _BY_NAME["Executed"]
Cancelled     = _BY_NAME["Cancelled"]
Replaced      = _BY_NAME["Replaced"]
StopTriggered = _BY_NAME["StopTriggered"]
Trade         = _BY_NAME["Trade"]
Level         = _BY_NAME["Level"]
TradingState  = _BY_NAME["TradingState"]
Done          = _BY_NAME["Done"]


def named(record: "tuple", classes: "dict[int, type[tuple]] | None" = None) -> "tuple":
    """The view of a plain command or event tuple, chosen by its type byte.

    Parameters
    ----------
    record : tuple
        ``(type code, seq, ts, ...)`` as the sequencer or the engine makes it.
    classes : dict, optional
        Type code -> view class (`classes_for`); the internal tables' by default.

    Raises
    ------
    ValueError
        The record is not a tuple, its type byte names no message, or it has the
        wrong number of fields for that message.
    """
    table = CLASSES if classes is None else classes
    if not isinstance(record, tuple) or not record:
        raise ValueError(f"not a record: {record!r:.80}")
    cls = table.get(record[0]) if isinstance(record[0], int) else None
    if cls is None:
        raise ValueError(f"no message has type code {record[0]!r:.20}")
    if len(record) != len(cls._fields):
        raise ValueError(f"{cls.message.name}: {len(record)} values, the table has "
                         f"{len(cls._fields)} (type code included)")
    return cls.from_record(record)


_STUB_HEAD = '''\
# Generated from gatebook/wire/internal.py by stub_text() (named.py's REGENERATE_STUB);
# do not edit: tests/test_public_api.py fails when it is stale. The classes are made at
# run time (named.py); this file only tells type checkers their fields.
from typing import Any, NamedTuple

from .enums import {enums}
from .layout import Message

__all__ = {all_names!r}

CODE_FIELD: str
REGENERATE_STUB: str
CLASSES: dict[int, type[tuple]]

def class_name(message: Message) -> str: ...
def record_class(message: Message) -> type[tuple]: ...
def classes_for(*messages: Message) -> dict[int, type[tuple]]: ...
def stub_text() -> str: ...
def named(record: tuple, classes: dict[int, type[tuple]] | None = None) -> Any: ...
'''


def stub_text() -> str:
    """The text of named.pyi: one typed NamedTuple per message, from the tables.

    An enumerated field is typed ``Enum | int``: a value outside the enum stays an int.
    """
    views = list(CLASSES.values())
    enums = sorted({field.enum.__name__ for cls in views for field in cls.message.fields
                    if field.enum is not None})
    parts = [_STUB_HEAD.format(enums=", ".join(enums), all_names=__all__)]
    for cls in views:
        lines = [f"class {cls.__name__}(NamedTuple):", f"    code: int"]
        lines += [f"    {field.name}: {field.enum.__name__ + ' | int' if field.enum else 'int'}"
                  for field in cls.message.fields]
        lines += ["    @property",
                  "    def message(self) -> Message: ...",
                  "    @classmethod",
                  f"    def from_record(cls, record: tuple) -> {cls.__name__}: ..."]
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)
