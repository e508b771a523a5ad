"""VAT by country: which rate an order pays, on what grounds, at what price.

Comptoir's merchants (the platform, or a partner selling in its own name) are established in
France. Downloads and subscriptions are electronically supplied services (Directive 2006/112/EC
art. 58): a consumer pays the standard VAT of their own member state, declared through the
one-stop shop (OSS); a business with a valid VAT number in another member state pays no VAT and
self-assesses it (reverse charge, art. 196); a French buyer, consumer or business, pays French
VAT. The rates are data (`commerce/data/eu_vat_rates.json`, dated, with its source).

Prices are written in the catalogue VAT included at the product's own rate, the French one: the
price before VAT is what stays the same from one country to the next, so a German consumer pays
that price plus 19 %, a Hungarian one plus 27 %, a business under reverse charge the price
before VAT alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError

from commerce.models import TaxTreatment

RATES_FILE = Path(__file__).with_name("data") / "eu_vat_rates.json"
HOME_COUNTRY = "FR"  # where every merchant of record is established
PARIS = ZoneInfo("Europe/Paris")
ZERO = Decimal("0.00")


class TaxError(ValueError):
    """A VAT number or a country that cannot be taxed as given; field names the culprit."""

    def __init__(self, message: str, field: str = "vat_number") -> None:
        super().__init__(message)
        self.field = field


@cache
def _table() -> dict[str, object]:
    data: dict[str, object] = json.loads(RATES_FILE.read_text(encoding="utf-8"))
    return data


@cache
def _rates() -> dict[str, tuple[tuple[date, Decimal], ...]]:
    table = _table()["standard_rates"]
    assert isinstance(table, dict)
    return {
        country: tuple(
            sorted((date.fromisoformat(row["from"]), Decimal(row["rate"])) for row in rows)
        )
        for country, rows in table.items()
    }


def eu_countries() -> tuple[str, ...]:
    """The member states, by ISO 3166 code (Greece is GR here, EL in VAT numbers)."""
    return tuple(sorted(_rates()))


def rates_source() -> str:
    return str(_table()["source"])


def standard_rate(country: str, on: date | None = None) -> Decimal:
    """The member state's standard rate on that day; TaxError outside the EU or the table."""
    day = on or datetime.now(PARIS).date()  # a rate changes at midnight in France
    rows = _rates().get(country.upper())
    if not rows:
        raise TaxError(f"not an EU member state: {country}", "billing_country")
    in_force = [rate for start, rate in rows if start <= day]
    if not in_force:
        raise TaxError(f"no VAT rate known for {country} on {day.isoformat()}", "billing_country")
    return in_force[-1]


def vat_prefix(country: str) -> str:
    """The prefix of the member state's VAT numbers: the ISO code, but EL for Greece."""
    prefixes = _table()["vat_prefixes"]
    assert isinstance(prefixes, dict)
    return str(prefixes.get(country.upper(), country.upper()))


def clean_vat_number(raw: str, billing_country: str) -> str:
    """The VAT number compacted (DE 136 695 976 -> DE136695976), checked by format and check
    digits (python-stdnum), and from the billing country; TaxError otherwise."""
    text = (raw or "").strip()
    if not text:
        return ""
    try:
        number = eu_vat.validate(text)
    except ValidationError as exc:
        raise TaxError("this is not a valid EU VAT number (check its digits)") from exc
    if number[:2] != vat_prefix(billing_country):
        raise TaxError(
            f"the VAT number must be one of the billing country ({vat_prefix(billing_country)}…)"
        )
    return str(number)


@dataclass(frozen=True)
class TaxDecision:
    """The VAT an order pays: the treatment, whose country, at what rate."""

    treatment: TaxTreatment
    country: str
    rate: Decimal

    @property
    def reverse_charge(self) -> bool:
        return self.treatment == TaxTreatment.REVERSE_CHARGE


def decide(
    billing_country: str,
    *,
    vat_number: str = "",
    vat_number_valid: bool = False,
    on: date | None = None,
) -> TaxDecision:
    """The tax of a sale to a buyer billed in that country.

    `vat_number_valid` says that VIES confirmed the (already cleaned) number; without that
    confirmation a buyer abroad is taxed as a consumer.
    """
    country = billing_country.upper()
    rate = standard_rate(country, on)
    if country != HOME_COUNTRY and vat_number and vat_number_valid:
        return TaxDecision(TaxTreatment.REVERSE_CHARGE, country, ZERO)
    return TaxDecision(TaxTreatment.STANDARD, country, rate)


def home_decision(on: date | None = None) -> TaxDecision:
    """French VAT: what a visitor whose country is not known yet is shown."""
    return decide(HOME_COUNTRY, on=on)


def price_for(base_cents: int, base_rate: Decimal, rate: Decimal) -> int:
    """A catalogue price (VAT included at base_rate) with `rate` instead, the price before VAT
    unchanged, rounded half-even to the cent."""
    if rate == base_rate:
        return base_cents
    value = Decimal(base_cents) * (100 + rate) / (100 + base_rate)
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def location_conflict(billing_country: str, ip_country: str | None,
                      card_country: str | None) -> bool:
    """Whether the evidence of the buyer's location contradicts the billing country: some
    second piece is known (the IP's country, the card's) and none of them agrees with it.
    A single piece (the billing country alone) is not a contradiction; the back office shows
    it as thin evidence."""
    evidence = {c.upper() for c in (ip_country, card_country) if c}
    return bool(evidence) and billing_country.upper() not in evidence
