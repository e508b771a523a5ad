"""Licensing: signing keys, signed licences, verification and revocation.

The pure modules (token, numbers, jwks, verify, revocations) import only the standard library
and `cryptography`, so partners can verify licences offline; Flask is imported lazily here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def init_app(app: Flask) -> None:
    """Register licensing's blueprint and its `licensing` and `licence` command groups."""
    from licensing.cli import key_commands, licence_commands
    from licensing.views import blueprint

    app.register_blueprint(blueprint)
    app.cli.add_command(key_commands)
    app.cli.add_command(licence_commands)
