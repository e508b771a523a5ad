"""Paid order -> wholesaler -> delivered units, exactly once, whatever fails on the way.

Nothing in this module commits on a caller's behalf, except the entry points that own their
transaction:
- the `OrderPaid` consumer (fulfilment/consumers.py) runs `start_fulfilment` and the first try
  of each line inside the outbox relay's transaction;
- `attempt_line` (a scheduled retry or poll, the sweep, an operator's retry) takes the line's
  lease in a short transaction of its own before it calls the wholesaler, then commits the
  outcome;
- `receive_callback` records a wholesaler's callback in the inbox and commits it at once;
  `apply_callback` applies it in a transaction of its own.

A wholesaler is called once per try, never in a loop: a retry is a new attempt scheduled for
later (a Celery task with a countdown, and the sweep behind it), so that no worker waits.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flask import Response, after_this_request, current_app, has_request_context
from sqlalchemy import or_, select, update
from sqlalchemy.orm import joinedload

from commerce.models import (
    FulfilmentStatus,
    Order,
    OrderLine,
    Partner,
    PaymentStatus,
    Product,
    ProductKind,
    utcnow,
)
from commerce.orders import ADDON_BACKUP
from events import (
    BackupDue,
    LineDelivered,
    LineNeedsAttention,
    SubscriptionLineDelivered,
    emit,
)
from events.outbox import after_commit, chained, hold
from events.relay import deliver_chained
from extensions import db, insert_once
from fulfilment import renewals
from fulfilment.breaker import Decision, breaker
from fulfilment.delivery import (
    DuplicateProductKey,
    issue_unit_licences,
    refresh_order_status,
    store_units,
)
from fulfilment.models import (
    OPEN_STATUSES,
    CallbackStatus,
    FulfilmentAttempt,
    FulfilmentLine,
    LineStatus,
    WholesalerCallback,
)
from fulfilment.routing import NoRoute, Route, failover_route, select_wholesaler
from fulfilment.secrets import open_product_key, seal_product_key
from fulfilment.status import set_line_status
from fulfilment.wholesalers import (
    Customer,
    DeliveredItem,
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


# -- starting --------------------------------------------------------------------------------


def order_for_fulfilment(order_id: uuid.UUID) -> Order | None:
    """The order with all that fulfilling it reads (partner and domains, lines, products, SKUs,
    routing rules, add-ons), in one query, so that no lazy load follows; the transaction's
    other consumers find it loaded."""
    order = db.session.scalars(
        select(Order).where(Order.id == order_id).options(*_ORDER_LOADS)
    ).unique().one_or_none()
    if order is not None:
        hold(order)
    return order


_ORDER_LOADS = (
    joinedload(Order.partner).joinedload(Partner.domains),
    joinedload(Order.fulfilment_lines),  # type: ignore[attr-defined]
    joinedload(Order.lines).joinedload(OrderLine.product).joinedload(Product.skus),
    joinedload(Order.lines).joinedload(OrderLine.product)
    .joinedload(Product.routing_rules),  # type: ignore[attr-defined]
    joinedload(Order.lines).joinedload(OrderLine.addons),
)
_LINE_LOADS = tuple(joinedload(FulfilmentLine.order).options(option) for option in _ORDER_LOADS)


def line_for_fulfilment(line_id: uuid.UUID) -> FulfilmentLine | None:
    """A line, read afresh, with its units and its order as order_for_fulfilment loads it."""
    return db.session.scalars(
        select(FulfilmentLine).where(FulfilmentLine.id == line_id)
        .options(*_LINE_LOADS, joinedload(FulfilmentLine.units))
        .execution_options(populate_existing=True)
    ).unique().one_or_none()


def _sole_line(line: FulfilmentLine) -> list[FulfilmentLine] | None:
    """[line] when it is its order's only software line (then, held by this transaction, its
    status is the order's to derive from, with nothing to read back), else None."""
    software = [ol for ol in line.order.lines
                if ol.parent_line_id is None and ol.product.kind == ProductKind.SOFTWARE]
    return [line] if len(software) == 1 else None


