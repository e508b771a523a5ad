"""Who is signed in where: sessions by person, e-mailed single-use tokens, passkeys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commerce.models import User
from extensions import UTCDateTime, db, utcnow


class AuthSession(db.Model):  # type: ignore[name-defined]
    """One signed-in session: the index that lets a person's sessions be listed and ended.

    The session's data lives in the server-side store under a random id that only the cookie
    holds; this row is looked up by its own id, kept inside that data, on every request.
    """

    __tablename__ = "auth_sessions"
    __table_args__ = (Index("ix_auth_sessions_user_live", "user_id", "ended_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    door: Mapped[str] = mapped_column(String(16))  # buyer, reseller or operator
    factors: Mapped[str] = mapped_column(String(60), default="password")  # comma-separated
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip: Mapped[str] = mapped_column(String(45), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(60))

    user: Mapped[User] = relationship()

    @property
    def factor_list(self) -> list[str]:
        return [f for f in self.factors.split(",") if f]


class EmailToken(db.Model):  # type: ignore[name-defined]
    """A single-use, expiring link sent to an address (confirming a new account's address)."""

    __tablename__ = "email_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(16))  # verify
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Passkey(db.Model):  # type: ignore[name-defined]
    """A WebAuthn credential registered by a staff member as their stronger second factor."""

    __tablename__ = "passkeys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    credential_id: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(60), default="")
    transports: Mapped[str] = mapped_column(String(120), default="")
    rp_id: Mapped[str] = mapped_column(String(253))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OperatorApiKey(db.Model):  # type: ignore[name-defined]
    """An operator's key for the operator API: only its SHA-256 is kept, the clear key is shown
    once. It works while its operator's account is enabled and the key is not revoked."""

    __tablename__ = "operator_api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    prefix: Mapped[str] = mapped_column(String(20))  # e.g. "cok_live_Ab3dE9xQ"
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()
