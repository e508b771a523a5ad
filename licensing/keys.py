"""Signing keys: create, rotate, revoke; private halves sealed with AES-GCM under the KEK."""

from __future__ import annotations

import base64
import binascii
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from extensions import db
from licensing.errors import (
    ConfigurationError,
    KeyNotFound,
    KeyRotationConflict,
    KeyStateError,
    NoActiveSigningKey,
)
from licensing.jwks import PublishedKey, jwk_thumbprint, public_jwk
from licensing.models import (
    AuditAction,
    KeyRevocationReason,
    KeyStatus,
    LicensingAudit,
    SigningKey,
    utcnow,
)
from licensing.verify import VerificationKey, cached_public_key

_SEAL_VERSION = b"\x01"
_NONCE_LENGTH = 12
_private_keys: dict[str, Ed25519PrivateKey] = {}


@dataclass(frozen=True, slots=True)
class Signer:
    """The active key as issuance needs it: its row's id, its kid and its opened private half."""

    key_id: uuid.UUID
    kid: str
    private_key: Ed25519PrivateKey


# The active key last read, per database. It may go stale when another process rotates or
# revokes the key: issuance checks in its own statement that the key is still active, and reads
# it again when it is not; a key change made in this process forgets it at once.
_signers: dict[str, Signer] = {}


@dataclass(frozen=True, slots=True)
class SigningKeyInfo:
    """What may be shown about a signing key: never its private half."""

    kid: str
    status: KeyStatus
    created_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None
    revoked_at: datetime | None
    revocation_reason: str | None
    jwk: dict[str, str]

    @classmethod
    def of(cls, key: SigningKey) -> SigningKeyInfo:
        """Describe a key row."""
        return cls(
            kid=key.kid,
            status=KeyStatus(key.status),
            created_at=key.created_at,
            activated_at=key.activated_at,
            retired_at=key.retired_at,
            revoked_at=key.revoked_at,
            revocation_reason=key.revocation_reason,
            jwk=public_jwk(key.public_key),
        )


