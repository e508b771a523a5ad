"""People's accounts: sign-up, sign-in checks, e-mailed tokens, second factors (TOTP and
passkeys) and the records behind server-side sessions. No HTTP here: the doors and pages that
use these live in `storefront/`."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The account tables and the `comptoir users` and `comptoir operators` commands."""
    from accounts import cli, models  # noqa: F401 - models: the tables exist for create_all

    cli.init_app(app)
