"""A subscription on Stripe Billing, end to end: the first order paid by Checkout saves the card,
its delivery enrols the subscription at Stripe, and Stripe's own clock renews it; the signed
webhooks reach the shop's endpoint, which renews the term through the same order path (invoice,
commission, e-mail) once however often they come, and dunns a declined renewal."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import select
from support.localstripe_server import LocalStripe
from support.receiver import Receiver, receiving
from support.stripe_signing import WEBHOOK_SECRET
from support.subscription_helpers import ledger_of, subscription_of

from commerce.models import Order, PaymentStatus
from commerce.orders import BuyerDetails, LineRequest, place_order
from commissions import attribute_order
from invoicing import services as invoices
from payments.base import PaymentEvent, PaymentOutcome
from payments.services import confirm_payment, start_payment
from subscriptions.models import ChargeStatus, SubscriptionCharge, SubscriptionStatus

EVENTS = ["invoice.paid", "invoice.payment_failed", "customer.subscription.deleted"]
DECLINING_CARD = "4000000000000341"  # attaches to a customer, declined when charged


@pytest.fixture
def stripe_shop(wired, localstripe: LocalStripe):  # type: ignore[no-untyped-def]
    wired.config.update(PAYMENT_GATEWAY="stripe", STRIPE_SECRET_KEY=localstripe.secret_key,
                        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, STRIPE_API_BASE=localstripe.url)
    return wired


@pytest.fixture
def endpoint(localstripe: LocalStripe):  # type: ignore[no-untyped-def]
    with receiving() as receiver, localstripe.webhooks_to(
            receiver.url + "/webhooks/stripe", WEBHOOK_SECRET, EVENTS):
        yield receiver


def _forward(client, receiver: Receiver, event_type: str, seen: int = 0, timeout: float = 15):
    """Wait for Stripe's webhook of that type and deliver it to the shop's endpoint as is."""
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in list(receiver.received) if json.loads(r.body)["type"] == event_type]
        if len(found) > seen:
            break
        assert time.monotonic() < deadline, f"no {event_type} from Stripe"
        time.sleep(0.05)
    delivery = found[seen]
    headers = {k: v for k, v in delivery.headers.items() if k.lower() == "stripe-signature"}
    return client.post("/webhooks/stripe", data=delivery.body, headers=headers,
                       content_type="application/json")


def _first_order(db, shop, localstripe: LocalStripe, card: str = "4242424242424242"):
    order = place_order(shop, [LineRequest("M365-BUSINESS-STD-1M", 3)],
                        BuyerDetails(email="ines@example.com", name="Inès Roy"),
                        gateway="stripe")
    attribute_order(order, reseller_code="RP-AAAA")
    db.session.commit()
    with_request = start_payment(order, "http://localhost/ok?s={CHECKOUT_SESSION_ID}",
                                 "http://localhost/cancel")
    paid_at = order.created_at
    clock = localstripe.create_test_clock(int(paid_at.timestamp()))
    session = localstripe.set_session_state(with_request.reference, "paid", card=card,
                                            test_clock=clock)
    confirm_payment(PaymentEvent(f"evt_{order.id.hex}", "checkout.session.completed",
                                 PaymentOutcome.PAID, order.id, with_request.reference,
                                 order.total_cents, "eur", session["payment_intent"]), "stripe")
    return db.session.get(Order, order.id), clock


def test_stripe_renews_a_monthly_plan_and_the_shop_follows_once(
        db, stripe_shop, shop, reseller, localstripe, endpoint, client):
    first, clock = _first_order(db, shop, localstripe)
    sub = subscription_of(db, first)
    assert sub.gateway == "stripe" and sub.gateway_subscription.startswith("sub_")
    assert sub.payment_method.startswith("pm_")
    end = sub.current_period_end

    localstripe.advance(clock, int((end + timedelta(hours=2)).timestamp()))
    answer = _forward(client, endpoint, "invoice.paid")
    assert answer.status_code == 200 and answer.get_json()["result"] == "renewed"
    again = _forward(client, endpoint, "invoice.paid")  # Stripe sends it again
    assert again.get_json()["result"] == "already_processed"

    db.session.expire_all()
    assert sub.status == SubscriptionStatus.ACTIVE and sub.current_period_start == end
    charge = db.session.scalar(select(SubscriptionCharge))
    renewal = db.session.get(Order, charge.order_id)
    assert charge.status == ChargeStatus.PAID and charge.gateway_reference.startswith("in_")
    assert renewal.payment_status == PaymentStatus.PAID
    assert renewal.total_cents == 3 * 1800 == first.total_cents
    assert invoices.documents_of(renewal.id).invoice is not None
    # The second monthly charge is in the contract's first year: 18 % again.
    assert [e.rule for e in ledger_of(db, reseller)] == ["subscription.first_year"] * 2


def test_a_renewal_stripe_cannot_charge_is_dunned(
        db, stripe_shop, shop, reseller, localstripe, endpoint, client, inbox):
    first, clock = _first_order(db, shop, localstripe)
    sub = subscription_of(db, first)
    # The buyer's card changed since: the new one is declined when Stripe charges it.
    declining = localstripe.attach_card(sub.customer_reference, DECLINING_CARD)
    localstripe.update_subscription(sub.gateway_subscription, default_payment_method=declining)
    localstripe.advance(clock, int((sub.current_period_end + timedelta(hours=2)).timestamp()))
    answer = _forward(client, endpoint, "invoice.payment_failed")
    assert answer.get_json()["result"] == "payment_failed"
    db.session.expire_all()
    assert sub.status == SubscriptionStatus.PAST_DUE
    charge = db.session.scalar(select(SubscriptionCharge))
    assert charge.status == ChargeStatus.FAILED and charge.next_attempt_at is None  # Stripe retries
    assert any("payment failed" in m["Subject"] or "paiement" in m["Subject"]
               for m in inbox.to("ines@example.com"))
    assert [e.rule for e in ledger_of(db, reseller)] == ["subscription.first_year"]
