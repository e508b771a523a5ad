"""The console's blueprint: served on the platform's hosts only."""

from __future__ import annotations

from flask import Blueprint, abort, g

bp = Blueprint("console", __name__, url_prefix="/partner")


@bp.before_request
def _platform_only() -> None:
    if g.get("partner") is not None:  # a partner's shop domain or /p/<slug>/: not here
        abort(404)
