"""A payment gateway for development and demos: a fake card page, refused in production."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping

from flask import url_for

from payments.base import (
    CheckoutRedirect,
    CheckoutRequest,
    GatewayRefund,
    PaymentEvent,
    PaymentOutcome,
    WebhookError,
)

TEST_CARD_OK = "4242424242424242"  # pays; says no country
TEST_CARD_DECLINED = "4000000000000002"
# Stripe's international test cards, 4000 00NN N... with the ISO 3166 numeric code of the card's
# country (4000 0025 0000 0003: France; 4000 0027 6000 0016: Germany): they pay, and tell the
# country, as a real card's issuer does. The EU's member states and a few others.
CARD_COUNTRIES = {
    "040": "AT", "056": "BE", "100": "BG", "191": "HR", "196": "CY", "203": "CZ", "208": "DK",
    "233": "EE", "246": "FI", "250": "FR", "276": "DE", "300": "GR", "348": "HU", "372": "IE",
    "380": "IT", "428": "LV", "440": "LT", "442": "LU", "470": "MT", "528": "NL", "616": "PL",
    "620": "PT", "642": "RO", "703": "SK", "705": "SI", "724": "ES", "752": "SE", "826": "GB",
    "840": "US", "756": "CH",
}


def luhn_complete(digits: str) -> str:
    """The digits with their Luhn check digit appended."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return digits + str((10 - total % 10) % 10)


def country_card(country: str) -> str:
    """The paying test card of a country (Stripe's numbering), or the generic one."""
    numeric = next((n for n, c in CARD_COUNTRIES.items() if c == country.upper()), None)
    return luhn_complete(f"400000{numeric}000000") if numeric else TEST_CARD_OK


def card_country(digits: str) -> str | None:
    if len(digits) == 16 and digits.startswith("400000") and luhn_complete(digits[:-1]) == digits:
        return CARD_COUNTRIES.get(digits[6:9])
    return None


class TestGateway:
    """Checkout happens on our own fake card page; no network, no money."""

    __test__ = False  # not a pytest test class
    name = "test"

    def __init__(self, environment: str) -> None:
        if environment == "production":
            raise RuntimeError("the test payment gateway is refused in production")

    def start_checkout(self, request: CheckoutRequest) -> CheckoutRedirect:
        from payments.services import new_test_reference

        reference = new_test_reference()
        page = "reseller.credit_test_pay" if request.purpose == "credit" else "shop.test_pay"
        return CheckoutRedirect(reference, url_for(page, reference=reference))

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> PaymentEvent:
        raise WebhookError("the test gateway sends no webhooks")

    def fetch_outcome(self, reference: str) -> PaymentEvent | None:
        return None

    def refund(
        self, reference: str, amount_cents: int, *, idempotency_key: str,
        payment_reference: str | None = None, metadata: Mapping[str, str] | None = None,
    ) -> GatewayRefund:
        """No money was taken: the refund is a formality, one per idempotency key."""
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
        return GatewayRefund(f"test_refund_{digest}", amount_cents, "EUR", "succeeded",
                             payment_reference, dict(metadata or {}))

    def list_refunds(self, payment_reference: str) -> list[GatewayRefund]:
        return []

    def card_country(self, payment_reference: str) -> str | None:
        return None  # the card page's event says it

    @staticmethod
    def card_event(
        reference: str, order_id: uuid.UUID, card_number: str, amount: int, currency: str
    ) -> PaymentEvent:
        """The event the fake card page produces for a card number."""
        digits = "".join(ch for ch in card_number if ch.isdigit())
        country = card_country(digits)
        paying = digits == TEST_CARD_OK or country is not None
        outcome = PaymentOutcome.PAID if paying else PaymentOutcome.FAILED
        return PaymentEvent(
            event_id=f"{reference}:{outcome}",
            event_type=f"test.card.{outcome}",
            outcome=outcome,
            order_id=order_id,
            reference=reference,
            amount_cents=amount,
            currency=currency,
            card_country=country,
            # The card the buyer paid with: a subscription's later terms are charged to it
            # (subscriptions/billing.py TestBilling). Only the test numbers exist here.
            payment_reference=f"testcard:{digits}" if paying else None,
        )
