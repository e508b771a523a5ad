"""Subscription use cases: start, renew, dun, suspend, cancel at the term's end, change.

Each term's money is an order of its own (source "subscription"): paid, it goes down the same
path as any order (its invoice, its reseller's commission, the buyer's e-mail), and its lines say
which subscription they renew or change (`OrderLine.renews_subscription_id`). Functions that run
in an outbox consumer write in the caller's transaction; the job and the approval commit.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from commerce.models import (
    FulfilmentStatus,
    Order,
    OrderLine,
    Partner,
    PartnerProduct,
    PaymentStatus,
    Product,
    User,
)
from commerce.money import vat_included
from commerce.numbers import next_order_number, next_value
from commerce.status import transition_payment_atomically
from commerce.tax import price_for
from commissions.attribution import attribution_for
from events import (
    SubscriptionCancelled,
    SubscriptionCharged,
    SubscriptionEnded,
    SubscriptionPaymentFailed,
    SubscriptionStarted,
    SubscriptionSuspended,
    emit,
)
from extensions import db, utcnow
from payments.base import PaymentEvent, PaymentOutcome
from subscriptions.billing import (
    BillingError,
    BillingItem,
    BillingNotice,
    ChargeOutcome,
    Enrolment,
    SubscriptionTerms,
    billing_for,
)
from subscriptions.models import (
    LIVE_STATUSES,
    ChangeKind,
    ChangeStatus,
    ChargeKind,
    ChargeStatus,
    Subscription,
    SubscriptionChange,
    SubscriptionCharge,
    SubscriptionHistory,
    SubscriptionItem,
    SubscriptionStatus,
)
from subscriptions.terms import TERMS, add_months, change_event, charge_event, prorated_cents

log = logging.getLogger(__name__)

BILLED_GATEWAYS = ("test", "stripe")  # an API order is paid at the partner: nothing to renew
CHANGE_LINK_DAYS = 14
TRY_LEASE = timedelta(minutes=10)
MAX_SEATS = 300


class SubscriptionError(ValueError):
    """A request about a subscription that cannot be carried out; nothing was changed."""


def grace() -> timedelta:
    return timedelta(days=int(current_app.config["SUBSCRIPTION_GRACE_DAYS"]))


def retry_schedule() -> tuple[timedelta, ...]:
    """How long after each declined try the next one is made (test billing's own dunning)."""
    days = str(current_app.config["SUBSCRIPTION_RETRY_DAYS"])
    return tuple(timedelta(days=int(d)) for d in days.split(",") if d.strip())


def _note(sub: Subscription, kind: str, detail: str, *, actor: str = "system",
          order_id: uuid.UUID | None = None, now: datetime | None = None) -> None:
    sub.history.append(SubscriptionHistory(kind=kind, detail=detail, actor=actor,
                                           order_id=order_id, created_at=now or utcnow()))


def _number(now: datetime) -> str:
    return f"AB-{now.year}-{next_value(f'subscription-{now.year}'):06d}"


# -- starting ------------------------------------------------------------------------------


def starts_subscription(line: OrderLine) -> bool:
    """A product line of a shop order for a monthly or annual Microsoft 365 plan."""
    product = line.product
    return (line.parent_line_id is None and line.renews_subscription_id is None
            and product.licence_type == "subscription" and product.term_months in TERMS
            and line.order.gateway in BILLED_GATEWAYS)


def start_for_line(order_line_id: uuid.UUID, wholesaler_code: str | None,
                   supplier_subscription_id: str | None) -> Subscription | None:
    """Open the subscription a delivered line bought, once (the item's origin line is unique)."""
    line = db.session.get(OrderLine, order_line_id)
    if line is None or not starts_subscription(line):
        return None
    existing = db.session.scalar(select(SubscriptionItem)
                                 .where(SubscriptionItem.origin_order_line_id == line.id))
    if existing is not None:
        return existing.subscription
    order = line.order
    started = order.paid_at or utcnow()
    term = int(line.product.term_months or 12)
    attribution = attribution_for(order.id)
    sub = Subscription(
        id=uuid.uuid4(), number=_number(started), partner_id=order.partner_id,
        buyer_id=order.buyer_id, email=order.email, origin_order_id=order.id,
        reseller_id=attribution.reseller_id if attribution else None,
        status=SubscriptionStatus.ACTIVE, term_months=term, currency=order.currency,
        started_at=started, current_period_start=started,
        current_period_end=add_months(started, term), gateway=order.gateway,
        payment_method=order.payment_reference, cancel_at_period_end=False,
    )
    sub.items.append(SubscriptionItem(
        product_id=line.product_id, product_code=line.product_code,
        product_name=line.product_name, seats=line.quantity,
        unit_price_cents=line.unit_price_cents, vat_rate=line.vat_rate, started_at=started,
        origin_order_line_id=line.id, wholesaler_code=wholesaler_code,
        supplier_subscription_id=supplier_subscription_id))
    _note(sub, "started", f"{line.quantity} × {line.product_name}, "
                          f"{'monthly' if term == 1 else 'annual'}", order_id=order.id,
          now=started)
    db.session.add(sub)
    db.session.flush()
    emit(SubscriptionStarted(order_id=order.id, subscription_id=sub.id))
    return sub


def terms_of(sub: Subscription, items: list[BillingItem] | None = None) -> SubscriptionTerms:
    return SubscriptionTerms(
        subscription_id=str(sub.id), number=sub.number, email=sub.email, currency=sub.currency,
        term_months=sub.term_months,
        items=tuple(items if items is not None else (
            BillingItem(i.product_code, i.product_name, i.seats, i.unit_price_cents)
            for i in sub.items)),
        current_period_end=sub.current_period_end)


def enrolment_of(sub: Subscription) -> Enrolment:
    return Enrolment(sub.customer_reference, sub.gateway_subscription, sub.payment_method)


def enrol(subscription_id: uuid.UUID) -> None:
    """Hand the terms after the first to the billing provider (a consumer: retried on failure)."""
    sub = db.session.get(Subscription, subscription_id)
    if sub is None or sub.gateway_subscription is not None:
        return
    enrolment = billing_for(sub.gateway).enrol(
        terms_of(sub), payment_reference=sub.payment_method,
        idempotency_key=f"enrol:{sub.id}")
    sub.customer_reference = enrolment.customer_reference
    sub.gateway_subscription = enrolment.subscription_reference
    sub.payment_method = enrolment.payment_method


# -- a term's charge -----------------------------------------------------------------------


def _charge_order(sub: Subscription, lines: list[OrderLine], now: datetime) -> Order:
    """A pending order for a subscription's charge, billed and taxed as the first order was."""
    origin = db.session.get(Order, sub.origin_order_id)
    assert origin is not None
    order = Order(
        id=uuid.uuid4(), number=next_order_number(now), partner_id=sub.partner_id,
        buyer_id=origin.buyer_id, source="subscription", email=sub.email, name=origin.name,
        company=origin.company, vat_number=origin.vat_number,
        billing_country=origin.billing_country, billing_line1=origin.billing_line1,
        billing_postcode=origin.billing_postcode, billing_city=origin.billing_city,
        ip_country=origin.ip_country, card_country=origin.card_country,
        tax_treatment=origin.tax_treatment, vat_country=origin.vat_country,
        vies_status=origin.vies_status, vies_reference=origin.vies_reference,
        vies_checked_at=origin.vies_checked_at, terms_version=origin.terms_version,
        locale=origin.locale, currency=sub.currency, gateway=sub.gateway,
        consent_at=origin.consent_at, consent_wording_version=origin.consent_wording_version,
        created_at=now,
    )
    for position, line in enumerate(lines):
        line.position = position
        order.lines.append(line)
    order.total_cents = sum(line.total_cents for line in lines)
    order.vat_cents = sum(line.vat_cents for line in lines)
    db.session.add(order)
    attribution = attribution_for(sub.origin_order_id)
    if attribution is not None:  # the client stays the reseller's for the contract's life
        from commissions.models import AttributionRule, OrderAttribution

        db.session.add(OrderAttribution(order_id=order.id, reseller_id=attribution.reseller_id,
                                        rule=AttributionRule.ATTACHED_CLIENT,
                                        note=f"subscription {sub.number}"))
    return order


def _line(sub: Subscription, product: Product, name: str, seats: int, total_cents: int,
          vat_rate: object, *, action: str, event: str, start: datetime,
          end: datetime) -> OrderLine:
    from decimal import Decimal

    rate = Decimal(str(vat_rate))
    return OrderLine(
        id=uuid.uuid4(), product=product, product_code=product.code, product_name=name[:160],
        quantity=1, seats=seats, unit_price_cents=total_cents, vat_rate=rate,
        vat_cents=vat_included(total_cents, rate), total_cents=total_cents,
        renews_subscription_id=sub.id, subscription_action=action, subscription_event=event,
        renews_from=start, renews_until=end)


def renewal_charge(sub: Subscription, now: datetime) -> SubscriptionCharge:
    """The charge (and its pending order) of the term after the current one; made once."""
    start = sub.current_period_end
    charge = db.session.scalar(select(SubscriptionCharge).where(
        SubscriptionCharge.subscription_id == sub.id,
        SubscriptionCharge.kind == ChargeKind.RENEWAL,
        SubscriptionCharge.period_start == start))
    if charge is not None:
        return charge
    end = add_months(start, sub.term_months)
    lines = [
        _line(sub, item.product, f"{item.product_name} — {item.seats} × "
                                 f"{'1 month' if sub.term_months == 1 else '12 months'}",
              item.seats, item.unit_price_cents * item.seats, item.vat_rate, action="renewal",
              event=charge_event(term_months=sub.term_months,
                                 subscription_started_at=sub.started_at,
                                 item_started_at=item.started_at,
                                 item_added=_added(item), period_start=start).value,
              start=start, end=end)
        for item in sub.items
    ]
    order = _charge_order(sub, lines, now)
    charge = SubscriptionCharge(id=uuid.uuid4(), subscription_id=sub.id, kind=ChargeKind.RENEWAL,
                                period_start=start, period_end=end, order_id=order.id,
                                status=ChargeStatus.PENDING, attempts=0, next_attempt_at=now,
                                created_at=now)
    db.session.add(charge)
    db.session.flush()
    return charge


def _added(item: SubscriptionItem) -> bool:
    """An item that came with a change, not with the order that opened the subscription."""
    sub = item.subscription
    return item.started_at > sub.started_at


def _pay(charge: SubscriptionCharge, reference: str, amount_cents: int, currency: str,
         payment_method: str | None, event_type: str) -> None:
    """Confirm a charge's order paid through the payments path: the same as a card page."""
    from payments.services import confirm_payment

    order = db.session.get(Order, charge.order_id)
    assert order is not None
    if order.gateway_reference is None:
        order.gateway_reference = reference
    charge.gateway_reference = charge.gateway_reference or reference
    db.session.flush()
    confirm_payment(PaymentEvent(
        event_id=reference, event_type=event_type, outcome=PaymentOutcome.PAID,
        order_id=order.id, reference=reference, amount_cents=amount_cents, currency=currency,
        payment_reference=payment_method), order.gateway)


def _declined(sub: Subscription, charge: SubscriptionCharge, reason: str, now: datetime,
              *, schedule: bool) -> None:
    charge.status = ChargeStatus.FAILED
    charge.attempts += 1
    charge.last_error = reason[:2000]
    steps = retry_schedule()
    charge.next_attempt_at = (now + steps[charge.attempts - 1]
                              if schedule and charge.attempts <= len(steps) else None)
    first = sub.status != SubscriptionStatus.PAST_DUE
    sub.status = SubscriptionStatus.PAST_DUE
    sub.past_due_since = sub.past_due_since or now
    _note(sub, "payment_failed", f"try {charge.attempts}: {reason}", order_id=charge.order_id,
          now=now)
    emit(SubscriptionPaymentFailed(order_id=charge.order_id, subscription_id=sub.id,
                                   attempt=charge.attempts, first=first))


def charge_renewal_now(sub: Subscription, charge: SubscriptionCharge, now: datetime) -> str:
    """One try at a term's money with a provider that leaves renewals to us; commits."""
    order_id, amount = charge.order_id, 0
    order = db.session.get(Order, order_id)
    assert order is not None
    amount, currency = order.total_cents, order.currency
    # Taken for this try: a job that locks the subscription after this commit waits for the
    # answer instead of asking for the same money (the idempotency key would stop it too).
    charge.next_attempt_at = now + TRY_LEASE
    db.session.commit()  # the order exists before any money is asked for it
    billing = billing_for(sub.gateway)
    try:
        result = billing.charge_renewal(enrolment_of(sub), amount, currency,
                                        idempotency_key=f"charge:{charge.id}:{charge.attempts}")
    except BillingError as exc:
        charge.last_error = str(exc)[:2000]
        charge.next_attempt_at = now + timedelta(hours=1)
        db.session.commit()
        return "error"
    if result.outcome == ChargeOutcome.PAID:
        _pay(charge, result.reference, result.amount_cents, result.currency, sub.payment_method,
             "subscription.renewal.paid")
        db.session.commit()
        return "paid"
    if result.outcome == ChargeOutcome.FAILED:
        _declined(sub, charge, result.failure or "declined", now, schedule=True)
        db.session.commit()
        return "failed"
    charge.next_attempt_at = None  # pending: the provider's news settles it
    db.session.commit()
    return "pending"


@dataclass
class RenewalReport:
    renewed: int = 0
    failed: int = 0
    ended: int = 0
    suspended: int = 0
    waiting: int = 0


def renew_due(now: datetime | None = None) -> RenewalReport:
    """The hourly job: end what was cancelled, charge what is due, suspend what stayed unpaid.

    Each subscription is settled in its own transaction; running it twice or in two processes at
    once charges nothing twice (one charge per term, one payment per order, one idempotency key
    per try).
    """
    now = now or utcnow()
    report = RenewalReport()
    due = db.session.scalars(select(Subscription.id).where(
        Subscription.status.in_(LIVE_STATUSES),
        or_(Subscription.current_period_end <= now,
            Subscription.status == SubscriptionStatus.PAST_DUE))).all()
    db.session.commit()
    for sub_id in due:
        outcome = _settle(sub_id, now)
        if outcome:
            setattr(report, outcome, getattr(report, outcome) + 1)
    return report


def _settle(sub_id: uuid.UUID, now: datetime) -> str | None:
    sub = _locked(sub_id)
    if sub is None or sub.status not in LIVE_STATUSES:
        db.session.commit()
        return None
    if sub.status == SubscriptionStatus.PAST_DUE and sub.past_due_since is not None \
            and now >= sub.past_due_since + grace():
        suspend(sub, now)
        db.session.commit()
        return "suspended"
    if sub.current_period_end > now:
        db.session.commit()
        return None
    if sub.cancel_at_period_end:
        _end(sub, now, "cancelled by the client: ended at the end of the term")
        db.session.commit()
        return "ended"
    billing = billing_for(sub.gateway)
    charge = renewal_charge(sub, now)
    if billing.drives_renewals or charge.status == ChargeStatus.PAID:
        db.session.commit()
        return "waiting"
    if charge.next_attempt_at is None or charge.next_attempt_at > now:
        db.session.commit()
        return "waiting"
    outcome = charge_renewal_now(sub, charge, now)
    return {"paid": "renewed", "failed": "failed"}.get(outcome, "waiting")


def _locked(sub_id: uuid.UUID) -> Subscription | None:
    """The subscription, its row locked on PostgreSQL (SQLite's writer lock serialises)."""
    return db.session.scalar(select(Subscription).where(Subscription.id == sub_id)
                             .with_for_update())


def suspend(sub: Subscription, now: datetime) -> None:
    """Unpaid after the grace period: stop it; the unpaid order expires, nothing is owed."""
    sub.status = SubscriptionStatus.SUSPENDED
    sub.suspended_at = now
    _abandon_unpaid(sub, "subscription suspended unpaid")
    _note(sub, "suspended", f"unpaid {grace().days} days after the end of the term", now=now)
    emit(SubscriptionSuspended(order_id=sub.origin_order_id, subscription_id=sub.id))


def _abandon_unpaid(sub: Subscription, reason: str) -> None:
    """The subscription stops: its charges still unpaid are owed no more, their orders expire."""
    for charge in db.session.scalars(select(SubscriptionCharge).where(
            SubscriptionCharge.subscription_id == sub.id,
            SubscriptionCharge.status.in_((ChargeStatus.PENDING, ChargeStatus.FAILED)))):
        charge.status = ChargeStatus.ABANDONED
        charge.next_attempt_at = None
        transition_payment_atomically(charge.order_id, PaymentStatus.EXPIRED, reason, "system")


def _end(sub: Subscription, now: datetime, why: str) -> None:
    sub.status = SubscriptionStatus.ENDED
    sub.ended_at = now
    _abandon_unpaid(sub, "subscription ended")  # cancelled while a renewal was unpaid
    _note(sub, "ended", why, now=now)
    emit(SubscriptionEnded(order_id=sub.origin_order_id, subscription_id=sub.id))


# -- paid charges ----------------------------------------------------------------------------


def apply_paid_order(order_id: uuid.UUID, now: datetime | None = None) -> SubscriptionCharge | None:
    """A charge's order was paid: the new term starts, or the change takes effect; once."""
    now = now or utcnow()
    charge = db.session.scalar(select(SubscriptionCharge)
                               .where(SubscriptionCharge.order_id == order_id))
    if charge is None or charge.status == ChargeStatus.PAID:
        return None
    order = db.session.get(Order, order_id)
    assert order is not None
    sub = _locked(charge.subscription_id)
    assert sub is not None
    if charge.kind == ChargeKind.RENEWAL:
        sub.current_period_start, sub.current_period_end = charge.period_start, charge.period_end
        sub.status = SubscriptionStatus.ACTIVE
        sub.past_due_since = None
        _note(sub, "renewed", f"paid to {charge.period_end:%Y-%m-%d}", order_id=order_id, now=now)
    else:
        _apply_change(sub, charge, now)
    if order.payment_reference and order.payment_reference != sub.payment_method \
            and sub.gateway == "test":
        sub.payment_method = order.payment_reference  # the buyer paid late with another card
    charge.status, charge.paid_at, charge.next_attempt_at = ChargeStatus.PAID, now, None
    emit(SubscriptionCharged(order_id=order_id, subscription_id=sub.id, charge_id=charge.id))
    return charge


def _apply_change(sub: Subscription, charge: SubscriptionCharge, now: datetime) -> None:
    change = db.session.get(SubscriptionChange, charge.change_id)
    assert change is not None
    item = next((i for i in sub.items if i.product_id == change.product_id), None)
    if item is not None:
        item.seats += change.seats
        detail = f"+{change.seats} × {item.product_name} ({item.seats} in all)"
    else:
        order = db.session.get(Order, charge.order_id)
        assert order is not None
        line = order.lines[0]
        sub.items.append(SubscriptionItem(
            product_id=change.product_id, product_code=line.product_code,
            product_name=change.product.name, seats=change.seats,
            unit_price_cents=_unit_price(sub, change),
            vat_rate=line.vat_rate, started_at=now, origin_order_line_id=line.id))
        detail = f"added {change.seats} × {change.product.name}"
    change.status, change.applied_at = ChangeStatus.APPLIED, now
    _note(sub, "changed", detail, order_id=charge.order_id, now=now)


# -- cancelling ------------------------------------------------------------------------------


def cancel_at_period_end(sub: Subscription, actor: str, now: datetime | None = None) -> None:
    """Stop the renewal; the subscription runs to the end of the paid term. Commits."""
    now = now or utcnow()
    if sub.status not in LIVE_STATUSES:
        raise SubscriptionError(_l("This subscription has already ended."))
    if sub.cancel_at_period_end:
        return
    billing_for(sub.gateway).set_cancel_at_period_end(enrolment_of(sub), True)
    sub.cancel_at_period_end, sub.cancel_requested_at = True, now
    for change in db.session.scalars(select(SubscriptionChange).where(
            SubscriptionChange.subscription_id == sub.id,
            SubscriptionChange.status == ChangeStatus.PREPARED)):
        change.status = ChangeStatus.CANCELLED
    _note(sub, "cancel_requested", f"ends on {sub.current_period_end:%Y-%m-%d}", actor=actor,
          now=now)
    emit(SubscriptionCancelled(order_id=sub.origin_order_id, subscription_id=sub.id))
    db.session.commit()


# -- changes a reseller prepares -------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def prepare_change(sub: Subscription, reseller_id: uuid.UUID, product_code: str, seats: int,
                   now: datetime | None = None, note: str = "") -> tuple[SubscriptionChange, str]:
    """Prepare users or an application for the client to approve; returns the link's secret."""
    now = now or utcnow()
    if sub.reseller_id != reseller_id:
        raise SubscriptionError(_l("This subscription is not one of your clients'."))
    if sub.status != SubscriptionStatus.ACTIVE or sub.cancel_at_period_end:
        raise SubscriptionError(_l("Only a running subscription that renews can be changed."))
    if not 1 <= seats <= MAX_SEATS:
        raise SubscriptionError(_l("Add between 1 and %(num)d users.", num=MAX_SEATS))
    product = db.session.scalar(select(Product).where(Product.code == product_code))
    if product is None or product.licence_type != "subscription" \
            or product.term_months != sub.term_months:
        raise SubscriptionError(_l("Choose a Microsoft 365 plan of the same term as the "
                                   "subscription."))
    item = next((i for i in sub.items if i.product_id == product.id), None)
    if item is None and offer_price(sub.partner, product) is None:
        raise SubscriptionError(_l("This shop does not sell this plan."))
    if item is not None and item.seats + seats > MAX_SEATS:
        raise SubscriptionError(_l("A plan has at most %(num)d users.", num=MAX_SEATS))
    token = secrets.token_urlsafe(24)
    change = SubscriptionChange(
        subscription_id=sub.id, kind=ChangeKind.SEATS if item else ChangeKind.PRODUCT,
        product_id=product.id, seats=seats, token_sha256=_token_hash(token),
        reseller_id=reseller_id, status=ChangeStatus.PREPARED, note=note[:500], created_at=now,
        expires_at=now + timedelta(days=CHANGE_LINK_DAYS))
    db.session.add(change)
    _note(sub, "change_prepared", f"+{seats} × {product.name}", actor=f"reseller:{reseller_id}",
          now=now)
    db.session.commit()
    return change, token


