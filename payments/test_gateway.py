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

TEST_CARD_OK = "4242424242424242"
TEST_CARD_DECLINED = "4000000000000002"


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
        return CheckoutRedirect(reference, url_for("shop.test_pay", reference=reference))

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

    @staticmethod
    def card_event(
        reference: str, order_id: uuid.UUID, card_number: str, amount: int, currency: str
    ) -> PaymentEvent:
        """The event the fake card page produces for a card number."""
        digits = "".join(ch for ch in card_number if ch.isdigit())
        outcome = PaymentOutcome.PAID if digits == TEST_CARD_OK else PaymentOutcome.FAILED
        return PaymentEvent(
            event_id=f"{reference}:{outcome}",
            event_type=f"test.card.{outcome}",
            outcome=outcome,
            order_id=order_id,
            reference=reference,
            amount_cents=amount,
            currency=currency,
        )