def start_fulfilment(order_id: uuid.UUID) -> list[FulfilmentLine]:
    """Create the fulfilment lines of a paid order (once) and return those still open.

    Each new line is routed to its wholesaler as it is created. Renewals of licence backups in
    the order are applied here too. Nothing is committed, and the order's fulfilment status is
    left to `refresh_order_status`, once the lines have been tried.
    """
    lines, _all_new = _start(order_id)
    return [fl for fl in lines if fl.status in OPEN_STATUSES]


def _start(order_id: uuid.UUID) -> tuple[list[FulfilmentLine], bool]:
    """Every fulfilment line of the order, created where missing; True if all are new."""
    order = order_for_fulfilment(order_id)
    if order is None or order.payment_status != PaymentStatus.PAID:
        return [], False
    existing = {fl.order_line_id: fl for fl in order.fulfilment_lines}  # type: ignore[attr-defined]
    created = 0
    for order_line in order.lines:
        if (order_line.parent_line_id is None and order_line.product.kind == ProductKind.SOFTWARE
                and order_line.subscription_action not in SUBSCRIPTION_TERM_ACTIONS
                and order_line.id not in existing):
            # A concurrent start creating the same line breaks this transaction on the unique
            # key; the relay retries the delivery, which then finds the line.
            line = FulfilmentLine(id=uuid.uuid4(), order_id=order_id, order=order,
                                  order_line_id=order_line.id, order_line=order_line,
                                  status=LineStatus.PENDING, routing_reason="",
                                  route_generation=1, attempts=0, next_attempt_at=utcnow(),
                                  units=[])  # written at the end of the try: defaults set here
            try:
                route = select_wholesaler(order.partner, order_line.product)
            except NoRoute:
                pass  # _place records it and sends the line to an operator
            else:
                line.wholesaler_code, line.routing_reason = route.wholesaler_code, route.reason
            db.session.add(line)
            existing[order_line.id] = line
            created += 1
    renewals.apply_renewals(order)
    if order.source == "subscription":  # a term or a change of a subscription was paid
        from subscriptions.services import apply_paid_order

        apply_paid_order(order.id)
    return list(existing.values()), created == len(existing)


# A subscription's renewal or added users buy nothing new: subscriptions/provisioning.py renews
# or resizes what the wholesaler already holds. An added application is bought like any line.
SUBSCRIPTION_TERM_ACTIONS = ("renewal", "seats")


def fulfil_order(order_id: uuid.UUID) -> FulfilmentStatus | None:
    """Start a paid order and try each of its open lines once; commit. (The consumer's work.)"""
    with chained():
        status = fulfil_in_transaction(order_id)
        deliver_chained()
        db.session.commit()
    return status


def fulfil_in_transaction(order_id: uuid.UUID,
                          now: datetime | None = None) -> FulfilmentStatus | None:
    """Start the order and try each open line once, then set the order's status; no commit."""
    now = now or utcnow()
    lines, all_new = _start(order_id)
    if not lines:
        order = db.session.get(Order, order_id)
        return FulfilmentStatus(order.fulfilment_status) if order else None
    for line in lines:
        if line.status in OPEN_STATUSES:
            work_line(line, now, refresh=False)
    # Lines created here are this transaction's alone: their statuses need no reading back.
    return refresh_order_status(order_id, lines=lines if all_new else None)


# -- one try at one line ---------------------------------------------------------------------


def _lease() -> timedelta:
    return timedelta(seconds=float(current_app.config["FULFILMENT_LEASE"]))


def _claim(line_id: uuid.UUID, now: datetime, force: bool = False) -> bool:
    """Take the line's lease with a conditional update and commit it; False if not ours now."""
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
        .values(lease_until=now + _lease())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def attempt_line(
    line_id: uuid.UUID, now: datetime | None = None, force: bool = False
) -> LineStatus | None:
    """One try for one line in its own transaction: buy it, or ask how it stands.

    Returns the line's status after the try, or None when the line was not ours to try
    (settled, held by another worker, or not due yet unless force). What the try emits is
    delivered in its transaction (a chain, events/outbox.py).
    """
    now = now or utcnow()
    if not _claim(line_id, now, force):
        return None
    with chained():
        line = line_for_fulfilment(line_id)
        assert line is not None
        try:
            work_line(line, now, lines=_sole_line(line))
        finally:
            line.lease_until = None
            status = LineStatus(line.status)  # read before the commit expires it
            deliver_chained(now)
            db.session.commit()
    return status