def change_for_token(token: str) -> SubscriptionChange | None:
    return db.session.scalar(select(SubscriptionChange)
                             .where(SubscriptionChange.token_sha256 == _token_hash(token)))


def offer_price(partner: Partner, product: Product) -> int | None:
    offer = db.session.scalar(select(PartnerProduct).where(
        PartnerProduct.partner_id == partner.id, PartnerProduct.product_id == product.id,
        PartnerProduct.available.is_(True)))
    return offer.price_cents if offer is not None else None


def _unit_price(sub: Subscription, change: SubscriptionChange) -> int:
    """Per user and term, VAT included at the subscription's rate: the item's own price, or the
    shop's price of the new plan taxed as the first order was."""
    item = next((i for i in sub.items if i.product_id == change.product_id), None)
    if item is not None:
        return item.unit_price_cents
    base = offer_price(sub.partner, change.product)
    if base is None:
        raise SubscriptionError(_l("This shop no longer sells this plan."))
    return price_for(base, change.product.vat_rate, sub.items[0].vat_rate)


@dataclass(frozen=True)
class Quote:
    unit_price_cents: int
    seats: int
    total_cents: int
    vat_cents: int
    starts: datetime
    ends: datetime


def quote(change: SubscriptionChange, now: datetime) -> Quote:
    """What the change costs if approved now: prorated to the term's end."""
    sub = change.subscription
    unit = _unit_price(sub, change)
    total = prorated_cents(unit, change.seats, now, sub.current_period_start,
                           sub.current_period_end)
    rate = sub.items[0].vat_rate
    return Quote(unit, change.seats, total, vat_included(total, rate), now,
                 sub.current_period_end)


