"""People's accounts: sign-up, sign-in checks, e-mailed tokens, second factors (TOTP and
passkeys) and the records behind server-side sessions. No HTTP here: the doors and pages that
use these live in `storefront/`."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The account tables, the `comptoir users`, `operators` and `privacy` commands, and the
    retention job."""
    from accounts import cli, models  # noqa: F401 - models: the tables exist for create_all
    from accounts.tasks import BEAT_SCHEDULE
    from extensions import celery

    cli.init_app(app)
    celery.conf.beat_schedule = {**(celery.conf.beat_schedule or {}), **BEAT_SCHEDULE}
