"""The Celery side of the outbox: one task runs the consumers of the events of one commit."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable

from celery import shared_task

from events import relay
from extensions import celery


@shared_task(name="events.deliver", ignore_result=True)
def deliver_events(event_ids: list[str]) -> None:
    """Run the pending deliveries of these events (one transaction; failures wait for the sweep)."""
    relay.deliver([uuid.UUID(i) for i in event_ids])


@shared_task(name="events.sweep", ignore_result=True)
def sweep_events() -> None:
    relay.sweep()


_drain = threading.local()


def relay_events(event_ids: Iterable[uuid.UUID]) -> None:
    """Queue the events of a commit that just happened.

    With in-process jobs (TASKS_EAGER) the relay runs here, once the committing transaction has
    given its connection back (events/outbox.py). Events raised by that relay's own commit are not
    run inside it (one more level of the call stack each): they wait in this thread's queue, and
    the outermost call runs them one after the other.
    """
    ids = [str(i) for i in event_ids]
    if not celery.conf.task_always_eager:
        deliver_events.delay(ids)
        return
    pending: list[list[str]] | None = getattr(_drain, "pending", None)
    if pending is not None:
        pending.append(ids)
        return
    _drain.pending = [ids]
    try:
        while _drain.pending:
            deliver_events.delay(_drain.pending.pop(0))
    finally:
        _drain.pending = None
