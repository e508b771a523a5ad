"""Subscription tables: the contract, its products and seats, each term's charge, prepared
changes and the history a buyer and a reseller read."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commerce.models import Partner, Product
from extensions import ACTOR_LENGTH, UTCDateTime, db, utcnow


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"  # paid to current_period_end; renews then unless cancel_at_period_end
    PAST_DUE = "past_due"  # a term's charge failed: dunning e-mails, retries, then suspension
    SUSPENDED = "suspended"  # unpaid after the grace period: not renewed at the wholesaler
    ENDED = "ended"  # cancelled at the end of a term, or ended by an operator


LIVE_STATUSES = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)


class ChargeKind(StrEnum):
    RENEWAL = "renewal"  # a new term for every seat
    CHANGE = "change"  # seats or an application added, prorated to the term's end


class ChargeStatus(StrEnum):
    PENDING = "pending"  # its order is waiting to be paid
    PAID = "paid"
    FAILED = "failed"  # the last try was declined: dunning runs
    ABANDONED = "abandoned"  # the subscription was suspended or ended unpaid


class ChangeKind(StrEnum):
    SEATS = "seats"  # more users of a product the client has
    PRODUCT = "product"  # a new application, co-termed with the subscription


class ChangeStatus(StrEnum):
    PREPARED = "prepared"  # the reseller sent the link; the client has not approved
    APPLIED = "applied"  # approved, paid and in force
    CANCELLED = "cancelled"  # withdrawn by the reseller, or the subscription ended
    EXPIRED = "expired"  # not approved in time


class Subscription(db.Model):  # type: ignore[name-defined]
    """A client's Microsoft 365 contract in one shop: paid term by term, monthly or annually."""

    __tablename__ = "subscriptions"
    __table_args__ = (CheckConstraint("term_months IN (1, 12)", name="term_monthly_or_annual"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"), index=True)
    buyer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    # The order that opened it: the buyer's details and VAT for every later charge.
    origin_order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), index=True)
    reseller_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("resellers.id"), index=True)
    status: Mapped[SubscriptionStatus] = mapped_column(String(16),
                                                       default=SubscriptionStatus.ACTIVE)
    term_months: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    current_period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    current_period_end: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    past_due_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The billing provider (subscriptions/billing.py) and its ids.
    gateway: Mapped[str] = mapped_column(String(16), default="test")
    customer_reference: Mapped[str | None] = mapped_column(String(255))
    gateway_subscription: Mapped[str | None] = mapped_column(String(255), unique=True)
    payment_method: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    partner: Mapped[Partner] = relationship()
    items: Mapped[list[SubscriptionItem]] = relationship(
        back_populates="subscription", cascade="all, delete-orphan",
        order_by="SubscriptionItem.started_at")
    history: Mapped[list[SubscriptionHistory]] = relationship(
        cascade="all, delete-orphan", order_by="SubscriptionHistory.created_at")

    @property
    def seats(self) -> int:
        return sum(item.seats for item in self.items)

    @property
    def renews(self) -> bool:
        return self.status in LIVE_STATUSES and not self.cancel_at_period_end


class SubscriptionItem(db.Model):  # type: ignore[name-defined]
    """One product of a subscription: its users, at a price per user and term (VAT included)."""

    __tablename__ = "subscription_items"
    __table_args__ = (
        UniqueConstraint("subscription_id", "product_id"),
        CheckConstraint("seats BETWEEN 1 AND 300", name="seats_range"),
        CheckConstraint("unit_price_cents >= 0", name="price_not_negative"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    product_code: Mapped[str] = mapped_column(String(60))
    product_name: Mapped[str] = mapped_column(String(160))
    seats: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The order line that opened it; unique, so a repeated delivery starts no second one.
    origin_order_line_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("order_lines.id"), unique=True)
    wholesaler_code: Mapped[str | None] = mapped_column(String(32))
    supplier_subscription_id: Mapped[str | None] = mapped_column(String(120))

    subscription: Mapped[Subscription] = relationship(back_populates="items")
    product: Mapped[Product] = relationship()


class SubscriptionCharge(db.Model):  # type: ignore[name-defined]
    """The money of one term, or of one change: an order, paid once."""

    __tablename__ = "subscription_charges"
    __table_args__ = (UniqueConstraint("subscription_id", "kind", "period_start"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True)
    kind: Mapped[ChargeKind] = mapped_column(String(16))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), unique=True)
    change_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("subscription_changes.id"), unique=True)
    status: Mapped[ChargeStatus] = mapped_column(String(16), default=ChargeStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    gateway_reference: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SubscriptionChange(db.Model):  # type: ignore[name-defined]
    """Users or an application a reseller prepared for a client, who approves and pays."""

    __tablename__ = "subscription_changes"
    __table_args__ = (CheckConstraint("seats BETWEEN 1 AND 300", name="seats_range"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True)
    kind: Mapped[ChangeKind] = mapped_column(String(16))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"))
    seats: Mapped[int] = mapped_column(Integer)  # users added
    # The link's secret, as a SHA-256: the link itself is only in the reseller's hands.
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    reseller_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("resellers.id"), index=True)
    status: Mapped[ChangeStatus] = mapped_column(String(16), default=ChangeStatus.PREPARED)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    subscription: Mapped[Subscription] = relationship()
    product: Mapped[Product] = relationship()


class SubscriptionHistory(db.Model):  # type: ignore[name-defined]
    """What happened to a subscription, for the buyer's account and the reseller's portal."""

    __tablename__ = "subscription_history"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    detail: Mapped[str] = mapped_column(Text, default="")
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id"))
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH), default="system")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
