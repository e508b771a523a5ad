"""The outbox: each domain event, and one delivery row per consumer that must handle it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import UTCDateTime, db, utcnow


class OutboxEvent(db.Model):  # type: ignore[name-defined]
    """A fact written in the same transaction as the change that caused it; never edited."""

    __tablename__ = "outbox_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    order_id: Mapped[uuid.UUID | None] = mapped_column(index=True)  # for the back office's search
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    deliveries: Mapped[list[EventDelivery]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="EventDelivery.consumer"
    )


class EventDelivery(db.Model):  # type: ignore[name-defined]
    """One consumer's duty towards one event: pending until it succeeds, retried with backoff."""

    __tablename__ = "event_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "consumer"),
        Index("ix_event_deliveries_due", "done_at", "next_attempt_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("outbox_events.id", ondelete="CASCADE"), index=True
    )
    consumer: Mapped[str] = mapped_column(String(60))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    event: Mapped[OutboxEvent] = relationship(back_populates="deliveries")

    @property
    def pending(self) -> bool:
        return self.done_at is None
