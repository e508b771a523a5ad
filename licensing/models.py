"""Licensing tables: signing keys (private halves encrypted), licences, and the audit trail."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import ACTOR_LENGTH, UTCDateTime, db, utcnow


class KeyStatus(StrEnum):
    """A signing key's life: published ahead, signing, kept for verification, or revoked."""

    PENDING = "pending"
    ACTIVE = "active"
    RETIRED = "retired"
    REVOKED = "revoked"


class RevocationReason(StrEnum):
    """Why a licence was revoked."""

    REFUND = "refund"
    FRAUD = "fraud"
    REPLACEMENT = "replacement"
    KEY_COMPROMISE = "key_compromise"


class KeyRevocationReason(StrEnum):
    """Why a signing key was revoked."""

    COMPROMISE = "compromise"
    SUPERSEDED = "superseded"
    CEASED = "ceased"


class AuditAction(StrEnum):
    """What an audit row records."""

    LICENCE_ISSUED = "licence_issued"
    LICENCE_REVOKED = "licence_revoked"
    KEY_CREATED = "key_created"
    KEY_ACTIVATED = "key_activated"
    KEY_RETIRED = "key_retired"
    KEY_REVOKED = "key_revoked"


class SigningKey(db.Model):  # type: ignore[name-defined]
    """An Ed25519 key pair; the private half is AES-GCM encrypted under the KEK."""

    __tablename__ = "licensing_signing_keys"
    __table_args__ = (
        # At most one active key, whatever the number of processes rotating at once.
        Index(
            "uq_licensing_signing_keys_one_active",
            "status",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        CheckConstraint(
            "status IN ('pending', 'active', 'retired', 'revoked')", name="status_known"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kid: Mapped[str] = mapped_column(String(43), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    encrypted_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[KeyStatus] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revocation_reason: Mapped[str | None] = mapped_column(String(32))

    def __repr__(self) -> str:
        return f"<SigningKey {self.kid} {self.status}>"


class LicenceRecord(db.Model):  # type: ignore[name-defined]
    """One issued licence: the signed token and the references it was issued for."""

    __tablename__ = "licensing_licences"
    __table_args__ = (
        UniqueConstraint("order_line_ref", "unit"),
        CheckConstraint("seats >= 1", name="seats_positive"),
        CheckConstraint("unit >= 0", name="unit_not_negative"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    number: Mapped[str] = mapped_column(String(18), unique=True)
    order_line_ref: Mapped[str] = mapped_column(String(100))
    unit: Mapped[int] = mapped_column(Integer)
    order_ref: Mapped[str] = mapped_column(String(200), index=True)
    partner: Mapped[str] = mapped_column(String(200), index=True)
    buyer_ref: Mapped[str] = mapped_column(String(200))
    product_code: Mapped[str] = mapped_column(String(200))
    edition: Mapped[str] = mapped_column(String(200))
    seats: Mapped[int] = mapped_column(Integer)
    product_key_sha256: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signing_key_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("licensing_signing_keys.id"), index=True
    )
    kid: Mapped[str] = mapped_column(String(43))
    token: Mapped[str] = mapped_column(Text)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    revocation_reason: Mapped[str | None] = mapped_column(String(32))
    revoked_by: Mapped[str | None] = mapped_column(String(ACTOR_LENGTH))

    def __repr__(self) -> str:
        return f"<LicenceRecord {self.number}>"


class LicensingAudit(db.Model):  # type: ignore[name-defined]
    """An append-only record of each issuance, revocation and key change."""

    __tablename__ = "licensing_audit"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    action: Mapped[AuditAction] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH))
    licence_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("licensing_licences.id"), index=True
    )
    kid: Mapped[str | None] = mapped_column(String(43))
    reason: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    # Declared so that a flush writes a licence before its audit row.
    licence: Mapped[LicenceRecord | None] = relationship()
