"""The PaymentGateway seam: what the shop asks of a payment provider."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class PaymentOutcome(StrEnum):
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    PENDING = "pending"  # e.g. a bank transfer still under way
    IGNORED = "ignored"  # an event type we do not act on


@dataclass(frozen=True)
class CheckoutLine:
    name: str
    unit_amount_cents: int  # VAT included
    quantity: int


@dataclass(frozen=True)
class CheckoutRequest:
    order_id: uuid.UUID
    order_number: str
    currency: str  # ISO 4217, upper case
    lines: tuple[CheckoutLine, ...]
    customer_email: str
    success_url: str  # may contain {CHECKOUT_SESSION_ID}
    cancel_url: str
    locale: str  # "fr" or "en"


@dataclass(frozen=True)
class CheckoutRedirect:
    reference: str  # the provider's id for this checkout (Stripe: the Checkout Session id)
    url: str  # where to send the buyer


@dataclass(frozen=True)
class PaymentEvent:
    """A provider's news about one checkout, already authenticated."""

    event_id: str  # unique per provider event, processed once
    event_type: str  # the provider's own name, e.g. checkout.session.completed
    outcome: PaymentOutcome
    order_id: uuid.UUID | None
    reference: str | None
    amount_cents: int | None
    currency: str | None


class WebhookError(Exception):
    """A webhook we refuse: bad signature, stale or future timestamp, malformed body."""


class GatewayError(Exception):
    """The provider could not be reached or refused the request."""


class PaymentGateway(Protocol):
    name: str

    def start_checkout(self, request: CheckoutRequest) -> CheckoutRedirect:
        """Create a checkout at the provider and say where to send the buyer."""
        ...

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> PaymentEvent:
        """Authenticate and decode a webhook; raise WebhookError when it cannot be trusted."""
        ...

    def fetch_outcome(self, reference: str) -> PaymentEvent | None:
        """Ask the provider how a checkout stands (for the return page); None when unknown."""
        ...

    def refund(self, reference: str, amount_cents: int) -> str:
        """Give the money of a paid checkout back; return the provider's refund reference."""
        ...
