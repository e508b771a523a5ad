"""Fixtures for the Stripe seam: localstripe on loopback and a gateway pointed at it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from support.localstripe_server import LocalStripe
from support.stripe_signing import WEBHOOK_SECRET

from payments.base import CheckoutLine, CheckoutRequest
from payments.stripe_gateway import StripeGateway


@pytest.fixture
def gateway(localstripe: LocalStripe) -> StripeGateway:
    """A StripeGateway talking to the empty localstripe, without retry delays."""
    return StripeGateway(
        localstripe.secret_key, WEBHOOK_SECRET, api_base=localstripe.url, max_network_retries=0
    )


@pytest.fixture
def offline_gateway() -> StripeGateway:
    """A StripeGateway for webhook parsing, which never touches the network."""
    return StripeGateway("sk_test_offline", WEBHOOK_SECRET, api_base="http://127.0.0.1:9")


@pytest.fixture
def make_checkout_request() -> Callable[..., CheckoutRequest]:
    """Build a CheckoutRequest for a two-line order; keyword arguments override fields."""

    def make(**overrides: Any) -> CheckoutRequest:
        fields: dict[str, Any] = {
            "order_id": uuid.uuid4(),
            "order_number": "CPT-2026-000123",
            "currency": "EUR",
            "lines": (
                CheckoutLine("Office Home & Business 2024", 28900, 1),
                CheckoutLine("Licence backup, 2 years", 990, 2),
            ),
            "customer_email": "buyer@example.org",
            "success_url": "https://shop.example/checkout/return?session_id={CHECKOUT_SESSION_ID}",
            "cancel_url": "https://shop.example/cart",
            "locale": "fr",
        }
        return CheckoutRequest(**(fields | overrides))

    return make