def work_line(line: FulfilmentLine, now: datetime, *, refresh: bool = True,
              lines: list[FulfilmentLine] | None = None) -> None:
    """Push one line as far as the wholesaler takes it now, in the caller's transaction.

    refresh=False leaves the order's status to the caller (one refresh for all its lines);
    `lines` is passed on to refresh_order_status.
    """
    before = LineStatus(line.status)
    with db.session.no_autoflush:  # the line is written once, as the try leaves it
        if before == LineStatus.PENDING:
            _place(line, now, frozenset())
        elif before == LineStatus.ORDERED:
            _poll(line, now)
    settle(line, before, refresh=refresh, lines=lines)


def settle(line: FulfilmentLine, before: LineStatus, *, refresh: bool = True,
           lines: list[FulfilmentLine] | None = None) -> None:
    """After a line moved: its events, its order's status, and its next try if it is open."""
    status = LineStatus(line.status)
    if status != before:
        if status == LineStatus.DELIVERED:
            emit(LineDelivered(order_id=line.order_id, line_id=line.id,
                               order_line_id=line.order_line_id))
            if line.order_line.has_addon(ADDON_BACKUP):
                emit(BackupDue(order_id=line.order_id, line_id=line.id,
                               order_line_id=line.order_line_id))
            if line.order_line.product.licence_type == "subscription":
                emit(SubscriptionLineDelivered(order_id=line.order_id, line_id=line.id,
                                               order_line_id=line.order_line_id))
        elif status == LineStatus.NEEDS_ATTENTION:
            emit(LineNeedsAttention(order_id=line.order_id, line_id=line.id,
                                    order_line_id=line.order_line_id,
                                    reason=line.last_error or ""))
        if refresh:
            refresh_order_status(line.order_id, lines=lines)
    if status in OPEN_STATUSES:
        schedule_attempt(line.id, line.next_attempt_at)


def schedule_attempt(line_id: uuid.UUID, at: datetime) -> None:
    """Queue the line's next try for `at`, once this transaction commits.

    With in-process jobs (TASKS_EAGER) nothing is queued: a countdown cannot wait there, so the
    sweep (run by `comptoir serve`, or by hand) finds the line when it is due.
    """
    if _eager():
        return
    from fulfilment.tasks import attempt_line_task

    countdown = max(0.0, (at - utcnow()).total_seconds())
    after_commit(lambda: attempt_line_task.apply_async((str(line_id),), countdown=countdown))


def _eager() -> bool:
    return current_app.config["TASKS_EAGER"] in (True, "1", "true", "True")


def _customer(order: Order) -> Customer:
    first, _, last = (order.name or "").strip().partition(" ")
    return Customer(email=order.email, language=(order.locale or "fr")[:2],
                    country=(order.billing_country or "FR").upper(),
                    first_name=first, last_name=last)


