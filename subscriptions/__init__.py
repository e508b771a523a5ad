"""Subscriptions: Microsoft 365 sold monthly or annually per user, renewed, changed and ended.

`models` holds the contracts, `terms` the pure arithmetic (term ends, proration, which
commission a charge earns), `services` the use cases, `billing` the provider seam (test billing,
Stripe Billing), `provisioning` the wholesaler's side and the licences, `consumers` the outbox
consumers, `mail` the buyer's e-mails. docs/subscriptions.md tells the whole story.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the tables, consumers, the hourly renewal job and the `subscriptions` commands."""
    from extensions import celery
    from subscriptions import consumers, models  # noqa: F401 - they register themselves
    from subscriptions.cli import subscriptions_cli
    from subscriptions.tasks import BEAT_SCHEDULE

    if subscriptions_cli.name not in app.cli.commands:
        app.cli.add_command(subscriptions_cli)
    celery.conf.beat_schedule = {**(celery.conf.beat_schedule or {}), **BEAT_SCHEDULE}
