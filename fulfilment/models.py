"""Fulfilment state: order lines at wholesalers, their attempts, delivered units, e-mails."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from commerce.models import Order, OrderLine, Product, UTCDateTime, utcnow
from extensions import ACTOR_LENGTH, db


class LineStatus(StrEnum):
    PENDING = "pending"  # not yet bought, or waiting for its next try
    ORDERED = "ordered"  # bought; the wholesaler delivers later (callback or polling)
    DELIVERED = "delivered"
    NEEDS_ATTENTION = (
        "needs_attention"  # tries exhausted or a permanent refusal: an operator decides
    )
    CANCELLED = "cancelled"


OPEN_STATUSES = (LineStatus.PENDING, LineStatus.ORDERED)


class UnitStatus(StrEnum):
    ACTIVE = "active"
    REPLACED = "replaced"  # reported as already activated; a new generation took its place
    REVOKED = "revoked"  # refunded: its licence is revoked


class FulfilmentLine(db.Model):  # type: ignore[name-defined]
    """A software order line on its way through a wholesaler."""

    __tablename__ = "fulfilment_lines"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    order_line_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("order_lines.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[LineStatus] = mapped_column(String(20), default=LineStatus.PENDING, index=True)
    wholesaler_code: Mapped[str | None] = mapped_column(String(32))
    routing_reason: Mapped[str] = mapped_column(Text, default="")
    route_generation: Mapped[int] = mapped_column(Integer, default=1)
    supplier_reference: Mapped[str | None] = mapped_column(String(80), unique=True)
    supplier_order_id: Mapped[str | None] = mapped_column(String(120))
    # The wholesaler's subscription this line's purchase opened (subscription products only).
    supplier_subscription_id: Mapped[str | None] = mapped_column(String(120))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # an e-mail carries its keys
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # Order.fulfilment_lines (read-only), so that fulfilment loads an order's lines with it.
    order: Mapped[Order] = relationship(
        backref=backref("fulfilment_lines", viewonly=True, overlaps="order"))
    order_line: Mapped[OrderLine] = relationship()
    attempts_log: Mapped[list[FulfilmentAttempt]] = relationship(
        back_populates="line", cascade="all, delete-orphan", order_by="FulfilmentAttempt.at"
    )
    units: Mapped[list[DeliveredUnit]] = relationship(
        back_populates="line",
        cascade="all, delete-orphan",
        order_by="(DeliveredUnit.unit, DeliveredUnit.generation)",
    )

    @property
    def active_units(self) -> list[DeliveredUnit]:
        return [u for u in self.units if u.replaced_at is None]


class FulfilmentAttempt(db.Model):  # type: ignore[name-defined]
    """One try at a wholesaler, kept as the line's error history."""

    __tablename__ = "fulfilment_attempts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    line_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("fulfilment_lines.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    wholesaler_code: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH), default="system")
    detail: Mapped[str] = mapped_column(Text, default="")

    line: Mapped[FulfilmentLine] = relationship(back_populates="attempts_log")


class DeliveredUnit(db.Model):  # type: ignore[name-defined]
    """One unit of a line: its product key (encrypted), download link and signed licence."""

    __tablename__ = "delivered_units"
    __table_args__ = (UniqueConstraint("fulfilment_line_id", "unit", "generation"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    fulfilment_line_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("fulfilment_lines.id", ondelete="CASCADE"), index=True
    )
    unit: Mapped[int] = mapped_column(Integer)
    generation: Mapped[int] = mapped_column(Integer, default=1)  # 2, 3... after replacements
    product_key_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    # Unique: one product key is never delivered on two units (fulfilment/delivery.py).
    product_key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    product_key_masked: Mapped[str] = mapped_column(String(40))
    download_url: Mapped[str] = mapped_column(Text)
    download_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    licence_id: Mapped[uuid.UUID | None] = mapped_column()
    licence_number: Mapped[str | None] = mapped_column(String(24))
    licence_token: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[UnitStatus] = mapped_column(String(16), default=UnitStatus.ACTIVE)
    replaced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replacement_reason: Mapped[str | None] = mapped_column(String(80))

    line: Mapped[FulfilmentLine] = relationship(back_populates="units")


class FulfilmentStatusChange(db.Model):  # type: ignore[name-defined]
    """One audited move of a line's or a unit's status (fulfilment/status.py)."""

    __tablename__ = "fulfilment_status_changes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    line_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("fulfilment_lines.id", ondelete="CASCADE"), index=True
    )
    unit_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("delivered_units.id", ondelete="CASCADE")
    )
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH), default="system")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # Declared so that a flush writes the line and the unit before their audit rows.
    line: Mapped[FulfilmentLine] = relationship()
    unit: Mapped[DeliveredUnit | None] = relationship()


class CallbackStatus(StrEnum):
    RECEIVED = "received"
    APPLIED = "applied"
    IGNORED = "ignored"  # nothing to apply: an unknown reference, or the line settled already


class WholesalerCallback(db.Model):  # type: ignore[name-defined]
    """A wholesaler's callback, recorded as received (answered 2xx at once), applied after."""

    __tablename__ = "wholesaler_callbacks"
    __table_args__ = (UniqueConstraint("wholesaler_code", "reference", "event"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    wholesaler_code: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str] = mapped_column(String(80))
    event: Mapped[str] = mapped_column(String(40))
    body: Mapped[bytes] = mapped_column(LargeBinary)  # as received, already authenticated
    status: Mapped[CallbackStatus] = mapped_column(String(16), default=CallbackStatus.RECEIVED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutgoingEmail(db.Model):  # type: ignore[name-defined]
    """An e-mail we owe a buyer; its key makes each one go out once."""

    __tablename__ = "outgoing_emails"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    order_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, sending, sent
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RoutingRule(db.Model):  # type: ignore[name-defined]
    """Send a product to another wholesaler than the partner's contracted one."""

    __tablename__ = "routing_rules"
    __table_args__ = (UniqueConstraint("partner_id", "product_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    partner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE")
    )
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    wholesaler_code: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")

    # Product.routing_rules (read-only), so that fulfilment loads a product's rules with it.
    product: Mapped[Product] = relationship(
        backref=backref("routing_rules", viewonly=True), viewonly=True)
