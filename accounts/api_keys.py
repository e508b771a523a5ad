"""Operator API keys: issued to an operator from the command line, looked up by SHA-256,
revoked; a key stops working as soon as its operator's account is disabled."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid

from flask import current_app
from sqlalchemy import select

from accounts.models import OperatorApiKey
from commerce.models import Role, User
from extensions import db, utcnow

KEY_RE = re.compile(r"^cok_(live|test)_[A-Za-z0-9_-]{32}$")


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_operator_key(user: User, label: str = "") -> str:
    """A new key for an operator, returned in clear: the only time it exists so. The caller
    commits."""
    if user.role != Role.OPERATOR:
        raise ValueError(f"{user.email} is not an operator")
    kind = "live" if current_app.config["ENV"] == "production" else "test"
    key = f"cok_{kind}_{secrets.token_urlsafe(24)}"
    db.session.add(OperatorApiKey(user=user, prefix=key[:17], key_hash=_hash(key),
                                  label=label.strip()[:120]))
    return key


def find_operator_key(key: str) -> OperatorApiKey | None:
    """The live key record of a clear key whose operator is enabled, else None."""
    if not KEY_RE.match(key):
        return None
    return db.session.scalar(
        select(OperatorApiKey).join(User)
        .where(OperatorApiKey.key_hash == _hash(key), OperatorApiKey.revoked_at.is_(None),
               User.role == Role.OPERATOR, User.active.is_(True)))


def operator_keys(user: User) -> list[OperatorApiKey]:
    return list(db.session.scalars(select(OperatorApiKey).where(OperatorApiKey.user_id == user.id)
                                   .order_by(OperatorApiKey.created_at.desc())))


def revoke_operator_key(key_id: uuid.UUID) -> OperatorApiKey | None:
    """Revoke a key; None when there is no such live key. The caller commits."""
    record = db.session.get(OperatorApiKey, key_id)
    if record is None or record.revoked_at is not None:
        return None
    record.revoked_at = utcnow()
    return record
