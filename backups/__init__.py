"""Licence backups: the two-year vault (`backups.vault`, which knows no shop) and the service around
it that finds a buyer's licences again, e-mails access links and reminds buyers before expiry.

The pages live in `storefront/backups/`; everything here runs without a request.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Check the vault; register `comptoir vault ...` with `vault remind`, and the jobs."""
    from backups import consumers, vault  # noqa: F401 - consumers subscribe to BackupDue
    from backups.cli import remind_command
    from backups.tasks import BEAT_SCHEDULE
    from backups.vault.cli import vault_cli
    from extensions import celery

    vault.init_app(app)
    if "remind" not in vault_cli.commands:
        vault_cli.add_command(remind_command)
    celery.conf.beat_schedule = {**(celery.conf.beat_schedule or {}), **BEAT_SCHEDULE}
