"""Subscriptions' consumers of domain events (a paid charge itself is applied where fulfilment
starts its order: fulfilment/services.py). Each runs in the outbox relay's transaction, never
commits, and may run again: every step checks what it already did."""

from __future__ import annotations

from events import (
    Event,
    SubscriptionCancelled,
    SubscriptionCharged,
    SubscriptionEnded,
    SubscriptionLineDelivered,
    SubscriptionPaymentFailed,
    SubscriptionStarted,
    SubscriptionSuspended,
    consumer,
)
from extensions import db


@consumer("subscriptions", SubscriptionLineDelivered)
def start_delivered_subscription(event: Event) -> None:
    """A delivered monthly or annual plan opens its subscription, with the wholesaler's id; an
    application a change added keeps its wholesaler's id on its item."""
    from fulfilment.models import FulfilmentLine
    from subscriptions.provisioning import attach_delivered_product
    from subscriptions.services import start_for_line

    line = db.session.get(FulfilmentLine, event.line_id)  # type: ignore[attr-defined]
    code = line.wholesaler_code if line is not None else None
    supplier_id = line.supplier_subscription_id if line is not None else None
    order_line_id = event.order_line_id  # type: ignore[attr-defined]
    start_for_line(order_line_id, code, supplier_id)
    attach_delivered_product(order_line_id, code, supplier_id)


@consumer("subscriptions-billing", SubscriptionStarted)
def enrol_with_billing(event: Event) -> None:
    """Give the later terms to the billing provider (a Stripe outage is retried)."""
    from subscriptions.services import enrol

    enrol(event.subscription_id)  # type: ignore[attr-defined]


@consumer("subscriptions-wholesaler", SubscriptionCharged)
def provision_charge(event: Event) -> None:
    from subscriptions.provisioning import provision

    provision(event.charge_id)  # type: ignore[attr-defined]


@consumer("subscriptions-wholesaler", SubscriptionCancelled, SubscriptionSuspended)
def stop_at_wholesaler(event: Event) -> None:
    """No renewal at the wholesaler: the licence runs to the end of the paid term."""
    from subscriptions.services import stop_at_wholesalers

    stop_at_wholesalers(event.subscription_id)  # type: ignore[attr-defined]


@consumer("subscriptions-billing", SubscriptionSuspended)
def stop_billing(event: Event) -> None:
    from subscriptions.billing import billing_for
    from subscriptions.models import Subscription
    from subscriptions.services import enrolment_of

    sub = db.session.get(Subscription, event.subscription_id)  # type: ignore[attr-defined]
    if sub is not None:
        billing_for(sub.gateway).end_now(enrolment_of(sub))


@consumer("buyer-email", SubscriptionCharged)
def charged_email(event: Event) -> None:
    _owe(event, "subscription_charged", event.charge_id)  # type: ignore[attr-defined]


@consumer("buyer-email", SubscriptionPaymentFailed)
def payment_failed_email(event: Event) -> None:
    _owe(event, "subscription_payment_failed", event.attempt)  # type: ignore[attr-defined]


@consumer("buyer-email", SubscriptionCancelled, SubscriptionSuspended, SubscriptionEnded)
def ending_email(event: Event) -> None:
    kind = {SubscriptionCancelled.kind: "subscription_cancelled",
            SubscriptionSuspended.kind: "subscription_suspended"}.get(event.kind,
                                                                      "subscription_ended")
    _owe(event, kind, "once")


def _owe(event: Event, kind: str, what: object) -> None:
    from fulfilment.emails import send_once
    from subscriptions.mail import key

    assert event.order_id is not None
    send_once(key(kind, event.subscription_id, what), event.order_id, kind)  # type: ignore[attr-defined]
