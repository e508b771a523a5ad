"""Buyers and support finding a licence again from the vault; the expiry reminder job."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the shop's backups pages, their template helpers, `vault remind` and the job."""
    from extensions import celery
    from licensing.vault.cli import vault_cli
    from storefront.backups.cli import remind_command
    from storefront.backups.labels import LABELS
    from storefront.backups.mail import utc_date
    from storefront.backups.tasks import BEAT_SCHEDULE
    from storefront.backups.views import account_backups, bp

    app.register_blueprint(bp)
    app.add_template_global(account_backups)
    for label in LABELS:
        app.add_template_global(label)
    app.add_template_filter(utc_date, "utc_date")
    # `vault remind` sits beside the vault's own commands; the vault itself knows no shop.
    if "remind" not in vault_cli.commands:
        vault_cli.add_command(remind_command)
    celery.conf.beat_schedule = {**(celery.conf.beat_schedule or {}), **BEAT_SCHEDULE}
