"""Single-use e-mailed links to a buyer's backups, and the once-per-expiry reminder claims."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commerce.models import UTCDateTime, utcnow
from extensions import db


class BackupAccessLink(db.Model):  # type: ignore[name-defined]
    """A "find my licence" link: only the token's SHA-256 is kept; it works once, for an hour."""

    __tablename__ = "backup_access_links"
    __table_args__ = (Index("ix_backup_access_links_partner_email", "partner_id", "email"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))  # normalised; pruned a day after expiry
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BackupReminder(db.Model):  # type: ignore[name-defined]
    """The expiry reminder of one backup for one expiry date: the unique pair makes it go once."""

    __tablename__ = "backup_expiry_reminders"
    __table_args__ = (UniqueConstraint("backup_id", "expires_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    backup_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("vault_backups.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
