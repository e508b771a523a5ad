"""Credit lines (encours): one account per reseller, its extras, entries, payments, statements."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commerce.models import UTCDateTime, utcnow
from commissions.models import Reseller
from extensions import ACTOR_LENGTH, db


class ExtraKind(StrEnum):
    WHOLESALER = "wholesaler"  # a wholesaler's programme: a fixed amount
    OEM_VOLUME = "oem_volume"  # an amount per step of firm OEM orders in the extra's window


class EntryKind(StrEnum):
    CHARGE = "charge"  # an order bought on account (positive)
    PAYMENT = "payment"  # a card payment or a transfer received (negative)
    REFUND = "refund"  # a refund of an order bought on account (negative)


class PaymentMethod(StrEnum):
    CARD = "card"
    TRANSFER = "transfer"


class PaymentState(StrEnum):
    PENDING = "pending"  # a card checkout started, not paid yet
    APPLIED = "applied"  # money received, written to the account
    FAILED = "failed"
    EXPIRED = "expired"
    FLAGGED = "flagged"  # paid another amount or currency than asked: an operator decides


class CreditAccount(db.Model):  # type: ignore[name-defined]
    """A reseller's credit line: the limit the operator set and the payment terms."""

    __tablename__ = "credit_accounts"
    __table_args__ = (
        CheckConstraint("limit_cents >= 0", name="limit_not_negative"),
        CheckConstraint("term_days >= 0 AND term_days <= 60", name="term_days_range"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    reseller_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("resellers.id"), unique=True)
    limit_cents: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    # Charges of a month fall due `term_days` after the end of that month (30 days end of month).
    term_days: Mapped[int] = mapped_column(Integer, default=30)
    # The ISO 11649 structured creditor reference a transfer must quote (RF..).
    reference: Mapped[str] = mapped_column(String(25), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    reseller: Mapped[Reseller] = relationship()
    extras: Mapped[list[CreditExtra]] = relationship(
        back_populates="account", order_by="CreditExtra.starts_at")


class CreditExtra(db.Model):  # type: ignore[name-defined]
    """Credit guaranteed on top of the limit, for a period."""

    __tablename__ = "credit_extras"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("step_cents IS NULL OR step_cents > 0", name="step_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credit_accounts.id"), index=True)
    kind: Mapped[ExtraKind] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(160), default="")
    amount_cents: Mapped[int] = mapped_column(Integer)
    wholesaler_code: Mapped[str | None] = mapped_column(String(32))  # WHOLESALER only
    step_cents: Mapped[int | None] = mapped_column(Integer)  # OEM_VOLUME only: orders per step
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: until ended
    created_by: Mapped[str] = mapped_column(String(ACTOR_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    account: Mapped[CreditAccount] = relationship(back_populates="extras")


class CreditPayment(db.Model):  # type: ignore[name-defined]
    """Money towards the balance: a card checkout, or a bank transfer an operator recorded."""

    __tablename__ = "credit_payments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credit_accounts.id"), index=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    method: Mapped[PaymentMethod] = mapped_column(String(16))
    status: Mapped[PaymentState] = mapped_column(String(16), default=PaymentState.PENDING)
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    gateway: Mapped[str | None] = mapped_column(String(16))
    gateway_reference: Mapped[str | None] = mapped_column(String(255), unique=True)
    bank_reference: Mapped[str | None] = mapped_column(String(120), unique=True)
    received_on: Mapped[date | None] = mapped_column(Date)
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH), default="system")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    account: Mapped[CreditAccount] = relationship()


class CreditEntry(db.Model):  # type: ignore[name-defined]
    """One movement of the balance; append-only. Each order, refund and payment counts once."""

    __tablename__ = "credit_entries"
    __table_args__ = (Index("ix_credit_entries_account_booked", "account_id", "booked_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credit_accounts.id"))
    kind: Mapped[EntryKind] = mapped_column(String(16))
    amount_cents: Mapped[int] = mapped_column(Integer)  # positive: owed; negative: credited
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id"), unique=True)
    refund_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("refunds.id"), unique=True)
    payment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("credit_payments.id"),
                                                         unique=True)
    due_on: Mapped[date | None] = mapped_column(Date)  # charges only
    description: Mapped[str] = mapped_column(String(200), default="")
    booked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CreditStatement(db.Model):  # type: ignore[name-defined]
    """One account's statement of one month, made once, kept as HTML and CSV."""

    __tablename__ = "credit_statements"
    __table_args__ = (UniqueConstraint("account_id", "month"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credit_accounts.id"))
    month: Mapped[date] = mapped_column(Date)  # its first day
    number: Mapped[str] = mapped_column(String(40), unique=True)
    opening_cents: Mapped[int] = mapped_column(Integer)
    charges_cents: Mapped[int] = mapped_column(Integer)
    credits_cents: Mapped[int] = mapped_column(Integer)  # payments and refunds, as a positive sum
    closing_cents: Mapped[int] = mapped_column(Integer)
    overdue_cents: Mapped[int] = mapped_column(Integer)
    html: Mapped[str] = mapped_column(Text)
    csv: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    account: Mapped[CreditAccount] = relationship()


class CreditChange(db.Model):  # type: ignore[name-defined]
    """Who changed a credit line, when: each changed field before and after."""

    __tablename__ = "credit_changes"
    __table_args__ = (Index("ix_credit_changes_account_at", "account_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credit_accounts.id"))
    action: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(String(300), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
