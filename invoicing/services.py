"""Issuing invoices and credit notes exactly once, numbered without gaps; their PDFs after.

Numbers come from `commerce.numbers.next_value` in the transaction that inserts the row: the
counter's row lock serialises issuers of one merchant's series until that transaction ends, and
a transaction that does not commit gives its number back with everything else, so a series has
neither gap nor duplicate. Only a paid order is ever numbered. The PDF is rendered and stored
afterwards, by the `invoice-pdf` consumer of `InvoiceIssued`, which is not chained (it runs
once the number is committed, never holding the counter's lock); a render that fails is tried
again by the outbox and never touches the number.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime

from flask import current_app
from sqlalchemy import func, select, update

from commerce.models import Order, PaymentStatus, Refund, RefundStatus
from commerce.numbers import next_value
from events.models import OutboxEvent
from events.outbox import add_pending_deliveries
from events.types import Event, InvoiceIssued
from extensions import db, utcnow
from invoicing.build import credit_note_document, invoice_document, merchant_key, paris_date
from invoicing.document import DocumentKind, InvoiceDocument
from invoicing.models import PLATFORM, Invoice
from invoicing.snapshot import from_json, to_json

SERIES_PREFIX = {DocumentKind.INVOICE: "F", DocumentKind.CREDIT_NOTE: "AV"}
# Payment statuses of an order that was paid (what came after included): only these are numbered.
PAID = frozenset({PaymentStatus.PAID, PaymentStatus.REFUND_PENDING,
                  PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED,
                  PaymentStatus.DISPUTED})


class InvoiceError(ValueError):
    """No invoice can be issued for this (an unknown order, an unpaid one, a failed refund)."""


def counter_name(kind: DocumentKind, year: int, merchant: str) -> str:
    """The counter of one merchant's series for a year (at most 40 characters)."""
    who = PLATFORM if merchant == PLATFORM else uuid.UUID(merchant).hex
    return f"{SERIES_PREFIX[kind]}{year}{who}"


def _allocate(kind: DocumentKind, merchant: str, issued_on: date) -> tuple[str, int, str]:
    series = f"{SERIES_PREFIX[kind]}-{issued_on.year}"
    sequence = next_value(counter_name(kind, issued_on.year, merchant))
    return series, sequence, f"{series}-{sequence:06d}"


def _emit_after_commit(event: Event) -> None:
    """Write the event with pending deliveries, outside any chain: its consumers run only once
    this transaction has committed (handed to Celery then, or found by the sweep)."""
    row = OutboxEvent(id=uuid.uuid4(), kind=event.kind, payload=event.payload(),
                      order_id=event.order_id)
    db.session.add(row)
    add_pending_deliveries(db.session(), row)


def _find(once_key: str) -> Invoice | None:
    return db.session.scalar(select(Invoice).where(Invoice.once_key == once_key))


def _insert(kind: DocumentKind, once_key: str, order: Order, doc_for: object,
            now: datetime, merchant: str | None = None, **extra: object) -> Invoice:
    merchant = merchant or merchant_key(order)
    issued_on = paris_date(now)
    series, sequence, number = _allocate(kind, merchant, issued_on)
    doc: InvoiceDocument = doc_for(number, issued_on)  # type: ignore[operator]
    invoice = Invoice(
        kind=kind, once_key=once_key, merchant_key=merchant,
        seller_partner_id=None if merchant == PLATFORM else order.partner_id,
        partner_id=order.partner_id, series=series, sequence=sequence, number=number,
        order_id=order.id, issued_at=now, issued_on=issued_on, currency=doc.currency,
        net_cents=doc.net_cents, vat_cents=doc.vat_cents, total_cents=doc.total_cents,
        content=to_json(doc), **extra,
    )
    db.session.add(invoice)
    db.session.flush()  # a second issuer of the same once_key fails here, number and all
    _emit_after_commit(InvoiceIssued(order_id=order.id, invoice_id=invoice.id))
    return invoice


def issue_invoice(order_id: uuid.UUID, now: datetime | None = None) -> Invoice:
    """The order's invoice, issued now in the caller's transaction if it has none yet."""
    order = db.session.get(Order, order_id)
    if order is None:
        raise InvoiceError("no such order")
    existing = _find(f"invoice:{order.id}")
    if existing is not None:
        return existing
    if order.paid_at is None or order.payment_status not in PAID:
        raise InvoiceError(f"order {order.number} is {order.payment_status}: only a paid order "
                           "is invoiced")
    return _insert(DocumentKind.INVOICE, f"invoice:{order.id}", order,
                   lambda number, on: invoice_document(order, number, on), now or utcnow())


