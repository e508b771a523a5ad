"""The worked example of docs/subscriptions.md, to the cent: an annual Microsoft 365 Business
Standard contract over three years, with three users added in its first year.

180.00 € a user and year, VAT included at 20 % (150.00 € before VAT):

| when | charge | net | rule | commission |
|---|---|---|---|---|
| 2027-01-01 | 5 users, first year: 900.00 € | 750.00 € | 12 % + 6 % | 135.00 € |
| 2027-04-01 | +3 users for 275 of 365 days: 406.85 € | 339.04 € | 12 % + 6 % | 61.03 € |
| 2028-01-01 | 8 users, renewal: 1,440.00 € | 1,200.00 € | 6 % | 72.00 € |
| 2029-01-01 | 8 users, renewal: 1,440.00 € | 1,200.00 € | 6 % | 72.00 € |

340.03 € in all, each entry once however often the job runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from support.subscription_helpers import ledger_of, set_term, subscription_of

from commerce.models import FulfilmentStatus, Order, PaymentStatus
from invoicing import services as invoices
from licensing.models import LicenceRecord
from subscriptions.models import ChargeStatus, SubscriptionCharge, SubscriptionStatus
from subscriptions.services import approve_change, prepare_change, renew_due

JAN_2027 = datetime(2027, 1, 1, tzinfo=UTC)
APR_2027 = datetime(2027, 4, 1, tzinfo=UTC)
JAN_2028 = datetime(2028, 1, 1, tzinfo=UTC)
JAN_2029 = datetime(2029, 1, 1, tzinfo=UTC)
JAN_2030 = datetime(2030, 1, 1, tzinfo=UTC)


def test_three_years_with_an_upsell_in_year_one_earn_340_03(db, buy, reseller, inbox,
                                                          simulators):
    first = buy("M365-BUSINESS-STD-1Y", seats=5)
    assert first.fulfilment_status == FulfilmentStatus.DELIVERED
    assert first.total_cents == 90000
    sub = subscription_of(db, first)
    set_term(db, sub, JAN_2027, JAN_2028)

    change, _token = prepare_change(sub, reseller.id, "M365-BUSINESS-STD-1Y", 3, APR_2027)
    upsell = approve_change(change, APR_2027)
    assert (upsell.total_cents, upsell.vat_cents) == (40685, 6781)  # 540.00 × 275/365
    assert upsell.payment_status == PaymentStatus.PAID
    db.session.refresh(sub)
    assert sub.seats == 8 and sub.current_period_end == JAN_2028  # added users co-term

    for now in (JAN_2028 + timedelta(hours=1), JAN_2028 + timedelta(hours=2)):
        renew_due(now)  # the hourly job, twice: one charge
    for now in (JAN_2029 + timedelta(minutes=5), JAN_2029 + timedelta(hours=1)):
        renew_due(now)

    db.session.expire_all()
    sub = subscription_of(db, first)
    assert (sub.status, sub.current_period_start, sub.current_period_end) == (
        SubscriptionStatus.ACTIVE, JAN_2029, JAN_2030)
    charges = db.session.scalars(select(SubscriptionCharge).where(
        SubscriptionCharge.subscription_id == sub.id)
        .order_by(SubscriptionCharge.period_start)).all()
    assert [(c.kind, c.status) for c in charges] == [
        ("change", ChargeStatus.PAID), ("renewal", ChargeStatus.PAID),
        ("renewal", ChargeStatus.PAID)]
    renewals = [db.session.get(Order, c.order_id) for c in charges[1:]]
    assert [(o.total_cents, o.vat_cents, o.lines[0].seats) for o in renewals] == [
        (144000, 24000, 8), (144000, 24000, 8)]

    entries = ledger_of(db, reseller)
    assert [(e.rule, e.amount_cents) for e in entries] == [
        ("subscription.first_year", 13500), ("subscription.upsell", 6103),
        ("subscription.renewal", 7200), ("subscription.renewal", 7200)]
    assert sum(e.amount_cents for e in entries) == 34003
    assert "339.04 EUR" in entries[1].explanation and "18%" in entries[1].explanation

    # Each term has its invoice, its licence to the term's end, and its e-mail.
    for order in (upsell, *renewals):
        assert invoices.documents_of(order.id).invoice is not None
        assert order.fulfilment_status == FulfilmentStatus.DELIVERED
    last = db.session.scalar(select(LicenceRecord).where(
        LicenceRecord.order_line_ref == str(renewals[-1].lines[0].id)))
    assert last is not None and last.expires_at == JAN_2030 and last.seats == 8
    # The wholesaler provisioned each term once, for the users of the day.
    item = sub.items[0]
    assert item.wholesaler_code == "arvato" and item.supplier_subscription_id
    held = simulators["arvato"].state()["subscriptions"][item.supplier_subscription_id]
    assert held["seats"] == 8 and len(held["renewals"]) == 2 and len(held["changes"]) == 1
    subjects = [m["Subject"] for m in inbox.to("ines@example.com")]
    assert sum("is renewed" in s or "est renouvelé" in s for s in subjects) == 2
