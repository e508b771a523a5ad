"""A reseller downloads the invoices of its own clients' orders, and no one else's."""

from __future__ import annotations

from sqlalchemy import select

from commissions.models import ResellerClient
from extensions import db
from invoicing import services


def _client_id(email: str):
    return db.session.scalar(select(ResellerClient.id).where(ResellerClient.email == email))


def _invoiced(order):
    invoice = services.issue_invoice(order.id)
    db.session.commit()
    return invoice


def test_the_reseller_sees_and_downloads_its_clients_invoices(client, world, sell, deliver,
                                                              sign_in):
    order = sell(world.n, [("OFFICE-HOME-2024-WIN", 1)], "claire@client.example", code="RP-AAAA")
    deliver(order)  # the buyer becomes the reseller's client
    invoice = _invoiced(order)
    sign_in("reseau-n", "a@dupont.example")
    page = client.get(f"/p/reseau-n/reseller/clients/{_client_id('claire@client.example')}")
    link = f"/p/reseau-n/reseller/orders/{order.id}/invoices/{invoice.number}.pdf"
    assert page.status_code == 200 and link in page.get_data(as_text=True)
    response = client.get(link)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    assert f'filename="{invoice.number}.pdf"' in response.headers["Content-Disposition"]


def test_another_resellers_client_invoice_is_not_found(client, world, sell, sign_in):
    mine = sell(world.n, [("OFFICE-HOME-2024-WIN", 1)], "claire@client.example", code="RP-AAAA")
    theirs = sell(world.n, [("OFFICE-HOME-2024-WIN", 1)], "paul@client.example", code="RP-BBBB")
    elsewhere = sell(world.m, [("OFFICE-HOME-2024-WIN", 1)], "zoe@client.example",
                     code="RP-CCCC")
    _invoiced(mine)
    their_invoice, far_invoice = _invoiced(theirs), _invoiced(elsewhere)
    sign_in("reseau-n", "a@dupont.example")
    assert client.get(f"/p/reseau-n/reseller/orders/{theirs.id}/invoices/"
                      f"{their_invoice.number}.pdf").status_code == 404
    assert client.get(f"/p/reseau-n/reseller/orders/{elsewhere.id}/invoices/"
                      f"{far_invoice.number}.pdf").status_code == 404
    # Its own order's address with another order's number finds nothing either.
    assert client.get(f"/p/reseau-n/reseller/orders/{mine.id}/invoices/AV-2026-000009.pdf"
                      ).status_code == 404


def test_signed_out_the_invoice_asks_for_sign_in(client, world, sell):
    order = sell(world.n, [("OFFICE-HOME-2024-WIN", 1)], "claire@client.example", code="RP-AAAA")
    invoice = _invoiced(order)
    response = client.get(f"/p/reseau-n/reseller/orders/{order.id}/invoices/{invoice.number}.pdf")
    assert response.status_code == 302 and "/reseller/signin" in response.location
