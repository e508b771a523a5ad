"""fulfilment package."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register fulfilment's blueprints, commands and jobs."""
    from fulfilment.cli import register_cli

    register_cli(app)
