"""The `invoices` table: invoices and credit notes, one row each, frozen at issue.

One table for both kinds: they share the numbering, the frozen content, the stored PDF and every
place they are shown; a credit note only adds the refund it answers and the invoice it refers to.
`once_key` makes issuing exactly once: `invoice:<order id>` (one invoice per order) and
`credit-note:<refund id>` (one credit note per refund). `(merchant_key, number)` is unique: each
seller's series has no duplicate.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commerce.models import Order, Partner, Refund
from extensions import UTCDateTime, db, utcnow
from invoicing.document import DocumentKind

PLATFORM = "platform"  # merchant_key of the platform's own invoices


class Invoice(db.Model):  # type: ignore[name-defined]
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("merchant_key", "number"),
        Index("ix_invoices_merchant_issued", "merchant_key", "issued_on"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[DocumentKind] = mapped_column(String(16))
    once_key: Mapped[str] = mapped_column(String(64), unique=True)
    # The seller: "platform", or the id of the partner that is the merchant of record.
    merchant_key: Mapped[str] = mapped_column(String(36))
    seller_partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"))
    # The shop the order was placed in (the seller or not), for its back office and portal.
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"), index=True)
    series: Mapped[str] = mapped_column(String(16))  # "F-2026", "AV-2026"
    sequence: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per merchant and series
    number: Mapped[str] = mapped_column(String(32))  # "F-2026-000001"
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), index=True)
    refund_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("refunds.id"), unique=True)
    refers_to_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("invoices.id"))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    issued_on: Mapped[date] = mapped_column(Date)  # in Europe/Paris
    currency: Mapped[str] = mapped_column(String(3))
    net_cents: Mapped[int] = mapped_column(Integer)
    vat_cents: Mapped[int] = mapped_column(Integer)
    total_cents: Mapped[int] = mapped_column(Integer)
    # The InvoiceDocument as issued (invoicing/snapshot.py): the PDF is rebuilt from it alone.
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Where the PDF is stored (invoicing/storage.py) once rendered; None until then.
    pdf_key: Mapped[str | None] = mapped_column(String(200))
    rendered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    order: Mapped[Order] = relationship(foreign_keys=[order_id])
    partner: Mapped[Partner] = relationship(foreign_keys=[partner_id])
    refund: Mapped[Refund | None] = relationship()
    refers_to: Mapped[Invoice | None] = relationship(remote_side=[id])

    @property
    def is_credit_note(self) -> bool:
        return self.kind == DocumentKind.CREDIT_NOTE

    @property
    def filename(self) -> str:
        return f"{self.number}.pdf"
