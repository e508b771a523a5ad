"""Partner API tables: API keys, remembered idempotent answers, API-only facts about orders."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commerce.models import Order, Partner, UTCDateTime, utcnow
from extensions import db


class PartnerApiKey(db.Model):  # type: ignore[name-defined]
    """A partner's API key: only its SHA-256 is kept; the clear key is shown once."""

    __tablename__ = "partner_api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    partner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    # The key's type and the first 8 characters of its secret part, e.g. "cpk_live_Ab3dE9xQ":
    # enough for a person to recognise a key in the back office, far too little to use it.
    prefix: Mapped[str] = mapped_column(String(20))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    partner: Mapped[Partner] = relationship()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ApiIdempotency(db.Model):  # type: ignore[name-defined]
    """The answer to one Idempotency-Key of a partner; the unique pair settles races."""

    __tablename__ = "api_idempotency"
    __table_args__ = (UniqueConstraint("partner_id", "key"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    # Set in the transaction that creates the order, so a request that dies before its answer
    # is stored can be finished by a retry instead of ordering twice.
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id"))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    order: Mapped[Order | None] = relationship()


class ApiOrder(db.Model):  # type: ignore[name-defined]
    """What the API knows about an order it placed: the key that placed it, the reseller code."""

    __tablename__ = "api_orders"

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("partner_api_keys.id", ondelete="SET NULL"), index=True
    )
    reseller_code: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    order: Mapped[Order] = relationship()
