"""Stripe Billing behind the BillingGateway seam (subscriptions/billing.py).

One Stripe Customer per buyer (made by the first order's Checkout Session, which saved the card
for off-session use), one Product per catalogue product (`comptoir_<code>`), one Subscription per
Comptoir subscription, its items priced inline (`price_data`: per seat, per term).

The first term is paid by the order itself, so the Subscription is created with
`billing_cycle_anchor` at the end of that term and `proration_behavior=none`: Stripe documents
that "the initial period up to the billing cycle anchor will be free—similar to a free trial.
Unlike a trial, there is no 0 USD invoice" (docs.stripe.com/billing/subscriptions/billing-cycle).
A trial (`trial_end`) would do the same money-wise but leaves the subscription `trialing`, sends
trial e-mails and a 0.00 invoice, and Stripe does not prorate changes made during a trial, so an
added seat in the first term would go unpaid. `backdate_start_date` (when the first order was
paid: the first term's start) makes the current period the whole paid term, so a seat change is
prorated over the term's true length.

Stripe's clock renews (`drives_renewals`) and tells us by signed webhooks.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import stripe

from payments.base import WebhookError
from payments.stripe_gateway import _gateway_error, event_parts, stripe_client, verified_body
from subscriptions.billing import (
    BillingError,
    BillingNotice,
    Charge,
    ChargeOutcome,
    Enrolment,
    SubscriptionTerms,
)

PRODUCT_PREFIX = "comptoir_"
INVOICE_EVENTS = frozenset({"invoice.paid", "invoice.payment_failed"})
SUBSCRIPTION_EVENTS = frozenset({"customer.subscription.updated",
                                 "customer.subscription.deleted"})


class StripeBilling:
    """Subscriptions on Stripe Billing: enrol after the first order, prorated changes, webhooks."""

    name = "stripe"
    drives_renewals = True

    def __init__(self, secret_key: str, webhook_secret: str, api_base: str | None = None,
                 tolerance_seconds: int = 300, *, max_network_retries: int = 2,
                 timeout_seconds: float = 20) -> None:
        if not secret_key:
            raise ValueError("StripeBilling needs a secret key")
        if not webhook_secret:
            raise ValueError("StripeBilling needs a webhook signing secret")
        if tolerance_seconds <= 0:
            raise ValueError("tolerance_seconds must be positive")
        self._webhook_secret = webhook_secret
        self._tolerance = tolerance_seconds
        self._client = stripe_client(secret_key, api_base, max_network_retries, timeout_seconds)

    # --- enrolment ---------------------------------------------------------------------------

    def enrol(self, terms: SubscriptionTerms, *, payment_reference: str | None,
              idempotency_key: str) -> Enrolment:
        """Create the Subscription on the card the first order's PaymentIntent saved."""
        _check_terms(terms)
        if not (payment_reference or "").startswith("pi_"):
            raise BillingError("enrolling on Stripe needs the first order's PaymentIntent (pi_…)")
        intent = self._call("retrieve the first order's payment",
                            self._client.v1.payment_intents.retrieve, payment_reference)
        customer, method = _id(intent.get("customer")), _id(intent.get("payment_method"))
        if intent.get("status") != "succeeded":
            raise BillingError(f"the first order's payment is {intent.get('status')}, not paid")
        if not customer or not method:
            raise BillingError("the first order's payment saved no card on a Customer: its "
                               "Checkout Session did not ask to save the payment method")
        anchor = _timestamp(terms.current_period_end)
        params: dict[str, Any] = {
            "customer": customer,
            "items": [{"price_data": self._price_data(terms, item.product_code,
                                                      item.product_name, item.unit_amount_cents),
                       "quantity": item.seats} for item in terms.items],
            "default_payment_method": method,
            "billing_cycle_anchor": anchor,
            "proration_behavior": "none",
            "off_session": True,
            "metadata": {"comptoir_subscription": terms.subscription_id,
                         "comptoir_number": terms.number},
        }
        paid_at = intent.get("created")
        if isinstance(paid_at, int) and not isinstance(paid_at, bool) and paid_at < anchor:
            params["backdate_start_date"] = paid_at  # the first term began when it was paid
        sub = self._call("create the subscription", self._client.v1.subscriptions.create,
                         params=params, options={"idempotency_key": idempotency_key})
        if not str(sub.get("id", "")).startswith("sub_"):
            raise BillingError("Stripe answered a subscription without a sub_ id", retryable=True)
        return Enrolment(customer_reference=customer, subscription_reference=sub["id"],
                         payment_method=method)

    def _price_data(self, terms: SubscriptionTerms, code: str, name: str,
                    unit_amount_cents: int) -> dict[str, Any]:
        return {"currency": terms.currency.lower(), "product": self._product(code, name),
                "unit_amount": unit_amount_cents,
                "recurring": {"interval": "month", "interval_count": terms.term_months}}

    def _product(self, code: str, name: str) -> str:
        """The Product of a catalogue product, made once: its id is comptoir_<code>."""
        product_id = PRODUCT_PREFIX + code
        try:
            return str(self._client.v1.products.retrieve(product_id).id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status != 404:
                raise _billing_error("look a product up", exc) from exc
        except stripe.StripeError as exc:
            raise _billing_error("look a product up", exc) from exc
        try:
            created = self._client.v1.products.create(
                params={"id": product_id, "name": name, "metadata": {"comptoir_code": code}},
                options={"idempotency_key": f"comptoir-product-{code}"})
            return str(created.id)
        except stripe.StripeError as exc:
            try:  # another worker made it in between
                return str(self._client.v1.products.retrieve(product_id).id)
            except stripe.StripeError:
                raise _billing_error("create a product", exc) from exc

    # --- money -------------------------------------------------------------------------------

    def charge_renewal(self, enrolment: Enrolment, amount_cents: int, currency: str, *,
                       idempotency_key: str) -> Charge:
        raise BillingError("Stripe renews its subscriptions itself: Comptoir charges no renewal")

    def charge_change(self, enrolment: Enrolment, terms: SubscriptionTerms, *,
                      amount_cents: int, proration_at: datetime,
                      idempotency_key: str) -> Charge:
        """Invoice the change prorated from `proration_at` now; it applies only once paid.

        `proration_behavior=always_invoice` invoices the prorations at once, and
        `payment_behavior=pending_if_incomplete` keeps the change pending until that invoice is
        paid (docs.stripe.com/billing/subscriptions/pending-updates). A declined invoice is voided,
        which discards the pending change, so Stripe never collects it later. The amount is
        Stripe's own proration (to the second); `amount_cents` is Comptoir's estimate.
        """
        _check_terms(terms)
        sub_id = _subscription(enrolment)
        sub = self._call("retrieve the subscription", self._client.v1.subscriptions.retrieve,
                         sub_id)
        proration_date = _timestamp(proration_at)
        params: dict[str, Any] = {
            "items": self._item_changes(sub, terms),
            "proration_behavior": "always_invoice",
            "payment_behavior": "pending_if_incomplete",
            "proration_date": proration_date,
            "off_session": True,
        }
        try:
            updated = self._client.v1.subscriptions.update(
                sub_id, params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key}).to_dict()
        except stripe.IdempotencyError:
            # This key went through before with the items as they were then: find its invoice.
            updated = sub
            invoice = self._invoice(sub.get("latest_invoice"))
            if not _prorates_from(invoice, proration_date):
                raise BillingError("Stripe refused a repeated change whose parameters changed, "
                                   "and its invoice is not the latest one") from None
            return self._charge_of(invoice, updated)
        except stripe.StripeError as exc:
            raise _billing_error("change the subscription", exc) from exc
        invoice = self._invoice(updated.get("latest_invoice"))
        if not _prorates_from(invoice, proration_date):
            raise BillingError("Stripe made no proration invoice for the change: nothing to "
                               "charge (the items are unchanged?)")
        return self._charge_of(invoice, updated)

    def _item_changes(self, sub: Mapping[str, Any],
                      terms: SubscriptionTerms) -> list[dict[str, Any]]:
        """One entry per item: kept ones by id (new quantity, new price if it changed), new
        products with their price_data, and the products no longer in the terms deleted."""
        current = {}
        for item in (sub.get("items") or {}).get("data") or []:
            product = str(((item.get("price") or {}).get("product")) or "")
            current[product.removeprefix(PRODUCT_PREFIX)] = item
        changes: list[dict[str, Any]] = []
        for wanted in terms.items:
            item = current.pop(wanted.product_code, None)
            if item is None:
                changes.append({"price_data": self._price_data(
                    terms, wanted.product_code, wanted.product_name, wanted.unit_amount_cents),
                    "quantity": wanted.seats})
                continue
            change: dict[str, Any] = {"id": item["id"], "quantity": wanted.seats}
            if (item.get("price") or {}).get("unit_amount") != wanted.unit_amount_cents:
                change["price_data"] = self._price_data(
                    terms, wanted.product_code, wanted.product_name, wanted.unit_amount_cents)
            changes.append(change)
        changes.extend({"id": item["id"], "deleted": True} for item in current.values())
        return changes

    def _invoice(self, reference: object) -> dict[str, Any]:
        invoice_id = _id(reference)
        if not invoice_id or not invoice_id.startswith("in_"):
            raise BillingError("Stripe answered the change without its invoice", retryable=True)
        return self._call("retrieve the change's invoice", self._client.v1.invoices.retrieve,
                          invoice_id, params={"expand": ["payments"]})

    def _charge_of(self, invoice: Mapping[str, Any], sub: Mapping[str, Any]) -> Charge:
        """PAID, FAILED (the invoice voided, the change discarded) or PENDING (under way)."""
        currency = str(invoice.get("currency") or "").upper()
        status = invoice.get("status")
        if status == "paid":
            return Charge(invoice["id"], ChargeOutcome.PAID, _cents(invoice.get("amount_paid")),
                          currency)
        amount = _cents(invoice.get("amount_due"))
        if status == "void":
            return Charge(invoice["id"], ChargeOutcome.FAILED, amount, currency,
                          failure="the change's invoice was voided")
        failure = self._decline(invoice)
        if status == "open" and failure is not None:
            self._call("void the declined change's invoice",
                       self._client.v1.invoices.void_invoice, invoice["id"])
            return Charge(invoice["id"], ChargeOutcome.FAILED, amount, currency, failure=failure)
        return Charge(invoice["id"], ChargeOutcome.PENDING, amount, currency)

    def _decline(self, invoice: Mapping[str, Any]) -> str | None:
        """The decline message of the invoice's last payment attempt; None when none failed."""
        payments = ((invoice.get("payments") or {}).get("data")) or []
        if not payments:
            return "no payment method could be charged" if invoice.get("attempted") else None
        intent_id = _id((payments[-1].get("payment") or {}).get("payment_intent"))
        if not intent_id:
            return "no payment method could be charged"
        intent = self._call("read the change's payment", self._client.v1.payment_intents.retrieve,
                            intent_id)
        if intent.get("status") in ("processing", "succeeded"):
            return None
        error = intent.get("last_payment_error") or {}
        return str(error.get("message") or f"the payment is {intent.get('status')}")

    # --- lifecycle ---------------------------------------------------------------------------

    def set_cancel_at_period_end(self, enrolment: Enrolment, cancel: bool) -> None:
        self._call("change the subscription's renewal", self._client.v1.subscriptions.update,
                   _subscription(enrolment), params={"cancel_at_period_end": cancel})

    def end_now(self, enrolment: Enrolment) -> None:
        """Cancel at once, without a final invoice or proration; already ended is fine."""
        sub_id = _subscription(enrolment)
        sub = self._call("retrieve the subscription", self._client.v1.subscriptions.retrieve,
                         sub_id)
        if sub.get("status") in ("canceled", "incomplete_expired"):
            return
        self._call("cancel the subscription", self._client.v1.subscriptions.cancel, sub_id,
                   params={"invoice_now": False, "prorate": False})

    def _call(self, action: str, method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            answer = method(*args, **kwargs)
        except stripe.StripeError as exc:
            raise _billing_error(action, exc) from exc
        return dict(answer.to_dict())

    # --- webhooks ----------------------------------------------------------------------------

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> BillingNotice:
        """Verify the signature as the payment gateway does and decode the billing event."""
        try:
            event_id, event_type, obj = event_parts(
                verified_body(payload, headers, self._webhook_secret, self._tolerance))
        except WebhookError as exc:
            raise BillingError(str(exc)) from exc
        if event_type in INVOICE_EVENTS:
            return _invoice_notice(event_id, event_type, obj)
        if event_type in SUBSCRIPTION_EVENTS:
            return _subscription_notice(event_id, event_type, obj)
        invoice = _id(obj) if isinstance(obj, dict) and obj.get("object") == "invoice" else None
        return BillingNotice(event_id, event_type, _subscription_of(obj) or "", invoice, None,
                             None, None, None, None, None)


def _invoice_notice(event_id: str, event_type: str, obj: object) -> BillingNotice:
    if not isinstance(obj, dict) or obj.get("object") != "invoice" or not isinstance(
            obj.get("id"), str):
        raise BillingError(f"{event_type} does not carry an invoice")
    subscription = _subscription_of(obj)
    if subscription is None:  # a one-off invoice: not a subscription's
        return BillingNotice(event_id, event_type, "", obj["id"], None, None, None, None, None,
                             obj.get("billing_reason"))
    paid = event_type == "invoice.paid"
    amount = obj.get("amount_paid" if paid else "amount_due")
    currency = obj.get("currency")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise BillingError(f"{event_type} carries an invoice without an integer amount")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise BillingError(f"{event_type} carries an invoice without an ISO currency")
    start, end = _line_period(obj)
    attempts = obj.get("attempt_count")
    return BillingNotice(
        event_id=event_id, event_type=event_type, subscription_reference=subscription,
        invoice_reference=obj["id"],
        outcome=ChargeOutcome.PAID if paid else ChargeOutcome.FAILED,
        amount_cents=amount, currency=currency.upper(), period_start=start, period_end=end,
        billing_reason=obj.get("billing_reason") if isinstance(obj.get("billing_reason"), str)
        else None,
        failure=None if paid else f"Stripe could not take the payment (attempt {attempts})",
    )


def _subscription_notice(event_id: str, event_type: str, obj: object) -> BillingNotice:
    if not isinstance(obj, dict) or obj.get("object") != "subscription" or not str(
            obj.get("id", "")).startswith("sub_"):
        raise BillingError(f"{event_type} does not carry a subscription")
    items = (obj.get("items") or {}).get("data") or [{}]
    first = items[0] if isinstance(items[0], dict) else {}
    status = obj.get("status")
    return BillingNotice(
        event_id=event_id, event_type=event_type, subscription_reference=obj["id"],
        invoice_reference=_id(obj.get("latest_invoice")), outcome=None, amount_cents=None,
        currency=None,
        period_start=_when(first.get("current_period_start", obj.get("current_period_start"))),
        period_end=_when(first.get("current_period_end", obj.get("current_period_end"))),
        billing_reason=None, status=status if isinstance(status, str) else None,
    )


def _subscription_of(obj: object) -> str | None:
    """The subscription an invoice (or a subscription) belongs to, in any API version."""
    if not isinstance(obj, dict):
        return None
    if obj.get("object") == "subscription":
        return _id(obj)
    details = ((obj.get("parent") or {}).get("subscription_details")) or {}
    return _id(details.get("subscription") or obj.get("subscription"))


def _line_period(invoice: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    """The period of the invoice's subscription line: the term it pays (the invoice's own
    period_start/period_end are the term before, for a renewal)."""
    lines = ((invoice.get("lines") or {}).get("data")) or []
    subscription_lines = [line for line in lines if isinstance(line, dict) and (
        ((line.get("parent") or {}).get("subscription_item_details")) or line.get("subscription")
        or line.get("type") == "subscription")]
    regular = [line for line in subscription_lines if not _is_proration(line)]
    for line in regular or subscription_lines:
        period = line.get("period") or {}
        start, end = _when(period.get("start")), _when(period.get("end"))
        if start and end:
            return start, end
    return _when(invoice.get("period_start")), _when(invoice.get("period_end"))


def _is_proration(line: Mapping[str, Any]) -> bool:
    details = ((line.get("parent") or {}).get("subscription_item_details")) or {}
    return bool(details.get("proration", line.get("proration")))


def _prorates_from(invoice: Mapping[str, Any], proration_date: int) -> bool:
    """Whether the invoice is the proration invoice of a change made at `proration_date`."""
    if invoice.get("billing_reason") != "subscription_update":
        return False
    lines = ((invoice.get("lines") or {}).get("data")) or []
    return any(_is_proration(line) and (line.get("period") or {}).get("start") == proration_date
               for line in lines)


def _check_terms(terms: SubscriptionTerms) -> None:
    if terms.term_months < 1 or terms.term_months > 12:
        raise BillingError(f"a term of {terms.term_months} months cannot be billed on Stripe")
    if not terms.items:
        raise BillingError("a subscription without items cannot be billed")
    if len(terms.currency) != 3 or not terms.currency.isalpha():
        raise BillingError(f"{terms.currency!r} is not an ISO currency")
    for item in terms.items:
        if item.seats < 1 or item.unit_amount_cents < 0 or not item.product_code:
            raise BillingError(f"item {item.product_code!r} needs a code, seats >= 1 and a "
                               "price >= 0")


def _subscription(enrolment: Enrolment) -> str:
    if not (enrolment.subscription_reference or "").startswith("sub_"):
        raise BillingError("this subscription has no Stripe subscription (sub_…)")
    return str(enrolment.subscription_reference)


def _billing_error(action: str, exc: stripe.StripeError) -> BillingError:
    error = _gateway_error(action, exc)
    return BillingError(str(error), retryable=error.retryable)


def _id(value: object) -> str | None:
    """An object's id, whether the field holds the id or the expanded object."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _cents(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BillingError("Stripe answered an invoice without an integer amount", retryable=True)
    return value


def _timestamp(when: datetime) -> int:
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())


def _when(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return datetime.fromtimestamp(value, UTC)
