"""Same-origin checks for a form that may come from a cached page, which carries no CSRF token.

A browser says where a POST comes from: `Sec-Fetch-Site` (same-origin, same-site, cross-site,
none) and `Origin`. A POST is accepted when what the browser says is this shop's own origin;
refused with 403 when it names another site (even a sibling subdomain); and, when it says
nothing (an old browser, a script), it must carry the form's CSRF token as every other form
does. An embedded shop's frame posts from the shop's own origin, so it passes as well.
"""

from __future__ import annotations

from flask import abort, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, validate_csrf

ALLOWED_FETCH_SITES = frozenset({"same-origin", "none"})


def own_origin() -> str:
    return f"{request.scheme}://{request.host}".lower()


def require_same_origin() -> None:
    """Abort with 403 unless this POST demonstrably comes from the shop's own pages."""
    site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    refused = _("This form was sent from another site. Open the shop and add the product "
                "to your cart from its own page.")
    if site is not None and site not in ALLOWED_FETCH_SITES:
        abort(403, refused)
    if origin is not None and origin.lower() != own_origin():
        abort(403, refused)
    if site is not None or origin is not None:
        return
    try:
        validate_csrf(request.form.get("csrf_token"))
    except (CSRFError, ValueError):
        abort(403, _("Your browser did not say where this form came from, and the form's "
                     "security token is missing or expired. Reload the page and try again."))
