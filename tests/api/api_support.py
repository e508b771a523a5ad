"""Helpers shared by the API tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from config import DEFAULTS
from legal.terms import in_force

CONSENT_VERSION = DEFAULTS["CONSENT_WORDING_VERSION"]


_RUN_STARTED = datetime.now(UTC).replace(microsecond=0)


def consented_at(minutes_ago: int = 2) -> str:
    """When the buyer ticked the waiver on the partner's page: just before ordering (the same
    moment for the whole run, so that two bodies built alike are alike)."""
    return (_RUN_STARTED - timedelta(minutes=minutes_ago)).isoformat()


def order_body(*lines: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A valid order body: the given lines (one Office by default) and a buyer."""
    body: dict[str, Any] = {
        "lines": list(lines) or [{"product": "OFFICE-HOME-2024-WIN", "quantity": 1}],
        "buyer": {"email": "Camille@Example.com", "name": "Camille Martin"},
        "terms_version": in_force().version,
        "immediate_delivery": {"consented_at": consented_at(), "wording_version": CONSENT_VERSION},
    }
    body.update(extra)
    return body
