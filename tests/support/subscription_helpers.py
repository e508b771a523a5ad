"""Helpers for the subscription tests: find a subscription, move its clock, read the ledger."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from commerce.models import Order
from commissions.models import LedgerEntry, Reseller
from subscriptions.models import Subscription, SubscriptionItem

DECLINED = "4000000000000002"  # the test card that is always declined

def subscription_of(db, order: Order) -> Subscription:  # type: ignore[no-untyped-def]
    sub = db.session.scalar(select(Subscription).join(
        SubscriptionItem, SubscriptionItem.subscription_id == Subscription.id)
        .where(Subscription.origin_order_id == order.id))
    assert sub is not None, "the delivered order opened no subscription"
    return sub


def set_term(db, sub: Subscription, start: datetime, end: datetime) -> None:  # type: ignore[no-untyped-def]
    """Move a subscription's clock: it started at `start` and is paid to `end`."""
    sub.started_at, sub.current_period_start, sub.current_period_end = start, start, end
    for item in sub.items:
        item.started_at = start
    db.session.commit()


def ledger_of(db, reseller: Reseller) -> list[LedgerEntry]:  # type: ignore[no-untyped-def]
    """The reseller's entries, in the order they were written."""
    db.session.expire_all()
    return list(db.session.scalars(select(LedgerEntry).where(
        LedgerEntry.reseller_id == reseller.id).order_by(LedgerEntry.created_at,
                                                         LedgerEntry.amount_cents)))
