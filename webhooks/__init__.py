"""Signed outgoing webhooks: partners hear about their orders.

Endpoints belong to a partner (`models.py`); the outbox consumer (`consumers.py`) turns the
domain events of a partner's orders into one delivery per subscribed endpoint, in the event's
own transaction; deliveries are sent apart from the shop (`services.py`, `tasks.py`: their own
Celery queue, short timeouts, no redirects), signed Stripe-style (`signing.py`), retried with
backoff for three days, logged attempt by attempt and replayable. docs/webhooks.md.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from extensions import celery
    from webhooks import cli, consumers, models  # noqa: F401 - the consumer and tables register
    from webhooks.tasks import BEAT_SCHEDULE, ROUTES

    cli.init_app(app)
    celery.conf.beat_schedule = {**(celery.conf.beat_schedule or {}), **BEAT_SCHEDULE}
    queue = str(app.config.get("WEBHOOK_QUEUE") or "webhooks")
    celery.conf.task_routes = {**(celery.conf.task_routes or {}),
                               **{name: {"queue": queue} for name in ROUTES}}
