"""Concurrent payments on PostgreSQL: each merchant's invoices are numbered 1..N, no gap, no
duplicate, and an order left unpaid takes no number."""

from __future__ import annotations

import threading
from collections import defaultdict

from sqlalchemy import select
from support.invoicing import pending

from commerce.models import MerchantOfRecord
from events.models import EventDelivery
from invoicing.models import Invoice
from payments.base import PaymentEvent, PaymentOutcome
from payments.services import confirm_payment

THREADS = 12
ORDERS_PER_SHOP = 12


def test_concurrent_payments_number_invoices_without_gap_or_duplicate(
    app, db, invoicing_shop, make_partner, postgres_only
):
    other = make_partner(merchant_of_record=MerchantOfRecord.PARTNER,
                         products=[p.product for p in invoicing_shop.offers])
    platform_shop = make_partner(merchant_of_record=MerchantOfRecord.PLATFORM,
                                 products=[p.product for p in invoicing_shop.offers])
    orders = [(o.id, o.gateway_reference, o.total_cents)
              for shop in (invoicing_shop, other, platform_shop)
              for o in (pending(shop) for _ in range(ORDERS_PER_SHOP))]
    # One order of each shop is never paid: it must not take a number.
    unpaid = {orders[0][0], orders[ORDERS_PER_SHOP][0], orders[2 * ORDERS_PER_SHOP][0]}
    to_pay = [o for o in orders if o[0] not in unpaid]
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with app.app_context():
                barrier.wait()
                for order_id, reference, total in to_pay[n::THREADS]:
                    confirm_payment(PaymentEvent(
                        f"evt_{order_id.hex}", "checkout.session.completed",
                        PaymentOutcome.PAID, order_id, reference, total, "EUR"), "test")
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    db.session.expire_all()
    failed = db.session.scalars(select(EventDelivery.last_error).where(
        EventDelivery.consumer == "invoicing", EventDelivery.done_at.is_(None))).all()
    assert failed == []
    invoices = db.session.scalars(select(Invoice)).all()
    assert {i.order_id for i in invoices} == {o[0] for o in to_pay}
    by_merchant: dict[str, list[int]] = defaultdict(list)
    for invoice in invoices:
        by_merchant[invoice.merchant_key].append(invoice.sequence)
        assert invoice.number.endswith(f"-{invoice.sequence:06d}")
    assert set(by_merchant) == {str(invoicing_shop.id), str(other.id), "platform"}
    for sequences in by_merchant.values():
        assert sorted(sequences) == list(range(1, ORDERS_PER_SHOP))
