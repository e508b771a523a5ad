"""Language choice: the buyer's explicit choice (?lang=, kept in the session), otherwise French.

The shops sell to the French market: a browser set to English still gets French until the buyer
picks English in the footer, so every buyer sees the same wording of legal texts by default.
"""

from __future__ import annotations

from flask import current_app, has_request_context, request, session

SESSION_KEY = "lang"


def locales() -> list[str]:
    return [code.strip() for code in current_app.config["LOCALES"].split(",") if code.strip()]


def select_locale() -> str:
    if not has_request_context():  # a command or a job: the shop's default language
        return str(current_app.config["DEFAULT_LOCALE"])
    available = locales()
    chosen = request.args.get("lang")
    if chosen in available:
        session[SESSION_KEY] = chosen
        return chosen
    if session.get(SESSION_KEY) in available:
        return str(session[SESSION_KEY])
    return str(current_app.config["DEFAULT_LOCALE"])
