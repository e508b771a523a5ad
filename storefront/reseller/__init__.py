"""The reseller portal on a network partner's shop: sign-in, clients, licences, commissions."""

from __future__ import annotations

import click
from flask import Flask


def init_app(app: Flask) -> None:
    """Register the portal's blueprint, `comptoir resellers digest` and the digest job."""
    from extensions import celery
    from reseller.digest import digest_command
    from reseller.tasks import BEAT_SCHEDULE
    from storefront.reseller import carts, credit  # noqa: F401 - add their routes to the portal
    from storefront.reseller.views import bp

    app.register_blueprint(bp)
    group = app.cli.commands.get("resellers")
    if not isinstance(group, click.Group):
        group = click.Group("resellers", help="Resellers of the partners' networks.")
        app.cli.add_command(group)
    if "digest" not in group.commands:
        group.add_command(digest_command)
    celery.conf.beat_schedule = {**(celery.conf.beat_schedule or {}), **BEAT_SCHEDULE}
