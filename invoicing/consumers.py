"""Invoicing's consumers: an invoice when an order is paid, a credit note when a refund went
through, each PDF once its number is committed.

Each runs in the outbox relay's transaction (events/relay.py) and never commits.
"""

from __future__ import annotations

from events import Event, InvoiceIssued, OrderPaid, RefundSucceeded, consumer
from invoicing import services


@consumer("invoicing", OrderPaid)
def invoice_paid_order(event: Event) -> None:
    assert event.order_id is not None
    services.issue_invoice(event.order_id)


@consumer("invoicing", RefundSucceeded)
def credit_refund(event: Event) -> None:
    services.issue_credit_note(event.refund_id)  # type: ignore[attr-defined]


@consumer("invoice-pdf", InvoiceIssued)
def render_issued(event: Event) -> None:
    services.render_and_store(event.invoice_id)  # type: ignore[attr-defined]
