"""An erased buyer's invoice stays for its ten legal years, read by finance staff only."""

from __future__ import annotations

from support.invoicing import FRENCH_CONSUMER, pay, pending

from accounts.privacy import erase, subject_for_email
from extensions import db
from invoicing import services
from partner_api.keys import issue_api_key
from payments.refunds import refund_order


def test_only_finance_staff_read_an_erased_buyers_invoice(app, invoicing_shop,
                                                          sign_in_operator):
    order = pay(pending(invoicing_shop, FRENCH_CONSUMER, backup=False))
    invoice = services.documents_of(order.id).invoice
    path = f"/admin/invoices/{invoice.id}.pdf"
    operator = app.test_client()
    sign_in_operator(operator)
    assert operator.get(path).status_code == 200  # before erasure: any operator
    key = issue_api_key(invoicing_shop, "tests")
    api_path = f"/api/v1/orders/{order.id}/invoices/{invoice.number}"
    assert app.test_client().get(api_path, headers={"Authorization": f"Bearer {key}"}
                                 ).status_code == 200

    refund_order(order.id, None, "operator:ops@comptoir.example", "erasure asked")
    erase(subject_for_email(FRENCH_CONSUMER.email), actor="operator:dpo@comptoir.example")
    db.session.commit()
    assert services.documents_of(order.id).invoice.number == invoice.number  # kept
    assert operator.get(path).status_code == 403
    listed = operator.get("/admin/invoices?lang=en").get_data(as_text=True)
    assert invoice.number in listed and "erased (finance staff only)" in listed
    assert FRENCH_CONSUMER.name not in listed
    assert app.test_client().get(api_path, headers={"Authorization": f"Bearer {key}"}
                                 ).status_code == 404
    shown = app.test_client().get(f"/api/v1/orders/{order.id}",
                                  headers={"Authorization": f"Bearer {key}"}).get_json()
    assert shown["invoice"]["number"] == invoice.number and shown["invoice"]["url"] is None
    finance = app.test_client()
    sign_in_operator(finance, email="finance@comptoir.example", finance=True)
    response = finance.get(path)
    assert response.status_code == 200 and response.data.startswith(b"%PDF-")
    assert FRENCH_CONSUMER.name in finance.get("/admin/invoices").get_data(as_text=True)


def test_a_buyers_data_export_lists_their_invoices(invoicing_shop):
    from accounts.privacy import export_data

    order = pay(pending(invoicing_shop, FRENCH_CONSUMER, backup=False))
    refund_order(order.id, None, "operator:ops@comptoir.example", "asked")
    data = export_data(subject_for_email(FRENCH_CONSUMER.email), email_proven=True)
    issued = data["orders"][0]["invoices"]
    assert [(d["kind"], d["number"][:2]) for d in issued] == [("invoice", "F-"),
                                                               ("credit_note", "AV")]
    assert issued[0]["total_cents"] == order.total_cents
