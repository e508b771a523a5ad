"""The billing seam: what subscriptions ask of a recurring-payment provider.

Comptoir keeps the subscription (seats, term, status, history) and issues every invoice; the
provider holds the buyer's payment method and takes the money of each term. Two providers:

- `TestBilling` (development, tests, the demo): no network. The card the first order was paid
  with is remembered by its test number; Comptoir's own renewal job (`drives_renewals` False)
  charges it when a term ends, and it pays or is declined as the card page would.
- Stripe Billing (`payments/stripe_billing.py`): a Customer, a Product per catalogue product, a
  Subscription whose first term was paid by the order itself; Stripe's clock renews it
  (`drives_renewals` True) and tells us by webhook (`invoice.paid`, `invoice.payment_failed`).

A change of seats or an added application is charged at once, prorated to the end of the term,
on the saved payment method (`charge_change`); nothing changes at the provider when the charge
fails.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class ChargeOutcome(StrEnum):
    PAID = "paid"
    FAILED = "failed"  # declined: nothing was taken
    PENDING = "pending"  # under way (a SEPA debit): the webhook will say


@dataclass(frozen=True)
class BillingItem:
    """One product of a subscription: its seats at a price per seat and term, VAT included."""

    product_code: str
    product_name: str
    seats: int
    unit_amount_cents: int


@dataclass(frozen=True)
class SubscriptionTerms:
    """What the provider is asked to bill."""

    subscription_id: str  # ours
    number: str
    email: str
    currency: str
    term_months: int  # 1 (monthly) or 12 (annual)
    items: tuple[BillingItem, ...]
    current_period_end: datetime  # the first term is paid by the order: billing starts here


@dataclass(frozen=True)
class Enrolment:
    """The provider's ids for a subscription."""

    customer_reference: str | None
    subscription_reference: str | None
    payment_method: str | None


@dataclass(frozen=True)
class Charge:
    """Money taken (or refused) for a term or a change."""

    reference: str  # the provider's id (Stripe: the invoice in_...)
    outcome: ChargeOutcome
    amount_cents: int
    currency: str
    failure: str | None = None


@dataclass(frozen=True)
class BillingNotice:
    """A provider's news about a subscription, already authenticated."""

    event_id: str
    event_type: str  # the provider's name: invoice.paid, invoice.payment_failed, ...
    subscription_reference: str
    invoice_reference: str | None
    outcome: ChargeOutcome | None  # None: news that is not about money (status, deletion)
    amount_cents: int | None
    currency: str | None
    period_start: datetime | None
    period_end: datetime | None
    billing_reason: str | None  # Stripe's: subscription_cycle, subscription_update, ...
    failure: str | None = None
    status: str | None = None  # the provider's subscription status, when the event carries it


class BillingError(Exception):
    """The provider could not be reached or refused; `retryable` when the outcome is unknown."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class BillingGateway(Protocol):
    name: str
    drives_renewals: bool  # True: the provider's clock renews and tells us by webhook

    def enrol(self, terms: SubscriptionTerms, *, payment_reference: str | None,
              idempotency_key: str) -> Enrolment:
        """Start billing the terms after the first, on the payment method of `payment_reference`
        (the first order's payment); once per idempotency key."""
        ...

    def charge_renewal(self, enrolment: Enrolment, amount_cents: int, currency: str, *,
                       idempotency_key: str) -> Charge:
        """Take one term's money now; only for a provider that does not drive renewals."""
        ...

    def charge_change(self, enrolment: Enrolment, terms: SubscriptionTerms, *,
                      amount_cents: int, proration_at: datetime,
                      idempotency_key: str) -> Charge:
        """Charge a change (the new `terms`) prorated from `proration_at` to the term's end, and
        apply it at the provider only if it is paid; once per idempotency key."""
        ...

    def set_cancel_at_period_end(self, enrolment: Enrolment, cancel: bool) -> None:
        """Stop (or resume) the renewal at the end of the current term."""
        ...

    def end_now(self, enrolment: Enrolment) -> None:
        """Stop billing at once (suspension after dunning, or an operator's ending)."""
        ...

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> BillingNotice:
        """Authenticate and decode a webhook; raise BillingError when it cannot be trusted."""
        ...


# Test billing: the card page's test numbers (payments/test_gateway.py) decide each charge.
TEST_METHOD_PREFIX = "testcard:"


class TestBilling:
    """Charges the test card the first order was paid with; no network, no money."""

    __test__ = False  # not a pytest test class
    name = "test"
    drives_renewals = False

    def __init__(self, environment: str) -> None:
        if environment == "production":
            raise RuntimeError("the test billing provider is refused in production")

    def enrol(self, terms: SubscriptionTerms, *, payment_reference: str | None,
              idempotency_key: str) -> Enrolment:
        method = payment_reference if (payment_reference or "").startswith(TEST_METHOD_PREFIX) \
            else f"{TEST_METHOD_PREFIX}4242424242424242"
        return Enrolment(None, f"testsub_{_digest(idempotency_key)}", method)

    def charge_renewal(self, enrolment: Enrolment, amount_cents: int, currency: str, *,
                       idempotency_key: str) -> Charge:
        return self._charge(enrolment, amount_cents, currency, idempotency_key)

    def charge_change(self, enrolment: Enrolment, terms: SubscriptionTerms, *,
                      amount_cents: int, proration_at: datetime,
                      idempotency_key: str) -> Charge:
        return self._charge(enrolment, amount_cents, currency=terms.currency,
                            idempotency_key=idempotency_key)

    def set_cancel_at_period_end(self, enrolment: Enrolment, cancel: bool) -> None:
        return None  # Comptoir's own renewal job reads the subscription's flag

    def end_now(self, enrolment: Enrolment) -> None:
        return None

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> BillingNotice:
        raise BillingError("the test billing provider sends no webhooks")

    @staticmethod
    def _charge(enrolment: Enrolment, amount_cents: int, currency: str,
                idempotency_key: str) -> Charge:
        from payments.test_gateway import TEST_CARD_OK, card_country

        card = (enrolment.payment_method or "").removeprefix(TEST_METHOD_PREFIX)
        paying = card == TEST_CARD_OK or card_country(card) is not None
        reference = f"testcharge_{_digest(idempotency_key)}"
        if paying:
            return Charge(reference, ChargeOutcome.PAID, amount_cents, currency)
        return Charge(reference, ChargeOutcome.FAILED, amount_cents, currency,
                      failure="card declined (test card)")


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def billing_for(name: str) -> BillingGateway:
    """The billing provider a subscription was started on (its order's payment gateway)."""
    from flask import current_app

    if name == "stripe":
        from payments.stripe_billing import StripeBilling

        cfg = current_app.config
        return StripeBilling(secret_key=cfg["STRIPE_SECRET_KEY"],
                             webhook_secret=cfg["STRIPE_WEBHOOK_SECRET"],
                             api_base=cfg.get("STRIPE_API_BASE"))
    if name == "test":
        return TestBilling(environment=current_app.config["ENV"])
    raise ValueError(f"unknown billing provider {name!r}")
