"""Vault tables: one backup per order line, its status and access audits, corruption alerts."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import ACTOR_LENGTH, UTCDateTime, db, utcnow


class BackupStatus(StrEnum):
    PENDING = "pending"  # encrypted, waiting in the row for the object store
    STORED = "stored"  # the object is in the store
    EXPIRED = "expired"  # past expires_at, object deletion not yet confirmed
    PURGED = "purged"  # past expires_at, object deleted, data key destroyed
    ERASED = "erased"  # erased on request, object deleted, data key destroyed


class ActorKind(StrEnum):
    BUYER = "buyer"
    RESELLER = "reseller"
    OPERATOR = "operator"
    SYSTEM = "system"


class AccessAction(StrEnum):
    VIEW = "view"
    RESEND = "resend"
    DOWNLOAD = "download"
    ERASE = "erase"


class AccessOutcome(StrEnum):
    OK = "ok"
    DENIED = "denied"
    EXPIRED = "expired"
    TAMPERED = "tampered"
    UNAVAILABLE = "unavailable"


class Backup(db.Model):  # type: ignore[name-defined]
    """One encrypted licence bundle kept for an order line."""

    __tablename__ = "vault_backups"
    __table_args__ = (Index("ix_vault_backups_status_expires_at", "status", "expires_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    partner: Mapped[str] = mapped_column(String(40), index=True)
    order_line_ref: Mapped[str] = mapped_column(String(100), unique=True)
    # Normalised buyer e-mail; cleared by erasure.
    buyer_ref: Mapped[str | None] = mapped_column(String(254), index=True)
    status: Mapped[BackupStatus] = mapped_column(String(16), default=BackupStatus.PENDING)
    object_key: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    # The data key wrapped by vault key `vault_key_id`; destroyed on purge and erasure.
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    vault_key_id: Mapped[str | None] = mapped_column(String(32))
    # The sealed object while it waits for the store; cleared once stored.
    pending_object: Mapped[bytes | None] = mapped_column(LargeBinary)
    # False while the store's retention (lock date, lifecycle tag) lags an extension.
    retention_synced: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    stored_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    extended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def display_status(self, now: datetime | None = None) -> BackupStatus:
        """Return the status a buyer or the API should see: past expiry shows as expired."""
        now = now or utcnow()
        live = self.status in (BackupStatus.PENDING, BackupStatus.STORED)
        if live and self.expires_at <= now:
            return BackupStatus.EXPIRED
        return self.status

    def __repr__(self) -> str:
        return f"<Backup {self.id} {self.partner} {self.status}>"


class BackupStatusChange(db.Model):  # type: ignore[name-defined]
    """One audited change of a backup's status; `from_status` is None for its creation.

    Written only by `backups.vault.status.set_backup_status`, along its transition table. No
    personal data: the reason says what happened, the actor is an operator id or "system".
    """

    __tablename__ = "vault_backup_status_changes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    backup_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("vault_backups.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[BackupStatus | None] = mapped_column(String(16))
    to_status: Mapped[BackupStatus] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH), default="system")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    backup: Mapped[Backup] = relationship()


class BackupAccess(db.Model):  # type: ignore[name-defined]
    """Who opened (or tried to open) which backup, when and from where."""

    __tablename__ = "vault_backup_accesses"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    backup_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("vault_backups.id", ondelete="CASCADE"), index=True
    )
    actor_kind: Mapped[ActorKind] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(ACTOR_LENGTH))
    action: Mapped[AccessAction] = mapped_column(String(16))
    outcome: Mapped[AccessOutcome] = mapped_column(String(16), default=AccessOutcome.OK)
    source: Mapped[str | None] = mapped_column(String(100))  # IP address or channel
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class VaultAlert(db.Model):  # type: ignore[name-defined]
    """Something an operator must look at: a corrupt or missing object."""

    __tablename__ = "vault_alerts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    backup_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("vault_backups.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
