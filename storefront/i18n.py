"""Language choice: the buyer's explicit choice (?lang=, kept in the session), else the
browser's (Accept-Language, on a first visit), else French. In the reseller portal, a signed-in
reseller's own language (set in the portal's settings or by the operator) beats them all.

A choice made in the footer is remembered for the session and beats the browser's; the
browser's preference is read again at each request until then (so that an anonymous visit
writes no session). Answers vary on Accept-Language (storefront/__init__.py).
"""

from __future__ import annotations

from flask import current_app, g, has_request_context, request, session

SESSION_KEY = "lang"


def locales() -> list[str]:
    return [code.strip() for code in current_app.config["LOCALES"].split(",") if code.strip()]


def select_locale() -> str:
    if not has_request_context():  # a command or a job: the shop's default language
        return str(current_app.config["DEFAULT_LOCALE"])
    available = locales()
    portal = _portal_locale()
    if portal in available:
        return portal
    chosen = request.args.get("lang")
    if chosen in available:
        session[SESSION_KEY] = chosen
        return chosen
    if session.get(SESSION_KEY) in available:
        return str(session[SESSION_KEY])
    preferred = request.accept_languages.best_match(available)
    return str(preferred or current_app.config["DEFAULT_LOCALE"])


def _portal_locale() -> str | None:
    """The signed-in reseller's language on the portal's pages, else None."""
    if request.blueprint != "reseller" or g.get("partner") is None:
        return None
    from storefront.reseller.views import signed_in_reseller

    reseller = signed_in_reseller()
    return reseller.locale if reseller is not None else None
