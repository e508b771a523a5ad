"""A subscription's life with the clock moved: renewal, a declined card and its dunning,
suspension, a late payment, cancellation at the end of the term, a refunded renewal, and the
monthly plan's first year."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from support.subscription_helpers import DECLINED, ledger_of, set_term, subscription_of

from commerce.models import Order, PaymentStatus
from fulfilment.models import OutgoingEmail
from payments.test_gateway import TestGateway
from subscriptions.models import (
    ChargeStatus,
    SubscriptionCharge,
    SubscriptionHistory,
    SubscriptionStatus,
)
from subscriptions.services import (
    SubscriptionError,
    cancel_at_period_end,
    renew_due,
)

START = datetime(2027, 1, 1, tzinfo=UTC)
END = datetime(2028, 1, 1, tzinfo=UTC)


def _charges(db, sub):
    db.session.expire_all()
    return db.session.scalars(select(SubscriptionCharge).where(
        SubscriptionCharge.subscription_id == sub.id)
        .order_by(SubscriptionCharge.created_at)).all()


def _annual(db, buy, **kwargs):
    sub = subscription_of(db, buy("M365-BUSINESS-STD-1Y", **kwargs))
    set_term(db, sub, START, END)
    return sub


def _decline_from_now_on(db, sub):
    """The buyer's card expired: every charge on it is declined."""
    sub.payment_method = f"testcard:{DECLINED}"
    db.session.commit()


def test_nothing_is_charged_before_the_term_ends(db, buy, reseller):
    sub = _annual(db, buy, seats=2)
    report = renew_due(END - timedelta(minutes=1))
    assert (report.renewed, report.waiting) == (0, 0) and _charges(db, sub) == []


def test_a_declined_renewal_dunned_then_suspended_after_the_grace_period(
        db, buy, reseller, inbox):
    sub = _annual(db, buy, seats=2)
    _decline_from_now_on(db, sub)

    assert renew_due(END + timedelta(hours=1)).failed == 1
    db.session.refresh(sub)
    assert sub.status == SubscriptionStatus.PAST_DUE
    assert sub.current_period_end == END  # not renewed
    charge = _charges(db, sub)[0]
    assert (charge.status, charge.attempts) == (ChargeStatus.FAILED, 1)
    assert charge.next_attempt_at == END + timedelta(hours=1, days=3)
    renewal = db.session.get(Order, charge.order_id)
    assert renewal.payment_status == PaymentStatus.PENDING  # the buyer can still pay it

    assert renew_due(END + timedelta(days=1)).failed == 0  # not due again yet
    assert renew_due(END + timedelta(days=3, hours=2)).failed == 1  # second try
    assert renew_due(END + timedelta(days=7, hours=3)).failed == 1  # third try
    assert renew_due(END + timedelta(days=13)).failed == 0  # no more tries, still in grace
    assert _charges(db, sub)[0].attempts == 3

    dunning = [m for m in inbox.to("ines@example.com")
               if "payment failed" in m["Subject"] or "paiement" in m["Subject"]]
    assert len(dunning) == 3
    assert any("/orders/access/" in link for link in inbox.links(dunning[0]))

    assert renew_due(END + timedelta(days=14, hours=1)).suspended == 1
    db.session.expire_all()
    assert sub.status == SubscriptionStatus.SUSPENDED
    assert _charges(db, sub)[0].status == ChargeStatus.ABANDONED
    assert db.session.get(Order, charge.order_id).payment_status == PaymentStatus.EXPIRED
    assert renew_due(END + timedelta(days=30)).suspended == 0  # once
    # A failed renewal earns nothing: only the first year's accrual is in the ledger.
    assert [e.rule for e in ledger_of(db, reseller)] == ["subscription.first_year"]
    assert db.session.scalar(select(OutgoingEmail).where(
        OutgoingEmail.kind == "subscription_suspended")) is not None


