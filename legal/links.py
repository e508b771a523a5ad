"""Addresses of a shop's legal pages, for e-mails and anything rendered outside a request."""

from __future__ import annotations

from commerce.links import shop_url
from commerce.models import Partner


def legal_links(partner: Partner) -> dict[str, str]:
    """The legal notice, the terms of sale in force and the privacy notice of the shop."""
    base = shop_url(partner)
    return {"notice": f"{base}/legal", "terms": f"{base}/legal/terms",
            "privacy": f"{base}/legal/privacy"}


def terms_url(partner: Partner, version: str) -> str:
    """The stable address of one version of the terms of sale."""
    return f"{shop_url(partner)}/legal/terms/{version}"
