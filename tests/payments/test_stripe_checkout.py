"""StripeGateway.start_checkout and fetch_outcome over HTTP against localstripe."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
import stripe
from support.localstripe_server import LocalStripe

from payments.base import CheckoutRequest, GatewayError, PaymentOutcome
from payments.stripe_gateway import StripeGateway


def test_start_checkout_creates_a_session_with_lines_amount_and_metadata(
    gateway: StripeGateway,
    localstripe: LocalStripe,
    make_checkout_request: Callable[..., CheckoutRequest],
) -> None:
    request = make_checkout_request()

    redirect = gateway.start_checkout(request)

    session = localstripe.session(redirect.reference)
    assert redirect.reference.startswith("cs_test_")
    assert redirect.url == session["url"]
    assert session["mode"] == "payment"
    assert session["status"] == "open"
    assert session["currency"] == "eur"
    assert session["amount_total"] == 28900 + 2 * 990
    assert session["customer_email"] == "buyer@example.org"
    assert session["success_url"] == request.success_url
    assert session["cancel_url"] == request.cancel_url
    assert session["locale"] == "fr"
    assert session["client_reference_id"] == str(request.order_id)
    assert session["metadata"] == {
        "order_id": str(request.order_id),
        "order_number": "CPT-2026-000123",
    }
    lines = [
        (item["description"], item["price"]["unit_amount"], item["price"]["currency"],
         item["quantity"])
        for item in localstripe.line_items(redirect.reference)
    ]
    assert lines == [
        ("Office Home & Business 2024", 28900, "eur", 1),
        ("Licence backup, 2 years", 990, "eur", 2),
    ]


def test_start_checkout_sends_an_unsupported_locale_as_auto(
    gateway: StripeGateway,
    localstripe: LocalStripe,
    make_checkout_request: Callable[..., CheckoutRequest],
) -> None:
    redirect = gateway.start_checkout(make_checkout_request(locale="xx"))

    assert localstripe.session(redirect.reference)["locale"] == "auto"


def test_start_checkout_without_lines_is_refused_before_calling_stripe(
    offline_gateway: StripeGateway, make_checkout_request: Callable[..., CheckoutRequest]
) -> None:
    with pytest.raises(GatewayError, match="without lines"):
        offline_gateway.start_checkout(make_checkout_request(lines=()))


def test_start_checkout_maps_a_refused_request_to_gateway_error(
    gateway: StripeGateway, make_checkout_request: Callable[..., CheckoutRequest]
) -> None:
    request = make_checkout_request(success_url="")

    with pytest.raises(GatewayError, match=r"refused the request \[success_url\]"):
        gateway.start_checkout(request)


def test_start_checkout_with_a_refused_key_names_no_secret(
    localstripe: LocalStripe, make_checkout_request: Callable[..., CheckoutRequest]
) -> None:
    # localstripe only accepts keys starting with sk_: this one gets a 401.
    secret = "rk_wrong_key_0123456789"
    gateway = StripeGateway(secret, "whsec_x", api_base=localstripe.url, max_network_retries=0)

    with pytest.raises(GatewayError, match="refused our API key") as caught:
        gateway.start_checkout(make_checkout_request())

    assert secret not in str(caught.value)
    assert "0123456789" not in str(caught.value)


def test_start_checkout_when_stripe_is_unreachable_raises_gateway_error(
    make_checkout_request: Callable[..., CheckoutRequest],
) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gateway = StripeGateway(
        "sk_test_down", "whsec_x", api_base=f"http://127.0.0.1:{port}", max_network_retries=1
    )

    with pytest.raises(GatewayError, match="could not reach Stripe") as caught:
        gateway.start_checkout(make_checkout_request())

    assert "sk_test_down" not in str(caught.value)


def test_gateway_never_sets_the_global_stripe_key(localstripe: LocalStripe) -> None:
    before = stripe.api_key

    StripeGateway("sk_test_private", "whsec_x", api_base=localstripe.url)

    assert stripe.api_key == before


@pytest.mark.parametrize(
    ("secret_key", "webhook_secret"), [("", "whsec_x"), ("sk_test_x", "")]
)
def test_gateway_refuses_missing_secrets(secret_key: str, webhook_secret: str) -> None:
    with pytest.raises(ValueError, match="needs"):
        StripeGateway(secret_key, webhook_secret)


@pytest.mark.parametrize(
    ("state", "outcome"),
    [
        (None, PaymentOutcome.PENDING),
        ("paid", PaymentOutcome.PAID),
        ("processing", PaymentOutcome.PENDING),
        ("expired", PaymentOutcome.EXPIRED),
    ],
)
def test_fetch_outcome_reports_the_session_state(
    gateway: StripeGateway,
    localstripe: LocalStripe,
    make_checkout_request: Callable[..., CheckoutRequest],
    state: str | None,
    outcome: PaymentOutcome,
) -> None:
    request = make_checkout_request()
    redirect = gateway.start_checkout(request)
    if state:
        localstripe.set_session_state(redirect.reference, state)

    event = gateway.fetch_outcome(redirect.reference)

    assert event is not None
    assert event.outcome is outcome
    assert event.event_id == f"return:{redirect.reference}:{outcome}"
    assert event.event_type == "checkout.session.retrieved"
    assert event.order_id == request.order_id
    assert event.reference == redirect.reference
    assert event.amount_cents == 28900 + 2 * 990
    assert event.currency == "EUR"


def test_fetch_outcome_gives_a_new_event_id_once_a_pending_session_is_paid(
    gateway: StripeGateway,
    localstripe: LocalStripe,
    make_checkout_request: Callable[..., CheckoutRequest],
) -> None:
    redirect = gateway.start_checkout(make_checkout_request())
    pending = gateway.fetch_outcome(redirect.reference)
    localstripe.set_session_state(redirect.reference, "paid")

    paid = gateway.fetch_outcome(redirect.reference)
    again = gateway.fetch_outcome(redirect.reference)

    assert pending is not None and paid is not None and again is not None
    assert pending.event_id != paid.event_id
    assert paid.event_id == again.event_id


def test_fetch_outcome_of_an_unknown_session_is_none(gateway: StripeGateway) -> None:
    assert gateway.fetch_outcome("cs_test_unknown") is None


def test_fetch_outcome_when_stripe_is_unreachable_raises_gateway_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gateway = StripeGateway(
        "sk_test_down", "whsec_x", api_base=f"http://127.0.0.1:{port}", max_network_retries=0
    )

    with pytest.raises(GatewayError, match="could not reach Stripe"):
        gateway.fetch_outcome("cs_test_anything")
