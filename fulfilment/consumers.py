"""Fulfilment's consumers of domain events: start a paid order, e-mail the buyer.

Each runs in the outbox relay's transaction (events/relay.py) and never commits.
"""

from __future__ import annotations

from commerce.models import utcnow
from events import (
    BackupRenewed,
    Event,
    KeyReplaced,
    LineDelivered,
    LineNeedsAttention,
    OrderPaid,
    consumer,
)
from fulfilment import emails, services


@consumer("fulfilment", OrderPaid)
def start_paid_order(event: Event) -> None:
    """Create the order's lines and make each one's first try at its wholesaler."""
    assert event.order_id is not None
    services.fulfil_in_transaction(event.order_id, utcnow())


@consumer("buyer-email", LineDelivered, LineNeedsAttention)
def line_settled(event: Event) -> None:
    """Once no line of the order is still on its way, e-mail the buyer what arrived and what not."""
    assert event.order_id is not None
    emails.line_settled(event.order_id, event.line_id)  # type: ignore[attr-defined]


@consumer("buyer-email", KeyReplaced)
def key_replaced(event: Event) -> None:
    assert event.order_id is not None
    emails.send_once(f"replacement:{event.unit_id}", event.order_id, "replacement")  # type: ignore[attr-defined]


@consumer("buyer-email", BackupRenewed)
def backup_renewed(event: Event) -> None:
    assert event.order_id is not None
    emails.send_once(f"renewal:{event.order_id}", event.order_id, "renewal")
