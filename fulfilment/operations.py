"""Operator and buyer actions on fulfilment: retry, reroute, refund, replace an activated key."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import select

from commerce.models import FulfilmentStatus, Order, utcnow
from commerce.orders import ADDON_BACKUP
from commerce.status import set_fulfilment_status
from events import BackupDue, KeyReplaced, LicenceRevoked, LineRefunded, emit
from extensions import ACTOR_LENGTH, db
from fulfilment import services
from fulfilment.delivery import (
    DuplicateProductKey,
    issue_unit_licences,
    refresh_order_status,
    store_units,
    unit_context,
)
from fulfilment.models import (
    DeliveredUnit,
    FulfilmentAttempt,
    FulfilmentLine,
    LineStatus,
    UnitStatus,
)
from fulfilment.routing import NoRoute, failover_route
from fulfilment.secrets import open_product_key
from fulfilment.status import set_line_status, set_unit_status
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
    """Put a needs-attention line back in the queue and try it at once (commits)."""
    line = _line(order_line_id)
    if line.status != LineStatus.NEEDS_ATTENTION:
        raise OperationError(f"the line is {line.status}, not waiting for attention")
    target = LineStatus.ORDERED if line.supplier_order_id else LineStatus.PENDING
    set_line_status(line, target, f"retry asked by {actor}", actor)
    line.attempts, line.next_attempt_at, line.lease_until = 0, utcnow(), None
    _log(line, "retry_now", actor)
    refresh_order_status(line.order_id)
    db.session.commit()
    return services.attempt_line(line.id, force=True)


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
    services._reroute(line, route, f"rerouted by {actor}")
    refresh_order_status(line.order_id)
    db.session.commit()
    return services.attempt_line(line.id, force=True)


def refund_lines(
    order_id: uuid.UUID, order_line_ids: list[uuid.UUID], actor: str, reason: str,
    *, whole_order: bool,
) -> None:
    """Apply a refund that went through: cancel its lines, revoke their licences, claw back.

    Written in the caller's transaction (payments/refunds.py commits it with the refund's
    effects marked applied). Safe to repeat: a cancelled line is not cancelled again, a revoked
    licence stays revoked, and each refunded line raises LineRefunded once, whose commission
    consumer takes back the reseller's accrual once.
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
        set_line_status(line, LineStatus.CANCELLED, f"refunded: {reason}", actor)
        _log(line, "refund", actor, reason)
        for unit in line.active_units:
            if unit.status == UnitStatus.ACTIVE:
                set_unit_status(unit, UnitStatus.REVOKED, f"refunded: {reason}", actor)
            if unit.licence_id:
                revoke_licence(unit.licence_id, RevocationReason.REFUND, actor)
                emit(LicenceRevoked(order_id=order_id, licence_id=unit.licence_id,
                                    reason=RevocationReason.REFUND.value))
        emit(LineRefunded(order_id=order_id, order_line_id=line.order_line_id, reason=reason))
    for renewal in (ol for ol in order.lines if ol.id in wanted and (
            ol.renews_backup_id is not None or ol.subscription_action in ("renewal", "seats"))):
        emit(LineRefunded(order_id=order_id, order_line_id=renewal.id, reason=reason))
    if whole_order and order.fulfilment_status != FulfilmentStatus.CANCELLED:
        set_fulfilment_status(order, FulfilmentStatus.CANCELLED, f"refunded: {reason}", actor)
    elif not whole_order:
        refresh_order_status(order_id)


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
    """Replace a key reported as already activated; revoke the old licence, send the new one.

    Owns its transaction: the replacement, the revocation and the KeyReplaced event (whose
    consumers e-mail the buyer and refresh the backup) commit together.
    """
    unit = db.session.get(DeliveredUnit, unit_id)
    if unit is None or unit.status != UnitStatus.ACTIVE or unit.line.order_id != order.id:
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
        db.session.flush()
    except DuplicateProductKey as exc:
        _log(line, "replacement_refused", "system", str(exc))
        db.session.commit()
        log.error("replacement for order line %s refused: %s", line.order_line_id, exc)
        raise WholesalerError(f"replacement refused: {exc}") from exc
    unit.replaced_at, unit.replacement_reason = utcnow(), "already_activated"
    set_unit_status(unit, UnitStatus.REPLACED, f"reported as already activated by {actor}", actor)
    _log(line, "replacement", actor, f"unit {unit.unit}")
    if unit.licence_id:
        revoke_licence(unit.licence_id, RevocationReason.REPLACEMENT, actor)
        emit(LicenceRevoked(order_id=order.id, licence_id=unit.licence_id,
                            reason=RevocationReason.REPLACEMENT.value))
    db.session.refresh(line)
    issue_unit_licences(line)
    new_unit = db.session.scalar(
        select(DeliveredUnit).where(
            DeliveredUnit.fulfilment_line_id == line.id,
            DeliveredUnit.unit == unit.unit,
            DeliveredUnit.generation == generation,
        )
    )
    assert new_unit is not None
    emit(KeyReplaced(order_id=order.id, line_id=line.id, unit_id=new_unit.id))
    if line.order_line.has_addon(ADDON_BACKUP):
        emit(BackupDue(order_id=order.id, line_id=line.id, order_line_id=line.order_line_id,
                       replacement=True))
    db.session.commit()
    return new_unit
