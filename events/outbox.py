"""Writing events, and who consumes them.

`emit(event)` adds the event and one delivery per subscribed consumer to the current transaction:
they commit or roll back with the change that caused them. Once the transaction commits, the
events it wrote are handed to Celery (`events.deliver`); if the broker is unreachable then, the
sweep finds the deliveries still pending and hands them over again.

Work that already runs in a worker (a relay, a line's retry, a callback being applied) opens a
chain (`chained()`): the events it emits are delivered in its own transaction, each consumer in a
savepoint, by `events.relay.deliver_chained` before it commits; each delivery row is written once,
done or failed with its error. What a chain has not run when the transaction commits gets pending
deliveries and goes to Celery as above, so nothing emitted is ever without its deliveries.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import current_app, has_app_context
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, SessionTransaction

from events.models import EventDelivery, OutboxEvent
from events.types import Event
from extensions import db

log = logging.getLogger(__name__)

Handler = Callable[[Event], None]
_PENDING = "comptoir.outbox.pending"  # session.info key: event ids written in this transaction
_AFTER = "comptoir.outbox.after_commit"  # session.info key: callables to run once it commits
_CHAIN = "comptoir.outbox.chain"  # session.info key: events a worker delivers in its transaction
_COMMITTED = "comptoir.outbox.committed"  # session.info key: what a commit left to run after it
_HELD = "comptoir.outbox.held"  # session.info key: objects kept loaded until the transaction ends


@dataclass(frozen=True)
class Consumer:
    name: str
    kind: str
    handler: Handler
    # Read-only: does this event give the consumer anything to do? False: done, no savepoint.
    wanted: Callable[[Event], bool] | None = None


_consumers: dict[str, Consumer] = {}


def consumer(name: str, *kinds: type[Event],
             wanted: Callable[[Event], bool] | None = None) -> Callable[[Handler], Handler]:
    """Subscribe `handler` to the given event types under a stable name (stored per delivery).

    The handler runs inside the relay's transaction, in a savepoint of its own: it must not
    commit, and it must be idempotent (a delivery can run again after a crash). `wanted`, a
    read-only check, lets the relay mark a delivery done without running the handler (nor
    opening its savepoint) when the event gives it nothing to do.
    """

    def register(handler: Handler) -> Handler:
        for kind in kinds:
            key = f"{name}@{kind.kind}"
            _consumers[key] = Consumer(name, kind.kind, handler, wanted)
        return handler

    return register


def consumers_of(kind: str) -> list[Consumer]:
    return sorted((c for c in _consumers.values() if c.kind == kind), key=lambda c: c.name)


def consumer_for(name: str, kind: str) -> Consumer | None:
    return _consumers.get(f"{name}@{kind}")


@dataclass
class Chained:
    """An event emitted inside a chain, waiting for `deliver_chained` to run its consumers."""

    event: Event
    row: OutboxEvent


def emit(event: Event) -> OutboxEvent:
    """Record the event and its deliveries in the current transaction (nothing is committed)."""
    row = OutboxEvent(id=uuid.uuid4(), kind=event.kind, payload=event.payload(),
                      order_id=event.order_id)
    db.session.add(row)
    chain = db.session.info.get(_CHAIN)
    if chain is not None:
        chain.append(Chained(event, row))  # its deliveries are written once they have run
        return row
    add_pending_deliveries(db.session(), row)
    return row


def add_pending_deliveries(session: Session, row: OutboxEvent) -> None:
    for c in consumers_of(row.kind):
        session.add(EventDelivery(event_id=row.id, consumer=c.name))
    session.info.setdefault(_PENDING, []).append(row.id)


@contextmanager
def chained() -> Iterator[None]:
    """Within, events emitted are delivered in this transaction (see the module's docstring).

    The caller runs `events.relay.deliver_chained()` before it commits; whatever is left then is
    handed over the usual way.
    """
    session = db.session()
    outer = session.info.get(_CHAIN)
    if outer is None:
        session.info[_CHAIN] = []
    try:
        yield
    finally:
        if outer is None:
            left = session.info.pop(_CHAIN, None)
            if left:  # the caller did not commit (an error): nothing of it was written
                log.debug("chain closed with %d events not delivered", len(left))


def take_chained(session: Session | None = None) -> list[Chained]:
    """Take the chain's waiting events that are still part of the transaction."""
    session = session or db.session()
    chain = session.info.get(_CHAIN)
    if not chain:
        return []
    taken = [c for c in chain if c.row in session]  # a rolled-back savepoint dropped the others
    chain.clear()
    return taken


def chain_mark() -> int:
    """Where the chain stands now (to drop what a failed savepoint emitted, see drop_chained)."""
    return len(db.session.info.get(_CHAIN) or ())


def drop_chained(mark: int) -> None:
    chain = db.session.info.get(_CHAIN)
    if chain is not None:
        del chain[mark:]


def _hand_over_unchained(session: Session) -> None:
    """Before a commit: events of a chain not delivered in it get pending deliveries."""
    if session.in_nested_transaction():
        return
    for waiting in take_chained(session):
        add_pending_deliveries(session, waiting.row)


def after_commit(action: Callable[[], object]) -> None:
    """Run action once the current transaction commits (a task to queue); forget it on rollback.

    A failing action is logged: what it queues must also be found by the sweep.
    """
    db.session.info.setdefault(_AFTER, []).append(action)


def _relay_after_commit(session: Session) -> None:
    """Once the transaction has committed, what it queued waits for its connection's release."""
    if session.in_nested_transaction():
        return  # a savepoint was released: the transaction goes on
    ids = session.info.pop(_PENDING, None)
    actions = session.info.pop(_AFTER, None) or []
    if ids or actions:
        session.info[_COMMITTED] = (ids, actions)


def _run_committed(session: Session, transaction: SessionTransaction) -> None:
    """After the committed transaction has given its connection back: hand its events over and
    run its after-commit actions (which may use the session, or a connection of their own)."""
    if transaction.parent is not None:
        return
    committed = session.info.pop(_COMMITTED, None)
    if committed is None:
        return
    ids, actions = committed
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


def hold(obj: object) -> None:
    """Keep obj in the session's identity map until the transaction ends. The map holds what a
    query loaded only weakly: without this, a consumer later in the same transaction (a
    `wanted` test reading the order's partner) could find it gone and read it again."""
    db.session.info.setdefault(_HELD, []).append(obj)


def _release_held(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_HELD, None)


def _relaying() -> bool:
    """EVENTS_RELAY off leaves events in the outbox for the sweep (and for tests to read)."""
    return not has_app_context() or current_app.config.get("EVENTS_RELAY", True) not in (
        False, "0", "false", "False")


def _forget_after_rollback(session: Session) -> None:
    if session.in_nested_transaction():
        return
    session.info.pop(_PENDING, None)
    session.info.pop(_AFTER, None)
    if session.info.get(_CHAIN):
        session.info[_CHAIN].clear()


sa_event.listen(Session, "before_commit", _hand_over_unchained)
sa_event.listen(Session, "after_commit", _relay_after_commit)
sa_event.listen(Session, "after_transaction_end", _run_committed)
sa_event.listen(Session, "after_rollback", _forget_after_rollback)
sa_event.listen(Session, "after_transaction_end", _release_held)
