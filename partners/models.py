"""The audit of partner and product changes, and the scheduled prices of partners' offers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commerce.models import PartnerProduct, User
from extensions import ACTOR_LENGTH, UTCDateTime, db, utcnow


class PartnerChange(db.Model):  # type: ignore[name-defined]
    """Who changed what on a partner, when: each changed field with its value before and after."""

    __tablename__ = "partner_changes"
    __table_args__ = (Index("ix_partner_changes_partner_at", "partner_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH))
    # {field: [before, after]}; secrets and binary values are never written here.
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(String(300), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProductChange(db.Model):  # type: ignore[name-defined]
    """Who changed what on a product of the platform's catalogue, when: each changed field (named
    as in `comptoir products import`'s file) with its value before and after."""

    __tablename__ = "product_changes"
    __table_args__ = (Index("ix_product_changes_product_at", "product_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH))
    # {field: [before, after]}
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScheduledPrice(db.Model):  # type: ignore[name-defined]
    """A partner's price for one offer from a given moment; applied to the offer when due."""

    __tablename__ = "partner_scheduled_prices"
    __table_args__ = (UniqueConstraint("offer_id", "starts_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    offer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partner_products.id", ondelete="CASCADE"), index=True
    )
    price_cents: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    offer: Mapped[PartnerProduct] = relationship()


class PartnerMember(db.Model):  # type: ignore[name-defined]
    """A person of a partner's staff, in its console: an admin (changes the brand, prices within
    the operator's bounds, API keys, webhooks, the team) or a viewer (follows orders and sales).
    An account belongs to one partner's console."""

    __tablename__ = "partner_members"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    partner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # admin or viewer
    invited_by: Mapped[str] = mapped_column(String(ACTOR_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()
