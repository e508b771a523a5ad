"""Helpers shared by the API tests."""

from __future__ import annotations

from typing import Any

from config import DEFAULTS
from legal.terms import in_force

CONSENT_VERSION = DEFAULTS["CONSENT_WORDING_VERSION"]


def order_body(*lines: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A valid order body: the given lines (one Office by default) and a buyer."""
    body: dict[str, Any] = {
        "lines": list(lines) or [{"product": "OFFICE-HOME-2024-WIN", "quantity": 1}],
        "buyer": {"email": "Camille@Example.com", "name": "Camille Martin"},
        "terms_version": in_force().version,
        "immediate_delivery": {"consented_at": "2026-12-06T20:15:00+01:00",
                               "wording_version": CONSENT_VERSION},
    }
    body.update(extra)
    return body
