"""Buyers get their invoice on the order page, by the e-mailed link and through the API; nobody
else does."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from support.invoicing import GERMAN_BUSINESS, GERMAN_CONSUMER, pay, pending

from commerce import access
from commerce.models import MerchantOfRecord
from events.models import EventDelivery
from extensions import db
from fulfilment.emails import render_email
from fulfilment.models import OutgoingEmail
from invoicing import services
from invoicing.models import Invoice
from partner_api.keys import issue_api_key
from payments.refunds import refund_order

YEAR = datetime.now(ZoneInfo("Europe/Paris")).year


def _open_by_link(client, order) -> None:
    """This browser opens the order by its e-mailed link: it may see the order from now on."""
    response = client.get(f"/p/{order.partner.slug}/orders/access/{access.access_token(order)}")
    assert response.status_code == 302


def _is_pdf(response, number: str) -> None:
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    assert f'filename="{number}.pdf"' in response.headers["Content-Disposition"]
    assert "no-store" in response.headers["Cache-Control"]


def test_the_pdf_is_rendered_and_stored_once_the_number_is_committed(invoicing_shop):
    order = pay(pending(invoicing_shop))
    invoice = services.documents_of(order.id).invoice
    assert invoice is not None
    assert invoice.pdf_key == services.storage_key(invoice) and invoice.rendered_at is not None
    from invoicing import storage

    assert storage.load(invoice.pdf_key).startswith(b"%PDF-")
    assert services.pdf_bytes(invoice) == storage.load(invoice.pdf_key)
    # The renderer's delivery is done; running it again stores nothing new.
    assert services.render_and_store(invoice.id) is False
    assert db.session.scalar(select(EventDelivery.done_at).where(
        EventDelivery.consumer == "invoice-pdf")) is not None


def test_a_failed_render_is_tried_again_and_keeps_the_number(app, invoicing_shop, monkeypatch):
    from invoicing import pdf

    def broken(document):
        raise RuntimeError("renderer down")

    monkeypatch.setattr(pdf, "render", broken)
    order = pay(pending(invoicing_shop))
    invoice = services.documents_of(order.id).invoice
    assert invoice is not None and invoice.pdf_key is None
    number = invoice.number
    delivery = db.session.scalar(select(EventDelivery).where(
        EventDelivery.consumer == "invoice-pdf"))
    assert delivery.done_at is None and "renderer down" in delivery.last_error
    monkeypatch.undo()
    from events.relay import sweep

    sweep(force=True)
    db.session.expire_all()
    again = db.session.get(Invoice, invoice.id)
    assert again.number == number and again.pdf_key is not None


def test_the_buyer_downloads_the_invoice_from_the_order_page(client, invoicing_shop):
    order = pay(pending(invoicing_shop))
    number = f"F-{YEAR}-000001"
    _open_by_link(client, order)
    page = client.get(f"/p/facturant/orders/{order.id}?lang=en").get_data(as_text=True)
    link = f"/p/facturant/orders/{order.id}/invoices/{number}.pdf"
    assert link in page and f"Invoice {number}" in page
    _is_pdf(client.get(link), number)


def test_the_order_page_shows_credit_notes_beside_the_invoice(client, invoicing_shop):
    order = pay(pending(invoicing_shop))
    refund_order(order.id, None, "operator:ops@comptoir.example", "asked")
    _open_by_link(client, order)
    page = client.get(f"/p/facturant/orders/{order.id}?lang=en").get_data(as_text=True)
    assert f"Credit note AV-{YEAR}-000001" in page
    _is_pdf(client.get(f"/p/facturant/orders/{order.id}/invoices/AV-{YEAR}-000001.pdf"),
            f"AV-{YEAR}-000001")


def test_an_unpaid_order_shows_no_invoice(client, invoicing_shop):
    order = pending(invoicing_shop)
    _open_by_link(client, order)
    page = client.get(f"/p/facturant/orders/{order.id}?lang=en").get_data(as_text=True)
    assert "/invoices/" not in page
    assert client.get(f"/p/facturant/orders/{order.id}/invoices/F-{YEAR}-000001.pdf"
                      ).status_code == 404


def test_another_browser_another_order_or_another_shop_gets_no_invoice(
    app, client, invoicing_shop, make_partner
):
    order = pay(pending(invoicing_shop))
    other_order = pay(pending(invoicing_shop))
    number = services.documents_of(order.id).invoice.number
    other_number = services.documents_of(other_order.id).invoice.number
    stranger = app.test_client()
    assert stranger.get(f"/p/facturant/orders/{order.id}/invoices/{number}.pdf"
                        ).status_code == 404
    _open_by_link(client, order)
    # The other order's invoice, even through this order's address: refused.
    assert client.get(f"/p/facturant/orders/{order.id}/invoices/{other_number}.pdf"
                      ).status_code == 404
    assert client.get(f"/p/facturant/orders/{other_order.id}/invoices/{other_number}.pdf"
                      ).status_code == 404
    make_partner(slug="ailleurs")
    assert client.get(f"/p/ailleurs/orders/{order.id}/invoices/{number}.pdf").status_code == 404


def test_the_delivery_email_links_the_invoice_which_opens_without_signing_in(
    app, invoicing_shop
):
    order = pay(pending(invoicing_shop, GERMAN_CONSUMER))
    number = services.documents_of(order.id).invoice.number
    mail = render_email(OutgoingEmail(key=f"delivery:{order.id}", order_id=order.id,
                                      kind="delivery"))
    assert f"Your invoice {number} (PDF): " in mail.text  # the buyer's language: English
    url = mail.text.split(f"Your invoice {number} (PDF): ", 1)[1].split()[0]
    assert url.endswith(f"/invoices/{number}.pdf")
    assert f"Download your invoice {number}" in mail.html
    assert url.startswith("http://facturant.example:5000/orders/access/")  # the shop's domain
    fresh = app.test_client()
    _is_pdf(fresh.get(url), number)
    # A revoked link opens nothing any more; a forged one neither.
    access.revoke_links(order.id)
    db.session.commit()
    assert fresh.get(url).status_code == 410
    assert fresh.get(f"/p/facturant/orders/access/forged/invoices/{number}.pdf"
                     ).status_code == 404


def test_the_email_of_an_order_not_yet_invoiced_has_no_invoice_link(app, invoicing_shop):
    app.config["EVENTS_RELAY"] = False
    order = pay(pending(invoicing_shop))
    mail = render_email(OutgoingEmail(key=f"delivery:{order.id}", order_id=order.id,
                                      kind="delivery"))
    assert "/invoices/" not in mail.text


@pytest.fixture
def api_key(invoicing_shop) -> str:
    return issue_api_key(invoicing_shop, "tests")


def _api(client, path: str, key: str | None):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.get(f"/api/v1{path}", headers=headers)


def test_the_api_shows_the_invoice_and_credit_notes_and_serves_their_pdf(
    client, invoicing_shop, api_key
):
    order = pay(pending(invoicing_shop, GERMAN_BUSINESS, more=1))
    refund_order(order.id, [order.product_lines[1].id], "operator:ops@comptoir.example", "x")
    body = _api(client, f"/orders/{order.id}", api_key).get_json()
    invoice = body["invoice"]
    assert invoice == {
        "number": f"F-{YEAR}-000001", "kind": "invoice",
        "issued_on": services.documents_of(order.id).invoice.issued_on.isoformat(),
        "currency": "EUR", "net_cents": order.total_cents, "vat_cents": 0,
        "total_cents": order.total_cents,
        "url": f"http://127.0.0.1:5000/api/v1/orders/{order.id}/invoices/F-{YEAR}-000001",
    }
    [note] = body["credit_notes"]
    assert note["number"] == f"AV-{YEAR}-000001" and note["refers_to"] == invoice["number"]
    assert note["total_cents"] == order.product_lines[1].total_cents
    path = invoice["url"].split("/api/v1", 1)[1]
    _is_pdf(_api(client, path, api_key), invoice["number"])
    _is_pdf(_api(client, note["url"].split("/api/v1", 1)[1], api_key), note["number"])


def test_the_api_shows_no_invoice_before_payment(client, invoicing_shop, api_key):
    order = pending(invoicing_shop)
    body = _api(client, f"/orders/{order.id}", api_key).get_json()
    assert body["invoice"] is None and body["credit_notes"] == []
    assert _api(client, f"/orders/{order.id}/invoices/F-{YEAR}-000001", api_key
                ).status_code == 404


def test_the_api_refuses_the_pdf_to_a_wrong_key_or_another_partner(
    client, invoicing_shop, api_key, make_partner
):
    order = pay(pending(invoicing_shop))
    path = f"/orders/{order.id}/invoices/F-{YEAR}-000001"
    assert _api(client, path, None).status_code == 401
    assert _api(client, path, "ck_live_not-a-key").status_code == 401
    other_key = issue_api_key(make_partner(merchant_of_record=MerchantOfRecord.PARTNER), "x")
    refused = _api(client, path, other_key)
    assert refused.status_code == 404 and refused.get_json()["error"]["code"] == "not_found"
    assert _api(client, path, api_key).status_code == 200