def check_open(change: SubscriptionChange, now: datetime) -> None:
    sub = change.subscription
    if change.status == ChangeStatus.APPLIED:
        raise SubscriptionError(_l("This change is already in force."))
    if change.status != ChangeStatus.PREPARED:
        raise SubscriptionError(_l("This change was withdrawn."))
    if now >= change.expires_at:
        raise SubscriptionError(_l("This link has expired: ask your reseller for a new one."))
    if sub.status != SubscriptionStatus.ACTIVE or sub.cancel_at_period_end \
            or now >= sub.current_period_end:
        raise SubscriptionError(_l("The subscription can no longer be changed."))


def approve_change(change: SubscriptionChange, now: datetime | None = None,
                   *, quoted_total: int | None = None) -> Order:
    """The client approves: charge the prorated amount on the saved card, then apply. Commits.

    A declined card changes nothing (the order is marked failed and the link stays open); the
    same link approved twice pays once (one charge per change).
    """
    now = now or utcnow()
    locked = db.session.scalar(select(SubscriptionChange).where(
        SubscriptionChange.id == change.id).with_for_update())
    assert locked is not None
    check_open(locked, now)
    sub = locked.subscription
    q = quote(locked, now)
    if quoted_total is not None and quoted_total != q.total_cents:
        raise SubscriptionError(_l("The amount changed since the page was shown: check it "
                                   "again."))
    charge = db.session.scalar(select(SubscriptionCharge)
                               .where(SubscriptionCharge.change_id == locked.id))
    if charge is not None and charge.status == ChargeStatus.PENDING:
        raise SubscriptionError(_l("This change is being paid: wait a moment."))
    product = locked.product
    line = _line(sub, product, f"{product.name} — +{q.seats}, "
                               f"{now:%d/%m/%Y}–{q.ends:%d/%m/%Y}",
                 q.seats, q.total_cents, sub.items[0].vat_rate,
                 action="seats" if locked.kind == ChangeKind.SEATS else "product",
                 event=change_event().value, start=now, end=q.ends)
    order = _charge_order(sub, [line], now)
    if charge is None:
        charge = SubscriptionCharge(id=uuid.uuid4(), subscription_id=sub.id,
                                    kind=ChargeKind.CHANGE, period_start=now, period_end=q.ends,
                                    order_id=order.id, change_id=locked.id,
                                    status=ChargeStatus.PENDING, attempts=0)
        db.session.add(charge)
    else:  # a declined try before: a new order for the new try
        charge.order_id, charge.status, charge.period_start = order.id, ChargeStatus.PENDING, now
        charge.gateway_reference = None
    db.session.commit()
    new_terms = [BillingItem(i.product_code, i.product_name,
                             i.seats + (q.seats if i.product_id == product.id else 0),
                             i.unit_price_cents) for i in sub.items]
    if all(i.product_id != product.id for i in sub.items):
        new_terms.append(BillingItem(product.code, product.name, q.seats, q.unit_price_cents))
    try:
        result = billing_for(sub.gateway).charge_change(
            enrolment_of(sub), terms_of(sub, new_terms), amount_cents=q.total_cents,
            proration_at=now, idempotency_key=f"change:{charge.id}:{charge.attempts}")
    except BillingError as exc:
        _change_declined(charge, order, str(exc))
        raise SubscriptionError(_l("The payment could not be made now: nothing was "
                                   "changed; try again in a moment.")) from exc
    if result.outcome == ChargeOutcome.FAILED:
        _change_declined(charge, order, result.failure or "declined")
        raise SubscriptionError(_l("Your card was declined: nothing was changed."))
    if result.outcome == ChargeOutcome.PAID:
        _pay(charge, result.reference, result.amount_cents, result.currency, sub.payment_method,
             "subscription.change.paid")
    db.session.commit()
    return order


