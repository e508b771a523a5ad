"""Writing events, and who consumes them.

`emit(event)` adds the event and one delivery per subscribed consumer to the current transaction:
they commit or roll back with the change that caused them. Once the transaction commits, the
events it wrote are handed to Celery (`events.deliver`); if the broker is unreachable then, the
sweep finds the deliveries still pending and hands them over again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app, has_app_context
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from events.models import EventDelivery, OutboxEvent
from events.types import Event
from extensions import db

log = logging.getLogger(__name__)

Handler = Callable[[Event], None]
_PENDING = "comptoir.outbox.pending"  # session.info key: event ids written in this transaction
_AFTER = "comptoir.outbox.after_commit"  # session.info key: callables to run once it commits


@dataclass(frozen=True)
class Consumer:
    name: str
    kind: str
    handler: Handler


_consumers: dict[str, Consumer] = {}


def consumer(name: str, *kinds: type[Event]) -> Callable[[Handler], Handler]:
    """Subscribe `handler` to the given event types under a stable name (stored per delivery).

    The handler runs inside the relay's transaction, in a savepoint of its own: it must not
    commit, and it must be idempotent (a delivery can run again after a crash).
    """

    def register(handler: Handler) -> Handler:
        for kind in kinds:
            key = f"{name}@{kind.kind}"
            _consumers[key] = Consumer(name, kind.kind, handler)
        return handler

    return register


def consumers_of(kind: str) -> list[Consumer]:
    return sorted((c for c in _consumers.values() if c.kind == kind), key=lambda c: c.name)


def consumer_for(name: str, kind: str) -> Consumer | None:
    return _consumers.get(f"{name}@{kind}")


def emit(event: Event) -> OutboxEvent:
    """Record the event and its deliveries in the current transaction (nothing is committed)."""
    row = OutboxEvent(id=uuid.uuid4(), kind=event.kind, payload=event.payload(),
                      order_id=event.order_id)
    db.session.add(row)
    for c in consumers_of(event.kind):
        db.session.add(EventDelivery(event_id=row.id, consumer=c.name))
    db.session.info.setdefault(_PENDING, []).append(row.id)
    return row


def after_commit(action: Callable[[], object]) -> None:
    """Run action once the current transaction commits (a task to queue); forget it on rollback.

    A failing action is logged: what it queues must also be found by the sweep.
    """
    db.session.info.setdefault(_AFTER, []).append(action)


def _relay_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint was released: the transaction goes on
    ids = session.info.pop(_PENDING, None)
    actions = session.info.pop(_AFTER, None) or []
    if ids and _relaying():
        from events.tasks import relay_events

        try:
            relay_events(ids)
        except Exception:  # the broker is down: the sweep hands the deliveries over later
            log.exception("could not hand %d events to the queue; the sweep will", len(ids))
    for action in actions:
        try:
            action()
        except Exception:
            log.exception("after-commit action %r failed; the sweep will catch up", action)


def _relaying() -> bool:
    """EVENTS_RELAY off leaves events in the outbox for the sweep (and for tests to read)."""
    return not has_app_context() or current_app.config.get("EVENTS_RELAY", True) not in (
        False, "0", "false", "False")


def _forget_after_rollback(session: Session) -> None:
    if session.in_nested_transaction():
        return
    session.info.pop(_PENDING, None)
    session.info.pop(_AFTER, None)


sa_event.listen(Session, "after_commit", _relay_after_commit)
sa_event.listen(Session, "after_rollback", _forget_after_rollback)
