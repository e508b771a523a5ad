"""Starting a payment and confirming it, once, from whichever side hears first."""

from __future__ import annotations

import enum
import logging
import secrets
import uuid
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import select

from commerce.models import FulfilmentStatus, Order, PaymentStatus, ProcessedEvent
from commerce.status import transition_payment_atomically
from commerce.tax import location_conflict
from events import OrderPaid, emit
from extensions import db, insert_once
from payments.base import (
    CheckoutLine,
    CheckoutRedirect,
    CheckoutRequest,
    GatewayError,
    PaymentEvent,
    PaymentGateway,
    PaymentOutcome,
)

log = logging.getLogger(__name__)


class ConfirmResult(enum.StrEnum):
    PAID = "paid"
    ALREADY_PROCESSED = "already_processed"
    FLAGGED = "flagged"
    FAILED = "failed"
    EXPIRED = "expired"
    PENDING = "pending"
    IGNORED = "ignored"
    UNKNOWN_ORDER = "unknown_order"


def gateway_for(name: str | None = None) -> PaymentGateway:
    """The configured gateway (or the named one, for an order started on it)."""
    name = name or current_app.config["PAYMENT_GATEWAY"]
    if name == "stripe":
        from payments.stripe_gateway import StripeGateway

        cfg = current_app.config
        return StripeGateway(
            secret_key=cfg["STRIPE_SECRET_KEY"],
            webhook_secret=cfg["STRIPE_WEBHOOK_SECRET"],
            api_base=cfg.get("STRIPE_API_BASE"),
        )
    if name == "test":
        from payments.test_gateway import TestGateway

        return TestGateway(environment=current_app.config["ENV"])
    raise ValueError(f"unknown payment gateway {name!r}")


def start_payment(order: Order, success_url: str, cancel_url: str) -> CheckoutRedirect:
    """Open a checkout at the gateway for a pending order and remember its reference."""
    gateway = gateway_for(order.gateway)
    redirect = gateway.start_checkout(
        CheckoutRequest(
            order_id=order.id,
            order_number=order.number,
            currency=order.currency,
            lines=tuple(
                CheckoutLine(line.product_name, line.unit_price_cents, line.quantity)
                for line in order.lines
            ),
            customer_email=order.email,
            success_url=success_url,
            cancel_url=cancel_url,
            locale=order.locale,
            # A Microsoft 365 plan's later terms are charged to the card of the first order.
            saves_payment_method=any(line.product.licence_type == "subscription"
                                     for line in order.lines),
        )
    )
    order.gateway_reference = redirect.reference
    db.session.commit()
    return redirect


def confirm_payment(event: PaymentEvent, gateway: str) -> ConfirmResult:
    """Apply one authenticated payment event: each event once, each order paid once."""
    if event.outcome == PaymentOutcome.IGNORED:
        return ConfirmResult.IGNORED
    order = _order_for(event)
    if order is None:
        log.warning("payment event %s names no order we know", event.event_id)
        return ConfirmResult.UNKNOWN_ORDER
    if not _claim_event(f"{gateway}:{event.event_id}", event.event_type, order.id):
        return ConfirmResult.ALREADY_PROCESSED
    result = _apply(order, event, gateway)
    db.session.commit()
    return result


def _order_for(event: PaymentEvent) -> Order | None:
    if event.order_id is not None:
        return db.session.get(Order, event.order_id)
    if event.reference:
        return db.session.scalar(select(Order).where(Order.gateway_reference == event.reference))
    return None


def _claim_event(event_id: str, kind: str, order_id: uuid.UUID) -> bool:
    """Record the event id; False when it was processed before (unique primary key)."""
    return insert_once(ProcessedEvent, id=event_id, kind=kind, order_id=order_id)


def _apply(order: Order, event: PaymentEvent, gateway: str) -> ConfirmResult:
    actor = f"gateway:{gateway}"
    if event.outcome == PaymentOutcome.PAID:
        mismatch = _mismatch(order, event)
        if mismatch:
            moved = transition_payment_atomically(
                order.id, PaymentStatus.FLAGGED, mismatch, actor, flag_reason=mismatch
            )
            log.error("order %s flagged: %s", order.number, mismatch)
            return ConfirmResult.FLAGGED if moved else ConfirmResult.ALREADY_PROCESSED
        card_country = (event.card_country or order.card_country
                        or _card_country(gateway, event.payment_reference))
        moved = transition_payment_atomically(
            order.id,
            PaymentStatus.PAID,
            f"{event.event_type} ({event.event_id})",
            actor,
            paid_at=datetime.now(UTC),
            payment_reference=event.payment_reference,
            card_country=card_country,
            location_conflict=location_conflict(order.billing_country, order.ip_country,
                                                card_country),
            fulfilment=(FulfilmentStatus(order.fulfilment_status), FulfilmentStatus.AWAITING,
                        "payment confirmed"),
        )
        if moved is None:
            return ConfirmResult.ALREADY_PROCESSED
        emit(OrderPaid(order_id=order.id))  # fulfilment starts once this commits
        return ConfirmResult.PAID
    target = {
        PaymentOutcome.FAILED: PaymentStatus.FAILED,
        PaymentOutcome.EXPIRED: PaymentStatus.EXPIRED,
    }.get(event.outcome)
    if target is None:
        return ConfirmResult.PENDING
    moved = transition_payment_atomically(order.id, target, event.event_type, actor)
    if moved is None:
        return ConfirmResult.ALREADY_PROCESSED
    return ConfirmResult.FAILED if target == PaymentStatus.FAILED else ConfirmResult.EXPIRED


def _card_country(gateway: str, payment_reference: str | None) -> str | None:
    """The paying card's country, asked of the gateway when its event does not say it: evidence
    of the buyer's location (commerce/tax.py). Not knowing it never stops a payment."""
    if gateway != "stripe" or not payment_reference:
        return None
    try:
        return gateway_for(gateway).card_country(payment_reference)
    except GatewayError as exc:
        log.warning("card country of %s unknown: %s", payment_reference, exc)
        return None


def _mismatch(order: Order, event: PaymentEvent) -> str | None:
    if event.amount_cents is None or event.currency is None:
        return "payment carries no amount or currency"
    if event.amount_cents != order.total_cents or event.currency.upper() != order.currency:
        return (
            f"paid {event.amount_cents} {event.currency.upper()} for an order of "
            f"{order.total_cents} {order.currency}"
        )
    return None


def new_test_reference() -> str:
    return "test_" + secrets.token_urlsafe(18)
