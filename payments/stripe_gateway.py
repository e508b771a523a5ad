"""Stripe Checkout behind the PaymentGateway seam: the only module that talks to Stripe."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

import stripe

from payments.base import (
    CheckoutRedirect,
    CheckoutRequest,
    DisputeNotice,
    GatewayError,
    GatewayRefund,
    Notice,
    PaymentEvent,
    PaymentOutcome,
    RefundNotice,
    WebhookError,
)

SIGNATURE_HEADER = "Stripe-Signature"
STRIPE_LOCALES = frozenset({"fr", "en"})

# Event types we act on; every other type is acknowledged and ignored.
HANDLED_EVENTS = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    }
)
# A refund made anywhere (our API call or Stripe's dashboard): the Charge, or the Refund itself.
CHARGE_REFUND_EVENTS = frozenset({"charge.refunded"})
REFUND_EVENTS = frozenset(
    {"charge.refund.updated", "refund.created", "refund.updated", "refund.failed"}
)
DISPUTE_EVENTS = frozenset(
    {
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
    }
)


def stripe_client(secret_key: str, api_base: str | None, max_network_retries: int,
                  timeout_seconds: float) -> stripe.StripeClient:
    """A client of our own: the key lives on it only, never on the global stripe module."""
    return stripe.StripeClient(
        secret_key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=max_network_retries,
        http_client=stripe.RequestsClient(timeout=timeout_seconds),
    )


class StripeGateway:
    """Stripe Checkout: hosted payment page, signed webhooks, session look-ups."""

    name = "stripe"

    def __init__(
        self,
        secret_key: str,
        webhook_secret: str,
        api_base: str | None = None,
        tolerance_seconds: int = 300,
        *,
        max_network_retries: int = 2,
        timeout_seconds: float = 20,
    ) -> None:
        if not secret_key:
            raise ValueError("StripeGateway needs a secret key")
        if not webhook_secret:
            raise ValueError("StripeGateway needs a webhook signing secret")
        if tolerance_seconds <= 0:
            raise ValueError("tolerance_seconds must be positive")
        self._webhook_secret = webhook_secret
        self._tolerance = tolerance_seconds
        self._client = stripe_client(secret_key, api_base, max_network_retries, timeout_seconds)

    def start_checkout(self, request: CheckoutRequest) -> CheckoutRedirect:
        """Create a Checkout Session for the order and return its hosted page."""
        if not request.lines:
            raise GatewayError("cannot start a Stripe checkout without lines")
        currency = request.currency.lower()
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": currency,
                        "unit_amount": line.unit_amount_cents,
                        "product_data": {"name": line.name},
                    },
                    "quantity": line.quantity,
                }
                for line in request.lines
            ],
            "customer_email": request.customer_email,
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "locale": request.locale if request.locale in STRIPE_LOCALES else "auto",
            "client_reference_id": str(request.order_id),
            "metadata": _metadata(request),
        }
        if request.saves_payment_method:
            # Stripe's "save payment details during payment": a Customer is created and the card
            # is kept on it for off-session charges (the subscription's renewals).
            params["customer_creation"] = "always"
            params["payment_intent_data"] = {"setup_future_usage": "off_session"}
        try:
            session = self._client.v1.checkout.sessions.create(params=params).to_dict()  # type: ignore[arg-type]
        except stripe.StripeError as exc:
            raise _gateway_error("create a Checkout Session", exc) from exc
        if not session.get("id") or not session.get("url"):
            raise GatewayError("Stripe returned a Checkout Session without an id or a URL")
        return CheckoutRedirect(reference=session["id"], url=session["url"])

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> Notice:
        """Verify the Stripe-Signature header and turn the event into a PaymentEvent."""
        return _event_from_body(
            verified_body(payload, headers, self._webhook_secret, self._tolerance))

    def refund(
        self, reference: str, amount_cents: int, *, idempotency_key: str,
        payment_reference: str | None = None, metadata: Mapping[str, str] | None = None,
    ) -> GatewayRefund:
        """Give (part of) the buyer's money back, once per idempotency key (Stripe keeps keys
        24 hours: a retry within them returns the first refund instead of making another)."""
        try:
            intent = payment_reference or self._payment_intent(reference)
            refund = self._client.v1.refunds.create(
                params={"payment_intent": intent, "amount": amount_cents,
                        "metadata": {"checkout_session": reference, **(metadata or {})}},
                options={"idempotency_key": idempotency_key},
            ).to_dict()
        except stripe.StripeError as exc:
            raise _gateway_error("refund a payment", exc) from exc
        try:
            return _gateway_refund(refund)
        except ValueError as exc:
            raise GatewayError(f"Stripe answered a refund we cannot read: {exc}",
                               retryable=True) from exc

    def list_refunds(self, payment_reference: str) -> list[GatewayRefund]:
        """Every refund of a PaymentIntent, made by us or in Stripe's dashboard."""
        refunds: list[GatewayRefund] = []
        try:
            page = self._client.v1.refunds.list(
                params={"payment_intent": payment_reference, "limit": 100})
            for item in page.auto_paging_iter():
                refunds.append(_gateway_refund(item.to_dict()))
        except stripe.StripeError as exc:
            raise _gateway_error("list the refunds of a payment", exc) from exc
        except ValueError as exc:
            raise GatewayError(f"Stripe listed a refund we cannot read: {exc}") from exc
        return refunds

    def card_country(self, payment_reference: str) -> str | None:
        """The country of the card behind a PaymentIntent (its payment method's card.country),
        or None when it was not a card or does not say."""
        try:
            intent = self._client.v1.payment_intents.retrieve(
                payment_reference, params={"expand": ["payment_method"]}).to_dict()
        except stripe.StripeError as exc:
            raise _gateway_error("retrieve a payment", exc) from exc
        method = intent.get("payment_method")
        card = method.get("card") if isinstance(method, dict) else None
        country = card.get("country") if isinstance(card, dict) else None
        if isinstance(country, str) and len(country) == 2 and country.isalpha():
            return country.upper()
        return None

    def _payment_intent(self, reference: str) -> str:
        session = self._client.v1.checkout.sessions.retrieve(reference).to_dict()
        payment_intent = session.get("payment_intent")
        if not isinstance(payment_intent, str) or not payment_intent.startswith("pi_"):
            raise GatewayError("the Checkout Session has no payment to refund")
        return payment_intent

    def fetch_outcome(self, reference: str) -> PaymentEvent | None:
        """Retrieve the Checkout Session; its event id is synthetic: return:<session id>:<outcome>.

        The return page has no Stripe event id. The synthetic id carries the outcome so that a
        session first seen pending and later paid yields two distinct ids; the shop's unique
        event-id constraint and the idempotent confirm_payment make a repeat of either harmless.
        """
        try:
            data = self._client.v1.checkout.sessions.retrieve(reference).to_dict()
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None
            raise _gateway_error("retrieve a Checkout Session", exc) from exc
        except stripe.StripeError as exc:
            raise _gateway_error("retrieve a Checkout Session", exc) from exc
        outcome = _session_outcome(data)
        try:
            amount, currency = _amount(data), _currency(data)
        except ValueError as exc:
            raise GatewayError(f"cannot read the Checkout Session: {exc}") from exc
        return PaymentEvent(
            event_id=f"return:{reference}:{outcome}",
            event_type="checkout.session.retrieved",
            outcome=outcome,
            order_id=_order_id(data),
            reference=reference,
            amount_cents=amount,
            currency=currency,
            payment_reference=_intent_id(data.get("payment_intent")),
            purpose=_purpose(data),
        )


