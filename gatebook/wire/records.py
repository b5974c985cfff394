"""Named access to record tuples, for people and tests.

The hot path passes records as plain tuples; these helpers give them names by
looking the type code up in the tables. For attribute access (`event.qty`) use
gatebook.wire.named, which generates a NamedTuple view per message.
"""

from . import internal
from .enums import CancelReason, RejectReason

__all__ = ["make", "as_dict", "message_of", "describe"]

_BY_CODE = {message.code: message for message in internal.COMMANDS.messages + internal.EVENTS.messages}


def message_of(record):
    """The table entry (gatebook.wire.layout.Message) of a command or event tuple.

    Raises
    ------
    KeyError
        The record's type byte names no internal command or event.
    """
    return _BY_CODE[record[0]]


def make(message, **fields):
    """A record tuple for `message` with `fields` given by name; every field is required.

    Raises
    ------
    TypeError
        A field is missing or one the table does not have is given.
    """
    missing = set(message.field_names) - fields.keys()
    extra = fields.keys() - set(message.field_names)
    if missing or extra:
        raise TypeError(f"{message.name}: missing {sorted(missing)}, unexpected {sorted(extra)}")
    return (message.code,) + tuple(fields[name] for name in message.field_names)


def as_dict(record):
    """``{"type": message name, field: value, ...}``; enum values by member name, for JSON."""
    message = message_of(record)
    out = {"type": message.name}
    for field, value in zip(message.fields, record[1:]):
        out[field.name] = field.enum(value).name if field.enum is not None and _is_member(field.enum, value) else value
    return out


def _is_member(enum, value):
    try:
        enum(value)
        return True
    except ValueError:
        return False


def describe(record):
    """One line for a person: the message name and its fields (seq and ts left out)."""
    fields = as_dict(record)
    name = fields.pop("type")
    fields.pop("seq", None)
    fields.pop("ts", None)
    if "command" in fields:
        fields["command"] = _BY_CODE[fields["command"]].name if fields["command"] in _BY_CODE else fields["command"]
    text = " ".join(f"{key}={value}" for key, value in fields.items())
    reason = fields.get("reason")
    if name == "rejected" and reason in RejectReason.__members__:
        text += f" ({RejectReason[reason].text})"
    elif name == "cancelled" and reason in CancelReason.__members__:
        text += f" ({CancelReason[reason].text})"
    return f"{name} {text}"
