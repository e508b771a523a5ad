"""Buyers of three kinds paying for orders, for the invoicing tests: a French consumer, a German
consumer charged German VAT (OSS) and a German business under reverse charge.

The lines' VAT is set here the way commerce/tax.py charges it, so these tests do not depend on
checkout's VAT code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from commerce.models import MerchantOfRecord, Order, TaxTreatment
from commerce.money import vat_included
from commerce.orders import ADDON_BACKUP, BuyerDetails, LineRequest, place_order
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


def charge_as(order: Order, buyer: Buyer) -> None:
    """Set the order's VAT the way commerce/tax.py charges this buyer."""
    order.billing_country = buyer.country
    order.billing_line1 = "Hauptstraße 5" if buyer.country == "DE" else "3 rue Neuve"
    order.billing_postcode = "10115" if buyer.country == "DE" else "75011"
    order.billing_city = "Berlin" if buyer.country == "DE" else "Paris"
    order.vat_country = buyer.country
    if buyer.reverse_charge:
        order.tax_treatment = TaxTreatment.REVERSE_CHARGE
        order.vies_status = "valid"
        order.vies_reference = "WAPIAAAAYZ0test"
    for line in order.lines:
        if buyer.rate is None:
            continue
        net = line.total_cents - line.vat_cents
        if buyer.reverse_charge:
            line.vat_rate, line.vat_cents, line.total_cents = Decimal("0.00"), 0, net
        else:
            line.total_cents = int((Decimal(net) * (100 + buyer.rate) / 100)
                                   .quantize(Decimal(1)))
            line.vat_rate, line.vat_cents = buyer.rate, vat_included(line.total_cents,
                                                                     buyer.rate)
    order.total_cents = sum(line.total_cents for line in order.lines)
    order.vat_cents = sum(line.vat_cents for line in order.lines)


def pending(partner: Any, buyer: Buyer = FRENCH_CONSUMER, *, backup: bool = True,
            quantity: int = 1, more: int = 0) -> Order:
    """A placed, unpaid order of Office (and its backup) by this buyer; `more`: a second line
    of that many more copies, without backup."""
    addons = (ADDON_BACKUP,) if backup else ()
    requests = [LineRequest("OFFICE-HOME-2024-WIN", quantity, addons)]
    if more:
        requests.append(LineRequest("OFFICE-HOME-2024-WIN", more))
    order = place_order(
        partner, requests,
        BuyerDetails(buyer.email, buyer.name, company=buyer.company,
                     vat_number=buyer.vat_number, billing_country=buyer.country,
                     locale=buyer.locale),
        consent_at=CONSENT_AT, consent_version="2026-11-v1", gateway="test")
    charge_as(order, buyer)
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