def issue_credit_note(refund_id: uuid.UUID, now: datetime | None = None) -> Invoice:
    """The refund's credit note, referring to the order's invoice (issued first if need be)."""
    refund = db.session.get(Refund, refund_id)
    if refund is None:
        raise InvoiceError("no such refund")
    existing = _find(f"credit-note:{refund.id}")
    if existing is not None:
        return existing
    if refund.status != RefundStatus.SUCCEEDED:
        raise InvoiceError(f"refund {refund.sequence} of order {refund.order.number} is "
                           f"{refund.status}: only money given back has a credit note")
    invoice = issue_invoice(refund.order_id, now)
    # Issued by the invoice's seller, in its series, whatever the shop's merchant of record
    # has become since.
    seller = document_of(invoice).seller
    return _insert(
        DocumentKind.CREDIT_NOTE, f"credit-note:{refund.id}", refund.order,
        lambda number, on: replace(credit_note_document(refund, number, on, invoice.number,
                                                        invoice.issued_on), seller=seller),
        now or utcnow(), merchant=invoice.merchant_key, refund_id=refund.id,
        refers_to_id=invoice.id,
    )


def document_of(invoice: Invoice) -> InvoiceDocument:
    """The document exactly as issued."""
    return from_json(invoice.content)


def storage_key(invoice: Invoice) -> str:
    kind = "credit-notes" if invoice.is_credit_note else "invoices"
    return f"{invoice.merchant_key}/{invoice.issued_on.year}/{kind}/{invoice.number}.pdf"


def render_and_store(invoice_id: uuid.UUID) -> bool:
    """Render the PDF of an issued invoice and store it, once; True when this call stored it.

    Runs in the `invoice-pdf` consumer's transaction; a failure leaves the delivery pending
    and the invoice as it was.
    """
    from invoicing import pdf, storage

    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        raise InvoiceError("no such invoice")
    if invoice.pdf_key is not None:
        return False
    data = pdf.render(document_of(invoice))
    key = storage_key(invoice)
    try:
        storage.store(current_app, key, data, issued_on=invoice.issued_on)
    except storage.InvoiceOverwriteRefused:
        # An earlier try stored its PDF, then its transaction failed: that PDF was rendered
        # from the same frozen content, and a kept invoice is never replaced.
        pass
    won = db.session.execute(
        update(Invoice).where(Invoice.id == invoice.id, Invoice.pdf_key.is_(None))
        .values(pdf_key=key, rendered_at=utcnow()).execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    db.session.refresh(invoice)
    return bool(won)


def pdf_bytes(invoice: Invoice) -> bytes:
    """The invoice's PDF: the stored one, else rendered now from its frozen content."""
    from invoicing import pdf, storage

    if invoice.pdf_key:
        return storage.load(invoice.pdf_key)
    return pdf.render(document_of(invoice))


@dataclass(frozen=True)
class OrderDocuments:
    invoice: Invoice | None
    credit_notes: list[Invoice]


def documents_of(order_id: uuid.UUID) -> OrderDocuments:
    """An order's invoice (None until issued) and its credit notes, oldest first."""
    rows = db.session.scalars(
        select(Invoice).where(Invoice.order_id == order_id)
        .order_by(Invoice.issued_at, Invoice.sequence)
    ).all()
    invoice = next((r for r in rows if r.kind == DocumentKind.INVOICE), None)
    return OrderDocuments(invoice, [r for r in rows if r.kind == DocumentKind.CREDIT_NOTE])


def documents_by_order(order_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Invoice]]:
    """The invoice then the credit notes of each of these orders (an order without: absent)."""
    found: dict[uuid.UUID, list[Invoice]] = {}
    if not order_ids:
        return found
    for row in db.session.scalars(
        select(Invoice).where(Invoice.order_id.in_(order_ids))
        .order_by(Invoice.kind.desc(), Invoice.issued_at, Invoice.sequence)
    ):
        found.setdefault(row.order_id, []).append(row)
    return found


def link_for(order: Order, invoice: Invoice) -> str:
    """The document's address for e-mails: its PDF by the order's signed link (no sign-in)."""
    from commerce.access import access_url

    return f"{access_url(order)}/invoices/{invoice.number}.pdf"


def document_for_order(order_id: uuid.UUID, number: str) -> Invoice | None:
    """One of an order's documents by its number (None when the order has no such one)."""
    return db.session.scalar(
        select(Invoice).where(Invoice.order_id == order_id, Invoice.number == number))


@dataclass(frozen=True)
class InvoicePage:
    rows: list[Invoice]
    page: int
    pages: int
    total: int


def list_invoices(*, merchant: str | None = None, month: date | None = None,
                  order_ids: list[uuid.UUID] | None = None, page: int = 1,
                  per_page: int = 50) -> InvoicePage:
    """Invoices and credit notes, newest first: of one merchant, one month, some orders."""
    stmt = select(Invoice)
    if merchant:
        stmt = stmt.where(Invoice.merchant_key == merchant)
    if month is not None:
        start = month.replace(day=1)
        end = (start.replace(year=start.year + 1, month=1) if start.month == 12
               else start.replace(month=start.month + 1))
        stmt = stmt.where(Invoice.issued_on >= start, Invoice.issued_on < end)
    if order_ids is not None:
        stmt = stmt.where(Invoice.order_id.in_(order_ids))
    total = int(db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = list(db.session.scalars(
        stmt.order_by(Invoice.issued_at.desc(), Invoice.number.desc())
        .limit(per_page).offset((page - 1) * per_page)).all())
    return InvoicePage(rows, page, pages, total)
