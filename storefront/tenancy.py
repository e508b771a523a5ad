"""Which partner a request belongs to: its Host, or a /p/<slug>/ (or /embed/<slug>/) prefix."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, abort, current_app, g, request
from sqlalchemy import bindparam, select

from commerce.models import Partner, PartnerDomain, PartnerStatus
from extensions import db
from partners.services import apply_partner_due_prices
from partners.validation import missing_legal

PREFIX_RE = re.compile(r"^/p/([^/]+)(/.*)?$")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
ENVIRON_KEY = "comptoir.partner_slug"

# Built once: the partner is read at every request, and building the statement costs about as
# much CPU as running it (the compiled SQL is cached by SQLAlchemy either way).
BY_SLUG = select(Partner).where(Partner.slug == bindparam("slug"),
                                Partner.status == PartnerStatus.OPEN)
BY_HOST = (select(Partner).join(PartnerDomain)
           .where(PartnerDomain.host == bindparam("host"), Partner.status == PartnerStatus.OPEN))


class PartnerPrefixMiddleware:
    """Serve /p/<slug>/... as the partner's shop: the prefix becomes the script root.

    url_for then writes every link under the same prefix, so a shop reached by
    prefix and one reached by its own domain share the same views and templates.
    """

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        match = PREFIX_RE.match(environ.get("PATH_INFO", ""))
        if match:
            environ[ENVIRON_KEY] = match.group(1)
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + "/p/" + match.group(1)
            environ["PATH_INFO"] = match.group(2) or "/"
        return self.wsgi_app(environ, start_response)


def platform_hosts() -> frozenset[str]:
    return _parsed_hosts(current_app.config["PLATFORM_HOSTS"])


_HOSTS: dict[str, frozenset[str]] = {}


def _parsed_hosts(setting: str) -> frozenset[str]:
    hosts = _HOSTS.get(setting)
    if hosts is None:
        hosts = _HOSTS[setting] = frozenset(
            h.strip().lower() for h in setting.split(",") if h.strip())
    return hosts


def request_host() -> str:
    return (
        request.host.rsplit(":", 1)[0].lower() if not request.host.startswith("[") else request.host
    )


def resolve_partner() -> None:
    """Set g.partner (None on the platform's own hosts); an unknown host or slug is a 404."""
    g.partner = None
    slug = request.environ.get(ENVIRON_KEY)
    if slug is not None:
        partner = db.session.scalar(BY_SLUG, {"slug": slug}) if SLUG_RE.match(slug) else None
        if partner is None or missing_legal(partner):
            abort(404)
        g.partner = _with_due_prices(partner)
        return
    host = request_host()
    if host in platform_hosts():
        return
    partner = db.session.scalar(BY_HOST, {"host": host})
    # A shop opens only with its legal identity complete; one that lost it (data from before a
    # field became required) stays closed to buyers until the back office completes it.
    if partner is None or missing_legal(partner):
        abort(404)
    g.partner = _with_due_prices(partner)


def _with_due_prices(partner: Partner) -> Partner:
    """Apply the partner's scheduled prices that fell due since the job last ran, so that a
    page never shows a price past its end."""
    if apply_partner_due_prices(partner):
        db.session.commit()
    return partner



def current_partner() -> Partner:
    """The partner of a shop request; 404 on the platform host."""
    partner = g.get("partner")
    if partner is None:
        abort(404)
    return partner


def init_app(app: Flask) -> None:
    from storefront import embed

    app.wsgi_app = PartnerPrefixMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    embed.init_app(app, ENVIRON_KEY)  # /embed/<slug>/… outside /p/<slug>/…
    app.before_request(resolve_partner)
    app.before_request(embed.remember_parent)
