"""Paid order -> wholesaler -> delivered units, exactly once, whatever fails on the way."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from commerce.models import FulfilmentStatus, Order, OrderLine, PaymentStatus, ProductKind, utcnow
from commerce.status import transition_fulfilment_atomically
from extensions import db
from fulfilment import emails, renewals
from fulfilment.delivery import (
    DuplicateProductKey,
    issue_unit_licences,
    refresh_order_status,
    store_units,
)
from fulfilment.models import OPEN_STATUSES, FulfilmentAttempt, FulfilmentLine, LineStatus
from fulfilment.routing import NoRoute, Route, failover_route, select_wholesaler
from fulfilment.wholesalers import (
    MalformedAnswer,
    OutOfStock,
    PermanentWholesalerError,
    SupplierOrder,
    SupplierOrderRequest,
    SupplierOrderStatus,
    TemporaryWholesalerError,
    Wholesaler,
    WholesalerError,
    get_wholesaler,
)

log = logging.getLogger(__name__)


def wholesaler(code: str) -> Wholesaler:
    return get_wholesaler(code, current_app.config)


def start_fulfilment(order_id: uuid.UUID) -> list[uuid.UUID]:
    """Create the fulfilment lines of a paid order (once) and return those still open."""
    order = db.session.get(Order, order_id)
    if order is None or order.payment_status != PaymentStatus.PAID:
        return []
    software = [
        line.id
        for line in order.lines
        if line.parent_line_id is None and line.product.kind == ProductKind.SOFTWARE
    ]
    for order_line_id in software:
        try:
            with db.session.begin_nested():  # a concurrent start may have created it: theirs stands
                db.session.add(FulfilmentLine(order_id=order_id, order_line_id=order_line_id))
        except IntegrityError:
            pass
    db.session.commit()
    transition_fulfilment_atomically(
        order_id, FulfilmentStatus.AWAITING, FulfilmentStatus.IN_PROGRESS, "sent to fulfilment"
    )
    db.session.commit()
    if renewals.apply_renewals(order_id):
        emails.owe_email(f"renewal:{order_id}", order_id, "renewal")
    return list(
        db.session.scalars(
            select(FulfilmentLine.id).where(
                FulfilmentLine.order_id == order_id, FulfilmentLine.status.in_(OPEN_STATUSES)
            )
        )
    )


def fulfil_order(order_id: uuid.UUID) -> FulfilmentStatus | None:
    """Start and push every open line of a paid order as far as it goes now."""
    for line_id in start_fulfilment(order_id):
        fulfil_line(line_id)
    order = db.session.get(Order, order_id)
    return order.fulfilment_status if order else None


def _claim(line_id: uuid.UUID, now: datetime, force: bool = False) -> bool:
    """Take the line's lease with a conditional update; False if settled or held by another."""
    lease = timedelta(seconds=float(current_app.config["FULFILMENT_LEASE"]))
    conditions = [
        FulfilmentLine.id == line_id,
        FulfilmentLine.status.in_(OPEN_STATUSES),
        or_(FulfilmentLine.lease_until.is_(None), FulfilmentLine.lease_until < now),
    ]
    if not force:
        conditions.append(FulfilmentLine.next_attempt_at <= now)
    result = db.session.execute(
        update(FulfilmentLine)
        .where(*conditions)
        .values(lease_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def fulfil_line(
    line_id: uuid.UUID, now: datetime | None = None, force: bool = False
) -> LineStatus | None:
    """One step for one line: buy it, or ask how a purchase stands; None if not ours now."""
    now = now or utcnow()
    if not _claim(line_id, now, force):
        return None
    line = db.session.get(FulfilmentLine, line_id)
    assert line is not None
    db.session.refresh(line)
    try:
        if line.status == LineStatus.PENDING:
            _place(line, now)
        elif line.status == LineStatus.ORDERED:
            _poll(line, now)
    finally:
        line.lease_until = None
        db.session.commit()
    after_line_changed(line)
    return line.status


def _place(line: FulfilmentLine, now: datetime) -> None:
    order_line: OrderLine = line.order_line
    try:
        route = _route(line) if line.wholesaler_code is None else None
        code = line.wholesaler_code or (route.wholesaler_code if route else "")
        sku = order_line.product.sku_for(code)
        if sku is None:
            raise NoRoute(f"{order_line.product_code} has no SKU at {code}")
        adapter = wholesaler(code)
        with adapter:
            result = adapter.place_order(
                SupplierOrderRequest(
                    reference=_reference(line),
                    sku=sku,
                    quantity=order_line.quantity,
                    callback_url=callback_url(code) if adapter.supports_callbacks else None,
                )
            )
        _record(line, "place_order", result.status)
        _accept(line, result, now)
    except OutOfStock as exc:
        _record(line, "place_order", "out_of_stock", str(exc))
        _fail_over(line, now, f"out of stock at {line.wholesaler_code}")
    except NoRoute as exc:
        _record(line, "route", "no_route", str(exc))
        _needs_attention(line, str(exc))
    except (TemporaryWholesalerError, MalformedAnswer) as exc:
        _record(line, "place_order", type(exc).__name__, str(exc))
        _retry_later(line, now, str(exc))
    except PermanentWholesalerError as exc:
        _record(line, "place_order", type(exc).__name__, str(exc))
        _needs_attention(line, str(exc))
    except WholesalerError as exc:
        _record(line, "place_order", type(exc).__name__, str(exc))
        _retry_later(line, now, str(exc))


def _route(line: FulfilmentLine) -> Route:
    """Choose the wholesaler, record the choice and its reason, then check stock before buying."""
    partner, product = line.order.partner, line.order_line.product
    route = select_wholesaler(partner, product)
    line.wholesaler_code, line.routing_reason = route.wholesaler_code, route.reason
    db.session.commit()
    with wholesaler(route.wholesaler_code) as adapter:
        try:
            stock = adapter.check_stock(route.sku)
            available = stock.available and stock.quantity >= line.order_line.quantity
        except OutOfStock:
            available = False
    if not available:
        _record(line, "check_stock", "out_of_stock", route.sku)
        route = failover_route(
            partner,
            product,
            frozenset({route.wholesaler_code}),
            f"out of stock at {route.wholesaler_code}",
        )
        line.wholesaler_code, line.routing_reason = route.wholesaler_code, route.reason
        db.session.commit()
    return route


def _reference(line: FulfilmentLine) -> str:
    """Our idempotency reference at the wholesaler: one per line and route."""
    if line.supplier_reference is None:
        line.supplier_reference = (
            f"{line.order.number}-{line.order_line.position:02d}-R{line.route_generation}"
        )
        db.session.commit()
    return line.supplier_reference


def callback_url(code: str) -> str | None:
    base = current_app.config.get("CALLBACK_BASE_URL") or current_app.config.get("PUBLIC_URL")
    return f"{base.rstrip('/')}/webhooks/wholesalers/{code}" if base else None


def _accept(line: FulfilmentLine, result: SupplierOrder, now: datetime) -> None:
    line.supplier_order_id = result.supplier_order_id
    if result.status == SupplierOrderStatus.DELIVERED:
        _deliver(line, result)
    elif result.status == SupplierOrderStatus.ACCEPTED:
        line.status = LineStatus.ORDERED
        line.next_attempt_at = now + timedelta(
            seconds=float(current_app.config["FULFILMENT_POLL_INTERVAL"])
        )
        db.session.commit()
    else:
        _needs_attention(line, result.error or f"wholesaler answered {result.status}")


def _poll(line: FulfilmentLine, now: datetime) -> None:
    assert line.wholesaler_code and line.supplier_reference
    try:
        with wholesaler(line.wholesaler_code) as adapter:
            result = adapter.fetch_order(line.supplier_reference)
    except WholesalerError as exc:
        _record(line, "fetch_order", type(exc).__name__, str(exc))
        _retry_later(line, now, str(exc), keep_status=True)
        return
    if result is None:
        _record(line, "fetch_order", "unknown", "the wholesaler has no such order: buying again")
        line.status = LineStatus.PENDING
        db.session.commit()
        return
    _record(line, "fetch_order", result.status)
    _accept(line, result, now)


def _deliver(line: FulfilmentLine, result: SupplierOrder) -> None:
    try:
        store_units(line, result.items)
    except DuplicateProductKey as exc:
        db.session.rollback()
        _record(line, "deliver", "duplicate_key", str(exc))
        _needs_attention(line, str(exc))
        return
    issue_unit_licences(line)
    line.status, line.delivered_at, line.last_error = LineStatus.DELIVERED, utcnow(), None
    db.session.commit()


def _record(
    line: FulfilmentLine, action: str, outcome: str, detail: str = "", code: str | None = None
) -> None:
    db.session.add(
        FulfilmentAttempt(
            line_id=line.id,
            wholesaler_code=code or line.wholesaler_code or "-",
            action=action,
            outcome=str(outcome),
            detail=detail[:2000],
        )
    )
    db.session.commit()


def _retry_later(
    line: FulfilmentLine, now: datetime, error: str, keep_status: bool = False
) -> None:
    cfg = current_app.config
    line.attempts += 1
    line.last_error = error
    if line.attempts >= int(cfg["FULFILMENT_MAX_ATTEMPTS"]):
        _needs_attention(line, f"gave up after {line.attempts} tries: {error}")
        return
    delay = min(
        float(cfg["FULFILMENT_RETRY_CAP"]),
        float(cfg["FULFILMENT_RETRY_BASE"]) * 2 ** (line.attempts - 1),
    )
    line.next_attempt_at = now + timedelta(seconds=random.uniform(delay / 2, delay))  # noqa: S311 - jitter
    db.session.commit()


def _needs_attention(line: FulfilmentLine, error: str) -> None:
    line.status, line.last_error = LineStatus.NEEDS_ATTENTION, error
    db.session.commit()
    log.error("order line %s needs attention: %s", line.order_line_id, error)


def _fail_over(line: FulfilmentLine, now: datetime, why: str) -> None:
    try:
        route = failover_route(
            line.order.partner,
            line.order_line.product,
            frozenset({line.wholesaler_code or ""}),
            why,
        )
    except NoRoute as exc:
        _needs_attention(line, str(exc))
        return
    _reroute(line, route)


def _reroute(line: FulfilmentLine, route: Route) -> None:
    line.wholesaler_code, line.routing_reason = route.wholesaler_code, route.reason
    line.route_generation += 1
    line.supplier_reference, line.supplier_order_id = None, None
    line.status, line.attempts, line.next_attempt_at = LineStatus.PENDING, 0, utcnow()
    db.session.commit()


def after_line_changed(line: FulfilmentLine) -> None:
    """Bring the order's status up to date and owe the buyer an e-mail once the order settles."""
    status = refresh_order_status(line.order_id)
    if line.status == LineStatus.DELIVERED:
        from fulfilment import hooks

        hooks.line_delivered(line)
    if status in (
        FulfilmentStatus.DELIVERED,
        FulfilmentStatus.PARTIALLY_DELIVERED,
        FulfilmentStatus.NEEDS_ATTENTION,
    ) and not any(
        fl.status in OPEN_STATUSES
        for fl in db.session.scalars(
            select(FulfilmentLine).where(FulfilmentLine.order_id == line.order_id)
        )
    ):
        emails.owe_delivery_email(line.order_id, line)


class LineBusy(Exception):
    """A worker holds the line now; the caller should try again shortly."""


def handle_callback(code: str, body: bytes, headers: Mapping[str, str]) -> LineStatus | None:
    """Apply a signed delivery callback; raises BadCallbackSignature when it cannot be trusted."""
    with wholesaler(code) as adapter:
        result = adapter.handle_callback(body, headers)
    line = db.session.scalar(
        select(FulfilmentLine).where(
            FulfilmentLine.supplier_reference == result.reference,
            FulfilmentLine.wholesaler_code == code,
        )
    )
    if line is None:
        log.warning("callback from %s for unknown reference %s", code, result.reference)
        return None
    if line.status in (LineStatus.DELIVERED, LineStatus.CANCELLED):
        return line.status  # delivered already: a repeated callback is nothing new
    if not _claim(line.id, utcnow(), force=True):
        # The placing worker still holds the line: ask the wholesaler to send it again later.
        raise LineBusy(f"line {line.id} is being worked on")
    try:
        db.session.refresh(line)
        _record(line, "callback", result.status)
        _accept(line, result, utcnow())
    finally:
        line.lease_until = None
        db.session.commit()
    after_line_changed(line)
    return line.status


@dataclass
class SweepReport:
    orders_started: int = 0
    lines_tried: int = 0
    emails_sent: int = 0
    line_results: dict[str, int] = field(default_factory=dict)


def sweep(now: datetime | None = None, limit: int = 100) -> SweepReport:
    """Find paid work that nobody finished (lost message, crash, retry due) and push it on."""
    now = now or utcnow()
    report = SweepReport()
    # Orders paid a moment ago are being handed over right now: leave them to that job.
    grace = timedelta(seconds=float(current_app.config["SWEEP_GRACE"]))
    stranded = db.session.scalars(
        select(Order.id)
        .where(
            Order.payment_status == PaymentStatus.PAID,
            Order.fulfilment_status == FulfilmentStatus.AWAITING,
            Order.paid_at <= now - grace,
        )
        .limit(limit)
    ).all()
    for order_id in stranded:
        if _safely(start_fulfilment, order_id) is not None:
            report.orders_started += 1
    now = max(now, utcnow())  # lines just started are due at once
    due = db.session.scalars(
        select(FulfilmentLine.id)
        .where(
            FulfilmentLine.status.in_(OPEN_STATUSES),
            FulfilmentLine.next_attempt_at <= now,
            or_(FulfilmentLine.lease_until.is_(None), FulfilmentLine.lease_until < now),
        )
        .order_by(FulfilmentLine.next_attempt_at)
        .limit(limit)
    ).all()
    for line_id in due:
        result = _safely(fulfil_line, line_id, now)
        if result is not None:
            report.lines_tried += 1
            report.line_results[str(result)] = report.line_results.get(str(result), 0) + 1
    report.emails_sent = _safely(emails.send_due, now) or 0
    return report


def _safely(step, *args):  # type: ignore[no-untyped-def]
    """Run one sweep step; a failure is logged and the sweep goes on with the next item."""
    try:
        return step(*args)
    except Exception:
        db.session.rollback()
        log.exception("sweep step %s%r failed; it will be retried", step.__name__, args)
        return None
