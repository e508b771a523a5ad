"""StripeBilling against localstripe over HTTP: enrolment after a paid Checkout Session, renewals
driven by a Stripe test clock, prorated seat changes, cancellation, and signed webhooks delivered
to a real endpoint on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from support.localstripe_server import LocalStripe
from support.receiver import Receiver, receiving
from support.stripe_signing import WEBHOOK_SECRET, make_event, signed_delivery

from payments.base import CheckoutLine, CheckoutRequest
from payments.stripe_billing import StripeBilling
from payments.stripe_gateway import StripeGateway
from subscriptions.billing import (
    BillingError,
    BillingItem,
    BillingNotice,
    ChargeOutcome,
    Enrolment,
    SubscriptionTerms,
)

BILLING_EVENTS = ["invoice.created", "invoice.paid", "invoice.payment_failed",
                  "customer.subscription.updated", "customer.subscription.deleted"]
# The last day of January: the first monthly term ends on 28 February, and Stripe keeps the
# anchor's day from then on (docs.stripe.com/billing/subscriptions/billing-cycle): 28 March.
T0 = datetime(2027, 1, 31, 10, 0, tzinfo=UTC)
FEB_28 = datetime(2027, 2, 28, 10, 0, tzinfo=UTC)
MAR_28 = datetime(2027, 3, 28, 10, 0, tzinfo=UTC)
PREMIUM = BillingItem("M365-BP-M", "Microsoft 365 Business Premium", seats=5,
                      unit_amount_cents=2640)
DECLINING_CARD = "4000000000000341"  # attaches to a customer, declined when charged


def ts(when: datetime) -> int:
    return int(when.timestamp())


@pytest.fixture
def billing(localstripe: LocalStripe) -> StripeBilling:
    return StripeBilling(localstripe.secret_key, WEBHOOK_SECRET, api_base=localstripe.url,
                         max_network_retries=0)


@pytest.fixture
def endpoint(localstripe: LocalStripe) -> Iterator[Receiver]:
    """Our webhook endpoint on loopback, registered with localstripe for the billing events."""
    with receiving() as receiver, localstripe.webhooks_to(
            receiver.url + "/webhooks/stripe", WEBHOOK_SECRET, BILLING_EVENTS):
        yield receiver


def notices(receiver: Receiver, billing: StripeBilling, event_type: str, count: int = 1,
            timeout: float = 15) -> list[BillingNotice]:
    """Wait for `count` deliveries of `event_type` and parse them as the app would."""
    def arrived() -> list[BillingNotice]:
        parsed = [billing.parse_webhook(r.body, r.headers) for r in list(receiver.received)]
        return [n for n in parsed if n.event_type == event_type]

    deadline = time.monotonic() + timeout
    while len(found := arrived()) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(found)} of {count} {event_type} arrived")
        time.sleep(0.05)
    return found


def delivered_types(receiver: Receiver) -> list[str]:
    return [json.loads(r.body)["type"] for r in list(receiver.received)]


def terms(**overrides: Any) -> SubscriptionTerms:
    fields: dict[str, Any] = {
        "subscription_id": "5f0c1e9a-0000-4000-8000-000000000001", "number": "SUB-2027-000001",
        "email": "buyer@example.org", "currency": "EUR", "term_months": 1, "items": (PREMIUM,),
        "current_period_end": FEB_28}
    return SubscriptionTerms(**(fields | overrides))


@pytest.fixture
def first_order(localstripe: LocalStripe, gateway: StripeGateway,
                make_checkout_request: Callable[..., CheckoutRequest]
                ) -> Callable[..., tuple[str, str]]:
    """Pay a subscription's first order through Checkout at T0 (on a new test clock); return
    the clock and the order's PaymentIntent."""

    def pay(amount_cents: int = 13200, seats: int = 5) -> tuple[str, str]:
        clock = localstripe.create_test_clock(ts(T0))
        request = make_checkout_request(
            saves_payment_method=True,
            lines=(CheckoutLine("Microsoft 365 Business Premium", amount_cents // seats, seats),))
        redirect = gateway.start_checkout(request)
        session = localstripe.set_session_state(redirect.reference, "paid", test_clock=clock)
        return clock, session["payment_intent"]

    return pay


@pytest.fixture
def enrolled(billing: StripeBilling, first_order: Callable[..., tuple[str, str]]
             ) -> tuple[str, Enrolment]:
    clock, intent = first_order()
    return clock, billing.enrol(terms(), payment_reference=intent, idempotency_key="enrol-1")


def test_checkout_saves_the_card_only_for_a_subscription(
        localstripe: LocalStripe, gateway: StripeGateway,
        make_checkout_request: Callable[..., CheckoutRequest]) -> None:
    plain = gateway.start_checkout(make_checkout_request())
    saving = gateway.start_checkout(make_checkout_request(saves_payment_method=True))

    assert localstripe.session(plain.reference)["customer_creation"] is None
    assert localstripe.set_session_state(plain.reference, "paid")["customer"] is None
    assert localstripe.session(saving.reference)["customer_creation"] == "always"
    paid = localstripe.set_session_state(saving.reference, "paid")
    intent = localstripe._get(f"/v1/payment_intents/{paid['payment_intent']}")
    method = localstripe._get(f"/v1/payment_methods/{intent['payment_method']}")
    assert paid["customer"].startswith("cus_") and intent["customer"] == paid["customer"]
    assert intent["setup_future_usage"] == "off_session"
    assert method["customer"] == paid["customer"]


def test_enrol_after_a_paid_checkout_bills_from_the_end_of_the_first_term(
        localstripe: LocalStripe, billing: StripeBilling,
        first_order: Callable[..., tuple[str, str]]) -> None:
    _, intent_id = first_order()
    intent = localstripe._get(f"/v1/payment_intents/{intent_id}")

    enrolment = billing.enrol(terms(), payment_reference=intent_id, idempotency_key="enrol-1")
    again = billing.enrol(terms(), payment_reference=intent_id, idempotency_key="enrol-1")

    assert enrolment == again
    assert enrolment.customer_reference == intent["customer"]
    assert enrolment.payment_method == intent["payment_method"]
    sub = localstripe.subscription(str(enrolment.subscription_reference))
    assert sub["status"] == "active"
    assert sub["default_payment_method"] == intent["payment_method"]
    assert sub["billing_cycle_anchor"] == ts(FEB_28)
    assert sub["start_date"] == ts(T0)  # backdated to the first order's payment
    assert sub["metadata"] == {"comptoir_subscription": terms().subscription_id,
                               "comptoir_number": "SUB-2027-000001"}
    [item] = sub["items"]["data"]
    assert (item["current_period_start"], item["current_period_end"]) == (ts(T0), ts(FEB_28))
    assert item["quantity"] == 5
    assert item["price"]["unit_amount"] == 2640 and item["price"]["currency"] == "eur"
    assert item["price"]["recurring"] == {"interval": "month", "interval_count": 1,
                                          "usage_type": "licensed"}
    assert item["price"]["product"] == "comptoir_M365-BP-M"
    product = localstripe._get("/v1/products/comptoir_M365-BP-M")
    assert product["metadata"] == {"comptoir_code": "M365-BP-M"}
    assert localstripe.invoices(sub["id"]) == []  # the first term was paid by the order


def test_a_second_subscription_reuses_the_product(
        localstripe: LocalStripe, billing: StripeBilling,
        first_order: Callable[..., tuple[str, str]]) -> None:
    first = billing.enrol(terms(), payment_reference=first_order()[1], idempotency_key="a")
    second = billing.enrol(terms(subscription_id="other"), payment_reference=first_order()[1],
                           idempotency_key="b")

    products = [localstripe.subscription(str(e.subscription_reference))["items"]["data"][0]
                ["price"]["product"] for e in (first, second)]
    assert products == ["comptoir_M365-BP-M"] * 2
    assert first.subscription_reference != second.subscription_reference


def test_enrol_refuses_a_payment_that_saved_no_card(
        localstripe: LocalStripe, billing: StripeBilling, gateway: StripeGateway,
        make_checkout_request: Callable[..., CheckoutRequest]) -> None:
    redirect = gateway.start_checkout(make_checkout_request())
    intent = localstripe.set_session_state(redirect.reference, "paid")["payment_intent"]

    with pytest.raises(BillingError, match="saved no card"):
        billing.enrol(terms(), payment_reference=intent, idempotency_key="x")
    with pytest.raises(BillingError, match="PaymentIntent"):
        billing.enrol(terms(), payment_reference=None, idempotency_key="x")
    assert localstripe._get("/v1/subscriptions")["data"] == []


def test_a_month_later_stripe_renews_and_a_signed_invoice_paid_arrives(
        localstripe: LocalStripe, billing: StripeBilling, endpoint: Receiver,
        enrolled: tuple[str, Enrolment]) -> None:
    clock, enrolment = enrolled

    localstripe.advance(clock, ts(FEB_28 + timedelta(minutes=10)))
    [created] = notices(endpoint, billing, "invoice.created")
    assert "invoice.paid" not in delivered_types(endpoint)  # charged about an hour later
    localstripe.advance(clock, ts(FEB_28 + timedelta(hours=2)))
    [paid] = notices(endpoint, billing, "invoice.paid")

    assert paid.outcome is ChargeOutcome.PAID
    assert paid.subscription_reference == enrolment.subscription_reference
    assert paid.invoice_reference == created.invoice_reference
    assert (paid.amount_cents, paid.currency) == (5 * 2640, "EUR")
    assert (paid.period_start, paid.period_end) == (FEB_28, MAR_28)
    assert paid.billing_reason == "subscription_cycle"
    [renewed] = notices(endpoint, billing, "customer.subscription.updated")
    assert (renewed.status, renewed.period_start, renewed.period_end) == ("active", FEB_28, MAR_28)


def test_an_annual_subscription_renews_a_year_later(
        localstripe: LocalStripe, billing: StripeBilling, endpoint: Receiver,
        first_order: Callable[..., tuple[str, str]]) -> None:
    clock, intent = first_order(amount_cents=5 * 26400)
    year_end = datetime(2028, 1, 31, 10, 0, tzinfo=UTC)
    annual = terms(term_months=12, current_period_end=year_end,
                   items=(replace(PREMIUM, product_code="M365-BP-Y", unit_amount_cents=26400),))
    enrolment = billing.enrol(annual, payment_reference=intent, idempotency_key="annual")

    localstripe.advance(clock, ts(FEB_28 + timedelta(hours=2)))  # nothing due a month later
    localstripe.advance(clock, ts(year_end + timedelta(hours=2)))
    [paid] = notices(endpoint, billing, "invoice.paid")

    assert paid.subscription_reference == enrolment.subscription_reference
    assert (paid.amount_cents, paid.currency) == (5 * 26400, "EUR")
    assert (paid.period_start, paid.period_end) == (year_end,
                                                    datetime(2029, 1, 31, 10, 0, tzinfo=UTC))
    assert len(localstripe.invoices(str(enrolment.subscription_reference))) == 1


def test_a_declining_card_sends_invoice_payment_failed(
        localstripe: LocalStripe, billing: StripeBilling, endpoint: Receiver,
        enrolled: tuple[str, Enrolment]) -> None:
    clock, enrolment = enrolled
    declining = localstripe.attach_card(str(enrolment.customer_reference), DECLINING_CARD)
    localstripe.update_subscription(str(enrolment.subscription_reference),
                                    default_payment_method=declining)

    localstripe.advance(clock, ts(FEB_28 + timedelta(hours=2)))
    [failed] = notices(endpoint, billing, "invoice.payment_failed")

    assert failed.outcome is ChargeOutcome.FAILED
    assert (failed.amount_cents, failed.currency) == (13200, "EUR")
    assert (failed.period_start, failed.period_end) == (FEB_28, MAR_28)
    assert failed.failure
    assert "invoice.paid" not in delivered_types(endpoint)
    statuses = [n.status for n in notices(endpoint, billing, "customer.subscription.updated", 2)]
    assert statuses[-1] == "past_due"


def test_cancel_at_period_end_ends_without_an_invoice(
        localstripe: LocalStripe, billing: StripeBilling, endpoint: Receiver,
        enrolled: tuple[str, Enrolment]) -> None:
    clock, enrolment = enrolled
    sub_id = str(enrolment.subscription_reference)

    billing.set_cancel_at_period_end(enrolment, True)
    assert localstripe.subscription(sub_id)["cancel_at_period_end"] is True
    localstripe.advance(clock, ts(FEB_28 + timedelta(days=2)))
    [deleted] = notices(endpoint, billing, "customer.subscription.deleted")

    assert deleted.subscription_reference == sub_id
    assert deleted.status == "canceled" and deleted.outcome is None
    assert localstripe.invoices(sub_id) == []
    assert localstripe.subscription(sub_id)["ended_at"] == ts(FEB_28)


def test_resuming_before_the_end_renews(
        localstripe: LocalStripe, billing: StripeBilling, endpoint: Receiver,
        enrolled: tuple[str, Enrolment]) -> None:
    clock, enrolment = enrolled
    billing.set_cancel_at_period_end(enrolment, True)
    billing.set_cancel_at_period_end(enrolment, False)

    localstripe.advance(clock, ts(FEB_28 + timedelta(hours=2)))

    assert notices(endpoint, billing, "invoice.paid")[0].amount_cents == 13200
    assert localstripe.subscription(str(enrolment.subscription_reference))["status"] == "active"


def stripe_proration(unit: int, before: int, after: int, start: datetime, end: datetime,
                     at: datetime) -> int:
    """The documented formula: credit the unused time of the old quantity and charge the
    remaining time of the new one, by seconds, each line rounded to the nearest cent."""
    share = Fraction(ts(end) - ts(at), ts(end) - ts(start))

    def cents(amount: Fraction) -> int:
        return int(amount + Fraction(1, 2))

    return cents(unit * after * share) - cents(unit * before * share)


def test_adding_three_seats_mid_term_is_prorated_and_applied_once_paid(
        localstripe: LocalStripe, billing: StripeBilling, endpoint: Receiver,
        enrolled: tuple[str, Enrolment]) -> None:
    clock, enrolment = enrolled
    at = T0 + timedelta(days=10)
    localstripe.advance(clock, ts(at))

    charge = billing.charge_change(
        enrolment, terms(items=(replace(PREMIUM, seats=8),)), amount_cents=5091,
        proration_at=at, idempotency_key="change-1")

    expected = stripe_proration(2640, 5, 8, T0, FEB_28, at)
    assert expected == 13577 - 8486 == 5091  # 18 of 28 days left: 8 and 5 seats at 26.40
    assert charge.outcome is ChargeOutcome.PAID
    assert (charge.amount_cents, charge.currency) == (expected, "EUR")
    sub = localstripe.subscription(str(enrolment.subscription_reference))
    assert sub["items"]["data"][0]["quantity"] == 8 and sub["pending_update"] is None
    [invoice] = localstripe.invoices(sub["id"])
    assert invoice["id"] == charge.reference and invoice["status"] == "paid"
    assert invoice["billing_reason"] == "subscription_update"
    assert sorted(line["amount"] for line in invoice["lines"]["data"]) == [-8486, 13577]
    [paid] = notices(endpoint, billing, "invoice.paid")
    assert (paid.amount_cents, paid.billing_reason) == (5091, "subscription_update")
    assert (paid.period_start, paid.period_end) == (at, FEB_28)

    localstripe.advance(clock, ts(FEB_28 + timedelta(hours=2)))
    renewal = notices(endpoint, billing, "invoice.paid", 2)[-1]
    assert renewal.amount_cents == 8 * 2640


def test_adding_an_application_charges_its_remaining_time_only(
        localstripe: LocalStripe, billing: StripeBilling, enrolled: tuple[str, Enrolment]) -> None:
    clock, enrolment = enrolled
    at = T0 + timedelta(days=21)
    localstripe.advance(clock, ts(at))
    visio = BillingItem("VISIO-P2-M", "Visio Plan 2", seats=2, unit_amount_cents=1770)

    charge = billing.charge_change(enrolment, terms(items=(PREMIUM, visio)), amount_cents=0,
                                   proration_at=at, idempotency_key="add-visio")

    assert charge.outcome is ChargeOutcome.PAID
    assert charge.amount_cents == stripe_proration(1770, 0, 2, T0, FEB_28, at) == 885
    items = localstripe.subscription(str(enrolment.subscription_reference))["items"]["data"]
    assert sorted((i["price"]["product"], i["quantity"]) for i in items) == [
        ("comptoir_M365-BP-M", 5), ("comptoir_VISIO-P2-M", 2)]


def test_a_declined_change_fails_and_changes_nothing(
        localstripe: LocalStripe, billing: StripeBilling, endpoint: Receiver,
        enrolled: tuple[str, Enrolment]) -> None:
    clock, enrolment = enrolled
    sub_id = str(enrolment.subscription_reference)
    declining = localstripe.attach_card(str(enrolment.customer_reference), DECLINING_CARD)
    localstripe.update_subscription(sub_id, default_payment_method=declining)
    at = T0 + timedelta(days=10)
    localstripe.advance(clock, ts(at))

    charge = billing.charge_change(enrolment, terms(items=(replace(PREMIUM, seats=8),)),
                                   amount_cents=5091, proration_at=at, idempotency_key="c")

    assert charge.outcome is ChargeOutcome.FAILED
    assert charge.failure == "Your card was declined."
    assert charge.amount_cents == 5091
    sub = localstripe.subscription(sub_id)
    assert sub["items"]["data"][0]["quantity"] == 5 and sub["pending_update"] is None
    [invoice] = localstripe.invoices(sub_id)
    assert invoice["status"] == "void"  # never collected later
    assert notices(endpoint, billing, "invoice.payment_failed")[0].amount_cents == 5091


def test_the_same_change_twice_makes_one_invoice(
        localstripe: LocalStripe, billing: StripeBilling, enrolled: tuple[str, Enrolment]) -> None:
    clock, enrolment = enrolled
    at = T0 + timedelta(days=10)
    localstripe.advance(clock, ts(at))
    change = terms(items=(replace(PREMIUM, seats=8),))

    first = billing.charge_change(enrolment, change, amount_cents=5091, proration_at=at,
                                  idempotency_key="same")
    second = billing.charge_change(enrolment, change, amount_cents=5091, proration_at=at,
                                   idempotency_key="same")

    assert first == second
    assert len(localstripe.invoices(str(enrolment.subscription_reference))) == 1


def test_the_same_added_application_twice_makes_one_invoice(
        localstripe: LocalStripe, billing: StripeBilling, enrolled: tuple[str, Enrolment]) -> None:
    clock, enrolment = enrolled
    at = T0 + timedelta(days=10)
    localstripe.advance(clock, ts(at))
    change = terms(items=(PREMIUM, BillingItem("VISIO-P2-M", "Visio Plan 2", 1, 1770)))

    first = billing.charge_change(enrolment, change, amount_cents=0, proration_at=at,
                                  idempotency_key="visio")
    second = billing.charge_change(enrolment, change, amount_cents=0, proration_at=at,
                                   idempotency_key="visio")

    assert first == second
    sub_id = str(enrolment.subscription_reference)
    assert len(localstripe.invoices(sub_id)) == 1
    assert len(localstripe.subscription(sub_id)["items"]["data"]) == 2


def test_end_now_cancels_at_once_and_twice_is_harmless(
        localstripe: LocalStripe, billing: StripeBilling, endpoint: Receiver,
        enrolled: tuple[str, Enrolment]) -> None:
    clock, enrolment = enrolled
    localstripe.advance(clock, ts(T0 + timedelta(days=3)))

    billing.end_now(enrolment)
    billing.end_now(enrolment)

    [deleted] = notices(endpoint, billing, "customer.subscription.deleted")
    assert deleted.status == "canceled"
    sub = localstripe.subscription(str(enrolment.subscription_reference))
    assert sub["ended_at"] == ts(T0 + timedelta(days=3))
    localstripe.advance(clock, ts(FEB_28 + timedelta(hours=2)))
    assert localstripe.invoices(sub["id"]) == []


def test_renewals_are_stripes_and_refused_here(billing: StripeBilling,
                                               enrolled: tuple[str, Enrolment]) -> None:
    with pytest.raises(BillingError, match="renews"):
        billing.charge_renewal(enrolled[1], 13200, "EUR", idempotency_key="r")
    assert billing.drives_renewals is True


def test_stripe_errors_are_billing_errors(localstripe: LocalStripe, billing: StripeBilling) -> None:
    missing = Enrolment("cus_x", "sub_missing", "pm_x")

    with pytest.raises(BillingError, match="Stripe refused") as refused:
        billing.set_cancel_at_period_end(missing, True)
    assert refused.value.retryable is False
    unreachable = StripeBilling("sk_test_x", WEBHOOK_SECRET, api_base="http://127.0.0.1:9",
                                max_network_retries=0)
    with pytest.raises(BillingError, match="could not reach Stripe") as lost:
        unreachable.end_now(Enrolment("cus_x", "sub_x", "pm_x"))
    assert lost.value.retryable is True


# --- webhooks, offline ---------------------------------------------------------------------


def offline() -> StripeBilling:
    return StripeBilling("sk_test_offline", WEBHOOK_SECRET, api_base="http://127.0.0.1:9")


def test_a_bad_signature_is_refused() -> None:
    event = make_event("invoice.paid", {"object": "invoice", "id": "in_1"})
    body, headers = signed_delivery(event, secret="whsec_someone_else")

    with pytest.raises(BillingError, match="does not match"):
        offline().parse_webhook(body, headers)
    with pytest.raises(BillingError, match="missing"):
        offline().parse_webhook(body, {})
    with pytest.raises(BillingError, match="too old"):
        offline().parse_webhook(*signed_delivery(event, timestamp=int(time.time()) - 3600))


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b'{"object": "event"}',
    json.dumps(make_event("invoice.paid", {"object": "charge"})).encode(),
    json.dumps(make_event("customer.subscription.updated", {"object": "subscription"})).encode()])
def test_malformed_events_are_refused(body: bytes) -> None:
    with pytest.raises(BillingError):
        offline().parse_webhook(*signed_delivery(body))


def test_other_events_are_kept_but_say_nothing() -> None:
    event = make_event("customer.updated", {"object": "customer", "id": "cus_1"},
                       event_id="evt_other")

    notice = offline().parse_webhook(*signed_delivery(event))

    assert (notice.event_id, notice.event_type, notice.outcome) == (
        "evt_other", "customer.updated", None)