def _place(line: FulfilmentLine, now: datetime, tried: frozenset[str]) -> None:
    order_line: OrderLine = line.order_line
    order: Order = line.order
    try:
        if line.wholesaler_code is None:
            route = select_wholesaler(order.partner, order_line.product)
            line.wholesaler_code, line.routing_reason = route.wholesaler_code, route.reason
        code = line.wholesaler_code
        assert code is not None
        sku = order_line.product.sku_for(code)
        if sku is None:
            raise NoRoute(f"{order_line.product_code} has no SKU at {code}")
        decision = breaker().before_call(code)
        if not decision.allowed:
            _circuit_open(line, now, decision, tried)
            return
        request = SupplierOrderRequest(
            reference=_reference(line),
            sku=sku,
            quantity=order_line.quantity,
            callback_url=callback_url(code),
            customer=_customer(order),
            unit_price_cents=order_line.unit_price_cents,
            currency=order.currency,
            order_date=order.paid_at or now,
        )
        result = _call(code, decision, lambda adapter: adapter.place_order(request))
        _record(line, "place_order", result.status)
        _accept(line, result, now)
    except OutOfStock as exc:
        _record(line, "place_order", "out_of_stock", str(exc))
        _fail_over(line, now, f"out of stock at {line.wholesaler_code}", tried)
    except NoRoute as exc:
        _record(line, "route", "no_route", str(exc))
        _needs_attention(line, str(exc))
    except PermanentWholesalerError as exc:
        _record(line, "place_order", type(exc).__name__, str(exc))
        _needs_attention(line, str(exc))
    except WholesalerError as exc:  # temporary, malformed, or anything else: a later try
        _record(line, "place_order", type(exc).__name__, str(exc))
        failing = breaker().state(line.wholesaler_code or "") == "open"
        if failing and line.order.partner.allow_failover:
            _fail_over(line, now, f"{line.wholesaler_code} is failing ({exc})", tried)
        else:
            _retry_later(line, now, str(exc))


def _call(code: str, decision: Decision, action):  # type: ignore[no-untyped-def]
    """Make one call through the breaker: temporary failures count, answers of any kind close it."""
    try:
        with wholesaler(code) as adapter:
            result = action(adapter)
    except (TemporaryWholesalerError, MalformedAnswer):
        breaker().failed(code, decision)
        raise
    except WholesalerError:
        breaker().succeeded(code, decision)  # a refusal is an answer: the wholesaler is up
        raise
    breaker().succeeded(code, decision)
    return result


def _circuit_open(line: FulfilmentLine, now: datetime, decision: Decision,
                  tried: frozenset[str]) -> None:
    """The line's wholesaler is off: fail over where allowed, else wait for the probe."""
    code = line.wholesaler_code or ""
    _record(line, "circuit", "open", f"{code} circuit is open")
    if line.order.partner.allow_failover and line.supplier_order_id is None:
        try:
            route = failover_route(line.order.partner, line.order_line.product,
                                   tried | {code}, f"{code} circuit open")
        except NoRoute:
            pass
        else:
            _reroute(line, route)
            _place(line, now, tried | {code})
            return
    wait_until = datetime.fromtimestamp(decision.retry_at, UTC)
    line.next_attempt_at = max(wait_until, now)
    line.last_error = f"{code} is unavailable (circuit open); next try after the cooldown"


def _reference(line: FulfilmentLine) -> str:
    """Our idempotency reference at the wholesaler: one per line and route."""
    if line.supplier_reference is None:
        line.supplier_reference = (
            f"{line.order.number}-{line.order_line.position:02d}-R{line.route_generation}"
        )
    return line.supplier_reference


def callback_url(code: str) -> str | None:
    base = current_app.config.get("CALLBACK_BASE_URL") or current_app.config.get("PUBLIC_URL")
    return f"{base.rstrip('/')}/webhooks/wholesalers/{code}" if base else None


def _accept(line: FulfilmentLine, result: SupplierOrder, now: datetime) -> None:
    line.supplier_order_id = result.supplier_order_id
    if result.subscription_id is not None:  # an answer that omits it does not forget it
        line.supplier_subscription_id = result.subscription_id
    if result.status == SupplierOrderStatus.DELIVERED:
        _deliver(line, result)
    elif result.status == SupplierOrderStatus.ACCEPTED:
        set_line_status(line, LineStatus.ORDERED, "bought; the wholesaler delivers later")
        line.next_attempt_at = now + timedelta(
            seconds=float(current_app.config["FULFILMENT_POLL_INTERVAL"])
        )
        if not _apply_waiting_callbacks(line, now):
            code, reference = line.wholesaler_code, line.supplier_reference
            after_commit(lambda: _apply_callbacks_held_back(code, reference))
    else:
        _needs_attention(line, result.error or f"wholesaler answered {result.status}")


