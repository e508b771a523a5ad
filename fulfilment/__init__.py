"""fulfilment package."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register fulfilment's blueprints, commands and jobs."""
    from fulfilment import commands, consumers, models, tasks  # noqa: F401 - register themselves
    from fulfilment.cli import register_cli

    tasks.init_app(app)
    commands.init_app(app)
    register_cli(app)
