"""Prices as this visitor is shown them: VAT included at the rate of their country.

The country is the one the visitor chose (at checkout, as their billing country), else the
one the reverse proxy saw them come from (COMPTOIR_IP_COUNTRY_HEADER), else France. A consumer
pays their own country's VAT (commerce/tax.py), so that is the price they see from the first
page; checkout shows the exact total for the billing country, and for a business under reverse
charge, before the buyer pays.
"""

from __future__ import annotations

from decimal import Decimal

from flask import current_app, g, request, session

from commerce.tax import HOME_COUNTRY, TaxDecision, decide, eu_countries

SESSION_KEY = "price_country"


def ip_country() -> str | None:
    """The visitor's country by the proxy's header, when one is set and names a state."""
    header = current_app.config.get("IP_COUNTRY_HEADER")
    if not header:
        return None
    value = (request.headers.get(str(header)) or "").strip().upper()
    return value if len(value) == 2 and value.isalpha() else None


def visitor_country() -> str:
    chosen = session.get(SESSION_KEY)
    if isinstance(chosen, str) and chosen in eu_countries():
        return chosen
    seen = ip_country()
    if seen in eu_countries():
        return str(seen)
    return HOME_COUNTRY


def choose_country(country: str) -> None:
    """Remember the visitor's billing country: every price from now on is shown for it."""
    if country in eu_countries() and session.get(SESSION_KEY) != country:
        session[SESSION_KEY] = country


def shown_decision() -> TaxDecision:
    """The consumer VAT of the visitor's country, computed once a request."""
    decision = g.get("_shown_tax")
    if decision is None:
        decision = g._shown_tax = decide(visitor_country())
    return decision


def shown_rate() -> Decimal:
    return shown_decision().rate


VAT_PREFIXES = {"EL": "GR", "XI": "GB"}  # the VAT numbers' prefixes that are not ISO codes


def country_name(code: str) -> str:
    """The country's name in the page's language (Greece for GR)."""
    from flask_babel import get_locale

    locale = get_locale()
    territories = locale.territories if locale is not None else {}
    code = code.upper()
    return str(territories.get(VAT_PREFIXES.get(code, code), code))


def country_choices() -> list[tuple[str, str]]:
    """The member states for a billing country select, by name in the page's language."""
    from flask_babel import get_locale

    key = (str(get_locale() or "fr"),)
    cached = _CHOICES.get(key)
    if cached is None:
        cached = _CHOICES[key] = sorted(
            ((code, country_name(code)) for code in eu_countries()), key=lambda c: _fold(c[1])
        )
    return cached


def percent(rate: Decimal) -> str:
    """19 for 19.00, 25.5 for 25.50."""
    text = f"{rate.normalize():f}"
    return text


def _fold(name: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFD", name) if not unicodedata.combining(c))


_CHOICES: dict[tuple[str], list[tuple[str, str]]] = {}
