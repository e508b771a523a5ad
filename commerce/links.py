"""Addresses of a partner's shop for links that leave a page: e-mails, statements, reminders."""

from __future__ import annotations

from enum import StrEnum
from urllib.parse import urlsplit

from flask import current_app

from commerce.models import Partner

DEFAULT_PUBLIC_URL = "http://127.0.0.1:5000"


class LinkState(StrEnum):
    """What an e-mailed link would do now: open (valid), or why it does not."""

    VALID = "valid"
    USED = "used"  # single-use, and used
    EXPIRED = "expired"
    REVOKED = "revoked"  # withdrawn by support
    UNKNOWN = "unknown"  # not one of ours

    @property
    def http_status(self) -> int:
        """The status of the page that says so: 404 for a stranger's link, 410 for a dead one."""
        return {LinkState.VALID: 200, LinkState.UNKNOWN: 404}.get(self, 410)


def shop_url(partner: Partner) -> str:
    """The shop's base address, without a trailing slash: its own domain where it has one.

    Production serves every partner domain over HTTPS. Elsewhere the scheme and port of
    COMPTOIR_PUBLIC_URL are kept, so that the demo's `*.localhost` domains work on its port.
    A partner without a domain is served under the platform's address, at /p/<slug>.
    """
    public = (current_app.config.get("PUBLIC_URL") or DEFAULT_PUBLIC_URL).rstrip("/")
    host = partner.primary_host
    if host is None:
        return f"{public}/p/{partner.slug}"
    if current_app.config["ENV"] == "production":
        return f"https://{host}"
    parts = urlsplit(public)
    port = f":{parts.port}" if parts.port and parts.port not in (80, 443) else ""
    return f"{parts.scheme or 'http'}://{host}{port}"


def email_logo_url(partner: Partner) -> str | None:
    """Where an e-mail shows the partner's logo from: its own address for it, else the one its
    shop serves (an uploaded logo), else None (the e-mail shows the partner's name)."""
    if partner.logo_url:
        return str(partner.logo_url)
    if partner.logo_mime:
        return f"{shop_url(partner)}/brand/logo"
    return None
