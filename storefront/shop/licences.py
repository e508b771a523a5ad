"""The shop's licence check: what a signed licence is, and checking one pasted here."""

from __future__ import annotations

from flask import current_app, render_template, request
from flask_babel import gettext as _

from extensions import limiter
from licensing.services import verify_licence_token
from licensing.token import MAX_TOKEN_LENGTH
from licensing.verify import Status, Verdict
from storefront.shop.views import bp
from storefront.tenancy import current_partner


def _check_limit() -> str:
    return str(current_app.config.get("LICENSING_VERIFY_RATE_LIMIT", "60/minute"))


@bp.route("/licence/verify", methods=["GET", "POST"])
@limiter.limit(_check_limit, methods=["POST"])
def licence_verify() -> str | tuple[str, int]:
    """Explain the signed licence and how anyone checks it; check one pasted in the form."""
    current_partner()
    token = (request.form.get("licence") or "").strip() if request.method == "POST" else ""
    verdict: Verdict | None = None
    error = None
    if request.method == "POST":
        if not token:
            error = _("Paste the signed licence to check (it starts with CPT1.).")
        elif len(token) > MAX_TOKEN_LENGTH:
            error = _("A signed licence is at most %(count)d characters.",
                      count=MAX_TOKEN_LENGTH)
        else:
            verdict = verify_licence_token(token)
    page = render_template("storefront/licence_verify.html", token=token, verdict=verdict,
                           error=error, Status=Status)
    return (page, 400) if error else page
