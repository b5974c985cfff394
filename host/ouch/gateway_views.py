"""What a compiled gateway (gateway.py's `CompiledGateway`) shows of the tables it keeps in C.

The session tracker's numbers and the origins live in `dpdk_bridge/_ouchfast.c`;
these views give them the interfaces the readable gateway's `SessionTracker` and
origins dict have, so the code around a gateway reads either the same way.
"""

from .framing import Verdict

__all__ = ["CompiledTracker", "CompiledOrigins"]


class CompiledTracker:
    """A compiled gateway's session tracker: `SessionTracker`'s interface over
    the expected numbers and counters held in C."""

    def __init__(self, core):
        self._core = core

    expected = property(lambda self: self._core.expected(), doc="a copy")
    duplicates = property(lambda self: self._core.duplicates)
    gaps = property(lambda self: self._core.gaps)

    def check(self, session, sequence_number, count):
        return Verdict(*self._core.check(session, sequence_number, count))


class CompiledOrigins:
    """A compiled gateway's origins as much of a dict as their users need."""

    def __init__(self, core):
        self._core = core

    def pop(self, seq, default=None):
        found = self._core.origin(seq, True)
        return default if found is None else found

    def get(self, seq, default=None):
        found = self._core.origin(seq, False)
        return default if found is None else found

    def __getitem__(self, seq):
        found = self._core.origin(seq, False)
        if found is None:
            raise KeyError(seq)
        return found

    def __contains__(self, seq):
        return self._core.origin(seq, False) is not None

    def __len__(self):
        return len(self._core.origins())

    def __iter__(self):
        return iter(self._core.origins())

    def items(self):
        return self._core.origins().items()

    def __eq__(self, other):
        return self._core.origins() == (dict(other.items()) if isinstance(other, CompiledOrigins)
                                        else other)

    __hash__ = None