def _apply_waiting_callbacks(line: FulfilmentLine, now: datetime) -> bool:
    """Apply, in the purchase's own transaction, the callbacks that reached the inbox while the
    purchase was in flight (a wholesaler may deliver before it has answered the purchase); True
    if there were any. One read when there are none. A callback whose body cannot be read is
    left to its own task, which reports it."""
    code, reference = line.wholesaler_code, line.supplier_reference
    stmt = (select(WholesalerCallback)
            .where(WholesalerCallback.wholesaler_code == code,
                   WholesalerCallback.reference == reference,
                   WholesalerCallback.status == CallbackStatus.RECEIVED)
            .order_by(WholesalerCallback.received_at))
    if db.engine.dialect.name == "postgresql":  # its own task may be applying one right now
        stmt = stmt.with_for_update(skip_locked=True)
    applied = False
    for record in db.session.scalars(stmt).all():
        try:
            result = _load(open_product_key(record.body, f"callback:{code}"))
        except Exception:  # noqa: BLE001 - the callback's own task records why
            log.warning("callback %s: unreadable, left to its task", record.id, exc_info=True)
            continue
        _record(line, "callback", result.status)
        if result.status != SupplierOrderStatus.ACCEPTED and line.status == LineStatus.ORDERED:
            _accept(line, result, now)
        record.attempts += 1
        record.status, record.applied_at, record.last_error = CallbackStatus.APPLIED, now, None
        applied = True
    return applied


def _apply_callbacks_held_back(code: str | None, reference: str | None) -> None:
    """Once a purchase left its line ordered and committed: apply the callbacks recorded while
    it was in flight, after its read of the inbox. Their first application found no line it
    could take, and left them to this (or, should this process crash, to the sweep: they are
    due at once). One read on a connection of its own when there are none."""
    with db.engine.connect() as conn:
        waiting = conn.scalars(
            select(WholesalerCallback.id)
            .where(WholesalerCallback.wholesaler_code == code,
                   WholesalerCallback.reference == reference,
                   WholesalerCallback.status == CallbackStatus.RECEIVED)
            .order_by(WholesalerCallback.received_at)).all()
    for callback_id in waiting:
        _safely(apply_callback, callback_id, None, True)


def _poll(line: FulfilmentLine, now: datetime) -> None:
    code, reference = line.wholesaler_code, line.supplier_reference
    assert code and reference
    decision = breaker().before_call(code)
    if not decision.allowed:
        _record(line, "circuit", "open", f"{code} circuit is open")
        line.next_attempt_at = max(now, datetime.fromtimestamp(decision.retry_at, UTC))
        return
    try:
        result = _call(code, decision, lambda adapter: adapter.fetch_order(reference))
    except WholesalerError as exc:
        _record(line, "fetch_order", type(exc).__name__, str(exc))
        _retry_later(line, now, str(exc))
        return
    if result is None:
        _record(line, "fetch_order", "unknown", "the wholesaler has no such order: buying again")
        set_line_status(line, LineStatus.PENDING, "unknown at the wholesaler: buying again")
        line.next_attempt_at = now
        return
    _record(line, "fetch_order", result.status)
    _accept(line, result, now)


def _deliver(line: FulfilmentLine, result: SupplierOrder) -> None:
    wanted = line.order_line.quantity
    if len(result.items) != wanted:  # never issue licences for keys we did not buy, or too few
        detail = f"the wholesaler delivered {len(result.items)} keys for {wanted} units"
        _record(line, "deliver", "wrong_quantity", detail)
        _needs_attention(line, detail + ": nothing was issued")
        return
    try:
        store_units(line, result.items)
    except DuplicateProductKey as exc:
        _record(line, "deliver", "duplicate_key", str(exc))
        _needs_attention(line, str(exc))
        return
    issue_unit_licences(line)
    set_line_status(line, LineStatus.DELIVERED, "keys stored and licences signed")
    line.delivered_at, line.last_error = utcnow(), None


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


def _retry_later(line: FulfilmentLine, now: datetime, error: str) -> None:
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
    # Counted from the end of this try (a call that hung for its timeout is not retried at once).
    after = max(now, utcnow())
    line.next_attempt_at = after + timedelta(seconds=random.uniform(delay / 2, delay))  # noqa: S311 - jitter


