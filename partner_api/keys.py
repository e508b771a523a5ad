"""Partner API keys: issue, look up, revoke, and the demo partners' stable development keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import uuid
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import select

from commerce.models import Partner, PartnerStatus
from extensions import db
from partner_api.models import PartnerApiKey

LIVE_PREFIX = "cpk_live_"
TEST_PREFIX = "cpk_test_"
SECRET_CHARS = 32
KEY_RE = re.compile(r"^cpk_(live|test)_[A-Za-z0-9_-]{32}$")
DEMO_LABEL = "demo"


class ApiKeyRefused(RuntimeError):
    """An API key operation that this environment refuses (a demo key in production)."""


def hash_key(key: str) -> str:
    """Return the SHA-256 hex digest under which a key is stored."""
    return hashlib.sha256(key.encode()).hexdigest()


def key_prefix(key: str) -> str:
    """Return the part of a key shown in the back office: its type and 8 characters."""
    return key[: len(LIVE_PREFIX) + 8]


def _type_prefix() -> str:
    return LIVE_PREFIX if current_app.config["ENV"] == "production" else TEST_PREFIX


def issue_api_key(partner: Partner, label: str = "") -> str:
    """Create a key for the partner and return it in clear: the only time it exists so."""
    key = _type_prefix() + secrets.token_urlsafe(24)
    db.session.add(
        PartnerApiKey(partner=partner, prefix=key_prefix(key), key_hash=hash_key(key),
                      label=label.strip()[:120])
    )
    db.session.commit()
    return key


def find_api_key(key: str) -> PartnerApiKey | None:
    """Return the live key record for a clear key, if the key and its partner are active."""
    if not KEY_RE.match(key):
        return None
    # The lookup is by SHA-256, so the comparison never runs on the secret itself.
    return db.session.scalar(
        select(PartnerApiKey)
        .join(Partner)
        .where(
            PartnerApiKey.key_hash == hash_key(key),
            PartnerApiKey.revoked_at.is_(None),
            Partner.status == PartnerStatus.OPEN,
        )
    )


def list_api_keys(partner: Partner) -> list[PartnerApiKey]:
    """Return the partner's keys, newest first, revoked ones included."""
    return list(
        db.session.scalars(
            select(PartnerApiKey)
            .where(PartnerApiKey.partner_id == partner.id)
            .order_by(PartnerApiKey.created_at.desc())
        )
    )


def revoke_api_key(partner: Partner, key_id: uuid.UUID) -> bool:
    """Revoke one of the partner's keys; False when it is not theirs or already revoked."""
    record = db.session.scalar(
        select(PartnerApiKey).where(PartnerApiKey.id == key_id,
                                    PartnerApiKey.partner_id == partner.id)
    )
    if record is None or record.revoked_at is not None:
        return False
    record.revoked_at = datetime.now(UTC)
    db.session.commit()
    return True


def demo_api_key(partner: Partner) -> str:
    """Return the partner's stable development key, (re)activating it; refused in production."""
    if current_app.config["ENV"] == "production":
        raise ApiKeyRefused("demo API keys are refused in production")
    digest = hmac.new(
        current_app.config["SECRET_KEY"].encode(),
        f"comptoir-demo-api-key:{partner.slug}".encode(),
        hashlib.sha256,
    ).digest()
    key = TEST_PREFIX + base64.urlsafe_b64encode(digest).decode()[:SECRET_CHARS]
    record = db.session.scalar(select(PartnerApiKey).where(PartnerApiKey.key_hash == hash_key(key)))
    if record is None:
        db.session.add(PartnerApiKey(partner=partner, prefix=key_prefix(key),
                                     key_hash=hash_key(key), label=DEMO_LABEL))
        db.session.commit()
    elif record.revoked_at is not None:
        record.revoked_at = None
        db.session.commit()
    return key
