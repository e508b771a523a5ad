"""Background jobs: each runs in an app context, owns its transaction, and is safe to run twice."""

from __future__ import annotations

import uuid

from celery import shared_task
from celery.schedules import schedule
from flask import Flask

from fulfilment import services


@shared_task(name="fulfilment.attempt_line", ignore_result=True)
def attempt_line_task(line_id: str) -> None:
    """A line's scheduled next try: a retry after a failure, or a poll of an accepted purchase."""
    services.attempt_line(uuid.UUID(line_id))


@shared_task(name="fulfilment.apply_callback", ignore_result=True)
def apply_callback_task(callback_id: str, leave_if_busy: bool = False) -> None:
    """Apply a wholesaler callback recorded in the inbox (see services.apply_callback)."""
    services.apply_callback(uuid.UUID(callback_id), leave_if_busy=leave_if_busy)


@shared_task(name="fulfilment.sweep", ignore_result=True)
def sweep() -> None:
    """Find and finish what is due: event deliveries, line retries, callbacks, e-mails."""
    services.sweep()


def init_app(app: Flask) -> None:
    from extensions import celery

    celery.conf.beat_schedule = {
        **(celery.conf.beat_schedule or {}),
        "fulfilment-sweep": {
            "task": "fulfilment.sweep",
            "schedule": schedule(float(app.config["SWEEP_INTERVAL"])),
        },
    }
