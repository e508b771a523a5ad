"""Running consumers: the one place where a consumer's transaction begins and ends.

`deliver(event_ids)` takes the pending deliveries of those events, runs each consumer in a
savepoint of one transaction, marks the ones that succeeded done and the ones that failed due
again later (exponential backoff with jitter, the error kept), and commits once. A delivery is
never dropped: it stays pending, visible in the back office, until its consumer succeeds.

The consumers' own follow-ups are chained (events/outbox.py): an event that a consumer emits is
delivered in the same transaction, right after it, and its delivery rows are written once,
already done or failed; a long chain stops at CHAIN_LIMIT events and the rest goes to Celery.

On PostgreSQL the deliveries are locked `FOR UPDATE SKIP LOCKED`, so two relays (Celery and the
sweep) never run the same delivery at once. On SQLite the consumers' own idempotence (unique keys
in the ledger, the vault and the e-mail log) makes a rare double run harmless.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from events.models import EventDelivery, OutboxEvent
from events.outbox import (
    Chained,
    add_pending_deliveries,
    chain_mark,
    chained,
    consumer_for,
    consumers_of,
    drop_chained,
    take_chained,
)
from events.types import EVENT_TYPES, Event
from extensions import db, utcnow

log = logging.getLogger(__name__)
CHAIN_LIMIT = 50  # events delivered in one transaction after its first; the rest via Celery


@dataclass
class RelayReport:
    done: int = 0
    failed: int = 0
    errors: dict[str, str] = field(default_factory=dict)  # "consumer@kind": last error


def backoff(attempts: int) -> timedelta:
    """The pause before try number attempts + 1: doubling from EVENTS_RETRY_BASE, capped."""
    cfg = current_app.config
    delay = min(float(cfg.get("EVENTS_RETRY_CAP", 3600)),
                float(cfg.get("EVENTS_RETRY_BASE", 5)) * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=random.uniform(delay / 2, delay))  # noqa: S311 - jitter


def deliver(event_ids: Iterable[uuid.UUID], *, now: datetime | None = None,
            due_only: bool = False, _skip: frozenset[uuid.UUID] = frozenset()) -> RelayReport:
    """Run the pending deliveries of these events; commit once. See the module's docstring.

    The first consumer to run needs no savepoint, since nothing of the transaction is worth
    keeping before it: if it fails, the transaction is rolled back whole, its failure committed
    on its own, and the other deliveries run again in a new transaction (`_skip` then holds the
    deliveries already settled). The others each run in a savepoint.
    """
    now = now or utcnow()
    ids = list(event_ids)
    report = RelayReport()
    if not ids:
        return report
    stmt = (
        select(EventDelivery, OutboxEvent)
        .join(OutboxEvent, OutboxEvent.id == EventDelivery.event_id)
        .where(EventDelivery.event_id.in_(ids), EventDelivery.done_at.is_(None))
        .order_by(OutboxEvent.created_at, EventDelivery.consumer)
    )
    if _skip:
        stmt = stmt.where(EventDelivery.id.not_in(_skip))
    if due_only:
        stmt = stmt.where(EventDelivery.next_attempt_at <= now)
    if db.engine.dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=EventDelivery, skip_locked=True)
    with chained():
        rows = db.session.execute(stmt).all()
        bare = True  # nothing ran yet in this transaction
        for delivery, event_row in rows:
            try:
                event = _event_of(delivery.consumer, event_row)
            except LookupError as exc:
                _failed(delivery, event_row, now, exc, report)
                continue
            if not bare:
                _run(delivery, event_row, event, now, report)
                continue
            ran = _run_bare(delivery, event_row, event, now, report)
            if ran is None:  # nothing was done: the next one still runs bare
                continue
            bare = False
            if ran is False:  # rolled back whole: the rest in a new transaction
                again = deliver(ids, now=now, due_only=due_only,
                                _skip=_skip | {delivery.id})
                report.done += again.done
                report.failed += again.failed
                report.errors.update(again.errors)
                return report
        deliver_chained(now, report)
        db.session.commit()
    return report


def _run_bare(delivery: EventDelivery, event_row: OutboxEvent, event: Event, now: datetime,
              report: RelayReport) -> bool | None:
    """Run the transaction's first consumer without a savepoint of its own. True when it
    succeeded; None when it had nothing to do (not wanted); False when it failed: then the
    transaction was rolled back whole and the failure recorded and committed in a new one."""
    target = consumer_for(delivery.consumer, event_row.kind)
    assert target is not None
    if target.wanted is not None and not target.wanted(event):
        _done(delivery, now, report)
        return None
    delivery_id, kind, event_id = delivery.id, event_row.kind, event_row.id
    try:
        target.handler(event)
    except Exception as exc:  # noqa: BLE001 - any failure: keep it pending, try again later
        db.session.rollback()
        drop_chained(0)  # what it emitted was rolled back with it
        again = db.session.get(EventDelivery, delivery_id)
        if again is None or again.done_at is not None:
            log.warning("event %s %s: consumer failed, and its delivery is gone or done: %s",
                        kind, event_id, exc)
        else:
            _failed(again, again.event, now, exc, report)
        db.session.commit()
        return False
    _done(delivery, now, report)
    return True


def deliver_chained(now: datetime | None = None, report: RelayReport | None = None) -> RelayReport:
    """Run the consumers of the events this transaction's chain emitted, each in a savepoint,
    and write their deliveries, done or failed. The caller commits."""
    now = now or utcnow()
    report = report if report is not None else RelayReport()
    written: list[EventDelivery] = []
    ran = 0
    while waiting := take_chained():
        for item in waiting:
            if ran >= CHAIN_LIMIT:
                _requeue(item)
                continue
            ran += 1
            for c in consumers_of(item.row.kind):
                delivery = EventDelivery(event_id=item.row.id, consumer=c.name, attempts=0)
                _run(delivery, item.row, item.event, now, report)
                written.append(delivery)
    db.session.add_all(written)  # one INSERT for all, each row already done or failed
    return report


def _requeue(item: Chained) -> None:
    add_pending_deliveries(db.session(), item.row)


def _event_of(consumer: str, event_row: OutboxEvent) -> Event:
    event_type = EVENT_TYPES.get(event_row.kind)
    if consumer_for(consumer, event_row.kind) is None or event_type is None:
        raise LookupError(f"no consumer {consumer!r} for {event_row.kind} here")
    return event_type.from_payload(event_row.payload)


def _run(delivery: EventDelivery, event_row: OutboxEvent, event: Event, now: datetime,
         report: RelayReport) -> None:
    target = consumer_for(delivery.consumer, event_row.kind)
    assert target is not None
    mark = chain_mark()
    try:
        if target.wanted is not None and not target.wanted(event):
            _done(delivery, now, report)  # nothing to do for this one
            return
        with db.session.begin_nested():
            target.handler(event)
    except Exception as exc:  # noqa: BLE001 - any failure: keep it pending, try again later
        drop_chained(mark)  # what it emitted was rolled back with it
        _failed(delivery, event_row, now, exc, report)
        return
    _done(delivery, now, report)


def _done(delivery: EventDelivery, now: datetime, report: RelayReport) -> None:
    delivery.attempts = (delivery.attempts or 0) + 1
    delivery.last_attempt_at = delivery.done_at = now
    delivery.last_error = None
    report.done += 1


def _failed(delivery: EventDelivery, event_row: OutboxEvent, now: datetime, exc: Exception,
            report: RelayReport) -> None:
    delivery.attempts = (delivery.attempts or 0) + 1
    delivery.last_attempt_at = now
    delivery.last_error = f"{type(exc).__name__}: {exc}"[:4000]
    delivery.next_attempt_at = now + backoff(delivery.attempts)
    report.failed += 1
    report.errors[f"{delivery.consumer}@{event_row.kind}"] = delivery.last_error
    log.warning("event %s %s: consumer %s failed (try %d), retried later: %s",
                event_row.kind, event_row.id, delivery.consumer, delivery.attempts,
                delivery.last_error, exc_info=not isinstance(exc, LookupError))


def due_event_ids(now: datetime | None = None, *, limit: int = 200,
                  grace: timedelta | None = None, force: bool = False) -> list[uuid.UUID]:
    """Events with a delivery due now: failed ones whose backoff passed, or lost hand-offs.

    A delivery never tried is left alone for `grace` (EVENTS_RELAY_GRACE), the time its own
    Celery task normally needs to run it. With force, every pending delivery is due.
    """
    now = now or utcnow()
    if grace is None:
        grace = timedelta(seconds=float(current_app.config.get("EVENTS_RELAY_GRACE", 30)))
    stmt = (
        select(EventDelivery.event_id, EventDelivery.attempts, OutboxEvent.created_at)
        .join(OutboxEvent, OutboxEvent.id == EventDelivery.event_id)
        .where(EventDelivery.done_at.is_(None))
        .order_by(EventDelivery.next_attempt_at)
        .limit(limit)
    )
    if not force:
        stmt = stmt.where(EventDelivery.next_attempt_at <= now)
    seen: dict[uuid.UUID, None] = {}
    for event_id, attempts, created_at in db.session.execute(stmt).all():
        if force or attempts or created_at <= now - grace:
            seen.setdefault(event_id)
    return list(seen)


def sweep(now: datetime | None = None, *, limit: int = 200, force: bool = False) -> RelayReport:
    """Run every due delivery (the sweep's part: retries and lost hand-offs); all with force."""
    now = now or utcnow()
    ids = due_event_ids(now, limit=limit, force=force)
    db.session.commit()
    total = RelayReport()
    for event_id in ids:
        try:
            report = deliver([event_id], now=now, due_only=not force)
        except Exception:
            db.session.rollback()
            log.exception("relay of event %s failed; the next sweep tries again", event_id)
            continue
        total.done += report.done
        total.failed += report.failed
        total.errors.update(report.errors)
    return total


def pending_count() -> int:
    from sqlalchemy import func

    return int(db.session.scalar(
        select(func.count()).select_from(EventDelivery).where(EventDelivery.done_at.is_(None))
    ) or 0)
