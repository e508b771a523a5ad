"""Helpers shared by the API tests."""

from __future__ import annotations

from typing import Any

from legal.terms import in_force


def order_body(*lines: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A valid order body: the given lines (one Office by default) and a buyer."""
    body: dict[str, Any] = {
        "lines": list(lines) or [{"product": "OFFICE-HOME-2024-WIN", "quantity": 1}],
        "buyer": {"email": "Camille@Example.com", "name": "Camille Martin"},
        "terms_version": in_force().version,
    }
    body.update(extra)
    return body
