"""Money: integer cents, Decimal rates, half-even rounding stated once here."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache

from babel.numbers import format_currency


def vat_included(total_cents: int, rate_percent: Decimal) -> int:
    """The VAT inside a VAT-included amount, rounded half-even to the cent."""
    net = (Decimal(total_cents) / (1 + rate_percent / 100)).quantize(
        Decimal(1), rounding=ROUND_HALF_EVEN
    )
    return total_cents - int(net)


@lru_cache(maxsize=8192)  # Babel parses the locale's pattern at every call: prices repeat
def format_money(cents: int, currency: str = "EUR", locale: str = "fr") -> str:
    """149,00 € in French, €149.00 in English."""
    babel_locale = {"fr": "fr_FR", "en": "en_GB"}.get(locale, locale)
    return format_currency(Decimal(cents) / 100, currency, locale=babel_locale)