def _change_declined(charge: SubscriptionCharge, order: Order, reason: str) -> None:
    charge.status, charge.last_error = ChargeStatus.FAILED, reason[:2000]
    charge.attempts += 1
    transition_payment_atomically(order.id, PaymentStatus.FAILED, reason[:200], "system")
    db.session.commit()


# -- reading -------------------------------------------------------------------------------


def subscriptions_of_buyer(partner_id: uuid.UUID, email: str) -> list[Subscription]:
    return list(db.session.scalars(select(Subscription).where(
        Subscription.partner_id == partner_id, Subscription.email == email.strip().lower())
        .order_by(Subscription.started_at.desc())))


def subscriptions_of_reseller(reseller_id: uuid.UUID) -> list[Subscription]:
    return list(db.session.scalars(select(Subscription).where(
        Subscription.reseller_id == reseller_id).order_by(Subscription.current_period_end)))


def charges_of(sub: Subscription) -> list[tuple[SubscriptionCharge, Order]]:
    rows = db.session.execute(
        select(SubscriptionCharge, Order).join(Order, Order.id == SubscriptionCharge.order_id)
        .where(SubscriptionCharge.subscription_id == sub.id)
        .order_by(SubscriptionCharge.created_at)).all()
    return [(charge, order) for charge, order in rows]


