"""The Celery side of the outbox: one task runs the consumers of the events of one commit."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from celery import shared_task

from events import relay


@shared_task(name="events.deliver", ignore_result=True)
def deliver_events(event_ids: list[str]) -> None:
    """Run the pending deliveries of these events (one transaction; failures wait for the sweep)."""
    relay.deliver([uuid.UUID(i) for i in event_ids])


@shared_task(name="events.sweep", ignore_result=True)
def sweep_events() -> None:
    relay.sweep()


def relay_events(event_ids: Iterable[uuid.UUID]) -> None:
    """Queue the events of a commit that just happened (in-process when TASKS_EAGER)."""
    deliver_events.delay([str(i) for i in event_ids])
