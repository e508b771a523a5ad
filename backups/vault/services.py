"""Vault use cases: store a backup, open it again, list who opened it.

Storing and replacing write and flush only: the caller commits. Opening a backup commits its own
access audit row (and any alert), so a refused or failed read is recorded whatever the page does.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import SessionTransaction

from backups.vault.crypto import OpenFailed, encode_bundle, open_sealed, seal, sha256_hex
from backups.vault.errors import (
    BackupExpired,
    BackupNotFound,
    BackupUnavailable,
    ObjectMissing,
    StorageError,
    TamperedBackup,
    VaultConfigError,
    VaultError,
)
from backups.vault.models import (
    AccessAction,
    AccessOutcome,
    ActorKind,
    Backup,
    BackupAccess,
    BackupStatus,
    VaultAlert,
    utcnow,
)
from backups.vault.runtime import get_keyring, get_store
from backups.vault.status import set_backup_status
from extensions import db

log = logging.getLogger("comptoir.vault")

RETENTION_YEARS = 2
MAX_BACKOFF = timedelta(hours=6)
_PARTNER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class BackupRequest:
    """What the caller hands over when an order line with the backup option is delivered."""

    partner: str  # partner slug
    order_line_ref: str  # opaque, unique per order line
    buyer_ref: str  # the buyer's e-mail address (normalised here again)
    bundle: Mapping[str, Any] | bytes  # a JSON object: licence token, key, download, refs, buyer
    delivered_at: datetime | None = None  # default: now; expiry is two years later


@dataclass(frozen=True)
class Actor:
    """Who is opening a backup, and from where (an IP address or a channel name)."""

    kind: ActorKind
    id: str
    source: str | None = None


@dataclass(frozen=True)
class BackupContents:
    """A decrypted, verified backup."""

    backup_id: uuid.UUID
    partner: str
    order_line_ref: str
    buyer_ref: str | None
    bundle: dict[str, Any]
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class AccessEntry:
    """One line of a buyer's "who opened my backups" list."""

    backup_id: uuid.UUID
    order_line_ref: str
    actor_kind: ActorKind
    actor_id: str
    action: AccessAction
    outcome: AccessOutcome
    source: str | None
    at: datetime


def normalise_buyer_ref(value: str) -> str:
    """Return the buyer reference the vault indexes: the e-mail, trimmed and lower-cased."""
    ref = value.strip().lower()
    if not ref or len(ref) > 254:
        raise ValueError("buyer reference must be 1 to 254 characters")
    return ref


