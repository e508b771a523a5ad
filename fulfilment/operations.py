"""Operator and buyer actions on fulfilment: retry, reroute, refund, replace an activated key."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import select

from commerce.models import FulfilmentStatus, Order, PaymentStatus, utcnow
from commerce.status import set_fulfilment_status, set_payment_status
from extensions import db
from fulfilment import emails, services
from fulfilment.delivery import issue_unit_licences, refresh_order_status, store_units, unit_context
from fulfilment.models import DeliveredUnit, FulfilmentAttempt, FulfilmentLine, LineStatus
from fulfilment.routing import NoRoute, failover_route
from fulfilment.secrets import open_product_key
from fulfilment.wholesalers import WholesalerError
from licensing.models import RevocationReason
from licensing.services import revoke_licence

log = logging.getLogger(__name__)


class OperationError(Exception):
    """The action cannot be done in the line's or order's current state."""


def _line(order_line_id: uuid.UUID) -> FulfilmentLine:
    line = db.session.scalar(
        select(FulfilmentLine).where(FulfilmentLine.order_line_id == order_line_id)
    )
    if line is None:
        raise OperationError("this order line was never sent to fulfilment")
    return line


def _log(line: FulfilmentLine, action: str, actor: str, detail: str = "") -> None:
    db.session.add(
        FulfilmentAttempt(
            line_id=line.id,
            wholesaler_code=line.wholesaler_code or "-",
            action=action,
            outcome=f"by {actor}",
            detail=detail,
        )
    )


def retry_now(order_line_id: uuid.UUID, actor: str) -> LineStatus | None:
    """Put a needs-attention line back in the queue and try it at once."""
    line = _line(order_line_id)
    if line.status != LineStatus.NEEDS_ATTENTION:
        raise OperationError(f"the line is {line.status}, not waiting for attention")
    line.status = LineStatus.ORDERED if line.supplier_order_id else LineStatus.PENDING
    line.attempts, line.next_attempt_at, line.lease_until = 0, utcnow(), None
    _log(line, "retry_now", actor)
    db.session.commit()
    refresh_order_status(line.order_id)
    return services.fulfil_line(line.id)


def route_elsewhere(order_line_id: uuid.UUID, actor: str) -> LineStatus | None:
    """Send a needs-attention line to the other wholesaler, even where failover is not automatic."""
    line = _line(order_line_id)
    if line.status != LineStatus.NEEDS_ATTENTION:
        raise OperationError(f"the line is {line.status}, not waiting for attention")
    partner, product = line.order.partner, line.order_line.product
    exclude = frozenset({line.wholesaler_code or ""})
    allow = partner.allow_failover
    partner.allow_failover = True  # the operator's decision overrides the automatic rule, this once
    try:
        route = failover_route(partner, product, exclude, f"rerouted by {actor}")
    except NoRoute as exc:
        raise OperationError(str(exc)) from exc
    finally:
        partner.allow_failover = allow
    _log(line, "route_elsewhere", actor, route.reason)
    services._reroute(line, route)
    refresh_order_status(line.order_id)
    return services.fulfil_line(line.id)


def refund_order(order_id: uuid.UUID, actor: str, reason: str) -> None:
    """Record a refund: cancel open lines, revoke the licences, mark the payment refunded."""
    order = db.session.get(Order, order_id)
    if order is None or order.payment_status not in (PaymentStatus.PAID, PaymentStatus.FLAGGED):
        raise OperationError("only a paid or flagged order can be refunded")
    lines = db.session.scalars(
        select(FulfilmentLine).where(FulfilmentLine.order_id == order_id)
    ).all()
    for line in lines:
        if line.status in (LineStatus.PENDING, LineStatus.ORDERED, LineStatus.NEEDS_ATTENTION):
            _cancel_at_wholesaler(line)
        line.status = LineStatus.CANCELLED
        _log(line, "refund", actor, reason)
    set_payment_status(order, PaymentStatus.REFUNDED, reason, actor)
    if order.fulfilment_status != FulfilmentStatus.CANCELLED:
        set_fulfilment_status(order, FulfilmentStatus.CANCELLED, f"refunded: {reason}", actor)
    db.session.commit()
    for line in lines:
        for unit in line.active_units:
            if unit.licence_id:
                revoke_licence(unit.licence_id, RevocationReason.REFUND, actor)
    from fulfilment import hooks

    for line in lines:
        hooks.line_refunded(line, reason)
    for renewal in (line for line in order.lines if line.renews_backup_id is not None):
        hooks.renewal_refunded(renewal.id, reason)


def _cancel_at_wholesaler(line: FulfilmentLine) -> None:
    if not (line.wholesaler_code and line.supplier_reference):
        return
    try:
        with services.wholesaler(line.wholesaler_code) as adapter:
            adapter.cancel(line.supplier_reference)
    except WholesalerError as exc:
        log.warning(
            "could not cancel %s at %s: %s", line.supplier_reference, line.wholesaler_code, exc
        )


def report_activated_key(unit_id: uuid.UUID, order: Order, actor: str) -> DeliveredUnit:
    """Replace a key reported as already activated; revoke the old licence, send the new one."""
    unit = db.session.get(DeliveredUnit, unit_id)
    if unit is None or unit.replaced_at is not None or unit.line.order_id != order.id:
        raise OperationError("this key cannot be replaced")
    line = unit.line
    old_key = open_product_key(
        unit.product_key_ciphertext, unit_context(line, unit.unit, unit.generation)
    )
    assert line.wholesaler_code and line.supplier_reference
    with services.wholesaler(line.wholesaler_code) as adapter:
        result = adapter.request_replacement(line.supplier_reference, old_key)
    new_item = result.items[unit.unit - 1]
    if new_item.product_key == old_key:
        raise OperationError("the wholesaler gave the same key back")
    generation = unit.generation + 1
    store_units(line, (new_item,), generation=generation, units=[unit.unit])
    unit.replaced_at, unit.replacement_reason = utcnow(), "already_activated"
    _log(line, "replacement", actor, f"unit {unit.unit}")
    db.session.commit()
    if unit.licence_id:
        revoke_licence(unit.licence_id, RevocationReason.REPLACEMENT, actor)
    issue_unit_licences(line)
    db.session.refresh(line)
    from fulfilment import hooks

    hooks.key_replaced(line)
    new_unit = db.session.scalar(
        select(DeliveredUnit).where(
            DeliveredUnit.fulfilment_line_id == line.id,
            DeliveredUnit.unit == unit.unit,
            DeliveredUnit.generation == generation,
        )
    )
    assert new_unit is not None
    emails.owe_email(f"replacement:{new_unit.id}", order.id, "replacement")
    return new_unit
