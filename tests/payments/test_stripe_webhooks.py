"""StripeGateway.parse_webhook with payloads signed the way Stripe signs them."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import stripe
from support.localstripe_server import LocalStripe
from support.stripe_signing import WEBHOOK_SECRET, make_event, signature_header, signed_delivery

from payments.base import CheckoutRequest, PaymentOutcome, WebhookError
from payments.stripe_gateway import StripeGateway

ORDER_ID = uuid.UUID("0b6e5a8e-3f0c-4d7c-9a43-5f1d2c6e7a10")


def checkout_session(**overrides: Any) -> dict[str, Any]:
    """A completed, paid Checkout Session as Stripe puts it in an event."""
    session = {
        "id": "cs_test_a1b2c3",
        "object": "checkout.session",
        "mode": "payment",
        "status": "complete",
        "payment_status": "paid",
        "amount_total": 29890,
        "currency": "eur",
        "client_reference_id": str(ORDER_ID),
        "metadata": {"order_id": str(ORDER_ID), "order_number": "CPT-2026-000123"},
    }
    return session | overrides


def test_signing_helper_matches_the_stripe_library() -> None:
    payload = b'{"id": "evt_1", "object": "event"}'

    ours = signature_header(payload, WEBHOOK_SECRET, timestamp=1_700_000_000)
    theirs = stripe.WebhookSignature.generate_signature_header(
        payload.decode(), WEBHOOK_SECRET, timestamp=1_700_000_000
    )

    assert ours == theirs


def test_completed_and_paid_session_is_paid(offline_gateway: StripeGateway) -> None:
    event = make_event("checkout.session.completed", checkout_session(), event_id="evt_paid")

    parsed = offline_gateway.parse_webhook(*signed_delivery(event))

    assert parsed.event_id == "evt_paid"
    assert parsed.event_type == "checkout.session.completed"
    assert parsed.outcome is PaymentOutcome.PAID
    assert parsed.order_id == ORDER_ID
    assert parsed.reference == "cs_test_a1b2c3"
    assert parsed.amount_cents == 29890
    assert parsed.currency == "EUR"


def test_completed_but_unpaid_session_is_pending(offline_gateway: StripeGateway) -> None:
    session = checkout_session(payment_status="unpaid")
    event = make_event("checkout.session.completed", session)

    parsed = offline_gateway.parse_webhook(*signed_delivery(event))

    assert parsed.outcome is PaymentOutcome.PENDING
    assert parsed.order_id == ORDER_ID


@pytest.mark.parametrize(
    ("event_type", "session", "outcome"),
    [
        ("checkout.session.async_payment_succeeded", checkout_session(), PaymentOutcome.PAID),
        (
            "checkout.session.async_payment_failed",
            checkout_session(payment_status="unpaid"),
            PaymentOutcome.FAILED,
        ),
        (
            "checkout.session.expired",
            checkout_session(status="expired", payment_status="unpaid"),
            PaymentOutcome.EXPIRED,
        ),
    ],
)
def test_async_and_expiry_events_map_to_outcomes(
    offline_gateway: StripeGateway,
    event_type: str,
    session: dict[str, Any],
    outcome: PaymentOutcome,
) -> None:
    parsed = offline_gateway.parse_webhook(*signed_delivery(make_event(event_type, session)))

    assert parsed.outcome is outcome
    assert parsed.event_type == event_type
    assert parsed.order_id == ORDER_ID
    assert parsed.reference == "cs_test_a1b2c3"


def test_webhook_for_a_session_created_on_localstripe_carries_our_order(
    gateway: StripeGateway,
    localstripe: LocalStripe,
    make_checkout_request: Callable[..., CheckoutRequest],
) -> None:
    request = make_checkout_request()
    redirect = gateway.start_checkout(request)
    session = localstripe.set_session_state(redirect.reference, "paid")

    parsed = gateway.parse_webhook(
        *signed_delivery(make_event("checkout.session.completed", session))
    )

    assert parsed.outcome is PaymentOutcome.PAID
    assert parsed.order_id == request.order_id
    assert parsed.reference == redirect.reference
    assert parsed.amount_cents == 28900 + 2 * 990
    assert parsed.currency == "EUR"


@pytest.mark.parametrize(
    "obj",
    [
        {"id": "pi_123", "object": "payment_intent", "metadata": {}},
        {"id": "cs_test_x", "object": "checkout.session", "metadata": {"order_id": "nope"}},
    ],
)
def test_unknown_event_type_is_ignored(offline_gateway: StripeGateway, obj: dict[str, Any]) -> None:
    event = make_event("payment_intent.succeeded", obj, event_id="evt_other")

    parsed = offline_gateway.parse_webhook(*signed_delivery(event))

    assert parsed.outcome is PaymentOutcome.IGNORED
    assert parsed.event_id == "evt_other"
    assert parsed.event_type == "payment_intent.succeeded"
    assert parsed.order_id is None


def test_signature_made_with_another_secret_is_refused(offline_gateway: StripeGateway) -> None:
    event = make_event("checkout.session.completed", checkout_session())
    payload, headers = signed_delivery(event, secret="whsec_someone_else")

    with pytest.raises(WebhookError, match="does not match"):
        offline_gateway.parse_webhook(payload, headers)


def test_body_changed_after_signing_is_refused(offline_gateway: StripeGateway) -> None:
    payload, headers = signed_delivery(make_event("checkout.session.completed", checkout_session()))
    tampered = payload.replace(b"29890", b"00100")

    with pytest.raises(WebhookError, match="does not match"):
        offline_gateway.parse_webhook(tampered, headers)


def test_stale_timestamp_is_refused(offline_gateway: StripeGateway) -> None:
    event = make_event("checkout.session.completed", checkout_session())
    payload, headers = signed_delivery(event, timestamp=int(time.time()) - 301)

    with pytest.raises(WebhookError, match="too old"):
        offline_gateway.parse_webhook(payload, headers)


def test_future_timestamp_is_refused(offline_gateway: StripeGateway) -> None:
    event = make_event("checkout.session.completed", checkout_session())
    payload, headers = signed_delivery(event, timestamp=int(time.time()) + 301)

    with pytest.raises(WebhookError, match="in the future"):
        offline_gateway.parse_webhook(payload, headers)


def test_timestamp_within_tolerance_either_way_is_accepted(offline_gateway: StripeGateway) -> None:
    event = make_event("checkout.session.completed", checkout_session())
    for skew in (-250, 250):
        payload, headers = signed_delivery(event, timestamp=int(time.time()) + skew)

        assert offline_gateway.parse_webhook(payload, headers).outcome is PaymentOutcome.PAID


def test_tolerance_is_configurable() -> None:
    gateway = StripeGateway("sk_test_x", WEBHOOK_SECRET, tolerance_seconds=10)
    event = make_event("checkout.session.completed", checkout_session())
    payload, headers = signed_delivery(event, timestamp=int(time.time()) + 60)

    with pytest.raises(WebhookError, match="in the future"):
        gateway.parse_webhook(payload, headers)


def test_missing_signature_header_is_refused(offline_gateway: StripeGateway) -> None:
    payload, _ = signed_delivery(make_event("checkout.session.completed", checkout_session()))

    with pytest.raises(WebhookError, match="missing Stripe-Signature"):
        offline_gateway.parse_webhook(payload, {"Content-Type": "application/json"})


def test_signature_header_is_found_whatever_its_case(offline_gateway: StripeGateway) -> None:
    payload, headers = signed_delivery(make_event("checkout.session.expired", checkout_session()))

    lowered = {"stripe-signature": headers["Stripe-Signature"]}

    parsed = offline_gateway.parse_webhook(payload, lowered)

    assert parsed.outcome is PaymentOutcome.EXPIRED


@pytest.mark.parametrize(
    "header",
    ["", "v1=abc", "t=soon,v1=abc", "t=1,t=2,v1=abc", "garbage"],
)
def test_malformed_signature_header_is_refused(offline_gateway: StripeGateway, header: str) -> None:
    payload, _ = signed_delivery(make_event("checkout.session.completed", checkout_session()))

    with pytest.raises(WebhookError, match="Stripe-Signature"):
        offline_gateway.parse_webhook(payload, {"Stripe-Signature": header})


def test_header_without_a_v1_signature_is_refused(offline_gateway: StripeGateway) -> None:
    payload, _ = signed_delivery(make_event("checkout.session.completed", checkout_session()))

    with pytest.raises(WebhookError, match="does not match"):
        offline_gateway.parse_webhook(payload, {"Stripe-Signature": f"t={int(time.time())}"})


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[1, 2]", "not a Stripe event"),
        (b'{"object": "event", "type": "checkout.session.completed"}', "lacks an id"),
        (b'{"id": "evt_1", "object": "customer", "type": "x"}', "not a Stripe event"),
    ],
)
def test_malformed_body_is_refused_even_when_signed(
    offline_gateway: StripeGateway, body: bytes, reason: str
) -> None:
    with pytest.raises(WebhookError, match=reason):
        offline_gateway.parse_webhook(*signed_delivery(body))


@pytest.mark.parametrize(
    "metadata",
    [{}, {"order_id": "not-a-uuid"}, {"order_id": 42}, None, "order_id"],
)
@pytest.mark.parametrize(
    "event_type",
    [
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    ],
)
def test_handled_event_without_a_valid_order_id_is_refused(
    offline_gateway: StripeGateway, event_type: str, metadata: Any
) -> None:
    event = make_event(event_type, checkout_session(metadata=metadata))

    with pytest.raises(WebhookError, match="metadata.order_id"):
        offline_gateway.parse_webhook(*signed_delivery(event))


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ({"id": "pi_1", "object": "payment_intent"}, "does not carry a Checkout Session"),
        (None, "does not carry a Checkout Session"),
        (checkout_session(id=""), "without an id"),
        (checkout_session(amount_total="29890"), "amount_total is not an integer"),
        (checkout_session(amount_total=True), "amount_total is not an integer"),
        (checkout_session(currency="euro"), "not an ISO 4217 code"),
    ],
)
def test_handled_event_with_a_malformed_session_is_refused(
    offline_gateway: StripeGateway, obj: Any, reason: str
) -> None:
    event = make_event("checkout.session.completed", obj)

    with pytest.raises(WebhookError, match=reason):
        offline_gateway.parse_webhook(*signed_delivery(event))


def test_refusal_reasons_never_echo_the_secret(offline_gateway: StripeGateway) -> None:
    payload, headers = signed_delivery(make_event("checkout.session.completed", checkout_session()))

    with pytest.raises(WebhookError) as caught:
        offline_gateway.parse_webhook(payload + b" ", headers)

    assert WEBHOOK_SECRET not in str(caught.value)
    assert headers["Stripe-Signature"] not in str(caught.value)


def test_event_body_is_read_as_sent(offline_gateway: StripeGateway) -> None:
    event = make_event("checkout.session.completed", checkout_session())
    compact = json.dumps(event, separators=(",", ":")).encode()

    parsed = offline_gateway.parse_webhook(*signed_delivery(compact))

    assert parsed.event_id == event["id"]
