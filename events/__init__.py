"""Domain events in a transactional outbox, relayed to their consumers as Celery tasks.

The outbox table is the record (`events.models`), Celery the engine (`events.tasks`); each
consumer runs in the relay's transaction (`events.relay`). Consumers live beside the code they
drive: `fulfilment.consumers`, `backups.consumers`, `commissions.consumers`,
`webhooks.consumers`, `invoicing.consumers`, `subscriptions.consumers`.
"""

from __future__ import annotations

from flask import Flask

from events.outbox import consumer, emit
from events.types import (
    BackupDue,
    BackupExpiring,
    BackupRenewed,
    Event,
    InvoiceIssued,
    KeyReplaced,
    LicenceRevoked,
    LineDelivered,
    LineNeedsAttention,
    LineRefunded,
    OrderDelivered,
    OrderPaid,
    RefundSucceeded,
    SubscriptionCancelled,
    SubscriptionCharged,
    SubscriptionEnded,
    SubscriptionLineDelivered,
    SubscriptionPaymentFailed,
    SubscriptionStarted,
    SubscriptionSuspended,
)

__all__ = [
    "BackupDue", "BackupExpiring", "BackupRenewed", "Event", "InvoiceIssued", "KeyReplaced",
    "LicenceRevoked", "LineDelivered", "LineNeedsAttention", "LineRefunded", "OrderDelivered",
    "OrderPaid", "RefundSucceeded", "SubscriptionCancelled", "SubscriptionCharged",
    "SubscriptionEnded", "SubscriptionLineDelivered", "SubscriptionPaymentFailed",
    "SubscriptionStarted",
    "SubscriptionSuspended", "consumer", "emit", "init_app",
]


def init_app(app: Flask) -> None:
    """Register the outbox's tables and tasks; the sweep runs it with fulfilment's."""
    from events import models, tasks  # noqa: F401 - tables and tasks register themselves
