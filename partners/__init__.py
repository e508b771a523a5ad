"""Partners on board: creating, editing, opening, suspending and reopening a partner's shop, its
domains, catalogue and scheduled prices, embed origins, and the audit of every change. Used by
the back office, the `comptoir partners` commands and the operator API alike; no HTTP here."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The partner tables, the `comptoir partners` commands and the job that applies prices."""
    from extensions import celery
    from partners import cli, models  # noqa: F401 - models: the tables exist for create_all
    from partners.tasks import BEAT_SCHEDULE

    cli.init_app(app)
    celery.conf.beat_schedule = {**(celery.conf.beat_schedule or {}), **BEAT_SCHEDULE}
