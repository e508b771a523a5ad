"""Buyers of three kinds paying for orders, for the invoicing tests: a French consumer, a German
consumer charged German VAT (OSS) and a German business under reverse charge.

Orders are taxed by commerce/tax.py as checkout taxes each buyer (tests/storefront and tests/api
buy through the shop and the API themselves).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from commerce.models import MerchantOfRecord, Order
from commerce.orders import ADDON_BACKUP, BuyerDetails, LineRequest, place_order
from commerce.tax import decide
from commerce.vies import ViesAnswer, ViesStatus
from extensions import db
from payments.base import PaymentEvent, PaymentOutcome
from payments.services import confirm_payment

CONSENT_AT = datetime(2026, 12, 6, 20, 15, tzinfo=UTC)


@dataclass(frozen=True)
class Buyer:
    country: str
    rate: Decimal | None  # None: the product's own (French) rate
    company: str = ""
    vat_number: str = ""
    reverse_charge: bool = False
    name: str = "Camille Martin"
    email: str = "camille@example.com"
    locale: str = "fr"


FRENCH_CONSUMER = Buyer("FR", None)
GERMAN_CONSUMER = Buyer("DE", Decimal("19.00"), name="Lena Vogel", email="lena@example.de",
                        locale="en")
GERMAN_BUSINESS = Buyer("DE", Decimal("0.00"), company="Vogel Software GmbH",
                        vat_number="DE136695976", reverse_charge=True, name="Lena Vogel",
                        email="einkauf@vogel.example", locale="en")


@pytest.fixture
def invoicing_shop(make_partner, make_product):
    """A shop that sells in its own name, with Office and the two-year backup."""
    office = make_product(code="OFFICE-HOME-2024-WIN", name="Office Famille 2024",
                          list_price_cents=14900)
    backup = make_product(code=ADDON_BACKUP, kind="addon", family="addon",
                          name="Sauvegarde 2 ans", list_price_cents=990, skus={})
    return make_partner(slug="facturant", name="Facturant", domains=["facturant.example"],
                        products=[office, backup],
                        merchant_of_record=MerchantOfRecord.PARTNER,
                        legal_name="Facturant SAS",
                        registered_office="8 rue des Lilas, 69003 Lyon")


def pending(partner: Any, buyer: Buyer = FRENCH_CONSUMER, *, backup: bool = True,
            quantity: int = 1, more: int = 0) -> Order:
    """A placed, unpaid order of Office (and its backup) by this buyer; `more`: a second line
    of that many more copies, without backup."""
    addons = (ADDON_BACKUP,) if backup else ()
    requests = [LineRequest("OFFICE-HOME-2024-WIN", quantity, addons)]
    if more:
        requests.append(LineRequest("OFFICE-HOME-2024-WIN", more))
    german = buyer.country == "DE"
    # Taxed by commerce/tax.py as checkout taxes this buyer, VIES's answer given as it came.
    tax = decide(buyer.country, vat_number=buyer.vat_number,
                 vat_number_valid=buyer.reverse_charge)
    vies = (ViesAnswer(ViesStatus.VALID, CONSENT_AT, reference="WAPI000000000042")
            if buyer.reverse_charge else None)
    order = place_order(
        partner, requests,
        BuyerDetails(buyer.email, buyer.name, company=buyer.company,
                     vat_number=buyer.vat_number, billing_country=buyer.country,
                     locale=buyer.locale,
                     billing_line1="Hauptstraße 5" if german else "3 rue Neuve",
                     billing_postcode="10115" if german else "75011",
                     billing_city="Berlin" if german else "Paris"),
        consent_at=CONSENT_AT, consent_version="2026-11-v1", gateway="test", tax=tax, vies=vies)
    order.gateway_reference = f"test_{order.id.hex}"
    db.session.commit()
    return order


def pay(order: Order, event_id: str | None = None) -> Order:
    event = PaymentEvent(event_id or f"evt_{order.id.hex}", "checkout.session.completed",
                         PaymentOutcome.PAID, order.id, order.gateway_reference,
                         order.total_cents, order.currency)
    confirm_payment(event, "test")
    db.session.expire_all()
    paid = db.session.scalar(select(Order).where(Order.id == order.id))
    assert paid is not None
    return paid
