"""The partner order API: API keys, catalogue and orders as JSON under /api/v1."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the partner API, the operator API and the `partners` commands."""
    from partner_api import cli
    from storefront.api.operator import bp as operator_bp
    from storefront.api.views import bp

    app.register_blueprint(bp)
    app.register_blueprint(operator_bp)
    cli.init_app(app)
