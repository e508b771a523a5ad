"""storefront package."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register storefront's blueprints, commands and jobs."""
