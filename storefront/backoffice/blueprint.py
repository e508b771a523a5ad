"""The back office's blueprint, shared by its modules; served on the platform's hosts only."""

from __future__ import annotations

from flask import Blueprint, abort, g

bp = Blueprint("backoffice", __name__, url_prefix="/admin")


@bp.before_request
def platform_only() -> None:
    if g.get("partner") is not None:
        abort(404)
