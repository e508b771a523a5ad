"""Which reseller an order belongs to, and the buyers attached to resellers.

Precedence, first match wins, each code counted only inside the order's partner's network:
a reseller-assisted cart (the reseller prepared it), a code (typed at checkout, or given with a
partner API order), the referral cookie (its age already checked by the caller against the
programme's attribution days), then the reseller the buyer is attached to. A code that is unknown,
inactive or from another network is ignored, and the reason kept.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from commerce.models import Order, PaymentStatus
from commissions.errors import UnknownReseller
from commissions.models import (
    AttributionRule,
    OrderAttribution,
    Reseller,
    ResellerClient,
)
from commissions.programmes import (
    network_reseller,
    normalise_code,
    normalise_email,
    now_or,
)
from extensions import db


@dataclass(frozen=True)
class AttributionResult:
    """The outcome of attributing an order: the reseller and rule, or None, and what was ignored."""

    reseller: Reseller | None
    rule: AttributionRule | None
    notes: tuple[str, ...] = ()


def attribution_for(order_id: uuid.UUID) -> OrderAttribution | None:
    """The attribution recorded for an order, if any."""
    return db.session.scalar(select(OrderAttribution).where(OrderAttribution.order_id == order_id))


def attached_reseller(partner_id: uuid.UUID, email: str) -> ResellerClient | None:
    """The attachment of a buyer e-mail in a partner's network, if any."""
    return db.session.scalar(
        select(ResellerClient).where(
            ResellerClient.partner_id == partner_id,
            ResellerClient.email == normalise_email(email),
        )
    )


def _candidate(order: Order, code: str, rule: AttributionRule) -> tuple[Reseller | None, str]:
    try:
        reseller = network_reseller(order.partner_id, code)
    except UnknownReseller:
        return None, f"{rule} {normalise_code(code)!r} ignored: not a reseller of this network"
    if not reseller.active:
        return None, f"{rule} {reseller.code!r} ignored: reseller inactive"
    return reseller, ""


def attribute_order(
    order: Order,
    reseller_code: str | None = None,
    cookie_code: str | None = None,
    assisted_by: str | None = None,
    source: str = "shop",
) -> AttributionResult:
    """Record which reseller the order belongs to; inside the caller's transaction (it commits)."""
    existing = attribution_for(order.id)
    if existing is not None:
        return AttributionResult(existing.reseller, AttributionRule(existing.rule))
    typed_rule = AttributionRule.API if source == "api" else AttributionRule.CODE
    candidates = [(assisted_by, AttributionRule.ASSISTED), (reseller_code, typed_rule),
                  (cookie_code, AttributionRule.COOKIE)]
    notes: list[str] = []
    chosen: tuple[Reseller, AttributionRule] | None = None
    for code, rule in candidates:
        if not code or not code.strip():
            continue
        reseller, why = _candidate(order, code, rule)
        if reseller is not None:
            chosen = (reseller, rule)
            break
        notes.append(why)
    if chosen is None:
        client = attached_reseller(order.partner_id, order.email)
        if client is not None and client.reseller.active:
            chosen = (client.reseller, AttributionRule.ATTACHED_CLIENT)
    if chosen is None:
        return AttributionResult(None, None, tuple(notes))
    reseller, rule = chosen
    record = OrderAttribution(order=order, reseller_id=reseller.id, rule=rule,
                              note="; ".join(notes))
    try:
        with db.session.begin_nested():
            db.session.add(record)
    except IntegrityError:
        already = attribution_for(order.id)
        if already is None:
            raise
        return AttributionResult(already.reseller, AttributionRule(already.rule))
    return AttributionResult(reseller, rule, tuple(notes))


def attach_buyer(order: Order) -> ResellerClient | None:
    """Attach a paid order's buyer to its reseller unless already attached (no commit)."""
    if order.payment_status != PaymentStatus.PAID:
        return None
    attribution = attribution_for(order.id)
    if attribution is None:
        return None
    existing = attached_reseller(order.partner_id, order.email)
    if existing is not None:
        return existing
    client = ResellerClient(partner_id=order.partner_id, reseller_id=attribution.reseller_id,
                            email=normalise_email(order.email), rule=attribution.rule,
                            source_order_id=order.id, attached_at=now_or(None))
    try:
        with db.session.begin_nested():
            db.session.add(client)
    except IntegrityError:
        return attached_reseller(order.partner_id, order.email)
    return client


def attach_client(order_id: uuid.UUID) -> ResellerClient | None:
    """After a paid order through a reseller, attach its buyer to that reseller (idempotent).

    In the caller's transaction."""
    order = db.session.get(Order, order_id)
    if order is None:
        return None
    return attach_buyer(order)


def set_client_reseller(
    partner_id: uuid.UUID, email: str, reseller_code: str | None, actor: str
) -> ResellerClient | None:
    """Move a buyer to another reseller of the network, or detach it (None); commits."""
    current = attached_reseller(partner_id, email)
    if reseller_code is None:
        if current is not None:
            db.session.delete(current)
        db.session.commit()
        return None
    reseller = network_reseller(partner_id, reseller_code)
    if current is None:
        current = ResellerClient(partner_id=partner_id, email=normalise_email(email))
        db.session.add(current)
    current.reseller_id, current.rule, current.changed_by = reseller.id, "manual", actor
    current.attached_at = now_or(None)
    db.session.commit()
    return current
