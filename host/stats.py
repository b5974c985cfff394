"""An event listener that keeps what a person asks about after a run."""

from collections import Counter, deque

from gatebook.wire.enums import RejectReason
from gatebook.wire.internal import EVENTS, EXECUTED, REJECTED, TRADE
from gatebook.wire.positions import CODE, INTERNAL

__all__ = ["RunStats"]

_REASON_INDEX = INTERNAL.REJECTED.reason
_QTY_INDEX = INTERNAL.EXECUTED.qty
_NAMES = {message.code: message.name for message in EVENTS.messages}
_TRADE, _EXECUTED, _REJECTED = TRADE.code, EXECUTED.code, REJECTED.code


class RunStats:
    """Counts events by type and rejects by reason; keeps the last trades.

    Subscribe it to an engine: `engine.subscribe(stats)`.
    """

    def __init__(self, keep_trades=10):
        self.commands = 0
        self.events = Counter()
        self.rejects = Counter()
        self.volume = 0
        self.last_trades = deque(maxlen=keep_trades)

    def __call__(self, events):
        self.commands += 1
        for event in events:
            code = event[CODE]
            self.events[code] += 1
            if code == _TRADE:
                self.last_trades.append(event)
            elif code == _EXECUTED:
                self.volume += event[_QTY_INDEX]
            elif code == _REJECTED:
                self.rejects[event[_REASON_INDEX]] += 1

    def count(self, message):
        return self.events[message.code]

    def by_name(self):
        return {_NAMES[code]: count for code, count in sorted(self.events.items())}

    def reject_summary(self):
        return [(RejectReason(reason).name, count) for reason, count in self.rejects.most_common()]

