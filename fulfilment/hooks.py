"""What else happens when a line is delivered: its backup and its reseller's commission."""

from __future__ import annotations

from fulfilment.models import FulfilmentLine


def line_delivered(line: FulfilmentLine) -> None:
    """Follow-ups of a delivered line; each is idempotent and never blocks the delivery."""


def line_refunded(line: FulfilmentLine, reason: str) -> None:
    """Follow-ups of a refunded line (the commission clawback)."""