def add_years(moment: datetime, years: int) -> datetime:
    """Return the same instant `years` later (29 February becomes 28 February)."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


def store_backup(request: BackupRequest, *, now: datetime | None = None) -> Backup:
    """Encrypt a bundle and put it in the store, once per order line; the caller commits.

    The object is put first; the row is then inserted (and flushed, in a SAVEPOINT) as stored
    when the put worked, or as pending, with the sealed object kept in it for
    `retry_pending_backups`, when the store failed: a storage outage never blocks delivery and
    never raises. A line already backed up gives back its backup unchanged. Under a concurrent
    insert for the same line the unique constraint decides: the loser's savepoint is rolled
    back, its object deleted, and the winner's row returned. Nothing is committed here; if the
    caller rolls back, an object may be left without a row, which nobody can decrypt (its data
    key was never saved) and the bucket's lifecycle rule removes.
    """
    now = now or utcnow()
    plaintext = _bundle_bytes(request.bundle)
    partner, line_ref = _check_partner(request.partner), _check_line_ref(request.order_line_ref)
    buyer_ref = normalise_buyer_ref(request.buyer_ref)
    existing = backup_for_line(line_ref)
    if existing is not None:
        return _same_owner(existing, partner)
    delivered_at = request.delivered_at or now
    _aware(delivered_at)
    backup = Backup(
        id=uuid.uuid4(),
        partner=partner,
        order_line_ref=line_ref,
        buyer_ref=buyer_ref,
        created_at=now,
        expires_at=add_years(delivered_at, RETENTION_YEARS),
        attempts=0,
        retention_synced=True,
    )
    backup.object_key = f"{partner}/{backup.id}"
    data_key, blob = seal(plaintext, backup.id, partner)
    backup.vault_key_id, backup.wrapped_key = get_keyring().wrap(data_key, backup.id)
    backup.sha256, backup.size = sha256_hex(blob), len(blob)
    stored = _put(backup, blob, now)
    if not stored:
        backup.pending_object = blob
    try:
        with _savepoint():
            db.session.add(backup)
            if stored:
                set_backup_status(backup, BackupStatus.STORED, "stored at delivery")
            else:
                set_backup_status(
                    backup, BackupStatus.PENDING, "object store failed at delivery; kept for retry"
                )
    except IntegrityError:
        raced = backup_for_line(line_ref)
        if raced is None:
            raise
        if stored:
            _discard_object(backup.object_key)
        return _same_owner(raced, partner)
    return backup


def replace_bundle(
    order_line_ref: str, bundle: Mapping[str, Any] | bytes, *, now: datetime | None = None
) -> Backup | None:
    """Seal a new bundle for a line's backup (a replaced key), keeping its dates and identity.

    The bundle is sealed under a fresh data key and goes the pending path: the row holds the new
    sealed object (read from there meanwhile) and is due for upload at once, as a new version of
    the same object, by the next `retry_pending_backups`. Nothing is put in the store before the
    caller commits, so a rolled-back replacement leaves the stored object and the row agreeing.
    Locks the row, writes and flushes; the caller commits. None when the line has no backup.
    """
    now = now or utcnow()
    backup = db.session.scalars(
        select(Backup)
        .where(Backup.order_line_ref == _check_line_ref(order_line_ref))
        .with_for_update()
    ).one_or_none()
    if backup is None:
        return None
    if backup.status in (BackupStatus.PURGED, BackupStatus.ERASED):
        raise VaultError(f"backup {backup.id} is {backup.status}: nothing left to replace")
    data_key, blob = seal(_bundle_bytes(bundle), backup.id, backup.partner)
    backup.vault_key_id, backup.wrapped_key = get_keyring().wrap(data_key, backup.id)
    backup.sha256, backup.size, backup.pending_object = sha256_hex(blob), len(blob), blob
    if backup.status == BackupStatus.STORED:
        set_backup_status(backup, BackupStatus.PENDING, "bundle replaced; new version to upload")
    backup.attempts, backup.next_attempt_at = 0, now
    db.session.flush()
    log.info("vault: backup %s of line %s now holds a new bundle", backup.id, order_line_ref)
    return backup


def upload_pending(backup: Backup, *, now: datetime | None = None) -> bool:
    """Try to put a pending backup's object in the store; record the outcome, flush, no commit.

    True when it is stored now; False when the store failed again (`last_error`, backoff) or the
    backup has nothing pending.
    """
    now = now or utcnow()
    blob = backup.pending_object
    if backup.status != BackupStatus.PENDING or blob is None:
        return False
    stored = _put(backup, blob, now)
    if stored:
        set_backup_status(backup, BackupStatus.STORED, "uploaded by a retry")
    db.session.flush()
    return stored


def _put(backup: Backup, blob: bytes, now: datetime) -> bool:
    """Put a sealed object in the store and record the attempt on the row (status untouched)."""
    backup.attempts = (backup.attempts or 0) + 1
    backup.last_attempt_at = now
    try:
        store = get_store()
        store.put(backup.object_key, blob, retain_until=backup.expires_at)
        if backup.extended_at is not None:
            store.retain(backup.object_key, backup.expires_at)
    except (StorageError, VaultConfigError) as exc:
        backup.last_error = str(exc)[:2000]
        backoff = min(timedelta(minutes=2 ** min(backup.attempts - 1, 16)), MAX_BACKOFF)
        backup.next_attempt_at = now + backoff
        log.warning(
            "vault: backup %s pending after attempt %d: %s", backup.id, backup.attempts, exc
        )
        return False
    backup.stored_at = now
    backup.pending_object = None
    backup.last_error = None
    backup.next_attempt_at = None
    backup.retention_synced = True
    return True


def _discard_object(key: str) -> None:
    """Delete the object of an insert that lost a race; it is unreadable anyway (no key saved)."""
    try:
        get_store().delete(key)
    except (StorageError, VaultConfigError) as exc:
        log.warning("vault: object %s of a lost concurrent store not deleted: %s", key, exc)


def _savepoint() -> SessionTransaction:
    """A SAVEPOINT inside the caller's transaction (on SQLite too: see extensions.py)."""
    return db.session.begin_nested()


