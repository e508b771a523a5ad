"""Who sells on a shop: the partner, or the platform when it is the merchant of record.

The legal notice names the shop's publisher (always the partner); the terms of sale, the
privacy notice and the invoices name the merchant of record. The platform's identity is
configuration (PLATFORM_LEGAL_NAME and the others in config.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app

from commerce.models import MerchantOfRecord, Partner


@dataclass(frozen=True)
class Merchant:
    """The legal identity of a seller."""

    legal_name: str
    legal_form: str
    siren: str
    rcs_city: str
    vat_number: str
    registered_office: str
    is_platform: bool
    # Customer service, mediation: the partner runs them on its shop whoever sells.
    support_email: str
    support_phone: str
    mediator_name: str
    mediator_url: str

    @property
    def registration(self) -> str:
        """"RCS Paris 900 000 001" as a French register writes it, or the bare SIREN."""
        siren = " ".join(self.siren[i:i + 3] for i in range(0, len(self.siren), 3))
        return f"RCS {self.rcs_city} {siren}" if self.rcs_city else f"SIREN {siren}"


PLATFORM_FIELDS = ("PLATFORM_LEGAL_NAME", "PLATFORM_LEGAL_FORM", "PLATFORM_SIREN",
                   "PLATFORM_RCS_CITY", "PLATFORM_VAT_NUMBER", "PLATFORM_REGISTERED_OFFICE")


def platform_identity() -> dict[str, str]:
    """The platform's identity from the configuration (missing ones are empty)."""
    config: Any = current_app.config
    return {name.removeprefix("PLATFORM_").lower(): str(config.get(name) or "")
            for name in PLATFORM_FIELDS}


def merchant_of(partner: Partner) -> Merchant:
    """The merchant of record of the partner's shop."""
    service = {"support_email": partner.support_email or "",
               "support_phone": partner.support_phone or "",
               "mediator_name": partner.mediator_name or "",
               "mediator_url": partner.mediator_url or ""}
    if partner.merchant_of_record == MerchantOfRecord.PLATFORM:
        return Merchant(**platform_identity(), is_platform=True, **service)
    return Merchant(legal_name=partner.legal_name or "", legal_form=partner.legal_form or "",
                    siren=partner.siren or "", rcs_city=partner.rcs_city or "",
                    vat_number=partner.vat_number or "",
                    registered_office=partner.registered_office or "", is_platform=False,
                    **service)
