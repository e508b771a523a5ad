"""Payment gateways, the one confirm_payment that both the webhook and the return page call,
and refunds made exactly once."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Put the refund sweep and the VIES recheck on the beat schedule; add `comptoir refunds`
    and `comptoir vat`."""
    from extensions import celery
    from payments import cli, vat_cli
    from payments.tasks import BEAT_SCHEDULE

    cli.init_app(app)
    vat_cli.init_app(app)
    celery.conf.beat_schedule = {**(celery.conf.beat_schedule or {}), **BEAT_SCHEDULE}