def get_backup(backup_id: uuid.UUID) -> Backup | None:
    """Return a backup by id."""
    return db.session.get(Backup, backup_id)


def backup_for_line(order_line_ref: str) -> Backup | None:
    """Return the backup of an order line, if any."""
    return db.session.scalars(
        select(Backup).where(Backup.order_line_ref == order_line_ref)
    ).one_or_none()


def backups_for_lines(order_line_refs: Iterable[str]) -> dict[str, Backup]:
    """Return the backups of several order lines, by order line reference."""
    refs = list(order_line_refs)
    if not refs:
        return {}
    rows = db.session.scalars(select(Backup).where(Backup.order_line_ref.in_(refs)))
    return {b.order_line_ref: b for b in rows}


def list_backups(buyer_ref: str) -> list[Backup]:
    """Return a buyer's backups, newest first."""
    return list(
        db.session.scalars(
            select(Backup)
            .where(Backup.buyer_ref == normalise_buyer_ref(buyer_ref))
            .order_by(Backup.created_at.desc())
        )
    )


def open_backup(
    backup_id: uuid.UUID,
    actor: Actor,
    *,
    action: AccessAction = AccessAction.VIEW,
    partner: str | None = None,
    buyer_ref: str | None = None,
    now: datetime | None = None,
) -> BackupContents:
    """Decrypt and verify a backup, auditing the access; `partner`/`buyer_ref` restrict scope."""
    now = now or utcnow()
    backup = db.session.get(Backup, backup_id)
    if backup is None or backup.status == BackupStatus.ERASED:
        raise BackupNotFound(backup_id)
    outside = (partner is not None and backup.partner != partner) or (
        buyer_ref is not None and backup.buyer_ref != normalise_buyer_ref(buyer_ref)
    )
    if outside:
        _audit(backup, actor, action, AccessOutcome.DENIED, now)
        log.warning("vault: %s %s denied backup %s (out of scope)", actor.kind, actor.id, backup.id)
        raise BackupNotFound(backup_id)
    if backup.display_status(now) in (BackupStatus.EXPIRED, BackupStatus.PURGED):
        _audit(backup, actor, action, AccessOutcome.EXPIRED, now)
        raise BackupExpired(backup.id, backup.expires_at.date())
    try:
        bundle = _read_verified(backup)
    except StorageError as exc:
        _audit(backup, actor, action, AccessOutcome.UNAVAILABLE, now)
        log.warning("vault: backup %s unavailable: %s", backup.id, exc)
        raise BackupUnavailable(f"backup {backup.id} cannot be read now; try again later") from exc
    except TamperedBackup as exc:
        _alert(backup, exc.reason, now)
        _audit(backup, actor, action, AccessOutcome.TAMPERED, now)
        raise
    contents = BackupContents(
        backup_id=backup.id,
        partner=backup.partner,
        order_line_ref=backup.order_line_ref,
        buyer_ref=backup.buyer_ref,
        bundle=bundle,
        created_at=backup.created_at,
        expires_at=backup.expires_at,
    )
    _audit(backup, actor, action, AccessOutcome.OK, now)
    return contents


def verify_backup(backup: Backup) -> None:
    """Read and decrypt a backup without auditing an access; raise TamperedBackup on mismatch."""
    try:
        _read_verified(backup)
    except TamperedBackup as exc:
        _alert(backup, exc.reason, utcnow())
        raise


