"""Operator and buyer actions on fulfilment: retry, reroute, refund, replace an activated key."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import select

from commerce.models import FulfilmentStatus, Order, utcnow
from commerce.status import set_fulfilment_status
from extensions import ACTOR_LENGTH, db
from fulfilment import emails, services
from fulfilment.delivery import (
    DuplicateProductKey,
    issue_unit_licences,
    refresh_order_status,
    store_units,
    unit_context,
)
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
            outcome="by " + actor.split(":", 1)[0],  # operator, buyer, gateway...
            actor=actor[:ACTOR_LENGTH],
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


def refund_lines(
    order_id: uuid.UUID, order_line_ids: list[uuid.UUID], actor: str, reason: str,
    *, whole_order: bool,
) -> None:
    """Apply a refund that went through: cancel its lines, revoke their licences, claw back.

    Safe to repeat: a cancelled line is not cancelled again, a revoked licence stays revoked,
    and the commission ledger holds one clawback per line.
    """
    order = db.session.get(Order, order_id)
    if order is None:
        raise OperationError("no such order")
    wanted = set(order_line_ids)
    lines = db.session.scalars(
        select(FulfilmentLine).where(FulfilmentLine.order_id == order_id,
                                     FulfilmentLine.order_line_id.in_(wanted))
    ).all() if wanted else []
    for line in lines:
        if line.status == LineStatus.CANCELLED:
            continue
        if line.status in (LineStatus.PENDING, LineStatus.ORDERED, LineStatus.NEEDS_ATTENTION):
            _cancel_at_wholesaler(line)
        line.status = LineStatus.CANCELLED
        _log(line, "refund", actor, reason)
    if whole_order and order.fulfilment_status != FulfilmentStatus.CANCELLED:
        set_fulfilment_status(order, FulfilmentStatus.CANCELLED, f"refunded: {reason}", actor)
    db.session.commit()
    if not whole_order:
        refresh_order_status(order_id)
    for line in lines:
        for unit in line.active_units:
            if unit.licence_id:
                revoke_licence(unit.licence_id, RevocationReason.REFUND, actor)
    from fulfilment import hooks

    for line in lines:
        hooks.line_refunded(line, reason)
    for renewal in (ol for ol in order.lines if ol.renews_backup_id is not None
                    and ol.id in wanted):
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
    try:
        store_units(line, (new_item,), generation=generation, units=[unit.unit])
    except DuplicateProductKey as exc:
        db.session.rollback()
        _log(line, "replacement_refused", "system", str(exc))
        db.session.commit()
        log.error("replacement for order line %s refused: %s", line.order_line_id, exc)
        raise WholesalerError(f"replacement refused: {exc}") from exc
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
