"""host/fix/dictionary.py against Debian's QuickFIX headers (generated from FIX44.xml).

Every tag number, every field type, every FIX 4.4 message's required fields (the
arguments of its constructor in quickfix/fix44/<Message>.h) and every enum value our
table names must be QuickFIX's. Skipped, saying why, without libquickfix-dev.
"""

import re
from pathlib import Path

import pytest

from gatebook.host.fix import dictionary

HEADERS = Path("/usr/include/quickfix")
pytestmark = pytest.mark.skipif(not (HEADERS / "fix44").is_dir(),
                                reason="needs Debian's libquickfix-dev (scripts/bootstrap)")


def _text(name):
    return (HEADERS / name).read_text(errors="replace")


def test_tag_numbers_and_types_are_quickfix_s():
    numbers, fields = _text("FixFieldNumbers.h"), _text("FixFields.h")
    for tag, (name, kind) in dictionary.FIELD_TYPES.items():
        found = re.search(rf"const int {name} = (\d+);", numbers)
        assert found and int(found.group(1)) == tag, name
        assert re.search(rf"DEFINE_{kind}\({name}\);", fields), (name, kind)


def test_required_fields_are_the_fix44_constructors_arguments():
    for msg_type, (name, required) in dictionary.MESSAGES.items():
        header = _text(f"fix44/{name}.h")
        assert f'MsgType("{msg_type}")' in header, name
        constructor = re.search(rf"\n    {name}\(\n(.*?)\)\n", header, re.S)
        names = re.findall(r"const FIX::(\w+)& a", constructor.group(1)) if constructor else []
        assert {dictionary.FIELD_TYPES[tag][0] for tag in required} == set(names), name


@pytest.mark.parametrize("table, field", [
    ("SIDE", "Side"), ("ORD_TYPE", "OrdType"), ("TIME_IN_FORCE", "TimeInForce"),
    ("EXEC_TYPE", "ExecType"), ("ORD_STATUS", "OrdStatus"),
    ("CXL_REJ_RESPONSE_TO", "CxlRejResponseTo"), ("MASS_CANCEL_TYPE", "MassCancelRequestType"),
    ("MASS_CANCEL_RESPONSE", "MassCancelResponse"), ("SESSION_REJECT", "SessionRejectReason")])
def test_values_are_quickfix_s(table, field):
    values = _text("FixValues.h")
    for name, value in getattr(dictionary, table).items():
        found = re.search(rf"const (?:char|int) {field}_{name} = '?(\w)'?;" if isinstance(
            value, str) else rf"const int {field}_{name} = (\d+);", values)
        assert found and found.group(1) == str(value), (field, name)
