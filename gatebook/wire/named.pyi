# Generated from gatebook/wire/internal.py by stub_text() (named.py's REGENERATE_STUB);
# do not edit: tests/test_public_api.py fails when it is stale. The classes are made at
# run time (named.py); this file only tells type checkers their fields.
from typing import Any, NamedTuple

from .enums import AdminAction, CancelReason, MassCancelScope, OrderType, RejectReason, Side, TimeInForce
from .layout import Message

__all__ = ['named', 'record_class', 'classes_for', 'stub_text', 'CLASSES', 'NewOrder', 'Cancel', 'Replace', 'MassCancel', 'Admin', 'Accepted', 'Rejected', 'Executed', 'Cancelled', 'Replaced', 'StopTriggered', 'Trade', 'Level', 'TradingState', 'Done']

CODE_FIELD: str
REGENERATE_STUB: str
CLASSES: dict[int, type[tuple]]

def class_name(message: Message) -> str: ...
def record_class(message: Message) -> type[tuple]: ...
def classes_for(*messages: Message) -> dict[int, type[tuple]]: ...
def stub_text() -> str: ...
def named(record: tuple, classes: dict[int, type[tuple]] | None = None) -> Any: ...

class NewOrder(NamedTuple):
    code: int
    seq: int
    ts: int
    symbol: int
    order_id: int
    user: int
    side: Side | int
    order_type: OrderType | int
    tif: TimeInForce | int
    price: int
    stop_price: int
    qty: int
    @property
    def message(self) -> Message: ...
    @classmethod
    def from_record(cls, record: tuple) -> NewOrder: ...

class Cancel(NamedTuple):
    code: int
    seq: int
    ts: int
    order_id: int
    user: int
    @property
    def message(self) -> Message: ...
    @classmethod
    def from_record(cls, record: tuple) -> Cancel: ...

class Replace(NamedTuple):
    code: int
    seq: int
    ts: int
    order_id: int
    user: int
    price: int
    qty: int
    @property
    def message(self) -> Message: ...
    @classmethod
    def from_record(cls, record: tuple) -> Replace: ...

class MassCancel(NamedTuple):
    code: int
    seq: int
    ts: int
    scope: MassCancelScope | int
    user: int
    symbol: int
    @property
    def message(self) -> Message: ...
    @classmethod
    def from_record(cls, record: tuple) -> MassCancel: ...

class Admin(NamedTuple):
    code: int
    seq: int
    ts: int
    action: AdminAction | int
    symbol: int
    @property
    def message(self) -> Message: ...
    @classmethod
    def from_record(cls, record: tuple) -> Admin: ...

class Accepted(NamedTuple):
    code: int
    seq: int
    ts: int
    symbol: int
    order_id: int
    user: int
    side: Side | int
    order_type: OrderType | int
    tif: TimeInForce | int
    price: int
    stop_price: int
    qty: int
    @property
    def message(self) -> Message: ...
    @classmethod
    def from_record(cls, record: tuple) -> Accepted: ...

class Rejected(NamedTuple):
    code: int
    seq: int
    ts: int
    command: int
    symbol: int
    order_id: int
    user: int
    reason: RejectReason | int
    @property
    def message(self) -> Message: ...
    @classmethod
    def from_record(cls, record: tuple) -> Rejected: ...

class Executed(NamedTuple):
    code: int
    seq: int
    ts: int
    symbol: int
    match_id: int
    price: int
    qty: int
    aggressor_side: Side | int
    aggressor_id: int
    aggressor_user: int
    aggressor_leaves: int
    resting_id: int
    resting_user: int
    resting_leaves: int
    @property
    def message(self) -> Message: ...
    @classmethod
    def from_record(cls, record: tuple) -> Executed: ...

class Cancelled(NamedTuple):
    code: int
    seq: int
    ts: int
    symbol: int
    order_id: int
    user: int
    qty: int
    reason: CancelReason | int
    @property
    def message(self) -> Message: ...
    @classmethod
    def from_record(cls, record: tuple) -> Cancelled: ...

class Replaced(NamedTuple):
    code: int
    seq: int
    ts: int
    symbol: int
    order_id: int
    user: int
    price: int
    qty: int
    kept_priority: int
    @property
    def message(self) -> Message: ...
    @classmethod
    def from_record(cls, record: tuple) -> Replaced: ...

class StopTriggered(NamedTuple):
    code: int
    seq: int
    ts: int
    symbol: int
    order_id: int
    user: int
    stop_price: int
    trigger_price: int
    @property
    def message(self) -> Message: ...
    @classmethod
    def from_record(cls, record: tuple) -> StopTriggered: ...

class Trade(NamedTuple):
    code: int
    seq: int
    ts: int
    symbol: int
    match_id: int
    price: int
    qty: int
    aggressor_side: Side | int
    @property
    def message(self) -> Message: ...
    @classmethod
    def from_record(cls, record: tuple) -> Trade: ...

class Level(NamedTuple):
    code: int
    seq: int
    ts: int
    symbol: int
    side: Side | int
    price: int
    qty: int
    orders: int
    @property
    def message(self) -> Message: ...
    @classmethod
    def from_record(cls, record: tuple) -> Level: ...

class TradingState(NamedTuple):
    code: int
    seq: int
    ts: int
    symbol: int
    halted: int
    @property
    def message(self) -> Message: ...
    @classmethod
    def from_record(cls, record: tuple) -> TradingState: ...

class Done(NamedTuple):
    code: int
    seq: int
    ts: int
    command: int
    affected: int
    @property
    def message(self) -> Message: ...
    @classmethod
    def from_record(cls, record: tuple) -> Done: ...
