"""Resellers' credit lines (encours): buying on account up to a limit and its extras, the
balance, due dates and monthly statements, paying by card or transfer. docs/credit.md."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the tables, the refund consumer, `comptoir credit` and the statements job."""
    from credit import cli, consumers, models  # noqa: F401 - they register themselves
    from credit.tasks import BEAT_SCHEDULE
    from extensions import celery

    cli.init_app(app)
    celery.conf.beat_schedule = {**(celery.conf.beat_schedule or {}), **BEAT_SCHEDULE}
