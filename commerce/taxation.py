"""The VAT a buyer pays, VIES asked where the law needs it (docs/vat.md).

`assess` runs before an order is written: it cleans the VAT number, asks VIES about a business
number from another member state, and decides. When VIES cannot answer, the setting
COMPTOIR_VIES_UNAVAILABLE decides: `charge_vat` (the default) taxes the buyer as a consumer of
their country, the answer recorded as unavailable; `hold` keeps the order unpaid until a later
check answers (payments/held.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import current_app

from commerce import vies
from commerce.merchant import merchant_of
from commerce.models import Partner
from commerce.tax import HOME_COUNTRY, TaxDecision, TaxError, clean_vat_number, decide
from commerce.vies import ViesAnswer, ViesStatus

CHARGE_VAT = "charge_vat"
HOLD = "hold"
UNAVAILABLE_POLICIES = (CHARGE_VAT, HOLD)


@dataclass(frozen=True)
class Assessment:
    decision: TaxDecision
    vat_number: str  # cleaned, "" for a consumer
    vies: ViesAnswer | None = None
    held: bool = False  # VIES did not answer and the setting holds such orders

    @property
    def vies_unavailable(self) -> bool:
        return self.vies is not None and self.vies.status == ViesStatus.UNAVAILABLE


def merchant_vat_number(partner: Partner) -> str:
    """The VAT number of whoever sells on this shop: VIES's requester."""
    return merchant_of(partner).vat_number.replace(" ", "").upper()


def assess(
    partner: Partner, billing_country: str, vat_number: str = "", *, on: date | None = None
) -> Assessment:
    """The tax of a sale; TaxError (with its field) on a number that is wrong or unknown."""
    country = billing_country.upper()
    decide(country, on=on)  # refuses a country outside the table before anything else
    number = clean_vat_number(vat_number, country)
    if not number or country == HOME_COUNTRY:
        return Assessment(decide(country, on=on), number)
    cfg = current_app.config
    answer = vies.check(
        number,
        base_url=str(cfg["VIES_URL"]),
        requester=merchant_vat_number(partner),
        timeout=float(cfg["VIES_TIMEOUT"]),
    )
    if answer.status == ViesStatus.INVALID:
        raise TaxError(
            "VIES, the EU's register, does not confirm this VAT number: check it, or leave it "
            "empty to pay VAT"
        )
    if answer.status == ViesStatus.VALID:
        return Assessment(decide(country, vat_number=number, vat_number_valid=True, on=on),
                          number, answer)
    held = cfg["VIES_UNAVAILABLE"] == HOLD
    return Assessment(decide(country, on=on), number, answer, held=held)
