"""Every refund, whole or per line, gets one credit note referring to its invoice."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from support.invoicing import GERMAN_BUSINESS, pay, pending

from commerce.models import Counter, Refund
from events import RefundSucceeded, emit
from events.models import EventDelivery, OutboxEvent
from events.relay import deliver
from extensions import db
from invoicing import services
from invoicing.document import DocumentKind
from invoicing.models import Invoice
from payments.refunds import apply_effects, refund_order

YEAR = datetime.now(ZoneInfo("Europe/Paris")).year


def _credit_notes() -> list[Invoice]:
    return list(db.session.scalars(select(Invoice).where(
        Invoice.kind == DocumentKind.CREDIT_NOTE).order_by(Invoice.sequence)))


def test_a_whole_refund_gets_a_credit_note_for_the_whole_invoice(invoicing_shop):
    order = pay(pending(invoicing_shop))
    refund = refund_order(order.id, None, "operator:ops@comptoir.example", "buyer asked")
    db.session.expire_all()
    [note] = _credit_notes()
    invoice = services.documents_of(order.id).invoice
    assert invoice is not None
    assert note.number == f"AV-{YEAR}-000001" and note.refund_id == refund.id
    assert note.refers_to_id == invoice.id
    assert note.total_cents == order.total_cents == refund.amount_cents
    assert note.vat_cents == order.vat_cents
    doc = services.document_of(note)
    assert doc.kind == DocumentKind.CREDIT_NOTE
    assert (doc.refers_to_number, doc.refers_to_date) == (invoice.number, invoice.issued_on)
    assert [line.product_code for line in doc.lines] == [
        "OFFICE-HOME-2024-WIN", "ADDON-BACKUP-2Y"]
    assert doc.waiver is None
    assert services.documents_of(order.id).credit_notes == [note]


def test_a_refund_of_one_line_credits_that_line_and_its_add_ons_only(invoicing_shop):
    order = pay(pending(invoicing_shop, more=2))
    second = order.product_lines[1]
    refund_order(order.id, [second.id], "operator:ops@comptoir.example", "one too many")
    first = order.product_lines[0]
    refund_order(order.id, [first.id], "operator:ops@comptoir.example", "all of it after all")
    db.session.expire_all()
    partial, rest = _credit_notes()
    assert (partial.number, rest.number) == (f"AV-{YEAR}-000001", f"AV-{YEAR}-000002")
    assert [line.quantity for line in services.document_of(partial).lines] == [2]
    assert partial.total_cents == second.total_cents
    assert partial.vat_cents == second.vat_cents
    assert [line.product_code for line in services.document_of(rest).lines] == [
        "OFFICE-HOME-2024-WIN", "ADDON-BACKUP-2Y"]
    assert partial.total_cents + rest.total_cents == order.total_cents
    assert partial.refers_to_id == rest.refers_to_id


def test_a_reverse_charged_refund_credits_no_vat(invoicing_shop):
    order = pay(pending(invoicing_shop, GERMAN_BUSINESS))
    refund_order(order.id, None, "operator:ops@comptoir.example", "cancelled")
    db.session.expire_all()
    [note] = _credit_notes()
    doc = services.document_of(note)
    assert doc.reverse_charge and note.vat_cents == 0
    assert doc.buyer.vat_number == "DE136695976"


def test_a_repeated_refund_event_issues_the_credit_note_once(invoicing_shop):
    order = pay(pending(invoicing_shop))
    refund = refund_order(order.id, None, "operator:ops@comptoir.example", "buyer asked")
    # The event again (a second apply, a replay), and its first delivery run once more.
    emit(RefundSucceeded(order_id=order.id, refund_id=refund.id))
    db.session.commit()
    apply_effects(refund.id)
    db.session.execute(EventDelivery.__table__.update()
                       .where(EventDelivery.consumer == "invoicing").values(done_at=None))
    db.session.commit()
    deliver(list(db.session.scalars(select(OutboxEvent.id).where(
        OutboxEvent.kind.in_(["OrderPaid", "RefundSucceeded"])))))
    db.session.expire_all()
    assert len(_credit_notes()) == 1
    assert services.issue_credit_note(refund.id).id == _credit_notes()[0].id
    assert db.session.scalar(select(Counter.value).where(Counter.name.like("AV%"))) == 1
    assert db.session.scalar(select(func.count()).select_from(EventDelivery).where(
        EventDelivery.consumer == "invoicing", EventDelivery.done_at.is_(None))) == 0


def test_a_credit_note_issues_the_missing_invoice_first(invoicing_shop, app):
    app.config["EVENTS_RELAY"] = False  # the invoice's OrderPaid stays in the outbox
    order = pay(pending(invoicing_shop))
    refund = refund_order(order.id, None, "operator:ops@comptoir.example", "at once")
    note = services.issue_credit_note(refund.id)
    db.session.commit()
    invoice = services.documents_of(order.id).invoice
    assert invoice is not None and note.refers_to_id == invoice.id
    assert (invoice.number, note.number) == (f"F-{YEAR}-000001", f"AV-{YEAR}-000001")


def test_a_refund_that_did_not_go_through_has_no_credit_note(invoicing_shop):
    order = pay(pending(invoicing_shop))
    refund = Refund(order_id=order.id, sequence=9, amount_cents=100, idempotency_key="k-9",
                    previous_status="paid", status="failed")
    db.session.add(refund)
    db.session.commit()
    with pytest.raises(services.InvoiceError, match="only money given back"):
        services.issue_credit_note(refund.id)
    db.session.rollback()
    assert _credit_notes() == []


def test_money_given_back_without_lines_is_one_line_at_the_orders_rate(invoicing_shop):
    order = pay(pending(invoicing_shop))
    refund = Refund(order_id=order.id, sequence=1, amount_cents=1200, idempotency_key="ext-1",
                    previous_status="paid", status="succeeded", origin="gateway",
                    completed_at=order.paid_at)
    db.session.add(refund)
    db.session.commit()
    note = services.issue_credit_note(refund.id)
    db.session.commit()
    [line] = services.document_of(note).lines
    assert (line.description, line.net_cents + line.vat_cents) == ("Remboursement 1", 1200)
    assert line.vat_cents == 200 and note.total_cents == 1200


def test_a_credit_note_is_issued_by_its_invoices_seller_even_after_a_change(invoicing_shop):
    from commerce.models import MerchantOfRecord

    order = pay(pending(invoicing_shop))
    invoice = services.documents_of(order.id).invoice
    invoicing_shop.merchant_of_record = MerchantOfRecord.PLATFORM  # the shop hands selling over
    db.session.commit()
    refund_order(order.id, None, "operator:ops@comptoir.example", "after the change")
    note = services.documents_of(order.id).credit_notes[0]
    assert note.merchant_key == invoice.merchant_key == str(invoicing_shop.id)
    assert services.document_of(note).seller == services.document_of(invoice).seller
    assert note.number.endswith("-000001")  # the shop's own credit-note series