def _needs_attention(line: FulfilmentLine, error: str) -> None:
    line.last_error = error
    set_line_status(line, LineStatus.NEEDS_ATTENTION, error)
    log.error("order line %s needs attention: %s", line.order_line_id, error)


def _fail_over(line: FulfilmentLine, now: datetime, why: str, tried: frozenset[str]) -> None:
    code = line.wholesaler_code or ""
    try:
        route = failover_route(line.order.partner, line.order_line.product, tried | {code}, why)
    except NoRoute as exc:
        _needs_attention(line, str(exc))
        return
    _reroute(line, route)
    _place(line, now, tried | {code})


def _reroute(line: FulfilmentLine, route: Route, reason: str = "") -> None:
    line.wholesaler_code, line.routing_reason = route.wholesaler_code, route.reason
    line.route_generation += 1
    line.supplier_reference, line.supplier_order_id = None, None
    line.supplier_subscription_id = None
    if line.status != LineStatus.PENDING:
        set_line_status(line, LineStatus.PENDING, reason or route.reason)
    line.attempts, line.next_attempt_at = 0, utcnow()


# -- callbacks: recorded at once, applied after ----------------------------------------------


class CallbackReceipt(str):
    """What the callback endpoint answers: "recorded" or "duplicate"."""


def receive_callback(code: str, body: bytes, headers: Mapping[str, str]) -> CallbackReceipt:
    """Authenticate a callback, record it once in the inbox, commit, and queue its application.

    Raises BadCallbackSignature (or another WholesalerError) when it cannot be trusted or read;
    nothing is recorded then.
    """
    with wholesaler(code) as adapter:
        result = adapter.handle_callback(body, headers)
    record_id = uuid.uuid4()
    if not insert_once(WholesalerCallback, id=record_id, wholesaler_code=code,
                       reference=result.reference[:80], event=str(result.status)[:40],
                       body=seal_product_key(_dump(result), f"callback:{code}")):
        db.session.commit()
        return CallbackReceipt("duplicate")
    _queue_callback(record_id, 0.0, leave_if_busy=True)
    db.session.commit()
    return CallbackReceipt("recorded")


def _queue_callback(callback_id: uuid.UUID, countdown: float, leave_if_busy: bool = False) -> None:
    from fulfilment.tasks import apply_callback_task

    if _eager():
        if countdown > 0:
            return  # in-process: the sweep applies it when due
        if has_request_context():
            after_commit(lambda: _apply_after_answer(callback_id))
            return
    after_commit(lambda: apply_callback_task.apply_async((str(callback_id),),
                                                         {"leave_if_busy": leave_if_busy},
                                                         countdown=countdown))