@lru_cache(maxsize=8)
def _aead(kek_text: str) -> AESGCM:
    try:
        kek = base64.urlsafe_b64decode(kek_text.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise ConfigurationError("LICENSING_KEK is not urlsafe base64") from exc
    if len(kek) != 32:
        raise ConfigurationError("LICENSING_KEK must encode 32 bytes")
    return AESGCM(kek)


def _kek() -> AESGCM:
    kek_text = current_app.config.get("LICENSING_KEK")
    if not kek_text:
        raise ConfigurationError("LICENSING_KEK is not set")
    return _aead(str(kek_text))


def _aad(kid: str) -> bytes:
    # Binding the kid means a sealed key copied onto another row fails to open.
    return b"comptoir/licensing/signing-key/" + kid.encode("ascii")


def seal_private_key(raw: bytes, kid: str, aead: AESGCM) -> bytes:
    """Encrypt a raw private key: version byte, 96-bit nonce, AES-GCM ciphertext and tag."""
    nonce = os.urandom(_NONCE_LENGTH)
    return _SEAL_VERSION + nonce + aead.encrypt(nonce, raw, _aad(kid))


def open_private_key(sealed: bytes, kid: str, aead: AESGCM) -> Ed25519PrivateKey:
    """Decrypt a sealed private key, or raise ConfigurationError (wrong KEK or tampering)."""
    if sealed[:1] != _SEAL_VERSION:
        raise ConfigurationError(f"signing key {kid}: unknown sealing version")
    nonce, ciphertext = sealed[1 : 1 + _NONCE_LENGTH], sealed[1 + _NONCE_LENGTH :]
    try:
        raw = aead.decrypt(nonce, ciphertext, _aad(kid))
    except InvalidTag as exc:
        raise ConfigurationError(f"signing key {kid} does not open with LICENSING_KEK") from exc
    return Ed25519PrivateKey.from_private_bytes(raw)


def _new_key_row(status: KeyStatus) -> SigningKey:
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    kid = jwk_thumbprint(public)
    return SigningKey(
        kid=kid,
        public_key=public,
        encrypted_private_key=seal_private_key(raw, kid, _kek()),
        status=status,
        created_at=utcnow(),
    )


def _audit(action: AuditAction, actor: str, kid: str, reason: str | None = None) -> None:
    db.session.add(LicensingAudit(action=action, actor=actor, kid=kid, reason=reason, detail={}))


def _active_key() -> SigningKey | None:
    return db.session.scalars(
        select(SigningKey).where(SigningKey.status == KeyStatus.ACTIVE)
    ).one_or_none()


def _activate(key: SigningKey, actor: str) -> None:
    """Retire the active key, then make `key` active (the caller commits)."""
    now = utcnow()
    current = _active_key()
    if current is not None and current.id != key.id:
        current.status, current.retired_at = KeyStatus.RETIRED, now
        _audit(AuditAction.KEY_RETIRED, actor, current.kid)
        db.session.flush()  # free the one-active slot before taking it
    key.status, key.activated_at = KeyStatus.ACTIVE, now
    forget_signer()
    _audit(AuditAction.KEY_ACTIVATED, actor, key.kid)


def _commit_key_change() -> None:
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise KeyRotationConflict("the active signing key changed meanwhile; try again") from exc


def create_signing_key(*, activate: bool | None = None, actor: str = "system") -> SigningKeyInfo:
    """Create a key pair; activate it if asked, or by default when no key is active.

    A key created without activation is published at once, so verifiers holding a cached
    key set already know it when a later `rotate_signing_key` starts signing with it.
    """
    key = _new_key_row(KeyStatus.PENDING)
    db.session.add(key)
    _audit(AuditAction.KEY_CREATED, actor, key.kid)
    if activate or (activate is None and _active_key() is None):
        db.session.flush()
        _activate(key, actor)
    _commit_key_change()
    return SigningKeyInfo.of(key)


def rotate_signing_key(*, kid: str | None = None, actor: str = "system") -> SigningKeyInfo:
    """Make a key active: `kid`, else the oldest pending key, else a new one; retire the old."""
    if kid is not None:
        key = _key(kid)
        if key.status != KeyStatus.PENDING:
            raise KeyStateError(f"key {kid} is {key.status}; only a pending key can be activated")
    else:
        pending = db.session.scalars(
            select(SigningKey)
            .where(SigningKey.status == KeyStatus.PENDING)
            .order_by(SigningKey.created_at)
            .limit(1)
        ).one_or_none()
        if pending is None:
            pending = _new_key_row(KeyStatus.PENDING)
            db.session.add(pending)
            _audit(AuditAction.KEY_CREATED, actor, pending.kid)
            db.session.flush()
        key = pending
    _activate(key, actor)
    _commit_key_change()
    return SigningKeyInfo.of(key)


def revoke_signing_key(
    kid: str, reason: KeyRevocationReason, *, actor: str = "system"
) -> SigningKeyInfo:
    """Revoke a key; if it was the active one, a new key takes over in the same transaction."""
    key = _key(kid)
    if key.status == KeyStatus.REVOKED:
        return SigningKeyInfo.of(key)
    was_active = key.status == KeyStatus.ACTIVE
    key.status, key.revoked_at = KeyStatus.REVOKED, utcnow()
    key.revocation_reason = KeyRevocationReason(reason).value
    _audit(AuditAction.KEY_REVOKED, actor, key.kid, key.revocation_reason)
    _private_keys.pop(kid, None)
    forget_signer()
    if was_active:
        db.session.flush()
        replacement = _new_key_row(KeyStatus.PENDING)
        db.session.add(replacement)
        _audit(AuditAction.KEY_CREATED, actor, replacement.kid)
        db.session.flush()
        _activate(replacement, actor)
    _commit_key_change()
    return SigningKeyInfo.of(key)


def ensure_signing_key(*, actor: str = "system") -> SigningKeyInfo:
    """Return the active key, creating and activating one if there is none."""
    key = _active_key()
    if key is not None:
        return SigningKeyInfo.of(key)
    try:
        return create_signing_key(activate=True, actor=actor)
    except KeyRotationConflict:
        key = _active_key()  # another process won the race: use its key
        if key is None:
            raise
        return SigningKeyInfo.of(key)


def list_signing_keys() -> list[SigningKeyInfo]:
    """Return every key, oldest first."""
    keys = db.session.scalars(select(SigningKey).order_by(SigningKey.created_at)).all()
    return [SigningKeyInfo.of(key) for key in keys]


def published_keys() -> list[PublishedKey]:
    """Return the keys to publish: pending, active and retired ones, and the revoked ones."""
    keys = db.session.scalars(select(SigningKey).order_by(SigningKey.created_at)).all()
    return [PublishedKey(k.public_key, k.revoked_at, k.revocation_reason) for k in keys]


def active_signer() -> tuple[SigningKey, Ed25519PrivateKey]:
    """Return the active key row and its opened private key (kept in memory per kid)."""
    key = _active_key()
    if key is None:
        raise NoActiveSigningKey("no active signing key: run `comptoir licensing new-key`")
    private = _private_keys.get(key.kid)
    if private is None:
        private = open_private_key(key.encrypted_private_key, key.kid, _kek())
        if len(_private_keys) > 32:
            _private_keys.clear()
        _private_keys[key.kid] = private
    return key, private


def _database() -> str:
    return db.engine.url.render_as_string(hide_password=True)


def current_signer(*, refresh: bool = False) -> Signer:
    """Return the active key for signing, read from the database once per process and database.

    The answer may be stale (see `_signers`): a caller that finds the key no longer active calls
    again with refresh=True.
    """
    signer = None if refresh else _signers.get(_database())
    if signer is None:
        with db.session.no_autoflush:  # the key's row is all it reads
            key, private = active_signer()
        signer = Signer(key.id, key.kid, private)
        if len(_signers) > 32:
            _signers.clear()
        _signers[_database()] = signer
    return signer


def forget_signer() -> None:
    """Forget the cached active keys (a key changed in this process)."""
    _signers.clear()


class DatabaseKeys:
    """A KeyLookup reading key status from the database on each call (revocations apply now)."""

    def get(self, kid: str) -> VerificationKey | None:
        """Return the key named kid, or None when it was never published."""
        row: Any = db.session.execute(
            select(SigningKey.public_key, SigningKey.revoked_at).where(SigningKey.kid == kid)
        ).one_or_none()
        if row is None:
            return None
        return VerificationKey(kid, cached_public_key(row.public_key), row.revoked_at)


def _key(kid: str) -> SigningKey:
    key = db.session.scalars(select(SigningKey).where(SigningKey.kid == kid)).one_or_none()
    if key is None:
        raise KeyNotFound(f"no signing key {kid}")
    return key
