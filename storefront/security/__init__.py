"""Sign-in doors, server-side sessions, second factors, throttling, proxies and headers."""

from __future__ import annotations

from typing import Any

from flask import Flask, has_request_context

from extensions import login_manager
from storefront.security import headers, redact, sessions
from storefront.security.proxies import TrustedProxies, parse_networks


def init_app(app: Flask) -> None:
    """Check every request's sign-in, read addresses through trusted proxies, add headers."""
    networks = parse_networks(str(app.config.get("TRUSTED_PROXIES") or ""))
    if networks:
        app.wsgi_app = TrustedProxies(app.wsgi_app, networks)  # type: ignore[method-assign]
    # Our own session records do what Flask-Login's protection guesses at from address changes.
    login_manager.session_protection = None
    app.before_request(sessions.enforce)
    app.after_request(headers.apply)
    app.context_processor(_context)
    redact.install((*redact.LOGGERS, app.logger.name))


def _context() -> dict[str, Any]:
    if not has_request_context():  # e-mails rendered by jobs
        return {"signed_in": None, "signed_door": None}
    signed = sessions.current()
    return {"signed_in": signed, "signed_door": str(signed.door) if signed else None}
