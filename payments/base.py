"""The PaymentGateway seam: what the shop asks of a payment provider."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
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
    # The order starts a subscription: keep the card for the renewals (off-session charges).
    saves_payment_method: bool = False
    # What is paid: "order" (order_id is an order) or "credit" (order_id is a credit line's
    # payment, credit/payments.py); events about the checkout say it back.
    purpose: str = "order"


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
    payment_reference: str | None = None  # the payment behind it (Stripe: the PaymentIntent)
    card_country: str | None = None  # the paying card's country, when the event says it
    purpose: str = "order"  # "credit": order_id is a credit line's payment, not an order


@dataclass(frozen=True)
class GatewayRefund:
    """A refund as the provider knows it."""

    reference: str  # the provider's id (Stripe: re_...)
    amount_cents: int
    currency: str
    status: str  # pending, succeeded, failed, canceled, requires_action
    payment_reference: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def gives_money_back(self) -> bool:
        """Whether the money is (being) returned; failed and canceled refunds return nothing."""
        return self.status in ("pending", "succeeded", "requires_action")


@dataclass(frozen=True)
class RefundNotice:
    """A provider's news about refunds of one payment: one refund, or 'look them up'."""

    event_id: str
    event_type: str
    payment_reference: str | None
    refund: GatewayRefund | None  # None: the event names the payment only (charge.refunded)


@dataclass(frozen=True)
class DisputeNotice:
    """A chargeback opened, moved or closed by the buyer's bank."""

    event_id: str
    event_type: str
    payment_reference: str | None
    dispute_reference: str
    amount_cents: int
    currency: str
    status: str  # needs_response, under_review, won, lost, warning_closed, ...


Notice = PaymentEvent | RefundNotice | DisputeNotice


class WebhookError(Exception):
    """A webhook we refuse: bad signature, stale or future timestamp, malformed body."""


class GatewayError(Exception):
    """The provider could not be reached or refused the request.

    `retryable` is True when the outcome is unknown (a timeout, a dropped connection, a 5xx):
    the same request may have gone through, and is asked again with the same idempotency key.
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class PaymentGateway(Protocol):
    name: str

    def start_checkout(self, request: CheckoutRequest) -> CheckoutRedirect:
        """Create a checkout at the provider and say where to send the buyer."""
        ...

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> Notice:
        """Authenticate and decode a webhook; raise WebhookError when it cannot be trusted."""
        ...

    def fetch_outcome(self, reference: str) -> PaymentEvent | None:
        """Ask the provider how a checkout stands (for the return page); None when unknown."""
        ...

    def refund(
        self, reference: str, amount_cents: int, *, idempotency_key: str,
        payment_reference: str | None = None, metadata: Mapping[str, str] | None = None,
    ) -> GatewayRefund:
        """Give (part of) the money of a paid checkout back, once per idempotency key."""
        ...

    def card_country(self, payment_reference: str) -> str | None:
        """The paying card's country (ISO 3166 alpha-2), None when the provider does not say."""
        ...

    def list_refunds(self, payment_reference: str) -> list[GatewayRefund]:
        """Every refund the provider holds for a payment."""
        ...
