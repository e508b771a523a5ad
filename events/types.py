"""The typed domain events. Each names what happened, with the ids a consumer needs to act."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    """A domain event; subclasses set `kind`, the name stored in the outbox."""

    kind: ClassVar[str] = ""
    order_id: uuid.UUID | None

    def payload(self) -> dict[str, Any]:
        """The event as JSON: uuids as strings."""
        return {
            f.name: str(value) if isinstance(value, uuid.UUID) else value
            for f in dataclasses.fields(self)
            for value in [getattr(self, f.name)]
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Event:
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            value = payload.get(f.name)
            if value is not None and "UUID" in str(f.type):
                value = uuid.UUID(value)
            values[f.name] = value
        return cls(**values)


@dataclass(frozen=True)
class OrderPaid(Event):
    """The payment of an order was confirmed: fulfilment starts."""

    kind: ClassVar[str] = "OrderPaid"


@dataclass(frozen=True)
class OrderDelivered(Event):
    """Every live line of an order is delivered (emitted once, where the order's status moves)."""

    kind: ClassVar[str] = "OrderDelivered"


@dataclass(frozen=True)
class LineDelivered(Event):
    """A software line's keys and licences are stored."""

    kind: ClassVar[str] = "LineDelivered"
    line_id: uuid.UUID  # the fulfilment line
    order_line_id: uuid.UUID


@dataclass(frozen=True)
class LineNeedsAttention(Event):
    """A line can go no further without an operator (tries exhausted, a refusal, a bad answer)."""

    kind: ClassVar[str] = "LineNeedsAttention"
    line_id: uuid.UUID
    order_line_id: uuid.UUID
    reason: str


@dataclass(frozen=True)
class LineRefunded(Event):
    """A line was refunded and cancelled: its reseller's commission is taken back."""

    kind: ClassVar[str] = "LineRefunded"
    order_line_id: uuid.UUID
    reason: str


@dataclass(frozen=True)
class LicenceRevoked(Event):
    """A signed licence was revoked (refund, replacement, operator)."""

    kind: ClassVar[str] = "LicenceRevoked"
    licence_id: uuid.UUID
    reason: str


@dataclass(frozen=True)
class KeyReplaced(Event):
    """A unit's key reported as already activated was replaced: the buyer gets the new one."""

    kind: ClassVar[str] = "KeyReplaced"
    line_id: uuid.UUID
    unit_id: uuid.UUID  # the new unit


@dataclass(frozen=True)
class BackupDue(Event):
    """A line the buyer protected must have its current keys in the vault."""

    kind: ClassVar[str] = "BackupDue"
    line_id: uuid.UUID
    order_line_id: uuid.UUID
    replacement: bool = False  # the line's keys changed since its backup was stored


@dataclass(frozen=True)
class BackupRenewed(Event):
    """A paid renewal extended a licence backup: the reseller earns the add-on rate."""

    kind: ClassVar[str] = "BackupRenewed"
    order_line_id: uuid.UUID


@dataclass(frozen=True)
class BackupExpiring(Event):
    """A licence backup expires within the reminder window (emitted once per expiry date)."""

    kind: ClassVar[str] = "BackupExpiring"
    backup_id: uuid.UUID
    expires_at: str  # ISO 8601


@dataclass(frozen=True)
class RefundSucceeded(Event):
    """A refund went through and its effects were applied: its credit note is owed (once)."""

    kind: ClassVar[str] = "RefundSucceeded"
    refund_id: uuid.UUID


@dataclass(frozen=True)
class InvoiceIssued(Event):
    """An invoice or a credit note got its number: its PDF is rendered and stored after."""

    kind: ClassVar[str] = "InvoiceIssued"
    invoice_id: uuid.UUID


@dataclass(frozen=True)
class SubscriptionLineDelivered(Event):
    """A line of a Microsoft 365 plan was delivered: it opens its subscription (or, added by a
    change, joins one)."""

    kind: ClassVar[str] = "SubscriptionLineDelivered"
    line_id: uuid.UUID  # the fulfilment line
    order_line_id: uuid.UUID


@dataclass(frozen=True)
class SubscriptionStarted(Event):
    """A delivered line opened a subscription: its later terms go to the billing provider."""

    kind: ClassVar[str] = "SubscriptionStarted"
    subscription_id: uuid.UUID


@dataclass(frozen=True)
class SubscriptionCharged(Event):
    """A term or a change of a subscription was paid (order_id is its order): provision it at
    the wholesaler, extend the licence, credit the reseller, tell the buyer."""

    kind: ClassVar[str] = "SubscriptionCharged"
    subscription_id: uuid.UUID
    charge_id: uuid.UUID


@dataclass(frozen=True)
class SubscriptionPaymentFailed(Event):
    """A term's charge was declined (order_id is its unpaid order): the dunning e-mail."""

    kind: ClassVar[str] = "SubscriptionPaymentFailed"
    subscription_id: uuid.UUID
    attempt: int
    first: bool


@dataclass(frozen=True)
class SubscriptionCancelled(Event):
    """The client stopped the renewal: it ends with the paid term."""

    kind: ClassVar[str] = "SubscriptionCancelled"
    subscription_id: uuid.UUID


@dataclass(frozen=True)
class SubscriptionSuspended(Event):
    """Still unpaid after the grace period: the subscription is stopped."""

    kind: ClassVar[str] = "SubscriptionSuspended"
    subscription_id: uuid.UUID


@dataclass(frozen=True)
class SubscriptionEnded(Event):
    """A cancelled subscription reached the end of its last term."""

    kind: ClassVar[str] = "SubscriptionEnded"
    subscription_id: uuid.UUID


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (OrderPaid, OrderDelivered, LineDelivered, LineNeedsAttention, LineRefunded,
                LicenceRevoked, KeyReplaced, BackupDue, BackupRenewed, BackupExpiring,
                RefundSucceeded, InvoiceIssued, SubscriptionLineDelivered, SubscriptionStarted,
                SubscriptionCharged,
                SubscriptionPaymentFailed, SubscriptionCancelled, SubscriptionSuspended,
                SubscriptionEnded)
}
