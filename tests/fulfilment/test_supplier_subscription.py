"""A subscription product's purchase records the wholesaler's subscription id on its line."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from commerce.models import Order, utcnow
from fulfilment import services
from fulfilment.models import FulfilmentLine, LineStatus
from fulfilment.wholesalers import get_wholesaler


def _lines(db, order: Order) -> dict[str, FulfilmentLine]:
    lines = db.session.scalars(select(FulfilmentLine).where(FulfilmentLine.order_id == order.id))
    return {line.order_line.product.code: line for line in lines}


def test_a_synchronous_wholesaler_s_subscription_id_is_stored(wired, db, paid_order, sims):
    order = paid_order("arvato_shop", [("M365-FAMILY-1Y", 1), ("OFFICE-HOME-2024-WIN", 1)])
    lines = _lines(db, order)
    m365, office = lines["M365-FAMILY-1Y"], lines["OFFICE-HOME-2024-WIN"]
    held = sims["arvato"].state()["orders"][m365.supplier_reference]
    assert m365.status == LineStatus.DELIVERED
    assert m365.supplier_subscription_id == held["subscription_id"] is not None
    assert sims["arvato"].state()["subscriptions"][m365.supplier_subscription_id]["seats"] == 1
    assert office.supplier_subscription_id is None


def test_an_asynchronous_wholesaler_s_subscription_id_is_kept_through_delivery(
    wired, db, paid_order, sims
):
    order = paid_order("nexway_shop", [("M365-FAMILY-1Y", 2)])
    (line,) = _lines(db, order).values()
    assert line.status == LineStatus.ORDERED
    held = sims["nexway"].state()["orders"][line.supplier_reference]["subscription_id"]
    assert held is not None and line.supplier_subscription_id == held
    services.sweep(now=utcnow() + timedelta(seconds=5))
    db.session.refresh(line)
    assert line.status == LineStatus.DELIVERED and line.supplier_subscription_id == held


def test_a_stored_callback_keeps_the_subscription_id(wired, db, paid_order, sims):
    order = paid_order("nexway_shop", [("M365-FAMILY-1Y", 1)])
    (line,) = _lines(db, order).values()
    services.sweep(now=utcnow() + timedelta(seconds=5))
    with get_wholesaler("nexway", wired.config) as adapter:
        fetched = adapter.fetch_order(line.supplier_reference)
    assert fetched is not None and fetched.subscription_id == line.supplier_subscription_id
    assert services._load(services._dump(fetched)) == fetched
