"""A paid term or change at the wholesaler, and the licence that follows it.

Runs in an outbox consumer's transaction: a wholesaler that is down (a temporary error) fails the
delivery, which the sweep tries again with backoff; one that refuses sends the charge's order to
an operator as needs-attention, the money kept and nothing dropped.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import select

from commerce.models import FulfilmentStatus, Order, OrderLine
from events import OrderDelivered, emit
from extensions import db
from fulfilment.models import DeliveredUnit, FulfilmentLine
from fulfilment.wholesalers import (
    PermanentWholesalerError,
    TemporaryWholesalerError,
    UnsupportedOperation,
    WholesalerError,
)
from licensing.services import LicenceRequest, issue_licence
from subscriptions.models import ChargeKind, Subscription, SubscriptionCharge, SubscriptionItem
from subscriptions.services import _note, ensure_fulfilment_status

log = logging.getLogger(__name__)


def provision(charge_id: uuid.UUID) -> None:
    """Renew or resize each product at its wholesaler, then sign the licences of the new term."""
    charge = db.session.get(SubscriptionCharge, charge_id)
    assert charge is not None
    order = db.session.get(Order, charge.order_id)
    sub = db.session.get(Subscription, charge.subscription_id)
    assert order is not None and sub is not None
    if FulfilmentStatus(order.fulfilment_status) in (FulfilmentStatus.DELIVERED,
                                                     FulfilmentStatus.NEEDS_ATTENTION):
        return  # done before: a repeated delivery
    refusals: list[str] = []
    lines = [line for line in order.lines if line.subscription_action in ("renewal", "seats")]
    for line in lines:
        item = _item(sub, line)
        if item is None:
            refusals.append(f"{line.product_code}: not in the subscription")
            continue
        try:
            _at_wholesaler(charge, item, line)
        except TemporaryWholesalerError:
            raise  # the relay tries again later
        except (PermanentWholesalerError, UnsupportedOperation, WholesalerError) as exc:
            refusals.append(f"{item.product_code}: {exc}")
            continue
        _licence(sub, item, line, order)
    if not lines:
        return  # an added application is bought and delivered by fulfilment like any line
    if refusals:
        reason = "; ".join(refusals)
        _note(sub, "needs_attention", reason, order_id=order.id)
        ensure_fulfilment_status(order, FulfilmentStatus.NEEDS_ATTENTION, reason[:500])
        log.error("subscription %s, order %s: %s", sub.number, order.number, reason)
        return
    ensure_fulfilment_status(order, FulfilmentStatus.DELIVERED,
                             "subscription renewed" if charge.kind == ChargeKind.RENEWAL
                             else "users added")
    emit(OrderDelivered(order_id=order.id))


def _item(sub: Subscription, line: OrderLine) -> SubscriptionItem | None:
    return next((i for i in sub.items if i.product_id == line.product_id), None)


def _at_wholesaler(charge: SubscriptionCharge, item: SubscriptionItem, line: OrderLine) -> None:
    from fulfilment.services import wholesaler

    if not (item.wholesaler_code and item.supplier_subscription_id):
        return  # the wholesaler keeps no subscription for it: nothing to renew there
    reference = f"{charge.id.hex[:20]}-{item.id.hex[:8]}"
    with wholesaler(item.wholesaler_code) as adapter:
        if line.subscription_action == "renewal":
            assert line.renews_until is not None
            adapter.renew_subscription(item.supplier_subscription_id, reference=reference,
                                       seats=item.seats, until=line.renews_until)
        else:
            adapter.change_subscription(item.supplier_subscription_id, reference=reference,
                                        seats=item.seats)


def origin_key_hash(item: SubscriptionItem) -> str | None:
    """The product key the item was delivered with (its first active unit's), as a hash."""
    return db.session.scalar(
        select(DeliveredUnit.product_key_sha256)
        .join(FulfilmentLine, FulfilmentLine.id == DeliveredUnit.fulfilment_line_id)
        .where(FulfilmentLine.order_line_id == item.origin_order_line_id,
               DeliveredUnit.replaced_at.is_(None))
        .order_by(DeliveredUnit.unit))


def _licence(sub: Subscription, item: SubscriptionItem, line: OrderLine, order: Order) -> None:
    """A signed licence for the item's users to the end of the paid term (issued once)."""
    digest = origin_key_hash(item)
    if digest is None:
        _note(sub, "licence", f"{item.product_code}: no delivered key to extend",
              order_id=order.id)
        return
    product = item.product
    issue_licence(LicenceRequest(
        order_line_ref=str(line.id), unit=1, product_code=product.code, edition=product.edition,
        seats=max(1, product.seats) * item.seats, order_ref=order.number,
        partner=sub.partner.slug, buyer_ref=sub.email, product_key_sha256=digest,
        expires_at=line.renews_until))


def attach_delivered_product(order_line_id: uuid.UUID, wholesaler_code: str | None,
                             supplier_subscription_id: str | None) -> None:
    """An application added by a change was delivered: keep its wholesaler's subscription id."""
    item = db.session.scalar(select(SubscriptionItem)
                             .where(SubscriptionItem.origin_order_line_id == order_line_id))
    if item is not None and item.supplier_subscription_id is None:
        item.wholesaler_code = wholesaler_code
        item.supplier_subscription_id = supplier_subscription_id