def _apply_after_answer(callback_id: uuid.UUID) -> None:
    """In-process jobs: apply the callback once the wholesaler has its answer, as a worker would,
    rather than making it wait for the application (a failure is left to the sweep)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def apply() -> None:
        with app.app_context():
            _safely(apply_callback, callback_id, None, True)

    @after_this_request
    def when_answered(response: Response) -> Response:
        response.call_on_close(apply)
        return response


CALLBACK_BUSY_DELAY = 1.0  # seconds: a line being worked on is usually free again by then
CALLBACK_UNKNOWN_TRIES = 8  # an unknown reference may belong to a purchase not yet committed


def apply_callback(callback_id: uuid.UUID, now: datetime | None = None,
                   leave_if_busy: bool = False) -> CallbackStatus:
    """Apply a recorded callback in a transaction of its own; later when the line is busy.

    What applying it emits (the line delivered) is delivered in the same transaction (a chain).
    `leave_if_busy`, for the application queued by the callback's receipt and for the one after
    a purchase: when no line can be taken, a purchase is in flight (the wholesaler called back
    before it committed) or another transaction holds the line. Nothing is written then:
    whoever leaves the line ordered applies the callback after its commit
    (`_apply_callbacks_held_back`), and the sweep catches whatever is left (it is due at once).
    """
    now = now or utcnow()
    record = db.session.get(WholesalerCallback, callback_id)
    if record is None or record.status != CallbackStatus.RECEIVED:
        return CallbackStatus(record.status) if record else CallbackStatus.IGNORED
    line = _take_line(record.wholesaler_code, record.reference, now)
    if line is None:
        if leave_if_busy:
            db.session.rollback()
            return CallbackStatus.RECEIVED
        record.attempts += 1
        return _line_not_free(record, now)
    with chained():
        before = LineStatus(line.status)
        if before not in OPEN_STATUSES and before != LineStatus.NEEDS_ATTENTION:
            record.attempts += 1
            return _callback_done(record, CallbackStatus.IGNORED, now, f"line already {before}")
        result = _load(open_product_key(record.body, f"callback:{record.wholesaler_code}"))
        _record(line, "callback", result.status)
        with db.session.no_autoflush:
            _accept(line, result, now)
            # Written with the line's own changes, in one UPDATE.
            record.attempts += 1
            record.status, record.applied_at, record.last_error = (CallbackStatus.APPLIED, now,
                                                                   None)
        settle(line, before, lines=_sole_line(line))
        deliver_chained(now)
        db.session.commit()
    return CallbackStatus.APPLIED


def _take_line(code: str, reference: str, now: datetime) -> FulfilmentLine | None:
    """The line under this reference, held by this transaction until it commits, read afresh;
    None when there is none, or another worker has it (a lease, or a row lock)."""
    free = (FulfilmentLine.supplier_reference == reference,
            FulfilmentLine.wholesaler_code == code,
            or_(FulfilmentLine.lease_until.is_(None), FulfilmentLine.lease_until < now))
    with db.session.no_autoflush:
        if db.engine.dialect.name == "postgresql":  # one statement: lock it as it is read
            return db.session.scalars(
                select(FulfilmentLine).where(*free)
                .options(*_LINE_LOADS, joinedload(FulfilmentLine.units))
                .with_for_update(of=FulfilmentLine, skip_locked=True)
                .execution_options(populate_existing=True)
            ).unique().one_or_none()
        # SQLite: the conditional UPDATE takes the database's write lock, then the line is read.
        taken = db.session.execute(
            update(FulfilmentLine).where(*free).values(lease_until=None)
            .returning(FulfilmentLine.id).execution_options(synchronize_session=False)
        ).scalar_one_or_none()
    return line_for_fulfilment(taken) if taken is not None else None


def _line_not_free(record: WholesalerCallback, now: datetime) -> CallbackStatus:
    """No line could be taken under the callback's reference: unknown (yet), or busy."""
    exists = db.session.scalar(
        select(FulfilmentLine.id).where(FulfilmentLine.supplier_reference == record.reference,
                                        FulfilmentLine.wholesaler_code == record.wholesaler_code))
    if exists is None:
        if record.attempts >= CALLBACK_UNKNOWN_TRIES:
            return _callback_done(record, CallbackStatus.IGNORED, now, "unknown reference")
        return _callback_later(record, now, timedelta(seconds=2 ** record.attempts),
                               "no line under this reference (yet)")
    return _callback_later(record, now, timedelta(seconds=CALLBACK_BUSY_DELAY),
                           "line busy with another worker")


def _callback_done(record: WholesalerCallback, status: CallbackStatus, now: datetime,
                   note: str | None) -> CallbackStatus:
    record.status, record.applied_at, record.last_error = status, now, note
    db.session.commit()
    return status


def _callback_later(record: WholesalerCallback, now: datetime, delay: timedelta,
                    why: str) -> CallbackStatus:
    record.next_attempt_at, record.last_error = now + delay, why
    _queue_callback(record.id, delay.total_seconds())
    db.session.commit()
    return CallbackStatus.RECEIVED


def _dump(order: SupplierOrder) -> str:
    return json.dumps({
        "reference": order.reference, "supplier_order_id": order.supplier_order_id,
        "status": str(order.status), "sku": order.sku, "quantity": order.quantity,
        "error": order.error, "subscription_id": order.subscription_id,
        "items": [{"product_key": i.product_key, "download_url": i.download_url,
                   "download_expires_at": i.download_expires_at.isoformat()} for i in order.items],
    })


