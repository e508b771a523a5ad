"""Invoices are issued once, at payment, numbered without gaps, saying what French law asks."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from support.invoicing import (
    CONSENT_AT,
    FRENCH_CONSUMER,
    GERMAN_BUSINESS,
    GERMAN_CONSUMER,
    pay,
    pending,
)

from commerce.models import Counter, MerchantOfRecord, Order, PaymentStatus
from events.models import EventDelivery, OutboxEvent
from events.relay import deliver
from extensions import db
from invoicing import services
from invoicing.build import paris_date
from invoicing.document import DocumentKind, Waiver
from invoicing.models import PLATFORM, Invoice
from invoicing.snapshot import from_json, to_json
from payments.base import PaymentEvent, PaymentOutcome
from payments.services import confirm_payment

YEAR = datetime.now(ZoneInfo("Europe/Paris")).year


def _invoices() -> list[Invoice]:
    return list(db.session.scalars(select(Invoice).order_by(Invoice.sequence)))


def test_a_french_consumer_gets_one_invoice_at_payment_with_french_vat(invoicing_shop):
    order = pay(pending(invoicing_shop, FRENCH_CONSUMER))
    [invoice] = _invoices()
    year = YEAR
    assert invoice.number == f"F-{year}-000001"
    assert invoice.kind == DocumentKind.INVOICE
    assert invoice.merchant_key == str(invoicing_shop.id)
    assert (invoice.total_cents, invoice.vat_cents) == (order.total_cents, order.vat_cents)
    assert invoice.net_cents == order.net_cents
    doc = services.document_of(invoice)
    assert doc.seller.name == "Facturant SAS"
    assert (doc.seller.siren, doc.seller.vat_number) == ("732829320", "FR44732829320")
    assert (doc.seller.line1, doc.seller.postcode, doc.seller.city) == (
        "8 rue des Lilas", "69003", "Lyon")
    assert doc.buyer.name == "Camille Martin" and not doc.buyer_is_business
    assert doc.buyer.vat_number == "" and doc.buyer.country == "FR"
    assert [(line.product_code, line.vat_rate) for line in doc.lines] == [
        ("OFFICE-HOME-2024-WIN", Decimal("20.00")), ("ADDON-BACKUP-2Y", Decimal("20.00"))]
    # 139.00 + 9.90 TTC at 20 %: the VAT charged on each line, not recomputed.
    assert [(line.net_cents, line.vat_cents) for line in doc.lines] == [
        (line.total_cents - line.vat_cents, line.vat_cents) for line in order.lines]
    assert doc.total_cents == order.total_cents
    assert not doc.reverse_charge and doc.vat_country == "FR"
    assert doc.paid_on == paris_date(order.paid_at)
    assert doc.payment_method == "card"
    assert doc.waiver == Waiver(consented_at=CONSENT_AT, wording_version="2026-11-v1")
    assert doc.order_number == order.number
    assert [b.category for b in doc.vat_breakdown] == ["S"]


def test_a_german_consumer_is_invoiced_german_vat(invoicing_shop):
    order = pay(pending(invoicing_shop, GERMAN_CONSUMER))
    [invoice] = _invoices()
    doc = services.document_of(invoice)
    assert doc.vat_country == "DE" and not doc.reverse_charge
    assert {line.vat_rate for line in doc.lines} == {Decimal("19.00")}
    assert doc.vat_cents == order.vat_cents and doc.vat_cents > 0
    assert doc.locale == "en"
    assert (doc.buyer.country, doc.buyer.city) == ("DE", "Berlin")
    [breakdown] = doc.vat_breakdown
    assert (breakdown.rate, breakdown.vat_cents, breakdown.category) == (
        Decimal("19.00"), order.vat_cents, "S")


def test_a_german_business_is_reverse_charged_with_its_vat_number(invoicing_shop):
    order = pay(pending(invoicing_shop, GERMAN_BUSINESS))
    [invoice] = _invoices()
    doc = services.document_of(invoice)
    assert doc.reverse_charge and doc.buyer_is_business
    assert (doc.buyer.name, doc.buyer.contact) == ("Vogel Software GmbH", "Lena Vogel")
    assert doc.buyer.vat_number == "DE136695976"
    assert doc.vat_cents == 0 and invoice.vat_cents == 0
    assert invoice.total_cents == order.total_cents == doc.net_cents
    assert [(b.rate, b.category) for b in doc.vat_breakdown] == [(Decimal("0.00"), "AE")]


def test_a_french_business_pays_french_vat_with_its_number_on_the_invoice(invoicing_shop):
    order = pending(invoicing_shop, FRENCH_CONSUMER)
    order.company, order.vat_number = "Boulangerie Martin SARL", "FR40303265045"
    db.session.commit()
    pay(order)
    doc = services.document_of(_invoices()[0])
    assert doc.buyer_is_business and not doc.reverse_charge
    assert doc.buyer.vat_number == "FR40303265045"
    assert {line.vat_rate for line in doc.lines} == {Decimal("20.00")}


def test_the_platform_is_the_seller_when_it_is_the_merchant_of_record(app, invoicing_shop):
    invoicing_shop.merchant_of_record = MerchantOfRecord.PLATFORM
    db.session.commit()
    pay(pending(invoicing_shop))
    [invoice] = _invoices()
    assert invoice.merchant_key == PLATFORM and invoice.seller_partner_id is None
    doc = services.document_of(invoice)
    assert doc.seller.name == app.config["PLATFORM_LEGAL_NAME"]
    assert doc.seller.siren == app.config["PLATFORM_SIREN"]
    assert doc.seller.vat_number == app.config["PLATFORM_VAT_NUMBER"]


def test_numbers_follow_each_other_per_merchant_without_sharing(invoicing_shop, make_partner):
    other = make_partner(merchant_of_record=MerchantOfRecord.PARTNER,
                         products=[p.product for p in invoicing_shop.offers])
    first = pay(pending(invoicing_shop))
    second_shop = pay(pending(other))
    second = pay(pending(invoicing_shop))
    year = YEAR
    numbers = {(i.order_id, i.number) for i in _invoices()}
    assert numbers == {(first.id, f"F-{year}-000001"), (second_shop.id, f"F-{year}-000001"),
                       (second.id, f"F-{year}-000002")}


def test_an_unpaid_failed_or_expired_order_never_takes_a_number(invoicing_shop):
    waiting = pending(invoicing_shop)
    for outcome, order in ((PaymentOutcome.FAILED, pending(invoicing_shop)),
                           (PaymentOutcome.EXPIRED, pending(invoicing_shop))):
        confirm_payment(PaymentEvent(f"evt_{outcome}", "checkout.session.x", outcome, order.id,
                                     order.gateway_reference, order.total_cents, "EUR"), "stripe")
    with pytest.raises(services.InvoiceError, match="only a paid order"):
        services.issue_invoice(waiting.id)
    db.session.rollback()
    assert _invoices() == []
    assert db.session.scalar(select(func.count()).select_from(Counter)
                             .where(Counter.name.like("F%"))) == 0
    paid = pay(pending(invoicing_shop))
    assert [i.number for i in _invoices()] == [f"F-{YEAR}-000001"]
    assert _invoices()[0].order_id == paid.id


def test_a_flagged_payment_is_not_invoiced(invoicing_shop):
    order = pending(invoicing_shop)
    confirm_payment(PaymentEvent("evt_short", "checkout.session.completed", PaymentOutcome.PAID,
                                 order.id, order.gateway_reference, order.total_cents - 1,
                                 "EUR"), "stripe")
    db.session.expire_all()
    assert db.session.get(Order, order.id).payment_status == PaymentStatus.FLAGGED
    assert _invoices() == []


def test_replaying_the_payment_and_its_event_issues_one_invoice(invoicing_shop):
    order = pay(pending(invoicing_shop))
    pay(order)  # the same gateway event again
    event_ids = list(db.session.scalars(
        select(OutboxEvent.id).where(OutboxEvent.kind == "OrderPaid")))
    # The relay runs the consumer again, as after a crash before its delivery was marked done.
    db.session.execute(EventDelivery.__table__.update()
                       .where(EventDelivery.consumer == "invoicing").values(done_at=None))
    db.session.commit()
    deliver(event_ids)
    assert services.issue_invoice(order.id).number == _invoices()[0].number
    db.session.commit()
    assert len(_invoices()) == 1
    assert db.session.scalar(select(Counter.value).where(
        Counter.name == services.counter_name(DocumentKind.INVOICE, YEAR,
                                              str(invoicing_shop.id)))) == 1


def test_the_invoice_is_dated_and_numbered_by_the_day_in_paris(app, invoicing_shop):
    order = pending(invoicing_shop)
    order.payment_status, order.paid_at = PaymentStatus.PAID, datetime(2026, 12, 31, 23, 30,
                                                                       tzinfo=UTC)
    db.session.commit()
    # 23:30 UTC on 31 December is already 1 January in Paris: the new year's series.
    invoice = services.issue_invoice(order.id, now=datetime(2026, 12, 31, 23, 30, tzinfo=UTC))
    db.session.commit()
    assert invoice.number == "F-2027-000001" and invoice.issued_on == date(2027, 1, 1)
    assert services.document_of(invoice).paid_on == date(2027, 1, 1)


def test_the_frozen_content_rebuilds_the_document_exactly(invoicing_shop):
    for buyer in (FRENCH_CONSUMER, GERMAN_CONSUMER, GERMAN_BUSINESS):
        pay(pending(invoicing_shop, buyer))
    for invoice in _invoices():
        doc = from_json(invoice.content)
        assert from_json(to_json(doc)) == doc
        assert to_json(doc) == invoice.content
        assert doc.number == invoice.number and doc.issued_on == invoice.issued_on


def test_a_later_change_to_the_partner_leaves_issued_invoices_as_they_were(invoicing_shop):
    pay(pending(invoicing_shop))
    invoicing_shop.legal_name = "Nouveau Nom SAS"
    db.session.commit()
    assert services.document_of(_invoices()[0]).seller.name == "Facturant SAS"


def test_an_unknown_snapshot_version_is_refused():
    with pytest.raises(ValueError, match="unknown invoice snapshot version"):
        from_json({"version": 99})