def test_a_renewal_paid_late_by_the_buyer_renews_and_is_credited_once(
        db, buy, reseller, client, form_token):
    sub = _annual(db, buy, seats=2)
    _decline_from_now_on(db, sub)
    renew_due(END + timedelta(hours=1))
    charge = _charges(db, sub)[0]
    renewal = db.session.get(Order, charge.order_id)

    # The buyer pays from the dunning link with another card, as the card page would.
    event = TestGateway.card_event(renewal.gateway_reference or "late", renewal.id,
                                   "4242 4242 4242 4242", renewal.total_cents, renewal.currency)
    from payments.services import confirm_payment

    confirm_payment(event, "test")
    confirm_payment(event, "test")  # the same event again

    db.session.expire_all()
    assert sub.status == SubscriptionStatus.ACTIVE
    assert (sub.current_period_start, sub.current_period_end) == (END, datetime(
        2029, 1, 1, tzinfo=UTC))
    assert sub.payment_method == "testcard:4242424242424242"  # the new card renews next time
    assert [(e.rule, e.amount_cents) for e in ledger_of(db, reseller)] == [
        ("subscription.first_year", 5400), ("subscription.renewal", 1800)]
    assert renew_due(END + timedelta(days=4)).failed == 0  # paid: no more tries


def test_a_refunded_renewal_takes_its_commission_back_once(db, buy, reseller, app):
    sub = _annual(db, buy, seats=2)
    renew_due(END + timedelta(hours=1))
    charge = _charges(db, sub)[0]
    from payments.refunds import RefundError, refund_order

    refund_order(charge.order_id, None, "operator@example.com", "client left")
    with pytest.raises(RefundError):  # nothing is left to refund
        refund_order(charge.order_id, None, "operator@example.com", "client left")
    entries = [(e.kind, e.rule, e.amount_cents) for e in ledger_of(db, reseller)]
    assert entries.count(("clawback", "subscription.renewal", -1800)) == 1
    assert ("accrual", "subscription.renewal", 1800) in entries


def test_cancelled_it_runs_to_the_end_of_the_term_then_ends_uncharged(db, buy, reseller, inbox):
    sub = _annual(db, buy, seats=2)
    cancel_at_period_end(sub, actor="buyer", now=START + timedelta(days=100))
    cancel_at_period_end(sub, actor="buyer")  # twice: harmless
    assert renew_due(END - timedelta(days=1)).ended == 0
    assert sub.status == SubscriptionStatus.ACTIVE

    assert renew_due(END + timedelta(minutes=1)).ended == 1
    db.session.expire_all()
    assert sub.status == SubscriptionStatus.ENDED and _charges(db, sub) == []
    kinds = [h.kind for h in db.session.scalars(select(SubscriptionHistory).where(
        SubscriptionHistory.subscription_id == sub.id))]
    assert kinds.count("cancel_requested") == 1 and kinds[-1] == "ended"
    subjects = [m["Subject"] for m in inbox.to("ines@example.com")]
    assert any("will end" in s or "prendra fin" in s for s in subjects)
    with pytest.raises(SubscriptionError, match="already ended|déjà terminé"):
        cancel_at_period_end(sub, actor="buyer")


def test_a_monthly_plan_earns_the_first_year_rate_for_twelve_charges_then_renewal(
        db, buy, reseller):
    sub = subscription_of(db, buy("M365-BUSINESS-STD-1M", seats=3))
    start = datetime(2027, 1, 15, tzinfo=UTC)
    set_term(db, sub, start, datetime(2027, 2, 15, tzinfo=UTC))
    for month in range(1, 14):  # thirteen monthly renewals: months 2 to 14
        due = datetime(2027 + (month // 12), month % 12 + 1, 15, 1, tzinfo=UTC)
        assert renew_due(due).renewed == 1, due
    rules = [e.rule for e in ledger_of(db, reseller)]
    # The first order and eleven renewals fall in the first twelve months; then 6 %.
    assert rules == ["subscription.first_year"] * 12 + ["subscription.renewal"] * 2
    amounts = {e.rule: e.amount_cents for e in ledger_of(db, reseller)}
    # 3 users × 18.00 € = 54.00 €, 45.00 € before VAT: 18 % is 8.10 €, 6 % is 2.70 €.
    assert amounts == {"subscription.first_year": 810, "subscription.renewal": 270}


def test_cancelled_while_its_renewal_is_unpaid_it_ends_and_owes_nothing(db, buy, reseller):
    sub = _annual(db, buy, seats=2)
    _decline_from_now_on(db, sub)
    renew_due(END + timedelta(hours=1))
    cancel_at_period_end(sub, actor="buyer", now=END + timedelta(days=2))
    assert renew_due(END + timedelta(days=2, hours=1)).ended == 1
    db.session.expire_all()
    charge = _charges(db, sub)[0]
    assert sub.status == SubscriptionStatus.ENDED and charge.status == ChargeStatus.ABANDONED
    assert db.session.get(Order, charge.order_id).payment_status == PaymentStatus.EXPIRED
