"""The backup pages: buyers and support finding a licence again from the vault."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the shop's backups pages and their template helpers."""
    from backups.mail import utc_date
    from storefront.backups.labels import LABELS
    from storefront.backups.views import account_backups, bp

    app.register_blueprint(bp)
    app.add_template_global(account_backups)
    for label in LABELS:
        app.add_template_global(label)
    app.add_template_filter(utc_date, "utc_date")
