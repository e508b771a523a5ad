"""Commissions' consumers of domain events: credit on delivery, take back on refund.

Each runs in the outbox relay's transaction and never commits; the ledger's unique entries make a
repeated delivery harmless. A failure stays pending on its delivery and is retried by the sweep,
so an accrual that failed once is credited exactly once later.
"""

from __future__ import annotations

from sqlalchemy import select

from commerce.models import OrderLine
from commissions.attribution import attach_client, attribution_for
from commissions.services import accrue_for_delivery, accrue_for_line, clawback_for_refund
from events import (
    BackupRenewed,
    Event,
    LineDelivered,
    LineRefunded,
    SubscriptionCharged,
    consumer,
)


def _attributed(event: Event) -> bool:
    """Did a reseller bring this order? If not, there is nothing to credit, nobody to attach."""
    return event.order_id is not None and attribution_for(event.order_id) is not None


@consumer("commissions", LineDelivered, wanted=_attributed)
def credit_delivered_line(event: Event) -> None:
    """Attach the buyer to their reseller and credit the line and its add-ons, once."""
    from extensions import db
    from fulfilment.models import FulfilmentLine

    assert event.order_id is not None
    line = db.session.get(FulfilmentLine, event.line_id)  # type: ignore[attr-defined]
    delivered_at = line.delivered_at if line is not None else None
    attach_client(event.order_id)
    accrue_for_delivery(event.order_line_id, now=delivered_at)  # type: ignore[attr-defined]


@consumer("commissions", BackupRenewed)
def credit_backup_renewal(event: Event) -> None:
    """A renewal is a backup sale: the buyer's reseller earns the add-on rate, once."""
    accrue_for_line(event.order_line_id)  # type: ignore[attr-defined]


@consumer("commissions", SubscriptionCharged, wanted=_attributed)
def credit_subscription_charge(event: Event) -> None:
    """A paid term or change of a subscription: each line earns the event it names, once."""
    from extensions import db
    from subscriptions.models import SubscriptionCharge

    charge = db.session.get(SubscriptionCharge, event.charge_id)  # type: ignore[attr-defined]
    if charge is None:
        return
    for line_id in db.session.scalars(select(OrderLine.id).where(
            OrderLine.order_id == event.order_id,
            OrderLine.subscription_action.in_(("renewal", "seats")))):
        accrue_for_line(line_id, now=charge.paid_at)


@consumer("commissions", LineRefunded)
def take_back_refunded_line(event: Event) -> None:
    clawback_for_refund(event.order_line_id, event.reason)  # type: ignore[attr-defined]
