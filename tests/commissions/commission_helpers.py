"""Shared values and helpers of the commission tests."""

from __future__ import annotations

from datetime import UTC, datetime

from commerce.models import Order, OrderLine
from commissions import Rates

RATES = Rates.from_json({
    "perpetual": {"office": "0.08", "windows": "0.05", "visio": "0.10", "project": "0.10",
                  "*": "0.05"},
    "addons": {"backup": "0.30", "install": "0.40"},
    "subscription": {"first_year": "0.12", "first_year_bonus": "0.06", "renewal": "0.06",
                     "upsell": "0.12", "upsell_bonus": "0.06"},
})
PROGRAMME_START = datetime(2026, 1, 1, tzinfo=UTC)


def at(month: int, day: int, hour: int = 10, year: int = 2026) -> datetime:
    """A UTC time in the tests' calendar."""
    return datetime(year, month, day, hour, tzinfo=UTC)


def line_of(order: Order, code: str) -> OrderLine:
    """The order's line for a product code."""
    return next(line for line in order.lines if line.product_code == code)
