"""Issue 12's three buyers, end to end: a French consumer, a German consumer and a German
business with a valid VAT number each buy through the shop and through the partner API, pay
the right VAT and get the right invoice, a Factur-X PDF whose XML validates."""

from __future__ import annotations

import io
import uuid

import pytest
from api_support import order_body
from facturx import get_xml_from_pdf
from pypdf import PdfReader
from sqlalchemy import select
from support.shops import add_to_cart, checkout, pay_with_test_card  # noqa: F401 - fixtures

from commerce.models import Order
from invoicing import services
from payments.test_gateway import country_card

BUSINESS = {"company": "Müller GmbH", "vat_number": "DE136695976", "billing_country": "DE"}
ADDRESS = {"billing_line1": "Hauptstraße 1", "billing_postcode": "10115",
           "billing_city": "Berlin"}
# telco-a sells Office at 139,00 € VAT included at 20 %: 115,83 € before VAT.
BUYERS = {
    "french consumer": ({"billing_country": "FR"}, "FR", "20.00", 13900, 2317, "S"),
    "german consumer": ({"billing_country": "DE"}, "DE", "19.00", 13784, 2201, "S"),
    "german business": ({**BUSINESS, **ADDRESS}, "DE", "0.00", 11583, 0, "AE"),
}


def _invoice_of(order_id: uuid.UUID):
    invoice = services.documents_of(order_id).invoice
    assert invoice is not None, "no invoice issued at payment"
    pdf = services.pdf_bytes(invoice)
    _, xml = get_xml_from_pdf(pdf, check_xsd=True)  # raises if the XML breaks its schema
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return invoice, services.document_of(invoice), xml.decode(), text


def _check(invoice, document, xml, text, country, rate, total, vat, category):
    assert invoice.number.startswith("F-") and (invoice.total_cents, invoice.vat_cents) == (
        total, vat)
    assert (document.total_cents, document.vat_cents, document.vat_country) == (
        total, vat, country)
    assert f"<ram:CategoryCode>{category}</ram:CategoryCode>" in xml
    assert f"<ram:RateApplicablePercent>{rate}</ram:RateApplicablePercent>" in xml
    assert f"<ram:CountryID>{country}</ram:CountryID>" in xml
    assert "FR68900000001" in text  # the platform sells on telco-a: its VAT number
    if category == "AE":
        assert document.reverse_charge and "DE136695976" in xml and "Autoliquidation" in text
        assert "40" in text  # a business: the fixed recovery indemnity
    else:
        assert not document.reverse_charge and "Autoliquidation" not in text


@pytest.mark.parametrize("who", BUYERS)
def test_each_buyer_buys_through_the_shop_and_gets_the_right_invoice(
        app, catalogue, add_to_cart, checkout, pay_with_test_card, db, vies, who):  # noqa: F811
    fields, country, rate, total, vat, category = BUYERS[who]
    add_to_cart("telco-a", "OFFICE-HOME-2024-WIN")
    card_page = checkout("telco-a", **fields).location
    assert "/pay/test/" in card_page
    assert pay_with_test_card(card_page, country_card(country)).status_code == 302
    order = db.session.scalar(select(Order))
    _check(*_invoice_of(order.id), country, rate, total, vat, category)


@pytest.mark.parametrize("who", BUYERS)
def test_each_buyer_buys_through_the_api_and_gets_the_right_invoice(
        api, catalogue, db, vies, who):
    fields, country, rate, total, vat, category = BUYERS[who]
    body = order_body()
    address = {k.removeprefix("billing_"): fields[k] for k in ADDRESS if k in fields}
    body["buyer"] |= {k: v for k, v in fields.items() if k not in ADDRESS}
    if address:
        body["buyer"]["billing_address"] = address
    response = api("POST", "/orders", catalogue.key_a, body)
    assert response.status_code == 201, response.get_json()
    order_id = uuid.UUID(response.get_json()["id"])
    invoice, document, xml, text = _invoice_of(order_id)
    _check(invoice, document, xml, text, country, rate, total, vat, category)
    shown = api("GET", f"/orders/{order_id}", catalogue.key_a).get_json()
    assert shown["invoice"]["number"] == invoice.number
    assert shown["tax"]["treatment"] == ("reverse_charge" if category == "AE" else "standard")