def ensure_fulfilment_status(order: Order, target: FulfilmentStatus, reason: str) -> None:
    from commerce.status import FULFILMENT_TRANSITIONS, set_fulfilment_status

    current = FulfilmentStatus(order.fulfilment_status)
    if current != target and target in FULFILMENT_TRANSITIONS[current]:
        set_fulfilment_status(order, target, reason)



def stop_at_wholesalers(subscription_id: uuid.UUID) -> None:
    """Cancel each product's renewal at its wholesaler; a temporary error is raised to retry."""
    from fulfilment.services import wholesaler
    from fulfilment.wholesalers import TemporaryWholesalerError, WholesalerError

    sub = db.session.get(Subscription, subscription_id)
    if sub is None:
        return
    for item in sub.items:
        if not (item.wholesaler_code and item.supplier_subscription_id):
            continue
        try:
            with wholesaler(item.wholesaler_code) as adapter:
                adapter.cancel_subscription(item.supplier_subscription_id)
        except TemporaryWholesalerError:
            raise
        except WholesalerError as exc:
            _note(sub, "wholesaler", f"{item.product_code}: cancellation refused: {exc}")


def subscriptions_of_user(user: User, partner_id: uuid.UUID) -> list[Subscription]:
    """The subscriptions an account reaches: those opened by an order the account owns."""
    from accounts.services import owned_orders_condition

    return list(db.session.scalars(
        select(Subscription).join(Order, Order.id == Subscription.origin_order_id)
        .where(owned_orders_condition(user), Subscription.partner_id == partner_id)
        .order_by(Subscription.started_at.desc())))


