"""Operators find every invoice and credit note in the back office, by merchant and month."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from support.invoicing import GERMAN_BUSINESS, pay, pending

from commerce.models import MerchantOfRecord
from extensions import db
from invoicing import services
from payments.refunds import refund_order

NOW = datetime.now(ZoneInfo("Europe/Paris"))
YEAR, MONTH = NOW.year, f"{NOW:%Y-%m}"


def test_the_order_page_shows_its_invoice_and_credit_notes_with_downloads(
    client, invoicing_shop, sign_in_operator
):
    order = pay(pending(invoicing_shop, GERMAN_BUSINESS))
    refund_order(order.id, None, "operator:ops@comptoir.example", "asked")
    docs = services.documents_of(order.id)
    sign_in_operator(client)
    page = client.get(f"/admin/orders/{order.id}?lang=en").get_data(as_text=True)
    assert f"Invoice F-{YEAR}-000001" in page
    assert f"Credit note AV-{YEAR}-000001" in page and f"on F-{YEAR}-000001" in page
    assert "DE136695976" in page
    for doc in (docs.invoice, *docs.credit_notes):
        response = client.get(f"/admin/invoices/{doc.id}.pdf")
        assert response.status_code == 200 and response.data.startswith(b"%PDF-")
        assert f'filename="{doc.number}.pdf"' in response.headers["Content-Disposition"]


def test_an_unpaid_order_says_it_has_no_invoice_yet(client, invoicing_shop, sign_in_operator):
    order = pending(invoicing_shop)
    sign_in_operator(client)
    page = client.get(f"/admin/orders/{order.id}?lang=en").get_data(as_text=True)
    assert "No invoice: one is issued when the order is paid." in page


def test_the_invoices_list_filters_by_merchant_and_month_and_pages(
    client, invoicing_shop, make_partner, sign_in_operator, monkeypatch
):
    platform_shop = make_partner(merchant_of_record=MerchantOfRecord.PLATFORM,
                                 products=[p.product for p in invoicing_shop.offers])
    for _ in range(3):
        pay(pending(invoicing_shop))
    pay(pending(platform_shop))
    sign_in_operator(client)
    everything = client.get("/admin/invoices?lang=en").get_data(as_text=True)
    assert "4 documents" in everything
    mine = client.get(f"/admin/invoices?lang=en&merchant={invoicing_shop.id}&month={MONTH}"
                      ).get_data(as_text=True)
    assert "3 documents" in mine and "Facturant SAS" in mine
    platform = client.get("/admin/invoices?lang=en&merchant=platform").get_data(as_text=True)
    assert "1 document" in platform
    assert client.get("/admin/invoices?lang=en&month=2001-01").get_data(
        as_text=True).count("No invoice.") == 1
    from storefront.backoffice import invoices

    monkeypatch.setattr(invoices, "PAGE_SIZE", 2)
    first = client.get("/admin/invoices?lang=en&page=1").get_data(as_text=True)
    second = client.get("/admin/invoices?lang=en&page=2").get_data(as_text=True)
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    assert first.count("/admin/invoices/") == 2  # one PDF link a row
    assert f"F-{YEAR}-000001" in second


def test_bad_filters_are_refused_clearly(client, invoicing_shop, sign_in_operator):
    sign_in_operator(client)
    response = client.get("/admin/invoices?lang=en&month=december")
    assert response.status_code == 400
    assert "Give the month as YYYY-MM" in response.get_data(as_text=True)
    response = client.get("/admin/invoices?lang=en&merchant=nobody")
    assert response.status_code == 400 and "No such merchant." in response.get_data(as_text=True)


def test_the_back_office_invoices_need_an_operator(client, invoicing_shop, make_user):
    order = pay(pending(invoicing_shop))
    invoice = services.documents_of(order.id).invoice
    for path in ("/admin/invoices", f"/admin/invoices/{invoice.id}.pdf"):
        response = client.get(path)
        assert response.status_code in (302, 401, 403, 404)
        assert not response.data.startswith(b"%PDF")
    db.session.rollback()