def _gateway_refund(refund: Mapping[str, Any]) -> GatewayRefund:
    """Read a Stripe Refund object, refusing anything malformed."""
    refund_id, amount = refund.get("id"), refund.get("amount")
    if not isinstance(refund_id, str) or not refund_id.startswith("re_"):
        raise ValueError("a refund without a re_ id")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError(f"refund {refund_id} has no positive integer amount")
    currency = refund.get("currency")
    if not isinstance(currency, str) or len(currency) != 3:
        raise ValueError(f"refund {refund_id} has no ISO currency")
    status = refund.get("status")
    metadata = refund.get("metadata")
    return GatewayRefund(
        reference=refund_id, amount_cents=amount, currency=currency.upper(),
        status=status if isinstance(status, str) else "pending",
        payment_reference=_intent_id(refund.get("payment_intent")),
        metadata={str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict)
        else {},
    )


def _intent_id(value: object) -> str | None:
    """A PaymentIntent id, whether the field holds the id or the expanded object."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value.startswith("pi_") else None


def _gateway_error(action: str, exc: stripe.StripeError) -> GatewayError:
    """Describe a Stripe failure without echoing keys or request bodies."""
    request_id = f" (request {exc.request_id})" if exc.request_id else ""
    retryable = isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError) or (
        isinstance(exc, stripe.APIError) and not isinstance(exc, stripe.IdempotencyError)
    )
    if isinstance(exc, stripe.APIConnectionError):
        reason = "could not reach Stripe"
    elif isinstance(exc, stripe.IdempotencyError):
        reason = "Stripe refused a repeated request whose parameters changed"
    elif isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        reason = "Stripe refused our API key"
    elif isinstance(exc, stripe.RateLimitError):
        reason = "Stripe is rate limiting us"
    elif isinstance(exc, stripe.InvalidRequestError):
        param = f" [{exc.param}]" if exc.param else ""
        reason = f"Stripe refused the request{param}: {exc.user_message or 'invalid request'}"
    else:
        reason = f"Stripe answered HTTP {exc.http_status or 'error'}"
    return GatewayError(f"cannot {action}: {reason}{request_id}", retryable=retryable)


def verified_body(payload: bytes, headers: Mapping[str, str], secret: str,
                  tolerance_seconds: int) -> str:
    """The body of a webhook whose Stripe-Signature matches, signed within the tolerance."""
    header = _header(headers, SIGNATURE_HEADER)
    if not header:
        raise WebhookError("missing Stripe-Signature header")
    timestamp = _signature_timestamp(header)
    try:
        body = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebhookError("webhook body is not UTF-8") from exc
    try:
        # tolerance=None: the library only checks stale timestamps; we check both ways below.
        stripe.WebhookSignature.verify_header(body, header, secret, None)
    except stripe.SignatureVerificationError as exc:
        raise WebhookError("Stripe-Signature does not match the body") from exc
    now = time.time()
    if timestamp < now - tolerance_seconds:
        raise WebhookError("Stripe-Signature timestamp is too old")
    if timestamp > now + tolerance_seconds:
        raise WebhookError("Stripe-Signature timestamp is in the future")
    return body


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Read a header case-insensitively from any mapping (Flask headers or a plain dict)."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def _signature_timestamp(header: str) -> int:
    """Extract t=<unix seconds> from a Stripe-Signature header."""
    stamps = [part[2:] for part in header.split(",") if part.strip().startswith("t=")]
    if len(stamps) != 1 or not stamps[0].strip().isdigit():
        raise WebhookError("malformed Stripe-Signature header")
    return int(stamps[0])


def event_parts(body: str) -> tuple[str, str, object]:
    """The id, type and data.object of a verified Stripe event body."""
    try:
        event = json.loads(body)
    except ValueError as exc:
        raise WebhookError("webhook body is not JSON") from exc
    if not isinstance(event, dict) or event.get("object") != "event":
        raise WebhookError("webhook body is not a Stripe event")
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str):
        raise WebhookError("Stripe event lacks an id or a type")
    data = event.get("data")
    return event_id, event_type, data.get("object") if isinstance(data, dict) else None


def _event_from_body(body: str) -> PaymentEvent | RefundNotice | DisputeNotice:
    """Decode a verified Stripe event body."""
    event_id, event_type, obj = event_parts(body)
    if event_type in CHARGE_REFUND_EVENTS | REFUND_EVENTS:
        return _refund_notice(event_id, event_type, obj)
    if event_type in DISPUTE_EVENTS:
        return _dispute_notice(event_id, event_type, obj)
    if event_type not in HANDLED_EVENTS:
        return PaymentEvent(event_id, event_type, PaymentOutcome.IGNORED, None, None, None, None)
    if not isinstance(obj, dict) or obj.get("object") != "checkout.session":
        raise WebhookError(f"{event_type} does not carry a Checkout Session")
    session_id = obj.get("id")
    if not isinstance(session_id, str) or not session_id:
        raise WebhookError(f"{event_type} carries a Checkout Session without an id")
    order_id = _order_id(obj)
    if order_id is None:
        raise WebhookError(f"{event_type} has no valid metadata.{_id_key(obj)}")
    try:
        amount, currency = _amount(obj), _currency(obj)
    except ValueError as exc:
        raise WebhookError(str(exc)) from exc
    return PaymentEvent(
        event_id=event_id,
        event_type=event_type,
        outcome=_event_outcome(event_type, obj),
        order_id=order_id,
        reference=session_id,
        amount_cents=amount,
        currency=currency,
        payment_reference=_intent_id(obj.get("payment_intent")),
        purpose=_purpose(obj),
    )


def _refund_notice(event_id: str, event_type: str, obj: object) -> RefundNotice:
    """charge.refunded carries the Charge (look its refunds up); the others carry the Refund."""
    if not isinstance(obj, dict):
        raise WebhookError(f"{event_type} carries no object")
    if event_type in CHARGE_REFUND_EVENTS:
        if obj.get("object") != "charge":
            raise WebhookError(f"{event_type} does not carry a Charge")
        intent = _intent_id(obj.get("payment_intent"))
        if intent is None:
            raise WebhookError(f"{event_type} names no PaymentIntent")
        return RefundNotice(event_id, event_type, intent, None)
    if obj.get("object") != "refund":
        raise WebhookError(f"{event_type} does not carry a Refund")
    try:
        refund = _gateway_refund(obj)
    except ValueError as exc:
        raise WebhookError(f"{event_type}: {exc}") from exc
    return RefundNotice(event_id, event_type, refund.payment_reference, refund)


def _dispute_notice(event_id: str, event_type: str, obj: object) -> DisputeNotice:
    if not isinstance(obj, dict) or obj.get("object") != "dispute":
        raise WebhookError(f"{event_type} does not carry a Dispute")
    dispute_id, amount, currency, status = (obj.get("id"), obj.get("amount"), obj.get("currency"),
                                            obj.get("status"))
    if not isinstance(dispute_id, str) or not dispute_id:
        raise WebhookError(f"{event_type} carries a Dispute without an id")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise WebhookError(f"{event_type} carries a Dispute without an integer amount")
    if not isinstance(currency, str) or len(currency) != 3 or not isinstance(status, str):
        raise WebhookError(f"{event_type} carries a Dispute without currency or status")
    return DisputeNotice(event_id, event_type, _intent_id(obj.get("payment_intent")), dispute_id,
                         amount, currency.upper(), status)


def _event_outcome(event_type: str, session: Mapping[str, Any]) -> PaymentOutcome:
    """Map a handled event type to an outcome."""
    if event_type == "checkout.session.completed":
        # Delayed methods (SEPA debit, bank transfer) complete the session before the money.
        paid = session.get("payment_status") == "paid"
        return PaymentOutcome.PAID if paid else PaymentOutcome.PENDING
    if event_type == "checkout.session.async_payment_succeeded":
        return PaymentOutcome.PAID
    if event_type == "checkout.session.async_payment_failed":
        return PaymentOutcome.FAILED
    return PaymentOutcome.EXPIRED


def _session_outcome(session: Mapping[str, Any]) -> PaymentOutcome:
    """Say how a retrieved Checkout Session stands."""
    if session.get("payment_status") == "paid":
        return PaymentOutcome.PAID
    if session.get("status") == "expired":
        return PaymentOutcome.EXPIRED
    return PaymentOutcome.PENDING


def _metadata(request: CheckoutRequest) -> dict[str, str]:
    """What the session carries back: the order, or the credit line's payment it pays."""
    if request.purpose == "credit":
        return {"purpose": "credit", "credit_payment_id": str(request.order_id),
                "credit_payment_number": request.order_number}
    return {"order_id": str(request.order_id), "order_number": request.order_number}


def _purpose(session: Mapping[str, Any]) -> str:
    metadata = session.get("metadata")
    purpose = metadata.get("purpose") if isinstance(metadata, dict) else None
    return "credit" if purpose == "credit" else "order"


def _id_key(session: Mapping[str, Any]) -> str:
    return "credit_payment_id" if _purpose(session) == "credit" else "order_id"


def _order_id(session: Mapping[str, Any]) -> uuid.UUID | None:
    """Read our order id (or credit payment id) from the session's metadata; None when absent
    or not a UUID."""
    metadata = session.get("metadata")
    raw = metadata.get(_id_key(session)) if isinstance(metadata, dict) else None
    if not isinstance(raw, str):
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def _amount(session: Mapping[str, Any]) -> int | None:
    """Read amount_total in minor units, refusing anything but an integer."""
    amount = session.get("amount_total")
    if amount is None:
        return None
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValueError("Checkout Session amount_total is not an integer")
    return amount


def _currency(session: Mapping[str, Any]) -> str | None:
    """Read the ISO currency, upper case."""
    currency = session.get("currency")
    if currency is None:
        return None
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise ValueError("Checkout Session currency is not an ISO 4217 code")
    return currency.upper()
