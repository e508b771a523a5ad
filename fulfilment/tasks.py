"""Background jobs: each runs inside an app context and is safe to run twice."""

from __future__ import annotations

import uuid

from celery import shared_task
from celery.schedules import schedule
from flask import Flask

from fulfilment import services


@shared_task(name="fulfilment.fulfil_order", ignore_result=True)
def fulfil_order(order_id: str) -> None:
    """Push a paid order's lines to their wholesalers."""
    services.fulfil_order(uuid.UUID(order_id))


@shared_task(name="fulfilment.sweep", ignore_result=True)
def sweep() -> None:
    """Find and finish paid work that was lost, crashed or is due for a retry."""
    services.sweep()


def hand_over(order_id: uuid.UUID) -> None:
    """Queue a freshly paid order; if the queue is down, the sweep still finds the order."""
    fulfil_order.delay(str(order_id))


def init_app(app: Flask) -> None:
    from extensions import celery

    app.extensions["comptoir.order_paid"] = hand_over
    celery.conf.beat_schedule = {
        **(celery.conf.beat_schedule or {}),
        "fulfilment-sweep": {
            "task": "fulfilment.sweep",
            "schedule": schedule(float(app.config["SWEEP_INTERVAL"])),
        },
    }
