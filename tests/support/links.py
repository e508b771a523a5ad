"""Links found in e-mails, made into paths the test client can follow on the platform host."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import select

from commerce.models import Partner, PartnerDomain
from extensions import db


def shop_path(url: str) -> str:
    """Turn an e-mailed link into the same page under /p/<slug>/ (the test client's host).

    E-mails link to the partner's own domain; the tests browse every shop on the platform host,
    where the same page is served under the partner's prefix.
    """
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if parts.path.startswith("/p/"):
        return path
    slug = db.session.scalar(
        select(Partner.slug).join(PartnerDomain).where(PartnerDomain.host == parts.hostname))
    assert slug is not None, f"no partner serves {parts.hostname}"
    return f"/p/{slug}{path}"