# -- a provider that drives renewals (Stripe Billing) -----------------------------------------


def apply_billing_notice(notice: BillingNotice, now: datetime | None = None) -> str:
    """Apply one authenticated billing event once: a term paid or declined at the provider, or
    the provider ending the subscription. Returns what was done, for the webhook's answer."""
    from commerce.models import ProcessedEvent
    from extensions import insert_once

    now = now or utcnow()
    sub = db.session.scalar(select(Subscription).where(
        Subscription.gateway_subscription == notice.subscription_reference)) \
        if notice.subscription_reference else None
    if sub is None:
        return "ignored"
    if not insert_once(ProcessedEvent, id=f"billing:{notice.event_id}"[:255],
                       kind=notice.event_type[:80], order_id=None):
        db.session.commit()
        return "already_processed"
    result = _apply_notice(_locked(sub.id) or sub, notice, now)
    db.session.commit()
    return result


def _apply_notice(sub: Subscription, notice: BillingNotice, now: datetime) -> str:
    if notice.event_type == "customer.subscription.deleted":
        if sub.status in LIVE_STATUSES:
            if sub.cancel_at_period_end:
                _end(sub, now, "cancelled by the client: ended at the end of the term")
                return "ended"
            suspend(sub, now)
            return "suspended"
        return "ignored"
    renewing = notice.billing_reason in ("subscription_cycle", None) and notice.outcome
    if not renewing or sub.status not in LIVE_STATUSES:
        return "ignored"  # a change's invoice is settled by approve_change itself
    charge = renewal_charge(sub, now)
    if notice.period_end is not None and charge.period_end != notice.period_end:
        charge.period_end = notice.period_end  # the provider's calendar is the term's
        for line in db.session.get(Order, charge.order_id).lines:  # type: ignore[union-attr]
            line.renews_until = notice.period_end
    if charge.status == ChargeStatus.PAID:
        return "already_processed"
    if notice.outcome == ChargeOutcome.PAID:
        assert notice.invoice_reference is not None
        _pay(charge, notice.invoice_reference, notice.amount_cents or 0,
             notice.currency or sub.currency, sub.payment_method, notice.event_type)
        return "renewed"
    _declined(sub, charge, notice.failure or "declined at the provider", now, schedule=False)
    return "payment_failed"
