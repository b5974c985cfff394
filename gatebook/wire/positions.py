"""Where each field sits in a record tuple, by name, generated from the wire tables.

The hot path passes records as plain tuples (gatebook.wire.codec): the type
byte first for a message that has one, then every field in table order. A
reader that wrote ``event[10]`` would silently read the wrong field the day a
table gains a field (STYLE principle 13); a reader writes
``event[INTERNAL.EXECUTED.aggressor_leaves]`` instead, or, on the hot path, binds
the index into a module-level int once::

    from gatebook.wire.positions import INTERNAL, LINK

    _AGGRESSOR_LEAVES = INTERNAL.EXECUTED.aggressor_leaves   # an int, bound at import
    _PUNT_REASON      = LINK.PUNT.reason

There is one namespace per table module (`INTERNAL`, `LINK`, `ITCH`, `OUCH`,
`WAL`, `MOLDUDP64`, `LINK_FRAME`, `ETHERNET`) holding one `FieldPositions` per
message, under the same name the table module gives the message. Each
`FieldPositions` has an int attribute per field, ``code`` (0) when the message
has a type byte, and ``len()``: the number of values in the record tuple.
Nothing here is written by hand per message: change a table and its indexes
change with it.
"""

from . import ethernet, internal, itch50, link, link_frame, moldudp64, ouch, wal
from .layout import Message

__all__ = [
    "FieldPositions", "TablePositions", "positions_of", "require_field_order", "CODE",
    "INTERNAL", "LINK", "ITCH", "OUCH", "WAL", "MOLDUDP64", "LINK_FRAME", "ETHERNET",
]

#: Index of the type byte in every record of a message that has one.
CODE = 0


class FieldPositions:
    """Read-only int indexes of one message's fields in its record tuple.

    Parameters
    ----------
    message : Message
        The table entry (gatebook.wire.layout). Its fields become attributes,
        numbered from 1 when the message has a type byte (``code`` is then 0),
        from 0 when it is a bare header. No other public attribute exists, so
        no field name (WAL's ``message``, say) is ever shadowed.
    """

    __slots__ = ("_message", "_indexes")

    def __init__(self, message: Message):
        first = 0 if message.code is None else 1
        indexes = {name: index for index, name in enumerate(message.field_names, start=first)}
        if message.code is not None:
            if "code" in indexes:
                raise ValueError(f"{message.name}: a field named 'code' would hide the type byte")
            indexes["code"] = CODE
        object.__setattr__(self, "_message", message)
        object.__setattr__(self, "_indexes", indexes)

    def __getattr__(self, name: str) -> int:
        try:
            return self._indexes[name]
        except KeyError:
            raise AttributeError(f"{self._message.name} has no field {name!r}") from None

    def __setattr__(self, name, value):
        raise AttributeError("field positions come from the tables and cannot be set")

    def __len__(self) -> int:
        """Values in the record tuple, the type byte included."""
        return (self._message.code is not None) + len(self._message.fields)

    def __dir__(self):
        return sorted(self._indexes)

    def __repr__(self):
        return f"<positions of {self._message.name}: {len(self)} values>"


class TablePositions:
    """`FieldPositions` for every message of one table module, by the module's names.

    Parameters
    ----------
    module : module
        A table module of gatebook.wire; every `Message` it exports in
        ``__all__`` gets an attribute of the same name.
    """

    def __init__(self, module):
        self._module_name = module.__name__
        for name in module.__all__:
            value = getattr(module, name)
            if isinstance(value, Message):
                object.__setattr__(self, name, FieldPositions(value))

    def __setattr__(self, name, value):
        if name != "_module_name":
            raise AttributeError("field positions come from the tables and cannot be set")
        object.__setattr__(self, name, value)

    def __repr__(self):
        return f"<field positions of {self._module_name}>"


def positions_of(message: Message) -> FieldPositions:
    """The `FieldPositions` of any table entry, including ones no module exports.

    Parameters
    ----------
    message : Message
        A table entry.

    Returns
    -------
    FieldPositions
    """
    return FieldPositions(message)


def require_field_order(message: Message, field_names: "tuple[str, ...]", where: str) -> None:
    """Refuse to import a module that builds or unpacks `message` whole, in an old order.

    A hot-path writer that builds a record as one tuple literal, or unpacks
    one whole, states the order it assumes here, at module level, so a table
    change stops the import instead of shifting values silently.

    Parameters
    ----------
    message : Message
        The table entry.
    field_names : tuple of str
        The fields in the order the module builds or unpacks them (type byte excluded).
    where : str
        The module, for the error message.

    Raises
    ------
    ImportError
        When the table's field order is not `field_names`.
    """
    if tuple(field_names) != message.field_names:
        raise ImportError(f"{where} builds {message.name} as {tuple(field_names)}; "
                          f"the table now says {message.field_names}")


INTERNAL   = TablePositions(internal)
LINK       = TablePositions(link)
ITCH       = TablePositions(itch50)
OUCH       = TablePositions(ouch)
WAL        = TablePositions(wal)
MOLDUDP64  = TablePositions(moldudp64)
LINK_FRAME = TablePositions(link_frame)
ETHERNET   = TablePositions(ethernet)
