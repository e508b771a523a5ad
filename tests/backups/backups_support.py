"""Helpers for the backups tests: bundles shaped like delivery makes them, captured e-mails."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from commerce.models import CapturedMail, Order, OrderLine

LINK_RE = re.compile(r"https?://\S+/backups/link/[A-Za-z0-9_-]+")


def bundle_for(order: Order, line: OrderLine, product_key: str) -> dict[str, Any]:
    """Build a bundle the way fulfilment/hooks.py store_line_backup does."""
    return {
        "order": order.number, "invoice": order.number, "order_line": str(line.id),
        "partner": order.partner.slug, "buyer": {"email": order.email, "name": order.name},
        "product": {"code": line.product_code, "name": line.product_name},
        "units": [{
            "unit": 1, "product_key": product_key,
            "download_url": "https://download.example/office-2024.exe",
            "download_expires_at": (datetime.now(UTC) + timedelta(days=21)).isoformat(),
            "licence_number": f"LIC-{order.number}-1", "licence": "eyJhbGciOiJFZERTQSJ9.test.sig",
        }],
    }


def mails(db, to: str | None = None) -> list[CapturedMail]:
    """Return the e-mails the capture backend caught, oldest first."""
    stmt = select(CapturedMail).order_by(CapturedMail.created_at)
    if to is not None:
        stmt = stmt.where(CapturedMail.to == to)
    return list(db.session.scalars(stmt))


def link_path(mail: CapturedMail) -> str:
    """Return the shop path of the "find my licence" link in an e-mail."""
    from support.links import shop_path

    match = LINK_RE.search(mail.text_body)
    assert match, mail.text_body
    return shop_path(match.group(0))