def list_accesses(buyer_ref: str) -> list[AccessEntry]:
    """Return every audited access to a buyer's backups, newest first."""
    rows = db.session.execute(
        select(BackupAccess, Backup.order_line_ref)
        .join(Backup, Backup.id == BackupAccess.backup_id)
        .where(Backup.buyer_ref == normalise_buyer_ref(buyer_ref))
        .order_by(BackupAccess.at.desc())
    )
    return [
        AccessEntry(
            backup_id=a.backup_id,
            order_line_ref=line_ref,
            actor_kind=ActorKind(a.actor_kind),
            actor_id=a.actor_id,
            action=AccessAction(a.action),
            outcome=AccessOutcome(a.outcome),
            source=a.source,
            at=a.at,
        )
        for a, line_ref in rows
    ]


def expired_on(backup: Backup) -> date:
    """Return the (UTC) date a backup expires or expired on."""
    return backup.expires_at.date()


def _read_verified(backup: Backup) -> dict[str, Any]:
    """Fetch the object, check its SHA-256, unwrap the data key and decrypt."""
    if backup.status == BackupStatus.PENDING and backup.pending_object is not None:
        blob = backup.pending_object
    else:
        try:
            blob = get_store().get(backup.object_key)
        except ObjectMissing as exc:
            raise TamperedBackup(backup.id, "object missing from the store") from exc
    if sha256_hex(blob) != backup.sha256:
        raise TamperedBackup(backup.id, "SHA-256 mismatch")
    if backup.wrapped_key is None or backup.vault_key_id is None:
        raise TamperedBackup(backup.id, "no data key")
    try:
        data_key = get_keyring().unwrap(backup.vault_key_id, backup.wrapped_key, backup.id)
        plaintext = open_sealed(data_key, blob, backup.id, backup.partner)
    except OpenFailed as exc:
        raise TamperedBackup(backup.id, str(exc)) from exc
    bundle = json.loads(plaintext)
    if not isinstance(bundle, dict):
        raise TamperedBackup(backup.id, "bundle is not a JSON object")
    return bundle


def _audit(
    backup: Backup, actor: Actor, action: AccessAction, outcome: AccessOutcome, now: datetime
) -> None:
    # Commits on purpose: reads come from page views that commit nothing, and a denied,
    # expired or tampered access must stay recorded although the view then fails.
    db.session.add(
        BackupAccess(
            backup_id=backup.id,
            actor_kind=ActorKind(actor.kind),
            actor_id=actor.id[:100],
            action=AccessAction(action),
            outcome=outcome,
            source=actor.source[:100] if actor.source else None,
            at=now,
        )
    )
    db.session.commit()


def _alert(backup: Backup, reason: str, now: datetime) -> None:
    log.error(
        "vault ALERT: backup %s (partner %s, object %s) is corrupt or tampered with: %s",
        backup.id,
        backup.partner,
        backup.object_key,
        reason,
    )
    # Commits on purpose, as _audit: the alert must survive the failed read that raised it.
    db.session.add(VaultAlert(backup_id=backup.id, kind="tampered", detail=reason, at=now))
    db.session.commit()


def _bundle_bytes(bundle: Mapping[str, Any] | bytes) -> bytes:
    if isinstance(bundle, bytes | bytearray):
        try:
            decoded = json.loads(bundle)
        except ValueError as exc:
            raise ValueError("bundle bytes must be a JSON object") from exc
        if not isinstance(decoded, dict):
            raise ValueError("bundle bytes must be a JSON object")
        return bytes(bundle)
    return encode_bundle(dict(bundle))


def _check_partner(partner: str) -> str:
    if not _PARTNER_RE.match(partner):
        raise ValueError(f"partner slug {partner!r} must be letters, digits, '-' or '_'")
    return partner


def _check_line_ref(ref: str) -> str:
    if not ref or len(ref) > 100:
        raise ValueError("order line reference must be 1 to 100 characters")
    return ref


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass timezone-aware UTC")
    return moment


def _same_owner(backup: Backup, partner: str) -> Backup:
    if backup.partner != partner:
        raise VaultError(f"order line {backup.order_line_ref} is backed up for another partner")
    return backup
