"""Record helpers for the matcher: window entries and the command's stamp.

A window entry (`gatebook.hdl.layouts.ENTRY`) is made from a new order in two
places (a resting add, a remainder that rests) and from a LOAD record, and is
copied field by field into the SPILL and FLUSH records, whose entry fields
carry the same names. These
helpers do both by name, so a field added to the tables reaches every copy.

Every sequenced command (all but the link records LOAD and OWN) starts with
the same `seq` and `ts` fields after its type byte, so in the `COMMAND` union
they occupy the same bits in every member: reading them through any one member
reads them for all. `check_stamp_overlap` proves that for the layouts the
tables give, and the matcher calls it when it elaborates.
"""

from amaranth.hdl import Signal

from .layouts import COMMAND, ENTRY

__all__ = ["STAMP_FIELDS", "UNSTAMPED_COMMANDS", "check_stamp_overlap", "command_stamp",
           "entry_from_record", "entry_from_order", "copy_entry"]

STAMP_FIELDS = ("seq", "ts")
"""The fields every event copies from the command that caused it."""

UNSTAMPED_COMMANDS = frozenset({"load", "own"})
"""Link records that carry no sequence number: they change state and emit no event."""

# The member the matcher reads the stamp through; any stamped member would do.
_STAMP_VIEW = "cancel"


def check_stamp_overlap(layout=COMMAND):
    """Check that every stamped member of a command union shares the stamp's bits.

    Parameters
    ----------
    layout : data.UnionLayout
        A command union whose members are `data.StructLayout`s (plus `code`).

    Raises
    ------
    ValueError
        When a stamped member lacks a stamp field, or places one at another
        offset or width than the member `command_stamp` reads it through.
    """
    reference = layout.members[_STAMP_VIEW]
    expected = {name: (reference[name].offset, reference[name].width) for name in STAMP_FIELDS}
    for member, shape in layout.members.items():
        if member == "code" or member in UNSTAMPED_COMMANDS:
            continue
        for name, place in expected.items():
            fields = getattr(shape, "members", {})
            actual = (shape[name].offset, shape[name].width) if name in fields else None
            if actual != place:
                raise ValueError(
                    f"command member {member!r} has {name} at (offset, width) {actual}, "
                    f"not {place} as in {_STAMP_VIEW!r}: events would carry the wrong {name}")


def command_stamp(command):
    """The `seq` and `ts` view of any stamped command in a `COMMAND` value.

    Valid for every member but LOAD and OWN, by the overlap `check_stamp_overlap`
    checks; the matcher only emits events for stamped commands.
    """
    return command[_STAMP_VIEW]


def entry_from_record(m, record, **overrides):
    """A window entry from any record that names the entry's fields (LOAD, NEW_ORDER).

    Parameters
    ----------
    m : Module
        Gets the combinational assignments.
    record : data.View
        Read by field name, one field per entry field not in `overrides`.
    **overrides : Value
        Entry fields the record names otherwise or not at all.

    Returns
    -------
    Signal(ENTRY)
    """
    entry = Signal(ENTRY)
    m.d.comb += [entry[name].eq(overrides[name] if name in overrides else record[name])
                 for name in ENTRY.members]
    return entry


def entry_from_order(m, order, qty):
    """A window entry for a NEW_ORDER view, resting `qty` shares.

    `qty` is the open quantity (the order's own, or what is left after fills);
    `prio_seq` is the order's `seq` (time priority is the sequence number
    that accepted it).
    """
    return entry_from_record(m, order, prio_seq=order.seq, qty=qty)


def copy_entry(m, record, entry):
    """Copy every field of a window entry into the same-named fields of `record`."""
    m.d.comb += [record[name].eq(entry[name]) for name in ENTRY.members]
