"""The credit line's consumer: a refund of an order bought on account credits the account.

No card was charged for such an order, so `payments/refunds.py` gives no money back; the
refund's `RefundSucceeded` reaches this consumer, which books the refund's amount as a credit
on the account that was charged, once per refund (the entry's refund id is unique).
"""

from __future__ import annotations

from sqlalchemy import select

from commerce.models import Order, Refund
from credit.models import CreditEntry, EntryKind
from credit.orders import GATEWAY
from events import Event, RefundSucceeded, consumer
from extensions import db, utcnow


def _on_account(event: Event) -> bool:
    order = db.session.get(Order, event.order_id) if event.order_id else None
    return order is not None and order.gateway == GATEWAY


@consumer("credit", RefundSucceeded, wanted=_on_account)
def credit_refund(event: Event) -> None:
    """Book the refund as a credit on the account the order was charged to, once."""
    refund = db.session.get(Refund, event.refund_id)  # type: ignore[attr-defined]
    assert refund is not None
    if db.session.scalar(select(CreditEntry.id).where(CreditEntry.refund_id == refund.id)):
        return
    charge = db.session.scalar(select(CreditEntry).where(CreditEntry.order_id == refund.order_id))
    if charge is None:
        raise LookupError(f"order {refund.order_id} was paid on account but has no charge")
    db.session.add(CreditEntry(
        account_id=charge.account_id, kind=EntryKind.REFUND, amount_cents=-refund.amount_cents,
        currency=refund.currency, refund_id=refund.id, booked_at=refund.completed_at or utcnow(),
        description=f"{refund.order.number} · refund {refund.sequence}"[:200]))
    db.session.flush()