def _load(text: str) -> SupplierOrder:
    data = json.loads(text)
    return SupplierOrder(
        reference=data["reference"], supplier_order_id=data["supplier_order_id"],
        status=SupplierOrderStatus(data["status"]), sku=data["sku"], quantity=data["quantity"],
        error=data["error"], subscription_id=data.get("subscription_id"),  # absent before it
        items=tuple(DeliveredItem(i["product_key"], i["download_url"],
                                  datetime.fromisoformat(i["download_expires_at"]))
                    for i in data["items"]),
    )


# -- the sweep -------------------------------------------------------------------------------


@dataclass
class SweepReport:
    lines_tried: int = 0
    callbacks_applied: int = 0
    events_delivered: int = 0
    events_failed: int = 0
    emails_sent: int = 0
    line_results: dict[str, int] = field(default_factory=dict)
    # What still waits afterwards (filled by retry_waiting):
    lines_waiting: int = 0
    deliveries_waiting: int = 0
    callbacks_waiting: int = 0
    attention: int = 0


def sweep(now: datetime | None = None, limit: int = 100, *, force: bool = False) -> SweepReport:
    """Push on what is due: event deliveries, recorded callbacks (before polling their lines, as
    they cost no call), line retries and polls, e-mails.

    With force, everything waiting is tried now, whatever its retry time (`fulfilment retry`).
    """
    from events import relay
    from fulfilment import emails

    now = now or utcnow()
    report = SweepReport()
    events = relay.sweep(now, limit=limit, force=force)
    report.events_delivered, report.events_failed = events.done, events.failed
    now = max(now, utcnow())
    callbacks = (
        select(WholesalerCallback.id)
        .where(WholesalerCallback.status == CallbackStatus.RECEIVED)
        .order_by(WholesalerCallback.next_attempt_at)
        .limit(limit)
    )
    if not force:
        callbacks = callbacks.where(WholesalerCallback.next_attempt_at <= now)
    for callback_id in db.session.scalars(callbacks).all():
        if _safely(apply_callback, callback_id, now) == CallbackStatus.APPLIED:
            report.callbacks_applied += 1
    lines = (
        select(FulfilmentLine.id)
        .where(
            FulfilmentLine.status.in_(OPEN_STATUSES),
            or_(FulfilmentLine.lease_until.is_(None), FulfilmentLine.lease_until < now),
        )
        .order_by(FulfilmentLine.next_attempt_at)
        .limit(limit)
    )
    if not force:
        lines = lines.where(FulfilmentLine.next_attempt_at <= now)
    for line_id in db.session.scalars(lines).all():
        result = _safely(attempt_line, line_id, now, force)
        if result is not None:
            report.lines_tried += 1
            report.line_results[str(result)] = report.line_results.get(str(result), 0) + 1
    report.emails_sent = _safely(emails.send_due, now) or 0
    return report


def retry_waiting(*, due_only: bool = False) -> SweepReport:
    """`comptoir fulfilment retry`: try everything waiting now (or only what is due), then count
    what still waits."""
    from sqlalchemy import func

    from events import relay

    report = sweep(force=not due_only)

    def count(stmt) -> int:  # type: ignore[no-untyped-def]
        return int(db.session.scalar(stmt) or 0)

    report.lines_waiting = count(select(func.count()).select_from(FulfilmentLine)
                                 .where(FulfilmentLine.status.in_(OPEN_STATUSES)))
    report.attention = count(select(func.count()).select_from(FulfilmentLine)
                             .where(FulfilmentLine.status == LineStatus.NEEDS_ATTENTION))
    report.callbacks_waiting = count(select(func.count()).select_from(WholesalerCallback)
                                     .where(WholesalerCallback.status == CallbackStatus.RECEIVED))
    report.deliveries_waiting = relay.pending_count()
    return report


def _safely(step, *args):  # type: ignore[no-untyped-def]
    """Run one sweep step; a failure is logged and the sweep goes on with the next item."""
    try:
        return step(*args)
    except Exception:
        db.session.rollback()
        log.exception("sweep step %s%r failed; it will be retried", step.__name__, args)
        return None
